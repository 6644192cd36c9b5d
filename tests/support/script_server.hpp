// A loopback HTTP server for the client tests. Each accepted connection runs
// a test-written script on its own thread with blocking I/O, so a test can
// send exactly the bytes, framings, delays and failures it wants. Reads time
// out after a few seconds: no thread waits forever.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/http_head.hpp"
#include "support/test_pki.hpp"

namespace ssekit::testing {

// A request as read: method, target, headers (http_head.hpp) and body.
struct request : http_head {
  std::string body;
};

class script_server {
 public:
  class connection {
   public:
    virtual ~connection() = default;
    // Reads one request: header and a Content-Length body. False on EOF,
    // error or timeout.
    virtual bool read_request(request& out) = 0;
    // Reads only a request's head (up to the empty line), not its body:
    // for a server that answers before taking the body. False on EOF,
    // error or timeout.
    virtual bool read_head(request& out) = 0;
    // Reads whatever arrives next (at most 16 KiB): "" on EOF, error or timeout.
    virtual std::string read_some() = 0;
    virtual bool write(std::string_view bytes) = 0;
    // Writes what the socket takes now, without waiting: the number of
    // bytes taken (0 when its buffers are full), or nullopt on error.
    // Plain connections only: a test learns when a client stops reading.
    virtual std::optional<std::size_t> write_now(std::string_view bytes) = 0;
    // Writes bytes to the TCP socket under any TLS: on a TLS connection,
    // bytes that are not a record (a broken or hostile peer).
    virtual bool write_raw(std::string_view bytes) = 0;
    // TLS 1.2: the server asks for a new handshake now and completes it
    // (the client answers while it reads). False on plain connections, TLS
    // 1.3 (which has none) or failure.
    virtual bool renegotiate() = 0;
    // Orderly close: the client sees the end of the stream.
    virtual void close() = 0;
    // Abortive close (RST): the client sees a network error.
    virtual void reset() = 0;
    // A FIN without TLS's close_notify (on a plain connection, close()):
    // how many TLS servers end a response.
    virtual void cut() = 0;
    // Waits until the client closes the connection (EOF), up to `timeout`.
    virtual bool wait_for_client_close(std::chrono::milliseconds timeout) = 0;
    // Reads (and drops) until the client's end, and says how it ended:
    // "close_notify" (TLS's alert, then EOF), "fin" (EOF, on TLS without
    // close_notify) or "error" (a reset, or the server stopping).
    virtual std::string read_until_client_end() = 0;
    int number = 0;  // 1 for the first connection
    std::string tls_server_name;  // the SNI the client sent (TLS only)
  };
  using script = std::function<void(connection&)>;

  // With `tls`, connections are TLS (the context holds the certificate).
  explicit script_server(script s, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  ~script_server();
  script_server(const script_server&) = delete;
  script_server& operator=(const script_server&) = delete;

  std::uint16_t port() const { return port_; }
  // http(s)://127.0.0.1:port + path
  std::string url(std::string_view path = "/events") const;
  // Requests read by read_request(), in order (a copy).
  std::vector<request> requests() const;
  int connections() const;
  bool wait_for_connections(int n, std::chrono::milliseconds timeout) const;
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

  void record(const request& r);
  // Live sockets, which the destructor shuts down to wake blocked threads.
  // Closed sockets must be forgotten first: their numbers get reused.
  void forget_socket(int fd);

 private:
  void accept_loop();

  script script_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<request> requests_;
  std::vector<std::thread> threads_;
  std::vector<int> native_sockets_;  // to wake blocked reads on shutdown
  int connections_ = 0;
  bool stopping_ = false;
};

// A response header for a stream, as a tutorial server sends it; `framing`:
// "chunked" needs chunk() around each write, "close" is close-delimited.
std::string stream_header(std::string_view content_type = "text/event-stream", std::string_view extra = "");
std::string chunk(std::string_view bytes);  // one HTTP/1.1 chunk


}  // namespace ssekit::testing

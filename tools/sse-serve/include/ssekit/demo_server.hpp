// ssekit::demo::server: the embedded demo event-stream server, on
// Boost.Asio/Beast, writing with the core serializer. `sse-serve` runs it as
// a program; `sse-cat` with no URL and the tests run it in-process.
//
//   boost::asio::io_context io;
//   ssekit::demo::server srv{io.get_executor()};      // listens at once
//   std::cout << srv.url("/clock") << '\n';           // http://127.0.0.1:PORT/clock
//   io.run();                                         // until srv.stop()
//
// Endpoints (tools/sse-serve/README.md has the details): /clock, /random,
// /feed?topics=..., /events, POST /broadcast, /fault?..., /bench?bytes=N,
// /stats, / (the endpoint list).
//
// Threads: every handler of the server runs on one strand of the given
// executor, so the io_context may run on one thread or several. stop(),
// broadcast() and stats() may be called from any thread.
//
// This header does not include Beast: the implementation is compiled once
// (tools/sse-serve/demo_server.cpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ssekit::demo {

struct server_options {
  // Where to listen: an IP address or a host name. Port 0 picks a free
  // port; port() tells which.
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  // Feed events kept for Last-Event-ID replay (all topics together).
  std::size_t history_size = 1000;
  // Every live stream gets an empty comment this often; zero turns
  // heartbeats off.
  std::chrono::milliseconds heartbeat_interval{15000};
  // Multiplies the timing of generated events, in millionths: the clock's
  // second, the feed's one event per second, /random's 0.1-2 s gaps.
  // 10'000 (0.01) makes a clock tick every 10 ms (tests). 1 to
  // 1'000'000'000 (x1000); no interval is shorter than 100 us.
  std::uint64_t interval_scale_ppm = 1'000'000;
  // The `retry:` hint that /feed (and /events) send first, in milliseconds.
  std::uint64_t retry_hint_ms = 3000;
  // A stream whose client reads slower than events arrive is closed once
  // this many bytes wait unsent (per connection).
  std::size_t max_pending_bytes = 1024 * 1024;
  // SO_SNDBUF of a live stream's socket (the kernel doubles it for its
  // bookkeeping); 0 leaves the kernel's autotuning, which grows it to
  // tcp_wmem's maximum (4 MiB) for a client that stops reading, before
  // max_pending_bytes sees a byte. At most 1 GiB.
  std::size_t stream_send_buffer = 64 * 1024;
  // SO_SNDBUF of a /bench or /fault body's socket, as stream_send_buffer:
  // autotuning let each client that stops reading pin ~4 MB of kernel
  // memory until write_timeout. Large enough for /bench's throughput on
  // loopback (no loss measured down to 64 KiB). At most 1 GiB; 0 leaves
  // autotuning.
  std::size_t body_send_buffer = 256 * 1024;
  // Seed for the generated content (feed, /random); 0 picks one at random.
  std::uint64_t seed = 0;
  // A connection must send a complete request (head and body) within this
  // time from when the server starts waiting for it (after the connection
  // or the previous response), or it is closed: slow or idle clients do
  // not hold sockets forever. At least 1 ms.
  std::chrono::milliseconds request_timeout{10000};
  // Open connections at most. At the limit, the connection that has waited
  // longest for a complete request is closed to make room for the new one;
  // when every connection is a stream or a response, the new one is
  // closed. At least 1.
  std::size_t max_connections = 20000;
  // Live streams with encoding=gzip or deflate at most (each holds a
  // compressor, about 64 KiB, and a broadcast is compressed once per such
  // stream on the server's one thread). Past it such a request is a 503
  // with Retry-After. At least 1.
  std::size_t max_compressed_streams = 256;
  // A connection whose socket takes no byte of a response for this long
  // is closed: a client that stops reading a body or a stream does not hold
  // its connection for ever (nginx's send_timeout). Checked four times per
  // period, so such a connection goes within 1.25x of it. At least 1 ms;
  // longer than a day counts as a day.
  std::chrono::milliseconds write_timeout{60000};
  // https: a PEM certificate chain and its private key (both or neither);
  // url() then says https. The constructor throws std::invalid_argument
  // when they can't be loaded.
  std::string tls_certificate_file;
  std::string tls_key_file;
};

// A snapshot of the counters (each read atomically, not all at one instant).
struct server_stats {
  std::uint64_t connections = 0;        // open client connections
  std::uint64_t streams = 0;            // of those, live streams (clock, random, feed, events)
  std::uint64_t compressed_streams = 0; // of those, with encoding=gzip or deflate
  std::uint64_t total_connections = 0;  // accepted since start
  std::uint64_t events_sent = 0;        // events written to sockets (whole), each client counted
  std::uint64_t bytes_sent = 0;         // bytes written to sockets, HTTP framing included
  std::uint64_t last_feed_id = 0;       // id of the newest feed event (0: none yet)
  std::uint64_t request_timeouts = 0;   // connections closed by request_timeout
  std::uint64_t shed_connections = 0;   // connections closed by max_connections
  std::uint64_t dropped_streams = 0;    // streams closed for exceeding max_pending_bytes
  std::uint64_t write_timeouts = 0;     // connections closed by write_timeout
  // Bytes of output buffers alive now and at most so far. A buffer shared
  // by several connections (a broadcast, a feed event) counts once.
  std::uint64_t buffered_bytes = 0;
  std::uint64_t peak_buffered_bytes = 0;
};

class server {
 public:
  // Resolves the address (an IP literal, also in brackets, or a host name
  // such as localhost: its first IPv4 address, else its first), opens, binds and listens
  // synchronously (throws boost::system::system_error on failure, e.g. a
  // port in use or a name that does not resolve; std::invalid_argument for
  // options out of range), then accepts on `executor`.
  explicit server(boost::asio::any_io_executor executor, server_options options = {});
  // Calls stop() if it has not been called. Outstanding handlers keep the
  // shared state alive; they finish when the executor's context runs them
  // (or is destroyed). Destroy the server before its io_context.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // The listening port (the chosen one when options.port was 0).
  std::uint16_t port() const noexcept;
  // "http://ADDRESS:PORT" + path (https:// with a certificate) (path should start with '/').
  std::string url(std::string_view path = "/") const;

  // Closes the listener and cancels the timers; a live stream gets its
  // last chunk (a compressed one its last block first) and FIN, every other
  // connection is closed, and whatever is not done within a second is
  // closed then. The context runs out of work once the handlers have seen
  // it. Returns at once (the work is posted to the server's strand); any
  // thread; idempotent.
  void stop();

  // Sends one event (`data`, optional event `type`, no id) to every live
  // stream, like POST /broadcast. Any thread; posted to the strand.
  void broadcast(std::string data, std::string type = {});

  // Lowers options.max_connections (to at least 1): a program fits it to
  // its descriptors once the server holds its own. Before the executor
  // runs the server's handlers (before io_context::run()).
  void lower_max_connections(std::size_t n) noexcept;

  // Any thread.
  server_stats stats() const noexcept;

  // Test seam: the sessions looked at to make room at max_connections, in
  // all (any thread). Not a stable API.
  std::uint64_t make_room_visits() const noexcept;
  // Test seam: /bench blocks compressed for encoding=, in all. Not a stable API.
  std::uint64_t bench_compressions() const noexcept;

  class state;  // implementation detail (demo_server.cpp)

 private:
  std::shared_ptr<state> state_;
};

}  // namespace ssekit::demo

// The serializer in a tiny event-stream server on plain Boost.Asio: every
// connection gets a retry hint, a comment, then EVENTS events ("tick", ids
// 1..EVENTS, one every 10 ms), and the response ends. Ctrl-C stops it.
// A client that sends no request head or stops reading is dropped after
// peer_deadline, and running out of file descriptors pauses accepting
// instead of ending it: a server that copies this stays up.
//
//   tiny_server [PORT [EVENTS]]     (PORT 0: any free port; default 0 and 5)
//   prints "listening on http://127.0.0.1:PORT/" first
#include <ssekit/serializer.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// How long a client may take to send its request head or to take one write.
constexpr std::chrono::seconds peer_deadline{5};

class stream : public std::enable_shared_from_this<stream> {
 public:
  stream(tcp::socket socket, unsigned events)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        deadline_(socket_.get_executor()),
        request_(8192),
        events_(events) {}

  void start() {
    // Read (and ignore) the request head, at most 8 KiB.
    arm_deadline();
    asio::async_read_until(socket_, request_, "\r\n\r\n", [self = shared_from_this()](auto ec, std::size_t) {
      self->deadline_.cancel();
      if (ec) return;
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
          "Connection: close\r\n\r\n";
      ssekit::serialize_retry(head, 2000);                       // retry: 2000
      ssekit::serialize_comment(head, "tiny_server says hello");  // a comment, ignored by readers
      self->send(std::move(head));
    });
  }

 private:
  void send(std::string bytes) {
    out_ = std::move(bytes);
    arm_deadline();
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](auto ec, std::size_t) {
      self->deadline_.cancel();
      if (!ec) self->next();
    });
  }

  // Closing the socket ends the read or write in progress (operation_aborted).
  void arm_deadline() {
    deadline_.expires_after(peer_deadline);
    deadline_.async_wait([self = shared_from_this()](auto ec) {
      if (ec) return;  // cancelled: the operation finished in time
      boost::system::error_code ignored;
      self->socket_.close(ignored);
    });
  }

  void next() {
    if (sent_ == events_) {  // the end of the response: close the connection
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(10));
    timer_.async_wait([self = shared_from_this()](auto ec) {
      if (ec) return;
      const std::string n = std::to_string(++self->sent_);
      std::string event;
      // Multi-line data becomes several data: lines; the reader gets "\n" back.
      ssekit::serialize_event(event, {.data = "tick " + n + "\nof " + std::to_string(self->events_),
                                      .type = "tick",
                                      .id = n});
      self->send(std::move(event));
    });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer deadline_;
  asio::streambuf request_;
  std::string out_;
  unsigned events_;
  unsigned sent_ = 0;
};

// A decimal argument in [0, max], or exit status 2.
unsigned long number_arg(const char* text, unsigned long max) {
  const std::string_view s(text);
  unsigned long value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value > max) {
    std::cerr << "not a number in [0, " << max << "]: " << text << '\n';
    std::exit(2);
  }
  return value;
}

void accept(tcp::acceptor& acceptor, asio::steady_timer& retry, unsigned events) {
  acceptor.async_accept([&acceptor, &retry, events](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stopping
    if (ec) {
      // Out of file descriptors (EMFILE), or a connection reset before it
      // was taken: accept again shortly rather than never, or at once in a
      // loop that spins while the descriptors stay used.
      std::cerr << "accept: " << ec.message() << " (retrying)" << std::endl;
      retry.expires_after(std::chrono::milliseconds(100));
      retry.async_wait([&acceptor, &retry, events](boost::system::error_code wec) {
        if (!wec) accept(acceptor, retry, events);
      });
      return;
    }
    std::make_shared<stream>(std::move(socket), events)->start();
    accept(acceptor, retry, events);
  });
}

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? number_arg(argv[1], 65535) : 0);
  const auto events = static_cast<unsigned>(argc > 2 ? number_arg(argv[2], 1000000) : 5);
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << "/" << std::endl;
  asio::steady_timer accept_retry(io);
  accept(acceptor, accept_retry, events);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
  io.run();
  return 0;
}

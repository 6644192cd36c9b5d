// A program that already uses Asio its own way and adds ssekit::client:
// its own loopback server (accept, read, write), its own timers, names from
// the io_service era (deprecated by Asio, present unless the program defines
// BOOST_ASIO_NO_DEPRECATED itself), and the client on the same io_context.
// CMakeLists.txt builds it twice: with header-only Asio, and with Asio
// compiled separately in the program's own asio_src.cpp. Either way it must
// compile as it would without ssekit, link, and receive the three events.
#include <boost/asio/io_service.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <ssekit/client.hpp>
#include <ssekit/serializer.hpp>
#include <ssekit/version.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// One connection: read the request head, wait on our own timer (the
// program's steady_timer::async_wait next to the client's), then write an
// event stream of three events and close.
struct connection : std::enable_shared_from_this<connection> {
  explicit connection(tcp::socket s) : socket(std::move(s)), pause(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer pause;
  asio::streambuf request;
  std::string response;

  void start() {
    auto self = shared_from_this();
    asio::async_read_until(socket, request, "\r\n\r\n", [self](boost::system::error_code ec, std::size_t) {
      if (ec) return;
      self->pause.expires_from_now(std::chrono::milliseconds(1));  // deprecated name
      self->pause.async_wait([self](boost::system::error_code) { self->write(); });
    });
  }

  void write() {
    response = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
    for (int i = 1; i <= 3; ++i) {
      const std::string id = std::to_string(i);
      ssekit::serialize_event(response, {.data = "tick " + id, .id = id});
    }
    auto self = shared_from_this();
    asio::async_write(socket, asio::buffer(response), [self](boost::system::error_code, std::size_t) {
      boost::system::error_code ignored;
      self->socket.shutdown(tcp::socket::shutdown_both, ignored);
    });
  }
};

}  // namespace

int main() {
  asio::io_service io;                      // deprecated name
  auto work = std::make_unique<asio::io_service::work>(io);  // deprecated too
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  acceptor.async_accept([](boost::system::error_code ec, tcp::socket s) {
    if (!ec) std::make_shared<connection>(std::move(s))->start();
  });

  int result = 1;
  asio::steady_timer deadline(io);
  std::unique_ptr<ssekit::client> client;
  auto finish = [&](int code, const char* why) {
    result = code;
    std::printf("consumer (ssekit %s): %s\n", SSEKIT_VERSION_STRING, why);
    client->close();
    deadline.cancel();
    acceptor.close();
    work.reset();
  };

  ssekit::client_options options;
  options.url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
  options.reconnect = false;
  ssekit::client_handlers handlers;
  int events = 0;
  handlers.on_event = [&](const ssekit::event& ev) {
    ++events;
    if (ev.data != "tick " + std::to_string(events)) finish(1, "wrong event");
    else if (events == 3) finish(0, "ok, 3 events");
  };
  handlers.on_error = [&](const ssekit::client_error& e) {
    if (events < 3) finish(1, e.message.c_str());
  };
  io.post([&] { client = std::make_unique<ssekit::client>(io.get_executor(), options, handlers); });

  deadline.expires_from_now(std::chrono::seconds(60));  // a bound, not a measurement
  deadline.async_wait([&](boost::system::error_code ec) {
    if (!ec) finish(1, "no events within 60 s");
  });
  io.run();
  return result;
}

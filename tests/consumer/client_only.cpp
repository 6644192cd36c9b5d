// Uses the client and nothing of the core directly, the way most client
// programs do: with shared libraries the linker then drops libssekit_core
// from the program (--as-needed), and the program only starts if the
// installed libssekit_native finds it (its RUNPATH). Connects to a port
// nobody listens on and must get a clean, final network_error.
#include <ssekit/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdio>
#include <string>

int main() {
  boost::asio::io_context io;
  // A port that was free a moment ago: bind, note it, close.
  unsigned short port = 0;
  {
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  ssekit::client_options options;
  options.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  options.reconnect = false;
  options.proxy = "";  // whatever the environment says
  ssekit::client_handlers handlers;
  int result = 1;
  handlers.on_error = [&](const ssekit::client_error& e) {
    std::printf("consumer_client_only: %s: %s\n", std::string(ssekit::client_error_reason_name(e.reason)).c_str(), e.message.c_str());
    if (e.reason == ssekit::client_error_reason::network_error && !e.will_reconnect) result = 0;
  };
  ssekit::client client(io.get_executor(), options, handlers);
  io.run();
  return result;
}

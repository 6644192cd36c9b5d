// The client with the program's own TLS context (client_options::tls_context),
// as README.md offers it. Asio's TLS code is header-only, so this program
// calls OpenSSL itself: ssekit::native must bring OpenSSL to its link, with
// shared libraries too (it was PRIVATE there, and this failed to link:
// "DSO missing from command line"). Connects to a port nobody listens on
// and must get a clean, final network_error.
#include <ssekit/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdio>
#include <memory>
#include <string>

int main() {
  boost::asio::io_context io;
  unsigned short port = 0;  // free a moment ago: bind, note it, close
  {
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  auto tls = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  tls->set_verify_mode(boost::asio::ssl::verify_peer);
  ssekit::client_options options;
  options.url = "https://127.0.0.1:" + std::to_string(port) + "/";
  options.tls_context = tls;
  options.reconnect = false;
  options.proxy = "";  // whatever the environment says
  ssekit::client_handlers handlers;
  int result = 1;
  handlers.on_error = [&](const ssekit::client_error& e) {
    std::printf("consumer_tls_context: %s: %s\n", std::string(ssekit::client_error_reason_name(e.reason)).c_str(), e.message.c_str());
    if (e.reason == ssekit::client_error_reason::network_error && !e.will_reconnect) result = 0;
  };
  ssekit::client client(io.get_executor(), options, handlers);
  io.run();
  return result;
}

// Several feeds on one io_context, one thread, until Ctrl-C (or SIGTERM):
// asio::signal_set closes every client, and io_context::run() returns once
// nothing is left to do.
//
//   multi_feed URL...
//   prints "[N] TYPE: DATA" per event, N the URL's position (1-based);
//   exit status 0 after a signal or when every feed has ended for good
#include <ssekit/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: multi_feed URL...\n";
    return 2;
  }
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::vector<std::unique_ptr<ssekit::client>> clients;
  std::size_t closed = 0;
  for (int i = 1; i < argc; ++i) {
    ssekit::client_options options;
    options.url = argv[i];
    ssekit::client_handlers handlers;
    const std::string tag = std::string(1, '[').append(std::to_string(i)).append("] ");
    handlers.on_event = [tag](const ssekit::event& ev) {
      std::cout << tag << ev.type << ": " << ev.data << '\n' << std::flush;
    };
    handlers.on_error = [tag](const ssekit::client_error& e) {
      std::cerr << tag << ssekit::client_error_reason_name(e.reason) << ": " << e.message
                << (e.will_reconnect ? " (reconnecting)" : "") << '\n';
    };
    // A feed that ends for good (a 404, say) closes itself; when all have,
    // stop waiting for a signal so run() returns.
    handlers.on_state = [&](ssekit::client_state state) {
      if (state == ssekit::client_state::closed && ++closed == clients.size()) signals.cancel();
    };
    clients.push_back(std::make_unique<ssekit::client>(io.get_executor(), options, handlers));
  }

  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    std::cerr << "signal " << signal << ": closing " << clients.size() << " feeds\n";
    for (auto& c : clients) c->close();  // no handler runs after close()
  });
  io.run();  // returns when the clients are closed and the signal was handled
  return 0;
}

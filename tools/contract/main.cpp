// ssekit-contract-service: the SSE contract tests' test service for
// ssekit::client (contract_service.hpp), until DELETE /, SIGINT or SIGTERM.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "contract_service.hpp"
#include "tool_args.hpp"
#include "tool_io.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;
constexpr int exit_listen = 3;
constexpr int exit_failure = 1;  // out of memory or another failure while running

constexpr std::string_view usage = R"(usage: ssekit-contract-service [options]

The test service of the SSE contract tests (github.com/launchdarkly/sse-contract-tests)
for ssekit::client. Runs until the harness sends DELETE /, or SIGINT / SIGTERM.
Prints "listening on URL" once it accepts connections.

  --address ADDR   listen address: an IP address or a host name (its first
                   IPv4 address, else its first); default 127.0.0.1, 0.0.0.0
                   or :: for all
  --port N         listen port (default 8111; 0 picks a free one)
  --quiet          no log lines on standard error
  -h, --help       show this help

Log lines never wait for standard error: while it takes no writes they are
dropped, and the next line written says how many. Each is cut to 1 KiB, its
control characters escaped.

Exit status: 0 after DELETE /, SIGINT or SIGTERM; 1 the system refused
memory or descriptors, or another failure while running; 2 bad usage;
3 cannot listen.

)";

int failed(const char* what) {
  std::fprintf(stderr, "ssekit-contract-service: %s\n", ssekit::tools::readable_error(what).c_str());
  return exit_failure;
}

// While the service runs, a message must not wait for standard error either
// (SIGTERM would find the loop blocked).
int failed_running(ssekit::tools::line_log_stream& log, const char* what) {
  log << "ssekit-contract-service: " << ssekit::tools::readable_error(what) << '\n';
  return exit_failure;
}

int usage_error(const std::string& message) {
  // The message may quote an argument: escaped, as sse-cat's are.
  std::fprintf(stderr, "ssekit-contract-service: %s\nTry 'ssekit-contract-service --help'.\n",
               ssekit::tools::terminal_safe(message).c_str());
  return exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  // Else Asio's first descriptors take their numbers, and the log and the
  // "listening" line are written into those.
  for (const int fd : {0, 1, 2}) ssekit::tools::reserve_if_closed(fd);
  // Standard error may be a pipe nobody reads: the log must not block the
  // event loop (the service's strand runs on this one thread).
  ssekit::tools::line_log_stream log;
  ssekit::contract::service_options options;
  options.log = &log;
  try {
    ssekit::tools::arg_reader args(argc, argv);
    while (args.next()) {
      if (args.is("-h", "--help")) {
        std::fwrite(usage.data(), 1, usage.size(), stdout);
        return exit_ok;
      } else if (args.is("--quiet")) {
        options.log = nullptr;
      } else if (args.is("--address")) {
        options.address = args.nonempty_value("an address");  // "" resolved to 0.0.0.0
      } else if (args.is("--port")) {
        options.port = args.number<std::uint16_t>();
      } else {
        args.unknown();
      }
    }
  } catch (const ssekit::tools::usage_error& e) {
    return usage_error(e.what());
  }

  boost::asio::io_context io;
  std::optional<boost::asio::signal_set> signals;
  std::optional<ssekit::contract::service> service;
  try {
    signals.emplace(io, SIGINT, SIGTERM);
  } catch (const std::exception& e) {  // out of descriptors
    return failed(e.what());
  }
  // The service's strand runs on this one thread, as do the signals.
  options.on_stop = [&signals] { signals->cancel(); };
  try {
    service.emplace(io.get_executor(), options);
  } catch (const boost::system::system_error& e) {
    // Out of descriptors is the system's refusal (exit 1, as --help says),
    // whichever descriptor it was.
    if (e.code() == std::errc::too_many_files_open || e.code() == std::errc::too_many_files_open_in_system) {
      return failed(e.what());
    }
    std::fprintf(stderr, "ssekit-contract-service: can't listen on %s port %u: %s\n",
                 ssekit::tools::terminal_safe(options.address).c_str(),
                 static_cast<unsigned>(options.port), ssekit::tools::readable_error(e.what()).c_str());
    return exit_listen;
  } catch (const std::bad_alloc&) {
    return failed("out of memory");
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  // A handler that throws (out of memory, say) ends the service with a
  // message: the loop it broke would not go on.
  try {
    signals->async_wait([&service](const boost::system::error_code& ec, int) {
      if (!ec) service->stop();
    });
    if (const int error = ssekit::tools::spare_descriptor_error()) {
      std::fprintf(stderr, "ssekit-contract-service: no file descriptor left for a connection (%s); raise RLIMIT_NOFILE (ulimit -n)\n",
                   std::strerror(error));
      return exit_failure;
    }
    std::cout << "ssekit-contract-service: listening on " << service->url() << std::endl;
    io.run();
  } catch (const std::bad_alloc&) {
    return failed_running(log, "out of memory");
  } catch (const std::exception& e) {
    return failed_running(log, e.what());
  }
  return exit_ok;
}

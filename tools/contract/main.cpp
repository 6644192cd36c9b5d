// ssekit-contract-service: the SSE contract tests' test service for
// ssekit::client (contract_service.hpp), until DELETE /, SIGINT or SIGTERM.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
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
Prints "ssekit-contract-service: listening on URL" once it accepts connections.

  --address ADDR   listen address: an IP address or a host name (its first
                   IPv4 address, else its first); default 127.0.0.1, 0.0.0.0
                   or :: for all
  --port N         listen port (default 8111; 0 picks a free one)
  --quiet          no log lines on standard error
  -h, --help       show this help

Under a descriptor limit (ulimit -n; raised to the hard limit first) too
low for 256 connections and 100 streams of 2 descriptors each, both are
lowered to fit, and it says so on standard error.

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
  // A standard output nobody reads is an error to report, not death by
  // SIGPIPE (sockets send with MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);
  // Standard error may be a pipe nobody reads: the log must not block the
  // event loop (the service's strand runs on this one thread).
  ssekit::tools::line_log_stream log;
  ssekit::contract::service_options options;
  options.log = &log;
  try {
    ssekit::tools::arg_reader args(argc, argv);
    while (args.next()) {
      if (args.is("-h", "--help")) {
        // Help that could not be written is an error, as in sse-cat.
        if (std::fwrite(usage.data(), 1, usage.size(), stdout) != usage.size() || std::fflush(stdout) != 0) {
          std::fprintf(stderr, "ssekit-contract-service: writing standard output: %s\n", std::strerror(errno));
          return exit_failure;
        }
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

  const std::uint64_t descriptor_limit = ssekit::tools::raise_descriptor_limit("ssekit-contract-service");
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
    std::fprintf(stderr, "ssekit-contract-service: cannot listen on %s port %u: %s\n",
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
    // The harness's connections and each stream's two descriptors (its
    // client's and its callbacks') fit in those left now that the service
    // holds its own: idle connections are shed at max_connections before
    // accept() fails with EMFILE (under ulimit -n 64 they locked the
    // harness out for request_timeout). Half of what is left for streams.
    if (descriptor_limit != 0) {
      const std::uint64_t budget = ssekit::tools::descriptors_for_connections(
          descriptor_limit, ssekit::tools::open_descriptors(descriptor_limit));
      std::uint64_t connections = options.max_connections;
      std::uint64_t streams = options.max_streams;
      if (budget < connections + 2 * streams) {
        streams = std::min<std::uint64_t>(streams, std::max<std::uint64_t>(1, budget / 4));
        connections = std::min<std::uint64_t>(connections, budget > 2 * streams ? budget - 2 * streams : 0);
        if (connections == 0) {
          std::fprintf(stderr, "ssekit-contract-service: no file descriptor left for a connection and a stream (RLIMIT_NOFILE %llu); raise it (ulimit -n)\n",
                       static_cast<unsigned long long>(descriptor_limit));
          return exit_failure;
        }
        service->lower_limits(static_cast<std::size_t>(connections), static_cast<std::size_t>(streams));
        log << "ssekit-contract-service: RLIMIT_NOFILE " << descriptor_limit << ": at most " << connections
            << " connections and " << streams << " streams\n"
            << std::flush;
      }
    }
    ssekit::tools::announce_listening("ssekit-contract-service", service->url());
    io.run();
  } catch (const std::bad_alloc&) {
    return failed_running(log, "out of memory");
  } catch (const std::exception& e) {
    return failed_running(log, e.what());
  }
  return exit_ok;
}

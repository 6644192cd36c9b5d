// sse-serve: runs the embedded demo server (ssekit::demo::server) until
// SIGINT or SIGTERM.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <csignal>
#include <exception>
#include <new>
#include <optional>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "content.hpp"
#include "ssekit/demo_server.hpp"
#include "tool_args.hpp"
#include "tool_io.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;
constexpr int exit_failure = 3;  // cannot listen, out of memory

// The longest durations the flags take; past them a value is refused (exit 2).
constexpr auto max_heartbeat = std::chrono::milliseconds(24h);
constexpr auto max_request_timeout = std::chrono::milliseconds(24h);
constexpr auto max_write_timeout = std::chrono::milliseconds(24h);

constexpr std::string_view usage = R"(usage: sse-serve [options]

Serves demo event streams over HTTP/1.1 until interrupted (SIGINT, SIGTERM):
then live streams end as streams end on purpose (last chunk, FIN), within a
second, and the rest are closed. Prints "sse-serve: listening on URL" once it accepts
connections (on standard error when standard output takes no writes).

  --address ADDR       listen address: an IP address or a host name (its first
                       IPv4 address, else its first); default 127.0.0.1,
                       0.0.0.0 or :: for all
  --port N             listen port, 0-65535 (default 8080; 0 picks a free one)
  --history N          feed events kept for Last-Event-ID replay, 0-1000000
                       (default 1000)
  --heartbeat-ms N     heartbeat comment interval, 0 for none (default 15000;
                       at most a day)
  --scale X            multiply event intervals by X, 0.000001-1000 with at most
                       6 decimals (default 1; 0.01 is fast)
  --retry-ms N         the retry: hint of /feed and /events (default 3000;
                       0 to 2^64-1, as the format allows)
  --seed N             seed for generated content (default: random)
  --request-timeout-ms N  close a connection that has not sent a complete
                       request within N ms (default 10000; 1 to a day)
  --write-timeout-ms N close a connection whose socket takes no byte of a
                       response for N ms: a client that stopped reading
                       (default 60000; 1 to a day)
  --max-connections N  open connections at most; at the limit the one waiting
                       longest for a request is closed (default 20000;
                       1 to 10000000, lowered to fit RLIMIT_NOFILE)
  --max-compressed-streams N  live streams with encoding=gzip or deflate at
                       most; past it such a request is a 503 (default 256;
                       1 to 10000000)
  --tls-cert FILE      serve https with this PEM certificate chain (with --tls-key)
  --tls-key FILE       the certificate's PEM private key, unencrypted
  -h, --help           show this help

Exit status: 0 after SIGINT or SIGTERM; 2 bad usage; 3 cannot listen, or
the system refused memory or descriptors.

)";

// Returns exit_ok to run, or an exit status.
int parse_args(int argc, char** argv, ssekit::demo::server_options& options, bool& max_connections_given) {
  ssekit::tools::arg_reader args(argc, argv);
  while (args.next()) {
    if (args.is("-h", "--help")) {
      // Help that could not be written is an error, as in sse-cat (it
      // exited 0 on a full disk or /dev/full).
      if (std::fputs(usage.data(), stdout) < 0 || std::fputs(ssekit::demo::detail::endpoint_help.data(), stdout) < 0 ||
          std::fflush(stdout) != 0) {
        std::fprintf(stderr, "sse-serve: writing standard output: %s\n", std::strerror(errno));
        return exit_failure;
      }
      return -1;
    } else if (args.is("--address")) {
      options.address = args.nonempty_value("an address");
    } else if (args.is("--port")) {
      options.port = args.number<std::uint16_t>();
    } else if (args.is("--history")) {
      options.history_size = args.number<std::size_t>(0, 1'000'000);
    } else if (args.is("--heartbeat-ms")) {
      options.heartbeat_interval = args.millis_value(max_heartbeat);
    } else if (args.is("--scale")) {
      options.interval_scale_ppm = args.fixed_value(6, 1, 1'000'000'000);
    } else if (args.is("--retry-ms")) {
      options.retry_hint_ms = args.number<std::uint64_t>();
    } else if (args.is("--seed")) {
      options.seed = args.number<std::uint64_t>();
    } else if (args.is("--request-timeout-ms")) {
      options.request_timeout = args.millis_value(max_request_timeout);
      if (options.request_timeout.count() == 0) args.fail("must be at least 1");
    } else if (args.is("--write-timeout-ms")) {
      options.write_timeout = args.millis_value(max_write_timeout);
      if (options.write_timeout.count() == 0) args.fail("must be at least 1");
    } else if (args.is("--max-connections")) {
      options.max_connections = args.number<std::size_t>(1, 10'000'000);
      max_connections_given = true;
    } else if (args.is("--max-compressed-streams")) {
      options.max_compressed_streams = args.number<std::size_t>(1, 10'000'000);
    } else if (args.is("--tls-cert")) {
      // Both empty meant no TLS: plain HTTP where https was asked for.
      options.tls_certificate_file = args.nonempty_value("a file");
    } else if (args.is("--tls-key")) {
      options.tls_key_file = args.nonempty_value("a file");
    } else {
      args.unknown();
    }
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  // Else Asio's first descriptors take their numbers, and the "listening"
  // line is written into one of those.
  for (const int fd : {0, 1, 2}) ssekit::tools::reserve_if_closed(fd);
  // A standard output nobody reads is an error to report, not death by
  // SIGPIPE before a byte is served (sockets send with MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);
  ssekit::demo::server_options options;
  options.port = 8080;
  bool max_connections_given = false;
  try {
    const int status = parse_args(argc, argv, options, max_connections_given);
    if (status != exit_ok) return status < 0 ? exit_ok : status;
    // Said with the flags' names (the server's own check names its options).
    if (options.tls_certificate_file.empty() != options.tls_key_file.empty())
      throw ssekit::tools::usage_error("--tls-cert and --tls-key go together");
  } catch (const ssekit::tools::usage_error& e) {
    // The message may quote an argument: escaped, as sse-cat's are.
    std::fprintf(stderr, "sse-serve: %s\nTry 'sse-serve --help'.\n", ssekit::tools::terminal_safe(e.what()).c_str());
    return exit_usage;
  }

  // Ten thousand idle clients need more than the usual soft limit of 1024.
  const std::uint64_t descriptor_limit = ssekit::tools::raise_descriptor_limit("sse-serve");
  boost::asio::io_context io(1);
  std::optional<ssekit::demo::server> server;
  try {
    server.emplace(io.get_executor(), options);
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "sse-serve: cannot listen on %s port %u: %s\n", ssekit::tools::terminal_safe(options.address).c_str(),
                 static_cast<unsigned>(options.port), e.code().message().c_str());
    return exit_failure;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "sse-serve: %s\n", ssekit::tools::terminal_safe(e.what()).c_str());  // names a file
    return exit_usage;
  } catch (const std::bad_alloc&) {
    std::fputs("sse-serve: out of memory\n", stderr);
    return exit_failure;
  }
  // A handler that throws (out of memory, say) leaves the server part-way:
  // a timer chain it broke would stop the clock or the accepting for good.
  // So it ends the program, with a message, not an abort.
  try {
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) server->stop();
    });
    if (const int error = ssekit::tools::spare_descriptor_error()) {
      std::fprintf(stderr, "sse-serve: no file descriptor left for a connection (%s); raise RLIMIT_NOFILE (ulimit -n)\n",
                   std::strerror(error));
      return exit_failure;
    }
    // max_connections below what the descriptors left allow, counted now
    // that the server holds its own (stdio, listener, epoll, timers, signal
    // pipe: ~9), so that shedding starts before accept() fails with EMFILE.
    // Said only for a --max-connections given: the default is lowered under
    // most hard limits, and a note on every start was noise.
    if (descriptor_limit != 0) {
      const std::uint64_t usable =
          ssekit::tools::descriptors_for_connections(descriptor_limit, ssekit::tools::open_descriptors(descriptor_limit));
      if (usable == 0) {
        std::fprintf(stderr, "sse-serve: no file descriptor left for a connection (RLIMIT_NOFILE %llu); raise it (ulimit -n)\n",
                     static_cast<unsigned long long>(descriptor_limit));
        return exit_failure;
      }
      if (options.max_connections > usable) {
        options.max_connections = static_cast<std::size_t>(usable);
        server->lower_max_connections(options.max_connections);
        if (max_connections_given) {
          std::fprintf(stderr, "sse-serve: --max-connections lowered to %zu (RLIMIT_NOFILE %llu)\n", options.max_connections,
                       static_cast<unsigned long long>(descriptor_limit));
        }
      }
    }
    ssekit::tools::announce_listening("sse-serve", server->url("/"));
    io.run();
  } catch (const std::bad_alloc&) {
    std::fputs("sse-serve: out of memory\n", stderr);
    return exit_failure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sse-serve: %s\n", ssekit::tools::readable_error(e.what()).c_str());
    return exit_failure;
  }
  return exit_ok;
}

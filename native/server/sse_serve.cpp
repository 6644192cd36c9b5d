// sse-serve: runs the embedded demo server (ssekit::demo::server) until
// SIGINT or SIGTERM.
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>

#include "content.hpp"
#include "ssekit/demo_server.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;
constexpr int exit_listen = 3;

constexpr std::string_view usage = R"(usage: sse-serve [options]

Serves demo event streams over HTTP/1.1 until interrupted (SIGINT, SIGTERM).
Prints "listening on URL" once it accepts connections.

  --address ADDR       listen address (default 127.0.0.1; 0.0.0.0 or :: for all)
  --port N             listen port (default 8080; 0 picks a free one)
  --history N          feed events kept for Last-Event-ID replay (default 1000)
  --heartbeat-ms N     heartbeat comment interval, 0 for none (default 15000)
  --scale X            multiply event intervals by X (default 1; 0.01 is fast)
  --retry-ms N         the retry: hint of /feed and /events (default 3000)
  --seed N             seed for generated content (default: random)
  -h, --help           show this help

)";

template <class T>
bool parse_number(std::string_view text, T* value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && result.ec == std::errc() && result.ptr == text.data() + text.size();
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "sse-serve: %s\nTry 'sse-serve --help'.\n", message.c_str());
  return exit_usage;
}

// Ten thousand idle clients need more descriptors than the usual soft limit
// of 1024; the hard limit is as far as an unprivileged process may go.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) std::perror("sse-serve: setrlimit(RLIMIT_NOFILE)");
}

}  // namespace

int main(int argc, char** argv) {
  ssekit::demo::server_options options;
  options.port = 8080;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(usage.data(), stdout);
      std::fputs(ssekit::demo::detail::endpoint_help.data(), stdout);
      return exit_ok;
    }
    if (i + 1 >= argc) return usage_error(arg.starts_with("-") ? "missing value for " + std::string(arg)
                                                                 : "unexpected argument '" + std::string(arg) + "'");
    const std::string_view value = argv[++i];
    bool ok = true;
    if (arg == "--address") {
      options.address = value;
    } else if (arg == "--port") {
      ok = parse_number(value, &options.port);
    } else if (arg == "--history") {
      ok = parse_number(value, &options.history_size);
    } else if (arg == "--heartbeat-ms") {
      long long ms = 0;
      ok = parse_number(value, &ms) && ms >= 0;
      options.heartbeat_interval = std::chrono::milliseconds(ms);
    } else if (arg == "--scale") {
      ok = parse_number(value, &options.interval_scale) && options.interval_scale > 0.0;
    } else if (arg == "--retry-ms") {
      ok = parse_number(value, &options.retry_hint_ms);
    } else if (arg == "--seed") {
      ok = parse_number(value, &options.seed);
    } else {
      return usage_error("unknown option '" + std::string(arg) + "'");
    }
    if (!ok) return usage_error("bad value '" + std::string(value) + "' for " + std::string(arg));
  }

  raise_open_file_limit();
  boost::asio::io_context io(1);
  try {
    ssekit::demo::server server(io.get_executor(), options);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) server.stop();
    });
    std::printf("sse-serve: listening on %s\n", server.url("/").c_str());
    std::fflush(stdout);
    io.run();
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "sse-serve: cannot listen on %s port %u: %s\n", options.address.c_str(),
                 static_cast<unsigned>(options.port), e.code().message().c_str());
    return exit_listen;
  }
  return exit_ok;
}

// sse-cat: prints the events of an event stream, from a URL (with the
// reconnecting ssekit::client), from standard input, or, with neither, from
// the embedded demo server started in-process.
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"
#include "ssekit/client.hpp"
#include "ssekit/demo_server.hpp"
#include "ssekit/parser.hpp"

namespace {

// Documented in the usage text and the README; keep them stable.
constexpr int exit_ok = 0;
constexpr int exit_stream_error = 1;  // the stream broke a limit
constexpr int exit_usage = 2;
constexpr int exit_io = 3;
constexpr int exit_refused = 4;       // the server refused the stream (status, type, redirect)
constexpr int exit_network = 5;       // network, TLS or timeout failure, and no reconnect

constexpr std::string_view usage = R"(usage: sse-cat [options] [URL | -]

Prints the events of a text/event-stream: from URL (reconnecting as a
browser's EventSource does), from standard input with '-', or with neither
from the embedded demo server's /feed, started in-process on a free
loopback port.

Output:
  --json                 one JSON object per line: {"type","data","lastEventId"}
  --all                  also print retry fields and comments, in stream order
                         ({"retry":N} and {"comment":"..."} with --json)
  --max-events N         exit 0 after N events (URL and demo server modes)
Request:
  -H, --header 'Name: value'   add a request header (repeatable)
  -X, --request METHOD   request method (default GET, or POST with -d)
  -d, --data BODY        request body; --data @FILE reads it from FILE
  --last-event-id ID     resume from ID (sent as Last-Event-ID)
  --replay-body          send the body again on reconnects (off: a stream
                         with a body ends sse-cat when it ends)
Connection:
  --no-reconnect         exit when the stream ends or fails
  --idle-timeout SECONDS reconnect when nothing (not even a comment) arrives
  --connect-timeout SECONDS    (default 10)
  --retry-server-errors  reconnect after 5xx and 429 (honouring Retry-After)
  --cacert FILE          trust the CA certificates in FILE (PEM)
  --insecure             do NOT verify the server's certificate
Limits:
  --max-line-length N    longest accepted line in bytes (default 33554432)
  --max-event-size N     largest accepted event data in bytes (default 33554432)
  -h, --help             show this help

Without --json the events are printed as an event stream again. On a
terminal, a status line on standard error shows the state, the events and
the reconnects.
Exit status: 0 end of input, --max-events reached, or the server ended the
stream for good (204, or an end with --no-reconnect); 1 the stream broke a
limit; 2 bad usage; 3 an input or output error; 4 the server refused the
stream (HTTP status, content type, redirect); 5 a network, TLS or timeout
failure without reconnect.
)";

struct options {
  ssekit::cli::output_format format = ssekit::cli::output_format::event_stream;
  bool all = false;
  bool read_stdin = false;
  std::uint64_t max_events = 0;  // 0: no limit
  ssekit::parser_options parser;
  std::optional<std::string> url;
  ssekit::client_options client;
  bool method_given = false;
  bool body_given = false;
};

bool parse_size(std::string_view text, std::size_t* value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), *value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "sse-cat: %s\nTry 'sse-cat --help'.\n", message.c_str());
  return exit_usage;
}

bool write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int report_stream_error(const ssekit::parse_error& err, const ssekit::parser_options& limits) {
  std::string hint;
  if (err.code == ssekit::errc::line_too_long)
    hint = " (limit " + std::to_string(limits.max_line_length) + " bytes; see --max-line-length)";
  else if (err.code == ssekit::errc::event_too_large)
    hint = " (limit " + std::to_string(limits.max_event_size) + " bytes; see --max-event-size)";
  std::fprintf(stderr, "sse-cat: %s at byte %llu: %s%s\n", std::string(ssekit::error_name(err.code)).c_str(),
               static_cast<unsigned long long>(err.offset), std::string(ssekit::error_message(err.code)).c_str(),
               hint.c_str());
  return exit_stream_error;
}

int run(const options& opts) {
  ssekit::cli::printer printer{opts.format, opts.all};
  ssekit::parser parser{printer, opts.parser};
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "sse-cat: reading standard input: %s\n", std::strerror(errno));
      return exit_io;
    }
    const ssekit::parse_error err =
        n == 0 ? parser.finish() : parser.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    // Print what was parsed before any error, and promptly for live streams.
    if (!write_all(printer.pending())) {
      std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(errno));
      return exit_io;
    }
    printer.pending().clear();
    if (err) return report_stream_error(err, opts.parser);
    if (n == 0) return exit_ok;
  }
}

// Seconds, with a fraction, as milliseconds.
bool parse_seconds(std::string_view text, std::chrono::milliseconds* value) {
  double seconds = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !(seconds >= 0) || seconds > 1e9) return false;
  *value = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  return true;
}

int exit_code_for(const ssekit::client_error& e) {
  using r = ssekit::client_error_reason;
  switch (e.reason) {
    case r::no_content:
    case r::end_of_stream: return exit_ok;
    case r::limit_exceeded: return exit_stream_error;
    case r::http_status:
    case r::wrong_content_type:
    case r::redirect_refused: return exit_refused;
    case r::network_error:
    case r::tls_error:
    case r::idle_timeout:
    case r::connect_timeout: return exit_network;
  }
  return exit_network;
}

// The live status line (a terminal on stderr only).
class status_line {
 public:
  explicit status_line(bool enabled) : enabled_(enabled) {}
  void update(std::string_view state, std::uint64_t events, std::uint64_t reconnects, bool force = false) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::fprintf(stderr, "\r\033[K[%.*s] events: %llu  reconnects: %llu", static_cast<int>(state.size()), state.data(),
                 static_cast<unsigned long long>(events), static_cast<unsigned long long>(reconnects));
    std::fflush(stderr);
    shown_ = true;
  }
  // Clears the line before other output on stderr.
  void clear() {
    if (!enabled_ || !shown_) return;
    std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

int run_url(options opts, const std::string& url, boost::asio::io_context& io) {
  ssekit::cli::printer printer{opts.format, opts.all};
  status_line status(::isatty(STDERR_FILENO) == 1);
  int exit_code = exit_ok;
  std::uint64_t events = 0;
  std::string state = "connecting";
  std::optional<ssekit::client> client;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);

  const auto stop = [&](int code) {
    exit_code = code;
    if (client) client->close();
    signals.cancel();
    io.stop();
  };
  const auto flush = [&] {
    if (printer.pending().empty()) return true;
    const bool ok = write_all(printer.pending());
    printer.pending().clear();
    if (!ok) {
      status.clear();
      std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(errno));
      stop(exit_io);
    }
    return ok;
  };

  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event& ev) {
    printer.on_event(ev);
    if (!flush()) return;
    ++events;
    status.update(state, events, client->reconnects());
    if (opts.max_events != 0 && events >= opts.max_events) {
      status.update(state, events, client->reconnects(), true);
      status.clear();
      stop(exit_ok);
    }
  };
  h.on_comment = [&](std::string_view text) {
    printer.on_comment(text);
    flush();
  };
  h.on_retry = [&](std::uint64_t ms) {
    printer.on_retry(ms);
    flush();
  };
  h.on_state = [&](ssekit::client_state s) {
    state = ssekit::client_state_name(s);
    status.update(state, events, client ? client->reconnects() : 0, true);
  };
  h.on_error = [&](const ssekit::client_error& e) {
    status.clear();
    const bool quiet = e.reason == ssekit::client_error_reason::end_of_stream && !e.will_reconnect;
    if (!quiet) {
      std::fprintf(stderr, "sse-cat: %s: %s%s\n", std::string(ssekit::client_error_reason_name(e.reason)).c_str(), e.message.c_str(),
                   e.will_reconnect ? " (reconnecting)" : "");
    }
    if (!e.will_reconnect) stop(exit_code_for(e));
  };

  opts.client.url = url;
  opts.client.limits = opts.parser;
  try {
    client.emplace(io.get_executor(), std::move(opts.client), std::move(h));
  } catch (const ssekit::client_options_error& e) {
    return usage_error(e.what());
  }
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    status.clear();
    stop(130);
  });
  io.run();
  status.clear();
  return exit_code;
}

// No URL: the demo server's feed, served in-process on a free port.
int run_demo(options opts) {
  boost::asio::io_context io;
  ssekit::demo::server demo(io.get_executor());
  std::fprintf(stderr, "sse-cat: no URL given: reading the embedded demo server at %s\n", demo.url("/feed").c_str());
  const int code = run_url(std::move(opts), demo.url("/feed"), io);
  demo.stop();
  io.restart();
  io.run_for(std::chrono::seconds(2));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // A closed pipe (sse-cat ... | head) is an output error, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&](std::string_view what) -> std::optional<std::string_view> {
      if (i + 1 >= argc) {
        usage_error(std::string(arg) + " needs " + std::string(what));
        return std::nullopt;
      }
      return std::string_view(argv[++i]);
    };
    const auto next_size = [&](std::size_t* out) {
      if (i + 1 >= argc) return false;
      return parse_size(argv[++i], out);
    };
    if (arg == "-h" || arg == "--help") {
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      return exit_ok;
    } else if (arg == "--json") {
      opts.format = ssekit::cli::output_format::json;
    } else if (arg == "--all") {
      opts.all = true;
    } else if (arg == "--max-line-length") {
      if (!next_size(&opts.parser.max_line_length)) return usage_error("--max-line-length needs a number of bytes");
    } else if (arg == "--max-event-size") {
      if (!next_size(&opts.parser.max_event_size)) return usage_error("--max-event-size needs a number of bytes");
    } else if (arg == "--max-events") {
      std::size_t n = 0;
      if (!next_size(&n) || n == 0) return usage_error("--max-events needs a positive number");
      opts.max_events = n;
    } else if (arg == "-H" || arg == "--header") {
      const auto v = value("'Name: value'");
      if (!v) return exit_usage;
      const auto colon = v->find(':');
      if (colon == std::string_view::npos || colon == 0) return usage_error("a header is 'Name: value', got '" + std::string(*v) + "'");
      std::string_view header_value = v->substr(colon + 1);
      while (!header_value.empty() && (header_value.front() == ' ' || header_value.front() == '\t')) header_value.remove_prefix(1);
      opts.client.headers.emplace_back(std::string(v->substr(0, colon)), std::string(header_value));
    } else if (arg == "-X" || arg == "--request") {
      const auto v = value("a method");
      if (!v) return exit_usage;
      opts.client.method = std::string(*v);
      opts.method_given = true;
    } else if (arg == "-d" || arg == "--data") {
      const auto v = value("a body (or @FILE)");
      if (!v) return exit_usage;
      if (v->starts_with("@")) {
        const std::string path(v->substr(1));
        std::ifstream file(path, std::ios::binary);
        if (!file) {
          std::fprintf(stderr, "sse-cat: can't read %s: %s\n", path.c_str(), std::strerror(errno));
          return exit_io;
        }
        opts.client.body.assign(std::istreambuf_iterator<char>(file), {});
      } else {
        opts.client.body = std::string(*v);
      }
      opts.body_given = true;
    } else if (arg == "--last-event-id") {
      const auto v = value("an id");
      if (!v) return exit_usage;
      opts.client.last_event_id = std::string(*v);
    } else if (arg == "--replay-body") {
      opts.client.replay_body = true;
    } else if (arg == "--no-reconnect") {
      opts.client.reconnect = false;
    } else if (arg == "--retry-server-errors") {
      opts.client.retry_server_errors = true;
    } else if (arg == "--idle-timeout" || arg == "--connect-timeout") {
      const auto v = value("a number of seconds");
      if (!v) return exit_usage;
      auto& target = arg == "--idle-timeout" ? opts.client.idle_timeout : opts.client.connect_timeout;
      if (!parse_seconds(*v, &target)) return usage_error(std::string(arg) + " needs a number of seconds");
    } else if (arg == "--cacert") {
      const auto v = value("a file");
      if (!v) return exit_usage;
      opts.client.ca_file = std::string(*v);
    } else if (arg == "--insecure") {
      opts.client.insecure_skip_tls_verification = true;
    } else if (arg == "-") {
      opts.read_stdin = true;
    } else if (arg.starts_with("-")) {
      return usage_error("unknown option '" + std::string(arg) + "'");
    } else if (opts.url) {
      return usage_error("one URL only");
    } else {
      opts.url = std::string(arg);
    }
  }
  if (opts.body_given && !opts.method_given) opts.client.method = "POST";
  if (opts.read_stdin && opts.url) return usage_error("give a URL or '-', not both");
  if (opts.read_stdin) return run(opts);
  if (!opts.url) return run_demo(std::move(opts));
  boost::asio::io_context io;
  const std::string url = *opts.url;
  return run_url(std::move(opts), url, io);
}

// sse-cat: prints the events of an event stream, from a URL (with the
// reconnecting ssekit::client), from standard input, or, with neither, from
// the embedded demo server started in-process.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/system/system_error.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <string_view>
#include <vector>

#include "output.hpp"
#include "ssekit/client.hpp"
#include "ssekit/demo_server.hpp"
#include "ssekit/parser.hpp"
#include "tool_args.hpp"
#include "tool_io.hpp"

namespace {

// Documented in the usage text and the README; keep them stable.
constexpr int exit_ok = 0;
constexpr int exit_stream_error = 1;  // the stream broke a limit
constexpr int exit_usage = 2;
constexpr int exit_io = 3;
constexpr int exit_refused = 4;       // the server refused the stream (status, type, redirect)
constexpr int exit_network = 5;       // network, TLS or timeout failure, and no reconnect
constexpr int exit_signal_base = 128;  // + the signal: 129 SIGHUP, 130 SIGINT, 143 SIGTERM

// The client's limits on proxy settings (its constructor checks them too).
constexpr std::size_t max_proxy_arg = 2048;
constexpr std::size_t max_noproxy_arg = 65536;  // the client's bound (native/client/proxy.hpp)
// How long printed events may wait in the output buffer by default (see
// flush_soon).
constexpr std::chrono::milliseconds default_flush_delay{5};
constexpr auto max_timeout = std::chrono::milliseconds(std::chrono::hours(24 * 365));

constexpr std::string_view usage = R"(usage: sse-cat [options] [--] [URL | -]

Prints the events of a text/event-stream: from URL (reconnecting as a
browser's EventSource does), from standard input with '-', or with neither
from the embedded demo server's /feed, started in-process on a free
loopback port. A URL is http:// or https://, at most 8000 bytes.

Output:
  --json                 one JSON object per line: {"type","data","lastEventId"}
  --all                  also print retry fields and comments, in stream order
                         ({"retry":N} and {"comment":"..."} with --json)
  --max-events N         exit 0 after N events
  --flush-delay SECONDS  longest that printed events wait in the output
                         buffer (default 0.005; 0: written at once; the
                         buffer is also written when it fills)
Request:
  -H, --header 'Name: value'   add a request header (repeatable; a name at
                         most 256 bytes, a value 16384, all 32768)
  -X, --request METHOD   request method (default GET, or POST with -d)
  -d, --data BODY        request body; --data @FILE reads it from FILE
                         (@-: from standard input), at most 256 MiB; once
  --last-event-id ID     resume from ID (sent as Last-Event-ID; at most
                         4096 bytes)
  --replay-body          send the body again on reconnects (off: a stream
                         with a body ends sse-cat when it ends)
  --compressed           ask for gzip or deflate and decode it (the default:
                         the output is the decoded events either way)
  --no-compressed        ask for identity only; a compressed answer is
                         refused (exit 4)
Connection:
  --no-reconnect         exit when the stream ends or fails
  --idle-timeout SECONDS reconnect when nothing (not even a comment) arrives
                         on the stream for that long (default 0: never); the
                         wait for the response head is --connect-timeout's
  --connect-timeout SECONDS    (default 10; more than 0)
                         (SECONDS: e.g. 2 or 0.25, at most three decimals
                         and a year)
  --retry-server-errors  reconnect after 5xx and 429 (honouring Retry-After,
                         up to 24 h as retry: is;
                         with a body, only after 429, 502, 503 and 504 unless
                         --replay-body)
  --cacert FILE          trust the certificates in FILE (PEM): CAs, or the
                         server's own
  --insecure             do NOT verify the server's certificate
  -x, --proxy URL        use this proxy: http://[user:password@]host[:port]
                         (no scheme: http://, port 1080 by default; at most
                         2048 bytes) or https://... (TLS to the proxy, port
                         443 by default, verified as servers are: --cacert,
                         --insecure); '' = no proxy, even from the environment.
                         Without it, http_proxy, https_proxy / HTTPS_PROXY and
                         all_proxy / ALL_PROXY apply as in curl. https://
                         targets tunnel with CONNECT (TLS to the server).
  --noproxy LIST         hosts that go direct, overriding no_proxy / NO_PROXY:
                         comma-separated '*', host, .domain, host:port, IP,
                         IP/bits (at most 65536 bytes)
Limits:
  --max-line-length N    longest accepted line in bytes (default 33554432)
  --max-event-size N     largest accepted event in bytes: data, type and id
                         (default 33554432)
  --max-compression-ratio N    most decoded bytes per compressed byte of a
                         gzip/deflate stream, after its first MiB (default
                         1000; 0: no limit); a stream past it is a decode
                         error, reconnected unless --no-reconnect
  -h, --help             show this help
  -V, --version          show sse-cat's version

Without --json the events are printed as an event stream again. To a
terminal, control characters in events are escaped (ESC as \x1b; TAB
kept), so a stream can't drive the terminal; to a pipe or file they are
as sent. On a
terminal (but not with TERM=dumb or unset), a status line on standard error
shows the state, the events and the reconnects (cleared around output when
standard output is the same terminal).
SIGINT, SIGTERM and SIGHUP stop sse-cat at once, even while its output is
blocked (a consumer that stopped reading): exit 130, 143 and 129 (SIGHUP
stays ignored under nohup). What was printed
before the signal is still written to a file, or to a pipe that takes it
without waiting (not to a terminal or socket). A pipe whose reader went
away (| head -1) ends it, exit 3, even while the stream is silent.
Exit status: 0 end of input, --max-events reached, or the server ended the
stream for good (204, or an end with --no-reconnect); 1 the stream broke a
limit or could not be decoded; 2 bad usage; 3 an input or output error,
or the system refused memory or file descriptors; 4
the server refused the stream (HTTP status, content type, content coding,
redirect) or the proxy refused it (407, 403...); 5 a network, TLS or
timeout failure without reconnect; 129 SIGHUP; 130 SIGINT; 143 SIGTERM.
)";

struct options {
  ssekit::cli::output_format format = ssekit::cli::output_format::event_stream;
  bool all = false;
  bool read_stdin = false;
  std::uint64_t max_events = 0;  // 0: no limit
  std::chrono::milliseconds flush_delay = default_flush_delay;
  // The first option given that only a URL's request uses (refused with '-').
  std::string request_option;
  ssekit::parser_options parser;
  std::optional<std::string> url;
  ssekit::client_options client;
  bool method_given = false;
  bool body_given = false;
  // -d @FILE: read once every argument is checked (a usage error must not
  // wait for the end of standard input).
  std::optional<std::string> body_file;
  // An option whose value was a URL ("-d URL": the data forgotten): with no
  // URL left, the option is named rather than the demo read.
  std::string option_took_url;
  bool stdin_closed = false;  // at start (then reopened on /dev/null): --data @- has nothing to read
};

// ---- stop signals ------------------------------------------------------------
// SIGINT, SIGTERM and SIGHUP are caught without SA_RESTART: the handler records the
// signal and writes to a self-pipe, which the writer's and the reader's
// poll() and the event loop watch, and a blocked write() returns EINTR.

volatile std::sig_atomic_t stop_signal = 0;
int wake_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int sig) {
  const int saved = errno;
  stop_signal = sig;
  const char byte = 1;
  [[maybe_unused]] const auto n = ::write(wake_pipe[1], &byte, 1);
  errno = saved;
}

// False (and a message) when the wake pipe can't be made: without it a stop
// signal could not end a blocked write.
bool install_stop_signals() {
  if (::pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::fprintf(stderr, "sse-cat: can't set up stop signals: pipe: %s\n", std::strerror(errno));
    return false;
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: interrupt a blocked read or write
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  // SIGHUP (the terminal went away) writes what waits, as SIGTERM does;
  // but not under nohup, which ignores it for us.
  struct sigaction hup {};
  if (::sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN) ::sigaction(SIGHUP, &action, nullptr);
  return true;
}

int signal_exit_code() { return exit_signal_base + static_cast<int>(stop_signal); }

// Asio resolves names on a thread of its own, made at an io_context's first
// async_resolve, which did not block the stop signals: a SIGTERM could then
// run its handler there while the main thread, woken by the same event,
// already took a closed pipe for the reason to stop (exit 3, not 143). The
// thread is made here, with the stop signals blocked so that it inherits
// that; only the main thread, where output blocks, takes them.
void start_resolver_thread_without_stop_signals(boost::asio::ip::tcp::resolver& resolver) {
  sigset_t stop_set, old;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  sigaddset(&stop_set, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &stop_set, &old);
  resolver.async_resolve("127.0.0.1", "0", boost::asio::ip::tcp::resolver::numeric_host,
                         [](const boost::system::error_code&, const boost::asio::ip::tcp::resolver::results_type&) {});
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "sse-cat: %s\nTry 'sse-cat --help'.\n", ssekit::tools::terminal_safe(message).c_str());
  return exit_usage;
}

int output_error(const ssekit::cli::writer& out) {
  // A stop signal wins over a write error that raced it (the reader went
  // away as the signal came: write() said EPIPE before poll() saw the wake
  // pipe): the signal is why sse-cat stops.
  if (out.interrupted() || stop_signal != 0) return signal_exit_code();
  std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(out.error()));
  return exit_io;
}

std::string limit_hint(ssekit::errc code, const ssekit::parser_options& limits) {
  if (code == ssekit::errc::line_too_long)
    return " (limit " + std::to_string(limits.max_line_length) + " bytes; see --max-line-length)";
  if (code == ssekit::errc::event_too_large)
    return " (limit " + std::to_string(limits.max_event_size) + " bytes; see --max-event-size)";
  return {};
}

int report_stream_error(const ssekit::parse_error& err, const ssekit::parser_options& limits) {
  std::fprintf(stderr, "sse-cat: %s at byte %llu: %s%s\n", std::string(ssekit::error_name(err.code)).c_str(),
               static_cast<unsigned long long>(err.offset), std::string(ssekit::error_message(err.code)).c_str(),
               limit_hint(err.code, limits).c_str());
  return exit_stream_error;
}

// Standard output is a pipe or a socket: its reader can go away while
// sse-cat has nothing to write (a stream of heartbeats into `| head -1`),
// and only poll() tells (POLLERR, POLLHUP), as a write would (EPIPE).
bool output_has_reader() {
  struct stat out {};
  return ::fstat(STDOUT_FILENO, &out) == 0 && (S_ISFIFO(out.st_mode) || S_ISSOCK(out.st_mode));
}

// The reader of standard output went away: what a write would have said.
int output_gone() {
  if (stop_signal != 0) return signal_exit_code();
  std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(EPIPE));
  return exit_io;
}

enum class input_wait { readable, stopped, output_gone };

// Waits until standard input is readable, a stop signal arrives, or the
// reader of standard output goes away.
input_wait wait_for_input() {
  std::array<pollfd, 3> fds{pollfd{STDIN_FILENO, POLLIN, 0}, pollfd{wake_pipe[0], POLLIN, 0},
                            pollfd{output_has_reader() ? STDOUT_FILENO : -1, 0, 0}};  // -1: not polled
  for (;;) {
    if (stop_signal != 0) return input_wait::stopped;
    const int ready = ::poll(fds.data(), fds.size(), -1);
    if (ready > 0) {
      if (stop_signal != 0) return input_wait::stopped;
      if ((fds[2].revents & (POLLERR | POLLHUP)) != 0) return input_wait::output_gone;
      return input_wait::readable;
    }
    if (ready < 0 && errno != EINTR) return input_wait::readable;  // let read() report it
  }
}

// Passes events (and comments, retry hints) on until `max` events went
// through (0: no limit), then nothing: the parser has no way to stop
// within a chunk.
class event_limit : public ssekit::handler {
 public:
  event_limit(ssekit::handler& next, std::uint64_t max) : next_(next), max_(max) {}
  void on_event(const ssekit::event& ev) override {
    if (reached()) return;
    ++events_;
    next_.on_event(ev);
  }
  void on_comment(std::string_view text) override {
    if (!reached()) next_.on_comment(text);
  }
  void on_retry(std::uint64_t milliseconds) override {
    if (!reached()) next_.on_retry(milliseconds);
  }
  bool reached() const noexcept { return max_ != 0 && events_ >= max_; }

 private:
  ssekit::handler& next_;
  std::uint64_t max_;
  std::uint64_t events_ = 0;
};

int run(const options& opts) {
  ssekit::cli::writer out(STDOUT_FILENO, wake_pipe[0]);
  ssekit::cli::printer printer{out, opts.format, opts.all};
  printer.escape_controls(::isatty(STDOUT_FILENO) == 1);  // a stream must not drive the terminal
  event_limit limit{printer, opts.max_events};
  ssekit::parser parser{limit, opts.parser};
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    switch (wait_for_input()) {
      case input_wait::readable: break;
      case input_wait::stopped: return signal_exit_code();
      case input_wait::output_gone: return output_gone();
    }
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      std::fprintf(stderr, "sse-cat: reading standard input: %s\n", std::strerror(errno));
      return exit_io;
    }
    const ssekit::parse_error err =
        n == 0 ? parser.finish() : parser.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    // Print what was parsed before any error, and promptly for live streams.
    if (!out.flush()) return output_error(out);
    if (limit.reached()) return exit_ok;  // an error after the last event is not reported
    if (err) return report_stream_error(err, opts.parser);
    if (n == 0) return exit_ok;
  }
}

// The system refused a descriptor (for a socket). The client retries it,
// as a service would; sse-cat holds one connection, so its limit is too
// small and a retry can't help: exit 3, as --help says.
bool out_of_descriptors(const ssekit::client_error& e) {
  return e.code == std::errc::too_many_files_open || e.code == std::errc::too_many_files_open_in_system;
}

int exit_code_for(const ssekit::client_error& e) {
  using r = ssekit::client_error_reason;
  // Whatever the client calls the attempt that failed.
  if (out_of_descriptors(e)) return exit_io;
  switch (e.reason) {
    case r::no_content:
    case r::end_of_stream: return exit_ok;
    case r::limit_exceeded:
    case r::decode_error: return exit_stream_error;
    case r::http_status:
    case r::wrong_content_type:
    case r::unsupported_encoding:
    case r::redirect_refused:
    case r::proxy_refused: return exit_refused;
    case r::id_not_sent:  // a notice, always with will_reconnect: never ends sse-cat
    case r::network_error:
    case r::tls_error:
    case r::idle_timeout:
    case r::connect_timeout:
    case r::attempt_hook_failed: return exit_network;
  }
  return exit_network;
}

// " (reconnecting in 3 s)": when, not only whether (a server's Retry-After
// or retry: may make it a day).
std::string reconnect_text(const ssekit::client_error& e) {
  // id_not_sent comes as the attempt starts (its delay is 0): the wait was
  // told with the error before it.
  if (!e.will_reconnect || e.reason == ssekit::client_error_reason::id_not_sent) return {};
  const std::int64_t ms = e.reconnect_delay.count();
  if (ms < 10'000) return " (reconnecting in " + std::to_string(ms) + " ms)";
  if (ms < 600'000) return " (reconnecting in " + std::to_string(ms / 1000) + " s)";
  if (ms < 36'000'000) return " (reconnecting in " + std::to_string(ms / 60'000) + " min)";
  return " (reconnecting in " + std::to_string(ms / 3'600'000) + " h)";
}

// Whether standard output and standard error are the same terminal.
bool same_terminal() {
  struct stat out {}, err {};
  return ::isatty(STDOUT_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1 && ::fstat(STDOUT_FILENO, &out) == 0 &&
         ::fstat(STDERR_FILENO, &err) == 0 && out.st_rdev == err.st_rdev;
}

// Whether standard error is a terminal that takes ESC [K: TERM=dumb (an
// editor's shell) or no TERM at all (a CI log on a pty) would print it raw.
// git's rule.
bool terminal_takes_escapes() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) == 1 && term != nullptr && std::strcmp(term, "dumb") != 0;
}

// The live status line (a terminal on stderr only). When standard output
// is the same terminal, it is cleared before output and drawn again after,
// so it never shares a line with an event.
class status_line {
 public:
  explicit status_line(bool enabled) : enabled_(enabled), shares_output_(enabled && same_terminal()) {}
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
    std::fflush(stderr);
    shown_ = false;
  }
  bool shown() const noexcept { return shown_; }
  // Before writing to standard output.
  void before_output() {
    if (shares_output_) clear();
  }

 private:
  bool enabled_;
  bool shares_output_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

int run_url(options opts, const std::string& url, boost::asio::io_context& io) {
  boost::asio::ip::tcp::resolver resolver(io);
  start_resolver_thread_without_stop_signals(resolver);
  ssekit::cli::writer out(STDOUT_FILENO, wake_pipe[0]);
  ssekit::cli::printer printer{out, opts.format, opts.all};
  printer.escape_controls(::isatty(STDOUT_FILENO) == 1);  // a stream must not drive the terminal
  status_line status(terminal_takes_escapes());
  int exit_code = exit_ok;
  bool stopped = false;
  bool flush_posted = false;
  boost::asio::steady_timer flush_timer(io);
  std::uint64_t events = 0;
  std::string state = "connecting";
  std::optional<ssekit::client> client;
  boost::asio::posix::stream_descriptor wake(io);
  if (wake_pipe[0] >= 0) {
    const int fd = ::dup(wake_pipe[0]);
    if (fd < 0) throw boost::system::system_error(errno, boost::system::generic_category(), "dup");
    wake.assign(fd);
  }
  boost::asio::posix::stream_descriptor output(io);  // watched for its reader going away
  if (output_has_reader()) {
    const int fd = ::dup(STDOUT_FILENO);
    boost::system::error_code ec;
    if (fd >= 0) output.assign(fd, ec);
    if (fd >= 0 && ec) ::close(fd);  // not watched: writes still find out
  }

  const auto stop = [&](int code) {
    if (stopped) return;
    stopped = true;
    exit_code = code;
    if (client) client->close();
    boost::system::error_code ignored;
    wake.cancel(ignored);
    output.cancel(ignored);
    io.stop();
  };
  const auto show_status = [&](bool force) {
    status.update(state, events, client ? client->reconnects() : 0, force);
  };
  // Writes what the printer buffered; the status line goes around it.
  const auto flush = [&] {
    // A write that failed while an event filled the buffer left it empty:
    // the error still stops sse-cat (it exited 0 with nothing written).
    if (out.empty() && out.error() == 0) return true;
    status.before_output();
    if (!out.flush()) {
      status.clear();
      stop(output_error(out));
      return false;
    }
    show_status(!status.shown());  // at once if cleared, else at most every 100 ms
    return true;
  };
  // Output waits at most flush_delay after the first event printed since
  // the last write (or until the buffer fills): a live stream stays live,
  // and a fast one is written in big pieces, not one write (and one poll)
  // per socket read, which cost a third of sse-cat's time at 1 GB/s.
  const auto flush_soon = [&] {
    if (out.interrupted() || out.error() != 0 || opts.flush_delay.count() == 0) {
      flush();
      return;
    }
    if (flush_posted) return;
    flush_posted = true;
    flush_timer.expires_after(opts.flush_delay);
    flush_timer.async_wait([&](const boost::system::error_code& ec) {
      flush_posted = false;
      if (!ec && !stopped) flush();
    });
  };

  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event& ev) {
    status.before_output();  // the buffer may fill and be written now
    printer.on_event(ev);
    ++events;
    flush_soon();
    if (opts.max_events != 0 && events >= opts.max_events && !stopped) {
      if (flush()) {
        status.update(state, events, client->reconnects(), true);
        status.clear();
        stop(exit_ok);
      }
    }
  };
  h.on_comment = [&](std::string_view text) {
    status.before_output();
    printer.on_comment(text);
    flush_soon();
  };
  h.on_retry = [&](std::uint64_t ms) {
    status.before_output();
    printer.on_retry(ms);
    flush_soon();
  };
  h.on_state = [&](ssekit::client_state s) {
    state = ssekit::client_state_name(s);
    if (out.empty()) show_status(true);
  };
  h.on_error = [&](const ssekit::client_error& e) {
    flush();
    status.clear();
    const bool ends = !e.will_reconnect || out_of_descriptors(e);
    const bool quiet = e.reason == ssekit::client_error_reason::end_of_stream && !e.will_reconnect;
    if (!quiet) {
      std::string detail;
      if (e.reason == ssekit::client_error_reason::limit_exceeded && e.code.category() == ssekit::error_category())
        detail = limit_hint(static_cast<ssekit::errc>(e.code.value()), opts.parser);  // the message has the offset
      // The message may quote the server (reason phrase, headers, body).
      std::fprintf(stderr, "sse-cat: %s: %s%s%s\n", std::string(ssekit::client_error_reason_name(e.reason)).c_str(),
                   ssekit::tools::terminal_safe(ssekit::cli::with_flag_names(e.message)).c_str(), detail.c_str(), ends ? "" : reconnect_text(e).c_str());
      // What the server said about it (a JSON error of an API, a proxy's
      // page): the start of the refused response's body, as curl shows it.
      if (!e.body.empty())
        std::fprintf(stderr, "sse-cat: the %s said: %s\n", e.reason == ssekit::client_error_reason::proxy_refused ? "proxy" : "server",
                     ssekit::cli::body_excerpt(e.body).c_str());
    }
    if (ends) stop(exit_code_for(e));
    else show_status(true);  // through the reconnect wait, which may be long
  };

  opts.client.url = url;
  opts.client.limits = opts.parser;
  try {
    client.emplace(io.get_executor(), std::move(opts.client), std::move(h));
  } catch (const ssekit::client_options_error& e) {
    // A stop signal interrupted reading a file it names (--cacert on a FIFO).
    if (stop_signal != 0) return signal_exit_code();
    const std::string message = ssekit::cli::with_flag_names(e.what());
    // --cacert's file holds no certificate: the file is the fault, so no --help hint.
    if (message.starts_with(ssekit::cli::cacert_load_failure)) {
      std::fprintf(stderr, "sse-cat: %s\n", ssekit::tools::terminal_safe(message).c_str());
      return exit_usage;
    }
    return usage_error(message);
  }
  if (wake.is_open()) {
    wake.async_wait(boost::asio::posix::stream_descriptor::wait_read, [&](const boost::system::error_code& ec) {
      if (ec) return;
      status.clear();
      stop(signal_exit_code());
    });
  }
  if (output.is_open()) {
    output.async_wait(boost::asio::posix::stream_descriptor::wait_error, [&](const boost::system::error_code& ec) {
      if (ec || stopped) return;
      status.clear();
      stop(output_gone());
    });
  }
  if (stop_signal != 0) stop(signal_exit_code());
  io.run();
  // stop() closed the client, whose shutdown (TLS's close_notify, one
  // write that can't block) it posted, and then stopped the io_context
  // before that ran: a signal or a closed output ended https streams
  // without close_notify (probe-cli2 6). Every handler sse-cat has returns
  // at once once stopped.
  if (stopped) {
    io.restart();
    io.poll();
  }
  if (!stopped) flush();
  // Events printed just before a stop signal (still waiting for the flush
  // timer) are not lost when the output can take them now.
  else if (stop_signal != 0) out.flush_without_waiting();
  status.clear();
  return exit_code;
}

// No URL: the demo server's feed, served in-process on a free port.
int run_demo(options opts) {
  boost::asio::io_context io;
  ssekit::demo::server demo(io.get_executor());
  std::fprintf(stderr, "sse-cat: no URL given: reading the embedded demo server at %s\n", demo.url("/feed").c_str());
  // The server is in this process: an environment proxy (http_proxy) can't
  // reach it. A --proxy given is used as asked.
  if (!opts.client.proxy) opts.client.proxy = "";
  const int code = run_url(std::move(opts), demo.url("/feed"), io);
  demo.stop();
  io.restart();
  io.run_for(std::chrono::seconds(2));
  return code;
}

// --help states these.
static_assert(ssekit::max_header_name_length == 256 && ssekit::max_header_value_length == 16384 &&
              ssekit::max_request_headers_size == 32768);

// The client's own limits (ssekit/client.hpp), checked here to name the
// option in the message.
std::size_t checked_field(const ssekit::tools::arg_reader& args, std::string_view what, std::string_view text, std::size_t limit) {
  if (text.size() > limit)
    args.fail(std::string(what) + " is " + std::to_string(text.size()) + " bytes; at most " + std::to_string(limit));
  return text.size();
}

// The whole of file `path` ("-": standard input, as curl's -d @-) into
// `out`; 0 or the errno. POSIX reads, not std::ifstream: a directory opens
// as a stream and then throws from inside the read (sse-cat aborted).
// A --data @FILE body past this is refused (EFBIG): `yes | sse-cat -d @-
// URL` must not take the machine's memory.
constexpr std::size_t max_body_bytes = std::size_t{256} << 20;

// The whole of `path` ("-": standard input) into `out`: 0, EINTR when a
// stop signal came (checked after every read: input that keeps coming
// never makes read() fail), EFBIG past max_body_bytes, or read()'s errno.
int read_whole(const std::string& path, std::string& out) {
  const int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return errno;
  out.clear();
  char buffer[65536];
  int error = 0;
  while (error == 0) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0 && errno != EINTR) error = errno;
    else if (stop_signal != 0) error = EINTR;
    else if (n > 0 && static_cast<std::size_t>(n) > max_body_bytes - out.size()) error = EFBIG;
    else if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return error;
}

// 0 when file `path` can be read (its first byte), else the errno: a
// directory opens but does not read. A pipe, FIFO or device is not opened
// here: the byte read would be gone for the client, which reads it next
// (--cacert <(cmd)), and a FIFO's writer may write once and leave.
int unreadable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return errno;
  char byte;
  const int error = ::read(fd, &byte, 1) < 0 ? errno : 0;
  ::close(fd);
  return error;
}

// Whether `v` starts as an http(s) URL does.
bool looks_like_url(std::string_view v) {
  return (v.size() > 7 && boost::beast::iequals(v.substr(0, 7), "http://")) || (v.size() > 8 && boost::beast::iequals(v.substr(0, 8), "https://"));
}

// The option just read took a URL as its value: remembered, for when no URL
// is left (main()).
void note_url_value(const ssekit::tools::arg_reader& args, options& opts) {
  if (opts.option_took_url.empty() && looks_like_url(args.arg()))
    opts.option_took_url = std::string(args.option()) + " took the URL '" + std::string(args.arg().substr(0, 200)) + "' as its value";
}

// Reads --data @FILE's body (after the arguments were checked): exit_ok,
// or the exit status after saying why.
int read_body_file(options& opts) {
  if (!opts.body_file) return exit_ok;
  const std::string& path = *opts.body_file;
  const int error = path == "-" && opts.stdin_closed ? EBADF : read_whole(path, opts.client.body);
  if (error == 0) return exit_ok;
  if (error == EINTR) return signal_exit_code();  // SIGINT or SIGTERM while reading the body
  const char* const what = path == "-" ? "standard input" : path.c_str();
  if (error == EFBIG) {
    std::fprintf(stderr, "sse-cat: the body in %s is over %zu MiB, the most --data takes\n", what, max_body_bytes >> 20);
  } else {
    std::fprintf(stderr, "sse-cat: can't read %s: %s\n", what, std::strerror(error));
  }
  return exit_io;
}

// Returns exit_ok to run, -1 after --help, or an exit status.
int parse_args(int argc, char** argv, options& opts) {
  ssekit::tools::arg_reader args(argc, argv);
  bool options_done = false;  // after "--": a URL (or "-") only, even one that starts with '-'
  // The options that shape a URL's request or connection: with '-' they
  // would have no effect, which is refused rather than ignored.
  constexpr std::array<std::string_view, 20> request_options{
      "-H", "--header", "-X", "--request", "-d", "--data", "--last-event-id", "--replay-body", "--compressed",
      "--no-compressed", "--no-reconnect", "--retry-server-errors", "--idle-timeout", "--connect-timeout", "--cacert",
      "--insecure", "-x", "--proxy", "--noproxy", "--max-compression-ratio"};
  while (args.next()) {
    if (!options_done && opts.request_option.empty() &&
        std::find(request_options.begin(), request_options.end(), args.arg()) != request_options.end()) {
      opts.request_option = std::string(args.arg());
    }
    if (options_done && !args.is("-")) {
      if (opts.url) throw ssekit::tools::usage_error("one URL only");
      opts.url = std::string(args.arg());
    } else if (args.is("--") && !options_done) {
      options_done = true;
    } else if (args.is("-h", "--help")) {
      // As for events: output that could not be written is an error (exit 3).
      if (std::fwrite(usage.data(), 1, usage.size(), stdout) != usage.size() || std::fflush(stdout) != 0) {
        std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(errno));
        return exit_io;
      }
      return -1;
    } else if (args.is("-V", "--version")) {
      constexpr std::string_view version = "sse-cat (ssekit) " SSEKIT_VERSION "\n";
      if (std::fwrite(version.data(), 1, version.size(), stdout) != version.size() || std::fflush(stdout) != 0) {
        std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(errno));
        return exit_io;
      }
      return -1;
    } else if (args.is("--json")) {
      opts.format = ssekit::cli::output_format::json;
    } else if (args.is("--all")) {
      opts.all = true;
    } else if (args.is("--max-line-length")) {
      opts.parser.max_line_length = args.number<std::size_t>(1);
    } else if (args.is("--max-compression-ratio")) {
      opts.client.max_compression_ratio = args.number<std::uint64_t>(0);
    } else if (args.is("--max-event-size")) {
      opts.parser.max_event_size = args.number<std::size_t>(1);
    } else if (args.is("--max-events")) {
      opts.max_events = args.number<std::uint64_t>(1);
    } else if (args.is("--flush-delay")) {
      opts.flush_delay = args.seconds_value(max_timeout);
    } else if (args.is("-H", "--header")) {
      const std::string_view v = args.value();
      const auto colon = v.find(':');
      if (colon == std::string_view::npos || colon == 0) args.fail("a header is 'Name: value', got '" + std::string(v.substr(0, 200)) + "'");
      // "-H URL" (the header forgotten) took the URL as a header "http",
      // and with no URL left sse-cat read its demo feed without a word.
      if (looks_like_url(v))
        args.fail("a header is 'Name: value', got the URL '" + std::string(v.substr(0, 200)) + "' (the header is missing)");
      std::string_view header_value = v.substr(colon + 1);
      while (!header_value.empty() && (header_value.front() == ' ' || header_value.front() == '\t')) header_value.remove_prefix(1);
      checked_field(args, "the header name", v.substr(0, colon), ssekit::max_header_name_length);
      checked_field(args, "the header value", header_value, ssekit::max_header_value_length);
      // The client sends these itself and drops the user's: say so rather
      // than send something else than asked (the same value is fine).
      for (const auto& [name, fixed] : {std::pair<std::string_view, std::string_view>{"Accept", "text/event-stream"},
                                        std::pair<std::string_view, std::string_view>{"Cache-Control", "no-cache"}}) {
        // Both values are case-insensitive (a media type, a cache directive);
        // white space after a value is not part of it.
        std::string_view given = header_value;
        while (!given.empty() && (given.back() == ' ' || given.back() == '\t')) given.remove_suffix(1);
        if (boost::beast::iequals(v.substr(0, colon), name) && !boost::beast::iequals(given, fixed))
          args.fail("sse-cat always sends " + std::string(name) + ": " + std::string(fixed));
      }
      const std::string_view name = v.substr(0, colon);
      // The client never sends it to a server (a proxy's credentials go in
      // its URL): refused rather than dropped without a word.
      if (boost::beast::iequals(name, "Proxy-Authorization"))
        args.fail("Proxy-Authorization is sent only to a proxy, from its URL: --proxy http://user:password@host:port");
      // The client sends one of each (the first): a second is refused, not
      // dropped without a word.
      if ((boost::beast::iequals(name, "Host") || boost::beast::iequals(name, "User-Agent")) &&
          std::any_of(opts.client.headers.begin(), opts.client.headers.end(),
                      [&](const auto& h) { return boost::beast::iequals(h.first, name); }))
        args.fail("one " + std::string(name) + " header only: the request has one");
      opts.client.headers.emplace_back(std::string(name), std::string(header_value));
    } else if (args.is("-X", "--request")) {
      opts.client.method = std::string(args.value());
      opts.method_given = true;
      note_url_value(args, opts);
    } else if (args.is("-d", "--data")) {
      const std::string_view v = args.value();
      // curl joins several with '&'; here a second replaced the first (and
      // "-d @- -d @-" sent nothing): refused instead.
      if (opts.body_given) args.fail("one --data only: the request has one body");
      if (v == "@") args.fail("@ names a file: @FILE, or @- for standard input");
      if (v.starts_with("@")) {
        opts.body_file = std::string(v.substr(1));
      } else {
        opts.client.body = std::string(v);
        note_url_value(args, opts);
      }
      opts.body_given = true;
    } else if (args.is("--last-event-id")) {
      const std::string_view v = args.value();
      checked_field(args, "the id", v, opts.client.max_id_length);  // 4096, as --help says
      // A header value's rule (RFC 9110 5.5), which the client applies too,
      // but naming its field rather than the option.
      if (std::any_of(v.begin(), v.end(), [](char c) {
            const auto b = static_cast<unsigned char>(c);
            return (b < 0x20 && b != '\t') || b == 0x7f;
          })) {
        args.fail("the id has a control byte (CR, LF, NUL...): it goes in a header");
      }
      // A header value loses white space at its ends (RFC 9110 5.5): the
      // server would get another id than the one asked for.
      if (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t'))
        args.fail("the id starts or ends with white space, which a header value can't carry");
      opts.client.last_event_id = std::string(v);
      note_url_value(args, opts);
    } else if (args.is("--replay-body")) {
      opts.client.replay_body = true;
    } else if (args.is("--compressed")) {
      // On already: sse-cat prints decoded events, so (unlike curl's raw
      // bytes) compression never shows in its output. Accepted for curl users.
      opts.client.compression = true;
    } else if (args.is("--no-compressed")) {
      opts.client.compression = false;
    } else if (args.is("--no-reconnect")) {
      opts.client.reconnect = false;
    } else if (args.is("--retry-server-errors")) {
      opts.client.retry_server_errors = true;
    } else if (args.is("--idle-timeout")) {
      opts.client.idle_timeout = args.seconds_value(max_timeout);
    } else if (args.is("--connect-timeout")) {
      opts.client.connect_timeout = args.seconds_value(max_timeout);
      if (opts.client.connect_timeout.count() == 0) args.fail("must be more than 0 (at least 0.001)");
    } else if (args.is("--cacert")) {
      opts.client.ca_file = std::string(args.value());
      // A file that can't be read is an I/O error (exit 3), as for -d @FILE,
      // and is named as sse-cat's; the client checks what it holds.
      if (const int error = unreadable(opts.client.ca_file)) {
        if (error == EINTR && stop_signal != 0) return signal_exit_code();
        std::fprintf(stderr, "sse-cat: can't read --cacert %s: %s\n", opts.client.ca_file.c_str(), std::strerror(error));
        return exit_io;
      }
    } else if (args.is("--insecure")) {
      opts.client.insecure_skip_tls_verification = true;
    } else if (args.is("-x") || args.is("--proxy")) {
      const std::string_view v = args.value();
      if (v.size() > max_proxy_arg) args.fail("the proxy URL is " + std::to_string(v.size()) + " bytes; at most " + std::to_string(max_proxy_arg));
      opts.client.proxy = std::string(v);
      note_url_value(args, opts);
    } else if (args.is("--noproxy")) {
      const std::string_view v = args.value();
      if (v.size() > max_noproxy_arg) args.fail("the list is " + std::to_string(v.size()) + " bytes; at most " + std::to_string(max_noproxy_arg));
      opts.client.no_proxy = std::string(v);
      note_url_value(args, opts);
    } else if (args.is("-")) {
      opts.read_stdin = true;
    } else if (args.arg().starts_with("-")) {
      // curl's habits, named (sse-cat's options follow curl's where it has them).
      constexpr std::pair<std::string_view, std::string_view> curl_options[] = {
          {"-k", "curl's -k is --insecure here"},
          {"-N", "not needed: events are written as they come (see --flush-delay)"},
          {"--no-buffer", "not needed: events are written as they come (see --flush-delay)"},
          {"-s", "sse-cat writes only events to standard output; 2>/dev/null silences its messages"},
          {"--silent", "sse-cat writes only events to standard output; 2>/dev/null silences its messages"},
      };
      for (const auto& [name, hint] : curl_options) {
        if (args.is(name)) throw ssekit::tools::usage_error("unknown option '" + std::string(name) + "' (" + std::string(hint) + ")");
      }
      args.unknown();
    } else if (opts.url) {
      throw ssekit::tools::usage_error("one URL only");
    } else {
      opts.url = std::string(args.arg());
    }
  }
  return exit_ok;
}

// Opens /dev/null on a closed standard descriptor, so that the stop
// signal's pipe can't take its number (tools/common).
using ssekit::tools::reserve_if_closed;

int closed_output() {
  std::fprintf(stderr, "sse-cat: writing standard output: %s\n", std::strerror(EBADF));
  return exit_io;
}

}  // namespace

int main(int argc, char** argv) {
  // A closed pipe (sse-cat ... | head) is an output error, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  // Output past `ulimit -f` is an output error (EFBIG, exit 3), not a signal.
  ::signal(SIGXFSZ, SIG_IGN);
  const bool stdin_closed = reserve_if_closed(STDIN_FILENO);
  const bool stdout_closed = reserve_if_closed(STDOUT_FILENO);
  reserve_if_closed(STDERR_FILENO);
  if (!install_stop_signals()) return exit_io;
  options opts;
  opts.stdin_closed = stdin_closed;
  try {
    if (const int status = parse_args(argc, argv, opts); status != exit_ok) {
      // --help went to the /dev/null that stands in for a closed stdout.
      if (status < 0 && stdout_closed) return closed_output();
      return status < 0 ? exit_ok : status;
    }
  } catch (const ssekit::tools::usage_error& e) {
    return usage_error(e.what());
  } catch (const std::bad_alloc&) {  // -d @FILE
    std::fprintf(stderr, "sse-cat: out of memory\n");
    return exit_io;
  }
  if (opts.body_given && !opts.method_given) opts.client.method = "POST";
  if (opts.read_stdin && opts.url) return usage_error("give a URL or '-', not both");
  if (opts.read_stdin && !opts.request_option.empty())
    return usage_error(opts.request_option + " applies to a URL's request; standard input ('-') has none");
  if (!opts.read_stdin && !opts.url && !opts.option_took_url.empty())
    return usage_error("no URL given: " + opts.option_took_url + " (is the value missing?)");
  // Both would read standard input: one got it all, the other nothing ("no
  // certificate found" named only --cacert; probe-cli2 M4).
  const std::string& ca = opts.client.ca_file;
  if (opts.body_file == "-" && (ca == "/dev/stdin" || ca == "/dev/fd/0" || ca == "/proc/self/fd/0"))
    return usage_error("--cacert " + ca + " and --data @- both read standard input: give one of them a file");
  // As cat does: a closed standard output (or input, for '-') is an error.
  if (stdout_closed) return closed_output();
  try {
    if (const int status = read_body_file(opts); status != exit_ok) return status;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "sse-cat: out of memory\n");
    return exit_io;
  }
  if (opts.read_stdin && stdin_closed) {
    std::fprintf(stderr, "sse-cat: reading standard input: %s\n", std::strerror(EBADF));
    return exit_io;
  }
  // What the system refuses (memory for a huge event, descriptors, a
  // thread) ends sse-cat with a message and exit 3, not an abort.
  try {
    if (opts.read_stdin) return run(opts);
    if (!opts.url) return run_demo(std::move(opts));
    boost::asio::io_context io;
    const std::string url = *opts.url;
    return run_url(std::move(opts), url, io);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "sse-cat: out of memory\n");
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "sse-cat: %s\n", ssekit::tools::terminal_safe(ssekit::tools::readable_error(e.what())).c_str());
  }
  return exit_io;
}

// sse-cat: prints the events of an event stream. This first version reads
// the stream from standard input; the network client extends it with URLs.
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"
#include "ssekit/parser.hpp"

namespace {

// Documented in the usage text and the README; keep them stable.
constexpr int exit_ok = 0;
constexpr int exit_stream_error = 1;  // the stream broke a limit
constexpr int exit_usage = 2;
constexpr int exit_io = 3;

constexpr std::string_view usage = R"(usage: sse-cat [options] -

Reads a text/event-stream from standard input and prints its events.

  --json                 one JSON object per line: {"type","data","lastEventId"}
  --all                  also print retry fields and comments, in stream order
                         ({"retry":N} and {"comment":"..."} with --json)
  --max-line-length N    longest accepted line in bytes (default 33554432)
  --max-event-size N     largest accepted event data in bytes (default 33554432)
  -h, --help             show this help

Without --json the events are printed as an event stream again.
Exit status: 0 end of input, 1 the stream broke a limit, 2 bad usage,
3 an input or output error.
)";

struct options {
  ssekit::cli::output_format format = ssekit::cli::output_format::event_stream;
  bool all = false;
  bool read_stdin = false;
  ssekit::parser_options parser;
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

}  // namespace

int main(int argc, char** argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto next_size = [&](std::size_t* value) {
      if (i + 1 >= argc) return false;
      return parse_size(argv[++i], value);
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
    } else if (arg == "-") {
      opts.read_stdin = true;
    } else if (arg.starts_with("-")) {
      return usage_error("unknown option '" + std::string(arg) + "'");
    } else {
      return usage_error("URLs are not supported yet; use '-' to read standard input");
    }
  }
  if (!opts.read_stdin) return usage_error("nothing to read: give '-' for standard input");
  return run(opts);
}

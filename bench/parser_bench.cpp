// ssekit-bench: parser throughput on generated workloads, next to a baseline
// measured in the same run on the same bytes (a memchr scan for every LF, the
// least work any line-based parser must do). Machines differ and shared ones
// are noisy; the ratio between the two is what is comparable across runs.
//
//   ssekit-bench [options] [WORKLOAD...]      see --help
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"
#include "workloads.hpp"

#ifndef SSEKIT_BENCH_CONFIG
#define SSEKIT_BENCH_CONFIG "unknown"
#endif
#ifndef SSEKIT_BENCH_SANITIZE
#define SSEKIT_BENCH_SANITIZE 0
#endif

namespace {

using clock_type = std::chrono::steady_clock;
using ssekit::bench::workload;

// Results land here so the compiler cannot drop the work that produced them.
volatile std::uint64_t g_sink = 0;

// Tells the optimizer that memory may have changed, so a measured loop is
// neither hoisted out of nor merged across repetitions.
inline void clobber_memory() {
#if defined(__GNUC__) || defined(__clang__)
  asm volatile("" : : : "memory");
#endif
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// ---------------------------------------------------------------------------
// Baseline: find every LF with memchr.

std::uint64_t count_newlines(const char* p, std::size_t n) {
  const char* const end = p + n;
  std::uint64_t count = 0;
  while (p < end) {
    const void* hit = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (hit == nullptr) break;
    ++count;
    p = static_cast<const char*>(hit) + 1;
  }
  return count;
}

struct baseline_run {
  double seconds = 0;
  std::uint64_t newlines = 0;
};

baseline_run run_baseline(const std::string& bytes) {
  clobber_memory();
  const auto start = clock_type::now();
  const std::uint64_t n = count_newlines(bytes.data(), bytes.size());
  baseline_run run{seconds_since(start), n};
  g_sink = g_sink + n;
  return run;
}

// ---------------------------------------------------------------------------
// The parser, with a handler that looks at what it is given.

class counting_handler final : public ssekit::handler {
 public:
  void on_event(const ssekit::event& ev) override {
    ++events;
    data_bytes += ev.data.size();
    // Touch the views so delivering them cannot be skipped or left lazy.
    if (!ev.data.empty()) checksum += static_cast<unsigned char>(ev.data.front());
    checksum += ev.type.size() + ev.last_event_id.size();
  }
  void on_comment(std::string_view text) override {
    ++comments;
    checksum += text.size();
  }
  void on_retry(std::uint64_t milliseconds) override {
    ++retries;
    checksum += milliseconds;
  }

  std::uint64_t events = 0;
  std::uint64_t data_bytes = 0;
  std::uint64_t comments = 0;
  std::uint64_t retries = 0;
  std::uint64_t checksum = 0;
};

struct parser_run {
  double seconds = 0;
  counting_handler counts;
  ssekit::parse_error error;
};

parser_run run_parser(const std::string& bytes, std::size_t chunk,
                      const ssekit::parser_options& options) {
  parser_run run;
  ssekit::parser p{run.counts, options};
  const std::string_view all{bytes};
  clobber_memory();
  const auto start = clock_type::now();
  for (std::size_t offset = 0; offset < all.size() && !run.error; offset += chunk) {
    run.error = p.feed(all.substr(offset, chunk));
  }
  if (!run.error) run.error = p.finish();
  run.seconds = seconds_since(start);
  g_sink = g_sink + run.counts.checksum;
  return run;
}

// ---------------------------------------------------------------------------
// The serializer: writes back the events the parser read from a workload.

struct owned_event {
  std::string type;
  std::string data;
  std::string id;
};

class collecting_handler final : public ssekit::handler {
 public:
  void on_event(const ssekit::event& ev) override {
    events.push_back({std::string(ev.type == "message" ? std::string_view() : ev.type), std::string(ev.data),
                      std::string(ev.last_event_id)});
  }
  std::vector<owned_event> events;
};

std::vector<owned_event> collect_events(const std::string& bytes, const ssekit::parser_options& options) {
  collecting_handler h;
  ssekit::parser p{h, options};
  (void)p.feed(bytes);
  (void)p.finish();
  return std::move(h.events);
}

struct serializer_run {
  double seconds = 0;
  bool ok = true;
};

// `out` is reused across repetitions, so its growth is paid once.
serializer_run run_serializer(const std::vector<owned_event>& events, std::string& out) {
  out.clear();
  clobber_memory();
  const auto start = clock_type::now();
  serializer_run run;
  const std::string* last_id = nullptr;
  for (const owned_event& ev : events) {
    // An id line only where the id changes, as a server writes them.
    const bool new_id = last_id == nullptr ? !ev.id.empty() : ev.id != *last_id;
    last_id = &ev.id;
    const ssekit::outgoing_event o{.data = ev.data,
                                   .type = ev.type,
                                   .id = new_id ? std::optional<std::string_view>(ev.id) : std::nullopt,
                                   .retry = std::nullopt};
    if (ssekit::serialize_event(out, o) != ssekit::errc::ok) run.ok = false;
  }
  run.seconds = seconds_since(start);
  g_sink = g_sink + out.size();
  return run;
}

// Parses the serializer's output back: same events, same data bytes.
bool serialized_round_trips(const std::string& out, const workload& w) {
  counting_handler h;
  ssekit::parser p{h};
  return !p.feed(out) && !p.finish() && h.events == w.events && h.data_bytes == w.data_bytes;
}

// ---------------------------------------------------------------------------
// Command line.

struct config {
  std::vector<const ssekit::bench::workload_info*> workloads;
  std::size_t size = ssekit::bench::default_workload_size;
  std::size_t chunk = 16 * 1024;
  int reps = 5;
  double min_ratio = -1;  // < 0: no check
  bool parser_only = false;
  bool generate_only = false;
  bool serializer_only = false;
  bool no_serializer = false;
  bool raw_bytes = false;
};

void print_help() {
  std::puts(
      "usage: ssekit-bench [options] [WORKLOAD...]\n"
      "Times ssekit::parser against a memchr scan of the same bytes, best of N reps.\n"
      "\n"
      "  --size BYTES     workload size (default 67108864 = 64 MiB)\n"
      "  --chunk BYTES    bytes per parser.feed() call (default 16384)\n"
      "  --reps N         repetitions, interleaved; the fastest counts (default 5)\n"
      "  --min-ratio X    exit 3 if parser/memchr throughput is below X anywhere\n"
      "  --raw-bytes      parser_options::raw_bytes = true (no UTF-8 repair)\n"
      "  --parser-only    skip the baseline and the serializer (for callgrind.sh)\n"
      "  --serializer-only  only the serializer, without its baseline (for callgrind.sh)\n"
      "  --no-serializer  the parser and its baseline only (for callgrind.sh)\n"
      "  --generate-only  generate the workloads and stop (for callgrind.sh)\n"
      "  --list           list the workloads\n"
      "\n"
      "Exit status: 0 ok, 1 self-check failed (wrong counts or a parse error),\n"
      "2 usage error, 3 a ratio below --min-ratio.");
}

bool parse_positive(const char* text, unsigned long long max, unsigned long long& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v == 0 || v > max) return false;
  out = v;
  return true;
}

// Returns 0 to run, or the exit status.
int parse_args(int argc, char** argv, config& cfg) {
  auto fail = [](const char* what, const char* arg) {
    std::fprintf(stderr, "ssekit-bench: %s '%s' (see --help)\n", what, arg);
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const char* const option = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    unsigned long long n = 0;
    if (arg == "--help" || arg == "-h") {
      print_help();
      return -1;
    } else if (arg == "--list") {
      for (const auto& info : ssekit::bench::all_workloads()) {
        std::printf("%-6.*s %.*s\n", static_cast<int>(info.name.size()), info.name.data(),
                    static_cast<int>(info.description.size()), info.description.data());
      }
      return -1;
    } else if (arg == "--size" || arg == "--chunk" || arg == "--reps") {
      const char* v = value();
      const unsigned long long max =
          arg == "--reps" ? 1000 : std::numeric_limits<std::size_t>::max();
      if (v == nullptr || !parse_positive(v, max, n)) return fail("bad value for", option);
      if (arg == "--size") cfg.size = static_cast<std::size_t>(n);
      if (arg == "--chunk") cfg.chunk = static_cast<std::size_t>(n);
      if (arg == "--reps") cfg.reps = static_cast<int>(n);
    } else if (arg == "--min-ratio") {
      const char* v = value();
      char* end = nullptr;
      cfg.min_ratio = v != nullptr ? std::strtod(v, &end) : -1;
      if (v == nullptr || end == v || *end != '\0' || cfg.min_ratio <= 0) {
        return fail("bad value for", option);
      }
    } else if (arg == "--parser-only") {
      cfg.parser_only = true;
    } else if (arg == "--no-serializer") {
      cfg.no_serializer = true;
    } else if (arg == "--serializer-only") {
      cfg.serializer_only = true;
    } else if (arg == "--generate-only") {
      cfg.generate_only = true;
    } else if (arg == "--raw-bytes") {
      cfg.raw_bytes = true;
    } else if (arg.starts_with("-")) {
      return fail("unknown option", argv[i]);
    } else if (const auto* info = ssekit::bench::find_workload(arg)) {
      cfg.workloads.push_back(info);
    } else {
      return fail("unknown workload", argv[i]);
    }
  }
  if (cfg.min_ratio > 0 && (cfg.parser_only || cfg.generate_only || cfg.serializer_only)) {
    std::fputs("ssekit-bench: --min-ratio needs the baseline\n", stderr);
    return 2;
  }
  if (cfg.workloads.empty()) {
    for (const auto& info : ssekit::bench::all_workloads()) cfg.workloads.push_back(&info);
  }
  return 0;
}

bool optimized_build() {
  const std::string_view c = SSEKIT_BENCH_CONFIG;
  return !SSEKIT_BENCH_SANITIZE && (c == "Release" || c == "RelWithDebInfo" || c == "MinSizeRel");
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

// Compares what the parser reported with what the generator wrote.
void check_counts(const workload& w, const counting_handler& got,
                  std::vector<std::string>& failures) {
  auto check = [&](const char* what, std::uint64_t actual, std::uint64_t expected) {
    if (actual == expected) return;
    char msg[256];
    std::snprintf(msg, sizeof msg, "%s: parser reported %llu %s, the generator wrote %llu",
                  w.name.c_str(), ull(actual), what, ull(expected));
    failures.emplace_back(msg);
  };
  check("events", got.events, w.events);
  check("data bytes", got.data_bytes, w.data_bytes);
  check("comments", got.comments, w.comments);
  check("retry fields", got.retries, w.retries);
}

// One row of the serializer table; the serializer and the memchr scan of
// its output alternate, the fastest of each counts.
std::string measure_serializer(const workload& w, const config& cfg, const ssekit::parser_options& options,
                               std::vector<std::string>& failures, std::vector<std::string>& slow) {
  const std::vector<owned_event> events = collect_events(w.bytes, options);
  std::string out;
  // Room for the whole output up front, so the timing is the serializer's
  // and not the string's geometric growth.
  out.reserve(w.bytes.size() + 16 * events.size() + 64);
  double best = std::numeric_limits<double>::infinity();
  double best_baseline = std::numeric_limits<double>::infinity();
  bool ok = events.size() == w.events;
  for (int rep = 0; rep < cfg.reps && ok; ++rep) {
    const serializer_run r = run_serializer(events, out);
    best = std::min(best, r.seconds);
    if (!r.ok || (rep == 0 && !serialized_round_trips(out, w))) ok = false;
    if (!cfg.serializer_only) best_baseline = std::min(best_baseline, run_baseline(out).seconds);
  }
  if (!ok) failures.push_back(w.name + ": the serializer's output does not parse back to the workload's events");
  const double mb = static_cast<double>(out.size()) / 1e6;
  const double mbs = mb / best;
  char row[256];
  if (cfg.serializer_only) {
    std::snprintf(row, sizeof row, "%-8s %11zu %9zu %12.1f %12.0f %12s %7s%s\n", w.name.c_str(), out.size(),
                  events.size(), mbs, static_cast<double>(events.size()) / best, "-", "-",
                  ok ? "" : "  SELF-CHECK FAILED");
  } else {
    const double ratio = mbs / (mb / best_baseline);
    std::snprintf(row, sizeof row, "%-8s %11zu %9zu %12.1f %12.0f %12.1f %7.3f%s\n", w.name.c_str(), out.size(),
                  events.size(), mbs, static_cast<double>(events.size()) / best, mb / best_baseline, ratio,
                  ok ? "" : "  SELF-CHECK FAILED");
    if (cfg.min_ratio > 0 && ratio < cfg.min_ratio) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "%s: serializer ratio %.3f is below --min-ratio %.3f", w.name.c_str(), ratio,
                    cfg.min_ratio);
      slow.emplace_back(msg);
    }
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  if (const int status = parse_args(argc, argv, cfg); status != 0) return status < 0 ? 0 : status;

  ssekit::parser_options options;
  options.raw_bytes = cfg.raw_bytes;

  if (!optimized_build()) {
    std::fprintf(stderr,
                 "ssekit-bench: warning: %s%s build; numbers mean little "
                 "(use the release preset)\n",
                 SSEKIT_BENCH_CONFIG, SSEKIT_BENCH_SANITIZE ? " + sanitizers" : "");
  }
  std::printf("# ssekit-bench: %s build, feed() chunks of %zu B, best of %d rep%s, %s\n",
              SSEKIT_BENCH_CONFIG, cfg.chunk, cfg.reps, cfg.reps == 1 ? "" : "s",
              cfg.raw_bytes ? "raw_bytes (no UTF-8 repair)" : "UTF-8 validated");
  if (!cfg.serializer_only) {
    std::printf("# MB = 10^6 bytes; ratio = parser MB/s / memchr MB/s\n");
    std::printf("%-8s %11s %9s %12s %12s %12s %7s\n", "workload", "bytes", "events",
                "parser MB/s", "parser ev/s", "memchr MB/s", "ratio");
    std::fflush(stdout);
  }

  std::vector<std::string> failures;
  std::vector<std::string> slow;
  std::vector<std::string> serializer_rows;
  for (const auto* info : cfg.workloads) {
    const workload w = info->generate(cfg.size);
    const double mb = static_cast<double>(w.bytes.size()) / 1e6;
    if (cfg.generate_only) {
      std::printf("%-8s %11zu %9llu %12s %12s %12s %7s\n", w.name.c_str(), w.bytes.size(),
                  ull(w.events), "-", "-", "-", "-");
      std::fflush(stdout);
      continue;
    }

    if (!cfg.serializer_only) {
      double best_parser = std::numeric_limits<double>::infinity();
      double best_baseline = std::numeric_limits<double>::infinity();
      bool ok = true;
      // Interleaved, so a slow patch of machine time hurts both sides alike.
      for (int rep = 0; rep < cfg.reps && ok; ++rep) {
        if (!cfg.parser_only) {
          const baseline_run b = run_baseline(w.bytes);
          best_baseline = std::min(best_baseline, b.seconds);
          if (b.newlines != w.newlines) {
            failures.push_back(w.name + ": memchr baseline counted " + std::to_string(b.newlines) +
                               " LF, the generator wrote " + std::to_string(w.newlines));
            ok = false;
          }
        }
        const parser_run p = run_parser(w.bytes, cfg.chunk, options);
        best_parser = std::min(best_parser, p.seconds);
        if (p.error) {
          failures.push_back(w.name + ": parse error " +
                             std::string(ssekit::error_name(p.error.code)) + " at byte " +
                             std::to_string(p.error.offset));
          ok = false;
        } else if (rep == 0) {
          const std::size_t before = failures.size();
          check_counts(w, p.counts, failures);
          ok = failures.size() == before;
        }
      }

      const double parser_mbs = mb / best_parser;
      const double events_per_s = static_cast<double>(w.events) / best_parser;
      const char* mark = ok ? "" : "  SELF-CHECK FAILED";
      if (cfg.parser_only) {
        std::printf("%-8s %11zu %9llu %12.1f %12.0f %12s %7s%s\n", w.name.c_str(), w.bytes.size(),
                    ull(w.events), parser_mbs, events_per_s, "-", "-", mark);
      } else {
        const double baseline_mbs = mb / best_baseline;
        const double ratio = parser_mbs / baseline_mbs;
        std::printf("%-8s %11zu %9llu %12.1f %12.0f %12.1f %7.3f%s\n", w.name.c_str(),
                    w.bytes.size(), ull(w.events), parser_mbs, events_per_s, baseline_mbs, ratio,
                    mark);
        if (cfg.min_ratio > 0 && ratio < cfg.min_ratio) {
          char msg[160];
          std::snprintf(msg, sizeof msg, "%s: ratio %.3f is below --min-ratio %.3f",
                        w.name.c_str(), ratio, cfg.min_ratio);
          slow.emplace_back(msg);
        }
      }
      std::fflush(stdout);
    }
    if (!cfg.parser_only && !cfg.no_serializer) serializer_rows.push_back(measure_serializer(w, cfg, options, failures, slow));
  }

  if (!serializer_rows.empty()) {
    std::printf("\n# serializer: serialize_event() of every event the parser read, into one string\n"
                "# ratio = serializer MB/s / memchr MB/s over the written bytes\n");
    std::printf("%-8s %11s %9s %12s %12s %12s %7s\n", "workload", "bytes", "events", "serial MB/s",
                "serial ev/s", "memchr MB/s", "ratio");
    for (const auto& row : serializer_rows) std::fputs(row.c_str(), stdout);
  }

  for (const auto& f : failures) std::fprintf(stderr, "ssekit-bench: SELF-CHECK FAILED: %s\n", f.c_str());
  for (const auto& s : slow) std::fprintf(stderr, "ssekit-bench: TOO SLOW: %s\n", s.c_str());
  if (!failures.empty()) return 1;
  if (!slow.empty()) return 3;
  return 0;
}

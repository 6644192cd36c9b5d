// ssekit-pull-bench: event_stream::async_next against the callback path,
// end to end over loopback against sse-serve (a child process), and the
// memory of a consumer that stops asking.
//
//   ssekit-pull-bench [--workload llm] [--size BYTES] [--reps N] [--max-ratio X]
//                     [--read-buffer BYTES]  (client_options::read_buffer_size; default the library's)
//     throughput: the callback client and a co_spawn'ed async_next loop
//     (use_awaitable) read the same /bench response, alternating, best of N
//     (default 5); prints events/s of each and the async_next/callback time
//     ratio, by wall time and by the client thread's CPU time (on a shared
//     machine the wall time also measures the scheduler); exit 3 when the
//     wall-time ratio is above --max-ratio (0: no gate).
//   ssekit-pull-bench --stall [--size BYTES] [--buffered N]
//     memory: a consumer that takes nothing while the server keeps sending;
//     prints the buffered items, bytes read and RSS, then takes every event
//     and checks the count. Exit 1 when the buffer went over its documented
//     bound or the client read past it: a check by count, so it is a test.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <strings.h>
#include <time.h>
#include <fstream>
#include <string>
#include <string_view>

#include "serve_process.hpp"
#include "ssekit/event_stream.hpp"

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using ull = unsigned long long;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct config {
  std::string serve = SSEKIT_E2E_DEFAULT_SERVE;
  std::string workload = "llm";
  std::uint64_t size = 64u * 1024u * 1024u;
  int reps = 5;
  double max_ratio = 0;
  bool stall = false;
  std::size_t buffered = 64;
  std::size_t read_buffer = ssekit::client_options{}.read_buffer_size;  // the library's default
};

bool parse_u64(std::string_view text, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

std::uint64_t events_header(const ssekit::header_list& headers) {
  for (const auto& [name, value] : headers) {
    if (name.size() == 15 && strncasecmp(name.c_str(), "X-Ssekit-Events", 15) == 0) {
      std::uint64_t n = 0;
      if (parse_u64(value, n)) return n;
    }
  }
  return 0;
}

struct run_result {
  double seconds = 0;
  double cpu_seconds = 0;  // this thread's CPU time (the client runs on it)
  std::uint64_t events = 0;
  std::uint64_t data_bytes = 0;
  std::uint64_t announced = 0;  // X-Ssekit-Events
  std::string failure;
};

ssekit::client_options options_for(const config& cfg, const std::string& url) {
  ssekit::client_options o;
  o.url = url;
  o.reconnect = false;
  o.read_buffer_size = cfg.read_buffer;
  o.connect_timeout = std::chrono::seconds(30);
  return o;
}

void end_with(run_result& r, const ssekit::client_error& e) {
  if (e.reason != ssekit::client_error_reason::end_of_stream) r.failure = std::string(ssekit::client_error_reason_name(e.reason)) + ": " + e.message;
}

run_result run_callback(const config& cfg, const std::string& url) {
  asio::io_context io(1);
  run_result r;
  ssekit::client_handlers h;
  h.on_open = [&](const ssekit::response_info& info) { r.announced = events_header(info.headers); };
  h.on_event = [&](const ssekit::event& ev) {
    ++r.events;
    r.data_bytes += ev.data.size();
  };
  h.on_error = [&](const ssekit::client_error& e) {
    if (!e.will_reconnect) end_with(r, e);
  };
  const auto start = clock_type::now();
  const double cpu_start = thread_cpu_seconds();
  ssekit::client c(io.get_executor(), options_for(cfg, url), h);
  io.run_for(std::chrono::seconds(300));
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (c.state() != ssekit::client_state::closed) r.failure = "timed out";
  return r;
}

// Takes every item with co_await async_next on `io` until the stream ends:
// counts events (and their data bytes) and reads X-Ssekit-Events from the
// open item (stream_options::opens).
void drain(asio::io_context& io, ssekit::event_stream& stream, run_result& r) {
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (;;) {
          auto [ec, item] = co_await stream.async_next(asio::as_tuple(asio::use_awaitable));
          if (ec) break;
          if (item.kind == ssekit::stream_item_kind::open) {
            r.announced = events_header(item.response->headers);
            continue;
          }
          ++r.events;
          r.data_bytes += item.data.size();
        }
        done = true;
      },
      asio::detached);
  // A paused stream holds no work: the stall phase may have let run() end.
  io.restart();
  io.run_for(std::chrono::seconds(300));
  if (!done) r.failure = "timed out";
  else if (const auto e = stream.final_error()) end_with(r, *e);
}

run_result run_pull(const config& cfg, const std::string& url) {
  asio::io_context io(1);
  run_result r;
  ssekit::stream_options so;
  so.opens = true;
  const auto start = clock_type::now();
  const double cpu_start = thread_cpu_seconds();
  ssekit::event_stream stream(io.get_executor(), options_for(cfg, url), so);
  drain(io, stream, r);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.cpu_seconds = thread_cpu_seconds() - cpu_start;
  return r;
}

bool check(const char* what, const run_result& r) {
  if (!r.failure.empty()) {
    std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: %s: %s\n", what, r.failure.c_str());
    return false;
  }
  if (r.events == 0 || r.events != r.announced) {
    std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: %s saw %llu events, the server announced %llu\n", what, ull(r.events),
                 ull(r.announced));
    return false;
  }
  return true;
}

int throughput(const config& cfg) {
  ssekit::bench::serve_process server(cfg.serve, {"--heartbeat-ms", "0"});
  const std::string url = server.base_url() + "/bench?bytes=" + std::to_string(cfg.size) + "&workload=" + cfg.workload;
  std::printf("# ssekit-pull-bench: %s build%s; workload %s, %llu bytes, best of %d; one io_context, one thread\n", SSEKIT_BENCH_CONFIG,
              SSEKIT_BENCH_SANITIZE ? " with sanitizers (numbers meaningless)" : "", cfg.workload.c_str(), ull(cfg.size), cfg.reps);
  double best_cb = 1e300, best_pull = 1e300, best_cb_cpu = 1e300, best_pull_cpu = 1e300;
  run_result cb, pull;
  for (int i = 0; i < cfg.reps; ++i) {
    cb = run_callback(cfg, url);
    pull = run_pull(cfg, url);
    if (!check("callback", cb) || !check("async_next", pull)) return 1;
    if (cb.events != pull.events || cb.data_bytes != pull.data_bytes) {
      std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: callback and async_next saw different streams\n");
      return 1;
    }
    best_cb = std::min(best_cb, cb.seconds);
    best_pull = std::min(best_pull, pull.seconds);
    best_cb_cpu = std::min(best_cb_cpu, cb.cpu_seconds);
    best_pull_cpu = std::min(best_pull_cpu, pull.cpu_seconds);
  }
  const double ev = static_cast<double>(cb.events);
  const double ratio = best_pull / best_cb;
  std::printf("%-34s %12s %10s\n", "path", "events/s", "MB/s");
  std::printf("%-34s %12.0f %10.1f\n", "callback (client_handlers)", ev / best_cb, static_cast<double>(cfg.size) / best_cb / 1e6);
  std::printf("%-34s %12.0f %10.1f\n", "async_next (co_await use_awaitable)", ev / best_pull,
              static_cast<double>(cfg.size) / best_pull / 1e6);
  std::printf("async_next/callback time ratio: %.2fx (%llu events each)\n", ratio, ull(cb.events));
  std::printf("async_next/callback CPU time ratio: %.2fx (client thread: %.3f s / %.3f s)\n", best_pull_cpu / best_cb_cpu,
              best_pull_cpu, best_cb_cpu);
  if (cfg.max_ratio > 0 && ratio > cfg.max_ratio) {
    std::fprintf(stderr, "ssekit-pull-bench: async_next is %.2fx slower than the callback path (gate %.2fx)\n", ratio, cfg.max_ratio);
    return 3;
  }
  return 0;
}

std::uint64_t rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

int stall(const config& cfg) {
  ssekit::bench::serve_process server(cfg.serve, {"--heartbeat-ms", "0"});
  const std::string url = server.base_url() + "/bench?bytes=" + std::to_string(cfg.size) + "&workload=" + cfg.workload;
  asio::io_context io(1);
  ssekit::stream_options so;
  so.max_buffered_items = cfg.buffered;
  so.opens = true;
  ssekit::event_stream stream(io.get_executor(), options_for(cfg, url), so);
  const std::uint64_t rss_before = rss_kib();
  // Stalled: nobody asks. Run until the buffer is full (reading paused)...
  const auto deadline = clock_type::now() + std::chrono::seconds(60);
  while (stream.buffered() < cfg.buffered && clock_type::now() < deadline) io.run_one_for(std::chrono::milliseconds(100));
  // ...then let the server keep sending while the client handles everything
  // the io_context has: the checks below are counts, whatever the time.
  const std::uint64_t read_when_full = stream.get_client().stats().bytes;
  io.run_for(std::chrono::milliseconds(500));
  const std::uint64_t read_after = stream.get_client().stats().bytes;
  const std::size_t buffered = stream.buffered();
  const std::uint64_t rss_stalled = rss_kib();
  // The documented bound: max_buffered_items + the events of one read (the
  // first read may take 64 KiB); bytes: one read past the full buffer.
  const std::uint64_t slack_bytes = std::max<std::uint64_t>(cfg.read_buffer, 64 * 1024);
  std::printf("# ssekit-pull-bench --stall: %s build; workload %s, server sends %llu bytes; max_buffered_items %zu\n",
              SSEKIT_BENCH_CONFIG, cfg.workload.c_str(), ull(cfg.size), cfg.buffered);
  std::printf("stalled: %zu items buffered (high water %zu), client read %llu bytes (%llu when the buffer filled), RSS %llu KiB "
              "(%llu before)\n",
              buffered, stream.max_buffered_seen(), ull(read_after), ull(read_when_full), ull(rss_stalled), ull(rss_before));
  int status = 0;
  if (read_after > read_when_full + slack_bytes || read_after >= cfg.size) {
    std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: the client kept reading for a stalled consumer\n");
    status = 1;
  }
  // Resume: everything arrives.
  run_result r;
  drain(io, stream, r);
  if (!check("resumed stream", r)) status = 1;
  // max_buffered_items + the events of one 64 KiB read (at 7+ bytes each: "data:x\n\n").
  const std::size_t bound = cfg.buffered + slack_bytes / 7 + 1;
  std::printf("resumed: %llu events, all of them; buffer high water %zu (bound %zu)\n", ull(r.events), stream.max_buffered_seen(), bound);
  if (stream.max_buffered_seen() > bound) {
    std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: the buffer went over its bound\n");
    status = 1;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    std::uint64_t n = 0;
    if (a == "--stall") cfg.stall = true;
    else if (a == "--workload" && has_value) cfg.workload = argv[++i];
    else if (a == "--serve" && has_value) cfg.serve = argv[++i];
    else if (a == "--size" && has_value && parse_u64(argv[++i], n) && n > 0 && n <= (1ull << 36)) cfg.size = n;
    else if (a == "--reps" && has_value && parse_u64(argv[++i], n) && n > 0 && n <= 100) cfg.reps = static_cast<int>(n);
    else if (a == "--buffered" && has_value && parse_u64(argv[++i], n) && n > 0 && n <= 1000000) cfg.buffered = n;
    else if (a == "--read-buffer" && has_value && parse_u64(argv[++i], n) && n >= 1024 && n <= (64u << 20)) cfg.read_buffer = n;
    else if (a == "--max-ratio" && has_value) {
      const char* text = argv[++i];
      char* end = nullptr;
      cfg.max_ratio = std::strtod(text, &end);
      if (*end != '\0' || !(cfg.max_ratio >= 0 && cfg.max_ratio <= 1000)) return std::fprintf(stderr, "bad --max-ratio\n"), 2;
    } else {
      std::fprintf(stderr,
                   "usage: ssekit-pull-bench [--workload W] [--size BYTES] [--reps N] [--max-ratio X] [--serve PATH]\n"
                   "                         [--read-buffer BYTES]\n"
                   "       ssekit-pull-bench --stall [--size BYTES] [--buffered N] [--read-buffer BYTES]\n");
      return 2;
    }
  }
  ssekit::bench::serve_process::stop_on_signal();
  try {
    return cfg.stall ? stall(cfg) : throughput(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ssekit-pull-bench: %s\n", e.what());
    return 2;
  }
}

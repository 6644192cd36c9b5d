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
//   ssekit-pull-bench --only callback|item|owned|batch|item-callback
//     that path alone, --reps times, each run's time: for perf or callgrind.
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
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <new>
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

// Allocations are counted (operator new replaced), so each path's
// allocations per event are a count, the same on every run. Not under
// sanitizers, which bring their own operator new.
#if !SSEKIT_BENCH_SANITIZE
namespace {
std::atomic<std::uint64_t> g_allocations{0};
// Out of line: inlined into a new-expression, GCC 12 takes the free() of
// a replaced operator delete for a mismatch (-Wmismatched-new-delete).
[[gnu::noinline]] void* counted_alloc(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void counted_free(void* p) noexcept { std::free(p); }
}  // namespace
void* operator new(std::size_t size) { return counted_alloc(size); }
void* operator new[](std::size_t size) { return counted_alloc(size); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
static std::uint64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }
#else
static std::uint64_t allocations() { return 0; }
#endif

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
  std::string only;  // --only: one path alone, for a profiler
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
  std::uint64_t allocations = 0;  // operator new calls during the run
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
  const std::uint64_t allocations_before = allocations();
  const auto start = clock_type::now();
  const double cpu_start = thread_cpu_seconds();
  ssekit::client c(io.get_executor(), options_for(cfg, url), h);
  io.run_for(std::chrono::seconds(300));
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.cpu_seconds = thread_cpu_seconds() - cpu_start;
  r.allocations = allocations() - allocations_before;
  if (c.state() != ssekit::client_state::closed) r.failure = "timed out";
  return r;
}

// How items are taken: a coroutine with async_next(token), an owned item
// per call, or with async_next(item, token), one item filled again and
// again, or with async_next_batch(token), every waiting item at once, in
// place; or plain callbacks with async_next(item, callback).
enum class pull { owned, into, batch, into_callback };

// async_next(item, callback) in a chain: each completion asks for the next.
struct callback_chain {
  ssekit::event_stream& stream;
  ssekit::stream_item item;
  std::function<void(const ssekit::stream_item&)> count;
  bool& done;
  struct next {
    callback_chain* chain;
    void operator()(boost::system::error_code ec) const {
      if (ec) {
        chain->done = true;
        return;
      }
      chain->count(chain->item);
      chain->stream.async_next(chain->item, next{chain});
    }
  };
  void start() { stream.async_next(item, next{this}); }
};

// Takes every item with co_await async_next on `io` until the stream ends:
// counts events (and their data bytes) and reads X-Ssekit-Events from the
// open item (stream_options::opens).
void drain(asio::io_context& io, ssekit::event_stream& stream, run_result& r, pull how) {
  bool done = false;
  const auto count = [&r](const ssekit::stream_item& item) {
    if (item.kind == ssekit::stream_item_kind::open) {
      r.announced = events_header(item.response->headers);
    } else {
      ++r.events;
      r.data_bytes += item.data.size();
    }
  };
  callback_chain chain{stream, {}, count, done};
  if (how == pull::into_callback) chain.start();
  else asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        if (how == pull::batch) {
          for (;;) {
            auto [ec, batch] = co_await stream.async_next_batch(asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            for (const ssekit::stream_item_view item : batch) {
              if (item.kind == ssekit::stream_item_kind::open) {
                r.announced = events_header(item.response->headers);
              } else {
                ++r.events;
                r.data_bytes += item.data.size();
              }
            }
          }
        } else if (how == pull::into) {
          ssekit::stream_item item;
          for (;;) {
            auto [ec] = co_await stream.async_next(item, asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            count(item);
          }
        } else {
          for (;;) {
            auto [ec, item] = co_await stream.async_next(asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            count(item);
          }
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

run_result run_pull(const config& cfg, const std::string& url, pull how) {
  asio::io_context io(1);
  run_result r;
  ssekit::stream_options so;
  so.opens = true;
  const auto start = clock_type::now();
  const double cpu_start = thread_cpu_seconds();
  const std::uint64_t allocations_before = allocations();
  ssekit::event_stream stream(io.get_executor(), options_for(cfg, url), so);
  drain(io, stream, r, how);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  r.cpu_seconds = thread_cpu_seconds() - cpu_start;
  r.allocations = allocations() - allocations_before;
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

// What Asio's coroutines cost alone: co_await of an awaitable that
// completes at once, `n` times in a row (what async_next does per item when
// items wait, minus taking the item). Seconds.
double co_await_floor(std::uint64_t n) {
  asio::io_context io(1);
  std::uint64_t sum = 0;
  double seconds = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ready = [](std::uint64_t i) -> asio::awaitable<std::uint64_t> { co_return i; };
        const auto start = clock_type::now();
        for (std::uint64_t i = 0; i < n; ++i) sum += co_await ready(i);
        seconds = std::chrono::duration<double>(clock_type::now() - start).count();
      },
      asio::detached);
  io.run();
  if (sum != n * (n - 1) / 2) std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: co_await floor summed %llu\n", ull(sum));
  return seconds;
}

// --only NAME: that path alone, --reps times, for perf or callgrind (no
// ratio: the callback path does not run).
int only(const config& cfg, const std::string& url) {
  struct named {
    const char* name;
    bool callback;  // the callback path, not a pull
    pull how;
  };
  const named paths[] = {{"callback", true, pull::into},     {"item", false, pull::into},  {"owned", false, pull::owned},
                         {"batch", false, pull::batch},      {"item-callback", false, pull::into_callback}};
  for (const auto& [name, callback, how] : paths) {
    if (cfg.only != name) continue;
    for (int i = 0; i < cfg.reps; ++i) {
      const run_result r = callback ? run_callback(cfg, url) : run_pull(cfg, url, how);
      if (!check(name, r)) return 1;
      std::printf("%s: %llu events in %.3f s (CPU %.3f s), %.2f allocations per event\n", name, ull(r.events), r.seconds, r.cpu_seconds,
                  static_cast<double>(r.allocations) / static_cast<double>(r.events));
    }
    return 0;
  }
  std::fprintf(stderr, "ssekit-pull-bench: --only takes callback, item, owned, batch or item-callback\n");
  return 2;
}

int throughput(const config& cfg) {
  ssekit::bench::serve_process server(cfg.serve, {"--heartbeat-ms", "0"});
  const std::string url = server.base_url() + "/bench?bytes=" + std::to_string(cfg.size) + "&workload=" + cfg.workload;
  if (!cfg.only.empty()) return only(cfg, url);
  std::printf("# ssekit-pull-bench: %s build%s; workload %s, %llu bytes, best of %d; one io_context, one thread\n", SSEKIT_BENCH_CONFIG,
              SSEKIT_BENCH_SANITIZE ? " with sanitizers (numbers meaningless)" : "", cfg.workload.c_str(), ull(cfg.size), cfg.reps);
  struct path {
    const char* name;
    run_result last;
    double best = 1e300, best_cpu = 1e300;
  };
  path cb{"callback (client_handlers)", {}}, into{"async_next(item, use_awaitable)", {}}, owned{"async_next(use_awaitable)", {}},
      into_cb{"async_next(item, callback)", {}}, batched{"async_next_batch(use_awaitable)", {}};
  const auto keep = [](path& p, run_result r) {
    p.best = std::min(p.best, r.seconds);
    p.best_cpu = std::min(p.best_cpu, r.cpu_seconds);
    p.last = std::move(r);
  };
  for (int i = 0; i < cfg.reps; ++i) {
    keep(cb, run_callback(cfg, url));
    keep(into, run_pull(cfg, url, pull::into));
    keep(owned, run_pull(cfg, url, pull::owned));
    keep(into_cb, run_pull(cfg, url, pull::into_callback));
    keep(batched, run_pull(cfg, url, pull::batch));
    if (!check("callback", cb.last) || !check("async_next(item)", into.last) || !check("async_next", owned.last) ||
        !check("async_next(item, callback)", into_cb.last) || !check("async_next_batch", batched.last)) {
      return 1;
    }
    for (const path* p : {&into, &owned, &into_cb, &batched}) {
      if (p->last.events != cb.last.events || p->last.data_bytes != cb.last.data_bytes) {
        std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: callback and %s saw different streams\n", p->name);
        return 1;
      }
    }
  }
  const std::uint64_t events = cb.last.events;
  const double ev = static_cast<double>(events);
  std::printf("%-34s %12s %10s %12s %12s %12s\n", "path", "events/s", "MB/s", "time ratio", "CPU ratio", "allocs/event");
  for (const path* p : {&cb, &into, &owned, &batched, &into_cb}) {
    std::printf("%-34s %12.0f %10.1f %11.2fx %11.2fx %12.2f\n", p->name, ev / p->best, static_cast<double>(cfg.size) / p->best / 1e6,
                p->best / cb.best, p->best_cpu / cb.best_cpu, static_cast<double>(p->last.allocations) / ev);
  }
  const double ratio = into.best / cb.best;
  std::printf("async_next(item)/callback time ratio: %.2fx (%llu events each; CPU %.3f s / %.3f s)\n", ratio, ull(events),
              into.best_cpu, cb.best_cpu);
  std::printf("async_next/callback time ratio: %.2fx (owned items; CPU %.3f s)\n", owned.best / cb.best, owned.best_cpu);
  std::printf("async_next_batch/callback time ratio: %.2fx (items in place; CPU %.3f s)\n", batched.best / cb.best, batched.best_cpu);
  double floor = 1e300;
  for (int i = 0; i < cfg.reps; ++i) floor = std::min(floor, co_await_floor(events));
  std::printf("co_await of a ready awaitable alone: %.1f ns per event, %.2fx the callback path's whole time per event\n",
              floor / ev * 1e9, floor / cb.best);
  // The documented promise of async_next(item, ...): no allocation for the
  // item. Both coroutine loops allocate the same per read (the hand-over
  // when the loop waits), the owned one also at least one string per llm
  // event (data of ~200 bytes), so the one-item loop must save at least
  // half an allocation per event, however the reads fell.
  if (!SSEKIT_BENCH_SANITIZE && cfg.workload == "llm" && into.last.allocations + events / 2 >= owned.last.allocations) {
    std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: async_next(item) allocated %llu times, async_next %llu, for %llu events\n",
                 ull(into.last.allocations), ull(owned.last.allocations), ull(events));
    return 1;
  }
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
  while (stream.buffered() < cfg.buffered && stream.buffered_bytes() < so.max_buffered_bytes && clock_type::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(100));
  }
  // ...then let the server keep sending while the client handles everything
  // the io_context has: the checks below are counts, whatever the time.
  const std::uint64_t read_when_full = stream.get_client().stats().bytes;
  io.run_for(std::chrono::milliseconds(500));
  const std::uint64_t read_after = stream.get_client().stats().bytes;
  const std::size_t buffered = stream.buffered();
  const std::size_t buffered_bytes = stream.buffered_bytes();
  const std::uint64_t rss_stalled = rss_kib();
  // The documented bound: max_buffered_items + the events of one read (the
  // first read may take 64 KiB); bytes: one read past the full buffer.
  const std::uint64_t slack_bytes = std::max<std::uint64_t>(cfg.read_buffer, 64 * 1024);
  std::printf("# ssekit-pull-bench --stall: %s build; workload %s, server sends %llu bytes; max_buffered_items %zu, "
              "max_buffered_bytes %zu\n",
              SSEKIT_BENCH_CONFIG, cfg.workload.c_str(), ull(cfg.size), cfg.buffered, so.max_buffered_bytes);
  std::printf("stalled: %zu items, %zu bytes buffered (high water %zu, %zu), client read %llu bytes (%llu when the buffer filled), "
              "RSS %llu KiB (%llu before)\n",
              buffered, buffered_bytes, stream.max_buffered_seen(), stream.max_buffered_bytes_seen(), ull(read_after),
              ull(read_when_full), ull(rss_stalled), ull(rss_before));
  int status = 0;
  if (read_after > read_when_full + slack_bytes || read_after >= cfg.size) {
    std::fprintf(stderr, "ssekit-pull-bench: CHECK FAILED: the client kept reading for a stalled consumer\n");
    status = 1;
  }
  // Resume: everything arrives.
  run_result r;
  drain(io, stream, r, pull::into);
  if (!check("resumed stream", r)) status = 1;
  // The documented bound for a consumer that waits: the larger of
  // max_buffered_items and the events of one 64 KiB read (at 7+ bytes
  // each: "data:x\n\n"), plus one read's.
  const std::size_t per_read = slack_bytes / 7 + 1;
  const std::size_t bound = std::max<std::size_t>(cfg.buffered, per_read) + per_read;
  // In bytes: max_buffered_bytes plus the events one read completes (a
  // read's bytes, and an event begun before it: the workloads' events are
  // at most 64 KiB).
  const std::size_t bytes_bound = so.max_buffered_bytes + slack_bytes + 64 * 1024;
  std::printf("resumed: %llu events, all of them; buffer high water %zu (bound %zu), %zu bytes (bound %zu)\n", ull(r.events),
              stream.max_buffered_seen(), bound, stream.max_buffered_bytes_seen(), bytes_bound);
  if (stream.max_buffered_seen() > bound || stream.max_buffered_bytes_seen() > bytes_bound) {
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
    else if (a == "--only" && has_value) cfg.only = argv[++i];
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
                   "                         [--read-buffer BYTES] [--only callback|item|owned|batch|item-callback]\n"
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

// ssekit-e2e-bench: ssekit::client end to end over loopback, against
// `sse-serve` running as a child process.
//
// Throughput (default): for each workload, one connection and then N (1,000)
// concurrent connections, all on one io_context in this thread, each
// fetching /bench?bytes=B&workload=W with reconnect off. Every connection
// must see exactly X-Ssekit-Events events and the sum of data sizes the
// generator wrote, or the run fails. Next to each, in the same run and from
// the same server, a raw-socket reader (Asio, no HTTP or SSE parsing) reads
// the same bodies: the ratio is what compares across runs and machines.
//
// Idle (--idle N): N clients on /events with heartbeats off, all open at
// once; reports this process's memory per connection and checks that the
// server counts N live streams.
//
//   ssekit-e2e-bench [options] [WORKLOAD...]     see --help
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "serve_process.hpp"
#include "support/http_head.hpp"
#include "support/test_pki.hpp"
#include "tool_args.hpp"
#include "ssekit/client.hpp"
#include "workloads.hpp"

#ifndef SSEKIT_BENCH_CONFIG
#define SSEKIT_BENCH_CONFIG "unknown"
#endif
#ifndef SSEKIT_BENCH_SANITIZE
#define SSEKIT_BENCH_SANITIZE 0
#endif
#ifndef SSEKIT_E2E_DEFAULT_SERVE
#define SSEKIT_E2E_DEFAULT_SERVE "sse-serve"
#endif

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using ssekit::bench::workload_info;

// What sse-serve's /bench repeats for requests of at least this size (its
// bench_block_size); a smaller request is made for its size.
constexpr std::uint64_t server_block_size = 1024 * 1024;

constexpr int exit_ok = 0;
constexpr int exit_check_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_too_slow = 3;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::uint64_t to_u64(std::string_view text, std::uint64_t fallback = 0) {
  return ssekit::tools::parse_uint(text, 0, std::numeric_limits<std::uint64_t>::max()).value.value_or(fallback);
}

// ---------------------------------------------------------------------------
// Options.

struct config {
  std::vector<const workload_info*> workloads;
  std::string serve = SSEKIT_E2E_DEFAULT_SERVE;
  std::uint64_t size = 256u * 1024 * 1024;     // one connection
  std::size_t conns = 1000;                    // the many-connection run
  std::uint64_t conn_bytes = server_block_size;  // per connection there
  int reps = 1;
  std::size_t read_buffer = ssekit::client_options{}.read_buffer_size;  // the library's default
  bool baseline = true;
  bool gzip = false;                           // also each run with encoding=gzip, interleaved
  std::map<std::string, double, std::less<>> min_mbps;  // workload (or "all") -> floor
  std::chrono::seconds timeout{0};             // 0: the mode's default
  // Idle mode.
  std::size_t idle = 0;                        // 0: throughput mode
  std::size_t ramp = 500;
  double max_kib_per_conn = -1;
  // https (--tls): sse-serve gets a certificate from a throwaway CA; the
  // clients trust that CA by ca_file ("file") or through the system store
  // with the CA added to a copy of it ("system", via SSL_CERT_FILE).
  bool tls = false;
  std::string tls_trust = "file";
  std::string client_ca_file;  // set up by tls_setup
};

// The throwaway PKI's files in a temporary directory (removed at the end).
class tls_setup {
 public:
  explicit tls_setup(config& cfg) {
    if (!cfg.tls) return;
    char dir_template[] = "/tmp/ssekit-e2e-tls-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir_template;
    const auto pki = ssekit::testing::make_test_pki("localhost");
    write(dir_ + "/cert.pem", pki.server_cert);
    write(dir_ + "/key.pem", pki.server_key);
    write(dir_ + "/ca.pem", pki.ca_cert);
    if (cfg.tls_trust == "system") {
      // What a client with no ca_file loads: the whole system bundle (plus
      // our CA), through OpenSSL's SSL_CERT_FILE override of the default.
      const char* system_bundle = "/etc/ssl/certs/ca-certificates.crt";
      std::ifstream in(system_bundle);
      if (!in) throw std::runtime_error(std::string("--tls-trust system: can't read ") + system_bundle);
      std::ostringstream bundle;
      bundle << in.rdbuf() << pki.ca_cert;
      write(dir_ + "/bundle.pem", bundle.str());
      ::setenv("SSL_CERT_FILE", (dir_ + "/bundle.pem").c_str(), 1);
    } else {
      cfg.client_ca_file = dir_ + "/ca.pem";
    }
  }
  ~tls_setup() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  tls_setup(const tls_setup&) = delete;
  tls_setup& operator=(const tls_setup&) = delete;

  // sse-serve's arguments for https (none for http).
  std::vector<std::string> serve_args() const {
    if (dir_.empty()) return {};
    return {"--tls-cert", dir_ + "/cert.pem", "--tls-key", dir_ + "/key.pem"};
  }

 private:
  static void write(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("can't write " + path);
  }
  std::string dir_;
};

void print_help() {
  std::puts(
      "usage: ssekit-e2e-bench [options] [WORKLOAD...]\n"
      "ssekit::client end to end over loopback against sse-serve (started as a child\n"
      "process), next to a raw-socket reader of the same bytes in the same run.\n"
      "\n"
      "  --serve PATH          the sse-serve to start (default: this build tree's)\n"
      "  --size BYTES          body bytes of the one-connection run (default 268435456)\n"
      "  --conns N             connections of the concurrent run (default 1000; 0 skips it)\n"
      "  --conn-bytes BYTES    body bytes per connection there (default 1048576: the\n"
      "                        server's cached block, so it generates nothing per request)\n"
      "  --reps N              repetitions, client and baseline interleaved; best counts (default 1)\n"
      "  --read-buffer BYTES   client_options::read_buffer_size, also the raw reader's\n"
      "                        buffer (default: the library's, 65536)\n"
      "  --no-baseline         skip the raw-socket reader\n"
      "  --gzip                also each run with Content-Encoding gzip (the same events),\n"
      "                        interleaved; its row's ratio is gzip MB/s / identity MB/s\n"
      "  --min-mbps W=X        exit 3 if the client's MB/s on workload W (or 'all') is\n"
      "                        below X, in either run; repeatable\n"
      "  --timeout S           bound on each run (default 120) or on opening the idle\n"
      "                        connections (default 60); exceeding it fails\n"
      "  --idle [N]            instead: N idle clients on /events (default 10000); memory\n"
      "                        per connection, and the server's count of streams\n"
      "  --ramp N              --idle: at most N connections being opened at once (default 500)\n"
      "  --max-kib-per-conn X  --idle: exit 3 if the memory per connection is above X KiB\n"
      "  --tls                 https: sse-serve with a certificate from a throwaway CA;\n"
      "                        throughput runs then compare to plain http clients (another\n"
      "                        sse-serve) instead of raw sockets\n"
      "  --tls-trust file|system  --tls: trust the CA by ca_file (default), or by the\n"
      "                        system CA store with the CA added (SSL_CERT_FILE)\n"
      "  --list                list the workloads\n"
      "\n"
      "Workloads: llm feed big crlf (default all). MB = 10^6 body bytes.\n"
      "Exit status: 0 ok; 1 a check failed (event or byte counts, a connection error,\n"
      "a timeout, the server's stream count); 2 usage or setup; 3 below a floor.");
}

// Returns 0 to run, -1 to exit successfully (help), or the exit status.
int parse_args(int argc, char** argv, config& cfg) {
  constexpr auto max_size = std::numeric_limits<std::uint64_t>::max();
  // MB/s floors and KiB bounds: decimals as integer thousandths.
  const auto thousandths = [](std::uint64_t units) { return static_cast<double>(units) / 1000.0; };
  try {
    ssekit::tools::arg_reader args(argc, argv);
    while (args.next()) {
      if (args.is("--help", "-h")) {
        print_help();
        return -1;
      } else if (args.is("--list")) {
        for (const auto& info : ssekit::bench::all_workloads()) {
          std::printf("%-6.*s %.*s\n", static_cast<int>(info.name.size()), info.name.data(),
                      static_cast<int>(info.description.size()), info.description.data());
        }
        return -1;
      } else if (args.is("--serve")) {
        cfg.serve = args.value();
      } else if (args.is("--size")) {
        cfg.size = args.uint_value(1, max_size);
      } else if (args.is("--conn-bytes")) {
        cfg.conn_bytes = args.uint_value(1, max_size);
      } else if (args.is("--conns")) {
        cfg.conns = args.number<std::size_t>(0, 100000);
      } else if (args.is("--gzip")) {
        cfg.gzip = true;
      } else if (args.is("--reps")) {
        cfg.reps = static_cast<int>(args.uint_value(1, 1000));
      } else if (args.is("--read-buffer")) {
        cfg.read_buffer = args.number<std::size_t>(1024, 64u * 1024 * 1024);
      } else if (args.is("--timeout")) {
        cfg.timeout = std::chrono::seconds(args.uint_value(1, 86400));
      } else if (args.is("--no-baseline")) {
        cfg.baseline = false;
      } else if (args.is("--min-mbps")) {
        const std::string_view spec = args.value();
        const auto eq = spec.find('=');
        if (eq == std::string_view::npos) args.fail("want W=MBPS");
        const std::string name(spec.substr(0, eq));
        const auto floor = ssekit::tools::parse_fixed(spec.substr(eq + 1), 3, 1, 1'000'000'000'000);
        if (!floor) args.fail("MB/s " + floor.error);
        if (name != "all" && ssekit::bench::find_workload(name) == nullptr) args.fail("unknown workload '" + name + "'");
        cfg.min_mbps[name] = thousandths(*floor.value);
      } else if (args.is("--idle")) {
        cfg.idle = args.next_is_number() ? args.number<std::size_t>(1, 1000000) : 10000;
      } else if (args.is("--ramp")) {
        cfg.ramp = args.number<std::size_t>(1, 1000000);
      } else if (args.is("--tls")) {
        cfg.tls = true;
      } else if (args.is("--tls-trust")) {
        cfg.tls_trust = args.value();
        if (cfg.tls_trust != "file" && cfg.tls_trust != "system") args.fail("want file or system");
      } else if (args.is("--max-kib-per-conn")) {
        cfg.max_kib_per_conn = thousandths(args.fixed_value(3, 1, 1'000'000'000'000));
      } else if (args.arg().starts_with("-")) {
        args.unknown();
      } else if (const auto* info = ssekit::bench::find_workload(args.arg())) {
        cfg.workloads.push_back(info);
      } else {
        throw ssekit::tools::usage_error("unknown workload '" + std::string(args.arg()) + "'");
      }
    }
  } catch (const ssekit::tools::usage_error& e) {
    std::fprintf(stderr, "ssekit-e2e-bench: %s (see --help)\n", e.what());
    return exit_usage;
  }
  if (cfg.workloads.empty()) {
    for (const auto& info : ssekit::bench::all_workloads()) cfg.workloads.push_back(&info);
  }
  if (cfg.timeout.count() == 0) cfg.timeout = std::chrono::seconds(cfg.idle != 0 ? 60 : 120);
  return 0;
}

bool optimized_build() {
  const std::string_view c = SSEKIT_BENCH_CONFIG;
  return !SSEKIT_BENCH_SANITIZE && (c == "Release" || c == "RelWithDebInfo" || c == "MinSizeRel");
}

// At least this many descriptors; the soft limit goes up to the hard one.
bool raise_open_file_limit(std::size_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) std::perror("ssekit-e2e-bench: setrlimit(RLIMIT_NOFILE)");
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    std::fprintf(stderr, "ssekit-e2e-bench: need %zu open files, the limit is %llu (ulimit -Hn)\n", wanted,
                 static_cast<unsigned long long>(limit.rlim_cur));
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// What a /bench response must hold, from the same generator the server uses.

struct expected_stream {
  std::uint64_t bytes = 0;
  std::uint64_t events = 0;
  std::uint64_t data_bytes = 0;
};

// Mirrors sse-serve's handle_bench(): requests of at least a block repeat
// the cached 1 MiB block, smaller ones are generated at their size.
expected_stream expect(const workload_info& info, std::uint64_t size) {
  if (size == 0) return {};
  const auto w = info.generate(static_cast<std::size_t>(std::min(size, server_block_size)));
  const std::uint64_t repeats = size < server_block_size ? 1 : (size + w.bytes.size() - 1) / w.bytes.size();
  return {w.bytes.size() * repeats, w.events * repeats, w.data_bytes * repeats};
}

// Collects failures, printing only the first few of each run.
class failure_log {
 public:
  void add(std::string text) {
    if (shown_ < 5) std::fprintf(stderr, "ssekit-e2e-bench: CHECK FAILED: %s\n", text.c_str());
    ++shown_;
    ++total_;
  }
  void end_run(const std::string& run) {
    if (shown_ > 5) std::fprintf(stderr, "ssekit-e2e-bench: ... %zu failures in all in %s\n", shown_, run.c_str());
    shown_ = 0;
  }
  std::size_t total() const noexcept { return total_; }

 private:
  std::size_t shown_ = 0;
  std::size_t total_ = 0;
};

// ---------------------------------------------------------------------------
// The client: N connections on one io_context, run to completion.

struct client_counts {
  bool opened = false;
  std::uint64_t header_bytes = 0;   // X-Ssekit-Bytes
  std::uint64_t header_events = 0;  // X-Ssekit-Events
  std::uint64_t events = 0;
  std::uint64_t data_bytes = 0;
  std::uint64_t checksum = 0;
  bool finished = false;
  std::string failure;
};

// Results land here so the handler's work can't be optimized away.
volatile std::uint64_t g_sink = 0;

// Seconds from creating the clients until the last one closed; negative
// when the run failed (details logged).
// Runs `io` until it runs out of work or `timeout` passes (true then).
// Whoever finishes the work cancels `watchdog`, so that run() returns.
bool run_with_watchdog(asio::io_context& io, asio::steady_timer& watchdog, std::chrono::seconds timeout) {
  bool timed_out = false;
  watchdog.expires_after(timeout);
  watchdog.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    io.stop();
  });
  io.run();
  return timed_out;
}

double run_clients(const config& cfg, const std::string& url, std::size_t conns, const expected_stream& want,
                   const std::string& run, failure_log& log) {
  asio::io_context io(1);
  std::vector<client_counts> counts(conns);
  std::size_t remaining = conns;
  clock_type::time_point end{};
  asio::steady_timer watchdog(io);
  std::vector<std::unique_ptr<ssekit::client>> clients;
  clients.reserve(conns);

  const auto start = clock_type::now();
  for (std::size_t i = 0; i < conns; ++i) {
    ssekit::client_options o;
    o.url = url;
    o.reconnect = false;
    o.read_buffer_size = cfg.read_buffer;
    o.connect_timeout = cfg.timeout;
    o.ca_file = cfg.client_ca_file;
    ssekit::client_handlers h;
    client_counts* c = &counts[i];
    h.on_open = [c](const ssekit::response_info& info) {
      c->opened = true;
      for (const auto& [name, value] : info.headers) {
        if (iequals(name, "X-Ssekit-Bytes")) c->header_bytes = to_u64(value);
        if (iequals(name, "X-Ssekit-Events")) c->header_events = to_u64(value);
      }
    };
    h.on_event = [c](const ssekit::event& ev) {
      ++c->events;
      c->data_bytes += ev.data.size();
      // Touch the views, as ssekit-bench's handler does.
      if (!ev.data.empty()) c->checksum += static_cast<unsigned char>(ev.data.front());
      c->checksum += ev.type.size() + ev.last_event_id.size();
    };
    h.on_error = [c, &remaining, &end, &watchdog](const ssekit::client_error& e) {
      if (e.will_reconnect) return;
      // The end of the body is the expected way to finish.
      if (e.reason != ssekit::client_error_reason::end_of_stream) {
        c->failure = std::string(ssekit::client_error_reason_name(e.reason)) + ": " + e.message;
      }
      c->finished = true;
      if (--remaining == 0) {
        end = clock_type::now();
        watchdog.cancel();
      }
    };
    clients.push_back(std::make_unique<ssekit::client>(io.get_executor(), std::move(o), std::move(h)));
  }
  const bool timed_out = run_with_watchdog(io, watchdog, cfg.timeout);

  const std::size_t failures_before = log.total();
  if (timed_out) {
    log.add(run + ": timed out after " + std::to_string(cfg.timeout.count()) + " s with " + std::to_string(remaining) +
            " of " + std::to_string(conns) + " connections unfinished");
  }
  std::uint64_t checksum = 0;
  for (std::size_t i = 0; i < conns; ++i) {
    const client_counts& c = counts[i];
    checksum += c.checksum;
    const std::string who = run + ", connection " + std::to_string(i) + ": ";
    if (!c.finished) continue;  // counted in the timeout
    if (!c.failure.empty()) {
      log.add(who + c.failure);
      continue;
    }
    if (!c.opened) {
      log.add(who + "ended without opening");
      continue;
    }
    if (c.header_bytes != want.bytes || c.header_events != want.events) {
      log.add(who + "the server announced " + std::to_string(c.header_bytes) + " bytes and " +
              std::to_string(c.header_events) + " events, this generator makes " + std::to_string(want.bytes) + " and " +
              std::to_string(want.events) + " (a different sse-serve?)");
    }
    if (c.events != c.header_events) {
      log.add(who + "saw " + std::to_string(c.events) + " events, X-Ssekit-Events says " + std::to_string(c.header_events));
    }
    if (c.data_bytes != want.data_bytes) {
      log.add(who + "event data summed to " + std::to_string(c.data_bytes) + " bytes, the generator wrote " +
              std::to_string(want.data_bytes));
    }
  }
  g_sink = g_sink + checksum;
  log.end_run(run);
  if (log.total() != failures_before) return -1;
  return std::chrono::duration<double>(end - start).count();
}

// ---------------------------------------------------------------------------
// Baseline: the same request from a raw Asio socket, the body read into a
// buffer of the client's size and only counted: no HTTP or SSE parsing
// beyond finding the end of the header. framing=close, so EOF ends it.

class raw_run {
 public:
  raw_run(asio::io_context& io, tcp::endpoint server, std::string request, std::size_t conns, std::size_t buffer)
      : io_(io), server_(server), request_(std::move(request)), buffer_size_(buffer), remaining_(conns) {
    conns_.reserve(conns);
    for (std::size_t i = 0; i < conns; ++i) conns_.push_back(std::make_unique<conn>(io_, buffer));
  }

  void start() {
    for (auto& c : conns_) {
      conn* p = c.get();
      p->socket.async_connect(server_, [this, p](boost::system::error_code ec) {
        if (ec) return finish(*p, "connect: " + ec.message());
        asio::async_write(p->socket, asio::buffer(request_), [this, p](boost::system::error_code e, std::size_t) {
          if (e) return finish(*p, "write: " + e.message());
          read(*p);
        });
      });
    }
  }

  struct conn {
    conn(asio::io_context& io, std::size_t size) : socket(io), buffer(new char[size]) {}
    tcp::socket socket;
    std::unique_ptr<char[]> buffer;
    std::string head;
    bool in_body = false;
    std::uint64_t body = 0;
    bool finished = false;
    std::string failure;
  };

  std::size_t remaining() const noexcept { return remaining_; }
  clock_type::time_point end() const noexcept { return end_; }
  const std::vector<std::unique_ptr<conn>>& conns() const noexcept { return conns_; }

 private:
  void read(conn& c) {
    c.socket.async_read_some(asio::buffer(c.buffer.get(), buffer_size_),
                             [this, &c](boost::system::error_code ec, std::size_t n) { on_read(c, ec, n); });
  }

  void on_read(conn& c, boost::system::error_code ec, std::size_t n) {
    if (c.in_body) {
      c.body += n;
    } else if (n != 0) {
      c.head.append(c.buffer.get(), n);
      if (const auto at = ssekit::testing::head_end(c.head); at != std::string::npos) {
        c.in_body = true;
        c.body = c.head.size() - at;
        c.head.resize(at);
      }
    }
    if (ec == asio::error::eof) return finish(c, {});
    if (ec) return finish(c, "read: " + ec.message());
    read(c);
  }

  void finish(conn& c, std::string failure) {
    c.finished = true;
    c.failure = std::move(failure);
    boost::system::error_code ignored;
    c.socket.close(ignored);
    if (--remaining_ == 0) {
      end_ = clock_type::now();
      io_.stop();
    }
  }

  asio::io_context& io_;
  tcp::endpoint server_;
  std::string request_;
  std::size_t buffer_size_;
  std::size_t remaining_;
  clock_type::time_point end_{};
  std::vector<std::unique_ptr<conn>> conns_;
};

double run_raw(const config& cfg, const ssekit::bench::serve_process& server, const std::string& target,
               std::size_t conns, const expected_stream& want, const std::string& run, failure_log& log) {
  asio::io_context io(1);
  const tcp::endpoint endpoint(asio::ip::make_address(server.host()), server.port());
  std::string request = ssekit::testing::request_bytes("GET", target + "&framing=close",
                                                       server.host() + ":" + std::to_string(server.port()),
                                                       "Connection: close\r\n");
  raw_run r(io, endpoint, std::move(request), conns, cfg.read_buffer);
  asio::steady_timer watchdog(io);
  const auto start = clock_type::now();
  r.start();
  const bool timed_out = run_with_watchdog(io, watchdog, cfg.timeout);

  const std::size_t failures_before = log.total();
  if (timed_out || r.remaining() != 0) {
    log.add(run + ": timed out after " + std::to_string(cfg.timeout.count()) + " s with " + std::to_string(r.remaining()) +
            " of " + std::to_string(conns) + " connections unfinished");
  }
  for (std::size_t i = 0; i < conns; ++i) {
    const auto& c = *r.conns()[i];
    const std::string who = run + ", connection " + std::to_string(i) + ": ";
    if (!c.finished) continue;
    if (!c.failure.empty()) log.add(who + c.failure);
    else if (const auto head = ssekit::testing::parse_head(c.head); !head || head->status != 200)
      log.add(who + "no 200 response: " + c.head.substr(0, 80));
    else if (c.body != want.bytes) log.add(who + "read " + std::to_string(c.body) + " body bytes, want " + std::to_string(want.bytes));
  }
  log.end_run(run);
  if (log.total() != failures_before) return -1;
  return std::chrono::duration<double>(r.end() - start).count();
}

// ---------------------------------------------------------------------------
// Throughput mode.

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

int run_throughput(const config& cfg, const tls_setup& tls) {
  if (!raise_open_file_limit(cfg.conns + 64)) return exit_usage;
  ssekit::bench::serve_process server(cfg.serve, with({"--heartbeat-ms", "0"}, tls.serve_args()));
  // --tls: the baseline is the same client over plain http, from its own server.
  std::unique_ptr<ssekit::bench::serve_process> plain;
  if (cfg.tls && cfg.baseline) plain = std::make_unique<ssekit::bench::serve_process>(cfg.serve, std::vector<std::string>{"--heartbeat-ms", "0"});

  std::printf("# ssekit-e2e-bench: %s build; sse-serve pid %d at %s; ssekit::client on one io_context, one thread\n",
              SSEKIT_BENCH_CONFIG, static_cast<int>(server.pid()), server.base_url().c_str());
  std::printf("# read buffer %zu B; best of %d rep%s; MB = 10^6 body bytes; wall time from creating the clients to the last close\n",
              cfg.read_buffer, cfg.reps, cfg.reps == 1 ? "" : "s");
  if (plain) {
    std::printf("# https (trust: %s); plain = the same client and bodies over http from another sse-serve; ratio = https MB/s / plain MB/s\n",
                cfg.tls_trust.c_str());
  } else if (cfg.baseline) {
    std::printf("# raw = the same bodies from Asio sockets, counted, not parsed (framing=close); ratio = client MB/s / raw MB/s\n");
  }
  if (cfg.gzip) {
    std::printf("# W+gz rows: the same events with Content-Encoding gzip (flushed per event); MB/s of decoded body bytes; ratio = gzip MB/s / identity MB/s\n");
  }
  std::printf("%-8s %5s %11s %11s %11s %12s %12s %9s %6s\n", "workload", "conns", "bytes/conn", "events/conn",
              "client MB/s", "client ev/s", "client s", plain ? "plain MB/s" : "raw MB/s", "ratio");
  std::fflush(stdout);

  failure_log log;
  std::vector<std::string> slow;
  struct mode {
    std::size_t conns;
    std::uint64_t bytes;
  };
  std::vector<mode> modes{{1, cfg.size}};
  if (cfg.conns != 0) modes.push_back({cfg.conns, cfg.conn_bytes});

  for (const auto* info : cfg.workloads) {
    const std::string name(info->name);
    for (const mode& m : modes) {
      const expected_stream want = expect(*info, m.bytes);
      const std::string target = "/bench?bytes=" + std::to_string(m.bytes) + "&workload=" + name;
      const std::string run = name + " x" + std::to_string(m.conns);
      double best_client = std::numeric_limits<double>::infinity();
      double best_raw = std::numeric_limits<double>::infinity();
      double best_gzip = std::numeric_limits<double>::infinity();
      bool ok = true;
      // Interleaved, so a slow patch of machine time hurts both sides alike.
      for (int rep = 0; rep < cfg.reps && ok; ++rep) {
        if (plain) {
          config plain_cfg = cfg;
          plain_cfg.client_ca_file.clear();
          const double s = run_clients(plain_cfg, plain->base_url() + target, m.conns, want, run + " (plain)", log);
          ok = s >= 0;
          if (ok) best_raw = std::min(best_raw, s);
        } else if (cfg.baseline) {
          const double s = run_raw(cfg, server, target, m.conns, want, run + " (raw)", log);
          ok = s >= 0;
          if (ok) best_raw = std::min(best_raw, s);
        }
        if (!ok) break;
        const double s = run_clients(cfg, server.base_url() + target, m.conns, want, run, log);
        ok = s >= 0;
        if (ok) best_client = std::min(best_client, s);
        if (ok && cfg.gzip) {
          const double g = run_clients(cfg, server.base_url() + target + "&encoding=gzip", m.conns, want, run + " gzip", log);
          ok = g >= 0;
          if (ok) best_gzip = std::min(best_gzip, g);
        }
      }
      const double total_mb = static_cast<double>(want.bytes) * static_cast<double>(m.conns) / 1e6;
      const double events = static_cast<double>(want.events) * static_cast<double>(m.conns);
      if (!ok) {
        std::printf("%-8s %5zu %11llu %11llu %11s %12s %12s %9s %6s  CHECK FAILED\n", name.c_str(), m.conns,
                    ull(want.bytes), ull(want.events), "-", "-", "-", "-", "-");
        std::fflush(stdout);
        continue;
      }
      const double client_mbs = total_mb / best_client;
      char raw_col[32] = "-";
      char ratio_col[32] = "-";
      if (cfg.baseline) {
        const double raw_mbs = total_mb / best_raw;
        std::snprintf(raw_col, sizeof raw_col, "%.1f", raw_mbs);
        std::snprintf(ratio_col, sizeof ratio_col, "%.3f", client_mbs / raw_mbs);
      }
      std::printf("%-8s %5zu %11llu %11llu %11.1f %12.0f %12.3f %9s %6s\n", name.c_str(), m.conns, ull(want.bytes),
                  ull(want.events), client_mbs, events / best_client, best_client, raw_col, ratio_col);
      if (cfg.gzip) {
        const double gzip_mbs = total_mb / best_gzip;
        std::printf("%-8s %5zu %11llu %11llu %11.1f %12.0f %12.3f %9s %6.3f\n", (name + "+gz").c_str(), m.conns,
                    ull(want.bytes), ull(want.events), gzip_mbs, events / best_gzip, best_gzip, "-", gzip_mbs / client_mbs);
      }
      std::fflush(stdout);
      for (const auto& key : {name, std::string("all")}) {
        const auto floor = cfg.min_mbps.find(key);
        if (floor == cfg.min_mbps.end() || client_mbs >= floor->second) continue;
        char msg[200];
        std::snprintf(msg, sizeof msg, "%s: client %.1f MB/s is below --min-mbps %s=%.1f", run.c_str(), client_mbs,
                      key.c_str(), floor->second);
        slow.emplace_back(msg);
      }
    }
  }
  if (plain) plain->stop();
  const int server_status = server.stop();
  if (server_status != 0) std::fprintf(stderr, "ssekit-e2e-bench: note: sse-serve exited with status %d\n", server_status);
  for (const auto& s : slow) std::fprintf(stderr, "ssekit-e2e-bench: TOO SLOW: %s\n", s.c_str());
  if (log.total() != 0) return exit_check_failed;
  if (!slow.empty()) return exit_too_slow;
  return exit_ok;
}

// ---------------------------------------------------------------------------
// Idle mode.

struct memory_sample {
  long rss_kib = -1;   // VmRSS
  long anon_kib = -1;  // RssAnon
  long pss_kib = -1;   // smaps_rollup Pss
  std::uint64_t heap_bytes = 0;  // malloc: bytes in use (main arena + mmapped chunks)
};

long field_kib(const std::string& text, std::string_view name) {
  std::size_t at = 0;
  while ((at = text.find(name, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::strtol(text.c_str() + at + name.size(), nullptr, 10);
    at += name.size();
  }
  return -1;
}

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

memory_sample sample_memory() {
  memory_sample m;
  const std::string status = read_text("/proc/self/status");
  m.rss_kib = field_kib(status, "VmRSS:");
  m.anon_kib = field_kib(status, "RssAnon:");
  m.pss_kib = field_kib(read_text("/proc/self/smaps_rollup"), "Pss:");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 info = ::mallinfo2();
  m.heap_bytes = info.uordblks + info.hblkhd;
#endif
  return m;
}

// The "mem" of the TCP line in /proc/net/sockstat: pages of socket buffers,
// system-wide (both ends of every connection, everyone's).
long tcp_socket_pages() {
  const std::string text = read_text("/proc/net/sockstat");
  const auto line = text.find("TCP:");
  if (line == std::string::npos) return -1;
  const auto mem = text.find(" mem ", line);
  return mem == std::string::npos ? -1 : std::strtol(text.c_str() + mem + 5, nullptr, 10);
}

// GET `target` with HTTP/1.0 on a blocking socket (TLS for an https
// server: our own, so its certificate is not checked); returns the body.
std::string http_get(const ssekit::bench::serve_process& server, const std::string& target) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address(server.host()), server.port()));
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: " + server.host() + "\r\n\r\n";
  std::string response;
  const auto exchange = [&](auto& stream) {
    asio::write(stream, asio::buffer(request));
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
      const std::size_t n = stream.read_some(asio::buffer(buf), ec);
      response.append(buf, n);
      if (ec) break;
    }
  };
  if (server.base_url().starts_with("https://")) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    asio::ssl::stream<tcp::socket&> tls(socket, ctx);
    tls.handshake(asio::ssl::stream_base::client);
    exchange(tls);
  } else {
    exchange(socket);
  }
  const auto at = ssekit::testing::head_end(response);
  return at == std::string::npos ? std::string() : response.substr(at);
}

std::uint64_t json_number(const std::string& json, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\":";
  const auto at = json.find(quoted);
  if (at == std::string::npos) return std::numeric_limits<std::uint64_t>::max();
  const std::size_t begin = at + quoted.size();
  const std::size_t end = json.find_first_not_of("0123456789", begin);
  return to_u64(std::string_view(json).substr(begin, end == std::string::npos ? std::string::npos : end - begin),
                std::numeric_limits<std::uint64_t>::max());
}

// N clients on /events, started at most `ramp` at a time (each open or
// failure starts the next), so the server's accept backlog never overflows.
struct idle_clients {
  idle_clients(asio::io_context& context, std::string target_url, std::size_t count, std::size_t at_once,
               std::chrono::seconds open_timeout, std::string ca)
      : io(context), url(std::move(target_url)), n(count), ramp(at_once), timeout(open_timeout), ca_file(std::move(ca)) {}

  void start_more() {
    while (started < n && started - opened - failed < ramp) {
      ++started;
      ssekit::client_options o;
      o.url = url;
      o.reconnect = false;
      o.connect_timeout = timeout;
      o.ca_file = ca_file;
      ssekit::client_handlers h;
      h.on_open = [this](const ssekit::response_info&) {
        ++opened;
        start_more();
      };
      h.on_error = [this](const ssekit::client_error& e) {
        if (e.will_reconnect) return;
        if (closing) {
          ++ended;
          return;
        }
        if (first_failure.empty()) {
          first_failure = std::string(ssekit::client_error_reason_name(e.reason)) + ": " + e.message;
        }
        ++failed;
        start_more();
      };
      clients.push_back(std::make_unique<ssekit::client>(io.get_executor(), std::move(o), std::move(h)));
    }
  }

  asio::io_context& io;
  const std::string url;
  const std::size_t n;
  const std::size_t ramp;
  const std::chrono::seconds timeout;
  const std::string ca_file;
  std::size_t started = 0;
  std::size_t opened = 0;
  std::size_t failed = 0;
  std::size_t ended = 0;  // closed after `closing` was set
  bool closing = false;
  std::string first_failure;
  std::vector<std::unique_ptr<ssekit::client>> clients;
};

int run_idle(const config& cfg, const tls_setup& tls) {
  const std::size_t n = cfg.idle;
  if (!raise_open_file_limit(n + 64)) return exit_usage;
  ssekit::bench::serve_process server(cfg.serve, with({"--heartbeat-ms", "0"}, tls.serve_args()));
  const std::string url = server.base_url() + "/events";
  std::printf("# ssekit-e2e-bench --idle: %s build; sse-serve pid %d at %s (heartbeats off)\n", SSEKIT_BENCH_CONFIG,
              static_cast<int>(server.pid()), server.base_url().c_str());
  std::printf("# %zu ssekit::client on /events, one io_context, one thread, at most %zu opening at once%s%s\n", n,
              cfg.ramp, cfg.tls ? "; https, trust: " : "", cfg.tls ? cfg.tls_trust.c_str() : "");
  std::fflush(stdout);

  asio::io_context io(1);
  // Keeps run_for() from returning early (and the context from stopping)
  // at moments when no client has an operation pending.
  auto work = asio::make_work_guard(io);
  auto run_until = [&](auto done, clock_type::duration limit) {
    const auto deadline = clock_type::now() + limit;
    while (!done() && clock_type::now() < deadline) io.run_for(milliseconds(20));
    return done();
  };

  // Warm up: one client opened and closed, so one-time costs (the resolver's
  // thread, Asio's services, the strand pool) land before the first sample.
  {
    idle_clients warm(io, url, 1, 1, cfg.timeout, cfg.client_ca_file);
    warm.start_more();
    if (!run_until([&] { return warm.opened + warm.failed == 1; }, std::chrono::seconds(10)) || warm.failed != 0) {
      std::fprintf(stderr, "ssekit-e2e-bench: the warm-up client did not open: %s\n",
                   warm.first_failure.empty() ? "timed out" : warm.first_failure.c_str());
      return exit_check_failed;
    }
    warm.closing = true;
    warm.clients.clear();  // close()
    io.run_for(milliseconds(200));
  }

  idle_clients st(io, url, n, cfg.ramp, cfg.timeout, cfg.client_ca_file);
  st.clients.reserve(n);
  const memory_sample before = sample_memory();
  const std::string server_rollup = "/proc/" + std::to_string(server.pid()) + "/smaps_rollup";
  const long server_pss_before = field_kib(read_text(server_rollup.c_str()), "Pss:");
  const long socket_pages_before = tcp_socket_pages();
  const long slab_before = field_kib(read_text("/proc/meminfo"), "Slab:");
  const auto start = clock_type::now();
  st.start_more();
  const bool all_done = run_until([&] { return st.opened + st.failed == n; }, cfg.timeout);
  const double open_seconds = seconds_since(start);
  // Let the first bytes of the body (the retry: hint) arrive and be parsed.
  io.run_for(milliseconds(300));
  const memory_sample after = sample_memory();
  const long server_pss_after = field_kib(read_text(server_rollup.c_str()), "Pss:");
  const long socket_pages_after = tcp_socket_pages();
  const long slab_after = field_kib(read_text("/proc/meminfo"), "Slab:");

  int status = exit_ok;
  if (!all_done || st.failed != 0) {
    std::fprintf(stderr, "ssekit-e2e-bench: CHECK FAILED: %zu of %zu clients opened in %.1f s (%zu failed%s%s)\n",
                 st.opened, n, open_seconds, st.failed, st.first_failure.empty() ? "" : "; first: ",
                 st.first_failure.c_str());
    status = exit_check_failed;
  }

  // The server's view: N live streams (the warm-up one is gone).
  std::uint64_t streams = 0;
  std::uint64_t connections = 0;
  std::string stats;
  const auto stats_deadline = clock_type::now() + std::chrono::seconds(5);
  for (;;) {
    try {
      stats = http_get(server, "/stats");
    } catch (const std::exception& e) {
      stats = std::string("(") + e.what() + ")";
    }
    streams = json_number(stats, "streams");
    connections = json_number(stats, "connections");
    if (streams == n || clock_type::now() >= stats_deadline) break;
    io.run_for(milliseconds(100));
  }

  const double per_conn = static_cast<double>(after.pss_kib - before.pss_kib) / static_cast<double>(n);
  std::printf("opened %zu of %zu clients in %.2f s\n", st.opened, n, open_seconds);
  std::printf("%-22s %12s %12s %16s\n", "this process", "before KiB", "after KiB", "per connection");
  std::printf("%-22s %12ld %12ld %12.2f KiB\n", "Pss (smaps_rollup)", before.pss_kib, after.pss_kib, per_conn);
  std::printf("%-22s %12ld %12ld %12.2f KiB\n", "VmRSS", before.rss_kib, after.rss_kib,
              static_cast<double>(after.rss_kib - before.rss_kib) / static_cast<double>(n));
  std::printf("%-22s %12ld %12ld %12.2f KiB\n", "RssAnon", before.anon_kib, after.anon_kib,
              static_cast<double>(after.anon_kib - before.anon_kib) / static_cast<double>(n));
  if (after.heap_bytes != 0) {
    std::printf("%-22s %12llu %12llu %12.0f B\n", "malloc in use", ull(before.heap_bytes / 1024),
                ull(after.heap_bytes / 1024),
                (static_cast<double>(after.heap_bytes) - static_cast<double>(before.heap_bytes)) / static_cast<double>(n));
  }
  if (server_pss_before >= 0 && server_pss_after >= 0) {
    std::printf("%-22s %12ld %12ld %12.2f KiB\n", "sse-serve Pss", server_pss_before, server_pss_after,
                static_cast<double>(server_pss_after - server_pss_before) / static_cast<double>(n));
  }
  // Not in the numbers above; system-wide, so both ends and everyone else's.
  if (socket_pages_before >= 0 && socket_pages_after >= 0 && slab_before >= 0 && slab_after >= 0) {
    std::printf("kernel, system-wide: TCP buffers %ld -> %ld pages; Slab %ld -> %ld KiB (%.2f KiB per connection, both ends)\n",
                socket_pages_before, socket_pages_after, slab_before, slab_after,
                static_cast<double>(slab_after - slab_before) / static_cast<double>(n));
  }
  std::printf("server /stats: streams %llu, connections %llu\n", ull(streams), ull(connections));
  std::fflush(stdout);
  if (streams != n) {
    std::fprintf(stderr, "ssekit-e2e-bench: CHECK FAILED: the server counts %llu streams, want %zu (/stats: %s)\n",
                 ull(streams), n, stats.c_str());
    status = exit_check_failed;
  }
  if (status == exit_ok && cfg.max_kib_per_conn > 0 && per_conn > cfg.max_kib_per_conn) {
    std::fprintf(stderr, "ssekit-e2e-bench: TOO BIG: %.2f KiB per idle connection, --max-kib-per-conn %.2f\n",
                 per_conn, cfg.max_kib_per_conn);
    status = exit_too_slow;
  }

  // The server closes first (its side keeps the TIME_WAIT); every client
  // then sees the end of its stream and closes for good.
  st.closing = true;
  const std::size_t open_now = st.opened;
  server.stop();
  if (!run_until([&] { return st.ended >= open_now; }, std::chrono::seconds(20))) {
    std::fprintf(stderr, "ssekit-e2e-bench: CHECK FAILED: %zu of %zu clients closed after the server stopped\n",
                 st.ended, open_now);
    if (status == exit_ok) status = exit_check_failed;
  }
  st.clients.clear();
  io.run_for(milliseconds(50));
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  if (const int status = parse_args(argc, argv, cfg); status != 0) return status < 0 ? exit_ok : status;
  if (!optimized_build()) {
    std::fprintf(stderr, "ssekit-e2e-bench: warning: %s%s build; numbers mean little (use the release preset)\n",
                 SSEKIT_BENCH_CONFIG, SSEKIT_BENCH_SANITIZE ? " + sanitizers" : "");
  }
  ssekit::bench::serve_process::stop_on_signal();
  try {
    const tls_setup tls(cfg);
    return cfg.idle != 0 ? run_idle(cfg, tls) : run_throughput(cfg, tls);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ssekit-e2e-bench: %s\n", e.what());
    return exit_usage;
  }
}

// The demo server's networking: the only file of the server that includes
// Beast (for the request parser). Responses are written by hand: a stream's
// body is produced piece by piece, and writing the chunk framing ourselves
// lets /fault vary it (chunked, Content-Length, close-delimited) and write
// any piece size down to one byte.
//
// Ownership: each connection is a `session` kept alive by its pending
// handlers (shared_ptr). The shared `state` lists every session in an
// intrusive list (raw pointers; a session unlinks itself in its destructor)
// and is itself kept alive by the sessions and the server object. All of it
// runs on one strand, so nothing here takes a lock; the counters are atomic
// only so that stats() can read them from another thread.
//
// Memory per idle stream: the session object, the socket, and two strings
// that are emptied once written. The request parser and its buffer are
// freed when a stream starts; clock, feed and heartbeat run on one timer
// each for all connections; only /random and timed /fault bodies own a timer.
#include "ssekit/demo_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "content.hpp"
#include "listen_endpoint.hpp"
#include "request_head.hpp"
#include "ssekit/serializer.hpp"
#include "ssekit/utf8.hpp"
#include "tool_args.hpp"
#include "tool_io.hpp"

namespace ssekit::demo {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using namespace detail;

namespace {

enum class framing : std::uint8_t { chunked, length, close };
// none: no stream (request phase, plain responses, finite bodies).
enum class stream_kind : std::uint8_t { none, clock, random, feed, events };

constexpr std::size_t bench_block_size = 1024 * 1024;
constexpr std::size_t max_request_header = 8 * 1024;
constexpr std::uint64_t max_request_body = 64 * 1024;
// Longer /fault waits saturate to this (interval_ms, stall_ms).
constexpr std::chrono::milliseconds max_fault_wait = std::chrono::hours(1);
// /bench bytes at most (2^50: the repeat arithmetic stays far from overflow).
constexpr std::uint64_t max_bench_bytes = std::uint64_t{1} << 50;
// A replay queues about this much of the history at a time, then waits for
// the socket to take it (backpressure), so any backlog fits under
// max_pending_bytes.
constexpr std::size_t replay_batch_bytes = 16 * 1024;
constexpr std::uint64_t max_scale_ppm = 1'000'000'000;

// Why a --tls-cert or --tls-key file did not load. OpenSSL says "no start
// line" or "unsupported (DECODER routines)" both for a directory and for a
// file without PEM in it; those two are named. `label`: the PEM label of
// `what` ("CERTIFICATE" for "certificate").
std::string tls_file_problem(const std::string& path, const error_code& ec, std::string_view what, std::string_view label) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ec.message();
  if (S_ISDIR(st.st_mode)) return "is a directory";
  // Only a regular file is read again: opening a FIFO would wait for a
  // second writer (OpenSSL had the first).
  if (!S_ISREG(st.st_mode)) return ec.message();
  // Looked for in the first MiB only: PEM files are a few KiB. A PEM
  // block of another kind counts as none ("RSA PRIVATE KEY-----" is a key):
  // a certificate given as the key was OpenSSL's "unsupported (DECODER
  // routines)".
  std::string head(std::min<std::size_t>(static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)), 1024 * 1024), '\0');
  std::ifstream in(path, std::ios::binary);
  if (in && in.read(head.data(), static_cast<std::streamsize>(head.size())) && head.find(std::string(label) + "-----") == std::string::npos) {
    return "no PEM " + std::string(what) + " in it (-----BEGIN " + std::string(label) + "-----)";
  }
  return ec.message();
}

constexpr std::chrono::seconds linger_limit{2};
// How long a stop waits for live streams to take their last bytes (a
// client that does not read them is cut then).
constexpr std::chrono::seconds stop_grace{1};
// /fault makes its body this much at a time, when the previous window is
// written: per connection memory stays bounded (a body is up to 3 MB, and a
// client that does not read would pin it), while a window is large enough
// that a fast reader costs few writes.
constexpr std::size_t fault_window = 16 * 1024;
// A client may send this much after its last request (no HTTP client sends
// anything on a stream); past it the connection is closed, so bytes sent
// for ever can't keep the server's thread discarding them.
constexpr std::uint64_t max_bytes_after_request = 64 * 1024;

std::string_view sv(boost::beast::string_view s) noexcept { return {s.data(), s.size()}; }

// The methods an endpoint takes, as its 405 lists them in Allow; empty for
// a path that is not an endpoint (404 whatever the method).
std::string_view allowed_methods(std::string_view path) noexcept {
  if (path == "/" || path == "/stats") return "GET, HEAD, OPTIONS";
  if (path == "/broadcast") return "POST, OPTIONS";
  // POST too: a client's request with a body (an LLM API's, its retry
  // rules) can be tried against it; the body is read and not used.
  if (path == "/fault") return "GET, POST, OPTIONS";
  if (path == "/clock" || path == "/random" || path == "/feed" || path == "/events" || path == "/bench") return "GET, OPTIONS";
  return {};
}

// A CORS preflight's Access-Control-Request-Headers, when it is a list of
// header names (RFC 9110 5.6.1 list of tokens), to allow as asked.
bool header_name_list(std::string_view list) noexcept {
  bool any = false;
  for (const char c : list) {
    if (c == ',' || c == ' ' || c == '\t') continue;
    const bool tchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!tchar) return false;
    any = true;
  }
  return any;
}

bool allows(std::string_view allow, http::verb method) noexcept {
  const std::string_view name = sv(http::to_string(method));
  for (std::size_t at = 0; at < allow.size();) {
    const std::size_t end = std::min(allow.find(", ", at), allow.size());
    if (allow.substr(at, end - at) == name) return true;
    at = end + 2;
  }
  return false;
}

std::string hex(std::uint64_t value) {
  char digits[20];
  const auto result = std::to_chars(digits, digits + sizeof digits, value, 16);
  return std::string(digits, result.ptr);
}

std::string status_line(unsigned code) {
  const auto reason = http::obsolete_reason(http::int_to_status(code));
  return "HTTP/1.1 " + std::to_string(code) + ' ' +
         (http::int_to_status(code) == http::status::unknown ? std::string("Status") : std::string(sv(reason))) +
         "\r\nDate: " + tools::http_date() + "\r\n";
}

// A body with no Content-Length or chunking ends when the connection closes.
std::string framing_header(framing f, std::uint64_t length) {
  switch (f) {
    case framing::chunked: return "Transfer-Encoding: chunked\r\n";
    case framing::length: return "Content-Length: " + std::to_string(length) + "\r\n";
    case framing::close: return {};
  }
  return {};
}

// `base` (at most a few seconds) times `ppm` millionths, at least 100 us.
// Integer arithmetic: 2e9 ns * 1e9 ppm stays below 2^63.
std::chrono::nanoseconds scaled(std::chrono::milliseconds base, std::uint64_t ppm) {
  const auto base_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(base).count());
  const std::uint64_t ns = base_ns * ppm / 1'000'000;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns < 100'000 ? 100'000 : ns));
}

// A workload block compressed for /bench's encoding= (nullptr on failure).
std::shared_ptr<const generated_stream> compressed(const generated_stream& block, const std::string& coding, int level) {
  auto bytes = compress_events(block.bytes, coding, level);
  if (!bytes) return nullptr;
  return std::make_shared<const generated_stream>(generated_stream{std::move(*bytes), block.events});
}

// "5\r\n" + bytes + "\r\n": one chunk of a chunked body.
std::string chunk_of(std::string_view bytes) {
  std::string out = hex(bytes.size());
  out.reserve(out.size() + bytes.size() + 4);
  out += "\r\n";
  out += bytes;
  out += "\r\n";
  return out;
}

// Control bytes that RFC 9110 5.5 lets a recipient retain in a field value
// (everything below 0x20 but HTAB, CR, LF and NUL; and DEL). Fetch lets a
// browser send them (it forbids only NUL, CR and LF), e.g. in Last-Event-ID
// when an id contained one; Beast's parser refuses them, so they are
// replaced before it parses the head (see tolerate_controls).
bool tolerated_control(unsigned char c) noexcept {
  return (c > 0 && c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}
// What such a byte becomes: obs-text that no id we issue contains.
constexpr unsigned char control_stand_in = 0xff;

// A finite body written in pieces: /bench sends the bytes of `block`,
// `repeats` times, a piece per block (the block is shared, cached or
// immutable); /fault's body is made a window at a time as the socket takes
// it (fault_body), so a connection holds at most fault_window bytes of it.
struct body_plan {
  enum class ending : std::uint8_t { clean, drop, reset };
  std::shared_ptr<const std::string> block;  // /bench
  std::uint64_t repeats = 1;
  std::uint64_t block_events = 0;
  std::optional<fault_body> fault;  // /fault
  std::size_t declared_extra = 0;  // Content-Length claims this much more (drop)
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds stall{0};
  ending end = ending::clean;

  // Progress.
  std::uint64_t repeat = 0;
  std::uint64_t piece_left = 0;  // /fault: bytes of the current piece not yet made
  bool waited = false;
  bool stalled = false;
  bool terminated = false;
  std::string chunk_header;  // the piece in flight's chunk-size line
  std::shared_ptr<const std::string> window;  // /fault: the bytes in flight
  // The write in flight completes this many events once `writing_through`
  // of its bytes are written.
  std::uint64_t writing_events = 0;
  std::size_t writing_through = 0;

  std::uint64_t total() const noexcept { return fault ? fault->size() : block->size() * repeats; }
  bool done() const noexcept { return fault ? fault->done() : repeat >= repeats || block->empty(); }
  bool first_piece() const noexcept { return fault ? fault->offset() == 0 : repeat == 0; }
  bool piece_start() const noexcept { return !fault || piece_left == 0; }
};

struct request_reader {
  boost::beast::flat_buffer buffer{tools::request_buffer_limit(max_request_header, max_request_body)};
  std::optional<http::request_parser<http::string_body>> parser;
  std::size_t head_consumed = 0;  // for tools::put_head (Beast's limit is per put())
  tools::head_scan scan;  // tolerate_controls' progress through the head in `buffer`
};

// Output buffers: immutable, shared by every connection that sends the same
// bytes (a broadcast, a clock tick, a feed event), counted by `accounting`.
using buffer_ptr = std::shared_ptr<const std::string>;

// A buffer queued on one connection, with the events it completes: counted
// in events_sent once written, not when queued.
struct queued {
  buffer_ptr bytes;
  std::uint64_t events = 0;
};

struct accounting {
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> peak{0};
};

buffer_ptr make_buffer(const std::shared_ptr<accounting>& acc, std::string bytes) {
  const std::uint64_t size = bytes.size();
  const std::uint64_t now = acc->bytes.fetch_add(size, std::memory_order_relaxed) + size;
  std::uint64_t peak = acc->peak.load(std::memory_order_relaxed);
  while (now > peak && !acc->peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return buffer_ptr(new std::string(std::move(bytes)), [acc](const std::string* b) {
    acc->bytes.fetch_sub(b->size(), std::memory_order_relaxed);
    delete b;
  });
}

// One event stream message for many connections: framed once per framing,
// on first use.
class shared_message {
 public:
  shared_message(std::shared_ptr<accounting> acc, std::string_view sse) : acc_(std::move(acc)), sse_(sse) {}
  std::string_view bytes() const noexcept { return sse_; }
  const buffer_ptr& framed(framing f) {
    buffer_ptr& b = f == framing::chunked ? chunked_ : plain_;
    if (!b) b = make_buffer(acc_, f == framing::chunked ? chunk_of(sse_) : std::string(sse_));
    return b;
  }

 private:
  std::shared_ptr<accounting> acc_;
  std::string_view sse_;
  buffer_ptr chunked_, plain_;
};

class session;
using tls_stream = net::ssl::stream<tcp::socket&>;

}  // namespace

class server::state : public std::enable_shared_from_this<server::state> {
 public:
  state(net::any_io_executor executor, server_options options);

  void start();
  void stop_now();
  void accept();
  void on_accept(error_code ec, tcp::socket socket);
  void tick_clock();
  void tick_feed(bool emit);
  void tick_heartbeat(bool emit);
  void sweep_writes();
  std::size_t broadcast(std::string_view data, std::string_view type);
  void make_room();
  std::string stats_json() const;
  std::shared_ptr<const generated_stream> bench_block(const std::string& name, std::size_t size);
  std::shared_ptr<const generated_stream> bench_block(const std::string& name, std::size_t size, const std::string& coding);
  std::shared_ptr<const generated_stream> cached_block(const std::string& key) const;
  void keep_block(std::string key, std::size_t size, std::shared_ptr<const generated_stream> block);

  void link(session* s) noexcept;
  void unlink(session* s) noexcept;
  void start_waiting(session* s) noexcept;
  void stop_waiting(session* s) noexcept;
  template <class F>
  void for_each_session(F&& f);

  net::strand<net::any_io_executor> strand_;
  server_options options_;
  std::unique_ptr<net::ssl::context> tls_;  // with a certificate: https
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  net::steady_timer clock_timer_;
  net::steady_timer feed_timer_;
  net::steady_timer heartbeat_timer_;
  net::steady_timer write_sweep_;
  net::steady_timer stop_deadline_;  // ends what stop_now() left ending
  std::uint16_t port_ = 0;
  std::string host_;  // for url(): the address, bracketed if IPv6
  bool stopped_ = false;
  std::atomic<bool> stop_requested_{false};

  session* sessions_ = nullptr;  // intrusive list of every open connection
  // Those waiting for a request, the longest waiting first: make_room()
  // takes the first without a scan (a scan per accept at the limit, with
  // 8,000 streams held, took 276 us of the one thread per refused connection).
  session* waiting_first_ = nullptr;
  session* waiting_last_ = nullptr;
  feed_generator feed_;
  std::deque<feed_item> history_;
  rng rng_;
  std::map<std::string, std::shared_ptr<const generated_stream>, std::less<>> bench_cache_;
  // Blocks below bench_block_size, the newest last: a few, so that repeated
  // requests of one size compress once (37 ms of the one thread each, uncached).
  std::deque<std::pair<std::string, std::shared_ptr<const generated_stream>>> small_bench_cache_;
  std::atomic<std::uint64_t> bench_compressions_{0};

  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> streams_{0};
  std::atomic<std::uint64_t> compressed_streams_{0};
  std::atomic<std::uint64_t> total_connections_{0};
  std::atomic<std::uint64_t> events_sent_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> last_feed_id_{0};
  std::atomic<std::uint64_t> request_timeouts_{0};
  std::atomic<std::uint64_t> shed_connections_{0};
  std::atomic<std::uint64_t> dropped_streams_{0};
  std::atomic<std::uint64_t> write_timeouts_{0};
  std::shared_ptr<accounting> buffers_ = std::make_shared<accounting>();
  std::atomic<std::uint64_t> make_room_visits_{0};
  std::size_t open_ = 0;               // connections not yet closed (the strand's)
  std::uint64_t request_sequence_ = 0;  // tells a request timer that is still current
};

namespace {

std::uint64_t pick_seed(std::uint64_t seed) {
  if (seed != 0) return seed;
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         0x2545f4914f6cdd1du;
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<server::state> srv, tcp::socket socket)
      : srv_(std::move(srv)), socket_(std::move(socket)) {
    srv_->link(this);
    ++srv_->open_;
    srv_->connections_.fetch_add(1, std::memory_order_relaxed);
    srv_->total_connections_.fetch_add(1, std::memory_order_relaxed);
  }
  ~session() {
    if (!closed_) --srv_->open_;
    srv_->unlink(this);
    srv_->stop_waiting(this);
    srv_->connections_.fetch_sub(1, std::memory_order_relaxed);
    if (kind_ != stream_kind::none) srv_->streams_.fetch_sub(1, std::memory_order_relaxed);
    if (zip_) srv_->compressed_streams_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Over TLS the handshake comes first, under the request timeout. The TLS
  // stream (~50 KiB with OpenSSL's and Asio's buffers) is made once the
  // client sends a byte: connections that send nothing cost what plain
  // ones do. A first byte that can't start a TLS record is a plain HTTP
  // request on the https port: a 400 that says so (as nginx answers).
  void start() {
    if (!srv_->tls_) return read_request();
    start_request_timer();
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      if (self->closed_) return;
      unsigned char first = 0;
      if (!ec) self->socket_.receive(net::buffer(&first, 1), tcp::socket::message_peek, ec);
      if (ec) return self->abort();  // EOF or reset before a byte
      if (first != 0x16) {  // 0x16: a handshake record
        self->keep_alive_ = false;
        return self->bad_request("this port speaks https: use https:// to reach it");
      }
      self->tls_ = std::make_unique<tls_stream>(self->socket_, *self->srv_->tls_);
      self->tls_->async_handshake(net::ssl::stream_base::server, [self](error_code e) {
        if (self->closed_) return;
        if (e) return self->abort();
        self->read_request(false);  // the handshake's time counts
      });
    });
  }

  // Closes the connection at once; pending handlers finish with errors.
  void abort() {
    if (closed_) return;
    closed_ = true;
    --srv_->open_;
    if (srv_->stopped_ && srv_->open_ == 0) srv_->stop_deadline_.cancel();  // nothing left to wait for
    stop_waiting_for_request();
    if (timer_) timer_->cancel();
    error_code ignored;
    socket_.close(ignored);
    queue_.clear();
    queued_bytes_ = 0;
  }

  // The server stops. A live stream ends as a stream ends on purpose: its
  // last chunk (and a compressed one's last block) after what is queued,
  // then FIN, so clients and proxies see a complete response, not a cut
  // one (RFC 9112 7.1). A close-delimited one ends with FIN alone. Anything
  // else (a request being read, a /fault or /bench body) closes at once.
  void end_for_stop() {
    if (closed_) return;
    if (kind_ == stream_kind::none || lingering_) return abort();
    ending_ = true;    // nothing after the end (a broadcast still queued)
    replay_next_ = 0;  // no more history
    if (zip_) {
      std::string last = zip_->finish();
      if (!last.empty()) queue(framing_ == framing::chunked ? chunk_of(last) : std::move(last));
    }
    if (framing_ == framing::chunked) queue("0\r\n\r\n");
    drain_action_ = after_drain::end_now;
    flush();
  }

  stream_kind kind() const noexcept { return kind_; }
  unsigned topics() const noexcept { return topics_; }
  bool replaying() const noexcept { return replay_next_ != 0; }
  // A write has waited at least `limit` for the socket to take a byte.
  bool write_stalled(std::chrono::steady_clock::time_point now, std::chrono::milliseconds limit) const noexcept {
    return writing_ && !closed_ && now - write_progress_ >= limit;
  }

  // Live streams: queue bytes of the event stream, framed for this response
  // (and compressed, with encoding=).
  void send(std::string_view sse, bool is_event) {
    if (closed_ || ending_) return;
    queue(live_bytes(sse), is_event ? 1 : 0);
    sent();
  }
  // The same, with the buffer shared among the connections (unless this
  // stream compresses: its compressor's state is its own).
  void send(shared_message& message, bool is_event) {
    if (closed_ || ending_) return;
    if (zip_) queue(live_bytes(message.bytes()), is_event ? 1 : 0);
    else queue(message.framed(framing_), is_event ? 1 : 0);
    sent();
  }
  std::string live_bytes(std::string_view sse) {
    if (zip_) {
      const std::string z = zip_->write(sse);
      return framing_ == framing::chunked ? chunk_of(z) : z;
    }
    return framing_ == framing::chunked ? chunk_of(sse) : std::string(sse);
  }

  session* prev_ = nullptr;
  session* next_ = nullptr;
  // In the state's list of sessions waiting for a request.
  session* waiting_prev_ = nullptr;
  session* waiting_next_ = nullptr;

 private:
  enum class after_drain : std::uint8_t { nothing, plan_step, next_request, close, end_now };

  void sent() {
    if (queued_bytes_ > srv_->options_.max_pending_bytes) {
      // The client does not keep up: close it, which also frees the
      // kernel's buffers of the connection.
      srv_->dropped_streams_.fetch_add(1, std::memory_order_relaxed);
      abort();
      return;
    }
    flush();
  }

  // ---- request -----------------------------------------------------------

  // Reads the head with our own loop instead of http::async_read_header,
  // to let tolerate_controls() see the bytes before Beast's parser does.
  // `restart_timer`: the request timeout starts now (false: the one
  // started before the TLS handshake goes on).
  void read_request(bool restart_timer = true) {
    if (closed_) return;
    if (!reader_) reader_ = std::make_unique<request_reader>();
    auto& r = *reader_;
    auto& parser = r.parser.emplace();
    parser.header_limit(max_request_header);
    parser.body_limit(max_request_body);
    r.head_consumed = 0;
    r.scan = {};
    head_request_ = false;
    if (restart_timer) start_request_timer();
    parse_head();  // a pipelined request may be buffered already
  }

  void start_request_timer() {
    if (!timer_) timer_ = std::make_unique<net::steady_timer>(socket_.get_executor());
    wait_for_request();
    const std::uint64_t since = request_since_;
    timer_->expires_after(srv_->options_.request_timeout);
    timer_->async_wait([self = shared_from_this(), since](error_code ec) {
      if (ec || self->closed_ || !self->waiting_request_ || self->request_since_ != since) return;
      self->srv_->request_timeouts_.fetch_add(1, std::memory_order_relaxed);
      self->abort();
    });
  }

  // Replaces the control bytes RFC 9110 lets us retain (see
  // tolerated_control) in the header fields, not in the request line and
  // not past the head (the body is the client's data).
  void tolerate_controls() {
    auto& r = *reader_;
    const auto data = r.buffer.data();
    r.scan.scan(static_cast<unsigned char*>(data.data()), data.size(), [](unsigned char& c) {
      if (tolerated_control(c)) c = control_stand_in;
    });
  }

  void parse_head() {
    auto& r = *reader_;
    tolerate_controls();
    const std::size_t before = r.buffer.size();
    const error_code ec = tools::put_head(*r.parser, r.buffer, r.head_consumed, max_request_header);
    r.scan.consumed(before - r.buffer.size());
    if (r.scan.folded) {
      keep_alive_ = false;
      return plain(400, "text/plain", "bad request: a folded header line (obs-fold, RFC 9112 section 5.2)\n");
    }
    if (r.scan.unsupported_version) {
      keep_alive_ = false;
      return plain(505, "text/plain", "HTTP version not supported: this server speaks HTTP/1.1 (and 1.0)\n");
    }
    if (ec == http::error::need_more) {
      return with_stream([&](auto& stream) {
        stream.async_read_some(r.buffer.prepare(4096), [self = shared_from_this()](error_code rec, std::size_t n) {
          if (self->closed_) return;
          if (rec == net::error::eof) return self->abort();  // gone before a complete request
          if (rec) return self->abort();
          self->reader_->buffer.commit(n);
          self->parse_head();
        });
      });
    }
    on_header(ec);
  }

  void on_header(error_code ec) {
    if (closed_) return;
    // RFC 9112 3: a request line past the head's limit is a target too long.
    if (ec == http::error::header_limit && reader_->scan.lines == 0 && reader_->scan.line_length > 0) {
      keep_alive_ = false;
      return plain(414, "text/plain", "request target too long (the head may have 8 KiB)\n");
    }
    auto& parser = *reader_->parser;
    // Known once the request line is parsed: a refusal of a HEAD carries no
    // body either (RFC 9110 9.3.2; a request pipelined after it read the
    // error text; a probe). Beast refuses a Content-Length past the body
    // limit here, with the head.
    head_request_ = parser.get().method() == http::verb::head;
    if (ec) return on_read_error(ec);
    // RFC 9112 6.3: Beast ignores a transfer coding other than a final
    // chunked and would read such a body as the next request.
    if (!tools::framed_body(parser.get())) {
      keep_alive_ = false;
      return plain(400, "text/plain", "bad request: Transfer-Encoding other than chunked\n");
    }
    if (parser.is_done()) return on_request();
    if (tools::wants_continue(parser.get())) {
      start_writing();  // write_progress_ too: the write_timeout sweep reads it
      with_stream([&](auto& stream) {
        net::async_write(stream, net::buffer(tools::continue_response.data(), tools::continue_response.size()),
                         [self = shared_from_this()](error_code wec, std::size_t) {
                           self->writing_ = false;
                           if (wec || self->closed_) return self->abort();
                           self->read_body();
                         });
      });
      return;
    }
    read_body();
  }

  void read_body() {
    with_stream([&](auto& stream) {
      tools::read_body(stream, reader_->buffer, *reader_->parser, max_request_body, [self = shared_from_this()](error_code ec) {
        if (self->closed_) return;
        if (ec) return self->on_read_error(ec);
        self->on_request();
      });
    });
  }

  void on_read_error(error_code ec) {
    // The client went away (between requests or in the middle of one).
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::bad_target).category())
      return abort();
    // A malformed or oversized request: say so, then close.
    keep_alive_ = false;
    plain(tools::refused_request_status(ec), "text/plain", "bad request: " + ec.message() + "\n");
  }

  // Sheddable at the connection limit from now on, after those that have
  // waited longer.
  void wait_for_request() {
    waiting_request_ = true;
    request_since_ = ++srv_->request_sequence_;
    srv_->start_waiting(this);
  }
  void stop_waiting_for_request() {
    waiting_request_ = false;
    srv_->stop_waiting(this);
  }

  void on_request() {
    stop_waiting_for_request();
    if (timer_) timer_->cancel();
    const auto& req = reader_->parser->get();
    keep_alive_ = tools::keeps_alive(req);  // every Connection line; HTTP/1.0 with Transfer-Encoding
    http10_ = req.version() < 11;
    head_request_ = req.method() == http::verb::head;
    if (const auto host = tools::host_field_problem(req); !host.empty()) {
      keep_alive_ = false;
      return bad_request(std::string(host));
    }
    // One id to resume from, as for a parameter given twice (the first
    // one was taken without a word).
    if (req.count("Last-Event-ID") > 1) return bad_request("more than one Last-Event-ID header");
    // RFC 9110 9.1: a method the server does not know (Beast knows the
    // registered ones; names are case-sensitive, "get" is not GET).
    if (req.method() == http::verb::unknown)
      return plain(501, "text/plain", "method not implemented: " + std::string(sv(req.method_string())) + "\n");
    // RFC 9112 3.2.4: the asterisk-form asks about the server itself.
    if (sv(req.target()) == "*") {
      if (req.method() != http::verb::options) return bad_request("the target * is for OPTIONS only");
      return plain(204, "", "", "Allow: GET, HEAD, POST, OPTIONS\r\n");
    }
    const auto parsed = parse_target(sv(req.target()));
    if (!parsed) return plain(400, "text/plain", "bad request: not a valid request target (origin-form, or http/https absolute-form)\n");
    const target& t = *parsed;
    // Every endpoint: taking the first (or last) of two values would hide a
    // mistake in the request.
    if (const auto name = t.repeated()) return bad_request("parameter " + *name + " given more than once");

    // RFC 9110 9.1 and 15.5.6: each endpoint takes its methods and says
    // which in Allow (405). HEAD gets what GET would, without the body
    // (plain()); the endpoints that answer with a stream or a body plan
    // refuse it rather than start one.
    if (const std::string_view allow = allowed_methods(t.path); !allow.empty() && !allows(allow, req.method()))
      return plain(405, "text/plain", "use " + std::string(allow) + "\n", "Allow: " + std::string(allow) + "\r\n");
    if (req.method() == http::verb::options && !allowed_methods(t.path).empty()) return options(allowed_methods(t.path));

    if (t.path == "/") return plain(200, "text/plain; charset=utf-8", std::string(endpoint_help));
    if (t.path == "/stats") return plain(200, "application/json", srv_->stats_json());
    if (t.path == "/broadcast") return handle_broadcast(t);
    if (t.path == "/clock") return start_live(t, stream_kind::clock);
    if (t.path == "/random") return start_live(t, stream_kind::random);
    if (t.path == "/feed") return start_live(t, stream_kind::feed);
    if (t.path == "/events") return start_live(t, stream_kind::events);
    if (t.path == "/fault") return handle_fault(t);
    if (t.path == "/bench") return handle_bench(t);
    // The decoded path escaped (terminal_safe): a NUL, CR or ESC a client
    // sent came back raw, and curl prints the body to a terminal.
    plain(404, "text/plain", "not found: " + tools::terminal_safe(t.path) + "\n(GET / lists the endpoints)\n");
  }

  std::string last_event_id(const target& t) const {
    const auto& req = reader_->parser->get();
    if (auto it = req.find("Last-Event-ID"); it != req.end()) return std::string(sv(it->value()));
    if (const auto* id = t.find("last_event_id")) return *id;
    return {};
  }

  // ---- plain responses ---------------------------------------------------

  void plain(unsigned code, std::string_view content_type, std::string body, std::string extra_headers = {}) {
    const bool bodiless = code == 204 || code == 304;
    if (code == 205) body.clear();  // RFC 9110 15.3.6: no content (Content-Length: 0)
    std::string head = status_line(code);
    if (!bodiless) {
      head += "Content-Type: ";
      head += content_type;
      head += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    head += "Cache-Control: no-cache\r\n";
    head += extra_headers;
    head += connection_header();
    head += "\r\n";
    if (!bodiless && !head_request_) head += body;  // HEAD: Content-Length says what GET would send
    queue(std::move(head));
    drain_action_ = keep_alive_ ? after_drain::next_request : after_drain::close;
    flush();
  }

  // HTTP/1.0 persists only when the answer says so (RFC 9112 C.2.2): a
  // kept 1.0 connection without it left the client waiting for the close.
  std::string_view connection_header() const {
    if (!keep_alive_) return "Connection: close\r\n";
    return http10_ ? "Connection: keep-alive\r\n" : "";
  }

  void bad_request(std::string message) { plain(400, "text/plain", "bad request: " + message + "\n"); }

  // RFC 9110 9.3.7: the methods the endpoint takes; to a CORS preflight
  // (fetch: Access-Control-Request-Method) also what a page on another
  // origin may send. The streams allow any origin, and a fetch-based
  // EventSource (ssekit's npm package) sends Last-Event-ID on a reconnect,
  // which needs this preflight; without it the id was not sent.
  void options(std::string_view allow) {
    const auto& req = reader_->parser->get();
    std::string headers = "Allow: " + std::string(allow) + "\r\n";
    if (req.find(http::field::access_control_request_method) != req.end()) {
      headers += "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: " + std::string(allow) + "\r\n";
      const std::string_view asked = sv(req[http::field::access_control_request_headers]);
      if (!asked.empty() && header_name_list(asked)) headers += "Access-Control-Allow-Headers: " + std::string(asked) + "\r\n";
      headers += "Access-Control-Max-Age: 600\r\n";
    }
    plain(204, "", "", std::move(headers));
  }

  void handle_broadcast(const target& t) {
    const auto& req = reader_->parser->get();
    const std::string* type = t.find("event");
    const std::string_view event_type = type ? std::string_view(*type) : std::string_view{};
    if (event_type.find_first_of("\r\n") != std::string_view::npos) return bad_request("event type with a line break");
    // An event stream is UTF-8 (WHATWG HTML 9.2.5): what is sent must be.
    if (!ssekit::utf8_is_valid(event_type)) return bad_request("event type that is not UTF-8");
    if (!ssekit::utf8_is_valid(sv(req.body()))) return bad_request("a body that is not UTF-8");
    const std::size_t clients = srv_->broadcast(req.body(), event_type);
    plain(200, "application/json", "{\"clients\":" + std::to_string(clients) + "}\n");
  }

  // ---- live streams ------------------------------------------------------

  std::optional<framing> framing_param(const target& t, bool allow_length) {
    const std::string* f = t.find("framing");
    if (!f) return http10_ ? framing::close : framing::chunked;
    if (*f == "chunked" && !http10_) return framing::chunked;
    if (*f == "length" && allow_length) return framing::length;
    if (*f == "close") return framing::close;
    return std::nullopt;
  }

  static std::string stream_headers() {
    return status_line(200) +
           "Content-Type: text/event-stream\r\n"
           "Cache-Control: no-cache\r\n"
           "X-Accel-Buffering: no\r\n"
           "Access-Control-Allow-Origin: *\r\n";
  }

  // SO_SNDBUF; 0 or a failure leaves the kernel's autotuning.
  void cap_send_buffer(std::size_t size) {
    if (size == 0) return;
    boost::system::error_code ignored;
    socket_.set_option(net::socket_base::send_buffer_size(static_cast<int>(size)), ignored);
  }

  void start_live(const target& t, stream_kind kind) {
    const auto f = framing_param(t, false);
    if (!f) return bad_request("framing must be chunked (HTTP/1.1 only) or close for a live stream");
    unsigned topics = all_topics;
    if (kind == stream_kind::feed) {
      const std::string* list = t.find("topics");
      const auto mask = parse_topics(list ? *list : std::string_view{});
      if (!mask || *mask == 0) return bad_request("topics are news, weather and stock");
      topics = *mask;
    }
    // A Last-Event-ID that is not a number we issued replays nothing.
    const std::uint64_t resume_after =
        kind == stream_kind::feed ? tools::parse_uint(last_event_id(t), 0, UINT64_MAX - 1).value.value_or(0) : 0;

    std::string coding_header;
    if (const std::string* encoding = t.find("encoding"); encoding && *encoding != "identity") {
      if (*encoding != "gzip" && *encoding != "deflate") return bad_request("encoding must be identity, gzip or deflate");
      // Bounded: each holds a compressor, and a broadcast compresses once
      // per stream on this one thread (thousands stalled the server for seconds).
      if (srv_->compressed_streams_.load(std::memory_order_relaxed) >= srv_->options_.max_compressed_streams) {
        return plain(503, "text/plain",
                     "too many compressed streams (max " + std::to_string(srv_->options_.max_compressed_streams) +
                         "); try again later, or without encoding=\n",
                     "Retry-After: 5\r\n");
      }
      zip_ = event_compressor::make(*encoding);
      if (!zip_) return plain(500, "text/plain", "the compressor could not be made\n");
      srv_->compressed_streams_.fetch_add(1, std::memory_order_relaxed);
      coding_header = "Content-Encoding: " + *encoding + "\r\n";
    }

    framing_ = *f;
    keep_alive_ = false;
    kind_ = kind;
    // A small kernel buffer: a client that stops reading reaches
    // max_pending_bytes (and is dropped) instead of pinning megabytes of
    // kernel memory that no counter sees.
    cap_send_buffer(srv_->options_.stream_send_buffer);
    topics_ = topics;
    srv_->streams_.fetch_add(1, std::memory_order_relaxed);
    reader_.reset();  // an idle stream keeps no request buffers

    std::string head = stream_headers();
    head += coding_header;
    head += framing_header(framing_, 0);
    if (framing_ == framing::close) head += "Connection: close\r\n";
    head += "\r\n";
    queue(std::move(head));

    std::string first;
    switch (kind) {
      case stream_kind::clock:
        append_event(first, utc_timestamp(std::chrono::system_clock::now()));
        send(first, true);
        break;
      case stream_kind::random:
        random_tick();
        break;
      case stream_kind::feed:
        serialize_retry(first, srv_->options_.retry_hint_ms);
        send(first, false);
        if (resume_after != 0) replay_next_ = resume_after + 1;  // drained() streams it
        break;
      case stream_kind::events:
        serialize_retry(first, srv_->options_.retry_hint_ms);
        send(first, false);
        break;
      case stream_kind::none: break;
    }
    watch_peer();
    flush();
  }

  // Queues the next batch of the feed events still to replay (ids from
  // replay_next_ on, of this stream's topics); drained() calls it again
  // once the socket has taken them, until the replay reaches the newest
  // event. Live feed events wait meanwhile: they are in the history too.
  void replay_step() {
    const auto& history = srv_->history_;
    if (history.empty() || replay_next_ > history.back().id) {
      replay_next_ = 0;  // caught up: live events from here on
      return;
    }
    std::string batch;
    if (replay_next_ < history.front().id) {
      std::string note;
      serialize_comment(note, "replay incomplete: the history starts at id " + std::to_string(history.front().id));
      batch += live_bytes(note);
      replay_next_ = history.front().id;
    }
    std::uint64_t events = 0;
    // Ids in the history are consecutive.
    for (auto i = replay_next_ - history.front().id; i < history.size() && batch.size() < replay_batch_bytes; ++i) {
      const feed_item& item = history[i];
      if ((item.kind & topics_) != 0) {
        batch += live_bytes(item.bytes);
        ++events;
      }
      replay_next_ = item.id + 1;
    }
    if (!batch.empty()) queue(std::move(batch), events);
    flush();
  }

  void random_tick() {
    if (closed_) return;
    std::string ev;
    append_event(ev, std::to_string(srv_->rng_.between(0, 1'000'000)));
    send(ev, true);
    const auto gap = std::chrono::milliseconds(srv_->rng_.between(100, 2000));
    wait_then(scaled(gap, srv_->options_.interval_scale_ppm), &session::random_tick);
  }

  // ---- /fault and /bench: finite bodies ------------------------------------

  void handle_fault(const target& t) {
    fault_plan fp = plan_fault(t, last_event_id(t), max_fault_wait);
    switch (fp.what) {
      case fault_plan::action::bad_request: return bad_request(fp.message);
      case fault_plan::action::stall_forever:
        // Never answer; the connection stays open until the client or stop()
        // ends it, or make_room() sheds it at max_connections like any
        // connection waiting for an answer that will not come.
        reader_.reset();
        keep_alive_ = false;
        wait_for_request();
        watch_peer();
        return;
      case fault_plan::action::redirect:
        return plain(fp.code, "text/plain", "redirect to " + fp.location + "\n", "Location: " + fp.location + "\r\n");
      case fault_plan::action::status:
        return plain(fp.code, fp.content_type.value_or("text/plain"), "status " + std::to_string(fp.code) + "\n",
                     fp.retry_after ? "Retry-After: " + *fp.retry_after + "\r\n" : std::string());
      case fault_plan::action::body: break;
    }
    const auto f = framing_param(t, true);
    if (!f) return bad_request("framing must be chunked (HTTP/1.1 only), length or close");
    auto plan = std::make_unique<body_plan>();
    plan->interval = fp.interval;
    plan->stall = fp.stall;
    plan->end = fp.end == fault_plan::ending::reset ? body_plan::ending::reset
                : fp.end == fault_plan::ending::drop ? body_plan::ending::drop
                                                      : body_plan::ending::clean;
    plan->declared_extra = fp.declared_extra;
    plan->fault.emplace(std::move(fp.body));
    if (!fp.reusable) keep_alive_ = false;
    start_finite(std::move(plan), *f, fp.content_type.value_or("text/event-stream"), {});
  }

  void handle_bench(const target& t) {
    const std::string* size_text = t.find("bytes");
    const auto parsed_size = size_text ? tools::parse_uint(*size_text, 0, max_bench_bytes)
                                       : tools::parsed<std::uint64_t>{bench_block_size, {}};
    if (!parsed_size) return bad_request("bytes " + parsed_size.error);
    const auto& size = parsed_size.value;
    const std::string* name_param = t.find("workload");
    const std::string name = name_param ? *name_param : std::string(default_workload());
    const auto f = framing_param(t, true);
    if (!f) return bad_request("framing must be chunked (HTTP/1.1 only), length or close");

    std::shared_ptr<const generated_stream> block;
    std::uint64_t repeats = 1;
    const auto block_size = static_cast<std::size_t>(std::min<std::uint64_t>(*size, bench_block_size));
    block = srv_->bench_block(name, block_size);
    if (block && *size >= bench_block_size) repeats = bench_repeats(*size, block->bytes.size());
    if (!block) return bad_request("no workload '" + name + "'; there are: " + workload_names());
    if (*size == 0) repeats = 0;
    // encoding=gzip|deflate: the block compressed once (cached with it); a
    // gzip member repeats into concatenated members, a zlib stream can't.
    const std::string* encoding = t.find("encoding");
    const std::uint64_t decoded_bytes = block->bytes.size() * repeats;
    std::string coding_header;
    if (encoding && *encoding != "identity") {
      if (*encoding != "gzip" && *encoding != "deflate") return bad_request("encoding must be identity, gzip or deflate");
      if (*encoding == "deflate" && repeats > 1) return bad_request("encoding=deflate: bytes at most 1048576 (use gzip)");
      block = srv_->bench_block(name, block_size, *encoding);
      if (!block) return plain(500, "text/plain", "compression failed\n");
      coding_header = "Content-Encoding: " + *encoding + "\r\n";
    }

    auto plan = std::make_unique<body_plan>();
    // Share the block's bytes without copying them (aliasing constructor).
    plan->block = std::shared_ptr<const std::string>(block, &block->bytes);
    plan->repeats = repeats;
    plan->block_events = block->events;
    const std::uint64_t events = block->events * repeats;
    const std::string extra = "X-Ssekit-Workload: " + name + "\r\nX-Ssekit-Bytes: " + std::to_string(decoded_bytes) +
                              "\r\nX-Ssekit-Events: " + std::to_string(events) + "\r\n" + coding_header;
    start_finite(std::move(plan), *f, "text/event-stream", extra);
  }

  void start_finite(std::unique_ptr<body_plan> plan, framing f, std::string_view content_type,
                    std::string_view extra_headers) {
    framing_ = f;
    cap_send_buffer(srv_->options_.body_send_buffer);
    if (f == framing::close) keep_alive_ = false;
    std::string head = status_line(200) + "Content-Type: ";
    head += content_type;
    head += "\r\nCache-Control: no-cache\r\n";
    head += extra_headers;
    head += framing_header(f, plan->total() + plan->declared_extra);
    head += connection_header();
    head += "\r\n";
    queue(std::move(head));
    plan_ = std::move(plan);
    if (!keep_alive_) {
      reader_.reset();
      watch_peer();
    }
    drain_action_ = after_drain::plan_step;
    flush();
  }

  // Called whenever the previous piece is written (or a wait ends).
  void plan_step() {
    if (closed_ || !plan_) return;
    body_plan& p = *plan_;
    if (!p.done()) {
      // interval_ms waits between pieces, not between the windows of one.
      if (p.interval.count() != 0 && p.piece_start() && !p.first_piece() && !p.waited) {
        p.waited = true;
        return wait_then(p.interval, &session::plan_step);
      }
      p.waited = false;
      write_piece();
      return;
    }
    if (p.stall.count() != 0 && !p.stalled) {
      p.stalled = true;
      return wait_then(p.stall, &session::plan_step);
    }
    switch (p.end) {
      case body_plan::ending::clean:
        if (framing_ == framing::chunked && !p.terminated) {
          p.terminated = true;
          queue("0\r\n\r\n");
          return flush();
        }
        plan_.reset();
        drain_action_ = after_drain::nothing;
        if (keep_alive_) return read_request();
        return graceful_close();
      case body_plan::ending::drop:
        return abort();
      case body_plan::ending::reset: {
        error_code ignored;
        socket_.set_option(net::socket_base::linger(true, 0), ignored);
        return abort();
      }
    }
  }

  void start_writing() {
    writing_ = true;
    write_progress_ = std::chrono::steady_clock::now();
  }
  // async_write's completion condition: transfer_all's, noting when the
  // socket took bytes, for the write_timeout sweep. The session outlives
  // the operation (its handler holds it).
  auto noting_progress() {
    return [this](const error_code& ec, std::size_t n) -> std::size_t {
      if (n != 0) write_progress_ = std::chrono::steady_clock::now();
      return ec ? 0 : std::size_t{64 * 1024};
    };
  }
  void write_piece() {
    body_plan& p = *plan_;
    const bool chunked = framing_ == framing::chunked;
    std::array<net::const_buffer, 3> buffers{};
    if (p.fault) {
      fault_body& body = *p.fault;
      const bool starts = p.piece_left == 0;
      if (starts) p.piece_left = body.piece_left();
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(p.piece_left, fault_window));
      std::string bytes;
      bytes.reserve(take);
      p.writing_events = body.read(bytes, take);
      p.window = make_buffer(srv_->buffers_, std::move(bytes));
      buffers[1] = net::buffer(*p.window);
      if (chunked && starts) {
        p.chunk_header = hex(p.piece_left) + "\r\n";
        buffers[0] = net::buffer(p.chunk_header);
      }
      p.piece_left -= take;
      if (chunked && p.piece_left == 0) buffers[2] = net::buffer("\r\n", 2);
    } else {
      ++p.repeat;
      p.writing_events = p.block_events;
      buffers[1] = net::buffer(*p.block);
      if (chunked) {
        p.chunk_header = hex(p.block->size()) + "\r\n";
        buffers[0] = net::buffer(p.chunk_header);
        buffers[2] = net::buffer("\r\n", 2);
      }
    }
    p.writing_through = buffers[0].size() + buffers[1].size();
    start_writing();
    // The buffers live in the plan, which lives as long as the session.
    with_stream([&](auto& stream) {
      net::async_write(stream, buffers, noting_progress(), [self = shared_from_this()](error_code ec, std::size_t n) {
        if (auto& plan = self->plan_) {
          if (n >= plan->writing_through) self->count_events(plan->writing_events);
          plan->window.reset();
        }
        self->on_written(ec, n);
      });
    });
  }

  // ---- writing -----------------------------------------------------------

  void queue(buffer_ptr bytes, std::uint64_t events = 0) {
    queued_bytes_ += bytes->size();
    queue_.push_back(queued{std::move(bytes), events});
  }
  void queue(std::string bytes, std::uint64_t events = 0) {
    queue(make_buffer(srv_->buffers_, std::move(bytes)), events);
  }
  void count_events(std::uint64_t events) { srv_->events_sent_.fetch_add(events, std::memory_order_relaxed); }

  // Hands everything queued to one gathered async_write.
  void flush() {
    if (writing_ || closed_) return;
    if (queue_.empty()) return drained();
    start_writing();
    in_flight_.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    queued_bytes_ = 0;
    gather_.clear();
    for (const auto& b : in_flight_) gather_.push_back(net::buffer(*b.bytes));
    with_stream([&](auto& stream) {
      net::async_write(stream, gather_, noting_progress(),
                       [self = shared_from_this()](error_code ec, std::size_t n) { self->on_written(ec, n); });
    });
  }

  void on_written(error_code ec, std::size_t n) {
    writing_ = false;
    srv_->bytes_sent_.fetch_add(n, std::memory_order_relaxed);
    // The events of the buffers written whole (all of them, unless it failed).
    std::size_t through = 0;
    for (const auto& b : in_flight_) {
      through += b.bytes->size();
      if (through > n) break;
      count_events(b.events);
    }
    // Idle streams should not keep the capacity of a burst.
    if (in_flight_.capacity() > 16) {
      std::vector<queued>().swap(in_flight_);
      std::vector<net::const_buffer>().swap(gather_);
    } else {
      in_flight_.clear();
      gather_.clear();
    }
    if (ec || closed_) return abort();
    flush();
  }

  void drained() {
    if (replaying()) return replay_step();
    switch (drain_action_) {
      case after_drain::nothing: return;
      case after_drain::plan_step: return plan_step();
      case after_drain::next_request: drain_action_ = after_drain::nothing; return read_request();
      case after_drain::close: drain_action_ = after_drain::nothing; return graceful_close();
      case after_drain::end_now: {
        // The server stops: FIN after the last bytes, no lingering.
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
        return abort();
      }
    }
  }


  // Sends FIN after what was written and waits (boundedly) for the client to
  // close its side, so that a close-delimited body is not cut by a reset.
  void graceful_close() {
    if (closed_) return;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return abort();
    reader_.reset();
    lingering_ = true;
    watch_peer();
    wait_then(linger_limit, &session::abort);
  }

  // Waits for the client to close (or reset) the connection while nothing
  // is being read, so a vanished client frees its stream at once. Bytes it
  // sends meanwhile are discarded, up to max_bytes_after_request, and the
  // connection is not reused.
  void watch_peer() {
    if (watching_ || closed_) return;
    watching_ = true;
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      self->watching_ = false;
      if (self->closed_) return;
      if (ec) return self->abort();
      std::array<char, 16 * 1024> scratch;
      error_code read_ec;
      std::size_t n = 0;
      self->socket_.non_blocking(true, read_ec);
      if (!read_ec) n = self->socket_.read_some(net::buffer(scratch), read_ec);
      self->discarded_ += n;
      // Not while lingering: that ends within linger_limit anyway, and a
      // client still sending a body too large must get to read its 413.
      if (self->discarded_ > max_bytes_after_request && !self->lingering_) return self->abort();
      if (read_ec == net::error::would_block || read_ec == net::error::try_again || !read_ec) {
        self->keep_alive_ = false;
        return self->watch_peer();
      }
      self->abort();  // end of stream or an error: the client is gone
    });
  }

  void wait_then(std::chrono::nanoseconds delay, void (session::*step)()) {
    if (closed_) return;
    if (!timer_) timer_ = std::make_unique<net::steady_timer>(socket_.get_executor());
    timer_->expires_after(delay);
    timer_->async_wait([self = shared_from_this(), step](error_code ec) {
      if (ec || self->closed_) return;
      ((*self).*step)();
    });
  }

  // Reads and writes go through TLS when the server has a certificate;
  // shutdown, linger and watch_peer() use the socket below it (no
  // close_notify: a close-delimited body over TLS ends with a bare FIN).
  template <class F>
  void with_stream(F&& f) {
    if (tls_) f(*tls_);
    else f(socket_);
  }

  std::shared_ptr<server::state> srv_;
  tcp::socket socket_;
  std::unique_ptr<tls_stream> tls_;
  std::unique_ptr<request_reader> reader_;
  std::unique_ptr<body_plan> plan_;
  std::unique_ptr<net::steady_timer> timer_;
  std::deque<queued> queue_;  // not yet handed to async_write
  std::unique_ptr<event_compressor> zip_;  // live streams with encoding=
  std::size_t queued_bytes_ = 0;
  std::vector<queued> in_flight_;  // being written
  std::vector<net::const_buffer> gather_;
  std::chrono::steady_clock::time_point write_progress_;  // when a write began or the socket last took bytes
  std::uint64_t replay_next_ = 0;  // the next feed id to replay; 0: not replaying
  std::uint64_t request_since_ = 0;
  std::uint64_t discarded_ = 0;  // bytes watch_peer() read and dropped
  framing framing_ = framing::chunked;
  stream_kind kind_ = stream_kind::none;
  after_drain drain_action_ = after_drain::nothing;
  unsigned topics_ = all_topics;
  bool writing_ = false;
  bool watching_ = false;
  bool lingering_ = false;  // in graceful_close()
  bool ending_ = false;     // end_for_stop() queued the stream's end
  bool closed_ = false;
  bool waiting_request_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_request_ = false;  // the request being answered is HEAD: no body
};

}  // namespace

// ---- server::state --------------------------------------------------------

template <class F>
void server::state::for_each_session(F&& f) {
  // `f` may close a session but never destroys one (its handlers hold it).
  for (session* s = sessions_; s != nullptr;) {
    session* next = s->next_;
    f(*s);
    s = next;
  }
}


server::state::state(net::any_io_executor executor, server_options options)
    : strand_(net::make_strand(std::move(executor))),
      options_(std::move(options)),
      acceptor_(strand_),
      accept_retry_(strand_),
      clock_timer_(strand_),
      feed_timer_(strand_),
      heartbeat_timer_(strand_),
      write_sweep_(strand_),
      stop_deadline_(strand_),
      feed_(pick_seed(options_.seed)),
      rng_(pick_seed(options_.seed) ^ 0x9e3779b97f4a7c15u) {
  if (options_.interval_scale_ppm == 0 || options_.interval_scale_ppm > max_scale_ppm)
    throw std::invalid_argument("ssekit::demo::server: interval_scale_ppm must be 1 to 1000000000");
  if (options_.request_timeout.count() <= 0) throw std::invalid_argument("ssekit::demo::server: request_timeout must be > 0");
  if (options_.write_timeout.count() <= 0) throw std::invalid_argument("ssekit::demo::server: write_timeout must be > 0");
  // Compared with steady_clock's nanoseconds, which overflow past 292 years.
  options_.write_timeout = std::min<std::chrono::milliseconds>(options_.write_timeout, std::chrono::hours(24));
  if (options_.max_connections == 0) throw std::invalid_argument("ssekit::demo::server: max_connections must be > 0");
  if (options_.max_compressed_streams == 0) throw std::invalid_argument("ssekit::demo::server: max_compressed_streams must be > 0");
  if (options_.stream_send_buffer > (std::size_t{1} << 30))
    throw std::invalid_argument("ssekit::demo::server: stream_send_buffer must be at most 1 GiB");
  if (options_.body_send_buffer > (std::size_t{1} << 30))
    throw std::invalid_argument("ssekit::demo::server: body_send_buffer must be at most 1 GiB");
  if (options_.tls_certificate_file.empty() != options_.tls_key_file.empty())
    throw std::invalid_argument("ssekit::demo::server: tls_certificate_file and tls_key_file go together");
  if (!options_.tls_certificate_file.empty()) {
    tls_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    // No renegotiation: a client could make the server do handshakes for
    // ever (OpenSSL 3 refuses it anyway; 1.1.1 did not).
    tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                      SSL_OP_NO_RENEGOTIATION);
    // ALPN: http/1.1 when the client offers it; a client that offers only
    // other protocols (h2) gets no_application_protocol (RFC 7301 3.2)
    // rather than a handshake that fails later at the HTTP layer.
    SSL_CTX_set_alpn_select_cb(
        tls_->native_handle(),
        [](SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* in, unsigned int in_size, void*) {
          for (unsigned int i = 0; i < in_size;) {
            const unsigned int n = in[i];
            if (n == 8 && i + 1 + n <= in_size && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
              *out = in + i + 1;
              *out_size = 8;
              return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + n;
          }
          return SSL_TLSEXT_ERR_ALERT_FATAL;
        },
        nullptr);
    error_code ec;
    tls_->use_certificate_chain_file(options_.tls_certificate_file, ec);
    if (ec) {
      throw std::invalid_argument("ssekit::demo::server: can't load " + options_.tls_certificate_file + ": " +
                                  tls_file_problem(options_.tls_certificate_file, ec, "certificate", "CERTIFICATE"));
    }
    // An encrypted key would make OpenSSL prompt for its pass phrase on the
    // terminal (or fail with a "UI" error without one): refused, saying why.
    // The callback stays on the context (and its sessions): it owns its flag.
    const auto encrypted = std::make_shared<bool>(false);
    tls_->set_password_callback([encrypted](std::size_t, net::ssl::context::password_purpose) {
      *encrypted = true;
      return std::string();
    });
    tls_->use_private_key_file(options_.tls_key_file, net::ssl::context::pem, ec);
    if (ec && *encrypted)
      throw std::invalid_argument("ssekit::demo::server: can't load " + options_.tls_key_file +
                                  ": the key is encrypted; give an unencrypted one (openssl pkey -in KEY -out PLAIN)");
    if (ec) {
      throw std::invalid_argument("ssekit::demo::server: can't load " + options_.tls_key_file + ": " +
                                  tls_file_problem(options_.tls_key_file, ec, "private key", "PRIVATE KEY"));
    }
  }
  const tcp::endpoint endpoint = ssekit::tools::resolve_listen_endpoint(strand_, options_.address, options_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  host_ = ssekit::tools::url_host(endpoint.address());
}

void server::state::start() {
  if (stopped_) return;
  accept();
  tick_clock();
  tick_feed(false);  // the feed's first event comes one interval in
  tick_heartbeat(false);
  sweep_writes();
}

void server::state::stop_now() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  clock_timer_.cancel();
  feed_timer_.cancel();
  heartbeat_timer_.cancel();
  write_sweep_.cancel();
  for_each_session([](session& s) { s.end_for_stop(); });
  if (open_ == 0) return;
  stop_deadline_.expires_after(stop_grace);
  stop_deadline_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->for_each_session([](session& s) { s.abort(); });
  });
}

void server::state::accept() {
  acceptor_.async_accept(strand_, [self = shared_from_this()](error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void server::state::on_accept(error_code ec, tcp::socket socket) {
  if (stopped_) return;
  if (ec) {
    // Out of file descriptors or a connection reset before accept: try
    // again shortly instead of spinning.
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([self = shared_from_this()](error_code wec) {
      if (!wec && !self->stopped_) self->accept();
    });
    return;
  }
  if (open_ >= options_.max_connections) make_room();
  if (open_ >= options_.max_connections) {
    // Every connection is being served: refuse this one.
    shed_connections_.fetch_add(1, std::memory_order_relaxed);
    error_code ignored;
    socket.close(ignored);
    return accept();
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // events go out as they happen
  std::make_shared<session>(shared_from_this(), std::move(socket))->start();
  accept();
}

// At the connection limit: closes the connection that has waited longest
// for a complete request (idle keep-alive, slow or idle clients), so that
// holding sockets open cannot lock out the next client.
void server::state::make_room() {
  session* oldest = waiting_first_;
  if (oldest == nullptr) return;
  make_room_visits_.fetch_add(1, std::memory_order_relaxed);
  shed_connections_.fetch_add(1, std::memory_order_relaxed);
  oldest->abort();  // which takes it off the list
}

void server::state::tick_clock() {
  if (stopped_) return;
  std::string ev;
  append_event(ev, utc_timestamp(std::chrono::system_clock::now()));
  shared_message message(buffers_, ev);
  for_each_session([&](session& s) {
    if (s.kind() == stream_kind::clock) s.send(message, true);
  });
  clock_timer_.expires_after(scaled(std::chrono::seconds(1), options_.interval_scale_ppm));
  clock_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->tick_clock();
  });
}

void server::state::tick_feed(bool emit) {
  if (stopped_) return;
  if (emit) {
    history_.push_back(feed_.next());
    const feed_item& item = history_.back();
    last_feed_id_.store(item.id, std::memory_order_relaxed);
    // A stream still replaying gets this event from the history.
    shared_message message(buffers_, item.bytes);
    for_each_session([&](session& s) {
      if (s.kind() == stream_kind::feed && !s.replaying() && (s.topics() & item.kind) != 0) s.send(message, true);
    });
    while (history_.size() > options_.history_size) history_.pop_front();
  }
  feed_timer_.expires_after(scaled(std::chrono::seconds(1), options_.interval_scale_ppm));
  feed_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->tick_feed(true);
  });
}

void server::state::tick_heartbeat(bool emit) {
  if (stopped_ || options_.heartbeat_interval.count() <= 0) return;
  if (emit) {
    std::string beat;
    serialize_heartbeat(beat);
    shared_message message(buffers_, beat);
    for_each_session([&](session& s) {
      if (s.kind() != stream_kind::none) s.send(message, false);
    });
  }
  heartbeat_timer_.expires_after(options_.heartbeat_interval);
  heartbeat_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->tick_heartbeat(true);
  });
}

// Closes the connections whose socket took nothing of a write for
// write_timeout. One timer for the server, not one per write: a write
// costs a clock read, not a timer's arming and cancelling.
void server::state::sweep_writes() {
  if (stopped_) return;
  const auto now = std::chrono::steady_clock::now();
  for_each_session([&](session& s) {
    if (s.write_stalled(now, options_.write_timeout)) {
      write_timeouts_.fetch_add(1, std::memory_order_relaxed);
      s.abort();
    }
  });
  write_sweep_.expires_after(std::max<std::chrono::milliseconds>(options_.write_timeout / 4, std::chrono::milliseconds(1)));
  write_sweep_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->sweep_writes();
  });
}

std::size_t server::state::broadcast(std::string_view data, std::string_view type) {
  if (stopped_) return 0;
  std::string ev;
  if (append_event(ev, data, type) != errc::ok) return 0;
  std::size_t clients = 0;
  shared_message message(buffers_, ev);  // one buffer for every stream (per framing)
  for_each_session([&](session& s) {
    if (s.kind() != stream_kind::none) {
      s.send(message, true);
      ++clients;
    }
  });
  return clients;
}

std::string server::state::stats_json() const {
  const auto n = [](const std::atomic<std::uint64_t>& a) { return std::to_string(a.load(std::memory_order_relaxed)); };
  std::string json = "{\"connections\":" + n(connections_) + ",\"streams\":" + n(streams_) +
                     ",\"compressed_streams\":" + n(compressed_streams_) +
                     ",\"total_connections\":" + n(total_connections_) + ",\"events_sent\":" + n(events_sent_) +
                     ",\"bytes_sent\":" + n(bytes_sent_) + ",\"last_feed_id\":" + n(last_feed_id_) +
                     ",\"request_timeouts\":" + n(request_timeouts_) + ",\"shed_connections\":" + n(shed_connections_) +
                     ",\"dropped_streams\":" + n(dropped_streams_) +
                     ",\"write_timeouts\":" + n(write_timeouts_) + ",\"buffered_bytes\":" + n(buffers_->bytes) +
                     ",\"history\":{\"size\":" + std::to_string(history_.size());
  if (!history_.empty())
    json += ",\"first_id\":" + std::to_string(history_.front().id) + ",\"last_id\":" + std::to_string(history_.back().id);
  return json + "}}\n";
}

std::shared_ptr<const generated_stream> server::state::cached_block(const std::string& key) const {
  if (auto it = bench_cache_.find(key); it != bench_cache_.end()) return it->second;
  for (const auto& [k, block] : small_bench_cache_)
    if (k == key) return block;
  return nullptr;
}

void server::state::keep_block(std::string key, std::size_t size, std::shared_ptr<const generated_stream> block) {
  if (size == bench_block_size) {
    bench_cache_.emplace(std::move(key), std::move(block));
    return;
  }
  // 8 blocks of at most ~1 MiB: a bound on memory whatever sizes clients ask.
  if (small_bench_cache_.size() == 8) small_bench_cache_.pop_front();
  small_bench_cache_.emplace_back(std::move(key), std::move(block));
}

std::shared_ptr<const generated_stream> server::state::bench_block(const std::string& name, std::size_t size) {
  std::string key = name + "\n" + std::to_string(size);
  if (auto block = cached_block(key)) return block;
  auto stream = make_workload(name, size);
  if (!stream) return nullptr;
  auto block = std::make_shared<const generated_stream>(std::move(*stream));
  keep_block(std::move(key), size, block);
  return block;
}

std::shared_ptr<const generated_stream> server::state::bench_block(const std::string& name, std::size_t size,
                                                                   const std::string& coding) {
  std::string key = name + "\n" + std::to_string(size) + "\n" + coding;
  if (auto block = cached_block(key)) return block;
  const auto plain_block = bench_block(name, size);
  if (!plain_block) return nullptr;
  bench_compressions_.fetch_add(1, std::memory_order_relaxed);
  // Below the 1 MiB block each new size misses the cache; zlib's fastest
  // level halves the cost of such a miss (19 ms for 1 MiB, not 37).
  auto block = compressed(*plain_block, coding, size < bench_block_size ? 1 : -1);
  if (block) keep_block(std::move(key), size, block);
  return block;
}

void server::state::link(session* s) noexcept {
  s->next_ = sessions_;
  if (sessions_) sessions_->prev_ = s;
  sessions_ = s;
}

void server::state::unlink(session* s) noexcept {
  if (s->prev_) s->prev_->next_ = s->next_;
  else sessions_ = s->next_;
  if (s->next_) s->next_->prev_ = s->prev_;
  s->prev_ = s->next_ = nullptr;
}

// To the end of the waiting list (a session waiting again, for its next
// request, moves there).
void server::state::start_waiting(session* s) noexcept {
  stop_waiting(s);
  s->waiting_prev_ = waiting_last_;
  if (waiting_last_) waiting_last_->waiting_next_ = s;
  else waiting_first_ = s;
  waiting_last_ = s;
}

void server::state::stop_waiting(session* s) noexcept {
  if (s->waiting_prev_ == nullptr && waiting_first_ != s) return;  // not in the list
  if (s->waiting_prev_) s->waiting_prev_->waiting_next_ = s->waiting_next_;
  else waiting_first_ = s->waiting_next_;
  if (s->waiting_next_) s->waiting_next_->waiting_prev_ = s->waiting_prev_;
  else waiting_last_ = s->waiting_prev_;
  s->waiting_prev_ = s->waiting_next_ = nullptr;
}

// ---- server ---------------------------------------------------------------

server::server(net::any_io_executor executor, server_options options)
    : state_(std::make_shared<state>(std::move(executor), std::move(options))) {
  net::post(state_->strand_, [s = state_] { s->start(); });
}

server::~server() { stop(); }

std::uint16_t server::port() const noexcept { return state_->port_; }

std::string server::url(std::string_view path) const {
  return (state_->tls_ ? "https://" : "http://") + state_->host_ + ':' + std::to_string(state_->port_) + std::string(path);
}

void server::stop() {
  if (state_->stop_requested_.exchange(true)) return;
  net::post(state_->strand_, [s = state_] { s->stop_now(); });
}

void server::broadcast(std::string data, std::string type) {
  net::post(state_->strand_, [s = state_, data = std::move(data), type = std::move(type)] {
    s->broadcast(data, type);
  });
}

std::uint64_t server::make_room_visits() const noexcept {
  return state_->make_room_visits_.load(std::memory_order_relaxed);
}

void server::lower_max_connections(std::size_t n) noexcept {
  state_->options_.max_connections = std::max<std::size_t>(1, std::min(n, state_->options_.max_connections));
}

std::uint64_t server::bench_compressions() const noexcept {
  return state_->bench_compressions_.load(std::memory_order_relaxed);
}

server_stats server::stats() const noexcept {
  const auto& s = *state_;
  server_stats out;
  out.connections = s.connections_.load(std::memory_order_relaxed);
  out.streams = s.streams_.load(std::memory_order_relaxed);
  out.compressed_streams = s.compressed_streams_.load(std::memory_order_relaxed);
  out.total_connections = s.total_connections_.load(std::memory_order_relaxed);
  out.events_sent = s.events_sent_.load(std::memory_order_relaxed);
  out.bytes_sent = s.bytes_sent_.load(std::memory_order_relaxed);
  out.last_feed_id = s.last_feed_id_.load(std::memory_order_relaxed);
  out.request_timeouts = s.request_timeouts_.load(std::memory_order_relaxed);
  out.shed_connections = s.shed_connections_.load(std::memory_order_relaxed);
  out.dropped_streams = s.dropped_streams_.load(std::memory_order_relaxed);
  out.write_timeouts = s.write_timeouts_.load(std::memory_order_relaxed);
  out.buffered_bytes = s.buffers_->bytes.load(std::memory_order_relaxed);
  out.peak_buffered_bytes = s.buffers_->peak.load(std::memory_order_relaxed);
  return out;
}

}  // namespace ssekit::demo

// ssekit::client on Beast. The only translation unit of the client that
// includes Beast (see ssekit_asio in native/CMakeLists.txt).
//
// Every operation runs on one strand. A connection attempt has a number
// (attempt_); ending it bumps the number and closes the sockets, so any
// completion that arrives later sees a stale number and does nothing.
#include "ssekit/client.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <cmath>
#include <mutex>
#include <optional>
#include <random>
#include <variant>

#include "url.hpp"

namespace ssekit {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

std::string_view client_state_name(client_state state) noexcept {
  switch (state) {
    case client_state::connecting: return "connecting";
    case client_state::open: return "open";
    case client_state::closed: return "closed";
  }
  return "unknown";
}

std::string_view client_error_reason_name(client_error_reason reason) noexcept {
  switch (reason) {
    case client_error_reason::network_error: return "network_error";
    case client_error_reason::http_status: return "http_status";
    case client_error_reason::no_content: return "no_content";
    case client_error_reason::wrong_content_type: return "wrong_content_type";
    case client_error_reason::limit_exceeded: return "limit_exceeded";
    case client_error_reason::tls_error: return "tls_error";
    case client_error_reason::redirect_refused: return "redirect_refused";
    case client_error_reason::idle_timeout: return "idle_timeout";
    case client_error_reason::connect_timeout: return "connect_timeout";
    case client_error_reason::end_of_stream: return "end_of_stream";
  }
  return "unknown";
}

namespace {

constexpr std::size_t error_body_limit = 1024;
constexpr std::size_t max_header_size = 64 * 1024;
// setTimeout's limit in browsers; a longer retry: is clamped to it.
constexpr std::uint64_t max_reconnection_ms = 24ull * 3600 * 1000;

// Beast body whose reader hands every body byte to a sink: the SSE parser
// for a stream, or the error excerpt for a refused response.
struct sink_body {
  struct value_type {
    std::function<beast::error_code(std::string_view)> sink;
  };
  struct reader {
    value_type& body;
    template <bool is_request, class Fields>
    reader(http::header<is_request, Fields>&, value_type& b) : body(b) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      std::size_t used = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        if (body.sink) ec = body.sink(std::string_view(static_cast<const char*>(b.data()), b.size()));
        if (ec) return used;
        used += b.size();
      }
      return used;
    }
    void finish(beast::error_code& ec) { ec = {}; }
  };
};

using response_parser = http::response_parser<sink_body>;
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }
bool is_field_value(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

// The MIME type's essence is text/event-stream; parameters are allowed.
bool is_event_stream(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) content_type.remove_prefix(1);
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) content_type.remove_suffix(1);
  return beast::iequals(content_type, "text/event-stream");
}

header_list headers_of(const http::fields& fields) {
  header_list out;
  for (const auto& f : fields) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

// Retry-After in delta-seconds (an HTTP date is ignored: clocks disagree).
std::optional<milliseconds> retry_after(const http::fields& fields) {
  const auto it = fields.find(http::field::retry_after);
  if (it == fields.end()) return std::nullopt;
  const std::string_view v = it->value();
  unsigned long seconds = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (r.ec != std::errc() || r.ptr != v.data() + v.size()) return std::nullopt;
  return milliseconds(std::min<unsigned long>(seconds, max_reconnection_ms / 1000) * 1000);
}

}  // namespace

class client::impl final : public std::enable_shared_from_this<impl>, private handler {
 public:
  impl(asio::any_io_executor executor, client_options options, client_handlers handlers)
      : strand_(asio::make_strand(executor)),
        options_(std::move(options)),
        handlers_(std::move(handlers)),
        parser_(*this, options_.limits),
        resolver_(strand_),
        deadline_(strand_),
        reconnect_timer_(strand_),
        random_(std::random_device{}()) {
    const auto parsed = detail::parse_url(options_.url);
    if (!parsed) throw client_options_error("ssekit::client: not an absolute http or https URL: " + options_.url);
    reconnect_request_ = {*parsed, options_.method, options_.body, options_.headers};
    if (!is_token(options_.method)) throw client_options_error("ssekit::client: invalid method: " + options_.method);
    for (const auto& [name, value] : options_.headers) {
      if (!is_token(name)) throw client_options_error("ssekit::client: invalid header name: " + name);
      if (!is_field_value(value)) throw client_options_error("ssekit::client: header " + name + " has CR, LF or NUL in its value");
    }
    if (!is_field_value(options_.last_event_id)) throw client_options_error("ssekit::client: last_event_id has CR, LF or NUL");
    if (options_.backoff.factor < 1.0 || !(options_.backoff.jitter >= 0.0 && options_.backoff.jitter <= 1.0)) {
      throw client_options_error("ssekit::client: backoff factor must be >= 1 and jitter in [0, 1]");
    }
    if (options_.read_buffer_size < 1024) throw client_options_error("ssekit::client: read_buffer_size below 1024");
    parser_.set_last_event_id(options_.last_event_id);
    last_event_id_ = options_.last_event_id;
    reconnection_time_ = options_.reconnection_time;
    replayable_ = options_.body.empty() || options_.replay_body;
    // Made now when it will be needed, so a bad CA file throws here; an http
    // stream redirected to https makes it later.
    if (parsed->tls() || !options_.ca_file.empty() || !options_.ca_directory.empty()) make_tls_context();
  }

  void start() {
    asio::post(strand_, [self = shared_from_this()] { self->connect(); });
  }

  void close() {
    closed_.store(true);
    state_.store(client_state::closed);
    // Waits for a handler running on another thread; recursive, so close()
    // from inside a handler does not deadlock.
    { std::lock_guard lock(handler_mutex_); }
    asio::post(strand_, [self = shared_from_this()] { self->shutdown(); });
  }

  void restart() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->closed_.load()) return;
      self->end_attempt();
      self->reconnect_timer_.cancel();
      self->sync_last_event_id();
      self->parser_.reset();
      self->reconnects_.fetch_add(1);
      self->connect();
    });
  }

  client_state state() const noexcept { return state_.load(); }
  std::uint64_t reconnects() const noexcept { return reconnects_.load(); }
  std::string last_event_id() const {
    std::lock_guard lock(id_mutex_);
    return last_event_id_;
  }

 private:
  // --- handlers (user callbacks)

  template <class F>
  void call(F&& f) {
    std::lock_guard lock(handler_mutex_);
    if (closed_.load()) return;
    f();
  }

  void set_state(client_state s) {
    if (closed_.load() || state_.load() == s) return;
    state_.store(s);
    if (handlers_.on_state) call([&] { handlers_.on_state(s); });
  }

  void on_event(const event& ev) override {
    got_event_ = true;
    if (handlers_.on_event) call([&] { handlers_.on_event(ev); });
  }
  void on_comment(std::string_view text) override {
    if (handlers_.on_comment) call([&] { handlers_.on_comment(text); });
  }
  void on_retry(std::uint64_t ms) override {
    reconnection_time_ = milliseconds(std::min(ms, max_reconnection_ms));
    if (handlers_.on_retry) call([&] { handlers_.on_retry(ms); });
  }

  void sync_last_event_id() {
    const std::string_view id = parser_.last_event_id();
    if (id == last_event_id_) return;
    std::lock_guard lock(id_mutex_);
    last_event_id_.assign(id);
  }

  // --- one attempt: resolve, connect, handshake, write, read the header

  void make_tls_context() {
    tls_context_.emplace(ssl::context::tls_client);
    auto& ctx = *tls_context_;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (options_.insecure_skip_tls_verification) {
      ctx.set_verify_mode(ssl::verify_none);
      return;
    }
    ctx.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (!options_.ca_file.empty()) {
      ctx.load_verify_file(options_.ca_file, ec);
      if (ec) throw client_options_error("ssekit::client: can't load ca_file " + options_.ca_file + ": " + ec.message());
    }
    if (!options_.ca_directory.empty()) {
      ctx.add_verify_path(options_.ca_directory, ec);
      if (ec) throw client_options_error("ssekit::client: can't use ca_directory " + options_.ca_directory + ": " + ec.message());
    }
    if (options_.ca_file.empty() && options_.ca_directory.empty()) {
      ctx.set_default_verify_paths(ec);
      if (ec) throw client_options_error("ssekit::client: no system CA store: " + ec.message());
    }
  }

  // A fresh attempt with the request that last opened a stream (at first
  // the options'). Redirects change URL, method, body and headers; a stream
  // that opens after them keeps the changes for reconnects, as browsers do.
  void connect() {
    if (closed_.load()) return;
    method_ = reconnect_request_.method;
    body_ = reconnect_request_.body;
    request_headers_ = reconnect_request_.headers;
    redirects_ = 0;
    open_url(reconnect_request_.url);
  }

  void open_url(const detail::url& target) {
    const unsigned attempt = ++attempt_;
    current_url_ = target;
    got_event_ = false;
    limit_error_ = errc::ok;
    set_state(client_state::connecting);
    // A new connection object: the old one lives on in the handlers of
    // operations still completing on it (its socket is closed).
    // The buffer may grow to 64 KiB for a response header (big cookies);
    // body reads grow it only up to read_buffer_size (on_body).
    conn_ = std::make_shared<connection>(std::max(options_.read_buffer_size, max_header_size));
    conn_->response.body_limit(boost::none);
    conn_->response.header_limit(static_cast<std::uint32_t>(max_header_size));
    arm_deadline(attempt, options_.connect_timeout, client_error_reason::connect_timeout);
    resolver_.async_resolve(target.host, std::to_string(target.port),
                            [self = shared_from_this(), attempt](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(attempt, ec, std::move(results));
                            });
  }

  bool stale(unsigned attempt) const { return closed_.load() || attempt != attempt_; }

  void on_resolve(unsigned attempt, beast::error_code ec, tcp::resolver::results_type results) {
    if (stale(attempt)) return;
    if (ec) return fail_network(ec, "can't resolve " + current_url_.host);
    if (current_url_.tls()) {
      if (!tls_context_) {
        try {
          make_tls_context();
        } catch (const client_options_error& e) {
          return fail(client_error_reason::tls_error, {}, e.what(), false);
        }
      }
      conn_->stream.emplace<tls_stream>(strand_, *tls_context_);
    } else {
      conn_->stream.emplace<plain_stream>(strand_);
    }
    lowest().async_connect(results, [self = shared_from_this(), c = conn_, attempt](beast::error_code e, const tcp::endpoint&) {
      self->on_connect(attempt, e);
    });
  }

  beast::tcp_stream& lowest() {
    if (auto* t = std::get_if<tls_stream>(&conn_->stream)) return beast::get_lowest_layer(*t);
    return std::get<plain_stream>(conn_->stream);
  }

  void on_connect(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    if (ec) return fail_network(ec, "can't connect to " + current_url_.authority());
    lowest().socket().set_option(tcp::no_delay(true), ec);
    if (auto* t = std::get_if<tls_stream>(&conn_->stream)) {
      beast::error_code address_ec;
      asio::ip::make_address(current_url_.host, address_ec);
      // SNI is for host names only (RFC 6066).
      if (address_ec && !SSL_set_tlsext_host_name(t->native_handle(), current_url_.host.c_str())) {
        return fail(client_error_reason::tls_error, beast::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()),
                    "can't set the TLS server name", false);
      }
      if (!options_.insecure_skip_tls_verification) t->set_verify_callback(ssl::host_name_verification(current_url_.host));
      t->async_handshake(ssl::stream_base::client, [self = shared_from_this(), c = conn_, attempt](beast::error_code e) {
        self->on_handshake(attempt, e);
      });
      return;
    }
    write_request(attempt);
  }

  void on_handshake(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    if (ec) {
      // A certificate or protocol failure won't fix itself: no reconnect.
      if (ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated) {
        return fail(client_error_reason::tls_error, ec, "TLS handshake with " + current_url_.authority() + " failed: " + ec.message(), false);
      }
      return fail_network(ec, "TLS handshake with " + current_url_.authority() + " failed");
    }
    write_request(attempt);
  }

  void write_request(unsigned attempt) {
    conn_->request.emplace();
    auto& req = *conn_->request;
    req.version(11);
    const http::verb verb = http::string_to_verb(method_);
    if (verb == http::verb::unknown) req.method_string(method_);
    else req.method(verb);
    req.target(current_url_.target);
    req.set(http::field::host, current_url_.authority());
    req.set(http::field::user_agent, "ssekit");
    for (const auto& [name, value] : request_headers_) req.insert(name, value);
    req.set(http::field::accept, "text/event-stream");
    req.set(http::field::cache_control, "no-cache");
    const std::string_view id = parser_.last_event_id();
    if (!id.empty()) req.set("Last-Event-ID", id);
    if (!body_.empty() || method_ == "POST" || method_ == "PUT" || method_ == "PATCH") {
      req.body() = body_;
      req.prepare_payload();
    }
    auto done = [self = shared_from_this(), c = conn_, attempt](beast::error_code ec, std::size_t) { self->on_write(attempt, ec); };
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) http::async_write(s, req, done);
        },
        conn_->stream);
  }

  void on_write(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    if (ec) return fail_network(ec, "can't send the request");
    conn_->request.reset();
    read([self = shared_from_this(), attempt](beast::error_code e, std::size_t) { self->on_header(attempt, e); }, true);
  }

  // Reads the header, or some of the body, on the current connection; the
  // handler keeps the connection alive until it has run.
  template <class Handler>
  void read(Handler&& handler, bool header_only) {
    auto done = [c = conn_, h = std::forward<Handler>(handler)](beast::error_code ec, std::size_t n) mutable { h(ec, n); };
    connection& conn = *conn_;
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) {
            if (header_only) http::async_read_header(s, conn.buffer, conn.response, std::move(done));
            else http::async_read_some(s, conn.buffer, conn.response, std::move(done));
          }
        },
        conn.stream);
  }

  // --- the response

  void on_header(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    if (ec) return fail_network(ec, "no response header");
    const auto& res = conn_->response.get();
    const int status = static_cast<int>(res.result_int());
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      const auto location = res.find(http::field::location);
      if (location != res.end()) return redirect(status, location->value());
    }
    if (status == 200 && is_event_stream(res[http::field::content_type])) return open_stream(attempt);
    if (status == 204) {
      return fail(client_error_reason::no_content, {}, "the server answered 204 No Content: the stream is over", false,
                  status);
    }
    // Read the start of the body for the error report, then fail.
    excerpt_.clear();
    conn_->response.get().body().sink = [this](std::string_view bytes) {
      excerpt_.append(bytes.substr(0, error_body_limit - std::min(error_body_limit, excerpt_.size())));
      return beast::error_code{};
    };
    read_excerpt(attempt);
  }

  void read_excerpt(unsigned attempt) {
    if (conn_->response.is_done() || excerpt_.size() >= error_body_limit) return refuse(attempt);
    read([self = shared_from_this(), attempt](beast::error_code ec, std::size_t) {
      if (self->stale(attempt)) return;
      if (ec && ec != http::error::need_buffer) return self->refuse(attempt);
      self->read_excerpt(attempt);
    }, false);
  }

  void refuse(unsigned attempt) {
    if (stale(attempt)) return;
    const auto& res = conn_->response.get();
    const int status = static_cast<int>(res.result_int());
    if (status == 200) {
      const std::string type(res[http::field::content_type]);
      return fail(client_error_reason::wrong_content_type, {},
                  "the response is not text/event-stream (" + (type.empty() ? std::string("no content type") : "content type " + type) + ")",
                  false, status);
    }
    const bool retryable = options_.retry_server_errors && (status >= 500 || status == 429);
    std::optional<milliseconds> at_least;
    if (retryable) at_least = retry_after(res);
    fail(client_error_reason::http_status, {}, "the server answered " + std::to_string(status) + " " + std::string(res.reason()),
         retryable, status, at_least);
  }

  void redirect(int status, std::string_view location) {
    const auto target = detail::resolve_url(current_url_, location);
    if (!target) return fail(client_error_reason::redirect_refused, {}, "bad redirect Location: " + std::string(location), false, status);
    if (++redirects_ > options_.max_redirects) {
      return fail(client_error_reason::redirect_refused, {}, "more than " + std::to_string(options_.max_redirects) + " redirects", false, status);
    }
    if (current_url_.tls() && !target->tls() && !options_.allow_https_to_http_redirect) {
      return fail(client_error_reason::redirect_refused, {}, "refused a redirect from https to http: " + target->str(), false, status);
    }
    // fetch's rules: 303 (except HEAD), and 301/302 after POST, become GET
    // without a body.
    if ((status == 303 && method_ != "HEAD") || ((status == 301 || status == 302) && method_ == "POST")) {
      method_ = "GET";
      body_.clear();
      std::erase_if(request_headers_, [](const auto& h) {
        return beast::iequals(h.first, "Content-Type") || beast::iequals(h.first, "Content-Encoding") ||
               beast::iequals(h.first, "Content-Language") || beast::iequals(h.first, "Content-Location");
      });
    }
    // Credentials stay with the origin they were meant for.
    if (target->origin() != current_url_.origin()) {
      std::erase_if(request_headers_, [](const auto& h) {
        return beast::iequals(h.first, "Authorization") || beast::iequals(h.first, "Cookie") || beast::iequals(h.first, "Proxy-Authorization");
      });
    }
    end_attempt();
    open_url(*target);
  }

  void open_stream(unsigned attempt) {
    const auto& res = conn_->response.get();
    conn_->response.get().body().sink = [this](std::string_view bytes) {
      const parse_error err = parser_.feed(bytes);
      if (err) {
        limit_error_ = err.code;
        return beast::error_code(beast::errc::make_error_code(beast::errc::message_size));
      }
      // close() from a handler: stop parsing the rest of this read.
      if (closed_.load()) return beast::error_code(asio::error::operation_aborted);
      return beast::error_code{};
    };
    reconnect_request_ = {current_url_, method_, body_, request_headers_};
    set_state(client_state::open);
    if (handlers_.on_open) {
      response_info info{static_cast<int>(res.result_int()), headers_of(res), current_url_.str()};
      call([&] { handlers_.on_open(info); });
    }
    arm_deadline(attempt, options_.idle_timeout, client_error_reason::idle_timeout);
    read_body(attempt);
  }

  void read_body(unsigned attempt) {
    if (stale(attempt)) return;
    if (conn_->response.is_done()) return end_of_stream();
    read([self = shared_from_this(), attempt](beast::error_code ec, std::size_t n) { self->on_body(attempt, ec, n); }, false);
  }

  void on_body(unsigned attempt, beast::error_code ec, std::size_t consumed) {
    if (stale(attempt)) return;
    // Beast reads at most the buffer's free capacity (512 B at least), and
    // the buffer only grows when a read asks for more than it has: left
    // alone it stays at the 512 B of the first read, one recv() per 512 B.
    // A read that filled it says the socket had more, so grow it toward
    // read_buffer_size; idle streams keep the small one.
    if (!ec) {
      auto& buffer = conn_->buffer;
      if (buffer.capacity() < options_.read_buffer_size && consumed + 64 >= buffer.capacity())
        buffer.reserve(std::min(options_.read_buffer_size, buffer.capacity() * 4));
    }
    sync_last_event_id();
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      if (limit_error_ != errc::ok) {
        return fail(client_error_reason::limit_exceeded, make_error_code(limit_error_),
                    "the stream broke a parser limit: " + std::string(error_message(limit_error_)), false, 200);
      }
      if (ec == http::error::end_of_stream) return end_of_stream();
      return fail_network(ec, "the stream broke off");
    }
    arm_deadline(attempt, options_.idle_timeout, client_error_reason::idle_timeout);
    read_body(attempt);
  }

  void end_of_stream() {
    fail(client_error_reason::end_of_stream, {}, "the server ended the stream", true);
  }

  // --- timers

  void arm_deadline(unsigned attempt, milliseconds timeout, client_error_reason reason) {
    if (timeout.count() <= 0) {
      deadline_.cancel();
      return;
    }
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this(), attempt, reason, timeout](beast::error_code ec) {
      if (ec || self->stale(attempt)) return;
      // A re-armed timer completes the old wait with operation_aborted;
      // only a real expiry gets here.
      if (self->deadline_.expiry() > std::chrono::steady_clock::now()) return;
      const std::string what = reason == client_error_reason::idle_timeout ? "nothing arrived for " : "no response within ";
      self->fail(reason, asio::error::timed_out, what + std::to_string(timeout.count()) + " ms", true);
    });
  }

  // --- ending an attempt

  void fail_network(beast::error_code ec, const std::string& what) {
    fail(client_error_reason::network_error, ec, what + ": " + ec.message(), true);
  }

  // Ends the attempt and reports `reason`. `retryable`: reconnect (if the
  // options allow) after the reconnection time, or `at_least`.
  void fail(client_error_reason reason, beast::error_code code, std::string message, bool retryable, int status = 0,
            std::optional<milliseconds> at_least = std::nullopt) {
    client_error error;
    error.reason = reason;
    error.code = code;
    error.message = std::move(message);
    error.status = status;
    if (status != 0 && conn_ && conn_->response.is_header_done()) error.headers = headers_of(conn_->response.get());
    if (reason == client_error_reason::http_status || reason == client_error_reason::wrong_content_type) error.body = excerpt_;
    error.will_reconnect = retryable && options_.reconnect && replayable_;
    end_attempt();
    sync_last_event_id();
    failures_ = got_event_ ? 0 : failures_ + 1;
    if (!error.will_reconnect) {
      set_state(client_state::closed);
      if (handlers_.on_error) call([&] { handlers_.on_error(error); });
      closed_.store(true);
      shutdown();
      return;
    }
    set_state(client_state::connecting);
    if (handlers_.on_error) call([&] { handlers_.on_error(error); });
    if (closed_.load()) return;
    parser_.reset();
    milliseconds delay = reconnect_delay();
    if (at_least && *at_least > delay) delay = *at_least;
    const unsigned attempt = attempt_;
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([self = shared_from_this(), attempt](beast::error_code ec) {
      if (ec || self->stale(attempt)) return;
      self->reconnects_.fetch_add(1);
      self->connect();
    });
  }

  milliseconds reconnect_delay() {
    const milliseconds base = reconnection_time_;
    const auto& b = options_.backoff;
    // The first reconnect after a stream that delivered events waits the
    // reconnection time, as browsers do; failures in a row back off.
    if (!b.enabled || failures_ <= 1) return base;
    const double cap = static_cast<double>(std::max(b.max_delay, base).count());
    const double grown = std::min(static_cast<double>(base.count()) * std::pow(b.factor, failures_ - 1), cap);
    const double jittered = grown * (1.0 - b.jitter * std::uniform_real_distribution<double>(0.0, 1.0)(random_));
    return milliseconds(static_cast<std::int64_t>(jittered));
  }

  // Closes the connection; completions still in flight see a new attempt number.
  void end_attempt() {
    ++attempt_;
    resolver_.cancel();
    deadline_.cancel();
    if (!conn_) return;
    beast::error_code ignored;
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) beast::get_lowest_layer(s).socket().close(ignored);
        },
        conn_->stream);
  }

  void shutdown() {
    end_attempt();
    reconnect_timer_.cancel();
    conn_.reset();
  }

  asio::strand<asio::any_io_executor> strand_;
  const client_options options_;
  const client_handlers handlers_;
  parser parser_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;         // connect timeout, then idle timeout
  asio::steady_timer reconnect_timer_;  // the wait before a reconnect
  std::optional<ssl::context> tls_context_;
  std::minstd_rand random_;

  struct request_plan {
    detail::url url;
    std::string method;
    std::string body;
    header_list headers;
  };
  request_plan reconnect_request_;  // what connect() sends
  detail::url current_url_;         // this attempt's (after redirects)
  std::string method_;
  std::string body_;
  header_list request_headers_;
  int redirects_ = 0;

  // One attempt's socket, buffers and HTTP state. Shared with the handlers
  // of its pending operations: closing the socket makes them complete, and
  // they must not find the objects they use destroyed.
  struct connection {
    explicit connection(std::size_t buffer_limit) : buffer(buffer_limit) {}
    std::variant<std::monostate, plain_stream, tls_stream> stream;
    beast::flat_buffer buffer;
    response_parser response;
    std::optional<http::request<http::string_body>> request;
  };
  std::shared_ptr<connection> conn_;
  std::string excerpt_;

  unsigned attempt_ = 0;
  bool got_event_ = false;
  errc limit_error_ = errc::ok;  // the parser's error, behind Beast's read error
  int failures_ = 0;       // attempts in a row that ended without an event
  bool replayable_ = true;
  milliseconds reconnection_time_{3000};

  std::atomic<bool> closed_{false};
  std::atomic<client_state> state_{client_state::connecting};
  std::atomic<std::uint64_t> reconnects_{0};
  std::recursive_mutex handler_mutex_;
  mutable std::mutex id_mutex_;
  std::string last_event_id_;  // copy of the parser's, for last_event_id() from any thread
};

client::client(asio::any_io_executor executor, client_options options, client_handlers handlers)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), std::move(handlers))) {
  impl_->start();
}

client::~client() { close(); }

void client::close() { impl_->close(); }
void client::restart() { impl_->restart(); }
client_state client::state() const noexcept { return impl_->state(); }
std::string client::last_event_id() const { return impl_->last_event_id(); }
std::uint64_t client::reconnects() const noexcept { return impl_->reconnects(); }

blocking_result run_client(client_options options, const std::function<bool(const event&)>& on_event, milliseconds timeout,
                           client_handlers extra) {
  asio::io_context io;
  blocking_result result;
  std::optional<client> c;
  client_handlers handlers = extra;
  handlers.on_event = [&](const event& ev) {
    ++result.events;
    if (extra.on_event) extra.on_event(ev);
    if (on_event && !on_event(ev)) {
      result.stopped = true;
      c->close();
      io.stop();
    }
  };
  handlers.on_error = [&](const client_error& error) {
    if (extra.on_error) extra.on_error(error);
    if (!error.will_reconnect) {
      result.error = std::make_unique<client_error>(error);
      io.stop();
    }
  };
  asio::steady_timer timer(io);
  if (timeout.count() > 0) {
    timer.expires_after(timeout);
    timer.async_wait([&](beast::error_code ec) {
      if (ec) return;
      result.timed_out = true;
      c->close();
      io.stop();
    });
  }
  c.emplace(io.get_executor(), std::move(options), std::move(handlers));
  io.run();
  result.reconnects = c->reconnects();
  c->close();
  return result;
}

}  // namespace ssekit

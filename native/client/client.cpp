// ssekit::client: the state machine, following the standard's steps
// (WHATWG HTML, "Server-sent events": establish the connection, announce
// it, interpret the stream, reestablish it or fail it). The HTTP rules live
// in http_rules.cpp (no Beast), the sockets behind transport.hpp.
//
// Every operation runs on one strand. A connection attempt has a number
// (attempt_); ending it bumps the number and closes the transport, so any
// completion that arrives later sees a stale number and does nothing.
#include "ssekit/client.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "context_registry.hpp"
#include "http_rules.hpp"
#include "state_cell.hpp"
#include "transport.hpp"

namespace ssekit {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using std::chrono::milliseconds;
using detail::verdict_kind;

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
    case client_error_reason::unsupported_encoding: return "unsupported_encoding";
    case client_error_reason::decode_error: return "decode_error";
    case client_error_reason::id_not_sent: return "id_not_sent";
    case client_error_reason::attempt_hook_failed: return "attempt_hook_failed";
    case client_error_reason::proxy_refused: return "proxy_refused";
  }
  return "unknown";
}

std::string_view diagnostic_kind_name(diagnostic_kind kind) noexcept {
  switch (kind) {
    case diagnostic_kind::attempt_started: return "attempt_started";
    case diagnostic_kind::response: return "response";
    case diagnostic_kind::redirect: return "redirect";
    case diagnostic_kind::bytes_received: return "bytes_received";
    case diagnostic_kind::reconnect_scheduled: return "reconnect_scheduled";
  }
  return "unknown";
}

std::string_view attempt_kind_name(attempt_kind kind) noexcept {
  switch (kind) {
    case attempt_kind::first: return "first";
    case attempt_kind::reconnect: return "reconnect";
    case attempt_kind::redirect: return "redirect";
  }
  return "unknown";
}

namespace detail {
// One async attempt hook call: the first answer wins; the client ignores
// it once the attempt is stale (timed out, closed).
struct attempt_slot {
  std::atomic<bool> used{false};
  std::function<void(std::optional<attempt_request>, std::string)> deliver;
};
}  // namespace detail

void attempt_done::operator()(attempt_request request) const {
  if (slot_ && !slot_->used.exchange(true)) slot_->deliver(std::move(request), {});
}

void attempt_done::fail(std::string why) const {
  if (slot_ && !slot_->used.exchange(true)) slot_->deliver(std::nullopt, why.empty() ? std::string("the attempt hook failed") : std::move(why));
}

namespace {

constexpr std::size_t error_body_limit = 1024;
// A refused response's body is read for the report for at most this long
// (or connect_timeout, if shorter): a trickling body can't hold the client.
constexpr milliseconds error_body_timeout{2000};

header_list headers_of(const http::fields& fields) {
  header_list out;
  for (const auto& f : fields) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

}  // namespace

class client::impl final : public std::enable_shared_from_this<impl>, private handler {
  // A default-constructed executor would crash in make_strand.
  static const asio::any_io_executor& usable(const asio::any_io_executor& executor) {
    if (!executor) throw client_options_error("ssekit::client: the executor is empty (a default-constructed any_io_executor)");
    return executor;
  }

  // All of `o` but its body, which stays in `o` for the request plan: a
  // body may be tens of megabytes, and options_ need not hold it too.
  static client_options without_body(client_options& o) {
    std::string body = std::move(o.body);
    client_options rest = std::move(o);
    o.body = std::move(body);
    return rest;
  }

 public:
  impl(asio::any_io_executor executor, client_options options, client_handlers handlers,
       std::shared_ptr<detail::transport_factory> transport, std::function<void()> on_shutdown)
      : strand_(asio::make_strand(usable(executor))),
        options_(without_body(options)),
        handlers_(std::move(handlers)),
        on_shutdown_(std::move(on_shutdown)),
        parser_(*this, options_.limits),
        deadline_(strand_),
        reconnect_timer_(strand_),
        random_(std::random_device{}()) {
    // The plan holds the body (once, shared by every attempt).
    reconnect_plan_ = detail::check_options(options_, std::move(options.body));
    proxy_settings_ = detail::read_proxy_settings(options_, detail::process_environment());
    if (handlers_.on_attempt && handlers_.on_attempt_async) {
      throw client_options_error("ssekit::client: set on_attempt or on_attempt_async, not both");
    }
    has_hook_ = handlers_.on_attempt || handlers_.on_attempt_async;
    has_batch_end_ = static_cast<bool>(handlers_.on_batch_end);
    transport_ = transport ? std::move(transport) : detail::make_network_factory(options_, proxy_settings_);
    parser_.set_last_event_id(options_.last_event_id);
    last_event_id_ = options_.last_event_id;
    reconnection_time_ = options_.reconnection_time;
    registry_ = &asio::use_service<registry>(asio::query(strand_.get_inner_executor(), asio::execution::context));
    registered_ = registry_->add(this);
  }

  ~impl() { registry_->remove(registered_); }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  // The execution context is shutting down (context_registry), so nothing
  // runs on it again (nor calls a handler): closed, and the handlers and
  // what they hold let go. A session that owns its client and is captured
  // by its handler leaked without it when the program stopped with no
  // close() (an API probe).
  void release_handlers() {
    closed_.store(true);
    state_.close();
    client_handlers released;
    {
      std::lock_guard lock(handler_mutex_);
      released = std::exchange(handlers_, {});
    }
  }

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      self->connect(attempt_kind::first);
      self->after_handlers();
    });
  }

  void close() {
    closed_.store(true);
    state_.close();
    // Waits for a handler running on another thread; recursive, so close()
    // from inside a handler does not deadlock.
    { std::lock_guard lock(handler_mutex_); }
    // One shutdown from close() is enough (a loop calling close() queued
    // one per call).
    if (close_posted_.exchange(true)) return;
    post_once(close_posted_, [self = shared_from_this()] { self->shutdown(); });
  }

  // Calls before the posted restart runs are one restart: each queued a
  // reconnect of its own, without bound (a loop calling restart() from
  // another thread queued 31,000 and starved the stream; a helper's probe).
  void restart() {
    if (restart_posted_.exchange(true)) return;
    post_once(restart_posted_, [self = shared_from_this()] {
      self->restart_posted_.store(false);
      if (self->closed_.load()) return;
      self->end_attempt();
      self->reconnect_timer_.cancel();
      self->sync_last_event_id();
      self->parser_.reset();
      self->reconnect_now();
    });
  }
  // Posts f, whose `posted` flag the caller set; a post that throws
  // (bad_alloc) clears it, or no call would ever post again.
  template <class F>
  void post_once(std::atomic<bool>& posted, F&& f) {
    try {
      asio::post(strand_, std::forward<F>(f));
    } catch (...) {
      posted.store(false);
      throw;
    }
  }

  void pause_reading() { read_paused_.store(true); }
  void resume_reading() {
    read_paused_.store(false);
    // One queued at a time, as restart(): the queued one reads read_paused_
    // as it runs, after this store.
    if (resume_posted_.exchange(true)) return;
    post_once(resume_posted_, [self = shared_from_this()] {
      self->resume_posted_.store(false);
      // Paused again meanwhile: stay parked (the next resume_reading() posts
      // again); clearing parked_attempt_ here would lose the read for good.
      if (self->read_paused_.load()) return;
      const unsigned due = std::exchange(self->parked_reconnect_, 0u);
      if (due != 0 && !self->stale(due)) return self->reconnect_now();
      const unsigned attempt = std::exchange(self->parked_attempt_, 0u);
      if (attempt == 0 || self->stale(attempt)) return;
      self->arm_idle(attempt);
      self->read_body(attempt);
      self->after_handlers();
    });
  }

  client_state state() const noexcept { return state_.load(); }
  std::uint64_t reconnects() const noexcept { return reconnects_.load(); }
  client_stats stats() const noexcept {
    return {.events = events_.load(std::memory_order_relaxed),
            .bytes = bytes_.load(std::memory_order_relaxed),
            .reconnects = reconnects_.load(),
            .last_event_time = std::chrono::system_clock::time_point(
                std::chrono::system_clock::duration(last_event_time_.load(std::memory_order_relaxed)))};
  }
  std::string last_event_id() const {
    std::lock_guard lock(id_mutex_);
    return last_event_id_;
  }

 private:
  // --- handlers (user callbacks)

  // A handler that throws closes the client at once (no more handlers);
  // after_handlers() rethrows once the strand's step is done. False when
  // the handler did not run: closed, maybe by another thread just now.
  template <class F>
  bool call(F&& f) {
    if (feeding_) return call_locked(f);  // feed_parser() holds the lock
    std::lock_guard lock(handler_mutex_);
    return call_locked(f);
  }
  template <class F>
  bool call_locked(F& f) {
    if (closed_.load()) return false;
    try {
      f();
    } catch (...) {
      handler_exception_ = std::current_exception();
      closed_.store(true);
      state_.close();
    }
    return true;
  }

  // At the end of every completion on the strand.
  void after_handlers() {
    end_batch();
    if (!handler_exception_) return;
    shutdown();
    std::rethrow_exception(std::exchange(handler_exception_, nullptr));
  }

  void set_state(client_state s) {
    if (closed_.load() || !state_.move_to(s)) return;
    if (handlers_.on_state) call([&] { handlers_.on_state(s); });
  }

  // The diagnostics hook; `make` builds the report only when it is set.
  template <class F>
  void diagnose(F&& make) {
    if (handlers_.on_diagnostic) call([&] { handlers_.on_diagnostic(make()); });
  }

  // Counters: written only on the strand, so a relaxed load + store (no
  // locked instruction) is enough for readers on other threads.
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // on_batch_end, once per read that handed something out.
  void end_batch() {
    if (!std::exchange(batch_open_, false)) return;
    call([&] { handlers_.on_batch_end(); });
  }

  void on_event(const event& ev) override {
    // After close() the rest of the piece is still parsed: not delivered,
    // so not counted (stats().events counts events delivered), and the id
    // stays the last delivered event's (freeze_last_event_id()).
    if (closed_.load(std::memory_order_relaxed)) return freeze_last_event_id(nullptr);
    got_event_ = true;
    bump(events_, 1);
    if (handlers_.on_event) {
      batch_open_ = has_batch_end_;
      // close() from another thread may come between the check above and
      // the handler: then this event was not delivered either.
      if (!call([&] { handlers_.on_event(ev); })) {
        events_.store(events_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        return freeze_last_event_id(nullptr);
      }
      if (closed_.load(std::memory_order_relaxed)) freeze_last_event_id(&ev.last_event_id);
    }
  }
  void on_comment(std::string_view text) override {
    if (handlers_.on_comment) {
      batch_open_ = has_batch_end_;
      call([&] { handlers_.on_comment(text); });
    }
  }
  void on_retry(std::uint64_t ms) override {
    reconnection_time_ = milliseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(
        ms, static_cast<std::uint64_t>(detail::max_reconnection_time.count()))));
    if (handlers_.on_retry) {
      batch_open_ = has_batch_end_;
      call([&] { handlers_.on_retry(ms); });
    }
  }

  // Closed while the parser still has events of the read to go: last_event_id()
  // must not move past the last event delivered (a program that saves it
  // to resume from would skip the rest). `delivered`: that event's id,
  // when known; else (close() from another thread between two events) the
  // id stays where the last read's end left it, at or before the last
  // delivered event: resuming from it may repeat events, never skips one.
  void freeze_last_event_id(const std::string_view* delivered) {
    if (std::exchange(id_frozen_, true)) return;
    if (!delivered || *delivered == last_event_id_) return;
    std::lock_guard lock(id_mutex_);
    last_event_id_.assign(*delivered);
  }

  void sync_last_event_id() {
    if (id_frozen_) return;
    const std::string_view id = parser_.last_event_id();
    if (id == last_event_id_) return;
    std::lock_guard lock(id_mutex_);
    last_event_id_.assign(id);
  }

  // --- establish the connection

  // A fresh attempt with the request that last opened a stream (at first
  // the options'). Redirects change URL, method, body and headers; a stream
  // that opens after them keeps the changes for reconnects, as browsers do.
  void connect(attempt_kind kind) {
    if (closed_.load()) return;
    redirects_ = 0;
    prepare(reconnect_plan_, kind);
  }

  // Runs the attempt hook, if any, then opens the connection.
  void prepare(detail::request_plan plan, attempt_kind kind) {
    plan_ = std::move(plan);
    got_event_ = false;
    request_sent_ = false;
    opened_ = false;
    ++attempts_;
    if (!has_hook_) return open();
    const unsigned attempt = ++attempt_;
    set_state(client_state::connecting);
    if (closed_.load()) return;
    const attempt_info info{kind, attempts_, failures_, previous_reason_, previous_status_,
                            detail::choose_proxy(proxy_settings_, plan_.target).choice};
    attempt_request request = detail::to_attempt_request(plan_);
    if (handlers_.on_attempt) {
      const std::string failure = run_hook([&] { handlers_.on_attempt(request, info); });
      if (closed_.load()) return;
      return hooked(kind, failure.empty() ? std::optional<attempt_request>(std::move(request)) : std::nullopt, failure);
    }
    // The async form: its answer comes back through `done`, on the strand,
    // within attempt_hook_timeout.
    arm_deadline(attempt, options_.attempt_hook_timeout, [this] {
      fail({.reason = client_error_reason::attempt_hook_failed,
            .message = "the attempt hook did not answer within " + std::to_string(options_.attempt_hook_timeout.count()) + " ms",
            .code = asio::error::timed_out,
            .retryable = true});
    });
    auto slot = std::make_shared<detail::attempt_slot>();
    slot->deliver = [weak = weak_from_this(), attempt, kind](std::optional<attempt_request> r, std::string why) {
      const auto self = weak.lock();
      if (!self) return;
      asio::post(self->strand_, [self, attempt, kind, r = std::move(r), why = std::move(why)]() mutable {
        if (self->stale(attempt)) return;
        self->hooked(kind, std::move(r), why);
        self->after_handlers();
      });
    };
    const std::string failure = run_hook([&] { handlers_.on_attempt_async(std::move(request), info, attempt_done(slot)); });
    if (!failure.empty() && !slot->used.exchange(true)) hooked(kind, std::nullopt, failure);
  }

  // Calls a hook as a handler, except that an exception is the attempt's
  // failure (its text), not the client's end: a token fetch that throws is
  // retried with backoff.
  template <class F>
  std::string run_hook(F&& f) {
    std::lock_guard lock(handler_mutex_);
    if (closed_.load()) return {};
    try {
      f();
    } catch (const std::exception& e) {
      return std::string("the attempt hook threw: ") + e.what();
    } catch (...) {
      return "the attempt hook threw";
    }
    return {};
  }

  // The hook's answer: the request to send, or why there is none.
  void hooked(attempt_kind kind, std::optional<attempt_request> request, const std::string& failure) {
    if (!request) return fail({.reason = client_error_reason::attempt_hook_failed, .message = failure, .retryable = true});
    detail::hook_outcome checked = detail::check_attempt_request(std::move(*request));
    if (!checked.plan) return fail({.reason = client_error_reason::attempt_hook_failed, .message = checked.refusal, .retryable = true});
    checked.plan->compression = plan_.compression;  // an option, not the hook's
    plan_ = std::move(*checked.plan);
    // A refreshed token is kept for later attempts; a redirect's request is
    // kept once its stream opens (announce), as without a hook.
    if (kind != attempt_kind::redirect) reconnect_plan_ = plan_;
    open();
  }

  void open() {
    const unsigned attempt = ++attempt_;
    interim_ = 0;
    limit_error_ = {};
    set_state(client_state::connecting);
    diagnose([&] {
      return diagnostic{.kind = diagnostic_kind::attempt_started, .url = plan_.target.str(), .delay = next_delay_, .attempt = attempts_};
    });
    next_delay_ = milliseconds{0};
    if (closed_.load()) return;
    // A new connection object: the old one lives on in the handlers of
    // operations still completing on it (its transport is closed).
    conn_ = std::make_shared<connection>(std::max(options_.read_buffer_size, detail::max_response_head));
    route_ = detail::choose_proxy(proxy_settings_, plan_.target);
    conn_->io = transport_->make(strand_, plan_.target, route_);
    new_response();
    arm_deadline(attempt, options_.connect_timeout, [this] {
      // Which side stalled: the connection (TCP, a proxy, the TLS
      // handshake) or the server's answer to the request.
      // A head begun and not finished is not "no response" (the bytes of
      // an unfinished head wait in the buffer).
      const std::string peer = plan_.target.authority() + (route_.proxy ? " through the proxy " + route_.proxy->display() : "");
      const std::size_t partial = conn_->buffer.size();
      // A request still being written: its body did not go out in time
      // (connect_timeout covers sending it), which is not "no response".
      const bool sending = conn_->opened && conn_->request.has_value() && plan_.body;
      fail({.reason = client_error_reason::connect_timeout,
            .message = (!conn_->opened ? "no connection (TCP, proxy or TLS handshake) to " + peer
                        : sending      ? "the request (a body of " + std::to_string(plan_.body->size()) + " bytes) not sent whole to " + peer
                        : partial != 0 ? "an unfinished response head (" + std::to_string(partial) + " bytes) from " + peer
                                       : "no response from " + peer) +
                       " within " + std::to_string(options_.connect_timeout.count()) + " ms",
            .code = asio::error::timed_out,
            .retryable = true});
    });
    conn_->io->async_open(plan_.target, route_, [self = shared_from_this(), c = conn_, attempt](const detail::open_failure* f) {
      self->on_open(attempt, f);
      self->after_handlers();
    });
  }

  // The response parser for the next response head on this connection.
  // The buffer may grow to 64 KiB for a head (big cookies); body reads grow
  // it only up to read_buffer_size (on_body).
  void new_response() {
    conn_->response.emplace();
    conn_->response->body_limit(boost::none);
    // Twice the limit: async_read_head takes at most max_response_head bytes
    // as received; repair_head's CRs (one per LF) may add as many again.
    conn_->response->header_limit(static_cast<std::uint32_t>(2 * detail::max_response_head));
    // RFC 9110 9.3.2: a HEAD response's Content-Length announces no body.
    conn_->response->skip(plan_.method == "HEAD");
  }

  bool stale(unsigned attempt) const { return closed_.load() || attempt != attempt_; }

  void on_open(unsigned attempt, const detail::open_failure* failure) {
    if (stale(attempt)) return;
    if (failure) {
      // A proxy's refusal: its answer is reported as a response's would be.
      conn_->response_headers = failure->headers;
      excerpt_ = failure->body;
      // A proxy's 5xx or 429 to CONNECT (it can't reach the origin now, or
      // is busy) is retried with backoff, as a browser does: to it a refused
      // tunnel is a network error, which an EventSource reconnects after.
      // A short outage of the origin stopped the client for good. 407, 403
      // and the rest stay final.
      const bool retry_status = failure->reason == client_error_reason::proxy_refused && (failure->status >= 500 || failure->status == 429);
      const bool retry = failure->retryable || retry_status;
      // A refused CONNECT's Retry-After counts as a response's does.
      std::optional<milliseconds> at_least;
      if (retry_status) at_least = detail::retry_after(conn_->response_headers);
      return fail({.reason = failure->reason,
                   .message = failure->message,
                   .code = failure->code,
                   .retryable = retry,
                   .status = failure->status,
                   .at_least = at_least});
    }
    conn_->opened = true;
    write_request(attempt);
  }

  // The id that goes out as Last-Event-ID, or "" when it can't (reported
  // once per id as an id_not_sent notice).
  std::string_view id_to_send() {
    const std::string_view id = parser_.last_event_id();
    if (detail::sendable_id(id, options_.max_id_length)) return id;
    if (id != unsendable_id_reported_) {
      unsendable_id_reported_.assign(id);
      client_error notice;
      notice.reason = client_error_reason::id_not_sent;
      notice.message = "the last event id (" + std::to_string(id.size()) + " bytes" +
                       (detail::is_field_value(id) ? ", over max_id_length " + std::to_string(options_.max_id_length)
                                                   : ", with a control byte") +
                       ") is not sent in Last-Event-ID";
      notice.will_reconnect = true;
      if (handlers_.on_error) call([&] { handlers_.on_error(notice); });
    }
    return {};
  }

  void write_request(unsigned attempt) {
    detail::request_head head = detail::build_request(plan_, id_to_send());
    detail::apply_route(head, plan_.target, route_);
    if (closed_.load()) return;
    conn_->request.emplace();
    auto& req = *conn_->request;
    req.version(11);
    const http::verb verb = http::string_to_verb(head.method);
    if (verb == http::verb::unknown) req.method_string(head.method);
    else req.method(verb);
    req.target(head.target);
    for (const auto& [name, value] : head.fields) req.insert(name, value);
    if (head.has_body) {
      conn_->body = plan_.body;
      if (conn_->body) req.body() = {conn_->body->data(), conn_->body->size()};
      // Not prepare_payload(): it drops Content-Length: 0 for PATCH (and any
      // method Beast does not count as taking a body).
      req.content_length(conn_->body ? conn_->body->size() : 0);
    }
    conn_->io->async_write(req, [self = shared_from_this(), c = conn_, attempt](beast::error_code ec, std::size_t) {
      self->on_write(attempt, ec);
      self->after_handlers();
    });
  }

  void on_write(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    conn_->request.reset();
    if (!ec) request_sent_ = true;
    // A server may answer (413, 401...) and close before taking the whole
    // body: the write fails, but its response may be readable. Read it;
    // only without one is the write error reported.
    if (ec && !plan_.body) return fail_network(ec, "can't send the request");
    write_error_ = ec;
    read_header(attempt);
  }

  void read_header(unsigned attempt) {
    conn_->io->async_read_header(conn_->buffer, *conn_->response, [self = shared_from_this(), c = conn_, attempt](beast::error_code e, std::size_t) {
      self->on_header(attempt, e);
      self->after_handlers();
    });
  }

  // --- the response head

  void on_header(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    if (ec) {
      if (write_error_) return fail_network(write_error_, "can't send the request");
      // A FIN without close_notify says what a FIN over TCP says.
      if (detail::is_tls_truncation(ec)) ec = conn_->buffer.size() == 0 ? http::error::end_of_stream : http::error::partial_message;
      // Through a proxy, it may be the proxy's doing: say which way it went.
      const std::string via = through_proxy();
      if (detail::looks_like_http2_frames(detail::text_of(conn_->buffer)))
        return fail_network(ec, "the server answered in HTTP/2 framing: it takes only HTTP/2, and this client speaks HTTP/1.1" + via);
      // The reverse of https:// to a plain port (transport.cpp): say it as plainly.
      if (detail::looks_like_tls_record(detail::text_of(conn_->buffer)))
        return fail_network(ec, "the server answered in TLS: it takes https:// on this port, not http://" + via);
      // OpenSSL servers close or reset a plain request without an alert to
      // recognise (probe-api): a hint when a plain URL got no byte at all.
      const bool silent = ec == http::error::end_of_stream || ec == asio::error::connection_reset;
      const std::string hint = silent && !plan_.target.tls() && via.empty() && conn_->buffer.size() == 0
                                   ? " (if this port serves https://, use https://)"
                                   : "";
      if (ec == http::error::end_of_stream) return fail_network(ec, "the server closed the connection without answering" + hint + via);
      if (ec == http::error::partial_message) return fail_network(ec, "the server closed the connection in the middle of the response head" + via);
      if (detail::is_client_certificate_refusal(ec)) {
        return fail({.reason = client_error_reason::tls_error,
                     .message = "the server " + plan_.target.authority() + " refused this client's TLS certificate (or its lack of one): " + ec.message(),
                     .code = ec});
      }
      // Beast's words ("header limit exceeded") name no limit.
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        return fail_network(ec, "the response head is longer than the client takes (" + std::to_string(detail::max_response_head) + " bytes)" + via);
      }
      return fail_network(ec, (detail::is_http_error(ec) ? "malformed response head" : "no response header") + hint + via);
    }
    const auto& res = conn_->response->get();
    const int status = static_cast<int>(res.result_int());
    conn_->response_headers = headers_of(res);
    diagnose([&] { return diagnostic{.kind = diagnostic_kind::response, .url = plan_.target.str(), .status = status, .attempt = attempts_}; });
    const detail::verdict v = detail::judge_response(status, conn_->response_headers, plan_.compression);
    switch (v.kind) {
      case verdict_kind::interim:
        // RFC 9110 15.2: 100 Continue, 103 Early Hints... precede the response.
        if (++interim_ > detail::max_interim_responses) {
          return fail({.reason = client_error_reason::network_error,
                       .message = "more than " + std::to_string(detail::max_interim_responses) + " interim (1xx) responses",
                       .code = http::error::bad_status,
                       .retryable = true});
        }
        new_response();
        return read_header(attempt);
      case verdict_kind::redirect: return redirect(status, v);
      case verdict_kind::open: return announce(attempt, v.coding);
      case verdict_kind::no_content:
        return fail({.reason = client_error_reason::no_content,
                     .message = "the server answered 204 No Content: the stream is over",
                     .status = status});
      case verdict_kind::unsupported_encoding:
        if (v.stacked) {
          return fail({.reason = client_error_reason::unsupported_encoding,
                       .message = std::string("the stream has ") + (v.transfer_coding ? "Transfer-Encoding " : "Content-Encoding ") +
                                  detail::escape_text(v.encoding) + ", a coding applied twice, which the client can't decode (one at most)",
                       .status = status});
        }
        if (v.transfer_coding) {
          return fail({.reason = client_error_reason::unsupported_encoding,
                       .message = "the stream has Transfer-Encoding " + detail::escape_text(v.encoding) +
                                  ", which the client can't decode (it reads chunked only)",
                       .status = status});
        }
        return fail({.reason = client_error_reason::unsupported_encoding,
                     .message = "the stream has Content-Encoding " + detail::escape_text(v.encoding) +
                                ", which the client did not ask for (it sends Accept-Encoding: " +
                                std::string(detail::accept_encoding(plan_.compression)) + ")",
                     .status = status});
      case verdict_kind::refused_status:
      case verdict_kind::wrong_content_type: break;
    }
    // Every Content-Type header, as judged (fetch: the last valid type wins).
    refused_content_type_ = v.content_type;
    // Read the start of the body for the report, within its own deadline.
    excerpt_.clear();
    excerpt_sent_.clear();
    excerpt_decoder_.reset();
    // The client asked for gzip and deflate: a refusal's JSON (an LLM API's
    // 429) is shown decoded, not as compressed bytes.
    if (const auto coding = detail::excerpt_coding(conn_->response_headers, plan_.compression)) excerpt_decoder_.emplace(*coding, error_body_limit);
    // Beast calls a sink when a read completes, before the read's handler:
    // after restart() or a failure, a read of the old connection that had
    // already completed must not reach the new attempt's state.
    conn_->response->get().body().sink = [this, attempt](std::string_view bytes) {
      if (stale(attempt)) return beast::error_code(asio::error::operation_aborted);
      take_excerpt(bytes);
      return beast::error_code{};
    };
    arm_deadline(attempt, std::min(options_.connect_timeout, error_body_timeout), [this, attempt] { refuse(attempt); });
    start_body();
    on_excerpt(attempt, {});  // what came with the head first
  }

  static void append_within_limit(std::string& to, std::string_view bytes) {
    to.append(bytes.substr(0, error_body_limit - std::min(error_body_limit, to.size())));
  }
  // Keeps the first error_body_limit bytes of a refused body, decoded when
  // it is compressed; then the bytes as sent too, for a body that is not
  // what its Content-Encoding says.
  void take_excerpt(std::string_view bytes) {
    if (!excerpt_decoder_) return append_within_limit(excerpt_, bytes);
    append_within_limit(excerpt_sent_, bytes);
    if (excerpt_.size() >= error_body_limit || excerpt_decoder_->failed()) return;
    excerpt_decoder_->input(bytes);
    for (auto piece = excerpt_decoder_->next(); !piece.empty() && excerpt_.size() < error_body_limit; piece = excerpt_decoder_->next())
      append_within_limit(excerpt_, piece);
  }
  bool excerpt_complete() const {
    // A compressed body is read until its decoded KiB is there, it proves
    // broken, or 64 KiB of it came (one that decodes to almost nothing).
    if (excerpt_.size() >= error_body_limit) return true;
    return excerpt_decoder_ && (excerpt_decoder_->failed() || excerpt_decoder_->compressed_offset() >= 64 * error_body_limit);
  }

  void on_excerpt(unsigned attempt, beast::error_code ec) {
    if (stale(attempt)) return;
    std::size_t consumed = 0;
    ec = parse_read(ec, consumed);
    if (ec && ec != http::error::need_buffer) return refuse(attempt);
    if (conn_->response->is_done() || excerpt_complete()) return refuse(attempt);
    conn_->io->async_read_some(conn_->buffer, [self = shared_from_this(), c = conn_, attempt](beast::error_code e, std::size_t) {
      self->on_excerpt(attempt, e);
      self->after_handlers();
    });
  }

  // "Fail the connection": a response that is not a stream.
  void refuse(unsigned attempt) {
    if (stale(attempt)) return;
    // Not what its Content-Encoding says: shown as sent.
    if (excerpt_decoder_ && excerpt_decoder_->failed() && excerpt_.empty()) excerpt_ = std::move(excerpt_sent_);
    const auto& res = conn_->response->get();
    const int status = static_cast<int>(res.result_int());
    if (status == 200) {
      const std::string type = detail::escape_text(refused_content_type_);
      return fail({.reason = client_error_reason::wrong_content_type,
                   .message = "the response is not text/event-stream (" +
                              (type.empty() ? std::string("no content type") : "content type " + type) + ")",
                   .status = status});
    }
    if (status == 407 && route_.forward(plan_.target)) {
      return fail({.reason = client_error_reason::proxy_refused,
                   .message = "the proxy " + route_.choice.url + " (" + route_.choice.source + ") answered 407 " +
                              detail::escape_text(std::string(res.reason())),
                   .status = status});
    }
    const bool retryable = detail::reconnects_after_status(status, options_.retry_server_errors, has_hook_);
    std::optional<milliseconds> at_least;
    if (retryable) at_least = detail::retry_after(conn_->response_headers);
    // Through a proxy, the answer may be the proxy's own (squid's 502 for an
    // unknown host, its 503 for a refused connection): the message says
    // which way the request went.
    std::string message = "the server answered " + detail::status_digits(status) + " " + detail::escape_text(std::string(res.reason())) + through_proxy();
    // A redirect status that got here had no Location to follow: say so.
    if (detail::is_redirect_status(status)) message += ", a redirect without a Location";
    // A server error ends the stream for good unless retry_server_errors:
    // the message names the option (few who meet a 503 know it).
    if (!retryable && options_.reconnect && !options_.retry_server_errors && detail::reconnects_after_status(status, true, has_hook_))
      message += "; not retried: set retry_server_errors to reconnect after it";
    fail({.reason = client_error_reason::http_status,
          .message = std::move(message),
          .retryable = retryable,
          .status = status,
          .at_least = at_least});
  }

  void redirect(int status, const detail::verdict& v) {
    if (v.conflicting_locations) {
      return fail({.reason = client_error_reason::redirect_refused,
                   .message = "different Location headers: " + detail::escape_text(v.location),
                   .retryable = true,
                   .status = status});
    }
    auto outcome = detail::follow_redirect(plan_, status, v.location, redirects_, options_);
    if (!outcome.next) {
      return fail({.reason = client_error_reason::redirect_refused,
                   .message = std::move(outcome.refusal),
                   .retryable = outcome.retryable,
                   .status = status});
    }
    ++redirects_;
    diagnose([&] { return diagnostic{.kind = diagnostic_kind::redirect, .url = outcome.next->target.str(), .status = status, .attempt = attempts_}; });
    end_attempt();
    prepare(std::move(*outcome.next), attempt_kind::redirect);
  }

  // --- announce the connection, interpret the stream

  beast::error_code feed_parser(std::string_view bytes) {
    parse_error err;
    {
      // One lock for the handlers of a piece instead of one per event (a
      // sixth of the callback path's instructions on small events). close()
      // from another thread waits at most for the rest of the piece, whose
      // handlers it already stops.
      std::lock_guard lock(handler_mutex_);
      feeding_ = true;
      struct reset_flag {
        bool& flag;
        ~reset_flag() { flag = false; }
      } reset{feeding_};
      err = parser_.feed(bytes);
    }
    if (err) {
      limit_error_ = err;
      return beast::errc::make_error_code(beast::errc::message_size);
    }
    // close() from a handler (or a handler that threw): stop parsing the
    // rest of this read.
    if (closed_.load()) return asio::error::operation_aborted;
    return {};
  }

  void announce(unsigned attempt, detail::content_coding coding) {
    decoder_.reset();
    held_error_ = {};
    if (coding != detail::content_coding::identity) {
      decoder_.emplace(coding);
      decoder_->limit_ratio(options_.max_compression_ratio);
    }
    conn_->response->get().body().sink = [this, attempt](std::string_view bytes) {
      // As the excerpt's sink: bytes of an attempt that ended (restart())
      // would be parsed into the next attempt's parser.
      if (stale(attempt)) return beast::error_code(asio::error::operation_aborted);
      if (!decoder_) return feed_parser(bytes);
      decoder_->input(bytes);
      // Paused between two pieces: decoded after resume_reading().
      if (decoder_->holding()) return beast::error_code{};
      return drain_decoder();
    };
    reconnect_plan_ = plan_;
    opened_ = true;
    opened_at_ = std::chrono::steady_clock::now();
    set_state(client_state::open);
    if (handlers_.on_open) {
      response_info info{static_cast<int>(conn_->response->get().result_int()), conn_->response_headers, plan_.target.str(),
                         route_.choice};
      call([&] { handlers_.on_open(info); });
      batch_open_ = has_batch_end_;
      end_batch();
    }
    start_body();
    arm_idle(attempt);
    read_body(attempt);
  }

  // Decoded in fixed-size pieces: a bomb meets the parser's limits. One
  // compressed read may decode to max_compression_ratio times its size (64
  // MiB of tiny events from a 64 KiB read at the default 1000), so each
  // piece closes a batch: a consumer that pauses reading at its bound
  // (event_stream) stops it between two pieces, and the input left waits
  // in the decoder, compressed. Per read, a gzip stream of tiny events
  // took an event_stream (and the contract service) to 250 MiB (a probe).
  beast::error_code drain_decoder() {
    for (std::string_view piece; !(piece = decoder_->next()).empty();) {
      if (const beast::error_code ec = feed_parser(piece)) return ec;
      end_batch();
      // A restart() from a handler ends the connection here too, not after
      // the rest of the read (up to 64 MiB of events decoded: probe-fuzz2 2).
      if (read_paused_.load() || restart_posted_.load()) {
        decoder_->hold();
        return {};
      }
    }
    if (decoder_->failed()) return beast::errc::make_error_code(beast::errc::illegal_byte_sequence);
    return {};
  }

  // After a pause: what the decoder held, before anything more is read.
  void drain_held(unsigned attempt) {
    const beast::error_code ec = drain_decoder();
    sync_last_event_id();
    end_batch();
    if (ec) return body_failed(ec);
    if (held_error_ && !decoder_->holding()) return body_failed(std::exchange(held_error_, {}));
    read_body(attempt);
  }

  void arm_idle(unsigned attempt) {
    const std::size_t buffered = conn_->buffer.size();
    arm_deadline(attempt, options_.idle_timeout, [this, attempt, buffered] {
      // Bytes Beast took without completing the read (a chunk-size line
      // arriving a byte at a time) count too: only its completions consume.
      if (conn_->buffer.size() != buffered) return arm_idle(attempt);
      fail({.reason = client_error_reason::idle_timeout,
            .message = "nothing arrived for " + std::to_string(options_.idle_timeout.count()) + " ms",
            .code = asio::error::timed_out,
            .retryable = true});
    });
  }

  void read_body(unsigned attempt) {
    if (stale(attempt)) return;
    const bool held = decoder_ && decoder_->holding();
    if (!held && conn_->response->is_done()) return end_of_stream();
    if (read_paused_.load()) {
      // Parked until resume_reading(); no idle timeout while the consumer waits.
      parked_attempt_ = attempt;
      disarm_deadline();
      return;
    }
    // The posted restart ends this connection: nothing more is read or decoded.
    if (restart_posted_.load()) return;
    if (held) return drain_held(attempt);
    // Beast reads what the buffer's capacity leaves free, and the head's
    // reads (16 KiB at a time) may have grown it past a small
    // read_buffer_size: back to what it holds, so that body reads start at
    // 512 B and grow only up to read_buffer_size (on_body). Reads of 16 KiB
    // broke the bound event_stream documents from read_buffer_size.
    auto& buffer = conn_->buffer;
    if (buffer.capacity() > options_.read_buffer_size && buffer.size() < options_.read_buffer_size) buffer.shrink_to_fit();
    // What came with the head, first (also after a pause in on_open).
    if (conn_->unparsed) return on_body(attempt, {}, 0);
    conn_->io->async_read_some(conn_->buffer, [self = shared_from_this(), c = conn_, attempt](beast::error_code ec, std::size_t n) {
      self->on_body(attempt, ec, n);
      self->after_handlers();
    });
  }

  // Before a body's first bytes (some may have come with the head).
  void start_body() {
    // The head's reads take 16 KiB at a time: an idle stream kept all of
    // it, in pages the TLS handshake had touched (12-16 KiB of an idle
    // https stream's ~52). Body reads start small and grow when they fill.
    auto& buffer = conn_->buffer;
    if (buffer.capacity() - buffer.size() > 4096) buffer.shrink_to_fit();
    buffer.max_size(std::max(conn_->limit, buffer.size()));  // repair_head may have raised it
    conn_->unparsed = buffer.size() != 0;
    conn_->framing.reset();
    conn_->framed = 0;
    conn_->added = 0;
    if (conn_->response->chunked()) conn_->framing.emplace();
  }

  // Sets chunk framing Beast would refuse right (a CR before a bare LF,
  // blanks and extensions in a size line) in the bytes the buffer got since
  // the last call; chunk_framing says why.
  void repair_framing() {
    auto& c = *conn_;
    if (!c.framing) return;
    const auto bytes = c.buffer.data();
    const std::string_view all(static_cast<const char*>(bytes.data()), bytes.size());
    const std::size_t keep = std::min(c.framed, all.size());
    if (const auto fixed = c.framing->repair(all.substr(keep))) {
      const std::size_t grow = fixed->size() - (all.size() - keep);
      if (grow > c.buffer.max_size() - c.buffer.size()) {
        // A read that filled the buffer: the bytes the repair adds go past
        // its limit until parsed (a bare LF or a blank in every line of a
        // full read failed the stream: probe-fuzz2 1). They are at most as
        // many again (a CR for each LF, ";" before each blank).
        if (c.buffer.size() + grow > 2 * c.limit) {
          c.framing.reset();  // no room: Beast refuses the bare LF
          return;
        }
        c.buffer.max_size(c.buffer.size() + grow);
      }
      c.buffer.prepare(grow);  // keeps the bytes (maybe moved)
      c.buffer.commit(grow);
      std::memcpy(static_cast<char*>(c.buffer.data().data()) + keep, fixed->data(), fixed->size());
      c.added += grow;
    }
    c.framed = c.buffer.size();
  }

  // Parses everything the buffer holds (one put() takes one chunk header
  // or body: a server sending 1-byte chunks cost an io_context round per
  // chunk when Beast's read parsed them). Adds the bytes parsed to
  // `consumed`.
  beast::error_code parse_buffered(std::size_t& consumed) {
    auto& parser = *conn_->response;
    conn_->unparsed = false;
    repair_framing();
    while (conn_->buffer.size() != 0 && !parser.is_done()) {
      beast::error_code ec;
      const std::size_t used = parser.put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      conn_->framed -= std::min(used, conn_->framed);
      consumed += used;
      if (ec == http::error::need_more) break;
      if (ec || used == 0) return ec;
    }
    // Back to the limit once the repair's bytes are parsed (never below
    // what the buffer holds).
    conn_->buffer.max_size(std::max(conn_->limit, conn_->buffer.size()));
    return {};
  }

  // After a body read that ended with `ec`: parses what it brought. At the
  // end of the stream, a body that runs to the close is complete and any
  // other is cut short (Beast's partial_message), as Beast's own read does.
  beast::error_code parse_read(beast::error_code ec, std::size_t& consumed) {
    // A FIN without TLS's close_notify ends a body that runs to the close,
    // as over TCP (many TLS servers end so; browsers and curl read it so);
    // any other body is cut short either way.
    if (detail::is_tls_truncation(ec)) ec = asio::error::eof;
    if (ec && ec != asio::error::eof) return ec;
    const bool at_end = static_cast<bool>(ec);
    ec = parse_buffered(consumed);
    if (ec || !at_end || conn_->response->is_done()) return ec;
    conn_->response->put_eof(ec);
    return ec;
  }

  void on_body(unsigned attempt, beast::error_code ec, std::size_t read) {
    if (stale(attempt)) return;
    // Before parsing: whether the read filled the buffer (below).
    const bool filled = read > 0 && conn_->buffer.size() + 64 >= conn_->buffer.capacity();
    std::size_t consumed = 0;
    ec = parse_read(ec, consumed);
    // Counted as sent: without the bytes repair_framing added.
    const std::size_t added = std::min(consumed, conn_->added);
    conn_->added -= added;
    consumed -= added;
    // A read takes at most the buffer's free capacity (512 B at least), and
    // the buffer only grows when a read asks for more than it has: left
    // alone it stays at the 512 B of the first read, one recv() per 512 B.
    // A read that filled it says the socket had more, so grow it toward
    // read_buffer_size; idle streams keep the small one.
    if (consumed > 0) {
      bump(bytes_, consumed);
      // One clock read per read that delivered events, not per event.
      const std::uint64_t events = events_.load(std::memory_order_relaxed);
      if (events != events_timed_) {
        events_timed_ = events;
        last_event_time_.store(std::chrono::system_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      }
      diagnose([&] { return diagnostic{.kind = diagnostic_kind::bytes_received, .url = plan_.target.str(), .bytes = consumed, .attempt = attempts_}; });
    }
    if (!ec && filled) {
      auto& buffer = conn_->buffer;
      if (buffer.capacity() < options_.read_buffer_size) buffer.reserve(std::min(options_.read_buffer_size, buffer.capacity() * 4));
    }
    sync_last_event_id();
    // Before the next read: a consumer that pauses reading there stops it.
    end_batch();
    if (ec == http::error::need_buffer) ec = {};
    if (ec && decoder_ && decoder_->holding() && !decoder_->failed() && !limit_error_) {
      // What the decoder holds came first: delivered before the error.
      held_error_ = ec;
      return read_body(attempt);
    }
    if (ec) return body_failed(ec);
    arm_idle(attempt);
    read_body(attempt);
  }

  // The body's read or its decoding failed (a parser limit, the coding, the
  // connection).
  void body_failed(beast::error_code ec) {
    if (decoder_ && decoder_->failed()) return fail_decode();
    if (limit_error_) {
      return fail({.reason = client_error_reason::limit_exceeded,
                   .message = "the stream broke a parser limit at byte " + std::to_string(limit_error_.offset) + ": " +
                              std::string(error_message(limit_error_.code)),
                   .code = make_error_code(limit_error_.code),
                   .status = 200,
                   .offset = limit_error_.offset});
    }
    if (ec == http::error::end_of_stream) return end_of_stream();
    // partial_message: the connection closed inside a chunk or before a
    // Content-Length's end, which is no malformed body. Said in words:
    // Beast's "partial message" read as if an event had been cut.
    if (ec == http::error::partial_message) {
      return fail({.reason = client_error_reason::network_error,
                   .message = "the stream broke off: the connection closed in the middle of an HTTP chunk or before the "
                              "Content-Length's end",
                   .code = ec,
                   .retryable = true});
    }
    // Beast's "buffer overflow" read as a memory bug (a probe): a chunk's
    // size line, or a trailer, that did not fit the read buffer.
    if (ec == http::error::buffer_overflow) {
      return fail_network(ec, "malformed response body: an HTTP chunk's size line or a trailer is longer than the client's buffer (" +
                                  std::to_string(conn_->buffer.max_size()) + " bytes)");
    }
    fail_network(ec, detail::is_http_error(ec) ? "malformed response body" : "the stream broke off");
  }

  void fail_decode() {
    fail({.reason = client_error_reason::decode_error,
          .message = "the compressed stream can't be decoded: " + decoder_->error(),
          .retryable = true,
          .status = 200});
  }

  void end_of_stream() {
    if (decoder_ && !decoder_->finish()) return fail_decode();
    fail({.reason = client_error_reason::end_of_stream, .message = "the server ended the stream", .retryable = true});
  }

  // --- timers

  void arm_deadline(unsigned attempt, milliseconds timeout, std::function<void()> on_expiry) {
    if (timeout.count() <= 0) return disarm_deadline();
    deadline_.expires_after(detail::timer_wait(timeout));
    deadline_.async_wait([self = shared_from_this(), attempt, on_expiry = std::move(on_expiry)](beast::error_code ec) {
      if (ec || self->stale(attempt)) return;
      // A re-armed timer completes the old wait with operation_aborted;
      // only a real expiry gets here.
      if (self->deadline_.expiry() > std::chrono::steady_clock::now()) return;
      on_expiry();
      self->after_handlers();
    });
  }

  // The expiry to the end of time, not cancel(): a wait that has already
  // completed (its handler queued behind the caller's) is beyond cancel's
  // reach, and found the expiry past. A connect timeout then failed a
  // stream that had just opened (idle_timeout 0; 48 of 14,113 opens with
  // a 1 ms timeout, a helper's review). expires_at cancels the waits that
  // are still pending.
  void disarm_deadline() { deadline_.expires_at(asio::steady_timer::time_point::max()); }

  // --- reestablish the connection, or fail it

  // " (through the proxy URL, SOURCE)" when the request went to a proxy in
  // absolute form (an http:// target), whose answer may be the proxy's own.
  std::string through_proxy() const {
    return route_.forward(plan_.target) ? " (through the proxy " + route_.choice.url + ", " + route_.choice.source + ")" : "";
  }

  void fail_network(beast::error_code ec, const std::string& what) {
    fail({.reason = client_error_reason::network_error, .message = what + ": " + ec.message(), .code = ec, .retryable = true});
  }

  // How an attempt ended.
  struct ending {
    client_error_reason reason = client_error_reason::network_error;
    std::string message;
    beast::error_code code = {};
    bool retryable = false;  // reconnect, if the options allow
    int status = 0;          // the response's, when there was one
    std::optional<milliseconds> at_least = {};  // Retry-After
    std::uint64_t offset = 0;                   // limit_exceeded
  };

  // Ends the attempt and reports it; then waits and reconnects, or closes.
  void fail(ending e) {
    client_error error;
    error.reason = e.reason;
    error.code = e.code;
    error.message = std::move(e.message);
    error.status = e.status;
    error.offset = e.offset;
    if (e.status != 0 && conn_) error.headers = conn_->response_headers;
    if (e.reason == client_error_reason::http_status || e.reason == client_error_reason::wrong_content_type ||
        e.reason == client_error_reason::proxy_refused)
      error.body = excerpt_;
    error.proxy = route_.choice;
    const bool again = detail::may_send_again(static_cast<bool>(plan_.body), options_.replay_body, {request_sent_, opened_, e.status}, has_hook_);
    error.will_reconnect = e.retryable && options_.reconnect && again;
    if (e.retryable && options_.reconnect && !again) {
      error.message += opened_ ? "; the request (with a body) is not sent again after its stream opened: set replay_body to resend it"
                               : "; the request (with a body) was sent and not refused, so it is not sent again: set replay_body to resend it";
    }
    end_attempt();
    sync_last_event_id();
    // A stream that stayed open at least as long as the wait another failure
    // would bring (without jitter) is not a failure either, even without an
    // event: a proxy that cuts idle streams (squid read_timeout, tinyproxy
    // Timeout, nginx proxy_read_timeout, an LB's idle timeout) would
    // otherwise push a quiet but healthy stream to max_delay between
    // connections, missing what is sent meanwhile. It was connected at
    // least half the time; a stream that closes at once still backs off.
    const bool lived = opened_ && std::chrono::steady_clock::now() - opened_at_ >=
                                      detail::reconnect_delay(options_.backoff, reconnection_time_, failures_ + 1, 0);
    failures_ = (got_event_ || lived) ? 0 : failures_ + 1;
    previous_reason_ = e.reason;
    previous_status_ = e.status;
    if (!error.will_reconnect) {
      set_state(client_state::closed);
      if (e.reason == client_error_reason::end_of_stream && handlers_.on_end) {
        const response_info info{200, conn_ ? conn_->response_headers : header_list{}, plan_.target.str(), route_.choice};
        call([&] { handlers_.on_end(info); });
      } else if (handlers_.on_error) {
        call([&] { handlers_.on_error(error); });
      }
      closed_.store(true);
      shutdown();
      return;
    }
    milliseconds delay = detail::reconnect_delay(options_.backoff, reconnection_time_, failures_, static_cast<std::uint32_t>(random_()));
    if (e.at_least && *e.at_least > delay) delay = *e.at_least;
    error.reconnect_delay = delay;
    next_delay_ = delay;
    diagnose([&] {
      return diagnostic{.kind = diagnostic_kind::reconnect_scheduled, .url = plan_.target.str(), .status = e.status, .delay = delay,
                        .reason = e.reason, .attempt = attempts_};
    });
    error.next_attempt = std::chrono::steady_clock::now() + delay;
    set_state(client_state::connecting);
    if (handlers_.on_error) call([&] { handlers_.on_error(error); });
    if (closed_.load()) return;
    parser_.reset();
    const unsigned attempt = attempt_;
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([self = shared_from_this(), attempt](beast::error_code ec) {
      if (ec || self->stale(attempt)) return;
      // Paused: the consumer takes nothing, so no new attempt either (a
      // server refusing every attempt would fill its buffer with errors).
      if (self->read_paused_.load()) {
        self->parked_reconnect_ = attempt;
        return;
      }
      self->reconnect_now();
    });
  }
  void reconnect_now() {
    reconnects_.fetch_add(1);
    connect(attempt_kind::reconnect);
    after_handlers();
  }

  // Closes the connection; completions still in flight see a new attempt number.
  void end_attempt() {
    ++attempt_;
    deadline_.cancel();
    write_error_ = {};
    if (conn_ && conn_->io) conn_->io->close();
  }

  void shutdown() {
    end_attempt();
    reconnect_timer_.cancel();
    conn_.reset();
    // closed_ is set on every way here, so no handler runs again: let go of
    // them and what they hold now, not when the last pending operation
    // ends. On the strand, where they are read, and none is running. A
    // handler that holds its client's owner (a session that owns the client
    // and is captured by its on_event) would otherwise keep both alive for
    // ever. What they hold may close this client again: close() only posts.
    const client_handlers released = std::exchange(handlers_, {});
    if (const auto done = std::exchange(on_shutdown_, nullptr)) done();
  }

  asio::strand<asio::any_io_executor> strand_;
  const client_options options_;
  client_handlers handlers_;  // released by shutdown(), or release_handlers()
  using registry = detail::context_registry<impl, &impl::release_handlers>;
  registry* registry_ = nullptr;  // the execution context's
  std::list<impl*>::iterator registered_;
  std::function<void()> on_shutdown_;  // event_stream's; called by shutdown(), once
  std::shared_ptr<detail::transport_factory> transport_;
  parser parser_;
  asio::steady_timer deadline_;         // connect timeout, error body, then idle timeout
  asio::steady_timer reconnect_timer_;  // the wait before a reconnect
  std::minstd_rand random_;

  detail::request_plan reconnect_plan_;  // what connect() sends
  detail::request_plan plan_;            // this attempt's (after redirects)
  detail::proxy_settings proxy_settings_;  // read once, from the options and the environment
  detail::proxy_route route_;              // this attempt's proxy (chosen per target)
  int redirects_ = 0;
  int interim_ = 0;

  // One attempt's transport, buffers and HTTP state. Shared with the
  // handlers of its pending operations: closing the transport makes them
  // complete, and they must not find the objects they use destroyed.
  struct connection {
    explicit connection(std::size_t buffer_limit) : buffer(buffer_limit), limit(buffer_limit) {}
    std::unique_ptr<detail::transport> io;
    beast::flat_buffer buffer;
    const std::size_t limit;  // the buffer's max_size, but while a repair's bytes are in it
    std::optional<detail::response_parser> response;
    std::optional<detail::request_message> request;
    std::shared_ptr<const std::string> body;  // what request's body views
    header_list response_headers;
    bool opened = false;  // connected (through the proxy, TLS handshake done)
    // A chunked body's framing, set right before Beast parses it
    // (repair_framing): the buffer's first `framed` bytes are done, and
    // `added` bytes it added are not yet counted off client_stats::bytes.
    std::optional<detail::chunk_framing> framing;
    std::size_t framed = 0;
    std::size_t added = 0;
    bool unparsed = false;  // the buffer has bytes parse_buffered has not seen
  };
  std::shared_ptr<connection> conn_;
  std::string excerpt_;                                     // a refused body's start, decoded
  std::string excerpt_sent_;                                // ... as sent
  std::optional<detail::content_decoder> excerpt_decoder_;  // ... when it is compressed
  std::string refused_content_type_;  // of the response being refused
  beast::error_code write_error_;  // a failed body write whose response is still read

  unsigned attempt_ = 0;
  bool got_event_ = false;
  parse_error limit_error_;  // the parser's error, behind Beast's read error
  std::optional<detail::content_decoder> decoder_;  // a gzip or deflate stream's, from announce()
  beast::error_code held_error_;  // the read's error, due once the decoder's held input is delivered
  std::uint64_t failures_ = 0;  // attempts in a row that ended without an event
  bool has_hook_ = false;
  bool has_batch_end_ = false;  // handlers_.on_batch_end is set
  bool batch_open_ = false;     // something was handed out since the last on_batch_end
  bool request_sent_ = false;  // this attempt's request was written whole
  bool opened_ = false;        // this attempt's stream opened
  std::chrono::steady_clock::time_point opened_at_{};  // when it opened
  std::uint64_t attempts_ = 0;  // attempt_info::number and diagnostic::attempt: one count
  std::optional<client_error_reason> previous_reason_;  // none before the first attempt ends
  int previous_status_ = 0;
  milliseconds reconnection_time_{3000};
  std::string unsendable_id_reported_;
  std::exception_ptr handler_exception_;

  std::atomic<bool> closed_{false};
  detail::state_cell state_;
  std::atomic<bool> restart_posted_{false};  // a restart() is queued on the strand
  std::atomic<bool> resume_posted_{false};   // a resume_reading() is
  std::atomic<bool> close_posted_{false};    // close() posted shutdown()
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::chrono::system_clock::rep> last_event_time_{0};
  std::atomic<bool> read_paused_{false};
  std::uint64_t events_timed_ = 0;    // events_ when last_event_time_ was taken
  unsigned parked_attempt_ = 0;       // the attempt whose read waits for resume_reading()
  unsigned parked_reconnect_ = 0;     // the attempt whose due reconnect waits for it
  milliseconds next_delay_{0};        // diagnostics: the wait before the next attempt
  std::recursive_mutex handler_mutex_;
  bool feeding_ = false;  // feed_parser() holds handler_mutex_; the strand only
  bool id_frozen_ = false;  // closed: last_event_id_ is the last delivered event's for good
  mutable std::mutex id_mutex_;
  std::string last_event_id_;  // copy of the parser's, for last_event_id() from any thread
};

client::client(asio::any_io_executor executor, client_options options, client_handlers handlers)
    : client(std::move(executor), std::move(options), std::move(handlers), nullptr) {}

client::client(asio::any_io_executor executor, client_options options, client_handlers handlers,
               std::shared_ptr<detail::transport_factory> transport)
    : client(std::move(executor), std::move(options), std::move(handlers), std::move(transport), nullptr) {}

client::client(asio::any_io_executor executor, client_options options, client_handlers handlers,
               std::shared_ptr<detail::transport_factory> transport, std::function<void()> on_shutdown)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), std::move(handlers), std::move(transport),
                                   std::move(on_shutdown))) {
  impl_->start();
}

client::~client() {
  if (impl_) close();
}

client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    if (impl_) close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

// A moved-from client has no impl_ and behaves as a closed one.
void client::pause_reading() {
  if (impl_) impl_->pause_reading();
}
void client::resume_reading() {
  if (impl_) impl_->resume_reading();
}
client_stats client::stats() const noexcept { return impl_ ? impl_->stats() : client_stats{}; }
void client::close() {
  if (impl_) impl_->close();
}
void client::restart() {
  if (impl_) impl_->restart();
}
client_state client::state() const noexcept { return impl_ ? impl_->state() : client_state::closed; }
std::string client::last_event_id() const { return impl_ ? impl_->last_event_id() : std::string(); }
std::uint64_t client::reconnects() const noexcept { return impl_ ? impl_->reconnects() : 0; }

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
  handlers.on_end = [&](const response_info& info) {
    result.ended = true;
    if (extra.on_end) extra.on_end(info);
    io.stop();
  };
  handlers.on_error = [&](const client_error& error) {
    if (extra.on_error) extra.on_error(error);
    if (!error.will_reconnect) {
      result.error = std::make_unique<client_error>(error);
      io.stop();
    }
  };
  asio::steady_timer timer(io);
  if (timeout.count() != 0) {
    // Below 0 (a deadline minus now, once it passed): it times out at once.
    timer.expires_after(detail::timer_wait(std::max(timeout, milliseconds(0))));
    timer.async_wait([&](beast::error_code ec) {
      if (ec) return;
      result.timed_out = true;
      c->close();
      io.stop();
    });
  }
  c.emplace(io.get_executor(), std::move(options), std::move(handlers));
  // A handler's exception leaves run() with the client already closed.
  io.run();
  result.reconnects = c->reconnects();
  c->close();
  return result;
}

}  // namespace ssekit

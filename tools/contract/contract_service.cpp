// The contract-test service: an HTTP/1.1 server for the harness's requests,
// one ssekit::client per stream entity, and per entity a callback poster
// (callback_poster.hpp) that sends its messages in the order the client
// produced them. What the JSON says is protocol.hpp's; this file is the
// server, on Beast.
//
// Ownership: `state` is shared by the service object, the server sessions
// and the posted handlers; sessions and callback posters are kept alive by
// their pending operations. Everything of the service runs on one strand,
// so nothing here takes a lock; a client's handlers run on the client's own
// strand and only post copies (JSON text) to ours.
#include "contract_service.hpp"

#include "callback_poster.hpp"
#include "protocol.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <ostream>
#include <utility>

#include "listen_endpoint.hpp"
#include "request_head.hpp"
#include "ssekit/client.hpp"

namespace ssekit::contract {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using strand_type = net::strand<net::any_io_executor>;

namespace {

constexpr std::uint64_t max_request_body = 1024 * 1024;  // harness JSON is small
constexpr std::size_t max_request_header = 8 * 1024;

std::string_view sv(beast::string_view s) noexcept { return {s.data(), s.size()}; }

using response = http::response<http::string_body>;

response make_response(http::status status, std::string body = {}, std::string_view type = "text/plain; charset=utf-8") {
  response res{status, 11};
  res.set(http::field::server, "ssekit-contract-service");
  res.set(http::field::date, tools::http_date());
  if (!body.empty()) {
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
  }
  return res;
}

response bad_request(std::string why) { return make_response(http::status::bad_request, std::move(why) + "\n"); }

// One stream entity: the client and its callback queue.
struct entity {
  std::uint64_t id = 0;
  std::string name;  // "stream N (tag)" for the log
  client_options options;
  std::unique_ptr<client> sse;
  std::shared_ptr<callback_poster> poster;
  bool closed = false;
  // Messages posted from the client's strand and not yet queued (bytes),
  // and whether the client is paused for them (see start_client()).
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> held{false};
};

class session;

}  // namespace

class service::state : public std::enable_shared_from_this<state> {
 public:
  state(net::any_io_executor executor, service_options options)
      : strand_(net::make_strand(std::move(executor))), options_(std::move(options)), acceptor_(strand_), accept_retry_(strand_) {}

  void listen() {
    const tcp::endpoint endpoint = ssekit::tools::resolve_listen_endpoint(strand_, options_.address, options_.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
    host_ = ssekit::tools::url_host(endpoint.address());
    accept();
  }

  void stop() {
    net::post(strand_, [self = shared_from_this()] { self->stop_now(); });
  }

  std::uint16_t port() const noexcept { return port_; }
  // The address listened on, as a URL's host.
  const std::string& host() const noexcept { return host_; }
  std::size_t streams() const noexcept { return streams_.load(); }
  std::size_t peak_queued() const noexcept { return peak_queued_.load(); }
  std::size_t peak_in_flight() const noexcept { return peak_in_flight_.load(); }

  // What a session answers; `after` runs once the answer is written.
  struct reply {
    response res;
    std::function<void()> after;
  };
  reply handle(const http::request<http::string_body>& req);

  void forget(session* s) { sessions_.erase(s); }
  const service_options& options() const noexcept { return options_; }
  void lower_limits(std::size_t connections, std::size_t streams) noexcept {
    options_.max_connections = std::max<std::size_t>(1, std::min(connections, options_.max_connections));
    options_.max_streams = std::min(streams, options_.max_streams);
  }
  // Orders the sessions' waits for a request (the oldest is shed first).
  std::uint64_t next_wait() noexcept { return ++wait_sequence_; }

 private:
  void accept();
  void make_room();
  void stop_now();
  void log(const std::string& line) {
    if (options_.log) *options_.log << line << '\n' << std::flush;
  }

  reply status(const http::request<http::string_body>& req);
  reply create(const http::request<http::string_body>& req);
  reply command(entity& e, const http::request<http::string_body>& req);
  reply remove(std::uint64_t id);
  void start_client(const std::shared_ptr<entity>& e);
  void close_entity(entity& e);

  strand_type strand_;
  service_options options_;  // changed only by lower_limits(), before the handlers run
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  std::uint16_t port_ = 0;
  std::string host_;
  std::uint64_t wait_sequence_ = 0;
  bool stopped_ = false;
  std::map<session*, std::weak_ptr<session>> sessions_;
  std::map<std::uint64_t, std::shared_ptr<entity>> entities_;
  std::uint64_t next_id_ = 0;
  std::atomic<std::size_t> streams_{0};
  std::atomic<std::size_t> peak_queued_{0};
  std::atomic<std::size_t> peak_in_flight_{0};
};

namespace {

// One connection from the harness: requests answered in turn (keep-alive).
// Each request must arrive whole within request_timeout (the tcp_stream's
// deadline); a malformed one is answered 400/413/431 and the connection closed.
class session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<service::state> svc, tcp::socket socket) : svc_(std::move(svc)), stream_(std::move(socket)) {}
  ~session() { svc_->forget(this); }

  void start() { read(); }

  void close() {
    waiting_since_ = 0;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  // Waiting for (the rest of) a request since this (0: not waiting).
  std::uint64_t waiting_since() const noexcept { return waiting_since_; }

 private:
  void read() {
    request_.emplace();
    request_->header_limit(max_request_header);
    request_->body_limit(max_request_body);
    head_consumed_ = 0;
    scan_ = {};
    waiting_since_ = svc_->next_wait();
    stream_.expires_after(svc_->options().request_timeout);
    read_head();
  }

  // The head by our own reads: tools::put_head enforces the limit on the
  // whole head, which Beast's async_read would not (request_head.hpp).
  void read_head() {
    const auto data = buffer_.data();
    scan_.scan(static_cast<unsigned char*>(data.data()), data.size(), [](unsigned char&) {});
    const std::size_t before = buffer_.size();
    const beast::error_code ec = tools::put_head(*request_, buffer_, head_consumed_, max_request_header);
    scan_.consumed(before - buffer_.size());
    if (scan_.folded) return refuse(400, "a folded header line (obs-fold, RFC 9112 section 5.2)");
    if (scan_.unsupported_version) return refuse(505, "an HTTP version this service does not speak (it speaks HTTP/1.1 and 1.0)");
    if (ec != http::error::need_more) return on_head(ec);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code rec, std::size_t n) {
      if (rec) return self->close();  // gone, timed out, or stop()
      self->buffer_.commit(n);
      self->read_head();
    });
  }

  void on_head(beast::error_code ec) {
    if (ec) return refuse(tools::refused_request_status(ec), ec.message());
    if (!tools::framed_body(request_->get())) return refuse(400, "Transfer-Encoding other than chunked");
    if (const auto host = tools::host_field_problem(request_->get()); !host.empty()) return refuse(400, std::string(host));
    if (request_->is_done()) return on_request();
    if (tools::wants_continue(request_->get())) {
      net::async_write(stream_, net::buffer(tools::continue_response.data(), tools::continue_response.size()),
                       [self = shared_from_this()](beast::error_code e, std::size_t) {
                         if (e) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    tools::read_body(stream_, buffer_, *request_, max_request_body,  // 4x on the wire, framing included
                      [self = shared_from_this()](beast::error_code e) {
      // Gone, timed out or stopped: close; malformed or too large: say so.
      if (e == http::error::end_of_stream || e == http::error::partial_message ||
          (e && e.category() != http::make_error_code(http::error::bad_target).category()))
        return self->close();
      if (e) return self->refuse(tools::refused_request_status(e), e.message());
      self->on_request();
    });
  }

  // A request we can't read: say why, then close.
  void refuse(unsigned code, const std::string& why) {
    waiting_since_ = 0;
    response_ = make_response(http::int_to_status(code), "bad request: " + why + "\n");
    response_.keep_alive(false);
    // A HEAD's refusal carries no body either, once the method is known
    // (RFC 9110 9.3.2; a probe).
    head_only_ = request_ && request_->get().method() == http::verb::head;
    refused_ = true;
    write();
  }

  // After a refusal: FIN after the answer, then discard what the client
  // still sends until it closes (bounded), so that unread bytes do not turn
  // the close into a reset that loses the answer.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }
  void drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }

  void on_request() {
    waiting_since_ = 0;
    const auto& req = request_->get();
    auto [res, after] = svc_->handle(req);
    response_ = std::move(res);
    after_ = std::move(after);
    response_.keep_alive(tools::keeps_alive(req) && !after_);  // every Connection line
    // HTTP/1.0 persists only when the answer says so (RFC 9112 C.2.2): a
    // kept 1.0 connection without it left the client waiting for the close.
    if (req.version() == 10 && response_.keep_alive()) response_.set(http::field::connection, "keep-alive");
    head_only_ = req.method() == http::verb::head;
    write();
  }

  void write() {
    // A 204 carries no Content-Length (RFC 9110, 8.6).
    if (response_.result() != http::status::no_content) response_.prepare_payload();
    // HEAD: the Content-Length a GET would get, no body.
    if (head_only_) response_.body().clear();
    stream_.expires_after(svc_->options().request_timeout);
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_write(e); });
  }

  void on_write(beast::error_code ec) {
    auto after = std::move(after_);
    if (refused_ && !ec) linger();
    else if (ec || !response_.keep_alive()) close();
    else read();
    if (after) after();
  }

  std::shared_ptr<service::state> svc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{tools::request_buffer_limit(max_request_header, max_request_body)};
  std::optional<http::request_parser<http::string_body>> request_;
  std::size_t head_consumed_ = 0;
  tools::head_scan scan_;  // obs-fold (request_head.hpp)
  std::uint64_t waiting_since_ = 0;
  bool head_only_ = false;
  bool refused_ = false;
  response response_;
  std::function<void()> after_;
};

}  // namespace

void service::state::accept() {
  acceptor_.async_accept(strand_, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped_) return;
    if (ec) {
      // Out of file descriptors (EMFILE) or a connection reset before
      // accept: try again shortly instead of spinning.
      self->accept_retry_.expires_after(std::chrono::milliseconds(50));
      self->accept_retry_.async_wait([self](beast::error_code wec) {
        if (!wec && !self->stopped_) self->accept();
      });
      return;
    }
    if (self->sessions_.size() >= self->options_.max_connections) self->make_room();
    if (self->sessions_.size() >= self->options_.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);  // every connection is mid-answer: refuse this one
    } else {
      auto s = std::make_shared<session>(self, std::move(socket));
      self->sessions_.emplace(s.get(), s);
      s->start();
    }
    self->accept();
  });
}

// At the connection limit: closes the connection that has waited longest
// for a request, so that idle sockets cannot lock out the harness.
void service::state::make_room() {
  std::shared_ptr<session> oldest;
  for (auto& [ptr, weak] : sessions_) {
    auto s = weak.lock();
    if (s && s->waiting_since() != 0 && (!oldest || s->waiting_since() < oldest->waiting_since())) oldest = std::move(s);
  }
  if (!oldest) return;
  oldest->close();
  sessions_.erase(oldest.get());  // its pending read completes later; ~session erases nothing then
}

void service::state::stop_now() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto& [id, e] : entities_) close_entity(*e);
  entities_.clear();
  streams_.store(0);
  // Copied: a closed session may be destroyed while we iterate.
  std::vector<std::shared_ptr<session>> open;
  for (auto& [ptr, weak] : sessions_) {
    if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->close();
  log("stopped");
  if (options_.on_stop) options_.on_stop();
}

service::state::reply service::state::handle(const http::request<http::string_body>& req) {
  std::string_view path = sv(req.target());
  // RFC 9112 3.2.2: a server must accept the absolute-form too; its path
  // counts ("http://host" is "/").
  if (!path.starts_with('/')) {
    const auto absolute = boost::urls::parse_absolute_uri(path);
    if (absolute && absolute->has_authority() &&
        (absolute->scheme_id() == boost::urls::scheme::http || absolute->scheme_id() == boost::urls::scheme::https)) {
      path = absolute->encoded_path().empty() ? std::string_view("/") : std::string_view(absolute->encoded_path());
    }
  }
  path = path.substr(0, path.find('?'));
  if (stopped_) return {make_response(http::status::service_unavailable, "stopping\n"), {}};
  // RFC 9110 15.6.2: a method the server does not know at all is 501;
  // 405 is for one it knows that the resource does not take.
  if (req.method() == http::verb::unknown) return {make_response(http::status::not_implemented, "unknown method\n"), {}};
  if (path == "/") {
    switch (req.method()) {
      case http::verb::get:
      case http::verb::head:  // the session sends no body
        return status(req);
      case http::verb::post:
        return create(req);
      case http::verb::delete_:
        log("DELETE /: stopping");
        return {make_response(http::status::no_content), [self = shared_from_this()] { self->stop_now(); }};
      default: {
        auto res = make_response(http::status::method_not_allowed, "GET, HEAD, POST or DELETE\n");
        res.set(http::field::allow, "GET, HEAD, POST, DELETE");
        return {std::move(res), {}};
      }
    }
  }
  if (path.substr(0, streams_prefix.size()) == streams_prefix) {
    const std::optional<std::uint64_t> id = stream_id(path);
    const auto it = id ? entities_.find(*id) : entities_.end();
    if (it == entities_.end()) return {make_response(http::status::not_found, "no such stream\n"), {}};
    if (req.method() == http::verb::post) return command(*it->second, req);
    if (req.method() == http::verb::delete_) return remove(*id);
    auto res = make_response(http::status::method_not_allowed, "POST or DELETE\n");
    res.set(http::field::allow, "POST, DELETE");
    return {std::move(res), {}};
  }
  return {make_response(http::status::not_found, "not found\n"), {}};
}

service::state::reply service::state::status(const http::request<http::string_body>&) {
  return {make_response(http::status::ok, status_body(), "application/json"), {}};
}

service::state::reply service::state::create(const http::request<http::string_body>& req) {
  if (entities_.size() >= options_.max_streams) {
    log("POST /: 503, " + std::to_string(entities_.size()) + " streams open");
    auto res = make_response(http::status::service_unavailable,
                             "too many streams (max " + std::to_string(options_.max_streams) + "): DELETE one first\n");
    res.set(http::field::retry_after, "1");
    return {std::move(res), {}};
  }
  stream_params params;
  if (auto err = parse_stream_params(req.body(), params); !err.empty()) {
    log("POST /: 400, " + err);
    return {bad_request(std::move(err)), {}};
  }
  auto e = std::make_shared<entity>();
  e->id = ++next_id_;
  e->name = "stream " + std::to_string(e->id) + (params.tag.empty() ? std::string() : " (" + params.tag + ")");
  e->options = std::move(params.options);
  // The client pauses once the read in progress is handled: a 64 KiB read
  // of empty comments is 32,768 messages (~6 MB) past the queue's bound,
  // a 4 KiB one ~400 KB. Contract tests are not throughput tests.
  e->options.read_buffer_size = 4 * 1024;
  try {
    start_client(e);
  } catch (const client_options_error& ex) {
    log("POST /: 400, " + std::string(ex.what()));
    return {bad_request(ex.what()), {}};
  }
  // A full callback queue pauses the client's reading (TCP then slows the
  // stream's server) rather than growing or dropping messages.
  std::weak_ptr<entity> weak = e;
  e->poster = callback_poster::make(strand_, std::move(params.callback), options_.callback_timeout, options_.log, e->name,
                                    options_.max_queued_callback_bytes, [weak](bool full) {
                                      const auto ent = weak.lock();
                                      if (!ent || ent->closed) return;
                                      if (full) ent->sse->pause_reading();
                                      else ent->sse->resume_reading();
                                    });
  entities_.emplace(e->id, e);
  streams_.store(entities_.size());
  log(e->name + ": " + e->options.method + ' ' + e->options.url);

  auto res = make_response(http::status::created);
  const std::string path = std::string(streams_prefix) + std::to_string(e->id);
  // Absolute when the request says which host it reached (the harness
  // takes a relative one as relative to the URL it was given).
  const auto host = req.find(http::field::host);
  res.set(http::field::location, host != req.end() && !host->value().empty() ? "http://" + std::string(sv(host->value())) + path : path);
  return {std::move(res), {}};
}

// The client's handlers run on its strand: they copy what they got into a
// message and post it to ours, where the entity's poster queues it. The
// entity is held weakly, so a message posted just before DELETE is dropped.
//
// The poster's queue pauses the client once it passes its bound, but the
// messages of one read are all posted before that queue sees them, and a
// compressed read decodes to up to max_compression_ratio times its 4 KiB
// (450,000 tiny events, 250 MiB: a probe). So the bytes in flight are
// counted as they are posted, and past the same bound the client is paused
// at once, at the end of its batch (a decoded piece, 16 KiB, at most); it
// reads again once they are queued and down to half, unless the queue
// itself holds it.
void service::state::start_client(const std::shared_ptr<entity>& e) {
  std::weak_ptr<entity> weak = e;
  const std::size_t bound = options_.max_queued_callback_bytes;
  // The state weakly too: it owns the entity that owns these handlers.
  auto deliver = [strand = strand_, weak, weak_state = weak_from_this(), bound](std::string message) {
    const std::size_t cost = message.size();
    if (const auto ent = weak.lock()) {
      const std::size_t now = ent->in_flight += cost;
      if (const auto self = weak_state.lock(); self && now > self->peak_in_flight_.load()) self->peak_in_flight_.store(now);
    }
    net::post(strand, [weak, weak_state, bound, cost, message = std::move(message)]() mutable {
      const auto ent = weak.lock();
      const auto self = weak_state.lock();
      if (!ent || ent->closed || !self) return;
      ent->in_flight -= cost;
      ent->poster->post(std::move(message));
      if (const std::size_t q = ent->poster->queued_bytes(); q > self->peak_queued_.load()) self->peak_queued_.store(q);
      if (ent->held && ent->in_flight <= bound / 2 && ent->poster->queued_bytes() <= bound) {
        ent->held = false;
        ent->sse->resume_reading();
      }
    });
  };
  std::ostream* const log = options_.log;
  client_handlers handlers;
  handlers.on_batch_end = [weak, bound] {
    const auto ent = weak.lock();
    if (!ent || ent->in_flight <= bound) return;
    // Every time: the queue's own resume may have come meanwhile.
    ent->held = true;
    ent->sse->pause_reading();
  };
  handlers.on_event = [deliver](const event& ev) { deliver(event_message(ev)); };
  handlers.on_comment = [deliver](std::string_view text) { deliver(comment_message(text)); };
  handlers.on_error = [deliver, strand = strand_, weak, log](const client_error& error) {
    deliver(error_message(error));
    if (!log) return;
    net::post(strand, [weak, log, text = error_text(error)] {
      if (auto ent = weak.lock(); ent && !ent->closed) *log << ent->name << ": " << text << '\n' << std::flush;
    });
  };
  e->sse = std::make_unique<client>(strand_.get_inner_executor(), e->options, std::move(handlers));
}

service::state::reply service::state::command(entity& e, const http::request<http::string_body>& req) {
  const std::optional<std::string> name = command_name(req.body());
  if (!name) return {bad_request("the body is not a JSON object with a \"command\" string"), {}};
  const std::string_view cmd = *name;
  if (cmd == "restart") {
    // Reconnects at once with Last-Event-ID, keeping the server's retry:
    // value and a redirected URL; no error is reported.
    e.sse->restart();
    log(e.name + ": restart");
    return {make_response(http::status::no_content), {}};
  }
  if (cmd == "listen") {
    // Sent only to services declaring "event-type-listeners", which this one
    // does not (every type reaches on_event); accepted as a no-op.
    return {make_response(http::status::no_content), {}};
  }
  log(e.name + ": unknown command " + std::string(cmd));
  return {bad_request("unknown command: " + std::string(cmd)), {}};
}

service::state::reply service::state::remove(std::uint64_t id) {
  const auto it = entities_.find(id);
  close_entity(*it->second);
  log(it->second->name + ": closed");
  entities_.erase(it);
  streams_.store(entities_.size());
  return {make_response(http::status::no_content), {}};
}

void service::state::close_entity(entity& e) {
  e.closed = true;
  if (e.sse) e.sse->close();
  if (e.poster) e.poster->close();
}

service::service(net::any_io_executor executor, service_options options)
    : state_(std::make_shared<state>(std::move(executor), std::move(options))) {
  state_->listen();
}

service::~service() { stop(); }

std::uint16_t service::port() const noexcept { return state_->port(); }

std::string service::url(std::string_view path) const {
  return "http://" + state_->host() + ':' + std::to_string(state_->port()) + std::string(path);
}

void service::stop() { state_->stop(); }

void service::lower_limits(std::size_t max_connections, std::size_t max_streams) noexcept {
  state_->lower_limits(max_connections, max_streams);
}

std::size_t service::streams() const noexcept { return state_->streams(); }

std::size_t service::peak_queued_callback_bytes() const noexcept { return state_->peak_queued(); }
std::size_t service::peak_in_flight_callback_bytes() const noexcept { return state_->peak_in_flight(); }

}  // namespace ssekit::contract

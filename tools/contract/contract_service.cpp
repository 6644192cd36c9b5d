// The contract-test service: an HTTP/1.1 server for the harness's requests,
// one ssekit::client per stream entity, and per entity a queue of callback
// POSTs sent one at a time over one kept-alive connection, so the harness
// receives them in the order the client produced them. The only file of the
// service that includes Beast.
//
// Ownership: `state` is shared by the service object, the server sessions
// and the posted handlers; sessions and callback posters are kept alive by
// their pending operations. Everything of the service runs on one strand,
// so nothing here takes a lock; a client's handlers run on the client's own
// strand and only post copies (JSON text) to ours.
#include "contract_service.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <atomic>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <utility>

#include "ssekit/client.hpp"

namespace ssekit::contract {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using strand_type = net::strand<net::any_io_executor>;

const std::vector<std::string>& capabilities() {
  // README.md says why each one is here and why "event-type-listeners" is not.
  static const std::vector<std::string> list{
      "comments", "headers", "last-event-id", "post", "report", "read-timeout", "restart", "bom",
      "server-directed-shutdown-request", "204", "payload-size-stress-testable",
  };
  return list;
}

namespace {

constexpr std::uint64_t max_request_body = 1024 * 1024;  // harness JSON is small
constexpr std::uint64_t max_callback_answer = 64 * 1024;

std::string_view sv(beast::string_view s) noexcept { return {s.data(), s.size()}; }

using response = http::response<http::string_body>;

response make_response(http::status status, std::string body = {}, std::string_view type = "text/plain; charset=utf-8") {
  response res{status, 11};
  res.set(http::field::server, "ssekit-contract-service");
  if (!body.empty()) {
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
  }
  return res;
}

response bad_request(std::string why) { return make_response(http::status::bad_request, std::move(why) + "\n"); }

// --- the callback messages (README.md, "Callbacks")

std::string event_message(const event& ev) {
  json::object e;
  e["type"] = json::string(ev.type.data(), ev.type.size());
  e["data"] = json::string(ev.data.data(), ev.data.size());
  e["id"] = json::string(ev.last_event_id.data(), ev.last_event_id.size());
  json::object m;
  m["kind"] = "event";
  m["event"] = std::move(e);
  return json::serialize(m);
}

std::string comment_message(std::string_view text) {
  json::object m;
  m["kind"] = "comment";
  m["comment"] = json::string(text.data(), text.size());
  return json::serialize(m);
}

std::string error_text(const client_error& error) {
  std::string text{client_error_reason_name(error.reason)};
  text += ": ";
  text += error.message;
  if (!error.will_reconnect) text += " (closed)";
  return text;
}

std::string error_message(const client_error& error) {
  json::object m;
  m["kind"] = "error";
  // The harness reads "error" (ssetests ReceivedMessage.Error); its
  // service_spec.md shows "comment" here, which the harness ignores.
  m["error"] = error_text(error);
  return json::serialize(m);
}

// --- the create-stream parameters

// http://host[:port][/path]: the callback base URL. Callback n goes to
// path + "/" + n, so a query or fragment is refused.
struct http_target {
  std::string host;
  std::string port = "80";
  std::string authority;  // the Host header
  std::string path;       // without a trailing '/'
};

// On Boost.URL (compiled once in ssekit::native): malformed hosts and ports
// ("http://a:b:80/") are refused with the rest.
std::optional<http_target> parse_http_url(std::string_view text) {
  const auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::http || !u.has_authority() || u.has_userinfo() || u.has_query() ||
      u.has_fragment()) {
    return std::nullopt;
  }
  // Boost.URL 1.81 reads "http://a:b:80/" as authority "a:" and path
  // "b:80/": after an authority a path must start with '/' (RFC 3986).
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') return std::nullopt;
  http_target t;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: t.host = u.host_ipv4_address().to_string(); break;
    case boost::urls::host_type::ipv6: t.host = u.host_ipv6_address().to_string(); break;
    case boost::urls::host_type::name:
      if (u.encoded_host().find('%') != boost::urls::string_view::npos) return std::nullopt;
      t.host = std::string(u.encoded_host());
      break;
    default: return std::nullopt;
  }
  if (t.host.empty()) return std::nullopt;
  if (u.has_port() && !u.port().empty()) {
    // Boost.URL's port_number() wraps values over 65535: check the digits.
    const auto port = u.port();
    if (port.size() > 5 || port.find_first_not_of("0123456789") != boost::urls::string_view::npos ||
        std::stoul(std::string(port)) - 1 >= 65535) {
      return std::nullopt;
    }
    t.port = std::string(port);
  }
  t.authority = std::string(u.encoded_host_and_port());
  std::string_view path(u.encoded_path().data(), u.encoded_path().size());
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  t.path = std::string(path);
  return t;
}

struct stream_params {
  std::string tag;
  http_target callback;
  client_options options;
};

// A non-negative integer of milliseconds (JSON numbers may arrive as
// int64, uint64 or an integral double).
std::optional<std::int64_t> milliseconds_of(const json::value& v) {
  if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (d >= 0 && d < 9e15 && d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

// Fills `out` from the POST / body, or says what is wrong with it.
std::string parse_stream_params(std::string_view body, stream_params& out) {
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) return "the body is not JSON: " + ec.message();
  const json::object* obj = doc.if_object();
  if (!obj) return "the body is not a JSON object";

  auto string_field = [&](std::string_view key, std::string& to, bool required) -> std::string {
    const json::value* v = obj->if_contains(json::string_view(key.data(), key.size()));
    if (!v || v->is_null()) return required ? std::string(key) + " is missing" : std::string();
    if (!v->is_string()) return std::string(key) + " is not a string";
    to = std::string(v->get_string());
    return {};
  };
  auto ms_field = [&](std::string_view key, std::optional<std::int64_t>& to) -> std::string {
    const json::value* v = obj->if_contains(json::string_view(key.data(), key.size()));
    if (!v || v->is_null()) return {};
    to = milliseconds_of(*v);
    return to ? std::string() : std::string(key) + " is not a non-negative integer";
  };

  std::string callback_url;
  std::string method;
  std::optional<std::int64_t> initial_delay;
  std::optional<std::int64_t> read_timeout;
  client_options& o = out.options;
  for (auto err : {string_field("streamUrl", o.url, true), string_field("callbackUrl", callback_url, true),
                   string_field("tag", out.tag, false), string_field("lastEventId", o.last_event_id, false),
                   string_field("method", method, false), string_field("body", o.body, false),
                   ms_field("initialDelayMs", initial_delay), ms_field("readTimeoutMs", read_timeout)}) {
    if (!err.empty()) return err;
  }
  const auto callback = parse_http_url(callback_url);
  if (!callback) return "callbackUrl is not an http:// URL without query: " + callback_url;
  out.callback = *callback;
  if (!method.empty()) o.method = method;
  if (const json::value* h = obj->if_contains("headers"); h && !h->is_null()) {
    if (!h->is_object()) return "headers is not an object";
    for (const auto& [name, value] : h->get_object()) {
      if (!value.is_string()) return "header " + std::string(name) + " is not a string";
      o.headers.emplace_back(std::string(name), std::string(value.get_string()));
    }
  }
  // The harness expects a body to be sent again on every reconnect.
  o.replay_body = true;
  if (initial_delay) o.reconnection_time = std::chrono::milliseconds(*initial_delay);
  if (read_timeout) o.idle_timeout = std::chrono::milliseconds(*read_timeout);
  return {};
}

// --- callbacks to the harness

// POSTs one message at a time to base path + "/" + counter (from 1), over
// one connection kept alive between messages. Runs on the service's strand.
class callback_poster : public std::enable_shared_from_this<callback_poster> {
 public:
  callback_poster(const strand_type& strand, http_target target, std::chrono::milliseconds timeout, std::ostream* log,
                  std::string name)
      : target_(std::move(target)),
        timeout_(timeout),
        log_(log),
        name_(std::move(name)),
        resolver_(strand),
        stream_(strand) {}

  void post(std::string body) {
    if (closed_) return;
    queue_.push_back({++counter_, std::move(body)});
    if (!busy_) next();
  }

  // Drops what is queued and the connection; nothing is sent afterwards.
  void close() {
    closed_ = true;
    queue_.clear();
    resolver_.cancel();
    drop_connection();
  }

 private:
  struct message {
    std::uint64_t number;
    std::string body;
  };

  void next() {
    if (closed_ || queue_.empty()) {
      busy_ = false;
      return;
    }
    busy_ = true;
    if (connected_) return send();
    resolver_.async_resolve(target_.host, target_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              if (self->closed_) return;
                              if (ec) return self->failed(ec, "resolve");
                              self->stream_.expires_after(self->timeout_);
                              self->stream_.async_connect(results, [self](beast::error_code e, const tcp::endpoint&) {
                                if (self->closed_) return;
                                if (e) return self->failed(e, "connect");
                                self->connected_ = true;
                                self->buffer_.clear();
                                self->send();
                              });
                            });
  }

  void send() {
    const message& m = queue_.front();
    request_ = {};
    request_.method(http::verb::post);
    request_.version(11);
    request_.target(target_.path + '/' + std::to_string(m.number));
    request_.set(http::field::host, target_.authority);
    request_.set(http::field::content_type, "application/json");
    request_.keep_alive(true);
    request_.body() = m.body;
    request_.prepare_payload();
    stream_.expires_after(timeout_);
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->failed(ec, "write");
      self->answer_.emplace();
      self->answer_->body_limit(max_callback_answer);
      http::async_read(self->stream_, self->buffer_, *self->answer_, [self](beast::error_code e, std::size_t) {
        if (self->closed_) return;
        if (e) return self->failed(e, "read the answer");
        self->answered();
      });
    });
  }

  void answered() {
    const auto& res = answer_->get();
    if (res.result_int() / 100 != 2 && log_) {
      *log_ << name_ << ": callback " << queue_.front().number << " answered " << res.result_int() << '\n';
    }
    if (!res.keep_alive()) drop_connection();
    queue_.pop_front();
    retried_ = false;
    next();
  }

  // A kept-alive connection the receiver has closed meanwhile fails on first
  // use: the message is tried once more on a new connection, then dropped.
  void failed(beast::error_code ec, std::string_view what) {
    drop_connection();
    if (!retried_) {
      retried_ = true;
      return next();
    }
    if (log_) *log_ << name_ << ": callback " << queue_.front().number << " dropped, can't " << what << ": " << ec.message() << '\n';
    queue_.pop_front();
    retried_ = false;
    next();
  }

  // Only closes the socket: an operation still pending (after close()) uses
  // the buffer and the answer's parser until it completes.
  void drop_connection() {
    connected_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  const http_target target_;
  const std::chrono::milliseconds timeout_;
  std::ostream* const log_;
  const std::string name_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::string_body>> answer_;
  std::deque<message> queue_;
  std::uint64_t counter_ = 0;
  bool busy_ = false;
  bool connected_ = false;
  bool retried_ = false;
  bool closed_ = false;
};

// One stream entity: the client and its callback queue.
struct entity {
  std::uint64_t id = 0;
  std::string name;  // "stream N (tag)" for the log
  client_options options;
  std::unique_ptr<client> sse;
  std::shared_ptr<callback_poster> poster;
  bool closed = false;
};

class session;

}  // namespace

class service::state : public std::enable_shared_from_this<state> {
 public:
  state(net::any_io_executor executor, service_options options)
      : strand_(net::make_strand(std::move(executor))), options_(std::move(options)), acceptor_(strand_) {}

  void listen() {
    const tcp::endpoint endpoint{net::ip::make_address(options_.address), options_.port};
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
    accept();
  }

  void stop() {
    net::post(strand_, [self = shared_from_this()] { self->stop_now(); });
  }

  std::uint16_t port() const noexcept { return port_; }
  const std::string& address() const noexcept { return options_.address; }
  std::size_t streams() const noexcept { return streams_.load(); }

  // What a session answers; `after` runs once the answer is written.
  struct reply {
    response res;
    std::function<void()> after;
  };
  reply handle(const http::request<http::string_body>& req);

  void forget(session* s) { sessions_.erase(s); }

 private:
  void accept();
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
  const service_options options_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
  std::map<session*, std::weak_ptr<session>> sessions_;
  std::map<std::uint64_t, std::shared_ptr<entity>> entities_;
  std::uint64_t next_id_ = 0;
  std::atomic<std::size_t> streams_{0};
};

namespace {

// One connection from the harness: requests answered in turn (keep-alive).
class session : public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<service::state> svc, tcp::socket socket) : svc_(std::move(svc)), stream_(std::move(socket)) {}
  ~session() { svc_->forget(this); }

  void start() { read(); }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  void read() {
    request_.emplace();
    request_->body_limit(max_request_body);
    http::async_read(stream_, buffer_, *request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();  // the harness closed it, a bad request, or stop()
    const auto& req = request_->get();
    auto [res, after] = svc_->handle(req);
    response_ = std::move(res);
    after_ = std::move(after);
    response_.keep_alive(req.keep_alive() && !after_);
    // A 204 carries no Content-Length (RFC 9110, 8.6).
    if (response_.result() != http::status::no_content) response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_write(e); });
  }

  void on_write(beast::error_code ec) {
    auto after = std::move(after_);
    if (ec || !response_.keep_alive()) close();
    else read();
    if (after) after();
  }

  std::shared_ptr<service::state> svc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> request_;
  response response_;
  std::function<void()> after_;
};

constexpr std::string_view streams_prefix = "/streams/";

}  // namespace

void service::state::accept() {
  acceptor_.async_accept(strand_, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped_) return;
    if (!ec) {
      auto s = std::make_shared<session>(self, std::move(socket));
      self->sessions_.emplace(s.get(), s);
      s->start();
    }
    self->accept();
  });
}

void service::state::stop_now() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
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
  path = path.substr(0, path.find('?'));
  if (stopped_) return {make_response(http::status::service_unavailable, "stopping\n"), {}};
  if (path == "/") {
    switch (req.method()) {
      case http::verb::get:
        return status(req);
      case http::verb::post:
        return create(req);
      case http::verb::delete_:
        log("DELETE /: stopping");
        return {make_response(http::status::no_content), [self = shared_from_this()] { self->stop_now(); }};
      default: {
        auto res = make_response(http::status::method_not_allowed, "GET, POST or DELETE\n");
        res.set(http::field::allow, "GET, POST, DELETE");
        return {std::move(res), {}};
      }
    }
  }
  if (path.substr(0, streams_prefix.size()) == streams_prefix) {
    const std::string_view digits = path.substr(streams_prefix.size());
    std::uint64_t id = 0;
    bool ok = !digits.empty() && digits.size() <= 18;
    for (const char c : digits) {
      if (c < '0' || c > '9') ok = false;
      else id = id * 10 + static_cast<std::uint64_t>(c - '0');
    }
    const auto it = ok ? entities_.find(id) : entities_.end();
    if (it == entities_.end()) return {make_response(http::status::not_found, "no such stream\n"), {}};
    if (req.method() == http::verb::post) return command(*it->second, req);
    if (req.method() == http::verb::delete_) return remove(id);
    auto res = make_response(http::status::method_not_allowed, "POST or DELETE\n");
    res.set(http::field::allow, "POST, DELETE");
    return {std::move(res), {}};
  }
  return {make_response(http::status::not_found, "not found\n"), {}};
}

service::state::reply service::state::status(const http::request<http::string_body>&) {
  json::array caps;
  for (const auto& c : capabilities()) caps.emplace_back(json::string(c));
  json::object body;
  body["name"] = "ssekit-native";
  body["capabilities"] = std::move(caps);
  return {make_response(http::status::ok, json::serialize(body), "application/json"), {}};
}

service::state::reply service::state::create(const http::request<http::string_body>& req) {
  stream_params params;
  if (auto err = parse_stream_params(req.body(), params); !err.empty()) {
    log("POST /: 400, " + err);
    return {bad_request(std::move(err)), {}};
  }
  auto e = std::make_shared<entity>();
  e->id = ++next_id_;
  e->name = "stream " + std::to_string(e->id) + (params.tag.empty() ? std::string() : " (" + params.tag + ")");
  e->options = std::move(params.options);
  try {
    start_client(e);
  } catch (const client_options_error& ex) {
    log("POST /: 400, " + std::string(ex.what()));
    return {bad_request(ex.what()), {}};
  }
  e->poster = std::make_shared<callback_poster>(strand_, std::move(params.callback), options_.callback_timeout, options_.log, e->name);
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
void service::state::start_client(const std::shared_ptr<entity>& e) {
  std::weak_ptr<entity> weak = e;
  auto deliver = [strand = strand_, weak](std::string message) {
    net::post(strand, [weak, message = std::move(message)]() mutable {
      if (auto ent = weak.lock(); ent && !ent->closed) ent->poster->post(std::move(message));
    });
  };
  std::ostream* const log = options_.log;
  client_handlers handlers;
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
  boost::system::error_code ec;
  const json::value doc = json::parse(json::string_view(req.body().data(), req.body().size()), ec);
  const json::object* obj = ec ? nullptr : doc.if_object();
  const json::value* name = obj ? obj->if_contains("command") : nullptr;
  if (!name || !name->is_string()) return {bad_request("the body is not a JSON object with a \"command\" string"), {}};
  const std::string_view cmd = name->get_string();
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
  const std::string& a = state_->address();
  const std::string host = a.find(':') == std::string::npos ? a : '[' + a + ']';
  return "http://" + host + ':' + std::to_string(state_->port()) + std::string(path);
}

void service::stop() { state_->stop(); }

std::size_t service::streams() const noexcept { return state_->streams(); }

}  // namespace ssekit::contract

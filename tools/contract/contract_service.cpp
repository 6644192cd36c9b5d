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
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <map>
#include <optional>
#include <ostream>
#include <utility>

#include "ssekit/client.hpp"

namespace ssekit::contract {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using strand_type = net::strand<net::any_io_executor>;

namespace {

constexpr std::uint64_t max_request_body = 1024 * 1024;  // harness JSON is small

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
  e->poster = callback_poster::make(strand_, std::move(params.callback), options_.callback_timeout, options_.log, e->name);
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
  const std::string& a = state_->address();
  const std::string host = a.find(':') == std::string::npos ? a : '[' + a + ']';
  return "http://" + host + ':' + std::to_string(state_->port()) + std::string(path);
}

void service::stop() { state_->stop(); }

std::size_t service::streams() const noexcept { return state_->streams(); }

}  // namespace ssekit::contract

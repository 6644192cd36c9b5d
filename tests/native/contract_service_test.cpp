// The contract-test service (tools/contract/) driven the way the
// sse-contract-tests harness drives it, all on loopback: the test is the
// harness (HTTP calls to the service), the SSE stream server the clients
// connect to (it records each request and sends what a test tells it to),
// and the callback endpoint (it records each POSTed message by path).
// Every wait is bounded; nothing sleeps to synchronise.
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "callback_poster.hpp"
#include "contract_service.hpp"
#include "support/client_options.hpp"
#include "support/http_head.hpp"
#include "zlib_writer.hpp"
#include "support/script_server.hpp"

namespace {

namespace net = boost::asio;
namespace json = boost::json;
namespace contract = ssekit::contract;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto wait_limit = 10s;

// --- the three parties' HTTP, framed by support/http_head.hpp

// A request or response: its head and body.
struct http_message : ssekit::testing::http_head {
  std::string body;
};

http_message parse_message_head(std::string_view head) {
  http_message m;
  if (auto parsed = ssekit::testing::parse_head(head)) static_cast<ssekit::testing::http_head&>(m) = std::move(*parsed);
  else ADD_FAILURE() << "not an HTTP head: " << head;
  return m;
}

// Sends `out` on a new connection and reads until the service closes it
// (bounded): everything it answered.
std::string exchange(std::uint16_t port, const std::string& out, const std::string& what) {
  net::io_context io;
  tcp::socket socket(io);
  std::string in;
  bool done = false;
  boost::system::error_code failure;
  socket.async_connect({net::ip::make_address("127.0.0.1"), port}, [&](boost::system::error_code ec) {
    if (ec) {
      failure = ec;
      done = true;
      return;
    }
    net::async_write(socket, net::buffer(out), [&](boost::system::error_code wec, std::size_t) {
      if (wec) {
        failure = wec;
        done = true;
        return;
      }
      net::async_read(socket, net::dynamic_buffer(in), [&](boost::system::error_code rec, std::size_t) {
        if (rec != net::error::eof) failure = rec;
        done = true;
      });
    });
  });
  io.run_for(wait_limit);
  EXPECT_TRUE(done) << what << ": no complete answer";
  EXPECT_FALSE(failure) << what << ": " << failure.message();
  return in;
}

// The first response in `in`: its head and the rest as its body.
http_message first_response(const std::string& in) {
  const std::size_t end = ssekit::testing::head_end(in);
  if (end == std::string::npos) return {};
  http_message m = parse_message_head(std::string_view(in).substr(0, end));
  m.body = in.substr(end);
  return m;
}

// The harness's side: one request to the service on a new connection.
http_message call(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body = {}) {
  const bool json_body = method == "POST" || !body.empty();
  const std::string out =
      ssekit::testing::request_bytes(method, target, "127.0.0.1:" + std::to_string(port),
                                     json_body ? "Connection: close\r\nContent-Type: application/json\r\n" : "Connection: close\r\n", body);
  return first_response(exchange(port, out, method + ' ' + target));
}

// A connection that reads requests (head + Content-Length body) in a loop.
struct connection : std::enable_shared_from_this<connection> {
  explicit connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string in;
  std::deque<std::optional<std::string>> out;  // nullopt: close after what is before it
  bool writing = false;

  template <class Handler>
  void read_request(Handler handler) {
    net::async_read_until(socket, net::dynamic_buffer(in), "\r\n\r\n",
                          [self = shared_from_this(), handler](boost::system::error_code ec, std::size_t n) mutable {
                            if (ec) return;
                            http_message m = parse_message_head(std::string_view(self->in).substr(0, n));
                            const auto length = m.content_length();
                            // The largest is an event of the harness's 1 MiB payload sweep, as JSON.
                            if (!length || *length > 16 * 1024 * 1024) return;
                            const std::size_t need = n + static_cast<std::size_t>(*length);
                            auto finish = [self, handler, m = std::move(m), n, need]() mutable {
                              m.body = self->in.substr(n, need - n);
                              self->in.erase(0, need);
                              handler(std::move(m));
                            };
                            if (self->in.size() >= need) return finish();
                            net::async_read(self->socket, net::dynamic_buffer(self->in), net::transfer_exactly(need - self->in.size()),
                                            [finish](boost::system::error_code e, std::size_t) mutable {
                                              if (!e) finish();
                                            });
                          });
  }

  // On the io thread: queue bytes (or the close) and write them in turn.
  void write(std::optional<std::string> bytes) {
    out.push_back(std::move(bytes));
    if (!writing) write_next();
  }
  void write_next() {
    if (out.empty()) {
      writing = false;
      return;
    }
    writing = true;
    if (!out.front()) {
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      out.clear();
      writing = false;
      return;
    }
    net::async_write(socket, net::buffer(*out.front()), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->out.pop_front();
      if (ec) {
        self->out.clear();
        self->writing = false;
        return;
      }
      self->write_next();
    });
  }
};

// The harness's callback endpoint: records every POST by path, answers 202.
class callback_receiver {
 public:
  struct message {
    std::string path;
    json::value body;
    std::string raw;
  };

  explicit callback_receiver(net::io_context& io) : acceptor_(io, {net::ip::make_address("127.0.0.1"), 0}) { accept(); }

  std::string url(const std::string& base) const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + base;
  }

  // The messages whose path starts with base + '/', once there are at least
  // n of them (fails the test after wait_limit).
  std::vector<message> wait(const std::string& base, std::size_t n) {
    std::unique_lock lock(mutex_);
    const bool ok = changed_.wait_for(lock, wait_limit, [&] { return under_locked(base).size() >= n; });
    EXPECT_TRUE(ok) << "waited for " << n << " callbacks under " << base << ", got " << under_locked(base).size();
    return under_locked(base);
  }

  // While held, POSTs are recorded but not answered (a slow harness);
  // release() answers them and goes on.
  void hold() {
    std::lock_guard lock(mutex_);
    holding_ = true;
  }
  void release() {
    net::post(acceptor_.get_executor(), [this] {
      {
        std::lock_guard lock(mutex_);
        holding_ = false;
      }
      for (auto& answer : held_) answer();
      held_.clear();
    });
  }

  std::vector<message> under(const std::string& base) {
    std::lock_guard lock(mutex_);
    return under_locked(base);
  }

 private:
  std::vector<message> under_locked(const std::string& base) const {
    std::vector<message> found;
    for (const auto& m : messages_) {
      if (m.path.size() > base.size() && m.path.compare(0, base.size() + 1, base + '/') == 0) found.push_back(m);
    }
    return found;
  }

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      serve(std::make_shared<connection>(std::move(socket)));
      accept();
    });
  }

  void serve(const std::shared_ptr<connection>& c) {
    c->read_request([this, c](http_message m) {
      bool hold = false;
      {
        std::lock_guard lock(mutex_);
        boost::system::error_code ec;
        json::value body = json::parse(m.body, ec);
        messages_.push_back({m.target, ec ? json::value() : std::move(body), m.body});
        hold = holding_;
      }
      changed_.notify_all();
      auto answer = [this, c] {
        c->write(ssekit::testing::response_head(202, "Accepted", "Content-Length: 0\r\n"));
        serve(c);
      };
      if (hold) held_.push_back(std::move(answer));
      else answer();
    });
  }

  tcp::acceptor acceptor_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<message> messages_;
  bool holding_ = false;
  std::vector<std::function<void()>> held_;  // io thread only
};

constexpr std::string_view stream_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";

// The SSE endpoint: records each connection's request, answers with a head
// (a close-delimited event stream unless set_head() says otherwise), then
// sends what send() gives it until close() or the client goes away.
class stream_server {
 public:
  explicit stream_server(net::io_context& io) : io_(io), acceptor_(io, {net::ip::make_address("127.0.0.1"), 0}) { accept(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/stream"; }

  void set_head(std::string head) {
    std::lock_guard lock(mutex_);
    head_ = std::move(head);
  }

  // The request of connection `index` (0: the first), once it has arrived.
  http_message wait_request(std::size_t index) {
    std::unique_lock lock(mutex_);
    const bool ok = changed_.wait_for(lock, wait_limit, [&] { return requests_.count(index) != 0; });
    EXPECT_TRUE(ok) << "no connection #" << index << " to the stream server";
    return ok ? requests_.at(index) : http_message{};
  }

  // Whether connection `index` has ended (the client closed it), bounded.
  bool wait_closed(std::size_t index) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, wait_limit, [&] { return closed_.count(index) != 0; });
  }

  std::size_t connections() {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }

  void send(std::size_t index, std::string bytes) {
    net::post(io_, [this, index, bytes = std::move(bytes)]() mutable { connections_.at(index)->write(std::move(bytes)); });
  }
  // Ends the response after what was sent before: the client sees the end
  // of the stream.
  void close(std::size_t index) {
    net::post(io_, [this, index] { connections_.at(index)->write(std::nullopt); });
  }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      auto c = std::make_shared<connection>(std::move(socket));
      const std::size_t index = connections_.size();
      connections_.push_back(c);
      c->read_request([this, c, index](http_message m) {
        std::string head;
        {
          std::lock_guard lock(mutex_);
          requests_[index] = std::move(m);
          head = head_;
        }
        changed_.notify_all();
        c->write(std::move(head));
        watch(c, index);
      });
      accept();
    });
  }

  // Reads until the connection ends, to see the client close it.
  void watch(const std::shared_ptr<connection>& c, std::size_t index) {
    auto buffer = std::make_shared<std::array<char, 512>>();
    c->socket.async_read_some(net::buffer(*buffer), [this, c, index, buffer](boost::system::error_code ec, std::size_t) {
      if (!ec) return watch(c, index);
      {
        std::lock_guard lock(mutex_);
        closed_[index] = true;
      }
      changed_.notify_all();
    });
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<connection>> connections_;  // io thread only
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string head_{stream_head};
  std::map<std::size_t, http_message> requests_;
  std::map<std::size_t, bool> closed_;
};

// --- the fixture: the service on one io_context, the harness's servers on another

class ContractService : public ::testing::Test {
 protected:
  ContractService() : receiver_(harness_io_), streams_(harness_io_) {
    contract::service_options options;
    options.port = 0;
    options.callback_timeout = 5s;
    service_ = std::make_unique<contract::service>(service_io_.get_executor(), options);
    service_done_ = service_finished_.get_future();
    service_thread_ = std::thread([this] {
      service_io_.run();
      service_finished_.set_value();
    });
    harness_thread_ = std::thread([this] { harness_io_.run(); });
  }

  ~ContractService() override {
    service_->stop();
    if (service_done_.wait_for(wait_limit) != std::future_status::ready) {
      ADD_FAILURE() << "the service's io_context did not run out of work after stop()";
      service_io_.stop();
    }
    service_thread_.join();
    harness_io_.stop();
    harness_thread_.join();
  }

  std::uint16_t port() const { return service_->port(); }

  json::object params(const std::string& callback_base) const {
    json::object p;
    p["streamUrl"] = streams_.url();
    p["callbackUrl"] = receiver_.url(callback_base);
    p["tag"] = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return p;
  }

  // POST / with these parameters; returns the entity's path.
  std::string create(const json::object& p) {
    const http_message r = call(port(), "POST", "/", json::serialize(p));
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string location = r.header("location");
    const std::string base = service_->url("");
    EXPECT_EQ(location.compare(0, base.size(), base), 0) << "Location " << location << " is not under " << base;
    return location.size() > base.size() ? location.substr(base.size()) : location;
  }

  static std::string kind(const callback_receiver::message& m) {
    const json::value* k = m.body.is_object() ? m.body.as_object().if_contains("kind") : nullptr;
    return k && k->is_string() ? std::string(k->get_string()) : "(not a message: " + m.raw + ")";
  }
  // Replaces the service by one whose callback queue holds `bytes`, made
  // first: with no service for a moment, the service's io_context could
  // run out of work and return, and the new one would never be served.
  void bound_callback_queue(std::size_t bytes) {
    contract::service_options o;
    o.port = 0;
    o.max_queued_callback_bytes = bytes;
    auto replacement = std::make_unique<contract::service>(service_io_.get_executor(), o);
    service_ = std::move(replacement);
  }
  static std::string field(const callback_receiver::message& m, std::string_view name) {
    const json::value* e = m.body.is_object() ? m.body.as_object().if_contains("event") : nullptr;
    const json::value* v = e && e->is_object() ? e->as_object().if_contains(name) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : "(missing " + std::string(name) + ")";
  }
  static std::string text(const callback_receiver::message& m, std::string_view name) {
    const json::value* v = m.body.is_object() ? m.body.as_object().if_contains(name) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : "(missing " + std::string(name) + ")";
  }

  net::io_context harness_io_;
  net::executor_work_guard<net::io_context::executor_type> harness_work_{harness_io_.get_executor()};
  net::io_context service_io_;
  callback_receiver receiver_;
  stream_server streams_;
  std::unique_ptr<contract::service> service_;
  std::promise<void> service_finished_;
  std::future<void> service_done_;
  std::thread service_thread_;
  std::thread harness_thread_;
};

TEST_F(ContractService, StatusDeclaresTheCapabilities) {
  const http_message r = call(port(), "GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json::value body = json::parse(r.body);
  const json::array& caps = body.at("capabilities").as_array();
  std::vector<std::string> got;
  for (const auto& c : caps) got.emplace_back(c.as_string());
  EXPECT_EQ(got, contract::capabilities());
  for (const char* expected : {"comments", "headers", "last-event-id", "post", "report", "read-timeout", "restart", "bom",
                               "server-directed-shutdown-request", "empty-or-missing-location"}) {
    EXPECT_NE(std::find(got.begin(), got.end(), expected), got.end()) << expected;
  }
  // Every event type reaches on_event without a listener: not declared.
  EXPECT_EQ(std::find(got.begin(), got.end(), "event-type-listeners"), got.end());
}

TEST_F(ContractService, EventsCommentsAndErrorsAreNumberedInOrder) {
  json::object p = params("/cb");
  p["initialDelayMs"] = 0;
  create(p);
  const http_message first = streams_.wait_request(0);
  EXPECT_EQ(first.method, "GET");
  EXPECT_EQ(first.header("accept"), "text/event-stream");
  EXPECT_EQ(first.header("cache-control"), "no-cache");
  EXPECT_FALSE(first.has("last-event-id"));

  streams_.send(0, ":hello\nevent: greeting\nid: abc\ndata: Hello\n\ndata: one\ndata: two\n\n");
  streams_.close(0);
  const auto got = receiver_.wait("/cb", 4);
  ASSERT_GE(got.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(got[i].path, "/cb/" + std::to_string(i + 1));
  EXPECT_EQ(kind(got[0]), "comment");
  EXPECT_EQ(text(got[0], "comment"), "hello");
  EXPECT_EQ(kind(got[1]), "event");
  EXPECT_EQ(field(got[1], "type"), "greeting");
  EXPECT_EQ(field(got[1], "data"), "Hello");
  EXPECT_EQ(field(got[1], "id"), "abc");
  EXPECT_EQ(kind(got[2]), "event");
  EXPECT_EQ(field(got[2], "type"), "message");
  EXPECT_EQ(field(got[2], "data"), "one\ntwo");
  EXPECT_EQ(field(got[2], "id"), "abc");
  EXPECT_EQ(kind(got[3]), "error");
  EXPECT_NE(text(got[3], "error").find("end_of_stream"), std::string::npos) << got[3].raw;

  // The end of the stream reconnects with the last event id.
  EXPECT_EQ(streams_.wait_request(1).header("last-event-id"), "abc");
}

TEST_F(ContractService, ManyEventsKeepTheirOrderAndASplitBomIsDropped) {
  create(params("/cb"));
  streams_.wait_request(0);
  constexpr int count = 200;
  std::string body = "\xBF";
  for (int i = 0; i < count; ++i) body += "data: event " + std::to_string(i) + "\n\n";
  streams_.send(0, "\xEF\xBB");
  streams_.send(0, body);
  const auto got = receiver_.wait("/cb", count);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].path, "/cb/" + std::to_string(i + 1));
    EXPECT_EQ(field(got[i], "data"), "event " + std::to_string(i));
  }
}

TEST_F(ContractService, LargeEventsArriveWhole) {
  create(params("/cb"));
  streams_.wait_request(0);
  const std::string data(1024 * 1024, 'x');  // the largest size of the harness's payload sweep
  streams_.send(0, "data: " + data + "\n\n");
  const auto got = receiver_.wait("/cb", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(field(got[0], "data").size(), data.size());
}

TEST_F(ContractService, MethodBodyHeadersAndLastEventIdAreSentOnEveryConnection) {
  json::object p = params("/cb");
  p["initialDelayMs"] = 0;
  p["method"] = "REPORT";
  p["body"] = R"({"hello": "world"})";
  p["lastEventId"] = "xyz";
  p["headers"] = json::object{{"header-name-1", "value-1"}, {"content-type", "application/json; charset=utf-8"}};
  create(p);
  for (std::size_t i = 0; i < 2; ++i) {
    const http_message r = streams_.wait_request(i);
    EXPECT_EQ(r.method, "REPORT") << "connection " << i;
    EXPECT_EQ(r.body, R"({"hello": "world"})") << "connection " << i;
    EXPECT_EQ(r.header("header-name-1"), "value-1") << "connection " << i;
    EXPECT_EQ(r.header("content-type"), "application/json; charset=utf-8") << "connection " << i;
    EXPECT_EQ(r.header("last-event-id"), "xyz") << "connection " << i;
    if (i == 0) streams_.close(0);
  }
}

TEST_F(ContractService, ReadTimeoutReportsAnErrorAndReconnects) {
  json::object p = params("/cb");
  p["initialDelayMs"] = 0;
  p["readTimeoutMs"] = 300;
  create(p);
  streams_.wait_request(0);
  streams_.send(0, "data: Hello\n\n");
  const auto got = receiver_.wait("/cb", 2);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(field(got[0], "data"), "Hello");
  EXPECT_EQ(kind(got[1]), "error");
  EXPECT_NE(text(got[1], "error").find("idle_timeout"), std::string::npos) << got[1].raw;
  streams_.wait_request(1);
}

TEST_F(ContractService, RestartReconnectsWithTheLastEventIdAndNoError) {
  const std::string entity = create(params("/cb"));
  streams_.wait_request(0);
  streams_.send(0, "id: 7\ndata: before\n\n");
  ASSERT_EQ(receiver_.wait("/cb", 1).size(), 1u);

  const http_message r = call(port(), "POST", entity, R"({"command":"restart"})");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(streams_.wait_request(1).header("last-event-id"), "7");
  EXPECT_TRUE(streams_.wait_closed(0)) << "the first connection is still open";
  streams_.send(1, "data: after\n\n");
  const auto got = receiver_.wait("/cb", 2);
  ASSERT_EQ(got.size(), 2u);  // no error between: the harness expects none on restart
  EXPECT_EQ(got[1].path, "/cb/2");
  EXPECT_EQ(kind(got[1]), "event");
  EXPECT_EQ(field(got[1], "data"), "after");
  EXPECT_EQ(field(got[1], "id"), "7");
}

TEST_F(ContractService, NoContentStopsTheClient) {
  streams_.set_head("HTTP/1.1 204 No Content\r\n\r\n");
  json::object p = params("/cb");
  p["initialDelayMs"] = 0;
  create(p);
  const auto got = receiver_.wait("/cb", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(kind(got[0]), "error");
  // The client's own verdict: it will not reconnect.
  EXPECT_NE(text(got[0], "error").find("no_content"), std::string::npos) << got[0].raw;
  EXPECT_NE(text(got[0], "error").find("(closed)"), std::string::npos) << got[0].raw;
}

TEST_F(ContractService, BadRequestsAndCommands) {
  const auto status_of = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return call(port(), method, target, body).status;
  };
  const std::string stream = streams_.url();
  const std::string cb = receiver_.url("/cb");
  EXPECT_EQ(status_of("POST", "/", "{bad"), 400);
  EXPECT_EQ(status_of("POST", "/", "[]"), 400);
  EXPECT_EQ(status_of("POST", "/", "{}"), 400);
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":5,"callbackUrl":")" + cb + "\"}"), 400);
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + stream + "\"}"), 400);
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + stream + R"(","callbackUrl":"https://127.0.0.1/cb"})"), 400);
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":"ftp://127.0.0.1/x","callbackUrl":")" + cb + "\"}"), 400);
  // Malformed hosts and ports (Boost.URL refuses them; the old hand parser took "a:b" as a host).
  for (const std::string bad : {"http://a:b:80/cb", "http://127.0.0.1:99999/cb", "http://u@127.0.0.1/cb", "http://[zz]/cb"}) {
    EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + stream + R"(","callbackUrl":")" + bad + "\"}"), 400) << bad;
    EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + bad + R"(","callbackUrl":")" + cb + "\"}"), 400) << bad;
  }
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + stream + R"(","callbackUrl":")" + cb +
                                        R"(","headers":{"x-bad":"a\r\nb"}})"),
            400);
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + stream + R"(","callbackUrl":")" + cb + R"(","initialDelayMs":-1})"),
            400);
  EXPECT_EQ(status_of("POST", "/", R"({"streamUrl":")" + stream + R"(","callbackUrl":")" + cb + R"(","method":"GE T"})"),
            400);
  EXPECT_EQ(service_->streams(), 0u);

  EXPECT_EQ(status_of("GET", "/nowhere"), 404);
  EXPECT_EQ(status_of("PUT", "/", "{}"), 405);
  EXPECT_EQ(status_of("POST", "/streams/99", R"({"command":"restart"})"), 404);
  EXPECT_EQ(status_of("DELETE", "/streams/99"), 404);

  const std::string entity = create(params("/cb"));
  EXPECT_EQ(service_->streams(), 1u);
  EXPECT_EQ(status_of("POST", entity, "{bad"), 400);
  EXPECT_EQ(status_of("POST", entity, R"({"command":"fly"})"), 400);
  EXPECT_EQ(status_of("POST", entity, R"({"command":"listen","listen":{"type":"greeting"}})"), 204);
  EXPECT_EQ(status_of("GET", entity), 405);
}

TEST_F(ContractService, DeletingAStreamStopsItsCallbacks) {
  const std::string entity = create(params("/cb"));
  streams_.wait_request(0);
  streams_.send(0, "data: a\n\n");
  ASSERT_EQ(receiver_.wait("/cb", 1).size(), 1u);

  EXPECT_EQ(call(port(), "DELETE", entity).status, 204);
  EXPECT_EQ(service_->streams(), 0u);
  EXPECT_TRUE(streams_.wait_closed(0)) << "the client kept its connection";
  EXPECT_EQ(call(port(), "POST", entity, R"({"command":"restart"})").status, 404);
  EXPECT_EQ(call(port(), "DELETE", entity).status, 404);

  // A new entity numbers its callbacks from 1 on its own path; the deleted
  // one has sent nothing more.
  create(params("/cb2"));
  streams_.wait_request(1);
  streams_.send(1, "data: b\n\n");
  const auto got = receiver_.wait("/cb2", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/cb2/1");
  EXPECT_EQ(receiver_.under("/cb").size(), 1u);
  EXPECT_EQ(streams_.connections(), 2u);
}

// --- robustness: what reaches the service that the harness would not send

// A head of `fields` empty fields (4 bytes each: Beast 1.81 alone let them
// through, tools/common/request_head.hpp).
std::string many_empty_fields(std::size_t fields) {
  std::string head = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (std::size_t i = 0; i < fields; ++i) head += "a:\r\n";
  return head + "Connection: close\r\n\r\n";
}

// `chunks` one-byte chunks with a 1,000-byte extension each, then the end.
std::string many_extensions(std::size_t chunks) {
  std::string body;
  for (std::size_t i = 0; i < chunks; ++i) body += "1;e=" + std::string(1000, 'a') + "\r\nx\r\n";
  return body + "0\r\n\r\n";
}

TEST_F(ContractService, MalformedAndOversizedRequestsAreAnsweredThenClosed) {
  const std::string post = "POST / HTTP/1.1\r\nHost: x\r\n";
  const std::pair<std::string, int> cases[] = {
      {many_empty_fields(100'000), 431},
      {"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(9000, 'y') + "\r\n\r\n", 431},
      {post + "Content-Length: " + std::to_string(2 * 1024 * 1024) + "\r\n\r\n{}", 413},
      {post + "Transfer-Encoding: chunked\r\n\r\n200001\r\n", 413},
      // Chunk metadata that never ends: the read buffer is capped (1 MiB
      // body + 8 KiB head + 4 KiB); it grew until the request timed out.
      {post + "Transfer-Encoding: chunked\r\n\r\n1;e=" + std::string(1'200'000, 'a'), 413},
      {post + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + std::string(1'200'000, 'a'), 413},
      // Each line within bounds, the whole past 4 MiB on the wire: read to
      // the end before.
      {post + "Transfer-Encoding: chunked\r\n\r\n" + many_extensions(4400), 413},
      {"GET / HTTP/2.5\r\nHost: x\r\n\r\n", 505},  // RFC 9112 2.3: another major version
      {"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 400},
      {"GET / HTTP/1.2\r\n\r\n", 400},  // read as HTTP/1.1: Host required
      {post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400},
      {post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},                       // RFC 9112 3.2: no Host
      {"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},  // two
      {"GET / HTTP/1.1\r\nHost: a b\"<>/x?y\r\n\r\n", 400},    // no host[:port]: it went into Location
      // RFC 9112 5.2: obs-fold, refused (a request-smuggling precondition).
      {post + "Transfer-Encoding:\r\n chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost:\r\n\tx\r\n\r\n", 400},
      {"\r\n\r\nGET / HTTP/1.1\r\nHost:\r\n\tx\r\n\r\n", 400},
  };
  for (const auto& [request, status] : cases) {
    const std::string what = request.substr(0, 60);
    const std::string in = exchange(port(), request, what);
    const http_message r = first_response(in);
    EXPECT_EQ(r.status, status) << what;
    EXPECT_EQ(r.header("connection"), "close") << what;
  }
  // Just under the limit is fine.
  EXPECT_EQ(first_response(exchange(port(), many_empty_fields(1500), "1500 fields")).status, 200);
}

// RFC 9110 10.1.1: a client that sends Expect: 100-continue waits for it
// before the body (curl waits a second, then sends it anyway).
TEST_F(ContractService, AnExpectationOfContinueIsAnswered) {
  net::io_context io;
  tcp::socket socket(io);
  const std::string body = "{not json";
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  std::string in;
  bool continued = false, done = false;
  socket.async_connect({net::ip::make_address("127.0.0.1"), port()}, [&](boost::system::error_code ec) {
    ASSERT_FALSE(ec) << ec.message();
    net::async_write(socket, net::buffer(head), [&](boost::system::error_code wec, std::size_t) {
      ASSERT_FALSE(wec) << wec.message();
      net::async_read_until(socket, net::dynamic_buffer(in), "\r\n\r\n", [&](boost::system::error_code rec, std::size_t n) {
        ASSERT_FALSE(rec) << rec.message();
        continued = in.substr(0, n) == "HTTP/1.1 100 Continue\r\n\r\n";
        in.erase(0, n);
        net::async_write(socket, net::buffer(body), [&](boost::system::error_code bec, std::size_t) {
          ASSERT_FALSE(bec) << bec.message();
          net::async_read(socket, net::dynamic_buffer(in), [&](boost::system::error_code, std::size_t) { done = true; });
        });
      });
    });
  });
  io.run_for(wait_limit);
  EXPECT_TRUE(continued) << in;
  ASSERT_TRUE(done) << "no answer after the body";
  EXPECT_EQ(first_response(in).status, 400) << in;  // the body was read: it is not JSON
}

TEST_F(ContractService, ATransferEncodingOtherThanChunkedIsRefused) {
  // RFC 9112 6.3: 400 and close; the "body" must not be taken for a request.
  for (const std::string coding : {"gzip", "chunked, gzip", "gzip, chunked"}) {
    const std::string in = exchange(port(), "POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding +
                                                "\r\n\r\nDELETE / HTTP/1.1\r\nHost: x\r\n\r\n", coding);
    EXPECT_EQ(first_response(in).status, 400) << coding;
    EXPECT_EQ(in.find("HTTP/1.1", 1), std::string::npos) << coding << ": answered the body as a request";
  }
  EXPECT_EQ(call(port(), "GET", "/").status, 200);  // DELETE / was not obeyed
}

TEST_F(ContractService, HeadGetsTheHeadWithoutTheBody) {
  const std::string in = exchange(port(), "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                                          "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HEAD");
  const http_message status = first_response(in);
  EXPECT_EQ(status.status, 200);
  EXPECT_NE(status.header("content-length"), "0");  // what GET would send
  const http_message missing = first_response(status.body);  // the next response follows the head at once
  EXPECT_EQ(missing.status, 404);
  const http_message last = first_response(missing.body);
  EXPECT_EQ(last.status, 404);
  EXPECT_EQ(last.body, "not found\n");
}

// RFC 9112 3.2.2: the absolute-form is accepted (it was 404); RFC 9112
// C.2.2: a kept HTTP/1.0 connection says so (the client waited for the
// close); RFC 9110 15.6.2: an unknown method is 501, not 405.
TEST_F(ContractService, AbsoluteFormHttp10KeepAliveAndUnknownMethods) {
  const std::string authority = "127.0.0.1:" + std::to_string(port());
  const std::string in = exchange(port(),
                                  "GET http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n\r\n"
                                  "GET http://" + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n"
                                  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                  "GET / HTTP/1.2\r\nHost: x\r\n\r\n"  // RFC 9112 2.3: read as HTTP/1.1, kept alive
                                  "FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  "pipelined");
  // The responses one after another, each body as long as its Content-Length.
  std::string rest = in;
  const auto next = [&rest] {
    http_message m = first_response(rest);
    const std::size_t length = m.content_length().value_or(0);
    rest = m.body.size() >= length ? m.body.substr(length) : std::string();
    m.body.resize(std::min(m.body.size(), length));
    return m;
  };
  const http_message absolute = next();
  EXPECT_EQ(absolute.status, 200);
  EXPECT_NE(absolute.body.find("\"capabilities\""), std::string::npos) << absolute.body;
  EXPECT_EQ(next().status, 200);
  const http_message http10 = next();
  EXPECT_EQ(http10.status, 200);
  EXPECT_EQ(http10.header("connection"), "keep-alive");
  EXPECT_EQ(next().status, 200);
  EXPECT_EQ(next().status, 501);
}

// RFC 9112 7.1.2: a trailer "Connection: close" is no Connection header
// (it closed the connection, and the request behind was never answered).
TEST_F(ContractService, TrailerFieldsAreNotTheHeads) {
  const std::string in = exchange(port(),
                                  "POST /streams/999 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "2\r\n{}\r\n0\r\nConnection: close\r\nHost: y\r\n\r\n"
                                  "HEAD /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  "trailer");
  const http_message first = first_response(in);
  EXPECT_EQ(first.status, 404);  // not 400 for a second Host
  EXPECT_NE(first.header("connection"), "close");
  const std::size_t length = first.content_length().value_or(0);
  ASSERT_GE(first.body.size(), length);
  EXPECT_EQ(first_response(first.body.substr(length)).status, 404) << in;
}

// RFC 9110 7.6.1, RFC 9112 9.6: "close" in any Connection line closes
// after the answer; Beast's keep_alive() read only the first line, and the
// request after it was answered too.
TEST_F(ContractService, CloseInASecondConnectionLineClosesTheConnection) {
  for (const std::string lines : {"Connection: keep-alive\r\nConnection: close\r\n", "Connection: x-a\r\nConnection: te, Close \r\n"}) {
    for (const std::string version : {"HTTP/1.1", "HTTP/1.0"}) {
      const std::string in = exchange(port(), "GET /nowhere " + version + "\r\nHost: x\r\n" + lines + "\r\n" +
                                                  "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", lines + version);
      EXPECT_EQ(first_response(in).status, 404) << lines << version;
      EXPECT_EQ(in.find("HTTP/1.1", 1), std::string::npos) << lines << version << ": the request after it was answered";
    }
  }
}

// RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
// framing (a proxy in front may have framed it otherwise): answered, then
// closed, though it asked for keep-alive (the next request was answered).
TEST_F(ContractService, Http10WithTransferEncodingIsAnsweredThenClosed) {
  const std::string in = exchange(port(),
                                  "POST /streams/999 HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "2\r\n{}\r\n0\r\n\r\nGET /nowhere HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                                  "HTTP/1.0 chunked");
  const http_message first = first_response(in);
  EXPECT_EQ(first.status, 404);
  EXPECT_NE(first.header("connection"), "keep-alive");
  EXPECT_EQ(in.find("HTTP/1.1", 1), std::string::npos) << "a second request was answered on a connection with faulty framing";
}

// A second service with small limits, on the same io_context.
class ContractServiceLimits : public ContractService {
 protected:
  std::unique_ptr<contract::service> limited(std::chrono::milliseconds timeout, std::size_t connections, std::size_t streams = 100) {
    contract::service_options o;
    o.port = 0;
    o.request_timeout = timeout;
    o.max_connections = connections;
    o.max_streams = streams;
    return std::make_unique<contract::service>(service_io_.get_executor(), o);
  }
};

// Each entity holds a client and its connections: unbounded, they used up
// the descriptors, and then not even DELETE got in.
TEST_F(ContractServiceLimits, StreamEntitiesAreBounded) {
  const auto svc = limited(10s, 256, 2);
  json::object p;
  p["streamUrl"] = "http://127.0.0.1:1/never";  // nothing listens: the client keeps retrying
  p["callbackUrl"] = "http://127.0.0.1:1/callbacks";
  std::vector<std::string> created;
  for (int i = 0; i < 2; ++i) {
    const http_message r = call(svc->port(), "POST", "/", json::serialize(p));
    EXPECT_EQ(r.status, 201) << r.body;
    created.push_back(r.header("location").substr(svc->url("").size()));
  }
  const http_message refused = call(svc->port(), "POST", "/", json::serialize(p));
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.body, "too many streams (max 2): DELETE one first\n");
  EXPECT_EQ(call(svc->port(), "DELETE", created[0]).status, 204);
  EXPECT_EQ(call(svc->port(), "POST", "/", json::serialize(p)).status, 201);
}


TEST_F(ContractServiceLimits, IdleAndIncompleteRequestsAreClosedAfterTheRequestTimeout) {
  const auto svc = limited(100ms, 256);
  for (const std::string& start : {std::string(), std::string("GET / HTTP/1.1\r\nHo"),
                                  std::string("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")}) {
    // exchange() fails the test unless the service closes the connection.
    const std::string in = exchange(svc->port(), start, "sent " + std::to_string(start.size()) + " bytes");
    EXPECT_EQ(in, "");
  }
}

TEST_F(ContractServiceLimits, IdleConnectionsCannotLockOutTheHarness) {
  const auto svc = limited(60s, 4);  // no timeout during the test
  net::io_context io;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 12; ++i) {
    idle.emplace_back(io);
    idle.back().connect({net::ip::make_address("127.0.0.1"), svc->port()});
    // Accepted once the service answers a request on a later connection.
    const http_message r = first_response(exchange(svc->port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /"));
    EXPECT_EQ(r.status, 200) << i;
  }
  // The oldest idle one was shed to make room.
  std::array<char, 16> scratch;
  boost::system::error_code ec = net::error::timed_out;
  idle.front().async_read_some(net::buffer(scratch), [&](boost::system::error_code e, std::size_t) { ec = e; });
  io.run_for(wait_limit);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
}

// At the limit with no connection waiting for a request (each lingers after
// a refusal) there is nothing to shed: the next connection is closed
// unanswered, so the limit holds exactly.
TEST_F(ContractServiceLimits, AtTheLimitWithNoConnectionWaitingTheNextIsRefused) {
  const auto svc = limited(60s, 2);
  net::io_context io;
  std::vector<tcp::socket> lingering;
  const auto lingering_since = std::chrono::steady_clock::now();
  for (int i = 0; i < 2; ++i) {
    lingering.emplace_back(io);
    tcp::socket& s = lingering.back();
    s.connect({net::ip::make_address("127.0.0.1"), svc->port()});
    net::write(s, net::buffer(std::string("NOT HTTP\r\n\r\n")));
    // The 400, then the service's FIN; the socket stays open (the session lingers).
    std::string in;
    boost::system::error_code ec = net::error::timed_out;
    net::async_read(s, net::dynamic_buffer(in), [&](boost::system::error_code e, std::size_t) { ec = e; });
    io.restart();
    io.run_for(wait_limit);
    EXPECT_EQ(ec, net::error::eof) << ec.message();
    EXPECT_EQ(first_response(in).status, 400) << in;
  }
  tcp::socket third(io);
  third.connect({net::ip::make_address("127.0.0.1"), svc->port()});
  boost::system::error_code wec;
  net::write(third, net::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")), wec);
  std::string in;
  boost::system::error_code ec = net::error::timed_out;
  net::async_read(third, net::dynamic_buffer(in), [&](boost::system::error_code e, std::size_t) { ec = e; });
  io.restart();
  io.run_for(wait_limit);
  // A refused connection lingers at most 2 s: a machine too busy to get
  // here by then has freed the places (not a failure of the limit).
  if (!in.empty() && std::chrono::steady_clock::now() - lingering_since > 1500ms)
    GTEST_SKIP() << "the refused connections stopped lingering before the third connected";
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_EQ(in, "");  // closed unanswered
}

TEST_F(ContractService, ASlowCallbackReceiverPausesTheStreamInsteadOfQueueingIt) {
  bound_callback_queue(64 * 1024);
  receiver_.hold();
  create(params("/cb"));
  streams_.wait_request(0);
  constexpr int count = 512;
  std::string body;
  for (int i = 0; i < count; ++i) body += "data: " + std::to_string(i) + ' ' + std::string(8000, 'x') + "\n\n";
  streams_.send(0, body);  // ~4 MiB of events, as much callback JSON
  ASSERT_EQ(receiver_.wait("/cb", 1).size(), 1u);  // the first POST is held
  receiver_.release();
  const auto got = receiver_.wait("/cb", count);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(count));  // none dropped
  for (std::size_t i = 0; i < got.size(); i += 73) EXPECT_EQ(field(got[i], "data").substr(0, std::to_string(i).size() + 1), std::to_string(i) + ' ');
  // Paused at 64 KiB: what was in flight is on top, far from the 4 MiB.
  EXPECT_LT(service_->peak_queued_callback_bytes(), 1024u * 1024u);
}

// A compressed stream: one 4 KiB read decodes to up to 1000 times that,
// all posted as messages before the queue's bound could pause the client
// (450,000 tiny events, 250 MiB of RSS; probe-servers 1). The bytes in
// flight are now bounded as the queue is, within a decoded piece (16 KiB),
// and the reading goes on once they are delivered (here, pieces of ~16
// events of 1 KB: the 100 callbacks take several pauses and resumes).
TEST_F(ContractService, ACompressedStreamKeepsTheCallbackBound) {
  bound_callback_queue(16 * 1024);
  streams_.set_head("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n");
  receiver_.hold();
  create(params("/cb"));
  streams_.wait_request(0);
  constexpr int count = 4000;
  std::string events;
  for (int i = 0; i < count; ++i) events += "id: " + std::to_string(i) + "\ndata: " + std::string(1000, 'x') + "\n\n";
  ssekit::testing::zlib_writer z(ssekit::testing::zlib_writer::gzip, 9);
  std::string gz = z.write(events);
  gz += z.finish();
  streams_.send(0, gz);
  ASSERT_EQ(receiver_.wait("/cb", 1).size(), 1u);  // the first POST is held
  receiver_.release();
  const auto got = receiver_.wait("/cb", 100);
  ASSERT_GE(got.size(), 100u);
  for (std::size_t i = 0; i < 100; i += 9) EXPECT_EQ(field(got[i], "id"), std::to_string(i));
  EXPECT_LT(service_->peak_in_flight_callback_bytes(), 256u * 1024u) << "of " << count << " events from " << gz.size() << " bytes";
  EXPECT_LT(service_->peak_queued_callback_bytes(), 256u * 1024u);
}

// RFC 9110 9.3.2: no content in an answer to HEAD, a refusal's too (a
// probe: a request pipelined after it read the error text).
TEST_F(ContractService, ARefusedHeadGetsNoBody) {
  for (const char* request : {"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
                              "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                              "HEAD / HTTP/1.1\r\n\r\n"}) {
    const std::string answer = exchange(port(), request, request);
    const std::size_t end = answer.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos) << answer;
    EXPECT_GE(parse_message_head(answer.substr(0, end + 4)).status, 400) << request;
    EXPECT_EQ(answer.substr(end + 4), "") << request;
  }
}

// RFC 9110 6.6.1: Date, an IMF-fixdate, in every 2xx, 3xx and 4xx answer
// (the service sent none; a probe).
TEST_F(ContractService, EveryAnswerHasADate) {
  const std::regex imf_fixdate(R"(^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$)");
  for (const char* target : {"/", "/nowhere"}) {
    const http_message r = call(port(), "GET", target);
    EXPECT_TRUE(std::regex_match(r.header("date"), imf_fixdate)) << target << ": '" << r.header("date") << "'";
  }
}

TEST_F(ContractService, DeleteRootStopsTheService) {
  create(params("/cb"));
  streams_.wait_request(0);
  const http_message r = call(port(), "DELETE", "/");
  EXPECT_EQ(r.status, 204);
  EXPECT_FALSE(r.has("content-length"));
  // Everything closes, so the service's io_context runs out of work.
  EXPECT_EQ(service_done_.wait_for(wait_limit), std::future_status::ready);
  EXPECT_TRUE(streams_.wait_closed(0));
  net::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({net::ip::make_address("127.0.0.1"), port()}, ec);
  EXPECT_EQ(ec, net::error::connection_refused);
}

}  // namespace

// --address takes what sse-serve's takes (tools/common/listen_endpoint.hpp):
// a host name, and an IP literal as a URL writes it, in brackets. Both were
// "can't listen ...: Invalid argument".
TEST(ContractServiceAddress, TakesHostNamesAndBracketedLiterals) {
  std::vector<std::pair<std::string, std::string>> cases = {{"localhost", "127.0.0.1"}, {"[127.0.0.1]", "127.0.0.1"}};
  {
    net::io_context probe;
    boost::system::error_code ec;
    net::ip::tcp::acceptor v6(probe);
    v6.open(net::ip::tcp::v6(), ec);
    if (!ec) v6.bind({net::ip::make_address("::1"), 0}, ec);
    if (!ec) cases.emplace_back("[::1]", "[::1]");  // where the machine has IPv6 loopback
  }
  for (const auto& [address, host] : cases) {
    net::io_context io;
    contract::service_options options;
    options.address = address;
    options.port = 0;
    options.log = nullptr;
    contract::service svc(io.get_executor(), options);
    EXPECT_NE(svc.port(), 0) << address;
    EXPECT_EQ(svc.url("/"), "http://" + host + ":" + std::to_string(svc.port()) + "/") << address;
    svc.stop();
    io.run_for(5s);
  }
}

// --- the callback poster alone, against a scripted receiver (support/script_server.hpp)

namespace {

// Runs a poster on its own io_context thread, posts `count` messages, and
// waits until the receiver has read `requests` of them; returns the targets
// read, in order, and the poster's log.
struct poster_run {
  std::vector<std::string> targets;
  std::string log;
};
poster_run post_callbacks(const ssekit::testing::script_server& receiver, int count, std::size_t requests,
                          std::chrono::milliseconds timeout) {
  net::io_context io;
  auto work = net::make_work_guard(io);
  const auto strand = net::make_strand(io.get_executor());
  std::ostringstream log;
  const contract::http_target target{"127.0.0.1", std::to_string(receiver.port()),
                                     "127.0.0.1:" + std::to_string(receiver.port()), "/cb"};
  const auto poster = contract::callback_poster::make(strand, target, timeout, &log, "s1");
  net::post(strand, [&] {
    for (int i = 1; i <= count; ++i) poster->post("{\"n\":" + std::to_string(i) + "}");
  });
  std::thread runner([&] { io.run(); });
  const bool got = receiver.wait_for_requests(requests, ssekit::testing::hang_limit);
  EXPECT_TRUE(got) << "the receiver read " << receiver.requests().size() << " of " << requests << " requests";
  std::promise<void> closed;
  net::post(strand, [&] {
    poster->close();
    closed.set_value();
  });
  closed.get_future().wait();
  work.reset();
  runner.join();
  poster_run run;
  for (const auto& r : receiver.requests()) run.targets.push_back(r.target);
  run.log = log.str();
  return run;
}

const std::string ok_answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

}  // namespace

// The queue's bound is one of memory: a message holds its bytes and a
// string and a queue slot besides, so tiny ones (an empty comment is 31
// bytes of JSON) fill it in far fewer messages than limit / size. Counting
// the bytes alone let 4 MiB of them hold ~20 MiB.
TEST(CallbackPoster, TinyMessagesCountWhatTheyHoldAgainstTheQueuesBound) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    if (c.read_request(r)) c.wait_for_client_close(ssekit::testing::hang_limit);  // never answered
  });
  constexpr std::size_t limit = 64 * 1024;
  const std::string tiny = R"({"kind":"comment","comment":""})";
  net::io_context io;
  auto work = net::make_work_guard(io);
  const auto strand = net::make_strand(io.get_executor());
  const contract::http_target target{"127.0.0.1", std::to_string(receiver.port()),
                                     "127.0.0.1:" + std::to_string(receiver.port()), "/cb"};
  bool full = false;
  const auto poster = contract::callback_poster::make(strand, target, 10s, nullptr, "s1", limit,
                                                      [&](bool is_full) { full = is_full; });
  std::size_t posted = 0;
  std::promise<void> done;
  net::post(strand, [&] {
    while (!full && posted < limit) {  // bounded: each message is at least a byte
      poster->post(tiny);
      ++posted;
    }
    poster->close();
    done.set_value();
  });
  std::thread runner([&] { io.run(); });
  done.get_future().wait();
  work.reset();
  runner.join();
  EXPECT_TRUE(full);
  EXPECT_LE(posted, limit / (tiny.size() + sizeof(std::string)) + 1);
}

// A message whose connection fails is sent once more on a new connection,
// then dropped and logged; a success in between starts the count again,
// so each message gets its one retry.
TEST(CallbackPoster, AFailedMessageIsTriedOnceMoreThenDropped) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    switch (c.number) {
      case 1:  // 1 answered, 2 read and the connection dropped unanswered
        if (c.read_request(r)) c.write(ok_answer);
        if (c.read_request(r)) c.reset();
        break;
      case 2:  // 2 again, answered; 3 dropped
        if (c.read_request(r)) c.write(ok_answer);
        if (c.read_request(r)) c.reset();
        break;
      case 3:  // 3 again, dropped again: given up
        if (c.read_request(r)) c.reset();
        break;
      default:  // 4 and on
        while (c.read_request(r)) c.write(ok_answer);
    }
  });
  const auto run = post_callbacks(receiver, 4, 6, 10s);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2", "/cb/2", "/cb/3", "/cb/3", "/cb/4"}));
  EXPECT_NE(run.log.find("s1: callback 3 dropped, can't read the answer"), std::string::npos) << run.log;
  EXPECT_EQ(run.log.find("callback 2 dropped"), std::string::npos) << run.log;
}

// The stale connection the retry is for: the receiver closed a kept
// connection (an idle timeout) as the next message went out on it, which
// it never read. That message is sent once more, on a new connection.
TEST(CallbackPoster, AMessageOnAKeptConnectionTheReceiverClosedIsSentAgain) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    if (c.number == 1) {  // 1 answered, kept alive, then closed unread
      if (c.read_request(r)) c.write(ok_answer);
      c.close();
      return;
    }
    while (c.read_request(r)) c.write(ok_answer);
  });
  const auto run = post_callbacks(receiver, 3, 3, 10s);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2", "/cb/3"}));
  EXPECT_EQ(run.log, "");
}

// A receiver that takes the request and never answers costs the stream one
// timeout, not the rest of its callbacks; the message is not sent again
// (it was received: RFC 9110 9.2.2).
TEST(CallbackPoster, AReceiverThatNeverAnswersTimesOut) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    if (c.number == 1) {  // 1: read, never answered
      if (c.read_request(r)) c.wait_for_client_close(ssekit::testing::hang_limit);
      return;
    }
    while (c.read_request(r)) c.write(ok_answer);
  });
  auto run = post_callbacks(receiver, 2, 2, 200ms);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2"}));
  EXPECT_NE(run.log.find("s1: callback 1 dropped, can't read the answer: "), std::string::npos) << run.log;
}

// The harness does not de-duplicate callbacks (message_sorting_queue.go):
// one that was read whole and answered late, on a kept connection, arrived
// twice. A timeout is no sign the receiver did not act on it: no resend.
TEST(CallbackPoster, ACallbackAnsweredLateIsNotSentAgain) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    if (c.number == 1) {  // 1 answered; 2 read whole, answered once the poster gave up
      if (c.read_request(r)) c.write(ok_answer);
      if (c.read_request(r) && c.wait_for_client_close(ssekit::testing::hang_limit)) c.write(ok_answer);
      return;
    }
    while (c.read_request(r)) c.write(ok_answer);
  });
  const auto run = post_callbacks(receiver, 3, 3, 2s);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2", "/cb/3"}));
  EXPECT_NE(run.log.find("s1: callback 2 dropped, can't read the answer: "), std::string::npos) << run.log;
}

// Part of an answer shows the receiver had the request: a failure after it
// is no reason to send it again, on a kept connection or a new one.
TEST(CallbackPoster, ACallbackWithPartOfItsAnswerIsNotSentAgain) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    switch (c.number) {
      case 1:  // 1 answered; 2 answered in part, then reset
        if (c.read_request(r)) c.write(ok_answer);
        if (c.read_request(r) && c.write("HTTP/1.1 200 OK\r\n")) c.reset();
        break;
      case 2:  // 3 on a new connection: in part, then closed
        if (c.read_request(r) && c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")) c.close();
        break;
      default:
        while (c.read_request(r)) c.write(ok_answer);
    }
  });
  const auto run = post_callbacks(receiver, 4, 4, 10s);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2", "/cb/3", "/cb/4"}));
  EXPECT_NE(run.log.find("s1: callback 2 dropped, can't read the answer: "), std::string::npos) << run.log;
  EXPECT_NE(run.log.find("s1: callback 3 dropped, can't read the answer: "), std::string::npos) << run.log;
}

// The receiver's answer is read up to 64 KiB: a larger one is a failed
// callback, not a buffer the receiver sizes.
TEST(CallbackPoster, AnAnswerOver64KiBIsAFailure) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    if (c.number == 1) {
      if (c.read_request(r)) c.write("HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n" + std::string(65537, 'x'));
      c.wait_for_client_close(ssekit::testing::hang_limit);
      return;
    }
    while (c.read_request(r)) c.write("HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n" + std::string(65536, 'x'));
  });
  const auto run = post_callbacks(receiver, 3, 3, 10s);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2", "/cb/3"}));
  EXPECT_NE(run.log.find("s1: callback 1 dropped, can't read the answer: "), std::string::npos) << run.log;
  EXPECT_EQ(run.log.find("callback 2"), std::string::npos) << run.log;
}

// Beast's body_limit counts chunk data only: an answer whose chunk
// extension never ends was read whole into the poster's buffer (4 GB in
// 12 s from one receiver). The buffer is capped: the read fails, the
// connection closes, and the receiver can't write much past the cap.
TEST(CallbackPoster, AnAnswerWhoseChunkMetadataNeverEndsIsCutAtTheBuffersCap) {
  constexpr std::size_t offered = 32u << 20;
  std::atomic<std::size_t> most_written{0};
  ssekit::testing::script_server receiver([&](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    if (c.number == 1) {
      if (!c.read_request(r) || !c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")) return;
      const std::string piece(64 * 1024, 'e');
      std::size_t written = 0;
      while (written < offered && c.write(piece)) written += piece.size();
      most_written = std::max(most_written.load(), written);
      return;
    }
    while (c.read_request(r)) c.write(ok_answer);
  });
  const auto run = post_callbacks(receiver, 2, 2, 60s);  // the cap ends it, not the timeout
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2"}));
  EXPECT_NE(run.log.find("s1: callback 1 dropped, can't read the answer: "), std::string::npos) << run.log;
  // Loopback's socket buffers hold a few MiB; the poster read 76 KiB at most.
  EXPECT_LT(most_written.load(), offered) << "the poster read all " << offered << " bytes";
}

// RFC 9110 15.2: a client parses 1xx answers before the final one. Taken
// as the answer, a 100 set every later answer one message off.
TEST(CallbackPoster, InterimAnswersBeforeTheAnswerAreSkipped) {
  ssekit::testing::script_server receiver([](ssekit::testing::script_server::connection& c) {
    ssekit::testing::request r;
    while (c.read_request(r)) c.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + ok_answer);
  });
  const auto run = post_callbacks(receiver, 3, 3, 10s);
  EXPECT_EQ(run.targets, (std::vector<std::string>{"/cb/1", "/cb/2", "/cb/3"}));
  EXPECT_EQ(run.log, "");
}

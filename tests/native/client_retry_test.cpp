// The attempt hook (on_attempt, on_attempt_async) and the rules for sending
// a request again (refused attempts, replay_body, Retry-After), against
// scripted loopback servers. Waits are on events with timeouts; no sleep
// synchronises anything.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/client_errors.hpp"
#include "support/client_options.hpp"
#include "support/script_server.hpp"
#include "ssekit/client.hpp"
#include "ssekit/event_stream.hpp"

namespace {

using namespace std::chrono_literals;
using ssekit::attempt_kind;
using ssekit::client_error_reason;
using ssekit::testing::request;
using ssekit::testing::script_server;
using ssekit::testing::stream_header;

struct recording {
  std::vector<std::string> events;  // type:data#id
  std::vector<ssekit::client_error> errors;
  std::vector<ssekit::attempt_info> attempts;
  ssekit::blocking_result result;
};

// Runs a client until it closes itself, `max_events` arrive, or 20 s pass.
// `hooks` sets the attempt hook; the recording sees each call first.
recording run(ssekit::client_options options, std::size_t max_events, const std::function<void(ssekit::client_handlers&, recording&)>& hooks = {}) {
  recording rec;
  ssekit::client_handlers handlers;
  handlers.on_error = [&](const ssekit::client_error& e) { rec.errors.push_back(e); };
  if (hooks) hooks(handlers, rec);
  rec.result = ssekit::run_client(
      std::move(options),
      [&](const ssekit::event& ev) {
        rec.events.push_back(std::string(ev.type) + ":" + std::string(ev.data) + "#" + std::string(ev.last_event_id));
        return rec.events.size() < max_events;
      },
      ssekit::testing::hang_limit, handlers);
  EXPECT_FALSE(rec.result.timed_out) << "the client ran into the test's hang limit";
  return rec;
}

using ssekit::testing::options_for;

void serve(script_server::connection& c, std::string_view response, bool reset = false) {
  request r;
  if (!c.read_request(r)) return;
  c.write(response);
  if (reset) c.reset();
  else c.close();
}

void set_header(ssekit::header_list& headers, const std::string& name, const std::string& value) {
  for (auto& [n, v] : headers) {
    if (n == name) {
      v = value;
      return;
    }
  }
  headers.emplace_back(name, value);
}

// A server whose tokens expire every `per_token` events: a request with the
// current token gets the next events after its Last-Event-ID, then the
// token expires and the stream ends; any other token gets 401. `issue()`
// is the token service a client asks for a fresh one.
class expiring_tokens {
 public:
  explicit expiring_tokens(int per_token) : per_token_(per_token) {}
  std::string issue() const { return std::string(1, 't').append(std::to_string(generation_.load())); }
  script_server::script script() {
    return [this](script_server::connection& c) {
      request r;
      if (!c.read_request(r)) return;
      if (r.header("authorization") != "Bearer " + issue()) {
        c.write("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"error\":\"token\"}");
        c.close();
        return;
      }
      const int from = r.has("last-event-id") ? std::stoi(r.header("last-event-id")) : 0;
      std::string body;
      for (int i = from + 1; i <= from + per_token_; ++i) body += "id: " + std::to_string(i) + "\ndata: " + std::to_string(i) + "\n\n";
      c.write(stream_header() + body);
      ++generation_;  // expired: the next request with it gets 401
      c.close();
    };
  }

 private:
  int per_token_;
  std::atomic<int> generation_{1};
};

std::vector<std::string> numbered(int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) out.push_back("message:" + std::to_string(i) + "#" + std::to_string(i));
  return out;
}

// Each request that got a stream carried the last id delivered before it.
void expect_resumed(const std::vector<request>& requests, const std::string& first_token) {
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].header("authorization"), "Bearer " + first_token);
  EXPECT_FALSE(requests[0].has("last-event-id"));
  for (std::size_t i = 1; i < requests.size(); ++i) EXPECT_TRUE(requests[i].has("last-event-id")) << i;
}

TEST(ClientAttemptHook, RefreshesAnExpiredTokenAndTheStreamGoesOnWithLastEventId) {
  expiring_tokens tokens(3);
  script_server server(tokens.script());
  auto o = options_for(server.url());
  o.headers = {{"Authorization", "Bearer t1"}};
  int refreshed = 0;
  const recording rec = run(o, 9, [&](ssekit::client_handlers& h, recording& r) {
    h.on_attempt = [&](ssekit::attempt_request& req, const ssekit::attempt_info& info) {
      r.attempts.push_back(info);
      if (info.previous_status == 401) {
        set_header(req.headers, "Authorization", "Bearer " + tokens.issue());
        ++refreshed;
      }
    };
  });
  EXPECT_EQ(rec.events, numbered(9));  // nothing lost, nothing twice
  EXPECT_EQ(refreshed, 2);
  // The 401s were reported and retried, not the end.
  int unauthorized = 0;
  for (const auto& e : rec.errors) {
    if (e.status != 401) continue;
    ++unauthorized;
    EXPECT_EQ(e.reason, client_error_reason::http_status);
    EXPECT_TRUE(e.will_reconnect);
    EXPECT_EQ(e.body, "{\"error\":\"token\"}");
  }
  EXPECT_EQ(unauthorized, 2);
  ASSERT_GE(rec.attempts.size(), 5u);
  EXPECT_EQ(rec.attempts[0].kind, attempt_kind::first);
  EXPECT_EQ(rec.attempts[0].number, 1u);
  // No reason before the first attempt (it said network_error).
  EXPECT_EQ(rec.attempts[0].previous_reason, std::nullopt);
  EXPECT_EQ(rec.attempts[1].kind, attempt_kind::reconnect);
  EXPECT_EQ(rec.attempts[1].previous_reason, client_error_reason::end_of_stream);
  EXPECT_EQ(rec.attempts[2].previous_status, 401);
  EXPECT_EQ(rec.attempts[2].failures, 1u);  // the 401 counts for the backoff
  const auto requests = server.requests();
  expect_resumed(requests, "t1");
  // The refreshed token went out with the id the expired stream had reached.
  ASSERT_GE(requests.size(), 3u);
  EXPECT_EQ(requests[2].header("authorization"), "Bearer t2");
  EXPECT_EQ(requests[2].header("last-event-id"), "3");
}

// The pull interface takes the same hooks (stream_options): a coroutine that
// reads with async_next keeps its stream across expiring tokens, with the
// sync form and with the async one answering from another thread.
TEST(EventStreamAttemptHook, ACoroutineReaderKeepsItsStreamAcrossExpiringTokens) {
  for (const bool async_hook : {false, true}) {
    SCOPED_TRACE(async_hook ? "on_attempt_async" : "on_attempt");
    expiring_tokens tokens(3);
    script_server server(tokens.script());
    auto o = options_for(server.url());
    o.headers = {{"Authorization", "Bearer t1"}};
    ssekit::stream_options so;
    int refreshed = 0;
    std::vector<std::thread> fetchers;
    if (async_hook) {
      so.on_attempt_async = [&](ssekit::attempt_request req, const ssekit::attempt_info& info, ssekit::attempt_done done) {
        if (info.previous_status != 401) return done(std::move(req));
        ++refreshed;
        fetchers.emplace_back([&tokens, req = std::move(req), done]() mutable {
          set_header(req.headers, "Authorization", "Bearer " + tokens.issue());
          done(std::move(req));
        });
      };
    } else {
      so.on_attempt = [&](ssekit::attempt_request& req, const ssekit::attempt_info& info) {
        if (info.previous_status != 401) return;
        set_header(req.headers, "Authorization", "Bearer " + tokens.issue());
        ++refreshed;
      };
    }
    int responses = 0;
    so.on_diagnostic = [&](const ssekit::diagnostic& d) { responses += d.kind == ssekit::diagnostic_kind::response ? 1 : 0; };
    boost::asio::io_context io;
    ssekit::event_stream stream(io.get_executor(), o, so);
    std::vector<std::string> got;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          while (got.size() < 9) {
            auto [ec, item] = co_await stream.async_next(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec) co_return;  // closed for good: the test fails below
            got.push_back(item.data + "#" + item.id);
          }
          stream.close();
        },
        boost::asio::detached);
    io.run_for(ssekit::testing::hang_limit);
    for (auto& t : fetchers) t.join();
    EXPECT_EQ(got, (std::vector<std::string>{"1#1", "2#2", "3#3", "4#4", "5#5", "6#6", "7#7", "8#8", "9#9"}));
    EXPECT_EQ(refreshed, 2);
    EXPECT_GE(responses, 5);  // three streams, two 401s
    expect_resumed(server.requests(), "t1");
  }
}

TEST(ClientAttemptHook, TheAsyncFormAnswersFromAnotherThread) {
  expiring_tokens tokens(2);
  script_server server(tokens.script());
  auto o = options_for(server.url());
  std::mutex mutex;
  std::vector<std::thread> fetchers;
  const recording rec = run(o, 6, [&](ssekit::client_handlers& h, recording& r) {
    h.on_attempt_async = [&](ssekit::attempt_request req, const ssekit::attempt_info& info, ssekit::attempt_done done) {
      r.attempts.push_back(info);
      std::lock_guard lock(mutex);
      // A token service on another thread: every attempt asks it.
      fetchers.emplace_back([&tokens, req = std::move(req), done]() mutable {
        set_header(req.headers, "Authorization", "Bearer " + tokens.issue());
        done(std::move(req));
      });
    };
  });
  for (auto& t : fetchers) t.join();
  EXPECT_EQ(rec.events, numbered(6));
  expect_resumed(server.requests(), "t1");
  for (const auto& e : rec.errors) EXPECT_NE(e.status, 401) << "a fresh token each attempt";
}

TEST(ClientAttemptHook, FailuresTimeoutsAndBadRequestsAreReportedAndBackedOff) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: in\n\n"); });
  auto o = options_for(server.url());
  o.attempt_hook_timeout = 50ms;
  std::vector<ssekit::attempt_done> dropped;  // answered never: the timeout ends the attempt
  std::vector<std::pair<ssekit::diagnostic_kind, std::uint64_t>> diagnostics;  // kind, attempt
  const recording rec = run(o, 1, [&](ssekit::client_handlers& h, recording& r) {
    h.on_diagnostic = [&](const ssekit::diagnostic& d) {
      if (d.kind != ssekit::diagnostic_kind::bytes_received) diagnostics.emplace_back(d.kind, d.attempt);
    };
    h.on_attempt_async = [&](ssekit::attempt_request req, const ssekit::attempt_info& info, ssekit::attempt_done done) {
      r.attempts.push_back(info);
      switch (info.number) {
        case 1: throw std::runtime_error("token service down");
        case 2: return done.fail("no token");
        case 3: dropped.push_back(done); return;
        case 4: req.headers.emplace_back("X-Bad", "a\r\nInjected: 1"); return done(std::move(req));
        default: done(std::move(req)); done.fail("a second answer is ignored");
      }
    };
  });
  EXPECT_EQ(rec.events, std::vector<std::string>{"message:in#"});
  ASSERT_EQ(rec.errors.size(), 4u);
  const char* const expected[] = {"the attempt hook threw: token service down", "no token", "did not answer within 50 ms",
                                  "control byte"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rec.errors[i].reason, client_error_reason::attempt_hook_failed) << i;
    EXPECT_TRUE(rec.errors[i].will_reconnect) << i;
    EXPECT_NE(rec.errors[i].message.find(expected[i]), std::string::npos) << rec.errors[i].message;
    EXPECT_EQ(rec.attempts[i + 1].failures, i + 1) << "backoff state is kept";
  }
  EXPECT_GT(rec.errors[3].reconnect_delay, rec.errors[0].reconnect_delay) << "the wait grows";
  // The diagnostics number attempts as attempt_info does: the four failed
  // ones are 1 to 4, the one that connected is 5 (it said 1, and the
  // failures 0: a second count that skipped attempts the hook failed).
  using kind = ssekit::diagnostic_kind;
  ASSERT_GE(diagnostics.size(), 6u);
  diagnostics.resize(6);  // the stream's end may follow, or the close come first
  EXPECT_EQ(diagnostics, (std::vector<std::pair<kind, std::uint64_t>>{{kind::reconnect_scheduled, 1},
                                                                      {kind::reconnect_scheduled, 2},
                                                                      {kind::reconnect_scheduled, 3},
                                                                      {kind::reconnect_scheduled, 4},
                                                                      {kind::attempt_started, 5},
                                                                      {kind::response, 5}}));
  // Nothing was sent for the failed attempts.
  EXPECT_EQ(server.requests().size(), 1u);
  // Late answers to a timed-out attempt do nothing (the client is gone too).
  for (auto& d : dropped) d(ssekit::attempt_request{});
}

TEST(ClientAttemptHook, IsCalledForRedirectsAndCanChangeTheUrl) {
  script_server target([](script_server::connection& c) { serve(c, stream_header() + "data: moved\n\n"); });
  script_server origin([&](script_server::connection& c) {
    serve(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: " + target.url("/next") + "\r\nContent-Length: 0\r\n\r\n");
  });
  // The first attempt goes to a port nothing listens on: connection refused.
  std::uint16_t dead_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    dead_port = a.local_endpoint().port();
  }
  auto o = options_for("http://127.0.0.1:" + std::to_string(dead_port) + "/events");
  o.method = "POST";
  o.body = "prompt";  // refused before it was sent: safe to send again
  std::vector<std::string> urls;
  const recording rec = run(o, 1, [&](ssekit::client_handlers& h, recording& r) {
    h.on_attempt = [&](ssekit::attempt_request& req, const ssekit::attempt_info& info) {
      r.attempts.push_back(info);
      if (info.kind == attempt_kind::reconnect) req.url = origin.url();
      set_header(req.headers, "X-Attempt", std::to_string(info.number));
      urls.push_back(req.url);
    };
  });
  EXPECT_EQ(rec.events, std::vector<std::string>{"message:moved#"});
  ASSERT_EQ(rec.attempts.size(), 3u);
  EXPECT_EQ(rec.attempts[0].kind, attempt_kind::first);
  EXPECT_EQ(rec.attempts[1].kind, attempt_kind::reconnect);
  EXPECT_EQ(rec.attempts[1].previous_reason, client_error_reason::network_error);
  EXPECT_EQ(rec.attempts[2].kind, attempt_kind::redirect);
  EXPECT_EQ(urls[2], target.url("/next"));
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_TRUE(rec.errors[0].will_reconnect) << "connection refused: the POST was never sent";
  ASSERT_EQ(target.requests().size(), 1u);
  EXPECT_EQ(target.requests()[0].header("x-attempt"), "3");
  EXPECT_EQ(target.requests()[0].body, "prompt");
  EXPECT_EQ(origin.requests().at(0).body, "prompt");
}

TEST(ClientAttemptHook, BothFormsAtOnceAreRefused) {
  ssekit::client_handlers h;
  h.on_attempt = [](ssekit::attempt_request&, const ssekit::attempt_info&) {};
  h.on_attempt_async = [](ssekit::attempt_request, const ssekit::attempt_info&, ssekit::attempt_done) {};
  boost::asio::io_context io;
  EXPECT_THROW(ssekit::client(io.get_executor(), options_for("http://127.0.0.1:1/"), h), ssekit::client_options_error);
  auto o = options_for("http://127.0.0.1:1/");
  o.attempt_hook_timeout = 0ms;
  EXPECT_THROW(ssekit::client(io.get_executor(), o, {}), ssekit::client_options_error);
}

// --- sending a request again

TEST(ClientRetry, A429ThenA200OnAPostSendsTheBodyTwiceAndDeliversTheEvents) {
  script_server server([](script_server::connection& c) {
    if (c.number == 1) serve(c, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n");
    else serve(c, stream_header() + "data: Hel\n\ndata: lo\n\n");
  });
  auto o = options_for(server.url());
  o.method = "POST";
  o.body = R"({"prompt":"hi"})";
  o.retry_server_errors = true;  // no replay_body: a 429 is a refusal, the POST was not run
  const recording rec = run(o, 2);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"message:Hel#", "message:lo#"}));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, o.body);
  EXPECT_EQ(requests[1].body, o.body);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].status, 429);
  EXPECT_TRUE(rec.errors[0].will_reconnect);
  EXPECT_GT(rec.errors[0].next_attempt, std::chrono::steady_clock::time_point{});
}

TEST(ClientRetry, A502WithRetryAfterAsADateWaitsUntilThatDate) {
  // Retry-After one second after the response's Date: a 1 s wait, whatever
  // the local clock says.
  script_server server([](script_server::connection& c) {
    if (c.number == 1) {
      serve(c, "HTTP/1.1 502 Bad Gateway\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
               "Retry-After: Sun, 06 Nov 1994 08:49:38 GMT\r\nContent-Length: 0\r\n\r\n");
    } else {
      serve(c, stream_header() + "data: ok\n\n");
    }
  });
  auto o = options_for(server.url());
  o.method = "POST";
  o.body = "prompt";
  o.retry_server_errors = true;
  const recording rec = run(o, 1);
  EXPECT_EQ(rec.events, std::vector<std::string>{"message:ok#"});
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].status, 502);
  EXPECT_TRUE(rec.errors[0].will_reconnect);
  EXPECT_EQ(rec.errors[0].reconnect_delay, 1000ms);
  EXPECT_EQ(server.requests().at(1).body, "prompt");
}

TEST(ClientRetry, A500OnAPostIsNotSentAgainWithoutReplayBody) {
  script_server server([](script_server::connection& c) { serve(c, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"); });
  auto o = options_for(server.url());
  o.method = "POST";
  o.body = "prompt";
  o.retry_server_errors = true;
  const recording rec = run(o, 1);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_FALSE(rec.errors[0].will_reconnect);
  EXPECT_NE(rec.errors[0].message.find("replay_body"), std::string::npos) << rec.errors[0].message;
  EXPECT_EQ(server.connections(), 1);
}

TEST(ClientRetry, APostThatDeliveredEventsIsReplayedOnlyWithReplayBody) {
  for (const bool replay : {false, true}) {
    script_server server([](script_server::connection& c) {
      serve(c, stream_header() + "id: " + std::to_string(c.number) + "\ndata: part " + std::to_string(c.number) + "\n\n",
            /*reset=*/true);
    });
    auto o = options_for(server.url());
    o.method = "POST";
    o.body = "prompt";
    o.replay_body = replay;
    const recording rec = run(o, 2);
    const auto requests = server.requests();
    if (!replay) {
      EXPECT_EQ(rec.events, std::vector<std::string>{"message:part 1#1"});
      ASSERT_EQ(rec.errors.size(), 1u);
      EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error);
      EXPECT_FALSE(rec.errors[0].will_reconnect);
      EXPECT_NE(rec.errors[0].message.find("set replay_body"), std::string::npos) << rec.errors[0].message;
      EXPECT_EQ(rec.errors[0].next_attempt, std::chrono::steady_clock::time_point{});
      EXPECT_EQ(requests.size(), 1u);
    } else {
      EXPECT_EQ(rec.events, (std::vector<std::string>{"message:part 1#1", "message:part 2#2"}));
      ASSERT_GE(requests.size(), 2u);
      EXPECT_EQ(requests[1].body, "prompt");
      EXPECT_EQ(requests[1].header("last-event-id"), "1");
    }
  }
}

TEST(ClientRetry, APostSentAndLeftUnansweredIsNotSentAgain) {
  script_server server([](script_server::connection& c) {
    request r;
    if (c.read_request(r)) c.reset();  // took the request, died before answering
  });
  auto o = options_for(server.url());
  o.method = "POST";
  o.body = "prompt";
  const recording rec = run(o, 1);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error);
  EXPECT_FALSE(rec.errors[0].will_reconnect);
  EXPECT_EQ(server.requests().size(), 1u);
}

// --- redirects and reconnects

// /start answers 307 to /events; /events answers 503 `refusals` times, then
// a stream with one event. The requests' targets, in order, are recorded.
script_server::script redirect_then_refusals(int refusals, std::atomic<int>& refused) {
  return [refusals, &refused](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    if (r.target == "/start") c.write("HTTP/1.1 307 Temporary Redirect\r\nLocation: /events\r\nContent-Length: 0\r\n\r\n");
    else if (refused.fetch_add(1) < refusals) c.write("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    else c.write(stream_header() + "data: in\n\n");
    c.close();
  };
}

std::vector<std::string> targets(const std::vector<request>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.target);
  return out;
}

// Each attempt may follow max_redirects redirects: the count starts again
// at every reconnect, it does not add up across them (mutation testing
// showed this untested).
TEST(ClientRedirect, TheRedirectLimitCountsPerAttemptNotAcrossReconnects) {
  std::atomic<int> refused{0};
  script_server server(redirect_then_refusals(3, refused));
  auto o = options_for(server.url("/start"));
  o.max_redirects = 2;
  o.retry_server_errors = true;
  const recording rec = run(o, 1);
  EXPECT_EQ(rec.events, std::vector<std::string>{"message:in#"});
  ASSERT_EQ(rec.errors.size(), 3u);
  for (const auto& e : rec.errors) {
    EXPECT_EQ(e.status, 503) << e.message;
    EXPECT_NE(e.reason, client_error_reason::redirect_refused) << e.message;
    EXPECT_TRUE(e.will_reconnect);
  }
  // One redirect per attempt: four attempts, each /start then /events.
  EXPECT_EQ(targets(server.requests()),
            (std::vector<std::string>{"/start", "/events", "/start", "/events", "/start", "/events", "/start", "/events"}));
}

// With an attempt hook too, a redirect's request becomes the reconnect's
// only once its stream opens: after a redirect whose target answered 503,
// the reconnect asks the original URL again (mutation testing showed this
// untested).
TEST(ClientRedirect, AReconnectAfterARedirectWhoseStreamNeverOpenedGoesToTheOriginalUrl) {
  std::atomic<int> refused{0};
  script_server server(redirect_then_refusals(1, refused));
  auto o = options_for(server.url("/start"));
  o.retry_server_errors = true;
  std::vector<std::string> urls;
  const recording rec = run(o, 1, [&](ssekit::client_handlers& h, recording& r) {
    h.on_attempt = [&](ssekit::attempt_request& req, const ssekit::attempt_info& info) {
      r.attempts.push_back(info);
      urls.push_back(req.url);
    };
  });
  EXPECT_EQ(rec.events, std::vector<std::string>{"message:in#"});
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].status, 503);
  EXPECT_EQ(targets(server.requests()), (std::vector<std::string>{"/start", "/events", "/start", "/events"}));
  ASSERT_EQ(rec.attempts.size(), 4u);
  EXPECT_EQ(rec.attempts[0].kind, attempt_kind::first);
  EXPECT_EQ(rec.attempts[1].kind, attempt_kind::redirect);
  EXPECT_EQ(rec.attempts[2].kind, attempt_kind::reconnect);
  EXPECT_EQ(rec.attempts[3].kind, attempt_kind::redirect);
  EXPECT_EQ(urls[2], server.url("/start")) << "the hook is offered the original URL";
}

}  // namespace

// RFC 9110 15: a status outside 100..599 is invalid and processed as a 5xx;
// the message shows the digits as sent ("099" used to read "answered 99").
TEST(ClientRetry, AnInvalidStatusIsAServerError) {
  for (const char* line : {"HTTP/1.1 099 Odd", "HTTP/1.1 000 Zero", "HTTP/1.1 600 High"}) {
    for (const bool retry : {false, true}) {
      script_server server([line](script_server::connection& c) {
        if (c.number == 1) serve(c, std::string(line) + "\r\nContent-Length: 0\r\n\r\n");
        else serve(c, stream_header() + "data: ok\n\n");
      });
      auto o = options_for(server.url());
      o.retry_server_errors = retry;
      const recording rec = run(o, retry ? 1 : 0);
      ASSERT_EQ(rec.errors.size(), 1u) << line;
      EXPECT_EQ(rec.errors[0].reason, client_error_reason::http_status) << line;
      EXPECT_EQ(rec.errors[0].will_reconnect, retry) << line;
      EXPECT_NE(rec.errors[0].message.find(std::string("answered ") + (line + 9)), std::string::npos) << rec.errors[0].message;
      // Not retried: the message names the option that would have.
      EXPECT_EQ(rec.errors[0].message.ends_with("; not retried: set retry_server_errors to reconnect after it"), !retry)
          << rec.errors[0].message;
      EXPECT_EQ(rec.events, retry ? std::vector<std::string>{"message:ok#"} : std::vector<std::string>{}) << line;
    }
  }
}

namespace {

// Errors of a client reading `server` until `count` arrived (then closed).
std::vector<ssekit::client_error> errors_of(const script_server& server, ssekit::client_options o, std::size_t count) {
  o.url = server.url();
  o.reconnect = true;
  return ssekit::testing::errors_until(o, count);
}

// Opens a stream, sends nothing, and ends it after `hold` (or when the client leaves).
script_server::script quiet_stream_for(std::chrono::milliseconds hold) {
  return [hold](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header());
    if (hold.count() > 0) c.wait_for_client_close(hold);
    c.close();
  };
}

}  // namespace

// A stream that stayed open longer than the wait another failure would
// bring is no failure, even without an event. A proxy or load balancer that
// cuts idle streams (squid's read_timeout, nginx's proxy_read_timeout)
// pushed a quiet but healthy stream towards max_delay between connections:
// behind squid, sse-cat got 1 of 7 broadcasts, a browser-like client 7 (a
// helper's probe with real proxies). The HTML standard's EventSource waits
// the reconnection time after every drop.
TEST(ClientBackoffAfterOpen, AStreamCutAfterLivingLongerThanTheNextWaitKeepsThePlainReconnectionTime) {
  script_server server(quiet_stream_for(300ms));
  auto o = ssekit::testing::options_for("");  // 5 ms, x2 per failure: 5, 10, 20, 40 ms
  const auto errors = errors_of(server, o, 4);
  ASSERT_EQ(errors.size(), 4u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.reason, client_error_reason::end_of_stream) << e.message;
    EXPECT_EQ(e.reconnect_delay, 5ms) << "the stream lived 300 ms: no failure";
  }
}

// One that ends at once still backs off (here the first wait is 1 s and
// the second 2 s: a stream ended at once does not live that long, even on
// a busy machine that stalls the client between the head and the end).
TEST(ClientBackoffAfterOpen, AStreamEndedAtOnceStillBacksOff) {
  script_server server(quiet_stream_for(0ms));
  auto o = ssekit::testing::options_for("");
  o.reconnection_time = 1s;
  o.backoff.jitter_percent = 0;
  const auto errors = errors_of(server, o, 2);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].reconnect_delay, 1s);
  EXPECT_EQ(errors[1].reconnect_delay, 2s);
}

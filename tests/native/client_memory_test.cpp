// ssekit::client's state machine over in-memory connections
// (native/client/memory_transport.hpp: Beast test streams): scripted
// responses, a failure injected at every I/O step in turn, throwing
// handlers. No sockets, no sleeps; waits are bounded by run_for.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/_experimental/test/error.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "memory_transport.hpp"
#include "ssekit/client.hpp"

namespace {

using namespace std::chrono_literals;
using ssekit::client_error_reason;
using ssekit::detail::memory_server;

const std::string sse_head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";

struct run_result {
  std::vector<std::string> log;
  std::vector<ssekit::client_error> errors;
  ssekit::client_state state = ssekit::client_state::connecting;
  bool io_done = false;  // the io_context ran out of work: nothing left behind
  int calls_after_close = 0;
};

ssekit::client_options memory_options(std::string url = "http://sse.test/a") {
  ssekit::client_options o;
  o.url = std::move(url);
  o.reconnection_time = 0ms;
  o.backoff.min_delay = 1ms;
  o.connect_timeout = 5s;
  return o;
}

// Runs a client over `server` until it closes (or 10 s pass). `on_step`, if
// set, is given the client at each event so a test can close it there.
run_result run_memory(const std::shared_ptr<memory_server>& server, ssekit::client_options o,
                      std::size_t close_after_events = SIZE_MAX, std::size_t close_at_step = SIZE_MAX) {
  run_result r;
  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  bool closed = false;
  std::size_t events = 0;
  auto note = [&](std::string s) {
    if (closed) ++r.calls_after_close;
    r.log.push_back(std::move(s));
  };
  ssekit::client_handlers h;
  h.on_open = [&](const ssekit::response_info& i) { note("open " + std::to_string(i.status)); };
  h.on_event = [&](const ssekit::event& ev) {
    note("event " + std::string(ev.data) + "#" + std::string(ev.last_event_id));
    if (++events == close_after_events) {
      c->close();
      closed = true;
    }
  };
  h.on_error = [&](const ssekit::client_error& e) {
    note("error " + std::string(ssekit::client_error_reason_name(e.reason)) + (e.will_reconnect ? " reconnect" : " closed"));
    r.errors.push_back(e);
  };
  if (close_at_step != SIZE_MAX) {
    server->on_step = [&](std::size_t step) {
      if (step != close_at_step) return;
      c->close();
      closed = true;
    };
  }
  c.emplace(io.get_executor(), std::move(o), std::move(h), ssekit::detail::make_memory_factory(server));
  io.run_for(10s);
  server->on_step = nullptr;
  r.io_done = io.stopped();
  r.state = c->state();
  return r;
}

TEST(ClientMemory, DeliversEventsAndSendsTheRequestHead) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) { return sse_head + "id: 1\ndata: a\n\n"; };
  auto o = memory_options();
  o.reconnect = false;
  o.headers = {{"Host", "front.test"}, {"User-Agent", "mine/1"}};
  const auto r = run_memory(server, o);
  EXPECT_EQ(r.log, (std::vector<std::string>{"open 200", "event a#1", "error end_of_stream closed"}));
  ASSERT_EQ(server->requests.size(), 1u);
  const std::string& req = server->requests[0];
  EXPECT_EQ(req.find("GET /a HTTP/1.1\r\n"), 0u);
  EXPECT_NE(req.find("Host: front.test\r\n"), std::string::npos);
  EXPECT_EQ(req.find("Host:", req.find("Host:") + 1), std::string::npos) << "one Host";
  EXPECT_NE(req.find("User-Agent: mine/1\r\n"), std::string::npos);
  EXPECT_EQ(req.find("User-Agent:", req.find("User-Agent:") + 1), std::string::npos) << "one User-Agent";
  EXPECT_NE(req.find("Accept-Encoding: gzip, deflate\r\n"), std::string::npos);
  EXPECT_TRUE(r.io_done);
}

TEST(ClientMemory, TheNormalEndGoesToOnEndNotOnErrorWhenSet) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) { return sse_head + "data: a\n\n"; };
  auto o = memory_options();
  o.method = "POST";
  o.body = "prompt";  // not sent again: the end is final
  boost::asio::io_context io;
  std::vector<std::string> log;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event& ev) { log.push_back("event " + std::string(ev.data)); };
  h.on_error = [&](const ssekit::client_error& e) { log.push_back("error " + std::string(ssekit::client_error_reason_name(e.reason))); };
  h.on_end = [&](const ssekit::response_info& info) { log.push_back("end " + std::to_string(info.status) + " " + info.url); };
  ssekit::client c(io.get_executor(), o, h, ssekit::detail::make_memory_factory(server));
  io.run_for(10s);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(log, (std::vector<std::string>{"event a", "end 200 http://sse.test/a"}));
  EXPECT_EQ(c.state(), ssekit::client_state::closed);
}

TEST(ClientMemory, SkipsInterimResponses) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) {
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" + sse_head + "data: a\n\n";
  };
  server->read_size = 7;
  auto o = memory_options();
  o.reconnect = false;
  const auto r = run_memory(server, o);
  EXPECT_EQ(r.log, (std::vector<std::string>{"open 200", "event a#", "error end_of_stream closed"}));
}

// RFC 9112 2.2 and 4: bare LF line ends and a missing reason phrase are
// read, however the head is split across reads (the whole head is read
// before Beast parses it; before, a head split so failed or stalled). A
// head whose lines are not one response is not re-read from its second
// line (a "404" line, then "HTTP/1.1 200 OK", was a 200 stream): it is the
// 404 it starts with, the second line a field line without a colon, which
// is dropped as Chromium drops it.
TEST(ClientMemory, HeadsWithBareLineFeedsAreReadHoweverTheyAreSplit) {
  const std::pair<std::string, std::string> cases[] = {
      {"HTTP/1.1 200 OK\nContent-Type: text/event-stream\n\ndata: a\n\n", "event a#"},
      {"HTTP/1.1 200 OK\r\nX-A: 1\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n", "event a#"},
      {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\ndata: a\n\n", "event a#"},
      {"HTTP/1.1 103 Early Hints\nLink: </x>\n\nHTTP/1.1 200\nContent-Type: text/event-stream\n\ndata: a\n\n", "event a#"},
      {"HTTP/1.2 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n", "event a#"},  // RFC 9110 2.5
      {"HTTP/1.1 404 Not Found\r\nHTTP/1.1 200 OK\nContent-Type: text/event-stream\n\ndata: smuggled\n\n",
       "error http_status closed"},
      {"", "error network_error closed"},
      {"HTTP/1.1 200 OK\r\nContent-", "error network_error closed"},
  };
  for (const std::size_t read_size : {std::size_t{1}, std::size_t{7}, SIZE_MAX}) {
    for (const auto& [response, second] : cases) {
      auto server = std::make_shared<memory_server>();
      server->respond = [&response = response](int, const std::string&) { return response; };
      server->read_size = read_size;
      auto o = memory_options();
      o.reconnect = false;
      const auto r = run_memory(server, o);
      const bool opens = second.starts_with("event");
      ASSERT_GE(r.log.size(), opens ? 2u : 1u) << response;
      EXPECT_EQ(r.log[opens ? 1 : 0], second) << read_size << ": " << response;
      if (opens) {
        EXPECT_EQ(r.log[0], "open 200");
      }
      ASSERT_EQ(r.errors.size(), 1u);
      if (response.empty()) {
        EXPECT_NE(r.errors[0].message.find("closed the connection without answering"), std::string::npos) << r.errors[0].message;
      }
      if (response.ends_with("Content-")) {
        EXPECT_NE(r.errors[0].message.find("in the middle of the response head"), std::string::npos) << r.errors[0].message;
      }
      if (response.starts_with("HTTP/1.1 404")) {
        EXPECT_EQ(r.errors[0].status, 404) << r.errors[0].message;
      }
    }
  }
}

// compression = false: identity only, as before compression existed.
TEST(ClientMemory, IdentityOnlyRefusesAnyCoding) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b";
  };
  auto o = memory_options();
  o.compression = false;
  const auto r = run_memory(server, o);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, client_error_reason::unsupported_encoding);
  EXPECT_FALSE(r.errors[0].will_reconnect);
  EXPECT_NE(r.errors[0].message.find("gzip"), std::string::npos);
  EXPECT_NE(r.errors[0].message.find("Accept-Encoding: identity"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(server->connections, 1);
  ASSERT_EQ(server->requests.size(), 1u);
  EXPECT_NE(server->requests[0].find("Accept-Encoding: identity\r\n"), std::string::npos);
}

// A coding the client did not advertise is refused even with compression on.
TEST(ClientMemory, AnUndeclaredCodingIsAFinalError) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: br\r\n\r\n\x0b\x02";
  };
  const auto r = run_memory(server, memory_options());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, client_error_reason::unsupported_encoding);
  EXPECT_FALSE(r.errors[0].will_reconnect);
  EXPECT_NE(r.errors[0].message.find("Content-Encoding br"), std::string::npos) << r.errors[0].message;
  EXPECT_NE(r.errors[0].message.find("Accept-Encoding: gzip, deflate"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(server->connections, 1);
}

TEST(ClientMemory, DuplicateContentTypesUseTheLastValidOne) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int n, const std::string&) {
    return n == 1 ? "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n"
                  : "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Type: text/html\r\n\r\ndata: b\n\n";
  };
  const auto r = run_memory(server, memory_options());
  EXPECT_EQ(r.log, (std::vector<std::string>{"open 200", "event a#", "error end_of_stream reconnect", "error wrong_content_type closed"}));
}

TEST(ClientMemory, ServerTextInMessagesIsEscaped) {
  auto server = std::make_shared<memory_server>();
  // C1 CSI (U+009B) in the reason phrase: obs-text to HTTP, a command to a terminal.
  server->respond = [](int, const std::string&) { return "HTTP/1.1 404 Not \xC2\x9B" "2J Found\r\nContent-Length: 0\r\n\r\n"; };
  const auto r = run_memory(server, memory_options());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, client_error_reason::http_status);
  EXPECT_EQ(r.errors[0].message.find('\xC2'), std::string::npos);
  EXPECT_NE(r.errors[0].message.find("\\xc2\\x9b2J"), std::string::npos) << r.errors[0].message;
}

TEST(ClientMemory, ATricklingErrorBodyEndsAsHttpStatusWithinItsDeadline) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) { return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\nnot he"); };
  server->keep_open = true;  // the rest never comes
  auto o = memory_options();
  o.connect_timeout = 100ms;  // the excerpt deadline is min(connect_timeout, 2 s)
  const auto r = run_memory(server, o);
  // A machine that stalls the test for 100 ms before the head is read
  // ends an attempt as connect_timeout first (retried): only the last
  // attempt is this test's.
  ASSERT_GE(r.errors.size(), 1u);
  for (std::size_t i = 0; i + 1 < r.errors.size(); ++i) EXPECT_EQ(r.errors[i].reason, client_error_reason::connect_timeout);
  const auto& last = r.errors.back();
  EXPECT_EQ(last.reason, client_error_reason::http_status);
  EXPECT_EQ(last.status, 404);
  EXPECT_EQ(last.body, "not he");
  EXPECT_FALSE(last.will_reconnect);
  EXPECT_EQ(static_cast<std::size_t>(server->connections), r.errors.size());
}

TEST(ClientMemory, ALimitErrorCarriesTheByteOffset) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int, const std::string&) { return sse_head + "data: ok\n\ndata: " + std::string(100, 'x') + "\n\n"; };
  auto o = memory_options();
  o.limits.max_line_length = 50;
  const auto r = run_memory(server, o);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, client_error_reason::limit_exceeded);
  EXPECT_GE(r.errors[0].offset, 10u);  // the over-long line starts at byte 10
  EXPECT_LE(r.errors[0].offset, 10u + 51u);
  EXPECT_NE(r.errors[0].message.find("at byte " + std::to_string(r.errors[0].offset)), std::string::npos);
}

// --- ids the client can't send

TEST(ClientMemory, AnOverLongOrControlByteIdIsReportedAndNotSent) {
  for (const std::string& bad : {std::string(70000, 'i'), std::string("a\x01" "b"), std::string(4097, 'j')}) {
    auto server = std::make_shared<memory_server>();
    server->respond = [&](int n, const std::string&) {
      if (n == 1) return sse_head + "id: " + bad + "\ndata: first\n\n";
      if (n == 2) return sse_head + "data: second\n\n";
      return std::string("HTTP/1.1 204 No Content\r\n\r\n");
    };
    const auto r = run_memory(server, memory_options());
    ASSERT_EQ(server->requests.size(), 3u);
    EXPECT_EQ(server->requests[1].find("Last-Event-ID"), std::string::npos);
    EXPECT_EQ(server->requests[2].find("Last-Event-ID"), std::string::npos);
    EXPECT_EQ(std::count(r.log.begin(), r.log.end(), "error id_not_sent reconnect"), 1) << "reported once";
    EXPECT_EQ(std::count(r.log.begin(), r.log.end(), "event second#" + bad), 1) << "the stream goes on";
    EXPECT_EQ(r.errors.back().reason, client_error_reason::no_content);
  }
}

// --- the reconnect rate a server can force

TEST(ClientMemory, RetryZeroAndCloseCantDriveMoreThanFourRequestsASecond) {
  auto server = std::make_shared<memory_server>();
  server->respond = [](int n, const std::string&) {
    return n <= 4 ? sse_head + "retry: 0\ndata: x\n\n" : std::string("HTTP/1.1 204 No Content\r\n\r\n");
  };
  auto o = memory_options();
  o.backoff = {};  // the defaults: a 250 ms floor
  const auto r = run_memory(server, o);
  ASSERT_EQ(r.errors.size(), 5u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(r.errors[i].will_reconnect);
    EXPECT_GE(r.errors[i].reconnect_delay, 250ms) << i;
  }
}

// --- handlers that throw

TEST(ClientMemory, AThrowingHandlerClosesTheClientAndPropagatesOutOfRun) {
  for (const std::string where : {"open", "event", "error", "state"}) {
    auto server = std::make_shared<memory_server>();
    server->respond = [](int, const std::string&) { return sse_head + "data: a\n\ndata: b\n\n"; };
    boost::asio::io_context io;
    int calls_after_throw = 0;
    bool thrown = false;
    auto maybe_throw = [&](const std::string& here) {
      if (thrown) ++calls_after_throw;
      if (here == where && !thrown) {
        thrown = true;
        throw std::runtime_error("handler failed");
      }
    };
    ssekit::client_handlers h;
    h.on_open = [&](const ssekit::response_info&) { maybe_throw("open"); };
    h.on_event = [&](const ssekit::event&) { maybe_throw("event"); };
    h.on_error = [&](const ssekit::client_error&) { maybe_throw("error"); };
    h.on_state = [&](ssekit::client_state s) {
      if (s == ssekit::client_state::open) maybe_throw("state");
    };
    ssekit::client c(io.get_executor(), memory_options(), h, ssekit::detail::make_memory_factory(server));
    EXPECT_THROW(io.run_for(10s), std::runtime_error) << where;
    EXPECT_EQ(c.state(), ssekit::client_state::closed) << where;
    // Nothing is left running: no zombie, no more handlers, no reconnect.
    io.restart();
    io.run_for(10s);
    EXPECT_TRUE(io.stopped()) << where;
    EXPECT_EQ(calls_after_throw, 0) << where;
    EXPECT_LE(server->connections, 2) << where;
  }
}

TEST(ClientMemory, RunClientRethrowsAHandlerException) {
  ssekit::client_options o;
  o.url = "http://127.0.0.1:9/";  // nothing listens: the first error's handler throws
  ssekit::client_handlers h;
  h.on_error = [](const ssekit::client_error&) { throw std::logic_error("boom"); };
  EXPECT_THROW(ssekit::run_client(o, nullptr, 10s, h), std::logic_error);
}

// --- a failure at every I/O step

// A redirect, a stream that ends, a reconnect to a stream that ends, then
// 204: connect, write, header and body reads on four connections.
std::shared_ptr<memory_server> scripted_journey() {
  auto server = std::make_shared<memory_server>();
  server->read_size = 9;  // several body reads per stream
  server->respond = [](int, const std::string& request) {
    if (request.rfind("GET /a ", 0) == 0) return std::string("HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n");
    const bool resumed = request.find("Last-Event-ID: 2") != std::string::npos;
    if (!resumed) return sse_head + "id: 1\ndata: one\n\nid: 2\ndata: two\n\n";
    return std::string("HTTP/1.1 204 No Content\r\n\r\n");
  };
  return server;
}

TEST(ClientMemory, AFailureAtEveryIoStepIsReportedAndRecoveredFrom) {
  // Without a failure: the number of steps the journey takes.
  auto clean = scripted_journey();
  const auto baseline = run_memory(clean, memory_options());
  ASSERT_EQ(baseline.errors.back().reason, client_error_reason::no_content);
  const std::size_t steps = clean->steps;
  const std::error_code test_failure = boost::system::error_code(boost::beast::test::error::test_failure);
  ASSERT_GE(steps, 8u);
  for (std::size_t k = 0; k < steps; ++k) {
    auto server = scripted_journey();
    server->fail_step = k;
    const auto r = run_memory(server, memory_options());
    ASSERT_TRUE(server->injected) << k;
    EXPECT_TRUE(r.io_done) << "step " << k << ": something was left running";
    EXPECT_EQ(r.state, ssekit::client_state::closed) << k;
    // The injected failure is a network error that reconnects; the journey
    // then ends as it does without one.
    int injected = 0;
    for (const auto& e : r.errors) {
      if (e.code == test_failure) {
        ++injected;
        EXPECT_EQ(e.reason, client_error_reason::network_error) << k;
        EXPECT_TRUE(e.will_reconnect) << k;
      }
    }
    EXPECT_EQ(injected, 1) << k;
    ASSERT_FALSE(r.errors.empty()) << k;
    EXPECT_EQ(r.errors.back().reason, client_error_reason::no_content) << k;
    EXPECT_EQ(std::count(r.log.begin(), r.log.end(), "event two#2"), 1) << k << ": events lost or repeated";
  }
}

TEST(ClientMemory, CloseAtEveryEventLeavesNothingRunningAndCallsNothing) {
  for (std::size_t n = 1; n <= 2; ++n) {
    auto server = scripted_journey();
    const auto r = run_memory(server, memory_options(), n);
    EXPECT_TRUE(r.io_done) << n;
    EXPECT_EQ(r.calls_after_close, 0) << n;
    EXPECT_EQ(r.state, ssekit::client_state::closed) << n;
  }
}

TEST(ClientMemory, CloseAtEveryIoStepLeavesNothingRunningAndCallsNothing) {
  auto clean = scripted_journey();
  run_memory(clean, memory_options());
  for (std::size_t k = 0; k < clean->steps; ++k) {
    auto server = scripted_journey();
    const auto r = run_memory(server, memory_options(), SIZE_MAX, k);
    EXPECT_TRUE(r.io_done) << k;
    EXPECT_EQ(r.calls_after_close, 0) << k;
    EXPECT_EQ(r.state, ssekit::client_state::closed) << k;
    EXPECT_EQ(server->steps, k + 1) << k << ": I/O went on after close()";
  }
}

// A refused client certificate is known by the TLS alert's reason in the SSL
// library; the same number from another library (X509, EVP) is something else.
TEST(TlsFailureClass, ACertificateRefusalIsTheSslLibrarysAlertOnly) {
  const auto ssl_error = [](int lib, int reason) {
    return boost::system::error_code(static_cast<int>(ERR_PACK(lib, 0, reason)), boost::asio::error::get_ssl_category());
  };
  EXPECT_TRUE(ssekit::detail::is_client_certificate_refusal(ssl_error(ERR_LIB_SSL, SSL_R_TLSV1_ALERT_UNKNOWN_CA)));
  EXPECT_TRUE(ssekit::detail::is_client_certificate_refusal(ssl_error(ERR_LIB_SSL, SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)));
  EXPECT_FALSE(ssekit::detail::is_client_certificate_refusal(ssl_error(ERR_LIB_X509, SSL_R_TLSV1_ALERT_UNKNOWN_CA)));
  EXPECT_FALSE(ssekit::detail::is_client_certificate_refusal(ssl_error(ERR_LIB_EVP, SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)));
  EXPECT_FALSE(ssekit::detail::is_client_certificate_refusal(ssl_error(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED)));
  // The same value in another category (a system error) is not TLS's.
  EXPECT_FALSE(ssekit::detail::is_client_certificate_refusal(
      boost::system::error_code(static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_TLSV1_ALERT_UNKNOWN_CA)), boost::system::system_category())));
}

}  // namespace

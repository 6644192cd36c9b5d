// ssekit::client against scripted loopback servers (script_server.hpp):
// every byte, framing, status and failure is chosen by the test. Waits are
// on events with timeouts; no sleep is used to synchronise.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/client_errors.hpp"
#include "support/client_options.hpp"
#include "support/dropping_port.hpp"
#include "support/script_server.hpp"
#include "tls_fixture.hpp"
#include "ssekit/client.hpp"
#include "ssekit/demo_server.hpp"
#include "ssekit/event_stream.hpp"
#include "transport.hpp"

namespace {

using namespace std::chrono_literals;
using ssekit::client_error_reason;
using ssekit::testing::chunk;
using ssekit::testing::request;
using ssekit::testing::script_server;
using ssekit::testing::stream_header;

// Everything a run delivered, as short strings, in order.
struct recording {
  std::vector<std::string> log;
  std::vector<ssekit::client_error> errors;
  std::vector<ssekit::response_info> opens;
  ssekit::blocking_result result;

  std::vector<std::string> events() const {
    std::vector<std::string> out;
    for (const auto& e : log) {
      if (e.rfind("event ", 0) == 0) out.push_back(e.substr(6));
    }
    return out;
  }
};

// Runs a client until it closes itself, `max_events` arrive, or 10 s pass.
recording run(ssekit::client_options options, std::size_t max_events = SIZE_MAX) {
  recording rec;
  ssekit::client_handlers handlers;
  handlers.on_open = [&](const ssekit::response_info& info) {
    rec.opens.push_back(info);
    rec.log.push_back("open " + std::to_string(info.status));
  };
  handlers.on_comment = [&](std::string_view c) { rec.log.push_back("comment " + std::string(c)); };
  handlers.on_error = [&](const ssekit::client_error& e) {
    rec.errors.push_back(e);
    rec.log.push_back("error " + std::string(ssekit::client_error_reason_name(e.reason)) + (e.will_reconnect ? " reconnect" : " closed"));
  };
  handlers.on_state = [&](ssekit::client_state s) { rec.log.push_back("state " + std::string(ssekit::client_state_name(s))); };
  handlers.on_end = [&](const ssekit::response_info& info) { rec.log.push_back("end " + std::to_string(info.status)); };
  std::size_t seen = 0;
  rec.result = ssekit::run_client(
      std::move(options),
      [&](const ssekit::event& ev) {
        rec.log.push_back("event " + std::string(ev.type) + ":" + std::string(ev.data) + "#" + std::string(ev.last_event_id));
        return ++seen < max_events;
      },
      ssekit::testing::hang_limit, handlers);
  EXPECT_FALSE(rec.result.timed_out) << "the client ran into the test's hang limit";
  return rec;
}

using ssekit::testing::options_for;

void serve(script_server::connection& c, std::string_view header_and_body, bool reset = false) {
  request r;
  if (!c.read_request(r)) return;
  c.write(header_and_body);
  if (reset) c.reset();
  else c.close();
}

// --- opening and events

TEST(Client, OpensAndDeliversEventsCommentsAndIds) {
  script_server server([](script_server::connection& c) {
    serve(c, stream_header("text/event-stream; charset=utf-8", "X-Demo: 1\r\n") + ": hello\n\nid: 1\ndata: a\n\nevent: tick\ndata: b\ndata: c\n\n");
  });
  auto o = options_for(server.url());
  o.reconnect = false;
  const recording rec = run(o);
  EXPECT_EQ(rec.log, (std::vector<std::string>{"state open", "open 200", "comment  hello", "event message:a#1", "event tick:b\nc#1",
                                               "state closed", "end 200"}));
  EXPECT_TRUE(rec.result.ended);
  EXPECT_FALSE(rec.result.error) << "the normal end is not an error";
  ASSERT_EQ(rec.opens.size(), 1u);
  const auto& headers = rec.opens[0].headers;
  EXPECT_NE(std::find(headers.begin(), headers.end(), std::pair<std::string, std::string>("X-Demo", "1")), headers.end());
  const request r = server.requests().at(0);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/events");
  EXPECT_EQ(r.header("accept"), "text/event-stream");
  EXPECT_EQ(r.header("cache-control"), "no-cache");
  EXPECT_FALSE(r.has("last-event-id"));
  EXPECT_EQ(r.header("host"), "127.0.0.1:" + std::to_string(server.port()));
}

// "app.localhost" and "localhost." reach loopback without DNS, which has no
// answer for them here (nor /etc/hosts), as in browsers and curl; the
// request still names the host as written.
TEST(Client, LocalhostNamesReachLoopback) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: here\n\n"); });
  const std::string port = std::to_string(server.port());
  for (const std::string host : {"app.localhost", "localhost.", "API.Localhost."}) {
    auto o = options_for("http://" + host + ":" + port + "/events");
    o.reconnect = false;
    const recording rec = run(o);
    EXPECT_EQ(rec.events(), std::vector<std::string>{"message:here#"}) << host << ": " << (rec.errors.empty() ? "" : rec.errors[0].message);
  }
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].header("host"), "app.localhost:" + port);
  EXPECT_EQ(requests[1].header("host"), "localhost.:" + port);
  EXPECT_EQ(requests[2].header("host"), "api.localhost.:" + port);
}

TEST(Client, PostsHeadersAndBody) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: ok\n\n"); });
  auto o = options_for(server.url("/chat?x=1"));
  o.method = "POST";
  o.headers = {{"Authorization", "Bearer t"}, {"Content-Type", "application/json"}};
  o.body = R"({"prompt":"hi"})";
  const recording rec = run(o);
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:ok#"});
  const request r = server.requests().at(0);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/chat?x=1");
  EXPECT_EQ(r.header("authorization"), "Bearer t");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"prompt":"hi"})");
  // Not replayed: the end of the stream closes the client, the normal end.
  EXPECT_TRUE(rec.errors.empty());
  EXPECT_TRUE(rec.result.ended);
  EXPECT_EQ(rec.log.back(), "end 200");
  EXPECT_EQ(server.connections(), 1);
}

// A method that takes a body, sent without one, says Content-Length: 0
// (RFC 9110 8.6; fetch sends it too). Beast's prepare_payload() left it out
// for PATCH, which it does not count among such methods. GET sends none.
TEST(Client, AnEmptyBodySaysContentLengthZero) {
  for (const std::string method : {"POST", "PUT", "PATCH", "GET"}) {
    script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: ok\n\n"); });
    auto o = options_for(server.url());
    o.method = method;
    o.reconnect = false;
    const recording rec = run(o);
    ASSERT_EQ(server.requests().size(), 1u) << method;
    const request r = server.requests().at(0);
    EXPECT_EQ(r.method, method);
    if (method == "GET") EXPECT_FALSE(r.has("content-length"));
    else EXPECT_EQ(r.header("content-length"), "0") << method;
  }
}

TEST(Client, ReplayBodyResendsTheBodyOnReconnect) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: answer\n\n"); });
  auto o = options_for(server.url());
  o.method = "POST";
  o.body = "prompt";
  o.replay_body = true;
  const recording rec = run(o, 2);
  EXPECT_EQ(rec.events().size(), 2u);
  const auto requests = server.requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[1].body, "prompt");
}

TEST(Client, RefusesBadOptionsBeforeSendingAnything) {
  boost::asio::io_context io;
  auto make = [&](ssekit::client_options o) { ssekit::client c(io.get_executor(), std::move(o), {}); };
  auto with_header = [](std::string name, std::string value) {
    ssekit::client_options o;
    o.url = "http://127.0.0.1:9/";
    o.headers = {{std::move(name), std::move(value)}};
    return o;
  };
  EXPECT_THROW(make(with_header("X-A", "a\r\nX-B: b")), ssekit::client_options_error);
  EXPECT_THROW(make(with_header("X-A", "a\nb")), ssekit::client_options_error);
  EXPECT_THROW(make(with_header("X A", "a")), ssekit::client_options_error);
  EXPECT_THROW(make(with_header("X-A", std::string("a\0b", 3))), ssekit::client_options_error);
  for (const char* bad : {"ftp://x/", "http://", "127.0.0.1:80/", "http://u:p@host/", "http://host:99999/"}) {
    ssekit::client_options o;
    o.url = bad;
    EXPECT_THROW(make(o), ssekit::client_options_error) << bad;
  }
  ssekit::client_options o;
  o.url = "http://127.0.0.1:9/";
  o.method = "GET X";
  EXPECT_THROW(make(o), ssekit::client_options_error);
  o.method = "GET";
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(make(o), ssekit::client_options_error);
  // A CA directory too, though OpenSSL reads it only at a handshake: a
  // wrong one showed as an unknown issuer there.
  o.ca_file.clear();
  for (const auto& [dir, why] : {std::pair<std::string, std::string>{"/nonexistent/certs", "no such directory"}, {"/dev/null", "not a directory"}}) {
    o.ca_directory = dir;
    try {
      make(o);
      ADD_FAILURE() << dir << " was accepted";
    } catch (const ssekit::client_options_error& e) {
      EXPECT_EQ(std::string(e.what()), "ssekit::client: can't use ca_directory " + dir + ": " + why);
    }
  }
}

// --- framings and dripping

TEST(Client, ReadsChunkedContentLengthAndCloseDelimitedBodies) {
  const std::string events = "id: 1\ndata: x\n\ndata: y\r\n\r\n";
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(events.substr(0, 7)) +
          chunk(events.substr(7)) + "0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(events.size()) + "\r\n\r\n" + events,
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + events,
      "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + events,
  };
  for (const auto& response : responses) {
    script_server server([&](script_server::connection& c) { serve(c, response); });
    auto o = options_for(server.url());
    o.reconnect = false;
    const recording rec = run(o);
    EXPECT_EQ(rec.events(), (std::vector<std::string>{"message:x#1", "message:y#1"})) << response;
    EXPECT_TRUE(rec.errors.empty()) << response;
    EXPECT_TRUE(rec.result.ended) << response;
  }
}

TEST(Client, AcceptsAResponseHeaderLargerThanTheReadBuffer) {
  const std::string cookie = "Set-Cookie: big=" + std::string(40000, 'c') + "\r\n";
  script_server server([&](script_server::connection& c) { serve(c, stream_header("text/event-stream", cookie) + "data: ok\n\n"); });
  auto o = options_for(server.url());
  o.reconnect = false;
  // Ten times the head: with the default 64 KiB the head was not larger,
  // and a buffer bounded by read_buffer_size alone passed (mutation testing).
  o.read_buffer_size = 4096;
  EXPECT_EQ(run(o).events(), std::vector<std::string>{"message:ok#"});
}

TEST(Client, AServerDrippingOneBytePerWrite) {
  const std::string events = "\xEF\xBB\xBFid: 7\r\nevent: e\r\ndata: caf\xC3\xA9\r\r\ndata: last\n\n";
  for (const bool chunked : {true, false}) {
    script_server server([&](script_server::connection& c) {
      request r;
      if (!c.read_request(r)) return;
      c.write(chunked ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                      : "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
      for (const char byte : events) c.write(chunked ? chunk(std::string(1, byte)) : std::string(1, byte));
      if (chunked) c.write("0\r\n\r\n");
      c.close();
    });
    auto o = options_for(server.url());
    o.reconnect = false;
    const recording rec = run(o);
    EXPECT_EQ(rec.events(), (std::vector<std::string>{"e:caf\xC3\xA9#7", "message:last#7"})) << chunked;
  }
}

// --- reconnection

TEST(Client, ReconnectsWithLastEventIdAfterTheStreamEnds) {
  script_server server([](script_server::connection& c) {
    const std::string n = std::to_string(c.number);
    serve(c, stream_header() + "retry: 20\nid: " + n + "\ndata: event " + n + "\n\n");
  });
  const recording rec = run(options_for(server.url()), 3);
  EXPECT_EQ(rec.events(), (std::vector<std::string>{"message:event 1#1", "message:event 2#2", "message:event 3#3"}));
  const auto requests = server.requests();
  ASSERT_GE(requests.size(), 3u);
  EXPECT_FALSE(requests[0].has("last-event-id"));
  EXPECT_EQ(requests[1].header("last-event-id"), "1");
  EXPECT_EQ(requests[2].header("last-event-id"), "2");
  EXPECT_EQ(rec.result.reconnects, 2u);
  EXPECT_EQ(std::count(rec.log.begin(), rec.log.end(), "error end_of_stream reconnect"), 2);
}

TEST(Client, SendsTheInitialLastEventIdAndCarriesIt) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: a\n\n"); });
  auto o = options_for(server.url());
  o.last_event_id = "resume-41";
  o.reconnect = false;
  const recording rec = run(o);
  EXPECT_EQ(server.requests().at(0).header("last-event-id"), "resume-41");
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:a#resume-41"});
}

TEST(Client, HundredForcedDropsLoseAndDuplicateNothing) {
  constexpr int total = 300;
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    const int from = (r.has("last-event-id") ? std::stoi(r.header("last-event-id")) : 0) + 1;
    std::string body = stream_header() + "retry: 1\n";
    for (int i = from; i < from + 3 && i <= total; ++i) body += "id: " + std::to_string(i) + "\ndata: " + std::to_string(i) + "\n\n";
    c.write(body);
    // Half the drops are a clean end, half a reset connection.
    if (c.number % 2) c.close();
    else c.reset();
  });
  auto o = options_for(server.url());
  o.reconnection_time = 1ms;
  const recording rec = run(o, total);
  std::vector<std::string> expected;
  for (int i = 1; i <= total; ++i) expected.push_back("message:" + std::to_string(i) + "#" + std::to_string(i));
  EXPECT_EQ(rec.events(), expected);
  EXPECT_GE(server.connections(), 100);
}

TEST(Client, RestartWhileAStreamFlowsParsesNothingOfTheOldConnection) {
  // restart() from on_event, every 50 events of a fast stream: a read of the
  // old connection has often completed already (its bytes in Beast's sink)
  // when the restart runs. Those bytes must not reach the new attempt's
  // parser: they were delivered as duplicated, skipped and spliced events.
  // (The calls of one read are one restart, which runs after the read's
  // events and a read of the old connection that may be queued before it:
  // with reads of 4 KiB, up to 195 events of 21 bytes, a restart comes
  // every 50 to about 440 events, so at least some 27 of them.)
  boost::asio::io_context server_io;
  ssekit::demo::server demo(server_io.get_executor());
  std::thread server_thread([&] { server_io.run(); });
  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  std::vector<std::string> bad;
  unsigned long next = 1, events = 0;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event& e) {
    ++events;
    const std::string id(e.last_event_id);
    if (e.data != "event " + id || id != std::to_string(next)) {
      if (bad.size() < 5) bad.push_back("expected " + std::to_string(next) + ", got id " + id + " data " + std::string(e.data));
    }
    next = std::strtoul(id.c_str(), nullptr, 10) + 1;
    if (events == 12000) c->close();
    else if (events % 50 == 0) c->restart();
  };
  auto o = options_for(demo.url("/fault?events=100000"));
  o.read_buffer_size = 4096;
  c.emplace(io.get_executor(), o, h);
  io.run_for(ssekit::testing::hang_limit);
  demo.stop();
  server_thread.join();
  EXPECT_EQ(events, 12000u);
  EXPECT_GE(c->reconnects(), 20u);  // 35 on a busy CI machine; 40 failed there
  EXPECT_TRUE(bad.empty()) << bad.front();
}

TEST(Client, HundredDropsAgainstTheDemoServer) {
  // The demo server's /fault?drop_after=3 numbers events from Last-Event-ID + 1
  // and cuts the body short after 3 of them: a network error each time.
  boost::asio::io_context server_io;
  ssekit::demo::server demo(server_io.get_executor());
  std::thread server_thread([&] { server_io.run(); });
  auto o = options_for(demo.url("/fault?drop_after=3&retry=1"));
  o.reconnection_time = 1ms;
  const recording rec = run(o, 300);
  demo.stop();
  server_thread.join();
  std::vector<std::string> expected;
  for (int i = 1; i <= 300; ++i) expected.push_back("message:event " + std::to_string(i) + "#" + std::to_string(i));
  EXPECT_EQ(rec.events(), expected);
  EXPECT_GE(rec.result.reconnects, 99u);
}

TEST(Client, HonoursTheServersRetryValue) {
  std::vector<std::chrono::steady_clock::time_point> times;
  std::mutex m;
  script_server server([&](script_server::connection& c) {
    {
      std::lock_guard lock(m);
      times.push_back(std::chrono::steady_clock::now());
    }
    serve(c, stream_header() + "retry: 300\ndata: x\n\n");
  });
  auto o = options_for(server.url());
  o.reconnection_time = 5ms;
  run(o, 2);
  std::lock_guard lock(m);
  ASSERT_GE(times.size(), 2u);
  // A lower bound only: the wait is at least the server's 300 ms.
  EXPECT_GE(times[1] - times[0], 290ms);
}

TEST(Client, BacksOffWhenConnectionsKeepFailing) {
  // No listener: every connect is refused. With 20 ms and factor 2 the waits
  // are 20, 40, 80 (each up to jitter 0 shorter): 4 attempts take >= 140 ms.
  std::uint16_t port;
  {
    script_server probe([](script_server::connection&) {});
    port = probe.port();
  }
  std::vector<std::chrono::steady_clock::time_point> errors;
  ssekit::client_options o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  o.reconnection_time = 20ms;
  o.backoff.jitter_percent = 0;
  o.backoff.min_delay = 1ms;
  ssekit::client_handlers h;
  h.on_error = [&](const ssekit::client_error& e) {
    EXPECT_EQ(e.reason, client_error_reason::network_error);
    errors.push_back(std::chrono::steady_clock::now());
  };
  boost::asio::io_context io;
  ssekit::client c(io.get_executor(), o, h);
  for (int i = 0; i < 400 && errors.size() < 4; ++i) io.run_one_for(100ms);
  c.close();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_GE(errors[1] - errors[0], 20ms);
  EXPECT_GE(errors[2] - errors[1], 40ms);
  EXPECT_GE(errors[3] - errors[2], 80ms);
}

TEST(Client, StatsAndTheLastEventIdCountOnlyTheEventsDeliveredBeforeClose) {
  // 100 events in one write: one read, parsed in one piece. close() at the
  // third stops delivery; the rest of the piece is parsed but not counted,
  // and last_event_id() stays the third's (it said 100: a program saving it
  // to resume from would have skipped 97 events).
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    std::string body = stream_header();
    for (int i = 1; i <= 100; ++i) body += "id: " + std::to_string(i) + "\ndata: x\n\n";
    c.write(body);
    c.wait_for_client_close(5s);
  });
  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  int delivered = 0;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event&) {
    if (++delivered == 3) c->close();
  };
  c.emplace(io.get_executor(), options_for(server.url()), h);
  io.run_for(ssekit::testing::hang_limit);
  EXPECT_EQ(delivered, 3);
  EXPECT_EQ(c->stats().events, 3u);
  EXPECT_EQ(c->last_event_id(), "3");
}

TEST(Client, RestartReconnectsAtOnceWithTheLastEventIdAndNoError) {
  std::promise<void> first_closed;
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header() + "retry: 100000\nid: " + std::to_string(c.number) + "\ndata: x\n\n");
    const bool closed = c.wait_for_client_close(5s);
    if (c.number == 1 && closed) first_closed.set_value();
  });
  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  std::vector<std::string> log;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event& ev) {
    log.push_back("event " + std::string(ev.last_event_id));
    if (ev.last_event_id == "1") c->restart();
    else c->close();
  };
  h.on_error = [&](const ssekit::client_error& e) { log.push_back("error " + e.message); };
  c.emplace(io.get_executor(), options_for(server.url()), h);
  io.run_for(ssekit::testing::hang_limit);
  EXPECT_EQ(log, (std::vector<std::string>{"event 1", "event 2"}));
  EXPECT_EQ(server.requests().at(1).header("last-event-id"), "1");
  EXPECT_EQ(first_closed.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(c->reconnects(), 1u);
}

// --- responses that close for good

TEST(Client, NoContentClosesForGood) {
  script_server server([](script_server::connection& c) { serve(c, "HTTP/1.1 204 No Content\r\n\r\n"); });
  const recording rec = run(options_for(server.url()));
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::no_content);
  EXPECT_EQ(rec.errors[0].status, 204);
  EXPECT_FALSE(rec.errors[0].will_reconnect);
  EXPECT_EQ(server.connections(), 1);
}

TEST(Client, OtherStatusesAndWrongTypesFailWithStatusHeadersAndBody) {
  struct refusal {
    std::string response;
    client_error_reason reason;
    int status;
    std::string body;
  };
  const std::vector<refusal> cases = {
      {"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nno stream", client_error_reason::http_status, 404, "no stream"},
      {"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", client_error_reason::http_status, 500, ""},
      {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\ndata: x\n\n", client_error_reason::wrong_content_type, 200,
       "data: x\n\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", client_error_reason::wrong_content_type, 200, ""},
      {"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n" + std::string(5000, 'x'), client_error_reason::http_status, 503,
       std::string(1024, 'x')},
  };
  for (const auto& k : cases) {
    script_server server([&](script_server::connection& c) { serve(c, k.response); });
    const recording rec = run(options_for(server.url()));
    ASSERT_EQ(rec.errors.size(), 1u) << k.response;
    EXPECT_EQ(rec.errors[0].reason, k.reason) << k.response;
    EXPECT_EQ(rec.errors[0].status, k.status);
    EXPECT_EQ(rec.errors[0].body, k.body);
    EXPECT_FALSE(rec.errors[0].will_reconnect);
    EXPECT_FALSE(rec.errors[0].headers.empty());
    EXPECT_EQ(server.connections(), 1);
  }
}

TEST(Client, RetryServerErrorsHonoursRetryAfter) {
  script_server server([](script_server::connection& c) {
    if (c.number == 1) serve(c, "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
    else serve(c, stream_header() + "data: back\n\n");
  });
  auto o = options_for(server.url());
  o.retry_server_errors = true;
  const auto start = std::chrono::steady_clock::now();
  const recording rec = run(o, 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 990ms);
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:back#"});
  ASSERT_GE(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].status, 503);
  EXPECT_TRUE(rec.errors[0].will_reconnect);
}

TEST(Client, AnOverLimitEventClosesAfterTheEventsBeforeIt) {
  script_server server([](script_server::connection& c) {
    serve(c, stream_header() + "data: small\n\ndata: " + std::string(5000, 'x') + "\n\ndata: never\n\n");
  });
  auto o = options_for(server.url());
  o.limits.max_event_size = 1000;
  const recording rec = run(o);
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:small#"});
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::limit_exceeded);
  EXPECT_EQ(rec.errors[0].code, ssekit::make_error_code(ssekit::errc::event_too_large));
  EXPECT_FALSE(rec.errors[0].will_reconnect);
}

// --- redirects

TEST(Client, RedirectsFollowFetchRulesAndStripCredentialsAcrossOrigins) {
  script_server target([](script_server::connection& c) { serve(c, stream_header() + "data: moved\n\n"); });
  for (const int status : {301, 302, 303, 307, 308}) {
    script_server origin([&](script_server::connection& c) {
      request r;
      if (!c.read_request(r)) return;
      // First a same-origin hop, then one to the other server.
      const std::string location = r.target == "/events" ? "/hop" : target.url("/stream");
      c.write("HTTP/1.1 " + std::to_string(status) + " Moved\r\nLocation: " + location + "\r\nContent-Length: 0\r\n\r\n");
      c.close();
    });
    auto o = options_for(origin.url());
    o.method = "POST";
    o.body = "payload";
    o.headers = {{"Authorization", "Bearer secret"}, {"Cookie", "a=b"}, {"X-Keep", "1"}, {"Content-Type", "text/plain"}};
    o.reconnect = false;
    const recording rec = run(o);
    EXPECT_EQ(rec.events(), std::vector<std::string>{"message:moved#"}) << status;
    const request hop = origin.requests().at(1);
    const request final = target.requests().back();
    const bool becomes_get = status != 307 && status != 308;
    EXPECT_EQ(hop.header("authorization"), "Bearer secret") << "same origin keeps credentials";
    EXPECT_EQ(final.method, becomes_get ? "GET" : "POST") << status;
    EXPECT_EQ(final.body, becomes_get ? "" : "payload") << status;
    EXPECT_EQ(final.has("content-type"), !becomes_get) << status;
    EXPECT_FALSE(final.has("authorization")) << status;
    EXPECT_FALSE(final.has("cookie")) << status;
    EXPECT_EQ(final.header("x-keep"), "1");
    ASSERT_EQ(rec.opens.size(), 1u);
    EXPECT_EQ(rec.opens[0].url, target.url("/stream"));
  }
}

TEST(Client, ReconnectsToTheUrlARedirectLedTo) {
  script_server target([](script_server::connection& c) {
    serve(c, stream_header() + "id: " + std::to_string(c.number) + "\ndata: x\n\n");
  });
  script_server origin([&](script_server::connection& c) {
    serve(c, "HTTP/1.1 307 Moved\r\nLocation: " + target.url() + "\r\nContent-Length: 0\r\n\r\n");
  });
  const recording rec = run(options_for(origin.url()), 2);
  EXPECT_EQ(rec.events(), (std::vector<std::string>{"message:x#1", "message:x#2"}));
  EXPECT_EQ(origin.connections(), 1);
  EXPECT_EQ(target.requests().at(1).header("last-event-id"), "1");
}

// A redirect loop and a Location that is no URL are fetch's network error:
// browsers reconnect after them (with backoff here), since a loop of a
// deploy ends. The client stopped for good (a differential probe against
// Chromium and the npm package). A redirect to another scheme stays final,
// as in Chromium.
TEST(Client, RedirectLoopsAndBadLocationsReconnectOtherSchemesAreRefused) {
  script_server loop([](script_server::connection& c) { serve(c, "HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"); });
  auto o = options_for(loop.url());
  o.max_redirects = 3;
  auto errors = ssekit::testing::errors_until(o, 2);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.reason, client_error_reason::redirect_refused);
    EXPECT_TRUE(e.will_reconnect);
    EXPECT_EQ(e.message, "more than 3 redirects");
  }
  EXPECT_EQ(loop.connections(), 8);  // each attempt starts from the URL again

  for (const std::string location : {"http://[zz/x", "http://a b:99999/"}) {
    script_server bad([&](script_server::connection& c) {
      serve(c, "HTTP/1.1 302 Found\r\nLocation: " + location + "\r\nContent-Length: 0\r\n\r\n");
    });
    errors = ssekit::testing::errors_until(options_for(bad.url()), 2);
    ASSERT_EQ(errors.size(), 2u) << location;
    EXPECT_EQ(errors[1].reason, client_error_reason::redirect_refused) << location;
    EXPECT_TRUE(errors[1].will_reconnect) << location;
    EXPECT_NE(errors[1].message.find("bad redirect Location"), std::string::npos) << errors[1].message;
  }

  for (const std::string location : {"ftp://x/", "data:text/event-stream,data:%20x%0A%0A", "mailto:a@b"}) {
    script_server other([&](script_server::connection& c) {
      serve(c, "HTTP/1.1 302 Found\r\nLocation: " + location + "\r\nContent-Length: 0\r\n\r\n");
    });
    recording rec = run(options_for(other.url()));
    ASSERT_EQ(rec.errors.size(), 1u) << location;
    EXPECT_EQ(rec.errors[0].reason, client_error_reason::redirect_refused) << location;
    EXPECT_FALSE(rec.errors[0].will_reconnect) << location;
    EXPECT_EQ(other.connections(), 1) << location;
  }
}

TEST(Client, LocationsAreEncodedAsBrowsersDoAndConflictingOnesReconnect) {
  // A space and non-ASCII are percent-encoded (Chrome and Firefox follow
  // them); "%2F" stays an escaped slash, "%2e%2e" is a dot segment.
  script_server site([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    if (r.target == "/events") {
      c.write("HTTP/1.1 302 Found\r\nLocation: /a b/%2e%2e/caf\xC3\xA9/x%2Fy?q=1 2#frag\r\nContent-Length: 0\r\n\r\n");
    } else {
      c.write(stream_header() + "data: " + r.target + "\n\n");
    }
    c.close();
  });
  auto o = options_for(site.url());
  o.reconnect = false;
  recording rec = run(o);
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:/caf%C3%A9/x%2Fy?q=1%202#"});

  script_server two([](script_server::connection& c) {
    serve(c, "HTTP/1.1 302 Found\r\nLocation: /x\r\nLocation: /y\r\nContent-Length: 0\r\n\r\n");
  });
  // Chromium's network error (ERR_RESPONSE_HEADERS_MULTIPLE_LOCATION), after
  // which it reconnects.
  const auto errors = ssekit::testing::errors_until(options_for(two.url()), 2);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].reason, client_error_reason::redirect_refused);
  EXPECT_TRUE(errors[0].will_reconnect);
  EXPECT_NE(errors[0].message.find("different Location headers: /x, /y"), std::string::npos) << errors[0].message;
  EXPECT_EQ(two.connections(), 2);
}

// --- timeouts

// The idle timeout: ClientHostile.IdleTimeoutEndsASilentStreamAfterItsComments
// (event-driven, client_hostile_test.cpp).

TEST(Client, ConnectTimeoutCoversAServerThatNeverAnswers) {
  script_server server([](script_server::connection& c) {
    request r;
    if (c.read_request(r)) c.wait_for_client_close(5s);
  });
  auto o = options_for(server.url());
  o.connect_timeout = 100ms;
  o.reconnect = false;
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::connect_timeout);
  // The request was sent (so the connection was open) unless the machine
  // was too slow to send it within the timeout.
  if (!server.requests().empty()) {
    EXPECT_EQ(rec.errors[0].message, "no response from 127.0.0.1:" + std::to_string(server.port()) + " within 100 ms");
  }
}

// This process's TCP socket whose peer is 127.0.0.1:`port`: the client's
// (the test server's own sockets have that port as their local one).
int client_socket_to(unsigned short port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_in peer{};
    socklen_t size = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) == 0 && peer.sin_family == AF_INET && ntohs(peer.sin_port) == port) return fd;
  }
  return -1;
}

// Without idle_timeout, TCP keep-alive is what finds a peer that vanished
// without a FIN; with the kernel's defaults its first probe came after two
// hours (a probe's finding). Read back from the client's open socket.
TEST(Client, TcpKeepAliveProbesAfterAMinuteOfSilence) {
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header());
    c.wait_for_client_close(10s);
  });
  boost::asio::io_context io;
  auto o = options_for(server.url());
  o.reconnect = false;
  int keepalive = -1, idle = -1, interval = -1;
  std::optional<ssekit::client> c;
  ssekit::client_handlers h;
  h.on_open = [&](const ssekit::response_info&) {
    const int fd = client_socket_to(server.port());
    socklen_t size = sizeof(int);
    if (fd >= 0) {
      getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, &size);
      getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &size);
      getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, &size);
    }
    c->close();
  };
  c.emplace(io.get_executor(), o, h);
  io.run_for(ssekit::testing::hang_limit);
  EXPECT_EQ(keepalive, 1);
  EXPECT_EQ(idle, 60);
  EXPECT_EQ(interval, 60);
}

// Part of a head, then silence: the timeout says what came (a probe's
// finding: it said "no response"). The wait is 2 s so that only a stall of
// 2 s between the server's write and the client's read could make the
// bytes arrive after it.
TEST(Client, ConnectTimeoutAfterPartOfTheHeadSaysSo) {
  const std::string part = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n";
  script_server server([&part](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(part);
    c.wait_for_client_close(10s);
  });
  auto o = options_for(server.url());
  o.connect_timeout = 2s;
  o.reconnect = false;
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::connect_timeout);
  EXPECT_EQ(rec.errors[0].message, "an unfinished response head (" + std::to_string(part.size()) + " bytes) from 127.0.0.1:" +
                                       std::to_string(server.port()) + " within 2000 ms");
}

// connect_timeout covers sending the request: a server that takes the head
// and never the body stalls the write, and the message says so, not "no
// response" (the hostile-server probe). 32 MiB: more than loopback's socket
// buffers hold.
TEST(Client, ConnectTimeoutWhileTheBodyIsSentSaysSo) {
  std::promise<void> over;
  std::shared_future<void> test_over = over.get_future().share();
  script_server server([test_over](script_server::connection& c) {
    request r;
    if (!c.read_head(r)) return;
    test_over.wait_for(30s);  // holds the connection, reading nothing more
  });
  auto o = options_for(server.url());
  o.method = "POST";
  o.body = std::string(32 << 20, 'x');
  o.connect_timeout = 2s;
  o.reconnect = false;
  const recording rec = run(o);
  over.set_value();
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::connect_timeout);
  EXPECT_EQ(rec.errors[0].message, "the request (a body of 33554432 bytes) not sent whole to 127.0.0.1:" + std::to_string(server.port()) +
                                       " within 2000 ms");
}

// A connect timeout that came due as the response head arrived: Asio ran
// the socket's completion first (the stream opened, and with idle_timeout
// 0 the head's cancel() could not reach a wait that had completed), then
// the timer's, which found the expiry past and failed the open stream with
// connect_timeout (48 of 14,113 opens with a 1 ms timeout, a helper's
// review). Made certain: the client waits for the head (its read is with
// the reactor) while the test holds the io_context, lets the server answer
// and lets the timeout pass, so one turn of the reactor finds both ready.
// The sleep is not a wait for an event: the timeout must be past, however
// slow the machine. A setup slower than the timeout gives a true
// connect_timeout: the scenario then runs again (at most 5 times).
TEST(Client, AConnectTimeoutDueAsTheHeadArrivesDoesNotFailTheOpenStream) {
  bool scenario_ran = false;
  for (int round = 0; round < 5 && !scenario_ran; ++round) {
    std::atomic<bool> got_request{false};
    std::promise<void> go, answered;
    std::shared_future<void> go_f = go.get_future().share();
    script_server server([&](script_server::connection& c) {
      request r;
      if (!c.read_request(r)) return;
      got_request = true;
      if (go_f.wait_for(10s) != std::future_status::ready) return;
      c.write(stream_header() + "data: a\n\n");
      answered.set_value();
      c.wait_for_client_close(5s);
    });
    boost::asio::io_context io;
    auto o = options_for(server.url());
    o.connect_timeout = 500ms;
    o.reconnect = false;
    std::vector<std::string> log;
    ssekit::client_handlers h;
    h.on_open = [&](const ssekit::response_info&) { log.push_back("open"); };
    h.on_event = [&](const ssekit::event& ev) { log.push_back("event " + std::string(ev.data)); };
    h.on_error = [&](const ssekit::client_error& e) { log.push_back(std::string(ssekit::client_error_reason_name(e.reason))); };
    const auto due = std::chrono::steady_clock::now() + o.connect_timeout;
    ssekit::client c(io.get_executor(), o, h);
    const auto limit = std::chrono::steady_clock::now() + ssekit::testing::hang_limit;
    while (!got_request && log.empty() && std::chrono::steady_clock::now() < limit) io.run_one_for(10ms);
    io.poll();  // the request's write completes; the head's read waits with the reactor
    const bool in_time = got_request && log.empty() && std::chrono::steady_clock::now() < due;
    go.set_value();
    if (!in_time) continue;  // too slow: the timeout came before the head was awaited
    answered.get_future().wait();
    std::this_thread::sleep_until(due + 20ms);
    scenario_ran = true;
    while (log.size() < 2 && std::chrono::steady_clock::now() < limit) io.run_one_for(10ms);
    io.poll();  // the timer's completion, if queued
    c.close();
    EXPECT_EQ(log, (std::vector<std::string>{"open", "event a"}));
  }
  EXPECT_TRUE(scenario_ran) << "five setups slower than 500 ms";
}

// The message says which side stalled: here the TLS handshake (a server
// that takes the connection and never answers the ClientHello).
TEST(Client, ConnectTimeoutNamesAStalledConnection) {
  script_server server([](script_server::connection& c) { c.wait_for_client_close(5s); });
  const std::string http = server.url();
  auto o = options_for("https" + http.substr(http.find(':')));
  o.connect_timeout = 100ms;
  o.reconnect = false;
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::connect_timeout);
  EXPECT_EQ(rec.errors[0].message, "no connection (TCP, proxy or TLS handshake) to 127.0.0.1:" + std::to_string(server.port()) + " within 100 ms");
}

// A run that ends while the client is still connecting leaves nothing
// behind. The connection race's handler holds the client's connection, so
// a transport that owned the race was a cycle that a stopped io_context
// never broke: one socket and ~7 KB per run_client() timeout (a helper's
// probe of the race).
TEST(Client, ARunEndedWhileConnectingLeavesNoSocket) {
  boost::asio::io_context io;
  const ssekit::testing::dropping_port dead(io);
  ASSERT_GE(dead.queued(), 1u);
  const auto descriptors = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const auto run = [&] {
    const auto r = ssekit::run_client(options_for(dead.url()), [](const ssekit::event&) { return true; }, 50ms);
    EXPECT_TRUE(r.timed_out);
  };
  run();  // once first: what a first run sets up for good
  const std::size_t before = descriptors();
  for (int i = 0; i < 3; ++i) run();
  EXPECT_EQ(descriptors(), before);
}

// A timeout below 0 (a deadline minus now, once the deadline passed) has
// passed: run_client returns at once, timed out. It meant "no timeout" and
// waited as long as the client ran (a helper's probe).
TEST(Client, RunClientWithANegativeTimeoutTimesOutAtOnce) {
  boost::asio::io_context io;
  const ssekit::testing::dropping_port dead(io);
  auto o = options_for(dead.url());
  o.reconnect = false;
  o.connect_timeout = 3s;  // without the rule: a connect_timeout error instead
  for (const auto timeout : {std::chrono::milliseconds(-10), std::chrono::milliseconds::min()}) {
    const auto r = ssekit::run_client(o, [](const ssekit::event&) { return true; }, timeout);
    EXPECT_TRUE(r.timed_out) << timeout.count();
    EXPECT_EQ(r.error, nullptr) << timeout.count();
  }
}

// A default-constructed executor is refused like any option that can't
// work; make_strand crashed on it (a helper's probe).
TEST(Client, AnEmptyExecutorIsRefused) {
  const auto o = options_for("http://127.0.0.1:9/");
  EXPECT_THROW(ssekit::client(boost::asio::any_io_executor(), o, {}), ssekit::client_options_error);
  EXPECT_THROW(ssekit::event_stream(boost::asio::any_io_executor(), o), ssekit::client_options_error);
}

// Interim responses are skipped, up to a bound that the message names.
TEST(Client, EndlessInterimResponsesAreANetworkErrorNamingTheBound) {
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    std::string flood;
    for (int i = 0; i < 40; ++i) flood += "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
    c.write(flood);
    c.wait_for_client_close(5s);
  });
  auto o = options_for(server.url());
  o.reconnect = false;
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error);
  EXPECT_EQ(rec.errors[0].message, "more than 32 interim (1xx) responses");
}

// --- close()

struct threaded_client {
  boost::asio::io_context io;
  std::atomic<int> callbacks_after_close{0};
  std::atomic<bool> closed{false};
  std::atomic<int> events{0};
  std::atomic<int> errors{0};
  std::optional<ssekit::client> c;
  std::thread runner;

  explicit threaded_client(ssekit::client_options o) {
    ssekit::client_handlers h;
    auto count = [this] {
      if (closed) ++callbacks_after_close;
    };
    h.on_event = [this, count](const ssekit::event&) {
      count();
      ++events;
    };
    h.on_error = [this, count](const ssekit::client_error&) {
      count();
      ++errors;
    };
    h.on_open = [count](const ssekit::response_info&) { count(); };
    h.on_state = [count](ssekit::client_state) { count(); };
    c.emplace(io.get_executor(), std::move(o), std::move(h));
    runner = std::thread([this] {
      // Bounded: the io_context runs out of work once the client is closed.
      io.run_for(ssekit::testing::hang_limit);
    });
  }
  void close() {
    c->close();
    closed = true;
  }
  ~threaded_client() {
    if (!closed) close();
    runner.join();
  }
};

TEST(Client, CloseWhileConnectingFromAnotherThread) {
  std::promise<void> got_request;
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    got_request.set_value();
    c.wait_for_client_close(5s);
  });
  threaded_client t(options_for(server.url()));
  ASSERT_EQ(got_request.get_future().wait_for(5s), std::future_status::ready);
  t.close();
  EXPECT_EQ(t.c->state(), ssekit::client_state::closed);
  t.runner.join();
  t.runner = std::thread([] {});
  EXPECT_EQ(t.callbacks_after_close, 0);
  EXPECT_EQ(t.events, 0);
}

TEST(Client, CloseWhileStreamingFromAnotherThread) {
  std::atomic<bool> client_gone{false};
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header());
    // Events as fast as the client takes them, until it goes away.
    for (int i = 0; i < 1'000'000 && c.write("data: tick\n\n"); ++i) {
    }
    client_gone = true;
  });
  threaded_client t(options_for(server.url()));
  for (int i = 0; i < 500 && t.events < 100; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(t.events, 100);
  t.close();
  const int at_close = t.events;
  t.runner.join();
  t.runner = std::thread([] {});
  EXPECT_EQ(t.callbacks_after_close, 0);
  EXPECT_EQ(t.events, at_close);
}

TEST(Client, CloseDuringTheReconnectWaitFromAHandler) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "retry: 100000\ndata: x\n\n"); });
  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  int errors = 0;
  ssekit::client_handlers h;
  h.on_error = [&](const ssekit::client_error& e) {
    ++errors;
    EXPECT_TRUE(e.will_reconnect);
    c->close();  // from inside a handler, during the wait
  };
  c.emplace(io.get_executor(), options_for(server.url()), h);
  // Returns because nothing is left to do: no timer survived close().
  io.run_for(ssekit::testing::hang_limit);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(server.connections(), 1);
}

TEST(Client, DestroyingAClientMidStreamIsClean) {
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header() + "data: x\n\n");
    c.wait_for_client_close(5s);
  });
  boost::asio::io_context io;
  int events = 0;
  {
    ssekit::client_handlers h;
    h.on_event = [&](const ssekit::event&) { ++events; };
    ssekit::client c(io.get_executor(), options_for(server.url()), h);
    for (int i = 0; i < 1000 && events == 0; ++i) io.run_one_for(10ms);
  }
  io.run_for(5s);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(events, 1);
}

// --- TLS, with a CA made for the test

class ClientTls : public ssekit::testing::tls_fixture {
 protected:
  // One run against `server`, trusting the test CA, without reconnecting.
  recording run_once(const script_server& server) {
    auto o = options_for(server.url());
    o.reconnect = false;
    o.ca_file = *ca_path_;
    return run(o);
  }
};

// Events "data: event I" (with "id: I" when `ids`), and what the recorder
// logs for them.
struct numbered_events {
  std::string body;
  std::vector<std::string> expected;
  numbered_events(int count, bool ids) {
    for (int i = 0; i < count; ++i) {
      const std::string n = std::to_string(i);
      body += (ids ? "id: " + n + "\n" : std::string()) + "data: event " + n + "\n\n";
      expected.push_back("message:event " + n + "#" + (ids ? n : std::string()));
    }
  }
};

TEST_F(ClientTls, VerifiesWithTheTestCaAndFailsWithoutIt) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: secure\n\n"); },
                       ssekit::testing::server_tls_context(*pki_));
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    auto o = options_for("https://" + host + ":" + std::to_string(server.port()) + "/events");
    o.reconnect = false;
    o.ca_file = *ca_path_;
    const recording rec = run(o);
    EXPECT_EQ(rec.events(), std::vector<std::string>{"message:secure#"}) << host;
  }
  auto o = options_for(server.url());
  const recording untrusted = run(o);
  ASSERT_EQ(untrusted.errors.size(), 1u);
  EXPECT_EQ(untrusted.errors[0].reason, client_error_reason::tls_error);
  EXPECT_FALSE(untrusted.errors[0].will_reconnect);
  EXPECT_TRUE(untrusted.events().empty());

  o.insecure_skip_tls_verification = true;
  o.reconnect = false;
  EXPECT_EQ(run(o).events(), std::vector<std::string>{"message:secure#"});
}

// Many records and then close_notify in one burst: a read gathers every
// record OpenSSL already holds, and the close_notify met while gathering
// ends the stream after those bytes, not before.
TEST_F(ClientTls, ManyRecordsInOneBurstArriveWholeBeforeTheEnd) {
  const numbered_events events(20000, true);
  script_server server([&](script_server::connection& c) { serve(c, stream_header() + events.body); },
                       ssekit::testing::server_tls_context(*pki_));
  const recording rec = run_once(server);
  EXPECT_EQ(rec.events(), events.expected);
  EXPECT_TRUE(rec.errors.empty()) << (rec.errors.empty() ? "" : rec.errors[0].message);
  EXPECT_TRUE(rec.result.ended);
}

// Records and then bytes that are no record, in one burst: every event
// before them arrives, then the stream fails (broken TLS is no end).
TEST_F(ClientTls, BytesThatAreNoRecordFailTheStreamAfterTheEventsBeforeThem) {
  const numbered_events events(20000, false);
  script_server server(
      [&](script_server::connection& c) {
        request r;
        if (!c.read_request(r)) return;
        c.write(stream_header() + events.body);
        c.write_raw("HTTP/1.1 200 OK\r\n\r\nnot a TLS record\n");
        c.wait_for_client_close(ssekit::testing::hang_limit);
      },
      ssekit::testing::server_tls_context(*pki_));
  const recording rec = run_once(server);
  EXPECT_EQ(rec.events(), events.expected);
  ASSERT_EQ(rec.errors.size(), 1u);
  // Broken TLS after the stream opened is a network failure (it would
  // reconnect), as a browser's EventSource takes it.
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error) << rec.errors[0].message;
  EXPECT_NE(rec.errors[0].message.find("SSL"), std::string::npos) << rec.errors[0].message;
  EXPECT_FALSE(rec.result.ended);
}

// Many TLS servers end a response with a FIN and no close_notify. A body
// that runs to the close then ended as it does over plain TCP (browsers
// and curl read it so) instead of a network_error ("stream truncated");
// a chunked body cut so broke off, and the message says so; no answer at
// all is said as over TCP ("no response header: stream truncated").
TEST_F(ClientTls, AFinWithoutCloseNotifyEndsACloseDelimitedBody) {
  {
    script_server server(
        [](script_server::connection& c) {
          request r;
          if (c.read_request(r)) c.cut();
        },
        ssekit::testing::server_tls_context(*pki_));
    const recording rec = run_once(server);
    ASSERT_EQ(rec.errors.size(), 1u);
    EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error);
    EXPECT_NE(rec.errors[0].message.find("closed the connection without answering"), std::string::npos) << rec.errors[0].message;
  }
  for (const bool chunked : {false, true}) {
    script_server server(
        [&](script_server::connection& c) {
          request r;
          if (!c.read_request(r)) return;
          if (chunked) {
            c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "e\r\ndata: one\n\ndat\r\n");
          } else {
            c.write(stream_header() + "data: one\n\ndat");
          }
          c.cut();
        },
        ssekit::testing::server_tls_context(*pki_));
    const recording rec = run_once(server);
    EXPECT_EQ(rec.events(), std::vector<std::string>{"message:one#"});
    if (chunked) {
      ASSERT_EQ(rec.errors.size(), 1u);
      EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error);
      EXPECT_EQ(rec.errors[0].message.find("malformed"), std::string::npos) << rec.errors[0].message;
      EXPECT_EQ(rec.errors[0].message,
                "the stream broke off: the connection closed in the middle of an HTTP chunk or before the Content-Length's end");
      EXPECT_FALSE(rec.result.ended);
    } else {
      EXPECT_TRUE(rec.errors.empty()) << rec.errors[0].message;
      EXPECT_TRUE(rec.result.ended);
    }
  }
}

// A reset (RST) in a close-delimited body over TLS breaks the stream: it is
// no end, though the body runs to the close. The socket's errno is what
// tells it from a FIN without close_notify (both are SSL_ERROR_SYSCALL);
// without it the reset read as a FIN, the end of a complete body (mutation
// testing: socket_bio::read dropping last_errno_ survived).
TEST_F(ClientTls, AResetInACloseDelimitedBodyIsANetworkErrorNotItsEnd) {
  std::promise<void> delivered;
  const std::shared_future<void> event_seen = delivered.get_future().share();
  script_server server(
      [event_seen](script_server::connection& c) {
        request r;
        if (!c.read_request(r)) return;
        c.write(stream_header() + "data: one\n\n");
        // Once the client has the event: the reset comes in the body, not before the head.
        if (event_seen.wait_for(ssekit::testing::hang_limit) == std::future_status::ready) c.reset();
      },
      ssekit::testing::server_tls_context(*pki_));
  auto o = options_for(server.url());
  o.reconnect = false;
  o.ca_file = *ca_path_;
  std::vector<ssekit::client_error> errors;
  ssekit::client_handlers h;
  h.on_error = [&](const ssekit::client_error& e) { errors.push_back(e); };
  int events = 0;
  const auto result = ssekit::run_client(
      o,
      [&](const ssekit::event& ev) {
        EXPECT_EQ(ev.data, "one");
        if (++events == 1) delivered.set_value();
        return true;
      },
      ssekit::testing::hang_limit, h);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(events, 1);
  EXPECT_FALSE(result.ended);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].reason, client_error_reason::network_error) << errors[0].message;
}

// A FIN without close_notify in the middle of the response head is said
// as over TCP: the head was cut, not unanswered (mutation testing: calling
// every TLS truncation before the head "without answering" survived).
TEST_F(ClientTls, AFinWithoutCloseNotifyInTheHeadIsACutHead) {
  script_server server(
      [](script_server::connection& c) {
        request r;
        if (!c.read_request(r)) return;
        c.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n");
        c.cut();
      },
      ssekit::testing::server_tls_context(*pki_));
  const recording rec = run_once(server);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::network_error);
  EXPECT_NE(rec.errors[0].message.find("the server closed the connection in the middle of the response head"), std::string::npos)
      << rec.errors[0].message;
}

// A TLS 1.2 server that renegotiates mid-stream: the client answers the
// handshake while it reads (its reads stop gathering records there) and the
// stream goes on.
TEST_F(ClientTls, AServerThatRenegotiatesMidStreamKeepsStreaming) {
  auto context = ssekit::testing::server_tls_context(*pki_);
  SSL_CTX_set_max_proto_version(context->native_handle(), TLS1_2_VERSION);
  const numbered_events events(4000, false);
  const std::string_view body = events.body;
  std::atomic<bool> renegotiated{false};
  script_server server(
      [&](script_server::connection& c) {
        request r;
        if (!c.read_request(r)) return;
        c.write(stream_header() + std::string(body.substr(0, body.size() / 2)));
        renegotiated = c.renegotiate();
        c.write(body.substr(body.size() / 2));
        c.close();
      },
      context);
  const recording rec = run_once(server);
  EXPECT_TRUE(renegotiated);
  EXPECT_EQ(rec.events(), events.expected);
  EXPECT_TRUE(rec.errors.empty()) << (rec.errors.empty() ? "" : rec.errors[0].message);
}

TEST_F(ClientTls, SendsSniAndTrustsACaDirectory) {
  std::string sni;
  std::mutex m;
  script_server server(
      [&](script_server::connection& c) {
        {
          std::lock_guard lock(m);
          sni = c.tls_server_name;
        }
        serve(c, stream_header() + "data: by directory\n\n");
      },
      ssekit::testing::server_tls_context(*pki_));
  const std::string dir = ::testing::TempDir() + "ssekit-ca-dir-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  ssekit::testing::write_hashed_ca(pki_->ca_cert, dir);
  auto o = options_for("https://localhost:" + std::to_string(server.port()) + "/events");
  o.ca_directory = dir;
  o.reconnect = false;
  const recording rec = run(o);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:by directory#"});
  std::lock_guard lock(m);
  EXPECT_EQ(sni, "localhost");
}

// A server that requires a client certificate: TLS 1.3 (OpenSSL's
// default) refuses the missing one after the client's handshake is done,
// so the refusal fails the first read. Final, as in a TLS 1.2 handshake:
// retrying can't help (it was a network_error, retried for ever).
TEST_F(ClientTls, AServerThatRequiresAClientCertificateIsAFinalTlsError) {
  for (const bool tls13 : {true, false}) {
    auto context = ssekit::testing::server_tls_context(*pki_);
    context->set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
    if (!tls13) SSL_CTX_set_max_proto_version(context->native_handle(), TLS1_2_VERSION);
    script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: x\n\n"); }, context);
    auto o = options_for(server.url());
    o.ca_file = *ca_path_;
    const recording rec = run(o);  // reconnect on: a retried error would show as a second one
    ASSERT_EQ(rec.errors.size(), 1u) << (tls13 ? "TLS 1.3" : "TLS 1.2");
    EXPECT_EQ(rec.errors[0].reason, client_error_reason::tls_error) << rec.errors[0].message;
    EXPECT_FALSE(rec.errors[0].will_reconnect);
    // OpenSSL's TLS 1.2 server says only "handshake failure": the message
    // names the likely causes, this one among them.
    if (!tls13) {
      EXPECT_NE(rec.errors[0].message.find("or a client certificate it requires"), std::string::npos) << rec.errors[0].message;
    } else {
      // Naming the server, as every other TLS message does.
      const std::string authority = server.url().substr(8, server.url().find('/', 8) - 8);
      EXPECT_NE(rec.errors[0].message.find("the server " + authority + " refused this client's TLS certificate"), std::string::npos)
          << rec.errors[0].message;
    }
  }
}

TEST_F(ClientTls, AClientCertificateFromAnIssuerTheServerDoesNotKnowIsAFinalTlsError) {
  // TLS 1.3: the server's unknown_ca alert comes after the client's
  // handshake, as the answer to the request; it refuses this client for
  // good, like certificate_required.
  auto context = ssekit::testing::server_tls_context(*pki_);
  context->set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
  context->add_certificate_authority(boost::asio::buffer(pki_->ca_cert));
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: x\n\n"); }, context);
  const auto stranger = ssekit::testing::make_self_signed_pki("client.example");
  auto client = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  client->add_certificate_authority(boost::asio::buffer(pki_->ca_cert));
  client->use_certificate_chain(boost::asio::buffer(stranger.server_cert));
  client->use_private_key(boost::asio::buffer(stranger.server_key), boost::asio::ssl::context::pem);
  auto o = options_for(server.url());
  o.tls_context = client;
  const recording rec = run(o);  // reconnect on: a retried error would show as a second one
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::tls_error) << rec.errors[0].message;
  EXPECT_FALSE(rec.errors[0].will_reconnect);
  EXPECT_NE(rec.errors[0].message.find("refused this client's TLS certificate"), std::string::npos) << rec.errors[0].message;
}

TEST_F(ClientTls, HostNameMismatchFails) {
  const auto other = ssekit::testing::make_test_pki("other.example");
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: x\n\n"); },
                       ssekit::testing::server_tls_context(other));
  const std::string ca = ::testing::TempDir() + "ssekit-other-ca-" + std::to_string(::getpid()) + ".pem";
  std::ofstream(ca) << other.ca_cert;
  // Trusted CA, but the certificate names other.example (and 127.0.0.1), not localhost.
  auto o = options_for("https://localhost:" + std::to_string(server.port()) + "/events");
  o.ca_file = ca;
  const recording rec = run(o);
  std::remove(ca.c_str());
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::tls_error);
}

TEST_F(ClientTls, RefusesARedirectFromHttpsToHttp) {
  script_server plain([](script_server::connection& c) { serve(c, stream_header() + "data: downgraded\n\n"); });
  script_server server(
      [&](script_server::connection& c) {
        serve(c, "HTTP/1.1 302 Found\r\nLocation: " + plain.url() + "\r\nContent-Length: 0\r\n\r\n");
      },
      ssekit::testing::server_tls_context(*pki_));
  auto o = options_for(server.url());
  o.ca_file = *ca_path_;
  recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::redirect_refused);
  EXPECT_EQ(plain.connections(), 0);

  o.allow_https_to_http_redirect = true;
  o.reconnect = false;
  rec = run(o);
  EXPECT_EQ(rec.events(), std::vector<std::string>{"message:downgraded#"});
}

// --- TLS contexts: shared among clients, or the user's own

// A server context that records the ALPN protocols each client offered
// (RFC 7301 wire format) and picks http/1.1.
struct alpn_recorder {
  std::mutex m;
  std::vector<std::string> offers;
  static int select(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
                    void* arg) {
    auto* self = static_cast<alpn_recorder*>(arg);
    {
      std::lock_guard lock(self->m);
      self->offers.emplace_back(reinterpret_cast<const char*>(in), in_len);
    }
    static constexpr unsigned char h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_len, h11, sizeof h11, in, in_len) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
};

// Events of `n` clients with `o`, all at once on one io_context.
std::vector<std::size_t> run_together(const ssekit::client_options& o, std::size_t n) {
  boost::asio::io_context io;
  std::vector<std::size_t> events(n);
  std::vector<std::unique_ptr<ssekit::client>> clients;
  for (std::size_t i = 0; i < n; ++i) {
    ssekit::client_handlers h;
    h.on_event = [&events, i](const ssekit::event&) { ++events[i]; };
    clients.push_back(std::make_unique<ssekit::client>(io.get_executor(), o, h));
  }
  io.run_for(ssekit::testing::hang_limit);  // every client ends (reconnect off) or the bound passes
  return events;
}

TEST_F(ClientTls, ClientsWithTheSameOptionsShareOneContextAndCaLoad) {
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: shared\n\n"); },
                       ssekit::testing::server_tls_context(*pki_));
  // A path no other test uses: its context is made here.
  const std::string ca = ::testing::TempDir() + "ssekit-shared-ca-" + std::to_string(::getpid()) + ".pem";
  std::ofstream(ca) << pki_->ca_cert;
  auto o = options_for("https://localhost:" + std::to_string(server.port()) + "/events");
  o.reconnect = false;
  o.ca_file = ca;
  const std::uint64_t before = ssekit::detail::tls_trust_loads();
  EXPECT_EQ(run_together(o, 3), (std::vector<std::size_t>{1, 1, 1}));
  EXPECT_EQ(ssekit::detail::tls_trust_loads(), before + 1) << "three clients, one load of the CA file";
  // Released by every client: the next one loads the file again (it may have changed).
  EXPECT_EQ(run_together(o, 1), std::vector<std::size_t>{1});
  EXPECT_EQ(ssekit::detail::tls_trust_loads(), before + 2);
  std::remove(ca.c_str());
}

TEST_F(ClientTls, TheSystemCaStoreIsLoadedOncePerProcess) {
  // The test CA is not in the system store: every handshake fails
  // verification, after the context was made (in the constructor).
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: x\n\n"); },
                       ssekit::testing::server_tls_context(*pki_));
  auto o = options_for("https://localhost:" + std::to_string(server.port()) + "/events");
  const std::uint64_t before = ssekit::detail::tls_trust_loads();
  boost::asio::io_context io;
  {
    ssekit::client first(io.get_executor(), o, {});
    // 0 if an earlier test of this process loaded it already.
    EXPECT_LE(ssekit::detail::tls_trust_loads(), before + 1);
  }
  const std::uint64_t loaded = ssekit::detail::tls_trust_loads();
  {
    // No client holds it now; it is kept anyway.
    ssekit::client second(io.get_executor(), o, {});
    ssekit::client third(io.get_executor(), o, {});
  }
  EXPECT_EQ(ssekit::detail::tls_trust_loads(), loaded);
  o.reconnect = false;
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::tls_error) << rec.errors[0].message;
  EXPECT_EQ(ssekit::detail::tls_trust_loads(), loaded);
}

TEST_F(ClientTls, UsesTheUsersContextWithSniAlpnAndVerificationEnforced) {
  alpn_recorder alpn;
  std::string sni;
  std::mutex m;
  auto server_ctx = ssekit::testing::server_tls_context(*pki_);
  SSL_CTX_set_alpn_select_cb(server_ctx->native_handle(), &alpn_recorder::select, &alpn);
  script_server server(
      [&](script_server::connection& c) {
        {
          std::lock_guard lock(m);
          sni = c.tls_server_name;
        }
        serve(c, stream_header() + "data: theirs\n\n");
      },
      server_ctx);
  const std::string url = "https://localhost:" + std::to_string(server.port()) + "/events";
  // The user's context trusts the test CA from memory (no file for us to load).
  auto trusting = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  trusting->add_certificate_authority(boost::asio::buffer(pki_->ca_cert));
  auto o = options_for(url);
  o.reconnect = false;
  o.tls_context = trusting;
  const std::uint64_t before = ssekit::detail::tls_trust_loads();
  EXPECT_EQ(run(o).events(), std::vector<std::string>{"message:theirs#"});
  EXPECT_EQ(ssekit::detail::tls_trust_loads(), before) << "the user's context is used as it is";
  {
    std::lock_guard lock(m);
    EXPECT_EQ(sni, "localhost");
    ASSERT_EQ(alpn.offers.size(), 1u);
    EXPECT_EQ(alpn.offers[0], std::string("\x08http/1.1"));
  }

  // A context that turned verification off (Beast's default) still verifies:
  // it trusts nothing, so the handshake fails.
  auto lax = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  lax->set_verify_mode(boost::asio::ssl::verify_none);
  o.tls_context = lax;
  recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::tls_error) << rec.errors[0].message;
  // ... unless the client is told not to.
  o.insecure_skip_tls_verification = true;
  EXPECT_EQ(run(o).events(), std::vector<std::string>{"message:theirs#"});

  // The host name is checked: the trusted certificate names other.example, not localhost.
  o.insecure_skip_tls_verification = false;
  o.tls_context = trusting;
  auto other = ssekit::testing::make_test_pki("other.example");
  script_server wrong_name([](script_server::connection& c) { serve(c, stream_header() + "data: x\n\n"); },
                           ssekit::testing::server_tls_context(other));
  auto trusts_other = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  trusts_other->add_certificate_authority(boost::asio::buffer(other.ca_cert));
  o.tls_context = trusts_other;
  o.url = "https://localhost:" + std::to_string(wrong_name.port()) + "/events";
  rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::tls_error);
  EXPECT_NE(rec.errors[0].message.find("certificate verify failed"), std::string::npos) << rec.errors[0].message;
}

TEST_F(ClientTls, OwnContextsOfferAlpnHttp11) {
  alpn_recorder alpn;
  auto server_ctx = ssekit::testing::server_tls_context(*pki_);
  SSL_CTX_set_alpn_select_cb(server_ctx->native_handle(), &alpn_recorder::select, &alpn);
  script_server server([](script_server::connection& c) { serve(c, stream_header() + "data: a\n\n"); }, server_ctx);
  auto o = options_for("https://localhost:" + std::to_string(server.port()) + "/events");
  o.reconnect = false;
  o.ca_file = *ca_path_;
  EXPECT_EQ(run(o).events(), std::vector<std::string>{"message:a#"});
  std::lock_guard lock(alpn.m);
  EXPECT_EQ(alpn.offers, std::vector<std::string>{std::string("\x08http/1.1")});
}

// The demo server over TLS with the test PKI's certificate, in files, on
// its own thread while this lives.
struct demo_over_tls {
  demo_over_tls(const ssekit::testing::test_pki& pki, const std::string& name,
                std::chrono::milliseconds request_timeout = std::chrono::seconds(10))
      : dir(::testing::TempDir() + "ssekit-demo-" + name + "-" + std::to_string(::getpid())) {
    options.request_timeout = request_timeout;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/cert.pem") << pki.server_cert;
    std::ofstream(dir + "/key.pem") << pki.server_key;
    options.tls_certificate_file = dir + "/cert.pem";
    options.tls_key_file = dir + "/key.pem";
    demo.emplace(io.get_executor(), options);
    thread = std::thread([this] { io.run(); });
  }
  ~demo_over_tls() {
    demo->stop();
    thread.join();
    std::filesystem::remove_all(dir);
  }
  std::string dir;
  ssekit::demo::server_options options;
  boost::asio::io_context io;
  std::optional<ssekit::demo::server> demo;
  std::thread thread;
};

TEST_F(ClientTls, TheDemoServerServesHttpsWithACertificateFile) {
  demo_over_tls server(*pki_, "tls");
  EXPECT_EQ(server.demo->url("/x").rfind("https://127.0.0.1:", 0), 0u) << server.demo->url("/x");
  // Drops (a FIN without close_notify) and reconnects, over TLS.
  auto o = options_for(server.demo->url("/fault?drop_after=3&retry=1"));
  o.ca_file = *ca_path_;
  o.reconnection_time = 1ms;
  const recording rec = run(o, 9);
  std::vector<std::string> expected;
  for (int i = 1; i <= 9; ++i) expected.push_back("message:event " + std::to_string(i) + "#" + std::to_string(i));
  EXPECT_EQ(rec.events(), expected);
  EXPECT_GE(rec.result.reconnects, 2u);

  auto so = server.options;
  so.tls_key_file = server.dir + "/missing.pem";
  EXPECT_THROW(ssekit::demo::server(server.io.get_executor(), so), std::invalid_argument);
  so.tls_key_file.clear();
  EXPECT_THROW(ssekit::demo::server(server.io.get_executor(), so), std::invalid_argument);

  // An encrypted key is refused, saying so, without asking for its pass
  // phrase (OpenSSL's default prompts on the terminal).
  BIO* plain = BIO_new_mem_buf(pki_->server_key.data(), static_cast<int>(pki_->server_key.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(plain, nullptr, nullptr, nullptr);
  BIO* sealed = BIO_new(BIO_s_mem());
  char phrase[] = "secret";
  ASSERT_NE(key, nullptr);
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(sealed, key, EVP_aes_128_cbc(), nullptr, 0, nullptr, phrase), 1);
  char* pem = nullptr;
  const long pem_size = BIO_get_mem_data(sealed, &pem);
  std::ofstream(server.dir + "/sealed.pem") << std::string(pem, static_cast<std::size_t>(pem_size));
  BIO_free(sealed);
  EVP_PKEY_free(key);
  BIO_free(plain);
  so.tls_key_file = server.dir + "/sealed.pem";
  try {
    ssekit::demo::server refused(server.io.get_executor(), so);
    ADD_FAILURE() << "an encrypted key was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the key is encrypted"), std::string::npos) << e.what();
  }

  // A directory, or a file without PEM in it, is named so: OpenSSL says "no
  // start line" for both.
  std::ofstream(server.dir + "/junk.pem") << "not a certificate\n";
  const auto refusal = [&](const std::string& cert_file, const std::string& key_file) {
    auto bad = server.options;
    bad.tls_certificate_file = cert_file;
    bad.tls_key_file = key_file;
    try {
      ssekit::demo::server refused(server.io.get_executor(), bad);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("taken");
  };
  EXPECT_EQ(refusal(server.dir, server.options.tls_key_file), "ssekit::demo::server: can't load " + server.dir + ": is a directory");
  EXPECT_EQ(refusal(server.options.tls_certificate_file, server.dir), "ssekit::demo::server: can't load " + server.dir + ": is a directory");
  EXPECT_EQ(refusal(server.dir + "/junk.pem", server.options.tls_key_file),
            "ssekit::demo::server: can't load " + server.dir + "/junk.pem: no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
  EXPECT_EQ(refusal(server.options.tls_certificate_file, server.dir + "/junk.pem"),
            "ssekit::demo::server: can't load " + server.dir + "/junk.pem: no PEM private key in it (-----BEGIN PRIVATE KEY-----)");
  // The certificate given twice: its file has PEM, but no key.
  EXPECT_EQ(refusal(server.options.tls_certificate_file, server.options.tls_certificate_file),
            "ssekit::demo::server: can't load " + server.options.tls_certificate_file + ": no PEM private key in it (-----BEGIN PRIVATE KEY-----)");
}

// Found by a hostile-client probe: plain HTTP on the https port was closed
// without a word, and an h2-only client finished its handshake to fail at
// the HTTP layer. Now a 400 that says why, and ALPN as nginx does it.
TEST_F(ClientTls, TheDemoServersHttpsPortAnswersPlainHttpAndNegotiatesAlpn) {
  demo_over_tls server(*pki_, "alpn");
  std::string url = server.demo->url("/feed");
  url.replace(0, 5, "http");  // https:// -> http://
  auto o = options_for(url);
  o.reconnect = false;
  const recording plain = run(o);
  ASSERT_EQ(plain.errors.size(), 1u);
  EXPECT_EQ(plain.errors[0].reason, client_error_reason::http_status) << plain.errors[0].message;
  EXPECT_EQ(plain.errors[0].status, 400);
  EXPECT_NE(plain.errors[0].body.find("use https://"), std::string::npos) << plain.errors[0].body;

  // The ALPN list a client offers, and what the handshake gave: the
  // protocol chosen, or the error.
  const auto offer = [&](std::string_view protocols) -> std::string {
    boost::asio::io_context io;
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> tls(io, ctx);
    boost::system::error_code ec;
    tls.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), server.demo->port()}, ec);
    if (ec) return "connect: " + ec.message();
    SSL_set_alpn_protos(tls.native_handle(), reinterpret_cast<const unsigned char*>(protocols.data()), static_cast<unsigned>(protocols.size()));
    tls.handshake(boost::asio::ssl::stream_base::client, ec);
    if (ec) return "error: " + ec.message();
    const unsigned char* chosen = nullptr;
    unsigned int size = 0;
    SSL_get0_alpn_selected(tls.native_handle(), &chosen, &size);
    return std::string(reinterpret_cast<const char*>(chosen), size);
  };
  EXPECT_EQ(offer(std::string_view("\x02h2\x08http/1.1", 12)), "http/1.1");
  EXPECT_EQ(offer(std::string_view("\x08http/1.1", 9)), "http/1.1");
  const std::string h2_only = offer(std::string_view("\x02h2", 3));
  EXPECT_NE(h2_only.find("no application protocol"), std::string::npos) << h2_only;
}

// Over TLS the request timeout runs from the connection, before any byte:
// a client that connects and sends nothing (no TLS session is made for it
// yet) is closed as a plain one is, not held for ever.
TEST_F(ClientTls, TheDemoServersHttpsPortClosesAConnectionThatSendsNothing) {
  demo_over_tls server(*pki_, "idle", std::chrono::milliseconds(50));
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), server.demo->port()});
  char byte = 0;
  boost::system::error_code ec = boost::asio::error::timed_out;
  s.async_read_some(boost::asio::buffer(&byte, 1), [&](boost::system::error_code e, std::size_t) { ec = e; });
  io.run_for(ssekit::testing::hang_limit);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) << ec.message();
  EXPECT_EQ(server.demo->stats().request_timeouts, 1u);
}

// Plain HTTP on the https port gets its 400 and the close: the request was
// only peeked at, and a kept connection would then serve it, and any
// after it, in cleartext.
TEST_F(ClientTls, TheDemoServersHttpsPortClosesAfterRefusingPlainHttp) {
  demo_over_tls server(*pki_, "plain");
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), server.demo->port()});
  const std::string request = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(request));
  std::string in;
  boost::system::error_code ec = boost::asio::error::timed_out;
  boost::asio::async_read(s, boost::asio::dynamic_buffer(in), [&](boost::system::error_code e, std::size_t) { ec = e; });
  io.run_for(ssekit::testing::hang_limit);
  EXPECT_EQ(ec, boost::asio::error::eof) << ec.message();
  EXPECT_EQ(in.rfind("HTTP/1.1 400 ", 0), 0u) << in;
  EXPECT_NE(in.find("Connection: close\r\n"), std::string::npos) << in;
  EXPECT_EQ(in.find("HTTP/1.1 200"), std::string::npos) << in;
}

TEST_F(ClientTls, AContextAndACaFileExcludeEachOther) {
  auto o = options_for("https://localhost:1/events");
  o.tls_context = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
  o.ca_file = *ca_path_;
  boost::asio::io_context io;
  EXPECT_THROW(ssekit::client(io.get_executor(), o, {}), ssekit::client_options_error);
  // A CA directory too: the user's context would ignore it as it would the
  // file (mutation testing: checking only ca_file survived).
  o.ca_file.clear();
  o.ca_directory = ::testing::TempDir();
  EXPECT_THROW(ssekit::client(io.get_executor(), o, {}), ssekit::client_options_error);
}

}  // namespace

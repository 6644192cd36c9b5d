// Compressed streams (Content-Encoding gzip / deflate) against scripted
// loopback servers: incremental delivery, a bomb, corrupt and cut streams,
// codings the client did not advertise, and the identity-only option.
// Waits are on events with timeouts; no sleep synchronises anything.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/client_options.hpp"
#include "support/script_server.hpp"
#include "ssekit/client.hpp"
#include "ssekit/demo_server.hpp"
#include "zlib_writer.hpp"

namespace {

using namespace std::chrono_literals;
using ssekit::client_error_reason;
using ssekit::testing::request;
using ssekit::testing::script_server;
using ssekit::testing::stream_header;
using ssekit::testing::zlib_writer;

struct recording {
  std::vector<std::string> log;
  std::vector<ssekit::client_error> errors;
  ssekit::blocking_result result;
};

// Runs a client until it closes, `max_events` arrive or 10 s pass;
// `on_event` runs for each event first.
recording run(ssekit::client_options options, std::size_t max_events = SIZE_MAX,
              std::function<void(const ssekit::event&)> on_event = {}) {
  recording rec;
  ssekit::client_handlers handlers;
  handlers.on_error = [&](const ssekit::client_error& e) {
    rec.errors.push_back(e);
    rec.log.push_back("error " + std::string(ssekit::client_error_reason_name(e.reason)) + (e.will_reconnect ? " reconnect" : " closed"));
  };
  handlers.on_end = [&](const ssekit::response_info&) { rec.log.push_back("end"); };
  std::size_t seen = 0;
  rec.result = ssekit::run_client(
      std::move(options),
      [&](const ssekit::event& ev) {
        if (on_event) on_event(ev);
        rec.log.push_back("event " + std::string(ev.data) + "#" + std::string(ev.last_event_id));
        return ++seen < max_events;
      },
      ssekit::testing::hang_limit, handlers);
  EXPECT_FALSE(rec.result.timed_out) << "the client ran into the test's hang limit";
  return rec;
}

using ssekit::testing::options_for;

struct format {
  const char* coding;
  int window_bits;
};
const format formats[] = {{"gzip", zlib_writer::gzip}, {"deflate", zlib_writer::zlib}, {"deflate", zlib_writer::raw}};

// The server sends the first event, flushed, and holds the rest until the
// client has reported that event: were the client to wait for more bytes
// (the end of the member, a full buffer), the hold would run out and the
// test fail. No timing decides the result.
TEST(ClientCompression, EachEventArrivesBeforeTheServerSendsTheNext) {
  for (const format& f : formats) {
    SCOPED_TRACE(std::string(f.coding) + " " + std::to_string(f.window_bits));
    std::promise<void> first_seen;
    auto first_seen_future = first_seen.get_future().share();
    std::promise<bool> held;
    script_server server([&](script_server::connection& c) {
      request r;
      if (!c.read_request(r)) return;
      zlib_writer z(f.window_bits);
      c.write(stream_header("text/event-stream", "Content-Encoding: " + std::string(f.coding) + "\r\n") + z.write("id: 1\ndata: one\n\n"));
      held.set_value(first_seen_future.wait_for(10s) == std::future_status::ready);
      std::string rest = z.write("id: 2\ndata: two\n\n");
      rest += z.finish();  // after the write: the operands of + are unsequenced
      c.write(rest);
      c.close();
    });
    auto o = options_for(server.url());
    o.reconnect = false;
    const recording rec = run(o, SIZE_MAX, [&, n = 0](const ssekit::event&) mutable {
      if (++n == 1) first_seen.set_value();
    });
    EXPECT_EQ(rec.log, (std::vector<std::string>{"event one#1", "event two#2", "end"}));
    EXPECT_TRUE(held.get_future().get()) << "the first event was not delivered while the server held the rest";
    EXPECT_EQ(server.requests().at(0).header("accept-encoding"), "gzip, deflate");
  }
}

// 256 MiB of one line from a few hundred KiB of gzip: the client decodes
// in fixed pieces, so the parser's line limit stops it with the usual
// error within one piece of the limit (the decoder's own memory is
// counted in content_decoder_test's BombStaysBounded).
// restart() from a handler takes effect after the decoded piece in progress
// (16 KiB), as pause_reading() does: one compressed read of tiny events
// delivered the whole read first, thousands of events (probe-fuzz2 2).
TEST(ClientCompression, ARestartFromAHandlerEndsTheConnectionAfterThePiece) {
  std::string events;
  for (int i = 0; i < 100000; ++i) events += "id: " + std::to_string(i) + "\ndata: x\n\n";
  zlib_writer z(zlib_writer::gzip, 9);
  std::string gz = z.write(events);
  gz += z.finish();
  std::atomic<int> connections{0};
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(++connections == 1 ? stream_header("text/event-stream", "Content-Encoding: gzip\r\n") + gz : stream_header());
    c.close();
  });
  auto o = options_for(server.url());
  o.max_compression_ratio = 0;
  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  int before_restart = 0;
  bool restarted = false;
  std::string resumed_from;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event&) {
    if (restarted) return;
    ++before_restart;
    if (before_restart == 1) c->restart();
  };
  h.on_open = [&](const ssekit::response_info&) {
    if (before_restart == 0) return;
    restarted = true;
    resumed_from = c->last_event_id();
    c->close();
  };
  c.emplace(io.get_executor(), o, h);
  io.run_for(ssekit::testing::hang_limit);
  ASSERT_TRUE(restarted);
  // One piece: 16 KiB decoded, 16 bytes an event or more.
  EXPECT_LE(before_restart, 16 * 1024 / 16 + 1);
  EXPECT_EQ(resumed_from, std::to_string(before_restart - 1));
}

TEST(ClientCompression, ABombMeetsTheParsersLimit) {
  constexpr std::uint64_t limit = 1 << 20;
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    zlib_writer z(zlib_writer::gzip, 9);
    const std::string line(1 << 20, 'a');
    std::uint64_t decoded = 0;
    bool ok = c.write(stream_header("text/event-stream", "Content-Encoding: gzip\r\n") + z.write("data: ", Z_NO_FLUSH));
    // Up to 256 MiB decoded (a few hundred KiB on the wire; loopback's
    // socket buffers may take it all), or until the client hangs up.
    for (; ok && decoded < (std::uint64_t{256} << 20); decoded += line.size()) ok = c.write(z.write(line, Z_NO_FLUSH));
    c.close();
  });
  auto o = options_for(server.url());
  o.reconnect = false;
  o.limits.max_line_length = limit;
  o.max_compression_ratio = 0;  // the parser's limit alone (the ratio would stop it too: below)
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::limit_exceeded);
  EXPECT_FALSE(rec.errors[0].will_reconnect);
  // Stopped within one decoded piece of the limit.
  EXPECT_LE(rec.errors[0].offset, limit + 64 * 1024) << rec.errors[0].message;
}

// Blank lines at ~1030 to 1 (deflate's ceiling) meet no parser limit;
// max_compression_ratio (1000 by default) ends the stream as a decode_error instead of burning a
// second of CPU per compressed MB.
TEST(ClientCompression, ABombOfBlankLinesMeetsTheRatioLimit) {
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    zlib_writer z(zlib_writer::gzip, 9);
    const std::string blank(1 << 20, '\n');
    std::uint64_t decoded = 0;
    bool ok = c.write(stream_header("text/event-stream", "Content-Encoding: gzip\r\n") + z.write("data: x\n\n", Z_SYNC_FLUSH));
    for (; ok && decoded < (std::uint64_t{256} << 20); decoded += blank.size()) ok = c.write(z.write(blank, Z_NO_FLUSH));
    c.close();
  });
  auto o = options_for(server.url());
  o.reconnect = false;
  const recording rec = run(o);
  ASSERT_FALSE(rec.log.empty());
  EXPECT_EQ(rec.log.front(), "event x#");
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::decode_error) << rec.errors[0].message;
  EXPECT_NE(rec.errors[0].message.find("max_compression_ratio"), std::string::npos) << rec.errors[0].message;
}

// A server that repeats its whole state in every event (a dashboard, a
// flag set) compresses each repeat to back-references into the last one:
// 150 to 1 here, flushed per event. The default ratio must let it through
// (at 100 it stopped after 80 events, and the reconnect replayed them).
// 143 to 1 at zlib's default level: checked below, so the test can't pass
// by compressing less.
TEST(ClientCompression, AStreamOfRepeatedSnapshotsIsNoBomb) {
  std::string snapshot = "{\"status\":\"ok\",\"items\":[";
  for (int i = 0; i < 300; ++i) snapshot += (i ? ", " : "") + std::string("{\"id\": ") + std::to_string(i % 10) + ", \"name\": \"widget\", \"price\": 9.99}";
  snapshot += "]}";
  constexpr int events = 2000;
  std::atomic<std::uint64_t> compressed_bytes{0};
  script_server server([&](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    zlib_writer z(zlib_writer::gzip);
    bool ok = c.write(stream_header("text/event-stream", "Content-Encoding: gzip\r\n"));
    for (int i = 0; ok && i < events; ++i) {
      const std::string piece = z.write("id: " + std::to_string(i) + "\ndata: " + snapshot + "\n\n", Z_SYNC_FLUSH);
      compressed_bytes += piece.size();
      ok = c.write(piece);
    }
    if (ok) c.write(z.finish());
    c.close();
  });
  auto o = options_for(server.url());
  o.reconnect = false;
  std::uint64_t decoded = 0;
  const recording rec = run(o, SIZE_MAX, [&](const ssekit::event& ev) { decoded += ev.data.size(); });
  EXPECT_TRUE(rec.errors.empty()) << rec.errors.at(0).message;
  ASSERT_EQ(rec.log.size(), events + 1u);
  EXPECT_EQ(rec.log.back(), "end");
  EXPECT_EQ(decoded, std::uint64_t{events} * snapshot.size());
  EXPECT_GT(compressed_bytes, 0u);
  EXPECT_GT(decoded / 120, compressed_bytes) << "the stream compresses less than the 120 to 1 this test is about";
}

// A corrupt stream and one cut inside a member are decode_error, after
// the events before them, and the client reconnects with Last-Event-ID.
TEST(ClientCompression, CorruptAndCutStreamsAreDecodeErrorsAndReconnect) {
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    zlib_writer z(zlib_writer::gzip);
    const std::string head = stream_header("text/event-stream", "Content-Encoding: gzip\r\n");
    const std::string event = "id: " + std::to_string(c.number) + "\ndata: e" + std::to_string(c.number) + "\n\n";
    if (c.number == 1) c.write(head + z.write(event) + "\xff\xff\xff\xff garbage");  // corrupt
    else if (c.number == 2) c.write(head + z.write(event));  // cut: no end of the member
    else {
      std::string body = z.write(event);
      body += z.finish();
      c.write(head + body);
    }
    c.close();
  });
  auto o = options_for(server.url());
  const recording rec = run(o, 3);
  EXPECT_EQ(rec.log, (std::vector<std::string>{"event e1#1", "error decode_error reconnect", "event e2#2",
                                               "error decode_error reconnect", "event e3#3"}));
  ASSERT_EQ(rec.errors.size(), 2u);
  EXPECT_NE(rec.errors[0].message.find("corrupt"), std::string::npos) << rec.errors[0].message;
  EXPECT_NE(rec.errors[1].message.find("ended inside a gzip member"), std::string::npos) << rec.errors[1].message;
  const auto requests = server.requests();
  ASSERT_GE(requests.size(), 3u);
  EXPECT_EQ(requests[1].header("last-event-id"), "1");
  EXPECT_EQ(requests[2].header("last-event-id"), "2");
}

TEST(ClientCompression, ACodingTheClientDidNotAdvertiseIsRefused) {
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header("text/event-stream", "Content-Encoding: br\r\n") + "\x0b\x02\x80");
    c.close();
  });
  const recording rec = run(options_for(server.url()));
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::unsupported_encoding);
  EXPECT_FALSE(rec.errors[0].will_reconnect);
  EXPECT_EQ(server.connections(), 1);
}

// A refused response's body excerpt (client_error::body) is decoded, as
// its coding is one the client asked for: an LLM API's gzipped 429 JSON is
// readable. A body that is not what its Content-Encoding says, a coding
// the client did not ask for, and compression = false show the bytes as sent.
TEST(ClientCompression, ARefusedResponsesBodyIsShownDecoded) {
  const std::string json = R"({"error":{"type":"rate_limit","message":"slow down"}})";
  const std::string big(5000, 'x');  // longer than the excerpt: cut at 1 KiB of decoded text
  struct refusal {
    std::string headers;
    std::string body;
    bool compression;
    std::string expected;
  };
  const std::string gz = zlib_writer::stream({json}, zlib_writer::gzip);
  const refusal cases[] = {
      {"Content-Encoding: gzip\r\n", gz, true, json},
      {"Content-Encoding: deflate\r\n", zlib_writer::stream({json}, zlib_writer::zlib), true, json},
      {"Content-Encoding: identity, gzip\r\n", gz, true, json},
      {"Content-Encoding: gzip\r\n", zlib_writer::stream({big}, zlib_writer::gzip), true, big.substr(0, 1024)},
      {"Content-Encoding: gzip\r\n", "not gzip", true, "not gzip"},
      {"Content-Encoding: gzip, gzip\r\n", gz, true, gz},
      {"Content-Encoding: br\r\n", "brotli?", true, "brotli?"},
      {"Content-Encoding: gzip\r\n", gz, false, gz},
  };
  for (const auto& r : cases) {
    script_server server([&r](script_server::connection& c) {
      request q;
      if (!c.read_request(q)) return;
      c.write("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n" + r.headers +
              "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body);
      c.close();
    });
    auto o = options_for(server.url());
    o.compression = r.compression;
    const recording rec = run(o);
    ASSERT_EQ(rec.errors.size(), 1u) << r.headers;
    EXPECT_EQ(rec.errors[0].status, 429);
    EXPECT_EQ(rec.errors[0].body, r.expected) << r.headers << " compression " << r.compression;
  }
}

// compression = false: Accept-Encoding: identity, and gzip is refused as
// before compression existed.
TEST(ClientCompression, IdentityOnlyRefusesGzip) {
  script_server server([](script_server::connection& c) {
    request r;
    if (!c.read_request(r)) return;
    c.write(stream_header("text/event-stream", "Content-Encoding: gzip\r\n") + zlib_writer::stream({"data: a\n\n"}, zlib_writer::gzip));
    c.close();
  });
  auto o = options_for(server.url());
  o.compression = false;
  const recording rec = run(o);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].reason, client_error_reason::unsupported_encoding);
  EXPECT_TRUE(rec.log.size() == 1) << "no event";
  EXPECT_EQ(server.requests().at(0).header("accept-encoding"), "identity");
}

// The demo server's live /feed with encoding= (what sse-serve offers for
// trying a compressed stream): each event decodes as it comes. A stop ends
// the stream as one that ends on purpose, the last compressed block, the
// last chunk: it was cut inside a member, a decode or network error for
// every client at every restart.
TEST(ClientCompression, TheDemoServersLiveFeedCompressedAndItsStopEndsItCleanly) {
  for (const char* coding : {"gzip", "deflate"}) {
    SCOPED_TRACE(coding);
    boost::asio::io_context server_io;
    ssekit::demo::server_options so;
    so.interval_scale_ppm = 10'000;  // an event every 10 ms
    ssekit::demo::server demo(server_io.get_executor(), so);
    std::thread server_thread([&] { server_io.run(); });
    auto o = options_for(demo.url(std::string("/feed?encoding=") + coding));
    o.reconnect = false;
    std::size_t events = 0;
    const recording rec = run(o, SIZE_MAX, [&](const ssekit::event&) {
      if (++events == 5) demo.stop();
    });
    server_thread.join();
    EXPECT_TRUE(rec.errors.empty()) << rec.errors.at(0).message;
    ASSERT_GE(rec.log.size(), 6u);
    EXPECT_EQ(rec.log.back(), "end");
    // Consecutive ids: the feed's ids go up by one over all topics.
    const auto id_of = [](const std::string& line) { return std::stoull(line.substr(line.rfind('#') + 1)); };
    for (std::size_t i = 1; i + 1 < rec.log.size(); ++i) EXPECT_EQ(id_of(rec.log[i]), id_of(rec.log[0]) + i) << rec.log[i];
  }
}

}  // namespace

// The demo server's /fault and /bench planning (tools/sse-serve/content.hpp),
// without sockets: parameters in, the planned response out.
#include <gtest/gtest.h>
#include <zlib.h>

#include "content.hpp"

namespace ssekit::demo::detail {
namespace {

using namespace std::chrono_literals;

using params = std::vector<std::pair<std::string, std::string>>;

target query(const params& given) {
  target t;
  t.path = "/fault";
  for (const auto& p : given) t.params.push_back(p);
  return t;
}

// A fault body made as the server makes it, in windows of `window` bytes
// within each piece: the bytes, the piece sizes, the events ended.
struct made {
  std::string bytes;
  std::vector<std::size_t> pieces;
  std::uint64_t events = 0;
};
made make(fault_body body, std::size_t window = 7) {
  made out;
  while (!body.done()) {
    const std::uint64_t piece = body.piece_left();
    out.pieces.push_back(piece);
    for (std::uint64_t left = piece; left != 0;) {
      const std::size_t take = std::min<std::size_t>(window, left);
      const std::size_t before = out.bytes.size();
      out.events += body.read(out.bytes, take);
      EXPECT_EQ(out.bytes.size() - before, take);
      left -= take;
    }
  }
  EXPECT_EQ(out.bytes.size(), body.size());
  return out;
}

TEST(FaultPlan, EventsContinueFromLastEventIdAndEndCleanly) {
  const auto p = plan_fault(query({{"events", "2"}}), "41", 1h);
  ASSERT_EQ(p.what, fault_plan::action::body);
  const auto body = make(p.body);
  EXPECT_EQ(body.bytes, "id: 42\ndata: event 42\n\nid: 43\ndata: event 43\n\n");
  EXPECT_EQ(body.events, 2u);
  EXPECT_EQ(body.pieces, (std::vector<std::size_t>{body.bytes.size()}));
  EXPECT_EQ(p.end, fault_plan::ending::clean);
  EXPECT_TRUE(p.reusable);
}

// Ids near 2^64 continue as long as they fit (they restarted at 1 for
// any Last-Event-ID within 100,001 of 2^64-1, the largest events value).
TEST(FaultPlan, IdsNearTheirLimitContinueWhileTheyFit) {
  const auto near = plan_fault(query({{"events", "2"}}), "18446744073709551611", 1h);  // 2^64 - 5
  ASSERT_EQ(near.what, fault_plan::action::body);
  EXPECT_EQ(make(near.body).bytes, "id: 18446744073709551612\ndata: event 18446744073709551612\n\n"
                                   "id: 18446744073709551613\ndata: event 18446744073709551613\n\n");
  // The largest id is 2^64-2 (one past it must fit); one more: from 1.
  const auto past = plan_fault(query({{"events", "4"}}), "18446744073709551611", 1h);
  EXPECT_EQ(make(past.body).bytes.substr(0, 6), "id: 1\n");
  const auto dropped = plan_fault(query({{"drop_after", "4"}}), "18446744073709551611", 1h);
  EXPECT_EQ(make(dropped.body).bytes.substr(0, 6), "id: 1\n");
}

// retry=0 is a retry: field like any other value (it was left out: the
// README's "retry: 0 is no storm" could not be shown with the demo server).
TEST(FaultPlan, RetryWritesItsFieldZeroIncluded) {
  for (const char* ms : {"0", "1500"}) {
    const auto p = plan_fault(query({{"events", "1"}, {"retry", ms}}), "", 1h);
    ASSERT_EQ(p.what, fault_plan::action::body);
    EXPECT_EQ(make(p.body).bytes, std::string("retry: ") + ms + "\nid: 1\ndata: event 1\n\n");
  }
  EXPECT_EQ(make(plan_fault(query({{"events", "1"}}), "", 1h).body).bytes, "id: 1\ndata: event 1\n\n");
}

TEST(FaultPlan, DropAfterDeclaresOneEventMoreThanItSends) {
  const auto p = plan_fault(query({{"drop_after", "1"}}), "", 1h);
  EXPECT_EQ(make(p.body).bytes, "id: 1\ndata: event 1\n\n");
  EXPECT_EQ(p.declared_extra, std::string("id: 2\ndata: event 2\n\n").size());
  EXPECT_EQ(p.end, fault_plan::ending::drop);
  EXPECT_FALSE(p.reusable);
}

TEST(FaultPlan, IntervalCutsOnePiecePerEventAndChunkCutsBytes) {
  const auto paced = plan_fault(query({{"events", "3"}, {"interval_ms", "5"}}), "", 1h);
  EXPECT_EQ(make(paced.body).pieces, (std::vector<std::size_t>{21, 21, 21}));
  EXPECT_EQ(paced.interval, 5ms);
  EXPECT_FALSE(paced.reusable);
  const auto drip = plan_fault(query({{"raw", "616263"}, {"chunk", "1"}}), "", 1h);
  EXPECT_EQ(make(drip.body).bytes, "abc");
  EXPECT_EQ(make(drip.body).pieces, (std::vector<std::size_t>{1, 1, 1}));
  // The retry field goes with the first event's piece.
  const auto retry = plan_fault(query({{"events", "2"}, {"retry", "5"}, {"interval_ms", "1"}}), "", 1h);
  EXPECT_EQ(make(retry.body).pieces, (std::vector<std::size_t>{9 + 21, 21}));
  const auto cut = plan_fault(query({{"events", "2"}, {"chunk", "16"}}), "", 1h);
  EXPECT_EQ(make(cut.body).pieces, (std::vector<std::size_t>{16, 16, 10}));
}

// Each piece is a write on the server's one thread: chunk=1 of 100,000
// events (2,877,790 bytes) was 2.9 million writes, ~13 s of it.
TEST(FaultPlan, AChunkCutsTheBodyIntoAtMost65536Pieces) {
  const auto drip = plan_fault(query({{"events", "100000"}, {"chunk", "1"}}), "", 1h);
  EXPECT_EQ(drip.what, fault_plan::action::bad_request);
  EXPECT_EQ(drip.message, "chunk 1 cuts this body (2877790 bytes) into more than 65536 pieces: chunk must be at least 44");
  EXPECT_EQ(plan_fault(query({{"events", "100000"}, {"chunk", "43"}}), "", 1h).what, fault_plan::action::bad_request);
  const auto least = plan_fault(query({{"events", "100000"}, {"chunk", "44"}}), "", 1h);
  ASSERT_EQ(least.what, fault_plan::action::body);
  EXPECT_LE(make(least.body, 1 << 20).pieces.size(), 65'536u);
  // Exactly 65,536 pieces of one byte, and one more.
  std::string hex;
  for (std::size_t i = 0; i < 65'536; ++i) hex += "61";
  EXPECT_EQ(plan_fault(query({{"raw", hex}, {"chunk", "1"}}), "", 1h).what, fault_plan::action::body);
  EXPECT_EQ(plan_fault(query({{"raw", hex + "61"}, {"chunk", "1"}}), "", 1h).what, fault_plan::action::bad_request);
}

TEST(FaultPlan, DurationsSaturateAndNumbersAreRangeChecked) {
  EXPECT_EQ(plan_fault(query({{"stall_ms", "9223372036854775807"}}), "", 1h).stall, 1h);
  EXPECT_EQ(plan_fault(query({{"interval_ms", "99999999999999999999999"}}), "", 1h).interval, 1h);
  const auto bad = plan_fault(query({{"events", "100001"}}), "", 1h);
  EXPECT_EQ(bad.what, fault_plan::action::bad_request);
  EXPECT_EQ(bad.message, "events must be a whole number from 0 to 100000");
  EXPECT_EQ(plan_fault(query({{"status", "600"}}), "", 1h).what, fault_plan::action::bad_request);
  EXPECT_EQ(plan_fault(query({{"raw", "6"}}), "", 1h).message, "raw must be pairs of hex digits");
  // A Last-Event-ID near 2^64 would wrap the ids: it counts as none.
  EXPECT_EQ(make(plan_fault(query({{"events", "1"}}), "18446744073709551615", 1h).body).bytes, "id: 1\ndata: event 1\n\n");
}

TEST(FaultPlan, EachAnswerTakesOnlyItsOwnParameters) {
  EXPECT_EQ(plan_fault(query({{"stall", ""}}), "", 1h).what, fault_plan::action::stall_forever);
  const auto r = plan_fault(query({{"redirect", "/x"}, {"code", "307"}}), "", 1h);
  EXPECT_EQ(r.what, fault_plan::action::redirect);
  EXPECT_EQ(r.code, 307u);
  EXPECT_EQ(r.location, "/x");
  const auto s = plan_fault(query({{"status", "503"}, {"retry_after", "7"}, {"content_type", "text/html"}}), "", 1h);
  EXPECT_EQ(s.what, fault_plan::action::status);
  EXPECT_EQ(s.code, 503u);
  EXPECT_EQ(s.retry_after, "7");
  EXPECT_EQ(plan_fault(query({{"redirect", "/a\r\nX: y"}}), "", 1h).what, fault_plan::action::bad_request);
  // Raw bytes above 0x7F went out in the header.
  EXPECT_EQ(plan_fault(query({{"redirect", "http://a/\xff\xfe x\xc3\xa9"}}), "", 1h).location, "http://a/%FF%FE%20x%C3%A9");
  // Every byte RFC 3986 allows nowhere ('%' and '#' mean something: kept).
  EXPECT_EQ(plan_fault(query({{"redirect", "/a\"<>\\^`{|}%41#f"}}), "", 1h).location, "/a%22%3C%3E%5C%5E%60%7B%7C%7D%41#f");
  // A parameter the answer would ignore was taken (a hostile-client probe):
  // now a 400 naming it. Precedence: stall, redirect, status, body.
  const std::pair<params, std::string> refused[] = {
      {{{"stall", ""}, {"redirect", "/x"}}, "redirect has no effect with stall"},
      {{{"stall", ""}, {"events", "3"}}, "events has no effect with stall"},
      {{{"redirect", "/x"}, {"status", "500"}}, "status has no effect with redirect="},
      {{{"redirect", "/x"}, {"framing", "length"}}, "framing has no effect with redirect="},
      {{{"redirect", "/x"}, {"chunk", "2"}}, "chunk has no effect with redirect="},
      {{{"status", "500"}, {"events", "3"}}, "events has no effect with status="},
      {{{"status", "500"}, {"rst", "1"}}, "rst has no effect with status="},
      {{{"status", "500"}, {"interval_ms", "5"}}, "interval_ms has no effect with status="},
      {{{"status", "204"}, {"content_type", "text/plain"}}, "content_type has no effect with a status without a body"},
      {{{"status", "304"}, {"raw", "41"}}, "raw has no effect with a status without a body"},
      {{{"events", "0"}, {"chunk", "5"}}, "chunk has no effect with an empty body"},
      {{{"interval_ms", "5"}}, "interval_ms has no effect with an empty body"},
  };
  for (const auto& [given, message] : refused) {
    const auto p = plan_fault(query(given), "", 1h);
    EXPECT_EQ(p.what, fault_plan::action::bad_request) << message;
    EXPECT_EQ(p.message, message);
  }
  // What an empty body still takes: its framing, its end, a stall after it.
  EXPECT_EQ(plan_fault(query({{"events", "0"}, {"stall_ms", "5"}, {"rst", "1"}, {"framing", "close"}}), "", 1h).what,
            fault_plan::action::body);
}

TEST(FaultBody, IsMadeAsItIsReadAndItsSizeIsKnownBeforehand) {
  // Ids across digit counts, up to the largest a Last-Event-ID allows.
  const std::uint64_t largest = UINT64_MAX - max_fault_events - 1;
  for (const std::uint64_t first : {std::uint64_t{1}, std::uint64_t{95}, std::uint64_t{999'990}, largest - 20}) {
    fault_body body("retry: 1\n\n", first, 30, 0, false);
    std::string expected = "retry: 1\n\n";
    for (std::uint64_t id = first; id < first + 30; ++id) expected += fault_body::event(id);
    EXPECT_EQ(body.size(), expected.size()) << first;
    const auto got = make(body, 5);
    EXPECT_EQ(got.bytes, expected) << first;
    EXPECT_EQ(got.events, 30u);
  }
  // 100,000 events are about 3 MB; the body holds one event of them.
  const auto big = plan_fault(query({{"events", "100000"}, {"chunk", "1"}}), "", 1h);
  EXPECT_GT(big.body.size(), 2'000'000u);
  EXPECT_LT(sizeof(fault_body), 256u);
  const auto all = make(big.body, 16 * 1024);
  EXPECT_EQ(all.events, 100000u);
  EXPECT_EQ(all.pieces.size(), big.body.size());
  EXPECT_TRUE(all.bytes.ends_with("\n\nid: 100000\ndata: event 100000\n\n"));
}

TEST(FaultPlan, MeaninglessParametersAreRefusedWithAReason) {
  const std::pair<params, const char*> cases[] = {
      {{{"redirect", "/x"}, {"code", "399"}}, "code must be 301, 302, 303, 307 or 308"},
      {{{"redirect", "/x"}, {"code", "300"}}, "code must be 301, 302, 303, 307 or 308"},
      {{{"redirect", "/x"}, {"code", "306"}}, "code must be 301, 302, 303, 307 or 308"},
      {{{"code", "301"}}, "code needs redirect="},
      {{{"retry_after", "1"}}, "retry_after needs status= other than 200"},
      {{{"status", "200"}, {"retry_after", "1"}}, "retry_after needs status= other than 200"},
      {{{"rst", ""}}, "rst must be 1"},
      {{{"stall", "1"}}, "stall takes no value (stall_ms=T waits T ms)"},
      {{{"stall", ""}, {"stall_ms", "1"}}, "stall and stall_ms exclude each other"},
      {{{"events", "1"}, {"drop_after", "1"}}, "events and drop_after exclude each other"},
      {{{"raw", "61"}, {"retry", "1"}}, "raw excludes events, drop_after and retry"},
      {{{"redirect", ""}}, "redirect needs a URL"},
      {{{"redirect", "/\x7f"}}, "a control character in redirect"},
      {{{"content_type", "a\tb\x1b"}}, "a control character in content_type"},
  };
  for (const auto& [given, reason] : cases) {
    const auto p = plan_fault(query(given), "", 1h);
    EXPECT_EQ(p.what, fault_plan::action::bad_request) << reason;
    EXPECT_EQ(p.message, reason);
  }
  for (const char* code : {"301", "302", "303", "307", "308"})
    EXPECT_EQ(plan_fault(query({{"redirect", "/x"}, {"code", code}}), "", 1h).what, fault_plan::action::redirect);
  EXPECT_EQ(plan_fault(query({{"content_type", "a\tb"}}), "", 1h).content_type, "a\tb");  // HTAB is field content
  EXPECT_EQ(plan_fault(query({{"rst", "1"}, {"drop_after", "1"}}), "", 1h).end, fault_plan::ending::reset);
  EXPECT_EQ(plan_fault(query({{"stall", ""}}), "", 1h).what, fault_plan::action::stall_forever);
}

// Cases mutation testing showed missing: each pins one check of plan_fault.
TEST(FaultPlan, EdgesOfItsChecks) {
  // The largest Last-Event-ID that leaves room for 100,000 ids, and the
  // next one, which counts as none (ids from 1, not wrapped past 2^64).
  constexpr std::uint64_t largest = UINT64_MAX - max_fault_events - 1;
  const auto last = make(plan_fault(query({{"events", "100000"}}), std::to_string(largest), 1h).body, 1 << 20);
  EXPECT_EQ(last.events, 100000u);
  EXPECT_TRUE(last.bytes.ends_with("id: 18446744073709551614\ndata: event 18446744073709551614\n\n"));
  const auto above = make(plan_fault(query({{"events", "100000"}}), std::to_string(largest + 1), 1h).body, 1 << 20);
  EXPECT_EQ(above.events, 100000u);
  EXPECT_TRUE(above.bytes.starts_with("id: 1\ndata: event 1\n\n"));
  // drop_after is a body with events: interval_ms means something there.
  const auto paced = plan_fault(query({{"drop_after", "2"}, {"interval_ms", "5"}}), "", 1h);
  EXPECT_EQ(paced.what, fault_plan::action::body);
  EXPECT_EQ(make(paced.body).pieces.size(), 2u);
  // A stall after the body holds the connection: not reused.
  const auto stalled = plan_fault(query({{"events", "1"}, {"stall_ms", "5"}}), "", 1h);
  EXPECT_EQ(stalled.stall, 5ms);
  EXPECT_FALSE(stalled.reusable);
  // Hex in either case; raw bytes are no events.
  const auto raw = make(plan_fault(query({{"raw", "4a6B"}}), "", 1h).body);
  EXPECT_EQ(raw.bytes, "Jk");
  EXPECT_EQ(raw.events, 0u);
  EXPECT_EQ(make(plan_fault(query({{"raw", "6869"}}), "", 1h).body).events, 0u);
  EXPECT_EQ(plan_fault(query({{"raw", "4g"}}), "", 1h).what, fault_plan::action::bad_request);
  // The last control byte below space, in a Location.
  EXPECT_EQ(plan_fault(query({{"redirect", "/a\x1f"}}), "", 1h).what, fault_plan::action::bad_request);
  EXPECT_EQ(plan_fault(query({{"redirect", "/a "}}), "", 1h).location, "/a%20");
}

TEST(Target, RepeatedFindsANameGivenTwiceAnywhere) {
  target t;
  t.params = {{"topics", "news"}, {"x", "1"}, {"topics", "stock"}};
  EXPECT_EQ(t.repeated(), "topics");
  t.params = {{"b", "1"}, {"a", "1"}, {"c", "1"}};
  EXPECT_EQ(t.repeated(), std::nullopt);
}

TEST(Content, UtcTimestampHasMilliseconds) {
  const std::chrono::system_clock::time_point epoch{};
  EXPECT_EQ(utc_timestamp(epoch + 1234ms), "1970-01-01T00:00:01.234Z");
  EXPECT_EQ(utc_timestamp(epoch + 86'400'000ms + 59ms), "1970-01-02T00:00:00.059Z");
}

std::string inflate_all(std::string_view in, int window_bits) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, window_bits), Z_OK);
  std::string out;
  char buf[1024];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int ret = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    ret = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (ret == Z_OK && (z.avail_in != 0 || z.avail_out == 0));
  inflateEnd(&z);
  return out;
}

// A write larger than the compressor's 4 KiB output buffer comes out whole
// and flushed: everything written so far inflates at once.
TEST(EventCompressor, EveryWriteInflatesWholeWhateverItsSize) {
  std::string random;
  rng r(7);
  while (random.size() < 20'000) random.push_back(static_cast<char>(r.next()));
  for (const auto& [coding, bits] : {std::pair{"gzip", 16 + MAX_WBITS}, std::pair{"deflate", MAX_WBITS}}) {
    const auto c = event_compressor::make(coding);
    ASSERT_NE(c, nullptr);
    std::string sent;
    std::string expected;
    for (const std::string_view piece : {std::string_view(random), std::string_view("data: x\n\n"), std::string_view(random).substr(7)}) {
      sent += c->write(piece);
      expected += piece;
      EXPECT_EQ(inflate_all(sent, bits), expected) << coding;
    }
  }
  EXPECT_EQ(event_compressor::make("br"), nullptr);
}

TEST(BenchPlan, RepeatsCoverTheRequestedBytes) {
  EXPECT_EQ(bench_repeats(0, 1024), 0u);
  EXPECT_EQ(bench_repeats(1, 1024), 1u);
  EXPECT_EQ(bench_repeats(1024, 1024), 1u);
  EXPECT_EQ(bench_repeats(1025, 1024), 2u);
  EXPECT_EQ(bench_repeats(UINT64_MAX, 1024), UINT64_MAX / 1024 + 1);  // no overflow
}

}  // namespace
}  // namespace ssekit::demo::detail

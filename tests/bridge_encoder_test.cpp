// The WebAssembly bridge's encoder (wasm/bridge_encoder.hpp), run natively
// and read back as js/src/parser.cjs reads it (support/bridge_decoder.hpp):
// it must deliver exactly what the core's parser delivers on the same
// chunks, for every conformance case and for streams made to reach every
// part of the layout (type slots, ids carried over, the non-ASCII text and
// its cuts, surrogate pairs, taken data, types and ids, 64-bit retry values).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/bridge_decoder.hpp"
#include "support/conformance.hpp"
#include "support/heap_in_use.hpp"

namespace {

using ssekit::test::bridge_run;
using ssekit::test::run_bridge;
using ssekit::test::run_core;

std::vector<std::size_t> whole(const std::string& s) { return {s.size()}; }

std::vector<std::size_t> every(const std::string& s, std::size_t n) {
  std::vector<std::size_t> chunks;
  for (std::size_t at = 0; at < s.size(); at += n) chunks.push_back(std::min(n, s.size() - at));
  return chunks;
}

void expect_same(const std::string& stream, const std::vector<std::size_t>& chunks, ssekit::parser_options options,
                 std::size_t take_min, const std::string& what) {
  const bridge_run ours = run_bridge(stream, chunks, options, take_min);
  const bridge_run core = run_core(stream, chunks, options);
  EXPECT_EQ(ours.problem, "") << what;
  EXPECT_EQ(ours.records, core.records) << what;
  EXPECT_EQ(ours.last_event_id, core.last_event_id) << what;
  EXPECT_EQ(ours.error, core.error) << what;
}

void expect_same_all_ways(const std::string& stream, ssekit::parser_options options, const std::string& what) {
  for (const std::size_t take_min : {std::size_t{1}, std::size_t{7}, ssekit::bridge::taken_min}) {
    expect_same(stream, whole(stream), options, take_min, what + " whole");
    expect_same(stream, every(stream, 1), options, take_min, what + " byte by byte");
    expect_same(stream, every(stream, 13), options, take_min, what + " in 13-byte chunks");
  }
}

TEST(BridgeEncoder, EveryConformanceCase) {
  const auto suite = ssekit::test::load_conformance(SSEKIT_CONFORMANCE_DIR);
  ASSERT_TRUE(suite.errors.empty());
  std::size_t cases = 0;
  for (const auto& c : suite.parser_cases) {
    if (c.options.raw_bytes) continue;  // the bridge always repairs UTF-8
    expect_same_all_ways(c.stream, c.options, c.name);
    ++cases;
  }
  EXPECT_GT(cases, 100u);
}

TEST(BridgeEncoder, MoreTypesThanSlots) {
  std::string stream;
  for (int round = 0; round < 3; ++round) {
    for (int t = 0; t < 11; ++t) stream += "event: type" + std::to_string(t) + "\ndata: " + std::to_string(round) + "\n\n";
    stream += "event: é-type\ndata: x\n\nevent: type0\ndata: y\n\n";
  }
  expect_same_all_ways(stream, {}, "types");
}

// Long types are not stored (no TYPE_STORE) in the slot they pass through,
// here or in JS; the short types around them still come from their slots.
TEST(BridgeEncoder, LongTypesAreNotKeptInTheirSlots) {
  std::string stream;
  for (int round = 0; round < 3; ++round) {
    for (int t = 0; t < 6; ++t) {
      stream += "event: short" + std::to_string(t) + "\ndata: a\n\n";
      stream += "event: " + std::string(300, static_cast<char>('k' + t)) + "\ndata: b\n\n";
    }
  }
  expect_same_all_ways(stream, {}, "long and short types");
}

TEST(BridgeEncoder, IdsCarriedOverAndChanged) {
  const std::string stream =
      "id: 1\ndata: a\n\ndata: b\n\nid: ü€\ndata: c\n\ndata: d\n\nid\ndata: e\n\nid: 😀\n\ndata: f\n\nid: x\0y\ndata: g\n\n";
  expect_same_all_ways(std::string(stream.data(), stream.size()), {}, "ids");
}

TEST(BridgeEncoder, NonAsciiTextCutsAndSurrogatePairs) {
  // Long ASCII runs between non-ASCII bytes make the encoder cut the other
  // text; 4-byte characters are surrogate pairs in UTF-16.
  const std::string run(300, 'a');
  std::string stream;
  for (int i = 0; i < 5; ++i) {
    stream += "data: é" + run + "😀" + run + "ß\ndata: " + run + "\n\n";
    stream += ": comment ✓ " + run + "\n";
    stream += "event: ñ" + run + "\ndata: 𝄞x\n\n";
  }
  stream += "data: \xff\xfe invalid \xc3\n\n";  // repaired to U+FFFD by the core
  expect_same_all_ways(stream, {}, "non-ASCII");
}

TEST(BridgeEncoder, TakenDataAndRetries) {
  std::string stream = "retry: 18446744073709551615\nretry: 4294967296\nretry: 5\n";
  stream += "data: " + std::string(5000, 'x') + "\ndata: " + std::string(3000, 'y') + "é\n\n";
  stream += "data: short\n\ndata: " + std::string(2000, 'z') + "\n\n";
  expect_same_all_ways(stream, {}, "taken");
  // The real threshold: one event over 1 MiB goes through take.
  const std::string big = "data: " + std::string(ssekit::bridge::taken_min + 5, 'q') + "\n\ndata: after\n\n";
  expect_same(big, every(big, 65536), {}, ssekit::bridge::taken_min, "a 1 MiB event");
}

TEST(BridgeEncoder, TakenTypesAndIds) {
  // Long types (past the cache's 256 bytes) and ids, ASCII and not; an id
  // carried over, the same long id sent again, an empty id after a taken
  // one (the copy kept for ID_SAME is empty then), short ids sent twice.
  const std::string t(300, 't');
  const std::string i(2000, 'i');
  std::string stream = "event: " + t + "\ndata: a\n\nid: " + i + "\ndata: b\n\ndata: c\n\n";
  stream += "id: " + i + "\ndata: d\n\nid\ndata: e\n\nid: 5\ndata: f\n\nid: 5\ndata: g\n\n";
  std::string wide_type = "ñ";
  std::string wide_id = "é";
  for (int k = 0; k < 300; ++k) wide_type += "é", wide_id += "𝄞";
  stream += "event: " + wide_type + "\nid: " + wide_id + "\ndata: h\n\nevent: " + t + "\ndata: k\n\n";
  expect_same_all_ways(stream, {}, "taken types and ids");
  // The real threshold: a 1 MiB type and id go through take, as data does.
  const std::string big_type(ssekit::bridge::taken_min + 3, 'T');
  const std::string big_id(ssekit::bridge::taken_min + 1, 'I');
  const std::string big = "event: " + big_type + "\nid: " + big_id + "\ndata: x\n\ndata: y\n\nid: " + big_id + "\ndata: z\n\n";
  expect_same(big, every(big, 65536), {}, ssekit::bridge::taken_min, "a 1 MiB type and id");
  expect_same(big, whole(big), {}, ssekit::bridge::taken_min, "a 1 MiB type and id, whole");
}

// Taken, not copied: the texts stay small, the type and the id are taken
// once each, and an id set from outside after a taken one is read back.
TEST(BridgeEncoder, LongTypesAndIdsAreNotCopiedIntoTheTexts) {
  std::vector<std::string> taken;
  const auto take = [](void* context, std::string_view data) {
    auto& list = *static_cast<std::vector<std::string>*>(context);
    list.emplace_back(data);
    return static_cast<std::uint32_t>(list.size() - 1);
  };
  ssekit::bridge::bridge_parser p({}, take, &taken);
  ssekit::test::bridge_decoder decoder;
  std::vector<ssekit::test::record> records;
  const std::string big_type(ssekit::bridge::taken_min, 'T');
  const std::string big_id(ssekit::bridge::taken_min, 'I');
  ASSERT_FALSE(p.feed("event: " + big_type + "\nid: " + big_id + "\ndata: x\n\ndata: y\n\n"));
  EXPECT_LT(p.ascii().size() + p.wide().size(), 16u);
  ASSERT_EQ(taken.size(), 2u);  // the id once, though two events carry it
  ASSERT_EQ(decoder.decode(p, taken, records), "");
  taken.clear();
  p.set_last_event_id(big_id.substr(1));
  ASSERT_FALSE(p.feed("data: z\n\n"));
  ASSERT_EQ(decoder.decode(p, taken, records), "");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], ssekit::test::record::make_event(big_type, "x", big_id));
  EXPECT_EQ(records[1], ssekit::test::record::make_event("message", "y", big_id));
  EXPECT_EQ(records[2], ssekit::test::record::make_event("message", "z", big_id.substr(1)));
}

TEST(BridgeEncoder, LimitErrors) {
  ssekit::parser_options small;
  small.max_line_length = 16;
  small.max_event_size = 24;
  expect_same_all_ways("data: ok\n\ndata: 0123456789abcdef0123\n\n", small, "line limit");
  expect_same_all_ways("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", small, "event limit");
}

// More records in one call than the record buffer's first allocation (1024
// words): the buffer grows with the records already in it.
TEST(BridgeEncoder, ManyRecordsInOneCall) {
  std::string stream;
  for (int i = 0; i < 400; ++i) {
    stream += "id: " + std::to_string(i % 3) + "\nevent: t" + std::to_string(i % 11) + "\ndata: " + std::to_string(i) + "\n\n";
    stream += ": c" + std::to_string(i) + "\nretry: " + std::to_string(i) + "\n";
  }
  expect_same(stream, whole(stream), {}, ssekit::bridge::taken_min, "many records");
}

// The layout rules the decoder does not need but JS's speed does: a string
// goes to the ASCII text exactly when it is ASCII; a "message" type and an
// ID_SAME id leave their words 0, whatever the buffer held before.
TEST(BridgeEncoder, AsciiStringsGoToTheAsciiText) {
  const auto take = [](void*, std::string_view) { return std::uint32_t{0}; };
  ssekit::bridge::bridge_parser p({}, take, nullptr);
  ASSERT_FALSE(p.feed("event: abc\nid: XYZ\ndata: 0123 hello world\n\n"));
  EXPECT_EQ(p.ascii(), "abc0123 hello worldXYZ");
  EXPECT_EQ(p.wide(), "");
  ASSERT_FALSE(p.feed("data: h\xc3\xa9llo\n\n"));
  EXPECT_EQ(p.ascii(), "");
  EXPECT_EQ(p.wide(), "h\xc3\xa9llo");
  ASSERT_EQ(p.records().size(), ssekit::bridge::EVENT_WORDS);
  EXPECT_EQ(p.records()[0] & (ssekit::bridge::TYPE_MESSAGE | ssekit::bridge::ID_SAME), ssekit::bridge::TYPE_MESSAGE | ssekit::bridge::ID_SAME);
  EXPECT_EQ(p.records()[1], 0u);  // type start and length
  EXPECT_EQ(p.records()[2], 0u);
  EXPECT_EQ(p.records()[5], 0u);  // id start and length
  EXPECT_EQ(p.records()[6], 0u);
}

// cut_finder: a cut where an ASCII run of min_ascii_run (256) bytes or more
// that follows a non-ASCII byte is followed by another; none for a shorter run.
TEST(BridgeEncoder, CutsAtLongAsciiRunsOnly) {
  const auto take = [](void*, std::string_view) { return std::uint32_t{0}; };
  ssekit::bridge::bridge_parser p({}, take, nullptr);
  for (const std::size_t run : {std::size_t{255}, std::size_t{256}}) {
    ASSERT_FALSE(p.feed("data: \xc3\xa9" + std::string(run, 'a') + "\xc3\xa9\n\n"));
    if (run < 256) EXPECT_TRUE(p.cuts().empty()) << run;
    else EXPECT_EQ(p.cuts(), std::vector<std::uint32_t>{2}) << run;
  }
}

// One call's big texts and record buffer (more than 1 MiB, or 1 Mi words)
// are not kept after the next call.
TEST(BridgeEncoder, BigTextsAreNotKeptAfterTheNextCall) {
  const auto take = [](void*, std::string_view) { return std::uint32_t{0}; };
  ssekit::parser_options unlimited;
  unlimited.max_line_length = SIZE_MAX;
  unlimited.max_event_size = SIZE_MAX;
  std::string ascii_events;
  std::string wide_events;
  for (int i = 0; i < 48; ++i) {
    ascii_events += "data: " + std::string(64 * 1024, 'a') + "\n\n";
    wide_events += "data: \xc3\xa9" + std::string(64 * 1024, 'a') + "\n\n";
  }
  std::string many;
  for (int i = 0; i < 400'000; ++i) many += ":\n";  // 3 words each, 1.2 Mi words
  for (const std::string* chunk : {&ascii_events, &wide_events, &many}) {
    ssekit::bridge::bridge_parser p(unlimited, take, nullptr);
    ASSERT_FALSE(p.feed("data: warm up\n\n"));
    const std::size_t before = ssekit::test::heap_in_use();
    ASSERT_FALSE(p.feed(*chunk));
    ASSERT_FALSE(p.feed("data: x\n\n"));
    EXPECT_LT(ssekit::test::heap_in_use(), before + 512 * 1024) << chunk->substr(0, 8);
  }
}

// The type cache: all TYPE_SLOTS slots are looked up, and a type of
// max_cached_type (256) bytes is still stored; a longer one is not.
TEST(BridgeEncoder, TypeSlotsAndTheCachedTypeLength) {
  using namespace ssekit::bridge;
  const auto take = [](void*, std::string_view) { return std::uint32_t{0}; };
  bridge_parser p({}, take, nullptr);
  std::string types;
  for (std::uint32_t t = 0; t < TYPE_SLOTS; ++t) types += "event: t" + std::to_string(t) + "\ndata: x\n\n";
  ASSERT_FALSE(p.feed(types));
  ASSERT_FALSE(p.feed(types));
  ASSERT_EQ(p.records().size(), TYPE_SLOTS * EVENT_WORDS);
  for (std::uint32_t t = 0; t < TYPE_SLOTS; ++t) EXPECT_TRUE(p.records()[t * EVENT_WORDS] & TYPE_CACHED) << "t" << t;
  for (const std::size_t n : {std::size_t{256}, std::size_t{257}}) {
    const std::string event = "event: " + std::string(n, 'L') + "\ndata: x\n\n";
    ASSERT_FALSE(p.feed(event));
    EXPECT_EQ((p.records()[0] & TYPE_STORE) != 0, n <= 256) << n;
    ASSERT_FALSE(p.feed(event));
    EXPECT_EQ((p.records()[0] & TYPE_CACHED) != 0, n <= 256) << n;
  }
}

}  // namespace

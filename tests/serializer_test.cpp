// Serializer behaviour beyond the data cases in conformance/serializer*.json:
// appending semantics, refusal leaves the output untouched, and the round
// trip through the parser.
#include <gtest/gtest.h>

#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {
namespace {

std::vector<record> parse_raw(std::string_view bytes) {
  recorder rec;
  parser_options options;
  options.raw_bytes = true;
  parser p{rec, options};
  EXPECT_FALSE(p.feed(bytes));
  EXPECT_FALSE(p.finish());
  return rec.records;
}

TEST(Serializer, AppendsACompleteEvent) {
  std::string out = "previous\n";
  EXPECT_EQ(serialize_event(out, {.data = "hello", .type = "greeting", .id = "7", .retry = 1500}), errc::ok);
  EXPECT_EQ(out, "previous\nretry: 1500\nid: 7\nevent: greeting\ndata: hello\n\n");
}

TEST(Serializer, RefusedInputAppendsNothing) {
  std::string out = "kept";
  EXPECT_EQ(serialize_event(out, {.data = "x", .type = "a\nb"}), errc::invalid_event_type);
  EXPECT_EQ(serialize_event(out, {.data = "x", .type = "a\rb"}), errc::invalid_event_type);
  EXPECT_EQ(serialize_event(out, {.data = "x", .id = std::string_view("1\n")}), errc::invalid_event_id);
  EXPECT_EQ(serialize_event(out, {.data = "x", .id = std::string_view("1\0" "2", 3)}), errc::invalid_event_id);
  EXPECT_EQ(serialize_event(out, {.data = "x", .id = std::string_view("\r"), .retry = 5}), errc::invalid_event_id);
  EXPECT_EQ(serialize_comment(out, "two\nlines"), errc::invalid_comment);
  EXPECT_EQ(out, "kept");
}

// Values that view the output buffer itself (bytes already in it, framed
// again): each append may move the buffer, so the serializer must not read
// them from it afterwards (ASan saw a use after free). The buffer is filled
// to its capacity, so the first append moves it.
TEST(Serializer, ValuesInsideTheOutputBufferAreCopiedBeforeItGrows) {
  std::string out = "line one\r\nline two and then some more text: ";
  out.append(out.capacity() - out.size(), 'x');
  const std::string before = out;
  const std::string_view all(out);
  EXPECT_EQ(serialize_event(out, {.data = all, .type = all.substr(0, 4), .id = all.substr(5, 3), .retry = 9}), errc::ok);
  std::string expected = before;
  const std::string_view copy(before);
  EXPECT_EQ(serialize_event(expected, {.data = copy, .type = copy.substr(0, 4), .id = copy.substr(5, 3), .retry = 9}), errc::ok);
  EXPECT_EQ(out, expected);

  // Refused, it still appends nothing.
  const std::string kept = out;
  EXPECT_EQ(serialize_event(out, {.data = std::string_view(out), .id = std::string_view(out).substr(8, 2)}), errc::invalid_event_id);
  EXPECT_EQ(out, kept);

  std::string comment = "a comment";
  comment.append(comment.capacity() - comment.size(), 'y');
  const std::string comment_before = comment;
  EXPECT_EQ(serialize_comment(comment, comment), errc::ok);
  EXPECT_EQ(comment, comment_before + ":" + comment_before + "\n");
}

TEST(Serializer, RoundTripKeepsSpacesColonsAndLineStructure) {
  const std::string data = " leading space\n\nmiddle: colon\r\n  two spaces\rlast ";
  std::string out;
  ASSERT_EQ(serialize_event(out, {.data = data, .type = " spaced type", .id = std::string_view(" id ")}), errc::ok);
  const auto records = parse_raw(out);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], record::make_event(" spaced type", " leading space\n\nmiddle: colon\n  two spaces\nlast ", " id "));
}

TEST(Serializer, EmptyDataStillDispatchesAndEmptyIdResets) {
  std::string out;
  ASSERT_EQ(serialize_event(out, {.data = "a", .id = std::string_view("5")}), errc::ok);
  ASSERT_EQ(serialize_event(out, {.data = "", .id = std::string_view("")}), errc::ok);
  const auto records = parse_raw(out);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], record::make_event("message", "a", "5"));
  EXPECT_EQ(records[1], record::make_event("message", "", ""));
}

TEST(Serializer, CommentsHeartbeatAndRetryParseBack) {
  std::string out;
  ASSERT_EQ(serialize_comment(out, " keep-alive"), errc::ok);
  serialize_heartbeat(out);
  serialize_retry(out, 18446744073709551615ull);
  EXPECT_EQ(out, ": keep-alive\n:\nretry: 18446744073709551615\n");
  const auto records = parse_raw(out);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], record::make_comment(" keep-alive"));
  EXPECT_EQ(records[1], record::make_comment(""));
  EXPECT_EQ(records[2], record::make_retry(18446744073709551615ull));
}

// The bulk scan looks at 16 and 32 bytes at a time: put CR, LF and CRLF at
// every position around those block edges (and a CRLF split across one) and
// compare with splitting the data byte by byte.
TEST(Serializer, LineBreaksAtEveryBlockPositionMatchAByteWiseSplit) {
  const auto expected = [](std::string_view data) {
    std::string out;
    std::string line;
    for (std::size_t i = 0; i <= data.size(); ++i) {
      if (i == data.size() || data[i] == '\r' || data[i] == '\n') {
        out += line.empty() ? "data:\n" : "data: " + line + "\n";
        line.clear();
        if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
      } else {
        line += data[i];
      }
    }
    return out + "\n";
  };
  for (const std::string_view brk : {"\n", "\r", "\r\n"}) {
    for (std::size_t at = 0; at < 100; ++at) {
      std::string data(100, 'x');
      data.replace(at, brk.size(), brk);
      data[99] = '\xE9';  // a high byte after the break must not matter
      std::string out;
      ASSERT_EQ(serialize_event(out, {.data = data}), errc::ok);
      EXPECT_EQ(out, expected(data)) << "break " << brk.size() << " at " << at;
    }
  }
}

}  // namespace
}  // namespace ssekit::test

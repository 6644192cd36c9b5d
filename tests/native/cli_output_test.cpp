// sse-cat's output pieces (tools/sse-cat/output.cpp): the terminal escaping of
// server-controlled text, and the JSON and event-stream writers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "output.hpp"
#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"

namespace ssekit::cli {
namespace {

TEST(TerminalSafe, EscapesControlsEscAndC1ButNotUtf8OrBackslashes) {
  EXPECT_EQ(terminal_safe("plain text / 200 OK"), "plain text / 200 OK");
  EXPECT_EQ(terminal_safe("\x1b[2Jgone"), "\\x1b[2Jgone");
  EXPECT_EQ(terminal_safe("a\rb\nc\td\x7f"), "a\\x0db\\x0ac\\x09d\\x7f");
  EXPECT_EQ(terminal_safe("\xc2\x9b" "31m"), "\\u009b31m");            // C1 CSI, UTF-8 encoded
  EXPECT_EQ(terminal_safe("\x9b" "31m"), "\\x9b31m");                  // C1 CSI, raw byte
  EXPECT_EQ(terminal_safe("caf\xc3\xa9 \xf0\x9f\x98\x80 \xc2\xa0"), "caf\xc3\xa9 \xf0\x9f\x98\x80 \xc2\xa0");
  EXPECT_EQ(terminal_safe("C:\\path \\x1b"), "C:\\path \\x1b");         // already escaped: left alone
  EXPECT_EQ(terminal_safe("\xc0\xaf"), "\\xc0\\xaf");                  // overlong
  EXPECT_EQ(terminal_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");         // surrogate
  EXPECT_EQ(terminal_safe("\xe2\x82"), "\\xe2\\x82");                  // truncated
}

// Writes through a pipe and returns what came out.
template <class F>
std::string through_pipe(F&& f, std::size_t capacity = 16) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  {
    writer out(fds[1], -1, capacity);  // 16: the smallest buffer (min_capacity), pieces are written through
    f(out);
    EXPECT_TRUE(out.flush());
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return got;
}

// Every JSON escaper this CPU can run, the best one last (left in force).
std::vector<simd_level> simd_levels() {
  std::vector<simd_level> levels;
  for (const simd_level l : {simd_level::portable, simd_level::ssse3, simd_level::avx512})
    if (l <= cpu_simd_level()) levels.push_back(l);
  return levels;
}

TEST(CliOutput, JsonEscapesInRunsAcrossTheBuffer) {
  const std::string text = std::string(40, 'a') + "\"\\\n\x01" + std::string(40, 'b');
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, text); }),
              "\"" + std::string(40, 'a') + "\\\"\\\\\\n\\u0001" + std::string(40, 'b') + "\"")
        << "simd level " << static_cast<int>(level);
  }
}

// The escaping done one byte at a time, the obvious way.
std::string json_reference(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) out += std::string("\\u00") + hex[c >> 4] + hex[c & 0xf];
    else out.push_back(ch);
  }
  return out + "\"";
}

TEST(CliOutput, JsonEscapingMatchesTheByteByByteReferenceAtEveryOffset) {
  // Every byte value below 0x80 (and a UTF-8 pair) at every offset of the
  // 16-byte blocks, in runs long and short, through buffers small and large.
  std::string alphabet;
  for (int c = 0; c < 0x80; ++c) alphabet.push_back(static_cast<char>(c));
  alphabet += "\xc3\xa9";
  // The AVX-512 escaper's blocks are 32 bytes: runs of LF, CR and tab (its
  // two-byte escapes) and of quotes across them, and a \u00XX block.
  std::string mixed;
  for (int i = 0; i < 200; ++i) mixed += (i % 7 == 0) ? "\n\r\t" : (i % 5 == 0) ? "\"\\" : (i % 61 == 0) ? "\x1f" : "ab";
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    const std::string where = "simd level " + std::to_string(static_cast<int>(level));
    for (const std::size_t capacity : {std::size_t{16}, std::size_t{300}, std::size_t{4096}}) {
      for (std::size_t offset = 0; offset < 70; ++offset) {
        const std::string text = std::string(offset, 'x') + alphabet + std::string(offset, '"');
        EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, text); }, capacity), json_reference(text))
            << "offset " << offset << " capacity " << capacity << " " << where;
        const std::string piece = mixed.substr(offset);
        EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, piece); }, capacity), json_reference(piece))
            << "mixed from " << offset << " capacity " << capacity << " " << where;
      }
    }
    const std::string quotes(1000, '"');  // every byte escaped: 2x the input
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, quotes); }), json_reference(quotes)) << where;
    const std::string controls(1000, '\x01');  // every byte 6x
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, controls); }), json_reference(controls)) << where;
    const std::string lines(1000, '\n');  // every byte 2x, no \u00XX
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, lines); }), json_reference(lines)) << where;
  }
}

TEST(CliOutput, EventStreamOutputIsWhatTheSerializerWrites) {
  const std::string got = through_pipe([](writer& out) {
    printer p(out, output_format::event_stream, true);
    p.on_retry(5);
    p.on_comment(" hi");
    p.on_event(event{"news", "line 1\nline 2\n\n x", "7"});
    p.on_event(event{"message", "", "7"});
  });
  EXPECT_EQ(got, "retry: 5\n: hi\nid: 7\nevent: news\ndata: line 1\ndata: line 2\ndata:\ndata:  x\n\ndata:\n\n");
}

TEST(CliOutput, DataLinesAreTheSerializersAtEveryOffsetAndLevel) {
  // Multi-line data goes through a copy in 16-byte blocks (above the
  // portable level): LFs at every offset of a block, empty lines, lines
  // longer than a block, a leading and a trailing LF, through buffers
  // smaller and larger than a line.
  std::vector<std::string> values;
  for (std::size_t first = 0; first < 40; ++first) {
    values.push_back(std::string(first, 'a') + "\n" + std::string(first % 17, 'b'));
    values.push_back(std::string(first, 'c') + "\n\n" + std::string(40 - first, 'd') + "\n");
  }
  values.push_back("\n");
  values.push_back("\n\n\nx");
  values.push_back(std::string(1000, 'e') + "\n" + std::string(3, 'f') + "\n" + std::string(700, 'g'));
  std::string many;
  for (int i = 0; i < 300; ++i) many += std::string(static_cast<std::size_t>(i % 37), 'h') + "\n";
  values.push_back(many);
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    for (const std::size_t capacity : {std::size_t{writer::min_capacity}, std::size_t{300}, std::size_t{4096}}) {
      for (const std::string& value : values) {
        std::string expected;
        ASSERT_EQ(serialize_event(expected, {.data = value}), errc::ok);
        EXPECT_EQ(through_pipe([&](writer& out) { printer(out, output_format::event_stream, false).on_event(event{"message", value, ""}); }, capacity),
                  expected)
            << "simd level " << static_cast<int>(level) << " capacity " << capacity << " value of " << value.size() << " bytes";
      }
    }
  }
}

TEST(CliOutput, JsonLinesWithTheUsualAndOtherTypesAndIds) {
  const std::string got = through_pipe([](writer& out) {
    printer p(out, output_format::json, false);
    p.on_event(event{"message", "a\"b", ""});
    p.on_event(event{"up\"d", "x", "7\\"});
    p.on_event(event{"messages", "", "7"});
  });
  EXPECT_EQ(got,
            "{\"type\":\"message\",\"data\":\"a\\\"b\",\"lastEventId\":\"\"}\n"
            "{\"type\":\"up\\\"d\",\"data\":\"x\",\"lastEventId\":\"7\\\\\"}\n"
            "{\"type\":\"messages\",\"data\":\"\",\"lastEventId\":\"7\"}\n");
}

// A regular file takes whole buffers without poll(): the same bytes.
TEST(CliOutput, WritesToARegularFileAsToAPipe) {
  std::string big;
  for (int i = 0; i < 3000; ++i) big += "line " + std::to_string(i) + "\n";
  const auto print = [&](writer& out) {
    printer p(out, output_format::event_stream, false);
    p.on_event(event{"message", big, "1"});
    p.on_event(event{"update", "x", "2"});
  };
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    writer out(::fileno(file), -1, 300);
    print(out);
    EXPECT_TRUE(out.flush());
  }
  std::string got;
  std::rewind(file);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file)) > 0;) got.append(buf, n);
  std::fclose(file);
  std::string want = "id: 1\n";
  for (int i = 0; i < 3000; ++i) want += "data: line " + std::to_string(i) + "\n";
  want += "data:\n\nid: 2\nevent: update\ndata: x\n\n";
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace ssekit::cli

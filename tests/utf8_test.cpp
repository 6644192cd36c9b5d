// UTF-8 repair must match TextDecoder("utf-8") exactly: one U+FFFD per
// maximal subpart. Vectors follow the WHATWG Encoding standard's decoder and
// Unicode's "U+FFFD substitution of maximal subparts" (Unicode 15, ch. 3.9).
#include <gtest/gtest.h>

#include "ssekit/utf8.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {
namespace {

std::string repair(std::string_view in) {
  std::string out;
  utf8_append_replacing_invalid(out, in);
  return out;
}

const std::string R = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextIsUnchanged) {
  for (std::string_view s : {"", "plain ascii", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                             "\xEF\xBB\xBF" "bom kept", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF",
                             "a long run of ascii that spans more than sixteen bytes \xC3\xA9 and more"}) {
    EXPECT_TRUE(utf8_is_valid(s)) << escape_bytes(std::string(s));
    EXPECT_EQ(repair(s), s);
  }
}

TEST(Utf8, ReplacementCountsMatchTextDecoder) {
  struct vector_case { std::string in, out; };
  const vector_case cases[] = {
      {"\x80", R},                                   // lone continuation
      {"\xBF\x80", R + R},                           // each stray continuation
      {"\xC0\xAF", R + R},                           // C0 can never lead
      {"\xC1\xBF", R + R},
      {"\xE0\x80\xAF", R + R + R},                   // overlong: 80 is outside E0's A0-BF
      {"\xED\xA0\x80", R + R + R},                   // surrogate: A0 is outside ED's 80-9F
      {"\xF4\x90\x80\x80", R + R + R + R},           // above U+10FFFF
      {"\xF5\x80", R + R},
      {"\xFF", R},
      {"\xE2\x82", R},                               // truncated at end: one
      {"\xF0\x9F\x98", R},
      {"\xF0\x9F\x98" "A", R + "A"},                 // truncated then ASCII: one, then the byte
      {"\xE2\x82\xE2\x82\xAC", R + "\xE2\x82\xAC"},  // truncated then valid
      {"\xC3" "\n", R + "\n"},
      {"a\xFF" "b\xC3\xA9", "a" + R + "b\xC3\xA9"},
      {std::string(20, 'x') + "\xFE" + std::string(20, 'y'), std::string(20, 'x') + R + std::string(20, 'y')},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(utf8_is_valid(c.in)) << escape_bytes(c.in);
    EXPECT_EQ(escape_bytes(repair(c.in)), escape_bytes(c.out)) << escape_bytes(c.in);
  }
}

TEST(Utf8, RepairAppends) {
  std::string out = "x";
  utf8_append_replacing_invalid(out, "\xFF" "y");
  EXPECT_EQ(out, "x" + R + "y");
}

// The bytes may view `out` itself: the resize moved `out` before they
// were read (ASan, a helper's probe). Filled to capacity so it must move.
TEST(Utf8, RepairAppendsBytesThatViewTheOutputItself) {
  std::string out(100, '\xFF');
  out.append(out.capacity() - out.size(), 'a');
  std::string expected = out;
  utf8_append_replacing_invalid(expected, std::string(out));
  utf8_append_replacing_invalid(out, out);
  EXPECT_EQ(out, expected);
}

TEST(Utf8, EveryTwoByteCombinationAgreesWithValidity) {
  // Exhaustive over all 2-byte inputs: valid exactly when repair is the identity.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const std::string s{static_cast<char>(a), static_cast<char>(b)};
      const std::string r = repair(s);
      EXPECT_EQ(utf8_is_valid(s), r == s) << escape_bytes(s);
      EXPECT_TRUE(utf8_is_valid(r)) << escape_bytes(s);
    }
  }
}

TEST(Utf8, LongInputsAgreeWithTheScalarDecoderAtEveryBlockPosition) {
  // Inputs of 32 bytes and more take the vector path (when the CPU has one);
  // repair() is always the scalar decoder, so valid <=> repair is identity.
  // Every 4-byte pattern over bytes that sit at the edges of the UTF-8
  // ranges is placed across each position of a 32-byte block boundary.
  // One byte per class the decoder tells apart (ASCII, each continuation
  // sub-range, each kind of lead byte, never-valid bytes).
  const unsigned char interesting[] = {0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                       0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  std::size_t checked = 0;
  for (const unsigned char a : interesting)
    for (const unsigned char b : interesting)
      for (const unsigned char c : interesting)
        for (const unsigned char d : interesting) {
          const std::string pattern{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                                    static_cast<char>(d)};
          // At the start, across the 32-byte block boundary, and at the end.
          for (const std::size_t at : {0u, 29u, 31u, 60u}) {
            std::string s(64, 'x');
            s.replace(at, 4, pattern);
            ASSERT_EQ(utf8_is_valid(s), repair(s) == s) << escape_bytes(pattern) << " at " << at;
            ++checked;
          }
        }
  EXPECT_EQ(checked, 18u * 18u * 18u * 18u * 4u);
}

TEST(Utf8, LongMixedTextIsValidAndOneBadByteAnywhereIsFound) {
  std::string text;
  while (text.size() < 5000) text += "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87 plain ascii words ";
  ASSERT_TRUE(utf8_is_valid(text));
  for (std::size_t i = 0; i < text.size(); i += 7) {
    std::string broken = text;
    broken[i] = '\xFF';
    ASSERT_FALSE(utf8_is_valid(broken)) << i;
  }
}

// The parser sizes its buffers with utf8_repaired_size() and writes with
// utf8_copy_replacing_invalid(): both must agree with the appending repair.
TEST(Utf8, RepairedSizeAndCopyAgreeWithAppend) {
  const std::string_view inputs[] = {"", "plain", "\xFF", "a\xC3", "\xE0\x80\x80", "\xF4\x90\x80\x80x",
                                     "\xED\xA0\x80", "ok \xE2\x82\xAC \xF0\x9F\x99\x82 \xC0\xAF end\xE2\x82"};
  for (const std::string_view in : inputs) {
    std::string expected;
    utf8_append_replacing_invalid(expected, in);
    EXPECT_EQ(utf8_repaired_size(in), expected.size());
    std::string out(expected.size() + 1, '#');
    char* const end = utf8_copy_replacing_invalid(out.data(), in);
    EXPECT_EQ(static_cast<std::size_t>(end - out.data()), expected.size());
    EXPECT_EQ(out.substr(0, expected.size()), expected);
    EXPECT_EQ(out.back(), '#');  // nothing written past the size
  }
}

}  // namespace
}  // namespace ssekit::test

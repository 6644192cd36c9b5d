// Differential test: the fast incremental parser against the slow reference
// parser (tests/reference), on thousands of generated streams. The generator
// is a small grammar biased toward what parsers get wrong: near-miss field
// names, colons and spaces in odd places, NUL, digits next to non-digits,
// invalid UTF-8 of every kind, BOMs at the start and later, every line end,
// and a missing final newline. Each stream is fed to the fast parser in random
// chunks (so CR|LF and multi-byte sequences get split), then finish()ed, and
// the records, last event id and error must equal the reference's.
//
// Everything is driven by fixed seeds: a failure prints the seed and the
// escaped stream, and reruns the same way on every machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/reference/reference_parser.hpp"
#include "ssekit/parser.hpp"
#include "ssekit/utf8.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {
namespace {

using namespace std::string_view_literals;

// splitmix64: tiny, and unlike <random>'s distributions it gives the same
// numbers with every standard library.
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform-enough in [0, n) for the small n used here.
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <typename T, std::size_t N>
  const T& pick(const T (&items)[N]) { return items[below(N)]; }

 private:
  std::uint64_t state_;
};

// Pieces of UTF-8, valid and not, that stress the decoder and the repair.
constexpr std::string_view utf8_fragments[] = {
    "\xC3\xA9",                  // é
    "\xE2\x82\xAC",              // €
    "\xF0\x9F\x98\x80",          // 😀
    "\xEF\xBB\xBF",              // a BOM that is not at the start: data
    "\xEF\xBF\xBD",              // U+FFFD itself
    "\xF4\x8F\xBF\xBF",          // U+10FFFF, the last code point
    "\xE2\x82",                  // truncated 3-byte sequence
    "\xF0\x9F\x98",              // truncated 4-byte sequence
    "\xC3",                      // truncated 2-byte sequence
    "\xC0\xAF",                  // overlong '/'
    "\xC1\xBF",                  // overlong
    "\xE0\x80\xAF",              // overlong 3-byte
    "\xE0\x9F\xBF",              // overlong 3-byte, upper edge
    "\xF0\x80\x80\xAF",          // overlong 4-byte
    "\xED\xA0\x80",              // surrogate U+D800
    "\xED\xBF\xBF",              // surrogate U+DFFF
    "\xF4\x90\x80\x80",          // above U+10FFFF
    "\xF5\x80\x80\x80",          // invalid lead byte
    "\x80",                      // stray continuation
    "\xBF\xBF",                  // stray continuations
    "\xFE",                      // never valid
    "\xFF",                      // never valid
    "\xEF\xBB",                  // a BOM cut short
};

constexpr std::string_view field_names[] = {
    "data", "data", "data", "data", "event", "event", "id", "id", "retry", "retry",
    "dat", "data ", " data", "Data", "DATA", "ID", "i", "ids", "retr", "retryy", "event ",
    "foo", "x", "\xEF\xBB\xBF" "data", "data\x00"sv};

constexpr std::string_view words[] = {
    "hello", "a", "b c", "  ", " ", ":", "::", ": x", "\x00"sv, "message", "data:", "id",
    "\t", "{\"k\":1}", "event", "\x01\x7F", "x y z"};

constexpr std::string_view line_ends[] = {"\n", "\n", "\r\n", "\r\n", "\r"};

std::string field_name(rng& r) {
  if (r.chance(3)) {  // a random short name
    std::string s;
    for (std::size_t i = r.below(4); i > 0; --i) s += static_cast<char>(r.below(256));
    return s;
  }
  return std::string(r.pick(field_names));
}

std::string value_fragment(rng& r) {
  switch (r.below(6)) {
    case 0: {  // digits, sometimes huge, sometimes with junk
      std::string s;
      for (std::size_t i = r.below(r.chance(10) ? 25 : 6) + 1; i > 0; --i) s += static_cast<char>('0' + r.below(10));
      return s;
    }
    case 1: return std::string(r.pick(utf8_fragments));
    case 2: return std::string(1, static_cast<char>(r.below(256)));
    default: return std::string(r.pick(words));
  }
}

std::string value(rng& r, const std::string& name) {
  std::string s;
  // retry wants digits most of the time, and something near-numeric otherwise.
  if (name == "retry" && r.chance(70)) {
    for (std::size_t i = r.below(r.chance(15) ? 24 : 5) + (r.chance(90) ? 1 : 0); i > 0; --i)
      s += static_cast<char>('0' + r.below(10));
    if (r.chance(20)) s += value_fragment(r);
    return s;
  }
  for (std::size_t i = r.below(4); i > 0; --i) s += value_fragment(r);
  return s;
}

// One line, without its end.
std::string line_body(rng& r) {
  switch (r.below(10)) {
    case 0: return "";  // dispatch
    case 1: {           // comment
      std::string s = ":";
      if (r.chance(50)) s += ' ';
      for (std::size_t i = r.below(3); i > 0; --i) s += value_fragment(r);
      return s;
    }
    case 2: {  // pure junk
      std::string s;
      for (std::size_t i = r.below(4); i > 0; --i) s += value_fragment(r);
      return s;
    }
    default: {  // a field
      std::string name = field_name(r);
      std::string s = name;
      const std::size_t form = r.below(10);
      if (form == 0) return s;  // no colon: name with an empty value
      s += ':';
      if (form < 7) s += ' ';
      if (form == 7) s += "  ";  // two spaces: one survives
      return s + value(r, name);
    }
  }
}

std::string generate_stream(rng& r) {
  std::string s;
  if (r.chance(15)) s += "\xEF\xBB\xBF";
  if (r.chance(3)) s += "\xEF\xBB\xBF";  // a second BOM is data
  if (r.chance(4)) s += r.chance(50) ? "\xEF" : "\xEF\xBB";  // the start of a BOM, that is not one
  const std::size_t lines = r.below(r.chance(10) ? 40 : 12);
  for (std::size_t i = 0; i < lines; ++i) {
    s += line_body(r);
    s += r.pick(line_ends);
    if (r.chance(30)) s += r.pick(line_ends);  // often end the event right away
  }
  if (r.chance(30)) s += line_body(r);  // no final line end: must be dropped
  return s;
}

// Events of several long data lines (0 to ~400 bytes each, text with now
// and then a non-ASCII, invalid or NUL byte), with ids and types between:
// the parser copies such lines into the event's data in 64-byte blocks, so
// every line length around a block, and the buffer's capacity, is tried.
std::string generate_long_data_stream(rng& r) {
  std::string s;
  const std::size_t events = r.below(8) + 1;
  for (std::size_t e = 0; e < events; ++e) {
    const std::string_view eol = r.pick(line_ends);
    if (r.chance(30)) s += "id: " + value(r, "id") + std::string(eol);
    if (r.chance(20)) s += "event: x" + std::string(eol);
    for (std::size_t lines = r.below(5) + 1; lines > 0; --lines) {
      s += r.chance(90) ? "data: " : "data:";
      const std::size_t length = r.chance(20) ? r.below(8) : r.below(r.chance(50) ? 140 : 400);
      const std::size_t start = s.size();
      while (s.size() - start < length) {
        if (r.chance(3)) s += value_fragment(r);
        else s += static_cast<char>('a' + r.below(26));
      }
      // A line end inside a fragment would end the line early: fine, any
      // stream is a valid test; the reference decides what it means.
      s += eol;
    }
    s += r.chance(95) ? eol : "";
  }
  return s;
}

// Random chunk boundaries: sometimes whole, sometimes byte by byte, usually
// small random pieces so CR|LF and UTF-8 sequences get split.
std::vector<std::size_t> chunk_sizes(rng& r, std::size_t total) {
  std::vector<std::size_t> sizes;
  const std::size_t style = r.below(10);
  std::size_t left = total;
  while (left > 0) {
    std::size_t n = style == 0 ? left : style == 1 ? 1 : r.below(style < 6 ? 5 : 24) + 1;
    if (n > left) n = left;
    sizes.push_back(n);
    left -= n;
  }
  if (r.chance(10)) sizes.insert(sizes.begin() + static_cast<std::ptrdiff_t>(r.below(sizes.size() + 1)), 0);
  return sizes;
}

struct fast_result {
  std::vector<record> records;
  std::string last_event_id;
  ssekit::parse_error error;
  std::string problems;  // contract violations found along the way
};

fast_result run_fast(std::string_view stream, const std::vector<std::size_t>& sizes,
                     const ssekit::parser_options& options) {
  recorder rec;
  ssekit::parser p{rec, options};
  fast_result out;
  std::size_t pos = 0;
  ssekit::parse_error err;
  for (std::size_t n : sizes) {
    // Each chunk in its own exact-size buffer, so ASan sees any overread.
    std::vector<char> chunk(stream.begin() + static_cast<std::ptrdiff_t>(pos),
                            stream.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
    const std::size_t before = rec.records.size();
    const ssekit::parse_error e = p.feed(std::string_view(chunk.data(), chunk.size()));
    if (err && (e != err || rec.records.size() != before)) out.problems += "error not sticky; ";
    if (!err) err = e;
  }
  const ssekit::parse_error fin = p.finish();
  if (err && fin != err) out.problems += "finish() did not return the sticky error; ";
  // After an error the parser stops counting (the rest was never parsed).
  if (!fin && p.bytes_fed() != stream.size()) out.problems += "bytes_fed() wrong; ";
  out.records = std::move(rec.records);
  out.last_event_id = std::string(p.last_event_id());
  out.error = fin;
  return out;
}

std::string describe(const std::vector<record>& records, const std::string& id, ssekit::parse_error e) {
  std::ostringstream os;
  for (const record& r : records) os << "    " << r << "\n";
  os << "    last_event_id=\"" << escape_bytes(id) << "\" error=" << ssekit::error_name(e.code) << "@" << e.offset
     << "\n";
  return os.str();
}

bool all_valid_utf8(const std::vector<record>& records, const std::string& id) {
  for (const record& r : records) {
    if (!ssekit::utf8_is_valid(r.type) || !ssekit::utf8_is_valid(r.data) ||
        !ssekit::utf8_is_valid(r.last_event_id) || !ssekit::utf8_is_valid(r.comment))
      return false;
  }
  return ssekit::utf8_is_valid(id);
}

enum class mode { text, raw, small_limits_text, small_limits_raw };

// Chunks of 1 to 600 bytes, or the whole stream: long lines end inside a
// chunk (the in-chunk paths), and some cross one.
std::vector<std::size_t> long_chunk_sizes(rng& r, std::size_t total) {
  std::vector<std::size_t> sizes;
  const bool whole = r.chance(30);
  for (std::size_t left = total; left > 0;) {
    const std::size_t n = whole ? left : std::min(left, r.below(600) + 1);
    sizes.push_back(n);
    left -= n;
  }
  return sizes;
}

// Runs `count` generated streams; prints the first few mismatches in full.
// long_data: generate_long_data_stream() in long_chunk_sizes() chunks.
void run_many(mode m, std::uint64_t base_seed, std::size_t count, bool long_data = false) {
  std::size_t failures = 0;
  std::size_t errors_seen = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t seed = base_seed + i;
    rng r(seed);
    ssekit::parser_options options;
    options.raw_bytes = m == mode::raw || m == mode::small_limits_raw;
    if (m == mode::small_limits_text || m == mode::small_limits_raw) {
      options.max_line_length = long_data ? r.below(500) : r.below(40);
      options.max_event_size = long_data ? r.below(1200) : r.below(60);
    }
    const std::string stream = long_data ? generate_long_data_stream(r) : generate_stream(r);
    const std::vector<std::size_t> sizes = long_data ? long_chunk_sizes(r, stream.size()) : chunk_sizes(r, stream.size());

    const reference_result want = reference_parse(stream, options);
    const fast_result got = run_fast(stream, sizes, options);
    if (want.error) ++errors_seen;

    std::string why = got.problems;
    if (got.records != want.records) why += "records differ; ";
    if (got.last_event_id != want.last_event_id) why += "last_event_id differs; ";
    if (got.error != want.error) why += "error differs; ";
    if (!options.raw_bytes && !all_valid_utf8(got.records, got.last_event_id)) why += "invalid UTF-8 delivered; ";
    if (why.empty()) continue;

    if (++failures <= 5) {
      std::ostringstream chunks;
      for (std::size_t n : sizes) chunks << n << ' ';
      ADD_FAILURE() << why << "\n  seed=" << seed << " raw_bytes=" << options.raw_bytes
                    << " max_line_length=" << options.max_line_length
                    << " max_event_size=" << options.max_event_size << "\n  stream=\"" << escape_bytes(stream)
                    << "\"\n  chunks=" << chunks.str() << "\n  reference:\n"
                    << describe(want.records, want.last_event_id, want.error) << "  fast parser:\n"
                    << describe(got.records, got.last_event_id, got.error);
    }
  }
  EXPECT_EQ(failures, 0u) << "of " << count << " streams";
  // The small-limit runs are only useful if limits are actually hit.
  if (m == mode::small_limits_text || m == mode::small_limits_raw) {
    EXPECT_GT(errors_seen, count / 10);
  }
}

// About a second each in a Debug + ASan build.
TEST(ReferenceTest, TextMode) { run_many(mode::text, 1'000'000, 6000); }
TEST(ReferenceTest, RawBytesMode) { run_many(mode::raw, 2'000'000, 6000); }
TEST(ReferenceTest, SmallLimitsTextMode) { run_many(mode::small_limits_text, 3'000'000, 6000); }
TEST(ReferenceTest, SmallLimitsRawBytesMode) { run_many(mode::small_limits_raw, 4'000'000, 6000); }
// Multi-line events of long data lines (copied in blocks as they are scanned).
TEST(ReferenceTest, LongDataLinesTextMode) { run_many(mode::text, 5'000'000, 400, true); }
TEST(ReferenceTest, LongDataLinesRawBytesMode) { run_many(mode::raw, 6'000'000, 400, true); }
TEST(ReferenceTest, LongDataLinesSmallLimits) { run_many(mode::small_limits_text, 7'000'000, 600, true); }

// The reference parser itself, on a few cases worked out by hand from the
// standard, so a bug in it cannot hide behind agreement with the fast parser.
TEST(ReferenceTest, ReferenceParserHandChecked) {
  ssekit::parser_options text;
  auto r = reference_parse("\xEF\xBB\xBF" "data: a\r\ndata:  b\rid: 7\n\n:c\nretry: 12\nretry: 1x\nevent\n\ndata: z", text);
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0], record::make_event("message", "a\n b", "7"));
  EXPECT_EQ(r.records[1], record::make_comment("c"));
  EXPECT_EQ(r.records[2], record::make_retry(12));
  EXPECT_EQ(r.last_event_id, "7");
  EXPECT_FALSE(r.error);

  // A later BOM is part of the field name; invalid UTF-8 is replaced per the
  // Encoding standard (one U+FFFD per maximal subpart).
  r = reference_parse("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\ndata: \xE2\x82\xC0\xAF\xED\xA0\x80\n\n", text);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].data, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");

  ssekit::parser_options raw;
  raw.raw_bytes = true;
  r = reference_parse("id: a\xFF\n\ndata: \xC0\n\n", raw);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0], record::make_event("message", "\xC0", "a\xFF"));

  // id with NUL is ignored; an id is committed only by a dispatch.
  r = reference_parse(std::string("id: 1\n\nid: 2\0\n\nid: 3\ndata", 25), text);
  EXPECT_EQ(r.last_event_id, "1");

  // Limits: offsets of the offending line's first byte, BOM counted.
  ssekit::parser_options small;
  small.max_line_length = 6;
  small.max_event_size = 3;
  r = reference_parse("\xEF\xBB\xBF" "data:1234567\n", small);
  EXPECT_EQ(r.error, (ssekit::parse_error{ssekit::errc::line_too_long, 3}));
  r = reference_parse("data:a\ndata:b\ndata:c\n\n", small);
  EXPECT_EQ(r.error, (ssekit::parse_error{ssekit::errc::event_too_large, 14}));
  EXPECT_TRUE(r.records.empty());
  r = reference_parse("data:a\n\n:1234567", small);  // too long even without its line end
  EXPECT_EQ(r.error, (ssekit::parse_error{ssekit::errc::line_too_long, 8}));
  EXPECT_EQ(r.records.size(), 1u);
}

TEST(ReferenceTest, ReferenceUtf8Repair) {
  EXPECT_EQ(reference_utf8_repair("a\xF0\x9F\x98"), "a\xEF\xBF\xBD");
  EXPECT_EQ(reference_utf8_repair("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(reference_utf8_repair("\xEF\xBB\xBF\xF4\x8F\xBF\xBF"), "\xEF\xBB\xBF\xF4\x8F\xBF\xBF");
  EXPECT_EQ(reference_utf8_repair("\xE0\xA0"), "\xEF\xBF\xBD");
  EXPECT_EQ(reference_utf8_repair("\xE0\x9F"), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ssekit::test

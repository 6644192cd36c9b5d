// Replays the shared conformance data (tests/conformance/*.json).
//
// Every parser case is parsed whole, byte by byte (also with an empty chunk
// between every two bytes), at every split point into two chunks, in the
// parts the data file gives, and at 50 reproducible random multi-way splits
// (some with empty chunks). Each chunk is copied so that it
// ends right before an unreadable page, so reading past a chunk faults. The
// records, last_event_id() and the first error returned by feed()/finish()
// must match the case every time, and an error must stay the same for every
// later call (it is sticky until reset()).
//
// Every serializer case checks the exact bytes appended (or the error and
// that nothing was appended), then parses the expected bytes back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"
#include "support/conformance.hpp"
#include "support/guarded_buffer.hpp"
#include "support/json.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {
namespace {

// A wrong SSEKIT_CONFORMANCE_DIR or a lost file must not pass quietly.
constexpr std::size_t min_parser_cases = 200;
constexpr std::size_t min_serializer_cases = 50;
constexpr int random_splits_per_case = 50;

std::string describe(const parse_error& e) {
  if (!e) return "no error";
  return std::string(error_name(e.code)) + " at offset " + std::to_string(e.offset);
}

struct outcome {
  std::vector<record> records;
  std::string last_event_id;
  parse_error error;
  std::string sticky_problem;  // non-empty if a later call disagreed with the first error
};

// Chunks from cut positions (sorted, repeats make empty chunks).
std::vector<std::string_view> chunks_at(std::string_view stream, const std::vector<std::size_t>& cuts) {
  std::vector<std::string_view> chunks;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    chunks.push_back(stream.substr(from, cut - from));
    from = cut;
  }
  chunks.push_back(stream.substr(from));
  return chunks;
}

outcome run(const parser_case& c, const std::vector<std::string_view>& chunks) {
  recorder rec;
  parser p{rec, c.options};
  outcome out;
  auto note = [&](const parse_error& err, const std::string& call) {
    if (!out.error) {
      if (err) out.error = err;
      return;
    }
    if (err != out.error && out.sticky_problem.empty())
      out.sticky_problem = call + " returned " + describe(err) + " after " + describe(out.error);
  };
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    guarded_buffer buffer(chunks[i]);
    note(p.feed(buffer.view()), "feed() of chunk " + std::to_string(i));
  }
  note(p.finish(), "finish()");
  out.records = std::move(rec.records);
  out.last_event_id = std::string(p.last_event_id());
  return out;
}

std::string diff_records(const std::vector<record>& expected, const std::vector<record>& actual) {
  std::ostringstream os;
  const std::size_t n = std::max(expected.size(), actual.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (i < expected.size() && i < actual.size() && expected[i] == actual[i]) {
      os << "    [" << i << "]   " << expected[i] << "\n";
      continue;
    }
    if (i < expected.size()) os << "    [" << i << "] - " << expected[i] << "   (expected)\n";
    if (i < actual.size()) os << "    [" << i << "] + " << actual[i] << "   (actual)\n";
  }
  if (n == 0) os << "    (no records expected or delivered)\n";
  return os.str();
}

// Empty if the outcome matches the case, else a readable report.
std::string mismatch(const parser_case& c, const outcome& got) {
  std::ostringstream os;
  if (got.records != c.expect) os << "  records differ:\n" << diff_records(c.expect, got.records);
  if (got.last_event_id != c.last_event_id)
    os << "  last_event_id(): expected \"" << escape_bytes(c.last_event_id) << "\", actual \""
       << escape_bytes(got.last_event_id) << "\"\n";
  if (got.error != c.error)
    os << "  error: expected " << describe(c.error) << ", actual " << describe(got.error) << "\n";
  if (!got.sticky_problem.empty()) os << "  error not sticky: " << got.sticky_problem << "\n";
  return os.str();
}

std::string list(const std::vector<std::size_t>& cuts) {
  std::string s = "[";
  for (std::size_t i = 0; i < cuts.size(); ++i) s += (i ? ", " : "") + std::to_string(cuts[i]);
  return s + "]";
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h;
}

// Test names: [A-Za-z0-9_] only and unique (a suffix breaks ties).
template <typename Case>
std::vector<std::string> test_names(const std::vector<Case>& cases) {
  std::vector<std::string> names;
  std::set<std::string> used;
  for (const auto& c : cases) {
    std::string base;
    for (char ch : c.name)
      base += ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) ? ch : '_';
    if (base.empty()) base = "unnamed";
    std::string name = base;
    for (int n = 2; used.count(name); ++n) name = base + "_" + std::to_string(n);
    used.insert(name);
    names.push_back(name);
  }
  return names;
}

// --- The JSON reader and the loader: a lenient reader would let a typo in a
// data file turn into a different test.

json_value json(std::string_view text) { return parse_json(text); }

std::string json_error_of(std::string_view text) {
  try {
    parse_json(text);
  } catch (const json_error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonReader, ReadsEveryKindOfValue) {
  const json_value v = json(R"( {"a": [true, false, null, 0, 42, -1, 1.5e2, "s"], "b": {}} )");
  const auto& a = v.find("a")->as_array();
  ASSERT_EQ(a.size(), 8u);
  EXPECT_TRUE(a[0].as_bool());
  EXPECT_FALSE(a[1].as_bool());
  EXPECT_TRUE(a[2].is_null());
  EXPECT_EQ(a[3].as_uint64(), 0u);
  EXPECT_EQ(a[4].as_uint64(), 42u);
  EXPECT_FALSE(a[5].is_uint64());
  EXPECT_EQ(a[5].as_double(), -1.0);
  EXPECT_FALSE(a[6].is_uint64());
  EXPECT_EQ(a[6].as_double(), 150.0);
  EXPECT_EQ(a[7].as_string(), "s");
  EXPECT_TRUE(v.find("b")->as_object().empty());
  EXPECT_EQ(v.find("c"), nullptr);
  EXPECT_THROW(a[7].as_uint64(), json_error);
  EXPECT_THROW(v.as_array(), json_error);
}

TEST(JsonReader, Uint64Range) {
  EXPECT_EQ(json("18446744073709551615").as_uint64(), 18446744073709551615ull);
  const json_value over = json("18446744073709551616");
  EXPECT_FALSE(over.is_uint64());
  EXPECT_TRUE(over.is_number());
}

TEST(JsonReader, DecodesEscapes) {
  EXPECT_EQ(json(R"("\" \\ \/ \b \f \n \r \t")").as_string(), "\" \\ / \b \f \n \r \t");
  EXPECT_EQ(json(R"("a\u0000b")").as_string(), std::string("a\0b", 3));
  EXPECT_EQ(json(R"("\u00e9\u20AC\ufeff")").as_string(), "\xC3\xA9\xE2\x82\xAC\xEF\xBB\xBF");
  EXPECT_EQ(json(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(json(R"("\uDBFF\uDFFF")").as_string(), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(json("\"\xE2\x80\xA6\"").as_string(), "\xE2\x80\xA6");  // raw UTF-8 passes through
}

TEST(JsonReader, RejectsMalformedInput) {
  for (const char* bad : {"", "   ", "[1,]", "{\"a\":1,}", "[1 2]", "01", "-", "1.", "1e", "+1", ".5", "tru", "nul",
                          "'a'", "\"abc", "\"a\\x\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"",
                          "\"\\ud800\\u0041\"", "\"a\nb\"", "\"\x01\"", "\"\xFF\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"",
                          "\"\xE2\x82\"", "{\"a\":1,\"a\":2}", "{a:1}", "[1] x", "// c\n1", "1e999", "[", "{\"a\"}",
                          "{\"a\" 1}", "NaN"}) {
    EXPECT_FALSE(json_error_of(bad).empty()) << "accepted: " << escape_bytes(bad);
  }
  EXPECT_FALSE(json_error_of(std::string(1000, '[') + std::string(1000, ']')).empty()) << "no depth limit";
  EXPECT_TRUE(json_error_of(std::string(100, '[') + std::string(100, ']')).empty());
}

TEST(JsonReader, ErrorNamesTheLineAndColumn) {
  const std::string message = json_error_of("{\n  \"a\": [1,\n  2,,3]\n}");
  EXPECT_NE(message.find("line 3, column 5"), std::string::npos) << message;
  EXPECT_NE(message.find("byte 17"), std::string::npos) << message;
}

// A scratch directory for loader tests, removed afterwards.
class scratch_dir {
 public:
  scratch_dir() {
    path_ = std::filesystem::temp_directory_path() /
            ("ssekit-conformance-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  void write(const std::string& name, std::string_view text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(ConformanceLoader, ReadsBothKindsOfCase) {
  scratch_dir dir;
  dir.write("a.json", R"({"cases": [{"name": "n", "source": "s", "stream": ["da", {"hex": "74 61"}, ":x\n\n"],
      "options": {"maxLineLength": 7, "maxEventSize": 8, "rawBytes": true},
      "expect": [{"type": "message", "data": {"hex": "78"}, "lastEventId": ""}, {"comment": "c"}, {"retry": 5}],
      "lastEventId": "i", "error": {"code": "event_too_large", "offset": 3}}]})");
  dir.write("serializer.json", R"({"cases": [
      {"name": "e", "source": "s", "event": {"data": "d", "type": "t", "id": "", "retry": 1}, "bytes": "b", "expect": []},
      {"name": "c", "source": "s", "comment": "x\n", "error": "invalid_comment"}]})");
  dir.write("ignored.txt", "not json");
  const conformance_suite suite = load_conformance(dir.path());
  ASSERT_TRUE(suite.errors.empty()) << suite.errors.front();
  ASSERT_EQ(suite.parser_cases.size(), 1u);
  const parser_case& p = suite.parser_cases[0];
  EXPECT_EQ(p.stream, "data:x\n\n");
  EXPECT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.options.max_line_length, 7u);
  EXPECT_EQ(p.options.max_event_size, 8u);
  EXPECT_TRUE(p.options.raw_bytes);
  EXPECT_EQ(p.expect, (std::vector<record>{record::make_event("message", "x", ""), record::make_comment("c"),
                                           record::make_retry(5)}));
  EXPECT_EQ(p.last_event_id, "i");
  EXPECT_EQ(p.error, (parse_error{errc::event_too_large, 3}));
  ASSERT_EQ(suite.serializer_cases.size(), 2u);
  const serializer_case& e = suite.serializer_cases[0];
  EXPECT_EQ(e.what, serializer_case::input::event);
  EXPECT_EQ(e.type, "t");
  ASSERT_TRUE(e.id.has_value());
  EXPECT_EQ(*e.id, "");
  EXPECT_EQ(e.event_retry, std::optional<std::uint64_t>(1));
  EXPECT_EQ(suite.serializer_cases[1].error, errc::invalid_comment);
}

TEST(ConformanceLoader, ReportsFileAndCaseOfBadData) {
  const std::string good = R"("source": "s", "stream": "", "expect": [], "lastEventId": "")";
  for (const std::string& bad_case : {
           std::string(R"({"name": "bad", "source": "s", "stream": "", "expect": [], "lastEventID": ""})"),
           R"({"name": "bad", )" + good + R"(, "error": {"code": "no_such_error", "offset": 0}})",
           R"({"name": "bad", )" + good + R"(, "options": {"maxLineLen": 1}})",
           std::string(R"({"name": "bad", "source": "s", "stream": {"hex": "6"}, "expect": [], "lastEventId": ""})"),
           std::string(R"({"name": "bad", "source": "s", "stream": "", "expect": [{"data": "x"}], "lastEventId": ""})"),
           std::string(R"({"name": "bad", "source": "s", "stream": "", "expect": [{"retry": -1}], "lastEventId": ""})"),
       }) {
    scratch_dir dir;
    dir.write("x.json", R"({"cases": [{"name": "ok", )" + good + "}, " + bad_case + "]}");
    const conformance_suite suite = load_conformance(dir.path());
    ASSERT_EQ(suite.errors.size(), 1u) << bad_case;
    EXPECT_NE(suite.errors[0].find("x.json"), std::string::npos) << suite.errors[0];
    EXPECT_NE(suite.errors[0].find("\"bad\""), std::string::npos) << suite.errors[0];
  }
  for (const std::string& bad_case : {
           std::string(R"({"name": "bad", "source": "s", "comment": "x", "retry": 1, "error": "invalid_comment"})"),
           std::string(R"({"name": "bad", "source": "s", "comment": "x", "bytes": ":x\n"})"),
           std::string(R"({"name": "bad", "source": "s", "heartbeat": false, "bytes": "", "expect": []})"),
       }) {
    scratch_dir dir;
    dir.write("serializer-x.json", "{\"cases\": [" + bad_case + "]}");
    EXPECT_EQ(load_conformance(dir.path()).errors.size(), 1u) << bad_case;
  }
  const conformance_suite missing = load_conformance("/nonexistent/ssekit/conformance");
  EXPECT_EQ(missing.errors.size(), 1u);
}

// --- The data.

const std::vector<parser_case>& parser_cases() { return conformance_data().parser_cases; }
const std::vector<serializer_case>& serializer_cases() { return conformance_data().serializer_cases; }

TEST(ConformanceData, LoadsWithoutErrors) {
  const auto& suite = conformance_data();
  for (const auto& e : suite.errors) ADD_FAILURE() << e;
  EXPECT_FALSE(suite.files.empty()) << "no *.json in " << SSEKIT_CONFORMANCE_DIR;
  EXPECT_GE(suite.parser_cases.size(), min_parser_cases) << "data directory: " << SSEKIT_CONFORMANCE_DIR;
  EXPECT_GE(suite.serializer_cases.size(), min_serializer_cases) << "data directory: " << SSEKIT_CONFORMANCE_DIR;
}

TEST(ConformanceData, NamesAreUnique) {
  std::set<std::string> seen;
  for (const auto& c : parser_cases()) EXPECT_TRUE(seen.insert(c.name).second) << "duplicate name " << c.name;
  for (const auto& c : serializer_cases()) EXPECT_TRUE(seen.insert(c.name).second) << "duplicate name " << c.name;
}

class ParserConformance : public testing::TestWithParam<std::size_t> {};

TEST_P(ParserConformance, Case) {
  const parser_case& c = parser_cases()[GetParam()];
  const std::string_view stream = c.stream;
  SCOPED_TRACE("case \"" + c.name + "\" from " + c.file + " (" + c.source + ")");

  // Runs one split; reports the first failing split in full and counts the rest.
  int failures = 0, runs = 0;
  auto check = [&](const std::string& split, const std::vector<std::string_view>& chunks) {
    ++runs;
    const std::string report = mismatch(c, run(c, chunks));
    if (report.empty()) return;
    if (++failures <= 3)
      ADD_FAILURE() << "case \"" << c.name << "\", split: " << split << "\n" << report;
  };

  check("whole stream in one chunk", {stream});

  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
  check("byte by byte", bytes);

  // Empty chunks must change nothing, wherever they come.
  std::vector<std::string_view> with_empties{std::string_view()};
  for (std::string_view b : bytes) {
    with_empties.push_back(b);
    with_empties.push_back(std::string_view());
  }
  check("byte by byte, an empty chunk before the first and after every byte", with_empties);

  for (std::size_t cut = 1; cut < stream.size(); ++cut) check("two chunks, cut at " + std::to_string(cut), chunks_at(stream, {cut}));

  if (c.parts.size() > 1) {
    std::vector<std::string_view> parts(c.parts.begin(), c.parts.end());
    check("the parts as written in the data file", parts);
  }

  std::mt19937_64 rng(fnv1a(c.name));
  for (int k = 0; k < random_splits_per_case; ++k) {
    const std::size_t max_cuts = std::min<std::size_t>(stream.size() + 1, 24);
    const std::size_t n_cuts = std::uniform_int_distribution<std::size_t>(1, max_cuts)(rng);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i < n_cuts; ++i) cuts.push_back(std::uniform_int_distribution<std::size_t>(0, stream.size())(rng));
    std::sort(cuts.begin(), cuts.end());
    check("random split #" + std::to_string(k) + ", cuts at " + list(cuts), chunks_at(stream, cuts));
  }

  EXPECT_EQ(failures, 0) << failures << " of " << runs << " splits failed (first 3 shown above)";
}

const std::vector<std::string>& parser_test_names() {
  static const std::vector<std::string> names = test_names(parser_cases());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Data, ParserConformance, testing::Range<std::size_t>(0, parser_cases().size()),
                         [](const testing::TestParamInfo<std::size_t>& p) { return parser_test_names()[p.param]; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ParserConformance);  // ConformanceData reports a load failure

class SerializerConformance : public testing::TestWithParam<std::size_t> {};

TEST_P(SerializerConformance, Case) {
  const serializer_case& c = serializer_cases()[GetParam()];
  SCOPED_TRACE("case \"" + c.name + "\" from " + c.file + " (" + c.source + ")");

  // Something already in `out`: the serializer must append, never overwrite.
  const std::string prefix = "data: earlier\n\n";
  std::string out = prefix;
  errc got = errc::ok;
  switch (c.what) {
    case serializer_case::input::event: {
      outgoing_event ev;
      ev.data = c.data;
      ev.type = c.type;
      if (c.id) ev.id = std::string_view(*c.id);
      ev.retry = c.event_retry;
      got = serialize_event(out, ev);
      break;
    }
    case serializer_case::input::comment: got = serialize_comment(out, c.comment); break;
    case serializer_case::input::heartbeat: serialize_heartbeat(out); break;
    case serializer_case::input::retry: serialize_retry(out, c.retry); break;
  }

  if (c.error != errc::ok) {
    EXPECT_EQ(error_name(got), error_name(c.error));
    EXPECT_EQ(escape_bytes(out), escape_bytes(prefix)) << "nothing may be appended on error";
    return;
  }
  EXPECT_EQ(error_name(got), error_name(errc::ok));
  ASSERT_GE(out.size(), prefix.size());
  EXPECT_EQ(escape_bytes(out.substr(0, prefix.size())), escape_bytes(prefix)) << "what was in `out` changed";
  EXPECT_EQ(escape_bytes(out.substr(prefix.size())), escape_bytes(c.bytes));

  // Read the expected bytes back, whole and byte by byte.
  parser_case back;
  back.name = c.name;
  back.stream = c.bytes;
  back.expect = c.expect;
  const std::string_view stream = back.stream;
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
  for (const auto& [split, chunks] : {std::pair{"whole", std::vector<std::string_view>{stream}},
                                      std::pair{"byte by byte", bytes}}) {
    const outcome o = run(back, chunks);
    EXPECT_EQ(o.records, c.expect) << "reading the bytes back (" << split << "):\n" << diff_records(c.expect, o.records);
    EXPECT_FALSE(o.error) << describe(o.error);
  }
}

const std::vector<std::string>& serializer_test_names() {
  static const std::vector<std::string> names = test_names(serializer_cases());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Data, SerializerConformance, testing::Range<std::size_t>(0, serializer_cases().size()),
                         [](const testing::TestParamInfo<std::size_t>& p) {
                           return serializer_test_names()[p.param];
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SerializerConformance);

}  // namespace
}  // namespace ssekit::test

// The shared conformance data (tests/conformance/*.json, format documented in
// tests/conformance/README.md) loaded into plain structs. The C++ runner is
// tests/conformance_test.cpp; fuzz targets and benchmarks may reuse the
// streams as seeds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ssekit/error.hpp"
#include "ssekit/parser.hpp"
#include "support/json.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {

// Stream bytes -> what the parser delivers.
struct parser_case {
  std::string name;    // unique across all files, e.g. "wpt/format-bom"
  std::string source;  // where the case comes from
  std::string file;    // the data file it was read from (for messages)
  std::string stream;  // all bytes of the stream
  // The stream as the data file split it into parts (one part when "stream"
  // is a plain string); the runner replays this split too.
  std::vector<std::string> parts;
  ssekit::parser_options options;
  std::vector<record> expect;   // in stream order
  std::string last_event_id;    // parser::last_event_id() after finish()
  ssekit::parse_error error;    // code ok: no error expected
};

// One serializer call -> exact bytes (read back by the parser) or an error.
struct serializer_case {
  enum class input { event, comment, heartbeat, retry };

  std::string name;
  std::string source;
  std::string file;
  input what = input::event;
  // input::event
  std::string data;
  std::string type;
  std::optional<std::string> id;
  std::optional<std::uint64_t> event_retry;
  // input::comment
  std::string comment;
  // input::retry
  std::uint64_t retry = 0;
  // Expected result: either an error (nothing appended) or bytes + read-back.
  ssekit::errc error = ssekit::errc::ok;
  std::string bytes;
  std::vector<record> expect;
};

struct conformance_suite {
  std::vector<parser_case> parser_cases;
  std::vector<serializer_case> serializer_cases;
  // One message per file that could not be read or is not valid data
  // (file name, case name and reason). Loading continues with other files.
  std::vector<std::string> errors;
  std::vector<std::string> files;  // every *.json file found, sorted
};

// Loads every *.json file of `dir` (not recursive, sorted by name).
// serializer*.json files hold serializer cases, all others parser cases.
conformance_suite load_conformance(const std::filesystem::path& dir);

// The suite in SSEKIT_CONFORMANCE_DIR, loaded once.
const conformance_suite& conformance_data();

// Reading the data files (also the reconnect cases, read by their own test).
// Any error in a data file; the loader prefixes file and case.
class data_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Rejects keys the format does not define.
void check_keys(const json_value& object, std::initializer_list<std::string_view> allowed, std::string_view what);
const json_value& required(const json_value& object, std::string_view key, std::string_view what);
// "ef bb bf" -> bytes. Whitespace may separate pairs, never split one.
std::string decode_hex(std::string_view text);
// A byte string: a JSON string (its UTF-8 bytes) or {"hex": "..."}.
std::string bytes_value(const json_value& v, std::string_view what);

// errc by its error_name() ("line_too_long"), or nullopt for an unknown name.
std::optional<ssekit::errc> errc_from_name(std::string_view name);

}  // namespace ssekit::test

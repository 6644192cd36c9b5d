#include "support/conformance.hpp"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "support/json.hpp"

namespace ssekit::test {

// Rejects keys the format does not define, so a misspelt key ("lastEventID")
// fails instead of being silently ignored.
void check_keys(const json_value& object, std::initializer_list<std::string_view> allowed, std::string_view what) {
  for (const auto& [key, value] : object.as_object()) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw data_error("unknown key \"" + key + "\" in " + std::string(what));
  }
}

const json_value& required(const json_value& object, std::string_view key, std::string_view what) {
  const json_value* v = object.find(key);
  if (!v) throw data_error("missing \"" + std::string(key) + "\" in " + std::string(what));
  return *v;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "ef bb bf" -> bytes. Whitespace may separate pairs, never split one.
std::string decode_hex(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { ++i; continue; }
    if (i + 1 >= text.size()) throw data_error("odd number of hex digits in \"" + std::string(text) + "\"");
    const int hi = hex_digit(c), lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) throw data_error("invalid hex pair in \"" + std::string(text) + "\"");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// A byte string: a JSON string (its UTF-8 bytes) or {"hex": "..."}.
std::string bytes_value(const json_value& v, std::string_view what) {
  if (v.is_string()) return v.as_string();
  if (v.is_object()) {
    check_keys(v, {"hex"}, what);
    return decode_hex(required(v, "hex", what).as_string());
  }
  throw data_error(std::string(what) + " must be a string or {\"hex\": ...}");
}

namespace {

std::uint64_t uint_value(const json_value& v, std::string_view what) {
  if (!v.is_uint64()) throw data_error(std::string(what) + " must be a non-negative integer below 2^64");
  return v.as_uint64();
}

std::size_t size_value(const json_value& v, std::string_view what) {
  const std::uint64_t n = uint_value(v, what);
  if (n > std::numeric_limits<std::size_t>::max()) throw data_error(std::string(what) + " does not fit in size_t");
  return static_cast<std::size_t>(n);
}

record record_value(const json_value& v) {
  if (!v.is_object()) throw data_error("an expected item must be an object");
  if (v.find("comment")) {
    check_keys(v, {"comment"}, "a comment item");
    return record::make_comment(bytes_value(*v.find("comment"), "\"comment\""));
  }
  if (v.find("retry")) {
    check_keys(v, {"retry"}, "a retry item");
    return record::make_retry(uint_value(*v.find("retry"), "\"retry\""));
  }
  check_keys(v, {"type", "data", "lastEventId"}, "an event item");
  return record::make_event(bytes_value(required(v, "type", "an event item"), "\"type\""),
                            bytes_value(required(v, "data", "an event item"), "\"data\""),
                            bytes_value(required(v, "lastEventId", "an event item"), "\"lastEventId\""));
}

std::vector<record> records_value(const json_value& v) {
  if (!v.is_array()) throw data_error("\"expect\" must be an array");
  std::vector<record> out;
  for (const auto& item : v.as_array()) out.push_back(record_value(item));
  return out;
}

ssekit::errc error_code_value(const json_value& v) {
  const std::string& name = v.as_string();
  const auto code = errc_from_name(name);
  if (!code || *code == ssekit::errc::ok) throw data_error("unknown error code \"" + name + "\"");
  return *code;
}

parser_case parser_case_value(const json_value& c) {
  check_keys(c, {"name", "source", "stream", "options", "expect", "lastEventId", "error"}, "a parser case");
  parser_case out;
  out.name = required(c, "name", "a parser case").as_string();
  out.source = required(c, "source", "a parser case").as_string();

  const json_value& stream = required(c, "stream", "a parser case");
  if (stream.is_array()) {
    for (const auto& part : stream.as_array()) out.parts.push_back(bytes_value(part, "a stream part"));
  } else {
    out.parts.push_back(bytes_value(stream, "\"stream\""));
  }
  for (const auto& part : out.parts) out.stream += part;

  if (const json_value* options = c.find("options")) {
    check_keys(*options, {"maxLineLength", "maxEventSize", "rawBytes"}, "\"options\"");
    if (const json_value* v = options->find("maxLineLength")) out.options.max_line_length = size_value(*v, "maxLineLength");
    if (const json_value* v = options->find("maxEventSize")) out.options.max_event_size = size_value(*v, "maxEventSize");
    if (const json_value* v = options->find("rawBytes")) out.options.raw_bytes = v->as_bool();
  }

  out.expect = records_value(required(c, "expect", "a parser case"));
  out.last_event_id = bytes_value(required(c, "lastEventId", "a parser case"), "\"lastEventId\"");

  if (const json_value* error = c.find("error")) {
    check_keys(*error, {"code", "offset"}, "\"error\"");
    out.error.code = error_code_value(required(*error, "code", "\"error\""));
    out.error.offset = uint_value(required(*error, "offset", "\"error\""), "\"offset\"");
  }
  return out;
}

serializer_case serializer_case_value(const json_value& c) {
  check_keys(c, {"name", "source", "event", "comment", "heartbeat", "retry", "bytes", "expect", "error"},
             "a serializer case");
  serializer_case out;
  out.name = required(c, "name", "a serializer case").as_string();
  out.source = required(c, "source", "a serializer case").as_string();

  int inputs = 0;
  if (const json_value* ev = c.find("event")) {
    ++inputs;
    out.what = serializer_case::input::event;
    check_keys(*ev, {"data", "type", "id", "retry"}, "\"event\"");
    out.data = bytes_value(required(*ev, "data", "\"event\""), "\"data\"");
    if (const json_value* v = ev->find("type")) out.type = bytes_value(*v, "\"type\"");
    if (const json_value* v = ev->find("id")) out.id = bytes_value(*v, "\"id\"");
    if (const json_value* v = ev->find("retry")) out.event_retry = uint_value(*v, "\"retry\"");
  }
  if (const json_value* v = c.find("comment")) {
    ++inputs;
    out.what = serializer_case::input::comment;
    out.comment = bytes_value(*v, "\"comment\"");
  }
  if (const json_value* v = c.find("heartbeat")) {
    ++inputs;
    out.what = serializer_case::input::heartbeat;
    if (!v->as_bool()) throw data_error("\"heartbeat\" must be true");
  }
  if (const json_value* v = c.find("retry")) {
    ++inputs;
    out.what = serializer_case::input::retry;
    out.retry = uint_value(*v, "\"retry\"");
  }
  if (inputs != 1) throw data_error("a serializer case needs exactly one of event, comment, heartbeat, retry");

  const json_value* bytes = c.find("bytes");
  const json_value* expect = c.find("expect");
  const json_value* error = c.find("error");
  if (error) {
    if (bytes || expect) throw data_error("a serializer case with \"error\" has no \"bytes\" or \"expect\"");
    out.error = error_code_value(*error);
  } else {
    if (!bytes || !expect) throw data_error("a serializer case needs \"bytes\" and \"expect\", or \"error\"");
    out.bytes = bytes_value(*bytes, "\"bytes\"");
    out.expect = records_value(*expect);
  }
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw data_error("cannot open file");
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw data_error("cannot read file");
  return content.str();
}

void load_file(const std::filesystem::path& path, conformance_suite& suite) {
  const std::string filename = path.filename().string();
  const bool serializer = filename.rfind("serializer", 0) == 0;
  std::size_t index = 0;
  std::string case_name;
  try {
    const json_value doc = parse_json(read_file(path));
    if (!doc.is_object()) throw data_error("the file must hold a JSON object");
    check_keys(doc, {"cases", "description"}, "the top-level object");
    const json_value& cases = required(doc, "cases", "the top-level object");
    if (!cases.is_array()) throw data_error("\"cases\" must be an array");
    for (; index < cases.as_array().size(); ++index) {
      const json_value& c = cases.as_array()[index];
      if (!c.is_object()) throw data_error("a case must be an object");
      const json_value* name = c.find("name");
      case_name = name && name->is_string() ? name->as_string() : "";
      if (serializer) {
        serializer_case sc = serializer_case_value(c);
        sc.file = filename;
        suite.serializer_cases.push_back(std::move(sc));
      } else {
        parser_case pc = parser_case_value(c);
        pc.file = filename;
        suite.parser_cases.push_back(std::move(pc));
      }
    }
  } catch (const std::exception& e) {
    std::string where = path.string();
    if (!case_name.empty() || index > 0) where += ", case #" + std::to_string(index) + " \"" + case_name + "\"";
    suite.errors.push_back(where + ": " + e.what());
  }
}

}  // namespace

std::optional<ssekit::errc> errc_from_name(std::string_view name) {
  // error_name() answers "unknown" past the last enumerator.
  for (int i = 0; i < 1000; ++i) {
    const auto code = static_cast<ssekit::errc>(i);
    const std::string_view n = ssekit::error_name(code);
    if (n == "unknown") break;
    if (n == name) return code;
  }
  return std::nullopt;
}

conformance_suite load_conformance(const std::filesystem::path& dir) {
  conformance_suite suite;
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file() && it->path().extension() == ".json") paths.push_back(it->path());
  if (ec) {
    suite.errors.push_back(dir.string() + ": cannot list directory: " + ec.message());
    return suite;
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    suite.files.push_back(path.filename().string());
    load_file(path, suite);
  }
  return suite;
}

const conformance_suite& conformance_data() {
  static const conformance_suite suite = load_conformance(SSEKIT_CONFORMANCE_DIR);
  return suite;
}

}  // namespace ssekit::test

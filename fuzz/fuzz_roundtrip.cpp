// fuzz_roundtrip: parse(serialize(x)) == x. The input is a recipe for a
// sequence of events, comments, retry lines and heartbeats; each is
// serialized (serializer.hpp), the result is parsed back with raw_bytes=true
// and must give exactly what was written: data with CRLF/CR turned into LF
// (the format cannot carry CR), the type ("message" when empty), the id
// (or the previous one when none was given), comments, retry values.
// Parsed as text (raw_bytes=false, what every browser reads), it must give
// the same with each value's invalid UTF-8 replaced as TextDecoder does:
// what serializer.hpp promises for text that is not valid UTF-8.
// Refused inputs must return the right errc and append nothing.
//
// Recipe: repeated { op byte, then its fields }, op % 4:
//   0 event: data, type, id? (flag + string), retry? (flag + u64)
//   1 comment: text    2 retry: u64    3 heartbeat
// Strings are a length byte followed by that many bytes (byte_reader).
#include <cstddef>
#include <cstdint>
#include <optional>

#include "fuzz_common.hpp"
#include "ssekit/serializer.hpp"
#include "ssekit/utf8.hpp"

using namespace ssekit::fuzz;

namespace {

bool contains_any(std::string_view s, std::string_view chars) { return s.find_first_of(chars) != std::string_view::npos; }

std::string normalize_line_ends(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string repaired(std::string_view s) {
  std::string out;
  ssekit::utf8_append_replacing_invalid(out, s);
  return out;
}

[[noreturn]] void roundtrip_fail(const char* what, const std::string& wire) {
  ssekit::parser_options o;
  o.raw_bytes = true;
  fail(what, wire, o);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_reader in(data, size);
  std::string wire;
  std::vector<record> expected;
  std::string last_id;

  for (int ops = 0; !in.empty() && ops < 64; ++ops) {
    const std::string before = wire;
    switch (in.byte() % 4) {
      case 0: {
        ssekit::outgoing_event ev;
        ev.data = in.string();
        ev.type = in.string();
        if (in.flag()) ev.id = in.string();
        if (in.flag()) ev.retry = in.u64();
        const bool bad_type = contains_any(ev.type, "\r\n");
        const bool bad_id = ev.id && contains_any(*ev.id, std::string_view("\r\n\0", 3));
        const ssekit::errc e = ssekit::serialize_event(wire, ev);
        if (bad_type || bad_id) {
          // Both may be wrong at once; either complaint is right then.
          const bool right = (bad_type && e == ssekit::errc::invalid_event_type) ||
                             (bad_id && e == ssekit::errc::invalid_event_id);
          if (!right) roundtrip_fail("serialize_event: wrong error for an invalid type or id", wire);
          if (wire != before) roundtrip_fail("serialize_event appended despite an error", wire);
          break;
        }
        if (e != ssekit::errc::ok) roundtrip_fail("serialize_event refused a valid event", wire);
        if (ev.retry) expected.push_back(record::make_retry(*ev.retry));
        if (ev.id) last_id = std::string(*ev.id);
        expected.push_back(record::make_event(ev.type.empty() ? "message" : std::string(ev.type),
                                              normalize_line_ends(ev.data), last_id));
        break;
      }
      case 1: {
        const std::string_view text = in.string();
        const ssekit::errc e = ssekit::serialize_comment(wire, text);
        if (contains_any(text, "\r\n")) {
          if (e != ssekit::errc::invalid_comment) roundtrip_fail("serialize_comment: wrong error", wire);
          if (wire != before) roundtrip_fail("serialize_comment appended despite an error", wire);
          break;
        }
        if (e != ssekit::errc::ok) roundtrip_fail("serialize_comment refused a valid comment", wire);
        expected.push_back(record::make_comment(std::string(text)));
        break;
      }
      case 2: {
        const std::uint64_t ms = in.u64();
        ssekit::serialize_retry(wire, ms);
        expected.push_back(record::make_retry(ms));
        break;
      }
      case 3:
        ssekit::serialize_heartbeat(wire);
        expected.push_back(record::make_comment(""));
        break;
    }
  }

  ssekit::parser_options o;
  o.raw_bytes = true;
  const run_result got = run_fast(wire, whole(wire), o);
  if (got.error) roundtrip_fail("serialized stream does not parse", wire);
  if (got.records != expected || got.last_event_id != last_id) {
    print_result("expected", expected, last_id, {});
    print_result("parsed", got.records, got.last_event_id, got.error);
    roundtrip_fail("parse(serialize(x)) != x", wire);
  }
  // The reference parser must read it the same way (it knows nothing of the serializer).
  const ssekit::test::reference_result ref = ssekit::test::reference_parse(wire, o);
  if (ref.records != expected || ref.last_event_id != last_id || ref.error)
    roundtrip_fail("reference parser reads the serialized stream differently", wire);

  // As text: each value repaired on its own is what decoding the whole
  // stream gives, since the bytes around a value are ASCII (a field name,
  // a line end), which neither completes nor continues a sequence.
  for (record& r : expected) {
    r.type = repaired(r.type);
    r.data = repaired(r.data);
    r.last_event_id = repaired(r.last_event_id);
    r.comment = repaired(r.comment);
  }
  const std::string text_id = repaired(last_id);
  const run_result as_text = run_fast(wire, whole(wire), {});
  const ssekit::test::reference_result ref_text = ssekit::test::reference_parse(wire, {});
  if (as_text.error || as_text.records != expected || as_text.last_event_id != text_id) {
    print_result("expected", expected, text_id, {});
    print_result("parsed", as_text.records, as_text.last_event_id, as_text.error);
    fail("parse(serialize(x)) as text != x with invalid UTF-8 replaced", wire, {});
  }
  if (ref_text.error || ref_text.records != expected || ref_text.last_event_id != text_id)
    fail("reference parser reads the serialized stream as text differently", wire, {});
  return 0;
}

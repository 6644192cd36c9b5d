// A slow reference parser, written as directly as possible from the words of
// the WHATWG HTML standard ("Parsing an event stream", "Interpreting an event
// stream") and the WHATWG Encoding standard ("UTF-8 decode", "UTF-8
// decoder"). It reads a whole stream at once, one step at a time, so that it
// is easy to check against the standard by eye. Tests and fuzzers compare the
// fast incremental parser with it; it is never used for anything else.
//
// Besides the standard it replicates ssekit's documented limits
// (parser_options::max_line_length and max_event_size, both counted in raw
// bytes) and the raw_bytes mode, so the two parsers agree on every input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ssekit/error.hpp"
#include "ssekit/parser.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {

struct reference_result {
  std::vector<record> records;  // events, comments and retries in stream order
  std::string last_event_id;    // the last event ID string at the end (or at the error)
  ssekit::parse_error error;    // the first limit error, if any
};

// Parses a complete stream (as if fed whole, then finish()).
reference_result reference_parse(std::string_view whole_stream, const ssekit::parser_options& options);

// One decoded unit: a code point (default mode) or a byte value (raw mode),
// with the offset of its first byte in the input.
struct reference_unit {
  std::uint32_t value = 0;
  std::size_t offset = 0;
};

// The Encoding standard's UTF-8 decoder run over `bytes` with error mode
// "replacement" (each error yields U+FFFD). No BOM handling: that is the
// job of "UTF-8 decode", which reference_parse does itself.
std::vector<reference_unit> reference_utf8_decode(std::string_view bytes);

// Encodes code points as UTF-8 (the Encoding standard's UTF-8 encoder).
std::string reference_utf8_encode(const std::vector<std::uint32_t>& code_points);

// reference_utf8_encode(reference_utf8_decode(bytes)): what TextDecoder
// (with ignoreBOM, i.e. keeping a leading BOM) makes of `bytes`.
std::string reference_utf8_repair(std::string_view bytes);

}  // namespace ssekit::test

// Error codes shared by the parser and the serializer: one enum, one table of
// names and messages (error.cpp), and std::error_code integration so the
// native client can report them alongside network errors.
#pragma once

// Say what is missing before the first cryptic error (g++ 12 defaults to C++17).
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201709L
#error "ssekit needs C++20: compile with -std=c++20 (or /std:c++20); CMake's ssekit targets ask for it"
#endif

#include <cstdint>
#include <string_view>
#include <system_error>

namespace ssekit {

enum class errc : int {
  ok = 0,
  // Parser: a line (field name, colon and value, without its line end) is
  // longer than parser_options::max_line_length bytes.
  line_too_long,
  // Parser: one event (its data lines joined by LF, its type and its id, as
  // received) would exceed parser_options::max_event_size bytes.
  event_too_large,
  // Parser: feed() after finish() without reset() in between.
  feed_after_finish,
  // Serializer: the event type contains CR or LF.
  invalid_event_type,
  // Serializer: the id contains CR, LF or NUL.
  invalid_event_id,
  // Serializer: the comment contains CR or LF.
  invalid_comment,
  // Parser: feed(), finish() or reset() was called from inside one of that
  // parser's own handler callbacks (bad use: the parser is mid-chunk).
  called_from_callback,
  // Parser: an exception thrown inside feed() (by a handler, or
  // std::bad_alloc) left it in the middle of a chunk whose rest was never
  // read; reset() before feeding again.
  feed_interrupted,
};

// Short stable identifier, e.g. "line_too_long"; "unknown" for values outside the enum.
std::string_view error_name(errc code) noexcept;
// One-sentence human-readable explanation.
std::string_view error_message(errc code) noexcept;

const std::error_category& error_category() noexcept;
std::error_code make_error_code(errc code) noexcept;

// What parser::feed() and parser::finish() return. `offset` counts bytes from
// the first byte ever fed since construction or reset() (a BOM included) and
// points at the start of the line that caused the error; for
// called_from_callback and feed_interrupted, at the end of the chunk whose
// feed() was interrupted.
struct parse_error {
  errc code = errc::ok;
  std::uint64_t offset = 0;

  // True when there is an error, like std::error_code.
  explicit operator bool() const noexcept { return code != errc::ok; }
  friend bool operator==(const parse_error&, const parse_error&) = default;
};

}  // namespace ssekit

template <>
struct std::is_error_code_enum<ssekit::errc> : std::true_type {};

// Event-stream serializer: writes what any conforming parser reads back
// exactly. Every function APPENDS to `out`; on error nothing is appended.
// Values may view `out` itself (bytes already in it, framed again), as with
// std::string::append. Text is written as given: readers decode the stream
// as UTF-8, so a value that is not valid UTF-8 reads back with each invalid
// sequence replaced by U+FFFD, as TextDecoder does (two ids that differ
// only there read back alike; a parser with raw_bytes reads the bytes as
// written). utf8_is_valid() tells, if that matters for an id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ssekit/error.hpp"

namespace ssekit {

// Every member has a default initializer ({}), so designated initializers
// may leave any out without -Wmissing-field-initializers in a user's build.
struct outgoing_event {
  // Always written (an empty string still makes an event with empty data).
  // CR, LF and CRLF inside split it over several `data:` lines, so a reader
  // gets LF in their place: the format cannot carry CR.
  std::string_view data{};
  // Empty: no `event:` line, the reader sees "message". Must not contain CR or LF.
  std::string_view type{};
  // nullopt: no `id:` line, the reader keeps its last event id. An empty
  // string resets it. Must not contain CR, LF or NUL.
  std::optional<std::string_view> id{};
  // If set, a `retry:` line with this many milliseconds precedes the event.
  std::optional<std::uint64_t> retry{};
};

// Appends one complete event (terminated by an empty line).
errc serialize_event(std::string& out, const outgoing_event& ev);
// Appends `:text` and a line end. `text` must not contain CR or LF.
errc serialize_comment(std::string& out, std::string_view text);
// Appends `retry: N` and a line end.
void serialize_retry(std::string& out, std::uint64_t milliseconds);
// Appends an empty comment line, the conventional keep-alive that stops
// proxies and idle timeouts from closing a quiet stream.
void serialize_heartbeat(std::string& out);

}  // namespace ssekit

#include "ssekit/serializer.hpp"

#include <charconv>
#include <cstring>

#include "caller_checks.hpp"
#include "scan.hpp"

namespace ssekit {
namespace {

// The parser's bulk line-end scan (find_first_of("\r\n") made one memchr
// call per byte of data).
using detail::find_line_break;

bool has_line_break(std::string_view s) noexcept {
  return find_line_break(s.data(), s.data() + s.size()) != s.data() + s.size();
}

// "name: value\n", or "name:\n" for an empty value. The space is what makes a
// value that itself starts with a space survive the reader's one-space strip.
// Three appends per line: the calls, not the copying, were the cost.
void append_field(std::string& out, std::string_view name, std::string_view value) {
  char head[8];  // the longest name is "retry"
  std::memcpy(head, name.data(), name.size());
  head[name.size()] = ':';
  head[name.size() + 1] = ' ';
  out.append(head, name.size() + (value.empty() ? 1 : 2));
  out.append(value);
  out.push_back('\n');
}

#if SSEKIT_CHECK_CALLER
// A value that views `out` itself (bytes already in the buffer, framed
// again) would dangle once an append grows the buffer.
using detail::views_into;

// Out of line: its string would cost the common path a frame and cleanup.
[[gnu::noinline, gnu::cold]] void append_copied(std::string& out, const outgoing_event& ev) {
  std::string own;
  serialize_event(own, ev);
  out.append(own);
}
#endif

}  // namespace

void serialize_retry(std::string& out, std::uint64_t milliseconds) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, milliseconds);
  append_field(out, "retry", std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
}

errc serialize_event(std::string& out, const outgoing_event& ev) {
  // Validate everything first so that an error appends nothing.
  if (has_line_break(ev.type)) return errc::invalid_event_type;
  if (ev.id && (has_line_break(*ev.id) || (!ev.id->empty() && std::memchr(ev.id->data(), 0, ev.id->size()) != nullptr)))
    return errc::invalid_event_id;

#if SSEKIT_CHECK_CALLER
  if (!out.empty() && (views_into(out, ev.data) || views_into(out, ev.type) || (ev.id && views_into(out, *ev.id)))) [[unlikely]] {
    append_copied(out, ev);
    return errc::ok;
  }
#endif

  if (ev.retry) serialize_retry(out, *ev.retry);
  if (ev.id) append_field(out, "id", *ev.id);
  if (!ev.type.empty()) append_field(out, "event", ev.type);
  // One data line per piece between CRLF, CR or LF.
  const char* p = ev.data.data();
  const char* const end = p + ev.data.size();
  for (;;) {
    const char* const eol = find_line_break(p, end);
    append_field(out, "data", std::string_view(p, static_cast<std::size_t>(eol - p)));
    if (eol == end) break;
    p = eol + 1;
    if (*eol == '\r' && p != end && *p == '\n') ++p;
  }
  out.push_back('\n');
  return errc::ok;
}

errc serialize_comment(std::string& out, std::string_view text) {
  if (has_line_break(text)) return errc::invalid_comment;
#if SSEKIT_CHECK_CALLER
  if (views_into(out, text)) {
    const std::string own(text);
    return serialize_comment(out, own);
  }
#endif
  out.push_back(':');
  out.append(text);
  out.push_back('\n');
  return errc::ok;
}

void serialize_heartbeat(std::string& out) { out.append(":\n"); }

}  // namespace ssekit

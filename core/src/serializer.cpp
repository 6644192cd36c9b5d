#include "ssekit/serializer.hpp"

#include <charconv>

namespace ssekit {
namespace {

bool has_line_break(std::string_view s) noexcept { return s.find_first_of("\r\n") != std::string_view::npos; }

// "name: value\n", or "name:\n" for an empty value. The space is what makes a
// value that itself starts with a space survive the reader's one-space strip.
void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.push_back(':');
  if (!value.empty()) {
    out.push_back(' ');
    out.append(value);
  }
  out.push_back('\n');
}

}  // namespace

void serialize_retry(std::string& out, std::uint64_t milliseconds) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, milliseconds);
  append_field(out, "retry", std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
}

errc serialize_event(std::string& out, const outgoing_event& ev) {
  // Validate everything first so that an error appends nothing.
  if (has_line_break(ev.type)) return errc::invalid_event_type;
  if (ev.id && (has_line_break(*ev.id) || ev.id->find('\0') != std::string_view::npos))
    return errc::invalid_event_id;

  if (ev.retry) serialize_retry(out, *ev.retry);
  if (ev.id) append_field(out, "id", *ev.id);
  if (!ev.type.empty()) append_field(out, "event", ev.type);
  // One data line per piece between CRLF, CR or LF.
  std::string_view rest = ev.data;
  for (;;) {
    const std::size_t pos = rest.find_first_of("\r\n");
    append_field(out, "data", rest.substr(0, pos));
    if (pos == std::string_view::npos) break;
    const bool crlf = rest[pos] == '\r' && pos + 1 < rest.size() && rest[pos + 1] == '\n';
    rest.remove_prefix(pos + (crlf ? 2 : 1));
  }
  out.push_back('\n');
  return errc::ok;
}

errc serialize_comment(std::string& out, std::string_view text) {
  if (has_line_break(text)) return errc::invalid_comment;
  out.push_back(':');
  out.append(text);
  out.push_back('\n');
  return errc::ok;
}

void serialize_heartbeat(std::string& out) { out.append(":\n"); }

}  // namespace ssekit

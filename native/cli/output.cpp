#include "output.hpp"

#include <charconv>
#include <optional>

#include "ssekit/serializer.hpp"

namespace ssekit::cli {

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(hex[(c >> 4) & 0xf]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(c);  // the parser delivers valid UTF-8
        }
    }
  }
  out.push_back('"');
}

void printer::on_event(const event& ev) {
  ++events_;
  if (format_ == output_format::json) {
    out_ += "{\"type\":";
    append_json_string(out_, ev.type);
    out_ += ",\"data\":";
    append_json_string(out_, ev.data);
    out_ += ",\"lastEventId\":";
    append_json_string(out_, ev.last_event_id);
    out_ += "}\n";
    return;
  }
  // Re-serialized, so the output is itself a stream that parses to the same
  // events; the id is written only when it changed.
  std::optional<std::string_view> id;
  if (ev.last_event_id != printed_id_) {
    id = ev.last_event_id;
    printed_id_.assign(ev.last_event_id);
  }
  const std::string_view type = ev.type == "message" ? std::string_view() : ev.type;
  // The parser never delivers CR or LF in a type or id, nor NUL in an id.
  (void)serialize_event(out_, {.data = ev.data, .type = type, .id = id, .retry = std::nullopt});
}

void printer::on_comment(std::string_view text) {
  if (!all_) return;
  if (format_ == output_format::json) {
    out_ += "{\"comment\":";
    append_json_string(out_, text);
    out_ += "}\n";
  } else {
    (void)serialize_comment(out_, text);
  }
}

void printer::on_retry(std::uint64_t milliseconds) {
  if (!all_) return;
  if (format_ == output_format::json) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, milliseconds).ptr;
    out_ += "{\"retry\":";
    out_.append(digits, end);
    out_ += "}\n";
  } else {
    serialize_retry(out_, milliseconds);
  }
}

}  // namespace ssekit::cli

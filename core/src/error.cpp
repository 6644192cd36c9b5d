#include "ssekit/error.hpp"

#include <array>
#include <string>

namespace ssekit {
namespace {

struct error_info {
  errc code;
  std::string_view name;
  std::string_view message;
};

// The one table of error names and messages; indexed by the enum value.
constexpr std::array<error_info, 9> error_table{{
    {errc::ok, "ok", "no error"},
    {errc::line_too_long, "line_too_long", "a line is longer than the parser's max_line_length"},
    {errc::event_too_large, "event_too_large", "an event (its data, type and id) is larger than the parser's max_event_size"},
    {errc::feed_after_finish, "feed_after_finish", "feed() was called after finish() without reset()"},
    {errc::invalid_event_type, "invalid_event_type", "an event type must not contain CR or LF"},
    {errc::invalid_event_id, "invalid_event_id", "an event id must not contain CR, LF or NUL"},
    {errc::invalid_comment, "invalid_comment", "a comment must not contain CR or LF"},
    {errc::called_from_callback, "called_from_callback", "feed(), finish() or reset() was called from inside one of the parser's own callbacks"},
    {errc::feed_interrupted, "feed_interrupted", "an exception left feed() in the middle of a chunk; reset() the parser before feeding it again"},
}};

const error_info* find(errc code) noexcept {
  const auto index = static_cast<std::size_t>(code);
  if (index >= error_table.size()) return nullptr;
  return &error_table[index];
}

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ssekit"; }
  std::string message(int value) const override { return std::string(error_message(static_cast<errc>(value))); }
};

}  // namespace

static_assert([] {
  for (std::size_t i = 0; i < error_table.size(); ++i)
    if (static_cast<std::size_t>(error_table[i].code) != i) return false;
  return true;
}(), "error_table must be ordered like errc");

std::string_view error_name(errc code) noexcept {
  const error_info* info = find(code);
  return info ? info->name : "unknown";
}

std::string_view error_message(errc code) noexcept {
  const error_info* info = find(code);
  return info ? info->message : "unknown ssekit error";
}

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

}  // namespace ssekit

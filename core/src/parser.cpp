// The parser follows WHATWG HTML "Interpreting an event stream". The hot
// loop finds line ends in bulk (scan.hpp) and handles each whole line at once;
// only a line split across chunks is copied into partial_line_.
#include "ssekit/parser.hpp"

#include <cstring>
#include <limits>

#include "scan.hpp"
#include "ssekit/utf8.hpp"
#include "work_counters.hpp"

namespace ssekit {

#if defined(SSEKIT_WORK_COUNTERS)
detail::work_counters detail::counters;
#endif

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
// Buffers bigger than this are released by reset(), so an idle client that
// once received a huge event does not keep its memory across reconnects.
constexpr std::size_t kept_capacity = 64 * 1024;

// `text` as valid UTF-8: itself when already valid (no copy), else a repaired
// copy in `scratch`.
std::string_view as_valid_utf8(std::string_view text, std::string& scratch) {
  SSEKIT_COUNT_WORK(bytes_scanned, text.size());
  if (utf8_is_valid(text)) return text;
  SSEKIT_COUNT_WORK(bytes_copied, text.size());
  scratch.clear();
  utf8_append_replacing_invalid(scratch, text);
  return scratch;
}

// The standard's rule: only ASCII digits (and at least one) set the
// reconnection time. Saturates instead of wrapping on absurd values.
bool parse_retry(std::string_view value, std::uint64_t* milliseconds) noexcept {
  if (value.empty()) return false;
  std::uint64_t result = 0;
  bool saturated = false;
  for (const char c : value) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (result > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) saturated = true;
    else result = result * 10 + digit;
  }
  *milliseconds = saturated ? std::numeric_limits<std::uint64_t>::max() : result;
  return true;
}

const char* scan_line_end(const char* p, const char* end) noexcept {
  const char* eol = detail::find_line_end(p, end);
  SSEKIT_COUNT_WORK(bytes_scanned, eol - p);
  return eol;
}

void release_if_large(std::string& s) {
  if (s.capacity() > kept_capacity) std::string().swap(s);
  else s.clear();
}

}  // namespace

void parser::field_buffer::assign(std::string_view value, bool borrow) {
  if (borrow) {
    view_ = value;
    borrowed_ = true;
  } else {
    SSEKIT_COUNT_WORK(bytes_copied, value.size());
    owned_.assign(value);
    borrowed_ = false;
  }
}

void parser::field_buffer::append_line(std::string_view value) {
  own();
  SSEKIT_COUNT_WORK(bytes_copied, value.size() + 1);
  owned_.push_back('\n');
  owned_.append(value);
}

void parser::field_buffer::own() {
  if (!borrowed_) return;
  SSEKIT_COUNT_WORK(bytes_copied, view_.size());
  owned_.assign(view_);
  borrowed_ = false;
}

void parser::field_buffer::clear() noexcept {
  borrowed_ = false;
  owned_.clear();
}

void parser::field_buffer::release() {
  borrowed_ = false;
  release_if_large(owned_);
}

parser::parser(handler& h, parser_options options) : handler_(h), options_(options) {}

void parser::set_last_event_id(std::string_view id) {
  id_buffer_.assign(id);
  id_changed_ = false;
  if (options_.raw_bytes) {
    last_event_id_.assign(id);
  } else {
    last_event_id_.clear();
    utf8_append_replacing_invalid(last_event_id_, id);
  }
}

void parser::fail(errc code, std::uint64_t offset) noexcept { error_ = {code, offset}; }

parse_error parser::feed(std::string_view chunk) {
  if (error_) return error_;
  if (finished_) {
    fail(errc::feed_after_finish, stream_offset_);
    return error_;
  }
  const char* const begin = chunk.data();
  const char* const end = begin + chunk.size();
  const char* p = begin;
  const std::uint64_t base = stream_offset_;
  stream_offset_ += chunk.size();
  const auto offset_of = [&](const char* q) { return base + static_cast<std::uint64_t>(q - begin); };

  if (at_stream_start_) {
    // The BOM may arrive split; its bytes wait in partial_line_ until they
    // either complete it (dropped) or turn out to start the first line.
    while (p < end && partial_line_.size() < utf8_bom.size()) {
      if (*p != utf8_bom[partial_line_.size()]) {
        at_stream_start_ = false;
        break;
      }
      partial_line_.push_back(*p++);
    }
    if (at_stream_start_) {
      if (partial_line_.size() < utf8_bom.size()) return error_;  // need more bytes
      partial_line_.clear();
      at_stream_start_ = false;
      line_start_ = offset_of(p);
    }
  }

  if (skip_lf_ && p < end) {
    skip_lf_ = false;
    if (*p == '\n') ++p;
    line_start_ = offset_of(p);
  }

  // Advances past the line end at `eol` (CR, LF or CRLF); a CR at the end of
  // the chunk leaves skip_lf_ set for the next one.
  const auto after_line_end = [&](const char* eol) {
    const char* next = eol + 1;
    if (*eol == '\r') {
      if (next == end) skip_lf_ = true;
      else if (*next == '\n') ++next;
    }
    return next;
  };

  if (!partial_line_.empty() && p < end) {
    const char* eol = scan_line_end(p, end);
    const auto added = static_cast<std::size_t>(eol - p);
    // Cannot overflow: both are sizes of memory already held.
    if (partial_line_.size() + added > options_.max_line_length) {
      fail(errc::line_too_long, line_start_);
      return error_;
    }
    SSEKIT_COUNT_WORK(bytes_copied, added);
    partial_line_.append(p, added);
    if (eol == end) return error_;
    process_line(partial_line_, false, line_start_);
    partial_line_.clear();
    if (error_) return error_;
    p = after_line_end(eol);
    line_start_ = offset_of(p);
  }

  while (p < end) {
    const char* eol = scan_line_end(p, end);
    if (static_cast<std::size_t>(eol - p) > options_.max_line_length) {
      fail(errc::line_too_long, offset_of(p));
      return error_;
    }
    if (eol == end) {
      SSEKIT_COUNT_WORK(bytes_copied, end - p);
      partial_line_.assign(p, end);
      line_start_ = offset_of(p);
      break;
    }
    process_line(std::string_view(p, static_cast<std::size_t>(eol - p)), true, offset_of(p));
    if (error_) return error_;
    p = after_line_end(eol);
  }
  if (p == end) line_start_ = stream_offset_;

  // The chunk goes away when feed() returns: keep what the event still needs.
  data_.own();
  type_.own();
  return error_;
}

void parser::process_line(std::string_view line, bool in_chunk, std::uint64_t line_offset) {
  if (line.empty()) {
    dispatch();
    return;
  }
  // The common "data:" line first, without searching for the colon.
  if (line.size() >= 5 && std::memcmp(line.data(), "data:", 5) == 0) {
    std::string_view value = line.substr(5);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    append_data(value, in_chunk, line_offset);
    return;
  }
  if (line.front() == ':') {
    deliver_comment(line.substr(1));
    return;
  }
  std::string_view name = line;
  std::string_view value;
  if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (name == "data") {
    append_data(value, in_chunk, line_offset);
  } else if (name == "event") {
    type_.assign(value, in_chunk);
  } else if (name == "id") {
    // An id containing NUL is ignored as a whole.
    if (value.find('\0') == std::string_view::npos) {
      id_buffer_.assign(value);
      id_changed_ = true;
    }
  } else if (name == "retry") {
    std::uint64_t milliseconds = 0;
    if (parse_retry(value, &milliseconds)) handler_.on_retry(milliseconds);
  }
  // Any other field name is ignored.
}

void parser::append_data(std::string_view value, bool in_chunk, std::uint64_t line_offset) {
  // Size after the append: the data lines joined by LF.
  const std::size_t separator = has_data_ ? 1 : 0;
  const std::size_t current = has_data_ ? data_.view().size() : 0;
  if (value.size() > options_.max_event_size || current + separator > options_.max_event_size - value.size()) {
    fail(errc::event_too_large, line_offset);
    return;
  }
  if (has_data_) {
    data_.append_line(value);
  } else {
    data_.assign(value, in_chunk);
    has_data_ = true;
  }
}

void parser::dispatch() {
  // The last event id is updated even when no event is delivered.
  if (id_changed_) {
    id_changed_ = false;
    if (options_.raw_bytes) last_event_id_.assign(id_buffer_);
    else last_event_id_.assign(as_valid_utf8(id_buffer_, repaired_id_));
  }
  if (!has_data_) {
    type_.clear();
    return;
  }
  std::string_view type = type_.view();
  std::string_view data = data_.view();
  if (!options_.raw_bytes) {
    type = as_valid_utf8(type, repaired_type_);
    data = as_valid_utf8(data, repaired_data_);
  }
  if (type.empty()) type = "message";
  // The buffers are cleared after the callback (the views point into them),
  // also when it throws.
  struct clear_on_exit {
    parser& self;
    ~clear_on_exit() {
      self.has_data_ = false;
      self.data_.clear();
      self.type_.clear();
    }
  } guard{*this};
  handler_.on_event(event{type, data, last_event_id_});
}

void parser::deliver_comment(std::string_view text) {
  handler_.on_comment(options_.raw_bytes ? text : as_valid_utf8(text, repaired_comment_));
}

parse_error parser::finish() {
  if (error_) return error_;
  // An unterminated line and an undispatched event are dropped.
  finished_ = true;
  partial_line_.clear();
  has_data_ = false;
  data_.clear();
  type_.clear();
  return error_;
}

void parser::reset() {
  stream_offset_ = 0;
  line_start_ = 0;
  error_ = {};
  finished_ = false;
  at_stream_start_ = true;
  skip_lf_ = false;
  release_if_large(partial_line_);
  has_data_ = false;
  data_.release();
  type_.release();
  // A new connection resumes from the id the application last saw.
  id_buffer_.assign(last_event_id_);
  id_changed_ = false;
  release_if_large(repaired_data_);
}

}  // namespace ssekit

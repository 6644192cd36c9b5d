// The parser follows WHATWG HTML "Interpreting an event stream". The hot
// loop finds line ends in bulk (scan.hpp) and handles each whole line at once;
// only a line split across chunks is copied into partial_line_.
#include "ssekit/parser.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "scan.hpp"
#include "ssekit/utf8.hpp"
#include "work_counters.hpp"

// The per-line and per-event steps are inlined into feed()'s loop: for
// ~200-byte events the calls themselves were a third of the parser's cost.
#if defined(__GNUC__)
#define SSEKIT_HOT_INLINE [[gnu::always_inline]] inline
#else
#define SSEKIT_HOT_INLINE inline
#endif

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

detail::line_scan scan_line(const char* p, const char* end) noexcept {
  const detail::line_scan line = detail::find_line_end(p, end);
  SSEKIT_COUNT_WORK(bytes_scanned, line.end - p);
  return line;
}

// If `line` is the field `name` ("name:value" or just "name"), sets `value`
// (one leading space removed) and returns true. `name` is a literal, so the
// compare is a few inlined instructions rather than a call.
template <std::size_t N>
SSEKIT_HOT_INLINE bool match_field(std::string_view line, const char (&name)[N], std::string_view* value) noexcept {
  constexpr std::size_t length = N - 1;
  if (line.size() < length || std::memcmp(line.data(), name, length) != 0) return false;
  if (line.size() == length) {
    *value = {};
    return true;
  }
  if (line[length] != ':') return false;
  *value = line.substr(length + 1);
  if (!value->empty() && value->front() == ' ') value->remove_prefix(1);
  return true;
}

void release_if_large(std::string& s) {
  if (s.capacity() > kept_capacity) std::string().swap(s);
  else s.clear();
}

}  // namespace

void parser::field_buffer::grow(std::size_t needed) {
  const std::size_t capacity = std::max({needed, 2 * owned_capacity_, std::size_t{256}});
  // new char[] leaves the bytes uninitialised, like make_unique_for_overwrite
  // (which Emscripten's libc++ 14 lacks).
  std::unique_ptr<char[]> bytes(new char[capacity]);
  if (owned_size_ != 0) std::memcpy(bytes.get(), owned_.get(), owned_size_);
  owned_ = std::move(bytes);
  owned_capacity_ = capacity;
}

void parser::field_buffer::copy_in(std::string_view value) {
  SSEKIT_COUNT_WORK(bytes_copied, value.size());
  owned_size_ = 0;
  if (value.size() > owned_capacity_) grow(value.size());
  if (!value.empty()) std::memcpy(owned_.get(), value.data(), value.size());
  owned_size_ = value.size();
}

SSEKIT_HOT_INLINE void parser::field_buffer::assign(std::string_view value, bool borrow) {
  if (borrow) {
    view_ = value;
    borrowed_ = true;
  } else {
    copy_in(value);
    borrowed_ = false;
  }
}

void parser::field_buffer::append_line(std::string_view value) {
  own();
  SSEKIT_COUNT_WORK(bytes_copied, value.size() + 1);
  const std::size_t size = owned_size_ + 1 + value.size();
  if (size > owned_capacity_) grow(size);
  owned_[owned_size_] = '\n';
  if (!value.empty()) std::memcpy(owned_.get() + owned_size_ + 1, value.data(), value.size());
  owned_size_ = size;
}

void parser::field_buffer::own() {
  if (!borrowed_) return;
  copy_in(view_);
  borrowed_ = false;
}

SSEKIT_HOT_INLINE void parser::field_buffer::clear() noexcept {
  borrowed_ = false;
  owned_size_ = 0;
}

void parser::field_buffer::release() {
  clear();
  if (owned_capacity_ > kept_capacity) {
    owned_.reset();
    owned_capacity_ = 0;
  }
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
        partial_line_ascii_ = partial_line_.empty();
        break;
      }
      partial_line_.push_back(*p++);
    }
    if (at_stream_start_) {
      if (partial_line_.size() < utf8_bom.size()) return error_;  // need more bytes
      partial_line_.clear();
      at_stream_start_ = false;
    }
  }

  if (skip_lf_ && p < end) {
    skip_lf_ = false;
    if (*p == '\n') ++p;
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
    const detail::line_scan rest = scan_line(p, end);
    const auto added = static_cast<std::size_t>(rest.end - p);
    // Cannot overflow: both are sizes of memory already held.
    if (partial_line_.size() + added > options_.max_line_length) {
      fail(errc::line_too_long, line_start_);
      return error_;
    }
    SSEKIT_COUNT_WORK(bytes_copied, added);
    partial_line_.append(p, added);
    partial_line_ascii_ = partial_line_ascii_ && rest.ascii;
    if (rest.end == end) return error_;
    process_line(partial_line_, partial_line_ascii_, false, line_start_);
    partial_line_.clear();
    if (error_) return error_;
    p = after_line_end(rest.end);
  }

  while (p < end) {
    const detail::line_scan line = scan_line(p, end);
    if (static_cast<std::size_t>(line.end - p) > options_.max_line_length) {
      fail(errc::line_too_long, offset_of(p));
      return error_;
    }
    if (line.end == end) {
      SSEKIT_COUNT_WORK(bytes_copied, end - p);
      partial_line_.assign(p, end);
      partial_line_ascii_ = line.ascii;
      line_start_ = offset_of(p);
      break;
    }
    process_line(std::string_view(p, static_cast<std::size_t>(line.end - p)), line.ascii, true, offset_of(p));
    if (error_) return error_;
    p = after_line_end(line.end);
  }

  // The chunk goes away when feed() returns: keep what the event still needs.
  data_.own();
  type_.own();
  return error_;
}

SSEKIT_HOT_INLINE void parser::process_line(std::string_view line, bool ascii, bool in_chunk,
                                            std::uint64_t line_offset) {
  if (line.empty()) {
    dispatch();
    return;
  }
  // The common "data:" line first, without a call.
  if (line.size() >= 5 && std::memcmp(line.data(), "data:", 5) == 0) {
    std::string_view value = line.substr(5);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    append_data(value, ascii, in_chunk, line_offset);
    return;
  }
  process_other_line(line, ascii, in_chunk, line_offset);
}

void parser::process_other_line(std::string_view line, bool ascii, bool in_chunk, std::uint64_t line_offset) {
  // A field name is one of four exact words, so the first byte decides
  // which one to try and no search for the colon is needed.
  std::string_view value;
  switch (line.front()) {
    case ':':
      deliver_comment(line.substr(1), ascii);
      break;
    case 'd':  // "data" without a colon: an empty data line
      if (match_field(line, "data", &value)) append_data(value, ascii, in_chunk, line_offset);
      break;
    case 'e':
      if (match_field(line, "event", &value)) {
        type_.assign(value, in_chunk);
        type_ascii_ = ascii;
      }
      break;
    case 'i':
      // An id containing NUL is ignored as a whole.
      if (match_field(line, "id", &value) && value.find('\0') == std::string_view::npos) {
        id_buffer_.assign(value);
        id_ascii_ = ascii;
        id_changed_ = true;
      }
      break;
    case 'r':
      if (std::uint64_t milliseconds = 0; match_field(line, "retry", &value) && parse_retry(value, &milliseconds))
        handler_.on_retry(milliseconds);
      break;
    default:
      break;  // any other field is ignored
  }
}

SSEKIT_HOT_INLINE void parser::append_data(std::string_view value, bool ascii, bool in_chunk,
                                            std::uint64_t line_offset) {
  // Size after the append: the data lines joined by LF.
  const std::size_t separator = has_data_ ? 1 : 0;
  const std::size_t current = has_data_ ? data_.view().size() : 0;
  if (value.size() > options_.max_event_size || current + separator > options_.max_event_size - value.size()) {
    fail(errc::event_too_large, line_offset);
    return;
  }
  if (has_data_) {
    data_.append_line(value);
    data_ascii_ = data_ascii_ && ascii;
  } else {
    data_.assign(value, in_chunk);
    data_ascii_ = ascii;
    has_data_ = true;
  }
}

SSEKIT_HOT_INLINE void parser::dispatch() {
  // The last event id is updated even when no event is delivered.
  if (id_changed_) {
    id_changed_ = false;
    if (options_.raw_bytes || id_ascii_) last_event_id_.assign(id_buffer_);
    else last_event_id_.assign(as_valid_utf8(id_buffer_, repaired_id_));
  }
  if (!has_data_) {
    type_.clear();
    return;
  }
  std::string_view type = type_.view();
  std::string_view data = data_.view();
  if (!options_.raw_bytes) {
    if (!type_ascii_) type = as_valid_utf8(type, repaired_type_);
    if (!data_ascii_) data = as_valid_utf8(data, repaired_data_);
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

void parser::deliver_comment(std::string_view text, bool ascii) {
  handler_.on_comment(options_.raw_bytes || ascii ? text : as_valid_utf8(text, repaired_comment_));
}

parse_error parser::finish() {
  if (error_) return error_;
  // Bytes held as a possible BOM turned out to be a line; the limit applies
  // to it as to any other unterminated line.
  if (at_stream_start_ && partial_line_.size() > options_.max_line_length) {
    fail(errc::line_too_long, 0);
    return error_;
  }
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

// The parser follows WHATWG HTML "Interpreting an event stream". The hot
// loop finds line ends in bulk (scan.hpp) and handles each whole line at once;
// only a line split across chunks is copied into partial_line_.
#include "ssekit/parser.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "caller_checks.hpp"
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

#if SSEKIT_CHECK_CALLER
// What a callback did that stops the running feed(), in a byte of feed()'s
// own frame (parser::stop_ points at it): a refused call (error_ says
// which), or the parser's destruction, after which nothing of it may be
// touched.
enum : unsigned char { go = 0, refused = 1, destroyed = 2 };

// Unwinds from a callback that destroyed its parser to feed(), through
// frames that touch nothing of the parser on the way.
struct destroyed_by_handler {};
[[noreturn, gnu::cold, gnu::noinline]] void throw_destroyed() {
#if defined(__cpp_exceptions)
  throw destroyed_by_handler{};
#else
  std::abort();  // without exceptions there is no way back to feed() that touches nothing
#endif
}

// After a handler call, with `stop` read before it (the parser may be gone).
inline void after_handler(const unsigned char* stop) {
  if (*stop == destroyed) [[unlikely]] throw_destroyed();
}
#endif

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

// True if `value` must be repaired (only asked for lines with a byte >= 0x80).
bool invalid_utf8(std::string_view value) {
  SSEKIT_COUNT_WORK(bytes_scanned, value.size());
  return !utf8_is_valid(value);
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

template <bool Avx2>
SSEKIT_HOT_INLINE detail::line_scan scan_line(const char* p, const char* end) noexcept {
  detail::line_scan line;
#if defined(SSEKIT_X86)
  if constexpr (Avx2) line = detail::find_line_end_avx2_from(p, end);
  else line = detail::find_line_end(p, end);
#else
  line = detail::find_line_end(p, end);
#endif
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

// Ids are short: a loop beats a memchr call there, and one 8-byte word
// beats the loop when 8 bytes from the value's start may be read (before
// `readable_end`, the chunk's end; nullptr: not known).
bool has_nul(std::string_view value, const char* readable_end) noexcept {
  if (value.empty()) return false;  // its data() may be null
  if constexpr (std::endian::native == std::endian::little) {
    if (value.size() < 8 && readable_end != nullptr && readable_end - value.data() >= 8) {
      std::uint64_t word;
      std::memcpy(&word, value.data(), 8);
      // Marks zero bytes; the lowest mark is exact (a false one only
      // follows a true zero byte), so the value's own bytes decide.
      const std::uint64_t zero = (word - 0x0101010101010101ull) & ~word & 0x8080808080808080ull;
      return zero != 0 && static_cast<std::size_t>(std::countr_zero(zero)) < 8 * value.size();
    }
  }
  if (value.size() > 32) return std::memchr(value.data(), 0, value.size()) != nullptr;
  for (const char c : value)
    if (c == '\0') return true;
  return false;
}

void release_if_large(std::string& s) {
  if (s.capacity() > kept_capacity) std::string().swap(s);
  else s.clear();
}

}  // namespace

// WebAssembly memory never shrinks, and emmalloc does not fit a grown
// buffer into the blocks it grew from: with new[] and a copy, one 8 MiB
// value left 27 MiB of memory behind. realloc grows in place whenever the
// block after it is free, which is usually the case for the one growing
// buffer, and 1.25x steps let it do so more often: 9.1 MiB for that value
// (js/test/memory.test.mjs). Natively, new[] and 1.5x as before: big blocks
// go back to the system there, and the work and memory tests count
// allocations through operator new.
void parser::field_buffer::free_bytes::operator()(char* p) const noexcept {
#if defined(__EMSCRIPTEN__)
  std::free(p);
#else
  delete[] p;
#endif
}

namespace {
char* allocate_bytes(std::size_t size) {
#if defined(__EMSCRIPTEN__)
  void* const bytes = std::malloc(size);
  if (bytes == nullptr) std::abort();  // what new[] does there (no exceptions)
  return static_cast<char*>(bytes);
#else
  return new char[size];  // uninitialised, like make_unique_for_overwrite (which Emscripten's libc++ 14 lacks)
#endif
}
}  // namespace

// Out of line: the slow path of every append, rarely taken once a stream's
// buffers are large enough. -O3 inlined it into each (28 copies of the
// realloc call in WebAssembly's feed): 1.5 of the module's 26.2 kB.
[[gnu::noinline]] void parser::field_buffer::grow(std::size_t needed) {
  // Below 2x, so a huge value holds at most a fraction of its size in slack,
  // part of keeping one event's memory near twice its size.
#if defined(__EMSCRIPTEN__)
  const std::size_t capacity = std::max({needed, owned_capacity_ + owned_capacity_ / 4, std::size_t{256}});
  void* const bytes = std::realloc(owned_.get(), capacity);
  if (bytes == nullptr) std::abort();
  (void)owned_.release();  // realloc freed or kept it
  owned_.reset(static_cast<char*>(bytes));
#else
  const std::size_t capacity = std::max({needed, owned_capacity_ + owned_capacity_ / 2, std::size_t{256}});
  std::unique_ptr<char, free_bytes> bytes(allocate_bytes(capacity));
  if (owned_size_ != 0) std::memcpy(bytes.get(), owned_.get(), owned_size_);
  owned_ = std::move(bytes);
#endif
  owned_capacity_ = capacity;
}

SSEKIT_HOT_INLINE char* parser::field_buffer::extend(std::size_t n) {
  const std::size_t size = owned_size_ + n;
  if (size > owned_capacity_) grow(size);
  char* const at = owned_.get() + owned_size_;
  owned_size_ = size;
  return at;
}

SSEKIT_HOT_INLINE void parser::field_buffer::assign(std::string_view value, bool borrow) {
  if (borrow) {
    view_ = value;
    borrowed_ = true;
    return;
  }
  SSEKIT_COUNT_WORK(bytes_copied, value.size());
  borrowed_ = false;
  owned_size_ = 0;
  if (!value.empty()) std::memcpy(extend(value.size()), value.data(), value.size());
}

void parser::field_buffer::assign_repaired(std::string_view value) {
  SSEKIT_COUNT_WORK(bytes_copied, value.size());
  borrowed_ = false;
  owned_size_ = 0;
  utf8_copy_replacing_invalid(extend(utf8_repaired_size(value)), value);
}

SSEKIT_HOT_INLINE void parser::field_buffer::append_line(std::string_view value) {
  own();
  SSEKIT_COUNT_WORK(bytes_copied, value.size() + 1);
  char* const at = extend(value.size() + 1);
  *at = '\n';
  if (!value.empty()) std::memcpy(at + 1, value.data(), value.size());
}

void parser::field_buffer::append_line_repaired(std::string_view value) {
  own();
  SSEKIT_COUNT_WORK(bytes_copied, value.size() + 1);
  char* const at = extend(utf8_repaired_size(value) + 1);
  *at = '\n';
  utf8_copy_replacing_invalid(at + 1, value);
}

void parser::field_buffer::append(const char* p, std::size_t n) {
  SSEKIT_COUNT_WORK(bytes_copied, n);
  if (n != 0) std::memcpy(extend(n), p, n);
}

void parser::field_buffer::push_back(char c) { *extend(1) = c; }

SSEKIT_HOT_INLINE char* parser::field_buffer::tail(std::size_t min_room, std::size_t* room) {
  if (owned_capacity_ - owned_size_ < min_room) grow(owned_size_ + min_room);
  *room = owned_capacity_ - owned_size_;
  return owned_.get() + owned_size_;
}

void parser::field_buffer::repair_from(std::size_t start, std::string& scratch) {
  const std::string_view region(owned_.get() + start, owned_size_ - start);
  if (!invalid_utf8(region)) return;
  SSEKIT_COUNT_WORK(bytes_copied, region.size());
  const std::size_t repaired = utf8_repaired_size(region);
  if (region.size() <= kept_capacity) {
    // Small: through the reused scratch string, no allocation.
    scratch.assign(region);
    owned_size_ = start;
    utf8_copy_replacing_invalid(extend(repaired), scratch);
    return;
  }
  // Large: straight into a new buffer of the final size, so the raw bytes
  // exist once more only until the repaired copy is written.
  std::unique_ptr<char, free_bytes> bytes(allocate_bytes(start + repaired));
  std::memcpy(bytes.get(), owned_.get(), start);
  utf8_copy_replacing_invalid(bytes.get() + start, region);
  owned_ = std::move(bytes);
  owned_size_ = owned_capacity_ = start + repaired;
}

SSEKIT_HOT_INLINE void parser::field_buffer::own() {
  if (!borrowed_) return;
  // Room first: an allocation that fails leaves the value borrowed, as it
  // was, for feed()'s way out to copy again.
  if (view_.size() > owned_capacity_) {
    owned_size_ = 0;  // unused while borrowed: nothing for grow() to keep
    grow(view_.size());
  }
  assign(view_, false);
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

void parser::field_buffer::swap(field_buffer& other) noexcept {
  std::swap(view_, other.view_);
  std::swap(owned_, other.owned_);
  std::swap(owned_size_, other.owned_size_);
  std::swap(owned_capacity_, other.owned_capacity_);
  std::swap(borrowed_, other.borrowed_);
}

parser::parser(handler& h, parser_options options) : handler_(h), options_(options) {}

parser::~parser() {
#if SSEKIT_CHECK_CALLER
  if (stop_ != nullptr) *stop_ = destroyed;  // by a handler, inside feed()
#endif
}

errc parser::set_last_event_id(std::string_view id) {
  // A line break can't be in an `id:` field, and NUL makes the parser ignore one.
  if (id.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) return errc::invalid_event_id;
  // Part of the id in force (e.g. last_event_id() trimmed): the assignment
  // would overwrite what it copies from.
#if SSEKIT_CHECK_CALLER
  if (detail::views_into(last_event_id_.view(), id)) {
    const std::string own(id);
    return set_last_event_id(own);
  }
#endif
  id_changed_ = false;
  ++last_event_id_version_;
  if (options_.raw_bytes) last_event_id_.assign(id, false);
  else last_event_id_.assign_repaired(id);
  return errc::ok;
}

void parser::fail(errc code, std::uint64_t offset) noexcept { error_ = {code, offset}; }

// feed(), finish() or reset() from a callback would change the state the
// running feed() is in the middle of: the call fails instead, and so does
// the feed() that made the callback, once the callback returns.
// Not in the WebAssembly build (caller_checks.hpp says why).
parse_error parser::refuse_reentry() noexcept {
  fail(errc::called_from_callback, stream_offset_);
#if SSEKIT_CHECK_CALLER
  *stop_ = refused;  // only called while busy_, inside feed()
#endif
  return error_;
}

std::uint64_t parser::line_offset(const char* chunk_line) const noexcept {
  // Only asked on an error: the hot loop passes pointers, not offsets.
  return chunk_line != nullptr ? stream_offset_ - static_cast<std::uint64_t>(chunk_end_ - chunk_line) : line_start_;
}

parse_error parser::feed_chunk(std::string_view chunk) {
#if defined(SSEKIT_X86)
  if (detail::cpu_has_avx2) return feed_avx2(chunk);
#endif
  return feed_impl<false>(chunk);
}

parse_error parser::feed(std::string_view chunk) {
#if SSEKIT_CHECK_CALLER
  if (busy_) return refuse_reentry();
  unsigned char stop = go;
  // Cleared on every way out, an exception from a callback included, but
  // not once a handler destroyed the parser.
  struct busy_scope {
    parser& self;
    const unsigned char& stop;
    busy_scope(parser& p, unsigned char& s) noexcept : self(p), stop(s) {
      self.busy_ = true;
      self.stop_ = &s;
    }
    ~busy_scope() {
      if (stop == destroyed) return;
      self.busy_ = false;
      self.stop_ = nullptr;
    }
    busy_scope(const busy_scope&) = delete;
    busy_scope& operator=(const busy_scope&) = delete;
  } scope{*this, stop};
#endif
  // dispatch() lets the last event id borrow from the chunk (one copy per
  // chunk, not per event); it must own it before the chunk goes away, on
  // every way out, since it outlives reset().
#if defined(__cpp_exceptions)
  parse_error result;
  try {
    result = feed_chunk(chunk);
    last_event_id_.own();  // may throw too (a helper's stress test): then as any exception
#if SSEKIT_CHECK_CALLER
  } catch (const destroyed_by_handler&) {
    return {};
#endif
  } catch (...) {
#if SSEKIT_CHECK_CALLER
    if (stop == destroyed) throw;
#endif
    // The rest of the chunk was never read: a feed() without reset() would
    // go on from a stream with a hole in it.
    fail(errc::feed_interrupted, stream_offset_);
    try {
      last_event_id_.own();
    } catch (...) {
      last_event_id_.clear();  // out of memory: better no id than a dangling one
      ++last_event_id_version_;
    }
    throw;
  }
#else
  const parse_error result = feed_chunk(chunk);
  last_event_id_.own();
#endif
  return result;
}

#if defined(SSEKIT_X86)
// flatten: the scan, declared for AVX2, can only be inlined once the loop
// itself sits in this AVX2 function.
__attribute__((target("avx2"), flatten)) parse_error parser::feed_avx2(std::string_view chunk) {
  return feed_impl<true>(chunk);
}
#endif

template <bool Avx2>
SSEKIT_HOT_INLINE parse_error parser::feed_impl(std::string_view chunk) {
  if (error_) return error_;
  if (finished_) {
    fail(errc::feed_after_finish, stream_offset_);
    return error_;
  }
  const char* const begin = chunk.data();
  const char* const end = begin + chunk.size();
  chunk_end_ = end;
#if SSEKIT_CHECK_CALLER
  const unsigned char* const stop = stop_;  // feed()'s, outlives a destroyed parser
#endif
  const char* p = begin;
  const std::uint64_t base = stream_offset_;
  stream_offset_ += chunk.size();
  const auto offset_of = [&](const char* q) { return base + static_cast<std::uint64_t>(q - begin); };

  if (at_stream_start_) {
    // The BOM may arrive split; its bytes are counted until they either
    // complete it (dropped) or turn out to start the first line.
    while (p < end && bom_held_ < utf8_bom.size()) {
      if (*p != utf8_bom[bom_held_]) {
        at_stream_start_ = false;
        break;
      }
      ++bom_held_;
      ++p;
    }
    if (at_stream_start_) {
      if (bom_held_ < utf8_bom.size()) return error_;  // need more bytes
      at_stream_start_ = false;
    } else if (bom_held_ != 0) {
      // EF or EF BB starts the first line: no field name starts so, so
      // only its length matters.
      pending_ = line_kind::ignored;
      pending_length_ = bom_held_;
      line_start_ = 0;
    }
    bom_held_ = 0;
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

  if (pending_ != line_kind::none && p < end) {
    const detail::line_scan rest = scan_line<Avx2>(p, end);
    if (!continue_line(p, rest.end, rest.ascii)) return error_;
    if (rest.end == end) return error_;
    end_line();
    if (error_) return error_;
    p = after_line_end(rest.end);
  }

  // A line inside the chunk is no longer than the chunk.
  const bool long_lines = chunk.size() > options_.max_line_length;
  while (p < end) {
    // Every event ends with an empty line: take it without a scan. (One
    // compare rules out almost every other line: field names are letters.)
    if (static_cast<unsigned char>(*p) <= '\r' && (*p == '\n' || *p == '\r')) {
      dispatch();
#if SSEKIT_CHECK_CALLER
      if (*stop != go) [[unlikely]] {  // what the callback did
        after_handler(stop);
        return error_;
      }
#endif
      p = after_line_end(p);
      continue;
    }
    // "data:" at the line's start (the line is at least that long when a
    // byte follows it in the chunk; a shorter line differs in its end).
    const bool data_line = end - p > 5 && std::memcmp(p, "data:", 5) == 0;
#if defined(SSEKIT_X86)
    if constexpr (Avx2) {
      // A data line that adds to the event's data (the big and multi-line
      // events): copied into the data buffer by the scan itself, which has
      // the bytes in registers anyway, instead of by a memcpy call after it.
      if (data_line && has_data_) {
        const char* value = p + 5;
        if (*value == ' ') ++value;
        // The first data line is still a view into the chunk: copy it now,
        // inline, in whole blocks (bytes past it land in spare capacity).
        std::string_view first;
        if (data_.borrowed()) {
          first = data_.view();
          data_.clear();
        }
        std::size_t room = 0;
        char* at = data_.tail(first.size() + 1 + 64, &room);
        if (!first.empty()) {
          SSEKIT_COUNT_WORK(bytes_copied, first.size());
          if (static_cast<std::size_t>(end - first.data()) >= first.size() + 63)
            detail::copy_blocks_avx2(at, first.data(), first.size());
          else
            std::memcpy(at, first.data(), first.size());
          data_.commit(first.size());
          at += first.size();
          room -= first.size();
        }
        *at = '\n';
        const detail::line_copy line = detail::find_line_end_copy_avx2(value, end, at + 1, room - 1);
        SSEKIT_COUNT_WORK(bytes_scanned, line.end - value);
        if (line.end != end) {
          if (long_lines && static_cast<std::size_t>(line.end - p) > options_.max_line_length) {
            fail(errc::line_too_long, offset_of(p));
            return error_;
          }
          const std::string_view v(value, static_cast<std::size_t>(line.end - value));
          if (v.size() + 1 > options_.max_event_size - event_size_) {
            fail(errc::event_too_large, offset_of(p));
            return error_;
          }
          event_size_ += v.size() + 1;
          if (needs_repair(line.ascii) && invalid_utf8(v)) {
            data_.append_line_repaired(v);
          } else if (line.copied) {
            SSEKIT_COUNT_WORK(bytes_copied, v.size() + 1);
            data_.commit(v.size() + 1);
          } else {
            data_.append_line(v);
          }
          p = after_line_end(line.end);
          continue;
        }
        // The line goes on in the next chunk: the general path below.
      }
    }
#endif
    const detail::line_scan line = scan_line<Avx2>(p, end);
    if (line.end == end) {
      // The line goes on in the next chunk.
      pending_ = line_kind::name;
      pending_length_ = 0;
      pending_ascii_ = true;
      partial_line_.clear();
      line_start_ = offset_of(p);
      if (!continue_line(p, end, line.ascii)) return error_;
      break;
    }
    if (long_lines && static_cast<std::size_t>(line.end - p) > options_.max_line_length) {
      fail(errc::line_too_long, offset_of(p));
      return error_;
    }
    const std::string_view text(p, static_cast<std::size_t>(line.end - p));
    if (data_line) {
      std::string_view value = text.substr(5);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      append_data(value, line.ascii, p);
    } else {
      process_other_line(text, line.ascii, p);
    }
    if (error_) return error_;
    p = after_line_end(line.end);
  }

  // The chunk goes away when feed() returns: keep what the event still needs.
  data_.own();
  type_.own();
  id_.own();
  return error_;
}

// Takes bytes [p, q) of the pending line (q is its end or the chunk's).
bool parser::continue_line(const char* p, const char* q, bool ascii) {
  const auto n = static_cast<std::size_t>(q - p);
  if (n > options_.max_line_length || pending_length_ > options_.max_line_length - n) {
    fail(errc::line_too_long, line_start_);
    return false;
  }
  pending_length_ += n;
  pending_ascii_ = pending_ascii_ && ascii;
  if (pending_ == line_kind::name) {
    // Up to "retry:", the longest name and its colon, tells which field
    // this is; the rest need not be looked at here.
    constexpr std::size_t longest = 6;
    const std::size_t take = std::min(n, longest - partial_line_.size());
    SSEKIT_COUNT_WORK(bytes_copied, take);
    partial_line_.append(p, take);
    p += take;
    const std::string_view line = partial_line_;
    const std::size_t colon = line.find(':');
    if (colon == 0) {
      pending_ = line_kind::comment;
    } else if (colon == std::string_view::npos) {
      if (line.size() == longest) pending_ = line_kind::ignored;
      return true;  // all of [p, q) was taken, or is ignored
    } else {
      const std::string_view name = line.substr(0, colon);
      if (name == "retry") {
        pending_ = line_kind::retry;
      } else if (name == "data" || name == "event" || name == "id") {
        start_value(name == "data" ? line_kind::data : name == "event" ? line_kind::event : line_kind::id);
        // The value bytes that came with the name (at most 5).
        char head[longest];
        const std::size_t head_size = line.size() - colon - 1;
        std::memcpy(head, line.data() + colon + 1, head_size);
        partial_line_.clear();
        append_value(head, head + head_size);
      } else {
        pending_ = line_kind::ignored;
      }
    }
  }
  switch (pending_) {
    case line_kind::data:
    case line_kind::event:
    case line_kind::id:
      append_value(p, q);
      break;
    case line_kind::comment:
    case line_kind::retry:
      SSEKIT_COUNT_WORK(bytes_copied, q - p);
      partial_line_.append(p, static_cast<std::size_t>(q - p));
      break;
    default:
      break;
  }
  return true;
}

// The pending line is a data, event or id field: its value goes straight
// into its buffer from here on.
void parser::start_value(line_kind kind) {
  pending_ = kind;
  strip_space_ = true;
  over_limit_ = false;
  id_has_nul_ = false;
  value_size_ = 0;
  if (kind == line_kind::data) {
    data_.own();
    limit_base_ = event_size_;
    if (has_data_) {
      if (event_size_ == options_.max_event_size) over_limit_ = true;
      else data_.push_back('\n');
      ++limit_base_;
    } else {
      data_.clear();
      has_data_ = true;
    }
    value_start_ = data_.size();
  } else if (kind == line_kind::event) {
    limit_base_ = event_size_ - type_size_;
    type_.clear();
    value_start_ = 0;
  } else {
    limit_base_ = event_size_ - (id_changed_ ? id_size_ : 0);
    id_line_.clear();
    value_start_ = 0;
  }
}

void parser::append_value(const char* p, const char* q) {
  if (strip_space_ && p < q) {
    strip_space_ = false;
    if (*p == ' ') ++p;
  }
  const auto n = static_cast<std::size_t>(q - p);
  if (pending_ == line_kind::id && n != 0 && std::memchr(p, 0, n) != nullptr) id_has_nul_ = true;
  if (over_limit_) return;
  // limit_base_ + value_size_ <= max_event_size holds while over_limit_ is false.
  if (n > options_.max_event_size - limit_base_ - value_size_) {
    // Keep reading the line (a longer one is line_too_long, an ignored id
    // no error) but store no more of it.
    over_limit_ = true;
    return;
  }
  value_size_ += n;
  field_buffer& buffer = pending_ == line_kind::data ? data_ : pending_ == line_kind::event ? type_ : id_line_;
  buffer.append(p, n);
}

void parser::end_line() {
  const line_kind kind = pending_;
  pending_ = line_kind::none;
  switch (kind) {
    case line_kind::name:
    case line_kind::comment:
    case line_kind::retry:
      process_line(partial_line_, pending_ascii_, nullptr);
      partial_line_.clear();
      return;
    case line_kind::data:
    case line_kind::event:
    case line_kind::id:
      break;
    default:
      partial_line_.clear();
      return;
  }
  if (kind == line_kind::id && id_has_nul_) return;  // ignored as a whole
  if (over_limit_) {
    fail(errc::event_too_large, line_start_);
    return;
  }
  field_buffer& buffer = kind == line_kind::data ? data_ : kind == line_kind::event ? type_ : id_line_;
  if (needs_repair(pending_ascii_)) buffer.repair_from(value_start_, repair_scratch_);
  event_size_ = limit_base_ + value_size_;
  if (kind == line_kind::event) {
    type_size_ = value_size_;
  } else if (kind == line_kind::id) {
    id_size_ = value_size_;
    id_.swap(id_line_);
    id_changed_ = true;
  }
}

SSEKIT_HOT_INLINE void parser::process_line(std::string_view line, bool ascii, const char* chunk_line) {
  if (line.empty()) {
#if SSEKIT_CHECK_CALLER
    const unsigned char* const stop = stop_;
    dispatch();
    after_handler(stop);
#else
    dispatch();
#endif
    return;
  }
  // The common "data:" line first, without a call.
  if (line.size() >= 5 && std::memcmp(line.data(), "data:", 5) == 0) {
    std::string_view value = line.substr(5);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    append_data(value, ascii, chunk_line);
    return;
  }
  process_other_line(line, ascii, chunk_line);
}

SSEKIT_HOT_INLINE void parser::set_type(std::string_view value, bool ascii, const char* chunk_line) {
  const std::size_t others = event_size_ - type_size_;
  if (value.size() > options_.max_event_size - others) {
    fail(errc::event_too_large, line_offset(chunk_line));
    return;
  }
  event_size_ = others + value.size();
  type_size_ = value.size();
  if (needs_repair(ascii) && invalid_utf8(value)) type_.assign_repaired(value);
  else type_.assign(value, chunk_line != nullptr);
}

SSEKIT_HOT_INLINE void parser::set_id(std::string_view value, bool ascii, const char* chunk_line) {
  const std::size_t others = event_size_ - (id_changed_ ? id_size_ : 0);
  if (value.size() > options_.max_event_size - others) {
    fail(errc::event_too_large, line_offset(chunk_line));
    return;
  }
  event_size_ = others + value.size();
  id_size_ = value.size();
  id_changed_ = true;
  if (needs_repair(ascii) && invalid_utf8(value)) id_.assign_repaired(value);
  else id_.assign(value, chunk_line != nullptr);
}

SSEKIT_HOT_INLINE void parser::process_other_line(std::string_view line, bool ascii, const char* chunk_line) {
  // A field name is one of four exact words, so the first byte decides
  // which one to try and no search for the colon is needed.
  std::string_view value;
  switch (line.front()) {
    case ':':
      deliver_comment(line.substr(1), ascii);
      break;
    case 'd':  // "data" without a colon: an empty data line
      if (match_field(line, "data", &value)) append_data(value, ascii, chunk_line);
      break;
    case 'e':
      if (match_field(line, "event", &value)) set_type(value, ascii, chunk_line);
      break;
    case 'i':
      // An id containing NUL is ignored as a whole.
      if (match_field(line, "id", &value) && !has_nul(value, chunk_line != nullptr ? chunk_end_ : nullptr))
        set_id(value, ascii, chunk_line);
      break;
    case 'r':
      if (std::uint64_t milliseconds = 0; match_field(line, "retry", &value) && parse_retry(value, &milliseconds))
        deliver_retry(milliseconds);
      break;
    default:
      break;  // any other field is ignored
  }
}

SSEKIT_HOT_INLINE void parser::append_data(std::string_view value, bool ascii, const char* chunk_line) {
  // The event's size after the append; event_size_ never exceeds the limit.
  const std::size_t added = value.size() + (has_data_ ? 1 : 0);
  if (added > options_.max_event_size - event_size_) {
    fail(errc::event_too_large, line_offset(chunk_line));
    return;
  }
  event_size_ += added;
  const bool repair = needs_repair(ascii) && invalid_utf8(value);
  if (has_data_) {
    if (repair) data_.append_line_repaired(value);
    else data_.append_line(value);
  } else {
    if (repair) data_.assign_repaired(value);
    else data_.assign(value, chunk_line != nullptr);
    has_data_ = true;
  }
}

SSEKIT_HOT_INLINE void parser::dispatch() {
  // The last event id is updated even when no event is delivered.
  if (id_changed_) {
    id_changed_ = false;
    ++last_event_id_version_;
    if (id_.borrowed()) {
      last_event_id_.assign(id_.view(), true);  // feed() makes it owned before it returns
      id_.clear();  // spent: feed()'s end copies it no more (one copy of a long id, not two)
    } else if (id_.size() <= kept_capacity) {
      last_event_id_.assign(id_.view(), false);  // small: a copy keeps both buffers' capacity
    } else {
      id_.own();
      last_event_id_.swap(id_);  // large: no second copy
    }
  }
  event_size_ = 0;
  type_size_ = 0;
  id_size_ = 0;
  if (!has_data_) {
    type_.clear();
    return;
  }
  std::string_view type = type_.view();
  if (type.empty()) type = "message";
  const event ev{type, data_.view(), last_event_id_.view()};
  // Cleared before the callback: clear() keeps the bytes the views show
  // (nothing writes them during a callback), and the callback may throw or
  // destroy the parser, after which nothing of it may be touched.
  has_data_ = false;
  data_.clear();
  type_.clear();
  handler_.on_event(ev);
}

void parser::deliver_comment(std::string_view text, bool ascii) {
#if SSEKIT_CHECK_CALLER
  const unsigned char* const stop = stop_;
#endif
  handler_.on_comment(options_.raw_bytes || ascii ? text : as_valid_utf8(text, repaired_comment_));
#if SSEKIT_CHECK_CALLER
  after_handler(stop);
#endif
}

void parser::deliver_retry(std::uint64_t milliseconds) {
#if SSEKIT_CHECK_CALLER
  const unsigned char* const stop = stop_;
#endif
  handler_.on_retry(milliseconds);
#if SSEKIT_CHECK_CALLER
  after_handler(stop);
#endif
}

parse_error parser::finish() {
#if SSEKIT_CHECK_CALLER
  if (busy_) return refuse_reentry();
#endif
  if (error_) return error_;
  // Bytes held as a possible BOM turned out to be a line; the limit applies
  // to it as to any other unterminated line.
  if (at_stream_start_ && bom_held_ > options_.max_line_length) {
    fail(errc::line_too_long, 0);
    return error_;
  }
  // An unterminated line and an undispatched event are dropped.
  finished_ = true;
  pending_ = line_kind::none;
  partial_line_.clear();
  has_data_ = false;
  data_.clear();
  type_.clear();
  event_size_ = type_size_ = id_size_ = 0;
  return error_;
}

void parser::reset() {
#if SSEKIT_CHECK_CALLER
  if (busy_) {
    refuse_reentry();
    return;
  }
#endif
  stream_offset_ = 0;
  line_start_ = 0;
  error_ = {};
  finished_ = false;
  at_stream_start_ = true;
  bom_held_ = 0;
  skip_lf_ = false;
  pending_ = line_kind::none;
  release_if_large(partial_line_);
  has_data_ = false;
  data_.release();
  type_.release();
  id_.release();
  id_line_.release();
  event_size_ = type_size_ = id_size_ = 0;
  // A new connection resumes from the id the application last saw.
  id_changed_ = false;
  release_if_large(repair_scratch_);
  release_if_large(repaired_comment_);
}

}  // namespace ssekit

// Flat C ABI over ssekit::core for the npm package (js/src/index.cjs).
//
// One call per chunk: JS copies the chunk into the shared input region
// (ssekit_input), calls ssekit_parser_feed once, then reads the parser's
// header and record buffer and turns them into JS values before feed()
// returns. Nothing in WASM memory is kept by JS across calls: memory can grow
// (which detaches JS views) and the buffers are reused.
//
// Text: the parser repairs invalid UTF-8 itself (the same U+FFFD rules as
// TextDecoder), so every string is valid UTF-8 and any concatenation of
// them decodes to the concatenation of their decodings. Each call's strings
// are copied into two texts, one of pure-ASCII strings and one of the rest;
// JS decodes each text once (the other one in the pieces cut_finder picks)
// and slices out the strings. Per-string TextDecoder calls were most of the
// JS side's cost, and an all-ASCII text decodes several times faster.
//
// Record buffer: uint32 words, one record after another, in stream order.
//   event:   [SSEKIT_EVENT | flags, type start, type length, data start, data length, id start, id length]
//   comment: [SSEKIT_COMMENT | flags, start, length]
//   retry:   [SSEKIT_RETRY, low 32 bits, high 32 bits]
// A string's start and length are in UTF-16 units in the ASCII text, or in
// the other text when its SSEKIT_WIDE(field) flag is set (field: 0 type or
// comment, 1 data, 2 id). Flags: SSEKIT_TYPE_MESSAGE (the type is "message";
// start and length are 0), SSEKIT_ID_SAME (the id equals the one of this
// parser's previous event record; start and length are 0) and
// SSEKIT_TYPE_CACHED (the type equals the one JS stored in slot tag >> 16;
// start and length are 0); a type sent as text is stored in slot tag >> 16.
// So JS reuses its strings for the common repeated ones.
//
// Big data (SSEKIT_TAKEN, data_taken_min bytes or more) is not copied into
// a text: the bridge hands the core's view to JS at once (ssekit_take, an
// import), JS decodes it during the call and the record's data start is the
// string's index in that call's list. One copy less keeps a parser's peak
// memory for a huge event near twice its size instead of three times.
#include <emscripten/emscripten.h>
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ssekit/error.hpp"
#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"

namespace {

constexpr std::uint32_t SSEKIT_EVENT = 1;
constexpr std::uint32_t SSEKIT_COMMENT = 2;
constexpr std::uint32_t SSEKIT_RETRY = 3;
constexpr std::uint32_t SSEKIT_TYPE_MESSAGE = 1u << 8;
constexpr std::uint32_t SSEKIT_ID_SAME = 1u << 9;
constexpr std::uint32_t SSEKIT_TYPE_CACHED = 1u << 10;
constexpr std::uint32_t SSEKIT_WIDE(int field) { return 1u << (12 + field); }
constexpr std::uint32_t SSEKIT_TAKEN = 1u << 15;
constexpr std::uint32_t SSEKIT_TYPE_SLOT(std::uint32_t slot) { return slot << 16; }
constexpr std::size_t data_taken_min = 1 << 20;
// Event types seen recently; real streams use a handful of them.
constexpr std::uint32_t type_slots = 8;

std::uint32_t address(const char* p) { return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p)); }

}  // namespace

// Provided by js/src/wasm.cjs: decodes [p, p + n) (valid UTF-8) now and
// returns its index in the current call's list.
extern "C" __attribute__((import_module("env"), import_name("ssekit_take"))) std::uint32_t ssekit_take(const char* p, std::uint32_t n);

namespace {

// Read by JS at fixed word offsets (see HEADER_* in js/src/index.cjs).
struct header {
  std::uint32_t status;       // errc of the last call (sticky error included)
  std::uint32_t records;      // address of the record buffer
  std::uint32_t words;        // words in the record buffer
  std::uint32_t error_low;    // error offset, low 32 bits
  std::uint32_t error_high;   // error offset, high 32 bits
  std::uint32_t string_ptr;   // ssekit_parser_last_event_id() result
  std::uint32_t string_len;
  std::uint32_t ascii_ptr;    // the ASCII text: address and length in bytes
  std::uint32_t ascii_len;
  std::uint32_t wide_ptr;     // the other text: address and length in bytes
  std::uint32_t wide_len;
  std::uint32_t cuts_ptr;     // where JS cuts the other text: address of uint32 byte offsets
  std::uint32_t cuts_count;
};

struct text_size {
  std::uint32_t units;  // UTF-16 length
  bool ascii;
};

// UTF-16 length of valid UTF-8: one unit per byte that is not a
// continuation byte (10xxxxxx), plus one more per 4-byte sequence (lead
// byte F0-F4), whose code point needs a surrogate pair.
text_size measure(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  std::uint32_t units = 0;
  std::uint32_t high = 0;
#if defined(__wasm_simd128__)
  while (end - p >= 16) {
    const v128_t v = wasm_v128_load(p);
    const auto h = static_cast<std::uint32_t>(wasm_i8x16_bitmask(v));
    if (h == 0) {
      units += 16;
    } else {
      high |= h;
      const auto leads = static_cast<std::uint32_t>(wasm_i8x16_bitmask(wasm_i8x16_gt(v, wasm_i8x16_splat(-65))));
      const auto long_leads = static_cast<std::uint32_t>(wasm_i8x16_bitmask(wasm_u8x16_ge(v, wasm_u8x16_splat(0xF0))));
      units += static_cast<std::uint32_t>(std::popcount(leads) + std::popcount(long_leads));
    }
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    high |= *p & 0x80u;
    units += ((*p & 0xC0u) != 0x80u) + (*p >= 0xF0u);
  }
  return {units, high == 0};
}

// Bytes handed to JS. std::string's append is compiled into the prebuilt
// libc++ and copies with libc's memcpy loop; std::memcpy compiled here is
// one memory.copy (-mbulk-memory), which halved the cost of the copies.
class byte_buffer {
 public:
  const char* data() const noexcept { return bytes_.get(); }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept { size_ = 0; }
  void release_if_larger(std::size_t keep) {
    if (capacity_ <= keep) return;
    bytes_.reset();
    capacity_ = 0;
  }
  void append(std::string_view s) {
    if (s.size() > capacity_ - size_) grow(size_ + s.size());
    if (!s.empty()) std::memcpy(bytes_.get() + size_, s.data(), s.size());
    size_ += s.size();
  }

 private:
  void grow(std::size_t needed) {
    const std::size_t capacity = std::max({needed, 2 * capacity_, std::size_t{4096}});
    std::unique_ptr<char[]> bytes(new char[capacity]);
    if (size_ != 0) std::memcpy(bytes.get(), bytes_.get(), size_);
    bytes_ = std::move(bytes);
    capacity_ = capacity;
  }
  std::unique_ptr<char[]> bytes_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// V8 decodes the ASCII start of a UTF-8 string several times faster than
// the rest: after the first byte >= 0x80, every byte takes the slow path.
// So the other text is decoded in pieces that each start with a long ASCII
// run, cut where such a run follows other bytes, and JS joins them (a
// 64 KiB text with a few accented words decoded 1.7x faster). Shorter runs
// are not worth one more decode call.
constexpr std::size_t min_ascii_run = 256;

class cut_finder {
 public:
  void clear() {
    cuts_.clear();
    in_run_ = false;
    slow_ = false;
  }
  // `s` (valid UTF-8) is appended to the text at byte offset `at`.
  void scan(std::string_view s, std::size_t at) {
    const auto* const begin = reinterpret_cast<const unsigned char*>(s.data());
    const auto* const end = begin + s.size();
    const auto* p = begin;
    const auto pos = [&](const unsigned char* q) { return at + static_cast<std::size_t>(q - begin); };
#if defined(__wasm_simd128__)
    for (; end - p >= 16; p += 16) {
      const auto high = static_cast<std::uint32_t>(wasm_i8x16_bitmask(wasm_v128_load(p)));
      if (high == 0) {
        if (!in_run_) start_run(pos(p));
        continue;
      }
      const int first = std::countr_zero(high);
      if (first > 0 && !in_run_) start_run(pos(p));
      other_byte(pos(p + first));
      const int last = 31 - std::countl_zero(high);
      if (last < 15) start_run(pos(p + last + 1));
    }
#endif
    for (; p < end; ++p) {
      if (*p >= 0x80) other_byte(pos(p));
      else if (!in_run_) start_run(pos(p));
    }
  }
  const std::vector<std::uint32_t>& cuts() const noexcept { return cuts_; }

 private:
  void start_run(std::size_t at) {
    run_start_ = at;
    in_run_ = true;
  }
  void other_byte(std::size_t at) {
    // The run is ASCII, so its start is a character boundary.
    if (slow_ && in_run_ && at - run_start_ >= min_ascii_run) cuts_.push_back(static_cast<std::uint32_t>(run_start_));
    slow_ = true;
    in_run_ = false;
  }

  std::vector<std::uint32_t> cuts_;
  std::size_t run_start_ = 0;
  bool in_run_ = false;  // bytes from run_start_ on are ASCII
  bool slow_ = false;    // the current piece has a byte >= 0x80
};

class bridge_parser final : public ssekit::handler {
 public:
  explicit bridge_parser(ssekit::parser_options options) : parser_(*this, options) {}

  header head{};

  std::uint32_t feed(const char* p, std::size_t n) {
    begin();
    return end(parser_.feed(std::string_view(p, n)));
  }
  std::uint32_t finish() {
    begin();
    return end(parser_.finish());
  }
  void reset() {
    parser_.reset();
    records_.clear();
    head.status = 0;
    head.error_low = head.error_high = 0;
  }
  void set_last_event_id(std::string_view id) { parser_.set_last_event_id(id); }
  void last_event_id() {
    const std::string_view id = parser_.last_event_id();
    head.string_ptr = address(id.data());
    head.string_len = static_cast<std::uint32_t>(id.size());
  }

  void on_event(const ssekit::event& ev) override {
    std::uint32_t flags = SSEKIT_EVENT;
    const std::size_t at = records_.size();
    records_.resize(at + 7);
    if (ev.type == "message") {
      flags |= SSEKIT_TYPE_MESSAGE;
    } else {
      flags |= put_type(at + 1, ev.type);
    }
    if (ev.data.size() >= data_taken_min) {
      records_[at + 3] = ssekit_take(ev.data.data(), static_cast<std::uint32_t>(ev.data.size()));
      records_[at + 4] = 0;
      flags |= SSEKIT_TAKEN;
    } else {
      flags |= put(at + 3, ev.data, 1);
    }
    if (have_id_ && ev.last_event_id == last_id_) {
      flags |= SSEKIT_ID_SAME;
    } else {
      last_id_.assign(ev.last_event_id);
      have_id_ = true;
      flags |= put(at + 5, ev.last_event_id, 2);
    }
    records_[at] = flags;
  }
  void on_comment(std::string_view text) override {
    const std::size_t at = records_.size();
    records_.resize(at + 3);
    records_[at] = SSEKIT_COMMENT | put(at + 1, text, 0);
  }
  void on_retry(std::uint64_t ms) override {
    records_.insert(records_.end(), {SSEKIT_RETRY, static_cast<std::uint32_t>(ms), static_cast<std::uint32_t>(ms >> 32)});
  }

 private:
  void begin() {
    // One huge event must not keep its copy for the parser's lifetime.
    constexpr std::size_t keep = 1 << 20;
    ascii_.release_if_larger(keep);
    wide_.release_if_larger(keep);
    if (records_.capacity() > keep) std::vector<std::uint32_t>().swap(records_);
    records_.clear();
    ascii_.clear();
    wide_.clear();
    wide_units_ = 0;
    cuts_.clear();
  }

  std::uint32_t end(const ssekit::parse_error& err) {
    head.status = static_cast<std::uint32_t>(err.code);
    head.error_low = static_cast<std::uint32_t>(err.offset);
    head.error_high = static_cast<std::uint32_t>(err.offset >> 32);
    head.records = address(reinterpret_cast<const char*>(records_.data()));
    head.words = static_cast<std::uint32_t>(records_.size());
    head.ascii_ptr = address(ascii_.data());
    head.ascii_len = static_cast<std::uint32_t>(ascii_.size());
    head.wide_ptr = address(wide_.data());
    head.wide_len = static_cast<std::uint32_t>(wide_.size());
    head.cuts_ptr = address(reinterpret_cast<const char*>(cuts_.cuts().data()));
    head.cuts_count = static_cast<std::uint32_t>(cuts_.cuts().size());
    return head.status;
  }

  // Appends `s` to the text it belongs in and stores its start and length
  // (UTF-16 units) at records_[at], records_[at + 1]; returns the flag.
  std::uint32_t put(std::size_t at, std::string_view s, int field) {
    const text_size size = measure(s);
    records_[at + 1] = size.units;
    if (size.ascii) {
      records_[at] = static_cast<std::uint32_t>(ascii_.size());
      ascii_.append(s);
      return 0;
    }
    records_[at] = wide_units_;
    cuts_.scan(s, wide_.size());
    wide_.append(s);
    wide_units_ += size.units;
    return SSEKIT_WIDE(field);
  }

  std::uint32_t put_type(std::size_t at, std::string_view type) {
    for (std::uint32_t slot = 0; slot < type_slots; ++slot) {
      if (types_[slot] == type) return SSEKIT_TYPE_CACHED | SSEKIT_TYPE_SLOT(slot);
    }
    // Round robin: a stream with many types just misses the cache.
    const std::uint32_t slot = next_type_slot_;
    next_type_slot_ = (next_type_slot_ + 1) % type_slots;
    types_[slot].assign(type);
    return put(at, type, 0) | SSEKIT_TYPE_SLOT(slot);
  }

  ssekit::parser parser_;
  std::vector<std::uint32_t> records_;
  byte_buffer ascii_;
  byte_buffer wide_;
  std::uint32_t wide_units_ = 0;  // UTF-16 length of wide_
  cut_finder cuts_;               // in wide_
  std::string last_id_;           // id of the last event record (SSEKIT_ID_SAME)
  bool have_id_ = false;
  // Mirrors JS's type slots. Empty types never reach here ("message").
  std::string types_[type_slots];
  std::uint32_t next_type_slot_ = 0;
};

std::vector<char> input_region;
std::string output;
// Serializer result, read by JS: [address, length] of `output`.
std::uint32_t output_header[2];

std::uint32_t finish_output(ssekit::errc code) {
  output_header[0] = address(output.data());
  output_header[1] = static_cast<std::uint32_t>(output.size());
  return static_cast<std::uint32_t>(code);
}

std::uint64_t u64(std::uint32_t low, std::uint32_t high) { return (std::uint64_t{high} << 32) | low; }

std::string_view view(const char* p, std::uint32_t n) { return {n ? p : "", n}; }

}  // namespace

extern "C" {

// The shared input region, at least `size` bytes. The address changes when
// it grows; JS asks again before every copy.
EMSCRIPTEN_KEEPALIVE char* ssekit_input(std::uint32_t size) {
  if (input_region.size() < size) input_region.resize(size);
  return input_region.data();
}

// The core's defaults, so JS does not repeat them.
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_default_max_line_length() {
  return static_cast<std::uint32_t>(ssekit::parser_options{}.max_line_length);
}
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_default_max_event_size() {
  return static_cast<std::uint32_t>(ssekit::parser_options{}.max_event_size);
}

// size_t is 32 bits here: 0xffffffff is SIZE_MAX, i.e. no limit but memory.
// Returns null when out of memory. No raw_bytes: the texts need valid UTF-8.
EMSCRIPTEN_KEEPALIVE bridge_parser* ssekit_parser_create(std::uint32_t max_line_length, std::uint32_t max_event_size) {
  ssekit::parser_options options;
  options.max_line_length = max_line_length;
  options.max_event_size = max_event_size;
  return new (std::nothrow) bridge_parser(options);
}

// Address of the parser's header (fixed for its lifetime).
EMSCRIPTEN_KEEPALIVE header* ssekit_parser_header(bridge_parser* p) { return &p->head; }

EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_parser_feed(bridge_parser* p, const char* data, std::uint32_t size) {
  return p->feed(data, size);
}
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_parser_finish(bridge_parser* p) { return p->finish(); }
EMSCRIPTEN_KEEPALIVE void ssekit_parser_reset(bridge_parser* p) { p->reset(); }
// Puts the last event id's address and length into the header.
EMSCRIPTEN_KEEPALIVE void ssekit_parser_last_event_id(bridge_parser* p) { p->last_event_id(); }
// The id is in the input region (JS encodes it there).
EMSCRIPTEN_KEEPALIVE void ssekit_parser_set_last_event_id(bridge_parser* p, const char* id, std::uint32_t len) {
  p->set_last_event_id(view(id, len));
}
EMSCRIPTEN_KEEPALIVE void ssekit_parser_free(bridge_parser* p) { delete p; }

// Error names and messages: address and length, for codes JS has not seen yet.
EMSCRIPTEN_KEEPALIVE const char* ssekit_error_name_ptr(int code) { return ssekit::error_name(static_cast<ssekit::errc>(code)).data(); }
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_error_name_len(int code) {
  return static_cast<std::uint32_t>(ssekit::error_name(static_cast<ssekit::errc>(code)).size());
}
EMSCRIPTEN_KEEPALIVE const char* ssekit_error_message_ptr(int code) {
  return ssekit::error_message(static_cast<ssekit::errc>(code)).data();
}
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_error_message_len(int code) {
  return static_cast<std::uint32_t>(ssekit::error_message(static_cast<ssekit::errc>(code)).size());
}

// Serializer: inputs are in WASM memory (JS encodes them into the input
// region); the result replaces `output` and is described by output_header.
EMSCRIPTEN_KEEPALIVE std::uint32_t* ssekit_output_header() { return output_header; }

EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_serialize_event(const char* data, std::uint32_t data_len, const char* type,
                                                          std::uint32_t type_len, const char* id, std::uint32_t id_len,
                                                          int has_id, int has_retry, std::uint32_t retry_low,
                                                          std::uint32_t retry_high) {
  ssekit::outgoing_event ev;
  ev.data = view(data, data_len);
  ev.type = view(type, type_len);
  if (has_id) ev.id = view(id, id_len);
  if (has_retry) ev.retry = u64(retry_low, retry_high);
  output.clear();
  return finish_output(ssekit::serialize_event(output, ev));
}
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_serialize_comment(const char* text, std::uint32_t len) {
  output.clear();
  return finish_output(ssekit::serialize_comment(output, view(text, len)));
}
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_serialize_retry(std::uint32_t low, std::uint32_t high) {
  output.clear();
  ssekit::serialize_retry(output, u64(low, high));
  return finish_output(ssekit::errc::ok);
}
EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_serialize_heartbeat() {
  output.clear();
  ssekit::serialize_heartbeat(output);
  return finish_output(ssekit::errc::ok);
}

}  // extern "C"

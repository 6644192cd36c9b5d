// The bridge's encoder: the core's parser, with what one call produced laid
// out for js/src/parser.cjs. Portable C++ (the WASM SIMD paths have scalar
// fallbacks), so tests/bridge_encoder_test.cpp and fuzz/fuzz_bridge.cpp run
// it natively against the core; bridge_parser.cpp exports it to JS. The constants
// and the header's word offsets are in bridge_abi.hpp.
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
//   event:   [RECORD_EVENT | flags, type start, type length, data start, data length, id start, id length]
//   comment: [RECORD_COMMENT | flags, start, length]
//   retry:   [RECORD_RETRY, low 32 bits, high 32 bits]
// A string's start and length are in UTF-16 units in the ASCII text, or in
// the other text when its wide_flag(field) is set (WIDE_TYPE for the type or
// a comment, WIDE_DATA, WIDE_ID). Flags: TYPE_MESSAGE (the type is "message";
// start and length are 0), ID_SAME (the id equals the one of this parser's
// previous event record; start and length are 0) and TYPE_CACHED (the type
// equals the one JS stored in slot tag >> TYPE_SLOT_SHIFT; start and length
// are 0); a type sent as text with TYPE_STORE is stored in slot
// tag >> TYPE_SLOT_SHIFT (short types only: a long one stored there would
// stay held, up to TYPE_SLOTS of them, for as long as the parser lives).
// So JS reuses its strings for the common repeated ones.
//
// Big strings (taken_min bytes or more: data, TAKEN_DATA; a type that is
// not cached, TAKEN_TYPE; an id, TAKEN_ID) are not copied into a text: the
// encoder hands the core's view to JS at once (ssekit_take, an import in the
// WASM build), JS decodes it during the call, and the record's start is the
// string's index in that call's list (length 0). One copy less keeps a
// parser's peak memory for a huge event near twice its size, not three
// times; for a long type or id it was four (a copy in the text, and for the
// id one more kept to compare the next event's with: ID_SAME for a taken id
// comes from the core's last_event_id_version() instead).
#pragma once

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge_abi.hpp"
#include "ssekit/parser.hpp"

namespace ssekit::bridge {

constexpr std::size_t taken_min = 1 << 20;

struct text_size {
  std::uint32_t units;  // UTF-16 length
  bool ascii;
};

// UTF-16 length of valid UTF-8: one unit per byte that is not a
// continuation byte (10xxxxxx), plus one more per 4-byte sequence (lead
// byte F0-F4), whose code point needs a surrogate pair.
inline text_size measure(std::string_view s) noexcept {
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
  [[gnu::noinline]] void grow(std::size_t needed) {  // cold: kept out of the callers (bundle size)
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

// The record words. std::vector's resize() is compiled into the prebuilt
// libc++ (an out-of-line __append per record: 4% of a small event's time in
// Chromium's profile); this one's extend() is inline.
class word_buffer {
 public:
  const std::uint32_t* data() const noexcept { return words_.get(); }
  std::size_t size() const noexcept { return size_; }
  std::uint32_t& operator[](std::size_t i) noexcept { return words_[i]; }
  void clear() noexcept { size_ = 0; }
  void release_if_larger(std::size_t keep) {
    if (capacity_ <= keep) return;
    words_.reset();
    capacity_ = 0;
    size_ = 0;
  }
  // Adds `n` zero words; returns the index of the first.
  std::size_t extend(std::size_t n) {
    if (n > capacity_ - size_) grow(size_ + n);
    const std::size_t at = size_;
    std::memset(words_.get() + at, 0, n * sizeof(std::uint32_t));
    size_ += n;
    return at;
  }

 private:
  [[gnu::noinline]] void grow(std::size_t needed) {  // cold: kept out of the callers (bundle size)
    const std::size_t capacity = std::max({needed, 2 * capacity_, std::size_t{1024}});
    std::unique_ptr<std::uint32_t[]> words(new std::uint32_t[capacity]);
    if (size_ != 0) std::memcpy(words.get(), words_.get(), size_ * sizeof(std::uint32_t));
    words_ = std::move(words);
    capacity_ = capacity;
  }
  std::unique_ptr<std::uint32_t[]> words_;
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

// Takes a string of taken_min bytes or more during the call (the view is
// valid only then) and returns its index in the call's list (TAKEN_*).
using take_function = std::uint32_t (*)(void* context, std::string_view data);

// The core's parser with the bridge's encoding: after each feed() or
// finish(), records(), ascii(), wide() and cuts() hold what the call
// produced, valid until the next call.
class bridge_parser final : public ssekit::handler {
 public:
  // `take_min`: strings of this many bytes or more go to `take` (tests lower it).
  bridge_parser(ssekit::parser_options options, take_function take, void* take_context,
                std::size_t take_min = taken_min)
      : parser_(*this, options), take_(take), take_context_(take_context), take_min_(take_min) {}

  ssekit::parse_error feed(std::string_view chunk) {
    begin();
    return parser_.feed(chunk);
  }
  ssekit::parse_error finish() {
    begin();
    return parser_.finish();
  }
  void reset() {
    parser_.reset();
    records_.clear();
  }
  void set_last_event_id(std::string_view id) { parser_.set_last_event_id(id); }
  std::string_view last_event_id() const noexcept { return parser_.last_event_id(); }

  std::span<const std::uint32_t> records() const noexcept { return {records_.data(), records_.size()}; }
  std::string_view ascii() const noexcept { return {ascii_.data(), ascii_.size()}; }
  std::string_view wide() const noexcept { return {wide_.data(), wide_.size()}; }
  const std::vector<std::uint32_t>& cuts() const noexcept { return cuts_.cuts(); }

  void on_event(const ssekit::event& ev) override {
    std::uint32_t flags = RECORD_EVENT;
    const std::size_t at = records_.extend(EVENT_WORDS);
    if (ev.type == "message") {
      flags |= TYPE_MESSAGE;
    } else {
      flags |= put_type(at + 1, ev.type);
    }
    flags |= place(at + 3, ev.data, 1);
    // The id of the previous event record: not set since (its version), or
    // set again to the same short id (a copy is kept of short ones only).
    const std::uint64_t version = parser_.last_event_id_version();
    if (have_id_ && (version == id_version_ || (!id_taken_ && ev.last_event_id == last_id_))) {
      flags |= ID_SAME;
    } else {
      const std::uint32_t placed = place(at + 5, ev.last_event_id, 2);
      id_taken_ = placed == TAKEN_ID;
      if (id_taken_) std::string().swap(last_id_);
      else last_id_.assign(ev.last_event_id);
      have_id_ = true;
      flags |= placed;
    }
    id_version_ = version;
    records_[at] = flags;
  }
  void on_comment(std::string_view text) override {
    const std::size_t at = records_.extend(COMMENT_WORDS);
    records_[at] = RECORD_COMMENT | put(at + 1, text, 0);
  }
  void on_retry(std::uint64_t ms) override {
    const std::size_t at = records_.extend(RETRY_WORDS);
    records_[at] = RECORD_RETRY;
    records_[at + 1] = static_cast<std::uint32_t>(ms);
    records_[at + 2] = static_cast<std::uint32_t>(ms >> 32);
  }

 private:
  void begin() {
    // One huge event must not keep its copy for the parser's lifetime.
    constexpr std::size_t keep = 1 << 20;
    ascii_.release_if_larger(keep);
    wide_.release_if_larger(keep);
    records_.release_if_larger(keep);
    records_.clear();
    ascii_.clear();
    wide_.clear();
    wide_units_ = 0;
    cuts_.clear();
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
    return wide_flag(field);
  }

  // put(), or for a string of take_min_ bytes or more, take_: its index at
  // records_[at] and length 0. Returns the flag.
  std::uint32_t place(std::size_t at, std::string_view s, int field) {
    if (s.size() < take_min_) return put(at, s, field);
    return give(at, s, field);
  }
  [[gnu::noinline]] std::uint32_t give(std::size_t at, std::string_view s, int field) {  // cold (bundle size)
    records_[at] = take_(take_context_, s);
    records_[at + 1] = 0;
    return taken_flag(field);
  }

  std::uint32_t put_type(std::size_t at, std::string_view type) {
    for (std::uint32_t slot = 0; slot < TYPE_SLOTS; ++slot) {
      if (types_[slot] == type) return TYPE_CACHED | type_slot(slot);
    }
    // Round robin: a stream with many types just misses the cache.
    const std::uint32_t slot = next_type_slot_;
    next_type_slot_ = (next_type_slot_ + 1) % TYPE_SLOTS;
    if (type.size() <= max_cached_type) {
      types_[slot].assign(type);
      return put(at, type, 0) | TYPE_STORE | type_slot(slot);
    }
    // Not kept, here or in JS (no TYPE_STORE): eight long types held made
    // the memory grow with each new one (a 1 MiB type cost 1 MiB more, up
    // to 8). The slot is emptied, which no type matches.
    std::string().swap(types_[slot]);
    return place(at, type, 0) | type_slot(slot);
  }

  ssekit::parser parser_;
  word_buffer records_;
  byte_buffer ascii_;
  byte_buffer wide_;
  std::uint32_t wide_units_ = 0;  // UTF-16 length of wide_
  cut_finder cuts_;               // in wide_
  std::string last_id_;           // id of the last event record (ID_SAME), unless taken
  bool have_id_ = false;
  bool id_taken_ = false;         // that id went to JS through take_: last_id_ is empty
  std::uint64_t id_version_ = 0;  // the core's last_event_id_version() at that record
  // Mirrors JS's type slots. Empty types never reach here ("message").
  static constexpr std::size_t max_cached_type = 256;
  std::string types_[TYPE_SLOTS];
  std::uint32_t next_type_slot_ = 0;
  take_function take_;
  void* take_context_;
  std::size_t take_min_;
};

}  // namespace ssekit::bridge

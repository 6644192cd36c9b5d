// Flat C ABI over ssekit::core for the npm package (js/src/index.cjs).
//
// One call per chunk: JS copies the chunk into the shared input region
// (ssekit_input), calls ssekit_parser_feed once, then reads the parser's
// header and record buffer and decodes every string with TextDecoder before
// feed() returns. Nothing in WASM memory is kept by JS across calls: memory
// can grow (which detaches JS views) and the record buffer is reused.
//
// Record buffer: uint32 words, one record after another, in stream order.
//   event:   [SSEKIT_EVENT | flags, type ptr, type len, data ptr, data len, id ptr, id len]
//   comment: [SSEKIT_COMMENT, ptr, len]
//   retry:   [SSEKIT_RETRY, low 32 bits, high 32 bits]
// Pointers are absolute addresses in WASM memory, valid until the next call
// into the module. Flags: SSEKIT_TYPE_MESSAGE (the type is "message"; ptr and
// len are 0) and SSEKIT_ID_SAME (the id equals the one of the previous event
// record of this parser; ptr and len are 0), so JS reuses its strings.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <cstring>
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
// Internal, resolved before feed() returns: this string is an offset into
// the arena, not an address (the arena may move while it grows).
constexpr std::uint32_t in_arena(int field) { return 1u << (16 + field); }

std::uint32_t address(const char* p) { return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p)); }

// Read by JS at fixed word offsets (see HEADER_* in js/src/index.cjs).
struct header {
  std::uint32_t status;       // errc of the last call (sticky error included)
  std::uint32_t records;      // address of the record buffer
  std::uint32_t words;        // words in the record buffer
  std::uint32_t error_low;    // error offset, low 32 bits
  std::uint32_t error_high;   // error offset, high 32 bits
  std::uint32_t string_ptr;   // ssekit_parser_last_event_id() result
  std::uint32_t string_len;
};

class bridge_parser final : public ssekit::handler {
 public:
  explicit bridge_parser(ssekit::parser_options options) : parser_(*this, options) {}

  header head{};

  std::uint32_t feed(const char* p, std::size_t n) {
    begin(p, n);
    const ssekit::parse_error err = parser_.feed(std::string_view(p, n));
    return end(err);
  }
  std::uint32_t finish() {
    begin(nullptr, 0);
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
      flags |= put(at + 1, ev.type, 0);
    }
    flags |= put(at + 3, ev.data, 1);
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
  void begin(const char* p, std::size_t n) {
    chunk_ = std::string_view(p ? p : "", n);
    // One huge event must not keep its copy for the parser's lifetime.
    constexpr std::size_t keep = 1 << 20;
    if (arena_.capacity() > keep) std::string().swap(arena_);
    if (records_.capacity() > keep) std::vector<std::uint32_t>().swap(records_);
    records_.clear();
    arena_.clear();
  }

  std::uint32_t end(const ssekit::parse_error& err) {
    // Arena offsets become addresses now that the arena no longer moves.
    for (std::size_t i = 0; i < records_.size();) {
      const std::uint32_t kind = records_[i] & 0xff;
      const std::size_t strings = kind == SSEKIT_EVENT ? 3 : kind == SSEKIT_COMMENT ? 1 : 0;
      for (std::size_t s = 0; s < strings; ++s) {
        if (records_[i] & in_arena(static_cast<int>(s))) records_[i + 1 + 2 * s] += address(arena_.data());
      }
      records_[i] &= 0xffff;
      i += 1 + 2 * strings + (kind == SSEKIT_RETRY ? 2 : 0);
    }
    chunk_ = {};
    head.status = static_cast<std::uint32_t>(err.code);
    head.error_low = static_cast<std::uint32_t>(err.offset);
    head.error_high = static_cast<std::uint32_t>(err.offset >> 32);
    head.records = address(reinterpret_cast<const char*>(records_.data()));
    head.words = static_cast<std::uint32_t>(records_.size());
    return head.status;
  }

  // Stores a string at records_[at], records_[at + 1]: a view into the
  // chunk as is (it stays put until feed() returns), anything else (the
  // parser's buffers change between callbacks) copied into the arena.
  std::uint32_t put(std::size_t at, std::string_view s, int field) {
    records_[at + 1] = static_cast<std::uint32_t>(s.size());
    if (s.empty()) {
      records_[at] = 0;
      return 0;
    }
    if (s.data() >= chunk_.data() && s.data() + s.size() <= chunk_.data() + chunk_.size()) {
      records_[at] = address(s.data());
      return 0;
    }
    records_[at] = static_cast<std::uint32_t>(arena_.size());
    arena_.append(s);
    return in_arena(field);
  }

  ssekit::parser parser_;
  std::string_view chunk_;
  std::vector<std::uint32_t> records_;
  std::string arena_;
  std::string last_id_;  // id of the last event record (SSEKIT_ID_SAME)
  bool have_id_ = false;
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
// Returns null when out of memory.
EMSCRIPTEN_KEEPALIVE bridge_parser* ssekit_parser_create(std::uint32_t max_line_length, std::uint32_t max_event_size,
                                                         int raw_bytes) {
  ssekit::parser_options options;
  options.max_line_length = max_line_length;
  options.max_event_size = max_event_size;
  options.raw_bytes = raw_bytes != 0;
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

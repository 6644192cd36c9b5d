// The parser's WebAssembly module (ssekit_parser.wasm): a flat C ABI over
// ssekit::core's parser for the npm package (js/src/parser.cjs), on the
// encoder of bridge_encoder.hpp (layout and rules there, constants in
// bridge_abi.hpp). The serializer is a module of its own
// (bridge_serializer.cpp), so a program that only parses (the EventSource)
// does not download it.
#include <cstdint>
#include <new>
#include <string_view>

#include "bridge_abi.hpp"
#include "bridge_common.hpp"
#include "bridge_encoder.hpp"
#include "ssekit/error.hpp"

// Provided by js/src/wasm.cjs: decodes [p, p + n) (valid UTF-8) now and
// returns its index in the current call's list (TAKEN_TYPE, TAKEN_DATA, TAKEN_ID).
extern "C" __attribute__((import_module("env"), import_name("ssekit_take"))) std::uint32_t ssekit_take(const char* p, std::uint32_t n);

namespace {

using ssekit::bridge::address;
using ssekit::bridge::bridge_parser;
using ssekit::bridge::header;
using ssekit::bridge::view;

std::uint32_t take(void*, std::string_view data) { return ssekit_take(data.data(), static_cast<std::uint32_t>(data.size())); }

// An encoder and the header JS reads after each call.
struct wasm_parser {
  explicit wasm_parser(ssekit::parser_options options) : encoder(options, take, nullptr) {}

  std::uint32_t end(const ssekit::parse_error& err) {
    head.status = static_cast<std::uint32_t>(err.code);
    head.error_low = static_cast<std::uint32_t>(err.offset);
    head.error_high = static_cast<std::uint32_t>(err.offset >> 32);
    head.records = address(encoder.records().data());
    head.words = static_cast<std::uint32_t>(encoder.records().size());
    head.ascii_ptr = address(encoder.ascii().data());
    head.ascii_len = static_cast<std::uint32_t>(encoder.ascii().size());
    head.wide_ptr = address(encoder.wide().data());
    head.wide_len = static_cast<std::uint32_t>(encoder.wide().size());
    head.cuts_ptr = address(encoder.cuts().data());
    head.cuts_count = static_cast<std::uint32_t>(encoder.cuts().size());
    return head.status;
  }

  bridge_parser encoder;
  header head{};
};

}  // namespace

extern "C" {

// size_t is 32 bits here: 0xffffffff is SIZE_MAX, i.e. no limit but memory.
// Returns null when out of memory. No raw_bytes: the texts need valid UTF-8.
SSEKIT_COLD wasm_parser* ssekit_parser_create(std::uint32_t max_line_length, std::uint32_t max_event_size) {
  ssekit::parser_options options;
  options.max_line_length = max_line_length;
  options.max_event_size = max_event_size;
  return new (std::nothrow) wasm_parser(options);
}

// Address of the parser's header (fixed for its lifetime).
EMSCRIPTEN_KEEPALIVE header* ssekit_parser_header(wasm_parser* p) { return &p->head; }

EMSCRIPTEN_KEEPALIVE std::uint32_t ssekit_parser_feed(wasm_parser* p, const char* data, std::uint32_t size) {
  return p->end(p->encoder.feed(view(data, size)));
}
SSEKIT_COLD std::uint32_t ssekit_parser_finish(wasm_parser* p) { return p->end(p->encoder.finish()); }
SSEKIT_COLD void ssekit_parser_reset(wasm_parser* p) {
  p->encoder.reset();
  p->end({});
}
// Puts the last event id's address and length into the header.
SSEKIT_COLD void ssekit_parser_last_event_id(wasm_parser* p) {
  const std::string_view id = p->encoder.last_event_id();
  p->head.string_ptr = address(id.data());
  p->head.string_len = static_cast<std::uint32_t>(id.size());
}
// The id is in the input region (JS encodes it there).
SSEKIT_COLD void ssekit_parser_set_last_event_id(wasm_parser* p, const char* id, std::uint32_t len) {
  p->encoder.set_last_event_id(view(id, len));
}
SSEKIT_COLD void ssekit_parser_free(wasm_parser* p) { delete p; }

}  // extern "C"

// Flat C ABI over ssekit::core for the npm package (js/src/parser.cjs and
// serializer.cjs): the exports JS calls, on the encoder of
// bridge_encoder.hpp (layout and rules there, constants in bridge_abi.hpp).
#include <emscripten/emscripten.h>

#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "bridge_abi.hpp"
#include "bridge_encoder.hpp"
#include "ssekit/error.hpp"
#include "ssekit/serializer.hpp"

// Provided by js/src/wasm.cjs: decodes [p, p + n) (valid UTF-8) now and
// returns its index in the current call's list (TAKEN).
extern "C" __attribute__((import_module("env"), import_name("ssekit_take"))) std::uint32_t ssekit_take(const char* p, std::uint32_t n);

namespace {

using ssekit::bridge::bridge_parser;
using ssekit::bridge::header;

std::uint32_t address(const void* p) { return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p)); }

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

// The calls made once per parser or per chunk, not per byte: compiled for
// size (-O3 inlined the parser's internals into each; 32 bytes of gzip of
// the EventSource's 25 kB budget, js/test/bundle.test.mjs).
#define SSEKIT_COLD EMSCRIPTEN_KEEPALIVE __attribute__((minsize))

extern "C" {

// The shared input region, at least `size` bytes. The address changes when
// it grows; JS asks again before every copy.
SSEKIT_COLD char* ssekit_input(std::uint32_t size) {
  if (input_region.size() < size) input_region.resize(size);
  return input_region.data();
}

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

// Serializer: inputs are in WASM memory (JS encodes them into the input
// region); the result replaces `output` and is described by output_header.
// Error names and messages are in js/dist/bridge-abi.cjs (gen_abi.cpp).
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

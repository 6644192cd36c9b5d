// The serializer's WebAssembly module (ssekit_serializer.wasm): a flat C ABI
// over ssekit::core's serializer for the npm package (js/src/serializer.cjs).
// A module of its own, apart from the parser's (bridge_parser.cpp), so a
// program that only writes events does not download the parser, and one
// that only parses does not download this.
#include <cstdint>
#include <string>
#include <string_view>

#include "bridge_common.hpp"
#include "ssekit/error.hpp"
#include "ssekit/serializer.hpp"

namespace {

using ssekit::bridge::address;
using ssekit::bridge::view;

std::string output;
// The result, read by JS: [address, length] of `output`.
std::uint32_t output_header[2];

std::uint32_t finish_output(ssekit::errc code) {
  output_header[0] = address(output.data());
  output_header[1] = static_cast<std::uint32_t>(output.size());
  return static_cast<std::uint32_t>(code);
}

std::uint64_t u64(std::uint32_t low, std::uint32_t high) { return (std::uint64_t{high} << 32) | low; }

}  // namespace

// Inputs are in WASM memory (JS encodes them into the input region); the
// result replaces `output` and is described by output_header. Error names
// and messages are in js/dist/bridge-abi.cjs (gen_abi.cpp).
extern "C" {

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

// What both WebAssembly modules' bridges share (bridge_parser.cpp,
// bridge_serializer.cpp): address and view helpers, and the input region JS
// copies each call's bytes into (bridge_input.cpp).
#pragma once

#include <emscripten/emscripten.h>

#include <cstdint>
#include <string_view>

// The calls made once per parser or per chunk, not per byte: compiled for
// size (-O3 inlined the parser's internals into each; 32 bytes of gzip of
// the EventSource's 25 kB budget, js/test/bundle.test.mjs).
#define SSEKIT_COLD EMSCRIPTEN_KEEPALIVE __attribute__((minsize))

namespace ssekit::bridge {

inline std::uint32_t address(const void* p) { return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p)); }

inline std::string_view view(const char* p, std::uint32_t n) { return {n ? p : "", n}; }

}  // namespace ssekit::bridge

extern "C" {
// The shared input region, at least `size` bytes. The address changes when
// it grows; JS asks again before every copy.
SSEKIT_COLD char* ssekit_input(std::uint32_t size);
}

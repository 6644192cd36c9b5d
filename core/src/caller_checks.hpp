// Checks of how a caller uses the core: a handler that calls back into its
// parser, a value that views the buffer the call writes.
//
// The WebAssembly build leaves them out (SSEKIT_CHECK_CALLER 0): its one
// caller, the JS package, never does either (js/src/parser.cjs refuses a
// callback's call itself, and every value reaches the module as a copy in
// its input region), and the EventSource's bundle has no bytes to spare.
#pragma once

#include <cstdint>
#include <string_view>

#if defined(__EMSCRIPTEN__)
#define SSEKIT_CHECK_CALLER 0
#else
#define SSEKIT_CHECK_CALLER 1
#endif

namespace ssekit::detail {

// Whether `value` views bytes of `buffer`, which the call is about to
// write: such a value must be copied first, as std::string::append does for
// itself, or the write reads it after the buffer moved or while it is
// overwritten. Integer compares: pointers into different objects can't be
// compared; below buffer.data() the difference wraps around to a large value.
inline bool views_into(std::string_view buffer, std::string_view value) noexcept {
  const auto offset = reinterpret_cast<std::uintptr_t>(value.data()) - reinterpret_cast<std::uintptr_t>(buffer.data());
  return offset < buffer.size();
}

}  // namespace ssekit::detail

// UTF-8 validation and repair with the WHATWG Encoding standard's rules, so
// native users get exactly the text a browser's TextDecoder would produce.
#pragma once

// Say what is missing before the first cryptic error (g++ 12 defaults to C++17).
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201709L
#error "ssekit needs C++20: compile with -std=c++20 (or /std:c++20); CMake's ssekit targets ask for it"
#endif

#include <cstddef>
#include <string>
#include <string_view>

namespace ssekit {

// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing
// above U+10FFFF, no truncated sequence at the end).
bool utf8_is_valid(std::string_view bytes) noexcept;

// Appends `bytes` to `out`, replacing every maximal invalid subpart with
// U+FFFD (EF BF BD): the same number of replacement characters as
// TextDecoder("utf-8") without `fatal`. A leading BOM is kept (the parser
// strips the stream's BOM itself). `bytes` may view `out` itself.
void utf8_append_replacing_invalid(std::string& out, std::string_view bytes);

// The size of `bytes` once repaired as above (never smaller: U+FFFD is 3
// bytes and replaces 1 to 3), so a caller can size a buffer exactly once.
std::size_t utf8_repaired_size(std::string_view bytes) noexcept;

// Writes `bytes` repaired as above to `out`, which must have room for
// utf8_repaired_size(bytes) bytes and must not overlap `bytes`; returns the
// end of what it wrote.
char* utf8_copy_replacing_invalid(char* out, std::string_view bytes) noexcept;

}  // namespace ssekit

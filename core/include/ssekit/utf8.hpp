// UTF-8 validation and repair with the WHATWG Encoding standard's rules, so
// native users get exactly the text a browser's TextDecoder would produce.
#pragma once

#include <string>
#include <string_view>

namespace ssekit {

// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing
// above U+10FFFF, no truncated sequence at the end).
bool utf8_is_valid(std::string_view bytes) noexcept;

// Appends `bytes` to `out`, replacing every maximal invalid subpart with
// U+FFFD (EF BF BD): the same number of replacement characters as
// TextDecoder("utf-8") without `fatal`. A leading BOM is kept (the parser
// strips the stream's BOM itself).
void utf8_append_replacing_invalid(std::string& out, std::string_view bytes);

}  // namespace ssekit

// UTF-8 checking and repair following the WHATWG Encoding standard's UTF-8
// decoder: the valid range of each continuation byte depends on the lead
// byte (E0 A0-BF, ED 80-9F, F0 90-BF, F4 80-8F), and an unexpected byte ends
// the sequence with one U+FFFD and is then looked at again as a new lead.
#include "ssekit/utf8.hpp"

#include <cstdint>

#include "scan.hpp"

namespace ssekit {
namespace {

// Skips whole 16-byte blocks of ASCII; the common case for SSE payloads.
const char* skip_ascii_blocks(const char* p, const char* end) noexcept {
  while (end - p >= 16 && detail::is_ascii(p, p + 16)) p += 16;
  return p;
}

struct sequence_rule {
  int continuation_bytes;  // 0 for ASCII, -1 for a byte that can never lead
  unsigned char lower;     // allowed range of the first continuation byte
  unsigned char upper;
};

constexpr sequence_rule rule_for(unsigned char lead) noexcept {
  if (lead < 0x80) return {0, 0, 0};
  if (lead >= 0xC2 && lead <= 0xDF) return {1, 0x80, 0xBF};
  if (lead == 0xE0) return {2, 0xA0, 0xBF};
  if (lead == 0xED) return {2, 0x80, 0x9F};
  if (lead >= 0xE1 && lead <= 0xEF) return {2, 0x80, 0xBF};
  if (lead == 0xF0) return {3, 0x90, 0xBF};
  if (lead == 0xF4) return {3, 0x80, 0x8F};
  if (lead >= 0xF1 && lead <= 0xF3) return {3, 0x80, 0xBF};
  return {-1, 0, 0};
}

// Length of the well-formed sequence starting at p, or 0 if it is not
// well-formed; then `*bad_length` is the size of the maximal invalid subpart
// (at least 1) that one U+FFFD replaces.
std::size_t valid_sequence_length(const char* p, const char* end, std::size_t* bad_length) noexcept {
  const auto lead = static_cast<unsigned char>(*p);
  const sequence_rule rule = rule_for(lead);
  if (rule.continuation_bytes == 0) return 1;
  *bad_length = 1;
  if (rule.continuation_bytes < 0) return 0;
  unsigned char lower = rule.lower;
  unsigned char upper = rule.upper;
  for (int i = 1; i <= rule.continuation_bytes; ++i) {
    if (p + i >= end) return 0;  // truncated at the end: one U+FFFD for what was seen
    const auto byte = static_cast<unsigned char>(p[i]);
    if (byte < lower || byte > upper) return 0;
    lower = 0x80;
    upper = 0xBF;
    *bad_length = static_cast<std::size_t>(i) + 1;
  }
  return static_cast<std::size_t>(rule.continuation_bytes) + 1;
}

}  // namespace

bool utf8_is_valid(std::string_view bytes) noexcept {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    p = skip_ascii_blocks(p, end);
    if (p == end) break;
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    std::size_t bad_length = 0;
    const std::size_t length = valid_sequence_length(p, end, &bad_length);
    if (length == 0) return false;
    p += length;
  }
  return true;
}

void utf8_append_replacing_invalid(std::string& out, std::string_view bytes) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  const char* run = p;  // start of the valid run not yet copied
  while (p < end) {
    p = skip_ascii_blocks(p, end);
    if (p == end) break;
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    std::size_t bad_length = 0;
    const std::size_t length = valid_sequence_length(p, end, &bad_length);
    if (length != 0) {
      p += length;
      continue;
    }
    out.append(run, p);
    out.append(replacement);
    p += bad_length;
    run = p;
  }
  out.append(run, end);
}

}  // namespace ssekit

// UTF-8 checking and repair following the WHATWG Encoding standard's UTF-8
// decoder: the valid range of each continuation byte depends on the lead
// byte (E0 A0-BF, ED 80-9F, F0 90-BF, F4 80-8F), and an unexpected byte ends
// the sequence with one U+FFFD and is then looked at again as a new lead.
#include "ssekit/utf8.hpp"

#include <cstdint>
#include <cstring>

#include "caller_checks.hpp"
#include "scan.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(SSEKIT_PORTABLE)  // SSEKIT_PORTABLE: see scan.hpp
#include <immintrin.h>
#define SSEKIT_X86 1
#endif

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

#if defined(SSEKIT_X86)
// AVX2 validation after Keiser & Lemire, "Validating UTF-8 in less than one
// instruction per byte" (2021): three 16-entry table lookups on the high and
// low nibbles of each byte and its predecessor classify every byte pair; a
// second test checks the 3rd and 4th bytes of long sequences. Each error
// class is one bit; a pair is invalid when all three lookups share a bit.
namespace avx2 {

#define SSEKIT_AVX2 __attribute__((target("avx2")))

constexpr std::uint8_t too_short = 1 << 0;       // lead byte followed by a non-continuation
constexpr std::uint8_t too_long = 1 << 1;        // ASCII followed by a continuation
constexpr std::uint8_t overlong_3 = 1 << 2;      // E0 80..9F
constexpr std::uint8_t too_large = 1 << 3;       // F4 90.. and above, F5..FF
constexpr std::uint8_t surrogate = 1 << 4;       // ED A0..BF
constexpr std::uint8_t overlong_2 = 1 << 5;      // C0, C1
constexpr std::uint8_t too_large_1000 = 1 << 6;  // F5..FF 80..8F
constexpr std::uint8_t overlong_4 = 1 << 6;      // F0 80..8F
constexpr std::uint8_t two_continuations = 1 << 7;
constexpr std::uint8_t carry = too_short | too_long | two_continuations;

SSEKIT_AVX2 inline __m256i table(std::uint8_t t0, std::uint8_t t1, std::uint8_t t2, std::uint8_t t3,
                                 std::uint8_t t4, std::uint8_t t5, std::uint8_t t6, std::uint8_t t7,
                                 std::uint8_t t8, std::uint8_t t9, std::uint8_t t10, std::uint8_t t11,
                                 std::uint8_t t12, std::uint8_t t13, std::uint8_t t14, std::uint8_t t15) {
  const auto c = [](std::uint8_t v) { return static_cast<char>(v); };
  return _mm256_setr_epi8(c(t0), c(t1), c(t2), c(t3), c(t4), c(t5), c(t6), c(t7), c(t8), c(t9), c(t10),
                          c(t11), c(t12), c(t13), c(t14), c(t15), c(t0), c(t1), c(t2), c(t3), c(t4), c(t5),
                          c(t6), c(t7), c(t8), c(t9), c(t10), c(t11), c(t12), c(t13), c(t14), c(t15));
}

SSEKIT_AVX2 inline __m256i high_nibbles(__m256i v) {
  return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

// `input` moved N bytes later, the last N bytes of `previous` shifted in.
template <int N>
SSEKIT_AVX2 inline __m256i previous_bytes(__m256i input, __m256i previous) {
  return _mm256_alignr_epi8(input, _mm256_permute2x128_si256(previous, input, 0x21), 16 - N);
}

SSEKIT_AVX2 inline __m256i block_errors(__m256i input, __m256i previous) {
  const __m256i prev1 = previous_bytes<1>(input, previous);
  const __m256i byte_1_high = _mm256_shuffle_epi8(
      table(too_long, too_long, too_long, too_long, too_long, too_long, too_long, too_long,  // 0_______
            two_continuations, two_continuations, two_continuations, two_continuations,     // 10______
            too_short | overlong_2,                                                         // 1100____
            too_short,                                                                      // 1101____
            too_short | overlong_3 | surrogate,                                             // 1110____
            too_short | too_large | too_large_1000 | overlong_4),                           // 1111____
      high_nibbles(prev1));
  constexpr std::uint8_t large = carry | too_large | too_large_1000;
  const __m256i byte_1_low = _mm256_shuffle_epi8(
      table(carry | overlong_3 | overlong_2 | overlong_4,  // ____0000
            carry | overlong_2,                            // ____0001
            carry, carry,                                  // ____001_
            carry | too_large,                             // ____0100
            large, large, large,                           // ____0101, ____011_
            large, large, large, large, large,             // ____1000 .. ____1100
            large | surrogate,                             // ____1101
            large, large),
      _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)));
  const __m256i byte_2_high = _mm256_shuffle_epi8(
      table(too_short, too_short, too_short, too_short, too_short, too_short, too_short, too_short,  // 0_______
            too_long | overlong_2 | two_continuations | overlong_3 | too_large_1000 | overlong_4,    // 1000____
            too_long | overlong_2 | two_continuations | overlong_3 | too_large,                      // 1001____
            too_long | overlong_2 | two_continuations | surrogate | too_large,                       // 101_____
            too_long | overlong_2 | two_continuations | surrogate | too_large,
            too_short, too_short, too_short, too_short),                                             // 11______
      high_nibbles(input));
  const __m256i special = _mm256_and_si256(_mm256_and_si256(byte_1_high, byte_1_low), byte_2_high);
  // A byte two after E0..FF or three after F0..FF must be a continuation;
  // `special` has two_continuations (0x80) set exactly where one is.
  const __m256i third = _mm256_subs_epu8(previous_bytes<2>(input, previous), _mm256_set1_epi8(0xE0 - 0x80));
  const __m256i fourth =
      _mm256_subs_epu8(previous_bytes<3>(input, previous), _mm256_set1_epi8(static_cast<char>(0xF0 - 0x80)));
  const __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8(static_cast<char>(0x80)));
  return _mm256_xor_si256(must_continue, special);
}

// Non-zero where the block ends inside a sequence that needs more bytes.
SSEKIT_AVX2 inline __m256i incomplete_at_end(__m256i input) {
  const __m256i max_value = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                             -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(0xF0 - 1),
                                             static_cast<char>(0xE0 - 1), static_cast<char>(0xC0 - 1));
  return _mm256_subs_epu8(input, max_value);
}

SSEKIT_AVX2 bool is_valid(const char* p, const char* end) {
  __m256i errors = _mm256_setzero_si256();
  __m256i previous = _mm256_setzero_si256();
  __m256i previous_incomplete = _mm256_setzero_si256();
  const auto check = [](__m256i input, __m256i& errors_, __m256i& previous_, __m256i& incomplete_)
                         SSEKIT_AVX2 {
    if (_mm256_movemask_epi8(input) == 0) {
      errors_ = _mm256_or_si256(errors_, incomplete_);
      incomplete_ = _mm256_setzero_si256();
    } else {
      errors_ = _mm256_or_si256(errors_, block_errors(input, previous_));
      incomplete_ = incomplete_at_end(input);
    }
    previous_ = input;
  };
  for (; end - p >= 32; p += 32) {
    check(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), errors, previous, previous_incomplete);
  }
  if (p < end) {
    // The tail, padded with NUL (ASCII), so a truncated sequence shows as too_short.
    alignas(32) char tail[32] = {};
    std::memcpy(tail, p, static_cast<std::size_t>(end - p));
    check(_mm256_load_si256(reinterpret_cast<const __m256i*>(tail)), errors, previous, previous_incomplete);
  }
  errors = _mm256_or_si256(errors, previous_incomplete);
  return _mm256_testz_si256(errors, errors) != 0;
}

#undef SSEKIT_AVX2
}  // namespace avx2
#endif

}  // namespace

namespace {

// The first invalid sequence in [p, end), or end; `*bad_length` is then the
// number of bytes one U+FFFD replaces.
const char* find_invalid(const char* p, const char* end, std::size_t* bad_length) noexcept {
  while (p < end) {
    p = skip_ascii_blocks(p, end);
    if (p == end) break;
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    const std::size_t length = valid_sequence_length(p, end, bad_length);
    if (length == 0) return p;
    p += length;
  }
  return end;
}

}  // namespace

bool utf8_is_valid(std::string_view bytes) noexcept {
  const char* const p = bytes.data();
  const char* const end = p + bytes.size();
#if defined(SSEKIT_X86)
  // Below 32 bytes (types, ids, comments) the scalar loop is as quick.
  if (bytes.size() >= 32 && detail::cpu_has_avx2) return avx2::is_valid(p, end);
#endif
  std::size_t bad_length = 0;
  return find_invalid(p, end, &bad_length) == end;
}

namespace {
constexpr std::string_view replacement = "\xEF\xBF\xBD";
}  // namespace

std::size_t utf8_repaired_size(std::string_view bytes) noexcept {
  std::size_t size = bytes.size();
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  for (;;) {
    std::size_t bad_length = 0;
    const char* const bad = find_invalid(p, end, &bad_length);
    if (bad == end) return size;
    size += replacement.size() - bad_length;
    p = bad + bad_length;
  }
}

char* utf8_copy_replacing_invalid(char* out, std::string_view bytes) noexcept {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  for (;;) {
    std::size_t bad_length = 0;
    const char* const bad = find_invalid(p, end, &bad_length);
    if (bad != p) std::memcpy(out, p, static_cast<std::size_t>(bad - p));
    out += bad - p;
    if (bad == end) return out;
    std::memcpy(out, replacement.data(), replacement.size());
    out += replacement.size();
    p = bad + bad_length;
  }
}

void utf8_append_replacing_invalid(std::string& out, std::string_view bytes) {
#if SSEKIT_CHECK_CALLER
  if (detail::views_into(out, bytes)) {  // the resize may move `out`
    const std::string own(bytes);
    utf8_append_replacing_invalid(out, own);
    return;
  }
#endif
  const std::size_t at = out.size();
  out.resize(at + utf8_repaired_size(bytes));
  utf8_copy_replacing_invalid(out.data() + at, bytes);
}

}  // namespace ssekit

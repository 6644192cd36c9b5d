// Bulk scanning for the parser's hot loop. Internal header.
// Each function reads only bytes in [p, end): tests place inputs right
// before an unreadable page, so any overread crashes.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SSEKIT_X86 1
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace ssekit::detail {

// Where a line ends, and whether the bytes before it are all ASCII: the
// parser then skips UTF-8 validation of that line's value, so the one pass
// that finds the line end also does the common case of validation.
struct line_scan {
  const char* end;  // first CR or LF, or the end of the input
  bool ascii;       // every byte before `end` is below 0x80
};

inline line_scan find_line_end_bytewise(const char* p, const char* end, unsigned char high = 0) noexcept {
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '\n' || c == '\r') break;
    high |= c;
  }
  return {p, high < 0x80};
}

// Bits set where the 0x80 bit is set, in the bytes before bit `index`.
inline bool high_bits_before(std::uint64_t high_mask, int index) noexcept {
  return (high_mask & ((std::uint64_t{1} << index) - 1)) != 0;
}

#if defined(SSEKIT_X86)
// 16 bytes per step with SSE2 (always present on x86-64).
inline line_scan find_line_end_sse2(const char* p, const char* end) noexcept {
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  __m128i high = _mm_setzero_si128();
  const auto line_end_mask = [&](__m128i v) {
    return static_cast<std::uint64_t>(
        static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)))));
  };
  const auto high_mask = [](__m128i v) {
    return static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(v)));
  };
  while (end - p >= 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (const std::uint64_t m = line_end_mask(a)) {
      const int index = std::countr_zero(m);
      const bool seen_high = _mm_movemask_epi8(high) != 0 || high_bits_before(high_mask(a), index);
      return {p + index, !seen_high};
    }
    high = _mm_or_si128(high, a);
    p += 16;
  }
  return find_line_end_bytewise(p, end, _mm_movemask_epi8(high) != 0 ? 0x80 : 0);
}

// 32 bytes per step where the CPU has AVX2 (chosen at run time).
__attribute__((target("avx2"))) inline line_scan find_line_end_avx2(const char* p, const char* end) noexcept {
  const __m256i lf = _mm256_set1_epi8('\n');
  const __m256i cr = _mm256_set1_epi8('\r');
  __m256i high = _mm256_setzero_si256();
  while (end - p >= 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const auto m = static_cast<std::uint32_t>(
        _mm256_movemask_epi8(_mm256_or_si256(_mm256_cmpeq_epi8(a, lf), _mm256_cmpeq_epi8(a, cr))));
    if (m != 0) {
      const int index = std::countr_zero(m);
      const auto a_high = static_cast<std::uint32_t>(_mm256_movemask_epi8(a));
      const bool seen_high = _mm256_movemask_epi8(high) != 0 || high_bits_before(a_high, index);
      return {p + index, !seen_high};
    }
    high = _mm256_or_si256(high, a);
    p += 32;
  }
  const bool seen_high = _mm256_movemask_epi8(high) != 0;
  const line_scan rest = find_line_end_sse2(p, end);
  return {rest.end, rest.ascii && !seen_high};
}

inline const bool cpu_has_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();

inline line_scan find_line_end(const char* p, const char* end) noexcept {
  // Most lines are short (the empty line of every event, ids, event names):
  // the first 16 bytes are looked at inline, without a call.
  if (end - p >= 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto m = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(a, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(a, _mm_set1_epi8('\r')))));
    const auto high = static_cast<unsigned>(_mm_movemask_epi8(a));
    if (m != 0) {
      const int index = std::countr_zero(m);
      return {p + index, !high_bits_before(high, index)};
    }
    const line_scan rest = cpu_has_avx2 ? find_line_end_avx2(p + 16, end) : find_line_end_sse2(p + 16, end);
    return {rest.end, rest.ascii && high == 0};
  }
  return cpu_has_avx2 ? find_line_end_avx2(p, end) : find_line_end_sse2(p, end);
}

#elif defined(__wasm_simd128__)
inline line_scan find_line_end(const char* p, const char* end) noexcept {
  const v128_t lf = wasm_i8x16_splat('\n');
  const v128_t cr = wasm_i8x16_splat('\r');
  v128_t high = wasm_i32x4_splat(0);
  while (end - p >= 16) {
    const v128_t a = wasm_v128_load(p);
    const std::uint32_t m = wasm_i8x16_bitmask(wasm_v128_or(wasm_i8x16_eq(a, lf), wasm_i8x16_eq(a, cr)));
    if (m != 0) {
      const int index = std::countr_zero(m);
      const bool seen_high = wasm_i8x16_bitmask(high) != 0 || high_bits_before(wasm_i8x16_bitmask(a), index);
      return {p + index, !seen_high};
    }
    high = wasm_v128_or(high, a);
    p += 16;
  }
  return find_line_end_bytewise(p, end, wasm_i8x16_bitmask(high) != 0 ? 0x80 : 0);
}

#else
// SWAR: 8 bytes at a time. (v - 0x01..) & ~v & 0x80.. marks zero bytes; on a
// little-endian machine its lowest set bit is exact, which is all we use.
inline std::uint64_t zero_byte_mask(std::uint64_t v) noexcept {
  return (v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull;
}

inline line_scan find_line_end(const char* p, const char* end) noexcept {
  std::uint64_t high = 0;
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      const std::uint64_t m = zero_byte_mask(v ^ 0x0a0a0a0a0a0a0a0aull) | zero_byte_mask(v ^ 0x0d0d0d0d0d0d0d0dull);
      if (m != 0) {
        const int index = std::countr_zero(m) / 8;
        const bool seen_high = (high & 0x8080808080808080ull) != 0 ||
                               high_bits_before(v & 0x8080808080808080ull, 8 * index);
        return {p + index, !seen_high};
      }
      high |= v;
      p += 8;
    }
  }
  return find_line_end_bytewise(p, end, (high & 0x8080808080808080ull) != 0 ? 0x80 : 0);
}
#endif

// True if every byte in [p, end) is below 0x80.
inline bool is_ascii(const char* p, const char* end) noexcept {
  std::uint64_t acc = 0;
  while (end - p >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    acc |= v;
    p += 8;
  }
  for (; p < end; ++p) acc |= static_cast<unsigned char>(*p);
  return (acc & 0x8080808080808080ull) == 0;
}

}  // namespace ssekit::detail

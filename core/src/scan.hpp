// Bulk scanning primitives for the parser's hot loop. Internal header.
// Each function reads only bytes in [p, end): tests place inputs right
// before an unreadable page, so any overread crashes.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace ssekit::detail {

// Bytewise reference for the tails.
inline const char* find_line_end_bytewise(const char* p, const char* end) noexcept {
  for (; p < end; ++p)
    if (*p == '\n' || *p == '\r') return p;
  return end;
}

#if !defined(__SSE2__) && !defined(__wasm_simd128__)
// SWAR: 8 bytes at a time. (v - 0x01..) & ~v & 0x80.. marks zero bytes; on a
// little-endian machine its lowest set bit is exact, which is all we use.
inline std::uint64_t zero_byte_mask(std::uint64_t v) noexcept {
  return (v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull;
}
#endif

// First CR or LF in [p, end), or end.
inline const char* find_line_end(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  while (end - p >= 32) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    const unsigned ma = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(a, lf), _mm_cmpeq_epi8(a, cr))));
    const unsigned mb = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, lf), _mm_cmpeq_epi8(b, cr))));
    const std::uint32_t mask = ma | (mb << 16);
    if (mask != 0) return p + std::countr_zero(mask);
    p += 32;
  }
  if (end - p >= 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned ma = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(a, lf), _mm_cmpeq_epi8(a, cr))));
    if (ma != 0) return p + std::countr_zero(ma);
    p += 16;
  }
#elif defined(__wasm_simd128__)
  const v128_t lf = wasm_i8x16_splat('\n');
  const v128_t cr = wasm_i8x16_splat('\r');
  while (end - p >= 16) {
    const v128_t a = wasm_v128_load(p);
    const std::uint32_t mask = wasm_i8x16_bitmask(wasm_v128_or(wasm_i8x16_eq(a, lf), wasm_i8x16_eq(a, cr)));
    if (mask != 0) return p + std::countr_zero(mask);
    p += 16;
  }
#else
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      const std::uint64_t mask = zero_byte_mask(v ^ 0x0a0a0a0a0a0a0a0aull) | zero_byte_mask(v ^ 0x0d0d0d0d0d0d0d0dull);
      if (mask != 0) return p + std::countr_zero(mask) / 8;
      p += 8;
    }
  }
#endif
  return find_line_end_bytewise(p, end);
}

// True if every byte in [p, end) is below 0x80.
inline bool is_ascii(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  __m128i acc = _mm_setzero_si128();
  while (end - p >= 16) {
    acc = _mm_or_si128(acc, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    p += 16;
  }
  if (_mm_movemask_epi8(acc) != 0) return false;
#elif defined(__wasm_simd128__)
  v128_t acc = wasm_i32x4_splat(0);
  while (end - p >= 16) {
    acc = wasm_v128_or(acc, wasm_v128_load(p));
    p += 16;
  }
  if (wasm_i8x16_bitmask(acc) != 0) return false;
#endif
  std::uint64_t acc64 = 0;
  while (end - p >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    acc64 |= v;
    p += 8;
  }
  if (acc64 & 0x8080808080808080ull) return false;
  for (; p < end; ++p)
    if (static_cast<unsigned char>(*p) >= 0x80) return false;
  return true;
}

}  // namespace ssekit::detail

// Bulk scanning for the parser's hot loop. Internal header.
// Each function reads only bytes in [p, end): tests place inputs right
// before an unreadable page, so any overread crashes.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// SSEKIT_PORTABLE: the code of other CPUs (the SWAR scan), so that x86
// machines test it too (tests/portability/portable.sh).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(SSEKIT_PORTABLE)
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
inline unsigned line_end_mask_sse2(__m128i v) noexcept {
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')))));
}

// The last 0-15 bytes [p, end): when at least 16 bytes of the input precede
// `end`, one load of the final 16 bytes (overlapping bytes already looked
// at, which are shifted out) instead of a byte-by-byte loop.
inline line_scan find_line_end_tail(const char* start, const char* p, const char* end, bool seen_high) noexcept {
  if (p == end) return {end, !seen_high};
  if (end - start < 16) return find_line_end_bytewise(p, end, seen_high ? 0x80 : 0);
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(end - 16));
  const auto shift = static_cast<unsigned>(16 - (end - p));
  const unsigned m = line_end_mask_sse2(a) >> shift;
  const unsigned high = static_cast<unsigned>(_mm_movemask_epi8(a)) >> shift;
  if (m != 0) {
    const int index = std::countr_zero(m);
    return {p + index, !seen_high && !high_bits_before(high, index)};
  }
  return {end, !seen_high && high == 0};
}

// 16 bytes per step with SSE2 (always present on x86-64).
inline line_scan find_line_end_sse2(const char* start, const char* p, const char* end, bool seen_high) noexcept {
  __m128i high = _mm_setzero_si128();
  while (end - p >= 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (const unsigned m = line_end_mask_sse2(a)) {
      const int index = std::countr_zero(m);
      const bool high_here = _mm_movemask_epi8(high) != 0 ||
                             high_bits_before(static_cast<unsigned>(_mm_movemask_epi8(a)), index);
      return {p + index, !seen_high && !high_here};
    }
    high = _mm_or_si128(high, a);
    p += 16;
  }
  return find_line_end_tail(start, p, end, seen_high || _mm_movemask_epi8(high) != 0);
}

#define SSEKIT_AVX2_TARGET __attribute__((target("avx2")))

// Line ends by table lookup: vpshufb maps a byte's low nibble to the line
// end with that nibble ('\n' at 0xA, '\r' at 0xD, 0xFF at the others, which
// no byte equals there; a byte >= 0x80 maps to 0, which it never equals),
// so a byte is CR or LF iff it equals its lookup: two instructions per 32
// bytes where two compares and an or took three.
SSEKIT_AVX2_TARGET inline __m256i line_end_table_avx2() noexcept {
  return _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, '\n', -1, -1, '\r', -1, -1,  //
                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, '\n', -1, -1, '\r', -1, -1);
}

SSEKIT_AVX2_TARGET inline __m256i line_ends_avx2(__m256i v, __m256i table) noexcept {
  return _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, v), v);
}

SSEKIT_AVX2_TARGET inline std::uint32_t line_end_mask_avx2(__m256i v) noexcept {
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(line_ends_avx2(v, line_end_table_avx2())));
}

SSEKIT_AVX2_TARGET inline std::uint32_t high_mask_avx2(__m256i v) noexcept {
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(v));
}

// 64 bytes per step where the CPU has AVX2 (chosen at run time), then one
// 32-byte step, then one load of the last 32 bytes (overlapping bytes
// already seen) instead of a loop over the rest. TrackHigh = false (the
// serializer) skips the ASCII bookkeeping; `ascii` is then meaningless.
template <bool TrackHigh>
SSEKIT_AVX2_TARGET inline line_scan find_line_end_avx2(const char* start, const char* p, const char* end,
                                                       bool seen_high) noexcept {
  const __m256i table = line_end_table_avx2();
  __m256i high = _mm256_setzero_si256();
  // A count, not `end - 64`, which would point before the input.
  for (auto left = static_cast<std::size_t>(end - p); left >= 64; left -= 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    const __m256i ea = line_ends_avx2(a, table);
    const __m256i eb = line_ends_avx2(b, table);
    const __m256i e = _mm256_or_si256(ea, eb);
    if (!_mm256_testz_si256(e, e)) {
      const std::uint64_t m = static_cast<std::uint32_t>(_mm256_movemask_epi8(ea)) |
                              std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(eb))} << 32;
      const int index = std::countr_zero(m);
      if constexpr (!TrackHigh) return {p + index, false};
      if (seen_high) return {p + index, false};
      // Usually nothing in sight has the high bit: one test, without
      // working out which bytes lie before the line end.
      if (high_mask_avx2(_mm256_or_si256(high, _mm256_or_si256(a, b))) == 0) return {p + index, true};
      const std::uint64_t h = high_mask_avx2(a) | std::uint64_t{high_mask_avx2(b)} << 32;
      return {p + index, _mm256_testz_si256(high, _mm256_set1_epi8(-128)) && !high_bits_before(h, index)};
    }
    if constexpr (TrackHigh) high = _mm256_or_si256(high, _mm256_or_si256(a, b));
    p += 64;
  }
  if constexpr (TrackHigh) seen_high = seen_high || high_mask_avx2(high) != 0;
  if (end - p >= 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if (const auto m = static_cast<std::uint32_t>(_mm256_movemask_epi8(line_ends_avx2(a, table)))) {
      const int index = std::countr_zero(m);
      return {p + index, !seen_high && !high_bits_before(high_mask_avx2(a), index)};
    }
    seen_high = seen_high || high_mask_avx2(a) != 0;
    p += 32;
  }
  if (p == end) return {end, !seen_high};
  if (end - start < 32) return find_line_end_sse2(start, p, end, seen_high);
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(end - 32));
  const auto shift = static_cast<unsigned>(32 - (end - p));
  const std::uint32_t m = static_cast<std::uint32_t>(_mm256_movemask_epi8(line_ends_avx2(a, table))) >> shift;
  const std::uint32_t h = high_mask_avx2(a) >> shift;
  if (m != 0) {
    const int index = std::countr_zero(m);
    return {p + index, !seen_high && !high_bits_before(h, index)};
  }
  return {end, !seen_high && h == 0};
}

// For code compiled for AVX2 (the parser's AVX2 copy of its loop): the
// first 32 bytes, where most lines end, then the loop above.
SSEKIT_AVX2_TARGET inline line_scan find_line_end_avx2_from(const char* p, const char* end) noexcept {
  if (end - p >= 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if (const std::uint32_t m = line_end_mask_avx2(a)) {
      const std::uint32_t h = high_mask_avx2(a);
      // Bits below the lowest set bit of m: the bytes before the line end.
      return {p + std::countr_zero(m), (h & (m - 1) & ~m) == 0};
    }
    return find_line_end_avx2<true>(p, p + 32, end, high_mask_avx2(a) != 0);
  }
  return find_line_end_avx2<true>(p, p, end, false);
}

// A line end found while copying: `copied` says every byte before `end`
// was stored (bytes after it may have been stored too).
struct line_copy {
  const char* end;
  bool ascii;
  bool copied;
};

// find_line_end_avx2_from that also stores each 64-byte block it looks at
// to `dst`, as long as `room` (bytes writable at dst) holds a whole block:
// appending a data line then costs two stores per 64 bytes, not a memcpy
// call after the scan. Reads only [p, end); writes only [dst, dst + room).
SSEKIT_AVX2_TARGET inline line_copy find_line_end_copy_avx2(const char* p, const char* end, char* dst,
                                                            std::size_t room) noexcept {
  const char* const start = p;
  const __m256i table = line_end_table_avx2();
  __m256i high = _mm256_setzero_si256();
  for (std::size_t left = std::min(static_cast<std::size_t>(end - p), room); left >= 64; left -= 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), a);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), b);
    const __m256i ea = line_ends_avx2(a, table);
    const __m256i eb = line_ends_avx2(b, table);
    const __m256i e = _mm256_or_si256(ea, eb);
    const __m256i seen = _mm256_or_si256(high, _mm256_or_si256(a, b));
    if (!_mm256_testz_si256(e, e)) {
      const std::uint64_t m = static_cast<std::uint32_t>(_mm256_movemask_epi8(ea)) |
                              std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(eb))} << 32;
      const int index = std::countr_zero(m);
      if (high_mask_avx2(seen) == 0) return {p + index, true, true};
      const std::uint64_t h = high_mask_avx2(a) | std::uint64_t{high_mask_avx2(b)} << 32;
      return {p + index, high_mask_avx2(high) == 0 && !high_bits_before(h, index), true};
    }
    high = seen;
    p += 64;
    dst += 64;
  }
  const line_scan rest = find_line_end_avx2<true>(start, p, end, high_mask_avx2(high) != 0);
  return {rest.end, rest.ascii, rest.end == p};
}

// Copies n bytes in whole 64-byte blocks, inline: for a few hundred bytes
// cheaper than a memcpy call. Reads and writes n rounded up to 64 bytes:
// the caller makes sure both ranges are readable and writable.
SSEKIT_AVX2_TARGET inline void copy_blocks_avx2(char* dst, const char* src, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; i += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), a);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), b);
  }
}

// SSEKIT_NO_AVX2 set in the environment (to anything but "" or "0") takes
// the SSE2 path, as a CPU without AVX2 does: the tests and fuzzers run it
// that way too, on machines that have AVX2 (tests/CMakeLists.txt).
inline const bool cpu_has_avx2 = [] {
  const char* off = std::getenv("SSEKIT_NO_AVX2");
  if (off != nullptr && off[0] != '\0' && !(off[0] == '0' && off[1] == '\0')) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();

inline line_scan find_line_end(const char* p, const char* end) noexcept {
  // Most lines are short (the empty line of every event, ids, event names):
  // the first 16 bytes are looked at inline, without a call.
  if (end - p >= 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned m = line_end_mask_sse2(a);
    const auto high = static_cast<unsigned>(_mm_movemask_epi8(a));
    if (m != 0) {
      const int index = std::countr_zero(m);
      return {p + index, !high_bits_before(high, index)};
    }
    return cpu_has_avx2 ? find_line_end_avx2<true>(p, p + 16, end, high != 0)
                        : find_line_end_sse2(p, p + 16, end, high != 0);
  }
  return find_line_end_bytewise(p, end);
}

// The first CR or LF in [p, end), or end: the line-end scan without the
// ASCII bookkeeping, for the serializer.
inline const char* find_line_break(const char* p, const char* end) noexcept {
  if (cpu_has_avx2) return find_line_end_avx2<false>(p, p, end, false).end;
  return find_line_end_sse2(p, p, end, false).end;
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

#if !defined(SSEKIT_X86)
inline const char* find_line_break(const char* p, const char* end) noexcept { return find_line_end(p, end).end; }
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

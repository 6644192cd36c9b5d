#include "output.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <cerrno>
#include <charconv>
#include <climits>
#include <optional>
#include <string_view>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "ssekit/serializer.hpp"
#include "ssekit/utf8.hpp"
#include "tool_io.hpp"

namespace ssekit::cli {

// ---- writer ------------------------------------------------------------------

namespace {

// A regular file or /dev/null: write() returns without waiting for a reader.
bool never_blocks(int fd) {
  struct stat out {}, null {};
  if (::fstat(fd, &out) != 0) return false;
  if (S_ISREG(out.st_mode)) return true;
  return S_ISCHR(out.st_mode) && ::stat("/dev/null", &null) == 0 && S_ISCHR(null.st_mode) &&
         out.st_rdev == null.st_rdev;
}

bool is_pipe(int fd) {
  struct stat out {};
  return ::fstat(fd, &out) == 0 && S_ISFIFO(out.st_mode);
}

}  // namespace

writer::writer(int fd, int wake_fd, std::size_t capacity)
    : fd_(fd),
      wake_fd_(wake_fd),
      capacity_(capacity < min_capacity ? min_capacity : capacity),
      buffer_(new char[capacity_]),  // uninitialised; libc++ 14 lacks make_unique_for_overwrite
      never_blocks_(never_blocks(fd)),
      is_pipe_(is_pipe(fd)) {}

void writer::append_large(std::string_view bytes) {
  if (error_ != 0) return;
  write_buffer();
  if (bytes.size() >= capacity_) return write_out(bytes);  // no copy
  if (error_ == 0) {
    std::memcpy(buffer_.get() + used_, bytes.data(), bytes.size());
    used_ += bytes.size();
  }
}

bool writer::flush() {
  write_buffer();
  return error_ == 0;
}

void writer::flush_without_waiting() {
  std::string_view bytes(buffer_.get(), used_);
  used_ = 0;
  // POLLOUT promises room for PIPE_BUF bytes on a pipe only: on a terminal
  // or a socket it means some room, and the write could wait for the reader.
  if (!never_blocks_ && !is_pipe_) return;
  while (error_ == 0 && !bytes.empty()) {
    std::size_t piece = bytes.size();
    if (!never_blocks_) {
      if (!tools::writable_now(fd_)) return;
      piece = std::min<std::size_t>(piece, PIPE_BUF);
    }
    const ssize_t n = ::write(fd_, bytes.data(), piece);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void writer::write_buffer() {
  write_out(std::string_view(buffer_.get(), used_));
  used_ = 0;
}

void writer::write_out(std::string_view bytes) {
  // Output that never blocks (a file, /dev/null) cannot keep a stop signal
  // waiting: no poll(), and the whole buffer per write(). One syscall per
  // buffer instead of two per 64 KiB: on this project's machines syscalls
  // cost sse-cat more than its formatting does.
  while (never_blocks_ && error_ == 0 && !bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN) error_ = errno;
      continue;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  while (error_ == 0 && !bytes.empty()) {
    std::array<pollfd, 2> fds{pollfd{fd_, POLLOUT, 0}, pollfd{wake_fd_, POLLIN, 0}};
    const int ready = ::poll(fds.data(), wake_fd_ >= 0 ? 2 : 1, -1);
    if (ready < 0) {
      if (errno != EINTR) error_ = errno;
      continue;  // a signal: the wake descriptor tells whether to stop
    }
    if (wake_fd_ >= 0 && fds[1].revents != 0) {
      error_ = EINTR;
      interrupted_ = true;
      return;
    }
    // A blocking write of a piece this size returns soon after poll said
    // there is room; a stop signal interrupts it otherwise (no SA_RESTART).
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size() < 65536 ? bytes.size() : 65536);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN) error_ = errno;
      continue;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// ---- formats -----------------------------------------------------------------

namespace {

// Writes straight into the writer's buffer, asking it for more room (which
// writes out what is buffered) only when less than a block's worst case is
// left: one compare per block instead of a reservation sized for the worst
// case of a whole piece, which left most of the buffer unused.
class cursor {
 public:
  explicit cursor(writer& out) : out_(out) { refill(min_room); }
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;
  ~cursor() { out_.commit(static_cast<std::size_t>(dst - start_)); }

  // Room for n <= min_room bytes at dst.
  void need(std::size_t n) { dst = need(dst, n); }
  // The same for a loop that keeps its position `at` in a local and stores
  // it in dst when it ends: returns where to go on (`at`, or fresh room).
  // Kept in the member, the position is reloaded after every store into the
  // buffer (a char store may alias it), a store-to-load chain per block.
  char* need(char* at, std::size_t n) {
    if (static_cast<std::size_t>(end_ - at) >= n) [[likely]] return at;
    out_.commit(static_cast<std::size_t>(at - start_));
    refill(n);
    return dst;
  }
  // The end of the room need() gave.
  const char* end() const noexcept { return end_; }
  static constexpr std::size_t min_room = writer::min_capacity;  // need(n) takes n up to this
  char* dst = nullptr;

 private:
  void refill(std::size_t n) {
    start_ = dst = out_.reserve(n);
    end_ = start_ + out_.room();
  }
  writer& out_;
  char* start_ = nullptr;
  char* end_ = nullptr;
};

#if defined(__x86_64__) || defined(__i386__)
simd_level detect_simd_level() noexcept {
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt"))
    return simd_level::avx512;
  if (__builtin_cpu_supports("ssse3") && __builtin_cpu_supports("popcnt")) return simd_level::ssse3;
  return simd_level::portable;
}
#else
simd_level detect_simd_level() noexcept { return simd_level::portable; }
#endif

const simd_level cpu_level = detect_simd_level();
simd_level current_level = cpu_level;

// What JSON needs escaped: controls, '"' and '\'. 0: nothing; a letter:
// the two-byte escape \x; 'u': \u00XX.
constexpr std::array<char, 256> json_escape_table = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 'u';
  t['"'] = '"';
  t['\\'] = '\\';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  return t;
}();

// Writes the escape of `c` (json_escape_table[c] != 0) at dst; returns its end.
char* write_escape(char* dst, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  const char kind = json_escape_table[c];
  *dst++ = '\\';
  if (kind != 'u') {
    *dst++ = kind;
    return dst;
  }
  const char tail[] = {'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
  std::memcpy(dst, tail, sizeof tail);
  return dst + sizeof tail;
}

// Escapes src[0, n) into dst (room for 6 * n bytes); returns the end.
char* escape_json_bytes(char* dst, const char* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(src[i]);
    if (json_escape_table[c] == 0) {
      *dst++ = static_cast<char>(c);
    } else {
      dst = write_escape(dst, c);
    }
  }
  return dst;
}

// Blocks of `block` bytes: at most 6 * block out (all controls).
void escape_json_portable(cursor& out, const char* src, std::size_t n) {
  constexpr std::size_t block = cursor::min_room / 6;
  while (n > 0) {
    const std::size_t len = n < block ? n : block;
    out.need(6 * len);
    out.dst = escape_json_bytes(out.dst, src, len);
    src += len;
    n -= len;
  }
}

#if defined(__x86_64__) || defined(__i386__)
// LLM payloads are JSON: a quote every few bytes, so escapes must not cost a
// branch each. 8 bytes at a time, pshufb spreads them over up to 16 with a
// backslash before each '"' and '\' (index 8 picks the backslash). Entry m:
// the shuffle for escape mask m.
constexpr auto json_spread_table = [] {
  std::array<std::array<std::uint8_t, 16>, 256> t{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned j = 0;
    for (unsigned k = 0; k < 8; ++k) {
      if ((m >> k) & 1u) t[m][j++] = 8;
      t[m][j++] = static_cast<std::uint8_t>(k);
    }
    for (; j < 16; ++j) t[m][j] = 0x80;  // past the output: zero, overwritten next
  }
  return t;
}();

#define SSEKIT_SSSE3 __attribute__((target("ssse3,popcnt")))

// Writes half (bytes 0-7: data, 8-15: backslashes) at dst, spread by escape
// mask m; returns the end of its `len` bytes and their escapes.
SSEKIT_SSSE3 char* spread_half(char* dst, __m128i half, unsigned m, unsigned len) {
  const __m128i shuffle = _mm_loadu_si128(reinterpret_cast<const __m128i*>(json_spread_table[m].data()));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_shuffle_epi8(half, shuffle));
  return dst + len + static_cast<unsigned>(std::popcount(m));
}

// Escapes the first `len` bytes of v (the bytes of `from`; the rest of v is
// padding) at dst (room for 6 * 16 bytes), writing whole 16-byte stores;
// returns the end.
SSEKIT_SSSE3 char* escape_block(char* dst, __m128i v, const char* from, unsigned len) {
  const unsigned valid = (1u << len) - 1;
  const __m128i last_control = _mm_set1_epi8(0x1f);
  const auto controls = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v)));
  if ((controls & valid) != 0) return escape_json_bytes(dst, from, len);  // rare
  const __m128i backslash = _mm_set1_epi8('\\');
  const auto special = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, backslash));
  const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special)) & valid;
  if (mask == 0) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
    return dst + len;
  }
  dst = spread_half(dst, _mm_unpacklo_epi64(v, backslash), mask & 0xffu, len < 8 ? len : 8);
  if (len > 8) dst = spread_half(dst, _mm_unpackhi_epi64(v, backslash), mask >> 8, len - 8);
  return dst;
}

SSEKIT_SSSE3 void escape_json_ssse3(cursor& out, const char* src, std::size_t n) {
  std::size_t i = 0;
  char* dst = out.dst;
  for (; i + 16 <= n; i += 16) {
    dst = out.need(dst, 6 * 16);
    dst = escape_block(dst, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)), src + i, 16);
  }
  out.dst = dst;
  if (i == n) return;
  alignas(16) char rest[16];  // the rest from a padded copy: no read past src + n
  std::memset(rest, 'x', sizeof rest);
  std::memcpy(rest, src + i, n - i);
  out.need(6 * 16);
  out.dst = escape_block(out.dst, _mm_load_si128(reinterpret_cast<const __m128i*>(rest)), src + i,
                         static_cast<unsigned>(n - i));
}
#undef SSEKIT_SSSE3

#define SSEKIT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,bmi2,popcnt")))

// 32 bytes at a time, no branch on the data: each byte becomes the 16-bit
// pair (backslash, byte) with n/r/t for LF/CR/tab, and vpcompressb keeps
// the backslash only before the bytes that need one (the mask's even bits)
// and every byte (its odd bits). Other controls (\u00XX) are rare: their
// block goes byte by byte.
SSEKIT_AVX512 void escape_json_avx512(cursor& out, const char* src, std::size_t n) {
  const __m256i quote = _mm256_set1_epi8('"');
  const __m256i backslash = _mm256_set1_epi8('\\');
  const __m256i lf = _mm256_set1_epi8('\n');
  const __m256i cr = _mm256_set1_epi8('\r');
  const __m256i tab = _mm256_set1_epi8('\t');
  const __m256i space = _mm256_set1_epi8(' ');
  const __m256i n_letter = _mm256_set1_epi8('n');
  const __m256i r_letter = _mm256_set1_epi8('r');
  const __m256i t_letter = _mm256_set1_epi8('t');
  const __m512i backslash_pairs = _mm512_set1_epi16('\\');
  char* dst = out.dst;
  while (n > 0) {
    dst = out.need(dst, 6 * 32);
    // The blocks that fit in this room, in a loop without calls and with
    // its position in a register (2-8% less CPU than a need() per block,
    // sse-cat --json on the four workloads; vpcompressb bounds the rest).
    const char* const room_end = out.end();
    bool rare = false;
    while (n > 0 && room_end - dst >= 64) {  // 64: the store's width
      const std::size_t len = n < 32 ? n : 32;
      const __mmask32 valid = static_cast<__mmask32>(_bzhi_u32(~0u, static_cast<unsigned>(len)));
      // Masked only for the last, short block (no read past src + n): a
      // masked byte load in every block made the escaper alone 1.3-1.6x
      // slower on AMD Zen (llm payloads in memory; sse-cat end to end did
      // not move: its 64-byte stores bound it there).
      const __m256i v = len == 32 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)) : _mm256_maskz_loadu_epi8(valid, src);
      const __mmask32 is_lf = _mm256_mask_cmpeq_epi8_mask(valid, v, lf);
      const __mmask32 is_cr = _mm256_mask_cmpeq_epi8_mask(valid, v, cr);
      const __mmask32 is_tab = _mm256_mask_cmpeq_epi8_mask(valid, v, tab);
      const __mmask32 controls = _mm256_mask_cmplt_epu8_mask(valid, v, space);
      if ((controls & ~(is_lf | is_cr | is_tab)) != 0) {
        rare = true;
        break;
      }
      const __mmask32 escaped = static_cast<__mmask32>(controls | _mm256_mask_cmpeq_epi8_mask(valid, v, quote) |
                                                       _mm256_mask_cmpeq_epi8_mask(valid, v, backslash));
      __m256i r = _mm256_mask_blend_epi8(is_lf, v, n_letter);
      r = _mm256_mask_blend_epi8(is_cr, r, r_letter);
      r = _mm256_mask_blend_epi8(is_tab, r, t_letter);
      const __m512i pairs = _mm512_or_si512(_mm512_slli_epi16(_mm512_cvtepu8_epi16(r), 8), backslash_pairs);
      const __mmask64 keep = _pdep_u64(valid, 0xaaaaaaaaaaaaaaaaULL) | _pdep_u64(escaped, 0x5555555555555555ULL);
      _mm512_storeu_si512(dst, _mm512_maskz_compress_epi8(keep, pairs));
      dst += len + static_cast<unsigned>(std::popcount(static_cast<std::uint32_t>(escaped)));
      src += len;
      n -= len;
    }
    if (rare) {  // a control other than LF, CR, tab (\u00XX): this block byte by byte
      const std::size_t len = n < 32 ? n : 32;
      dst = escape_json_bytes(out.need(dst, 6 * 32), src, len);
      src += len;
      n -= len;
    }
  }
  out.dst = dst;
}

#undef SSEKIT_AVX512

// "data: LINE\n" ("data:\n" when empty) for each line of `p` to `end`
// (LF-separated), in one pass of 16-byte blocks that are stored as they
// are loaded and stop at the first LF: for data of many short lines twice
// the speed of a memchr and a memcpy per line (big workload, 8 -> 16 GB/s;
// the calls per line were the cost). SSE2 is in every x86-64.
#if defined(__SSE2__)
void write_data_lines_sse2(cursor& out, const char* p, const char* end) {
  const __m128i lf = _mm_set1_epi8('\n');
  char* dst = out.dst;
  for (;;) {
    // Room for the name and the first block, so that the space after the
    // name can still be taken back when the line is empty.
    dst = out.need(dst, 6 + 16 + 1);
    std::memcpy(dst, "data: ", 6);
    dst += 6;
    const char* const line = p;
    bool more = false;  // an LF ended the line
    while (end - p >= 16) {
      dst = out.need(dst, 16);
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), v);
      const auto lfs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)));
      if (lfs != 0) {
        const auto k = static_cast<unsigned>(std::countr_zero(lfs));
        dst += k;
        p += k;
        more = true;
        break;
      }
      dst += 16;
      p += 16;
    }
    if (!more) {  // fewer than 16 bytes left
      const void* const found = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
      const char* const stop = found != nullptr ? static_cast<const char*>(found) : end;
      const auto n = static_cast<std::size_t>(stop - p);
      dst = out.need(dst, n);
      std::memcpy(dst, p, n);
      dst += n;
      p = stop;
      more = found != nullptr;
    }
    if (p == line) --dst;  // "data:" for an empty line, as write_field
    dst = out.need(dst, 1);
    *dst++ = '\n';
    if (!more) break;
    ++p;  // the LF
  }
  out.dst = dst;
}
#endif

#endif

}  // namespace

simd_level cpu_simd_level() noexcept { return cpu_level; }

void set_simd_level(simd_level level) noexcept { current_level = level < cpu_level ? level : cpu_level; }

namespace {

// The escaper for the CPU (and the level set), into `out`.
void escape_json(cursor& out, std::string_view text) {
  // The parser delivers valid UTF-8, so no byte above 0x7f needs anything.
#if defined(__x86_64__) || defined(__i386__)
  if (current_level == simd_level::avx512) {
    escape_json_avx512(out, text.data(), text.size());
  } else if (current_level >= simd_level::ssse3) {
    escape_json_ssse3(out, text.data(), text.size());
  } else
#endif
  {
    escape_json_portable(out, text.data(), text.size());
  }
}

}  // namespace

void append_json_escaped(writer& w, std::string_view text) {
  cursor out(w);
  escape_json(out, text);
}

void append_json_string(writer& w, std::string_view text) {
  cursor out(w);
  *out.dst++ = '"';
  escape_json(out, text);
  out.need(1);
  *out.dst++ = '"';
}

namespace {

// "name: value\n" ("name:\n" when empty), written in pieces. The same bytes
// as the core serializer (serialize_event), which would first copy the
// whole event into one string.
void write_field(writer& out, std::string_view name, std::string_view value) {
  const std::size_t size = name.size() + value.size() + 3;
  if (size <= out.capacity()) {  // the usual case: one copy into the buffer
    char* const start = out.reserve(size);
    char* p = start;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    if (!value.empty()) {
      *p++ = ' ';
      std::memcpy(p, value.data(), value.size());
      p += value.size();
    }
    *p++ = '\n';
    out.commit(static_cast<std::size_t>(p - start));
    return;
  }
  out.append(name);
  out.append(':');
  if (!value.empty()) {
    out.append(' ');
    out.append(value);
  }
  out.append('\n');
}

// What escape_controls() escapes: C0 controls but TAB, DEL, C1 controls
// (U+0080-U+009F, 0xC2 0x80-0x9F in the valid UTF-8 the parser delivers).
bool has_control(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0) return true;
  }
  return false;
}

// A line for a terminal: escaped as error messages are (terminal_safe),
// TABs kept. Only for text with a control: a terminal reads slower than this.
// In pieces of at most 16 KiB, so that a long line costs a piece's escaping
// (up to 4x), not two escaped copies of the line (9x its size in all). A
// piece ends before a byte that starts a UTF-8 sequence, or after 4
// continuation bytes, which no sequence has: terminal_safe() then judges
// each sequence whole, as it would in one call.
void append_terminal_line(writer& w, std::string_view text) {
  constexpr std::size_t piece = 16384;
  const auto continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; };
  while (!text.empty()) {
    std::size_t n = std::min(piece, text.size());
    for (std::size_t back = 0; back < 4 && n < text.size() && continuation(text[n]); ++back) --n;
    if (n < text.size() && continuation(text[n])) n = std::min(piece, text.size());
    std::string_view part = text.substr(0, n);
    text.remove_prefix(n);
    for (std::size_t tab = part.find('\t');; tab = part.find('\t')) {
      w.append(tools::terminal_safe(part.substr(0, tab)));
      if (tab == std::string_view::npos) break;
      w.append('\t');
      part.remove_prefix(tab + 1);
    }
  }
}

// write_field() for a terminal: the value through append_terminal_line().
void write_terminal_field(writer& w, std::string_view name, std::string_view value) {
  w.append(name);
  w.append(':');
  if (!value.empty()) {
    w.append(' ');
    append_terminal_line(w, value);
  }
  w.append('\n');
}

// A JSON string for a terminal: JSON leaves DEL and C1 controls as they
// are, which some terminals obey; here they are \u escapes too.
void append_terminal_json_string(writer& w, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  w.append('"');
  std::size_t run = 0;  // start of the bytes JSON escapes as usual
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (c != 0x7f && !c1) continue;
    append_json_escaped(w, text.substr(run, i - run));
    const unsigned code = c1 ? static_cast<unsigned char>(text[++i]) : c;
    const char escape[] = {'\\', 'u', '0', '0', hex[code >> 4], hex[code & 15]};
    w.append(std::string_view(escape, sizeof escape));
    run = i + 1;
  }
  append_json_escaped(w, text.substr(run));
  w.append('"');
}

}  // namespace

void printer::on_event(const event& ev) {
  ++events_;
  if (escape_controls_ && (has_control(ev.data) || has_control(ev.type) || has_control(ev.last_event_id))) {
    on_event_with_controls(ev);
    return;
  }
  if (format_ == output_format::json) {
    // The usual type and id as literals: no escaper call for them.
    if (ev.type == "message") {
      out_.append("{\"type\":\"message\",\"data\":");
    } else {
      out_.append("{\"type\":");
      append_json_string(out_, ev.type);
      out_.append(",\"data\":");
    }
    append_json_string(out_, ev.data);
    if (ev.last_event_id.empty()) {
      out_.append(",\"lastEventId\":\"\"}\n");
    } else {
      out_.append(",\"lastEventId\":");
      append_json_string(out_, ev.last_event_id);
      out_.append("}\n");
    }
    return;
  }
  // Re-serialized, so the output is itself a stream that parses to the same
  // events; the id is written only when it changed. The parser never
  // delivers CR or LF in a type or id, nor NUL in an id.
  // The id is kept, however long (the parser's limits bound it): written
  // again with every event, one long id made the output a million times
  // the input (an id of 1 MB, then "data:x" events).
  if (ev.last_event_id != printed_id_) {
    write_field(out_, "id", ev.last_event_id);
    printed_id_.assign(ev.last_event_id);
  }
  if (ev.type != "message") write_field(out_, "event", ev.type);
  // One data line per LF: the parser delivers no CR in data (CR ends a
  // line in the format). One line (the usual) is one memchr and one copy;
  // more go through the one-pass copy (write_data_lines_sse2).
  std::string_view rest = ev.data;
  std::size_t pos = rest.find('\n');
#if defined(__SSE2__)
  if (pos != std::string_view::npos && current_level != simd_level::portable) {
    cursor out(out_);
    write_data_lines_sse2(out, rest.data(), rest.data() + rest.size());
    out.need(1);
    *out.dst++ = '\n';
    return;
  }
#endif
  for (;;) {
    write_field(out_, "data", rest.substr(0, pos));
    if (pos == std::string_view::npos) break;
    rest.remove_prefix(pos + 1);
    pos = rest.find('\n');
  }
  out_.append('\n');
}

// escape_controls(): the slow path, for an event with a control in it.
void printer::on_event_with_controls(const event& ev) {
  if (format_ == output_format::json) {
    out_.append("{\"type\":");
    append_terminal_json_string(out_, ev.type);
    out_.append(",\"data\":");
    append_terminal_json_string(out_, ev.data);
    out_.append(",\"lastEventId\":");
    append_terminal_json_string(out_, ev.last_event_id);
    out_.append("}\n");
    return;
  }
  // An id with a control is written escaped, and only ever by this path
  // (an event with it has a control), so it is written when it changed as
  // in on_event(); one without is the same bytes escaped.
  if (ev.last_event_id != printed_id_) {
    write_terminal_field(out_, "id", ev.last_event_id);
    printed_id_.assign(ev.last_event_id);
  }
  if (ev.type != "message") write_terminal_field(out_, "event", ev.type);
  std::string_view rest = ev.data;
  for (std::size_t pos = rest.find('\n');; pos = rest.find('\n')) {
    write_terminal_field(out_, "data", rest.substr(0, pos));
    if (pos == std::string_view::npos) break;
    rest.remove_prefix(pos + 1);
  }
  out_.append('\n');
}

void printer::on_comment(std::string_view text) {
  if (!all_) return;
  if (format_ == output_format::json) {
    out_.append("{\"comment\":");
    if (escape_controls_) append_terminal_json_string(out_, text);
    else append_json_string(out_, text);
    out_.append("}\n");
  } else {
    out_.append(':');
    // The parser never delivers CR or LF in a comment.
    if (escape_controls_ && has_control(text)) append_terminal_line(out_, text);
    else out_.append(text);
    out_.append('\n');
  }
}

void printer::on_retry(std::uint64_t milliseconds) {
  if (!all_) return;
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, milliseconds).ptr;
  const std::string_view number(digits, static_cast<std::size_t>(end - digits));
  if (format_ == output_format::json) {
    out_.append("{\"retry\":");
    out_.append(number);
    out_.append("}\n");
  } else {
    write_field(out_, "retry", number);
  }
}

std::string with_flag_names(std::string message) {
  constexpr std::string_view replay = "set replay_body to resend it";  // native/client/client.cpp
  constexpr std::string_view server_errors = "set retry_server_errors to reconnect after it";  // client.cpp too
  constexpr std::string_view ca_file = "ssekit::client: can't load ca_file ";                  // transport.cpp
  if (message.starts_with(ca_file)) message.replace(0, ca_file.size(), cacert_load_failure);
  // Endings that name an option, and sse-cat's words for them.
  constexpr std::pair<std::string_view, std::string_view> endings[] = {
      {replay, "pass --replay-body to resend it"},
      {server_errors, "pass --retry-server-errors to reconnect after it"},
      {"(max_compression_ratio)", "(max_compression_ratio) (see --max-compression-ratio)"},  // content_decoder.cpp
      {"trust it with ca_file)", "trust it with --cacert)"},                                  // transport.cpp handshake_failure
      {"the trusted certificates given hold neither that certificate nor the CA that issued it)",
       "the --cacert file holds neither that certificate nor the CA that issued it)"},  // and with ca_file given
      {"client_options::last_event_id)", "--last-event-id)"},                                // http_rules.cpp check_request
      {"(client_options::compression chooses it)", "(--compressed / --no-compressed choose it)"},
  };
  for (const auto& [ending, words] : endings) {
    if (!message.ends_with(ending)) continue;
    message.replace(message.size() - ending.size(), ending.size(), words);
    break;
  }
  return message;
}

std::string body_excerpt(std::string_view body) {
  constexpr std::size_t max = 300;
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!body.empty() && space(body.front())) body.remove_prefix(1);
  bool cut = false;
  if (body.size() > max) {
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(body[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 character
    body = body.substr(0, n);
    cut = true;
  }
  while (!body.empty() && space(body.back())) body.remove_suffix(1);
  std::string lines;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\r' && body[i] != '\n') {
      lines += body[i];
      continue;
    }
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
    lines += " / ";
  }
  std::string out = tools::terminal_safe(lines);
  if (cut) out += "...";
  return out;
}

}  // namespace ssekit::cli

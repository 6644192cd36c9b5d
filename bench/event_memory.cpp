// ssekit-event-memory: the parser's peak heap for one large event, against
// the event's own size. The event has an event type, an id and data of N
// bytes each, every field one line that spans many chunks, in three
// flavours: ASCII, invalid UTF-8 here and there (one 0xFF every 64 bytes)
// and nothing but invalid bytes (each 0xFF becomes U+FFFD, 3 bytes).
//
// Heap is counted, not timed: this program replaces operator new/delete and
// tracks the live bytes, so the figure is the same on every run and machine
// (for one standard library). The target is peak <= 2 x the event's bytes +
// 1 MiB, where the event's bytes are what the handler receives (type + data
// + id after UTF-8 repair; for ASCII that is the bytes on the wire). The
// exit status is 1 if any case is over it or delivers the wrong event.
//
//   ssekit-event-memory [--size BYTES] [--chunk BYTES]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "ssekit/parser.hpp"

namespace {

// Live heap bytes and their high-water mark. Each block carries its size in
// a 16-byte header (keeping new's alignment).
std::size_t g_live = 0;
std::size_t g_peak = 0;
constexpr std::size_t header = 16;

void* counted_alloc(std::size_t size) {
  void* raw = std::malloc(size + header);
  if (raw == nullptr) throw std::bad_alloc();
  std::memcpy(raw, &size, sizeof size);
  g_live += size;
  g_peak = std::max(g_peak, g_live);
  return static_cast<char*>(raw) + header;
}

void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  char* raw = static_cast<char*>(p) - header;
  std::size_t size = 0;
  std::memcpy(&size, raw, sizeof size);
  g_live -= size;
  std::free(raw);
}

}  // namespace

void* operator new(std::size_t size) { return counted_alloc(size); }
void* operator new[](std::size_t size) { return counted_alloc(size); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }

namespace {

enum class flavour { ascii, some_invalid, all_invalid };

const char* name_of(flavour f) {
  switch (f) {
    case flavour::ascii: return "ascii";
    case flavour::some_invalid: return "invalid-1/64";
    case flavour::all_invalid: return "invalid-all";
  }
  return "?";
}

// Byte i of a field value, and the value's size once repaired.
char value_byte(flavour f, std::size_t i) {
  if (f == flavour::all_invalid || (f == flavour::some_invalid && i % 64 == 63)) return '\xFF';
  return static_cast<char>('a' + i % 26);
}

std::size_t delivered_size(flavour f, std::size_t n) {
  switch (f) {
    case flavour::ascii: return n;
    case flavour::some_invalid: return n + 2 * (n / 64);
    case flavour::all_invalid: return 3 * n;
  }
  return 0;
}

// The stream "event: V\nid: V\ndata: V\n\n", produced piece by piece into
// one reused chunk so the input itself costs no heap during the run.
class stream_source {
 public:
  stream_source(flavour f, std::size_t n) : f_(f), n_(n) {}

  // Fills up to `room` bytes at `out`; returns how many (0 at the end).
  std::size_t next(char* out, std::size_t room) {
    static constexpr std::string_view names[] = {"event: ", "id: ", "data: "};
    std::size_t written = 0;
    while (written < room && part_ < 7) {
      if (part_ % 2 == 0 && part_ < 6) {  // a field name
        const std::string_view name = names[part_ / 2];
        const std::size_t k = std::min(room - written, name.size() - pos_);
        std::memcpy(out + written, name.data() + pos_, k);
        written += k;
        pos_ += k;
        if (pos_ == name.size()) advance();
      } else if (part_ < 6) {  // a value, then its LF
        while (written < room && pos_ < n_) out[written++] = value_byte(f_, pos_++);
        if (pos_ == n_ && written < room) {
          out[written++] = '\n';
          advance();
        }
      } else {  // the empty line
        out[written++] = '\n';
        advance();
      }
    }
    return written;
  }

 private:
  void advance() {
    ++part_;
    pos_ = 0;
  }
  flavour f_;
  std::size_t n_;
  int part_ = 0;
  std::size_t pos_ = 0;
};

struct checking_handler final : ssekit::handler {
  void on_event(const ssekit::event& ev) override {
    ++events;
    type_size = ev.type.size();
    data_size = ev.data.size();
    id_size = ev.last_event_id.size();
    peak_at_delivery = g_live;
  }
  int events = 0;
  std::size_t type_size = 0, data_size = 0, id_size = 0;
  std::size_t peak_at_delivery = 0;
};

bool parse_size(const char* text, std::size_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v == 0 || v > (1ull << 32)) return false;
  out = static_cast<std::size_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = (8u << 20) + 1;  // not a power of two: no flattering fit
  std::size_t chunk = 64 * 1024;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--size" || arg == "--chunk") && i + 1 < argc) {
      if (!parse_size(argv[++i], arg == "--size" ? n : chunk)) {
        std::fprintf(stderr, "ssekit-event-memory: bad value for %s\n", argv[i - 1]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: ssekit-event-memory [--size BYTES] [--chunk BYTES]\n");
      return 2;
    }
  }

  std::printf("# one event: event, id and data of %zu B each, fed in %zu B chunks\n", n, chunk);
  std::printf("# event B = type + data + id as delivered; peak = parser's peak live heap; target peak <= 2 x event B + 1 MiB\n");
  std::printf("%-13s %12s %12s %12s %7s\n", "flavour", "wire B", "event B", "peak B", "ratio");
  int failures = 0;
  char* const buffer = new char[chunk];
  for (const flavour f : {flavour::ascii, flavour::some_invalid, flavour::all_invalid}) {
    checking_handler h;
    ssekit::parser_options options;
    options.max_line_length = n + 8;
    options.max_event_size = 3 * n;
    const std::size_t before = g_live;
    g_peak = g_live;
    std::uint64_t wire = 0;
    ssekit::parse_error error;
    {
      ssekit::parser p{h, options};
      stream_source source{f, n};
      while (!error) {
        const std::size_t k = source.next(buffer, chunk);
        if (k == 0) break;
        wire += k;
        error = p.feed(std::string_view(buffer, k));
      }
      if (!error) error = p.finish();
    }
    const std::size_t peak = g_peak - before;
    const std::size_t expected = delivered_size(f, n);
    const std::size_t event_bytes = 3 * expected;
    const double ratio = static_cast<double>(peak) / static_cast<double>(event_bytes);
    const bool right_event =
        !error && h.events == 1 && h.type_size == expected && h.data_size == expected && h.id_size == expected;
    const bool within = peak <= 2 * event_bytes + (1u << 20);
    std::printf("%-13s %12llu %12zu %12zu %7.2f%s\n", name_of(f), static_cast<unsigned long long>(wire), event_bytes,
                peak, ratio, !right_event ? "  WRONG EVENT" : !within ? "  OVER TARGET" : "");
    if (!right_event || !within) ++failures;
    if (g_live != before) {
      std::printf("  the parser leaked %zu B\n", g_live - before);
      ++failures;
    }
  }
  delete[] buffer;
  return failures == 0 ? 0 : 1;
}

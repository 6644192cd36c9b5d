// Helpers shared by the fuzz targets: turning the fuzzer's bytes into parser
// options, chunk boundaries and values; running the fast parser; and failing
// loudly (print, then abort so libFuzzer saves the input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/reference/reference_parser.hpp"
#include "ssekit/error.hpp"
#include "ssekit/parser.hpp"
#include "support/recorder.hpp"

namespace ssekit::fuzz {

using test::escape_bytes;
using test::record;

// Reads the fuzzer's input front to back; past the end it yields zeros and
// empty strings, so every input is a valid recipe.
class byte_reader {
 public:
  byte_reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool flag() { return (byte() & 1) != 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return v;
  }
  // A length byte, then that many bytes (fewer at the end of the input).
  std::string_view string() {
    std::size_t n = byte();
    if (n > size_ - pos_) n = size_ - pos_;
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::string_view rest() {
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return s;
  }
  bool empty() const { return pos_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// A stream and the way to feed it, decoded from a 6-byte header:
//   [0] bit 0: raw_bytes; bit 1: small max_line_length; bit 2: small max_event_size
//   [1] the small max_line_length   [2] the small max_event_size
//   [3] largest chunk (0: the whole stream in one chunk)
//   [4..5] seed for the chunk sizes
// The rest of the input is the stream.
struct fuzz_setup {
  ssekit::parser_options options;
  std::vector<std::size_t> chunks;  // sizes, summing to stream.size()
  std::string_view stream;
};

inline fuzz_setup read_setup(const std::uint8_t* data, std::size_t size) {
  byte_reader in(data, size);
  fuzz_setup s;
  const std::uint8_t flags = in.byte();
  const std::uint8_t line_limit = in.byte();
  const std::uint8_t event_limit = in.byte();
  const std::uint8_t max_chunk = in.byte();
  std::uint32_t seed = in.byte();
  seed = (seed << 8) | in.byte();
  s.options.raw_bytes = (flags & 1) != 0;
  if (flags & 2) s.options.max_line_length = line_limit;
  if (flags & 4) s.options.max_event_size = event_limit;
  s.stream = in.rest();
  std::size_t left = s.stream.size();
  std::uint32_t state = seed * 2654435761u + 1;
  while (left > 0) {
    std::size_t n = left;
    if (max_chunk != 0) {
      state = state * 1103515245u + 12345u;  // LCG: plenty for choosing split points
      n = (state >> 16) % max_chunk + 1;
      if (((state >> 8) & 63) == 0) n = 0;  // an empty chunk now and then: legal, so tested
    }
    if (n > left) n = left;
    s.chunks.push_back(n);
    left -= n;
  }
  return s;
}

// What the fast parser did with a stream.
struct run_result {
  std::vector<record> records;
  std::string last_event_id;
  ssekit::parse_error error;
};

[[noreturn]] inline void fail(const char* what, std::string_view stream, const ssekit::parser_options& options) {
  std::fprintf(stderr, "\n*** %s\n  raw_bytes=%d max_line_length=%zu max_event_size=%zu\n  stream=\"%s\"\n", what,
               options.raw_bytes ? 1 : 0, options.max_line_length, options.max_event_size,
               escape_bytes(std::string(stream)).c_str());
  std::abort();
}

inline void print_result(const char* name, const std::vector<record>& records, const std::string& id,
                         ssekit::parse_error error) {
  std::string s;
  for (const record& r : records) {
    switch (r.what) {
      case record::kind::event:
        s += "    event{type=\"" + escape_bytes(r.type) + "\" data=\"" + escape_bytes(r.data) + "\" id=\"" +
             escape_bytes(r.last_event_id) + "\"}\n";
        break;
      case record::kind::comment: s += "    comment{\"" + escape_bytes(r.comment) + "\"}\n"; break;
      case record::kind::retry: s += "    retry{" + std::to_string(r.retry) + "}\n"; break;
    }
  }
  std::fprintf(stderr, "  %s:\n%s    last_event_id=\"%s\" error=%.*s@%llu\n", name, s.c_str(),
               escape_bytes(id).c_str(), static_cast<int>(ssekit::error_name(error.code).size()),
               ssekit::error_name(error.code).data(), static_cast<unsigned long long>(error.offset));
}

// Feeds `chunks` (each copied into an exact-size heap buffer so ASan catches
// any read past it), then finish(). Checks the error contract on the way:
// an error is sticky and nothing is delivered after it.
inline run_result run_fast(std::string_view stream, const std::vector<std::size_t>& chunks,
                           const ssekit::parser_options& options) {
  test::recorder rec;
  ssekit::parser p{rec, options};
  ssekit::parse_error err;
  std::size_t pos = 0;
  for (std::size_t n : chunks) {
    std::unique_ptr<char[]> copy(new char[n == 0 ? 1 : n]);
    if (n != 0) std::memcpy(copy.get(), stream.data() + pos, n);
    pos += n;
    const std::size_t before = rec.records.size();
    const ssekit::parse_error e = p.feed(std::string_view(copy.get(), n));
    if (err && e != err) fail("feed() after an error returned a different error", stream, options);
    if (err && rec.records.size() != before) fail("handler called after an error", stream, options);
    if (!err) err = e;
  }
  const ssekit::parse_error fin = p.finish();
  if (err && fin != err) fail("finish() did not return the sticky error", stream, options);
  // After an error the parser stops counting (the rest was never parsed).
  if (!fin && p.bytes_fed() != stream.size()) fail("bytes_fed() is not the number of bytes fed", stream, options);
  return {std::move(rec.records), std::string(p.last_event_id()), fin};
}

inline std::vector<std::size_t> whole(std::string_view stream) { return {stream.size()}; }

}  // namespace ssekit::fuzz

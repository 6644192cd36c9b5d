// fuzz_content_decoder: the gzip / deflate decoder (native/client/
// content_decoder.hpp) in front of the parser, as the client's read path
// uses them. Whatever the bytes and however they are split:
// - no crash, and no decoded piece larger than the decoder's chunk;
// - the decoder's memory stays bounded (zlib's state and window + the chunk);
// - split input decodes to exactly the bytes, and the same verdict (error
//   or clean end), as the whole input;
// - the parser, fed the decoded pieces with small limits, stops with an
//   error or parses on; never more than its limits.
// Input: byte 0 bit 0: gzip (else deflate); byte 1: the chunk size
// (1..256, 0 = the client's 16 KiB); byte 2: the largest split (0 = whole);
// then the compressed stream.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "content_decoder.hpp"
#include "ssekit/parser.hpp"

namespace {

using ssekit::detail::content_coding;
using ssekit::detail::content_decoder;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_content_decoder: %s\n", what);
  std::abort();
}

struct counting_handler final : ssekit::handler {
  std::size_t largest = 0;
  void on_event(const ssekit::event& ev) override { largest = std::max(largest, ev.data.size()); }
};

struct outcome {
  std::string decoded;
  bool clean = false;
};

outcome decode(content_coding coding, std::size_t chunk, std::string_view stream, std::size_t largest_split,
               ssekit::parser* parser) {
  content_decoder d(coding, chunk);
  outcome out;
  bool parsing = parser != nullptr;
  std::size_t at = 0;
  std::size_t step = 1;
  while (at < stream.size() || at == 0) {
    // Split sizes cycle 1..largest_split (whole when 0).
    const std::size_t n = largest_split == 0 ? stream.size() : std::min(step, stream.size() - at);
    step = step % (largest_split == 0 ? 1 : largest_split) + 1;
    d.input(stream.substr(at, n));
    for (std::string_view piece; !(piece = d.next()).empty();) {
      if (piece.size() > chunk) fail("a decoded piece larger than the chunk");
      out.decoded += piece;
      if (parsing && parser->feed(piece)) parsing = false;
    }
    if (d.peak_memory() > 64 * 1024 + chunk) fail("the decoder's memory grew past zlib's state and the chunk");
    at += n;
    if (n == 0) break;
  }
  out.clean = d.finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const content_coding coding = (data[0] & 1) != 0 ? content_coding::gzip : content_coding::deflate;
  const std::size_t chunk = data[1] == 0 ? content_decoder::default_chunk_size : data[1];
  const std::size_t largest_split = data[2];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);

  counting_handler h;
  ssekit::parser_options limits;
  limits.max_line_length = 512;
  limits.max_event_size = 1024;
  ssekit::parser parser(h, limits);
  const outcome whole = decode(coding, content_decoder::default_chunk_size, stream, 0, nullptr);
  const outcome split = decode(coding, chunk, stream, largest_split, &parser);
  if (whole.decoded != split.decoded) fail("split input decoded differently from the whole");
  if (whole.clean != split.clean) fail("split input ended differently from the whole");
  if (h.largest > limits.max_event_size * 3) fail("an event larger than max_event_size allows");
  return 0;
}

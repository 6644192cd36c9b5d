// Content-Encoding gzip and deflate for the client's read path, on zlib.
// Incremental and bounded: input() takes the compressed bytes of one read,
// next() hands back decoded bytes in pieces of at most chunk_size, so a
// bomb (a few KB inflating to gigabytes) reaches the parser one fixed-size
// piece at a time and meets its limits; the decoder's own memory is zlib's
// state plus that one piece, whatever the input.
//
// Decisions (README, "Compression"):
// - gzip: concatenated members are one stream (RFC 1952 2.2); bytes after a
//   member that are not another member are an error, not ignored.
// - deflate: RFC 9110 8.4.1.2 means the zlib format (RFC 1950); raw deflate
//   (RFC 1951), which some servers send, is accepted too, told apart by the
//   zlib header check on the first two bytes as browsers do. Bytes after
//   the end of the deflate stream are an error.
// - A stream that ends inside a member (finish() false) is an error: the
//   decoded bytes before it were already delivered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ssekit::detail {

enum class content_coding { identity, gzip, deflate };

// The coding named by one Content-Encoding value (case-insensitive; x-gzip
// is gzip, RFC 9110 8.4.1.3), or nothing for a registered coding the client
// can't decode (br, zstd, compress...). A name that is no coding at all
// ("none", "UTF-8", which some servers send) is identity: browsers read
// such a body as it is.
std::optional<content_coding> coding_from_name(std::string_view name);

class content_decoder {
 public:
  static constexpr std::size_t default_chunk_size = 16 * 1024;

  explicit content_decoder(content_coding coding, std::size_t chunk_size = default_chunk_size);
  ~content_decoder();
  content_decoder(const content_decoder&) = delete;
  content_decoder& operator=(const content_decoder&) = delete;

  // The next compressed bytes; next() must have returned empty (the last
  // input is used up) before the next call. Borrowed until then.
  void input(std::string_view compressed);
  // Decoded bytes, at most chunk_size, valid until the next call; empty
  // when the input is used up or the stream is broken (failed()).
  std::string_view next();
  // Keeps the input not yet decoded (copied: the caller's buffer goes) for
  // later next() calls, when the reading pauses between two pieces;
  // input() then appends to it. Held until next() has used it up.
  void hold();
  bool holding() const noexcept { return holding_; }
  // At the end of the response: true when the stream ended at the end of a
  // member (or carried no byte at all); false sets failed().
  bool finish();

  // Fails the stream once it decodes to more than `ratio` bytes per
  // compressed byte, past its first ratio_allowance decoded bytes (0: never).
  void limit_ratio(std::uint64_t ratio) noexcept { max_ratio_ = ratio; }
  static constexpr std::uint64_t ratio_allowance = 1 << 20;

  bool failed() const noexcept { return !error_.empty(); }
  // What is wrong with the stream (for client_error::message).
  const std::string& error() const noexcept { return error_; }
  // Compressed bytes taken so far (for the error message's position).
  std::uint64_t compressed_offset() const noexcept;

  // The memory the decoder holds now and at most so far: zlib's state and
  // window (counted by its allocator hooks) plus the output piece. The
  // bomb tests check that it stays bounded.
  std::size_t memory() const noexcept { return allocated_ + chunk_size_ + held_.capacity(); }
  std::size_t peak_memory() const noexcept { return peak_allocated_ + chunk_size_; }

 private:
  struct zstate;
  bool start();
  void fail(std::string what);
  std::string_view used_up();
  void compact_held();

  content_coding coding_;
  std::size_t chunk_size_;
  std::unique_ptr<zstate> z_;
  std::unique_ptr<char[]> out_;
  std::string_view pending_;     // input not yet given to zlib (a view of held_ while holding_)
  std::string held_;             // hold()'s copy
  bool holding_ = false;
  unsigned char head_[2] = {};   // deflate: the first two bytes, to tell zlib from raw
  std::size_t head_size_ = 0;
  std::size_t head_fed_ = 0;     // of head_, given to zlib
  bool more_output_ = false;     // the last piece filled the chunk: zlib may hold more
  bool started_ = false;         // inflateInit2 done
  bool in_member_ = false;       // a gzip member / the deflate stream has begun and not ended
  bool ended_ = false;           // deflate: the stream ended; gzip: a member ended
  std::uint64_t consumed_ = 0;
  std::string error_;
  std::uint64_t decoded_ = 0;
  std::uint64_t max_ratio_ = 0;
  std::size_t allocated_ = 0;
  std::size_t peak_allocated_ = 0;

  friend void* content_decoder_alloc(void*, unsigned, unsigned);
  friend void content_decoder_free(void*, void*);
};

}  // namespace ssekit::detail

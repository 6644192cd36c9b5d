// Compressed streams for the tests, made with zlib's deflate as a server
// makes them: one writer per response, a flush after each event.
#pragma once

#include <zlib.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ssekit::testing {

class zlib_writer {
 public:
  static constexpr int gzip = 16 + 15, zlib = 15, raw = -15;  // windowBits

  explicit zlib_writer(int window_bits, int level = 6) {
    if (deflateInit2(&z_, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  }
  ~zlib_writer() { deflateEnd(&z_); }
  zlib_writer(const zlib_writer&) = delete;
  zlib_writer& operator=(const zlib_writer&) = delete;

  // The compressed bytes for `bytes`; Z_SYNC_FLUSH makes them decodable at once.
  std::string write(std::string_view bytes, int flush = Z_SYNC_FLUSH) {
    std::string out;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z_.avail_in = static_cast<uInt>(bytes.size());
    int ret = Z_OK;
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buf_);
      z_.avail_out = sizeof buf_;
      ret = deflate(&z_, flush);
      out.append(buf_, sizeof buf_ - z_.avail_out);
    } while (z_.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
    return out;
  }
  std::string finish() { return write({}, Z_FINISH); }

  // A whole stream: each piece flushed, then the end.
  static std::string stream(const std::vector<std::string>& pieces, int window_bits, int level = 6) {
    zlib_writer w(window_bits, level);
    std::string out;
    for (const auto& p : pieces) out += w.write(p);
    return out + w.finish();
  }

 private:
  z_stream z_{};
  char buf_[16 * 1024];
};

}  // namespace ssekit::testing

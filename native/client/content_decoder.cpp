#include "content_decoder.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace ssekit::detail {

struct content_decoder::zstate {
  z_stream stream{};
};

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// Each block carries its size in front, so the free hook can count it.
constexpr std::size_t block_header = alignof(std::max_align_t);

}  // namespace

void* content_decoder_alloc(void* opaque, unsigned items, unsigned size) {
  auto* self = static_cast<content_decoder*>(opaque);
  const std::size_t bytes = std::size_t{items} * std::size_t{size};  // both < 2^32: no overflow in 64 bits
  auto* block = static_cast<unsigned char*>(std::malloc(bytes + block_header));
  if (!block) return Z_NULL;
  std::memcpy(block, &bytes, sizeof bytes);
  self->allocated_ += bytes;
  self->peak_allocated_ = std::max(self->peak_allocated_, self->allocated_);
  return block + block_header;
}

void content_decoder_free(void* opaque, void* address) {
  if (!address) return;
  auto* self = static_cast<content_decoder*>(opaque);
  unsigned char* block = static_cast<unsigned char*>(address) - block_header;
  std::size_t bytes = 0;
  std::memcpy(&bytes, block, sizeof bytes);
  self->allocated_ -= bytes;
  std::free(block);
}

std::optional<content_coding> coding_from_name(std::string_view name) {
  if (name.empty() || iequals(name, "identity")) return content_coding::identity;
  if (iequals(name, "gzip") || iequals(name, "x-gzip")) return content_coding::gzip;
  if (iequals(name, "deflate")) return content_coding::deflate;
  // The rest of IANA's HTTP Content Coding Registry (2024).
  for (const std::string_view registered : {"aes128gcm", "br", "compress", "dcb", "dcz", "exi", "pack200-gzip", "x-compress", "zstd"}) {
    if (iequals(name, registered)) return std::nullopt;
  }
  return content_coding::identity;
}

content_decoder::content_decoder(content_coding coding, std::size_t chunk_size)
    : coding_(coding), chunk_size_(std::clamp<std::size_t>(chunk_size, 1, UINT_MAX)), z_(std::make_unique<zstate>()),
      out_(std::make_unique<char[]>(chunk_size_)) {}

content_decoder::~content_decoder() {
  if (started_) inflateEnd(&z_->stream);
}

std::uint64_t content_decoder::compressed_offset() const noexcept { return consumed_; }

void content_decoder::fail(std::string what) {
  if (error_.empty()) error_ = std::move(what);
  pending_ = {};
}

void content_decoder::input(std::string_view compressed) {
  if (failed()) return;
  if (holding_) {
    compact_held();
    held_.append(compressed);
    pending_ = held_;
    return;
  }
  pending_ = compressed;
}

void content_decoder::hold() {
  if (holding_) {
    compact_held();
  } else {
    held_.assign(pending_);
    holding_ = true;
  }
  pending_ = held_;
}

// held_ without what next() has taken from its front.
void content_decoder::compact_held() { held_.erase(0, static_cast<std::size_t>(pending_.data() - held_.data())); }

// next() has nothing more until the next input(): a hold ends here.
std::string_view content_decoder::used_up() {
  if (holding_) {
    holding_ = false;
    pending_ = {};
    held_.clear();
  }
  return {};
}

bool content_decoder::start() {
  int window_bits = 16 + MAX_WBITS;  // gzip only
  if (coding_ == content_coding::deflate) {
    // RFC 1950 2.2: CM 8 (deflate), CINFO <= 7, and CMF*256 + FLG a
    // multiple of 31. Raw deflate (a block header in the low bits) rarely
    // passes: zlib writes stored blocks' padding as zeros.
    const unsigned cmf = head_[0], flg = head_[1];
    const bool zlib_wrapped = (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && (cmf * 256 + flg) % 31 == 0;
    window_bits = zlib_wrapped ? MAX_WBITS : -MAX_WBITS;
  } else if (coding_ != content_coding::gzip) {
    fail("no decoder for identity");
    return false;
  }
  z_stream& z = z_->stream;
  z.zalloc = content_decoder_alloc;
  z.zfree = content_decoder_free;
  z.opaque = this;
  if (inflateInit2(&z, window_bits) != Z_OK) {
    fail("zlib could not start (out of memory)");
    return false;
  }
  started_ = true;
  return true;
}

std::string_view content_decoder::next() {
  z_stream& z = z_->stream;
  const char* const gzip_or_deflate = coding_ == content_coding::gzip ? "gzip" : "deflate";
  for (;;) {
    if (failed()) return {};
    if (!started_) {
      if (coding_ == content_coding::deflate) {
        while (head_size_ < 2 && !pending_.empty()) {
          head_[head_size_++] = static_cast<unsigned char>(pending_.front());
          pending_.remove_prefix(1);
        }
        if (head_size_ < 2) return used_up();
      } else if (pending_.empty()) {
        return used_up();
      }
      if (!start()) return {};
    }
    // deflate: the two sniffed bytes go in first.
    const bool from_head = head_size_ > 0 && head_fed_ < head_size_;
    std::string_view in = from_head ? std::string_view(reinterpret_cast<const char*>(head_) + head_fed_, head_size_ - head_fed_)
                                    : pending_;
    if (in.empty() && !more_output_) return used_up();
    if (ended_ && !in.empty()) {
      if (coding_ == content_coding::deflate) {
        fail("bytes after the end of the deflate stream, at compressed byte " + std::to_string(consumed_));
        return {};
      }
      // RFC 1952 2.2: another member follows, or the bytes are garbage.
      if (static_cast<unsigned char>(in.front()) != 0x1f) {
        fail("bytes after the last gzip member are not another member, at compressed byte " + std::to_string(consumed_));
        return {};
      }
      inflateReset(&z);
      ended_ = false;
    }
    const std::size_t offered = std::min<std::size_t>(in.size(), UINT_MAX);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(offered);
    z.next_out = reinterpret_cast<Bytef*>(out_.get());
    z.avail_out = static_cast<uInt>(chunk_size_);
    const int ret = inflate(&z, Z_NO_FLUSH);
    const std::size_t used = offered - z.avail_in;
    const std::size_t produced = chunk_size_ - z.avail_out;
    if (from_head) head_fed_ += used;
    else pending_.remove_prefix(used);
    consumed_ += used;
    if (used > 0) in_member_ = true;
    more_output_ = z.avail_out == 0;
    if (ret == Z_STREAM_END) {
      in_member_ = false;
      ended_ = true;
      more_output_ = false;
    } else if (ret != Z_OK && ret != Z_BUF_ERROR) {  // Z_BUF_ERROR: no progress until more input
      const std::string why = ret == Z_NEED_DICT ? "it needs a preset dictionary"
                              : ret == Z_MEM_ERROR ? "out of memory"
                              : z.msg             ? z.msg
                                                  : "error " + std::to_string(ret);
      fail(std::string("the ") + gzip_or_deflate + " stream is corrupt at compressed byte " + std::to_string(consumed_) + ": " + why);
      // What was decoded before the error is delivered, as it would have
      // been had the bad bytes come in a later read.
      return {out_.get(), produced};
    }
    decoded_ += produced;
    if (max_ratio_ != 0 && decoded_ > ratio_allowance && decoded_ / max_ratio_ > consumed_) {
      fail(std::string("the ") + gzip_or_deflate + " stream decoded to more than " + std::to_string(max_ratio_) +
           " times its " + std::to_string(consumed_) + " compressed bytes (max_compression_ratio)");
      return {out_.get(), produced};  // delivered, as before any error
    }
    if (produced > 0) return {out_.get(), produced};
  }
}

bool content_decoder::finish() {
  if (failed()) return false;
  if (in_member_ || head_size_ == 1 || (head_size_ == 2 && !ended_)) {
    fail(std::string("the stream ended inside a ") + (coding_ == content_coding::gzip ? "gzip member" : "deflate stream") +
         ", after " + std::to_string(consumed_) + " compressed bytes");
    return false;
  }
  return true;
}

}  // namespace ssekit::detail

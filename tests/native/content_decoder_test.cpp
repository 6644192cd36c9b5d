// The client's Content-Encoding decoder (native/client/content_decoder.hpp):
// every split point of small gzip, zlib and raw deflate streams, concatenated
// members, trailing bytes, truncation, corruption, and bounded memory on a
// bomb. The streams are made here with zlib's deflate.
#include "content_decoder.hpp"
#include "zlib_writer.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

namespace ssekit::detail {
namespace {

std::string compress(const std::vector<std::string>& pieces, int window_bits, int level = 6) {
  return testing::zlib_writer::stream(pieces, window_bits, level);
}

struct result {
  std::string decoded;
  bool finished = false;
  std::string error;
  std::size_t largest_piece = 0;
};

result decode(content_coding coding, std::string_view stream, std::vector<std::size_t> splits, std::size_t chunk = 64) {
  content_decoder d(coding, chunk);
  result r;
  std::size_t at = 0;
  splits.push_back(stream.size());
  for (const std::size_t end : splits) {
    d.input(stream.substr(at, end - at));
    for (std::string_view piece; !(piece = d.next()).empty();) {
      r.decoded += piece;
      r.largest_piece = std::max(r.largest_piece, piece.size());
    }
    at = end;
  }
  r.finished = d.finish();
  r.error = d.error();
  return r;
}

const std::string text = "data: first\n\nid: 2\ndata: second, a little longer\n\n: comment\ndata: third\n\n";

TEST(ContentDecoder, Names) {
  EXPECT_EQ(coding_from_name("gzip"), content_coding::gzip);
  EXPECT_EQ(coding_from_name("GZip"), content_coding::gzip);
  EXPECT_EQ(coding_from_name("x-gzip"), content_coding::gzip);
  EXPECT_EQ(coding_from_name("Deflate"), content_coding::deflate);
  EXPECT_EQ(coding_from_name("identity"), content_coding::identity);
  EXPECT_EQ(coding_from_name("br"), std::nullopt);
  EXPECT_EQ(coding_from_name("compress"), std::nullopt);
  EXPECT_EQ(coding_from_name("ZSTD"), std::nullopt);
  // No coding at all (WordPress behind nginx sends "none"): read as it is.
  EXPECT_EQ(coding_from_name("none"), content_coding::identity);
  EXPECT_EQ(coding_from_name("UTF-8"), content_coding::identity);
}

// Every split point, and every pair of split points, of each format.
TEST(ContentDecoder, EverySplitPoint) {
  const std::vector<std::string> pieces = {text.substr(0, 13), text.substr(13, 40), text.substr(53)};
  const struct {
    content_coding coding;
    int window_bits;
  } formats[] = {{content_coding::gzip, 16 + 15}, {content_coding::deflate, 15}, {content_coding::deflate, -15}};
  for (const auto& f : formats) {
    const std::string z = compress(pieces, f.window_bits);
    SCOPED_TRACE(f.window_bits);
    const result whole = decode(f.coding, z, {});
    EXPECT_EQ(whole.decoded, text);
    EXPECT_TRUE(whole.finished) << whole.error;
    for (std::size_t i = 0; i <= z.size(); ++i) {
      for (std::size_t j = i; j <= z.size(); ++j) {
        const result r = decode(f.coding, z, {i, j}, 7);
        ASSERT_EQ(r.decoded, text) << i << " " << j;
        ASSERT_TRUE(r.finished) << i << " " << j << ": " << r.error;
        ASSERT_LE(r.largest_piece, 7u);
      }
    }
  }
}

// The client pauses between pieces: hold() keeps the input left (the
// caller's buffer goes: here it is overwritten), later input() appends to
// it, and the output is the same as without pauses, at every split.
TEST(ContentDecoder, HeldInputDecodesTheSameAfterThePause) {
  for (const auto& [coding, bits] : {std::pair{content_coding::gzip, 16 + 15}, {content_coding::deflate, 15}, {content_coding::deflate, -15}}) {
    const std::string z = compress({text.substr(0, 13), text.substr(13, 40), text.substr(53)}, bits);
    SCOPED_TRACE(bits);
    for (std::size_t split = 0; split <= z.size(); ++split) {
      for (std::size_t pause_after = 1; pause_after <= 3; ++pause_after) {
        content_decoder d(coding, 7);
        std::string decoded;
        std::size_t pieces = 0;
        bool held = false;
        for (const std::string_view part : {std::string_view(z).substr(0, split), std::string_view(z).substr(split)}) {
          std::string buffer(part);  // the read buffer, reused after each read
          d.input(buffer);
          if (held) {
            buffer.assign(buffer.size(), '\0');
            continue;  // appended while paused
          }
          for (std::string_view piece; !(piece = d.next()).empty();) {
            decoded += piece;
            if (++pieces == pause_after) {
              d.hold();
              held = true;
              break;
            }
          }
          buffer.assign(buffer.size(), '\0');
        }
        if (held) {
          EXPECT_TRUE(d.holding());
          for (std::string_view piece; !(piece = d.next()).empty();) decoded += piece;
          EXPECT_FALSE(d.holding()) << "used up";
        }
        ASSERT_EQ(decoded, text) << split << " " << pause_after;
        ASSERT_TRUE(d.finish()) << d.error();
      }
    }
  }
}

// A flushed piece decodes in full before the rest of the stream exists:
// what lets the client deliver each event as it arrives.
TEST(ContentDecoder, FlushedPiecesDecodeAtOnce) {
  for (const int bits : {16 + 15, 15, -15}) {
    const std::string z = compress({"data: one\n\n", "data: two\n\n"}, bits);
    // The first piece ends at the first sync flush marker (00 00 ff ff).
    const std::size_t marker = z.find(std::string("\x00\x00\xff\xff", 4));
    ASSERT_NE(marker, std::string::npos);
    content_decoder d(bits == 16 + 15 ? content_coding::gzip : content_coding::deflate);
    d.input(std::string_view(z).substr(0, marker + 4));
    std::string got;
    for (std::string_view p; !(p = d.next()).empty();) got += p;
    EXPECT_EQ(got, "data: one\n\n") << bits;
    EXPECT_FALSE(d.finish()) << "the stream is not over";
  }
}

// Output zlib still holds once every input byte is taken must come out:
// fixed-Huffman blocks decode to far more than their size, so with small
// output pieces the input runs out first.
TEST(ContentDecoder, OutputHeldAfterTheLastInputByteComesOut) {
  std::string plain;
  for (int i = 0; i < 10; ++i) plain += "abc";
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_FIXED), Z_OK);
  std::string raw(256, '\0');
  z.next_in = reinterpret_cast<Bytef*>(plain.data());
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(raw.data());
  z.avail_out = static_cast<uInt>(raw.size());
  ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  raw.resize(raw.size() - z.avail_out);
  deflateEnd(&z);
  for (std::size_t chunk = 1; chunk <= 5; ++chunk) {
    const result r = decode(content_coding::deflate, raw, {}, chunk);
    EXPECT_EQ(r.decoded, plain) << chunk;
    EXPECT_TRUE(r.finished) << chunk << ": " << r.error;
  }
}

// Raw deflate whose first two bytes pass the zlib header's other checks
// but not its checksum (RFC 1950 2.2: CMF*256 + FLG a multiple of 31): a
// stored block (padding bits set), then an empty final block.
TEST(ContentDecoder, RawDeflateThatLooksLikeZlibIsStillRaw) {
  const std::string raw("\x78\x02\x00\xfd\xff" "hi" "\x03\x00", 9);
  const result r = decode(content_coding::deflate, raw, {});
  EXPECT_EQ(r.decoded, "hi");
  EXPECT_TRUE(r.finished) << r.error;
}

TEST(ContentDecoder, ConcatenatedGzipMembers) {
  const std::string z = compress({"data: a\n\n"}, 16 + 15) + compress({"data: b\n\n"}, 16 + 15);
  for (std::size_t i = 0; i <= z.size(); ++i) {
    const result r = decode(content_coding::gzip, z, {i});
    ASSERT_EQ(r.decoded, "data: a\n\ndata: b\n\n") << i;
    ASSERT_TRUE(r.finished) << i;
  }
}

TEST(ContentDecoder, TrailingBytesAreAnError) {
  const std::string gz = compress({"data: a\n\n"}, 16 + 15);
  result r = decode(content_coding::gzip, gz + "garbage", {});
  EXPECT_EQ(r.decoded, "data: a\n\n");
  EXPECT_FALSE(r.finished);
  EXPECT_NE(r.error.find("not another member"), std::string::npos) << r.error;
  // Starts like a member, then is not one: zlib's header check.
  r = decode(content_coding::gzip, gz + "\x1f" "xyzxyzxyzxyz", {});
  EXPECT_FALSE(r.finished);
  EXPECT_NE(r.error.find("corrupt"), std::string::npos) << r.error;
  for (const int bits : {15, -15}) {
    r = decode(content_coding::deflate, compress({"data: a\n\n"}, bits) + "x", {});
    EXPECT_EQ(r.decoded, "data: a\n\n");
    EXPECT_FALSE(r.finished);
    EXPECT_NE(r.error.find("after the end of the deflate stream"), std::string::npos) << r.error;
  }
}

TEST(ContentDecoder, TruncatedStreamFailsAtFinish) {
  for (const int bits : {16 + 15, 15, -15}) {
    const std::string z = compress({text}, bits);
    for (std::size_t cut = 1; cut < z.size(); ++cut) {
      const result r = decode(bits == 16 + 15 ? content_coding::gzip : content_coding::deflate, z.substr(0, cut), {});
      ASSERT_FALSE(r.finished) << bits << " " << cut;
      ASSERT_TRUE(text.starts_with(r.decoded));
    }
  }
  // No byte at all: an empty body, not an error.
  EXPECT_TRUE(decode(content_coding::gzip, "", {}).finished);
  EXPECT_TRUE(decode(content_coding::deflate, "", {}).finished);
}

TEST(ContentDecoder, CorruptStreamIsAnError) {
  std::string z = compress({text}, 16 + 15);
  z[z.size() - 5] = static_cast<char>(z[z.size() - 5] ^ 0x55);  // the CRC-32 or length
  const result r = decode(content_coding::gzip, z, {});
  EXPECT_FALSE(r.finished);
  EXPECT_NE(r.error.find("gzip stream is corrupt"), std::string::npos) << r.error;
  const result plain = decode(content_coding::gzip, text, {});
  EXPECT_EQ(plain.decoded, "");
  EXPECT_NE(plain.error.find("corrupt"), std::string::npos) << plain.error;
  // After an error nothing more comes out.
  content_decoder d(content_coding::deflate);
  d.input("\xff\xff\xff\xff");
  EXPECT_TRUE(d.next().empty());
  EXPECT_TRUE(d.failed());
  d.input(compress({text}, 15));
  EXPECT_TRUE(d.next().empty());
}

// 64 MiB of zeros from ~64 KiB: the pieces never exceed the chunk, and the
// decoder's memory (zlib's state counted by its allocator hooks, plus the
// chunk) stays the same from the first piece to the last.
TEST(ContentDecoder, BombStaysBounded) {
  const std::string zeros(1 << 20, 'a');
  std::vector<std::string> pieces(64, zeros);
  const std::string z = compress(pieces, 16 + 15, 9);
  ASSERT_LT(z.size(), 200u * 1024);
  content_decoder d(content_coding::gzip);
  std::uint64_t total = 0;
  std::size_t pieces_seen = 0;
  for (std::size_t at = 0; at < z.size(); at += 16 * 1024) {
    d.input(std::string_view(z).substr(at, 16 * 1024));
    for (std::string_view p; !(p = d.next()).empty();) {
      total += p.size();
      ++pieces_seen;
      ASSERT_LE(p.size(), content_decoder::default_chunk_size);
    }
  }
  EXPECT_TRUE(d.finish()) << d.error();
  EXPECT_EQ(total, 64u << 20);
  EXPECT_GE(pieces_seen, (64u << 20) / content_decoder::default_chunk_size);
  // zlib's inflate: ~7 KiB of state and a 32 KiB window.
  EXPECT_LE(d.peak_memory(), 64u * 1024 + content_decoder::default_chunk_size);
  EXPECT_GT(d.peak_memory(), content_decoder::default_chunk_size) << "the allocator hooks count nothing";
}

// Blank lines inflated ~1000 to 1 break no parser limit: the ratio limit
// stops them soon after its allowance, and passes ordinary streams.
TEST(ContentDecoder, RatioLimitStopsABombOfBlankLines) {
  const std::vector<std::string> pieces(64, std::string(1 << 20, '\n'));
  const std::string z = compress(pieces, 16 + 15, 9);
  for (const std::uint64_t ratio : {std::uint64_t{0}, std::uint64_t{100}}) {
    content_decoder d(content_coding::gzip);
    d.limit_ratio(ratio);
    std::uint64_t total = 0;
    for (std::size_t at = 0; at < z.size() && !d.failed(); at += 4096) {
      d.input(std::string_view(z).substr(at, 4096));
      for (std::string_view p; !(p = d.next()).empty();) total += p.size();
    }
    if (ratio == 0) {
      EXPECT_TRUE(d.finish()) << d.error();
      EXPECT_EQ(total, 64u << 20);
      continue;
    }
    ASSERT_TRUE(d.failed());
    EXPECT_NE(d.error().find("decoded to more than 100 times its"), std::string::npos) << d.error();
    EXPECT_NE(d.error().find("max_compression_ratio"), std::string::npos) << d.error();
    EXPECT_GT(total, content_decoder::ratio_allowance);
    EXPECT_LE(total, content_decoder::ratio_allowance + content_decoder::default_chunk_size);
  }
  // An event stream with the usual redundancy, flushed per event or not.
  std::vector<std::string> events;
  for (int i = 0; i < 20000; ++i)
    events.push_back("id: " + std::to_string(i) + "\ndata: {\"object\":\"chat.completion.chunk\",\"n\":" + std::to_string(i) + "}\n\n");
  std::string all;
  for (const auto& e : events) all += e;
  for (const std::string& stream : {compress(events, 16 + 15, 9), compress({all}, 16 + 15, 9)}) {
    content_decoder d(content_coding::gzip);
    d.limit_ratio(100);
    std::string decoded;
    d.input(stream);
    for (std::string_view p; !(p = d.next()).empty();) decoded += p;
    EXPECT_TRUE(d.finish()) << d.error();
    EXPECT_EQ(decoded, all);
  }
}

}  // namespace
}  // namespace ssekit::detail

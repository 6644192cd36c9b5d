// Work and allocation bounds, measured by counting, never by timing: this
// binary links a build of the core with SSEKIT_WORK_COUNTERS, which counts
// the bytes the parser scans and copies, and replaces operator new to count
// allocations.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "../core/src/work_counters.hpp"
#include "ssekit/parser.hpp"
#include "support/heap_in_use.hpp"

namespace {
std::atomic<std::uint64_t> allocations{0};
std::atomic<bool> refuse_next{false};  // the next allocation throws std::bad_alloc
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (refuse_next.exchange(false)) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
// The parser's field buffers are new[]: a sanitizer's own new[] would not
// come here.
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace ssekit::test {
namespace {

struct counting_handler : handler {
  std::uint64_t events = 0;
  std::uint64_t data_bytes = 0;
  void on_event(const event& ev) override {
    ++events;
    data_bytes += ev.data.size();
  }
};

struct work {
  std::uint64_t scanned;
  std::uint64_t copied;
  std::uint64_t allocations;
};

work feed_in_chunks(parser& p, std::string_view stream, std::size_t chunk) {
  detail::counters = {};
  const std::uint64_t allocations_before = allocations.load();
  for (std::size_t i = 0; i < stream.size(); i += chunk) EXPECT_FALSE(p.feed(stream.substr(i, chunk)));
  EXPECT_FALSE(p.finish());
  return {detail::counters.bytes_scanned, detail::counters.bytes_copied, allocations.load() - allocations_before};
}

// A 16 MB event in 1 KiB chunks: a parser that rescans or recopies its
// partial line per chunk would do ~N^2/2048 = 130 G byte-steps here.
TEST(WorkBound, SixteenMegabyteSingleLineEventIn1KiBChunksIsLinear) {
  const std::size_t n = 16u << 20;
  const std::string stream = "data: " + std::string(n, 'a') + "\n\n";
  counting_handler h;
  parser p{h};
  const work w = feed_in_chunks(p, stream, 1024);
  EXPECT_EQ(h.events, 1u);
  EXPECT_EQ(h.data_bytes, n);
  EXPECT_LE(w.scanned, 3 * stream.size());  // line-end scan + one UTF-8 check
  EXPECT_LE(w.copied, stream.size());       // straight into the event's buffer, once
  EXPECT_LE(w.allocations, 200u);           // geometric growth, not one per chunk
}

// The same with invalid UTF-8 in event, id and data: each value is copied
// once as it arrives and once more by its repair, never a third time.
TEST(WorkBound, InvalidUtf8FieldsAreCopiedAtMostTwice) {
  std::string value(4u << 20, 'v');
  for (std::size_t i = 63; i < value.size(); i += 64) value[i] = '\xFF';
  const std::string stream = "event: " + value + "\nid: " + value + "\ndata: " + value + "\n\n";
  counting_handler h;
  parser p{h};
  const work w = feed_in_chunks(p, stream, 1024);
  EXPECT_EQ(h.events, 1u);
  EXPECT_EQ(h.data_bytes, value.size() + 2 * (value.size() / 64));
  EXPECT_LE(w.copied, 2 * stream.size());
  EXPECT_LE(w.allocations, 300u);
}

// An id that comes whole in one chunk is borrowed from it, and copied once
// when the chunk goes away (as the last event id), not also as the spent
// id field: a 4 MiB id cost two copies, 8 MiB of memory besides the chunk.
TEST(WorkBound, AnIdInOneChunkIsCopiedOnce) {
  const std::string id(4u << 20, 'i');
  const std::string stream = "id: " + id + "\ndata: x\n\n";
  counting_handler h;
  parser p{h};
  const work w = feed_in_chunks(p, stream, stream.size());
  EXPECT_EQ(h.events, 1u);
  EXPECT_EQ(p.last_event_id(), id);
  EXPECT_LE(w.copied, id.size() + 64);
}

TEST(WorkBound, SixteenMegabyteMultiLineEventIn1KiBChunksIsLinear) {
  std::string stream;
  const std::string line = "data: " + std::string(94, 'b') + "\n";
  while (stream.size() < (16u << 20)) stream += line;
  stream += "\n";
  counting_handler h;
  parser p{h};
  const work w = feed_in_chunks(p, stream, 1024);
  EXPECT_EQ(h.events, 1u);
  EXPECT_LE(w.scanned, 3 * stream.size());
  EXPECT_LE(w.copied, 3 * stream.size());
  EXPECT_LE(w.allocations, 200u);
}

TEST(WorkBound, OneByteChunksAreLinearToo) {
  const std::string stream = "data: " + std::string(1u << 20, 'c') + "\n\n";
  counting_handler h;
  parser p{h};
  const work w = feed_in_chunks(p, stream, 1);
  EXPECT_EQ(h.events, 1u);
  EXPECT_LE(w.scanned, 3 * stream.size());
  EXPECT_LE(w.copied, 3 * stream.size());
}

TEST(WorkBound, NoAllocationPerEventInSteadyState) {
  // Events of every shape: inside one chunk, split across chunks, several
  // data lines, named, with ids, with comments and invalid UTF-8 to repair.
  std::string block;
  for (int i = 0; i < 50; ++i) {
    block += "id: " + std::to_string(1000 + i) + "\nevent: update\ndata: {\"n\":" + std::to_string(i) + "}\n\n";
    block += ": heartbeat\ndata: first line\ndata: second line \xFF\n\n";
    block += "data: " + std::string(static_cast<std::size_t>(300 + i), 'x') + "\r\n\r\n";
  }
  counting_handler h;
  parser p{h};
  feed_in_chunks(p, block, 97);  // warm-up: buffers reach their working size
  p.reset();
  const std::uint64_t events_before = h.events;
  work w{};
  for (int round = 0; round < 20; ++round) {
    const work r = feed_in_chunks(p, block, 97);
    w.allocations += r.allocations;
    p.reset();
  }
  EXPECT_EQ(h.events - events_before, 20u * 150u);
  EXPECT_EQ(w.allocations, 0u);
}

// reset() gives back buffers over 64 KiB (an idle client does not keep a
// huge event's memory across reconnects) and keeps smaller ones. Counted in
// heap bytes: the parser's field buffer is malloc'd, which the operator new
// above does not see.
// The last allocation of a feed(): the id that borrowed from the chunk
// copied before the chunk goes away. When it fails, the parser must say so
// like any exception (it returned ok and lost the id; a helper's stress
// test); copied again on the way out, the id is kept.
TEST(WorkBound, AnAllocationThatFailsAsFeedEndsIsFeedInterrupted) {
  handler h;
  parser p{h};
  refuse_next = true;
  EXPECT_THROW(p.feed("id: abc\n\n"), std::bad_alloc);
  EXPECT_FALSE(refuse_next.load());
  EXPECT_EQ(p.feed("data: x\n\n").code, errc::feed_interrupted);
  EXPECT_EQ(p.finish().code, errc::feed_interrupted);
  EXPECT_EQ(p.last_event_id(), "abc");
  p.reset();
  EXPECT_FALSE(p.feed("data: y\n\n"));
}

TEST(WorkBound, ResetReleasesLargeBuffersAndKeepsSmallOnes) {
  constexpr std::size_t big = 256 * 1024;
  const std::string huge = "data: " + std::string(big, 'x') + "\ndata: y\n\n";
  const std::string small = "data: " + std::string(1000, 'x') + "\ndata: y\n\n";
  counting_handler h;
  parser p{h};
  feed_in_chunks(p, small, 97);
  p.reset();
  EXPECT_EQ(feed_in_chunks(p, small, 97).allocations, 0u);  // kept
  p.reset();
  feed_in_chunks(p, huge, 4096);
  const std::size_t held = heap_in_use();
  p.reset();
  const std::size_t after = heap_in_use();
  ASSERT_GT(held, after);
  EXPECT_GE(held - after, big);  // the event's data, at least
  EXPECT_EQ(h.events, 3u);
}
}  // namespace
}  // namespace ssekit::test

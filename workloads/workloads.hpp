// Deterministic benchmark workloads: event streams that look like what SSE
// users actually parse, generated from a fixed seed so every machine, compiler
// and standard library produces the same bytes (the JS benchmark reads the
// very same stream through `bench-workload`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ssekit::bench {

inline constexpr std::size_t default_workload_size = 64u * 1024u * 1024u;

// A generated stream plus what a conforming parser must report for it (with
// default options: the text is valid UTF-8, so nothing is repaired).
struct workload {
  std::string name;
  std::string bytes;
  std::uint64_t events = 0;      // on_event calls
  std::uint64_t data_bytes = 0;  // sum of event.data.size()
  std::uint64_t comments = 0;    // on_comment calls
  std::uint64_t retries = 0;     // on_retry calls
  std::uint64_t newlines = 0;    // LF bytes in `bytes` (what the memchr baseline counts)
};

struct workload_info {
  std::string_view name;
  std::string_view description;
  // Generates about `size` bytes: events are added until the stream reaches
  // `size`, so it ends up a little longer (one event at most, plus any
  // terminator the workload needs).
  workload (*generate)(std::size_t size);
};

// Every workload, in the order the benchmark runs them.
std::span<const workload_info> all_workloads() noexcept;

// nullptr if there is no workload called `name`.
const workload_info* find_workload(std::string_view name) noexcept;

// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and identical everywhere,
// unlike std::uniform_int_distribution whose output is implementation-defined.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}

  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
  // Uniform enough in [lo, hi] for test data (modulo bias is irrelevant here).
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept {
    return lo + next() % (hi - lo + 1);
  }
  // True about once in `n` calls.
  bool one_in(std::uint64_t n) noexcept { return next() % n == 0; }

 private:
  std::uint64_t state_;
};

}  // namespace ssekit::bench

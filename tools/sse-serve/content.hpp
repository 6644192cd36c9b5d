// What the demo server says, apart from how it says it: request target
// parsing, the feed's generated events, timestamps, the endpoint list.
// No Boost here, so the networking file (demo_server.cpp) stays the only
// one that pays for Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ssekit/error.hpp"

namespace ssekit::demo::detail {

// The endpoint list, shown by `GET /` and `sse-serve --help`.
extern const std::string_view endpoint_help;

// A request target split into its percent-decoded path and query parameters.
struct target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;  // in order; a bare `key` has value ""

  const std::string* find(std::string_view name) const noexcept;
  bool has(std::string_view name) const noexcept { return find(name) != nullptr; }
  // The name of a parameter given more than once (nullopt: none is).
  std::optional<std::string> repeated() const;
};
// A request target, origin-form ("/path?query") or http/https
// absolute-form (its path and query; an empty path is "/"), parsed and
// percent-decoded by Boost.URL (request_target.cpp; '+' in the query is a
// space); nullopt when it is neither.
std::optional<target> parse_target(std::string_view raw);

// Pairs of hex digits, case-insensitive: "0a3A" -> "\n:". nullopt if odd or not hex.
std::optional<std::string> hex_decode(std::string_view text);

// /fault's body, made as it is written: the prefix (a retry field or the
// raw bytes, at most a request head's worth), then `events` events with ids
// from `first_id`. It holds the prefix and one event, never the body, so a
// connection's memory stays bounded however many events it sends (100,000
// are 3 MB, and a client that does not read would pin all of it).
class fault_body {
 public:
  fault_body() = default;
  // Pieces: `chunk` bytes each (0: no cut), else one per event when
  // `piece_per_event` (the prefix goes with the first), else one.
  fault_body(std::string prefix, std::uint64_t first_id, std::uint64_t events, std::uint64_t chunk,
             bool piece_per_event);

  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t offset() const noexcept { return offset_; }  // bytes made so far
  bool done() const noexcept { return offset_ >= size_; }
  std::uint64_t events() const noexcept { return events_; }
  // Bytes from offset() to the end of the piece it is in (0 when done).
  std::uint64_t piece_left() const noexcept;
  // Appends the next min(max, size() - offset()) bytes; returns how many
  // events end within them.
  std::uint64_t read(std::string& out, std::size_t max);

  // The bytes of the event with this id (`id: k`, `data: event k`).
  static std::string event(std::uint64_t id);

 private:
  void next_unit();

  std::uint64_t next_id_ = 0;     // the id of the event after `unit_`
  std::uint64_t end_id_ = 0;      // one past the last id
  std::uint64_t events_ = 0;
  std::uint64_t chunk_ = 0;
  bool per_event_ = false;
  std::string unit_;              // the prefix with the first event, then one event
  std::size_t unit_at_ = 0;
  bool unit_has_event_ = false;
  std::uint64_t size_ = 0;
  std::uint64_t offset_ = 0;
};

// What /fault answers, decided from the request's parameters and
// Last-Event-ID alone (no I/O: tests/native/demo_plan_test.cpp). The
// framing stays with the connection (it depends on the HTTP version).
struct fault_plan {
  enum class action : std::uint8_t { bad_request, stall_forever, redirect, status, body };
  enum class ending : std::uint8_t { clean, drop, reset };
  action what = action::body;
  std::string message;  // bad_request: why, naming the parameter
  unsigned code = 200;  // redirect, status
  std::string location;  // redirect
  std::optional<std::string> content_type;
  std::optional<std::string> retry_after;  // status: the Retry-After value
  fault_body body;
  std::size_t declared_extra = 0;  // Content-Length claims this much more (drop)
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds stall{0};
  ending end = ending::clean;
  bool reusable = true;  // the connection may serve another request afterwards
};
// /fault's parameters: tools/sse-serve/README.md. Numbers are range-checked
// (the first bad one is the reason); interval_ms and stall_ms saturate at
// `max_wait`.
fault_plan plan_fault(const target& t, std::string_view last_event_id, std::chrono::milliseconds max_wait);

// /bench: how many times a block of `block_size` bytes is sent for a
// request of `bytes` (at least `bytes`, 0 for 0).
std::uint64_t bench_repeats(std::uint64_t bytes, std::uint64_t block_size) noexcept;

// serialize_event() with named arguments: one event with `data`, an event
// type unless empty, an id line if `id` is set.
errc append_event(std::string& out, std::string_view data, std::string_view type = {},
                  std::optional<std::string_view> id = std::nullopt);

inline constexpr std::uint64_t max_fault_events = 100'000;
// A /fault body is cut into this many `chunk` pieces at most: each piece is
// a write on the server's one thread (chunk=1 of 100,000 events was 2.9
// million writes, ~13 s of it, for one request).
inline constexpr std::uint64_t max_fault_pieces = 65'536;

// "2024-05-01T12:00:00.250Z".
std::string utc_timestamp(std::chrono::system_clock::time_point when);

// splitmix64: small, fast and seedable.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept;
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept { return lo + next() % (hi - lo + 1); }

 private:
  std::uint64_t state_;
};

// The feed's topics as bits of a mask.
enum topic : unsigned { topic_news = 1, topic_weather = 2, topic_stock = 4 };
inline constexpr unsigned all_topics = topic_news | topic_weather | topic_stock;
std::string_view topic_name(topic t) noexcept;
// "news,weather" -> mask; empty text -> all topics; nullopt for an unknown name.
std::optional<unsigned> parse_topics(std::string_view list);

struct feed_item {
  std::uint64_t id = 0;
  topic kind = topic_news;
  std::string bytes;  // the serialized event (event:, id:, data: lines and the blank line)
};

// Makes the feed's events: ids 1, 2, 3, ...; a random topic each, with
// JSON data that looks like the real thing (headlines, readings, quotes).
class feed_generator {
 public:
  explicit feed_generator(std::uint64_t seed);
  feed_item next();
  std::uint64_t last_id() const noexcept { return last_id_; }

 private:
  std::string news(std::uint64_t id);
  std::string weather();
  std::string stock();

  rng rng_;
  std::uint64_t last_id_ = 0;
  std::vector<double> prices_;
};

// Bench workloads: the deterministic generators of bench/ (when the build
// has them) plus "serialized": 1 KiB JSON events with ids, written by the
// core serializer. About `size` bytes (the stream ends with a whole event);
// `events` is what a parser must count.
struct generated_stream {
  std::string bytes;
  std::uint64_t events = 0;
};
// nullopt if there is no workload called `name`.
std::optional<generated_stream> make_workload(std::string_view name, std::size_t size);
std::string workload_names();  // "llm feed big crlf serialized"

// `bytes` compressed for Content-Encoding `coding` ("gzip": one gzip member,
// which repeats into a valid stream of concatenated members; "deflate":
// one zlib stream), with a sync flush after each event (a blank line), as a
// server that flushes per event sends it. nullopt for another coding.
// `level` is zlib's (Z_DEFAULT_COMPRESSION: -1).
std::optional<std::string> compress_events(std::string_view bytes, std::string_view coding, int level = -1);

// One live stream's compressor: each write() is compressed and sync-flushed,
// so the client can decode every event as soon as it arrives.
class event_compressor {
 public:
  // nullptr for a coding other than gzip or deflate.
  static std::unique_ptr<event_compressor> make(std::string_view coding);
  ~event_compressor();
  event_compressor(const event_compressor&) = delete;
  event_compressor& operator=(const event_compressor&) = delete;
  std::string write(std::string_view bytes);
  // The stream's end (deflate's last block, gzip's trailer); nothing may
  // be written after it.
  std::string finish();

 private:
  event_compressor();
  struct state;
  std::unique_ptr<state> z_;
};
std::string_view default_workload() noexcept;

}  // namespace ssekit::demo::detail

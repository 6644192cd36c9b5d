// fuzz_parse: the parser must never crash, and what it delivers must respect
// its contract whatever the bytes and however they are split:
// - default mode: every delivered string (and last_event_id()) is valid UTF-8;
// - no delivered piece is larger than the limits allow (raw bytes exactly; in
//   default mode U+FFFD may triple an invalid byte, so 3x);
// - an error is sticky and nothing is delivered after it (run_fast);
// - feed() after finish() is refused;
// - reset() forgets the stream: parsing the same bytes again, whole, after
//   reset() and set_last_event_id(""), gives the same result.
// Input layout: see read_setup() in fuzz_common.hpp.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_common.hpp"
#include "ssekit/utf8.hpp"

using namespace ssekit::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz_setup s = read_setup(data, size);
  const ssekit::parser_options& o = s.options;
  const run_result r = run_fast(s.stream, s.chunks, o);

  // Size bounds, from the limits. A field's value is its line minus the name
  // and colon, so e.g. an id is at most max_line_length - 3 raw bytes.
  const std::size_t growth = o.raw_bytes ? 1 : 3;
  auto within = [&](std::size_t delivered, std::size_t limit, std::size_t overhead) {
    const std::size_t raw_max = limit > overhead ? limit - overhead : 0;
    return delivered <= raw_max * growth;
  };
  for (const record& rec : r.records) {
    switch (rec.what) {
      case record::kind::event:
        if (rec.type.empty()) fail("event with an empty type", s.stream, o);
        if (rec.type != "message" && !within(rec.type.size(), o.max_line_length, 6))
          fail("event type longer than max_line_length allows", s.stream, o);
        if (!within(rec.data.size(), o.max_event_size, 0)) fail("event data larger than max_event_size", s.stream, o);
        if (!within(rec.last_event_id.size(), o.max_line_length, 3))
          fail("event id longer than max_line_length allows", s.stream, o);
        if (!o.raw_bytes && !(ssekit::utf8_is_valid(rec.type) && ssekit::utf8_is_valid(rec.data) &&
                              ssekit::utf8_is_valid(rec.last_event_id)))
          fail("invalid UTF-8 delivered in an event", s.stream, o);
        break;
      case record::kind::comment:
        if (!within(rec.comment.size(), o.max_line_length, 1)) fail("comment longer than max_line_length", s.stream, o);
        if (!o.raw_bytes && !ssekit::utf8_is_valid(rec.comment)) fail("invalid UTF-8 delivered in a comment", s.stream, o);
        break;
      case record::kind::retry: break;
    }
  }
  if (!within(r.last_event_id.size(), o.max_line_length, 3)) fail("last_event_id() too long", s.stream, o);
  if (!o.raw_bytes && !ssekit::utf8_is_valid(r.last_event_id)) fail("last_event_id() is invalid UTF-8", s.stream, o);

  // Reuse after reset(), with the whole stream in one chunk.
  ssekit::test::recorder rec;
  ssekit::parser p{rec, o};
  p.feed(s.stream);
  const ssekit::parse_error first = p.finish();
  if (!first && p.feed("data: x\n\n").code != ssekit::errc::feed_after_finish)
    fail("feed() after finish() was not refused", s.stream, o);
  const std::size_t delivered = rec.records.size();
  if (delivered != r.records.size()) fail("whole and chunked parse delivered different counts", s.stream, o);
  p.reset();
  if (p.bytes_fed() != 0) fail("bytes_fed() not 0 after reset()", s.stream, o);
  p.set_last_event_id("");
  p.feed(s.stream);
  const ssekit::parse_error again = p.finish();
  if (again != first) fail("reset() did not give a fresh stream (error)", s.stream, o);
  if (!std::equal(rec.records.begin(), rec.records.begin() + static_cast<std::ptrdiff_t>(delivered),
                  rec.records.begin() + static_cast<std::ptrdiff_t>(delivered), rec.records.end()))
    fail("reset() did not give a fresh stream (records)", s.stream, o);
  if (p.last_event_id() != r.last_event_id) fail("reset() did not give a fresh stream (last_event_id)", s.stream, o);
  return 0;
}

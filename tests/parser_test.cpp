// Hand-written tests of the parser's API contract. The format's rules are
// covered case by case by the shared conformance data (conformance_test.cpp).
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ssekit/parser.hpp"
#include "support/guarded_buffer.hpp"
#include "support/recorder.hpp"

namespace ssekit::test {
namespace {

using kind = record::kind;

std::vector<record> parse_whole(std::string_view stream, parser_options options = {}) {
  recorder rec;
  parser p{rec, options};
  EXPECT_FALSE(p.feed(stream));
  EXPECT_FALSE(p.finish());
  return rec.records;
}

TEST(Parser, DeliversEventCommentAndRetryInStreamOrder) {
  const auto records = parse_whole(": hello\nretry: 250\nid: 1\nevent: tick\ndata: a\ndata: b\n\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], record::make_comment(" hello"));
  EXPECT_EQ(records[1], record::make_retry(250));
  EXPECT_EQ(records[2], record::make_event("tick", "a\nb", "1"));
}

TEST(Parser, SingleLineEventInsideOneChunkIsAViewIntoTheChunk) {
  struct check : handler {
    std::string_view chunk;
    int events = 0;
    void on_event(const event& ev) override {
      ++events;
      EXPECT_GE(ev.data.data(), chunk.data());
      EXPECT_LE(ev.data.data() + ev.data.size(), chunk.data() + chunk.size());
    }
  } h;
  const std::string stream = "data: payload that is not copied\n\nevent: x\ndata: second\n\n";
  h.chunk = stream;
  parser p{h};
  EXPECT_FALSE(p.feed(stream));
  EXPECT_EQ(h.events, 2);
}

TEST(Parser, EventSplitAcrossChunksIsCopiedAndStillCorrect) {
  recorder rec;
  parser p{rec};
  std::string first = "event: a\ndata: hel";
  std::string second = "lo\n";
  EXPECT_FALSE(p.feed(first));
  EXPECT_FALSE(p.feed(second));
  // The caller may reuse its buffers between feeds.
  first.assign(first.size(), 'X');
  second.assign(second.size(), 'Y');
  EXPECT_FALSE(p.feed("\n"));
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0], record::make_event("a", "hello", ""));
}

TEST(Parser, FinishDiscardsPendingEventAndUnterminatedLine) {
  recorder rec;
  parser p{rec};
  EXPECT_FALSE(p.feed("data: complete\n\ndata: pending\nid: 9\n\ndata: x\ndata: unterminated"));
  EXPECT_FALSE(p.finish());
  ASSERT_EQ(rec.records.size(), 2u);
  EXPECT_EQ(rec.records[1], record::make_event("message", "pending", "9"));
  EXPECT_EQ(p.last_event_id(), "9");
}

TEST(Parser, FeedAfterFinishIsAnErrorUntilReset) {
  recorder rec;
  parser p{rec};
  EXPECT_FALSE(p.feed("data: a\n\n"));
  EXPECT_FALSE(p.finish());
  const parse_error err = p.feed("data: b\n\n");
  EXPECT_EQ(err.code, errc::feed_after_finish);
  EXPECT_EQ(err.offset, 9u);
  EXPECT_EQ(p.finish(), err);  // sticky
  p.reset();
  EXPECT_FALSE(p.feed("data: c\n\n"));
  ASSERT_EQ(rec.records.size(), 2u);
  EXPECT_EQ(rec.records[1].data, "c");
}

TEST(Parser, ResetKeepsLastEventIdAndOptionsButDropsPartialState) {
  recorder rec;
  parser_options options;
  options.max_line_length = 100;
  parser p{rec, options};
  EXPECT_FALSE(p.feed("id: 41\ndata: a\n\nid: 42\ndata: half"));  // id 42 never dispatched
  p.reset();
  EXPECT_EQ(p.last_event_id(), "41");
  EXPECT_EQ(p.options().max_line_length, 100u);
  EXPECT_EQ(p.bytes_fed(), 0u);
  // A BOM is recognised again at the start of the new stream.
  EXPECT_FALSE(p.feed("\xEF\xBB\xBF" "data: b\n\n"));
  ASSERT_EQ(rec.records.size(), 2u);
  EXPECT_EQ(rec.records[1], record::make_event("message", "b", "41"));
}

TEST(Parser, ResetAfterCrAtChunkEndDoesNotSwallowTheNextStreamsLf) {
  recorder rec;
  parser p{rec};
  EXPECT_FALSE(p.feed("data: a\r"));
  p.reset();
  EXPECT_FALSE(p.feed("\ndata: b\n\n"));  // the leading LF is an empty line of the new stream
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].data, "b");
}

TEST(Parser, SetLastEventIdIsUsedByFollowingEvents) {
  recorder rec;
  parser p{rec};
  p.set_last_event_id("start-7");
  EXPECT_FALSE(p.feed("data: a\n\n"));
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].last_event_id, "start-7");
  EXPECT_EQ(p.last_event_id(), "start-7");
}

// The WebAssembly bridge tells "the same id as the last event's" by this
// count, without a copy of a long id: it must move whenever the id is set
// (to the same value too), and only then.
// The new id may be part of the one in force (last_event_id() trimmed):
// it is read before it is overwritten (ASan saw overlapping copies).
TEST(Parser, SetLastEventIdToAPartOfTheCurrentOne) {
  for (const bool raw : {false, true}) {
    handler h;
    parser_options options;
    options.raw_bytes = raw;
    parser p{h, options};
    const std::string id = std::string(300, 'a') + "tail";
    p.set_last_event_id(id);
    p.set_last_event_id(p.last_event_id().substr(3));
    EXPECT_EQ(p.last_event_id(), id.substr(3)) << raw;
    p.set_last_event_id(p.last_event_id());
    EXPECT_EQ(p.last_event_id(), id.substr(3)) << raw;
    p.set_last_event_id(p.last_event_id().substr(290));
    EXPECT_EQ(p.last_event_id(), id.substr(293)) << raw;
  }
}

TEST(Parser, LastEventIdVersionCountsEverySetAndNothingElse) {
  recorder rec;
  parser p{rec};
  const auto v0 = p.last_event_id_version();
  EXPECT_FALSE(p.feed("data: a\n\ndata: b\n\n: comment\nretry: 5\n\n"));
  EXPECT_EQ(p.last_event_id_version(), v0);
  EXPECT_FALSE(p.feed("id: 1\ndata: c\n"));
  EXPECT_EQ(p.last_event_id_version(), v0) << "an id field counts at its dispatch";
  EXPECT_FALSE(p.feed("\n"));
  EXPECT_EQ(p.last_event_id_version(), v0 + 1);
  EXPECT_FALSE(p.feed("id: 1\ndata: d\n\ndata: e\n\nid: 1\n\n" + std::string("id: \0x\ndata: f\n\n", 16)));
  EXPECT_EQ(p.last_event_id_version(), v0 + 3) << "the same id again counts; an event without one and an ignored id (NUL) do not";
  p.reset();
  EXPECT_EQ(p.last_event_id_version(), v0 + 3);
  p.set_last_event_id("1");
  EXPECT_EQ(p.last_event_id_version(), v0 + 4);
  EXPECT_EQ(p.last_event_id(), "1");
}

TEST(Parser, LineTooLongReportsOffsetOfTheLineAndIsSticky) {
  recorder rec;
  parser_options options;
  options.max_line_length = 10;
  parser p{rec, options};
  // "data: 12345" is 11 bytes; it starts at offset 12.
  const parse_error err = p.feed("data: 1234\n\ndata: 12345\n\n");
  EXPECT_EQ(err.code, errc::line_too_long);
  EXPECT_EQ(err.offset, 12u);
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(p.feed("data: ok\n\n"), err);
  EXPECT_EQ(p.finish(), err);
  EXPECT_EQ(rec.records.size(), 1u);
  p.reset();
  EXPECT_FALSE(p.feed("data: ok\n\n"));
  EXPECT_EQ(rec.records.size(), 2u);
}

TEST(Parser, LineTooLongIsDetectedBeforeTheLineEnds) {
  recorder rec;
  parser_options options;
  options.max_line_length = 64;
  parser p{rec, options};
  EXPECT_FALSE(p.feed("data: ok\n\n"));
  parse_error err;
  // An endless line must fail once it passes the limit, not buffer forever.
  for (int i = 0; i < 100 && !err; ++i) err = p.feed(std::string(16, 'x'));
  EXPECT_EQ(err.code, errc::line_too_long);
  EXPECT_EQ(err.offset, 10u);
  EXPECT_LE(p.bytes_fed(), 10u + 64u + 16u);
}

TEST(Parser, BytesOfABrokenBomCountTowardsTheFirstLine) {
  // "\xEF\xBB" then "x": not a BOM, so the first line is 3 bytes long.
  recorder rec;
  parser_options options;
  options.max_line_length = 1;
  parser p{rec, options};
  EXPECT_FALSE(p.feed("\xEF\xBB"));
  const parse_error err = p.feed("x\n");
  EXPECT_EQ(err.code, errc::line_too_long);
  EXPECT_EQ(err.offset, 0u);
}

TEST(Parser, EventTooLargeCountsJoinedDataLines) {
  parser_options options;
  options.max_event_size = 7;  // "abc\ndef" is exactly 7
  {
    recorder rec;
    parser p{rec, options};
    EXPECT_FALSE(p.feed("data: abc\ndata: def\n\n"));
    ASSERT_EQ(rec.records.size(), 1u);
  }
  {
    recorder rec;
    parser p{rec, options};
    const parse_error err = p.feed("data: abc\ndata: defg\n\n");
    EXPECT_EQ(err.code, errc::event_too_large);
    EXPECT_EQ(err.offset, 10u);
    EXPECT_TRUE(rec.records.empty());
  }
}

TEST(Parser, DefaultLimitsAcceptAFourteenMegabyteEvent) {
  const std::string payload(14'000'000, 'j');
  const std::string stream = "data: " + payload + "\n\n";
  struct size_check : handler {
    std::size_t size = 0;
    void on_event(const event& ev) override { size = ev.data.size(); }
  } h;
  parser p{h};
  for (std::size_t i = 0; i < stream.size(); i += 65536) EXPECT_FALSE(p.feed(std::string_view(stream).substr(i, 65536)));
  EXPECT_EQ(h.size, payload.size());
}

TEST(Parser, RawBytesModeKeepsInvalidUtf8) {
  parser_options options;
  options.raw_bytes = true;
  const auto raw = parse_whole("data: \xff\xfe\n\n", options);
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0].data, "\xff\xfe");
  const auto text = parse_whole("data: \xff\xfe\n\n");
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0].data, "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Parser, BytesFedCountsEverything) {
  recorder rec;
  parser p{rec};
  EXPECT_FALSE(p.feed("\xEF\xBB"));
  EXPECT_FALSE(p.feed(""));
  EXPECT_FALSE(p.feed("\xBF" "data: x\r"));
  EXPECT_EQ(p.bytes_fed(), 11u);
}

TEST(Parser, ThrowingHandlerThenResetLeavesAUsableParser) {
  struct thrower : recorder {
    bool armed = true;
    void on_event(const event& ev) override {
      if (armed) throw std::runtime_error("handler failed");
      recorder::on_event(ev);
    }
  } h;
  parser p{h};
  EXPECT_THROW(p.feed("event: a\ndata: x\n\n"), std::runtime_error);
  h.armed = false;
  p.reset();
  EXPECT_FALSE(p.feed("data: y\n\n"));
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0], record::make_event("message", "y", ""));
}

// An exception leaves feed() in the middle of its chunk: the rest of the
// chunk was never read, so a later feed() without reset() would join the
// next chunk to a stream with a hole in it. It fails instead, until reset()
// (a helper's probe: the event after the hole, and an id, were lost in
// silence).
TEST(Parser, AfterAnExceptionFeedFailsUntilReset) {
  struct thrower : recorder {
    bool armed = true;
    void on_event(const event& ev) override {
      if (armed && ev.data == "a") throw std::runtime_error("handler failed");
      recorder::on_event(ev);
    }
  } h;
  parser p{h};
  EXPECT_THROW(p.feed("data: a\n\nid: 7\ndata: b"), std::runtime_error);
  const parse_error after = p.feed("c\n\n");
  EXPECT_EQ(after.code, errc::feed_interrupted);
  EXPECT_EQ(after.offset, 22u) << "the end of the chunk the exception left";
  EXPECT_EQ(p.finish().code, errc::feed_interrupted);
  EXPECT_TRUE(h.records.empty());
  EXPECT_EQ(error_name(errc::feed_interrupted), "feed_interrupted");
  p.reset();
  EXPECT_FALSE(p.feed("data: d\n\n"));
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0], record::make_event("message", "d", ""));
}

// A handler that owns its parser may destroy it, as the stream is over for
// it: feed() then returns without touching the parser again (it was a
// use-after-free, a helper's probe). From each of the three callbacks, and
// destroyed then throwing.
TEST(Parser, AHandlerMayDestroyItsParser) {
  enum class where { event, comment, retry, event_then_throw };
  for (const where w : {where::event, where::comment, where::retry, where::event_then_throw}) {
    struct owner : recorder {
      std::unique_ptr<parser> p;
      where w = where::event;
      void on_event(const event& ev) override {
        recorder::on_event(ev);
        if (w == where::event || w == where::event_then_throw) p.reset();
        if (w == where::event_then_throw) throw std::runtime_error("after destroying");
      }
      void on_comment(std::string_view text) override {
        recorder::on_comment(text);
        if (w == where::comment) p.reset();
      }
      void on_retry(std::uint64_t ms) override {
        recorder::on_retry(ms);
        if (w == where::retry) p.reset();
      }
    } h;
    h.w = w;
    h.p = std::make_unique<parser>(h);
    // A multi-line event (owned buffers) and a long id first: more state
    // for the parser to touch after the callback.
    const std::string chunk = "id: " + std::string(200, 'i') + "\ndata: a\ndata: b\n\n: c\nretry: 5\ndata: after\n\n";
    parser& p = *h.p;
    const auto index = static_cast<int>(w);
    if (w == where::event_then_throw) {
      EXPECT_THROW(p.feed(chunk), std::runtime_error) << index;
    } else {
      EXPECT_FALSE(p.feed(chunk)) << index;
    }
    EXPECT_EQ(h.p, nullptr) << index;
    const std::size_t expected = w == where::retry ? 3 : w == where::comment ? 2 : 1;
    EXPECT_EQ(h.records.size(), expected) << index;
  }
}

// An id the format can't carry (a line break, or NUL, which the parser
// ignores in an `id:` field) is refused, as the serializer refuses it:
// with it, feeding the parser its own id dispatched and overwrote the
// buffer being read (ASan), and a relay's serialize_event failed later.
TEST(Parser, SetLastEventIdRefusesWhatTheFormatCantCarry) {
  recorder rec;
  parser p{rec};
  EXPECT_EQ(p.set_last_event_id("ok"), errc::ok);
  const auto version = p.last_event_id_version();
  for (const std::string_view bad : {std::string_view("a\nb"), std::string_view("a\rb"), std::string_view("a\0b", 3), std::string_view("\n\n")}) {
    EXPECT_EQ(p.set_last_event_id(bad), errc::invalid_event_id);
    EXPECT_EQ(p.last_event_id(), "ok");
  }
  EXPECT_EQ(p.last_event_id_version(), version);
  EXPECT_FALSE(p.feed(p.last_event_id()));
  EXPECT_FALSE(p.feed("\ndata: x\n\n"));
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].last_event_id, "ok");
}

// A call back into the parser from its own callback would change the state
// the running feed() is in the middle of (a data buffer still being
// delivered, a chunk half read): the call is refused, the running feed()
// stops with the same error, nothing is delivered twice or mixed, and a
// reset() afterwards leaves a parser that works.
TEST(Parser, CallsFromItsOwnCallbacksAreRefused) {
  enum class call { feed, finish, reset };
  for (const call what : {call::feed, call::finish, call::reset}) {
    struct reentrant : recorder {
      parser* p = nullptr;
      call what = call::feed;
      parse_error inner;
      void on_event(const event& ev) override {
        recorder::on_event(ev);
        if (ev.data != "a\nb") return;
        switch (what) {
          case call::feed: inner = p->feed("data: inner\n\n"); break;
          case call::finish: inner = p->finish(); break;
          case call::reset:
            p->reset();
            inner = p->finish();  // reports the parser's error, still the refusal
            break;
        }
      }
    } h;
    h.what = what;
    parser p{h};
    h.p = &p;
    const std::string stream = "id: 1\ndata: a\ndata: b\n\ndata: after\n\n";
    const parse_error outer = p.feed(stream);
    const int index = static_cast<int>(what);
    EXPECT_EQ(h.inner.code, errc::called_from_callback) << index;
    EXPECT_EQ(outer.code, errc::called_from_callback) << index;
    EXPECT_EQ(p.feed("data: more\n\n").code, errc::called_from_callback) << index;  // sticky
    ASSERT_EQ(h.records.size(), 1u) << index;
    EXPECT_EQ(h.records[0], record::make_event("message", "a\nb", "1")) << index;

    p.reset();
    EXPECT_FALSE(p.feed("data: next\n\n")) << index;
    ASSERT_EQ(h.records.size(), 2u) << index;
    EXPECT_EQ(h.records[1], record::make_event("message", "next", "1")) << index;
  }
}

TEST(Parser, CommentAndRetryCallbacksMayNotCallBackEither) {
  struct reentrant : recorder {
    parser* p = nullptr;
    void on_comment(std::string_view text) override {
      recorder::on_comment(text);
      p->reset();
    }
    void on_retry(std::uint64_t ms) override {
      recorder::on_retry(ms);
      EXPECT_EQ(p->feed(": x\n").code, errc::called_from_callback);
    }
  } h;
  parser p{h};
  h.p = &p;
  EXPECT_EQ(p.feed("retry: 5\ndata: a\n\n").code, errc::called_from_callback);
  p.reset();
  EXPECT_EQ(p.feed(": c\ndata: b\n\n").code, errc::called_from_callback);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0], record::make_retry(5));
  EXPECT_EQ(h.records[1], record::make_comment(" c"));
}

// Another parser is another parser: feeding it from a callback is fine
// (a relay that parses an inner stream carried in events does this).
TEST(Parser, AnotherParserMayBeFedFromACallback) {
  recorder inner_rec;
  parser inner{inner_rec};
  struct outer_handler : handler {
    parser* inner = nullptr;
    void on_event(const event& ev) override { EXPECT_FALSE(inner->feed(std::string(ev.data) + "\n\n")); }
  } h;
  h.inner = &inner;
  parser outer{h};
  EXPECT_FALSE(outer.feed("data: data: one\n\ndata: data: two\n\n"));
  ASSERT_EQ(inner_rec.records.size(), 2u);
  EXPECT_EQ(inner_rec.records[1], record::make_event("message", "two", ""));
}

// The last event id may point into the chunk while feed() runs; it must be
// the parser's own copy once feed() is left, by a return, an error or a
// handler's exception (ASan sees a view into the freed chunk).
TEST(Parser, LastEventIdOutlivesItsChunk) {
  struct thrower : recorder {
    void on_event(const event&) override { throw std::runtime_error("handler failed"); }
  };
  const auto feed_and_free = [](parser& p, std::string_view text) {
    const auto chunk = std::make_unique<std::string>(text);
    return p.feed(*chunk);
  };
  recorder rec;
  parser plain{rec};
  EXPECT_FALSE(feed_and_free(plain, "id: returned-normally\n\ndata: x\n\n"));
  EXPECT_EQ(plain.last_event_id(), "returned-normally");

  parser_options options;
  options.max_line_length = 40;
  parser failing{rec, options};
  EXPECT_EQ(feed_and_free(failing, "id: before-an-error\n\ndata: " + std::string(64, 'x') + "\n").code,
            errc::line_too_long);
  EXPECT_EQ(failing.last_event_id(), "before-an-error");

  thrower h;
  parser throwing{h};
  EXPECT_THROW(feed_and_free(throwing, "id: before-an-exception\ndata: x\n\n"), std::runtime_error);
  throwing.reset();
  EXPECT_EQ(throwing.last_event_id(), "before-an-exception");
}

TEST(Parser, NoReadPastTheEndOfAnyChunk) {
  // Every split of a stream rich in line ends, with each piece ending at an
  // unreadable page; ASan and the guard page both catch overreads.
  std::string stream = "\xEF\xBB\xBF" "data: 0123456789abcdef0123456789abcdef\r\n:c\rid: 1\n\n";
  stream += "event: e\ndata:" + std::string(40, 'z') + "\r\r\n" + std::string(33, 'q') + "\n";
  const auto expected = parse_whole(stream);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    recorder rec;
    parser p{rec};
    guarded_buffer first(std::string_view(stream).substr(0, split));
    guarded_buffer second(std::string_view(stream).substr(split));
    EXPECT_FALSE(p.feed(first.view()));
    EXPECT_FALSE(p.feed(second.view()));
    EXPECT_FALSE(p.finish());
    EXPECT_EQ(rec.records, expected) << "split at " << split;
  }
}

TEST(Errors, EveryCodeHasANameAndAMessage) {
  for (int code = 0; code <= static_cast<int>(errc::feed_interrupted); ++code) {
    const auto e = static_cast<errc>(code);
    EXPECT_NE(error_name(e), "unknown") << code;
    EXPECT_FALSE(error_message(e).empty());
  }
  EXPECT_EQ(error_name(errc::line_too_long), "line_too_long");
  EXPECT_EQ(error_name(static_cast<errc>(999)), "unknown");
  const std::error_code ec = errc::event_too_large;
  EXPECT_EQ(ec.category().name(), std::string("ssekit"));
  EXPECT_EQ(ec.message(), std::string(error_message(errc::event_too_large)));
}

// A value over 64 KiB (the large branch of the UTF-8 repair) split across
// chunks, with an invalid byte in the later chunk: repaired to U+FFFD like a
// short one (found by mutation: dropping the repaired bytes passed every
// other test).
TEST(Parser, AHugeDataLineSplitAcrossChunksIsRepaired) {
  recorder rec;
  parser p{rec};
  const std::string big(70000, 'a');
  EXPECT_FALSE(p.feed("data: " + big));
  EXPECT_FALSE(p.feed("\xff\n\n"));
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0], record::make_event("message", big + "\xEF\xBF\xBD", ""));
}

}  // namespace
}  // namespace ssekit::test

// sse-cat's output pieces (tools/sse-cat/output.cpp): the terminal escaping of
// server-controlled text, and the JSON and event-stream writers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "../support/heap_in_use.hpp"
#include "output.hpp"
#include "tool_io.hpp"
#include "ssekit/parser.hpp"
#include "ssekit/serializer.hpp"

namespace ssekit::cli {
namespace {

TEST(TerminalSafe, EscapesControlsEscAndC1ButNotUtf8OrBackslashes) {
  EXPECT_EQ(tools::terminal_safe("plain text / 200 OK"), "plain text / 200 OK");
  EXPECT_EQ(tools::terminal_safe("\x1b[2Jgone"), "\\x1b[2Jgone");
  EXPECT_EQ(tools::terminal_safe("a\rb\nc\td\x7f"), "a\\x0db\\x0ac\\x09d\\x7f");
  EXPECT_EQ(tools::terminal_safe("\xc2\x9b" "31m"), "\\u009b31m");            // C1 CSI, UTF-8 encoded
  EXPECT_EQ(tools::terminal_safe("\x9b" "31m"), "\\x9b31m");                  // C1 CSI, raw byte
  EXPECT_EQ(tools::terminal_safe("caf\xc3\xa9 \xf0\x9f\x98\x80 \xc2\xa0"), "caf\xc3\xa9 \xf0\x9f\x98\x80 \xc2\xa0");
  EXPECT_EQ(tools::terminal_safe("C:\\path \\x1b"), "C:\\path \\x1b");         // already escaped: left alone
  EXPECT_EQ(tools::terminal_safe("\xc0\xaf"), "\\xc0\\xaf");                  // overlong
  EXPECT_EQ(tools::terminal_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");         // surrogate
  EXPECT_EQ(tools::terminal_safe("\xe2\x82"), "\\xe2\\x82");                  // truncated
}

// Only well-formed UTF-8 (RFC 3629 section 4) is kept; a byte that starts no
// sequence, or one outside U+0000-U+10FFFF, must not carry a raw C1 byte
// such as 0x9B (CSI) through.
TEST(TerminalSafe, EscapesEveryMalformedSequenceByteByByte) {
  EXPECT_EQ(tools::terminal_safe("\xf8\x9b\x80" "31m"), "\\xf8\\x9b\\x8031m");  // 0xF5-0xFF start nothing
  EXPECT_EQ(tools::terminal_safe("\xf8\x80\x80"), "\\xf8\\x80\\x80");
  EXPECT_EQ(tools::terminal_safe("\xff\xbf\xbf"), "\\xff\\xbf\\xbf");
  EXPECT_EQ(tools::terminal_safe("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
  EXPECT_EQ(tools::terminal_safe("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");          // overlong, 3 bytes
  EXPECT_EQ(tools::terminal_safe("\xf0\x80\x80\xaf"), "\\xf0\\x80\\x80\\xaf");  // overlong, 4 bytes
  EXPECT_EQ(tools::terminal_safe("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(tools::terminal_safe("\xc3\xc3"), "\\xc3\\xc3");                      // no continuation byte
  EXPECT_EQ(tools::terminal_safe("\xc2\x9f"), "\\u009f");                          // the last C1 control
  // The edges of each range are kept.
  EXPECT_EQ(tools::terminal_safe("\xe0\xa0\x80\xed\x9f\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf"),
            "\xe0\xa0\x80\xed\x9f\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf");
  // A byte that starts no sequence (a continuation byte, 0xC0, 0xC1,
  // 0xF5-0xFF) is escaped alone, whatever follows it.
  static constexpr char hex[] = "0123456789abcdef";
  for (int lead = 0x80; lead <= 0xff; ++lead) {
    if (lead >= 0xc2 && lead <= 0xf4) continue;
    const std::string escaped = std::string("\\x") + hex[lead >> 4] + hex[lead & 0xf];
    for (const char* tail : {"\x9b\x80", "\x80\x80\x80", "\xbf\xbf"})
      EXPECT_EQ(tools::terminal_safe(static_cast<char>(lead) + std::string(tail)).substr(0, 4), escaped) << std::hex << lead;
  }
}

// Writes through a pipe and returns what came out.
template <class F>
std::string through_pipe(F&& f, std::size_t capacity = 16) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  {
    writer out(fds[1], -1, capacity);  // 16: the smallest buffer (min_capacity), pieces are written through
    f(out);
    EXPECT_TRUE(out.flush());
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return got;
}

// Every JSON escaper this CPU can run, the best one last (left in force).
std::vector<simd_level> simd_levels() {
  std::vector<simd_level> levels;
  for (const simd_level l : {simd_level::portable, simd_level::ssse3, simd_level::avx512})
    if (l <= cpu_simd_level()) levels.push_back(l);
  return levels;
}

// The client's messages name its options; sse-cat's name its flags (a
// probe's finding: "set replay_body" told sse-cat users of a C++ field).
TEST(CliOutput, ClientMessagesNameSseCatsFlags) {
  EXPECT_EQ(ssekit::cli::with_flag_names("stream ended; the request (with a body) is not sent again after its stream opened: set replay_body to resend it"),
            "stream ended; the request (with a body) is not sent again after its stream opened: pass --replay-body to resend it");
  EXPECT_EQ(ssekit::cli::with_flag_names("the server answered 500"), "the server answered 500");
  EXPECT_EQ(ssekit::cli::with_flag_names("the server answered 503 Busy; not retried: set retry_server_errors to reconnect after it"),
            "the server answered 503 Busy; not retried: pass --retry-server-errors to reconnect after it");
  EXPECT_EQ(ssekit::cli::with_flag_names("TLS handshake with h:1 failed: certificate verify failed: self-signed certificate (a private or self-signed CA? trust it with ca_file)"),
            "TLS handshake with h:1 failed: certificate verify failed: self-signed certificate (a private or self-signed CA? trust it with --cacert)");
  EXPECT_EQ(ssekit::cli::with_flag_names("TLS handshake with h:1 failed: certificate verify failed: unable to get local issuer certificate (the trusted certificates given hold neither that certificate nor the CA that issued it)"),
            "TLS handshake with h:1 failed: certificate verify failed: unable to get local issuer certificate (the --cacert file holds neither that certificate nor the CA that issued it)");
  // -H of a header the client sets: the flag, not the library's option.
  EXPECT_EQ(ssekit::cli::with_flag_names("ssekit::client: header Last-Event-ID is set by the client itself (to resume from an id: client_options::last_event_id)"),
            "ssekit::client: header Last-Event-ID is set by the client itself (to resume from an id: --last-event-id)");
  EXPECT_EQ(ssekit::cli::with_flag_names("ssekit::client: header Accept-Encoding is set by the client itself (client_options::compression chooses it)"),
            "ssekit::client: header Accept-Encoding is set by the client itself (--compressed / --no-compressed choose it)");
}

// A refused response's body on one line of standard error.
TEST(CliOutput, BodyExcerptIsOneSafeLine) {
  using ssekit::cli::body_excerpt;
  EXPECT_EQ(body_excerpt("\n  not found: /nope\r\n(GET / lists the endpoints)\n\n"), "not found: /nope / (GET / lists the endpoints)");
  EXPECT_EQ(body_excerpt("{\"error\":\"rate limited\"}"), "{\"error\":\"rate limited\"}");
  EXPECT_EQ(body_excerpt("a\x1b[31mb"), ssekit::tools::terminal_safe("a\x1b[31mb"));  // no terminal escapes
  EXPECT_EQ(body_excerpt(""), "");
  // At most 300 bytes, not cut inside a character.
  const std::string long_body = std::string(299, 'x') + "\xc3\xa9" + std::string(100, 'y');
  EXPECT_EQ(body_excerpt(long_body), std::string(299, 'x') + "...");
  EXPECT_EQ(body_excerpt(std::string(400, 'z')), std::string(300, 'z') + "...");
}

TEST(CliOutput, JsonEscapesInRunsAcrossTheBuffer) {
  const std::string text = std::string(40, 'a') + "\"\\\n\x01" + std::string(40, 'b');
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, text); }),
              "\"" + std::string(40, 'a') + "\\\"\\\\\\n\\u0001" + std::string(40, 'b') + "\"")
        << "simd level " << static_cast<int>(level);
  }
}

// The escaping done one byte at a time, the obvious way.
std::string json_reference(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) out += std::string("\\u00") + hex[c >> 4] + hex[c & 0xf];
    else out.push_back(ch);
  }
  return out + "\"";
}

TEST(CliOutput, JsonEscapingMatchesTheByteByByteReferenceAtEveryOffset) {
  // Every byte value below 0x80 (and a UTF-8 pair) at every offset of the
  // 16-byte blocks, in runs long and short, through buffers small and large.
  std::string alphabet;
  for (int c = 0; c < 0x80; ++c) alphabet.push_back(static_cast<char>(c));
  alphabet += "\xc3\xa9";
  // The AVX-512 escaper's blocks are 32 bytes: runs of LF, CR and tab (its
  // two-byte escapes) and of quotes across them, and a \u00XX block.
  std::string mixed;
  for (int i = 0; i < 200; ++i) mixed += (i % 7 == 0) ? "\n\r\t" : (i % 5 == 0) ? "\"\\" : (i % 61 == 0) ? "\x1f" : "ab";
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    const std::string where = "simd level " + std::to_string(static_cast<int>(level));
    for (const std::size_t capacity : {std::size_t{16}, std::size_t{300}, std::size_t{4096}}) {
      for (std::size_t offset = 0; offset < 70; ++offset) {
        const std::string text = std::string(offset, 'x') + alphabet + std::string(offset, '"');
        EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, text); }, capacity), json_reference(text))
            << "offset " << offset << " capacity " << capacity << " " << where;
        const std::string piece = mixed.substr(offset);
        EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, piece); }, capacity), json_reference(piece))
            << "mixed from " << offset << " capacity " << capacity << " " << where;
      }
    }
    const std::string quotes(1000, '"');  // every byte escaped: 2x the input
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, quotes); }), json_reference(quotes)) << where;
    const std::string controls(1000, '\x01');  // every byte 6x
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, controls); }), json_reference(controls)) << where;
    const std::string lines(1000, '\n');  // every byte 2x, no \u00XX
    EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, lines); }), json_reference(lines)) << where;
  }
}

// A quote or backslash, and no control, at every place of every length up
// to three blocks: the blocks' halves and the tail's length.
TEST(CliOutput, JsonEscapesAQuoteAtEveryPlaceOfEveryLength) {
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    for (std::size_t length = 1; length <= 48; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        for (const char special : {'"', '\\'}) {
          std::string text(length, 'a');
          text[at] = special;
          EXPECT_EQ(through_pipe([&](writer& out) { append_json_string(out, text); }, 4096), json_reference(text))
              << "length " << length << " at " << at << " simd level " << static_cast<int>(level);
        }
      }
    }
  }
}

// The id is written when it changed, however long: a long one written
// again with every event made the output a million times the input (a
// probe: an id of 1 MB, then 200 "data:x" events, 200 MB out). The same
// to a terminal, for an id with a control too.
TEST(CliOutput, AnIdIsWrittenOnlyWhenItChangedHoweverLong) {
  const std::string long_id(10000, 'L');  // over the 4096 bytes once kept; the output fits a pipe
  const std::string control_id = "\x1b" + long_id;
  const auto print = [&](bool terminal) {
    return through_pipe([&](writer& out) {
      printer p(out, output_format::event_stream, false);
      p.escape_controls(terminal);
      p.on_event(event{"message", "1", "A"});
      p.on_event(event{"message", "2", long_id});
      p.on_event(event{"message", "3", long_id});
      p.on_event(event{"message", "4", control_id});
      p.on_event(event{"message", "5", control_id});
      p.on_event(event{"message", "6", "A"});
      p.on_event(event{"message", "7", "A"});
    }, 256 * 1024);
  };
  const std::string got = print(false);
  EXPECT_EQ(got, "id: A\ndata: 1\n\nid: " + long_id + "\ndata: 2\n\ndata: 3\n\nid: " + control_id + "\ndata: 4\n\ndata: 5\n\nid: A\ndata: 6\n\ndata: 7\n\n");
  EXPECT_EQ(print(true), "id: A\ndata: 1\n\nid: " + long_id + "\ndata: 2\n\ndata: 3\n\nid: \\x1b" + long_id +
                             "\ndata: 4\n\ndata: 5\n\nid: A\ndata: 6\n\ndata: 7\n\n");
  // What a reader makes of it: the same ids.
  struct id_recorder : handler {
    std::vector<std::string> ids;
    void on_event(const event& e) override { ids.emplace_back(e.last_event_id); }
  } recorder;
  parser reader(recorder);
  ASSERT_FALSE(reader.feed(got));
  const auto& ids = recorder.ids;
  EXPECT_EQ(ids, (std::vector<std::string>{"A", long_id, long_id, control_id, control_id, "A", "A"}));
}

// To a terminal, a long line with controls is escaped in pieces as it is
// written: it cost two escaped copies of the line (9x the event in all, a
// probe: 296 MB for a 33 MB event), for data and for comments.
TEST(CliOutput, ATerminalLineIsEscapedInPiecesNotCopiedWhole) {
  const std::string line(std::size_t{2} << 20, '\x01');  // 8 MiB escaped
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::size_t before = ssekit::test::heap_in_use();
  std::size_t peak = before;
  std::string head, tail;  // the first and last bytes that came out
  std::size_t got = 0;
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
      peak = std::max(peak, ssekit::test::heap_in_use());
      if (head.size() < 64) head.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), 64));
      tail.append(buf, static_cast<std::size_t>(n));
      if (tail.size() > 64 * 1024) tail.erase(0, tail.size() - 32 * 1024);
      got += static_cast<std::size_t>(n);
    }
  });
  {
    writer out(fds[1], -1);
    printer p(out, output_format::event_stream, true);
    p.escape_controls(true);
    p.on_event(event{"message", line, ""});
    p.on_comment(line);
    EXPECT_TRUE(out.flush());
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  EXPECT_EQ(got, 2 * 4 * line.size() + 6 + 2 + 2);  // "data: " ... "\n\n", ":" ... "\n"
  EXPECT_EQ(head.substr(0, 10), "data: \\x01");
  EXPECT_EQ(tail.substr(tail.size() - 9), "\\x01\\x01\n");
  // The writer's buffer (256 KiB) and a piece's escaping (64 KiB), not
  // the line's (8 MiB).
  EXPECT_LT(peak - before, std::size_t{1} << 20);
}

// To a terminal (escape_controls), no control the stream sends reaches it:
// ESC (clear screen, OSC 52 clipboard), BEL, DEL, C1 CSI, in every field
// and format. TAB stays; an event without controls is written as before.
TEST(CliOutput, ControlsAreEscapedForATerminal) {
  const std::string esc = "\x1b[2J\x1b]52;c;SGk=\x07\x7f\xc2\x9b" "31m\tend";
  const auto print = [&](output_format format, bool escape) {
    return through_pipe([&](writer& out) {
      printer p(out, format, true);
      p.escape_controls(escape);
      p.on_event(event{"message", "plain", "1"});
      p.on_event(event{"t" + esc, "a" + esc + "\nb", "i" + esc});
      p.on_comment("c" + esc);
      p.on_event(event{"message", "plain", "1"});
    });
  };
  const std::string shown = "\\x1b[2J\\x1b]52;c;SGk=\\x07\\x7f\\u009b31m\tend";
  EXPECT_EQ(print(output_format::event_stream, true),
            "id: 1\ndata: plain\n\nid: i" + shown + "\nevent: t" + shown + "\ndata: a" + shown + "\ndata: b\n\n:c" + shown +
                "\nid: 1\ndata: plain\n\n");
  const std::string json_shown = "\\u001b[2J\\u001b]52;c;SGk=\\u0007\\u007f\\u009b31m\\tend";
  EXPECT_EQ(print(output_format::json, true),
            "{\"type\":\"message\",\"data\":\"plain\",\"lastEventId\":\"1\"}\n"
            "{\"type\":\"t" + json_shown + "\",\"data\":\"a" + json_shown + "\\nb\",\"lastEventId\":\"i" + json_shown + "\"}\n"
            "{\"comment\":\"c" + json_shown + "\"}\n"
            "{\"type\":\"message\",\"data\":\"plain\",\"lastEventId\":\"1\"}\n");
  // Not to a terminal: the bytes as sent.
  const std::string raw = print(output_format::event_stream, false);
  EXPECT_NE(raw.find("data: a" + esc + "\ndata: b\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find(":c" + esc + "\n"), std::string::npos) << raw;
}

TEST(CliOutput, EventStreamOutputIsWhatTheSerializerWrites) {
  const std::string got = through_pipe([](writer& out) {
    printer p(out, output_format::event_stream, true);
    p.on_retry(5);
    p.on_comment(" hi");
    p.on_event(event{"news", "line 1\nline 2\n\n x", "7"});
    p.on_event(event{"message", "", "7"});
  });
  EXPECT_EQ(got, "retry: 5\n: hi\nid: 7\nevent: news\ndata: line 1\ndata: line 2\ndata:\ndata:  x\n\ndata:\n\n");
}

TEST(CliOutput, DataLinesAreTheSerializersAtEveryOffsetAndLevel) {
  // Multi-line data goes through a copy in 16-byte blocks (above the
  // portable level): LFs at every offset of a block, empty lines, lines
  // longer than a block, a leading and a trailing LF, through buffers
  // smaller and larger than a line.
  std::vector<std::string> values;
  for (std::size_t first = 0; first < 40; ++first) {
    values.push_back(std::string(first, 'a') + "\n" + std::string(first % 17, 'b'));
    values.push_back(std::string(first, 'c') + "\n\n" + std::string(40 - first, 'd') + "\n");
  }
  values.push_back("\n");
  values.push_back("\n\n\nx");
  values.push_back(std::string(1000, 'e') + "\n" + std::string(3, 'f') + "\n" + std::string(700, 'g'));
  std::string many;
  for (int i = 0; i < 300; ++i) many += std::string(static_cast<std::size_t>(i % 37), 'h') + "\n";
  values.push_back(many);
  for (const simd_level level : simd_levels()) {
    set_simd_level(level);
    for (const std::size_t capacity : {std::size_t{writer::min_capacity}, std::size_t{300}, std::size_t{4096}}) {
      for (const std::string& value : values) {
        std::string expected;
        ASSERT_EQ(serialize_event(expected, {.data = value}), errc::ok);
        EXPECT_EQ(through_pipe([&](writer& out) { printer(out, output_format::event_stream, false).on_event(event{"message", value, ""}); }, capacity),
                  expected)
            << "simd level " << static_cast<int>(level) << " capacity " << capacity << " value of " << value.size() << " bytes";
      }
    }
  }
}

TEST(CliOutput, JsonLinesWithTheUsualAndOtherTypesAndIds) {
  const std::string got = through_pipe([](writer& out) {
    printer p(out, output_format::json, false);
    p.on_event(event{"message", "a\"b", ""});
    p.on_event(event{"up\"d", "x", "7\\"});
    p.on_event(event{"messages", "", "7"});
  });
  EXPECT_EQ(got,
            "{\"type\":\"message\",\"data\":\"a\\\"b\",\"lastEventId\":\"\"}\n"
            "{\"type\":\"up\\\"d\",\"data\":\"x\",\"lastEventId\":\"7\\\\\"}\n"
            "{\"type\":\"messages\",\"data\":\"\",\"lastEventId\":\"7\"}\n");
}

// A regular file takes whole buffers without poll(): the same bytes.
TEST(CliOutput, WritesToARegularFileAsToAPipe) {
  std::string big;
  for (int i = 0; i < 3000; ++i) big += "line " + std::to_string(i) + "\n";
  const auto print = [&](writer& out) {
    printer p(out, output_format::event_stream, false);
    p.on_event(event{"message", big, "1"});
    p.on_event(event{"update", "x", "2"});
  };
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    writer out(::fileno(file), -1, 300);
    print(out);
    EXPECT_TRUE(out.flush());
  }
  std::string got;
  std::rewind(file);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file)) > 0;) got.append(buf, n);
  std::fclose(file);
  std::string want = "id: 1\n";
  for (int i = 0; i < 3000; ++i) want += "data: line " + std::to_string(i) + "\n";
  want += "data:\n\nid: 2\nevent: update\ndata: x\n\n";
  EXPECT_EQ(got, want);
}

// After a stop signal sse-cat writes what the output takes without
// waiting. On a terminal poll()'s POLLOUT promises only some room, so a
// PIPE_BUF piece into a nearly full one waited for the reader (a review
// found it): nothing goes to a terminal then. A repeating timer interrupts
// a write that blocks, so the test ends either way and counts bytes.
TEST(CliOutput, TheStopFlushWritesNothingToATerminal) {
  int master = -1;
  int slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  const int flags = ::fcntl(slave, F_GETFL);
  ::fcntl(slave, F_SETFL, flags | O_NONBLOCK);
  const std::string fill(1024, 'f');
  while (::write(slave, fill.data(), fill.size()) > 0) {
  }
  ::fcntl(slave, F_SETFL, flags);
  // Read until the terminal says it takes writes again: nearly full.
  char buf[256];
  while (!tools::writable_now(slave)) ASSERT_GT(::read(master, buf, sizeof buf), 0);

  struct sigaction on_alarm {};
  on_alarm.sa_handler = [](int) {};  // no SA_RESTART: a blocked write returns
  struct sigaction before {};
  ::sigaction(SIGALRM, &on_alarm, &before);
  itimerval every_second{{1, 0}, {1, 0}};
  ::setitimer(ITIMER_REAL, &every_second, nullptr);
  {
    writer out(slave, -1, 64 * 1024);
    out.append(std::string(8192, 'y'));
    out.flush_without_waiting();
    EXPECT_TRUE(out.empty());
  }
  itimerval off{};
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &before, nullptr);

  std::size_t written = 0;
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) written += static_cast<std::size_t>(std::count(buf, buf + n, 'y'));
  EXPECT_EQ(written, 0u);
  ::close(slave);
  ::close(master);
}

}  // namespace
}  // namespace ssekit::cli

// The programs' shared argument and number parsing (tools/common), their
// standard descriptors and non-blocking log (tool_io.hpp):
// range checks, overflow, saturating durations, the messages, the
// servers' listen address (listen_endpoint.hpp) and their request-head
// limit (request_head.hpp).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/system/system_error.hpp>

#include <array>
#include <cstring>
#include <string>

#include "listen_endpoint.hpp"
#include "request_head.hpp"
#include "tool_args.hpp"
#include "tool_io.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace ssekit::tools {
namespace {

using namespace std::chrono_literals;
constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

TEST(ToolArgs, UintAcceptsDigitsWithinRange) {
  EXPECT_EQ(parse_uint("0", 0, 10).value, 0u);
  EXPECT_EQ(parse_uint("65535", 0, 65535).value, 65535u);
  EXPECT_EQ(parse_uint("18446744073709551615", 0, u64_max).value, u64_max);
  EXPECT_EQ(parse_uint("007", 0, 10).value, 7u);
}

TEST(ToolArgs, UintRefusesEverythingElseWithTheRange) {
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1.5", "65536", "18446744073709551616",
                          "99999999999999999999999999", "abc"}) {
    const auto p = parse_uint(bad, 0, 65535);
    EXPECT_FALSE(p) << bad;
    EXPECT_EQ(p.error, "must be a whole number from 0 to 65535") << bad;
  }
  EXPECT_FALSE(parse_uint("0", 1, 10));
}

TEST(ToolArgs, MillisSaturateAtTheMaximum) {
  EXPECT_EQ(parse_millis("250", 1h).value, 250ms);
  EXPECT_EQ(parse_millis("9223372036854775807", 1h).value, 1h);
  EXPECT_EQ(parse_millis("99999999999999999999999999999999", 1h).value, 1h);
  EXPECT_EQ(parse_millis("3600001", 1h).value, 1h);
  EXPECT_FALSE(parse_millis("-1", 1h));
  EXPECT_FALSE(parse_millis("1.5", 1h));
  EXPECT_FALSE(parse_millis("", 1h));
}

TEST(ToolArgs, SecondsTakeUpToThreeDecimalsAndSaturate) {
  EXPECT_EQ(parse_seconds("2", 1h).value, 2000ms);
  EXPECT_EQ(parse_seconds("0.2", 1h).value, 200ms);
  EXPECT_EQ(parse_seconds("0.025", 1h).value, 25ms);
  EXPECT_EQ(parse_seconds("1e300", 1h).value, std::nullopt);
  EXPECT_EQ(parse_seconds("100000000000000000000000", 1h).value, 1h);
  EXPECT_EQ(parse_seconds("3600.5", 1h).value, 1h);
  for (const char* bad : {"", ".", "1.", ".5", "0.0001", "-1", "nan", "inf", "1,5", "0x1"}) EXPECT_FALSE(parse_seconds(bad, 1h)) << bad;
}

TEST(ToolArgs, FixedIsAnIntegerCountOfUnits) {
  EXPECT_EQ(parse_fixed("1", 6, 1, 1'000'000'000).value, 1'000'000u);
  EXPECT_EQ(parse_fixed("0.01", 6, 1, 1'000'000'000).value, 10'000u);
  EXPECT_EQ(parse_fixed("0.000001", 6, 1, 1'000'000'000).value, 1u);
  EXPECT_EQ(parse_fixed("1000", 6, 1, 1'000'000'000).value, 1'000'000'000u);
  for (const char* bad : {"1e300", "1001", "0", "0.0000001", "99999999999999999999999", "-1", "", "."}) {
    const auto p = parse_fixed(bad, 6, 1, 1'000'000'000);
    EXPECT_FALSE(p) << bad;
    EXPECT_EQ(p.error, "must be a number from 0.000001 to 1000 with at most 6 decimals") << bad;
  }
}

// A limit at either end of the 64 bits: the cap arithmetic must not wrap.
TEST(ToolArgs, LimitsAtTheEndsOfTheRangeDoNotWrap) {
  // Caps under one digit: 5 ms with a 2 ms cap is 2 ms, not 5.
  EXPECT_EQ(parse_millis("5", 2ms).value, 2ms);
  EXPECT_EQ(parse_millis("7777777777777777777", 2ms).value, 2ms);
  EXPECT_EQ(parse_millis("1", 2ms).value, 1ms);
  EXPECT_EQ(parse_millis("9", 0ms).value, 0ms);
  EXPECT_EQ(parse_seconds("7", 2000ms).value, 2000ms);
  EXPECT_EQ(parse_seconds("99999999999999999999", 2000ms).value, 2000ms);
  // Whole units with the whole 64-bit range (max / unit + 1 wrapped to 0).
  EXPECT_EQ(parse_fixed("10", 0, 0, u64_max).value, 10u);
  EXPECT_EQ(parse_fixed("18446744073709551615", 0, 0, u64_max).value, u64_max);
  EXPECT_FALSE(parse_fixed("18446744073709551616", 0, 0, u64_max));
  EXPECT_FALSE(parse_fixed("99999999999999999999", 1, 0, u64_max));
  // The last whole number with a fraction that would carry past 64 bits.
  EXPECT_EQ(parse_fixed("1844674407370955161.5", 1, 0, u64_max).value, u64_max);
  EXPECT_FALSE(parse_fixed("1844674407370955161.6", 1, 0, u64_max));
  EXPECT_FALSE(parse_fixed("1844674407370955161.9", 1, 0, u64_max));
  EXPECT_EQ(parse_uint("18446744073709551615", 0, u64_max).value, u64_max);
  EXPECT_FALSE(parse_uint("9", 0, 5));
}

TEST(ToolArgs, FixedRefusesMoreDecimalsAndNamesItsRange) {
  EXPECT_FALSE(parse_fixed("1.0000001", 6, 1, 1'000'000'000));
  EXPECT_FALSE(parse_fixed("1.0000000", 6, 1, 1'000'000'000));
  EXPECT_EQ(parse_fixed("0.1", 6, 100'000, 1'000'000).value, 100'000u);
  EXPECT_EQ(parse_fixed("0", 6, 100'000, 1'000'000).error, "must be a number from 0.1 to 1 with at most 6 decimals");
  EXPECT_EQ(parse_fixed("x", 0, 0, 5).error, "must be a number from 0 to 5 with at most 0 decimals");
}

struct argv_of {
  explicit argv_of(std::initializer_list<const char*> args) {
    for (const char* a : args) storage.emplace_back(a);
    for (auto& s : storage) pointers.push_back(s.data());
  }
  int argc() { return static_cast<int>(pointers.size()); }
  std::vector<std::string> storage;
  std::vector<char*> pointers;
};

std::string usage_message(std::initializer_list<const char*> args) {
  argv_of a(args);
  arg_reader r(a.argc(), a.pointers.data());
  try {
    while (r.next()) {
      if (r.is("--port")) (void)r.number<std::uint16_t>();
      else if (r.is("--timeout")) (void)r.seconds_value(1h);
      else if (r.is("--wait-ms")) (void)r.millis_value(1500ms);
      else if (r.is("--name")) (void)r.value();
      else if (r.is("--address")) (void)r.nonempty_value("an address");
      else if (r.is("--even")) {
        if (r.uint_value(0, 100) % 2 != 0) r.fail("must be even");
      } else r.unknown();
    }
  } catch (const usage_error& e) {
    return e.what();
  }
  return {};
}

TEST(ToolArgs, ReaderWalksOptionsAndNamesTheOptionInEveryMessage) {
  EXPECT_EQ(usage_message({"prog", "--port", "80", "--timeout", "0.5", "--name", "x"}), "");
  EXPECT_EQ(usage_message({"prog", "--port", "65536"}), "bad value '65536' for --port: must be a whole number from 0 to 65535");
  EXPECT_EQ(usage_message({"prog", "--port"}), "missing value for --port");
  EXPECT_EQ(usage_message({"prog", "--timeout", "1e9"}),
            "bad value '1e9' for --timeout: must be a number of seconds (e.g. 2 or 0.25, at most three decimals)");
  EXPECT_EQ(usage_message({"prog", "--even", "3"}), "--even: must be even");
  // Durations above the option's limit are refused, however many digits.
  EXPECT_EQ(usage_message({"prog", "--timeout", "3600", "--wait-ms", "1500"}), "");
  EXPECT_EQ(usage_message({"prog", "--timeout", "3600.001"}), "bad value '3600.001' for --timeout: must be at most 3600 seconds");
  EXPECT_EQ(usage_message({"prog", "--timeout", "99999999999999999999999"}),
            "bad value '99999999999999999999999' for --timeout: must be at most 3600 seconds");
  EXPECT_EQ(usage_message({"prog", "--wait-ms", "1501"}), "bad value '1501' for --wait-ms: must be at most 1500 ms");
  EXPECT_EQ(usage_message({"prog", "--wait-ms", "18446744073709551616"}),
            "bad value '18446744073709551616' for --wait-ms: must be at most 1500 ms");
  // An empty address or path meant "all" or "none" (0.0.0.0, no TLS).
  EXPECT_EQ(usage_message({"prog", "--address", "::1", "--name", ""}), "");
  EXPECT_EQ(usage_message({"prog", "--address", ""}), "--address: needs an address");
  EXPECT_EQ(usage_message({"prog", "--address"}), "missing value for --address");
  EXPECT_EQ(usage_message({"prog", "--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(usage_message({"prog", "stray"}), "unexpected argument 'stray'");
  // GNU's --name=value: the message shows the form that is read (probe-ssecat M5).
  EXPECT_EQ(usage_message({"prog", "--port=80"}),
            "unknown option '--port=80' (an option and its value are two arguments: '--port 80')");
  EXPECT_EQ(usage_message({"prog", "--=x"}), "unknown option '--=x'");
}

TEST(ToolArgs, NextIsNumberPeeksWithoutMoving) {
  argv_of a({"prog", "--idle", "12", "--idle", "--x"});
  arg_reader r(a.argc(), a.pointers.data());
  ASSERT_TRUE(r.next());
  EXPECT_TRUE(r.next_is_number());
  EXPECT_EQ(r.uint_value(1, 100), 12u);
  ASSERT_TRUE(r.next());
  EXPECT_FALSE(r.next_is_number());
  ASSERT_TRUE(r.next());
  EXPECT_TRUE(r.is("--x"));
  EXPECT_FALSE(r.next_is_number());  // the last argument: nothing after it to read
  EXPECT_FALSE(r.next());
}

// Boost's system_error what() ends in " [category:value]".
TEST(ToolArgs, ReadableErrorDropsBoostsCodeSuffixOnly) {
  const boost::system::system_error e(boost::system::error_code(EMFILE, boost::system::system_category()), "dup");
  EXPECT_EQ(readable_error(e.what()), "dup: Too many open files");
  EXPECT_EQ(readable_error("bind: Address already in use [system:98]"), "bind: Address already in use");
  EXPECT_EQ(readable_error("x [asio.misc:-2]"), "x");
  // With the source location Boost adds where the error was thrown.
  EXPECT_EQ(readable_error("bind: Address already in use [system:98 at /usr/include/boost/asio/detail/x.hpp:161:5 in function "
                           "'f(a [b], c)']"),
            "bind: Address already in use");
  for (const char* kept : {"a [b]", "a [system:]", "a [:1]", "a [system:1x]", "plain", "", " []"}) EXPECT_EQ(readable_error(kept), kept);
}

// A closed standard descriptor (any number here) is opened on /dev/null,
// so the next descriptor made can't take it.
TEST(ToolIo, ReserveIfClosedOpensDevNullOnAClosedDescriptor) {
  const int fd = ::dup(1);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(reserve_if_closed(fd));  // open: left as it is
  ASSERT_EQ(::close(fd), 0);
  EXPECT_TRUE(reserve_if_closed(fd));
  std::array<char, 64> target{};
  const auto n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target.data(), target.size() - 1);
  EXPECT_EQ(std::string(target.data(), n > 0 ? static_cast<std::size_t>(n) : 0), "/dev/null");
  ::close(fd);
}

// What a pipe holds now, read without waiting.
std::string drain(int fd) {
  std::string text;
  std::array<char, 65536> buf{};
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) text.append(buf.data(), static_cast<std::size_t>(n));
  return text;
}

// The contract service's log: a pipe nobody reads froze its event loop in
// write(2). Lines are dropped while the pipe is full (this returns, not
// blocks), counted, escaped, and cut to 1 KiB.
// A server keeps back the descriptors it holds once set up plus 2 (a
// connection accepted at its limit before another is shed, one spare), and
// never less than min(32, limit / 2): under ulimit -n 16, half the limit
// left 7 descriptors for 8 connections, and accept() failed before a shed.
TEST(ToolIo, DescriptorsForConnectionsLeaveRoomForTheServersOwn) {
  EXPECT_EQ(tools::descriptors_for_connections(1024, 9), 992u);
  EXPECT_EQ(tools::descriptors_for_connections(64, 9), 32u);
  EXPECT_EQ(tools::descriptors_for_connections(24, 9), 12u);
  EXPECT_EQ(tools::descriptors_for_connections(16, 9), 5u);
  EXPECT_EQ(tools::descriptors_for_connections(12, 9), 1u);
  EXPECT_EQ(tools::descriptors_for_connections(11, 9), 0u);
  EXPECT_EQ(tools::descriptors_for_connections(0, 0), 0u);
  // This process's own descriptors, those numbered above a limit left out.
  const std::size_t open = tools::open_descriptors(1 << 20);
  EXPECT_GE(open, 3u);  // stdin, stdout, stderr
  EXPECT_LE(tools::open_descriptors(3), 3u);
}

TEST(ToolIo, LineLogDropsWhatAFullPipeCantTakeAndSaysHowMany) {
  std::array<int, 2> p{};
  ASSERT_EQ(::pipe2(p.data(), O_NONBLOCK), 0);  // our own pipe; the log's end is made blocking below
  std::string fill(4096, 'f');
  while (::write(p[1], fill.data(), fill.size()) > 0) {
  }
  ASSERT_EQ(::fcntl(p[1], F_SETFL, 0), 0);  // as a shared fd 2: blocking
  line_log_stream log(p[1]);
  log << "one" << '\n' << "two\n" << std::flush;  // would block for ever
  EXPECT_EQ(log.log().dropped(), 2u);
  (void)drain(p[0]);
  const std::string tag = "\x1b]0;title\x07\x1b[2J" + std::string(9000, 't');
  const std::string line = "stream 1 (" + tag + "): GET /";
  log << line << '\n';
  log << "\xc2\x9b" "31m caf\xc3\xa9\n";
  const std::string text = drain(p[0]);
  EXPECT_EQ(text.rfind("(2 log lines dropped: their reader was not keeping up)\nstream 1 (\\x1b]0;title\\x07\\x1b[2Jttt", 0), 0u) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  const auto first = text.find('\n') + 1;
  const auto second = text.find('\n', first);
  EXPECT_LE(second - first, line_log::max_line + 40);
  EXPECT_NE(text.find(" [cut; the line had " + std::to_string(line.size()) + " bytes]\n"), std::string::npos) << text;
  EXPECT_EQ(text.substr(second + 1), "\\u009b31m caf\xc3\xa9\n");
  EXPECT_EQ(log.log().dropped(), 2u);
  ::close(p[0]);
  ::close(p[1]);
}

// The servers' "listening on URL" line: an IPv6 host in brackets, a zone's
// '%' as "%25" (RFC 6874; it printed "[fe80::1%lo]", no valid URL).
TEST(ListenEndpoint, UrlHostBracketsIpv6AndEscapesAZone) {
  namespace ip = boost::asio::ip;
  EXPECT_EQ(url_host(ip::make_address("127.0.0.1")), "127.0.0.1");
  EXPECT_EQ(url_host(ip::make_address("::1")), "[::1]");
  ip::address_v6 zoned = ip::make_address_v6("fe80::1");
  zoned.scope_id(1);
  EXPECT_EQ(url_host(zoned), "[fe80::1%25" + zoned.to_string().substr(zoned.to_string().find('%') + 1) + "]");
}

TEST(ListenEndpoint, TakesBracketedLiteralsAndNames) {
  boost::asio::io_context io;
  EXPECT_EQ(resolve_listen_endpoint(io.get_executor(), "[::1]", 80).address(), boost::asio::ip::make_address("::1"));
  EXPECT_EQ(resolve_listen_endpoint(io.get_executor(), "127.0.0.1", 80).port(), 80);
  EXPECT_TRUE(resolve_listen_endpoint(io.get_executor(), "localhost", 80).address().is_v4());
  EXPECT_THROW(resolve_listen_endpoint(io.get_executor(), "[]", 80), boost::system::system_error);
}

// put_head() over `bytes`, given whole: what it answers, as a server that
// has read them and waits for more would get it.
boost::system::error_code put_all(std::string_view bytes, std::size_t limit) {
  namespace http = boost::beast::http;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(1 << 20);  // put_head's own limit is the one tested
  boost::beast::flat_buffer buffer;
  const auto to = buffer.prepare(bytes.size());
  std::memcpy(to.data(), bytes.data(), bytes.size());
  buffer.commit(bytes.size());
  std::size_t consumed = 0;
  boost::system::error_code ec = http::error::need_more;
  for (int i = 0; i < 4 && ec == http::error::need_more; ++i) ec = put_head(parser, buffer, consumed, limit);
  return ec;
}

// The limit is on the whole head: an incomplete one of `limit` bytes would
// pass it with its next byte; one byte less may still end within it.
TEST(RequestHead, LimitCountsConsumedFieldsAndHeldBytes) {
  namespace http = boost::beast::http;
  constexpr std::size_t limit = 1024;
  const std::string start = "GET / HTTP/1.1\r\nHost: x\r\n";
  std::string fields;
  while (start.size() + fields.size() + 4 <= limit - 100) fields += "a:\r\n";
  const std::string head = start + fields;  // complete fields, parsed and consumed
  const auto pad = [&](std::size_t total) { return head + "X: " + std::string(total - head.size() - 3, 'y'); };
  EXPECT_EQ(put_all(pad(limit - 1), limit), http::error::need_more);
  EXPECT_EQ(put_all(pad(limit), limit), http::error::header_limit);
  EXPECT_EQ(put_all(head + "\r\n", limit), boost::system::error_code{});
  // Empty lines before the request line count too; a CR alone may wait
  // for its LF only while that LF would still fit.
  EXPECT_EQ(put_all(std::string(limit - 2, '\n') + "\r", limit), http::error::need_more);
  EXPECT_EQ(put_all(std::string(limit - 1, '\n') + "\r", limit), http::error::header_limit);
  EXPECT_EQ(put_all(std::string(limit, '\n'), limit), http::error::header_limit);
  EXPECT_EQ(put_all("\r\n\n" + start + "\r\n", limit), boost::system::error_code{});
}

// A request of `version` with these Connection field lines, one each.
boost::beast::http::request<boost::beast::http::empty_body> with_connection(unsigned version, std::initializer_list<std::string_view> lines) {
  boost::beast::http::request<boost::beast::http::empty_body> req(boost::beast::http::verb::get, "/", version);
  for (const auto line : lines) req.insert(boost::beast::http::field::connection, line);
  return req;
}

// RFC 9110 5.3, 7.6.1: the options of every Connection line count; Beast's
// keep_alive() read the first line only.
TEST(RequestHead, CloseInAnyConnectionLineEndsTheConnection) {
  EXPECT_TRUE(keeps_alive(with_connection(11, {})));
  EXPECT_TRUE(keeps_alive(with_connection(11, {"keep-alive"})));
  EXPECT_FALSE(keeps_alive(with_connection(11, {"close"})));
  EXPECT_FALSE(keeps_alive(with_connection(11, {"keep-alive", "close"})));
  EXPECT_FALSE(keeps_alive(with_connection(11, {"x-a", "upgrade", "foo, CLOSE"})));
  EXPECT_FALSE(keeps_alive(with_connection(11, {"te,\t Close \t,x"})));
  EXPECT_TRUE(keeps_alive(with_connection(11, {"closed", "x-close, close-x", ", ,"})));
  // HTTP/1.0 persists only when asked, and "close" anywhere still wins.
  EXPECT_FALSE(keeps_alive(with_connection(10, {})));
  EXPECT_TRUE(keeps_alive(with_connection(10, {"Keep-Alive"})));
  EXPECT_TRUE(keeps_alive(with_connection(10, {"x", "te, keep-alive"})));
  EXPECT_FALSE(keeps_alive(with_connection(10, {"keep-alive", "close"})));
  EXPECT_FALSE(keeps_alive(with_connection(10, {"close, keep-alive"})));
}

// RFC 9112 6.1: an HTTP/1.0 request with Transfer-Encoding has faulty
// framing; its connection closes after the answer, whatever it asked.
TEST(RequestHead, Http10WithTransferEncodingEndsTheConnection) {
  auto req = with_connection(10, {"keep-alive"});
  req.set(boost::beast::http::field::transfer_encoding, "chunked");
  EXPECT_FALSE(keeps_alive(req));
  req.version(11);
  EXPECT_TRUE(keeps_alive(req));  // HTTP/1.1 frames it
}

}  // namespace
}  // namespace ssekit::tools

// The client's socket-free HTTP rules (native/client/http_rules.hpp) and
// URL handling (url.hpp, on Boost.URL), tested directly.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "http_rules.hpp"
#include "url.hpp"

namespace {

using namespace std::chrono_literals;
using namespace ssekit::detail;
using ssekit::header_list;

// --- URLs

TEST(ClientUrl, ParsesHttpAndHttps) {
  auto u = parse_url("HTTP://Example.COM:8080/a/./b/../c?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/a/c?x=1");
  EXPECT_EQ(u->authority(), "example.com:8080");
  u = parse_url("https://[::1]/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->authority(), "[::1]");
  u = parse_url("http://127.0.0.1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/");
}

TEST(ClientUrl, RefusesMalformedHostsPortsAndCredentials) {
  for (const char* bad : {"http://a:b:80/", "http://host:99999/", "http://host:0/", "http://u:p@host/", "ftp://x/", "http://",
                          "127.0.0.1:80/", "http://[zz]/", "http://ho st/", "http://h\x01/", "http://%41/", "//host/"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
  EXPECT_FALSE(parse_url("http://h/" + std::string(max_url_length, 'a')));
}

TEST(ClientUrl, ResolvesLocationsAndPercentEncodesNonAscii) {
  const url base = *parse_url("http://h:81/a/b?q");
  EXPECT_EQ(resolve_url(base, "c")->str(), "http://h:81/a/c");
  EXPECT_EQ(resolve_url(base, "../c")->str(), "http://h:81/c");
  EXPECT_EQ(resolve_url(base, "?z")->str(), "http://h:81/a/b?z");
  EXPECT_EQ(resolve_url(base, "//other/x")->str(), "http://other/x");
  EXPECT_EQ(resolve_url(base, " https://s/y#f ")->str(), "https://s/y");
  EXPECT_EQ(resolve_url(base, "/caf\xC3\xA9?\xC3\xA9")->target, "/caf%C3%A9?%C3%A9");
  EXPECT_FALSE(resolve_url(base, "ftp://x/"));
  EXPECT_FALSE(resolve_url(base, "http://a:b:80/"));
  EXPECT_FALSE(resolve_url(base, "http://\xC3\xA9.example/"));  // no IDNA: refused, not sent raw
  EXPECT_FALSE(resolve_url(base, "/a\r\nX: y"));
}

// --- options

ssekit::client_options valid() {
  ssekit::client_options o;
  o.url = "http://127.0.0.1:9/";
  return o;
}

TEST(ClientRules, RefusesOptionsOverLimitsAndFramingHeaders) {
  auto refused = [](const ssekit::client_options& o) {
    try {
      check_options(o);
    } catch (const ssekit::client_options_error&) {
      return true;
    }
    return false;
  };
  EXPECT_FALSE(refused(valid()));
  auto o = valid();
  o.last_event_id = std::string(4097, 'i');
  EXPECT_TRUE(refused(o));
  o.last_event_id = std::string(4096, 'i');
  EXPECT_FALSE(refused(o));
  o.last_event_id = "a\x01";
  EXPECT_TRUE(refused(o));
  for (const char* name : {"Content-Length", "transfer-encoding", "Connection", "Accept-Encoding", "Last-Event-ID", "TE"}) {
    o = valid();
    o.headers = {{name, "1"}};
    EXPECT_TRUE(refused(o)) << name;
  }
  o = valid();
  o.headers = {{std::string(300, 'X'), "1"}};
  EXPECT_TRUE(refused(o));
  o.headers = {{"X", std::string(70000, 'v')}};
  EXPECT_TRUE(refused(o));
  o.headers = {{"X", "a\x7f"}};
  EXPECT_TRUE(refused(o));
  o.headers = {{"X1", std::string(16000, 'v')}, {"X2", std::string(16000, 'v')}, {"X3", std::string(16000, 'v')}};
  EXPECT_TRUE(refused(o));
  o = valid();
  o.url = "http://h/" + std::string(70000, 'p');
  EXPECT_TRUE(refused(o));
  o = valid();
  o.connect_timeout = 0ms;
  EXPECT_TRUE(refused(o));
  o = valid();
  o.backoff.factor_percent = 99;
  EXPECT_TRUE(refused(o));
  o = valid();
  o.backoff.jitter_percent = 101;
  EXPECT_TRUE(refused(o));
  o = valid();
  o.backoff.min_delay = 0ms;
  EXPECT_TRUE(refused(o));
  o = valid();
  o.max_id_length = 1 << 20;
  EXPECT_TRUE(refused(o));
}

// --- the request

std::string field(const request_head& h, std::string_view name) {
  std::string out;
  int n = 0;
  for (const auto& [k, v] : h.fields) {
    if (k == name) {
      out = v;
      ++n;
    }
  }
  return n > 1 ? "<twice>" : out;
}

TEST(ClientRules, RequestHeadOwnsFramingAndLetsTheUserReplaceHostAndAgent) {
  request_plan plan{*parse_url("http://h:81/e"), "GET", "", {{"User-Agent", "mine"}, {"Host", "front"}, {"Accept", "x/y"}, {"X", "1"}}};
  const request_head h = build_request(plan, "42");
  EXPECT_EQ(field(h, "Host"), "front");
  EXPECT_EQ(field(h, "User-Agent"), "mine");
  EXPECT_EQ(field(h, "Accept"), "text/event-stream");
  EXPECT_EQ(field(h, "Accept-Encoding"), "gzip, deflate");
  EXPECT_EQ(field(h, "Last-Event-ID"), "42");
  EXPECT_EQ(field(h, "X"), "1");
  EXPECT_FALSE(h.has_body);
  plan.headers.clear();
  const request_head d = build_request(plan, "");
  EXPECT_EQ(field(d, "Host"), "h:81");
  EXPECT_EQ(field(d, "User-Agent"), "ssekit");
  EXPECT_EQ(field(d, "Last-Event-ID"), "");
  plan.method = "POST";
  EXPECT_TRUE(build_request(plan, "").has_body);
  plan.compression = false;
  EXPECT_EQ(field(build_request(plan, ""), "Accept-Encoding"), "identity");
}

TEST(ClientRules, IdsThatCantBeAFieldValueAreNotSendable) {
  EXPECT_TRUE(sendable_id("abc-1 2\t3\xC3\xA9", 4096));
  EXPECT_FALSE(sendable_id("a\x01", 4096));
  EXPECT_FALSE(sendable_id("a\x7f", 4096));
  EXPECT_FALSE(sendable_id("a\x1b[31m", 4096));
  EXPECT_FALSE(sendable_id(std::string(4097, 'x'), 4096));
  EXPECT_TRUE(sendable_id(std::string(4096, 'x'), 4096));
}

// --- the verdict

TEST(ClientRules, VerdictOnStatusTypeAndEncoding) {
  const header_list sse = {{"Content-Type", "text/event-stream; charset=utf-8"}};
  EXPECT_EQ(judge_response(200, sse).kind, verdict_kind::open);
  EXPECT_EQ(judge_response(100, {}).kind, verdict_kind::interim);
  EXPECT_EQ(judge_response(103, {{"Link", "</a>"}}).kind, verdict_kind::interim);
  EXPECT_EQ(judge_response(101, {}).kind, verdict_kind::refused_status);
  EXPECT_EQ(judge_response(204, {}).kind, verdict_kind::no_content);
  EXPECT_EQ(judge_response(404, sse).kind, verdict_kind::refused_status);
  EXPECT_EQ(judge_response(302, {}).kind, verdict_kind::refused_status);  // no Location
  const verdict r = judge_response(302, {{"Location", "/x"}});
  EXPECT_EQ(r.kind, verdict_kind::redirect);
  EXPECT_EQ(r.location, "/x");
  EXPECT_EQ(judge_response(200, {{"Content-Type", "text/plain"}}).kind, verdict_kind::wrong_content_type);
  header_list gz = sse;
  gz.emplace_back("Content-Encoding", "gzip");
  const verdict g = judge_response(200, gz);
  EXPECT_EQ(g.kind, verdict_kind::unsupported_encoding);
  EXPECT_EQ(g.encoding, "gzip");
  header_list id = sse;
  id.emplace_back("Content-Encoding", "identity");
  EXPECT_EQ(judge_response(200, id).kind, verdict_kind::open);
}

TEST(ClientRules, VerdictOnContentCodingsWithCompression) {
  const header_list sse = {{"Content-Type", "text/event-stream"}};
  auto with = [&](std::initializer_list<const char*> codings) {
    header_list h = sse;
    for (const char* c : codings) h.emplace_back("Content-Encoding", c);
    return judge_response(200, h, true);
  };
  EXPECT_EQ(with({}).coding, content_coding::identity);
  EXPECT_EQ(with({"gzip"}).kind, verdict_kind::open);
  EXPECT_EQ(with({"gzip"}).coding, content_coding::gzip);
  EXPECT_EQ(with({"X-GZIP"}).coding, content_coding::gzip);
  EXPECT_EQ(with({"deflate"}).coding, content_coding::deflate);
  EXPECT_EQ(with({"identity, gzip"}).coding, content_coding::gzip);
  EXPECT_EQ(with({"identity", "deflate"}).coding, content_coding::deflate);
  const verdict br = with({"br"});
  EXPECT_EQ(br.kind, verdict_kind::unsupported_encoding);
  EXPECT_EQ(br.encoding, "br");
  // Two codings stacked: refused, named whole.
  const verdict twice = with({"gzip, gzip"});
  EXPECT_EQ(twice.kind, verdict_kind::unsupported_encoding);
  EXPECT_EQ(twice.encoding, "gzip, gzip");
  EXPECT_EQ(with({"deflate", "gzip"}).kind, verdict_kind::unsupported_encoding);
  // Without compression, gzip is refused as before.
  header_list gz = sse;
  gz.emplace_back("Content-Encoding", "gzip");
  EXPECT_EQ(judge_response(200, gz, false).kind, verdict_kind::unsupported_encoding);
}

TEST(ClientRules, DuplicateContentTypesFollowFetch) {
  // fetch's "extract a MIME type": the last valid type of the combined value wins.
  EXPECT_EQ(extract_mime_essence({{"Content-Type", "text/plain"}, {"Content-Type", "text/event-stream"}}), "text/event-stream");
  EXPECT_EQ(extract_mime_essence({{"Content-Type", "text/event-stream"}, {"Content-Type", "text/plain"}}), "text/plain");
  EXPECT_EQ(extract_mime_essence({{"Content-Type", "text/event-stream, */*"}}), "text/event-stream");
  EXPECT_EQ(extract_mime_essence({{"Content-Type", "text/event-stream"}, {"Content-Type", "bogus"}}), "text/event-stream");
  EXPECT_EQ(extract_mime_essence({{"Content-Type", "text/plain; a=\"x,y\", TEXT/Event-Stream"}}), "text/event-stream");
  EXPECT_EQ(extract_mime_essence({}), "");
}

TEST(ClientRules, EscapesControlsInServerText) {
  EXPECT_EQ(escape_text("OK"), "OK");
  EXPECT_EQ(escape_text("a\x1b[2Jb\r\n"), "a\\x1b[2Jb\\x0d\\x0a");
  EXPECT_EQ(escape_text("\xC2\x9B" "31m"), "\\xc2\\x9b31m");  // C1 CSI in UTF-8
  EXPECT_EQ(escape_text("\x9b"), "\\x9b");
  EXPECT_EQ(escape_text("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(escape_text(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
}

// --- redirects

TEST(ClientRules, RedirectRules) {
  ssekit::client_options o = valid();
  const request_plan post{*parse_url("https://a/x"), "POST", "b", {{"Authorization", "t"}, {"Content-Type", "j"}, {"Host", "h"}}};
  auto r = follow_redirect(post, 303, "/y", 0, o);
  ASSERT_TRUE(r.next);
  EXPECT_EQ(r.next->method, "GET");
  EXPECT_EQ(r.next->body, "");
  EXPECT_EQ(r.next->headers.size(), 2u);  // Content-Type gone
  r = follow_redirect(post, 307, "https://b/y", 0, o);
  ASSERT_TRUE(r.next);
  EXPECT_EQ(r.next->method, "POST");
  EXPECT_EQ(r.next->headers.size(), 1u);  // credentials and Host stay behind
  r = follow_redirect(post, 307, "http://a/y", 0, o);
  EXPECT_FALSE(r.next);
  EXPECT_NE(r.refusal.find("https to http"), std::string::npos);
  o.max_redirects = 2;
  EXPECT_FALSE(follow_redirect(post, 302, "/z", 2, o).next);
  r = follow_redirect(post, 302, "gopher:\x1b[2J", 0, o);
  EXPECT_FALSE(r.next);
  EXPECT_EQ(r.refusal.find('\x1b'), std::string::npos) << "escaped";
}

TEST(ClientRules, RetryAfterDeltaSecondsCapped) {
  EXPECT_EQ(retry_after({{"Retry-After", "3"}}), 3000ms);
  EXPECT_EQ(retry_after({{"Retry-After", "99999999999999999999999"}}), max_reconnection_time);
  EXPECT_FALSE(retry_after({{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
  EXPECT_FALSE(retry_after({{"Retry-After", "-1"}}));
  EXPECT_FALSE(retry_after({}));
}

// --- the reconnect delay

TEST(ClientBackoff, GrowsCapsAndJittersInIntegers) {
  ssekit::backoff_options b;
  b.jitter_percent = 0;
  b.min_delay = 1ms;
  EXPECT_EQ(reconnect_delay(b, 20ms, 0, 0), 20ms);
  EXPECT_EQ(reconnect_delay(b, 20ms, 1, 0), 20ms);
  EXPECT_EQ(reconnect_delay(b, 20ms, 2, 0), 40ms);
  EXPECT_EQ(reconnect_delay(b, 20ms, 3, 0), 80ms);
  EXPECT_EQ(reconnect_delay(b, 20ms, 100, 0), 30000ms);
  b.jitter_percent = 50;
  EXPECT_EQ(reconnect_delay(b, 20ms, 3, 1000), 40ms);  // the most jitter: half
  EXPECT_EQ(reconnect_delay(b, 20ms, 3, 0), 80ms);
  b.enabled = false;
  EXPECT_EQ(reconnect_delay(b, 20ms, 50, 0), 20ms);
}

TEST(ClientBackoff, AServerCantLowerTheFloorOrOverflowIt) {
  // retry: 0 from the server, any failure count, any random value: never
  // below the default floor, so at most 4 requests a second.
  const ssekit::backoff_options b;
  for (std::uint64_t failures : {0ull, 1ull, 2ull, 3ull, 64ull, 1025ull, 1ull << 40, ~0ull}) {
    for (std::uint32_t random : {0u, 1u, 500u, 1000u, 0xffffffffu}) {
      const auto d = reconnect_delay(b, 0ms, failures, random);
      EXPECT_GE(d, 250ms) << failures;
      EXPECT_LE(d, 30000ms) << failures;
    }
  }
  // Extremes saturate: 24 h at most, even for a huge base and factor.
  ssekit::backoff_options big;
  big.factor_percent = 1000;
  big.max_delay = std::chrono::milliseconds::max();
  big.jitter_percent = 0;
  EXPECT_EQ(reconnect_delay(big, std::chrono::milliseconds::max(), ~0ull, 0), max_reconnection_time);
  EXPECT_EQ(reconnect_delay(big, 1ms, 200, 0), max_reconnection_time);
  ssekit::backoff_options slow;
  slow.factor_percent = 101;
  slow.jitter_percent = 0;
  slow.min_delay = 1ms;
  EXPECT_GT(reconnect_delay(slow, 1ms, 10, 0), 1ms);  // grows even from 1 ms
  EXPECT_EQ(reconnect_delay(slow, 1ms, ~0ull, 0), 30000ms);
}

}  // namespace

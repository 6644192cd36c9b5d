// The client's socket-free HTTP rules (native/client/http_rules.hpp) and
// URL handling (url.hpp, on Boost.URL), tested directly.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

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

// Localhost names (RFC 6761 6.3) are resolved as "localhost", as browsers
// and curl do; hosts merely containing the word are not.
TEST(ClientUrl, LocalhostNamesAreResolvedAsLocalhost) {
  for (const char* host : {"localhost", "localhost.", "app.localhost", "a.b.localhost.", "localhost.localhost"}) {
    EXPECT_EQ(resolver_host(host), "localhost") << host;
  }
  for (const char* host : {"localhost.example", "mylocalhost", ".localhost", "localhost..", "example.com.", "127.0.0.1", "::1"}) {
    EXPECT_EQ(resolver_host(host), host) << host;
  }
}

// The WHATWG URL standard's IPv4 host parser (examples from its "host
// parsing" section and WPT's url tests): a host whose last label is a
// number is an address, sent in Host in dotted decimal, or the URL fails.
TEST(ClientUrl, ReadsIpv4FormsAsBrowsersDo) {
  const std::pair<const char*, const char*> good[] = {
      {"http://0x7f000001/", "127.0.0.1"}, {"http://127.1/", "127.0.0.1"},       {"http://0177.0.0.1/", "127.0.0.1"},
      {"http://127.0.1./", "127.0.0.1"},   {"http://4294967295/", "255.255.255.255"}, {"http://0x/", "0.0.0.0"},
      {"http://1.2.0x305/", "1.2.3.5"}  ,  {"http://192.168.257/", "192.168.1.1"},  {"http://0XA.0.0.1/", "10.0.0.1"},
      {"http://example.com/", "example.com"}, {"http://09.com/", "09.com"},          {"http://a.0x1g/", "a.0x1g"},
  };
  for (const auto& [text, host] : good) {
    std::string why;
    const auto u = parse_url(text, &why);
    ASSERT_TRUE(u) << text << ": " << why;
    EXPECT_EQ(u->host, host) << text;
  }
  EXPECT_EQ(parse_url("http://0x7f000001:8080/x")->authority(), "127.0.0.1:8080");
  for (const char* bad : {"http://1.2.3.256/", "http://256.0.0.1/", "http://1.2.3.4.5/", "http://example.123/", "http://4294967296/",
                          "http://0xffffffff1/", "http://08/", "http://1..2/", "http://foo.0x/", "http://0x100000000000000000001/"}) {
    std::string why;
    EXPECT_FALSE(parse_url(bad, &why)) << bad;
    EXPECT_TRUE(why.find("ends in a number") != std::string::npos || why.find("malformed host") != std::string::npos) << bad << ": " << why;
  }
  // A redirect to such a host too.
  const auto resolved = resolve_url(*parse_url("http://example.com/"), "//0x7f000001:99/p");
  ASSERT_TRUE(resolved);
  EXPECT_EQ(resolved->authority(), "127.0.0.1:99");
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
  EXPECT_FALSE(resolve_url(base, std::string_view("/a\0b", 4)));
}

// Cases mutation testing showed missing, each at the edge of one check.
TEST(ClientUrl, EdgesOfItsChecks) {
  // Five parts that end in a number: no IPv4 address (at most four parts).
  EXPECT_FALSE(parse_url("http://01.2.3.4.0/"));
  EXPECT_FALSE(parse_url("http://1.2.3.4.5/"));
  // An empty port is the default one (RFC 3986 6.2.3).
  const auto empty_port = parse_url("http://host:/");
  ASSERT_TRUE(empty_port);
  EXPECT_EQ(empty_port->port, 80);
  EXPECT_EQ(empty_port->str(), "http://host/");
  // The longest URL taken, and one byte more.
  const std::string prefix = "http://h/";
  EXPECT_TRUE(parse_url(prefix + std::string(max_url_length - prefix.size(), 'a')));
  EXPECT_FALSE(parse_url(prefix + std::string(max_url_length - prefix.size() + 1, 'a')));
  // A Location: tabs in its authority are dropped (WHATWG URL strips them
  // everywhere), and an escape at its very end is an escape, not a '%'.
  const url base = *parse_url("http://a/b");
  EXPECT_EQ(resolve_url(base, "//ex\tample.com/x")->str(), "http://example.com/x");
  EXPECT_EQ(resolve_url(base, "/x%41")->str(), "http://a/x%41");
  EXPECT_EQ(resolve_url(base, "/x%4")->str(), "http://a/x%254");
}

// Dot segments go as in WHATWG URL ("%2e" is a dot); nothing else is
// decoded: "%2F" is not a separator (Boost.URL's normalize_path made it one).
TEST(ClientUrl, RemovesDotSegmentsAndDecodesNothingElse) {
  const auto target = [](std::string_view text) { return parse_url(text)->target; };
  EXPECT_EQ(target("http://h/a%2Fb"), "/a%2Fb");
  EXPECT_EQ(target("http://h/%61%7e?x=%2F%41"), "/%61%7e?x=%2F%41");
  EXPECT_EQ(target("http://h/a/./b/../c"), "/a/c");
  EXPECT_EQ(target("http://h/%2e%2e/x"), "/x");
  EXPECT_EQ(target("http://h/a/%2E%2e/b/.%2E"), "/");
  EXPECT_EQ(target("http://h/a/b/.."), "/a/");
  EXPECT_EQ(target("http://h/a/."), "/a/");
  EXPECT_EQ(target("http://h/.."), "/");
  EXPECT_EQ(target("http://h"), "/");
  EXPECT_EQ(target("http://h//x//"), "//x//");
  EXPECT_EQ(resolve_url(*parse_url("http://h/a/b"), "%2e%2e/c%2Fd")->target, "/c%2Fd");
}

// RFC 3986 section 5.4's examples (normal and abnormal; fragments dropped,
// "g:h" and "http:g" left out: not http URLs with a host).
TEST(ClientUrl, ResolvesRfc3986Examples) {
  const auto base = *parse_url("http://a/b/c/d;p?q");
  const std::pair<const char*, const char*> cases[] = {
      {"g", "http://a/b/c/g"}, {"./g", "http://a/b/c/g"}, {"g/", "http://a/b/c/g/"}, {"/g", "http://a/g"},
      {"//g", "http://g/"}, {"?y", "http://a/b/c/d;p?y"}, {"g?y", "http://a/b/c/g?y"}, {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"}, {"g?y#s", "http://a/b/c/g?y"}, {";x", "http://a/b/c/;x"}, {"g;x", "http://a/b/c/g;x"},
      {"g;x?y#s", "http://a/b/c/g;x?y"}, {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"}, {"./", "http://a/b/c/"},
      {"..", "http://a/b/"}, {"../", "http://a/b/"}, {"../g", "http://a/b/g"}, {"../..", "http://a/"},
      {"../../", "http://a/"}, {"../../g", "http://a/g"}, {"../../../g", "http://a/g"}, {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"}, {"/../g", "http://a/g"}, {"g.", "http://a/b/c/g."}, {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."}, {"..g", "http://a/b/c/..g"}, {"./../g", "http://a/b/g"}, {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"}, {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"}, {"g?y/./x", "http://a/b/c/g?y/./x"}, {"g?y/../x", "http://a/b/c/g?y/../x"},
      {"g#s/./x", "http://a/b/c/g"}, {"g#s/../x", "http://a/b/c/g"},
  };
  for (const auto& [reference, expected] : cases) {
    const auto resolved = resolve_url(base, reference);
    ASSERT_TRUE(resolved) << reference;
    EXPECT_EQ(resolved->str(), expected) << reference;
  }
}

// What Chrome and Firefox send for Locations RFC 3986 does not allow
// (WHATWG URL parsing): they encode, they do not refuse.
TEST(ClientUrl, ResolvesLocationsAsBrowsersDo) {
  const auto base = *parse_url("http://h:81/a/b");
  EXPECT_EQ(resolve_url(base, "/a b")->target, "/a%20b");
  EXPECT_EQ(resolve_url(base, "/x?q=a b&r=\"<>\"")->target, "/x?q=a%20b&r=%22%3C%3E%22");
  EXPECT_EQ(resolve_url(base, "/{a}|^`[1]")->target, "/%7Ba%7D%7C%5E%60%5B1%5D");
  EXPECT_EQ(resolve_url(base, "/100%/%2F%zz")->target, "/100%25/%2F%25zz");
  EXPECT_EQ(resolve_url(base, "/a\tb")->target, "/ab");
  EXPECT_EQ(resolve_url(base, "/a\x01\x7f")->target, "/a%01%7F");
  EXPECT_EQ(resolve_url(base, "/p#x#y")->str(), "http://h:81/p");
  EXPECT_EQ(resolve_url(base, "\\c\\d?e\\f")->str(), "http://h:81/c/d?e%5Cf");
  EXPECT_EQ(resolve_url(base, "\\\\c\\d")->str(), "http://c/d");
  EXPECT_EQ(resolve_url(base, "https:\\\\s\\y")->str(), "https://s/y");
  EXPECT_EQ(resolve_url(base, "c d")->str(), "http://h:81/a/c%20d");
  EXPECT_EQ(resolve_url(base, "http://[::1]:82/[x]")->str(), "http://[::1]:82/%5Bx%5D");
  EXPECT_FALSE(resolve_url(base, "http://a b/"));  // a host is never encoded
  // The base's own scheme without "//" is relative (WHATWG), not host-less.
  EXPECT_EQ(resolve_url(base, "http:/final")->str(), "http://h:81/final");
  EXPECT_EQ(resolve_url(base, "HTTP:final?x")->str(), "http://h:81/a/final?x");
  EXPECT_EQ(resolve_url(base, "http:\\\\s/y")->str(), "http://s/y");
  // Another special scheme, or "//": slashes, any number, then the host
  // (WHATWG URL's special authority ignore slashes state; the cases follow
  // web-platform-tests' url/resources/urltestdata.json).
  EXPECT_EQ(resolve_url(base, "https:s")->str(), "https://s/");
  EXPECT_EQ(resolve_url(base, "https:/s/y?q")->str(), "https://s/y?q");
  EXPECT_EQ(resolve_url(base, "HTTPS:s:8443/y")->str(), "https://s:8443/y");
  EXPECT_EQ(resolve_url(base, "https:////s/y")->str(), "https://s/y");
  EXPECT_EQ(resolve_url(base, "http:///s/y")->str(), "http://s/y");
  EXPECT_EQ(resolve_url(*parse_url("https://h/a"), "http:example.com/")->str(), "http://example.com/");
  EXPECT_EQ(resolve_url(*parse_url("https://h/a"), "http:/example.com/")->str(), "http://example.com/");
  EXPECT_FALSE(resolve_url(base, "https:"));
  EXPECT_FALSE(resolve_url(base, "https:///"));
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
  // Where an option does what the header was meant for, the message names it.
  for (const auto& [name, option] : {std::pair<const char*, const char*>{"last-event-id", "client_options::last_event_id"},
                                     {"Accept-Encoding", "client_options::compression"}}) {
    o = valid();
    o.headers = {{name, "1"}};
    try {
      check_options(o);
      ADD_FAILURE() << name << " was taken";
    } catch (const ssekit::client_options_error& e) {
      EXPECT_NE(std::string_view(e.what()).find(option), std::string_view::npos) << e.what();
    }
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
  o.backoff.factor_percent = 10001;  // x100 at most, as the npm package's factor
  EXPECT_TRUE(refused(o));
  o.backoff.factor_percent = 10000;
  EXPECT_FALSE(refused(o));
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

// RFC 9110 7.2: a Host header is uri-host [":" port]; "a b" was sent as
// given (probe-ssecat M2).
TEST(ClientRules, AHostHeaderMustBeAHostAndPort) {
  auto message = [](const char* host) {
    auto o = valid();
    o.headers = {{"Host", host}};
    try {
      check_options(o);
    } catch (const ssekit::client_options_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  for (const char* good : {"front", "front:8080", " front:81 ", "127.0.0.1:1", "[::1]:65535", "h:", "xn--bcher-kva.example"})
    EXPECT_EQ(message(good), "accepted") << good;
  for (const char* bad : {"a b", "a:99999", "a:65536", "user@h", "h:8x", "[::1", "h/p", "h?q", ":80"}) {
    EXPECT_NE(message(bad).find("header Host is not a host[:port]"), std::string::npos) << bad << ": " << message(bad);
  }
}

// check_options' message for options with this URL, or "accepted".
std::string refusal_of_url(std::string url) {
  auto o = valid();
  o.url = std::move(url);
  try {
    check_options(o);
  } catch (const ssekit::client_options_error& e) {
    return e.what();
  }
  return "accepted";
}

TEST(ClientRules, ARefusedUrlSaysWhatIsWrongWithIt) {
  const auto message = refusal_of_url;
  const std::pair<const char*, const char*> cases[] = {
      {"http://user:pw@127.0.0.1/", "credentials in a URL (user:password@) are not sent: use an Authorization header"},
      {"http://user@127.0.0.1/", "credentials in a URL"},
      {"ftp://127.0.0.1/", "the scheme is not http or https"},
      {"http:/x", "no http:// or https:// in front"},
      {"http:///x", "no host"},
      {"http://127.0.0.1:0/", "the port is not a number from 1 to 65535"},
      {"http://127.0.0.1:65536/", "the port is not a number from 1 to 65535"},
      {"http://a:b:80/", "a malformed host or port (the port is a number from 1 to 65535)"},
      {"http://ex%61mple/", "a percent-encoded host name"},
      {"http://h/a b", "a space or control byte in it"},
      {"localhost:8080/feed", "no http:// or https:// in front"},
      {"/relative", "no http:// or https:// in front"},
      {"http://[::1/", "not a URL by RFC 3986"},
      {"", "empty"},
  };
  for (const auto& [url, why] : cases) {
    const auto got = message(url);
    // "not an absolute http or https URL (credentials...)" misled.
    EXPECT_NE(got.find("the URL can't be used ("), std::string::npos) << url << ": " << got;
    EXPECT_NE(got.find(why), std::string::npos) << url << ": " << got;
  }
  EXPECT_EQ(message("http://127.0.0.1:65535/x"), "accepted");
  // DNS's limits (RFC 1035): past them, a usage error, not a lookup that
  // fails on every reconnect.
  const std::string label(63, 'a');
  const std::string longest = label + "." + label + "." + label + "." + std::string(61, 'a');  // 253 bytes
  EXPECT_EQ(message("http://" + label + ".example/"), "accepted");
  EXPECT_EQ(message("http://" + longest + "/"), "accepted");
  EXPECT_EQ(message("http://" + longest + "./"), "accepted");
  for (const std::string& host : {label + "a.example", longest + "a", std::string(2000, 'a'), "x." + label + "a."}) {
    const auto got = message("http://" + host + "/");
    EXPECT_NE(got.find("a host name longer than DNS allows (253 bytes, 63 in a label)"), std::string::npos) << host << ": " << got;
  }
}

// A refusal shows the URL, but never its password or token: the message
// ends up in logs (sse-cat printed "http://user:secretpw@...").
TEST(ClientRules, ARefusedUrlIsShownWithoutItsSecret) {
  const auto message = refusal_of_url;
  const std::pair<const char*, const char*> cases[] = {
      {"http://user:s3cret@127.0.0.1/x", "): http://user:***@127.0.0.1/x"},
      {"https://s3cret@127.0.0.1/", "): https://***@127.0.0.1/"},       // a token alone
      {"ftp://user:s3cret@127.0.0.1/", "): ftp://user:***@127.0.0.1/"},  // refused for its scheme
      {"http://user:s3c@ret@127.0.0.1/", "): http://user:***@127.0.0.1/"},
      {"http://user:s3cret@[::1/", "): http://user:***@[::1/"},          // no URL at all
      {"http://user:s3cret@127.0.0.1/a b@c", "): http://user:***@127.0.0.1/a b@c"},
  };
  for (const auto& [url, shown] : cases) {
    const auto got = message(url);
    EXPECT_EQ(got.find("s3c"), std::string::npos) << url << ": " << got;
    EXPECT_NE(got.find(shown), std::string::npos) << url << ": " << got;
  }
  // An '@' after the host is no userinfo, and is shown as it came.
  const auto got = message("http://127.0.0.1/a b@c");
  EXPECT_NE(got.find("): http://127.0.0.1/a b@c"), std::string::npos) << got;
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
  request_plan plan{*parse_url("http://h:81/e"), "GET", nullptr, {{"User-Agent", "mine"}, {"Host", "front"}, {"Accept", "x/y"}, {"X", "1"}}};
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
  // As fetch's no-store cache mode sends them (Chromium and the npm package
  // did; the client sent no Pragma: a differential probe); the user's Pragma
  // replaces ours.
  EXPECT_EQ(field(d, "Cache-Control"), "no-cache");
  EXPECT_EQ(field(d, "Pragma"), "no-cache");
  plan.headers = {{"pragma", "x"}};
  EXPECT_EQ(field(build_request(plan, ""), "Pragma"), "");
  EXPECT_EQ(field(build_request(plan, ""), "pragma"), "x");
  plan.headers.clear();
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
  EXPECT_EQ(judge_response(302, {{"Location", ""}}).kind, verdict_kind::refused_status);
  EXPECT_EQ(judge_response(307, {{"Location", " "}}).kind, verdict_kind::refused_status);
  const verdict r = judge_response(302, {{"Location", "/x"}});
  EXPECT_EQ(r.kind, verdict_kind::redirect);
  EXPECT_EQ(r.location, "/x");
  EXPECT_FALSE(r.conflicting_locations);
  // The same Location twice is followed; two different ones are not.
  const verdict same = judge_response(301, {{"Location", "/x"}, {"location", "/x"}});
  EXPECT_EQ(same.location, "/x");
  EXPECT_FALSE(same.conflicting_locations);
  const verdict both = judge_response(307, {{"Location", "/x"}, {"Location", "/y"}});
  EXPECT_EQ(both.kind, verdict_kind::redirect);
  EXPECT_TRUE(both.conflicting_locations);
  EXPECT_EQ(both.location, "/x, /y");
  EXPECT_EQ(judge_response(200, {{"Content-Type", "text/plain"}}).kind, verdict_kind::wrong_content_type);
  header_list gz = sse;
  gz.emplace_back("Content-Encoding", "gzip");
  const verdict g = judge_response(200, gz);
  EXPECT_EQ(g.kind, verdict_kind::unsupported_encoding);
  EXPECT_EQ(g.encoding, "gzip");
  header_list id = sse;
  id.emplace_back("Content-Encoding", "identity");
  EXPECT_EQ(judge_response(200, id).kind, verdict_kind::open);
  // A name that is no coding: read as it is, with or without compression.
  for (const bool compression : {false, true}) {
    const verdict none = judge_response(200, {{"Content-Type", "text/event-stream"}, {"Content-Encoding", "none"}}, compression);
    EXPECT_EQ(none.kind, verdict_kind::open);
    EXPECT_EQ(none.coding, content_coding::identity);
  }
  // chunked once, however written; twice (one header or two) is refused:
  // Beast undoes it once and the parser would get chunk framing as events.
  const auto te = [&](std::initializer_list<const char*> codings) {
    header_list h = sse;
    for (const char* c : codings) h.emplace_back("Transfer-Encoding", c);
    return judge_response(200, h);
  };
  EXPECT_EQ(te({"chunked"}).kind, verdict_kind::open);
  EXPECT_EQ(te({"Chunked, "}).kind, verdict_kind::open);
  for (const auto& twice : {te({"chunked, chunked"}), te({"chunked", "chunked"})}) {
    EXPECT_EQ(twice.kind, verdict_kind::unsupported_encoding);
    EXPECT_TRUE(twice.transfer_coding);
    EXPECT_TRUE(twice.stacked);
    EXPECT_EQ(twice.encoding, "chunked, chunked");
  }
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
  EXPECT_TRUE(twice.stacked);
  EXPECT_FALSE(br.stacked);
  EXPECT_EQ(with({"deflate", "gzip"}).kind, verdict_kind::unsupported_encoding);
  // Without compression, gzip is refused as before.
  header_list gz = sse;
  gz.emplace_back("Content-Encoding", "gzip");
  EXPECT_EQ(judge_response(200, gz, false).kind, verdict_kind::unsupported_encoding);
}

TEST(ClientRules, TransferCodingsOtherThanChunkedAreRefusedNotParsedAsText) {
  const header_list sse = {{"Content-Type", "text/event-stream"}};
  auto with = [&](const char* codings) {
    header_list h = sse;
    h.emplace_back("Transfer-Encoding", codings);
    return judge_response(200, h, true);
  };
  EXPECT_EQ(with("chunked").kind, verdict_kind::open);
  EXPECT_EQ(with("Chunked").kind, verdict_kind::open);
  const verdict gz = with("gzip, chunked");
  EXPECT_EQ(gz.kind, verdict_kind::unsupported_encoding);
  EXPECT_EQ(gz.encoding, "gzip");
  EXPECT_TRUE(gz.transfer_coding);
  EXPECT_EQ(with("bogus").encoding, "bogus");
  EXPECT_FALSE(judge_response(200, {{"Content-Type", "text/event-stream"}, {"Content-Encoding", "br"}}, true).transfer_coding);
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
  const request_plan post{*parse_url("https://a/x"), "POST", std::make_shared<const std::string>("b"), {{"Authorization", "t"}, {"Content-Type", "j"}, {"Host", "h"}}};
  auto r = follow_redirect(post, 303, "/y", 0, o);
  ASSERT_TRUE(r.next);
  EXPECT_EQ(r.next->method, "GET");
  EXPECT_EQ(r.next->body, nullptr);
  EXPECT_EQ(r.next->headers.size(), 2u);  // Content-Type gone
  r = follow_redirect(post, 307, "https://b/y", 0, o);
  ASSERT_TRUE(r.next);
  EXPECT_EQ(r.next->method, "POST");
  EXPECT_EQ(r.next->body, post.body);  // the same bytes, not a copy
  EXPECT_EQ(r.next->headers.size(), 1u);  // credentials and Host stay behind
  r = follow_redirect(post, 307, "http://a/y", 0, o);
  EXPECT_FALSE(r.next);
  EXPECT_NE(r.refusal.find("https to http"), std::string::npos);
  o.max_redirects = 2;
  EXPECT_FALSE(follow_redirect(post, 302, "/z", 2, o).next);
  r = follow_redirect(post, 302, "/" + std::string(ssekit::max_url_length, 'a'), 0, o);
  EXPECT_FALSE(r.next);
  EXPECT_EQ(r.refusal, "a redirect Location longer than " + std::to_string(ssekit::max_url_length) + " bytes");
  // Short enough itself, too long once resolved (a probe's finding: it was
  // called a bad Location).
  const std::string near_limit = "/" + std::string(ssekit::max_url_length - 5, 'a');
  r = follow_redirect(post, 302, near_limit, 0, o);
  EXPECT_FALSE(r.next);
  EXPECT_TRUE(r.refusal.starts_with("a redirect Location that is invalid or resolves to a URL longer than " +
                                    std::to_string(ssekit::max_url_length) + " bytes: /aaa"))
      << r.refusal.substr(0, 120);
  r = follow_redirect(post, 302, "gopher:\x1b[2J", 0, o);
  EXPECT_FALSE(r.next);
  EXPECT_EQ(r.refusal.find('\x1b'), std::string::npos) << "escaped";
}

TEST(ClientRules, RetryAfterDeltaSecondsCapped) {
  EXPECT_EQ(retry_after({{"Retry-After", "3"}}), 3000ms);
  EXPECT_EQ(retry_after({{"Retry-After", "99999999999999999999999"}}), max_reconnection_time);
  EXPECT_FALSE(retry_after({{"Retry-After", "-1"}}));
  EXPECT_FALSE(retry_after({{"Retry-After", "3 seconds"}}));
  EXPECT_FALSE(retry_after({}));
}

// RFC 9110 5.6.7's example instant in its three forms: 784111777 s.
constexpr std::int64_t rfc_example = 784111777;
constexpr std::int64_t in_2026 = 1767225600;  // 2026-01-01T00:00:00Z

TEST(ClientRules, HttpDatesInAllThreeForms) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", in_2026), rfc_example);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", in_2026), rfc_example);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994", in_2026), rfc_example);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", in_2026), 0);
  EXPECT_EQ(parse_http_date("Sat, 01 Jan 0000 00:00:00 GMT", in_2026), -62167219200);
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", in_2026), 253402300799);
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT", in_2026), 1709208000);
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", in_2026), 1483228800);  // a leap second
  EXPECT_EQ(parse_http_date("Tue Feb 29 00:00:00 2000", in_2026), 951782400);
  EXPECT_EQ(parse_http_date("Mon Nov 16 08:49:37 1994", in_2026), rfc_example + 10 * 86400);
  // rfc850's two-digit year: more than 50 years ahead is the century before.
  EXPECT_EQ(parse_http_date("Friday, 31-Dec-99 23:59:59 GMT", in_2026), 946684799);
  EXPECT_EQ(parse_http_date("Thursday, 31-Dec-76 00:00:00 GMT", in_2026), 3376598400);  // 2076: 50 years ahead, kept
  EXPECT_EQ(parse_http_date("Saturday, 31-Dec-77 00:00:00 GMT", in_2026), 252374400);  // 1977
  constexpr std::int64_t in_2060 = 2840140800;
  EXPECT_EQ(parse_http_date("Thursday, 31-Dec-99 23:59:59 GMT", in_2060), 4102444799);  // 2099
}

TEST(ClientRules, HttpDatesOutOfRangeOrMalformedAreRefused) {
  for (const char* bad : {"Wed, 29 Feb 2023 00:00:00 GMT", "Thu, 31 Apr 2025 00:00:00 GMT", "Thu, 00 Jan 2025 00:00:00 GMT",
                          "Thu, 01 Jan 2025 24:00:00 GMT", "Thu, 01 Jan 2025 00:60:00 GMT", "Thu, 01 Jan 2025 00:00:61 GMT",
                          "Thu, 01 Jan 2025 00:00:00 UTC", "Thu, 01 Jan 2025 00:00:00 gmt", "Thu, 1 Jan 2025 00:00:00 GMT",
                          "Thu, 01 jan 2025 00:00:00 GMT", "Thu, 01 Jan 25 00:00:00 GMT", "Thu, 01 Jan 2025 00:00:00 GMT ",
                          "Xyz, 01 Jan 2025 00:00:00 GMT", "Thu 01 Jan 2025 00:00:00 GMT", "Thursday, 01-Jan-2025 00:00:00 GMT",
                          "Thu Jan 1 00:00:00 2025", "Thu Jan  1 00:00:00 2025 ", "Thu Jan 01 0:00:00 2025", "", "Thu, ",
                          "Thu, 99 Jan 2025 99:99:99 GMT", "Sun, 06 Nov 1994 08:49:37"}) {
    EXPECT_FALSE(parse_http_date(bad, in_2026)) << bad;
  }
}

TEST(ClientRules, RetryAfterAsADateCountsFromTheServersDate) {
  const std::string at = "Sun, 06 Nov 1994 08:50:07 GMT";  // 30 s after rfc_example
  // Against the response's Date: the local clock (here 2026) doesn't matter.
  EXPECT_EQ(retry_after({{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"Retry-After", at}}, in_2026), 30000ms);
  // Without a (valid) Date: against now.
  EXPECT_EQ(retry_after({{"Retry-After", at}}, rfc_example), 30000ms);
  EXPECT_EQ(retry_after({{"Date", "yesterday"}, {"Retry-After", at}}, rfc_example + 10), 20000ms);
  EXPECT_EQ(retry_after({{"Retry-After", "Sunday, 06-Nov-94 08:50:07 GMT"}}, rfc_example), 30000ms);
  EXPECT_EQ(retry_after({{"Retry-After", "Sun Nov  6 08:50:07 1994"}}, rfc_example), 30000ms);
  // In the past: at once (the backoff still applies); far ahead: saturates.
  EXPECT_EQ(retry_after({{"Retry-After", at}}, in_2026), 0ms);
  EXPECT_EQ(retry_after({{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}}, -62167219200), max_reconnection_time);
  EXPECT_EQ(retry_after({{"Date", "Sat, 01 Jan 0000 00:00:00 GMT"}, {"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}}, 0),
            max_reconnection_time);
  EXPECT_FALSE(retry_after({{"Retry-After", "Wed, 29 Feb 2023 00:00:00 GMT"}}, in_2026));
  // The system-clock overload: a date long past is 0, not an error.
  EXPECT_EQ(retry_after({{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}), 0ms);
}

TEST(ClientRules, WhichAttemptsMaySendTheirBodyAgain) {
  const attempt_progress refused_early{};                   // no connection, nothing written
  const attempt_progress unanswered{.request_sent = true};  // sent, then the connection died
  const attempt_progress streamed{.request_sent = true, .opened = true, .status = 200};
  auto status = [](int s) { return attempt_progress{.request_sent = true, .status = s}; };
  // Without a body: always.
  for (const auto& p : {refused_early, unanswered, streamed, status(500)}) EXPECT_TRUE(may_send_again(false, false, p, false));
  // With one and replay_body: always.
  for (const auto& p : {refused_early, unanswered, streamed, status(500)}) EXPECT_TRUE(may_send_again(true, true, p, false));
  // With one, without replay_body: only what the server refused before acting.
  EXPECT_TRUE(may_send_again(true, false, refused_early, false));
  EXPECT_FALSE(may_send_again(true, false, unanswered, false));
  EXPECT_FALSE(may_send_again(true, false, streamed, false));
  for (int s : {429, 502, 503, 504}) EXPECT_TRUE(may_send_again(true, false, status(s), false)) << s;
  for (int s : {400, 401, 403, 404, 500, 501}) EXPECT_FALSE(may_send_again(true, false, status(s), false)) << s;
  EXPECT_TRUE(may_send_again(true, false, status(401), true));  // the hook may refresh the token
  EXPECT_FALSE(may_send_again(true, false, status(403), true));
}

TEST(ClientRules, WhichStatusesReconnect) {
  // 0..99 and 600..999 are invalid statuses, processed as 5xx (RFC 9110 15).
  for (int s : {0, 99, 429, 500, 502, 503, 504, 599, 600, 999}) {
    EXPECT_TRUE(reconnects_after_status(s, true, false)) << s;
    EXPECT_FALSE(reconnects_after_status(s, false, false)) << s;
  }
  for (int s : {400, 403, 404, 410}) EXPECT_FALSE(reconnects_after_status(s, true, true)) << s;
  EXPECT_FALSE(reconnects_after_status(401, true, false));
  EXPECT_TRUE(reconnects_after_status(401, false, true));
}

// Fetch's method normalization: six names in any case go out in upper
// case ("get" reached the server as an unknown method: 501); others as given.
TEST(ClientRules, MethodsAreNormalizedAsFetchNormalizesThem) {
  ssekit::client_options o;
  o.url = "http://example.test/a";
  for (const auto& [given, sent] : std::vector<std::pair<std::string, std::string>>{
           {"get", "GET"}, {"Post", "POST"}, {"delete", "DELETE"}, {"head", "HEAD"}, {"options", "OPTIONS"}, {"pUt", "PUT"},
           {"patch", "patch"}, {"PATCH", "PATCH"}, {"QUERY", "QUERY"}}) {
    o.method = given;
    EXPECT_EQ(check_options(o).method, sent) << given;
  }
}

TEST(ClientRules, AnAttemptHooksRequestIsCheckedLikeTheOptions) {
  ssekit::client_options o;
  o.url = "http://example.test/a";
  o.method = "POST";
  o.body = "{}";
  o.headers = {{"Authorization", "Bearer 1"}};
  const request_plan plan = check_options(o);
  ssekit::attempt_request r = to_attempt_request(plan);
  EXPECT_EQ(r.url, "http://example.test/a");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.body, "{}");
  r.headers[0].second = "Bearer 2";
  r.url = "http://other.test/b";
  auto ok = check_attempt_request(r);
  ASSERT_TRUE(ok.plan);
  EXPECT_EQ(ok.plan->target.str(), "http://other.test/b");
  EXPECT_EQ(ok.plan->headers[0].second, "Bearer 2");
  for (auto change : std::vector<std::function<void(ssekit::attempt_request&)>>{
           [](auto& x) { x.url = "ftp://x/"; },
           [](auto& x) { x.url = std::string(9000, 'a'); },
           [](auto& x) { x.method = "GE T"; },
           // Fetch's forbidden methods, in any case.
           [](auto& x) { x.method = "CONNECT"; },
           [](auto& x) { x.method = "trace"; },
           [](auto& x) { x.method = "Track"; },
           [](auto& x) { x.headers.emplace_back("X", "a\r\nInjected: 1"); },
           [](auto& x) { x.headers.emplace_back("Content-Length", "5"); },
           [](auto& x) { x.headers.emplace_back("Bad Name", "v"); },
           // A Host the server can't use (RFC 9112 3.2).
           [](auto& x) { x.headers.emplace_back("Host", ""); },
           [](auto& x) { x.headers.emplace_back("host", " \t"); }}) {
    ssekit::attempt_request bad = to_attempt_request(plan);
    change(bad);
    const auto out = check_attempt_request(bad);
    EXPECT_FALSE(out.plan);
    EXPECT_NE(out.refusal.find("attempt hook"), std::string::npos) << out.refusal;
  }
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
  // Jitter never takes the wait below the server's retry: (as in the npm package).
  b.enabled = true;
  b.factor_percent = 100;
  b.jitter_percent = 100;
  EXPECT_EQ(reconnect_delay(b, 20ms, 5, 1000), 20ms);
  // Each step rounds up; the npm package's reconnectDelay() has the same
  // cases (eventsource.test.mjs): 251 x 1.5 = 376.5 -> 377.
  b.factor_percent = 150;
  b.jitter_percent = 0;
  EXPECT_EQ(reconnect_delay(b, 251ms, 2, 0), 377ms);
  EXPECT_EQ(reconnect_delay(b, 251ms, 3, 0), 566ms);  // 377 x 1.5 = 565.5
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
  big.factor_percent = 10000;
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

TEST(ClientRules, AWholeHeadWithBareLineFeedsGetsCarriageReturns) {
  const auto fixed = repaired_head("HTTP/1.1 200 OK\nContent-Type: text/event-stream\r\nX: y\n\ndata: a\n\n");
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->head, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX: y\r\n\r\n");
  EXPECT_EQ(fixed->size, std::string_view("HTTP/1.1 200 OK\nContent-Type: text/event-stream\r\nX: y\n\n").size());
  const auto blank_crlf = repaired_head("HTTP/1.1 204 No Content\n\r\n");
  ASSERT_TRUE(blank_crlf);
  EXPECT_EQ(blank_crlf->head, "HTTP/1.1 204 No Content\r\n\r\n");
  // Already CRLF (Beast's error is something else), or not all there yet.
  EXPECT_FALSE(repaired_head("HTTP/1.1 200 OK\r\nX: y\r\n\r\ndata: a\n\n"));
  EXPECT_FALSE(repaired_head("HTTP/1.1 200 OK\nContent-Type: text/event-stream\n"));
  EXPECT_FALSE(repaired_head(""));
}

// What Chromium reads and Beast refuses, set right before Beast parses it.
TEST(ClientRules, FieldLinesBeastRefusesAreSetRightOrDropped) {
  const auto fixed = [](std::string_view fields) -> std::string {
    const std::string head = "HTTP/1.1 200 OK\r\n" + std::string(fields) + "\r\n";
    const auto r = repaired_head(head + "data: x\n\n");
    if (!r) return "(unchanged)";
    EXPECT_EQ(r->size, head.size());
    return r->head.substr(17, r->head.size() - 19);  // the fields
  };
  // Loose field lines: dropped, or the space before the colon dropped;
  // control bytes other than NUL become SP.
  EXPECT_EQ(fixed("Content-Type : text/event-stream\r\nX Foo: bar\r\nno colon\r\n: no name\r\nX-C: a\x01" "b\x7f\r\n"),
            "Content-Type: text/event-stream\r\nX-C: a b \r\n");
  EXPECT_EQ(fixed(std::string("X-N: a\0b\r\n", 10)), "(unchanged)");  // Beast refuses it, as Chromium does
  EXPECT_EQ(fixed("Content-Type: text/event-stream\r\nX-Fold: a\r\n b\r\n"), "Content-Type: text/event-stream\r\nX-Fold: a b\r\n");
  // Transfer-Encoding overrides Content-Length (RFC 9112 6.3).
  EXPECT_EQ(fixed("Content-Length: 5\r\nTransfer-Encoding: chunked\r\nX: 1\r\n"), "Transfer-Encoding: chunked\r\nX: 1\r\n");
  // chunked repeated (a header sent twice), identity: dropped.
  EXPECT_EQ(fixed("Transfer-Encoding: chunked\r\nX: 1\r\nTransfer-Encoding: chunked\r\n"), "Transfer-Encoding: chunked\r\nX: 1\r\n");
  EXPECT_EQ(fixed("Transfer-Encoding: chunked, identity\r\n"), "Transfer-Encoding: chunked\r\n");
  EXPECT_EQ(fixed("Transfer-Encoding: identity\r\nContent-Length: 3\r\n"), "Content-Length: 3\r\n");
  EXPECT_EQ(fixed("Transfer-Encoding: gzip, chunked\r\n"), "(unchanged)");  // refused by the verdict, by name
  // A Content-Length that is no number: the body runs to the close.
  for (const char* bad : {"-1", "+52", "abc", "99999999999999999999999", ""})
    EXPECT_EQ(fixed(std::string("Content-Length: ") + bad + "\r\nX: 1\r\n"), "X: 1\r\n") << bad;
  EXPECT_EQ(fixed("Content-Length: 5, 5\r\n"), "(unchanged)");  // Beast's to judge
  EXPECT_EQ(fixed("Content-Length: 007\r\n"), "(unchanged)");
}

// RFC 9112 5.2: an obs-fold continues the field line before it, read as
// one SP. With that line dropped (no token for a name; Content-Length
// beside Transfer-Encoding), the continuation goes too: it used to stay,
// and continued whatever field was kept before it ("text/event-stream
// chunked", a stream refused for good).
TEST(ClientRules, AFoldedLineBelongsToTheFieldItContinues) {
  const auto fixed = [](std::string_view fields) -> std::string {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + std::string(fields) + "\r\n";
    const auto r = repaired_head(head + "data: x\n\n");
    if (!r) return "(unchanged)";
    return r->head.substr(50, r->head.size() - 52);  // the fields after Content-Type
  };
  EXPECT_EQ(fixed("Transfer-Encoding:\r\n chunked\r\n"), "Transfer-Encoding: chunked\r\n");
  EXPECT_EQ(fixed("Transfer-Encoding: identity\r\n\tchunked\r\n"), "Transfer-Encoding: identity chunked\r\n");
  EXPECT_EQ(fixed("Content-Length: 4\r\nX Bad: 1\r\n 0\r\nTransfer-Encoding: chunked\r\n"), "Transfer-Encoding: chunked\r\n");
  EXPECT_EQ(fixed("Transfer-Encoding: chunked\r\nX Bad: y\r\n gzip\r\n"), "Transfer-Encoding: chunked\r\n");
  EXPECT_EQ(fixed("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n , gzip\r\n"), "Transfer-Encoding: chunked\r\n");
  EXPECT_EQ(fixed("X-A: 1\r\n  two \r\n\tthree\x01\r\nX-B: 2\r\n"), "X-A: 1 two three \r\nX-B: 2\r\n");
  // A continuation with no field line before it (the first after the
  // status line) continues nothing: dropped.
  const auto first = repaired_head("HTTP/1.1 200 OK\r\n X: 1\r\nContent-Type: text/event-stream\r\n\r\n");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->head, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
}

TEST(ClientRules, StatusLinesChromiumReadsAreSetRight) {
  const auto status = [](std::string_view head) -> std::string {
    const auto r = repaired_head(std::string(head) + "X: 1\r\n\r\n");
    return r ? r->head.substr(0, r->head.find("\r\n")) : "(unchanged)";
  };
  EXPECT_EQ(status("http/1.1 200 OK\r\n"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status("HTTP/2 200 OK\r\n"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status("HTTP/2.0 200\r\n"), "HTTP/1.1 200");
  EXPECT_EQ(status("HTTP/1.2 200 OK\r\n"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status("Http/1.0 200 OK\r\n"), "HTTP/1.0 200 OK");
  EXPECT_EQ(status("HTTP/1.1 200 OK\r\n"), "(unchanged)");
  EXPECT_EQ(status("HTTP/1.0 200 OK\r\n"), "(unchanged)");
  EXPECT_EQ(status("HTTP/0.9 200 OK\r\n"), "(unchanged)");  // refused, as Chromium refuses it
  EXPECT_EQ(status("HTTPS/1.1 200 OK\r\n"), "(unchanged)");
  // Spaces before the code, controls in the reason (not NUL: refused).
  EXPECT_EQ(status("HTTP/1.1   200 OK\r\n"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status("HTTP/1.1 404 Not\x1b\x7f" "Found\r\n"), "HTTP/1.1 404 Not  Found");
  EXPECT_EQ(status("http/1.1  200 O\x01K\r\n"), "HTTP/1.1 200 O K");
  EXPECT_EQ(status("HTTP/1.1 200 O\tK \x80\r\n"), "(unchanged)");
  EXPECT_EQ(status(std::string("HTTP/1.1 200 O\0K\r\n", 18)), "(unchanged)");
  // One blank line before the status line is skipped (RFC 9112 2.2).
  const auto r = repaired_head("\r\nHTTP/1.1 200 OK\r\nX: 1\r\n\r\ndata: a\n\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->head, "HTTP/1.1 200 OK\r\nX: 1\r\n\r\n");
  EXPECT_EQ(r->size, 27u);
  // So are more, and the head's size, which the client reads first, agrees:
  // two blank lines were taken for an empty head (a probe's finding).
  for (const std::string blanks : {"", "\r\n", "\r\n\r\n", "\n\r\n\n\r\n"}) {
    const std::string head = blanks + "HTTP/1.1 200 OK\r\nX: 1\r\n\r\n";
    EXPECT_EQ(response_head_size(head + "data: a\n\n"), head.size()) << blanks.size();
    if (blanks.empty()) continue;
    const auto skipped = repaired_head(head + "data: a\n\n");
    ASSERT_TRUE(skipped) << blanks.size();
    EXPECT_EQ(skipped->head, "HTTP/1.1 200 OK\r\nX: 1\r\n\r\n");
    EXPECT_EQ(skipped->size, head.size());
  }
  EXPECT_EQ(response_head_size("\r\n\r\n\r\n"), std::nullopt);  // only blank lines: no head yet
}

TEST(ClientRules, AStatusLineWithoutReasonGetsTheSpaceBeastNeeds) {
  EXPECT_EQ(missing_reason_space("HTTP/1.1 200\r\nContent-Type: text/event-stream\r\n"), 12u);
  EXPECT_EQ(missing_reason_space("HTTP/1.0 204\n"), 12u);
  EXPECT_EQ(missing_reason_space("HTTP/1.1 200\r"), 12u);
  // Already valid, another form, or not yet known.
  EXPECT_EQ(missing_reason_space("HTTP/1.1 200 \r\n"), std::nullopt);
  EXPECT_EQ(missing_reason_space("HTTP/1.1 200 OK\r\n"), std::nullopt);
  EXPECT_EQ(missing_reason_space("HTTP/1.1 20\r\n"), std::nullopt);
  EXPECT_EQ(missing_reason_space("HTTP/1.1 2000\r\n"), std::nullopt);
  EXPECT_EQ(missing_reason_space("HTTP/11 200\r\n"), std::nullopt);
  EXPECT_EQ(missing_reason_space("http/1.1 200\r\n"), std::nullopt);
  EXPECT_EQ(missing_reason_space("HTTP/1.1 200"), std::nullopt);
  EXPECT_EQ(missing_reason_space(""), std::nullopt);
}

TEST(ClientRules, TimerWaitsSaturateBelowTheClocksRange) {
  EXPECT_EQ(timer_wait(1500ms), 1500ms);
  EXPECT_EQ(timer_wait(std::chrono::milliseconds::max()), max_timer_wait);
  // What expires_after computes: unclamped, this overflows into the past.
  const auto now = std::chrono::steady_clock::now();
  EXPECT_GT(now + timer_wait(std::chrono::milliseconds{9'300'000'000'000}), now);
  EXPECT_GT(now + timer_wait(std::chrono::milliseconds::max()), now);
}

// Every split of `body` into pieces of `size` bytes (the last shorter), as
// reads deliver them: the pieces repaired, joined.
static std::string repair_in_pieces(std::string_view body, std::size_t size) {
  chunk_framing framing;
  std::string out;
  for (std::size_t at = 0; at < body.size(); at += size) {
    const std::string_view piece = body.substr(at, size);
    const auto fixed = framing.repair(piece);
    out += fixed ? std::string_view(*fixed) : piece;
  }
  return out;
}

// Chromium and curl read chunk framing ended by bare LFs; Beast needs CRLF.
TEST(ClientRules, BareLineFeedsInChunkFramingGetCarriageReturnsAtEverySplit) {
  // Chunk data keeps its own LFs (an event's), and CRs stay where they are.
  const std::string bare = "d\ndata: hello\n\n\nd;ext\ndata: hello\n\n\n5\r\nab\ncd\n6\nx\r\ny\rz\r\n0\nTrailer: x\n\n";
  const std::string crlf = "d\r\ndata: hello\n\n\r\nd;ext\r\ndata: hello\n\n\r\n5\r\nab\ncd\r\n6\r\nx\r\ny\rz\r\n0\r\nTrailer: x\r\n\r\n";
  for (std::size_t size = 1; size <= bare.size(); ++size) EXPECT_EQ(repair_in_pieces(bare, size), crlf) << "pieces of " << size;
  // Already CRLF: never a change.
  for (std::size_t size = 1; size <= crlf.size(); ++size) {
    chunk_framing framing;
    for (std::size_t at = 0; at < crlf.size(); at += size) EXPECT_FALSE(framing.repair(std::string_view(crlf).substr(at, size))) << size;
  }
  // Upper-case hex, and a last chunk with no trailer.
  EXPECT_EQ(repair_in_pieces("A\n0123456789\n0\n\n", 3), "A\r\n0123456789\r\n0\r\n\r\n");
  // 1-byte chunks, 40,000 of them, in 64 KiB reads.
  std::string tiny, tiny_crlf;
  for (int i = 0; i < 40000; ++i) tiny += "1\nx\n", tiny_crlf += "1\r\nx\r\n";
  EXPECT_EQ(repair_in_pieces(tiny + "0\n\n", 65536), tiny_crlf + "0\r\n\r\n");
}

// Chromium ignores blanks after a chunk size and everything after a ';'
// in its line; Beast refused both ("bad chunk extension").
TEST(ClientRules, BlanksAndExtensionsInChunkSizeLinesBecomeATokenAtEverySplit) {
  const std::pair<std::string_view, std::string_view> lines[] = {
      {"3 \r\n", "3 ;x\r\n"},
      {"3   \n", "3   ;x\r\n"},
      {"3 \t;\n", "3 \t;x\r\n"},
      {"3;\r\n", "3;x\r\n"},
      {"3 ;\n", "3 ;x\r\n"},
      {"3;a=b\r\n", "3;axb\r\n"},
      {"3 ; a = \"q q\" \r\n", "3 ;xaxxxxqxqxx\r\n"},
      {"3;\x01\xff\"\n", "3;xxx\r\n"},
  };
  for (const auto& [size_line, fixed] : lines) {
    // The line, its data, and a last chunk with the same line.
    const std::string body = std::string(size_line) + "abc\r\n0" + std::string(size_line.substr(1)) + "\r\n";
    const std::string want = std::string(fixed) + "abc\r\n0" + std::string(fixed.substr(1)) + "\r\n";
    for (std::size_t size = 1; size <= body.size(); ++size) EXPECT_EQ(repair_in_pieces(body, size), want) << size_line << " in pieces of " << size;
  }
}

TEST(ClientRules, ChunkFramingItCantFollowIsLeftToBeastWhole) {
  // No size, a size past 2^64, data not followed by a line end, a size
  // followed by anything but blanks or ';', a CR inside a size line,
  // blanks with a tab and no ';' (Chromium refuses all of these):
  // nothing from there on changes (Beast refuses it).
  for (const std::string_view body : {"zz\ndata\n\n", "10000000000000000\nx\n", "1\r\nxy\n0\n\n", "1x\nx\n", "1\rx\nx\n", " 1\nx\n", "1 x\nx\n", "1\t\nx\n", "1 \t\r\nx\n", "1;a\rb\r\nx\n"}) {
    for (std::size_t size = 1; size <= body.size(); ++size) EXPECT_EQ(repair_in_pieces(body, size), body) << body;
  }
  // After the last chunk and its trailer, bytes are not framing.
  EXPECT_EQ(repair_in_pieces("0\n\n5\nhello\n", 2), "0\r\n\r\n5\nhello\n");
  // A 2^64-1 size is followed (its data never ends here).
  EXPECT_EQ(repair_in_pieces("ffffffffffffffff\nab\n", 4), "ffffffffffffffff\r\nab\n");
}

// Found by mutating http_rules.cpp: each of these passed with the code
// changed in one place (the comment says where).

// lower() must fold 'Z' too: "AUTHORIZATION" stays behind on a redirect to
// another origin (fetch drops credentials there).
TEST(ClientRules, CredentialsInAnyCaseStayBehindOnACrossOriginRedirect) {
  ssekit::client_options o = valid();
  const request_plan get{*parse_url("https://a/x"), "GET", nullptr, {{"AUTHORIZATION", "secret"}, {"X-Keep", "1"}}};
  const auto r = follow_redirect(get, 307, "https://b/y", 0, o);
  ASSERT_TRUE(r.next);
  ASSERT_EQ(r.next->headers.size(), 1u);
  EXPECT_EQ(r.next->headers[0].first, "X-Keep");
}

// A backslash escapes only inside a quoted string (fetch's "collect an HTTP
// quoted string"): `\"` keeps it open, and the comma after it splits.
TEST(ClientRules, AnEscapedQuoteInAContentTypeParameterKeepsTheStringOpen) {
  const header_list h = {{"Content-Type", R"(text/event-stream;x="\"", text/html)"}};
  EXPECT_EQ(judge_response(200, h, false).kind, verdict_kind::wrong_content_type);
}

// The limit is "longer than": a value of exactly the limit goes.
TEST(ClientRules, AHeaderValueOfExactlyTheLimitIsAccepted) {
  ssekit::client_options o = valid();
  o.headers = {{"X-Big", std::string(ssekit::max_header_value_length, 'v')}};
  EXPECT_NO_THROW(check_options(o));
  o.headers[0].second += 'v';
  EXPECT_THROW(check_options(o), ssekit::client_options_error);
}

// The headers' limit counts their lines as sent: many tiny headers (a
// probe: 30,000 of "a:") made a request head of 120 KB.
TEST(ClientRules, TheHeadersLimitCountsEachLineAsSent) {
  ssekit::client_options o = valid();
  o.headers.assign(ssekit::max_request_headers_size / 5, {"a", ""});  // "a: " CRLF, 5 bytes each: just at the limit
  EXPECT_NO_THROW(check_options(o));
  o.headers.emplace_back("a", "");
  EXPECT_THROW(check_options(o), ssekit::client_options_error);
}

// A name past the limit is a valid token: the message names the limit (it
// said "invalid header name" and showed the name; an API probe).
TEST(ClientRules, AHeaderNamePastItsLimitIsToldByTheLimit) {
  ssekit::client_options o = valid();
  o.headers.emplace_back(std::string(ssekit::max_header_name_length, 'n'), "v");
  EXPECT_NO_THROW(check_options(o));
  o.headers.back().first += 'n';
  try {
    check_options(o);
    ADD_FAILURE() << "a 257-byte name was taken";
  } catch (const ssekit::client_options_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("is longer than 256 bytes"), std::string::npos) << what;
    EXPECT_LT(what.size(), 200u) << "the name is shown cut";
  }
  o.headers.back().first = "a b";
  EXPECT_THROW(check_options(o), ssekit::client_options_error);
}

// Every digit is a digit ('9' too), and the byte after the version must be
// a space.
TEST(ClientRules, MissingReasonSpaceDigitsAndTheSpaceAfterTheVersion) {
  EXPECT_EQ(missing_reason_space("HTTP/1.1 599\r\n"), 12u);
  EXPECT_EQ(missing_reason_space("HTTP/1.9 200\r\n"), 12u);
  EXPECT_EQ(missing_reason_space("HTTP/1.1X200\r\n"), std::nullopt);
}

// Only C2 followed by 80..9F is a two-byte C1 control: the byte before a
// lone C1 byte shows as it is (and nothing is read past the end).
TEST(ClientRules, TheByteBeforeALoneC1ByteIsNotEscaped) { EXPECT_EQ(escape_text("A\x85", 100), "A\\x85"); }

// A head that starts with a bare LF: nothing before the view is read (here
// a CR lies there).
TEST(ClientRules, ABlankFirstLineIsSkippedWithoutReadingBeforeTheHead) {
  const std::string buffer = "\r\nHTTP/1.1 200 OK\r\nX: y\r\n\r\n";
  const auto fixed = repaired_head(std::string_view(buffer).substr(1));
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->head, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n");
  EXPECT_EQ(fixed->size, buffer.size() - 1);
}

// RFC 8446 5.1: a record is content type, legacy version (2 bytes), length (2).
TEST(ClientHead, TlsRecordsAreRecognised) {
  const auto bytes = [](std::initializer_list<int> b) {
    std::string s;
    for (const int c : b) s += static_cast<char>(c);
    return s;
  };
  EXPECT_TRUE(looks_like_tls_record(bytes({21, 3, 1, 0, 2, 2, 70})));  // OpenSSL's protocol_version alert
  EXPECT_TRUE(looks_like_tls_record(bytes({21, 3, 3, 0, 2})));
  EXPECT_TRUE(looks_like_tls_record(bytes({22, 3, 3, 0x40, 0})));   // a handshake record of 16 KiB
  EXPECT_FALSE(looks_like_tls_record("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_FALSE(looks_like_tls_record(bytes({21, 3, 1, 0})));        // too short to tell
  EXPECT_FALSE(looks_like_tls_record(bytes({23, 3, 3, 0, 2})));     // application data: never first
  EXPECT_FALSE(looks_like_tls_record(bytes({21, 2, 0, 0, 2})));     // SSL 2
  EXPECT_FALSE(looks_like_tls_record(bytes({21, 3, 9, 0, 2})));
  EXPECT_FALSE(looks_like_tls_record(bytes({21, 3, 3, 0, 0})));     // empty
  EXPECT_FALSE(looks_like_tls_record(bytes({22, 3, 3, 0x48, 0})));  // longer than a record
}

// RFC 9113 4.1: a frame is length (3 bytes), type, flags, stream id (4).
TEST(ClientHead, Http2ConnectionFramesAreRecognised) {
  const auto bytes = [](std::initializer_list<int> b) {
    std::string s;
    for (const int c : b) s += static_cast<char>(c);
    return s;
  };
  // SETTINGS (empty, with settings, an ACK), GOAWAY: what HTTP/2-only servers send first.
  EXPECT_TRUE(looks_like_http2_frames(bytes({0, 0, 0, 4, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(looks_like_http2_frames(bytes({0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100})));
  EXPECT_TRUE(looks_like_http2_frames(bytes({0, 0, 0, 4, 1, 0, 0, 0, 0})));
  EXPECT_TRUE(looks_like_http2_frames(bytes({0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})));
  EXPECT_TRUE(looks_like_http2_frames(bytes({0, 0x3f, 0xfc, 4, 0, 0x80, 0, 0, 0})));  // 16,380 bytes; the reserved bit
  // Not: HTTP/1, too short, another stream, another type, a SETTINGS
  // length no setting makes, an unknown flag, too long a frame.
  EXPECT_FALSE(looks_like_http2_frames("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0, 0, 4, 0, 0, 0, 0})));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0, 0, 4, 0, 0, 0, 0, 1})));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0, 4, 0, 0, 0, 0, 0, 0})));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0, 7, 4, 0, 0, 0, 0, 0})));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0, 0, 4, 2, 0, 0, 0, 0})));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0x40, 1, 7, 0, 0, 0, 0, 0})));
  EXPECT_FALSE(looks_like_http2_frames(bytes({0, 0, 7, 7, 0, 0, 0, 0, 0})));
}


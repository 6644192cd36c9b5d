// The proxy rules without sockets (native/client/proxy.hpp).
#include "proxy.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace {

using ssekit::client_options;
using ssekit::client_options_error;
using namespace ssekit::detail;

url target(const std::string& text) {
  auto u = parse_url(text);
  EXPECT_TRUE(u) << text;
  return u.value_or(url{});
}

// curl's own NO_PROXY vectors: tests/unit/unit1614.c (curl 8.x), the host,
// the list and whether it bypasses the proxy. The CIDR helper's vectors
// (list4, list6) are written as "address/bits" entries.
struct no_proxy_case {
  const char* host;
  const char* list;
  bool match;
};
const no_proxy_case curl_vectors[] = {
    {"www.example.com", "localhost .example.com .example.de", true},
    {"www.example.com", "localhost,.example.com,.example.de", true},
    {"www.example.com.", "localhost,.example.com,.example.de", true},
    {"example.com", "localhost,.example.com,.example.de", true},
    {"example.com.", "localhost,.example.com,.example.de", true},
    {"www.example.com", "localhost,.example.com.,.example.de", true},
    {"www.example.com", "localhost,www.example.com.,.example.de", true},
    {"example.com", "localhost,example.com,.example.de", true},
    {"example.com.", "localhost,example.com,.example.de", true},
    {"nexample.com", "localhost,example.com,.example.de", false},
    {"www.example.com", "localhost,example.com,.example.de", true},
    {"127.0.0.1", "127.0.0.1,localhost", true},
    {"127.0.0.1", "127.0.0.1,localhost,", true},
    {"127.0.0.1", "127.0.0.1/8,localhost,", true},
    {"127.0.0.1", "127.0.0.1/28,localhost,", true},
    {"127.0.0.1", "127.0.0.1/31,localhost,", true},
    {"127.0.0.1", "localhost,127.0.0.1", true},
    {"127.0.0.1",
     "localhost,127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127."
     "0.0.1.127.0.0.1.127.0.0.",
     false},
    {"127.0.0.1",
     "localhost,127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127.0.0.1.127."
     "0.0.1.127.0.0.1.127.0.0",
     false},
    {"localhost", "localhost,127.0.0.1", true},
    {"localhost", "127.0.0.1,localhost", true},
    {"foobar", "barfoo", false},
    {"foobar", "foobar", true},
    {"192.168.0.1", "foobar", false},
    {"192.168.0.1", "192.168.0.0/16", true},
    {"192.168.0.1", "192.168.0.0/24", true},
    {"192.168.0.1", "192.168.0.0/32", false},
    {"192.168.0.1", "192.168.0.0", false},
    {"192.168.1.1", "192.168.0.0/24", false},
    {"192.168.1.1", "foo, bar, 192.168.0.0/24", false},
    {"192.168.1.1", "foo, bar, 192.168.0.0/16", true},
    {"[::1]", "foo, bar, 192.168.0.0/16", false},
    {"[::1]", "foo, bar, ::1/64", true},
    {"bar", "foo, bar, ::1/64", true},
    {"BAr", "foo, bar, ::1/64", true},
    {"BAr", "foo,,,,,              bar, ::1/64", true},
    {"www.example.com", "foo, .example.com", true},
    {"www.example.com", "www2.example.com, .example.net", false},
    {"example.com", ".example.com, .example.net", true},
    {"nonexample.com", ".example.com, .example.net", false},
    // list4: Curl_cidr4_match(address, network, bits); 0 bits = the whole address.
    {"192.160.0.1", "192.160.0.1/33", false},
    {"192.160.0.1", "192.160.0.1/32", true},
    {"192.160.0.1", "192.160.0.1/0", true},
    {"192.160.0.1", "192.160.0.1/24", true},
    {"192.160.0.1", "192.160.0.1/26", true},
    {"192.160.0.1", "192.160.0.1/20", true},
    {"192.160.0.1", "192.160.0.1/18", true},
    {"192.160.0.1", "192.160.0.1/12", true},
    {"192.160.0.1", "192.160.0.1/8", true},
    {"192.160.0.1", "10.0.0.1/8", false},
    {"192.160.0.1", "10.0.0.1/32", false},
    {"192.160.0.1", "10.0.0.1/0", false},
    // list6.
    {"::1", "::1/0", true},
    {"::1", "::1/128", true},
    {"::1", "0:0::1/128", true},
    {"::1", "0:0::1/129", false},
    {"fe80::ab47:4396:55c9:8474", "fe80::ab47:4396:55c9:8474/64", true},
    // curl(1) --noproxy: "local.com would match local.com, local.com:80, and
    // www.local.com, but not www.notlocal.com"; "*" alone matches all.
    {"local.com", "local.com", true},
    {"www.local.com", "local.com", true},
    {"www.notlocal.com", "local.com", false},
    {"anything.example", "*", true},
    {"10.1.2.3", " * ", true},
};

TEST(NoProxy, CurlsVectors) {
  for (const auto& c : curl_vectors) EXPECT_EQ(no_proxy_matches(c.host, 80, c.list), c.match) << c.host << " in " << c.list;
}

TEST(NoProxy, MoreCases) {
  EXPECT_FALSE(no_proxy_matches("example.com", 80, ""));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, ",,, ,"));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "*.example.com"));  // no globs but "*" alone
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "foo,*"));
  EXPECT_TRUE(no_proxy_matches("EXAMPLE.COM", 80, "Example.Com"));
  EXPECT_FALSE(no_proxy_matches("ample.com", 80, "example.com"));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "www.example.com"));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "."));
  // IPs match as IPs only, never as name suffixes.
  EXPECT_FALSE(no_proxy_matches("10.0.0.1", 80, "0.0.1"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.1", 80, ".0.0.1"));
  EXPECT_TRUE(no_proxy_matches("10.9.8.7", 80, "10.0.0.0/8"));
  EXPECT_FALSE(no_proxy_matches("11.9.8.7", 80, "10.0.0.0/8"));
  EXPECT_FALSE(no_proxy_matches("10.9.8.7", 80, "10.0.0.0/x"));
  EXPECT_FALSE(no_proxy_matches("10.9.8.7", 80, "10.0.0.0/"));
  EXPECT_FALSE(no_proxy_matches("10.9.8.7", 80, "10.0.0.0/99999999999999999999"));
  EXPECT_TRUE(no_proxy_matches("2001:db8::5", 80, "2001:db8::/32"));
  EXPECT_FALSE(no_proxy_matches("2001:db9::5", 80, "2001:db8::/32"));
  EXPECT_FALSE(no_proxy_matches("::1", 80, "127.0.0.1/8"));  // families differ
  EXPECT_TRUE(no_proxy_matches("::1", 80, "[::1]"));
  EXPECT_TRUE(no_proxy_matches("[::1]", 80, "0::1"));
}

TEST(NoProxy, PortEntriesMatchThatPortOnly) {
  EXPECT_TRUE(no_proxy_matches("example.com", 8080, "example.com:8080"));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "example.com:8080"));
  EXPECT_TRUE(no_proxy_matches("www.example.com", 8080, ".example.com:8080"));
  EXPECT_TRUE(no_proxy_matches("127.0.0.1", 9000, "127.0.0.1:9000"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", 9001, "127.0.0.1:9000"));
  EXPECT_TRUE(no_proxy_matches("::1", 9000, "[::1]:9000"));
  EXPECT_FALSE(no_proxy_matches("::1", 9001, "[::1]:9000"));
  EXPECT_TRUE(no_proxy_matches("10.1.1.1", 443, "10.0.0.0/8:443"));
  // A bad port makes the entry match nothing.
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "example.com:0"));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "example.com:65536"));
  EXPECT_FALSE(no_proxy_matches("example.com", 80, "example.com:"));
  EXPECT_FALSE(no_proxy_matches("::1", 80, "[::1]x"));
  EXPECT_FALSE(no_proxy_matches("::1", 80, "[::1]x80"));  // a port after "]:" only
  EXPECT_FALSE(no_proxy_matches("::1", 80, "[::1"));
}

TEST(ProxyUrl, ParsesAsCurlDoes) {
  std::string why;
  auto p = parse_proxy_url("http://proxy.example:3128", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->port, 3128);
  EXPECT_EQ(p->authorization, "");
  EXPECT_EQ(p->display(), "http://proxy.example:3128");

  p = parse_proxy_url("Proxy.Example", why);  // no scheme: http://, port 1080 (curl's default)
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->port, 1080);
  p = parse_proxy_url("HTTP://10.0.0.1/", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->display(), "http://10.0.0.1:1080");
  p = parse_proxy_url("http://[::1]:8080", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->host, "::1");
  EXPECT_EQ(p->display(), "http://[::1]:8080");

  // RFC 7617's example: Aladdin / open sesame; percent-decoded first.
  p = parse_proxy_url("http://Aladdin:open%20sesame@proxy:8080", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->authorization, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(p->display(), "http://proxy:8080");  // never the credentials
  p = parse_proxy_url("http://user@proxy", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->authorization, "Basic dXNlcjo=");  // "user:"
  p = parse_proxy_url("http://us%40er:p%3Ass@proxy", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->authorization, "Basic dXNAZXI6cDpzcw==");  // "us@er:p:ss"
  // Empty credentials are none: "Basic Og==" (":") was sent.
  for (const char* text : {"http://@proxy", "http://:@proxy"}) {
    p = parse_proxy_url(text, why);
    ASSERT_TRUE(p) << why;
    EXPECT_EQ(p->authorization, "") << text;
  }
  p = parse_proxy_url("http://:pass@proxy", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->authorization, "Basic OnBhc3M=");  // ":pass"
}

// https:// proxies: TLS to the proxy (curl's HTTPS-proxy), port 443 by
// default (curl's CURL_DEFAULT_HTTPS_PROXY_PORT), credentials as for http://.
TEST(ProxyUrl, HttpsProxies) {
  std::string why;
  auto p = parse_proxy_url("HTTPS://Proxy.Example", why);
  ASSERT_TRUE(p) << why;
  EXPECT_TRUE(p->tls());
  EXPECT_EQ(p->scheme, "https");
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->port, 443);
  EXPECT_EQ(p->display(), "https://proxy.example:443");
  p = parse_proxy_url("https://Aladdin:open%20sesame@[::1]:8443/", why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->host, "::1");
  EXPECT_EQ(p->port, 8443);
  EXPECT_EQ(p->authorization, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(p->display(), "https://[::1]:8443");
  p = parse_proxy_url("proxy:3128", why);  // no scheme is still http://
  ASSERT_TRUE(p) << why;
  EXPECT_FALSE(p->tls());
}

TEST(ProxyUrl, RefusesWhatItCantUse) {
  for (const std::string& bad : std::vector<std::string>{"", "socks5://proxy:1080", "https://proxy/path", "https://proxy:0", "ftp://proxy", "http://proxy:0", "http://proxy:65536", "http://proxy:99999999999",
        "http://proxy/path", "http://proxy?q", "http://proxy#f", "http://pro xy", "http://proxy\r\n", "http://", "http://us%3Aer:p@proxy",
        "http://u:p%0a@proxy", "http://%41bc", std::string(max_proxy_url_length + 1, 'a')}) {
    std::string why;
    EXPECT_FALSE(parse_proxy_url(bad, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  std::string why;
  EXPECT_FALSE(parse_proxy_url("socks5://proxy:1080", why));
  EXPECT_NE(why.find("only http:// and https://"), std::string::npos) << why;
  EXPECT_FALSE(parse_proxy_url("http://pro xy", why));
  EXPECT_EQ(why, "it has a space or control byte");
  EXPECT_TRUE(parse_proxy_url(std::string(max_proxy_url_length - 7, 'a').insert(0, "http://"), why)) << why;
}

// An environment from a map.
environment_reader fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

proxy_route route_for(const std::map<std::string, std::string>& env, const std::string& url_text, client_options o = {}) {
  return choose_proxy(read_proxy_settings(o, fake_env(env)), target(url_text));
}

// curl(1), ENVIRONMENT: "<protocol>_proxy", lower case first, "http_proxy is
// an exception as it is only available in lower case"; ALL_PROXY when no
// protocol-specific one is set; NO_PROXY.
TEST(ProxyEnvironment, FollowsCurlsOrder) {
  EXPECT_FALSE(route_for({}, "http://a/").proxy);
  EXPECT_EQ(route_for({{"http_proxy", "http://h:1"}}, "http://a/").choice.url, "http://h:1");
  EXPECT_EQ(route_for({{"http_proxy", "http://h:1"}}, "http://a/").choice.source, "environment http_proxy");
  EXPECT_FALSE(route_for({{"http_proxy", "http://h:1"}}, "https://a/").proxy);
  EXPECT_FALSE(route_for({{"HTTP_PROXY", "http://h:1"}}, "http://a/").proxy);  // httpoxy: never read
  EXPECT_EQ(route_for({{"https_proxy", "http://s:1"}, {"HTTPS_PROXY", "http://S:2"}}, "https://a/").choice.url, "http://s:1");
  EXPECT_EQ(route_for({{"HTTPS_PROXY", "http://S:2"}}, "https://a/").choice.url, "http://s:2");
  EXPECT_EQ(route_for({{"HTTPS_PROXY", "http://S:2"}}, "https://a/").choice.source, "environment HTTPS_PROXY");
  EXPECT_EQ(route_for({{"all_proxy", "http://x:3"}, {"ALL_PROXY", "http://y:4"}}, "http://a/").choice.url, "http://x:3");
  EXPECT_EQ(route_for({{"ALL_PROXY", "http://y:4"}}, "https://a/").choice.url, "http://y:4");
  EXPECT_EQ(route_for({{"all_proxy", "http://x:3"}, {"ALL_PROXY", "http://y:4"}}, "https://a/").choice.url, "http://x:3");
  EXPECT_EQ(route_for({{"all_proxy", "http://x:3"}}, "https://a/").choice.source, "environment all_proxy");
  EXPECT_EQ(route_for({{"https_proxy", "http://s:1"}, {"all_proxy", "http://x:3"}}, "https://a/").choice.url, "http://s:1");
  EXPECT_EQ(route_for({{"https_proxy", "http://s:1"}, {"all_proxy", "http://x:3"}}, "http://a/").choice.url, "http://x:3");
  // Set but empty ends the search: direct.
  EXPECT_FALSE(route_for({{"https_proxy", ""}, {"all_proxy", "http://x:3"}}, "https://a/").proxy);
  EXPECT_FALSE(route_for({{"http_proxy", ""}, {"all_proxy", "http://x:3"}}, "http://a/").proxy);
  // no_proxy before NO_PROXY.
  EXPECT_FALSE(route_for({{"http_proxy", "h"}, {"no_proxy", "a"}, {"NO_PROXY", "b"}}, "http://a/").proxy);
  EXPECT_TRUE(route_for({{"http_proxy", "h"}, {"no_proxy", "a"}, {"NO_PROXY", "b"}}, "http://b/").proxy);
  EXPECT_FALSE(route_for({{"http_proxy", "h"}, {"NO_PROXY", "b"}}, "http://b/").proxy);
  EXPECT_EQ(route_for({{"http_proxy", "h"}, {"NO_PROXY", "b"}}, "http://b/").choice.source, "environment NO_PROXY matches b");
}

TEST(ProxyEnvironment, OptionsOverrideIt) {
  const std::map<std::string, std::string> env{{"http_proxy", "http://h:1"}, {"https_proxy", "http://s:1"}, {"no_proxy", "a"}};
  client_options o;
  o.proxy = "";  // no proxy at all
  EXPECT_FALSE(route_for(env, "http://b/", o).proxy);
  EXPECT_FALSE(route_for(env, "https://b/", o).proxy);
  EXPECT_EQ(route_for(env, "https://b/", o).choice.source, "option proxy is empty");
  o.proxy = "http://o:9";
  EXPECT_EQ(route_for(env, "http://b/", o).choice.url, "http://o:9");
  EXPECT_EQ(route_for(env, "https://b/", o).choice.url, "http://o:9");
  EXPECT_EQ(route_for(env, "https://b/", o).choice.source, "option proxy");
  EXPECT_FALSE(route_for(env, "http://a/", o).proxy);  // the environment's no_proxy still applies (as in curl)
  o.no_proxy = "";
  EXPECT_TRUE(route_for(env, "http://a/", o).proxy);
  o.no_proxy = "*";
  EXPECT_FALSE(route_for(env, "http://b/", o).proxy);
  EXPECT_EQ(route_for(env, "http://b/", o).choice.source, "option no_proxy matches b");
}

TEST(ProxyEnvironment, RefusesUnusableProxiesNamingTheSource) {
  try {
    read_proxy_settings({}, fake_env({{"https_proxy", "socks5://p:1080"}}));
    FAIL() << "no throw";
  } catch (const client_options_error& e) {
    EXPECT_NE(std::string(e.what()).find("environment https_proxy"), std::string::npos) << e.what();
  }
  client_options o;
  o.proxy = "socks5://p";
  EXPECT_THROW(read_proxy_settings(o, fake_env({})), client_options_error);
  // An https:// proxy is usable, from the environment or the options.
  EXPECT_TRUE(read_proxy_settings({}, fake_env({{"https_proxy", "https://p"}})).https->tls());
  EXPECT_TRUE(read_proxy_settings({}, fake_env({{"http_proxy", "https://p"}})).http->tls());
  o.proxy.reset();
  o.no_proxy = std::string(max_no_proxy_length + 1, 'a');
  EXPECT_THROW(read_proxy_settings(o, fake_env({})), client_options_error);
  o.no_proxy = std::string(max_no_proxy_length, 'a');
  EXPECT_NO_THROW(read_proxy_settings(o, fake_env({})));
}

// An environment's no_proxy matters only with a proxy: a long one in a
// shell without a proxy must not stop every client.
TEST(ProxyEnvironment, ALongEnvironmentNoProxyIsRefusedOnlyWithAProxy) {
  const std::string long_list(max_no_proxy_length + 1, 'a');
  EXPECT_NO_THROW(read_proxy_settings({}, fake_env({{"no_proxy", long_list}})));
  EXPECT_TRUE(read_proxy_settings({}, fake_env({{"NO_PROXY", long_list}})).no_proxy.empty());
  EXPECT_THROW(read_proxy_settings({}, fake_env({{"no_proxy", long_list}, {"https_proxy", "http://p:1"}})), client_options_error);
  client_options o;
  o.proxy = "http://p:1";
  EXPECT_THROW(read_proxy_settings(o, fake_env({{"no_proxy", long_list}})), client_options_error);
}

// A company's list of subnets passes 8 KiB: 700 CIDRs, 9.5 KB (a probe:
// with a proxy set, every run failed at once as bad usage).
TEST(ProxyEnvironment, ALongCompanyNoProxyListIsTaken) {
  std::string list;
  for (int i = 0; i < 700; ++i) {
    if (i != 0) list += ',';
    list += "10.";
    list += std::to_string(i / 256);
    list += '.';
    list += std::to_string(i % 256);
    list += ".0/24";
  }
  ASSERT_GT(list.size(), 9000u);
  const std::map<std::string, std::string> env{{"http_proxy", "http://p:1"}, {"NO_PROXY", list}};
  EXPECT_FALSE(route_for(env, "http://10.2.187.9/").proxy);  // the 700th
  EXPECT_TRUE(route_for(env, "http://10.3.0.1/").proxy);
}

TEST(ProxyRequest, AbsoluteFormAndCredentialsForHttpOnly) {
  client_options o;
  o.proxy = "http://u:p@proxy:3128";
  const auto settings = read_proxy_settings(o, fake_env({}));
  request_plan plan;
  plan.target = target("http://origin:8080/events?x=1");
  plan.method = "GET";
  plan.headers = {{"proxy-authorization", "user's own"}, {"X-A", "1"}};
  request_head head = build_request(plan, "");
  apply_route(head, plan.target, choose_proxy(settings, plan.target));
  EXPECT_EQ(head.target, "http://origin:8080/events?x=1");
  int auth = 0;
  for (const auto& [n, v] : head.fields) {
    if (n == "Proxy-Authorization" || n == "proxy-authorization") {
      ++auth;
      EXPECT_EQ(v, "Basic dTpw");
    }
  }
  EXPECT_EQ(auth, 1);

  // https: origin-form inside the tunnel, no proxy credentials at all.
  plan.target = target("https://origin/events");
  head = build_request(plan, "");
  apply_route(head, plan.target, choose_proxy(settings, plan.target));
  EXPECT_EQ(head.target, "/events");
  for (const auto& f : head.fields) EXPECT_NE(f.first.find("roxy-"), 1u) << f.first;

  const request_head connect = connect_request(plan.target, *settings.https);
  EXPECT_EQ(connect.method, "CONNECT");
  EXPECT_EQ(connect.target, "origin:443");
  EXPECT_EQ(connect.fields.at(0), (std::pair<std::string, std::string>("Host", "origin:443")));
  EXPECT_EQ(connect.fields.back(), (std::pair<std::string, std::string>("Proxy-Authorization", "Basic dTpw")));
  EXPECT_EQ(connect_request(target("https://[::1]:8443/"), *settings.https).target, "[::1]:8443");

  // Direct: a user's Proxy-Authorization goes nowhere either.
  plan.target = target("http://origin/events");
  o.proxy = "";
  head = build_request(plan, "");
  apply_route(head, plan.target, choose_proxy(read_proxy_settings(o, fake_env({})), plan.target));
  EXPECT_EQ(head.target, "/events");
  for (const auto& f : head.fields) EXPECT_NE(f.first.find("roxy-"), 1u) << f.first;
}

}  // namespace

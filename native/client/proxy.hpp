// The proxy rules that need no socket: which proxy (if any) a target goes
// through, from the options or curl's environment variables; NO_PROXY
// matching; proxy URLs (Boost.URL) with Basic credentials; what an http://
// request through a forward proxy changes. Pure functions, no Beast:
// unit-tested in tests/native/proxy_test.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http_rules.hpp"
#include "ssekit/client.hpp"
#include "url.hpp"

namespace ssekit::detail {

// curl's default proxy ports when the proxy URL has none: CURL_DEFAULT_PROXY_PORT
// for http://, CURL_DEFAULT_HTTPS_PROXY_PORT for https://.
constexpr std::uint16_t default_proxy_port = 1080;
constexpr std::uint16_t default_https_proxy_port = 443;
// Longest proxy URL and NO_PROXY list accepted (options or environment).
// A company's NO_PROXY of subnets passes 8 KiB (700 CIDRs are 9.5 KB), and
// refused it stopped every client while a proxy was set: 64 KiB, a scan
// per connection attempt.
constexpr std::size_t max_proxy_url_length = 2048;
constexpr std::size_t max_no_proxy_length = 65536;

// A usable proxy: where to connect, and what to tell it.
struct proxy_endpoint {
  std::string scheme;  // "http", or "https": TLS to the proxy itself (transport.cpp)
  std::string host;    // lower case; IPv6 without brackets
  std::uint16_t port = default_proxy_port;
  std::string authorization;  // "Basic ..." from user:pass@, or empty
  bool tls() const { return scheme == "https"; }
  // scheme://host:port, no credentials: what errors and proxy_choice show.
  std::string display() const;
};

// A proxy URL as curl takes it: "http://[user[:pass]@]host[:port][/]" or
// "https://..." (TLS to the proxy, port 443 by default), or without a
// scheme ("host:port" means http://). user and pass are percent-decoded,
// then sent as Basic. Null with `why` set for anything else: other schemes
// (socks5://...), a path, query or fragment, a bad port, control bytes,
// over max_proxy_url_length.
std::optional<proxy_endpoint> parse_proxy_url(std::string_view text, std::string& why);

// curl's NO_PROXY rules (lib/noproxy.c, documented in curl(1) --noproxy
// and ENVIRONMENT): entries separated by commas (or spaces), each trimmed;
// "*" alone bypasses every host; a name matches itself and its subdomains
// (a leading '.' is ignored, trailing dots too); an IP literal matches an
// equal IP or a CIDR range (IPv4 /0-32, IPv6 /0-128). Case-insensitive.
// An extension curl lacks: "entry:port" (IPv6 as "[addr]:port") matches that
// port only. `host` is the URL's host (IPv6 with or without brackets).
bool no_proxy_matches(std::string_view host, std::uint16_t port, std::string_view list);

// Where proxy settings come from, read once (the client's constructor).
// get(name) returns the variable's value, or null when it is unset.
using environment_reader = std::function<std::optional<std::string>(const char* name)>;
environment_reader process_environment();

// The proxy settings a client uses for every target of its life.
struct proxy_settings {
  // Per target scheme: the proxy URL text and where it came from ("option
  // proxy", "environment https_proxy", ...); empty text: direct.
  std::string http_text, http_source;
  std::string https_text, https_source;
  std::string no_proxy;         // the list that applies
  std::string no_proxy_source;  // "option no_proxy", "environment NO_PROXY" or empty
  std::optional<proxy_endpoint> http, https;  // parsed
};

// The options' proxy / no_proxy override the environment. For an http://
// target curl reads http_proxy (never HTTP_PROXY: a CGI program gets the
// request's "Proxy:" header as HTTP_PROXY, "httpoxy"), for https://
// https_proxy then HTTPS_PROXY; then all_proxy, ALL_PROXY. A variable that
// is set (even empty) ends the search; an empty value means direct. Throws
// client_options_error for a proxy URL that can't be used, naming where it
// came from.
proxy_settings read_proxy_settings(const client_options& options, const environment_reader& env);

// The proxy for one request to `target` (re-chosen for every redirect and
// reconnect), null: direct.
struct proxy_route {
  std::optional<proxy_endpoint> proxy;
  proxy_choice choice;  // what the client reports
  // https targets tunnel (CONNECT); http targets are sent in absolute-form.
  bool tunnel(const url& target) const { return proxy && target.tls(); }
  bool forward(const url& target) const { return proxy && !target.tls(); }
};
proxy_route choose_proxy(const proxy_settings& settings, const url& target);

// An http:// request through a forward proxy: absolute-form target (RFC
// 9112 3.2.2) and the proxy's credentials. Nothing changes otherwise (an
// https:// request goes inside the tunnel in origin-form, without them).
void apply_route(request_head& head, const url& target, const proxy_route& route);

// The CONNECT request's target and fields (RFC 9110 9.3.6): authority-form
// host:port (IPv6 in brackets), Host the same, the proxy's credentials.
request_head connect_request(const url& target, const proxy_endpoint& proxy);

}  // namespace ssekit::detail

// The URLs the client needs: http and https, absolute, plus resolving a
// redirect's Location against the request URL (RFC 3986 section 5), on
// Boost.URL. No Beast here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ssekit/client.hpp"

namespace ssekit::detail {

// Longer URLs than ssekit::max_url_length (client.hpp), the options' or a
// Location's, are refused.
using ssekit::max_url_length;

struct url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // lower case; an IPv6 address without brackets
  std::uint16_t port = 0;
  std::string target;  // path and query, "/" at least; no fragment

  bool tls() const { return scheme == "https"; }
  bool default_port() const { return port == (tls() ? 443 : 80); }
  // host[:port] as the Host header wants it (IPv6 in brackets).
  std::string authority() const;
  // scheme://authority: what "same origin" compares.
  std::string origin() const;
  std::string str() const { return origin() + target; }
};

// Null for anything but an absolute http(s) URL with a host name or IP
// literal and a valid port; user info (user:pass@) is refused too:
// credentials go in headers. Dot segments are removed; no fragment. When
// null, *why (if given) says what is wrong, in a few words.
std::optional<url> parse_url(std::string_view text, std::string* why = nullptr);

// `reference` (a Location header) against `base`; null if it can't be resolved
// to an http(s) URL. Non-ASCII bytes are percent-encoded first, as browsers do.
std::optional<url> resolve_url(const url& base, std::string_view reference);
// Whether `reference` is an absolute URL of a scheme other than http(s)
// (ftp:, data:...): a redirect there is refused for good.
bool names_other_scheme(std::string_view reference);

// The name the resolver is asked for: "localhost" for "localhost." and
// names under it ("app.localhost"), which browsers and curl take to
// loopback without asking DNS (RFC 6761 6.3: DNS has no answer for them,
// nor /etc/hosts for most); `host` itself otherwise. Host, SNI and the
// certificate check keep the name as written.
std::string_view resolver_host(std::string_view host);

}  // namespace ssekit::detail

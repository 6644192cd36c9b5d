// The URLs the client needs: http and https, absolute, plus resolving a
// redirect's Location against the request URL (RFC 3986 section 5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ssekit::detail {

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

// Null for anything but an absolute http(s) URL with a host; user info
// (user:pass@) is refused too: credentials go in headers.
std::optional<url> parse_url(std::string_view text);

// `reference` (a Location header) against `base`; null if it can't be resolved
// to an http(s) URL.
std::optional<url> resolve_url(const url& base, std::string_view reference);

}  // namespace ssekit::detail

// URL parsing and reference resolution on Boost.URL (compiled once in
// boost_url.cpp). Only the http(s) rules the client adds live here.
#include "url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <charconv>

namespace ssekit::detail {
namespace {

namespace urls = boost::urls;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_space_or_control(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }

// A parsed absolute http(s) URL as the client uses it, or null.
std::optional<url> from_boost(const urls::url_view_base& u) {
  if (u.scheme_id() != urls::scheme::http && u.scheme_id() != urls::scheme::https) return std::nullopt;
  // Credentials go in headers, not in URLs (fetch refuses them too).
  if (!u.has_authority() || u.has_userinfo()) return std::nullopt;
  // Boost.URL 1.81 reads "http://a:b:80/" as authority "a:" and path
  // "b:80/"; after an authority, RFC 3986 allows only an empty path or one
  // starting with '/' (path-abempty).
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') return std::nullopt;
  url out;
  out.scheme = u.scheme_id() == urls::scheme::https ? "https" : "http";
  switch (u.host_type()) {
    case urls::host_type::ipv4: out.host = u.host_ipv4_address().to_string(); break;
    case urls::host_type::ipv6: out.host = u.host_ipv6_address().to_string(); break;
    case urls::host_type::name: {
      // A percent-encoded or empty name can't be looked up (no IDNA here).
      const auto name = u.encoded_host();
      if (name.empty() || name.find('%') != urls::string_view::npos) return std::nullopt;
      out.host.assign(name.data(), name.size());
      std::transform(out.host.begin(), out.host.end(), out.host.begin(), lower);
      break;
    }
    default: return std::nullopt;  // IPvFuture, none
  }
  out.port = out.tls() ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {  // "http://host:/" is the default port (RFC 3986 6.2.3)
    // Checked here: Boost.URL's port_number() wraps values over 65535.
    const auto port = u.port();
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(value);
  }
  urls::url normalized(u);
  normalized.normalize_path();
  const auto path = normalized.encoded_path();
  out.target = path.empty() ? "/" : std::string(path.data(), path.size());
  if (normalized.has_query()) {
    out.target += '?';
    const auto query = normalized.encoded_query();
    out.target.append(query.data(), query.size());
  }
  return out;
}

// Browsers percent-encode the UTF-8 bytes of a non-ASCII Location (WHATWG
// URL's path/query percent-encode sets); RFC 3986, and so Boost.URL, only
// take ASCII. This does that one step before parsing.
std::string encode_non_ascii(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

}  // namespace

std::string url::authority() const {
  // Appends rather than "[" + host + "]": gcc 12 warns (-Wrestrict) on
  // its own inlined copy of that expression.
  std::string out;
  const bool ipv6 = host.find(':') != std::string::npos;
  out.reserve(host.size() + 8);
  if (ipv6) out.push_back('[');
  out.append(host);
  if (ipv6) out.push_back(']');
  if (!default_port()) out.append(":").append(std::to_string(port));
  return out;
}

std::string url::origin() const { return scheme + "://" + authority(); }

std::optional<url> parse_url(std::string_view text) {
  if (text.empty() || text.size() > max_url_length) return std::nullopt;
  if (std::any_of(text.begin(), text.end(), is_space_or_control)) return std::nullopt;
  const auto parsed = urls::parse_uri(urls::string_view(text.data(), text.size()));
  if (!parsed) return std::nullopt;
  return from_boost(*parsed);
}

std::optional<url> resolve_url(const url& base, std::string_view reference) {
  // Location values are trimmed of surrounding whitespace by HTTP parsing.
  while (!reference.empty() && (reference.front() == ' ' || reference.front() == '\t')) reference.remove_prefix(1);
  while (!reference.empty() && (reference.back() == ' ' || reference.back() == '\t')) reference.remove_suffix(1);
  if (reference.size() > max_url_length) return std::nullopt;
  if (std::any_of(reference.begin(), reference.end(), is_space_or_control)) return std::nullopt;
  const std::string encoded = encode_non_ascii(reference);
  if (encoded.size() > max_url_length) return std::nullopt;
  const auto ref = urls::parse_uri_reference(encoded);
  if (!ref) return std::nullopt;
  const std::string base_text = base.str();
  const auto base_view = urls::parse_uri(base_text);
  if (!base_view) return std::nullopt;
  urls::url resolved;
  if (!urls::resolve(*base_view, *ref, resolved)) return std::nullopt;
  resolved.remove_fragment();
  if (resolved.buffer().size() > max_url_length) return std::nullopt;
  return from_boost(resolved);
}

}  // namespace ssekit::detail

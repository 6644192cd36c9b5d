// URL parsing and reference resolution on Boost.URL (compiled once in
// boost_url.cpp). Only the http(s) rules the client adds live here.
#include "url.hpp"

#include <boost/url/ipv4_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <charconv>
#include <vector>

namespace ssekit::detail {
namespace {

namespace urls = boost::urls;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_space_or_control(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// An absolute path ("" is "/") without "." and ".." segments, the WHATWG
// URL way: "%2e" counts as a dot, and nothing else is decoded. (Boost.URL
// 1.81's normalize_path() decoded "%2F" into a separator, changing the
// resource, and left "/%2e%2e/x" as "/../x".)
std::string without_dot_segments(std::string_view path) {
  const auto is_dot = [](std::string_view s) { return s == "." || iequals_ascii(s, "%2e"); };
  const auto is_dot_dot = [](std::string_view s) {
    return s == ".." || iequals_ascii(s, ".%2e") || iequals_ascii(s, "%2e.") || iequals_ascii(s, "%2e%2e");
  };
  std::vector<std::string_view> kept;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    if (is_dot_dot(segment)) {
      if (!kept.empty()) kept.pop_back();
      if (last) kept.emplace_back();  // "/a/.." is "/", "/a/b/.." is "/a/"
    } else if (is_dot(segment)) {
      if (last) kept.emplace_back();
    } else {
      kept.push_back(segment);
    }
    if (last) break;
    path.remove_prefix(slash + 1);
  }
  std::string out;
  out.reserve(path.size() + 1);
  for (const auto segment : kept) out.append("/").append(segment);
  return out.empty() ? "/" : out;
}

// No URL, and *why (when asked for) says why, for the options' error message.
std::optional<url> refused(std::string* why, const char* reason) {
  if (why) *why = reason;
  return std::nullopt;
}

// The WHATWG URL standard's IPv4 forms that RFC 3986 reads as a name
// ("127.1", "0x7f000001", "0177.0.0.1", "127.0.1."): a host whose last
// label is a number is an IPv4 address, canonical dotted decimal here, as
// browsers send it in Host and match it against a certificate (the
// resolver would connect to the address, but Host said "0x7f000001").
// Boost.URL 1.81 has no such parser. nullopt: not such a host; "": one that
// is no valid address (the URL is refused, as browsers refuse it).
std::optional<std::string> whatwg_ipv4(std::string_view host) {
  std::vector<std::string_view> parts;
  for (std::size_t at = 0;;) {
    const std::size_t dot = host.find('.', at);
    parts.push_back(host.substr(at, dot == std::string_view::npos ? std::string_view::npos : dot - at));
    if (dot == std::string_view::npos) break;
    at = dot + 1;
  }
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
  // One part's number, or nullopt; more than 2^32 is 2^32 (too big anyway).
  const auto number = [](std::string_view p) -> std::optional<std::uint64_t> {
    unsigned radix = 10;
    if (p.size() >= 2 && p[0] == '0' && lower(p[1]) == 'x') radix = 16, p.remove_prefix(2);
    else if (p.size() >= 2 && p[0] == '0') radix = 8, p.remove_prefix(1);
    std::uint64_t value = 0;
    for (const char c : p) {
      const unsigned digit = c >= '0' && c <= '9' ? static_cast<unsigned>(c - '0')
                             : lower(c) >= 'a' && lower(c) <= 'f' ? static_cast<unsigned>(lower(c) - 'a' + 10) : 16;
      if (digit >= radix) return std::nullopt;
      value = std::min<std::uint64_t>(value * radix + digit, std::uint64_t{1} << 32);
    }
    return value;
  };
  const std::string_view last = parts.back();
  // All digits ("08" too, though no octal), or any number form (then hex).
  const bool ends_in_number =
      !last.empty() && (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; }) || number(last));
  if (!ends_in_number) return std::nullopt;
  if (parts.size() > 4) return std::string();
  std::uint64_t address = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto n = parts[i].empty() ? std::nullopt : number(parts[i]);
    if (!n) return std::string();
    const bool is_last = i + 1 == parts.size();
    // The last part fills the bytes the others left: below 256^(5 - parts).
    if (is_last ? *n >= (std::uint64_t{1} << (8 * (5 - parts.size()))) : *n > 255) return std::string();
    address = is_last ? address + *n : address + (*n << (8 * (3 - i)));
  }
  return urls::ipv4_address(static_cast<std::uint32_t>(address)).to_string();
}

// A parsed absolute http(s) URL as the client uses it, or null (see refused()).
std::optional<url> from_boost(const urls::url_view_base& u, std::string* why = nullptr) {
  if (u.scheme_id() != urls::scheme::http && u.scheme_id() != urls::scheme::https)
    return refused(why, "the scheme is not http or https");
  if (!u.has_authority()) return refused(why, "no host (http://host/...)");
  // Credentials go in headers, not in URLs (fetch refuses them too).
  if (u.has_userinfo()) return refused(why, "credentials in a URL (user:password@) are not sent: use an Authorization header");
  // Boost.URL 1.81 reads "http://a:b:80/" as authority "a:" and path
  // "b:80/"; after an authority, RFC 3986 allows only an empty path or one
  // starting with '/' (path-abempty).
  // So is "http://1.2.3.4.5/" (address "1.2.3.4", path ".5/").
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') return refused(why, "a malformed host or port (the port is a number from 1 to 65535)");
  url out;
  out.scheme = u.scheme_id() == urls::scheme::https ? "https" : "http";
  switch (u.host_type()) {
    case urls::host_type::ipv4: out.host = u.host_ipv4_address().to_string(); break;
    case urls::host_type::ipv6: out.host = u.host_ipv6_address().to_string(); break;
    case urls::host_type::name: {
      // A percent-encoded or empty name can't be looked up (no IDNA here).
      const auto name = u.encoded_host();
      if (name.empty()) return refused(why, "no host (http://host/...)");
      if (name.find('%') != urls::string_view::npos) return refused(why, "a percent-encoded host name (use the name itself; no IDNA here)");
      out.host.assign(name.data(), name.size());
      std::transform(out.host.begin(), out.host.end(), out.host.begin(), lower);
      if (auto ipv4 = whatwg_ipv4(out.host)) {
        if (ipv4->empty()) return refused(why, "a host that ends in a number and is no IPv4 address");
        out.host = std::move(*ipv4);
        break;
      }
      // RFC 1035 2.3.4: no resolver looks such a name up, so it is bad
      // input, not a network error retried for ever.
      {
        const std::string_view dns_name = std::string_view(out.host).substr(0, out.host.size() - out.host.ends_with('.'));
        std::size_t label = 0;  // bytes of the label so far
        bool long_label = false;
        for (const char c : dns_name) {
          label = c == '.' ? 0 : label + 1;
          long_label = long_label || label > 63;
        }
        if (long_label || dns_name.size() > 253) return refused(why, "a host name longer than DNS allows (253 bytes, 63 in a label)");
      }
      break;
    }
    default: return refused(why, "an IPvFuture host");  // none is not an http URL
  }
  out.port = out.tls() ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {  // "http://host:/" is the default port (RFC 3986 6.2.3)
    // Checked here: Boost.URL's port_number() wraps values over 65535.
    const auto port = u.port();
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || value == 0 || value > 65535)
      return refused(why, "the port is not a number from 1 to 65535");
    out.port = static_cast<std::uint16_t>(value);
  }
  const auto path = u.encoded_path();
  out.target = without_dot_segments(std::string_view(path.data(), path.size()));
  if (u.has_query()) {
    out.target += '?';
    const auto query = u.encoded_query();
    out.target.append(query.data(), query.size());
  }
  return out;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f'); }

// A Location as browsers read it (WHATWG URL), made into what RFC 3986,
// and so Boost.URL, takes: no fragment (from the first '#'), no tabs, '\'
// read as '/' before the query (http and https are "special" schemes), and
// in the path and query, percent-encoded UTF-8 of non-ASCII text, controls,
// space, a lone '%' and the characters RFC 3986 forbids there. `/a b` is
// `/a%20b`, as in Chrome and Firefox. Hand-written: Boost.URL refuses such
// references instead. CR, LF and NUL are refused (no header carries them).
std::optional<std::string> encode_as_browsers_do(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  text = text.substr(0, text.find('#'));  // the fragment is never sent
  if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  // The scheme and authority are left for Boost.URL to judge (a host has
  // no escapes; non-ASCII there, which would need IDNA, is refused later).
  std::size_t i = 0;
  const auto scheme_end = text.find(':');
  if (scheme_end != std::string_view::npos && scheme_end > 0 &&
      text.find_first_of("/?\\") > scheme_end) {
    i = scheme_end + 1;
  }
  const auto is_slash = [](char c) { return c == '/' || c == '\\'; };
  if (i + 1 < text.size() && is_slash(text[i]) && is_slash(text[i + 1])) {
    const auto end = text.find_first_of("/?\\", i + 2);
    out.append(text.substr(0, i)).append("//");
    i += 2;
    const auto authority = text.substr(i, end == std::string_view::npos ? end : end - i);
    for (const char c : authority) {
      if (c != '\t') out += c;
    }
    i += authority.size();
  } else {
    out.append(text.substr(0, i));
  }
  bool in_query = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    const auto b = static_cast<unsigned char>(c);
    if (c == '\t') continue;
    if (c == '?') in_query = true;
    if (c == '\\' && !in_query) {
      out += '/';
      continue;
    }
    const bool lone_percent =
        c == '%' && !(i + 2 < text.size() && is_hex(text[i + 1]) && is_hex(text[i + 2]));
    if (b <= 0x20 || b >= 0x7f || lone_percent || std::string_view("\"<>`{}^|[]\\").find(c) != std::string_view::npos) {
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    } else {
      out += c;
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

std::optional<url> parse_url(std::string_view text, std::string* why) {
  if (text.empty()) return refused(why, "empty");
  if (text.size() > max_url_length) return refused(why, "too long");
  if (std::any_of(text.begin(), text.end(), is_space_or_control))
    return refused(why, "a space or control byte in it (percent-encode it)");
  if (text.find("://") == std::string_view::npos) return refused(why, "no http:// or https:// in front");
  const auto parsed = urls::parse_uri(urls::string_view(text.data(), text.size()));
  if (!parsed) return refused(why, "not a URL by RFC 3986");
  return from_boost(*parsed, why);
}

bool names_other_scheme(std::string_view reference) {
  const auto encoded = encode_as_browsers_do(reference);
  if (!encoded) return false;
  const auto ref = urls::parse_uri_reference(*encoded);
  if (!ref || !ref->has_scheme()) return false;
  const std::string_view scheme = ref->scheme();
  return !iequals_ascii(scheme, "http") && !iequals_ascii(scheme, "https");
}

std::optional<url> resolve_url(const url& base, std::string_view reference) {
  // Location values are trimmed of surrounding whitespace by HTTP parsing.
  while (!reference.empty() && (reference.front() == ' ' || reference.front() == '\t')) reference.remove_prefix(1);
  while (!reference.empty() && (reference.back() == ' ' || reference.back() == '\t')) reference.remove_suffix(1);
  if (reference.size() > max_url_length) return std::nullopt;
  // WHATWG URL, for the special schemes: "http:x" or "http:/x" against an
  // http URL is relative (only "http://" starts a new authority); against
  // another scheme, and after "//", any number of slashes comes before the
  // authority ("https:x" and "http:///x" name the hosts x). RFC 3986 would
  // make each a URL with no host, which is refused.
  std::string authority_form;
  for (const std::string_view scheme : {std::string_view("http"), std::string_view("https")}) {
    if (reference.size() <= scheme.size() || !iequals_ascii(reference.substr(0, scheme.size()), scheme) ||
        reference[scheme.size()] != ':')
      continue;
    std::string_view rest = reference.substr(scheme.size() + 1);
    const auto is_slash = [](char c) { return c == '/' || c == '\\'; };
    const bool two_slashes = rest.size() >= 2 && is_slash(rest[0]) && is_slash(rest[1]);
    if (scheme == base.scheme && !two_slashes) {
      reference = rest;
    } else {
      while (!rest.empty() && is_slash(rest.front())) rest.remove_prefix(1);
      authority_form.assign(scheme).append("://").append(rest);
      reference = authority_form;
    }
    break;
  }
  const auto encoded = encode_as_browsers_do(reference);
  if (!encoded || encoded->size() > max_url_length) return std::nullopt;
  const auto ref = urls::parse_uri_reference(*encoded);
  if (!ref) return std::nullopt;
  // RFC 3986 5.2.2 on the encoded parts (no fragment: encode_as_browsers_do
  // dropped it): Boost.URL 1.81's resolve() decodes "%2F" into a separator.
  std::string text;
  if (ref->has_scheme()) {
    text = *encoded;
  } else if (ref->has_authority()) {
    text = base.scheme + ":" + *encoded;
  } else {
    const auto path = ref->encoded_path();
    const std::string_view base_path = std::string_view(base.target).substr(0, base.target.find('?'));
    text = base.origin();
    if (path.empty()) {
      text += ref->has_query() ? base_path : std::string_view(base.target);
    } else if (path.front() == '/') {
      // the reference's own path, below
    } else {
      text += base_path.substr(0, base_path.rfind('/') + 1);  // the base's directory (it starts with '/')
    }
    text.append(*encoded);
  }
  if (text.size() > max_url_length) return std::nullopt;
  const auto resolved = urls::parse_uri(text);
  if (!resolved) return std::nullopt;
  return from_boost(*resolved);
}

std::string_view resolver_host(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  constexpr std::string_view localhost = "localhost";
  const bool under_localhost = name.size() > localhost.size() + 1 && name.ends_with(".localhost");
  return name == localhost || under_localhost ? localhost : host;
}

}  // namespace ssekit::detail

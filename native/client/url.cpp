#include "url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace ssekit::detail {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
         c == '.';
}

// The scheme of an absolute reference ("http" in "http://..."), or empty.
std::string_view scheme_of(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  const std::string_view scheme = s.substr(0, colon);
  if (!(std::isalpha(static_cast<unsigned char>(scheme[0])))) return {};
  if (!std::all_of(scheme.begin(), scheme.end(), is_scheme_char)) return {};
  return scheme;
}

bool bad_char(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }

// RFC 3986 5.2.4, on a path that starts with '/'.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 1;
  bool trailing_slash = false;
  while (i <= path.size()) {
    std::size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(i, end - i);
    trailing_slash = false;
    if (segment == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = true;
    } else if (segment == ".") {
      trailing_slash = true;
    } else {
      out.push_back(segment);
    }
    i = end + 1;
  }
  std::string result;
  for (const auto& segment : out) {
    result += '/';
    result += segment;
  }
  if (trailing_slash || result.empty()) result += '/';
  return result;
}

// Splits "path?query" and normalizes the path's dot segments.
std::string normalize_target(std::string_view target) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  std::string out = remove_dot_segments(path.empty() ? std::string_view("/") : path);
  if (q != std::string_view::npos) out += target.substr(q);
  return out;
}

}  // namespace

std::string url::authority() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!default_port()) out += ":" + std::to_string(port);
  return out;
}

std::string url::origin() const { return scheme + "://" + authority(); }

std::optional<url> parse_url(std::string_view text) {
  if (text.empty() || std::any_of(text.begin(), text.end(), bad_char)) return std::nullopt;
  const std::string_view scheme = scheme_of(text);
  url u;
  u.scheme = to_lower(scheme);
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(scheme.size() + 1);
  if (rest.substr(0, 2) != "//") return std::nullopt;
  rest.remove_prefix(2);
  rest = rest.substr(0, rest.find('#'));
  const std::size_t authority_end = std::min(rest.find('/'), rest.find('?'));
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view target = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;

  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view after = host.substr(close + 1);
    if (!after.empty() && after.front() != ':') return std::nullopt;
    if (!after.empty()) port = after.substr(1);
    host = host.substr(1, close - 1);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) return std::nullopt;
  } else {
    const auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.find_first_of("[]") != std::string_view::npos) return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  u.host = to_lower(host);
  u.port = u.tls() ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
    u.port = static_cast<std::uint16_t>(value);
  }
  u.target = normalize_target(target.empty() ? std::string_view("/") : target);
  return u;
}

std::optional<url> resolve_url(const url& base, std::string_view reference) {
  // Location values are trimmed of surrounding whitespace by HTTP parsing.
  while (!reference.empty() && (reference.front() == ' ' || reference.front() == '\t')) reference.remove_prefix(1);
  while (!reference.empty() && (reference.back() == ' ' || reference.back() == '\t')) reference.remove_suffix(1);
  if (std::any_of(reference.begin(), reference.end(), bad_char)) return std::nullopt;
  if (!scheme_of(reference).empty()) return parse_url(reference);
  if (reference.substr(0, 2) == "//") return parse_url(base.scheme + ":" + std::string(reference));
  reference = reference.substr(0, reference.find('#'));
  url out = base;
  if (reference.empty()) return out;
  const std::string_view base_path = std::string_view(base.target).substr(0, base.target.find('?'));
  if (reference.front() == '?') {
    out.target = std::string(base_path) + std::string(reference);
  } else if (reference.front() == '/') {
    out.target = normalize_target(reference);
  } else {
    // Merge with the base path's directory.
    const std::string directory(base_path.substr(0, base_path.rfind('/') + 1));
    out.target = normalize_target(directory + std::string(reference));
  }
  return out;
}

}  // namespace ssekit::detail

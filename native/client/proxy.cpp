// Proxy selection and proxy URLs, on Boost.URL (compiled once in
// boost_url.cpp). No Beast, no Asio.
#include "proxy.hpp"

#include <openssl/evp.h>

#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <vector>

namespace ssekit::detail {
namespace {

namespace urls = boost::urls;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_space_or_control(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }
bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// 1..65535, digits only; null otherwise.
std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::string base64(std::string_view in) {
  // OpenSSL's encoder: 4 output bytes per 3 input bytes, plus a NUL.
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// An IP address as bytes (4 or 16), or empty when `s` is not one.
std::vector<unsigned char> ip_bytes(std::string_view s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (const auto v4 = urls::parse_ipv4_address(urls::string_view(s.data(), s.size()))) {
    const auto b = v4->to_bytes();
    return {b.begin(), b.end()};
  }
  if (const auto v6 = urls::parse_ipv6_address(urls::string_view(s.data(), s.size()))) {
    const auto b = v6->to_bytes();
    return {b.begin(), b.end()};
  }
  return {};
}

// The first `bits` bits equal. curl's rule (unit1614's vectors): 0 bits, or
// none given, compares the whole address; more than the address has never
// matches.
bool prefix_equal(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b, unsigned bits) {
  if (a.size() != b.size()) return false;
  const unsigned all = static_cast<unsigned>(a.size()) * 8;
  if (bits == 0) bits = all;
  if (bits > all) return false;
  for (unsigned i = 0; i < bits; ++i) {
    const unsigned mask = 0x80u >> (i % 8);
    if ((a[i / 8] & mask) != (b[i / 8] & mask)) return false;
  }
  return true;
}

// One NO_PROXY entry against a host (lower case, no brackets, no trailing
// dot) and its IP bytes (empty for a name).
bool entry_matches(std::string_view entry, std::string_view host, const std::vector<unsigned char>& host_ip, std::uint16_t port) {
  // Our extension: ":port" at the end ("[v6]:port" for IPv6).
  std::optional<std::uint16_t> entry_port;
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return false;
    if (close + 1 < entry.size()) {
      if (entry[close + 1] != ':') return false;
      entry_port = parse_port(entry.substr(close + 2));
      if (!entry_port) return false;
    }
    entry = entry.substr(1, close - 1);
  } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
    const auto colon = entry.find(':');
    entry_port = parse_port(entry.substr(colon + 1));
    if (!entry_port) return false;
    entry = entry.substr(0, colon);
  }
  if (entry_port && *entry_port != port) return false;

  if (!host_ip.empty()) {
    unsigned bits = 0;
    const auto slash = entry.find('/');
    if (slash != std::string_view::npos) {
      const std::string_view digits = entry.substr(slash + 1);
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
      if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return false;
      entry = entry.substr(0, slash);
    }
    return prefix_equal(ip_bytes(entry), host_ip, bits);
  }
  while (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
  while (!entry.empty() && entry.back() == '.') entry.remove_suffix(1);
  if (entry.empty() || entry.size() > host.size()) return false;
  const std::string_view tail = host.substr(host.size() - entry.size());
  if (!iequals(tail, entry)) return false;
  return host.size() == entry.size() || host[host.size() - entry.size() - 1] == '.';
}

bool is_list_separator(char c) { return c == ',' || c == ' ' || c == '\t'; }

}  // namespace

std::string proxy_endpoint::display() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::optional<proxy_endpoint> parse_proxy_url(std::string_view text, std::string& why) {
  if (text.size() > max_proxy_url_length) {
    why = "longer than " + std::to_string(max_proxy_url_length) + " bytes";
    return std::nullopt;
  }
  if (text.empty() || std::any_of(text.begin(), text.end(), is_space_or_control)) {
    why = text.empty() ? "empty" : "it has a space or control byte";
    return std::nullopt;
  }
  // curl: no scheme means http://.
  const std::string full = text.find("://") == std::string_view::npos ? "http://" + std::string(text) : std::string(text);
  const auto parsed = urls::parse_uri(full);
  if (!parsed) {
    why = "not a URL";
    return std::nullopt;
  }
  const urls::url_view& u = *parsed;
  const bool tls = u.scheme_id() == urls::scheme::https;
  if (!tls && u.scheme_id() != urls::scheme::http) {
    why = "unsupported proxy scheme " + lowered(std::string(u.scheme())) + ":// (only http:// and https://)";
    return std::nullopt;
  }
  const auto path = u.encoded_path();
  if (!u.has_authority() || !(path.empty() || path == "/") || u.has_query() || u.has_fragment()) {
    why = "a proxy URL is scheme://[user:password@]host[:port] with no path, query or fragment";
    return std::nullopt;
  }
  proxy_endpoint out;
  out.scheme = tls ? "https" : "http";
  out.port = tls ? default_https_proxy_port : default_proxy_port;
  switch (u.host_type()) {
    case urls::host_type::ipv4: out.host = u.host_ipv4_address().to_string(); break;
    case urls::host_type::ipv6: out.host = u.host_ipv6_address().to_string(); break;
    case urls::host_type::name: {
      const auto name = u.encoded_host();
      if (name.empty() || name.find('%') != urls::string_view::npos) {
        why = "no usable host name";
        return std::nullopt;
      }
      out.host = lowered(std::string(name.data(), name.size()));
      break;
    }
    default: why = "no usable host"; return std::nullopt;
  }
  if (u.has_port() && !u.port().empty()) {
    const auto port = parse_port(std::string_view(u.port().data(), u.port().size()));
    if (!port) {
      why = "the port is not 1..65535";
      return std::nullopt;
    }
    out.port = *port;
  }
  if (u.has_userinfo()) {
    const std::string user = u.user();
    const std::string password = u.password();
    // RFC 7617: the user-id has no colon; neither has control bytes.
    if (user.find(':') != std::string::npos || std::any_of(user.begin(), user.end(), is_control) ||
        std::any_of(password.begin(), password.end(), is_control)) {
      why = "the user name has a colon, or the credentials a control byte";
      return std::nullopt;
    }
    // "http://@proxy" or "http://:@proxy": no credentials, not an empty pair.
    if (!user.empty() || !password.empty()) out.authorization = "Basic " + base64(user + ":" + password);
  }
  return out;
}

bool no_proxy_matches(std::string_view host, std::uint16_t port, std::string_view list) {
  std::string_view trimmed = list;
  while (!trimmed.empty() && is_list_separator(trimmed.front())) trimmed.remove_prefix(1);
  while (!trimmed.empty() && is_list_separator(trimmed.back())) trimmed.remove_suffix(1);
  if (trimmed == "*") return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::vector<unsigned char> host_ip = ip_bytes(host);
  std::string name = lowered(host);
  if (host_ip.empty()) {
    while (!name.empty() && name.back() == '.') name.pop_back();
  }
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && is_list_separator(list[i])) ++i;
    std::size_t end = i;
    while (end < list.size() && !is_list_separator(list[end])) ++end;
    if (end > i && entry_matches(list.substr(i, end - i), name, host_ip, port)) return true;
    i = end;
  }
  return false;
}

environment_reader process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

proxy_settings read_proxy_settings(const client_options& options, const environment_reader& env) {
  proxy_settings s;
  // The first variable that is set, in curl's order.
  auto first_set = [&](std::initializer_list<const char*> names, std::string& text, std::string& source) {
    for (const char* name : names) {
      if (auto v = env(name)) {
        text = std::move(*v);
        source = std::string("environment ") + name;
        return;
      }
    }
  };
  if (options.proxy) {
    s.http_text = s.https_text = *options.proxy;
    s.http_source = s.https_source = "option proxy";
  } else {
    first_set({"http_proxy", "all_proxy", "ALL_PROXY"}, s.http_text, s.http_source);
    first_set({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}, s.https_text, s.https_source);
  }
  if (options.no_proxy) {
    s.no_proxy = *options.no_proxy;
    s.no_proxy_source = "option no_proxy";
  } else {
    first_set({"no_proxy", "NO_PROXY"}, s.no_proxy, s.no_proxy_source);
  }
  auto parse = [](const std::string& text, const std::string& source, std::optional<proxy_endpoint>& out) {
    if (text.empty()) return;
    std::string why;
    out = parse_proxy_url(text, why);
    if (!out) throw client_options_error("ssekit::client: can't use the proxy from " + source + ": " + why);
  };
  parse(s.http_text, s.http_source, s.http);
  parse(s.https_text, s.https_source, s.https);
  if (s.no_proxy.size() > max_no_proxy_length) {
    // The environment's list is someone else's setting: it only matters
    // when a proxy is used. The option is the user's own input.
    if (!options.no_proxy && !s.http && !s.https) {
      s.no_proxy.clear();
      s.no_proxy_source.clear();
      return s;
    }
    throw client_options_error("ssekit::client: " + s.no_proxy_source + " is longer than " + std::to_string(max_no_proxy_length) +
                               " bytes");
  }
  return s;
}

proxy_route choose_proxy(const proxy_settings& settings, const url& target) {
  proxy_route route;
  const auto& proxy = target.tls() ? settings.https : settings.http;
  if (!proxy) {
    const std::string& source = target.tls() ? settings.https_source : settings.http_source;
    route.choice.source = source.empty() ? "no proxy configured" : source + " is empty";
    return route;
  }
  if (no_proxy_matches(target.host, target.port, settings.no_proxy)) {
    route.choice.source = settings.no_proxy_source + " matches " + target.host;
    return route;
  }
  route.proxy = proxy;
  route.choice.url = proxy->display();
  route.choice.source = target.tls() ? settings.https_source : settings.http_source;
  return route;
}

void apply_route(request_head& head, const url& target, const proxy_route& route) {
  // The proxy's credentials never go to an origin, whatever the user's headers say.
  std::erase_if(head.fields, [](const auto& f) { return iequals(f.first, "Proxy-Authorization"); });
  if (!route.forward(target)) return;
  head.target = target.str();
  if (!route.proxy->authorization.empty()) head.fields.emplace_back("Proxy-Authorization", route.proxy->authorization);
}

request_head connect_request(const url& target, const proxy_endpoint& proxy) {
  request_head head;
  head.method = "CONNECT";
  const std::string h = target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  head.target = h + ":" + std::to_string(target.port);
  head.fields.emplace_back("Host", head.target);
  head.fields.emplace_back("User-Agent", "ssekit");
  if (!proxy.authorization.empty()) head.fields.emplace_back("Proxy-Authorization", proxy.authorization);
  return head;
}

}  // namespace ssekit::detail

#include "support/http_head.hpp"

#include <algorithm>
#include <cctype>

namespace ssekit::testing {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string http_head::header(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto& [n, v] : headers) {
    if (n == key) return v;
  }
  return {};
}

bool http_head::has(std::string_view name) const {
  const std::string key = lower(name);
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return h.first == key; });
}

std::optional<std::uint64_t> http_head::content_length() const {
  if (!has("content-length")) return 0;
  const std::string v = header("content-length");
  if (!all_digits(v) || v.size() > 18) return std::nullopt;  // 18 digits fit 64 bits
  std::uint64_t n = 0;
  for (const char c : v) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return n;
}

std::size_t head_end(std::string_view bytes) noexcept {
  const std::size_t at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? std::string_view::npos : at + 4;
}

std::optional<http_head> parse_head(std::string_view head) {
  http_head out;
  const std::size_t first_end = head.find("\r\n");
  const std::string_view start = head.substr(0, first_end);
  const std::size_t sp1 = start.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  const std::size_t sp2 = start.find(' ', sp1 + 1);
  if (start.substr(0, 5) == "HTTP/") {
    const std::string_view code = start.substr(sp1 + 1, 3);
    if (code.size() != 3 || !all_digits(code)) return std::nullopt;
    out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  } else {
    if (sp2 == std::string_view::npos || start.substr(sp2 + 1, 5) != "HTTP/") return std::nullopt;
    out.method = std::string(start.substr(0, sp1));
    out.target = std::string(start.substr(sp1 + 1, sp2 - sp1 - 1));
  }
  std::string_view rest = first_end == std::string_view::npos ? std::string_view() : head.substr(first_end + 2);
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.headers.emplace_back(lower(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  return out;
}

std::string request_bytes(std::string_view method, std::string_view target, std::string_view host,
                          std::string_view extra_headers, std::string_view body) {
  std::string out;
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host).append("\r\n");
  out.append(extra_headers);
  if (!body.empty() || method == "POST") out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("\r\n").append(body);
  return out;
}

std::string response_head(int status, std::string_view reason, std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + ' ';
  out.append(reason).append("\r\n").append(extra_headers).append("\r\n");
  return out;
}

}  // namespace ssekit::testing

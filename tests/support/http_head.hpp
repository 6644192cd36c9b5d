// HTTP/1.1 framing for test and benchmark code, one copy: find and parse a
// request's or response's head, write a request or a response head. The
// peers are our own programs and scripted servers on loopback, so this is
// deliberately small (no obs-fold, no duplicate-header rules); what the
// library itself must get right lives in native/client/http_rules.cpp and
// is tested there. Used by script_server (the scripted loopback server),
// the contract, demo server and client tests, and ssekit-e2e-bench.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssekit::testing {

struct http_head {
  std::string method;  // a request's
  std::string target;  // a request's
  int status = 0;      // a response's
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed

  // The first value of a header (name in any case), or "" if absent.
  std::string header(std::string_view name) const;
  bool has(std::string_view name) const;
  // Content-Length: 0 when absent; nullopt when not a decimal of at most 18 digits.
  std::optional<std::uint64_t> content_length() const;
};

// Where the head ends (just past its empty line), or npos if it is not all there.
std::size_t head_end(std::string_view bytes) noexcept;
// The start line and header lines of `head` (up to its empty line); nullopt
// for a start line that is neither "METHOD TARGET HTTP/x" nor "HTTP/x NNN ...".
std::optional<http_head> parse_head(std::string_view head);

// "METHOD TARGET HTTP/1.1", Host, `extra_headers` (whole "Name: value\r\n"
// lines), Content-Length when there is a body or the method is POST, the
// empty line, the body.
std::string request_bytes(std::string_view method, std::string_view target, std::string_view host,
                          std::string_view extra_headers = {}, std::string_view body = {});
// "HTTP/1.1 STATUS REASON", `extra_headers` (whole lines), the empty line.
std::string response_head(int status, std::string_view reason, std::string_view extra_headers = {});

std::string lower(std::string_view s);

}  // namespace ssekit::testing

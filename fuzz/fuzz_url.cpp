// fuzz_url: the client's URL parsing and redirect resolution (Boost.URL
// plus the client's http(s) rules, native/client/url.hpp and
// http_rules.hpp). Input: a base URL, a newline, a Location.
// Checks: whatever parses is an http(s) URL the client can use (host set,
// no control bytes or spaces anywhere, target starts with '/', port
// non-zero), printing it and parsing that again gives the same URL, and
// following the Location as a redirect obeys the https-to-http rule.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "http_rules.hpp"
#include "url.hpp"

namespace {

using ssekit::detail::url;

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "\n*** fuzz_url: %s: \"%s\"\n", what, ssekit::detail::escape_text(text, 4096).c_str());
  std::abort();
}

bool clean(std::string_view s) {
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f) return false;
  }
  return true;
}

void check(const url& u) {
  const std::string text = u.str();
  if (u.scheme != "http" && u.scheme != "https") fail("scheme", text);
  if (u.host.empty() || u.port == 0) fail("host or port", text);
  if (u.target.empty() || u.target.front() != '/') fail("target", text);
  if (!clean(text)) fail("control byte, space or non-ASCII in a URL", text);
  const auto again = ssekit::detail::parse_url(text);
  if (!again) fail("a URL the client made does not parse", text);
  if (again->str() != text || again->host != u.host || again->port != u.port || again->target != u.target) {
    fail("parsing the printed URL changes it", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view base_text = input.substr(0, newline);
  const std::string_view location = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  const auto base = ssekit::detail::parse_url(base_text);
  if (!base) return 0;
  check(*base);
  if (const auto resolved = ssekit::detail::resolve_url(*base, location)) check(*resolved);

  ssekit::client_options options;
  options.url = base->str();
  const ssekit::detail::request_plan plan{*base, "POST", std::make_shared<const std::string>("body"), {{"Authorization", "x"}}};
  for (const int status : {301, 303, 307}) {
    const auto outcome = ssekit::detail::follow_redirect(plan, status, location, 0, options);
    if (!outcome.next) continue;
    check(outcome.next->target);
    if (base->tls() && !outcome.next->target.tls()) fail("followed https to http", outcome.next->target.str());
    if (outcome.next->target.origin() != base->origin() && !outcome.next->headers.empty()) {
      fail("credentials followed a redirect to another origin", outcome.next->target.str());
    }
  }
  return 0;
}

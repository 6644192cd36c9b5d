#include "http_rules.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>
#include <vector>

namespace ssekit::detail {
namespace {

using std::chrono::milliseconds;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_http_whitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_http_whitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_http_whitespace(s.back())) s.remove_suffix(1);
  return s;
}

[[noreturn]] void refuse(const std::string& what) { throw client_options_error("ssekit::client: " + what); }

// Headers the client writes itself from the body and the connection it
// manages; a user value would contradict them (request smuggling, a GET
// with a Content-Length and no body).
constexpr std::string_view owned_headers[] = {"Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "TE",
                                              "Trailer", "Keep-Alive", "Accept-Encoding", "Last-Event-ID"};

bool is_owned(std::string_view name) {
  return std::any_of(std::begin(owned_headers), std::end(owned_headers), [&](std::string_view o) { return iequals(o, name); });
}

// fetch's "get, decode, and split" on a combined value: commas outside
// quoted strings separate values.
std::vector<std::string_view> split_values(std::string_view combined) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < combined.size(); ++i) {
    const char c = combined[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(trim(combined.substr(start, i - start)));
      start = i + 1;
    }
  }
  out.push_back(trim(combined.substr(std::min(start, combined.size()))));
  return out;
}

// The essence of one MIME type (WHATWG MIME Sniffing, "parse a MIME type",
// up to the parameters, which the client does not need), or empty.
std::string mime_essence(std::string_view value) {
  value = trim(value);
  const auto slash = value.find('/');
  if (slash == std::string_view::npos) return {};
  const std::string_view type = value.substr(0, slash);
  std::string_view subtype = value.substr(slash + 1);
  subtype = trim(subtype.substr(0, subtype.find(';')));
  if (!is_token(type) || !is_token(subtype)) return {};
  std::string out;
  out.reserve(value.size());
  for (const char c : type) out += lower(c);
  out += '/';
  for (const char c : subtype) out += lower(c);
  return out;
}

std::string combined(const header_list& headers, std::string_view name) {
  std::string out;
  bool first = true;
  for (const auto& [n, v] : headers) {
    if (!iequals(n, name)) continue;
    if (!first) out += ", ";
    out += v;
    first = false;
  }
  return out;
}

const std::string* first_value(const header_list& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return &v;
  }
  return nullptr;
}

// value x percent / 100, rounded up (so any factor above 100% grows even
// 1 ms), saturating at `cap`.
std::uint64_t scale(std::uint64_t value, std::uint64_t percent, std::uint64_t cap) {
  if (value != 0 && percent > (std::numeric_limits<std::uint64_t>::max() - 99) / value) return cap;
  return std::min((value * percent + 99) / 100, cap);
}

std::uint64_t to_ms(milliseconds d) { return d.count() <= 0 ? 0 : static_cast<std::uint64_t>(d.count()); }

}  // namespace

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b == '\t' || (b >= 0x20 && b != 0x7f);
  });
}

std::string status_digits(int status) {
  std::string digits = std::to_string(status);
  if (digits.size() < 3) digits.insert(0, 3 - digits.size(), '0');
  return digits;
}

bool looks_like_http2_frames(std::string_view bytes) {
  if (bytes.size() < 9) return false;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const std::uint32_t length = (std::uint32_t{byte(0)} << 16) | (std::uint32_t{byte(1)} << 8) | byte(2);
  const unsigned type = byte(3);
  // The stream id without its reserved bit: frames of the connection use 0.
  const bool stream_zero = (byte(5) & 0x7f) == 0 && byte(6) == 0 && byte(7) == 0 && byte(8) == 0;
  // SETTINGS: 6 bytes a setting, flags 0 or ACK; GOAWAY: 8 bytes at least.
  // 16,384 is the largest frame before SETTINGS_MAX_FRAME_SIZE is agreed.
  const bool settings = type == 0x4 && length % 6 == 0 && byte(4) <= 1;
  const bool goaway = type == 0x7 && length >= 8;
  return stream_zero && length <= 16384 && (settings || goaway);
}

bool looks_like_tls_record(std::string_view bytes) {
  if (bytes.size() < 5) return false;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned length = (unsigned{byte(3)} << 8) | byte(4);
  // Content type alert (21) or handshake (22); legacy version 3.0-3.4; a
  // length a record may have (2^14 plus what protection adds, RFC 8446 5.2).
  return (byte(0) == 21 || byte(0) == 22) && byte(1) == 3 && byte(2) <= 4 && length != 0 && length <= (1u << 14) + 256;
}

std::string escape_text(std::string_view s, std::size_t max) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  const std::string_view shown = s.substr(0, max);
  out.reserve(shown.size());
  auto escape = [&](unsigned char b) {
    out += "\\x";
    out += hex[b >> 4];
    out += hex[b & 15];
  };
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const auto b = static_cast<unsigned char>(shown[i]);
    if (b < 0x20 || b == 0x7f) {
      escape(b);
    } else if (b == 0xc2 && i + 1 < shown.size() && static_cast<unsigned char>(shown[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(shown[i + 1]) <= 0x9f) {
      // U+0080..U+009F (C1 controls, CSI among them) in UTF-8.
      escape(b);
      escape(static_cast<unsigned char>(shown[++i]));
    } else if (b >= 0x80 && b <= 0x9f) {
      // A lone C1 byte: terminals in 8-bit mode obey it.
      escape(b);
    } else {
      out += static_cast<char>(b);
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

std::string shown_url(std::string_view url_text) {
  // By hand, not Boost.URL: the text shown is often one Boost.URL refuses
  // (that is why it is shown), and its secret must go all the same.
  const std::size_t scheme_end = url_text.find("://");
  if (scheme_end == std::string_view::npos) return escape_text(url_text);
  const std::size_t host_start = scheme_end + 3;
  const std::size_t authority_end = std::min(url_text.find_first_of("/?#", host_start), url_text.size());
  const std::size_t at = url_text.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < host_start) return escape_text(url_text);
  const std::string_view userinfo = url_text.substr(host_start, at - host_start);
  const std::size_t colon = userinfo.find(':');
  std::string shown(url_text.substr(0, host_start));
  if (colon != std::string_view::npos) shown.append(userinfo.substr(0, colon + 1));
  shown += "***";
  shown.append(url_text.substr(at));
  return escape_text(shown);
}

namespace {

// RFC 9110 7.2: Host is uri-host [":" port] (RFC 3986's authority without
// userinfo), the port at most 65535. A value the server can't read as one
// ("a b") was sent as given.
bool is_host_field(std::string_view value) {
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t");
  if (first == std::string_view::npos) return false;
  const auto authority = boost::urls::parse_authority(value.substr(first, last - first + 1));
  if (!authority || authority->has_userinfo() || authority->host().empty()) return false;
  if (!authority->has_port()) return true;
  const auto port = authority->port();
  std::uint32_t n = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  // An empty port ("h:") is allowed by the grammar; a long one is not a port.
  return port.empty() || (ec == std::errc{} && end == port.data() + port.size() && n <= 65535);
}

// The checks on what a request sends, shared by the options and the
// attempt hook's requests.
request_plan check_request(const std::string& url_text, const std::string& method, const header_list& headers,
                           std::string body) {
  if (url_text.size() > max_url_length) refuse("url longer than " + std::to_string(max_url_length) + " bytes");
  std::string why;
  const auto target = parse_url(url_text, &why);
  if (!target) refuse("the URL can't be used (" + why + "): " + shown_url(url_text));
  if (!is_token(method) || method.size() > 64) refuse("invalid method: " + escape_text(method));
  // Fetch's forbidden methods, refused as the npm package refuses them: a
  // tunnel (CONNECT's target is host:port, not a path) or an echo, never a stream.
  if (iequals(method, "CONNECT") || iequals(method, "TRACE") || iequals(method, "TRACK"))
    refuse(std::string("the method ").append(method).append(" can't open a stream (fetch forbids it too)"));
  std::size_t total = 0;
  for (const auto& [name, value] : headers) {
    // A long name is a valid token: say which limit it passed.
    if (name.size() > max_header_name_length) {
      refuse("header name " + escape_text(name, 64) + " is longer than " + std::to_string(max_header_name_length) + " bytes");
    }
    if (!is_token(name)) refuse("invalid header name: " + escape_text(name, 64));
    if (!is_field_value(value)) refuse("header " + name + " has a control byte (CR, LF, NUL...) in its value");
    // RFC 9112 3.2: with a URL that names a host, Host must name it too.
    // (curl's -H 'Host:' removes the header; an empty value is no host.)
    if (iequals(name, "Host") && value.find_first_not_of(" \t") == std::string::npos)
      refuse("header Host is empty: leave it out and the URL's host is sent");
    if (iequals(name, "Host") && !is_host_field(value))
      refuse("header Host is not a host[:port] (RFC 9110 7.2): " + escape_text(value, 64));
    if (value.size() > max_header_value_length) {
      refuse("header " + name + " is longer than " + std::to_string(max_header_value_length) + " bytes");
    }
    if (is_owned(name)) {
      // Where the user's intent has an option, name it.
      const char* instead = iequals(name, "Last-Event-ID")     ? " (to resume from an id: client_options::last_event_id)"
                            : iequals(name, "Accept-Encoding") ? " (client_options::compression chooses it)"
                                                               : "";
      refuse("header " + name + " is set by the client itself" + instead);
    }
    // As sent: "name: value" CRLF. Names and values alone let 30,000
    // one-letter headers through as a 120 KB head.
    total += name.size() + value.size() + 4;
  }
  if (total > max_request_headers_size) refuse("headers longer than " + std::to_string(max_request_headers_size) + " bytes in all");
  // Fetch's normalization: these six in any case are sent in upper case
  // ("get" would reach the server as an unknown method, 501); others as given.
  std::string sent = method;
  for (const std::string_view known : {"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"}) {
    if (iequals(method, known)) sent = known;
  }
  return {*target, std::move(sent), body.empty() ? nullptr : std::make_shared<const std::string>(std::move(body)), headers};
}

}  // namespace

request_plan check_options(const client_options& o) { return check_options(o, o.body); }

request_plan check_options(const client_options& o, std::string body) {
  request_plan plan = check_request(o.url, o.method, o.headers, std::move(body));
  if (o.max_id_length == 0 || o.max_id_length > 32 * 1024) refuse("max_id_length must be in 1..32768");
  if (!is_field_value(o.last_event_id)) refuse("last_event_id has a control byte (CR, LF, NUL...)");
  if (o.last_event_id.size() > o.max_id_length) refuse("last_event_id is longer than max_id_length");
  if (o.connect_timeout.count() <= 0) refuse("connect_timeout must be > 0");
  if (o.idle_timeout.count() < 0) refuse("idle_timeout must be >= 0 (0: none)");
  if (o.reconnection_time.count() < 0) refuse("reconnection_time must be >= 0");
  const auto& b = o.backoff;
  if (b.factor_percent < 100 || b.factor_percent > 10000) refuse("backoff.factor_percent must be in 100..10000");
  if (b.jitter_percent > 100) refuse("backoff.jitter_percent must be in 0..100");
  if (b.min_delay.count() < 1) refuse("backoff.min_delay must be >= 1 ms");
  if (b.max_delay.count() < 0) refuse("backoff.max_delay must be >= 0");
  if (o.max_redirects < 0) refuse("max_redirects must be >= 0");
  if (o.read_buffer_size < 1024) refuse("read_buffer_size below 1024");
  if (o.attempt_hook_timeout.count() <= 0) refuse("attempt_hook_timeout must be > 0");
  plan.compression = o.compression;
  return plan;
}

hook_outcome check_attempt_request(attempt_request r) {
  hook_outcome out;
  try {
    out.plan = check_request(r.url, r.method, r.headers, std::move(r.body));
  } catch (const client_options_error& e) {
    out.refusal = std::string("the attempt hook's request can't be sent: ") + e.what();
  }
  return out;
}

attempt_request to_attempt_request(const request_plan& plan) {
  return {plan.target.str(), plan.method, plan.headers, plan.body ? *plan.body : std::string()};
}

bool sendable_id(std::string_view id, std::size_t max_id_length) { return id.size() <= max_id_length && is_field_value(id); }

std::string_view accept_encoding(bool compression) { return compression ? "gzip, deflate" : "identity"; }

request_head build_request(const request_plan& plan, std::string_view last_event_id_to_send) {
  request_head head;
  head.method = plan.method;
  head.target = plan.target.target;
  const std::string* host = first_value(plan.headers, "Host");
  const std::string* agent = first_value(plan.headers, "User-Agent");
  head.fields.emplace_back("Host", host ? *host : plan.target.authority());
  head.fields.emplace_back("User-Agent", agent ? *agent : "ssekit");
  for (const auto& [name, value] : plan.headers) {
    if (iequals(name, "Host") || iequals(name, "User-Agent") || iequals(name, "Accept") || iequals(name, "Cache-Control") ||
        is_owned(name)) {
      continue;
    }
    head.fields.emplace_back(name, value);
  }
  head.fields.emplace_back("Accept", "text/event-stream");
  head.fields.emplace_back("Cache-Control", "no-cache");
  // fetch's "no-store" cache mode (an EventSource's) adds it unless the
  // request has one: HTTP/1.0 caches know only Pragma.
  if (!first_value(plan.headers, "Pragma")) head.fields.emplace_back("Pragma", "no-cache");
  head.fields.emplace_back("Accept-Encoding", std::string(accept_encoding(plan.compression)));
  if (!last_event_id_to_send.empty()) head.fields.emplace_back("Last-Event-ID", std::string(last_event_id_to_send));
  head.has_body = plan.body || plan.method == "POST" || plan.method == "PUT" || plan.method == "PATCH";
  return head;
}

std::string extract_mime_essence(const header_list& headers) {
  std::string essence;
  const std::string all = combined(headers, "Content-Type");
  for (const auto value : split_values(all)) {
    std::string e = mime_essence(value);
    if (e.empty() || e == "*/*") continue;
    essence = std::move(e);
  }
  return essence;
}

std::optional<std::size_t> missing_reason_space(std::string_view s) noexcept {
  const auto digit = [&](std::size_t i) { return s[i] >= '0' && s[i] <= '9'; };
  // "HTTP/" DIGIT "." DIGIT SP 3DIGIT, then the line's end.
  constexpr std::size_t at = 12;
  if (s.size() <= at || !s.starts_with("HTTP/") || !digit(5) || s[6] != '.' || !digit(7) || s[8] != ' ') return std::nullopt;
  if (!digit(9) || !digit(10) || !digit(11)) return std::nullopt;
  if (s[at] != '\r' && s[at] != '\n') return std::nullopt;
  return at;
}

namespace {

// Control bytes other than HTAB and NUL in text[from...] become spaces, as
// Chromium reads them (NUL it refuses, and Beast does); whether any did.
bool blank_controls(std::string& text, std::size_t from) {
  bool any = false;
  for (std::size_t i = from; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if ((u < 0x20 && u != '\t' && u != 0) || u == 0x7f) {
      text[i] = ' ';
      any = true;
    }
  }
  return any;
}

}  // namespace

std::optional<repaired> repaired_head(std::string_view buffered) {
  std::vector<std::string_view> lines;  // without their ends
  bool changed = false;
  std::size_t size = 0;
  for (std::size_t at = 0;;) {
    const std::size_t lf = buffered.find('\n', at);
    if (lf == std::string_view::npos) return std::nullopt;  // not all there
    const bool cr = lf > at && buffered[lf - 1] == '\r';
    changed = changed || !cr;
    const std::string_view line = buffered.substr(at, lf - at - (cr ? 1 : 0));
    at = lf + 1;
    if (line.empty() && lines.empty()) {  // before the status line: skipped
      changed = true;
      continue;
    }
    if (line.empty()) {  // the blank line that ends the head
      size = at;
      break;
    }
    lines.push_back(line);
  }
  // "http/1.1" (the name is case-insensitive to Chromium) and versions
  // above 1.1 ("HTTP/2 200" over HTTP/1 framing) read as HTTP/1.1 (RFC
  // 9110 2.5); HTTP/0.9 and 1.0 stay (Beast refuses 0.9, as Chromium does).
  std::string status_line(lines[0]);
  if (status_line.size() > 5 && iequals(std::string_view(status_line).substr(0, 5), "HTTP/")) {
    std::size_t i = 5;
    unsigned major = 0;
    unsigned minor = 0;
    while (i < status_line.size() && status_line[i] >= '0' && status_line[i] <= '9' && major < 100) major = major * 10 + static_cast<unsigned>(status_line[i++] - '0');
    const bool has_minor = i + 1 < status_line.size() && status_line[i] == '.' && status_line[i + 1] >= '0' && status_line[i + 1] <= '9';
    if (has_minor) {
      ++i;
      while (i < status_line.size() && status_line[i] >= '0' && status_line[i] <= '9' && minor < 100) minor = minor * 10 + static_cast<unsigned>(status_line[i++] - '0');
    }
    if (i > 5 && i < status_line.size() && status_line[i] == ' ') {
      std::string version = status_line.substr(0, i);
      if (major >= 2 || (major == 1 && has_minor && minor >= 2)) version = "HTTP/1.1";
      version.replace(0, 5, "HTTP/");
      if (version != std::string_view(status_line).substr(0, i)) {
        status_line.replace(0, i, version);
        changed = true;
      }
    }
  }
  // After the version: more than one space before the code is one, and
  // control bytes other than NUL in the reason phrase are spaces (Chromium
  // reads "HTTP/1.1  200" and "404 Not\x1bFound"; Beast refuses both, and
  // a 404 was then a malformed head retried for ever).
  if (const std::size_t gap = status_line.find(' '); gap != std::string::npos) {
    const std::size_t code = status_line.find_first_not_of(' ', gap);
    if (code != std::string::npos && code > gap + 1) {
      status_line.erase(gap + 1, code - gap - 1);
      changed = true;
    }
    changed = blank_controls(status_line, gap + 1) || changed;
  }
  struct field {
    std::string_view name;
    std::string value;
  };
  std::vector<field> fields;
  bool continued = false;  // the field line before is kept: an obs-fold continues it
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line[0] == ' ' || line[0] == '\t') {
      // obs-fold (RFC 9112 5.2): read as one SP and the rest of the field
      // line before it; with that line dropped (or none), it goes too, and
      // never continues another field.
      changed = true;
      if (continued) {
        std::string part(trim(line));
        blank_controls(part, 0);
        fields.back().value.append(" ").append(part);
      }
      continue;
    }
    const std::size_t colon = line.find(':');
    const std::string_view name = colon == std::string_view::npos ? std::string_view{} : line.substr(0, colon);
    const std::size_t name_end = name.find_last_not_of(" \t") + 1;  // npos + 1 == 0
    continued = name_end != 0 && is_token(name.substr(0, name_end));
    if (!continued) {
      changed = true;
      continue;
    }
    changed = changed || name_end != name.size();
    std::string value(line.substr(colon + 1));
    changed = blank_controls(value, 0) || changed;
    fields.push_back({name.substr(0, name_end), std::move(value)});
  }
  // Transfer-Encoding's codings, as the client reads them.
  std::vector<std::string_view> codings;
  std::size_t te_fields = 0;
  for (const field& f : fields) {
    if (!iequals(f.name, "Transfer-Encoding")) continue;
    ++te_fields;
    for (const auto coding : split_values(f.value)) codings.push_back(coding);
  }
  // One pass (a 64 KiB head holds thousands): the last chunked is kept.
  std::size_t last_chunked = codings.size();
  for (std::size_t i = 0; i < codings.size(); ++i) {
    if (iequals(codings[i], "chunked")) last_chunked = i;
  }
  std::string te;
  for (std::size_t i = 0; i < codings.size(); ++i) {
    const auto c = codings[i];
    if (c.empty() || iequals(c, "identity") || (iequals(c, "chunked") && i != last_chunked)) {
      changed = true;
      continue;
    }
    te += te.empty() ? "" : ", ";
    te += c;
  }
  changed = changed || te_fields > 1;
  bool te_written = false;
  std::string out;
  out.append(status_line).append("\r\n");
  for (const field& f : fields) {
    if (iequals(f.name, "Transfer-Encoding")) {
      if (!te.empty() && !std::exchange(te_written, true)) out.append("Transfer-Encoding: ").append(te).append("\r\n");
      continue;
    }
    if (iequals(f.name, "Content-Length")) {
      const std::string_view n = trim(f.value);
      // Chromium's bound (a non-negative int64): at 19 digits a valid
      // length was dropped, and a stream cut short ended cleanly.
      constexpr std::string_view int64_max = "9223372036854775807";
      const std::string_view digits = n.substr(std::min(n.find_first_not_of('0'), n.size()));
      const bool number = !n.empty() && n.find_first_not_of("0123456789") == std::string_view::npos &&
                          (digits.size() < int64_max.size() || (digits.size() == int64_max.size() && digits <= int64_max));
      // A list ("5, 5") is Beast's to judge.
      const bool list = n.find(',') != std::string_view::npos;
      if (!te.empty() || (!number && !list)) {
        changed = true;
        continue;
      }
    }
    out.append(f.name).append(":").append(f.value).append("\r\n");
  }
  if (!changed) return std::nullopt;
  out.append("\r\n");
  return repaired{size, std::move(out)};
}

std::optional<std::string> chunk_framing::repair(std::string_view fresh) {
  std::string out;
  bool changed = false;
  std::size_t copied = 0;  // of fresh, into out
  // `text` goes in before fresh[i]; with `replace`, it takes fresh[i]'s place.
  const auto put = [&](std::size_t i, std::string_view text, bool replace = false) {
    out.append(fresh.substr(copied, i - copied));
    out.append(text);
    copied = replace ? i + 1 : i;
    changed = true;
  };
  const auto finish = [&]() -> std::optional<std::string> {
    if (!changed) return std::nullopt;
    out.append(fresh.substr(copied));
    return out;
  };
  // Framing it can't follow: Beast refuses it; nothing more is changed.
  const auto give_up = [&] {
    at_ = place::done;
    return finish();
  };
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    const char c = fresh[i];
    switch (at_) {
      case place::size: {
        const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit >= 0) {
          if (left_ > (std::numeric_limits<std::uint64_t>::max() >> 4)) return give_up();
          left_ = left_ * 16 + static_cast<unsigned>(digit);
          digits_ = true;
          break;
        }
        if (!digits_) return give_up();
        at_ = place::line;
        line_ = 0;
        [[fallthrough]];
      }
      case place::line:  // after the size: blanks, an extension, then the line end
        if (cr_ && c != '\n') return give_up();  // a CR inside the line
        if (c == '\r' || c == '\n') {
          // Spaces alone ("5 ") get an extension, as Chromium reads them (a
          // tab there it refuses); an extension with no name ("5;") a name;
          // a bare LF its CR.
          if (!cr_ && tab_ && !ext_) return give_up();
          const std::string_view add = cr_ ? "" : ext_ && line_ == 0 ? "x" : blanks_ && !ext_ ? ";x" : "";
          if (c == '\r') {
            if (!add.empty()) put(i, add);
            cr_ = true;
            break;
          }
          if (!cr_) {
            put(i, add);
            put(i, "\r");
          }
          cr_ = ext_ = blanks_ = tab_ = false;
          at_ = left_ == 0 ? place::trailer : place::data;
          line_ = 0;
        } else if (ext_) {
          // Its content is ignored (RFC 9112 7.1.1): what Beast's grammar
          // would refuse (a quoted string, blanks) becomes a token.
          if (!is_token_char(c)) put(i, "x", true);
          ++line_;
        } else if (c == ';') {
          ext_ = true;
        } else if (c == ' ' || c == '\t') {
          blanks_ = true;
          tab_ = tab_ || c == '\t';
        } else {
          return give_up();
        }
        break;
      case place::data: {
        const std::size_t skip = static_cast<std::size_t>(std::min<std::uint64_t>(left_, fresh.size() - i));
        left_ -= skip;
        i += skip - 1;
        if (left_ == 0) at_ = place::data_end;
        break;
      }
      case place::data_end:
        if (c == '\r') {
          at_ = place::data_end_lf;
          break;
        }
        if (c != '\n') return give_up();
        put(i, "\r");
        [[fallthrough]];
      case place::data_end_lf:
        if (c != '\n') return give_up();
        at_ = place::size;
        digits_ = false;
        break;
      case place::trailer:
        if (c == '\n') {
          if (!cr_) put(i, "\r");
          cr_ = false;
          if (line_ == 0) at_ = place::done;
          line_ = 0;
        } else {
          cr_ = c == '\r';
          if (!cr_) ++line_;
        }
        break;
      case place::done: return finish();  // what follows the message is not its framing
    }
  }
  return finish();
}

std::optional<std::size_t> response_head_size(std::string_view buffered) noexcept {
  // Blank lines before the status line are skipped, as repaired_head()
  // does: the head ends at the first blank line after one that is not.
  // (Only a first one was: two blank lines were taken for an empty head,
  // which Beast refused, and the stream was retried for ever.) The caller
  // bounds `buffered` by the head limit.
  bool started = false;
  for (std::size_t at = 0;;) {
    const std::size_t lf = buffered.find('\n', at);
    if (lf == std::string_view::npos) return std::nullopt;
    const bool blank = lf == at || (lf == at + 1 && buffered[at] == '\r');
    if (blank && started) return lf + 1;
    started = started || !blank;
    at = lf + 1;
  }
}

verdict judge_response(int status, const header_list& headers, bool compression) {
  verdict v;
  v.content_type = combined(headers, "Content-Type");
  if (status >= 100 && status < 200 && status != 101) {
    v.kind = verdict_kind::interim;
    return v;
  }
  if (is_redirect_status(status)) {
    // An empty Location is none (Chromium): followed, it went back to the
    // same URL until the redirect limit.
    if (const std::string* location = first_value(headers, "Location"); location && !trim(*location).empty()) {
      v.kind = verdict_kind::redirect;
      v.location = *location;
      // fetch reads one Location; Chrome fails a response whose Locations
      // differ (a server that cannot agree with itself is not followed).
      for (const auto& [name, value] : headers) {
        if (iequals(name, "Location") && value != *location) v.conflicting_locations = true;
      }
      if (v.conflicting_locations) v.location = combined(headers, "Location");
      return v;
    }
  }
  if (status == 204) {
    v.kind = verdict_kind::no_content;
    return v;
  }
  if (status != 200) {
    v.kind = verdict_kind::refused_status;
    return v;
  }
  if (extract_mime_essence(headers) != "text/event-stream") {
    v.kind = verdict_kind::wrong_content_type;
    return v;
  }
  // A transfer coding other than chunked (gzip, chunked; or one that makes
  // Beast read to the close) would reach the parser still encoded: the
  // events would be lost without an error.
  // chunked twice (RFC 9112 7: a sender must not) would be undone once by
  // Beast and reach the parser still framed: the events corrupted, silently.
  const std::string transfer_codings = combined(headers, "Transfer-Encoding");  // outlives the views
  bool chunked = false;
  for (const auto name : split_values(transfer_codings)) {
    if (name.empty() || (iequals(name, "chunked") && !std::exchange(chunked, true))) continue;
    v.kind = verdict_kind::unsupported_encoding;
    v.stacked = iequals(name, "chunked");
    v.encoding = v.stacked ? transfer_codings : std::string(name);
    v.transfer_coding = true;
    return v;
  }
  const std::string codings = combined(headers, "Content-Encoding");
  for (const auto name : split_values(codings)) {
    const auto coding = coding_from_name(name);
    if (coding == content_coding::identity) continue;
    // One coding at most: a stack (gzip, gzip) is no server's habit.
    if (!compression || !coding || v.coding != content_coding::identity) {
      v.kind = verdict_kind::unsupported_encoding;
      v.stacked = compression && coding && v.coding != content_coding::identity;
      v.encoding = v.stacked ? codings : std::string(name);
      return v;
    }
    v.coding = *coding;
  }
  v.kind = verdict_kind::open;
  return v;
}

std::optional<content_coding> excerpt_coding(const header_list& headers, bool compression) {
  if (!compression) return std::nullopt;
  const std::string codings = combined(headers, "Content-Encoding");
  std::optional<content_coding> found;
  for (const auto name : split_values(codings)) {
    const auto coding = coding_from_name(name);
    if (coding == content_coding::identity) continue;
    if (!coding || found) return std::nullopt;  // unknown, or stacked: shown as sent
    found = coding;
  }
  return found;
}

redirect_outcome follow_redirect(const request_plan& current, int status, std::string_view location, int redirects_done,
                                 const client_options& options) {
  redirect_outcome out;
  const auto target = resolve_url(current.target, location);
  if (!target) {
    const std::string limit = std::to_string(max_url_length) + " bytes";
    if (location.size() > max_url_length) out.refusal = "a redirect Location longer than " + limit;
    // resolve_url() also refuses a URL that comes out too long (a long
    // relative Location on a long URL): that was "bad redirect Location".
    else if (current.target.str().size() + location.size() > max_url_length)
      out.refusal = "a redirect Location that is invalid or resolves to a URL longer than " + limit + ": " + escape_text(location);
    else out.refusal = "bad redirect Location: " + escape_text(location);
    out.retryable = !names_other_scheme(location);
    return out;
  }
  if (redirects_done >= options.max_redirects) {
    out.refusal = "more than " + std::to_string(options.max_redirects) + " redirects";
    out.retryable = true;
    return out;
  }
  if (current.target.tls() && !target->tls() && !options.allow_https_to_http_redirect) {
    out.refusal = "refused a redirect from https to http: " + escape_text(target->str());
    return out;
  }
  request_plan next = current;
  next.target = *target;
  // fetch's rules: 303 (except HEAD), and 301/302 after POST, become GET
  // without a body.
  if ((status == 303 && current.method != "HEAD") || ((status == 301 || status == 302) && current.method == "POST")) {
    next.method = "GET";
    next.body.reset();
    std::erase_if(next.headers, [](const auto& h) {
      return iequals(h.first, "Content-Type") || iequals(h.first, "Content-Encoding") || iequals(h.first, "Content-Language") ||
             iequals(h.first, "Content-Location");
    });
  }
  // Credentials stay with the origin they were meant for; so does a Host
  // the user chose for the first origin.
  if (target->origin() != current.target.origin()) {
    std::erase_if(next.headers, [](const auto& h) {
      return iequals(h.first, "Authorization") || iequals(h.first, "Cookie") || iequals(h.first, "Proxy-Authorization") ||
             iequals(h.first, "Host");
    });
  }
  out.next = std::move(next);
  return out;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Exactly `n` ASCII digits at the front of `s`, consumed.
std::optional<unsigned> digits(std::string_view& s, std::size_t n) {
  if (s.size() < n) return std::nullopt;
  unsigned v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  s.remove_prefix(n);
  return v;
}

bool literal(std::string_view& s, std::string_view lit) {
  if (s.substr(0, lit.size()) != lit) return false;
  s.remove_prefix(lit.size());
  return true;
}

// "Jan".."Dec" (case-sensitive, as RFC 9110's grammar): 1..12.
std::optional<unsigned> month(std::string_view& s) {
  static constexpr std::string_view names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < 12; ++i) {
    if (literal(s, names[i])) return i + 1;
  }
  return std::nullopt;
}

// "HH:MM:SS" in range (60: a leap second).
std::optional<std::int64_t> time_of_day(std::string_view& s) {
  const auto h = digits(s, 2);
  if (!h || !literal(s, ":")) return std::nullopt;
  const auto m = digits(s, 2);
  if (!m || !literal(s, ":")) return std::nullopt;
  const auto sec = digits(s, 2);
  if (!sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  return static_cast<std::int64_t>(*h) * 3600 + *m * 60 + *sec;
}

std::optional<std::int64_t> to_seconds(std::int64_t year, unsigned mon, unsigned day, std::int64_t tod) {
  static constexpr unsigned month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const unsigned last = month_days[mon - 1] + (mon == 2 && is_leap(year) ? 1 : 0);
  if (day < 1 || day > last) return std::nullopt;
  return days_from_civil(year, mon, day) * 86400 + tod;
}

}  // namespace

std::optional<std::int64_t> parse_http_date(std::string_view s, std::int64_t now_seconds) {
  static constexpr std::string_view short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view long_days[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                                   "Friday", "Saturday", "Sunday"};
  // rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT"
  for (const auto name : long_days) {
    std::string_view r = s;
    if (!literal(r, name) || !literal(r, ", ")) continue;
    const auto day = digits(r, 2);
    if (!day || !literal(r, "-")) return std::nullopt;
    const auto mon = month(r);
    if (!mon || !literal(r, "-")) return std::nullopt;
    const auto yy = digits(r, 2);
    if (!yy || !literal(r, " ")) return std::nullopt;
    const auto tod = time_of_day(r);
    if (!tod || r != " GMT") return std::nullopt;
    // RFC 9110 5.6.7: a year that appears more than 50 years in the future
    // is the most recent past year with the same last two digits.
    const std::int64_t now_year = 1970 + now_seconds / 31556952;  // close enough for a 50-year window
    std::int64_t year = now_year - (now_year % 100) + *yy;
    if (year > now_year + 50) year -= 100;
    return to_seconds(year, *mon, *day, *tod);
  }
  for (const auto name : short_days) {
    std::string_view r = s;
    if (!literal(r, name)) continue;
    if (literal(r, ", ")) {
      // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
      const auto day = digits(r, 2);
      if (!day || !literal(r, " ")) return std::nullopt;
      const auto mon = month(r);
      if (!mon || !literal(r, " ")) return std::nullopt;
      const auto year = digits(r, 4);
      if (!year || !literal(r, " ")) return std::nullopt;
      const auto tod = time_of_day(r);
      if (!tod || r != " GMT") return std::nullopt;
      return to_seconds(*year, *mon, *day, *tod);
    }
    // asctime-date: "Sun Nov  6 08:49:37 1994" (day: 2DIGIT or SP 1DIGIT)
    if (!literal(r, " ")) return std::nullopt;
    const auto mon = month(r);
    if (!mon || !literal(r, " ")) return std::nullopt;
    const auto day = literal(r, " ") ? digits(r, 1) : digits(r, 2);
    if (!day || !literal(r, " ")) return std::nullopt;
    const auto tod = time_of_day(r);
    if (!tod || !literal(r, " ")) return std::nullopt;
    const auto year = digits(r, 4);
    if (!year || !r.empty()) return std::nullopt;
    return to_seconds(*year, *mon, *day, *tod);
  }
  return std::nullopt;
}

std::optional<milliseconds> retry_after(const header_list& headers, std::int64_t now_seconds) {
  const std::string* value = first_value(headers, "Retry-After");
  if (!value) return std::nullopt;
  const std::string_view v = trim(*value);
  const auto cap = static_cast<std::uint64_t>(max_reconnection_time.count() / 1000);
  std::uint64_t seconds = 0;
  if (!v.empty() && v.front() >= '0' && v.front() <= '9') {
    const auto r = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (r.ptr != v.data() + v.size()) return std::nullopt;
    // Out of range: as long as allowed.
    if (r.ec == std::errc::result_out_of_range || seconds > cap) seconds = cap;
    else if (r.ec != std::errc()) return std::nullopt;
  } else {
    const auto at = parse_http_date(v, now_seconds);
    if (!at) return std::nullopt;
    std::int64_t reference = now_seconds;
    if (const std::string* date = first_value(headers, "Date")) {
      if (const auto server_now = parse_http_date(trim(*date), now_seconds)) reference = *server_now;
    }
    // Both are within years 0..9999 (4 digits), so the difference can't overflow.
    const std::int64_t wait = *at - reference;
    seconds = wait <= 0 ? 0 : std::min(static_cast<std::uint64_t>(wait), cap);
  }
  return milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

std::optional<milliseconds> retry_after(const header_list& headers) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return retry_after(headers, static_cast<std::int64_t>(now.count()));
}

bool is_refusal_status(int status, bool has_attempt_hook) {
  return status == 429 || status == 502 || status == 503 || status == 504 || (status == 401 && has_attempt_hook);
}

bool may_send_again(bool has_body, bool replay_body, const attempt_progress& p, bool has_attempt_hook) {
  if (!has_body || replay_body) return true;
  if (p.opened) return false;
  if (p.status != 0) return is_refusal_status(p.status, has_attempt_hook);
  return !p.request_sent;
}

bool reconnects_after_status(int status, bool retry_server_errors, bool has_attempt_hook) {
  if (status == 401) return has_attempt_hook;
  // RFC 9110 15: a status outside 100..599 is invalid and is processed as a
  // 5xx (Beast reads any three digits, so 000..099 and 600..999 arrive here).
  return retry_server_errors && (status >= 500 || status < 100 || status == 429);
}

milliseconds reconnect_delay(const backoff_options& b, milliseconds reconnection_time, std::uint64_t failures,
                             std::uint32_t random) {
  const std::uint64_t limit = to_ms(max_reconnection_time);
  const std::uint64_t floor = std::min(std::max<std::uint64_t>(to_ms(b.min_delay), 1), limit);
  const std::uint64_t base = std::clamp(to_ms(reconnection_time), floor, limit);
  if (!b.enabled || failures <= 1) return milliseconds(static_cast<std::int64_t>(base));
  const std::uint64_t cap = std::clamp(to_ms(b.max_delay), base, limit);
  std::uint64_t grown = base;
  // Bounded by the cap, not by `failures`: each round grows by at least
  // 1 ms and 1%, so at most ~2,000 rounds up to 24 h.
  const std::uint64_t factor = std::clamp<std::uint64_t>(b.factor_percent, 100, 10000);
  for (std::uint64_t i = 1; i < failures && grown < cap && factor > 100; ++i) grown = scale(grown, factor, cap);
  grown = std::min(grown, cap);
  // Jitter: subtract up to jitter_percent of it, in 1/1000 steps of `random`,
  // never below `base`: a server's retry: is honoured (the npm package's
  // reconnectDelay() is the same rule).
  const std::uint64_t jitter = std::min<std::uint64_t>(b.jitter_percent, 100);
  const std::uint64_t reduce = grown * jitter / 100 * (random % 1001) / 1000;
  return milliseconds(static_cast<std::int64_t>(std::max(grown - reduce, base)));
}

}  // namespace ssekit::detail

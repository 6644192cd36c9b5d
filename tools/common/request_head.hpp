// Reading a request head with Beast's parser, as both servers do (the demo
// server and the contract service). Header-only, so that only the servers'
// files that already include Beast include it.
//
// Why not header_limit() alone: Beast 1.81's basic_parser compares
// header_limit with the unconsumed bytes of one put() call only. Fields it
// parsed are consumed, and the cumulative check (its `skip_` scan for the
// end of the head) is armed only when 3 or more bytes of an incomplete field
// remain; a head of 4-byte fields ("a:\r\n") read in 4096-byte pieces
// always leaves 2, so each put() consumes what it got and the head grows
// without bound. put_head() counts the consumed bytes itself.
#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace ssekit::tools {

// Gives the parser what `buffer` holds and consumes what it used, adding it
// to `consumed` (zero it per request). http::error::need_more: read more
// into `buffer`; header_limit once the head would pass `limit` bytes. Call
// until the header is done (is_header_done()); then read the body as usual.
template <class Parser, class Buffer>
boost::system::error_code put_head(Parser& parser, Buffer& buffer, std::size_t& consumed, std::size_t limit) {
  boost::system::error_code ec = boost::beast::http::error::need_more;
  // RFC 9112 2.2: empty lines before a request line (a client's stray CRLF
  // after a body) are skipped, not a 400; they count against the limit.
  while (!parser.got_some() && buffer.size() != 0) {
    const auto* p = static_cast<const char*>(buffer.data().data());
    const std::size_t n = p[0] == '\n' ? 1 : p[0] == '\r' && buffer.size() >= 2 && p[1] == '\n' ? 2 : 0;
    if (n == 0) break;
    buffer.consume(n);
    consumed += n;
  }
  if (!parser.got_some() && buffer.size() == 1 && *static_cast<const char*>(buffer.data().data()) == '\r') {
    if (consumed + 1 >= limit) return boost::beast::http::error::header_limit;
    return ec;  // CR: its LF may come next
  }
  if (buffer.size() != 0) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    consumed += used;
  }
  if (ec == boost::beast::http::error::need_more && consumed + buffer.size() >= limit)
    ec = boost::beast::http::error::header_limit;
  return ec;
}

namespace detail {
template <class Stream, class Buffer, class Parser, class Handler>
void read_body_from(Stream& stream, Buffer& buffer, Parser& parser, std::uint64_t body_limit, std::uint64_t parsed, Handler handler) {
  boost::beast::http::async_read_some(
      stream, buffer, parser,
      [&stream, &buffer, &parser, body_limit, parsed, handler = std::move(handler)](boost::system::error_code ec, std::size_t n) mutable {
        parsed += n;
        if (!ec && parsed > 4 * body_limit) ec = boost::beast::http::error::body_limit;
        if (ec || parser.is_done()) return handler(ec);
        read_body_from(stream, buffer, parser, body_limit, parsed, std::move(handler));
      });
}
}  // namespace detail

// Reads the rest of a request (after put_head) into `parser`: at most 4x
// `body_limit` bytes parsed, chunk-size lines, extensions and trailers
// included (room for small chunks: a body in 16-byte chunks carries 4 bytes
// of framing per 16). Beast's body_limit counts chunk data only, and the
// buffer's cap one line at a time: 60 MB of chunk extensions around a
// 1,000-byte body were read to the end (a probe). Completes with
// http::error::body_limit (413) past it.
// A chunked body's trailer fields are dropped: Beast adds them to the
// head's fields, and RFC 9112 7.1.2 forbids merging them into the header
// section (a trailer Host was a second Host, a trailer Last-Event-ID chose
// the replay, a trailer "Connection: close" dropped the next request).
// Known by their nodes, not their places: Beast inserts a field next to one
// of the same name, so a trailer Host sits after the head's.
template <class Stream, class Buffer, class Parser, class Handler>
void read_body(Stream& stream, Buffer& buffer, Parser& parser, std::uint64_t body_limit, Handler handler) {
  std::vector<const void*> head_fields;
  for (const auto& field : parser.get()) head_fields.push_back(&field);
  std::sort(head_fields.begin(), head_fields.end());
  detail::read_body_from(stream, buffer, parser, body_limit, 0,
                         [&parser, head_fields = std::move(head_fields), handler = std::move(handler)](boost::system::error_code ec) mutable {
                           auto& fields = parser.get();
                           for (auto it = fields.begin(); it != fields.end();) {
                             if (std::binary_search(head_fields.begin(), head_fields.end(), static_cast<const void*>(&*it))) ++it;
                             else it = fields.erase(it);
                           }
                           handler(ec);
                         });
}

// A request head's lines, scanned as its bytes arrive (before put_head
// parses them). RFC 9112 5.2 lets a server refuse obs-fold (a field line
// that starts with SP or HTAB) or unfold it; Beast unfolds, and a proxy in
// front that reads "Transfer-Encoding:\r\n chunked" otherwise frames the
// request otherwise (a request-smuggling precondition), so both servers
// refuse it (400), as nginx does.
struct head_scan {
  std::size_t scanned = 0;      // bytes of the buffer looked at
  std::size_t line_length = 0;  // of the current line, CR not counted
  std::size_t lines = 0;        // lines ended so far, from the request line
  bool head_end = false;
  bool folded = false;  // a field line started with SP or HTAB
  // RFC 9112 2.3: the request line's version has a major version other
  // than 1 ("HTTP/2.0" in HTTP/1 syntax): answer 505. A higher minor
  // version ("HTTP/1.2") is read as HTTP/1.1, as the RFC asks; Beast 1.81
  // refuses any version but 1.0 and 1.1, so scan() rewrites it first.
  bool unsupported_version = false;

  // Looks at bytes [scanned, size) up to the head's end; `field_byte(b)` is
  // called for each byte of a line after the first (it may change it).
  template <class FieldByte>
  void scan(unsigned char* bytes, std::size_t size, FieldByte field_byte) {
    for (; scanned < size && !head_end; ++scanned) {
      unsigned char& c = bytes[scanned];
      if (c == '\n') {
        // Empty lines before the request line (put_head skips them) are
        // not the head's end: counted as such, two of them stopped the scan.
        if (line_length == 0 && lines == 0) continue;
        if (lines == 0) request_line_version(bytes, scanned);
        head_end = line_length == 0;
        line_length = 0;
        ++lines;
      } else if (c != '\r') {
        if (line_length == 0 && lines > 0 && (c == ' ' || c == '\t')) folded = true;
        ++line_length;
        if (lines > 0) field_byte(c);
      }
    }
  }
  // put_head consumed `n` bytes from the buffer's front.
  void consumed(std::size_t n) { scanned -= n < scanned ? n : scanned; }

 private:
  // The request line ends at bytes[lf] (put_head has not consumed it: Beast
  // parses a request line only once its line end is there).
  void request_line_version(unsigned char* bytes, std::size_t lf) {
    const std::size_t end = lf > 0 && bytes[lf - 1] == '\r' ? lf - 1 : lf;
    if (line_length < 9 || end < 8) return;  // "X HTTP/d.d" at the least; Beast refuses shorter
    unsigned char* v = bytes + end - 8;
    const auto digit = [](unsigned char c) { return c >= '0' && c <= '9'; };
    if (std::string_view(reinterpret_cast<const char*>(v), 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7])) return;
    if (v[5] >= '2') unsupported_version = true;
    else if (v[5] == '1' && v[7] > '1') v[7] = '1';
  }
};

// Whether to send "100 Continue" before reading the body: the client asked
// (curl does before a large body, and waits a second without it) and is
// HTTP/1.1 (RFC 9110 10.1.1: not to HTTP/1.0, which may not know 1xx).
template <class Fields>
bool wants_continue(const boost::beast::http::request_header<Fields>& req) {
  return req.version() >= 11 && boost::beast::iequals(req[boost::beast::http::field::expect], "100-continue");
}
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// The Date of an answer (RFC 9110 6.6.1: an origin server with a clock
// sends it in every 2xx, 3xx and 4xx answer), as an IMF-fixdate (5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT". Neither server sent one (a probe).
inline std::string http_date(std::chrono::system_clock::time_point when = std::chrono::system_clock::now()) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  ::gmtime_r(&seconds, &parts);
  char text[64];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[parts.tm_wday % 7], parts.tm_mday,
                months[parts.tm_mon % 12], parts.tm_year + 1900, parts.tm_hour, parts.tm_min, parts.tm_sec);
  return text;
}

// Whether a request's body framing is one the servers read: no
// Transfer-Encoding, or one field that is exactly "chunked". RFC 9112 6.3:
// any other makes the length unknowable (400 and close); Beast ignores a
// coding whose last token is not chunked and would take the body for the
// next request.
template <class Fields>
bool framed_body(const boost::beast::http::request_header<Fields>& req) {
  const auto [first, last] = req.equal_range(boost::beast::http::field::transfer_encoding);
  if (first == last) return true;
  return std::next(first) == last && boost::beast::iequals(first->value(), "chunked");  // Beast trims values
}

// Whether the connection stays open after the answer to `req` (RFC 9112
// 9.3): HTTP/1.1 unless a Connection field has the "close" option, HTTP/1.0
// only with "keep-alive" and no "close". Every Connection field line counts
// (RFC 9110 5.3, 7.6.1): Beast 1.81's keep_alive() reads the first one only,
// and a "close" in a second kept the connection for the next request.
// RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
// framing (a proxy in front may have framed it otherwise): answer, close.
template <class Fields>
bool keeps_alive(const boost::beast::http::request_header<Fields>& req) {
  if (req.version() < 11 && req.count(boost::beast::http::field::transfer_encoding) != 0) return false;
  bool close = false;
  bool keep_alive = false;
  const auto [first, last] = req.equal_range(boost::beast::http::field::connection);
  for (auto it = first; it != last; ++it) {
    std::string_view rest(it->value().data(), it->value().size());
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view token = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (boost::beast::iequals(token, "close")) close = true;
      else if (boost::beast::iequals(token, "keep-alive")) keep_alive = true;
    }
  }
  if (close) return false;
  return req.version() >= 11 || keep_alive;
}

// RFC 9112 3.2: an HTTP/1.1 request must carry exactly one Host field
// (HTTP/1.0 may omit it), and no request more than one; the server answers
// 400 otherwise. An empty value is allowed (a target without an authority).
// Empty when the request is fine, else the reason.
template <class Fields>
std::string_view host_field_problem(const boost::beast::http::request_header<Fields>& req) {
  const auto [first, last] = req.equal_range(boost::beast::http::field::host);  // case-insensitive
  if (first == last) return req.version() >= 11 ? "an HTTP/1.1 request needs a Host header" : std::string_view{};
  if (std::next(first) != last) return "more than one Host header";
  // RFC 9112 3.2: 400 for a Host field with an invalid value too; it is
  // uri-host [":" port] (RFC 9110 7.2), or empty. The contract service
  // builds Location from it.
  const auto value = first->value();
  if (!value.empty()) {
    const auto authority = boost::urls::parse_authority(std::string_view(value.data(), value.size()));
    if (!authority || authority->has_userinfo()) return "a Host header that is no host[:port]";
  }
  return {};
}

// The most a server's read buffer may hold for one request: its head and
// body limits and one read more. Beast keeps in the buffer what it cannot
// parse yet, and its body_limit counts chunk data only: uncapped, a chunk
// extension, a chunk-size line or a trailer section that never ends grew
// the buffer until the request timed out (a gigabyte in 8 s). Give it to
// the flat_buffer's constructor; at the cap a read ends with
// http::error::buffer_overflow (413).
constexpr std::size_t request_buffer_limit(std::size_t head_limit, std::uint64_t body_limit) {
  return head_limit + static_cast<std::size_t>(body_limit) + 4096;
}

// The status for a request the parser refused: 431 (head too large), 413
// (body, or its chunked framing, too large) or 400.
inline unsigned refused_request_status(const boost::system::error_code& ec) {
  if (ec == boost::beast::http::error::header_limit) return 431;
  if (ec == boost::beast::http::error::body_limit || ec == boost::beast::http::error::buffer_overflow) return 413;
  return 400;
}

}  // namespace ssekit::tools

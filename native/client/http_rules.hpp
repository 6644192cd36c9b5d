// The client's HTTP rules that need no socket: option checks, the request
// head, the verdict on a response head, redirects, Retry-After and the
// reconnect delay. Pure functions, no Beast, no Asio: unit-tested directly
// (tests/native/http_rules_test.cpp) and shared by the state machine
// (client.cpp) and the fuzz targets.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "content_decoder.hpp"
#include "ssekit/client.hpp"
#include "url.hpp"

namespace ssekit::detail {

// RFC 9110 5.6.2 token (methods, header names).
bool is_token(std::string_view s);
// RFC 9110 5.5 field-value: visible ASCII, obs-text (0x80-0xFF), SP and HTAB;
// no other control byte (C0, DEL). What the client will send.
bool is_field_value(std::string_view s);

// Server-controlled text for a client_error message: C0 and C1 controls, DEL
// and ESC become \xNN (C1 as the UTF-8 pair's escape), at most `max` bytes
// of input (then "...").
std::string escape_text(std::string_view s, std::size_t max = 256);

// A URL the user gave, as a message shows it: escaped like escape_text, and
// a password (or a token: the whole userinfo when it has no ':') replaced by
// "***", so a refusal never copies a secret into a log.
std::string shown_url(std::string_view url_text);

// Bytes that open with an HTTP/2 SETTINGS or GOAWAY frame on stream 0
// (RFC 9113 4.1, 6.5, 6.8): a server that speaks only HTTP/2 ("h2c" with
// prior knowledge) answering an HTTP/1.1 request. Named in the message:
// "malformed response head: bad version" told the user nothing.
bool looks_like_http2_frames(std::string_view bytes);
// The statuses fetch follows with a Location (fetch's "redirect status").
inline bool is_redirect_status(int status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }
// Whether `bytes` start with a TLS record header (RFC 8446 5.1): what a TLS
// server answers a plain-HTTP request with, an alert (most then close) or
// a handshake record.
bool looks_like_tls_record(std::string_view bytes);

// A status line's three digits as the server sent them ("099", not "99"):
// Beast reads any three, so an invalid one is shown as it came.
std::string status_digits(int status);

// The request the client sends: what connect() replays, changed by
// redirects.
struct request_plan {
  url target;
  std::string method;
  // Shared, not copied: plans are copied per attempt and per redirect, and
  // the request in flight points into it, while a body may be tens of
  // megabytes (an LLM request with images). Null: no body.
  std::shared_ptr<const std::string> body;
  header_list headers;  // the user's, checked by check_options
  bool compression = true;  // client_options::compression
};

// Checks every option (throws client_options_error) and returns the first
// request.
request_plan check_options(const client_options& options);
// The same with the body given apart (the client moves its options' body
// in, so that it is held once).
request_plan check_options(const client_options& options, std::string body);

// Whether `id` can go out as Last-Event-ID: a field value of at most
// max_id_length bytes.
bool sendable_id(std::string_view id, std::size_t max_id_length);

// The request head, in order; the client owns Host (the user's replaces
// it), framing (Content-Length, Transfer-Encoding: from the body),
// Connection, Accept, Cache-Control, Accept-Encoding and Last-Event-ID.
struct request_head {
  std::string method;
  std::string target;
  header_list fields;
  bool has_body = false;  // sets Content-Length (even 0 for POST/PUT/PATCH)
};
request_head build_request(const request_plan& plan, std::string_view last_event_id_to_send);

// What the client does with a response head.
enum class verdict_kind {
  interim,               // 1xx (not 101): skip it, read the next head
  redirect,              // 301/302/303/307/308 with a Location
  open,                  // 200 + text/event-stream + identity or an accepted coding
  no_content,            // 204
  refused_status,        // any other status: read an excerpt, http_status
  wrong_content_type,    // 200 but not text/event-stream
  unsupported_encoding,  // 200 text/event-stream with a coding not accepted
};
struct verdict {
  verdict_kind kind = verdict_kind::refused_status;
  std::string location;      // redirect (all of them, comma-separated, when they conflict)
  bool conflicting_locations = false;  // redirect: Location headers that differ; not followed
  std::string content_type;  // the combined Content-Type as received
  std::string encoding;      // unsupported_encoding: the coding
  bool transfer_coding = false;  // unsupported_encoding: in Transfer-Encoding, not Content-Encoding
  bool stacked = false;          // unsupported_encoding: codings applied more than once (gzip, gzip; chunked, chunked)
  content_coding coding = content_coding::identity;  // open: how to decode the body
};
// `compression`: gzip and deflate are accepted (one coding; identity
// entries are ignored); otherwise only identity.
verdict judge_response(int status, const header_list& headers, bool compression = false);

// How to decode a refused response's body for client_error::body: its one
// Content-Encoding the client asked for (`compression`), identity entries
// ignored; nullopt when it has none, or codings the client can't undo.
std::optional<content_coding> excerpt_coding(const header_list& headers, bool compression);

// Where a status line that has no reason phrase and no space before its end
// ("HTTP/1.1 200\r\n") needs the space Beast requires; nullopt for any
// other start. Such lines are sent by some servers and read by curl and
// browsers (RFC 9112 4: a client ignores the reason phrase).
std::optional<std::size_t> missing_reason_space(std::string_view head_start) noexcept;

// A whole response head at the start of `buffered`, set right where Beast
// refuses what browsers read (Chromium, checked): its length in `buffered`
// and the new head, CRLF line ends. nullopt when the head is not all there
// or needs nothing. What it changes:
// - bare LF line ends get a CR (RFC 9112 2.2: a recipient may read them);
// - field lines without a colon, or whose name is empty or no token
//   ("X Foo: 1"), are dropped; white space before the colon is dropped
//   (RFC 9112 5.1 lets a client do so);
// - an obs-fold line joins the field line it continues, as one SP (RFC
//   9112 5.2), and is dropped with it;
// - control bytes in a value or the reason phrase other than HTAB and NUL
//   become SP (RFC 9110 5.5 allows either; a NUL stays, and Beast and
//   Chromium refuse it), and spaces before the status code are one;
// - framing (RFC 9112 6.3): Transfer-Encoding codings `identity` (gone from
//   the registry) and repeats of `chunked` (a duplicated header; no sender
//   may chunk twice) are dropped; with a Transfer-Encoding left, every
//   Content-Length is dropped (it overrides them); without one, a
//   Content-Length that is no number ("-1", "abc", over 2^63 - 1, as
//   Chromium reads it) is dropped (the body runs to the close).
struct repaired {
  std::size_t size = 0;
  std::string head;
};
std::optional<repaired> repaired_head(std::string_view buffered);

// The length of the response head at the start of `buffered`, through the
// blank line that ends it, lines ended by CRLF or a bare LF; nullopt while
// it is not all there.
std::optional<std::size_t> response_head_size(std::string_view buffered) noexcept;

// Chunked framing (RFC 9112 7.1) that Beast's parser (1.81) refuses and
// browsers read, set right before Beast parses it:
// - lines ended by a bare LF: Beast waits for a CRLF, and so failed the
//   stream at the close ("partial message"). Chromium and curl read them
//   (checked: after a chunk size with or without an extension, after chunk
//   data, in the last chunk and the trailer), as RFC 9112 2.2 allows for a
//   head's lines;
// - spaces after a chunk size ("5 \r\n", from some servers and proxies)
//   and extensions Beast's grammar refuses (";a=b ", ";", a bad quoted
//   string): Chromium ignores spaces there and everything after a ';'. A
//   client ignores extensions (RFC 9112 7.1.1), so they become a token.
//   Blanks before a ';' may hold tabs (RFC 9112's BWS); blanks alone may
//   not (Chromium refuses them).
// Sees each body byte once, in order, and keeps none: data is skipped by
// its size, so the cost is per framing byte.
class chunk_framing {
 public:
  // The bytes after those given before. nullopt when they need no change;
  // else `fresh` set right: a CR before each bare LF that ends a framing
  // line, and ";x" or 'x's put into a size line as said above (so it can
  // grow, never shrink). Framing it can't follow (no chunk size, a size past
  // 2^64, a size followed by anything but blanks, ';' or a line end, a CR
  // inside a size line, blanks with a tab and no ';') is
  // left to Beast to refuse, and nothing after it is changed.
  std::optional<std::string> repair(std::string_view fresh);

 private:
  enum class place { size, line, data, data_end, data_end_lf, trailer, done };
  place at_ = place::size;
  std::uint64_t left_ = 0;   // the chunk size being read, then its data bytes to skip
  bool digits_ = false;      // the size line has a hex digit
  bool blanks_ = false;      // the size line has blanks after the size
  bool tab_ = false;         // one of them a tab
  bool ext_ = false;         // the size line has a ';'
  bool cr_ = false;          // the line's last byte was a CR
  std::size_t line_ = 0;     // an extension's bytes after its ';', a trailer line's bytes
};

// The Accept-Encoding the client sends.
std::string_view accept_encoding(bool compression);

// fetch's "extract a MIME type" over every Content-Type field: the essence
// (lower case, "type/subtype") of the last valid one that is not */*, or
// empty.
std::string extract_mime_essence(const header_list& headers);

// The next request after a redirect (fetch's rules: 303 except HEAD, and
// 301/302 after POST, become GET without body and content headers;
// credentials stay with their origin; no https to http unless allowed), or
// the reason it is refused.
struct redirect_outcome {
  std::optional<request_plan> next;
  std::string refusal;  // when !next
  // A loop or a Location that is no URL is fetch's network error, after
  // which browsers reconnect (a redirect loop of a deploy may end); https to
  // http and other schemes are refused for good, as Chromium refuses them.
  bool retryable = false;
};
redirect_outcome follow_redirect(const request_plan& current, int status, std::string_view location, int redirects_done,
                                 const client_options& options);

// An HTTP-date (RFC 9110 5.6.7) in seconds since 1970-01-01T00:00:00Z: the
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the two obsolete forms
// recipients must accept, rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT",
// a two-digit year more than 50 years after `now_seconds` is the century
// before) and asctime-date ("Sun Nov  6 08:49:37 1994"). Fields are
// range-checked (day against its month and leap years; second 60 allowed);
// anything else is nullopt.
std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_seconds);

// Retry-After as a wait: delta-seconds, or an HTTP-date less the response's
// Date (both from the server's clock, so a skewed local clock doesn't
// matter), or less `now_seconds` without a usable Date. A date in the past
// is 0; the result saturates at max_reconnection_time.
std::optional<std::chrono::milliseconds> retry_after(const header_list& headers, std::int64_t now_seconds);
// The same at the system clock's now.
std::optional<std::chrono::milliseconds> retry_after(const header_list& headers);

// The statuses that say "not now" before the server acted on the request:
// 429 Too Many Requests, 502 Bad Gateway, 503 Service Unavailable, 504
// Gateway Timeout; with an attempt hook (which can refresh credentials)
// 401 Unauthorized too.
bool is_refusal_status(int status, bool has_attempt_hook);

// How far one attempt got, for the rule below.
struct attempt_progress {
  bool request_sent = false;  // the whole request was written
  bool opened = false;        // a stream opened (200 text/event-stream)
  int status = 0;             // the final response's status, 0 without one
};

// Whether a request with a body may be sent again after this attempt: with
// replay_body always; without it only when the attempt was refused before
// the server could act on it (nothing or only part of the request written:
// connection refused, DNS, TLS, connect timeout; or a refusal status). A
// stream that opened, or a request sent and then left unanswered, is not
// replayed: the server may have acted on it (an LLM call costs money).
// A request without a body may always be sent again.
bool may_send_again(bool has_body, bool replay_body, const attempt_progress& progress, bool has_attempt_hook);

// Whether an ended attempt's status is one the client reconnects after
// (rather than closing as the browser does): a refusal status with
// retry_server_errors (429, 5xx), or 401 with an attempt hook.
bool reconnects_after_status(int status, bool retry_server_errors, bool has_attempt_hook);

// The request an attempt hook returned, checked as the options are
// (URL, method, headers, body), or the reason it can't be sent.
struct hook_outcome {
  std::optional<request_plan> plan;
  std::string refusal;  // when !plan
};
// Taken by value: its body moves into the plan (it may be tens of megabytes).
hook_outcome check_attempt_request(attempt_request request);
// The request a hook is shown for `plan`.
attempt_request to_attempt_request(const request_plan& plan);

// setTimeout's limit in browsers; a longer retry: or Retry-After is clamped.
constexpr std::chrono::milliseconds max_reconnection_time{24LL * 3600 * 1000};

// The wait before reconnect number `failures` in a row (1: the first after
// a stream that delivered events or after the first failure). Integer and
// saturating; `random` is any uniformly random 32-bit value (jitter).
std::chrono::milliseconds reconnect_delay(const backoff_options& backoff, std::chrono::milliseconds reconnection_time,
                                          std::uint64_t failures, std::uint32_t random);

// A user's timeout as a timer wait: steady_clock counts nanoseconds in 64
// bits, so milliseconds above ~9.2e12 overflow in expires_after (an expiry
// in the past: an at-once timeout). Longer waits are clamped to 100 years,
// which is never.
constexpr std::chrono::milliseconds max_timer_wait{100LL * 365 * 24 * 3600 * 1000};
constexpr std::chrono::milliseconds timer_wait(std::chrono::milliseconds timeout) noexcept {
  return std::min(timeout, max_timer_wait);
}

}  // namespace ssekit::detail

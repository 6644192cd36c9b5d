// ssekit::client: a reconnecting EventSource for C++ on Boost.Asio/Beast.
//
// Behaves like the browser's EventSource where the WHATWG standard speaks
// (200 + text/event-stream opens; 204, other statuses and other content
// types close for good; the end of the stream or a network error reconnects
// after the reconnection time with Last-Event-ID) and adds what servers and
// tools need: any method, headers and body, https with verification, an idle
// timeout, redirect rules, backoff with jitter. Parsing is ssekit::parser.
//
// This header does not include Beast: the implementation is compiled once
// (native/client/client.cpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "ssekit/parser.hpp"

namespace boost::asio::ssl {
class context;
}

namespace ssekit {

namespace detail {
class transport_factory;  // the connection seam (native/client/transport.hpp)
class stream_state;       // event_stream's (native/client/event_stream.cpp)
}

enum class client_state { connecting, open, closed };
std::string_view client_state_name(client_state state) noexcept;

// Why a connection failed or ended. The names both have are the npm
// package's SseError.reason names; each side also has its own (here: TLS,
// timeouts, encodings, proxies, id_not_sent; there: invalid_url,
// invalid_response, cors_refused).
enum class client_error_reason {
  network_error,       // resolve, connect, read or write failed
  http_status,         // a status other than 200 and 204
  no_content,          // 204: the server says the stream is over
  wrong_content_type,  // 200 but not text/event-stream
  limit_exceeded,      // the stream broke a parser limit (code: ssekit::errc)
  tls_error,           // handshake or certificate verification failed
  redirect_refused,    // too many redirects, a bad or conflicting Location (these reconnect with
                       // backoff, as browsers do after fetch's network error), https to http, or
                       // another scheme (these close)
  idle_timeout,        // nothing arrived for options.idle_timeout
  connect_timeout,     // no connection within options.connect_timeout
  end_of_stream,       // the server ended the response
  unsupported_encoding,  // a Content-Encoding the client did not advertise (see client_options::compression)
  decode_error,          // a compressed stream is corrupt or cut inside a member; reconnects
  // Not an end: the last event id can't be sent as Last-Event-ID (longer
  // than max_id_length, or a control byte RFC 9110 forbids in a field
  // value). The reconnect goes on without the header; will_reconnect is true.
  id_not_sent,
  // The proxy refused to open a tunnel (CONNECT answered 407, 403, 503...)
  // or answered 407 to a request through it: status, headers and body
  // excerpt are the proxy's; error.proxy names it. Final, except a 5xx or
  // 429 to CONNECT, which reconnects with backoff (and its Retry-After).
  proxy_refused,
  // The attempt hook threw, called attempt_done::fail(), gave a request
  // that can't be sent (bad URL or header), or did not answer within
  // attempt_hook_timeout. Nothing was sent; the client backs off and tries
  // again (the hook is called again) unless reconnect is false.
  attempt_hook_failed,
};
std::string_view client_error_reason_name(client_error_reason reason) noexcept;

using header_list = std::vector<std::pair<std::string, std::string>>;

// The proxy one attempt went through, as the client chose it (re-chosen for
// every redirect and reconnect, from client_options::proxy / no_proxy or
// the environment).
struct proxy_choice {
  std::string url;     // "http://host:port" or "https://host:port" of the proxy (no credentials); empty: direct
  std::string source;  // why: "option proxy", "environment https_proxy", "environment NO_PROXY matches host"...
};

// What one connection attempt sends. The attempt hook sees the request the
// client is about to send and may change any part of it; the change stays
// for later attempts (a refreshed token is sent again on reconnect). Checked
// like the options (an invalid one is an attempt_hook_failed error).
struct attempt_request {
  std::string url;
  std::string method;
  header_list headers;  // the user's; the client still adds its own
  std::string body;
};

enum class attempt_kind {
  first,      // the constructor's
  reconnect,  // after an ended or failed attempt, or restart()
  redirect,   // following a 3xx Location
};
std::string_view attempt_kind_name(attempt_kind kind) noexcept;

struct attempt_info {
  attempt_kind kind = attempt_kind::first;
  std::uint64_t number = 1;    // 1 for the first attempt; every attempt counts
  std::uint64_t failures = 0;  // attempts in a row that ended without an event (see backoff_options)
  // reconnect: why the previous attempt ended (its reason and HTTP status,
  // 0 without one); a 401 here is the cue to refresh a token. No reason
  // before the first attempt (the npm package's previousReason: null).
  std::optional<client_error_reason> previous_reason;
  int previous_status = 0;
  // The proxy the request as it stands would go through (empty url:
  // direct); chosen again if the hook changes the URL.
  proxy_choice proxy;
};

namespace detail {
struct attempt_slot;
}

// The async attempt hook's completion: call it once, from any thread,
// with the request to send or with fail(why). Later calls, calls after the
// attempt_hook_timeout or after close() do nothing. Copyable.
class attempt_done {
 public:
  explicit attempt_done(std::shared_ptr<detail::attempt_slot> slot) : slot_(std::move(slot)) {}
  void operator()(attempt_request request) const;
  void fail(std::string why) const;

 private:
  std::shared_ptr<detail::attempt_slot> slot_;
};

// Server-controlled text in `message` (reason phrase, content type,
// Location) has its control bytes (C0, C1, DEL, ESC) escaped as \xNN.
struct client_error {
  client_error_reason reason = client_error_reason::network_error;
  std::string message;
  std::error_code code;     // the underlying error, when there is one
  int status = 0;           // the HTTP status, 0 without a response
  header_list headers;      // the response's headers, if any
  // http_status / wrong_content_type: the first KiB of the body, decoded
  // when it is gzip or deflate (which the client asked for), else as sent.
  std::string body;
  bool will_reconnect = false;
  // will_reconnect: the wait before the next attempt (Retry-After, if
  // longer, included), and when it starts (steady clock). Without a
  // reconnect both stay zero / epoch and `message` says why not (a body
  // that is not sent again, reconnect = false, a final status...).
  std::chrono::milliseconds reconnect_delay{0};
  std::chrono::steady_clock::time_point next_attempt{};
  // limit_exceeded: the offset in the response body (bytes since the
  // stream opened; decoded bytes for a compressed stream) where the limit
  // was broken, as parse_error::offset.
  std::uint64_t offset = 0;
  proxy_choice proxy;       // the attempt's route (direct: empty url)
};

struct response_info {
  int status = 0;
  header_list headers;
  std::string url;  // the URL that answered (after redirects)
  proxy_choice proxy;  // how the client reached it
};

// What client_handlers::on_diagnostic reports, for logs and metrics. Not
// called at all (no string built) when on_diagnostic is unset.
enum class diagnostic_kind {
  attempt_started,   // a connection attempt begins: url, delay = the wait before it (0 for the first)
  response,          // a response head arrived: status, url (redirects each give one)
  redirect,          // following a redirect: status, url = the new target
  bytes_received,    // stream bytes read from the socket: bytes (this read)
  reconnect_scheduled,  // an attempt ended and another follows: reason, delay
};
std::string_view diagnostic_kind_name(diagnostic_kind kind) noexcept;

struct diagnostic {
  diagnostic_kind kind = diagnostic_kind::attempt_started;
  std::string url;
  int status = 0;
  std::uint64_t bytes = 0;
  std::chrono::milliseconds delay{0};
  client_error_reason reason = client_error_reason::network_error;  // reconnect_scheduled
  std::uint64_t attempt = 0;            // attempt_info::number of the attempt (redirects and attempts the hook failed count)
};

// Counters a service can export; read from any thread (client::stats()).
struct client_stats {
  std::uint64_t events = 0;        // events delivered
  std::uint64_t bytes = 0;         // stream body bytes received, as sent: chunk framing and compressed bytes included
  std::uint64_t reconnects = 0;    // as client::reconnects()
  // The time of the read that delivered the last event; the epoch before one.
  std::chrono::system_clock::time_point last_event_time{};
};

// The wait before a reconnect, in integer milliseconds (saturating):
//   base  = max(reconnection time, min_delay)
//   delay = base x (factor_percent/100)^(failures-1), capped at max(max_delay, base),
//           minus up to jitter_percent of it at random, never below base.
// `failures` counts attempts in a row that ended without an event and did
// not stay open as long as the wait another failure would bring (a quiet
// stream that a proxy cuts when idle is no failure); the first reconnect
// after a stream that delivered events, or lived that long, waits `base`.
// min_delay is the floor of EVERY reconnect, one a server can't lower:
// `retry: 0` and closing every time (with or without an event) drives at
// most 1000/min_delay requests a second. The npm package's backoff.minDelay
// is the same rule with the same 250 ms default. Retry-After (with
// retry_server_errors) lengthens the wait, never shortens it.
struct backoff_options {
  bool enabled = true;                          // false: always `base`
  std::uint32_t factor_percent = 200;           // 100..10000 (x1..x100, as the npm package's factor): x2 per failure
  std::chrono::milliseconds max_delay{30000};
  std::uint32_t jitter_percent = 50;            // 0..100
  std::chrono::milliseconds min_delay{250};     // >= 1 ms
};

// Upper limits on options, checked by the constructor (client_options_error):
// they keep every request under the header limits servers use (8-64 KiB).
inline constexpr std::size_t max_url_length = 8000;              // RFC 9110 4.1's minimum to support
inline constexpr std::size_t max_header_name_length = 256;
inline constexpr std::size_t max_header_value_length = 16 * 1024;
inline constexpr std::size_t max_request_headers_size = 32 * 1024;  // the user's header lines as sent ("name: value" CRLF)

struct client_options {
  // http:// or https://, at most max_url_length. "localhost." and names
  // under localhost ("app.localhost") reach loopback, resolved as
  // "localhost" without DNS, as in browsers and curl (RFC 6761 6.3).
  std::string url;
  // A token; not CONNECT, TRACE or TRACK (fetch's forbidden methods).
  std::string method = "GET";
  // Names are tokens; values are RFC 9110 field values (no control byte but
  // HTAB). The client owns the framing and protocol headers: Content-Length,
  // Transfer-Encoding, Connection, Upgrade, TE, Trailer, Keep-Alive,
  // Accept-Encoding and Last-Event-ID are refused (client_options_error);
  // Accept and Cache-Control are the client's (a user value is dropped).
  // Host and User-Agent replace the client's (one of each is sent); a Host
  // is dropped on a redirect to another origin.
  header_list headers;
  // Held once from construction on (moved in options are not copied; each
  // attempt and redirect shares it), except that an attempt hook gets a
  // copy of it in its attempt_request.
  std::string body;
  // When a request with a body is sent again:
  //  - always, after an attempt the server refused before acting on it: no
  //    connection, a request not (fully) written, or a refusal status (429,
  //    502, 503, 504 with retry_server_errors; 401 with an attempt hook);
  //  - after anything else only with replay_body: a stream that opened (the
  //    server ran the request: replaying it repeats its effect, and an LLM
  //    call costs money), or a request sent and then left unanswered.
  // Without replay_body the end of such a stream closes the client.
  bool replay_body = false;
  std::string last_event_id;         // sent as Last-Event-ID on the first request
  // Longest id sent in Last-Event-ID (and accepted in last_event_id). A
  // longer id from the server is kept (last_event_id(), events) but not
  // sent; an id_not_sent notice says so. 4 KiB: far above real ids (UUIDs,
  // offsets), far below the 8 KiB request line/field limits of common
  // servers, so the request still fits with other headers. At most 32 KiB.
  std::size_t max_id_length = 4096;

  std::chrono::milliseconds reconnection_time{3000};  // until the server sends retry:
  backoff_options backoff;
  bool reconnect = true;             // false: any end or failure closes the client
  // 5xx and 429 answers reconnect (honouring Retry-After) instead of closing;
  // so do invalid statuses (000-099, 600-999: RFC 9110 15 says to process
  // them as 5xx). Other statuses close, except 401 with an attempt hook (to refresh a token).
  bool retry_server_errors = false;
  // How long an async attempt hook (on_attempt_async) may take; then the
  // attempt fails (attempt_hook_failed) and backs off. Must be > 0.
  std::chrono::milliseconds attempt_hook_timeout{10000};

  // resolve + connect + TLS + sending the request (its body too: the
  // response is read once the request is sent, so a large body over a
  // slow link needs a longer one) + response header; must be > 0. A name's
  // addresses race as RFC 8305 5 says (the next one after 250 ms or a
  // failure; the first connection wins). A refused
  // response's body excerpt has its own deadline: min(connect_timeout, 2 s).
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{0};         // 0: none; any byte (a comment too) counts

  int max_redirects = 20;            // fetch()'s limit
  bool allow_https_to_http_redirect = false;

  // TLS: certificates and host names are verified against the system's CAs,
  // or the given file / directory. SNI carries the host name (none for an
  // IP address, as RFC 6066 says; a trailing dot dropped, as for the name
  // verified), and ALPN offers http/1.1. The host must be named in the
  // certificate's subjectAltName: one naming it only in its subject CN is
  // refused (host name mismatch, and the message says the certificate has
  // no subjectAltName), as browsers refuse it. A ca_file or ca_directory
  // that can't be used (missing, not a directory) is a
  // client_options_error at construction. A failed verification is final
  // (tls_error, saying why: expired, host name mismatch, unknown issuer,
  // self-signed...); a handshake cut by the peer or answered with an
  // internal_error alert is a network_error and is retried.
  // Every certificate in ca_file or ca_directory is a trust anchor, a CA's
  // or the server's own (a pinned certificate), as in curl and browsers.
  // Clients with the same ca_file, ca_directory and
  // insecure_skip_tls_verification share one TLS context (one parsed CA
  // store) while any of them holds it; the system's store is loaded once
  // per process and kept until exit.
  std::string ca_file;
  std::string ca_directory;
  // Your own context (as Beast programs make one), instead of ca_file /
  // ca_directory (both set: client_options_error). Its trust store, client
  // certificate, ciphers and options are used as they are, by every client
  // given it; each connection still sends SNI (for a host name), offers ALPN http/1.1 and
  // verifies the certificate and host name (a verify callback of the
  // context stays in effect) unless insecure_skip_tls_verification. The
  // clients hold it (shared_ptr) as long as they may connect; don't change
  // it while they use it (OpenSSL shares it with every connection).
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  // Turns verification OFF: anyone on the path can read and change the stream.
  bool insecure_skip_tls_verification = false;

  // Proxies (README "Proxies"), as curl: unset, they come from the
  // environment (http_proxy; https_proxy, HTTPS_PROXY; all_proxy,
  // ALL_PROXY; no_proxy, NO_PROXY; lower case first, HTTP_PROXY never).
  // proxy: "http://[user:password@]host[:port]" (no scheme: http://; port
  // 1080 by default) or "https://..." (TLS to the proxy, port 443 by
  // default; its certificate and name verified as an origin's, with the
  // same CA settings) for every target, overriding the environment; "" = no
  // proxy at all. http:// targets go to the proxy in absolute-form,
  // https:// ones through a CONNECT tunnel with TLS to the origin (inside
  // the TLS to an https:// proxy). user and password (percent-decoded) go
  // to the proxy only, as Basic. Any unusable proxy URL (socks5://...),
  // from the options or the environment, is refused (client_options_error).
  // no_proxy: hosts that go direct (comma-separated: "*", host, .domain,
  // host:port, IP, IP/bits), overriding no_proxy / NO_PROXY.
  std::optional<std::string> proxy;
  std::optional<std::string> no_proxy;

  // Sends Accept-Encoding: gzip, deflate and decodes those codings (zlib),
  // event by event as the compressed bytes arrive, in bounded pieces, so
  // `limits` hold for the decoded stream. false: Accept-Encoding: identity,
  // and any coding is refused (unsupported_encoding).
  bool compression = true;
  // A compressed stream may decode to at most this many bytes per
  // compressed byte (after its first MiB): blank lines or short comments
  // inflated 1030 to 1 (deflate's ceiling) break no parser limit but cost
  // the client seconds of CPU per compressed MB. Event streams compress a
  // few to a few tens to one; one that repeats its whole state in every
  // event 100-200 to one. Over it: decode_error. 0: no limit (browsers set none).
  std::uint64_t max_compression_ratio = 1000;

  parser_options limits;             // max_line_length, max_event_size (of the decoded stream); raw_bytes too; 0 is no "unlimited": it allows nothing
  // The most one socket read takes. The buffer starts at 512 bytes and grows
  // toward this only while reads fill it, so an idle or slow stream keeps a
  // small one. 64 KiB, not 16: a fast stream then costs a quarter of the
  // recv()/epoll_wait() calls, which took 2.3-2.7x the throughput over
  // loopback (bench/native/README.md); at least 1024.
  std::size_t read_buffer_size = 64 * 1024;
};

// Handlers must not throw. If one does, the client closes (state closed,
// its I/O cancelled, no reconnect, no more handlers) and the exception
// propagates out of the io_context's run() (and out of run_client()).
struct client_handlers {
  std::function<void(const response_info&)> on_open;
  std::function<void(const event&)> on_event;          // views valid during the call
  std::function<void(std::string_view)> on_comment;
  std::function<void(std::uint64_t)> on_retry;          // a valid retry: field, in ms
  std::function<void(const client_error&)> on_error;
  std::function<void(client_state)> on_state;
  std::function<void(const diagnostic&)> on_diagnostic;  // logging; unset costs nothing
  // After the items of one read (or of the response head) went to the
  // handlers above: the end of a batch, before the next read starts. For
  // consumers that hand items on in batches (event_stream completes one
  // async_next per batch, not per event). Unset costs nothing.
  std::function<void()> on_batch_end;
  // The normal end: the server ended the stream and the client will not
  // reconnect (a request with a body without replay_body, or reconnect =
  // false): an LLM answer is complete. Not an error: with on_end set,
  // on_error is not called for it (state goes to closed first). Without
  // on_end it is reported to on_error as end_of_stream with will_reconnect
  // false, as before on_end existed.
  std::function<void(const response_info&)> on_end;
  // The attempt hook: before every connection attempt (the first, each
  // reconnect, each redirect), change what is sent (headers, URL, method,
  // body), e.g. a fresh Authorization token. Set one form at most. The
  // sync form runs on the client's strand; an exception from it is an
  // attempt_hook_failed error (backed off and retried), not a crash. The
  // async form hands back the request through `done` (e.g. after fetching a
  // token), within options.attempt_hook_timeout.
  std::function<void(attempt_request&, const attempt_info&)> on_attempt;
  std::function<void(attempt_request, const attempt_info&, attempt_done done)> on_attempt_async;
};

// Thrown by the constructor for options that can't work (bad URL, header
// with a control byte or over a limit, a framing header, unknown scheme,
// connect_timeout 0, both attempt hook forms, an empty executor): nothing
// is sent.
class client_options_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class client {
 public:
  // Runs every handler on a strand of `executor`. Starts connecting at once:
  // on an io_context other threads run, a handler may run before this
  // returns (README, "Lifetime").
  client(boost::asio::any_io_executor executor, client_options options, client_handlers handlers);
  // Test seam: connections come from `transport` (e.g. in-memory streams
  // with fault injection) instead of TCP/TLS. Not a stable API.
  client(boost::asio::any_io_executor executor, client_options options, client_handlers handlers,
         std::shared_ptr<detail::transport_factory> transport);
  // Closes (see close()).
  //
  // Lifetime: the client is a handle the user holds; its connection state
  // lives in a shared object that pending operations keep alive. It may be
  // moved (a moved-from client behaves as a closed one: its functions do
  // nothing, state() is closed, the counts are 0, last_event_id() is
  // empty) and destroyed anywhere, also inside one of its own handlers: destruction
  // closes, no handler runs afterwards. Destroy it before its io_context
  // (destroying the io_context first leaves the client's timers dangling);
  // after io_context::stop() or once run() has returned is fine.
  ~client();
  client(client&& other) noexcept = default;
  client& operator=(client&& other) noexcept;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // From any thread, at any moment. When it returns, no handler is running
  // (except the one calling close()) and none will run again; pending
  // operations finish in the background without calling anything.
  // It waits for a handler running on another thread: two clients whose
  // handlers close each other, on two threads at once, wait for each other
  // for ever. Post such a close() (asio::post) instead of calling it there.
  void close();

  // Ends the current connection (or the wait before a reconnect) and
  // connects again at once, with Last-Event-ID; no error is reported. Keeps
  // the reconnection time, the backoff state and a redirected URL. From any
  // thread; does nothing after close(). Calls made before the restart has
  // run are that one restart (so restart() from on_event takes effect after
  // the events of the read in progress, or of its decoded piece (16 KiB)
  // when the stream is compressed, once however often it was called).
  void restart();

  // Flow control: after pause_reading() the client stops reading the
  // stream once the read in progress completes (TCP flow control then
  // slows the server); resume_reading() goes on. No idle timeout runs while
  // paused, and a reconnect that comes due waits for resume_reading() too.
  // From any thread; event_stream uses them for its backpressure.
  void pause_reading();
  void resume_reading();

  // closed from the moment close() is called, for good.
  client_state state() const noexcept;
  client_stats stats() const noexcept;
  // The last event id (as sent in Last-Event-ID on the next reconnect).
  // Brought up to date at the end of each read, not per event: inside
  // on_event, the event's own last_event_id is the current one. After
  // close() it never passes the last event delivered: closed from inside
  // on_event, it is that event's; closed from another thread, it may be
  // an earlier one's (resuming from it may repeat events, never skip one).
  std::string last_event_id() const;
  std::uint64_t reconnects() const noexcept;

 private:
  friend class event_stream;  // a moved-from stream's get_client()
  // Keeps a second handle on the connection it starts (its handlers point
  // into the stream, which must end it wherever get_client() moved it),
  // and learns when it closed for good, however that happened.
  friend class detail::stream_state;
  client() noexcept = default;  // a client without a connection, as a moved-from one
  // `on_shutdown` runs once on the client's strand when it has closed for
  // good (a final error, close(), a handler that threw), after its last handler.
  client(boost::asio::any_io_executor executor, client_options options, client_handlers handlers,
         std::shared_ptr<detail::transport_factory> transport, std::function<void()> on_shutdown);

  class impl;
  std::shared_ptr<impl> impl_;
};

// Blocking convenience for tools and tests: runs a client on its own
// io_context in the calling thread until it closes, `on_event` returns
// false, or `timeout` passes (0: no timeout; below 0, as a deadline minus
// now once it passed: at once). Returns the error that closed
// it, or nothing when stopped by on_event, the timeout or the normal end
// (`ended`; run_client always sets on_end, so extra_handlers.on_error
// never sees it).
struct blocking_result {
  bool timed_out = false;
  bool stopped = false;              // on_event returned false
  bool ended = false;                // the normal end (on_end): no error
  std::unique_ptr<client_error> error;  // the error that closed the client
  std::uint64_t events = 0;
  std::uint64_t reconnects = 0;
};
blocking_result run_client(client_options options, const std::function<bool(const event&)>& on_event,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds{0},
                           client_handlers extra_handlers = {});

}  // namespace ssekit

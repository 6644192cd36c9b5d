// The client's connection seam: one attempt's byte stream (TCP, TLS, or an
// in-memory test stream) behind a small interface, so the state machine
// (client.cpp) has no plain/TLS branches and tests and fuzzers can run it
// without sockets (memory_transport.hpp).
//
// Every completion runs on the strand given to make(). close() makes pending
// operations complete (with an error); the caller keeps the transport alive
// until they have.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/optional.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proxy.hpp"
#include "ssekit/client.hpp"
#include "url.hpp"

namespace ssekit::detail {

namespace beast = boost::beast;
namespace http = beast::http;

// Beast body whose reader hands every body byte to a sink: the SSE parser
// for a stream, or the error excerpt for a refused response.
struct sink_body {
  struct value_type {
    std::function<beast::error_code(std::string_view)> sink;
  };
  struct reader {
    value_type& body;
    template <bool is_request, class Fields>
    reader(http::header<is_request, Fields>&, value_type& b) : body(b) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      ec = {};
      std::size_t used = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        if (body.sink) ec = body.sink(std::string_view(static_cast<const char*>(b.data()), b.size()));
        if (ec) return used;
        used += b.size();
      }
      return used;
    }
    void finish(beast::error_code& ec) { ec = {}; }
  };
};

using response_parser = http::response_parser<sink_body>;
// 1xx responses skipped before the final one (from the origin or a
// proxy's CONNECT); more is a broken server.
constexpr int max_interim_responses = 32;
// A response head (or a CONNECT answer) longer than this is refused.
constexpr std::size_t max_response_head = 64 * 1024;
// Beast's HTTP errors (they name only the rule broken: "bad version").
inline bool is_http_error(beast::error_code ec) {
  return ec.category() == make_error_code(http::error::bad_version).category();
}
// The bytes a buffer holds, read in place.
inline std::string_view text_of(const beast::flat_buffer& b) {
  const auto bytes = b.data();
  return {static_cast<const char*>(bytes.data()), bytes.size()};
}
// A TLS alert by which a server refused this client's certificate (or its
// lack of one). TLS 1.3 sends it after the client's side of the handshake
// is done, so it fails the first read, not the handshake; it is as final
// as the same refusal during a TLS 1.2 handshake (tls_error), not a
// network error to retry for ever.
bool is_client_certificate_refusal(beast::error_code ec);
// A FIN without TLS's close_notify.
bool is_tls_truncation(beast::error_code ec);
// The body is a view of the request plan's (kept alive by the connection).
using request_message = http::request<http::span_body<const char>>;
using io_handler = std::function<void(beast::error_code, std::size_t)>;

// Why opening (resolve, connect, TLS handshake) failed, already classified.
struct open_failure {
  client_error_reason reason = client_error_reason::network_error;
  beast::error_code code;
  std::string message;
  bool retryable = true;
  // proxy_refused: the proxy's answer to CONNECT.
  int status = 0;
  header_list headers = {};
  std::string body = {};  // the first KiB
};
using open_handler = std::function<void(const open_failure* failure)>;  // null: open

class transport {
 public:
  virtual ~transport() = default;
  virtual void async_open(const url& target, open_handler handler) = 0;
  // Through route.proxy when it has one: connected to the proxy (http://
  // targets), or through a CONNECT tunnel to `target` (https://: TLS with
  // the origin inside); with an https:// proxy, all of that inside a TLS
  // session with the proxy. Transports without a network (in-memory) have
  // no proxy to go through and ignore it.
  virtual void async_open(const url& target, const proxy_route& route, open_handler handler) {
    (void)route;
    async_open(target, std::move(handler));
  }
  virtual void async_write(request_message& request, io_handler handler) = 0;
  // The head, read whole first (head_reader.hpp: bare LF line ends and a
  // missing reason space are repaired before Beast parses it).
  virtual void async_read_header(beast::flat_buffer& buffer, response_parser& parser, io_handler handler) = 0;
  // A body's bytes, into `buffer` and not parsed (head_reader.hpp's
  // async_read_bytes): the client parses them. The end of the stream is
  // asio::error::eof.
  virtual void async_read_some(beast::flat_buffer& buffer, io_handler handler) = 0;
  virtual void close() = 0;
};

class transport_factory {
 public:
  virtual ~transport_factory() = default;
  // A transport for one attempt to `target` by `route` (the same route is
  // given to async_open), completing on `strand`.
  virtual std::unique_ptr<transport> make(const boost::asio::any_io_executor& strand, const url& target, const proxy_route& route) = 0;
};

// TCP, and TLS (certificates and host names verified unless options say
// otherwise; SNI; ALPN http/1.1) with options.tls_context or the context
// shared by every client with the same TLS options, for origins and
// https:// proxies alike. Throws client_options_error when the CA file or
// directory can't be loaded (when TLS is sure to be needed: an https://
// URL or proxy, or a CA option).
std::shared_ptr<transport_factory> make_network_factory(const client_options& options, const proxy_settings& proxies);

// How many times this process has loaded a trust store (the system's CA
// store, a ca_file or a ca_directory) into a context: for tests.
std::uint64_t tls_trust_loads() noexcept;

}  // namespace ssekit::detail

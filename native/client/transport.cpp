// TCP and TLS transports for the client: the only translation unit of the
// client that includes Asio's SSL layer.
#include "transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <mutex>
#include <optional>
#include <type_traits>

namespace ssekit::detail {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// ALPN protocol list (RFC 7301): length-prefixed names.
constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::shared_ptr<ssl::context> make_tls_context(const client_options& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // Some servers and load balancers require ALPN; h2 is not offered.
  if (SSL_CTX_set_alpn_protos(ctx->native_handle(), alpn_http11, sizeof alpn_http11) != 0) {
    throw client_options_error("ssekit::client: can't set ALPN");
  }
  if (options.insecure_skip_tls_verification) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (!options.ca_file.empty()) {
    ctx->load_verify_file(options.ca_file, ec);
    if (ec) throw client_options_error("ssekit::client: can't load ca_file " + options.ca_file + ": " + ec.message());
  }
  if (!options.ca_directory.empty()) {
    ctx->add_verify_path(options.ca_directory, ec);
    if (ec) throw client_options_error("ssekit::client: can't use ca_directory " + options.ca_directory + ": " + ec.message());
  }
  if (options.ca_file.empty() && options.ca_directory.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) throw client_options_error("ssekit::client: no system CA store: " + ec.message());
  }
  return ctx;
}

// Why a handshake failed, in words a user can act on.
open_failure handshake_failure(SSL* ssl, beast::error_code ec, const std::string& authority) {
  open_failure f;
  f.code = ec;
  const std::string prefix = "TLS handshake with " + authority + " failed: ";
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    // Expired, host name mismatch, unknown issuer, self-signed...: final.
    f.reason = client_error_reason::tls_error;
    f.retryable = false;
    f.message = prefix + "certificate verify failed: " + X509_verify_cert_error_string(verify);
    return f;
  }
  if (ec == ssl::error::stream_truncated || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe || ec == asio::error::operation_aborted) {
    // The peer cut the handshake (FIN or RST): a network failure, retried.
    f.reason = client_error_reason::network_error;
    f.retryable = true;
    f.message = prefix + "the connection was closed during the handshake (" + ec.message() + ")";
    return f;
  }
  f.reason = client_error_reason::tls_error;
  f.retryable = false;
  if (ec.category() == asio::error::get_ssl_category()) {
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
        reason == SSL_R_WRONG_SSL_VERSION || reason == SSL_R_NO_PROTOCOLS_AVAILABLE) {
      f.message = prefix + "no common TLS version (TLS 1.2 or later is required): " + ec.message();
      return f;
    }
  }
  f.message = prefix + ec.message();
  return f;
}

// One attempt over TCP (Stream = tcp_stream) or TLS (ssl_stream).
template <class Stream>
class network_transport final : public transport {
 public:
  static constexpr bool is_tls = !std::is_same_v<Stream, plain_stream>;

  network_transport(const asio::any_io_executor& strand, std::shared_ptr<ssl::context> tls)
      : resolver_(strand), tls_(std::move(tls)), stream_(make_stream(strand)) {}

  void async_open(const url& target, open_handler handler) override { async_open(target, proxy_route{}, std::move(handler)); }

  void async_open(const url& target, const proxy_route& route, open_handler handler) override {
    target_ = target;
    route_ = route;
    // Through a proxy, the TCP connection goes to the proxy.
    const std::string& host = route_.proxy ? route_.proxy->host : target_.host;
    const std::uint16_t port = route_.proxy ? route_.proxy->port : target_.port;
    resolver_.async_resolve(host, std::to_string(port),
                            [this, handler = std::move(handler)](beast::error_code ec, tcp::resolver::results_type results) mutable {
                              if (ec) return fail_network(handler, ec, "can't resolve " + peer());
                              lowest().async_connect(results, [this, handler = std::move(handler)](beast::error_code e, const tcp::endpoint&) mutable {
                                on_connect(handler, e);
                              });
                            });
  }

  void async_write(request_message& request, io_handler handler) override { http::async_write(stream_, request, std::move(handler)); }
  void async_read_header(beast::flat_buffer& buffer, response_parser& parser, io_handler handler) override {
    http::async_read_header(stream_, buffer, parser, std::move(handler));
  }
  void async_read_some(beast::flat_buffer& buffer, response_parser& parser, io_handler handler) override {
    http::async_read_some(stream_, buffer, parser, std::move(handler));
  }
  void close() override {
    resolver_.cancel();
    beast::error_code ignored;
    lowest().socket().close(ignored);
  }

 private:
  Stream make_stream(const asio::any_io_executor& strand) {
    if constexpr (is_tls) return Stream(strand, *tls_);
    else return Stream(strand);
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void fail_network(open_handler& handler, beast::error_code ec, const std::string& what) {
    open_failure f{client_error_reason::network_error, ec, what + ": " + ec.message(), true};
    handler(&f);
  }

  // What the TCP connection goes to, for messages.
  std::string peer() const {
    if (!route_.proxy) return target_.authority();
    return "the proxy " + route_.proxy->display() + " (" + route_.choice.source + ")";
  }

  void on_connect(open_handler& handler, beast::error_code ec) {
    if (ec) return fail_network(handler, ec, "can't connect to " + peer());
    lowest().socket().set_option(tcp::no_delay(true), ec);
    if (route_.tunnel(target_)) return send_connect(handler);
    start_tls(handler);
  }

  // RFC 9110 9.3.6: CONNECT host:port; any 2xx opens the tunnel.
  void send_connect(open_handler& handler) {
    const request_head head = connect_request(target_, *route_.proxy);
    connect_request_.emplace();
    connect_request_->method(http::verb::connect);
    connect_request_->target(head.target);
    connect_request_->version(11);
    for (const auto& [name, value] : head.fields) connect_request_->insert(name, value);
    http::async_write(lowest(), *connect_request_, [this, handler = std::move(handler)](beast::error_code ec, std::size_t) mutable {
      if (ec) return fail_network(handler, ec, "can't send CONNECT to " + peer());
      connect_response_.emplace();
      connect_response_->header_limit(64 * 1024);
      connect_response_->body_limit(boost::none);
      http::async_read_header(lowest(), connect_buffer_, *connect_response_,
                              [this, handler = std::move(handler)](beast::error_code e, std::size_t) mutable { on_connect_response(handler, e); });
    });
  }

  void on_connect_response(open_handler& handler, beast::error_code ec) {
    if (ec) return fail_network(handler, ec, "no answer to CONNECT from " + peer());
    const int status = static_cast<int>(connect_response_->get().result_int());
    if (status >= 200 && status < 300) {
      // The origin speaks only after the ClientHello: bytes already here
      // are not from it.
      if (connect_buffer_.size() != 0) return fail_network(handler, http::error::unexpected_body, "data after the CONNECT answer from " + peer());
      return start_tls(handler);
    }
    // A refusal: keep its body's first KiB for the report, within 2 s.
    connect_response_->get().body().sink = [this](std::string_view bytes) {
      connect_excerpt_.append(bytes.substr(0, excerpt_limit - std::min(excerpt_limit, connect_excerpt_.size())));
      return beast::error_code{};
    };
    lowest().expires_after(std::chrono::seconds(2));
    read_refusal(handler);
  }

  void read_refusal(open_handler& handler) {
    if (connect_response_->is_done() || connect_excerpt_.size() >= excerpt_limit) return refused(handler);
    http::async_read_some(lowest(), connect_buffer_, *connect_response_, [this, handler = std::move(handler)](beast::error_code ec, std::size_t) mutable {
      if (ec && ec != http::error::need_buffer) return refused(handler);
      read_refusal(handler);
    });
  }

  void refused(open_handler& handler) {
    const auto& res = connect_response_->get();
    open_failure f;
    f.reason = client_error_reason::proxy_refused;
    f.retryable = false;
    f.status = static_cast<int>(res.result_int());
    for (const auto& field : res) f.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    f.body = connect_excerpt_;
    f.message = peer() + " refused the tunnel to " + target_.authority() + ": " + std::to_string(f.status) + " " +
                escape_text(std::string(res.reason()));
    handler(&f);
  }

  void start_tls(open_handler& handler) {
    if constexpr (!is_tls) {
      handler(nullptr);
    } else {
      SSL* ssl = stream_.native_handle();
      beast::error_code address_ec;
      asio::ip::make_address(target_.host, address_ec);
      const bool by_name = static_cast<bool>(address_ec);
      // SNI is for host names only (RFC 6066). OpenSSL checks the name (or
      // IP) itself, so a mismatch shows up in SSL_get_verify_result.
      if (by_name && !SSL_set_tlsext_host_name(ssl, target_.host.c_str())) {
        open_failure f{client_error_reason::tls_error, {}, "can't set the TLS server name", false};
        return handler(&f);
      }
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      const int set = by_name ? X509_VERIFY_PARAM_set1_host(param, target_.host.c_str(), target_.host.size())
                              : X509_VERIFY_PARAM_set1_ip_asc(param, target_.host.c_str());
      if (set != 1) {
        open_failure f{client_error_reason::tls_error, {}, "can't set the host name to verify", false};
        return handler(&f);
      }
      stream_.async_handshake(ssl::stream_base::client, [this, handler = std::move(handler)](beast::error_code e) mutable {
        if (!e) return handler(nullptr);
        const open_failure f = handshake_failure(stream_.native_handle(), e, target_.authority());
        handler(&f);
      });
    }
  }

  static constexpr std::size_t excerpt_limit = 1024;

  tcp::resolver resolver_;
  std::shared_ptr<ssl::context> tls_;
  Stream stream_;
  url target_;
  proxy_route route_;
  std::optional<http::request<http::empty_body>> connect_request_;
  std::optional<response_parser> connect_response_;
  beast::flat_buffer connect_buffer_;
  std::string connect_excerpt_;
};

// A transport whose open fails: TLS needed but its context can't be made.
class failed_transport final : public transport {
 public:
  failed_transport(const asio::any_io_executor& strand, std::string why) : strand_(strand), why_(std::move(why)) {}
  void async_open(const url&, open_handler handler) override {
    asio::post(strand_, [handler = std::move(handler), why = why_] {
      open_failure f{client_error_reason::tls_error, {}, why, false};
      handler(&f);
    });
  }
  void async_write(request_message&, io_handler) override {}
  void async_read_header(beast::flat_buffer&, response_parser&, io_handler) override {}
  void async_read_some(beast::flat_buffer&, response_parser&, io_handler) override {}
  void close() override {}

 private:
  asio::any_io_executor strand_;
  std::string why_;
};

class network_factory final : public transport_factory {
 public:
  explicit network_factory(const client_options& options) : options_(options) {
    // Made now when it will be needed, so a bad CA file throws in the
    // constructor; an http stream redirected to https makes it later.
    const auto target = parse_url(options.url);
    if ((target && target->tls()) || !options.ca_file.empty() || !options.ca_directory.empty()) tls_ = make_tls_context(options);
  }

  std::unique_ptr<transport> make(const asio::any_io_executor& strand, const url& target) override {
    if (!target.tls()) return std::make_unique<network_transport<plain_stream>>(strand, nullptr);
    if (!tls_) {
      try {
        tls_ = make_tls_context(options_);
      } catch (const client_options_error& e) {
        return std::make_unique<failed_transport>(strand, e.what());
      }
    }
    return std::make_unique<network_transport<tls_stream>>(strand, tls_);
  }

 private:
  client_options options_;
  std::shared_ptr<ssl::context> tls_;
};

}  // namespace

std::shared_ptr<transport_factory> make_network_factory(const client_options& options) {
  return std::make_shared<network_factory>(options);
}

}  // namespace ssekit::detail

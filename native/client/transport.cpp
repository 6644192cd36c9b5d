// TCP and TLS transports for the client: the only translation unit of the
// client that includes Asio's SSL layer.
#include "transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>

#include "connect_race.hpp"
#include "head_reader.hpp"
#include "tls_socket.hpp"

namespace ssekit::detail {

// ---- tls_socket (tls_socket.hpp) --------------------------------------------

// The socket as OpenSSL's BIO: recv and send on the descriptor, with
// MSG_NOSIGNAL so that a peer that went away is an error and not SIGPIPE
// (OpenSSL's own socket BIO writes with write()).
struct socket_bio {
  static BIO_METHOD* method() {
    static BIO_METHOD* const m = [] {  // once per process, never freed
      BIO_METHOD* b = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ssekit socket");
      if (b != nullptr) {
        BIO_meth_set_write(b, &socket_bio::write);
        BIO_meth_set_read(b, &socket_bio::read);
        BIO_meth_set_ctrl(b, &socket_bio::ctrl);
      }
      return b;
    }();
    return m;
  }
  static int write(BIO* bio, const char* data, int length) {
    auto* s = static_cast<tls_socket*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n = ::send(s->next_.socket().native_handle(), data, static_cast<std::size_t>(length), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(bio);
    else s->last_errno_ = errno;
    return -1;
  }
  static int read(BIO* bio, char* data, int length) {
    auto* s = static_cast<tls_socket*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n = ::recv(s->next_.socket().native_handle(), data, static_cast<std::size_t>(length), 0);
    if (n >= 0) return static_cast<int>(n);  // 0: the peer closed
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(bio);
    else s->last_errno_ = errno;
    return -1;
  }
  static long ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }
};

namespace {

// The modes both sessions (outer and inner) run with.
void set_session_modes(SSL* ssl, std::size_t read_ahead_bytes) {
  // Partial writes: async_write_some's contract. Released buffers: an idle
  // stream holds no record buffer. Read-ahead: one recv per socket read,
  // not a header and then a body per record.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl, 1);
  // Up to 64 KiB per recv (the client's default read size) instead of
  // about one record; released when empty, so idle streams do not hold it.
  SSL_set_default_read_buffer_len(ssl, read_ahead_bytes);
}

}  // namespace

tls_socket::tls_socket(const executor_type& executor, boost::asio::ssl::context& context)
    : next_(executor), context_(context.native_handle()), ssl_(SSL_new(context_)) {
  if (ssl_ == nullptr) return;
  set_session_modes(ssl_, tls_read_ahead_bytes);
}

tls_socket::~tls_socket() {
  // The inner session first: its BIO refers to the outer one (BIO_NOCLOSE:
  // freeing it leaves the outer session alone).
  if (inner_ != nullptr) SSL_free(inner_);
  if (ssl_ != nullptr) SSL_free(ssl_);  // frees the BIO too
}

bool tls_socket::start_inner() {
  if (ssl_ == nullptr || !attached_ || inner_ != nullptr) return false;
  SSL* inner = SSL_new(context_);
  BIO* bio = inner == nullptr ? nullptr : BIO_new(BIO_f_ssl());
  if (bio == nullptr) {
    if (inner != nullptr) SSL_free(inner);
    return false;
  }
  // BIO_set_ssl also chains the outer session's socket BIO (one more
  // reference, which SSL_free(inner) releases with the BIO chain).
  BIO_set_ssl(bio, ssl_, BIO_NOCLOSE);
  SSL_set_bio(inner, bio, bio);
  set_session_modes(inner, tls_read_ahead_bytes);
  SSL_set_connect_state(inner);
  inner_ = inner;
  return true;
}

tls_socket::step tls_socket::failure(int ret, beast::error_code& ec) {
  namespace asio = boost::asio;
  const int error = SSL_get_error(native_handle(), ret);
  if (error == SSL_ERROR_WANT_READ) return step::want_read;
  if (error == SSL_ERROR_WANT_WRITE) return step::want_write;
  if (error == SSL_ERROR_SSL || error == SSL_ERROR_SYSCALL) fatal_ = true;
  // The first error queued is what failed first, but a refused certificate
  // may queue the errors of its checks (X509, EVP) before the SSL library's
  // "certificate verify failed", which is the one that says what happened
  // (and which handshake_failure looks for).
  unsigned long queued = ERR_get_error();
  for (unsigned long next = queued; next != 0; next = ERR_get_error())
    if (ERR_GET_LIB(next) == ERR_LIB_SSL && ERR_GET_REASON(next) == SSL_R_CERTIFICATE_VERIFY_FAILED) queued = next;
  if (error == SSL_ERROR_ZERO_RETURN) {
    ec = asio::error::eof;  // close_notify, as asio::ssl::stream reports it
  } else if (queued != 0 && ERR_GET_LIB(queued) == ERR_LIB_SSL && ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    ec = asio::ssl::error::stream_truncated;  // a FIN without close_notify
  } else if (queued != 0) {
    ec = beast::error_code(static_cast<int>(queued), asio::error::get_ssl_category());
  } else if (last_errno_ != 0) {
    ec = beast::error_code(last_errno_, boost::system::system_category());
  } else {
    ec = asio::ssl::error::stream_truncated;
  }
  return step::done;
}

void tls_socket::close_notify() noexcept {
  SSL* s = native_handle();
  if (!attached_ || fatal_ || s == nullptr || SSL_is_init_finished(s) == 0) return;
  ERR_clear_error();
  last_errno_ = 0;
  (void)SSL_shutdown(s);  // the alert goes out if the socket takes it now
  ERR_clear_error();
}

tls_socket::step tls_socket::try_handshake(beast::error_code& ec) {
  ec = {};
  if (!attached_) {
    BIO* bio = socket_bio::method() == nullptr ? nullptr : BIO_new(socket_bio::method());
    if (bio == nullptr) {
      ec = boost::asio::error::no_memory;
      return step::done;
    }
    BIO_set_data(bio, this);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_, bio, bio);
    attached_ = true;
    next_.socket().non_blocking(true, ec);
    if (ec) return step::done;
    SSL_set_connect_state(ssl_);
  }
  ERR_clear_error();
  last_errno_ = 0;
  const int ret = SSL_do_handshake(native_handle());
  return ret == 1 ? step::done : failure(ret, ec);
}

tls_socket::step tls_socket::try_transfer(bool read, void* data, std::size_t size, beast::error_code& ec,
                                          std::size_t& n) {
  ec = {};
  n = 0;
  if (size == 0) return step::done;
  if (!attached_) {
    ec = boost::asio::error::not_connected;
    return step::done;
  }
  if (!read) {
    ERR_clear_error();
    last_errno_ = 0;
    const int ret = SSL_write_ex(native_handle(), data, size, &n);
    return ret == 1 ? step::done : failure(ret, ec);
  }
  if (deferred_read_error_) {
    ec = deferred_read_error_;
    return step::done;
  }
  // SSL_read hands over one record (16 KiB at most) per call. Records that
  // read-ahead already holds fill the rest of the caller's buffer now: one
  // trip through Beast and the parser per socket read, not per record. An
  // incomplete record ends the gathering; an error after some bytes (a
  // close_notify, a bad record) is the next read's result, with its own
  // message.
  for (;;) {
    std::size_t got = 0;
    ERR_clear_error();
    last_errno_ = 0;
    const int ret = SSL_read_ex(native_handle(), static_cast<char*>(data) + n, size - n, &got);
    if (ret != 1) {
      if (n == 0) return failure(ret, ec);
      if (failure(ret, deferred_read_error_) != step::done) deferred_read_error_ = {};
      return step::done;
    }
    n += got;
    if (n == size || !buffered()) return step::done;
  }
}

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using plain_stream = beast::tcp_stream;
using tls_stream = tls_socket;

// ALPN protocol list (RFC 7301): length-prefixed names.
constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::atomic<std::uint64_t> g_trust_loads{0};

// What a context depends on: the key of the shared contexts.
struct tls_options {
  bool insecure_skip_tls_verification = false;
  std::string ca_file;
  std::string ca_directory;
  // Not a defaulted <=>: libc++ 14's std::string has none, which deletes it.
  friend bool operator<(const tls_options& a, const tls_options& b) {
    return std::tie(a.insecure_skip_tls_verification, a.ca_file, a.ca_directory) <
           std::tie(b.insecure_skip_tls_verification, b.ca_file, b.ca_directory);
  }
};

std::shared_ptr<ssl::context> make_tls_context(const tls_options& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (options.insecure_skip_tls_verification) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  // Any certificate in the trust store is an anchor, not only a
  // self-signed root: the server's own certificate given as ca_file (a
  // pinned leaf) is trusted, as curl (since 7.68) and browsers do.
  X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx->native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
  g_trust_loads.fetch_add(1, std::memory_order_relaxed);
  beast::error_code ec;
  if (!options.ca_file.empty()) {
    ctx->load_verify_file(options.ca_file, ec);
    if (ec) throw client_options_error("ssekit::client: can't load ca_file " + options.ca_file + ": " + ec.message());
  }
  if (!options.ca_directory.empty()) {
    // OpenSSL reads the directory lazily, per certificate: a wrong path
    // showed only at the handshake, as an unknown issuer.
    std::error_code fs_ec;
    const auto type = std::filesystem::status(options.ca_directory, fs_ec).type();
    if (type != std::filesystem::file_type::directory) {
      throw client_options_error("ssekit::client: can't use ca_directory " + options.ca_directory + ": " +
                                 (type == std::filesystem::file_type::not_found ? "no such directory"
                                  : type == std::filesystem::file_type::none    ? fs_ec.message()
                                                                                : "not a directory"));
    }
    ctx->add_verify_path(options.ca_directory, ec);
    if (ec) throw client_options_error("ssekit::client: can't use ca_directory " + options.ca_directory + ": " + ec.message());
  }
  if (options.ca_file.empty() && options.ca_directory.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) throw client_options_error("ssekit::client: no system CA store: " + ec.message());
  }
  return ctx;
}

// Contexts shared by every client with the same TLS options: a context
// holds the parsed CA store (hundreds of KiB for the system's), which one
// per client multiplied by thousands of clients. Files are read again once
// no client holds their context (weak); the system store's context is kept
// for the life of the process, so it is loaded once.
class context_cache {
 public:
  std::shared_ptr<ssl::context> get(const tls_options& options) {
    const bool system_store =
        !options.insecure_skip_tls_verification && options.ca_file.empty() && options.ca_directory.empty();
    std::lock_guard lock(mutex_);
    if (system_store && system_) return system_;
    auto& slot = contexts_[options];
    if (auto ctx = slot.lock()) return ctx;
    auto ctx = make_tls_context(options);  // under the lock: loaded once, not once per racing thread
    slot = ctx;
    if (system_store) system_ = ctx;
    // Forget the entries of contexts that every client has released.
    std::erase_if(contexts_, [](const auto& entry) { return entry.second.expired(); });
    return ctx;
  }

 private:
  std::mutex mutex_;
  std::map<tls_options, std::weak_ptr<ssl::context>> contexts_;
  std::shared_ptr<ssl::context> system_;
};

// Never destroyed: contexts may outlive static destruction's order with
// OpenSSL's own cleanup at exit.
context_cache& contexts() {
  static auto* cache = new context_cache;
  return *cache;
}

// The handshake failed because the server's certificate was refused, by
// OpenSSL's verification or by the user's verify callback. Not
// SSL_get_verify_result alone: OpenSSL verifies and keeps the result also
// when nothing acts on it (insecure_skip_tls_verification, a callback that
// accepts a pinned certificate), so a handshake cut after such a
// certificate would read as a final certificate error.
bool is_verify_failure(beast::error_code ec) {
  const auto code = static_cast<unsigned long>(ec.value());
  return ec.category() == asio::error::get_ssl_category() && ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

// Why a handshake failed, in words a user can act on.
// `own_trust`: the client was given ca_file, ca_directory or a tls_context.
open_failure handshake_failure(SSL* ssl, beast::error_code ec, const std::string& authority, bool own_trust) {
  open_failure f;
  f.code = ec;
  const std::string prefix = "TLS handshake with " + authority + " failed: ";
  if (is_verify_failure(ec)) {
    // Expired, host name mismatch, unknown issuer, self-signed...: final.
    f.reason = client_error_reason::tls_error;
    f.retryable = false;
    const long verify = SSL_get_verify_result(ssl);
    f.message = prefix + "certificate verify failed: " +
                (verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "refused by the verify callback");
    // An issuer the trust store lacks: most often a private CA, whose fix
    // is to trust it (OpenSSL's words alone left the user guessing).
    if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
        verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
        verify == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
      f.message += own_trust ? " (the trusted certificates given hold neither that certificate nor the CA that issued it)"
                             : " (a private or self-signed CA? trust it with ca_file)";
    // A name only in the subject's CN is not checked (RFC 9525 6.3, as
    // browsers; curl still takes it): "hostname mismatch" alone read as
    // wrong when the CN is the very host.
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      // The chain as received (the leaf first): a failed verification
      // leaves no peer certificate set.
      const STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
      const X509* leaf = chain != nullptr && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : nullptr;
      if (leaf != nullptr && X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1) < 0)
        f.message += " (the certificate has no subjectAltName: a name only in its subject's CN is not taken, RFC 9525)";
    }
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
    // An internal_error alert says the server failed, not that it refuses
    // this client: retried like a connection it cut (a load balancer in
    // trouble must not end a long-lived client for good).
    if (reason == SSL_R_TLSV1_ALERT_INTERNAL_ERROR) {
      f.reason = client_error_reason::network_error;
      f.retryable = true;
      f.message = prefix + "the server failed (" + ec.message() + ")";
      return f;
    }
    // A record that fails its MAC, either way: bytes damaged on the path
    // (a middlebox, a NIC), not a refusal; retried as a cut connection is.
    if (reason == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC || reason == SSL_R_SSLV3_ALERT_BAD_RECORD_MAC) {
      f.reason = client_error_reason::network_error;
      f.retryable = true;
      f.message = prefix + "a record was damaged on the way (" + ec.message() + ")";
      return f;
    }
    // OpenSSL's words ("sslv3 alert handshake failure") name no cause; a
    // server sends this alert when it finds nothing it can agree to.
    if (reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE) {
      f.message = prefix + "the server refused the handshake (no cipher, curve or signature algorithm in common, or a client certificate it requires): " +
                  ec.message();
      return f;
    }
    // The client offers ALPN http/1.1 only: a server that refuses it takes
    // only HTTP/2 (OpenSSL's "no application protocol" said nothing of it).
    if (reason == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
      f.message = prefix + "the server takes no HTTP/1.1 (ALPN): it speaks only HTTP/2, and this client speaks HTTP/1.1: " + ec.message();
      return f;
    }
    if (reason == SSL_R_EXCESSIVE_MESSAGE_SIZE) {
      f.message = prefix + "a handshake message from the server is larger than OpenSSL takes (a certificate chain over 100 KiB?): " +
                  ec.message();
      return f;
    }
    // The answer to the ClientHello was not a TLS record: most often an
    // HTTP error page from a plain-HTTP port.
    if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
        reason == SSL_R_RECORD_LENGTH_MISMATCH) {
      f.message = prefix + "the server did not answer in TLS (plain HTTP on this port? then use http://): " + ec.message();
      return f;
    }
  }
  f.message = prefix + ec.message();
  return f;
}

// One attempt over TCP (Stream = tcp_stream) or TLS (tls_socket): TLS with
// an https:// origin, with an https:// proxy, or both (TLS in TLS).
template <class Stream>
class network_transport final : public transport {
 public:
  static constexpr bool is_tls = !std::is_same_v<Stream, plain_stream>;

  // `own_trust`: ca_file, ca_directory or a tls_context given (a failed
  // verification's hint then does not say to trust a CA).
  network_transport(const asio::any_io_executor& strand, std::shared_ptr<ssl::context> tls, bool insecure, bool own_trust = false)
      : resolver_(strand), tls_(std::move(tls)), stream_(make_stream(strand)), insecure_(insecure), own_trust_(own_trust) {}

  void async_open(const url& target, open_handler handler) override { async_open(target, proxy_route{}, std::move(handler)); }

  void async_open(const url& target, const proxy_route& route, open_handler handler) override {
    target_ = target;
    route_ = route;
    // Through a proxy, the TCP connection goes to the proxy.
    const std::string& host = route_.proxy ? route_.proxy->host : target_.host;
    const std::uint16_t port = route_.proxy ? route_.proxy->port : target_.port;
    resolver_.async_resolve(resolver_host(host), std::to_string(port),
                            [this, handler = std::move(handler)](beast::error_code ec, tcp::resolver::results_type results) mutable {
                              if (ec) return fail_network(handler, ec, "can't resolve " + peer());
                              race_ = connect_race::start(resolver_.get_executor(), interleave_families(results),
                                                          [this, handler = std::move(handler)](beast::error_code e, tcp::socket socket) mutable {
                                                            if (!e) lowest().socket() = std::move(socket);
                                                            on_connect(handler, e);
                                                          });
                            });
  }

  void async_write(request_message& request, io_handler handler) override { http::async_write(stream_, request, std::move(handler)); }
  void async_read_header(beast::flat_buffer& buffer, response_parser& parser, io_handler handler) override {
    async_read_head(stream_, buffer, parser, max_response_head, std::move(handler));
  }
  void async_read_some(beast::flat_buffer& buffer, io_handler handler) override { async_read_bytes(stream_, buffer, std::move(handler)); }
  void close() override {
    resolver_.cancel();
    if (const auto race = race_.lock()) race->cancel();
    if (refusal_timer_) refusal_timer_->cancel();
    if constexpr (is_tls) {
      if (lowest().socket().is_open()) stream_.close_notify();
    }
    beast::error_code ignored;
    lowest().socket().close(ignored);
  }

 private:
  Stream make_stream(const asio::any_io_executor& strand) {
    if constexpr (is_tls) return Stream(strand, *tls_);
    else return Stream(strand);
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  // TLS to the proxy itself (an https:// proxy).
  bool proxy_tls() const { return route_.proxy && route_.proxy->tls(); }
  // What CONNECT is written to and its answer read from: the TCP stream,
  // or the TLS session with an https:// proxy. `f` is called once.
  template <class F>
  void with_proxy_stream(F&& f) {
    if constexpr (is_tls) {
      if (proxy_tls()) return f(stream_);
    }
    f(lowest());
  }

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
    // Without idle_timeout (the default, as in browsers) a peer that vanished
    // (NAT drop, power loss) is still found, by the kernel's probes: after a
    // minute of silence, one a minute (curl's --keepalive-time default; the
    // kernel's own first probe comes after 2 hours, which found a vanished
    // peer after 2 h 11 min). Best effort, as the option itself.
    lowest().socket().set_option(asio::socket_base::keep_alive(true), ec);
#if defined(TCP_KEEPIDLE) && defined(TCP_KEEPINTVL)
    const int keepalive_seconds = 60;
    for (const int option : {TCP_KEEPIDLE, TCP_KEEPINTVL})
      (void)::setsockopt(lowest().socket().native_handle(), IPPROTO_TCP, option, &keepalive_seconds, sizeof keepalive_seconds);
#endif
    if (proxy_tls()) return handshake(handler, true);
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
    with_proxy_stream([&](auto& s) {
      http::async_write(s, *connect_request_, [this, handler = std::move(handler)](beast::error_code ec, std::size_t) mutable {
        if (ec) return fail_network(handler, ec, "can't send CONNECT to " + peer());
        read_connect_response(handler);
      });
    });
  }

  void read_connect_response(open_handler& handler) {
    connect_response_.emplace();
    connect_response_->header_limit(static_cast<std::uint32_t>(2 * max_response_head));  // as the origin's: with repair_head's CRs
    connect_response_->body_limit(boost::none);
    with_proxy_stream([&](auto& s) {
      async_read_head(s, connect_buffer_, *connect_response_, max_response_head,
                      [this, handler = std::move(handler)](beast::error_code e, std::size_t) mutable { on_connect_response(handler, e); });
    });
  }

  void on_connect_response(open_handler& handler, beast::error_code ec) {
    if (ec && looks_like_http2_frames(text_of(connect_buffer_)))
      return fail_network(handler, ec, peer() + " answered CONNECT in HTTP/2 framing: it takes only HTTP/2, and this client speaks HTTP/1.1");
    if (ec && looks_like_tls_record(text_of(connect_buffer_)))
      return fail_network(handler, ec, peer() + " answered CONNECT in TLS: it is an https:// proxy, not http://");
    if (ec == http::error::end_of_stream) return fail_network(handler, ec, peer() + " closed the connection without answering CONNECT");
    if (ec == http::error::partial_message) return fail_network(handler, ec, peer() + " closed the connection in the middle of its answer to CONNECT");
    if (ec == http::error::header_limit) return fail_network(handler, ec, "the answer to CONNECT from " + peer() + " is too long");
    if (is_http_error(ec)) return fail_network(handler, ec, "a malformed answer to CONNECT from " + peer());
    if (ec) return fail_network(handler, ec, "no answer to CONNECT from " + peer());
    const int status = static_cast<int>(connect_response_->get().result_int());
    // RFC 9110 15.2: 1xx answers precede the final one; skipped as on the
    // direct path, and as many at most.
    if (status >= 100 && status < 200 && status != 101) {
      if (++connect_interim_ > max_interim_responses) return fail_network(handler, http::error::bad_status, "too many 1xx answers to CONNECT from " + peer());
      return read_connect_response(handler);
    }
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
    bound_refusal(std::chrono::seconds(2));
    read_refusal(handler);
  }

  // The time the refusal's body may take. tcp_stream's own timeout covers
  // reads on it; the TLS session waits on the socket itself, so a timer
  // cancels that wait instead.
  void bound_refusal(std::chrono::steady_clock::duration limit) {
    if (!proxy_tls()) return lowest().expires_after(limit);
    // Made here, not for every transport: idle connections stay small.
    refusal_timer_.emplace(resolver_.get_executor());
    alive_ = std::make_shared<int>(0);
    refusal_timer_->expires_after(limit);
    refusal_timer_->async_wait([this, alive = std::weak_ptr<int>(alive_)](beast::error_code ec) {
      if (ec || alive.expired()) return;
      beast::error_code ignored;
      lowest().socket().cancel(ignored);
    });
  }

  void read_refusal(open_handler& handler) {
    if (connect_response_->is_done() || connect_excerpt_.size() >= excerpt_limit) return refused(handler);
    with_proxy_stream([&](auto& s) {
      http::async_read_some(s, connect_buffer_, *connect_response_, [this, handler = std::move(handler)](beast::error_code ec, std::size_t) mutable {
        if (ec && ec != http::error::need_buffer) return refused(handler);
        read_refusal(handler);
      });
    });
  }

  void refused(open_handler& handler) {
    if (refusal_timer_) refusal_timer_->cancel();
    const auto& res = connect_response_->get();
    open_failure f;
    f.reason = client_error_reason::proxy_refused;
    f.retryable = false;
    f.status = static_cast<int>(res.result_int());
    for (const auto& field : res) f.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    f.body = connect_excerpt_;
    f.message = peer() + " refused the tunnel to " + target_.authority() + ": " + status_digits(f.status) + " " +
                escape_text(std::string(res.reason()));
    handler(&f);
  }

  // TLS with the origin: on the socket, or inside the proxy's TLS session
  // (an https:// proxy's tunnel) as a second session.
  void start_tls(open_handler& handler) {
    if constexpr (!is_tls) {
      handler(nullptr);
    } else {
      if (proxy_tls() && !stream_.start_inner()) {
        open_failure f{client_error_reason::tls_error, {}, "can't make a TLS connection inside the proxy's TLS session (out of memory)", false};
        return handler(&f);
      }
      handshake(handler, false);
    }
  }

  // The TLS handshake with the origin, or (`with_proxy`) with an https://
  // proxy: the same context, verification, SNI and ALPN, for that peer's
  // name; failures name it. After the proxy's: CONNECT (https:// targets),
  // or open (http:// targets go to the proxy in absolute-form inside it).
  void handshake(open_handler& handler, bool with_proxy) {
    if constexpr (!is_tls) {
      // The factory makes a TLS transport for every route through an https:// proxy.
      open_failure f{client_error_reason::tls_error, {}, "no TLS for the proxy " + peer(), false};
      handler(&f);
    } else {
      SSL* ssl = stream_.native_handle();
      if (ssl == nullptr) {
        open_failure f{client_error_reason::tls_error, {}, "can't make a TLS connection (out of memory)", false};
        return handler(&f);
      }
      std::string host = with_proxy ? route_.proxy->host : target_.host;
      beast::error_code address_ec;
      asio::ip::make_address(host, address_ec);
      const bool by_name = static_cast<bool>(address_ec);
      // "example.com." is example.com, absolute: SNI has no trailing dot
      // (RFC 6066 3), and certificates name the host without it (browsers
      // and curl drop it for both too).
      if (by_name && host.size() > 1 && host.back() == '.') host.pop_back();
      // SNI is for host names only (RFC 6066). OpenSSL checks the name (or
      // IP) itself, so a mismatch shows up in SSL_get_verify_result.
      if (by_name && !SSL_set_tlsext_host_name(ssl, host.c_str())) {
        open_failure f{client_error_reason::tls_error, {}, "can't set the TLS server name", false};
        return handler(&f);
      }
      // Per connection, so that a user's context gets them too: ALPN (some
      // servers and load balancers require it; h2 is not offered; a proxy
      // hears that HTTP/1.1 comes) and peer verification unless turned off
      // (a verify callback stays).
      if (SSL_set_alpn_protos(ssl, alpn_http11, sizeof alpn_http11) != 0) {
        open_failure f{client_error_reason::tls_error, {}, "can't set ALPN", false};
        return handler(&f);
      }
      SSL_set_verify(ssl, insecure_ ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      const int set = by_name ? X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size())
                              : X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
      // The name in a subjectAltName only: not the subject's CN, which
      // OpenSSL matches when a certificate has no DNS name (browsers refuse
      // that; RFC 9525 6.3), and no partial wildcards ("f*.example.com").
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (set != 1) {
        open_failure f{client_error_reason::tls_error, {}, "can't set the host name to verify", false};
        return handler(&f);
      }
      stream_.async_handshake([this, with_proxy, handler = std::move(handler)](beast::error_code e) mutable {
        if (e) {
          SSL* failed = stream_.native_handle();
          if (!with_proxy && stream_.outer_failed() && !is_verify_failure(e)) {
            // The proxy's session broke under the origin's handshake: the
            // proxy's fault (retried, as the same fault one step earlier
            // while reading its CONNECT answer), not the origin's.
            open_failure f{client_error_reason::network_error, e,
                           "the TLS session with " + peer() + " failed during the TLS handshake with " + target_.authority() +
                               " inside it: " + e.message(),
                           true};
            return handler(&f);
          }
          // Inside a tunnel, the way it went too: the proxy may have cut it
          // (not for the origin's certificate, which is the origin's alone).
          const bool via = !with_proxy && route_.proxy && !is_verify_failure(e);
          const open_failure f = handshake_failure(failed, e, with_proxy ? peer() : via ? target_.authority() + " through " + peer() : target_.authority(),
                                                   own_trust_);
          return handler(&f);
        }
        if (with_proxy && route_.tunnel(target_)) return send_connect(handler);
        handler(nullptr);
      });
    }
  }

  static constexpr std::size_t excerpt_limit = 1024;

  tcp::resolver resolver_;
  // While connecting. Weak: the race's handler holds this transport (through
  // the client's connection), so owning it would be a cycle that an
  // io_context stopped or destroyed mid-connect never breaks (a leaked
  // socket per run_client() timeout); its pending operations own it.
  std::weak_ptr<connect_race> race_;
  std::shared_ptr<ssl::context> tls_;
  Stream stream_;
  url target_;
  proxy_route route_;
  std::optional<http::request<http::empty_body>> connect_request_;
  std::optional<response_parser> connect_response_;
  beast::flat_buffer connect_buffer_;
  std::string connect_excerpt_;
  int connect_interim_ = 0;
  std::optional<asio::steady_timer> refusal_timer_;  // bounds a refusal's body read through TLS (bound_refusal)
  std::shared_ptr<int> alive_;  // expired: the timer's handler outlived this transport
  bool insecure_;
  bool own_trust_;
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
  void async_read_some(beast::flat_buffer&, io_handler) override {}
  void close() override {}

 private:
  asio::any_io_executor strand_;
  std::string why_;
};

class network_factory final : public transport_factory {
 public:
  network_factory(const client_options& options, const proxy_settings& proxies)
      : options_{options.insecure_skip_tls_verification, options.ca_file, options.ca_directory},
        tls_(options.tls_context) {
    if (tls_ && (!options.ca_file.empty() || !options.ca_directory.empty())) {
      throw client_options_error("ssekit::client: tls_context and ca_file / ca_directory exclude each other");
    }
    // Got now when it will be needed, so a bad CA file throws in the
    // constructor; an http stream redirected to https gets it later.
    const auto target = parse_url(options.url);
    const bool tls_proxy = (proxies.http && proxies.http->tls()) || (proxies.https && proxies.https->tls());
    if (!tls_ && ((target && target->tls()) || tls_proxy || !options.ca_file.empty() || !options.ca_directory.empty())) {
      tls_ = contexts().get(options_);
    }
  }

  std::unique_ptr<transport> make(const asio::any_io_executor& strand, const url& target, const proxy_route& route) override {
    const bool insecure = options_.insecure_skip_tls_verification;
    // TLS with the origin, or with an https:// proxy (even for http:// targets).
    if (!target.tls() && !(route.proxy && route.proxy->tls())) {
      return std::make_unique<network_transport<plain_stream>>(strand, nullptr, insecure);
    }
    if (!tls_) {
      try {
        tls_ = contexts().get(options_);
      } catch (const client_options_error& e) {
        return std::make_unique<failed_transport>(strand, e.what());
      }
    }
    return std::make_unique<network_transport<tls_stream>>(strand, tls_, insecure, own_trust_);
  }

 private:
  tls_options options_;
  std::shared_ptr<ssl::context> tls_;
  // After tls_: a tls_context the user gave is their own trust too.
  bool own_trust_ = !options_.ca_file.empty() || !options_.ca_directory.empty() || tls_ != nullptr;
};

}  // namespace

bool is_tls_truncation(beast::error_code ec) { return ec == boost::asio::ssl::error::stream_truncated; }

bool is_client_certificate_refusal(beast::error_code ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  // A reason number means something only within its library.
  const auto code = static_cast<unsigned long>(ec.value());
  if (ERR_GET_LIB(code) != ERR_LIB_SSL) return false;
  switch (ERR_GET_REASON(code)) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
      return true;
    default:
      return false;
  }
}

std::shared_ptr<transport_factory> make_network_factory(const client_options& options, const proxy_settings& proxies) {
  return std::make_shared<network_factory>(options, proxies);
}

std::uint64_t tls_trust_loads() noexcept { return g_trust_loads.load(std::memory_order_relaxed); }

}  // namespace ssekit::detail

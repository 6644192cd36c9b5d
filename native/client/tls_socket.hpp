// A TLS client stream over a beast::tcp_stream in which OpenSSL reads and
// writes the (non-blocking) socket itself, with Asio only waiting for the
// socket to be ready. Why not asio::ssl::stream: each of those keeps two
// 17 KiB buffers of its own plus a BIO pair (up to 2 x 17 KiB more) for the
// life of the connection, ~50 KiB per idle stream. Here an idle stream holds
// OpenSSL's state only: SSL_MODE_RELEASE_BUFFERS frees the record buffers
// whenever they are empty. (nginx and other event-loop servers drive
// OpenSSL the same way.)
//
// Meets Beast's AsyncReadStream / AsyncWriteStream; one read and one write
// may be pending at once; completions run on the handler's executor, never
// inside the initiating call. Included by transport.cpp only.
//
// TLS in TLS (an https:// proxy, then an https:// origin through its
// CONNECT tunnel): start_inner() adds a second session whose BIO is a
// BIO_f_ssl over the first (curl's way with OpenSSL). The inner session's
// records become the outer one's plaintext; both end on the one
// non-blocking socket, so an inner WANT_READ / WANT_WRITE means what it
// means now (the outer SSL call under it wants the socket) and is waited
// for the same way. What must not be waited for: bytes either session has
// already buffered (idle() and the read gathering look at both).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace ssekit::detail {

class tls_socket {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;

  // A failed SSL_new leaves native_handle() null (the caller checks).
  tls_socket(const executor_type& executor, boost::asio::ssl::context& context);
  ~tls_socket();
  tls_socket(const tls_socket&) = delete;
  tls_socket& operator=(const tls_socket&) = delete;

  executor_type get_executor() { return next_.get_executor(); }
  next_layer_type& next_layer() noexcept { return next_; }
  // The session reads, writes and handshakes use: the inner one once
  // start_inner() made it.
  SSL* native_handle() noexcept { return inner_ != nullptr ? inner_ : ssl_; }

  // After the outer session's handshake (and, for a tunnel, the proxy's
  // 2xx to CONNECT read through it): a second session, from the same
  // context, inside the first; native_handle() is then the new one, to be
  // set up and handshaken as the first was. False when OpenSSL can't
  // allocate it.
  bool start_inner();
  // After start_inner(): the outer session (the proxy's) met a fatal error,
  // e.g. a broken record from the proxy while the inner handshake ran;
  // OpenSSL puts a failed session back "in init" (its error state).
  bool outer_failed() const noexcept { return inner_ != nullptr && SSL_in_init(ssl_) != 0; }

  // Before the socket closes: TLS's close_notify alert, so the server sees
  // a deliberate end (OpenSSL 3 servers log "unexpected eof" without it).
  // One non-blocking try, never a wait for the server's answer; only after
  // a finished handshake and no fatal error (when OpenSSL forbids it).
  void close_notify() noexcept;

  // After the TCP connect: the client handshake (SNI, host name and ALPN
  // are set on native_handle() before).
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::beast::error_code)>(
        handshake_op{this}, token, next_.socket());
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::mutable_buffer(*it).size() != 0) {
        first = *it;
        break;
      }
    }
    return boost::asio::async_compose<Token, void(boost::beast::error_code, std::size_t)>(
        transfer_op{this, first.data(), first.size(), true}, token, next_.socket());
  }

  // Writes at most one piece: the first buffer, or several small ones
  // gathered into one record (Beast hands a request head over in pieces).
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    transfer_op op{this, nullptr, 0, false};
    std::size_t count = 0;
    boost::asio::const_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (count++ == 0) first = b;
    }
    if (count > 1 && first.size() < gather_limit) {
      op.copy = std::make_shared<std::string>();
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
        const boost::asio::const_buffer b(*it);
        const std::size_t room = gather_limit - op.copy->size();
        op.copy->append(static_cast<const char*>(b.data()), b.size() < room ? b.size() : room);
        if (op.copy->size() == gather_limit) break;
      }
      op.data = op.copy->data();
      op.size = op.copy->size();
    } else {
      op.data = const_cast<void*>(first.data());
      op.size = first.size();
    }
    return boost::asio::async_compose<Token, void(boost::beast::error_code, std::size_t)>(std::move(op), token,
                                                                                          next_.socket());
  }

 private:
  static constexpr std::size_t gather_limit = 16 * 1024;  // one TLS record's payload
  static constexpr std::size_t tls_read_ahead_bytes = 64 * 1024;  // OpenSSL's read buffer while data flows

  // One try of an SSL call: done (the error set, or none) or wait for the socket.
  enum class step { done, want_read, want_write };
  step failure(int ret, boost::beast::error_code& ec);
  step try_handshake(boost::beast::error_code& ec);
  step try_transfer(bool read, void* data, std::size_t size, boost::beast::error_code& ec, std::size_t& n);
  // Either session holds received bytes (decrypted or not): an SSL_read
  // may make progress without the socket.
  bool buffered() const noexcept { return SSL_has_pending(ssl_) != 0 || (inner_ != nullptr && SSL_has_pending(inner_) != 0); }
  // Connected, OpenSSL holds no received bytes (decrypted or not), and no
  // SSL_read (in try_transfer's gathering) stopped because it had to write
  // first: that one must be called again, not waited on for bytes.
  bool idle() const noexcept {
    return attached_ && !buffered() && !deferred_read_error_ && SSL_want_write(ssl_) == 0 &&
           (inner_ == nullptr || SSL_want_write(inner_) == 0);
  }

  struct handshake_op {
    tls_socket* self;
    bool started = false;
    bool finished = false;
    boost::beast::error_code result{};
    template <class Self>
    void operator()(Self& op, boost::beast::error_code ec = {}) {
      if (finished) return op.complete(result);
      if (started && ec) return op.complete(ec);
      const bool first = !started;
      started = true;
      const step s = self->try_handshake(result);
      if (s == step::done) {
        if (!first) return op.complete(result);
        finished = true;
        return boost::asio::post(std::move(op));  // not inside the initiating call
      }
      self->next_.socket().async_wait(s == step::want_read ? boost::asio::socket_base::wait_read
                                                           : boost::asio::socket_base::wait_write,
                                      std::move(op));
    }
  };

  struct transfer_op {
    tls_socket* self;
    void* data;
    std::size_t size;
    bool read;
    std::shared_ptr<std::string> copy{};  // gathered write pieces
    bool started = false;
    bool finished = false;
    boost::beast::error_code result{};
    std::size_t n = 0;
    template <class Self>
    void operator()(Self& op, boost::beast::error_code ec = {}) {
      if (finished) return op.complete(result, n);
      if (started && ec) return op.complete(ec, 0);
      const bool first = !started;
      started = true;
      if (first && read && size != 0 && self->idle()) {
        // Nothing buffered: wait for bytes before SSL_read, which would
        // allocate its record buffer and keep it through the wait.
        return self->next_.socket().async_wait(boost::asio::socket_base::wait_read, std::move(op));
      }
      const step s = self->try_transfer(read, data, size, result, n);
      if (s == step::done) {
        if (!first) return op.complete(result, n);
        finished = true;
        return boost::asio::post(std::move(op));
      }
      self->next_.socket().async_wait(s == step::want_read ? boost::asio::socket_base::wait_read
                                                           : boost::asio::socket_base::wait_write,
                                      std::move(op));
    }
  };

  next_layer_type next_;
  SSL_CTX* context_;       // for the inner session (the transport holds the context)
  SSL* ssl_ = nullptr;     // on the socket
  SSL* inner_ = nullptr;   // inside ssl_ (start_inner), or none
  bool attached_ = false;  // the socket is the SSL's BIO (after connect)
  int last_errno_ = 0;     // the socket's last failure, for SSL_ERROR_SYSCALL
  bool fatal_ = false;     // an SSL call failed for good (SSL_ERROR_SSL or _SYSCALL)
  boost::beast::error_code deferred_read_error_;  // met after a read's first record (try_transfer)
  friend struct socket_bio;
};

}  // namespace ssekit::detail

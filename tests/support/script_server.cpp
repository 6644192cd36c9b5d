#include "support/script_server.hpp"

#include "support/client_options.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ssekit::testing {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// Blocking I/O over a socket or a TLS stream on it.
template <class Stream>
class stream_connection final : public script_server::connection {
 public:
  template <class... Args>
  stream_connection(script_server& server, Args&&... args) : server_(server), stream_(std::forward<Args>(args)...) {}
  ~stream_connection() override { close_socket(); }

  Stream& stream() { return stream_; }
  tcp::socket& socket() { return static_cast<tcp::socket&>(stream_.lowest_layer()); }

  bool read_request(request& out) override {
    if (!read_head_only(out)) return false;
    boost::system::error_code ec;
    const auto declared = out.content_length();
    if (!declared || *declared > 64 * 1024 * 1024) return false;  // tests send small bodies
    const auto length = static_cast<std::size_t>(*declared);
    if (buffer_.size() < length) asio::read(stream_, buffer_, asio::transfer_exactly(length - buffer_.size()), ec);
    if (ec) return false;
    out.body.assign(asio::buffers_begin(buffer_.data()), asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(length));
    buffer_.consume(length);
    server_.record(out);
    return true;
  }

  bool read_head(request& out) override {
    if (!read_head_only(out)) return false;
    server_.record(out);
    return true;
  }

  std::string read_some() override {
    if (buffer_.size() > 0) {
      std::string out(asio::buffers_begin(buffer_.data()), asio::buffers_end(buffer_.data()));
      buffer_.consume(buffer_.size());
      return out;
    }
    char bytes[16 * 1024];
    boost::system::error_code ec;
    const std::size_t n = stream_.read_some(asio::buffer(bytes), ec);
    return ec ? std::string() : std::string(bytes, n);
  }

  bool read_head_only(request& out) {
    boost::system::error_code ec;
    const std::size_t header_size = asio::read_until(stream_, buffer_, "\r\n\r\n", ec);
    if (ec) return false;
    const std::string_view header(static_cast<const char*>(buffer_.data().data()), header_size);
    auto parsed = parse_head(header);
    buffer_.consume(header_size);
    if (!parsed) return false;
    out = request{};
    static_cast<http_head&>(out) = std::move(*parsed);
    return true;
  }

  bool write(std::string_view bytes) override {
    boost::system::error_code ec;
    asio::write(stream_, asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }

  bool write_raw(std::string_view bytes) override {
    boost::system::error_code ec;
    asio::write(socket(), asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }

  bool renegotiate() override {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return false;
    } else {
      SSL* ssl = stream_.native_handle();
      if (SSL_version(ssl) != TLS1_2_VERSION || SSL_renegotiate(ssl) != 1) return false;
      boost::system::error_code ec;
      stream_.handshake(ssl::stream_base::server, ec);  // sends the HelloRequest
      if (ec) return false;
      // The client's answer is taken by reads; the client sends no data, so
      // they are non-blocking ones, each after poll() says bytes arrived,
      // until the handshake is done (or hang_limit passes).
      socket().non_blocking(true, ec);
      const auto deadline = std::chrono::steady_clock::now() + hang_limit;
      while (!ec && SSL_renegotiate_pending(ssl) == 1 && std::chrono::steady_clock::now() < deadline) {
        pollfd p{socket().native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 100) < 0 && errno != EINTR) break;
        char byte;
        stream_.read_some(asio::buffer(&byte, 1), ec);
        if (ec == asio::error::would_block) ec = {};
        else if (!ec) return false;  // no data was expected
      }
      const bool done = !ec && SSL_renegotiate_pending(ssl) == 0;
      socket().non_blocking(false, ec);
      return done;
    }
  }

  std::optional<std::size_t> write_now(std::string_view bytes) override {
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      throw std::logic_error("write_now: plain connections only (a TLS record cannot be half written)");
    } else {
      const ssize_t n = ::send(socket().native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t{0};
      return std::nullopt;
    }
  }

  void close() override {
    boost::system::error_code ec;
    if constexpr (!std::is_same_v<Stream, tcp::socket>) stream_.shutdown(ec);
    socket().shutdown(tcp::socket::shutdown_send, ec);
    wait_for_client_close(std::chrono::milliseconds(2000));
    close_socket();
  }

  void cut() override {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    wait_for_client_close(std::chrono::milliseconds(2000));
    close_socket();
  }

  void reset() override {
    boost::system::error_code ec;
    socket().set_option(asio::socket_base::linger(true, 0), ec);
    close_socket();
  }

  std::string read_until_client_end() override {
    buffer_.consume(buffer_.size());
    char bytes[4096];
    for (;;) {
      boost::system::error_code ec;
      stream_.read_some(asio::buffer(bytes), ec);
      if (!ec) continue;
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        return ec == asio::error::eof ? "fin" : "error";
      } else {
        if (ec == asio::error::eof) return "close_notify";  // Asio's name for SSL_ERROR_ZERO_RETURN
        return ec == ssl::error::stream_truncated ? "fin" : "error";
      }
    }
  }

  bool wait_for_client_close(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!socket().is_open()) return true;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{socket().native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char scratch[4096];
      const ssize_t n = ::recv(socket().native_handle(), scratch, sizeof scratch, 0);
      if (n <= 0) return true;
    }
  }

 private:
  void close_socket() {
    if (!socket().is_open()) return;
    server_.forget_socket(socket().native_handle());
    boost::system::error_code ec;
    socket().close(ec);
  }

  script_server& server_;
  Stream stream_;
  asio::streambuf buffer_;
};

}  // namespace

script_server::script_server(script s, std::shared_ptr<ssl::context> tls)
    : script_(std::move(s)), tls_(std::move(tls)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

script_server::~script_server() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // Wakes accept() and any blocked read or write.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    for (const int fd : native_sockets_) ::shutdown(fd, SHUT_RDWR);
  }
  accept_thread_.join();
  for (auto& t : threads_) t.join();
}

std::string script_server::url(std::string_view path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void script_server::accept_loop() {
  for (;;) {
    tcp::socket socket(io_);
    boost::system::error_code ec;
    acceptor_.accept(socket, ec);
    std::lock_guard lock(mutex_);
    if (ec || stopping_) return;
    const int number = ++connections_;
    native_sockets_.push_back(socket.native_handle());
    changed_.notify_all();
    threads_.emplace_back([this, number, s = std::move(socket)]() mutable {
      if (tls_) {
        stream_connection<ssl::stream<tcp::socket>> c(*this, std::move(s), *tls_);
        c.number = number;
        boost::system::error_code hec;
        c.stream().handshake(ssl::stream_base::server, hec);
        if (const char* sni = SSL_get_servername(c.stream().native_handle(), TLSEXT_NAMETYPE_host_name)) c.tls_server_name = sni;
        if (!hec) script_(c);
      } else {
        stream_connection<tcp::socket> c(*this, std::move(s));
        c.number = number;
        script_(c);
      }
    });
  }
}

void script_server::forget_socket(int fd) {
  std::lock_guard lock(mutex_);
  std::erase(native_sockets_, fd);
}

void script_server::record(const request& r) {
  std::lock_guard lock(mutex_);
  requests_.push_back(r);
  changed_.notify_all();
}

std::vector<request> script_server::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

int script_server::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

bool script_server::wait_for_connections(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return connections_ >= n; });
}

bool script_server::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

std::string stream_header(std::string_view content_type, std::string_view extra) {
  std::string h = "HTTP/1.1 200 OK\r\nContent-Type: ";
  h += content_type;
  h += "\r\nCache-Control: no-cache\r\n";
  h += extra;
  h += "\r\n";
  return h;
}

std::string chunk(std::string_view bytes) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  return std::string(size) + std::string(bytes) + "\r\n";
}

}  // namespace ssekit::testing

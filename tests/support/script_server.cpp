#include "support/script_server.hpp"

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

  void close() override {
    boost::system::error_code ec;
    if constexpr (!std::is_same_v<Stream, tcp::socket>) stream_.shutdown(ec);
    socket().shutdown(tcp::socket::shutdown_send, ec);
    wait_for_client_close(std::chrono::milliseconds(2000));
    close_socket();
  }

  void reset() override {
    boost::system::error_code ec;
    socket().set_option(asio::socket_base::linger(true, 0), ec);
    close_socket();
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

// --- a throwaway PKI

namespace {

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

pkey_ptr make_key() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

x509_ptr make_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key, long serial,
                   bool expired = false, bool self_signed_server = false) {
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), expired ? -60 : 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  if (self_signed_server) {
    add_extension(cert.get(), signer, NID_subject_alt_name, ("DNS:" + common_name + ",IP:127.0.0.1").c_str());
  } else if (!issuer) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name, ("DNS:" + common_name + ",IP:127.0.0.1").c_str());
  }
  check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "signing");
  return cert;
}

std::string pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

}  // namespace

test_pki make_test_pki(const std::string& host_name, bool expired) {
  const pkey_ptr ca_key = make_key();
  const x509_ptr ca = make_cert(ca_key.get(), "ssekit test CA", nullptr, nullptr, 1);
  const pkey_ptr server_key = make_key();
  const x509_ptr server = make_cert(server_key.get(), host_name, ca.get(), ca_key.get(), 2, expired);
  return {pem(ca.get()), pem(server.get()), pem(server_key.get())};
}

test_pki make_self_signed_pki(const std::string& host_name) {
  const pkey_ptr key = make_key();
  const x509_ptr cert = make_cert(key.get(), host_name, nullptr, nullptr, 3, false, true);
  return {pem(cert.get()), pem(cert.get()), pem(key.get())};
}

std::shared_ptr<ssl::context> server_tls_context(const test_pki& pki) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->use_certificate_chain(asio::buffer(pki.server_cert));
  ctx->use_private_key(asio::buffer(pki.server_key), ssl::context::pem);
  return ctx;
}

void write_hashed_ca(const std::string& ca_cert, const std::string& directory) {
  BIO* bio = BIO_new_mem_buf(ca_cert.data(), static_cast<int>(ca_cert.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  check(cert != nullptr, "reading the CA back");
  char name[32];
  std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(cert));
  X509_free(cert);
  std::ofstream(directory + "/" + name) << ca_cert;
}

}  // namespace ssekit::testing

// A throwaway PKI made with OpenSSL at run time (nothing is committed):
// the client's TLS tests and the https benchmark (bench/native) use it.
#include "support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/asio/buffer.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace ssekit::testing {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

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
                   bool expired = false, bool self_signed_server = false, bool subject_alt_name = true) {
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
    if (subject_alt_name) add_extension(cert.get(), signer, NID_subject_alt_name, ("DNS:" + common_name + ",IP:127.0.0.1").c_str());
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

test_pki make_test_pki(const std::string& host_name, bool expired, bool subject_alt_name) {
  const pkey_ptr ca_key = make_key();
  const x509_ptr ca = make_cert(ca_key.get(), "ssekit test CA", nullptr, nullptr, 1);
  const pkey_ptr server_key = make_key();
  const x509_ptr server = make_cert(server_key.get(), host_name, ca.get(), ca_key.get(), 2, expired, false, subject_alt_name);
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

// A test CA and server certificates, made with OpenSSL at run time.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace ssekit::testing {

// A test CA and a server certificate it signed, made with OpenSSL at run
// time (nothing is committed): PEM strings.
struct test_pki {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
};
// The server certificate is for `host_name` (DNS) and 127.0.0.1 (IP);
// `expired`: its validity ended a minute ago; without `subject_alt_name`,
// `host_name` is only its subject's common name (a legacy certificate).
test_pki make_test_pki(const std::string& host_name, bool expired = false, bool subject_alt_name = true);
// A self-signed server certificate for `host_name` and 127.0.0.1 (no CA):
// ca_cert == server_cert.
test_pki make_self_signed_pki(const std::string& host_name);
std::shared_ptr<boost::asio::ssl::context> server_tls_context(const test_pki& pki);
// Writes `ca_cert` into `directory` under OpenSSL's hashed name (HASH.0), as
// a CA directory (c_rehash) holds it.
void write_hashed_ca(const std::string& ca_cert, const std::string& directory);

}  // namespace ssekit::testing

// A test suite with one throwaway PKI (CA + "localhost" certificate) and the
// CA written to a file, per process: ctest runs each test in its own
// process, in parallel. Suites derive from it (ClientTls, ProxyTls).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "support/test_pki.hpp"

namespace ssekit::testing {

class tls_fixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new test_pki(make_test_pki("localhost"));
    ca_path_ = new std::string(::testing::TempDir() + "ssekit-test-ca-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(*ca_path_) << pki_->ca_cert;
  }
  static void TearDownTestSuite() {
    std::remove(ca_path_->c_str());
    delete pki_;
    delete ca_path_;
  }
  static inline test_pki* pki_ = nullptr;
  static inline std::string* ca_path_ = nullptr;
};

}  // namespace ssekit::testing

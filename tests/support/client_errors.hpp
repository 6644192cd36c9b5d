// The errors a client reports, for tests of what it does after each one.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <optional>
#include <vector>

#include "ssekit/client.hpp"
#include "support/client_options.hpp"

namespace ssekit::testing {

// Runs a client with `options` until it reported `count` errors (then closes
// it) or closed by itself; fails the test at the hang limit.
inline std::vector<client_error> errors_until(const client_options& options, std::size_t count) {
  std::vector<client_error> errors;
  boost::asio::io_context io;
  std::optional<client> c;
  client_handlers h;
  h.on_error = [&](const client_error& e) {
    errors.push_back(e);
    if (errors.size() == count) c->close();
  };
  c.emplace(io.get_executor(), options, h);
  io.run_for(hang_limit);
  EXPECT_TRUE(io.stopped()) << "the client ran into the test's hang limit";
  return errors;
}

}  // namespace ssekit::testing

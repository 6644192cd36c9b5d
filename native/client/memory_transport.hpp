// In-memory connections for the client's tests and fuzz targets (not part
// of the installed library): each attempt talks to a scripted "server" over
// a pair of Beast test streams (beast::test::stream), and any I/O step can
// be made to fail, as Beast's own tests do with fail_count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "transport.hpp"

namespace ssekit::detail {

struct memory_server {
  // The bytes that answer connection `n` (1 for the first) once its request
  // is written. The stream then ends (the client reads EOF after them)
  // unless keep_open.
  std::function<std::string(int n, const std::string& request)> respond;
  bool keep_open = false;
  std::size_t read_size = SIZE_MAX;  // at most this many bytes per read (dripping)
  // The I/O step (0-based, counted over all connections: open, write,
  // read header, read body) that fails with beast::test::error::test_failure.
  std::size_t fail_step = SIZE_MAX;
  // Called with each step's number as it starts (e.g. to close the client there).
  std::function<void(std::size_t step)> on_step;

  // What happened.
  std::size_t steps = 0;
  int connections = 0;
  bool injected = false;  // fail_step was reached
  std::vector<std::string> requests;
  std::vector<std::string> hosts;  // the URL host each connection was opened to
};

std::shared_ptr<transport_factory> make_memory_factory(std::shared_ptr<memory_server> server);

}  // namespace ssekit::detail

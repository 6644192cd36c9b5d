// fuzz_client_stream: arbitrary server bytes (status line, headers,
// framing, body) played to ssekit::client through its in-memory transport
// (native/client/memory_transport.hpp), over several connections
// (redirects, reconnects). Input: one byte for the read size (0: all at
// once, else 1..64 bytes per read), then each connection's response,
// separated by the 4 bytes "\n--\n"; connections after the last get 204.
// Checks: no crash, leak or sanitizer report; the client ends closed with
// nothing left running (every wait bounded), and never calls a handler
// after close().
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memory_transport.hpp"
#include "ssekit/client.hpp"

namespace {

std::vector<std::string> split_responses(std::string_view bytes) {
  std::vector<std::string> out;
  constexpr std::string_view separator = "\n--\n";
  for (;;) {
    const auto at = bytes.find(separator);
    out.emplace_back(bytes.substr(0, at));
    if (at == std::string_view::npos) break;
    bytes.remove_prefix(at + separator.size());
  }
  return out;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "\n*** fuzz_client_stream: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t read_size = data[0] % 65;
  const std::vector<std::string> responses =
      split_responses(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));

  auto server = std::make_shared<ssekit::detail::memory_server>();
  server->read_size = read_size == 0 ? SIZE_MAX : read_size;
  server->respond = [&responses](int n, const std::string&) {
    const auto i = static_cast<std::size_t>(n - 1);
    return i < responses.size() ? responses[i] : std::string("HTTP/1.1 204 No Content\r\n\r\n");
  };

  ssekit::client_options o;
  o.url = "http://fuzz.test/events";
  o.reconnection_time = std::chrono::milliseconds(0);
  o.backoff.min_delay = std::chrono::milliseconds(1);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.limits.max_line_length = 4096;
  o.limits.max_event_size = 8192;
  o.retry_server_errors = true;

  boost::asio::io_context io;
  std::optional<ssekit::client> c;
  bool closed = false;
  int errors = 0;
  auto check_open = [&] {
    if (closed) fail("a handler ran after close()");
  };
  ssekit::client_handlers h;
  h.on_open = [&](const ssekit::response_info&) { check_open(); };
  h.on_event = [&](const ssekit::event&) { check_open(); };
  h.on_comment = [&](std::string_view) { check_open(); };
  h.on_state = [&](ssekit::client_state) { check_open(); };
  h.on_error = [&](const ssekit::client_error& e) {
    check_open();
    if (!e.will_reconnect || e.reason == ssekit::client_error_reason::id_not_sent) return;
    // A server's retry: or Retry-After can ask for hours: reconnect at once
    // instead, and stop after a few.
    if (++errors > 8) {
      c->close();
      closed = true;
    } else {
      c->restart();
    }
  };
  c.emplace(io.get_executor(), o, h, ssekit::detail::make_memory_factory(server));
  io.run_for(std::chrono::seconds(5));
  if (!io.stopped()) fail("the client was still busy after 5 s");
  if (c->state() != ssekit::client_state::closed) fail("the client ran out of work without closing");
  return 0;
}

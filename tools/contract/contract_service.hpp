// ssekit::contract::service: the "test service" of the SSE contract tests
// (github.com/launchdarkly/sse-contract-tests) for ssekit::client. The
// harness creates stream entities over HTTP; each one is an ssekit::client
// whose events, comments and errors are POSTed back to the harness, in
// order. The protocol and the declared capabilities: README.md next to
// this file. `ssekit-contract-service` (main.cpp) runs it as a program.
//
//   boost::asio::io_context io;
//   ssekit::contract::service svc{io.get_executor(), {.port = 8111}};
//   io.run();   // until DELETE / or svc.stop()
//
// Threads: the service's own work runs on one strand of the executor; each
// client runs on a strand of its own and hands what it receives to the
// service's strand. stop() may be called from any thread.
//
// This header does not include Beast: the implementation is compiled once
// (contract_service.cpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol.hpp"  // capabilities()

namespace ssekit::contract {

struct service_options {
  // Where to listen: an IP address or a host name (tools/common's
  // resolve_listen_endpoint). Port 0 picks a free port; port() tells which.
  std::string address = "127.0.0.1";
  std::uint16_t port = 8111;
  // One line per created or closed stream, command, client error and
  // failed callback. nullptr: silent. Written from the service's strand.
  std::ostream* log = nullptr;
  // Called once, on the service's strand, when the service stops (DELETE /
  // or stop()): a program uses it to stop waiting for signals.
  std::function<void()> on_stop;
  // Each callback POST (connect, write, read the answer) must finish within
  // this; a failed one is dropped (tried once more on a new connection only
  // when a kept one failed before a byte of the answer).
  std::chrono::milliseconds callback_timeout{5000};
  // A connection must send a complete request within this from when the
  // service starts waiting for one (after accepting it or answering the
  // previous one), or it is closed.
  std::chrono::milliseconds request_timeout{10000};
  // Open connections at most; at the limit the one that has waited longest
  // for a request is closed to make room (the harness uses a few).
  std::size_t max_connections = 256;
  // Stream entities at most (each holds a client, its connection and a
  // callback connection); past it POST / is a 503, so a flood of them can't
  // use up the descriptors that DELETE needs to get in. The harness holds a few.
  std::size_t max_streams = 100;
  // A stream's client stops reading while its callback messages waiting to
  // be posted hold this many bytes (each its JSON and ~160 bytes of
  // bookkeeping, so tiny messages count what they cost), and reads again
  // below half of it (backpressure on the stream instead of an unbounded
  // queue).
  std::size_t max_queued_callback_bytes = 4 * 1024 * 1024;
};

class service {
 public:
  // Opens, binds and listens synchronously (throws boost::system::system_error
  // on failure, e.g. a port in use), then accepts on `executor`.
  explicit service(boost::asio::any_io_executor executor, service_options options = {});
  // Calls stop(). Destroy the service before its io_context.
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  std::uint16_t port() const noexcept;
  // "http://ADDRESS:PORT" + path.
  std::string url(std::string_view path = "/") const;

  // Closes the listener, every connection and every stream's client and
  // callback queue, so the context runs out of work. Returns at once (the
  // work is posted to the strand); any thread; idempotent.
  void stop();

  // Lowers options.max_connections (to at least 1) and max_streams: a
  // program fits them to its descriptors once the service holds its own.
  // Before the executor runs the service's handlers (io_context::run()).
  void lower_limits(std::size_t max_connections, std::size_t max_streams) noexcept;

  // Stream entities alive now (any thread).
  std::size_t streams() const noexcept;
  // The most bytes one stream's callback queue has held (any thread): stays
  // near max_queued_callback_bytes however slow the callback receiver is.
  std::size_t peak_queued_callback_bytes() const noexcept;
  // The most callback bytes an entity had posted from its client and not
  // yet queued (start_client() bounds them as the queue).
  std::size_t peak_in_flight_callback_bytes() const noexcept;

  class state;  // implementation detail (contract_service.cpp)

 private:
  std::shared_ptr<state> state_;
};

}  // namespace ssekit::contract

// The callback poster: POSTs one stream entity's messages (protocol.hpp) to
// the harness, one at a time and in order, to base path + "/" + counter
// (from 1), over one connection kept alive between messages. A message
// that fails is dropped (and logged); only one that failed on a kept
// connection before a byte of its answer is tried once more, on a new one.
// Beast stays in callback_poster.cpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "protocol.hpp"

namespace ssekit::contract {

class callback_poster {
 public:
  using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
  // Says the queue is full (true) or has room again (false).
  using backlog_handler = std::function<void(bool full)>;
  // Runs on `strand`; post() and close() must be called on it. `log`
  // (nullptr: silent) gets a line per dropped or non-2xx callback, prefixed
  // with `name`. Nothing is dropped for a full queue: `on_backlog(true)`
  // runs (on the strand) once queued_bytes() passes `max_queued_bytes`,
  // `on_backlog(false)` once it is down to half, so the producer can stop
  // and go on.
  static std::shared_ptr<callback_poster> make(const strand_type& strand, http_target target,
                                               std::chrono::milliseconds timeout, std::ostream* log, std::string name,
                                               std::size_t max_queued_bytes = SIZE_MAX, backlog_handler on_backlog = {});
  virtual ~callback_poster() = default;
  // Queues `body` as the next callback.
  virtual void post(std::string body) = 0;
  // Drops what is queued and the connection; nothing is sent afterwards.
  virtual void close() = 0;
  // Bytes the queued messages hold (the one being sent included): each
  // body's capacity and a fixed overhead per message, so that many tiny
  // messages are bounded in memory too.
  virtual std::size_t queued_bytes() const noexcept = 0;
};

}  // namespace ssekit::contract

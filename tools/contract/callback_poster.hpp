// The callback poster: POSTs one stream entity's messages (protocol.hpp) to
// the harness, one at a time and in order, to base path + "/" + counter
// (from 1), over one connection kept alive between messages. A message
// that fails is tried once more on a new connection, then dropped (and
// logged). Beast stays in callback_poster.cpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>

#include "protocol.hpp"

namespace ssekit::contract {

class callback_poster {
 public:
  using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
  // Runs on `strand`; post() and close() must be called on it. `log`
  // (nullptr: silent) gets a line per dropped or non-2xx callback, prefixed
  // with `name`.
  static std::shared_ptr<callback_poster> make(const strand_type& strand, http_target target,
                                               std::chrono::milliseconds timeout, std::ostream* log, std::string name);
  virtual ~callback_poster() = default;
  // Queues `body` as the next callback.
  virtual void post(std::string body) = 0;
  // Drops what is queued and the connection; nothing is sent afterwards.
  virtual void close() = 0;
};

}  // namespace ssekit::contract

// Connecting to the first of a name's addresses that answers, as RFC 8305
// (Happy Eyeballs v2) section 5 describes it: attempts start one after the
// other, the next when the one before failed or after
// connection_attempt_delay, whichever comes first; the first to connect
// wins and the others are closed. Asio's range connect tries one address
// until the kernel gives up on it (two minutes for a host that drops SYNs),
// so a dead first address (often ::1 or an IPv6 route) used up the whole
// connect_timeout and the attempt never reached the next address.
//
// Header-only: the client's transport and the contract service's callback
// poster use it. Everything runs on the executor given to start() (a
// strand); cancel() must be called there too. The race's pending
// operations own it: an owner whose handler it holds must keep only a
// weak_ptr, or the two keep each other alive when the io_context stops.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace ssekit::detail {

// RFC 8305 5: the recommended Connection Attempt Delay.
inline constexpr std::chrono::milliseconds connection_attempt_delay{250};

// The resolver's answers (already in the order RFC 6724 gives them), with
// the families alternating from the first answer's on (RFC 8305 4), so a
// broken family delays the other by one attempt, not by all of its own.
// `addresses`: resolver results, or endpoints.
template <class Addresses>
std::vector<boost::asio::ip::tcp::endpoint> interleave_families(const Addresses& addresses) {
  std::vector<boost::asio::ip::tcp::endpoint> first, other;
  for (const auto& entry : addresses) {
    const boost::asio::ip::tcp::endpoint endpoint = entry;
    (first.empty() || endpoint.protocol() == first.front().protocol() ? first : other).push_back(endpoint);
  }
  std::vector<boost::asio::ip::tcp::endpoint> out;
  out.reserve(first.size() + other.size());
  for (std::size_t i = 0; i < first.size() || i < other.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}

class connect_race : public std::enable_shared_from_this<connect_race> {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  // Called once: the connected socket, or the last attempt's error when
  // every address failed (cancel()'s reason after it).
  using handler_type = std::function<void(boost::system::error_code, socket_type)>;

  // `delay` is RFC 8305's Connection Attempt Delay (a parameter for tests).
  static std::shared_ptr<connect_race> start(const boost::asio::any_io_executor& executor,
                                             std::vector<boost::asio::ip::tcp::endpoint> endpoints, handler_type handler,
                                             std::chrono::milliseconds delay = connection_attempt_delay) {
    auto race = std::shared_ptr<connect_race>(new connect_race(executor, std::move(endpoints), std::move(handler), delay));
    if (race->endpoints_.empty()) {
      race->finish(boost::asio::error::host_not_found, true);
    } else {
      race->start_next();
    }
    return race;
  }

  // Closes every attempt; the handler then gets `reason` (unless it
  // already ran), when the last attempt completes: until done, at least
  // one is pending (the check below only guards that rule).
  void cancel(boost::system::error_code reason = boost::asio::error::operation_aborted) {
    if (done_) return;
    cancelled_ = reason;
    close_all();
    if (pending_ == 0) finish(reason, true);
  }

 private:
  connect_race(const boost::asio::any_io_executor& executor, std::vector<boost::asio::ip::tcp::endpoint> endpoints, handler_type handler,
               std::chrono::milliseconds delay)
      : executor_(executor), endpoints_(std::move(endpoints)), handler_(std::move(handler)), delay_(delay), timer_(executor) {
    sockets_.reserve(endpoints_.size());
  }

  void start_next() {
    // A socket that can't be opened (no descriptors left) fails its
    // attempt at once, with the reason, and the next one starts.
    while (next_ < endpoints_.size()) {
      const std::size_t i = next_++;
      sockets_.emplace_back(std::in_place, executor_);
      boost::system::error_code ec;
      sockets_[i]->open(endpoints_[i].protocol(), ec);
      if (ec) {
        last_error_ = ec;
        sockets_[i].reset();
        continue;
      }
      ++pending_;
      sockets_[i]->async_connect(endpoints_[i], [self = shared_from_this(), i](boost::system::error_code e) { self->on_connect(i, e); });
      if (next_ < endpoints_.size()) {
        const unsigned generation = ++timer_generation_;
        timer_.expires_after(delay_);
        timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code e) {
          if (!e && generation == self->timer_generation_ && !self->done_ && !self->cancelled_) self->start_next();
        });
      }
      return;
    }
    if (pending_ == 0) finish(last_error_, true);
  }

  void on_connect(std::size_t i, boost::system::error_code ec) {
    --pending_;
    if (done_) return;
    if (!ec && !cancelled_) {
      socket_type winner = std::move(*sockets_[i]);
      sockets_[i].reset();
      close_all();  // the other attempts (they complete as aborted) and the timer
      return finish({}, false, std::move(winner));
    }
    last_error_ = cancelled_ ? cancelled_ : ec;
    sockets_[i].reset();  // closes it
    if (cancelled_) {
      if (pending_ == 0) finish(last_error_, false);
      return;
    }
    // RFC 8305 5: a failed attempt starts the next one at once.
    ++timer_generation_;
    timer_.cancel();
    start_next();
  }

  void close_all() {
    timer_.cancel();
    for (auto& s : sockets_) {
      boost::system::error_code ignored;
      if (s) s->close(ignored);
    }
  }

  // `posted`: called from start() or cancel() (and what they call), where
  // the caller must not see its handler run inside the call. A failure hands over a socket
  // that was never opened.
  void finish(boost::system::error_code ec, bool posted, std::optional<socket_type> socket = std::nullopt) {
    if (done_) return;
    done_ = true;
    auto handler = std::move(handler_);
    if (!posted) return handler(ec, socket ? std::move(*socket) : socket_type(executor_));
    boost::asio::post(executor_, [handler = std::move(handler), ec, executor = executor_]() mutable { handler(ec, socket_type(executor)); });
  }

  boost::asio::any_io_executor executor_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  handler_type handler_;
  std::chrono::milliseconds delay_;
  boost::asio::steady_timer timer_;
  std::vector<std::optional<socket_type>> sockets_;  // one per attempt started; reset once it ended
  std::size_t next_ = 0;
  std::size_t pending_ = 0;  // connects not yet completed
  unsigned timer_generation_ = 0;
  boost::system::error_code last_error_ = boost::asio::error::host_not_found;
  boost::system::error_code cancelled_;  // cancel()'s reason
  bool done_ = false;
};

}  // namespace ssekit::detail

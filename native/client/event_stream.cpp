// event_stream: async_next over ssekit::client. The client's handlers
// (on its strand) put items into a bounded queue or hand one straight to a
// pending async_next; a full queue pauses the client's reads. The state is
// shared by the user's event_stream, the cancellation slot (weakly) and
// completions in flight; the client's handlers hold a plain pointer to it,
// which is safe because client::close() returns only once no handler runs
// (and none will), and the state closes its client before it goes.
#include "ssekit/event_stream.hpp"

#include <algorithm>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace ssekit {

namespace asio = boost::asio;
using boost::system::error_code;

std::string_view stream_item_kind_name(stream_item_kind kind) noexcept {
  switch (kind) {
    case stream_item_kind::event: return "event";
    case stream_item_kind::comment: return "comment";
    case stream_item_kind::retry: return "retry";
    case stream_item_kind::open: return "open";
    case stream_item_kind::error: return "error";
  }
  return "unknown";
}

namespace detail {

using next_handler = asio::any_completion_handler<next_signature>;

class stream_state : public std::enable_shared_from_this<stream_state> {
 public:
  stream_state(asio::any_io_executor executor, stream_options options)
      : executor_(std::move(executor)), options_(options) {
    if (options_.max_buffered_items == 0) throw client_options_error("stream_options::max_buffered_items must be at least 1");
  }

  ~stream_state() { close(); }

  // The client's handlers, bound to this state.
  client_handlers handlers() {
    client_handlers h;
    h.on_event = [this](const event& ev) {
      stream_item item;
      item.type.assign(ev.type);
      item.data.assign(ev.data);
      item.id.assign(ev.last_event_id);
      deliver(std::move(item));
    };
    if (options_.comments) {
      h.on_comment = [this](std::string_view text) {
        stream_item item;
        item.kind = stream_item_kind::comment;
        item.data.assign(text);
        deliver(std::move(item));
      };
    }
    if (options_.retries) {
      h.on_retry = [this](std::uint64_t ms) {
        stream_item item;
        item.kind = stream_item_kind::retry;
        item.retry = ms;
        deliver(std::move(item));
      };
    }
    if (options_.opens) {
      h.on_open = [this](const response_info& info) {
        stream_item item;
        item.kind = stream_item_kind::open;
        item.response = std::make_shared<const response_info>(info);
        deliver(std::move(item));
      };
    }
    h.on_error = [this](const client_error& error) { on_error(error); };
    return h;
  }

  void start_client(client_options options, std::shared_ptr<transport_factory> transport) {
    if (transport) client_.emplace(executor_, std::move(options), handlers(), std::move(transport));
    else client_.emplace(executor_, std::move(options), handlers());
  }

  client& get_client() { return *client_; }

  // --- async_next

  void next(next_handler handler) {
    std::unique_lock lock(mutex_);
    if (pending_) {
      lock.unlock();
      return post(std::move(handler), asio::error::already_started, {});
    }
    if (!queue_.empty()) {
      stream_item item = std::move(queue_.front());
      queue_.pop_front();
      const bool resume = paused_ && queue_.size() <= options_.max_buffered_items / 2;
      if (resume) paused_ = false;
      lock.unlock();
      if (resume) client_->resume_reading();
      return post(std::move(handler), {}, std::move(item));
    }
    if (closed_ || ended_) {
      lock.unlock();
      return post(std::move(handler), asio::error::eof, {});
    }
    const std::uint64_t generation = ++generation_;
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.emplace<canceller>(weak_from_this(), generation);
    // Keeps the handler's executor (its io_context) from running out of work.
    work_.emplace(asio::prefer(asio::get_associated_executor(handler, executor_), asio::execution::outstanding_work.tracked));
    pending_.emplace(std::move(handler));
  }

  void close() {
    std::unique_lock lock(mutex_);
    if (closed_) return;
    closed_ = true;
    queue_.clear();
    std::optional<next_handler> handler = take_pending(true);
    lock.unlock();
    // Never with mutex_ held: close() waits for a handler running on another
    // thread, which may be waiting for mutex_.
    if (client_) client_->close();
    if (handler) post(std::move(*handler), asio::error::operation_aborted, {});
  }

  std::size_t buffered() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }
  std::size_t max_buffered_seen() const {
    std::lock_guard lock(mutex_);
    return high_water_;
  }
  std::shared_ptr<const client_error> final_error() const {
    std::lock_guard lock(mutex_);
    return final_error_;
  }

 private:
  // Completes a pending async_next when cancellation is asked for. Any
  // cancellation type is honoured: the operation consumed nothing.
  struct canceller {
    // A constructor, not an aggregate: the slot builds it with parentheses,
    // which clang 14 does not take for aggregates.
    canceller(std::weak_ptr<stream_state> s, std::uint64_t g) : state(std::move(s)), generation(g) {}
    std::weak_ptr<stream_state> state;
    std::uint64_t generation;
    void operator()(asio::cancellation_type type) const {
      if (type == asio::cancellation_type::none) return;
      if (auto s = state.lock()) s->cancel(generation);
    }
  };

  void cancel(std::uint64_t generation) {
    std::unique_lock lock(mutex_);
    if (!pending_ || generation != generation_) return;
    // Inside the slot's own handler: the slot must not be cleared here.
    std::optional<next_handler> handler = take_pending(false);
    lock.unlock();
    post(std::move(*handler), asio::error::operation_aborted, {});
  }

  // On the client's strand.
  void deliver(stream_item&& item) {
    std::unique_lock lock(mutex_);
    if (closed_) return;
    if (pending_) {
      std::optional<next_handler> handler = take_pending(true);
      lock.unlock();
      // The last thing done here: the handler may destroy the stream.
      return dispatch(std::move(*handler), {}, std::move(item));
    }
    queue_.push_back(std::move(item));
    high_water_ = std::max(high_water_, queue_.size());
    if (!paused_ && queue_.size() >= options_.max_buffered_items) {
      paused_ = true;
      client_->pause_reading();
    }
  }

  void on_error(const client_error& error) {
    std::unique_lock lock(mutex_);
    if (closed_) return;
    if (!error.will_reconnect) {
      // Closed for good: eof once the buffered items are taken.
      final_error_ = std::make_shared<const client_error>(error);
      ended_ = true;
    }
    std::optional<next_handler> handler;
    stream_item item;
    error_code ec;
    if (options_.errors) {
      item.kind = stream_item_kind::error;
      item.error = std::make_shared<const client_error>(error);
      if (!pending_) {
        queue_.push_back(std::move(item));
        high_water_ = std::max(high_water_, queue_.size());
        return;
      }
      handler = take_pending(true);
    } else {
      if (!ended_ || !pending_) return;
      handler = take_pending(true);
      ec = asio::error::eof;
    }
    lock.unlock();
    // The last thing done here: the handler may destroy the stream.
    dispatch(std::move(*handler), ec, std::move(item));
  }

  std::optional<next_handler> take_pending(bool clear_slot) {
    std::optional<next_handler> out;
    if (!pending_) return out;
    out.emplace(std::move(*pending_));
    pending_.reset();
    work_.reset();
    if (clear_slot) asio::get_associated_cancellation_slot(*out).clear();
    return out;
  }

  // From inside the client's handler: the user's handler runs inline when
  // its executor allows (e.g. a coroutine on the same io_context).
  void dispatch(next_handler handler, error_code ec, stream_item item) {
    auto ex = asio::get_associated_executor(handler, executor_);
    asio::dispatch(ex, asio::append(std::move(handler), ec, std::move(item)));
  }
  // From async_next itself or another thread: never inline. Posted to the
  // stream's executor, then dispatched to the handler's (as Asio's own
  // operations complete).
  void post(next_handler handler, error_code ec, stream_item item) {
    asio::post(executor_, asio::append(std::move(handler), ec, std::move(item)));
  }

  asio::any_io_executor executor_;
  const stream_options options_;
  std::optional<client> client_;

  mutable std::mutex mutex_;
  std::deque<stream_item> queue_;
  std::optional<next_handler> pending_;
  std::optional<asio::any_completion_executor> work_;
  std::uint64_t generation_ = 0;
  std::size_t high_water_ = 0;
  bool paused_ = false;
  bool ended_ = false;   // the client closed for good
  bool closed_ = false;  // close()
  std::shared_ptr<const client_error> final_error_;
};

void start_next(const std::shared_ptr<stream_state>& state, next_handler handler) {
  if (!state) throw std::logic_error("async_next on a moved-from event_stream");
  state->next(std::move(handler));
}

}  // namespace detail

event_stream::event_stream(executor_type executor, client_options options, stream_options stream)
    : event_stream(std::move(executor), std::move(options), stream, nullptr) {}

event_stream::event_stream(executor_type executor, client_options options, stream_options stream,
                           std::shared_ptr<detail::transport_factory> transport)
    : executor_(executor), state_(std::make_shared<detail::stream_state>(std::move(executor), stream)) {
  state_->start_client(std::move(options), std::move(transport));
}

event_stream::~event_stream() {
  if (state_) state_->close();
}

event_stream::event_stream(event_stream&& other) noexcept = default;

event_stream& event_stream::operator=(event_stream&& other) noexcept {
  if (this != &other) {
    if (state_) state_->close();
    executor_ = std::move(other.executor_);
    state_ = std::move(other.state_);
  }
  return *this;
}

void event_stream::close() { state_->close(); }
client& event_stream::get_client() noexcept { return state_->get_client(); }
std::size_t event_stream::buffered() const { return state_->buffered(); }
std::size_t event_stream::max_buffered_seen() const { return state_->max_buffered_seen(); }
std::shared_ptr<const client_error> event_stream::final_error() const { return state_->final_error(); }

}  // namespace ssekit

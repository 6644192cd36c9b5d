// event_stream: async_next over ssekit::client. The client's handlers
// (on its strand) put items into a bounded queue or hand one straight to a
// pending async_next; a full queue pauses the client's reads. The state is
// shared by the user's event_stream, the cancellation slot (weakly) and
// completions in flight; the client's handlers hold a plain pointer to it,
// which is safe because client::close() returns only once no handler runs
// (and none will), and the state closes its client before it goes.
#include "ssekit/event_stream.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

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

// Waiting items in a row: each one's strings are a range of one byte buffer.
// Storage is reused from batch to batch, and an item's own strings are made
// only when it is taken: staging a read's events allocates nothing, and the
// allocation for an item comes right after the consumer freed the previous
// one (a hot cache), not dozens of allocations then dozens of frees.
class batch {
 public:
  bool empty() const { return head_ == records_.size(); }
  std::size_t size() const { return records_.size() - head_; }
  void clear() {
    records_.clear();
    bytes_.clear();
    head_ = 0;
  }

  void add(stream_item_kind kind, std::string_view type, std::string_view data, std::string_view id) {
    record& r = records_.emplace_back();
    r.kind = kind;
    r.type = put(type);
    r.data = put(data);
    r.id = put(id);
  }
  void add(stream_item item) {
    record& r = records_.emplace_back();
    r.type = r.data = r.id = range{bytes_.size(), 0};  // keeps the records in byte order
    r.kind = item.kind;
    r.retry = item.retry;
    r.response = std::move(item.response);
    r.error = std::move(item.error);
  }

  // The front item, owned.
  void take(stream_item& out) {
    record& r = records_[head_++];
    out.kind = r.kind;
    out.type.assign(bytes_, r.type.at, r.type.size);
    out.data.assign(bytes_, r.data.at, r.data.size);
    out.id.assign(bytes_, r.id.at, r.id.size);
    out.retry = r.retry;
    out.response = std::move(r.response);
    out.error = std::move(r.error);
    if (empty()) clear();
  }

  // Appends `other`'s items. Taken ones go first once they are as many as
  // the waiting ones (amortised O(1) per item): the storage stays within
  // about twice what waits.
  void append(batch& other) {
    if (head_ > 0 && head_ >= size()) compact();
    const std::size_t shift = bytes_.size();
    bytes_.append(other.bytes_);
    for (std::size_t i = other.head_; i < other.records_.size(); ++i) {
      record& r = records_.emplace_back(std::move(other.records_[i]));
      r.type.at += shift;
      r.data.at += shift;
      r.id.at += shift;
    }
    other.clear();
  }

  void swap(batch& other) noexcept {
    records_.swap(other.records_);
    bytes_.swap(other.bytes_);
    std::swap(head_, other.head_);
  }

 private:
  struct range {
    std::size_t at = 0;
    std::size_t size = 0;
  };
  struct record {
    stream_item_kind kind = stream_item_kind::event;
    range type, data, id;
    std::uint64_t retry = 0;
    std::shared_ptr<const response_info> response;
    std::shared_ptr<const client_error> error;
  };

  range put(std::string_view text) {
    const range r{bytes_.size(), text.size()};
    bytes_.append(text);
    return r;
  }

  void compact() {
    const std::size_t base = records_[head_].type.at;  // records are in byte order
    bytes_.erase(0, base);
    records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(head_));
    for (record& r : records_) {
      r.type.at -= base;
      r.data.at -= base;
      r.id.at -= base;
    }
    head_ = 0;
  }

  std::vector<record> records_;
  std::string bytes_;
  std::size_t head_ = 0;
};

class stream_state : public std::enable_shared_from_this<stream_state> {
 public:
  stream_state(asio::any_io_executor executor, stream_options options)
      : executor_(std::move(executor)), options_(options) {
    if (options_.max_buffered_items == 0) throw client_options_error("stream_options::max_buffered_items must be at least 1");
  }

  ~stream_state() { close(); }

  // The client's handlers, bound to this state. Items of one read are staged
  // (on the strand, no lock) and handed over at its end (on_batch_end): one
  // lock and at most one completion per read, not per event.
  client_handlers handlers() {
    client_handlers h;
    h.on_event = [this](const event& ev) { staged_.add(stream_item_kind::event, ev.type, ev.data, ev.last_event_id); };
    if (options_.comments) {
      h.on_comment = [this](std::string_view text) { staged_.add(stream_item_kind::comment, {}, text, {}); };
    }
    if (options_.retries) {
      h.on_retry = [this](std::uint64_t ms) {
        stream_item item;
        item.kind = stream_item_kind::retry;
        item.retry = ms;
        staged_.add(std::move(item));
      };
    }
    if (options_.opens) {
      h.on_open = [this](const response_info& info) {
        stream_item item;
        item.kind = stream_item_kind::open;
        item.response = std::make_shared<const response_info>(info);
        staged_.add(std::move(item));
      };
    }
    h.on_batch_end = [this] { end_batch(); };
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
    if (taker_busy_.test_and_set(std::memory_order_acquire)) {
      // A call on another thread is taking an item right now.
      return post(std::move(handler), asio::error::already_started, {});
    }
    stream_item item;
    bool resume = false;
    if (take(item, resume)) {
      if (resume) client_->resume_reading();
      return post(std::move(handler), {}, std::move(item));
    }
    std::unique_lock lock(mutex_);
    taker_busy_.clear(std::memory_order_release);
    if (pending_) {
      lock.unlock();
      return post(std::move(handler), asio::error::already_started, {});
    }
    if (!queue_.empty()) {
      item = pop(resume);
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

  // The ready path of async_next with a coroutine token: the front item when
  // one waits and no async_next is pending, else false (the caller starts an
  // ordinary async_next, which keeps the order and the one-at-a-time rule).
  bool try_next(stream_item& out) {
    if (taker_busy_.test_and_set(std::memory_order_acquire)) return false;
    bool resume = false;
    const bool took = take(out, resume);
    if (!took) taker_busy_.clear(std::memory_order_release);
    if (resume) client_->resume_reading();
    return took;
  }

  void close() {
    std::unique_lock lock(mutex_);
    if (closed_.load()) return;
    closed_.store(true);
    queue_.clear();
    std::optional<next_handler> handler = take_pending();
    lock.unlock();
    // Never with mutex_ held: close() waits for a handler running on another
    // thread, which may be waiting for mutex_.
    if (client_) client_->close();
    if (handler) post(std::move(*handler), asio::error::operation_aborted, {});
  }

  std::size_t buffered() const {
    std::lock_guard lock(mutex_);
    return closed_.load() ? 0 : waiting();
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
    std::optional<next_handler> handler = take_pending();
    lock.unlock();
    post(std::move(*handler), asio::error::operation_aborted, {});
  }

  // Taking without mutex_: async_next moves every waiting item into
  // taken_ under one lock, then takes them one by one under taker_busy_ (a
  // flag, as one async_next runs at a time; a second one at the same moment
  // is refused like one that overlaps a pending one). Sets taker_busy_ free
  // when it took an item; held (and left held) on entry.
  bool take(stream_item& out, bool& resume) {
    if (closed_.load(std::memory_order_relaxed)) return false;
    if (taken_.empty()) {
      std::lock_guard lock(mutex_);
      if (pending_ || queue_.empty()) return false;
      // The whole queue changes hands: no item is moved.
      taken_.clear();
      taken_.swap(queue_);
      taken_left_.store(taken_.size(), std::memory_order_relaxed);
    }
    taken_.take(out);
    const std::size_t left = taken_.size();
    taken_left_.store(left, std::memory_order_relaxed);
    // Below half: the reading may resume. paused_hint_ may be late; the
    // exact check under mutex_ runs at the latest when taken_ is empty.
    const bool check = left <= options_.max_buffered_items / 2 && paused_hint_.load(std::memory_order_relaxed);
    taker_busy_.clear(std::memory_order_release);
    if (check) {
      std::lock_guard lock(mutex_);
      resume = resume_due();
    }
    return true;
  }

  // Items waiting: the queue and what async_next took but not handed out.
  // mutex_ held.
  std::size_t waiting() const { return queue_.size() + taken_left_.load(std::memory_order_relaxed); }
  stream_item pop(bool& resume) {
    stream_item item;
    queue_.take(item);
    resume = resume_due();
    return item;
  }
  bool resume_due() {
    if (!paused_ || waiting() > options_.max_buffered_items / 2) return false;
    set_paused(false);
    return true;
  }
  void set_paused(bool paused) {
    paused_ = paused;
    paused_hint_.store(paused, std::memory_order_relaxed);
  }

  // Staged items join the queue. mutex_ held; on the client's strand.
  void unstage() {
    if (staged_.empty()) return;
    if (closed_.load()) {
      staged_.clear();
      return;
    }
    if (queue_.empty()) {
      queue_.clear();
      queue_.swap(staged_);
    } else {
      queue_.append(staged_);
    }
    high_water_ = std::max(high_water_, waiting());
  }

  // On the client's strand, at the end of a read (before the next one).
  void end_batch() {
    std::unique_lock lock(mutex_);
    unstage();
    if (!paused_ && waiting() >= options_.max_buffered_items) {
      set_paused(true);
      client_->pause_reading();
    }
    complete_pending(lock);
  }

  // A pending async_next takes the front item, or eof once the client closed
  // for good and nothing waits. On the client's strand; releases `lock`.
  // The item is taken on the handler's executor, not here: a cancellation
  // emitted there (a timer winning `async_next(...) || timer`) before the
  // hand-over must find the operation still pending and the item still
  // queued, or the item would be lost.
  void complete_pending(std::unique_lock<std::mutex>& lock) {
    if (!pending_ || closed_.load() || handing_over_ == generation_) return;
    if (queue_.empty() && !ended_) return;
    const std::uint64_t generation = handing_over_ = generation_;
    const auto ex = asio::get_associated_executor(*pending_, executor_);
    lock.unlock();
    // Inline when the handler's executor allows (e.g. a coroutine on the
    // same io_context): the last thing done here, as the handler may
    // destroy the stream.
    asio::dispatch(ex, [self = shared_from_this(), generation] { self->hand_over(generation); });
  }

  // On the handler's executor: completes the pending async_next, if it is
  // still the one complete_pending saw, with the front item (or eof).
  void hand_over(std::uint64_t generation) {
    std::unique_lock lock(mutex_);
    if (!pending_ || generation != generation_ || closed_.load()) return;
    stream_item item;
    error_code ec;
    bool resume = false;
    if (!queue_.empty()) {
      item = pop(resume);
    } else if (ended_) {
      ec = asio::error::eof;
    } else {
      handing_over_ = 0;  // nothing to hand over (not expected): the next batch tries again
      return;
    }
    std::optional<next_handler> handler = take_pending();
    lock.unlock();
    if (resume) client_->resume_reading();
    const auto ex = asio::get_associated_executor(*handler, executor_);
    asio::dispatch(ex, asio::append(std::move(*handler), ec, std::move(item)));
  }

  void on_error(const client_error& error) {
    std::unique_lock lock(mutex_);
    unstage();
    if (closed_.load()) return;
    if (!error.will_reconnect) {
      // Closed for good: eof once the buffered items are taken.
      final_error_ = std::make_shared<const client_error>(error);
      ended_ = true;
    }
    if (options_.errors) {
      stream_item item;
      item.kind = stream_item_kind::error;
      item.error = std::make_shared<const client_error>(error);
      queue_.add(std::move(item));
      high_water_ = std::max(high_water_, waiting());
    }
    complete_pending(lock);
  }

  // The pending handler, taken. Its cancellation slot keeps our canceller:
  // a slot may only be touched where its signal is emitted (the handler's
  // executor), and clearing it from the client's strand or close()'s thread
  // freed the canceller while the user's signal ran it. A stale canceller
  // does nothing (generation_).
  std::optional<next_handler> take_pending() {
    std::optional<next_handler> out;
    if (!pending_) return out;
    out.emplace(std::move(*pending_));
    pending_.reset();
    work_.reset();
    return out;
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

  batch staged_;  // this read's items; the client's strand only

  // The consumer's: items taken from the queue, handed out one by one.
  std::atomic_flag taker_busy_;
  batch taken_;
  std::atomic<std::size_t> taken_left_{0};  // for the producer's count
  std::atomic<bool> paused_hint_{false};    // paused_, read without mutex_

  mutable std::mutex mutex_;
  batch queue_;  // waiting items, after taken_'s
  std::optional<next_handler> pending_;
  std::optional<asio::any_completion_executor> work_;
  std::uint64_t generation_ = 0;
  std::uint64_t handing_over_ = 0;  // the generation a hand_over is on its way for
  std::size_t high_water_ = 0;
  bool paused_ = false;
  bool ended_ = false;   // the client closed for good
  std::atomic<bool> closed_{false};  // close(); written under mutex_
  std::shared_ptr<const client_error> final_error_;
};

void start_next(const std::shared_ptr<stream_state>& state, next_handler handler) {
  if (!state) throw std::logic_error("async_next on a moved-from event_stream");
  state->next(std::move(handler));
}

bool try_next(stream_state* state, stream_item& out) {
  if (!state) throw std::logic_error("async_next on a moved-from event_stream");
  return state->try_next(out);
}

std::shared_ptr<stream_state> share(stream_state* state) { return state->shared_from_this(); }

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

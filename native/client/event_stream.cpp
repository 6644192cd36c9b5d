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
#include <cstring>
#include <limits>
#include <list>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <mutex>
#include <optional>
#include <type_traits>
#include <variant>
#include <stdexcept>
#include <vector>

#include "context_registry.hpp"

namespace ssekit {
namespace asio = boost::asio;
using boost::system::error_code;
}  // namespace ssekit

namespace ssekit::detail {

// A batch on its way to the handler: the views point into the stream's
// state, so the state lives until the handler ran (or was dropped), even if
// the user destroys the stream in between. inner_associator below gives it
// the user's executor, allocator and cancellation slot.
// It also marks the batch in flight until then (stream_state::delivered):
// a batch call in between is refused.
struct batch_completion {
  asio::any_completion_handler<batch_signature> handler;
  std::shared_ptr<stream_state> keep;
  void operator()(error_code ec, stream_batch batch);  // after stream_state
};

// The associations of a wrapper are those of the user's handler inside it
// (executor, allocator, cancellation slot).
template <template <class, class> class Associator, class Wrapper, class Candidate>
struct inner_associator : Associator<decltype(Wrapper::handler), Candidate> {
  using inner = decltype(Wrapper::handler);
  static typename Associator<inner, Candidate>::type get(const Wrapper& h) noexcept { return Associator<inner, Candidate>::get(h.handler); }
  static auto get(const Wrapper& h, const Candidate& c) noexcept -> decltype(Associator<inner, Candidate>::get(h.handler, c)) {
    return Associator<inner, Candidate>::get(h.handler, c);
  }
};

}  // namespace ssekit::detail

template <template <class, class> class Associator, class Candidate>
struct boost::asio::associator<Associator, ssekit::detail::batch_completion, Candidate>
    : ssekit::detail::inner_associator<Associator, ssekit::detail::batch_completion, Candidate> {};

namespace ssekit {

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
// async_next(item, token)'s: the stream fills the caller's item itself, so
// only the error code goes to the handler. (Wrapped in a next_handler that
// dropped an empty item, it cost a second type erasure and some eight moves
// of an empty stream_item per item: half of that path's instructions.)
using into_next_handler = asio::any_completion_handler<next_into_signature>;
using batch_handler = asio::any_completion_handler<batch_signature>;

// stream_state::delivering (defined after it).
batch_completion delivering(stream_state* state, batch_handler handler);

// An async_next completion from an initiating call, on its way.
struct ready_completion {
  std::variant<next_handler, into_next_handler> handler;
  error_code ec;
  std::optional<stream_item> item;  // a next_handler's (none for an error); an into_next_handler has none
  bool on_stream;  // the handler runs on the stream's executor (runs_on_stream)
  // Otherwise, work on the handler's executor until it is dispatched there,
  // as Asio's operations keep (pending_op::work): without it, that
  // executor's run() could return with the completion on its way.
  std::optional<asio::any_completion_executor> work;

  // Calls the handler here.
  void call() && {
    if (auto* into = std::get_if<into_next_handler>(&handler)) return std::move(*into)(ec);
    std::move(std::get<next_handler>(handler))(ec, item ? std::move(*item) : stream_item{});
  }
  // Dispatches it to `ex` (it runs on its own associated executor).
  void dispatch(const asio::any_io_executor& ex) && {
    if (auto* into = std::get_if<into_next_handler>(&handler)) return asio::dispatch(ex, asio::append(std::move(*into), ec));
    asio::dispatch(ex, asio::append(std::move(std::get<next_handler>(handler)), ec, item ? std::move(*item) : stream_item{}));
  }
};

// Plain-callback chains. A handler that asks for the next item as it runs
// had one post per item, and Asio's scheduler polls the reactor (an
// epoll_wait) between posted handlers: 16x the callback path's time per
// event. While a completion of a stream runs on the stream's executor, the
// completion its handler asks for waits here and is called as soon as that
// handler returns: never inside the initiating call, in stream order, at
// most max_chain in a row before a post lets other work in. Only handlers
// that run on the stream's executor (no executor of their own): those are
// called directly, so an exception leaves run() at once, as from a posted
// handler (a dispatch would hold it and run the next one).
struct chain_slot {
  stream_state* stream;
  bool on_stream_executor;  // this thread runs a handler of the stream's executor
  std::optional<ready_completion> next;
  chain_slot* outer;
};
thread_local chain_slot* current_chain = nullptr;
constexpr int max_chain = 64;

// A pending async_next (owned item, or the caller's `into`) or
// async_next_batch.
struct pending_op {
  std::variant<next_handler, batch_handler, into_next_handler> handler;
  stream_item* into = nullptr;
  // Keeps the handler's executor (its io_context) from running out of work
  // until the completion is posted or dispatched: released with the op,
  // after that. (Released when the op was taken, it let run() return
  // between a close() from another thread and its post: the handler was
  // stranded.)
  std::optional<asio::any_completion_executor> work;

  bool batch() const { return std::holds_alternative<batch_handler>(handler); }
  asio::any_completion_executor executor(const asio::any_io_executor& fallback) const {
    return std::visit([&](const auto& h) -> asio::any_completion_executor { return asio::get_associated_executor(h, fallback); },
                      handler);
  }
  // Runs the handler with `launch` (dispatch to ex, or a post for
  // completions from an initiating call). `keep`: the state, which a
  // batch's views point into.
  template <class Launch>
  void complete(Launch launch, const asio::any_completion_executor& ex, error_code ec, stream_item item, stream_batch batch,
                stream_state* keep = nullptr) && {
    std::visit(
        [&](auto& h) {
          using handler_type = std::decay_t<decltype(h)>;
          if constexpr (std::is_same_v<handler_type, next_handler>) launch(ex, asio::append(std::move(h), ec, std::move(item)));
          else if constexpr (std::is_same_v<handler_type, into_next_handler>) launch(ex, asio::append(std::move(h), ec));
          else if (batch.empty()) launch(ex, asio::append(std::move(h), ec, batch));
          else launch(ex, asio::append(delivering(keep, std::move(h)), ec, batch));
        },
        handler);
  }
};

// Waiting items in a row: their strings are consecutive runs of one byte
// buffer (type, data, id), and a record holds only their sizes and kind; the
// rarer parts (retry, response, error) wait in a side queue. Storage is
// reused from batch to batch: staging a read's events allocates nothing, and
// taking an item into an item whose strings are large enough allocates
// nothing either. Sizes, not offsets: moving bytes (compact, append) needs
// no fix-up of the records.
class batch {
 public:
  bool empty() const { return head_ == records_.size(); }
  std::size_t size() const { return records_.size() - head_; }
  // The waiting items' bytes: their strings, and what an open or error
  // item holds (a server's many small headers cost far more than their
  // text: extra_size()).
  std::size_t waiting_bytes() const { return bytes_.size() - at_ + extra_bytes_; }
  void clear() {
    records_.clear();
    extras_.clear();
    bytes_.clear();
    head_ = extras_head_ = at_ = 0;
    extra_bytes_ = 0;
  }

  void add(stream_item_kind kind, std::string_view type, std::string_view data, std::string_view id) {
    // The usual type is not copied: a call to memcpy less per event.
    const bool message = kind == stream_item_kind::event && type == message_type;
    if (message) type = {};
    const std::size_t n = type.size() + data.size() + id.size();
    char* p = bytes_.grow(n);
    p = put(p, type);
    p = put(p, data);
    put(p, id);
    try {
      records_.push_back(batch_record{type.size(), data.size(), id.size(), kind, false, message});
    } catch (...) {
      bytes_.shrink(n);  // no bytes without their record
      throw;
    }
  }
  // An item without strings (retry, open, error).
  void add(stream_item item) {
    extras_.push_back(batch_extra{item.retry, std::move(item.response), std::move(item.error)});
    try {
      records_.push_back(batch_record{0, 0, 0, item.kind, true, false});
    } catch (...) {
      extras_.pop_back();
      throw;
    }
    extra_bytes_ += extra_size(extras_.back());
  }

  // The front item, into `out` (whose strings keep their capacity). If a
  // string cannot grow (bad_alloc), the item stays at the front.
  void take(stream_item& out) {
    const batch_record& r = records_[head_];
    const char* p = bytes_.data() + at_;
    // An item filled again and again usually holds the type already.
    if (!r.message_type) set(out.type, p, r.type);
    else if (out.type != message_type) set(out.type, message_type.data(), message_type.size());
    p += r.type;
    set(out.data, p, r.data);
    p += r.data;
    set(out.id, p, r.id);
    out.kind = r.kind;
    if (r.has_extra) {
      batch_extra& e = extras_[extras_head_++];
      extra_bytes_ -= extra_size(e);
      out.retry = e.retry;
      out.response = std::move(e.response);
      out.error = std::move(e.error);
    } else {
      out.retry = 0;
      if (out.response) out.response.reset();
      if (out.error) out.error.reset();
    }
    at_ += r.type + r.data + r.id;
    ++head_;
    if (empty()) clear();
  }

  // Appends `other`'s items. Taken ones go first once they are as many as
  // the waiting ones (amortised O(1) per item): the storage stays within
  // about twice what waits.
  void append(batch& other) {
    if (head_ > 0 && head_ >= size()) compact();
    const std::size_t n = other.bytes_.size() - other.at_;
    if (n > 0) std::memcpy(bytes_.grow(n), other.bytes_.data() + other.at_, n);  // a batch of retries has no bytes at all
    records_.insert(records_.end(), other.records_.begin() + static_cast<std::ptrdiff_t>(other.head_), other.records_.end());
    for (std::size_t i = other.extras_head_; i < other.extras_.size(); ++i) extras_.push_back(std::move(other.extras_[i]));
    extra_bytes_ += other.extra_bytes_;
    other.clear();
  }

  // Every waiting item, viewed where it lies, and taken: the batch is empty
  // after, but its storage keeps the items until clear() (a swap moves the
  // storage, and the view with it).
  struct parts {
    const batch_record* records;
    std::size_t size;
    const char* bytes;
    const batch_extra* extras;
  };
  parts take_all() {
    const parts out{records_.data() + head_, size(), bytes_.data() + at_, extras_.data() + extras_head_};
    head_ = records_.size();
    extras_head_ = extras_.size();
    at_ = bytes_.size();
    extra_bytes_ = 0;
    return out;
  }

  void swap(batch& other) noexcept {
    records_.swap(other.records_);
    extras_.swap(other.extras_);
    bytes_.swap(other.bytes_);
    std::swap(head_, other.head_);
    std::swap(extras_head_, other.extras_head_);
    std::swap(at_, other.at_);
    std::swap(extra_bytes_, other.extra_bytes_);
  }

 private:
  // Bytes without std::string's zero fill on growth or its checks on append.
  class bytes {
   public:
    const char* data() const { return data_.get(); }
    std::size_t size() const { return size_; }
    void clear() { size_ = 0; }
    // Room for n more bytes at the end, to be written by the caller.
    char* grow(std::size_t n) {
      if (n > capacity_ - size_) reserve(n);
      char* p = data_.get() + size_;
      size_ += n;
      return p;
    }
    void shrink(std::size_t n) { size_ -= std::min(n, size_); }
    void erase_front(std::size_t n) {
      if (n < size_) std::memmove(data_.get(), data_.get() + n, size_ - n);
      size_ -= std::min(n, size_);
    }
    void swap(bytes& other) noexcept {
      data_.swap(other.data_);
      std::swap(size_, other.size_);
      std::swap(capacity_, other.capacity_);
    }

   private:
    void reserve(std::size_t n) {
      if (n > std::numeric_limits<std::size_t>::max() / 2 - size_) throw std::length_error("event_stream: buffer too large");
      const std::size_t capacity = std::max<std::size_t>({size_ + n, capacity_ * 2, 4096});
      std::unique_ptr<char[]> grown(new char[capacity]);
      if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
      data_ = std::move(grown);
      capacity_ = capacity;
    }
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
  };

  // assign() without its overlap checks (libstdc++'s _M_replace: 60
  // instructions per string, a third of taking a small event).
  static void set(std::string& s, const char* p, std::size_t n) {
    s.clear();
    if (n > 0) s.append(p, n);
  }

  // What an open or error item holds, counted as its headers' and texts'
  // bytes plus a std::pair of strings per header.
  static std::size_t extra_size(const batch_extra& e) {
    std::size_t n = 0;
    const auto add_headers = [&n](const header_list& headers) {
      for (const auto& [name, value] : headers) n += sizeof(header_list::value_type) + name.size() + value.size();
    };
    if (e.response) {
      add_headers(e.response->headers);
      n += e.response->url.size() + e.response->proxy.url.size() + e.response->proxy.source.size();
    }
    if (e.error) {
      add_headers(e.error->headers);
      n += e.error->message.size() + e.error->body.size() + e.error->proxy.url.size() + e.error->proxy.source.size();
    }
    return n;
  }

  static char* put(char* p, std::string_view text) {
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    return p + text.size();
  }

  void compact() {
    bytes_.erase_front(at_);
    records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(head_));
    extras_.erase(extras_.begin(), extras_.begin() + static_cast<std::ptrdiff_t>(extras_head_));
    head_ = extras_head_ = at_ = 0;
  }

  std::vector<batch_record> records_;
  std::vector<batch_extra> extras_;
  bytes bytes_;
  std::size_t head_ = 0;         // the front record
  std::size_t extras_head_ = 0;  // the front extra
  std::size_t at_ = 0;           // the front record's first byte
  std::size_t extra_bytes_ = 0;  // extra_size() of the waiting extras
};

class stream_state : public std::enable_shared_from_this<stream_state> {
 public:
  stream_state(asio::any_io_executor executor, stream_options options)
      : executor_(std::move(executor)), options_(std::move(options)) {
    if (options_.max_buffered_items == 0) throw client_options_error("stream_options::max_buffered_items must be at least 1");
    if (options_.max_buffered_bytes == 0) throw client_options_error("stream_options::max_buffered_bytes must be at least 1");
    if (!executor_) return;  // the client's constructor refuses it
    registry_ = &asio::use_service<registry>(asio::query(executor_, asio::execution::context));
    registered_ = registry_->add(this);
  }

  ~stream_state() {
    if (registry_) registry_->remove(registered_);
    close();
  }

  // The context shuts down (context_registry): the pending handler is
  // destroyed unrun, outside the lock (it may own this stream). A
  // coroutine that owns its stream and waits in async_next (frame ->
  // stream -> handler -> frame) leaked without it (an Asio probe).
  void drop_pending() {
    std::optional<pending_op> op;
    {
      std::lock_guard lock(mutex_);
      op = take_pending();
    }
  }

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
    // Moved, not copied: the client lets go of its handlers when it closes,
    // so a hook that holds the stream's owner keeps it only until then.
    h.on_attempt = std::move(options_.on_attempt);
    h.on_attempt_async = std::move(options_.on_attempt_async);
    h.on_diagnostic = std::move(options_.on_diagnostic);
    return h;
  }

  // The client closed for good, however (a final error, which on_error
  // has seen; get_client().close(); a handler of ours or an on_diagnostic
  // that threw, after which it calls none of ours): eof once the items
  // already read are taken. On the client's strand.
  void client_ended() {
    std::unique_lock lock(mutex_);
    unstage();
    if (closed_.load() || ended_) return;
    ended_ = true;
    complete_pending(lock);
  }

  void start_client(client_options options, std::shared_ptr<transport_factory> transport) {
    client_.emplace(client(executor_, std::move(options), handlers(), std::move(transport), [weak = weak_from_this()] {
      if (const auto self = weak.lock()) self->client_ended();
    }));
    connection_.impl_ = client_->impl_;
  }

  client& get_client() { return *client_; }
  const asio::any_io_executor& executor() const noexcept { return executor_; }

  // --- async_next

  // `into`: the caller's item to fill (async_next(item, token)); null: the
  // item goes to the handler.
  // `on_stream`: the handler runs on the stream's executor (runs_on_stream).
  // Handler: next_handler, or into_next_handler with `into`.
  template <class Handler>
  void next(Handler handler, stream_item* into, bool on_stream) {
    if (taker_busy_.test_and_set(std::memory_order_acquire)) {
      // A call on another thread is taking an item right now.
      return post(std::move(handler), asio::error::already_started, {}, on_stream);
    }
    stream_item item;
    stream_item& target = into ? *into : item;
    start(
        std::move(handler), item, [&] { return take(target); }, [&] { pop(target); }, into, on_stream);
  }

  // async_next_batch: every waiting item, viewed in handed_.
  void next_batch(batch_handler handler) {
    // A batch on its way to its handler is still the operation in progress
    // (as Asio counts): a second one would reuse its storage under it. The
    // flag is set before taker_busy_ or mutex_ is let go (take_batch,
    // hand_over), so it is read after taking the first (and under the
    // second in start): read before, a batch taken on another thread just
    // then went unseen.
    if (taker_busy_.test_and_set(std::memory_order_acquire)) return post(std::move(handler), asio::error::already_started, {});
    if (batch_in_flight_.load(std::memory_order_acquire)) {
      taker_busy_.clear(std::memory_order_release);
      return post(std::move(handler), asio::error::already_started, {});
    }
    stream_batch batch;
    start(
        std::move(handler), batch, [&] { return take_batch(batch, true); },
        [&] {
          batch = hand_queue();
          batch_in_flight_.store(true, std::memory_order_release);
        },
        nullptr, false);
  }

  // The rest of next() and next_batch(), taker_busy_ held: what waits
  // completes at once (posted: never inside the initiating call). If
  // nothing did, look again under mutex_ (items may have come since): a
  // pending operation refuses this one; a closed stream gives eof; else it
  // is left pending. `take` takes without mutex_ into `result` (releasing
  // taker_busy_ when it took), `take_locked` under it.
  //
  // A handler that can be cancelled (`async_next(...) || timer`, a parallel
  // group) is left pending even when items wait, and takes them on its own
  // executor as it runs (hand_over): a race decided before then cancels an
  // operation that took nothing. Taken here and posted, the item went with
  // a completion the group drops.
  template <class Handler, class Result, class Take, class TakeLocked>
  void start(Handler handler, Result& result, Take take, TakeLocked take_locked, stream_item* into, bool on_stream) {
    const bool cancellable = asio::get_associated_cancellation_slot(handler).is_connected();
    if (!cancellable && take()) return post(std::move(handler), {}, std::move(result), on_stream);
    std::unique_lock lock(mutex_);
    if (cancellable) {
      try {
        give_back_taken();
      } catch (...) {  // bad_alloc joining the two: both keep their items
        taker_busy_.clear(std::memory_order_release);
        throw;
      }
    }
    taker_busy_.clear(std::memory_order_release);
    if (pending_ || (std::is_same_v<Handler, batch_handler> && batch_in_flight_.load(std::memory_order_relaxed))) {
      lock.unlock();
      return post(std::move(handler), asio::error::already_started, {}, on_stream);
    }
    if (!queue_.empty() && cancellable) {
      make_pending(std::move(handler), into);
      return complete_pending(lock);
    }
    if (!queue_.empty()) {
      take_locked();
      lock.unlock();
      return post(std::move(handler), {}, std::move(result), on_stream);
    }
    if (closed_ || ended_) {
      lock.unlock();
      return post(std::move(handler), asio::error::eof, {}, on_stream);
    }
    make_pending(std::move(handler), into);
  }

  // The ready path of async_next with a coroutine token: the front item when
  // one waits and no async_next is pending, else false (the caller starts an
  // ordinary async_next, which keeps the order and the one-at-a-time rule).
  bool try_next(stream_item& out) {
    return try_ready([&] { return take(out); });
  }
  // The same for async_next_batch (refused while a batch is in flight).
  bool try_next_batch(stream_batch& out) {
    return try_ready([&] { return !batch_in_flight_.load(std::memory_order_acquire) && take_batch(out, false); });
  }
  // `take` under taker_busy_ (take()'s flag rules).
  template <class Take>
  bool try_ready(Take take) {
    if (taker_busy_.test_and_set(std::memory_order_acquire)) return false;
    const bool took = take();
    if (!took) taker_busy_.clear(std::memory_order_release);
    return took;
  }

  void close() {
    std::unique_lock lock(mutex_);
    if (closed_.load()) return;
    closed_.store(true);
    queue_.clear();
    std::optional<pending_op> op = take_pending();
    lock.unlock();
    // Never with mutex_ held: close() waits for a handler running on another
    // thread, which may be waiting for mutex_.
    connection_.close();
    if (op) post(std::move(*op), asio::error::operation_aborted);
  }

  std::size_t buffered() const {
    std::lock_guard lock(mutex_);
    return closed_.load() ? 0 : waiting();
  }
  std::size_t max_buffered_seen() const {
    std::lock_guard lock(mutex_);
    return high_water_;
  }
  std::size_t buffered_bytes() const {
    std::lock_guard lock(mutex_);
    return closed_.load() ? 0 : waiting_bytes();
  }
  std::size_t max_buffered_bytes_seen() const {
    std::lock_guard lock(mutex_);
    return high_water_bytes_;
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
    std::optional<pending_op> op = take_pending();
    lock.unlock();
    post(std::move(*op), asio::error::operation_aborted);
  }

  // Taking without mutex_: async_next moves every waiting item into
  // taken_ under one lock, then takes them one by one under taker_busy_ (a
  // flag, as one async_next runs at a time; a second one at the same moment
  // is refused like one that overlaps a pending one). Sets taker_busy_ free
  // when it took an item; held (and left held) on entry.
  bool take(stream_item& out) {
    if (closed_.load(std::memory_order_relaxed)) return false;
    if (taken_.empty()) {
      std::lock_guard lock(mutex_);
      if (pending_ || queue_.empty()) return false;
      // The whole queue changes hands: no item is moved.
      taken_.clear();
      taken_.swap(queue_);
      taken_left_.store(taken_.size(), std::memory_order_relaxed);
      taken_bytes_left_.store(taken_.waiting_bytes(), std::memory_order_relaxed);
    }
    try {
      taken_.take(out);
    } catch (...) {  // bad_alloc growing the caller's strings: the item stays first
      taker_busy_.clear(std::memory_order_release);
      throw;
    }
    const std::size_t left = taken_.size();
    const std::size_t left_bytes = taken_.waiting_bytes();
    taken_left_.store(left, std::memory_order_relaxed);
    taken_bytes_left_.store(left_bytes, std::memory_order_relaxed);
    // Below half: the reading may resume. paused_hint_ may be late; the
    // exact check under mutex_ runs at the latest when taken_ is empty.
    const bool check = left <= options_.max_buffered_items / 2 && left_bytes <= options_.max_buffered_bytes / 2 &&
                       paused_hint_.load(std::memory_order_relaxed);
    taker_busy_.clear(std::memory_order_release);
    if (check) {
      std::lock_guard lock(mutex_);
      resume_if_due();
    }
    return true;
  }

  // What async_next took but did not hand out goes back to the front of
  // the queue (hand_over takes from the queue only). taker_busy_ and mutex_
  // held.
  void give_back_taken() {
    if (taken_.empty()) return;
    // Closed: dropped instead. close() cleared the queue and can't reach
    // taken_ (the consumer's): given back, its leftovers made a closed
    // stream's queue non-empty, and a cancellable async_next went pending
    // on it for ever instead of completing with eof (a helper's review).
    if (!closed_.load()) {
      taken_.append(queue_);
      queue_.swap(taken_);
    }
    taken_.clear();
    taken_left_.store(0, std::memory_order_relaxed);
    taken_bytes_left_.store(0, std::memory_order_relaxed);
  }

  // take() for a batch: what async_next left in taken_, else the queue, into
  // handed_, whose storage then holds the view until the next batch. Same
  // flag rules as take().
  // `in_flight`: for a handler, which marks the batch in flight until it
  // runs (a coroutine taking it directly has none).
  bool take_batch(stream_batch& out, bool in_flight) {
    if (closed_.load(std::memory_order_relaxed)) return false;
    if (!taken_.empty()) {
      // What async_next left, then the queue behind it: every waiting
      // item. No async_next can be pending while taken_ holds items (one is
      // left pending only when taken_ and the queue are empty), so no
      // hand_over writes handed_ now.
      handed_.clear();
      handed_.swap(taken_);
      taken_left_.store(0, std::memory_order_relaxed);
      taken_bytes_left_.store(0, std::memory_order_relaxed);
      std::lock_guard lock(mutex_);
      if (!queue_.empty()) handed_.append(queue_);
      resume_if_due();
      out = view(handed_.take_all());
      if (in_flight) batch_in_flight_.store(true, std::memory_order_release);
      taker_busy_.clear(std::memory_order_release);
      return true;
    }
    std::lock_guard lock(mutex_);
    if (pending_ || queue_.empty() || batch_in_flight_.load(std::memory_order_relaxed)) return false;
    out = hand_queue();
    if (in_flight) batch_in_flight_.store(true, std::memory_order_release);
    taker_busy_.clear(std::memory_order_release);
    return true;
  }
  // The whole queue into handed_, viewed. mutex_ held.
  stream_batch hand_queue() {
    handed_.clear();
    handed_.swap(queue_);
    resume_if_due();
    return view(handed_.take_all());
  }
  static stream_batch view(const batch::parts& p) { return stream_batch(p.records, p.size, p.bytes, p.extras); }

  // Items waiting: the queue and what async_next took but not handed out.
  // mutex_ held.
  std::size_t waiting() const { return queue_.size() + taken_left_.load(std::memory_order_relaxed); }
  std::size_t waiting_bytes() const { return queue_.waiting_bytes() + taken_bytes_left_.load(std::memory_order_relaxed); }
  bool full() const { return waiting() >= options_.max_buffered_items || waiting_bytes() >= options_.max_buffered_bytes; }
  void pop(stream_item& out) {
    queue_.take(out);
    resume_if_due();
  }
  // Resumes the reading once the buffer is down to half. mutex_ held, as
  // for pause_if_full's pause: called after the lock was let go, a resume
  // could land after a pause that came between, and leave the client
  // reading while the stream thought it paused (the buffer's bound gone; a
  // helper's review).
  void resume_if_due() {
    if (!paused_ || waiting() > options_.max_buffered_items / 2 || waiting_bytes() > options_.max_buffered_bytes / 2) return;
    connection_.resume_reading();  // first: if it throws, paused_ stays and the next take tries again
    set_paused(false);
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
    note_high_water();
  }
  void note_high_water() {
    high_water_ = std::max(high_water_, waiting());
    high_water_bytes_ = std::max(high_water_bytes_, waiting_bytes());
  }

  // On the client's strand, at the end of a read (before the next one).
  void end_batch() {
    std::unique_lock lock(mutex_);
    unstage();
    pause_if_full();
    complete_pending(lock);
  }
  // A consumer that waits since the buffer ran empty takes these items
  // now: pausing for it would stop and restart the reading once per read
  // for nothing (a read of small events holds more than the default 256).
  // The buffer so holds at most the larger of max_buffered_items and one
  // read's items, plus one read's: the next read pauses as usual.
  void pause_if_full() {
    const bool waited_for = pending_ && handing_over_ != generation_;
    if (!paused_ && !waited_for && full()) {
      set_paused(true);
      connection_.pause_reading();
    }
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
    auto ex = pending_->executor(executor_);
    lock.unlock();
    // Posted, never inline: here the client holds its handler lock, which
    // close() waits for, so the user's code must not run under it. Inline,
    // a completion that waited for a mutex held by a thread calling close()
    // (or two coroutines closing each other's streams) deadlocked. One
    // post per read, not per event: the items of a read go together. To the
    // stream's executor, then dispatched to the handler's (an
    // any_completion_executor can't be posted to in Boost 1.81).
    asio::post(executor_, [self = shared_from_this(), generation, ex = std::move(ex)] {
      asio::dispatch(ex, [self, generation] { self->hand_over(generation); });
    });
  }

  // On the handler's executor: completes the pending async_next, if it is
  // still the one complete_pending saw, with the front item (or eof).
  void hand_over(std::uint64_t generation) {
    std::unique_lock lock(mutex_);
    if (!pending_ || generation != generation_ || closed_.load()) return;
    stream_item item;
    stream_batch batch;
    error_code ec;
    if (!queue_.empty()) {
      if (pending_->batch()) {
        batch = hand_queue();
        batch_in_flight_.store(true, std::memory_order_release);  // before mutex_ is let go: next_batch
      }
      else pop(pending_->into ? *pending_->into : item);
    } else if (ended_) {
      ec = asio::error::eof;
    } else {
      handing_over_ = 0;  // nothing to hand over (not expected): the next batch tries again
      return;
    }
    std::optional<pending_op> op = take_pending();
    lock.unlock();
    const auto ex = op->executor(executor_);
    chain_scope chain(*this, is_stream_executor(ex));
    std::move(*op).complete([](const auto& e, auto&& f) { asio::dispatch(e, std::move(f)); }, ex, ec, std::move(item), batch, this);
    chain.drain();
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
      note_high_water();
      // A paused client does not reconnect either: a server that refuses
      // every attempt can't fill the buffer of a consumer that takes nothing.
      pause_if_full();
    }
    complete_pending(lock);
  }

  // The pending handler, taken. Its cancellation slot keeps our canceller:
  // a slot may only be touched where its signal is emitted (the handler's
  // executor), and clearing it from the client's strand or close()'s thread
  // freed the canceller while the user's signal ran it. A stale canceller
  // does nothing (generation_).
  std::optional<pending_op> take_pending() {
    std::optional<pending_op> out;
    if (!pending_) return out;
    out.emplace(std::move(*pending_));
    pending_.reset();
    return out;
  }

  // Leaves an async_next (or batch) pending. mutex_ held.
  template <class Handler>
  void make_pending(Handler handler, stream_item* into) {
    const std::uint64_t generation = ++generation_;
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.template emplace<canceller>(weak_from_this(), generation);
    asio::any_completion_executor work =
        asio::prefer(asio::get_associated_executor(handler, executor_), asio::execution::outstanding_work.tracked);
    pending_.emplace(pending_op{std::move(handler), into, std::move(work)});
  }
  // From async_next itself or another thread: never inline. Posted to the
  // stream's executor, then dispatched to the handler's (as Asio's own
  // operations complete); or, asked for by a handler this thread runs in a
  // chain_scope of this stream, called when that handler returns.
  // `item`: a next_handler's item (an into_next_handler's was filled in place).
  template <class Handler>
    requires(!std::is_same_v<Handler, batch_handler>)
  void post(Handler handler, error_code ec, stream_item&& item, bool on_stream) {
    chain_slot* chain = current_chain;
    if (chain != nullptr && chain->stream == this) {
      // Kept only while no posted one waits, which it would overtake.
      if (!chain->next && chain->on_stream_executor && chain_posts_.load(std::memory_order_acquire) == 0 && on_stream) {
        chain->next.emplace(ready(std::move(handler), ec, std::move(item), on_stream));
        return;
      }
      if (chain->next) {  // a second call before the first completed: both go by post, in order
        ready_completion first = std::move(*chain->next);
        chain->next.reset();
        post_chain(std::move(first));
      }
    }
    post_chain(ready(std::move(handler), ec, std::move(item), on_stream));
  }
  template <class Handler>
  ready_completion ready(Handler handler, error_code ec, stream_item&& item, bool on_stream) const {
    std::optional<asio::any_completion_executor> work;
    if (!on_stream) {
      work.emplace(asio::prefer(asio::get_associated_executor(handler, executor_), asio::execution::outstanding_work.tracked));
    }
    ready_completion c{std::move(handler), ec, std::nullopt, on_stream, std::move(work)};
    if constexpr (std::is_same_v<Handler, next_handler>) {
      if (!ec) c.item.emplace(std::move(item));
    }
    return c;
  }
  // (A post dropped unrun, by an io_context that never runs again, leaves
  // chain_posts_ above 0: this stream's completions then all go by post.)
  void post_chain(ready_completion c) {
    chain_posts_.fetch_add(1, std::memory_order_relaxed);
    try {
      asio::post(executor_, [self = shared_from_this(), c = std::move(c)]() mutable {
        self->chain_posts_.fetch_sub(1, std::memory_order_release);
        chain_scope chain(*self, true);
        if (c.on_stream) std::move(c).call();
        else std::move(c).dispatch(self->executor_);
        chain.drain();
      });
    } catch (...) {
      chain_posts_.fetch_sub(1, std::memory_order_relaxed);
      throw;
    }
  }
  bool is_stream_executor(const asio::any_completion_executor& ex) const { return ex == asio::any_completion_executor(executor_); }

  // The scope of a completion's run on this thread (post() above).
  class chain_scope {
   public:
    chain_scope(stream_state& stream, bool on_stream_executor)
        : stream_(stream), slot_{&stream, on_stream_executor, {}, current_chain} {
      current_chain = &slot_;
    }
    ~chain_scope() {
      current_chain = slot_.outer;
      if (slot_.next) {  // a handler threw after asking for the next: that one is posted
        try {
          stream_.post_chain(std::move(*slot_.next));
        } catch (...) {  // out of memory while unwinding: dropped, as a failed post would be
        }
      }
    }
    chain_scope(const chain_scope&) = delete;
    chain_scope& operator=(const chain_scope&) = delete;
    // Calls what the handlers ask for, up to max_chain, then posts the rest.
    void drain() {
      for (int n = 0; n < max_chain && slot_.next; ++n) {
        ready_completion c = std::move(*slot_.next);
        slot_.next.reset();
        std::move(c).call();
      }
      if (!slot_.next) return;
      ready_completion rest = std::move(*slot_.next);
      slot_.next.reset();
      stream_.post_chain(std::move(rest));
    }

   private:
    stream_state& stream_;
    chain_slot slot_;
  };
  void post(batch_handler handler, error_code ec, stream_batch batch, bool = false) {
    if (batch.empty()) return asio::post(executor_, asio::append(std::move(handler), ec, batch));
    asio::post(executor_, asio::append(delivering(std::move(handler)), ec, batch));
  }
 public:
  // A batch's handler, wrapped to keep the storage alive and to mark the
  // batch in flight until the handler runs.
  batch_completion delivering(batch_handler handler) {
    batch_in_flight_.store(true, std::memory_order_release);
    return batch_completion{std::move(handler), shared_from_this()};
  }
  void delivered() { batch_in_flight_.store(false, std::memory_order_release); }

 private:
  // A pending operation's error completion.
  void post(pending_op op, error_code ec) {
    std::move(op).complete([this](const auto&, auto&& f) { asio::post(executor_, std::move(f)); }, {}, ec, {}, {});
  }

  asio::any_io_executor executor_;
  using registry = context_registry<stream_state, &stream_state::drop_pending>;
  registry* registry_ = nullptr;
  std::list<stream_state*>::iterator registered_;
  stream_options options_;  // its hooks moved to the client (handlers())
  std::optional<client> client_;  // what get_client() gives
  // client_'s connection, whose handlers point here: the stream pauses,
  // resumes and closes it through this handle, so a client moved out of
  // get_client() (or swapped) can't outlive the stream with them.
  client connection_;

  batch staged_;  // this read's items; the client's strand only

  // The consumer's: items taken from the queue, handed out one by one.
  std::atomic_flag taker_busy_;
  batch taken_;
  std::atomic<std::size_t> taken_left_{0};  // for the producer's count
  std::atomic<std::size_t> taken_bytes_left_{0};
  std::atomic<bool> paused_hint_{false};    // paused_, read without mutex_

  mutable std::mutex mutex_;
  batch queue_;  // waiting items, after taken_'s
  std::optional<pending_op> pending_;
  std::atomic<bool> batch_in_flight_{false};  // a batch's completion is posted, its handler not yet run
  std::atomic<int> chain_posts_{0};  // async_next completions posted, not yet run (post_chain)
  batch handed_;  // the items of the last async_next_batch; under mutex_ with pending_, else under taker_busy_
  std::uint64_t generation_ = 0;
  std::uint64_t handing_over_ = 0;  // the generation a hand_over is on its way for
  std::size_t high_water_ = 0;
  std::size_t high_water_bytes_ = 0;
  bool paused_ = false;
  bool ended_ = false;   // the client closed for good
  std::atomic<bool> closed_{false};  // close(); written under mutex_
  std::shared_ptr<const client_error> final_error_;
};

void batch_completion::operator()(error_code ec, stream_batch batch) {
  auto h = std::move(handler);
  keep->delivered();  // first: the handler may ask for the next batch
  std::move(h)(ec, batch);
}

batch_completion delivering(stream_state* state, batch_handler handler) { return state->delivering(std::move(handler)); }

// The state of a stream that still has one.
stream_state& live(const std::shared_ptr<stream_state>& state, const char* call = "async_next") {
  if (!state) throw std::logic_error(std::string(call) + " on a moved-from event_stream");
  return *state;
}

void start_next(const std::shared_ptr<stream_state>& state, next_handler handler, bool on_stream) {
  live(state).next(std::move(handler), nullptr, on_stream);
}

const asio::any_io_executor* stream_executor(const std::shared_ptr<stream_state>& state) noexcept {
  return state ? &state->executor() : nullptr;
}

bool try_next(stream_state* state, stream_item& out) {
  if (!state) throw std::logic_error("async_next on a moved-from event_stream");
  return state->try_next(out);
}

std::shared_ptr<stream_state> share(std::shared_ptr<stream_state>&& state, const char* call) {
  // A moved-from stream: a cancellable coroutine's call comes here without
  // try_next's check.
  if (!state) throw std::logic_error(std::string(call) + " on a moved-from event_stream");
  return std::move(state);
}

void start_next_batch(const std::shared_ptr<stream_state>& state, asio::any_completion_handler<batch_signature> handler) {
  live(state, "async_next_batch").next_batch(std::move(handler));
}

bool try_next_batch(stream_state* state, stream_batch& out) {
  if (!state) throw std::logic_error("async_next_batch on a moved-from event_stream");
  return state->try_next_batch(out);
}

void start_next_into(const std::shared_ptr<stream_state>& state, stream_item* into,
                     asio::any_completion_handler<next_into_signature> handler, bool on_stream) {
  live(state).next(std::move(handler), into, on_stream);
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

// A moved-from stream has no state_: it behaves as a closed one whose items
// were all taken (async_next on it throws std::logic_error, above).
void event_stream::close() {
  if (state_) state_->close();
}
client& event_stream::get_client() noexcept {
  if (state_) return state_->get_client();
  static client none;  // moved-from too: every call on it does nothing
  return none;
}
std::size_t event_stream::buffered() const { return state_ ? state_->buffered() : 0; }
std::size_t event_stream::max_buffered_seen() const { return state_ ? state_->max_buffered_seen() : 0; }
std::size_t event_stream::buffered_bytes() const { return state_ ? state_->buffered_bytes() : 0; }
std::size_t event_stream::max_buffered_bytes_seen() const { return state_ ? state_->max_buffered_bytes_seen() : 0; }
std::shared_ptr<const client_error> event_stream::final_error() const { return state_ ? state_->final_error() : nullptr; }

}  // namespace ssekit


// ssekit::event_stream: the pull interface of ssekit::client, in Asio's
// completion-token model.
//
//   ssekit::event_stream stream(io.get_executor(), options);
//   for (;;) {
//     auto [ec, item] = co_await stream.async_next(asio::as_tuple(asio::use_awaitable));
//     if (ec) break;                    // eof: closed for good; operation_aborted: cancelled / close()
//     use(item.data);
//   }
//
// The same call takes use_future, deferred, a plain callback or as_tuple.
// A consumer on another thread (use_future) keeps the io_context running
// with a work guard: a client paused by a full buffer has no operation
// outstanding, so run() would return.
// Items are owned copies (they outlive the call). async_next(item, token)
// fills the caller's item instead, reusing its strings' capacity (no
// allocation for the item). async_next_batch takes every waiting item at
// once, viewed where the stream keeps it (no copy out): the fastest.
// Backpressure: items wait in a bounded buffer; when it holds
// max_buffered_items the client stops
// reading from the socket (after the read in progress) until async_next
// takes items again, so a stalled consumer makes TCP slow the server down;
// nothing is dropped. Built on ssekit::client (same reconnection, same
// parser), not a second state machine. Items of one socket read are handed
// over together at its end (client_handlers::on_batch_end): a pending
// async_next completes then, once per read, and a coroutine takes the rest
// without suspending.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string_view>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ssekit/client.hpp"

namespace ssekit {

enum class stream_item_kind {
  event,    // type, data, id
  comment,  // data: the comment's text      (stream_options::comments)
  retry,    // retry: milliseconds            (stream_options::retries)
  open,     // response: the response head    (stream_options::opens)
  error,    // error: a client_error; will_reconnect says whether more follows (stream_options::errors)
};
std::string_view stream_item_kind_name(stream_item_kind kind) noexcept;

// One thing from the stream, owned.
struct stream_item {
  stream_item_kind kind = stream_item_kind::event;
  std::string type;  // event: its type ("message" by default)
  std::string data;  // event: its data; comment: the text
  std::string id;    // event: the last event id in force (event::last_event_id; not an id: line to write)
  std::uint64_t retry = 0;
  std::shared_ptr<const response_info> response;  // open
  std::shared_ptr<const client_error> error;      // error
};

namespace detail {
class stream_state;
// How the items of a stream_batch lie in the stream's storage
// (event_stream.cpp's batch): a record per item; its strings are
// consecutive runs of one byte buffer (type, data, id), and the rarer parts
// (retry, response, error) sit in a side array, one per record that has them.
struct batch_record {
  std::size_t type, data, id;  // sizes of the item's runs
  stream_item_kind kind;
  bool has_extra;     // its retry/response/error are the next batch_extra
  bool message_type;  // an event of type "message" (the usual one), not stored: type is 0
};
inline constexpr std::string_view message_type = "message";
struct batch_extra {
  std::uint64_t retry = 0;
  std::shared_ptr<const response_info> response;
  std::shared_ptr<const client_error> error;
};
}  // namespace detail

// One item of a stream_batch, seen where it lies: the fields of
// stream_item, as views.
struct stream_item_view {
  stream_item_kind kind = stream_item_kind::event;
  std::string_view type;
  std::string_view data;
  std::string_view id;
  std::uint64_t retry = 0;
  const response_info* response = nullptr;  // open
  const client_error* error = nullptr;      // error
};

// The items one async_next_batch took, in stream order, viewed in the
// stream's own storage: nothing is copied. Valid until the next async_next or
// async_next_batch on the same stream, or the stream's destruction (close()
// leaves it valid); copy what must live longer (stream_item_view's strings
// into a stream_item, say). A forward range of stream_item_view.
class stream_batch {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = stream_item_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = stream_item_view;

    iterator() = default;
    stream_item_view operator*() const noexcept {
      stream_item_view v;
      v.kind = record_->kind;
      v.type = record_->message_type ? detail::message_type : std::string_view(bytes_, record_->type);
      v.data = std::string_view(bytes_ + record_->type, record_->data);
      v.id = std::string_view(bytes_ + record_->type + record_->data, record_->id);
      if (record_->has_extra) {
        v.retry = extra_->retry;
        v.response = extra_->response.get();
        v.error = extra_->error.get();
      }
      return v;
    }
    iterator& operator++() noexcept {
      bytes_ += record_->type + record_->data + record_->id;
      if (record_->has_extra) ++extra_;
      ++record_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.record_ == b.record_; }

   private:
    friend class stream_batch;
    iterator(const detail::batch_record* record, const char* bytes, const detail::batch_extra* extra) noexcept
        : record_(record), bytes_(bytes), extra_(extra) {}
    const detail::batch_record* record_ = nullptr;
    const char* bytes_ = nullptr;
    const detail::batch_extra* extra_ = nullptr;
  };

  stream_batch() = default;
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  iterator begin() const noexcept { return iterator(records_, bytes_, extras_); }
  iterator end() const noexcept { return iterator(records_ + size_, nullptr, nullptr); }

 private:
  friend class detail::stream_state;
  stream_batch(const detail::batch_record* records, std::size_t size, const char* bytes, const detail::batch_extra* extras) noexcept
      : records_(records), size_(size), bytes_(bytes), extras_(extras) {}
  const detail::batch_record* records_ = nullptr;
  std::size_t size_ = 0;
  const char* bytes_ = nullptr;
  const detail::batch_extra* extras_ = nullptr;
};

struct stream_options {
  // Items kept for a consumer that does not ask; at least 1. Reading stops
  // when the buffer holds this many and resumes when it is down to half. The
  // read in progress when the buffer fills is parsed to its end, so the
  // buffer holds at most max_buffered_items plus the items of one read
  // (client_options::read_buffer_size bytes; 64 KiB for the first read,
  // which may carry the head; of a compressed stream, one decoded piece of
  // 16 KiB: its reading pauses between pieces). A read that reaches an async_next waiting on
  // an empty buffer does not pause (the consumer takes its items), so the
  // bound is the larger of max_buffered_items and one read's items, plus
  // one read's. event_stream::max_buffered_seen() reports the high-water
  // mark.
  std::size_t max_buffered_items = 256;
  // The same in bytes of the waiting items: their strings (type, data, id),
  // and an open or error item's headers (counted with a std::pair of
  // strings each) and texts. At least 1. Reading also stops when this many
  // wait, and resumes when both counts are down to half. Without it a
  // server's large events (up to client_options::limits.max_event_size
  // each, three times that after UTF-8 repair), or heads of thousands of
  // small headers, would fill max_buffered_items. The buffer holds at most
  // this plus the events one read completes: those begun in earlier reads
  // (each within the limits) and a read's worth more, or plus one open or
  // error item. A paused client makes no new attempt either (its reconnect
  // waits), so a server that refuses every attempt can't fill it.
  // event_stream::max_buffered_bytes_seen() reports the high-water mark.
  std::size_t max_buffered_bytes = 4 * 1024 * 1024;
  // Notifications that become items, besides events.
  bool comments = false;
  bool retries = false;
  bool opens = false;
  bool errors = false;
  // Handed to the client as they are (client_handlers says what each does):
  // the attempt hook, one form at most (a fresh token before each attempt:
  // with one, a 401 reconnects instead of ending the stream), and
  // diagnostics. The client's other handlers are the stream's own. If
  // on_diagnostic throws, the client closes and the exception leaves
  // run(), as with any client handler; the stream then ends: async_next
  // gives the items already read, then eof (final_error() stays null).
  std::function<void(attempt_request&, const attempt_info&)> on_attempt;
  std::function<void(attempt_request, const attempt_info&, attempt_done done)> on_attempt_async;
  std::function<void(const diagnostic&)> on_diagnostic;
};

namespace detail {
// The token when none is given: Asio's default, or deferred where Asio has
// none (Boost 1.81's is void, and a call without a token failed to compile
// with "forming reference to void"); deferred is the default from 1.82 on.
template <class Executor>
using default_token_t = std::conditional_t<std::is_void_v<boost::asio::default_completion_token_t<Executor>>, boost::asio::deferred_t,
                                           boost::asio::default_completion_token_t<Executor>>;

using next_signature = void(boost::system::error_code, stream_item);
// The stream's executor; null for a moved-from stream.
const boost::asio::any_io_executor* stream_executor(const std::shared_ptr<stream_state>& state) noexcept;
// Whether a handler runs on the stream's executor (has none of its own, or
// the same): such a handler may be called directly once the one before it
// returns (the plain-callback chain). Decided where the handler's type is
// known: asked of a type-erased handler, the comparison cost two
// allocations per item.
template <class Handler>
bool runs_on_stream(const Handler& handler, const boost::asio::any_io_executor* stream) {
  if (stream == nullptr) return false;
  using executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
  if constexpr (std::is_same_v<executor, boost::asio::any_io_executor>) {
    return boost::asio::get_associated_executor(handler, *stream) == *stream;
  } else {
    const executor* target = stream->target<executor>();
    return target != nullptr && *target == boost::asio::get_associated_executor(handler, *stream);
  }
}

// Starts one async_next (native/client/event_stream.cpp).
void start_next(const std::shared_ptr<stream_state>& state, boost::asio::any_completion_handler<next_signature> handler, bool on_stream);
// Takes the front item if one waits and no async_next is pending.
bool try_next(stream_state* state, stream_item& out);
// The state of the stream `state` (a plain pointer) as shared; throws
// std::logic_error naming `call` for a moved-from stream.
std::shared_ptr<stream_state> share(std::shared_ptr<stream_state>&& state, const char* call = "async_next");

struct next_initiation {
  template <class Handler>
  void operator()(Handler&& handler, const std::shared_ptr<stream_state>& state) const {
    const bool on_stream = runs_on_stream(handler, stream_executor(state));
    start_next(state, std::forward<Handler>(handler), on_stream);
  }
};

// async_next into the caller's item: completes with the error code only.
using next_into_signature = void(boost::system::error_code);
void start_next_into(const std::shared_ptr<stream_state>& state, stream_item* into,
                     boost::asio::any_completion_handler<next_into_signature> handler, bool on_stream);
struct next_into_initiation {
  template <class Handler>
  void operator()(Handler&& handler, const std::shared_ptr<stream_state>& state, stream_item* into) const {
    const bool on_stream = runs_on_stream(handler, stream_executor(state));
    start_next_into(state, into, std::forward<Handler>(handler), on_stream);
  }
};

// async_next_batch: completes with the items waiting, viewed in place.
using batch_signature = void(boost::system::error_code, stream_batch);
void start_next_batch(const std::shared_ptr<stream_state>& state, boost::asio::any_completion_handler<batch_signature> handler);
// Takes the waiting items if some wait and no async_next is pending.
bool try_next_batch(stream_state* state, stream_batch& out);
struct next_batch_initiation {
  void operator()(boost::asio::any_completion_handler<batch_signature> handler, const std::shared_ptr<stream_state>& state) const {
    start_next_batch(state, std::move(handler));
  }
};

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
template <class Token>
struct awaitable_token : std::false_type {};
template <class Executor>
struct awaitable_token<boost::asio::use_awaitable_t<Executor>> : std::true_type {
  using executor = Executor;
  static constexpr bool tuple = false;
};
template <class Executor>
struct awaitable_token<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>> : std::true_type {
  using executor = Executor;
  static constexpr bool tuple = true;
};

// Whether the coroutine can be cancelled (it runs in `||` or a parallel
// group, say): then it takes no item without suspending, as the group may
// drop its result (the generic path takes it as the coroutine resumes).
// (Called with co_await this_coro::cancellation_state, in a statement of its
// own: inside `&&`, GCC 12 compiled the co_await to an illegal instruction.)
inline bool cancellable(const boost::asio::cancellation_state& coroutine) noexcept { return coroutine.slot().is_connected(); }

// async_next for a coroutine: an item that already waits is returned without
// suspending (no handler, no post: nothing can run inline in an initiating
// call, as there is none); otherwise an ordinary async_next. Same results,
// order and rules as the generic path. The state is held, not pointed to: a
// stream assigned over or destroyed before the co_await leaves the op on the
// closed state it was started on (it ends), never on freed memory.
template <class Executor>
boost::asio::awaitable<stream_item, Executor> next_awaitable(std::shared_ptr<stream_state> state, boost::asio::use_awaitable_t<Executor> token) {
  stream_item item;
  const bool direct = !cancellable(co_await boost::asio::this_coro::cancellation_state);
  if (direct && try_next(state.get(), item)) co_return std::move(item);
  co_return co_await boost::asio::async_initiate<boost::asio::use_awaitable_t<Executor>, next_signature>(next_initiation{}, token,
                                                                                                       share(std::move(state)));
}
template <class Executor>
boost::asio::awaitable<std::tuple<boost::system::error_code, stream_item>, Executor> next_awaitable(
    std::shared_ptr<stream_state> state, boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>> token) {
  std::tuple<boost::system::error_code, stream_item> result;
  const bool direct = !cancellable(co_await boost::asio::this_coro::cancellation_state);
  if (direct && try_next(state.get(), std::get<1>(result))) co_return std::move(result);
  co_return co_await boost::asio::async_initiate<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>, next_signature>(
      next_initiation{}, token, share(std::move(state)));
}

// The same for async_next(item, token): the waiting item is copied into the
// caller's strings (their capacity is reused: no allocation once they are
// large enough).
template <class Executor>
boost::asio::awaitable<void, Executor> next_into_awaitable(std::shared_ptr<stream_state> state, stream_item& into,
                                                           boost::asio::use_awaitable_t<Executor> token) {
  const bool direct = !cancellable(co_await boost::asio::this_coro::cancellation_state);
  if (direct && try_next(state.get(), into)) co_return;
  co_await boost::asio::async_initiate<boost::asio::use_awaitable_t<Executor>, next_into_signature>(next_into_initiation{}, token,
                                                                                                 share(std::move(state)), &into);
}
template <class Executor>
boost::asio::awaitable<std::tuple<boost::system::error_code>, Executor> next_into_awaitable(
    std::shared_ptr<stream_state> state, stream_item& into, boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>> token) {
  const bool direct = !cancellable(co_await boost::asio::this_coro::cancellation_state);
  if (direct && try_next(state.get(), into)) co_return std::tuple<boost::system::error_code>{};
  co_return co_await boost::asio::async_initiate<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>,
                                                 next_into_signature>(next_into_initiation{}, token, share(std::move(state)), &into);
}

// The same for async_next_batch: waiting items complete the co_await at once.
template <class Executor>
boost::asio::awaitable<stream_batch, Executor> next_batch_awaitable(std::shared_ptr<stream_state> state, boost::asio::use_awaitable_t<Executor> token) {
  stream_batch batch;
  const bool direct = !cancellable(co_await boost::asio::this_coro::cancellation_state);
  if (direct && try_next_batch(state.get(), batch)) co_return batch;
  co_return co_await boost::asio::async_initiate<boost::asio::use_awaitable_t<Executor>, batch_signature>(next_batch_initiation{}, token,
                                                                                                       share(std::move(state), "async_next_batch"));
}
template <class Executor>
boost::asio::awaitable<std::tuple<boost::system::error_code, stream_batch>, Executor> next_batch_awaitable(
    std::shared_ptr<stream_state> state, boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>> token) {
  stream_batch batch;
  const bool direct = !cancellable(co_await boost::asio::this_coro::cancellation_state);
  if (direct && try_next_batch(state.get(), batch)) co_return std::tuple<boost::system::error_code, stream_batch>(boost::system::error_code(), batch);
  co_return co_await boost::asio::async_initiate<boost::asio::as_tuple_t<boost::asio::use_awaitable_t<Executor>>, batch_signature>(
      next_batch_initiation{}, token, share(std::move(state), "async_next_batch"));
}
#endif
}  // namespace detail

class event_stream {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Creates and starts the client (its handlers are the stream's).
  // Throws client_options_error like client's constructor.
  event_stream(executor_type executor, client_options options, stream_options stream = {});
  // Test seam, as client's.
  event_stream(executor_type executor, client_options options, stream_options stream,
               std::shared_ptr<detail::transport_factory> transport);
  // Closes (see close()). Lifetime as client's: movable, may be destroyed
  // inside a completion handler of its own async_next, and must be
  // destroyed before its io_context. A moved-from stream behaves as a
  // closed one with nothing buffered, except that async_next and
  // async_next_batch on it throw std::logic_error.
  ~event_stream();
  event_stream(event_stream&& other) noexcept;
  event_stream& operator=(event_stream&& other) noexcept;
  event_stream(const event_stream&) = delete;
  event_stream& operator=(const event_stream&) = delete;

  executor_type get_executor() const noexcept { return executor_; }

  // Completes with the next item, in stream order, with
  //   (error_code{}, item)
  //   (asio::error::eof, {})              the client closed for good and every item was taken (final_error() says why;
  //                                        null when it was closed, or a handler threw)
  //   (asio::error::operation_aborted, {}) cancelled through the handler's cancellation slot
  //                                        (any type: nothing is lost, the stream stays usable), or close()
  //                                        A handler whose slot is connected takes its item on its executor
  //                                        as it runs, so one that loses `async_next(...) || timer` (or a
  //                                        parallel group) took nothing, when that executor runs one handler
  //                                        at a time (a strand, or an io_context on one thread). On several
  //                                        threads without a strand, the timer may win while the item is
  //                                        being taken, and the group drops it. A parallel
  //                                        group (Boost 1.81) gives async_next no executor
  //                                        of its own: build the stream on the strand, or
  //                                        read async_next's result even when the timer won.
  //   (asio::error::already_started, {})  another async_next is still pending (one at a time)
  // The handler runs on its associated executor (default: the stream's);
  // its associated allocator holds the pending operation. Call from any thread.
  //
  // With use_awaitable (or as_tuple(use_awaitable)) an item that already
  // waits completes the co_await at once, without suspending the coroutine.
  // The operation belongs to the stream it was called on, moved or not: if
  // that stream is assigned over or destroyed before the co_await, it
  // completes as on a closed stream.
  //
  // Without a token: asio::deferred (Asio's default from Boost 1.82 on, and
  // ours with 1.81 too), an operation that starts when it is invoked or
  // co_awaited.
  template <class CompletionToken = detail::default_token_t<executor_type>>
    requires(!std::is_base_of_v<stream_item, std::remove_cvref_t<CompletionToken>>)  // an item is not a token: see below
  auto async_next(CompletionToken&& token = detail::default_token_t<executor_type>()) {
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
    if constexpr (detail::awaitable_token<std::decay_t<CompletionToken>>::value) {
      return detail::next_awaitable(state_, std::forward<CompletionToken>(token));
    } else
#endif
    {
      return boost::asio::async_initiate<CompletionToken, detail::next_signature>(detail::next_initiation{}, token, state_);
    }
  }

  // The same, into the caller's item: completes with the error code only
  // (use_awaitable: co_await returns nothing and throws on error). On
  // success `into` holds the next item; its strings keep their capacity, so
  // once they are large enough taking an item allocates nothing (the
  // fastest way to pull). With use_awaitable an item that already waits
  // costs no allocation at all; other tokens allocate only what Asio needs
  // for the operation itself. On error `into` is left as it was. `into`
  // must live until the operation completes, and not be read or written
  // before then (the stream may fill it before the handler runs).
  template <class CompletionToken = detail::default_token_t<executor_type>>
  auto async_next(stream_item& into, CompletionToken&& token = detail::default_token_t<executor_type>()) {
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
    if constexpr (detail::awaitable_token<std::decay_t<CompletionToken>>::value) {
      return detail::next_into_awaitable(state_, into, std::forward<CompletionToken>(token));
    } else
#endif
    {
      return boost::asio::async_initiate<CompletionToken, detail::next_into_signature>(detail::next_into_initiation{}, token, state_,
                                                                                      &into);
    }
  }

  // Completes with every item that waits (at least one), in stream order,
  // viewed in the stream's storage: no copy out, and one completion for
  // many items (the fastest way to pull; with use_awaitable, waiting items
  // complete the co_await without suspending). The batch is valid until the
  // next async_next or async_next_batch on this stream, or its
  // destruction (a batch on its way to a handler keeps the storage alive).
  // Results, errors, tokens,
  // executor, allocator, cancellation and the one-at-a-time rule are
  // async_next's (shared with it: an async_next_batch pending refuses an
  // async_next, and the reverse). A batch is in progress until its handler
  // has run: another async_next_batch before then completes with
  // already_started. The items taken leave the buffer at once
  // (reading resumes as for async_next), but their bytes stay until the next
  // call: memory holds at most one batch besides the buffer's bound.
  template <class CompletionToken = detail::default_token_t<executor_type>>
  auto async_next_batch(CompletionToken&& token = detail::default_token_t<executor_type>()) {
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
    if constexpr (detail::awaitable_token<std::decay_t<CompletionToken>>::value) {
      return detail::next_batch_awaitable(state_, std::forward<CompletionToken>(token));
    } else
#endif
    {
      return boost::asio::async_initiate<CompletionToken, detail::batch_signature>(detail::next_batch_initiation{}, token, state_);
    }
  }

  // Closes the client; a pending async_next completes with
  // operation_aborted, later ones with eof. Items already buffered are
  // dropped. An async_next called while an item waited took it at the call:
  // its handler still gets that item, even if close() comes before the
  // handler runs. From any thread.
  void close();

  // The client underneath: restart(), state(), stats(), last_event_id().
  // Its last_event_id() is the last event the client read, which may be
  // past items still buffered (and dropped by close()): to resume where
  // the consumer stopped, keep the last taken item's id.
  // Its pause_reading()/resume_reading() belong to the stream. Its close()
  // ends the stream as a final error does (the items already read, then
  // eof); event_stream::close() drops them and aborts a pending
  // async_next. Moving the client out (or swapping, assigning over it) is
  // no way to keep the connection: its handlers fill this stream, which
  // pauses and closes it wherever it went, and ends when it closes.
  client& get_client() noexcept;

  std::size_t buffered() const;                 // items waiting now
  std::size_t max_buffered_seen() const;        // the most that ever waited
  std::size_t buffered_bytes() const;           // their bytes, as max_buffered_bytes counts them
  std::size_t max_buffered_bytes_seen() const;  // the most bytes that ever waited
  // The error that closed the client for good; null while it runs, and
  // after a close() of yours (nothing failed).
  std::shared_ptr<const client_error> final_error() const;

 private:
  executor_type executor_;
  std::shared_ptr<detail::stream_state> state_;
};

}  // namespace ssekit

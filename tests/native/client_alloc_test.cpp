// What the client allocates, counted (operator new replaced in this binary,
// so it has one of its own), never timed: a request body of tens of
// megabytes (an LLM request with images) must be held once, not once per
// copy of the options, the request plan and the message in flight.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "../support/heap_in_use.hpp"
#include "ssekit/client.hpp"
#include "ssekit/event_stream.hpp"

namespace {
// Atomic: Asio resolves names on a thread of its own.
std::atomic<std::size_t> live_bytes{0};
std::atomic<std::size_t> peak_bytes{0};
std::atomic<std::size_t> new_calls{0};

void* counted(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  new_calls.fetch_add(1, std::memory_order_relaxed);
  const std::size_t now = live_bytes.fetch_add(malloc_usable_size(p), std::memory_order_relaxed) + malloc_usable_size(p);
  std::size_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return p;
}
void uncounted(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(std::size_t size) { return counted(size); }
void* operator new[](std::size_t size) { return counted(size); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, std::size_t) noexcept { uncounted(p); }
void operator delete[](void* p, std::size_t) noexcept { uncounted(p); }

namespace {

using ssekit::test::heap_in_use;  // Asio takes its handlers' memory with aligned_alloc

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Reads a request head and `body_size` body bytes into one small buffer
// (nothing kept), then answers (by default with one event) and closes.
class discarding_server {
 public:
  discarding_server(asio::io_context& io, std::size_t body_size,
                    std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: a\n\n",
                    bool close_after = true)
      : acceptor_(io, {asio::ip::address_v4::loopback(), 0}),
        socket_(io),
        body_left_(body_size),
        answer_(std::move(answer)),
        close_after_(close_after) {
    acceptor_.async_accept(socket_, [this](boost::system::error_code ec) {
      if (!ec) read();
    });
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  bool answered() const { return answered_; }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(chunk_), [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      std::string_view got(chunk_.data(), n);
      if (!head_done_) {
        head_ += got;  // a head is small; the body's bytes after it are counted below
        const auto end = head_.find("\r\n\r\n");
        if (end == std::string::npos) return read();
        head_done_ = true;
        got = std::string_view(head_).substr(end + 4);
      }
      body_left_ -= std::min(body_left_, got.size());
      if (body_left_ != 0) return read();
      answered_ = true;
      asio::async_write(socket_, asio::buffer(answer_), [this](boost::system::error_code, std::size_t) {
        if (close_after_) socket_.close();
      });
    });
  }

  tcp::acceptor acceptor_;
  tcp::socket socket_;
  std::array<char, 65536> chunk_{};
  std::string head_;
  bool head_done_ = false;
  std::size_t body_left_;
  bool answered_ = false;
  const std::string answer_;
  const bool close_after_;
};

TEST(ClientAllocations, ARequestBodyIsHeldOnce) {
  constexpr std::size_t body_size = 16u << 20;
  asio::io_context io;
  discarding_server server(io, body_size);
  ssekit::client_options o;
  o.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v1/chat";
  o.method = "POST";
  o.body.assign(body_size, 'x');
  o.connect_timeout = 30s;
  int events = 0;
  std::optional<ssekit::client> c;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event& ev) {
    ++events;
    EXPECT_EQ(ev.data, "a");
    c->close();
  };
  const std::size_t before = live_bytes.load();  // the body is in here already
  peak_bytes = before;
  c.emplace(io.get_executor(), std::move(o), std::move(h));
  // Moved in: the client holds the caller's bytes, no copy of them.
  EXPECT_LT(peak_bytes - before, body_size / 4) << "constructing the client copied the body";
  io.run_for(60s);
  ASSERT_TRUE(server.answered());
  ASSERT_EQ(events, 1);
  // Everything the client allocated while it sent the body and read the
  // answer (buffers, the head, the event): far less than one more body.
  EXPECT_LT(peak_bytes - before, body_size / 4) << "sending the request copied the body";
}

// An idle stream (the head and one event read, the connection kept open)
// holds no head-sized read buffer: the head's reads take 16 KiB at a time,
// and the buffer kept all of it for the stream's life (probe-cli2: 52 KiB
// per idle https connection, 16 of them this buffer).
TEST(ClientAllocations, AnIdleStreamKeepsNoHeadSizedBuffer) {
  asio::io_context io;
  discarding_server server(io, 0, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n", false);
  ssekit::client_options o;
  o.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  o.connect_timeout = 30s;
  std::optional<ssekit::client> c;
  std::size_t held = 0;
  ssekit::client_handlers h;
  h.on_event = [&](const ssekit::event&) {
    held = live_bytes.load();
    c->close();
  };
  const std::size_t before = live_bytes.load();
  c.emplace(io.get_executor(), std::move(o), std::move(h));
  io.run_for(60s);
  ASSERT_NE(held, 0u) << "no event";
  // Everything the open client holds then: the client, its connection and
  // Asio's, the parser, the response, a small read buffer.
  EXPECT_LT(held - before, std::size_t{12} << 10) << "bytes held";
}

// A chain of plain callbacks (each handler asks for the next item, the way
// Asio code loops without coroutines) takes items that wait without an
// allocation per item. Whether a handler may be called directly (it runs on
// the stream's executor) was asked of its type-erased form: two
// allocations per item, 2.08 per event in ssekit-pull-bench.
TEST(ClientAllocations, ACallbackChainOfAsyncNextAllocatesNothingPerItem) {
  constexpr int items = 500;
  std::string body;
  for (int i = 0; i < items; ++i) body += "data: " + std::to_string(i) + "\n\n";
  asio::io_context io;
  discarding_server server(io, 0,
                           "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\n\r\n" + body);
  ssekit::client_options o;
  o.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  o.reconnect = false;
  o.connect_timeout = 30s;
  ssekit::stream_options so;
  so.max_buffered_items = 2 * items;  // all of them wait before the chain starts
  ssekit::event_stream stream(io.get_executor(), o, so);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (stream.buffered() < static_cast<std::size_t>(items) && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
  ASSERT_EQ(stream.buffered(), static_cast<std::size_t>(items));

  struct chain {
    ssekit::event_stream& stream;
    ssekit::stream_item item;
    int taken = 0;
    bool done = false;
    void ask() {
      stream.async_next(item, [this](boost::system::error_code ec) {
        if (ec) {
          done = true;
          return;
        }
        ++taken;
        ask();
      });
    }
  } c{stream, {}};
  c.item.data.reserve(16);  // the item's strings are large enough from the start
  const std::size_t before = new_calls.load();
  c.ask();
  while (!c.done && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
  const std::size_t calls = new_calls.load() - before;
  ASSERT_TRUE(c.done);
  EXPECT_EQ(c.taken, items);
  EXPECT_LT(calls, static_cast<std::size_t>(items / 10)) << "allocations per item in a callback chain";
}

// restart(), resume_reading() and close() called again before the handler
// the first one queued has run queue nothing more: each call queued a
// handler of its own on the client's strand, without bound (a loop calling
// restart() from another thread queued 31,000 reconnects and starved the
// stream; a helper's TSan probe). Counted in bytes held while the
// io_context does not run (a strand runs its queue as one handler, so
// poll() would count one), and for restart() in reconnects.
TEST(ClientAllocations, RepeatedCallsQueueOneHandler) {
  enum { restart, resume, close } const calls[] = {restart, resume, close};
  for (const auto call : calls) {
    asio::io_context io;
    ssekit::client_options o;
    o.url = "http://127.0.0.1:9/";  // refused; nothing needs to answer
    o.reconnection_time = std::chrono::hours(1);  // no reconnect of its own comes due here
    o.backoff.min_delay = std::chrono::hours(1);
    ssekit::client c(io.get_executor(), o, {});
    c.restart();  // the first call's handler counts as the client's
    c.resume_reading();
    if (call == close) c.close();
    const std::size_t before = heap_in_use();
    for (int i = 0; i < 1000; ++i) {
      if (call == restart) c.restart();
      else if (call == resume) c.resume_reading();
      else c.close();
    }
    const std::size_t grown = heap_in_use() - before;
    EXPECT_LT(grown, 8192u) << "call " << call << " queued a handler per call";
    io.poll();
    if (call == restart) {
      EXPECT_EQ(c.reconnects(), 1u);  // the calls were one restart
    }
    c.restart();  // its handler has run: a later call is a restart again
    io.poll();
    EXPECT_EQ(c.reconnects(), call == restart ? 2u : call == resume ? 2u : 0u) << call;
  }
}

}  // namespace

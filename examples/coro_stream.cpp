// A coroutine that pulls events with co_await: ssekit::event_stream's
// async_next, raced against a timer with awaitable_operators, so a stream
// that goes quiet for TIMEOUT_MS ends the loop. The stream is read only as
// fast as the loop asks (backpressure); nothing is dropped.
//
//   coro_stream URL MAX_EVENTS TIMEOUT_MS [API_KEY]
//   with API_KEY: POST {"stream":true} with "Authorization: Bearer API_KEY"
//   exit status: 0 MAX_EVENTS read, 1 the stream ended or failed, 2 usage,
//   3 nothing arrived for TIMEOUT_MS
#include <ssekit/event_stream.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// Reads up to `max_events`; returns the exit status.
asio::awaitable<int> pull(ssekit::event_stream& stream, unsigned long max_events, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  ssekit::stream_item item;  // filled again and again: no allocation per event
  for (unsigned long n = 0; n < max_events; ++n) {
    timer.expires_after(timeout);
    // Whichever finishes first wins; the other is cancelled through its
    // cancellation slot. A cancelled async_next loses nothing.
    auto next = co_await (stream.async_next(item, asio::as_tuple(asio::use_awaitable)) || timer.async_wait(asio::use_awaitable));
    if (next.index() == 1) {
      std::cerr << "timeout: no event within " << timeout.count() << " ms\n";
      co_return 3;
    }
    auto [ec] = std::get<0>(next);
    if (ec) {
      // eof: the client closed for good; final_error() says why.
      const auto why = stream.final_error();
      std::cerr << "ended: " << (why ? why->message : ec.message()) << '\n';
      co_return 1;
    }
    std::cout << item.type << ": " << item.data << '\n' << std::flush;
  }
  co_return 0;
}

bool parse_number(std::string_view text, unsigned long& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long max_events = 0, timeout_ms = 0;
  if ((argc != 4 && argc != 5) || !parse_number(argv[2], max_events) || !parse_number(argv[3], timeout_ms) ||
      timeout_ms == 0 || timeout_ms > 3600000) {
    std::cerr << "usage: coro_stream URL MAX_EVENTS TIMEOUT_MS(1..3600000) [API_KEY]\n";
    return 2;
  }
  ssekit::client_options options;
  options.url = argv[1];
  options.reconnect = false;
  if (argc == 5) {
    options.method = "POST";
    options.headers = {{"Authorization", std::string("Bearer ") + argv[4]}, {"Content-Type", "application/json"}};
    options.body = R"({"stream":true,"prompt":"hi"})";
  }
  try {
    asio::io_context io;
    // Destroyed before `io` (declared after it), as the lifetime rules ask.
    ssekit::event_stream stream(io.get_executor(), options);
    int status = 1;
    asio::co_spawn(io, pull(stream, max_events, std::chrono::milliseconds(timeout_ms)),
                   [&](std::exception_ptr e, int result) {
                     if (e) std::rethrow_exception(e);
                     status = result;
                     stream.close();  // ends the connection; run() then returns
                   });
    io.run();
    return status;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}

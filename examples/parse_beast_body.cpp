// ssekit's parser alone, over bytes another HTTP library reads: here a
// plain Boost.Beast request whose body is read piece by piece (buffer_body)
// and fed to ssekit::parser as it arrives. The same loop works with any
// library that hands out body chunks (a curl write callback, ...).
//
//   parse_beast_body HOST PORT TARGET [MAX_EVENTS]
//   prints "TYPE: DATA (id ID)" per event; exit status 0 at the end of the
//   body or after MAX_EVENTS events, 1 on an error
#include <ssekit/ssekit.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

namespace http = boost::beast::http;

struct printer : ssekit::handler {
  unsigned long max_events = 0;  // 0: no limit
  unsigned long events = 0;
  // The views are borrowed: valid only during the call.
  void on_event(const ssekit::event& ev) override {
    // One read may complete several events: those past the limit are not printed.
    if (max_events != 0 && events == max_events) return;
    ++events;
    std::cout << ev.type << ": " << ev.data << " (id " << ev.last_event_id << ")\n" << std::flush;
  }
};

// A decimal argument in [0, max], or exit status 2.
unsigned long number_arg(const char* text, unsigned long max) {
  const std::string_view s(text);
  unsigned long value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value > max) {
    std::cerr << "not a number in [0, " << max << "]: " << text << '\n';
    std::exit(2);
  }
  return value;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: parse_beast_body HOST PORT TARGET [MAX_EVENTS]\n";
    return 2;
  }
  const unsigned long max_events = argc > 4 ? number_arg(argv[4], 1000000000) : 0;
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    boost::asio::connect(socket, boost::asio::ip::tcp::resolver(io).resolve(argv[1], argv[2]));

    http::request<http::empty_body> request{http::verb::get, argv[3], 11};
    request.set(http::field::host, argv[1]);
    request.set(http::field::accept, "text/event-stream");
    http::write(socket, request);

    boost::beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> response;
    response.body_limit(boost::none);  // a stream has no length; ssekit's limits bound each event
    http::read_header(socket, buffer, response);
    if (response.get().result() != http::status::ok) {
      std::cerr << "HTTP " << response.get().result_int() << '\n';
      return 1;
    }

    printer events;
    events.max_events = max_events;
    ssekit::parser parser{events};
    char chunk[4096];
    while (!response.is_done() && (max_events == 0 || events.events < max_events)) {
      response.get().body().data = chunk;
      response.get().body().size = sizeof chunk;
      boost::system::error_code ec;
      http::read_some(socket, buffer, response, ec);
      if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
      const std::size_t got = sizeof chunk - response.get().body().size;
      if (auto err = parser.feed(std::string_view(chunk, got))) {
        std::cerr << ssekit::error_message(err.code) << " at byte " << err.offset << '\n';
        return 1;
      }
    }
    parser.finish();  // an unterminated last event is discarded, as the standard says
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
}

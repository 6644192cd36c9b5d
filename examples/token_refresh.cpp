// A stream behind short-lived tokens: the server answers 401 once a token
// has expired, and the attempt hook fetches a fresh one before the next
// attempt, off the client's thread (the async form). The stream goes on
// where it stopped (Last-Event-ID), with the client's backoff state intact.
//
//   token_refresh HOST PORT EVENTS
//     streams http://HOST:PORT/tokens/feed, gets tokens from
//     GET http://HOST:PORT/tokens/issue, prints "ID DATA" per event and
//     stops after EVENTS events.
//   exit status: 0 done, 1 failed, 2 usage
#include <ssekit/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <charconv>
#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

// The token service: a blocking HTTP/1.0 GET whose body is the token.
// Real code calls its identity provider here.
std::string fetch_token(const std::string& host, const std::string& port) {
  boost::asio::ip::tcp::iostream s;
  s.expires_after(std::chrono::seconds(5));
  s.connect(host, port);
  if (!s) throw std::runtime_error("token service unreachable: " + s.error().message());
  s << "GET /tokens/issue HTTP/1.0\r\nHost: " << host << "\r\n\r\n" << std::flush;
  std::string line, token;
  std::getline(s, line);
  if (line.rfind("HTTP/1.1 200", 0) != 0 && line.rfind("HTTP/1.0 200", 0) != 0) throw std::runtime_error("token service: " + line);
  while (std::getline(s, line) && line != "\r") {}  // headers
  std::getline(s, token);
  if (!token.empty() && token.back() == '\r') token.pop_back();  // a body that ends in CRLF
  if (token.empty()) throw std::runtime_error("token service: empty token");
  return token;
}

void set_header(ssekit::header_list& headers, const std::string& name, const std::string& value) {
  for (auto& [n, v] : headers) {
    if (n == name) {
      v = value;
      return;
    }
  }
  headers.emplace_back(name, value);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: token_refresh HOST PORT EVENTS\n";
    return 2;
  }
  const std::string host = argv[1], port = argv[2];
  const std::string_view count(argv[3]);
  long wanted = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), wanted);
  if (ec != std::errc{} || end != count.data() + count.size() || wanted < 1 || wanted > 1000000) {
    std::cerr << "EVENTS must be in 1..1000000\n";
    return 2;
  }

  ssekit::client_options options;
  options.url = "http://" + host + ":" + port + "/tokens/feed";
  options.attempt_hook_timeout = std::chrono::seconds(10);  // the token service's deadline

  boost::asio::io_context io;
  std::optional<ssekit::client> client;
  std::mutex workers_mutex;
  std::vector<std::thread> workers;
  long events = 0;
  int status = 1;

  ssekit::client_handlers handlers;
  // Before every attempt: the first needs a token, and so does any attempt
  // after a 401. Other attempts reuse the token the client kept.
  handlers.on_attempt_async = [&](ssekit::attempt_request request, const ssekit::attempt_info& info, ssekit::attempt_done done) {
    if (info.kind != ssekit::attempt_kind::first && info.previous_status != 401) return done(std::move(request));
    std::cerr << "attempt " << info.number << ": fetching a token\n";
    std::lock_guard lock(workers_mutex);
    workers.emplace_back([&host, &port, request = std::move(request), done]() mutable {
      try {
        set_header(request.headers, "Authorization", "Bearer " + fetch_token(host, port));
        done(std::move(request));
      } catch (const std::exception& e) {
        done.fail(e.what());  // reported as attempt_hook_failed, then backed off and tried again
      }
    });
  };
  handlers.on_event = [&](const ssekit::event& ev) {
    std::cout << ev.last_event_id << ' ' << ev.data << '\n' << std::flush;
    if (++events == wanted) {
      status = 0;
      client->close();
    }
  };
  handlers.on_error = [&](const ssekit::client_error& e) {
    std::cerr << ssekit::client_error_reason_name(e.reason) << ' ' << e.status << ": " << e.message
              << (e.will_reconnect ? " (reconnecting)" : "") << '\n';
    if (!e.will_reconnect) client->close();
  };
  handlers.on_end = [&](const ssekit::response_info&) { std::cerr << "the stream ended\n"; };

  try {
    client.emplace(io.get_executor(), options, handlers);
  } catch (const ssekit::client_options_error& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
  io.run();
  // A token fetch may still be running: its done() posts to the io_context,
  // which must outlive it.
  for (auto& w : workers) w.join();
  return status;
}

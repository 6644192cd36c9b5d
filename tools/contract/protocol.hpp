// The contract-test protocol as pure functions (no sockets, no I/O): the
// harness's JSON commands -> client options, and the client's events,
// comments and errors -> the JSON messages posted back (README.md,
// "Callbacks"). The service (contract_service.cpp) and the callback poster
// (callback_poster.cpp) do the HTTP; tests/native/contract_protocol_test.cpp
// tests this directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ssekit/client.hpp"

namespace ssekit::contract {

// What GET / declares, in that order.
const std::vector<std::string>& capabilities();
// GET /'s JSON body: {"name": ..., "capabilities": [...]}.
std::string status_body();

// http://host[:port][/path]: the callback base URL. Callback n goes to
// path + "/" + n, so a query or fragment is refused.
struct http_target {
  std::string host;
  std::string port = "80";
  std::string authority;  // the Host header
  std::string path;       // without a trailing '/'
};
std::optional<http_target> parse_http_url(std::string_view text);

// POST / (create a stream entity): its parameters.
struct stream_params {
  std::string tag;
  http_target callback;
  client_options options;
};
// Fills `out` from the POST / body; "" or what is wrong with it.
std::string parse_stream_params(std::string_view body, stream_params& out);

// POST /streams/N: the command's name, or nullopt if the body is not a
// JSON object with a "command" string.
std::optional<std::string> command_name(std::string_view body);

// The N of "/streams/N" (at most 18 digits), or nullopt.
std::optional<std::uint64_t> stream_id(std::string_view path);
inline constexpr std::string_view streams_prefix = "/streams/";

// The callback messages.
std::string event_message(const event& ev);
std::string comment_message(std::string_view text);
std::string error_text(const client_error& error);  // for the log too
std::string error_message(const client_error& error);

}  // namespace ssekit::contract

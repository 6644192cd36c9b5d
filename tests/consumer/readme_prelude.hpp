// What the README's C++ snippets take as given (readme_snippets.awk): the
// standard headers, and names that stand for the reader's own code. No
// Boost or ssekit header: a snippet includes those itself, or its reader
// could not compile it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// "for (std::string_view chunk : chunks_from_the_network)"
inline std::vector<std::string_view> chunks_from_the_network;

// The token-refresh snippet's token source: "cached_token()" and an
// asynchronous "token_service.async_get(callback)".
inline std::string cached_token() { return "token"; }
struct readme_token_service {
  void async_get(std::function<void(std::optional<std::string>)> callback) { callback(std::string("token")); }
};
inline readme_token_service token_service;

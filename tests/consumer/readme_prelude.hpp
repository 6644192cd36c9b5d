// What the README's C++ snippets take as given (readme_snippets.awk).
#pragma once

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

// "for (std::string_view chunk : chunks_from_the_network)"
inline std::vector<std::string_view> chunks_from_the_network;

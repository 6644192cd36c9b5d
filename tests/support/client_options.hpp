// Client options for loopback tests: reconnects in milliseconds (the default
// 250 ms backoff floor would slow the reconnect tests) and a bounded connect.
#pragma once

#include <chrono>
#include <string>

#include "ssekit/client.hpp"

namespace ssekit::testing {

// How long a loopback test may run before it counts as hung. The tests end
// on events, never on this; it is long because a busy CI machine running
// sanitizer builds can take many seconds for a hundred reconnects.
inline constexpr std::chrono::seconds hang_limit{60};

inline ssekit::client_options options_for(const std::string& url) {
  using namespace std::chrono_literals;
  ssekit::client_options o;
  o.url = url;
  o.reconnection_time = 5ms;
  o.backoff.min_delay = 1ms;
  o.connect_timeout = 5s;
  return o;
}

}  // namespace ssekit::testing

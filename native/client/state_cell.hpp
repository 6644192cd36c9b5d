// The client's state as state() reads it from any thread. The strand moves
// it between connecting and open (and to closed when the client ends for
// good); close() sets closed from any thread. closed is final: a strand's
// change that loses a race with close() must not write over it. (A check
// and then a store did, when close() ran between the two: state() said
// open for good after close() had returned; a helper's TSan probe found
// it, with a sleep in that window.)
#pragma once

#include <atomic>

#include "ssekit/client.hpp"

namespace ssekit::detail {

class state_cell {
 public:
  client_state load() const noexcept { return state_.load(); }
  void close() noexcept { state_.store(client_state::closed); }

  // Moves to `s` unless the state is closed or already `s`; true when it
  // moved. `between` runs after each read of the state, before the write
  // (tests put a close() there; the client passes nothing).
  template <class Between>
  bool move_to(client_state s, Between&& between) noexcept {
    client_state current = state_.load();
    do {
      if (current == client_state::closed || current == s) return false;
      between();
    } while (!state_.compare_exchange_weak(current, s));
    return true;
  }
  bool move_to(client_state s) noexcept {
    return move_to(s, [] {});
  }

 private:
  std::atomic<client_state> state_{client_state::connecting};
};

}  // namespace ssekit::detail

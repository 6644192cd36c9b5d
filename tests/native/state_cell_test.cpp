// The client's state cell (native/client/state_cell.hpp): closed is final,
// even when close() comes between the strand's read and its write.
#include "state_cell.hpp"

#include <gtest/gtest.h>

namespace {

using ssekit::client_state;
using ssekit::detail::state_cell;

TEST(StateCell, MovesBetweenConnectingAndOpen) {
  state_cell s;
  EXPECT_EQ(s.load(), client_state::connecting);
  EXPECT_FALSE(s.move_to(client_state::connecting));  // no change, no on_state
  EXPECT_TRUE(s.move_to(client_state::open));
  EXPECT_EQ(s.load(), client_state::open);
  EXPECT_TRUE(s.move_to(client_state::connecting));
  EXPECT_TRUE(s.move_to(client_state::closed));  // closed for good by the strand
  EXPECT_FALSE(s.move_to(client_state::open));
  EXPECT_EQ(s.load(), client_state::closed);
}

// The race a check and then a store lost: close() from another thread
// after the strand saw `connecting` and before it wrote `open`. state()
// then said open for good after close() had returned.
TEST(StateCell, CloseBetweenTheReadAndTheWriteStaysClosed) {
  for (const client_state from : {client_state::connecting, client_state::open}) {
    state_cell s;
    if (from == client_state::open) {
      ASSERT_TRUE(s.move_to(client_state::open));
    }
    const client_state to = from == client_state::open ? client_state::connecting : client_state::open;
    int reads = 0;
    EXPECT_FALSE(s.move_to(to, [&] {
      ++reads;
      s.close();
    }));
    EXPECT_EQ(s.load(), client_state::closed);
    EXPECT_EQ(reads, 1);  // read again after the failed write, closed: no second try
  }
}

}  // namespace

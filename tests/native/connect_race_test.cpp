// connect_race.hpp: a name's addresses tried as RFC 8305 section 5 says,
// on loopback. A first address that drops SYNs must not keep the attempt
// from the next one (Asio's range connect waited on it for minutes).
#include "connect_race.hpp"

#include "support/dropping_port.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <optional>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ssekit::detail::connect_race;
using ssekit::detail::interleave_families;
using ssekit::testing::dropping_port;
using namespace std::chrono_literals;

tcp::endpoint v4(unsigned short port) { return {asio::ip::make_address("127.0.0.1"), port}; }
tcp::endpoint v6(unsigned short port) { return {asio::ip::make_address("::1"), port}; }

struct outcome {
  int calls = 0;
  boost::system::error_code ec;
  std::optional<tcp::endpoint> remote;
};

connect_race::handler_type recorder(outcome& out) {
  return [&out](boost::system::error_code ec, tcp::socket socket) {
    ++out.calls;
    out.ec = ec;
    boost::system::error_code ignored;
    if (!ec) out.remote = socket.remote_endpoint(ignored);
  };
}

// Runs until the race's handler ran, within a deadline that only guards
// against a hang (the outcome is what is checked).
void run_until(asio::io_context& io, const outcome& out) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (out.calls == 0 && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
  io.poll();  // what the race left to complete (cancelled attempts)
}

TEST(ConnectRace, FamiliesAlternateFromTheFirstAnswersOn) {
  const std::vector<tcp::endpoint> answers = {v6(1), v6(2), v6(3), v4(4), v4(5)};
  EXPECT_EQ(interleave_families(answers), (std::vector<tcp::endpoint>{v6(1), v4(4), v6(2), v4(5), v6(3)}));
  const std::vector<tcp::endpoint> v4_first = {v4(1), v6(2), v6(3)};
  EXPECT_EQ(interleave_families(v4_first), (std::vector<tcp::endpoint>{v4(1), v6(2), v6(3)}));
  EXPECT_TRUE(interleave_families(std::vector<tcp::endpoint>{}).empty());
}

// The case the helper's probe found: "localhost" or a dual-stack name whose
// first address drops SYNs. The second address is tried after the attempt
// delay while the first still waits, and wins.
TEST(ConnectRace, AnAddressThatDropsSynsDoesNotHoldUpTheNext) {
  asio::io_context io;
  dropping_port dead(io);
  ASSERT_NE(dead.port(), 0);
  ASSERT_GE(dead.queued(), 1u) << "the listener's accept queue did not fill";
  tcp::acceptor alive(io, v4(0));
  // A lone connect to the dropping port, to show it still waits when the
  // race has ended (so the race did not win by that port refusing).
  tcp::socket probe(io);
  bool probe_done = false;
  probe.async_connect(v4(dead.port()), [&](boost::system::error_code) { probe_done = true; });

  outcome out;
  auto race = connect_race::start(io.get_executor(), {v4(dead.port()), alive.local_endpoint()}, recorder(out), 50ms);
  run_until(io, out);
  EXPECT_EQ(out.calls, 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(out.remote, alive.local_endpoint());
  EXPECT_FALSE(probe_done) << "the dropping port answered: this test shows nothing";
  probe.close();
  io.poll();
}

TEST(ConnectRace, ARefusedAddressStartsTheNextAtOnce) {
  asio::io_context io;
  tcp::acceptor alive(io, v4(0));
  tcp::endpoint refused;
  {
    tcp::acceptor closed(io, v4(0));
    refused = closed.local_endpoint();
  }
  outcome out;
  // A delay far beyond the test's deadline: only the refusal can start the
  // second attempt.
  auto race = connect_race::start(io.get_executor(), {refused, alive.local_endpoint()}, recorder(out), std::chrono::hours(1));
  run_until(io, out);
  EXPECT_EQ(out.calls, 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(out.remote, alive.local_endpoint());
}

TEST(ConnectRace, EveryAddressRefusedReportsTheRefusal) {
  asio::io_context io;
  std::vector<tcp::endpoint> refused;
  for (int i = 0; i < 3; ++i) {
    tcp::acceptor closed(io, v4(0));
    refused.push_back(closed.local_endpoint());
  }
  outcome out;
  auto race = connect_race::start(io.get_executor(), refused, recorder(out), 10ms);
  run_until(io, out);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.ec, asio::error::connection_refused);
}

TEST(ConnectRace, CancelEndsEveryAttemptAndCallsTheHandlerOnce) {
  asio::io_context io;
  dropping_port dead(io);
  ASSERT_GE(dead.queued(), 1u);
  outcome out;
  // Two attempts in flight (the delay passed), and one not started.
  auto race = connect_race::start(io.get_executor(), {v4(dead.port()), v4(dead.port()), v4(dead.port())}, recorder(out), 20ms);
  asio::steady_timer later(io, 100ms);
  later.async_wait([&](boost::system::error_code) { race->cancel(); });
  run_until(io, out);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.ec, asio::error::operation_aborted);
  race->cancel();  // again, after the end: nothing happens
  io.restart();
  io.poll();
  EXPECT_EQ(out.calls, 1);
}

// cancel(reason): the handler gets that reason (the contract service's
// poster cancels with a timeout), not the aborted attempts' own error
// (mutation testing: reporting operation_aborted survived).
TEST(ConnectRace, CancelWithAReasonReportsThatReason) {
  asio::io_context io;
  dropping_port dead(io);
  ASSERT_GE(dead.queued(), 1u);
  outcome out;
  auto race = connect_race::start(io.get_executor(), {v4(dead.port())}, recorder(out));
  asio::post(io, [&] { race->cancel(asio::error::timed_out); });
  run_until(io, out);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.ec, asio::error::timed_out);
}

// A race still waiting when its io_context goes is freed with the
// io_context's handlers, and its handler with it: the race's owner (the
// client's transport) keeps only a weak_ptr, as the handler holds it.
TEST(ConnectRace, APendingRaceGoesWithItsIoContext) {
  std::weak_ptr<connect_race> race;
  auto held = std::make_shared<int>(0);
  const std::weak_ptr<int> held_by_handler = held;
  {
    asio::io_context io;
    dropping_port dead(io);
    ASSERT_GE(dead.queued(), 1u);
    race = connect_race::start(io.get_executor(), {v4(dead.port())}, [held](boost::system::error_code, tcp::socket) {});
    held.reset();
    io.poll();
    EXPECT_FALSE(race.expired());
  }
  EXPECT_TRUE(race.expired());
  EXPECT_TRUE(held_by_handler.expired());
}

// The handler never runs inside start() or cancel() (the transport's
// callers are not reentrant).
TEST(ConnectRace, TheHandlerNeverRunsInsideTheCall) {
  asio::io_context io;
  outcome none;
  auto empty = connect_race::start(io.get_executor(), {}, recorder(none));
  EXPECT_EQ(none.calls, 0);
  run_until(io, none);
  EXPECT_EQ(none.calls, 1);
  EXPECT_EQ(none.ec, asio::error::host_not_found);

  tcp::acceptor alive(io, v4(0));
  outcome cancelled;
  io.restart();
  auto race = connect_race::start(io.get_executor(), {alive.local_endpoint()}, recorder(cancelled));
  race->cancel();
  EXPECT_EQ(cancelled.calls, 0);
  run_until(io, cancelled);
  EXPECT_EQ(cancelled.calls, 1);
  EXPECT_EQ(cancelled.ec, asio::error::operation_aborted);
}

}  // namespace

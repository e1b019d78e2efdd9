// The simulator's discrete-event loop: virtual time, (time, sequence) order, cancellation, post().
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "sim/event_loop.h"

namespace revive::sim {
namespace {

TEST(SimEventLoop, RunsCallbacksInTimeThenScheduleOrder) {
  SimEventLoop loop;
  std::vector<int> order;
  loop.schedule_after(2.0, [&] { order.push_back(3); });
  loop.schedule_after(1.0, [&] { order.push_back(1); });
  loop.schedule_after(1.0, [&] { order.push_back(2); });
  loop.post([&] { order.push_back(0); });
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_DOUBLE_EQ(loop.now_s(), 2.0);
  EXPECT_TRUE(loop.empty());
}

TEST(SimEventLoop, CallbacksSeeTheirOwnTimeAndCanScheduleMore) {
  SimEventLoop loop;
  std::vector<double> seen;
  loop.schedule_after(5.0, [&] {
    seen.push_back(loop.now_s());
    loop.schedule_after(2.5, [&] { seen.push_back(loop.now_s()); });
    loop.post([&] { seen.push_back(loop.now_s()); });
  });
  loop.run();
  EXPECT_EQ(seen, (std::vector<double>{5.0, 5.0, 7.5}));
}

TEST(SimEventLoop, CancelledTimersNeverRun) {
  SimEventLoop loop;
  int ran = 0;
  auto first = loop.schedule_after(1.0, [&] { ran += 1; });
  loop.schedule_after(2.0, [&] { ran += 10; });
  loop.cancel(first);
  loop.cancel(first);  // twice is fine
  loop.run();
  EXPECT_EQ(ran, 10);
  loop.cancel(12345);  // unknown: a no-op
}

TEST(SimEventLoop, RunUntilStopsBeforeLaterCallbacks) {
  SimEventLoop loop;
  int ran = 0;
  loop.schedule_after(1.0, [&] { ++ran; });
  loop.schedule_after(10.0, [&] { ++ran; });
  EXPECT_EQ(loop.run(5.0), 1u);
  EXPECT_EQ(ran, 1);
  EXPECT_FALSE(loop.empty());
  loop.run();
  EXPECT_EQ(ran, 2);
}

TEST(SimEventLoop, PostFromAnotherThreadIsDelivered) {
  SimEventLoop loop;
  int ran = 0;
  std::thread driver([&] { loop.post([&] { ++ran; }); });
  driver.join();
  loop.run();
  EXPECT_EQ(ran, 1);
}

TEST(SimEventLoop, RejectsNegativeDelays) {
  SimEventLoop loop;
  EXPECT_THROW(loop.schedule_after(-1.0, [] {}), std::invalid_argument);
}

}  // namespace
}  // namespace revive::sim

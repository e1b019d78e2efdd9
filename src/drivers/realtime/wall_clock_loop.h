// WallClockLoop: the env::EventLoop of real life, on the steady clock. The engine runs inside run_for() /
// run_until() on one thread; drivers' worker threads hand results back with post(), the one thread-safe call
// (it wakes the loop). now_s() counts from the loop's construction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_set>
#include <vector>

#include "env/event_loop.h"

namespace revive::drivers {

class WallClockLoop final : public env::EventLoop {
 public:
  WallClockLoop();
  double now_s() const override;
  env::TimerId schedule_after(double delay_s, env::Callback callback) override;
  void cancel(env::TimerId timer) override;
  void post(env::Callback callback) override;

  // Runs callbacks as they come due for `duration_s` seconds of real time.
  void run_for(double duration_s);
  // Runs callbacks until `done()` holds (checked after each callback) or `timeout_s` passes; returns done().
  bool run_until(const std::function<bool()>& done, double timeout_s);
  // Makes a running run_for()/run_until() return soon. Thread-safe.
  void stop();

 private:
  struct Entry {
    double at_s;
    std::uint64_t sequence;
    env::TimerId id;
    env::Callback callback;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.at_s != b.at_s ? a.at_s > b.at_s : a.sequence > b.sequence;
    }
  };
  bool run_once(double until_s, const std::function<bool()>& done);

  std::chrono::steady_clock::time_point epoch_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<Entry, std::vector<Entry>, Later> timers_;
  std::unordered_set<env::TimerId> cancelled_;
  std::uint64_t sequence_ = 0;
  env::TimerId next_id_ = 1;
  bool stop_ = false;
};

}  // namespace revive::drivers

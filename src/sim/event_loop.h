// The simulator's EventLoop: a deterministic discrete-event loop on a virtual clock. Callbacks run in order
// of (due time, sequence number): two callbacks due at the same instant run in the order they were scheduled,
// and post() is schedule_after(0). Time only moves when run() takes the next callback. post() is thread-safe
// (drivers may call it from their own threads); everything else is for the thread that calls run().
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <queue>
#include <unordered_set>
#include <vector>

#include "env/event_loop.h"

namespace revive::sim {

class SimEventLoop final : public env::EventLoop {
 public:
  double now_s() const override { return now_s_; }
  env::TimerId schedule_after(double delay_s, env::Callback callback) override;
  void cancel(env::TimerId timer) override;
  void post(env::Callback callback) override;

  // Schedules at an absolute virtual time (>= now).
  env::TimerId schedule_at(double time_s, env::Callback callback);
  // Runs callbacks until none is left or the next is due after `until_s`; returns the number run.
  std::uint64_t run(double until_s = kForever);
  // Runs the next due callback, if any; false when there is none.
  bool run_one();
  bool empty() const { return pending_.empty() && !has_posted_.load(); }
  std::uint64_t callbacks_run() const { return callbacks_run_; }

  static constexpr double kForever = 1e300;

 private:
  struct Entry {
    double time_s;
    std::uint64_t sequence;
    env::Callback callback;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.time_s != b.time_s ? a.time_s > b.time_s : a.sequence > b.sequence;
    }
  };
  void drain_posted();

  double now_s_ = 0.0;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t callbacks_run_ = 0;
  std::priority_queue<Entry, std::vector<Entry>, Later> queue_;
  std::unordered_set<env::TimerId>
      pending_;  // scheduled, neither run nor cancelled (others in queue_ are skipped)
  std::mutex posted_mutex_;
  std::vector<env::Callback> posted_;
  std::atomic<bool> has_posted_{false};  // from other threads, moved into queue_ in arrival order
};

}  // namespace revive::sim

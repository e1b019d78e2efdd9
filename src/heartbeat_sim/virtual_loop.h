// VirtualLoop: a deterministic discrete-event env::EventLoop on a virtual clock, for the detector's simulated
// tests and benchmarks. Callbacks due at the same instant run in the order they were scheduled; post() is
// schedule_after(0). Time advances only inside run_until()/run(). Thread-safety: post() may be called from
// any thread (a mutex guards the queue); everything else from the thread that runs the loop.
#pragma once

#include <cstdint>
#include <mutex>
#include <queue>
#include <unordered_set>
#include <vector>

#include "env/event_loop.h"

namespace revive::heartbeat_sim {

class VirtualLoop final : public env::EventLoop {
 public:
  double now_s() const override { return now_s_; }
  env::TimerId schedule_after(double delay_s, env::Callback callback) override;
  void cancel(env::TimerId timer) override;
  void post(env::Callback callback) override;

  // Runs every callback due up to `until_s` (inclusive), then sets the clock to until_s.
  void run_until(double until_s);
  // Runs until nothing is scheduled or `max_events` ran; returns the number run.
  std::uint64_t run(std::uint64_t max_events = UINT64_MAX);
  // Scheduled entries, cancelled ones included until their time comes.
  std::size_t pending() const;

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
  bool pop_due(double until_s, Entry& out);

  mutable std::mutex mutex_;
  double now_s_ = 0.0;
  std::uint64_t sequence_ = 0;
  env::TimerId next_id_ = 1;
  std::priority_queue<Entry, std::vector<Entry>, Later> queue_;
  std::unordered_set<env::TimerId> cancelled_;
};

}  // namespace revive::heartbeat_sim

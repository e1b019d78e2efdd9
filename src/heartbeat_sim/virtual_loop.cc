#include "heartbeat_sim/virtual_loop.h"

#include <algorithm>
#include <limits>

namespace revive::heartbeat_sim {

env::TimerId VirtualLoop::schedule_after(double delay_s, env::Callback callback) {
  std::lock_guard lock(mutex_);
  env::TimerId id = next_id_++;
  queue_.push(Entry{now_s_ + std::max(0.0, delay_s), sequence_++, id, std::move(callback)});
  return id;
}

void VirtualLoop::cancel(env::TimerId timer) {
  std::lock_guard lock(mutex_);
  // Cancelling a timer that already ran leaves a stale id behind; callers rarely do it.
  if (timer != 0 && timer < next_id_) cancelled_.insert(timer);
}

void VirtualLoop::post(env::Callback callback) {
  schedule_after(0.0, std::move(callback));
}

bool VirtualLoop::pop_due(double until_s, Entry& out) {
  std::lock_guard lock(mutex_);
  while (!queue_.empty()) {
    const Entry& top = queue_.top();
    if (top.at_s > until_s) return false;
    Entry entry = std::move(const_cast<Entry&>(top));
    queue_.pop();
    if (!cancelled_.empty() && cancelled_.erase(entry.id) > 0) continue;
    now_s_ = std::max(now_s_, entry.at_s);
    out = std::move(entry);
    return true;
  }
  return false;
}

void VirtualLoop::run_until(double until_s) {
  Entry entry;
  while (pop_due(until_s, entry)) entry.callback();
  std::lock_guard lock(mutex_);
  now_s_ = std::max(now_s_, until_s);
}

std::uint64_t VirtualLoop::run(std::uint64_t max_events) {
  std::uint64_t count = 0;
  Entry entry;
  while (count < max_events && pop_due(std::numeric_limits<double>::infinity(), entry)) {
    entry.callback();
    ++count;
  }
  return count;
}

std::size_t VirtualLoop::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace revive::heartbeat_sim

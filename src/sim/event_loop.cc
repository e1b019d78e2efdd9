#include "sim/event_loop.h"

#include <stdexcept>

namespace revive::sim {

env::TimerId SimEventLoop::schedule_after(double delay_s, env::Callback callback) {
  if (!(delay_s >= 0.0)) throw std::invalid_argument("SimEventLoop: negative or NaN delay");
  return schedule_at(now_s_ + delay_s, std::move(callback));
}

env::TimerId SimEventLoop::schedule_at(double time_s, env::Callback callback) {
  if (!(time_s >= now_s_)) throw std::invalid_argument("SimEventLoop: time in the past");
  auto id = next_sequence_++;
  queue_.push(Entry{time_s, id, std::move(callback)});
  pending_.insert(id);
  return id;
}

void SimEventLoop::cancel(env::TimerId timer) {
  pending_.erase(timer);
}

void SimEventLoop::post(env::Callback callback) {
  std::lock_guard lock(posted_mutex_);
  posted_.push_back(std::move(callback));
  has_posted_.store(true, std::memory_order_release);
}

void SimEventLoop::drain_posted() {
  if (!has_posted_.load(std::memory_order_acquire)) return;
  std::vector<env::Callback> posted;
  {
    std::lock_guard lock(posted_mutex_);
    posted.swap(posted_);
    has_posted_.store(false, std::memory_order_release);
  }
  for (auto& callback : posted) schedule_at(now_s_, std::move(callback));
}

bool SimEventLoop::run_one() {
  drain_posted();
  while (!queue_.empty()) {
    // The queue's top is const; the callback is moved out through a const_cast, which is safe because the
    // entry is popped right after and its ordering fields are untouched.
    auto& top = const_cast<Entry&>(queue_.top());
    auto sequence = top.sequence;
    if (pending_.erase(sequence) == 0) {  // cancelled
      queue_.pop();
      continue;
    }
    now_s_ = top.time_s;
    auto callback = std::move(top.callback);
    queue_.pop();
    ++callbacks_run_;
    callback();
    return true;
  }
  return false;
}

std::uint64_t SimEventLoop::run(double until_s) {
  std::uint64_t count = 0;
  while (true) {
    drain_posted();
    // Skip cancelled entries to see the real next due time.
    while (!queue_.empty() && pending_.count(queue_.top().sequence) == 0) queue_.pop();
    if (queue_.empty() || queue_.top().time_s > until_s) break;
    run_one();
    ++count;
  }
  return count;
}

}  // namespace revive::sim

#include "drivers/realtime/wall_clock_loop.h"

#include <algorithm>

namespace revive::drivers {

WallClockLoop::WallClockLoop() : epoch_(std::chrono::steady_clock::now()) {}

double WallClockLoop::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
}

env::TimerId WallClockLoop::schedule_after(double delay_s, env::Callback callback) {
  double at = now_s() + std::max(0.0, delay_s);
  std::lock_guard lock(mutex_);
  env::TimerId id = next_id_++;
  timers_.push(Entry{at, sequence_++, id, std::move(callback)});
  wake_.notify_all();
  return id;
}

void WallClockLoop::cancel(env::TimerId timer) {
  std::lock_guard lock(mutex_);
  if (timer != 0 && timer < next_id_) cancelled_.insert(timer);
}

void WallClockLoop::post(env::Callback callback) {
  schedule_after(0.0, std::move(callback));
}

void WallClockLoop::stop() {
  std::lock_guard lock(mutex_);
  stop_ = true;
  wake_.notify_all();
}

bool WallClockLoop::run_once(double until_s, const std::function<bool()>& done) {
  Entry entry;
  {
    std::unique_lock lock(mutex_);
    while (true) {
      if (stop_) return false;
      double now = now_s();
      if (!timers_.empty() && timers_.top().at_s <= now) break;
      if (now >= until_s) return false;
      double next = timers_.empty() ? until_s : std::min(until_s, timers_.top().at_s);
      wake_.wait_for(lock, std::chrono::duration<double>(next - now));
    }
    entry = std::move(const_cast<Entry&>(timers_.top()));
    timers_.pop();
    if (cancelled_.erase(entry.id) > 0) return true;
  }
  entry.callback();
  return !(done && done());
}

void WallClockLoop::run_for(double duration_s) {
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  double until = now_s() + duration_s;
  while (run_once(until, nullptr)) {
  }
}

bool WallClockLoop::run_until(const std::function<bool()>& done, double timeout_s) {
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  if (done()) return true;
  double until = now_s() + timeout_s;
  while (run_once(until, done)) {
  }
  return done();
}

}  // namespace revive::drivers

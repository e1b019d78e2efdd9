// The engine's clock and work queue. The engine (planner, executor, detector) is single-threaded: it runs
// only inside callbacks delivered by an EventLoop, so it needs no locks. Drivers that block (libvirt,
// ipmitool) run their calls on their own threads and hand results back with post(), which is the one
// thread-safe entry point.
//
// Two implementations: the simulator's discrete-event loop on a virtual clock (deterministic: callbacks due
// at the same instant run in the order they were scheduled) and, later, a wall-clock loop for the daemon.
#pragma once

#include <cstdint>
#include <functional>

namespace revive::env {

using TimerId = std::uint64_t;
using Callback = std::function<void()>;

class EventLoop {
 public:
  EventLoop() = default;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  virtual ~EventLoop() = default;

  // Seconds since the loop's epoch (the first event of a simulation; the daemon's start in real life).
  virtual double now_s() const = 0;
  // Runs `callback` on the loop after `delay_s` seconds (>= 0). Engine thread only.
  virtual TimerId schedule_after(double delay_s, Callback callback) = 0;
  // Cancels a pending timer; a no-op if it already ran or was cancelled. Engine thread only.
  virtual void cancel(TimerId timer) = 0;
  // Runs `callback` on the loop as soon as possible. Thread-safe: drivers call it from their own threads.
  virtual void post(Callback callback) = 0;
};

}  // namespace revive::env

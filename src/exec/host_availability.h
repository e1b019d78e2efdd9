// Which hosts may receive VMs now: one view of the hosts shared by the engines that act on a cloud (the
// recovery executor, the evacuation engine) and by whoever watches the hosts (the failure detector).
//
// A host is available unless it is being drained (the evacuation engine puts it into maintenance, for
// maintenance or a predicted failure) or the failure detector does not regard it as up (suspect, isolated,
// failed, being fenced...). Each reason is set and cleared by its owner alone: `draining` by the evacuation
// engine, `not_up` by the detector. The executor plans no restart onto an unavailable host and replans the
// VMs planned there whose start has not begun; it takes the host back as a target once it is available again.
//
// The view also records fences confirmed (by the executor, or by the detector's fence chain): a host whose
// fence is confirmed is off, so the calls in flight on it will never answer and every engine may release
// their slots; an executor that is told a confirmed-fenced host failed does not fence it a second time. A
// fence is proof for one loss of the host only: it ends when the detector clears `not_up` (the host is up
// again), so a later loss needs a fence of its own.
//
// Listeners are told of every change (availability of a host changed, or a fence was confirmed)
// synchronously: they must only take note and post their work on the loop, never change the view from inside
// the call. Threading: not thread-safe, needs no lock: everything runs on one event loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/cloud.h"

namespace revive::exec {

class HostAvailability {
 public:
  enum class Reason : std::uint8_t { draining = 1, not_up = 2 };
  enum class Change : std::uint8_t { unavailable, available, fenced };
  using ListenerId = std::uint32_t;

  explicit HostAvailability(std::size_t host_count) : reasons_(host_count, 0), fenced_(host_count, 0) {}
  HostAvailability(const HostAvailability&) = delete;
  HostAvailability& operator=(const HostAvailability&) = delete;

  std::size_t host_count() const { return reasons_.size(); }
  // Whether `host` may receive VMs now (no reason set). Throws std::out_of_range for an unknown host.
  bool available(model::HostIndex host) const { return reasons_.at(host) == 0; }
  bool has(model::HostIndex host, Reason reason) const {
    return (reasons_.at(host) & static_cast<std::uint8_t>(reason)) != 0;
  }
  // Sets or clears one reason; listeners hear of it when the host's availability changes.
  void set(model::HostIndex host, Reason reason, bool on);

  // The host's fence is confirmed (it is off); listeners hear of it once.
  void confirm_fenced(model::HostIndex host);
  bool fenced(model::HostIndex host) const { return fenced_.at(host) != 0; }

  ListenerId add_listener(std::function<void(model::HostIndex, Change)> listener);
  void remove_listener(ListenerId listener);

 private:
  void tell(model::HostIndex host, Change change);

  std::vector<std::uint8_t> reasons_;
  std::vector<std::uint8_t> fenced_;
  std::vector<std::function<void(model::HostIndex, Change)>> listeners_;  // by id; empty once removed
};

}  // namespace revive::exec

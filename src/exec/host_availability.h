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
// Room planned and not yet used (one shared capacity view): each engine placing VMs (the executor's restarts,
// the evacuation engine's moves) plans on its own view of the cloud, where a VM counts on the host it runs on
// or its own planned target. A VM the *other* engine has planned onto a host counts there in that engine's
// view only, from its plan until the VM lands (the executor's start answered ok and reported, the
// evacuation engine's switch-over or cold stop done -- from then on the other view follows, on_vm_moved and
// on_vm_recovered) or the move ends otherwise (failed, cancelled, replanned). So every engine registers a
// `Reservations` enumerator of its planned, not yet landed placements (vm, target), computed from its own
// state at the moment of asking (nothing to release by hand: a step that fails or is cancelled ends its
// reservation with it), and plans with `ReservedRoom` on: every host's capacity less what the others have
// reserved there for VMs its own view does not already count there. An engine whose reservation ends without
// the VM landing calls room_released, so that the others plan their waiting VMs again.
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
  enum class Change : std::uint8_t { unavailable, available, fenced, room_released };
  using ListenerId = std::uint32_t;
  // Calls `each(vm, host)` for every placement the engine has planned and not yet landed.
  using Reservations = std::function<void(const std::function<void(model::VmIndex, model::HostIndex)>& each)>;
  using PlannerId = std::uint32_t;

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

  // ---- room planned and not yet used ----
  // Registers an engine's enumerator of its reservations; returns the id it plans with.
  PlannerId add_planner(Reservations reservations);
  void remove_planner(PlannerId planner);
  // Calls `each(vm, host)` for every reservation of every planner but `me`.
  void for_each_reserved_by_others(PlannerId me,
                                   const std::function<void(model::VmIndex, model::HostIndex)>& each) const;
  // A reservation of an engine on `host` ended without its VM landing there: listeners hear of
  // Change::room_released (VMs left waiting may fit).
  void room_released(model::HostIndex host) { tell(host, Change::room_released); }

 private:
  void tell(model::HostIndex host, Change change);

  std::vector<std::uint8_t> reasons_;
  std::vector<std::uint8_t> fenced_;
  std::vector<std::function<void(model::HostIndex, Change)>> listeners_;  // by id; empty once removed
  std::vector<Reservations> planners_;                                    // by id; empty once removed
};

// While it lives, `view` (an engine's own view of the cloud, handed to the planner) has every host's capacity
// lowered by the room held there by VMs `view` does not already count on that host: the room the other
// planners of `availability` have reserved there, and every host of a VM's set in `copies` (vm_copies.h: a
// copy may run there -- a migration or start unanswered, a copy seen there -- so it may take that room),
// each VM counted once per host, rounded up after overcommit (never more room than there is). The
// destructor gives the capacities back. Null `availability` and `copies` change nothing.
class VmCopies;
class ReservedRoom {
 public:
  ReservedRoom(model::Cloud& view, const HostAvailability* availability, HostAvailability::PlannerId me,
               const VmCopies* copies);
  ~ReservedRoom();
  ReservedRoom(const ReservedRoom&) = delete;
  ReservedRoom& operator=(const ReservedRoom&) = delete;
  // How many hosts have their capacity lowered.
  std::size_t hosts_lowered() const { return saved_.size(); }

 private:
  struct Saved {
    model::HostIndex host;
    std::uint32_t cpus;
    std::uint64_t memory_mib;
  };
  model::Cloud& view_;
  std::vector<Saved> saved_;
};

}  // namespace revive::exec

// One account of the slots of every limited resource scope of a cloud, shared by the engines that act on it
// (the recovery executor and the evacuation engine), so that together they never exceed a limit.
//
// Scopes and their capacities (at least 1 each): every storage array (max_parallel map/unmap operations),
// every switch (max_parallel net_config), every management endpoint (max_parallel VM starts, stops and live
// migrations through it; a migration is one operation at its source's endpoint and one at its target's),
// every host's VM starts (policy host_max_parallel_restarts), the fences in flight across the cloud (policy
// fence_max_parallel), and, when one is set, the controller's global limit (every operation but fences: a
// fence is never queued behind restarts). Scope ids are dense: arrays, then switches, endpoints, hosts, the
// fence scope, and the global scope last; an engine may index its own per-scope tables by them.
//
// try_acquire takes a set of scopes atomically (all or none); release gives them back and tells every other
// engine (listener) which scopes were released, so that it dispatches its waiting steps.
//
// Who gets released capacity first: every listener has a rank, the lower the more urgent. Recovery of failed
// hosts ranks first (kRecoveryRank), evacuation after it (kEvacuationRank; its cold moves of a predicted
// failure are urgent too, but a VM that is down already comes first). A listener is refused a slot that a
// more urgent listener `wants` (it has a step ready to take it, or holds it back for its critical steps),
// and the other listeners are told of a release in rank order; so released capacity goes to the more urgent
// engine at its next dispatch and to the others only when it wants no more.
//
// Threading: not thread-safe, and needs no lock: the engines sharing a ledger are single-threaded on one
// event loop; call everything on that loop's thread. Listeners are called synchronously from release() and
// notify(): they must only take note (mark, post their dispatch on the loop), never acquire or release from
// inside the call.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

#include "model/cloud.h"

namespace revive::exec {

using ScopeId = std::uint32_t;
inline constexpr ScopeId kNoScope = std::numeric_limits<ScopeId>::max();

// The scopes one operation holds (at most four: its resource, its host's starts, the global limit).
class ScopeSet {
 public:
  // Adds `scope`; kNoScope (a resource without a limit) is ignored.
  void add(ScopeId scope) {
    if (scope != kNoScope) ids_[size_++] = scope;
  }
  const ScopeId* begin() const { return ids_.data(); }
  const ScopeId* end() const { return ids_.data() + size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::array<ScopeId, 4> ids_{};
  std::uint8_t size_ = 0;
};

class ResourceLedger {
 public:
  using ListenerId = std::uint32_t;
  static constexpr int kRecoveryRank = 0;
  static constexpr int kEvacuationRank = 1;

  // Capacities from `cloud`'s arrays, switches, endpoints and policy; `global_max_parallel` 0: no global
  // scope.
  explicit ResourceLedger(const model::Cloud& cloud, std::uint32_t global_max_parallel = 0);
  ResourceLedger(const ResourceLedger&) = delete;
  ResourceLedger& operator=(const ResourceLedger&) = delete;

  ScopeId array(model::ArrayIndex array) const { return array_base_ + array; }
  ScopeId network_switch(model::SwitchIndex network_switch) const {
    return network_switch == model::kNoIndex ? kNoScope : switch_base_ + network_switch;
  }
  ScopeId endpoint(model::EndpointIndex endpoint) const {
    return endpoint == model::kNoIndex ? kNoScope : endpoint_base_ + endpoint;
  }
  ScopeId host_starts(model::HostIndex host) const { return host_base_ + host; }
  ScopeId fences() const { return host_end_; }
  ScopeId global() const { return global_; }  // kNoScope without a global limit
  bool is_host_starts(ScopeId scope) const { return scope >= host_base_ && scope < host_end_; }
  model::HostIndex host_of(ScopeId scope) const { return scope - host_base_; }  // for host_starts scopes
  std::size_t scope_count() const { return capacity_.size(); }

  std::uint32_t capacity(ScopeId scope) const { return capacity_[scope]; }
  std::uint32_t in_flight(ScopeId scope) const { return in_flight_[scope]; }
  bool has_room(ScopeId scope) const { return in_flight_[scope] < capacity_[scope]; }

  // Registers an engine. `on_released(scopes)`: another listener released (or stopped wanting) `scopes`.
  // `wants(scope)` (may be empty: never holds a slot back): whether this engine would take a free slot of
  // `scope` now. Returns the id to acquire and release with.
  ListenerId add_listener(int rank, std::function<void(std::span<const ScopeId>)> on_released,
                          std::function<bool(ScopeId)> wants = {});
  // The engine is going away: it is told nothing more and holds nothing back.
  void remove_listener(ListenerId listener);

  // Whether every scope of `scopes` has a free slot that no listener more urgent than `who` wants.
  bool can_acquire(const ScopeSet& scopes, ListenerId who) const;
  // Takes a slot of every scope of `scopes` if can_acquire; otherwise takes nothing and returns false.
  bool try_acquire(const ScopeSet& scopes, ListenerId who);
  // Counts operations that run whether or not there is room (a dead controller's calls still in flight,
  // found on resume): a slot of every scope of `scopes`, beyond the capacity if need be (no new operation of
  // these scopes goes until they are back under it). Give them back with release().
  void take(const ScopeSet& scopes);
  // Gives back the slots of `scopes` (taken by `who`) and tells the other listeners.
  void release(const ScopeSet& scopes, ListenerId who);
  // Tells the other listeners that `who` no longer wants slots of `scopes` it wanted (they may take them).
  void notify(const ScopeSet& scopes, ListenerId who);

  // Largest number of operations ever in flight at once in `scope`.
  std::uint32_t peak(ScopeId scope) const { return peak_[scope]; }

 private:
  struct Listener {
    int rank = 0;
    bool active = false;
    std::function<void(std::span<const ScopeId>)> on_released;
    std::function<bool(ScopeId)> wants;
  };

  bool wanted_by_more_urgent(ScopeId scope, ListenerId who) const;

  ScopeId array_base_ = 0, switch_base_ = 0, endpoint_base_ = 0, host_base_ = 0, host_end_ = 0;
  ScopeId global_ = kNoScope;
  std::vector<std::uint32_t> capacity_, in_flight_, peak_;
  std::vector<Listener> listeners_;  // by id
  std::vector<ListenerId> by_rank_;  // active listeners, most urgent first (registration order on ties)
};

}  // namespace revive::exec

#include "exec/resource_ledger.h"

#include <algorithm>
#include <stdexcept>

namespace revive::exec {

ResourceLedger::ResourceLedger(const model::Cloud& cloud, std::uint32_t global_max_parallel) {
  auto count = [](std::size_t n) { return static_cast<ScopeId>(n); };
  array_base_ = 0;
  switch_base_ = array_base_ + count(cloud.arrays.size());
  endpoint_base_ = switch_base_ + count(cloud.switches.size());
  host_base_ = endpoint_base_ + count(cloud.endpoints.size());
  host_end_ = host_base_ + count(cloud.hosts.size());
  capacity_.reserve(host_end_ + 2);
  for (const auto& array : cloud.arrays) capacity_.push_back(array.max_parallel);
  for (const auto& network_switch : cloud.switches) capacity_.push_back(network_switch.max_parallel);
  for (const auto& endpoint : cloud.endpoints) capacity_.push_back(endpoint.max_parallel);
  capacity_.resize(host_end_, cloud.policy.host_max_parallel_restarts);
  capacity_.push_back(cloud.policy.fence_max_parallel);  // fences()
  if (global_max_parallel != 0) {
    global_ = host_end_ + 1;
    capacity_.push_back(global_max_parallel);
  }
  for (auto& capacity : capacity_) capacity = std::max<std::uint32_t>(capacity, 1);
  in_flight_.assign(capacity_.size(), 0);
  peak_.assign(capacity_.size(), 0);
}

ResourceLedger::ListenerId ResourceLedger::add_listener(
    int rank, std::function<void(std::span<const ScopeId>)> on_released, std::function<bool(ScopeId)> wants) {
  auto id = static_cast<ListenerId>(listeners_.size());
  listeners_.push_back({rank, true, std::move(on_released), std::move(wants)});
  by_rank_.push_back(id);
  std::stable_sort(by_rank_.begin(), by_rank_.end(),
                   [this](ListenerId a, ListenerId b) { return listeners_[a].rank < listeners_[b].rank; });
  return id;
}

void ResourceLedger::remove_listener(ListenerId listener) {
  if (listener >= listeners_.size()) return;
  listeners_[listener] = Listener{};
  std::erase(by_rank_, listener);
}

bool ResourceLedger::wanted_by_more_urgent(ScopeId scope, ListenerId who) const {
  int rank = listeners_[who].rank;
  for (auto other : by_rank_) {
    const auto& listener = listeners_[other];
    if (listener.rank >= rank) break;
    if (listener.wants && listener.wants(scope)) return true;
  }
  return false;
}

bool ResourceLedger::can_acquire(const ScopeSet& scopes, ListenerId who) const {
  for (auto scope : scopes) {
    if (in_flight_[scope] >= capacity_[scope]) return false;
  }
  for (auto scope : scopes) {
    if (wanted_by_more_urgent(scope, who)) return false;
  }
  return true;
}

bool ResourceLedger::try_acquire(const ScopeSet& scopes, ListenerId who) {
  if (!can_acquire(scopes, who)) return false;
  for (auto scope : scopes) {
    auto busy = ++in_flight_[scope];
    peak_[scope] = std::max(peak_[scope], busy);
  }
  return true;
}

void ResourceLedger::take(const ScopeSet& scopes) {
  for (auto scope : scopes) {
    auto busy = ++in_flight_[scope];
    peak_[scope] = std::max(peak_[scope], busy);
  }
}

void ResourceLedger::release(const ScopeSet& scopes, ListenerId who) {
  for (auto scope : scopes) {
    if (in_flight_[scope] == 0) throw std::logic_error("ResourceLedger::release: scope not held");
    --in_flight_[scope];
  }
  notify(scopes, who);
}

void ResourceLedger::notify(const ScopeSet& scopes, ListenerId who) {
  if (scopes.empty() || by_rank_.size() < 2) return;
  std::span<const ScopeId> released(scopes.begin(), scopes.end());
  for (auto other : by_rank_) {
    if (other != who && listeners_[other].on_released) listeners_[other].on_released(released);
  }
}

}  // namespace revive::exec

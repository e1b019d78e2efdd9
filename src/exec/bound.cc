#include "exec/bound.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace revive::exec {

double preparation_s(const model::Cloud& cloud, model::VmIndex vm, model::HostIndex to,
                     const DurationFunction& duration) {
  double longest = 0.0;
  for (auto d = cloud.vms[vm].first_disk; d < cloud.vm_disk_end(vm); ++d) {
    longest = std::max(longest,
                       duration(env::StepKind::disk_unmap, vm, d) + duration(env::StepKind::disk_map, vm, d));
  }
  if (to != model::kNoIndex && cloud.hosts[to].network_switch != model::kNoIndex) {
    longest = std::max(longest, duration(env::StepKind::net_config, vm, model::kNoIndex));
  }
  return longest;
}

double scope_bound(double ready_s, std::vector<double>& durations, std::uint32_t limit) {
  if (durations.empty()) return 0.0;
  if (limit == 0) limit = 1;
  double total = std::accumulate(durations.begin(), durations.end(), 0.0);
  std::size_t per_slot = (durations.size() + limit - 1) / limit;
  std::nth_element(durations.begin(), durations.begin() + static_cast<std::ptrdiff_t>(per_slot - 1),
                   durations.end());
  std::sort(durations.begin(), durations.begin() + static_cast<std::ptrdiff_t>(per_slot));
  double shortest =
      std::accumulate(durations.begin(), durations.begin() + static_cast<std::ptrdiff_t>(per_slot), 0.0);
  return ready_s + std::max(total / limit, shortest);
}

namespace {

struct Scope {
  std::vector<double> durations;
  double ready_s = std::numeric_limits<double>::infinity();
  double shortest_preparation_s = std::numeric_limits<double>::infinity();
  bool starts = false;
};

}  // namespace

LowerBound lower_bound(const model::Cloud& cloud, const std::vector<BoundVm>& vms,
                       const DurationFunction& duration, std::uint32_t global_max_parallel) {
  LowerBound best;
  std::vector<Scope> arrays(cloud.arrays.size()), switches(cloud.switches.size()),
      endpoints(cloud.endpoints.size());
  std::vector<Scope> hosts;  // target hosts, indexed through host_scope
  std::vector<std::uint32_t> host_scope(cloud.hosts.size(), model::kNoIndex);
  Scope global;
  for (auto& scope : endpoints) scope.starts = true;

  for (const auto& item : vms) {
    auto vm = item.vm;
    double preparation = preparation_s(cloud, vm, item.to, duration);
    double start = duration(env::StepKind::vm_start, vm, model::kNoIndex);
    double chain = item.fence_done_s + preparation + start;
    if (chain > best.value_s) {
      best.value_s = chain;
      best.binding = "chain of " + cloud.vms[vm].name;
    }
    auto add = [&](Scope& scope, double d) {
      scope.durations.push_back(d);
      scope.ready_s = std::min(scope.ready_s, item.fence_done_s);
    };
    for (auto d = cloud.vms[vm].first_disk; d < cloud.vm_disk_end(vm); ++d) {
      auto array = cloud.disks[d].array;
      double unmap = duration(env::StepKind::disk_unmap, vm, d);
      double map = duration(env::StepKind::disk_map, vm, d);
      add(arrays[array], unmap);
      add(arrays[array], map);
      if (global_max_parallel != 0) {
        add(global, unmap);
        add(global, map);
      }
    }
    const auto& target = cloud.hosts[item.to];
    if (target.network_switch != model::kNoIndex) {
      double net = duration(env::StepKind::net_config, vm, model::kNoIndex);
      add(switches[target.network_switch], net);
      if (global_max_parallel != 0) add(global, net);
    }
    auto add_start = [&](Scope& scope) {
      add(scope, start);
      scope.starts = true;
      scope.shortest_preparation_s = std::min(scope.shortest_preparation_s, preparation);
    };
    if (target.endpoint != model::kNoIndex) add_start(endpoints[target.endpoint]);
    if (host_scope[item.to] == model::kNoIndex) {
      host_scope[item.to] = static_cast<std::uint32_t>(hosts.size());
      hosts.emplace_back();
    }
    add_start(hosts[host_scope[item.to]]);
    if (global_max_parallel != 0) add(global, start);
  }

  auto consider = [&](Scope& scope, std::uint32_t limit, const std::string& name) {
    if (scope.durations.empty()) return;
    double ready = scope.ready_s + (scope.starts ? scope.shortest_preparation_s : 0.0);
    double value = scope_bound(ready, scope.durations, limit);
    if (value > best.value_s) {
      best.value_s = value;
      best.binding = name;
    }
  };
  for (std::size_t a = 0; a < arrays.size(); ++a) {
    consider(arrays[a], cloud.arrays[a].max_parallel, "array " + cloud.arrays[a].name);
  }
  for (std::size_t s = 0; s < switches.size(); ++s) {
    consider(switches[s], cloud.switches[s].max_parallel, "switch " + cloud.switches[s].name);
  }
  for (std::size_t e = 0; e < endpoints.size(); ++e) {
    consider(endpoints[e], cloud.endpoints[e].max_parallel, "endpoint " + cloud.endpoints[e].name);
  }
  for (std::size_t h = 0; h < cloud.hosts.size(); ++h) {
    if (host_scope[h] == model::kNoIndex) continue;
    consider(hosts[host_scope[h]], cloud.policy.host_max_parallel_restarts, "host " + cloud.hosts[h].name);
  }
  if (global_max_parallel != 0) consider(global, global_max_parallel, "the global limit");
  return best;
}

}  // namespace revive::exec

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

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One step as a scope sees it: its duration, the earliest it may begin and the shortest work that must
// follow it before the recovery can end (the tight bound's terms).
struct ScopeStep {
  double release_s = 0.0;
  double duration_s = 0.0;
  double tail_s = 0.0;
};

struct Scope {
  std::vector<ScopeStep> steps;
  bool starts = false;
  // The spec's r: the earliest declaration (and for starts the earliest fence completion and the shortest
  // preparation).
  double earliest_declared_s = kInfinity;
  double earliest_fence_s = kInfinity;
  double shortest_preparation_s = kInfinity;

  double spec_ready_s() const {
    if (!starts) return earliest_declared_s;
    return std::max(earliest_fence_s, earliest_declared_s + shortest_preparation_s);
  }
};

// The tight term of a scope (bound.h): max over every release r' of r' + (sum of the steps released at or
// after r') / L + the shortest of their tails, and at the first release also the busiest slot's share.
double tight_scope_bound(std::vector<ScopeStep>& steps, std::uint32_t limit) {
  if (steps.empty()) return 0.0;
  if (limit == 0) limit = 1;
  std::sort(steps.begin(), steps.end(),
            [](const ScopeStep& a, const ScopeStep& b) { return a.release_s < b.release_s; });
  double best = 0.0;
  double suffix_sum = 0.0, suffix_tail = kInfinity;
  for (std::size_t i = steps.size(); i-- > 0;) {
    suffix_sum += steps[i].duration_s;
    suffix_tail = std::min(suffix_tail, steps[i].tail_s);
    if (i > 0 && steps[i - 1].release_s == steps[i].release_s) continue;
    best = std::max(best, steps[i].release_s + suffix_sum / limit + suffix_tail);
  }
  std::vector<double> durations;
  durations.reserve(steps.size());
  for (const auto& step : steps) durations.push_back(step.duration_s);
  return std::max(best, scope_bound(steps.front().release_s, durations, limit) + suffix_tail);
}

}  // namespace

LowerBound lower_bound(const model::Cloud& cloud, const std::vector<BoundVm>& vms,
                       const DurationFunction& duration, std::uint32_t global_max_parallel) {
  LowerBound best;
  const auto count = vms.size();
  std::vector<double> preparation(count), start(count), fence_or_prepared(count);
  for (std::size_t i = 0; i < count; ++i) {
    preparation[i] = preparation_s(cloud, vms[i].vm, vms[i].to, duration);
    start[i] = duration(env::StepKind::vm_start, vms[i].vm, model::kNoIndex);
    fence_or_prepared[i] = std::max(vms[i].fence_done_s, vms[i].declared_s + preparation[i]);
  }
  // When each VM's start may begin at the earliest: its own readiness, then the chains it starts after
  // (depth first; a VM met again while its own chain is open closes a cycle: that edge is dropped).
  std::vector<double> start_ready(count, -1.0);
  std::vector<std::uint8_t> open(count, 0);
  std::vector<std::pair<std::uint32_t, std::size_t>> stack;
  for (std::uint32_t root = 0; root < count; ++root) {
    if (start_ready[root] >= 0) continue;
    stack.push_back({root, 0});
    open[root] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      const auto& after = vms[v].after;
      if (next < after.size()) {
        auto other = after[next++];
        if (other < count && start_ready[other] < 0 && !open[other]) {
          open[other] = 1;
          stack.push_back({other, 0});
        }
        continue;
      }
      double ready = fence_or_prepared[v];
      for (auto other : after) {
        if (other < count && start_ready[other] >= 0)
          ready = std::max(ready, start_ready[other] + start[other]);
      }
      start_ready[v] = ready;
      open[v] = 0;
      stack.pop_back();
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    double chain = start_ready[i] + start[i];
    if (chain > best.spec_s) {
      best.spec_s = chain;
      best.spec_binding =
          (vms[i].after.empty() ? "chain of " : "after chain ending in ") + cloud.vms[vms[i].vm].name;
    }
  }
  best.tight_s = best.spec_s;
  best.tight_binding = best.spec_binding;

  std::vector<Scope> arrays(cloud.arrays.size()), switches(cloud.switches.size()),
      endpoints(cloud.endpoints.size());
  std::vector<Scope> hosts;  // target hosts, indexed through host_scope
  std::vector<std::uint32_t> host_scope(cloud.hosts.size(), model::kNoIndex);
  Scope global;
  for (std::size_t i = 0; i < count; ++i) {
    const auto& item = vms[i];
    auto vm = item.vm;
    auto add = [&](Scope& scope, const ScopeStep& step) {
      scope.steps.push_back(step);
      scope.earliest_declared_s = std::min(scope.earliest_declared_s, item.declared_s);
      scope.earliest_fence_s = std::min(scope.earliest_fence_s, item.fence_done_s);
    };
    for (auto d = cloud.vms[vm].first_disk; d < cloud.vm_disk_end(vm); ++d) {
      auto array = cloud.disks[d].array;
      double unmap = duration(env::StepKind::disk_unmap, vm, d);
      double map = duration(env::StepKind::disk_map, vm, d);
      ScopeStep unmap_step{item.declared_s, unmap, map + start[i]};
      ScopeStep map_step{item.declared_s + unmap, map, start[i]};
      add(arrays[array], unmap_step);
      add(arrays[array], map_step);
      if (global_max_parallel != 0) {
        add(global, unmap_step);
        add(global, map_step);
      }
    }
    const auto& target = cloud.hosts[item.to];
    if (target.network_switch != model::kNoIndex) {
      ScopeStep net{item.declared_s, duration(env::StepKind::net_config, vm, model::kNoIndex), start[i]};
      add(switches[target.network_switch], net);
      if (global_max_parallel != 0) add(global, net);
    }
    ScopeStep start_step{start_ready[i], start[i], 0.0};
    auto add_start = [&](Scope& scope) {
      add(scope, start_step);
      scope.starts = true;
      scope.shortest_preparation_s = std::min(scope.shortest_preparation_s, preparation[i]);
    };
    if (target.endpoint != model::kNoIndex) add_start(endpoints[target.endpoint]);
    if (host_scope[item.to] == model::kNoIndex) {
      host_scope[item.to] = static_cast<std::uint32_t>(hosts.size());
      hosts.emplace_back();
    }
    add_start(hosts[host_scope[item.to]]);
    if (global_max_parallel != 0) add(global, start_step);
  }

  auto consider = [&](Scope& scope, std::uint32_t limit, const std::string& name) {
    if (scope.steps.empty()) return;
    std::vector<double> durations;
    durations.reserve(scope.steps.size());
    for (const auto& step : scope.steps) durations.push_back(step.duration_s);
    double spec = scope_bound(scope.spec_ready_s(), durations, limit);
    if (spec > best.spec_s) {
      best.spec_s = spec;
      best.spec_binding = name;
    }
    double tight = std::max(spec, tight_scope_bound(scope.steps, limit));
    if (tight > best.tight_s) {
      best.tight_s = tight;
      best.tight_binding = name;
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
  best.tight_s = std::max(best.tight_s, best.spec_s);
  return best;
}

}  // namespace revive::exec

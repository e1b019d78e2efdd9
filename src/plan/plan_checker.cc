// Deliberately shares no code with the planners: every rule is re-derived here from the spec, in the most
// direct form (plain loops, no incremental bookkeeping), so that a planner bug is not mirrored by the check.
#include "plan/plan_checker.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstddef>

namespace revive::plan {
namespace {

using model::Cloud;
using model::GroupIndex;
using model::GroupKind;
using model::HostIndex;
using model::Index;
using model::kNoIndex;
using model::Priority;
using model::Symbol;
using model::VmIndex;

constexpr double kCapacityEpsilon = 1e-6;

// Where a host sits for a group scope. A host without the scope's label is a value of its own.
struct ScopeKey {
  Index value = kNoIndex;
  HostIndex unlabeled_host = kNoIndex;
  friend bool operator==(const ScopeKey&, const ScopeKey&) = default;
};

class Checker {
 public:
  Checker(const Cloud& cloud, const PlanRequest& request, const Plan& plan)
      : cloud_(cloud), request_(request), plan_(plan) {}

  std::vector<std::string> run() {
    if (!read_request() || !read_plan()) return std::move(problems_);
    effective_ = independent_effective_priorities(cloud_);
    compute_final_state();
    check_coverage();
    check_targets();
    check_capacity();
    check_groups();
    check_order();
    check_waiting();
    return std::move(problems_);
  }

 private:
  template <typename... Args>
  void report(fmt::format_string<Args...> format, Args&&... args) {
    problems_.push_back(fmt::format(format, std::forward<Args>(args)...));
  }

  const std::string& vm_name(VmIndex v) const { return cloud_.vms[v].name; }
  const std::string& host_name(HostIndex h) const { return cloud_.hosts[h].name; }
  std::string_view priority_name(VmIndex v) const { return model::to_string(effective_[v]); }
  bool placed(VmIndex v) const { return target_[v] != kNoIndex; }

  bool read_request() {
    const std::size_t host_count = cloud_.hosts.size();
    failed_.assign(host_count, false);
    evacuated_.assign(host_count, false);
    excluded_.assign(host_count, false);
    auto mark = [&](const std::vector<HostIndex>& hosts, std::vector<bool>& marks, const char* what) {
      for (HostIndex h : hosts) {
        if (h >= host_count) {
          report("request: {} host index {} is out of range", what, h);
          continue;
        }
        marks[h] = true;
      }
    };
    mark(request_.failed_hosts, failed_, "failed");
    mark(request_.evacuated_hosts, evacuated_, "evacuated");
    mark(request_.excluded_hosts, excluded_, "excluded");
    for (VmIndex v : request_.only_vms) {
      if (v >= cloud_.vms.size()) report("request: only_vms index {} is out of range", v);
    }
    if (!problems_.empty()) return false;

    moving_.assign(cloud_.vms.size(), false);
    if (request_.only_vms.empty()) {
      for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
        HostIndex h = cloud_.vms[v].host;
        moving_[v] = cloud_.vms[v].protect && h < host_count && (failed_[h] || evacuated_[h]);
      }
    } else {
      for (VmIndex v : request_.only_vms) moving_[v] = cloud_.vms[v].protect;
    }

    auto same_hosts = [](std::vector<HostIndex> a, std::vector<HostIndex> b) {
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      return a == b;
    };
    if (!same_hosts(plan_.failed_hosts, request_.failed_hosts)) {
      report("plan.failed_hosts differs from the request's failed hosts");
    }
    if (!same_hosts(plan_.evacuated_hosts, request_.evacuated_hosts)) {
      report("plan.evacuated_hosts differs from the request's evacuated hosts");
    }
    return true;
  }

  // Indexes in range and each VM listed once; fills target_ and waiting_.
  bool read_plan() {
    const std::size_t vm_count = cloud_.vms.size();
    bool sound = true;
    target_.assign(vm_count, kNoIndex);
    waiting_.assign(vm_count, false);
    std::vector<int> listed(vm_count, 0);
    for (const Placement& placement : plan_.placements) {
      if (placement.vm >= vm_count || placement.to >= cloud_.hosts.size()) {
        report("placement refers to VM index {} / host index {} out of range", placement.vm, placement.to);
        sound = false;
        continue;
      }
      ++listed[placement.vm];
      target_[placement.vm] = placement.to;
    }
    for (const Waiting& waiting : plan_.waiting) {
      if (waiting.vm >= vm_count) {
        report("waiting entry refers to VM index {} out of range", waiting.vm);
        sound = false;
        continue;
      }
      ++listed[waiting.vm];
      waiting_[waiting.vm] = true;
    }
    for (VmIndex v = 0; v < vm_count; ++v) {
      if (listed[v] > 1) {
        report("{} is listed {} times across placements and waiting", vm_name(v), listed[v]);
        sound = false;
      }
    }
    return sound;
  }

  void compute_final_state() {
    final_host_.assign(cloud_.vms.size(), kNoIndex);
    cpu_used_.assign(cloud_.hosts.size(), 0.0);
    memory_used_.assign(cloud_.hosts.size(), 0.0);
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      HostIndex h = placed(v) ? target_[v] : cloud_.vms[v].host;
      if (h >= cloud_.hosts.size()) continue;
      if (!placed(v) && failed_[h]) continue;  // crashed with its host and not restarted
      final_host_[v] = h;
      cpu_used_[h] += cloud_.vms[v].cpus;
      memory_used_[h] += static_cast<double>(cloud_.vms[v].memory_mib);
    }
    groups_of_.assign(cloud_.vms.size(), {});
    for (GroupIndex g = 0; g < cloud_.groups.size(); ++g) {
      for (VmIndex member : cloud_.groups[g].members) {
        if (member < cloud_.vms.size()) groups_of_[member].push_back(g);
      }
    }
  }

  void check_coverage() {
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      bool listed = placed(v) || waiting_[v];
      HostIndex h = cloud_.vms[v].host;
      if (moving_[v] && !listed) {
        report("protected VM {} of host {} is neither placed nor waiting", vm_name(v),
               h < cloud_.hosts.size() ? host_name(h) : std::string("?"));
      } else if (!moving_[v] && listed) {
        if (!cloud_.vms[v].protect) {
          report("{} has protect: false but is in the plan", vm_name(v));
        } else {
          report("{} is in the plan but is not a VM the request moves", vm_name(v));
        }
      }
    }
    for (const Placement& placement : plan_.placements)
      check_entry(placement.vm, placement.from, placement.effective_priority, "placement");
    for (const Waiting& waiting : plan_.waiting) {
      check_entry(waiting.vm, waiting.from, waiting.effective_priority, "waiting entry");
      if (waiting.reason.empty()) report("{} waits without a reason", vm_name(waiting.vm));
    }
  }

  void check_entry(VmIndex v, HostIndex from, Priority priority, const char* what) {
    if (from != cloud_.vms[v].host) report("{} of {} says it comes from another host", what, vm_name(v));
    if (priority != effective_[v]) {
      report("{} of {} has effective priority {}, expected {}", what, vm_name(v), model::to_string(priority),
             priority_name(v));
    }
  }

  // Why `vm` may not run on `host` regardless of what else runs there; empty when it may.
  std::string ineligibility(VmIndex v, HostIndex h) const {
    const model::Host& host = cloud_.hosts[h];
    const model::Vm& vm = cloud_.vms[v];
    if (failed_[h]) return fmt::format("{} is a failed host", host.name);
    if (evacuated_[h]) return fmt::format("{} is being evacuated", host.name);
    if (excluded_[h]) return fmt::format("{} is excluded", host.name);
    if (host.state != model::HostState::up) {
      return fmt::format("{} is {}, not up", host.name, model::to_string(host.state));
    }
    if (host.reserved && !cloud_.policy.spares.maintenance && vm.host < cloud_.hosts.size() &&
        evacuated_[vm.host]) {
      return fmt::format("{} is a reserved spare, kept for failures (policy.spares.maintenance is false)",
                         host.name);
    }
    if (vm.host < cloud_.hosts.size() && cloud_.hosts[vm.host].arch != host.arch) {
      return fmt::format("{} is {} but the VM is {}", host.name, cloud_.symbols.name(host.arch),
                         cloud_.symbols.name(cloud_.hosts[vm.host].arch));
    }
    for (const model::Label& wanted : vm.require_labels) {
      bool carried = std::any_of(host.labels.begin(), host.labels.end(), [&](const model::Label& label) {
        return label.key == wanted.key && label.value == wanted.value;
      });
      if (!carried) {
        return fmt::format("{} lacks required label {}={}", host.name, cloud_.symbols.name(wanted.key),
                           cloud_.symbols.name(wanted.value));
      }
    }
    for (Symbol network : vm.networks) {
      if (std::find(host.networks.begin(), host.networks.end(), network) == host.networks.end()) {
        return fmt::format("{} is not on network {}", host.name, cloud_.symbols.name(network));
      }
    }
    for (std::size_t d = vm.first_disk; d < vm.first_disk + vm.disk_count && d < cloud_.disks.size(); ++d) {
      model::ArrayIndex array = cloud_.disks[d].array;
      if (std::find(host.arrays.begin(), host.arrays.end(), array) == host.arrays.end()) {
        return fmt::format("{} does not reach array {} of disk {}", host.name,
                           array < cloud_.arrays.size() ? cloud_.arrays[array].name : std::string("?"),
                           cloud_.disks[d].name);
      }
    }
    return {};
  }

  void check_targets() {
    for (const Placement& placement : plan_.placements) {
      std::string why = ineligibility(placement.vm, placement.to);
      if (!why.empty()) report("{} placed on {}: {}", vm_name(placement.vm), host_name(placement.to), why);
    }
  }

  void check_capacity() {
    std::vector<bool> receives(cloud_.hosts.size(), false);
    for (const Placement& placement : plan_.placements) receives[placement.to] = true;
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (!receives[h]) continue;
      if (cpu_used_[h] > cloud_.usable_cpus(h) + kCapacityEpsilon) {
        report("{} is over cpu capacity: {} vCPU placed or staying, {} usable", host_name(h), cpu_used_[h],
               cloud_.usable_cpus(h));
      }
      if (memory_used_[h] > cloud_.usable_memory_mib(h) + kCapacityEpsilon) {
        report("{} is over memory capacity: {} MiB placed or staying, {} usable", host_name(h),
               memory_used_[h], cloud_.usable_memory_mib(h));
      }
    }
  }

  ScopeKey scope_key(HostIndex h, Symbol scope) const {
    Index value = cloud_.scope_value(h, scope);
    return value == kNoIndex ? ScopeKey{kNoIndex, h} : ScopeKey{value, kNoIndex};
  }

  std::string describe_location(VmIndex v, Symbol scope) const {
    HostIndex h = final_host_[v];
    std::string text = fmt::format("{} on {}", vm_name(v), host_name(h));
    if (scope != cloud_.scope_host()) {
      Index value = cloud_.scope_value(h, scope);
      text += fmt::format(" ({}={})", cloud_.symbols.name(scope),
                          value == kNoIndex ? std::string("none") : cloud_.symbols.name(value));
    }
    if (moving_[v] && waiting_[v]) text += " [waiting, so still running on its evacuated host]";
    return text;
  }

  // Hints that name the likely cause of a waiting problem, for whoever reads the report.
  std::string waiting_hint(VmIndex w) const {
    for (VmIndex dependency : cloud_.vms[w].after) {
      if (dependency < cloud_.vms.size() && moving_[dependency] && waiting_[dependency] &&
          final_host_[dependency] != kNoIndex) {
        return fmt::format(" [it waits for {}, which waits but still runs on its evacuated host]",
                           vm_name(dependency));
      }
    }
    for (GroupIndex g : groups_of_[w]) {
      const model::Group& group = cloud_.groups[g];
      if (group.kind != GroupKind::affinity) continue;
      for (VmIndex member : group.members) {
        if (member != w && member < cloud_.vms.size() && moving_[member] && waiting_[member]) {
          return fmt::format(
              " [affinity group {} waits as a whole, though the group only binds members that run]",
              group.name);
        }
      }
    }
    return {};
  }

  std::string rider_hint(VmIndex p) const {
    for (GroupIndex g : groups_of_[p]) {
      const model::Group& group = cloud_.groups[g];
      if (group.kind != GroupKind::affinity) continue;
      for (VmIndex member : group.members) {
        if (member != p && member < cloud_.vms.size() && placed(member)) {
          return fmt::format(" [{} moved with affinity group {}]", vm_name(p), group.name);
        }
      }
    }
    return {};
  }

  void check_groups() {
    for (const model::Group& group : cloud_.groups) {
      std::vector<VmIndex> present;
      for (VmIndex member : group.members) {
        if (member < cloud_.vms.size() && final_host_[member] != kNoIndex) present.push_back(member);
      }
      bool any_placed = std::any_of(present.begin(), present.end(), [&](VmIndex v) { return placed(v); });
      if (!any_placed) continue;
      if (group.kind == GroupKind::anti_affinity) {
        for (std::size_t i = 0; i < present.size(); ++i) {
          for (std::size_t j = i + 1; j < present.size(); ++j) {
            VmIndex a = present[i];
            VmIndex b = present[j];
            if (!placed(a) && !placed(b)) continue;
            if (scope_key(final_host_[a], group.scope) == scope_key(final_host_[b], group.scope)) {
              report("anti-affinity group {} violated: {} and {}", group.name,
                     describe_location(a, group.scope), describe_location(b, group.scope));
            }
          }
        }
      } else {
        for (std::size_t i = 1; i < present.size(); ++i) {
          if (!(scope_key(final_host_[present[i]], group.scope) ==
                scope_key(final_host_[present[0]], group.scope))) {
            report("affinity group {} split: {} but {}", group.name,
                   describe_location(present[0], group.scope), describe_location(present[i], group.scope));
            break;
          }
        }
      }
    }
  }

  void check_order() {
    std::vector<std::size_t> position(cloud_.vms.size(), SIZE_MAX);
    for (std::size_t i = 0; i < plan_.placements.size(); ++i) position[plan_.placements[i].vm] = i;
    for (std::size_t i = 0; i < plan_.placements.size(); ++i) {
      const Placement& placement = plan_.placements[i];
      VmIndex v = placement.vm;
      if (i > 0 && effective_[v] < effective_[plan_.placements[i - 1].vm]) {
        report("placements out of start order: {} ({}) after {} ({})", vm_name(v), priority_name(v),
               vm_name(plan_.placements[i - 1].vm), priority_name(plan_.placements[i - 1].vm));
      }
      const std::vector<VmIndex>& after = cloud_.vms[v].after;
      for (std::size_t k = 0; k < placement.start_after.size(); ++k) {
        VmIndex dependency = placement.start_after[k];
        if (dependency >= cloud_.vms.size() ||
            std::find(after.begin(), after.end(), dependency) == after.end()) {
          report("start_after of {} names VM index {} which is not in its `after`", vm_name(v), dependency);
          continue;
        }
        if (std::find(placement.start_after.begin(),
                      placement.start_after.begin() + static_cast<std::ptrdiff_t>(k),
                      dependency) != placement.start_after.begin() + static_cast<std::ptrdiff_t>(k)) {
          report("start_after of {} names {} twice", vm_name(v), vm_name(dependency));
        }
        if (placed(dependency) && position[dependency] > i) {
          report("{} is placed before {} which it starts after", vm_name(v), vm_name(dependency));
        }
      }
      for (VmIndex dependency : after) {
        if (dependency >= cloud_.vms.size() || !placed(dependency)) continue;
        if (std::find(placement.start_after.begin(), placement.start_after.end(), dependency) ==
            placement.start_after.end()) {
          report("start_after of {} lacks {} which is placed and in its `after`", vm_name(v),
                 vm_name(dependency));
        }
      }
    }
  }

  // Would `w` satisfy every hard constraint on `h` in the final state, with `removed` (if any) taken out?
  bool fits(VmIndex w, HostIndex h, VmIndex removed) const {
    if (!ineligibility(w, h).empty()) return false;
    const model::Vm& vm = cloud_.vms[w];
    double cpu = cpu_used_[h] + vm.cpus;
    double memory = memory_used_[h] + static_cast<double>(vm.memory_mib);
    if (removed != kNoIndex && final_host_[removed] == h) {
      cpu -= cloud_.vms[removed].cpus;
      memory -= static_cast<double>(cloud_.vms[removed].memory_mib);
    }
    if (cpu > cloud_.usable_cpus(h) + kCapacityEpsilon) return false;
    if (memory > cloud_.usable_memory_mib(h) + kCapacityEpsilon) return false;
    for (GroupIndex g : groups_of_[w]) {
      const model::Group& group = cloud_.groups[g];
      ScopeKey here = scope_key(h, group.scope);
      for (VmIndex member : group.members) {
        if (member == w || member >= cloud_.vms.size()) continue;
        HostIndex location = final_host_[member];
        if (member == removed) {
          // Taken out of the plan, a VM drained from a host that stays up keeps running there.
          HostIndex source = cloud_.vms[member].host;
          location = source < cloud_.hosts.size() && evacuated_[source] ? source : kNoIndex;
        }
        if (location == kNoIndex) continue;
        bool together = scope_key(location, group.scope) == here;
        if (group.kind == GroupKind::anti_affinity && together) return false;
        if (group.kind == GroupKind::affinity && !together) return false;
      }
    }
    return true;
  }

  // A VM cannot start before the VMs of its `after` list run: if one of them will run nowhere, it may wait.
  bool waits_for_missing_dependency(VmIndex w) const {
    for (VmIndex dependency : cloud_.vms[w].after) {
      if (dependency < cloud_.vms.size() && final_host_[dependency] == kNoIndex) return true;
    }
    return false;
  }

  void check_waiting() {
    for (const Waiting& waiting : plan_.waiting) {
      VmIndex w = waiting.vm;
      if (!moving_[w] || waits_for_missing_dependency(w)) continue;
      bool reported = false;
      for (HostIndex h = 0; h < cloud_.hosts.size() && !reported; ++h) {
        if (h == final_host_[w] || !fits(w, h, kNoIndex)) continue;
        report("{} ({}) waits although it fits on {} (reason given: \"{}\"){}", vm_name(w), priority_name(w),
               host_name(h), waiting.reason, waiting_hint(w));
        reported = true;
      }
      for (const Placement& placement : plan_.placements) {
        if (reported) break;
        VmIndex p = placement.vm;
        if (effective_[p] <= effective_[w] || !fits(w, placement.to, p)) continue;
        report(
            "priority inversion: {} ({}) waits although it would fit on {} in place of {} ({}) "
            "(reason given: \"{}\"){}{}",
            vm_name(w), priority_name(w), host_name(placement.to), vm_name(p), priority_name(p),
            waiting.reason, waiting_hint(w), rider_hint(p));
        reported = true;
      }
    }
  }

  const Cloud& cloud_;
  const PlanRequest& request_;
  const Plan& plan_;
  std::vector<std::string> problems_;
  std::vector<bool> failed_, evacuated_, excluded_;  // per host
  std::vector<bool> moving_;                         // per VM: the request moves it
  std::vector<HostIndex> target_;                    // per VM: placement target or kNoIndex
  std::vector<bool> waiting_;                        // per VM
  std::vector<HostIndex> final_host_;               // per VM: where it runs after the plan, kNoIndex: nowhere
  std::vector<double> cpu_used_, memory_used_;      // per host, after the plan
  std::vector<std::vector<GroupIndex>> groups_of_;  // per VM
  std::vector<Priority> effective_;                 // per VM
};

}  // namespace

std::vector<std::string> find_plan_violations(const model::Cloud& cloud, const PlanRequest& request,
                                              const Plan& plan) {
  return Checker(cloud, request, plan).run();
}

std::vector<model::Priority> independent_effective_priorities(const model::Cloud& cloud) {
  std::vector<Priority> effective(cloud.vms.size());
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) effective[v] = cloud.vms[v].priority;
  // Lift until nothing changes: each pass pushes every VM's priority one step down its `after` edges. A VM
  // can only be lifted kPriorityCount - 1 times, so this ends even if the input had a cycle.
  for (bool changed = true; changed;) {
    changed = false;
    for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
      for (VmIndex dependency : cloud.vms[v].after) {
        if (dependency < cloud.vms.size() && effective[v] < effective[dependency]) {
          effective[dependency] = effective[v];
          changed = true;
        }
      }
    }
  }
  return effective;
}

double placed_priority_weight(const model::Cloud& cloud, const Plan& plan) {
  std::vector<Priority> effective = independent_effective_priorities(cloud);
  double weight = 0;
  for (const Placement& placement : plan.placements) {
    if (placement.vm < cloud.vms.size()) weight += model::priority_weight(effective[placement.vm]);
  }
  return weight;
}

}  // namespace revive::plan

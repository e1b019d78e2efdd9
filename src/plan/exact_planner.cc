#include "plan/exact_planner.h"

#include <Cbc_C_Interface.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

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

// Where a host sits for a group scope; a host without the scope's label is a value of its own.
using ScopeKey = std::uint64_t;

// CBC's driver (CbcMain1 behind Cbc_solve) keeps global state: one solve at a time.
std::mutex& cbc_mutex() {
  static std::mutex mutex;
  return mutex;
}

struct CbcModelDeleter {
  void operator()(Cbc_Model* model) const { Cbc_deleteModel(model); }
};

// One binary column: VM `vm` runs on `host`.
struct Candidate {
  VmIndex vm = kNoIndex;
  HostIndex host = kNoIndex;
};

class ExactPlanner {
 public:
  ExactPlanner(const Cloud& cloud, const PlanRequest& request, double time_limit_s)
      : cloud_(cloud), request_(request), time_limit_s_(time_limit_s) {}

  Plan run() {
    auto start = std::chrono::steady_clock::now();
    validate();
    classify();
    build_candidates();
    solve();
    fill_greedily();
    Plan plan = make_plan();
    plan.plan_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return plan;
  }

 private:
  void validate() const {
    auto check_hosts = [&](const std::vector<HostIndex>& hosts, const char* what) {
      for (HostIndex h : hosts) {
        if (h >= cloud_.hosts.size())
          throw std::invalid_argument(fmt::format("{} host index {} out of range", what, h));
      }
    };
    check_hosts(request_.failed_hosts, "failed");
    check_hosts(request_.evacuated_hosts, "evacuated");
    check_hosts(request_.excluded_hosts, "excluded");
    for (VmIndex v : request_.only_vms) {
      if (v >= cloud_.vms.size()) throw std::invalid_argument(fmt::format("VM index {} out of range", v));
    }
  }

  ScopeKey scope_key(HostIndex h, Symbol scope) const {
    Index value = cloud_.scope_value(h, scope);
    return value == kNoIndex ? ((ScopeKey{1} << 32) | h) : ScopeKey{value};
  }

  bool source_failed(VmIndex v) const {
    HostIndex h = cloud_.vms[v].host;
    return h >= cloud_.hosts.size() || failed_[h];
  }

  // Which VMs move; where every other VM (and a moving VM that ends up waiting) runs; capacity left per host.
  void classify() {
    const std::size_t host_count = cloud_.hosts.size();
    const std::size_t vm_count = cloud_.vms.size();
    failed_.assign(host_count, false);
    evacuated_.assign(host_count, false);
    excluded_.assign(host_count, false);
    for (HostIndex h : request_.failed_hosts) failed_[h] = true;
    for (HostIndex h : request_.evacuated_hosts) evacuated_[h] = true;
    for (HostIndex h : request_.excluded_hosts) excluded_[h] = true;

    is_moving_.assign(vm_count, false);
    if (request_.only_vms.empty()) {
      for (VmIndex v = 0; v < vm_count; ++v) {
        HostIndex h = cloud_.vms[v].host;
        is_moving_[v] = cloud_.vms[v].protect && h < host_count && (failed_[h] || evacuated_[h]);
      }
    } else {
      for (VmIndex v : request_.only_vms) is_moving_[v] = cloud_.vms[v].protect;
    }
    for (VmIndex v = 0; v < vm_count; ++v) {
      if (is_moving_[v]) moving_.push_back(v);
    }

    // A VM that does not move, or moves but waits, runs where it is unless its host crashed. Its usage is
    // counted there either way (a moving VM's source is never a target in practice).
    resting_host_.assign(vm_count, kNoIndex);
    free_cpu_.resize(host_count);
    free_memory_.resize(host_count);
    for (HostIndex h = 0; h < host_count; ++h) {
      free_cpu_[h] = cloud_.usable_cpus(h);
      free_memory_[h] = cloud_.usable_memory_mib(h);
    }
    for (VmIndex v = 0; v < vm_count; ++v) {
      if (source_failed(v)) continue;
      HostIndex h = cloud_.vms[v].host;
      resting_host_[v] = h;
      free_cpu_[h] -= cloud_.vms[v].cpus;
      free_memory_[h] -= static_cast<double>(cloud_.vms[v].memory_mib);
    }
    groups_of_.assign(vm_count, {});
    for (GroupIndex g = 0; g < cloud_.groups.size(); ++g) {
      for (VmIndex member : cloud_.groups[g].members) {
        if (member < vm_count) groups_of_[member].push_back(g);
      }
    }
    effective_ = effective_priorities(cloud_);
  }

  // Why VM v can never run on host h whatever the other moving VMs do; empty when it may.
  std::string rule_out(VmIndex v, HostIndex h) const {
    const model::Host& host = cloud_.hosts[h];
    const model::Vm& vm = cloud_.vms[v];
    if (failed_[h] || evacuated_[h] || excluded_[h]) return "failed, evacuated or excluded";
    if (host.state != model::HostState::up) return "not up";
    if (host.reserved && !cloud_.policy.spares.maintenance && vm.host < cloud_.hosts.size() &&
        evacuated_[vm.host]) {
      return "a reserved spare kept for failures (policy.spares.maintenance is false)";
    }
    if (vm.host < cloud_.hosts.size() && cloud_.hosts[vm.host].arch != host.arch) {
      return fmt::format("not {}", cloud_.symbols.name(cloud_.hosts[vm.host].arch));
    }
    for (const model::Label& label : vm.require_labels) {
      if (!cloud_.has_label(h, label)) {
        return fmt::format("lacking label {}={}", cloud_.symbols.name(label.key),
                           cloud_.symbols.name(label.value));
      }
    }
    for (Symbol network : vm.networks) {
      if (!cloud_.has_network(h, network))
        return fmt::format("not on network {}", cloud_.symbols.name(network));
    }
    for (std::size_t d = vm.first_disk; d < cloud_.vm_disk_end(v); ++d) {
      if (!cloud_.reaches_array(h, cloud_.disks[d].array)) {
        return fmt::format("not reaching array {}", cloud_.arrays[cloud_.disks[d].array].name);
      }
    }
    if (vm.cpus > free_cpu_[h] + 1e-9 || static_cast<double>(vm.memory_mib) > free_memory_[h] + 1e-9) {
      return fmt::format("without {} vCPU and {} MiB free", vm.cpus, vm.memory_mib);
    }
    for (GroupIndex g : groups_of_[v]) {
      const model::Group& group = cloud_.groups[g];
      ScopeKey here = scope_key(h, group.scope);
      for (VmIndex member : group.members) {
        if (member == v || is_moving_[member] || resting_host_[member] == kNoIndex) continue;
        bool together = scope_key(resting_host_[member], group.scope) == here;
        if (group.kind == GroupKind::anti_affinity && together) {
          return fmt::format("already holding a member of anti-affinity group {}", group.name);
        }
        if (group.kind == GroupKind::affinity && !together) {
          return fmt::format("away from the other members of affinity group {}", group.name);
        }
      }
    }
    return {};
  }

  void build_candidates() {
    columns_of_.assign(cloud_.vms.size(), {});
    for (VmIndex v : moving_) {
      std::vector<std::pair<std::string, int>> ruled_out;  // reason, hosts; in order of first appearance
      for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
        std::string why = rule_out(v, h);
        if (why.empty()) {
          columns_of_[v].push_back(static_cast<int>(candidates_.size()));
          candidates_.push_back({v, h});
          continue;
        }
        auto found = std::find_if(ruled_out.begin(), ruled_out.end(),
                                  [&](const auto& entry) { return entry.first == why; });
        if (found == ruled_out.end()) {
          ruled_out.emplace_back(std::move(why), 1);
        } else {
          ++found->second;
        }
      }
      if (columns_of_[v].empty()) {
        std::string reason = "no feasible host:";
        for (std::size_t i = 0; i < ruled_out.size(); ++i) {
          reason += fmt::format("{} {} {}", i == 0 ? "" : ";", ruled_out[i].second, ruled_out[i].first);
        }
        no_host_reason_.emplace(v, std::move(reason));
      }
    }
  }

  void add_row(Cbc_Model* model, const std::vector<int>& columns, const std::vector<double>& coefficients,
               double upper) {
    if (columns.empty()) return;
    Cbc_addRow(model, "", static_cast<int>(columns.size()), columns.data(), coefficients.data(), 'L', upper);
  }

  // Sum of a VM's columns: 1 when it is placed.
  void add_placed_terms(VmIndex v, double coefficient, std::vector<int>& columns,
                        std::vector<double>& coefficients) {
    for (int column : columns_of_[v]) {
      columns.push_back(column);
      coefficients.push_back(coefficient);
    }
  }

  void add_capacity_rows(Cbc_Model* model) {
    std::vector<std::vector<int>> columns_on(cloud_.hosts.size());
    for (std::size_t c = 0; c < candidates_.size(); ++c)
      columns_on[candidates_[c].host].push_back(static_cast<int>(c));
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      std::vector<double> cpus, memory;
      double cpu_demand = 0, memory_demand = 0;
      for (int column : columns_on[h]) {
        const model::Vm& vm = cloud_.vms[candidates_[static_cast<std::size_t>(column)].vm];
        cpus.push_back(vm.cpus);
        memory.push_back(static_cast<double>(vm.memory_mib));
        cpu_demand += vm.cpus;
        memory_demand += static_cast<double>(vm.memory_mib);
      }
      if (cpu_demand > free_cpu_[h]) add_row(model, columns_on[h], cpus, free_cpu_[h]);
      if (memory_demand > free_memory_[h]) add_row(model, columns_on[h], memory, free_memory_[h]);
    }
  }

  // A moving VM of a failed host runs only if it is placed.
  bool runs_only_if_placed(VmIndex v) const { return is_moving_[v] && resting_host_[v] == kNoIndex; }

  // The first `after` VM of v that runs only if placed and is not placed; kNoIndex when none.
  VmIndex missing_dependency(VmIndex v) const {
    for (VmIndex dependency : cloud_.vms[v].after) {
      if (dependency < cloud_.vms.size() && runs_only_if_placed(dependency) &&
          target_[dependency] == kNoIndex) {
        return dependency;
      }
    }
    return kNoIndex;
  }

  // A VM cannot start before its `after` VMs run: one that waits for a VM of a failed host is placed only if
  // that VM is (as the heuristic planner does).
  void add_dependency_rows(Cbc_Model* model) {
    for (VmIndex v : moving_) {
      for (VmIndex dependency : cloud_.vms[v].after) {
        if (dependency >= cloud_.vms.size() || !runs_only_if_placed(dependency)) continue;
        std::vector<int> columns;
        std::vector<double> coefficients;
        add_placed_terms(v, 1.0, columns, coefficients);
        add_placed_terms(dependency, -1.0, columns, coefficients);
        add_row(model, columns, coefficients, 0.0);
      }
    }
  }

  // Members of an evacuated host that do not move keep running at their source: they count as members there.
  bool waits_running(VmIndex v) const { return is_moving_[v] && resting_host_[v] != kNoIndex; }

  void add_anti_affinity_rows(Cbc_Model* model, const model::Group& group) {
    std::map<ScopeKey, std::vector<int>> columns_in;
    for (VmIndex member : group.members) {
      if (member >= cloud_.vms.size() || !is_moving_[member]) continue;
      for (int column : columns_of_[member]) {
        columns_in[scope_key(candidates_[static_cast<std::size_t>(column)].host, group.scope)].push_back(
            column);
      }
    }
    for (const auto& [key, columns] : columns_in) {
      add_row(model, columns, std::vector<double>(columns.size(), 1.0), 1.0);
    }
    for (VmIndex member : group.members) {
      if (member >= cloud_.vms.size() || !waits_running(member)) continue;
      auto found = columns_in.find(scope_key(resting_host_[member], group.scope));
      if (found == columns_in.end()) continue;
      for (int column : found->second) {
        if (candidates_[static_cast<std::size_t>(column)].vm == member) continue;
        std::vector<int> columns{column};
        std::vector<double> coefficients{1.0};
        add_placed_terms(member, -1.0, columns, coefficients);  // placed there only if `member` moved away
        add_row(model, columns, coefficients, 0.0);
      }
    }
  }

  void add_affinity_rows(Cbc_Model* model, const model::Group& group) {
    std::map<ScopeKey, int> scope_column;  // "the group's members are placed in this scope value"
    for (VmIndex member : group.members) {
      if (member >= cloud_.vms.size() || !is_moving_[member]) continue;
      for (int column : columns_of_[member]) {
        ScopeKey key = scope_key(candidates_[static_cast<std::size_t>(column)].host, group.scope);
        auto [found, added] = scope_column.emplace(key, next_column_);
        if (added) {
          Cbc_addCol(model, "", 0.0, 1.0, 0.0, 1, 0, nullptr, nullptr);
          ++next_column_;
        }
        add_row(model, {column, found->second}, {1.0, -1.0}, 0.0);
      }
    }
    if (scope_column.empty()) return;
    std::vector<int> all;
    for (const auto& [key, column] : scope_column) all.push_back(column);
    add_row(model, all, std::vector<double>(all.size(), 1.0), 1.0);
    for (VmIndex member : group.members) {
      if (member >= cloud_.vms.size() || !waits_running(member)) continue;
      ScopeKey home = scope_key(resting_host_[member], group.scope);
      std::vector<int> columns;
      std::vector<double> coefficients;
      for (const auto& [key, column] : scope_column) {
        if (key == home) continue;
        columns.push_back(column);
        coefficients.push_back(1.0);
      }
      add_placed_terms(member, -1.0, columns, coefficients);  // elsewhere only if `member` moves too
      add_row(model, columns, coefficients, 0.0);
    }
  }

  void solve() {
    target_.assign(cloud_.vms.size(), kNoIndex);
    if (candidates_.empty()) return;
    std::lock_guard lock(cbc_mutex());
    std::unique_ptr<Cbc_Model, CbcModelDeleter> model(Cbc_newModel());
    Cbc_setLogLevel(model.get(), 0);
    Cbc_setParameter(model.get(), "log", "0");
    Cbc_setParameter(model.get(), "slog", "0");
    Cbc_setMaximumSeconds(model.get(), time_limit_s_);
    Cbc_setObjSense(model.get(), -1.0);  // maximise
    for (const Candidate& candidate : candidates_) {
      Cbc_addCol(model.get(), "", 0.0, 1.0, model::priority_weight(effective_[candidate.vm]), 1, 0, nullptr,
                 nullptr);
    }
    next_column_ = static_cast<int>(candidates_.size());
    for (VmIndex v : moving_) {
      add_row(model.get(), columns_of_[v], std::vector<double>(columns_of_[v].size(), 1.0), 1.0);
    }
    add_capacity_rows(model.get());
    add_dependency_rows(model.get());
    for (const model::Group& group : cloud_.groups) {
      if (group.kind == GroupKind::anti_affinity) {
        add_anti_affinity_rows(model.get(), group);
      } else {
        add_affinity_rows(model.get(), group);
      }
    }
    Cbc_solve(model.get());
    const double* solution = Cbc_getColSolution(model.get());
    if (solution == nullptr || Cbc_numberSavedSolutions(model.get()) == 0) return;
    for (std::size_t c = 0; c < candidates_.size(); ++c) {
      if (solution[c] > 0.5) target_[candidates_[c].vm] = candidates_[c].host;
    }
  }

  // Where a VM runs once the current decisions are carried out; kNoIndex: nowhere.
  HostIndex location(VmIndex v) const { return target_[v] != kNoIndex ? target_[v] : resting_host_[v]; }

  bool can_place_now(VmIndex v, HostIndex h) const {
    double cpu = free_cpu_[h], memory = free_memory_[h];
    for (VmIndex other : moving_) {
      if (target_[other] != h) continue;
      cpu -= cloud_.vms[other].cpus;
      memory -= static_cast<double>(cloud_.vms[other].memory_mib);
    }
    if (cloud_.vms[v].cpus > cpu + 1e-9 || static_cast<double>(cloud_.vms[v].memory_mib) > memory + 1e-9)
      return false;
    for (GroupIndex g : groups_of_[v]) {
      const model::Group& group = cloud_.groups[g];
      ScopeKey here = scope_key(h, group.scope);
      for (VmIndex member : group.members) {
        if (member == v || location(member) == kNoIndex) continue;
        bool together = scope_key(location(member), group.scope) == here;
        if (group.kind == GroupKind::anti_affinity ? together : !together) return false;
      }
    }
    return true;
  }

  // Safety net when the time limit cut the search short: place any waiting VM that fits as things stand.
  void fill_greedily() {
    std::vector<VmIndex> unplaced;
    for (VmIndex v : moving_) {
      if (target_[v] == kNoIndex && !columns_of_[v].empty()) unplaced.push_back(v);
    }
    std::stable_sort(unplaced.begin(), unplaced.end(),
                     [&](VmIndex a, VmIndex b) { return effective_[a] < effective_[b]; });
    for (VmIndex v : unplaced) {
      if (missing_dependency(v) != kNoIndex) continue;
      for (int column : columns_of_[v]) {
        HostIndex h = candidates_[static_cast<std::size_t>(column)].host;
        if (can_place_now(v, h)) {
          target_[v] = h;
          break;
        }
      }
    }
  }

  // Length of the longest chain of placed `after` dependencies below v, so dependencies start first.
  int start_depth(VmIndex v, std::vector<int>& depth) const {
    if (depth[v] >= 0) return depth[v];
    depth[v] = 0;  // breaks cycles, which the inventory rejects anyway
    int deepest = 0;
    for (VmIndex dependency : cloud_.vms[v].after) {
      if (dependency < cloud_.vms.size() && target_[dependency] != kNoIndex) {
        deepest = std::max(deepest, start_depth(dependency, depth) + 1);
      }
    }
    return depth[v] = deepest;
  }

  Plan make_plan() const {
    Plan plan;
    plan.failed_hosts = request_.failed_hosts;
    plan.evacuated_hosts = request_.evacuated_hosts;
    std::vector<int> depth(cloud_.vms.size(), -1);
    std::vector<std::pair<int, VmIndex>> placed;
    for (VmIndex v : moving_) {
      if (target_[v] != kNoIndex) placed.emplace_back(start_depth(v, depth), v);
    }
    std::sort(placed.begin(), placed.end(), [&](const auto& a, const auto& b) {
      return std::tie(effective_[a.second], a.first, a.second) <
             std::tie(effective_[b.second], b.first, b.second);
    });
    for (const auto& [unused, v] : placed) {
      Placement placement;
      placement.vm = v;
      placement.from = cloud_.vms[v].host;
      placement.to = target_[v];
      placement.effective_priority = effective_[v];
      placement.choice = Choice::exact;
      for (VmIndex dependency : cloud_.vms[v].after) {
        if (dependency < cloud_.vms.size() && location(dependency) != kNoIndex) {
          placement.start_after.push_back(dependency);
        }
      }
      plan.placements.push_back(std::move(placement));
    }
    for (VmIndex v : moving_) {
      if (target_[v] != kNoIndex) continue;
      Waiting waiting;
      waiting.vm = v;
      waiting.from = cloud_.vms[v].host;
      waiting.effective_priority = effective_[v];
      auto found = no_host_reason_.find(v);
      VmIndex dependency = missing_dependency(v);
      if (found != no_host_reason_.end()) {
        waiting.reason = found->second;
      } else if (dependency != kNoIndex) {
        waiting.reason =
            fmt::format("waits for {} (after), which is not placed", cloud_.vms[dependency].name);
      } else {
        waiting.reason = fmt::format("capacity taken by higher-weight VMs in the optimum ({} feasible hosts)",
                                     columns_of_[v].size());
      }
      plan.waiting.push_back(std::move(waiting));
    }
    std::stable_sort(plan.waiting.begin(), plan.waiting.end(), [](const Waiting& a, const Waiting& b) {
      return a.effective_priority < b.effective_priority;
    });
    return plan;
  }

  const Cloud& cloud_;
  const PlanRequest& request_;
  double time_limit_s_;
  std::vector<bool> failed_, evacuated_, excluded_;  // per host
  std::vector<bool> is_moving_;                      // per VM
  std::vector<VmIndex> moving_;                      // in VM order
  std::vector<HostIndex> resting_host_;              // per VM: where it runs if it does not move
  std::vector<double> free_cpu_, free_memory_;       // per host, after the VMs that rest there
  std::vector<std::vector<GroupIndex>> groups_of_;   // per VM
  std::vector<Priority> effective_;                  // per VM
  std::vector<Candidate> candidates_;                // column c of the MIP is candidates_[c]
  std::vector<std::vector<int>> columns_of_;         // per VM: its columns
  std::map<VmIndex, std::string> no_host_reason_;
  int next_column_ = 0;
  std::vector<HostIndex> target_;  // per VM: chosen host or kNoIndex
};

}  // namespace

Plan plan_exact(const model::Cloud& cloud, const PlanRequest& request, double time_limit_s) {
  return ExactPlanner(cloud, request, time_limit_s).run();
}

}  // namespace revive::plan

#include "plan/precomputed_plans.h"

#include <algorithm>
#include <map>

#include "plan/placement_engine.h"

namespace revive::plan {

PrecomputedPlans::PrecomputedPlans(const model::Cloud& cloud, const std::vector<model::Symbol>& domain_keys,
                                   const PlannerOptions& options)
    : cloud_(cloud), options_(options), engine_(std::make_unique<PlacementEngine>(cloud)) {
  plans_failing_host_.resize(cloud.hosts.size());
  plans_targeting_host_.resize(cloud.hosts.size());
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.hosts[h].state != model::HostState::up) continue;
    PrestagedPlan entry;
    entry.name = cloud.hosts[h].name;
    entry.request.failed_hosts = {h};
    plans_.push_back(std::move(entry));
  }
  for (model::Symbol key : domain_keys) {
    std::map<std::string, std::vector<model::HostIndex>> hosts_by_value;
    for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
      model::Index value = cloud.scope_value(h, key);
      if (value != model::kNoIndex && cloud.hosts[h].state == model::HostState::up) {
        hosts_by_value[cloud.symbols.name(value)].push_back(h);
      }
    }
    for (auto& [value, hosts] : hosts_by_value) {
      PrestagedPlan entry;
      entry.name = cloud.symbols.name(key) + "=" + value;
      entry.request.failed_hosts = hosts;
      plans_.push_back(std::move(entry));
    }
  }
  for (std::size_t i = 0; i < plans_.size(); ++i) {
    for (model::HostIndex h : plans_[i].request.failed_hosts) plans_failing_host_[h].push_back(i);
    compute(i);
  }
}

PrecomputedPlans::~PrecomputedPlans() = default;

void PrecomputedPlans::compute(std::size_t entry) {
  auto& prestaged = plans_[entry];
  for (const auto& placement : prestaged.plan.placements) {
    auto& list = plans_targeting_host_[placement.to];
    if (auto it = std::find(list.begin(), list.end(), entry); it != list.end()) list.erase(it);
  }
  prestaged.plan = engine_->plan(prestaged.request, options_);
  for (const auto& placement : prestaged.plan.placements) {
    auto& list = plans_targeting_host_[placement.to];
    if (list.empty() || list.back() != entry) list.push_back(entry);
  }
}

std::size_t PrecomputedPlans::recompute(std::vector<std::size_t> entries) {
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  for (std::size_t entry : entries) compute(entry);
  return entries.size();
}

const PrestagedPlan* PrecomputedPlans::find(std::vector<model::HostIndex> failed_hosts) const {
  std::sort(failed_hosts.begin(), failed_hosts.end());
  if (failed_hosts.empty() || failed_hosts.front() >= plans_failing_host_.size()) return nullptr;
  for (std::size_t entry : plans_failing_host_[failed_hosts.front()]) {
    auto hosts = plans_[entry].request.failed_hosts;
    std::sort(hosts.begin(), hosts.end());
    if (hosts == failed_hosts) return &plans_[entry];
  }
  return nullptr;
}

std::size_t PrecomputedPlans::on_vm_moved(model::VmIndex vm, model::HostIndex previous_host) {
  engine_->on_vm_moved(vm, previous_host);
  std::vector<std::size_t> affected;
  auto add_host = [&](model::HostIndex h) {
    if (h >= cloud_.hosts.size()) return;
    affected.insert(affected.end(), plans_failing_host_[h].begin(), plans_failing_host_[h].end());
    affected.insert(affected.end(), plans_targeting_host_[h].begin(), plans_targeting_host_[h].end());
  };
  add_host(previous_host);
  add_host(cloud_.vms[vm].host);
  for (model::GroupIndex g : cloud_.vms[vm].groups) {
    for (model::VmIndex member : cloud_.groups[g].members) {
      model::HostIndex h = cloud_.vms[member].host;
      if (member != vm && h < cloud_.hosts.size()) {
        affected.insert(affected.end(), plans_failing_host_[h].begin(), plans_failing_host_[h].end());
      }
    }
  }
  // Plans with waiting VMs, when the room the VM left behind could take one of them.
  for (std::size_t i = 0; i < plans_.size(); ++i) {
    const auto& waiting = plans_[i].plan.waiting;
    bool could_help = previous_host < cloud_.hosts.size() &&
                      std::any_of(waiting.begin(), waiting.end(), [&](const Waiting& w) {
                        return engine_->has_room_for(previous_host, w.vm);
                      });
    if (could_help) affected.push_back(i);
  }
  return recompute(std::move(affected));
}

std::size_t PrecomputedPlans::on_host_changed(model::HostIndex host) {
  engine_->on_host_changed(host);
  std::vector<std::size_t> affected(plans_targeting_host_[host]);
  affected.insert(affected.end(), plans_failing_host_[host].begin(), plans_failing_host_[host].end());
  for (std::size_t i = 0; i < plans_.size(); ++i) {
    if (!plans_[i].plan.waiting.empty()) affected.push_back(i);
  }
  return recompute(std::move(affected));
}

}  // namespace revive::plan

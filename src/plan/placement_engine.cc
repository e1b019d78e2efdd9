#include "plan/placement_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

#include <fmt/format.h>

namespace revive::plan {

using model::HostIndex;
using model::kNoIndex;
using model::Priority;
using model::VmIndex;

namespace {

constexpr double kEpsilon = 1e-9;
constexpr std::size_t kNoSet = std::numeric_limits<std::uint32_t>::max();  // VmState::set: none yet
// The improvement phase stops after about this many VM placements (passes x moving VMs).
constexpr std::size_t kImprovementWork = 4096;
// Spreading restarts over endpoints is skipped when more VMs than this wait (each move checks them all).
constexpr std::size_t kSpreadMaxWaiting = 256;
// ... and stops after this many VMs tried (each try is one host search).
constexpr std::size_t kSpreadWork = 65536;

std::string gib(double memory_mib) {
  return fmt::format("{:.1f} GiB", memory_mib / 1024.0);
}

std::string cpus_text(double cpus) {
  return std::abs(cpus - std::round(cpus)) < 1e-6 ? fmt::format("{:.0f} vCPU", cpus)
                                                  : fmt::format("{:.1f} vCPU", cpus);
}

std::vector<int> dependency_depths(const model::Cloud& cloud) {
  // Iterative DFS; the inventory loader guarantees `after` is acyclic, a cycle here is treated as depth 0.
  std::vector<int> depth(cloud.vms.size(), -1);
  std::vector<std::pair<VmIndex, std::size_t>> stack;
  for (VmIndex root = 0; root < cloud.vms.size(); ++root) {
    if (depth[root] >= 0) continue;
    stack.push_back({root, 0});
    depth[root] = -2;  // in progress
    while (!stack.empty()) {
      auto& [vm, next] = stack.back();
      const auto& after = cloud.vms[vm].after;
      if (next < after.size()) {
        VmIndex dependency = after[next++];
        if (depth[dependency] == -1) {
          depth[dependency] = -2;
          stack.push_back({dependency, 0});
        }
        continue;
      }
      int own = 0;
      for (VmIndex dependency : after)
        own = std::max(own, depth[dependency] >= 0 ? depth[dependency] + 1 : 0);
      depth[vm] = own;
      stack.pop_back();
    }
  }
  return depth;
}

}  // namespace

std::vector<Priority> effective_priorities(const model::Cloud& cloud) {
  std::vector<Priority> effective(cloud.vms.size());
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) effective[v] = cloud.vms[v].priority;
  // Each VM can be lifted at most kPriorityCount - 1 times, so this worklist ends after O(edges * 4) steps.
  std::vector<VmIndex> work(cloud.vms.size());
  std::iota(work.begin(), work.end(), 0);
  while (!work.empty()) {
    VmIndex vm = work.back();
    work.pop_back();
    for (VmIndex dependency : cloud.vms[vm].after) {
      if (effective[vm] < effective[dependency]) {
        effective[dependency] = effective[vm];
        work.push_back(dependency);
      }
    }
  }
  return effective;
}

PlacementEngine::PlacementEngine(const model::Cloud& cloud)
    : cloud_(cloud), effective_(plan::effective_priorities(cloud)), depth_(dependency_depths(cloud)) {
  const std::size_t host_count = cloud.hosts.size();
  room_.assign(host_count, HostRoom{});
  role_.resize(host_count);
  hosts_by_array_.resize(cloud.arrays.size());
  hosts_by_endpoint_.resize(cloud.endpoints.size());
  endpoint_of_.resize(host_count);
  for (HostIndex h = 0; h < host_count; ++h) {
    endpoint_of_[h] = cloud.hosts[h].endpoint;
    for (auto array : cloud.hosts[h].arrays) hosts_by_array_[array].push_back(h);
    if (cloud.hosts[h].endpoint < cloud.endpoints.size())
      hosts_by_endpoint_[cloud.hosts[h].endpoint].push_back(h);
  }
  planned_on_.resize(host_count);
  residents_.resize(host_count);
  smallest_endpoint_limit_ = std::numeric_limits<double>::infinity();
  for (model::EndpointIndex e = 0; e < cloud.endpoints.size(); ++e)
    smallest_endpoint_limit_ = std::min(smallest_endpoint_limit_, endpoint_limit(e));
  double cpu_total = 0, memory_total = 0;
  for (HostIndex h = 0; h < host_count; ++h) {
    room_[h].cpu_capacity = cloud.usable_cpus(h);
    room_[h].memory_capacity = cloud.usable_memory_mib(h);
    cpu_total += room_[h].cpu_capacity;
    memory_total += room_[h].memory_capacity;
    role_[h] = cloud.hosts[h].state == model::HostState::up ? HostRole::available : HostRole::not_up;
  }
  if (host_count > 0) {
    cpu_scale_ = std::max(1.0, cpu_total / static_cast<double>(host_count));
    memory_scale_ = std::max(1.0, memory_total / static_cast<double>(host_count));
  }
  spare_.assign(host_count, 0);
  for (HostIndex h = 0; h < host_count; ++h) {
    if (cloud.hosts[h].reserved) {
      spare_[h] = 1;
      spares_.push_back(h);
    }
    for (const auto& label : cloud.hosts[h].labels) hosts_by_label_[{label.key, label.value}].push_back(h);
  }
  // Per VM, what the hot loops read, in one record (a VM's record in the cloud is three cache lines).
  vm_.assign(cloud.vms.size(), VmState{});
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
    const model::Vm& machine = cloud.vms[v];
    VmState& state = vm_[v];
    state.cpus = machine.cpus;
    state.memory = static_cast<double>(machine.memory_mib);
    state.size = vm_size(v);
    state.location = machine.host;
    state.effective = effective_[v];
    state.traits = static_cast<std::uint8_t>(
        (machine.groups.empty() ? 0 : kHasGroups) | (machine.after.empty() ? 0 : kHasAfter) |
        (machine.prefer_labels.empty() ? 0 : kHasPreferLabels) | (machine.protect ? kProtected : 0));
    for (model::GroupIndex g : machine.groups)
      state.in_affinity |= cloud.groups[g].kind == model::GroupKind::affinity ? 1 : 0;
    HostIndex host = machine.host;
    if (host >= host_count) continue;
    residents_[host].push_back(v);
    room_[host].cpu_used += machine.cpus;
    room_[host].memory_used += static_cast<double>(machine.memory_mib);
  }
  order_hosts();
  blocked_.assign(host_count, 0);
  endpoint_starts_.assign(cloud.endpoints.size(), 0.0);
  movable_.resize(cloud.endpoints.size());
  host_starts_.assign(host_count, 0.0);
  regular_tree_ = HostLoadTree(host_count);
  spare_tree_ = HostLoadTree(host_count);
  regular_only_ = {&regular_tree_};
  spare_only_ = {&spare_tree_};
  for (HostIndex h = 0; h < host_count; ++h) refresh_host(h);
}

void PlacementEngine::order_hosts() {
  const std::size_t host_count = cloud_.hosts.size();
  std::set<model::Symbol> keys;  // label keys some VM requires or prefers
  for (const auto& machine : cloud_.vms) {
    for (const auto& label : machine.require_labels) keys.insert(label.key);
    for (const auto& label : machine.prefer_labels) keys.insert(label.key);
  }
  std::vector<std::vector<std::pair<model::Symbol, model::Symbol>>> labels(host_count);
  for (HostIndex h = 0; h < host_count; ++h) {
    for (const auto& label : cloud_.hosts[h].labels) {
      if (keys.count(label.key)) labels[h].push_back({label.key, label.value});
    }
    std::sort(labels[h].begin(), labels[h].end());
  }
  host_at_.resize(host_count);
  std::iota(host_at_.begin(), host_at_.end(), HostIndex{0});
  std::sort(host_at_.begin(), host_at_.end(), [&](HostIndex a, HostIndex b) {
    const model::Host& x = cloud_.hosts[a];
    const model::Host& y = cloud_.hosts[b];
    if (x.arch != y.arch) return x.arch < y.arch;
    if (x.networks != y.networks) return x.networks < y.networks;
    if (labels[a] != labels[b]) return labels[a] < labels[b];
    if (x.arrays != y.arrays) return x.arrays < y.arrays;
    return a < b;
  });
  position_.resize(host_count);
  for (std::uint32_t p = 0; p < host_count; ++p) position_[host_at_[p]] = p;
  std::map<model::Symbol, std::vector<std::uint32_t>> by_arch, by_network;
  std::map<std::pair<model::Symbol, model::Symbol>, std::vector<std::uint32_t>> by_label;
  std::vector<std::vector<std::uint32_t>> by_array(cloud_.arrays.size());
  for (HostIndex h = 0; h < host_count; ++h) {
    const model::Host& host = cloud_.hosts[h];
    const std::uint32_t p = position_[h];
    by_arch[host.arch].push_back(p);
    for (auto network : host.networks) by_network[network].push_back(p);
    for (const auto& label : host.labels) by_label[{label.key, label.value}].push_back(p);
    for (auto array : host.arrays) by_array[array].push_back(p);
  }
  for (auto& [arch, positions] : by_arch) runs_by_arch_[arch] = runs_of(std::move(positions));
  for (auto& [network, positions] : by_network) runs_by_network_[network] = runs_of(std::move(positions));
  for (auto& [label, positions] : by_label) runs_by_label_[label] = runs_of(std::move(positions));
  runs_by_array_.resize(cloud_.arrays.size());
  for (std::size_t a = 0; a < by_array.size(); ++a) runs_by_array_[a] = runs_of(std::move(by_array[a]));
}

void PlacementEngine::refresh_host(HostIndex host) {
  const bool usable = role_[host] == HostRole::available && !blocked_[host];
  (spare_[host] ? spare_tree_ : regular_tree_)
      .set(position_[host], host, usable, load_of(host), room_[host].cpu_capacity - room_[host].cpu_used,
           room_[host].memory_capacity - room_[host].memory_used);
}

double PlacementEngine::load_of(HostIndex host) const {
  double cpu = room_[host].cpu_capacity > 0 ? room_[host].cpu_used / room_[host].cpu_capacity : 1.0;
  double memory =
      room_[host].memory_capacity > 0 ? room_[host].memory_used / room_[host].memory_capacity : 1.0;
  return std::max(cpu, memory);
}

void PlacementEngine::add_vm_load(HostIndex host, VmIndex vm, double sign) {
  room_[host].cpu_used += sign * vm_[vm].cpus;
  room_[host].memory_used += sign * vm_[vm].memory;
  refresh_host(host);
}

double PlacementEngine::vm_size(VmIndex vm) const {
  return std::max(cloud_.vms[vm].cpus / cpu_scale_,
                  static_cast<double>(cloud_.vms[vm].memory_mib) / memory_scale_);
}

bool PlacementEngine::statically_compatible(VmIndex vm, HostIndex host) const {
  const model::Vm& machine = cloud_.vms[vm];
  const model::Host& target = cloud_.hosts[host];
  model::Symbol arch =
      machine.host < cloud_.hosts.size() ? cloud_.hosts[machine.host].arch : cloud_.default_arch();
  if (target.arch != arch) return false;
  for (const auto& label : machine.require_labels) {
    if (!cloud_.has_label(host, label)) return false;
  }
  for (auto network : machine.networks) {
    if (!cloud_.has_network(host, network)) return false;
  }
  for (auto d = machine.first_disk; d < cloud_.vm_disk_end(vm); ++d) {
    if (!cloud_.reaches_array(host, cloud_.disks[d].array)) return false;
  }
  return true;
}

std::size_t PlacementEngine::candidate_set_of(VmIndex vm) {
  if (vm_[vm].set != kNoSet) return vm_[vm].set;
  const model::Vm& machine = cloud_.vms[vm];
  // The key in scratch vectors (no allocation per VM); neighbouring VMs (of one host) often share it.
  std::vector<model::Index>& requirements = requirements_scratch_;
  requirements.clear();
  requirements.push_back(machine.host < cloud_.hosts.size() ? cloud_.hosts[machine.host].arch
                                                            : cloud_.default_arch());
  requirements.push_back(static_cast<model::Index>(machine.require_labels.size()));
  for (const auto& label : machine.require_labels) {
    requirements.push_back(label.key);
    requirements.push_back(label.value);
  }
  requirements.push_back(static_cast<model::Index>(machine.networks.size()));
  requirements.insert(requirements.end(), machine.networks.begin(), machine.networks.end());
  std::vector<model::Index>& arrays = arrays_scratch_;
  arrays.clear();
  for (auto d = machine.first_disk; d < cloud_.vm_disk_end(vm); ++d) arrays.push_back(cloud_.disks[d].array);
  std::sort(arrays.begin(), arrays.end());
  arrays.erase(std::unique(arrays.begin(), arrays.end()), arrays.end());
  requirements.insert(requirements.end(), arrays.begin(), arrays.end());

  if (last_set_ != kNoSet && requirements == last_requirements_) return vm_[vm].set = last_set_;
  if (auto found = set_by_requirements_.find(requirements.data(), requirements.size());
      found != WordKeyMap::kNone) {
    last_requirements_ = requirements;
    last_set_ = found;
    return vm_[vm].set = found;
  }
  // The compatible hosts: the runs of the VM's arch, required labels, networks and arrays, intersected.
  static const PositionRuns kNone;
  auto runs_in = [](const auto& map, const auto& key) -> const PositionRuns& {
    auto found = map.find(key);
    return found == map.end() ? kNone : found->second;
  };
  PositionRuns runs = runs_in(runs_by_arch_, requirements[0]);
  for (const auto& label : machine.require_labels)
    runs = intersect(runs, runs_in(runs_by_label_, std::pair{label.key, label.value}));
  for (auto network : machine.networks) runs = intersect(runs, runs_in(runs_by_network_, network));
  for (auto array : arrays) runs = intersect(runs, runs_by_array_[array]);
  std::size_t set;
  // Runs as words (two per run) for the map.
  const auto* run_words = reinterpret_cast<const std::uint32_t*>(runs.data());
  static_assert(sizeof(PositionRun) == 2 * sizeof(std::uint32_t));
  if (auto found = set_by_runs_.find(run_words, 2 * runs.size()); found != WordKeyMap::kNone) {
    set = found;
  } else {
    set = sets_.size();
    CandidateSet candidates;
    candidates.runs = runs;
    candidates.nodes = regular_tree_.cover(runs);
    candidates.size = count(runs);
    candidates.small = candidates.size * 8 < cloud_.hosts.size();
    if (search_ != Search::indexed) {
      // The reference: every host tested one by one.
      for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
        if (statically_compatible(vm, h)) candidates.hosts.push_back(h);
      }
      if (search_ == Search::checked) {
        std::vector<HostIndex> indexed;
        for (const auto& run : runs) {
          for (auto p = run.begin; p < run.end; ++p) indexed.push_back(host_at_[p]);
        }
        std::sort(indexed.begin(), indexed.end());
        if (indexed != candidates.hosts) {
          throw std::logic_error(fmt::format("candidate hosts of {}: the index has {}, a scan {}",
                                             cloud_.vms[vm].name, indexed.size(), candidates.hosts.size()));
        }
      }
    }
    sets_.push_back(std::move(candidates));
    set_by_runs_.insert(run_words, 2 * runs.size(), static_cast<std::uint32_t>(set));
  }
  set_by_requirements_.insert(requirements.data(), requirements.size(), static_cast<std::uint32_t>(set));
  last_requirements_ = requirements;
  last_set_ = set;
  return vm_[vm].set = set;
}

bool PlacementEngine::fits(VmIndex vm, HostIndex host) const {
  return room_[host].cpu_used + vm_[vm].cpus <= room_[host].cpu_capacity + kEpsilon &&
         room_[host].memory_used + vm_[vm].memory <= room_[host].memory_capacity + kEpsilon;
}

bool PlacementEngine::groups_allow(VmIndex vm, HostIndex host) const {
  if (!(vm_[vm].traits & kHasGroups)) return true;
  for (model::GroupIndex g : cloud_.vms[vm].groups) {
    const model::Group& group = cloud_.groups[g];
    model::Index value = cloud_.scope_value(host, group.scope);
    const bool anti = group.kind == model::GroupKind::anti_affinity;
    for (VmIndex member : group.members) {
      HostIndex where = vm_[member].location;
      if (member == vm || where == kNoIndex || role_[where] == HostRole::failed) continue;
      // A drained partner not placed yet will follow; if it ends up waiting, run_pass settles the group.
      if (!anti && where == vm_[member].resting && !vm_[member].stays) continue;
      model::Index member_value = cloud_.scope_value(where, group.scope);
      if (anti ? (value != kNoIndex && value == member_value)
               : (value == kNoIndex || value != member_value)) {
        return false;
      }
    }
  }
  return true;
}

std::string PlacementEngine::group_conflict(VmIndex vm, HostIndex host) const {
  if (groups_allow(vm, host)) return {};
  for (model::GroupIndex g : cloud_.vms[vm].groups) {
    const model::Group& group = cloud_.groups[g];
    model::Index value = cloud_.scope_value(host, group.scope);
    for (VmIndex member : group.members) {
      if (member == vm) continue;
      HostIndex where = vm_[member].location;
      if (where == kNoIndex || role_[where] == HostRole::failed) continue;  // not placed yet, or dead
      model::Index member_value = cloud_.scope_value(where, group.scope);
      const std::string& scope = cloud_.symbols.name(group.scope);
      if (group.kind == model::GroupKind::anti_affinity) {
        if (value != kNoIndex && value == member_value) {
          return fmt::format("anti-affinity group {}: {} is on {} (same {})", group.name,
                             cloud_.vms[member].name, cloud_.hosts[where].name, scope);
        }
      } else if (value == kNoIndex || value != member_value) {
        return fmt::format("affinity group {}: {} is on {} (another {})", group.name, cloud_.vms[member].name,
                           cloud_.hosts[where].name, scope);
      }
    }
  }
  return {};
}

int PlacementEngine::preferred_count(VmIndex vm, HostIndex host) const {
  int count = 0;
  for (const auto& label : cloud_.vms[vm].prefer_labels) count += cloud_.has_label(host, label) ? 1 : 0;
  return count;
}

const std::vector<HostIndex>& PlacementEngine::preferred_pool(VmIndex vm) {
  static const std::vector<HostIndex> kNone;
  const auto& labels = cloud_.vms[vm].prefer_labels;
  auto hosts_with = [&](const model::Label& label) -> const std::vector<HostIndex>& {
    auto found = hosts_by_label_.find({label.key, label.value});
    return found == hosts_by_label_.end() ? kNone : found->second;
  };
  if (labels.size() == 1) return hosts_with(labels[0]);
  std::vector<model::Symbol> key;
  for (const auto& label : labels) {
    key.push_back(label.key);
    key.push_back(label.value);
  }
  auto [entry, inserted] = pools_.try_emplace(std::move(key));
  if (inserted) {
    auto& pool = entry->second;
    for (const auto& label : labels) {
      const auto& hosts = hosts_with(label);
      pool.insert(pool.end(), hosts.begin(), hosts.end());
    }
    std::sort(pool.begin(), pool.end());
    pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
  }
  return entry->second;
}

bool PlacementEngine::may_use_spares(VmIndex vm) const {
  // A VM drained from a host that is still up rests there; one of a failed host rests nowhere.
  return cloud_.policy.spares.maintenance || vm_[vm].resting == kNoIndex;
}

std::string PlacementEngine::preference_text(VmIndex vm, HostIndex host) const {
  const auto& labels = cloud_.vms[vm].prefer_labels;
  std::string carried;
  for (const auto& label : labels) {
    if (!cloud_.has_label(host, label)) continue;
    carried += (carried.empty() ? "" : ", ") + cloud_.symbols.name(label.key) + "=" +
               cloud_.symbols.name(label.value);
  }
  const int count = preferred_count(vm, host);
  if (count == 0) return fmt::format("carries none of its {} prefer_labels", labels.size());
  return fmt::format("carries {} of its {} prefer_labels ({})", count, labels.size(), carried);
}

HostIndex PlacementEngine::find_host(VmIndex vm, Scoring scoring, const std::vector<HostIndex>& avoid,
                                     double extra_cpus, double extra_memory_mib,
                                     const std::vector<VmIndex>* partners, const HostFilter* filter) {
  candidate_set_of(vm);
  const model::Vm& machine = cloud_.vms[vm];
  const double cpus = vm_[vm].cpus + extra_cpus;
  const double memory = vm_[vm].memory + extra_memory_mib;
  auto feasible = [&](HostIndex host) {
    if (role_[host] != HostRole::available) return false;
    if (filter && !(*filter)(host)) return false;
    if (!avoid.empty() && std::find(avoid.begin(), avoid.end(), host) != avoid.end()) return false;
    if (room_[host].cpu_used + cpus > room_[host].cpu_capacity + kEpsilon ||
        room_[host].memory_used + memory > room_[host].memory_capacity + kEpsilon) {
      return false;
    }
    if (partners) {
      for (VmIndex partner : *partners) {
        if (!statically_compatible(partner, host)) return false;
      }
    }
    return groups_allow(vm, host);
  };
  if (search_ == Search::indexed) return find_host_indexed(vm, scoring, cpus, memory, feasible);
  const HostIndex scanned = find_host_by_scan(vm, scoring, feasible);
  if (search_ == Search::checked) {
    const HostIndex indexed = find_host_indexed(vm, scoring, cpus, memory, feasible);
    if (indexed != scanned) {
      auto name = [&](HostIndex h) { return h == kNoIndex ? std::string("none") : cloud_.hosts[h].name; };
      throw std::logic_error(fmt::format("host for {} ({}): the index finds {}, a scan {}", machine.name,
                                         scoring == Scoring::spread ? "spread" : "best fit", name(indexed),
                                         name(scanned)));
    }
  }
  return scanned;
}

// Ranking (both searches): the spares tier first or last (policy.spares.order; spares only for VMs that may
// use them), then within a tier the most prefer_labels carried, then load (spread: least loaded first; best
// fit: most loaded first), ties to the lower index, but for one case kept from when large candidate sets
// were walked in the load order of all hosts: the packing pass among the hosts of a set of at least 1/8 of
// the hosts carrying none of the VM's prefer_labels breaks ties to the higher index.
template <typename Feasible>
HostIndex PlacementEngine::find_host_indexed(VmIndex vm, Scoring scoring, double cpus, double memory,
                                             const Feasible& feasible) {
  const std::size_t set = vm_[vm].set;
  static const std::vector<model::Label> kNoLabels;
  static const std::vector<model::GroupIndex> kNoGroups;
  const auto& labels = vm_[vm].traits & kHasPreferLabels ? cloud_.vms[vm].prefer_labels : kNoLabels;
  // A member of an affinity group already running or planned confines the VM to its host, or to hosts
  // with its scope value: every other host fails groups_allow, so only those are looked at.
  HostIndex pinned = kNoIndex;
  std::optional<PositionRuns> within;
  for (model::GroupIndex g : vm_[vm].traits& kHasGroups ? cloud_.vms[vm].groups : kNoGroups) {
    const model::Group& group = cloud_.groups[g];
    if (group.kind != model::GroupKind::affinity) continue;
    for (VmIndex member : group.members) {
      HostIndex where = vm_[member].location;
      if (member == vm || where == kNoIndex || role_[where] == HostRole::failed) continue;
      if (where == vm_[member].resting && !vm_[member].stays) continue;  // a drained partner will follow
      if (group.scope == cloud_.scope_host()) {
        if (pinned != kNoIndex && pinned != where) return kNoIndex;
        pinned = where;
        continue;
      }
      model::Index value = cloud_.scope_value(where, group.scope);
      auto found = runs_by_label_.find({group.scope, value});
      if (value == kNoIndex || found == runs_by_label_.end()) return kNoIndex;
      within = within ? intersect(*within, found->second) : found->second;
    }
  }
  if (pinned != kNoIndex) {
    const bool usable = role_[pinned] == HostRole::available && !blocked_[pinned] &&
                        (!spare_[pinned] || may_use_spares(vm)) &&
                        contains(sets_[set].runs, position_[pinned]);
    return usable && feasible(pinned) ? pinned : kNoIndex;
  }
  auto order = [&](bool ties_to_lower) {
    if (scoring == Scoring::spread) return LoadOrder::ascending;
    return ties_to_lower ? LoadOrder::descending_low_first : LoadOrder::descending_high_first;
  };
  std::vector<std::uint32_t> within_nodes;
  if (within) within_nodes = regular_tree_.cover(intersect(sets_[set].runs, *within));
  auto tier = [&](const HostLoadTree& tree, bool spares) -> HostIndex {
    const std::vector<const HostLoadTree*>& trees = &tree == &spare_tree_ ? spare_only_ : regular_only_;
    if (labels.size() == 1) {
      std::vector<std::uint32_t> nodes;
      if (within) {
        auto found = runs_by_label_.find({labels[0].key, labels[0].value});
        if (found != runs_by_label_.end())
          nodes = regular_tree_.cover(intersect(intersect(sets_[set].runs, *within), found->second));
      }
      HostIndex preferred = tree_search_.run(trees, within ? nodes : preferred_cover(set, labels[0]),
                                             order(true), cpus, memory, feasible);
      if (preferred != kNoIndex) return preferred;
    } else if (labels.size() > 1) {
      // Several labels: how many a host carries ranks first; every host carrying one is looked at.
      const CandidateSet& candidates = sets_[set];
      HostIndex best = kNoIndex;
      int best_count = -1;
      double best_load = 0;
      for (HostIndex host : preferred_pool(vm)) {
        if ((spare_[host] != 0) != spares || !contains(candidates.runs, position_[host]) || !feasible(host))
          continue;
        int count = preferred_count(vm, host);
        double load = load_of(host);
        if (best == kNoIndex || count > best_count ||
            (count == best_count && (scoring == Scoring::spread ? load < best_load : load > best_load))) {
          best = host;
          best_count = count;
          best_load = load;
        }
      }
      if (best != kNoIndex) return best;
    }
    return tree_search_.run(trees, within ? within_nodes : sets_[set].nodes,
                            order(spares || sets_[set].small), cpus, memory, feasible);
  };
  auto regular = [&]() { return tier(regular_tree_, false); };
  if (spares_.empty()) return regular();
  auto spare = [&]() { return may_use_spares(vm) ? tier(spare_tree_, true) : kNoIndex; };
  const bool spares_first = cloud_.policy.spares.order == model::SpareOrder::first;
  HostIndex found = spares_first ? spare() : regular();
  if (found != kNoIndex) return found;
  return spares_first ? regular() : spare();
}

// The reference search: every candidate host looked at.
template <typename Feasible>
HostIndex PlacementEngine::find_host_by_scan(VmIndex vm, Scoring scoring, const Feasible& feasible) {
  const CandidateSet& candidates = sets_[vm_[vm].set];
  const model::Vm& machine = cloud_.vms[vm];
  auto is_candidate = [&](HostIndex host) {
    return std::binary_search(candidates.hosts.begin(), candidates.hosts.end(), host);
  };
  // The best feasible host of `hosts` (by index) in one tier: most prefer_labels, then load; ties to the
  // lower index.
  auto best_among = [&](const std::vector<HostIndex>& hosts, bool spares, bool check_membership) {
    HostIndex best = kNoIndex;
    int best_count = -1;
    double best_load = 0;
    for (HostIndex host : hosts) {
      if ((spare_[host] != 0) != spares || (check_membership && !is_candidate(host)) || !feasible(host)) {
        continue;
      }
      int count = preferred_count(vm, host);
      double load = load_of(host);
      bool better =
          best == kNoIndex || count > best_count ||
          (count == best_count && (scoring == Scoring::spread ? load < best_load : load > best_load));
      if (better) {
        best = host;
        best_count = count;
        best_load = load;
      }
    }
    return best;
  };
  auto regular = [&]() -> HostIndex {
    if (candidates.small) return best_among(candidates.hosts, false, false);
    // Every host carrying one of its prefer_labels outranks every host carrying none.
    if (!machine.prefer_labels.empty()) {
      HostIndex preferred = best_among(preferred_pool(vm), false, true);
      if (preferred != kNoIndex) return preferred;
    }
    // The first feasible host in the order of (load, index): least loaded first when spreading, most
    // loaded first when packing (ties to the higher index).
    HostIndex best = kNoIndex;
    double best_load = 0;
    for (HostIndex host : candidates.hosts) {
      if (spare_[host] || !feasible(host)) continue;
      double load = load_of(host);
      if (best == kNoIndex || (scoring == Scoring::spread ? load < best_load : load >= best_load)) {
        best = host;
        best_load = load;
      }
    }
    return best;
  };
  if (spares_.empty()) return regular();
  auto spare = [&]() { return may_use_spares(vm) ? best_among(spares_, true, true) : kNoIndex; };
  HostIndex found = cloud_.policy.spares.order == model::SpareOrder::first ? spare() : regular();
  if (found != kNoIndex) return found;
  return cloud_.policy.spares.order == model::SpareOrder::first ? regular() : spare();
}

const std::vector<std::uint32_t>& PlacementEngine::preferred_cover(std::size_t set,
                                                                   const model::Label& label) {
  const std::uint32_t key[] = {static_cast<std::uint32_t>(set), label.key, label.value};
  if (std::uint32_t found = preferred_covers_.find(key, 3); found != WordKeyMap::kNone)
    return preferred_cover_lists_[found];
  preferred_covers_.insert(key, 3, static_cast<std::uint32_t>(preferred_cover_lists_.size()));
  auto& cover = preferred_cover_lists_.emplace_back();
  auto found = runs_by_label_.find({label.key, label.value});
  if (found != runs_by_label_.end()) cover = regular_tree_.cover(intersect(sets_[set].runs, found->second));
  return cover;
}

std::vector<HostIndex> PlacementEngine::repair_hosts(VmIndex vm, int limit) {
  if (search_ == Search::scan) return repair_hosts_by_scan(vm, limit);
  const std::size_t set = candidate_set_of(vm);
  const double cpus = cloud_.vms[vm].cpus;
  const double memory = static_cast<double>(cloud_.vms[vm].memory_mib);
  std::vector<HostIndex> hosts;
  std::vector<const HostLoadTree*> trees{&regular_tree_};
  if (may_use_spares(vm)) trees.push_back(&spare_tree_);
  constexpr double kAny = -std::numeric_limits<double>::infinity();
  tree_search_.run(trees, sets_[set].nodes, LoadOrder::ascending, kAny, kAny, [&](HostIndex host) {
    if (!groups_allow(vm, host)) return false;
    if (cpus > room_[host].cpu_capacity + kEpsilon || memory > room_[host].memory_capacity + kEpsilon)
      return false;
    hosts.push_back(host);
    return static_cast<int>(hosts.size()) >= limit;
  });
  if (search_ == Search::checked) {
    std::vector<HostIndex> scanned = repair_hosts_by_scan(vm, limit);
    if (hosts != scanned) {
      auto names = [&](const std::vector<HostIndex>& list) {
        std::string text;
        for (HostIndex h : list) text += " " + cloud_.hosts[h].name;
        return text;
      };
      throw std::logic_error(fmt::format("hosts to repair {}: the index has{}, a scan{}", cloud_.vms[vm].name,
                                         names(hosts), names(scanned)));
    }
  }
  return hosts;
}

std::vector<HostIndex> PlacementEngine::repair_hosts_by_scan(VmIndex vm, int limit) {
  const CandidateSet& candidates = sets_[candidate_set_of(vm)];
  const double cpus = cloud_.vms[vm].cpus;
  const double memory = static_cast<double>(cloud_.vms[vm].memory_mib);
  std::vector<std::pair<double, HostIndex>> ordered;
  for (HostIndex host : candidates.hosts) ordered.push_back({load_of(host), host});
  std::sort(ordered.begin(), ordered.end());
  std::vector<HostIndex> hosts;
  for (auto [load, host] : ordered) {
    if (role_[host] != HostRole::available || !spare_allowed(vm, host) || !groups_allow(vm, host)) continue;
    if (cpus > room_[host].cpu_capacity + kEpsilon || memory > room_[host].memory_capacity + kEpsilon)
      continue;
    hosts.push_back(host);
    if (static_cast<int>(hosts.size()) >= limit) break;
  }
  return hosts;
}

void PlacementEngine::set_search(Search search) {
  search_ = search;
  // Candidate sets hold the scanned hosts only when built for a scan: build them again.
  sets_.clear();
  set_by_requirements_.clear();
  set_by_runs_.clear();
  preferred_covers_.clear();
  preferred_cover_lists_.clear();
  last_set_ = kNoSet;
  for (VmState& state : vm_) state.set = kNoSet;
}

void PlacementEngine::assign(VmIndex vm, HostIndex host, Attempt& attempt, std::optional<Choice> choice) {
  if (choice) vm_[vm].decision = {*choice, load_of(host)};
  add_vm_load(host, vm, +1.0);
  vm_[vm].location = host;
  planned_on_[host].push_back(vm);
  vm_[vm].slot = attempt.placed.size();
  attempt.placed.push_back({vm, host});
  ++attempt.placed_count;
  attempt.weight += model::priority_weight(vm_[vm].effective);
}

void PlacementEngine::unassign(VmIndex vm, Attempt& attempt) {
  HostIndex host = vm_[vm].location;
  add_vm_load(host, vm, -1.0);
  vm_[vm].location = vm_[vm].resting;
  auto& planned = planned_on_[host];
  planned.erase(std::find(planned.begin(), planned.end(), vm));
  // Leave a hole (keeping the order of the others), then drop the holes at the end.
  attempt.placed[vm_[vm].slot] = {kNoIndex, kNoIndex};
  while (!attempt.placed.empty() && attempt.placed.back().first == kNoIndex) attempt.placed.pop_back();
  --attempt.placed_count;
  attempt.weight -= model::priority_weight(vm_[vm].effective);
}

void PlacementEngine::rollback(Attempt& attempt) {
  while (!attempt.placed.empty()) unassign(attempt.placed.back().first, attempt);
}

bool PlacementEngine::place_vm(VmIndex vm, Scoring scoring, Attempt& attempt) {
  static const std::vector<HostIndex> kNothingToAvoid;
  // Affinity on host scope with no member placed or staying yet: this VM anchors the group, so it first looks
  // for a host with room for the moving members still to come as well; failing that it goes alone (the group
  // binds only members that run).
  double extra_cpus = 0, extra_memory = 0;
  std::vector<VmIndex> partners;  // the moving members still to come, which must be able to join it
  static const std::vector<model::GroupIndex> kNoGroups;
  for (model::GroupIndex g : vm_[vm].traits& kHasGroups ? cloud_.vms[vm].groups : kNoGroups) {
    const model::Group& group = cloud_.groups[g];
    if (group.kind != model::GroupKind::affinity || group.scope != cloud_.scope_host()) continue;
    bool anchored = false;
    double group_cpus = 0, group_memory = 0;
    for (VmIndex member : group.members) {
      if (member == vm) continue;
      HostIndex where = vm_[member].location;
      if (where != kNoIndex && role_[where] != HostRole::failed) anchored = true;
      if (vm_[member].moving && where == kNoIndex) {
        group_cpus += cloud_.vms[member].cpus;
        group_memory += static_cast<double>(cloud_.vms[member].memory_mib);
      }
    }
    if (!anchored) {
      extra_cpus += group_cpus;
      extra_memory += group_memory;
      for (VmIndex member : group.members) {
        if (member != vm && vm_[member].moving && vm_[member].location == kNoIndex)
          partners.push_back(member);
      }
    }
  }
  const bool spreading = scoring == Scoring::spread;
  HostIndex host = kNoIndex;
  Choice choice = spreading ? Choice::least_loaded : Choice::most_loaded;
  if (extra_cpus > 0 || extra_memory > 0) {
    host = find_host(vm, scoring, kNothingToAvoid, extra_cpus, extra_memory, &partners);
    if (host != kNoIndex)
      choice = spreading ? Choice::group_room_least_loaded : Choice::group_room_most_loaded;
  }
  if (host == kNoIndex) host = find_host(vm, scoring, kNothingToAvoid);
  if (host == kNoIndex) return false;
  assign(vm, host, attempt, choice);
  return true;
}

bool PlacementEngine::repair(VmIndex vm, Scoring scoring, const PlannerOptions& options, Attempt& attempt) {
  const double cpus = cloud_.vms[vm].cpus;
  const double memory = static_cast<double>(cloud_.vms[vm].memory_mib);
  // Hosts to try, least loaded first; copied because moving VMs reorders them.
  for (HostIndex host : repair_hosts(vm, options.repair_attempts)) {
    const double cpu_short = room_[host].cpu_used + cpus - room_[host].cpu_capacity;
    const double memory_short = room_[host].memory_used + memory - room_[host].memory_capacity;
    // Planned VMs on this host whose departure alone makes room, smallest first.
    std::vector<VmIndex> movable;
    for (VmIndex other : planned_on_[host]) {
      const model::Vm& machine = cloud_.vms[other];
      bool in_affinity = std::any_of(machine.groups.begin(), machine.groups.end(), [&](model::GroupIndex g) {
        return cloud_.groups[g].kind == model::GroupKind::affinity;
      });
      if (in_affinity || machine.cpus + kEpsilon < cpu_short ||
          static_cast<double>(machine.memory_mib) + kEpsilon < memory_short) {
        continue;
      }
      movable.push_back(other);
    }
    std::sort(movable.begin(), movable.end(), [&](VmIndex a, VmIndex b) {
      double size_a = vm_size(a), size_b = vm_size(b);
      return size_a != size_b ? size_a < size_b : a < b;
    });
    for (VmIndex other : movable) {
      const Decision before = vm_[other].decision;
      unassign(other, attempt);
      HostIndex elsewhere = find_host(other, scoring, {host});
      if (elsewhere != kNoIndex) {
        assign(other, elsewhere, attempt, Choice::moved_by_repair);
        if (fits(vm, host) && groups_allow(vm, host)) {
          assign(vm, host, attempt, Choice::repair);
          return true;
        }
        unassign(other, attempt);
      } else if (vm_[other].effective > vm_[vm].effective && fits(vm, host) && groups_allow(vm, host)) {
        // Nowhere else for a VM of strictly lower priority: it gives way.
        assign(vm, host, attempt, Choice::repair);
        displace(other, vm, attempt);
        return true;
      }
      assign(other, host, attempt);
      vm_[other].decision = before;
    }
  }
  return displace_group_blockers(vm, scoring, attempt);
}

void PlacementEngine::displace(VmIndex loser, VmIndex winner, Attempt& attempt) {
  attempt.waiting.push_back(loser);
  attempt.waiting_reason_override[loser] =
      fmt::format("gave way to {} ({} priority), and fits nowhere else", cloud_.vms[winner].name,
                  model::to_string(vm_[winner].effective));
}

bool PlacementEngine::displace_group_blockers(VmIndex vm, Scoring scoring, Attempt& attempt) {
  // Members of its groups placed by this plan with strictly lower priority may be what keeps `vm` out: take
  // them out one at a time; if `vm` then fits, it stays and the member tries elsewhere.
  for (model::GroupIndex g : cloud_.vms[vm].groups) {
    for (VmIndex member : cloud_.groups[g].members) {
      HostIndex where = vm_[member].location;
      if (member == vm || !vm_[member].moving || where == kNoIndex || where == vm_[member].resting) continue;
      const Decision before = vm_[member].decision;
      unassign(member, attempt);
      if (place_vm(vm, scoring, attempt)) {
        // The member moves elsewhere if it can; one of strictly lower priority gives way; otherwise undo.
        if (place_vm(member, scoring, attempt)) return true;
        if (vm_[member].effective > vm_[vm].effective) {
          displace(member, vm, attempt);
          return true;
        }
        unassign(vm, attempt);
      }
      assign(member, where, attempt);
      vm_[member].decision = before;
    }
  }
  return false;
}

std::vector<VmIndex> PlacementEngine::placement_order(std::vector<VmIndex> moving, bool largest_first) const {
  auto size = [&](VmIndex v) { return vm_[v].size; };
  std::sort(moving.begin(), moving.end(), [&](VmIndex a, VmIndex b) {
    if (vm_[a].effective != vm_[b].effective) return vm_[a].effective < vm_[b].effective;
    if (depth_[a] != depth_[b]) return depth_[a] < depth_[b];
    if (size(a) != size(b)) return largest_first ? size(a) > size(b) : size(a) < size(b);
    return a < b;
  });
  return moving;
}

PlacementEngine::Attempt PlacementEngine::run_pass(const std::vector<VmIndex>& order, Scoring scoring,
                                                   const PlannerOptions& options) {
  Attempt attempt;
  for (VmIndex vm : order) vm_[vm].stays = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const VmIndex vm = order[i];
    prefetch_for_search(order, i);
    // A VM whose `after` dependency moves but waits, and does not keep running where it is, cannot start.
    std::string blocked;
    static const std::vector<VmIndex> kNoAfter;
    for (VmIndex dependency : vm_[vm].traits& kHasAfter ? cloud_.vms[vm].after : kNoAfter) {
      if (vm_[dependency].moving && vm_[dependency].location == kNoIndex) {
        blocked = fmt::format("waits for {} (after), which cannot be placed", cloud_.vms[dependency].name);
        break;
      }
    }
    if (blocked.empty()) {
      if (place_vm(vm, scoring, attempt)) continue;
      if (repair(vm, scoring, options, attempt)) continue;
    }
    attempt.waiting.push_back(vm);
    if (!blocked.empty()) attempt.waiting_reason_override[vm] = blocked;
  }
  // Repairs and displacements after a VM waited may have freed its room: one more round, in priority order.
  // Settling an affinity group around a drained VM that waits takes members off their targets, which frees
  // room too: then the waiting VMs get another round (at most kSettleRounds in all).
  constexpr int kSettleRounds = 4;
  for (int round = 0; round < kSettleRounds; ++round) {
    std::vector<VmIndex> retry;
    retry.swap(attempt.waiting);
    std::sort(retry.begin(), retry.end(), [&](VmIndex a, VmIndex b) {
      return vm_[a].effective != vm_[b].effective ? vm_[a].effective < vm_[b].effective : a < b;
    });
    for (VmIndex vm : retry) {
      if (vm_[vm].location != vm_[vm].resting) continue;  // placed meanwhile
      bool blocked = attempt.waiting_reason_override.count(vm) > 0 &&
                     attempt.waiting_reason_override[vm].rfind("waits for", 0) == 0;
      if (!blocked && (place_vm(vm, scoring, attempt) || repair(vm, scoring, options, attempt))) {
        attempt.waiting_reason_override.erase(vm);
        continue;
      }
      attempt.waiting.push_back(vm);
    }
    if (!settle_affinity_with_waiting_drained(attempt)) break;
  }
  return attempt;
}

void PlacementEngine::prefetch_for_search(const std::vector<VmIndex>& order, std::size_t i) const {
  // Only hints, in stages, each reading what the one before brought in: the state of the VM 16 places
  // ahead, the candidate set of the one 8 ahead, its cover 4 ahead, and the tree entries the search of the
  // VM 2 ahead starts from. At 20,000 hosts they are rarely in cache, and a search waits for each in turn.
  if (i + 16 < order.size()) __builtin_prefetch(&vm_[order[i + 16]]);
  auto set_of = [&](std::size_t ahead) -> const CandidateSet* {
    if (i + ahead >= order.size()) return nullptr;
    const std::size_t set = vm_[order[i + ahead]].set;
    return set < sets_.size() ? &sets_[set] : nullptr;
  };
  if (const CandidateSet* set = set_of(8)) __builtin_prefetch(set);
  if (const CandidateSet* set = set_of(4); set && !set->nodes.empty()) __builtin_prefetch(set->nodes.data());
  if (const CandidateSet* set = set_of(2)) {
    for (std::uint32_t entry : set->nodes) {
      if (entry >= regular_tree_.first_position_entry()) {
        __builtin_prefetch(&regular_tree_.at(entry - regular_tree_.first_position_entry()));
      } else {
        __builtin_prefetch(&regular_tree_.node(entry));
      }
    }
  }
}

void PlacementEngine::restore(Attempt& trial, Attempt& kept, const Snapshot& snapshot,
                              const std::vector<VmIndex>& order) {
  rollback(trial);
  rollback(kept);
  for (std::size_t i = 0; i < order.size(); ++i) vm_[order[i]].stays = snapshot.stays[i];
  for (std::size_t i = 0; i < snapshot.placed.size(); ++i) {
    auto [vm, host] = snapshot.placed[i];
    assign(vm, host, kept);
    vm_[vm].decision = snapshot.decisions[i];
  }
}

PlacementEngine::Snapshot PlacementEngine::snapshot(const Attempt& attempt,
                                                    const std::vector<VmIndex>& order) const {
  Snapshot taken;
  taken.placed.reserve(attempt.placed_count);
  taken.decisions.reserve(attempt.placed_count);
  for (auto [vm, host] : attempt.placed) {
    if (vm == kNoIndex) continue;
    taken.placed.push_back({vm, host});
    taken.decisions.push_back(vm_[vm].decision);
  }
  taken.stays.resize(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) taken.stays[i] = vm_[order[i]].stays;
  return taken;
}

bool PlacementEngine::could_fit_empty(VmIndex vm) {
  const double cpus = cloud_.vms[vm].cpus;
  const double memory = static_cast<double>(cloud_.vms[vm].memory_mib);
  for (const auto& run : sets_[candidate_set_of(vm)].runs) {
    for (auto p = run.begin; p < run.end; ++p) {
      HostIndex host = host_at_[p];
      if (role_[host] == HostRole::available && spare_allowed(vm, host) &&
          cpus <= room_[host].cpu_capacity + kEpsilon && memory <= room_[host].memory_capacity + kEpsilon) {
        return true;
      }
    }
  }
  return false;
}

std::vector<VmIndex> PlacementEngine::promoted(const std::vector<VmIndex>& order, VmIndex vm) const {
  const Priority priority = vm_[vm].effective;
  // The VMs to move up: `vm` and what it waits for within its class (moving, not placed by other means).
  std::vector<VmIndex> lifted{vm};
  for (std::size_t i = 0; i < lifted.size(); ++i) {
    for (VmIndex dependency : cloud_.vms[lifted[i]].after) {
      if (!vm_[dependency].moving || vm_[dependency].effective != priority) continue;
      if (std::find(lifted.begin(), lifted.end(), dependency) == lifted.end()) lifted.push_back(dependency);
    }
  }
  auto is_lifted = [&](VmIndex v) { return std::find(lifted.begin(), lifted.end(), v) != lifted.end(); };
  std::vector<VmIndex> result;
  result.reserve(order.size());
  std::size_t i = 0;
  for (; i < order.size() && vm_[order[i]].effective < priority; ++i) result.push_back(order[i]);
  // The lifted VMs keep their relative order (dependencies come first in `order`: lower depth).
  for (std::size_t j = i; j < order.size(); ++j) {
    if (is_lifted(order[j])) result.push_back(order[j]);
  }
  for (; i < order.size(); ++i) {
    if (!is_lifted(order[i])) result.push_back(order[i]);
  }
  return result;
}

PlacementEngine::Attempt PlacementEngine::improve(std::vector<VmIndex>& order, Scoring scoring, Attempt best,
                                                  const PlannerOptions& options) {
  if (options.improvement_passes <= 0 || order.empty()) return best;
  // Bounded: at most improvement_passes extra passes, fewer for requests moving many VMs (the work is about
  // passes x moving VMs).
  std::size_t budget = std::min<std::size_t>(static_cast<std::size_t>(options.improvement_passes),
                                             kImprovementWork / order.size());
  if (budget == 0) return best;
  // First the same units smallest first within each priority and depth: more VMs of a priority may fit where
  // one large one took the room.
  {
    Snapshot kept = snapshot(best, order);
    const double kept_weight = best.weight;
    std::vector<VmIndex> trial_order = placement_order(order, false);
    --budget;
    rollback(best);
    Attempt trial = run_pass(trial_order, scoring, options);
    if (trial.weight > kept_weight + kEpsilon) {
      best = std::move(trial);
      order = std::move(trial_order);
    } else {
      restore(trial, best, kept, order);
    }
  }
  bool improved = true;
  while (improved && budget > 0 && !best.waiting.empty()) {
    improved = false;
    Snapshot kept = snapshot(best, order);
    const double kept_weight = best.weight;
    // Waiting VMs, most valuable first, then in placement order.
    std::unordered_map<VmIndex, std::size_t> position;
    for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
    std::vector<VmIndex> candidates = best.waiting;
    std::sort(candidates.begin(), candidates.end(), [&](VmIndex a, VmIndex b) {
      return vm_[a].effective != vm_[b].effective ? vm_[a].effective < vm_[b].effective
                                                  : position[a] < position[b];
    });
    for (VmIndex vm : candidates) {
      if (budget == 0) break;
      if (!could_fit_empty(vm)) continue;  // no order helps a VM no available host can hold
      std::vector<VmIndex> trial_order = promoted(order, vm);
      if (trial_order == order) continue;
      --budget;
      rollback(best);
      Attempt trial = run_pass(trial_order, scoring, options);
      if (trial.weight > kept_weight + kEpsilon) {
        best = std::move(trial);
        order = std::move(trial_order);
        improved = true;
        break;
      }
      restore(trial, best, kept, order);
    }
  }
  return best;
}

double PlacementEngine::endpoint_limit(model::EndpointIndex endpoint) const {
  return static_cast<double>(std::max<std::uint32_t>(1, cloud_.endpoints[endpoint].max_parallel));
}

void PlacementEngine::spread_over_endpoints(Attempt& attempt, std::vector<VmIndex>& spread) {
  const std::size_t endpoint_count = cloud_.endpoints.size();
  if (endpoint_count < 2 || attempt.placed_count == 0) return;
  // A move frees room on its source; with VMs waiting, none of them may be able to use that room (they would
  // be left out needlessly, and their reasons would be wrong). Many waiting VMs: not worth checking.
  if (attempt.waiting.size() > kSpreadMaxWaiting) return;
  // Fewer restarts than the smallest endpoint's slots: every endpoint runs its starts in one wave.
  if (static_cast<double>(attempt.placed_count) <= smallest_endpoint_limit_) return;
  const double host_limit =
      static_cast<double>(std::max<std::uint32_t>(1, cloud_.policy.host_max_parallel_restarts));
  // The restarts planned, read once (in placement order the VMs' state is far apart in memory): what the
  // passes over them below read, kept up to date as VMs move. Their order does not matter (counts and sets).
  struct Start {
    VmIndex vm;
    HostIndex host;
    model::EndpointIndex endpoint;
    Priority priority;
    std::uint8_t movable;  // not in an affinity group, not moved yet (each VM moves at most once)
  };
  std::vector<Start> planned_starts;
  planned_starts.reserve(attempt.placed_count);
  for (auto [vm, host] : attempt.placed) {
    if (vm == kNoIndex || vm_[vm].resting != kNoIndex) continue;  // a hole, or a drained VM (no restart)
    planned_starts.push_back(
        {vm, host, endpoint_of_[host], vm_[vm].effective, static_cast<std::uint8_t>(!vm_[vm].in_affinity)});
  }
  auto frees_room_for_waiting = [&](VmIndex vm, HostIndex source) {
    if (attempt.waiting.empty()) return false;
    const double cpu_before = room_[source].cpu_used, memory_before = room_[source].memory_used;
    room_[source].cpu_used -= vm_[vm].cpus;
    room_[source].memory_used -= vm_[vm].memory;
    vm_[vm].location = kNoIndex;
    bool helps = std::any_of(attempt.waiting.begin(), attempt.waiting.end(), [&](VmIndex waiting) {
      return statically_compatible(waiting, source) && fits(waiting, source) && groups_allow(waiting, source);
    });
    vm_[vm].location = source;
    // Exactly as before (subtracting and adding back may round), so the index still holds.
    room_[source].cpu_used = cpu_before;
    room_[source].memory_used = memory_before;
    return helps;
  };
  // The scratch arrays are zero again on return; movable lists hold entries of `planned_starts`.
  auto& endpoint_starts = endpoint_starts_;
  auto& movable = movable_;
  auto& host_starts = host_starts_;
  std::vector<model::EndpointIndex> endpoints_touched;
  std::vector<HostIndex> hosts_touched;
  auto reset_class = [&] {
    for (auto e : endpoints_touched) {
      endpoint_starts[e] = 0;
      movable[e].clear();
    }
    endpoints_touched.clear();
    for (HostIndex h : hosts_touched) host_starts[h] = 0;
    hosts_touched.clear();
  };
  struct Reset {
    const decltype(reset_class)& reset;
    ~Reset() { reset(); }
  } reset_at_exit{reset_class};
  std::size_t work = 0;
  // Endpoints no VM may move to for the rest of a class (see the filter below) leave the index meanwhile,
  // so that searches do not wade through their hosts, which are often the least loaded ones.
  std::unordered_set<model::EndpointIndex> endpoint_blocked;
  std::vector<model::EndpointIndex> blocked;
  auto set_blocked = [&](model::EndpointIndex endpoint, bool block) {
    if (block) {
      endpoint_blocked.insert(endpoint);
    } else {
      endpoint_blocked.erase(endpoint);
    }
    std::vector<HostIndex>& hosts = touched_hosts_;
    for (HostIndex host : hosts_by_endpoint_[endpoint]) {
      blocked_[host] = block ? 1 : 0;
      hosts.push_back(host);
    }
    refresh_hosts(hosts);
  };
  auto unblock_all = [&] {
    for (auto endpoint : blocked) set_blocked(endpoint, false);
    blocked.clear();
  };
  struct Unblock {
    const decltype(unblock_all)& unblock;
    ~Unblock() { unblock(); }
  } unblock_at_exit{unblock_all};
  // Class by class, most important first: balance the restarts of that class and the classes before it (so
  // every tier, not only the last, finishes as early as the endpoints allow), moving VMs of that class only.
  // Per class, only the endpoints with starts are looked at (a request restarting a few VMs costs no more
  // for a cloud with many endpoints).
  for (int level = 0; level < model::kPriorityCount; ++level) {
    const auto priority = static_cast<Priority>(level);
    reset_class();
    // The VMs of this class each endpoint may give away (restarts, not in an affinity group): movable.
    bool has_class = false;
    for (std::uint32_t i = 0; i < planned_starts.size(); ++i) {
      const Start& start = planned_starts[i];
      if (start.priority > priority) continue;
      has_class = has_class || start.priority == priority;
      auto endpoint = start.endpoint;
      if (endpoint >= endpoint_count) continue;
      if (endpoint_starts[endpoint] == 0) endpoints_touched.push_back(endpoint);
      endpoint_starts[endpoint] += 1;
      if (start.priority == priority && start.movable) movable[endpoint].push_back(i);
    }
    if (!has_class) continue;
    // Endpoints by starts per slot, most first (ties to the lower index); those without starts left out.
    std::set<std::pair<double, model::EndpointIndex>> by_load;
    for (auto e : endpoints_touched) by_load.insert({-(endpoint_starts[e] / endpoint_limit(e)), e});
    if (by_load.empty() || !(-by_load.begin()->first > 1.0 + kEpsilon)) continue;  // one wave everywhere
    for (auto e : endpoints_touched) {
      auto& entries = movable[e];  // smallest first
      std::sort(entries.begin(), entries.end(), [&](std::uint32_t x, std::uint32_t y) {
        const VmIndex a = planned_starts[x].vm, b = planned_starts[y].vm;
        return vm_[a].size != vm_[b].size ? vm_[a].size < vm_[b].size : a < b;
      });
    }
    // Endpoints blocked in an earlier class stay out if the filter below rejects them now (then it does for
    // the whole class); the others come back.
    {
      const double worst_load = -by_load.begin()->first;
      const model::EndpointIndex worst = by_load.begin()->second;
      std::vector<model::EndpointIndex> still;
      for (auto e : blocked) {
        if (e == worst || (endpoint_starts[e] + 1) / endpoint_limit(e) >= worst_load - kEpsilon) {
          still.push_back(e);
        } else {
          set_blocked(e, false);
        }
      }
      blocked.swap(still);
    }
    auto add_start = [&](model::EndpointIndex e, double delta) {
      double& starts = endpoint_starts[e];
      if (starts == 0) endpoints_touched.push_back(e);
      if (starts != 0) by_load.erase({-(starts / endpoint_limit(e)), e});
      starts += delta;
      if (starts != 0) by_load.insert({-(starts / endpoint_limit(e)), e});
    };
    bool host_starts_known = false;  // host_starts filled only when some endpoint is over its limit
    for (;;) {
      // The endpoint with the most starts per slot; nothing to gain while every one runs them in one wave.
      const double worst_load = -by_load.begin()->first;
      if (!(worst_load > 1.0 + kEpsilon)) break;
      const model::EndpointIndex worst = by_load.begin()->second;
      if (!host_starts_known) {
        for (const Start& start : planned_starts) {
          if (start.priority > priority) continue;
          if (host_starts[start.host] == 0) hosts_touched.push_back(start.host);
          host_starts[start.host] += 1;
        }
        host_starts_known = true;
      }
      // A target qualifies when, with one more start, neither its endpoint nor the host itself is as loaded
      // as `worst` is now (a host within one wave of its own limit always qualifies on that count).
      // An endpoint that fails here fails for the rest of the class: the worst load never grows (a move goes
      // to an endpoint below it), and an endpoint's starts only shrink while it is the worst, when one more
      // start gives it the worst load again. So its hosts leave the index until the class is done.
      const HostFilter less_loaded = [&](HostIndex host) {
        auto endpoint = endpoint_of_[host];
        if (endpoint < endpoint_count) {
          if (endpoint == worst ||
              (endpoint_starts[endpoint] + 1) / endpoint_limit(endpoint) >= worst_load - kEpsilon) {
            if (!endpoint_blocked.count(endpoint)) {
              blocked.push_back(endpoint);
              set_blocked(endpoint, true);
            }
            return false;
          }
        }
        double host_load = (host_starts[host] + 1) / host_limit;
        return host_load <= 1.0 + kEpsilon || host_load < worst_load - kEpsilon;
      };
      // The worst endpoint's VMs, smallest first (those moved already gone: none comes back).
      auto& candidates = movable[worst];
      bool moved_one = false;
      for (auto it = candidates.begin(); it != candidates.end(); ++it) {
        Start& start = planned_starts[*it];
        const VmIndex vm = start.vm;
        if (++work > kSpreadWork) break;
        const HostIndex from = start.host;
        HostIndex to = find_host(vm, Scoring::spread, {}, 0, 0, nullptr, &less_loaded);
        if (to == kNoIndex || frees_room_for_waiting(vm, from)) continue;
        unassign(vm, attempt);
        assign(vm, to, attempt);
        add_start(worst, -1);
        if (endpoint_of_[to] < endpoint_count) add_start(endpoint_of_[to], +1);
        host_starts[from] -= 1;
        if (host_starts[to] == 0) hosts_touched.push_back(to);
        host_starts[to] += 1;
        start.host = to;
        start.endpoint = endpoint_of_[to];
        start.movable = 0;
        candidates.erase(it);
        spread.push_back(vm);
        moved_one = true;
        break;
      }
      if (!moved_one) break;
    }
  }
}

bool PlacementEngine::settle_affinity_with_waiting_drained(Attempt& attempt) {
  // A drained VM that waits keeps running on its source: members of its affinity groups that this plan sends
  // to another scope value are taken out and placed again within the staying member's scope, or wait.
  std::vector<std::pair<VmIndex, std::string>> displaced;
  for (std::size_t i = 0; i < attempt.waiting.size(); ++i) {
    VmIndex stuck = attempt.waiting[i];
    HostIndex rest = vm_[stuck].resting;
    if (rest == kNoIndex || vm_[stuck].stays) continue;
    vm_[stuck].stays = 1;
    for (model::GroupIndex g : cloud_.vms[stuck].groups) {
      const model::Group& group = cloud_.groups[g];
      if (group.kind != model::GroupKind::affinity) continue;
      model::Index value = cloud_.scope_value(rest, group.scope);
      for (VmIndex member : group.members) {
        HostIndex where = vm_[member].location;
        if (member == stuck || !vm_[member].moving || where == kNoIndex || where == vm_[member].resting)
          continue;
        if (value != kNoIndex && cloud_.scope_value(where, group.scope) == value) continue;
        unassign(member, attempt);
        displaced.push_back(
            {member, fmt::format("affinity group {}: {} waits and keeps running on {}", group.name,
                                 cloud_.vms[stuck].name, cloud_.hosts[rest].name)});
      }
    }
  }
  std::sort(displaced.begin(), displaced.end(), [&](const auto& a, const auto& b) {
    return vm_[a.first].effective != vm_[b.first].effective ? vm_[a.first].effective < vm_[b.first].effective
                                                            : a.first < b.first;
  });
  for (auto& [member, reason] : displaced) {
    if (place_vm(member, Scoring::spread, attempt)) continue;
    attempt.waiting.push_back(member);
    attempt.waiting_reason_override[member] = std::move(reason);
  }
  return !displaced.empty();
}

void PlacementEngine::begin_request(const PlanRequest& request, std::vector<VmIndex>& moving) {
  const std::size_t host_count = cloud_.hosts.size();
  auto check_host = [&](HostIndex h) {
    if (h >= host_count) throw std::invalid_argument(fmt::format("host index {} out of range", h));
  };
  for (HostIndex h : request.failed_hosts) check_host(h);
  for (HostIndex h : request.evacuated_hosts) check_host(h);
  for (HostIndex h : request.excluded_hosts) check_host(h);
  for (VmIndex v : request.only_vms) {
    if (v >= cloud_.vms.size()) throw std::invalid_argument(fmt::format("VM index {} out of range", v));
  }
  auto set_role = [&](HostIndex h, HostRole role) {
    saved_roles_.push_back({h, role_[h]});
    role_[h] = role;
    refresh_host(h);
  };
  for (HostIndex h : request.excluded_hosts) set_role(h, HostRole::excluded);
  for (HostIndex h : request.evacuated_hosts) set_role(h, HostRole::evacuated);
  for (HostIndex h : request.failed_hosts) set_role(h, HostRole::failed);

  if (!request.only_vms.empty()) {
    for (VmIndex v : request.only_vms) {
      if ((vm_[v].traits & kProtected) && !vm_[v].moving) {
        vm_[v].moving = 1;
        moving.push_back(v);
      }
    }
  } else {
    auto take_residents = [&](HostIndex h) {
      for (VmIndex v : residents_[h]) {
        if ((vm_[v].traits & kProtected) && !vm_[v].moving) {
          vm_[v].moving = 1;
          moving.push_back(v);
        }
      }
    };
    for (HostIndex h : request.failed_hosts) take_residents(h);
    for (HostIndex h : request.evacuated_hosts) take_residents(h);
  }
  // The index learns each source's load once, after all its VMs left.
  std::vector<HostIndex>& sources = touched_hosts_;
  sources.clear();
  for (VmIndex v : moving) {
    HostIndex from = vm_[v].location;
    lifted_.push_back({v, from});
    if (from != kNoIndex) {
      room_[from].cpu_used -= vm_[v].cpus;
      room_[from].memory_used -= vm_[v].memory;
      if (sources.empty() || sources.back() != from) sources.push_back(from);
    }
    // A VM drained from a host that is still up keeps running there until it moves (and if it waits).
    vm_[v].resting = from != kNoIndex && role_[from] == HostRole::evacuated ? from : kNoIndex;
    vm_[v].location = vm_[v].resting;
  }
  refresh_hosts(sources);
  // Their candidate sets, in index order: VMs of one host are neighbours in memory and often share one.
  for (VmIndex v : moving) candidate_set_of(v);
}

void PlacementEngine::refresh_hosts(std::vector<HostIndex>& hosts) {
  for (HostIndex host : hosts) {
    const bool usable = role_[host] == HostRole::available && !blocked_[host];
    (spare_[host] ? spare_tree_ : regular_tree_)
        .stage(position_[host], host, usable, load_of(host), room_[host].cpu_capacity - room_[host].cpu_used,
               room_[host].memory_capacity - room_[host].memory_used);
  }
  regular_tree_.commit();
  spare_tree_.commit();
  hosts.clear();
}

void PlacementEngine::end_request() {
  // The same arithmetic as unassigning each VM and putting it back, the index told once per host after.
  std::vector<HostIndex>& touched = touched_hosts_;
  touched.clear();
  for (auto it = lifted_.rbegin(); it != lifted_.rend(); ++it) {
    auto [vm, from] = *it;
    if (vm_[vm].location != kNoIndex && vm_[vm].location != vm_[vm].resting) {
      HostIndex host = vm_[vm].location;
      room_[host].cpu_used -= vm_[vm].cpus;
      room_[host].memory_used -= vm_[vm].memory;
      touched.push_back(host);
      planned_on_[host].clear();  // every VM planned there moved in this request
    }
    vm_[vm].location = from;
    vm_[vm].resting = kNoIndex;
    vm_[vm].stays = 0;
    if (from != kNoIndex) {
      room_[from].cpu_used += vm_[vm].cpus;
      room_[from].memory_used += vm_[vm].memory;
      touched.push_back(from);
    }
    vm_[vm].moving = 0;
  }
  lifted_.clear();
  refresh_hosts(touched);
  for (auto it = saved_roles_.rbegin(); it != saved_roles_.rend(); ++it) {
    role_[it->first] = it->second;
    refresh_host(it->first);
  }
  saved_roles_.clear();
}

std::string PlacementEngine::describe_needs(VmIndex vm) const {
  return fmt::format("{} and {}", cpus_text(cloud_.vms[vm].cpus),
                     gib(static_cast<double>(cloud_.vms[vm].memory_mib)));
}

std::string PlacementEngine::waiting_reason(VmIndex vm) const {
  std::string reason = waiting_reason_among_allowed(vm);
  std::size_t kept = 0;
  for (HostIndex h : spares_) {
    if (role_[h] == HostRole::available && !spare_allowed(vm, h) && statically_compatible(vm, h)) ++kept;
  }
  if (kept == 0) return reason;
  return fmt::format(
      "{}; {} compatible reserved host{} kept for failures (policy.spares.maintenance is false)", reason,
      kept, kept == 1 ? " is" : "s are");
}

std::string PlacementEngine::waiting_reason_among_allowed(VmIndex vm) const {
  const model::Vm& machine = cloud_.vms[vm];
  model::Symbol arch =
      machine.host < cloud_.hosts.size() ? cloud_.hosts[machine.host].arch : cloud_.default_arch();
  std::size_t available = 0, arch_ok = 0, labels_ok = 0, networks_ok = 0, arrays_ok = 0, room = 0;
  HostIndex most_free = kNoIndex;
  // Below any host's free memory, even an over-full host's (free memory can be negative), so that a
  // compatible host is always found when there is one.
  double most_free_memory = -std::numeric_limits<double>::infinity();
  std::string first_group_conflict;
  for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
    if (role_[h] != HostRole::available || !spare_allowed(vm, h)) continue;
    ++available;
    if (cloud_.hosts[h].arch != arch) continue;
    ++arch_ok;
    bool labels = std::all_of(machine.require_labels.begin(), machine.require_labels.end(),
                              [&](const model::Label& label) { return cloud_.has_label(h, label); });
    if (!labels) continue;
    ++labels_ok;
    bool networks = std::all_of(machine.networks.begin(), machine.networks.end(),
                                [&](model::Symbol network) { return cloud_.has_network(h, network); });
    if (!networks) continue;
    ++networks_ok;
    if (!statically_compatible(vm, h)) continue;
    ++arrays_ok;
    double free_memory = room_[h].memory_capacity - room_[h].memory_used;
    if (free_memory > most_free_memory) {
      most_free_memory = free_memory;
      most_free = h;
    }
    if (!fits(vm, h)) continue;
    ++room;
    if (first_group_conflict.empty()) first_group_conflict = group_conflict(vm, h);
  }
  auto list = [&](auto begin, auto end, auto name_of) {
    std::string text;
    for (auto it = begin; it != end; ++it) text += (text.empty() ? "" : ", ") + name_of(*it);
    return text;
  };
  const std::string arch_name = cloud_.symbols.name(arch);
  if (available == 0) return "no host is available: every other host is down, failed, draining or excluded";
  if (arch_ok == 0) return fmt::format("no available host of arch {}", arch_name);
  if (labels_ok == 0) {
    return fmt::format(
        "no available host of arch {} carries the required labels {}", arch_name,
        list(machine.require_labels.begin(), machine.require_labels.end(), [&](const model::Label& l) {
          return cloud_.symbols.name(l.key) + "=" + cloud_.symbols.name(l.value);
        }));
  }
  if (networks_ok == 0) {
    return fmt::format("no available compatible host is attached to all of its networks ({})",
                       list(machine.networks.begin(), machine.networks.end(),
                            [&](model::Symbol s) { return cloud_.symbols.name(s); }));
  }
  if (arrays_ok == 0) {
    std::vector<model::ArrayIndex> arrays;
    for (auto d = machine.first_disk; d < cloud_.vm_disk_end(vm); ++d)
      arrays.push_back(cloud_.disks[d].array);
    std::sort(arrays.begin(), arrays.end());
    arrays.erase(std::unique(arrays.begin(), arrays.end()), arrays.end());
    return fmt::format(
        "no available compatible host reaches every array of its disks ({})",
        list(arrays.begin(), arrays.end(), [&](model::ArrayIndex a) { return cloud_.arrays[a].name; }));
  }
  if (room == 0 && most_free != kNoIndex) {
    return fmt::format(
        "needs {}; none of the {} compatible hosts has that free after the plan (most free: {} with {} and "
        "{} "
        "free); free capacity on a compatible host or add a spare",
        describe_needs(vm), arrays_ok, cloud_.hosts[most_free].name,
        cpus_text(room_[most_free].cpu_capacity - room_[most_free].cpu_used), gib(most_free_memory));
  }
  if (!first_group_conflict.empty()) {
    return fmt::format("the {} compatible hosts with room are ruled out by its groups (e.g. {})", room,
                       first_group_conflict);
  }
  return fmt::format(
      "needs {}; the hosts with room were taken by VMs of equal or higher priority placed first",
      describe_needs(vm));
}

Plan PlacementEngine::plan(const PlanRequest& request, const PlannerOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<VmIndex> moving;
  struct Cleanup {
    PlacementEngine* engine;
    ~Cleanup() { engine->end_request(); }
  } cleanup{this};
  begin_request(request, moving);
  std::vector<VmIndex> order = placement_order(moving);
  Attempt best = run_pass(order, Scoring::spread, options);
  if (!best.waiting.empty()) {
    Scoring scoring = Scoring::spread;
    Snapshot spread = snapshot(best, order);
    const double spread_weight = best.weight;
    rollback(best);
    Attempt packed = run_pass(order, Scoring::best_fit, options);
    if (packed.weight > spread_weight + kEpsilon) {
      best = std::move(packed);
      scoring = Scoring::best_fit;
    } else {
      restore(packed, best, spread, order);
    }
    if (!best.waiting.empty()) best = improve(order, scoring, std::move(best), options);
  }
  std::vector<VmIndex> spread;
  if (options.spread_over_endpoints) spread_over_endpoints(best, spread);
  std::sort(spread.begin(), spread.end());

  Plan plan;
  plan.failed_hosts = request.failed_hosts;
  plan.evacuated_hosts = request.evacuated_hosts;
  std::unordered_map<VmIndex, HostIndex> origin;
  for (auto [vm, from] : lifted_) origin[vm] = from;
  for (auto [vm, host] : best.placed) {
    if (vm == kNoIndex) continue;
    Placement placement;
    placement.vm = vm;
    placement.from = origin[vm];
    placement.to = host;
    placement.effective_priority = vm_[vm].effective;
    placement.spread_over_endpoints = std::binary_search(spread.begin(), spread.end(), vm);
    placement.choice = vm_[vm].decision.choice;
    placement.load_when_chosen = vm_[vm].decision.load;
    if (vm_[vm].traits & kHasAfter) {
      for (VmIndex dependency : cloud_.vms[vm].after) {
        HostIndex where = vm_[dependency].location;
        bool dead = where != kNoIndex && role_[where] == HostRole::failed && !vm_[dependency].moving;
        if (!dead) placement.start_after.push_back(dependency);
      }
    }
    plan.placements.push_back(std::move(placement));
  }
  // Start order: priority, then VMs waited for before those waiting (a repair may have re-placed one later).
  std::stable_sort(plan.placements.begin(), plan.placements.end(),
                   [&](const Placement& a, const Placement& b) {
                     if (a.effective_priority != b.effective_priority)
                       return a.effective_priority < b.effective_priority;
                     return depth_[a.vm] < depth_[b.vm];
                   });
  std::sort(best.waiting.begin(), best.waiting.end(), [&](VmIndex a, VmIndex b) {
    return vm_[a].effective != vm_[b].effective ? vm_[a].effective < vm_[b].effective : a < b;
  });
  for (VmIndex vm : best.waiting) {
    Waiting waiting;
    waiting.vm = vm;
    waiting.from = origin[vm];
    waiting.effective_priority = vm_[vm].effective;
    auto reason = best.waiting_reason_override.find(vm);
    waiting.reason = reason != best.waiting_reason_override.end() ? reason->second : waiting_reason(vm);
    plan.waiting.push_back(std::move(waiting));
  }
  plan.plan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return plan;
}

std::string PlacementEngine::describe_host_rejection(VmIndex vm, HostIndex host) const {
  const model::Vm& machine = cloud_.vms[vm];
  switch (role_[host]) {
    case HostRole::failed:
      return "failed";
    case HostRole::evacuated:
      return "being drained";
    case HostRole::excluded:
      return "excluded from this plan";
    case HostRole::not_up:
      return fmt::format("state is {}", model::to_string(cloud_.hosts[host].state));
    case HostRole::available:
      break;
  }
  if (!spare_allowed(vm, host))
    return "a reserved spare, kept for failures (policy.spares.maintenance is false)";
  model::Symbol arch =
      machine.host < cloud_.hosts.size() ? cloud_.hosts[machine.host].arch : cloud_.default_arch();
  if (cloud_.hosts[host].arch != arch) {
    return fmt::format("arch {} is not the VM's {}", cloud_.symbols.name(cloud_.hosts[host].arch),
                       cloud_.symbols.name(arch));
  }
  for (const auto& label : machine.require_labels) {
    if (!cloud_.has_label(host, label)) {
      return fmt::format("lacks required label {}={}", cloud_.symbols.name(label.key),
                         cloud_.symbols.name(label.value));
    }
  }
  for (auto network : machine.networks) {
    if (!cloud_.has_network(host, network)) {
      return fmt::format("not attached to network {}", cloud_.symbols.name(network));
    }
  }
  for (auto d = machine.first_disk; d < cloud_.vm_disk_end(vm); ++d) {
    if (!cloud_.reaches_array(host, cloud_.disks[d].array)) {
      return fmt::format("cannot reach array {} (disk {})", cloud_.arrays[cloud_.disks[d].array].name,
                         cloud_.disks[d].name);
    }
  }
  if (!fits(vm, host)) {
    return fmt::format("not enough room after the plan: {} and {} free, needs {}",
                       cpus_text(room_[host].cpu_capacity - room_[host].cpu_used),
                       gib(room_[host].memory_capacity - room_[host].memory_used), describe_needs(vm));
  }
  return group_conflict(vm, host);
}

std::string PlacementEngine::chosen_reason(VmIndex vm, HostIndex host, Choice choice,
                                           double load_then) const {
  const bool labels = !cloud_.vms[vm].prefer_labels.empty();
  const bool spares = !spares_.empty() && may_use_spares(vm);
  const bool spares_first = cloud_.policy.spares.order == model::SpareOrder::first;
  std::string rank;  // how hosts were ranked before load
  if (spares && spare_[host]) {
    rank = spares_first ? ", spares first (policy.spares.order: first)"
                        : ", a reserved spare: no other host could take the VM (policy.spares.order: last)";
  } else if (spares) {
    rank = spares_first ? ", after no reserved spare could take it (policy.spares.order: first)"
                        : ", spares aside (policy.spares.order: last)";
  }
  if (labels) {
    rank += preferred_count(vm, host) > 0 ? ", among those carrying the most of its prefer_labels"
                                          : ", no feasible host carrying any of its prefer_labels";
  }
  std::string how;
  switch (choice) {
    case Choice::least_loaded:
      how = "the least loaded feasible host when the VM was placed" + rank;
      break;
    case Choice::most_loaded:
      how = "the most loaded feasible host when the VM was placed" + rank +
            " (the packing pass, kept because the spreading pass left VMs waiting and packing placed more "
            "priority weight)";
      break;
    case Choice::group_room_least_loaded:
    case Choice::group_room_most_loaded:
      how = fmt::format(
          "the {} loaded feasible host with room for the moving members of its affinity group "
          "still to come{}",
          choice == Choice::group_room_least_loaded ? "least" : "most", rank);
      break;
    case Choice::repair:
      how =
          "placed by a repair: no feasible host had room, so a VM planned here was moved elsewhere or gave "
          "way";
      break;
    case Choice::moved_by_repair:
      how = "moved here by a repair, off the host first chosen for it, to make room there for another VM";
      break;
    case Choice::saved:
      return fmt::format(
          "chosen: taken from the saved plan, which does not record how its targets were chosen; "
          "load {:.2f} with the rest of the plan{}",
          load_of(host), labels ? "; " + preference_text(vm, host) : "");
    case Choice::exact:
      return fmt::format(
          "chosen by the exact solver (CBC), which maximises placed priority weight and does not rank hosts "
          "by load or prefer_labels; load {:.2f} with the rest of the plan{}",
          load_of(host), labels ? "; " + preference_text(vm, host) : "");
  }
  return fmt::format("chosen: {}; {}load {:.2f} then, {:.2f} with the rest of the plan", how,
                     labels ? preference_text(vm, host) + "; " : "", load_then, load_of(host));
}

std::string PlacementEngine::passed_over_reason(VmIndex vm, HostIndex host, HostIndex chosen, Choice choice,
                                                double load_then) const {
  const std::string& there = cloud_.hosts[chosen].name;
  const double here_load = load_of(host), there_load = load_of(chosen);
  const std::string loads = fmt::format(
      "load {:.2f} here, {:.2f} on {} with the rest of the plan ({:.2f} there "
      "when it was chosen)",
      here_load, there_load, there, load_then);
  // A host that outranks the chosen one now could not take the VM when it was placed.
  const std::string not_then =
      "it could not take the VM when it was placed (no room or a group rule then; VMs planned or moved later "
      "changed that)";
  if (choice == Choice::exact || choice == Choice::saved) {
    return fmt::format(
        "feasible, but {} put the VM on {} (load {:.2f} here, {:.2f} there with the rest of the plan)",
        choice == Choice::exact ? "the exact solver" : "the saved plan", there, here_load, there_load);
  }
  if (choice == Choice::repair || choice == Choice::moved_by_repair) {
    return fmt::format("feasible now, given the final plan, but {}: the VM went to {} by a repair ({})",
                       not_then, there, loads);
  }
  const bool spares_first = cloud_.policy.spares.order == model::SpareOrder::first;
  if (may_use_spares(vm) && spare_[host] != spare_[chosen]) {
    const bool here_ranks_first = (spare_[host] != 0) == spares_first;
    if (here_ranks_first) return fmt::format("feasible now, but {}", not_then);
    return spare_[host] ? fmt::format(
                              "feasible, but a reserved spare: spares are taken only when no other host "
                              "can take the VM (policy.spares.order: last)")
                        : fmt::format(
                              "feasible, but spares are taken first (policy.spares.order: first) and {} "
                              "is one",
                              there);
  }
  const int here_count = preferred_count(vm, host), there_count = preferred_count(vm, chosen);
  if (here_count < there_count) {
    return fmt::format(
        "feasible, but {} carries more of its prefer_labels ({} against {} here) and ranks first", there,
        there_count, here_count);
  }
  if (here_count > there_count) {
    return fmt::format("feasible now and carries more of its prefer_labels ({} against {} on {}), but {}",
                       here_count, there_count, there, not_then);
  }
  const bool spreading = choice == Choice::least_loaded || choice == Choice::group_room_least_loaded;
  const bool group = choice == Choice::group_room_least_loaded || choice == Choice::group_room_most_loaded;
  const bool ranks_after_now = spreading ? here_load >= there_load : here_load <= there_load;
  if (ranks_after_now) {
    return fmt::format("feasible, but {} ranked first: {} loaded ({}){}", there, spreading ? "less" : "more",
                       loads,
                       group ? ", or this host had no room for its affinity group's other members" : "");
  }
  return fmt::format(
      "feasible and {} loaded with the rest of the plan ({}), but when the VM was placed {} "
      "ranked first: this host was {} loaded then, or {}",
      spreading ? "less" : "more", loads, there, spreading ? "more" : "less", not_then);
}

std::vector<HostVerdict> PlacementEngine::explain(const PlanRequest& request, const Plan& plan, VmIndex vm) {
  std::vector<VmIndex> moving;
  struct Cleanup {
    PlacementEngine* engine;
    ~Cleanup() { engine->end_request(); }
  } cleanup{this};
  begin_request(request, moving);
  if (vm >= cloud_.vms.size() || !vm_[vm].moving) {
    throw std::invalid_argument(
        fmt::format("{} does not move in this plan", vm < cloud_.vms.size() ? cloud_.vms[vm].name : "VM"));
  }
  Attempt replay;
  HostIndex chosen = kNoIndex;
  bool spread = false;
  Choice choice = Choice::least_loaded;
  double load_then = 0.0;
  std::vector<std::size_t> endpoint_starts(cloud_.endpoints.size(), 0);  // restarts planned per endpoint
  std::vector<std::size_t> host_starts(cloud_.hosts.size(), 0);          // and per target host
  for (const Placement& placement : plan.placements) {
    auto endpoint = cloud_.hosts[placement.to].endpoint;
    if (vm_[placement.vm].resting == kNoIndex) {
      if (endpoint < endpoint_starts.size()) ++endpoint_starts[endpoint];
      ++host_starts[placement.to];
    }
    if (placement.vm == vm) {
      chosen = placement.to;
      spread = placement.spread_over_endpoints;
      choice = placement.choice;
      load_then = placement.load_when_chosen;
      continue;
    }
    assign(placement.vm, placement.to, replay);
  }
  auto endpoint_text = [&](HostIndex host) {
    auto endpoint = endpoint_of_[host];
    if (endpoint >= endpoint_starts.size()) return std::string("no endpoint");
    return fmt::format("endpoint {}: {} restarts planned for max_parallel {}",
                       cloud_.endpoints[endpoint].name, endpoint_starts[endpoint],
                       cloud_.endpoints[endpoint].max_parallel);
  };
  std::vector<HostVerdict> verdicts;
  double chosen_load = chosen != kNoIndex ? load_of(chosen) : 0.0;
  for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
    HostVerdict verdict;
    verdict.host = h;
    std::string rejection = describe_host_rejection(vm, h);
    verdict.feasible = rejection.empty();
    verdict.chosen = h == chosen;
    if (!verdict.feasible) {
      verdict.reason = rejection;
    } else if (verdict.chosen && spread) {
      verdict.reason = fmt::format(
          "chosen: feasible, load {:.2f} before the VM; moved here off a less loaded host to spread restarts "
          "over endpoints ({})",
          load_of(h), endpoint_text(h));
    } else if (verdict.chosen) {
      verdict.reason = chosen_reason(vm, h, choice, load_then);
    } else if (spread && load_of(h) < chosen_load) {
      // Why the spreading phase did not take this less loaded host, judged on the final plan.
      auto endpoint = cloud_.hosts[h].endpoint, chosen_endpoint = cloud_.hosts[chosen].endpoint;
      auto per_slot = [&](model::EndpointIndex e, std::size_t extra) {
        return static_cast<double>(endpoint_starts[e] + extra) / endpoint_limit(e);
      };
      const bool endpoint_full = endpoint != chosen_endpoint && endpoint < endpoint_starts.size() &&
                                 (chosen_endpoint >= endpoint_starts.size() ||
                                  per_slot(endpoint, 1) > per_slot(chosen_endpoint, 0) + kEpsilon);
      const bool host_full =
          static_cast<double>(host_starts[h] + 1) >
          static_cast<double>(std::max<std::uint32_t>(1, cloud_.policy.host_max_parallel_restarts));
      if (endpoint_full) {
        verdict.reason = fmt::format(
            "feasible and less loaded ({:.2f} here vs {:.2f} on {}), but passed over to spread restarts over "
            "endpoints ({} here; {} for {})",
            load_of(h), chosen_load, cloud_.hosts[chosen].name, endpoint_text(h), endpoint_text(chosen),
            cloud_.hosts[chosen].name);
      } else if (host_full) {
        verdict.reason = fmt::format(
            "feasible and less loaded ({:.2f} here vs {:.2f} on {}), but passed over to spread restarts: {} "
            "restarts are planned here already (host_max_parallel_restarts {})",
            load_of(h), chosen_load, cloud_.hosts[chosen].name, host_starts[h],
            cloud_.policy.host_max_parallel_restarts);
      } else {
        verdict.reason = fmt::format(
            "feasible and less loaded now ({:.2f} here vs {:.2f} on {}); when the VM was moved to spread "
            "restarts over endpoints, {} was the least loaded host with endpoint room (VMs moved after it "
            "changed the loads)",
            load_of(h), chosen_load, cloud_.hosts[chosen].name, cloud_.hosts[chosen].name);
      }
    } else if (spread) {
      verdict.reason = fmt::format(
          "feasible, but when the VM was moved to spread restarts over endpoints {} ranked first among the "
          "hosts with endpoint room (spares, prefer_labels, then load; load {:.2f} here, {:.2f} there with "
          "the "
          "rest of the plan)",
          cloud_.hosts[chosen].name, load_of(h), chosen_load);
    } else if (chosen != kNoIndex) {
      verdict.reason = passed_over_reason(vm, h, chosen, choice, load_then);
    } else {
      verdict.reason = "feasible now, given the final plan (the VM waited for a dependency or was outranked)";
    }
    verdicts.push_back(std::move(verdict));
  }
  rollback(replay);
  return verdicts;
}

void PlacementEngine::on_vm_moved(VmIndex vm, HostIndex previous_host) {
  HostIndex now = cloud_.vms[vm].host;
  if (previous_host != kNoIndex && previous_host < residents_.size()) {
    add_vm_load(previous_host, vm, -1.0);
    auto& residents = residents_[previous_host];
    residents.erase(std::find(residents.begin(), residents.end(), vm));
  }
  if (now != kNoIndex && now < residents_.size()) {
    add_vm_load(now, vm, +1.0);
    auto& residents = residents_[now];
    residents.insert(std::lower_bound(residents.begin(), residents.end(), vm), vm);
  }
  vm_[vm].location = now;
}

void PlacementEngine::on_host_changed(HostIndex host) {
  role_[host] = cloud_.hosts[host].state == model::HostState::up ? HostRole::available : HostRole::not_up;
  const bool reserved = cloud_.hosts[host].reserved;
  if (reserved != (spare_[host] != 0)) {
    (spare_[host] ? spare_tree_ : regular_tree_).set(position_[host], host, false, 0, 0, 0);
    spare_[host] = reserved ? 1 : 0;
    auto at = std::lower_bound(spares_.begin(), spares_.end(), host);
    if (reserved) {
      spares_.insert(at, host);
    } else {
      spares_.erase(at);
    }
  }
  refresh_host(host);
}

}  // namespace revive::plan

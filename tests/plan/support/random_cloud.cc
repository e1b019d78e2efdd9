#include "plan/support/random_cloud.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace revive::plan::testing {
namespace {

using model::Cloud;
using model::GroupKind;
using model::HostIndex;
using model::Label;
using model::Symbol;
using model::VmIndex;

// Integer-only draws on mt19937_64, so a seed gives the same cloud with every standard library.
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  // Uniform in [low, high].
  int between(int low, int high) {
    if (high <= low) return low;
    return low + static_cast<int>(engine_() % static_cast<std::uint64_t>(high - low + 1));
  }
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  bool chance(double probability) { return unit() < probability; }
  double between_real(double low, double high) { return low + (high - low) * unit(); }
  template <typename Value, std::size_t Size>
  Value pick(const std::array<Value, Size>& values) {
    return values[static_cast<std::size_t>(between(0, static_cast<int>(Size) - 1))];
  }
  template <typename Value>
  Value pick(const std::vector<Value>& values) {
    return values[static_cast<std::size_t>(between(0, static_cast<int>(values.size()) - 1))];
  }

 private:
  std::mt19937_64 engine_;
};

std::string numbered(const char* prefix, std::size_t number, int width) {
  std::string digits = std::to_string(number);
  if (static_cast<int>(digits.size()) < width)
    digits.insert(0, static_cast<std::size_t>(width) - digits.size(), '0');
  return prefix + digits;
}

void sort_labels(std::vector<Label>& labels) {
  std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.key < b.key; });
}

template <typename Value>
std::vector<Value> nonempty_subset(Random& random, const std::vector<Value>& all, double keep_chance) {
  std::vector<Value> kept;
  for (const Value& value : all) {
    if (random.chance(keep_chance)) kept.push_back(value);
  }
  if (kept.empty()) kept.push_back(random.pick(all));
  std::sort(kept.begin(), kept.end());
  return kept;
}

struct Vocabulary {
  Symbol rack = 0;
  Symbol zone = 0;
  Symbol license = 0;
  Symbol oracle = 0;
  std::vector<Symbol> networks;
  std::vector<Symbol> arches;
};

Vocabulary make_vocabulary(Random& random, Cloud& cloud, const RandomCloudOptions& options) {
  Vocabulary words;
  words.rack = cloud.symbols.intern("rack");
  words.zone = cloud.symbols.intern("zone");
  words.license = cloud.symbols.intern("license");
  words.oracle = cloud.symbols.intern("oracle");
  int network_count = random.between(1, 4);
  for (int n = 0; n < network_count; ++n)
    words.networks.push_back(cloud.symbols.intern(numbered("net-", n, 1)));
  words.arches.push_back(cloud.default_arch());
  if (options.allow_mixed_arch && random.chance(0.25)) {
    words.arches.push_back(cloud.symbols.intern("aarch64"));
    if (random.chance(0.3)) words.arches.push_back(cloud.symbols.intern("ppc64le"));
  }
  return words;
}

void add_hosts(Random& random, Cloud& cloud, const Vocabulary& words, const RandomCloudOptions& options) {
  int host_count = random.between(options.min_hosts, options.max_hosts);
  int rack_count = random.between(1, std::max(1, host_count / 3));
  int zone_count = random.between(1, std::min(3, rack_count));
  std::vector<model::ArrayIndex> all_arrays;
  for (model::ArrayIndex a = 0; a < cloud.arrays.size(); ++a) all_arrays.push_back(a);
  for (int h = 0; h < host_count; ++h) {
    model::Host host;
    host.name = numbered("host-", static_cast<std::size_t>(h), 2);
    host.cpus = random.pick(std::array<std::uint32_t, 4>{8, 16, 32, 64});
    host.memory_mib = random.pick(std::array<std::uint64_t, 4>{32, 64, 128, 256}) * 1024;
    host.arch = words.arches.size() == 1 || random.chance(0.6) ? words.arches[0] : random.pick(words.arches);
    int rack = random.between(0, rack_count - 1);
    host.labels.push_back(
        {words.rack, cloud.symbols.intern(numbered("r", static_cast<std::size_t>(rack), 1))});
    host.labels.push_back(
        {words.zone, cloud.symbols.intern(numbered("z", static_cast<std::size_t>(rack % zone_count), 1))});
    if (random.chance(0.25)) host.labels.push_back({words.license, words.oracle});
    sort_labels(host.labels);
    host.networks = nonempty_subset(random, words.networks, 0.7);
    host.arrays = nonempty_subset(random, all_arrays, 0.75);
    host.endpoint = 0;
    host.reserved = options.allow_reserved && random.chance(0.1);
    if (options.allow_host_states) {
      double draw = random.unit();
      if (draw < 0.05) {
        host.state = model::HostState::maintenance;
      } else if (draw < 0.10) {
        host.state = model::HostState::down;
      }
    }
    cloud.hosts.push_back(std::move(host));
  }
}

model::Priority random_priority(Random& random) {
  double draw = random.unit();
  if (draw < 0.1) return model::Priority::critical;
  if (draw < 0.3) return model::Priority::high;
  if (draw < 0.7) return model::Priority::medium;
  return model::Priority::low;
}

// Fills each host (spares stay empty, down hosts sometimes) with VMs sized relative to the host.
void add_vms(Random& random, Cloud& cloud, const Vocabulary& words, const RandomCloudOptions& options) {
  constexpr std::array<double, 5> kShares{0.03, 0.06, 0.125, 0.25, 0.4};
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    const model::Host& host = cloud.hosts[h];
    if (host.reserved) continue;
    if (host.state == model::HostState::down && random.chance(0.5)) continue;
    double fill = random.between_real(options.min_fill, options.max_fill);
    double cpu_budget = cloud.usable_cpus(h) * fill;
    double memory_budget = cloud.usable_memory_mib(h) * fill;
    double cpu_used = 0;
    double memory_used = 0;
    for (int misses = 0; misses < 3 && static_cast<int>(cloud.vms.size()) < options.max_vms;) {
      auto cpus =
          static_cast<std::uint32_t>(std::max(1.0, std::floor(cloud.usable_cpus(h) * random.pick(kShares))));
      auto memory_mib = static_cast<std::uint64_t>(
          std::max(256.0, std::floor(cloud.usable_memory_mib(h) * random.pick(kShares) / 256.0) * 256.0));
      if (cpu_used + cpus > cpu_budget || memory_used + static_cast<double>(memory_mib) > memory_budget) {
        ++misses;
        continue;
      }
      cpu_used += cpus;
      memory_used += static_cast<double>(memory_mib);
      auto v = static_cast<VmIndex>(cloud.vms.size());
      model::Vm vm;
      vm.name = numbered("vm-", v, 3);
      vm.host = h;
      vm.cpus = cpus;
      vm.memory_mib = memory_mib;
      vm.priority = random_priority(random);
      vm.protect = !(options.allow_unprotected && random.chance(0.08));
      for (Symbol network : host.networks) {
        if (random.chance(0.5)) vm.networks.push_back(network);
      }
      vm.first_disk = static_cast<model::DiskIndex>(cloud.disks.size());
      vm.disk_count = static_cast<std::uint32_t>(random.between(0, 2));
      for (std::uint32_t d = 0; d < vm.disk_count; ++d) {
        cloud.disks.push_back({vm.name + "-disk" + std::to_string(d), random.pick(host.arrays),
                               static_cast<std::uint32_t>(random.between(10, 500)), v});
      }
      for (const Label& label : host.labels) {
        bool require = label.key == words.license ? random.chance(0.4)
                       : label.key == words.zone  ? random.chance(0.05)
                                                  : random.chance(0.03);
        if (require) vm.require_labels.push_back(label);
      }
      if (random.chance(0.1)) vm.prefer_labels.push_back(host.labels[0]);
      if (options.allow_after && v > 0 && random.chance(0.15)) {
        int count = random.between(1, 2);
        for (int d = 0; d < count; ++d) {
          auto dependency = static_cast<VmIndex>(random.between(0, static_cast<int>(v) - 1));
          if (std::find(vm.after.begin(), vm.after.end(), dependency) == vm.after.end()) {
            vm.after.push_back(dependency);
          }
        }
      }
      cloud.vms.push_back(std::move(vm));
    }
  }
}

// Groups that hold on the current placement: anti-affinity members in distinct scope values, affinity members
// in one.
void add_groups(Random& random, Cloud& cloud, const Vocabulary& words, const RandomCloudOptions& options) {
  if (cloud.vms.size() < 2) return;
  int group_count = random.between(0, 2 + static_cast<int>(cloud.hosts.size()) / 4);
  const int last_vm = static_cast<int>(cloud.vms.size()) - 1;
  for (int g = 0; g < group_count; ++g) {
    model::Group group;
    group.name = numbered("group-", static_cast<std::size_t>(g), 2);
    group.kind = random.chance(0.5) ? GroupKind::anti_affinity : GroupKind::affinity;
    if (!options.allow_affinity) group.kind = GroupKind::anti_affinity;
    double scope_draw = random.unit();
    group.scope = scope_draw < 0.5 ? cloud.scope_host() : scope_draw < 0.8 ? words.rack : words.zone;
    auto value_of = [&](VmIndex v) { return cloud.scope_value(cloud.vms[v].host, group.scope); };
    auto wanted = static_cast<std::size_t>(random.between(2, 4));
    if (group.kind == GroupKind::anti_affinity) {
      for (int attempt = 0; attempt < 30 && group.members.size() < wanted; ++attempt) {
        auto candidate = static_cast<VmIndex>(random.between(0, last_vm));
        bool clashes = std::any_of(group.members.begin(), group.members.end(),
                                   [&](VmIndex member) { return value_of(member) == value_of(candidate); });
        if (!clashes) group.members.push_back(candidate);
      }
    } else {
      auto first = static_cast<VmIndex>(random.between(0, last_vm));
      group.members.push_back(first);
      std::vector<VmIndex> together;
      for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
        if (v != first && value_of(v) == value_of(first)) together.push_back(v);
      }
      while (!together.empty() && group.members.size() < wanted) {
        auto at = static_cast<std::size_t>(random.between(0, static_cast<int>(together.size()) - 1));
        group.members.push_back(together[at]);
        together.erase(together.begin() + static_cast<std::ptrdiff_t>(at));
      }
    }
    if (group.members.size() < 2) continue;
    std::sort(group.members.begin(), group.members.end());
    cloud.groups.push_back(std::move(group));
  }
}

PlanRequest random_request(Random& random, const Cloud& cloud, const RandomCloudOptions& options) {
  PlanRequest request;
  std::vector<HostIndex> with_vms;
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.vms_on(h).empty()) continue;
    if (cloud.hosts[h].state == model::HostState::down) {
      request.failed_hosts.push_back(h);  // a down host with VMs has failed
    } else {
      with_vms.push_back(h);
    }
  }
  auto take = [&](std::vector<HostIndex>& from) {
    auto at = static_cast<std::size_t>(random.between(0, static_cast<int>(from.size()) - 1));
    HostIndex host = from[at];
    from.erase(from.begin() + static_cast<std::ptrdiff_t>(at));
    return host;
  };
  int failures = random.between(1, std::max(1, options.max_failed_hosts));
  for (int f = 0; f < failures && !with_vms.empty(); ++f) request.failed_hosts.push_back(take(with_vms));
  if (request.failed_hosts.empty() && !cloud.hosts.empty()) request.failed_hosts.push_back(0);
  if (!with_vms.empty() && random.chance(options.evacuation_chance)) {
    request.evacuated_hosts.push_back(take(with_vms));
  }
  if (random.chance(options.exclusion_chance)) {
    std::vector<HostIndex> others;
    for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
      bool moving = std::count(request.failed_hosts.begin(), request.failed_hosts.end(), h) > 0 ||
                    std::count(request.evacuated_hosts.begin(), request.evacuated_hosts.end(), h) > 0;
      if (!moving) others.push_back(h);
    }
    if (!others.empty()) request.excluded_hosts.push_back(take(others));
  }
  std::sort(request.failed_hosts.begin(), request.failed_hosts.end());
  return request;
}

}  // namespace

RandomCloudOptions tight_small_options() {
  RandomCloudOptions options;
  options.min_hosts = 5;
  options.max_hosts = 12;
  options.max_vms = 80;
  options.min_fill = 0.6;
  options.max_fill = 0.95;
  options.max_failed_hosts = 4;
  options.evacuation_chance = 0.1;
  options.exclusion_chance = 0.1;
  return options;
}

RandomInstance random_instance(std::uint64_t seed, const RandomCloudOptions& options) {
  Random random(seed);
  RandomInstance instance;
  Cloud& cloud = instance.cloud;
  cloud.policy.cpu_overcommit = random.pick(std::array<double, 3>{1.0, 2.0, 4.0});
  cloud.policy.memory_overcommit = random.chance(0.2) ? 1.5 : 1.0;
  cloud.endpoints.push_back({"mgmt-1", 16});
  int array_count = random.between(1, 3);
  for (int a = 0; a < array_count; ++a) cloud.arrays.push_back({numbered("array-", a, 1), 8});
  Vocabulary words = make_vocabulary(random, cloud, options);
  add_hosts(random, cloud, words, options);
  add_vms(random, cloud, words, options);
  cloud.rebuild_indexes();
  if (options.allow_groups) add_groups(random, cloud, words, options);
  cloud.rebuild_indexes();
  instance.request = random_request(random, cloud, options);
  return instance;
}

}  // namespace revive::plan::testing

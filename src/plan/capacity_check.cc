#include "plan/capacity_check.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "plan/placement_engine.h"

namespace revive::plan {

namespace {

// Number of k-subsets of n, saturating at `limit + 1`.
std::uint64_t combinations(std::uint64_t n, std::uint64_t k, std::uint64_t limit) {
  if (k > n) return 0;
  long double result = 1;
  for (std::uint64_t i = 1; i <= k; ++i) {
    result = result * static_cast<long double>(n - k + i) / static_cast<long double>(i);
    if (result > static_cast<long double>(limit)) return limit + 1;
  }
  return static_cast<std::uint64_t>(result + 0.5);
}

}  // namespace

bool for_each_failure(const model::Cloud& cloud, const CapacityCheckOptions& options,
                      const std::function<void(std::string, std::vector<model::HostIndex>)>& visit) {
  bool sampled = false;
  std::vector<model::HostIndex> up_hosts;
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.hosts[h].state == model::HostState::up) up_hosts.push_back(h);
  }
  auto set_name = [&](const std::vector<model::HostIndex>& hosts) {
    std::string name;
    for (auto h : hosts) name += (name.empty() ? "" : "+") + cloud.hosts[h].name;
    return name;
  };

  const auto tolerate = static_cast<std::uint64_t>(std::max(1, options.tolerate));
  for (auto h : up_hosts) visit(cloud.hosts[h].name, {h});
  if (tolerate == 1) {
    // single failures only
  } else if (combinations(up_hosts.size(), tolerate, options.max_combinations) <= options.max_combinations) {
    std::vector<std::size_t> pick(tolerate);
    for (std::size_t i = 0; i < tolerate; ++i) pick[i] = i;
    while (true) {
      std::vector<model::HostIndex> hosts;
      for (auto i : pick) hosts.push_back(up_hosts[i]);
      visit(set_name(hosts), hosts);
      std::size_t i = tolerate;
      while (i > 0 && pick[i - 1] == up_hosts.size() - tolerate + i - 1) --i;
      if (i == 0) break;
      ++pick[i - 1];
      for (std::size_t j = i; j < tolerate; ++j) pick[j] = pick[j - 1] + 1;
    }
  } else if (up_hosts.size() >= tolerate) {
    sampled = true;
    std::mt19937_64 random(options.seed);
    for (std::uint64_t s = 0; s < options.samples; ++s) {
      // Partial Fisher-Yates on a copy: N distinct hosts, deterministic for the seed.
      std::vector<model::HostIndex> pool = up_hosts;
      for (std::size_t i = 0; i < tolerate; ++i) {
        std::size_t j = i + static_cast<std::size_t>(random() % (pool.size() - i));
        std::swap(pool[i], pool[j]);
      }
      std::vector<model::HostIndex> hosts(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(tolerate));
      std::sort(hosts.begin(), hosts.end());
      visit(set_name(hosts), hosts);
    }
  }
  for (model::Symbol key : options.domain_keys) {
    std::map<std::string, std::vector<model::HostIndex>> hosts_by_value;
    for (auto h : up_hosts) {
      model::Index value = cloud.scope_value(h, key);
      if (value != model::kNoIndex) hosts_by_value[cloud.symbols.name(value)].push_back(h);
    }
    for (auto& [value, hosts] : hosts_by_value) visit(cloud.symbols.name(key) + "=" + value, hosts);
  }
  return sampled;
}

CapacityReport check_capacity(const model::Cloud& cloud, const CapacityCheckOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  CapacityReport report;
  PlacementEngine engine(cloud);
  PlannerOptions planner_options;
  report.sampled =
      for_each_failure(cloud, options, [&](std::string name, std::vector<model::HostIndex> hosts) {
        ++report.failures_checked;
        PlanRequest request;
        request.failed_hosts = hosts;
        Plan plan = engine.plan(request, planner_options);
        if (plan.waiting.empty()) return;
        CapacityShortfall shortfall;
        shortfall.failure = std::move(name);
        shortfall.failed_hosts = std::move(hosts);
        for (const auto& waiting : plan.waiting) {
          const auto& vm = cloud.vms[waiting.vm];
          ++shortfall.waiting_by_priority[static_cast<int>(waiting.effective_priority)];
          shortfall.waiting_cpus += vm.cpus;
          shortfall.waiting_memory_mib += static_cast<double>(vm.memory_mib);
          shortfall.largest_waiting_memory_mib =
              std::max(shortfall.largest_waiting_memory_mib, static_cast<double>(vm.memory_mib));
        }
        shortfall.plan = std::move(plan);
        report.shortfalls.push_back(std::move(shortfall));
      });
  report.check_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace revive::plan

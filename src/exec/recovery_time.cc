#include "exec/recovery_time.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <unordered_map>

#include "exec/bound.h"
#include "exec/dry_run.h"
#include "plan/placement_engine.h"

namespace revive::exec {
namespace {

constexpr std::uint32_t kUnlimited = 1U << 30;

// Resource ids of the what-if scheduler: arrays, then switches, then endpoints, then one without a limit.
struct Resources {
  std::uint32_t switch_base = 0, endpoint_base = 0, unlimited = 0;
  std::vector<std::uint32_t> capacity;

  explicit Resources(const model::Cloud& cloud) {
    for (const auto& array : cloud.arrays) capacity.push_back(std::max<std::uint32_t>(1, array.max_parallel));
    switch_base = static_cast<std::uint32_t>(capacity.size());
    for (const auto& each : cloud.switches) capacity.push_back(std::max<std::uint32_t>(1, each.max_parallel));
    endpoint_base = static_cast<std::uint32_t>(capacity.size());
    for (const auto& each : cloud.endpoints)
      capacity.push_back(std::max<std::uint32_t>(1, each.max_parallel));
    unlimited = static_cast<std::uint32_t>(capacity.size());
    capacity.push_back(kUnlimited);
  }
};

// A draw from the latency model. `habit` (a standard normal drawn once per VM and step kind for this run, for
// the several disks of one VM when no history knows it) carries the share `repeatability` of the variance,
// this step's own noise the rest; the marginal is the latency model's either way.
double draw(const StepLatency& latency, std::mt19937_64& random, double habit = 0.0,
            double repeatability = 0.0) {
  if (latency.spread <= 0.0) return latency.median_s;
  std::normal_distribution<double> normal(0.0, 1.0);
  double z = std::sqrt(repeatability) * habit + std::sqrt(1.0 - repeatability) * normal(random);
  return latency.median_s * std::exp(latency.spread * z);
}

// A draw around what the history knows of this subject's step (its median, and the spread around it), else
// around the latency model's.
double draw(const StepLatency& latency, const env::DurationEstimator* history, env::StepKind kind,
            model::Index subject, model::DiskIndex disk, std::mt19937_64& random) {
  if (history == nullptr) return draw(latency, random);
  StepLatency known{history->expected_s(kind, subject, disk),
                    history->noise_spread(kind).value_or(latency.spread)};
  return draw(known, random);
}

// The q-quantile of the distribution `values` are runs of, as a bound for a new run; sorts `values`.
double quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  // A prediction bound, not the sample's own quantile: the k-th smallest of n runs with k = ceil(q (n + 1)),
  // which a new run stays at or below with probability k / (n + 1) >= q. (The nearest rank ceil(q n) gives
  // 58 / 65 = 89.2% for the p90 of 64 runs even when the model is exact.)
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size() + 1) - 1e-9));
  return values[std::min(values.size(), std::max<std::size_t>(rank, 1)) - 1];
}

std::string advice_for(const model::Cloud& cloud, const std::string& binding) {
  auto named = [&](const char* prefix) -> std::string {
    auto length = std::char_traits<char>::length(prefix);
    return binding.compare(0, length, prefix) == 0 ? binding.substr(length) : std::string();
  };
  if (auto name = named("endpoint "); !name.empty()) {
    auto index = cloud.find_endpoint(name);
    return fmt::format(
        "endpoint {} accepts {} operations at once: raise its max_parallel, or spread its hosts "
        "over more endpoints",
        name, index == model::kNoIndex ? 0 : cloud.endpoints[index].max_parallel);
  }
  if (auto name = named("array "); !name.empty()) {
    auto index = cloud.find_array(name);
    return fmt::format(
        "array {} maps and unmaps {} disks at once: raise its max_parallel, or spread the "
        "disks over more arrays",
        name, index == model::kNoIndex ? 0 : cloud.arrays[index].max_parallel);
  }
  if (auto name = named("switch "); !name.empty()) {
    auto index = cloud.find_switch(name);
    return fmt::format("switch {} configures {} ports at once: raise its max_parallel", name,
                       index == model::kNoIndex ? 0 : cloud.switches[index].max_parallel);
  }
  if (auto name = named("host "); !name.empty()) {
    return fmt::format(
        "target {} starts {} VMs at once: raise policy.host_max_parallel_restarts, or keep "
        "more spare capacity elsewhere",
        name, cloud.policy.host_max_parallel_restarts);
  }
  if (auto name = named("chain of "); !name.empty()) {
    return fmt::format(
        "{}'s own steps (detection, fence, disks, start) take that long: a faster fence or "
        "start, or fewer disks",
        name);
  }
  return {};
}

}  // namespace

RecoveryTimeReport predict_recovery_times(const model::Cloud& cloud, const RecoveryTimeOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  RecoveryTimeReport report;
  plan::PlacementEngine engine(cloud);
  plan::PlannerOptions planner_options;
  Resources resources(cloud);
  DryRun dry_run(resources.capacity, std::max<std::uint32_t>(1, cloud.policy.host_max_parallel_restarts),
                 static_cast<std::uint32_t>(cloud.hosts.size()));
  const auto& latency = options.latencies;
  auto median_of = [&](env::StepKind kind, model::Index, model::DiskIndex) {
    switch (kind) {
      case env::StepKind::disk_unmap:
        return latency.disk_unmap.median_s;
      case env::StepKind::disk_map:
        return latency.disk_map.median_s;
      case env::StepKind::net_config:
        return latency.net_config.median_s;
      case env::StepKind::vm_start:
        return latency.vm_start.median_s;
      case env::StepKind::fence:
        return latency.fence.median_s;
      default:
        return 0.0;
    }
  };
  const auto samples = std::max<std::uint32_t>(1, options.samples);
  const double repeatability = std::clamp(latency.repeatability, 0.0, 1.0);

  report.sampled = plan::for_each_failure(
      cloud, options.failures, [&](std::string name, std::vector<model::HostIndex> hosts) {
        FailurePrediction prediction;
        prediction.failure = std::move(name);
        prediction.failed_hosts = hosts;
        plan::PlanRequest request;
        request.failed_hosts = hosts;
        auto plan = engine.plan(request, planner_options);
        for (int tier = 0; tier < model::kPriorityCount; ++tier) {
          prediction.tiers[tier].budget_s = cloud.policy.rto_s[tier];
        }
        for (const auto& placement : plan.placements) {
          ++prediction.tiers[static_cast<int>(placement.effective_priority)].vms;
        }
        for (const auto& waiting : plan.waiting) {
          auto& tier = prediction.tiers[static_cast<int>(waiting.effective_priority)];
          ++tier.vms;
          ++tier.waiting;
        }

        // The what-if schedule's inputs; durations are drawn per run.
        std::unordered_map<model::VmIndex, std::uint32_t> index_of;
        for (std::size_t i = 0; i < plan.placements.size(); ++i) {
          index_of[plan.placements[i].vm] = static_cast<std::uint32_t>(i);
        }
        std::vector<DryVm> vms(plan.placements.size());
        std::vector<double> deadlines(plan.placements.size());
        for (std::size_t i = 0; i < plan.placements.size(); ++i) {
          const auto& placement = plan.placements[i];
          auto& item = vms[i];
          item.priority = static_cast<std::uint8_t>(placement.effective_priority);
          item.order = i;
          for (auto d = cloud.vms[placement.vm].first_disk; d < cloud.vm_disk_end(placement.vm); ++d) {
            DryDisk disk;
            disk.resource =
                cloud.disks[d].array == model::kNoIndex ? resources.unlimited : cloud.disks[d].array;
            item.disks.push_back(disk);
          }
          auto network_switch = cloud.hosts[placement.to].network_switch;
          if (network_switch != model::kNoIndex) item.net_resource = resources.switch_base + network_switch;
          auto endpoint = cloud.hosts[placement.to].endpoint;
          item.start_resource =
              endpoint == model::kNoIndex ? resources.unlimited : resources.endpoint_base + endpoint;
          item.start_host = placement.to;
          for (auto other : placement.start_after) {
            auto found = index_of.find(other);
            if (found != index_of.end()) item.after.push_back(found->second);
          }
          deadlines[i] = static_cast<double>(item.priority);  // tier order: critical first
        }
        std::array<std::vector<double>, model::kPriorityCount> tier_times;
        std::mt19937_64 random(options.seed ^ (0x9E3779B97F4A7C15ULL * (report.failures_checked + 1)));
        // Per failed host: when it is declared (its VMs' disk and network steps may begin) and fenced (their
        // starts may begin), as the executor runs them (exec/executor.h).
        std::unordered_map<model::HostIndex, std::pair<double, double>> released;
        for (std::uint32_t run = 0; run < samples && !vms.empty(); ++run) {
          released.clear();
          for (auto host : hosts) {
            double declared = draw(latency.detect, random);
            released[host] = {declared, declared + draw(latency.fence, options.history, env::StepKind::fence,
                                                        host, model::kNoIndex, random)};
          }
          for (std::size_t i = 0; i < vms.size(); ++i) {
            auto& item = vms[i];
            item.release_s = released[plan.placements[i].from].first;
            item.fence_s = released[plan.placements[i].from].second;
            double longest = 0.0;
            auto vm = plan.placements[i].vm;
            // Without a history the VM's habit is unknown: drawn for this run, shared by its disks.
            double unmap_habit = 0.0, map_habit = 0.0;
            if (options.history == nullptr) {
              std::normal_distribution<double> normal(0.0, 1.0);
              unmap_habit = normal(random);
              map_habit = normal(random);
            }
            auto draw_disk = [&](const StepLatency& step, env::StepKind kind, double habit,
                                 model::DiskIndex d) {
              return options.history != nullptr ? draw(step, options.history, kind, vm, d, random)
                                                : draw(step, random, habit, repeatability);
            };
            for (std::size_t d = 0; d < item.disks.size(); ++d) {
              auto& disk = item.disks[d];
              auto disk_index = static_cast<model::DiskIndex>(cloud.vms[vm].first_disk + d);
              disk.unmap_s =
                  draw_disk(latency.disk_unmap, env::StepKind::disk_unmap, unmap_habit, disk_index);
              disk.map_s = draw_disk(latency.disk_map, env::StepKind::disk_map, map_habit, disk_index);
              longest = std::max(longest, disk.unmap_s + disk.map_s);
            }
            if (item.net_resource != UINT32_MAX) {
              item.net_s = draw(latency.net_config, options.history, env::StepKind::net_config, vm,
                                model::kNoIndex, random);
              longest = std::max(longest, item.net_s);
            }
            item.start_s =
                draw(latency.vm_start, options.history, env::StepKind::vm_start, vm, model::kNoIndex, random);
            item.chain_s = longest + item.start_s;
          }
          auto finish = dry_run.finish_times(vms, deadlines);
          std::array<double, model::kPriorityCount> last{};
          std::array<bool, model::kPriorityCount> any{};
          for (std::size_t i = 0; i < vms.size(); ++i) {
            last[vms[i].priority] = std::max(last[vms[i].priority], finish[i]);
            any[vms[i].priority] = true;
          }
          for (int tier = 0; tier < model::kPriorityCount; ++tier) {
            if (any[tier]) tier_times[tier].push_back(last[tier]);
          }
        }
        for (int tier = 0; tier < model::kPriorityCount; ++tier) {
          auto& each = prediction.tiers[tier];
          each.p50_s = quantile(tier_times[tier], 0.5);
          each.p90_s = quantile(tier_times[tier], 0.9);
          each.breaks = each.budget_s > 0 && each.vms > 0 && (each.waiting > 0 || each.p90_s > each.budget_s);
          prediction.breaks_budget = prediction.breaks_budget || each.breaks;
        }
        if (!plan.placements.empty()) {
          std::vector<BoundVm> bound_vms;
          double declared = latency.detect.median_s, fenced = declared + latency.fence.median_s;
          for (const auto& placement : plan.placements)
            bound_vms.push_back({placement.vm, placement.to, declared, fenced, {}});
          auto bound = lower_bound(cloud, bound_vms, median_of);
          prediction.binding = bound.tight_binding;
          prediction.advice = advice_for(cloud, bound.tight_binding);
        }
        ++report.failures_checked;
        report.breaking += prediction.breaks_budget ? 1 : 0;
        report.failures.push_back(std::move(prediction));
      });
  report.check_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace revive::exec

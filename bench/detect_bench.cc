// Detection and fencing: host crash -> declared failed -> fence confirmed (recovery may start), with the real
// HostMonitor, FenceChain and LeaseFencer on simulated heartbeats (heartbeat_sim::SimulatedCluster), default
// settings, 1,000 seeded runs per case (docs/PERFORMANCE.md, "Detection and fencing"):
//   build/release/bench/detect_bench
// Each run: 8 hosts beating on three channels (hypervisor keepalive, agent UDP, storage lease) every second,
// one host crashes at a random instant after 30 s of warm-up. Counters are virtual seconds from the crash:
// p50/p95/p99/max of the failed declaration and of the fence confirmation; `over_10s` counts runs above 10 s.
// Cases: lossless heartbeats / 5% loss + 200 ms jitter; BMC answering like ipmitool (power off + read back,
// lognormal median 1 s) / like fence_ipmilan (median 2.3 s); a BMC that never answers (the lease level).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "heartbeat_sim/cluster.h"

namespace {

using namespace revive;

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return -1.0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(values.size()))) - 1;
  return values[std::min(index, values.size() - 1)];
}

void report(benchmark::State& state, const std::string& prefix, const std::vector<double>& values) {
  state.counters[prefix + "_p50"] = percentile(values, 0.50);
  state.counters[prefix + "_p95"] = percentile(values, 0.95);
  state.counters[prefix + "_p99"] = percentile(values, 0.99);
  state.counters[prefix + "_max"] = percentile(values, 1.0);
}

void crash_to_fence(benchmark::State& state, double loss, double jitter_s, double bmc_median_s,
                    bool bmc_dead) {
  const int runs = 1000;
  std::vector<double> declared, fenced;
  int over_10s = 0, violations = 0, unfenced = 0;
  for (auto _ : state) {
    declared.clear();
    fenced.clear();
    for (int seed = 1; seed <= runs; ++seed) {
      heartbeat_sim::ClusterOptions options;
      options.hosts = 8;
      options.seed = static_cast<std::uint64_t>(seed);
      options.heartbeat = {.interval_s = 1.0, .loss = loss, .jitter_s = jitter_s};
      options.bmc.latency_median_s = bmc_median_s;
      heartbeat_sim::SimulatedCluster cluster(options);
      std::mt19937_64 random(static_cast<std::uint64_t>(seed) * 7919);
      double crash_at = 30.0 + std::uniform_real_distribution<double>(0.0, 10.0)(random);
      auto host = static_cast<model::HostIndex>(random() % options.hosts);
      if (bmc_dead) cluster.set_bmc(host, heartbeat_sim::BmcBehaviour::unreachable);
      cluster.run_until(crash_at);
      cluster.crash(host);
      cluster.run_until(crash_at + 120.0);
      violations += static_cast<int>(cluster.violations().size());
      for (const auto& event : cluster.events()) {
        if (event.host == host && event.kind == detect::HostEvent::Kind::transition &&
            event.to == detect::HostHealth::failed) {
          declared.push_back(event.at_s - crash_at);
          break;
        }
      }
      if (cluster.fenced_at(host) < 0) {
        ++unfenced;
        continue;
      }
      double elapsed = cluster.fenced_at(host) - crash_at;
      fenced.push_back(elapsed);
      if (elapsed > 10.0) ++over_10s;
    }
  }
  report(state, "declared", declared);
  report(state, "fenced", fenced);
  state.counters["runs"] = runs;
  state.counters["over_10s"] = over_10s;
  state.counters["unfenced"] = unfenced;
  state.counters["violations"] = violations;
}

void BM_CrashToFence_Lossless_Ipmitool(benchmark::State& state) {
  crash_to_fence(state, 0.0, 0.0, 1.0, false);
}
void BM_CrashToFence_Loss5Jitter200_Ipmitool(benchmark::State& state) {
  crash_to_fence(state, 0.05, 0.2, 1.0, false);
}
void BM_CrashToFence_Loss5Jitter200_FenceIpmilan(benchmark::State& state) {
  crash_to_fence(state, 0.05, 0.2, 2.3, false);
}
void BM_CrashToFence_Loss5Jitter200_DeadBmcLease(benchmark::State& state) {
  crash_to_fence(state, 0.05, 0.2, 1.0, true);
}

// 1,000 simulated host-hours with 5% loss and 200 ms jitter: false failure declarations (wall time measured).
void BM_FalseFailures_1000HostHours(benchmark::State& state) {
  std::size_t false_failed = 0, suspicions = 0;
  for (auto _ : state) {
    heartbeat_sim::ClusterOptions options;
    options.hosts = 50;
    options.seed = 2004;
    options.heartbeat = {.interval_s = 1.0, .loss = 0.05, .jitter_s = 0.2};
    heartbeat_sim::SimulatedCluster cluster(options);
    cluster.run_until(20.0 * 3600.0);
    false_failed = cluster.false_failed();
    suspicions = 0;
    for (const auto& event : cluster.events()) {
      if (event.kind == detect::HostEvent::Kind::transition && event.to == detect::HostHealth::suspect)
        ++suspicions;
    }
  }
  state.counters["host_hours"] = 1000;
  state.counters["false_failed"] = static_cast<double>(false_failed);
  state.counters["transient_suspicions"] = static_cast<double>(suspicions);
}

}  // namespace

BENCHMARK(BM_CrashToFence_Lossless_Ipmitool)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CrashToFence_Loss5Jitter200_Ipmitool)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CrashToFence_Loss5Jitter200_FenceIpmilan)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CrashToFence_Loss5Jitter200_DeadBmcLease)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FalseFailures_1000HostHours)->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

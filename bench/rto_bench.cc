// Predicted recovery time per tier (`revive check --rto`, exec/recovery_time.h; docs/PERFORMANCE.md
// "Predicted recovery time"):
//   build/release/bench/rto_bench
// 1. Speed: every single-host failure of a generated 1,000-host cloud (20,000 VMs), 64 scheduler runs each,
//    CPU time of the one thread (target <= 10 s on one core).
// 2. Coverage: for single-host failures of generated clouds, the tier times of the real engine in the
//    simulator (`revive simulate`, spec latencies, `latency.detect: 5`) over many seeds against the
//    prediction: the share of (failure, seed, tier) whose simulated time is within the predicted p90 (target
//    >= 90%), and within p50 (near 50% when the prediction is centred; higher when it is conservative);
//    once with the VMs' step-duration history (RecoveryTimeOptions::history: each VM's habit and the spread
//    of this run's noise, as `--estimates history`), once with the latency model alone (as `revive check
//    --rto` without history), over every single-host failure of four clouds (exits 1 below 90%).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "exec/recovery_time.h"
#include "model/generator.h"
#include "sim/scenario.h"
#include "sim/simulation.h"

namespace {

using namespace revive;

double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

model::Cloud generated(std::uint32_t hosts, std::uint64_t seed) {
  model::GeneratorOptions options;
  options.hosts = hosts;
  options.vms = hosts * 20;
  options.seed = seed;
  return model::generate_cloud(options);
}

void speed() {
  auto cloud = generated(1000, 3);
  exec::RecoveryTimeOptions options;
  double cpu = cpu_seconds();
  auto wall = std::chrono::steady_clock::now();
  auto report = exec::predict_recovery_times(cloud, options);
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf(
      "speed: %zu single-host failures of a 1,000-host / 20,000-VM cloud, %u runs each: %.2f s CPU "
      "(%.2f s wall); target <= 10 s\n",
      report.failures_checked, options.samples, cpu_seconds() - cpu, wall_s);
}

struct Coverage {
  std::size_t cases = 0, within_p90 = 0, within_p50 = 0;
  double worst_over = 0.0;
};

double percent(std::size_t part, std::size_t whole) {
  return 100.0 * static_cast<double>(part) / static_cast<double>(std::max<std::size_t>(whole, 1));
}

Coverage coverage(std::uint32_t hosts, std::uint64_t cloud_seed, std::uint32_t failures, std::uint32_t seeds,
                  bool with_history) {
  auto cloud = generated(hosts, cloud_seed);
  exec::RecoveryTimeOptions options;
  // The step-duration history of these VMs: each one's habit (what earlier recoveries teach, the same under
  // every seed of the simulator) and the spread of this run's noise around it, as `--estimates history`.
  auto base = sim::load_scenario_text("version: 1\nlatency: {detect: 5}\n", "history.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, base, loop);
  sim::SimEstimator history(world, base, sim::SimEstimator::Mode::history);
  if (with_history) options.history = &history;
  auto report = exec::predict_recovery_times(cloud, options);
  Coverage result;
  auto& [cases, within_p90, within_p50, worst_over] = result;
  auto step = std::max<std::size_t>(1, report.failures.size() / failures);
  for (std::size_t f = 0; f < report.failures.size(); f += step) {
    const auto& prediction = report.failures[f];
    const auto& host = cloud.hosts[prediction.failed_hosts.front()].name;
    for (std::uint32_t seed = 1; seed <= seeds; ++seed) {
      auto text = fmt::format(
          "version: 1\nseed: {}\nlatency: {{detect: 5}}\nevents:\n- {{at: 0, fail: {}}}\n", seed, host);
      auto scenario = sim::load_scenario_text(text, "coverage.yaml", cloud);
      auto simulated = sim::run_simulation(cloud, scenario);
      for (int tier = 0; tier < model::kPriorityCount; ++tier) {
        const auto& predicted = prediction.tiers[tier];
        if (predicted.vms == predicted.waiting || !simulated.tier_done_s[tier]) continue;
        double actual = *simulated.tier_done_s[tier];
        ++cases;
        within_p90 += actual <= predicted.p90_s + 1e-9 ? 1 : 0;
        within_p50 += actual <= predicted.p50_s + 1e-9 ? 1 : 0;
        worst_over = std::max(worst_over, actual / predicted.p90_s);
      }
    }
  }
  std::printf(
      "coverage (%s): %u hosts (cloud seed %llu), %u failures x %u seeds, %zu tier times: %.1f%% within "
      "the predicted p90 (target >= 90%%), %.1f%% within p50; worst simulated / p90 = %.2f\n",
      with_history ? "history" : "latency model only", hosts, static_cast<unsigned long long>(cloud_seed),
      failures, seeds, cases, percent(within_p90, cases), percent(within_p50, cases), worst_over);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6) {  // rto_bench HOSTS CLOUD_SEED FAILURES SEEDS history|model: one coverage run
    coverage(static_cast<std::uint32_t>(std::stoul(argv[1])), std::stoull(argv[2]),
             static_cast<std::uint32_t>(std::stoul(argv[3])), static_cast<std::uint32_t>(std::stoul(argv[4])),
             std::string(argv[5]) == "history");
    return 0;
  }
  speed();
  // Every single-host failure of each cloud (of the 1,000-host one, every fourth): a VM's habit is what no
  // prediction without history knows, so coverage is a property of many VMs, not of ten failures' few.
  struct Set {
    std::uint32_t hosts;
    std::uint64_t cloud_seed;
    std::uint32_t failures, seeds;
  };
  const Set sets[] = {{50, 5, 50, 8}, {50, 6, 50, 8}, {200, 7, 200, 4}, {1000, 3, 250, 2}};
  bool met = true;
  for (bool with_history : {true, false}) {
    Coverage all;
    for (const auto& set : sets) {
      auto one = coverage(set.hosts, set.cloud_seed, set.failures, set.seeds, with_history);
      all.cases += one.cases;
      all.within_p90 += one.within_p90;
      all.within_p50 += one.within_p50;
      all.worst_over = std::max(all.worst_over, one.worst_over);
    }
    double p90 = percent(all.within_p90, all.cases);
    std::printf(
        "coverage (%s), all four clouds: %zu tier times, %.1f%% within the predicted p90 (target >= 90%%), "
        "%.1f%% within p50; worst simulated / p90 = %.2f\n",
        with_history ? "history" : "latency model only", all.cases, p90, percent(all.within_p50, all.cases),
        all.worst_over);
    met = met && p90 >= 90.0;
  }
  return met ? 0 : 1;
}

// How planning cost grows with the cloud (issue 11, section 7; docs/PERFORMANCE.md, "Planner at scale").
// Clouds from the project's generator (`revive generate --hosts N --vms 20N --seed 3`, built in memory once
// per run), measured side by side in one run, CPU time of this process, the sizes interleaved and the best of
// --repeat rounds each (so that a busy neighbour slows both alike):
// - the 5% plan (every 20th host failed) of a small and a large cloud (default 5,000 and 20,000 hosts):
//   `cold` is the first plan of a fresh engine (what `revive plan` reports as stats.plan_ms), `warm` a plan
//   of an engine kept ready (the daemon's case); target: large / small <= 5x (cold);
// - every prestaged plan (each host, each rack: `revive plan --precompute`) of a small and a larger cloud
//   (default 5,000 and 10,000 hosts), best of --precompute-repeat rounds; target: larger / small <= 2.5x.
// Each plan's fingerprint (a hash of every placement, how it was chosen and the target's load then, and every
// waiting VM with its reason) and its placed priority weight are printed, so that a change meant to leave
// plans alone can be checked to; the run fails if two plans of the same request differ.
//
// Usage: build/release/bench/planner_scale_bench [--small 5000] [--large 20000] [--precompute-large 10000]
//        [--seed 3] [--repeat 3] [--precompute-repeat 2] [--skip-plan] [--skip-precompute]
// Exit status 1 when a target is missed.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/generator.h"
#include "plan/placement_engine.h"
#include "plan/planner.h"
#include "plan/precomputed_plans.h"

namespace {

using namespace revive;

struct Options {
  std::uint32_t small = 5000;
  std::uint32_t large = 20000;
  std::uint32_t precompute_large = 10000;
  std::uint64_t seed = 3;
  int repeat = 3;
  int precompute_repeat = 2;
  bool plan = true;
  bool precompute = true;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--skip-plan") {
      options.plan = false;
      continue;
    }
    if (flag == "--skip-precompute") {
      options.precompute = false;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", flag.c_str());
      std::exit(2);
    }
    const std::string text = argv[++i];
    unsigned long long value = 0;
    try {
      std::size_t used = 0;
      value = std::stoull(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      std::fprintf(stderr, "%s: '%s' is not a whole number\n", flag.c_str(), text.c_str());
      std::exit(2);
    }
    if (flag == "--small") {
      options.small = static_cast<std::uint32_t>(value);
    } else if (flag == "--large") {
      options.large = static_cast<std::uint32_t>(value);
    } else if (flag == "--precompute-large") {
      options.precompute_large = static_cast<std::uint32_t>(value);
    } else if (flag == "--seed") {
      options.seed = value;
    } else if (flag == "--repeat") {
      options.repeat = std::max(1, static_cast<int>(value));
    } else if (flag == "--precompute-repeat") {
      options.precompute_repeat = std::max(1, static_cast<int>(value));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return options;
}

double cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// FNV-1a over the plan's decisions.
struct Fingerprint {
  std::uint64_t value = 1469598103934665603ull;
  void add(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) value = (value ^ bytes[i]) * 1099511628211ull;
  }
  template <typename T>
  void add(const T& scalar) {
    add(&scalar, sizeof scalar);
  }
  void add(const plan::Plan& plan) {
    for (const auto& p : plan.placements) {
      add(p.vm);
      add(p.from);
      add(p.to);
      add(p.effective_priority);
      add(p.spread_over_endpoints);
      add(p.choice);
      add(p.load_when_chosen);
      for (auto dependency : p.start_after) add(dependency);
    }
    for (const auto& w : plan.waiting) {
      add(w.vm);
      add(w.from);
      add(w.reason.data(), w.reason.size());
    }
  }
};

double placed_weight(const plan::Plan& plan) {
  double weight = 0;
  for (const auto& p : plan.placements) weight += model::priority_weight(p.effective_priority);
  return weight;
}

const model::Cloud& cloud_of(std::map<std::uint32_t, std::unique_ptr<model::Cloud>>& clouds,
                             std::uint32_t hosts, std::uint64_t seed) {
  auto& slot = clouds[hosts];
  if (!slot) {
    model::GeneratorOptions options;
    options.hosts = hosts;
    options.vms = 20 * hosts;
    options.seed = seed;
    const double started = cpu_ms();
    slot = std::make_unique<model::Cloud>(model::generate_cloud(options));
    std::printf("generated %u hosts, %u VMs in %.0f ms\n", hosts, options.vms, cpu_ms() - started);
  }
  return *slot;
}

struct PlanFigures {
  std::size_t moving = 0, waiting = 0;
  double engine_ms = 0, cold_ms = 0, warm_ms = 0, weight = 0;
  std::uint64_t fingerprint = 0;
};

// One fresh engine and its first plan (cold), then `warm` more plans of that engine.
void five_percent(const model::Cloud& cloud, int warm, PlanFigures& figures) {
  plan::PlanRequest request;
  for (model::HostIndex h = 0; h < cloud.hosts.size(); h += 20) request.failed_hosts.push_back(h);
  double started = cpu_ms();
  plan::PlacementEngine engine(cloud);
  const double engine_ms = cpu_ms() - started;
  started = cpu_ms();
  plan::Plan plan = engine.plan(request, {});
  const double cold_ms = cpu_ms() - started;
  Fingerprint fingerprint;
  fingerprint.add(plan);
  if (figures.fingerprint != 0 && figures.fingerprint != fingerprint.value) {
    std::fprintf(stderr, "two plans of the same request differ\n");
    std::exit(1);
  }
  const bool first = figures.fingerprint == 0;
  figures.fingerprint = fingerprint.value;
  figures.moving = plan.placements.size() + plan.waiting.size();
  figures.waiting = plan.waiting.size();
  figures.weight = placed_weight(plan);
  figures.engine_ms = first ? engine_ms : std::min(figures.engine_ms, engine_ms);
  figures.cold_ms = first ? cold_ms : std::min(figures.cold_ms, cold_ms);
  if (first) figures.warm_ms = cold_ms;
  for (int i = 0; i < warm; ++i) {
    started = cpu_ms();
    plan::Plan again = engine.plan(request, {});
    figures.warm_ms = std::min(figures.warm_ms, cpu_ms() - started);
    Fingerprint check;
    check.add(again);
    if (check.value != figures.fingerprint) {
      std::fprintf(stderr, "a second plan of the same request differs from the first\n");
      std::exit(1);
    }
  }
}

struct PrecomputeFigures {
  std::size_t plans = 0, with_waiting = 0;
  double ms = 0, weight = 0;
  std::uint64_t fingerprint = 0;
};

PrecomputeFigures precompute(const model::Cloud& cloud) {
  std::vector<model::Symbol> domains;
  if (model::Symbol rack = cloud.symbols.find("rack"); rack != model::kNoIndex) domains.push_back(rack);
  const double started = cpu_ms();
  plan::PrecomputedPlans prestaged(cloud, domains);
  PrecomputeFigures figures;
  figures.ms = cpu_ms() - started;
  Fingerprint fingerprint;
  for (const auto& entry : prestaged.plans()) {
    fingerprint.add(entry.plan);
    figures.weight += placed_weight(entry.plan);
    figures.with_waiting += entry.plan.waiting.empty() ? 0 : 1;
  }
  figures.plans = prestaged.plans().size();
  figures.fingerprint = fingerprint.value;
  return figures;
}

}  // namespace

int run(const Options& options);

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    return run(options);
  } catch (const model::GeneratorError& error) {
    std::fprintf(stderr, "cannot generate the cloud: --%s: %s\n", error.option().c_str(), error.what());
    return 2;
  }
}

int run(const Options& options) {
  std::map<std::uint32_t, std::unique_ptr<model::Cloud>> clouds;
  if (options.plan) {
    cloud_of(clouds, options.small, options.seed);
    cloud_of(clouds, options.large, options.seed);
  }
  if (options.precompute) {
    cloud_of(clouds, options.small, options.seed);
    cloud_of(clouds, options.precompute_large, options.seed);
  }
  bool met = true;
  if (options.plan) {
    std::printf(
        "\n5%% plan (every 20th host failed), CPU ms, best of %d rounds, the sizes interleaved; cold: the "
        "first plan of a fresh engine (stats.plan_ms of `revive plan`), warm: a plan of an engine kept "
        "ready\n",
        options.repeat);
    std::printf("%8s %8s %8s %8s %10s %10s %10s %18s\n", "hosts", "moving", "waiting", "engine", "cold",
                "warm", "weight", "fingerprint");
    PlanFigures small, large;
    for (int round = 0; round < options.repeat; ++round) {
      five_percent(*clouds[options.small], 2, small);
      five_percent(*clouds[options.large], 2, large);
    }
    for (const auto* figures : {&small, &large}) {
      std::printf("%8u %8zu %8zu %8.0f %10.1f %10.1f %10.0f       %016llx\n",
                  figures == &small ? options.small : options.large, figures->moving, figures->waiting,
                  figures->engine_ms, figures->cold_ms, figures->warm_ms, figures->weight,
                  static_cast<unsigned long long>(figures->fingerprint));
    }
    const double cold = large.cold_ms / small.cold_ms, warm = large.warm_ms / small.warm_ms;
    std::printf("ratio %u / %u hosts: cold %.2fx (target <= 5x: %s), warm %.2fx\n", options.large,
                options.small, cold, cold <= 5.0 ? "met" : "MISSED", warm);
    met = met && cold <= 5.0;
  }
  if (options.precompute) {
    std::printf(
        "\nevery prestaged plan (each host and rack), CPU ms, best of %d rounds, the sizes interleaved\n",
        options.precompute_repeat);
    std::printf("%8s %8s %8s %10s %14s %18s\n", "hosts", "plans", "waiting", "ms", "weight", "fingerprint");
    PrecomputeFigures small, large;
    for (int round = 0; round < options.precompute_repeat; ++round) {
      for (std::uint32_t hosts : {options.small, options.precompute_large}) {
        const PrecomputeFigures figures = precompute(*clouds[hosts]);
        auto& best = hosts == options.small ? small : large;
        if (round > 0 && figures.fingerprint != best.fingerprint) {
          std::fprintf(stderr, "two precomputations differ\n");
          return 1;
        }
        if (round == 0 || figures.ms < best.ms) best = figures;
      }
    }
    for (const auto* figures : {&small, &large}) {
      std::printf("%8u %8zu %8zu %10.0f %14.0f       %016llx\n",
                  figures == &small ? options.small : options.precompute_large, figures->plans,
                  figures->with_waiting, figures->ms, figures->weight,
                  static_cast<unsigned long long>(figures->fingerprint));
    }
    const double ratio = large.ms / small.ms;
    std::printf("ratio %u / %u hosts: %.2fx (target <= 2.5x: %s)\n", options.precompute_large, options.small,
                ratio, ratio <= 2.5 ? "met" : "MISSED");
    met = met && ratio <= 2.5;
  }
  return met ? 0 : 1;
}

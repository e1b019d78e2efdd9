// The placement engine's index (src/plan/host_load_tree.h) against brute force: the tree's best-first search
// against a sort of every position, the runs against sets of positions, and whole plans of an engine that
// searches through the index against those of one that scans every candidate host (PlacementEngine::Search),
// with every single search checked on the way (Search::checked throws where the two differ). On random
// clouds (tests/plan/support/random_cloud.h, varied in spares policy, endpoints and prefer_labels so that
// every tier and the spreading phase are reached) and on clouds of the generator, full enough that VMs wait
// and the packing pass, repairs and the improvement phase run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "model/generator.h"
#include "plan/host_load_tree.h"
#include "plan/placement_engine.h"
#include "plan/precomputed_plans.h"
#include "plan/support/random_cloud.h"

namespace revive::plan {
namespace {

using model::HostIndex;

// Everything a plan decides, as text, so that a difference reads in the failure message.
std::string describe(const model::Cloud& cloud, const Plan& plan) {
  std::string text;
  for (const auto& p : plan.placements) {
    text += cloud.vms[p.vm].name + " -> " + cloud.hosts[p.to].name + " choice " +
            std::to_string(static_cast<int>(p.choice)) + " load " + std::to_string(p.load_when_chosen) +
            (p.spread_over_endpoints ? " spread" : "") + "\n";
  }
  for (const auto& w : plan.waiting) text += cloud.vms[w.vm].name + " waits: " + w.reason + "\n";
  return text;
}

// The plan of an engine searching `search`.
Plan plan_with(const model::Cloud& cloud, const PlanRequest& request, PlacementEngine::Search search,
               const PlannerOptions& options = {}) {
  PlacementEngine engine(cloud);
  engine.set_search(search);
  return engine.plan(request, options);
}

// What the plans compared reached, so that the tests can require the paths they are meant to cover.
struct Reached {
  std::size_t plans_with_waiting = 0, repairs = 0, packed = 0, spread = 0;
  void add(const Plan& plan) {
    plans_with_waiting += plan.waiting.empty() ? 0 : 1;
    for (const auto& p : plan.placements) {
      repairs += p.choice == Choice::repair || p.choice == Choice::moved_by_repair ? 1 : 0;
      packed += p.choice == Choice::most_loaded || p.choice == Choice::group_room_most_loaded ? 1 : 0;
      spread += p.spread_over_endpoints ? 1 : 0;
    }
  }
};
Reached reached;

void expect_same_plans(const model::Cloud& cloud, const PlanRequest& request, const std::string& what,
                       const PlannerOptions& options = {}) {
  const Plan scanned = plan_with(cloud, request, PlacementEngine::Search::scan, options);
  reached.add(scanned);
  Plan indexed;
  ASSERT_NO_THROW(indexed = plan_with(cloud, request, PlacementEngine::Search::checked, options)) << what;
  EXPECT_EQ(describe(cloud, indexed), describe(cloud, scanned)) << what;
  EXPECT_EQ(describe(cloud, plan_with(cloud, request, PlacementEngine::Search::indexed, options)),
            describe(cloud, scanned))
      << what;
}

TEST(PositionRuns, MatchSetsOfPositions) {
  std::mt19937_64 random(7);
  for (int round = 0; round < 500; ++round) {
    const std::uint32_t size = 1 + static_cast<std::uint32_t>(random() % 200);
    std::vector<std::uint8_t> in_a(size), in_b(size);
    std::vector<std::uint32_t> a, b;
    const auto density = static_cast<std::uint32_t>(random() % 10);
    for (std::uint32_t p = 0; p < size; ++p) {
      if (random() % 10 < density) {
        in_a[p] = 1;
        a.push_back(p);
      }
      if (random() % 10 < density) {
        in_b[p] = 1;
        b.push_back(p);
        b.push_back(p);  // duplicates are allowed
      }
    }
    std::shuffle(b.begin(), b.end(), random);
    const PositionRuns runs_a = runs_of(a), runs_b = runs_of(b), both = intersect(runs_a, runs_b);
    for (std::size_t i = 1; i < both.size(); ++i) ASSERT_LT(both[i - 1].end, both[i].begin);
    std::size_t expected = 0;
    for (std::uint32_t p = 0; p < size + 2; ++p) {
      const bool want_a = p < size && in_a[p], want_both = p < size && in_a[p] && in_b[p];
      ASSERT_EQ(contains(runs_a, p), want_a) << "round " << round << " position " << p;
      ASSERT_EQ(contains(both, p), want_both) << "round " << round << " position " << p;
      expected += want_both ? 1 : 0;
    }
    EXPECT_EQ(count(both), expected);
  }
}

// The tree's search visits hosts in exactly the order of a sort by (load, index) (or its two descending
// variants), with many equal loads, inactive hosts, pruning by free room and updates between searches.
TEST(HostLoadTree, SearchesInTheOrderOfASortedScan) {
  std::mt19937_64 random(11);
  for (int round = 0; round < 60; ++round) {
    const std::uint32_t size = 1 + static_cast<std::uint32_t>(random() % 300);
    std::vector<HostIndex> host_at(size);
    for (std::uint32_t p = 0; p < size; ++p) host_at[p] = p;
    std::shuffle(host_at.begin(), host_at.end(), random);  // hosts at positions in any order
    std::vector<double> load(size), free_cpu(size), free_memory(size);
    std::vector<std::uint8_t> active(size);
    HostLoadTree tree(size);
    auto update = [&](std::uint32_t p) {
      load[p] = static_cast<double>(random() % 6) / 4.0;  // few distinct loads: many ties
      free_cpu[p] = static_cast<double>(random() % 8);
      free_memory[p] = static_cast<double>(random() % 8) * 1024.0;
      active[p] = random() % 5 != 0;
      tree.set(p, host_at[p], active[p] != 0, load[p], free_cpu[p], free_memory[p]);
    };
    for (std::uint32_t p = 0; p < size; ++p) update(p);
    LoadTreeSearch search;
    for (int query = 0; query < 40; ++query) {
      for (int changes = static_cast<int>(random() % 4); changes > 0; --changes)
        update(static_cast<std::uint32_t>(random() % size));
      std::vector<std::uint32_t> positions;
      for (std::uint32_t p = 0; p < size; ++p) {
        if (random() % 3 != 0) positions.push_back(p);
      }
      const PositionRuns runs = runs_of(positions);
      const auto order = static_cast<LoadOrder>(random() % kLoadOrders);
      const double cpus = static_cast<double>(random() % 6),
                   memory = static_cast<double>(random() % 6) * 1024;
      // The expected visiting order: active hosts of the runs with the room, sorted.
      std::vector<std::uint32_t> expected;
      for (std::uint32_t p : positions) {
        if (active[p] && free_cpu[p] >= cpus && free_memory[p] >= memory) expected.push_back(p);
      }
      std::sort(expected.begin(), expected.end(), [&](std::uint32_t a, std::uint32_t b) {
        if (load[a] != load[b]) return order == LoadOrder::ascending ? load[a] < load[b] : load[a] > load[b];
        return order == LoadOrder::descending_high_first ? host_at[a] > host_at[b] : host_at[a] < host_at[b];
      });
      // Accept a random share of the hosts with the room (the engine's test always checks the room): the
      // search must return the first of them in that order.
      std::vector<std::uint8_t> accepted(size);
      const auto share = random() % 4;
      for (std::uint32_t p = 0; p < size; ++p) accepted[p] = random() % 4 <= share;
      std::vector<std::uint32_t> position_of(size);
      for (std::uint32_t p = 0; p < size; ++p) position_of[host_at[p]] = p;
      auto accept = [&](HostIndex host) {
        const std::uint32_t p = position_of[host];
        return accepted[p] && free_cpu[p] >= cpus && free_memory[p] >= memory;
      };
      HostIndex want = model::kNoIndex;
      for (std::uint32_t p : expected) {
        if (accepted[p]) {
          want = host_at[p];
          break;
        }
      }
      EXPECT_EQ(search.run({&tree}, tree.cover(runs), order, cpus, memory, accept), want)
          << "round " << round << " query " << query;
    }
  }
}

// Random clouds, varied so that every ranking rule is reached: spares first or last, for drains or not;
// several endpoints with few slots each (the spreading phase); several prefer_labels per VM.
TEST(IndexedSearch, PlansAsAScanOnRandomClouds) {
  reached = {};
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    testing::RandomCloudOptions options =
        seed % 2 == 0 ? testing::RandomCloudOptions{} : testing::tight_small_options();
    testing::RandomInstance instance = testing::random_instance(seed, options);
    model::Cloud& cloud = instance.cloud;
    std::mt19937_64 random(seed);
    cloud.policy.spares.order = random() % 2 ? model::SpareOrder::first : model::SpareOrder::last;
    cloud.policy.spares.maintenance = random() % 2 == 0;
    if (random() % 2) {
      cloud.policy.host_max_parallel_restarts = 1 + static_cast<std::uint32_t>(random() % 3);
      cloud.endpoints.clear();
      const std::size_t endpoints = 2 + random() % 4;
      for (std::size_t e = 0; e < endpoints; ++e)
        cloud.endpoints.push_back(
            {"mgmt-" + std::to_string(e), 1 + static_cast<std::uint32_t>(random() % 3)});
      for (auto& host : cloud.hosts) host.endpoint = static_cast<model::EndpointIndex>(random() % endpoints);
    }
    for (auto& vm : cloud.vms) {
      if (vm.host >= cloud.hosts.size() || random() % 4 != 0) continue;
      const auto& labels = cloud.hosts[vm.host].labels;
      vm.prefer_labels.clear();
      for (const auto& label : labels) {
        if (random() % 2) vm.prefer_labels.push_back(label);
      }
    }
    cloud.rebuild_indexes();
    expect_same_plans(cloud, instance.request, "seed " + std::to_string(seed));
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(reached.plans_with_waiting, 0u);
  EXPECT_GT(reached.repairs, 0u);
  EXPECT_GT(reached.packed, 0u);
  EXPECT_GT(reached.spread, 0u);
}

// Generated clouds (racks, zones, arrays reached by windows of racks, licences, groups, after chains), full
// enough that VMs wait: every 20th host failed, one rack failed, and some single-host plans.
TEST(IndexedSearch, PlansAsAScanOnGeneratedClouds) {
  reached = {};
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    model::GeneratorOptions generator;
    generator.hosts = 160 + 40 * static_cast<std::uint32_t>(seed);
    generator.vms = 20 * generator.hosts;
    generator.seed = seed;
    generator.memory_load = seed % 2 ? 0.9 : 0.85;
    const model::Cloud cloud = model::generate_cloud(generator);
    PlanRequest every_twentieth;
    for (HostIndex h = 0; h < cloud.hosts.size(); h += 20) every_twentieth.failed_hosts.push_back(h);
    const std::string what = "seed " + std::to_string(seed);
    expect_same_plans(cloud, every_twentieth, what + ", every 20th host");
    PlanRequest every_fourth;  // far more than the spare room: VMs wait, packing and improvement run
    for (HostIndex h = 1; h < cloud.hosts.size(); h += 4) every_fourth.failed_hosts.push_back(h);
    expect_same_plans(cloud, every_fourth, what + ", every 4th host");
    PlanRequest rack;
    const model::Symbol rack_key = cloud.symbols.find("rack");
    for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
      if (cloud.scope_value(h, rack_key) == cloud.scope_value(0, rack_key)) rack.failed_hosts.push_back(h);
    }
    expect_same_plans(cloud, rack, what + ", rack of host 0");
    PlanRequest drain;  // drained hosts: their VMs keep running, spares kept for failures
    drain.evacuated_hosts = {3, 4, 5};
    drain.excluded_hosts = {6};
    expect_same_plans(cloud, drain, what + ", drain");
    // One engine for many plans, as PrecomputedPlans uses it: the index must come back after each.
    PlacementEngine checked(cloud);
    checked.set_search(PlacementEngine::Search::checked);
    PlacementEngine scanning(cloud);
    scanning.set_search(PlacementEngine::Search::scan);
    for (HostIndex h = 0; h < cloud.hosts.size(); h += 7) {
      PlanRequest single;
      single.failed_hosts = {h};
      Plan indexed;
      ASSERT_NO_THROW(indexed = checked.plan(single, {})) << what << ", host " << h;
      EXPECT_EQ(describe(cloud, indexed), describe(cloud, scanning.plan(single, {})))
          << what << ", host " << h;
    }
  }
  // (The packing pass runs where VMs wait, every search of it checked, but never places more here.)
  EXPECT_GT(reached.plans_with_waiting, 0u);
  EXPECT_GT(reached.repairs, 0u);
  EXPECT_GT(reached.spread, 0u);
  std::printf("generated clouds: %zu plans with waiting VMs, %zu repairs, %zu packed, %zu spread\n",
              reached.plans_with_waiting, reached.repairs, reached.packed, reached.spread);
}

// Prestaged plans computed through the index are those of a scan (the whole precomputation, one engine).
TEST(IndexedSearch, PrestagedPlansOfAGeneratedCloud) {
  model::GeneratorOptions generator;
  generator.hosts = 240;
  generator.vms = 20 * generator.hosts;
  generator.seed = 3;
  generator.memory_load = 0.86;
  const model::Cloud cloud = model::generate_cloud(generator);
  const PrecomputedPlans prestaged(cloud, {cloud.symbols.find("rack")});
  PlacementEngine scanning(cloud);
  scanning.set_search(PlacementEngine::Search::scan);
  for (const auto& entry : prestaged.plans()) {
    EXPECT_EQ(describe(cloud, entry.plan), describe(cloud, scanning.plan(entry.request, {}))) << entry.name;
  }
}

}  // namespace
}  // namespace revive::plan

// Random hostile histories (sim/hostile_history.h) through the whole simulator with the revive strategy, run
// by the library that `revive torture` runs (sim/torture.h): the world's invariants (never two copies, no
// start before its fences and disk maps, every limit kept), the outcome's (reported states match the world,
// no VM still recovering, no drain still moving at the end), every placement within its constraints. The
// witness of issues 9 and 13.
//
// REVIVE_HOSTILE_SEEDS=N runs seeds 1..N (default 2,000 in release, about 15 s on two cores; 200 under
// sanitizers; the capacity and controller-restart tests half as many each, the capacity one on the seeds
// after those); REVIVE_HOSTILE_FIRST_SEED=S starts at S instead; REVIVE_HOSTILE_JOBS=J runs J at once
// (default 2). `revive torture --seeds 1 --first-seed S` replays one seed and shrinks it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/inventory.h"
#include "plan/decision.h"
#include "sim/hostile_history.h"
#include "sim/simulation.h"
#include "sim/torture.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REVIVE_HOSTILE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define REVIVE_HOSTILE_SANITIZED 1
#endif
#endif

namespace revive::sim {
namespace {

#ifdef REVIVE_HOSTILE_SANITIZED
constexpr std::uint64_t kDefaultSeeds = 200;
#else
constexpr std::uint64_t kDefaultSeeds = 2000;
#endif

std::uint64_t from_environment(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

// Written out and loaded again (the files REVIVE_HOSTILE_DUMP writes), a history runs exactly the same.
TEST(HostileHistory, WrittenFilesReplayTheSameRun) {
  for (std::uint64_t seed : {7u, 125u, 229u, 1293u, 4001u, 4002u, 4003u}) {
    auto history = make_hostile_history(seed);
    std::ostringstream inventory_text;
    model::write_inventory(history.cloud, inventory_text);
    auto cloud = model::load_inventory_text(inventory_text.str(), "inventory.yaml");
    auto scenario = load_scenario_text(scenario_yaml(history), "scenario.yaml", cloud);
    ASSERT_EQ(scenario.events.size(), history.scenario.events.size()) << seed;
    for (std::size_t i = 0; i < scenario.events.size(); ++i) {
      const auto& a = scenario.events[i];
      const auto& b = history.scenario.events[i];
      EXPECT_EQ(a.kind, b.kind);
      EXPECT_EQ(a.at_s, b.at_s);
      EXPECT_EQ(a.hosts, b.hosts);
      EXPECT_EQ(a.factor, b.factor);
      EXPECT_EQ(a.until_s, b.until_s);
      EXPECT_EQ(a.deadline_s, b.deadline_s);
      EXPECT_EQ(a.times, b.times);
      EXPECT_EQ(a.resource_kind, b.resource_kind);
      EXPECT_EQ(a.resource, b.resource);
      EXPECT_EQ(a.fail_back, b.fail_back);
      EXPECT_EQ(a.after_records, b.after_records);
      EXPECT_EQ(a.restart_delay_s, b.restart_delay_s);
      EXPECT_EQ(a.channels.agent, b.channels.agent);
      EXPECT_EQ(a.channels.hypervisor, b.channels.hypervisor);
      EXPECT_EQ(a.channels.storage, b.channels.storage);
    }
    auto original = run_simulation(history.cloud, history.scenario);
    auto replayed = run_simulation(cloud, scenario);
    EXPECT_EQ(original.violations, replayed.violations) << seed;
    EXPECT_EQ(original.makespan_s, replayed.makespan_s) << seed;
    EXPECT_EQ(original.timeline.size(), replayed.timeline.size()) << seed;
  }
}

TEST(HostileHistory, SameSeedGivesTheSameHistory) {
  for (std::uint64_t seed : {1u, 17u, 4242u}) {
    auto first = make_hostile_history(seed);
    auto second = make_hostile_history(seed);
    EXPECT_EQ(first.description, second.description);
    ASSERT_EQ(first.scenario.events.size(), second.scenario.events.size());
    for (std::size_t i = 0; i < first.scenario.events.size(); ++i) {
      EXPECT_EQ(first.scenario.events[i].at_s, second.scenario.events[i].at_s);
      EXPECT_EQ(first.scenario.events[i].hosts, second.scenario.events[i].hosts);
    }
    EXPECT_EQ(first.cloud.vms.size(), second.cloud.vms.size());
    EXPECT_EQ(first.cloud.disks.size(), second.cloud.disks.size());
    auto a = run_simulation(first.cloud, first.scenario);
    auto b = run_simulation(second.cloud, second.scenario);
    EXPECT_EQ(a.makespan_s, b.makespan_s);
    EXPECT_EQ(a.timeline.size(), b.timeline.size());
    EXPECT_EQ(a.violations, b.violations);
  }
}

// The histories hold what they promise: small clouds with diskless VMs and tight endpoints, and every fault
// kind, slowdowns past the step timeouts among them.
TEST(HostileHistory, HistoriesHoldEveryFaultKindOnSmallClouds) {
  std::map<ScenarioEvent::Kind, int> kinds;
  int diskless_clouds = 0, past_timeouts = 0, double_drains = 0, partial_isolations = 0, slow_bmcs = 0;
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    auto history = make_hostile_history(seed);
    const auto& cloud = history.cloud;
    SCOPED_TRACE(history.description);
    EXPECT_GE(cloud.hosts.size(), 6u);
    EXPECT_LE(cloud.hosts.size(), 20u);
    EXPECT_GE(cloud.vms.size(), 20u);
    EXPECT_LE(cloud.vms.size(), 120u);
    for (const auto& endpoint : cloud.endpoints) {
      EXPECT_GE(endpoint.max_parallel, 1u);
      EXPECT_LE(endpoint.max_parallel, 4u);
    }
    bool diskless = false;
    for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
      diskless = diskless || cloud.vms[v].disk_count == 0;
      for (auto d = cloud.vms[v].first_disk; d < cloud.vm_disk_end(v); ++d) EXPECT_EQ(cloud.disks[d].vm, v);
    }
    diskless_clouds += diskless ? 1 : 0;
    EXPECT_FALSE(history.scenario.events.empty());
    for (const auto& event : history.scenario.events) {
      ++kinds[event.kind];
      if (event.kind == ScenarioEvent::Kind::slow_step && event.factor >= 10) ++past_timeouts;
      if (event.kind == ScenarioEvent::Kind::evacuate && event.hosts.size() == 2) ++double_drains;
      if (event.kind == ScenarioEvent::Kind::isolate && !event.channels.all()) ++partial_isolations;
      if (event.kind == ScenarioEvent::Kind::slow_step && event.resource_kind == ResourceKind::bmc)
        ++slow_bmcs;
    }
  }
  EXPECT_GE(diskless_clouds, 90);
  EXPECT_GE(past_timeouts, 10);
  EXPECT_GE(double_drains, 5);
  EXPECT_GE(partial_isolations, 10);
  EXPECT_GE(slow_bmcs, 10);
  for (auto kind : {ScenarioEvent::Kind::fail, ScenarioEvent::Kind::isolate, ScenarioEvent::Kind::evacuate,
                    ScenarioEvent::Kind::fail_step, ScenarioEvent::Kind::slow_step,
                    ScenarioEvent::Kind::exit_maintenance, ScenarioEvent::Kind::cancel}) {
    EXPECT_GE(kinds[kind], 10) << static_cast<int>(kind);
  }
}

// With controller restarts asked for, histories kill the controller at journal records -- also histories
// with drains and guest crashes (both engines and the VM-level restarts resume from the journal); without,
// none does.
TEST(HostileHistory, ControllerRestartsOnlyWhenAskedAlsoWithDrainsAndGuestCrashes) {
  int restarts = 0, with_drains = 0, with_guest_crashes = 0;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    for (const auto& event : make_hostile_history(seed).scenario.events)
      EXPECT_NE(event.kind, ScenarioEvent::Kind::restart_controller) << seed;
    auto events = make_hostile_history(seed, {.controller_restarts = true}).scenario.events;
    auto has = [&events](ScenarioEvent::Kind kind) {
      return std::any_of(events.begin(), events.end(),
                         [kind](const ScenarioEvent& e) { return e.kind == kind; });
    };
    bool restarted = false;
    for (const auto& event : events) {
      if (event.kind != ScenarioEvent::Kind::restart_controller) continue;
      ++restarts;
      restarted = true;
      EXPECT_GE(event.after_records, 1u);
    }
    if (restarted && has(ScenarioEvent::Kind::evacuate)) ++with_drains;
    if (restarted && has(ScenarioEvent::Kind::vm_crash)) ++with_guest_crashes;
  }
  EXPECT_GE(restarts, 10);
  EXPECT_GE(with_drains, 10);
  EXPECT_GE(with_guest_crashes, 10);
}

// A failing history shrinks to fewer events that still fail the same way, and a seed's verdict is the same in
// a child and in this process. The failures: a recovery-time budget of 60 s, which a history with a crash and
// a slowed or failing step breaks (the first such of seeds 1..400).
TEST(Torture, ShrinksAFailingHistoryToFewerEventsThatStillFail) {
  HistoryChecks checks;
  checks.capacity = true;
  checks.max_recovery_s = 60.0;
  for (std::uint64_t seed = 1; seed <= 400; ++seed) {
    auto history = make_hostile_history(seed);
    auto verdict = run_history_isolated(history, checks);
    if (!verdict.failed() || history.scenario.events.size() < 3) continue;
    EXPECT_NE(verdict.violations.front().find("over the budget of 60 s"), std::string::npos)
        << verdict.violations.front();
    EXPECT_EQ(verdict.violations, check_history(history, checks)) << seed;
    EXPECT_TRUE(check_history(history).empty()) << seed << ": fails without the budget too";
    shrink_failure(history, verdict, checks);
    ASSERT_FALSE(verdict.shrunk_events.empty()) << seed;
    EXPECT_LT(verdict.shrunk_events.size(), history.scenario.events.size()) << seed;
    auto again = check_history(with_events(history, verdict.shrunk_events), checks);
    auto kind = violation_kind(verdict.violations.front());
    EXPECT_TRUE(std::any_of(again.begin(), again.end(),
                            [&](const std::string& violation) { return violation_kind(violation) == kind; }))
        << seed << ": " << kind;
    return;
  }
  ADD_FAILURE() << "no seed of 1..400 breaks a recovery-time budget of 60 s";
}

// Seeds run with several jobs give the verdicts of seeds run one at a time, in seed order.
TEST(Torture, JobsDoNotChangeTheVerdicts) {
  TortureOptions options;
  options.first_seed = 11;
  options.seeds = 12;
  options.checks.capacity = true;
  options.checks.max_recovery_s = 300.0;  // so that some fail
  options.shrink = false;
  std::vector<std::pair<std::uint64_t, std::vector<std::string>>> alone, together;
  options.jobs = 1;
  run_torture(options, [&](const SeedVerdict& v) { alone.emplace_back(v.seed, v.violations); });
  options.jobs = 3;
  run_torture(options, [&](const SeedVerdict& v) { together.emplace_back(v.seed, v.violations); });
  EXPECT_EQ(alone, together);
  ASSERT_EQ(alone.size(), 12u);
  EXPECT_EQ(alone.front().first, 11u);
}

// Every placement decision of a run, saved with its inputs, replays offline to the same plan byte for byte.
TEST(Decision, EverySavedDecisionOfARunReplaysToTheSamePlan) {
  std::size_t decisions = 0, engines_with_placements = 0;
  for (std::uint64_t seed : {3u, 8u, 21u}) {
    auto history = make_hostile_history(seed);
    SimulationOptions options;
    std::vector<nlohmann::json> saved;
    options.decision_observer = [&](const plan::Decision& decision) {
      saved.push_back(nlohmann::json::parse(plan::decision_json(decision).dump()));
      engines_with_placements += decision.plan.placements.empty() ? 0 : 1;
    };
    run_simulation(history.cloud, history.scenario, options);
    for (const auto& decision : saved) {
      auto replayed = plan::replay_decision(decision, "decision.json");
      EXPECT_EQ(replayed.replayed_plan, replayed.saved_plan) << seed << " " << decision["trigger"];
      ++decisions;
    }
  }
  EXPECT_GE(decisions, 3u);
  EXPECT_GE(engines_with_placements, 1u);
}

// Runs the seeds of REVIVE_HOSTILE_FIRST_SEED / REVIVE_HOSTILE_SEEDS and fails with every broken invariant,
// seed by seed (shrunk, with the command that replays it), and a summary of the kinds.
// Without them: `count` seeds from `first`.
void expect_no_violation(bool check_capacity, bool controller_restarts = false, std::uint64_t first = 1,
                         std::uint64_t count = kDefaultSeeds) {
  TortureOptions options;
  options.histories.controller_restarts = controller_restarts;
  options.first_seed = from_environment("REVIVE_HOSTILE_FIRST_SEED", first);
  options.seeds = from_environment("REVIVE_HOSTILE_SEEDS", count);
  options.jobs = static_cast<unsigned>(from_environment("REVIVE_HOSTILE_JOBS", 2));
  options.checks.capacity = check_capacity;
  // A resumed controller still leaves some recoveries stalled (about 0.1% of histories with controller
  // restarts: docs/RELIABILITY.md); the histories without restarts are checked for stalls.
  options.checks.stalls = !controller_restarts;
  options.shrink = true;
  std::map<std::string, std::pair<int, std::uint64_t>> kinds;  // kind -> (seeds with it, first such seed)
  auto report = run_torture(options, [&](const SeedVerdict& verdict) {
    if (!verdict.failed()) return;
    std::string text;
    if (!verdict.crash.empty()) text += "\n    the run crashed: " + verdict.crash;
    for (const auto& violation : verdict.violations) {
      if (text.size() < 2000) text += "\n    " + violation;
    }
    auto kind = verdict.crash.empty() ? violation_kind(verdict.violations.front()) : verdict.crash;
    auto& entry = kinds[kind];
    if (entry.first++ == 0) entry.second = verdict.seed;
    ADD_FAILURE() << verdict.description << "\n  " << verdict.violations.size() << " violation(s):" << text
                  << "\n  shrunk to " << verdict.shrunk_events.size() << " of " << verdict.events
                  << " events\n  replay: " << replay_command(verdict.seed);
  });
  if (!report.failures.empty()) {
    std::string summary, seeds;
    for (const auto& [kind, entry] : kinds) {
      summary += fmt::format("\n  {} seed(s), e.g. seed {}: {}", entry.first, entry.second, kind);
    }
    for (const auto& failure : report.failures) seeds += " " + std::to_string(failure.seed);
    ADD_FAILURE() << report.failures.size() << " of " << report.seeds
                  << " hostile histories broke invariants; seeds:" << seeds << "\nkinds:" << summary;
  }
}

// The safety invariants of issues 9 and 13 over thousands of seeds.
TEST(HostileHistory, ReviveKeepsEveryInvariantInRandomHostileHistories) {
  expect_no_violation(false);
}

// Host capacity at the end, replayed from the timeline: the two engines plan with one shared capacity view
// (the room each has planned onto a target and not yet used, and every host where a copy may run, count
// for the other: exec/host_availability.h ReservedRoom). Before it, 64 of the first 400 seeds ended with a
// host over its memory. Seeds the test above does not run (half as many: CI time).
TEST(HostileHistory, BothEnginesTogetherKeepEveryHostWithinItsCapacity) {
  expect_no_violation(true, false, kDefaultSeeds + 1, kDefaultSeeds / 2);
}

// Controller restarts at random journal points (`revive torture --controller-restarts`): the resumed
// controller counts the dead one's calls without an answer against every limit, and keeps their disks busy
// and their starts and migrations unanswered in the copies set, until the world says they ended
// (env/calls_in_progress.h). Before it, about 2% of seeds exceeded a limit. Capacity is checked too.
// Half as many seeds as the test above (CI time).
TEST(HostileHistory, ControllerRestartsAtRandomJournalPointsKeepEveryInvariant) {
  expect_no_violation(true, true, 1, kDefaultSeeds / 2);
}

}  // namespace
}  // namespace revive::sim

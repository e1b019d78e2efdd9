// Random hostile histories (sim/hostile_history.h) through the whole simulator with the revive strategy: the
// world's invariants (never two copies, no start before its fences and disk maps, every limit kept), no VM
// still recovering and no drain still moving at the end, and no host holding more VM memory at the end than
// it has (replayed from the timeline: the world does not check capacity). The witness of issue 9.
//
// REVIVE_HOSTILE_SEEDS=N runs seeds 1..N (default 500, about 8 s in release; 50 under sanitizers);
// REVIVE_HOSTILE_FIRST_SEED=S starts at S instead (to replay one failing seed: REVIVE_HOSTILE_FIRST_SEED=S
// REVIVE_HOSTILE_SEEDS=1). REVIVE_HOSTILE_DUMP=DIR writes the cloud and scenario of every failing seed there
// (hostile-SEED-inventory.yaml, hostile-SEED-scenario.yaml) for `revive simulate`. Each seed runs in a child
// process: a crash is that seed's failure, the other seeds still run.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/inventory.h"
#include "sim/hostile_history.h"
#include "sim/simulation.h"

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
constexpr std::uint64_t kDefaultSeeds = 50;
#else
constexpr std::uint64_t kDefaultSeeds = 500;
#endif

std::uint64_t from_environment(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

// A violation with its names and numbers taken out (host-0004 -> host-N, 12.5 -> #), so that violations of
// one kind compare equal. (No std::regex: GCC 12 warns inside it under the sanitizers' -O1.)
std::string violation_kind(const std::string& violation) {
  std::string kind;
  for (std::size_t i = 0; i < violation.size();) {
    if (!std::isdigit(static_cast<unsigned char>(violation[i]))) {
      kind += violation[i++];
      continue;
    }
    kind += !kind.empty() && kind.back() == '-' ? "N" : "#";
    while (i < violation.size() && (std::isdigit(static_cast<unsigned char>(violation[i])) ||
                                    (violation[i] == '.' && i + 1 < violation.size() &&
                                     std::isdigit(static_cast<unsigned char>(violation[i + 1]))))) {
      ++i;
    }
  }
  return kind;
}

// Hosts holding more VM memory at the end than they have (after overcommit), replayed from the timeline (the
// world does not check capacity): every VM starts on its host; a successful start or migration puts a copy
// on its target (a migration takes it off its source), a stop, a fence or a crash of the host ends it.
std::vector<std::string> hosts_over_capacity(const HostileHistory& history, const SimulationResult& result) {
  const auto& cloud = history.cloud;
  std::vector<std::set<model::HostIndex>> copies(cloud.vms.size());
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (cloud.vms[v].host != model::kNoIndex) copies[v].insert(cloud.vms[v].host);
  }
  struct Change {
    double at_s;
    const TimelineStep* step;       // null: a crash
    model::HostIndex crashed_host;  // for a crash
  };
  std::vector<Change> changes;
  for (const auto& step : result.timeline) {
    if (step.finished && step.ok) changes.push_back({step.end_s, &step, model::kNoIndex});
  }
  for (const auto& event : history.scenario.events) {
    if (event.kind != ScenarioEvent::Kind::fail) continue;
    for (auto host : event.hosts) changes.push_back({event.at_s, nullptr, host});
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const Change& a, const Change& b) { return a.at_s < b.at_s; });
  auto end_every_copy_on = [&](model::HostIndex host) {
    for (auto& hosts : copies) hosts.erase(host);
  };
  for (const auto& change : changes) {
    if (change.step == nullptr) {
      end_every_copy_on(change.crashed_host);
      continue;
    }
    const auto& step = *change.step;
    switch (step.kind) {
      case env::StepKind::vm_start:
        copies[step.vm].insert(step.host);
        break;
      case env::StepKind::migrate:
        copies[step.vm].erase(step.from);
        copies[step.vm].insert(step.host);
        break;
      case env::StepKind::vm_stop:
        copies[step.vm].erase(step.host);
        break;
      case env::StepKind::fence:
        end_every_copy_on(step.host);
        break;
      default:
        break;
    }
  }
  std::vector<double> memory_mib(cloud.hosts.size(), 0.0);
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    for (auto host : copies[v]) memory_mib[host] += static_cast<double>(cloud.vms[v].memory_mib);
  }
  std::vector<std::string> over;
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (memory_mib[h] > cloud.usable_memory_mib(h) + 0.5) {
      over.push_back(fmt::format("{} holds {:.0f} MiB of VMs at the end, over its {:.0f} MiB",
                                 cloud.hosts[h].name, memory_mib[h], cloud.usable_memory_mib(h)));
    }
  }
  return over;
}

struct SeedOutcome {
  std::string crash;  // how the run died ("killed by signal 11"), empty when it ended
  std::uint32_t double_runs = 0;
  std::vector<std::string> violations;
};

// Runs one history with the revive strategy in a child process, so that an engine that crashes on one seed
// is reported as that seed's failure and the other seeds still run.
SeedOutcome run_seed_in_child(const HostileHistory& history, bool check_capacity) {
  int pipe_ends[2];
  if (pipe(pipe_ends) != 0) return {"pipe() failed", 0, {}};
  pid_t child = fork();
  if (child < 0) return {"fork() failed", 0, {}};
  if (child == 0) {
    close(pipe_ends[0]);
    SimulationOptions options;
    options.strategy = exec::Strategy::revive;
    auto result = run_simulation(history.cloud, history.scenario, options);
    std::string text = std::to_string(result.double_runs) + "\n";
    for (const auto& violation : result.violations) text += violation + "\n";
    if (check_capacity) {
      for (const auto& violation : hosts_over_capacity(history, result)) text += violation + "\n";
    }
    for (std::size_t written = 0; written < text.size();) {
      auto n = write(pipe_ends[1], text.data() + written, text.size() - written);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(pipe_ends[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_ends[0], buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  close(pipe_ends[0]);
  int status = 0;
  waitpid(child, &status, 0);
  SeedOutcome outcome;
  if (WIFSIGNALED(status)) {
    outcome.crash = "killed by signal " + std::to_string(WTERMSIG(status));
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    outcome.crash = "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  std::size_t line_start = 0;
  bool first = true;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', line_start)) {
    auto line = text.substr(line_start, end - line_start);
    line_start = end + 1;
    if (first) {
      outcome.double_runs = static_cast<std::uint32_t>(std::stoul(line));
      first = false;
    } else {
      outcome.violations.push_back(std::move(line));
    }
  }
  if (first && outcome.crash.empty()) outcome.crash = "no result from the child";
  return outcome;
}

void write_history(const HostileHistory& history, const std::filesystem::path& directory) {
  std::filesystem::create_directories(directory);
  auto stem = directory / ("hostile-" + std::to_string(history.seed));
  std::ofstream inventory(stem.string() + "-inventory.yaml");
  model::write_inventory(history.cloud, inventory);
  std::ofstream scenario(stem.string() + "-scenario.yaml");
  scenario << scenario_yaml(history);
}

// Written out and loaded again (the files REVIVE_HOSTILE_DUMP writes), a history runs exactly the same.
TEST(HostileHistory, WrittenFilesReplayTheSameRun) {
  for (std::uint64_t seed : {7u, 125u, 229u, 1293u}) {
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
  int diskless_clouds = 0, past_timeouts = 0, double_drains = 0;
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
    }
  }
  EXPECT_GE(diskless_clouds, 90);
  EXPECT_GE(past_timeouts, 10);
  EXPECT_GE(double_drains, 5);
  for (auto kind : {ScenarioEvent::Kind::fail, ScenarioEvent::Kind::isolate, ScenarioEvent::Kind::evacuate,
                    ScenarioEvent::Kind::fail_step, ScenarioEvent::Kind::slow_step}) {
    EXPECT_GE(kinds[kind], 10) << static_cast<int>(kind);
  }
}

// Seeds whose history ends with a report one move behind, not a safety gap, left open (issue 9's note): a VM
// recovered, then migrated off by a drain whose source is cut off before the answer, is reported where the
// executor last saw it; it runs once, on the migration's target. Skipped only while they break nothing else.
const std::set<std::uint64_t> kKnownOpen = {383};

// Runs the seeds of REVIVE_HOSTILE_FIRST_SEED / REVIVE_HOSTILE_SEEDS (plus the extra ones when no range is
// asked for) and fails with every broken invariant, seed by seed, and a summary of the kinds.
void expect_no_violation(bool check_capacity) {
  auto first_seed = from_environment("REVIVE_HOSTILE_FIRST_SEED", 1);
  auto count = from_environment("REVIVE_HOSTILE_SEEDS", kDefaultSeeds);
  std::vector<std::uint64_t> seeds;
  for (auto seed = first_seed; seed < first_seed + count; ++seed) seeds.push_back(seed);
  // Seeds beyond the default range that break an invariant no seed in it breaks today (a start before a
  // disk of the VM was mapped: a map on a slowed array given up on and taken as done), run unless a range is
  // asked for.
  if (std::getenv("REVIVE_HOSTILE_FIRST_SEED") == nullptr) {
    for (std::uint64_t seed : {1293u}) {
      if (seed >= first_seed + count) seeds.push_back(seed);
    }
  }
  std::map<std::string, std::pair<int, std::uint64_t>> kinds;  // kind -> (seeds with it, first such seed)
  std::string failing_seeds;
  std::uint64_t failed = 0;
  for (auto seed : seeds) {
    auto history = make_hostile_history(seed);
    auto outcome = run_seed_in_child(history, check_capacity);
    if (!check_capacity && kKnownOpen.count(seed) != 0 && outcome.crash.empty() && outcome.double_runs == 0 &&
        std::all_of(outcome.violations.begin(), outcome.violations.end(), [](const std::string& violation) {
          return violation.find("but really runs on 1 host(s)") != std::string::npos;
        })) {
      std::fprintf(stderr,
                   "seed %llu: known open (a drain blocked for good or a report one move behind): %zu\n",
                   static_cast<unsigned long long>(seed), outcome.violations.size());
      continue;
    }
    if (!outcome.crash.empty())
      outcome.violations.insert(outcome.violations.begin(), "the run crashed: " + outcome.crash);
    if (outcome.violations.empty() && outcome.double_runs == 0) continue;
    ++failed;
    failing_seeds += " " + std::to_string(seed);
    std::string text;
    std::map<std::string, bool> seen_here;
    for (const auto& violation : outcome.violations) {
      auto kind = violation_kind(violation);
      if (!seen_here[kind]) {
        seen_here[kind] = true;
        auto& entry = kinds[kind];
        if (entry.first++ == 0) entry.second = seed;
      }
      if (text.size() < 2000) text += "\n    " + violation;
    }
    if (const char* dump = std::getenv("REVIVE_HOSTILE_DUMP"); dump != nullptr && *dump != '\0') {
      write_history(history, dump);
    }
    ADD_FAILURE() << history.description << "\n  " << outcome.violations.size()
                  << " violation(s), double runs " << outcome.double_runs << ":" << text;
  }
  if (failed > 0) {
    std::string summary;
    for (const auto& [kind, entry] : kinds) {
      summary += "\n  " + std::to_string(entry.first) + " seed(s), e.g. seed " +
                 std::to_string(entry.second) + ": " + kind;
    }
    ADD_FAILURE() << failed << " of " << seeds.size()
                  << " hostile histories broke invariants; seeds:" << failing_seeds << "\nkinds:" << summary;
  }
}

// The safety invariants of issue 9 (the world's: two copies, a start before the old host's fence or before
// every disk is mapped there alone, limits; the outcome's: reported states match the world, moves end).
TEST(HostileHistory, ReviveKeepsEveryInvariantInRandomHostileHistories) {
  expect_no_violation(false);
}

// Host capacity at the end, replayed from the timeline. Disabled: the two engines plan with their own views
// and neither sees the room the other has planned onto a target but not yet used, so a host can end over-full
// (63 of 501 default seeds today). Run with --gtest_also_run_disabled_tests.
TEST(HostileHistory, DISABLED_BothEnginesTogetherKeepEveryHostWithinItsCapacity) {
  expect_no_violation(true);
}

}  // namespace
}  // namespace revive::sim

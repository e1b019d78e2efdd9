#include "sim/torture.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "model/inventory.h"
#include "plan/plan_checker.h"
#include "sim/simulation.h"

namespace revive::sim {

namespace {

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

// One child process running `work`, its output read back through a pipe.
struct Child {
  pid_t pid = -1;
  int read_end = -1;
};

// At most this much of a child's answer is kept (violations beyond are dropped): a child writes it in full
// before exiting, so it must fit the pipe.
constexpr std::size_t kMaxAnswer = 48 * 1024;

Child spawn(const std::function<std::string()>& work) {
  int ends[2];
  if (pipe(ends) != 0) throw std::runtime_error("pipe() failed");
  pid_t pid = fork();
  if (pid < 0) {
    close(ends[0]);
    close(ends[1]);
    throw std::runtime_error("fork() failed");
  }
  if (pid == 0) {
    close(ends[0]);
    auto text = work();
    if (text.size() > kMaxAnswer) text.resize(kMaxAnswer);
    for (std::size_t written = 0; written < text.size();) {
      auto n = write(ends[1], text.data() + written, text.size() - written);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(ends[1]);
  return {pid, ends[0]};
}

// Reads the child's answer and reaps it; `crash` says how it died, empty when it exited 0.
std::string collect(const Child& child, std::string& crash) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(child.read_end, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  close(child.read_end);
  int status = 0;
  waitpid(child.pid, &status, 0);
  crash.clear();
  if (WIFSIGNALED(status)) {
    crash = "killed by signal " + std::to_string(WTERMSIG(status));
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    crash = "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  return text;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

SeedVerdict verdict_from(const HostileHistory& history, const std::string& answer, std::string crash) {
  SeedVerdict verdict;
  verdict.seed = history.seed;
  verdict.description = history.description;
  verdict.events = history.scenario.events.size();
  verdict.violations = split_lines(answer);
  if (!verdict.violations.empty() && verdict.violations.front().rfind("threw: ", 0) == 0) {
    crash = verdict.violations.front();
    verdict.violations.clear();
  }
  if (crash.empty() && (verdict.violations.empty() || verdict.violations.front() != "ok")) {
    crash = "no result from the child";
  }
  if (!verdict.violations.empty() && verdict.violations.front() == "ok") {
    verdict.violations.erase(verdict.violations.begin());
  }
  verdict.crash = std::move(crash);
  return verdict;
}

// The child's answer: "ok" then one violation per line.
std::function<std::string()> checking(const HostileHistory& history, const HistoryChecks& checks) {
  return [&history, checks] {
    try {
      return "ok\n" + join_lines(check_history(history, checks));
    } catch (const std::exception& e) {
      // An engine that throws is that seed's crash, named by what it threw.
      return "threw: " + std::string(e.what()) + "\n";
    }
  };
}

// What a shrunk history must still show to count as the same failure.
std::string failure_kind(const SeedVerdict& verdict) {
  if (!verdict.crash.empty()) return "crash: " + verdict.crash;
  return violation_kind(verdict.violations.front());
}

bool shows(const SeedVerdict& verdict, const std::string& kind) {
  if (!verdict.crash.empty()) return "crash: " + verdict.crash == kind;
  return std::any_of(verdict.violations.begin(), verdict.violations.end(),
                     [&](const std::string& violation) { return violation_kind(violation) == kind; });
}

}  // namespace

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

std::vector<std::string> check_history(const HostileHistory& history, const HistoryChecks& checks) {
  SimulationOptions options;
  options.strategy = exec::Strategy::revive;
  std::vector<std::string> placement_violations;
  options.decision_observer = [&placement_violations](const plan::Decision& decision) {
    for (auto& problem : plan::find_plan_violations(decision.view, decision.request, decision.plan)) {
      if (placement_violations.size() < 20) {
        placement_violations.push_back(fmt::format("a {} plan at {:.1f} s breaks a constraint: {}",
                                                   decision.engine, decision.at_s, problem));
      }
    }
  };
  auto result = run_simulation(history.cloud, history.scenario, options);
  auto violations = result.violations;
  violations.insert(violations.end(), placement_violations.begin(), placement_violations.end());
  if (checks.capacity) {
    for (auto& violation : hosts_over_capacity(history, result)) violations.push_back(std::move(violation));
  }
  if (checks.max_recovery_s > 0.0) {
    for (const auto& vm : result.vms) {
      if (vm.state != exec::VmState::running) continue;
      auto lost = std::find_if(result.lost_hosts.begin(), result.lost_hosts.end(),
                               [&](const LostHostReport& host) { return host.host == vm.from; });
      if (lost == result.lost_hosts.end()) continue;
      auto took_s = vm.ready_s - result.first_event_s - lost->lost_at_s;
      if (took_s > checks.max_recovery_s)
        violations.push_back(fmt::format("{} ran again {:.1f} s after {} was lost, over the budget of {:g} s",
                                         history.cloud.vms[vm.vm].name, took_s, lost->name,
                                         checks.max_recovery_s));
    }
  }
  if (checks.stalls) {
    for (const auto& vm : result.vms) {
      if (vm.state == exec::VmState::waiting && vm.reason == "recovery did not complete")
        violations.push_back(fmt::format("{}'s recovery stalled: nothing it waits for is missing",
                                         history.cloud.vms[vm.vm].name));
    }
  }
  return violations;
}

SeedVerdict run_history_isolated(const HostileHistory& history, const HistoryChecks& checks) {
  auto child = spawn(checking(history, checks));
  std::string crash;
  auto answer = collect(child, crash);
  return verdict_from(history, answer, std::move(crash));
}

HostileHistory with_events(const HostileHistory& history, std::vector<ScenarioEvent> events) {
  HostileHistory copy = history;
  copy.scenario.events = std::move(events);
  return copy;
}

void shrink_failure(const HostileHistory& history, SeedVerdict& verdict, const HistoryChecks& checks) {
  if (!verdict.failed()) return;
  auto kind = failure_kind(verdict);
  std::vector<ScenarioEvent> events = history.scenario.events;
  std::vector<std::string> last_violations = verdict.violations;
  auto still_fails = [&](const std::vector<ScenarioEvent>& candidate) {
    auto outcome = run_history_isolated(with_events(history, candidate), checks);
    if (!shows(outcome, kind)) return false;
    last_violations = outcome.crash.empty() ? outcome.violations
                                            : std::vector<std::string>{"the run crashed: " + outcome.crash};
    return true;
  };
  // ddmin (Zeller): try each of n chunks alone, then each complement; refine n until chunks are single
  // events.
  std::size_t chunks = 2;
  while (events.size() >= 2) {
    std::size_t size = (events.size() + chunks - 1) / chunks;
    bool reduced = false;
    for (std::size_t start = 0; start < events.size() && !reduced; start += size) {
      std::vector<ScenarioEvent> chunk(
          events.begin() + static_cast<std::ptrdiff_t>(start),
          events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), start + size)));
      if (still_fails(chunk)) {
        events = std::move(chunk);
        chunks = 2;
        reduced = true;
      }
    }
    for (std::size_t start = 0; start < events.size() && !reduced && chunks > 2; start += size) {
      std::vector<ScenarioEvent> complement;
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (i < start || i >= start + size) complement.push_back(events[i]);
      }
      if (still_fails(complement)) {
        events = std::move(complement);
        chunks = std::max<std::size_t>(chunks - 1, 2);
        reduced = true;
      }
    }
    if (reduced) continue;
    if (chunks >= events.size()) break;
    chunks = std::min(events.size(), chunks * 2);
  }
  verdict.shrunk_events = std::move(events);
  verdict.shrunk_violations = last_violations;
}

std::string replay_command(std::uint64_t seed, const HostileHistoryOptions& histories,
                           const HistoryChecks& checks) {
  std::string command = fmt::format("revive torture --seeds 1 --first-seed {}", seed);
  if (histories.controller_restarts) command += " --controller-restarts";
  if (checks.capacity) command += " --check-capacity";
  if (!checks.stalls) command += " --no-check-stalls";
  if (checks.max_recovery_s > 0.0) command += fmt::format(" --max-recovery-s {:g}", checks.max_recovery_s);
  return command;
}

std::vector<std::string> save_history(const HostileHistory& history, const SeedVerdict& verdict,
                                      const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw std::runtime_error(fmt::format("cannot create {}: {}", directory, error.message()));
  std::vector<std::string> written;
  auto write = [&](const std::string& name, const std::string& text) {
    auto path = (std::filesystem::path(directory) / name).string();
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
    written.push_back(path);
  };
  auto stem = fmt::format("torture-{}", history.seed);
  std::ostringstream inventory;
  model::write_inventory(history.cloud, inventory);
  write(stem + "-inventory.yaml", inventory.str());
  write(stem + "-scenario.yaml", scenario_yaml(history));
  if (!verdict.shrunk_events.empty()) {
    auto shrunk = with_events(history, verdict.shrunk_events);
    shrunk.description = fmt::format("{} -- shrunk to {} of {} events", history.description,
                                     verdict.shrunk_events.size(), history.scenario.events.size());
    write(stem + "-shrunk-scenario.yaml", scenario_yaml(shrunk));
  }
  return written;
}

TortureReport run_torture(const TortureOptions& options,
                          const std::function<void(const SeedVerdict&)>& on_verdict) {
  auto wall_start = std::chrono::steady_clock::now();
  TortureReport report;
  report.first_seed = options.first_seed;
  report.seeds = options.seeds;
  unsigned jobs = std::max(1u, options.jobs);
  struct Running {
    std::uint64_t seed;
    std::unique_ptr<HostileHistory> history;
    Child child;
  };
  std::vector<Running> running;
  std::map<std::uint64_t, SeedVerdict> done;  // verdicts not yet handed out (seed order)
  std::uint64_t next_seed = options.first_seed, next_out = options.first_seed;
  const std::uint64_t end = options.first_seed + options.seeds;
  auto hand_out = [&] {
    for (auto it = done.find(next_out); it != done.end(); it = done.find(next_out)) {
      if (on_verdict) on_verdict(it->second);
      if (it->second.failed()) report.failures.push_back(std::move(it->second));
      done.erase(it);
      ++next_out;
    }
  };
  while (next_seed < end || !running.empty()) {
    while (next_seed < end && running.size() < jobs) {
      auto history = std::make_unique<HostileHistory>(make_hostile_history(next_seed, options.histories));
      auto child = spawn(checking(*history, options.checks));
      running.push_back({next_seed, std::move(history), child});
      ++next_seed;
    }
    // The oldest child first: answers are small, so a child never blocks on its pipe.
    auto oldest = std::move(running.front());
    running.erase(running.begin());
    std::string crash;
    auto answer = collect(oldest.child, crash);
    auto verdict = verdict_from(*oldest.history, answer, std::move(crash));
    if (verdict.failed() && options.shrink) shrink_failure(*oldest.history, verdict, options.checks);
    done.emplace(oldest.seed, std::move(verdict));
    hand_out();
  }
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return report;
}

}  // namespace revive::sim

#include "sim/simulation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include "control/controller.h"
#include "exec/bound.h"
#include "plan/planner.h"
#include "sim/sim_detector.h"

namespace revive::sim {

namespace {

// Seconds from a host losing contact until the detector declares it failed.
double detection_delay_s(const Scenario& scenario, model::HostIndex host, double at_s) {
  if (scenario.latency.detect) {
    // Keyed like a step of its own (one past the last step kind), so it never shares draws with steps.
    return draw_duration(*scenario.latency.detect, scenario.seed,
                         static_cast<env::StepKind>(env::kStepKindCount), host, model::kNoIndex, 0);
  }
  // Without a fixed delay: the host is declared failed after three heartbeat intervals without a heartbeat
  // (the phi-accrual detector of issue 6 replaces this rule).
  double interval = scenario.heartbeat.interval_ms / 1000.0;
  double since_last = std::fmod(at_s, interval);
  double jitter = scenario.heartbeat.jitter_ms / 1000.0 * uniform_variate(scenario.seed, host, 1, 0);
  return 3.0 * interval - since_last + jitter;
}

// The true duration a bound may count for a step: the shortest of the attempts this run made of it (attempt
// 0 when it never failed: the same for every strategy), so a bound never counts more than what ran.
class BoundDurations {
 public:
  explicit BoundDurations(const SimWorld& world) : world_(world) {
    for (const auto& step : world.timeline()) {
      auto subject = step.kind == env::StepKind::fence ? step.host : step.vm;
      auto& attempts = attempts_[key(step.kind, subject, step.disk)];
      attempts = std::max(attempts, step.attempt);
    }
  }
  double operator()(env::StepKind kind, model::Index subject, model::DiskIndex disk) const {
    auto found = attempts_.find(key(kind, subject, disk));
    std::uint32_t last = found == attempts_.end() ? 0 : found->second;
    double shortest = world_.base_duration_s(kind, subject, disk, 0);
    for (std::uint32_t attempt = 1; attempt <= last; ++attempt) {
      shortest = std::min(shortest, world_.base_duration_s(kind, subject, disk, attempt));
    }
    return shortest;
  }

 private:
  static std::tuple<int, model::Index, model::DiskIndex> key(env::StepKind kind, model::Index subject,
                                                             model::DiskIndex disk) {
    return {static_cast<int>(kind), subject, disk};
  }
  const SimWorld& world_;
  std::map<std::tuple<int, model::Index, model::DiskIndex>, std::uint32_t> attempts_;
};

// The lower bounds of a run (exec/bound.h), of what it did, so that no schedule of it can beat them:
//  - recovery: every VM the executor restarted, on the target it runs on, from the declaration (and fence)
//    of the host it last ran on before that start -- a host failing later, or a recovery target failing
//    after its VM started there, contributes from its own declaration; `after` edges between those VMs
//    (kept only for a VM started once, so the edge cannot stand for an earlier start); each step counted with
//    the shortest of the attempts this run made;
//  - evacuations: the live-migration bound of the VMs that moved live (exec::evacuation_lower_bound_s with
//    the others left out) and the chain of every cold move (stop, its longest disk pair or net_config,
//    start), from its drain's start. VMs left unplaced or stopped count nowhere.
void compute_bounds(const model::Cloud& cloud, const Scenario& scenario, const SimWorld& world,
                    const std::vector<double>& declared_at_s, const exec::LiveMigrationParameters& migration,
                    std::uint32_t global_max_parallel, SimulationResult& result) {
  BoundDurations durations(world);
  auto duration = [&durations](env::StepKind kind, model::Index subject, model::DiskIndex disk) {
    return durations(kind, subject, disk);
  };
  // Per VM, its successful starts and live migrations, in time order.
  std::map<model::VmIndex, std::vector<const TimelineStep*>> arrivals;
  for (const auto& step : result.timeline) {
    if (!step.finished || !step.ok || step.vm == model::kNoIndex) continue;
    if (step.kind == env::StepKind::vm_start || step.kind == env::StepKind::migrate) {
      arrivals[step.vm].push_back(&step);
    }
  }
  for (auto& [vm, steps] : arrivals) {
    std::stable_sort(steps.begin(), steps.end(),
                     [](const TimelineStep* a, const TimelineStep* b) { return a->end_s < b->end_s; });
  }
  std::vector<exec::BoundVm> vms;
  std::vector<std::uint32_t> index_of(cloud.vms.size(), model::kNoIndex);
  std::vector<bool> started_once;
  double earliest_declared = -1, latest_declared = -1;
  std::vector<bool> source_counted(cloud.hosts.size(), false);
  std::size_t sources = 0;
  for (const auto& report : result.vms) {
    if (report.state != exec::VmState::running || report.to == model::kNoIndex) continue;
    auto found = arrivals.find(report.vm);
    if (found == arrivals.end()) continue;
    const auto& steps = found->second;
    // Its last start on its target, and where it ran before that start.
    auto last = std::find_if(steps.rbegin(), steps.rend(), [&](const TimelineStep* step) {
      return step->kind == env::StepKind::vm_start && step->host == report.to;
    });
    if (last == steps.rend()) continue;
    model::HostIndex source = cloud.vms[report.vm].host;
    for (auto it = std::next(last); it != steps.rend(); ++it) {
      if ((*it)->end_s <= (*last)->start_s) {
        source = (*it)->host;
        break;
      }
    }
    double declared = result.first_event_s, fence_done = result.first_event_s;
    if (source != model::kNoIndex && declared_at_s[source] >= 0) {
      declared = declared_at_s[source];
      fence_done = declared + duration(env::StepKind::fence, source, model::kNoIndex);
      if (!source_counted[source]) {
        source_counted[source] = true;
        ++sources;
      }
      earliest_declared = earliest_declared < 0 ? declared : std::min(earliest_declared, declared);
      latest_declared = std::max(latest_declared, declared);
    }
    index_of[report.vm] = static_cast<std::uint32_t>(vms.size());
    vms.push_back({report.vm, report.to, declared, fence_done, {}});
    started_once.push_back(steps.size() == 1);
  }
  std::size_t after_edges = 0;
  for (auto& item : vms) {
    for (auto other : cloud.vms[item.vm].after) {
      auto index = index_of[other];
      if (index == model::kNoIndex || !started_once[index]) continue;
      item.after.push_back(index);
      ++after_edges;
    }
  }
  if (!vms.empty()) {
    auto bound = exec::lower_bound(cloud, vms, duration, global_max_parallel);
    result.lower_bound_s = round_ms(std::max(0.0, bound.spec_s - result.first_event_s));
    result.bound_binding = bound.spec_binding;
    result.tight_bound_s = round_ms(std::max(0.0, bound.tight_s - result.first_event_s));
    result.tight_binding = bound.tight_binding;
    result.bound_covers = fmt::format(
        "{} VM{} restarted from {} host{} declared failed{}{}", vms.size(), vms.size() == 1 ? "" : "s",
        sources, sources == 1 ? "" : "s",
        latest_declared > earliest_declared
            ? fmt::format(" between {:.1f} and {:.1f} s", earliest_declared - result.first_event_s,
                          latest_declared - result.first_event_s)
            : std::string(),
        after_edges > 0 ? fmt::format(", {} after edge{}", after_edges, after_edges == 1 ? "" : "s")
                        : std::string());
  }
  if (!result.has_evacuations) return;
  // Evacuations: live moves per drained host (the others left out of that bound), cold moves as chains.
  std::vector<double> drain_start(cloud.hosts.size(), -1.0);
  for (const auto& event : scenario.events) {
    if (event.kind != ScenarioEvent::Kind::evacuate) continue;
    for (auto host : event.hosts) {
      if (drain_start[host] < 0 || event.at_s < drain_start[host]) drain_start[host] = event.at_s;
    }
  }
  model::Cloud live_only = cloud;
  for (auto& vm : live_only.vms) vm.protect = false;
  std::map<double, std::vector<model::HostIndex>> live_sources;  // by drain start
  std::size_t live = 0, cold = 0;
  double best = 0;
  std::string binding;
  for (const auto& vm : result.evacuations) {
    if (vm.from == model::kNoIndex || drain_start[vm.from] < 0) continue;
    double from_s = drain_start[vm.from] - result.first_event_s;
    if (vm.outcome == exec::EvacuationOutcome::migrated) {
      live_only.vms[vm.vm].protect = true;
      auto& hosts = live_sources[from_s];
      if (std::find(hosts.begin(), hosts.end(), vm.from) == hosts.end()) hosts.push_back(vm.from);
      ++live;
    } else if (vm.outcome == exec::EvacuationOutcome::moved_cold && vm.to != model::kNoIndex) {
      ++cold;
      double chain = from_s + duration(env::StepKind::vm_stop, vm.vm, model::kNoIndex) +
                     exec::preparation_s(cloud, vm.vm, vm.to, duration) +
                     duration(env::StepKind::vm_start, vm.vm, model::kNoIndex);
      if (chain > best) {
        best = chain;
        binding = "cold move of " + cloud.vms[vm.vm].name;
      }
    }
  }
  // At the dirty rates this run's migrations had (the bound counts re-dirtied rounds).
  std::vector<double> dirty(cloud.vms.size());
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) dirty[v] = world.migrations().actual_dirty_mib_s(v);
  for (const auto& [from_s, hosts] : live_sources) {
    for (auto host : hosts) {
      std::string what;
      double value = from_s + exec::evacuation_lower_bound_s(live_only, {host}, migration, &what, &dirty);
      if (value > best) {
        best = value;
        binding = "live migrations: " + what;
      }
    }
  }
  if (live + cold == 0) return;
  auto covers = fmt::format("{} VM{} moved live and {} cold", live, live == 1 ? "" : "s", cold);
  result.bound_covers = result.bound_covers.empty() ? covers : result.bound_covers + "; " + covers;
  best = round_ms(best);
  if (best > result.lower_bound_s) {
    result.lower_bound_s = best;
    result.bound_binding = binding;
  }
  if (best > result.tight_bound_s) {
    result.tight_bound_s = best;
    result.tight_binding = binding;
  }
}

// The run's journal, which kills the controller right after the N-th record appended once armed (a
// `restart_controller` event): the record is durable, what the engine does after it in the same callback may
// or may not have been done.
class CrashingJournal final : public env::Journal {
 public:
  explicit CrashingJournal(InMemoryJournal& inner) : inner_(inner) {}
  std::uint64_t append(const env::JournalRecord& record) override {
    auto sequence = inner_.append(record);
    if (remaining_ > 0 && --remaining_ == 0 && on_crash) on_crash(delay_s_);
    return sequence;
  }
  std::uint64_t last_appended() const override { return inner_.last_appended(); }
  std::vector<env::JournalRecord> read_all() const override { return inner_.read_all(); }
  void arm(std::uint32_t records, double delay_s) {
    remaining_ = records;
    delay_s_ = delay_s;
  }
  std::function<void(double)> on_crash;  // kills the controller, starts a new one delay_s later

 private:
  InMemoryJournal& inner_;
  std::uint32_t remaining_ = 0;
  double delay_s_ = 0.0;
};

}  // namespace

double round_ms(double seconds) {
  return std::round(seconds * 1000.0) / 1000.0;
}

std::string_view to_string(LostHostOutcome outcome) {
  switch (outcome) {
    case LostHostOutcome::fenced:
      return "fenced";
    case LostHostOutcome::declared_not_fenced:
      return "declared_failed_not_fenced";
    case LostHostOutcome::isolated_left_alone:
      return "isolated_left_alone";
    case LostHostOutcome::fencing_held:
      return "fencing_held";
  }
  return "?";
}

bool SimulationResult::fencing_held() const {
  return std::any_of(lost_hosts.begin(), lost_hosts.end(), [](const LostHostReport& host) {
    return host.outcome == LostHostOutcome::fencing_held;
  });
}

SimulationResult run_simulation(const model::Cloud& cloud, const Scenario& scenario,
                                const SimulationOptions& options) {
  auto wall_start = std::chrono::steady_clock::now();
  // REVIVE_PROFILE=1: phase times on stderr (for docs/PERFORMANCE.md).
  bool profile = std::getenv("REVIVE_PROFILE") != nullptr;
  auto phase = [&, last = wall_start](const char* name) mutable {
    if (!profile) return;
    auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "profile: %-28s %8.1f ms\n", name,
                 std::chrono::duration<double, std::milli>(now - last).count());
    last = now;
  };
  SimulationResult result;
  result.strategy = options.strategy;

  SimEventLoop loop;
  auto executor_options = options.executor;
  executor_options.strategy = options.strategy;
  SimWorld world(cloud, scenario, loop, executor_options.global_max_parallel);
  InMemoryJournal journal;
  SimEstimator estimator(world, scenario, options.estimates);
  auto evacuation_options = options.evacuation;
  evacuation_options.strategy = options.evacuation_strategy;
  evacuation_options.migration.setup_s = scenario.migration.setup_s;
  evacuation_options.migration.downtime_ms = scenario.migration.downtime_ms;
  evacuation_options.cold = {scenario.latency.vm_stop.median_s, scenario.latency.disk_unmap.median_s,
                             scenario.latency.disk_map.median_s, scenario.latency.net_config.median_s,
                             scenario.latency.vm_start.median_s};
  evacuation_options.planner = executor_options.planner;
  // The production wiring (control/controller.h) against the simulated world. `restart_controller` events
  // kill it right after one of its journal records and start a new one on the same journal later, which
  // resumes from it; the dead one stays (halted) so that late callbacks into it are ignored.
  std::size_t recovered = 0;
  CrashingJournal crashing(journal);
  std::vector<std::unique_ptr<control::Controller>> controllers;
  control::Controller* live = nullptr;
  std::vector<bool> judged_down(cloud.hosts.size(), false);  // what the detector said, for a new controller
  std::vector<bool> declared(cloud.hosts.size(), false);     // hosts the detector declared failed
  bool restart_pending = false;  // the controller is dead and a new one not yet started
  // Operator requests and the hypervisor's stop reports that came while no controller lived: handed to the
  // new one once it resumed (an operator retries; a stop is what the new controller's listing would show).
  std::vector<std::function<void()>> while_dead;
  auto to_controller = [&restart_pending, &while_dead](std::function<void()> input) {
    if (restart_pending) {
      while_dead.push_back(std::move(input));
    } else {
      input();
    }
  };
  std::vector<bool> guest_crashed(cloud.vms.size(), false);  // by VM: a vm_crash event stopped it somewhere
  auto start_controller = [&] {
    controllers.push_back(std::make_unique<control::Controller>(
        cloud,
        control::ControllerEnvironment{loop, world.hypervisor(), world.storage(), world.network(),
                                       world.fencer(), crashing, &estimator, &world.calls()},
        control::ControllerOptions{executor_options, evacuation_options, {}}));
    live = controllers.back().get();
    if (options.decision_observer) live->set_decision_observer(options.decision_observer);
    live->set_ready_observer([&recovered](model::VmIndex) { ++recovered; });
  };
  start_controller();
  crashing.on_crash = [&](double delay_s) {
    if (restart_pending) return;  // dead already (a dead controller appends nothing; this is a guard)
    restart_pending = true;
    live->halt();
    loop.schedule_after(delay_s, [&] {
      restart_pending = false;
      start_controller();
      live->resume();
      // The detector tells the new controller what it judges now: its health verdicts, and the hosts it
      // declared failed (those declared while no controller lived are not in the journal).
      for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
        if (judged_down[h]) live->host_health(h, false);
      }
      for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
        if (declared[h]) live->host_failed(h);
      }
      auto inputs = std::move(while_dead);
      while_dead.clear();
      for (auto& input : inputs) input();
    });
  };
  auto& controller_ref = live;
  result.evacuation_strategy = options.evacuation_strategy;

  // Scenario events, and the detector's verdicts on the hosts they take down.
  result.first_event_s = scenario.events.empty() ? 0.0 : scenario.events.front().at_s;
  std::vector<double> lost_contact_s(cloud.hosts.size(), -1.0);
  std::vector<double> declared_at_s(cloud.hosts.size(), -1.0);  // with a fixed detect
  std::vector<CutChannels> cut(cloud.hosts.size(), CutChannels{false, false, false});
  std::vector<bool> crashed(cloud.hosts.size(), false), judged_cut_off(cloud.hosts.size(), false);
  double last_loss_s = 0.0;
  std::unique_ptr<SimDetector> detector;  // the real detector, made below when `latency.detect` is not fixed
  // A fixed `detect`'s verdicts while fencing is disarmed (`fencing: disarm`) are held until it is armed
  // again, as the detector itself holds them (detect::HostMonitor::disarm).
  bool fencing_armed = true;
  std::vector<model::HostIndex> held_by_disarm;              // in verdict order
  std::vector<bool> disarm_held(cloud.hosts.size(), false);  // held, not yet handed over
  auto declare_failed = [&](model::HostIndex host) {
    if (!fencing_armed) {
      if (!disarm_held[host]) held_by_disarm.push_back(host);
      disarm_held[host] = true;
      return;
    }
    if (declared_at_s[host] < 0) declared_at_s[host] = loop.now_s();
    declared[host] = true;
    controller_ref->host_failed(host);
  };
  for (const auto& event : scenario.events) {
    switch (event.kind) {
      case ScenarioEvent::Kind::fail:
      case ScenarioEvent::Kind::isolate:
        // One semantics with or without the real detector: a host that has lost every channel (a crash,
        // or an isolation that cuts its storage lease too) is declared failed, fenced and recovered; one
        // that still renews its lease (or is heard on any channel) is cut off, not dead: left alone, never
        // fenced, its VMs keep running there, and it receives no restart. A fixed `detect` stands for the
        // detector's time to either verdict.
        for (auto host : event.hosts) {
          bool crash = event.kind == ScenarioEvent::Kind::fail;
          if (crashed[host]) continue;  // nothing more can happen to a host without power
          if (lost_contact_s[host] < 0) {
            lost_contact_s[host] = event.at_s;
            result.failed_hosts.push_back(host);
          }
          last_loss_s = std::max(last_loss_s, event.at_s);
          bool was_all_cut = cut[host].all();
          if (crash) {
            crashed[host] = true;
            cut[host] = {true, true, true};
          } else {
            cut[host] |= event.channels;
          }
          loop.schedule_at(event.at_s, [&world, host, crash, channels = event.channels] {
            if (crash) {
              world.crash_host(host);
            } else {
              world.isolate_host(host, channels);
            }
          });
          if (!scenario.latency.detect) continue;
          double verdict_at = event.at_s + detection_delay_s(scenario, host, event.at_s);
          if (cut[host].all() && !was_all_cut) {
            loop.schedule_at(verdict_at, [&declare_failed, host] { declare_failed(host); });
          } else if (!cut[host].all() && !judged_cut_off[host]) {
            judged_cut_off[host] = true;
            loop.schedule_at(verdict_at, [&controller_ref, &judged_down, host] {
              judged_down[host] = true;
              controller_ref->host_health(host, false);
            });
          }
        }
        break;
      case ScenarioEvent::Kind::fail_step:
        loop.schedule_at(event.at_s, [&world, &event] { world.arm_fail_step(event); });
        break;
      case ScenarioEvent::Kind::slow_step:
        world.add_slowdown(event);
        break;
      case ScenarioEvent::Kind::restart_controller:
        loop.schedule_at(event.at_s,
                         [&crashing, &event] { crashing.arm(event.after_records, event.restart_delay_s); });
        break;
      case ScenarioEvent::Kind::evacuate: {
        result.has_evacuations = true;
        auto reason =
            exec::parse_evacuation_reason(event.reason).value_or(exec::EvacuationReason::maintenance);
        loop.schedule_at(event.at_s, [&controller_ref, &event, reason, &to_controller] {
          to_controller([&controller_ref, &event, reason] {
            controller_ref->drain(event.hosts, event.at_s + event.deadline_s, reason);
          });
        });
        break;
      }
      case ScenarioEvent::Kind::exit_maintenance:
        loop.schedule_at(event.at_s, [&controller_ref, &event, &to_controller] {
          to_controller(
              [&controller_ref, &event] { controller_ref->exit_maintenance(event.hosts, event.fail_back); });
        });
        break;
      case ScenarioEvent::Kind::cancel:
        loop.schedule_at(event.at_s, [&controller_ref, &event, &to_controller] {
          to_controller([&controller_ref, &event] { controller_ref->cancel_drain(event.hosts); });
        });
        break;
      case ScenarioEvent::Kind::vm_crash:
        // The hypervisor reports the stop at once (libvirt's lifecycle event).
        loop.schedule_at(event.at_s, [&world, &controller_ref, &guest_crashed, &to_controller,
                                      vm = event.vm] {
          if (auto host = world.crash_vm(vm); host != model::kNoIndex) {
            guest_crashed[vm] = true;
            to_controller([&controller_ref, vm, host] { controller_ref->vm_stopped_unexpectedly(vm, host); });
          }
        });
        break;
      case ScenarioEvent::Kind::fencing:
        loop.schedule_at(event.at_s, [&, arm = event.arm] {
          if (detector) {
            if (arm) {
              detector->monitor().arm();
            } else {
              detector->monitor().disarm();
            }
          }
          fencing_armed = arm;
          if (!arm) return;
          auto held = std::move(held_by_disarm);
          held_by_disarm.clear();
          for (auto host : held) {
            disarm_held[host] = false;
            declare_failed(host);
          }
        });
        break;
      case ScenarioEvent::Kind::confirm_down:
        // As revived's confirm-down: it counts only for a host declared failed; the operator has then made
        // sure it is off (the world turns it off if it was not), which is the proof a fence gives.
        loop.schedule_at(event.at_s, [&world, &controller_ref, &event, &result, &loop, &declared] {
          for (auto host : event.hosts) {
            bool accepted = declared[host];
            if (accepted) {
              world.confirm_off(host);
              accepted = controller_ref->host_confirmed_off(host);
            }
            result.confirmations.push_back({loop.now_s(), host, accepted});
          }
        });
        break;
    }
  }

  // Without a fixed detection delay the real detector watches simulated heartbeats and decides (issue 6);
  // heartbeats stop two minutes after the last host goes down, when detection no longer matters.
  if (!scenario.latency.detect && !result.failed_hosts.empty()) {
    double last_loss = last_loss_s;
    detector = std::make_unique<SimDetector>(
        loop, world, scenario, cloud.hosts.size(),
        [&controller_ref, &declared](model::HostIndex host) {
          declared[host] = true;
          controller_ref->host_failed(host);
        },
        last_loss + 120.0);
    // A host the detector does not regard as up (suspect, isolated, failed...) receives no restart until it
    // is up again.
    detector->set_health_observer(
        [&controller_ref, &judged_down](model::HostIndex host, detect::HostHealth health) {
          judged_down[host] = health != detect::HostHealth::up;
          controller_ref->host_health(host, health == detect::HostHealth::up);
        });
  }

  if (options.progress) {
    std::uint64_t next_report = 20000;
    while (loop.run_one()) {
      if (loop.callbacks_run() >= next_report) {
        next_report += 20000;
        options.progress({loop.now_s(), recovered, live->executor().report().size()});
      }
    }
  } else {
    loop.run();
  }
  phase("run (plan + execute)");
  live->finalize();
  // The live controller's restarts: a resumed one rebuilt those of the dead ones from the journal.
  result.vm_restarts = live->vm_restarts();
  auto& executor = live->executor();
  auto& evacuator = live->evacuator();
  result.callbacks = loop.callbacks_run();
  result.journal_records = journal.size();
  for (const auto& record : journal.read_all()) result.journal_kinds.push_back(record.kind);

  // Outcome, from the world's true state.
  result.vms = executor.report();
  result.timeline = world.timeline();
  result.violations = world.violations();
  result.double_runs = world.double_runs();
  if (detector) declared_at_s = detector->declared_at_s();
  std::vector<bool> held(cloud.hosts.size(), false);
  for (auto host : result.failed_hosts) {
    LostHostReport report;
    report.host = host;
    report.name = cloud.hosts[host].name;
    report.lost = crashed[host] ? "crash" : "isolate";
    if (cut[host].agent) report.channels_cut.push_back("agent");
    if (cut[host].hypervisor) report.channels_cut.push_back("hypervisor");
    if (cut[host].storage) report.channels_cut.push_back("storage");
    report.lost_at_s = round_ms(lost_contact_s[host] - result.first_event_s);
    if (declared_at_s[host] >= 0) report.declared_at_s = round_ms(declared_at_s[host] - result.first_event_s);
    for (const auto& step : result.timeline) {
      if (step.kind != env::StepKind::fence || step.host != host || !step.finished || !step.ok) continue;
      double at = round_ms(step.end_s - result.first_event_s);
      if (!report.fenced_at_s || at < *report.fenced_at_s) report.fenced_at_s = at;
    }
    for (const auto& confirmation : result.confirmations) {
      if (confirmation.host != host || !confirmation.accepted) continue;
      double at = round_ms(confirmation.at_s - result.first_event_s);
      if (!report.fenced_at_s || at < *report.fenced_at_s) {
        report.fenced_at_s = at;
        report.reason = "confirmed off by an operator";
      }
    }
    std::string blocked;  // the first reason the detector gave for holding the host's fence
    if (disarm_held[host])
      blocked = "fencing disarmed by an operator and not armed again: its fence held back";
    if (detector) {
      for (const auto& event : detector->events()) {
        if (event.host == host && event.kind == detect::HostEvent::Kind::fence_blocked) {
          blocked = event.reason;
          break;
        }
      }
    }
    if (report.fenced_at_s) {
      report.outcome = LostHostOutcome::fenced;
    } else if (report.declared_at_s) {
      report.outcome = LostHostOutcome::declared_not_fenced;
      bool fence_tried = std::any_of(result.timeline.begin(), result.timeline.end(), [&](const auto& step) {
        return step.kind == env::StepKind::fence && step.host == host;
      });
      bool runs_protected = std::any_of(cloud.vms.begin(), cloud.vms.end(),
                                        [&](const model::Vm& vm) { return vm.host == host && vm.protect; });
      if (cloud.hosts[host].state == model::HostState::down) {
        report.reason = "already down in the inventory: nothing to fence, nothing to recover";
      } else if (fence_tried) {
        report.reason = "its fence never succeeded: its protected VMs wait for a proof";
      } else if (!runs_protected) {
        report.reason =
            "no protected VM to recover: not fenced (a fence would only kill its unprotected VMs)";
      } else {
        report.reason = "never fenced";
      }
    } else if (!blocked.empty()) {
      report.outcome = LostHostOutcome::fencing_held;
      report.reason = blocked;
      held[host] = true;
    } else {
      report.outcome = LostHostOutcome::isolated_left_alone;
      report.reason = !cut[host].storage
                          ? "its storage lease stayed alive: cut off, not dead; its VMs keep running there"
                          : "still heard on a channel: cut off, not dead; its VMs keep running there";
    }
    result.lost_hosts.push_back(std::move(report));
  }
  std::vector<bool> reported(cloud.vms.size(), false);
  double last_running = result.first_event_s;
  std::array<double, model::kPriorityCount> tier_last{};
  std::array<bool, model::kPriorityCount> tier_any_running{};
  for (const auto& vm : result.vms) {
    reported[vm.vm] = true;
    auto tier = static_cast<int>(vm.priority);
    result.tier_present[tier] = true;
    const auto& copies = world.running_on(vm.vm);
    switch (vm.state) {
      case exec::VmState::running: {
        // Recovered onto a host lost later whose fence is held back by decision (storm guard, disarmed): it
        // is not recovered again, and is counted with the held ones below, not as a bug.
        if (copies.empty() && vm.to != model::kNoIndex && held[vm.to]) break;
        // Its guest crashed there later and its restart in place has not answered (its host cut off): the
        // restart's report rules (below), not the recovery's.
        auto restart = std::find_if(result.vm_restarts.rbegin(), result.vm_restarts.rend(),
                                    [&vm](const control::VmRestart& r) { return r.vm == vm.vm; });
        if (copies.empty() && restart != result.vm_restarts.rend() && restart->host == vm.to &&
            (restart->state == control::VmRestart::State::scheduled ||
             restart->state == control::VmRestart::State::starting || restart->outcome_unknown)) {
          ++result.waiting;
          break;
        }
        if (copies.size() != 1 || copies.front() != vm.to) {
          result.violations.push_back(
              fmt::format("{} is reported running on {} but really runs on {} host(s)", cloud.vms[vm.vm].name,
                          cloud.hosts[vm.to].name, copies.size()));
          break;
        }
        ++result.restarted;
        double since = world.running_since_s(vm.vm);
        last_running = std::max(last_running, since);
        tier_last[tier] = std::max(tier_last[tier], since);
        tier_any_running[tier] = true;
        break;
      }
      case exec::VmState::waiting:
        ++result.waiting;
        break;
      case exec::VmState::failed:
        ++result.failed;
        break;
      case exec::VmState::recovering:
        result.violations.push_back(fmt::format("{} is still recovering at the end", cloud.vms[vm.vm].name));
        break;
    }
    if (vm.state != exec::VmState::running && vm.reason.empty()) {
      result.violations.push_back(
          fmt::format("{} ends {} without a reason", cloud.vms[vm.vm].name, exec::to_string(vm.state)));
    }
  }
  // Evacuations, checked against the world: a moved VM runs on its target alone, a stopped one nowhere.
  result.evacuations = evacuator.report();
  for (const auto& vm : result.evacuations) {
    if (reported[vm.vm]) continue;  // its host failed and the executor took charge of it: its outcome rules
    reported[vm.vm] = true;
    const auto& copies = world.running_on(vm.vm);
    const auto& name = cloud.vms[vm.vm].name;
    auto tier = static_cast<int>(vm.priority);
    switch (vm.outcome) {
      case exec::EvacuationOutcome::migrated:
      case exec::EvacuationOutcome::moved_cold:
        if (copies.size() != 1 || copies.front() != vm.to) {
          result.violations.push_back(fmt::format("{} was moved to {} but really runs on {} host(s)", name,
                                                  cloud.hosts[vm.to].name, copies.size()));
          break;
        }
        ++result.evacuated;
        ++(vm.outcome == exec::EvacuationOutcome::migrated ? result.migrated : result.moved_cold);
        last_running = std::max(last_running, vm.end_s);
        result.tier_present[tier] = true;
        tier_last[tier] = std::max(tier_last[tier], vm.end_s);
        tier_any_running[tier] = true;
        break;
      case exec::EvacuationOutcome::stopped:
        ++result.stopped;
        if (!copies.empty()) result.violations.push_back(name + " was reported stopped but still runs");
        break;
      case exec::EvacuationOutcome::not_placed:
        ++result.not_placed;
        break;
      case exec::EvacuationOutcome::failed:
        ++result.failed;
        break;
      case exec::EvacuationOutcome::cancelled:
        // Its move never began (the host left maintenance or the drain was cancelled): it runs where it was.
        ++result.cancelled;
        // (Unless its host was lost later, or its guest crashed: a VM nobody restarts -- protect: false --
        // then runs nowhere, rightly; found by revive torture.)
        if (copies.size() != 1 &&
            !(copies.empty() && (!world.powered(vm.from) || world.fenced(vm.from) ||
                                 (!cloud.vms[vm.vm].protect && guest_crashed[vm.vm])))) {
          result.violations.push_back(
              fmt::format("{}'s move was cancelled but it runs on {} host(s)", name, copies.size()));
        }
        break;
      case exec::EvacuationOutcome::pending:
      case exec::EvacuationOutcome::migrating:
      case exec::EvacuationOutcome::moving_cold:
        result.violations.push_back(fmt::format("{} is still being moved at the end", name));
        break;
    }
    if (vm.running_at_deadline) ++result.running_at_deadline;
    if (vm.cold || vm.running_at_deadline || vm.outcome == exec::EvacuationOutcome::not_placed ||
        vm.outcome == exec::EvacuationOutcome::failed || vm.outcome == exec::EvacuationOutcome::cancelled) {
      nlohmann::ordered_json item;
      item["vm"] = name;
      item["from"] = cloud.hosts[vm.from].name;
      item["outcome"] = exec::to_string(vm.outcome);
      item["priority"] = model::to_string(vm.priority);
      item["reason"] =
          !vm.reason.empty() || vm.outcome != exec::EvacuationOutcome::cancelled
              ? vm.reason
              : "its host left maintenance or its evacuation was cancelled before its move began";
      result.evacuation_reported.push_back(std::move(item));
    }
    bool needs_reason = vm.running_at_deadline || vm.cold || vm.outcome == exec::EvacuationOutcome::failed ||
                        vm.outcome == exec::EvacuationOutcome::not_placed;
    if (needs_reason && vm.reason.empty()) {
      result.violations.push_back(
          fmt::format("{} ends {} without a reason", name, exec::to_string(vm.outcome)));
    }
  }
  for (const auto& violation : world.migrations().violations()) result.violations.push_back(violation);
  result.peak_migrations_per_host = world.peak_migrations_per_host();
  result.peak_nic_utilisation = world.migrations().peak_nic_utilisation();

  result.makespan_s = round_ms(last_running - result.first_event_s);
  for (int tier = 0; tier < model::kPriorityCount; ++tier) {
    if (tier_any_running[tier]) result.tier_done_s[tier] = round_ms(tier_last[tier] - result.first_event_s);
  }

  // Every protected VM that ran when the scenario began must run at the end, or wait with a reason; those
  // that do not run although a placement exists are lost.
  std::vector<const exec::VmReport*> report_of(cloud.vms.size(), nullptr);
  for (const auto& vm : result.vms) report_of[vm.vm] = &vm;
  std::vector<const exec::EvacuationVmReport*> evacuation_of(cloud.vms.size(), nullptr);
  for (const auto& vm : result.evacuations) evacuation_of[vm.vm] = &vm;
  std::vector<model::VmIndex> not_running;  // the ones a placement might have saved
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    const auto& vm = cloud.vms[v];
    if (!vm.protect || vm.host == model::kNoIndex || cloud.hosts[vm.host].state == model::HostState::down)
      continue;
    if (!world.running_on(v).empty()) continue;
    NotRunningVm outcome;
    outcome.vm = v;
    outcome.name = vm.name;
    outcome.priority = vm.priority;
    // Where the VM was when its host was lost: its inventory host, or where it was recovered to earlier.
    auto last_host = vm.host;
    if (const auto* report = report_of[v]; report && report->state == exec::VmState::running)
      last_host = report->to;
    if (held[last_host] && (!reported[v] || last_host != vm.host)) {
      // Not recovered by decision (no fence, no proof, no restart): not lost, not a bug.
      for (auto& host : result.lost_hosts) {
        if (host.host != last_host) continue;
        host.vms_held += 1;
        outcome.reason = "fencing of " + host.name + " held back: " + host.reason;
      }
      outcome.state = "held";
      result.not_running.push_back(std::move(outcome));
      continue;
    }
    if (const auto* report = report_of[v]) {
      outcome.priority = report->priority;
      outcome.state = std::string(exec::to_string(report->state));
      outcome.waiting_for_proof = report->waiting_for_proof;
      outcome.reason = report->reason;
    } else if (const auto* move = evacuation_of[v]) {
      outcome.priority = move->priority;
      outcome.state = std::string(exec::to_string(move->outcome));
      outcome.reason = move->reason;
    } else if (auto restart = std::find_if(result.vm_restarts.rbegin(), result.vm_restarts.rend(),
                                           [v](const control::VmRestart& r) { return r.vm == v; });
               restart != result.vm_restarts.rend() &&
               (restart->state == control::VmRestart::State::scheduled ||
                restart->state == control::VmRestart::State::starting || restart->outcome_unknown)) {
      outcome.state = restart->state == control::VmRestart::State::starting ? "recovering" : "waiting";
      outcome.reason = restart->reason.empty() ? "its restart in place has not answered" : restart->reason;
    } else {
      outcome.state = "waiting";
      outcome.reason = "the executor never took charge of it";
      result.violations.push_back(
          fmt::format("{} does not run at the end and the executor never took charge of it", vm.name));
    }
    // A VM waiting for a fence that never succeeds is not lost: a placement existed but no proof.
    if (!outcome.waiting_for_proof) not_running.push_back(v);
    result.not_running.push_back(std::move(outcome));
  }
  phase("outcome");
  if (!not_running.empty()) {
    model::Cloud final_state = cloud;
    plan::PlanRequest request;
    for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
      if (!world.powered(h) || !world.reachable(h)) {
        final_state.hosts[h].state = model::HostState::down;
        request.failed_hosts.push_back(h);
      }
    }
    for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
      const auto& copies = world.running_on(v);
      if (!copies.empty()) final_state.vms[v].host = copies.front();
    }
    request.only_vms = not_running;
    auto placeable = plan::plan_failover(final_state, request, executor_options.planner);
    result.lost = static_cast<std::uint32_t>(placeable.placements.size());
    std::vector<bool> placeable_vm(cloud.vms.size(), false);
    for (const auto& placement : placeable.placements) placeable_vm[placement.vm] = true;
    for (auto& outcome : result.not_running) outcome.lost = placeable_vm[outcome.vm];
  }

  phase("lost check");
  // The lower bounds (exec/bound.h): of what this run did, for any schedule of it.
  compute_bounds(cloud, scenario, world, declared_at_s, evacuation_options.migration,
                 executor_options.global_max_parallel, result);
  phase("lower bound");
  result.estimated_bound_s = executor.estimated_bound_s();
  result.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

nlohmann::ordered_json summary_json(const SimulationResult& result) {
  nlohmann::ordered_json out;
  bool only_evacuations = result.has_evacuations && result.failed_hosts.empty();
  out["strategy"] =
      only_evacuations ? exec::to_string(result.evacuation_strategy) : exec::to_string(result.strategy);
  out["makespan_s"] = result.makespan_s;
  out["lower_bound_s"] = result.lower_bound_s;
  out["tight_bound_s"] = result.tight_bound_s;
  out["bound_covers"] = result.bound_covers;
  out["restarted"] = result.restarted;
  out["evacuated"] = result.evacuated;
  out["waiting"] = result.waiting;
  out["failed"] = result.failed;
  out["double_runs"] = result.double_runs;
  out["lost"] = result.lost;
  nlohmann::ordered_json tiers = nlohmann::ordered_json::object();
  for (int tier = 0; tier < model::kPriorityCount; ++tier) {
    if (!result.tier_present[tier]) continue;
    auto name = std::string(model::to_string(static_cast<model::Priority>(tier)));
    if (result.tier_done_s[tier]) {
      tiers[name] = *result.tier_done_s[tier];
    } else {
      tiers[name] = nullptr;
    }
  }
  out["tier_done_s"] = tiers;
  if (!result.lost_hosts.empty()) {
    auto hosts = nlohmann::ordered_json::array();
    for (const auto& host : result.lost_hosts) {
      nlohmann::ordered_json item;
      item["host"] = host.name;
      item["lost"] = host.lost;
      item["channels_cut"] = host.channels_cut;
      item["lost_at_s"] = host.lost_at_s;
      item["outcome"] = to_string(host.outcome);
      item["declared_at_s"] = host.declared_at_s ? nlohmann::ordered_json(*host.declared_at_s) : nullptr;
      item["fenced_at_s"] = host.fenced_at_s ? nlohmann::ordered_json(*host.fenced_at_s) : nullptr;
      item["reason"] = host.reason;
      item["vms_held"] = host.vms_held;
      hosts.push_back(std::move(item));
    }
    out["hosts"] = std::move(hosts);
  }
  out["wall_ms"] = std::round(result.wall_ms * 10.0) / 10.0;
  if (!result.not_running.empty()) {
    auto vms = nlohmann::ordered_json::array();
    for (const auto& vm : result.not_running) {
      nlohmann::ordered_json item;
      item["vm"] = vm.name;
      item["priority"] = model::to_string(vm.priority);
      item["state"] = vm.state;
      item["waiting_for_proof"] = vm.waiting_for_proof;
      item["lost"] = vm.lost;
      item["reason"] = vm.reason;
      vms.push_back(std::move(item));
    }
    out["not_running"] = std::move(vms);
  }
  if (result.has_evacuations) {
    nlohmann::ordered_json evacuation;
    evacuation["strategy"] = exec::to_string(result.evacuation_strategy);
    evacuation["migrated"] = result.migrated;
    evacuation["moved_cold"] = result.moved_cold;
    evacuation["stopped"] = result.stopped;
    evacuation["not_placed"] = result.not_placed;
    evacuation["cancelled"] = result.cancelled;
    evacuation["running_at_deadline"] = result.running_at_deadline;
    evacuation["peak_migrations_per_host"] = result.peak_migrations_per_host;
    evacuation["reported"] = result.evacuation_reported;
    out["evacuation"] = std::move(evacuation);
  }
  return out;
}

nlohmann::ordered_json timeline_json(const model::Cloud& cloud, const SimulationResult& result) {
  std::vector<std::size_t> order(result.timeline.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return result.timeline[a].start_s < result.timeline[b].start_s;
  });
  double end_of_run = result.first_event_s;
  for (const auto& step : result.timeline) end_of_run = std::max(end_of_run, step.end_s);
  auto steps = nlohmann::ordered_json::array();
  for (auto index : order) {
    const auto& step = result.timeline[index];
    nlohmann::ordered_json item;
    item["vm"] = step.vm == model::kNoIndex ? std::string() : cloud.vms[step.vm].name;
    item["step"] = env::to_string(step.kind);
    item["host"] = step.host == model::kNoIndex ? std::string() : cloud.hosts[step.host].name;
    item["disk"] = step.disk == model::kNoIndex ? std::string() : cloud.disks[step.disk].name;
    item["start_s"] = round_ms(step.start_s - result.first_event_s);
    item["end_s"] = round_ms((step.finished ? step.end_s : end_of_run) - result.first_event_s);
    item["ok"] = step.finished && step.ok;
    if (step.kind == env::StepKind::migrate && step.from != model::kNoIndex) {
      item["from"] = cloud.hosts[step.from].name;
      item["rounds"] = step.rounds;
      item["downtime_s"] = round_ms(step.downtime_s);
    }
    steps.push_back(std::move(item));
  }
  nlohmann::ordered_json out;
  out["steps"] = std::move(steps);
  return out;
}

std::string summary_table(const model::Cloud& cloud, const SimulationResult& result) {
  std::string text;
  text += fmt::format("strategy        {}\n", exec::to_string(result.strategy));
  text += fmt::format("makespan        {:.1f} s\n", result.makespan_s);
  if (result.bound_covers.empty()) {
    text += "lower bound     none: nothing was restarted or moved\n";
  } else {
    auto ratio = [&](double bound) {
      return bound > 0 ? fmt::format("makespan = {:.2f}x the bound", result.makespan_s / bound)
                       : std::string("nothing to wait for");
    };
    text += fmt::format("lower bound     {:.1f} s  (set by {}; {})\n", result.lower_bound_s,
                        result.bound_binding, ratio(result.lower_bound_s));
    if (result.tight_bound_s > result.lower_bound_s) {
      text += fmt::format("tighter bound   {:.1f} s  (set by {}; {})\n", result.tight_bound_s,
                          result.tight_binding, ratio(result.tight_bound_s));
    }
    text += fmt::format("bounds cover    {}\n", result.bound_covers);
  }
  text += fmt::format("restarted       {}\n", result.restarted);
  text += fmt::format("waiting         {}\n", result.waiting);
  text += fmt::format("failed          {}\n", result.failed);
  text += fmt::format("double runs     {}\n", result.double_runs);
  text += fmt::format("lost            {}\n", result.lost);
  for (int tier = 0; tier < model::kPriorityCount; ++tier) {
    if (!result.tier_present[tier]) continue;
    auto name = model::to_string(static_cast<model::Priority>(tier));
    if (result.tier_done_s[tier]) {
      text += fmt::format("{:<16}{:.1f} s\n", fmt::format("{} done", name), *result.tier_done_s[tier]);
    } else {
      text += fmt::format("{:<16}never (none of it runs)\n", fmt::format("{} done", name));
    }
  }
  if (result.has_evacuations) {
    text += fmt::format(
        "evacuation      {}: {} migrated live, {} moved cold, {} stopped (protect: false), {} not "
        "placed, {}{} still running at a deadline\n",
        exec::to_string(result.evacuation_strategy), result.migrated, result.moved_cold, result.stopped,
        result.not_placed, result.cancelled > 0 ? fmt::format("{} cancelled, ", result.cancelled) : "",
        result.running_at_deadline);
    text += fmt::format("migrations      at most {} at once on one host; busiest NIC at {:.0f}%\n",
                        result.peak_migrations_per_host, result.peak_nic_utilisation * 100);
    for (const auto& item : result.evacuation_reported) {
      text += fmt::format("  {} ({}, on {}): {}: {}\n", item["vm"].get<std::string>(),
                          item["priority"].get<std::string>(), item["from"].get<std::string>(),
                          item["outcome"].get<std::string>(), item["reason"].get<std::string>());
    }
  }
  if (!result.lost_hosts.empty()) text += "hosts lost:\n";
  for (const auto& host : result.lost_hosts) {
    text += fmt::format("  {} ({} at {:.1f} s): ", host.name, host.lost, host.lost_at_s);
    switch (host.outcome) {
      case LostHostOutcome::fenced:
        text += fmt::format("declared failed at {:.1f} s, fenced at {:.1f} s\n",
                            host.declared_at_s.value_or(0), host.fenced_at_s.value_or(0));
        break;
      case LostHostOutcome::declared_not_fenced:
        text += fmt::format("declared failed at {:.1f} s, not fenced: {}\n", host.declared_at_s.value_or(0),
                            host.reason);
        break;
      case LostHostOutcome::isolated_left_alone:
        text += fmt::format("isolated, left alone: {}\n", host.reason);
        break;
      case LostHostOutcome::fencing_held:
        text += fmt::format("FENCING HELD, {} protected VM{} not recovered: {}\n", host.vms_held,
                            host.vms_held == 1 ? "" : "s", host.reason);
        break;
    }
  }
  text += fmt::format("wall time       {:.0f} ms\n", result.wall_ms);
  std::size_t shown = 0;
  for (const auto& vm : result.not_running) {
    if (shown == 0) text += "not running:\n";
    if (shown++ == 100) break;
    text += fmt::format("  {} ({}, {}{}): {}\n", cloud.vms[vm.vm].name, model::to_string(vm.priority),
                        vm.state, vm.lost ? ", LOST: a placement existed" : "", vm.reason);
  }
  if (result.not_running.size() > 100) {
    text += fmt::format("  ... and {} more\n", result.not_running.size() - 100);
  }
  if (!result.violations.empty()) {
    text += fmt::format("INVARIANTS BROKEN ({}):\n", result.violations.size());
    for (std::size_t i = 0; i < result.violations.size() && i < 20; ++i)
      text += "  " + result.violations[i] + "\n";
  }
  return text;
}

}  // namespace revive::sim

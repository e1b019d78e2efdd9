// The simulated cloud: the true state of hosts (powered, reachable, fenced), VM copies (which host runs which
// VM) and disk mappings (which hosts may access which disk), the operations in flight on every resource, and
// the timeline of every step. It implements the environment interfaces (SimHypervisor, SimStorage,
// SimNetwork, SimFencer below, plus an in-memory Journal) on a SimEventLoop: an operation takes the duration
// the scenario's latency model draws for (seed, step, subject, disk, attempt), scaled by slow_step events,
// and fails when a fail_step event says so.
//
// It checks the safety invariants at every instant, independently of the engine: never two running copies of
// a VM (an isolated host's VMs still run until it is fenced); no VM starts before every host it ran on is
// fenced (or it was stopped there) and every disk of it is mapped to the target and to no other host; no
// resource's concurrency limit exceeded (array, switch, endpoint, host_max_parallel_restarts, the policy's
// fence_max_parallel, the global limit). Violations are collected as sentences, never thrown.
//
// Failure model: a crashed host loses power (its VMs stop) and answers nothing; an isolated host keeps
// running its VMs but neither receives the controller's calls nor answers them. Hypervisor calls to either
// hang (no completion: the engine's timeouts and failure detection must cope); operations in flight on a
// crashed host end there. Arrays, switches and BMCs stay reachable, so storage steps and fencing still work.
//
// Thread-safety: none; everything runs on the SimEventLoop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "env/calls_in_progress.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/journal.h"
#include "env/step.h"
#include "env/storage.h"
#include "model/cloud.h"
#include "sim/event_loop.h"
#include "sim/scenario.h"
#include "sim/sim_migration.h"

namespace revive::sim {

// One step as it really ran.
struct TimelineStep {
  env::StepKind kind = env::StepKind::vm_start;
  model::VmIndex vm = model::kNoIndex;      // kNoIndex for fence
  model::HostIndex host = model::kNoIndex;  // fence: the fenced host; unmap: source; others: target
  model::HostIndex from = model::kNoIndex;  // migrate only
  model::DiskIndex disk = model::kNoIndex;  // disk steps only
  std::uint32_t attempt = 0;
  double start_s = 0.0;
  double end_s = 0.0;
  bool ok = false;
  bool finished = false;  // false while in flight (and for calls that hang forever)
  std::string error;
  // migrate only: pre-copy rounds, when each ended, and the stop-and-copy pause (docs/evacuation.md).
  std::uint32_t rounds = 0;
  std::vector<double> round_ends_s;
  double downtime_s = 0.0;
};

class SimHypervisor;
class SimStorage;
class SimNetwork;
class SimFencer;
class SimCalls;

class SimWorld {
 public:
  // `cloud` must outlive the world. `global_max_parallel` (0 = none) is checked like any other limit.
  SimWorld(const model::Cloud& cloud, const Scenario& scenario, SimEventLoop& loop,
           std::uint32_t global_max_parallel = 0);
  ~SimWorld();
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  env::Hypervisor& hypervisor();
  env::Storage& storage();
  env::Network& network();
  env::Fencer& fencer();
  // Which calls are still running, whoever made them (a controller that died among them).
  env::CallsInProgress& calls();

  // Faults.
  void crash_host(model::HostIndex host);
  // Cuts the host's channels to the controller (sim/scenario.h CutChannels): `hypervisor` makes every
  // management call to it hang (and tells the engine its connection was lost), `agent` silences its agent's
  // heartbeats, `storage` stops its lease renewals. Its VMs keep running. Cuts add up; none is ever undone.
  void isolate_host(model::HostIndex host, const CutChannels& cut = {});
  void arm_fail_step(const ScenarioEvent& event);
  void add_slowdown(const ScenarioEvent& event);
  // The VM stops on its own (a guest crash) where it runs; the hypervisor reports it. Returns that host, or
  // kNoIndex if it ran nowhere or its host is unreachable (then nothing happens: no one could hear of it).
  model::HostIndex crash_vm(model::VmIndex vm);
  // An operator verified the host is off (and turned it off if it was not): the proof a manual fence level
  // gives. A fence of it in flight, or a later one, succeeds whatever failure was injected.
  void confirm_off(model::HostIndex host);

  // True state.
  bool powered(model::HostIndex host) const { return powered_[host]; }
  bool reachable(model::HostIndex host) const { return reachable_[host]; }
  // Whether the host's agent heartbeats, and its storage lease renewals, still get through.
  bool agent_heard(model::HostIndex host) const { return powered_[host] && !agent_cut_[host]; }
  bool lease_renewed(model::HostIndex host) const { return powered_[host] && !lease_cut_[host]; }
  bool fenced(model::HostIndex host) const { return fenced_[host]; }
  // Hosts where the VM runs right now (normally zero or one).
  const std::vector<model::HostIndex>& running_on(model::VmIndex vm) const { return copies_[vm]; }
  const std::vector<model::HostIndex>& mapped_to(model::DiskIndex disk) const { return disk_hosts_[disk]; }
  // When the VM last became running (a start completed), or a negative value if it never did.
  double running_since_s(model::VmIndex vm) const { return running_since_[vm]; }

  const std::vector<TimelineStep>& timeline() const { return timeline_; }
  const std::vector<std::string>& violations() const { return violations_; }
  std::uint32_t double_runs() const { return double_runs_; }
  // The largest number of operations ever in flight at once on any array / endpoint (for reports).
  std::uint32_t peak_in_flight() const { return peak_in_flight_; }
  // Live migrations (sim/sim_migration.h): NIC bandwidth shared by the migrations in flight; their own
  // invariant (no NIC over its bandwidth) is checked there. At most host_max_parallel_migrations per host.
  const SimMigrations& migrations() const { return *migrations_; }
  std::uint32_t peak_migrations_per_host() const { return peak_migrations_per_host_; }

  // The duration of attempt 0 of a step as drawn from the scenario (no slowdowns): the estimate of a perfect
  // history, and the durations the lower bound uses.
  double base_duration_s(env::StepKind kind, model::Index subject, model::DiskIndex disk,
                         std::uint32_t attempt = 0) const;

 private:
  friend class SimHypervisor;
  friend class SimStorage;
  friend class SimNetwork;
  friend class SimFencer;
  friend class SimCalls;

  struct Resources {
    model::ArrayIndex array = model::kNoIndex;
    model::EndpointIndex endpoint = model::kNoIndex;
    model::EndpointIndex second_endpoint = model::kNoIndex;  // a migration's target endpoint, if another
    model::SwitchIndex network_switch = model::kNoIndex;
    model::HostIndex start_host = model::kNoIndex;    // counts against host_max_parallel_restarts
    model::HostIndex migrate_from = model::kNoIndex;  // both count against host_max_parallel_migrations
    model::HostIndex migrate_to = model::kNoIndex;
    bool global = false;
    bool fence = false;  // counts against the policy's fence_max_parallel
  };
  struct InFlight {
    std::size_t step = 0;  // index into timeline_
    Resources resources;
    env::TimerId timer = 0;
    model::HostIndex hypervisor_host = model::kNoIndex;  // hypervisor calls end when this host crashes
    std::uint64_t migration = 0;                         // SimMigrations id, for migrate steps
  };

  std::uint32_t next_attempt(env::StepKind kind, model::Index subject, model::DiskIndex disk);
  bool take_failure(env::StepKind kind, model::Index subject, model::DiskIndex disk);
  double slow_factor(const Resources& resources, model::HostIndex host) const;
  // Records the step, claims its resources (noting any limit exceeded) and returns its in-flight id.
  std::uint64_t begin(TimelineStep step, const Resources& resources, model::HostIndex hypervisor_host);
  // Ends an operation: releases resources, completes the timeline entry.
  void finish(std::uint64_t id, bool ok, const std::string& error);
  void claim(const Resources& resources, std::size_t step);
  void release(const Resources& resources);
  void violation(std::string text);
  void power_off(model::HostIndex host);
  void check_start_allowed(model::VmIndex vm, model::HostIndex target);
  std::string describe(const TimelineStep& step) const;

  const model::Cloud& cloud_;
  const Scenario& scenario_;
  SimEventLoop& loop_;
  std::uint32_t global_max_parallel_;

  std::vector<bool> powered_, reachable_, fenced_, agent_cut_, lease_cut_;
  std::vector<bool> confirmed_off_;  // by an operator (confirm_off)
  std::vector<std::vector<model::HostIndex>> copies_;
  std::vector<std::vector<model::HostIndex>> ran_on_;  // hosts a VM ran on and was not proven stopped on
  std::vector<double> running_since_;
  std::vector<std::vector<model::HostIndex>> disk_hosts_;
  std::vector<std::vector<model::VmIndex>> vms_running_on_host_;  // may hold stale entries; checked on use

  std::vector<std::uint32_t> array_busy_, endpoint_busy_, switch_busy_, host_starts_busy_;
  std::uint32_t global_busy_ = 0;
  std::uint32_t fences_busy_ = 0;
  std::uint32_t peak_in_flight_ = 0;

  std::unordered_map<std::uint64_t, std::uint32_t> attempts_;
  struct ArmedFailure {
    env::StepKind kind;
    model::Index subject;
    model::DiskIndex disk;
    std::uint32_t remaining;
  };
  std::vector<ArmedFailure> armed_failures_;
  struct Slowdown {
    ResourceKind kind;
    model::Index resource;
    double factor;
    double from_s, until_s;
  };
  std::vector<Slowdown> slowdowns_;

  std::unordered_map<std::uint64_t, InFlight> in_flight_;
  std::uint64_t next_in_flight_ = 1;
  std::vector<TimelineStep> timeline_;
  std::vector<std::string> violations_;
  std::uint32_t double_runs_ = 0;
  std::vector<std::function<void(const env::HypervisorEvent&)>> hypervisor_handlers_;
  std::vector<bool> connection_lost_ = std::vector<bool>(cloud_.hosts.size(), false);  // reported lost

  std::vector<std::uint32_t> host_migrations_busy_;
  std::uint32_t peak_migrations_per_host_ = 0;
  std::unique_ptr<SimMigrations> migrations_;
  std::unique_ptr<SimHypervisor> hypervisor_;
  std::unique_ptr<SimStorage> storage_;
  std::unique_ptr<SimNetwork> network_;
  std::unique_ptr<SimCalls> calls_;
  std::unique_ptr<SimFencer> fencer_;
};

// An in-memory Journal ("durable" for the life of the process).
class InMemoryJournal final : public env::Journal {
 public:
  std::uint64_t append(const env::JournalRecord& record) override {
    records_.push_back(record);
    return records_.size();
  }
  std::uint64_t last_appended() const override { return records_.size(); }
  std::vector<env::JournalRecord> read_all() const override { return records_; }
  std::size_t size() const { return records_.size(); }

 private:
  std::vector<env::JournalRecord> records_;
};

// Duration estimates for the scheduler. `history` (the default): what earlier recoveries of the same VMs
// teach, the subject's habit alone (latency.h habit_duration) -- never this run's noise, nor slowdowns and
// failures; `median`: the latency model's median per kind, the same for every VM; `clairvoyant`: this run's
// own attempt-0 draws, a scheduler that knows the future -- for analysis only, never a headline figure.
class SimEstimator final : public env::DurationEstimator {
 public:
  enum class Mode { history, median, clairvoyant };
  SimEstimator(const SimWorld& world, const Scenario& scenario, Mode mode)
      : world_(world), scenario_(scenario), mode_(mode) {}
  double expected_s(env::StepKind kind, model::Index subject, model::DiskIndex disk) const override;
  // The scenario's own noise model: history leaves spread x sqrt(1 - repeatability) unknown (this run's
  // noise), median the whole spread, clairvoyant nothing.
  std::optional<double> noise_spread(env::StepKind kind) const override;

 private:
  const SimWorld& world_;
  const Scenario& scenario_;
  Mode mode_;
};

}  // namespace revive::sim

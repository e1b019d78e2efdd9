// The recovery executor: turns failover plans into steps and runs them through the environment interfaces
// (never a driver directly), so the same engine drives the simulator and real clouds.
//
// When the failure detector declares a host failed (on_host_failed), the executor fences it (once per host),
// asks the planner for targets for its protected VMs, and runs for every placed VM a graph of steps: unmap
// each disk from every host it may still be mapped to (at once from a host declared failed: taking its disks
// is itself a fence; from a live host once it is proven empty of the VM), map it to the target, configure
// the VM's networks through the target's switch (when it has one; harmless before the start, so at once),
// then start the VM on the target through its endpoint -- only once every host it may run on is fenced (or
// proven empty of it), every disk is mapped to the target alone, and the VMs it starts `after` are running.
// So the critical path after a failure is max(fence, preparation) + start, not fence + preparation + start.
// Every step runs within the concurrency limit of its resource scopes (array, switch, endpoint, target host's
// host_max_parallel_restarts, the optional global limit), has a timeout, is retried with exponential backoff,
// and once it fails for good (or its target host fails) the VM goes back to the planner with the cloud as it
// is then, excluding the hosts that failed it. VMs the planner cannot place wait with a reason and are
// retried when capacity is released. Intent is journaled before each action and results after.
//
// Strategies (../shared/spec/simulation.md): serial, parallel-restart, parallel (tier by tier) and revive
// (no tier barriers; earliest-deadline-first list scheduling where a VM's deadline is the earlier of the
// moment its priority tier would begin and the latest moment its remaining chain can begin without
// lengthening the recovery beyond the estimated lower bound; map and unmap calls batched per array and host).
//
// Threading: single-threaded; every method must be called on the EventLoop's thread, and the executor only
// runs inside callbacks of that loop. Drivers post their completions to the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "env/calls_in_progress.h"
#include "env/event_loop.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/journal.h"
#include "env/step.h"
#include "env/storage.h"
#include "exec/host_availability.h"
#include "exec/resource_ledger.h"
#include "exec/vm_copies.h"
#include "model/cloud.h"
#include "plan/decision.h"
#include "plan/plan.h"
#include "plan/planner.h"

namespace revive::exec {

enum class Strategy : std::uint8_t { serial, parallel_restart, parallel, revive };
std::string_view to_string(Strategy strategy);
std::optional<Strategy> parse_strategy(std::string_view text);

// The environment the executor acts through; every reference must outlive the executor.
struct Environment {
  env::EventLoop& loop;
  env::Hypervisor& hypervisor;
  env::Storage& storage;
  env::Network& network;
  env::Fencer& fencer;
  env::Journal& journal;
  const env::DurationEstimator* estimator = nullptr;  // null: the spec's default medians
  // Slots of every limited scope, shared with the other engines acting on the same cloud (the evacuation
  // engine) so that together they keep every limit; recovery ranks first for released slots. Null: the
  // executor keeps its own. Must outlive the executor.
  ResourceLedger* ledger = nullptr;
  // Which hosts may receive VMs now (host_availability.h), shared with the evacuation engine (hosts it
  // drains) and the failure detector (hosts not up): the executor plans no restart onto an unavailable host,
  // replans the VMs planned there whose start has not begun, takes it back once available, records the
  // fences it confirms there and accepts a fence confirmed there by another (no second fence). Null: every
  // host that has not failed is a target. Must outlive the executor.
  HostAvailability* availability = nullptr;
  // Where a copy of each VM may run (vm_copies.h), shared with the evacuation engine: a start on a host goes
  // only once every other host of the VM's set is proven empty of it (fenced, or a definite hypervisor
  // answer); the executor seeks the proofs (fences of failed hosts, listings of live ones) and adopts a copy
  // found running. Null: the executor keeps its own. Must outlive the executor.
  VmCopies* copies = nullptr;
  // Which calls are still in progress, whoever made them (env/calls_in_progress.h): on resume, the dead
  // controller's calls the journal has no answer for keep their slots of every limit, and a start or
  // migration among them its unanswered entry in the copies set, until the environment says the call ended.
  // Null: for one start timeout only (then a listing or a fence decides where the VM runs; the slots are
  // free again although a call slowed past that may still run).
  env::CallsInProgress* calls = nullptr;
};

struct ExecutorOptions {
  Strategy strategy = Strategy::revive;
  std::uint32_t max_attempts = 3;  // attempts of one step on one target before the VM is replanned
  double retry_backoff_s = 2.0;    // before the first retry; doubled for each further one
  std::uint32_t max_replans = 3;   // new targets per VM before it is given up as failed
  std::uint32_t max_fence_attempts = 5;
  double timeout_factor = 5.0;  // a step times out after max(min_timeout_s, factor x its estimate)
  double min_timeout_s = 60.0;
  std::uint32_t global_max_parallel = 0;  // operations in flight at once across every resource; 0 = no limit
  // revive: passes of the what-if schedule used to repair deadlines toward the bound (0: deadlines only)
  std::uint32_t schedule_passes = 40;
  // revive, robust deadlines: the repair starts from three points (tier-aware deadlines, longest chain
  // first, and the latest begins of a backward schedule of every resource: dry_run.h), each aimed exactly at
  // the estimated bound and once more keeping `robust_margin` of each VM's estimated start as slack (a long
  // start overruns by more seconds than a short one), and picks among the six by the mean makespan of
  // `robust_samples` what-if runs with every estimate perturbed log-normally by this run's noise as the
  // estimator knows it (env::DurationEstimator::noise_spread; `estimate_noise` when it does not): estimates
  // are a VM's habit, not this run's durations. Skipped (deadlines aimed exactly) above `robust_max_vms` VMs
  // in one plan, or with 0 samples. Fences still queued behind the fence limit go in the order the latest
  // begins need them (the host whose VM must start first, first).
  double robust_margin = 0.2;
  double estimate_noise = 0.15;
  std::uint32_t robust_samples = 16;
  std::size_t robust_max_vms = 5000;
  plan::PlannerOptions planner;
  // A prestaged plan for a planning round (the state as the executor sees it, the request it would hand the
  // planner), or nullopt to plan afresh. The provider must check that the plan holds for that state and
  // request (plan::SavedPlans::take does). Called on the loop; unset: always plan afresh.
  std::function<std::optional<plan::Plan>(const model::Cloud&, const plan::PlanRequest&)> saved_plan;
};

enum class VmState : std::uint8_t { recovering, running, waiting, failed };
std::string_view to_string(VmState state);

// What became of one VM the executor took charge of.
struct VmReport {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;             // the host it ran on when its first recovery began
  model::HostIndex to = model::kNoIndex;               // its latest target (kNoIndex if never placed)
  model::Priority priority = model::Priority::medium;  // effective priority from the plan
  VmState state = VmState::recovering;
  double ready_s = -1.0;  // when it was last reported running, on the loop's clock
  std::uint32_t replans = 0;
  std::string reason;  // for waiting and failed VMs: a sentence a person can act on
  // A waiting VM whose recovery lacks only a proof that no other copy runs (a fence not confirmed, a host
  // not yet proven empty): a placement may exist, but starting it would risk two copies.
  bool waiting_for_proof = false;
};

class Executor {
 public:
  // Takes a snapshot of `cloud` as its view of the world.
  Executor(const model::Cloud& cloud, Environment environment, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // The detector declared `host` failed (crashed or isolated): fence it and recover every protected VM that
  // may run there or was being recovered onto it. Calls made at the same instant are planned together.
  void on_host_failed(model::HostIndex host);
  // `host` is back (powered on, up again, taken back by the operator): it is a target again, the proof of
  // its last loss (its fence) is over, and a later failure of it is a new loss with a fence of its own.
  void on_host_returned(model::HostIndex host);
  // An operator has verified that the failed `host` is off (`confirm-down`): a proof like a confirmed fence,
  // for this loss of the host only. A fence in flight is left to answer (the fencer's manual level takes the
  // confirmation); otherwise (not begun, queued, between retries, failed for good) the fence counts as done
  // now and VMs left waiting for this host's proof are planned again. False, and nothing changes, when
  // `host` is not a failed host being recovered.
  bool on_host_confirmed_off(model::HostIndex host);
  // `vm` failed on its healthy host `host` for good (a VM-level failure: it kept stopping there) and no copy
  // runs there now (the caller holds that proof, e.g. the hypervisor reported it stopped): it is placed
  // elsewhere, `host` excluded, as a recovery of its own. Ignored while the VM is being recovered.
  void on_vm_failed(model::VmIndex vm, model::HostIndex host);
  // Another engine (the evacuation engine) moved `vm` and it now runs on `host`: the executor's view follows,
  // so a later failure of `host` recovers it and its old host no longer counts it. Ignored while the executor
  // itself is recovering the VM.
  void on_vm_moved(model::VmIndex vm, model::HostIndex host);
  // Another engine is stopping `vm` to move it (a cold move's stop is issued): a VM this executor recovered
  // is reported by that engine from now on (if the stop's answer is lost, "running where recovered" would be
  // one move behind).
  void on_vm_leaving(model::VmIndex vm);

  // Continues the work of an executor that stopped (crashed) with the same journal: see Impl::resume. Call
  // once, on a fresh executor, before any other entry point.
  void resume();
  // Stops acting: every later completion, timer or event is ignored (a controller that died; for tests).
  void halt();

  // Called with every plan the executor obtains (initial and replans), before it acts on it.
  void set_plan_observer(std::function<void(const plan::Plan&)> observer);
  // Called with every placement decision and its inputs (plan/decision.h), before it acts on it.
  void set_decision_observer(plan::DecisionObserver observer);
  // Called whenever a VM is reported running.
  void set_ready_observer(std::function<void(model::VmIndex)> observer);

  // True while steps are pending, in flight or waiting for a retry.
  bool busy() const;
  // Ends the run: VMs still recovering (blocked on something that will not happen) are marked waiting with
  // the reason they are blocked. Call when the loop has nothing left to do.
  void finalize();

  // Every VM the executor took charge of, in VM index order (but those it recovered that another engine moved
  // later, or is moving with its outcome unknown -- the VM may run on that move's target: that engine reports
  // them).
  std::vector<VmReport> report() const;
  // The executor's view of the cloud: VMs at their (planned) targets, failed hosts down.
  const model::Cloud& state() const;
  // The lower bound of the latest recovery as estimated by the scheduler (seconds on the loop's clock).
  double estimated_bound_s() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace revive::exec

// The controller: the one wiring of the engine that `revive simulate` and `revived` both drive, so every
// simulated run tests the production wiring (../shared/design/controller.md).
//
// It owns the views the engines share -- the resource ledger (every limit), host availability (hosts that may
// receive VMs), the copies set (hosts where a copy of each VM may run) -- and the two engines acting on them:
// the recovery executor (failed hosts: fence, remap, restart) and the evacuation engine (drains for
// maintenance or a predicted failure). Its inputs are the detector's verdicts and health changes, operator
// requests and the journal read at start; everything it does goes through the environment's interfaces.
// It keeps the engines informed of each other: a VM the evacuation engine moved is followed by the executor,
// a VM the executor restarted is followed by the evacuation engine.
//
// Threading: single-threaded; call everything on the environment's event loop thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "env/event_loop.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/journal.h"
#include "env/operation_slots.h"
#include "env/step.h"
#include "env/storage.h"
#include "exec/evacuation.h"
#include "exec/executor.h"
#include "exec/host_availability.h"
#include "exec/resource_ledger.h"
#include "exec/vm_copies.h"
#include "model/cloud.h"

namespace revive::control {

// The environment the controller acts through (simulated or real); every reference must outlive it.
struct ControllerEnvironment {
  env::EventLoop& loop;
  env::Hypervisor& hypervisor;
  env::Storage& storage;
  env::Network& network;
  env::Fencer& fencer;
  env::Journal& journal;
  const env::DurationEstimator* estimator = nullptr;  // null: the spec's default medians
  // Which calls are in progress, whoever made them (exec::Environment::calls); null: not known.
  env::CallsInProgress* calls = nullptr;
};

// VM-level failures (what vSphere calls VM monitoring, Proxmox max_restart): a protected VM that stops
// unexpectedly on a healthy host is restarted there after delay_s, at most max_restarts times within any
// window_s; beyond that it is placed elsewhere (Executor::on_vm_failed), like a recovery with its host
// excluded.
struct VmRestartOptions {
  std::uint32_t max_restarts = 3;
  double window_s = 600.0;
  double delay_s = 2.0;
};

struct ControllerOptions {
  exec::ExecutorOptions executor;
  exec::EvacuationOptions evacuation;
  VmRestartOptions vm_restart;
};

// One VM-level restart (or the decision not to restart), as vm_restarts() reports it.
struct VmRestart {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex host = model::kNoIndex;
  std::uint32_t attempt = 0;  // 1 for the first restart within the window
  // relocated: over max_restarts, handed to the executor to be placed elsewhere.
  enum class State : std::uint8_t {
    scheduled,
    starting,
    running,
    failed,
    refused,
    relocated
  } state = State::scheduled;
  double stopped_s = 0.0;  // when the stop was reported (loop clock)
  double finished_s = -1.0;
  std::string reason;  // why failed or refused
  // failed without an answer (its call ended unanswered, the host cut off): the VM may run there.
  bool outcome_unknown = false;
};
std::string_view to_string(VmRestart::State state);

class Controller {
 public:
  // Takes a snapshot of `cloud` (the inventory as the controller starts) as its view of the world.
  Controller(const model::Cloud& cloud, ControllerEnvironment environment, ControllerOptions options = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // ---- inputs -------------------------------------------------------------------------------------------
  // The detector declared `host` failed (crashed, or isolated and to be fenced): fence it, recover its VMs.
  void host_failed(model::HostIndex host);
  // The detector's view of a host changed: a host that is not up receives no VM until it is up again (and
  // the proof of its last loss ends when it is).
  void host_health(model::HostIndex host, bool up);
  // `host` is back in service after a loss (powered on and up): a target again; a later failure is a new
  // loss.
  void host_returned(model::HostIndex host);
  // An operator verified that the failed `host` is off (confirm-down): the proof its fence could not give;
  // VMs waiting for it are recovered. False when `host` is not a failed host (nothing changes).
  bool host_confirmed_off(model::HostIndex host);
  // Operator requests (maintenance, predicted failure): exec::Evacuator.
  void drain(const std::vector<model::HostIndex>& hosts, double deadline_s, exec::EvacuationReason reason);
  void exit_maintenance(const std::vector<model::HostIndex>& hosts, bool fail_back);
  void cancel_drain(const std::vector<model::HostIndex>& hosts);
  // The hypervisor reported that `vm` stopped unexpectedly on `host` (crashed, or destroyed behind Revive's
  // back) while `host` is healthy: restarted there (VmRestartOptions). Ignored for an unprotected VM, a VM
  // the engines believe elsewhere, and a VM one of them is moving or recovering. The stop is the proof that
  // no copy runs on `host`; the restart goes through the copies set like every other start.
  void vm_stopped_unexpectedly(model::VmIndex vm, model::HostIndex host);
  // Continues from the journal of a controller that stopped: call once, first. Both engines resume (the
  // executor first: it holds the dead controller's unanswered calls), then the VM-level restarts (restarts
  // journaled count for their windows; one scheduled is restarted when due, one starting keeps its slots and
  // its copy until its call ended, then its host is listed).
  void resume();
  // Stops acting (a controller that died; for tests).
  void halt();

  // Called whenever the executor reports a VM it recovered running.
  void set_ready_observer(std::function<void(model::VmIndex)> observer);
  // Called with every placement decision of either engine and its inputs (plan/decision.h: what
  // `--save-inputs` writes and `revive replay` reproduces).
  void set_decision_observer(const plan::DecisionObserver& observer);

  // ---- state --------------------------------------------------------------------------------------------
  // True while either engine has work pending or in flight.
  bool busy() const;
  // Ends a run: VMs still recovering are marked waiting with what blocks them, moves still in flight failed
  // with what blocks them.
  void finalize();
  exec::Executor& executor() { return *executor_; }
  const exec::Executor& executor() const { return *executor_; }
  exec::Evacuator& evacuator() { return *evacuator_; }
  const exec::Evacuator& evacuator() const { return *evacuator_; }
  const exec::HostAvailability& availability() const { return availability_; }
  const exec::VmCopies& copies() const { return copies_; }
  const exec::ResourceLedger& ledger() const { return ledger_; }
  // Slots for calls made outside the engines (a fence level's unmaps): counted in the same ledger, ranked
  // before the restarts in place and recovery, first come first served among themselves.
  env::OperationSlots& operation_slots();
  // Every VM-level restart decided so far, oldest first.
  const std::vector<VmRestart>& vm_restarts() const { return vm_restarts_; }

 private:
  // `from_queue`: taken from restart_queue_'s head (else it queues behind the restarts waiting there).
  void restart_in_place(std::size_t restart, bool from_queue = false);
  // Starts queued restarts whose slots (the host's endpoint, its starts, the global limit) are free.
  void dispatch_restarts();
  // `vm` stopped on `host` while an engine moved it: checked again every few seconds until the move settles.
  void recheck_after_move(model::VmIndex vm, model::HostIndex host, std::uint32_t checks);
  exec::ScopeSet restart_scopes(model::HostIndex host) const;
  // Journal resume of the VM-level restarts (resume()).
  void resume_restarts();
  // A restart whose start was in flight when the controller died: its slots held until the call ended, then
  // its host listed.
  void settle_resumed_restart(std::size_t restart, std::uint32_t checks);
  void list_resumed_restart(std::size_t restart, std::uint32_t checks);
  // A restart in place that cannot happen (failed, refused) hands the VM to the executor, which places it
  // elsewhere, when the VM is known not to run on its host.
  void relocate(model::VmIndex vm, model::HostIndex host);

  ControllerEnvironment environment_;
  VmRestartOptions restart_options_;
  double start_min_timeout_s_;  // a restart's start is given up on after max(this, factor x its estimate)
  double start_timeout_factor_;
  std::vector<VmRestart> vm_restarts_;
  bool halted_ = false;
  env::Fencer& fencer_;
  exec::ResourceLedger ledger_;
  exec::HostAvailability availability_;
  exec::VmCopies copies_;
  std::unique_ptr<exec::Executor> executor_;
  std::unique_ptr<exec::Evacuator> evacuator_;
  std::function<void(model::VmIndex)> ready_observer_;
  exec::ResourceLedger::ListenerId restart_listener_ = 0;
  exec::HostAvailability::ListenerId availability_listener_ = 0;
  std::vector<bool> restart_holds_slots_;  // by vm_restarts_ index: its start's slots not yet given back
  void release_restart_slots(std::size_t restart);
  // A restart whose host failed with its start in flight: its slots are given back once the environment
  // says the call ended (CallsInProgress), checked every 5 s (as the executor's unanswered calls: a call
  // slowed many times over may run for hours); without that source, at its answer.
  void watch_restart_call(std::size_t restart);
  class CallSlots;
  std::unique_ptr<CallSlots> call_slots_;
  std::deque<std::size_t> restart_queue_;  // restarts (vm_restarts_ indices) waiting for slots, in order
  bool restart_dispatch_posted_ = false;
};

}  // namespace revive::control

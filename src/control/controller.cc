#include "control/controller.h"

#include <algorithm>
#include <list>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace revive::control {

namespace {
constexpr int kRestartRank = exec::ResourceLedger::kRecoveryRank - 1;
constexpr int kCallSlotsRank = kRestartRank - 1;
}  // namespace

// The ledger's slots for calls of others (env::OperationSlots): each call's scopes, granted in order of
// asking as the ledger frees them.
class Controller::CallSlots final : public env::OperationSlots {
 public:
  explicit CallSlots(Controller& controller) : controller_(controller) {
    listener_ = controller_.ledger_.add_listener(kCallSlotsRank, [this](std::span<const exec::ScopeId>) {
      if (waiting_.empty() || posted_) return;
      posted_ = true;
      controller_.environment_.loop.post([this] { grant(); });
    });
  }

  ~CallSlots() override {
    *alive_ = false;  // a call answering later releases nothing
    controller_.ledger_.remove_listener(listener_);
  }

  void acquire(const env::Call& call, std::function<void(Release)> granted) override {
    waiting_.push_back({scopes_of(call), std::move(granted)});
    grant();
  }

 private:
  exec::ScopeSet scopes_of(const env::Call& call) const {
    const auto& state = controller_.executor_->state();
    auto& ledger = controller_.ledger_;
    exec::ScopeSet scopes;
    switch (call.kind) {
      case env::StepKind::disk_map:
      case env::StepKind::disk_unmap:
        if (call.disk < state.disks.size()) scopes.add(ledger.array(state.disks[call.disk].array));
        break;
      case env::StepKind::net_config:
        if (call.host < state.hosts.size())
          scopes.add(ledger.network_switch(state.hosts[call.host].network_switch));
        break;
      case env::StepKind::fence:
        scopes.add(ledger.fences());
        break;
      default:  // starts, stops, migrations: the host's management endpoint
        if (call.host < state.hosts.size()) scopes.add(ledger.endpoint(state.hosts[call.host].endpoint));
        if (call.kind == env::StepKind::vm_start && call.host < state.hosts.size())
          scopes.add(ledger.host_starts(call.host));
        break;
    }
    scopes.add(ledger.global());
    return scopes;
  }

  // Grants what fits, oldest first; a call that does not fit does not hold back the others (its scopes
  // differ), since each is one operation.
  void grant() {
    posted_ = false;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (controller_.halted_) return;
      if (!controller_.ledger_.try_acquire(it->scopes, listener_)) {
        ++it;
        continue;
      }
      auto scopes = it->scopes;
      auto granted = std::move(it->granted);
      it = waiting_.erase(it);
      auto released = std::make_shared<bool>(false);
      granted([this, scopes, released, alive = alive_] {
        if (*released || !*alive) return;
        *released = true;
        controller_.ledger_.release(scopes, listener_);
      });
    }
  }

  struct Waiting {
    exec::ScopeSet scopes;
    std::function<void(Release)> granted;
  };
  Controller& controller_;
  exec::ResourceLedger::ListenerId listener_ = 0;
  std::list<Waiting> waiting_;
  bool posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

env::OperationSlots& Controller::operation_slots() {
  if (!call_slots_) call_slots_ = std::make_unique<CallSlots>(*this);
  return *call_slots_;
}

std::string_view to_string(VmRestart::State state) {
  switch (state) {
    case VmRestart::State::scheduled:
      return "scheduled";
    case VmRestart::State::starting:
      return "starting";
    case VmRestart::State::running:
      return "running";
    case VmRestart::State::failed:
      return "failed";
    case VmRestart::State::refused:
      return "refused";
    case VmRestart::State::relocated:
      return "relocated";
  }
  return "?";
}

Controller::Controller(const model::Cloud& cloud, ControllerEnvironment environment,
                       ControllerOptions options)
    : environment_(environment),
      restart_options_(options.vm_restart),
      start_min_timeout_s_(options.executor.min_timeout_s),
      start_timeout_factor_(options.executor.timeout_factor),
      fencer_(environment.fencer),
      ledger_(cloud, options.executor.global_max_parallel),
      availability_(cloud.hosts.size()),
      copies_(cloud) {
  exec::Environment recovery{environment.loop,      environment.hypervisor,
                             environment.storage,   environment.network,
                             environment.fencer,    environment.journal,
                             environment.estimator, &ledger_,
                             &availability_,        &copies_,
                             environment.calls};
  executor_ = std::make_unique<exec::Executor>(cloud, recovery, options.executor);
  exec::EvacuationEnvironment evacuation{environment.loop,     environment.hypervisor,
                                         environment.storage,  environment.network,
                                         &environment.journal, &ledger_,
                                         &availability_,       &copies_,
                                         environment.calls};
  evacuator_ = std::make_unique<exec::Evacuator>(cloud, evacuation, options.evacuation);
  // The executor follows the VMs the evacuation engine moves, so a host failing later recovers what is there.
  evacuator_->set_move_observer(
      [this](model::VmIndex vm, model::HostIndex host) { executor_->on_vm_moved(vm, host); });
  // ... and hands the report of a VM it recovered to the evacuation engine once that engine stops it to move
  // it cold (a stop whose answer is lost must not leave the VM reported running where it was).
  evacuator_->set_stop_observer([this](model::VmIndex vm) { executor_->on_vm_leaving(vm); });
  // ... and a VM a resumed move found running nowhere (its guest stopped meanwhile, or it died with the
  // target the migration may have switched it over to) is recovered by the executor, which maps its disks
  // where it places it: a restart in place on the source would start it where its disks may no longer be
  // (found by revive torture --controller-restarts, seed 8042).
  evacuator_->set_found_stopped_observer([this](model::VmIndex vm, model::HostIndex host) {
    if (!halted_ && executor_->state().vms[vm].protect) relocate(vm, host);
  });
  // ... and the evacuation engine follows the VMs the executor restarts (a host drained later moves them
  // off).
  executor_->set_ready_observer([this](model::VmIndex vm) {
    evacuator_->on_vm_recovered(vm, executor_->state().vms[vm].host);
    if (ready_observer_) ready_observer_(vm);
  });
  // VM-level restarts take their slots in the same ledger, ranked before recovery: one start on a healthy
  // host, not held behind slots the executor keeps back for VMs that may wait long for a fence.
  restart_listener_ = ledger_.add_listener(kRestartRank, [this](std::span<const exec::ScopeId>) {
    if (restart_queue_.empty() || restart_dispatch_posted_) return;
    restart_dispatch_posted_ = true;
    environment_.loop.post([this] { dispatch_restarts(); });
  });
  // A restart's start in flight on a failed host holds its slots until the host is confirmed fenced (off):
  // until then the call may still run there (found by revive torture: released at the declaration, the
  // slot went to a recovery's start through the same endpoint while the restart's still ran).
  availability_listener_ =
      availability_.add_listener([this](model::HostIndex host, exec::HostAvailability::Change change) {
        if (change != exec::HostAvailability::Change::fenced) return;
        environment_.loop.post([this, host] {
          for (std::size_t index = 0; index < vm_restarts_.size(); ++index) {
            if (vm_restarts_[index].host == host) release_restart_slots(index);
          }
        });
      });
}

void Controller::set_ready_observer(std::function<void(model::VmIndex)> observer) {
  ready_observer_ = std::move(observer);
}

Controller::~Controller() = default;

void Controller::set_decision_observer(const plan::DecisionObserver& observer) {
  executor_->set_decision_observer(observer);
  evacuator_->set_decision_observer(observer);
}

void Controller::host_failed(model::HostIndex host) {
  // Restarts in place on it end here (the executor recovers their VMs with the rest of the host). A start in
  // flight there keeps its slots until it answers or the environment says it ended (it may still run on a
  // host cut off from us): like every call, it counts against the limits until then.
  for (std::size_t index = 0; index < vm_restarts_.size(); ++index) {
    auto& restart = vm_restarts_[index];
    if (restart.host != host ||
        (restart.state != VmRestart::State::scheduled && restart.state != VmRestart::State::starting))
      continue;
    restart.state = VmRestart::State::failed;
    restart.finished_s = environment_.loop.now_s();
    restart.reason = "its host failed: recovered with the host's other VMs";
    watch_restart_call(index);
  }
  evacuator_->on_host_failed(
      host);  // a cold move onto it acts no more: the executor owns what is homed there
  executor_->on_host_failed(host);
}

void Controller::watch_restart_call(std::size_t index) {
  if (halted_ || environment_.calls == nullptr || index >= restart_holds_slots_.size() ||
      !restart_holds_slots_[index])
    return;  // released at its answer
  const auto& restart = vm_restarts_[index];
  env::Call call;
  call.kind = env::StepKind::vm_start;
  call.vm = restart.vm;
  call.host = restart.host;
  environment_.calls->in_progress(call, [this, index](bool running) {
    if (halted_) return;
    if (!running) {
      release_restart_slots(index);
      auto& unanswered = vm_restarts_[index];
      if (unanswered.state == VmRestart::State::starting) {
        // Given up on, and ended without an answer (its host is cut off from us): whether the VM runs there
        // is unknown until a listing or a fence says.
        unanswered.state = VmRestart::State::failed;
        unanswered.outcome_unknown = true;
        unanswered.finished_s = environment_.loop.now_s();
        unanswered.reason = "its start got no answer (the host may be cut off): the VM may run there";
        copies_.start_outcome_unknown(unanswered.vm, unanswered.host);
        nlohmann::json payload{{"vm", executor_->state().vms[unanswered.vm].name},
                               {"host", executor_->state().hosts[unanswered.host].name},
                               {"attempt", unanswered.attempt},
                               {"error", "no answer"},
                               {"unanswered", true},
                               {"at_s", environment_.loop.now_s()}};
        environment_.journal.append({"vm_restart_failed", payload.dump()});
      }
      return;
    }
    environment_.loop.schedule_after(5.0, [this, index] { watch_restart_call(index); });
  });
}

void Controller::release_restart_slots(std::size_t index) {
  if (index >= restart_holds_slots_.size() || !restart_holds_slots_[index]) return;
  restart_holds_slots_[index] = false;
  ledger_.release(restart_scopes(vm_restarts_[index].host), restart_listener_);  // tells the engines
  if (!restart_queue_.empty() && !restart_dispatch_posted_) {  // ... and the restarts queued here
    restart_dispatch_posted_ = true;
    environment_.loop.post([this] { dispatch_restarts(); });
  }
}

void Controller::host_health(model::HostIndex host, bool up) {
  availability_.set(host, exec::HostAvailability::Reason::not_up, !up);
}

void Controller::host_returned(model::HostIndex host) {
  fencer_.host_recovered(host);  // the proofs of its last loss end with it
  executor_->on_host_returned(host);
  evacuator_->on_host_returned(host);
}

bool Controller::host_confirmed_off(model::HostIndex host) {
  if (halted_) return false;
  return executor_->on_host_confirmed_off(host);
}

void Controller::drain(const std::vector<model::HostIndex>& hosts, double deadline_s,
                       exec::EvacuationReason reason) {
  evacuator_->drain(hosts, deadline_s, reason);
}

void Controller::exit_maintenance(const std::vector<model::HostIndex>& hosts, bool fail_back) {
  evacuator_->exit_maintenance(hosts, fail_back);
}

void Controller::cancel_drain(const std::vector<model::HostIndex>& hosts) {
  evacuator_->cancel(hosts);
}

void Controller::resume() {
  executor_->resume();
  evacuator_->resume();
  resume_restarts();
}

void Controller::halt() {
  halted_ = true;
  executor_->halt();
  evacuator_->halt();
}

// The VM-level restarts of the dead controller, from their records: every one counts for its VM's window
// (max_restarts); the latest of each VM goes on. Scheduled: the journaled stop is the proof that no copy
// runs there, and it is restarted when due. Starting: its start may still run, so it keeps its slots and its
// unanswered entry in the copies set until the environment says the call ended (for one grace without that
// view), then the host is listed: running there, it is done; not running, it is restarted again. A stop
// reported while an engine moved the VM (vm_restart_deferred) is looked at again once the move settles.
void Controller::resume_restarts() {
  const auto& state = executor_->state();
  std::map<model::VmIndex, std::size_t> latest;  // by VM: index into vm_restarts_
  std::map<model::VmIndex, model::HostIndex> deferred;
  std::set<model::VmIndex> handed_over;  // the executor journaled the relocation (vm_failed) since
  // VMs that a record after their latest restart record may have started on that restart's host again.
  std::set<model::VmIndex> back_on_host;
  // VMs whose latest restart's start was followed by a fence of its host: the call ended with the host's
  // power; neither its slots nor a copy outlive it (found by revive torture --controller-restarts, seed 2397:
  // re-added as unanswered after the fence, the copy held a critical VM back for good, and its slots with
  // it).
  std::map<model::VmIndex, model::HostIndex> started_on;
  std::set<model::VmIndex> fenced_after_start;
  for (const auto& record : environment_.journal.read_all()) {
    if (record.kind == "fence_done") {
      auto fenced = nlohmann::json::parse(record.payload, nullptr, false);
      if (!fenced.is_object()) continue;
      auto host = state.find_host(fenced.value("host", std::string()));
      for (auto [vm, on] : started_on) {
        if (on == host) fenced_after_start.insert(vm);
      }
      continue;
    }
    bool restarts = record.kind.starts_with("vm_restart_") || record.kind == "vm_failed";
    if (!restarts && record.payload.find("\"vm\"") == std::string::npos) continue;
    auto payload = nlohmann::json::parse(record.payload, nullptr, false);
    if (!payload.is_object() || !payload.contains("vm") || !payload["vm"].is_string()) continue;
    auto vm = state.find_vm(payload.value("vm", std::string()));
    auto host = state.find_host(payload.value("host", std::string()));
    if (!restarts) {
      const auto& kind = record.kind;
      bool may_start = kind == "vm_running" || kind == "adopted" || kind == "migrate_started" ||
                       kind == "migrate_done" || kind == "cold_start_issued" || kind == "cold_move_done" ||
                       (kind.starts_with("step_") && payload.value("step", std::string()) == "vm_start");
      if (!may_start) continue;
      auto found = latest.find(vm);
      if (found == latest.end()) continue;
      auto target = host != model::kNoIndex ? host : state.find_host(payload.value("to", std::string()));
      if (target == vm_restarts_[found->second].host) back_on_host.insert(vm);
      continue;
    }
    if (vm == model::kNoIndex || host == model::kNoIndex) continue;
    if (record.kind == "vm_failed") {
      handed_over.insert(vm);
      continue;
    }
    handed_over.erase(vm);
    back_on_host.erase(vm);
    if (record.kind == "vm_restart_deferred") {
      deferred[vm] = host;
      continue;
    }
    deferred.erase(vm);
    auto found = latest.find(vm);
    if (record.kind == "vm_restart_scheduled" || record.kind == "vm_restart_relocated" ||
        found == latest.end()) {
      VmRestart restart;
      restart.vm = vm;
      restart.host = host;
      restart.attempt = payload.value("attempt", 1u);
      restart.stopped_s = payload.value("at_s", environment_.loop.now_s());
      vm_restarts_.push_back(std::move(restart));
      found = latest.insert_or_assign(vm, vm_restarts_.size() - 1).first;
    }
    auto& restart = vm_restarts_[found->second];
    restart.reason = payload.value("reason", payload.value("error", std::string()));
    if (record.kind == "vm_restart_relocated") {
      restart.state = VmRestart::State::relocated;
    } else if (record.kind == "vm_restart_refused") {
      restart.state = VmRestart::State::refused;
    } else if (record.kind == "vm_restart_started") {
      restart.state = VmRestart::State::starting;
      started_on[vm] = host;
      fenced_after_start.erase(vm);
    } else if (record.kind == "vm_restart_done") {
      restart.state = VmRestart::State::running;
    } else if (record.kind == "vm_restart_failed") {
      restart.state = VmRestart::State::failed;
      restart.outcome_unknown = payload.value("unanswered", false);
    }
    if (restart.state != VmRestart::State::scheduled && restart.state != VmRestart::State::starting)
      restart.finished_s = payload.value("at_s", environment_.loop.now_s());
  }
  restart_holds_slots_.assign(vm_restarts_.size(), false);
  for (auto [vm, index] : latest) {
    auto& restart = vm_restarts_[index];
    if (restart.state == VmRestart::State::scheduled) {
      copies_.proven_absent(vm, restart.host);  // the hypervisor's report of the stop, journaled
      double due = restart.stopped_s + restart_options_.delay_s - environment_.loop.now_s();
      environment_.loop.schedule_after(std::max(0.0, due), [this, index] { restart_in_place(index); });
    } else if (restart.state == VmRestart::State::running) {
      // (Unless an engine placed it elsewhere since: its host failed, it was moved.)
      if (state.vms[vm].host == restart.host) copies_.seen_running(vm, restart.host);
    } else if (restart.state == VmRestart::State::failed && restart.outcome_unknown) {
      // Its start ended without an answer: no proof either way (found by revive torture
      // --controller-restarts, seed 406: taken as a failure answer, the VM was started elsewhere while it ran
      // on its host, cut off).
      copies_.maybe_running(vm, restart.host);
    } else if (restart.state != VmRestart::State::starting && !back_on_host.contains(vm)) {
      // Relocated, failed or refused: the journaled stop (or the start's failure answer) is the proof that it
      // does not run there, as long as nothing started it there since; a relocation decided but not
      // journaled by the executor (vm_failed) is handed to it now.
      copies_.proven_absent(vm, restart.host);
      bool relocation =
          restart.state == VmRestart::State::relocated || restart.state == VmRestart::State::failed;
      if (relocation && !handed_over.contains(vm) && state.vms[vm].host == restart.host)
        relocate(vm, restart.host);
    } else if (restart.state == VmRestart::State::starting && fenced_after_start.contains(vm)) {
      restart.state = VmRestart::State::failed;
      restart.reason = "its host was fenced: recovered with the host's other VMs";
    } else if (restart.state == VmRestart::State::starting) {
      ledger_.take(restart_scopes(restart.host));  // it runs whether or not there is room
      restart_holds_slots_[index] = true;
      copies_.start_issued(vm, restart.host);
      settle_resumed_restart(index, 0);
    }
  }
  for (auto [vm, host] : deferred) recheck_after_move(vm, host, 0);
}

void Controller::settle_resumed_restart(std::size_t index, std::uint32_t checks) {
  constexpr double kPollS = 5.0;
  if (halted_) return;
  const auto& restart = vm_restarts_[index];
  auto ended = [this, index] {
    if (halted_) return;
    release_restart_slots(index);
    auto& ending = vm_restarts_[index];
    if (ending.state != VmRestart::State::starting) return;  // its host failed meanwhile
    copies_.start_outcome_unknown(ending.vm, ending.host);
    list_resumed_restart(index, 0);
  };
  if (environment_.calls == nullptr) {
    double grace_s = 3 * 60.0;  // a start's timeout, about
    environment_.loop.schedule_after(grace_s, ended);
    return;
  }
  env::Call call;
  call.kind = env::StepKind::vm_start;
  call.vm = restart.vm;
  call.host = restart.host;
  environment_.calls->in_progress(call, [this, index, checks, ended](bool running) {
    if (halted_) return;
    // As long as the world says it runs (like watch_restart_call and the executor's unanswered calls).
    if (!running) return ended();
    environment_.loop.schedule_after(kPollS,
                                     [this, index, checks] { settle_resumed_restart(index, checks + 1); });
  });
}

void Controller::list_resumed_restart(std::size_t index, std::uint32_t checks) {
  constexpr double kPollS = 5.0;
  constexpr std::uint32_t kMaxChecks = 720;
  if (halted_ || checks >= kMaxChecks) return;
  auto& restart = vm_restarts_[index];
  if (restart.state != VmRestart::State::starting) return;
  auto as_of = copies_.version();
  environment_.hypervisor.list_running(
      restart.host,
      [this, index, checks, as_of](const env::OperationResult& result, std::vector<model::VmIndex> running) {
        if (halted_) return;
        auto& listed = vm_restarts_[index];
        if (listed.state != VmRestart::State::starting) return;
        if (result.ok) copies_.listed(listed.host, running, as_of);
        if (!result.ok || copies_.needs_listing(listed.vm, listed.host)) {
          environment_.loop.schedule_after(
              kPollS, [this, index, checks] { list_resumed_restart(index, checks + 1); });
          return;
        }
        const auto& state = executor_->state();
        nlohmann::json payload{{"vm", state.vms[listed.vm].name},
                               {"host", state.hosts[listed.host].name},
                               {"attempt", listed.attempt},
                               {"resumed", true}};
        listed.finished_s = environment_.loop.now_s();
        if (copies_.seen_on(listed.vm, listed.host)) {
          listed.state = VmRestart::State::running;
          payload["at_s"] = environment_.loop.now_s();
          environment_.journal.append({"vm_restart_done", payload.dump()});
          return;
        }
        // Its start did not take effect: restarted again in place (same attempt).
        listed.state = VmRestart::State::scheduled;
        restart_in_place(index);
      });
}

void Controller::vm_stopped_unexpectedly(model::VmIndex vm, model::HostIndex host) {
  if (halted_ || vm >= copies_.vm_count()) return;
  const auto& state = executor_->state();
  if (!state.vms[vm].protect || state.vms[vm].host != host) return;
  bool moving = evacuator_->state().vms[vm].host != host;
  // Recovering or being moved: another copy may be under way somewhere.
  for (auto other : copies_.hosts(vm)) moving = moving || other != host;
  if (moving) {
    // The move cannot carry a stopped VM: once it ends with the VM still here (a migration fails when its
    // source no longer runs the VM), the stop is handled; a cold move restarts it on its target itself.
    // Journaled, so that a controller resumed meanwhile looks at it again.
    nlohmann::json payload{{"vm", state.vms[vm].name}, {"host", state.hosts[host].name}};
    environment_.journal.append({"vm_restart_deferred", payload.dump()});
    recheck_after_move(vm, host, 0);
    return;
  }
  for (const auto& restart : vm_restarts_) {
    if (restart.vm == vm &&
        (restart.state == VmRestart::State::scheduled || restart.state == VmRestart::State::starting))
      return;  // one at a time
  }
  copies_.proven_absent(vm, host);  // the hypervisor's own report of the stop
  double now = environment_.loop.now_s();
  VmRestart restart;
  restart.vm = vm;
  restart.host = host;
  restart.stopped_s = now;
  std::uint32_t within_window = 0;
  for (const auto& earlier : vm_restarts_) {
    if (earlier.vm == vm && earlier.state != VmRestart::State::refused &&
        earlier.state != VmRestart::State::relocated && earlier.stopped_s > now - restart_options_.window_s)
      ++within_window;
  }
  restart.attempt = within_window + 1;
  nlohmann::json payload{{"vm", state.vms[vm].name},
                         {"host", state.hosts[host].name},
                         {"attempt", restart.attempt},
                         {"at_s", now}};
  if (within_window >= restart_options_.max_restarts) {
    // It keeps failing on this host: placed elsewhere (the executor plans it like a recovery, host excluded).
    restart.state = VmRestart::State::relocated;
    restart.finished_s = now;
    restart.reason = fmt::format("stopped {} times within {:.0f} s (max_restarts {}): placed elsewhere",
                                 within_window + 1, restart_options_.window_s, restart_options_.max_restarts);
    payload["reason"] = restart.reason;
    environment_.journal.append({"vm_restart_relocated", payload.dump()});
    vm_restarts_.push_back(std::move(restart));
    evacuator_->on_vm_relocated(vm);
    executor_->on_vm_failed(vm, host);
    return;
  }
  environment_.journal.append({"vm_restart_scheduled", payload.dump()});
  vm_restarts_.push_back(std::move(restart));
  std::size_t index = vm_restarts_.size() - 1;
  environment_.loop.schedule_after(restart_options_.delay_s, [this, index] { restart_in_place(index); });
}

void Controller::restart_in_place(std::size_t index, bool from_queue) {
  if (halted_) return;
  auto& restart = vm_restarts_[index];
  const auto& state = executor_->state();
  auto vm = restart.vm;
  auto host = restart.host;
  nlohmann::json payload{
      {"vm", state.vms[vm].name}, {"host", state.hosts[host].name}, {"attempt", restart.attempt}};
  auto refuse = [&](std::string reason) {
    restart.state = VmRestart::State::refused;
    restart.finished_s = environment_.loop.now_s();
    restart.reason = std::move(reason);
    payload["reason"] = restart.reason;
    payload["at_s"] = environment_.loop.now_s();
    environment_.journal.append({"vm_restart_refused", payload.dump()});
  };
  // Meanwhile the host may have been lost or drained, or the VM taken over by an engine.
  if (!availability_.available(host)) {
    refuse("its host is no longer available");
    // A lost host's VMs are the executor's recovery already; on a host that is up but takes no VM (draining,
    // suspect, in maintenance) the VM is placed elsewhere.
    if (executor_->state().hosts[host].state != model::HostState::down) relocate(vm, host);
    return;
  }
  // An engine took the VM over meanwhile (a move planned or begun): if that move ends with the VM still
  // here, stopped, it is restarted then (recheck_after_move).
  if (state.vms[vm].host != host || evacuator_->state().vms[vm].host != host) {
    refuse("an engine took the VM over meanwhile");
    return recheck_after_move(vm, host, 0);
  }
  if (!copies_.only_on(vm, host) && !copies_.hosts(vm).empty()) {
    refuse("a copy may run elsewhere: " + copies_.describe(vm, state));
    return recheck_after_move(vm, host, 0);
  }
  // Counted against every limit of a start there, like the engines' starts: queued until they have room.
  auto scopes = restart_scopes(host);
  if ((!from_queue && !restart_queue_.empty()) || !ledger_.try_acquire(scopes, restart_listener_)) {
    if (from_queue) {
      restart_queue_.push_front(index);
    } else {
      restart_queue_.push_back(index);
    }
    return;
  }
  restart_holds_slots_.resize(vm_restarts_.size(), false);
  restart_holds_slots_[index] = true;
  restart.state = VmRestart::State::starting;
  payload["at_s"] = environment_.loop.now_s();
  environment_.journal.append({"vm_restart_started", payload.dump()});
  copies_.start_issued(vm, host);
  // A start that does not answer in time (its host cut off from us) keeps its slots until the environment
  // says the call ended, as the executor's do; without that source, until its answer (found by revive
  // torture --check-stalls, seed 6086: a restart on a host isolated meanwhile held its endpoint's only slot
  // for ever).
  auto estimate_s = environment_.estimator != nullptr
                        ? environment_.estimator->expected_s(env::StepKind::vm_start, vm, model::kNoIndex)
                        : 60.0;
  environment_.loop.schedule_after(std::max(start_min_timeout_s_, start_timeout_factor_ * estimate_s),
                                   [this, index] {
                                     if (!halted_ && vm_restarts_[index].state == VmRestart::State::starting)
                                       watch_restart_call(index);
                                   });
  environment_.hypervisor.start_vm(host, vm,
                                   [this, index, payload](const env::OperationResult& result) mutable {
                                     release_restart_slots(index);
                                     auto& done = vm_restarts_[index];
                                     if (halted_) return;
                                     // A late answer too is where the VM runs (or does not).
                                     copies_.start_answered(done.vm, done.host, result.ok);
                                     if (done.state != VmRestart::State::starting)
                                       return;  // its host failed meanwhile, or it was given up on
                                     done.finished_s = environment_.loop.now_s();
                                     if (result.ok) {
                                       done.state = VmRestart::State::running;
                                       payload["at_s"] = environment_.loop.now_s();
                                       environment_.journal.append({"vm_restart_done", payload.dump()});
                                     } else {
                                       done.state = VmRestart::State::failed;
                                       done.reason = result.error;
                                       payload["error"] = result.error;
                                       payload["at_s"] = environment_.loop.now_s();
                                       environment_.journal.append({"vm_restart_failed", payload.dump()});
                                       // The hypervisor answered: the VM does not run there. Placed
                                       // elsewhere.
                                       relocate(done.vm, done.host);
                                     }
                                   });
}

void Controller::recheck_after_move(model::VmIndex vm, model::HostIndex host, std::uint32_t checks) {
  constexpr double kRecheckS = 5.0;
  constexpr std::uint32_t kMaxChecks = 720;  // an hour: no move of one VM lasts longer
  if (halted_ || checks >= kMaxChecks) return;
  environment_.loop.schedule_after(kRecheckS, [this, vm, host, checks] {
    if (halted_) return;
    auto believed = evacuator_->state().vms[vm].host;
    const auto hosts = copies_.hosts(vm);
    bool only_here = std::all_of(hosts.begin(), hosts.end(), [&](auto other) { return other == host; });
    if (only_here && believed == host && executor_->state().vms[vm].host == host) {
      vm_stopped_unexpectedly(vm, host);  // the move ended (failed, cancelled) with the VM here, stopped
      return;
    }
    bool moved = !hosts.empty() && believed != host &&
                 std::all_of(hosts.begin(), hosts.end(), [&](auto other) { return other == believed; });
    if (!moved) recheck_after_move(vm, host, checks + 1);  // planned, in flight: not settled yet
  });
}

exec::ScopeSet Controller::restart_scopes(model::HostIndex host) const {
  exec::ScopeSet scopes;
  scopes.add(ledger_.endpoint(executor_->state().hosts[host].endpoint));
  scopes.add(ledger_.host_starts(host));
  scopes.add(ledger_.global());
  return scopes;
}

void Controller::dispatch_restarts() {
  restart_dispatch_posted_ = false;
  if (halted_) return;
  // First come, first served: the head waits for its slots, the others behind it.
  while (!restart_queue_.empty()) {
    auto index = restart_queue_.front();
    if (vm_restarts_[index].state == VmRestart::State::scheduled &&
        !ledger_.can_acquire(restart_scopes(vm_restarts_[index].host), restart_listener_))
      return;
    restart_queue_.pop_front();
    if (vm_restarts_[index].state == VmRestart::State::scheduled) restart_in_place(index, true);
  }
}

void Controller::relocate(model::VmIndex vm, model::HostIndex host) {
  if (!copies_.hosts(vm).empty() && !copies_.only_on(vm, host)) return;  // a copy may run elsewhere
  copies_.proven_absent(vm, host);
  evacuator_->on_vm_relocated(vm);  // one engine acts on it: the executor, until it runs again
  executor_->on_vm_failed(vm, host);
}

bool Controller::busy() const {
  return executor_->busy() || evacuator_->busy();
}

void Controller::finalize() {
  executor_->finalize();
  evacuator_->finalize();
  for (auto index : restart_queue_) {
    auto& restart = vm_restarts_[index];
    if (restart.state != VmRestart::State::scheduled) continue;
    std::string full;
    for (auto scope : restart_scopes(restart.host)) {
      if (ledger_.has_room(scope)) continue;
      full += fmt::format("{}{} of {} in flight", full.empty() ? "" : ", ", ledger_.in_flight(scope),
                          ledger_.capacity(scope));
    }
    restart.reason = "its restart in place waits for a start slot (" + full +
                     ": calls that never answered hold them until their host is fenced)";
  }
}

}  // namespace revive::control

#include "control/controller.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace revive::control {

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
  // ... and the evacuation engine follows the VMs the executor restarts (a host drained later moves them
  // off).
  executor_->set_ready_observer([this](model::VmIndex vm) {
    evacuator_->on_vm_recovered(vm, executor_->state().vms[vm].host);
    if (ready_observer_) ready_observer_(vm);
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
  executor_->on_host_failed(host);
}

void Controller::host_health(model::HostIndex host, bool up) {
  availability_.set(host, exec::HostAvailability::Reason::not_up, !up);
}

void Controller::host_returned(model::HostIndex host) {
  fencer_.host_recovered(host);  // the proofs of its last loss end with it
  executor_->on_host_returned(host);
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
}

void Controller::halt() {
  halted_ = true;
  executor_->halt();
}

void Controller::vm_stopped_unexpectedly(model::VmIndex vm, model::HostIndex host) {
  if (halted_ || vm >= copies_.vm_count()) return;
  const auto& state = executor_->state();
  if (!state.vms[vm].protect || state.vms[vm].host != host) return;
  if (evacuator_->state().vms[vm].host != host) return;  // being moved
  // Recovering or being moved: another copy may be under way somewhere.
  for (auto other : copies_.hosts(vm)) {
    if (other != host) return;
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
  nlohmann::json payload{
      {"vm", state.vms[vm].name}, {"host", state.hosts[host].name}, {"attempt", restart.attempt}};
  if (within_window >= restart_options_.max_restarts) {
    // It keeps failing on this host: placed elsewhere (the executor plans it like a recovery, host excluded).
    restart.state = VmRestart::State::relocated;
    restart.finished_s = now;
    restart.reason = fmt::format("stopped {} times within {:.0f} s (max_restarts {}): placed elsewhere",
                                 within_window + 1, restart_options_.window_s, restart_options_.max_restarts);
    payload["reason"] = restart.reason;
    environment_.journal.append({"vm_restart_relocated", payload.dump()});
    vm_restarts_.push_back(std::move(restart));
    executor_->on_vm_failed(vm, host);
    return;
  }
  environment_.journal.append({"vm_restart_scheduled", payload.dump()});
  vm_restarts_.push_back(std::move(restart));
  std::size_t index = vm_restarts_.size() - 1;
  environment_.loop.schedule_after(restart_options_.delay_s, [this, index] { restart_in_place(index); });
}

void Controller::restart_in_place(std::size_t index) {
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
    environment_.journal.append({"vm_restart_refused", payload.dump()});
  };
  // Meanwhile the host may have been lost or drained, or the VM taken over by an engine.
  if (!availability_.available(host)) return refuse("its host is no longer available");
  if (state.vms[vm].host != host || evacuator_->state().vms[vm].host != host)
    return refuse("the VM was moved meanwhile");
  if (!copies_.only_on(vm, host) && !copies_.hosts(vm).empty())
    return refuse("a copy may run elsewhere: " + copies_.describe(vm, state));
  restart.state = VmRestart::State::starting;
  environment_.journal.append({"vm_restart_started", payload.dump()});
  copies_.start_issued(vm, host);
  environment_.hypervisor.start_vm(host, vm,
                                   [this, index, payload](const env::OperationResult& result) mutable {
                                     if (halted_) return;
                                     auto& done = vm_restarts_[index];
                                     copies_.start_answered(done.vm, done.host, result.ok);
                                     done.finished_s = environment_.loop.now_s();
                                     if (result.ok) {
                                       done.state = VmRestart::State::running;
                                       environment_.journal.append({"vm_restart_done", payload.dump()});
                                     } else {
                                       done.state = VmRestart::State::failed;
                                       done.reason = result.error;
                                       payload["error"] = result.error;
                                       environment_.journal.append({"vm_restart_failed", payload.dump()});
                                     }
                                   });
}

bool Controller::busy() const {
  return executor_->busy() || evacuator_->busy();
}

void Controller::finalize() {
  executor_->finalize();
  evacuator_->finalize();
}

}  // namespace revive::control

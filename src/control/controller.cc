#include "control/controller.h"

namespace revive::control {

Controller::Controller(const model::Cloud& cloud, ControllerEnvironment environment,
                       ControllerOptions options)
    : fencer_(environment.fencer),
      ledger_(cloud, options.executor.global_max_parallel),
      availability_(cloud.hosts.size()),
      copies_(cloud) {
  exec::Environment recovery{environment.loop,      environment.hypervisor,
                             environment.storage,   environment.network,
                             environment.fencer,    environment.journal,
                             environment.estimator, &ledger_,
                             &availability_,        &copies_};
  executor_ = std::make_unique<exec::Executor>(cloud, recovery, options.executor);
  exec::EvacuationEnvironment evacuation{environment.loop,     environment.hypervisor,
                                         environment.storage,  environment.network,
                                         &environment.journal, &ledger_,
                                         &availability_,       &copies_};
  evacuator_ = std::make_unique<exec::Evacuator>(cloud, evacuation, options.evacuation);
  // The executor follows the VMs the evacuation engine moves, so a host failing later recovers what is there.
  evacuator_->set_move_observer(
      [this](model::VmIndex vm, model::HostIndex host) { executor_->on_vm_moved(vm, host); });
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
  executor_->halt();
}

bool Controller::busy() const {
  return executor_->busy() || evacuator_->busy();
}

void Controller::finalize() {
  executor_->finalize();
  evacuator_->finalize();
}

}  // namespace revive::control

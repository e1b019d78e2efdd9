// Hypervisor: the VM lifecycle on hosts. Real driver: libvirt (one connection per host); simulated twin in
// sim/. All calls return at once; `done` runs later on the engine's EventLoop. Thread-safety: engine thread
// only.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "env/operation.h"
#include "model/cloud.h"

namespace revive::env {

enum class VmPowerState { running, stopped, absent };

struct HypervisorEvent {
  enum class Kind { vm_started, vm_stopped, vm_crashed, host_connection_lost, host_connection_restored };
  HypervisorEvent(Kind event_kind, model::HostIndex event_host = model::kNoIndex,
                  model::VmIndex event_vm = model::kNoIndex, std::string event_detail = {})
      : kind(event_kind), host(event_host), vm(event_vm), detail(std::move(event_detail)) {}
  Kind kind;
  model::HostIndex host = model::kNoIndex;
  model::VmIndex vm = model::kNoIndex;  // kNoIndex for host events
  // Why, when the driver knows: for VM events the hypervisor's reason ("shutdown", "destroyed", "crashed",
  // "migrated"...; see the driver's header), for connection loss what closed it. Empty when unknown.
  std::string detail;
};

class Hypervisor {
 public:
  Hypervisor() = default;
  Hypervisor(const Hypervisor&) = delete;
  Hypervisor& operator=(const Hypervisor&) = delete;
  virtual ~Hypervisor() = default;

  // Defines the VM on `host` (its disks already mapped there) and starts it; ok once the VM is running.
  virtual void start_vm(model::HostIndex host, model::VmIndex vm, Completion done) = 0;
  // Clean shutdown (graceful = true) or destroy (graceful = false); ok once the VM no longer runs on `host`.
  virtual void stop_vm(model::HostIndex host, model::VmIndex vm, bool graceful, Completion done) = 0;
  // Live migration from -> to; ok once the VM runs on `to` and no longer on `from`.
  virtual void migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to, Completion done) = 0;
  // The VMs currently running on `host` (as the hypervisor reports them); `done` gets ok = false if
  // unreachable.
  virtual void list_running(
      model::HostIndex host,
      std::function<void(const OperationResult&, std::vector<model::VmIndex>)> done) = 0;
  // Events (VM lifecycle, connection loss) are delivered to `handler` on the engine's EventLoop.
  virtual void subscribe(std::function<void(const HypervisorEvent&)> handler) = 0;
};

}  // namespace revive::env

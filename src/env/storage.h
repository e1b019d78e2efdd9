// Storage: which host may access which disk. Real driver: iSCSI target (tgt) or an array's API; twin in sim/.
// A batch call covers disks of one array (one API call where the array supports it; an array that cannot
// batch is driven one disk at a time by the driver). Each disk of a batch counts as one operation against the
// array's max_parallel, and `done` runs once per disk as that disk finishes, so the engine frees slots as
// early as it can. Unmapping every disk of a host is also a fence (storage fencing): the old copy can no
// longer write. All calls return at once; `done` runs later on the engine's EventLoop. Thread-safety: engine
// thread only.
#pragma once

#include <functional>
#include <vector>

#include "env/operation.h"
#include "model/cloud.h"

namespace revive::env {

// Called once per disk of a batch with that disk's result.
using DiskCompletion = std::function<void(model::DiskIndex, const OperationResult&)>;

class Storage {
 public:
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  virtual ~Storage() = default;

  // Grants `host` access to `disks` (all on `array`). Idempotent.
  virtual void map_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                         DiskCompletion done) = 0;
  // Revokes `host`'s access to `disks` and ends its open sessions. Idempotent.
  virtual void unmap_disks(model::ArrayIndex array, model::HostIndex host,
                           std::vector<model::DiskIndex> disks, DiskCompletion done) = 0;
};

// Network: configures a VM's networks on a target host's switch port before the VM starts.
class Network {
 public:
  Network() = default;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;
  virtual ~Network() = default;

  virtual void configure_vm_networks(model::SwitchIndex network_switch, model::HostIndex host,
                                     model::VmIndex vm, Completion done) = 0;
};

}  // namespace revive::env

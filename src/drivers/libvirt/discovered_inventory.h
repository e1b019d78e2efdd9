// Turns what LibvirtHypervisor::discover() found on a host into model inventory: the daemon calls this to
// add VMs it does not know yet and to refresh the ones it does. Pure function over a Cloud; not thread-safe
// (the caller owns the Cloud, as for any Cloud writer).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "drivers/libvirt/libvirt_hypervisor.h"
#include "model/cloud.h"

namespace revive::drivers {

struct InventoryChanges {
  std::vector<std::string> added_vms;    // new VMs, in discovery order
  std::vector<std::string> updated_vms;  // known VMs whose size, networks or host changed
};

// Which storage array holds a disk (e.g. by its iSCSI target name); kNoIndex when unknown.
using ArrayOfDisk = std::function<model::ArrayIndex(const DomainDisk&)>;

// For each domain found on `host`:
//  - unknown to `cloud`: a new Vm (name, vCPUs, memory MiB, networks interned, host = `host` when it runs
//    there, else kNoIndex; priority and protection at their defaults) with one Disk per non-CD-ROM disk,
//    named "<vm>/<target device>", on the array `array_of` names (size 0: libvirt does not say);
//  - known: vCPUs, memory and networks refreshed; host set to `host` when it runs there. Disks are kept.
// Rebuilds the cloud's indexes when anything changed.
InventoryChanges apply_discovery(model::Cloud& cloud, model::HostIndex host,
                                 const std::vector<DiscoveredDomain>& domains,
                                 const ArrayOfDisk& array_of = {});

}  // namespace revive::drivers

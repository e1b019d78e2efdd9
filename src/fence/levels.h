// Engine-side fence levels built on the other environment interfaces (no driver of their own). Each is an
// env::Fencer for FenceChain; completions always arrive later on the EventLoop, never inline. Thread-safety:
// engine thread only; the referenced objects must outlive the level.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "env/event_loop.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/operation_slots.h"
#include "env/storage.h"
#include "fence/liveness.h"
#include "model/cloud.h"

namespace revive::fence {

// Every VM that runs or may run on a host, as the caller believes now: its believed host, every target of a
// start or migration whose outcome is not known, every host it was seen on (the executor's "may run" set).
// A live view, asked at each fence; never the static inventory's placement (VMs moved later would be
// missed). Called on the engine thread.
using VmsOnHost = std::function<std::vector<model::VmIndex>(model::HostIndex)>;

// Storage fencing: revokes the host's access to every disk of every VM that runs or may run on it (asked of
// `vms_on_host` when the fence starts), array by array. A proof only when it stops every such VM: it fails
// (transient, so the chain moves to its next level) without unmapping anything when any of those VMs has no
// disk ("storage fencing cannot stop diskless VM X": a VM without disks keeps running with no storage), and
// when no VM may run there (nothing to unmap proves nothing about the host). Succeeds only when every unmap
// succeeded (the old copies can no longer write). `cloud` gives the disks of each VM and the names.
// With `slots` (optional), each unmap is one call of one disk, issued once its slots (the disk's array and
// the global limit) are granted: the level's calls count against the limits the engines keep.
class StorageFencer final : public env::Fencer {
 public:
  StorageFencer(env::EventLoop& loop, env::Storage& storage, const model::Cloud& cloud, VmsOnHost vms_on_host,
                env::OperationSlots* slots = nullptr);
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

 private:
  env::EventLoop& loop_;
  env::Storage& storage_;
  const model::Cloud& cloud_;
  VmsOnHost vms_on_host_;
  env::OperationSlots* slots_;
};

// Hypervisor destroy: for a host that is reachable but declared bad. Destroys (not shuts down) every VM the
// hypervisor reports running there, then lists again: succeeds only when none runs. Unreachable hypervisor:
// a (transient) failure, so the next level is tried. Its source is live (the hypervisor's own listing, not
// the inventory). The proof is "nothing runs there now", not "the host is off": it holds only while nothing
// starts a VM there, so the caller must have no start or migration toward the host in flight (and the
// host must not autostart VMs).
class HypervisorFencer final : public env::Fencer {
 public:
  // With `slots` (optional), each destroy is issued once its slots (the host's endpoint, the global limit)
  // are granted.
  HypervisorFencer(env::EventLoop& loop, env::Hypervisor& hypervisor, env::OperationSlots* slots = nullptr);
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

 private:
  void verify(model::HostIndex host, env::Completion done);
  env::EventLoop& loop_;
  env::Hypervisor& hypervisor_;
  env::OperationSlots* slots_;
};

// Lease expiry: the agent self-fences (watchdog device, self-fence command) within watchdog_s once it has
// lost both its storage lease (not renewed for lease_ttl_s) and the controller (no answer for
// controller_timeout_s). So once
//   max(last renewal seen + lease_ttl_s, last agent contact + controller_timeout_s) + watchdog_s + margin_s
// has passed without a new renewal, the host is off. The level waits for that moment (EventLoop timer) and
// succeeds once the lease has been read after it, unchanged; a renewal meanwhile means the host is alive
// (failure), and a lease that cannot be read (the controller cut off from storage) proves nothing (failure
// after read_wait_s).
// Only for an agent that can self-fence: the host's last lease record must declare a working self-fence
// (Liveness::self_fence_within_s, from the record's SELF_FENCE field) taking at most watchdog_s. Otherwise
// the level fails at once (transient: the chain moves on) naming why: an agent without one only exits when
// it gives up, and its VMs keep running. Both are checked again at the deadline.
struct LeaseSettings {
  double lease_ttl_s = 10.0;
  double controller_timeout_s = 10.0;
  double watchdog_s = 5.0;
  // Covers the agent's tick (it checks once per interval) and message delays: at least the agent's interval
  // plus the worst network delay.
  double margin_s = 2.0;
  // The proof also needs the lease read (unchanged) after the deadline; re-check this often, for this long.
  double read_recheck_s = 0.5;
  double read_wait_s = 30.0;
};

class LeaseFencer final : public env::Fencer {
 public:
  LeaseFencer(env::EventLoop& loop, const Liveness& liveness, LeaseSettings settings = {});
  ~LeaseFencer() override;
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;
  // When the lease proof for `host` holds at the earliest (nullopt: the host has no lease).
  std::optional<double> proof_time_s(model::HostIndex host) const;

 private:
  void check_later(model::HostIndex host, double renewal, double give_up_s, double delay_s,
                   env::Completion done);
  // Why the host's declared self-fence does not back the lease proof; nullopt when it does.
  std::optional<std::string> why_no_self_fence(model::HostIndex host) const;
  env::EventLoop& loop_;
  const Liveness& liveness_;
  LeaseSettings settings_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Manual: waits up to wait_s for an operator's confirmation (confirm()) that the host is off. Without one,
// fails (transient) naming the command to run.
// A confirmation belongs to one loss of the host. The loss begins with the first fence() of the host (or
// host_lost(), when the caller declares the host lost before fencing it) and ends with host_recovered(). A
// confirmation given during a loss satisfies the fences waiting for it and every later fence of that loss;
// one given when the host is not lost (no fence pending, not declared lost) is refused (confirm() returns
// false) and not kept: it can never satisfy the fence of a later loss. host_recovered() drops the proof and
// fails the fences still waiting ("the host came back").
class ManualFencer final : public env::Fencer {
 public:
  ManualFencer(env::EventLoop& loop, const model::Cloud& cloud, double wait_s = 300.0);
  ~ManualFencer() override;
  // True when the confirmation counts (the host is lost), false when refused.
  bool confirm(model::HostIndex host);
  // The caller declares `host` lost before any fence (so that an operator may confirm it first).
  void host_lost(model::HostIndex host);
  void host_recovered(model::HostIndex host) override;
  // The host is lost now (between its first fence() / host_lost() and host_recovered()).
  bool lost(model::HostIndex host) const { return lost_.contains(host); }
  bool confirmed(model::HostIndex host) const { return confirmed_.contains(host); }
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

 private:
  struct Pending {
    env::Completion done;
    env::TimerId timer = 0;
  };
  env::EventLoop& loop_;
  const model::Cloud& cloud_;
  double wait_s_;
  std::set<model::HostIndex> lost_;       // hosts whose loss episode runs
  std::set<model::HostIndex> confirmed_;  // ... and whose loss an operator confirmed (a subset)
  std::multimap<model::HostIndex, std::shared_ptr<Pending>> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace revive::fence

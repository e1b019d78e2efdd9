// Engine-side fence levels built on the other environment interfaces (no driver of their own). Each is an
// env::Fencer for FenceChain; completions always arrive later on the EventLoop, never inline. Thread-safety:
// engine thread only; the referenced objects must outlive the level.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "env/event_loop.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/storage.h"
#include "fence/liveness.h"
#include "model/cloud.h"

namespace revive::fence {

// Storage fencing: unmaps every disk of every VM the model places on the host, array by array. Succeeds
// only when every unmap succeeded (the old copies can no longer write); a host without disks cannot be
// fenced this way (permanent failure).
class StorageFencer final : public env::Fencer {
 public:
  StorageFencer(env::EventLoop& loop, env::Storage& storage, const model::Cloud& cloud);
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

 private:
  env::EventLoop& loop_;
  env::Storage& storage_;
  const model::Cloud& cloud_;
};

// Hypervisor destroy: for a host that is reachable but declared bad. Destroys (not shuts down) every VM the
// hypervisor reports running there, then lists again: succeeds only when none runs. Unreachable hypervisor:
// a (transient) failure, so the next level is tried.
class HypervisorFencer final : public env::Fencer {
 public:
  HypervisorFencer(env::EventLoop& loop, env::Hypervisor& hypervisor);
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

 private:
  void verify(model::HostIndex host, env::Completion done);
  env::EventLoop& loop_;
  env::Hypervisor& hypervisor_;
};

// Lease expiry: the agent self-fences (watchdog) within watchdog_s once it has lost both its storage lease
// (not renewed for lease_ttl_s) and the controller (no answer for controller_timeout_s). So once
//   max(last renewal seen + lease_ttl_s, last agent contact + controller_timeout_s) + watchdog_s + margin_s
// has passed without a new renewal, the host is off. The level waits for that moment (EventLoop timer) and
// succeeds once the lease has been read after it, unchanged; a renewal meanwhile means the host is alive
// (failure), and a lease that cannot be read (the controller cut off from storage) proves nothing (failure
// after read_wait_s).
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
  env::EventLoop& loop_;
  const Liveness& liveness_;
  LeaseSettings settings_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Manual: waits up to wait_s for an operator's confirmation (confirm()) that the host is off; a confirmation
// given before the level is reached counts too. Without one, fails (transient) naming the command to run.
class ManualFencer final : public env::Fencer {
 public:
  ManualFencer(env::EventLoop& loop, const model::Cloud& cloud, double wait_s = 300.0);
  ~ManualFencer() override;
  void confirm(model::HostIndex host);
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
  std::set<model::HostIndex> confirmed_;
  std::multimap<model::HostIndex, std::shared_ptr<Pending>> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace revive::fence

// FenceChain: fencing levels tried in order until one proves the host cannot run its VMs. Each level is any
// env::Fencer (IPMI, a ClusterLabs fence agent, storage fencing, hypervisor destroy, lease expiry, operator
// confirmation); the chain is itself an env::Fencer, so the engine sees one fencer.
//
// Levels are registered by name and listed per host or globally (the host's list wins). A level that fails
// hands over to the next; the chain succeeds with the first level that succeeds and fails when all fail. A
// level that failed for good (permanent: wrong password, no such host) is remembered and skipped for that
// host on later attempts; when every level of a host has failed for good, the chain's failure is permanent
// too. A level that does not answer within level_timeout_s counts as failed (its late answer is ignored).
//
// Errors name the level and never contain secrets (drivers keep them out). Time only through the EventLoop.
// Thread-safety: engine thread only. Registered fencers must outlive the chain.
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

namespace revive::fence {

struct LevelAttempt {
  std::string level;
  bool ok = false;
  bool skipped = false;  // failed for good earlier, not tried again
  std::string error;
  bool permanent = false;
  double started_s = 0.0;
  double finished_s = 0.0;
};

struct FenceReport {
  model::HostIndex host = model::kNoIndex;
  bool ok = false;
  std::string level;  // the level that succeeded
  std::vector<LevelAttempt> attempts;
};

class FenceChain final : public env::Fencer {
 public:
  explicit FenceChain(env::EventLoop& loop, double level_timeout_s = 120.0);
  ~FenceChain() override;

  // Registers a level under `name` (e.g. "ipmi", "fence-agent", "storage", "hypervisor", "lease", "manual").
  void add_level(std::string name, env::Fencer& fencer);
  // Throws std::invalid_argument naming an unknown level.
  void set_default_levels(std::vector<std::string> names);
  void set_host_levels(model::HostIndex host, std::vector<std::string> names);
  const std::vector<std::string>& levels_for(model::HostIndex host) const;
  // Forgets the levels that failed for good for `host` (after its configuration was fixed).
  void forget_permanent_failures(model::HostIndex host);

  // Called once per finished fence() with every level's outcome.
  void set_observer(std::function<void(const FenceReport&)> observer) { observer_ = std::move(observer); }

  void fence(model::HostIndex host, env::Completion done) override;
  // The host is back (env::Fencer::host_recovered): passed on to every registered level, once each, so that
  // none keeps a proof of the loss that ended (ManualFencer drops its confirmation and fails the fences
  // waiting for one). Fences in flight go on; each level's answer states the world after it acted. The chain
  // itself caches no proof (levels that failed for good stay skipped: that is configuration, not proof).
  void host_recovered(model::HostIndex host) override;
  // Asks the host's levels in order; the first definite answer (on/off) wins, else unknown.
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

 private:
  struct Run;
  void run_level(std::shared_ptr<Run> run);
  void status_from(model::HostIndex host, std::size_t index,
                   std::function<void(const env::OperationResult&, env::PowerState)> done);
  void check_names(const std::vector<std::string>& names) const;

  env::EventLoop& loop_;
  double level_timeout_s_;
  std::map<std::string, env::Fencer*, std::less<>> fencers_;
  std::vector<std::string> default_levels_;
  std::unordered_map<model::HostIndex, std::vector<std::string>> host_levels_;
  std::unordered_map<model::HostIndex, std::map<std::string, std::string>> permanent_failures_;
  std::function<void(const FenceReport&)> observer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace revive::fence

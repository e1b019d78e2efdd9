// Live migrations in the simulated world: a MigrationFlows (exec/migration_model.h) driven by an EventLoop,
// so concurrent migrations share NIC bandwidth and take the time the fluid model gives them. A VM's actual
// dirty rate is its inventory dirty_mib_s times a lognormal factor drawn from (seed, VM) with `dirty_spread`
// (0: as declared), so the engine's predictions (made from the declared rate) are estimates, as in real life.
//
// It checks its own invariant at every event: no host's NIC carries more than its bandwidth. Violations are
// collected as sentences. Thread-safety: none; runs on the loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "env/event_loop.h"
#include "exec/migration_model.h"
#include "model/cloud.h"

namespace revive::sim {

class SimMigrations {
 public:
  struct Options {
    exec::LiveMigrationParameters parameters;
    std::uint64_t seed = 1;
    double dirty_spread = 0.2;
  };
  using Done = std::function<void(const exec::FlowOutcome&)>;

  // `cloud` and `loop` must outlive this object.
  SimMigrations(const model::Cloud& cloud, env::EventLoop& loop, Options options);
  SimMigrations(const SimMigrations&) = delete;
  SimMigrations& operator=(const SimMigrations&) = delete;
  ~SimMigrations();

  // Starts migrating `vm` now; `done` runs on the loop when it switches over or is found non-convergent.
  std::uint64_t start(model::VmIndex vm, model::HostIndex from, model::HostIndex to, Done done);
  // Ends every migration from or to `host` now (it lost power); their outcomes are returned, `done` is not
  // called.
  std::vector<exec::FlowOutcome> abort_host(model::HostIndex host, const std::string& error);

  double actual_dirty_mib_s(model::VmIndex vm) const;
  std::size_t active() const { return flows_.active(); }
  // The largest fraction of any host's NIC in use at any event so far (<= 1 on a correct run).
  double peak_nic_utilisation() const { return peak_utilisation_; }
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  void reschedule();
  void on_timer();
  void check_bandwidth();

  const model::Cloud& cloud_;
  env::EventLoop& loop_;
  Options options_;
  exec::MigrationFlows flows_;
  std::unordered_map<exec::MigrationFlows::Id, Done> done_;
  env::TimerId timer_ = 0;
  bool timer_set_ = false;
  double peak_utilisation_ = 0.0;
  std::vector<std::string> violations_;
};

}  // namespace revive::sim

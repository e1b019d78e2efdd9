// Simulation scenarios (../shared/spec/simulation.md, YAML v1): the seed, the latency model, heartbeats,
// migration parameters and the timed events (host crashes, isolation, evacuations, failing and slow steps).
// Loading is strict: unknown fields, unknown names (resolved against the cloud), impossible values are
// errors, every one of the file reported at once as "FILE:LINE: field: what is wrong". Thread-safety: value
// types.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "env/step.h"
#include "model/cloud.h"
#include "model/inventory.h"
#include "sim/latency.h"

namespace revive::sim {

struct LatencyModel {
  // 0..1: how much of a duration's spread is the subject's habit (latency.h); `history` estimates know it.
  double repeatability = 0.8;
  std::optional<Latency> detect;  // absent: the detector on simulated heartbeats decides
  Latency fence{8.0, 0.2};
  Latency disk_unmap{2.0, 0.3};
  Latency disk_map{4.0, 0.3};
  Latency net_config{3.0, 0.3};
  Latency vm_start{60.0, 0.4};
  Latency vm_stop{20.0, 0.3};
  const Latency& of(env::StepKind kind) const;
};

struct HeartbeatModel {
  double interval_ms = 1000.0;
  double loss = 0.0;  // probability a heartbeat is lost, [0, 1)
  double jitter_ms = 0.0;
};

struct MigrationModel {
  double setup_s = 2.0;
  double downtime_ms = 300.0;
};

// Which resource a slow_step event slows down.
// `host`: the host's hypervisor steps (starts, stops, migrations onto it); `bmc`: the fences of that host
// (its BMC answers slowly).
enum class ResourceKind : std::uint8_t { array, endpoint, network_switch, host, bmc };

// The channels an `isolate` event cuts between a host and the controller (docs/detection.md): `agent` the
// agent's UDP heartbeats, `hypervisor` the management connection (the host's hypervisor calls hang),
// `storage` the host's storage-lease renewals. A crash cuts all three.
struct CutChannels {
  bool agent = true;
  bool hypervisor = true;
  bool storage = false;  // by default an isolated host keeps renewing its lease: alive, cut off
  bool all() const { return agent && hypervisor && storage; }
  CutChannels& operator|=(const CutChannels& other) {
    agent = agent || other.agent;
    hypervisor = hypervisor || other.hypervisor;
    storage = storage || other.storage;
    return *this;
  }
};

struct ScenarioEvent {
  // exit_maintenance: the hosts leave maintenance (moves not begun are cancelled; with fail_back their VMs go
  // back); cancel: their evacuation is cancelled (moves in flight finish, the hosts are up).
  // restart_controller: the controller dies right after its `after_records`-th journal record from `at`, and
  // a new one resumes from the journal `restart_delay_s` later.
  // vm_crash: `vm` stops on its own where it runs (the hypervisor reports it; VM-level restarts follow).
  // confirm_down: an operator verifies the hosts are off (turning them off if they were not): the proof a
  // fence could not give, for hosts declared failed.
  // fencing: an operator disarms fencing (no host is declared failed and fenced until it is armed again:
  // the verdicts are held) or arms it (the held verdicts go through).
  enum class Kind : std::uint8_t {
    fail,
    isolate,
    evacuate,
    fail_step,
    slow_step,
    exit_maintenance,
    cancel,
    restart_controller,
    vm_crash,
    confirm_down,
    fencing
  };
  Kind kind = Kind::fail;
  double at_s = 0.0;
  int line = 0;  // in the scenario file, for messages
  // fail, isolate, evacuate, exit_maintenance, cancel, confirm_down: the hosts.
  std::vector<model::HostIndex> hosts;
  bool fail_back = false;  // exit_maintenance
  bool arm = true;         // fencing: arm (true) or disarm
  // restart_controller
  std::uint32_t after_records = 1;
  double restart_delay_s = 5.0;
  // isolate: what it cuts (`channels: [...]`; default agent and hypervisor, the lease alive).
  CutChannels channels;
  // evacuate
  double deadline_s = 0.0;
  std::string reason;  // maintenance | predicted-failure
  // fail_step: the next `times` attempts of `step` of `vm` (or of the fence of `host`) started at or after
  // at_s fail; `disk` narrows disk steps to one disk. vm_crash: the VM.
  model::VmIndex vm = model::kNoIndex;
  env::StepKind step = env::StepKind::vm_start;
  std::uint32_t times = 1;
  model::DiskIndex disk = model::kNoIndex;
  // slow_step: steps on `resource` started in [at_s, until_s) take `factor` times as long.
  ResourceKind resource_kind = ResourceKind::array;
  model::Index resource = model::kNoIndex;
  double factor = 1.0;
  double until_s = 1e300;
};

struct Scenario {
  std::string file;
  std::uint64_t seed = 1;
  LatencyModel latency;
  HeartbeatModel heartbeat;
  MigrationModel migration;
  std::vector<ScenarioEvent> events;  // sorted by at_s, file order among equal times
};

// All errors found in one scenario; what() is every diagnostic, one per line.
class ScenarioError : public std::runtime_error {
 public:
  explicit ScenarioError(std::vector<model::Diagnostic> diagnostics);
  const std::vector<model::Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<model::Diagnostic> diagnostics_;
};

// Throws ScenarioError (an unreadable file is one diagnostic at line 0). Names resolve against `cloud`.
Scenario load_scenario_file(const std::string& path, const model::Cloud& cloud);
Scenario load_scenario_text(std::string_view yaml_text, std::string_view file_name,
                            const model::Cloud& cloud);

}  // namespace revive::sim

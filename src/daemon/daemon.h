// Daemon: `revived`, the controller protecting real VMs on libvirt hosts. It assembles the real environment
// around the one controller the simulator also drives (control/controller.h):
//
//   revive-agent (UDP heartbeats, lease files) ─> HeartbeatReceiver, LeaseWatcher ─┐
//   libvirt connections (keepalive, close)      ─> LibvirtHypervisor events ────────┼─> HostMonitor (phi)
//                                                                                   │      │ declares failed
//   REST API (api::HttpServer) ─> Daemon (api::Service) ─> Controller <─────────────┘<─────┘
//                                                            │ executor, evacuation engine
//                         durability gate (intent first) ─> libvirt, IPMI / fence agent / manual, storage
//                         SQLite journal (ControllerJournal) <─ every intent and result
//
// Start (run): reads the last checkpoint of the journal, discovers every host's domains through libvirt
// (VMs not in the inventory are protected with default policy; the inventory's vms entries are their policy),
// builds the controller, resumes it from the journal's records after the checkpoint (a daemon killed at any
// point finishes the recovery without starting a VM twice), then runs the engine loop until stop().
// While running: the detector watches every host on three channels; a host it declares failed is handed to
// the controller, which fences it (the configured fence levels) before any restart; VMs that stop
// unexpectedly on healthy hosts are restarted there; drains come from the API. When nothing is in flight the
// daemon checkpoints (inventory as it is now) and compacts the journal; inventory changes found by
// rediscovery (VMs that appeared) are applied then, the controller rebuilt on the new inventory.
//
// Observability: every event is logged (daemon/daemon_log.h), counted (daemon/metrics.h), offered to the
// alert hooks (daemon/alerts.h); fences and every state-changing request are audited (daemon/audit.h); each
// fence decision keeps its evidence (daemon/fence_evidence.h, GET /v1/hosts/{host}/why); every placement
// decision is saved with its inputs for `revive replay` (daemon/decision_store.h, GET /v1/decisions).
// Thread-safety: run() on one thread (the engine thread); stop() and every api::Service method from any
// thread (they hand their work to the engine thread and wait up to request_timeout_s for it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/service.h"
#include "daemon/alerts.h"
#include "daemon/audit.h"
#include "daemon/config.h"
#include "daemon/daemon_log.h"
#include "daemon/event_log.h"
#include "daemon/metrics.h"

namespace revive::daemon {

class Daemon final : public api::Service {
 public:
  // Opens the journal (one daemon per data directory: a second is refused) and the state store, binds the
  // heartbeat socket. Throws std::runtime_error (or env::StoreError) naming what failed; nothing runs then.
  explicit Daemon(DaemonConfig config);
  ~Daemon() override;

  // Runs until stop(); returns the exit status (0 after stop(), 1 after a fatal error such as a failed
  // journal). `ready` is called on the engine thread once the controller runs (discovery and resume done).
  int run(const std::function<void()>& ready = {});
  void stop();

  // api::Service
  nlohmann::json status() override;
  nlohmann::json hosts() override;
  nlohmann::json host(const std::string& name) override;
  nlohmann::json vms() override;
  nlohmann::json vm(const std::string& name) override;
  nlohmann::json groups() override;
  nlohmann::json plans() override;
  nlohmann::json capacity() override;
  nlohmann::json operations() override;
  nlohmann::json operation(const std::string& id) override;
  nlohmann::json events(std::uint64_t after, std::size_t limit, double wait_s) override;
  nlohmann::json drain(const api::DrainRequest& request, const api::Caller& caller) override;
  nlohmann::json exit_maintenance(const api::ExitMaintenanceRequest& request,
                                  const api::Caller& caller) override;
  nlohmann::json confirm_down(const std::string& host, const api::Caller& caller) override;
  nlohmann::json cancel(const std::string& operation_id, const api::Caller& caller) override;
  nlohmann::json set_armed(bool armed, const std::string& reason, const api::Caller& caller) override;
  nlohmann::json audit(const api::AuditQuery& query) override;
  nlohmann::json why(const std::string& host) override;
  nlohmann::json decisions() override;
  std::string decision(std::uint64_t number) override;
  std::string metrics() override;
  void record_request(const api::RequestRecord& request) override;

  EventLog& event_log() { return events_; }
  DaemonLog& log() { return *log_; }

  class Engine;  // everything living on the engine thread

 private:
  // Runs `work` on the engine thread and returns its answer (rethrowing its exception); 503 when the engine
  // does not answer in time or is not running.
  nlohmann::json on_engine(std::function<nlohmann::json(Engine&)> work);

  // Every event also goes to the log, the metrics, the audit (fences) and the alert hooks, in that order;
  // each only queues or counts (the engine thread appends events).
  void on_event(const Event& event);

  DaemonConfig config_;
  EventLog events_;
  Metrics metrics_;
  std::unique_ptr<DaemonLog> log_;
  std::unique_ptr<AuditLog> audit_;  // data_dir/audit.db
  std::unique_ptr<Alerts> alerts_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace revive::daemon

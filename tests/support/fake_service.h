// FakeService: an in-memory api::Service for the API and CLI tests. It holds a small canned cloud (4 hosts,
// 5 VMs, one group, one running recovery, three events), answers in the shapes of docs/api/openapi.yaml,
// applies the actions to its state with a few rules (so 404/409/422 can be tested), and records every call
// it got ("drain host-01 deadline_s=300 reason=maintenance dry_run=0 by=anonymous").
//
// The canned cloud: host-01 (up: db-1, web-1, batch-1), host-02 (up: web-2), host-03 (failed: app-1
// waiting, recovery op-1 running), host-04 (maintenance, empty). Times are fixed (from 2024-05-01T12:00:00Z)
// so outputs are stable. Thread-safe: one mutex; events() waits on a condition variable.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "api/service.h"

namespace revive::testing {

class FakeService : public api::Service {
 public:
  FakeService();

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
  // One canned decision: 1, recovery of host-03 (op-1), app-1 waiting.
  nlohmann::json decisions() override;
  std::string decision(std::uint64_t number) override;
  std::string metrics() override;
  // Keeps the request as an audit record (served by audit()); not counted in calls().
  void record_request(const api::RequestRecord& request) override;

  // ---- for the tests --------------------------------------------------------------------------------------
  std::vector<std::string> calls() const;  // every call, in order (reads included: "hosts", "host host-01")
  std::vector<std::string> action_calls() const;  // the calls that may change state
  // Appends an event (kind, message; host/vm/operation may be empty) and wakes the waiting readers.
  std::uint64_t publish(const std::string& kind, const std::string& message, const std::string& host = "",
                        const std::string& vm = "", const std::string& operation = "");
  // Moves operation `id` one VM on (its next pending or running VM succeeds); when none is left the operation
  // succeeds. False if there is no such running operation.
  bool advance(const std::string& id);
  // The next call of status() throws std::runtime_error(message) (a 500).
  void fail_next_status(const std::string& message);

 private:
  struct Op;
  nlohmann::json host_json(const nlohmann::json& host) const;
  nlohmann::json operation_json(const Op& op) const;
  void record(std::string call);
  std::uint64_t publish_locked(const std::string& kind, const std::string& message, const std::string& host,
                               const std::string& vm, const std::string& operation, nlohmann::json details);
  nlohmann::json& find_host(const std::string& name);
  std::string now_text() const;

  struct Op {
    std::string id, kind, state, reason, requested_by, started_at, finished_at, deadline_at;
    std::vector<std::string> hosts;
    bool cancel_requested = false;
    nlohmann::json vms = nlohmann::json::array();
    nlohmann::json timeline = nlohmann::json::array();
  };

  mutable std::mutex mutex_;
  std::condition_variable event_added_;
  std::vector<std::string> calls_;
  nlohmann::json hosts_ = nlohmann::json::array();  // Host documents
  nlohmann::json vms_ = nlohmann::json::array();    // Vm documents
  std::vector<Op> operations_;
  std::vector<nlohmann::json> events_;
  std::vector<nlohmann::json> audit_;  // AuditRecord documents
  nlohmann::json fencing_;
  int clock_s_ = 0;  // seconds after the base time: each change moves it on by 1
  std::string fail_status_;
};

}  // namespace revive::testing

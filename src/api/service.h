// Service: what the REST API (api/http_server.h) serves, as the daemon implements it (daemon/daemon.h) and
// a test fake does. The HTTP layer parses and validates each request's syntax (path, query, body fields and
// their types) and maps errors to statuses; the service decides semantics (unknown names, conflicts, rules)
// and answers JSON documents whose shapes docs/api/openapi.yaml defines (one schema per method below).
//
// Errors: a method refuses a request by throwing RequestError (status 400/404/409/422, the request field it
// concerns, a sentence starting with the field); a refused request changes nothing. Any other exception is a
// 500. Fields: an unknown host is 404 `host` (in a DrainRequest too), a VM 404 `vm`, an operation 404 `id`; a
// host in the wrong state 409 `host`; a drain with no room 422 `hosts` (tests/support/fake_service.h does
// so). Thread-safety: every method may be called from any thread, concurrently (the HTTP server's pool); the
// daemon hands each call to its engine thread and waits for the answer.
// Roles: reads are `viewer`, operations `operator`, arm/disarm `admin`; each method says which. The HTTP
// server checks them (api/auth.h) before calling: a service never sees a refused caller.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace revive::api {

class RequestError : public std::runtime_error {
 public:
  // `field`: the request field at fault ("host", "deadline_s", "body"...), empty when none applies.
  RequestError(int status, std::string field, const std::string& message)
      : std::runtime_error(message), status_(status), field_(std::move(field)) {}
  int status() const { return status_; }
  const std::string& field() const { return field_; }

 private:
  int status_;
  std::string field_;
};

// Who asks (recorded with every change): the token's name, "anonymous" when the API has no tokens.
struct Caller {
  std::string user = "anonymous";
};

// One request as the audit log sees it: the HTTP server reports every state-changing request (POST), admitted
// or refused, once its answer is known.
struct RequestRecord {
  std::string method;  // "POST"
  std::string path;    // as requested, without the query
  std::string who;    // the token's name; "anonymous" without tokens; "(unauthenticated)" without a valid one
  std::string body;   // the request body as sent, cut at 4 KiB (tokens travel only in headers)
  int status = 0;     // the answer's HTTP status
  std::string error;  // the error's message when status >= 400, else empty
};

// GET /v1/audit: the audit records after `since_unix_ms` (0: from the first), of `kind` ("request",
// "fence"; empty: both), oldest first, at most `limit`.
struct AuditQuery {
  std::int64_t since_unix_ms = 0;
  std::string kind;
  std::size_t limit = 100;
};

// POST /v1/hosts/{host}/evacuate and /v1/hosts/{host}/maintenance (action enter), /predicted-failure.
struct DrainRequest {
  std::vector<std::string> hosts;      // at least one; each a known host
  double deadline_s = 600.0;           // seconds from now by which the hosts must be empty; > 0
  std::string reason = "maintenance";  // "maintenance" or "predicted_failure"
  bool dry_run = false;                // answer the plan it would carry out, change nothing
  std::string hosts_field = "host";    // the request field naming the hosts: "host" (path) or "hosts" (body)
};

// POST /v1/hosts/{host}/maintenance with action exit.
struct ExitMaintenanceRequest {
  std::vector<std::string> hosts;
  std::string hosts_field = "host";
  bool fail_back = false;  // move the VMs that left back home
  bool dry_run = false;
};

class Service {
 public:
  Service() = default;
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;
  virtual ~Service() = default;

  // ---- reads (viewer) -----------------------------------------------------------------------------------
  virtual nlohmann::json status() = 0;                          // GET /v1/status       (Status)
  virtual nlohmann::json hosts() = 0;                           // GET /v1/hosts        ({hosts: [Host]})
  virtual nlohmann::json host(const std::string& name) = 0;     // GET /v1/hosts/{host} (Host; 404)
  virtual nlohmann::json vms() = 0;                             // GET /v1/vms          ({vms: [Vm]})
  virtual nlohmann::json vm(const std::string& name) = 0;       // GET /v1/vms/{vm}     (Vm; 404)
  virtual nlohmann::json groups() = 0;                          // GET /v1/groups       ({groups: [Group]})
  virtual nlohmann::json plans() = 0;                           // GET /v1/plans        (prestaged plans)
  virtual nlohmann::json capacity() = 0;                        // GET /v1/capacity     (last capacity check)
  virtual nlohmann::json operations() = 0;                      // GET /v1/operations   ({operations: [...]})
  virtual nlohmann::json operation(const std::string& id) = 0;  // GET /v1/operations/{id} (404)
  // GET /v1/events?after=N&limit=L&wait_s=W: events with sequence > after, oldest first, at most `limit`;
  // when none is there yet, waits up to `wait_s` for the first (long poll; the SSE stream uses it too).
  virtual nlohmann::json events(std::uint64_t after, std::size_t limit, double wait_s) = 0;
  // GET /v1/audit (AuditPage): who changed what, and every fence, oldest first (daemon/audit.h).
  virtual nlohmann::json audit(const AuditQuery& query) = 0;
  // GET /v1/hosts/{host}/why (HostWhy; 404): the evidence behind the host's last fence decision, or what the
  // detector sees now when there was none.
  virtual nlohmann::json why(const std::string& host) = 0;
  // GET /v1/decisions (DecisionList): the placement decisions saved with their inputs, oldest first
  // (daemon/decision_store.h).
  virtual nlohmann::json decisions() = 0;
  // GET /v1/decisions/{number} (DecisionFile; 404 `number`): the decision file as saved, byte for byte (the
  // text `revive replay` reads).
  virtual std::string decision(std::uint64_t number) = 0;
  // GET /metrics: the Prometheus text exposition (version 0.0.4), docs/metrics.md.
  virtual std::string metrics() = 0;
  // Called by the HTTP server after every state-changing request (admitted or refused), from its threads;
  // must not block for long. Default: nothing is recorded.
  virtual void record_request(const RequestRecord& /*request*/) {}

  // ---- actions (operator unless said) -------------------------------------------------------------------
  // Each answers the operation started ({operation: Operation}) or, dry_run, {dry_run: true, plan: ...}.
  virtual nlohmann::json drain(const DrainRequest& request, const Caller& caller) = 0;
  virtual nlohmann::json exit_maintenance(const ExitMaintenanceRequest& request, const Caller& caller) = 0;
  // POST /v1/hosts/{host}/confirm-down: the operator vouches the host is off (it counts as fenced).
  virtual nlohmann::json confirm_down(const std::string& host, const Caller& caller) = 0;
  // POST /v1/operations/{id}/cancel.
  virtual nlohmann::json cancel(const std::string& operation_id, const Caller& caller) = 0;
  // POST /v1/disarm, /v1/arm (admin): the global fencing switch.
  virtual nlohmann::json set_armed(bool armed, const std::string& reason, const Caller& caller) = 0;
};

}  // namespace revive::api

#include "support/fake_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include "api/rfc3339.h"

namespace revive::testing {

using json = nlohmann::json;
using api::RequestError;

namespace {

// 2024-05-01T12:00:00Z
const auto kBase = std::chrono::system_clock::time_point(std::chrono::seconds(1714564800));

std::string at(int seconds) {
  return api::format_rfc3339(kBase + std::chrono::seconds(seconds));
}

json make_host(const std::string& name, const std::string& state, int vms, int cpus_used, int memory_used,
               const std::string& rack, const std::string& reason = "") {
  json channels = json::array();
  bool alive = state == "up" || state == "maintenance" || state == "draining";
  for (const char* channel : {"network", "storage"}) {
    channels.push_back({{"channel", channel},
                        {"state", alive ? "alive" : "silent"},
                        {"last_contact_at", alive ? at(0) : at(-40)},
                        {"phi", alive ? 0.4 : 12.5}});
  }
  return {{"name", name},
          {"state", state},
          {"state_since", at(-3600)},
          {"reason", reason.empty() ? json(nullptr) : json(reason)},
          {"channels", channels},
          {"vms", vms},
          {"cpus", {{"used", cpus_used}, {"total", 64}}},
          {"memory_mib", {{"used", memory_used}, {"total", 262144}}},
          {"labels", {{"rack", rack}}},
          {"bmc_configured", true},
          {"reserved", false},
          {"operation", nullptr}};
}

json make_vm(const std::string& name, const std::string& host, const std::string& state,
             const std::string& priority, bool protect, int cpus, int memory_mib,
             const std::string& reason = "") {
  return {{"name", name},
          {"host", host},
          {"state", state},
          {"priority", priority},
          {"protect", protect},
          {"cpus", cpus},
          {"memory_mib", memory_mib},
          {"networks", {"prod"}},
          {"disks", {{{"name", name + "-d0"}, {"array", "array-1"}, {"size_gib", 40}}}},
          {"groups", name.starts_with("web") ? json{"web"} : json::array()},
          {"restarts", 0},
          {"operation", nullptr},
          {"reason", reason.empty() ? json(nullptr) : json(reason)}};
}

json make_step(const std::string& step, const std::string& host, const std::string& state, int started,
               int finished, const std::string& disk = "") {
  return {{"step", step},
          {"host", host},
          {"disk", disk.empty() ? json(nullptr) : json(disk)},
          {"state", state},
          {"attempt", 1},
          {"started_at", started < 0 && state == "pending" ? json(nullptr) : json(at(started))},
          {"finished_at", state == "succeeded" || state == "failed" ? json(at(finished)) : json(nullptr)},
          {"error", nullptr}};
}

}  // namespace

FakeService::FakeService() {
  hosts_.push_back(make_host("host-01", "up", 3, 14, 49152, "r1"));
  hosts_.push_back(make_host("host-02", "up", 1, 4, 8192, "r1"));
  hosts_.push_back(make_host("host-03", "failed", 1, 8, 32768, "r2", "network and storage silent 40.0 s"));
  hosts_.push_back(make_host("host-04", "maintenance", 0, 0, 0, "r2"));
  vms_.push_back(make_vm("app-1", "host-03", "waiting", "high", true, 8, 32768,
                         "needs 8 vCPU and 32.0 GiB; none of the 2 compatible hosts has that free"));
  vms_.push_back(make_vm("batch-1", "host-01", "stopped", "low", false, 2, 4096));
  vms_.push_back(make_vm("db-1", "host-01", "running", "critical", true, 8, 32768));
  vms_.push_back(make_vm("web-1", "host-01", "running", "high", true, 4, 12288));
  vms_.push_back(make_vm("web-2", "host-02", "running", "medium", true, 4, 8192));
  fencing_ = {{"armed", true}, {"changed_at", nullptr}, {"changed_by", ""}, {"reason", ""}};

  Op recovery;
  recovery.id = "op-1";
  recovery.kind = "recovery";
  recovery.state = "running";
  recovery.reason = "host_failure";
  recovery.requested_by = "revived";
  recovery.started_at = at(-30);
  recovery.hosts = {"host-03"};
  recovery.vms.push_back(
      {{"vm", "app-1"},
       {"from", "host-03"},
       {"to", nullptr},
       {"method", "restart"},
       {"state", "waiting"},
       {"steps", {make_step("fence", "host-03", "succeeded", -30, -25)}},
       {"reason", "needs 8 vCPU and 32.0 GiB; none of the 2 compatible hosts has that free"}});
  recovery.timeline.push_back({{"at", at(-30)},
                               {"kind", "operation_started"},
                               {"message", "recovery of host-03"},
                               {"host", "host-03"},
                               {"vm", nullptr}});
  recovery.timeline.push_back({{"at", at(-25)},
                               {"kind", "fence_done"},
                               {"message", "host-03 powered off (ipmi)"},
                               {"host", "host-03"},
                               {"vm", nullptr}});
  operations_.push_back(std::move(recovery));
  hosts_[2]["operation"] = "op-1";
  vms_[0]["operation"] = "op-1";
  clock_s_ = 0;
  publish_locked("host_state", "host-03 declared failed", "host-03", "", "",
                 {{"from", "suspect"}, {"to", "failed"}});
  publish_locked("operation_started", "recovery of host-03", "host-03", "", "op-1", json::object());
  publish_locked("fence_done", "host-03 powered off (ipmi)", "host-03", "", "op-1", json::object());
}

std::string FakeService::now_text() const {
  return at(clock_s_);
}

void FakeService::record(std::string call) {
  calls_.push_back(std::move(call));
}

std::vector<std::string> FakeService::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

std::vector<std::string> FakeService::action_calls() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> actions;
  for (const auto& call : calls_) {
    for (const char* kind : {"drain ", "exit_maintenance ", "confirm_down ", "cancel ", "set_armed "}) {
      if (call.starts_with(kind)) actions.push_back(call);
    }
  }
  return actions;
}

void FakeService::fail_next_status(const std::string& message) {
  std::lock_guard lock(mutex_);
  fail_status_ = message;
}

std::uint64_t FakeService::publish(const std::string& kind, const std::string& message,
                                   const std::string& host, const std::string& vm,
                                   const std::string& operation) {
  std::lock_guard lock(mutex_);
  return publish_locked(kind, message, host, vm, operation, json::object());
}

std::uint64_t FakeService::publish_locked(const std::string& kind, const std::string& message,
                                          const std::string& host, const std::string& vm,
                                          const std::string& operation, json details) {
  json event = {{"sequence", events_.size() + 1},
                {"at", now_text()},
                {"kind", kind},
                {"message", message},
                {"details", std::move(details)}};
  if (!host.empty()) event["host"] = host;
  if (!vm.empty()) event["vm"] = vm;
  if (!operation.empty()) event["operation"] = operation;
  events_.push_back(std::move(event));
  event_added_.notify_all();
  return events_.size();
}

json& FakeService::find_host(const std::string& name) {
  for (auto& host : hosts_) {
    if (host["name"] == name) return host;
  }
  throw RequestError(404, "host", fmt::format("host: no host named '{}'", name));
}

json FakeService::host_json(const json& host) const {
  return host;
}

json FakeService::operation_json(const Op& op) const {
  json progress = {{"total", op.vms.size()}, {"pending", 0},  {"running", 0}, {"succeeded", 0}, {"failed", 0},
                   {"waiting", 0},           {"cancelled", 0}};
  for (const auto& vm : op.vms)
    progress[vm["state"].get<std::string>()] = progress[vm["state"].get<std::string>()].get<int>() + 1;
  auto nullable = [](const std::string& text) { return text.empty() ? json(nullptr) : json(text); };
  return {{"id", op.id},
          {"kind", op.kind},
          {"state", op.state},
          {"reason", op.reason},
          {"hosts", op.hosts},
          {"requested_by", op.requested_by},
          {"started_at", op.started_at},
          {"finished_at", nullable(op.finished_at)},
          {"deadline_at", nullable(op.deadline_at)},
          {"cancel_requested", op.cancel_requested},
          {"progress", progress},
          {"vms", op.vms},
          {"timeline", op.timeline}};
}

// ---- reads
// -------------------------------------------------------------------------------------------------

json FakeService::status() {
  std::lock_guard lock(mutex_);
  record("status");
  if (!fail_status_.empty()) {
    auto message = std::move(fail_status_);
    fail_status_.clear();
    throw std::runtime_error(message);
  }
  json hosts_by_state = json::object();
  for (const char* state : {"up", "suspect", "failed", "isolated", "fencing", "fenced", "recovering",
                            "recovered", "maintenance", "draining", "down"}) {
    hosts_by_state[state] = 0;
  }
  for (const auto& host : hosts_) {
    auto state = host["state"].get<std::string>();
    hosts_by_state[state] = hosts_by_state[state].get<int>() + 1;
  }
  json vms_by_state = json::object();
  for (const char* state : {"running", "stopped", "recovering", "waiting", "failed", "migrating"}) {
    vms_by_state[state] = 0;
  }
  int protect = 0;
  for (const auto& vm : vms_) {
    auto state = vm["state"].get<std::string>();
    vms_by_state[state] = vms_by_state[state].get<int>() + 1;
    protect += vm["protect"].get<bool>() ? 1 : 0;
  }
  int running = static_cast<int>(std::count_if(operations_.begin(), operations_.end(),
                                               [](const Op& op) { return op.state == "running"; }));
  return {{"version", "0.1.0"},
          {"now", now_text()},
          {"started_at", at(-7200)},
          {"fencing", fencing_},
          {"storm_guard_active", false},
          {"hosts", {{"total", hosts_.size()}, {"by_state", hosts_by_state}}},
          {"vms", {{"total", vms_.size()}, {"protected", protect}, {"by_state", vms_by_state}}},
          {"operations_running", running},
          {"last_event_sequence", events_.size()},
          {"capacity", {{"checked_at", at(-600)}, {"shortfalls", 1}}}};
}

json FakeService::hosts() {
  std::lock_guard lock(mutex_);
  record("hosts");
  return {{"hosts", hosts_}};
}

json FakeService::host(const std::string& name) {
  std::lock_guard lock(mutex_);
  record("host " + name);
  return host_json(find_host(name));
}

json FakeService::vms() {
  std::lock_guard lock(mutex_);
  record("vms");
  return {{"vms", vms_}};
}

json FakeService::vm(const std::string& name) {
  std::lock_guard lock(mutex_);
  record("vm " + name);
  for (const auto& vm : vms_) {
    if (vm["name"] == name) return vm;
  }
  throw RequestError(404, "vm", fmt::format("vm: no VM named '{}'", name));
}

json FakeService::groups() {
  std::lock_guard lock(mutex_);
  record("groups");
  return {
      {"groups",
       {{{"name", "web"}, {"kind", "anti_affinity"}, {"scope", "host"}, {"members", {"web-1", "web-2"}}}}}};
}

json FakeService::plans() {
  std::lock_guard lock(mutex_);
  record("plans");
  json plans = json::array();
  plans.push_back({{"name", "host host-01"},
                   {"version", 1},
                   {"failed_hosts", {"host-01"}},
                   {"placements",
                    {{{"vm", "db-1"},
                      {"from", "host-01"},
                      {"to", "host-02"},
                      {"priority", "critical"},
                      {"disks", {"db-1-d0"}},
                      {"start_after", json::array()}},
                     {{"vm", "web-1"},
                      {"from", "host-01"},
                      {"to", "host-02"},
                      {"priority", "high"},
                      {"disks", {"web-1-d0"}},
                      {"start_after", {"db-1"}}}}},
                   {"waiting", json::array()},
                   {"stats", {{"vms", 2}, {"placed", 2}, {"waiting", 0}, {"plan_ms", 0.2}}}});
  plans.push_back(
      {{"name", "host host-02"},
       {"version", 1},
       {"failed_hosts", {"host-02"}},
       {"placements", json::array()},
       {"waiting",
        {{{"vm", "web-2"},
          {"from", "host-02"},
          {"priority", "medium"},
          {"reason", "the 1 compatible hosts with room are ruled out by its groups (e.g. web)"}}}},
       {"stats", {{"vms", 1}, {"placed", 0}, {"waiting", 1}, {"plan_ms", 0.1}}}});
  return {{"computed_at", at(-600)}, {"plans", plans}};
}

json FakeService::capacity() {
  std::lock_guard lock(mutex_);
  record("capacity");
  return {{"checked_at", at(-600)},
          {"version", 1},
          {"failures_checked", 4},
          {"sampled", false},
          {"shortfalls",
           {{{"failure", "host-01"},
             {"waiting", {{"critical", 1}, {"high", 0}, {"medium", 0}, {"low", 0}}},
             {"spare_needed", {{"cpus", 8}, {"memory_mib", 32768}, {"largest_vm_memory_mib", 32768}}},
             {"waiting_vms", {{{"vm", "db-1"}, {"reason", "needs 8 vCPU and 32.0 GiB"}}}}}}},
          {"stats", {{"check_ms", 1.5}}}};
}

json FakeService::operations() {
  std::lock_guard lock(mutex_);
  record("operations");
  json list = json::array();
  for (auto it = operations_.rbegin(); it != operations_.rend(); ++it) list.push_back(operation_json(*it));
  return {{"operations", list}};
}

json FakeService::operation(const std::string& id) {
  std::lock_guard lock(mutex_);
  record("operation " + id);
  for (const auto& op : operations_) {
    if (op.id == id) return operation_json(op);
  }
  throw RequestError(404, "id", fmt::format("id: no operation '{}'", id));
}

json FakeService::events(std::uint64_t after, std::size_t limit, double wait_s) {
  std::unique_lock lock(mutex_);
  record(fmt::format("events after={} limit={}", after, limit));
  event_added_.wait_for(lock, std::chrono::duration<double>(wait_s), [&] { return events_.size() > after; });
  json list = json::array();
  for (std::size_t i = after; i < events_.size() && list.size() < limit; ++i) list.push_back(events_[i]);
  return {{"events", list}, {"last_sequence", events_.size()}};
}

// ---- actions
// -----------------------------------------------------------------------------------------------

json FakeService::drain(const api::DrainRequest& request, const api::Caller& caller) {
  std::lock_guard lock(mutex_);
  std::string hosts;
  for (const auto& host : request.hosts) hosts += (hosts.empty() ? "" : ",") + host;
  record(fmt::format("drain {} deadline_s={:g} reason={} dry_run={} by={}", hosts, request.deadline_s,
                     request.reason, request.dry_run ? 1 : 0, caller.user));
  for (const auto& name : request.hosts) {
    auto& host = find_host(name);
    auto state = host["state"].get<std::string>();
    if (state != "up") {
      throw RequestError(409, "host",
                         fmt::format("host: {} is {}, only an up host can be drained", name, state));
    }
  }
  std::vector<std::string> targets;
  for (const auto& host : hosts_) {
    auto name = host["name"].get<std::string>();
    if (host["state"] == "up" &&
        std::find(request.hosts.begin(), request.hosts.end(), name) == request.hosts.end()) {
      targets.push_back(name);
    }
  }
  if (targets.empty()) {
    throw RequestError(422, "hosts", "hosts: no up host would be left to take their VMs");
  }
  json placements = json::array(), stopped = json::array();
  json op_vms = json::array();
  for (const auto& vm : vms_) {
    auto from = vm["host"].get<std::string>();
    if (std::find(request.hosts.begin(), request.hosts.end(), from) == request.hosts.end()) continue;
    if (!vm["protect"].get<bool>()) {
      stopped.push_back(vm["name"]);
      continue;
    }
    placements.push_back({{"vm", vm["name"]},
                          {"from", from},
                          {"to", targets.front()},
                          {"priority", vm["priority"]},
                          {"method", "live_migration"}});
    op_vms.push_back({{"vm", vm["name"]},
                      {"from", from},
                      {"to", targets.front()},
                      {"method", "live_migration"},
                      {"state", "pending"},
                      {"steps", {make_step("migrate", targets.front(), "pending", -1, -1)}},
                      {"reason", nullptr}});
  }
  if (request.dry_run) {
    return {{"dry_run", true},
            {"plan",
             {{"hosts", request.hosts},
              {"reason", request.reason},
              {"deadline_s", request.deadline_s},
              {"placements", placements},
              {"waiting", json::array()},
              {"stopped", stopped},
              {"fits_deadline", true}}}};
  }
  ++clock_s_;
  Op op;
  op.id = fmt::format("op-{}", operations_.size() + 1);
  op.kind = "evacuation";
  op.state = op_vms.empty() ? "succeeded" : "running";
  op.reason = request.reason;
  op.requested_by = caller.user;
  op.started_at = now_text();
  op.finished_at = op_vms.empty() ? now_text() : "";
  op.deadline_at = at(clock_s_ + static_cast<int>(request.deadline_s));
  op.hosts = request.hosts;
  op.vms = op_vms;
  op.timeline.push_back({{"at", now_text()},
                         {"kind", "operation_started"},
                         {"message", fmt::format("evacuation of {} ({})", hosts, request.reason)},
                         {"host", nullptr},
                         {"vm", nullptr}});
  for (const auto& name : request.hosts) {
    auto& host = find_host(name);
    host["state"] = op_vms.empty() ? "maintenance" : "draining";
    host["operation"] = op.id;
  }
  publish_locked("operation_started", fmt::format("evacuation of {} ({})", hosts, request.reason), "", "",
                 op.id, json::object());
  operations_.push_back(op);
  return {{"operation", operation_json(operations_.back())}};
}

json FakeService::exit_maintenance(const api::ExitMaintenanceRequest& request, const api::Caller& caller) {
  std::lock_guard lock(mutex_);
  std::string hosts;
  for (const auto& host : request.hosts) hosts += (hosts.empty() ? "" : ",") + host;
  record(fmt::format("exit_maintenance {} fail_back={} dry_run={} by={}", hosts, request.fail_back ? 1 : 0,
                     request.dry_run ? 1 : 0, caller.user));
  for (const auto& name : request.hosts) {
    auto state = find_host(name)["state"].get<std::string>();
    if (state != "maintenance" && state != "draining") {
      throw RequestError(409, "host", fmt::format("host: {} is {}, not in maintenance", name, state));
    }
  }
  if (request.dry_run) {
    return {{"dry_run", true},
            {"plan",
             {{"hosts", request.hosts},
              {"reason", "fail_back"},
              {"deadline_s", nullptr},
              {"placements", json::array()},
              {"waiting", json::array()},
              {"stopped", json::array()},
              {"fits_deadline", true}}}};
  }
  ++clock_s_;
  Op op;
  op.id = fmt::format("op-{}", operations_.size() + 1);
  op.kind = "maintenance_exit";
  op.state = "succeeded";
  op.reason = "maintenance_exit";
  op.requested_by = caller.user;
  op.started_at = now_text();
  op.finished_at = now_text();
  op.hosts = request.hosts;
  op.timeline.push_back({{"at", now_text()},
                         {"kind", "operation_finished"},
                         {"message", hosts + " left maintenance"},
                         {"host", nullptr},
                         {"vm", nullptr}});
  for (const auto& name : request.hosts) {
    auto& host = find_host(name);
    host["state"] = "up";
    host["operation"] = nullptr;
  }
  publish_locked("host_state", hosts + " left maintenance", request.hosts.front(), "", op.id,
                 {{"from", "maintenance"}, {"to", "up"}});
  operations_.push_back(op);
  return {{"operation", operation_json(operations_.back())}};
}

json FakeService::confirm_down(const std::string& name, const api::Caller& caller) {
  std::lock_guard lock(mutex_);
  record(fmt::format("confirm_down {} by={}", name, caller.user));
  auto& host = find_host(name);
  auto state = host["state"].get<std::string>();
  if (state != "failed" && state != "isolated" && state != "fencing") {
    throw RequestError(
        409, "host",
        fmt::format("host: {} is {}; only a failed, isolated or fencing host can be confirmed down", name,
                    state));
  }
  ++clock_s_;
  host["state"] = "fenced";
  publish_locked("confirm_down", fmt::format("{} confirmed down by {}", name, caller.user), name, "", "",
                 {{"by", caller.user}});
  return {{"host", name},
          {"confirmed_by", caller.user},
          {"confirmed_at", now_text()},
          {"message", fmt::format("{} counts as fenced; its VMs restart elsewhere", name)}};
}

json FakeService::cancel(const std::string& id, const api::Caller& caller) {
  std::lock_guard lock(mutex_);
  record(fmt::format("cancel {} by={}", id, caller.user));
  for (auto& op : operations_) {
    if (op.id != id) continue;
    if (op.state != "running") {
      throw RequestError(409, "id", fmt::format("id: operation {} has already finished ({})", id, op.state));
    }
    ++clock_s_;
    op.cancel_requested = true;
    op.state = "cancelled";
    op.finished_at = now_text();
    for (auto& vm : op.vms) {
      if (vm["state"] == "pending" || vm["state"] == "waiting") {
        vm["state"] = "cancelled";
        vm["reason"] = "cancelled by " + caller.user;
      }
    }
    publish_locked("operation_finished", fmt::format("operation {} cancelled by {}", id, caller.user), "", "",
                   id, {{"state", "cancelled"}});
    return {{"operation", operation_json(op)}};
  }
  throw RequestError(404, "id", fmt::format("id: no operation '{}'", id));
}

json FakeService::set_armed(bool armed, const std::string& reason, const api::Caller& caller) {
  std::lock_guard lock(mutex_);
  record(fmt::format("set_armed {} reason={} by={}", armed ? 1 : 0, reason, caller.user));
  ++clock_s_;
  fencing_ = {{"armed", armed}, {"changed_at", now_text()}, {"changed_by", caller.user}, {"reason", reason}};
  publish_locked(armed ? "armed" : "disarmed", armed ? "fencing armed" : "fencing disarmed", "", "", "",
                 {{"reason", reason}});
  return fencing_;
}

bool FakeService::advance(const std::string& id) {
  std::lock_guard lock(mutex_);
  for (auto& op : operations_) {
    if (op.id != id || op.state != "running") continue;
    ++clock_s_;
    for (auto& vm : op.vms) {
      if (vm["state"] != "pending" && vm["state"] != "running") continue;
      vm["state"] = "succeeded";
      for (auto& step : vm["steps"]) {
        step["state"] = "succeeded";
        step["started_at"] = now_text();
        step["finished_at"] = now_text();
      }
      for (auto& entry : vms_) {
        if (entry["name"] == vm["vm"]) entry["host"] = vm["to"];
      }
      op.timeline.push_back({{"at", now_text()},
                             {"kind", "vm_running"},
                             {"message", fmt::format("{} runs on {}", vm["vm"].get<std::string>(),
                                                     vm["to"].get<std::string>())},
                             {"host", vm["to"]},
                             {"vm", vm["vm"]}});
      publish_locked("vm_state", fmt::format("{} moved", vm["vm"].get<std::string>()), "",
                     vm["vm"].get<std::string>(), id, {{"from", "migrating"}, {"to", "running"}});
      return true;
    }
    op.state = "succeeded";
    op.finished_at = now_text();
    for (const auto& name : op.hosts) {
      for (auto& host : hosts_) {
        if (host["name"] == name && host["state"] == "draining") host["state"] = "maintenance";
      }
    }
    publish_locked("operation_finished", fmt::format("operation {} succeeded", id), "", "", id,
                   {{"state", "succeeded"}});
    return true;
  }
  return false;
}

}  // namespace revive::testing

namespace revive::testing {

// ---- audit, fence evidence, metrics
// -------------------------------------------------------------------------------------------------

void FakeService::record_request(const api::RequestRecord& request) {
  std::lock_guard lock(mutex_);
  json body = json::parse(request.body, nullptr, false);
  json details = {{"body", body.is_discarded() ? json(request.body) : body}};
  if (!request.error.empty()) details["error"] = request.error;
  audit_.push_back({{"sequence", audit_.size() + 1},
                    {"at", now_text()},
                    {"kind", "request"},
                    {"who", request.who},
                    {"what", request.method + " " + request.path},
                    {"status", request.status},
                    {"result", request.status < 400 ? "ok" : "refused"},
                    {"details", details}});
}

json FakeService::audit(const api::AuditQuery& query) {
  std::lock_guard lock(mutex_);
  record(fmt::format("audit kind={} limit={}", query.kind, query.limit));
  json records = json::array();
  for (const auto& entry : audit_) {
    if (!query.kind.empty() && entry["kind"] != query.kind) continue;
    if (records.size() >= query.limit) break;
    records.push_back(entry);
  }
  return {{"records", records}, {"dropped", 0}};
}

json FakeService::decisions() {
  std::lock_guard lock(mutex_);
  record("decisions");
  return {{"decisions", json::array({{{"number", 1},
                                      {"kind", "recovery"},
                                      {"at", at(-20)},
                                      {"operation", "op-1"},
                                      {"hosts", {"host-03"}}}})},
          {"keep", 500}};
}

std::string FakeService::decision(std::uint64_t number) {
  std::lock_guard lock(mutex_);
  record(fmt::format("decision {}", number));
  if (number != 1)
    throw api::RequestError(404, "number", fmt::format("number {}: no such decision is kept", number));
  nlohmann::ordered_json file{
      {"version", 1},
      {"number", 1},
      {"engine", "recovery"},
      {"trigger", "recovery of failed hosts: host-03"},
      {"at_s", 40.0},
      {"at", at(-20)},
      {"operation", "op-1"},
      {"hosts", {"host-03"}},
      {"inventory", "version: 1\nhosts: []\n"},
      {"request",
       {{"failed_hosts", {"host-03"}},
        {"evacuated_hosts", json::array()},
        {"excluded_hosts", json::array()},
        {"only_vms", json::array()}}},
      {"planner",
       {{"exact", false},
        {"exact_time_limit_s", 10.0},
        {"repair_attempts", 3},
        {"improvement_passes", 2},
        {"spread_over_endpoints", true}}},
      {"plan", {{"placements", json::array()}, {"waiting", json::array({{{"vm", "app-1"}}})}}}};
  return file.dump(1) + "\n";
}

json FakeService::why(const std::string& name) {
  std::lock_guard lock(mutex_);
  record("why " + name);
  const auto& host = find_host(name);
  auto evidence = [&](const std::string& rule, const std::string& health) {
    json channels = json::array();
    for (const char* channel : {"hypervisor", "agent", "storage"}) {
      bool failed = health == "fencing";
      channels.push_back({{"channel", channel},
                          {"state", failed ? "silent" : "alive"},
                          {"phi", failed ? 12.5 : 0.2},
                          {"silent_s", failed ? 9.0 : 0.4},
                          {"lost", false},
                          {"last_contact_at", at(failed ? -39 : clock_s_)}});
    }
    return json{{"host", name},
                {"at", at(-30)},
                {"health", health},
                {"rule", rule.empty() ? json(nullptr) : json(rule)},
                {"thresholds", {{"suspect_phi", 5.0}, {"fail_phi", 8.0}}},
                {"channels", channels},
                {"lease",
                 {{"last_renewal_at", at(-39)},
                  {"last_checked_at", at(-30)},
                  {"silent_s", 9.0},
                  {"ttl_s", 10.0},
                  {"expired", false},
                  {"self_fence_within_s", nullptr}}},
                {"bmc", {{"configured", true}, {"power", "on"}, {"read_at", at(-30)}, {"error", nullptr}}},
                {"storm_guard",
                 {{"active", false},
                  {"suspect_hosts", 1},
                  {"monitored_hosts", 4},
                  {"suspect_share", 0.25},
                  {"max_suspect_share", 0.5},
                  {"min_hosts", 2},
                  {"fences_in_window", 0},
                  {"fence_rate_limit", 20},
                  {"fence_rate_window_s", 60.0}}},
                {"armed", true},
                {"levels", {"ipmi", "manual"}},
                {"fence", nullptr}};
  };
  bool failed = name == "host-03";  // the canned cloud's failed host, fenced by op-1
  json decision = failed ? evidence(
                               "every channel silent (network and storage lease), no sign of life since "
                               "the network went silent",
                               "fencing")
                         : json(nullptr);
  if (failed) {
    decision["fence"] = {
        {"ok", true},
        {"level", "ipmi"},
        {"attempts",
         {{{"level", "ipmi"}, {"ok", true}, {"skipped", false}, {"error", ""}, {"permanent", false}}}},
        {"at", at(-25)}};
  }
  return {{"host", name}, {"state", host["state"]}, {"decision", decision}, {"now", evidence("", "up")}};
}

std::string FakeService::metrics() {
  std::lock_guard lock(mutex_);
  record("metrics");
  std::string text = "# HELP revive_hosts Hosts by state (the API's HostState).\n# TYPE revive_hosts gauge\n";
  std::map<std::string, int> states;
  for (const auto& host : hosts_) ++states[host["state"].get<std::string>()];
  for (const auto& [state, count] : states)
    text += fmt::format("revive_hosts{{state=\"{}\"}} {}\n", state, count);
  return text;
}

}  // namespace revive::testing

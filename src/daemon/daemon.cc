#include "daemon/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <unordered_map>

#include <fmt/format.h>

#include "control/controller.h"
#include "daemon/decision_store.h"
#include "daemon/durable_environment.h"
#include "daemon/fence_evidence.h"
#include "daemon/storage_drivers.h"
#include "detect/heartbeat_receiver.h"
#include "detect/host_monitor.h"
#include "detect/store_sync.h"
#include "drivers/ipmi/ipmi_fencer.h"
#include "drivers/libvirt/discovered_inventory.h"
#include "drivers/libvirt/libvirt_hypervisor.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "exec/recovery_time.h"
#include "fence/fence_chain.h"
#include "fence/levels.h"
#include "plan/capacity_check.h"
#include "plan/precomputed_plans.h"
#include "sim/simulation.h"
#include "store/sqlite_journal.h"
#include "store/sqlite_store.h"

namespace revive::daemon {

using nlohmann::json;

namespace {

constexpr double kRequestTimeoutS = 15.0;

std::string level_name(FenceLevel level) {
  switch (level) {
    case FenceLevel::ipmi:
      return "ipmi";
    case FenceLevel::fence_agent:
      return "fence-agent";
    case FenceLevel::storage:
      return "storage";
    case FenceLevel::lease:
      return "lease";
    case FenceLevel::manual:
      return "manual";
  }
  return "?";
}

bool lost_state(detect::HostHealth health) {
  return health != detect::HostHealth::up && health != detect::HostHealth::suspect;
}

// A step's view for the API.
struct StepView {
  std::string step;
  std::string host;
  std::string disk;
  std::string state = "running";  // running, succeeded, failed (the API's StepState)
  std::uint32_t attempt = 0;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::string error;
};

struct Operation {
  std::string id;
  std::string kind;  // recovery, evacuation, vm_restart
  std::vector<std::string> hosts;
  std::string by;
  std::string reason;  // evacuation reason
  double deadline_s = 0.0;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::string state = "running";  // running, succeeded, partial, failed, cancelled
  std::size_t restart = 0;        // vm_restart: index into the controller's restarts
  bool cancel_requested = false;
  bool ended_in_journal = false;  // replayed: its operation_end record was read
  bool frozen = false;            // finished: its VMs' view below is final
  nlohmann::json frozen_vms;
  nlohmann::json frozen_progress;
};

constexpr const char* kHostStates[] = {"up",          "suspect",  "failed",     "isolated",
                                       "fencing",     "fenced",   "recovering", "recovered",
                                       "maintenance", "draining", "down"};
constexpr const char* kVmStates[] = {"running", "stopped", "recovering", "waiting", "failed", "migrating"};

}  // namespace

// ============================================================================================== Engine

class Daemon::Engine {
 public:
  Engine(const DaemonConfig& config, EventLog& events, Metrics& metrics)
      : config_(config),
        events_(events),
        metrics_(metrics),
        durable_journal_(config.data_dir + "/journal.db"),
        journal_(durable_journal_),
        state_store_(config.data_dir + "/state.db"),
        saved_decisions_(config.data_dir + "/decisions", config.decisions.keep),
        inventory_(config.inventory),
        gate_(loop_, journal_, [this](std::string error) { fatal("the journal failed: " + error); }) {
    gate_.set_latency_observer([this](double seconds) { metrics_.journal_latency(seconds); });
    drivers::LibvirtOptions libvirt;
    libvirt.connect_timeout_s = config.libvirt.connect_timeout_s;
    libvirt.keepalive_interval_s = config.libvirt.keepalive_interval_s;
    libvirt.keepalive_count = config.libvirt.keepalive_count;
    libvirt.call_timeout_s = config.libvirt.call_timeout_s;
    libvirt.shutdown_timeout_s = config.libvirt.shutdown_timeout_s;
    libvirt.migrate_timeout_s = config.libvirt.migrate_timeout_s;
    libvirt.peer_to_peer = config.libvirt.peer_to_peer;
    libvirt.migration_bandwidth_mib_s = config.libvirt.migration_bandwidth_mib_s;
    libvirt.migration_uris.resize(inventory_.hosts.size());
    for (const auto& [name, uri] : config.libvirt.migration_uris) {
      auto host = inventory_.find_host(name);
      if (host != model::kNoIndex) libvirt.migration_uris[host] = uri;
    }
    apply_checkpoint();
    libvirt_ =
        std::make_unique<drivers::LibvirtHypervisor>(loop_, inventory_, std::vector<std::string>{}, libvirt);
    for (const auto& [name, xml] : domain_xml_) libvirt_->remember_domain_xml(name, xml);
    for (const auto& [name, xml] : network_xml_) libvirt_->remember_network_xml(name, xml);
    hypervisor_ = std::make_unique<GatedHypervisor>(*libvirt_, gate_);
    storage_ = make_storage(loop_, inventory_, config.storage);
    gated_storage_ = std::make_unique<GatedStorage>(*storage_, gate_);
    network_ = std::make_unique<GatedNetwork>(*libvirt_, gate_);

    // The detector hands failed hosts to the controller; the controller fences them through the chain.
    handover_ = std::make_unique<Handover>(*this);
    monitor_ = std::make_unique<detect::HostMonitor>(loop_, *handover_, config.detector);
    build_fence_chain();

    std::string key = detect::read_key_file(config.heartbeat.key_file);
    detect::HostNames names;
    for (model::HostIndex h = 0; h < inventory_.hosts.size(); ++h) names[inventory_.hosts[h].name] = h;
    detect::ReceiverOptions receiver;
    receiver.bind_address = config.heartbeat.listen_address;
    receiver.port = config.heartbeat.port;
    receiver.key = key;
    receiver_ = std::make_unique<detect::HeartbeatReceiver>(
        loop_, receiver, names, [this](model::HostIndex host) { on_agent_heartbeat(host); });
    detect::LeaseWatcherOptions leases;
    leases.key = key;
    leases.poll_s = config.heartbeat.lease_poll_s;
    if (!config.heartbeat.lease_dir.empty()) {
      leases.directory = config.heartbeat.lease_dir;
    } else {
      std::string path = config.data_dir + "/state.db";
      leases.reader = [path]() -> std::optional<detect::LeaseRecords> {
        try {
          store::SqliteStore reader(path);
          return reader.leases();
        } catch (const std::exception&) {
          return std::nullopt;
        }
      };
    }
    lease_watcher_ = std::make_unique<detect::LeaseWatcher>(
        loop_, leases, names, [this](model::HostIndex host) { monitor_->lease_checked(host); },
        [this](model::HostIndex host) { monitor_->heartbeat(host, detect::Channel::storage); },
        [this](model::HostIndex host, const detect::SelfFence& declared) {
          monitor_->lease_self_fence(host, declared);
        });
    receiver_->start();
    if (const char* crash = std::getenv("REVIVE_TEST_CRASH_AT"); crash && *crash) {
      std::string text = crash;
      auto colon = text.find(':');
      crash_kind_ = text.substr(0, colon);
      if (colon != std::string::npos)
        crash_count_ = static_cast<std::uint32_t>(std::stoul(text.substr(colon + 1)));
    }
  }

  ~Engine() {
    if (lease_watcher_) lease_watcher_->stop();
    if (receiver_) receiver_->stop();
    controller_.reset();
    monitor_.reset();
  }

  drivers::WallClockLoop& loop() { return loop_; }
  const DecisionStore& saved_decisions() const { return saved_decisions_; }

  int run(const std::function<void()>& ready) {
    discover_all_blocking();
    declared_.assign(inventory_.hosts.size(), false);
    build_controller(/*resume=*/journal_.records_since_checkpoint() > 0);
    libvirt_->subscribe([this](const env::HypervisorEvent& event) { on_hypervisor_event(event); });
    for (model::HostIndex h = 0; h < inventory_.hosts.size(); ++h) {
      if (inventory_.hosts[h].state == model::HostState::down) continue;
      monitor_->add_host(h, detect::ChannelSet::all());
      if (!libvirt_->connected(h)) monitor_->channel_lost(h, detect::Channel::hypervisor);
    }
    monitor_->subscribe([this](const detect::HostEvent& event) { on_host_event(event); });
    lease_watcher_->start();
    auto arm = state_store_.arm_state();
    if (!arm.armed) monitor_->disarm();
    schedule_ticks();
    emit("daemon_started", "", "", "",
         fmt::format("revived is protecting {} VMs on {} hosts", protected_count(), inventory_.hosts.size()));
    running_ = true;
    if (ready) ready();
    loop_.run_until([this] { return stopping_; }, 1e18);
    running_ = false;
    return exit_status_;
  }

  void request_stop() {
    loop_.post([this] { stopping_ = true; });
    loop_.stop();
  }
  bool running() const { return running_; }

  // ---- API (engine thread) ----------------------------------------------------------------------------

  json status() {
    auto detector = monitor_->status();
    std::size_t running_ops = 0;
    for (const auto& op : operations_) running_ops += op.state == "running" ? 1 : 0;
    json hosts_by_state = json::object();
    for (const char* state : kHostStates) hosts_by_state[state] = 0;
    for (model::HostIndex h = 0; h < inventory_.hosts.size(); ++h) {
      auto state = host_state(h);
      hosts_by_state[state] = hosts_by_state.value(state, 0) + 1;
    }
    json vms_by_state = json::object();
    for (const char* state : kVmStates) vms_by_state[state] = 0;
    auto view = vm_states();
    std::size_t protected_vms = 0;
    for (model::VmIndex v = 0; v < inventory_.vms.size(); ++v) {
      vms_by_state[view[v].state] = vms_by_state.value(view[v].state, 0) + 1;
      protected_vms += inventory_.vms[v].protect ? 1 : 0;
    }
    return {
        {"version", "0.1.0"},
        {"now", rfc3339(unix_now_ms())},
        {"started_at", rfc3339(started_ms_)},
        {"fencing", arm_state_json()},
        {"storm_guard_active", detector.storm_guard_active},
        {"hosts", {{"total", inventory_.hosts.size()}, {"by_state", hosts_by_state}}},
        {"vms", {{"total", inventory_.vms.size()}, {"protected", protected_vms}, {"by_state", vms_by_state}}},
        {"operations_running", running_ops},
        {"last_event_sequence", events_.last_sequence()},
        {"capacity",
         {{"checked_at", capacity_ ? json(rfc3339(capacity_checked_ms_)) : json(nullptr)},
          {"shortfalls", capacity_ ? capacity_->shortfalls.size() : 0}}}};
  }

  json arm_state_json() {
    auto arm = state_store_.arm_state();
    return {{"armed", monitor_->armed()},
            {"changed_at", arm.at_unix_ms > 0 ? json(rfc3339(arm.at_unix_ms)) : json(nullptr)},
            {"changed_by", arm.by},
            {"reason", arm.reason}};
  }

  json hosts_json() {
    json list = json::array();
    auto detector = monitor_->status();  // once for every host
    for (model::HostIndex h = 0; h < inventory_.hosts.size(); ++h) list.push_back(host_json(h, detector));
    return {{"hosts", list}};
  }

  json host_json(const std::string& name) {
    auto h = find_host(name, "host");
    return host_json(h, monitor_->status());
  }

  json vms_json() {
    auto views = vm_states();
    json list = json::array();
    for (model::VmIndex v = 0; v < inventory_.vms.size(); ++v) list.push_back(vm_json(v, views[v]));
    return {{"vms", list}};
  }

  json vm_json(const std::string& name) {
    auto v = inventory_.find_vm(name);
    if (v == model::kNoIndex) throw api::RequestError(404, "vm", "no VM named '" + name + "'");
    return vm_json(v, vm_states()[v]);
  }

  json groups_json() {
    json list = json::array();
    for (const auto& group : inventory_.groups) {
      json members = json::array();
      for (auto vm : group.members) members.push_back(inventory_.vms[vm].name);
      list.push_back(
          {{"name", group.name},
           {"kind", group.kind == model::GroupKind::anti_affinity ? "anti_affinity" : "affinity"},
           {"scope", group.scope == model::kNoIndex ? std::string("host")
                                                    : std::string(inventory_.symbols.name(group.scope))},
           {"members", members}});
    }
    return {{"groups", list}};
  }

  json plans_json() {
    refresh_plans();
    json list = json::array();
    for (const auto& prestaged : plans_->plans()) {
      const auto& plan = prestaged.plan;
      auto priority = [](model::Priority p) { return std::string(model::to_string(p)); };
      json placements = json::array();
      for (const auto& placement : plan.placements) {
        const auto& vm = plan_cloud_.vms[placement.vm];
        json disks = json::array();
        for (auto d = vm.first_disk; d < plan_cloud_.vm_disk_end(placement.vm); ++d)
          disks.push_back(plan_cloud_.disks[d].name);
        json after = json::array();
        for (auto a : placement.start_after) after.push_back(plan_cloud_.vms[a].name);
        placements.push_back({{"vm", vm.name},
                              {"from", plan_cloud_.hosts[placement.from].name},
                              {"to", plan_cloud_.hosts[placement.to].name},
                              {"priority", priority(vm.priority)},
                              {"effective_priority", priority(placement.effective_priority)},
                              {"disks", disks},
                              {"start_after", after}});
      }
      json waiting = json::array();
      for (const auto& w : plan.waiting) {
        waiting.push_back({{"vm", plan_cloud_.vms[w.vm].name},
                           {"from", w.from == model::kNoIndex ? "" : plan_cloud_.hosts[w.from].name},
                           {"priority", priority(plan_cloud_.vms[w.vm].priority)},
                           {"effective_priority", priority(w.effective_priority)},
                           {"reason", w.reason}});
      }
      json failed = json::array();
      for (auto h : plan.failed_hosts) failed.push_back(plan_cloud_.hosts[h].name);
      list.push_back({{"name", prestaged.name},
                      {"version", 1},
                      {"failed_hosts", failed},
                      {"placements", placements},
                      {"waiting", waiting},
                      {"stats",
                       {{"vms", plan.placements.size() + plan.waiting.size()},
                        {"placed", plan.placements.size()},
                        {"waiting", plan.waiting.size()},
                        {"plan_ms", plan.plan_ms}}}});
    }
    return {{"computed_at", rfc3339(plans_computed_ms_)}, {"plans", list}};
  }

  json capacity_json() {
    if (!capacity_) run_capacity_check("requested");
    json shortfalls = json::array();
    for (const auto& shortfall : capacity_->shortfalls) {
      json waiting_vms = json::array();
      for (const auto& w : shortfall.plan.waiting) {
        waiting_vms.push_back({{"vm", plan_cloud_.vms[w.vm].name}, {"reason", w.reason}});
      }
      shortfalls.push_back(
          {{"failure", shortfall.failure},
           {"waiting",
            {{"critical", shortfall.waiting_by_priority[0]},
             {"high", shortfall.waiting_by_priority[1]},
             {"medium", shortfall.waiting_by_priority[2]},
             {"low", shortfall.waiting_by_priority[3]}}},
           {"spare_needed",
            {{"cpus", static_cast<std::uint64_t>(std::ceil(shortfall.waiting_cpus))},
             {"memory_mib", static_cast<std::uint64_t>(std::ceil(shortfall.waiting_memory_mib))},
             {"largest_vm_memory_mib",
              static_cast<std::uint64_t>(std::ceil(shortfall.largest_waiting_memory_mib))}}},
           {"waiting_vms", waiting_vms}});
    }
    json result = {{"checked_at", rfc3339(capacity_checked_ms_)},
                   {"version", 1},
                   {"failures_checked", capacity_->failures_checked},
                   {"sampled", capacity_->sampled},
                   {"shortfalls", shortfalls},
                   {"stats", {{"check_ms", capacity_->check_ms}}}};
    if (recovery_times_) {
      json breaking = json::array();
      for (const auto& failure : recovery_times_->failures) {
        if (failure.breaks_budget) breaking.push_back(recovery_time_json(failure));
      }
      result["recovery_time"] = {{"failures_checked", recovery_times_->failures_checked},
                                 {"breaking", breaking},
                                 {"check_ms", recovery_times_->check_ms}};
    }
    return result;
  }

  json operations_json() {
    refresh_operations();
    json list = json::array();
    auto events = events_.since(0, SIZE_MAX, 0);  // once for every operation's timeline
    for (const auto& op : operations_) list.push_back(operation_detail(op, events));
    return {{"operations", list}};
  }

  json operation_json(const std::string& id) {
    refresh_operations();
    for (const auto& op : operations_) {
      if (op.id == id) return operation_detail(op);
    }
    throw api::RequestError(404, "id", "no operation '" + id + "'");
  }

  // The evidence behind the host's last fence decision (null when none) and what the detector sees now.
  json why_json(const std::string& name) {
    auto h = find_host(name, "host");
    auto found = decisions_.find(h);
    return {{"host", name},
            {"state", host_state(h)},
            {"decision", found == decisions_.end() ? json(nullptr) : found->second},
            {"now", evidence_now(h, "")}};
  }

  json drain(const api::DrainRequest& request, const api::Caller& caller) {
    auto hosts = find_hosts(request.hosts, request.hosts_field);
    auto reason = exec::parse_evacuation_reason(request.reason == "predicted_failure" ? "predicted-failure"
                                                                                      : request.reason);
    if (!reason) throw api::RequestError(400, "reason", "must be maintenance or predicted_failure");
    for (auto h : hosts) {
      auto state = host_state(h);
      if (state != "up" && state != "suspect")
        throw api::RequestError(
            409, "host",
            fmt::format("host {} is {}: only an up host can be drained", inventory_.hosts[h].name, state));
    }
    if (request.dry_run) return drain_dry_run(hosts, request.deadline_s, *reason);
    Operation op = new_operation("evacuation", hosts, caller.user, request.reason, request.deadline_s);
    deciding_operation_ = op.id;
    controller_->drain(hosts, loop_.now_s() + request.deadline_s, *reason);
    deciding_operation_.clear();
    for (auto h : hosts) inventory_.hosts[h].state = model::HostState::maintenance;
    operations_.push_back(op);
    emit("evacuation_started", join_names(hosts), "", op.id,
         fmt::format("{} drains {} ({}), deadline {:.0f} s", caller.user, join_names(hosts), request.reason,
                     request.deadline_s));
    return {{"operation", operation_detail(operations_.back())}};
  }

  json exit_maintenance(const api::ExitMaintenanceRequest& request, const api::Caller& caller) {
    auto hosts = find_hosts(request.hosts, request.hosts_field);
    for (auto h : hosts) {
      if (inventory_.hosts[h].state != model::HostState::maintenance)
        throw api::RequestError(409, request.hosts_field,
                                fmt::format("host {} is not in maintenance", inventory_.hosts[h].name));
    }
    if (request.dry_run) {
      return {{"dry_run", true},
              {"plan",
               {{"hosts", names_of(hosts)},
                {"reason", "fail_back"},
                {"deadline_s", nullptr},
                {"placements", json::array()},
                {"waiting", json::array()},
                {"stopped", json::array()},
                {"fits_deadline", true}}}};
    }
    Operation op = new_operation("maintenance_exit", hosts, caller.user);
    op.reason = "maintenance_exit";
    deciding_operation_ = op.id;
    controller_->exit_maintenance(hosts, request.fail_back);
    deciding_operation_.clear();
    for (auto h : hosts) inventory_.hosts[h].state = model::HostState::up;
    plans_dirty_ = true;
    inventory_changed_ = true;  // the controller is rebuilt on the hosts as they are now, once idle
    operations_.push_back(op);
    emit("maintenance_exited", join_names(hosts), "", op.id,
         fmt::format("{} takes {} out of maintenance{}", caller.user, join_names(hosts),
                     request.fail_back ? " (fail back)" : ""));
    refresh_operations();
    return {{"operation", operation_detail(operations_.back())}};
  }

  json confirm_down(const std::string& name, const api::Caller& caller) {
    auto h = find_host(name, "host");
    auto health = monitor_->health(h);
    if (!lost_state(health) || health == detect::HostHealth::isolated) {
      throw api::RequestError(
          409, "host",
          fmt::format("host {} is {}: a confirmation counts only for a host declared failed", name,
                      detect::to_string(health)));
    }
    manual_->confirm(h);
    monitor_->confirm_down(h, caller.user);
    // Also where the fence chain has already given up (every level failed, its VMs waiting for a proof): the
    // operator's word is that proof, and the recovery resumes.
    controller_->host_confirmed_off(h);
    std::string message = fmt::format("{} confirms {} is off", caller.user, name);
    emit("host_confirmed_down", name, "", recovery_of_host(h), message, {{"by", caller.user}});
    return {{"host", name},
            {"confirmed_by", caller.user},
            {"confirmed_at", rfc3339(unix_now_ms())},
            {"message", message}};
  }

  json cancel(const std::string& id, const api::Caller& caller) {
    refresh_operations();
    for (auto& op : operations_) {
      if (op.id != id) continue;
      if (op.kind != "evacuation")
        throw api::RequestError(409, "id", "only evacuations can be cancelled (a recovery cannot be undone)");
      if (op.state != "running") throw api::RequestError(409, "id", "operation " + id + " is " + op.state);
      auto hosts = find_hosts(op.hosts);
      controller_->cancel_drain(hosts);
      for (auto h : hosts) inventory_.hosts[h].state = model::HostState::up;
      op.cancel_requested = true;
      op.state = "cancelled";
      journal_operation_end(op);
      op.finished_ms = unix_now_ms();
      inventory_changed_ = true;
      emit("operation_cancelled", join_names(hosts), "", op.id,
           fmt::format("{} cancels {}", caller.user, id));
      return {{"operation", operation_detail(op)}};
    }
    throw api::RequestError(404, "id", "no operation '" + id + "'");
  }

  json set_armed(bool armed, const std::string& reason, const api::Caller& caller) {
    state_store_.set_armed(armed, caller.user, reason);
    if (armed) {
      monitor_->arm();
    } else {
      monitor_->disarm();
    }
    emit(armed ? "armed" : "disarmed", "", "", "",
         fmt::format("{} {} fencing{}", caller.user, armed ? "arms" : "disarms",
                     reason.empty() ? "" : " (" + reason + ")"));
    return arm_state_json();
  }

 private:
  // The monitor's fencer: a host the detector decides to fence is declared failed to the controller, which
  // fences it for real before any restart.
  class Handover final : public env::Fencer {
   public:
    explicit Handover(Engine& engine) : engine_(engine) {}
    void fence(model::HostIndex host, env::Completion done) override {
      engine_.declare_failed(host, "the detector declared it failed");
      engine_.loop_.post([done] { done(env::OperationResult::success()); });
    }
    void power_status(model::HostIndex,
                      std::function<void(const env::OperationResult&, env::PowerState)> done) override {
      engine_.loop_.post([done] { done(env::OperationResult::success(), env::PowerState::unknown); });
    }

   private:
    Engine& engine_;
  };

  void build_fence_chain() {
    chain_ = std::make_unique<fence::FenceChain>(
        loop_, config_.fencing.command_timeout_s + config_.fencing.confirm_timeout_s + 30.0);
    drivers::IpmiOptions ipmi;
    ipmi.ipmitool = config_.fencing.ipmitool;
    ipmi.command_timeout_s = config_.fencing.command_timeout_s;
    ipmi.confirm_timeout_s = config_.fencing.confirm_timeout_s;
    ipmi_ = std::make_unique<drivers::IpmitoolFencer>(loop_, inventory_, ipmi);
    drivers::FenceAgentOptions agent;
    agent.agent = config_.fencing.fence_agent;
    agent.command_timeout_s = config_.fencing.command_timeout_s + config_.fencing.confirm_timeout_s;
    fence_agent_ = std::make_unique<drivers::FenceAgentFencer>(loop_, inventory_, agent);
    manual_ = std::make_unique<fence::ManualFencer>(loop_, inventory_, 3600.0);
    fence::LeaseSettings lease;
    lease.lease_ttl_s = config_.detector.lease_ttl_s;
    lease_ = std::make_unique<fence::LeaseFencer>(loop_, *monitor_, lease);
    fence_call_slots_ = std::make_unique<ControllerCallSlots>(controller_);
    storage_fencer_ = std::make_unique<fence::StorageFencer>(
        loop_, *gated_storage_, inventory_,
        [this](model::HostIndex host) {
          return controller_ ? controller_->copies().vms_on(host) : std::vector<model::VmIndex>{};
        },
        fence_call_slots_.get());
    chain_->add_level("ipmi", *ipmi_);
    chain_->add_level("fence-agent", *fence_agent_);
    chain_->add_level("manual", *manual_);
    chain_->add_level("lease", *lease_);
    chain_->add_level("storage", *storage_fencer_);
    std::vector<std::string> levels;
    for (auto level : config_.fencing.levels) levels.push_back(level_name(level));
    chain_->set_default_levels(levels);
    chain_->set_observer([this](const fence::FenceReport& report) { on_fence_report(report); });
    gated_fencer_ = std::make_unique<GatedFencer>(*chain_, gate_);
  }

  // ---- start ------------------------------------------------------------------------------------------

  // The last checkpoint: host states, VMs found earlier (with their hosts) and the domain and network XML
  // remembered (a VM of a host that died while the daemon was down is restarted from it).
  void apply_checkpoint() {
    auto payload = journal_.last_checkpoint();
    if (!payload) return;
    auto checkpoint = json::parse(*payload, nullptr, false);
    if (!checkpoint.is_object()) return;
    // Each object bound to a name first: items() of a temporary would dangle once the loop starts.
    const json hosts = checkpoint.value("hosts", json::object());
    const json domains = checkpoint.value("domains", json::object());
    const json networks = checkpoint.value("networks", json::object());
    for (const auto& [name, state] : hosts.items()) {
      auto h = inventory_.find_host(name);
      auto parsed = model::parse_host_state(state.get<std::string>());
      if (h != model::kNoIndex && parsed) inventory_.hosts[h].state = *parsed;
    }
    for (const auto& entry : checkpoint.value("vms", json::array())) {
      auto name = entry.value("name", "");
      auto v = inventory_.find_vm(name);
      if (v == model::kNoIndex) {
        model::Vm vm;
        vm.name = name;
        vm.cpus = entry.value("cpus", 1u);
        vm.memory_mib = entry.value("memory_mib", 1ull);
        vm.first_disk = static_cast<model::DiskIndex>(inventory_.disks.size());
        for (const auto& network : entry.value("networks", json::array()))
          vm.networks.push_back(inventory_.symbols.intern(network.get<std::string>()));
        std::sort(vm.networks.begin(), vm.networks.end());
        inventory_.vms.push_back(std::move(vm));
        v = static_cast<model::VmIndex>(inventory_.vms.size() - 1);
      }
      inventory_.vms[v].host = inventory_.find_host(entry.value("host", ""));
    }
    for (const auto& [name, xml] : domains.items()) domain_xml_[name] = xml.get<std::string>();
    for (const auto& [name, xml] : networks.items()) network_xml_[name] = xml.get<std::string>();
    inventory_.rebuild_indexes();
  }

  std::string checkpoint_payload() const {
    json hosts = json::object();
    for (const auto& host : inventory_.hosts) hosts[host.name] = std::string(model::to_string(host.state));
    json vms = json::array();
    for (const auto& vm : inventory_.vms) {
      json networks = json::array();
      for (auto n : vm.networks) networks.push_back(std::string(inventory_.symbols.name(n)));
      vms.push_back({{"name", vm.name},
                     {"host", vm.host == model::kNoIndex ? "" : inventory_.hosts[vm.host].name},
                     {"cpus", vm.cpus},
                     {"memory_mib", vm.memory_mib},
                     {"networks", networks}});
    }
    return json{{"hosts", hosts}, {"vms", vms}, {"domains", domain_xml_}, {"networks", network_xml_}}.dump();
  }

  void discover_all_blocking() {
    std::size_t hosts = inventory_.hosts.size();
    loop_.run_until(
        [&] {
          for (model::HostIndex h = 0; h < hosts; ++h)
            if (inventory_.hosts[h].state != model::HostState::down && !libvirt_->connected(h)) return false;
          return true;
        },
        config_.libvirt.connect_timeout_s + 1.0);
    std::size_t answered = 0;
    std::size_t asked = 0;
    for (model::HostIndex h = 0; h < hosts; ++h) {
      if (!libvirt_->connected(h)) continue;
      ++asked;
      libvirt_->discover(
          h, [this, h, &answered](const env::OperationResult& result, drivers::HostDiscovery found) {
            ++answered;
            if (result.ok) apply_discovered(h, found, /*at_start=*/true);
          });
    }
    loop_.run_until([&] { return answered == asked; }, config_.libvirt.call_timeout_s + 1.0);
  }

  // Returns true when VMs were added.
  // `settled`: nothing was in flight when the discovery was asked for and answered, so a VM of `host` that it
  // does not find running there really is not (stopped, or gone) and not a start or move on its way.
  bool apply_discovered(model::HostIndex host, const drivers::HostDiscovery& found, bool at_start,
                        bool settled = true) {
    auto changes = drivers::apply_discovery(inventory_, host, found.domains);
    bool changed = false;
    if (settled) {
      std::set<std::string> running;
      for (const auto& domain : found.domains) {
        if (domain.running) running.insert(domain.definition.name);
      }
      for (model::VmIndex v = 0; v < inventory_.vms.size(); ++v) {
        auto& vm = inventory_.vms[v];
        if (vm.host != host || running.contains(vm.name)) continue;
        vm.host = model::kNoIndex;  // not running: not to be restarted elsewhere if its host fails
        changed = true;
        if (!at_start) {
          emit("vm_not_running", inventory_.hosts[host].name, vm.name, "",
               fmt::format(
                   "{} no longer runs on {} (stopped or removed outside Revive): not protected until it "
                   "runs again",
                   vm.name, inventory_.hosts[host].name));
        }
      }
      if (changed) inventory_.rebuild_indexes();
    }
    for (const auto& domain : found.domains) domain_xml_[domain.definition.name] = domain.xml;
    for (const auto& network : found.networks) network_xml_[network.name] = network.xml;
    for (const auto& name : changes.added_vms) {
      auto v = inventory_.find_vm(name);
      if (!at_start) {
        emit("vm_discovered", inventory_.vms[v].host == model::kNoIndex ? "" : inventory_.hosts[host].name,
             name, "", fmt::format("new VM {} found on {}", name, inventory_.hosts[host].name));
      }
    }
    return changed || !changes.added_vms.empty();
  }

  void build_controller(bool resume) {
    if (controller_) {
      // The views of the operations come from the controller: final from here.
      for (auto& op : operations_) {
        if (op.frozen) continue;
        auto vms = operation_vms(op);
        op.frozen = true;
        op.frozen_vms = vms.vms;
        op.frozen_progress = vms.progress;
      }
    }
    std::vector<std::size_t> drains_to_resume;  // indexes into operations_
    if (resume) {
      // Operations and step views from the records, first: the hosts they put into maintenance are in
      // maintenance in the controller's snapshot too.
      operations_.clear();
      for (const auto& record : journal_.read_all()) observe(record, /*replaying=*/true);
      for (std::size_t index = 0; index < operations_.size(); ++index) {
        const auto& op = operations_[index];
        if (op.kind != "evacuation" && op.kind != "maintenance_exit") continue;
        auto state = op.kind == "evacuation" && op.state != "cancelled" ? model::HostState::maintenance
                                                                        : model::HostState::up;
        for (const auto& name : op.hosts) {
          auto h = inventory_.find_host(name);
          if (h != model::kNoIndex) inventory_.hosts[h].state = state;
        }
        if (op.kind == "evacuation" && op.state == "running" && !op.ended_in_journal)
          drains_to_resume.push_back(index);
      }
    }
    hypervisor_->reset(inventory_.vms.size());
    control::ControllerOptions options;
    options.executor = config_.recovery;
    options.vm_restart.max_restarts = config_.vm_restart.max_restarts;
    options.vm_restart.window_s = config_.vm_restart.window_s;
    options.vm_restart.delay_s = config_.vm_restart.delay_s;
    controller_.reset();
    controller_snapshot_ = inventory_;
    controller_ = std::make_unique<control::Controller>(
        controller_snapshot_,
        control::ControllerEnvironment{loop_, *hypervisor_, *gated_storage_, *network_, *gated_fencer_,
                                       journal_, nullptr, libvirt_.get()},
        options);
    controller_->set_ready_observer([this](model::VmIndex vm) {
      auto host = controller_->executor().state().vms[vm].host;
      set_vm_host(vm, host);
      emit("vm_recovered", inventory_.hosts[host].name, inventory_.vms[vm].name, recovery_of(vm),
           fmt::format("{} runs again on {}", inventory_.vms[vm].name, inventory_.hosts[host].name),
           {{"priority", std::string(model::to_string(inventory_.vms[vm].priority))}});
    });
    controller_->set_decision_observer([this](const plan::Decision& decision) { save_decision(decision); });
    journal_.set_observer([this](const env::JournalRecord& record, std::uint64_t sequence) {
      observe(record);
      crash_point(record, sequence);
    });
    if (resume) {
      // Operations and step views from the records, then the engine resumes.
      // A recovery whose operation is journaled but whose host_failed is not (killed between the two
      // records) is declared to the controller now: the restarted detector would not declare it again.
      std::set<std::string> declared_not_journaled;
      for (const auto& record : journal_.read_all()) {
        auto payload = json::parse(record.payload, nullptr, false);
        if (!payload.is_object()) continue;
        if (record.kind == "operation" && payload.value("kind", "") == "recovery") {
          for (const auto& host : payload.value("hosts", json::array()))
            declared_not_journaled.insert(host.get<std::string>());
        } else if (record.kind == "host_failed") {
          declared_not_journaled.erase(payload.value("host", ""));
        }
      }
      controller_->resume();
      for (const auto& name : declared_not_journaled) {
        auto host = inventory_.find_host(name);
        if (host == model::kNoIndex) continue;
        manual_->host_lost(host);
        controller_->host_failed(host);
      }
      // Drains in flight: the evacuation engine plans them again from where the VMs run now (moves that
      // finished while the daemon was down are not repeated; one that did not finish is tried again once the
      // executor's grace for unanswered calls allows it), by the deadline they were given.
      for (auto index : drains_to_resume) {
        const auto* op = &operations_[index];
        auto hosts = find_hosts(op->hosts);
        double deadline_at_s =
            static_cast<double>(op->started_ms - unix_now_ms()) / 1000.0 + op->deadline_s + loop_.now_s();
        auto reason = exec::parse_evacuation_reason(op->reason == "predicted_failure" ? "predicted-failure"
                                                                                      : "maintenance");
        deciding_operation_ = op->id;
        controller_->drain(hosts, std::max(loop_.now_s() + 1.0, deadline_at_s),
                           reason.value_or(exec::EvacuationReason::maintenance));
        deciding_operation_.clear();
      }
      emit("daemon_resumed", "", "", "",
           fmt::format("resumed from the journal: {} operation(s) in flight", [&] {
             std::size_t running = 0;
             for (const auto& op : operations_) running += op.state == "running" ? 1 : 0;
             return running;
           }()));
    }
    // Operations of the controller before (all finished: the daemon rebuilds only when idle) keep their
    // frozen view.
    plans_dirty_ = true;
    capacity_.reset();
  }

  // ---- periodic work ----------------------------------------------------------------------------------

  void schedule_ticks() {
    double interval = std::max(0.1, config_.detector.network_phi.expected_interval_s);
    every(interval, [this] {
      for (model::HostIndex h = 0; h < inventory_.hosts.size(); ++h) {
        if (monitor_->monitored(h) && libvirt_->connected(h))
          monitor_->heartbeat(h, detect::Channel::hypervisor);
      }
    });
    every(1.0, [this] {
      try {
        detect::sync_with_store(state_store_, *monitor_, inventory_);
      } catch (const std::exception& error) {
        warn_once("state store: " + std::string(error.what()));
      }
      refresh_operations();
      maybe_checkpoint();
    });
    every(std::max(1.0, config_.discovery_interval_s), [this] { rediscover(); });
    every(std::max(1.0, config_.capacity_check_interval_s), [this] { run_capacity_check("periodic"); });
  }

  void every(double period_s, std::function<void()> work) {
    periodic_.push_back({period_s, std::move(work)});
    schedule_periodic(periodic_.size() - 1);
  }

  void schedule_periodic(std::size_t index) {
    loop_.schedule_after(periodic_[index].period_s, [this, index] {
      if (stopping_) return;
      periodic_[index].work();
      schedule_periodic(index);
    });
  }

  void warn_once(const std::string& message) {
    if (message == last_warning_) return;
    last_warning_ = message;
    emit("warning", "", "", "", message);
  }

  void rediscover() {
    for (model::HostIndex h = 0; h < inventory_.hosts.size(); ++h) {
      if (!libvirt_->connected(h) || lost_state(monitor_->health(h))) continue;
      bool idle = !controller_->busy();
      libvirt_->discover(h,
                         [this, h, idle](const env::OperationResult& result, drivers::HostDiscovery found) {
                           if (!result.ok || stopping_) return;
                           bool settled = idle && !controller_->busy();
                           if (apply_discovered(h, found, /*at_start=*/false, settled))
                             inventory_changed_ = true;
                         });
    }
  }

  void maybe_checkpoint() {
    if (controller_->busy()) return;
    for (const auto& restart : controller_->vm_restarts()) {
      if (restart.state == control::VmRestart::State::scheduled ||
          restart.state == control::VmRestart::State::starting)
        return;
    }
    for (const auto& op : operations_) {
      if (op.state == "running") return;
    }
    if (inventory_changed_) {
      inventory_changed_ = false;
      journal_.checkpoint(checkpoint_payload());
      build_controller(false);
      run_capacity_check("inventory changed");
      return;
    }
    if (journal_.records_since_checkpoint() == 0 && checkpointed_once_) return;
    // The controller goes on as it is (what it holds in memory -- VM restarts within their window -- stays);
    // a daemon started later begins from this checkpoint.
    journal_.checkpoint(checkpoint_payload());
    checkpointed_once_ = true;
  }

  void refresh_plans() {
    if (!plans_dirty_ && plans_) return;
    plans_.reset();
    plan_cloud_ = inventory_;
    plan_cloud_.rebuild_indexes();
    plans_ = std::make_unique<plan::PrecomputedPlans>(plan_cloud_, std::vector<model::Symbol>{},
                                                      config_.recovery.planner);
    plans_computed_ms_ = unix_now_ms();
    plans_dirty_ = false;
  }

  void run_capacity_check(const std::string& why) {
    refresh_plans();
    plan::CapacityCheckOptions options;
    capacity_ = plan::check_capacity(plan_cloud_, options);
    capacity_checked_ms_ = unix_now_ms();
    if (!capacity_->shortfalls.empty()) {
      const auto& first = capacity_->shortfalls.front();
      json failures = json::array();  // which failure leaves which VMs waiting (the first 20)
      for (const auto& shortfall : capacity_->shortfalls) {
        json waiting = json::array();
        for (const auto& w : shortfall.plan.waiting) waiting.push_back(plan_cloud_.vms[w.vm].name);
        failures.push_back({{"failure", shortfall.failure}, {"waiting_vms", waiting}});
        if (failures.size() >= 20) break;
      }
      emit("capacity_shortfall", "", "", "",
           fmt::format(
               "capacity check ({}): {} failure(s) would leave protected VMs waiting, e.g. {} ({} VM(s))",
               why, capacity_->shortfalls.size(), first.failure, first.plan.waiting.size()),
           {{"failures_with_shortfall", capacity_->shortfalls.size()}, {"failures", failures}});
    }
    run_recovery_time_check(why);
  }

  // With policy.rto_s budgets: the predicted recovery time per tier of every single-host failure
  // (exec/recovery_time.h, spec latencies), an event when some failure would break a budget.
  void run_recovery_time_check(const std::string& why) {
    const auto& budgets = plan_cloud_.policy.rto_s;
    recovery_times_.reset();
    if (std::none_of(budgets.begin(), budgets.end(), [](double budget) { return budget > 0; })) return;
    exec::RecoveryTimeOptions options;
    recovery_times_ = exec::predict_recovery_times(plan_cloud_, options);
    if (recovery_times_->breaking == 0) return;
    json failures = json::array();
    for (const auto& failure : recovery_times_->failures) {
      if (!failure.breaks_budget) continue;
      failures.push_back(recovery_time_json(failure));
      if (failures.size() >= 20) break;
    }
    emit(
        "recovery_time_shortfall", "", "", "",
        fmt::format("recovery-time check ({}): {} failure(s) would break a policy.rto_s budget, e.g. {} ({})",
                    why, recovery_times_->breaking, failures.front()["failure"].get<std::string>(),
                    failures.front()["binding"].get<std::string>()),
        {{"failures_breaking", recovery_times_->breaking}, {"failures", failures}});
  }

  static json recovery_time_json(const exec::FailurePrediction& failure) {
    json tiers = json::object();
    for (int tier = 0; tier < model::kPriorityCount; ++tier) {
      const auto& each = failure.tiers[tier];
      if (each.vms == 0) continue;
      tiers[std::string(model::to_string(static_cast<model::Priority>(tier)))] = {
          {"vms", each.vms},
          {"waiting", each.waiting},
          {"p50_s", each.p50_s},
          {"p90_s", each.p90_s},
          {"budget_s", each.budget_s > 0 ? json(each.budget_s) : json(nullptr)},
          {"breaks", each.breaks}};
    }
    return {{"failure", failure.failure},
            {"tiers", tiers},
            {"binding", failure.binding},
            {"advice", failure.advice}};
  }

  // ---- inputs -----------------------------------------------------------------------------------------

  void declare_failed(model::HostIndex host, const std::string& why) {
    if (declared_[host]) return;
    declared_[host] = true;
    manual_->host_lost(host);
    std::vector<model::HostIndex> hosts{host};
    Operation op = new_operation("recovery", hosts, "revived");
    operations_.push_back(op);
    record_decision(host, why);
    emit("host_declared_failed", inventory_.hosts[host].name, "", op.id,
         fmt::format("{} declared failed ({}): fencing it, then recovering its protected VMs",
                     inventory_.hosts[host].name, why),
         decisions_[host]);
    controller_->host_failed(host);
    plans_dirty_ = true;
  }

  void on_host_event(const detect::HostEvent& event) {
    const std::string& name = inventory_.hosts[event.host].name;
    switch (event.kind) {
      case detect::HostEvent::Kind::transition: {
        json evidence = json::array();
        for (const auto& channel : event.channels) {
          evidence.push_back({{"channel", detect::to_string(channel.channel)},
                              {"phi", channel.phi},
                              {"silent_s", channel.silent_s},
                              {"lost", channel.lost}});
        }
        // fencing .. recovered are the detector handing the host over (Handover): the daemon reports the real
        // fence and recovery itself (host_declared_failed, fence_started, host_fenced, operation_finished).
        bool handover = event.to == detect::HostHealth::fencing || event.to == detect::HostHealth::fenced ||
                        event.to == detect::HostHealth::recovering ||
                        event.to == detect::HostHealth::recovered;
        if (!handover)
          emit(fmt::format("host_{}", detect::to_string(event.to)), name, "", "",
               fmt::format("{}: {} -> {}{}", name, detect::to_string(event.from), detect::to_string(event.to),
                           event.reason.empty() ? "" : " (" + event.reason + ")"),
               {{"from", detect::to_string(event.from)},
                {"to", detect::to_string(event.to)},
                {"channels", evidence}});
        host_reasons_[event.host] = event.reason;
        if (event.to == detect::HostHealth::failed) failed_rules_[event.host] = event.reason;
        controller_->host_health(event.host, event.to == detect::HostHealth::up);
        if (event.to == detect::HostHealth::failed) manual_->host_lost(event.host);
        if (event.to == detect::HostHealth::fenced) {
          // Confirmed down by an operator while its fence was held back: recovery starts now.
          if (!declared_[event.host]) declare_failed(event.host, "an operator confirmed it is off");
          monitor_->recovery_started(event.host);
        }
        if (lost_state(event.from) && !lost_state(event.to) && declared_[event.host]) {
          declared_[event.host] = false;
          inventory_.hosts[event.host].state = model::HostState::up;
          controller_->host_returned(event.host);
          plans_dirty_ = true;
          inventory_changed_ = true;  // rebuilt on the host as it is now, once nothing is in flight
          emit("host_returned", name, "", "", name + " is back: a target again");
        }
        break;
      }
      case detect::HostEvent::Kind::fence_blocked:
        emit("fence_blocked", name, "", "", name + ": fencing held back: " + event.reason);
        break;
      case detect::HostEvent::Kind::fence_failed:
        emit("fence_failed", name, "", "", name + ": " + event.reason);
        break;
      case detect::HostEvent::Kind::confirmation_refused:
        emit("confirmation_refused", name, "", "", name + ": confirmation refused: " + event.reason);
        break;
    }
  }

  void on_agent_heartbeat(model::HostIndex host) {
    if (!running_) return;
    if (!monitor_->monitored(host)) {
      // A host down since an earlier loss (fenced, then powered off) speaks again: watched from now on, a
      // target again once the controller is rebuilt on it.
      if (inventory_.hosts[host].state != model::HostState::down) return;
      inventory_.hosts[host].state = model::HostState::up;
      monitor_->add_host(host, detect::ChannelSet::all());
      inventory_changed_ = true;
      emit("host_returned", inventory_.hosts[host].name, "", "",
           inventory_.hosts[host].name + " is back (its agent speaks again)");
    }
    monitor_->heartbeat(host, detect::Channel::agent);
  }

  void on_hypervisor_event(const env::HypervisorEvent& event) {
    hypervisor_->deliver(event);
    if (event.host == model::kNoIndex || event.host >= inventory_.hosts.size()) return;
    const std::string& host_name = inventory_.hosts[event.host].name;
    using Kind = env::HypervisorEvent::Kind;
    switch (event.kind) {
      case Kind::host_connection_lost:
        if (monitor_->monitored(event.host)) monitor_->channel_lost(event.host, detect::Channel::hypervisor);
        emit("hypervisor_disconnected", host_name, "", "",
             host_name + ": libvirt connection lost: " + event.detail);
        return;
      case Kind::host_connection_restored:
        if (monitor_->monitored(event.host)) monitor_->heartbeat(event.host, detect::Channel::hypervisor);
        emit("hypervisor_connected", host_name, "", "", host_name + ": libvirt connection open");
        return;
      default:
        break;
    }
    if (event.vm == model::kNoIndex || event.vm >= inventory_.vms.size()) return;
    const std::string& vm_name = inventory_.vms[event.vm].name;
    switch (event.kind) {
      case Kind::vm_started: {
        // Started outside the engines (an operator, another tool): the controller is rebuilt on it once idle.
        bool engines_know = event.vm < controller_snapshot_.vms.size() &&
                            (controller_->executor().state().vms[event.vm].host == event.host ||
                             controller_->evacuator().state().vms[event.vm].host == event.host);
        if (event.detail == "migrated") {
          // The incoming side of a live migration: the VM still runs on its source until the switch-over
          // (the source's "stopped: migrated", or the engine's migrate_done).
          incoming_[event.vm] = event.host;
        } else {
          if (!engines_know) inventory_changed_ = true;
          set_vm_host(event.vm, event.host);
        }
        operator_stopped_.erase(event.vm);
        emit("vm_started", host_name, vm_name, "",
             fmt::format("{} started on {} ({})", vm_name, host_name, event.detail));
        break;
      }
      case Kind::vm_stopped:
        if (event.detail == "migrated") {
          // Switched over: it runs where its incoming side started.
          if (auto found = incoming_.find(event.vm); found != incoming_.end()) {
            bool engines_know = event.vm < controller_snapshot_.vms.size() &&
                                controller_->evacuator().state().vms[event.vm].host == found->second;
            if (!engines_know) inventory_changed_ = true;
            set_vm_host(event.vm, found->second);
            incoming_.erase(found);
          }
        }
        if (event.detail != "migrated" && event.detail != "destroyed" &&
            inventory_.vms[event.vm].host == event.host && !engine_moving(event.vm)) {
          // An operator's own shutdown: not a failure, and not to be restarted elsewhere if the host fails.
          operator_stopped_.insert(event.vm);
          inventory_.vms[event.vm].host = model::kNoIndex;
          inventory_.rebuild_indexes();
          inventory_changed_ = true;
        }
        emit("vm_stopped", host_name, vm_name, "",
             fmt::format("{} stopped on {} ({})", vm_name, host_name, event.detail));
        break;
      case Kind::vm_crashed: {
        emit("vm_crashed", host_name, vm_name, "",
             fmt::format("{} stopped unexpectedly on {} ({})", vm_name, host_name, event.detail));
        if (event.vm >= controller_snapshot_.vms.size() || lost_state(monitor_->health(event.host))) break;
        auto before = controller_->vm_restarts().size();
        controller_->vm_stopped_unexpectedly(event.vm, event.host);
        if (controller_->vm_restarts().size() > before) {
          Operation op = new_operation("vm_restart", {event.host}, "revived");
          op.restart = before;
          operations_.push_back(op);
        }
        break;
      }
      default:
        break;
    }
  }

  bool engine_moving(model::VmIndex vm) const {
    if (!controller_ || vm >= controller_snapshot_.vms.size()) return false;
    return controller_->copies().hosts(vm).size() > 1;
  }

  void on_fence_report(const fence::FenceReport& report) {
    const auto& name = inventory_.hosts[report.host].name;
    json attempts = json::array();
    for (const auto& attempt : report.attempts) {
      attempts.push_back({{"level", attempt.level},
                          {"ok", attempt.ok},
                          {"skipped", attempt.skipped},
                          {"error", attempt.error},
                          {"permanent", attempt.permanent}});
    }
    fence_reports_[report.host] = {
        {"ok", report.ok}, {"level", report.level}, {"attempts", attempts}, {"at", rfc3339(unix_now_ms())}};
    if (auto decision = decisions_.find(report.host); decision != decisions_.end()) {
      set_fence_result(decision->second, fence_reports_[report.host]);
      fence_reports_[report.host]["evidence"] = decision->second;
    }
    if (report.ok) {
      inventory_.hosts[report.host].state = model::HostState::down;
      emit("host_fenced", name, "", recovery_of_host(report.host),
           fmt::format("{} fenced ({}): its VMs may start elsewhere", name, report.level),
           fence_reports_[report.host]);
    } else {
      std::string errors;
      for (const auto& attempt : report.attempts) {
        if (!attempt.ok)
          errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", attempt.level, attempt.error);
      }
      emit("fence_attempt_failed", name, "", recovery_of_host(report.host),
           fmt::format("{}: fence failed: {}", name, errors), fence_reports_[report.host]);
    }
  }

  // REVIVE_TEST_CRASH_AT=KIND[:N] (for the crash-safety tests): the daemon kills itself with SIGKILL right
  // after the N-th (default first) journal record of KIND is durable -- before the side effect it announces.
  void crash_point(const env::JournalRecord& record, std::uint64_t sequence) {
    if (crash_kind_.empty() || record.kind != crash_kind_) return;
    if (++crash_seen_ < crash_count_) return;
    journal_.wait_durable(sequence);
    std::fprintf(stderr, "revived: REVIVE_TEST_CRASH_AT=%s:%u reached, killing myself\n", crash_kind_.c_str(),
                 crash_count_);
    std::fflush(stderr);
    ::kill(::getpid(), SIGKILL);
  }

  // Every record the engines journal: step views and events.
  void observe(const env::JournalRecord& record, bool replaying = false) {
    auto payload = json::parse(record.payload, nullptr, false);
    if (!payload.is_object()) return;
    const std::string& kind = record.kind;
    auto now = unix_now_ms();
    if (kind == "operation") {
      if (!replaying) return;
      Operation op;
      op.id = payload.value("id", "");
      op.kind = payload.value("kind", "");
      op.by = payload.value("by", "");
      op.started_ms = payload.value("started_ms", std::int64_t{0});
      op.reason = payload.value("reason", "");
      op.deadline_s = payload.value("deadline_s", 0.0);
      for (const auto& h : payload.value("hosts", json::array())) op.hosts.push_back(h.get<std::string>());
      operations_.push_back(op);
      if (op.kind == "recovery") {
        for (const auto& h : op.hosts) {
          auto index = inventory_.find_host(h);
          if (index != model::kNoIndex) declared_[index] = true;
        }
      }
      return;
    }
    if (kind == "operation_end") {
      if (!replaying) return;
      for (auto& op : operations_) {
        if (op.id == payload.value("id", "")) {
          op.state = payload.value("state", "succeeded");
          op.ended_in_journal = true;
        }
      }
      return;
    }
    if (kind == "step_started" || kind == "step_done" || kind == "step_failed") {
      auto vm = payload.value("vm", "");
      auto& steps = steps_[vm];
      auto step = payload.value("step", "");
      auto host = payload.value("host", "");
      auto disk = payload.value("disk", "");
      if (kind == "step_started") {
        StepView view{step, host, disk, "running", payload.value("attempt", 0u), now, 0, ""};
        // A new attempt replaces the old view of the same step.
        std::erase_if(steps,
                      [&](const StepView& s) { return s.step == step && s.host == host && s.disk == disk; });
        steps.push_back(view);
      } else {
        for (auto& s : steps) {
          if (s.step == step && s.host == host && s.disk == disk && s.state == "running") {
            s.state = kind == "step_done" ? "succeeded" : "failed";
            s.finished_ms = now;
            s.error = payload.value("error", "");
            if (!replaying)
              metrics_.step_finished(s.step, (now - s.started_ms) / 1000.0, kind == "step_done");
          }
        }
      }
      return;
    }
    // Moves and VM restarts as steps of their VM too.
    auto step_of = [&](const std::string& vm, const std::string& step, const std::string& host,
                       const char* state) {
      auto& steps = steps_[vm];
      if (std::string(state) == "running") {
        std::erase_if(steps, [&](const StepView& s) { return s.step == step && s.host == host; });
        steps.push_back({step, host, "", "running", payload.value("attempt", 1u), now, 0, ""});
        return;
      }
      for (auto& s : steps) {
        if (s.step == step && s.host == host && s.state == "running") {
          s.state = state;
          s.finished_ms = now;
          s.error = payload.value("error", "");
          if (!replaying)
            metrics_.step_finished(s.step, (now - s.started_ms) / 1000.0,
                                   s.state == std::string("succeeded"));
        }
      }
    };
    if (kind == "migrate_started" || kind == "migrate_done" || kind == "migrate_failed") {
      step_of(payload.value("vm", ""), "migrate", payload.value("to", ""),
              kind == "migrate_started" ? "running"
              : kind == "migrate_done"  ? "succeeded"
                                        : "failed");
    } else if (kind == "cold_move_started" || kind == "cold_move_done" || kind == "cold_move_failed") {
      step_of(payload.value("vm", ""), "vm_start", payload.value("to", ""),
              kind == "cold_move_started" ? "running"
              : kind == "cold_move_done"  ? "succeeded"
                                          : "failed");
    } else if (kind == "vm_restart_started" || kind == "vm_restart_done" || kind == "vm_restart_failed") {
      step_of(payload.value("vm", ""), "vm_start", payload.value("host", ""),
              kind == "vm_restart_started" ? "running"
              : kind == "vm_restart_done"  ? "succeeded"
                                           : "failed");
    }
    if (kind == "plan") {
      for (const auto& placement : payload.value("placements", json::array()))
        recovered_from_[placement.value("vm", "")] = placement.value("from", "");
    }
    if (replaying) return;
    if (kind == "replan") {
      auto vm = payload.value("vm", "");
      emit("vm_replanned", "", vm, recovery_of(inventory_.find_vm(vm)),
           fmt::format("{}: planned again ({})", vm, payload.value("error", "")));
    } else if (kind == "fence_started") {
      auto host = payload.value("host", "");
      emit("fence_started", host, "", recovery_of_host(inventory_.find_host(host)),
           fmt::format("fencing {} (attempt {})", host, payload.value("attempt", 0)));
    } else if (kind == "plan") {
      std::size_t placed = payload.value("placements", json::array()).size();
      std::size_t waiting = payload.value("waiting", json::array()).size();
      emit("recovery_planned", "", "", "", fmt::format("plan: {} VM(s) placed, {} waiting", placed, waiting),
           {{"placed", placed}, {"waiting", waiting}, {"plan_ms", payload.value("plan_ms", 0.0)}});
    } else if (kind == "migrate_started" || kind == "migrate_done" || kind == "migrate_failed" ||
               kind == "cold_move_started" || kind == "cold_move_done" || kind == "cold_move_failed") {
      auto vm = payload.value("vm", "");
      auto to = payload.value("to", "");
      emit(kind, payload.value("from", ""), vm, evacuation_of_host(payload.value("from", "")),
           fmt::format("{}: {} {} -> {}{}", vm, kind, payload.value("from", ""), to,
                       payload.contains("error") ? " (" + payload["error"].get<std::string>() + ")" : ""));
      if (kind == "migrate_done" || kind == "cold_move_done") {
        auto v = inventory_.find_vm(vm);
        auto h = inventory_.find_host(to);
        if (v != model::kNoIndex && h != model::kNoIndex) set_vm_host(v, h);
      }
    } else if (kind.rfind("vm_restart_", 0) == 0) {
      auto vm = payload.value("vm", "");
      emit(kind, payload.value("host", ""), vm, "",
           fmt::format("{}: {} on {} (attempt {}){}", vm, kind.substr(3), payload.value("host", ""),
                       payload.value("attempt", 0),
                       payload.contains("reason")  ? ": " + payload["reason"].get<std::string>()
                       : payload.contains("error") ? ": " + payload["error"].get<std::string>()
                                                   : ""));
    }
  }

  // ---- operations -------------------------------------------------------------------------------------

  // Journals the operation (before it acts) and returns it; the caller adds it to operations_.
  Operation new_operation(const std::string& kind, const std::vector<model::HostIndex>& hosts,
                          const std::string& by, const std::string& reason = "", double deadline_s = 0.0) {
    Operation op;
    op.id = fmt::format("{}-{}", kind == "vm_restart" ? "restart" : kind, journal_.last_appended() + 1);
    op.kind = kind;
    op.hosts = names_of(hosts);
    op.by = by;
    op.reason = reason;
    op.deadline_s = deadline_s;
    op.started_ms = unix_now_ms();
    journal_.append({"operation", json{{"id", op.id},
                                       {"kind", kind},
                                       {"hosts", op.hosts},
                                       {"by", by},
                                       {"reason", reason},
                                       {"deadline_s", deadline_s},
                                       {"started_ms", op.started_ms}}
                                      .dump()});
    return op;
  }

  // Journals the end of an operation (a resumed daemon resumes only those not ended).
  void journal_operation_end(const Operation& op) {
    journal_.append({"operation_end", json{{"id", op.id}, {"state", op.state}}.dump()});
  }

  std::string recovery_of_host(model::HostIndex host) const {
    if (host == model::kNoIndex) return "";
    const auto& name = inventory_.hosts[host].name;
    for (auto op = operations_.rbegin(); op != operations_.rend(); ++op) {
      if (op->kind == "recovery" && std::find(op->hosts.begin(), op->hosts.end(), name) != op->hosts.end())
        return op->id;
    }
    return "";
  }

  // The recovery a VM belongs to: that of the host its latest recovery plan moves it from.
  std::string recovery_of(model::VmIndex vm) const {
    if (vm == model::kNoIndex) return "";
    auto found = recovered_from_.find(inventory_.vms[vm].name);
    return found == recovered_from_.end() ? "" : recovery_of_host(inventory_.find_host(found->second));
  }

  // The latest evacuation draining `host` (a host name), empty when none.
  std::string evacuation_of_host(const std::string& host) const {
    for (auto op = operations_.rbegin(); op != operations_.rend(); ++op) {
      if (op->kind == "evacuation" && std::find(op->hosts.begin(), op->hosts.end(), host) != op->hosts.end())
        return op->id;
    }
    return "";
  }

  struct OperationVms {
    json vms = json::array();
    json progress{{"total", 0},  {"pending", 0}, {"running", 0},  {"succeeded", 0},
                  {"failed", 0}, {"waiting", 0}, {"cancelled", 0}};
    std::size_t count(const char* state) const { return progress[state].get<std::size_t>(); }
    std::size_t in_flight() const { return count("pending") + count("running"); }
    std::size_t bad() const { return count("failed") + count("waiting") + count("cancelled"); }
  };

  json steps_of(const std::string& vm) const {
    json steps = json::array();
    auto found = steps_.find(vm);
    if (found == steps_.end()) return steps;
    for (const auto& s : found->second) {
      steps.push_back({{"step", s.step},
                       {"host", s.host},
                       {"disk", s.disk.empty() ? json(nullptr) : json(s.disk)},
                       {"state", s.state},
                       {"attempt", s.attempt},
                       {"started_at", s.started_ms ? json(rfc3339(s.started_ms)) : json(nullptr)},
                       {"finished_at", s.finished_ms ? json(rfc3339(s.finished_ms)) : json(nullptr)},
                       {"error", s.error.empty() ? json(nullptr) : json(s.error)}});
    }
    return steps;
  }

  OperationVms operation_vms(const Operation& op) const {
    if (op.frozen) return {op.frozen_vms, op.frozen_progress};
    OperationVms out;
    const auto& cloud = controller_snapshot_;
    auto name_of = [&](model::HostIndex h) {
      return h == model::kNoIndex ? json(nullptr) : json(cloud.hosts[h].name);
    };
    auto in_hosts = [&](model::HostIndex h) {
      return h != model::kNoIndex &&
             std::find(op.hosts.begin(), op.hosts.end(), cloud.hosts[h].name) != op.hosts.end();
    };
    auto add = [&](model::VmIndex vm, model::HostIndex from, model::HostIndex to, json method,
                   const char* state, const std::string& reason) {
      out.progress["total"] = out.progress["total"].get<std::size_t>() + 1;
      out.progress[state] = out.progress[state].get<std::size_t>() + 1;
      const auto& name = cloud.vms[vm].name;
      out.vms.push_back({{"vm", name},
                         {"from", from == model::kNoIndex ? "" : cloud.hosts[from].name},
                         {"to", name_of(to)},
                         {"method", std::move(method)},
                         {"state", state},
                         {"steps", steps_of(name)},
                         {"reason", reason.empty() ? json(nullptr) : json(reason)}});
    };
    if (op.kind == "recovery") {
      for (const auto& report : controller_->executor().report()) {
        if (!in_hosts(report.from)) continue;
        const char* state = "running";
        switch (report.state) {
          case exec::VmState::recovering:
            state = steps_.contains(cloud.vms[report.vm].name) ? "running" : "pending";
            break;
          case exec::VmState::running:
            state = "succeeded";
            break;
          case exec::VmState::waiting:
            state = "waiting";
            break;
          case exec::VmState::failed:
            state = "failed";
            break;
        }
        add(report.vm, report.from, report.to, "restart", state, report.reason);
      }
    } else if (op.kind == "evacuation" || op.kind == "maintenance_exit") {
      for (const auto& report : controller_->evacuator().report()) {
        if (op.kind == "evacuation" ? !in_hosts(report.from) || report.fail_back
                                    : !report.fail_back || !in_hosts(report.to))
          continue;
        using Outcome = exec::EvacuationOutcome;
        const char* state = "pending";
        switch (report.outcome) {
          case Outcome::pending:
            state = "pending";
            break;
          case Outcome::migrating:
          case Outcome::moving_cold:
            state = "running";
            break;
          case Outcome::migrated:
          case Outcome::moved_cold:
          case Outcome::stopped:
            state = "succeeded";
            break;
          case Outcome::not_placed:
            state = "waiting";
            break;
          case Outcome::failed:
            state = "failed";
            break;
          case Outcome::cancelled:
            state = "cancelled";
            break;
        }
        json method = report.outcome == Outcome::stopped ? json(nullptr)
                      : report.cold                      ? json("cold_move")
                                                         : json("live_migration");
        add(report.vm, report.from, report.to, method, state, report.reason);
      }
    } else if (op.kind == "vm_restart" && op.restart < controller_->vm_restarts().size()) {
      const auto& restart = controller_->vm_restarts()[op.restart];
      using State = control::VmRestart::State;
      const char* state = "pending";
      switch (restart.state) {
        case State::scheduled:
          state = "pending";
          break;
        case State::starting:
          state = "running";
          break;
        case State::running:
        case State::relocated:
          state = "succeeded";
          break;
        case State::failed:
        case State::refused:
          state = "failed";
          break;
      }
      add(restart.vm, restart.host, restart.host, "restart", state, restart.reason);
    }
    return out;
  }

  void refresh_operations() {
    if (!controller_) return;
    for (auto& op : operations_) {
      if (op.state != "running") continue;
      auto vms = operation_vms(op);
      bool pending = false;
      if (op.kind == "recovery") {
        for (const auto& name : op.hosts) {
          auto h = inventory_.find_host(name);
          auto health = monitor_->health(h);
          if (health == detect::HostHealth::failed || health == detect::HostHealth::fencing) pending = true;
          if (h != model::kNoIndex && !controller_->availability().fenced(h) &&
              controller_->executor().busy())
            pending = true;
        }
      }
      if ((op.kind == "evacuation" || op.kind == "maintenance_exit") && controller_->evacuator().busy() &&
          vms.count("total") == 0)
        pending = true;
      if (vms.in_flight() > 0 || pending) continue;
      op.finished_ms = unix_now_ms();
      auto done = vms.count("succeeded");
      op.state = vms.bad() == 0 ? "succeeded" : (done > 0 ? "partial" : "failed");
      // Frozen from here: the controller these views came from may be rebuilt later.
      op.frozen = true;
      op.frozen_vms = vms.vms;
      op.frozen_progress = vms.progress;
      journal_operation_end(op);
      if (op.kind == "recovery") {
        for (const auto& name : op.hosts) {
          auto h = inventory_.find_host(name);
          if (h != model::kNoIndex) monitor_->recovery_finished(h);
        }
      }
      double duration = static_cast<double>(op.finished_ms - op.started_ms) / 1000.0;
      emit("operation_finished", fmt::format("{}", fmt::join(op.hosts, ",")), "", op.id,
           fmt::format("{} {}: {} of {} VM(s) done in {:.1f} s", op.id, op.state, done, vms.count("total"),
                       duration),
           {{"state", op.state}, {"vms", vms.count("total")}, {"succeeded", done}, {"duration_s", duration}});
      plans_dirty_ = true;
    }
  }

  json operation_detail(const Operation& op) const {
    return operation_detail(op, events_.since(0, SIZE_MAX, 0));
  }
  // `events`: the event log, oldest first (its entries of this operation make the timeline).
  json operation_detail(const Operation& op, const std::vector<Event>& events) const {
    auto vms = operation_vms(op);
    std::string reason = op.kind == "recovery"           ? "host_failure"
                         : op.kind == "vm_restart"       ? "vm_failure"
                         : op.kind == "maintenance_exit" ? "maintenance_exit"
                                                         : op.reason;
    json timeline = json::array();
    for (const auto& event : events) {
      if (event.operation != op.id) continue;
      timeline.push_back({{"at", rfc3339(event.at_unix_ms)},
                          {"kind", event.kind},
                          {"message", event.message},
                          {"host", event.host.empty() ? json(nullptr) : json(event.host)},
                          {"vm", event.vm.empty() ? json(nullptr) : json(event.vm)}});
    }
    return {
        {"id", op.id},
        {"kind", op.kind},
        {"state", op.state},
        {"reason", reason},
        {"hosts", op.hosts},
        {"requested_by", op.by},
        {"started_at", rfc3339(op.started_ms)},
        {"finished_at", op.finished_ms ? json(rfc3339(op.finished_ms)) : json(nullptr)},
        {"deadline_at", op.kind == "evacuation"
                            ? json(rfc3339(op.started_ms + static_cast<std::int64_t>(op.deadline_s * 1000)))
                            : json(nullptr)},
        {"cancel_requested", op.cancel_requested},
        {"progress", vms.progress},
        {"vms", vms.vms},
        {"timeline", timeline}};
  }

  // ---- views ------------------------------------------------------------------------------------------

  std::string host_state(model::HostIndex h) const {
    bool monitored = monitor_->monitored(h);
    if (!monitored)
      return inventory_.hosts[h].state == model::HostState::maintenance ? "maintenance" : "down";
    auto health = monitor_->health(h);
    if (health == detect::HostHealth::fenced || health == detect::HostHealth::recovering ||
        health == detect::HostHealth::recovered) {
      if (controller_ && !controller_->availability().fenced(h) && declared_[h]) return "fencing";
      return std::string(detect::to_string(health));
    }
    if (health != detect::HostHealth::up) return std::string(detect::to_string(health));
    if (inventory_.hosts[h].state == model::HostState::maintenance) {
      for (const auto& op : operations_) {
        if (op.kind == "evacuation" && op.state == "running" &&
            std::find(op.hosts.begin(), op.hosts.end(), inventory_.hosts[h].name) != op.hosts.end())
          return "draining";
      }
      return "maintenance";
    }
    return "up";
  }

  std::string running_operation_of(model::HostIndex h) const {
    const auto& name = inventory_.hosts[h].name;
    for (auto op = operations_.rbegin(); op != operations_.rend(); ++op) {
      if (op->state == "running" && std::find(op->hosts.begin(), op->hosts.end(), name) != op->hosts.end())
        return op->id;
    }
    return "";
  }

  json host_json(model::HostIndex h, const detect::DetectorStatus& detector) const {
    const auto& host = inventory_.hosts[h];
    auto now = unix_now_ms();
    json channels = json::array();
    std::int64_t since_ms = started_ms_;
    std::string blocked;
    // detector.hosts: the monitored hosts, by index.
    auto first = std::lower_bound(
        detector.hosts.begin(), detector.hosts.end(), h,
        [](const detect::HostStatus& status, model::HostIndex wanted) { return status.host < wanted; });
    for (auto it = first; it != detector.hosts.end() && it->host == h; ++it) {
      const auto& status = *it;
      blocked = status.blocked_reason.empty() ? status.last_fence_error : status.blocked_reason;
      since_ms = started_ms_ + static_cast<std::int64_t>(status.since_s * 1000);
      for (const auto& channel : status.channels) {
        const char* state = channel.lost || channel.phi >= config_.detector.fail_phi ? "silent"
                            : channel.phi >= config_.detector.suspect_phi            ? "suspect"
                                                                                     : "alive";
        channels.push_back(
            {{"channel", detect::to_string(channel.channel)},
             {"state", state},
             {"last_contact_at", rfc3339(now - static_cast<std::int64_t>(channel.silent_s * 1000))},
             {"phi", std::max(0.0, channel.phi)}});
      }
    }
    std::uint64_t cpus = 0;
    std::uint64_t memory = 0;
    std::size_t count = 0;
    for (const auto& vm : inventory_.vms) {
      if (vm.host != h) continue;
      cpus += vm.cpus;
      memory += vm.memory_mib;
      ++count;
    }
    json labels = json::object();
    for (const auto& label : host.labels)
      labels[std::string(inventory_.symbols.name(label.key))] =
          std::string(inventory_.symbols.name(label.value));
    auto state = host_state(h);
    std::string reason;
    if (state != "up") {
      auto found = host_reasons_.find(h);
      reason = !blocked.empty() ? blocked : found != host_reasons_.end() ? found->second : "";
      if (reason.empty())
        reason = state == "down" ? "down since an earlier loss; watched again once its agent speaks" : state;
    }
    auto operation = running_operation_of(h);
    return {{"name", host.name},
            {"state", state},
            {"state_since", rfc3339(since_ms)},
            {"reason", reason.empty() ? json(nullptr) : json(reason)},
            {"channels", channels},
            {"vms", count},
            {"cpus", {{"used", cpus}, {"total", host.cpus}}},
            {"memory_mib", {{"used", memory}, {"total", host.memory_mib}}},
            {"labels", labels},
            {"bmc_configured", host.bmc.has_value()},
            {"reserved", host.reserved},
            {"operation", operation.empty() ? json(nullptr) : json(operation)}};
  }

  struct VmView {
    std::string state;
    std::string reason;
    std::string operation;
  };

  std::vector<VmView> vm_states() const {
    std::vector<VmView> views(inventory_.vms.size());
    for (model::VmIndex v = 0; v < inventory_.vms.size(); ++v) {
      views[v].state =
          inventory_.vms[v].host == model::kNoIndex || operator_stopped_.contains(v) ? "stopped" : "running";
    }
    auto snapshot_vms = controller_snapshot_.vms.size();
    for (const auto& report : controller_->executor().report()) {
      if (report.vm >= snapshot_vms || report.state == exec::VmState::running) continue;
      views[report.vm] = {std::string(exec::to_string(report.state)), report.reason,
                          recovery_of_host(report.from)};
    }
    for (const auto& report : controller_->evacuator().report()) {
      if (report.vm >= snapshot_vms) continue;
      if (report.outcome == exec::EvacuationOutcome::migrating ||
          report.outcome == exec::EvacuationOutcome::moving_cold)
        views[report.vm] = {"migrating", "",
                            evacuation_of_host(controller_snapshot_.hosts[report.from].name)};
    }
    for (const auto& restart : controller_->vm_restarts()) {
      using State = control::VmRestart::State;
      if (restart.state == State::scheduled || restart.state == State::starting)
        views[restart.vm] = {"recovering", "restarting on its host after an unexpected stop", ""};
      if ((restart.state == State::refused || restart.state == State::failed) &&
          !controller_->copies().may_run_on(restart.vm, restart.host))
        views[restart.vm] = {"failed", restart.reason, ""};
    }
    return views;
  }

  json vm_json(model::VmIndex v, const VmView& view) const {
    const auto& vm = inventory_.vms[v];
    json networks = json::array();
    for (auto n : vm.networks) networks.push_back(std::string(inventory_.symbols.name(n)));
    json disks = json::array();
    for (auto d = vm.first_disk; d < inventory_.vm_disk_end(v); ++d) {
      const auto& disk = inventory_.disks[d];
      disks.push_back({{"name", disk.name},
                       {"array", disk.array == model::kNoIndex ? "" : inventory_.arrays[disk.array].name},
                       {"size_gib", disk.size_gib}});
    }
    json groups = json::array();
    for (auto g : vm.groups) groups.push_back(inventory_.groups[g].name);
    std::uint32_t restarts = 0;
    for (const auto& restart : controller_->vm_restarts()) restarts += restart.vm == v ? 1 : 0;
    return {{"name", vm.name},
            {"host", vm.host == model::kNoIndex ? json(nullptr) : json(inventory_.hosts[vm.host].name)},
            {"state", view.state},
            {"priority", std::string(model::to_string(vm.priority))},
            {"protect", vm.protect},
            {"cpus", vm.cpus},
            {"memory_mib", vm.memory_mib},
            {"networks", networks},
            {"disks", disks},
            {"groups", groups},
            {"restarts", restarts},
            {"operation", view.operation.empty() ? json(nullptr) : json(view.operation)},
            {"reason", view.reason.empty() ? json(nullptr) : json(view.reason)}};
  }

  json drain_dry_run(const std::vector<model::HostIndex>& hosts, double deadline_s,
                     exec::EvacuationReason reason) {
    model::Cloud cloud = inventory_;
    cloud.rebuild_indexes();
    sim::Scenario scenario;
    scenario.file = "(dry run)";
    for (auto h : hosts) {
      sim::ScenarioEvent event;
      event.kind = sim::ScenarioEvent::Kind::evacuate;
      event.hosts = {h};
      event.deadline_s = deadline_s;
      event.reason = std::string(exec::to_string(reason));
      scenario.events.push_back(event);
    }
    auto result = sim::run_simulation(cloud, scenario, {});
    json placements = json::array();
    json waiting = json::array();
    json stopped = json::array();
    bool fits = true;
    for (const auto& report : result.evacuations) {
      const auto& name = cloud.vms[report.vm].name;
      if (report.outcome == exec::EvacuationOutcome::stopped) {
        stopped.push_back(name);
      } else if (report.to == model::kNoIndex) {
        waiting.push_back({{"vm", name},
                           {"from", cloud.hosts[report.from].name},
                           {"reason", report.reason.empty() ? "no host can take it" : report.reason}});
        fits = false;
      } else {
        placements.push_back({{"vm", name},
                              {"from", cloud.hosts[report.from].name},
                              {"to", cloud.hosts[report.to].name},
                              {"priority", std::string(model::to_string(report.priority))},
                              {"method", report.cold ? "cold_move" : "live_migration"}});
        if (report.running_at_deadline || report.end_s > deadline_s) fits = false;
      }
    }
    return {{"dry_run", true},
            {"plan",
             {{"hosts", names_of(hosts)},
              {"reason", reason == exec::EvacuationReason::maintenance ? "maintenance" : "predicted_failure"},
              {"deadline_s", deadline_s},
              {"placements", placements},
              {"waiting", waiting},
              {"stopped", stopped},
              {"fits_deadline", fits}}}};
  }

  // ---- fence evidence (daemon/fence_evidence.h) --------------------------------------------------------

  json evidence_now(model::HostIndex h, const std::string& rule) const {
    EvidenceContext context;
    context.host_name = inventory_.hosts[h].name;
    context.rule = rule;
    context.bmc_configured = inventory_.hosts[h].bmc.has_value();
    for (auto level : config_.fencing.levels) context.levels.push_back(level_name(level));
    context.loop_now_s = loop_.now_s();
    context.wall_now_ms = unix_now_ms();
    return fence_evidence(*monitor_, h, context);
  }

  // A placement decision of the controller, saved with its inputs (for revive replay): the operation it
  // belongs to is the action deciding now, else the latest recovery of one of its failed hosts, else the
  // latest drain of one of its drained hosts.
  void save_decision(const plan::Decision& decision) {
    if (saved_decisions_.keep() == 0) return;
    std::vector<std::string> hosts;
    for (auto h : decision.request.failed_hosts) hosts.push_back(decision.view.hosts[h].name);
    for (auto h : decision.request.evacuated_hosts) hosts.push_back(decision.view.hosts[h].name);
    std::string operation = deciding_operation_;
    for (auto op = operations_.rbegin(); operation.empty() && op != operations_.rend(); ++op) {
      bool mine = op->kind == "recovery"     ? !decision.request.failed_hosts.empty()
                  : op->kind == "evacuation" ? !decision.request.evacuated_hosts.empty()
                                             : false;
      for (const auto& host : op->hosts) {
        if (mine && std::find(hosts.begin(), hosts.end(), host) != hosts.end()) operation = op->id;
      }
    }
    if (hosts.empty() && !operation.empty()) {
      for (const auto& op : operations_)
        if (op.id == operation) hosts = op.hosts;
    }
    auto started = std::chrono::steady_clock::now();
    auto saved = saved_decisions_.save(decision, operation, hosts, unix_now_ms());
    metrics_.decision_saved(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                            saved.has_value());
    // A write that failed (on the store's thread, since the last decision) or this one dropped.
    if (auto failure = saved_decisions_.take_failure(); !failure.empty())
      warn_once("decisions: not saved: " + failure);
  }

  // The decision to fence `host`, with its evidence; the BMC is asked for the power state beside the fence.
  void record_decision(model::HostIndex host, const std::string& why) {
    auto rule = failed_rules_.count(host) ? failed_rules_[host] : why;
    decisions_[host] = evidence_now(host, rule);
    if (!inventory_.hosts[host].bmc) return;
    auto generation = ++decision_generation_[host];
    ipmi_->power_status(
        host, [this, host, generation](const env::OperationResult& result, env::PowerState power) {
          if (decision_generation_[host] != generation) return;
          set_bmc_power(decisions_[host], power, result.ok ? "" : result.error, unix_now_ms());
        });
  }

  // ---- helpers ----------------------------------------------------------------------------------------

  model::HostIndex find_host(const std::string& name, const char* field) const {
    auto h = inventory_.find_host(name);
    if (h == model::kNoIndex) throw api::RequestError(404, field, "no host named '" + name + "'");
    return h;
  }

  std::vector<model::HostIndex> find_hosts(const std::vector<std::string>& names,
                                           const std::string& field = "hosts") const {
    if (names.empty()) throw api::RequestError(400, field, "name at least one host");
    std::vector<model::HostIndex> hosts;
    for (const auto& name : names) {
      auto h = find_host(name, field.c_str());
      if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
    }
    return hosts;
  }

  std::vector<std::string> names_of(const std::vector<model::HostIndex>& hosts) const {
    std::vector<std::string> names;
    for (auto h : hosts) names.push_back(inventory_.hosts[h].name);
    return names;
  }

  std::string join_names(const std::vector<model::HostIndex>& hosts) const {
    return fmt::format("{}", fmt::join(names_of(hosts), ","));
  }

  void set_vm_host(model::VmIndex vm, model::HostIndex host) {
    if (vm >= inventory_.vms.size() || inventory_.vms[vm].host == host) return;
    inventory_.vms[vm].host = host;
    inventory_.rebuild_indexes();
    plans_dirty_ = true;
  }

  std::size_t protected_count() const {
    std::size_t count = 0;
    for (const auto& vm : inventory_.vms) count += vm.protect ? 1 : 0;
    return count;
  }

  void emit(const std::string& kind, const std::string& host, const std::string& vm,
            const std::string& operation, const std::string& message, json details = json::object()) {
    Event event;
    event.kind = kind;
    event.host = host;
    event.vm = vm;
    event.operation = operation;
    event.message = message;
    event.details = std::move(details);
    events_.append(std::move(event));
  }

  void fatal(const std::string& message) {
    emit("fatal", "", "", "", message);
    exit_status_ = 1;
    if (controller_) controller_->halt();
    stopping_ = true;
    loop_.stop();
  }

  const DaemonConfig& config_;
  EventLog& events_;
  Metrics& metrics_;
  drivers::WallClockLoop loop_;
  store::SqliteJournal durable_journal_;
  ControllerJournal journal_;
  store::SqliteStore state_store_;
  DecisionStore saved_decisions_;   // data_dir/decisions: every placement decision with its inputs
  std::string deciding_operation_;  // the operation an API action starts, while the controller decides it
  model::Cloud inventory_;
  DurabilityGate gate_;
  std::map<std::string, std::string> domain_xml_;
  std::map<std::string, std::string> network_xml_;
  std::unique_ptr<drivers::LibvirtHypervisor> libvirt_;
  std::unique_ptr<GatedHypervisor> hypervisor_;
  std::unique_ptr<env::Storage> storage_;
  std::unique_ptr<GatedStorage> gated_storage_;
  std::unique_ptr<GatedNetwork> network_;
  std::unique_ptr<Handover> handover_;
  std::unique_ptr<detect::HostMonitor> monitor_;
  std::unique_ptr<drivers::IpmitoolFencer> ipmi_;
  std::unique_ptr<drivers::FenceAgentFencer> fence_agent_;
  std::unique_ptr<fence::ManualFencer> manual_;
  std::unique_ptr<fence::LeaseFencer> lease_;
  // The storage level's unmaps count in the ledger of whichever controller runs (issue 9: every operation
  // against every limit).
  class ControllerCallSlots final : public env::OperationSlots {
   public:
    explicit ControllerCallSlots(std::unique_ptr<control::Controller>& controller)
        : controller_(controller) {}
    void acquire(const env::Call& call, std::function<void(Release)> granted) override {
      if (!controller_) return granted([] {});
      controller_->operation_slots().acquire(call, std::move(granted));
    }

   private:
    std::unique_ptr<control::Controller>& controller_;
  };
  std::unique_ptr<ControllerCallSlots> fence_call_slots_;
  std::unique_ptr<fence::StorageFencer> storage_fencer_;
  std::unique_ptr<fence::FenceChain> chain_;
  std::unique_ptr<GatedFencer> gated_fencer_;
  std::unique_ptr<detect::HeartbeatReceiver> receiver_;
  std::unique_ptr<detect::LeaseWatcher> lease_watcher_;
  model::Cloud controller_snapshot_;
  std::unique_ptr<control::Controller> controller_;
  std::vector<bool> declared_;
  std::set<model::VmIndex> operator_stopped_;
  std::map<model::VmIndex, model::HostIndex> incoming_;
  std::unordered_map<std::string, std::string>
      recovered_from_;  // VM -> host its latest recovery plan moves it from  // live migrations' targets
                        // before their switch-over
  std::vector<Operation> operations_;
  std::unordered_map<std::string, std::vector<StepView>> steps_;
  std::map<model::HostIndex, json> fence_reports_;
  std::map<model::HostIndex, json> decisions_;  // the last fence decision per host, with its evidence
  std::map<model::HostIndex, std::string> failed_rules_;  // the reason of the last transition to failed
  std::map<model::HostIndex, std::uint64_t> decision_generation_;
  model::Cloud plan_cloud_;
  std::unique_ptr<plan::PrecomputedPlans> plans_;
  std::int64_t plans_computed_ms_ = 0;
  bool plans_dirty_ = true;
  std::optional<plan::CapacityReport> capacity_;
  std::int64_t capacity_checked_ms_ = 0;
  std::optional<exec::RecoveryTimeReport> recovery_times_;  // with policy.rto_s budgets only
  bool inventory_changed_ = false;
  bool checkpointed_once_ = false;
  struct Periodic {
    double period_s;
    std::function<void()> work;
  };
  std::vector<Periodic> periodic_;
  std::string last_warning_;
  bool stopping_ = false;
  std::atomic<bool> running_{false};
  int exit_status_ = 0;
  std::int64_t started_ms_ = unix_now_ms();
  std::map<model::HostIndex, std::string> host_reasons_;  // the last transition's reason, per host
  std::string crash_kind_;
  std::uint32_t crash_count_ = 1;
  std::uint32_t crash_seen_ = 0;
};

// ============================================================================================== Daemon

Daemon::Daemon(DaemonConfig config) : config_(std::move(config)) {
  log_ = std::make_unique<DaemonLog>(config_.log);
  engine_ =
      std::make_unique<Engine>(config_, events_, metrics_);  // the journal's lock: one daemon per data_dir
  audit_ = std::make_unique<AuditLog>(config_.data_dir + "/audit.db");
  alerts_ = std::make_unique<Alerts>(config_.alerts, metrics_);
  events_.subscribe([this](const Event& event) { on_event(event); });
}

Daemon::~Daemon() {
  events_.close();
  engine_.reset();
  alerts_.reset();
}

void Daemon::on_event(const Event& event) {
  log_->event(event);
  metrics_.observe(event);
  if (auto record = audit_record_of(event)) audit_->append(std::move(*record));
  alerts_->offer(event);
}

int Daemon::run(const std::function<void()>& ready) {
  int status = engine_->run(ready);
  events_.close();
  return status;
}

void Daemon::stop() {
  engine_->request_stop();
}

json Daemon::on_engine(std::function<json(Engine&)> work) {
  if (!engine_->running()) throw api::RequestError(503, "", "the daemon is starting or stopping");
  auto promise = std::make_shared<std::promise<json>>();
  auto answer = promise->get_future();
  engine_->loop().post([this, promise, work = std::move(work)] {
    try {
      promise->set_value(work(*engine_));
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  if (answer.wait_for(std::chrono::duration<double>(kRequestTimeoutS)) != std::future_status::ready)
    throw api::RequestError(503, "", "the engine did not answer in time");
  return answer.get();
}

json Daemon::status() {
  return on_engine([](Engine& engine) { return engine.status(); });
}
json Daemon::hosts() {
  return on_engine([](Engine& engine) { return engine.hosts_json(); });
}
json Daemon::host(const std::string& name) {
  return on_engine([name](Engine& engine) { return engine.host_json(name); });
}
json Daemon::vms() {
  return on_engine([](Engine& engine) { return engine.vms_json(); });
}
json Daemon::vm(const std::string& name) {
  return on_engine([name](Engine& engine) { return engine.vm_json(name); });
}
json Daemon::groups() {
  return on_engine([](Engine& engine) { return engine.groups_json(); });
}
json Daemon::plans() {
  return on_engine([](Engine& engine) { return engine.plans_json(); });
}
json Daemon::capacity() {
  return on_engine([](Engine& engine) { return engine.capacity_json(); });
}
json Daemon::operations() {
  return on_engine([](Engine& engine) { return engine.operations_json(); });
}
json Daemon::operation(const std::string& id) {
  return on_engine([id](Engine& engine) { return engine.operation_json(id); });
}
json Daemon::events(std::uint64_t after, std::size_t limit, double wait_s) {
  json list = json::array();
  for (const auto& event : events_.since(after, limit, wait_s)) list.push_back(EventLog::to_json(event));
  return {{"events", list}, {"last_sequence", events_.last_sequence()}};
}
json Daemon::drain(const api::DrainRequest& request, const api::Caller& caller) {
  return on_engine([request, caller](Engine& engine) { return engine.drain(request, caller); });
}
json Daemon::exit_maintenance(const api::ExitMaintenanceRequest& request, const api::Caller& caller) {
  return on_engine([request, caller](Engine& engine) { return engine.exit_maintenance(request, caller); });
}
json Daemon::confirm_down(const std::string& host, const api::Caller& caller) {
  return on_engine([host, caller](Engine& engine) { return engine.confirm_down(host, caller); });
}
json Daemon::cancel(const std::string& id, const api::Caller& caller) {
  return on_engine([id, caller](Engine& engine) { return engine.cancel(id, caller); });
}
json Daemon::audit(const api::AuditQuery& query) {
  json list = json::array();
  for (const auto& record : audit_->query(query)) list.push_back(AuditLog::to_json(record));
  return {{"records", list}, {"dropped", audit_->dropped()}};
}
json Daemon::why(const std::string& host) {
  return on_engine([host](Engine& engine) { return engine.why_json(host); });
}
json Daemon::decisions() {
  const auto& store = engine_->saved_decisions();
  json list = json::array();
  for (const auto& entry : store.list()) list.push_back(DecisionStore::to_json(entry));
  return {{"decisions", list}, {"keep", store.keep()}};
}
std::string Daemon::decision(std::uint64_t number) {
  auto text = engine_->saved_decisions().read(number);
  if (!text)
    throw api::RequestError(404, "number",
                            fmt::format("number {}: no such decision is kept (decisions.keep: {})", number,
                                        engine_->saved_decisions().keep()));
  return *text;
}
std::string Daemon::metrics() {
  auto views = on_engine([](Engine& engine) {
    return json{{"status", engine.status()}, {"hosts", engine.hosts_json()}, {"vms", engine.vms_json()}};
  });
  return metrics_.render(views["status"], views["hosts"], views["vms"]);
}
void Daemon::record_request(const api::RequestRecord& request) {
  audit_->append(AuditLog::of_request(request));
}
json Daemon::set_armed(bool armed, const std::string& reason, const api::Caller& caller) {
  return on_engine(
      [armed, reason, caller](Engine& engine) { return engine.set_armed(armed, reason, caller); });
}

}  // namespace revive::daemon

#include "exec/executor.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/bound.h"
#include "exec/dry_run.h"
#include "exec/resource_ledger.h"

namespace revive::exec {

std::string_view to_string(VmState state) {
  switch (state) {
    case VmState::recovering:
      return "recovering";
    case VmState::running:
      return "running";
    case VmState::waiting:
      return "waiting";
    case VmState::failed:
      return "failed";
  }
  return "recovering";
}

namespace {

using StepId = std::uint32_t;
constexpr StepId kNoStep = std::numeric_limits<StepId>::max();
constexpr std::uint32_t kNoTask = std::numeric_limits<std::uint32_t>::max();

enum class StepState : std::uint8_t { blocked, held, ready, retry_wait, running, done, failed, abandoned };

// Order of ready steps on a resource: earliest deadline, then higher priority, then longer chain, then plan
// order, then the step's place in its VM's sequence.
struct ReadyKey {
  double deadline = 0.0;
  std::uint8_t priority = 0;
  double negative_chain = 0.0;
  std::uint64_t order = 0;
  std::uint32_t sequence = 0;
  StepId step = kNoStep;
  friend bool operator<(const ReadyKey& a, const ReadyKey& b) {
    if (a.deadline != b.deadline) return a.deadline < b.deadline;
    if (a.priority != b.priority) return a.priority < b.priority;
    if (a.negative_chain != b.negative_chain) return a.negative_chain < b.negative_chain;
    if (a.order != b.order) return a.order < b.order;
    if (a.sequence != b.sequence) return a.sequence < b.sequence;
    return a.step < b.step;
  }
};

struct Step {
  env::StepKind kind = env::StepKind::vm_start;
  StepState state = StepState::blocked;
  model::VmIndex vm = model::kNoIndex;
  model::DiskIndex disk = model::kNoIndex;
  model::HostIndex host = model::kNoIndex;  // unmap: the host unmapped from; otherwise the target
  std::uint32_t task = kNoTask;
  std::uint32_t generation = 0;
  std::uint32_t resource = 0;
  std::uint32_t unmet = 0;
  std::uint32_t attempts = 0;
  std::uint32_t sequence = 0;
  bool last_attempt_timed_out = false;
  bool reserves = false;  // a critical step not yet dispatched: holds back a slot of its resource (revive)
  bool in_critical_queue = false;  // queued (while ready) in critical_queues_ rather than queues_
  ReadyKey queued;                 // valid while state == ready
  std::vector<StepId> successors;
};

struct Task {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;    // where it ran when its first recovery began
  model::HostIndex target = model::kNoIndex;  // current target
  model::Priority priority = model::Priority::medium;
  VmState state = VmState::recovering;
  std::uint32_t generation = 0;
  std::uint32_t replans = 0;
  double deadline = 0.0;
  double chain_s = 0.0;
  std::uint64_t order = 0;
  double ready_s = -1.0;
  std::string reason;
  bool waiting_for_proof = false;  // waiting only for a fence or another proof of no other copy
  std::string last_error;
  std::vector<model::HostIndex> excluded;
  std::vector<model::VmIndex> start_after;
  std::vector<StepId> steps;  // of the current generation
  StepId start_step = kNoStep;
  bool counted_in_tier = false;
  int counted_tier = 0;
  bool handed_over = false;  // moved by another engine after its recovery: not in this engine's report
};

struct Op {
  StepId step = kNoStep;
  std::uint32_t attempt = 0;     // the step's attempt this op carries out
  std::uint32_t generation = 0;  // the step's generation when it was issued (as journaled)
  std::uint32_t resource = 0;
  model::HostIndex start_host = model::kNoIndex;
  model::HostIndex hypervisor_host = model::kNoIndex;  // released when this host is fenced
  model::DiskIndex disk = model::kNoIndex;
  bool storage = false;
  bool global = false;
  bool timed_out = false;
  env::TimerId timeout = 0;
};

struct Fence {
  enum class State : std::uint8_t { none, running, done, failed } state = State::none;
  bool queued = false;  // waiting for a slot of the cloud's fence limit
  std::uint32_t attempts = 0;
  std::vector<StepId> waiters;
  std::string error;
};

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

double default_estimate(env::StepKind kind) {
  switch (kind) {
    case env::StepKind::fence:
      return 8.0;
    case env::StepKind::disk_unmap:
      return 2.0;
    case env::StepKind::disk_map:
      return 4.0;
    case env::StepKind::net_config:
      return 3.0;
    case env::StepKind::vm_start:
      return 60.0;
    case env::StepKind::vm_stop:
      return 20.0;
    case env::StepKind::migrate:
      return 60.0;
  }
  return 60.0;
}

}  // namespace

class Executor::Impl {
 public:
  ~Impl() {
    ledger_->remove_listener(listener_);
    if (env_.availability != nullptr) {
      env_.availability->remove_listener(availability_listener_);
      env_.availability->remove_planner(planner_id_);
    }
    copies_->remove_listener(copies_listener_);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Impl(const model::Cloud& cloud, Environment environment, ExecutorOptions options)
      : state_(cloud), env_(environment), options_(std::move(options)) {
    auto hosts = state_.hosts.size();
    host_failed_.assign(hosts, false);
    down_in_inventory_.assign(hosts, false);
    for (model::HostIndex h = 0; h < hosts; ++h) {
      down_in_inventory_[h] = state_.hosts[h].state == model::HostState::down;
    }
    fences_.resize(hosts);
    host_returns_.resize(hosts, 0);
    ops_by_host_.resize(hosts);
    vm_location_.resize(state_.vms.size());
    for (std::size_t v = 0; v < state_.vms.size(); ++v) vm_location_[v] = state_.vms[v].host;
    task_of_vm_.assign(state_.vms.size(), kNoTask);
    disk_busy_.assign(state_.disks.size(), 0);
    dead_disk_calls_.assign(state_.disks.size(), 0);
    // Slots are counted in the ledger (shared with the evacuation engine when given one); the executor's
    // resources are the ledger's array, switch and endpoint scopes (same ids), plus one without a limit.
    if (env_.ledger == nullptr) {
      own_ledger_ = std::make_unique<ResourceLedger>(state_, options_.global_max_parallel);
      env_.ledger = own_ledger_.get();
    }
    ledger_ = env_.ledger;
    array_base_ = 0;
    switch_base_ = array_base_ + static_cast<std::uint32_t>(state_.arrays.size());
    endpoint_base_ = switch_base_ + static_cast<std::uint32_t>(state_.switches.size());
    unlimited_resource_ = endpoint_base_ + static_cast<std::uint32_t>(state_.endpoints.size());
    capacity_.resize(unlimited_resource_ + 1);
    for (std::uint32_t r = 0; r < unlimited_resource_; ++r) capacity_[r] = ledger_->capacity(r);
    capacity_[unlimited_resource_] = std::numeric_limits<std::uint32_t>::max();
    if (ledger_->host_starts(0) != unlimited_resource_ || ledger_->array(0) != array_base_) {
      throw std::invalid_argument("Executor: the resource ledger was made for another cloud");
    }
    listener_ = ledger_->add_listener(
        ResourceLedger::kRecoveryRank,
        [this](std::span<const ScopeId> scopes) { on_ledger_released(scopes); },
        [this](ScopeId scope) { return wants(scope); });
    if (env_.availability != nullptr) {
      if (env_.availability->host_count() != state_.hosts.size()) {
        throw std::invalid_argument("Executor: the host availability view was made for another cloud");
      }
      availability_listener_ = env_.availability->add_listener(
          [this](model::HostIndex host, HostAvailability::Change change) { on_availability(host, change); });
      // The room this engine has planned and not yet used: a VM placed and not yet reported running on its
      // target (from then on the evacuation engine's view follows it there, on_vm_recovered).
      planner_id_ = env_.availability->add_planner([this](const auto& each) {
        if (halted_) return;
        for (const auto& task : tasks_) {
          if (task.state == VmState::recovering && task.target != model::kNoIndex) each(task.vm, task.target);
        }
      });
    }
    if (env_.copies == nullptr) {
      own_copies_ = std::make_unique<VmCopies>(state_);
      env_.copies = own_copies_.get();
    }
    copies_ = env_.copies;
    if (copies_->vm_count() != state_.vms.size()) {
      throw std::invalid_argument("Executor: the VM copies view was made for another cloud");
    }
    copies_listener_ = copies_->add_listener([this](model::VmIndex vm) { on_copies_changed(vm); });
    probing_.assign(hosts, 0);
    critical_future_.assign(capacity_.size(), 0);
    critical_host_future_.assign(hosts, 0);
    queues_.resize(capacity_.size());
    critical_queues_.resize(capacity_.size());
    dirty_.assign(capacity_.size(), 0);
    if (options_.strategy == Strategy::serial) global_limit_ = 1;
    if (options_.global_max_parallel != 0) {
      global_limit_ = global_limit_ == 0 ? options_.global_max_parallel
                                         : std::min(global_limit_, options_.global_max_parallel);
    }
    if (options_.strategy == Strategy::parallel_restart) storage_limit_ = 1;
  }

  // ---- entry points ------------------------------------------------------------------------------------

  void on_host_failed(model::HostIndex host) {
    if (host >= state_.hosts.size()) throw std::invalid_argument("on_host_failed: no such host");
    if (halted_ || host_failed_[host]) return;  // a dead controller hears nothing
    host_failed_[host] = true;
    state_.hosts[host].state = model::HostState::down;
    failed_order_.push_back(host);
    journal("host_failed", fmt::format(R"({{"host":"{}"}})", json_escape(state_.hosts[host].name)));
    pending_failed_hosts_.push_back(host);
    if (fence_needed(host)) start_fence(host);
    request_process();
  }

  // A fence is the proof a recovery needs, and it kills what still runs there: a failed host is fenced at
  // once only when a protected VM may run there (its own, or one with a start or migration toward it whose
  // outcome is unknown) or a drain of it is under way (its calls in flight end with the fence). Otherwise
  // nothing is fenced now, and a later step that needs the proof starts the fence then
  // (add_fence_dependency, seek_proofs). A host down in the inventory runs nothing of ours: never fenced.
  bool fence_needed(model::HostIndex host) const {
    if (down_in_inventory_[host]) return false;
    if (env_.availability != nullptr && env_.availability->has(host, HostAvailability::Reason::draining))
      return true;
    auto vms = copies_->vms_on(host);
    return std::any_of(vms.begin(), vms.end(), [this](model::VmIndex vm) { return state_.vms[vm].protect; });
  }

  bool on_host_confirmed_off(model::HostIndex host) {
    if (halted_ || host >= host_failed_.size() || !host_failed_[host]) return false;
    auto& fence = fences_[host];
    if (fence.state == Fence::State::done) return true;
    // A fence in flight is left to answer: the fencer's manual level (fence::ManualFencer) answers it with
    // this confirmation, and the fence is recorded as that level's.
    if (fence.state == Fence::State::running) return true;
    journal("host_confirmed_off", fmt::format(R"({{"host":"{}"}})", json_escape(state_.hosts[host].name)));
    proven_off(host, 0);
    return true;
  }

  // `host` is proven off otherwise than by the answer of its fence call in flight (an operator's word, or a
  // fence call answered after it was given up on; `answered_attempt` names that call, 0 for none): its
  // fence is done, and the VMs that gave up waiting for that proof are planned again.
  void proven_off(model::HostIndex host, std::uint32_t answered_attempt) {
    auto& fence = fences_[host];
    std::vector<std::uint32_t> waiting;
    for (std::uint32_t index = 0; index < tasks_.size(); ++index) {
      const auto& task = tasks_[index];
      if (task.state == VmState::waiting && task.waiting_for_proof && copies_->may_run_on(task.vm, host))
        waiting.push_back(index);
    }
    if (fence.queued) {
      fence.queued = false;
      std::erase(fence_queue_, host);
    }
    fence_done(host, answered_attempt);
    for (auto index : waiting) pending_replans_.push_back(index);
    request_process();
  }

  void on_host_returned(model::HostIndex host) {
    if (host >= state_.hosts.size()) throw std::invalid_argument("on_host_returned: no such host");
    if (halted_ || !host_failed_[host]) return;
    if (fences_[host].state == Fence::State::running || fences_[host].queued) return;  // not before it ends
    host_failed_[host] = false;
    down_in_inventory_[host] = false;  // back in service: what runs there from now on is ours again
    fences_[host] = Fence{};
    ++host_returns_[host];
    failed_order_.erase(std::remove(failed_order_.begin(), failed_order_.end(), host), failed_order_.end());
    state_.hosts[host].state = model::HostState::up;
    journal("host_returned", fmt::format(R"({{"host":"{}"}})", json_escape(state_.hosts[host].name)));
    capacity_released_ = true;  // VMs left waiting may fit there
    request_process();
  }

  void on_vm_failed(model::VmIndex vm, model::HostIndex host) {
    if (vm >= state_.vms.size() || host >= state_.hosts.size())
      throw std::invalid_argument("on_vm_failed: no such VM or host");
    if (halted_) return;
    if (task_of_vm_[vm] != kNoTask && tasks_[task_of_vm_[vm]].state == VmState::recovering) return;
    if (vm_location_[vm] != host || !state_.vms[vm].protect) return;
    journal("vm_failed", fmt::format(R"({{"vm":"{}","host":"{}"}})", json_escape(state_.vms[vm].name),
                                     json_escape(state_.hosts[host].name)));
    relocate(vm, host);
  }

  void relocate(model::VmIndex vm, model::HostIndex host) {
    auto index = task_for(vm);
    auto& task = tasks_[index];
    task.from = host;
    task.handed_over = false;
    if (std::find(task.excluded.begin(), task.excluded.end(), host) == task.excluded.end())
      task.excluded.push_back(host);
    set_state(task, VmState::recovering);
    pending_replans_.push_back(index);
    request_process();
  }

  void on_vm_leaving(model::VmIndex vm) {
    if (halted_ || vm >= state_.vms.size() || task_of_vm_[vm] == kNoTask) return;
    auto& task = tasks_[task_of_vm_[vm]];
    if (task.state == VmState::running) task.handed_over = true;
  }

  void on_vm_moved(model::VmIndex vm, model::HostIndex host) {
    if (vm >= state_.vms.size() || host >= state_.hosts.size())
      throw std::invalid_argument("on_vm_moved: no such VM or host");
    if (halted_) return;
    if (task_of_vm_[vm] != kNoTask) {
      auto& task = tasks_[task_of_vm_[vm]];
      if (task.state == VmState::recovering) return;
      // Recovered, then moved by the other engine: its outcome is that engine's to report now.
      if (task.state == VmState::running) task.handed_over = true;
    }
    // Its disks' beliefs, from where it was before (made on first use from the VM's location).
    for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) disk_hosts(d);
    state_.vms[vm].host = host;
    vm_location_[vm] = host;
    // Its disks may be mapped there now (a live migration hands them over; a cold move maps them after its
    // stop, which is when the other engine reports it), and may still be mapped where they were: a later
    // recovery unmaps them everywhere but its target. No mapping is known any more (a live migration takes
    // the source's away): a later start anywhere, its old host too, maps them first (found by the torture
    // campaign: a VM drained off its host, whose new host failed, was restarted back on the old host
    // without its disks).
    for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) {
      auto& hosts = disk_hosts(d);
      if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
      for (auto mapped : hosts) disk_confirmed_.erase(disk_host_key(d, mapped));
    }
    // Moved (a cold move's stop answered) onto a host already failed: recovered like that host's VMs (the
    // other engine gave it up; nobody else will start it).
    if (host_failed_[host] && !down_in_inventory_[host] && state_.vms[vm].protect) {
      auto index = task_for(vm);
      tasks_[index].handed_over = false;
      pending_replans_.push_back(index);
      request_process();
    }
  }

  // The disk is known mapped to `host` and to no other host.
  void set_disk_mapped_to(model::DiskIndex disk, model::HostIndex host) {
    for (auto other : disk_hosts(disk)) disk_confirmed_.erase(disk_host_key(disk, other));
    disk_hosts_[disk] = {host};
    disk_confirmed_.insert(disk_host_key(disk, host));
  }

  void halt() { halted_ = true; }

  // Rebuilds the executor's view from the journal (a controller that crashed and restarted with the same
  // journal): failed hosts and fences, where disks may be mapped, which VMs run where, the latest plan's
  // targets. VMs still to recover keep their journaled targets when those are up (an unanswered start may
  // have taken effect there); their finished steps are not repeated, unfinished ones are issued again
  // (idempotent).
  void resume() {
    auto records = env_.journal.read_all();
    struct Target {
      model::HostIndex to;
      model::Priority priority;
      std::vector<model::VmIndex> start_after;
      model::HostIndex from = model::kNoIndex;
    };
    std::map<model::VmIndex, Target> targets;
    std::set<std::pair<model::VmIndex, model::HostIndex>> unanswered_starts;
    // Unanswered starts whose host was fenced since: they cannot take effect (its slots are still held).
    std::set<std::pair<model::VmIndex, model::HostIndex>> fenced_starts;
    std::map<model::VmIndex, model::HostIndex> relocating;  // VMs to place elsewhere after VM-level failures
    std::set<std::tuple<model::VmIndex, model::HostIndex, model::HostIndex>> unanswered_migrations;
    // Every attempt of a step the dead controller issued that has no answer in the journal (a step_failed
    // that timed out is no answer): (vm, kind, host, disk, incarnation, generation, attempt), where the
    // incarnation counts the controllers before (their `resumed` records): each counts attempts afresh.
    using CallKey = std::tuple<model::VmIndex, env::StepKind, model::HostIndex, model::DiskIndex,
                               std::uint32_t, std::uint32_t, std::uint32_t>;
    std::set<CallKey> unanswered_calls;
    std::set<std::tuple<model::HostIndex, std::uint32_t, std::uint32_t>>
        unanswered_fences;  // host, inc., attempt
    std::uint32_t incarnation = 0;
    auto host_of = [this](const nlohmann::json& j, const char* key) {
      return j.contains(key) ? state_.find_host(j[key].get<std::string>()) : model::kNoIndex;
    };
    // The call a step record names (nullopt when its VM, host or step kind is unknown).
    auto step_call = [&](const nlohmann::json& payload) -> std::optional<CallKey> {
      auto vm = state_.find_vm(payload.value("vm", ""));
      auto host = host_of(payload, "host");
      auto kind = env::parse_step_kind(payload.value("step", ""));
      if (vm == model::kNoIndex || host == model::kNoIndex || !kind) return std::nullopt;
      auto disk =
          payload.contains("disk") ? state_.find_disk(payload["disk"].get<std::string>()) : model::kNoIndex;
      return CallKey{
          vm, *kind, host, disk, incarnation, payload.value("generation", 0u), payload.value("attempt", 0u)};
    };
    auto touch_disks = [this](model::VmIndex vm) {
      for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) disk_hosts(d);
    };
    // Failed hosts whose fence the dead controller had begun (it may be under way: finish it).
    std::vector<bool> fence_begun(state_.hosts.size(), false);
    for (const auto& record : records) {
      auto payload = nlohmann::json::parse(record.payload, nullptr, false);
      if (payload.is_discarded()) continue;
      if (record.kind == "resumed") ++incarnation;
      if (record.kind == "host_failed") {
        auto host = host_of(payload, "host");
        if (host == model::kNoIndex || host_failed_[host]) continue;
        host_failed_[host] = true;
        state_.hosts[host].state = model::HostState::down;
        failed_order_.push_back(host);
      } else if (record.kind == "host_returned") {
        auto host = host_of(payload, "host");
        if (host == model::kNoIndex || !host_failed_[host]) continue;
        host_failed_[host] = false;
        fences_[host] = Fence{};
        ++host_returns_[host];
        fence_begun[host] = false;
        failed_order_.erase(std::remove(failed_order_.begin(), failed_order_.end(), host),
                            failed_order_.end());
        state_.hosts[host].state = model::HostState::up;
      } else if (record.kind == "fence_started") {
        auto host = host_of(payload, "host");
        if (host != model::kNoIndex)
          unanswered_fences.insert({host, incarnation, payload.value("attempt", 0u)});
        if (host != model::kNoIndex && host_failed_[host]) fence_begun[host] = true;
      } else if (record.kind == "fence_answered" ||
                 (record.kind == "fence_failed" && !payload.value("timed_out", false))) {
        auto host = host_of(payload, "host");
        if (host != model::kNoIndex)
          unanswered_fences.erase({host, incarnation, payload.value("attempt", 0u)});
      } else if (record.kind == "fence_done") {
        auto host = host_of(payload, "host");
        if (host != model::kNoIndex) {
          if (payload.contains("attempt"))
            unanswered_fences.erase({host, incarnation, payload.value("attempt", 0u)});
          fences_[host].state = Fence::State::done;
          copies_->host_fenced(host);
          for (const auto& start : unanswered_starts) {
            if (start.second == host) fenced_starts.insert(start);
          }
          for (const auto& call : unanswered_calls) {
            if (std::get<1>(call) == env::StepKind::vm_start && std::get<2>(call) == host)
              fenced_starts.insert({std::get<0>(call), host});
          }
        }
      } else if (record.kind == "plan") {
        auto placements = payload.value("placements", nlohmann::json::array());
        auto waiting_vms = payload.value("waiting", nlohmann::json::array());
        if (!placements.is_array() || !waiting_vms.is_array()) continue;  // not a recovery plan
        for (const auto& placement : placements) {
          auto vm = state_.find_vm(placement.value("vm", ""));
          auto to = state_.find_host(placement.value("to", ""));
          if (vm == model::kNoIndex || to == model::kNoIndex) continue;
          Target target{to, state_.vms[vm].priority, {}, state_.find_host(placement.value("from", ""))};
          if (auto priority = model::parse_priority(placement.value("priority", "")))
            target.priority = *priority;
          for (const auto& other : placement.value("start_after", nlohmann::json::array())) {
            auto index = state_.find_vm(other.get<std::string>());
            if (index != model::kNoIndex) target.start_after.push_back(index);
          }
          targets[vm] = std::move(target);
        }
        for (const auto& waiting : waiting_vms) {
          targets.erase(state_.find_vm(waiting.value("vm", "")));
        }
      } else if (record.kind == "step_ended_unanswered") {
        // The call ended without an answer: its slots are free; a start's outcome stays unknown (the start
        // stays in unanswered_starts: held, then of unknown outcome, at once).
        if (auto call = step_call(payload)) unanswered_calls.erase(*call);
      } else if (record.kind == "step_failed" && payload.value("timed_out", false)) {
        continue;  // a timeout ends nothing
      } else if (record.kind == "step_answered_failed" || record.kind == "step_failed") {
        // A failure answer (late or not) ends the call; a start that failed runs nowhere.
        auto call = step_call(payload);
        if (!call) continue;
        unanswered_calls.erase(*call);
        if (std::get<1>(*call) == env::StepKind::vm_start)
          unanswered_starts.erase({std::get<0>(*call), std::get<2>(*call)});
      } else if (record.kind == "step_started" || record.kind == "step_done" ||
                 record.kind == "step_answered") {
        auto call = step_call(payload);
        if (!call) continue;
        auto vm = std::get<0>(*call);
        auto kind = std::get<1>(*call);
        auto host = std::get<2>(*call);
        auto disk = std::get<3>(*call);
        bool done = record.kind != "step_started";
        touch_disks(vm);
        if (done) {
          unanswered_calls.erase(*call);
        } else {
          unanswered_calls.insert(*call);
        }
        if (kind == env::StepKind::vm_start) {
          if (done) {
            unanswered_starts.erase({vm, host});
            copies_->seen_running(vm, host);
          } else {
            unanswered_starts.insert({vm, host});
            fenced_starts.erase({vm, host});
          }
        }
        if (kind == env::StepKind::disk_map && disk != model::kNoIndex) {
          auto& hosts = disk_hosts(disk);  // mapped, or maybe mapped
          if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
          if (done) disk_confirmed_.insert(disk_host_key(disk, host));
        } else if (kind == env::StepKind::disk_unmap && disk != model::kNoIndex && done) {
          auto& hosts = disk_hosts(disk);
          hosts.erase(std::remove(hosts.begin(), hosts.end(), host), hosts.end());
          disk_confirmed_.erase(disk_host_key(disk, host));
        } else if (kind == env::StepKind::vm_start && done) {
          vm_location_[vm] = host;
        } else if (kind == env::StepKind::net_config && done) {
          net_configured_.insert(vm_host_key(vm, host));
        }
      } else if (record.kind == "vm_failed") {
        auto vm = state_.find_vm(payload.value("vm", ""));
        auto host = host_of(payload, "host");
        if (vm != model::kNoIndex && host != model::kNoIndex) relocating[vm] = host;
      } else if (record.kind == "vm_running" || record.kind == "adopted") {
        relocating.erase(state_.find_vm(payload.value("vm", "")));
        auto vm = state_.find_vm(payload.value("vm", ""));
        auto host = host_of(payload, "host");
        if (vm == model::kNoIndex || host == model::kNoIndex) continue;
        touch_disks(vm);
        vm_location_[vm] = host;
        copies_->seen_running(vm, host);
      } else if (record.kind == "migrate_started" || record.kind == "migrate_done" ||
                 record.kind == "migrate_failed" || record.kind == "cold_start_issued" ||
                 record.kind == "cold_stop_done" || record.kind == "cold_move_done") {
        // The evacuation engine's moves (it shares the journal).
        auto vm = state_.find_vm(payload.value("vm", ""));
        auto from = host_of(payload, "from");
        auto to = host_of(payload, "to");
        if (vm == model::kNoIndex || from == model::kNoIndex || to == model::kNoIndex) continue;
        if (record.kind == "migrate_started") {
          unanswered_migrations.insert({vm, from, to});
          continue;
        }
        if (record.kind ==
            "cold_stop_done") {  // stopped on `from`, homed at `to` (Evacuator's move observer)
          touch_disks(vm);
          vm_location_[vm] = to;
          copies_->proven_absent(vm, from);
          // Its disks go to `to` from here (the engine's maps are not journaled): maybe mapped there.
          for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) {
            auto& hosts = disk_hosts(d);
            if (std::find(hosts.begin(), hosts.end(), to) == hosts.end()) hosts.push_back(to);
          }
          continue;
        }
        if (record.kind == "cold_start_issued") {  // the VM may run on `to` from here
          unanswered_starts.insert({vm, to});
          fenced_starts.erase({vm, to});
          continue;
        }
        unanswered_starts.erase({vm, to});
        unanswered_migrations.erase({vm, from, to});
        if (record.kind == "migrate_failed") continue;
        touch_disks(vm);
        vm_location_[vm] = to;
        for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) set_disk_mapped_to(d, to);
        copies_->proven_absent(vm, from);
        copies_->seen_running(vm, to);
      }
    }
    // Calls the dead controller made that never answered in the journal may still be running and take effect
    // (a call slowed past its timeout is no answer). Each keeps its slots of every limit, and a start or a
    // live migration its unanswered entry in the copies set (no listing overrules it), until the environment
    // says the call ended (env::CallsInProgress); then the copies entry is of unknown outcome: a listing or
    // the host's fence decides. Without that view: for one start timeout.
    for (const auto& [vm, kind, host, disk, incarnation_of, generation, attempt] : unanswered_calls) {
      std::uint32_t resource = unlimited_resource_;
      model::HostIndex start_host = model::kNoIndex;
      if (disk != model::kNoIndex) {
        resource = array_base_ + state_.disks[disk].array;
      } else if (kind == env::StepKind::net_config && state_.hosts[host].network_switch != model::kNoIndex) {
        resource = switch_base_ + state_.hosts[host].network_switch;
      } else if (kind == env::StepKind::vm_start) {
        resource = start_resource(host);
        start_host = host;
        unanswered_starts.insert({vm, host});
      }
      // Every attempt holds its own slots (a retry may run beside the attempt it gave up on). A disk call
      // also keeps its disk busy: no map or unmap of it goes while one may still land (a late map would
      // undo an unmap issued meanwhile).
      std::function<void()> ended;
      if (disk != model::kNoIndex) {
        ++dead_disk_calls_[disk];
        ended = [this, disk = disk, resource] {
          --dead_disk_calls_[disk];
          mark_dirty(resource);
        };
      }
      hold_dead_call({kind, vm, host, model::kNoIndex, disk}, scopes_of(resource, start_host),
                     std::move(ended));
    }
    for (const auto& [vm, host] : unanswered_starts) {
      bool fenced = fenced_starts.contains({vm, host});
      if (!fenced) copies_->start_issued(vm, host);
      env::Call start{env::StepKind::vm_start, vm, host, model::kNoIndex, model::kNoIndex};
      bool executors = std::any_of(unanswered_calls.begin(), unanswered_calls.end(), [&](const CallKey& key) {
        return std::get<0>(key) == vm && std::get<1>(key) == env::StepKind::vm_start &&
               std::get<2>(key) == host;
      });
      // The evacuation engine's cold start (cold_start_issued) holds the slots an executor start does.
      hold_dead_call(start, executors ? ScopeSet{} : scopes_of(start_resource(host), host),
                     [this, vm = vm, host = host, fenced] {
                       if (!fenced) copies_->start_outcome_unknown(vm, host);
                     });
    }
    for (const auto& [vm, from, to] : unanswered_migrations) {
      copies_->migration_issued(vm, from, to);
      // One operation at each endpoint (once when shared) and one against the global limit.
      ScopeSet scopes;
      auto source = ledger_->endpoint(state_.hosts[from].endpoint);
      auto target = ledger_->endpoint(state_.hosts[to].endpoint);
      scopes.add(source);
      if (target != source) scopes.add(target);
      scopes.add(ledger_->global());
      hold_dead_call({env::StepKind::migrate, vm, to, from, model::kNoIndex}, scopes,
                     [this, vm = vm, from = from, to = to] {
                       copies_->migration_answered(vm, from, to, false);
                       copies_->maybe_running(vm, to);
                     });
    }
    for (const auto& [host, of, attempt] : unanswered_fences) {
      hold_dead_call({env::StepKind::fence, model::kNoIndex, host, model::kNoIndex, model::kNoIndex},
                     fence_scopes(), nullptr);
    }
    journal("resumed", fmt::format(R"({{"records":{}}})", records.size()));
    // Every protected VM that ran on a failed host and does not run elsewhere yet: its journaled target if
    // that is up, the planner otherwise.
    for (model::VmIndex vm = 0; vm < state_.vms.size(); ++vm) state_.vms[vm].host = vm_location_[vm];
    plan::Plan replay;
    for (model::VmIndex vm = 0; vm < state_.vms.size(); ++vm) {
      auto location = vm_location_[vm];
      if (location == model::kNoIndex || !host_failed_[location] || !state_.vms[vm].protect) continue;
      auto index = task_for(vm);
      auto found = targets.find(vm);
      if (found != targets.end() && !host_failed_[found->second.to]) {
        plan::Placement placement;
        placement.vm = vm;
        placement.from = location;
        placement.to = found->second.to;
        placement.effective_priority = found->second.priority;
        placement.start_after = found->second.start_after;
        replay.placements.push_back(std::move(placement));
      } else {
        pending_replans_.push_back(index);
      }
    }
    // VMs of a failed host the dead controller had recovered already: reported as recovered again (the
    // operation counts them), not recovered twice.
    for (const auto& [vm, target] : targets) {
      auto location = vm_location_[vm];
      // (Also one found running elsewhere than its plan's target: adopted where a late migration put it.)
      if (task_of_vm_[vm] != kNoTask || target.from == model::kNoIndex || !host_failed_[target.from] ||
          location == model::kNoIndex || host_failed_[location] || location == target.from)
        continue;
      auto& task = tasks_[task_for(vm)];
      task.from = target.from;
      task.target = location;
      task.priority = target.priority;
      task.state = VmState::running;
      task.ready_s = env_.loop.now_s();
    }
    for (auto [vm, host] : relocating) {
      if (vm_location_[vm] == host && !host_failed_[host] && state_.vms[vm].protect) relocate(vm, host);
    }
    // As at a failure: fence only where a recovery needs the proof (or where a fence was begun); a later step
    // that needs it starts it then.
    for (auto host : failed_order_) {
      if (fences_[host].state != Fence::State::done && (fence_begun[host] || fence_needed(host)))
        start_fence(host);
    }
    replay.failed_hosts = failed_order_;
    if (!replay.placements.empty()) apply_plan(replay);
    request_process();
    request_dispatch();
  }

  // A call of the dead controller with no answer: takes its slots (`scopes`, even beyond a capacity: the
  // call runs anyway) and keeps them until the environment says no such call is in progress any more (asked
  // at once, then every kDeadCallPollS), then gives them back and runs `ended`. Without env_.calls: for one
  // start timeout (a call slowed past that may still run: limits are then not kept).
  static constexpr double kDeadCallPollS = 5.0;
  void hold_dead_call(const env::Call& call, ScopeSet scopes, std::function<void()> ended) {
    ledger_->take(scopes);  // they run whether or not there is room
    auto end = [this, scopes, ended = std::move(ended)] {
      if (halted_) return;
      if (!scopes.empty()) {
        ledger_->release(scopes, listener_);
        on_ledger_released(std::span<const ScopeId>(scopes.begin(), scopes.end()));
      }
      if (ended) ended();
    };
    if (env_.calls == nullptr) {
      double grace_s = std::max(options_.min_timeout_s,
                                options_.timeout_factor * default_estimate(env::StepKind::vm_start));
      env_.loop.schedule_after(grace_s, std::move(end));
      return;
    }
    auto ask = std::make_shared<std::function<void()>>();
    *ask = [this, call, end = std::move(end), weak = std::weak_ptr<std::function<void()>>(ask)] {
      if (halted_) return;
      env_.calls->in_progress(call, [this, end, weak](bool running) {
        if (halted_) return;
        if (!running) {
          end();
          return;
        }
        if (auto again = weak.lock()) env_.loop.schedule_after(kDeadCallPollS, [again] { (*again)(); });
      });
    };
    dead_call_polls_.push_back(ask);
    (*ask)();
  }

  bool busy() const { return !ops_.empty() || retries_pending_ > 0 || process_posted_ || dispatch_posted_; }

  void finalize() {
    for (auto& task : tasks_) {
      if (task.state != VmState::recovering) continue;
      task.reason = blocked_reason(task, task.waiting_for_proof);
      set_state(task, VmState::waiting);
    }
  }

  std::vector<VmReport> report() const {
    std::vector<VmReport> result;
    result.reserve(tasks_.size());
    for (const auto& task : tasks_) {
      if (task.handed_over && task.state == VmState::running) continue;
      if (task.state == VmState::running && task.target != model::kNoIndex) {
        // Recovered, then taken by another engine whose move is unanswered (a migration whose source was cut
        // off): the VM may run on that move's target too, so the executor's "running on its target" would be
        // one move behind; the moving engine reports it (found by the torture campaign, issue 9).
        // Nor while the set is empty: the VM was proven stopped there since (a guest crash, whose restart in
        // place is the controller's to report; found by revive torture).
        auto hosts = copies_->hosts(task.vm);
        if (hosts.empty() ||
            std::any_of(hosts.begin(), hosts.end(), [&](model::HostIndex h) { return h != task.target; }))
          continue;
      }
      VmReport item;
      item.vm = task.vm;
      item.from = task.from;
      item.to = task.target;
      item.priority = task.priority;
      item.state = task.state;
      item.ready_s = task.ready_s;
      item.replans = task.replans;
      item.reason = task.reason;
      item.waiting_for_proof = task.state == VmState::waiting && task.waiting_for_proof;
      result.push_back(std::move(item));
    }
    std::sort(result.begin(), result.end(), [](const VmReport& a, const VmReport& b) { return a.vm < b.vm; });
    return result;
  }

  const model::Cloud& state() const { return state_; }
  double estimated_bound_s() const { return estimated_bound_s_; }

  std::function<void(const plan::Plan&)> plan_observer;
  plan::DecisionObserver decision_observer;
  std::function<void(model::VmIndex)> ready_observer;

 private:
  // ---- estimates ---------------------------------------------------------------------------------------

  double estimate(env::StepKind kind, model::Index subject, model::DiskIndex disk) const {
    if (env_.estimator != nullptr) return env_.estimator->expected_s(kind, subject, disk);
    return default_estimate(kind);
  }

  double timeout_for(const Step& step) const {
    auto subject = step.kind == env::StepKind::fence ? step.host : step.vm;
    return std::max(options_.min_timeout_s,
                    options_.timeout_factor * estimate(step.kind, subject, step.disk));
  }

  // ---- journal -----------------------------------------------------------------------------------------

  void journal(std::string kind, std::string payload) {
    env_.journal.append({std::move(kind), std::move(payload)});
  }

  // `timed_out`: a step_failed given up on without an answer (the call may still run: journal resume keeps
  // counting it until a step_answered of the same attempt, or the environment says it ended).
  void journal_step(const char* kind, const Step& step, std::string_view error = {}, bool timed_out = false) {
    journal_call(kind, step, step.attempts, step.generation, error, timed_out);
  }
  void journal_call(const char* kind, const Step& step, std::uint32_t attempt, std::uint32_t generation,
                    std::string_view error, bool timed_out) {
    std::string text = fmt::format(R"({{"vm":"{}","step":"{}","host":"{}")",
                                   step.vm == model::kNoIndex ? "" : json_escape(state_.vms[step.vm].name),
                                   env::to_string(step.kind), json_escape(state_.hosts[step.host].name));
    if (step.disk != model::kNoIndex)
      text += fmt::format(R"(,"disk":"{}")", json_escape(state_.disks[step.disk].name));
    text += fmt::format(R"(,"attempt":{},"generation":{})", attempt, generation);
    if (!error.empty()) text += fmt::format(R"(,"error":"{}")", json_escape(error));
    if (timed_out) text += R"(,"timed_out":true)";
    text += "}";
    journal(kind, std::move(text));
  }

  // ---- fencing -----------------------------------------------------------------------------------------

  void start_fence(model::HostIndex host) {
    if (halted_) return;
    auto& fence = fences_[host];
    if (fence.state == Fence::State::running || fence.state == Fence::State::done || fence.queued) return;
    if (env_.availability != nullptr && env_.availability->fenced(host)) {
      fence_done(host);  // confirmed already (by the detector's fence chain): no second fence
      return;
    }
    // Every fence takes a slot of the cloud's fence limit (policy fence_max_parallel) until it answers.
    if (!ledger_->try_acquire(fence_scopes(), listener_)) {
      fence.queued = true;
      fence_queue_.push_back(host);
      return;
    }
    fence.state = Fence::State::running;
    ++fence.attempts;
    journal("fence_started", fmt::format(R"({{"host":"{}","attempt":{}}})",
                                         json_escape(state_.hosts[host].name), fence.attempts));
    auto attempt = fence.attempts;
    auto timeout_s =
        std::max(options_.min_timeout_s,
                 options_.timeout_factor * estimate(env::StepKind::fence, host, model::kNoIndex));
    auto timer = env_.loop.schedule_after(timeout_s, [this, host, attempt] {
      if (fences_[host].state == Fence::State::running && fences_[host].attempts == attempt) {
        fence_failed(host, env::OperationResult::failure("fence did not answer in time"), true);
      }
    });
    ++fences_in_flight_;
    auto returns = host_returns_[host];
    env_.fencer.fence(host, [this, host, attempt, timer, returns](const env::OperationResult& result) {
      --fences_in_flight_;
      env_.loop.cancel(timer);
      ledger_->release(fence_scopes(), listener_);
      request_fence_dispatch();
      auto& current = fences_[host];
      bool same_loss = returns == host_returns_[host] && host_failed_[host];
      if (current.state != Fence::State::running || current.attempts != attempt || !same_loss) {
        // Timed out before (or confirmed by another): the call ended, which journal resume must know.
        if (halted_) return;
        journal("fence_answered", fmt::format(R"({{"host":"{}","attempt":{},"ok":{}}})",
                                              json_escape(state_.hosts[host].name), attempt, result.ok));
        // A confirmation given after the call was given up on is still the proof that the host is off (of
        // this loss of it): without it a host whose fence always answers late would hold its VMs for ever
        // (found by revive torture --check-stalls, seed 1872: a BMC slowed 37x).
        if (result.ok && same_loss && current.state != Fence::State::done) proven_off(host, attempt);
        return;
      }
      if (result.ok) {
        fence_done(host, attempt);
      } else {
        fence_failed(host, result);
      }
    });
  }

  ScopeSet fence_scopes() const {
    ScopeSet scopes;
    scopes.add(ledger_->fences());
    return scopes;
  }

  void request_fence_dispatch() {
    if (fence_dispatch_posted_ || fence_queue_.empty()) return;
    fence_dispatch_posted_ = true;
    env_.loop.post([this] {
      fence_dispatch_posted_ = false;
      while (!halted_ && !fence_queue_.empty() && ledger_->has_room(ledger_->fences())) {
        auto host = fence_queue_.front();
        fence_queue_.pop_front();
        fences_[host].queued = false;
        start_fence(host);
      }
    });
  }

  // `answered_attempt`: the fence call whose answer this is (0: confirmed otherwise, no call of ours ended).
  void fence_done(model::HostIndex host, std::uint32_t answered_attempt = 0) {
    if (halted_) return;
    auto& fence = fences_[host];
    fence.state = Fence::State::done;
    journal("fence_done", answered_attempt == 0
                              ? fmt::format(R"({{"host":"{}"}})", json_escape(state_.hosts[host].name))
                              : fmt::format(R"({{"host":"{}","attempt":{}}})",
                                            json_escape(state_.hosts[host].name), answered_attempt));
    if (env_.availability != nullptr) env_.availability->confirm_fenced(host);
    copies_->host_fenced(host);  // no copy of any VM runs there now
    // Calls in flight on the host can no longer answer: their slots are free again.
    auto ids = std::move(ops_by_host_[host]);
    ops_by_host_[host].clear();
    for (auto id : ids) {
      auto found = ops_.find(id);
      if (found == ops_.end()) continue;
      auto op = found->second;
      ops_.erase(found);
      if (!op.timed_out) env_.loop.cancel(op.timeout);
      release(op);
      const auto& step = steps_[op.step];
      if (op.attempt == step.attempts && step.state == StepState::running && step_is_current(step)) {
        // Normally the VM went back to the planner when the host was declared failed; if not, now.
        step_failed(op.step, env::OperationResult::failure("its host was fenced", true));
      }
    }
    auto waiters = std::move(fence.waiters);
    fence.waiters.clear();
    for (auto id : waiters) satisfy(id);
    request_dispatch();
  }

  // `timed_out`: given up on without an answer (the call may still run; journal resume keeps counting it).
  void fence_failed(model::HostIndex host, const env::OperationResult& result, bool timed_out = false) {
    if (halted_) return;
    auto& fence = fences_[host];
    fence.error = result.error;
    journal("fence_failed", fmt::format(R"({{"host":"{}","attempt":{},"error":"{}"{}}})",
                                        json_escape(state_.hosts[host].name), fence.attempts,
                                        json_escape(result.error), timed_out ? R"(,"timed_out":true)" : ""));
    if (fence.attempts < options_.max_fence_attempts && !result.permanent) {
      fence.state = Fence::State::none;
      ++retries_pending_;
      double backoff = options_.retry_backoff_s * std::pow(2.0, fence.attempts - 1);
      env_.loop.schedule_after(backoff, [this, host] {
        --retries_pending_;
        start_fence(host);
      });
      return;
    }
    fence.state = Fence::State::failed;
    release_reservations_out_of_sight();
    // No proof that the host's VMs stopped: none of them may start elsewhere.
    auto waiters = std::move(fence.waiters);
    fence.waiters.clear();
    for (auto id : waiters) {
      const auto& step = steps_[id];
      if (!step_is_current(step)) continue;
      auto& task = tasks_[step.task];
      if (task.state != VmState::recovering) continue;
      abandon_steps(task);
      task.reason = fmt::format(
          "host {} could not be fenced ({}); the VM may still run there, so it is not "
          "restarted: confirm the host is off",
          state_.hosts[host].name, result.error);
      task.waiting_for_proof = true;
      set_state(task, VmState::waiting);
    }
  }

  // ---- host availability -------------------------------------------------------------------------------

  bool host_available(model::HostIndex host) const {
    return env_.availability == nullptr || env_.availability->available(host);
  }

  // The shared view changed (called synchronously by it: only take note and post).
  void on_availability(model::HostIndex host, HostAvailability::Change change) {
    if (halted_) return;
    switch (change) {
      case HostAvailability::Change::unavailable:
        pending_unavailable_.push_back(host);
        request_process();
        break;
      case HostAvailability::Change::available:
      case HostAvailability::Change::room_released:
        capacity_released_ = true;  // VMs left waiting may fit there
        request_process();
        break;
      case HostAvailability::Change::fenced:
        env_.loop.post([this, host] {
          if (halted_) return;
          if (host_failed_[host] && fences_[host].state != Fence::State::done) {
            fence_done(host);
          } else {
            copies_->host_fenced(host);
          }
        });
        break;
    }
  }

  // ---- planning ----------------------------------------------------------------------------------------

  void request_process() {
    if (process_posted_) return;
    process_posted_ = true;
    env_.loop.post([this] {
      process_posted_ = false;
      process();
    });
  }

  std::uint32_t task_for(model::VmIndex vm) {
    if (task_of_vm_[vm] == kNoTask) {
      task_of_vm_[vm] = static_cast<std::uint32_t>(tasks_.size());
      Task task;
      task.vm = vm;
      task.from = vm_location_[vm];
      task.priority = state_.vms[vm].priority;
      task.state = VmState::waiting;  // not yet counted anywhere
      tasks_.push_back(std::move(task));
    }
    return task_of_vm_[vm];
  }

  void process() {
    if (halted_) return;
    std::set<std::uint32_t> moving;  // tasks to plan, in task order
    if (!pending_failed_hosts_.empty()) {
      // Every protected VM that runs, or is being recovered onto, a newly failed host moves. The VMs of a
      // host down in the inventory are not expected to run (docs/inventory.md): its loss recovers nothing.
      std::vector<std::uint8_t> newly_failed(state_.hosts.size(), 0);
      for (auto host : pending_failed_hosts_) newly_failed[host] = down_in_inventory_[host] ? 0 : 1;
      pending_failed_hosts_.clear();
      for (model::VmIndex vm = 0; vm < state_.vms.size(); ++vm) {
        auto host = state_.vms[vm].host;
        if (host == model::kNoIndex || !newly_failed[host] || !state_.vms[vm].protect) continue;
        auto index = task_for(vm);
        auto& task = tasks_[index];
        if (task.state == VmState::recovering) abandon_steps(task);
        task.handed_over = false;
        moving.insert(index);
      }
    }
    if (!pending_unavailable_.empty()) {
      // VMs planned onto a host that is no longer available, whose start has not begun, go elsewhere.
      std::vector<std::uint8_t> gone(state_.hosts.size(), 0);
      for (auto host : pending_unavailable_) gone[host] = !host_available(host) && !host_failed_[host];
      pending_unavailable_.clear();
      for (std::uint32_t index = 0; index < tasks_.size(); ++index) {
        auto& task = tasks_[index];
        if (task.state != VmState::recovering || task.target == model::kNoIndex || !gone[task.target])
          continue;
        if (task.start_step != kNoStep && steps_[task.start_step].attempts > 0) continue;  // began there
        journal("replan", fmt::format(R"({{"vm":"{}","error":"target {} is no longer available"}})",
                                      json_escape(state_.vms[task.vm].name),
                                      json_escape(state_.hosts[task.target].name)));
        abandon_steps(task);
        moving.insert(index);
      }
    }
    for (auto index : pending_replans_) moving.insert(index);
    pending_replans_.clear();
    if (capacity_released_) {
      capacity_released_ = false;
      for (std::uint32_t index = 0; index < tasks_.size(); ++index) {
        if (tasks_[index].state == VmState::waiting && tasks_[index].target == model::kNoIndex)
          moving.insert(index);
      }
    }
    if (moving.empty()) return;

    // One planner call per distinct set of excluded hosts (usually one).
    std::map<std::vector<model::HostIndex>, std::vector<model::VmIndex>> groups;
    for (auto index : moving) {
      auto& task = tasks_[index];
      auto excluded = task.excluded;
      std::sort(excluded.begin(), excluded.end());
      excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
      groups[excluded].push_back(task.vm);
      // For the planner the VM sits on a failed host, holding no capacity anywhere.
      state_.vms[task.vm].host = vm_location_[task.vm];
    }
    std::vector<model::HostIndex> failed = failed_order_;
    std::sort(failed.begin(), failed.end());
    // Hosts being drained or not up receive nothing while they are so.
    std::vector<model::HostIndex> unavailable;
    for (model::HostIndex host = 0; host < state_.hosts.size(); ++host) {
      if (!host_failed_[host] && !host_available(host)) unavailable.push_back(host);
    }
    for (auto& [excluded, vms] : groups) {
      plan::PlanRequest request;
      request.failed_hosts = failed;
      request.only_vms = vms;
      std::set_union(excluded.begin(), excluded.end(), unavailable.begin(), unavailable.end(),
                     std::back_inserter(request.excluded_hosts));
      auto started = std::chrono::steady_clock::now();
      plan::Plan result;
      {
        // The planner sees the room the evacuation engine has planned onto hosts and not yet used as taken.
        ReservedRoom room(state_, env_.availability, planner_id_, copies_);
        std::optional<plan::Plan> saved;
        if (options_.saved_plan) saved = options_.saved_plan(state_, request);
        result = saved ? std::move(*saved) : plan::plan_failover(state_, request, options_.planner);
        if (decision_observer) {
          std::string trigger = "recovery of failed hosts:";
          for (auto host : failed) trigger += " " + state_.hosts[host].name;
          decision_observer(
              {"recovery", trigger, env_.loop.now_s(), state_, request, options_.planner, result});
        }
      }
      auto planned = std::chrono::steady_clock::now();
      apply_plan(result);
      if (profile_) {
        std::fprintf(
            stderr,
            "profile: executor plan of %zu VMs: planner %.1f ms, steps + deadlines %.1f ms (estimated bound "
            "%.1f s, "
            "projected makespan %.1f s)\n",
            vms.size(), std::chrono::duration<double, std::milli>(planned - started).count(),
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - planned).count(),
            estimated_bound_s_, projected_makespan_s_);
      }
    }
    request_dispatch();
  }

  void apply_plan(const plan::Plan& result) {
    if (plan_observer) plan_observer(result);
    journal("plan", plan::to_json(state_, result).dump());
    double now = env_.loop.now_s();
    for (const auto& waiting : result.waiting) {
      auto& task = tasks_[task_for(waiting.vm)];
      task.priority = waiting.effective_priority;
      task.target = model::kNoIndex;
      task.reason = waiting.reason;
      task.waiting_for_proof = false;
      state_.vms[task.vm].host = vm_location_[task.vm];
      set_state(task, VmState::waiting);
    }
    if (result.placements.empty()) return;
    // One pass of the planner over many VMs can leave some waiting that fit once the others are placed:
    // give the waiting ones a pass of their own (this stops as soon as a pass places nobody).
    if (!result.waiting.empty()) {
      capacity_released_ = true;
      request_process();
    }
    compute_deadlines(result, now);
    for (const auto& placement : result.placements) {
      auto& task = tasks_[task_for(placement.vm)];
      task.target = placement.to;
      task.priority = placement.effective_priority;
      task.start_after = placement.start_after;
      task.order = next_order_++;
      task.reason.clear();
      state_.vms[task.vm].host = placement.to;
      set_state(task, VmState::recovering);
      build_steps(task);
    }
  }

  double fence_done_estimate(model::HostIndex host, double now) const {
    if (host == model::kNoIndex || fences_[host].state == Fence::State::done || !host_failed_[host])
      return now;
    if (host < fence_etas_.size()) return std::max(now, fence_etas_[host]);
    return now + estimate(env::StepKind::fence, host, model::kNoIndex);
  }

  // When each failed host's fence is expected to be confirmed (fence_etas_): a running fence (or one between
  // retries) an estimate from now, the queued ones in queue order, each in the next slot of the fence limit
  // to come free. With many hosts failed at once the fences come in waves, and the starts of a late wave's
  // VMs wait for them: the what-if schedule must know that.
  void estimate_fences(double now) {
    fence_etas_.assign(state_.hosts.size(), now);
    std::priority_queue<double, std::vector<double>, std::greater<>> slots;
    std::size_t busy = 0;
    for (model::HostIndex h = 0; h < state_.hosts.size(); ++h) {
      if (!host_failed_[h] || fences_[h].state == Fence::State::done || fences_[h].queued) continue;
      fence_etas_[h] = now + estimate(env::StepKind::fence, h, model::kNoIndex);
      if (fences_[h].state == Fence::State::running) {
        slots.push(fence_etas_[h]);
        ++busy;
      }
    }
    std::size_t limit = ledger_->capacity(ledger_->fences());
    for (std::size_t k = busy; k < limit && k < busy + fence_queue_.size(); ++k) slots.push(now);
    for (auto host : fence_queue_) {
      double begin = now;
      if (!slots.empty()) {
        begin = std::max(now, slots.top());
        slots.pop();
      }
      fence_etas_[host] = begin + estimate(env::StepKind::fence, host, model::kNoIndex);
      slots.push(fence_etas_[host]);
    }
  }

  // revive: fences still queued go in the order their VMs need them: the host whose VM's start must begin
  // first for every resource to end by the target (a backward schedule, DryRun::latest_begins) is fenced
  // first. First come first served otherwise (the other strategies, and hosts with no VM in this plan).
  void order_fence_queue(const plan::Plan& result, double target_s, double now) {
    if (fence_queue_.size() < 2) return;
    auto dry = dry_vms(result, now);
    DryRun dry_run(capacity_, state_.policy.host_max_parallel_restarts,
                   static_cast<std::uint32_t>(state_.hosts.size()));
    auto latest = dry_run.latest_begins(dry, target_s);
    std::unordered_map<model::HostIndex, double> need;
    for (std::size_t i = 0; i < dry.size(); ++i) {
      auto source = vm_location_[result.placements[i].vm];
      if (source == model::kNoIndex) continue;
      double preparation = dry[i].net_resource != UINT32_MAX ? dry[i].net_s : 0.0;
      for (const auto& disk : dry[i].disks) {
        preparation = std::max(preparation,
                               (disk.needs_unmap ? disk.unmap_s : 0.0) + (disk.needs_map ? disk.map_s : 0.0));
      }
      auto [it, inserted] = need.emplace(source, latest[i] + preparation);
      if (!inserted) it->second = std::min(it->second, latest[i] + preparation);
    }
    auto key = [&](model::HostIndex host) {
      auto found = need.find(host);
      return found == need.end() ? std::numeric_limits<double>::infinity() : found->second;
    };
    std::stable_sort(fence_queue_.begin(), fence_queue_.end(),
                     [&](model::HostIndex a, model::HostIndex b) { return key(a) < key(b); });
    if (profile_) {
      for (auto host : fence_queue_)
        fmt::print(stderr, "profile: fence queue {} needed by {:.1f} s\n", state_.hosts[host].name,
                   key(host));
    }
  }

  // Deadlines for the revive strategy: a VM must begin preparing no later than (estimated bound - its
  // preparation - its start) to keep the makespan at the bound, and its tier would begin around the moment
  // the work of the higher tiers fits through the busiest scope. Its deadline is the earlier of the two.
  // Preparation (disk and network steps) may begin now, at the declaration; the start waits for the fence.
  void compute_deadlines(const plan::Plan& result, double now) {
    auto duration = [this](env::StepKind kind, model::Index subject, model::DiskIndex disk) {
      return estimate(kind, subject, disk);
    };
    std::vector<BoundVm> bound_vms;
    bound_vms.reserve(result.placements.size());
    std::unordered_map<model::VmIndex, std::uint32_t> index_of;
    for (std::size_t i = 0; i < result.placements.size(); ++i) {
      index_of[result.placements[i].vm] = static_cast<std::uint32_t>(i);
    }
    double earliest = now;
    estimate_fences(now);
    for (const auto& placement : result.placements) {
      double fence_done = fence_done_estimate(vm_location_[placement.vm], now);
      BoundVm item{placement.vm, placement.to, now, fence_done, {}};
      for (auto other : placement.start_after) {
        auto found = index_of.find(other);
        if (found != index_of.end()) item.after.push_back(found->second);
      }
      bound_vms.push_back(std::move(item));
    }
    auto bound = lower_bound(state_, bound_vms, duration, options_.global_max_parallel);
    if (options_.strategy == Strategy::revive && options_.schedule_passes > 0 && fence_queue_.size() > 1) {
      order_fence_queue(result, bound.tight_s, now);
      estimate_fences(now);
      for (std::size_t i = 0; i < result.placements.size(); ++i) {
        bound_vms[i].fence_done_s = fence_done_estimate(vm_location_[result.placements[i].vm], now);
      }
      bound = lower_bound(state_, bound_vms, duration, options_.global_max_parallel);
    }
    // The tight form (bound.h): what the schedule can reach, so what the deadlines aim for.
    estimated_bound_s_ = std::max(estimated_bound_s_, bound.tight_s);
    double target_s = bound.tight_s;

    // Work per tier and scope: arrays, switches, endpoints, target hosts.
    std::size_t scopes = capacity_.size() + state_.hosts.size();
    std::vector<std::array<double, model::kPriorityCount>> work(scopes);
    std::vector<double> limit(scopes, 1.0);
    for (std::size_t r = 0; r < capacity_.size(); ++r) limit[r] = capacity_[r];
    for (std::size_t h = 0; h < state_.hosts.size(); ++h) {
      limit[capacity_.size() + h] = std::max<std::uint32_t>(1, state_.policy.host_max_parallel_restarts);
    }
    std::vector<double> preparation(result.placements.size()), start(result.placements.size());
    for (std::size_t i = 0; i < result.placements.size(); ++i) {
      const auto& placement = result.placements[i];
      auto vm = placement.vm;
      auto tier = static_cast<int>(placement.effective_priority);
      preparation[i] = preparation_s(state_, vm, placement.to, duration);
      start[i] = estimate(env::StepKind::vm_start, vm, model::kNoIndex);
      for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) {
        work[array_base_ + state_.disks[d].array][tier] +=
            estimate(env::StepKind::disk_unmap, vm, d) + estimate(env::StepKind::disk_map, vm, d);
      }
      const auto& target = state_.hosts[placement.to];
      if (target.network_switch != model::kNoIndex) {
        work[switch_base_ + target.network_switch][tier] +=
            estimate(env::StepKind::net_config, vm, model::kNoIndex);
      }
      work[start_resource(placement.to)][tier] += start[i];
      work[capacity_.size() + placement.to][tier] += start[i];
    }
    std::array<double, model::kPriorityCount> tier_begin{};
    for (int tier = 1; tier < model::kPriorityCount; ++tier) {
      double latest = 0.0;
      for (std::size_t s = 0; s < scopes; ++s) {
        double before = 0.0;
        for (int higher = 0; higher < tier; ++higher) before += work[s][higher];
        latest = std::max(latest, before / limit[s]);
      }
      tier_begin[tier] = latest;
    }
    std::vector<double> base(result.placements.size()), floor(result.placements.size(), earliest);
    for (std::size_t i = 0; i < result.placements.size(); ++i) {
      const auto& placement = result.placements[i];
      auto& task = tasks_[task_for(placement.vm)];
      double chain = preparation[i] + start[i];
      task.chain_s = chain;
      double latest_begin = target_s - chain;
      double tier_deadline = earliest + tier_begin[static_cast<int>(placement.effective_priority)];
      base[i] = options_.strategy == Strategy::revive
                    ? std::min(latest_begin, tier_deadline)
                    : static_cast<double>(static_cast<int>(placement.effective_priority));
    }
    if (options_.strategy == Strategy::revive && options_.schedule_passes > 0) {
      base = repair_deadlines(result, base, floor, target_s, now);
    }
    for (std::size_t i = 0; i < result.placements.size(); ++i) {
      tasks_[task_for(result.placements[i].vm)].deadline = base[i];
    }
  }

  // Runs the schedule on estimates and pulls the deadlines of VMs that would end after the bound earlier,
  // never ahead of the critical tier (floor), so the critical VMs keep every slot they need first.
  std::vector<double> repair_deadlines(const plan::Plan& result, const std::vector<double>& base,
                                       const std::vector<double>& floor, double target_s, double now) {
    auto dry = dry_vms(result, now);
    DryRun dry_run(capacity_, state_.policy.host_max_parallel_restarts,
                   static_cast<std::uint32_t>(state_.hosts.size()));
    auto passes = static_cast<int>(options_.schedule_passes);
    // Starting points: tier-aware deadlines, and longest chain first (what a resource that is the bottleneck
    // needs: the long starts early, the short ones fill the end); each repaired aiming exactly at the target
    // and, when robust_margin > 0, keeping that share of each start as slack.
    struct Candidate {
      std::vector<double> deadlines;
      double projected_s = 0.0;
    };
    std::vector<Candidate> candidates;
    std::vector<double> margins{0.0};
    bool robust =
        options_.robust_samples > 0 && options_.robust_margin > 0 && dry.size() <= options_.robust_max_vms;
    if (robust) margins.push_back(options_.robust_margin);
    for (double margin : margins) {
      for (auto& item : dry) item.margin_s = margin * item.start_s;
      Candidate tiered, longest_first;
      tiered.deadlines = dry_run.repair(dry, base, floor, target_s, passes, &tiered.projected_s);
      longest_first.deadlines.resize(base.size());
      for (std::size_t i = 0; i < base.size(); ++i) {
        longest_first.deadlines[i] = result.placements[i].effective_priority == model::Priority::critical
                                         ? base[i]
                                         : std::max(floor[i], target_s - dry[i].chain_s - dry[i].margin_s);
      }
      longest_first.deadlines =
          dry_run.repair(dry, longest_first.deadlines, floor, target_s, passes, &longest_first.projected_s);
      // Latest begins from a backward schedule of every resource (what a resource that binds needs: its
      // VMs in the order that ends them all by the target, the long steps first).
      Candidate backward;
      backward.deadlines = dry_run.latest_begins(dry, target_s);
      for (std::size_t i = 0; i < base.size(); ++i) {
        backward.deadlines[i] = result.placements[i].effective_priority == model::Priority::critical
                                    ? std::min(base[i], backward.deadlines[i])
                                    : std::max(floor[i], backward.deadlines[i]);
      }
      backward.deadlines =
          dry_run.repair(dry, backward.deadlines, floor, target_s, passes, &backward.projected_s);
      candidates.push_back(std::move(tiered));
      candidates.push_back(std::move(longest_first));
      candidates.push_back(std::move(backward));
    }
    for (auto& item : dry) item.margin_s = 0.0;
    std::size_t chosen = 0;
    if (!robust) {
      // The tier-aware one is kept unless the other is projected more than 1% shorter.
      chosen = candidates[1].projected_s < 0.99 * candidates[0].projected_s ? 1 : 0;
    } else {
      // Estimates are habits, not this run's durations: each candidate is scored by its mean makespan over
      // a few runs of the what-if schedule with every duration perturbed (log-normal, estimate_noise), the
      // same perturbations for all; the earlier candidate wins unless another is more than 0.5% better.
      std::vector<std::vector<double>> makespans(candidates.size());
      for (std::uint32_t sample = 0; sample < options_.robust_samples; ++sample) {
        auto noisy = perturbed(dry, sample);
        for (std::size_t c = 0; c < candidates.size(); ++c) {
          auto finish = dry_run.finish_times(noisy, candidates[c].deadlines);
          double makespan = 0.0;
          for (double f : finish) {
            if (f != std::numeric_limits<double>::infinity()) makespan = std::max(makespan, f);
          }
          makespans[c].push_back(makespan);
        }
      }
      std::vector<double> score(candidates.size(), 0.0);
      for (std::size_t c = 0; c < candidates.size(); ++c) {
        for (double makespan : makespans[c]) score[c] += makespan / options_.robust_samples;
      }
      for (std::size_t c = 1; c < candidates.size(); ++c) {
        if (score[c] < 0.995 * score[chosen]) chosen = c;
      }
      if (profile_) {
        for (std::size_t c = 0; c < candidates.size(); ++c)
          fmt::print(stderr, "profile: candidate {} projected {:.1f} score {:.1f}\n", c,
                     candidates[c].projected_s, score[c]);
      }
    }
    projected_makespan_s_ = candidates[chosen].projected_s;
    return std::move(candidates[chosen].deadlines);
  }

  // The what-if VMs of a plan: their steps, resources and estimated durations as the dispatcher will see
  // them.
  std::vector<DryVm> dry_vms(const plan::Plan& result, double now) {
    std::vector<DryVm> dry(result.placements.size());
    std::unordered_map<model::VmIndex, std::uint32_t> index_of;
    for (std::size_t i = 0; i < result.placements.size(); ++i) {
      index_of[result.placements[i].vm] = static_cast<std::uint32_t>(i);
    }
    for (std::size_t i = 0; i < result.placements.size(); ++i) {
      const auto& placement = result.placements[i];
      auto vm = placement.vm;
      auto target = placement.to;
      auto& item = dry[i];
      const auto& task = tasks_[task_for(vm)];
      item.release_s = now;  // disk and network steps may begin at the declaration
      item.fence_s = fence_done_estimate(vm_location_[vm], now);
      item.priority = static_cast<std::uint8_t>(placement.effective_priority);
      item.chain_s = task.chain_s;
      item.order = i;
      for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) {
        DryDisk disk;
        disk.resource = array_base_ + state_.disks[d].array;
        const auto& hosts = disk_hosts(d);
        disk.needs_map = !disk_confirmed_.count(disk_host_key(d, target));
        disk.needs_unmap =
            std::any_of(hosts.begin(), hosts.end(), [&](model::HostIndex h) { return h != target; });
        disk.unmap_s = estimate(env::StepKind::disk_unmap, vm, d);
        disk.map_s = estimate(env::StepKind::disk_map, vm, d);
        if (disk.needs_map || disk.needs_unmap) item.disks.push_back(disk);
      }
      auto network_switch = state_.hosts[target].network_switch;
      if (network_switch != model::kNoIndex) {
        item.net_resource = switch_base_ + network_switch;
        item.net_s = estimate(env::StepKind::net_config, vm, model::kNoIndex);
      }
      item.start_resource = start_resource(target);
      item.start_host = target;
      item.start_s = estimate(env::StepKind::vm_start, vm, model::kNoIndex);
      for (auto other : placement.start_after) {
        auto found = index_of.find(other);
        if (found != index_of.end()) item.after.push_back(found->second);
      }
    }
    return dry;
  }

  // The what-if VMs with every duration scaled by exp(estimate_noise x z), z a standard normal keyed by
  // (VM, sample, step) alone: deterministic, the same for every candidate.
  std::vector<DryVm> perturbed(const std::vector<DryVm>& dry, std::uint32_t sample) const {
    auto scale = [&](std::size_t v, std::uint64_t what, double sigma) {
      std::uint64_t h = mix(mix(mix(0x5eedULL + sample) ^ v) ^ what);
      double u1 = (static_cast<double>(h >> 11) + 1.0) * 0x1.0p-53;
      double u2 = static_cast<double>(mix(h) >> 11) * 0x1.0p-53;
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
      return std::exp(sigma * z);
    };
    double start_sigma = noise_spread(env::StepKind::vm_start),
           net_sigma = noise_spread(env::StepKind::net_config),
           unmap_sigma = noise_spread(env::StepKind::disk_unmap),
           map_sigma = noise_spread(env::StepKind::disk_map);
    auto noisy = dry;
    for (std::size_t v = 0; v < noisy.size(); ++v) {
      auto& item = noisy[v];
      item.start_s *= scale(v, 1, start_sigma);
      item.net_s *= scale(v, 2, net_sigma);
      for (std::size_t d = 0; d < item.disks.size(); ++d) {
        item.disks[d].unmap_s *= scale(v, 16 + 2 * d, unmap_sigma);
        item.disks[d].map_s *= scale(v, 17 + 2 * d, map_sigma);
      }
    }
    return noisy;
  }

  // The noise of this run's durations of `kind` around the estimates: the estimator's, else estimate_noise.
  double noise_spread(env::StepKind kind) const {
    if (env_.estimator != nullptr) {
      if (auto spread = env_.estimator->noise_spread(kind)) return *spread;
    }
    return options_.estimate_noise;
  }

  static std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  // ---- step graphs -------------------------------------------------------------------------------------

  std::uint32_t start_resource(model::HostIndex host) const {
    auto endpoint = state_.hosts[host].endpoint;
    return endpoint == model::kNoIndex ? unlimited_resource_ : endpoint_base_ + endpoint;
  }

  std::vector<model::HostIndex>& disk_hosts(model::DiskIndex disk) {
    auto found = disk_hosts_.find(disk);
    if (found != disk_hosts_.end()) return found->second;
    auto& hosts = disk_hosts_[disk];
    auto owner = vm_location_[state_.disks[disk].vm];
    if (owner != model::kNoIndex) {
      hosts.push_back(owner);
      disk_confirmed_.insert(disk_host_key(disk, owner));
    }
    return hosts;
  }

  StepId new_step(Task& task, env::StepKind kind, model::DiskIndex disk, model::HostIndex host,
                  std::uint32_t resource) {
    auto id = static_cast<StepId>(steps_.size());
    Step step;
    step.kind = kind;
    step.vm = task.vm;
    step.disk = disk;
    step.host = host;
    step.task = task_of_vm_[task.vm];
    step.generation = task.generation;
    step.resource = resource;
    step.sequence = static_cast<std::uint32_t>(task.steps.size());
    if (options_.strategy == Strategy::revive && task.priority == model::Priority::critical) {
      step.reserves = true;
      ++critical_future_[resource];
      if (kind == env::StepKind::vm_start) ++critical_host_future_[host];
    }
    steps_.push_back(std::move(step));
    task.steps.push_back(id);
    return id;
  }

  void add_dependency(StepId before, StepId after) {
    steps_[before].successors.push_back(after);
    ++steps_[after].unmet;
  }

  void add_fence_dependency(StepId step, model::HostIndex host) {
    if (host == model::kNoIndex || !host_failed_[host]) return;
    auto& fence = fences_[host];
    if (fence.state == Fence::State::done) return;
    if (fence.state == Fence::State::failed) {
      fence.state = Fence::State::none;
      fence.attempts = 0;
    }
    start_fence(host);  // not started at the failure when nothing needed it then (fence_needed)
    fence.waiters.push_back(step);
    ++steps_[step].unmet;
  }

  void build_steps(Task& task) {
    task.steps.clear();
    auto vm = task.vm;
    auto target = task.target;
    auto array_resource = [this](model::DiskIndex d) { return array_base_ + state_.disks[d].array; };
    std::vector<model::DiskIndex> disks;
    for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) disks.push_back(d);
    if (options_.strategy == Strategy::revive) {
      // Longest unmap+map pair first: it decides when the VM can start.
      std::vector<std::pair<double, model::DiskIndex>> ordered;
      for (auto d : disks) {
        ordered.emplace_back(
            -(estimate(env::StepKind::disk_unmap, vm, d) + estimate(env::StepKind::disk_map, vm, d)), d);
      }
      std::sort(ordered.begin(), ordered.end());
      for (std::size_t i = 0; i < disks.size(); ++i) disks[i] = ordered[i].second;
    }
    std::vector<StepId> before_start;
    std::vector<StepId> sequence;  // for serial: every step in this order
    for (auto d : disks) {
      auto hosts = disk_hosts(d);  // a copy: steps below do not change beliefs yet
      // Wherever a copy may run, its disks may be mapped (a live migration hands them over): unmapped too,
      // once that host is proven empty of the VM.
      for (auto host : copies_->hosts(vm)) {
        if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
          hosts.push_back(host);
          disk_hosts(d).push_back(host);
        }
      }
      std::sort(hosts.begin(), hosts.end());
      std::vector<StepId> unmaps;
      for (auto host : hosts) {
        if (host == target) continue;
        // From a host declared failed the unmap goes at once: taking its disks away is itself a fence
        // (whatever still runs there loses its storage); only the start waits for the confirmed fence.
        // From a live host it waits for proof that no copy runs there (copies_allow).
        auto unmap = new_step(task, env::StepKind::disk_unmap, d, host, array_resource(d));
        unmaps.push_back(unmap);
        sequence.push_back(unmap);
      }
      // Only a map answered ok counts: a map given up on (timed out) may or may not have taken effect.
      if (!disk_confirmed_.count(disk_host_key(d, target))) {
        auto map = new_step(task, env::StepKind::disk_map, d, target, array_resource(d));
        for (auto unmap : unmaps) add_dependency(unmap, map);
        before_start.push_back(map);
        sequence.push_back(map);
      } else {
        before_start.insert(before_start.end(), unmaps.begin(), unmaps.end());
      }
    }
    auto location = vm_location_[vm];
    auto network_switch = state_.hosts[target].network_switch;
    if (network_switch != model::kNoIndex && !net_configured_.count(vm_host_key(vm, target))) {
      // Configuring the target's networks harms nothing while the VM is not started: no fence needed.
      auto net =
          new_step(task, env::StepKind::net_config, model::kNoIndex, target, switch_base_ + network_switch);
      before_start.push_back(net);
      sequence.push_back(net);
    }
    auto start = new_step(task, env::StepKind::vm_start, model::kNoIndex, target, start_resource(target));
    task.start_step = start;
    add_fence_dependency(start, location);
    for (auto step : before_start) add_dependency(step, start);
    for (auto other : task.start_after) {
      if (other == vm) continue;
      auto other_task = task_of_vm_[other];
      if (other_task == kNoTask || tasks_[other_task].state == VmState::running) continue;
      after_waiters_[other].push_back(start);
      ++steps_[start].unmet;
    }
    if (options_.strategy == Strategy::serial) {
      for (std::size_t i = 1; i < sequence.size(); ++i) add_dependency(sequence[i - 1], sequence[i]);
    }
    for (auto id : task.steps) {
      if (steps_[id].unmet == 0) make_ready(id);
    }
  }

  bool step_is_current(const Step& step) const {
    const auto& task = tasks_[step.task];
    return step.generation == task.generation && task.state == VmState::recovering;
  }

  // One dependency of a blocked step is met.
  void satisfy(StepId id) {
    auto& step = steps_[id];
    if (step.state != StepState::blocked || !step_is_current(step)) return;
    if (step.unmet > 0 && --step.unmet == 0) make_ready(id);
  }

  bool tier_open(int tier) const {
    if (options_.strategy != Strategy::parallel) return true;
    for (int higher = 0; higher < tier; ++higher) {
      if (tier_unfinished_[higher] > 0) return false;
    }
    return true;
  }

  void make_ready(StepId id) {
    auto& step = steps_[id];
    const auto& task = tasks_[step.task];
    auto tier = static_cast<int>(task.priority);
    if (!tier_open(tier)) {
      step.state = StepState::held;
      held_[tier].push_back(id);
      return;
    }
    bool proof_out_of_sight = false;
    if (step.kind == env::StepKind::vm_start || step.kind == env::StepKind::disk_unmap) {
      if (!copies_allow(step)) {
        seek_proofs(task);
        proof_out_of_sight = !proof_in_sight(task);
      }
    }
    if (proof_out_of_sight) {
      // A critical VM whose step waits for a proof no fence is bringing (a copy may run on a host that is cut
      // off but not declared failed) holds no slot back with any of its steps: it could wait for ever, and
      // the slots with it (found by revive torture --check-stalls, seed 1244: the start of a critical VM
      // whose unmap waited so held a host's only start slot). Its steps hold them again once ready.
      release_reservations(task);
    } else if (options_.strategy == Strategy::revive && task.priority == model::Priority::critical &&
               !step.reserves) {
      // A critical step ready again (a retry) holds its slot back again: else the slots held back for its
      // VM's later critical steps (its maps wait for this unmap) could block it for good.
      step.reserves = true;
      ++critical_future_[step.resource];
      if (step.kind == env::StepKind::vm_start) ++critical_host_future_[step.host];
    }
    step.state = StepState::ready;
    step.queued = ReadyKey{
        task.deadline, static_cast<std::uint8_t>(tier), -task.chain_s, task.order, step.sequence, id};
    step.in_critical_queue = step.reserves;
    queue_of(step).insert(step.queued);
    mark_dirty(step.resource);
  }

  void release_held() {
    for (int tier = 0; tier < model::kPriorityCount; ++tier) {
      if (!tier_open(tier) || held_[tier].empty()) continue;
      auto held = std::move(held_[tier]);
      held_[tier].clear();
      for (auto id : held) {
        auto& step = steps_[id];
        if (step.state == StepState::held && step_is_current(step)) make_ready(id);
      }
    }
  }

  void set_state(Task& task, VmState state) {
    auto tier = static_cast<int>(task.priority);
    if (task.counted_in_tier) {
      --tier_unfinished_[task.counted_tier];
      task.counted_in_tier = false;
    }
    task.state = state;
    if (state == VmState::recovering) {
      task.counted_in_tier = true;
      task.counted_tier = tier;
      ++tier_unfinished_[tier];
    } else if (options_.strategy == Strategy::parallel) {
      release_held();
    }
  }

  // Takes the task's current steps out of play; steps in flight finish as stale.
  void abandon_steps(Task& task) {
    for (auto id : task.steps) {
      auto& step = steps_[id];
      unreserve(step);
      if (step.state == StepState::ready) {
        queue_of(step).erase(step.queued);
        step.state = StepState::abandoned;
        wants_dropped(step.resource, step.kind == env::StepKind::vm_start ? step.host : model::kNoIndex);
      } else if (step.state == StepState::blocked || step.state == StepState::held ||
                 step.state == StepState::retry_wait) {
        step.state = StepState::abandoned;
      }
    }
    task.steps.clear();
    task.start_step = kNoStep;
    ++task.generation;
  }

  void replan(Task& task, model::HostIndex exclude, const std::string& error) {
    abandon_steps(task);
    task.last_error = error;
    if (exclude != model::kNoIndex) task.excluded.push_back(exclude);
    ++task.replans;
    state_.vms[task.vm].host = vm_location_[task.vm];
    capacity_released_ = true;
    journal("replan", fmt::format(R"({{"vm":"{}","error":"{}"}})", json_escape(state_.vms[task.vm].name),
                                  json_escape(error)));
    if (task.replans > options_.max_replans) {
      task.reason = fmt::format("gave up after {} targets; last error: {}", task.replans, error);
      task.target = model::kNoIndex;
      set_state(task, VmState::failed);
    } else {
      pending_replans_.push_back(task_of_vm_[task.vm]);
    }
    request_process();
  }

  // ---- dispatching -------------------------------------------------------------------------------------

  void mark_dirty(std::uint32_t resource) {
    if (!dirty_[resource]) {
      dirty_[resource] = 1;
      dirty_list_.push_back(resource);
    }
    request_dispatch();
  }

  void request_dispatch() {
    if (dispatch_posted_) return;
    dispatch_posted_ = true;
    env_.loop.post([this] {
      dispatch_posted_ = false;
      dispatch();
    });
  }

  bool is_storage(std::uint32_t resource) const { return resource < switch_base_; }

  // Operations in flight on the resource (every engine's, for the ledger's scopes).
  std::uint32_t busy(std::uint32_t resource) const {
    return resource == unlimited_resource_ ? unlimited_busy_ : ledger_->in_flight(resource);
  }

  // The ledger scopes an operation on `resource` holds; `start_host`: the target of a VM start.
  ScopeSet scopes_of(std::uint32_t resource, model::HostIndex start_host) const {
    ScopeSet scopes;
    if (resource != unlimited_resource_) scopes.add(resource);
    if (start_host != model::kNoIndex) scopes.add(ledger_->host_starts(start_host));
    scopes.add(ledger_->global());
    return scopes;
  }

  // Another engine released slots of `scopes`: the resources whose steps may now run are looked at again.
  void on_ledger_released(std::span<const ScopeId> scopes) {
    for (auto scope : scopes) {
      if (scope == ledger_->fences()) {
        request_fence_dispatch();
        continue;
      }
      if (scope == ledger_->global()) {
        for (std::uint32_t r = 0; r < queues_.size(); ++r) mark_dirty(r);
      } else if (ledger_->is_host_starts(scope)) {
        mark_dirty(start_resource(ledger_->host_of(scope)));
      } else if (scope < unlimited_resource_) {
        mark_dirty(scope);
      }
    }
  }

  // Whether the executor would take a free slot of `scope` now (the ledger then holds it back from less
  // urgent engines): it has a step ready for it that its other limits allow, or holds the slot back for
  // critical steps not ready yet.
  bool wants(ScopeId scope) {
    if (scope == ledger_->fences()) return !fence_queue_.empty();
    if (scope == ledger_->global()) {
      for (std::uint32_t r = 0; r < queues_.size(); ++r) {
        if (wants_resource(r)) return true;
      }
      return false;
    }
    if (ledger_->is_host_starts(scope)) {
      auto host = ledger_->host_of(scope);
      auto resource = start_resource(host);
      for (auto* queue : {&critical_queues_[resource], &queues_[resource]}) {
        for (const auto& key : *queue) {
          const auto& step = steps_[key.step];
          if (step.kind == env::StepKind::vm_start && step.host == host && can_take(step)) return true;
        }
      }
      return false;
    }
    return scope < unlimited_resource_ && wants_resource(scope);
  }

  bool wants_resource(std::uint32_t resource) {
    if (critical_future_[resource] > 0 &&
        busy(resource) + critical_future_[resource] >= capacity_[resource]) {
      return true;
    }
    return first_runnable(resource).first != nullptr;
  }

  // Slots the executor no longer wants (steps given up, critical slots no longer held back): other engines
  // waiting for them are told.
  void wants_dropped(std::uint32_t resource, model::HostIndex start_host) {
    ledger_->notify(scopes_of(resource, start_host), listener_);
  }

  // Whether the step can take its secondary limits now (its resource's own slot is checked by the caller).
  bool can_take(const Step& step) const {
    if (global_limit_ != 0 && global_busy_ >= global_limit_) return false;
    if (ledger_->global() != kNoScope && !ledger_->has_room(ledger_->global())) return false;
    // Slots still needed by critical steps that are not ready yet go to nobody else (so the critical tier is
    // done no later than if it ran alone).
    if (!step.reserves && critical_future_[step.resource] > 0 &&
        busy(step.resource) + critical_future_[step.resource] >= capacity_[step.resource]) {
      return false;
    }
    if (step.disk != model::kNoIndex) {
      if (disk_busy_[step.disk] || dead_disk_calls_[step.disk] != 0) return false;
      if (storage_limit_ != 0 && storage_busy_ >= storage_limit_) return false;
    }
    if (step.kind == env::StepKind::vm_start) {
      auto host_scope = ledger_->host_starts(step.host);
      if (!ledger_->has_room(host_scope)) return false;
      // Likewise the target host's start slots still needed by its critical starts.
      if (!step.reserves && critical_host_future_[step.host] > 0 &&
          ledger_->in_flight(host_scope) + critical_host_future_[step.host] >=
              ledger_->capacity(host_scope)) {
        return false;
      }
    }
    return copies_allow(step);
  }

  // The rule of vm_copies.h: a start only once every other host where a copy may run is proven empty of the
  // VM; an unmap never takes a disk from under a copy that may run (it waits for the same proof).
  bool copies_allow(const Step& step) const {
    if (step.kind == env::StepKind::vm_start) {
      return copies_->only_on(step.vm, step.host);
    }
    if (step.kind == env::StepKind::disk_unmap) {
      // A host declared failed may still run a copy (cut off, not yet fenced): the unmap is its storage
      // fence, the start still waits for the power fence and the unmap's answer.
      return host_failed_[step.host] || !copies_->may_run_on(step.vm, step.host);
    }
    return true;
  }

  // ---- copies and their proofs -------------------------------------------------------------------------

  // A VM's copies set changed (called synchronously by the view: take note and post).
  void on_copies_changed(model::VmIndex vm) {
    if (halted_) return;
    // Wherever a copy may run, its disks may be mapped (a live migration hands them over, a start needs them
    // there): a belief that outlives the entry (a fence ends the entry, not the mapping), so that a later
    // recovery unmaps them there too.
    if (state_.vms[vm].disk_count > 0) {
      for (const auto& entry : copies_->entries(vm)) {
        for (auto d = state_.vms[vm].first_disk; d < state_.vm_disk_end(vm); ++d) {
          auto& hosts = disk_hosts(d);
          if (std::find(hosts.begin(), hosts.end(), entry.host) == hosts.end()) hosts.push_back(entry.host);
        }
      }
    }
    if (task_of_vm_[vm] == kNoTask) return;
    copies_changed_.push_back(vm);
    if (copies_posted_) return;
    copies_posted_ = true;
    env_.loop.post([this] {
      copies_posted_ = false;
      auto vms = std::move(copies_changed_);
      copies_changed_.clear();
      std::sort(vms.begin(), vms.end());
      vms.erase(std::unique(vms.begin(), vms.end()), vms.end());
      for (auto changed : vms) review_copies(tasks_[task_of_vm_[changed]]);
    });
  }

  // Looks at where the task's VM may run: adopts a copy seen running on a host that has not failed (the VM
  // runs: nothing to recover), else seeks the proofs its steps wait for and lets them be dispatched again.
  void review_copies(Task& task) {
    if (halted_ || (task.state != VmState::recovering && task.state != VmState::waiting)) return;
    for (const auto& entry : copies_->entries(task.vm)) {
      if (entry.running && entry.starting == 0 && entry.migrating_in == 0 && !host_failed_[entry.host]) {
        adopt(task, entry.host);
        return;
      }
    }
    if (task.state != VmState::recovering) return;
    seek_proofs(task);
    bool blocked_out_of_sight = false;
    for (auto id : task.steps) {
      const auto& step = steps_[id];
      if (step.state != StepState::ready) continue;
      mark_dirty(step.resource);
      if ((step.kind == env::StepKind::vm_start || step.kind == env::StepKind::disk_unmap) &&
          !copies_allow(step))
        blocked_out_of_sight = !proof_in_sight(task);
    }
    // make_ready's rule again: a proof that was on its way may no longer be (a call ended unanswered: its
    // outcome unknown; found by revive torture --controller-restarts, seed 3331).
    if (blocked_out_of_sight) release_reservations(task);
  }

  // The VM was found running on `host` (a late start answered, a migration switched over, a listing): it
  // is where it should be; its recovery ends there.
  void adopt(Task& task, model::HostIndex host) {
    journal("adopted", fmt::format(R"({{"vm":"{}","host":"{}"}})", json_escape(state_.vms[task.vm].name),
                                   json_escape(state_.hosts[host].name)));
    abandon_steps(task);
    task.target = host;
    vm_location_[task.vm] = host;
    // Its disks may be mapped there (a migration handed them over): a later recovery unmaps them there too.
    for (auto d = state_.vms[task.vm].first_disk; d < state_.vm_disk_end(task.vm); ++d) {
      auto& hosts = disk_hosts(d);
      if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    }
    state_.vms[task.vm].host = host;
    capacity_released_ = true;  // the target it was planned onto is free again
    request_process();
    vm_running(task);
  }

  // `task`'s steps hold no slot back any more (ready ones move to the regular queue: the dispatcher stops its
  // scan of the critical queue at a step that cannot go).
  void release_reservations(const Task& task) {
    for (auto id : task.steps) {
      auto& step = steps_[id];
      bool queued = step.state == StepState::ready && step.in_critical_queue;
      if (queued) queue_of(step).erase(step.queued);
      unreserve(step);
      if (queued) {
        step.in_critical_queue = false;
        queue_of(step).insert(step.queued);
      }
    }
  }

  // make_ready's rule again, for the critical steps already ready: those waiting for a proof that is no
  // longer on its way (a fence gave up) hold no slot back.
  void release_reservations_out_of_sight() {
    std::vector<std::uint32_t> out_of_sight;
    for (const auto& queue : critical_queues_) {
      for (const auto& key : queue) {
        const auto& step = steps_[key.step];
        if (step.kind != env::StepKind::vm_start && step.kind != env::StepKind::disk_unmap) continue;
        if (!copies_allow(step) && !proof_in_sight(tasks_[step.task])) out_of_sight.push_back(step.task);
      }
    }
    for (auto task : out_of_sight) release_reservations(tasks_[task]);
  }

  // Whether every proof `task`'s start still lacks is on its way: on each host where another copy may run, a
  // call that may start it there is unanswered, or the host is declared failed and its fence runs or waits
  // for a slot (a listing of a host that does not answer may never come; a fence that failed is only tried
  // again).
  bool proof_in_sight(const Task& task) const {
    if (task.target == model::kNoIndex) return false;
    for (auto host : copies_->unproven_besides(task.vm, task.target)) {
      if (copies_->pending_on(task.vm, host)) continue;  // the call's answer will tell
      if (!host_failed_[host]) return false;
      const auto& fence = fences_[host];
      if (fence.state != Fence::State::running && fence.state != Fence::State::done && !fence.queued)
        return false;
    }
    return true;
  }

  // For every host other than the target where the VM may run: a failed host's fence (started at its
  // failure; again if it failed for good), a listing of a live host where only a listing can tell.
  void seek_proofs(const Task& task) {
    if (task.target == model::kNoIndex) return;
    for (auto host : copies_->unproven_besides(task.vm, task.target)) {
      if (host_failed_[host]) {
        if (fences_[host].state == Fence::State::failed) {
          fences_[host].state = Fence::State::none;
          fences_[host].attempts = 0;
        }
        start_fence(host);  // no-op while it runs, is queued or is done
      } else if (copies_->needs_listing(task.vm, host)) {
        probe(host);
      }
    }
  }

  // Asks `host`'s hypervisor which VMs run there (one listing at a time per host; given up after the
  // minimum timeout, so a host that never answers is asked again later).
  void probe(model::HostIndex host) {
    if (probing_[host] != 0) return;
    probing_[host] = 1;
    auto round = ++probe_round_;
    probe_timer_round_[host] = round;
    env_.loop.schedule_after(options_.min_timeout_s, [this, host, round] {
      if (probe_timer_round_[host] == round) probing_[host] = 0;
    });
    auto as_of = copies_->version();
    env_.hypervisor.list_running(host, [this, host, round, as_of](const env::OperationResult& result,
                                                                  std::vector<model::VmIndex> running) {
      if (halted_) return;
      if (probe_timer_round_[host] == round) probing_[host] = 0;
      if (!result.ok) return;
      copies_->listed(host, running, as_of);
      // Entries that changed while the listing was on its way need a fresh one.
      for (auto vm : copies_->vms_on(host)) {
        auto index = task_of_vm_[vm];
        if (index == kNoTask || tasks_[index].state != VmState::recovering ||
            !copies_->needs_listing(vm, host))
          continue;
        env_.loop.schedule_after(1.0, [this, host] {
          if (!halted_) probe(host);
        });
        break;
      }
    });
  }

  std::set<ReadyKey>& queue_of(const Step& step) {
    return step.in_critical_queue ? critical_queues_[step.resource] : queues_[step.resource];
  }

  // The first step of the resource's queues that can run now (critical steps holding slots first), or null.
  std::pair<std::set<ReadyKey>*, std::set<ReadyKey>::iterator> first_runnable(std::uint32_t resource) {
    if (busy(resource) < capacity_[resource]) {
      for (auto* queue : {&critical_queues_[resource], &queues_[resource]}) {
        for (auto it = queue->begin(); it != queue->end(); ++it) {
          if (can_take(steps_[it->step])) return {queue, it};
        }
      }
    }
    return {nullptr, {}};
  }

  void dispatch() {
    if (halted_) return;
    std::map<std::tuple<int, std::uint32_t, model::HostIndex>, std::vector<StepId>> batches;
    auto launch_or_batch = [&](StepId id) {
      auto& step = steps_[id];
      if (step.disk != model::kNoIndex && options_.strategy == Strategy::revive) {
        batches[{static_cast<int>(step.kind), step.resource, step.host}].push_back(id);
      } else {
        launch({id});
      }
    };
    bool merged_all = global_limit_ != 0;
    if (merged_all || storage_limit_ != 0) {
      // A limit spans several resources: pick the best step across their queues, one at a time.
      while (true) {
        std::set<ReadyKey>* best_queue = nullptr;
        std::set<ReadyKey>::iterator best;
        for (std::uint32_t r = 0; r < queues_.size(); ++r) {
          if (!merged_all && !is_storage(r)) continue;
          auto [queue, it] = first_runnable(r);
          if (queue == nullptr) continue;
          if (best_queue == nullptr || *it < *best) {
            best = it;
            best_queue = queue;
          }
        }
        if (best_queue == nullptr) break;
        auto id = best->step;
        best_queue->erase(best);
        take(id);
        launch_or_batch(id);
      }
    }
    auto dirty = std::move(dirty_list_);
    dirty_list_.clear();
    std::sort(dirty.begin(), dirty.end());
    for (auto resource : dirty) {
      dirty_[resource] = 0;
      if (merged_all || (storage_limit_ != 0 && is_storage(resource))) continue;
      for (auto* queue : {&critical_queues_[resource], &queues_[resource]}) {
        for (auto it = queue->begin(); it != queue->end() && busy(resource) < capacity_[resource];) {
          auto id = it->step;
          if (!can_take(steps_[id])) {
            // Slots held back for critical steps block every other step of this resource alike.
            if (!steps_[id].reserves && critical_future_[resource] > 0 &&
                busy(resource) + critical_future_[resource] >= capacity_[resource]) {
              break;
            }
            ++it;
            continue;
          }
          it = queue->erase(it);
          take(id);
          launch_or_batch(id);
        }
      }
    }
    for (auto& [key, ids] : batches) launch(ids);
  }

  void unreserve(Step& step) {
    if (!step.reserves) return;
    step.reserves = false;
    --critical_future_[step.resource];
    if (step.kind == env::StepKind::vm_start) --critical_host_future_[step.host];
    mark_dirty(step.resource);
    if (step.state != StepState::ready) wants_dropped(step.resource, model::kNoIndex);
  }

  void take(StepId id) {
    auto& step = steps_[id];
    unreserve(step);
    step.state = StepState::running;
    step.last_attempt_timed_out = false;
    ++step.attempts;
    if (step.resource == unlimited_resource_) ++unlimited_busy_;
    auto host = step.kind == env::StepKind::vm_start ? step.host : model::kNoIndex;
    if (!ledger_->try_acquire(scopes_of(step.resource, host), listener_)) {
      throw std::logic_error("Executor: took a step its resource ledger has no slot for");
    }
    if (global_limit_ != 0) ++global_busy_;
    if (step.disk != model::kNoIndex) {
      disk_busy_[step.disk] = 1;
      ++storage_busy_;
    }
  }

  std::uint64_t new_op(StepId id) {
    const auto& step = steps_[id];
    Op op;
    op.step = id;
    op.attempt = step.attempts;
    op.generation = step.generation;
    op.resource = step.resource;
    op.global = global_limit_ != 0;
    op.disk = step.disk;
    op.storage = step.disk != model::kNoIndex;
    if (step.kind == env::StepKind::vm_start) {
      op.start_host = step.host;
      op.hypervisor_host = step.host;
    }
    auto op_id = next_op_++;
    op.timeout = env_.loop.schedule_after(timeout_for(step), [this, op_id] { on_timeout(op_id); });
    ops_.emplace(op_id, op);
    if (op.hypervisor_host != model::kNoIndex) ops_by_host_[op.hypervisor_host].push_back(op_id);
    journal_step("step_started", step);
    return op_id;
  }

  void release(const Op& op) {
    if (op.resource == unlimited_resource_) --unlimited_busy_;
    ledger_->release(scopes_of(op.resource, op.start_host), listener_);
    mark_dirty(op.resource);
    if (op.global) --global_busy_;
    if (op.storage) {
      --storage_busy_;
      disk_busy_[op.disk] = 0;
      if (storage_limit_ != 0 || global_limit_ != 0) {
        // Another storage queue may be the one waiting for the shared lane.
        for (std::uint32_t r = 0; r < switch_base_; ++r) mark_dirty(r);
      }
    }
    if (op.start_host != model::kNoIndex) mark_dirty(op.resource);
  }

  // Issues the steps (one call, or one batch of disks of one array for one host and kind).
  void launch(const std::vector<StepId>& ids) {
    const auto& first = steps_[ids.front()];
    switch (first.kind) {
      case env::StepKind::disk_map:
      case env::StepKind::disk_unmap: {
        std::vector<model::DiskIndex> disks;
        std::vector<std::pair<model::DiskIndex, std::uint64_t>> op_of_disk;
        for (auto id : ids) {
          auto op_id = new_op(id);
          disks.push_back(steps_[id].disk);
          op_of_disk.emplace_back(steps_[id].disk, op_id);
          // Until an unmap proves otherwise, a disk being mapped may be mapped.
          if (first.kind == env::StepKind::disk_map) {
            auto& hosts = disk_hosts(steps_[id].disk);
            if (std::find(hosts.begin(), hosts.end(), first.host) == hosts.end()) hosts.push_back(first.host);
          }
          // ... and one being unmapped is no longer known mapped there: a plan made before the unmap answers
          // (its graph abandoned, or the call given up on) maps it again, after it (one call per disk at a
          // time), instead of starting the VM on a host the late unmap takes the disk from (found by revive
          // torture, seed 12263).
          if (first.kind == env::StepKind::disk_unmap)
            disk_confirmed_.erase(disk_host_key(steps_[id].disk, first.host));
        }
        auto array = state_.disks[first.disk].array;
        auto done = [this, op_of_disk = std::move(op_of_disk)](model::DiskIndex disk,
                                                               const env::OperationResult& r) {
          for (const auto& [d, op_id] : op_of_disk) {
            if (d == disk) {
              on_op_done(op_id, r);
              return;
            }
          }
        };
        if (first.kind == env::StepKind::disk_map) {
          env_.storage.map_disks(array, first.host, std::move(disks), std::move(done));
        } else {
          env_.storage.unmap_disks(array, first.host, std::move(disks), std::move(done));
        }
        break;
      }
      case env::StepKind::net_config: {
        auto op_id = new_op(ids.front());
        env_.network.configure_vm_networks(
            state_.hosts[first.host].network_switch, first.host, first.vm,
            [this, op_id](const env::OperationResult& r) { on_op_done(op_id, r); });
        break;
      }
      case env::StepKind::vm_start: {
        auto op_id = new_op(ids.front());
        copies_->start_issued(first.vm, first.host);  // a copy may run there until it answers
        env_.hypervisor.start_vm(first.host, first.vm,
                                 [this, op_id](const env::OperationResult& r) { on_op_done(op_id, r); });
        break;
      }
      default:
        break;
    }
  }

  void on_timeout(std::uint64_t op_id) {
    if (halted_) return;
    auto found = ops_.find(op_id);
    if (found == ops_.end()) return;
    auto& op = found->second;
    op.timed_out = true;  // keeps its slot until it answers, its host is fenced or the call ended unanswered
    if (env_.calls != nullptr) watch_unanswered(op_id);
    auto& step = steps_[op.step];
    if (op.attempt != step.attempts || step.state != StepState::running || !step_is_current(step)) return;
    step.last_attempt_timed_out = true;
    step_failed(op.step,
                env::OperationResult::failure(fmt::format("no answer after {:.0f} s", timeout_for(step))),
                true);
  }

  // Op `op_id` timed out: asks the environment every kDeadCallPollS whether its call still runs. Once it
  // ended without an answer (a host cut off from the controller: the answer is lost), its slots go back and
  // its outcome is unknown: a start's copy may run there until a listing or a fence says otherwise; a disk
  // stays "maybe mapped" where it was being mapped (beliefs change on answers only).
  void watch_unanswered(std::uint64_t op_id) {
    auto found = ops_.find(op_id);
    if (halted_ || found == ops_.end()) return;
    const auto& step = steps_[found->second.step];
    env_.calls->in_progress(
        {step.kind, step.vm, step.host, model::kNoIndex, found->second.disk}, [this, op_id](bool running) {
          if (halted_ || !ops_.contains(op_id)) return;  // answered meanwhile
          if (running) {
            env_.loop.schedule_after(kDeadCallPollS, [this, op_id] { watch_unanswered(op_id); });
            return;
          }
          auto op = ops_.at(op_id);
          ops_.erase(op_id);
          if (op.hypervisor_host != model::kNoIndex) std::erase(ops_by_host_[op.hypervisor_host], op_id);
          release(op);
          const auto& ended = steps_[op.step];
          journal_call("step_ended_unanswered", ended, op.attempt, op.generation, {}, false);
          if (ended.kind == env::StepKind::vm_start) copies_->start_outcome_unknown(ended.vm, ended.host);
          request_dispatch();
        });
  }

  void on_op_done(std::uint64_t op_id, const env::OperationResult& result) {
    if (halted_) return;
    auto found = ops_.find(op_id);
    if (found == ops_.end()) return;  // released when its host was fenced
    auto op = found->second;
    ops_.erase(found);
    if (!op.timed_out) env_.loop.cancel(op.timeout);
    release(op);
    auto& step = steps_[op.step];
    // What the world now is, whoever asked.
    if (result.ok) {
      if (step.kind == env::StepKind::disk_unmap) {
        auto& hosts = disk_hosts(step.disk);
        hosts.erase(std::remove(hosts.begin(), hosts.end(), step.host), hosts.end());
        disk_confirmed_.erase(disk_host_key(step.disk, step.host));
      } else if (step.kind == env::StepKind::disk_map) {
        disk_confirmed_.insert(disk_host_key(step.disk, step.host));
      } else if (step.kind == env::StepKind::vm_start) {
        vm_location_[step.vm] = step.host;
      }
    }
    if (step.kind == env::StepKind::vm_start) copies_->start_answered(step.vm, step.host, result.ok);
    // A late answer to an attempt given up on (timed out, superseded by a retry, or of an abandoned graph)
    // only updated the beliefs above.
    if (op.timed_out || op.attempt != step.attempts || step.state != StepState::running ||
        !step_is_current(step)) {
      // The call ended after all: journaled, so that a resumed controller no longer counts it.
      journal_call(result.ok ? "step_answered" : "step_answered_failed", step, op.attempt, op.generation,
                   result.error, false);
      return;
    }
    if (result.ok) {
      step_done(op.step);
    } else {
      step_failed(op.step, result);
    }
  }

  static std::uint64_t vm_host_key(model::VmIndex vm, model::HostIndex host) {
    return (static_cast<std::uint64_t>(vm) << 32) | host;
  }
  static std::uint64_t disk_host_key(model::DiskIndex disk, model::HostIndex host) {
    return (static_cast<std::uint64_t>(disk) << 32) | host;
  }

  void step_done(StepId id) {
    auto& step = steps_[id];
    step.state = StepState::done;
    if (step.kind == env::StepKind::net_config) net_configured_.insert(vm_host_key(step.vm, step.host));
    journal_step("step_done", step);
    if (step.kind == env::StepKind::vm_start) {
      vm_running(tasks_[step.task]);
      return;
    }
    auto successors = step.successors;
    for (auto next : successors) satisfy(next);
  }

  void vm_running(Task& task) {
    task.ready_s = env_.loop.now_s();
    vm_location_[task.vm] = task.target;
    state_.vms[task.vm].host = task.target;
    task.reason.clear();
    set_state(task, VmState::running);
    journal("vm_running", fmt::format(R"({{"vm":"{}","host":"{}"}})", json_escape(state_.vms[task.vm].name),
                                      json_escape(state_.hosts[task.target].name)));
    if (ready_observer) ready_observer(task.vm);
    auto found = after_waiters_.find(task.vm);
    if (found != after_waiters_.end()) {
      auto waiters = std::move(found->second);
      after_waiters_.erase(found);
      for (auto id : waiters) satisfy(id);
    }
  }

  void step_failed(StepId id, const env::OperationResult& result, bool timed_out = false) {
    auto& step = steps_[id];
    journal_step("step_failed", step, result.error, timed_out);
    auto& task = tasks_[step.task];
    if (!result.permanent && step.attempts < options_.max_attempts) {
      step.state = StepState::retry_wait;
      ++retries_pending_;
      double backoff = options_.retry_backoff_s * std::pow(2.0, step.attempts - 1);
      auto generation = step.generation;
      env_.loop.schedule_after(backoff, [this, id, generation] {
        --retries_pending_;
        if (halted_) return;
        auto& retry = steps_[id];
        if (retry.state == StepState::retry_wait && retry.generation == generation &&
            step_is_current(retry)) {
          make_ready(id);
        }
      });
      return;
    }
    step.state = StepState::failed;
    auto what = fmt::format("{} on {} failed {} times: {}", env::to_string(step.kind),
                            state_.hosts[step.host].name, step.attempts, result.error);
    // A start that did not answer keeps its host in the VM's copies set until it answers or the host is
    // fenced, so the VM may be planned elsewhere: its start there waits for that proof.
    auto exclude = step.kind == env::StepKind::disk_unmap ? model::kNoIndex : step.host;
    replan(task, exclude, what);
  }

  // Why `task` has not completed; `for_proof` tells whether only a proof of no other copy is missing.
  std::string blocked_reason(const Task& task, bool& for_proof) const {
    for_proof = false;
    if (task.start_step == kNoStep) return "recovery did not complete";
    for (auto other : task.start_after) {
      auto other_task = task_of_vm_[other];
      if (other_task != kNoTask && tasks_[other_task].state != VmState::running) {
        return fmt::format("waits for {} (after), which is {}", state_.vms[other].name,
                           to_string(tasks_[other_task].state));
      }
    }
    auto location = vm_location_[task.vm];
    if (location != model::kNoIndex && host_failed_[location] &&
        fences_[location].state != Fence::State::done) {
      for_proof = true;
      return fmt::format("host {} is not fenced yet", state_.hosts[location].name);
    }
    if (task.target != model::kNoIndex && !copies_->unproven_besides(task.vm, task.target).empty()) {
      for_proof = true;
      return fmt::format("no proof yet that no other copy runs: it may run on {}; fence or check those hosts",
                         copies_->describe(task.vm, state_));
    }
    return "recovery did not complete";
  }

  model::Cloud state_;
  Environment env_;
  ExecutorOptions options_;

  std::vector<bool> host_failed_;
  std::vector<bool> down_in_inventory_;  // down before anything happened: nothing of ours runs there
  std::vector<model::HostIndex> failed_order_;
  std::vector<Fence> fences_;
  // Per host, how often it came back from a loss: a fence call's late answer counts only for the loss it was
  // made for.
  std::vector<std::uint32_t> host_returns_;
  std::uint32_t fences_in_flight_ = 0;
  std::deque<model::HostIndex>
      fence_queue_;                 // fences waiting for a slot (revive: in the order VMs need them)
  std::vector<double> fence_etas_;  // by host: expected fence confirmation (estimate_fences)
  bool fence_dispatch_posted_ = false;
  std::vector<model::HostIndex> vm_location_;
  std::unordered_map<model::DiskIndex, std::vector<model::HostIndex>> disk_hosts_;  // mapped or maybe mapped
  std::unordered_set<std::uint64_t> disk_confirmed_;  // (disk, host) pairs whose map answered ok
  std::vector<std::uint8_t> disk_busy_;
  std::vector<std::uint32_t> dead_disk_calls_;  // a dead controller's calls on the disk still in progress
  std::unordered_set<std::uint64_t> net_configured_;  // (VM, host) pairs whose networks are configured

  std::vector<Task> tasks_;
  std::vector<std::uint32_t> task_of_vm_;
  std::deque<Step> steps_;
  std::uint64_t next_order_ = 0;
  std::unordered_map<model::VmIndex, std::vector<StepId>> after_waiters_;

  std::uint32_t array_base_ = 0, switch_base_ = 0, endpoint_base_ = 0, unlimited_resource_ = 0;
  std::unique_ptr<ResourceLedger> own_ledger_;  // when the environment gives none
  ResourceLedger* ledger_ = nullptr;            // slots in flight per array, switch, endpoint, host, global
  ResourceLedger::ListenerId listener_ = 0;
  std::vector<std::uint32_t> capacity_;  // per resource (the ledger's; the last one has no limit)
  std::uint32_t unlimited_busy_ = 0;
  std::vector<std::uint32_t> critical_future_;  // per resource: critical steps created, not yet dispatched
  std::vector<std::uint32_t> critical_host_future_;  // per target host: critical starts not yet dispatched
  std::vector<std::set<ReadyKey>> queues_;
  std::vector<std::set<ReadyKey>> critical_queues_;  // ready critical steps still holding back a slot
  std::vector<std::uint8_t> dirty_;
  std::vector<std::uint32_t> dirty_list_;
  std::uint32_t global_limit_ = 0, global_busy_ = 0;
  std::uint32_t storage_limit_ = 0, storage_busy_ = 0;

  std::unordered_map<std::uint64_t, Op> ops_;
  std::vector<std::vector<std::uint64_t>> ops_by_host_;
  std::uint64_t next_op_ = 1;
  std::uint32_t retries_pending_ = 0;

  std::array<std::uint32_t, model::kPriorityCount> tier_unfinished_{};
  std::array<std::vector<StepId>, model::kPriorityCount> held_;

  std::vector<model::HostIndex> pending_failed_hosts_;
  std::vector<std::uint32_t> pending_replans_;
  std::vector<model::HostIndex> pending_unavailable_;  // hosts that became unavailable since the last pass
  HostAvailability::ListenerId availability_listener_ = 0;
  HostAvailability::PlannerId planner_id_ = 0;
  std::vector<std::shared_ptr<std::function<void()>>> dead_call_polls_;  // hold_dead_call's pollers
  std::unique_ptr<VmCopies> own_copies_;                                 // when the environment gives none
  VmCopies* copies_ = nullptr;                                           // where a copy of each VM may run
  VmCopies::ListenerId copies_listener_ = 0;
  std::vector<model::VmIndex> copies_changed_;  // VMs whose copies set changed since the last review
  bool copies_posted_ = false;
  std::vector<std::uint8_t> probing_;  // per host: a listing in flight
  std::unordered_map<model::HostIndex, std::uint64_t> probe_timer_round_;
  std::uint64_t probe_round_ = 0;
  bool capacity_released_ = false;
  bool process_posted_ = false;
  bool dispatch_posted_ = false;
  double estimated_bound_s_ = 0.0;
  double projected_makespan_s_ = 0.0;
  bool profile_ = std::getenv("REVIVE_PROFILE") != nullptr;
  bool halted_ = false;
};

Executor::Executor(const model::Cloud& cloud, Environment environment, ExecutorOptions options)
    : impl_(std::make_unique<Impl>(cloud, environment, std::move(options))) {}
Executor::~Executor() = default;
void Executor::on_host_failed(model::HostIndex host) {
  impl_->on_host_failed(host);
}
void Executor::on_host_returned(model::HostIndex host) {
  impl_->on_host_returned(host);
}
bool Executor::on_host_confirmed_off(model::HostIndex host) {
  return impl_->on_host_confirmed_off(host);
}
void Executor::on_vm_failed(model::VmIndex vm, model::HostIndex host) {
  impl_->on_vm_failed(vm, host);
}

void Executor::on_vm_moved(model::VmIndex vm, model::HostIndex host) {
  impl_->on_vm_moved(vm, host);
}
void Executor::set_plan_observer(std::function<void(const plan::Plan&)> observer) {
  impl_->plan_observer = std::move(observer);
}
void Executor::set_decision_observer(plan::DecisionObserver observer) {
  impl_->decision_observer = std::move(observer);
}
void Executor::set_ready_observer(std::function<void(model::VmIndex)> observer) {
  impl_->ready_observer = std::move(observer);
}
void Executor::on_vm_leaving(model::VmIndex vm) {
  impl_->on_vm_leaving(vm);
}

void Executor::resume() {
  impl_->resume();
}
void Executor::halt() {
  impl_->halt();
}
bool Executor::busy() const {
  return impl_->busy();
}
void Executor::finalize() {
  impl_->finalize();
}
std::vector<VmReport> Executor::report() const {
  return impl_->report();
}
const model::Cloud& Executor::state() const {
  return impl_->state();
}
double Executor::estimated_bound_s() const {
  return impl_->estimated_bound_s();
}

}  // namespace revive::exec

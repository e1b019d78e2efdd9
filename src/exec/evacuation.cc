#include "exec/evacuation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace revive::exec {

using model::DiskIndex;
using model::HostIndex;
using model::kNoIndex;
using model::VmIndex;

namespace {

constexpr std::array<std::string_view, 3> kStrategyNames = {"sequential", "fixed-8", "revive"};
constexpr std::array<std::string_view, 2> kReasonNames = {"maintenance", "predicted-failure"};
constexpr std::array<std::string_view, 9> kOutcomeNames = {"pending",    "migrating",  "moving_cold",
                                                           "migrated",   "moved_cold", "stopped",
                                                           "not_placed", "failed",     "cancelled"};
constexpr std::size_t kNoMove = std::numeric_limits<std::size_t>::max();
constexpr double kNoDeadline = std::numeric_limits<double>::infinity();
// revive's slot budget before a deadline (replan_deadlines): the share of a management endpoint's
// slot-seconds its migrations and stops can be counted on to use (setups, waves and the end of the window
// leave some idle), and the share of it past which its migrations go frugal (none slows another down) and
// cold starts wait for the deadline. Measured on the evacuation benchmark's rack drains with deadlines
// (docs/PERFORMANCE.md).
constexpr double kUsableSlotShare = 0.8;
constexpr double kFrugalAbove = 0.7;

}  // namespace

std::string_view to_string(EvacuationStrategy strategy) {
  return kStrategyNames[static_cast<std::size_t>(strategy)];
}

std::optional<EvacuationStrategy> parse_evacuation_strategy(std::string_view text) {
  for (std::size_t i = 0; i < kStrategyNames.size(); ++i) {
    if (kStrategyNames[i] == text) return static_cast<EvacuationStrategy>(i);
  }
  return std::nullopt;
}

std::string_view to_string(EvacuationReason reason) {
  return kReasonNames[static_cast<std::size_t>(reason)];
}

std::optional<EvacuationReason> parse_evacuation_reason(std::string_view text) {
  for (std::size_t i = 0; i < kReasonNames.size(); ++i) {
    if (kReasonNames[i] == text) return static_cast<EvacuationReason>(i);
  }
  return std::nullopt;
}

std::string_view to_string(EvacuationOutcome outcome) {
  return kOutcomeNames[static_cast<std::size_t>(outcome)];
}

double evacuation_lower_bound_s(const model::Cloud& cloud, const std::vector<HostIndex>& hosts,
                                const LiveMigrationParameters& parameters, std::string* binding,
                                const std::vector<double>* dirty_mib_s) {
  std::vector<bool> drained(cloud.hosts.size(), false);
  for (auto h : hosts) drained[h] = true;
  double fastest = 0;
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    const bool kept_for_failures = cloud.hosts[h].reserved && !cloud.policy.spares.maintenance;
    if (!drained[h] && !kept_for_failures && cloud.hosts[h].state == model::HostState::up)
      fastest = std::max(fastest, cloud.hosts[h].nic_gbps);
  }
  if (fastest == 0) return 0;
  double bound = 0;
  std::string what;
  auto consider = [&](double value, auto&& name) {
    if (value > bound) {
      bound = value;
      what = name();
    }
  };
  // Migration slot-seconds each management endpoint must give the drained hosts' migrations (one slot of
  // the source's endpoint for each migration's whole duration).
  std::vector<double> endpoint_s(cloud.endpoints.size(), 0.0);
  const double host_slots = std::max<std::uint32_t>(1, cloud.policy.host_max_parallel_migrations);
  for (auto h : hosts) {
    const double nic = cloud.hosts[h].nic_gbps * kMibPerSecondPerGbps;
    const double share = std::min(nic, fastest * kMibPerSecondPerGbps);
    double transferred = 0, slot_s = 0;
    for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
      if (cloud.vms[v].host != h || !cloud.vms[v].protect) continue;
      const double dirty = dirty_mib_s != nullptr ? (*dirty_mib_s)[v] : cloud.vms[v].dirty_mib_s;
      // Alone at the largest share it can ever get: no round is shorter, none copies less, so neither its
      // duration nor what it sends can be smaller under any schedule. One that does not converge even so
      // cannot move live (it moves cold) and is left out.
      const auto alone =
          estimate_migration(static_cast<double>(cloud.vms[v].memory_mib), dirty, share, parameters);
      if (!alone.converges) continue;
      transferred += alone.transferred_mib;
      slot_s += alone.total_s;
      consider(alone.total_s, [&] { return "one migration of " + cloud.vms[v].name; });
    }
    if (transferred > 0)
      consider(parameters.setup_s + transferred / nic, [&] { return "the NIC of " + cloud.hosts[h].name; });
    consider(slot_s / host_slots, [&] { return "the migration slots of " + cloud.hosts[h].name; });
    if (auto e = cloud.hosts[h].endpoint; e != kNoIndex) endpoint_s[e] += slot_s;
  }
  for (model::EndpointIndex e = 0; e < cloud.endpoints.size(); ++e) {
    consider(endpoint_s[e] / std::max<std::uint32_t>(1, cloud.endpoints[e].max_parallel),
             [&] { return "the migration slots of endpoint " + cloud.endpoints[e].name; });
  }
  if (binding != nullptr) *binding = what;
  return bound;
}

class Evacuator::Impl {
 public:
  ~Impl() {
    ledger_->remove_listener(listener_);
    copies_->remove_listener(copies_listener_);
    if (env_.availability != nullptr) {
      env_.availability->remove_listener(availability_listener_);
      env_.availability->remove_planner(planner_id_);
    }
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Impl(const model::Cloud& cloud, EvacuationEnvironment environment, EvacuationOptions options)
      : cloud_(cloud),
        env_(environment),
        options_(options),
        mirror_(MigrationFlows::for_cloud(cloud, options.migration)) {
    const auto host_count = cloud_.hosts.size();
    draining_.assign(host_count, false);
    avoid_.assign(host_count, false);
    backoff_until_.assign(host_count, -1.0);
    target_failures_.assign(host_count, 0);
    lost_.assign(host_count, false);
    declared_failed_.assign(host_count, false);
    host_deadline_.assign(host_count, kNoDeadline);
    host_urgent_.assign(host_count, false);
    migrations_on_.assign(host_count, 0);
    // Slots of cold-move steps are counted in the ledger (shared with the recovery executor when given one).
    if (env_.ledger == nullptr) {
      own_ledger_ = std::make_unique<ResourceLedger>(cloud_);
      env_.ledger = own_ledger_.get();
    }
    ledger_ = env_.ledger;
    listener_ = ledger_->add_listener(ResourceLedger::kEvacuationRank, [this](std::span<const ScopeId>) {
      request_pump();
      if (migration_wants_slots_) request_dispatch();
    });
    latest_move_.assign(cloud_.vms.size(), kNoMove);
    left_to_recovery_.assign(cloud_.vms.size(), false);
    start_waiting_.assign(cloud_.vms.size(), false);
    // Where copies of each VM may run (shared with the recovery executor when given).
    if (env_.copies == nullptr) {
      own_copies_ = std::make_unique<VmCopies>(cloud_);
      env_.copies = own_copies_.get();
    }
    copies_ = env_.copies;
    // A VM's set changed: a start of it waiting for proof may go now.
    copies_listener_ = copies_->add_listener([this](VmIndex vm) {
      if (vm >= start_waiting_.size()) return;
      if (start_waiting_[vm]) request_pump();
      // A migration held back by a start of the VM still unanswered on its source may go now.
      auto latest = latest_move_[vm];
      if (latest != kNoMove && moves_[latest].state == State::pending) request_dispatch();
      // A VM left to failure recovery found running on one host alone (a listing, a late answer): the
      // engine's again.
      if (left_to_recovery_[vm]) env_.loop.post([this, vm] { adopt_if_located(vm); });
    });
    if (env_.availability != nullptr) {
      // A host confirmed fenced is off: the stops, starts and migrations in flight there will never answer.
      availability_listener_ =
          env_.availability->add_listener([this](HostIndex host, HostAvailability::Change change) {
            if (change == HostAvailability::Change::fenced) {
              env_.loop.post([this, host] {
                if (own_copies_) own_copies_->host_fenced(host);
                release_steps_on(host);
                release_migrations_on(host);
                give_up_cold_moves_onto(host);
              });
            } else if (change == HostAvailability::Change::unavailable) {
              // Suspected, failed or drained by someone else: no move begins onto it.
              env_.loop.post([this, host] {
                if (draining_[host] || shared_up(host)) return;
                replan_moves_onto(host, fmt::format("target {} became unavailable before the move began",
                                                    cloud_.hosts[host].name));
                request_dispatch();
              });
            }
          });
      // The room this engine has planned and not yet used (host_availability.h).
      planner_id_ = env_.availability->add_planner([this](const auto& each) { for_each_reservation(each); });
    }
    env_.hypervisor.subscribe([this](const env::HypervisorEvent& event) {
      if (event.kind == env::HypervisorEvent::Kind::host_connection_lost) on_host_lost(event.host);
    });
  }

  // ---- operations --------------------------------------------------------------------------------------

  void drain(const std::vector<HostIndex>& hosts, double deadline_s, EvacuationReason reason) {
    if (halted_) return;
    for (HostIndex h : hosts) {
      if (h >= cloud_.hosts.size()) throw std::invalid_argument(fmt::format("host index {} out of range", h));
    }
    {
      nlohmann::ordered_json payload;
      payload["hosts"] = host_names(hosts);
      payload["deadline_s"] = deadline_s;
      payload["reason"] = std::string(to_string(reason));
      journal("evacuate", payload);
    }
    std::vector<bool> newly(cloud_.hosts.size(), false);
    for (HostIndex h : hosts) {
      if (!draining_[h]) newly[h] = true;
      set_draining(h, true);
      host_deadline_[h] = std::min(host_deadline_[h], deadline_s);
      if (reason == EvacuationReason::predicted_failure) host_urgent_[h] = true;
      cloud_.hosts[h].state = model::HostState::maintenance;
    }
    std::vector<VmIndex> to_plan;
    // Moves not begun whose target is now drained go back to the planner: never a move onto a draining host.
    // (Those begun end there and are moved on from there: on_live_done, on_step_done.)
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      auto& move = moves_[m];
      if (move.to == kNoIndex || !draining_[move.to] || !not_begun(m)) continue;
      drop_unlaunched_stop(m);
      cancel_timer(move);
      cloud_.vms[move.vm].host = move.from;
      move.state = State::cancelled;
      move.reason = fmt::format("target {} drained before the move began", cloud_.hosts[move.to].name);
      // As in replan_moves_onto: only a VM whose host is still drained must go elsewhere; a fail-back (or a
      // move whose drain ended) simply stays where the VM runs -- planned again, its host not drained, the
      // planner "moved" it onto its own host (found by revive torture, seed 27355).
      if (draining_[move.from]) to_plan.push_back(move.vm);
    }
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      HostIndex host = cloud_.vms[v].host;
      if (host == kNoIndex || !newly[host] || has_active_move(v)) continue;
      if (left_to_recovery_[v]) continue;  // where it runs is failure recovery's to say (on_vm_recovered)
      if (lost_[host] || (env_.availability != nullptr && env_.availability->fenced(host))) {
        // Its host was lost (or is off): nothing can be moved off it; its VMs are failure recovery's.
        auto m = add_move(v, host, kNoIndex, cloud_.vms[v].priority, host_deadline_[host]);
        leave_to_recovery(
            m, fmt::format("{} was lost before the drain: left to failure recovery", cloud_.hosts[host].name),
            false);
        continue;
      }
      if (cloud_.vms[v].protect) {
        to_plan.push_back(v);
      } else {
        add_unprotected_stop(v, host);
      }
    }
    std::sort(to_plan.begin(), to_plan.end());
    to_plan.erase(std::unique(to_plan.begin(), to_plan.end()), to_plan.end());
    plan_moves(to_plan);
    for (HostIndex h : hosts) schedule_deadline(h, host_deadline_[h]);
    cloud_.rebuild_indexes();
    // Moves begin on the loop, so drains requested at the same instant are all planned first (a host drained
    // a moment later in the same instant is no target for the first).
    request_dispatch();
  }

  // The engine's own record and the shared view (for the recovery executor) together.
  void set_draining(HostIndex host, bool on) {
    draining_[host] = on;
    if (env_.availability != nullptr) env_.availability->set(host, HostAvailability::Reason::draining, on);
  }

  // A move that has not touched the VM yet: waiting for its turn or its cold start time, or a cold move whose
  // stop waits for a slot (not issued).
  bool not_begun(std::size_t m) const {
    const auto& move = moves_[m];
    if (move.state == State::pending || move.state == State::cold_waiting) return true;
    return move.state == State::cold && move.off_s < 0 && has_unlaunched_stop(m);
  }
  bool has_unlaunched_stop(std::size_t m) const {
    return std::any_of(waiting_steps_.begin(), waiting_steps_.end(), [m](const StepRequest& request) {
      return request.move == m && request.kind == StepKind::stop;
    });
  }
  void drop_unlaunched_stop(std::size_t m) {
    std::erase_if(waiting_steps_, [m](const StepRequest& request) {
      return request.move == m && request.kind == StepKind::stop;
    });
  }

  void request_dispatch() {
    if (dispatch_posted_) return;
    dispatch_posted_ = true;
    env_.loop.post([this] {
      dispatch_posted_ = false;
      if (halted_) return;
      replan_deadlines();
      dispatch();
      note_room();
    });
  }

  // The placements planned and not yet landed, as the recovery executor must see them (host_availability.h):
  // a move not begun or in flight, until its switch-over or, moving cold, its stop on the source (from then
  // on the executor's view has the VM on its target: the move observer).
  template <typename Each>
  void for_each_reservation(const Each& each) const {
    for (VmIndex v = 0; v < latest_move_.size(); ++v) {
      auto m = latest_move_[v];
      if (m == kNoMove) continue;
      const auto& move = moves_[m];
      if (move.to == kNoIndex) continue;
      bool reserved = move.state == State::pending || move.state == State::cold_waiting ||
                      move.state == State::live ||
                      ((move.state == State::cold || move.state == State::resuming) && move.off_s < 0);
      if (reserved) each(v, move.to);
    }
  }

  // Tells the other engines when this one's reserved room shrank (a move landed, failed or was cancelled):
  // VMs they left waiting may fit now.
  void note_room() {
    if (env_.availability == nullptr) return;
    std::uint64_t reserved = 0;
    for_each_reservation([&](VmIndex vm, HostIndex) { reserved += cloud_.vms[vm].memory_mib + 1; });
    bool shrank = reserved < reserved_memory_mib_;
    reserved_memory_mib_ = reserved;
    if (shrank) env_.availability->room_released(kNoIndex);
  }

  void exit_maintenance(const std::vector<HostIndex>& hosts, bool fail_back, const char* why) {
    if (halted_) return;
    for (HostIndex h : hosts) {
      if (h >= cloud_.hosts.size()) throw std::invalid_argument(fmt::format("host index {} out of range", h));
    }
    {
      nlohmann::ordered_json payload;
      payload["hosts"] = host_names(hosts);
      payload["fail_back"] = fail_back;
      payload["why"] = why;
      journal("exit_maintenance", payload);
    }
    std::vector<bool> leaving(cloud_.hosts.size(), false);
    for (HostIndex h : hosts) {
      leaving[h] = true;
      set_draining(h, false);
      host_deadline_[h] = kNoDeadline;
      host_urgent_[h] = false;
      cloud_.hosts[h].state = model::HostState::up;
    }
    for (auto& move : moves_) {
      bool not_begun = move.state == State::pending || move.state == State::cold_waiting ||
                       move.state == State::stop_waiting || move.state == State::not_placed;
      if (!not_begun || !leaving[move.from]) continue;
      cancel_timer(move);
      if (move.state != State::stop_waiting && move.state != State::not_placed)
        cloud_.vms[move.vm].host = move.from;
      move.state = State::cancelled;
      move.reason = fmt::format("{} before the move began", why);
    }
    if (fail_back) {
      for (HostIndex h : hosts) {
        // A host lost (or fenced) meanwhile takes nothing back: a migration onto it could never answer.
        if (lost_[h] || (env_.availability != nullptr && env_.availability->fenced(h))) continue;
        std::vector<VmIndex> back;
        for (std::size_t m = 0; m < moves_.size(); ++m) {
          const auto& move = moves_[m];
          bool done = move.state == State::done_live || move.state == State::done_cold;
          if (done && move.from == h && !move.fail_back && latest_move_[move.vm] == m &&
              cloud_.vms[move.vm].host == move.to) {
            back.push_back(move.vm);
          }
        }
        if (back.empty()) continue;
        plan::PlanRequest request;
        request.only_vms = back;
        for (HostIndex other = 0; other < cloud_.hosts.size(); ++other) {
          if (other != h) request.excluded_hosts.push_back(other);
        }
        auto plan = decide("fail-back", request);
        for (const auto& placement : plan.placements) {
          auto m =
              add_move(placement.vm, placement.from, placement.to, placement.effective_priority, kNoDeadline);
          moves_[m].fail_back = true;
          cloud_.vms[placement.vm].host = placement.to;
        }
      }
    }
    cloud_.rebuild_indexes();
    request_dispatch();
  }

  void finalize() { finalized_ = true; }

  bool busy() const {
    return std::any_of(moves_.begin(), moves_.end(), [](const Move& move) {
      return move.state == State::pending || move.state == State::cold_waiting || move.state == State::live ||
             move.state == State::cold || move.state == State::stop_waiting ||
             move.state == State::stopping || move.state == State::resuming;
    });
  }

  std::vector<EvacuationVmReport> report() const {
    std::vector<EvacuationVmReport> reports;
    for (VmIndex v = 0; v < latest_move_.size(); ++v) {
      if (latest_move_[v] == kNoMove) continue;
      const auto& move = moves_[latest_move_[v]];
      EvacuationVmReport report;
      report.vm = v;
      report.from = move.from;
      report.to = move.to;
      report.priority = move.priority;
      report.protect = cloud_.vms[v].protect;
      report.outcome = outcome_of(move);
      report.cold = move.cold;
      report.reason = move.reason;
      if (finalized_ &&
          (report.outcome == EvacuationOutcome::pending || report.outcome == EvacuationOutcome::migrating ||
           report.outcome == EvacuationOutcome::moving_cold)) {
        report.reason += fmt::format(
            "{}blocked for good while {}: it waits for a call that never answered, or for a slot such a call "
            "holds (a host cut off and never declared failed keeps them)",
            report.reason.empty() ? "" : "; ", to_string(report.outcome));
        report.outcome = EvacuationOutcome::failed;
      }
      if (move.state == State::cold && start_waiting_[v]) {
        report.reason += fmt::format("{}its start on {} waits for proof that no other copy runs: {}",
                                     report.reason.empty() ? "" : "; ", cloud_.hosts[move.to].name,
                                     copies_->describe(v, cloud_));
      }
      report.deadline_s = move.deadline_s;
      report.start_s = move.start_s;
      report.off_source_s = move.off_s;
      report.end_s = move.end_s;
      report.running_at_deadline = move.running_at_deadline;
      report.live_attempts = move.live_attempts;
      report.fail_back = move.fail_back;
      reports.push_back(std::move(report));
    }
    return reports;
  }

  // A VM left to failure recovery whose set of copies is one host where it is seen running, nothing
  // unanswered, and that host not lost: it runs there, and the engine takes it back (as on a restart).
  void adopt_if_located(VmIndex vm) {
    if (!left_to_recovery_[vm]) return;
    const auto& entries = copies_->entries(vm);
    if (entries.size() != 1) return;
    const auto& entry = entries.front();
    // A migration there still counted unanswered cannot change anything once its source is fenced.
    bool migration_over =
        entry.migrating_in == 0 || (entry.migration_source != kNoIndex && env_.availability != nullptr &&
                                    env_.availability->fenced(entry.migration_source));
    if (!entry.running || entry.starting > 0 || !migration_over || lost_[entry.host]) return;
    auto m = latest_move_[vm];
    if (m != kNoMove) {
      auto& move = moves_[m];
      move.reason += fmt::format("; found running on {} at {:.0f} s", cloud_.hosts[entry.host].name, now());
    }
    on_vm_recovered(vm, entry.host);
  }

  // Failure recovery places `vm` elsewhere (its guest stopped and its restart in place could not happen):
  // a move of it not begun is dropped and the VM is recovery's until on_vm_recovered.
  void on_vm_relocated(VmIndex vm) {
    if (halted_ || vm >= cloud_.vms.size()) return;
    left_to_recovery_[vm] = true;
    auto latest = latest_move_[vm];
    if (latest == kNoMove) return;
    auto& move = moves_[latest];
    if (!not_begun(latest) && move.state != State::stop_waiting) return;  // in flight: it ends on its own
    drop_unlaunched_stop(latest);
    cancel_timer(move);
    move.state = State::cancelled;
    move.reason = "its guest stopped before its move began: placed elsewhere by failure recovery";
    cloud_.vms[vm].host = move.from;
    cloud_.rebuild_indexes();
    request_dispatch();
  }

  void on_host_failed(HostIndex host) {
    if (host >= declared_failed_.size()) throw std::invalid_argument("on_host_failed: no such host");
    declared_failed_[host] = true;
    give_up_cold_moves_onto(host);
  }

  void on_host_returned(HostIndex host) {
    if (host >= declared_failed_.size()) throw std::invalid_argument("on_host_returned: no such host");
    declared_failed_[host] = false;
  }

  void on_vm_recovered(VmIndex vm, HostIndex host) {
    if (halted_) return;
    if (vm >= cloud_.vms.size()) throw std::invalid_argument(fmt::format("VM index {} out of range", vm));
    if (host >= cloud_.hosts.size())
      throw std::invalid_argument(fmt::format("host index {} out of range", host));
    left_to_recovery_[vm] = false;
    if (own_copies_) {
      // Failure recovery starts a VM only with proof that no other copy runs.
      for (auto other : own_copies_->hosts(vm)) {
        if (other != host) own_copies_->proven_absent(vm, other);
      }
      own_copies_->seen_running(vm, host);
    }
    auto latest = latest_move_[vm];
    if (latest != kNoMove) {
      auto& move = moves_[latest];
      bool waiting = not_begun(latest) || move.state == State::stop_waiting;
      if (waiting) {
        drop_unlaunched_stop(latest);
        cancel_timer(move);
        move.state = State::cancelled;
        move.reason =
            fmt::format("restarted on {} by failure recovery before its move began", cloud_.hosts[host].name);
      }
      // A move in flight goes on (the set of copies keeps it and the restart apart); the view follows.
    }
    cloud_.move_vm(vm, host);  // one VM: not a rebuild of every index per recovered VM
    if (!draining_[host] || has_active_move(vm)) return;
    // Restarted onto a host being drained: it leaves with the host's other VMs, by the host's deadline.
    if (cloud_.vms[vm].protect) {
      plan_moves({vm});
    } else {
      add_unprotected_stop(vm, host);
    }
    cloud_.rebuild_indexes();
    auto m = latest_move_[vm];
    if (m != kNoMove && moves_[m].from == host && now() >= host_deadline_[host]) {
      auto& move = moves_[m];
      move.running_at_deadline = true;
      std::string note = fmt::format("restarted on {} by failure recovery after its deadline ({:.0f} s)",
                                     cloud_.hosts[host].name, host_deadline_[host]);
      move.reason = move.reason.empty() ? note : move.reason + "; " + note;
    }
    request_dispatch();
  }

  const model::Cloud& state() const { return cloud_; }
  std::uint32_t peak_migrations() const { return peak_migrations_; }
  bool finalized_ = false;  // finalize() was called: moves still in flight are blocked for good
  std::function<void(VmIndex, HostIndex)> move_observer;
  std::function<void(VmIndex)> stop_observer;
  std::function<void(VmIndex, HostIndex)> found_stopped_observer;
  plan::DecisionObserver decision_observer;

  // The planner on this engine's view, the decision reported with its inputs.
  plan::Plan decide(std::string_view engine, const plan::PlanRequest& request) {
    // The planner sees the room the recovery executor has planned onto hosts and not yet used as taken.
    ReservedRoom room(cloud_, env_.availability, planner_id_, copies_);
    auto plan = plan::plan_failover(cloud_, request, options_.planner);
    if (decision_observer) {
      std::string trigger = "drain of:";
      for (auto host : request.evacuated_hosts) trigger += " " + cloud_.hosts[host].name;
      decision_observer({engine, trigger, env_.loop.now_s(), cloud_, request, options_.planner, plan});
    }
    return plan;
  }

 private:
  enum class State : std::uint8_t {
    pending,       // live move waiting for its turn
    cold_waiting,  // decided cold, waiting for its start time
    live,          // migration in flight
    cold,          // cold move in flight
    done_live,
    done_cold,
    stop_waiting,  // protect: false, waiting for its stop time
    stopping,
    stopped,
    not_placed,
    failed,
    cancelled,
    resuming,  // in flight when the controller stopped: settled from where the VM is found (resume)
  };
  struct Move {
    VmIndex vm = kNoIndex;
    HostIndex from = kNoIndex;
    HostIndex to = kNoIndex;
    model::Priority priority = model::Priority::medium;
    double deadline_s = kNoDeadline;
    State state = State::pending;
    bool cold = false;
    bool fail_back = false;
    std::string reason;
    double start_s = -1.0, off_s = -1.0, end_s = -1.0;
    bool running_at_deadline = false;
    std::uint32_t live_attempts = 0;
    double retry_at_s = -1.0;    // revive: a migration retried after a failure begins no earlier
    std::string last_error;      // of its latest failed migration
    std::uint64_t sequence = 0;  // first come, first served order
    MigrationFlows::Id flow = 0;
    env::TimerId timer = 0;
    bool has_timer = false;
    double occupancy_s = 0.0;  // time it keeps its source NIC busy when migrated alone
    double alone_s = 0.0;      // its migration's duration alone (setup included): the slots it holds
    bool converges_alone = true;
    std::uint32_t disks_left = 0;
    std::uint64_t live_call = 0;  // its latest migration (live_calls_)
  };
  // A migration issued and not yet answered (or released at a fence), with the ledger slots it holds.
  struct LiveCall {
    std::size_t move = kNoMove;
    VmIndex vm = kNoIndex;
    HostIndex from = kNoIndex;
    HostIndex to = kNoIndex;
    ScopeSet scopes;
  };
  enum class StepKind : std::uint8_t { stop, unmap, map, net_config, start };
  struct StepRequest {
    StepKind kind;
    std::size_t move;
    DiskIndex disk = kNoIndex;
    std::uint32_t attempt = 0;
  };

  static EvacuationOutcome outcome_of(const Move& move) {
    switch (move.state) {
      case State::pending:
      case State::cold_waiting:
      case State::stop_waiting:
        return EvacuationOutcome::pending;
      case State::live:
        return EvacuationOutcome::migrating;
      case State::cold:
      case State::stopping:
        return EvacuationOutcome::moving_cold;
      case State::done_live:
        return EvacuationOutcome::migrated;
      case State::done_cold:
        return EvacuationOutcome::moved_cold;
      case State::stopped:
        return EvacuationOutcome::stopped;
      case State::not_placed:
        return EvacuationOutcome::not_placed;
      case State::failed:
        return EvacuationOutcome::failed;
      case State::cancelled:
        return EvacuationOutcome::cancelled;
      case State::resuming:
        return move.cold || move.to == kNoIndex ? EvacuationOutcome::moving_cold
                                                : EvacuationOutcome::migrating;
    }
    return EvacuationOutcome::pending;
  }

  double now() const { return env_.loop.now_s(); }

  nlohmann::ordered_json host_names(const std::vector<HostIndex>& hosts) const {
    auto names = nlohmann::ordered_json::array();
    for (HostIndex h : hosts) names.push_back(cloud_.hosts[h].name);
    return names;
  }

  void journal(const std::string& kind, const nlohmann::ordered_json& payload) {
    if (env_.journal != nullptr && !halted_) env_.journal->append({kind, payload.dump()});
  }

  // {vm, from, to, at_s} and `extra`'s fields.
  void journal_move(const char* kind, const Move& move, const nlohmann::ordered_json& extra = {}) {
    if (env_.journal == nullptr || halted_) return;
    nlohmann::ordered_json payload;
    payload["vm"] = cloud_.vms[move.vm].name;
    payload["from"] = cloud_.hosts[move.from].name;
    payload["to"] = move.to == kNoIndex ? std::string() : cloud_.hosts[move.to].name;
    payload["at_s"] = now();
    if (extra.is_object()) {
      for (const auto& [key, value] : extra.items()) payload[key] = value;
    }
    journal(kind, payload);
  }

  bool has_active_move(VmIndex vm) const {
    auto m = latest_move_[vm];
    if (m == kNoMove) return false;
    auto state = moves_[m].state;
    return state == State::live || state == State::cold || state == State::stopping ||
           state == State::resuming;
  }

  void cancel_timer(Move& move) {
    if (move.has_timer) env_.loop.cancel(move.timer);
    move.has_timer = false;
  }

  double nic_of(HostIndex host) const { return mirror_.nic_mib_s(host); }

  std::size_t add_move(VmIndex vm, HostIndex from, HostIndex to, model::Priority priority,
                       double deadline_s) {
    Move move;
    move.vm = vm;
    move.from = from;
    move.to = to;
    move.priority = priority;
    move.deadline_s = deadline_s;
    move.sequence = next_sequence_++;
    if (to != kNoIndex) {
      const auto& spec = cloud_.vms[vm];
      double bandwidth = std::min(nic_of(from), nic_of(to));
      auto estimate = estimate_migration(static_cast<double>(spec.memory_mib), spec.dirty_mib_s, bandwidth,
                                         options_.migration);
      move.converges_alone = estimate.converges;
      move.alone_s = estimate.total_s;
      move.occupancy_s = (estimate.total_s - options_.migration.setup_s) * bandwidth / nic_of(from);
    }
    moves_.push_back(std::move(move));
    latest_move_[vm] = moves_.size() - 1;
    return moves_.size() - 1;
  }

  void plan_moves(const std::vector<VmIndex>& vms) {
    if (vms.empty()) return;
    plan::PlanRequest request;
    request.only_vms = vms;
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (draining_[h]) request.evacuated_hosts.push_back(h);
    }
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (!draining_[h] && (!may_target(h) || !shared_up(h))) request.excluded_hosts.push_back(h);
    }
    auto plan = decide("evacuation", request);
    if (options_.strategy == EvacuationStrategy::revive)
      plan = with_live_capable_targets(std::move(plan), request);
    {
      // Not "plan": that kind is the recovery executor's (the two engines may share one journal).
      nlohmann::ordered_json payload;
      auto& placements = payload["placements"] = nlohmann::ordered_json::array();
      for (const auto& placement : plan.placements) {
        placements.push_back({{"vm", cloud_.vms[placement.vm].name},
                              {"from", cloud_.hosts[placement.from].name},
                              {"to", cloud_.hosts[placement.to].name},
                              {"priority", std::string(model::to_string(placement.effective_priority))}});
      }
      auto& waiting = payload["waiting"] = nlohmann::ordered_json::array();
      for (const auto& item : plan.waiting) {
        waiting.push_back({{"vm", cloud_.vms[item.vm].name},
                           {"from", item.from == kNoIndex ? std::string() : cloud_.hosts[item.from].name},
                           {"reason", item.reason}});
      }
      payload["at_s"] = now();
      journal("evacuation_plan", payload);
    }
    for (const auto& placement : plan.placements) {
      // A VM planned onto the host it runs on has nowhere to go: that host is no longer drained (a move of a
      // cancelled drain whose target was drained before it began). It stays; its cancelled move says why.
      if (placement.from == placement.to) continue;
      add_move(placement.vm, placement.from, placement.to, placement.effective_priority,
               host_deadline_[placement.from]);
      cloud_.vms[placement.vm].host = placement.to;
    }
    for (const auto& waiting : plan.waiting) {
      auto m = add_move(waiting.vm, waiting.from, kNoIndex, waiting.effective_priority,
                        host_deadline_[waiting.from]);
      moves_[m].state = State::not_placed;
      moves_[m].reason = "no host can take it: " + waiting.reason;
    }
  }

  // Whether this engine lets `host` receive VMs: not lost, and not in a failed migration's backoff (unless a
  // retry has no other target).
  bool may_target(HostIndex host) const {
    return !avoid_[host] && (plan_onto_backed_off_ || backoff_until_[host] <= now());
  }

  // Whether the shared view (when given) lets `host` receive VMs: not suspected, failed or fenced, nor
  // drained by another engine.
  bool shared_up(HostIndex host) const {
    if (env_.availability == nullptr) return true;
    if (env_.availability->fenced(host) || env_.availability->has(host, HostAvailability::Reason::not_up))
      return false;
    // Drained by another engine sharing the view (this engine's own drains are its evacuated hosts).
    return draining_[host] || !env_.availability->has(host, HostAvailability::Reason::draining);
  }

  // Whether `vm` converges live, alone, at this bandwidth (MiB/s).
  bool converges_alone_at(VmIndex vm, double bandwidth_mib_s) const {
    const auto& spec = cloud_.vms[vm];
    return estimate_migration(static_cast<double>(spec.memory_mib), spec.dirty_mib_s, bandwidth_mib_s,
                              options_.migration)
        .converges;
  }

  // Revive: a VM whose planned target has too slow a NIC for it to converge live (it would have to move
  // cold) is planned again among the hosts whose NIC is fast enough, when one can take it; otherwise its
  // first placement stands (it moves cold). Every constraint is the planner's as usual: the other placements
  // are applied first, and VMs no fast host can take are planned again among all hosts. At most one planner
  // call per distinct NIC speed needed, plus one for those left over.
  plan::Plan with_live_capable_targets(plan::Plan plan, const plan::PlanRequest& request) {
    std::vector<double> speeds;  // NICs of the hosts that may receive, ascending, distinct
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (!draining_[h] && may_target(h) && shared_up(h) && cloud_.hosts[h].state == model::HostState::up) {
        speeds.push_back(nic_of(h));
      }
    }
    std::sort(speeds.begin(), speeds.end());
    speeds.erase(std::unique(speeds.begin(), speeds.end()), speeds.end());
    std::map<double, std::vector<VmIndex>> by_speed_needed;
    std::vector<plan::Placement> settled;
    for (const auto& placement : plan.placements) {
      double source = nic_of(placement.from), target = nic_of(placement.to);
      // The slowest target NIC with which half the source's migration slots fill its NIC (the other half
      // overlap the next setups): slower targets leave the source NIC idle for want of slots.
      const double fill = source / std::max<std::uint32_t>(1, host_limit() / 2) * (1 - 1e-9);
      auto good = [&](double nic) {
        return nic >= fill && converges_alone_at(placement.vm, std::min(source, nic));
      };
      auto needed = speeds.end();
      if (!good(target)) {
        needed =
            std::find_if(speeds.begin(), speeds.end(), [&](double nic) { return nic > target && good(nic); });
        // None fills the NIC: the slowest faster one on which it converges.
        if (needed == speeds.end() && !converges_alone_at(placement.vm, std::min(source, target))) {
          needed = std::find_if(speeds.begin(), speeds.end(), [&](double nic) {
            return nic > target && converges_alone_at(placement.vm, std::min(source, nic));
          });
        }
      }
      if (needed == speeds.end()) {
        settled.push_back(placement);
      } else {
        by_speed_needed[*needed].push_back(placement.vm);
      }
    }
    if (by_speed_needed.empty()) return plan;
    for (const auto& placement : settled) cloud_.vms[placement.vm].host = placement.to;
    std::vector<VmIndex> left_over;
    for (const auto& [speed, vms] : by_speed_needed) {
      plan::PlanRequest faster = request;
      faster.only_vms = vms;
      for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
        if (nic_of(h) < speed) faster.excluded_hosts.push_back(h);
      }
      auto again = decide("evacuation-live-capable", faster);
      for (const auto& placement : again.placements) {
        cloud_.vms[placement.vm].host = placement.to;
        settled.push_back(placement);
      }
      for (const auto& waiting : again.waiting) left_over.push_back(waiting.vm);
    }
    if (!left_over.empty()) {
      plan::PlanRequest anywhere = request;
      anywhere.only_vms = left_over;
      auto again = decide("evacuation-left-over", anywhere);
      for (const auto& placement : again.placements) {
        cloud_.vms[placement.vm].host = placement.to;
        settled.push_back(placement);
      }
      plan.waiting.insert(plan.waiting.end(), again.waiting.begin(), again.waiting.end());
    }
    plan.placements = std::move(settled);
    return plan;
  }

  void add_unprotected_stop(VmIndex vm, HostIndex host) {
    auto m = add_move(vm, host, kNoIndex, cloud_.vms[vm].priority, host_deadline_[host]);
    auto& move = moves_[m];
    move.state = State::stop_waiting;
    move.reason = "protect: false: stopped before the deadline, not moved";
    double at = std::max(now(), move.deadline_s - 2 * options_.cold.vm_stop_s - 5.0);
    move.has_timer = true;
    move.timer = env_.loop.schedule_after(at - now(), [this, m] {
      auto& stop = moves_[m];
      stop.has_timer = false;
      if (stop.state != State::stop_waiting) return;
      stop.state = State::stopping;
      stop.start_s = now();
      request_step({StepKind::stop, m});
    });
  }

  void schedule_deadline(HostIndex host, double deadline_s) {
    auto key = std::make_pair(host, deadline_s);
    if (std::find(deadline_timers_.begin(), deadline_timers_.end(), key) != deadline_timers_.end()) return;
    deadline_timers_.push_back(key);
    env_.loop.schedule_after(std::max(0.0, deadline_s - now()), [this, host, deadline_s] {
      // Cold starts held for this deadline may go (pump_steps), once the slots are looked at again.
      request_dispatch();
      request_pump();
      if (host_deadline_[host] != deadline_s) return;  // superseded or maintenance ended
      for (VmIndex v = 0; v < latest_move_.size(); ++v) {
        if (latest_move_[v] == kNoMove) continue;
        auto& move = moves_[latest_move_[v]];
        if (move.from != host || move.fail_back || move.off_s >= 0) continue;
        if (move.state == State::cancelled) continue;
        move.running_at_deadline = true;
        std::string why;
        switch (move.state) {
          case State::pending:
          case State::cold_waiting:
            why = "its move had not begun";
            break;
          case State::live:
            why = "its live migration was still running";
            break;
          case State::cold:
          case State::stopping:
            why = "its clean stop had not finished";
            break;
          case State::resuming:
            why = "its move, in flight when the controller restarted, had not settled";
            break;
          default:
            why = move.reason.empty() ? "it could not be moved" : move.reason;
            break;
        }
        std::string note = fmt::format("still running on {} at the deadline ({:.0f} s): {}",
                                       cloud_.hosts[host].name, deadline_s, why);
        move.reason = move.reason.empty() || move.reason == why ? note : move.reason + "; " + note;
      }
    });
  }

  // A host stopped answering: no more moves to it. Moves planned there and not begun are replanned; those in
  // flight end with a failure from the environment and are replanned then.
  void on_host_lost(HostIndex host) {
    if (halted_) return;
    if (host >= lost_.size() || lost_[host]) return;
    lost_[host] = true;
    avoid_[host] = true;
    journal("host_lost", nlohmann::ordered_json{{"host", cloud_.hosts[host].name}});
    // Moves off the lost host end here: its VMs are the failure recovery's now (the calls in flight there get
    // no answer). A migration in flight may still switch over: it is not cancelled, its target stays in the
    // VM's set of copies (unanswered), and its slots are held until it answers or a host of it is confirmed
    // fenced (release_migrations_on).
    advance_mirror();
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      auto& move = moves_[m];
      if (move.from != host || move.fail_back) continue;
      bool live = move.state == State::live;
      bool not_begun = move.state == State::pending || move.state == State::cold_waiting ||
                       move.state == State::stop_waiting || move.state == State::not_placed;
      bool still_there =
          (move.state == State::cold || move.state == State::stopping || move.state == State::resuming) &&
          move.off_s < 0;
      if (!live && !not_begun && !still_there) continue;  // a cold move past its stop goes on
      // A resumed migration may have switched over.
      if (move.state == State::resuming && !move.cold && move.to != kNoIndex) live = true;
      cancel_timer(move);
      // A VM whose migration may have switched over keeps its target's capacity in the engine's view.
      if (move.to != kNoIndex && !live) cloud_.vms[move.vm].host = move.from;
      std::string why =
          live ? fmt::format(
                     "{} was lost during its live migration to {}: left to failure recovery (the "
                     "migration is unanswered: the VM may run on {})",
                     cloud_.hosts[host].name, cloud_.hosts[move.to].name, cloud_.hosts[move.to].name)
               : fmt::format("{} was lost before the move ended: left to failure recovery",
                             cloud_.hosts[host].name);
      leave_to_recovery(m, why, live);
    }
    // Their answers will not come: once the environment says such a migration ended, its slots go back.
    for (const auto& [id, call] : live_calls_) {
      if (call.from == host || call.to == host) env_.loop.post([this, id = id] { watch_unanswered(id); });
    }
    set_draining(host, false);
    host_deadline_[host] = kNoDeadline;
    // VMs moved onto the lost host run there no more as far as anyone knows: failure recovery's now (never
    // reported moved to a host that is gone).
    for (VmIndex v = 0; v < latest_move_.size(); ++v) {
      auto m = latest_move_[v];
      if (m == kNoMove) continue;
      const auto& move = moves_[m];
      if (move.to != host || (move.state != State::done_live && move.state != State::done_cold)) continue;
      leave_to_recovery(m,
                        fmt::format("moved to {} at {:.0f} s; {} was lost after: left to failure recovery",
                                    cloud_.hosts[host].name, move.end_s, cloud_.hosts[host].name),
                        false);
    }
    give_up_cold_moves_onto(host);
    replan_moves_onto(host, fmt::format("target {} lost before the move began", cloud_.hosts[host].name));
    replan_deadlines();
    dispatch();
  }

  // Whether a cold move's target is gone: its connection was lost, or failure recovery declared it failed
  // (and owns what is homed there), or it is confirmed fenced.
  bool target_gone(HostIndex host) const {
    return lost_[host] || declared_failed_[host] ||
           (env_.availability != nullptr && env_.availability->fenced(host));
  }

  // A cold move past its stop whose target is gone: the VM (homed at the target since its stop) is the
  // failure recovery's now; its steps not yet issued are dropped, the answers of those in flight change
  // nothing. The engine acts on it no more: a disk it mapped to the dead target after the recovery unmapped
  // it there would be mapped to two hosts once the VM is restarted elsewhere (found by revive torture). One
  // whose stop is in flight is given up when the stop answers (on_step_done).
  void give_up_cold_moves_onto(HostIndex host) {
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      const auto& move = moves_[m];
      if ((move.state != State::cold && move.state != State::resuming) || move.to != host || move.off_s < 0)
        continue;
      leave_to_recovery(m,
                        fmt::format("target {} was lost during the move: left to failure recovery",
                                    cloud_.hosts[host].name),
                        false);
    }
  }

  // Moves onto `host` not begun are planned again (elsewhere): it may no longer receive VMs.
  void replan_moves_onto(HostIndex host, const std::string& why) {
    std::vector<VmIndex> replan;
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      auto& move = moves_[m];
      if (move.to == host && not_begun(m)) {
        drop_unlaunched_stop(m);
        cancel_timer(move);
        cloud_.vms[move.vm].host = move.from;
        move.state = State::cancelled;
        move.reason = why;
        // Only a VM whose host is still drained must go elsewhere; a fail-back (or a move whose drain
        // ended) simply stays where the VM runs.
        if (draining_[move.from]) replan.push_back(move.vm);
      }
    }
    if (replan.empty()) {
      cloud_.rebuild_indexes();
      return;
    }
    plan_moves(replan);
    cloud_.rebuild_indexes();
  }

  // The engine gives the VM of move `m` up to failure recovery (its source, or its target past the stop, was
  // lost). Reported `failed` with `why`; never "moved". With `migration_unanswered`, its migration is still
  // in flight: the VM may run on the target (the set of copies says so until the migration answers or proof
  // comes).
  void leave_to_recovery(std::size_t m, const std::string& why, bool migration_unanswered) {
    auto& move = moves_[m];
    drop_unlaunched_stop(m);
    move.state = State::failed;
    move.reason = move.reason.empty() ? why : move.reason + "; " + why;
    left_to_recovery_[move.vm] = true;
    journal_move("left_to_recovery", move,
                 {{"reason", move.reason}, {"migration_unanswered", migration_unanswered}});
  }

  // ---- journal resume ----------------------------------------------------------------------------------

 public:
  void halt() { halted_ = true; }

  // What the journal says of one VM's latest move (resume).
  struct Journaled {
    enum class Kind : std::uint8_t {
      none,
      planned,      // in an evacuation_plan, not begun (or its migration failed): planned again
      migrating,    // migrate_started, unanswered
      migrated,     // migrate_done
      cold,         // cold_move_started, its stop unanswered
      cold_off,     // cold_stop_done: stopped on its source, homed at its target
      cold_start,   // cold_start_issued, unanswered
      moved_cold,   // cold_move_done
      cold_failed,  // cold_move_failed
      left,         // left_to_recovery
      stopped,      // protect: false, stopped
    } kind = Kind::none;
    HostIndex from = kNoIndex, to = kNoIndex;
    model::Priority priority = model::Priority::medium;
    double start_s = -1.0, off_s = -1.0, end_s = -1.0;
    std::uint32_t live_attempts = 0;
    bool cold = false;
    std::string reason;
  };

  // Continues the drains of a controller that stopped, from the journal it shares with the recovery executor
  // (which resumes first: it holds the slots of the dead controller's unanswered migrations and cold starts
  // and keeps them unanswered in the copies set). Drains still in force keep their deadlines; moves that
  // ended are reported as they ended; moves in flight are settled (settle_resumed) once every call of them
  // the dead controller may have made has ended, by listing where the VM runs; VMs still on a drained host
  // are planned again.
  void resume() {
    if (env_.journal == nullptr) return;
    auto records = env_.journal->read_all();
    std::vector<Journaled> seen(cloud_.vms.size());
    std::vector<HostIndex> location(cloud_.vms.size());
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) location[v] = cloud_.vms[v].host;
    std::vector<bool> draining(cloud_.hosts.size(), false), urgent(cloud_.hosts.size(), false);
    std::vector<double> deadline(cloud_.hosts.size(), kNoDeadline);
    auto host_named = [this](const nlohmann::json& payload, const char* key) {
      auto name = payload.value(key, std::string());
      return name.empty() ? kNoIndex : cloud_.find_host(name);
    };
    auto hosts_named = [this](const nlohmann::json& payload) {
      std::vector<HostIndex> hosts;
      for (const auto& name : payload.value("hosts", nlohmann::json::array())) {
        if (!name.is_string()) continue;
        auto h = cloud_.find_host(name.get<std::string>());
        if (h != kNoIndex) hosts.push_back(h);
      }
      return hosts;
    };
    for (const auto& record : records) {
      auto payload = nlohmann::json::parse(record.payload, nullptr, false);
      if (!payload.is_object()) continue;
      const auto& kind = record.kind;
      if (kind == "evacuate") {
        auto reason = parse_evacuation_reason(payload.value("reason", std::string()));
        double at = payload.value("deadline_s", kNoDeadline);
        for (auto h : hosts_named(payload)) {
          draining[h] = true;
          deadline[h] = std::min(deadline[h], at);
          if (reason == EvacuationReason::predicted_failure) urgent[h] = true;
        }
      } else if (kind == "exit_maintenance") {
        for (auto h : hosts_named(payload)) {
          draining[h] = urgent[h] = false;
          deadline[h] = kNoDeadline;
        }
      } else if (kind == "host_lost") {
        auto h = host_named(payload, "host");
        if (h == kNoIndex) continue;
        lost_[h] = avoid_[h] = true;
        draining[h] = urgent[h] = false;
        deadline[h] = kNoDeadline;
      } else if (kind == "host_failed" || kind == "host_returned") {  // the recovery executor's
        auto h = host_named(payload, "host");
        if (h != kNoIndex) declared_failed_[h] = kind == "host_failed";
      } else if (kind == "vm_running" || kind == "adopted") {  // the recovery executor restarted it
        auto vm = payload.contains("vm") ? cloud_.find_vm(payload.value("vm", std::string())) : kNoIndex;
        auto h = host_named(payload, "host");
        if (vm == kNoIndex || h == kNoIndex) continue;
        location[vm] = h;
        if (seen[vm].kind == Journaled::Kind::left) seen[vm].kind = Journaled::Kind::none;
      } else if (kind == "evacuation_plan") {
        for (const auto& placement : payload.value("placements", nlohmann::json::array())) {
          auto vm = cloud_.find_vm(placement.value("vm", std::string()));
          auto from = host_named(placement, "from");
          auto to = host_named(placement, "to");
          if (vm == kNoIndex || from == kNoIndex || to == kNoIndex) continue;
          auto& j = seen[vm];
          j = Journaled{};
          j.kind = Journaled::Kind::planned;
          j.from = from;
          j.to = to;
          j.priority = model::parse_priority(placement.value("priority", std::string()))
                           .value_or(cloud_.vms[vm].priority);
        }
      } else if (kind.starts_with("migrate_") || kind.starts_with("cold_") || kind == "left_to_recovery" ||
                 kind == "stopped") {
        auto vm = cloud_.find_vm(payload.value("vm", std::string()));
        auto from = host_named(payload, "from");
        auto to = host_named(payload, "to");
        if (vm == kNoIndex || from == kNoIndex) continue;
        auto& j = seen[vm];
        double at = payload.value("at_s", now());
        bool late = payload.value("late", false);
        if (j.from != from || j.to != to) {
          if (late && kind != "migrate_done") continue;  // an older move's late failure
          auto priority = j.kind == Journaled::Kind::none ? cloud_.vms[vm].priority : j.priority;
          j = Journaled{};
          j.from = from;
          j.to = to;
          j.priority = priority;
        }
        if (j.start_s < 0) j.start_s = at;
        using K = Journaled::Kind;
        if (kind == "migrate_started") {
          j.kind = K::migrating;
          ++j.live_attempts;
        } else if (kind == "migrate_done") {
          j.kind = K::migrated;
          j.off_s = j.end_s = at;
          location[vm] = to;
        } else if (kind == "migrate_failed") {
          if (!late) j.kind = K::planned;
        } else if (kind == "cold_move_started") {
          j.kind = K::cold;
          j.cold = true;
          j.reason = payload.value("reason", std::string());
        } else if (kind == "cold_stop_done") {
          j.kind = K::cold_off;
          j.cold = true;
          j.off_s = at;
          location[vm] = to;
        } else if (kind == "cold_start_issued") {
          j.kind = K::cold_start;
          j.cold = true;
          location[vm] = to;
        } else if (kind == "cold_move_done") {
          j.kind = K::moved_cold;
          j.cold = true;
          j.end_s = at;
          location[vm] = to;
        } else if (kind == "cold_move_failed") {
          j.kind = K::cold_failed;
          j.reason = payload.value("reason", std::string());
          if (payload.value("runs_on_source", false)) location[vm] = from;
        } else if (kind == "left_to_recovery") {
          j.kind = K::left;
          j.reason = payload.value("reason", std::string());
        } else if (kind == "stopped") {
          j.kind = K::stopped;
          j.off_s = j.end_s = at;
        }
      }
    }
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (!draining[h]) continue;
      set_draining(h, true);
      host_deadline_[h] = deadline[h];
      host_urgent_[h] = urgent[h];
      cloud_.hosts[h].state = model::HostState::maintenance;
    }
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) cloud_.vms[v].host = location[v];
    std::vector<VmIndex> to_plan;
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      const auto& j = seen[v];
      using K = Journaled::Kind;
      bool journaled_move = j.kind != K::none && j.kind != K::planned;
      if (journaled_move) {
        auto m = add_move(v, j.from, j.to, j.priority, host_deadline_[j.from]);
        auto& move = moves_[m];
        move.cold = j.cold;
        move.start_s = j.start_s;
        move.off_s = j.off_s;
        move.end_s = j.end_s;
        move.live_attempts = j.live_attempts;
        move.reason = j.reason;
        switch (j.kind) {
          case K::migrated:
            move.state = State::done_live;
            break;
          case K::moved_cold:
            move.state = State::done_cold;
            if (move.reason.empty()) move.reason = "moved cold before a controller restart";
            break;
          case K::stopped:
            move.state = State::stopped;
            move.reason = "protect: false: stopped before the deadline, not moved";
            break;
          case K::cold_failed:
            move.state = State::failed;
            break;
          case K::left:
            move.state = State::failed;
            left_to_recovery_[v] = true;
            break;
          default:  // in flight when the controller stopped
            move.state = State::resuming;
            move.reason = move.reason.empty() ? "resumed after a controller restart"
                                              : move.reason + "; resumed after a controller restart";
            // Homed at its target since its stop: the recovery executor follows it there. In this engine's
            // view it is at its target (the room it takes there is counted) until it settles.
            if (move.off_s >= 0 && move_observer) move_observer(v, move.to);
            // Its journaled stop is the answer that it no longer runs on its source.
            if (move.off_s >= 0) copies_->proven_absent(v, move.from);
            cloud_.vms[v].host = move.to;
            hold_resumed_calls(m);
            env_.loop.post([this, m] { settle_resumed(m, 0); });
            break;
        }
        // Off its host past the deadline (the dead controller's deadline timer flagged it, unjournaled).
        if (move.deadline_s < kNoDeadline && move.off_s > move.deadline_s) {
          move.running_at_deadline = true;
          auto note = fmt::format("still running on {} at the deadline ({:.0f} s): off it at {:.0f} s",
                                  cloud_.hosts[move.from].name, move.deadline_s, move.off_s);
          move.reason = move.reason.empty() ? note : move.reason + "; " + note;
        }
      }
      // A VM moved (or restarted by failure recovery) onto a host drained meanwhile is moved on; every other
      // journaled move stands.
      if (journaled_move && j.kind != K::migrated && j.kind != K::moved_cold) continue;
      auto host = location[v];
      if (host == kNoIndex || !draining[host] || left_to_recovery_[v]) continue;
      if (lost_[host] || declared_failed_[host] ||
          (env_.availability != nullptr && env_.availability->fenced(host))) {
        auto m = add_move(v, host, kNoIndex, cloud_.vms[v].priority, host_deadline_[host]);
        leave_to_recovery(m,
                          fmt::format("{} was lost before the drain resumed: left to failure recovery",
                                      cloud_.hosts[host].name),
                          false);
        continue;
      }
      if (cloud_.vms[v].protect) {
        to_plan.push_back(v);
      } else {
        // A stop the dead controller may have issued (unjournaled) holds its slots until it ended; then the
        // host is listed: stopped, or stopped now.
        auto m = add_move(v, host, kNoIndex, cloud_.vms[v].priority, host_deadline_[host]);
        moves_[m].state = State::resuming;
        moves_[m].reason = "protect: false: stopped before the deadline, not moved";
        hold_resumed_calls(m);
        env_.loop.post([this, m] { settle_resumed(m, 0); });
      }
    }
    cloud_.rebuild_indexes();
    plan_moves(to_plan);
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (draining[h]) schedule_deadline(h, host_deadline_[h]);
    }
    cloud_.rebuild_indexes();
    request_dispatch();
  }

 private:
  // The calls of move `m` the dead controller may have made whose slots no one else holds (the recovery
  // executor's resume holds those of migrations and cold starts): its stop, disk unmaps and maps, network
  // configuration. Each one still in progress (env::CallsInProgress) holds its slots until it ended; the
  // move settles only after (resumed_calls_). A migration in progress also counts against its hosts'
  // migration limits. Without that view, for a grace of one cold move.
  void hold_resumed_calls(std::size_t m) {
    const auto& move = moves_[m];
    std::vector<std::pair<env::Call, ScopeSet>> calls;
    auto global = [this](ScopeSet scopes) {
      scopes.add(ledger_->global());
      return scopes;
    };
    if (move.state == State::resuming && !move.cold && move.to != kNoIndex) {
      calls.push_back({{env::StepKind::migrate, move.vm, move.to, move.from, kNoIndex}, ScopeSet{}});
    } else if (move.off_s < 0) {
      ScopeSet scopes;
      scopes.add(ledger_->endpoint(cloud_.hosts[move.from].endpoint));
      calls.push_back({{env::StepKind::vm_stop, move.vm, move.from, kNoIndex, kNoIndex}, global(scopes)});
    } else if (move.to != kNoIndex) {
      for (auto d = cloud_.vms[move.vm].first_disk; d < cloud_.vm_disk_end(move.vm); ++d) {
        ScopeSet scopes;
        scopes.add(ledger_->array(cloud_.disks[d].array));
        auto disk = static_cast<DiskIndex>(d);
        calls.push_back({{env::StepKind::disk_unmap, move.vm, move.from, kNoIndex, disk}, global(scopes)});
        calls.push_back({{env::StepKind::disk_map, move.vm, move.to, kNoIndex, disk}, global(scopes)});
      }
      if (cloud_.hosts[move.to].network_switch != kNoIndex) {
        ScopeSet scopes;
        scopes.add(ledger_->network_switch(cloud_.hosts[move.to].network_switch));
        calls.push_back({{env::StepKind::net_config, move.vm, move.to, kNoIndex, kNoIndex}, global(scopes)});
      }
    }
    if (env_.calls == nullptr) {
      ++resumed_calls_[m];
      double grace_s = options_.cold.vm_stop_s + options_.cold.disk_unmap_s + options_.cold.disk_map_s +
                       options_.cold.net_config_s + options_.cold.vm_start_s;
      env_.loop.schedule_after(3 * grace_s, [this, m] { --resumed_calls_[m]; });
      return;
    }
    // Taken at once (the other engines dispatch in this instant too), given back once the call is not
    // running (asked at once).
    for (auto& [call, scopes] : calls) {
      ++resumed_calls_[m];
      ledger_->take(scopes);  // it may run whether or not there is room
      if (call.kind == env::StepKind::migrate) {
        ++migrations_on_[call.from];
        ++migrations_on_[call.host];
      }
      watch_resumed_call(m, call, scopes, 0, 0.0);
    }
  }

  void watch_resumed_call(std::size_t m, const env::Call& call, const ScopeSet& scopes, std::uint32_t checks,
                          double after_s = kResumePollS) {
    env_.loop.schedule_after(after_s, [this, m, call, scopes, checks] {
      if (halted_) return;
      env_.calls->in_progress(call, [this, m, call, scopes, checks](bool running) {
        if (halted_) return;
        if (running && checks < kResumeMaxChecks) return watch_resumed_call(m, call, scopes, checks + 1);
        if (call.kind == env::StepKind::migrate) {
          --migrations_on_[call.from];
          --migrations_on_[call.host];
        }
        --resumed_calls_[m];
        if (!scopes.empty()) ledger_->release(scopes, listener_);
        // The last of them ended: the move settles now (not at its next poll).
        if (resumed_calls_[m] == 0 && moves_[m].state == State::resuming)
          env_.loop.post([this, m] { settle_resumed(m, 0); });
        after_release();
        request_dispatch();
      });
    });
  }

  // A move in flight when the controller stopped: once the calls of it that may still run have ended (and
  // the copies set has no operation of the VM unanswered), the hosts it may run on are listed, and the move
  // ends where the VM is found: on its target alone (done), on its source alone (planned again), nowhere
  // (a cold move goes on from its stop; a migration's VM stopped: handed to the VM-level restarts). Its
  // source lost first (its target, past the stop): left to failure recovery, as in flight.
  void settle_resumed(std::size_t m, std::uint32_t checks) {
    if (halted_ || moves_[m].state != State::resuming) return;
    auto& move = moves_[m];
    auto again = [this, m, checks] {
      env_.loop.schedule_after(kResumePollS, [this, m, checks] { settle_resumed(m, checks + 1); });
    };
    bool past_stop = move.off_s >= 0;
    if (!past_stop && (lost_[move.from] || declared_failed_[move.from])) {
      leave_to_recovery(m,
                        fmt::format("{} was lost before the resumed move settled: left to failure recovery",
                                    cloud_.hosts[move.from].name),
                        !move.cold && move.to != kNoIndex);
      return;
    }
    if (past_stop && target_gone(move.to)) {
      leave_to_recovery(m,
                        fmt::format("target {} was lost during the resumed move: left to failure recovery",
                                    cloud_.hosts[move.to].name),
                        false);
      return;
    }
    if (checks >= kResumeMaxChecks) {
      move.state = State::failed;
      move.reason += fmt::format(
          "; where it runs was not settled after {:.0f} s (its calls or listings never "
          "ended): {}",
          kResumeMaxChecks * kResumePollS, copies_->describe(move.vm, cloud_));
      return;
    }
    bool pending = resumed_calls_[m] > 0;
    for (const auto& entry : copies_->entries(move.vm)) {
      pending = pending || entry.starting > 0 ||
                (entry.migrating_in > 0 && !copies_->needs_listing(move.vm, entry.host));
    }
    if (pending) return again();
    // List every host the VM may run on, and its source and target.
    std::vector<HostIndex> hosts = copies_->hosts(move.vm);
    for (auto host : {move.from, move.to}) {
      if (host != kNoIndex && std::find(hosts.begin(), hosts.end(), host) == hosts.end())
        hosts.push_back(host);
    }
    // A host lost (or declared failed) gives no answer: its entry ends at its fence. A listing unanswered
    // within the poll's time counts as failed (a host cut off never answers).
    std::erase_if(hosts, [this](HostIndex host) { return lost_[host] || declared_failed_[host]; });
    struct Round {
      std::size_t outstanding = 0;
      bool failed = false;
      bool over = false;
    };
    auto round = std::make_shared<Round>();
    round->outstanding = hosts.size();
    if (hosts.empty()) return again();
    env_.loop.schedule_after(6 * kResumePollS, [this, m, checks, round] {
      if (round->over || halted_) return;
      round->over = true;
      decide_resumed(m, checks, true);
    });
    for (auto host : hosts) {
      auto as_of = copies_->version();
      env_.hypervisor.list_running(host,
                                   [this, m, checks, host, as_of, round](const env::OperationResult& result,
                                                                         std::vector<VmIndex> running) {
                                     if (halted_ || round->over) return;
                                     if (result.ok) {
                                       copies_->listed(host, running, as_of);
                                     } else {
                                       round->failed = true;
                                     }
                                     if (--round->outstanding > 0) return;
                                     round->over = true;
                                     decide_resumed(m, checks, round->failed);
                                   });
    }
  }

  void decide_resumed(std::size_t m, std::uint32_t checks, bool listing_failed) {
    if (halted_ || moves_[m].state != State::resuming) return;
    auto& move = moves_[m];
    std::vector<HostIndex> running;
    bool unsettled = listing_failed;
    for (const auto& entry : copies_->entries(move.vm)) {
      if (entry.running && !entry.unknown && entry.starting == 0 && entry.migrating_in == 0) {
        running.push_back(entry.host);
      } else {
        unsettled = true;
      }
    }
    if (unsettled || running.size() > 1) {
      env_.loop.schedule_after(kResumePollS, [this, m, checks] { settle_resumed(m, checks + 1); });
      return;
    }
    auto vm = move.vm;
    if (move.to == kNoIndex && running.size() == 1 && running.front() == move.from) {
      // protect: false, not stopped yet: stopped before its deadline, as planned.
      move.state = State::cancelled;
      if (draining_[move.from]) add_unprotected_stop(vm, move.from);
    } else if (running.size() == 1 && running.front() == move.to) {
      // It moved: the dead controller's migration switched over, or its cold start took effect.
      move.state = move.cold ? State::done_cold : State::done_live;
      if (move.off_s < 0) move.off_s = now();
      move.end_s = now();
      move.reason += fmt::format(": found running on {}", cloud_.hosts[move.to].name);
      journal_move(move.cold ? "cold_move_done" : "migrate_done", move, {{"resumed", true}});
      cloud_.vms[vm].host = move.to;
      if (move_observer) move_observer(vm, move.to);
      if (draining_[move.to]) plan_moves({vm});
    } else if (running.size() == 1 && running.front() == move.from && !move.cold) {
      // The migration did not switch over: planned again (if its host is still drained).
      journal_move("migrate_failed", move, {{"error", "resumed: still on its source"}});
      move.state = State::cancelled;
      move.reason = "its migration did not switch over before the controller restart";
      cloud_.vms[vm].host = move.from;
      if (draining_[move.from]) plan_moves({vm});
    } else if (running.size() == 1 && running.front() == move.from && draining_[move.from] &&
               move.to != kNoIndex && !draining_[move.to] && !target_gone(move.to) && shared_up(move.to)) {
      // A cold move whose stop did not take effect: it begins again (its time had come), onto its target.
      move.state = State::cold;
      start_cold(m);
    } else if (running.size() == 1 && running.front() == move.from) {
      // ... and one whose target can no longer take it: planned again.
      journal_move("cold_move_failed", move,
                   {{"reason", "resumed: its stop did not take effect"}, {"runs_on_source", true}});
      move.state = State::cancelled;
      move.reason = "its cold move's stop did not take effect before the controller restart";
      cloud_.vms[vm].host = move.from;
      if (draining_[move.from]) plan_moves({vm});
    } else if (running.empty() && move.cold && move.to != kNoIndex) {
      // Stopped on its source, not started on its target: the move goes on from its stop (every step is
      // idempotent).
      move.state = State::cold;
      cloud_.vms[vm].host = move.to;
      if (move.off_s < 0) {
        move.off_s = now();
        journal_move("cold_stop_done", move, {{"resumed", true}});
        if (move_observer) move_observer(vm, move.to);
      }
      continue_after_stop(m);
    } else if (running.empty() && move.to == kNoIndex) {
      move.state = State::stopped;  // protect: false, stopped
      move.end_s = now();
      if (move.off_s < 0) move.off_s = now();
      journal_move("stopped", move);
    } else {
      // Runs on some other host, or nowhere after a migration (its guest stopped): not this engine's to
      // decide; the VM-level restarts hear of a VM found stopped.
      move.state = State::failed;
      move.reason = fmt::format("resumed after a controller restart: found {}",
                                running.empty() ? std::string("running nowhere")
                                                : "running on " + cloud_.hosts[running.front()].name);
      journal_move("migrate_failed", move, {{"error", move.reason}});
      cloud_.vms[vm].host = running.empty() ? move.from : running.front();
      if (running.empty() && found_stopped_observer) {
        env_.loop.post([this, vm, from = move.from] {
          if (!halted_) found_stopped_observer(vm, from);
        });
      }
    }
    // A move planned in its place inherits what its deadline saw.
    if (latest_move_[vm] != m && moves_[m].running_at_deadline) {
      auto& next = moves_[latest_move_[vm]];
      next.running_at_deadline = true;
      next.reason = next.reason.empty() ? moves_[m].reason : next.reason + "; " + moves_[m].reason;
    }
    cloud_.rebuild_indexes();
    after_release();
    request_dispatch();
  }

  // ---- live migrations ---------------------------------------------------------------------------------

  // Brings the engine's mirror of its migrations to now. A migration the mirror sees end while it really
  // still runs (the prediction was optimistic) gets a short placeholder tail, so it keeps its share.
  void advance_mirror() {
    std::vector<FlowOutcome> ended;
    mirror_.advance_to(now(), ended);
    for (const auto& outcome : ended) {
      auto found = flow_move_.find(outcome.id);
      if (found == flow_move_.end()) continue;
      auto m = found->second;
      flow_move_.erase(found);
      auto& move = moves_[m];
      if (move.state != State::live || move.flow != outcome.id) continue;
      double dirty = cloud_.vms[move.vm].dirty_mib_s;
      move.flow = mirror_.start({move.vm, move.from, move.to, std::max(256.0, 5.0 * dirty), dirty, true});
      flow_move_[move.flow] = m;
    }
  }

  std::uint32_t host_limit() const {
    auto limit = cloud_.policy.host_max_parallel_migrations;
    if (options_.strategy == EvacuationStrategy::fixed_8) limit = std::min(limit, options_.fixed_limit);
    return std::max<std::uint32_t>(limit, 1);
  }

  // Whether the migration may begin now: room on both hosts, and no start of the VM on its source still
  // unanswered (a late start there would bring a second copy up behind the migration).
  bool has_room(const Move& move) const {
    auto limit = host_limit();
    return migrations_on_[move.from] < limit && migrations_on_[move.to] < limit &&
           !copies_->pending_on(move.vm, move.from);
  }

  // The ledger scopes a live migration holds: the management endpoint of its source and that of its target
  // (once when they share one: one operation through it), and the global limit.
  ScopeSet migration_scopes(const Move& move) const {
    ScopeSet scopes;
    auto source = cloud_.hosts[move.from].endpoint, target = cloud_.hosts[move.to].endpoint;
    scopes.add(ledger_->endpoint(source));
    if (target != source) scopes.add(ledger_->endpoint(target));
    scopes.add(ledger_->global());
    return scopes;
  }

  // Takes the migration's ledger slots and starts it; false (nothing started) when a slot is not free now:
  // the engine dispatches again when slots are released.
  bool try_start_live(std::size_t m) {
    if (halted_) return false;
    auto scopes = migration_scopes(moves_[m]);
    if (!ledger_->try_acquire(scopes, listener_)) {
      migration_wants_slots_ = true;
      return false;
    }
    start_live(m, scopes);
    return true;
  }

  void start_live(std::size_t m, const ScopeSet& scopes) {
    auto& move = moves_[m];
    const auto& vm = cloud_.vms[move.vm];
    move.state = State::live;
    ++move.live_attempts;
    if (move.start_s < 0) move.start_s = now();
    ++migrations_on_[move.from];
    ++migrations_on_[move.to];
    peak_migrations_ = std::max({peak_migrations_, migrations_on_[move.from], migrations_on_[move.to]});
    ++live_in_flight_;
    move.flow = mirror_.start({move.vm, move.from, move.to, static_cast<double>(vm.memory_mib),
                               static_cast<double>(vm.dirty_mib_s)});
    flow_move_[move.flow] = m;
    auto id = next_live_id_++;
    move.live_call = id;
    live_calls_.emplace(id, LiveCall{m, move.vm, move.from, move.to, scopes});
    journal_move("migrate_started", move);
    copies_->migration_issued(move.vm, move.from, move.to);
    env_.hypervisor.migrate_vm(
        move.vm, move.from, move.to,
        [this, id, vm = move.vm, from = move.from, to = move.to](const env::OperationResult& result) {
          // News of where the VM runs, whatever became of the move (also after it was given up).
          copies_->migration_answered(vm, from, to, result.ok);
          on_live_done(id, result);
        });
    // Onto or off a host lost already: no answer will come (watch_unanswered gives its slots back once the
    // call ended).
    if (lost_[move.from] || lost_[move.to]) env_.loop.post([this, id] { watch_unanswered(id); });
  }

  // Gives back what a migration holds: its ledger slots, its per-host counts, its flow in the mirror.
  void release_live_call(const LiveCall& call) {
    ledger_->release(call.scopes, listener_);
    --migrations_on_[call.from];
    --migrations_on_[call.to];
    --live_in_flight_;
    auto& move = moves_[call.move];
    if (mirror_.contains(move.flow)) mirror_.cancel(move.flow);
    flow_move_.erase(move.flow);
  }

  void on_live_done(std::uint64_t id, const env::OperationResult& result) {
    if (halted_) return;
    advance_mirror();
    auto found = live_calls_.find(id);
    if (found == live_calls_.end()) return;  // released when a host of it was confirmed fenced
    auto call = found->second;
    live_calls_.erase(found);
    release_live_call(call);
    auto m = call.move;
    auto& move = moves_[m];
    if (move.state != State::live || move.live_call != id) {
      on_late_live_answer(m, result);
    } else if (result.ok) {
      move.state = State::done_live;
      move.off_s = move.end_s = now();
      journal_move("migrate_done", move);
      if (move_observer) move_observer(move.vm, move.to);
      if (lost_[move.to]) {  // it switched over to a host lost meanwhile: runs there, as far as anyone knows
        leave_to_recovery(m,
                          fmt::format("switched over to {} after {} was lost: left to failure recovery",
                                      cloud_.hosts[move.to].name, cloud_.hosts[move.to].name),
                          false);
      } else if (draining_[move.to]) {  // its target was drained meanwhile: move it on
        plan_moves({move.vm});
        cloud_.rebuild_indexes();
      }
    } else {
      journal_move("migrate_failed", move, {{"error", result.error}});
      on_migration_failed(m, result.error);
    }
    pump_steps();
    replan_deadlines();
    dispatch();
  }

  // The answer of a migration whose move was given up to failure recovery (its source was lost). A
  // switch-over means the VM runs on the target alone (no engine started it elsewhere meanwhile: the
  // unanswered migration kept the target in its set of copies): the move did happen, and the VM is the
  // engine's again.
  void on_late_live_answer(std::size_t m, const env::OperationResult& result) {
    auto& move = moves_[m];
    if (!result.ok) {
      journal_move("migrate_failed", move, {{"error", result.error}, {"late", true}});
      move.reason += fmt::format("; its migration answered at {:.0f} s: failed ({})", now(), result.error);
      return;
    }
    journal_move("migrate_done", move, {{"late", true}});
    move.reason += fmt::format("; its migration answered at {:.0f} s: switched over, runs on {}", now(),
                               cloud_.hosts[move.to].name);
    if (latest_move_[move.vm] != m) return;  // failure recovery restarted it (on_vm_recovered) meanwhile
    move.state = State::done_live;
    move.off_s = move.end_s = now();
    left_to_recovery_[move.vm] = false;
    cloud_.vms[move.vm].host = move.to;
    cloud_.rebuild_indexes();
    if (move_observer) move_observer(move.vm, move.to);
    if (draining_[move.to]) {
      plan_moves({move.vm});
      cloud_.rebuild_indexes();
    }
  }

  // A host of migrations in flight is confirmed fenced (off): they will never answer, so their slots go back
  // (not earlier: until then they may still run). A migration still in charge whose target is off cannot
  // have switched over: the VM runs on its source and is planned again like any failed migration.
  // Migration `id` will get no answer (a host of it was lost): asks the environment every 5 s whether it
  // still runs; once it ended, its slots go back (as at a fence) and its outcome is unknown in the copies
  // set (the target may run the VM: a listing or a fence decides; the source keeps its entry).
  void watch_unanswered(std::uint64_t id) {
    if (halted_ || env_.calls == nullptr || !live_calls_.contains(id)) return;
    const auto& watched = live_calls_.at(id);
    env_.calls->in_progress(
        {env::StepKind::migrate, watched.vm, watched.to, watched.from, kNoIndex}, [this, id](bool running) {
          auto found = live_calls_.find(id);
          if (found == live_calls_.end()) return;  // answered or released meanwhile
          if (running) {
            env_.loop.schedule_after(5.0, [this, id] { watch_unanswered(id); });
            return;
          }
          auto call = found->second;
          live_calls_.erase(found);
          advance_mirror();
          release_live_call(call);
          copies_->migration_answered(call.vm, call.from, call.to, false);
          copies_->maybe_running(call.vm, call.to);
          auto& move = moves_[call.move];
          if (move.state == State::live && move.live_call == id) {
            journal_move("migrate_failed", move, {{"error", "no answer: the call ended"}});
            on_migration_failed(call.move, "no answer: the call ended", true);
          }
          pump_steps();
          replan_deadlines();
          dispatch();
        });
  }

  void release_migrations_on(HostIndex host) {
    bool released = false;
    std::vector<std::size_t> failed;
    for (auto it = live_calls_.begin(); it != live_calls_.end();) {
      if (it->second.from != host && it->second.to != host) {
        ++it;
        continue;
      }
      auto id = it->first;
      auto call = it->second;
      it = live_calls_.erase(it);
      advance_mirror();
      release_live_call(call);
      released = true;
      auto& move = moves_[call.move];
      if (move.state != State::live || move.live_call != id) continue;
      if (call.to == host) {
        journal_move("migrate_failed", move, {{"error", "target host fenced"}});
        failed.push_back(call.move);
      } else {
        leave_to_recovery(call.move,
                          fmt::format("{} was fenced during its live migration: left to failure recovery",
                                      cloud_.hosts[host].name),
                          true);
      }
    }
    for (auto m : failed) {
      on_migration_failed(m, fmt::format("target {} was fenced", cloud_.hosts[host].name), true);
    }
    if (!released) return;
    pump_steps();
    replan_deadlines();
    dispatch();
  }

  // A migration of move `m` failed (the VM runs on its source): the target is avoided and the VM planned
  // again, or it goes cold (revive) or back into the queue (baselines). The caller dispatches.
  // `unanswered`: no answer came, the migration ended by its target's fence (it may have switched over).
  void on_migration_failed(std::size_t m, const std::string& error, bool unanswered = false) {
    auto& move = moves_[m];
    if (!draining_[move.from] && unanswered) {
      // Its drain ended meanwhile (or it was a fail-back), and it may have switched over to the target the
      // fence then stopped: no engine can tell where it runs (found by revive torture).
      move.state = State::failed;
      move.reason = fmt::format(
          "its migration to {} was unanswered when {} was fenced: it may have switched over and been stopped "
          "there, or still run on {}",
          cloud_.hosts[move.to].name, cloud_.hosts[move.to].name, cloud_.hosts[move.from].name);
      cloud_.vms[move.vm].host = move.from;
      cloud_.rebuild_indexes();
      return;
    }
    if (!draining_[move.from]) {
      // Its drain was cancelled or its host left maintenance while it ran (or it was a fail-back): nothing
      // asks the VM to leave any more, so it stays where it runs, not planned again (a plan without a drained
      // host could "move" it onto its own host).
      move.state = State::cancelled;
      move.reason = fmt::format("migration to {} failed after the drain of {} ended ({}): it stays there",
                                cloud_.hosts[move.to].name, cloud_.hosts[move.from].name, error);
      cloud_.vms[move.vm].host = move.from;
      cloud_.rebuild_indexes();
      return;
    }
    {
      bool converging = error.find("did not converge") == std::string::npos;
      if (converging && move.to != kNoIndex && options_.strategy == EvacuationStrategy::revive) {
        retry_after_failure(m, error);
      } else if (converging && move.to != kNoIndex) {
        // Not the VM's dirty rate: the target (or the way to it) failed. Avoid it and replan the VM.
        avoid_[move.to] = true;
        auto vm = move.vm;
        auto attempts = move.live_attempts;
        auto start = move.start_s;
        move.state = State::cancelled;
        move.reason = fmt::format("migration to {} failed: {}", cloud_.hosts[move.to].name, error);
        std::string why = move.reason;
        cloud_.vms[vm].host = move.from;
        plan_moves({vm});
        cloud_.rebuild_indexes();
        auto& retry = moves_[latest_move_[vm]];
        retry.live_attempts = attempts;
        retry.start_s = start;
        if (retry.state == State::not_placed) {
          retry.reason = why + "; " + retry.reason;
        } else if (attempts >= options_.max_live_attempts) {
          retry.reason = why + "; " + fmt::format("gave up live after {} attempts", attempts);
          if (options_.strategy == EvacuationStrategy::revive) {
            retry.reason = "moved cold: " + retry.reason;
            start_cold(latest_move_[vm]);
          } else {
            retry.state = State::failed;
            cloud_.vms[vm].host = retry.from;
          }
        } else {
          retry.reason = why + "; retried on " + cloud_.hosts[retry.to].name;
        }
      } else if (options_.strategy == EvacuationStrategy::revive) {
        move.reason = "moved cold: " + error;
        start_cold(m);
      } else if (move.live_attempts < options_.max_live_attempts) {
        move.state = State::pending;
        move.sequence = next_sequence_++;  // back of the queue
      } else {
        move.state = State::failed;
        move.reason = fmt::format("live migration failed {} times: {}", move.live_attempts, error);
        cloud_.vms[move.vm].host = move.from;
      }
    }
  }

  // The wait before attempt `failures` + 1: retry_backoff_s doubled per failure, at most retry_backoff_max_s.
  double backoff_s(std::uint32_t failures) const {
    double wait = options_.retry_backoff_s;
    for (std::uint32_t i = 1; i < failures && wait < options_.retry_backoff_max_s; ++i) wait *= 2;
    return std::min(wait, options_.retry_backoff_max_s);
  }

  // Revive: migration `m` failed for another reason than convergence (the VM still runs on its source).
  // Failures are often transient: the target is no target during its backoff, and the VM is planned again
  // and retried after its own backoff -- on another target when one can take it, else on the same one. When
  // no live attempt is left, it moves cold at once; replan_deadlines sends it cold in time when a retry
  // could no longer end before the deadline.
  void retry_after_failure(std::size_t m, const std::string& error) {
    auto& failed = moves_[m];
    const VmIndex vm = failed.vm;
    const HostIndex target = failed.to;
    const auto attempts = failed.live_attempts;
    const double start = failed.start_s;
    backoff_until_[target] = now() + backoff_s(++target_failures_[target]);
    failed.state = State::cancelled;
    failed.reason = fmt::format("migration to {} failed: {}", cloud_.hosts[target].name, error);
    const std::string why = failed.reason;
    cloud_.vms[vm].host = failed.from;
    plan_moves({vm});
    if (moves_[latest_move_[vm]].state == State::not_placed) {
      // Nowhere else: the same target (or another in backoff) once its backoff is over.
      moves_[latest_move_[vm]].state = State::cancelled;
      plan_onto_backed_off_ = true;
      plan_moves({vm});
      plan_onto_backed_off_ = false;
    }
    cloud_.rebuild_indexes();
    const std::size_t r = latest_move_[vm];
    auto& retry = moves_[r];
    retry.live_attempts = attempts;
    retry.start_s = start;
    retry.last_error = error;
    if (retry.state == State::not_placed) {
      retry.reason = why + "; " + retry.reason;
      return;
    }
    if (attempts >= options_.revive_live_attempts) {
      retry.reason = "moved cold: " + why + fmt::format("; gave up live after {} attempts", attempts);
      start_cold(r);
      return;
    }
    retry.retry_at_s = std::max(now() + backoff_s(attempts), backoff_until_[retry.to]);
    retry.reason = why + fmt::format("; attempt {} on {} from {:.1f} s", attempts + 1,
                                     cloud_.hosts[retry.to].name, retry.retry_at_s);
    cancel_timer(retry);
    retry.has_timer = true;
    retry.timer = env_.loop.schedule_after(retry.retry_at_s - now(), [this, r] {
      moves_[r].has_timer = false;
      if (moves_[r].state == State::pending) dispatch();
    });
  }

  void dispatch() {
    if (halted_) return;
    advance_mirror();
    migration_wants_slots_ = false;  // set again by a migration refused a slot
    switch (options_.strategy) {
      case EvacuationStrategy::sequential:
        dispatch_fifo(true);
        break;
      case EvacuationStrategy::fixed_8:
        dispatch_fifo(false);
        break;
      case EvacuationStrategy::revive:
        dispatch_revive();
        break;
    }
  }

  std::vector<std::size_t> pending_in_fifo_order() const {
    std::vector<std::size_t> pending;
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      if (moves_[m].state == State::pending && moves_[m].retry_at_s <= now()) pending.push_back(m);
    }
    std::sort(pending.begin(), pending.end(),
              [this](std::size_t a, std::size_t b) { return moves_[a].sequence < moves_[b].sequence; });
    return pending;
  }

  void dispatch_fifo(bool one_at_a_time) {
    for (auto m : pending_in_fifo_order()) {
      if (one_at_a_time && live_in_flight_ > 0) return;
      if (has_room(moves_[m]) && !try_start_live(m)) return;  // first come, first served: no overtaking
    }
  }

  // The share of a transferring migration between hosts a and b, given per-host transfer counts.
  double share(HostIndex a, HostIndex b, const std::vector<std::uint32_t>& counts) const {
    return std::min(nic_of(a) / std::max<std::uint32_t>(counts[a], 1),
                    nic_of(b) / std::max<std::uint32_t>(counts[b], 1));
  }

  enum class Verdict { admit, refuse, never };

  // Whether `host`'s management endpoint has more migration slot-seconds to give before a deadline than
  // 70% of what it offers (replan_deadlines): its migrations then go frugal (admit).
  bool slots_bind(HostIndex host) const {
    auto endpoint = cloud_.hosts[host].endpoint;
    return endpoint != kNoIndex && endpoint < slots_bind_.size() && slots_bind_[endpoint];
  }

  // Would starting `move` now help? `future` is the mirror setup_s ahead, with `extra` the migrations
  // admitted in this dispatch (transferring by then).
  Verdict admit(const Move& move, const std::vector<MigrationFlows::FlowView>& transferring,
                std::vector<std::uint32_t>& counts) const {
    const auto& vm = cloud_.vms[move.vm];
    double memory = static_cast<double>(vm.memory_mib), dirty = vm.dirty_mib_s;
    if (!move.converges_alone) return Verdict::never;
    HostIndex s = move.from, t = move.to;
    const bool frugal = slots_bind(s) || slots_bind(t);
    double before = 0, after = 0;
    bool affected = false;
    std::vector<std::uint32_t>& with = counts;
    auto touches = [&](HostIndex h) { return h == s || h == t; };
    // Shares before (current counts) and after (+1 on s and t).
    std::vector<std::pair<double, double>> changes;
    for (const auto& flow : transferring) {
      if (!touches(flow.spec.from) && !touches(flow.spec.to)) continue;
      affected = true;
      double old_share = share(flow.spec.from, flow.spec.to, with);
      ++with[s];
      ++with[t];
      double new_share = share(flow.spec.from, flow.spec.to, with);
      --with[s];
      --with[t];
      before += old_share - flow.spec.dirty_mib_s;
      after += new_share - flow.spec.dirty_mib_s;
      if (new_share < options_.min_share_over_dirty * flow.spec.dirty_mib_s && new_share < old_share - 1e-9) {
        return Verdict::refuse;
      }
      // Behind an endpoint whose slots bind a deadline, no migration slows another down (each holds its slots
      // for its time alone, as the slot budget counts it).
      if (frugal && new_share < old_share - 1e-9) return Verdict::refuse;
    }
    ++with[s];
    ++with[t];
    double own = share(s, t, with);
    --with[s];
    --with[t];
    if (frugal && own < std::min(nic_of(s), nic_of(t)) - 1e-9) return Verdict::refuse;
    if (affected) {
      after += own - dirty;
      if (after <= before + 1e-6) return Verdict::refuse;
      if (own < options_.min_share_over_dirty * dirty) return Verdict::refuse;
    }
    if (!estimate_migration(memory, dirty, own, options_.migration).converges) return Verdict::refuse;
    return Verdict::admit;
  }

  void dispatch_revive() {
    if (wake_scheduled_) {
      env_.loop.cancel(wake_timer_);
      wake_scheduled_ = false;
    }
    // Candidates per source host: highest priority first, then longest first.
    std::map<HostIndex, std::vector<std::size_t>> by_source;
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      // A retry in its backoff is woken by its own timer.
      if (moves_[m].state == State::pending && moves_[m].retry_at_s <= now())
        by_source[moves_[m].from].push_back(m);
    }
    if (by_source.empty()) return;
    MigrationFlows future = mirror_;
    std::vector<FlowOutcome> ignored;
    future.advance_to(now() + options_.migration.setup_s, ignored);
    std::vector<MigrationFlows::FlowView> transferring;
    std::vector<std::uint32_t> counts(cloud_.hosts.size(), 0);
    for (const auto& flow : future.flows()) {
      if (flow.in_setup) continue;
      transferring.push_back(flow);
      ++counts[flow.spec.from];
      ++counts[flow.spec.to];
    }
    bool waiting = false;
    // Sources take turns, one migration each per round, the one with the most NIC time left first: slots
    // shared by several sources (a management endpoint, the global limit, a target) go first to the source
    // whose queue ends last, and none is starved by sources that come earlier in host order.
    struct Queue {
      HostIndex source;
      std::vector<std::size_t> candidates;
      std::size_t next = 0;
      double left_s = 0;
    };
    std::vector<Queue> queues;
    for (auto& [source, candidates] : by_source) {
      std::sort(candidates.begin(), candidates.end(), [this](std::size_t a, std::size_t b) {
        const auto &x = moves_[a], &y = moves_[b];
        if (x.priority != y.priority) return x.priority < y.priority;
        if (x.occupancy_s != y.occupancy_s) return x.occupancy_s > y.occupancy_s;
        return x.vm < y.vm;
      });
      double left = 0;
      for (auto m : candidates) left += moves_[m].occupancy_s;
      if (candidates.size() > options_.candidate_scan) candidates.resize(options_.candidate_scan);
      queues.push_back({source, std::move(candidates), 0, left});
    }
    std::stable_sort(queues.begin(), queues.end(),
                     [](const Queue& a, const Queue& b) { return a.left_s > b.left_s; });
    for (bool admitted = true; admitted;) {
      admitted = false;
      for (auto& queue : queues) {
        while (queue.next < queue.candidates.size()) {
          auto m = queue.candidates[queue.next++];
          auto& move = moves_[m];
          if (migrations_on_[move.from] >= host_limit()) {
            queue.next = queue.candidates.size();
            break;
          }
          if (!has_room(move)) {
            waiting = true;
            continue;
          }
          auto verdict = admit(move, transferring, counts);
          if (verdict == Verdict::never) {
            move.reason = fmt::format(
                "moved cold: cannot converge live even alone (dirty rate {} MiB/s against {:.0f} MiB/s)",
                cloud_.vms[move.vm].dirty_mib_s, std::min(nic_of(move.from), nic_of(move.to)));
            start_cold(m);
            continue;
          }
          if (verdict == Verdict::refuse || !try_start_live(m)) {  // no endpoint or global slot: at a release
            waiting = true;
            continue;
          }
          MigrationFlows::FlowView view{
              0,
              {move.vm, move.from, move.to, 0.0, static_cast<double>(cloud_.vms[move.vm].dirty_mib_s), false},
              false,
              0.0};
          transferring.push_back(view);
          ++counts[move.from];
          ++counts[move.to];
          admitted = true;
          break;  // the next source's turn
        }
      }
    }
    if (!waiting) return;
    // Wake when the next transfer is predicted to end, setup_s early, so the next setup overlaps it.
    MigrationFlows ahead = mirror_;  // includes the migrations just started
    std::vector<FlowOutcome> ended;
    ahead.advance_to(now() + options_.migration.setup_s, ended);
    ended.clear();
    while (ended.empty() && ahead.active() > 0) ahead.advance_to(ahead.next_event_s(), ended);
    if (ended.empty()) return;
    double wake = std::max(now() + 1e-3, ended.front().end_s - options_.migration.setup_s);
    wake_scheduled_ = true;
    wake_timer_ = env_.loop.schedule_after(wake - now(), [this] {
      wake_scheduled_ = false;
      dispatch();
    });
  }

  // ---- deadlines ---------------------------------------------------------------------------------------

  // How long before its deadline a maintenance cold move starts at the latest (twice a stop, and 10 s).
  double latest_cold_stop_s() const { return 2 * options_.cold.vm_stop_s + 10.0; }

  // Whether a cold move begun now would stop its VM only after its deadline (a clean stop takes
  // ColdMoveDurations::vm_stop_s) while its migration alone is no longer than that stop: then the migration
  // is its best chance, and it is not sent cold for time.
  bool too_late_for_cold(std::size_t m) const {
    const auto& move = moves_[m];
    return !host_urgent_[move.from] && now() + options_.cold.vm_stop_s > move.deadline_s &&
           move.alone_s <= options_.cold.vm_stop_s;
  }

  // Revive: which moves not begun cannot finish live by their deadline; those go cold in time. Two
  // budgets: every source's NIC, and every management endpoint's migration slots (below).
  void replan_deadlines() {
    if (options_.strategy != EvacuationStrategy::revive) return;
    advance_mirror();
    std::vector<double> busy_until(cloud_.hosts.size(), -1.0);
    std::vector<double> endpoint_held_s(cloud_.endpoints.size(),
                                        0.0);  // slot-seconds of migrations in flight
    {
      MigrationFlows ahead = mirror_;
      for (const auto& outcome : ahead.run_to_end()) {
        busy_until[outcome.spec.from] = std::max(busy_until[outcome.spec.from], outcome.end_s);
        auto source = cloud_.hosts[outcome.spec.from].endpoint,
             target = cloud_.hosts[outcome.spec.to].endpoint;
        if (source != kNoIndex) endpoint_held_s[source] += outcome.end_s - now();
        if (target != kNoIndex && target != source) endpoint_held_s[target] += outcome.end_s - now();
      }
    }
    std::map<HostIndex, std::vector<std::size_t>> by_source;
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      const auto& move = moves_[m];
      if ((move.state == State::pending || move.state == State::cold_waiting) &&
          move.deadline_s < kNoDeadline) {
        // A maintenance deadline already passed (a VM restarted onto the host after it): going cold gains
        // nothing, the move ends sooner live.
        if (move.deadline_s <= now() && !host_urgent_[move.from]) continue;
        by_source[move.from].push_back(m);
      }
    }
    if (by_source.empty()) {
      if (std::find(slots_bind_.begin(), slots_bind_.end(), true) != slots_bind_.end()) request_pump();
      slots_bind_.assign(cloud_.endpoints.size(), false);
      return;
    }
    std::vector<bool> cold(moves_.size(), false);
    std::vector<bool> over_slots(moves_.size(), false);  // cold for its endpoint's slots
    std::map<HostIndex, double> source_deadline;
    auto margin_of = [this](double deadline) {
      return options_.deadline_margin_s + 0.03 * std::max(0.0, deadline - now());
    };
    // Lowest priority first, then the largest (fewest VMs cold for the time won).
    auto least_first = [this](std::size_t a, std::size_t b) {
      const auto &x = moves_[a], &y = moves_[b];
      if (x.priority != y.priority) return x.priority > y.priority;
      if (x.occupancy_s != y.occupancy_s) return x.occupancy_s > y.occupancy_s;
      return x.vm > y.vm;
    };
    // 1. Each source's NIC: the NIC time of its moves not begun, after the predicted end of those in flight.
    for (auto& [source, candidates] : by_source) {
      double deadline = kNoDeadline;
      for (auto m : candidates) deadline = std::min(deadline, moves_[m].deadline_s);
      source_deadline[source] = deadline;
      double margin = margin_of(deadline);
      double start = busy_until[source] >= 0 ? busy_until[source] : now() + options_.migration.setup_s;
      double budget = deadline - margin - start;
      double total = 0;
      for (auto m : candidates) {
        const auto& move = moves_[m];
        // A retry that could not end live before the deadline even alone, after its backoff -- or, should it
        // fail too, before the latest cold start that still empties the host in time -- goes cold now.
        const bool retry_too_late =
            move.retry_at_s > now() && move.retry_at_s + options_.migration.setup_s + move.occupancy_s >
                                           std::min(deadline - margin, deadline - latest_cold_stop_s());
        if (move.converges_alone && !retry_too_late) {
          total += move.occupancy_s;
        } else {
          cold[m] = true;
        }
      }
      std::vector<std::size_t> order = candidates;
      std::sort(order.begin(), order.end(), least_first);
      for (auto m : order) {
        if (total <= budget) break;
        if (cold[m] || too_late_for_cold(m)) continue;
        cold[m] = true;
        total -= moves_[m].occupancy_s;
      }
    }
    // 2. Each management endpoint's slots: a migration holds one of its source's endpoint and one of its
    // target's for its whole duration, a cold move one for its clean stop before the deadline (its start may
    // come after). When the slot-seconds the moves not begun need before the earliest deadline behind an
    // endpoint pass what its slots offer, the moves whose migration would hold a slot longer than a stop go
    // cold, lowest priority and largest saving first: a drain of many hosts behind one endpoint is bound by
    // it, not by NICs.
    {
      std::vector<double> deadline(cloud_.endpoints.size(), kNoDeadline);
      for (const auto& [source, candidates] : by_source) {
        if (auto e = cloud_.hosts[source].endpoint; e != kNoIndex)
          deadline[e] = std::min(deadline[e], source_deadline[source]);
      }
      std::vector<double> demand = endpoint_held_s;
      std::vector<std::vector<std::size_t>> convertible(cloud_.endpoints.size());
      const double stop_s = options_.cold.vm_stop_s;
      for (const auto& [source, candidates] : by_source) {
        auto e = cloud_.hosts[source].endpoint;
        if (e == kNoIndex) continue;
        for (auto m : candidates) {
          const auto& move = moves_[m];
          auto target = move.to == kNoIndex ? kNoIndex : cloud_.hosts[move.to].endpoint;
          if (cold[m]) {
            demand[e] += stop_s;
            continue;
          }
          demand[e] += move.alone_s;
          if (target != kNoIndex && target != e) demand[target] += move.alone_s;
          if (move.alone_s > stop_s && !host_urgent_[source] && !too_late_for_cold(m))
            convertible[e].push_back(m);
        }
      }
      // Cold moves in flight whose stop has not ended hold (or wait for) a slot too.
      for (const auto& move : moves_) {
        if ((move.state == State::cold || move.state == State::stopping) && move.off_s < 0) {
          if (auto e = cloud_.hosts[move.from].endpoint; e != kNoIndex) demand[e] += stop_s;
        }
      }
      bound_before_ = slots_bind_;
      slots_bind_.assign(cloud_.endpoints.size(), false);
      for (model::EndpointIndex e = 0; e < cloud_.endpoints.size(); ++e) {
        if (deadline[e] == kNoDeadline) continue;
        double window = deadline[e] - margin_of(deadline[e]) - now();
        double capacity = kUsableSlotShare * cloud_.endpoints[e].max_parallel * std::max(0.0, window);
        slots_bind_[e] = demand[e] > kFrugalAbove * capacity;
        if (convertible[e].empty()) continue;
        if (demand[e] <= capacity) continue;
        auto& order = convertible[e];
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
          const auto &x = moves_[a], &y = moves_[b];
          if (x.priority != y.priority) return x.priority > y.priority;
          if (x.alone_s != y.alone_s) return x.alone_s > y.alone_s;
          return x.vm > y.vm;
        });
        for (auto m : order) {
          if (demand[e] <= capacity) break;
          cold[m] = over_slots[m] = true;
          demand[e] -= moves_[m].alone_s - stop_s;
        }
      }
    }
    // Starts held for slots that no longer bind may go.
    for (std::size_t e = 0; e < slots_bind_.size(); ++e) {
      if (!slots_bind_[e] && e < bound_before_.size() && bound_before_[e]) request_pump();
    }
    // 3. Cold moves by priority, most important first; maintenance ones staggered back from the deadline.
    std::vector<std::pair<std::size_t, double>> going_cold;  // with its host's deadline
    for (auto& [source, candidates] : by_source) {
      const double deadline = source_deadline[source];
      std::vector<std::size_t> order = candidates;
      std::sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
        const auto &x = moves_[a], &y = moves_[b];
        if (x.priority != y.priority) return x.priority < y.priority;
        return x.vm < y.vm;
      });
      auto endpoint = cloud_.hosts[source].endpoint;
      for (auto m : order) {
        auto& move = moves_[m];
        if (!cold[m]) {
          if (move.state == State::cold_waiting) {
            cancel_timer(move);
            move.state = State::pending;
            move.reason.clear();
          }
          continue;
        }
        const auto& vm = cloud_.vms[move.vm];
        const std::string failures =
            move.live_attempts == 0 ? std::string()
                                    : fmt::format("{} live attempt{} failed (last: {}); ", move.live_attempts,
                                                  move.live_attempts == 1 ? "" : "s", move.last_error);
        std::string late;
        if (move.retry_at_s > now()) {
          late = fmt::format(
              "a retry from {:.1f} s ({:.0f} s alone) would not end before the deadline at {:.0f} s",
              move.retry_at_s, move.occupancy_s, deadline);
        } else if (over_slots[m]) {
          late = fmt::format(
              "the migrations behind endpoint {} would hold its slots past the deadline at {:.0f} s "
              "(this one {:.0f} s, a stop {:.0f} s)",
              cloud_.endpoints[endpoint].name, deadline, move.alone_s, options_.cold.vm_stop_s);
        } else {
          late = fmt::format(
              "a live migration ({:.0f} s alone) would not end before the deadline at {:.0f} s behind higher "
              "priorities",
              move.occupancy_s, deadline);
        }
        move.reason = move.converges_alone
                          ? "moved cold: " + failures + late
                          : fmt::format(
                                "moved cold: cannot converge live even alone (dirty rate {} MiB/s against "
                                "{:.0f} MiB/s)",
                                vm.dirty_mib_s, std::min(nic_of(move.from), nic_of(move.to)));
        going_cold.push_back({m, deadline});
      }
    }
    schedule_cold(going_cold);
  }

  // Starts the cold moves `going` (with their hosts' deadlines) in time. Those of a predicted failure, and
  // VMs that cannot converge even alone (nothing to gain by waiting), start at once; the others at their
  // latest safe start, per source host in waves of half the slots of its management endpoint, each wave
  // latest_cold_stop_s() before the next, the most important latest. (Waves counted over every source behind
  // an endpoint were tried: they start the stops of a rack far earlier, which take the slots its live queues
  // need, and more VMs went cold and were left running.)
  void schedule_cold(std::vector<std::pair<std::size_t, double>>& going) {
    std::sort(going.begin(), going.end(), [this](const auto& a, const auto& b) {
      const auto &x = moves_[a.first], &y = moves_[b.first];
      if (x.from != y.from) return x.from < y.from;
      if (x.priority != y.priority) return x.priority < y.priority;
      return x.vm < y.vm;
    });
    std::map<HostIndex, std::uint32_t> index;
    for (auto [m, deadline] : going) {
      auto& move = moves_[m];
      double at = now();
      if (!host_urgent_[move.from] && move.converges_alone) {
        auto endpoint = cloud_.hosts[move.from].endpoint;
        std::uint32_t per_wave =
            endpoint == kNoIndex ? 8
                                 : std::max<std::uint32_t>(1, cloud_.endpoints[endpoint].max_parallel / 2);
        double stop = latest_cold_stop_s();
        at = std::max(now(), deadline - stop - stop * static_cast<double>(index[move.from]++ / per_wave));
      }
      cancel_timer(move);
      move.state = State::cold_waiting;
      if (at <= now()) {
        start_cold(m);
      } else {
        move.has_timer = true;
        move.timer = env_.loop.schedule_after(at - now(), [this, m] {
          moves_[m].has_timer = false;
          if (moves_[m].state == State::cold_waiting) start_cold(m);
        });
      }
    }
  }

  // ---- cold moves and stops ----------------------------------------------------------------------------

  void start_cold(std::size_t m) {
    auto& move = moves_[m];
    cancel_timer(move);
    move.state = State::cold;
    move.cold = true;
    if (move.start_s < 0) move.start_s = now();
    journal_move("cold_move_started", move, {{"reason", move.reason}});
    request_step({StepKind::stop, m});
  }

  // The ledger scopes a step of a cold move holds: the endpoint of the host a stop or start goes through,
  // the disk's array, the target's switch, the target's starts; and the global limit when there is one.
  ScopeSet scopes_of(const StepRequest& request) const {
    const auto& move = moves_[request.move];
    ScopeSet scopes;
    switch (request.kind) {
      case StepKind::stop:
        scopes.add(ledger_->endpoint(cloud_.hosts[move.from].endpoint));
        break;
      case StepKind::unmap:
      case StepKind::map:
        scopes.add(ledger_->array(cloud_.disks[request.disk].array));
        break;
      case StepKind::net_config:
        scopes.add(ledger_->network_switch(cloud_.hosts[move.to].network_switch));
        break;
      case StepKind::start:
        scopes.add(ledger_->endpoint(cloud_.hosts[move.to].endpoint));
        scopes.add(ledger_->host_starts(move.to));
        break;
    }
    scopes.add(ledger_->global());
    return scopes;
  }

  // Another engine released slots: the waiting steps are looked at again, after the current callback.
  void request_pump() {
    if (pump_posted_ || waiting_steps_.empty()) return;
    pump_posted_ = true;
    env_.loop.post([this] {
      pump_posted_ = false;
      pump_steps();
    });
  }

  void request_step(StepRequest request) {
    waiting_steps_.push_back(request);
    pump_steps();
  }

  void pump_steps() {
    if (halted_) return;
    std::stable_sort(waiting_steps_.begin(), waiting_steps_.end(),
                     [this](const StepRequest& a, const StepRequest& b) {
                       const auto &x = moves_[a.move], &y = moves_[b.move];
                       if (x.priority != y.priority) return x.priority < y.priority;
                       return x.sequence < y.sequence;
                     });
    std::vector<StepRequest> still;
    std::vector<StepRequest> go;
    for (const auto& request : waiting_steps_) {
      if (request.kind == StepKind::start) start_waiting_[moves_[request.move].vm] = false;
    }
    for (const auto& request : waiting_steps_) {
      const auto& move = moves_[request.move];
      if (move.state != State::cold && move.state != State::stopping)
        continue;  // given up (its host was lost)
      // No start while another copy of the VM may run: every other host of its set must be proven empty
      // (its stop answered, or fenced). Looked at again whenever the set changes.
      if (request.kind == StepKind::start && !copies_->unproven_besides(move.vm, move.to).empty()) {
        start_waiting_[move.vm] = true;
        still.push_back(request);
        continue;
      }
      // While the slots of its target's endpoint bind a deadline ahead, a maintenance cold move's start (a
      // minute of a slot) waits for that deadline: the slots go to the stops and migrations that empty the
      // drained hosts in time (the VM is down meanwhile; its host is what the deadline is about).
      if (request.kind == StepKind::start && !host_urgent_[move.from] && move.deadline_s > now() &&
          move.deadline_s < kNoDeadline && slots_bind(move.to)) {
        still.push_back(request);
        continue;
      }
      if (ledger_->try_acquire(scopes_of(request), listener_)) {
        go.push_back(request);
      } else {
        still.push_back(request);
      }
    }
    waiting_steps_ = std::move(still);
    for (const auto& request : go) launch(request);
  }

  void launch(const StepRequest& request) {
    if (halted_) return;
    const auto& move = moves_[request.move];
    // Stops and starts run on a host: if it is lost, they may never answer; their slots are released once
    // the host is confirmed fenced (release_steps_on).
    auto id = next_step_id_++;
    HostIndex host = request.kind == StepKind::stop    ? move.from
                     : request.kind == StepKind::start ? move.to
                                                       : kNoIndex;
    steps_in_flight_.emplace(id, InFlightStep{request, host});
    auto done = [this, id, kind = request.kind, vm = move.vm, host](const env::OperationResult& result) {
      // News of where the VM runs, whatever became of the move (also after it was given up).
      if (kind == StepKind::stop && result.ok) copies_->proven_absent(vm, host);
      if (kind == StepKind::start) copies_->start_answered(vm, host, result.ok);
      auto found = steps_in_flight_.find(id);
      if (found == steps_in_flight_.end()) return;  // released when its host was fenced
      auto in_flight = found->second.request;
      steps_in_flight_.erase(found);
      on_step_done(in_flight, result);
    };
    // One disk per call here, so the per-disk completion is the step's.
    auto disk_done = [done](model::DiskIndex, const env::OperationResult& result) { done(result); };
    switch (request.kind) {
      case StepKind::stop:
        // From here on the VM may be stopped on its source: its report is this engine's (the executor's
        // "running there" could be one move behind if the answer is lost).
        if (move.to != kNoIndex && stop_observer) stop_observer(move.vm);
        env_.hypervisor.stop_vm(move.from, move.vm, true, done);
        break;
      case StepKind::unmap:
        env_.storage.unmap_disks(cloud_.disks[request.disk].array, move.from, {request.disk}, disk_done);
        break;
      case StepKind::map:
        env_.storage.map_disks(cloud_.disks[request.disk].array, move.to, {request.disk}, disk_done);
        break;
      case StepKind::net_config:
        env_.network.configure_vm_networks(cloud_.hosts[move.to].network_switch, move.to, move.vm, done);
        break;
      case StepKind::start:
        journal_move("cold_start_issued", move);
        copies_->start_issued(move.vm, move.to);
        env_.hypervisor.start_vm(move.to, move.vm, done);
        break;
    }
  }

  void on_step_done(StepRequest request, const env::OperationResult& result) {
    if (halted_) return;
    ledger_->release(scopes_of(request), listener_);
    auto m = request.move;
    auto& move = moves_[m];
    if (move.state != State::cold && move.state != State::stopping) {
      // The move was given up (left to failure recovery) while this step ran: its answer changes nothing of
      // the move (never "moved"); the set of copies heard of it already.
      after_release();
      return;
    }
    if (!result.ok) {
      if (!result.permanent && request.attempt + 1 < options_.max_step_attempts) {
        ++request.attempt;
        double backoff = 2.0 * std::pow(2.0, request.attempt - 1);
        env_.loop.schedule_after(backoff, [this, request] { request_step(request); });
      } else {
        move.state = State::failed;
        bool still_runs = request.kind == StepKind::stop;
        move.reason = fmt::format("{}; {} failed: {}{}", move.reason, step_name(request.kind), result.error,
                                  still_runs ? " (still running on its host)" : " (stopped, not running)");
        if (still_runs) cloud_.vms[move.vm].host = move.from;
        journal_move("cold_move_failed", move, {{"reason", move.reason}, {"runs_on_source", still_runs}});
      }
      after_release();
      return;
    }
    switch (request.kind) {
      case StepKind::stop:
        move.off_s = now();
        if (move.to == kNoIndex) {  // protect: false
          move.state = State::stopped;
          move.end_s = now();
          journal_move("stopped", move);
          break;
        }
        // Off its source: from now on its home is the target (where the rest of the move starts it).
        journal_move("cold_stop_done", move);
        if (move_observer) move_observer(move.vm, move.to);
        if (target_gone(move.to)) {
          // Its target was lost while it stopped: homed there, the VM is the failure recovery's (as when the
          // target is lost past the stop).
          give_up_cold_moves_onto(move.to);
          break;
        }
        continue_after_stop(m);
        break;
      case StepKind::unmap:
        waiting_steps_.push_back({StepKind::map, m, request.disk});
        break;
      case StepKind::map:
        if (--move.disks_left == 0) after_disks(m);
        break;
      case StepKind::net_config:
        waiting_steps_.push_back({StepKind::start, m});
        break;
      case StepKind::start:
        move.state = State::done_cold;
        move.end_s = now();
        journal_move("cold_move_done", move);
        if (draining_[move.to]) {  // its target was drained meanwhile: move it on, by that host's deadline
          plan_moves({move.vm});
          cloud_.rebuild_indexes();
          request_dispatch();
        }
        break;
    }
    after_release();
  }

  // Slots came back: the waiting steps go, and the migrations refused a slot are dispatched again.
  void after_release() {
    pump_steps();
    if (migration_wants_slots_) request_dispatch();
    note_room();
  }

  // `host` is confirmed fenced: the stops and starts in flight there will never answer. Their slots go back
  // to the ledger (not earlier: until the fence the call may still be running there), and their moves end.
  void release_steps_on(HostIndex host) {
    bool released = false;
    for (auto it = steps_in_flight_.begin(); it != steps_in_flight_.end();) {
      if (it->second.host != host) {
        ++it;
        continue;
      }
      auto request = it->second.request;
      it = steps_in_flight_.erase(it);
      ledger_->release(scopes_of(request), listener_);
      released = true;
      const auto& move = moves_[request.move];
      if (move.state == State::cold || move.state == State::stopping) {
        leave_to_recovery(request.move,
                          fmt::format("{} was lost during its {}: left to failure recovery",
                                      cloud_.hosts[host].name, step_name(request.kind)),
                          false);
      }
    }
    if (released) after_release();
  }

  // The VM is stopped on its source: its disks follow it to the target (each unmapped there, then mapped),
  // then its network, then its start.
  void continue_after_stop(std::size_t m) {
    auto& move = moves_[m];
    move.disks_left = cloud_.vms[move.vm].disk_count;
    if (move.disks_left == 0) {
      after_disks(m);
      return;
    }
    for (auto d = cloud_.vms[move.vm].first_disk; d < cloud_.vm_disk_end(move.vm); ++d) {
      waiting_steps_.push_back({StepKind::unmap, m, static_cast<DiskIndex>(d)});
    }
  }

  void after_disks(std::size_t m) {
    const auto& move = moves_[m];
    bool configure = cloud_.hosts[move.to].network_switch != kNoIndex;
    waiting_steps_.push_back({configure ? StepKind::net_config : StepKind::start, m});
  }

  static const char* step_name(StepKind kind) {
    switch (kind) {
      case StepKind::stop:
        return "vm_stop";
      case StepKind::unmap:
        return "disk_unmap";
      case StepKind::map:
        return "disk_map";
      case StepKind::net_config:
        return "net_config";
      case StepKind::start:
        return "vm_start";
    }
    return "step";
  }

  model::Cloud cloud_;
  EvacuationEnvironment env_;
  EvacuationOptions options_;
  MigrationFlows mirror_;
  std::vector<bool> draining_;
  std::vector<bool> slots_bind_;    // by endpoint: its slots bind a deadline (replan_deadlines, slots_bind)
  std::vector<bool> bound_before_;  // slots_bind_ before the latest replan_deadlines
  std::vector<bool>
      avoid_;  // no targets: lost, or (baselines) their migrations failed for reasons other than convergence
  // revive: a target whose migration failed is no target until then (on the loop's clock), and how many
  // migrations to it failed (its backoff doubles with each).
  std::vector<double> backoff_until_;
  std::vector<std::uint32_t> target_failures_;
  bool plan_onto_backed_off_ = false;  // plan_moves may choose targets in backoff (a retry with no other)
  std::vector<bool> lost_;             // hosts whose connection was lost (host_connection_lost)
  std::vector<bool>
      declared_failed_;  // hosts failure recovery declared failed (on_host_failed), until returned
  std::vector<double> host_deadline_;
  std::vector<bool> host_urgent_;
  std::vector<std::uint32_t> migrations_on_;
  std::unique_ptr<ResourceLedger> own_ledger_;  // when the environment gives none
  std::unique_ptr<VmCopies> own_copies_;        // when the environment gives none
  VmCopies* copies_ = nullptr;                  // where copies of each VM may run
  VmCopies::ListenerId copies_listener_ = 0;
  std::vector<bool> left_to_recovery_;  // by VM: given up to failure recovery, until on_vm_recovered
  std::vector<bool> start_waiting_;     // by VM: a cold start waits for proof that no other copy runs
  std::map<std::uint64_t, LiveCall> live_calls_;  // by id, in issue order
  std::uint64_t next_live_id_ = 1;
  bool migration_wants_slots_ = false;  // a migration was refused a ledger slot: dispatch at a release
  ResourceLedger* ledger_ = nullptr;    // slots of cold-move steps, per scope
  ResourceLedger::ListenerId listener_ = 0;
  std::uint32_t live_in_flight_ = 0;
  std::uint32_t peak_migrations_ = 0;
  std::vector<Move> moves_;
  std::vector<std::size_t> latest_move_;
  std::unordered_map<MigrationFlows::Id, std::size_t> flow_move_;  // mirror flow -> its live move
  std::vector<StepRequest> waiting_steps_;
  struct InFlightStep {
    StepRequest request;
    HostIndex host = kNoIndex;  // stops and starts: the host the call runs on
  };
  std::map<std::uint64_t, InFlightStep> steps_in_flight_;  // by launch id, in launch order
  std::uint64_t next_step_id_ = 1;
  HostAvailability::ListenerId availability_listener_ = 0;
  HostAvailability::PlannerId planner_id_ = 0;
  std::uint64_t reserved_memory_mib_ = 0;  // of the reservations when last looked at (note_room), +1 per VM
  std::vector<std::pair<HostIndex, double>> deadline_timers_;
  std::uint64_t next_sequence_ = 1;
  env::TimerId wake_timer_ = 0;
  bool wake_scheduled_ = false;
  bool dispatch_posted_ = false;
  bool pump_posted_ = false;
  bool halted_ = false;                                 // a controller that died: acts no more
  std::map<std::size_t, std::uint32_t> resumed_calls_;  // by move: its dead controller's calls still running
  static constexpr double kResumePollS = 5.0;
  static constexpr std::uint32_t kResumeMaxChecks = 720;  // an hour
};

Evacuator::Evacuator(const model::Cloud& cloud, EvacuationEnvironment environment, EvacuationOptions options)
    : impl_(std::make_unique<Impl>(cloud, environment, options)) {}

Evacuator::~Evacuator() = default;

void Evacuator::drain(const std::vector<model::HostIndex>& hosts, double deadline_s,
                      EvacuationReason reason) {
  impl_->drain(hosts, deadline_s, reason);
}

void Evacuator::exit_maintenance(const std::vector<model::HostIndex>& hosts, bool fail_back) {
  impl_->exit_maintenance(hosts, fail_back, "maintenance ended");
}

void Evacuator::cancel(const std::vector<model::HostIndex>& hosts) {
  impl_->exit_maintenance(hosts, false, "evacuation cancelled");
}

void Evacuator::set_decision_observer(plan::DecisionObserver observer) {
  impl_->decision_observer = std::move(observer);
}
void Evacuator::set_move_observer(std::function<void(model::VmIndex, model::HostIndex)> observer) {
  impl_->move_observer = std::move(observer);
}

void Evacuator::set_stop_observer(std::function<void(model::VmIndex)> observer) {
  impl_->stop_observer = std::move(observer);
}

void Evacuator::set_found_stopped_observer(std::function<void(model::VmIndex, model::HostIndex)> observer) {
  impl_->found_stopped_observer = std::move(observer);
}

void Evacuator::resume() {
  impl_->resume();
}

void Evacuator::halt() {
  impl_->halt();
}

void Evacuator::on_vm_relocated(model::VmIndex vm) {
  impl_->on_vm_relocated(vm);
}

void Evacuator::on_host_failed(model::HostIndex host) {
  impl_->on_host_failed(host);
}

void Evacuator::on_host_returned(model::HostIndex host) {
  impl_->on_host_returned(host);
}

void Evacuator::on_vm_recovered(model::VmIndex vm, model::HostIndex host) {
  impl_->on_vm_recovered(vm, host);
}

bool Evacuator::busy() const {
  return impl_->busy();
}
void Evacuator::finalize() {
  impl_->finalize();
}

std::vector<EvacuationVmReport> Evacuator::report() const {
  return impl_->report();
}

const model::Cloud& Evacuator::state() const {
  return impl_->state();
}

std::uint32_t Evacuator::peak_migrations_per_host() const {
  return impl_->peak_migrations();
}

}  // namespace revive::exec

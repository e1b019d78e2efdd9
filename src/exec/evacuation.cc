#include "exec/evacuation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

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
                                const LiveMigrationParameters& parameters, std::string* binding) {
  std::vector<bool> drained(cloud.hosts.size(), false);
  for (auto h : hosts) drained[h] = true;
  double fastest = 0;
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (!drained[h] && cloud.hosts[h].state == model::HostState::up)
      fastest = std::max(fastest, cloud.hosts[h].nic_gbps);
  }
  if (fastest == 0) return 0;
  double bound = 0;
  std::string what;
  for (auto h : hosts) {
    double nic = cloud.hosts[h].nic_gbps * kMibPerSecondPerGbps;
    double memory = 0;
    for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
      if (cloud.vms[v].host != h || !cloud.vms[v].protect) continue;
      double vm_memory = static_cast<double>(cloud.vms[v].memory_mib);
      memory += vm_memory;
      double alone = parameters.setup_s + vm_memory / std::min(nic, fastest * kMibPerSecondPerGbps);
      if (alone > bound) {
        bound = alone;
        what = "one copy of " + cloud.vms[v].name;
      }
    }
    double through_nic = parameters.setup_s + memory / nic;
    if (through_nic > bound) {
      bound = through_nic;
      what = "the NIC of " + cloud.hosts[h].name;
    }
  }
  if (binding != nullptr) *binding = what;
  return bound;
}

class Evacuator::Impl {
 public:
  ~Impl() {
    ledger_->remove_listener(listener_);
    if (env_.availability != nullptr) env_.availability->remove_listener(availability_listener_);
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
    host_deadline_.assign(host_count, kNoDeadline);
    host_urgent_.assign(host_count, false);
    migrations_on_.assign(host_count, 0);
    // Slots of cold-move steps are counted in the ledger (shared with the recovery executor when given one).
    if (env_.ledger == nullptr) {
      own_ledger_ = std::make_unique<ResourceLedger>(cloud_);
      env_.ledger = own_ledger_.get();
    }
    ledger_ = env_.ledger;
    listener_ = ledger_->add_listener(ResourceLedger::kEvacuationRank,
                                      [this](std::span<const ScopeId>) { request_pump(); });
    latest_move_.assign(cloud_.vms.size(), kNoMove);
    if (env_.availability != nullptr) {
      // A host confirmed fenced is off: the stops and starts in flight there will never answer.
      availability_listener_ =
          env_.availability->add_listener([this](HostIndex host, HostAvailability::Change change) {
            if (change == HostAvailability::Change::fenced) {
              env_.loop.post([this, host] { release_steps_on(host); });
            }
          });
    }
    env_.hypervisor.subscribe([this](const env::HypervisorEvent& event) {
      if (event.kind == env::HypervisorEvent::Kind::host_connection_lost) on_host_lost(event.host);
    });
  }

  // ---- operations --------------------------------------------------------------------------------------

  void drain(const std::vector<HostIndex>& hosts, double deadline_s, EvacuationReason reason) {
    for (HostIndex h : hosts) {
      if (h >= cloud_.hosts.size()) throw std::invalid_argument(fmt::format("host index {} out of range", h));
    }
    journal("evacuate", fmt::format(R"({{"hosts": [{}], "deadline_s": {}, "reason": "{}"}})",
                                    host_list(hosts), deadline_s, to_string(reason)));
    std::vector<bool> newly(cloud_.hosts.size(), false);
    for (HostIndex h : hosts) {
      if (!draining_[h]) newly[h] = true;
      set_draining(h, true);
      host_deadline_[h] = std::min(host_deadline_[h], deadline_s);
      if (reason == EvacuationReason::predicted_failure) host_urgent_[h] = true;
      cloud_.hosts[h].state = model::HostState::maintenance;
    }
    std::vector<VmIndex> to_plan;
    // Moves not begun whose target is now drained go back to the planner.
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      auto& move = moves_[m];
      if ((move.state == State::pending || move.state == State::cold_waiting) && draining_[move.to]) {
        cancel_timer(move);
        cloud_.vms[move.vm].host = move.from;
        move.state = State::cancelled;
        move.reason = "target drained before the move began";
        to_plan.push_back(move.vm);
      }
    }
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      HostIndex host = cloud_.vms[v].host;
      if (host == kNoIndex || !newly[host] || has_active_move(v)) continue;
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

  void request_dispatch() {
    if (dispatch_posted_) return;
    dispatch_posted_ = true;
    env_.loop.post([this] {
      dispatch_posted_ = false;
      replan_deadlines();
      dispatch();
    });
  }

  void exit_maintenance(const std::vector<HostIndex>& hosts, bool fail_back, const char* why) {
    for (HostIndex h : hosts) {
      if (h >= cloud_.hosts.size()) throw std::invalid_argument(fmt::format("host index {} out of range", h));
    }
    journal("exit_maintenance", fmt::format(R"({{"hosts": [{}], "fail_back": {}, "why": "{}"}})",
                                            host_list(hosts), fail_back, why));
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
        auto plan = plan::plan_failover(cloud_, request, options_.planner);
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

  bool busy() const {
    return std::any_of(moves_.begin(), moves_.end(), [](const Move& move) {
      return move.state == State::pending || move.state == State::cold_waiting || move.state == State::live ||
             move.state == State::cold || move.state == State::stop_waiting || move.state == State::stopping;
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

  const model::Cloud& state() const { return cloud_; }
  std::uint32_t peak_migrations() const { return peak_migrations_; }
  std::function<void(VmIndex, HostIndex)> move_observer;

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
    std::uint64_t sequence = 0;  // first come, first served order
    MigrationFlows::Id flow = 0;
    env::TimerId timer = 0;
    bool has_timer = false;
    double occupancy_s = 0.0;  // time it keeps its source NIC busy when migrated alone
    bool converges_alone = true;
    std::uint32_t disks_left = 0;
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
    }
    return EvacuationOutcome::pending;
  }

  double now() const { return env_.loop.now_s(); }

  std::string host_list(const std::vector<HostIndex>& hosts) const {
    std::string text;
    for (HostIndex h : hosts) text += (text.empty() ? "\"" : ", \"") + cloud_.hosts[h].name + "\"";
    return text;
  }

  void journal(const std::string& kind, std::string payload) {
    if (env_.journal != nullptr) env_.journal->append({kind, std::move(payload)});
  }

  void journal_move(const char* kind, const Move& move, const std::string& extra = "") {
    if (env_.journal == nullptr) return;
    journal(kind,
            fmt::format(R"({{"vm": "{}", "from": "{}", "to": "{}", "at_s": {}{}}})", cloud_.vms[move.vm].name,
                        cloud_.hosts[move.from].name,
                        move.to == kNoIndex ? std::string() : cloud_.hosts[move.to].name, now(), extra));
  }

  bool has_active_move(VmIndex vm) const {
    auto m = latest_move_[vm];
    if (m == kNoMove) return false;
    auto state = moves_[m].state;
    return state == State::live || state == State::cold || state == State::stopping;
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
      if (avoid_[h] && !draining_[h]) request.excluded_hosts.push_back(h);
    }
    auto plan = plan::plan_failover(cloud_, request, options_.planner);
    if (options_.strategy == EvacuationStrategy::revive)
      plan = with_live_capable_targets(std::move(plan), request);
    journal("plan", fmt::format(R"({{"placements": {}, "waiting": {}}})", plan.placements.size(),
                                plan.waiting.size()));
    for (const auto& placement : plan.placements) {
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
      if (!draining_[h] && !avoid_[h] && cloud_.hosts[h].state == model::HostState::up) {
        speeds.push_back(nic_of(h));
      }
    }
    std::sort(speeds.begin(), speeds.end());
    speeds.erase(std::unique(speeds.begin(), speeds.end()), speeds.end());
    std::map<double, std::vector<VmIndex>> by_speed_needed;
    std::vector<plan::Placement> settled;
    for (const auto& placement : plan.placements) {
      double source = nic_of(placement.from), target = nic_of(placement.to);
      auto needed = speeds.end();
      if (!converges_alone_at(placement.vm, std::min(source, target))) {
        needed = std::find_if(speeds.begin(), speeds.end(), [&](double nic) {
          return nic > target && converges_alone_at(placement.vm, std::min(source, nic));
        });
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
      auto again = plan::plan_failover(cloud_, faster, options_.planner);
      for (const auto& placement : again.placements) {
        cloud_.vms[placement.vm].host = placement.to;
        settled.push_back(placement);
      }
      for (const auto& waiting : again.waiting) left_over.push_back(waiting.vm);
    }
    if (!left_over.empty()) {
      plan::PlanRequest anywhere = request;
      anywhere.only_vms = left_over;
      auto again = plan::plan_failover(cloud_, anywhere, options_.planner);
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
    if (host >= avoid_.size() || avoid_[host]) return;
    avoid_[host] = true;
    journal("host_lost", fmt::format(R"({{"host": "{}"}})", cloud_.hosts[host].name));
    // Moves off the lost host end here: its VMs are the failure recovery's now (the calls in flight there get
    // no answer). Their slots are given back at once.
    advance_mirror();
    for (auto& move : moves_) {
      if (move.from != host || move.fail_back) continue;
      bool live = move.state == State::live;
      bool not_begun = move.state == State::pending || move.state == State::cold_waiting ||
                       move.state == State::stop_waiting || move.state == State::not_placed;
      bool still_there = (move.state == State::cold || move.state == State::stopping) && move.off_s < 0;
      if (!live && !not_begun && !still_there) continue;  // a cold move past its stop goes on
      if (live) {
        if (mirror_.contains(move.flow)) mirror_.cancel(move.flow);
        flow_move_.erase(move.flow);
        --migrations_on_[move.from];
        --migrations_on_[move.to];
        --live_in_flight_;
      }
      cancel_timer(move);
      if (move.to != kNoIndex) cloud_.vms[move.vm].host = move.from;
      move.state = State::failed;
      move.reason = fmt::format("{}{}{} was lost before the move ended: left to failure recovery",
                                move.reason, move.reason.empty() ? "" : "; ", cloud_.hosts[host].name);
    }
    set_draining(host, false);
    host_deadline_[host] = kNoDeadline;
    // A cold move past its stop whose target is lost: the VM (homed at the target since its stop) is the
    // failure recovery's now; its steps not yet issued are dropped, those in flight there end at its fence.
    for (auto& move : moves_) {
      if (move.state != State::cold || move.to != host || move.off_s < 0) continue;
      move.state = State::failed;
      move.reason = fmt::format("{}{}target {} was lost during the move: left to failure recovery",
                                move.reason, move.reason.empty() ? "" : "; ", cloud_.hosts[host].name);
      journal_move("cold_move_failed", move);
    }
    std::vector<VmIndex> replan;
    for (auto& move : moves_) {
      if ((move.state == State::pending || move.state == State::cold_waiting) && move.to == host) {
        cancel_timer(move);
        cloud_.vms[move.vm].host = move.from;
        move.state = State::cancelled;
        move.reason = fmt::format("target {} lost before the move began", cloud_.hosts[host].name);
        replan.push_back(move.vm);
      }
    }
    if (!replan.empty()) {
      plan_moves(replan);
      cloud_.rebuild_indexes();
    }
    replan_deadlines();
    dispatch();
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

  bool has_room(const Move& move) const {
    auto limit = host_limit();
    return migrations_on_[move.from] < limit && migrations_on_[move.to] < limit;
  }

  void start_live(std::size_t m) {
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
    journal_move("migrate_started", move);
    env_.hypervisor.migrate_vm(move.vm, move.from, move.to,
                               [this, m](const env::OperationResult& result) { on_live_done(m, result); });
  }

  void on_live_done(std::size_t m, const env::OperationResult& result) {
    advance_mirror();
    auto& move = moves_[m];
    if (move.state != State::live) return;  // given up when its source host was lost
    if (mirror_.contains(move.flow)) mirror_.cancel(move.flow);
    flow_move_.erase(move.flow);
    --migrations_on_[move.from];
    --migrations_on_[move.to];
    --live_in_flight_;
    if (result.ok) {
      move.state = State::done_live;
      move.off_s = move.end_s = now();
      journal_move("migrate_done", move);
      if (move_observer) move_observer(move.vm, move.to);
      if (draining_[move.to]) {  // its target was drained meanwhile: move it on
        plan_moves({move.vm});
        cloud_.rebuild_indexes();
      }
    } else {
      journal_move("migrate_failed", move, fmt::format(R"(, "error": "{}")", result.error));
      bool converging = result.error.find("did not converge") == std::string::npos;
      if (converging && move.to != kNoIndex) {
        // Not the VM's dirty rate: the target (or the way to it) failed. Avoid it and replan the VM.
        avoid_[move.to] = true;
        auto vm = move.vm;
        auto attempts = move.live_attempts;
        auto start = move.start_s;
        move.state = State::cancelled;
        move.reason = fmt::format("migration to {} failed: {}", cloud_.hosts[move.to].name, result.error);
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
        move.reason = "moved cold: " + result.error;
        start_cold(m);
      } else if (move.live_attempts < options_.max_live_attempts) {
        move.state = State::pending;
        move.sequence = next_sequence_++;  // back of the queue
      } else {
        move.state = State::failed;
        move.reason = fmt::format("live migration failed {} times: {}", move.live_attempts, result.error);
        cloud_.vms[move.vm].host = move.from;
      }
    }
    replan_deadlines();
    dispatch();
  }

  void dispatch() {
    advance_mirror();
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
      if (moves_[m].state == State::pending) pending.push_back(m);
    }
    std::sort(pending.begin(), pending.end(),
              [this](std::size_t a, std::size_t b) { return moves_[a].sequence < moves_[b].sequence; });
    return pending;
  }

  void dispatch_fifo(bool one_at_a_time) {
    for (auto m : pending_in_fifo_order()) {
      if (one_at_a_time && live_in_flight_ > 0) return;
      if (has_room(moves_[m])) start_live(m);
    }
  }

  // The share of a transferring migration between hosts a and b, given per-host transfer counts.
  double share(HostIndex a, HostIndex b, const std::vector<std::uint32_t>& counts) const {
    return std::min(nic_of(a) / std::max<std::uint32_t>(counts[a], 1),
                    nic_of(b) / std::max<std::uint32_t>(counts[b], 1));
  }

  enum class Verdict { admit, refuse, never };

  // Would starting `move` now help? `future` is the mirror setup_s ahead, with `extra` the migrations
  // admitted in this dispatch (transferring by then).
  Verdict admit(const Move& move, const std::vector<MigrationFlows::FlowView>& transferring,
                std::vector<std::uint32_t>& counts) const {
    const auto& vm = cloud_.vms[move.vm];
    double memory = static_cast<double>(vm.memory_mib), dirty = vm.dirty_mib_s;
    if (!move.converges_alone) return Verdict::never;
    HostIndex s = move.from, t = move.to;
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
    }
    ++with[s];
    ++with[t];
    double own = share(s, t, with);
    --with[s];
    --with[t];
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
      if (moves_[m].state == State::pending) by_source[moves_[m].from].push_back(m);
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
    for (auto& [source, candidates] : by_source) {
      std::sort(candidates.begin(), candidates.end(), [this](std::size_t a, std::size_t b) {
        const auto &x = moves_[a], &y = moves_[b];
        if (x.priority != y.priority) return x.priority < y.priority;
        if (x.occupancy_s != y.occupancy_s) return x.occupancy_s > y.occupancy_s;
        return x.vm < y.vm;
      });
      std::uint32_t scanned = 0;
      for (auto m : candidates) {
        if (scanned++ >= options_.candidate_scan) break;
        auto& move = moves_[m];
        if (migrations_on_[move.from] >= host_limit()) break;
        if (!has_room(move)) {
          waiting = true;
          continue;
        }
        switch (admit(move, transferring, counts)) {
          case Verdict::admit: {
            start_live(m);
            MigrationFlows::FlowView view{0,
                                          {move.vm, move.from, move.to, 0.0,
                                           static_cast<double>(cloud_.vms[move.vm].dirty_mib_s), false},
                                          false,
                                          0.0};
            transferring.push_back(view);
            ++counts[move.from];
            ++counts[move.to];
            break;
          }
          case Verdict::never:
            move.reason = fmt::format(
                "moved cold: cannot converge live even alone (dirty rate {} MiB/s against {:.0f} MiB/s)",
                cloud_.vms[move.vm].dirty_mib_s, std::min(nic_of(move.from), nic_of(move.to)));
            start_cold(m);
            break;
          case Verdict::refuse:
            waiting = true;
            break;
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

  // Revive: which moves not begun cannot finish live by their deadline; those go cold in time.
  void replan_deadlines() {
    if (options_.strategy != EvacuationStrategy::revive) return;
    advance_mirror();
    std::vector<double> busy_until(cloud_.hosts.size(), -1.0);
    {
      MigrationFlows ahead = mirror_;
      for (const auto& outcome : ahead.run_to_end()) {
        busy_until[outcome.spec.from] = std::max(busy_until[outcome.spec.from], outcome.end_s);
      }
    }
    std::map<HostIndex, std::vector<std::size_t>> by_source;
    for (std::size_t m = 0; m < moves_.size(); ++m) {
      const auto& move = moves_[m];
      if ((move.state == State::pending || move.state == State::cold_waiting) &&
          move.deadline_s < kNoDeadline) {
        by_source[move.from].push_back(m);
      }
    }
    for (auto& [source, candidates] : by_source) {
      double deadline = kNoDeadline;
      for (auto m : candidates) deadline = std::min(deadline, moves_[m].deadline_s);
      double window = std::max(0.0, deadline - now());
      double margin = options_.deadline_margin_s + 0.03 * window;
      double start = busy_until[source] >= 0 ? busy_until[source] : now() + options_.migration.setup_s;
      double budget = deadline - margin - start;
      double total = 0;
      std::vector<bool> cold(moves_.size(), false);
      for (auto m : candidates) {
        if (moves_[m].converges_alone) {
          total += moves_[m].occupancy_s;
        } else {
          cold[m] = true;
        }
      }
      // Lowest priority first, then the largest (fewest VMs cold for the time won).
      std::vector<std::size_t> order = candidates;
      std::sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
        const auto &x = moves_[a], &y = moves_[b];
        if (x.priority != y.priority) return x.priority > y.priority;
        if (x.occupancy_s != y.occupancy_s) return x.occupancy_s > y.occupancy_s;
        return x.vm > y.vm;
      });
      for (auto m : order) {
        if (total <= budget) break;
        if (cold[m]) continue;
        cold[m] = true;
        total -= moves_[m].occupancy_s;
      }
      // Cold moves by priority, most important first; maintenance ones staggered back from the deadline.
      std::sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
        const auto &x = moves_[a], &y = moves_[b];
        if (x.priority != y.priority) return x.priority < y.priority;
        return x.vm < y.vm;
      });
      auto endpoint = cloud_.hosts[source].endpoint;
      std::uint32_t per_wave =
          endpoint == kNoIndex ? 8 : std::max<std::uint32_t>(1, cloud_.endpoints[endpoint].max_parallel / 2);
      std::uint32_t index = 0;
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
        move.reason = move.converges_alone
                          ? fmt::format(
                                "moved cold: a live migration ({:.0f} s alone) would not end before the "
                                "deadline at {:.0f} s behind higher priorities",
                                move.occupancy_s, deadline)
                          : fmt::format(
                                "moved cold: cannot converge live even alone (dirty rate {} MiB/s against "
                                "{:.0f} MiB/s)",
                                vm.dirty_mib_s, std::min(nic_of(move.from), nic_of(move.to)));
        double at = now();
        // A VM that cannot converge even alone gains nothing by waiting: it goes cold at once.
        if (!host_urgent_[source] && move.converges_alone) {
          double stop = 2 * options_.cold.vm_stop_s + 10.0;
          at = std::max(now(), deadline - stop - stop * static_cast<double>(index / per_wave));
        }
        ++index;
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
  }

  // ---- cold moves and stops ----------------------------------------------------------------------------

  void start_cold(std::size_t m) {
    auto& move = moves_[m];
    cancel_timer(move);
    move.state = State::cold;
    move.cold = true;
    if (move.start_s < 0) move.start_s = now();
    journal_move("cold_move_started", move);
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
    std::stable_sort(waiting_steps_.begin(), waiting_steps_.end(),
                     [this](const StepRequest& a, const StepRequest& b) {
                       const auto &x = moves_[a.move], &y = moves_[b.move];
                       if (x.priority != y.priority) return x.priority < y.priority;
                       return x.sequence < y.sequence;
                     });
    std::vector<StepRequest> still;
    std::vector<StepRequest> go;
    for (const auto& request : waiting_steps_) {
      auto state = moves_[request.move].state;
      if (state != State::cold && state != State::stopping) continue;  // given up (its host was lost)
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
    const auto& move = moves_[request.move];
    // Stops and starts run on a host: if it is lost, they may never answer; their slots are released once
    // the host is confirmed fenced (release_steps_on).
    auto id = next_step_id_++;
    HostIndex host = request.kind == StepKind::stop    ? move.from
                     : request.kind == StepKind::start ? move.to
                                                       : kNoIndex;
    steps_in_flight_.emplace(id, InFlightStep{request, host});
    auto done = [this, id](const env::OperationResult& result) {
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
        env_.hypervisor.start_vm(move.to, move.vm, done);
        break;
    }
  }

  void on_step_done(StepRequest request, const env::OperationResult& result) {
    ledger_->release(scopes_of(request), listener_);
    auto m = request.move;
    auto& move = moves_[m];
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
        journal_move("cold_move_failed", move);
      }
      pump_steps();
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
        if (move_observer) move_observer(move.vm, move.to);
        move.disks_left = cloud_.vms[move.vm].disk_count;
        if (move.disks_left == 0) {
          after_disks(m);
        } else {
          for (auto d = cloud_.vms[move.vm].first_disk; d < cloud_.vm_disk_end(move.vm); ++d) {
            waiting_steps_.push_back({StepKind::unmap, m, static_cast<DiskIndex>(d)});
          }
        }
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
        if (draining_[move.to]) {
          plan_moves({move.vm});
          cloud_.rebuild_indexes();
        }
        break;
    }
    pump_steps();
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
      auto& move = moves_[request.move];
      if (move.state == State::cold || move.state == State::stopping) {
        move.state = State::failed;
        move.reason =
            fmt::format("{}{}{} was lost during its {}: left to failure recovery", move.reason,
                        move.reason.empty() ? "" : "; ", cloud_.hosts[host].name, step_name(request.kind));
        journal_move("cold_move_failed", move);
      }
    }
    if (released) pump_steps();
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
  std::vector<bool> avoid_;  // targets whose migrations failed for reasons other than convergence
  std::vector<double> host_deadline_;
  std::vector<bool> host_urgent_;
  std::vector<std::uint32_t> migrations_on_;
  std::unique_ptr<ResourceLedger> own_ledger_;  // when the environment gives none
  ResourceLedger* ledger_ = nullptr;            // slots of cold-move steps, per scope
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
  std::vector<std::pair<HostIndex, double>> deadline_timers_;
  std::uint64_t next_sequence_ = 1;
  env::TimerId wake_timer_ = 0;
  bool wake_scheduled_ = false;
  bool dispatch_posted_ = false;
  bool pump_posted_ = false;
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

void Evacuator::set_move_observer(std::function<void(model::VmIndex, model::HostIndex)> observer) {
  impl_->move_observer = std::move(observer);
}

bool Evacuator::busy() const {
  return impl_->busy();
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

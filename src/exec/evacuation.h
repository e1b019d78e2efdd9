// The evacuation engine: drains hosts (maintenance, predicted failure) by moving their VMs off before a
// deadline, through the environment interfaces only (Hypervisor::migrate_vm for live moves; stop, disk
// unmap/map, net_config and start for cold ones), so the same engine drives the simulator and real clouds.
//
// drain() plans every protected VM of the drained hosts in one pass (plan_failover in evacuation mode, with
// the targets of moves already planned counted) and schedules the moves:
// - `revive`: targets chosen by NIC as well: a VM is planned onto a host on which it converges live and
//   whose NIC lets half its source's migration slots fill the source NIC, when one can take it. Per source
//   host, highest effective priority first, then longest first; sources take turns (one migration each per
//   round, the one with the most NIC time left first) for the slots they share. A migration starts only if
//   it still converges and does not lower the bandwidth progress of the migrations it shares a NIC with (the
//   sum over them of share - dirty rate, looked at setup_s ahead so one migration's setup overlaps another's
//   transfer and the NIC never idles), and every one keeps a share of at least `min_share_over_dirty` times
//   its dirty rate. Before starting and at every completion it predicts per source host when the live queue
//   ends, and per management endpoint the slot-seconds its moves need before the deadline (a migration its
//   time alone at its source's endpoint and its target's, a cold move its stop); VMs that cannot finish live
//   by the deadline (minus a margin) go cold, lowest priority and largest first, started in time: at once
//   for a predicted failure, at their latest safe start for maintenance (and taken back into the live queue
//   if the prediction improves before then). Where an endpoint's slots bind, the migrations behind it slow
//   none another down and the starts of cold moves wait for the deadline. A migration that fails is
//   retried with backoff (EvacuationOptions::retry_backoff_s), on another target when one can take the VM,
//   else the same, while a retry can end before the deadline; after that, or after revive_live_attempts,
//   the VM goes cold in time. A VM that cannot converge even alone (or whose migration did not converge)
//   goes cold too.
// - `sequential`: one migration at a time overall; `fixed-8`: at most 8 concurrent migrations per host, first
//   come first served. Neither predicts or moves cold; a failed migration is retried at the back of the
//   queue.
// Every strategy keeps within host_max_parallel_migrations per source or target host, and the endpoint,
// array, switch and host_max_parallel_restarts limits for the steps of cold moves and stops. A live migration
// is one operation through the management endpoint of its source and one through that of its target (one
// slot of each; one slot when both hosts share an endpoint), and counts against the global limit, all in the
// shared ResourceLedger. protect:false
// VMs are stopped (cleanly) so that they are down by the deadline. A VM no host can take is reported with the
// planner's reason and blocks nothing. At each deadline every VM still running on its drained host is
// flagged in the report with why.
//
// Copies (vm_copies.h): every migration is noted in the shared VmCopies before it is issued and on its answer
// (also a late answer for a move given up); a clean stop answered ok proves the source empty; a cold start on
// its target is issued only once every other host of the VM's set is proven empty (else it waits, and is
// looked at again whenever the set changes). A move whose source is lost is given up and "left to failure
// recovery" (reported `failed` with that reason): an unanswered migration stays in the set, so no engine
// starts the VM elsewhere without proof for the migration's target; its ledger slots are held until it
// answers or one of its hosts is confirmed fenced. A VM is reported migrated / moved_cold only once its
// switch-over / start answered ok, and never to a host lost since (its VMs are failure recovery's: reported
// `failed`, "left to failure recovery"). A VM left to recovery is the engine's again when failure recovery
// restarts it (on_vm_recovered), when its migration's late answer says it switched over, or when its set of
// copies shows it running on one host alone (nothing unanswered that can still take effect); if that host is
// being drained, it is moved off too. The VMs of a host lost (connection lost, or fenced in the
// shared view) before its drain are left to recovery at once. Hosts that the shared view makes unavailable
// are no targets, and moves onto them not begun are planned again.
//
// Drains never target a draining host: moves not begun onto a host that becomes draining are planned again;
// VMs moved onto it (or being moved there, or restarted there by failure recovery: on_vm_recovered) are
// drained with it, by its deadline.
//
// Journal records (payloads are JSON objects; hosts and VMs by name, times on the loop's clock):
//   evacuate          {hosts: [..], deadline_s, reason}
//   evacuation_plan   {placements: [{vm, from, to, priority}], waiting: [{vm, from, reason}], at_s}
//   migrate_started   {vm, from, to, at_s}              before the migration is issued
//   migrate_done      {vm, from, to, at_s[, late]}      switched over: vm runs on `to` (late: after the move
//                                                       was given up)
//   migrate_failed    {vm, from, to, at_s, error[, late]}  vm still runs on `from`
//   cold_move_started {vm, from, to, at_s, reason}
//   cold_stop_done    {vm, from, to, at_s}              vm stopped on `from` (its disks follow)
//   cold_start_issued {vm, from, to, at_s}              a start of vm on `to` may take effect from now on
//   cold_move_done    {vm, from, to, at_s}              vm runs on `to`
//   cold_move_failed  {vm, from, to, at_s, reason, runs_on_source}
//   left_to_recovery  {vm, from, to, at_s, reason, migration_unanswered}  the engine gave the VM up to
//                                                       failure recovery (`to` may run it when
//                                                       migration_unanswered)
//   stopped           {vm, from, to: "", at_s}          protect: false, stopped on `from`
//   host_lost         {host};  exit_maintenance {hosts, fail_back, why}
//   (a resumed engine settling a move in flight writes migrate_done / cold_move_done / cold_stop_done with
//   resumed: true, and migrate_failed / cold_move_failed when the VM is found on its source: resume())
//
// Threading: single-threaded; call everything on the EventLoop's thread. The engine only runs in its
// callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "env/calls_in_progress.h"
#include "env/event_loop.h"
#include "env/hypervisor.h"
#include "env/journal.h"
#include "env/storage.h"
#include "exec/host_availability.h"
#include "exec/migration_model.h"
#include "exec/resource_ledger.h"
#include "exec/vm_copies.h"
#include "model/cloud.h"
#include "plan/decision.h"
#include "plan/planner.h"

namespace revive::exec {

enum class EvacuationStrategy : std::uint8_t { sequential, fixed_8, revive };
std::string_view to_string(EvacuationStrategy strategy);  // "sequential", "fixed-8", "revive"
std::optional<EvacuationStrategy> parse_evacuation_strategy(std::string_view text);

enum class EvacuationReason : std::uint8_t { maintenance, predicted_failure };
std::string_view to_string(EvacuationReason reason);  // "maintenance", "predicted-failure"
std::optional<EvacuationReason> parse_evacuation_reason(std::string_view text);

// The engine's expectations of the steps of a cold move, seconds (medians).
struct ColdMoveDurations {
  double vm_stop_s = 20.0;
  double disk_unmap_s = 2.0;
  double disk_map_s = 4.0;
  double net_config_s = 3.0;
  double vm_start_s = 60.0;
};

struct EvacuationOptions {
  EvacuationStrategy strategy = EvacuationStrategy::revive;
  LiveMigrationParameters migration;
  ColdMoveDurations cold;
  double deadline_margin_s = 10.0;    // live moves are planned to end this long (+3% of the window) before it
  double min_share_over_dirty = 2.0;  // revive admission: each transferring migration keeps this headroom
  std::uint32_t fixed_limit = 8;      // fixed-8: concurrent migrations per host
  std::uint32_t max_live_attempts = 3;  // baselines: attempts of a migration before it is given up
  // revive: a migration failing for another reason than convergence is retried after a backoff that starts at
  // retry_backoff_s and doubles per failure up to retry_backoff_max_s (the failed target is no target for its
  // own backoff, so another one is tried when one can take the VM), at most revive_live_attempts attempts in
  // all and only while a retry can still end before the deadline; then the VM moves cold, in time.
  double retry_backoff_s = 5.0;
  double retry_backoff_max_s = 60.0;
  std::uint32_t revive_live_attempts = 8;
  std::uint32_t max_step_attempts = 3;  // attempts of a cold-move step before the VM is given up
  std::uint32_t candidate_scan = 64;    // revive: candidates examined per source host per dispatch
  plan::PlannerOptions planner;
};

// The environment the engine acts through; every reference must outlive the engine.
struct EvacuationEnvironment {
  env::EventLoop& loop;
  env::Hypervisor& hypervisor;
  env::Storage& storage;
  env::Network& network;
  env::Journal* journal = nullptr;  // intents and results; null: not journaled
  // Slots of every limited scope, shared with the recovery executor acting on the same cloud so that together
  // they keep every limit; recovery ranks first for released slots (resource_ledger.h). Null: the engine
  // keeps its own. Must outlive the engine.
  ResourceLedger* ledger = nullptr;
  // Which hosts may receive VMs (host_availability.h), shared with the recovery executor: the engine marks
  // the hosts it drains (from drain() until exit_maintenance, cancel or the host's loss), so that restarts
  // do not land on them. Null: not shared. Must outlive the engine.
  HostAvailability* availability = nullptr;
  // Where a copy of each VM may run (vm_copies.h), shared with the recovery executor and rebuilt by journal
  // resume. The engine notes its migrations, stops and starts there and starts no VM while another copy may
  // run. Null: the engine keeps its own, built from the cloud, and ends a host's entries at its confirmed
  // fence (with a shared one, whoever confirms a fence calls host_fenced). Must outlive the engine.
  VmCopies* copies = nullptr;
  // Which calls are still in progress (env/calls_in_progress.h): a migration that will get no answer (a host
  // of it lost) gives its slots back once the environment says it ended, its outcome unknown (a listing or
  // a fence decides where the VM runs). Null: its slots are held until a host of it is confirmed fenced.
  env::CallsInProgress* calls = nullptr;
};

enum class EvacuationOutcome : std::uint8_t {
  pending,      // waiting for its turn (or its cold start)
  migrating,    // live migration in flight
  moving_cold,  // cold move in flight
  migrated,     // runs on its target, moved live
  moved_cold,   // runs on its target, moved cold
  stopped,      // protect: false: stopped on its host
  not_placed,   // no host can take it: keeps running where it is
  failed,       // gave up (reason says why; "left to failure recovery" when its source or target was lost)
  cancelled,    // the evacuation was cancelled or the host left maintenance first
};
std::string_view to_string(EvacuationOutcome outcome);

struct EvacuationVmReport {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;             // the drained host it ran on
  model::HostIndex to = model::kNoIndex;               // its target (kNoIndex when none)
  model::Priority priority = model::Priority::medium;  // effective priority
  bool protect = true;
  EvacuationOutcome outcome = EvacuationOutcome::pending;
  bool cold = false;   // moved (or being moved) cold
  std::string reason;  // why cold, stopped, not placed, failed, or running at the deadline
  double deadline_s = 0.0;
  double start_s = -1.0;             // its move began
  double off_source_s = -1.0;        // it stopped running on the drained host (switch-over or clean stop)
  double end_s = -1.0;               // it runs on its target (or was stopped)
  bool running_at_deadline = false;  // still running on the drained host when the deadline passed
  std::uint32_t live_attempts = 0;
  bool fail_back = false;  // a move back to its original host after maintenance
};

// A lower bound on the makespan of moving every protected VM of `hosts` live, for any schedule that keeps
// the migration limits. Each VM's migration is taken alone at the largest share it can ever get (`share`:
// the slower of its own NIC and the fastest NIC of a host that may receive it -- up, not drained, not a
// spare kept for failures by policy.spares): no schedule makes it shorter nor makes it send less (its
// re-dirtied rounds included). The bound is the largest of: one such migration; every drained host's NIC
// carrying what its VMs send, after one setup; every drained host's migration slots
// (host_max_parallel_migrations) and every management endpoint's (max_parallel) held for the migrations'
// durations. VMs that do not converge even alone at that share cannot move live and count nowhere; cold
// moves are not bounded by it. `dirty_mib_s` (by VM index; null: the declared rates) gives the rates the
// migrations really see (a simulation's). `binding` (optional) gets which term sets it.
double evacuation_lower_bound_s(const model::Cloud& cloud, const std::vector<model::HostIndex>& hosts,
                                const LiveMigrationParameters& parameters, std::string* binding = nullptr,
                                const std::vector<double>* dirty_mib_s = nullptr);

class Evacuator {
 public:
  // Takes a snapshot of `cloud` as its view of the world.
  Evacuator(const model::Cloud& cloud, EvacuationEnvironment environment, EvacuationOptions options = {});
  ~Evacuator();
  Evacuator(const Evacuator&) = delete;
  Evacuator& operator=(const Evacuator&) = delete;

  // Puts `hosts` into maintenance (no longer targets) and moves their VMs off by `deadline_s` (absolute, on
  // the loop's clock). A predicted failure is urgent: cold moves start at once. Throws std::invalid_argument
  // for an unknown host.
  void drain(const std::vector<model::HostIndex>& hosts, double deadline_s, EvacuationReason reason);
  // Ends maintenance: the hosts are up again (targets for later plans). Moves of their VMs not yet begun are
  // cancelled. With `fail_back`, the VMs moved off them go back (live, as far as the constraints allow).
  void exit_maintenance(const std::vector<model::HostIndex>& hosts, bool fail_back);
  // Cancels the evacuation of `hosts`: moves not begun are dropped (those in flight finish), the hosts are
  // up.
  void cancel(const std::vector<model::HostIndex>& hosts);

  // Called whenever a VM has left its source for good: at a live switch-over (also one answered after the
  // move was given up, or onto a target lost meanwhile), and for a cold move once the VM is stopped on its
  // source (its home is then the target, where the move goes on to start it), so other engines (the recovery
  // executor) can follow. A source host lost before then leaves the VM to recovery.
  void set_move_observer(std::function<void(model::VmIndex, model::HostIndex)> observer);
  // Called when a cold move's stop of the VM on its source is issued: from then on the VM may be stopped
  // there, and this engine reports it (the recovery executor hands its report over).
  void set_stop_observer(std::function<void(model::VmIndex)> observer);
  // Called with every placement decision and its inputs (plan/decision.h), before it acts on it.
  void set_decision_observer(plan::DecisionObserver observer);
  // Called when a move resumed from the journal finds its VM running nowhere (its guest stopped while the
  // controller was down): `vm` stopped on `host`, its source (the VM-level restarts take it).
  void set_found_stopped_observer(std::function<void(model::VmIndex, model::HostIndex)> observer);

  // Continues the drains of a controller that stopped, from the journal (call once, first, after the
  // recovery executor's resume: that one holds the slots of the dead controller's unanswered migrations and
  // cold starts and keeps them unanswered in the copies set). Drains in force keep their hosts in
  // maintenance and their deadlines (on the loop's clock, as journaled); moves that ended are reported as
  // they ended; VMs still on a drained host are planned again. A move in flight is settled once every call
  // of it that may still run has ended (env::CallsInProgress: its stop, disk and network steps hold their
  // slots until then, a migration its hosts' migration counts): the hosts of the VM's copies set, its
  // source and its target are listed, and the move ends where the VM is found -- on its target alone
  // (migrated / moved_cold), on its source alone (planned again), nowhere (a cold move goes on from its
  // stop, every step idempotent; a migration's VM is reported to the found-stopped observer). Its source
  // lost first (or its target, past the stop): left to failure recovery, as in flight. Not settled within
  // an hour: failed, with the copies set as reason.
  void resume();
  // Stops acting (a controller that died): no call is issued, no record journaled, answers are ignored.
  void halt();

  // The recovery executor restarted `vm` on `host` (after its old host failed): the engine's view follows,
  // a move of it not yet begun is dropped, and if `host` is being drained the VM is moved off it too, by
  // that host's deadline (flagged at once when that deadline has passed). A VM the engine left to failure
  // recovery is the engine's again from here. With its own VmCopies, the restart is taken as proof that no
  // other copy runs. Throws std::invalid_argument for an unknown VM or host.
  void on_vm_recovered(model::VmIndex vm, model::HostIndex host);
  // Failure recovery declared `host` failed: the VMs homed there are its own from now on, so a cold move past
  // its stop onto `host` is given up to it (reported failed) and none of its steps is issued any more (one
  // whose stop is in flight is given up when the stop answers). Until on_host_returned(host).
  void on_host_failed(model::HostIndex host);
  void on_host_returned(model::HostIndex host);
  // Failure recovery places `vm` elsewhere (a VM-level failure: its restart in place could not happen): a
  // move of it not begun is cancelled, and the VM is failure recovery's until on_vm_recovered.
  void on_vm_relocated(model::VmIndex vm);

  // True while moves are pending or in flight.
  bool busy() const;
  // Ends a run (the loop has nothing left to do): moves still pending or in flight are blocked on something
  // that will not happen -- a call that never answers, or a slot such a call holds (a host cut off and never
  // declared failed keeps them) -- and are reported failed with that reason; the VMs still run where they
  // were.
  void finalize();
  // One entry per VM of a drained host the engine took charge of (latest move per VM), in VM index order.
  std::vector<EvacuationVmReport> report() const;
  // The engine's view of the cloud: VMs at their (planned) targets, drained hosts in maintenance.
  const model::Cloud& state() const;
  // Largest number of migrations ever in flight at once on one host (source or target).
  std::uint32_t peak_migrations_per_host() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace revive::exec

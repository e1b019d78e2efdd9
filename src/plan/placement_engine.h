// The placement engine behind plan_failover, precomputed plans and the capacity check. It keeps the load of
// every host for the cloud as it is, and answers plan requests against it: a request temporarily marks hosts
// unavailable, lifts the moving VMs off, places them in one pass, and restores the state before returning, so
// thousands of single-host plans can be computed from one engine without rebuilding it.
//
// Heuristic: units (a moving VM, or the moving members of an affinity group together) in order of effective
// priority, then dependency depth (VMs waited for first), then size (largest dominant share first). Each VM
// goes to the feasible host of the best rank, then lowest load (max of cpu and memory utilisation: the
// L-infinity norm-based rule of Panigrahy et al., which spreads load so the next failure has room too). Rank:
// first the spares tier (policy.spares: reserved hosts after the others by default, before them with order
// first; never for the VMs of drained hosts unless policy.spares.maintenance), then how many of the VM's soft
// prefer_labels a host carries (more first; exact: every host carrying one is looked at). A VM that anchors
// an affinity group (first member placed) looks first for a host with room for the moving members still to
// come that they can all run on. A VM that fits nowhere gets a bounded repair (move one already-planned VM
// elsewhere, or displace a planned VM of strictly lower priority). If VMs still wait, a best-fit pass
// (most-loaded feasible host first) is tried too and the plan with the higher placed priority weight wins.
//
// Improvement phase, only when VMs still wait (so a plan that places everything costs nothing more): further
// whole passes with the same scoring over changed orders, each kept only if it places strictly more priority
// weight (1000 / 100 / 10 / 1 per critical / high / medium / low VM): first smallest-first within each
// priority and depth (several small VMs where one large took the room), then, hill-climbing, each waiting VM
// that some available compatible host could hold, most important first, moved to the front of its priority
// class together with the VMs of that class it waits for (the exchange where a larger VM placed first shut
// out a smaller one and its dependants). Every pass is the normal one, so every constraint and waiting reason
// holds as without the phase. Bound: at most PlannerOptions::improvement_passes passes (default 32) and at
// most 4,096 / moving VMs of them, so a request moving more than 4,096 VMs skips the phase.
//
// Spreading restarts over management endpoints, last (PlannerOptions::spread_over_endpoints): a restart takes
// a slot of its target's endpoint (max_parallel) for its start, so restarts piled behind one endpoint bound
// the recovery however idle the others are. Class by class, most important first, while some endpoint has
// more restarts of that class and the classes before it than max_parallel: one VM of that class (not in an
// affinity group, smallest first) planned behind the endpoint with the most restarts per slot moves to the
// least loaded feasible host whose endpoint, and the host itself (host_max_parallel_restarts), would then
// still have fewer restarts per slot than that endpoint had; it stops when no such move exists. Every move is
// a normal feasible placement, no VM is unplaced (placed weight is unchanged), each VM moves at most once,
// and a move that would free room some waiting VM could use is not made. Skipped when more than 256 VMs wait;
// at most 65,536 VMs tried.
//
// Index (src/plan/host_load_tree.h; docs/PERFORMANCE.md, "Planner at scale"): a VM class's compatible hosts
// are runs of positions in a fixed order of hosts, and searches go through a tree of host loads instead of
// scanning every candidate host, returning exactly what such a scan returns (Search::scan keeps the scan as
// the reference; tests/plan/indexed_search_test.cc compares the two). A VM whose affinity partner runs or is
// planned is looked for only there; the spreading phase takes the hosts of endpoints it would reject out of
// the index for the rest of a class.
//
// Thread-safety: none; one engine per thread. The engine keeps a reference to the cloud: the caller keeps it
// alive and reports changes (on_vm_moved, on_host_changed) after mutating it. A VM's demand, requirements,
// groups, after list, prefer_labels and protect flag are read once (classes, traits): for other changes,
// build a new engine (as the daemon does for its prestaged plans).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/cloud.h"
#include "plan/host_load_tree.h"
#include "plan/plan.h"
#include "plan/planner.h"
#include "plan/word_key_map.h"

namespace revive::plan {

// Why one host does or does not suit one VM (for --explain).
struct HostVerdict {
  model::HostIndex host = model::kNoIndex;
  bool feasible = false;  // all hard constraints hold with the plan's other moves in place
  bool chosen = false;
  std::string reason;
};

class PlacementEngine {
 public:
  explicit PlacementEngine(const model::Cloud& cloud);
  PlacementEngine(const PlacementEngine&) = delete;
  PlacementEngine& operator=(const PlacementEngine&) = delete;

  // Computes a plan; the engine's state is the same after the call as before. Throws std::invalid_argument
  // for indexes out of range.
  Plan plan(const PlanRequest& request, const PlannerOptions& options);

  // For `vm` (one of the moving VMs of `request`): every host with the verdict for it, given the rest of
  // `plan`.
  std::vector<HostVerdict> explain(const PlanRequest& request, const Plan& plan, model::VmIndex vm);

  // Incremental updates after the caller changed the cloud: cloud.vms[vm].host now differs from
  // `previous_host`.
  void on_vm_moved(model::VmIndex vm, model::HostIndex previous_host);
  // A host's state (up/maintenance/down) or reserved flag changed.
  void on_host_changed(model::HostIndex host);

  const std::vector<model::Priority>& effective_priorities() const { return effective_; }

  // How the engine finds hosts: through its index (the default), by scanning every candidate host (the
  // reference the index must agree with), or both, throwing std::logic_error where they differ (tests).
  enum class Search : std::uint8_t { indexed, scan, checked };
  void set_search(Search search);
  // Whether `vm` could go to `host` as the cloud stands (up, compatible, room; groups not checked).
  bool has_room_for(model::HostIndex host, model::VmIndex vm) const {
    return role_[host] == HostRole::available && statically_compatible(vm, host) && fits(vm, host);
  }

 private:
  enum class Scoring { spread, best_fit };
  enum class HostRole : std::uint8_t { available, not_up, failed, evacuated, excluded };
  using HostFilter = std::function<bool(model::HostIndex)>;
  // The statically compatible hosts of a class of VMs, as runs of positions in the engine's order of hosts
  // (see host_load_tree.h) and the tree nodes covering them. Whether the set is small (under 1/8 of the
  // hosts) decides one tie of the packing pass (see find_host), as when small sets were scanned whole.
  struct CandidateSet {
    PositionRuns runs;
    std::vector<std::uint32_t> nodes;
    std::size_t size = 0;
    bool small = false;
    std::vector<model::HostIndex> hosts;  // by index; only when the search is not Search::indexed
  };
  struct Attempt {  // the outcome of one pass over all units
    // In placement order; a VM taken off since leaves a hole (kNoIndex), none at the end.
    std::vector<std::pair<model::VmIndex, model::HostIndex>> placed;
    std::size_t placed_count = 0;  // entries of `placed` that are not holes
    std::vector<model::VmIndex> waiting;
    std::unordered_map<model::VmIndex, std::string> waiting_reason_override;
    double weight = 0;
  };

  double load_of(model::HostIndex host) const;
  void add_vm_load(model::HostIndex host, model::VmIndex vm, double sign);
  double vm_size(model::VmIndex vm) const;
  void rollback(Attempt& attempt);
  std::size_t candidate_set_of(model::VmIndex vm);
  bool statically_compatible(model::VmIndex vm, model::HostIndex host) const;
  bool fits(model::VmIndex vm, model::HostIndex host) const;
  bool groups_allow(model::VmIndex vm, model::HostIndex host) const;
  // Empty when the groups of `vm` allow `host`; otherwise the first conflict, in words.
  std::string group_conflict(model::VmIndex vm, model::HostIndex host) const;
  // How many of the VM's prefer_labels the host carries.
  int preferred_count(model::VmIndex vm, model::HostIndex host) const;
  // The hosts carrying at least one of the VM's prefer_labels, by index (cached per set of labels).
  const std::vector<model::HostIndex>& preferred_pool(model::VmIndex vm);
  // Whether `vm` may go to reserved hosts in this request: VMs of failed hosts may, those of drained hosts
  // only with policy.spares.maintenance.
  bool may_use_spares(model::VmIndex vm) const;
  bool spare_allowed(model::VmIndex vm, model::HostIndex host) const {
    return !spare_[host] || may_use_spares(vm);
  }
  // "carries 1 of its 2 prefer_labels (zone=z1)", for --explain.
  std::string preference_text(model::VmIndex vm, model::HostIndex host) const;
  // The best feasible host for `vm`, with room for `extra` demand besides (an affinity group's other
  // members) and, when given, statically compatible with every one of `partners` too and accepted by
  // `filter`.
  model::HostIndex find_host(model::VmIndex vm, Scoring scoring, const std::vector<model::HostIndex>& avoid,
                             double extra_cpus = 0, double extra_memory_mib = 0,
                             const std::vector<model::VmIndex>* partners = nullptr,
                             const HostFilter* filter = nullptr);
  template <typename Feasible>
  model::HostIndex find_host_indexed(model::VmIndex vm, Scoring scoring, double cpus, double memory_mib,
                                     const Feasible& feasible);
  template <typename Feasible>
  model::HostIndex find_host_by_scan(model::VmIndex vm, Scoring scoring, const Feasible& feasible);
  // The tree nodes covering the candidate hosts of `set` that carry `label`.
  const std::vector<std::uint32_t>& preferred_cover(std::size_t set, const model::Label& label);
  // The hosts a repair of `vm` tries: least loaded first, available, allowed (spares), its groups allowing
  // and large enough when empty; at most `limit` (at least one looked for).
  std::vector<model::HostIndex> repair_hosts(model::VmIndex vm, int limit);
  std::vector<model::HostIndex> repair_hosts_by_scan(model::VmIndex vm, int limit);
  // Updates the index after a host's load, role or reserved flag changed.
  void refresh_host(model::HostIndex host);
  // refresh_host for each of `hosts` once (duplicates allowed); clears `hosts`.
  void refresh_hosts(std::vector<model::HostIndex>& hosts);
  // Positions of hosts: by arch, networks, the labels VMs require or prefer, arrays, then index.
  void order_hosts();
  // Records how the target was chosen (with the host's load before) unless `choice` is empty (an undo).
  void assign(model::VmIndex vm, model::HostIndex host, Attempt& attempt,
              std::optional<Choice> choice = std::nullopt);
  void unassign(model::VmIndex vm, Attempt& attempt);
  bool place_vm(model::VmIndex vm, Scoring scoring, Attempt& attempt);
  // Hints the cache about what placing the VMs after order[i] will read first.
  void prefetch_for_search(const std::vector<model::VmIndex>& order, std::size_t i) const;
  bool repair(model::VmIndex vm, Scoring scoring, const PlannerOptions& options, Attempt& attempt);
  // `loser` (placed, now unassigned) waits because `winner` of higher priority took its room.
  void displace(model::VmIndex loser, model::VmIndex winner, Attempt& attempt);
  bool displace_group_blockers(model::VmIndex vm, Scoring scoring, Attempt& attempt);
  // True when it took some member off its target (room freed).
  bool settle_affinity_with_waiting_drained(Attempt& attempt);
  // The last phase (see the header comment); `spread` gets the VMs it moved.
  void spread_over_endpoints(Attempt& attempt, std::vector<model::VmIndex>& spread);
  double endpoint_limit(model::EndpointIndex endpoint) const;  // max_parallel, at least 1
  // Units by effective priority, then dependency depth, then size (largest or smallest first), then index.
  std::vector<model::VmIndex> placement_order(std::vector<model::VmIndex> moving,
                                              bool largest_first = true) const;
  Attempt run_pass(const std::vector<model::VmIndex>& order, Scoring scoring, const PlannerOptions& options);
  // The improvement phase (see the header comment): `best`, applied in the engine state, is the outcome of
  // run_pass(order, scoring); on return the state holds the best attempt found and `order` the order that
  // gave it.
  Attempt improve(std::vector<model::VmIndex>& order, Scoring scoring, Attempt best,
                  const PlannerOptions& options);
  // `order` with `vm` and the moving VMs of its priority class it waits for (transitively, through `after`)
  // moved to the front of that class.
  std::vector<model::VmIndex> promoted(const std::vector<model::VmIndex>& order, model::VmIndex vm) const;
  // What a rolled-back attempt needs to be applied again: its placements and which drained VMs stay.
  struct Decision {
    Choice choice = Choice::least_loaded;
    double load = 0.0;  // the target's load just before
  };
  struct Snapshot {
    std::vector<std::pair<model::VmIndex, model::HostIndex>> placed;
    std::vector<Decision> decisions;  // per entry of `placed`
    std::vector<std::uint8_t> stays;  // per VM of the order
  };
  Snapshot snapshot(const Attempt& attempt, const std::vector<model::VmIndex>& order) const;
  // Whether some available host compatible with `vm` could hold it if it were empty.
  bool could_fit_empty(model::VmIndex vm);
  // Undoes `trial` and applies `snapshot` (taken of `kept`) again into `kept`.
  void restore(Attempt& trial, Attempt& kept, const Snapshot& snapshot,
               const std::vector<model::VmIndex>& order);
  void begin_request(const PlanRequest& request, std::vector<model::VmIndex>& moving);
  void end_request();
  std::string waiting_reason(model::VmIndex vm) const;
  // The reason among the hosts `vm` may use (reserved hosts kept for failures left out).
  std::string waiting_reason_among_allowed(model::VmIndex vm) const;
  // --explain: the chosen host's reason, and that of a feasible host passed over, for a placement chosen
  // by `choice` at `load_then` (the target's load just before it was chosen).
  std::string chosen_reason(model::VmIndex vm, model::HostIndex host, Choice choice, double load_then) const;
  std::string passed_over_reason(model::VmIndex vm, model::HostIndex host, model::HostIndex chosen,
                                 Choice choice, double load_then) const;
  std::string describe_host_rejection(model::VmIndex vm, model::HostIndex host) const;
  std::string describe_needs(model::VmIndex vm) const;

  const model::Cloud& cloud_;
  std::vector<model::Priority> effective_;
  std::vector<int> depth_;  // 0 for VMs that wait for nobody; 1 + max depth of what a VM waits for
  // Per host, together (what a feasibility test reads, one cache line for two hosts).
  struct alignas(32) HostRoom {
    double cpu_used = 0, memory_used = 0, cpu_capacity = 0, memory_capacity = 0;
  };
  std::vector<HostRoom> room_;
  std::vector<HostRole> role_;
  std::vector<CandidateSet> sets_;
  // Candidate sets by the VM's requirements (arch, required labels, networks, arrays) and by their runs.
  WordKeyMap set_by_requirements_, set_by_runs_;
  // candidate_set_of's scratch, and the key and set it found last.
  std::vector<model::Index> requirements_scratch_, arrays_scratch_, last_requirements_;
  std::size_t last_set_ = std::numeric_limits<std::uint32_t>::max();
  Search search_ = Search::indexed;
  // The index: hosts at positions, runs of positions per static attribute, one tree of the available hosts
  // that are not reserved and one of the available reserved hosts.
  std::vector<std::uint32_t> position_;    // per host
  std::vector<model::HostIndex> host_at_;  // per position
  std::map<model::Symbol, PositionRuns> runs_by_arch_, runs_by_network_;
  std::map<std::pair<model::Symbol, model::Symbol>, PositionRuns> runs_by_label_;
  std::vector<PositionRuns> runs_by_array_;
  // Per candidate set and prefer_label (set, key, value): its entry in preferred_cover_lists_, the cover of
  // the set's hosts carrying the label (a deque: references to entries stay valid as it grows).
  WordKeyMap preferred_covers_;
  std::deque<std::vector<std::uint32_t>> preferred_cover_lists_;
  HostLoadTree regular_tree_, spare_tree_;
  std::vector<const HostLoadTree*> regular_only_, spare_only_;  // one tree each, as searches take them
  LoadTreeSearch tree_search_;
  enum Trait : std::uint8_t { kHasGroups = 1, kHasAfter = 2, kHasPreferLabels = 4, kProtected = 8 };
  // Per VM, what the hot loops read, in one cache line (a VM's record in the cloud is three, and a dozen
  // arrays indexed by VM were a dozen lines per VM, which a plan moving 20,000 VMs of 400,000 misses).
  struct alignas(64) VmState {
    double cpus = 0, memory = 0;
    double size = 0;                              // vm_size
    Decision decision;                            // how its current planned target was chosen
    std::uint32_t set = 0xFFFFFFFFu;              // its candidate set, kNoSet until computed
    model::HostIndex location = model::kNoIndex;  // where it is (or is planned) for group checks
    model::HostIndex resting = model::kNoIndex;   // while moving and not placed: its drained host, or none
    std::uint32_t slot = 0;  // when placed: its entry in the `placed` of the attempt holding it
    model::Priority effective = model::Priority::medium;
    std::uint8_t traits = 0;       // Trait bits
    std::uint8_t in_affinity = 0;  // in some affinity group
    std::uint8_t moving = 0;       // moves in this request
    std::uint8_t stays = 0;        // a drained VM found to wait: keeps running where it rests
  };
  static_assert(sizeof(VmState) == 64);
  std::vector<VmState> vm_;
  // Scratch of spread_over_endpoints, zero between calls: per endpoint its starts and movable VMs (entries
  // of its list of starts), per host its starts.
  std::vector<double> endpoint_starts_, host_starts_;
  std::vector<std::vector<std::uint32_t>> movable_;
  std::vector<std::uint8_t> blocked_;  // per host: out of the index while spreading over endpoints
  std::vector<std::vector<model::HostIndex>> hosts_by_array_;     // hosts that reach each array, by index
  std::vector<std::vector<model::HostIndex>> hosts_by_endpoint_;  // hosts behind each endpoint, by index
  std::vector<std::vector<model::VmIndex>> planned_on_;           // VMs this request placed on each host
  std::vector<std::vector<model::VmIndex>> residents_;            // VMs whose cloud host is each host
  std::vector<std::uint8_t> spare_;                               // per host: reserved
  std::vector<model::EndpointIndex> endpoint_of_;  // per host: its endpoint (the host records are large)
  std::vector<model::HostIndex> spares_;           // the reserved hosts, by index
  std::map<std::pair<model::Symbol, model::Symbol>, std::vector<model::HostIndex>>
      hosts_by_label_;  // per label (key, value): the hosts carrying it, by index
  std::map<std::vector<model::Symbol>, std::vector<model::HostIndex>> pools_;  // preferred_pool's cache
  double cpu_scale_ = 1.0, memory_scale_ = 1.0;  // average usable host capacity, for VM sizes
  double smallest_endpoint_limit_ = 0.0;         // the smallest endpoint max_parallel (at least 1)

  // Per-request undo information.
  std::vector<std::pair<model::HostIndex, HostRole>> saved_roles_;
  std::vector<model::HostIndex> touched_hosts_;  // scratch: hosts whose load changed, to refresh once
  std::vector<std::pair<model::VmIndex, model::HostIndex>> lifted_;  // moving VMs and the host they left
};

}  // namespace revive::plan

// Where a copy of each VM may run: one set of hosts per VM, shared by every engine that starts or moves VMs
// (the recovery executor, the evacuation engine) and rebuilt from the journal on resume, so that no engine
// starts a VM while another copy of it may run.
//
// A host is in a VM's set while a copy may run there: the VM was seen or believed running there, or an
// operation that may start it there (a start, a live migration to it) has not answered. It leaves the set
// only on proof that no copy runs there:
//   - the host's fence is confirmed (it is off): every VM's entry for it ends, answered or not;
//   - a definite answer from its hypervisor: the start there failed, a stop there succeeded, a migration away
//     switched over, or a listing of the host's running VMs does not hold the VM -- a listing is no proof
//     while an operation that may start the VM there is unanswered, unless that operation is a migration
//     whose source is fenced (it can no longer switch over).
// An operation given up on (timed out) keeps its entry until it answers or its host is fenced. The rule the
// engines keep: a VM starts on host T only when every other host of its set has been proven empty of it.
// (A disk is unmapped from a host of the set only once that host is proven empty too -- except from a host
// declared failed, where the unmap is itself a storage fence and may go before the power fence: the start
// still waits for the fence.)
//
// Listeners hear of every change of a VM's set synchronously: they must only take note and post their work.
// Threading: none needed; everything runs on the event loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/cloud.h"

namespace revive::exec {

class VmCopies {
 public:
  using ListenerId = std::uint32_t;
  // Why a host is in a VM's set.
  struct Entry {
    model::HostIndex host = model::kNoIndex;
    std::uint32_t starting = 0;                           // unanswered starts of the VM there
    std::uint32_t migrating_in = 0;                       // unanswered live migrations of the VM to there
    model::HostIndex migration_source = model::kNoIndex;  // the source of the latest such migration
    bool running = false;                                 // seen running there (or a start answered ok)
    // An operation's outcome is unknown (e.g. from before a restart): a listing decides.
    bool unknown = false;
    std::uint64_t changed = 0;  // version() when the entry last changed
  };

  // Every VM starts out running on its inventory host (none for VMs with no host).
  explicit VmCopies(const model::Cloud& cloud);
  VmCopies(const VmCopies&) = delete;
  VmCopies& operator=(const VmCopies&) = delete;

  std::size_t vm_count() const { return entries_.size(); }
  // The hosts where a copy of `vm` may run (in the order they joined).
  std::vector<model::HostIndex> hosts(model::VmIndex vm) const;
  const std::vector<Entry>& entries(model::VmIndex vm) const { return entries_.at(vm); }
  bool may_run_on(model::VmIndex vm, model::HostIndex host) const { return find(vm, host) != nullptr; }
  // An operation that may start the VM on `host` is unanswered there.
  bool pending_on(model::VmIndex vm, model::HostIndex host) const;
  // Whether only a listing of `host` can end its entry for `vm` now (no operation pending that a listing
  // cannot overrule, not known running).
  bool needs_listing(model::VmIndex vm, model::HostIndex host) const;
  // The VM was seen running on `host` (a definite answer, not an unknown outcome).
  bool seen_on(model::VmIndex vm, model::HostIndex host) const;
  // The hosts other than `target` where a copy may still run: a start on `target` must wait for proof of
  // each (empty: it may go).
  std::vector<model::HostIndex> unproven_besides(model::VmIndex vm, model::HostIndex target) const;
  // Whether that list is empty (no allocation: the dispatcher asks it for every start it looks at).
  bool only_on(model::VmIndex vm, model::HostIndex target) const;

  // A start of `vm` on `host` is issued.
  void start_issued(model::VmIndex vm, model::HostIndex host);
  // Its answer: `running` when it succeeded; a failure answer means the VM does not run there (unless it was
  // seen running there before).
  void start_answered(model::VmIndex vm, model::HostIndex host, bool running);
  // An unanswered start whose answer will never come (its caller died: a resumed controller): the VM may
  // run there until a listing or a fence says otherwise.
  void start_outcome_unknown(model::VmIndex vm, model::HostIndex host);
  // A live migration of `vm` from `source` to `target` is issued.
  void migration_issued(model::VmIndex vm, model::HostIndex source, model::HostIndex target);
  // Its answer: `switched_over` when the VM now runs on `target` and no longer on `source`.
  void migration_answered(model::VmIndex vm, model::HostIndex source, model::HostIndex target,
                          bool switched_over);
  // The VM may run on `host`, outcome unknown (a journal read on resume): a listing or a fence decides.
  void maybe_running(model::VmIndex vm, model::HostIndex host);
  // The VM is seen (or reported by another engine) running on `host`.
  void seen_running(model::VmIndex vm, model::HostIndex host);
  // A definite answer that the VM does not run on `host` (a stop succeeded, a listing lacks it). Ignored
  // while an operation that may start it there is unanswered (see the header comment for migrations).
  void proven_absent(model::VmIndex vm, model::HostIndex host);
  // The VMs that `host`'s hypervisor lists as running, in a listing asked for when version() was `as_of`:
  // those listed are seen there, the others of the set proven absent (same rule) -- but only entries that
  // have not changed since the listing was asked for (a listing is a snapshot: a migration may have switched
  // over, or a start answered, while it was on its way).
  void listed(model::HostIndex host, const std::vector<model::VmIndex>& running, std::uint64_t as_of);
  // Counts every change of any entry; a listing remembers it when asked for.
  std::uint64_t version() const { return version_; }
  // `host`'s fence is confirmed: no copy of any VM runs there any more.
  void host_fenced(model::HostIndex host);
  // VMs with an entry for `host` (any kind).
  std::vector<model::VmIndex> vms_on(model::HostIndex host) const;

  // `listener(vm)` after every change of a VM's set.
  ListenerId add_listener(std::function<void(model::VmIndex)> listener);
  void remove_listener(ListenerId listener);

  // "host-0003 (start unanswered), host-0007 (running)": for reasons and logs.
  std::string describe(model::VmIndex vm, const model::Cloud& cloud) const;

 private:
  Entry* find(model::VmIndex vm, model::HostIndex host);
  const Entry* find(model::VmIndex vm, model::HostIndex host) const;
  Entry& get(model::VmIndex vm, model::HostIndex host);
  void drop_if_empty(model::VmIndex vm, model::HostIndex host);
  void tell(model::VmIndex vm);
  bool source_fenced(const Entry& entry) const;

  std::vector<std::vector<Entry>> entries_;               // by VM; usually one entry
  std::vector<std::vector<model::VmIndex>> vms_by_host_;  // may hold stale VMs; checked on use
  std::uint64_t version_ = 0;
  std::vector<std::uint64_t> removed_at_;  // per host: version() when an entry there last ended
  std::vector<std::uint8_t> fenced_;       // hosts fenced since they last had an entry added
  std::vector<std::function<void(model::VmIndex)>> listeners_;
};

}  // namespace revive::exec

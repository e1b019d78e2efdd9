#include "exec/vm_copies.h"

#include <algorithm>

#include <fmt/format.h>

namespace revive::exec {

VmCopies::VmCopies(const model::Cloud& cloud)
    : entries_(cloud.vms.size()),
      vms_by_host_(cloud.hosts.size()),
      removed_at_(cloud.hosts.size(), 0),
      fenced_(cloud.hosts.size(), 0) {
  for (model::VmIndex vm = 0; vm < cloud.vms.size(); ++vm) {
    auto host = cloud.vms[vm].host;
    if (host == model::kNoIndex) continue;
    Entry entry;
    entry.host = host;
    entry.running = true;
    entries_[vm].push_back(entry);
    vms_by_host_[host].push_back(vm);
  }
}

std::vector<model::HostIndex> VmCopies::hosts(model::VmIndex vm) const {
  std::vector<model::HostIndex> result;
  for (const auto& entry : entries_.at(vm)) result.push_back(entry.host);
  return result;
}

bool VmCopies::pending_on(model::VmIndex vm, model::HostIndex host) const {
  const auto* entry = find(vm, host);
  return entry != nullptr && (entry->starting > 0 || entry->migrating_in > 0);
}

bool VmCopies::needs_listing(model::VmIndex vm, model::HostIndex host) const {
  const auto* entry = find(vm, host);
  if (entry == nullptr || entry->running || entry->starting > 0) return false;
  return entry->unknown || (entry->migrating_in > 0 && source_fenced(*entry));
}

bool VmCopies::seen_on(model::VmIndex vm, model::HostIndex host) const {
  const auto* entry = find(vm, host);
  return entry != nullptr && entry->running;
}

bool VmCopies::only_on(model::VmIndex vm, model::HostIndex target) const {
  for (const auto& entry : entries_.at(vm)) {
    if (entry.host != target) return false;
  }
  return true;
}

std::vector<model::HostIndex> VmCopies::unproven_besides(model::VmIndex vm, model::HostIndex target) const {
  std::vector<model::HostIndex> result;
  for (const auto& entry : entries_.at(vm)) {
    if (entry.host != target) result.push_back(entry.host);
  }
  return result;
}

void VmCopies::start_issued(model::VmIndex vm, model::HostIndex host) {
  ++get(vm, host).starting;
  tell(vm);
}

void VmCopies::start_answered(model::VmIndex vm, model::HostIndex host, bool running) {
  auto* entry = find(vm, host);
  if (entry == nullptr) return;  // its host was fenced meanwhile: the answer cannot be a copy
  entry->changed = ++version_;
  if (entry->starting > 0) --entry->starting;
  if (running) entry->running = true;
  drop_if_empty(vm, host);
  tell(vm);
}

void VmCopies::start_outcome_unknown(model::VmIndex vm, model::HostIndex host) {
  auto* entry = find(vm, host);
  if (entry == nullptr) return;
  entry->changed = ++version_;
  if (entry->starting > 0) --entry->starting;
  entry->unknown = true;
  tell(vm);
}

void VmCopies::maybe_running(model::VmIndex vm, model::HostIndex host) {
  get(vm, host).unknown = true;
  tell(vm);
}

void VmCopies::migration_issued(model::VmIndex vm, model::HostIndex source, model::HostIndex target) {
  auto& entry = get(vm, target);
  ++entry.migrating_in;
  entry.migration_source = source;
  tell(vm);
}

void VmCopies::migration_answered(model::VmIndex vm, model::HostIndex source, model::HostIndex target,
                                  bool switched_over) {
  if (auto* entry = find(vm, target)) {
    entry->changed = ++version_;
    if (entry->migrating_in > 0) --entry->migrating_in;
    if (switched_over) {
      entry->running = true;
      entry->unknown = false;
    }
    drop_if_empty(vm, target);
  }
  if (switched_over) {
    if (auto* entry = find(vm, source)) {
      entry->changed = ++version_;
      entry->running = false;
      drop_if_empty(vm, source);
    }
  }
  tell(vm);
}

void VmCopies::seen_running(model::VmIndex vm, model::HostIndex host) {
  auto& entry = get(vm, host);
  entry.running = true;
  entry.unknown = false;
  // A migration to here whose source is off can no longer change anything: it switched over.
  if (entry.starting == 0 && entry.migrating_in > 0 && entry.migration_source != model::kNoIndex &&
      fenced_[entry.migration_source] != 0) {
    entry.migrating_in = 0;
  }
  tell(vm);
}

bool VmCopies::source_fenced(const Entry& entry) const {
  return entry.starting == 0 && entry.migrating_in > 0 && entry.migration_source != model::kNoIndex &&
         fenced_[entry.migration_source] != 0;
}

void VmCopies::proven_absent(model::VmIndex vm, model::HostIndex host) {
  auto* entry = find(vm, host);
  if (entry == nullptr) return;
  if (entry->starting > 0) return;  // the start may still take effect
  if (entry->migrating_in > 0) {
    if (!source_fenced(*entry)) return;  // the migration may still switch over
    entry->migrating_in = 0;             // its source is off: it never will
  }
  entry->running = false;
  entry->unknown = false;
  drop_if_empty(vm, host);
  tell(vm);
}

void VmCopies::listed(model::HostIndex host, const std::vector<model::VmIndex>& running,
                      std::uint64_t as_of) {
  for (auto vm : running) {
    if (vm >= entries_.size()) continue;
    const auto* entry = find(vm, host);
    // A stale sighting is no news: the VM may have been stopped or moved away since.
    bool stale = entry != nullptr ? entry->changed > as_of : removed_at_[host] > as_of;
    if (!stale) seen_running(vm, host);
  }
  auto candidates = vms_by_host_.at(host);
  for (auto vm : candidates) {
    if (std::find(running.begin(), running.end(), vm) != running.end()) continue;
    const auto* entry = find(vm, host);
    if (entry != nullptr && entry->changed <= as_of) proven_absent(vm, host);
  }
}

void VmCopies::host_fenced(model::HostIndex host) {
  fenced_.at(host) = 1;
  removed_at_[host] = ++version_;
  auto vms = std::move(vms_by_host_[host]);
  vms_by_host_[host].clear();
  std::sort(vms.begin(), vms.end());
  vms.erase(std::unique(vms.begin(), vms.end()), vms.end());
  for (auto vm : vms) {
    auto& list = entries_[vm];
    auto before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(), [host](const Entry& e) { return e.host == host; }),
               list.end());
    if (list.size() != before) tell(vm);
  }
}

std::vector<model::VmIndex> VmCopies::vms_on(model::HostIndex host) const {
  std::vector<model::VmIndex> result;
  for (auto vm : vms_by_host_.at(host)) {
    if (may_run_on(vm, host) && std::find(result.begin(), result.end(), vm) == result.end()) {
      result.push_back(vm);
    }
  }
  std::sort(result.begin(), result.end());
  return result;
}

VmCopies::ListenerId VmCopies::add_listener(std::function<void(model::VmIndex)> listener) {
  listeners_.push_back(std::move(listener));
  return static_cast<ListenerId>(listeners_.size() - 1);
}

void VmCopies::remove_listener(ListenerId listener) {
  if (listener < listeners_.size()) listeners_[listener] = nullptr;
}

std::string VmCopies::describe(model::VmIndex vm, const model::Cloud& cloud) const {
  std::string text;
  for (const auto& entry : entries_.at(vm)) {
    if (!text.empty()) text += ", ";
    const char* why = entry.starting > 0       ? "start unanswered"
                      : entry.migrating_in > 0 ? "migration unanswered"
                      : entry.running          ? "running"
                                               : "outcome unknown";
    text += fmt::format("{} ({})", cloud.hosts[entry.host].name, why);
  }
  return text;
}

VmCopies::Entry* VmCopies::find(model::VmIndex vm, model::HostIndex host) {
  for (auto& entry : entries_.at(vm)) {
    if (entry.host == host) return &entry;
  }
  return nullptr;
}

const VmCopies::Entry* VmCopies::find(model::VmIndex vm, model::HostIndex host) const {
  for (const auto& entry : entries_.at(vm)) {
    if (entry.host == host) return &entry;
  }
  return nullptr;
}

VmCopies::Entry& VmCopies::get(model::VmIndex vm, model::HostIndex host) {
  if (auto* entry = find(vm, host)) {
    entry->changed = ++version_;
    return *entry;
  }
  fenced_.at(host) = 0;  // something may run there again
  Entry entry;
  entry.host = host;
  entry.changed = ++version_;
  entries_.at(vm).push_back(entry);
  vms_by_host_[host].push_back(vm);
  return entries_[vm].back();
}

void VmCopies::drop_if_empty(model::VmIndex vm, model::HostIndex host) {
  auto& list = entries_[vm];
  removed_at_[host] = version_ + 1;  // conservative: as if removed by the next change
  list.erase(std::remove_if(list.begin(), list.end(),
                            [host](const Entry& e) {
                              return e.host == host && !e.running && !e.unknown && e.starting == 0 &&
                                     e.migrating_in == 0;
                            }),
             list.end());
}

void VmCopies::tell(model::VmIndex vm) {
  for (const auto& listener : listeners_) {
    if (listener) listener(vm);
  }
}

}  // namespace revive::exec

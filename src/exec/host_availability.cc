#include "exec/host_availability.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_set>

#include "exec/vm_copies.h"

namespace revive::exec {

void HostAvailability::set(model::HostIndex host, Reason reason, bool on) {
  auto& reasons = reasons_.at(host);
  bool was_available = reasons == 0;
  auto bit = static_cast<std::uint8_t>(reason);
  reasons = static_cast<std::uint8_t>(on ? (reasons | bit) : (reasons & ~bit));
  // A fence proves the host off for one loss only: once the detector sees it up again, the proof is over.
  if (reason == Reason::not_up && !on) fenced_[host] = 0;
  bool is_available = reasons == 0;
  if (was_available != is_available) tell(host, is_available ? Change::available : Change::unavailable);
}

void HostAvailability::confirm_fenced(model::HostIndex host) {
  if (fenced_.at(host)) return;
  fenced_[host] = 1;
  tell(host, Change::fenced);
}

HostAvailability::ListenerId HostAvailability::add_listener(
    std::function<void(model::HostIndex, Change)> listener) {
  listeners_.push_back(std::move(listener));
  return static_cast<ListenerId>(listeners_.size() - 1);
}

void HostAvailability::remove_listener(ListenerId listener) {
  if (listener < listeners_.size()) listeners_[listener] = nullptr;
}

void HostAvailability::tell(model::HostIndex host, Change change) {
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i]) listeners_[i](host, change);
  }
}

HostAvailability::PlannerId HostAvailability::add_planner(Reservations reservations) {
  planners_.push_back(std::move(reservations));
  return static_cast<PlannerId>(planners_.size() - 1);
}

void HostAvailability::remove_planner(PlannerId planner) {
  if (planner < planners_.size()) planners_[planner] = nullptr;
}

void HostAvailability::for_each_reserved_by_others(
    PlannerId me, const std::function<void(model::VmIndex, model::HostIndex)>& each) const {
  for (PlannerId id = 0; id < planners_.size(); ++id) {
    if (id != me && planners_[id]) planners_[id](each);
  }
}

ReservedRoom::ReservedRoom(model::Cloud& view, const HostAvailability* availability,
                           HostAvailability::PlannerId me, const VmCopies* copies)
    : view_(view) {
  struct Room {
    std::uint64_t cpus = 0, memory_mib = 0;
  };
  std::map<model::HostIndex, Room> reserved;
  std::unordered_set<std::uint64_t> counted;  // vm << 32 | host
  auto hold = [&](model::VmIndex vm, model::HostIndex host) {
    if (vm >= view.vms.size() || host >= view.hosts.size() || view.vms[vm].host == host) return;
    if (!counted.insert(static_cast<std::uint64_t>(vm) << 32 | host).second) return;
    auto& room = reserved[host];
    room.cpus += view.vms[vm].cpus;
    room.memory_mib += view.vms[vm].memory_mib;
  };
  if (availability != nullptr) availability->for_each_reserved_by_others(me, hold);
  if (copies != nullptr) {
    for (model::VmIndex vm = 0; vm < copies->vm_count() && vm < view.vms.size(); ++vm) {
      const auto& entries = copies->entries(vm);
      if (entries.size() == 1 && entries.front().host == view.vms[vm].host) continue;  // the usual case
      for (const auto& entry : entries) hold(vm, entry.host);
    }
  }
  // Usable capacity is capacity x overcommit: lowering the capacity by ceil(reserved / overcommit) lowers the
  // usable one by at least the reserved room.
  auto before_overcommit = [](std::uint64_t amount, double overcommit) {
    return static_cast<std::uint64_t>(std::ceil(static_cast<double>(amount) / std::max(overcommit, 1e-9)));
  };
  for (const auto& [host, room] : reserved) {
    auto& spec = view.hosts[host];
    saved_.push_back({host, spec.cpus, spec.memory_mib});
    auto cpus = before_overcommit(room.cpus, view.policy.cpu_overcommit);
    auto memory = before_overcommit(room.memory_mib, view.policy.memory_overcommit);
    spec.cpus = cpus >= spec.cpus ? 0 : static_cast<std::uint32_t>(spec.cpus - cpus);
    spec.memory_mib = memory >= spec.memory_mib ? 0 : spec.memory_mib - memory;
  }
}

ReservedRoom::~ReservedRoom() {
  for (const auto& saved : saved_) {
    view_.hosts[saved.host].cpus = saved.cpus;
    view_.hosts[saved.host].memory_mib = saved.memory_mib;
  }
}

}  // namespace revive::exec

#include "exec/host_availability.h"

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

}  // namespace revive::exec

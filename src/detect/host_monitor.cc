#include "detect/host_monitor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace revive::detect {

namespace {
constexpr double kInfinity = std::numeric_limits<double>::infinity();
// Timers fire this much after a computed crossing so that the comparison `now >= crossing` holds.
constexpr double kTimerSlack_s = 1e-6;
}  // namespace

std::string_view to_string(Channel channel) {
  switch (channel) {
    case Channel::hypervisor:
      return "hypervisor";
    case Channel::agent:
      return "agent";
    case Channel::storage:
      return "storage";
  }
  return "agent";
}

std::optional<Channel> parse_channel(std::string_view text) {
  if (text == "hypervisor") return Channel::hypervisor;
  if (text == "agent") return Channel::agent;
  if (text == "storage") return Channel::storage;
  return std::nullopt;
}

std::string_view to_string(HostHealth health) {
  switch (health) {
    case HostHealth::up:
      return "up";
    case HostHealth::suspect:
      return "suspect";
    case HostHealth::failed:
      return "failed";
    case HostHealth::isolated:
      return "isolated";
    case HostHealth::fencing:
      return "fencing";
    case HostHealth::fenced:
      return "fenced";
    case HostHealth::recovering:
      return "recovering";
    case HostHealth::recovered:
      return "recovered";
  }
  return "up";
}

HostMonitor::HostMonitor(env::EventLoop& loop, env::Fencer& fencer, DetectorSettings settings)
    : loop_(loop),
      fencer_(fencer),
      settings_(settings),
      suspect_z_(z_of_phi(settings.suspect_phi)),
      fail_z_(z_of_phi(settings.fail_phi)) {}

HostMonitor::~HostMonitor() {
  *alive_ = false;
  for (auto& state : hosts_) {
    if (state.timer_pending) loop_.cancel(state.timer);
  }
}

HostMonitor::HostState& HostMonitor::host_state(model::HostIndex host) {
  if (host >= hosts_.size()) hosts_.resize(host + 1);
  return hosts_[host];
}

const HostMonitor::HostState* HostMonitor::find(model::HostIndex host) const {
  if (host >= hosts_.size() || !hosts_[host].monitored) return nullptr;
  return &hosts_[host];
}

namespace {
// A host in one of these states is lost (its loss episode runs); up and suspect are not.
bool lost_state(HostHealth health) {
  return health != HostHealth::up && health != HostHealth::suspect;
}
}  // namespace

bool HostMonitor::counts_as_suspect(HostHealth health) const {
  return health == HostHealth::suspect || health == HostHealth::failed || health == HostHealth::isolated;
}

void HostMonitor::add_host(model::HostIndex host, ChannelSet channels) {
  if (find(host)) remove_host(host);
  auto& state = host_state(host);
  double now = loop_.now_s();
  state = HostState{};
  state.monitored = true;
  state.channels = channels;
  state.since_s = now;
  for (int c = 0; c < kChannelCount; ++c) {
    auto channel = static_cast<Channel>(c);
    if (!channels.has(channel)) continue;
    state.channel[c].emplace(
        ChannelState{PhiAccrual(is_network(channel) ? settings_.network_phi : settings_.storage_phi), false,
                     0.0, now, now});
    state.channel[c]->detector.heartbeat(now);
  }
  ++monitored_count_;
  update_storm_guard();
  fencer_.host_recovered(host);  // watched afresh: no proof of an earlier loss carries over
  schedule_next_check(host);
}

void HostMonitor::remove_host(model::HostIndex host) {
  if (!find(host)) return;
  auto& state = hosts_[host];
  if (counts_as_suspect(state.health)) --suspect_count_;
  --monitored_count_;
  update_storm_guard();
  if (state.timer_pending) loop_.cancel(state.timer);
  state.timer_pending = false;
  state.monitored = false;
  ++state.fence_generation;
}

double HostMonitor::silent_time_of(const ChannelState& channel, double z) const {
  if (channel.lost) return channel.lost_at_s;
  return channel.detector.time_at_z(z);
}

void HostMonitor::heartbeat(model::HostIndex host, Channel channel) {
  if (!find(host)) return;
  auto& state = hosts_[host];
  auto& slot = state.channel[static_cast<int>(channel)];
  if (!slot) return;
  double now = loop_.now_s();
  // A heartbeat after an outage starts a fresh history: the outage is not a sample of the usual interval.
  if (slot->lost || now >= silent_time_of(*slot, fail_z_)) slot->detector.reset();
  slot->lost = false;
  slot->detector.heartbeat(now);
  slot->checked_s = now;
  if (state.health == HostHealth::fenced && now >= state.since_s + settings_.fenced_heartbeat_grace_s) {
    state.heard_after_fence = true;
  }
  evaluate(host);
  schedule_next_check(host);
}

void HostMonitor::lease_checked(model::HostIndex host) {
  if (!find(host)) return;
  auto& slot = hosts_[host].channel[static_cast<int>(Channel::storage)];
  if (slot) slot->checked_s = loop_.now_s();
}

void HostMonitor::channel_lost(model::HostIndex host, Channel channel) {
  if (!find(host)) return;
  auto& slot = hosts_[host].channel[static_cast<int>(channel)];
  if (!slot || slot->lost) return;
  slot->lost = true;
  slot->lost_at_s = loop_.now_s();
  evaluate(host);
  schedule_next_check(host);
}

std::vector<ChannelEvidence> HostMonitor::evidence(const HostState& state, double now) const {
  std::vector<ChannelEvidence> result;
  for (int c = 0; c < kChannelCount; ++c) {
    const auto& slot = state.channel[c];
    if (!slot) continue;
    ChannelEvidence item;
    item.channel = static_cast<Channel>(c);
    item.lost = slot->lost;
    item.phi = slot->lost ? PhiAccrual::kMaxPhi : slot->detector.phi(now);
    double last = slot->detector.last_heartbeat_s().value_or(slot->since_s);
    item.silent_s = std::max(0.0, now - last);
    result.push_back(item);
  }
  return result;
}

void HostMonitor::evaluate(model::HostIndex host) {
  auto& state = hosts_[host];
  double now = loop_.now_s();

  bool any_network = false;
  bool network_silent = true;
  double network_silent_since = -kInfinity;
  bool any_suspect = false;
  for (int c = 0; c < kChannelCount; ++c) {
    const auto& slot = state.channel[c];
    if (!slot) continue;
    if (now >= silent_time_of(*slot, suspect_z_)) any_suspect = true;
    if (!is_network(static_cast<Channel>(c))) continue;
    any_network = true;
    double fail_at = silent_time_of(*slot, fail_z_);
    if (now < fail_at) {
      network_silent = false;
    } else {
      network_silent_since = std::max(network_silent_since, fail_at);
    }
  }
  network_silent = network_silent && any_network;

  const auto& storage = state.channel[static_cast<int>(Channel::storage)];
  bool has_storage = storage.has_value();
  bool storage_silent = has_storage && now >= silent_time_of(*storage, fail_z_);
  double storage_last = has_storage ? storage->detector.last_heartbeat_s().value_or(storage->since_s) : 0.0;
  // The host renewed its lease after its network went silent: it is alive, only cut off.
  bool proof_of_life = has_storage && network_silent && !storage->lost && storage_last > network_silent_since;
  bool lease_expired = has_storage && (storage->lost || now - storage_last >= settings_.lease_ttl_s);

  auto settle_alive = [&](std::string_view why) {
    HostHealth target = any_suspect ? HostHealth::suspect : HostHealth::up;
    if (state.health != target) set_health(host, target, std::string(why));
  };

  switch (state.health) {
    case HostHealth::up:
    case HostHealth::suspect:
      if (network_silent) {
        if (!has_storage) {
          set_health(host, HostHealth::failed, "every channel silent");
        } else if (proof_of_life) {
          set_health(host, HostHealth::isolated,
                     fmt::format("network channels silent, storage lease renewed {:.2f} s after the network "
                                 "went silent: alive but cut off",
                                 storage_last - network_silent_since));
        } else if (storage_silent) {
          set_health(host, HostHealth::failed,
                     "every channel silent (network and storage lease), no sign of life since the network "
                     "went silent");
        } else if (state.health != HostHealth::suspect) {
          set_health(host, HostHealth::suspect, "network channels silent, waiting on the storage heartbeat");
        }
      } else {
        settle_alive(any_suspect ? "channel late" : "heartbeats on time again");
      }
      if (state.health == HostHealth::failed ||
          (state.health == HostHealth::isolated && settings_.fence_isolated)) {
        try_fence(host);
      }
      break;
    case HostHealth::isolated:
      if (!network_silent) {
        settle_alive("network heartbeats resumed");
      } else if (storage_silent && lease_expired) {
        set_health(host, HostHealth::failed,
                   fmt::format("storage lease expired while isolated (silent {:.2f} s >= lease ttl {:.2f} s)",
                               now - storage_last, settings_.lease_ttl_s));
        if (state.health == HostHealth::failed) try_fence(host);
      } else if (settings_.fence_isolated) {
        try_fence(host);
      }
      break;
    case HostHealth::failed:
      if (!network_silent) {
        settle_alive("heartbeats resumed before any fence");
      } else if (proof_of_life) {
        set_health(host, HostHealth::isolated, "storage lease renewed again: alive but cut off");
      } else {
        try_fence(host);
      }
      break;
    case HostHealth::recovered:
      if (!any_suspect && !network_silent)
        set_health(host, HostHealth::up, "rejoined: every channel on time");
      break;
    case HostHealth::fenced:
      if (state.heard_after_fence) {
        settle_alive(
            "heard again after the fence, before recovery started: the host is back and its fence "
            "proves nothing now");
      }
      break;
    case HostHealth::fencing:
    case HostHealth::recovering:
      break;
  }
}

std::string HostMonitor::blocking_reason() {
  if (!armed_) return "disarmed: no fence starts until `revive arm`";
  double now = loop_.now_s();
  if (storm_over_share_) {
    return fmt::format(
        "storm guard: {} of {} hosts suspect at once (more than {:g}%): the controller may be the one cut "
        "off",
        suspect_count_, monitored_count_, settings_.max_suspect_share * 100.0);
  }
  if (storm_guard_active()) {
    return fmt::format("storm guard settling: {:.1f} s more for heartbeats to show who is alive",
                       storm_released_at_s_ + settings_.storm_settle_s - now);
  }
  while (!fence_starts_.empty() && fence_starts_.front() <= now - settings_.fence_rate_window_s) {
    fence_starts_.pop_front();
  }
  if (fence_starts_.size() >= settings_.fence_rate_limit) {
    return fmt::format("fence rate limit: {} fences started in the last {:g} s", fence_starts_.size(),
                       settings_.fence_rate_window_s);
  }
  return {};
}

void HostMonitor::update_storm_guard() {
  bool over = suspect_count_ >= settings_.storm_min_hosts &&
              static_cast<double>(suspect_count_) >
                  settings_.max_suspect_share * static_cast<double>(monitored_count_);
  if (storm_over_share_ && !over) storm_released_at_s_ = loop_.now_s();
  storm_over_share_ = over;
}

bool HostMonitor::storm_guard_active() const {
  return storm_over_share_ || loop_.now_s() < storm_released_at_s_ + settings_.storm_settle_s;
}

void HostMonitor::try_fence(model::HostIndex host) {
  auto& state = hosts_[host];
  double now = loop_.now_s();
  if (state.fence_permanently_failed) {
    state.blocked_reason = "fencing failed for good (" + state.last_fence_error +
                           "): fix the fence configuration or confirm with `revive host confirm-down`";
    return;
  }
  if (now < state.fence_retry_at_s) {
    schedule_check(host, state.fence_retry_at_s);
    return;
  }
  std::string reason = blocking_reason();
  if (!reason.empty()) {
    if (reason != state.blocked_reason) {
      state.blocked_reason = reason;
      HostEvent event;
      event.kind = HostEvent::Kind::fence_blocked;
      event.at_s = now;
      event.host = host;
      event.from = event.to = state.health;
      event.reason = reason;
      event.channels = evidence(state, now);
      publish(std::move(event));
    }
    double recheck = now + settings_.blocked_recheck_s;
    if (armed_ && fence_starts_.size() >= settings_.fence_rate_limit && !fence_starts_.empty()) {
      recheck = std::max(now, fence_starts_.front() + settings_.fence_rate_window_s);
    }
    schedule_check(host, recheck);
    return;
  }
  state.blocked_reason.clear();
  fence_starts_.push_back(now);
  ++state.fence_attempts;
  std::uint64_t generation = ++state.fence_generation;
  set_health(host, HostHealth::fencing, fmt::format("fencing started (attempt {})", state.fence_attempts));
  std::weak_ptr<bool> alive = alive_;
  fencer_.fence(host, [this, alive, host, generation](const env::OperationResult& result) {
    auto token = alive.lock();
    if (!token || !*token) return;
    on_fence_done(host, generation, result);
  });
}

void HostMonitor::on_fence_done(model::HostIndex host, std::uint64_t generation,
                                const env::OperationResult& result) {
  if (!find(host)) return;
  auto& state = hosts_[host];
  if (state.fence_generation != generation || state.health != HostHealth::fencing) return;
  if (result.ok) {
    state.last_fence_error.clear();
    set_health(host, HostHealth::fenced, "fence confirmed: the host cannot run its VMs");
    return;
  }
  double now = loop_.now_s();
  state.last_fence_error = result.error;
  state.fence_error_permanent = result.permanent;
  if (result.permanent) {
    state.fence_permanently_failed = true;
  } else {
    double backoff = settings_.fence_retry_s * std::pow(2.0, std::min<double>(state.fence_attempts - 1, 30));
    state.fence_retry_at_s = now + std::min(backoff, settings_.fence_retry_max_s);
  }
  HostEvent event;
  event.kind = HostEvent::Kind::fence_failed;
  event.at_s = now;
  event.host = host;
  event.from = event.to = HostHealth::fencing;
  event.reason = fmt::format("fence failed{}: {}", result.permanent ? " for good" : "", result.error);
  event.channels = evidence(state, now);
  publish(std::move(event));
  set_health(host, HostHealth::failed,
             result.permanent ? "fence failed for good: no recovery without a fence"
                              : fmt::format("fence failed, retry in {:.1f} s", state.fence_retry_at_s - now));
  if (find(host) && hosts_[host].health == HostHealth::failed) {
    evaluate(host);
    schedule_next_check(host);
  }
}

void HostMonitor::set_health(model::HostIndex host, HostHealth to, std::string reason) {
  auto& state = hosts_[host];
  HostHealth from = state.health;
  if (from == to) return;
  bool was = counts_as_suspect(from);
  bool is = counts_as_suspect(to);
  if (was && !is) --suspect_count_;
  if (!was && is) ++suspect_count_;
  if (was != is) update_storm_guard();
  double now = loop_.now_s();
  state.health = to;
  state.since_s = now;
  state.heard_after_fence = false;
  if (to != HostHealth::failed && to != HostHealth::isolated) state.blocked_reason.clear();
  // The loss episode ends: the fencer drops every proof it holds for this loss.
  if (lost_state(from) && !lost_state(to)) fencer_.host_recovered(host);
  if (to == HostHealth::up) {
    state.fence_attempts = 0;
    state.fence_retry_at_s = 0.0;
    state.fence_permanently_failed = false;
  }
  HostEvent event;
  event.at_s = now;
  event.host = host;
  event.from = from;
  event.to = to;
  event.reason = std::move(reason);
  event.channels = evidence(state, now);
  publish(std::move(event));
}

void HostMonitor::publish(HostEvent event) {
  for (std::size_t i = 0; i < handlers_.size(); ++i) handlers_[i](event);
}

void HostMonitor::subscribe(std::function<void(const HostEvent&)> handler) {
  handlers_.push_back(std::move(handler));
}

void HostMonitor::schedule_check(model::HostIndex host, double at_s) {
  auto& state = hosts_[host];
  double now = loop_.now_s();
  if (!std::isfinite(at_s)) return;
  at_s = std::max(at_s, now);
  // An earlier pending check re-plans everything when it runs, so it can stay.
  if (state.timer_pending && state.timer_at_s <= at_s + kTimerSlack_s) return;
  if (state.timer_pending) loop_.cancel(state.timer);
  state.timer_pending = true;
  state.timer_at_s = at_s + kTimerSlack_s;
  std::weak_ptr<bool> alive = alive_;
  state.timer = loop_.schedule_after(state.timer_at_s - now, [this, alive, host] {
    auto token = alive.lock();
    if (!token || !*token) return;
    if (!find(host)) return;
    hosts_[host].timer_pending = false;
    evaluate(host);
    if (find(host)) schedule_next_check(host);
  });
}

void HostMonitor::schedule_next_check(model::HostIndex host) {
  if (!find(host)) return;
  auto& state = hosts_[host];
  double now = loop_.now_s();
  double next = kInfinity;
  auto consider = [&](double at) {
    if (at > now && at < next) next = at;
  };
  for (int c = 0; c < kChannelCount; ++c) {
    const auto& slot = state.channel[c];
    if (!slot || slot->lost) continue;
    consider(silent_time_of(*slot, suspect_z_));
    consider(silent_time_of(*slot, fail_z_));
    if (static_cast<Channel>(c) == Channel::storage) {
      consider(slot->detector.last_heartbeat_s().value_or(slot->since_s) + settings_.lease_ttl_s);
    }
  }
  if (state.health == HostHealth::failed || state.health == HostHealth::isolated)
    consider(state.fence_retry_at_s);
  schedule_check(host, next);
}

void HostMonitor::arm() {
  armed_ = true;
  for (model::HostIndex host = 0; host < hosts_.size(); ++host) {
    if (find(host) && hosts_[host].health == HostHealth::failed) schedule_check(host, loop_.now_s());
  }
}

void HostMonitor::disarm() {
  armed_ = false;
}

bool HostMonitor::confirm_down(model::HostIndex host, std::string_view who) {
  if (!find(host)) return false;
  auto& state = hosts_[host];
  if (state.health == HostHealth::fenced || state.health == HostHealth::recovering ||
      state.health == HostHealth::recovered) {
    return true;
  }
  // Failed or fencing: declared lost. Up, suspect: not lost. Isolated: its lease still renews, so it runs
  // (if it really is off, its lease expires and it becomes failed, and the operator confirms then).
  if (state.health != HostHealth::failed && state.health != HostHealth::fencing) {
    double now = loop_.now_s();
    HostEvent event;
    event.kind = HostEvent::Kind::confirmation_refused;
    event.at_s = now;
    event.host = host;
    event.from = event.to = state.health;
    event.reason = fmt::format(
        "operator confirmation ({}) refused: the host is {}, not declared failed; a confirmation counts only "
        "for the current loss of a host: confirm again once it is failed",
        who.empty() ? "unnamed" : who, to_string(state.health));
    event.channels = evidence(state, now);
    publish(std::move(event));
    return false;
  }
  ++state.fence_generation;
  state.fence_permanently_failed = false;
  state.blocked_reason.clear();
  set_health(host, HostHealth::fenced,
             fmt::format("operator confirmed the host is down ({})", who.empty() ? "unnamed" : who));
  return true;
}

bool HostMonitor::recovery_started(model::HostIndex host) {
  if (!find(host) || hosts_[host].health != HostHealth::fenced) return false;
  set_health(host, HostHealth::recovering, "recovery started");
  return true;
}

void HostMonitor::recovery_finished(model::HostIndex host) {
  if (!find(host) || hosts_[host].health != HostHealth::recovering) return;
  set_health(host, HostHealth::recovered, "recovery finished");
  evaluate(host);
  schedule_next_check(host);
}

HostHealth HostMonitor::health(model::HostIndex host) const {
  const auto* state = find(host);
  return state ? state->health : HostHealth::up;
}

bool HostMonitor::monitored(model::HostIndex host) const {
  return find(host) != nullptr;
}

DetectorStatus HostMonitor::status() const {
  DetectorStatus status;
  double now = loop_.now_s();
  status.armed = armed_;
  status.suspect_hosts = suspect_count_;
  status.monitored_hosts = monitored_count_;
  status.max_suspect_share = settings_.max_suspect_share;
  status.storm_guard_active = storm_guard_active();
  status.fences_in_window =
      static_cast<std::size_t>(std::count_if(fence_starts_.begin(), fence_starts_.end(), [&](double at) {
        return at > now - settings_.fence_rate_window_s;
      }));
  status.fence_rate_limit = settings_.fence_rate_limit;
  status.fence_rate_window_s = settings_.fence_rate_window_s;
  for (model::HostIndex host = 0; host < hosts_.size(); ++host) {
    const auto* state = find(host);
    if (!state) continue;
    HostStatus item;
    item.host = host;
    item.health = state->health;
    item.since_s = state->since_s;
    item.channels = evidence(*state, now);
    item.blocked_reason = state->blocked_reason;
    item.last_fence_error = state->last_fence_error;
    item.fence_error_permanent = state->fence_error_permanent;
    item.fence_attempts = state->fence_attempts;
    status.hosts.push_back(std::move(item));
  }
  return status;
}

std::optional<double> HostMonitor::last_lease_renewal_s(model::HostIndex host) const {
  const auto* state = find(host);
  if (!state) return std::nullopt;
  const auto& slot = state->channel[static_cast<int>(Channel::storage)];
  if (!slot) return std::nullopt;
  return slot->detector.last_heartbeat_s().value_or(slot->since_s);
}

std::optional<double> HostMonitor::last_lease_check_s(model::HostIndex host) const {
  const auto* state = find(host);
  if (!state) return std::nullopt;
  const auto& slot = state->channel[static_cast<int>(Channel::storage)];
  if (!slot) return std::nullopt;
  return slot->checked_s;
}

std::optional<double> HostMonitor::self_fence_within_s(model::HostIndex host) const {
  const auto* state = find(host);
  if (!state) return std::nullopt;
  return state->self_fence_within_s;
}

void HostMonitor::lease_self_fence(model::HostIndex host, const SelfFence& declared) {
  if (!find(host)) return;
  auto& state = hosts_[host];
  if (declared.working()) {
    state.self_fence_within_s = static_cast<double>(declared.within_ms) / 1000.0;
  } else {
    state.self_fence_within_s.reset();
  }
}

std::optional<double> HostMonitor::last_agent_contact_s(model::HostIndex host) const {
  const auto* state = find(host);
  if (!state) return std::nullopt;
  const auto& slot = state->channel[static_cast<int>(Channel::agent)];
  if (!slot) return std::nullopt;
  return slot->detector.last_heartbeat_s().value_or(slot->since_s);
}

}  // namespace revive::detect

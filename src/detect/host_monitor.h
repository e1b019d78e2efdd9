// HostMonitor: failure detection and the per-host state machine that decides when a host is dead, when it is
// only cut off, and when it may be fenced. It runs unchanged in the simulator and in the daemon.
//
// Channels (independent evidence that a host is alive), each watched by its own phi-accrual detector:
//   hypervisor — the hypervisor connection's liveness (libvirt keepalive; a closed connection is explicit
//   loss), agent      — the host agent's signed UDP heartbeats, storage    — the agent's storage lease
//   renewals (a lease file on shared storage or a store record).
// hypervisor and agent are network channels; storage travels a separate path.
//
// States: up → suspect → failed | isolated → fencing → fenced → recovering → recovered (and back to up when a
// suspect/failed/isolated host's heartbeats resume, or a recovered host rejoins).
//   suspect   some channel's phi >= suspect_phi.
//   failed    every network channel's phi >= fail_phi AND the storage channel too, with no storage heartbeat
//             since the network went silent (a crash silences all channels at once).
//   isolated  every network channel silent but the storage heartbeat renewed after the network went silent:
//             the host is alive and cut off. Never fenced unless `fence_isolated`; becomes failed only when
//             its lease then expires (storage silent for lease_ttl_s).
//   fencing   the Fencer is at work (never started while disarmed, while the storm guard holds, or beyond the
//             fence rate limit; the host then stays failed with the reason in status()).
//   fenced    the Fencer confirmed (or an operator confirmed) that the host cannot run its VMs: only now may
//             recovery start (recovery_started() refuses otherwise). The proof belongs to this loss of the
//             host: a heartbeat (any channel) received more than fenced_heartbeat_grace_s after the fence was
//             confirmed and before recovery started means the host is back, and it leaves fenced (to up or
//             suspect) with the proof void: a later loss needs a fresh fence.
// Loss episodes: a host is lost from the moment it leaves up/suspect (failed, isolated, fencing, fenced,
// recovering, recovered) until it is up or suspect again. When an episode ends, and when add_host starts
// watching a host afresh, the monitor calls env::Fencer::host_recovered(host) on its fencer, so that no proof
// cached by a fence level (an operator's confirmation) outlives the loss it was given for.
// Every transition is published as a HostEvent with its evidence (each channel's phi and silence).
//
// Storm guard: when more than max_suspect_share of the monitored hosts are suspect/failed/isolated at once
// (and at least storm_min_hosts of them), the likeliest explanation is that the controller is the one cut
// off: no fence starts until the share drops.
//
// Time: only through the EventLoop (now_s, schedule_after); no threads, no sleeps. Thread-safety: engine
// thread only (heartbeats from receivers reach it through EventLoop::post). The monitor must outlive no
// callback: pending timers are cancelled by the destructor and fence completions after it are ignored.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/heartbeat_protocol.h"
#include "detect/phi_accrual.h"
#include "env/event_loop.h"
#include "env/fencer.h"
#include "fence/liveness.h"
#include "model/cloud.h"

namespace revive::detect {

enum class Channel : std::uint8_t { hypervisor = 0, agent = 1, storage = 2 };
inline constexpr int kChannelCount = 3;
std::string_view to_string(Channel channel);
std::optional<Channel> parse_channel(std::string_view text);
inline bool is_network(Channel channel) {
  return channel != Channel::storage;
}

// A set of channels as a bit mask.
struct ChannelSet {
  std::uint8_t bits = 0;
  static ChannelSet all() { return {0b111}; }
  static ChannelSet of(std::initializer_list<Channel> channels) {
    ChannelSet set;
    for (auto channel : channels) set.bits |= static_cast<std::uint8_t>(1u << static_cast<int>(channel));
    return set;
  }
  bool has(Channel channel) const { return (bits >> static_cast<int>(channel)) & 1u; }
};

enum class HostHealth : std::uint8_t {
  up,
  suspect,
  failed,
  isolated,
  fencing,
  fenced,
  recovering,
  recovered
};
std::string_view to_string(HostHealth health);

struct DetectorSettings {
  PhiSettings network_phi{.expected_interval_s = 1.0, .acceptable_pause_s = 1.0, .min_std_dev_s = 0.1};
  PhiSettings storage_phi{.expected_interval_s = 1.0, .acceptable_pause_s = 3.0, .min_std_dev_s = 0.1};
  double suspect_phi = 5.0;
  double fail_phi = 8.0;
  // An isolated host becomes failed only once its storage heartbeat has been silent this long (its lease
  // expired): the agent renews it every ~1 s.
  double lease_ttl_s = 10.0;
  bool fence_isolated = false;  // fence isolated hosts too (default: leave them to their isolation response)
  // Storm guard: no fence while more than this share of monitored hosts is suspect/failed/isolated (and at
  // least storm_min_hosts are).
  double max_suspect_share = 0.5;
  std::uint32_t storm_min_hosts = 2;
  // After the share drops back, the guard holds this much longer so that the hosts' heartbeats (the storage
  // lease's above all) can show which of them are alive before any is fenced.
  double storm_settle_s = 5.0;
  // Fence rate limit: at most fence_rate_limit fences started in any fence_rate_window_s.
  std::uint32_t fence_rate_limit = 20;
  double fence_rate_window_s = 60.0;
  // After a failed fence (not permanent), retry after fence_retry_s, doubling up to fence_retry_max_s.
  double fence_retry_s = 2.0;
  double fence_retry_max_s = 60.0;
  // While a fence is blocked (disarmed, storm guard), re-check this often.
  double blocked_recheck_s = 1.0;
  // A heartbeat received this soon after a fence was confirmed may have been sent before it (in flight, or a
  // lease record written before the power-off and read after) and does not void the fence; a later one
  // does. At least the worst message delay plus the lease poll interval.
  double fenced_heartbeat_grace_s = 1.0;
};

struct ChannelEvidence {
  Channel channel = Channel::agent;
  double phi = 0.0;
  double silent_s = 0.0;  // since the last heartbeat (or since the host was added when none arrived yet)
  bool lost = false;      // explicitly lost (connection closed)
};

struct HostEvent {
  // confirmation_refused: an operator's confirm_down for a host that is not lost (up or suspect), ignored.
  enum class Kind : std::uint8_t { transition, fence_blocked, fence_failed, confirmation_refused };
  Kind kind = Kind::transition;
  double at_s = 0.0;
  model::HostIndex host = model::kNoIndex;
  HostHealth from = HostHealth::up;
  HostHealth to = HostHealth::up;
  std::string reason;
  std::vector<ChannelEvidence> channels;  // the host's configured channels at that moment
};

struct HostStatus {
  model::HostIndex host = model::kNoIndex;
  HostHealth health = HostHealth::up;
  double since_s = 0.0;
  std::vector<ChannelEvidence> channels;
  std::string blocked_reason;    // why a failed host is not being fenced, empty otherwise
  std::string last_fence_error;  // from the last failed fence attempt
  bool fence_error_permanent = false;
  std::uint32_t fence_attempts = 0;
};

struct DetectorStatus {
  bool armed = true;
  bool storm_guard_active = false;
  std::size_t suspect_hosts = 0;  // suspect + failed + isolated
  std::size_t monitored_hosts = 0;
  double max_suspect_share = 0.0;
  std::size_t fences_in_window = 0;
  std::uint32_t fence_rate_limit = 0;
  double fence_rate_window_s = 0.0;
  std::vector<HostStatus> hosts;  // monitored hosts, by index
};

class HostMonitor final : public fence::Liveness {
 public:
  HostMonitor(env::EventLoop& loop, env::Fencer& fencer, DetectorSettings settings = {});
  ~HostMonitor() override;
  HostMonitor(const HostMonitor&) = delete;
  HostMonitor& operator=(const HostMonitor&) = delete;

  // Starts watching `host` on `channels` (at least one network channel). The host counts as having sent a
  // heartbeat on each channel now, so a host that never speaks is declared failed like one that stops.
  void add_host(model::HostIndex host, ChannelSet channels);
  // Stops watching (maintenance, removal). Pending fence results for it are ignored.
  void remove_host(model::HostIndex host);

  void heartbeat(model::HostIndex host, Channel channel);
  // The controller read the host's storage lease successfully (renewed or not). A renewal is a
  // heartbeat(host, Channel::storage), which counts as a read too. The lease fencer trusts an unchanged lease
  // only when read after its deadline.
  void lease_checked(model::HostIndex host);
  // The channel is known dead now (e.g. the hypervisor connection closed); a heartbeat revives it.
  void channel_lost(model::HostIndex host, Channel channel);

  void arm();
  void disarm();
  bool armed() const { return armed_; }

  // An operator's word that `host` is off. It counts only for the current loss of the host: when the host
  // is failed or fencing it becomes fenced at once (a fence in flight is disregarded) and true is returned.
  // Already fenced, recovering or recovered: nothing changes, true (the loss is already proven). Up,
  // suspect, isolated (its lease still renews: it runs), or not monitored: refused (false, and a
  // confirmation_refused event): it is not kept for a later loss; the operator confirms again once the host
  // is declared failed.
  bool confirm_down(model::HostIndex host, std::string_view who);

  // The consumer (executor) reports recovery progress. recovery_started returns false, and changes nothing,
  // unless the host is fenced: no restart without a confirmed fence.
  bool recovery_started(model::HostIndex host);
  void recovery_finished(model::HostIndex host);

  // Handlers run on the loop, in subscription order, for every event.
  void subscribe(std::function<void(const HostEvent&)> handler);

  HostHealth health(model::HostIndex host) const;
  bool monitored(model::HostIndex host) const;
  DetectorStatus status() const;
  const DetectorSettings& settings() const { return settings_; }

  // fence::Liveness: last heartbeat times, for the lease fencer.
  std::optional<double> last_lease_renewal_s(model::HostIndex host) const override;
  std::optional<double> last_agent_contact_s(model::HostIndex host) const override;
  std::optional<double> last_lease_check_s(model::HostIndex host) const override;
  std::optional<double> self_fence_within_s(model::HostIndex host) const override;
  // What the host's last lease record read declares of its agent's self-fence (LeaseWatcher's
  // on_self_fence). Until the first call (and after add_host) the host counts as declaring none.
  void lease_self_fence(model::HostIndex host, const SelfFence& declared);

 private:
  struct ChannelState {
    PhiAccrual detector;
    bool lost = false;
    double lost_at_s = 0.0;
    double since_s = 0.0;    // when the channel started being watched
    double checked_s = 0.0;  // storage: the last successful read of the lease
  };
  struct HostState {
    bool monitored = false;
    ChannelSet channels;
    std::array<std::optional<ChannelState>, kChannelCount> channel;
    HostHealth health = HostHealth::up;
    double since_s = 0.0;
    env::TimerId timer = 0;
    bool timer_pending = false;
    double timer_at_s = 0.0;
    std::uint64_t fence_generation = 0;
    std::uint32_t fence_attempts = 0;
    double fence_retry_at_s = 0.0;
    bool fence_permanently_failed = false;
    bool fence_error_permanent = false;
    std::string last_fence_error;
    std::string blocked_reason;
    std::optional<double> self_fence_within_s;  // from the last lease record
    bool heard_after_fence = false;             // fenced, then a heartbeat after the grace: the host is back
  };

  HostState& host_state(model::HostIndex host);
  const HostState* find(model::HostIndex host) const;
  double silent_time_of(const ChannelState& channel, double z) const;
  std::vector<ChannelEvidence> evidence(const HostState& state, double now) const;
  void evaluate(model::HostIndex host);
  void try_fence(model::HostIndex host);
  void on_fence_done(model::HostIndex host, std::uint64_t generation, const env::OperationResult& result);
  void set_health(model::HostIndex host, HostHealth to, std::string reason);
  void publish(HostEvent event);
  void schedule_check(model::HostIndex host, double at_s);
  void schedule_next_check(model::HostIndex host);
  std::string blocking_reason();
  void update_storm_guard();
  bool storm_guard_active() const;
  bool counts_as_suspect(HostHealth health) const;

  env::EventLoop& loop_;
  env::Fencer& fencer_;
  DetectorSettings settings_;
  double suspect_z_;
  double fail_z_;
  bool armed_ = true;
  std::vector<HostState> hosts_;
  std::size_t monitored_count_ = 0;
  std::size_t suspect_count_ = 0;
  bool storm_over_share_ = false;
  double storm_released_at_s_ = -1e300;
  std::deque<double> fence_starts_;  // start times within the rate window
  std::vector<std::function<void(const HostEvent&)>> handlers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace revive::detect

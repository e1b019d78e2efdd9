// Controller-side inputs of the detector from real hosts:
//   HeartbeatReceiver — a UDP socket receiving the agents' signed heartbeats (heartbeat_protocol.h): verifies
//     signature, host, replay (epoch, sequence) and clock skew, answers each accepted one with a signed ack
//     (the agent counts the controller lost without acks), and posts on_heartbeat(host) to the EventLoop.
//   LeaseWatcher — reads every host's lease file (DIRECTORY/HOST.lease, written by the agent; or the records
//     of a LeaseReader such as the state store's leases) each poll_s:
//     posts on_read(host) for each successful read of the directory, on_renewal(host) when the record's
//     (epoch, sequence) changed since the previous read (a storage heartbeat), and, when given,
//     on_self_fence(host, declared) for every validly signed record read (the first one included): what it
//     declares of the agent's self-fence (heartbeat_protocol.h; HostMonitor::lease_self_fence takes it). Wire
//     it: without it the controller never learns that a host can self-fence, and its lease level proves
//     nothing.
// Both run one thread of their own (blocking I/O never touches the engine thread); callbacks run on the loop
// and stop being delivered once stop() returns (call stop() on the engine thread). start() throws
// std::runtime_error when the socket cannot be bound. Counters are readable from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detect/heartbeat_protocol.h"
#include "env/event_loop.h"
#include "model/cloud.h"

namespace revive::detect {

using HostNames = std::unordered_map<std::string, model::HostIndex>;

struct ReceiverOptions {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 7610;  // 0: any free port (see port())
  std::string key;
  double max_skew_s = 30.0;
};

struct ReceiverCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> bad_signature{0};
  std::atomic<std::uint64_t> replayed{0};
  std::atomic<std::uint64_t> clock_skew{0};
  std::atomic<std::uint64_t> unknown_host{0};
};

class HeartbeatReceiver {
 public:
  HeartbeatReceiver(env::EventLoop& loop, ReceiverOptions options, HostNames hosts,
                    std::function<void(model::HostIndex)> on_heartbeat);
  ~HeartbeatReceiver();
  HeartbeatReceiver(const HeartbeatReceiver&) = delete;
  HeartbeatReceiver& operator=(const HeartbeatReceiver&) = delete;

  void start();
  void stop();
  std::uint16_t port() const { return bound_port_; }
  const ReceiverCounters& counters() const { return counters_; }

 private:
  void run();
  struct Delivery {
    std::atomic<bool> open{true};
    std::function<void(model::HostIndex)> handler;
  };

  env::EventLoop& loop_;
  ReceiverOptions options_;
  HostNames hosts_;
  std::shared_ptr<Delivery> delivery_;
  int socket_ = -1;
  std::uint16_t bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  ReceiverCounters counters_;
};

// Every host's lease record as (host, record line); nullopt when the leases cannot be read at all.
using LeaseRecords = std::vector<std::pair<std::string, std::string>>;
using LeaseReader = std::function<std::optional<LeaseRecords>()>;

struct LeaseWatcherOptions {
  std::string directory;  // lease files DIRECTORY/HOST.lease ...
  LeaseReader reader;  // ... or, when set, this (e.g. the state store's leases); called on the watcher thread
  std::string key;
  double poll_s = 0.5;
};

class LeaseWatcher {
 public:
  LeaseWatcher(env::EventLoop& loop, LeaseWatcherOptions options, HostNames hosts,
               std::function<void(model::HostIndex)> on_read,
               std::function<void(model::HostIndex)> on_renewal,
               std::function<void(model::HostIndex, const SelfFence&)> on_self_fence = {});
  ~LeaseWatcher();
  LeaseWatcher(const LeaseWatcher&) = delete;
  LeaseWatcher& operator=(const LeaseWatcher&) = delete;

  void start();
  void stop();
  std::uint64_t bad_records() const { return bad_records_; }

 private:
  void run();
  struct Delivery {
    std::atomic<bool> open{true};
    std::function<void(model::HostIndex)> on_read;
    std::function<void(model::HostIndex)> on_renewal;
    std::function<void(model::HostIndex, const SelfFence&)> on_self_fence;
  };

  env::EventLoop& loop_;
  LeaseWatcherOptions options_;
  HostNames hosts_;
  std::shared_ptr<Delivery> delivery_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<std::uint64_t> bad_records_{0};
};

// Agent side: writes the lease record atomically (temporary file, fsync, rename) as DIRECTORY/HOST.lease.
// Returns false (and leaves the old record) when the directory cannot be written.
bool write_lease(const std::string& directory, const std::string& host, const std::string& record);

}  // namespace revive::detect

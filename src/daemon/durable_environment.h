// The daemon's side of "persist intent before acting": the engine journals its intent, then calls a driver;
// these adapters hold every side effect (start, stop, migrate, map, unmap, network configuration, fence)
// until the journal's records up to that moment are durable, on a thread of their own (the engine thread
// never waits for the disk), then hand the call to the real driver on the engine loop, in call order. Reads
// (list_running, power_status) go straight through.
//
// ControllerJournal: the controller's view of the SQLite journal. The daemon writes a checkpoint (what the
// inventory looks like) when nothing is in flight and compacts the journal up to it, so the controller only
// reads the records after the last checkpoint; every record appended is also shown to an observer (the
// daemon's operations and events follow the engine through it).
//
// GatedHypervisor also fans hypervisor events out to subscribers it can drop all at once (the controller is
// rebuilt when the inventory changes) and passes on only events of VMs the current controller knows.
// Thread-safety: engine thread only, but the gate's own thread. A journal failure (disk full) is fatal: the
// gate calls on_failure on the loop and passes nothing more on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "env/event_loop.h"
#include "env/fencer.h"
#include "env/hypervisor.h"
#include "env/journal.h"
#include "env/storage.h"
#include "store/sqlite_journal.h"

namespace revive::daemon {

class ControllerJournal final : public env::Journal {
 public:
  explicit ControllerJournal(store::SqliteJournal& durable);
  std::uint64_t append(const env::JournalRecord& record) override;
  void wait_durable(std::uint64_t sequence) override { durable_.wait_durable(sequence); }
  std::uint64_t last_appended() const override { return durable_.last_appended(); }
  // The records after the last checkpoint.
  std::vector<env::JournalRecord> read_all() const override;

  // Appends a checkpoint with `payload` and drops every record before it.
  void checkpoint(const std::string& payload);
  // The payload of the last checkpoint, if any.
  std::optional<std::string> last_checkpoint() const;
  // Records appended since the last checkpoint (as read at open, plus those appended since).
  std::uint64_t records_since_checkpoint() const { return since_checkpoint_; }
  void set_observer(std::function<void(const env::JournalRecord&, std::uint64_t)> observer) {
    observer_ = std::move(observer);
  }

 private:
  store::SqliteJournal& durable_;
  std::function<void(const env::JournalRecord&, std::uint64_t)> observer_;
  std::uint64_t since_checkpoint_ = 0;
};

// Runs callbacks on the loop once the journal is durable up to the moment they were queued.
class DurabilityGate {
 public:
  DurabilityGate(env::EventLoop& loop, env::Journal& journal, std::function<void(std::string)> on_failure);
  ~DurabilityGate();
  DurabilityGate(const DurabilityGate&) = delete;
  DurabilityGate& operator=(const DurabilityGate&) = delete;
  void after_durable(env::Callback callback);
  // Called on the gate's thread with the seconds each callback waited for the journal (metrics). Set it
  // before the first after_durable().
  void set_latency_observer(std::function<void(double)> observer) { latency_observer_ = std::move(observer); }

 private:
  void run();
  std::function<void(double)> latency_observer_;
  env::EventLoop& loop_;
  env::Journal& journal_;
  std::function<void(std::string)> on_failure_;
  std::mutex mutex_;
  std::condition_variable queued_;
  struct Waiting {
    std::uint64_t sequence;
    env::Callback callback;
    std::chrono::steady_clock::time_point queued_at;
  };
  std::deque<Waiting> queue_;
  bool stopping_ = false;
  bool failed_ = false;
  std::thread thread_;
};

class GatedHypervisor final : public env::Hypervisor {
 public:
  GatedHypervisor(env::Hypervisor& real, DurabilityGate& gate);
  void start_vm(model::HostIndex host, model::VmIndex vm, env::Completion done) override;
  void stop_vm(model::HostIndex host, model::VmIndex vm, bool graceful, env::Completion done) override;
  void migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to,
                  env::Completion done) override;
  void list_running(
      model::HostIndex host,
      std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)> done) override;
  void subscribe(std::function<void(const env::HypervisorEvent&)> handler) override;

  // Drops every subscriber; later events reach only VMs numbered below `vm_limit`.
  void reset(std::size_t vm_limit);
  // Called by the daemon for every event of the real hypervisor.
  void deliver(const env::HypervisorEvent& event);

 private:
  env::Hypervisor& real_;
  DurabilityGate& gate_;
  std::size_t vm_limit_ = 0;
  std::vector<std::function<void(const env::HypervisorEvent&)>> handlers_;
};

class GatedStorage final : public env::Storage {
 public:
  GatedStorage(env::Storage& real, DurabilityGate& gate) : real_(real), gate_(gate) {}
  void map_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                 env::DiskCompletion done) override;
  void unmap_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                   env::DiskCompletion done) override;

 private:
  env::Storage& real_;
  DurabilityGate& gate_;
};

class GatedNetwork final : public env::Network {
 public:
  GatedNetwork(env::Network& real, DurabilityGate& gate) : real_(real), gate_(gate) {}
  void configure_vm_networks(model::SwitchIndex network_switch, model::HostIndex host, model::VmIndex vm,
                             env::Completion done) override;

 private:
  env::Network& real_;
  DurabilityGate& gate_;
};

class GatedFencer final : public env::Fencer {
 public:
  GatedFencer(env::Fencer& real, DurabilityGate& gate) : real_(real), gate_(gate) {}
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override {
    real_.power_status(host, std::move(done));
  }
  void host_recovered(model::HostIndex host) override { real_.host_recovered(host); }

 private:
  env::Fencer& real_;
  DurabilityGate& gate_;
};

}  // namespace revive::daemon

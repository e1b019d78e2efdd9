#include "daemon/durable_environment.h"

#include <fmt/format.h>

namespace revive::daemon {

// ---- ControllerJournal --------------------------------------------------------------------------------

namespace {
constexpr const char* kCheckpoint = "checkpoint";
}

ControllerJournal::ControllerJournal(store::SqliteJournal& durable) : durable_(durable) {
  for (const auto& record : durable_.read_all()) {
    since_checkpoint_ = record.kind == kCheckpoint ? 0 : since_checkpoint_ + 1;
  }
}

std::uint64_t ControllerJournal::append(const env::JournalRecord& record) {
  auto sequence = durable_.append(record);
  ++since_checkpoint_;
  if (observer_) observer_(record, sequence);
  return sequence;
}

std::vector<env::JournalRecord> ControllerJournal::read_all() const {
  auto records = durable_.read_all();
  std::size_t first = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].kind == kCheckpoint) first = i + 1;
  }
  return {records.begin() + static_cast<std::ptrdiff_t>(first), records.end()};
}

void ControllerJournal::checkpoint(const std::string& payload) {
  auto sequence = durable_.append({kCheckpoint, payload});
  durable_.truncate_before(sequence);
  since_checkpoint_ = 0;
}

std::optional<std::string> ControllerJournal::last_checkpoint() const {
  std::optional<std::string> found;
  for (const auto& record : durable_.read_all()) {
    if (record.kind == kCheckpoint) found = record.payload;
  }
  return found;
}

// ---- DurabilityGate -----------------------------------------------------------------------------------

DurabilityGate::DurabilityGate(env::EventLoop& loop, env::Journal& journal,
                               std::function<void(std::string)> on_failure)
    : loop_(loop), journal_(journal), on_failure_(std::move(on_failure)), thread_([this] { run(); }) {}

DurabilityGate::~DurabilityGate() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  thread_.join();
}

void DurabilityGate::after_durable(env::Callback callback) {
  auto sequence = journal_.last_appended();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({sequence, std::move(callback), std::chrono::steady_clock::now()});
  }
  queued_.notify_one();
}

void DurabilityGate::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto [sequence, callback, queued_at] = std::move(queue_.front());
    queue_.pop_front();
    if (failed_) continue;
    lock.unlock();
    std::string error;
    try {
      if (sequence > 0) journal_.wait_durable(sequence);
    } catch (const std::exception& failure) {
      error = failure.what();
    }
    lock.lock();
    if (!error.empty()) {
      failed_ = true;
      loop_.post([this, error] { on_failure_(error); });
      continue;
    }
    if (latency_observer_)
      latency_observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - queued_at).count());
    loop_.post(std::move(callback));
  }
}

// ---- gated drivers ------------------------------------------------------------------------------------

GatedHypervisor::GatedHypervisor(env::Hypervisor& real, DurabilityGate& gate) : real_(real), gate_(gate) {}

void GatedHypervisor::start_vm(model::HostIndex host, model::VmIndex vm, env::Completion done) {
  gate_.after_durable([this, host, vm, done = std::move(done)]() mutable { real_.start_vm(host, vm, done); });
}

void GatedHypervisor::stop_vm(model::HostIndex host, model::VmIndex vm, bool graceful, env::Completion done) {
  gate_.after_durable([this, host, vm, graceful, done = std::move(done)]() mutable {
    real_.stop_vm(host, vm, graceful, done);
  });
}

void GatedHypervisor::migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to,
                                 env::Completion done) {
  gate_.after_durable(
      [this, vm, from, to, done = std::move(done)]() mutable { real_.migrate_vm(vm, from, to, done); });
}

void GatedHypervisor::list_running(
    model::HostIndex host,
    std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)> done) {
  std::size_t limit = vm_limit_;
  real_.list_running(host, [limit, done = std::move(done)](const env::OperationResult& result,
                                                           std::vector<model::VmIndex> vms) {
    std::erase_if(vms, [limit](model::VmIndex vm) { return vm >= limit; });
    done(result, std::move(vms));
  });
}

void GatedHypervisor::subscribe(std::function<void(const env::HypervisorEvent&)> handler) {
  handlers_.push_back(std::move(handler));
}

void GatedHypervisor::reset(std::size_t vm_limit) {
  handlers_.clear();
  vm_limit_ = vm_limit;
}

void GatedHypervisor::deliver(const env::HypervisorEvent& event) {
  if (event.vm != model::kNoIndex && event.vm >= vm_limit_) return;
  auto handlers = handlers_;  // a handler may subscribe
  for (const auto& handler : handlers) handler(event);
}

void GatedStorage::map_disks(model::ArrayIndex array, model::HostIndex host,
                             std::vector<model::DiskIndex> disks, env::DiskCompletion done) {
  gate_.after_durable([this, array, host, disks = std::move(disks), done = std::move(done)]() mutable {
    real_.map_disks(array, host, std::move(disks), std::move(done));
  });
}

void GatedStorage::unmap_disks(model::ArrayIndex array, model::HostIndex host,
                               std::vector<model::DiskIndex> disks, env::DiskCompletion done) {
  gate_.after_durable([this, array, host, disks = std::move(disks), done = std::move(done)]() mutable {
    real_.unmap_disks(array, host, std::move(disks), std::move(done));
  });
}

void GatedNetwork::configure_vm_networks(model::SwitchIndex network_switch, model::HostIndex host,
                                         model::VmIndex vm, env::Completion done) {
  gate_.after_durable([this, network_switch, host, vm, done = std::move(done)]() mutable {
    real_.configure_vm_networks(network_switch, host, vm, std::move(done));
  });
}

void GatedFencer::fence(model::HostIndex host, env::Completion done) {
  gate_.after_durable([this, host, done = std::move(done)]() mutable { real_.fence(host, std::move(done)); });
}

}  // namespace revive::daemon

#include "drivers/tgt/tgt_storage.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace revive::drivers {

std::string tgt_target_name(const std::string& prefix, const std::string& disk) {
  return prefix + ":" + disk;
}

// One array: its TgtAdmin, a FIFO of jobs and up to max_parallel workers taking them.
struct TgtStorage::ArrayQueue {
  ArrayQueue(std::string control_socket, TgtOptions options, std::uint32_t workers)
      : admin(std::move(control_socket), std::move(options)) {
    for (std::uint32_t i = 0; i < std::max<std::uint32_t>(1, workers); ++i)
      threads.emplace_back([this] { work(); });
  }
  ~ArrayQueue() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
      jobs.clear();
    }
    wake.notify_all();
    for (auto& thread : threads) thread.join();
  }
  void push(std::function<void(TgtAdmin&)> job) {
    {
      std::lock_guard lock(mutex);
      jobs.push_back(std::move(job));
    }
    wake.notify_one();
  }
  void work() {
    while (true) {
      std::function<void(TgtAdmin&)> job;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (stopping) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job(admin);
    }
  }

  TgtAdmin admin;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void(TgtAdmin&)>> jobs;
  bool stopping = false;
  std::vector<std::thread> threads;
};

TgtStorage::TgtStorage(env::EventLoop& loop, const model::Cloud& cloud,
                       std::vector<std::optional<TgtArrayConfig>> arrays, TgtOptions options)
    : loop_(loop), cloud_(cloud), configs_(std::move(arrays)), options_(std::move(options)) {}

TgtStorage::~TgtStorage() {
  queues_.clear();
}

void TgtStorage::map_disks(model::ArrayIndex array, model::HostIndex host,
                           std::vector<model::DiskIndex> disks, env::DiskCompletion done) {
  submit(true, array, host, std::move(disks), std::move(done));
}

void TgtStorage::unmap_disks(model::ArrayIndex array, model::HostIndex host,
                             std::vector<model::DiskIndex> disks, env::DiskCompletion done) {
  submit(false, array, host, std::move(disks), std::move(done));
}

void TgtStorage::submit(bool map, model::ArrayIndex array, model::HostIndex host,
                        std::vector<model::DiskIndex> disks, env::DiskCompletion done) {
  const char* action = map ? "map to" : "unmap from";
  std::string array_name =
      array < cloud_.arrays.size() ? cloud_.arrays[array].name : fmt::format("#{}", array);
  std::string host_name = host < cloud_.hosts.size() ? cloud_.hosts[host].name : fmt::format("#{}", host);
  auto refuse = [&](model::DiskIndex disk, std::string message) {
    loop_.post([done, disk, message = std::move(message)] {
      done(disk, env::OperationResult::failure(message, true));
    });
  };
  const TgtArrayConfig* config = array < configs_.size() && array < cloud_.arrays.size() && configs_[array] &&
                                         !configs_[array]->control_socket.empty()
                                     ? &*configs_[array]
                                     : nullptr;
  std::string iqn = host < cloud_.hosts.size() ? cloud_.hosts[host].initiator : std::string();
  for (model::DiskIndex disk : disks) {
    std::string disk_name = disk < cloud_.disks.size() ? cloud_.disks[disk].name : fmt::format("#{}", disk);
    std::string context = fmt::format("array {}: disk {}", array_name, disk_name);
    if (config == nullptr) {
      refuse(disk, context + ": no storage driver is configured for this array");
      continue;
    }
    if (disk >= cloud_.disks.size() || cloud_.disks[disk].array != array) {
      refuse(disk, context + ": not a disk of this array");
      continue;
    }
    std::string target = tgt_target_name(config->target_prefix, disk_name);
    context += " (target " + target + "): " + action + " host " + host_name;
    if (iqn.empty()) {
      refuse(disk,
             context + ": the host has no initiator name (inventory: hosts[" + host_name + "].initiator)");
      continue;
    }
    context += " (" + iqn + ")";
    if (array >= queues_.size()) queues_.resize(array + 1);
    if (!queues_[array]) {
      queues_[array] =
          std::make_unique<ArrayQueue>(config->control_socket, options_, cloud_.arrays[array].max_parallel);
    }
    queues_[array]->push([this, map, target, iqn, context, disk, done](TgtAdmin& admin) {
      TgtAnswer answer = map ? admin.map(target, iqn) : admin.unmap(target, iqn);
      env::OperationResult result =
          answer.ok ? env::OperationResult::success()
                    : env::OperationResult::failure(context + ": " + answer.error, answer.permanent);
      loop_.post([done, disk, result] { done(disk, result); });
    });
  }
}

}  // namespace revive::drivers

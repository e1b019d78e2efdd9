// TgtStorage: env::Storage on tgtd arrays (tgt_admin.h), one target per disk. A disk D of an array with
// target_prefix P is the target "P:D" (its LUN 1 holds the disk); a host's access is its initiator name
// (model::Host::initiator) in that target's ACL. map_disks binds the host's name on each disk's target,
// unmap_disks unbinds it and ends its sessions; each is read back before it counts as done (TgtAdmin).
//
// Concurrency: each array has its own queue and at most max_parallel (model::StorageArray) worker threads,
// started at its first call; every disk of a batch is one job (tgtadm has no batch call), and `done` is
// posted to the EventLoop once per disk as it finishes. Jobs of one array start in call order.
// Errors read "array A: disk D (target T): map to host H (IQN): <what>". Permanent: an array without a tgt
// configuration, a host without an initiator name, a disk not on the array, and TgtAdmin's permanent ones
// (no such target, an address rule in the ACL); transient: tgtd not running, dead or hung (TgtAdmin).
//
// Thread-safety: map_disks / unmap_disks on the engine thread only (they read `cloud`); the workers touch
// only copies. The destructor drops jobs not started and waits for the running ones (each bounded by
// TgtOptions' timeouts); their answers are not delivered. `loop` and `cloud` must outlive this object.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/tgt/tgt_admin.h"
#include "env/event_loop.h"
#include "env/storage.h"
#include "model/cloud.h"

namespace revive::drivers {

struct TgtArrayConfig {
  std::string control_socket;  // BASE.N (TgtAdmin)
  std::string target_prefix;   // the targets' IQN prefix: disk D is target PREFIX:D
};

// The target of `disk` on an array with `prefix`.
std::string tgt_target_name(const std::string& prefix, const std::string& disk);

class TgtStorage final : public env::Storage {
 public:
  // `arrays` by ArrayIndex; a missing or empty entry: that array has no driver (its calls fail permanently).
  TgtStorage(env::EventLoop& loop, const model::Cloud& cloud,
             std::vector<std::optional<TgtArrayConfig>> arrays, TgtOptions options = {});
  ~TgtStorage() override;

  void map_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                 env::DiskCompletion done) override;
  void unmap_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                   env::DiskCompletion done) override;

  struct ArrayQueue;

 private:
  void submit(bool map, model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
              env::DiskCompletion done);

  env::EventLoop& loop_;
  const model::Cloud& cloud_;
  std::vector<std::optional<TgtArrayConfig>> configs_;
  TgtOptions options_;
  std::vector<std::unique_ptr<ArrayQueue>> queues_;  // by ArrayIndex, created at first use
};

}  // namespace revive::drivers

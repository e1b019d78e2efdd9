// The daemon's storage driver: the arrays of its config (storage.arrays, docs/config.md) behind one
// env::Storage. Each array names its driver; the only one so far is tgt (drivers::TgtStorage: a tgtd through
// tgtadm, one target per disk, access by the hosts' initiator names). The disk steps of an array with no
// driver configured fail permanently, naming the array, so the executor replans or gives the VM up instead of
// starting it without its disks. Thread-safety: that of the driver (engine thread).
#pragma once

#include <memory>

#include "daemon/config.h"
#include "env/event_loop.h"
#include "env/storage.h"
#include "model/cloud.h"

namespace revive::daemon {

// `loop` and `cloud` must outlive the result; `cloud`'s arrays must be those `config` was checked against.
std::unique_ptr<env::Storage> make_storage(env::EventLoop& loop, const model::Cloud& cloud,
                                           const StorageConfig& config);

}  // namespace revive::daemon

// Whether a call made through the environment's interfaces is still in progress, whoever made it -- in
// particular a controller that died with calls in flight. A resumed controller never hears the answers of
// its predecessor's calls; a call slowed past every timeout may still be running at its endpoint, array,
// switch or BMC, and still take effect (a VM starts, a disk is mapped). Until the environment says the call
// ended, the resumed controller counts it against every limit it is under (its slots stay taken) and, for
// a start or a live migration, as a copy of the VM that may still appear there (the copies set keeps it
// unanswered: no listing overrules it). Management endpoints and arrays report their tasks in progress
// (vCenter's task list, an array's running jobs, libvirt's domain job info); the simulator's world answers
// from the calls it is running.
//
// Threading: call on the engine's event loop thread; the answer is posted to the loop.
#pragma once

#include <functional>

#include "env/step.h"
#include "model/cloud.h"

namespace revive::env {

// One call as the journal names it: `host` is where a VM step runs (a migration's target), the fenced host
// for a fence; `from` is a migration's source; `disk` is set for disk steps.
struct Call {
  StepKind kind = StepKind::vm_start;
  model::VmIndex vm = model::kNoIndex;  // kNoIndex for a fence
  model::HostIndex host = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;
  model::DiskIndex disk = model::kNoIndex;
};

class CallsInProgress {
 public:
  CallsInProgress() = default;
  CallsInProgress(const CallsInProgress&) = delete;
  CallsInProgress& operator=(const CallsInProgress&) = delete;
  virtual ~CallsInProgress() = default;

  // `done(true)` while a call matching `call` (kind, VM, hosts, disk) is in progress, `done(false)` once none
  // is: it ended (answered, failed, or ended with its host's power) or never began (an unreachable host).
  virtual void in_progress(const Call& call, std::function<void(bool)> done) = 0;
};

}  // namespace revive::env

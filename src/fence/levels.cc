#include "fence/levels.h"

#include <algorithm>

#include <fmt/format.h>

namespace revive::fence {

namespace {
using StatusDone = std::function<void(const env::OperationResult&, env::PowerState)>;

void post_unknown(env::EventLoop& loop, StatusDone done) {
  loop.post([done = std::move(done)] { done(env::OperationResult::success(), env::PowerState::unknown); });
}
}  // namespace

// ---------------------------------------------------------------------------------------------- storage

StorageFencer::StorageFencer(env::EventLoop& loop, env::Storage& storage, const model::Cloud& cloud,
                             VmsOnHost vms_on_host, env::OperationSlots* slots)
    : loop_(loop), storage_(storage), cloud_(cloud), vms_on_host_(std::move(vms_on_host)), slots_(slots) {}

void StorageFencer::fence(model::HostIndex host, env::Completion done) {
  std::vector<model::VmIndex> vms;
  if (vms_on_host_) vms = vms_on_host_(host);
  std::sort(vms.begin(), vms.end());
  vms.erase(std::unique(vms.begin(), vms.end()), vms.end());
  auto fail = [this, &done](std::string error) {
    loop_.post([done, error = std::move(error)] { done(env::OperationResult::failure(error)); });
  };
  if (vms.empty()) {
    fail("no VM is believed to run on the host: storage fencing proves nothing");
    return;
  }
  std::map<model::ArrayIndex, std::vector<model::DiskIndex>> by_array;
  std::vector<std::string> diskless;
  for (model::VmIndex vm : vms) {
    if (vm >= cloud_.vms.size()) {
      fail(fmt::format("VM #{} is not in the inventory: storage fencing cannot tell its disks", vm));
      return;
    }
    if (cloud_.vms[vm].first_disk >= cloud_.vm_disk_end(vm)) {
      diskless.push_back(cloud_.vms[vm].name);
      continue;
    }
    for (std::size_t disk = cloud_.vms[vm].first_disk; disk < cloud_.vm_disk_end(vm); ++disk) {
      by_array[cloud_.disks[disk].array].push_back(static_cast<model::DiskIndex>(disk));
    }
  }
  if (!diskless.empty()) {
    // Nothing is unmapped: the host keeps running a VM that storage fencing cannot stop, so this is no
    // proof and the next level must fence the host.
    std::string names;
    for (const auto& name : diskless) names += (names.empty() ? "" : ", ") + name;
    fail(fmt::format("storage fencing cannot stop diskless VM{} {}", diskless.size() > 1 ? "s" : "", names));
    return;
  }
  for (auto& [array, disks] : by_array) {
    std::sort(disks.begin(), disks.end());
    disks.erase(std::unique(disks.begin(), disks.end()), disks.end());
  }
  struct Join {
    std::size_t remaining = 0;
    std::string errors;
    bool permanent = true;
    env::Completion done;
  };
  auto join = std::make_shared<Join>();
  for (const auto& [array, disks] : by_array) join->remaining += disks.size();
  join->done = std::move(done);
  for (auto& [array, disks] : by_array) {
    std::string array_name = array < cloud_.arrays.size() ? cloud_.arrays[array].name : std::to_string(array);
    // Called once per disk.
    auto answered = [this, join, array_name](model::DiskIndex disk, const env::OperationResult& result) {
      if (!result.ok) {
        if (!join->errors.empty()) join->errors += "; ";
        std::string disk_name = disk < cloud_.disks.size() ? cloud_.disks[disk].name : std::to_string(disk);
        join->errors += "unmap " + disk_name + " on " + array_name + ": " + result.error;
        join->permanent = join->permanent && result.permanent;
      }
      if (--join->remaining > 0) return;
      if (join->errors.empty()) {
        join->done(env::OperationResult::success());
      } else {
        join->done(env::OperationResult::failure(join->errors, join->permanent));
      }
    };
    if (slots_ == nullptr) {
      storage_.unmap_disks(array, host, disks, answered);
      continue;
    }
    for (auto disk : disks) {
      env::Call call;
      call.kind = env::StepKind::disk_unmap;
      call.host = host;
      call.disk = disk;
      slots_->acquire(call, [this, array, host, disk, answered](env::OperationSlots::Release release) {
        storage_.unmap_disks(
            array, host, {disk},
            [answered, release](model::DiskIndex unmapped, const env::OperationResult& result) {
              release();
              answered(unmapped, result);
            });
      });
    }
  }
}

void StorageFencer::power_status(model::HostIndex, StatusDone done) {
  post_unknown(loop_, std::move(done));
}

// ------------------------------------------------------------------------------------------- hypervisor

HypervisorFencer::HypervisorFencer(env::EventLoop& loop, env::Hypervisor& hypervisor,
                                   env::OperationSlots* slots)
    : loop_(loop), hypervisor_(hypervisor), slots_(slots) {}

void HypervisorFencer::fence(model::HostIndex host, env::Completion done) {
  hypervisor_.list_running(
      host, [this, host, done](const env::OperationResult& listed, std::vector<model::VmIndex> running) {
        if (!listed.ok) {
          done(env::OperationResult::failure("hypervisor unreachable: " + listed.error));
          return;
        }
        if (running.empty()) {
          done(env::OperationResult::success());
          return;
        }
        auto remaining = std::make_shared<std::size_t>(running.size());
        for (model::VmIndex vm : running) {
          auto destroy = [this, host, vm, done, remaining](env::OperationSlots::Release release) {
            hypervisor_.stop_vm(host, vm, /*graceful=*/false,
                                [this, host, done, remaining, release](const env::OperationResult&) {
                                  release();
                                  // Individual results do not matter: the listing below is the proof.
                                  if (--*remaining == 0) verify(host, done);
                                });
          };
          if (slots_ == nullptr) {
            destroy([] {});
            continue;
          }
          env::Call call;
          call.kind = env::StepKind::vm_stop;
          call.vm = vm;
          call.host = host;
          slots_->acquire(call, destroy);
        }
      });
}

void HypervisorFencer::verify(model::HostIndex host, env::Completion done) {
  hypervisor_.list_running(
      host, [done](const env::OperationResult& listed, std::vector<model::VmIndex> running) {
        if (!listed.ok) {
          done(env::OperationResult::failure("hypervisor unreachable while verifying: " + listed.error));
        } else if (!running.empty()) {
          done(env::OperationResult::failure(
              fmt::format("{} VM(s) still running after destroy", running.size())));
        } else {
          done(env::OperationResult::success());
        }
      });
}

void HypervisorFencer::power_status(model::HostIndex, StatusDone done) {
  post_unknown(loop_, std::move(done));
}

// ------------------------------------------------------------------------------------------------ lease

LeaseFencer::LeaseFencer(env::EventLoop& loop, const Liveness& liveness, LeaseSettings settings)
    : loop_(loop), liveness_(liveness), settings_(settings) {}

LeaseFencer::~LeaseFencer() {
  *alive_ = false;
}

std::optional<double> LeaseFencer::proof_time_s(model::HostIndex host) const {
  auto renewal = liveness_.last_lease_renewal_s(host);
  if (!renewal) return std::nullopt;
  double expiry = *renewal + settings_.lease_ttl_s;
  if (auto contact = liveness_.last_agent_contact_s(host)) {
    expiry = std::max(expiry, *contact + settings_.controller_timeout_s);
  }
  return expiry + settings_.watchdog_s + settings_.margin_s;
}

std::optional<std::string> LeaseFencer::why_no_self_fence(model::HostIndex host) const {
  auto within = liveness_.self_fence_within_s(host);
  if (!within) {
    return std::string(
        "the host's last lease record declares no working self-fence (no watchdog device, no self-fence "
        "command): its agent only exits when it gives up and its VMs keep running, so an expired lease "
        "proves "
        "nothing");
  }
  if (*within > settings_.watchdog_s + 1e-9) {
    return fmt::format(
        "the host's agent declares its self-fence takes up to {:g} s, more than the lease level allows "
        "(watchdog {:g} s): an expired lease proves nothing yet",
        *within, settings_.watchdog_s);
  }
  return std::nullopt;
}

void LeaseFencer::fence(model::HostIndex host, env::Completion done) {
  auto proof = proof_time_s(host);
  if (!proof) {
    loop_.post([done] { done(env::OperationResult::failure("the host has no storage lease", true)); });
    return;
  }
  if (auto why = why_no_self_fence(host)) {
    loop_.post([done, error = *why] { done(env::OperationResult::failure(error)); });
    return;
  }
  double renewal = *liveness_.last_lease_renewal_s(host);
  check_later(host, renewal, *proof + settings_.read_wait_s, std::max(0.0, *proof - loop_.now_s()), done);
}

void LeaseFencer::check_later(model::HostIndex host, double renewal, double give_up_s, double delay_s,
                              env::Completion done) {
  std::weak_ptr<bool> alive = alive_;
  loop_.schedule_after(delay_s, [this, alive, host, renewal, give_up_s, done] {
    if (alive.expired()) return;
    auto latest = liveness_.last_lease_renewal_s(host);
    if (latest && *latest > renewal) {
      done(env::OperationResult::failure(
          fmt::format("lease renewed at {:.2f} s while waiting for its expiry: the host is alive", *latest)));
      return;
    }
    auto proof = proof_time_s(host);
    double now = loop_.now_s();
    if (proof && *proof > now + 1e-9) {
      // The agent was heard meanwhile: its watchdog deadline moved.
      done(env::OperationResult::failure("the agent was heard while waiting for the lease proof"));
      return;
    }
    if (auto why = why_no_self_fence(host)) {
      done(env::OperationResult::failure(*why));
      return;
    }
    auto checked = liveness_.last_lease_check_s(host);
    if (checked && proof && *checked >= *proof) {
      done(env::OperationResult::success());
      return;
    }
    if (now >= give_up_s) {
      done(env::OperationResult::failure("the lease could not be read after its deadline: no proof"));
      return;
    }
    check_later(host, renewal, give_up_s, settings_.read_recheck_s, done);
  });
}

void LeaseFencer::power_status(model::HostIndex, StatusDone done) {
  post_unknown(loop_, std::move(done));
}

// ----------------------------------------------------------------------------------------------- manual

ManualFencer::ManualFencer(env::EventLoop& loop, const model::Cloud& cloud, double wait_s)
    : loop_(loop), cloud_(cloud), wait_s_(wait_s) {}

ManualFencer::~ManualFencer() {
  *alive_ = false;
  for (auto& [host, pending] : pending_) loop_.cancel(pending->timer);
}

bool ManualFencer::confirm(model::HostIndex host) {
  if (!lost_.contains(host)) return false;  // not lost: kept for no later loss
  confirmed_.insert(host);
  auto [first, last] = pending_.equal_range(host);
  std::vector<std::shared_ptr<Pending>> waiting;
  for (auto it = first; it != last; ++it) waiting.push_back(it->second);
  pending_.erase(first, last);
  for (auto& pending : waiting) {
    loop_.cancel(pending->timer);
    loop_.post([pending] { pending->done(env::OperationResult::success()); });
  }
  return true;
}

void ManualFencer::host_lost(model::HostIndex host) {
  lost_.insert(host);
}

void ManualFencer::host_recovered(model::HostIndex host) {
  lost_.erase(host);
  confirmed_.erase(host);
  auto [first, last] = pending_.equal_range(host);
  std::vector<std::shared_ptr<Pending>> waiting;
  for (auto it = first; it != last; ++it) waiting.push_back(it->second);
  pending_.erase(first, last);
  for (auto& pending : waiting) {
    loop_.cancel(pending->timer);
    loop_.post([pending] {
      pending->done(
          env::OperationResult::failure("the host came back before an operator confirmed it was off"));
    });
  }
}

void ManualFencer::fence(model::HostIndex host, env::Completion done) {
  lost_.insert(host);  // a fence is asked for: the host is lost until host_recovered()
  if (confirmed_.contains(host)) {
    loop_.post([done] { done(env::OperationResult::success()); });
    return;
  }
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  std::string name = host < cloud_.hosts.size() ? cloud_.hosts[host].name : std::to_string(host);
  std::weak_ptr<bool> alive = alive_;
  pending->timer = loop_.schedule_after(wait_s_, [this, alive, host, pending, name] {
    if (alive.expired()) return;
    auto [first, last] = pending_.equal_range(host);
    for (auto it = first; it != last; ++it) {
      if (it->second == pending) {
        pending_.erase(it);
        break;
      }
    }
    pending->done(env::OperationResult::failure(
        fmt::format("no operator confirmation yet: run `revive host confirm-down {}` once it is off", name)));
  });
  pending_.emplace(host, pending);
}

void ManualFencer::power_status(model::HostIndex, StatusDone done) {
  post_unknown(loop_, std::move(done));
}

}  // namespace revive::fence

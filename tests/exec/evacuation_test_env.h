// A small simulated environment for evacuation engine tests: a discrete-event loop, and a hypervisor, storage
// and network whose live migrations run on sim::SimMigrations (the fluid bandwidth model) and whose other
// steps take fixed times (the ColdMoveDurations defaults). It tracks where each VM runs and checks, at every
// instant, the per-host migration limit and the endpoint / array / switch / restart limits (a migration is
// an operation through its source's endpoint and its target's, once when they share one; the spec's
// "operations it accepts at once"), and that no VM is started while it runs somewhere.
//
// Hosts can lose contact (lose_contact: the hypervisor calls on them get no answer from then on, a migration
// from them still switches over unseen, and the engines subscribed hear host_connection_lost) and be powered
// off (power_off: the fence; what ran there stops, migrations from or to them end). Header-only.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "env/event_loop.h"
#include "env/hypervisor.h"
#include "env/storage.h"
#include "model/cloud.h"
#include "sim/sim_migration.h"

namespace revive::exec::testing {

class TestLoop final : public env::EventLoop {
 public:
  double now_s() const override { return now_; }
  env::TimerId schedule_after(double delay_s, env::Callback callback) override {
    auto id = next_++;
    queue_.push({now_ + std::max(0.0, delay_s), id, std::move(callback)});
    return id;
  }
  void cancel(env::TimerId timer) override { cancelled_.push_back(timer); }
  void post(env::Callback callback) override { schedule_after(0, std::move(callback)); }
  void run() {
    while (!queue_.empty()) {
      auto entry = queue_.top();
      queue_.pop();
      if (std::find(cancelled_.begin(), cancelled_.end(), entry.id) != cancelled_.end()) continue;
      now_ = entry.time;
      entry.callback();
    }
  }
  // Runs callbacks due by `until_s`, at most `max_callbacks` of them; true when nothing is left to run.
  bool run_bounded(double until_s, std::uint64_t max_callbacks) {
    while (!queue_.empty() && max_callbacks-- > 0) {
      auto entry = queue_.top();
      if (entry.time > until_s) return false;
      queue_.pop();
      if (std::find(cancelled_.begin(), cancelled_.end(), entry.id) != cancelled_.end()) continue;
      now_ = entry.time;
      entry.callback();
    }
    return queue_.empty();
  }

 private:
  struct Entry {
    double time;
    env::TimerId id;
    env::Callback callback;
    bool operator>(const Entry& other) const {
      return time != other.time ? time > other.time : id > other.id;
    }
  };
  double now_ = 0;
  env::TimerId next_ = 1;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_;
  std::vector<env::TimerId> cancelled_;
};

struct TestStep {
  std::string kind;
  model::VmIndex vm;
  model::HostIndex host;  // target (migrate, map, start), source (stop, unmap)
  model::HostIndex from = model::kNoIndex;
  double start_s, end_s;
  bool ok = true;
  std::uint32_t rounds = 0;
  double downtime_s = 0;
};

class TestWorld final : public env::Hypervisor, public env::Storage, public env::Network {
 public:
  TestWorld(const model::Cloud& cloud, TestLoop& loop, sim::SimMigrations::Options options = {})
      : cloud_(cloud), loop_(loop), migrations_(cloud, loop, options) {
    location_.resize(cloud.vms.size(), model::kNoIndex);
    for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) location_[v] = cloud.vms[v].host;
    migrating_.assign(cloud.hosts.size(), 0);
    restarts_.assign(cloud.hosts.size(), 0);
    endpoint_.assign(cloud.endpoints.size(), 0);
    array_.assign(cloud.arrays.size(), 0);
    switch_.assign(cloud.switches.size(), 0);
  }

  void start_vm(model::HostIndex host, model::VmIndex vm, env::Completion done) override {
    issued.push_back({"vm_start", vm, host, model::kNoIndex, loop_.now_s(), -1.0});
    if (!reachable(host)) return;  // no answer
    auto endpoint = cloud_.hosts[host].endpoint;
    claim(endpoint_, endpoint, limit_of_endpoint(endpoint), "endpoint");
    claim(restarts_, host, cloud_.policy.host_max_parallel_restarts, "restarts");
    later("vm_start", vm, host, 60, [=, this] {
      release(endpoint_, endpoint);
      release(restarts_, host);
      if (!powered(host)) return;
      if (location_[vm] != model::kNoIndex) violations.push_back(cloud_.vms[vm].name + " started twice");
      location_[vm] = host;
      if (reachable(host)) done(env::OperationResult::success());
    });
  }
  void stop_vm(model::HostIndex host, model::VmIndex vm, bool, env::Completion done) override {
    issued.push_back({"vm_stop", vm, host, model::kNoIndex, loop_.now_s(), -1.0});
    if (!reachable(host)) return;  // no answer
    auto endpoint = cloud_.hosts[host].endpoint;
    claim(endpoint_, endpoint, limit_of_endpoint(endpoint), "endpoint");
    later("vm_stop", vm, host, 20, [=, this] {
      release(endpoint_, endpoint);
      if (location_[vm] == host) location_[vm] = model::kNoIndex;
      if (reachable(host)) done(env::OperationResult::success());
    });
  }
  void migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to,
                  env::Completion done) override {
    issued.push_back({"migrate", vm, to, from, loop_.now_s(), -1.0});
    if (!reachable(from) || !reachable(to)) return;  // no answer
    auto limit = cloud_.policy.host_max_parallel_migrations;
    claim(migrating_, from, limit, "migrations");
    claim(migrating_, to, limit, "migrations");
    auto source = cloud_.hosts[from].endpoint, target = cloud_.hosts[to].endpoint;
    claim(endpoint_, source, limit_of_endpoint(source), "endpoint");
    if (target != source) claim(endpoint_, target, limit_of_endpoint(target), "endpoint");
    double start = loop_.now_s();
    migrations_.start(vm, from, to, [=, this](const exec::FlowOutcome& outcome) {
      release(migrating_, from);
      release(migrating_, to);
      release(endpoint_, source);
      if (target != source) release(endpoint_, target);
      TestStep step{"migrate",         vm, to, from, start, loop_.now_s(), outcome.ok, outcome.rounds,
                    outcome.downtime_s};
      steps.push_back(step);
      if (outcome.ok) {
        if (location_[vm] != from)
          violations.push_back(cloud_.vms[vm].name + " migrated from where it was not");
        location_[vm] = to;
      }
      if (!reachable(from)) return;  // switched over (or not) unseen
      done(outcome.ok ? env::OperationResult::success() : env::OperationResult::failure(outcome.error));
    });
  }
  void list_running(model::HostIndex,
                    std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)>) override {}
  void subscribe(std::function<void(const env::HypervisorEvent&)> handler) override {
    handlers_.push_back(std::move(handler));
  }

  // `host` stops answering (isolated or crashed): calls on it get no answer from now on, and every
  // subscriber hears host_connection_lost.
  void lose_contact(model::HostIndex host) {
    unreachable_.push_back(host);
    report_lost(host);
  }
  // Subscribers hear host_connection_lost but the host goes on answering (a flapping link).
  void report_lost(model::HostIndex host) {
    for (const auto& handler : handlers_) {
      handler({env::HypervisorEvent::Kind::host_connection_lost, host, model::kNoIndex});
    }
  }
  // `host` is off (fenced): nothing runs there any more; migrations from or to it end (a failure, answered
  // when the source still answers).
  void power_off(model::HostIndex host) {
    if (reachable(host)) unreachable_.push_back(host);
    off_.push_back(host);
    for (auto& where : location_) {
      if (where == host) where = model::kNoIndex;
    }
    migrations_.abort_host(host, "host powered off");
  }
  // The VM now runs on `host` (another engine restarted it there); kNoIndex: nowhere.
  void place(model::VmIndex vm, model::HostIndex host) { location_[vm] = host; }

  void map_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                 env::DiskCompletion done) override {
    disk_step("disk_map", array, host, std::move(disks), 4, std::move(done));
  }
  void unmap_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                   env::DiskCompletion done) override {
    disk_step("disk_unmap", array, host, std::move(disks), 2, std::move(done));
  }
  void configure_vm_networks(model::SwitchIndex network_switch, model::HostIndex host, model::VmIndex vm,
                             env::Completion done) override {
    claim(switch_, network_switch, cloud_.switches[network_switch].max_parallel, "switch");
    later("net_config", vm, host, 3, [=, this] {
      release(switch_, network_switch);
      done(env::OperationResult::success());
    });
  }

  // Where each VM runs now (kNoIndex: stopped).
  const std::vector<model::HostIndex>& location() const { return location_; }
  sim::SimMigrations& migrations() { return migrations_; }
  std::vector<TestStep> steps;   // answered (or ended) steps
  std::vector<TestStep> issued;  // every call, when issued (end_s -1)
  std::vector<std::string> violations;
  std::uint32_t peak_migrations = 0;

 private:
  bool reachable(model::HostIndex host) const {
    return std::find(unreachable_.begin(), unreachable_.end(), host) == unreachable_.end();
  }
  bool powered(model::HostIndex host) const {
    return std::find(off_.begin(), off_.end(), host) == off_.end();
  }
  std::uint32_t limit_of_endpoint(model::EndpointIndex endpoint) const {
    return endpoint == model::kNoIndex ? 1000000 : cloud_.endpoints[endpoint].max_parallel;
  }
  void claim(std::vector<std::uint32_t>& counters, model::Index index, std::uint32_t limit,
             const char* what) {
    if (index == model::kNoIndex) return;
    auto busy = ++counters[index];
    if (&counters == &migrating_) peak_migrations = std::max(peak_migrations, busy);
    if (busy > limit)
      violations.push_back(fmt::format("{} {} over its limit {} at {}", what, index, limit, loop_.now_s()));
  }
  void release(std::vector<std::uint32_t>& counters, model::Index index) {
    if (index != model::kNoIndex) --counters[index];
  }
  void later(const char* kind, model::VmIndex vm, model::HostIndex host, double duration,
             std::function<void()> then) {
    double start = loop_.now_s();
    loop_.schedule_after(duration, [=, this, then = std::move(then)] {
      steps.push_back({kind, vm, host, model::kNoIndex, start, loop_.now_s()});
      then();
    });
  }
  void disk_step(const char* kind, model::ArrayIndex array, model::HostIndex host,
                 std::vector<model::DiskIndex> disks, double duration, env::DiskCompletion done) {
    for (auto disk : disks) {
      claim(array_, array, cloud_.arrays[array].max_parallel, "array");
      later(kind, cloud_.disks[disk].vm, host, duration, [=, this] {
        release(array_, array);
        done(disk, env::OperationResult::success());
      });
    }
  }

  const model::Cloud& cloud_;
  TestLoop& loop_;
  sim::SimMigrations migrations_;
  std::vector<model::HostIndex> location_;
  std::vector<std::uint32_t> migrating_, restarts_, endpoint_, array_, switch_;
  std::vector<std::function<void(const env::HypervisorEvent&)>> handlers_;
  std::vector<model::HostIndex> unreachable_, off_;
};

}  // namespace revive::exec::testing

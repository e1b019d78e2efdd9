#include "sim/world.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace revive::sim {

namespace {

std::uint64_t attempt_key(env::StepKind kind, model::Index subject, model::DiskIndex disk) {
  return (static_cast<std::uint64_t>(kind) << 61) ^ (static_cast<std::uint64_t>(subject) << 29) ^
         (static_cast<std::uint64_t>(disk) & 0x1fffffffULL);
}

template <typename T>
void erase_value(std::vector<T>& values, T value) {
  values.erase(std::remove(values.begin(), values.end(), value), values.end());
}

template <typename T>
bool contains(const std::vector<T>& values, T value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

// ---- the interfaces ---------------------------------------------------------------------------------------

class SimHypervisor final : public env::Hypervisor {
 public:
  explicit SimHypervisor(SimWorld& world) : world_(world) {}

  void start_vm(model::HostIndex host, model::VmIndex vm, env::Completion done) override {
    auto& w = world_;
    TimelineStep step;
    step.kind = env::StepKind::vm_start;
    step.vm = vm;
    step.host = host;
    step.attempt = w.next_attempt(env::StepKind::vm_start, vm, model::kNoIndex);
    if (!w.reachable_[host]) {
      hang(std::move(step), "host unreachable: no answer");
      return;
    }
    w.check_start_allowed(vm, host);
    SimWorld::Resources resources;
    resources.endpoint = w.cloud_.hosts[host].endpoint;
    resources.start_host = host;
    resources.global = true;
    bool fails = w.take_failure(env::StepKind::vm_start, vm, model::kNoIndex);
    double duration = w.base_duration_s(env::StepKind::vm_start, vm, model::kNoIndex, step.attempt) *
                      w.slow_factor(resources, host);
    auto id = w.begin(std::move(step), resources, host);
    w.in_flight_[id].timer =
        w.loop_.schedule_after(duration, [this, id, host, vm, fails, done = std::move(done)] {
          auto& world = world_;
          if (fails && !world.confirmed_off_[host]) {
            world.finish(id, false, "injected failure");
            if (world.reachable_[host]) done(env::OperationResult::failure("vm_start failed (injected)"));
            return;
          }
          world.finish(id, true, "");
          auto& copies = world.copies_[vm];
          if (!copies.empty() && !contains(copies, host)) {
            ++world.double_runs_;
            world.violation(fmt::format("{} runs on {} and {} at {:.3f} s (two copies)",
                                        world.cloud_.vms[vm].name, world.cloud_.hosts[copies.front()].name,
                                        world.cloud_.hosts[host].name, world.loop_.now_s()));
          }
          if (!contains(copies, host)) {
            copies.push_back(host);
            world.vms_running_on_host_[host].push_back(vm);
          }
          if (!contains(world.ran_on_[vm], host)) world.ran_on_[vm].push_back(host);
          world.running_since_[vm] = world.loop_.now_s();
          if (world.reachable_[host]) done(env::OperationResult::success());
        });
  }

  void stop_vm(model::HostIndex host, model::VmIndex vm, bool graceful, env::Completion done) override {
    auto& w = world_;
    TimelineStep step;
    step.kind = env::StepKind::vm_stop;
    step.vm = vm;
    step.host = host;
    step.attempt = w.next_attempt(env::StepKind::vm_stop, vm, model::kNoIndex);
    if (!w.reachable_[host]) {
      hang(std::move(step), "host unreachable: no answer");
      return;
    }
    SimWorld::Resources resources;
    resources.endpoint = w.cloud_.hosts[host].endpoint;
    resources.global = true;
    bool fails = w.take_failure(env::StepKind::vm_stop, vm, model::kNoIndex);
    double duration =
        graceful ? w.base_duration_s(env::StepKind::vm_stop, vm, model::kNoIndex, step.attempt) : 1.0;
    duration *= w.slow_factor(resources, host);
    auto id = w.begin(std::move(step), resources, host);
    w.in_flight_[id].timer =
        w.loop_.schedule_after(duration, [this, id, host, vm, fails, done = std::move(done)] {
          auto& world = world_;
          world.finish(id, !fails, fails ? "injected failure" : "");
          if (!fails) {
            erase_value(world.copies_[vm], host);
            erase_value(world.ran_on_[vm], host);
          }
          if (world.reachable_[host]) {
            done(fails ? env::OperationResult::failure("vm_stop failed (injected)")
                       : env::OperationResult::success());
          }
        });
  }

  void migrate_vm(model::VmIndex vm, model::HostIndex from, model::HostIndex to,
                  env::Completion done) override {
    auto& w = world_;
    TimelineStep step;
    step.kind = env::StepKind::migrate;
    step.vm = vm;
    step.host = to;
    step.from = from;
    step.attempt = w.next_attempt(env::StepKind::migrate, vm, model::kNoIndex);
    if (!w.reachable_[from] || !w.reachable_[to]) {
      hang(std::move(step), "host unreachable: no answer");
      return;
    }
    if (!contains(w.copies_[vm], from)) {
      w.loop_.post([done = std::move(done)] {
        done(env::OperationResult::failure("the VM does not run on the source host", true));
      });
      return;
    }
    SimWorld::Resources resources;
    resources.migrate_from = from;
    resources.migrate_to = to;
    // One operation at the source's management endpoint and one at the target's (once if they share one),
    // and one against the controller's global limit.
    resources.endpoint = w.cloud_.hosts[from].endpoint;
    if (w.cloud_.hosts[to].endpoint != resources.endpoint)
      resources.second_endpoint = w.cloud_.hosts[to].endpoint;
    resources.global = true;
    bool fails = w.take_failure(env::StepKind::migrate, vm, model::kNoIndex);
    auto id = w.begin(std::move(step), resources, from);
    w.in_flight_[id].migration = w.migrations_->start(
        vm, from, to,
        [this, id, vm, from, to, fails, done = std::move(done)](const exec::FlowOutcome& outcome) {
          auto& world = world_;
          auto flight = world.in_flight_.find(id);
          if (flight == world.in_flight_.end()) return;  // ended with a host that lost power
          auto& entry = world.timeline_[flight->second.step];
          entry.rounds = outcome.rounds;
          entry.round_ends_s = outcome.round_ends_s;
          entry.downtime_s = outcome.downtime_s;
          bool ok = outcome.ok && !fails;
          std::string error = fails ? std::string("injected failure") : outcome.error;
          world.finish(id, ok, error);
          if (ok) {
            // Switch-over: the VM runs on the target only; its disks follow it.
            erase_value(world.copies_[vm], from);
            erase_value(world.ran_on_[vm], from);
            if (!contains(world.copies_[vm], to)) {
              world.copies_[vm].push_back(to);
              world.vms_running_on_host_[to].push_back(vm);
            }
            if (!contains(world.ran_on_[vm], to)) world.ran_on_[vm].push_back(to);
            for (auto d = world.cloud_.vms[vm].first_disk; d < world.cloud_.vm_disk_end(vm); ++d) {
              erase_value(world.disk_hosts_[d], from);
              if (!contains(world.disk_hosts_[d], to)) world.disk_hosts_[d].push_back(to);
            }
          }
          if (world.reachable_[from]) {
            done(ok ? env::OperationResult::success()
                    : env::OperationResult::failure(fails ? "migrate failed (injected)" : error));
          }
        });
  }

  void list_running(
      model::HostIndex host,
      std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)> done) override {
    auto& w = world_;
    if (!w.reachable_[host]) return;  // no answer
    w.loop_.schedule_after(0.5, [this, host, done = std::move(done)] {
      if (!world_.reachable_[host]) return;
      std::vector<model::VmIndex> running;
      for (auto vm : world_.vms_running_on_host_[host]) {
        if (contains(world_.copies_[vm], host) && !contains(running, vm)) running.push_back(vm);
      }
      std::sort(running.begin(), running.end());
      done(env::OperationResult::success(), std::move(running));
    });
  }

  // A new subscriber (a controller started after a restart) hears at once of the hosts whose connection
  // was lost before: its own connection to them fails the same way.
  void subscribe(std::function<void(const env::HypervisorEvent&)> handler) override {
    for (model::HostIndex host = 0; host < world_.connection_lost_.size(); ++host) {
      if (!world_.connection_lost_[host]) continue;
      world_.loop_.post([handler, host] {
        handler({env::HypervisorEvent::Kind::host_connection_lost, host, model::kNoIndex});
      });
    }
    world_.hypervisor_handlers_.push_back(std::move(handler));
  }

 private:
  // A call that never gets an answer: shown in the timeline as a failed instant, no completion.
  void hang(TimelineStep step, const char* why) {
    step.start_s = step.end_s = world_.loop_.now_s();
    step.finished = true;
    step.ok = false;
    step.error = why;
    world_.timeline_.push_back(std::move(step));
  }

  SimWorld& world_;
};

class SimStorage final : public env::Storage {
 public:
  explicit SimStorage(SimWorld& world) : world_(world) {}

  void map_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                 env::DiskCompletion done) override {
    run(env::StepKind::disk_map, array, host, std::move(disks), std::move(done));
  }
  void unmap_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                   env::DiskCompletion done) override {
    run(env::StepKind::disk_unmap, array, host, std::move(disks), std::move(done));
  }

 private:
  void run(env::StepKind kind, model::ArrayIndex array, model::HostIndex host,
           std::vector<model::DiskIndex> disks, env::DiskCompletion done) {
    auto& w = world_;
    auto shared_done = std::make_shared<env::DiskCompletion>(std::move(done));
    for (auto disk : disks) {
      auto vm = w.cloud_.disks[disk].vm;
      if (w.cloud_.disks[disk].array != array) {
        w.loop_.post([shared_done, disk] {
          (*shared_done)(disk, env::OperationResult::failure("disk is not on that array", true));
        });
        continue;
      }
      TimelineStep step;
      step.kind = kind;
      step.vm = vm;
      step.host = host;
      step.disk = disk;
      step.attempt = w.next_attempt(kind, vm, disk);
      SimWorld::Resources resources;
      resources.array = array;
      resources.global = true;
      bool fails = w.take_failure(kind, vm, disk);
      double duration = w.base_duration_s(kind, vm, disk, step.attempt) * w.slow_factor(resources, host);
      auto id = w.begin(std::move(step), resources, model::kNoIndex);
      w.in_flight_[id].timer =
          w.loop_.schedule_after(duration, [this, id, kind, host, disk, fails, shared_done] {
            auto& world = world_;
            world.finish(id, !fails, fails ? "injected failure" : "");
            if (fails) {
              (*shared_done)(disk, env::OperationResult::failure(std::string(env::to_string(kind)) +
                                                                 " failed (injected)"));
              return;
            }
            auto& hosts = world.disk_hosts_[disk];
            if (kind == env::StepKind::disk_map) {
              if (!contains(hosts, host)) hosts.push_back(host);
            } else {
              erase_value(hosts, host);
            }
            (*shared_done)(disk, env::OperationResult::success());
          });
    }
  }

  SimWorld& world_;
};

class SimNetwork final : public env::Network {
 public:
  explicit SimNetwork(SimWorld& world) : world_(world) {}

  void configure_vm_networks(model::SwitchIndex network_switch, model::HostIndex host, model::VmIndex vm,
                             env::Completion done) override {
    auto& w = world_;
    TimelineStep step;
    step.kind = env::StepKind::net_config;
    step.vm = vm;
    step.host = host;
    step.attempt = w.next_attempt(env::StepKind::net_config, vm, model::kNoIndex);
    SimWorld::Resources resources;
    resources.network_switch = network_switch;
    resources.global = true;
    bool fails = w.take_failure(env::StepKind::net_config, vm, model::kNoIndex);
    double duration = w.base_duration_s(env::StepKind::net_config, vm, model::kNoIndex, step.attempt) *
                      w.slow_factor(resources, host);
    auto id = w.begin(std::move(step), resources, model::kNoIndex);
    w.in_flight_[id].timer = w.loop_.schedule_after(duration, [this, id, fails, done = std::move(done)] {
      world_.finish(id, !fails, fails ? "injected failure" : "");
      done(fails ? env::OperationResult::failure("net_config failed (injected)")
                 : env::OperationResult::success());
    });
  }

 private:
  SimWorld& world_;
};

class SimFencer final : public env::Fencer {
 public:
  explicit SimFencer(SimWorld& world) : world_(world) {}

  void fence(model::HostIndex host, env::Completion done) override {
    auto& w = world_;
    TimelineStep step;
    step.kind = env::StepKind::fence;
    step.host = host;
    step.attempt = w.next_attempt(env::StepKind::fence, host, model::kNoIndex);
    bool fails = w.take_failure(env::StepKind::fence, host, model::kNoIndex);
    SimWorld::Resources resources;
    resources.fence = true;
    double duration = w.base_duration_s(env::StepKind::fence, host, model::kNoIndex, step.attempt) *
                      w.slow_factor(resources, host);
    auto id = w.begin(std::move(step), resources, model::kNoIndex);
    w.in_flight_[id].timer =
        w.loop_.schedule_after(duration, [this, id, host, fails, done = std::move(done)] {
          auto& world = world_;
          if (fails) {
            world.finish(id, false, "injected failure");
            done(env::OperationResult::failure("fence failed (injected): power state not confirmed off"));
            return;
          }
          world.finish(id, true, "");
          world.power_off(host);
          world.fenced_[host] = true;
          done(env::OperationResult::success());
        });
  }

  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override {
    world_.loop_.schedule_after(0.1, [this, host, done = std::move(done)] {
      done(env::OperationResult::success(),
           world_.powered_[host] ? env::PowerState::on : env::PowerState::off);
    });
  }

 private:
  SimWorld& world_;
};

class SimCalls final : public env::CallsInProgress {
 public:
  explicit SimCalls(SimWorld& world) : world_(world) {}

  void in_progress(const env::Call& call, std::function<void(bool)> done) override {
    bool running = false;
    for (const auto& [id, flight] : world_.in_flight_) {
      const auto& step = world_.timeline_[flight.step];
      if (step.kind != call.kind || step.host != call.host) continue;
      if (call.vm != model::kNoIndex && step.vm != call.vm) continue;
      if (call.disk != model::kNoIndex && step.disk != call.disk) continue;
      if (call.from != model::kNoIndex && step.from != call.from) continue;
      running = true;
      break;
    }
    world_.loop_.post([running, done = std::move(done)] { done(running); });
  }

 private:
  SimWorld& world_;
};

// ---- the world --------------------------------------------------------------------------------------------

SimWorld::SimWorld(const model::Cloud& cloud, const Scenario& scenario, SimEventLoop& loop,
                   std::uint32_t global_max_parallel)
    : cloud_(cloud), scenario_(scenario), loop_(loop), global_max_parallel_(global_max_parallel) {
  auto host_count = cloud.hosts.size();
  powered_.assign(host_count, true);
  reachable_.assign(host_count, true);
  fenced_.assign(host_count, false);
  confirmed_off_.assign(host_count, false);
  agent_cut_.assign(host_count, false);
  lease_cut_.assign(host_count, false);
  vms_running_on_host_.resize(host_count);
  for (std::size_t h = 0; h < host_count; ++h) {
    if (cloud.hosts[h].state == model::HostState::down) {
      powered_[h] = reachable_[h] = false;
    }
  }
  copies_.resize(cloud.vms.size());
  ran_on_.resize(cloud.vms.size());
  running_since_.assign(cloud.vms.size(), -1.0);
  disk_hosts_.resize(cloud.disks.size());
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    auto host = cloud.vms[v].host;
    if (host == model::kNoIndex) continue;
    for (auto d = cloud.vms[v].first_disk; d < cloud.vm_disk_end(v); ++d) disk_hosts_[d].push_back(host);
    if (powered_[host]) {
      copies_[v].push_back(host);
      ran_on_[v].push_back(host);
      vms_running_on_host_[host].push_back(v);
      running_since_[v] = 0.0;
    }
  }
  array_busy_.assign(cloud.arrays.size(), 0);
  endpoint_busy_.assign(cloud.endpoints.size(), 0);
  switch_busy_.assign(cloud.switches.size(), 0);
  host_starts_busy_.assign(host_count, 0);
  host_migrations_busy_.assign(host_count, 0);
  SimMigrations::Options migration_options;
  migration_options.parameters.setup_s = scenario.migration.setup_s;
  migration_options.parameters.downtime_ms = scenario.migration.downtime_ms;
  migration_options.seed = scenario.seed;
  migrations_ = std::make_unique<SimMigrations>(cloud, loop, migration_options);
  hypervisor_ = std::make_unique<SimHypervisor>(*this);
  storage_ = std::make_unique<SimStorage>(*this);
  network_ = std::make_unique<SimNetwork>(*this);
  fencer_ = std::make_unique<SimFencer>(*this);
  calls_ = std::make_unique<SimCalls>(*this);
}

SimWorld::~SimWorld() = default;

env::Hypervisor& SimWorld::hypervisor() {
  return *hypervisor_;
}
env::Storage& SimWorld::storage() {
  return *storage_;
}
env::Network& SimWorld::network() {
  return *network_;
}
env::Fencer& SimWorld::fencer() {
  return *fencer_;
}
env::CallsInProgress& SimWorld::calls() {
  return *calls_;
}

double SimWorld::base_duration_s(env::StepKind kind, model::Index subject, model::DiskIndex disk,
                                 std::uint32_t attempt) const {
  return draw_duration(scenario_.latency.of(kind), scenario_.seed, kind, subject, disk, attempt,
                       scenario_.latency.repeatability);
}

std::uint32_t SimWorld::next_attempt(env::StepKind kind, model::Index subject, model::DiskIndex disk) {
  return attempts_[attempt_key(kind, subject, disk)]++;
}

bool SimWorld::take_failure(env::StepKind kind, model::Index subject, model::DiskIndex disk) {
  for (auto& armed : armed_failures_) {
    if (armed.remaining == 0 || armed.kind != kind || armed.subject != subject) continue;
    if (armed.disk != model::kNoIndex && armed.disk != disk) continue;
    --armed.remaining;
    return true;
  }
  return false;
}

double SimWorld::slow_factor(const Resources& resources, model::HostIndex host) const {
  double factor = 1.0;
  double now = loop_.now_s();
  for (const auto& slow : slowdowns_) {
    if (now < slow.from_s || now >= slow.until_s) continue;
    bool applies = (slow.kind == ResourceKind::array && slow.resource == resources.array) ||
                   (slow.kind == ResourceKind::endpoint && slow.resource == resources.endpoint) ||
                   (slow.kind == ResourceKind::network_switch && slow.resource == resources.network_switch) ||
                   (slow.kind == ResourceKind::host && !resources.fence && slow.resource == host) ||
                   (slow.kind == ResourceKind::bmc && resources.fence && slow.resource == host);
    if (applies) factor *= slow.factor;
  }
  return factor;
}

void SimWorld::violation(std::string text) {
  violations_.push_back(std::move(text));
}

std::string SimWorld::describe(const TimelineStep& step) const {
  std::string text(env::to_string(step.kind));
  if (step.vm != model::kNoIndex) text += " of " + cloud_.vms[step.vm].name;
  if (step.disk != model::kNoIndex) text += " disk " + cloud_.disks[step.disk].name;
  if (step.host != model::kNoIndex) text += " on " + cloud_.hosts[step.host].name;
  return text + fmt::format(" at {:.3f} s", step.start_s);
}

void SimWorld::claim(const Resources& resources, std::size_t step) {
  auto over = [&](const char* what, const std::string& name, std::uint32_t busy, std::uint32_t limit) {
    if (busy > limit) {
      violation(fmt::format("{} {} runs {} operations at once (limit {}): {}", what, name, busy, limit,
                            describe(timeline_[step])));
    }
  };
  if (resources.array != model::kNoIndex) {
    auto busy = ++array_busy_[resources.array];
    peak_in_flight_ = std::max(peak_in_flight_, busy);
    over("array", cloud_.arrays[resources.array].name, busy, cloud_.arrays[resources.array].max_parallel);
  }
  for (auto endpoint : {resources.endpoint, resources.second_endpoint}) {
    if (endpoint == model::kNoIndex) continue;
    auto busy = ++endpoint_busy_[endpoint];
    peak_in_flight_ = std::max(peak_in_flight_, busy);
    over("endpoint", cloud_.endpoints[endpoint].name, busy, cloud_.endpoints[endpoint].max_parallel);
  }
  if (resources.network_switch != model::kNoIndex) {
    auto busy = ++switch_busy_[resources.network_switch];
    over("switch", cloud_.switches[resources.network_switch].name, busy,
         cloud_.switches[resources.network_switch].max_parallel);
  }
  if (resources.start_host != model::kNoIndex) {
    auto busy = ++host_starts_busy_[resources.start_host];
    over("host", cloud_.hosts[resources.start_host].name, busy, cloud_.policy.host_max_parallel_restarts);
  }
  if (resources.fence) {
    ++fences_busy_;
    over("fencing", "(the cloud's fences)", fences_busy_, cloud_.policy.fence_max_parallel);
  }
  if (resources.global) {
    ++global_busy_;
    if (global_max_parallel_ != 0) over("the controller", "(global)", global_busy_, global_max_parallel_);
  }
  for (auto host : {resources.migrate_from, resources.migrate_to}) {
    if (host == model::kNoIndex) continue;
    auto busy = ++host_migrations_busy_[host];
    peak_migrations_per_host_ = std::max(peak_migrations_per_host_, busy);
    over("host (migrations)", cloud_.hosts[host].name, busy, cloud_.policy.host_max_parallel_migrations);
  }
}

void SimWorld::release(const Resources& resources) {
  if (resources.migrate_from != model::kNoIndex) --host_migrations_busy_[resources.migrate_from];
  if (resources.migrate_to != model::kNoIndex) --host_migrations_busy_[resources.migrate_to];
  if (resources.array != model::kNoIndex) --array_busy_[resources.array];
  if (resources.endpoint != model::kNoIndex) --endpoint_busy_[resources.endpoint];
  if (resources.second_endpoint != model::kNoIndex) --endpoint_busy_[resources.second_endpoint];
  if (resources.network_switch != model::kNoIndex) --switch_busy_[resources.network_switch];
  if (resources.start_host != model::kNoIndex) --host_starts_busy_[resources.start_host];
  if (resources.global) --global_busy_;
  if (resources.fence) --fences_busy_;
}

std::uint64_t SimWorld::begin(TimelineStep step, const Resources& resources,
                              model::HostIndex hypervisor_host) {
  step.start_s = loop_.now_s();
  auto index = timeline_.size();
  timeline_.push_back(std::move(step));
  claim(resources, index);
  auto id = next_in_flight_++;
  in_flight_.emplace(id, InFlight{index, resources, 0, hypervisor_host});
  return id;
}

void SimWorld::finish(std::uint64_t id, bool ok, const std::string& error) {
  auto found = in_flight_.find(id);
  if (found == in_flight_.end()) return;
  release(found->second.resources);
  auto& step = timeline_[found->second.step];
  step.end_s = loop_.now_s();
  step.ok = ok;
  step.finished = true;
  step.error = error;
  in_flight_.erase(found);
}

void SimWorld::power_off(model::HostIndex host) {
  powered_[host] = false;
  reachable_[host] = false;
  for (auto vm : vms_running_on_host_[host]) erase_value(copies_[vm], host);
  vms_running_on_host_[host].clear();
  // Hypervisor calls in flight on the host end with it; their callers never hear back. Migrations to it end
  // too (the source keeps the VM; the engine hears of the failure).
  std::vector<std::uint64_t> ended;
  for (const auto& [id, flight] : in_flight_) {
    if (flight.hypervisor_host == host) ended.push_back(id);
  }
  migrations_->abort_host(host, "host lost power");
  std::sort(ended.begin(), ended.end());
  for (auto id : ended) {
    loop_.cancel(in_flight_[id].timer);
    finish(id, false, "host lost power");
  }
}

void SimWorld::crash_host(model::HostIndex host) {
  if (!powered_[host]) return;
  power_off(host);
  connection_lost_[host] = true;
  for (const auto& handler : hypervisor_handlers_) {
    handler({env::HypervisorEvent::Kind::host_connection_lost, host, model::kNoIndex});
  }
}

void SimWorld::isolate_host(model::HostIndex host, const CutChannels& cut) {
  if (cut.agent) agent_cut_[host] = true;
  if (cut.storage) lease_cut_[host] = true;
  if (!cut.hypervisor || !reachable_[host]) return;
  reachable_[host] = false;
  connection_lost_[host] = true;
  for (const auto& handler : hypervisor_handlers_) {
    handler({env::HypervisorEvent::Kind::host_connection_lost, host, model::kNoIndex});
  }
}

model::HostIndex SimWorld::crash_vm(model::VmIndex vm) {
  // A guest on a host cut off from the controller does not crash in this model: nobody could hear of it
  // until the host is reachable again, which never happens in a scenario.
  if (copies_[vm].empty() || !reachable_[copies_[vm].front()]) return model::kNoIndex;
  auto host = copies_[vm].front();
  copies_[vm].erase(copies_[vm].begin());
  erase_value(ran_on_[vm], host);  // its hypervisor reports the stop: proven stopped there
  for (const auto& handler : hypervisor_handlers_) {
    handler({env::HypervisorEvent::Kind::vm_crashed, host, vm, "crashed"});
  }
  return host;
}

void SimWorld::confirm_off(model::HostIndex host) {
  if (powered_[host]) power_off(host);
  confirmed_off_[host] = true;
  fenced_[host] = true;
}

void SimWorld::arm_fail_step(const ScenarioEvent& event) {
  armed_failures_.push_back({event.step, event.vm, event.disk, event.times});
}

void SimWorld::add_slowdown(const ScenarioEvent& event) {
  slowdowns_.push_back({event.resource_kind, event.resource, event.factor, event.at_s, event.until_s});
}

void SimWorld::check_start_allowed(model::VmIndex vm, model::HostIndex target) {
  const auto& name = cloud_.vms[vm].name;
  double now = loop_.now_s();
  for (auto host : copies_[vm]) {
    if (host != target) {
      violation(fmt::format("{} started on {} at {:.3f} s while it still runs on {}", name,
                            cloud_.hosts[target].name, now, cloud_.hosts[host].name));
    }
  }
  for (auto host : ran_on_[vm]) {
    if (host != target && !fenced_[host]) {
      violation(fmt::format("{} started on {} at {:.3f} s before {} (where it ran) was fenced", name,
                            cloud_.hosts[target].name, now, cloud_.hosts[host].name));
    }
  }
  for (auto d = cloud_.vms[vm].first_disk; d < cloud_.vm_disk_end(vm); ++d) {
    const auto& hosts = disk_hosts_[d];
    if (!contains(hosts, target)) {
      violation(fmt::format("{} started on {} at {:.3f} s before its disk {} was mapped there", name,
                            cloud_.hosts[target].name, now, cloud_.disks[d].name));
    }
    for (auto host : hosts) {
      if (host != target) {
        violation(fmt::format("{} started on {} at {:.3f} s while its disk {} is still mapped to {}", name,
                              cloud_.hosts[target].name, now, cloud_.disks[d].name, cloud_.hosts[host].name));
      }
    }
  }
}

double SimEstimator::expected_s(env::StepKind kind, model::Index subject, model::DiskIndex disk) const {
  switch (mode_) {
    case Mode::median:
      return scenario_.latency.of(kind).median_s;
    case Mode::history:
      return habit_duration(scenario_.latency.of(kind), kind, subject, scenario_.latency.repeatability);
    case Mode::clairvoyant:
      return world_.base_duration_s(kind, subject, disk, 0);
  }
  return scenario_.latency.of(kind).median_s;
}

std::optional<double> SimEstimator::noise_spread(env::StepKind kind) const {
  double spread = scenario_.latency.of(kind).spread;
  switch (mode_) {
    case Mode::median:
      return spread;
    case Mode::history:
      return spread * std::sqrt(1.0 - std::clamp(scenario_.latency.repeatability, 0.0, 1.0));
    case Mode::clairvoyant:
      return 0.0;
  }
  return spread;
}

}  // namespace revive::sim

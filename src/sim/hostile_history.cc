#include "sim/hostile_history.h"

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "model/generator.h"

namespace revive::sim {

namespace {

// Draws of our own on std::mt19937_64 (whose sequence the standard fixes), so histories are the same on
// every standard library.
class Draws {
 public:
  explicit Draws(std::uint64_t seed) : engine_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}
  // Uniform in [low, high].
  std::uint64_t between(std::uint64_t low, std::uint64_t high) { return low + engine_() % (high - low + 1); }
  double real(double low, double high) {
    return low + (high - low) * static_cast<double>(engine_() >> 11) * 0x1.0p-53;
  }
  bool percent(std::uint64_t chance) { return between(1, 100) <= chance; }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[between(0, items.size() - 1)];
  }

 private:
  std::mt19937_64 engine_;
};

double round_to(double value, double step) {
  return static_cast<double>(static_cast<std::int64_t>(value / step + 0.5)) * step;
}

// Removes the disks of about `share` of the VMs (a VM without disks is valid inventory: no storage proof of
// a fence protects it), keeping disks grouped per VM in VM order.
std::uint32_t drop_disks(model::Cloud& cloud, Draws& draws, std::uint64_t share_percent) {
  std::vector<model::Disk> kept;
  std::uint32_t diskless = 0;
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    auto& vm = cloud.vms[v];
    bool drop = vm.disk_count > 0 && draws.percent(share_percent);
    auto first = static_cast<model::DiskIndex>(kept.size());
    if (!drop) {
      for (auto d = vm.first_disk; d < vm.first_disk + vm.disk_count; ++d) kept.push_back(cloud.disks[d]);
    }
    vm.first_disk = first;
    vm.disk_count = static_cast<std::uint32_t>(kept.size() - first);
    if (vm.disk_count == 0) ++diskless;
  }
  cloud.disks = std::move(kept);
  return diskless;
}

class HistoryBuilder {
 public:
  HistoryBuilder(std::uint64_t seed, HostileHistory& history, const HostileHistoryOptions& options)
      : draws_(seed), history_(history), cloud_(history.cloud), options_(options) {}

  void build() {
    make_cloud();
    auto& scenario = history_.scenario;
    scenario.file = fmt::format("hostile-{}", history_.seed);
    scenario.seed = history_.seed;
    if (draws_.percent(90)) {
      scenario.latency.detect = Latency{static_cast<double>(draws_.between(3, 10)), 0.0};
      notes_.push_back(fmt::format("detect {:g} s", scenario.latency.detect->median_s));
    } else {
      notes_.push_back("real detector");
    }
    scenario.latency.vm_start.median_s = static_cast<double>(draws_.between(30, 90));
    affected_.assign(cloud_.hosts.size(), false);
    free_memory_mib_.assign(cloud_.hosts.size(), 0.0);
    for (model::HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      free_memory_mib_[h] = cloud_.usable_memory_mib(h);
    }
    for (const auto& vm : cloud_.vms) {
      if (vm.host != model::kNoIndex) free_memory_mib_[vm.host] -= static_cast<double>(vm.memory_mib);
    }

    auto motifs = draws_.between(2, 5);
    for (std::uint64_t m = 0; m < motifs; ++m) add_motif();
    add_controller_restarts();
    add_vm_crashes_and_confirmations();
    std::stable_sort(scenario.events.begin(), scenario.events.end(),
                     [](const ScenarioEvent& a, const ScenarioEvent& b) { return a.at_s < b.at_s; });

    auto diskless = std::count_if(cloud_.vms.begin(), cloud_.vms.end(),
                                  [](const model::Vm& vm) { return vm.disk_count == 0; });
    std::string text = fmt::format("seed {}: {} hosts, {} VMs ({} without disks), endpoints max_parallel",
                                   history_.seed, cloud_.hosts.size(), cloud_.vms.size(), diskless);
    for (const auto& endpoint : cloud_.endpoints) text += fmt::format(" {}", endpoint.max_parallel);
    for (const auto& note : notes_) text += "; " + note;
    history_.description = std::move(text);
  }

 private:
  void make_cloud() {
    model::GeneratorOptions options;
    options.hosts = static_cast<std::uint32_t>(draws_.between(6, 20));
    options.vms = static_cast<std::uint32_t>(draws_.between(20, 120));
    options.seed = draws_.between(1, 1u << 30);
    options.racks =
        static_cast<std::uint32_t>(draws_.between(1, std::min<std::uint32_t>(4, options.hosts / 2)));
    options.arrays = static_cast<std::uint32_t>(draws_.between(1, 3));
    options.reserved_hosts = static_cast<std::uint32_t>(draws_.between(0, 2));
    options.memory_load = draws_.real(0.35, 0.75);
    options.hosts_per_endpoint = static_cast<std::uint32_t>(draws_.between(3, 10));
    options.switches = draws_.percent(80);
    options.cpu_overcommit = round_to(draws_.real(2.0, 8.0), 0.25);
    options.dirty_rate_scale = draws_.pick(std::vector<double>{0.3, 1.0, 1.0, 3.0});
    for (int attempt = 0;; ++attempt) {
      try {
        cloud_ = model::generate_cloud(options);
        break;
      } catch (const model::GeneratorError&) {
        // Too many VMs for the hosts at this load: fewer VMs, a higher load.
        if (attempt == 20) throw;
        options.vms = std::max<std::uint32_t>(20, options.vms * 3 / 4);
        options.memory_load = std::min(0.85, options.memory_load + 0.05);
      }
    }
    drop_disks(cloud_, draws_, draws_.pick(std::vector<std::uint64_t>{10, 25, 50}));
    for (auto& endpoint : cloud_.endpoints)
      endpoint.max_parallel = static_cast<std::uint32_t>(draws_.between(1, 4));
    for (auto& array : cloud_.arrays) array.max_parallel = static_cast<std::uint32_t>(draws_.between(1, 8));
    for (auto& network_switch : cloud_.switches) {
      network_switch.max_parallel = static_cast<std::uint32_t>(draws_.between(1, 4));
    }
    cloud_.policy.host_max_parallel_restarts = static_cast<std::uint32_t>(draws_.between(1, 8));
    cloud_.policy.host_max_parallel_migrations = static_cast<std::uint32_t>(draws_.between(1, 4));
    cloud_.rebuild_indexes();
  }

  const std::string& name(model::HostIndex host) const { return cloud_.hosts[host].name; }

  std::size_t affected_count() const {
    return static_cast<std::size_t>(std::count(affected_.begin(), affected_.end(), true));
  }
  // Hosts may still be taken: at least three stay untouched.
  bool can_take_host() const { return affected_count() + 3 < cloud_.hosts.size(); }

  // A host no motif touched yet that runs VMs (a recovery or drain there has work), or kNoIndex.
  model::HostIndex take_loaded_host() {
    std::vector<model::HostIndex> candidates;
    for (model::HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (!affected_[h] && !cloud_.vms_on(h).empty()) candidates.push_back(h);
    }
    if (candidates.empty() || !can_take_host()) return model::kNoIndex;
    auto host = draws_.pick(candidates);
    affected_[host] = true;
    return host;
  }

  // A host no motif touched yet, likely to receive restarts or migrations: one of the three with the most
  // free memory (spares first); kNoIndex when none is left.
  model::HostIndex take_likely_target() {
    std::vector<model::HostIndex> candidates;
    for (model::HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      if (!affected_[h]) candidates.push_back(h);
    }
    if (candidates.empty() || !can_take_host()) return model::kNoIndex;
    std::sort(candidates.begin(), candidates.end(), [this](model::HostIndex a, model::HostIndex b) {
      return free_memory_mib_[a] > free_memory_mib_[b];
    });
    candidates.resize(std::min<std::size_t>(3, candidates.size()));
    auto host = draws_.pick(candidates);
    affected_[host] = true;
    return host;
  }

  // Protected VMs of `host`, those without disks first when `diskless_first`.
  std::vector<model::VmIndex> protected_vms_on(model::HostIndex host, bool diskless_first = false) const {
    std::vector<model::VmIndex> vms;
    for (auto v : cloud_.vms_on(host)) {
      if (cloud_.vms[v].protect) vms.push_back(v);
    }
    if (diskless_first) {
      std::stable_partition(vms.begin(), vms.end(),
                            [this](model::VmIndex v) { return cloud_.vms[v].disk_count == 0; });
    }
    return vms;
  }

  void add_host_event(ScenarioEvent::Kind kind, double at_s, std::vector<model::HostIndex> hosts,
                      std::optional<CutChannels> channels = std::nullopt) {
    ScenarioEvent event;
    event.kind = kind;
    event.at_s = round_to(at_s, 0.5);
    event.hosts = std::move(hosts);
    // With a fixed detect an isolation here cuts the storage lease too, so that the host is declared failed
    // and fenced: the histories lose recovery targets and migration sources mid-operation. (With the real
    // detector an isolated host keeps its lease and is left alone.)
    if (kind == ScenarioEvent::Kind::isolate && history_.scenario.latency.detect) {
      event.channels = {true, true, true};
    }
    if (channels) event.channels = *channels;
    history_.scenario.events.push_back(std::move(event));
  }
  void add_operator_event(ScenarioEvent::Kind kind, double at_s, std::vector<model::HostIndex> hosts,
                          bool fail_back = false) {
    ScenarioEvent event;
    event.kind = kind;
    event.at_s = round_to(at_s, 0.5);
    event.hosts = std::move(hosts);
    event.fail_back = fail_back;
    history_.scenario.events.push_back(std::move(event));
  }
  void add_evacuation(double at_s, std::vector<model::HostIndex> hosts, double deadline_s) {
    ScenarioEvent event;
    event.kind = ScenarioEvent::Kind::evacuate;
    event.at_s = round_to(at_s, 0.5);
    event.hosts = std::move(hosts);
    event.deadline_s = round_to(deadline_s, 10.0);
    event.reason = draws_.percent(70) ? "maintenance" : "predicted-failure";
    history_.scenario.events.push_back(std::move(event));
  }
  void add_fail_step(double at_s, env::StepKind step, model::Index subject, std::uint32_t times) {
    ScenarioEvent event;
    event.kind = ScenarioEvent::Kind::fail_step;
    event.at_s = round_to(at_s, 0.5);
    event.step = step;
    event.vm = subject;
    if (step == env::StepKind::fence) event.hosts = {subject};
    event.times = times;
    history_.scenario.events.push_back(std::move(event));
  }
  void add_slowdown(double at_s, ResourceKind kind, model::Index resource, double factor, double until_s) {
    ScenarioEvent event;
    event.kind = ScenarioEvent::Kind::slow_step;
    event.at_s = round_to(at_s, 0.5);
    event.resource_kind = kind;
    event.resource = resource;
    event.factor = factor;
    event.until_s = round_to(until_s, 10.0);
    history_.scenario.events.push_back(std::move(event));
  }
  ScenarioEvent::Kind crash_or_isolate(std::uint64_t isolate_percent) {
    return draws_.percent(isolate_percent) ? ScenarioEvent::Kind::isolate : ScenarioEvent::Kind::fail;
  }
  const char* verb(ScenarioEvent::Kind kind) const {
    return kind == ScenarioEvent::Kind::isolate ? "isolate" : "crash";
  }

  void add_motif() {
    double at = round_to(draws_.real(0.0, 300.0), 0.5);
    switch (draws_.between(0, 11)) {
      case 8:
        return partial_isolation(at);
      case 9:
        return bmc_trouble(at);
      case 10:
        return drain_then_operator(at);
      case 0:
        return recovery_target_lost(at);
      case 1:
        return start_timeout_then_fast_failures(at);
      case 2:
        return migration_source_isolated(at);
      case 3:
        return two_drains(at);
      case 4:
        return slow_array_during_recovery(at);
      case 5:
        return recovery_then_drain_of_its_target(at);
      case 6:
        return plain_loss(at);
      default:
        return random_fail_steps(at);
    }
  }

  // A host lost, then (during its recovery) one of the hosts its VMs are likely restarted onto, diskless VMs
  // of it slowed so that their starts are in flight when the target goes.
  void recovery_target_lost(double at) {
    auto lost = take_loaded_host();
    if (lost == model::kNoIndex) return;
    auto lost_kind = crash_or_isolate(30);
    add_host_event(lost_kind, at, {lost});
    auto target = take_likely_target();
    if (target == model::kNoIndex) return;
    auto target_kind = crash_or_isolate(60);
    double delay = draws_.real(15.0, 120.0);
    add_host_event(target_kind, at + delay, {target});
    if (draws_.percent(50)) add_slowdown(at, ResourceKind::host, target, draws_.real(2.0, 4.0), at + 600.0);
    notes_.push_back(fmt::format("{} {} at {:g}, then {} target {} at +{:.0f}", verb(lost_kind), name(lost),
                                 at, verb(target_kind), name(target), delay));
  }

  // A host lost; a likely target (or its endpoint) slowed x10-x15 so a first start there outlives its
  // timeout, and the next attempts of some of the VMs' starts fail fast.
  void start_timeout_then_fast_failures(double at) {
    auto lost = take_loaded_host();
    if (lost == model::kNoIndex) return;
    auto lost_kind = crash_or_isolate(25);
    add_host_event(lost_kind, at, {lost});
    double factor = static_cast<double>(draws_.between(10, 15));
    double until = at + draws_.real(600.0, 2400.0);
    std::string slowed;
    if (draws_.percent(70)) {
      auto target = take_likely_target();
      if (target == model::kNoIndex) return;
      add_slowdown(at, ResourceKind::host, target, factor, until);
      slowed = name(target);
    } else {
      auto endpoint = draws_.between(0, cloud_.endpoints.size() - 1);
      add_slowdown(at, ResourceKind::endpoint, static_cast<model::Index>(endpoint), factor, until);
      slowed = cloud_.endpoints[endpoint].name;
    }
    auto vms = protected_vms_on(lost, draws_.percent(50));
    auto count = std::min<std::size_t>(vms.size(), draws_.between(1, 4));
    double armed = at + draws_.real(20.0, 90.0);
    for (std::size_t i = 0; i < count; ++i) {
      add_fail_step(armed, env::StepKind::vm_start, vms[i], static_cast<std::uint32_t>(draws_.between(2, 3)));
    }
    notes_.push_back(fmt::format("{} {} at {:g}, {} x{:g} until {:.0f}, {} starts fail from {:.0f}",
                                 verb(lost_kind), name(lost), at, slowed, factor, until, count, armed));
  }

  // A drain whose host is isolated (or crashes) while its migrations are in flight.
  void migration_source_isolated(double at) {
    auto source = take_loaded_host();
    if (source == model::kNoIndex) return;
    double deadline = draws_.real(200.0, 1200.0);
    add_evacuation(at, {source}, deadline);
    auto kind = crash_or_isolate(75);
    double delay = draws_.real(3.0, 60.0);
    add_host_event(kind, at + delay, {source});
    notes_.push_back(fmt::format("drain {} at {:g} (deadline {:.0f}), {} it at +{:.0f}", name(source), at,
                                 deadline, verb(kind), delay));
  }

  // Two hosts drained at once, or overlapping, with deadlines.
  void two_drains(double at) {
    auto first = take_loaded_host();
    if (first == model::kNoIndex) return;
    auto second = take_loaded_host();
    if (second == model::kNoIndex) {
      add_evacuation(at, {first}, draws_.real(60.0, 900.0));
      notes_.push_back(fmt::format("drain {} at {:g}", name(first), at));
      return;
    }
    if (draws_.percent(50)) {
      double deadline = draws_.real(60.0, 900.0);
      add_evacuation(at, {first, second}, deadline);
      notes_.push_back(
          fmt::format("drain {} and {} at {:g} (deadline {:.0f})", name(first), name(second), at, deadline));
    } else {
      double delay = draws_.real(5.0, 120.0);
      add_evacuation(at, {first}, draws_.real(120.0, 900.0));
      add_evacuation(at + delay, {second}, draws_.real(60.0, 900.0));
      notes_.push_back(fmt::format("drain {} at {:g}, {} at +{:.0f}", name(first), at, name(second), delay));
    }
  }

  // A host lost while the array of its VMs' disks is slowed x10-x15: maps and unmaps outlive their timeouts.
  void slow_array_during_recovery(double at) {
    auto lost = take_loaded_host();
    if (lost == model::kNoIndex) return;
    auto kind = crash_or_isolate(30);
    add_host_event(kind, at, {lost});
    model::ArrayIndex array = 0;
    for (auto v : protected_vms_on(lost)) {
      if (cloud_.vms[v].disk_count > 0) {
        array = cloud_.disks[cloud_.vms[v].first_disk].array;
        break;
      }
    }
    double factor = static_cast<double>(draws_.between(10, 15));
    double until = at + draws_.real(300.0, 2000.0);
    add_slowdown(at, ResourceKind::array, array, factor, until);
    notes_.push_back(fmt::format("{} {} at {:g}, {} x{:g} until {:.0f}", verb(kind), name(lost), at,
                                 cloud_.arrays[array].name, factor, until));
  }

  // A host lost; later a likely target of its VMs is drained (restarts onto a host drained later must leave).
  void recovery_then_drain_of_its_target(double at) {
    auto lost = take_loaded_host();
    if (lost == model::kNoIndex) return;
    add_host_event(ScenarioEvent::Kind::fail, at, {lost});
    auto target = take_likely_target();
    if (target == model::kNoIndex) return;
    double delay = draws_.real(20.0, 240.0);
    double deadline = draws_.real(120.0, 900.0);
    add_evacuation(at + delay, {target}, deadline);
    notes_.push_back(fmt::format("crash {} at {:g}, drain target {} at +{:.0f} (deadline {:.0f})", name(lost),
                                 at, name(target), delay, deadline));
  }

  // One or two hosts crashed or isolated at once, the fence of one failing first now and then.
  void plain_loss(double at) {
    std::vector<model::HostIndex> hosts;
    auto first = take_loaded_host();
    if (first == model::kNoIndex) return;
    hosts.push_back(first);
    if (draws_.percent(40)) {
      if (auto second = take_loaded_host(); second != model::kNoIndex) hosts.push_back(second);
    }
    auto kind = crash_or_isolate(40);
    add_host_event(kind, at, hosts);
    if (draws_.percent(30)) {
      add_fail_step(at, env::StepKind::fence, hosts.front(),
                    static_cast<std::uint32_t>(draws_.between(1, 2)));
    }
    notes_.push_back(
        fmt::format("{} {}{} at {:g}", verb(kind), name(first), hosts.size() > 1 ? " +1" : "", at));
  }

  // A host isolated with some of its channels cut, not all (agent only, hypervisor only, its lease only, or
  // two of them): cut off, not dead -- never fenced, its VMs keep running. Now and then a drain of it while
  // so, or a later crash or the rest of its channels cut.
  void partial_isolation(double at) {
    auto host = take_loaded_host();
    if (host == model::kNoIndex) return;
    static const std::vector<CutChannels> subsets = {{true, false, false}, {false, true, false},
                                                     {false, false, true}, {true, true, false},
                                                     {true, false, true},  {false, true, true}};
    auto channels = draws_.pick(subsets);
    add_host_event(ScenarioEvent::Kind::isolate, at, {host}, channels);
    std::string note = fmt::format("isolate {} at {:g} (agent {}, hypervisor {}, storage {})", name(host), at,
                                   channels.agent ? "cut" : "on", channels.hypervisor ? "cut" : "on",
                                   channels.storage ? "cut" : "on");
    if (draws_.percent(30)) {
      double delay = draws_.real(-20.0, 60.0);
      double deadline = draws_.real(200.0, 900.0);
      add_evacuation(std::max(0.0, at + delay), {host}, deadline);
      note += fmt::format(", drained at {:+.0f}", delay);
    }
    if (draws_.percent(40)) {
      double delay = draws_.real(10.0, 200.0);
      if (draws_.percent(50)) {
        add_host_event(ScenarioEvent::Kind::fail, at + delay, {host});
        note += fmt::format(", crash at +{:.0f}", delay);
      } else {
        add_host_event(ScenarioEvent::Kind::isolate, at + delay, {host}, CutChannels{true, true, true});
        note += fmt::format(", every channel cut at +{:.0f}", delay);
      }
    }
    notes_.push_back(std::move(note));
  }

  // A host lost whose BMC fails some fences and answers slowly (x3-x40): fences past their timeouts, retries,
  // the next fencing level.
  void bmc_trouble(double at) {
    auto lost = take_loaded_host();
    if (lost == model::kNoIndex) return;
    auto kind = crash_or_isolate(30);
    add_host_event(kind, at, {lost});
    auto failures = static_cast<std::uint32_t>(draws_.between(0, 5));
    if (failures > 0) add_fail_step(at, env::StepKind::fence, lost, failures);
    double factor = static_cast<double>(draws_.between(3, 40));
    double until = at + draws_.real(100.0, 3000.0);
    add_slowdown(at, ResourceKind::bmc, lost, factor, until);
    notes_.push_back(fmt::format("{} {} at {:g}, {} fence failures, its BMC x{:g} until {:.0f}", verb(kind),
                                 name(lost), at, failures, factor, until));
  }

  // A drain the operator changes mid-flight: maintenance exit (with or without fail-back) or cancel while
  // migrations run, some of them failing; now and then a fail-back after the drain finished.
  void drain_then_operator(double at) {
    auto source = take_loaded_host();
    if (source == model::kNoIndex) return;
    double deadline = draws_.real(150.0, 1200.0);
    add_evacuation(at, {source}, deadline);
    std::string note = fmt::format("drain {} at {:g} (deadline {:.0f})", name(source), at, deadline);
    if (draws_.percent(40)) {
      auto vms = protected_vms_on(source);
      auto count = std::min<std::size_t>(vms.size(), draws_.between(1, 3));
      for (std::size_t i = 0; i < count; ++i) {
        add_fail_step(at, env::StepKind::migrate, vms[draws_.between(0, vms.size() - 1)],
                      static_cast<std::uint32_t>(draws_.between(1, 3)));
      }
      note += fmt::format(", {} migrations fail", count);
    }
    double delay = draws_.real(2.0, 150.0);
    switch (draws_.between(0, 2)) {
      case 0:
        add_operator_event(ScenarioEvent::Kind::cancel, at + delay, {source});
        note += fmt::format(", cancelled at +{:.0f}", delay);
        break;
      case 1: {
        bool fail_back = draws_.percent(50);
        add_operator_event(ScenarioEvent::Kind::exit_maintenance, at + delay, {source}, fail_back);
        note += fmt::format(", maintenance exit{} at +{:.0f}", fail_back ? " with fail-back" : "", delay);
        break;
      }
      default: {
        double after = deadline + draws_.real(10.0, 300.0);
        add_operator_event(ScenarioEvent::Kind::exit_maintenance, at + after, {source}, true);
        note += fmt::format(", maintenance exit with fail-back at +{:.0f}", after);
        break;
      }
    }
    if (draws_.percent(20)) {
      double crash = draws_.real(5.0, 300.0);
      add_host_event(crash_or_isolate(50), at + crash, {source});
      note += fmt::format(", lost at +{:.0f}", crash);
    }
    notes_.push_back(std::move(note));
  }

  // Now and then the controller dies right after one of its first journal records -- mid-recovery or
  // mid-drain, with fences, maps, starts, migrations and cold moves in flight -- and a new one resumes from
  // the journal 1-30 s later; once or twice.
  void add_controller_restarts() {
    auto& events = history_.scenario.events;
    if (!options_.controller_restarts || !draws_.percent(45)) return;
    auto restarts = draws_.between(1, 2);
    for (std::uint64_t r = 0; r < restarts; ++r) {
      ScenarioEvent event;
      event.kind = ScenarioEvent::Kind::restart_controller;
      event.at_s = round_to(draws_.real(0.0, 400.0), 0.5);
      event.after_records = static_cast<std::uint32_t>(draws_.between(1, 80));
      event.restart_delay_s = static_cast<double>(draws_.between(1, 30));
      notes_.push_back(fmt::format("controller killed after record {} from {:g}, back {:g} s later",
                                   event.after_records, event.at_s, event.restart_delay_s));
      events.push_back(std::move(event));
    }
  }

  // Drawn after everything else (so the rest of each seed's history is what it was before these existed):
  // now and then guests crash on their own (VM-level restarts in place, and past max_restarts a relocation),
  // sometimes the same one again and again; an operator confirms a lost host off (confirm-down), early
  // (refused before the host is declared), while its fence still tries, or after it failed for good; and
  // fencing is disarmed for a while, or for good.
  void add_vm_crashes_and_confirmations() {
    auto& events = history_.scenario.events;
    if (!cloud_.vms.empty() && draws_.percent(25)) {
      auto crashes = draws_.between(1, 5);
      auto vm = static_cast<model::VmIndex>(draws_.between(0, cloud_.vms.size() - 1));
      for (std::uint64_t c = 0; c < crashes; ++c) {
        if (draws_.percent(40)) vm = static_cast<model::VmIndex>(draws_.between(0, cloud_.vms.size() - 1));
        ScenarioEvent event;
        event.kind = ScenarioEvent::Kind::vm_crash;
        event.at_s = round_to(draws_.real(0.0, 400.0), 0.5);
        event.vm = vm;
        notes_.push_back(fmt::format("{} crashes at {:g}", cloud_.vms[vm].name, event.at_s));
        events.push_back(std::move(event));
      }
    }
    std::vector<const ScenarioEvent*> losses;
    for (const auto& event : events) {
      if (event.kind == ScenarioEvent::Kind::fail || event.kind == ScenarioEvent::Kind::isolate)
        losses.push_back(&event);
    }
    if (!losses.empty() && draws_.percent(30)) {
      const auto& loss = *draws_.pick(losses);
      ScenarioEvent event;
      event.kind = ScenarioEvent::Kind::confirm_down;
      event.at_s = round_to(loss.at_s + draws_.real(0.0, 200.0), 0.5);
      event.hosts = {draws_.pick(loss.hosts)};
      notes_.push_back(
          fmt::format("an operator confirms {} off at {:g}", cloud_.hosts[event.hosts[0]].name, event.at_s));
      events.push_back(std::move(event));
    }
    // An operator disarms fencing for a while (or for good): verdicts are held, then go through at arm.
    if (!draws_.percent(15)) return;
    ScenarioEvent disarm;
    disarm.kind = ScenarioEvent::Kind::fencing;
    disarm.arm = false;
    disarm.at_s = round_to(draws_.real(0.0, 300.0), 0.5);
    events.push_back(disarm);
    if (draws_.percent(20)) {
      notes_.push_back(fmt::format("fencing disarmed at {:g} for good", disarm.at_s));
      return;
    }
    ScenarioEvent arm = disarm;
    arm.arm = true;
    arm.at_s = round_to(disarm.at_s + draws_.real(5.0, 200.0), 0.5);
    notes_.push_back(fmt::format("fencing disarmed at {:g}, armed at {:g}", disarm.at_s, arm.at_s));
    events.push_back(arm);
  }

  // Failing steps of random VMs: starts, disk maps and unmaps, network changes, stops and migrations.
  void random_fail_steps(double at) {
    static const std::vector<env::StepKind> kinds = {env::StepKind::vm_start,   env::StepKind::disk_map,
                                                     env::StepKind::disk_unmap, env::StepKind::net_config,
                                                     env::StepKind::vm_stop,    env::StepKind::migrate};
    auto count = draws_.between(1, 4);
    for (std::uint64_t i = 0; i < count; ++i) {
      auto vm = static_cast<model::VmIndex>(draws_.between(0, cloud_.vms.size() - 1));
      add_fail_step(at + draws_.real(0.0, 200.0), draws_.pick(kinds), vm,
                    static_cast<std::uint32_t>(draws_.between(1, 4)));
    }
    notes_.push_back(fmt::format("{} failing steps from {:g}", count, at));
  }

  Draws draws_;
  HostileHistory& history_;
  model::Cloud& cloud_;
  HostileHistoryOptions options_;
  std::vector<bool> affected_;
  std::vector<double> free_memory_mib_;
  std::vector<std::string> notes_;
};

}  // namespace

std::string scenario_yaml(const HostileHistory& history) {
  const auto& cloud = history.cloud;
  const auto& scenario = history.scenario;
  auto host_list = [&cloud](const std::vector<model::HostIndex>& hosts) {
    std::string text;
    for (auto host : hosts) text += (text.empty() ? "" : ", ") + cloud.hosts[host].name;
    return "[" + text + "]";
  };
  auto latency = [](const Latency& value) {
    return fmt::format("{{median: {}, spread: {}}}", value.median_s, value.spread);
  };
  std::string text =
      fmt::format("# {}\nversion: 1\nseed: {}\nlatency:\n", history.description, scenario.seed);
  const auto& model = scenario.latency;
  if (model.detect) text += fmt::format("  detect: {}\n", latency(*model.detect));
  text += fmt::format(
      "  fence: {}\n  disk_unmap: {}\n  disk_map: {}\n  net_config: {}\n  vm_start: {}\n  vm_stop: {}\n",
      latency(model.fence), latency(model.disk_unmap), latency(model.disk_map), latency(model.net_config),
      latency(model.vm_start), latency(model.vm_stop));
  text += fmt::format("heartbeat: {{interval_ms: {}, loss: {}, jitter_ms: {}}}\n",
                      scenario.heartbeat.interval_ms, scenario.heartbeat.loss, scenario.heartbeat.jitter_ms);
  text += fmt::format("migration: {{setup_s: {}, downtime_ms: {}}}\nevents:\n", scenario.migration.setup_s,
                      scenario.migration.downtime_ms);
  for (const auto& event : scenario.events) {
    switch (event.kind) {
      case ScenarioEvent::Kind::fail:
        text += fmt::format("- {{at: {}, fail: {}}}\n", event.at_s, host_list(event.hosts));
        break;
      case ScenarioEvent::Kind::isolate: {
        std::string channels;
        for (auto [cut, channel] :
             {std::pair{event.channels.agent, "agent"}, std::pair{event.channels.hypervisor, "hypervisor"},
              std::pair{event.channels.storage, "storage"}}) {
          if (cut) channels += (channels.empty() ? "" : ", ") + std::string(channel);
        }
        text += fmt::format("- {{at: {}, isolate: {}, channels: [{}]}}\n", event.at_s, host_list(event.hosts),
                            channels);
        break;
      }
      case ScenarioEvent::Kind::evacuate:
        text += fmt::format("- {{at: {}, evacuate: {}, deadline: {}, reason: {}}}\n", event.at_s,
                            host_list(event.hosts), event.deadline_s, event.reason);
        break;
      case ScenarioEvent::Kind::exit_maintenance:
        text += fmt::format("- {{at: {}, exit_maintenance: {}, fail_back: {}}}\n", event.at_s,
                            host_list(event.hosts), event.fail_back);
        break;
      case ScenarioEvent::Kind::cancel:
        text += fmt::format("- {{at: {}, cancel: {}}}\n", event.at_s, host_list(event.hosts));
        break;
      case ScenarioEvent::Kind::confirm_down:
        text += fmt::format("- {{at: {}, confirm_down: {}}}\n", event.at_s, host_list(event.hosts));
        break;
      case ScenarioEvent::Kind::vm_crash:
        text += fmt::format("- {{at: {}, vm_crash: {}}}\n", event.at_s, cloud.vms[event.vm].name);
        break;
      case ScenarioEvent::Kind::fencing:
        text += fmt::format("- {{at: {}, fencing: {}}}\n", event.at_s, event.arm ? "arm" : "disarm");
        break;
      case ScenarioEvent::Kind::restart_controller:
        text += fmt::format("- {{at: {}, restart_controller: {{after_records: {}, delay: {}}}}}\n",
                            event.at_s, event.after_records, event.restart_delay_s);
        break;
      case ScenarioEvent::Kind::fail_step: {
        auto subject = event.step == env::StepKind::fence ? "host: " + cloud.hosts[event.vm].name
                                                          : "vm: " + cloud.vms[event.vm].name;
        auto disk = event.disk == model::kNoIndex ? std::string() : ", disk: " + cloud.disks[event.disk].name;
        text += fmt::format("- {{at: {}, fail_step: {{{}, step: {}, times: {}{}}}}}\n", event.at_s, subject,
                            env::to_string(event.step), event.times, disk);
        break;
      }
      case ScenarioEvent::Kind::slow_step: {
        std::string resource;
        switch (event.resource_kind) {
          case ResourceKind::array:
            resource = "array: " + cloud.arrays[event.resource].name;
            break;
          case ResourceKind::endpoint:
            resource = "endpoint: " + cloud.endpoints[event.resource].name;
            break;
          case ResourceKind::network_switch:
            resource = "switch: " + cloud.switches[event.resource].name;
            break;
          case ResourceKind::host:
            resource = "host: " + cloud.hosts[event.resource].name;
            break;
          case ResourceKind::bmc:
            resource = "bmc: " + cloud.hosts[event.resource].name;
            break;
        }
        text += fmt::format("- {{at: {}, slow_step: {{{}, factor: {}, until: {}}}}}\n", event.at_s, resource,
                            event.factor, event.until_s);
        break;
      }
    }
  }
  return text;
}

HostileHistory make_hostile_history(std::uint64_t seed, const HostileHistoryOptions& options) {
  HostileHistory history;
  history.seed = seed;
  HistoryBuilder(seed, history, options).build();
  return history;
}

}  // namespace revive::sim

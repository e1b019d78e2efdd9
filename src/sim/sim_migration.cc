#include "sim/sim_migration.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

namespace revive::sim {

namespace {

std::uint64_t splitmix64(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

// A standard normal variate determined by (seed, vm) alone.
double normal_of(std::uint64_t seed, model::VmIndex vm) {
  std::uint64_t a = splitmix64(seed ^ splitmix64(0x6d696772ULL + vm));  // "migr"
  std::uint64_t b = splitmix64(a);
  double u1 = (static_cast<double>(a >> 11) + 0.5) / 9007199254740992.0;
  double u2 = static_cast<double>(b >> 11) / 9007199254740992.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace

SimMigrations::SimMigrations(const model::Cloud& cloud, env::EventLoop& loop, Options options)
    : cloud_(cloud),
      loop_(loop),
      options_(options),
      flows_(exec::MigrationFlows::for_cloud(cloud, options.parameters)) {}

SimMigrations::~SimMigrations() {
  if (timer_set_) loop_.cancel(timer_);
}

double SimMigrations::actual_dirty_mib_s(model::VmIndex vm) const {
  double declared = cloud_.vms[vm].dirty_mib_s;
  if (options_.dirty_spread == 0.0) return declared;
  return declared * std::exp(options_.dirty_spread * normal_of(options_.seed, vm));
}

std::uint64_t SimMigrations::start(model::VmIndex vm, model::HostIndex from, model::HostIndex to, Done done) {
  std::vector<exec::FlowOutcome> finished;
  flows_.advance_to(loop_.now_s(), finished);
  auto id =
      flows_.start({vm, from, to, static_cast<double>(cloud_.vms[vm].memory_mib), actual_dirty_mib_s(vm)});
  done_.emplace(id, std::move(done));
  // Outcomes that fell due exactly now are delivered by the timer (scheduled for now).
  for (auto& outcome : finished) {
    auto found = done_.find(outcome.id);
    if (found == done_.end()) continue;
    auto callback = std::move(found->second);
    done_.erase(found);
    loop_.schedule_after(0.0, [callback = std::move(callback), outcome] { callback(outcome); });
  }
  reschedule();
  return id;
}

std::vector<exec::FlowOutcome> SimMigrations::abort_host(model::HostIndex host, const std::string& error) {
  std::vector<exec::FlowOutcome> finished;
  flows_.advance_to(loop_.now_s(), finished);
  for (auto& outcome : finished) {
    auto found = done_.find(outcome.id);
    if (found == done_.end()) continue;
    auto callback = std::move(found->second);
    done_.erase(found);
    loop_.schedule_after(0.0, [callback = std::move(callback), outcome] { callback(outcome); });
  }
  std::vector<exec::FlowOutcome> aborted;
  for (const auto& view : flows_.flows()) {
    if (view.spec.from != host && view.spec.to != host) continue;
    auto outcome = flows_.cancel(view.id);
    outcome.error = error;
    aborted.push_back(outcome);
    auto found = done_.find(view.id);
    if (found == done_.end()) continue;
    auto callback = std::move(found->second);
    done_.erase(found);
    loop_.schedule_after(0.0, [callback = std::move(callback), outcome] { callback(outcome); });
  }
  reschedule();
  return aborted;
}

void SimMigrations::reschedule() {
  if (timer_set_) loop_.cancel(timer_);
  timer_set_ = false;
  double next = flows_.next_event_s();
  if (next == exec::kNever) return;
  timer_set_ = true;
  timer_ = loop_.schedule_after(std::max(0.0, next - loop_.now_s()), [this] {
    timer_set_ = false;
    on_timer();
  });
}

void SimMigrations::on_timer() {
  std::vector<exec::FlowOutcome> finished;
  double now = loop_.now_s();
  // The loop's clock may sit a rounding error before the event: take the event time when it is that close.
  double next = flows_.next_event_s();
  flows_.advance_to(std::max(now, std::abs(next - now) < 1e-6 ? next : now), finished);
  check_bandwidth();
  reschedule();
  for (auto& outcome : finished) {
    auto found = done_.find(outcome.id);
    if (found == done_.end()) continue;
    auto callback = std::move(found->second);
    done_.erase(found);
    callback(outcome);
  }
}

void SimMigrations::check_bandwidth() {
  std::unordered_map<model::HostIndex, double> used;
  for (const auto& view : flows_.flows()) {
    used[view.spec.from] += view.share_mib_s;
    used[view.spec.to] += view.share_mib_s;
  }
  std::vector<std::pair<model::HostIndex, double>> sorted(used.begin(), used.end());
  std::sort(sorted.begin(), sorted.end());
  for (auto [host, total] : sorted) {
    double utilisation = total / flows_.nic_mib_s(host);
    peak_utilisation_ = std::max(peak_utilisation_, utilisation);
    if (utilisation > 1.0 + 1e-9) {
      violations_.push_back(fmt::format("host {} NIC carries {:.1f} MiB/s of {:.1f} at {:.3f} s",
                                        cloud_.hosts[host].name, total, flows_.nic_mib_s(host),
                                        loop_.now_s()));
    }
  }
}

}  // namespace revive::sim

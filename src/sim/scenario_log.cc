#include "sim/scenario_log.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include <fmt/format.h>

namespace revive::sim {

namespace {

struct Line {
  double at_s;
  int order;  // among equal times: events, verdicts, VMs running, steps (a start a running VM allowed follows
              // it)
  std::size_t sequence;
  std::string text;
};

std::string host_names(const model::Cloud& cloud, const std::vector<model::HostIndex>& hosts) {
  std::string names;
  for (auto host : hosts) names += (names.empty() ? "" : " ") + cloud.hosts[host].name;
  return names;
}

std::string seconds(double s) {
  double rounded = round_ms(s);
  if (rounded == 0.0) rounded = 0.0;  // no "-0.000"
  return fmt::format("{:.3f}", rounded);
}

std::string describe_event(const model::Cloud& cloud, const ScenarioEvent& event) {
  switch (event.kind) {
    case ScenarioEvent::Kind::fail:
      return "fail " + host_names(cloud, event.hosts);
    case ScenarioEvent::Kind::isolate: {
      std::string channels;
      if (event.channels.agent) channels += " agent";
      if (event.channels.hypervisor) channels += " hypervisor";
      if (event.channels.storage) channels += " storage";
      return fmt::format("isolate {} (cut:{})", host_names(cloud, event.hosts), channels);
    }
    case ScenarioEvent::Kind::evacuate:
      return fmt::format("evacuate {} ({}, deadline +{} s)", host_names(cloud, event.hosts), event.reason,
                         seconds(event.deadline_s));
    case ScenarioEvent::Kind::exit_maintenance:
      return fmt::format("exit_maintenance {}{}", host_names(cloud, event.hosts),
                         event.fail_back ? " (fail_back)" : "");
    case ScenarioEvent::Kind::cancel:
      return "cancel " + host_names(cloud, event.hosts);
    case ScenarioEvent::Kind::restart_controller:
      return fmt::format("restart_controller after {} journal record{} (new one +{} s)", event.after_records,
                         event.after_records == 1 ? "" : "s", seconds(event.restart_delay_s));
    case ScenarioEvent::Kind::vm_crash:
      return "vm_crash " + cloud.vms[event.vm].name;
    case ScenarioEvent::Kind::confirm_down:
      return "confirm_down " + host_names(cloud, event.hosts);
    case ScenarioEvent::Kind::fencing:
      return event.arm ? "fencing arm" : "fencing disarm";
    case ScenarioEvent::Kind::fail_step: {
      auto subject = event.step == env::StepKind::fence ? "host " + cloud.hosts[event.vm].name
                                                        : "vm " + cloud.vms[event.vm].name;
      if (event.disk != model::kNoIndex) subject += " disk " + cloud.disks[event.disk].name;
      return fmt::format("fail_step {} {} x{}", env::to_string(event.step), subject, event.times);
    }
    case ScenarioEvent::Kind::slow_step: {
      std::string resource;
      switch (event.resource_kind) {
        case ResourceKind::array:
          resource = "array " + cloud.arrays[event.resource].name;
          break;
        case ResourceKind::endpoint:
          resource = "endpoint " + cloud.endpoints[event.resource].name;
          break;
        case ResourceKind::network_switch:
          resource = "switch " + cloud.switches[event.resource].name;
          break;
        case ResourceKind::host:
          resource = "host " + cloud.hosts[event.resource].name;
          break;
        case ResourceKind::bmc:
          resource = "bmc " + cloud.hosts[event.resource].name;
          break;
      }
      auto until = event.until_s >= 1e299 ? std::string("for ever") : "until " + seconds(event.until_s);
      return fmt::format("slow_step {} x{} {}", resource, event.factor, until);
    }
  }
  return "?";
}

std::string describe_step(const model::Cloud& cloud, const TimelineStep& step) {
  auto host = step.host == model::kNoIndex ? std::string("-") : cloud.hosts[step.host].name;
  auto vm = step.vm == model::kNoIndex ? std::string() : cloud.vms[step.vm].name;
  auto disk = step.disk == model::kNoIndex ? std::string() : cloud.disks[step.disk].name;
  switch (step.kind) {
    case env::StepKind::fence:
      return "fence " + host;
    case env::StepKind::disk_unmap:
      return fmt::format("disk_unmap {} {} from {}", vm, disk, host);
    case env::StepKind::disk_map:
      return fmt::format("disk_map {} {} to {}", vm, disk, host);
    case env::StepKind::net_config:
      return fmt::format("net_config {} on {}", vm, host);
    case env::StepKind::vm_start:
      return fmt::format("vm_start {} on {}", vm, host);
    case env::StepKind::vm_stop:
      return fmt::format("vm_stop {} on {}", vm, host);
    case env::StepKind::migrate:
      return fmt::format("migrate {} {} -> {} ({} rounds)", vm,
                         step.from == model::kNoIndex ? std::string("-") : cloud.hosts[step.from].name, host,
                         step.rounds);
  }
  return "?";
}

}  // namespace

std::string scenario_log(const model::Cloud& cloud, const Scenario& scenario,
                         const SimulationResult& result) {
  const double origin = result.first_event_s;
  double end_of_run = origin;
  for (const auto& step : result.timeline) end_of_run = std::max(end_of_run, step.end_s);

  std::vector<Line> lines;
  auto add = [&](double at_s, int order, std::string text) {
    lines.push_back({round_ms(at_s - origin), order, lines.size(), std::move(text)});
  };
  for (const auto& event : scenario.events) add(event.at_s, 0, "event    " + describe_event(cloud, event));
  for (const auto& host : result.lost_hosts) {
    if (host.declared_at_s) {
      lines.push_back({*host.declared_at_s, 1, lines.size(), "declared " + host.name + " failed"});
    }
  }
  for (const auto& step : result.timeline) {
    std::string outcome;
    if (!step.finished) {
      outcome = "still running at the end";
    } else if (step.ok) {
      outcome = "ok";
    } else {
      outcome = step.error.empty() ? std::string("FAILED") : "FAILED: " + step.error;
    }
    auto attempt = step.attempt > 0 ? fmt::format(" #{}", step.attempt + 1) : std::string();
    add(step.start_s, 3,
        fmt::format("step     {}{} .. {} {}", describe_step(cloud, step), attempt,
                    seconds((step.finished ? step.end_s : end_of_run) - origin), outcome));
  }
  for (const auto& vm : result.vms) {
    if (vm.state == exec::VmState::running && vm.ready_s >= 0) {
      add(vm.ready_s, 2,
          fmt::format("running  {} on {}", cloud.vms[vm.vm].name,
                      vm.to == model::kNoIndex ? std::string("-") : cloud.hosts[vm.to].name));
    }
  }
  for (const auto& confirmation : result.confirmations) {
    add(confirmation.at_s, 1,
        fmt::format(
            "confirm  {} off: {}", cloud.hosts[confirmation.host].name,
            confirmation.accepted ? "accepted, the proof of its fence" : "refused (not declared failed)"));
  }
  for (const auto& restart : result.vm_restarts) {
    auto host = restart.host == model::kNoIndex ? std::string("-") : cloud.hosts[restart.host].name;
    std::string text = fmt::format("vm-restart {} on {} #{}: {}", cloud.vms[restart.vm].name, host,
                                   restart.attempt, control::to_string(restart.state));
    if (restart.finished_s >= 0) text += " at " + seconds(restart.finished_s - origin);
    if (!restart.reason.empty()) text += " -- " + restart.reason;
    add(restart.stopped_s, 1, std::move(text));
  }
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return std::tie(a.at_s, a.order, a.sequence) < std::tie(b.at_s, b.order, b.sequence);
  });

  std::string text;
  text += fmt::format("# revive simulate: strategy {}, seed {}\n", exec::to_string(result.strategy),
                      scenario.seed);
  text += "## timeline (s from the first event)\n";
  for (const auto& line : lines) text += fmt::format("{:>9} {}\n", seconds(line.at_s), line.text);

  if (!result.lost_hosts.empty()) {
    text += "## hosts lost\n";
    for (const auto& host : result.lost_hosts) {
      std::string channels;
      for (const auto& channel : host.channels_cut) channels += (channels.empty() ? "" : ",") + channel;
      auto declared = host.declared_at_s ? seconds(*host.declared_at_s) : std::string("never");
      auto fenced = host.fenced_at_s ? seconds(*host.fenced_at_s) : std::string("never");
      text += fmt::format("{} lost at {} ({}; cut {}): {}, declared {}, fenced {}", host.name,
                          seconds(host.lost_at_s), host.lost == "crash" ? "crashed" : "isolated", channels,
                          to_string(host.outcome), declared, fenced);
      if (host.vms_held > 0)
        text += fmt::format(", {} VM{} held", host.vms_held, host.vms_held == 1 ? "" : "s");
      if (!host.reason.empty()) text += " -- " + host.reason;
      text += "\n";
    }
  }
  if (!result.vms.empty()) {
    text += "## recovered VMs (plan order)\n";
    for (const auto& vm : result.vms) {
      auto from = vm.from == model::kNoIndex ? std::string("-") : cloud.hosts[vm.from].name;
      auto to = vm.to == model::kNoIndex ? std::string("-") : cloud.hosts[vm.to].name;
      text += fmt::format("{} ({}) {} -> {}: {}", cloud.vms[vm.vm].name, model::to_string(vm.priority), from,
                          to, exec::to_string(vm.state));
      if (vm.state == exec::VmState::running) text += " at " + seconds(vm.ready_s - origin);
      if (vm.replans > 0) text += fmt::format(", {} replans", vm.replans);
      if (!vm.reason.empty()) text += " -- " + vm.reason;
      text += "\n";
    }
  }
  if (result.has_evacuations) {
    text += "## evacuated VMs\n";
    for (const auto& vm : result.evacuations) {
      auto to = vm.to == model::kNoIndex ? std::string("-") : cloud.hosts[vm.to].name;
      text +=
          fmt::format("{} ({}) {} -> {}: {}{}", cloud.vms[vm.vm].name, model::to_string(vm.priority),
                      cloud.hosts[vm.from].name, to, exec::to_string(vm.outcome), vm.cold ? " (cold)" : "");
      if (vm.end_s >= 0) text += " at " + seconds(vm.end_s - origin);
      if (vm.running_at_deadline) text += ", still on its host at the deadline";
      if (!vm.reason.empty()) text += " -- " + vm.reason;
      text += "\n";
    }
  }
  text += "## summary\n";
  text += fmt::format(
      "restarted {}, evacuated {}, waiting {}, failed {}, double_runs {}, lost {}, running_at_deadline {}\n",
      result.restarted, result.evacuated, result.waiting, result.failed, result.double_runs, result.lost,
      result.running_at_deadline);
  text += "tiers done:";
  for (std::size_t tier = 0; tier < model::kPriorityCount; ++tier) {
    if (!result.tier_present[tier]) continue;
    text += fmt::format(" {} {}", model::to_string(static_cast<model::Priority>(tier)),
                        result.tier_done_s[tier] ? seconds(*result.tier_done_s[tier]) : std::string("never"));
  }
  text += "\n";
  for (const auto& violation : result.violations) text += "VIOLATION " + violation + "\n";
  return text;
}

}  // namespace revive::sim

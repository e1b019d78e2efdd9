#include "sim/scenario.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace revive::sim {

namespace {

std::string join_diagnostics(const std::vector<model::Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& diagnostic : diagnostics) {
    if (!text.empty()) text += "\n";
    text += diagnostic.to_string();
  }
  return text;
}

class Parser {
 public:
  Parser(std::string_view file, const model::Cloud& cloud) : file_(file), cloud_(cloud) {}

  std::vector<model::Diagnostic>& diagnostics() { return diagnostics_; }

  void error(const YAML::Node& node, const std::string& field, const std::string& message) {
    int line = node.IsDefined() && node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    diagnostics_.push_back({file_, line, field, message});
  }
  void error_at(int line, const std::string& field, const std::string& message) {
    diagnostics_.push_back({file_, line, field, message});
  }

  // Reports keys of a map that are not in `allowed`.
  bool check_map(const YAML::Node& node, const std::string& field,
                 std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      error(node, field, "must be a mapping");
      return false;
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {  // a list, a mapping or a null as a key (`? [a]: 1`, `!tag: ...`)
        error(entry.first, field.empty() ? "(document)" : field, "a key must be a plain name");
        continue;
      }
      auto key = entry.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(entry.first, field.empty() ? key : field + "." + key, "unknown field");
      }
    }
    return true;
  }

  std::optional<double> number(const YAML::Node& node, const std::string& field) {
    if (!node.IsScalar()) {
      error(node, field, "must be a number");
      return std::nullopt;
    }
    try {
      double value = node.as<double>();
      if (!std::isfinite(value)) throw YAML::BadConversion(node.Mark());
      return value;
    } catch (const YAML::Exception&) {
      error(node, field, "must be a number, not \"" + node.Scalar() + "\"");
      return std::nullopt;
    }
  }

  std::optional<double> non_negative(const YAML::Node& node, const std::string& field) {
    auto value = number(node, field);
    if (value && *value < 0) {
      error(node, field, "must be >= 0");
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> positive(const YAML::Node& node, const std::string& field) {
    auto value = number(node, field);
    if (value && *value <= 0) {
      error(node, field, "must be > 0");
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::uint64_t> unsigned_integer(const YAML::Node& node, const std::string& field) {
    if (node.IsScalar()) {
      try {
        const auto& text = node.Scalar();
        if (!text.empty() && text[0] != '-') return node.as<std::uint64_t>();
      } catch (const YAML::Exception&) {
      }
    }
    error(node, field, "must be a non-negative integer");
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& field) {
    if (node.IsScalar()) {
      const auto& text = node.Scalar();
      if (text == "true") return true;
      if (text == "false") return false;
    }
    error(node, field, "must be true or false");
    return std::nullopt;
  }

  std::optional<std::string> string(const YAML::Node& node, const std::string& field) {
    if (!node.IsScalar()) {
      error(node, field, "must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<Latency> latency(const YAML::Node& node, const std::string& field) {
    if (node.IsScalar()) {
      auto value = non_negative(node, field);
      if (!value) return std::nullopt;
      return Latency{*value, 0.0};
    }
    if (!check_map(node, field, {"median", "spread"})) return std::nullopt;
    Latency result;
    bool ok = true;
    if (auto median = node["median"]; median) {
      auto value = non_negative(median, field + ".median");
      ok = ok && value;
      if (value) result.median_s = *value;
    } else {
      error(node, field + ".median", "is required");
      ok = false;
    }
    if (auto spread = node["spread"]; spread) {
      auto value = non_negative(spread, field + ".spread");
      ok = ok && value;
      if (value) result.spread = *value;
    }
    if (!ok) return std::nullopt;
    return result;
  }

  model::HostIndex host(const YAML::Node& node, const std::string& field) {
    auto name = string(node, field);
    if (!name) return model::kNoIndex;
    auto index = cloud_.find_host(*name);
    if (index == model::kNoIndex) error(node, field, "unknown host \"" + *name + "\"");
    return index;
  }

  std::vector<model::HostIndex> hosts(const YAML::Node& node, const std::string& field) {
    std::vector<model::HostIndex> result;
    if (node.IsScalar()) {
      if (auto index = host(node, field); index != model::kNoIndex) result.push_back(index);
      return result;
    }
    if (!node.IsSequence() || node.size() == 0) {
      error(node, field, "must be a host name or a non-empty list of host names");
      return result;
    }
    std::set<model::HostIndex> seen;
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto item_field = field + "[" + std::to_string(i) + "]";
      auto index = host(node[i], item_field);
      if (index == model::kNoIndex) continue;
      if (!seen.insert(index).second) {
        error(node[i], item_field, "host \"" + cloud_.hosts[index].name + "\" listed twice");
        continue;
      }
      result.push_back(index);
    }
    return result;
  }

  bool parse_channels(const YAML::Node& node, const std::string& field, CutChannels& cut) {
    if (!node.IsSequence() || node.size() == 0) {
      error(node, field, "must be a non-empty list of agent, hypervisor, storage");
      return false;
    }
    cut = {false, false, false};
    bool ok = true;
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto item_field = field + "[" + std::to_string(i) + "]";
      auto name = string(node[i], item_field);
      if (!name) {
        ok = false;
        continue;
      }
      bool* flag = *name == "agent"        ? &cut.agent
                   : *name == "hypervisor" ? &cut.hypervisor
                   : *name == "storage"    ? &cut.storage
                                           : nullptr;
      if (!flag) {
        error(node[i], item_field, "must be agent, hypervisor or storage, not \"" + *name + "\"");
        ok = false;
      } else if (*flag) {
        error(node[i], item_field, "channel \"" + *name + "\" listed twice");
        ok = false;
      }
      if (flag) *flag = true;
    }
    return ok;
  }

  void parse_event(const YAML::Node& node, const std::string& field, Scenario& scenario) {
    if (!check_map(node, field,
                   {"at", "fail", "isolate", "channels", "evacuate", "deadline", "reason", "fail_step",
                    "slow_step", "exit_maintenance", "fail_back", "cancel", "restart_controller", "vm_crash",
                    "confirm_down", "fencing"})) {
      return;
    }
    ScenarioEvent event;
    event.line = node.Mark().line + 1;
    bool ok = true;
    if (auto at = node["at"]; at) {
      auto value = non_negative(at, field + ".at");
      ok = ok && value;
      if (value) event.at_s = *value;
    } else {
      error(node, field + ".at", "is required");
      ok = false;
    }
    static constexpr std::array kKinds = {"fail",      "isolate",          "evacuate", "fail_step",
                                          "slow_step", "exit_maintenance", "cancel",   "restart_controller",
                                          "vm_crash",  "confirm_down",     "fencing"};
    int kinds = 0;
    std::string names;
    for (std::size_t i = 0; i < kKinds.size(); ++i) {
      kinds += node[kKinds[i]] ? 1 : 0;
      names += std::string(i == 0 ? "" : i + 1 == kKinds.size() ? " or " : ", ") + kKinds[i];
    }
    if (kinds != 1) {
      error(node, field, "needs exactly one of " + names);
      return;
    }
    if (!node["exit_maintenance"] && node["fail_back"]) {
      error(node["fail_back"], field + ".fail_back", "only allowed with exit_maintenance");
    }
    if (!node["evacuate"]) {
      for (auto name : {"deadline", "reason"}) {
        if (node[name]) error(node[name], field + "." + name, "only allowed with evacuate");
      }
    }
    if (!node["isolate"] && node["channels"]) {
      error(node["channels"], field + ".channels", "only allowed with isolate");
    }
    if (auto fail = node["fail"]; fail) {
      event.kind = ScenarioEvent::Kind::fail;
      event.hosts = hosts(fail, field + ".fail");
      ok = ok && !event.hosts.empty();
    } else if (auto isolate = node["isolate"]; isolate) {
      event.kind = ScenarioEvent::Kind::isolate;
      event.hosts = hosts(isolate, field + ".isolate");
      ok = ok && !event.hosts.empty();
      if (auto channels = node["channels"]; channels) {
        ok = parse_channels(channels, field + ".channels", event.channels) && ok;
      }
    } else if (auto evacuate = node["evacuate"]; evacuate) {
      event.kind = ScenarioEvent::Kind::evacuate;
      event.hosts = hosts(evacuate, field + ".evacuate");
      ok = ok && !event.hosts.empty();
      if (auto deadline = node["deadline"]; deadline) {
        auto value = positive(deadline, field + ".deadline");
        ok = ok && value;
        if (value) event.deadline_s = *value;
      } else {
        error(node, field + ".deadline", "is required with evacuate");
        ok = false;
      }
      event.reason = "maintenance";
      if (auto reason = node["reason"]; reason) {
        auto text = string(reason, field + ".reason");
        if (text && *text != "maintenance" && *text != "predicted-failure") {
          error(reason, field + ".reason", "must be maintenance or predicted-failure, not \"" + *text + "\"");
          ok = false;
        } else if (text) {
          event.reason = *text;
        }
      }
    } else if (auto exit = node["exit_maintenance"]; exit) {
      event.kind = ScenarioEvent::Kind::exit_maintenance;
      event.hosts = hosts(exit, field + ".exit_maintenance");
      ok = ok && !event.hosts.empty();
      if (auto fail_back = node["fail_back"]; fail_back) {
        auto value = boolean(fail_back, field + ".fail_back");
        ok = ok && value;
        if (value) event.fail_back = *value;
      }
    } else if (auto restart = node["restart_controller"]; restart) {
      event.kind = ScenarioEvent::Kind::restart_controller;
      std::string restart_field = field + ".restart_controller";
      if (!check_map(restart, restart_field, {"after_records", "delay"})) return;
      if (auto records = restart["after_records"]; records) {
        auto value = unsigned_integer(records, restart_field + ".after_records");
        if (value && *value == 0) error(records, restart_field + ".after_records", "must be >= 1");
        ok = ok && value && *value > 0;
        if (value) event.after_records = static_cast<std::uint32_t>(std::min<std::uint64_t>(*value, 1000000));
      }
      if (auto delay = restart["delay"]; delay) {
        auto value = non_negative(delay, restart_field + ".delay");
        ok = ok && value;
        if (value) event.restart_delay_s = *value;
      }
    } else if (auto cancel = node["cancel"]; cancel) {
      event.kind = ScenarioEvent::Kind::cancel;
      event.hosts = hosts(cancel, field + ".cancel");
      ok = ok && !event.hosts.empty();
    } else if (auto confirm = node["confirm_down"]; confirm) {
      event.kind = ScenarioEvent::Kind::confirm_down;
      event.hosts = hosts(confirm, field + ".confirm_down");
      ok = ok && !event.hosts.empty();
    } else if (auto fencing = node["fencing"]; fencing) {
      event.kind = ScenarioEvent::Kind::fencing;
      if (auto value = string(fencing, field + ".fencing"); !value) {
        ok = false;
      } else if (*value != "arm" && *value != "disarm") {
        error(fencing, field + ".fencing", "must be arm or disarm, not \"" + *value + "\"");
        ok = false;
      } else {
        event.arm = *value == "arm";
      }
    } else if (auto crash = node["vm_crash"]; crash) {
      event.kind = ScenarioEvent::Kind::vm_crash;
      auto vm_name = string(crash, field + ".vm_crash");
      event.vm = vm_name ? cloud_.find_vm(*vm_name) : model::kNoIndex;
      if (vm_name && event.vm == model::kNoIndex) {
        error(crash, field + ".vm_crash", "unknown VM \"" + *vm_name + "\"");
      }
      ok = ok && event.vm != model::kNoIndex;
    } else if (auto fail_step = node["fail_step"]; fail_step) {
      event.kind = ScenarioEvent::Kind::fail_step;
      ok = parse_fail_step(fail_step, field + ".fail_step", event) && ok;
    } else if (auto slow_step = node["slow_step"]; slow_step) {
      event.kind = ScenarioEvent::Kind::slow_step;
      ok = parse_slow_step(slow_step, field + ".slow_step", event) && ok;
    }
    if (ok) scenario.events.push_back(std::move(event));
  }

  bool parse_fail_step(const YAML::Node& node, const std::string& field, ScenarioEvent& event) {
    if (!check_map(node, field, {"vm", "host", "step", "times", "disk"})) return false;
    bool ok = true;
    auto step_node = node["step"];
    if (!step_node) {
      error(node, field + ".step", "is required");
      return false;
    }
    auto step_name = string(step_node, field + ".step");
    if (!step_name) return false;
    auto step = env::parse_step_kind(*step_name);
    if (!step) {
      error(step_node, field + ".step",
            "unknown step \"" + *step_name +
                "\" (fence, disk_unmap, disk_map, net_config, vm_start, vm_stop, migrate)");
      return false;
    }
    event.step = *step;
    if (*step == env::StepKind::fence) {
      if (node["vm"] || !node["host"]) {
        error(node, field + ".host", "a fence step names the host to fence (host:, not vm:)");
        return false;
      }
      event.hosts = {host(node["host"], field + ".host")};
      ok = event.hosts[0] != model::kNoIndex;
      event.vm = event.hosts[0];  // the subject of a fence is its host
    } else {
      if (node["host"] || !node["vm"]) {
        error(node, field + ".vm", "names the VM whose step fails (vm:, not host:)");
        return false;
      }
      auto vm_name = string(node["vm"], field + ".vm");
      if (!vm_name) return false;
      event.vm = cloud_.find_vm(*vm_name);
      if (event.vm == model::kNoIndex) {
        error(node["vm"], field + ".vm", "unknown VM \"" + *vm_name + "\"");
        ok = false;
      }
    }
    if (auto times = node["times"]; times) {
      auto value = unsigned_integer(times, field + ".times");
      if (value && *value == 0) error(times, field + ".times", "must be >= 1");
      ok = ok && value && *value > 0;
      if (value) event.times = static_cast<std::uint32_t>(std::min<std::uint64_t>(*value, 1000000));
    }
    if (auto disk = node["disk"]; disk) {
      if (event.step != env::StepKind::disk_map && event.step != env::StepKind::disk_unmap) {
        error(disk, field + ".disk", "only allowed for disk_map and disk_unmap steps");
        return false;
      }
      auto disk_name = string(disk, field + ".disk");
      if (!disk_name) return false;
      event.disk = cloud_.find_disk(*disk_name);
      if (event.disk == model::kNoIndex) {
        error(disk, field + ".disk", "unknown disk \"" + *disk_name + "\"");
        ok = false;
      } else if (event.vm != model::kNoIndex && cloud_.disks[event.disk].vm != event.vm) {
        error(disk, field + ".disk", "disk \"" + *disk_name + "\" is not a disk of that VM");
        ok = false;
      }
    }
    return ok;
  }

  bool parse_slow_step(const YAML::Node& node, const std::string& field, ScenarioEvent& event) {
    if (!check_map(node, field, {"array", "endpoint", "switch", "host", "bmc", "factor", "until"}))
      return false;
    int scopes = 0;
    for (auto name : {"array", "endpoint", "switch", "host", "bmc"}) scopes += node[name] ? 1 : 0;
    if (scopes != 1) {
      error(node, field, "needs exactly one of array, endpoint, switch, host, bmc");
      return false;
    }
    bool ok = true;
    auto resolve = [&](const char* key, ResourceKind kind, auto find) {
      auto value = node[key];
      if (!value) return;
      event.resource_kind = kind;
      auto name = string(value, field + "." + key);
      if (!name) {
        ok = false;
        return;
      }
      event.resource = find(*name);
      if (event.resource == model::kNoIndex) {
        error(value, field + "." + key, std::string("unknown ") + key + " \"" + *name + "\"");
        ok = false;
      }
    };
    resolve("array", ResourceKind::array, [&](const std::string& n) { return cloud_.find_array(n); });
    resolve("endpoint", ResourceKind::endpoint,
            [&](const std::string& n) { return cloud_.find_endpoint(n); });
    resolve("switch", ResourceKind::network_switch,
            [&](const std::string& n) { return cloud_.find_switch(n); });
    resolve("host", ResourceKind::host, [&](const std::string& n) { return cloud_.find_host(n); });
    resolve("bmc", ResourceKind::bmc, [&](const std::string& n) { return cloud_.find_host(n); });
    if (auto factor = node["factor"]; factor) {
      if (auto value = positive(factor, field + ".factor"); !value) {
        ok = false;
      } else if (*value < 1.0) {
        error(factor, field + ".factor",
              "must be >= 1 (a slowdown: steps take factor times as long), not " + factor.Scalar());
        ok = false;
      } else {
        event.factor = *value;
      }
    } else {
      error(node, field + ".factor", "is required");
      ok = false;
    }
    if (auto until = node["until"]; until) {
      if (auto value = non_negative(until, field + ".until"); !value) {
        ok = false;
      } else if (*value <= event.at_s) {
        error(until, field + ".until", fmt::format("must be later than the event's at ({} s)", event.at_s));
        ok = false;
      } else {
        event.until_s = *value;
      }
    }
    return ok;
  }

  Scenario parse(const YAML::Node& root) {
    Scenario scenario;
    scenario.file = file_;
    if (!check_map(root, "", {"version", "seed", "latency", "heartbeat", "migration", "events"}))
      return scenario;
    if (auto version = root["version"]; !version) {
      error(root, "version", "is required (1)");
    } else if (!version.IsScalar() || version.Scalar() != "1") {
      error(version, "version", "must be 1");
    }
    if (auto seed = root["seed"]; seed) {
      if (auto value = unsigned_integer(seed, "seed")) scenario.seed = *value;
    }
    if (auto latency_node = root["latency"]; latency_node) {
      if (check_map(latency_node, "latency",
                    {"repeatability", "detect", "fence", "disk_unmap", "disk_map", "net_config", "vm_start",
                     "vm_stop"})) {
        auto& model = scenario.latency;
        if (auto value = latency_node["repeatability"]; value) {
          if (auto v = non_negative(value, "latency.repeatability")) {
            if (*v > 1.0) {
              error(value, "latency.repeatability", "must be between 0 and 1");
            } else {
              model.repeatability = *v;
            }
          }
        }
        auto read = [&](const char* key, Latency& target) {
          if (auto value = latency_node[key]; value) {
            if (auto parsed = latency(value, std::string("latency.") + key)) target = *parsed;
          }
        };
        if (auto detect = latency_node["detect"]; detect) model.detect = latency(detect, "latency.detect");
        read("fence", model.fence);
        read("disk_unmap", model.disk_unmap);
        read("disk_map", model.disk_map);
        read("net_config", model.net_config);
        read("vm_start", model.vm_start);
        read("vm_stop", model.vm_stop);
      }
    }
    if (auto heartbeat = root["heartbeat"]; heartbeat) {
      if (check_map(heartbeat, "heartbeat", {"interval_ms", "loss", "jitter_ms"})) {
        if (auto value = heartbeat["interval_ms"]; value) {
          if (auto v = positive(value, "heartbeat.interval_ms")) scenario.heartbeat.interval_ms = *v;
        }
        if (auto value = heartbeat["loss"]; value) {
          if (auto v = non_negative(value, "heartbeat.loss")) {
            if (*v >= 1.0) {
              error(value, "heartbeat.loss", "must be < 1");
            } else {
              scenario.heartbeat.loss = *v;
            }
          }
        }
        if (auto value = heartbeat["jitter_ms"]; value) {
          if (auto v = non_negative(value, "heartbeat.jitter_ms")) scenario.heartbeat.jitter_ms = *v;
        }
      }
    }
    if (auto migration = root["migration"]; migration) {
      if (check_map(migration, "migration", {"setup_s", "downtime_ms"})) {
        if (auto value = migration["setup_s"]; value) {
          if (auto v = non_negative(value, "migration.setup_s")) scenario.migration.setup_s = *v;
        }
        if (auto value = migration["downtime_ms"]; value) {
          if (auto v = non_negative(value, "migration.downtime_ms")) scenario.migration.downtime_ms = *v;
        }
      }
    }
    if (auto events = root["events"]; events) {
      if (!events.IsSequence()) {
        error(events, "events", "must be a list");
      } else {
        for (std::size_t i = 0; i < events.size(); ++i) {
          parse_event(events[i], "events[" + std::to_string(i) + "]", scenario);
        }
      }
    }
    std::stable_sort(scenario.events.begin(), scenario.events.end(),
                     [](const ScenarioEvent& a, const ScenarioEvent& b) { return a.at_s < b.at_s; });
    return scenario;
  }

 private:
  std::string file_;
  const model::Cloud& cloud_;
  std::vector<model::Diagnostic> diagnostics_;
};

}  // namespace

const Latency& LatencyModel::of(env::StepKind kind) const {
  switch (kind) {
    case env::StepKind::fence:
      return fence;
    case env::StepKind::disk_unmap:
      return disk_unmap;
    case env::StepKind::disk_map:
      return disk_map;
    case env::StepKind::net_config:
      return net_config;
    case env::StepKind::vm_start:
      return vm_start;
    case env::StepKind::vm_stop:
    case env::StepKind::migrate:
      return vm_stop;
  }
  return vm_start;
}

ScenarioError::ScenarioError(std::vector<model::Diagnostic> diagnostics)
    : std::runtime_error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

Scenario load_scenario_text(std::string_view yaml_text, std::string_view file_name,
                            const model::Cloud& cloud) {
  Parser parser(file_name, cloud);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    throw ScenarioError({{std::string(file_name), e.mark.line + 1, "", "invalid YAML: " + e.msg}});
  }
  if (!root || root.IsNull()) throw ScenarioError({{std::string(file_name), 1, "", "empty scenario"}});
  auto scenario = parser.parse(root);
  if (!parser.diagnostics().empty()) throw ScenarioError(std::move(parser.diagnostics()));
  return scenario;
}

Scenario load_scenario_file(const std::string& path, const model::Cloud& cloud) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ScenarioError({{path, 0, "file", std::string("cannot read: ") + std::strerror(errno)}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_scenario_text(text.str(), path, cloud);
}

}  // namespace revive::sim

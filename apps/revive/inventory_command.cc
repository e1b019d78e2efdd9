// revive inventory validate FILE | show FILE [--format table|json]
#include <fmt/format.h>

#include <array>
#include <iostream>
#include <memory>
#include <string>

#include "cli.h"
#include "model/cloud_json.h"
#include "model/inventory.h"

namespace revive::cli {
namespace {

std::string plural(std::size_t count, std::string_view singular, std::string_view plural_form) {
  return fmt::format("{} {}", count, count == 1 ? singular : plural_form);
}

// Errors exit 2 (loading throws); warnings about the current placement go to stderr and keep exit 0.
void validate(const std::string& path) {
  model::SourceLines lines;
  model::InventoryOptions options;
  options.lines = &lines;
  model::Cloud cloud = model::load_inventory_file(path, options);
  auto warnings = model::placement_warnings(cloud, path, &lines);
  for (const auto& warning : warnings) std::cerr << warning.to_string() << "\n";
  std::cout << fmt::format(
      "{}: ok{}: {}, {}, {}, {}, {}, {}, {}\n", path,
      warnings.empty() ? ""
                       : fmt::format(" with {} on stderr", plural(warnings.size(), "warning", "warnings")),
      plural(cloud.hosts.size(), "host", "hosts"), plural(cloud.vms.size(), "VM", "VMs"),
      plural(cloud.disks.size(), "disk", "disks"), plural(cloud.arrays.size(), "array", "arrays"),
      plural(cloud.endpoints.size(), "endpoint", "endpoints"),
      plural(cloud.switches.size(), "switch", "switches"), plural(cloud.groups.size(), "group", "groups"));
}

std::string labels_text(const model::Cloud& cloud, const std::vector<model::Label>& labels) {
  std::string text;
  for (const auto& label : labels) {
    if (!text.empty()) text += ",";
    text += cloud.symbols.name(label.key) + "=" + cloud.symbols.name(label.value);
  }
  return text.empty() ? "-" : text;
}

std::string format_number(double value) {
  return fmt::format("{:g}", value);
}

void show_table(const model::Cloud& cloud, std::ostream& out) {
  out << fmt::format(
      "policy: overcommit cpu {} memory {}, per host at most {} parallel restarts and {} migrations\n",
      format_number(cloud.policy.cpu_overcommit), format_number(cloud.policy.memory_overcommit),
      cloud.policy.host_max_parallel_restarts, cloud.policy.host_max_parallel_migrations);
  out << fmt::format("\nhosts ({})\n", cloud.hosts.size());
  out << fmt::format("{:<20} {:>11} {:>11} {:>13} {:>13} {:>5} {:<11} {}\n", "NAME", "CPU USED", "CPU FREE",
                     "MEM USED GiB", "MEM FREE GiB", "VMS", "STATE", "LABELS");
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    const model::Host& host = cloud.hosts[h];
    std::uint64_t used_cpus = 0;
    std::uint64_t used_memory_mib = 0;
    for (model::VmIndex v : cloud.vms_on(h)) {
      used_cpus += cloud.vms[v].cpus;
      used_memory_mib += cloud.vms[v].memory_mib;
    }
    double usable_cpus = cloud.usable_cpus(h);
    double usable_memory_gib = cloud.usable_memory_mib(h) / 1024.0;
    double used_memory_gib = static_cast<double>(used_memory_mib) / 1024.0;
    std::string state(model::to_string(host.state));
    if (host.reserved) state += ",spare";
    out << fmt::format("{:<20} {:>5}/{:<5} {:>11} {:>13.1f} {:>13.1f} {:>5} {:<11} {}\n", host.name,
                       used_cpus, format_number(usable_cpus),
                       format_number(usable_cpus - static_cast<double>(used_cpus)), used_memory_gib,
                       usable_memory_gib - used_memory_gib, cloud.vms_on(h).size(), state,
                       labels_text(cloud, host.labels));
  }
  std::array<std::size_t, model::kPriorityCount> by_priority{};
  std::array<std::size_t, model::kPriorityCount> unprotected{};
  for (const model::Vm& vm : cloud.vms) {
    ++by_priority[static_cast<int>(vm.priority)];
    if (!vm.protect) ++unprotected[static_cast<int>(vm.priority)];
  }
  out << fmt::format("\nVMs ({}) by priority\n", cloud.vms.size());
  for (int p = 0; p < model::kPriorityCount; ++p) {
    auto priority = static_cast<model::Priority>(p);
    out << fmt::format("{:<10} {:>7}", model::to_string(priority), by_priority[p]);
    if (unprotected[p] > 0) out << fmt::format("  ({} not protected)", unprotected[p]);
    out << "\n";
  }
  out << fmt::format("\ngroups ({})\n", cloud.groups.size());
  if (!cloud.groups.empty()) {
    out << fmt::format("{:<20} {:<14} {:<10} {}\n", "NAME", "KIND", "SCOPE", "MEMBERS");
  }
  for (const model::Group& group : cloud.groups) {
    std::string members;
    for (model::VmIndex v : group.members) {
      if (!members.empty()) members += ",";
      members += cloud.vms[v].name;
    }
    out << fmt::format("{:<20} {:<14} {:<10} {}\n", group.name, model::to_string(group.kind),
                       cloud.symbols.name(group.scope), members);
  }
}

void show(const std::string& path, const std::string& format) {
  model::Cloud cloud = model::load_inventory_file(path);
  if (format == "json") {
    std::cout << model::to_json(cloud).dump(2) << "\n";
  } else {
    show_table(cloud, std::cout);
  }
}

}  // namespace

void add_inventory_commands(CLI::App& app) {
  CLI::App* inventory = app.add_subcommand("inventory", "Check and display inventory files");
  inventory->require_subcommand(1);

  auto validate_path = std::make_shared<std::string>();
  CLI::App* validate_command = inventory->add_subcommand(
      "validate",
      "Check an inventory; print a summary (exit 0, warnings about the current placement on stderr) or every "
      "error (exit 2)");
  validate_command->add_option("FILE", *validate_path, "Inventory file (YAML)")->required();
  validate_command->callback([validate_path] { validate(*validate_path); });

  auto show_path = std::make_shared<std::string>();
  auto show_format = std::make_shared<std::string>("table");
  CLI::App* show_command =
      inventory->add_subcommand("show", "Show hosts with capacity used/free, VMs by priority and groups");
  show_command->add_option("FILE", *show_path, "Inventory file (YAML)")->required();
  show_command->add_option("--format", *show_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->default_str("table");
  show_command->callback([show_path, show_format] { show(*show_path, *show_format); });
}

}  // namespace revive::cli

// placement_warnings (model/inventory.h): what `revive inventory validate` warns about the current placement.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "model/inventory.h"

namespace revive::model {
namespace {

bool running(const Cloud& cloud, VmIndex vm) {
  HostIndex host = cloud.vms[vm].host;
  return host < cloud.hosts.size() && cloud.hosts[host].state != HostState::down;
}

// "vm-a on h1 (rack r1)" or "vm-a on h1" for host scope.
std::string where(const Cloud& cloud, VmIndex vm, Symbol scope) {
  HostIndex host = cloud.vms[vm].host;
  std::string text = fmt::format("{} on {}", cloud.vms[vm].name, cloud.hosts[host].name);
  if (scope == cloud.scope_host()) return text;
  Index value = cloud.scope_value(host, scope);
  if (value == kNoIndex) return text + fmt::format(" (no {} label)", cloud.symbols.name(scope));
  return text + fmt::format(" ({} {})", cloud.symbols.name(scope), cloud.symbols.name(value));
}

}  // namespace

std::vector<Diagnostic> placement_warnings(const Cloud& cloud, std::string_view file,
                                           const SourceLines* lines) {
  std::vector<Diagnostic> warnings;
  auto line_of = [](const std::vector<int>* of, std::size_t index) {
    return of != nullptr && index < of->size() ? (*of)[index] : 0;
  };
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (!running(cloud, v)) continue;
    const Vm& vm = cloud.vms[v];
    const Host& host = cloud.hosts[vm.host];
    const int line = line_of(lines ? &lines->vms : nullptr, v);
    for (const Label& label : vm.require_labels) {
      if (cloud.has_label(vm.host, label)) continue;
      warnings.push_back({std::string(file), line, fmt::format("vms[{}].require_labels", vm.name),
                          fmt::format("warning: runs on {}, which lacks the required label {}={}", host.name,
                                      cloud.symbols.name(label.key), cloud.symbols.name(label.value))});
    }
    if (host.reserved) {
      warnings.push_back(
          {std::string(file), line, fmt::format("vms[{}].host", vm.name),
           fmt::format("warning: runs on {}, a reserved (spare) host: spares are kept empty for failures",
                       host.name)});
    }
  }
  for (GroupIndex g = 0; g < cloud.groups.size(); ++g) {
    const Group& group = cloud.groups[g];
    const int line = line_of(lines ? &lines->groups : nullptr, g);
    std::vector<VmIndex> members;
    for (VmIndex member : group.members) {
      if (running(cloud, member)) members.push_back(member);
    }
    const std::string scope = cloud.symbols.name(group.scope);
    auto warn = [&](VmIndex a, VmIndex b, std::string_view rule) {
      warnings.push_back({std::string(file), line, fmt::format("groups[{}]", group.name),
                          fmt::format("warning: {} group broken by the current placement: {} and {} ({})",
                                      to_string(group.kind), where(cloud, a, group.scope),
                                      where(cloud, b, group.scope), rule)});
    };
    if (group.kind == GroupKind::anti_affinity) {
      // Each pair sharing a scope value once (first member of each value against the later ones).
      for (std::size_t i = 0; i < members.size(); ++i) {
        Index value = cloud.scope_value(cloud.vms[members[i]].host, group.scope);
        if (value == kNoIndex) continue;
        for (std::size_t j = 0; j < i; ++j) {
          if (cloud.scope_value(cloud.vms[members[j]].host, group.scope) != value) continue;
          warn(members[j], members[i], fmt::format("same {}", scope));
          break;
        }
      }
    } else if (!members.empty()) {
      // Every running member must share the first one's scope value.
      Index value = cloud.scope_value(cloud.vms[members[0]].host, group.scope);
      for (std::size_t i = 1; i < members.size(); ++i) {
        Index other = cloud.scope_value(cloud.vms[members[i]].host, group.scope);
        if (value != kNoIndex && other == value) continue;
        warn(members[0], members[i], fmt::format("not the same {}", scope));
      }
    }
  }
  std::stable_sort(warnings.begin(), warnings.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
  return warnings;
}

}  // namespace revive::model

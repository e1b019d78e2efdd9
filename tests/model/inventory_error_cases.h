// Malformed inventories shared by the library tests (tests/model) and the CLI tests (tests/cli): a small
// valid inventory (kValidInventory, line numbers in the comments of edits below refer to it) and edits of it,
// each of which must be rejected with exactly one diagnostic at a known line and field path.
#pragma once

#include <string>
#include <vector>

namespace revive::testing {

inline const std::vector<std::string>& valid_inventory_lines() {
  static const std::vector<std::string> lines = {
      "version: 1",                                                                     // 1
      "policy:",                                                                        // 2
      "  overcommit: {cpu: 4.0, memory: 1.0}",                                          // 3
      "  host_max_parallel_restarts: 32",                                               // 4
      "  host_max_parallel_migrations: 8",                                              // 5
      "endpoints:",                                                                     // 6
      "- {name: mgmt-1, max_parallel: 16}",                                             // 7
      "arrays:",                                                                        // 8
      "- {name: array-a, max_parallel: 8}",                                             // 9
      "switches:",                                                                      // 10
      "- {name: sw-1, max_parallel: 4}",                                                // 11
      "hosts:",                                                                         // 12
      "- name: host-01",                                                                // 13
      "  cpus: 64",                                                                     // 14
      "  memory_mib: 524288",                                                           // 15
      "  labels: {rack: r1, zone: z1}",                                                 // 16
      "  networks: [prod, backup]",                                                     // 17
      "  arrays: [array-a]",                                                            // 18
      "  endpoint: mgmt-1",                                                             // 19
      "  switch: sw-1",                                                                 // 20
      "  state: up",                                                                    // 21
      "- name: host-02",                                                                // 22
      "  cpus: 64",                                                                     // 23
      "  memory_mib: 524288",                                                           // 24
      "  labels: {rack: r2, zone: z1}",                                                 // 25
      "  networks: [prod]",                                                             // 26
      "  arrays: [array-a]",                                                            // 27
      "  endpoint: mgmt-1",                                                             // 28
      "vms:",                                                                           // 29
      "- name: db-1",                                                                   // 30
      "  host: host-01",                                                                // 31
      "  cpus: 8",                                                                      // 32
      "  memory_mib: 32768",                                                            // 33
      "  priority: critical",                                                           // 34
      "  networks: [prod]",                                                             // 35
      "  disks:",                                                                       // 36
      "  - {name: db-1-root, array: array-a, size_gib: 100}",                           // 37
      "  after: []",                                                                    // 38
      "- name: db-2",                                                                   // 39
      "  host: host-02",                                                                // 40
      "  cpus: 8",                                                                      // 41
      "  memory_mib: 32768",                                                            // 42
      "  disks:",                                                                       // 43
      "  - {name: db-2-root, array: array-a, size_gib: 100}",                           // 44
      "- name: app-1",                                                                  // 45
      "  host: host-02",                                                                // 46
      "  cpus: 4",                                                                      // 47
      "  memory_mib: 8192",                                                             // 48
      "  after: [db-1]",                                                                // 49
      "groups:",                                                                        // 50
      "- {name: db-cluster, kind: anti-affinity, scope: host, members: [db-1, db-2]}",  // 51
      "- {name: db-racks, kind: anti-affinity, scope: rack, members: [db-1, db-2]}",    // 52
  };
  return lines;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

inline std::string valid_inventory() {
  return join_lines(valid_inventory_lines());
}

// The valid inventory with line `line` (1-based) replaced by `text` (which may hold several lines, or be
// empty to delete the line).
inline std::string replace_line(int line, const std::string& text) {
  auto lines = valid_inventory_lines();
  if (text.empty()) {
    lines.erase(lines.begin() + (line - 1));
  } else {
    lines[static_cast<std::size_t>(line - 1)] = text;
  }
  return join_lines(lines);
}

struct InventoryErrorCase {
  std::string name;     // a test name: letters, digits, underscores
  std::string text;     // the whole inventory
  int line;             // expected line of the one diagnostic
  std::string field;    // expected field path
  std::string message;  // a part of the expected message
};

inline std::vector<InventoryErrorCase> inventory_error_cases() {
  return {
      {"YamlSyntax", replace_line(16, "  labels: {rack: r1, zone: z1"), 17, "yaml", "flow mapping"},
      {"YamlBadIndent", replace_line(14, "   cpus: 64"), 14, "yaml", "mapping values are not allowed"},
      {"NotAMapping", "- version\n- 1\n", 1, "(document)", "got a list"},
      {"EmptyFile", "", 1, "(document)", "got nothing"},
      {"MissingVersion", replace_line(1, ""), 1, "version", "missing required field"},
      {"WrongVersion", replace_line(1, "version: 2"), 1, "version", "unsupported version 2"},
      {"VersionAsString", replace_line(1, "version: \"1\""), 1, "version",
       "expected an integer, got the string"},
      {"UnknownTopField", replace_line(1, "version: 1\nextras: {}"), 2, "extras", "unknown field"},
      {"OvercommitZero", replace_line(3, "  overcommit: {cpu: 0, memory: 1.0}"), 3, "policy.overcommit.cpu",
       "must be greater than 0"},
      {"OvercommitNegative", replace_line(3, "  overcommit: {cpu: 4.0, memory: -1}"), 3,
       "policy.overcommit.memory", "must be greater than 0"},
      {"OvercommitUnknownField", replace_line(3, "  overcommit: {cpu: 4.0, disk: 2}"), 3,
       "policy.overcommit.disk", "unknown field"},
      {"RestartsZero", replace_line(4, "  host_max_parallel_restarts: 0"), 4,
       "policy.host_max_parallel_restarts", "must be at least 1"},
      {"MigrationsNotANumber", replace_line(5, "  host_max_parallel_migrations: many"), 5,
       "policy.host_max_parallel_migrations", "expected an integer, got 'many'"},
      {"EndpointLimitZero", replace_line(7, "- {name: mgmt-1, max_parallel: 0}"), 7,
       "endpoints[mgmt-1].max_parallel", "must be at least 1"},
      {"ArrayMissingLimit", replace_line(9, "- {name: array-a}"), 9, "arrays[array-a].max_parallel",
       "missing required field"},
      {"DuplicateArray",
       replace_line(9, "- {name: array-a, max_parallel: 8}\n- {name: array-a, max_parallel: 4}"), 10,
       "arrays[array-a].name", "duplicate array name 'array-a' (first at line 9)"},
      {"SwitchUnknownField", replace_line(11, "- {name: sw-1, max_parallel: 4, vendor: x}"), 11,
       "switches[sw-1].vendor", "unknown field"},
      {"HostUnknownField", replace_line(21, "  colour: red"), 21, "hosts[host-01].colour", "unknown field"},
      {"HostCpusString", replace_line(14, "  cpus: \"64\""), 14, "hosts[host-01].cpus",
       "expected an integer, got the string '64'"},
      {"HostCpusZero", replace_line(14, "  cpus: 0"), 14, "hosts[host-01].cpus", "must be at least 1, got 0"},
      {"HostCpusFraction", replace_line(14, "  cpus: 6.5"), 14, "hosts[host-01].cpus", "expected an integer"},
      {"HostCpusTooLarge", replace_line(14, "  cpus: 99999999999"), 14, "hosts[host-01].cpus", "too large"},
      {"HostMemoryNegative", replace_line(15, "  memory_mib: -4096"), 15, "hosts[host-01].memory_mib",
       "must be at least 1"},
      {"HostFieldTwice", replace_line(15, "  memory_mib: 524288\n  cpus: 32"), 16, "hosts[host-01].cpus",
       "field given twice (first at line 14)"},
      {"HostLabelsList", replace_line(16, "  labels: [rack, r1]"), 16, "hosts[host-01].labels",
       "expected a mapping of label: value, got a list"},
      {"HostLabelValueMapping", replace_line(16, "  labels: {rack: {a: b}}"), 16,
       "hosts[host-01].labels.rack", "expected a string, got a mapping"},
      {"HostNetworksMapping", replace_line(17, "  networks: {prod: 1}"), 17, "hosts[host-01].networks",
       "expected a list, got a mapping"},
      {"HostNetworkTwice", replace_line(17, "  networks: [prod, backup, prod]"), 17,
       "hosts[host-01].networks[2]", "network 'prod' listed twice"},
      {"HostUnknownArray", replace_line(18, "  arrays: [array-a, array-x]"), 18, "hosts[host-01].arrays[1]",
       "unknown array 'array-x'"},
      {"HostUnknownEndpoint", replace_line(19, "  endpoint: mgmt-2"), 19, "hosts[host-01].endpoint",
       "unknown endpoint 'mgmt-2'"},
      {"HostMissingEndpoint", replace_line(19, "  nic_gbps: 25"), 13, "hosts[host-01].endpoint",
       "missing required field"},
      {"HostUnknownSwitch", replace_line(20, "  switch: sw-9"), 20, "hosts[host-01].switch",
       "unknown switch 'sw-9'"},
      {"HostBadState", replace_line(21, "  state: broken"), 21, "hosts[host-01].state",
       "expected up, maintenance or down, got 'broken'"},
      {"HostNicZero", replace_line(21, "  nic_gbps: 0"), 21, "hosts[host-01].nic_gbps",
       "must be greater than 0"},
      {"HostReservedNotBool", replace_line(21, "  reserved: maybe"), 21, "hosts[host-01].reserved",
       "expected true or false, got 'maybe'"},
      {"HostBmcPort", replace_line(21, "  bmc: {address: 10.0.0.1, port: 70000}"), 21,
       "hosts[host-01].bmc.port", "too large"},
      {"HostBmcMissingAddress", replace_line(21, "  bmc: {user: admin}"), 21, "hosts[host-01].bmc.address",
       "missing required field"},
      {"DuplicateHost",
       replace_line(28,
                    "  endpoint: mgmt-1\n- name: host-02\n  cpus: 8\n  memory_mib: 1024\n  endpoint: mgmt-1"),
       29, "hosts[host-02].name", "duplicate host name 'host-02' (first at line 22)"},
      {"HostNotAMapping", replace_line(28, "  endpoint: mgmt-1\n- host-03"), 29, "hosts[2]",
       "expected a mapping"},
      {"VmMissingCpus", replace_line(32, ""), 30, "vms[db-1].cpus", "missing required field"},
      {"VmMemoryList", replace_line(33, "  memory_mib: [32768]"), 33, "vms[db-1].memory_mib",
       "expected an integer, got a list"},
      {"VmUnknownHost", replace_line(31, "  host: host-09"), 31, "vms[db-1].host", "unknown host 'host-09'"},
      {"VmMissingHost", replace_line(31, ""), 30, "vms[db-1].host", "missing required field"},
      {"VmBadPriority", replace_line(34, "  priority: urgent"), 34, "vms[db-1].priority",
       "expected critical, high, medium or low, got 'urgent'"},
      {"VmProtectNotBool", replace_line(38, "  protect: yes"), 38, "vms[db-1].protect",
       "expected true or false"},
      {"VmUnknownField", replace_line(38, "  memory: 4096"), 38, "vms[db-1].memory", "unknown field"},
      {"VmEmptyName", replace_line(45, "- name: \"\""), 45, "vms[2].name", "must not be empty"},
      {"DuplicateVm", replace_line(45, "- name: db-2"), 45, "vms[db-2].name",
       "duplicate VM name 'db-2' (first at line 39)"},
      {"VmRequireLabelsList", replace_line(38, "  require_labels: [license]"), 38, "vms[db-1].require_labels",
       "expected a mapping"},
      {"VmDirtyRateNegative", replace_line(38, "  dirty_mib_s: -5"), 38, "vms[db-1].dirty_mib_s",
       "must be at least 0"},
      {"DiskSizeZero", replace_line(37, "  - {name: db-1-root, array: array-a, size_gib: 0}"), 37,
       "vms[db-1].disks[db-1-root].size_gib", "must be at least 1"},
      {"DiskUnknownArray", replace_line(37, "  - {name: db-1-root, array: array-b, size_gib: 100}"), 37,
       "vms[db-1].disks[db-1-root].array", "unknown array 'array-b'"},
      {"DiskMissingName", replace_line(37, "  - {array: array-a, size_gib: 100}"), 37,
       "vms[db-1].disks[0].name", "missing required field"},
      {"DuplicateDiskAcrossVms", replace_line(44, "  - {name: db-1-root, array: array-a, size_gib: 100}"), 44,
       "vms[db-2].disks[db-1-root].name", "duplicate disk name 'db-1-root' (first at line 37)"},
      {"AfterUnknownVm", replace_line(49, "  after: [db-9]"), 49, "vms[app-1].after[0]", "unknown VM 'db-9'"},
      {"AfterListedTwice", replace_line(49, "  after: [db-1, db-2, db-1]"), 49, "vms[app-1].after[2]",
       "VM 'db-1' listed twice"},
      {"AfterCycle", replace_line(38, "  after: [app-1]"), 49, "vms[app-1].after[0]",
       "`after` cycle: db-1 -> app-1 -> db-1"},
      {"AfterSelf", replace_line(49, "  after: [app-1]"), 49, "vms[app-1].after[0]",
       "`after` cycle: app-1 -> app-1"},
      {"VmMemoryLargerThanEveryHost", replace_line(33, "  memory_mib: 600000"), 33, "vms[db-1].memory_mib",
       "no host has that much after overcommit"},
      {"VmCpusLargerThanEveryHost", replace_line(32, "  cpus: 300"), 32, "vms[db-1].cpus",
       "more than any host has after overcommit (largest: 256)"},
      {"GroupUnknownMember",
       replace_line(51, "- {name: db-cluster, kind: anti-affinity, scope: host, members: [db-1, db-9]}"), 51,
       "groups[db-cluster].members[1]", "unknown VM 'db-9'"},
      {"GroupMemberTwice",
       replace_line(51,
                    "- {name: db-cluster, kind: anti-affinity, scope: host, members: [db-1, db-2, db-1]}"),
       51, "groups[db-cluster].members[2]", "VM 'db-1' listed twice"},
      {"GroupOneMember",
       replace_line(51, "- {name: db-cluster, kind: anti-affinity, scope: host, members: [db-1]}"), 51,
       "groups[db-cluster].members", "a group needs at least 2 members, got 1"},
      {"GroupBadKind",
       replace_line(51, "- {name: db-cluster, kind: apart, scope: host, members: [db-1, db-2]}"), 51,
       "groups[db-cluster].kind", "expected anti-affinity or affinity, got 'apart'"},
      {"GroupMissingKind", replace_line(51, "- {name: db-cluster, scope: host, members: [db-1, db-2]}"), 51,
       "groups[db-cluster].kind", "missing required field"},
      {"GroupUnknownScope",
       replace_line(52, "- {name: db-racks, kind: anti-affinity, scope: rak, members: [db-1, db-2]}"), 52,
       "groups[db-racks].scope", "expected host or a label key of some host, got 'rak'"},
      {"DuplicateGroup",
       replace_line(52, "- {name: db-cluster, kind: affinity, scope: rack, members: [db-1, db-2]}"), 52,
       "groups[db-cluster].name", "duplicate group name 'db-cluster' (first at line 51)"},
      {"HostsNotAList", "version: 1\nhosts: {name: host-01}\n", 2, "hosts", "expected a list, got a mapping"},
  };
}

}  // namespace revive::testing

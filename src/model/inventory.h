// Inventory files (../shared/spec/inventory.md, YAML v1): strict loading and writing.
// Loading checks everything the spec forbids (unknown fields, duplicates, dangling references, impossible
// values, `after` cycles, a VM larger than every host) and reports every error of the file at once, each as
// "FILE:LINE: field: what is wrong"; it never returns a partially loaded cloud.
#pragma once

#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "model/cloud.h"

namespace revive::model {

struct Diagnostic {
  std::string file;
  int line = 0;       // 1-based
  std::string field;  // path of the field, e.g. "vms[db-1].memory_mib"
  std::string message;
  std::string to_string() const;  // "FILE:LINE: field: message"
};

// All errors found in one inventory; what() is every diagnostic, one per line.
class InventoryError : public std::runtime_error {
 public:
  explicit InventoryError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// The line (1-based) where each host, VM and group entry begins, by index in the loaded cloud.
struct SourceLines {
  std::vector<int> hosts, vms, groups;
};

struct InventoryOptions {
  // The daemon's inventories: a VM entry may omit `host`, `cpus` and `memory_mib`, which libvirt discovery
  // fills in later; its entry is then policy (priority, protect, labels, after, groups) for the VM of that
  // name. Such a VM is loaded with host kNoIndex and cpus and memory_mib 0, and the size check skips it.
  // Off (the offline tools): all three are required.
  bool vm_placement_from_discovery = false;
  // When set, filled with the line of every entry (for diagnostics about the loaded cloud). Not owned.
  SourceLines* lines = nullptr;
};

// Warnings about the current placement, which loading accepts (the planner takes the cloud as it is): a
// placement group whose running members break it, a VM on a host lacking one of its require_labels, a VM on a
// reserved (spare) host. VMs of `down` hosts are not running and are not looked at. One Diagnostic each, at
// the entry's line when `lines` is given (else line 0), in file order.
std::vector<Diagnostic> placement_warnings(const Cloud& cloud, std::string_view file,
                                           const SourceLines* lines = nullptr);

// Throws InventoryError (an unreadable file is one diagnostic at line 0).
Cloud load_inventory_file(const std::string& path, const InventoryOptions& options = {});
// `file_name` is used in diagnostics only.
Cloud load_inventory_text(std::string_view yaml_text, std::string_view file_name,
                          const InventoryOptions& options = {});

// Writes `cloud` as an inventory that load_inventory_text reads back to an equal cloud. Deterministic.
void write_inventory(const Cloud& cloud, std::ostream& out);

}  // namespace revive::model

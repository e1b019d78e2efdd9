#include "model/cloud.h"

#include <algorithm>
#include <cctype>

namespace revive::model {

std::string_view to_string(Priority priority) {
  switch (priority) {
    case Priority::critical:
      return "critical";
    case Priority::high:
      return "high";
    case Priority::medium:
      return "medium";
    case Priority::low:
      return "low";
  }
  return "medium";
}

std::optional<Priority> parse_priority(std::string_view text) {
  if (text == "critical") return Priority::critical;
  if (text == "high") return Priority::high;
  if (text == "medium") return Priority::medium;
  if (text == "low") return Priority::low;
  return std::nullopt;
}

double priority_weight(Priority priority) {
  static constexpr double kWeights[kPriorityCount] = {1000.0, 100.0, 10.0, 1.0};
  return kWeights[static_cast<int>(priority)];
}

std::string_view to_string(HostState state) {
  switch (state) {
    case HostState::up:
      return "up";
    case HostState::maintenance:
      return "maintenance";
    case HostState::down:
      return "down";
  }
  return "up";
}

std::optional<HostState> parse_host_state(std::string_view text) {
  if (text == "up") return HostState::up;
  if (text == "maintenance") return HostState::maintenance;
  if (text == "down") return HostState::down;
  return std::nullopt;
}

std::string_view to_string(SpareOrder order) {
  return order == SpareOrder::first ? "first" : "last";
}

std::optional<SpareOrder> parse_spare_order(std::string_view text) {
  if (text == "last") return SpareOrder::last;
  if (text == "first") return SpareOrder::first;
  return std::nullopt;
}

std::string_view to_string(GroupKind kind) {
  return kind == GroupKind::affinity ? "affinity" : "anti-affinity";
}

Symbol SymbolTable::intern(std::string_view text) {
  if (auto found = ids_.find(text); found != ids_.end()) return found->second;
  auto id = static_cast<Symbol>(names_.size());
  names_.emplace_back(text);
  ids_.emplace(std::string(text), id);
  return id;
}

Symbol SymbolTable::find(std::string_view text) const {
  auto found = ids_.find(text);
  return found == ids_.end() ? kNoIndex : found->second;
}

Cloud::Cloud() : scope_host_(symbols.intern("host")), default_arch_(symbols.intern("x86_64")) {}

template <typename Entity>
void Cloud::index_names(const std::vector<Entity>& entities, NameIndex& index) {
  bool current = index.ends.size() == entities.size();
  for (std::size_t i = 0, begin = 0; current && i < entities.size(); begin = index.ends[i++]) {
    const auto& name = entities[i].name;
    current = index.ends[i] - begin == name.size() &&
              std::char_traits<char>::compare(index.chars.data() + begin, name.data(), name.size()) == 0;
  }
  if (current) return;
  index.ids.clear();
  index.ids.reserve(entities.size());
  index.chars.clear();
  index.ends.clear();
  index.ends.reserve(entities.size());
  for (Index i = 0; i < entities.size(); ++i) {
    index.ids.emplace(entities[i].name, i);
    index.chars += entities[i].name;
    index.ends.push_back(index.chars.size());
  }
}

Index Cloud::lookup(const NameIndex& index, std::string_view name) {
  auto found = index.ids.find(name);
  return found == index.ids.end() ? kNoIndex : found->second;
}

void Cloud::rebuild_indexes() {
  index_names(hosts, host_ids_);
  index_names(vms, vm_ids_);
  index_names(disks, disk_ids_);
  index_names(arrays, array_ids_);
  index_names(endpoints, endpoint_ids_);
  index_names(switches, switch_ids_);
  index_names(groups, group_ids_);
  // Cleared, not reallocated: a rebuild after moving one VM allocates nothing.
  vms_by_host_.resize(hosts.size());
  for (auto& list : vms_by_host_) list.clear();
  for (VmIndex v = 0; v < vms.size(); ++v) {
    vms[v].groups.clear();
    if (vms[v].host < hosts.size()) vms_by_host_[vms[v].host].push_back(v);
  }
  for (GroupIndex g = 0; g < groups.size(); ++g) {
    for (VmIndex member : groups[g].members) vms[member].groups.push_back(g);
  }
}

void Cloud::move_vm(VmIndex vm, HostIndex host) {
  auto& record = vms.at(vm);
  if (record.host == host) return;
  if (record.host < vms_by_host_.size()) {
    auto& from = vms_by_host_[record.host];
    auto at = std::lower_bound(from.begin(), from.end(), vm);
    if (at != from.end() && *at == vm) from.erase(at);
  }
  record.host = host;
  if (host < vms_by_host_.size()) {
    auto& to = vms_by_host_[host];
    to.insert(std::lower_bound(to.begin(), to.end(), vm), vm);
  }
}

HostIndex Cloud::find_host(std::string_view name) const {
  return lookup(host_ids_, name);
}
VmIndex Cloud::find_vm(std::string_view name) const {
  return lookup(vm_ids_, name);
}
DiskIndex Cloud::find_disk(std::string_view name) const {
  return lookup(disk_ids_, name);
}
ArrayIndex Cloud::find_array(std::string_view name) const {
  return lookup(array_ids_, name);
}
EndpointIndex Cloud::find_endpoint(std::string_view name) const {
  return lookup(endpoint_ids_, name);
}
SwitchIndex Cloud::find_switch(std::string_view name) const {
  return lookup(switch_ids_, name);
}
GroupIndex Cloud::find_group(std::string_view name) const {
  return lookup(group_ids_, name);
}

Index Cloud::scope_value(HostIndex host, Symbol scope) const {
  if (scope == scope_host_) return host;
  for (const Label& label : hosts[host].labels) {
    if (label.key == scope) return label.value;
  }
  return kNoIndex;
}

bool Cloud::has_label(HostIndex host, Label label) const {
  const auto& labels = hosts[host].labels;
  return std::find(labels.begin(), labels.end(), label) != labels.end();
}

bool Cloud::has_network(HostIndex host, Symbol network) const {
  const auto& networks = hosts[host].networks;
  return std::binary_search(networks.begin(), networks.end(), network);
}

bool Cloud::reaches_array(HostIndex host, ArrayIndex array) const {
  const auto& reachable = hosts[host].arrays;
  return std::binary_search(reachable.begin(), reachable.end(), array);
}

namespace {
bool all_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}
}  // namespace

bool is_iscsi_name(std::string_view name) {
  if (name.size() > 223) return false;
  if (name.rfind("eui.", 0) == 0) return name.size() == 20 && all_hex(name.substr(4));
  if (name.rfind("naa.", 0) == 0) return (name.size() == 20 || name.size() == 36) && all_hex(name.substr(4));
  // iqn.YYYY-MM.reversed.domain[:unique]: lower case letters, digits, '-', '.', ':'.
  if (name.rfind("iqn.", 0) != 0 || name.size() < 12) return false;
  for (std::size_t i : {4u, 5u, 6u, 7u, 9u, 10u}) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  if (name[8] != '-' || name[11] != '.' || name.size() == 12) return false;
  int month = (name[9] - '0') * 10 + (name[10] - '0');
  if (month < 1 || month > 12) return false;
  return std::all_of(name.begin() + 12, name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
  });
}

}  // namespace revive::model

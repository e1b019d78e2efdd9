#include "model/inventory.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "model/yaml_document.h"

namespace revive::model {

std::string Diagnostic::to_string() const {
  return file + ":" + std::to_string(line) + ": " + field + ": " + message;
}

namespace {
std::string join_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& d : diagnostics) text += d.to_string() + "\n";
  return text;
}
}  // namespace

InventoryError::InventoryError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

namespace {

using yaml::Document;
using yaml::kNoNode;
using yaml::NodeId;
using yaml::NodeKind;

inline constexpr std::uint64_t kSupportedVersion = 1;

// The known fields of one kind of mapping, and compile-time indexes into them.
template <std::size_t N>
using FieldNames = std::array<std::string_view, N>;

template <std::size_t N>
consteval std::size_t field_index(const FieldNames<N>& names, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return i;
  }
  throw "no such field";  // a compile error: consteval cannot throw
}

constexpr FieldNames<8> kTopFields = {"version",  "policy", "endpoints", "arrays",
                                      "switches", "hosts",  "vms",       "groups"};
constexpr FieldNames<6> kPolicyFields = {
    "overcommit", "host_max_parallel_restarts", "host_max_parallel_migrations", "fence_max_parallel", "rto_s",
    "spares"};
constexpr FieldNames<4> kPriorityFields = {"critical", "high", "medium", "low"};
constexpr FieldNames<2> kSparesFields = {"order", "maintenance"};
constexpr FieldNames<2> kOvercommitFields = {"cpu", "memory"};
constexpr FieldNames<2> kLimitedFields = {"name", "max_parallel"};
constexpr FieldNames<15> kHostFields = {"name",     "cpus",   "memory_mib", "arch",   "labels",
                                        "networks", "arrays", "endpoint",   "switch", "nic_gbps",
                                        "reserved", "state",  "uri",        "bmc",    "initiator"};
constexpr FieldNames<4> kBmcFields = {"address", "port", "user", "password_file"};
constexpr FieldNames<12> kVmFields = {"name",           "host",          "cpus",        "memory_mib",
                                      "priority",       "protect",       "networks",    "disks",
                                      "require_labels", "prefer_labels", "dirty_mib_s", "after"};
constexpr FieldNames<3> kDiskFields = {"name", "array", "size_gib"};
constexpr FieldNames<4> kGroupFields = {"name", "kind", "scope", "members"};

using yaml::quote;

template <std::size_t N>
std::string join_names(const FieldNames<N>& names) {
  std::string text;
  for (auto name : names) {
    if (!text.empty()) text += ", ";
    text += name;
  }
  return text;
}

// A name seen in the document: the entity it names and where it was defined.
struct NameEntry {
  Index index;
  NodeId node;
};

// Names (views into the document) to their entries: open addressing with linear probing, so that loading
// 500,000 names costs no allocation per name (std::unordered_map was a fifth of the load time).
class NameIndex {
 public:
  void reserve(std::size_t count) {
    std::size_t capacity = 16;
    while (capacity < 2 * count) capacity *= 2;
    if (capacity > slots_.size()) rehash(capacity);
  }

  // Inserts `entry` under `name` and returns {it, true}, or returns {the entry already there, false}.
  std::pair<const NameEntry*, bool> insert(std::string_view name, NameEntry entry) {
    if (2 * (size_ + 1) > slots_.size()) rehash(std::max<std::size_t>(16, 2 * slots_.size()));
    auto hash = hash_of(name);
    Slot* slot = probe(name, hash);
    if (slot->data) return {&slot->entry, false};
    *slot = {name.data(), static_cast<std::uint32_t>(name.size()), hash, entry};
    ++size_;
    return {&slot->entry, true};
  }

  const NameEntry* find(std::string_view name) const {
    if (slots_.empty()) return nullptr;
    const Slot* slot = const_cast<NameIndex*>(this)->probe(name, hash_of(name));
    return slot->data ? &slot->entry : nullptr;
  }

 private:
  struct Slot {
    const char* data = nullptr;  // nullptr: empty
    std::uint32_t size = 0;
    std::uint32_t hash = 0;
    NameEntry entry{};
  };

  static std::uint32_t hash_of(std::string_view name) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(name));
  }

  // The slot holding `name`, or the empty slot where it belongs.
  Slot* probe(std::string_view name, std::uint32_t hash) {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (!slot.data) return &slot;
      if (slot.hash == hash && std::string_view(slot.data, slot.size) == name) return &slot;
    }
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    for (const Slot& slot : old) {
      if (slot.data) *probe(std::string_view(slot.data, slot.size), slot.hash) = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

// Reads one inventory document into a Cloud, collecting every error. Names are string_views into the
// document, which outlives the loader.
class Loader {
 public:
  Loader(const Document& document, std::string_view file, const InventoryOptions& options)
      : document_(document), file_(file), options_(options) {}

  Cloud load() {
    read_top();
    if (!errors_.empty()) {
      std::stable_sort(errors_.begin(), errors_.end(),
                       [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
      throw InventoryError(std::move(errors_));
    }
    cloud_.rebuild_indexes();
    return std::move(cloud_);
  }

 private:
  // ---- errors
  // ------------------------------------------------------------------------------------------------
  static std::string join_path(std::string_view path, std::string_view field) {
    if (path.empty()) return std::string(field);
    if (field.empty()) return std::string(path);
    std::string joined;
    joined.reserve(path.size() + field.size() + 1);
    joined.append(path);
    if (field.front() != '[') joined += '.';
    joined.append(field);
    return joined;
  }

  void error(NodeId at, std::string_view path, std::string_view field, std::string message) {
    errors_.push_back({std::string(file_), document_.line(at), join_path(path, field), std::move(message)});
  }

  // What a node is, for "expected X, got Y" messages.
  std::string describe(NodeId node) const { return yaml::describe(document_, node); }

  // ---- typed readers: each reports what is wrong and returns nullopt
  // ----------------------------------------
  template <std::size_t N>
  bool read_fields(NodeId map, std::string_view path, const FieldNames<N>& names,
                   std::array<NodeId, N>& values) {
    values.fill(kNoNode);
    if (document_.kind(map) != NodeKind::mapping) {
      error(map, path, "", "expected a mapping, got " + describe(map));
      return false;
    }
    for (std::uint32_t i = 0, n = document_.size(map); i < n; ++i) {
      NodeId key = document_.key(map, i);
      if (document_.kind(key) != NodeKind::scalar) {
        error(key, path, "", "a key must be a plain name, got " + describe(key));
        continue;
      }
      std::string_view name = document_.text(key);
      std::size_t slot = N;
      for (std::size_t f = 0; f < N; ++f) {
        if (names[f] == name) {
          slot = f;
          break;
        }
      }
      if (slot == N) {
        error(key, path, name, "unknown field (expected one of: " + join_names(names) + ")");
      } else if (values[slot] != kNoNode) {
        error(key, path, name,
              "field given twice (first at line " + std::to_string(line_of_key(map, name)) + ")");
      } else {
        values[slot] = document_.value(map, i);
      }
    }
    return true;
  }

  int line_of_key(NodeId map, std::string_view name) const {
    for (std::uint32_t i = 0, n = document_.size(map); i < n; ++i) {
      NodeId key = document_.key(map, i);
      if (document_.kind(key) == NodeKind::scalar && document_.text(key) == name) return document_.line(key);
    }
    return 0;
  }

  // Reports a missing required field at the line of its mapping.
  bool require(NodeId value, NodeId map, std::string_view path, std::string_view field) {
    if (value != kNoNode) return true;
    error(map, path, field, "missing required field");
    return false;
  }

  std::optional<std::string_view> read_string(NodeId node, std::string_view path, std::string_view field) {
    if (document_.kind(node) != NodeKind::scalar) {
      error(node, path, field, "expected a string, got " + describe(node));
      return std::nullopt;
    }
    return document_.text(node);
  }

  std::optional<std::string_view> read_name(NodeId node, std::string_view path, std::string_view field) {
    auto text = read_string(node, path, field);
    if (text && text->empty()) {
      error(node, path, field, "must not be empty");
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::uint64_t> read_integer(NodeId node, std::string_view path, std::string_view field,
                                            std::uint64_t min, std::uint64_t max) {
    if (document_.kind(node) != NodeKind::scalar) {
      error(node, path, field, "expected an integer, got " + describe(node));
      return std::nullopt;
    }
    std::string_view text = document_.text(node);
    if (document_.quoted(node)) {
      error(node, path, field, "expected an integer, got the string " + quote(text));
      return std::nullopt;
    }
    std::uint64_t value = 0;
    if (auto problem = yaml::read_bounded_integer(text, min, max, value); !problem.empty()) {
      error(node, path, field, problem);
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::uint32_t> read_count(NodeId node, std::string_view path, std::string_view field) {
    auto value = read_integer(node, path, field, 1, std::numeric_limits<std::uint32_t>::max());
    if (!value) return std::nullopt;
    return static_cast<std::uint32_t>(*value);
  }

  std::optional<double> read_positive_number(NodeId node, std::string_view path, std::string_view field) {
    if (document_.kind(node) != NodeKind::scalar) {
      error(node, path, field, "expected a number, got " + describe(node));
      return std::nullopt;
    }
    std::string_view text = document_.text(node);
    if (document_.quoted(node)) {
      error(node, path, field, "expected a number, got the string " + quote(text));
      return std::nullopt;
    }
    std::string_view digits = text;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    double value = 0;
    auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || status != std::errc() || end != digits.data() + digits.size() ||
        !std::isfinite(value)) {
      error(node, path, field, "expected a number, got " + quote(text));
      return std::nullopt;
    }
    if (value <= 0) {
      error(node, path, field, "must be greater than 0, got " + std::string(text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> read_bool(NodeId node, std::string_view path, std::string_view field) {
    if (document_.kind(node) == NodeKind::scalar && !document_.quoted(node)) {
      std::string_view text = document_.text(node);
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    error(node, path, field, "expected true or false, got " + describe(node));
    return std::nullopt;
  }

  // A list that may be absent or empty (null reads as empty). Returns false when it is something else.
  bool read_optional_list(NodeId node, std::string_view path, std::string_view field) {
    NodeKind kind = document_.kind(node);
    if (kind == NodeKind::sequence || kind == NodeKind::null) return true;
    error(node, path, field, "expected a list, got " + describe(node));
    return false;
  }
  std::uint32_t list_size(NodeId node) const {
    return node != kNoNode && document_.kind(node) == NodeKind::sequence ? document_.size(node) : 0;
  }

  static std::string item_path(std::string_view field, std::size_t index) {
    return std::string(field) + "[" + std::to_string(index) + "]";
  }

  // Appends the path of the i-th entity of a section to `out`: section[NAME] when it has a usable name, else
  // section[i].
  void append_entity_path(std::string& out, std::string_view section, NodeId map, std::size_t index) const {
    out.append(section).append("[");
    if (document_.kind(map) == NodeKind::mapping) {
      for (std::uint32_t i = 0, n = document_.size(map); i < n; ++i) {
        NodeId key = document_.key(map, i);
        if (document_.kind(key) == NodeKind::scalar && document_.text(key) == "name") {
          NodeId value = document_.value(map, i);
          if (document_.kind(value) == NodeKind::scalar && !document_.text(value).empty()) {
            out.append(document_.text(value)).append("]");
            return;
          }
          break;
        }
      }
    }
    out.append(std::to_string(index)).append("]");
  }
  std::string entity_path(std::string_view section, NodeId map, std::size_t index) const {
    std::string path;
    append_entity_path(path, section, map, index);
    return path;
  }

  // The path of a VM after its mapping was read: vms[NAME], or vms[i] when it has no usable name.
  std::string vm_path(VmIndex vm) const {
    const std::string& name = cloud_.vms[vm].name;
    return "vms[" + (name.empty() ? std::to_string(vm) : name) + "]";
  }

  // Registers a name; reports a duplicate (and returns false) when the kind already has it.
  bool register_name(NameIndex& names, std::string_view name, Index index, NodeId node, std::string_view path,
                     std::string_view what) {
    auto [first, inserted] = names.insert(name, NameEntry{index, node});
    if (inserted) return true;
    error(node, path, "name",
          "duplicate " + std::string(what) + " name " + quote(name) + " (first at line " +
              std::to_string(document_.line(first->node)) + ")");
    return false;
  }

  Index resolve(const NameIndex& names, NodeId node, std::string_view path, std::string_view field,
                std::string_view what) {
    auto name = read_name(node, path, field);
    if (!name) return kNoIndex;
    const NameEntry* found = names.find(*name);
    if (!found) {
      error(node, path, field, "unknown " + std::string(what) + " " + quote(*name));
      return kNoIndex;
    }
    return found->index;
  }

  std::vector<Symbol> read_networks(NodeId node, std::string_view path) {
    std::vector<Symbol> networks;
    if (!read_optional_list(node, path, "networks")) return networks;
    networks.reserve(list_size(node));
    for (std::uint32_t i = 0, n = list_size(node); i < n; ++i) {
      NodeId item = document_.item(node, i);
      auto name = read_name(item, path, item_path("networks", i));
      if (!name) continue;
      Symbol symbol = cloud_.symbols.intern(*name);
      if (std::find(networks.begin(), networks.end(), symbol) != networks.end()) {
        error(item, path, item_path("networks", i), "network " + quote(*name) + " listed twice");
        continue;
      }
      networks.push_back(symbol);
    }
    std::sort(networks.begin(), networks.end());
    return networks;
  }

  std::vector<Label> read_labels(NodeId node, std::string_view path, std::string_view field) {
    std::vector<Label> labels;
    NodeKind kind = document_.kind(node);
    if (kind == NodeKind::null) return labels;
    if (kind != NodeKind::mapping) {
      error(node, path, field, "expected a mapping of label: value, got " + describe(node));
      return labels;
    }
    std::string field_path = join_path(path, field);
    labels.reserve(document_.size(node));
    for (std::uint32_t i = 0, n = document_.size(node); i < n; ++i) {
      NodeId key = document_.key(node, i);
      auto key_text = read_name(key, field_path, "");
      if (!key_text) continue;
      auto value = read_name(document_.value(node, i), field_path, *key_text);
      if (!value) continue;
      Label label{cloud_.symbols.intern(*key_text), cloud_.symbols.intern(*value)};
      if (std::any_of(labels.begin(), labels.end(), [&](const Label& l) { return l.key == label.key; })) {
        error(key, field_path, *key_text, "label given twice");
        continue;
      }
      labels.push_back(label);
    }
    std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) { return a.key < b.key; });
    return labels;
  }

  // ---- sections
  // ------------------------------------------------------------------------------------------------
  void read_top() {
    NodeId root = document_.root();
    if (document_.kind(root) != NodeKind::mapping) {
      error(root, "", "(document)",
            "an inventory is a mapping with version, hosts, vms...; got " + describe(root));
      return;
    }
    std::array<NodeId, kTopFields.size()> top{};
    read_fields(root, "", kTopFields, top);
    NodeId version = top[field_index(kTopFields, "version")];
    if (require(version, root, "", "version")) {
      auto number = read_integer(version, "", "version", 0, std::numeric_limits<std::uint32_t>::max());
      if (number && *number != kSupportedVersion) {
        error(version, "", "version",
              "unsupported version " + std::to_string(*number) + " (this Revive reads version 1)");
      }
    }
    if (NodeId policy = top[field_index(kTopFields, "policy")]; policy != kNoNode) read_policy(policy);
    read_limited(top[field_index(kTopFields, "endpoints")], "endpoints", "endpoint", cloud_.endpoints,
                 endpoint_names_);
    read_limited(top[field_index(kTopFields, "arrays")], "arrays", "array", cloud_.arrays, array_names_);
    read_limited(top[field_index(kTopFields, "switches")], "switches", "switch", cloud_.switches,
                 switch_names_);
    read_hosts(top[field_index(kTopFields, "hosts")]);
    read_vms(top[field_index(kTopFields, "vms")]);
    resolve_after();
    read_groups(top[field_index(kTopFields, "groups")]);
    // Sizes are compared with host capacities only when those (and the overcommit ratios) are all valid.
    if (capacities_valid_) check_vm_sizes();
    check_after_cycles();
  }

  void read_policy(NodeId node) {
    if (document_.kind(node) == NodeKind::null) return;
    std::array<NodeId, kPolicyFields.size()> fields{};
    if (!read_fields(node, "policy", kPolicyFields, fields)) return;
    Policy& policy = cloud_.policy;
    if (NodeId overcommit = fields[field_index(kPolicyFields, "overcommit")]; overcommit != kNoNode) {
      std::array<NodeId, kOvercommitFields.size()> ratios{};
      if (read_fields(overcommit, "policy.overcommit", kOvercommitFields, ratios)) {
        if (NodeId cpu = ratios[0]; cpu != kNoNode) {
          if (auto value = read_positive_number(cpu, "policy.overcommit", "cpu")) {
            policy.cpu_overcommit = *value;
          } else {
            capacities_valid_ = false;
          }
        }
        if (NodeId memory = ratios[1]; memory != kNoNode) {
          if (auto value = read_positive_number(memory, "policy.overcommit", "memory")) {
            policy.memory_overcommit = *value;
          } else {
            capacities_valid_ = false;
          }
        }
      }
    }
    if (NodeId restarts = fields[field_index(kPolicyFields, "host_max_parallel_restarts")];
        restarts != kNoNode) {
      if (auto value = read_count(restarts, "policy", "host_max_parallel_restarts")) {
        policy.host_max_parallel_restarts = *value;
      }
    }
    if (NodeId migrations = fields[field_index(kPolicyFields, "host_max_parallel_migrations")];
        migrations != kNoNode) {
      if (auto value = read_count(migrations, "policy", "host_max_parallel_migrations")) {
        policy.host_max_parallel_migrations = *value;
      }
    }
    if (NodeId fences = fields[field_index(kPolicyFields, "fence_max_parallel")]; fences != kNoNode) {
      if (auto value = read_count(fences, "policy", "fence_max_parallel")) policy.fence_max_parallel = *value;
    }
    if (NodeId budgets = fields[field_index(kPolicyFields, "rto_s")]; budgets != kNoNode) {
      std::array<NodeId, kPriorityFields.size()> tiers{};
      if (read_fields(budgets, "policy.rto_s", kPriorityFields, tiers)) {
        for (std::size_t tier = 0; tier < tiers.size(); ++tier) {
          if (tiers[tier] == kNoNode) continue;
          if (auto value = read_positive_number(tiers[tier], "policy.rto_s", kPriorityFields[tier])) {
            policy.rto_s[tier] = *value;
          }
        }
      }
    }
    if (NodeId spares = fields[field_index(kPolicyFields, "spares")];
        spares != kNoNode && document_.kind(spares) != NodeKind::null) {
      std::array<NodeId, kSparesFields.size()> keys{};
      if (read_fields(spares, "policy.spares", kSparesFields, keys)) {
        if (NodeId order = keys[field_index(kSparesFields, "order")]; order != kNoNode) {
          if (auto text = read_string(order, "policy.spares", "order")) {
            if (auto parsed = parse_spare_order(*text)) {
              policy.spares.order = *parsed;
            } else {
              error(order, "policy.spares", "order", "expected last or first, got " + quote(*text));
            }
          }
        }
        if (NodeId maintenance = keys[field_index(kSparesFields, "maintenance")]; maintenance != kNoNode) {
          if (auto value = read_bool(maintenance, "policy.spares", "maintenance")) {
            policy.spares.maintenance = *value;
          }
        }
      }
    }
  }

  // endpoints, arrays, switches: {name, max_parallel}.
  template <typename Entity>
  void read_limited(NodeId list, std::string_view section, std::string_view what,
                    std::vector<Entity>& entities, NameIndex& names) {
    if (list == kNoNode || !read_optional_list(list, "", section)) return;
    std::uint32_t count = list_size(list);
    entities.reserve(count);
    names.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      NodeId map = document_.item(list, i);
      std::string path = entity_path(section, map, i);
      std::array<NodeId, kLimitedFields.size()> fields{};
      if (!read_fields(map, path, kLimitedFields, fields)) continue;
      Entity entity;
      if (require(fields[0], map, path, "name")) {
        if (auto name = read_name(fields[0], path, "name")) {
          entity.name = std::string(*name);
          register_name(names, *name, static_cast<Index>(entities.size()), fields[0], path, what);
        }
      }
      if (require(fields[1], map, path, "max_parallel")) {
        if (auto value = read_count(fields[1], path, "max_parallel")) entity.max_parallel = *value;
      }
      entities.push_back(std::move(entity));
    }
  }

  void read_hosts(NodeId list) {
    if (list == kNoNode || !read_optional_list(list, "", "hosts")) return;
    std::uint32_t count = list_size(list);
    cloud_.hosts.reserve(count);
    host_names_.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      NodeId map = document_.item(list, i);
      std::string path = entity_path("hosts", map, i);
      std::array<NodeId, kHostFields.size()> fields{};
      if (!read_fields(map, path, kHostFields, fields)) {
        capacities_valid_ = false;
        continue;
      }
      Host host;
      host.arch = cloud_.default_arch();
      if (NodeId name = fields[field_index(kHostFields, "name")]; require(name, map, path, "name")) {
        if (auto text = read_name(name, path, "name")) {
          host.name = std::string(*text);
          register_name(host_names_, *text, static_cast<HostIndex>(cloud_.hosts.size()), name, path, "host");
        }
      }
      if (NodeId cpus = fields[field_index(kHostFields, "cpus")]; require(cpus, map, path, "cpus")) {
        if (auto value = read_count(cpus, path, "cpus")) host.cpus = *value;
      }
      if (NodeId memory = fields[field_index(kHostFields, "memory_mib")];
          require(memory, map, path, "memory_mib")) {
        if (auto value =
                read_integer(memory, path, "memory_mib", 1, std::numeric_limits<std::int64_t>::max())) {
          host.memory_mib = *value;
        }
      }
      if (NodeId arch = fields[field_index(kHostFields, "arch")]; arch != kNoNode) {
        if (auto text = read_name(arch, path, "arch")) host.arch = cloud_.symbols.intern(*text);
      }
      if (NodeId labels = fields[field_index(kHostFields, "labels")]; labels != kNoNode) {
        host.labels = read_labels(labels, path, "labels");
        for (const Label& label : host.labels) {
          if (label.key >= host_label_keys_.size()) host_label_keys_.resize(label.key + 1, false);
          host_label_keys_[label.key] = true;
        }
      }
      if (NodeId networks = fields[field_index(kHostFields, "networks")]; networks != kNoNode)
        host.networks = read_networks(networks, path);
      if (NodeId arrays = fields[field_index(kHostFields, "arrays")];
          arrays != kNoNode && read_optional_list(arrays, path, "arrays")) {
        for (std::uint32_t a = 0, n = list_size(arrays); a < n; ++a) {
          NodeId item = document_.item(arrays, a);
          ArrayIndex array = resolve(array_names_, item, path, item_path("arrays", a), "array");
          if (array == kNoIndex) continue;
          if (std::find(host.arrays.begin(), host.arrays.end(), array) != host.arrays.end()) {
            error(item, path, item_path("arrays", a),
                  "array " + quote(document_.text(item)) + " listed twice");
            continue;
          }
          host.arrays.push_back(array);
        }
        std::sort(host.arrays.begin(), host.arrays.end());
      }
      if (NodeId endpoint = fields[field_index(kHostFields, "endpoint")];
          require(endpoint, map, path, "endpoint")) {
        host.endpoint = resolve(endpoint_names_, endpoint, path, "endpoint", "endpoint");
      }
      if (NodeId network_switch = fields[field_index(kHostFields, "switch")]; network_switch != kNoNode) {
        host.network_switch = resolve(switch_names_, network_switch, path, "switch", "switch");
      }
      if (NodeId nic = fields[field_index(kHostFields, "nic_gbps")]; nic != kNoNode) {
        if (auto value = read_positive_number(nic, path, "nic_gbps")) host.nic_gbps = *value;
      }
      if (NodeId reserved = fields[field_index(kHostFields, "reserved")]; reserved != kNoNode) {
        if (auto value = read_bool(reserved, path, "reserved")) host.reserved = *value;
      }
      if (NodeId state = fields[field_index(kHostFields, "state")]; state != kNoNode) {
        if (auto text = read_string(state, path, "state")) {
          if (auto parsed = parse_host_state(*text)) {
            host.state = *parsed;
          } else {
            error(state, path, "state", "expected up, maintenance or down, got " + quote(*text));
          }
        }
      }
      if (NodeId uri = fields[field_index(kHostFields, "uri")]; uri != kNoNode) {
        if (auto text = read_string(uri, path, "uri")) host.uri = std::string(*text);
      }
      if (NodeId bmc = fields[field_index(kHostFields, "bmc")]; bmc != kNoNode)
        host.bmc = read_bmc(bmc, path);
      if (NodeId initiator = fields[field_index(kHostFields, "initiator")]; initiator != kNoNode)
        host.initiator = read_initiator(initiator, path);
      if (host.cpus == 0 || host.memory_mib == 0) capacities_valid_ = false;
      if (options_.lines) options_.lines->hosts.push_back(document_.line(map));
      cloud_.hosts.push_back(std::move(host));
    }
  }

  // An iSCSI initiator name, unique among hosts (two hosts with one name could not be told apart by an
  // array's ACL).
  std::string read_initiator(NodeId node, std::string_view path) {
    auto text = read_name(node, path, "initiator");
    if (!text) return {};
    if (!is_iscsi_name(*text)) {
      error(node, path, "initiator",
            "expected an iSCSI name (iqn.YYYY-MM.reversed.domain[:name] in lower case, eui.16HEX or "
            "naa.16HEX/32HEX), got " +
                quote(*text));
      return {};
    }
    auto [first, inserted] =
        initiator_names_.insert(*text, NameEntry{static_cast<Index>(cloud_.hosts.size()), node});
    if (!inserted) {
      error(node, path, "initiator",
            "initiator " + quote(*text) + " is already the initiator of host " +
                quote(cloud_.hosts[first->index].name) + " (line " +
                std::to_string(document_.line(first->node)) + ")");
      return {};
    }
    return std::string(*text);
  }

  std::optional<Bmc> read_bmc(NodeId node, std::string_view host_path) {
    std::string path = join_path(host_path, "bmc");
    std::array<NodeId, kBmcFields.size()> fields{};
    if (!read_fields(node, path, kBmcFields, fields)) return std::nullopt;
    Bmc bmc;
    if (require(fields[0], node, path, "address")) {
      if (auto text = read_name(fields[0], path, "address")) bmc.address = std::string(*text);
    }
    if (fields[1] != kNoNode) {
      if (auto port = read_integer(fields[1], path, "port", 1, 65535))
        bmc.port = static_cast<std::uint16_t>(*port);
    }
    if (fields[2] != kNoNode) {
      if (auto text = read_string(fields[2], path, "user")) bmc.user = std::string(*text);
    }
    if (fields[3] != kNoNode) {
      if (auto text = read_string(fields[3], path, "password_file")) bmc.password_file = std::string(*text);
    }
    return bmc;
  }

  // Per-VM nodes needed by the checks that run after all VMs are read.
  struct VmNodes {
    NodeId cpus = kNoNode;
    NodeId memory = kNoNode;
    NodeId after = kNoNode;
  };

  void read_vms(NodeId list) {
    if (list == kNoNode || !read_optional_list(list, "", "vms")) return;
    std::uint32_t count = list_size(list);
    cloud_.vms.reserve(count);
    std::size_t disks = count_disks(list);
    cloud_.disks.reserve(disks);  // exact: the model keeps no spare capacity
    vm_nodes_.reserve(count);
    vm_names_.reserve(count);
    disk_names_.reserve(disks);
    for (std::uint32_t i = 0; i < count; ++i) {
      NodeId map = document_.item(list, i);
      std::string path = entity_path("vms", map, i);
      std::array<NodeId, kVmFields.size()> fields{};
      Vm vm;
      VmNodes nodes;
      vm.first_disk = static_cast<DiskIndex>(cloud_.disks.size());
      if (read_fields(map, path, kVmFields, fields)) {
        read_vm(map, path, fields, vm, nodes);
      }
      if (options_.lines) options_.lines->vms.push_back(document_.line(map));
      cloud_.vms.push_back(std::move(vm));
      vm_nodes_.push_back(nodes);
    }
  }

  // The number of disks listed by all VMs (well-formed or not).
  std::size_t count_disks(NodeId list) const {
    std::size_t disks = 0;
    for (std::uint32_t i = 0, n = list_size(list); i < n; ++i) {
      NodeId map = document_.item(list, i);
      if (document_.kind(map) != NodeKind::mapping) continue;
      for (std::uint32_t k = 0, keys = document_.size(map); k < keys; ++k) {
        NodeId key = document_.key(map, k);
        if (document_.kind(key) == NodeKind::scalar && document_.text(key) == "disks") {
          disks += list_size(document_.value(map, k));
        }
      }
    }
    return disks;
  }

  void read_vm(NodeId map, const std::string& path, const std::array<NodeId, kVmFields.size()>& fields,
               Vm& vm, VmNodes& nodes) {
    auto vm_index = static_cast<VmIndex>(cloud_.vms.size());
    if (NodeId name = fields[field_index(kVmFields, "name")]; require(name, map, path, "name")) {
      if (auto text = read_name(name, path, "name")) {
        vm.name = std::string(*text);
        register_name(vm_names_, *text, vm_index, name, path, "VM");
      }
    }
    // Placement and size may come from discovery instead (InventoryOptions::vm_placement_from_discovery).
    auto placement_given = [&](NodeId value, std::string_view field) {
      if (value == kNoNode && options_.vm_placement_from_discovery) return false;
      return require(value, map, path, field);
    };
    if (NodeId host = fields[field_index(kVmFields, "host")]; placement_given(host, "host")) {
      vm.host = resolve(host_names_, host, path, "host", "host");
    }
    if (NodeId cpus = fields[field_index(kVmFields, "cpus")]; placement_given(cpus, "cpus")) {
      if (auto value = read_count(cpus, path, "cpus")) {
        vm.cpus = *value;
        nodes.cpus = cpus;
      }
    }
    if (NodeId memory = fields[field_index(kVmFields, "memory_mib")]; placement_given(memory, "memory_mib")) {
      if (auto value =
              read_integer(memory, path, "memory_mib", 1, std::numeric_limits<std::int64_t>::max())) {
        vm.memory_mib = *value;
        nodes.memory = memory;
      }
    }
    if (NodeId priority = fields[field_index(kVmFields, "priority")]; priority != kNoNode) {
      if (auto text = read_string(priority, path, "priority")) {
        if (auto parsed = parse_priority(*text)) {
          vm.priority = *parsed;
        } else {
          error(priority, path, "priority", "expected critical, high, medium or low, got " + quote(*text));
        }
      }
    }
    if (NodeId protect = fields[field_index(kVmFields, "protect")]; protect != kNoNode) {
      if (auto value = read_bool(protect, path, "protect")) vm.protect = *value;
    }
    if (NodeId networks = fields[field_index(kVmFields, "networks")]; networks != kNoNode)
      vm.networks = read_networks(networks, path);
    if (NodeId disks = fields[field_index(kVmFields, "disks")];
        disks != kNoNode && read_optional_list(disks, path, "disks")) {
      for (std::uint32_t d = 0, n = list_size(disks); d < n; ++d)
        read_disk(document_.item(disks, d), path, d, vm_index);
      vm.disk_count = static_cast<std::uint32_t>(cloud_.disks.size() - vm.first_disk);
    }
    if (NodeId labels = fields[field_index(kVmFields, "require_labels")]; labels != kNoNode) {
      vm.require_labels = read_labels(labels, path, "require_labels");
    }
    if (NodeId labels = fields[field_index(kVmFields, "prefer_labels")]; labels != kNoNode) {
      vm.prefer_labels = read_labels(labels, path, "prefer_labels");
    }
    if (NodeId dirty = fields[field_index(kVmFields, "dirty_mib_s")]; dirty != kNoNode) {
      if (auto value =
              read_integer(dirty, path, "dirty_mib_s", 0, std::numeric_limits<std::uint32_t>::max())) {
        vm.dirty_mib_s = static_cast<std::uint32_t>(*value);
      }
    }
    if (NodeId after = fields[field_index(kVmFields, "after")];
        after != kNoNode && read_optional_list(after, path, "after")) {
      nodes.after = after;
    }
  }

  void read_disk(NodeId map, const std::string& vm_path, std::uint32_t index, VmIndex vm) {
    std::string& path = disk_path_;  // reused: no allocation per disk
    path.assign(vm_path).append(".");
    append_entity_path(path, "disks", map, index);
    std::array<NodeId, kDiskFields.size()> fields{};
    if (!read_fields(map, path, kDiskFields, fields)) return;
    Disk disk;
    disk.vm = vm;
    if (require(fields[0], map, path, "name")) {
      if (auto name = read_name(fields[0], path, "name")) {
        disk.name = std::string(*name);
        register_name(disk_names_, *name, static_cast<DiskIndex>(cloud_.disks.size()), fields[0], path,
                      "disk");
      }
    }
    if (require(fields[1], map, path, "array"))
      disk.array = resolve(array_names_, fields[1], path, "array", "array");
    if (require(fields[2], map, path, "size_gib")) {
      if (auto value = read_count(fields[2], path, "size_gib")) disk.size_gib = *value;
    }
    cloud_.disks.push_back(std::move(disk));
  }

  void resolve_after() {
    std::vector<VmIndex> seen_by(cloud_.vms.size(), kNoIndex);  // last VM whose list named it
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      NodeId list = vm_nodes_[v].after;
      if (list == kNoNode) continue;
      Vm& vm = cloud_.vms[v];
      std::string path = vm_path(v);
      for (std::uint32_t i = 0, n = list_size(list); i < n; ++i) {
        NodeId item = document_.item(list, i);
        VmIndex other = resolve(vm_names_, item, path, item_path("after", i), "VM");
        if (other == kNoIndex) continue;
        if (seen_by[other] == v) {
          error(item, path, item_path("after", i), "VM " + quote(document_.text(item)) + " listed twice");
          continue;
        }
        seen_by[other] = v;
        vm.after.push_back(other);
        after_items_.push_back(item);
      }
    }
  }

  void read_groups(NodeId list) {
    if (list == kNoNode || !read_optional_list(list, "", "groups")) return;
    std::uint32_t count = list_size(list);
    cloud_.groups.reserve(count);
    NameIndex group_names;
    group_names.reserve(count);
    std::vector<GroupIndex> seen_in(cloud_.vms.size(), kNoIndex);
    for (std::uint32_t i = 0; i < count; ++i) {
      NodeId map = document_.item(list, i);
      std::string path = entity_path("groups", map, i);
      std::array<NodeId, kGroupFields.size()> fields{};
      if (!read_fields(map, path, kGroupFields, fields)) continue;
      Group group;
      auto group_index = static_cast<GroupIndex>(cloud_.groups.size());
      if (require(fields[0], map, path, "name")) {
        if (auto name = read_name(fields[0], path, "name")) {
          group.name = std::string(*name);
          register_name(group_names, *name, group_index, fields[0], path, "group");
        }
      }
      if (require(fields[1], map, path, "kind")) {
        if (auto kind = read_string(fields[1], path, "kind")) {
          if (*kind == "anti-affinity") {
            group.kind = GroupKind::anti_affinity;
          } else if (*kind == "affinity") {
            group.kind = GroupKind::affinity;
          } else {
            error(fields[1], path, "kind", "expected anti-affinity or affinity, got " + quote(*kind));
          }
        }
      }
      if (require(fields[2], map, path, "scope")) {
        if (auto scope = read_name(fields[2], path, "scope")) {
          if (*scope == "host") {
            group.scope = cloud_.scope_host();
          } else {
            Symbol key = cloud_.symbols.find(*scope);
            if (key == kNoIndex || key >= host_label_keys_.size() || !host_label_keys_[key]) {
              error(fields[2], path, "scope",
                    "expected host or a label key of some host, got " + quote(*scope));
            } else {
              group.scope = key;
            }
          }
        }
      }
      NodeId members = fields[3];
      if (require(members, map, path, "members") && read_optional_list(members, path, "members")) {
        std::uint32_t size = list_size(members);
        for (std::uint32_t m = 0; m < size; ++m) {
          NodeId item = document_.item(members, m);
          VmIndex vm = resolve(vm_names_, item, path, item_path("members", m), "VM");
          if (vm == kNoIndex) continue;
          if (seen_in[vm] == group_index) {
            error(item, path, item_path("members", m), "VM " + quote(document_.text(item)) + " listed twice");
            continue;
          }
          seen_in[vm] = group_index;
          group.members.push_back(vm);
        }
        if (size < 2) {
          error(members, path, "members", "a group needs at least 2 members, got " + std::to_string(size));
        }
      }
      if (options_.lines) options_.lines->groups.push_back(document_.line(map));
      cloud_.groups.push_back(std::move(group));
    }
  }

  // A VM larger than every host (cpu and memory after overcommit, on one host) can never be placed.
  void check_vm_sizes() {
    if (cloud_.hosts.empty()) return;
    struct Capacity {
      double cpus;
      double memory_mib;
    };
    std::vector<Capacity> capacities;
    capacities.reserve(cloud_.hosts.size());
    for (HostIndex h = 0; h < cloud_.hosts.size(); ++h) {
      capacities.push_back({cloud_.usable_cpus(h), cloud_.usable_memory_mib(h)});
    }
    std::sort(capacities.begin(), capacities.end(),
              [](const Capacity& a, const Capacity& b) { return a.cpus > b.cpus; });
    // best_memory[i]: the most memory among the hosts with at least capacities[i].cpus.
    std::vector<double> best_memory(capacities.size());
    double best = 0;
    for (std::size_t i = 0; i < capacities.size(); ++i)
      best_memory[i] = best = std::max(best, capacities[i].memory_mib);
    double largest_cpus = capacities.front().cpus;
    auto number = [](double value) {
      std::ostringstream text;
      text << value;
      return text.str();
    };
    for (VmIndex v = 0; v < cloud_.vms.size(); ++v) {
      const Vm& vm = cloud_.vms[v];
      const VmNodes& nodes = vm_nodes_[v];
      if (nodes.cpus == kNoNode || nodes.memory == kNoNode) continue;
      auto cpus = static_cast<double>(vm.cpus);
      auto memory = static_cast<double>(vm.memory_mib);
      std::size_t fitting = static_cast<std::size_t>(
          std::partition_point(capacities.begin(), capacities.end(),
                               [&](const Capacity& capacity) { return capacity.cpus >= cpus; }) -
          capacities.begin());
      if (fitting == 0) {
        error(nodes.cpus, vm_path(v), "cpus",
              "VM needs " + std::to_string(vm.cpus) +
                  " cpus, more than any host has after overcommit (largest: " + number(largest_cpus) + ")");
      } else if (best_memory[fitting - 1] < memory) {
        error(nodes.memory, vm_path(v), "memory_mib",
              "VM needs " + std::to_string(vm.memory_mib) + " MiB with " + std::to_string(vm.cpus) +
                  " cpus; no host has that much after overcommit (largest memory on such a host: " +
                  number(best_memory[fitting - 1]) + " MiB)");
      }
    }
  }

  // `after` must be acyclic: a VM waiting (transitively) for itself would never start.
  void check_after_cycles() {
    const auto& vms = cloud_.vms;
    enum : std::uint8_t { kUnvisited, kOnPath, kDone };
    std::vector<std::uint8_t> state(vms.size(), kUnvisited);
    // after_items_ holds the nodes of every resolved `after` entry, VM by VM in order: offsets per VM.
    std::vector<std::size_t> first_item(vms.size() + 1, 0);
    for (VmIndex v = 0; v < vms.size(); ++v) first_item[v + 1] = first_item[v] + vms[v].after.size();
    struct Frame {
      VmIndex vm;
      std::size_t next;
    };
    std::vector<Frame> path;
    for (VmIndex start = 0; start < vms.size(); ++start) {
      if (state[start] != kUnvisited || vms[start].after.empty()) continue;
      path.push_back({start, 0});
      state[start] = kOnPath;
      while (!path.empty()) {
        Frame& frame = path.back();
        const auto& after = vms[frame.vm].after;
        if (frame.next == after.size()) {
          state[frame.vm] = kDone;
          path.pop_back();
          continue;
        }
        std::size_t edge = frame.next++;
        VmIndex next = after[edge];
        if (state[next] == kOnPath) {
          std::string cycle;
          auto begin = std::find_if(path.begin(), path.end(), [&](const Frame& f) { return f.vm == next; });
          for (auto it = begin; it != path.end(); ++it) cycle += vms[it->vm].name + " -> ";
          cycle += vms[next].name;
          error(after_items_[first_item[frame.vm] + edge], vm_path(frame.vm), item_path("after", edge),
                "`after` cycle: " + cycle);
        } else if (state[next] == kUnvisited) {
          state[next] = kOnPath;
          path.push_back({next, 0});
        }
      }
    }
  }

  const Document& document_;
  std::string_view file_;
  InventoryOptions options_;
  std::vector<Diagnostic> errors_;
  Cloud cloud_;
  NameIndex endpoint_names_, array_names_, switch_names_, host_names_, vm_names_, disk_names_,
      initiator_names_;
  bool capacities_valid_ = true;       // every host's cpus and memory and the overcommit ratios are valid
  std::vector<bool> host_label_keys_;  // by Symbol: some host carries this label key
  std::vector<VmNodes> vm_nodes_;
  std::string disk_path_;
  std::vector<NodeId> after_items_;
};

}  // namespace

Cloud load_inventory_text(std::string_view yaml_text, std::string_view file_name,
                          const InventoryOptions& options) {
  std::optional<Document> document;
  try {
    document.emplace(Document::parse(yaml_text));
  } catch (const yaml::SyntaxError& syntax) {
    throw InventoryError({{std::string(file_name), syntax.line(), "yaml", syntax.what()}});
  }
  if (options.lines) *options.lines = {};
  Loader loader(*document, file_name, options);
  return loader.load();
}

Cloud load_inventory_file(const std::string& path, const InventoryOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InventoryError({{path, 0, "file", std::string("cannot read: ") + std::strerror(errno)}});
  }
  // Read straight into one string sized from the file: no intermediate copy of a large inventory.
  // A pipe cannot tell its size: read it as a stream.
  std::string text;
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  if (size >= 0) {
    in.seekg(0, std::ios::beg);
    text.resize(static_cast<std::size_t>(size));
    in.read(text.data(), size);
    if (in.gcount() != size) throw InventoryError({{path, 0, "file", "read error"}});
  } else {
    in.clear();
    std::ostringstream stream;
    stream << in.rdbuf();
    text = std::move(stream).str();
  }
  if (in.bad()) throw InventoryError({{path, 0, "file", "read error"}});
  return load_inventory_text(text, path, options);
}

}  // namespace revive::model

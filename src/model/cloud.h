// The in-memory model of a cloud: hosts, VMs, disks, storage arrays, management endpoints, network switches,
// placement groups and the policy that governs them. It is the one data structure every part of Revive reads:
// the inventory loader fills it, the planner and the simulator read it, the daemon (later) keeps it current.
//
// Layout: every entity lives in a vector and is referred to by its index (uint32_t) there, never by pointer,
// so a Cloud can be copied as a snapshot and indexes stay valid in the copy. Names are looked up through hash
// indexes built by rebuild_indexes(). Small string sets (labels, networks, architectures) are interned in
// `symbols`. Sized for 10,000 hosts and 200,000 VMs (see docs/PERFORMANCE.md for the bytes per VM measured).
//
// Thread-safety: none inside; a Cloud is a value. Concurrent readers are fine, a writer needs exclusive
// access.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace revive::model {

// Hash for string-keyed maps that can be searched with a string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};
template <typename Value>
using NameMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

using Index = std::uint32_t;
inline constexpr Index kNoIndex = UINT32_MAX;
using HostIndex = Index;
using VmIndex = Index;
using DiskIndex = Index;
using ArrayIndex = Index;
using EndpointIndex = Index;
using SwitchIndex = Index;
using GroupIndex = Index;
using Symbol = Index;  // an interned string in Cloud::symbols

// Restart priority. Lower enum value = more important; critical VMs are placed and started first.
enum class Priority : std::uint8_t { critical = 0, high = 1, medium = 2, low = 3 };
inline constexpr int kPriorityCount = 4;
std::string_view to_string(Priority priority);
std::optional<Priority> parse_priority(std::string_view text);
// Weight used when the planner maximises "placed priority weight": one critical VM outweighs any number of
// lower ones that could take its place in practice (1000 / 100 / 10 / 1).
double priority_weight(Priority priority);

enum class HostState : std::uint8_t { up, maintenance, down };
std::string_view to_string(HostState state);
std::optional<HostState> parse_host_state(std::string_view text);

enum class GroupKind : std::uint8_t { affinity, anti_affinity };
std::string_view to_string(GroupKind kind);

// Interns short strings (label keys and values, network names, architectures) to small integers.
class SymbolTable {
 public:
  Symbol intern(std::string_view text);
  // kNoIndex when the text was never interned.
  Symbol find(std::string_view text) const;
  const std::string& name(Symbol symbol) const { return names_[symbol]; }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  NameMap<Symbol> ids_;
};

// When reserved (spare) hosts receive VMs (inventory `policy.spares`).
enum class SpareOrder : std::uint8_t { last, first };
std::string_view to_string(SpareOrder order);  // "last", "first"
std::optional<SpareOrder> parse_spare_order(std::string_view text);
struct SparesPolicy {
  // last: a spare is a target only when no other host can take the VM; first: spares are tried before the
  // others. Either way hosts carrying more of a VM's prefer_labels rank first within each of the two tiers.
  SpareOrder order = SpareOrder::last;
  // false: spares are kept for failures; the VMs of drained hosts (maintenance, evacuation) never go there.
  bool maintenance = false;
  friend bool operator==(const SparesPolicy&, const SparesPolicy&) = default;
};

struct Policy {
  double cpu_overcommit = 1.0;                     // usable vCPU = host cpus x this
  double memory_overcommit = 1.0;                  // usable memory = host memory x this
  std::uint32_t host_max_parallel_restarts = 32;   // concurrent VM starts per target host
  std::uint32_t host_max_parallel_migrations = 8;  // concurrent migrations per source or target host
  // Concurrent fences (BMC power-offs and the other fence levels) across the cloud: the controller's fence
  // workers. Default 16.
  std::uint32_t fence_max_parallel = 16;
  // Recovery-time budget per priority (index = Priority), seconds from a failure until the tier's last VM
  // runs again; 0 = no budget for that tier. Checked by `revive check --rto` (exec/recovery_time.h).
  std::array<double, kPriorityCount> rto_s{};
  SparesPolicy spares;
};

// A management endpoint (libvirt daemon, vCenter, HMC): accepts at most max_parallel operations at once.
struct Endpoint {
  std::string name;
  std::uint32_t max_parallel = 1;
};

// A storage array (or controller): at most max_parallel map/unmap operations at once.
struct StorageArray {
  std::string name;
  std::uint32_t max_parallel = 1;
};

// A network controller (top-of-rack switch, SDN controller): at most max_parallel port changes at once.
struct Switch {
  std::string name;
  std::uint32_t max_parallel = 1;
};

struct Label {
  Symbol key = kNoIndex;
  Symbol value = kNoIndex;
  friend bool operator==(const Label&, const Label&) = default;
};

// Baseboard management controller of a host, for power fencing. The password is never held here, only where
// it is.
struct Bmc {
  std::string address;
  std::uint16_t port = 623;
  std::string user;
  std::string password_file;
};

struct Host {
  std::string name;
  std::uint32_t cpus = 0;        // schedulable vCPU before overcommit
  std::uint64_t memory_mib = 0;  // before overcommit
  Symbol arch = kNoIndex;
  std::vector<Label> labels;       // sorted by key
  std::vector<Symbol> networks;    // sorted
  std::vector<ArrayIndex> arrays;  // sorted
  EndpointIndex endpoint = kNoIndex;
  SwitchIndex network_switch = kNoIndex;  // kNoIndex: networks are static, no net_config step
  double nic_gbps = 10.0;
  bool reserved = false;  // a spare: receives VMs as policy.spares says (last, kept for failures)
  HostState state = HostState::up;
  std::string uri;  // libvirt URI (daemon only), may be empty
  // iSCSI initiator name (IQN) the host's VMs open their disks with; empty: none (storage drivers then
  // cannot grant it access). Unique among hosts.
  std::string initiator;
  std::optional<Bmc> bmc;
};

struct Disk {
  std::string name;
  ArrayIndex array = kNoIndex;
  std::uint32_t size_gib = 0;
  VmIndex vm = kNoIndex;
};

struct Vm {
  std::string name;
  HostIndex host = kNoIndex;
  std::uint32_t cpus = 0;
  std::uint64_t memory_mib = 0;
  Priority priority = Priority::medium;
  bool protect = true;             // false: never restarted or moved by Revive
  std::uint32_t dirty_mib_s = 20;  // memory dirty rate, MiB/s, for live-migration estimates
  DiskIndex first_disk = 0;        // disks are cloud.disks[first_disk, first_disk + disk_count)
  std::uint32_t disk_count = 0;
  std::vector<Symbol> networks;       // sorted
  std::vector<Label> require_labels;  // hard: target must carry all
  std::vector<Label> prefer_labels;   // soft: preferred when there is a choice
  std::vector<VmIndex> after;         // must be running (ready) before this one starts
  std::vector<GroupIndex> groups;     // groups this VM is a member of (filled by rebuild_indexes)
};

struct Group {
  std::string name;
  GroupKind kind = GroupKind::anti_affinity;
  Symbol scope = kNoIndex;  // a label key; kScopeHost (below) means "the host itself"
  std::vector<VmIndex> members;
};

// iqn.YYYY-MM.naming-authority[:unique] (lower case), eui.<16 hex> or naa.<16 or 32 hex> (RFC 3720).
bool is_iscsi_name(std::string_view name);

class Cloud {
 public:
  Policy policy;
  SymbolTable symbols;
  std::vector<Endpoint> endpoints;
  std::vector<StorageArray> arrays;
  std::vector<Switch> switches;
  std::vector<Host> hosts;
  std::vector<Vm> vms;
  std::vector<Disk> disks;  // grouped per VM, in VM order
  std::vector<Group> groups;

  // The scope symbol meaning "same host" for groups: symbols.intern("host") at construction.
  Symbol scope_host() const { return scope_host_; }
  Symbol default_arch() const { return default_arch_; }

  Cloud();

  // Rebuilds name lookups, per-host VM lists and per-VM group lists. Call after adding or removing entities
  // or moving VMs. O(entities): the names of a kind are hashed again only when one of them changed since the
  // last rebuild (compared byte for byte with a flat copy, much cheaper than hashing), so a view that moves
  // one VM and rebuilds pays for the per-host lists, not for every name.
  void rebuild_indexes();
  // Moves one VM to `host` (kNoIndex: none) and keeps the per-host VM lists valid, in O(VMs on the two
  // hosts) instead of a rebuild. Requires indexes valid before the call.
  void move_vm(VmIndex vm, HostIndex host);

  // Name lookups; kNoIndex when absent. Valid after rebuild_indexes().
  HostIndex find_host(std::string_view name) const;
  VmIndex find_vm(std::string_view name) const;
  DiskIndex find_disk(std::string_view name) const;
  ArrayIndex find_array(std::string_view name) const;
  EndpointIndex find_endpoint(std::string_view name) const;
  SwitchIndex find_switch(std::string_view name) const;
  GroupIndex find_group(std::string_view name) const;

  // VMs whose current host is `host`, in VM index order. Valid after rebuild_indexes().
  const std::vector<VmIndex>& vms_on(HostIndex host) const { return vms_by_host_[host]; }

  // Capacity after overcommit.
  double usable_cpus(HostIndex host) const { return hosts[host].cpus * policy.cpu_overcommit; }
  double usable_memory_mib(HostIndex host) const {
    return static_cast<double>(hosts[host].memory_mib) * policy.memory_overcommit;
  }

  // The value of a host's label, or kNoIndex when it has no such label. scope_host() returns the host index
  // itself, so "same scope value" works for host and label scopes alike.
  Index scope_value(HostIndex host, Symbol scope) const;
  bool has_label(HostIndex host, Label label) const;
  bool has_network(HostIndex host, Symbol network) const;
  bool reaches_array(HostIndex host, ArrayIndex array) const;

  std::size_t vm_disk_end(VmIndex vm) const { return vms[vm].first_disk + vms[vm].disk_count; }

 private:
  // The name lookup of one kind of entity, with the names it was built from (concatenated; ends[i] is where
  // the i-th ends) to tell cheaply whether it is still current.
  struct NameIndex {
    NameMap<Index> ids;
    std::string chars;
    std::vector<std::size_t> ends;
  };
  Symbol scope_host_;
  Symbol default_arch_;
  std::vector<std::vector<VmIndex>> vms_by_host_;
  NameIndex host_ids_;
  NameIndex vm_ids_;
  NameIndex disk_ids_;
  NameIndex array_ids_;
  NameIndex endpoint_ids_;
  NameIndex switch_ids_;
  NameIndex group_ids_;

  template <typename Entity>
  static void index_names(const std::vector<Entity>& entities, NameIndex& index);
  static Index lookup(const NameIndex& index, std::string_view name);
};

}  // namespace revive::model

#include "model/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace revive::model {
namespace {

constexpr std::uint64_t kMib = 1;
constexpr std::uint64_t kGib = 1024 * kMib;
constexpr double kMaximumMemoryLoad = 0.75;  // above this the options are refused: failover would be hopeless

// --- Randomness: std::mt19937_64 is specified bit for bit by the standard; the distributions are ours. ---
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, bound), bound > 0, without modulo bias.
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t value;
    do {
      value = engine_();
    } while (value >= limit);
    return value % bound;
  }
  // Uniform in [low, high].
  std::uint64_t between(std::uint64_t low, std::uint64_t high) { return low + below(high - low + 1); }
  // True with probability per_mille / 1000.
  bool chance(std::uint32_t per_mille) { return below(1000) < per_mille; }
  // An index drawn with probability proportional to weights[index].
  template <typename Item>
  std::size_t weighted(std::span<const Item> items) {
    std::uint64_t total = 0;
    for (const Item& item : items) total += item.weight;
    std::uint64_t pick = below(total);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (pick < items[i].weight) return i;
      pick -= items[i].weight;
    }
    return items.size() - 1;
  }
  template <typename Value>
  void shuffle(std::vector<Value>& values) {
    for (std::size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

// --- Published shapes. ---

// Two-socket server generations, by memory (the Google 2019 trace normalises machines into a handful of
// platforms of increasing size; these are their plausible absolute counterparts). Sorted by memory: moving a
// host one step up or down is "one generation bigger or smaller".
struct HostShape {
  std::uint32_t cpus;
  std::uint32_t memory_gib;
  std::uint32_t nic_gbps;
  std::uint32_t weight;
};
constexpr std::array<HostShape, 9> kHostShapes = {{
    {32, 128, 10, 5},
    {48, 192, 10, 10},
    {64, 256, 10, 20},
    {96, 384, 25, 20},
    {128, 512, 25, 15},
    {96, 768, 25, 15},
    {128, 1024, 25, 10},
    {192, 1536, 100, 4},
    {256, 2048, 100, 1},
}};

// VM core/memory buckets after the Azure public dataset (2017/2019 traces): most VMs 1–8 vCPU and
// 2–32 GiB, a thin tail of big ones.
struct VmShape {
  std::uint32_t cpus;
  std::uint32_t memory_gib;
  std::uint32_t weight;
};
constexpr std::array<VmShape, 13> kVmShapes = {{
    {1, 2, 90},
    {1, 4, 60},
    {2, 4, 150},
    {2, 8, 160},
    {4, 8, 110},
    {4, 16, 140},
    {8, 16, 70},
    {8, 32, 90},
    {16, 32, 30},
    {16, 64, 45},
    {32, 128, 15},
    {48, 192, 5},
    {64, 256, 3},
}};

struct Weighted {
  std::uint32_t value;
  std::uint32_t weight;
};
// Disks per VM, skewed to 1–3.
constexpr std::array<Weighted, 8> kDiskCounts = {
    {{1, 30}, {2, 25}, {3, 17}, {4, 10}, {5, 7}, {6, 5}, {7, 3}, {8, 3}}};
constexpr std::array<Weighted, 3> kRootDiskGib = {{{20, 40}, {50, 35}, {100, 25}}};
constexpr std::array<Weighted, 6> kDataDiskGib = {
    {{50, 20}, {100, 25}, {200, 25}, {500, 18}, {1000, 9}, {2000, 3}}};
// 10% critical, 20% high, 40% medium, 30% low (in Priority order).
constexpr std::array<Weighted, 4> kPriorities = {{{0, 10}, {1, 20}, {2, 40}, {3, 30}}};

// Memory dirty rates, MiB/s: a log-normal of median 25 and sigma 1.1 cut to 5–500, as 33 quantiles at
// 0/32, 1/32, ... 32/32; a draw is uniform between two neighbouring quantiles (integers only, so no libm
// rounding can change a cloud between platforms).
constexpr std::array<std::uint32_t, 33> kDirtyRateQuantiles = {
    5,  5,  5,  6,  7,  8,  9,  11, 12, 13, 15, 16, 18,  19,  21,  23, 25,
    27, 30, 32, 35, 39, 43, 47, 53, 59, 66, 76, 89, 107, 135, 194, 500};

std::uint32_t draw(Random& random, std::span<const Weighted> table) {
  return table[random.weighted(table)].value;
}

std::string padded(std::string_view prefix, std::uint64_t number, int width) {
  return fmt::format("{}{:0{}}", prefix, number, width);
}
int digits(std::uint64_t number) {
  int count = 1;
  while (number >= 10) {
    number /= 10;
    ++count;
  }
  return count;
}
std::uint32_t ceil_div(std::uint32_t a, std::uint32_t b) {
  return (a + b - 1) / b;
}

// A VM before it has a name: what it is and where it runs.
struct Draft {
  std::uint32_t cpus = 0;
  std::uint64_t memory_mib = 0;
  Priority priority = Priority::medium;
  bool protect = true;
  bool needs_license = false;
  bool on_backup_network = false;
  bool prefers_zone = false;
  bool taken = false;  // already given a role (chain, group, pair)
  std::uint32_t dirty_mib_s = 20;
  std::uint32_t disk_count = 1;
  std::uint32_t anti_affinity_group = UINT32_MAX;  // index into Plan::groups
  std::uint32_t partner = UINT32_MAX;              // affinity partner (draft index)
  std::vector<std::uint32_t> after;                // draft indexes
  HostIndex host = kNoIndex;
};

struct DraftGroup {
  GroupKind kind;
  bool rack_scope;
  std::vector<std::uint32_t> members;  // draft indexes
  std::vector<Index> used;             // scope values (host or rack index) taken by placed members
};

struct HostPlan {
  std::uint32_t shape = 0;  // index into kHostShapes
  std::uint32_t rack = 0;
  bool reserved = false;
  bool licensed = false;
  std::uint64_t free_memory_mib = 0;
  double free_cpus = 0;
  double load_bias = 0;  // -0.12..0.12: how much busier than the mean this host ends up
};

class Generator {
 public:
  explicit Generator(const GeneratorOptions& options) : options_(options), random_(options.seed) {}

  Cloud run() {
    check_options();
    lay_out_hosts();
    draw_vms();
    size_hosts();
    give_roles();
    place();
    return build();
  }

 private:
  // --- Options. ---
  void check_options() {
    const auto& o = options_;
    if (o.hosts == 0) throw GeneratorError("hosts", "must be at least 1");
    if (o.hosts > 1'000'000) throw GeneratorError("hosts", fmt::format("{} is more than 1,000,000", o.hosts));
    if (o.vms > 10'000'000) throw GeneratorError("vms", fmt::format("{} is more than 10,000,000", o.vms));
    racks_ = o.racks.value_or(std::max<std::uint32_t>(1, ceil_div(o.hosts, 16)));
    if (racks_ == 0) throw GeneratorError("racks", "must be at least 1");
    if (racks_ > o.hosts) {
      throw GeneratorError(
          "racks", fmt::format("{} racks for {} hosts: a rack needs at least one host", racks_, o.hosts));
    }
    arrays_ = o.arrays.value_or(std::max<std::uint32_t>(1, ceil_div(o.hosts, 32)));
    if (arrays_ == 0) throw GeneratorError("arrays", "must be at least 1");
    if (arrays_ > 100'000) throw GeneratorError("arrays", fmt::format("{} is more than 100,000", arrays_));
    reserved_ = o.reserved_hosts.value_or(o.hosts >= 8 ? std::max<std::uint32_t>(1, o.hosts / 50) : 0);
    if (reserved_ >= o.hosts) {
      throw GeneratorError("reserved-hosts", fmt::format("{} spares leave none of the {} hosts to run VMs",
                                                         reserved_, o.hosts));
    }
    if (!(o.dirty_rate_scale >= 0.1 && o.dirty_rate_scale <= 10.0)) {
      throw GeneratorError("dirty-rate-scale", fmt::format("{} is outside 0.1–10", o.dirty_rate_scale));
    }
    if (!(o.memory_load >= 0.05 && o.memory_load <= 0.9)) {
      throw GeneratorError("memory-load", fmt::format("{} is outside 0.05–0.90", o.memory_load));
    }
    if (!(o.cpu_overcommit >= 1.0 && o.cpu_overcommit <= 64.0)) {
      throw GeneratorError("cpu-overcommit", fmt::format("{} is outside 1–64", o.cpu_overcommit));
    }
    if (o.hosts_per_endpoint == 0) throw GeneratorError("hosts-per-endpoint", "must be at least 1");
    // Even the smallest VMs on the biggest hosts: refuse before drawing anything.
    const std::uint64_t active = o.hosts - reserved_;
    const double most_memory =
        static_cast<double>(active) * kHostShapes.back().memory_gib * kMaximumMemoryLoad;
    if (static_cast<double>(o.vms) * kVmShapes.front().memory_gib > most_memory) {
      throw GeneratorError("vms", too_many_vms_message());
    }
  }

  std::string too_many_vms_message() const {
    return fmt::format(
        "{} VMs do not fit on {} hosts ({} of them spares) at most {:.0f}% memory load with the biggest host "
        "shape ({} GiB); use fewer VMs or more hosts",
        options_.vms, options_.hosts, reserved_, kMaximumMemoryLoad * 100, kHostShapes.back().memory_gib);
  }

  // --- Hosts: racks (contiguous blocks), spares, licences; shapes come later. ---
  void lay_out_hosts() {
    const std::uint32_t count = options_.hosts;
    hosts_.resize(count);
    for (std::uint32_t h = 0; h < count; ++h) {
      hosts_[h].rack = static_cast<std::uint32_t>(static_cast<std::uint64_t>(h) * racks_ / count);
      hosts_[h].licensed = h % 4 == 1;  // a quarter of the hosts, spread over every rack
    }
    for (std::uint32_t i = 0; i < reserved_; ++i) {
      hosts_[static_cast<std::uint64_t>(i + 1) * count / reserved_ - 1].reserved = true;
    }
    for (std::uint32_t h = 0; h < count; ++h) {
      if (hosts_[h].reserved) continue;
      active_.push_back(h);
      if (hosts_[h].licensed) licensed_active_.push_back(h);
    }
  }

  void draw_vm_shape(Draft& vm, std::uint32_t max_memory_gib) {
    std::size_t shape;
    do {
      shape = random_.weighted(std::span<const VmShape>(kVmShapes));
    } while (kVmShapes[shape].memory_gib > max_memory_gib);
    vm.cpus = kVmShapes[shape].cpus;
    vm.memory_mib = kVmShapes[shape].memory_gib * kGib;
  }

  void draw_vms() {
    drafts_.resize(options_.vms);
    const bool licences = !licensed_active_.empty();
    for (Draft& vm : drafts_) {
      draw_vm_shape(vm, kVmShapes.back().memory_gib);
      vm.priority = static_cast<Priority>(draw(random_, kPriorities));
      vm.protect = !random_.chance(30);
      vm.needs_license = licences && random_.chance(50);
      vm.on_backup_network = random_.chance(250);
      vm.prefers_zone = random_.chance(100);
      const std::size_t slice = random_.below(kDirtyRateQuantiles.size() - 1);
      vm.dirty_mib_s = static_cast<std::uint32_t>(
          random_.between(kDirtyRateQuantiles[slice], kDirtyRateQuantiles[slice + 1]));
      if (options_.dirty_rate_scale != 1.0) {
        vm.dirty_mib_s = static_cast<std::uint32_t>(
            std::max<long long>(1, std::llround(vm.dirty_mib_s * options_.dirty_rate_scale)));
      }
      vm.disk_count = draw(random_, kDiskCounts);
    }
  }

  std::uint64_t total_vm_memory_mib() const {
    std::uint64_t total = 0;
    for (const Draft& vm : drafts_) total += vm.memory_mib;
    return total;
  }
  std::uint64_t active_memory_mib() const {
    std::uint64_t total = 0;
    for (HostIndex h : active_) total += kHostShapes[hosts_[h].shape].memory_gib * kGib;
    return total;
  }

  // --- Host shapes: a realistic mix, then whole generations up or down until the load is right. ---
  void size_hosts() {
    for (HostPlan& host : hosts_) {
      host.shape = static_cast<std::uint32_t>(random_.weighted(std::span<const HostShape>(kHostShapes)));
    }
    std::vector<HostIndex> order = active_;
    random_.shuffle(order);
    fit_load(order, kNoIndex);
    // No VM bigger than a quarter of the biggest host: big VMs need somewhere to go on failover.
    HostIndex anchor = active_.front();
    for (HostIndex h : active_) {
      if (hosts_[h].shape > hosts_[anchor].shape) anchor = h;
    }
    const std::uint32_t cap_gib = kHostShapes[hosts_[anchor].shape].memory_gib / 4;
    bool redrawn = false;
    for (Draft& vm : drafts_) {
      if (vm.memory_mib > cap_gib * kGib) {
        draw_vm_shape(vm, cap_gib);
        redrawn = true;
      }
    }
    if (redrawn) fit_load(order, anchor);
    // Spares are big: they take whole failed hosts.
    for (HostPlan& host : hosts_) {
      if (host.reserved) host.shape = hosts_[anchor].shape;
    }
    for (HostPlan& host : hosts_) {
      host.free_memory_mib = kHostShapes[host.shape].memory_gib * kGib;
      host.free_cpus = kHostShapes[host.shape].cpus * options_.cpu_overcommit;
      host.load_bias = (static_cast<double>(random_.below(241)) - 120.0) / 1000.0;
    }
  }

  // Moves hosts (in `order`, round after round) a generation up while the load is above target, then down
  // while it is below, never shrinking `anchor`. Throws when even the biggest shapes cannot hold the VMs.
  void fit_load(const std::vector<HostIndex>& order, HostIndex anchor) {
    const double demand = static_cast<double>(total_vm_memory_mib());
    const double target = options_.memory_load;
    const double tolerance = 0.015;
    double supply = static_cast<double>(active_memory_mib());
    bool changed = true;
    while (demand > supply * (target + tolerance) && changed) {
      changed = false;
      for (HostIndex h : order) {
        if (demand <= supply * (target + tolerance)) break;
        if (hosts_[h].shape + 1 >= kHostShapes.size()) continue;
        supply += (kHostShapes[hosts_[h].shape + 1].memory_gib - kHostShapes[hosts_[h].shape].memory_gib) *
                  1.0 * kGib;
        ++hosts_[h].shape;
        changed = true;
      }
    }
    if (demand > supply * kMaximumMemoryLoad) throw GeneratorError("vms", too_many_vms_message());
    changed = true;
    while (demand < supply * (target - tolerance) && changed) {
      changed = false;
      for (HostIndex h : order) {
        if (demand >= supply * (target - tolerance)) break;
        if (h == anchor || hosts_[h].shape == 0) continue;
        const double smaller =
            supply - (kHostShapes[hosts_[h].shape].memory_gib - kHostShapes[hosts_[h].shape - 1].memory_gib) *
                         1.0 * kGib;
        if (demand > smaller * (target + tolerance)) continue;
        supply = smaller;
        --hosts_[h].shape;
        changed = true;
      }
    }
  }

  // --- Roles: after chains, anti-affinity groups, affinity pairs. Each VM has at most one role. ---
  // The next VM of the shuffled order that satisfies `fits`, or UINT32_MAX when none is left.
  template <typename Predicate>
  std::uint32_t next_vm(Predicate fits) {
    while (cursor_ < role_order_.size()) {
      const std::uint32_t v = role_order_[cursor_++];
      if (!drafts_[v].taken && fits(drafts_[v])) {
        drafts_[v].taken = true;
        return v;
      }
    }
    return UINT32_MAX;
  }

  static bool plain(const Draft& vm) { return !vm.needs_license; }
  static bool small(const Draft& vm) { return !vm.needs_license && vm.memory_mib <= 32 * kGib; }

  bool add_anti_affinity(std::vector<std::uint32_t> members, bool rack_scope) {
    const auto group = static_cast<std::uint32_t>(groups_.size());
    for (std::uint32_t v : members) drafts_[v].anti_affinity_group = group;
    groups_.push_back({GroupKind::anti_affinity, rack_scope, std::move(members), {}});
    return true;
  }

  void give_roles() {
    const std::uint32_t count = options_.vms;
    role_order_.resize(count);
    std::iota(role_order_.begin(), role_order_.end(), 0u);
    random_.shuffle(role_order_);
    // A group of n on host (rack) scope needs n + 1 hosts (racks) so that a member can still move.
    const auto host_room = static_cast<std::uint32_t>(active_.size());
    const std::uint32_t rack_room = racks_;

    // db -> app -> web chains: the apps wait for the db, the webs for the apps; two apps are kept apart.
    const std::uint32_t chains = count >= 5 ? std::max<std::uint32_t>(1, count / 300) : 0;
    for (std::uint32_t c = 0; c < chains; ++c) {
      const std::uint32_t db = next_vm([](const Draft&) { return true; });
      if (db == UINT32_MAX) break;
      drafts_[db].priority = Priority::critical;
      std::vector<std::uint32_t> apps;
      const auto app_count = static_cast<std::uint32_t>(random_.between(1, 2));
      for (std::uint32_t i = 0; i < app_count; ++i) {
        const std::uint32_t app = next_vm(plain);
        if (app == UINT32_MAX) break;
        drafts_[app].priority = Priority::high;
        drafts_[app].after = {db};
        apps.push_back(app);
      }
      if (apps.empty()) break;
      const auto web_count = static_cast<std::uint32_t>(random_.between(1, 3));
      for (std::uint32_t i = 0; i < web_count; ++i) {
        const std::uint32_t web = next_vm(plain);
        if (web == UINT32_MAX) break;
        drafts_[web].priority = Priority::medium;
        drafts_[web].after = apps;
      }
      if (apps.size() == 2 && host_room >= 3) add_anti_affinity(apps, false);
    }

    // Anti-affinity groups of 2–3 on host or rack scope.
    const std::uint32_t anti_affinity_groups = count / 40;
    for (std::uint32_t g = 0; g < anti_affinity_groups; ++g) {
      const std::uint32_t size = random_.chance(700) ? 2 : 3;
      bool rack_scope = random_.chance(400);
      if (rack_scope && rack_room < size + 1) rack_scope = false;
      if (!rack_scope && host_room < size + 1) continue;
      std::vector<std::uint32_t> members;
      for (std::uint32_t i = 0; i < size; ++i) {
        const std::uint32_t member = next_vm(plain);
        if (member == UINT32_MAX) break;
        members.push_back(member);
      }
      if (members.size() < 2) {
        for (std::uint32_t v : members) drafts_[v].taken = false;
        break;
      }
      add_anti_affinity(std::move(members), rack_scope);
    }

    // Affinity pairs (an app and its cache): small VMs, placed together.
    const std::uint32_t pairs = count / 250;
    for (std::uint32_t p = 0; p < pairs; ++p) {
      const std::uint32_t first = next_vm(small);
      const std::uint32_t second = next_vm(small);
      if (second == UINT32_MAX) {
        if (first != UINT32_MAX) drafts_[first].taken = false;
        break;
      }
      drafts_[first].partner = second;
      drafts_[second].partner = first;
      groups_.push_back({GroupKind::affinity, false, {first, second}, {}});
    }
  }

  // --- Placement: constrained VMs and big VMs first, each on the freest of a few sampled hosts. ---
  bool fits(HostIndex h, std::uint32_t v, std::uint64_t memory_mib, std::uint32_t cpus) const {
    const HostPlan& host = hosts_[h];
    if (host.free_memory_mib < memory_mib || host.free_cpus < cpus) return false;
    const Draft& vm = drafts_[v];
    if (vm.needs_license && !host.licensed) return false;
    if (vm.anti_affinity_group != UINT32_MAX) {
      const DraftGroup& group = groups_[vm.anti_affinity_group];
      const Index scope = group.rack_scope ? host.rack : h;
      if (std::find(group.used.begin(), group.used.end(), scope) != group.used.end()) return false;
    }
    return true;
  }

  // Share of the host's memory free after taking `memory_mib`, less the host's bias: placement evens these
  // out, so hosts end near the mean load plus their own bias, as in a real cloud.
  double score(HostIndex h, std::uint64_t memory_mib) const {
    return static_cast<double>(hosts_[h].free_memory_mib - memory_mib) /
               static_cast<double>(kHostShapes[hosts_[h].shape].memory_gib * kGib) -
           hosts_[h].load_bias;
  }

  // Sampled placements keep to tidy hosts: at most 90% memory, no VM over half a host. Only when sampling
  // finds nothing does a full scan accept any host with room.
  bool tidy(HostIndex h, std::uint64_t memory_mib) const {
    const std::uint64_t capacity = kHostShapes[hosts_[h].shape].memory_gib * kGib;
    return memory_mib * 2 <= capacity &&
           (capacity - hosts_[h].free_memory_mib + memory_mib) * 10 <= capacity * 9;
  }

  // A host of `pool`, drawn with probability proportional to its memory, so big hosts get their share.
  HostIndex sample(const std::vector<HostIndex>& pool, const std::vector<std::uint64_t>& cumulative_gib) {
    const std::uint64_t pick = random_.below(cumulative_gib.back());
    return pool[std::upper_bound(cumulative_gib.begin(), cumulative_gib.end(), pick) -
                cumulative_gib.begin()];
  }

  std::vector<std::uint64_t> cumulative_memory_gib(const std::vector<HostIndex>& pool) const {
    std::vector<std::uint64_t> cumulative;
    cumulative.reserve(pool.size());
    std::uint64_t total = 0;
    for (HostIndex h : pool) cumulative.push_back(total += kHostShapes[hosts_[h].shape].memory_gib);
    return cumulative;
  }

  HostIndex choose_host(std::uint32_t v, std::uint64_t memory_mib, std::uint32_t cpus) {
    const bool licensed = drafts_[v].needs_license;
    const std::vector<HostIndex>& pool = licensed ? licensed_active_ : active_;
    const std::vector<std::uint64_t>& cumulative =
        licensed ? licensed_cumulative_gib_ : active_cumulative_gib_;
    HostIndex best = kNoIndex;
    auto consider = [&](HostIndex h, bool sampled) {
      if (fits(h, v, memory_mib, cpus) && (!sampled || tidy(h, memory_mib)) &&
          (best == kNoIndex || score(h, memory_mib) > score(best, memory_mib))) {
        best = h;
      }
    };
    for (int draw = 0; draw < 3; ++draw) consider(sample(pool, cumulative), true);
    for (int draw = 0; draw < 32 && best == kNoIndex; ++draw) consider(sample(pool, cumulative), true);
    if (best == kNoIndex) {
      for (HostIndex h : pool) consider(h, false);
    }
    return best;
  }

  void place() {
    active_cumulative_gib_ = cumulative_memory_gib(active_);
    licensed_cumulative_gib_ = cumulative_memory_gib(licensed_active_);
    // Units: a VM, or an affinity pair placed as one.
    std::vector<std::uint32_t> units;
    units.reserve(drafts_.size());
    for (std::uint32_t v = 0; v < drafts_.size(); ++v) {
      if (drafts_[v].partner == UINT32_MAX || drafts_[v].partner > v) units.push_back(v);
    }
    auto unit_memory = [this](std::uint32_t v) {
      const Draft& vm = drafts_[v];
      return vm.memory_mib + (vm.partner == UINT32_MAX ? 0 : drafts_[vm.partner].memory_mib);
    };
    std::sort(units.begin(), units.end(), [&](std::uint32_t a, std::uint32_t b) {
      const int rank_a = drafts_[a].needs_license ? 0 : drafts_[a].anti_affinity_group != UINT32_MAX ? 1 : 2;
      const int rank_b = drafts_[b].needs_license ? 0 : drafts_[b].anti_affinity_group != UINT32_MAX ? 1 : 2;
      if (rank_a != rank_b) return rank_a < rank_b;
      const std::uint64_t memory_a = unit_memory(a), memory_b = unit_memory(b);
      if (memory_a != memory_b) return memory_a > memory_b;
      return a < b;
    });
    for (std::uint32_t v : units) {
      Draft& vm = drafts_[v];
      const std::uint64_t memory = unit_memory(v);
      const std::uint32_t cpus = vm.cpus + (vm.partner == UINT32_MAX ? 0 : drafts_[vm.partner].cpus);
      const HostIndex h = choose_host(v, memory, cpus);
      if (h == kNoIndex) {
        throw GeneratorError("vms",
                             fmt::format("could not place every VM on {} hosts without exceeding their "
                                         "capacity or breaking a group; use fewer VMs or more hosts",
                                         options_.hosts));
      }
      hosts_[h].free_memory_mib -= memory;
      hosts_[h].free_cpus -= cpus;
      vm.host = h;
      if (vm.partner != UINT32_MAX) drafts_[vm.partner].host = h;
      if (vm.anti_affinity_group != UINT32_MAX) {
        DraftGroup& group = groups_[vm.anti_affinity_group];
        group.used.push_back(group.rack_scope ? hosts_[h].rack : h);
      }
    }
  }

  // --- The model: names, labels, disks, in host order. ---
  Cloud build() {
    Cloud cloud;
    cloud.policy.cpu_overcommit = options_.cpu_overcommit;
    cloud.policy.memory_overcommit = 1.0;
    auto& symbols = cloud.symbols;
    const Symbol rack_key = symbols.intern("rack");
    const Symbol zone_key = symbols.intern("zone");
    const Symbol license_key = symbols.intern("license");
    const Symbol db_value = symbols.intern("db");
    const Symbol prod = symbols.intern("prod");
    const Symbol backup = symbols.intern("backup");

    const std::uint32_t zones = std::min<std::uint32_t>(3, racks_);
    std::vector<Symbol> rack_names(racks_), zone_of_rack(racks_);
    for (std::uint32_t r = 0; r < racks_; ++r) {
      rack_names[r] = symbols.intern(padded("r", r + 1, digits(racks_)));
      zone_of_rack[r] =
          symbols.intern(fmt::format("z{}", static_cast<std::uint64_t>(r) * zones / racks_ + 1));
    }

    const std::uint32_t endpoint_count = ceil_div(options_.hosts, options_.hosts_per_endpoint);
    for (std::uint32_t e = 0; e < endpoint_count; ++e) {
      cloud.endpoints.push_back({padded("mgmt-", e + 1, digits(endpoint_count)), 32});
    }
    for (std::uint32_t a = 0; a < arrays_; ++a)
      cloud.arrays.push_back({padded("array-", a + 1, digits(arrays_)), 16});
    if (options_.switches) {
      for (std::uint32_t r = 0; r < racks_; ++r)
        cloud.switches.push_back({padded("sw-", r + 1, digits(racks_)), 4});
    }

    // Each rack reaches a window of arrays (all of them when there are at most 4); neighbouring racks
    // overlap, so a VM's disks are reachable from several racks.
    const std::uint32_t reach = arrays_ <= 4 ? arrays_ : std::max<std::uint32_t>(4, arrays_ / 8);
    std::vector<std::vector<ArrayIndex>> rack_arrays(racks_);
    for (std::uint32_t r = 0; r < racks_; ++r) {
      const auto start = static_cast<std::uint32_t>(static_cast<std::uint64_t>(r) * arrays_ / racks_);
      for (std::uint32_t k = 0; k < reach; ++k) rack_arrays[r].push_back((start + k) % arrays_);
      std::sort(rack_arrays[r].begin(), rack_arrays[r].end());
    }

    const int host_width = std::max(4, digits(options_.hosts));
    cloud.hosts.resize(options_.hosts);
    for (std::uint32_t h = 0; h < options_.hosts; ++h) {
      const HostPlan& plan = hosts_[h];
      const HostShape& shape = kHostShapes[plan.shape];
      Host& host = cloud.hosts[h];
      host.name = padded("host-", h + 1, host_width);
      host.cpus = shape.cpus;
      host.memory_mib = shape.memory_gib * kGib;
      host.arch = cloud.default_arch();
      host.labels = {{rack_key, rack_names[plan.rack]}, {zone_key, zone_of_rack[plan.rack]}};
      if (plan.licensed) host.labels.push_back({license_key, db_value});
      host.networks = {prod, backup};
      host.arrays = rack_arrays[plan.rack];
      host.endpoint = h / options_.hosts_per_endpoint;
      host.network_switch = options_.switches ? plan.rack : kNoIndex;
      host.nic_gbps = shape.nic_gbps;
      host.reserved = plan.reserved;
    }

    // VMs in host order, so a host's VMs are neighbours in the file.
    std::vector<std::uint32_t> order(drafts_.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [this](std::uint32_t a, std::uint32_t b) {
      return drafts_[a].host != drafts_[b].host ? drafts_[a].host < drafts_[b].host : a < b;
    });
    std::vector<VmIndex> final_index(drafts_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) final_index[order[i]] = i;

    const int vm_width = std::max(6, digits(options_.vms));
    cloud.vms.resize(drafts_.size());
    std::size_t disk_total = 0;
    for (const Draft& draft : drafts_) disk_total += draft.disk_count;
    cloud.disks.reserve(disk_total);
    for (std::uint32_t i = 0; i < order.size(); ++i) {
      const Draft& draft = drafts_[order[i]];
      const HostPlan& plan = hosts_[draft.host];
      Vm& vm = cloud.vms[i];
      vm.name = padded("vm-", i + 1, vm_width);
      vm.host = draft.host;
      vm.cpus = draft.cpus;
      vm.memory_mib = draft.memory_mib;
      vm.priority = draft.priority;
      vm.protect = draft.protect;
      vm.dirty_mib_s = draft.dirty_mib_s;
      vm.networks = draft.on_backup_network ? std::vector<Symbol>{prod, backup} : std::vector<Symbol>{prod};
      if (draft.needs_license) vm.require_labels = {{license_key, db_value}};
      if (draft.prefers_zone) vm.prefer_labels = {{zone_key, zone_of_rack[plan.rack]}};
      for (std::uint32_t waited : draft.after) vm.after.push_back(final_index[waited]);
      std::sort(vm.after.begin(), vm.after.end());
      // Disks: mostly on one array; now and then one on another array the host reaches.
      const std::vector<ArrayIndex>& reachable = rack_arrays[plan.rack];
      const ArrayIndex home = reachable[random_.below(reachable.size())];
      vm.first_disk = static_cast<DiskIndex>(cloud.disks.size());
      vm.disk_count = draft.disk_count;
      for (std::uint32_t d = 0; d < draft.disk_count; ++d) {
        Disk disk;
        disk.name = fmt::format("{}-d{}", vm.name, d + 1);
        disk.array = d > 0 && random_.chance(150) ? reachable[random_.below(reachable.size())] : home;
        disk.size_gib = d == 0 ? draw(random_, kRootDiskGib) : draw(random_, kDataDiskGib);
        disk.vm = i;
        cloud.disks.push_back(std::move(disk));
      }
    }

    const int group_width = std::max(4, digits(groups_.size()));
    std::uint32_t anti_affinity_number = 0, affinity_number = 0;
    for (const DraftGroup& draft : groups_) {
      Group group;
      const bool anti = draft.kind == GroupKind::anti_affinity;
      group.name = anti ? padded("aa-", ++anti_affinity_number, group_width)
                        : padded("af-", ++affinity_number, group_width);
      group.kind = draft.kind;
      group.scope = draft.rack_scope ? rack_key : cloud.scope_host();
      for (std::uint32_t member : draft.members) group.members.push_back(final_index[member]);
      std::sort(group.members.begin(), group.members.end());
      cloud.groups.push_back(std::move(group));
    }
    cloud.rebuild_indexes();
    return cloud;
  }

  const GeneratorOptions& options_;
  Random random_;
  std::uint32_t racks_ = 1;
  std::uint32_t arrays_ = 1;
  std::uint32_t reserved_ = 0;
  std::vector<HostPlan> hosts_;
  std::vector<HostIndex> active_;                       // not reserved
  std::vector<HostIndex> licensed_active_;              // not reserved, licence: db
  std::vector<std::uint64_t> active_cumulative_gib_;    // running sums of memory over active_
  std::vector<std::uint64_t> licensed_cumulative_gib_;  // and over licensed_active_
  std::vector<Draft> drafts_;
  std::vector<DraftGroup> groups_;
  std::vector<std::uint32_t> role_order_;
  std::size_t cursor_ = 0;
};

}  // namespace

Cloud generate_cloud(const GeneratorOptions& options) {
  return Generator(options).run();
}

}  // namespace revive::model

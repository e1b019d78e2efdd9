// An index of hosts by load for the placement engine (src/plan/placement_engine.h): hosts sit at fixed
// positions (ordered by their static attributes, so that the hosts a class of VMs may use form a few runs of
// positions), and a tournament tree over the positions keeps, for every node, the best active host below it
// in each of the engine's three search orders and the most free cpu and memory of an active host below it.
// Changing one host costs O(log hosts), however many classes of VMs it serves; finding the best host of a set
// of runs that passes a test visits the hosts in exactly the order a sorted scan of that set would (load,
// then index), so it returns what a scan of the whole set returns, pruning subtrees that lack the room asked
// for. Thread-safety: none.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "model/cloud.h"

namespace revive::plan {

// Positions [begin, end).
struct PositionRun {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  bool operator==(const PositionRun&) const = default;
  auto operator<=>(const PositionRun&) const = default;
};
using PositionRuns = std::vector<PositionRun>;  // sorted, disjoint, not adjacent

// The maximal runs of `positions` (any order, duplicates allowed).
PositionRuns runs_of(std::vector<std::uint32_t> positions);
PositionRuns intersect(const PositionRuns& a, const PositionRuns& b);
std::size_t count(const PositionRuns& runs);
bool contains(const PositionRuns& runs, std::uint32_t position);

enum class LoadOrder : std::uint8_t {
  ascending,              // least loaded first, ties to the lower index
  descending_high_first,  // most loaded first, ties to the higher index
  descending_low_first,   // most loaded first, ties to the lower index
};
constexpr int kLoadOrders = 3;

class HostLoadTree {
 public:
  // Per node: the best active host below in each order (kNoIndex: none active), and the most free cpu and
  // memory of an active host below (-infinity: none).
  struct Node {
    double min_load = std::numeric_limits<double>::infinity();
    double max_load = -std::numeric_limits<double>::infinity();
    double free_cpu = -std::numeric_limits<double>::infinity();
    double free_memory = -std::numeric_limits<double>::infinity();
    model::HostIndex min_host = model::kNoIndex;       // ascending
    model::HostIndex max_host_low = model::kNoIndex;   // descending_low_first
    model::HostIndex max_host_high = model::kNoIndex;  // descending_high_first
    bool operator==(const Node&) const = default;
  };

  explicit HostLoadTree(std::size_t positions = 0);

  // Updates one position: `active` hosts take part in searches.
  void set(std::uint32_t position, model::HostIndex host, bool active, double load, double free_cpu,
           double free_memory);
  // The nodes that exactly cover `runs` (for search).
  std::vector<std::uint32_t> cover(const PositionRuns& runs) const;

  std::size_t leaves() const { return leaves_; }
  const Node& node(std::uint32_t index) const { return nodes_[index]; }

 private:
  void pull(Node& parent, const Node& left, const Node& right) const;

  std::size_t leaves_ = 1;  // a power of two; node 1 is the root, leaves_ + p the leaf of position p
  std::vector<Node> nodes_;
};

// Best-first search over one or more trees (with the same positions, disjoint active hosts): visits the
// active hosts under `nodes` in `order`, skipping subtrees where no host has `cpus` and `memory_mib` free
// (within a tolerance: the test decides), and returns the first host `accept` takes, or kNoIndex. `accept`
// sees each host at most once, in that order (the very best host may come first although it lacks the room).
class LoadTreeSearch {
 public:
  template <typename Accept>
  model::HostIndex run(const std::vector<const HostLoadTree*>& trees, const std::vector<std::uint32_t>& nodes,
                       LoadOrder order, double cpus, double memory_mib, Accept&& accept) {
    heap_.clear();
    const auto worse = [order](const Entry& a, const Entry& b) {  // a after b
      if (a.load != b.load) return order == LoadOrder::ascending ? a.load > b.load : a.load < b.load;
      return order == LoadOrder::descending_high_first ? a.host < b.host : a.host > b.host;
    };
    const auto push = [&](std::uint8_t t, std::uint32_t index) {
      const HostLoadTree::Node& node = trees[t]->node(index);
      if (node.min_host == model::kNoIndex) return;
      if (node.free_cpu + kSlack < cpus || node.free_memory + kSlack < memory_mib) return;
      switch (order) {
        case LoadOrder::ascending:
          heap_.push_back({node.min_load, node.min_host, index, t});
          break;
        case LoadOrder::descending_low_first:
          heap_.push_back({node.max_load, node.max_host_low, index, t});
          break;
        case LoadOrder::descending_high_first:
          heap_.push_back({node.max_load, node.max_host_high, index, t});
          break;
      }
      std::push_heap(heap_.begin(), heap_.end(), worse);
    };
    // Fast path: the very best host, found by walking down from the best covering node, is the answer when
    // `accept` takes it (there is nothing before it to look at). Otherwise the best-first search below, which
    // offers every other host (each host is offered once).
    model::HostIndex tried = model::kNoIndex;
    {
      const auto key = [&](std::uint8_t t, std::uint32_t index) -> Entry {
        const HostLoadTree::Node& node = trees[t]->node(index);
        switch (order) {
          case LoadOrder::ascending:
            return {node.min_load, node.min_host, index, t};
          case LoadOrder::descending_low_first:
            return {node.max_load, node.max_host_low, index, t};
          case LoadOrder::descending_high_first:
            break;
        }
        return {node.max_load, node.max_host_high, index, t};
      };
      bool found = false;
      Entry best{};
      for (std::uint8_t t = 0; t < trees.size(); ++t) {
        for (std::uint32_t index : nodes) {
          Entry entry = key(t, index);
          if (entry.host == model::kNoIndex) continue;
          if (!found || worse(best, entry)) best = entry;
          found = true;
        }
      }
      if (!found) return model::kNoIndex;
      const HostLoadTree& tree = *trees[best.tree];
      while (best.node < tree.leaves()) {
        best.node = key(best.tree, 2 * best.node).host == best.host ? 2 * best.node : 2 * best.node + 1;
      }
      if (accept(best.host)) return best.host;
      tried = best.host;
    }
    for (std::uint8_t t = 0; t < trees.size(); ++t) {
      for (std::uint32_t index : nodes) push(t, index);
    }
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), worse);
      const Entry top = heap_.back();
      heap_.pop_back();
      if (top.node >= trees[top.tree]->leaves()) {
        if (top.host != tried && accept(top.host)) return top.host;
        continue;
      }
      push(top.tree, 2 * top.node);
      push(top.tree, 2 * top.node + 1);
    }
    return model::kNoIndex;
  }

 private:
  // Pruning tolerance (vCPU, MiB): far above rounding error, so a host the exact test would take is never
  // pruned; a host within it is simply tested.
  static constexpr double kSlack = 1e-3;
  struct Entry {
    double load;
    model::HostIndex host;
    std::uint32_t node;
    std::uint8_t tree;
  };
  std::vector<Entry> heap_;
};

}  // namespace revive::plan

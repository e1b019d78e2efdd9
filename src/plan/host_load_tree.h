// An index of hosts by load for the placement engine (src/plan/placement_engine.h): hosts sit at fixed
// positions (ordered by their static attributes, so that the hosts a class of VMs may use form a few runs of
// positions), in blocks of 8 under a tournament tree whose every node keeps the least loaded active host
// below it, the highest load below it and the most free cpu and memory of an active host below it. Changing
// one host costs one block and its path to the root, however many classes of VMs it serves; finding the best
// host of a set of runs that passes a test visits the hosts in exactly the order a sorted scan of that set
// would (load, then index; or most loaded first), so it returns what a scan of the whole set returns, pruning
// subtrees that lack the room asked for. Thread-safety: none.
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
  // Positions are kept in blocks of kBlock (one leaf each, scanned whole), so that the tree above them is
  // small enough to stay in cache.
  static constexpr std::uint32_t kBlock = 8;
  // Per node (32 bytes): the least loaded active host below (ties to the lower index; kNoIndex: none
  // active), the highest load below, and the most free cpu and memory of an active host below, rounded up
  // to float (they only prune, and never prune a host with the room).
  struct Node {
    double min_load = std::numeric_limits<double>::infinity();
    double max_load = -std::numeric_limits<double>::infinity();
    model::HostIndex min_host = model::kNoIndex;
    float free_cpu = -std::numeric_limits<float>::infinity();
    float free_memory = -std::numeric_limits<float>::infinity();
    bool operator==(const Node&) const = default;
  };

  explicit HostLoadTree(std::size_t positions = 0);

  // Updates one position: `active` hosts take part in searches.
  void set(std::uint32_t position, model::HostIndex host, bool active, double load, double free_cpu,
           double free_memory);
  // The same as set(), for many positions at once: stage() each, then commit() (the tree is only up to date
  // after commit; each changed block and ancestor is computed once).
  void stage(std::uint32_t position, model::HostIndex host, bool active, double load, double free_cpu,
             double free_memory);
  void commit();
  // What a search starts from to cover `runs`: the tree nodes for the whole blocks, and the positions of the
  // blocks cut by a run's ends, each as position_entry(position).
  std::vector<std::uint32_t> cover(const PositionRuns& runs) const;

  std::size_t leaves() const { return leaves_; }  // nodes [leaves, 2 leaves) are the blocks
  const Node& node(std::uint32_t index) const { return nodes_[index]; }
  // Entries at or above first_position_entry() stand for single positions.
  std::uint32_t first_position_entry() const { return static_cast<std::uint32_t>(2 * leaves_); }
  std::uint32_t position_entry(std::uint32_t position) const { return first_position_entry() + position; }
  // One position as a node of its own.
  const Node& at(std::uint32_t position) const { return positions_[position]; }

 private:
  std::size_t leaves_ = 1;  // blocks, a power of two; node 1 is the root, leaves_ + b block b
  std::vector<Node> nodes_;
  std::vector<Node> positions_;
  std::vector<std::uint32_t> staged_, parents_;  // stage()'s changed blocks; commit()'s scratch
  static Node leaf_of(model::HostIndex host, bool active, double load, double free_cpu, double free_memory);
  Node block_summary(std::uint32_t block) const;
};

// Best-first search over one or more trees (with the same positions, disjoint active hosts): visits the
// active hosts under `cover` in `order`, skipping subtrees where no host has `cpus` and `memory_mib` free
// (within a tolerance: the test decides), and returns the first host `accept` takes, or kNoIndex. `accept`
// sees each host at most once, in that order (the very best host may come first although it lacks the room).
class LoadTreeSearch {
 public:
  template <typename Accept>
  model::HostIndex run(const std::vector<const HostLoadTree*>& trees, const std::vector<std::uint32_t>& cover,
                       LoadOrder order, double cpus, double memory_mib, Accept&& accept) {
    heap_.clear();
    const auto worse = [order](const Entry& a, const Entry& b) {  // a after b
      if (a.load != b.load) return order == LoadOrder::ascending ? a.load > b.load : a.load < b.load;
      return order == LoadOrder::descending_high_first ? a.host < b.host : a.host > b.host;
    };
    const auto node_of = [&](const HostLoadTree& tree, std::uint32_t entry) -> const HostLoadTree::Node& {
      return entry >= tree.first_position_entry() ? tree.at(entry - tree.first_position_entry())
                                                  : tree.node(entry);
    };
    const auto push = [&](std::uint8_t t, std::uint32_t entry) {
      const HostLoadTree& tree = *trees[t];
      const HostLoadTree::Node& node = node_of(tree, entry);
      if (node.min_host == model::kNoIndex) return;
      if (static_cast<double>(node.free_cpu) + kSlack < cpus ||
          static_cast<double>(node.free_memory) + kSlack < memory_mib) {
        return;
      }
      if (order == LoadOrder::ascending) {
        heap_.push_back({node.min_load, node.min_host, entry, t});
      } else if (entry >= tree.first_position_entry()) {
        heap_.push_back({node.max_load, node.min_host, entry, t});  // one host
      } else {
        // Descending: which host below has the highest load is not kept; the node ranks before every host
        // of that load (the lowest or highest index possible), so it is opened before any of them is offered.
        const model::HostIndex first = order == LoadOrder::descending_low_first ? 0 : model::kNoIndex - 1;
        heap_.push_back({node.max_load, first, entry, t});
      }
      std::push_heap(heap_.begin(), heap_.end(), worse);
    };
    const auto open_block = [&](std::uint8_t t, std::uint32_t block) {
      const HostLoadTree& tree = *trees[t];
      for (std::uint32_t p = block * HostLoadTree::kBlock; p < (block + 1) * HostLoadTree::kBlock; ++p)
        push(t, tree.position_entry(p));
    };
    // Fast path (least loaded first): the very best host, found by walking down from the best covering
    // entry, is the answer when `accept` takes it (there is nothing before it to look at). Otherwise the
    // best-first search below, which offers every other host (each host is offered once).
    model::HostIndex tried = model::kNoIndex;
    if (order == LoadOrder::ascending) {
      bool found = false;
      Entry best{};
      for (std::uint8_t t = 0; t < trees.size(); ++t) {
        for (std::uint32_t entry : cover) {
          const HostLoadTree::Node& node = node_of(*trees[t], entry);
          if (node.min_host == model::kNoIndex) continue;
          Entry candidate{node.min_load, node.min_host, entry, t};
          if (!found || worse(best, candidate)) best = candidate;
          found = true;
        }
      }
      if (!found) return model::kNoIndex;
      if (accept(best.host)) return best.host;
      tried = best.host;
    }
    for (std::uint8_t t = 0; t < trees.size(); ++t) {
      for (std::uint32_t entry : cover) push(t, entry);
    }
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), worse);
      const Entry top = heap_.back();
      heap_.pop_back();
      const HostLoadTree& tree = *trees[top.tree];
      if (top.node >= tree.first_position_entry()) {
        if (top.host != tried && accept(top.host)) return top.host;
      } else if (top.node >= tree.leaves()) {
        open_block(top.tree, top.node - static_cast<std::uint32_t>(tree.leaves()));
      } else {
        push(top.tree, 2 * top.node);
        push(top.tree, 2 * top.node + 1);
      }
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

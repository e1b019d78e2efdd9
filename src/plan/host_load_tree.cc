#include "plan/host_load_tree.h"

#include <algorithm>
#include <cmath>

namespace revive::plan {

PositionRuns runs_of(std::vector<std::uint32_t> positions) {
  std::sort(positions.begin(), positions.end());
  PositionRuns runs;
  for (std::uint32_t p : positions) {
    if (!runs.empty() && p <= runs.back().end) {
      runs.back().end = std::max(runs.back().end, p + 1);
    } else {
      runs.push_back({p, p + 1});
    }
  }
  return runs;
}

PositionRuns intersect(const PositionRuns& a, const PositionRuns& b) {
  PositionRuns result;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const std::uint32_t begin = std::max(a[i].begin, b[j].begin);
    const std::uint32_t end = std::min(a[i].end, b[j].end);
    if (begin < end) result.push_back({begin, end});
    if (a[i].end < b[j].end) {
      ++i;
    } else {
      ++j;
    }
  }
  return result;
}

std::size_t count(const PositionRuns& runs) {
  std::size_t total = 0;
  for (const auto& run : runs) total += run.end - run.begin;
  return total;
}

bool contains(const PositionRuns& runs, std::uint32_t position) {
  auto it = std::upper_bound(runs.begin(), runs.end(), position,
                             [](std::uint32_t p, const PositionRun& run) { return p < run.end; });
  return it != runs.end() && it->begin <= position;
}

HostLoadTree::HostLoadTree(std::size_t positions) {
  const std::size_t blocks = (positions + kBlock - 1) / kBlock;
  while (leaves_ < blocks) leaves_ *= 2;
  nodes_.assign(2 * leaves_, Node{});
  positions_.assign(leaves_ * kBlock, Node{});
}

namespace {

void pull(HostLoadTree::Node& parent, const HostLoadTree::Node& left, const HostLoadTree::Node& right) {
  const bool right_lower =
      right.min_load < left.min_load || (right.min_load == left.min_load && right.min_host < left.min_host);
  const HostLoadTree::Node& low = right_lower ? right : left;
  parent.min_load = low.min_load;
  parent.min_host = low.min_host;
  parent.max_load = std::max(left.max_load, right.max_load);
  parent.free_cpu = std::max(left.free_cpu, right.free_cpu);
  parent.free_memory = std::max(left.free_memory, right.free_memory);
}

// `value` as a float no smaller than it.
float rounded_up(double value) {
  float f = static_cast<float>(value);
  if (static_cast<double>(f) < value) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace

HostLoadTree::Node HostLoadTree::leaf_of(model::HostIndex host, bool active, double load, double free_cpu,
                                         double free_memory) {
  Node leaf;
  if (active) {
    leaf.min_load = leaf.max_load = load;
    leaf.min_host = host;
    leaf.free_cpu = rounded_up(free_cpu);
    leaf.free_memory = rounded_up(free_memory);
  }
  return leaf;
}

HostLoadTree::Node HostLoadTree::block_summary(std::uint32_t block) const {
  Node summary;
  for (std::uint32_t p = block * kBlock; p < (block + 1) * kBlock; ++p) {
    Node merged;
    pull(merged, summary, positions_[p]);
    summary = merged;
  }
  return summary;
}

void HostLoadTree::set(std::uint32_t position, model::HostIndex host, bool active, double load,
                       double free_cpu, double free_memory) {
  const Node leaf = leaf_of(host, active, load, free_cpu, free_memory);
  if (positions_[position] == leaf) return;
  positions_[position] = leaf;
  const std::uint32_t block = position / kBlock;
  const Node summary = block_summary(block);
  std::uint32_t index = static_cast<std::uint32_t>(leaves_) + block;
  if (nodes_[index] == summary) return;
  nodes_[index] = summary;
  for (index /= 2; index >= 1; index /= 2) {
    Node updated;
    pull(updated, nodes_[2 * index], nodes_[2 * index + 1]);
    if (updated == nodes_[index]) break;  // so are its ancestors
    nodes_[index] = updated;
  }
}

void HostLoadTree::stage(std::uint32_t position, model::HostIndex host, bool active, double load,
                         double free_cpu, double free_memory) {
  const Node leaf = leaf_of(host, active, load, free_cpu, free_memory);
  if (positions_[position] == leaf) return;
  positions_[position] = leaf;
  staged_.push_back(position / kBlock);
}

void HostLoadTree::commit() {
  if (staged_.empty()) return;
  std::sort(staged_.begin(), staged_.end());
  staged_.erase(std::unique(staged_.begin(), staged_.end()), staged_.end());
  // Level by level, the changed nodes in order: a node's parent is computed once, after both children.
  parents_.clear();
  for (std::uint32_t block : staged_) {
    const Node summary = block_summary(block);
    const std::uint32_t index = static_cast<std::uint32_t>(leaves_) + block;
    if (nodes_[index] == summary) continue;
    nodes_[index] = summary;
    if (index > 1 && (parents_.empty() || parents_.back() != index / 2)) parents_.push_back(index / 2);
  }
  staged_.clear();
  while (!parents_.empty()) {
    staged_.swap(parents_);
    parents_.clear();
    for (std::uint32_t index : staged_) {
      Node updated;
      pull(updated, nodes_[2 * index], nodes_[2 * index + 1]);
      if (updated == nodes_[index]) continue;
      nodes_[index] = updated;
      if (index > 1 && (parents_.empty() || parents_.back() != index / 2)) parents_.push_back(index / 2);
    }
  }
  staged_.clear();
}

std::vector<std::uint32_t> HostLoadTree::cover(const PositionRuns& runs) const {
  std::vector<std::uint32_t> entries;
  for (const auto& run : runs) {
    std::uint32_t first_block = (run.begin + kBlock - 1) / kBlock, end_block = run.end / kBlock;
    if (first_block >= end_block) {  // within one block, or across the boundary of two
      for (std::uint32_t p = run.begin; p < run.end; ++p) entries.push_back(position_entry(p));
      continue;
    }
    for (std::uint32_t p = run.begin; p < first_block * kBlock; ++p) entries.push_back(position_entry(p));
    std::uint32_t l = first_block + static_cast<std::uint32_t>(leaves_);
    std::uint32_t r = end_block + static_cast<std::uint32_t>(leaves_);
    while (l < r) {
      if (l & 1) entries.push_back(l++);
      if (r & 1) entries.push_back(--r);
      l /= 2;
      r /= 2;
    }
    for (std::uint32_t p = end_block * kBlock; p < run.end; ++p) entries.push_back(position_entry(p));
  }
  return entries;
}

}  // namespace revive::plan

#include "plan/host_load_tree.h"

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
  while (leaves_ < positions) leaves_ *= 2;
  nodes_.assign(2 * leaves_, Node{});
}

void HostLoadTree::pull(Node& parent, const Node& left, const Node& right) const {
  const bool right_lower =
      right.min_load < left.min_load || (right.min_load == left.min_load && right.min_host < left.min_host);
  const Node& low = right_lower ? right : left;
  parent.min_load = low.min_load;
  parent.min_host = low.min_host;
  if (left.max_load != right.max_load) {
    const Node& high = right.max_load > left.max_load ? right : left;
    parent.max_load = high.max_load;
    parent.max_host_low = high.max_host_low;
    parent.max_host_high = high.max_host_high;
  } else {
    // Equal: both empty (kNoIndex in both), or both active.
    parent.max_load = left.max_load;
    parent.max_host_low = std::min(left.max_host_low, right.max_host_low);
    parent.max_host_high = left.max_host_high == model::kNoIndex ? right.max_host_high
                           : right.max_host_high == model::kNoIndex
                               ? left.max_host_high
                               : std::max(left.max_host_high, right.max_host_high);
  }
  parent.free_cpu = std::max(left.free_cpu, right.free_cpu);
  parent.free_memory = std::max(left.free_memory, right.free_memory);
}

void HostLoadTree::set(std::uint32_t position, model::HostIndex host, bool active, double load,
                       double free_cpu, double free_memory) {
  std::uint32_t index = static_cast<std::uint32_t>(leaves_) + position;
  Node leaf;
  if (active) {
    leaf.min_load = leaf.max_load = load;
    leaf.min_host = leaf.max_host_low = leaf.max_host_high = host;
    leaf.free_cpu = free_cpu;
    leaf.free_memory = free_memory;
  }
  if (nodes_[index] == leaf) return;
  nodes_[index] = leaf;
  for (index /= 2; index >= 1; index /= 2) {
    Node updated;
    pull(updated, nodes_[2 * index], nodes_[2 * index + 1]);
    if (updated == nodes_[index]) break;  // so are its ancestors
    nodes_[index] = updated;
  }
}

std::vector<std::uint32_t> HostLoadTree::cover(const PositionRuns& runs) const {
  std::vector<std::uint32_t> nodes;
  for (const auto& run : runs) {
    std::uint32_t l = run.begin + static_cast<std::uint32_t>(leaves_);
    std::uint32_t r = run.end + static_cast<std::uint32_t>(leaves_);
    while (l < r) {
      if (l & 1) nodes.push_back(l++);
      if (r & 1) nodes.push_back(--r);
      l /= 2;
      r /= 2;
    }
  }
  return nodes;
}

}  // namespace revive::plan

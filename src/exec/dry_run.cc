#include "exec/dry_run.h"

#include <algorithm>
#include <limits>
#include <queue>
#include <tuple>

namespace revive::exec {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

enum class OpKind : std::uint8_t { unmap, map, net, start };

struct QueuedOp {
  double deadline;
  std::uint8_t priority;
  double negative_chain;
  std::uint64_t order;
  std::uint32_t vm;
  OpKind kind;
  std::uint32_t disk;
  // std::priority_queue is a max-heap: "less" means "later".
  friend bool operator<(const QueuedOp& a, const QueuedOp& b) {
    return std::tie(a.deadline, a.priority, a.negative_chain, a.order, a.vm, a.kind, a.disk) >
           std::tie(b.deadline, b.priority, b.negative_chain, b.order, b.vm, b.kind, b.disk);
  }
};

struct Event {
  double time;
  std::uint64_t sequence;
  std::uint32_t vm;
  OpKind kind;
  std::uint32_t disk;
  bool release;  // the VM's source is declared failed (its preparation may begin)
  bool fence;    // the VM's source is fenced (its start may begin)
  friend bool operator<(const Event& a, const Event& b) {
    return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
  }
};

}  // namespace

DryRun::DryRun(std::vector<std::uint32_t> capacity, std::uint32_t host_limit, std::uint32_t host_count)
    : capacity_(std::move(capacity)),
      host_limit_(std::max<std::uint32_t>(host_limit, 1)),
      host_count_(host_count) {
  for (auto& c : capacity_) c = std::max<std::uint32_t>(c, 1);
}

std::vector<double> DryRun::finish_times(const std::vector<DryVm>& vms,
                                         const std::vector<double>& deadlines) const {
  const auto resource_count = capacity_.size();
  std::vector<std::priority_queue<QueuedOp>> queues(resource_count);
  std::vector<std::uint32_t> busy(resource_count, 0);
  std::vector<std::uint32_t> host_busy(host_count_, 0);
  std::vector<std::uint8_t> dirty(resource_count, 0);
  std::vector<std::uint32_t> dirty_list;
  std::priority_queue<Event> events;
  std::uint64_t sequence = 0;
  std::vector<double> finish(vms.size(), kNever);
  // Slots held back for critical ops not dispatched yet, as the executor does (priority 0 is critical).
  std::vector<std::uint32_t> critical_future(resource_count, 0);
  for (const auto& vm : vms) {
    if (vm.priority != 0) continue;
    for (const auto& disk : vm.disks) {
      critical_future[disk.resource] += (disk.needs_unmap ? 1 : 0) + (disk.needs_map ? 1 : 0);
    }
    if (vm.net_resource != UINT32_MAX) ++critical_future[vm.net_resource];
    ++critical_future[vm.start_resource];
  }
  std::vector<std::uint32_t> pending(vms.size(), 0);  // what each start still waits for
  std::vector<std::vector<std::uint32_t>> dependents(vms.size());
  double now = 0.0;

  auto enqueue = [&](std::uint32_t v, OpKind kind, std::uint32_t disk, std::uint32_t resource) {
    const auto& vm = vms[v];
    queues[resource].push({deadlines[v], vm.priority, -vm.chain_s, vm.order, v, kind, disk});
    if (!dirty[resource]) {
      dirty[resource] = 1;
      dirty_list.push_back(resource);
    }
  };
  auto resource_of = [&](std::uint32_t v, OpKind kind, std::uint32_t disk) {
    const auto& vm = vms[v];
    switch (kind) {
      case OpKind::unmap:
      case OpKind::map:
        return vm.disks[disk].resource;
      case OpKind::net:
        return vm.net_resource;
      case OpKind::start:
        return vm.start_resource;
    }
    return vm.start_resource;
  };
  auto duration_of = [&](std::uint32_t v, OpKind kind, std::uint32_t disk) {
    const auto& vm = vms[v];
    switch (kind) {
      case OpKind::unmap:
        return vm.disks[disk].unmap_s;
      case OpKind::map:
        return vm.disks[disk].map_s;
      case OpKind::net:
        return vm.net_s;
      case OpKind::start:
        return vm.start_s;
    }
    return 0.0;
  };
  auto one_done = [&](std::uint32_t v) {
    if (pending[v] > 0 && --pending[v] == 0) enqueue(v, OpKind::start, 0, vms[v].start_resource);
  };

  for (std::uint32_t v = 0; v < vms.size(); ++v) {
    const auto& vm = vms[v];
    pending[v] = 2;  // the release and the fence themselves
    for (const auto& disk : vm.disks) pending[v] += disk.needs_map || disk.needs_unmap ? 1 : 0;
    if (vm.net_resource != UINT32_MAX) ++pending[v];
    for (auto other : vm.after) {
      if (other < vms.size() && other != v) {
        ++pending[v];
        dependents[other].push_back(v);
      }
    }
    events.push({vm.release_s, sequence++, v, OpKind::start, 0, true, false});
    events.push({std::max(vm.release_s, vm.fence_s), sequence++, v, OpKind::start, 0, false, true});
  }

  while (true) {
    // Dispatch what fits.
    for (std::size_t i = 0; i < dirty_list.size(); ++i) {
      auto r = dirty_list[i];
      dirty[r] = 0;
      auto& queue = queues[r];
      std::vector<QueuedOp> host_blocked;
      while (!queue.empty() && busy[r] < capacity_[r]) {
        auto op = queue.top();
        if (op.priority != 0 && critical_future[r] > 0 && busy[r] + critical_future[r] >= capacity_[r]) break;
        queue.pop();
        if (op.priority == 0 && critical_future[r] > 0) --critical_future[r];
        if (op.kind == OpKind::start) {
          auto host = vms[op.vm].start_host;
          if (host_busy[host] >= host_limit_) {
            host_blocked.push_back(op);
            continue;
          }
          ++host_busy[host];
        }
        ++busy[r];
        events.push(
            {now + duration_of(op.vm, op.kind, op.disk), sequence++, op.vm, op.kind, op.disk, false, false});
      }
      for (const auto& op : host_blocked) queue.push(op);
    }
    dirty_list.clear();
    if (events.empty()) break;
    auto event = events.top();
    events.pop();
    now = event.time;
    auto v = event.vm;
    const auto& vm = vms[v];
    if (event.fence) {
      one_done(v);
      continue;
    }
    if (event.release) {
      for (std::uint32_t d = 0; d < vm.disks.size(); ++d) {
        const auto& disk = vm.disks[d];
        if (disk.needs_unmap) {
          enqueue(v, OpKind::unmap, d, disk.resource);
        } else if (disk.needs_map) {
          enqueue(v, OpKind::map, d, disk.resource);
        }
      }
      if (vm.net_resource != UINT32_MAX) enqueue(v, OpKind::net, 0, vm.net_resource);
      one_done(v);
      continue;
    }
    auto r = resource_of(v, event.kind, event.disk);
    --busy[r];
    if (!dirty[r]) {
      dirty[r] = 1;
      dirty_list.push_back(r);
    }
    switch (event.kind) {
      case OpKind::unmap:
        if (vm.disks[event.disk].needs_map) {
          enqueue(v, OpKind::map, event.disk, r);
        } else {
          one_done(v);
        }
        break;
      case OpKind::map:
      case OpKind::net:
        one_done(v);
        break;
      case OpKind::start:
        --host_busy[vm.start_host];
        // A host slot freed: its endpoint's queue may hold a start that waited for it.
        finish[v] = now;
        for (auto dependent : dependents[v]) one_done(dependent);
        break;
    }
  }
  return finish;
}

std::vector<double> DryRun::latest_begins(const std::vector<DryVm>& vms, double target_s) const {
  struct Back {
    double due;  // latest end
    double duration;
    std::uint32_t vm;
    std::uint32_t disk;
    OpKind kind;
  };
  // Heap order: the latest due first; among equal dues the shortest (placed last in time).
  auto before = [](const Back& a, const Back& b) {
    return std::tie(a.due, b.duration, b.vm, b.disk) < std::tie(b.due, a.duration, a.vm, a.disk);
  };
  // Places `ops` (and what `placed` adds) backward on `limit` slots, each as late as its due and the slots
  // allow; `placed(op, begin, ops)` gets each step's latest start.
  auto place = [&](std::vector<Back>& ops, std::uint32_t limit, std::size_t total, auto&& placed) {
    std::make_heap(ops.begin(), ops.end(), before);
    bool limited = limit < total;
    std::priority_queue<double> slots;  // when each slot is taken next, going backward
    for (std::uint32_t k = 0; limited && k < limit; ++k) slots.push(kNever);
    while (!ops.empty()) {
      std::pop_heap(ops.begin(), ops.end(), before);
      auto op = ops.back();
      ops.pop_back();
      double end = op.due;
      if (limited) {
        end = std::min(end, slots.top());
        slots.pop();
      }
      double begin = end - op.duration;
      if (limited) slots.push(begin);
      placed(op, begin, ops);
    }
  };
  const auto count = static_cast<std::uint32_t>(vms.size());
  std::vector<double> latest_start(count, kNever), latest_begin(count, kNever);
  // Starts: on their endpoint (start resource) and on their target host.
  std::vector<std::vector<Back>> by_resource(capacity_.size()), by_host(host_count_);
  for (std::uint32_t v = 0; v < count; ++v) {
    Back start{target_s - vms[v].margin_s, vms[v].start_s, v, 0, OpKind::start};
    if (vms[v].start_resource < by_resource.size()) by_resource[vms[v].start_resource].push_back(start);
    if (vms[v].start_host < by_host.size()) by_host[vms[v].start_host].push_back(start);
  }
  auto start_placed = [&](const Back& op, double begin, std::vector<Back>&) {
    latest_start[op.vm] = std::min(latest_start[op.vm], begin);
  };
  for (std::size_t r = 0; r < by_resource.size(); ++r) {
    place(by_resource[r], capacity_[r], by_resource[r].size(), start_placed);
  }
  for (auto& ops : by_host) place(ops, host_limit_, ops.size(), start_placed);
  for (std::uint32_t v = 0; v < count; ++v) {
    if (latest_start[v] == kNever) latest_start[v] = target_s - vms[v].margin_s - vms[v].start_s;
    double preparation = vms[v].net_resource != UINT32_MAX ? vms[v].net_s : 0.0;
    for (const auto& disk : vms[v].disks) {
      preparation = std::max(preparation,
                             (disk.needs_unmap ? disk.unmap_s : 0.0) + (disk.needs_map ? disk.map_s : 0.0));
    }
    latest_begin[v] = latest_start[v] - preparation;
  }
  // Preparation steps, due when their start is: net_config on its switch, map then unmap on its array.
  for (auto& ops : by_resource) ops.clear();
  std::vector<std::size_t> total(capacity_.size(), 0);
  for (std::uint32_t v = 0; v < count; ++v) {
    const auto& vm = vms[v];
    if (vm.net_resource < by_resource.size()) {
      by_resource[vm.net_resource].push_back({latest_start[v], vm.net_s, v, 0, OpKind::net});
      ++total[vm.net_resource];
    }
    for (std::uint32_t d = 0; d < vm.disks.size(); ++d) {
      const auto& disk = vm.disks[d];
      if (disk.resource >= by_resource.size()) continue;
      if (disk.needs_map) {
        by_resource[disk.resource].push_back({latest_start[v], disk.map_s, v, d, OpKind::map});
      } else if (disk.needs_unmap) {
        by_resource[disk.resource].push_back({latest_start[v], disk.unmap_s, v, d, OpKind::unmap});
      }
      total[disk.resource] += (disk.needs_map ? 1 : 0) + (disk.needs_unmap ? 1 : 0);
    }
  }
  auto preparation_placed = [&](const Back& op, double begin, std::vector<Back>& ops) {
    const auto& vm = vms[op.vm];
    if (op.kind == OpKind::map && vm.disks[op.disk].needs_unmap) {
      ops.push_back({begin, vm.disks[op.disk].unmap_s, op.vm, op.disk, OpKind::unmap});
      std::push_heap(ops.begin(), ops.end(), before);
      return;
    }
    latest_begin[op.vm] = std::min(latest_begin[op.vm], begin);  // the first step of its chain
  };
  for (std::size_t r = 0; r < by_resource.size(); ++r) {
    place(by_resource[r], capacity_[r], total[r], preparation_placed);
  }
  return latest_begin;
}

std::vector<double> DryRun::repair(const std::vector<DryVm>& vms, const std::vector<double>& base,
                                   const std::vector<double>& floor, double target_s, int max_passes,
                                   double* projected_makespan_s) const {
  std::vector<double> deadlines = base;
  std::vector<double> best = base;
  double best_makespan = kNever;
  int since_better = 0;
  for (int pass = 0; pass < max_passes; ++pass) {
    auto finish = finish_times(vms, deadlines);
    double makespan = 0.0;
    for (std::size_t v = 0; v < vms.size(); ++v) {
      if (finish[v] != kNever) makespan = std::max(makespan, finish[v] + vms[v].margin_s);
    }
    if (makespan < best_makespan - 1e-9) {
      best_makespan = makespan;
      best = deadlines;
      since_better = 0;
    } else if (++since_better >= 6) {
      break;
    }
    bool late = false;
    for (std::size_t v = 0; v < vms.size(); ++v) {
      double finish_with_margin = finish[v] + vms[v].margin_s;
      if (finish[v] != kNever && finish_with_margin > target_s + 1e-9) {
        deadlines[v] = std::max(floor[v], deadlines[v] - (finish_with_margin - target_s));
        late = true;
      }
    }
    if (!late) break;
  }
  if (projected_makespan_s != nullptr) *projected_makespan_s = best_makespan;
  return best;
}

}  // namespace revive::exec

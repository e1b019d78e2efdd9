#include "sim/timeline_svg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace revive::sim {

namespace {

constexpr double kLabelWidth = 170.0;
constexpr double kChartWidth = 1100.0;
constexpr double kLaneHeight = 9.0;
constexpr double kLaneGap = 2.0;
constexpr double kGroupGap = 16.0;
constexpr std::size_t kMaxSlotLanes = 360;  // beyond this, one occupancy lane per resource
constexpr std::size_t kMaxResourceLanes = 80;

const char* colour(env::StepKind kind) {
  switch (kind) {
    case env::StepKind::fence:
      return "#555555";
    case env::StepKind::disk_unmap:
      return "#f28e2b";
    case env::StepKind::disk_map:
      return "#4e79a7";
    case env::StepKind::net_config:
      return "#59a14f";
    case env::StepKind::vm_start:
      return "#b07aa1";
    case env::StepKind::vm_stop:
      return "#9c755f";
    case env::StepKind::migrate:
      return "#76b7b2";
  }
  return "#999999";
}

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double nice_step(double span) {
  double raw = span / 10.0;
  if (raw <= 0) return 1.0;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= factor * power) return factor * power;
  }
  return 10.0 * power;
}

// A resource block of the chart: its steps (indexes into the timeline) and its lanes.
struct Block {
  std::string title;
  std::uint32_t limit = 0;
  std::vector<std::size_t> steps;
  std::vector<std::size_t> lane_of;  // per step
  std::size_t lanes = 0;
  double busy_s = 0.0;
};

}  // namespace

std::string timeline_svg(const model::Cloud& cloud, const Scenario& scenario,
                         const SimulationResult& result) {
  (void)scenario;
  const auto& timeline = result.timeline;
  double origin = result.first_event_s;
  double end = std::max(result.makespan_s, 1.0);
  for (const auto& step : timeline) end = std::max(end, step.end_s - origin);
  auto x_of = [&](double t) { return kLabelWidth + (t - origin) / end * kChartWidth; };

  // Blocks: fencing, then arrays, switches, endpoints in index order.
  std::vector<Block> blocks;
  Block fencing;
  fencing.title = "fencing (BMC)";
  std::vector<Block> arrays(cloud.arrays.size()), switches(cloud.switches.size()),
      endpoints(cloud.endpoints.size());
  for (std::size_t a = 0; a < arrays.size(); ++a) {
    arrays[a].title = "array " + cloud.arrays[a].name;
    arrays[a].limit = cloud.arrays[a].max_parallel;
  }
  for (std::size_t s = 0; s < switches.size(); ++s) {
    switches[s].title = "switch " + cloud.switches[s].name;
    switches[s].limit = cloud.switches[s].max_parallel;
  }
  for (std::size_t e = 0; e < endpoints.size(); ++e) {
    endpoints[e].title = "endpoint " + cloud.endpoints[e].name;
    endpoints[e].limit = cloud.endpoints[e].max_parallel;
  }
  // Migrations: one block per source host (its NIC is what they share).
  std::map<model::HostIndex, Block> migrations;
  Block unmanaged;
  unmanaged.title = "hosts without endpoint";
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const auto& step = timeline[i];
    Block* block = &unmanaged;
    switch (step.kind) {
      case env::StepKind::fence:
        block = &fencing;
        break;
      case env::StepKind::disk_map:
      case env::StepKind::disk_unmap:
        block = &arrays[cloud.disks[step.disk].array];
        break;
      case env::StepKind::migrate: {
        auto source = step.from == model::kNoIndex ? step.host : step.from;
        block = &migrations[source];
        if (block->title.empty()) {
          block->title = fmt::format("migrations off {} ({:g} Gbps)", cloud.hosts[source].name,
                                     cloud.hosts[source].nic_gbps);
          block->limit = cloud.policy.host_max_parallel_migrations;
        }
        break;
      }
      case env::StepKind::net_config:
        if (cloud.hosts[step.host].network_switch != model::kNoIndex) {
          block = &switches[cloud.hosts[step.host].network_switch];
        }
        break;
      default:
        if (cloud.hosts[step.host].endpoint != model::kNoIndex)
          block = &endpoints[cloud.hosts[step.host].endpoint];
        break;
    }
    block->steps.push_back(i);
    block->busy_s += (step.finished ? step.end_s : origin + end) - step.start_s;
  }
  auto add_blocks = [&](std::vector<Block>& group) {
    for (auto& block : group) {
      if (!block.steps.empty()) blocks.push_back(std::move(block));
    }
  };
  if (!fencing.steps.empty()) blocks.push_back(std::move(fencing));
  add_blocks(arrays);
  add_blocks(switches);
  add_blocks(endpoints);
  for (auto& [host, block] : migrations) blocks.push_back(std::move(block));
  if (!unmanaged.steps.empty()) blocks.push_back(std::move(unmanaged));

  // Pack each block's steps into lanes (first lane free at the step's start).
  std::size_t total_lanes = 0;
  for (auto& block : blocks) {
    std::sort(block.steps.begin(), block.steps.end(), [&](std::size_t a, std::size_t b) {
      return timeline[a].start_s != timeline[b].start_s ? timeline[a].start_s < timeline[b].start_s : a < b;
    });
    std::vector<double> lane_end;
    block.lane_of.resize(block.steps.size());
    for (std::size_t k = 0; k < block.steps.size(); ++k) {
      const auto& step = timeline[block.steps[k]];
      double finish = step.finished ? step.end_s : origin + end;
      std::size_t lane = 0;
      while (lane < lane_end.size() && lane_end[lane] > step.start_s + 1e-9) ++lane;
      if (lane == lane_end.size()) lane_end.push_back(0.0);
      lane_end[lane] = std::max(finish, step.start_s + 1e-6);
      block.lane_of[k] = lane;
    }
    block.lanes = lane_end.size();
    total_lanes += block.lanes;
  }
  bool occupancy = total_lanes > kMaxSlotLanes;
  std::size_t hidden = 0;
  if (occupancy && blocks.size() > kMaxResourceLanes) {
    // Keep the fencing block and the busiest resources.
    std::stable_sort(blocks.begin() + 1, blocks.end(),
                     [](const Block& a, const Block& b) { return a.busy_s > b.busy_s; });
    hidden = blocks.size() - kMaxResourceLanes;
    blocks.resize(kMaxResourceLanes);
  }

  std::string body;
  double y = 96.0;
  const double occupancy_height = 22.0;
  for (const auto& block : blocks) {
    if (occupancy) {
      // Busy slots over time, as a step-shaped area scaled to the limit (or the peak for fencing).
      std::vector<std::pair<double, int>> changes;
      for (auto index : block.steps) {
        const auto& step = timeline[index];
        changes.emplace_back(step.start_s, +1);
        changes.emplace_back(step.finished ? step.end_s : origin + end, -1);
      }
      std::sort(changes.begin(), changes.end());
      int busy = 0, peak = 0;
      for (const auto& change : changes) peak = std::max(peak, busy += change.second);
      double scale = static_cast<double>(std::max<std::uint32_t>(block.limit, std::max(peak, 1)));
      std::map<env::StepKind, std::size_t> kinds;
      for (auto index : block.steps) ++kinds[timeline[index].kind];
      auto main_kind = std::max_element(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) {
                         return a.second < b.second;
                       })->first;
      std::string points = fmt::format("{:.1f},{:.1f}", x_of(origin), y + occupancy_height);
      busy = 0;
      for (const auto& change : changes) {
        double x = x_of(change.first);
        points += fmt::format(" {:.1f},{:.1f}", x, y + occupancy_height - busy / scale * occupancy_height);
        busy += change.second;
        points += fmt::format(" {:.1f},{:.1f}", x, y + occupancy_height - busy / scale * occupancy_height);
      }
      points += fmt::format(" {:.1f},{:.1f}", x_of(origin + end), y + occupancy_height);
      body += fmt::format(R"(<text x="4" y="{:.1f}" class="lane">{} (peak {}{})</text>)"
                          "\n",
                          y + 14, escape(block.title), peak,
                          block.limit ? fmt::format(" of {}", block.limit) : std::string());
      body += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="lanebg"/>)"
                          "\n",
                          kLabelWidth, y, kChartWidth, occupancy_height);
      body += fmt::format(R"(<polygon points="{}" fill="{}" fill-opacity="0.85"/>)"
                          "\n",
                          points, colour(main_kind));
      for (auto index : block.steps) {
        const auto& step = timeline[index];
        if (step.finished && step.ok) continue;
        body += fmt::format(R"(<path d="M{:.1f},{:.1f} l-3,-5 h6 z" class="fail"/>)"
                            "\n",
                            x_of(step.end_s), y);
      }
      y += occupancy_height + 6.0;
      continue;
    }
    double height = static_cast<double>(block.lanes) * (kLaneHeight + kLaneGap);
    body += fmt::format(R"(<text x="4" y="{:.1f}" class="group">{}</text>)"
                        "\n",
                        y - 3, escape(block.title));
    body += fmt::format(R"(<text x="4" y="{:.1f}" class="lane">{} slot{} used{}</text>)"
                        "\n",
                        y + 10, block.lanes, block.lanes == 1 ? "" : "s",
                        block.limit ? fmt::format(" of {}", block.limit) : std::string());
    body += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="lanebg"/>)"
                        "\n",
                        kLabelWidth, y, kChartWidth, height);
    for (std::size_t k = 0; k < block.steps.size(); ++k) {
      const auto& step = timeline[block.steps[k]];
      double finish = step.finished ? step.end_s : origin + end;
      double x0 = x_of(step.start_s);
      double width = std::max(0.8, x_of(finish) - x0);
      double top = y + static_cast<double>(block.lane_of[k]) * (kLaneHeight + kLaneGap);
      bool failed = !(step.finished && step.ok);
      std::string what = std::string(env::to_string(step.kind));
      if (step.vm != model::kNoIndex) what += " " + cloud.vms[step.vm].name;
      if (step.disk != model::kNoIndex) what += " " + cloud.disks[step.disk].name;
      if (step.host != model::kNoIndex) what += " on " + cloud.hosts[step.host].name;
      what += fmt::format(": {:.1f}-{:.1f} s", step.start_s - origin, finish - origin);
      if (step.kind == env::StepKind::migrate) {
        what += fmt::format(" from {}, {} round{}, downtime {:.0f} ms", cloud.hosts[step.from].name,
                            step.rounds, step.rounds == 1 ? "" : "s", step.downtime_s * 1000);
      }
      if (failed) what += " FAILED" + (step.error.empty() ? std::string() : " (" + step.error + ")");
      body += fmt::format(
          R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" class="{}"><title>{}</title></rect>)"
          "\n",
          x0, top, width, kLaneHeight, colour(step.kind), failed ? "bar failed" : "bar", escape(what));
      if (step.kind == env::StepKind::migrate) {
        // Pre-copy round boundaries as white ticks; the stop-and-copy pause (downtime) as a dark end cap.
        for (double round_end : step.round_ends_s) {
          body += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" class="round"/>)"
                              "\n",
                              x_of(round_end), top, x_of(round_end), top + kLaneHeight);
        }
        if (step.finished && step.ok) {
          double cap = std::max(1.5, x_of(finish) - x_of(finish - step.downtime_s));
          body +=
              fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="downtime"/>)"
                          "\n",
                          x0 + width - cap, top, cap, kLaneHeight);
        }
      }
      if (failed) {
        body += fmt::format(R"(<path d="M{:.1f},{:.1f} l-3,-5 h6 z" class="fail"/>)"
                            "\n",
                            x0 + width, top + 1);
      }
    }
    y += height + kGroupGap;
  }
  if (hidden > 0) {
    body += fmt::format(R"(<text x="4" y="{:.1f}" class="lane">{} less busy resources not shown</text>)"
                        "\n",
                        y + 4, hidden);
    y += 16;
  }
  double chart_bottom = y;

  // Time axis (top and bottom) and grid.
  std::string axis;
  double tick = nice_step(end);
  for (double t = 0; t <= end + 1e-9; t += tick) {
    double x = x_of(origin + t);
    axis += fmt::format(R"(<line x1="{:.1f}" y1="84" x2="{:.1f}" y2="{:.1f}" class="grid"/>)"
                        "\n",
                        x, x, chart_bottom);
    axis += fmt::format(R"(<text x="{:.1f}" y="80" class="tick">{:g} s</text>)"
                        "\n",
                        x, t);
    axis += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="tick">{:g} s</text>)"
                        "\n",
                        x, chart_bottom + 12, t);
  }
  // Tier completion lines.
  std::string tiers;
  int shown = 0;
  for (int tier = 0; tier < model::kPriorityCount; ++tier) {
    if (!result.tier_done_s[tier]) continue;
    double x = x_of(origin + *result.tier_done_s[tier]);
    tiers += fmt::format(R"(<line x1="{:.1f}" y1="84" x2="{:.1f}" y2="{:.1f}" class="tier"/>)"
                         "\n",
                         x, x, chart_bottom);
    bool right_half = x > kLabelWidth + kChartWidth * 0.6;
    tiers += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="tierlabel"{}>{} done {:.1f} s</text>)"
                         "\n",
                         right_half ? x - 3 : x + 3, chart_bottom + 26 + 12.0 * shown,
                         right_half ? R"( text-anchor="end")" : "",
                         model::to_string(static_cast<model::Priority>(tier)), *result.tier_done_s[tier]);
    ++shown;
  }
  double height = chart_bottom + 34 + 12.0 * shown;

  // Legend.
  std::string legend;
  double lx = kLabelWidth;
  for (auto kind :
       {env::StepKind::fence, env::StepKind::disk_unmap, env::StepKind::disk_map, env::StepKind::net_config,
        env::StepKind::vm_start, env::StepKind::vm_stop, env::StepKind::migrate}) {
    legend += fmt::format(R"(<rect x="{:.1f}" y="44" width="12" height="10" fill="{}"/>)"
                          R"(<text x="{:.1f}" y="53" class="legend">{}</text>)"
                          "\n",
                          lx, colour(kind), lx + 16, env::to_string(kind));
    lx += 100;
  }
  legend += fmt::format(R"(<rect x="{:.1f}" y="44" width="12" height="10" fill="#ffffff" class="failed"/>)"
                        R"(<path d="M{:.1f},44 l-3,-5 h6 z" class="fail"/>)"
                        R"(<text x="{:.1f}" y="53" class="legend">failed</text>)"
                        "\n",
                        lx, lx + 12, lx + 16);
  lx += 80;
  legend += fmt::format(R"(<rect x="{:.1f}" y="44" width="12" height="10" fill="{}"/>)"
                        R"(<line x1="{:.1f}" y1="44" x2="{:.1f}" y2="54" class="round"/>)"
                        R"(<rect x="{:.1f}" y="44" width="3" height="10" class="downtime"/>)"
                        R"(<text x="{:.1f}" y="53" class="legend">rounds | downtime</text>)"
                        "\n",
                        lx, colour(env::StepKind::migrate), lx + 5, lx + 5, lx + 9, lx + 16);
  lx += 120;
  legend += fmt::format(R"(<line x1="{:.1f}" y1="49" x2="{:.1f}" y2="49" class="tier"/>)"
                        R"(<text x="{:.1f}" y="53" class="legend">tier done</text>)"
                        "\n",
                        lx, lx + 14, lx + 18);

  std::string svg;
  svg += fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{:.0f}" height="{:.0f}" viewBox="0 0 {:.0f} {:.0f}" font-family="sans-serif">)"
      "\n",
      kLabelWidth + kChartWidth + 20, height, kLabelWidth + kChartWidth + 20, height);
  svg += R"(<style>
.title{font-size:15px;font-weight:bold} .sub{font-size:11px;fill:#444} .group{font-size:11px;font-weight:bold}
.lane{font-size:9px;fill:#555} .tick{font-size:9px;fill:#555;text-anchor:middle} .legend{font-size:10px}
.lanebg{fill:#f4f4f4} rect.bar{stroke:#ffffff;stroke-width:0.6} .grid{stroke:#ddd;stroke-width:0.5} .tier{stroke:#c00;stroke-width:1;stroke-dasharray:4,3}
.tierlabel{font-size:10px;fill:#c00} rect.failed,.failed{stroke:#d62728;stroke-width:1.5} .fail{fill:#d62728}
.round{stroke:#ffffff;stroke-width:0.8} .downtime{fill:#1f3f3d}
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
)";
  svg += fmt::format(R"(<text x="10" y="20" class="title">{} timeline: strategy {}</text>)"
                     "\n",
                     result.has_evacuations && result.failed_hosts.empty() ? "Evacuation" : "Recovery",
                     result.has_evacuations && result.failed_hosts.empty()
                         ? exec::to_string(result.evacuation_strategy)
                         : exec::to_string(result.strategy));
  svg += fmt::format(
      R"(<text x="10" y="36" class="sub">makespan {:.1f} s, {}; {} restarted, {} waiting, {} failed; {} double runs; time from the first event; {}</text>)"
      "\n",
      result.makespan_s,
      result.lower_bound_s > 0 ? fmt::format("lower bound {:.1f} s ({:.2f}x)", result.lower_bound_s,
                                             result.makespan_s / result.lower_bound_s)
                               : std::string("no lower bound (nothing restarted or moved)"),
      result.restarted, result.waiting, result.failed, result.double_runs,
      occupancy ? "one lane per resource: busy slots over time"
                : "one lane per concurrent slot of each resource");
  if (result.has_evacuations) {
    svg += fmt::format(
        R"(<text x="420" y="20" class="sub">evacuation ({}): {} migrated live, {} moved cold, {} stopped, {} not placed, {} still running at a deadline</text>)"
        "\n",
        exec::to_string(result.evacuation_strategy), result.migrated, result.moved_cold, result.stopped,
        result.not_placed, result.running_at_deadline);
  }
  svg += legend;
  svg += axis;
  svg += body;
  svg += tiers;
  svg += "</svg>\n";
  return svg;
}

}  // namespace revive::sim

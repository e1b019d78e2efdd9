// `revive plan` (one plan, or every prestaged plan) and `revive check` (capacity check / admission control).
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "exec/recovery_time.h"
#include "model/inventory.h"
#include "plan/capacity_check.h"
#include "plan/decision.h"
#include "plan/placement_engine.h"
#include "plan/planner.h"
#include "plan/precomputed_plans.h"
#include "plan/saved_plans.h"
#include "sim/scenario.h"

namespace revive::cli {
namespace {

std::vector<std::string> split_names(const std::string& text, const std::string& option) {
  std::vector<std::string> names;
  std::stringstream stream(text);
  std::string name;
  while (std::getline(stream, name, ',')) {
    if (name.empty()) throw InputError(fmt::format("{}: empty host name in '{}'", option, text));
    names.push_back(name);
  }
  if (names.empty() || text.back() == ',') {
    throw InputError(fmt::format("{}: empty host name in '{}'", option, text));
  }
  return names;
}

std::vector<model::HostIndex> resolve_hosts(const model::Cloud& cloud, const std::vector<std::string>& lists,
                                            const std::string& option, const std::string& inventory) {
  std::vector<model::HostIndex> hosts;
  for (const auto& list : lists) {
    for (const auto& name : split_names(list, option)) {
      model::HostIndex h = cloud.find_host(name);
      if (h == model::kNoIndex)
        throw InputError(fmt::format("{}: unknown host '{}' (not in {})", option, name, inventory));
      if (std::find(hosts.begin(), hosts.end(), h) != hosts.end()) {
        throw InputError(fmt::format("{}: host '{}' given twice", option, name));
      }
      hosts.push_back(h);
    }
  }
  return hosts;
}

std::vector<model::Symbol> resolve_domains(model::Cloud& cloud, const std::vector<std::string>& keys) {
  std::vector<model::Symbol> symbols;
  for (const auto& key : keys) {
    model::Symbol symbol = cloud.symbols.find(key);
    bool used = false;
    for (model::HostIndex h = 0; symbol != model::kNoIndex && h < cloud.hosts.size() && !used; ++h) {
      used = cloud.scope_value(h, symbol) != model::kNoIndex;
    }
    if (!used) throw InputError(fmt::format("--domain: no host has a label '{}'", key));
    symbols.push_back(symbol);
  }
  return symbols;
}

std::string memory_text(double mib) {
  return fmt::format("{:.1f} GiB", mib / 1024.0);
}

void print_plan_table(const model::Cloud& cloud, const plan::Plan& plan, std::ostream& out) {
  bool lifted = false;
  std::string failed;
  for (auto h : plan.failed_hosts) failed += (failed.empty() ? "" : ", ") + cloud.hosts[h].name;
  std::string drained;
  for (auto h : plan.evacuated_hosts) drained += (drained.empty() ? "" : ", ") + cloud.hosts[h].name;
  auto vms = plan.placements.size() + plan.waiting.size();
  out << fmt::format("Plan: {}{}{}: {} VM{}, {} placed, {} waiting ({:.1f} ms)\n",
                     failed.empty() ? "" : "failed " + failed, failed.empty() || drained.empty() ? "" : "; ",
                     drained.empty() ? "" : "drained " + drained, vms, vms == 1 ? "" : "s",
                     plan.placements.size(), plan.waiting.size(), plan.plan_ms);
  if (!plan.placements.empty()) {
    out << fmt::format("\n{:<24} {:<9} {:<16} {:<16} {:>5}  {}\n", "VM", "PRIORITY", "FROM", "TO", "DISKS",
                       "START AFTER");
    for (const auto& placement : plan.placements) {
      const auto& vm = cloud.vms[placement.vm];
      std::string after;
      for (auto d : placement.start_after) after += (after.empty() ? "" : ",") + cloud.vms[d].name;
      std::string priority(model::to_string(placement.effective_priority));
      if (placement.effective_priority != vm.priority) {
        priority += "*";
        lifted = true;
      }
      out << fmt::format("{:<24} {:<9} {:<16} {:<16} {:>5}  {}\n", vm.name, priority,
                         cloud.hosts[placement.from].name, cloud.hosts[placement.to].name, vm.disk_count,
                         after.empty() ? "-" : after);
    }
  }
  if (!plan.waiting.empty()) {
    out << fmt::format("\nWaiting:\n{:<24} {:<9} {:<16} {}\n", "VM", "PRIORITY", "FROM", "REASON");
    for (const auto& waiting : plan.waiting) {
      const auto& vm = cloud.vms[waiting.vm];
      std::string priority(model::to_string(waiting.effective_priority));
      if (waiting.effective_priority != vm.priority) {
        priority += "*";
        lifted = true;
      }
      out << fmt::format("{:<24} {:<9} {:<16} {}\n", vm.name, priority, cloud.hosts[waiting.from].name,
                         waiting.reason);
    }
  }
  if (lifted) out << "(* priority lifted by an `after` dependency)\n";
  std::size_t unprotected = 0;
  std::string examples;
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    const auto& vm = cloud.vms[v];
    bool moving =
        std::find(plan.failed_hosts.begin(), plan.failed_hosts.end(), vm.host) != plan.failed_hosts.end();
    if (vm.protect || vm.host == model::kNoIndex || !moving) continue;
    if (++unprotected <= 3) examples += (examples.empty() ? "" : ", ") + vm.name;
  }
  if (unprotected > 0) {
    out << fmt::format("{} VM{} of the failed hosts {} protect: false and {} not restarted ({}{})\n",
                       unprotected, unprotected == 1 ? "" : "s", unprotected == 1 ? "is" : "are",
                       unprotected == 1 ? "is" : "are", examples, unprotected > 3 ? ", ..." : "");
  }
}

struct PlanOptions {
  std::string inventory;
  std::vector<std::string> fail;
  std::vector<std::string> evacuate;
  std::string format = "table";
  bool exact = false;
  std::string explain;
  bool precompute = false;
  std::vector<std::string> domains;
  std::string save;   // --precompute: write the prestaged plans to this file
  std::string plans;  // --fail: start from the saved plan of these hosts when it still holds
  std::string save_inputs;
};

void run_plan(const PlanOptions& options) {
  model::Cloud cloud = model::load_inventory_file(options.inventory);
  if (options.precompute) {
    if (!options.fail.empty() || !options.evacuate.empty() || !options.explain.empty() || options.exact ||
        !options.plans.empty()) {
      throw InputError(
          "--precompute: cannot be combined with --fail, --evacuate, --explain, --exact or --plans");
    }
    auto keys = options.domains;
    if (keys.empty() && cloud.symbols.find("rack") != model::kNoIndex) keys.push_back("rack");
    auto domains = keys.empty() ? std::vector<model::Symbol>{} : resolve_domains(cloud, keys);
    auto started = std::chrono::steady_clock::now();
    plan::PrecomputedPlans prestaged(cloud, domains);
    double elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    std::size_t with_waiting = 0;
    for (const auto& entry : prestaged.plans()) with_waiting += entry.plan.waiting.empty() ? 0 : 1;
    auto document = plan::saved_plans_json(cloud, prestaged, elapsed_ms);
    if (!options.save.empty()) {
      std::ofstream out(options.save, std::ios::binary);
      out << document.dump(1) << "\n";
      if (!out) throw InputError(fmt::format("--save: cannot write {}", options.save));
    }
    if (options.format == "json") {
      std::cout << document.dump(2) << "\n";
    } else {
      std::cout << fmt::format("{:<28} {:>8} {:>8} {:>8}\n", "FAILURE", "VMS", "PLACED", "WAITING");
      for (const auto& entry : prestaged.plans()) {
        std::cout << fmt::format("{:<28} {:>8} {:>8} {:>8}\n", entry.name,
                                 entry.plan.placements.size() + entry.plan.waiting.size(),
                                 entry.plan.placements.size(), entry.plan.waiting.size());
      }
      std::cout << fmt::format("{} prestaged plans in {:.1f} ms; {} leave VMs waiting\n",
                               prestaged.plans().size(), elapsed_ms, with_waiting);
      if (!options.save.empty()) std::cout << fmt::format("saved to {}\n", options.save);
    }
    set_exit_status(with_waiting == 0 ? kExitOk : kExitNotAllPlaced);
    return;
  }
  if (!options.domains.empty()) throw InputError("--domain: only with --precompute");
  if (!options.save.empty()) throw InputError("--save: only with --precompute");
  plan::PlanRequest request;
  request.failed_hosts = resolve_hosts(cloud, options.fail, "--fail", options.inventory);
  request.evacuated_hosts = resolve_hosts(cloud, options.evacuate, "--evacuate", options.inventory);
  for (auto h : request.evacuated_hosts) {
    if (std::find(request.failed_hosts.begin(), request.failed_hosts.end(), h) !=
        request.failed_hosts.end()) {
      throw InputError(fmt::format("--evacuate: host '{}' is also in --fail", cloud.hosts[h].name));
    }
  }
  if (request.failed_hosts.empty() && request.evacuated_hosts.empty()) {
    throw InputError("--fail or --evacuate: give at least one host (or use --precompute)");
  }
  model::VmIndex explained = model::kNoIndex;
  if (!options.explain.empty()) {
    explained = cloud.find_vm(options.explain);
    if (explained == model::kNoIndex) {
      throw InputError(
          fmt::format("--explain: unknown VM '{}' (not in {})", options.explain, options.inventory));
    }
  }
  plan::PlannerOptions planner_options;
  planner_options.exact = options.exact;
  plan::Plan result;
  try {
    std::optional<plan::Plan> saved;
    if (!options.plans.empty()) {
      if (!request.evacuated_hosts.empty())
        throw InputError("--plans: only with --fail (prestaged failover plans)");
      auto plans = plan::SavedPlans::load(options.plans, cloud);
      saved = plans.take(cloud, request);
      if (!saved) {
        std::cerr << fmt::format("revive: {}; planned afresh\n",
                                 plans.rejected() > 0
                                     ? plans.last_rejection()
                                     : "no saved plan in " + options.plans + " for these hosts");
      }
    }
    result = saved ? std::move(*saved) : plan::plan_failover(cloud, request, planner_options);
  } catch (const std::invalid_argument& e) {
    throw InputError(e.what());
  }
  if (!options.save_inputs.empty()) {
    std::string trigger = "revive plan";
    for (auto h : request.failed_hosts) trigger += " --fail " + cloud.hosts[h].name;
    for (auto h : request.evacuated_hosts) trigger += " --evacuate " + cloud.hosts[h].name;
    try {
      plan::write_decision_file(options.save_inputs, 1,
                                {"plan", trigger, 0.0, cloud, request, planner_options, result});
    } catch (const std::runtime_error& e) {
      throw InputError(fmt::format("--save-inputs: {}", e.what()));
    }
  }
  if (explained != model::kNoIndex) {
    plan::PlacementEngine engine(cloud);
    std::vector<plan::HostVerdict> verdicts;
    try {
      verdicts = engine.explain(request, result, explained);
    } catch (const std::invalid_argument& e) {
      throw InputError(fmt::format(
          "--explain: {} (it is not on a failed or drained host, or is protect: false)", options.explain));
    }
    std::string outcome = "waits";
    for (const auto& placement : result.placements) {
      if (placement.vm == explained) outcome = "goes to " + cloud.hosts[placement.to].name;
    }
    for (const auto& waiting : result.waiting) {
      if (waiting.vm == explained) outcome += ": " + waiting.reason;
    }
    if (options.format == "json") {
      nlohmann::json out;
      out["vm"] = options.explain;
      out["outcome"] = outcome;
      out["hosts"] = nlohmann::json::array();
      for (const auto& verdict : verdicts) {
        out["hosts"].push_back({{"host", cloud.hosts[verdict.host].name},
                                {"feasible", verdict.feasible},
                                {"chosen", verdict.chosen},
                                {"reason", verdict.reason}});
      }
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << options.explain << " " << outcome << "\n";
      for (const auto& verdict : verdicts) {
        std::cout << fmt::format("  {:<20} {:<10} {}\n", cloud.hosts[verdict.host].name,
                                 verdict.chosen ? "CHOSEN" : (verdict.feasible ? "feasible" : "no"),
                                 verdict.reason);
      }
    }
  } else if (options.format == "json") {
    std::cout << plan::to_json(cloud, result).dump(2) << "\n";
  } else {
    print_plan_table(cloud, result, std::cout);
  }
  set_exit_status(result.all_placed() ? kExitOk : kExitNotAllPlaced);
}

struct CheckOptions {
  std::string inventory;
  int tolerate = 1;
  std::vector<std::string> domains;
  std::string format = "table";
  std::uint64_t samples = 2000;
  std::uint64_t seed = 1;
  bool rto = false;
  std::string scenario;     // --rto: step latencies from this scenario's `latency`
  std::uint32_t runs = 64;  // --rto: scheduler runs per failure
  bool all = false;         // --rto table: every failure, not only those over a budget
};

std::string seconds_text(double seconds) {
  return fmt::format("{:.1f}", seconds);
}

exec::StepLatency step_latency(const sim::Latency& latency) {
  return {latency.median_s, latency.spread};
}

// `revive check --rto`: predicted recovery time per tier for every failure (exec/recovery_time.h).
void run_rto_check(const CheckOptions& options, const model::Cloud& cloud,
                   const plan::CapacityCheckOptions& check) {
  exec::RecoveryTimeOptions rto;
  rto.failures = check;
  rto.samples = options.runs;
  rto.seed = options.seed;
  if (!options.scenario.empty()) {
    sim::Scenario scenario;
    try {
      scenario = sim::load_scenario_file(options.scenario, cloud);
    } catch (const sim::ScenarioError& e) {
      throw InputError(e.what());
    }
    const auto& latency = scenario.latency;
    if (latency.detect) rto.latencies.detect = step_latency(*latency.detect);
    rto.latencies.fence = step_latency(latency.fence);
    rto.latencies.disk_unmap = step_latency(latency.disk_unmap);
    rto.latencies.disk_map = step_latency(latency.disk_map);
    rto.latencies.net_config = step_latency(latency.net_config);
    rto.latencies.vm_start = step_latency(latency.vm_start);
    rto.latencies.repeatability = latency.repeatability;
  }
  auto report = exec::predict_recovery_times(cloud, rto);
  bool any_budget =
      std::any_of(cloud.policy.rto_s.begin(), cloud.policy.rto_s.end(), [](double b) { return b > 0; });
  auto tier_name = [](int tier) { return std::string(model::to_string(static_cast<model::Priority>(tier))); };
  if (options.format == "json") {
    nlohmann::json out;
    out["version"] = 1;
    out["failures_checked"] = report.failures_checked;
    out["sampled"] = report.sampled;
    out["runs_per_failure"] = rto.samples;
    nlohmann::json budgets = nlohmann::json::object();
    for (int tier = 0; tier < model::kPriorityCount; ++tier) {
      if (cloud.policy.rto_s[tier] > 0) budgets[tier_name(tier)] = cloud.policy.rto_s[tier];
    }
    out["rto_s"] = budgets;
    out["breaking"] = report.breaking;
    out["failures"] = nlohmann::json::array();
    for (const auto& failure : report.failures) {
      nlohmann::json item;
      item["failure"] = failure.failure;
      item["breaks_budget"] = failure.breaks_budget;
      nlohmann::json tiers = nlohmann::json::object();
      for (int tier = 0; tier < model::kPriorityCount; ++tier) {
        const auto& each = failure.tiers[tier];
        if (each.vms == 0) continue;
        tiers[tier_name(tier)] = {
            {"vms", each.vms},
            {"waiting", each.waiting},
            {"p50_s", each.p50_s},
            {"p90_s", each.p90_s},
            {"budget_s", each.budget_s > 0 ? nlohmann::json(each.budget_s) : nlohmann::json()},
            {"breaks", each.breaks}};
      }
      item["tiers"] = std::move(tiers);
      item["binding"] = failure.binding;
      item["advice"] = failure.advice;
      out["failures"].push_back(std::move(item));
    }
    out["stats"] = {{"check_ms", report.check_ms}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format(
        "Predicted recovery times for {} failures{} ({} scheduler runs each) in {:.1f} ms: ",
        report.failures_checked, report.sampled ? " (N-sets sampled)" : "", rto.samples, report.check_ms);
    std::cout << (any_budget ? fmt::format("{} would break a recovery-time budget\n", report.breaking)
                             : std::string("no policy.rto_s budget set\n"));
    // The worst p90 of each tier over every failure, and the failure that gives it.
    for (int tier = 0; tier < model::kPriorityCount; ++tier) {
      const exec::FailurePrediction* worst = nullptr;
      for (const auto& failure : report.failures) {
        const auto& each = failure.tiers[tier];
        if (each.vms == 0) continue;
        if (worst == nullptr || each.p90_s > worst->tiers[tier].p90_s) worst = &failure;
      }
      if (worst == nullptr) continue;
      const auto& each = worst->tiers[tier];
      std::cout << fmt::format(
          "  {:<8} worst p90 {:>7} s (p50 {} s) when {} fails{}\n", tier_name(tier), seconds_text(each.p90_s),
          seconds_text(each.p50_s), worst->failure,
          each.budget_s > 0 ? fmt::format("; budget {} s", seconds_text(each.budget_s)) : "");
    }
    bool header = false;
    for (const auto& failure : report.failures) {
      if (!options.all && !failure.breaks_budget) continue;
      if (!header) {
        std::cout << fmt::format("\n{:<24} {:<8} {:>5} {:>7} {:>8} {:>8} {:>8}  {}\n", "FAILURE", "TIER",
                                 "VMS", "WAITING", "P50_S", "P90_S", "BUDGET_S", "WHAT BINDS");
        header = true;
      }
      for (int tier = 0; tier < model::kPriorityCount; ++tier) {
        const auto& each = failure.tiers[tier];
        if (each.vms == 0 || (!options.all && !each.breaks)) continue;
        std::cout << fmt::format(
            "{:<24} {:<8} {:>5} {:>7} {:>8} {:>8} {:>8}  {}{}\n", failure.failure, tier_name(tier), each.vms,
            each.waiting, seconds_text(each.p50_s), seconds_text(each.p90_s),
            each.budget_s > 0 ? seconds_text(each.budget_s) : "-", each.breaks ? "OVER: " : "",
            failure.advice.empty() ? failure.binding : failure.advice);
      }
    }
  }
  set_exit_status(report.breaking == 0 ? kExitOk : kExitNotAllPlaced);
}

void run_check(const CheckOptions& options) {
  model::Cloud cloud = model::load_inventory_file(options.inventory);
  plan::CapacityCheckOptions check;
  check.tolerate = options.tolerate;
  check.domain_keys = resolve_domains(cloud, options.domains);
  check.samples = options.samples;
  check.seed = options.seed;
  if (!options.rto && (!options.scenario.empty() || options.all)) {
    throw InputError(!options.scenario.empty() ? "--scenario: only with --rto" : "--all: only with --rto");
  }
  if (options.rto) {
    if (options.runs == 0) throw InputError("--runs: must be at least 1");
    run_rto_check(options, cloud, check);
    return;
  }
  plan::CapacityReport report = plan::check_capacity(cloud, check);
  if (options.format == "json") {
    nlohmann::json out;
    out["version"] = 1;
    out["failures_checked"] = report.failures_checked;
    out["sampled"] = report.sampled;
    out["shortfalls"] = nlohmann::json::array();
    for (const auto& shortfall : report.shortfalls) {
      nlohmann::json item;
      item["failure"] = shortfall.failure;
      nlohmann::json by_priority;
      for (int p = 0; p < model::kPriorityCount; ++p) {
        by_priority[std::string(model::to_string(static_cast<model::Priority>(p)))] =
            shortfall.waiting_by_priority[p];
      }
      item["waiting"] = by_priority;
      item["spare_needed"] = {{"cpus", shortfall.waiting_cpus},
                              {"memory_mib", shortfall.waiting_memory_mib},
                              {"largest_vm_memory_mib", shortfall.largest_waiting_memory_mib}};
      item["waiting_vms"] = nlohmann::json::array();
      for (const auto& waiting : shortfall.plan.waiting) {
        item["waiting_vms"].push_back({{"vm", cloud.vms[waiting.vm].name}, {"reason", waiting.reason}});
      }
      out["shortfalls"].push_back(std::move(item));
    }
    out["stats"] = {{"check_ms", report.check_ms}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format("Checked {} failures{} in {:.1f} ms: {} would leave protected VMs waiting\n",
                             report.failures_checked, report.sampled ? " (N-sets sampled)" : "",
                             report.check_ms, report.shortfalls.size());
    if (!report.shortfalls.empty()) {
      std::cout << fmt::format("\n{:<32} {:>8} {:>6} {:>6} {:>6}  {}\n", "FAILURE", "CRITICAL", "HIGH",
                               "MEDIUM", "LOW", "SPARE CAPACITY IT WOULD TAKE");
      for (const auto& shortfall : report.shortfalls) {
        std::cout << fmt::format(
            "{:<32} {:>8} {:>6} {:>6} {:>6}  {:.0f} vCPU, {} (largest VM {})\n", shortfall.failure,
            shortfall.waiting_by_priority[0], shortfall.waiting_by_priority[1],
            shortfall.waiting_by_priority[2], shortfall.waiting_by_priority[3], shortfall.waiting_cpus,
            memory_text(shortfall.waiting_memory_mib), memory_text(shortfall.largest_waiting_memory_mib));
      }
    }
  }
  set_exit_status(report.shortfalls.empty() ? kExitOk : kExitNotAllPlaced);
}

}  // namespace

void add_plan_commands(CLI::App& app) {
  auto plan_options = std::make_shared<PlanOptions>();
  auto* plan = app.add_subcommand("plan", "Compute the failover plan for failed (or drained) hosts");
  plan->add_option("--inventory", plan_options->inventory, "Inventory file (YAML)")->required();
  plan->add_option("--fail", plan_options->fail, "Failed hosts, comma-separated");
  plan->add_option("--evacuate", plan_options->evacuate, "Hosts being drained (still up), comma-separated");
  plan->add_option("--format", plan_options->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}));
  plan->add_flag("--exact", plan_options->exact, "Solve exactly with CBC (small clouds)");
  plan->add_option("--save-inputs", plan_options->save_inputs,
                   "Directory: write the decision with its inputs (decision-000001-plan.json), for revive "
                   "replay");
  plan->add_option("--explain", plan_options->explain, "Explain, host by host, where this VM goes and why");
  plan->add_flag("--precompute", plan_options->precompute,
                 "Compute every prestaged plan: each single host, each failure-domain value");
  plan->add_option("--domain", plan_options->domains,
                   "Failure-domain label key for --precompute (default: rack)");
  plan->add_option("--save", plan_options->save,
                   "With --precompute: write the prestaged plans to FILE (JSON)");
  plan->add_option(
      "--plans", plan_options->plans,
      "With --fail: start from the saved prestaged plan of those hosts (from --save) if it still "
      "holds for the inventory; otherwise plan afresh and say why");
  plan->callback([plan_options] { run_plan(*plan_options); });

  auto check_options = std::make_shared<CheckOptions>();
  auto* check =
      app.add_subcommand("check", "Capacity check: which failures would leave protected VMs waiting");
  check->add_option("--inventory", check_options->inventory, "Inventory file (YAML)")->required();
  check->add_option("--tolerate", check_options->tolerate, "Also check every set of N hosts failing together")
      ->check(CLI::Range(1, 64));
  check->add_option("--domain", check_options->domains,
                    "Label key whose every value fails as one (e.g. rack)");
  check->add_option("--samples", check_options->samples, "N-sets sampled when there are more than 20000");
  check->add_option("--seed", check_options->seed, "Seed for sampling N-sets");
  check->add_option("--format", check_options->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}));
  check->add_flag("--rto", check_options->rto,
                  "Also a time check: when each priority tier would run again (p50, p90) for every failure, "
                  "against policy.rto_s, and what binds");
  check->add_option("--scenario", check_options->scenario,
                    "With --rto: take the step latencies from this scenario file's `latency` (default: the "
                    "simulation contract's)");
  check->add_option("--runs", check_options->runs, "With --rto: scheduler runs per failure (default 64)");
  check->add_flag("--all", check_options->all,
                  "With --rto: list every failure's tiers, not only those over a budget");
  check->callback([check_options] { run_check(*check_options); });
}

}  // namespace revive::cli

// `revive plan` and `revive check` through the command line, as an operator runs them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "model/inventory.h"
#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string scenario_inventory(const std::string& name) {
  return (examples_dir() / name / "inventory.yaml").string();
}

// Every protected VM of the failed hosts appears exactly once in placements or waiting.
void expect_partition(const std::string& inventory, const nlohmann::json& plan) {
  model::Cloud cloud = model::load_inventory_file(inventory);
  std::set<std::string> failed;
  for (const auto& host : plan["failed_hosts"]) failed.insert(host.get<std::string>());
  std::multiset<std::string> expected, seen;
  for (const auto& vm : cloud.vms) {
    if (vm.protect && failed.count(cloud.hosts[vm.host].name)) expected.insert(vm.name);
  }
  for (const auto& item : plan["placements"]) {
    seen.insert(item["vm"].get<std::string>());
    EXPECT_EQ(failed.count(item["to"].get<std::string>()), 0u) << item.dump();
  }
  for (const auto& item : plan["waiting"]) {
    seen.insert(item["vm"].get<std::string>());
    EXPECT_FALSE(item["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(plan["stats"]["vms"].get<std::size_t>(), expected.size());
}

TEST(PlanCli, Pod16AllPlacedJsonMatchesSpec) {
  auto result = run_cli({"plan", "--inventory", scenario_inventory("pod-16"), "--fail", "host-0006,host-0015",
                         "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto plan = nlohmann::json::parse(result.out);
  EXPECT_EQ(plan["version"], 1);
  EXPECT_EQ(plan["failed_hosts"], nlohmann::json::array({"host-0006", "host-0015"}));
  ASSERT_FALSE(plan["placements"].empty());
  for (const char* field : {"vm", "from", "to", "priority", "disks", "start_after"}) {
    EXPECT_TRUE(plan["placements"][0].contains(field)) << field;
  }
  EXPECT_TRUE(plan["waiting"].empty());
  expect_partition(scenario_inventory("pod-16"), plan);
}

TEST(PlanCli, TightCloudLeavesLowPriorityWaitingWithReasonsAndExit3) {
  auto result = run_cli({"plan", "--inventory", scenario_inventory("tight-8"), "--fail",
                         "host-0003,host-0002", "--format", "json"});
  ASSERT_EQ(result.exit_status, 3) << result.err;
  auto plan = nlohmann::json::parse(result.out);
  ASSERT_FALSE(plan["waiting"].empty());
  expect_partition(scenario_inventory("tight-8"), plan);
  // Waiting VMs are the least important: no critical VM waits while a low one is placed.
  bool low_placed = false;
  for (const auto& item : plan["placements"]) {
    low_placed |= item.value("effective_priority", item["priority"].get<std::string>()) == "low";
  }
  for (const auto& item : plan["waiting"]) {
    if (low_placed) {
      EXPECT_NE(item.value("effective_priority", item["priority"].get<std::string>()), "critical");
    }
  }
}

TEST(PlanCli, ExchangesOneLargeVmForTwoThatWeighMore) {
  // h2 has 10 vCPU free: `large` (critical, 6) first would take it and shut out `small` (anti-affinity with
  // it) and `dependant` (critical, after small). The plan places small + dependant and `large` waits, saying
  // why.
  TempDir dir;
  auto inventory =
      dir.write("exchange.yaml",
                "version: 1\n"
                "endpoints: [{name: e, max_parallel: 4}]\n"
                "hosts:\n"
                "- {name: h1, cpus: 16, memory_mib: 65536, endpoint: e}\n"
                "- {name: h2, cpus: 16, memory_mib: 65536, endpoint: e}\n"
                "- {name: h3, cpus: 16, memory_mib: 65536, endpoint: e}\n"
                "vms:\n"
                "- {name: large, host: h1, cpus: 6, memory_mib: 1024, priority: critical}\n"
                "- {name: small, host: h1, cpus: 4, memory_mib: 1024}\n"
                "- {name: dependant, host: h1, cpus: 4, memory_mib: 1024, priority: critical, "
                "after: [small]}\n"
                "- {name: fill2, host: h2, cpus: 6, memory_mib: 1024}\n"
                "- {name: fill3, host: h3, cpus: 16, memory_mib: 8192}\n"
                "groups: [{name: apart, kind: anti-affinity, scope: host, members: [large, small]}]\n");
  auto result = run_cli({"plan", "--inventory", inventory.string(), "--fail", "h1", "--format", "json"});
  ASSERT_EQ(result.exit_status, 3) << result.err;
  auto plan = nlohmann::json::parse(result.out);
  expect_partition(inventory.string(), plan);
  std::map<std::string, std::string> targets;
  for (const auto& item : plan["placements"]) targets[item["vm"]] = item["to"];
  EXPECT_EQ(targets, (std::map<std::string, std::string>{{"dependant", "h2"}, {"small", "h2"}}));
  ASSERT_EQ(plan["waiting"].size(), 1u);
  EXPECT_EQ(plan["waiting"][0]["vm"], "large");
  EXPECT_EQ(
      plan["waiting"][0]["reason"],
      "needs 6 vCPU and 1.0 GiB; none of the 2 compatible hosts has that free after the plan (most free: "
      "h2 with 2 vCPU and 61.0 GiB free); free capacity on a compatible host or add a spare");
}

TEST(PlanCli, SameInputGivesSameOutput) {
  std::vector<std::string> arguments{
      "plan",     "--inventory", scenario_inventory("pod-16"), "--fail", "host-0001,host-0002,host-0003",
      "--format", "json"};
  auto first = nlohmann::json::parse(run_cli(arguments).out);
  auto second = nlohmann::json::parse(run_cli(arguments).out);
  first["stats"].erase("plan_ms");
  second["stats"].erase("plan_ms");
  EXPECT_EQ(first.dump(), second.dump());
}

TEST(PlanCli, ExactModePlacesAtLeastTheHeuristicsWeight) {
  auto weight = [](const nlohmann::json& plan) {
    double total = 0;
    for (const auto& item : plan["placements"]) {
      std::string priority = item.value("effective_priority", item["priority"].get<std::string>());
      total += priority == "critical" ? 1000 : priority == "high" ? 100 : priority == "medium" ? 10 : 1;
    }
    return total;
  };
  std::vector<std::string> arguments{"plan",   "--inventory",         scenario_inventory("tight-8"),
                                     "--fail", "host-0003,host-0002", "--format",
                                     "json"};
  auto heuristic = run_cli(arguments);
  arguments.push_back("--exact");
  auto exact = run_cli(arguments);
  ASSERT_EQ(exact.exit_status, 3) << exact.err;
  auto exact_plan = nlohmann::json::parse(exact.out);
  expect_partition(scenario_inventory("tight-8"), exact_plan);
  EXPECT_GE(weight(exact_plan) + 1e-9, weight(nlohmann::json::parse(heuristic.out)));
}

TEST(PlanCli, DemoRestartsAreSpreadOverBothEndpoints) {
  // The demo's two failed hosts: the least-loaded hosts (and the empty spares) sit behind mgmt-2; without
  // spreading, 99 of the 137 restarts went there and mgmt-2's 32 slots bound the recovery.
  const std::string inventory = (source_dir() / "examples" / "demo-cloud.yaml").string();
  auto result =
      run_cli({"plan", "--inventory", inventory, "--fail", "host-0003,host-0010", "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto plan = nlohmann::json::parse(result.out);
  expect_partition(inventory, plan);
  model::Cloud cloud = model::load_inventory_file(inventory);
  std::map<std::string, int> per_endpoint;
  int total = 0;
  for (const auto& item : plan["placements"]) {
    auto host = cloud.find_host(item["to"].get<std::string>());
    ASSERT_NE(host, model::kNoIndex);
    ++per_endpoint[cloud.endpoints[cloud.hosts[host].endpoint].name];
    ++total;
  }
  ASSERT_GT(total, 100);
  for (const char* endpoint : {"mgmt-1", "mgmt-2"}) {
    EXPECT_GE(per_endpoint[endpoint] * 100, total * 45) << endpoint << ": " << per_endpoint[endpoint];
  }
}

TEST(PlanCli, TableNamesEveryVm) {
  auto result = run_cli({"plan", "--inventory", scenario_inventory("tight-8"), "--fail", "host-0003"});
  EXPECT_EQ(result.exit_status == 0 || result.exit_status == 3, true) << result.err;
  EXPECT_NE(result.out.find("Plan: failed host-0003"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("PRIORITY"), std::string::npos);
}

TEST(PlanCli, ExplainSaysWhyForEveryHost) {
  auto plan = nlohmann::json::parse(run_cli({"plan", "--inventory", scenario_inventory("pod-16"), "--fail",
                                             "host-0006", "--format", "json"})
                                        .out);
  std::string vm = plan["placements"][0]["vm"];
  std::string target = plan["placements"][0]["to"];
  auto result = run_cli({"plan", "--inventory", scenario_inventory("pod-16"), "--fail", "host-0006",
                         "--explain", vm, "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto explanation = nlohmann::json::parse(result.out);
  EXPECT_EQ(explanation["hosts"].size(), 16u);
  int chosen = 0;
  for (const auto& host : explanation["hosts"]) {
    EXPECT_FALSE(host["reason"].get<std::string>().empty()) << host.dump();
    if (host["chosen"].get<bool>()) {
      ++chosen;
      EXPECT_EQ(host["host"], target);
    }
    if (host["host"] == "host-0006") {
      EXPECT_EQ(host["reason"], "failed");
    }
  }
  EXPECT_EQ(chosen, 1);
}

TEST(PlanCli, BadInputExits2AndNamesTheProblem) {
  auto unknown_host = run_cli({"plan", "--inventory", scenario_inventory("pod-16"), "--fail", "host-9999"});
  EXPECT_EQ(unknown_host.exit_status, 2);
  EXPECT_NE(unknown_host.err.find("--fail: unknown host 'host-9999'"), std::string::npos) << unknown_host.err;
  auto no_hosts = run_cli({"plan", "--inventory", scenario_inventory("pod-16")});
  EXPECT_EQ(no_hosts.exit_status, 2);
  auto missing_file = run_cli({"plan", "--inventory", "/nonexistent.yaml", "--fail", "h"});
  EXPECT_EQ(missing_file.exit_status, 2);
  EXPECT_NE(missing_file.err.find("/nonexistent.yaml"), std::string::npos) << missing_file.err;
  auto unknown_vm = run_cli(
      {"plan", "--inventory", scenario_inventory("pod-16"), "--fail", "host-0001", "--explain", "nope"});
  EXPECT_EQ(unknown_vm.exit_status, 2);
  TempDir dir;
  auto broken = dir.write("broken.yaml", "version: 1\nhosts:\n  - name: h1\n    cpus: -4\n");
  auto bad_inventory = run_cli({"plan", "--inventory", broken.string(), "--fail", "h1"});
  EXPECT_EQ(bad_inventory.exit_status, 2);
  EXPECT_NE(bad_inventory.err.find("broken.yaml:4:"), std::string::npos) << bad_inventory.err;
}

TEST(PlanCli, PrecomputeCoversEveryHostAndRack) {
  auto result =
      run_cli({"plan", "--inventory", scenario_inventory("pod-16"), "--precompute", "--format", "json"});
  // Every db-licensed host of pod-16 is in rack r2: losing that rack strands the licensed VMs (exit 3).
  ASSERT_EQ(result.exit_status, 3) << result.err;
  auto out = nlohmann::json::parse(result.out);
  EXPECT_EQ(out["stats"]["plans"], 16 + 4);  // 16 hosts, racks r1..r4
  EXPECT_EQ(out["stats"]["plans_with_waiting"], 1);
  std::set<std::string> names;
  for (const auto& plan : out["plans"]) {
    names.insert(plan["name"].get<std::string>());
    if (plan["name"] != "rack=r2") {
      EXPECT_TRUE(plan["waiting"].empty()) << plan["name"];
    }
    for (const auto& waiting : plan["waiting"]) {
      EXPECT_NE(waiting["reason"].get<std::string>().find("license=db"), std::string::npos) << waiting.dump();
    }
  }
  EXPECT_TRUE(names.count("host-0001"));
  EXPECT_TRUE(names.count("rack=r2"));
}

TEST(CheckCli, ReportsFailuresThatDoNotFit) {
  auto roomy = run_cli({"check", "--inventory", scenario_inventory("pod-16")});
  EXPECT_EQ(roomy.exit_status, 0) << roomy.out << roomy.err;
  EXPECT_NE(roomy.out.find("Checked 16 failures"), std::string::npos) << roomy.out;

  auto tight =
      run_cli({"check", "--inventory", scenario_inventory("tight-8"), "--tolerate", "2", "--format", "json"});
  ASSERT_EQ(tight.exit_status, 3) << tight.err;
  auto report = nlohmann::json::parse(tight.out);
  EXPECT_EQ(report["failures_checked"], 8 + 28);  // 8 singles + C(8,2) pairs
  ASSERT_FALSE(report["shortfalls"].empty());
  for (const auto& shortfall : report["shortfalls"]) {
    EXPECT_GT(shortfall["spare_needed"]["memory_mib"].get<double>(), 0.0);
    EXPECT_FALSE(shortfall["waiting_vms"].empty());
  }
  auto bad_domain =
      run_cli({"check", "--inventory", scenario_inventory("tight-8"), "--domain", "nosuchlabel"});
  EXPECT_EQ(bad_domain.exit_status, 2);
  EXPECT_NE(bad_domain.err.find("--domain"), std::string::npos);
}

// Node priorities with prefer_labels: the first-choice host carries every preferred label, the second-choice
// one some of them, the rest none; a host carrying more ranks above one carrying fewer (docs/inventory.md).
// Each of ha and hb has room for one VM; hc, the least loaded, takes what is left.
const char* kPreferenceCloud =
    "version: 1\n"
    "endpoints: [{name: e, max_parallel: 4}]\n"
    "hosts:\n"
    "- {name: h0, cpus: 16, memory_mib: 65536, endpoint: e}\n"
    "- {name: ha, cpus: 16, memory_mib: 65536, endpoint: e, labels: {first: 'yes', second: 'yes'}}\n"
    "- {name: hb, cpus: 16, memory_mib: 65536, endpoint: e, labels: {second: 'yes'}}\n"
    "- {name: hc, cpus: 16, memory_mib: 65536, endpoint: e}\n"
    "vms:\n"
    "- {name: fill-a, host: ha, cpus: 8, memory_mib: 1024}\n"
    "- {name: fill-b, host: hb, cpus: 8, memory_mib: 1024}\n"
    "- {name: v1, host: h0, cpus: 8, memory_mib: 1024, prefer_labels: {first: 'yes', second: 'yes'}}\n"
    "- {name: v2, host: h0, cpus: 8, memory_mib: 1024, prefer_labels: {first: 'yes', second: 'yes'}}\n"
    "- {name: v3, host: h0, cpus: 8, memory_mib: 1024, prefer_labels: {first: 'yes', second: 'yes'}}\n";

std::map<std::string, std::string> targets_of(const nlohmann::json& plan) {
  std::map<std::string, std::string> targets;
  for (const auto& item : plan["placements"]) targets[item["vm"]] = item["to"];
  return targets;
}

std::map<std::string, std::string> explain_reasons(const std::string& inventory, const std::string& vm,
                                                   const std::vector<std::string>& request) {
  std::vector<std::string> arguments{"plan", "--inventory", inventory};
  arguments.insert(arguments.end(), request.begin(), request.end());
  for (const char* extra : {"--explain", vm.c_str(), "--format", "json"}) arguments.push_back(extra);
  auto result = run_cli(arguments);
  EXPECT_TRUE(result.exit_status == 0 || result.exit_status == 3) << result.err;
  std::map<std::string, std::string> reasons;
  auto explanation = nlohmann::json::parse(result.out);
  for (const auto& host : explanation["hosts"]) {
    reasons[host["host"].get<std::string>()] = host["reason"].get<std::string>();
  }
  return reasons;
}

TEST(PlanCli, HostsCarryingMoreOfAVmsPreferLabelsRankFirst) {
  TempDir dir;
  auto inventory = dir.write("prefer.yaml", kPreferenceCloud).string();
  auto result = run_cli({"plan", "--inventory", inventory, "--fail", "h0", "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(targets_of(nlohmann::json::parse(result.out)),
            (std::map<std::string, std::string>{{"v1", "ha"}, {"v2", "hb"}, {"v3", "hc"}}));

  auto first = explain_reasons(inventory, "v1", {"--fail", "h0"});
  EXPECT_THAT(first["ha"],
              ::testing::StartsWith("chosen: the least loaded feasible host when the VM was "
                                    "placed, among those carrying the most of its prefer_labels; "
                                    "carries 2 of its 2 prefer_labels (first=yes, second=yes)"));
  EXPECT_EQ(first["hc"],
            "feasible, but ha carries more of its prefer_labels (2 against 0 here) and ranks first");
  // hc carries none of them: the explanation says so, and does not claim it was chosen for them.
  auto last = explain_reasons(inventory, "v3", {"--fail", "h0"});
  EXPECT_THAT(last["hc"], ::testing::HasSubstr("no feasible host carrying any of its prefer_labels; carries "
                                               "none of its 2 prefer_labels"));
  EXPECT_EQ(last["hc"].find("with its prefer_labels"), std::string::npos) << last["hc"];
}

// When the spreading pass leaves a VM waiting and the packing pass places everything, the explanation says
// the packing pass chose the most loaded host: not "lowest load" while listing less loaded hosts.
TEST(PlanCli, ExplainSaysWhichRuleChoseTheHostAndTheLoadsItSaw) {
  TempDir dir;
  auto inventory = dir.write("pack.yaml",
                             "version: 1\n"
                             "endpoints: [{name: e, max_parallel: 4}]\n"
                             "hosts:\n"
                             "- {name: h1, cpus: 16, memory_mib: 65536, endpoint: e}\n"
                             "- {name: h2, cpus: 16, memory_mib: 65536, endpoint: e}\n"
                             "- {name: h3, cpus: 16, memory_mib: 65536, endpoint: e}\n"
                             "vms:\n"
                             "- {name: c, host: h1, cpus: 8, memory_mib: 1024}\n"
                             "- {name: a, host: h1, cpus: 6, memory_mib: 1024}\n"
                             "- {name: b, host: h1, cpus: 4, memory_mib: 1024}\n"
                             "- {name: fill2, host: h2, cpus: 8, memory_mib: 1024}\n"
                             "- {name: fill3, host: h3, cpus: 6, memory_mib: 1024}\n")
                       .string();
  auto result = run_cli({"plan", "--inventory", inventory, "--fail", "h1", "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(targets_of(nlohmann::json::parse(result.out)),
            (std::map<std::string, std::string>{{"a", "h3"}, {"b", "h3"}, {"c", "h2"}}));
  auto reasons = explain_reasons(inventory, "a", {"--fail", "h1"});
  EXPECT_EQ(
      reasons["h3"],
      "chosen: the most loaded feasible host when the VM was placed (the packing pass, kept because the "
      "spreading pass left VMs waiting and packing placed more priority weight); load 0.38 then, 0.62 "
      "with the rest of the plan");
  EXPECT_EQ(reasons["h2"].find("lowest"), std::string::npos);
}

const char* kSpareCloud =
    "endpoints: [{name: e, max_parallel: 4}]\n"
    "hosts:\n"
    "- {name: h1, cpus: 16, memory_mib: 65536, endpoint: e}\n"
    "- {name: h2, cpus: 16, memory_mib: 65536, endpoint: e}\n"
    "- {name: spare, cpus: 16, memory_mib: 65536, endpoint: e, reserved: true}\n"
    "vms:\n"
    "- {name: fill, host: h2, cpus: 4, memory_mib: 1024}\n"
    "- {name: v1, host: h1, cpus: 8, memory_mib: 1024}\n"
    "- {name: v2, host: h1, cpus: 8, memory_mib: 1024}\n";

// policy.spares: by default a reserved host is taken last (only what fits nowhere else goes there) and kept
// for failures (a drain does not use it); `order: first` fills spares first, `maintenance: true` lets drains
// use them.
TEST(PlanCli, SparesAreTakenLastAndKeptForFailuresUnlessThePolicySaysOtherwise) {
  TempDir dir;
  auto by_default = dir.write("spares.yaml", std::string("version: 1\n") + kSpareCloud).string();
  auto failover = run_cli({"plan", "--inventory", by_default, "--fail", "h1", "--format", "json"});
  ASSERT_EQ(failover.exit_status, 0) << failover.err;
  // The empty spare is the least loaded host, yet v1 goes to h2; only v2, which h2 cannot take, to the spare.
  EXPECT_EQ(targets_of(nlohmann::json::parse(failover.out)),
            (std::map<std::string, std::string>{{"v1", "h2"}, {"v2", "spare"}}));

  auto drain = run_cli({"plan", "--inventory", by_default, "--evacuate", "h1", "--format", "json"});
  ASSERT_EQ(drain.exit_status, 3) << drain.err;
  auto drain_plan = nlohmann::json::parse(drain.out);
  EXPECT_EQ(targets_of(drain_plan), (std::map<std::string, std::string>{{"v1", "h2"}}));
  ASSERT_EQ(drain_plan["waiting"].size(), 1u);
  EXPECT_THAT(
      drain_plan["waiting"][0]["reason"].get<std::string>(),
      ::testing::HasSubstr("1 compatible reserved host is kept for failures (policy.spares.maintenance "
                           "is false)"));
  EXPECT_EQ(explain_reasons(by_default, "v2", {"--evacuate", "h1"})["spare"],
            "a reserved spare, kept for failures (policy.spares.maintenance is false)");

  auto first = dir.write("spares-first.yaml",
                         std::string("version: 1\npolicy: {spares: {order: first, maintenance: true}}\n") +
                             kSpareCloud)
                   .string();
  for (const char* request : {"--fail", "--evacuate"}) {
    auto result = run_cli({"plan", "--inventory", first, request, "h1", "--format", "json"});
    ASSERT_EQ(result.exit_status, 0) << result.err;
    EXPECT_EQ(targets_of(nlohmann::json::parse(result.out)),
              (std::map<std::string, std::string>{{"v1", "spare"}, {"v2", "spare"}}))
        << request;
  }
  EXPECT_EQ(explain_reasons(first, "v1", {"--fail", "h1"})["h2"],
            "feasible, but spares are taken first (policy.spares.order: first) and spare is one");

  auto bad =
      dir.write("spares-bad.yaml",
                std::string("version: 1\npolicy: {spares: {order: middle, when: never}}\n") + kSpareCloud);
  auto rejected = run_cli({"plan", "--inventory", bad.string(), "--fail", "h1"});
  EXPECT_EQ(rejected.exit_status, 2);
  EXPECT_THAT(rejected.err, ::testing::HasSubstr("spares-bad.yaml:2: policy.spares.when: unknown field"));
  EXPECT_THAT(
      rejected.err,
      ::testing::HasSubstr("spares-bad.yaml:2: policy.spares.order: expected last or first, got 'middle'"));
}

}  // namespace
}  // namespace revive::testing

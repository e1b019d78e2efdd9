// revived observed end to end (issue 14): one crash on the lab, then everything an operator has to see it
// with -- the audit log (refused and admitted requests, the fence, across a restart), the evidence behind
// the fence (GET /v1/hosts/{host}/why, `revive host why`), the Prometheus metrics (promtool, and a real
// prometheus scraping them on loopback), the structured JSON log with operation ids, and the alert hooks (a
// webhook receiver and a command hook run by the test). LiveRevived checks that no token or BMC password
// appears in any output, log or data file.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "lab/real_processes.h"
#include "revived/live_revived.h"
#include "support/test_support.h"

namespace revive {
namespace {

using nlohmann::json;
using testing::LiveRevived;

// A webhook receiver on loopback: keeps every JSON body posted to /hook.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(mutex_);
      bodies_.push_back(json::parse(request.body, nullptr, false));
      response.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<json> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  bool got(const std::string& alert) {
    for (const auto& body : bodies())
      if (body.value("alert", "") == alert) return true;
    return false;
  }

 private:
  httplib::Server server_;
  std::mutex mutex_;
  std::vector<json> bodies_;
  int port_ = 0;
  std::thread thread_;
};

TEST(RevivedObserved, ACrashIsAuditedExplainedMeasuredAndAlerted) {
  testing::TempDir dir;
  Receiver receiver;
  std::string viewer_line;
  std::string operator_line;
  auto viewer = testing::make_api_token("vera", "viewer", viewer_line);
  auto operator_token = testing::make_api_token("otto", "operator", operator_line);
  auto tokens_file = dir.write("api-tokens", viewer_line + "\n" + operator_line + "\n");
  auto operator_file = dir.write("operator.token", operator_token + "\n");
  auto hook_out = dir.path() / "hook.out";
  auto hook = dir.write(
      "hook.sh", "#!/bin/sh\necho \"$REVIVE_ALERT_KIND $REVIVE_ALERT_HOST\" >> " + hook_out.string() + "\n");
  std::filesystem::permissions(hook, std::filesystem::perms::owner_all);
  std::string extra = "api:\n  tokens_file: " + tokens_file.string() +
                      "\n  metrics_open: true\n"
                      "log:\n  format: json\n"
                      "alerts:\n  webhooks:\n    - url: http://127.0.0.1:" +
                      std::to_string(receiver.port()) +
                      "/hook\n      events: [host_failed, recovery_finished]\n      retries: 2\n"
                      "      backoff_s: 0.2\n  commands:\n    - command: " +
                      hook.string() + "\n      events: [host_failed, recovery_finished]\n";
  LiveRevived cloud(3, 0, extra, operator_token);
  cloud.add_secret(viewer);
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("td0") == "up"; }, 20.0)) << cloud.events();

  // Refused requests are audited with their status; nothing changes.
  EXPECT_EQ(cloud.post_as("", "/v1/hosts/td1/maintenance", {{"action", "enter"}}).status, 401);
  EXPECT_EQ(cloud.post_as(viewer, "/v1/hosts/td1/maintenance", {{"action", "enter"}}).status, 403);
  EXPECT_EQ(cloud.post("/v1/hosts/nowhere/evacuate", json::object()).status, 404);
  EXPECT_EQ(cloud.post("/v1/hosts/td1/evacuate", {{"dry_run", true}}).status, 200);
  EXPECT_EQ(cloud.host_state("td1"), "up");
  EXPECT_TRUE(cloud.get("/v1/hosts/td0/why")["decision"].is_null());

  cloud.lab().crash("td0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("recovery"); }, 60.0)) << cloud.events();
  EXPECT_EQ(cloud.operation_of_kind("recovery")["state"], "succeeded") << cloud.events();

  // Why td0 was fenced: every channel silent past fail_phi, the lease, the BMC, the storm guard, the rule.
  auto why = cloud.get("/v1/hosts/td0/why");
  const auto& decision = why["decision"];
  ASSERT_TRUE(decision.is_object()) << why.dump(2);
  EXPECT_NE(decision["rule"].get<std::string>().find("every channel silent"), std::string::npos)
      << decision.dump(2);
  ASSERT_EQ(decision["channels"].size(), 3u) << decision.dump(2);
  for (const auto& channel : decision["channels"]) {
    EXPECT_GE(channel["phi"].get<double>(), decision["thresholds"]["fail_phi"].get<double>())
        << channel.dump();
    EXPECT_EQ(channel["state"], "silent") << channel.dump();
  }
  EXPECT_FALSE(decision["storm_guard"]["active"].get<bool>());
  EXPECT_TRUE(decision["bmc"]["configured"].get<bool>());
  EXPECT_TRUE(lab::eventually(
      [&] { return cloud.get("/v1/hosts/td0/why")["decision"]["bmc"]["power"] != "unknown"; }, 10.0));
  EXPECT_TRUE(cloud.get("/v1/hosts/td0/why")["decision"]["fence"]["ok"].get<bool>());
  auto why_cli = cloud.cli({"host", "why", "td0"}, operator_file);
  EXPECT_EQ(why_cli.exit_status, 0) << why_cli.err;
  for (const char* expected :
       {"every channel silent", "agent", "storage", "hypervisor", "storm guard", "bmc: power"})
    EXPECT_NE(why_cli.out.find(expected), std::string::npos) << expected << "\n" << why_cli.out;

  // The metrics: open to a scraper without a token, valid for promtool, with the fence and the recovery.
  auto [status, metrics] = cloud.get_text("/metrics", /*with_token=*/false);
  ASSERT_EQ(status, 200) << metrics;
  auto metrics_file = dir.write("metrics.txt", metrics);
  auto promtool = testing::run_shell("promtool check metrics < " + metrics_file.string());
  EXPECT_EQ(promtool.exit_status, 0) << promtool.out;
  EXPECT_NE(metrics.find("revive_fence_attempts_total{level=\"ipmi\",result=\"ok\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("revive_recovery_seconds_count{priority="), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("revive_step_seconds_count{step=\"vm_start\",result=\"ok\"}"), std::string::npos);
  EXPECT_NE(metrics.find("revive_journal_durable_seconds_count"), std::string::npos);
  EXPECT_NE(metrics.find("revive_detector_phi{host=\"td1\",channel=\"agent\"}"), std::string::npos);
  EXPECT_EQ(cloud.post_as("", "/v1/disarm", json::object()).status, 401);  // only /metrics is open

  // A real prometheus scrapes them (loopback, a temporary data dir, stopped by pid).
  int prometheus_port = lab::free_tcp_port();
  auto prometheus_config = dir.write("prometheus.yml",
                                     "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: revived\n"
                                     "    static_configs: [{targets: ['127.0.0.1:" +
                                         std::to_string(cloud.lab().api_port()) + "']}]\n");
  {
    lab::BackgroundProcess prometheus({"prometheus", "--config.file=" + prometheus_config.string(),
                                       "--storage.tsdb.path=" + (dir.path() / "tsdb").string(),
                                       "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                                      dir.path() / "prometheus.log");
    httplib::Client client("127.0.0.1", prometheus_port);
    client.set_connection_timeout(1);
    bool scraped = lab::eventually(
        [&] {
          auto answer = client.Get("/api/v1/query?query=revive_hosts%7Bstate%3D%22recovered%22%7D");
          if (!answer || answer->status != 200) return false;
          auto body = json::parse(answer->body, nullptr, false);
          return body.is_object() && body["data"]["result"].size() == 1 &&
                 body["data"]["result"][0]["value"][1] == "1";
        },
        20.0);
    EXPECT_TRUE(scraped) << testing::read_file(dir.path() / "prometheus.log");
    prometheus.signal(SIGTERM);
    lab::eventually([&] { return !prometheus.running(); }, 5.0);
  }

  // The alerts: host_failed and recovery_finished posted, the command run once per event.
  ASSERT_TRUE(lab::eventually(
      [&] { return receiver.got("host_failed") && receiver.got("recovery_finished"); }, 10.0));
  for (const auto& body : receiver.bodies()) {
    if (body["alert"] == "host_failed") {
      EXPECT_EQ(body["host"], "td0") << body.dump();
    }
    if (body["alert"] == "recovery_finished") {
      EXPECT_EQ(body["details"]["state"], "succeeded") << body.dump();
    }
  }
  EXPECT_EQ(receiver.bodies().size(), 2u);
  ASSERT_TRUE(lab::eventually(
      [&] { return testing::read_file(hook_out) == "host_failed td0\nrecovery_finished td0\n"; }, 10.0))
      << testing::read_file(hook_out);

  // The audit: the refusals with their status, the admitted request by its token's name, the fence with its
  // evidence -- and all of it still there after a restart.
  auto audited = [&] {
    auto page = cloud.get("/v1/audit?limit=1000");
    std::map<std::string, json> by;  // the first record of each kind, caller and status
    for (const auto& record : page["records"])
      by.try_emplace(record["kind"].get<std::string>() + " " + record["who"].get<std::string>() + " " +
                         std::to_string(record["status"].get<int>()),
                     record);
    return by;
  };
  cloud.stop_revived();
  cloud.start_revived();
  auto records = audited();
  ASSERT_TRUE(records.count("request (unauthenticated) 401")) << cloud.get("/v1/audit").dump(2);
  EXPECT_EQ(records["request (unauthenticated) 401"]["what"], "POST /v1/hosts/td1/maintenance");
  ASSERT_TRUE(records.count("request vera 403"));
  EXPECT_EQ(records["request vera 403"]["result"], "refused");
  ASSERT_TRUE(records.count("request otto 404"));
  ASSERT_TRUE(records.count("request otto 200"));
  EXPECT_EQ(records["request otto 200"]["details"]["body"]["dry_run"], true);
  ASSERT_TRUE(records.count("fence revived 0")) << cloud.get("/v1/audit").dump(2);
  const auto& fence = records["fence revived 0"];
  EXPECT_EQ(fence["result"], "fenced");
  EXPECT_EQ(fence["details"]["host"], "td0");
  EXPECT_EQ(fence["details"]["level"], "ipmi");
  EXPECT_NE(fence["details"]["evidence"]["rule"].get<std::string>().find("every channel silent"),
            std::string::npos);
  auto audit_cli = cloud.cli({"audit", "--kind", "fence"}, operator_file);
  EXPECT_EQ(audit_cli.exit_status, 0) << audit_cli.err;
  EXPECT_NE(audit_cli.out.find("fence td0"), std::string::npos) << audit_cli.out;
  EXPECT_EQ(audit_cli.out.find("POST"), std::string::npos) << audit_cli.out;

  // SIGHUP reloads the tokens file: the old operator token is refused from then on, the new one admitted.
  std::string new_line;
  auto renewed = testing::make_api_token("olga", "operator", new_line);
  dir.write("api-tokens", viewer_line + "\n" + new_line + "\n");
  cloud.signal_revived(SIGHUP);
  EXPECT_TRUE(lab::eventually([&] { return cloud.raw_get("/v1/status").status == 401; }, 10.0));
  cloud.set_token(renewed);
  EXPECT_EQ(cloud.raw_get("/v1/status").status, 200);
  EXPECT_EQ(cloud.post("/v1/hosts/td1/evacuate", {{"dry_run", true}}).status, 200);

  // The log: one JSON object per line, the fence's line with its operation id.
  bool fenced_line = false;
  std::istringstream log(cloud.log());
  for (std::string line; std::getline(log, line);) {
    auto entry = json::parse(line, nullptr, false);
    if (!entry.is_object()) continue;
    if (entry.value("kind", "") == "host_fenced") {
      fenced_line =
          entry["host"] == "td0" && entry["operation"].get<std::string>().rfind("recovery-", 0) == 0;
    }
  }
  EXPECT_TRUE(fenced_line) << cloud.log();
  EXPECT_NE(cloud.log().find("SIGHUP: reloaded 2 token(s)"), std::string::npos) << cloud.log();
  cloud.validate();
}

}  // namespace
}  // namespace revive

// The daemon's observability pieces on their own: the audit log (append-only, survives reopening, filters),
// the metrics exposition (checked by Debian's promtool), the alert hooks (a webhook receiver on loopback, a
// command hook), and their config keys.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "daemon/alerts.h"
#include "daemon/audit.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "support/test_support.h"

namespace revive::daemon {
namespace {

using nlohmann::json;
using revive::testing::TempDir;

bool eventually(const std::function<bool()>& condition, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

Event event(const std::string& kind, const std::string& host = "", const std::string& operation = "",
            json details = json::object()) {
  Event e;
  e.kind = kind;
  e.host = host;
  e.operation = operation;
  e.message = kind + " " + host;
  e.details = std::move(details);
  e.at_unix_ms = unix_now_ms();
  return e;
}

TEST(AuditLog, RecordsSurviveReopeningAndTheTableIsAppendOnly) {
  TempDir dir;
  auto path = (dir.path() / "audit.db").string();
  {
    AuditLog audit(path);
    api::RequestRecord refused{"POST", "/v1/hosts/h0/evacuate",        "vera", R"({"deadline_s": 60})",
                               403,    "Authorization: needs operator"};
    audit.append(AuditLog::of_request(refused));
    audit.append(*audit_record_of(
        event("host_fenced", "h0", "recovery-3",
              {{"level", "ipmi"}, {"attempts", json::array()}, {"evidence", {{"rule", "x"}}}})));
    EXPECT_FALSE(audit_record_of(event("vm_started", "h0")).has_value());
  }
  AuditLog audit(path);
  audit.append(AuditLog::of_request({"POST", "/v1/arm", "ada", "", 200, ""}));
  auto all = audit.query({});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].sequence, 1u);
  EXPECT_EQ(all[0].who, "vera");
  EXPECT_EQ(all[0].status, 403);
  EXPECT_EQ(all[0].result, "refused");
  EXPECT_EQ(all[0].details["body"]["deadline_s"], 60);
  EXPECT_EQ(all[0].details["error"], "Authorization: needs operator");
  EXPECT_EQ(all[1].kind, "fence");
  EXPECT_EQ(all[1].who, "revived");
  EXPECT_EQ(all[1].result, "fenced");
  EXPECT_EQ(all[1].details["evidence"]["rule"], "x");
  EXPECT_EQ(all[2].sequence, 3u);
  EXPECT_EQ(audit.query({0, "fence", 100}).size(), 1u);
  EXPECT_EQ(audit.query({0, "", 2}).size(), 2u);
  EXPECT_TRUE(audit.query({unix_now_ms() + 60000, "", 100}).empty());

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit SET who = 'mallory'", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(audit.query({}).size(), 3u);
  EXPECT_EQ(audit.query({})[0].who, "vera");
}

TEST(AuditLog, AFullQueueDropsAndSaysHowManyWereLost) {
  TempDir dir;
  AuditLog audit((dir.path() / "audit.db").string(), /*max_queued=*/1);
  for (int i = 0; i < 200; ++i) audit.append(AuditLog::of_request({"POST", "/v1/arm", "ada", "", 200, ""}));
  auto records = audit.query({0, "", 1000});
  std::uint64_t kept = 0;
  std::uint64_t lost = 0;
  for (const auto& record : records) {
    if (record.what == "audit queue full") {
      lost += record.details["dropped"].get<std::uint64_t>();
    } else {
      ++kept;
    }
  }
  EXPECT_EQ(lost, audit.dropped());
  EXPECT_EQ(kept + lost, 200u);
}

TEST(Metrics, TheExpositionPassesPromtool) {
  Metrics metrics;
  metrics.observe(event("host_declared_failed", "h0", "recovery-1"));
  auto recovered = event("vm_recovered", "h1", "recovery-1", {{"priority", "critical"}});
  recovered.at_unix_ms += 4200;
  metrics.observe(recovered);
  metrics.observe(event("host_fenced", "h0", "recovery-1",
                        {{"attempts", {{{"level", "ipmi"}, {"ok", true}, {"skipped", false}}}}}));
  metrics.observe(event("fence_blocked", "h2"));
  metrics.observe(event("recovery_planned", "", "", {{"plan_ms", 12.5}, {"waiting", 0}}));
  metrics.step_finished("vm_start", 0.8, true);
  metrics.step_finished("fence", 3.0, false);
  metrics.journal_latency(0.002);
  metrics.alert_delivery("webhook", "delivered");
  json status = {{"hosts", {{"by_state", {{"up", 2}, {"failed", 1}}}}},
                 {"operations_running", 1},
                 {"fencing", {{"armed", true}}},
                 {"storm_guard_active", false}};
  json hosts = {{"hosts",
                 {{{"name", "h0"}, {"channels", {{{"channel", "agent"}, {"phi", 9.5}}}}},
                  {{"name", "h\"1"}, {"channels", {{{"channel", "agent"}, {"phi", 0.1}}}}}}}};
  json vms = {{"vms",
               {{{"protect", true}, {"state", "waiting"}},
                {{"protect", true}, {"state", "running"}},
                {{"protect", false}, {"state", "running"}}}}};
  auto text = metrics.render(status, hosts, vms);
  EXPECT_NE(text.find("revive_hosts{state=\"failed\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("revive_vms_waiting 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("revive_vms{protection=\"protected\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("revive_detector_phi{host=\"h0\",channel=\"agent\"} 9.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("revive_detector_phi{host=\"h\\\"1\",channel=\"agent\"}"), std::string::npos) << text;
  EXPECT_NE(text.find("revive_recovery_seconds_bucket{priority=\"critical\",le=\"5\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("revive_recovery_seconds_bucket{priority=\"critical\",le=\"2\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("revive_fence_attempts_total{level=\"ipmi\",result=\"ok\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("revive_fence_attempts_total{level=\"none\",result=\"held\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("revive_planner_seconds_count 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("revive_step_seconds_count{step=\"fence\",result=\"failed\"} 1\n"), std::string::npos);
  TempDir dir;
  auto file = dir.write("metrics.txt", text);
  auto checked = testing::run_shell("promtool check metrics < " + file.string());
  EXPECT_EQ(checked.exit_status, 0) << checked.out << "\n" << text;
}

// A webhook receiver on loopback that fails its first answer (the hook retries), and a command hook.
TEST(Alerts, AWebhookIsRetriedAndACommandGetsTheEventInItsEnvironment) {
  httplib::Server receiver;
  std::mutex mutex;
  std::vector<json> received;
  int calls = 0;
  receiver.Post("/hook", [&](const httplib::Request& request, httplib::Response& response) {
    std::lock_guard lock(mutex);
    if (++calls == 1) {
      response.status = 503;
      return;
    }
    received.push_back(json::parse(request.body));
    response.status = 204;
  });
  int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { receiver.listen_after_bind(); });
  TempDir dir;
  auto out = dir.path() / "command.out";
  auto script = dir.write(
      "hook.sh", "#!/bin/sh\necho \"$REVIVE_ALERT_KIND $REVIVE_ALERT_HOST $REVIVE_ALERT_OPERATION\" >> " +
                     out.string() + "\n");
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Metrics metrics;
  {
    AlertsConfig config;
    config.webhooks.push_back({"http://127.0.0.1:" + std::to_string(port) + "/hook",
                               {"host_failed", "recovery_finished"},
                               2.0,
                               3,
                               0.05});
    config.commands.push_back({script.string(), {"host_failed", "recovery_finished"}, 5.0});
    Alerts alerts(config, metrics);
    alerts.offer(event("host_failed", "h0"));
    alerts.offer(event("vm_started", "h0"));                          // not an alert
    alerts.offer(event("operation_finished", "h0", "evacuation-2"));  // evacuation_finished: not chosen
    alerts.offer(event("operation_finished", "h0", "recovery-7", {{"state", "succeeded"}}));
    EXPECT_TRUE(eventually(
        [&] {
          std::lock_guard lock(mutex);
          return received.size() == 2;
        },
        10.0));
    EXPECT_TRUE(eventually(
        [&] {
          auto lines = testing::read_file(out);
          return std::count(lines.begin(), lines.end(), '\n') == 2;
        },
        10.0));
  }
  receiver.stop();
  serving.join();
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0]["alert"], "host_failed");
  EXPECT_EQ(received[0]["host"], "h0");
  EXPECT_EQ(received[1]["alert"], "recovery_finished");
  EXPECT_EQ(received[1]["operation"], "recovery-7");
  EXPECT_EQ(testing::read_file(out), "host_failed h0 \nrecovery_finished h0 recovery-7\n");
  auto text = metrics.render(json::object(), json::object(), json::object());
  EXPECT_NE(text.find("revive_alerts_total{hook=\"webhook\",result=\"delivered\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("revive_alerts_total{hook=\"command\",result=\"delivered\"} 2"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace revive::daemon

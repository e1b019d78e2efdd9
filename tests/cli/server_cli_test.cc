// `revive --server URL ...` run as a user would, against fake-revived (the real HttpServer serving the
// FakeService's canned cloud, tests/support/fake_service.h): tables, --format json, exit statuses, errors,
// and the dispatch between the daemon and the offline commands.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/auth.h"
#include "api/http_client.h"
#include "support/test_support.h"

namespace revive::testing {
namespace {

using json = nlohmann::json;

// fake-revived on a free port for the test's life.
class FakeDaemon {
 public:
  explicit FakeDaemon(std::vector<std::string> arguments = {}) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      std::vector<std::string> owned{FAKE_REVIVED};
      owned.insert(owned.end(), arguments.begin(), arguments.end());
      std::vector<char*> argv;
      for (auto& argument : owned) argv.push_back(argument.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];
    std::string line;
    char c;
    while (::read(from_child[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(from_child[0]);
    if (line.empty()) throw std::runtime_error("fake-revived did not start");
    bool tls = std::find(arguments.begin(), arguments.end(), "--tls") != arguments.end();
    url_ = (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + line;
  }
  ~FakeDaemon() {
    ::close(stdin_);  // it stops when its stdin closes
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string url_;
};

// Sets an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

class ServerCli : public ::testing::Test {
 protected:
  CommandResult revive(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {"--server", daemon_.url()});
    return run_cli(arguments, 60);
  }
  json api_get(const std::string& path) { return api::HttpClient(daemon_.url()).get(path); }

  FakeDaemon daemon_;
};

// The column of `word` in `line`.
std::size_t column(const std::string& text, const std::string& line_start, const std::string& word) {
  auto at = text.find(line_start);
  if (at == std::string::npos) return std::string::npos;
  auto end = text.find('\n', at);
  auto line = text.substr(at, end - at);
  auto found = line.find(word);
  return found;
}

TEST_F(ServerCli, TablesAreAlignedForPeople) {
  auto hosts = revive({"hosts"});
  ASSERT_EQ(hosts.exit_status, 0) << hosts.err;
  EXPECT_TRUE(hosts.out.starts_with("HOST     STATE        VMS  CPUS")) << hosts.out;
  EXPECT_EQ(column(hosts.out, "HOST ", "STATE"), column(hosts.out, "host-03", "failed"));
  EXPECT_EQ(column(hosts.out, "HOST ", "REASON"), column(hosts.out, "host-03", "network and storage silent"));
  EXPECT_NE(hosts.out.find("host-04  maintenance  0    0/64"), std::string::npos) << hosts.out;

  auto vms = revive({"vms"});
  ASSERT_EQ(vms.exit_status, 0) << vms.err;
  EXPECT_EQ(column(vms.out, "VM ", "PRIORITY"), column(vms.out, "db-1 ", "critical"));
  EXPECT_NE(vms.out.find("batch-1  host-01  stopped  low       no"), std::string::npos) << vms.out;

  auto status = revive({"status"});
  ASSERT_EQ(status.exit_status, 0) << status.err;
  EXPECT_NE(status.out.find("fencing: armed\n"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("hosts: 4 (1 failed, 1 maintenance, 2 up)"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("operations running: 1"), std::string::npos) << status.out;

  auto operations = revive({"operations"});
  ASSERT_EQ(operations.exit_status, 0) << operations.err;
  EXPECT_NE(operations.out.find("op-1  recovery  running  host-03  0/1 VMs done, 1 waiting"),
            std::string::npos)
      << operations.out;
  auto show = revive({"operations", "show", "op-1"});
  ASSERT_EQ(show.exit_status, 0) << show.err;
  EXPECT_NE(show.out.find("operation op-1: recovery of host-03 (host_failure), running"), std::string::npos)
      << show.out;
  EXPECT_NE(show.out.find("fence@host-03 succeeded"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("host-03 powered off (ipmi)"), std::string::npos) << show.out;

  auto plans = revive({"plan", "show"});
  ASSERT_EQ(plans.exit_status, 0) << plans.err;
  EXPECT_NE(plans.out.find("host host-02  host-02       1    0       1"), std::string::npos) << plans.out;
  auto check = revive({"check"});
  ASSERT_EQ(check.exit_status, 0) << check.err;
  EXPECT_NE(check.out.find("1 would leave protected VMs waiting"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("host-01  1         0     0       0    8 vCPU, 32.0 GiB"), std::string::npos)
      << check.out;
  auto events = revive({"events", "--after", "1"});
  ASSERT_EQ(events.exit_status, 0) << events.err;
  EXPECT_EQ(events.out.find("host-03 declared failed"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("3    2024-05-01T12:00:00Z  fence_done"), std::string::npos) << events.out;
}

TEST_F(ServerCli, JsonIsTheApiAnswerAsIs) {
  for (const auto& [command, path] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"status"}, "/v1/status"},
           {{"hosts"}, "/v1/hosts"},
           {{"vms"}, "/v1/vms"},
           {{"plan", "show"}, "/v1/plans"},
           {{"check"}, "/v1/capacity"},
           {{"operations"}, "/v1/operations"},
           {{"operations", "show", "op-1"}, "/v1/operations/op-1"},
           {{"events"}, "/v1/events?after=0&limit=1000"}}) {
    auto arguments = command;
    arguments.insert(arguments.begin(), {"--format", "json"});
    auto result = revive(arguments);
    ASSERT_EQ(result.exit_status, 0) << path << ": " << result.err;
    EXPECT_EQ(json::parse(result.out), api_get(path)) << path;
  }
  // --format after the command works too.
  auto result = revive({"hosts", "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(json::parse(result.out)["hosts"].size(), 4u);
}

TEST_F(ServerCli, ActionsChangeTheDaemonsState) {
  auto dry = revive({"evacuate", "host-01", "--deadline", "300", "--dry-run"});
  ASSERT_EQ(dry.exit_status, 0) << dry.err;
  EXPECT_NE(dry.out.find("dry run: evacuation of host-01 (maintenance): 2 to move, 0 waiting, 1 stopped"),
            std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("db-1   host-01  host-02  critical  live_migration"), std::string::npos) << dry.out;
  EXPECT_EQ(api_get("/v1/hosts/host-01")["state"], "up");

  auto started = revive({"evacuate", "host-01", "--deadline", "300", "--reason", "predicted-failure"});
  ASSERT_EQ(started.exit_status, 0) << started.err;
  EXPECT_NE(started.out.find("started op-2: evacuation of host-01 (predicted_failure), 0/2 VMs done"),
            std::string::npos)
      << started.out;
  EXPECT_EQ(api_get("/v1/hosts/host-01")["state"], "draining");
  EXPECT_EQ(api_get("/v1/operations/op-2")["reason"], "predicted_failure");

  auto cancelled = revive({"cancel", "op-2"});
  ASSERT_EQ(cancelled.exit_status, 0) << cancelled.err;
  EXPECT_NE(cancelled.out.find("cancel requested: op-2 is cancelled"), std::string::npos) << cancelled.out;

  auto exit = revive({"maintenance", "exit", "host-04", "--fail-back"});
  ASSERT_EQ(exit.exit_status, 0) << exit.err;
  EXPECT_EQ(api_get("/v1/hosts/host-04")["state"], "up");
  auto enter = revive({"--format", "json", "maintenance", "enter", "host-04", "--deadline", "120"});
  ASSERT_EQ(enter.exit_status, 0) << enter.err;
  EXPECT_EQ(json::parse(enter.out)["operation"]["kind"], "evacuation");

  auto confirmed = revive({"host", "confirm-down", "host-03"});
  ASSERT_EQ(confirmed.exit_status, 0) << confirmed.err;
  EXPECT_NE(confirmed.out.find("recorded: host-03 counts as fenced"), std::string::npos) << confirmed.out;
  EXPECT_EQ(api_get("/v1/hosts/host-03")["state"], "fenced");

  ASSERT_EQ(revive({"disarm", "--reason", "switch upgrade"}).exit_status, 0);
  auto status = revive({"status"});
  EXPECT_NE(status.out.find("fencing: DISARMED (by anonymous at "), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(": switch upgrade)"), std::string::npos) << status.out;
  auto armed = revive({"arm"});
  ASSERT_EQ(armed.exit_status, 0) << armed.err;
  EXPECT_EQ(armed.out, "fencing armed\n");
  EXPECT_TRUE(api_get("/v1/status")["fencing"]["armed"].get<bool>());
}

TEST_F(ServerCli, ApiErrorsPrintMessageAndFieldAndExit2) {
  auto unknown = revive({"evacuate", "host-99", "--deadline", "60"});
  EXPECT_EQ(unknown.exit_status, 2);
  EXPECT_EQ(unknown.err, "revive: host: no host named 'host-99' (field host, HTTP 404)\n");
  auto conflict = revive({"host", "confirm-down", "host-01"});
  EXPECT_EQ(conflict.exit_status, 2);
  EXPECT_NE(conflict.err.find(
                "only a failed, isolated or fencing host can be confirmed down (field host, HTTP 409)"),
            std::string::npos)
      << conflict.err;
  auto no_room = revive({"evacuate", "host-01", "host-02", "--deadline", "60"});
  EXPECT_EQ(no_room.exit_status, 2);
  EXPECT_NE(no_room.err.find("(field hosts, HTTP 422)"), std::string::npos) << no_room.err;
  auto bad_reason = revive({"evacuate", "host-01", "--deadline", "60", "--reason", "whim"});
  EXPECT_EQ(bad_reason.exit_status, 2);
  EXPECT_NE(bad_reason.err.find("--reason: must be maintenance or predicted_failure"), std::string::npos);
  auto no_deadline = revive({"evacuate", "host-01"});
  EXPECT_EQ(no_deadline.exit_status, 2);
  EXPECT_NE(no_deadline.err.find("--deadline"), std::string::npos) << no_deadline.err;
  auto bad_name = revive({"operations", "show", "bad name"});
  EXPECT_EQ(bad_name.exit_status, 2);
  EXPECT_NE(bad_name.err.find("(field id, HTTP 400)"), std::string::npos) << bad_name.err;
  auto wrong_flag = revive({"maintenance", "enter", "host-01", "--fail-back"});
  EXPECT_EQ(wrong_flag.exit_status, 2);
  EXPECT_NE(wrong_flag.err.find("--fail-back: only with exit"), std::string::npos);
  ASSERT_EQ(revive({"cancel", "op-1"}).exit_status, 0);
  auto finished = revive({"cancel", "op-1"});
  EXPECT_EQ(finished.exit_status, 2);
  EXPECT_NE(finished.err.find("has already finished (cancelled) (field id, HTTP 409)"), std::string::npos)
      << finished.err;
  // Nothing changed by the refused ones.
  EXPECT_EQ(api_get("/v1/hosts/host-01")["state"], "up");
  EXPECT_EQ(api_get("/v1/operations")["operations"].size(), 1u);
}

TEST(ServerCliUnreachable, ConnectionRefusedExits3) {
  auto result = run_cli({"--server", "http://127.0.0.1:1", "hosts"}, 60);
  EXPECT_EQ(result.exit_status, 3);
  EXPECT_TRUE(result.err.starts_with("revive: cannot reach the daemon at http://127.0.0.1:1: "))
      << result.err;
  auto bad_url = run_cli({"--server", "127.0.0.1:7600", "hosts"}, 60);
  EXPECT_EQ(bad_url.exit_status, 2);
  EXPECT_NE(bad_url.err.find("is not a daemon URL"), std::string::npos) << bad_url.err;
}

TEST_F(ServerCli, EnvironmentChoosesTheDaemonUnlessOfflineInputIsGiven) {
  ScopedEnv server("REVIVE_SERVER", daemon_.url());
  auto online = run_cli({"status"}, 60);
  ASSERT_EQ(online.exit_status, 0) << online.err;
  EXPECT_TRUE(online.out.starts_with("revived 0.1.0 up since")) << online.out;
  TempDir dir;
  auto state = (dir.path() / "state.db").string();
  auto created = run_cli({"arm", "--state", state, "--create", "--by", "ops"}, 60);
  ASSERT_EQ(created.exit_status, 0) << created.err;
  auto offline = run_cli({"status", "--state", state}, 60);
  ASSERT_EQ(offline.exit_status, 0) << offline.err;
  EXPECT_TRUE(offline.out.starts_with("fencing: armed (by ops")) << offline.out;
  auto plan = run_cli({"plan", "--inventory", (examples_dir() / "tight-8" / "inventory.yaml").string(),
                       "--fail", "host-0003", "--format", "json"},
                      60);
  ASSERT_EQ(plan.exit_status, 0) << plan.err;
  EXPECT_EQ(json::parse(plan.out)["failed_hosts"], json({"host-0003"}));
}

TEST_F(ServerCli, EventsFollowPrintsLiveEvents) {
  TempDir dir;
  auto out_path = dir.path() / "out";
  pid_t child = ::fork();
  if (child == 0) {
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    std::string cli = cli_path().string(), url = daemon_.url();
    std::vector<std::string> owned{cli, "--server", url, "events", "--follow", "--after", "2"};
    std::vector<char*> argv;
    for (auto& argument : owned) argv.push_back(argument.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto wait_for = [&](const std::string& what) {
    for (int i = 0; i < 1000; ++i) {
      std::ifstream in(out_path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find(what) != std::string::npos) return text;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::string("(timed out waiting for " + what + ")");
  };
  auto first = wait_for("fence_done");
  EXPECT_NE(
      first.find("     3  2024-05-01T12:00:00Z  fence_done         host-03 powered off (ipmi) [host=host-03 "
                 "operation=op-1]"),
      std::string::npos)
      << first;
  EXPECT_EQ(first.find("operation_started"), std::string::npos) << first;
  ASSERT_EQ(revive({"disarm", "--reason", "live"}).exit_status, 0);
  auto live = wait_for("disarmed");
  EXPECT_NE(live.find("     4  2024-05-01T12:00:01Z  disarmed           fencing disarmed"), std::string::npos)
      << live;
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
}

TEST(ServerCliWatch, WatchShowsProgressUntilTheOperationEnds) {
  FakeDaemon daemon({"--advance-every", "0.3"});
  auto started = run_cli({"--server", daemon.url(), "evacuate", "host-01", "--deadline", "300"}, 60);
  ASSERT_EQ(started.exit_status, 0) << started.err;
  auto watch =
      run_cli({"--server", daemon.url(), "operations", "show", "op-2", "--watch", "--interval", "0.1"}, 60);
  EXPECT_EQ(watch.exit_status, 0) << watch.err;
  EXPECT_NE(watch.out.find("progress: 1/2 VMs done"), std::string::npos) << watch.out;
  EXPECT_NE(watch.out.find("progress: 2/2 VMs done"), std::string::npos) << watch.out;
  EXPECT_NE(watch.out.find("operation op-2: evacuation of host-01 (maintenance), succeeded"),
            std::string::npos)
      << watch.out;
  EXPECT_NE(watch.out.find("db-1   host-01  host-02  live_migration  succeeded"), std::string::npos)
      << watch.out;
  // An operation that ends other than succeeded: exit 1.
  FakeDaemon still;
  ASSERT_EQ(run_cli({"--server", still.url(), "cancel", "op-1"}, 60).exit_status, 0);
  auto cancelled = run_cli({"--server", still.url(), "operations", "show", "op-1", "--watch"}, 60);
  EXPECT_EQ(cancelled.exit_status, 1) << cancelled.out;
  EXPECT_NE(cancelled.out.find("cancelled"), std::string::npos) << cancelled.out;
}

// ---- authentication and TLS ------------------------------------------------------------------------------

const std::string kViewerSecret = "viewer-secret-for-the-cli-test";
const std::string kAdminSecret = "admin-secret-for-the-cli-test";

// fake-revived requiring tokens: vera (viewer) and ada (admin), their tokens in files for --token-file.
class ServerCliWithTokens : public ::testing::Test {
 protected:
  ServerCliWithTokens()
      : tokens_(dir_.write("tokens", "# the test's callers\n" +
                                         api::token_line("vera", api::Role::viewer, kViewerSecret) + "\n" +
                                         api::token_line("ada", api::Role::admin, kAdminSecret) + "\n")),
        viewer_file_(dir_.write("viewer.token", kViewerSecret + "\n")),
        admin_file_(dir_.write("admin.token", kAdminSecret + "\n")),
        daemon_({"--tokens-file", tokens_.string()}) {}

  CommandResult revive(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {"--server", daemon_.url()});
    auto result = run_cli(arguments, 60);
    for (const auto& secret : {kViewerSecret, kAdminSecret}) {
      EXPECT_EQ(result.out.find(secret), std::string::npos) << "a token on stdout";
      EXPECT_EQ(result.err.find(secret), std::string::npos) << "a token on stderr";
    }
    return result;
  }

  TempDir dir_;
  std::filesystem::path tokens_, viewer_file_, admin_file_;
  FakeDaemon daemon_;
};

TEST_F(ServerCliWithTokens, WithoutATokenTheDaemonAnswers401AndTheCliSaysHowToGiveOne) {
  auto refused = revive({"status"});
  EXPECT_EQ(refused.exit_status, 2);
  EXPECT_NE(refused.err.find("HTTP 401"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--token-file"), std::string::npos) << refused.err;
  auto wrong = revive({"--token-file", tokens_.string(), "status"});  // the file's first line is no token
  EXPECT_EQ(wrong.exit_status, 2);
  EXPECT_NE(wrong.err.find("Authorization: unknown token"), std::string::npos) << wrong.err;
}

TEST_F(ServerCliWithTokens, TheTokensRoleDecides) {
  auto status = revive({"--token-file", viewer_file_.string(), "status"});
  EXPECT_EQ(status.exit_status, 0) << status.err;
  EXPECT_NE(status.out.find("fencing: armed"), std::string::npos) << status.out;
  auto weak = revive({"--token-file", viewer_file_.string(), "disarm", "--reason", "test"});
  EXPECT_EQ(weak.exit_status, 2);
  EXPECT_NE(weak.err.find("HTTP 403"), std::string::npos) << weak.err;
  EXPECT_NE(weak.err.find("needs the role admin; vera has the role viewer"), std::string::npos) << weak.err;
  auto disarmed = revive({"--token-file", admin_file_.string(), "disarm", "--reason", "test"});
  EXPECT_EQ(disarmed.exit_status, 0) << disarmed.err;
  auto status_after = revive({"--token-file", viewer_file_.string(), "status"});
  EXPECT_NE(status_after.out.find("DISARMED (by ada"), std::string::npos) << status_after.out;
}

TEST_F(ServerCliWithTokens, TheTokenMayComeFromTheEnvironment) {
  {
    ScopedEnv token("REVIVE_TOKEN", kViewerSecret);
    EXPECT_EQ(revive({"hosts"}).exit_status, 0);
  }
  {
    ScopedEnv token_file("REVIVE_TOKEN_FILE", viewer_file_.string());
    EXPECT_EQ(revive({"hosts"}).exit_status, 0);
  }
  auto missing = revive({"--token-file", (dir_.path() / "absent").string(), "hosts"});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.err.find("--token-file: cannot read"), std::string::npos) << missing.err;
}

TEST(ServerCliTls, AnHttpsDaemonIsTrustedWithItsCaFileOnly) {
  TempDir dir;
  auto certificates = make_test_certificates(dir.path());
  FakeDaemon daemon({"--tls", certificates.certificate.string(), certificates.key.string()});
  ASSERT_TRUE(daemon.url().starts_with("https://"));
  auto trusted = run_cli({"--server", daemon.url(), "--ca-file", certificates.ca.string(), "status"}, 60);
  EXPECT_EQ(trusted.exit_status, 0) << trusted.err;
  {
    ScopedEnv ca("REVIVE_CA_FILE", certificates.ca.string());
    EXPECT_EQ(run_cli({"--server", daemon.url(), "hosts"}, 60).exit_status, 0);
  }
  auto untrusted = run_cli({"--server", daemon.url(), "status"}, 60);
  EXPECT_EQ(untrusted.exit_status, 3);
  EXPECT_NE(untrusted.err.find("not trusted"), std::string::npos) << untrusted.err;
}

TEST(TokenCli, NewPrintsTheTokenOnceAndALineThatHoldsOnlyItsHash) {
  auto made = run_cli({"token", "new", "ci-bot", "--role", "operator"});
  ASSERT_EQ(made.exit_status, 0) << made.err;
  auto value_of = [&](const std::string& label) {
    auto at = made.out.find(label);
    if (at == std::string::npos) return std::string();
    at += label.size();
    return made.out.substr(at, made.out.find('\n', at) - at);
  };
  std::string token = value_of("token: "), line = value_of("tokens_file line: ");
  ASSERT_EQ(token.size(), 64u) << made.out;
  EXPECT_EQ(line, "ci-bot operator " + api::sha256_hex(token));
  auto table = api::TokenTable::parse(line, "tokens");
  ASSERT_NE(table.find(token), nullptr);
  EXPECT_EQ(table.find(token)->role, api::Role::operator_);

  auto bad = run_cli({"token", "new", "no/slash"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_NE(bad.err.find("the name must be"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace revive::testing

namespace revive::testing {
namespace {

TEST_F(ServerCli, HostWhyShowsTheEvidenceAndAuditListsTheRequests) {
  auto why = revive({"host", "why", "host-03"});
  ASSERT_EQ(why.exit_status, 0) << why.err;
  for (const char* expected :
       {"host-03: failed", "fence decision:", "every channel silent", "agent", "storage", "hypervisor",
        "lease: last renewal", "bmc: power on", "storm guard: inactive", "fence: done", "level ipmi"})
    EXPECT_NE(why.out.find(expected), std::string::npos) << expected << "\n" << why.out;
  auto quiet = revive({"host", "why", "host-01"});
  ASSERT_EQ(quiet.exit_status, 0) << quiet.err;
  EXPECT_NE(quiet.out.find("no fence decision; the detector now:"), std::string::npos) << quiet.out;
  EXPECT_EQ(revive({"host", "why", "nowhere"}).exit_status, 2);

  ASSERT_EQ(revive({"disarm", "--reason", "window"}).exit_status, 0);
  EXPECT_EQ(revive({"cancel", "op-9"}).exit_status, 2);
  auto audit = revive({"audit"});
  ASSERT_EQ(audit.exit_status, 0) << audit.err;
  EXPECT_NE(audit.out.find("POST /v1/disarm"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("POST /v1/operations/op-9/cancel"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("404"), std::string::npos) << audit.out;
  auto listed = revive({"--format", "json", "audit", "--kind", "request", "--limit", "1"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["records"].size(), 1u) << listed.out;
  EXPECT_EQ(revive({"audit", "--kind", "vm"}).exit_status, 2);
}

// revive decisions: the daemon's saved decisions as a table or its JSON; decisions show N: the file as
// served, byte for byte (for revive replay); an unknown number is the daemon's 404 (exit 2), a bad one
// CLI11's.
TEST_F(ServerCli, DecisionsListsTheSavedDecisionsAndShowPrintsTheFileAsServed) {
  auto listed = revive({"decisions"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  for (const char* expected :
       {"1 decision(s) kept (decisions.keep 500)", "NUMBER", "recovery", "op-1", "host-03"})
    EXPECT_NE(listed.out.find(expected), std::string::npos) << expected << "\n" << listed.out;
  auto as_json = revive({"--format", "json", "decisions"});
  ASSERT_EQ(as_json.exit_status, 0) << as_json.err;
  EXPECT_EQ(json::parse(as_json.out)["decisions"][0]["number"], 1) << as_json.out;
  auto shown = revive({"decisions", "show", "1"});
  ASSERT_EQ(shown.exit_status, 0) << shown.err;
  // As the fake serves it (indented by one, keys in the file's order), not re-serialized by the CLI.
  EXPECT_TRUE(shown.out.starts_with("{\n \"version\": 1,\n \"number\": 1,\n \"engine\": \"recovery\""))
      << shown.out;
  EXPECT_EQ(json::parse(shown.out)["request"]["failed_hosts"], json::array({"host-03"}));
  auto missing = revive({"decisions", "show", "7"});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.err.find("number 7: no such decision"), std::string::npos) << missing.err;
  EXPECT_EQ(revive({"decisions", "show", "0"}).exit_status, 2);
  EXPECT_EQ(revive({"decisions", "show"}).exit_status, 2);
}

}  // namespace
}  // namespace revive::testing

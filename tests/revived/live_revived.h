// LiveRevived: a lab (src/lab) with the real revived running on it, for the end-to-end tests. Every API
// answer the test gets is recorded for the OpenAPI validation (validate()), every CLI run's output is kept,
// and when it ends it checks that no secret (the lab's BMC passwords, the API tokens the test used) appears
// in any of them, in revived's log or in its data directory (journal, state, audit).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lab/lab.h"
#include "lab/libvirt_daemons.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive::testing {

using nlohmann::json;

// A lab with revived running on it; every response recorded for the OpenAPI validation.
class LiveRevived {
 public:
  // `extra_config`: YAML appended to the lab's revived config (top-level keys the lab does not write).
  // `token`: sent as the bearer token of every API call (the config in `extra_config` names the tokens file).
  // `adjust`: changes to the lab's spec (iSCSI disks, fence levels).
  explicit LiveRevived(int test_driver_hosts, int session_hosts = 0, const std::string& extra_config = "",
                       std::string token = "", const std::function<void(lab::LabSpec&)>& adjust = {})
      : token_(std::move(token)) {
    if (!token_.empty()) secrets_.push_back(token_);
    lab::LabSpec spec;
    spec.root = dir_.path() / "lab";
    spec.test_driver_hosts = test_driver_hosts;
    spec.session_hosts = session_hosts;
    spec.agent_binary = REVIVE_AGENT;
    if (adjust) adjust(spec);
    lab_ = std::make_unique<lab::Lab>(spec);
    lab_->start();
    if (!extra_config.empty()) std::ofstream(lab_->files().config, std::ios::app) << extra_config;
    start_revived();
  }
  ~LiveRevived() {
    stop_revived();
    expect_no_secret();
    lab_.reset();
  }

  // A secret (a token) that must appear in no output, log or file of revived.
  void add_secret(const std::string& secret) { secrets_.push_back(secret); }
  // The bearer token of the calls from now on (a secret too).
  void set_token(const std::string& token) {
    token_ = token;
    secrets_.push_back(token);
  }
  // Sends `signal` to revived (SIGHUP: reload the tokens file).
  void signal_revived(int signal) { revived_->signal(signal); }

  // Runs `revive --server URL ARGS...` (with --token-file when `token_file` is given); the output is kept for
  // the secrets check.
  testing::CommandResult cli(std::vector<std::string> arguments,
                             const std::filesystem::path& token_file = {}) {
    std::vector<std::string> all{"--server", "http://127.0.0.1:" + std::to_string(lab_->api_port())};
    if (!token_file.empty()) all.insert(all.end(), {"--token-file", token_file.string()});
    all.insert(all.end(), arguments.begin(), arguments.end());
    auto result = testing::run_cli(all, 30);
    std::filesystem::create_directories(dir_.path() / "outputs");
    std::ofstream(dir_.path() / "outputs" / (std::to_string(++outputs_) + ".txt"))
        << result.out << result.err;
    return result;
  }

  // No secret in revived's log, the answers recorded, the CLI outputs, or the files of its data directory.
  void expect_no_secret() {
    std::vector<std::string> secrets = secrets_;
    for (const auto& host : lab_->hosts()) {
      auto password = testing::read_file(host.bmc_password_file);
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
      if (!password.empty()) secrets.push_back(password);
    }
    std::vector<std::filesystem::path> files{dir_.path() / "revived.log"};
    for (const auto& folder : {dir_.path() / "responses", dir_.path() / "outputs", lab_->files().data_dir}) {
      if (!std::filesystem::exists(folder)) continue;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(folder))
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    for (const auto& file : files) {
      if (!std::filesystem::exists(file)) continue;
      auto content = testing::read_file(file);
      for (const auto& secret : secrets)
        EXPECT_EQ(content.find(secret), std::string::npos) << "a secret in " << file;
    }
  }

  // `environment`: extra variables (NAME=VALUE) for revived, e.g. its crash hook.
  void start_revived(const std::vector<std::string>& environment = {}) {
    revived_ = std::make_unique<lab::BackgroundProcess>(
        std::vector<std::string>{REVIVED, "--config", lab_->files().config.string()},
        dir_.path() / "revived.log", environment);
    bool up = lab::eventually([&] { return raw_get("/v1/status").status == 200; }, 60.0);
    if (!up) ADD_FAILURE() << "revived never answered:\n" << log();
  }
  // True once revived died (its crash hook fired); bounded.
  bool revived_died(double timeout_s) {
    return lab::eventually([&] { return !revived_->running(); }, timeout_s);
  }
  void stop_revived() {
    if (!revived_) return;
    revived_->signal(SIGTERM);
    lab::eventually([&] { return !revived_->running(); }, 10.0);
    revived_->stop();
    revived_.reset();
  }

  struct Answer {
    int status = 0;
    json body;
  };
  Answer raw_get(const std::string& path) { return call("GET", path, ""); }
  json get(const std::string& path) {
    auto answer = call("GET", path, "");
    EXPECT_EQ(answer.status, 200) << path << ": " << answer.body.dump();
    return answer.body;
  }
  Answer post(const std::string& path, const json& body) { return call("POST", path, body.dump()); }
  // The same with another bearer token ("" for none), for the refusals.
  Answer post_as(std::string token, const std::string& path, const json& body) {
    std::swap(token, token_);
    auto answer = call("POST", path, body.dump());
    std::swap(token, token_);
    return answer;
  }
  // GET whose body is not JSON (the metrics): status and text; recorded like the others.
  std::pair<int, std::string> get_text(const std::string& path, bool with_token = true) {
    std::string saved = with_token ? token_ : std::exchange(token_, std::string());
    auto answer = call("GET", path, "");
    token_ = saved;
    return {answer.status, last_body_};
  }

  std::string host_state(const std::string& host) {
    return get("/v1/hosts/" + host)["state"].get<std::string>();
  }
  json operation_of_kind(const std::string& kind) {
    auto operations = get("/v1/operations");  // kept alive for the loop
    for (const auto& op : operations["operations"]) {
      if (op["kind"] == kind) {
        return op;
      }
    }
    return nullptr;
  }
  bool operation_finished(const std::string& kind) {
    auto op = operation_of_kind(kind);
    return !op.is_null() && op["state"] != "running";
  }
  std::string events() {
    std::string text;
    auto answer = raw_get("/v1/events?limit=1000");
    if (answer.status != 200) return "(no events: " + std::to_string(answer.status) + ")";
    const auto& list = answer.body["events"];
    for (const auto& event : list) text += event["message"].get<std::string>() + "\n";
    return text;
  }
  std::string log() const { return testing::read_file(dir_.path() / "revived.log"); }

  // Where each of `vms` runs, read from the lab (not from revived).
  std::map<std::string, std::vector<std::string>> placement() {
    std::map<std::string, std::vector<std::string>> where;
    for (const auto& host : lab_->hosts()) {
      for (const auto& vm : lab_->running_vms(host.name)) where[vm].push_back(host.name);
    }
    return where;
  }

  // Runs tests/api/validate_openapi.py over every answer recorded.
  void validate() {
    std::string command = "python3 " + (testing::source_dir() / "tests/api/validate_openapi.py").string() +
                          " " + (testing::source_dir() / "docs/api/openapi.yaml").string() + " --responses " +
                          (dir_.path() / "responses").string();
    std::filesystem::create_directories(dir_.path() / "responses");
    auto checked = testing::run_shell(command);
    EXPECT_EQ(checked.exit_status, 0) << "validate_openapi.py failed:\n" << checked.out;
  }

  lab::Lab& lab() { return *lab_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  Answer call(const std::string& method, const std::string& path, const std::string& body) {
    httplib::Client client("127.0.0.1", lab_->api_port());
    client.set_connection_timeout(2);
    client.set_read_timeout(20);
    httplib::Headers headers;
    if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
    auto result =
        method == "GET" ? client.Get(path, headers) : client.Post(path, headers, body, "application/json");
    Answer answer;
    if (!result) return answer;
    answer.status = result->status;
    answer.body = json::parse(result->body, nullptr, false);
    last_body_ = result->body;
    json record{{"method", method},
                {"path", path},
                {"status", result->status},
                {"content_type", result->get_header_value("Content-Type")},
                {"body", result->body}};
    std::filesystem::create_directories(dir_.path() / "responses");
    std::ofstream(dir_.path() / "responses" / (std::to_string(++recorded_) + ".json")) << record.dump();
    return answer;
  }

  testing::TempDir dir_;
  std::unique_ptr<lab::Lab> lab_;
  std::unique_ptr<lab::BackgroundProcess> revived_;
  int recorded_ = 0;
  int outputs_ = 0;
  std::string token_;
  std::string last_body_;
  std::vector<std::string> secrets_;
};

}  // namespace revive::testing

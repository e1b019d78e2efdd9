// api_load: does API read load slow a recovery down? (issue 14, "Done when": ≤ 5 %, no failed request.)
// Runs the same recovery on two fresh labs in one run (src/lab: 3 libvirt test-driver hosts, BMCs, agents,
// the real revived): once quiet, once while `wrk` sends RATE requests/s (default 400) to the read endpoints
// (status, hosts, one host, VMs, operations, metrics). Each round crashes td0 and measures the recovery from
// the crash to the recovery operation seen finished (detection, fence, plan, restarts: what an operator
// waits for; the ratio is of these), and the API's own operation time (started_at to finished_at, declared
// to the last VM running: ~0.1 s on the test driver, so its ratio is mostly noise). Prints both, the ratio
// (loaded / quiet), wrk's request rate and its failed requests (non-2xx answers and socket errors). A
// benchmark, not a test: its figures go in docs/PERFORMANCE.md. Needs root, the lab's packages and wrk
// (scripts/install-deps.sh).
//
// Usage: api_load [--rate R] [--rounds N] [--revived PATH] [--agent PATH]
//   (defaults: the revived and revive-agent built beside it)
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "api/rfc3339.h"
#include "lab/lab.h"
#include "lab/real_processes.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Round {
  double api_s = 0;   // the operation's finished_at - started_at
  double wall_s = 0;  // crash to the operation seen finished
  std::string state;
  double requests_per_s = 0;
  long requests = 0;
  long failed = 0;
  std::string wrk_output;
};

json get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(20);
  auto answer = client.Get(path);
  if (!answer || answer->status != 200) return nullptr;
  return json::parse(answer->body, nullptr, false);
}

json recovery(int port) {
  auto operations = get(port, "/v1/operations");
  if (!operations.is_object()) return nullptr;
  const auto list = operations["operations"];
  for (const auto& op : list)
    if (op["kind"] == "recovery") return op;
  return nullptr;
}

double seconds_between(const std::string& from, const std::string& to) {
  auto a = revive::api::parse_rfc3339(from);
  auto b = revive::api::parse_rfc3339(to);
  if (!a || !b) return -1;
  return std::chrono::duration<double>(*b - *a).count();
}

long match_number(const std::string& text, const std::string& pattern) {
  std::smatch found;
  if (!std::regex_search(text, found, std::regex(pattern))) return 0;
  return std::stol(found[1]);
}

Round run_round(const std::filesystem::path& root, bool loaded, double rate, const std::string& revived,
                const std::string& agent) {
  revive::lab::LabSpec spec;
  spec.root = root;
  spec.test_driver_hosts = 3;
  spec.agent_binary = agent;
  revive::lab::Lab lab(spec);
  lab.start();
  revive::lab::BackgroundProcess daemon({revived, "--config", lab.files().config.string()},
                                        root / "revived.log");
  int port = lab.api_port();
  Round round;
  bool up = revive::lab::eventually(
      [&] {
        auto host = get(port, "/v1/hosts/td0");
        return host.is_object() && host["state"] == "up" && get(port, "/v1/plans").is_object();
      },
      60);
  if (!up) throw std::runtime_error("revived did not come up: see " + (root / "revived.log").string());

  std::unique_ptr<revive::lab::BackgroundProcess> wrk;
  // Fewer connections than revived's 8 HTTP threads: a kept-alive connection holds a thread, so more would
  // leave the poller below (and any operator) waiting for one.
  const int connections = 6;
  if (loaded) {
    // Each connection waits `delay` ms between its requests (its answer takes some more): about `rate`
    // requests/s in all when the daemon keeps up.
    int delay_ms = static_cast<int>(connections * 1000.0 / rate * 0.85);
    std::ofstream(root / "reads.lua")
        << "local paths = {'/v1/status', '/v1/hosts', '/v1/hosts/td1', '/v1/vms', '/v1/operations', "
           "'/metrics'}\n"
        << "local i = 0\n"
        << "request = function() i = i + 1; return wrk.format('GET', paths[(i % #paths) + 1]) end\n"
        << "delay = function() return " << delay_ms << " end\n";
    wrk = std::make_unique<revive::lab::BackgroundProcess>(
        std::vector<std::string>{"wrk", "-t1", "-c" + std::to_string(connections), "-d40s", "--timeout",
                                 "10s", "-s", (root / "reads.lua").string(),
                                 "http://127.0.0.1:" + std::to_string(port)},
        root / "wrk.out");
  }
  // Both rounds crash td0 as long after revived's start (the detector's phi history is as long), the load
  // steady by then.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  auto crashed_at = Clock::now();
  lab.crash("td0");
  json op;
  bool finished = revive::lab::eventually(
      [&] {
        op = recovery(port);
        return op.is_object() && op["state"] != "running";
      },
      120);
  round.wall_s = std::chrono::duration<double>(Clock::now() - crashed_at).count();
  if (!finished)
    throw std::runtime_error("the recovery did not finish: see " + (root / "revived.log").string());
  round.state = op["state"];
  round.api_s = seconds_between(op["started_at"], op["finished_at"]);
  if (wrk) {
    revive::lab::eventually([&] { return !wrk->running(); }, 60);
    wrk.reset();
    std::ifstream in(root / "wrk.out");
    round.wrk_output.assign(std::istreambuf_iterator<char>(in), {});
    round.requests = match_number(round.wrk_output, R"((\d+) requests in)");
    round.failed = match_number(round.wrk_output, R"(Non-2xx or 3xx responses: (\d+))");
    std::smatch errors;
    if (std::regex_search(
            round.wrk_output, errors,
            std::regex(R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))")))
      for (int i = 1; i <= 4; ++i) round.failed += std::stol(errors[i]);
    std::smatch per_s;
    if (std::regex_search(round.wrk_output, per_s, std::regex(R"(Requests/sec:\s+([0-9.]+))")))
      round.requests_per_s = std::stod(per_s[1]);
  }
  daemon.signal(SIGTERM);
  revive::lab::eventually([&] { return !daemon.running(); }, 10);
  return round;
}

}  // namespace

int main(int argc, char** argv) {
  double rate = 400;
  int rounds = 1;
  auto here = std::filesystem::canonical("/proc/self/exe").parent_path();
  std::string revived = (here.parent_path() / "revived").string();
  std::string agent = (here.parent_path() / "revive-agent").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rate")
      rate = std::stod(argv[i + 1]);
    else if (flag == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else if (flag == "--revived")
      revived = argv[i + 1];
    else if (flag == "--agent")
      agent = argv[i + 1];
    else {
      std::cerr << "usage: api_load [--rate R] [--rounds N] [--revived PATH] [--agent PATH]\n";
      return 2;
    }
  }
  char pattern[] = "/tmp/revive-api-load-XXXXXX";
  std::filesystem::path root = ::mkdtemp(pattern);
  double quiet_total = 0;
  double loaded_total = 0;
  long failed = 0;
  try {
    for (int r = 0; r < rounds; ++r) {
      auto quiet = run_round(root / ("quiet-" + std::to_string(r)), false, rate, revived, agent);
      auto loaded = run_round(root / ("loaded-" + std::to_string(r)), true, rate, revived, agent);
      quiet_total += quiet.wall_s;
      loaded_total += loaded.wall_s;
      failed += loaded.failed;
      std::printf(
          "round %d: quiet: crash to recovered %.2f s (operation %.3f s, %s); under load: %.2f s (operation "
          "%.3f s, %s); ratio %.3f; load %.0f requests/s, %ld requests, %ld failed\n",
          r + 1, quiet.wall_s, quiet.api_s, quiet.state.c_str(), loaded.wall_s, loaded.api_s,
          loaded.state.c_str(), loaded.wall_s / quiet.wall_s, loaded.requests_per_s, loaded.requests,
          loaded.failed);
      if (loaded.requests == 0) std::printf("wrk said:\n%s\n", loaded.wrk_output.c_str());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "api_load: %s (files kept in %s)\n", error.what(), root.c_str());
    return 1;
  }
  std::printf("crash to recovered, under load / quiet: %.3f (target <= 1.05); failed requests: %ld\n",
              loaded_total / quiet_total, failed);
  std::filesystem::remove_all(root);
  return failed == 0 ? 0 : 1;
}

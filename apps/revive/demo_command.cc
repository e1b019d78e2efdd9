// revive demo: Revive's main job on a real cloud on this machine, end to end, in well under a minute.
// It brings up a lab (src/lab/lab.h: 4 test-driver hosts with 8 VMs each of mixed priorities, 2 QEMU session
// hosts with real TCG guests), starts revived (a child process in a process group of its own) on the lab's
// config and, through revived's REST API only:
//   1. shows the cloud and the prestaged plan for the host it is about to crash;
//   2. crashes that host (libvirtd, qemu, agent die; its BMC still says on) and follows the recovery live
//      (suspect, failed, fenced through IPMI, each VM running again), then reports who went where, how long
//      detection, fence and restart took, and whether each VM landed where the prestaged plan said;
//   3. puts a QEMU host into maintenance: its real guests live-migrate to the other session host;
//   4. checks through the lab itself (libvirt and qemu processes, not revived) that every VM runs exactly
//      once and where revived says; exits maintenance.
// Teardown always runs (also on failure and on SIGINT/SIGTERM/SIGHUP): revived gets SIGTERM, then SIGKILL
// after 10 s; the lab kills its processes and removes its directory (unless --keep-files).
// Exit status: 0 when both operations succeeded and every VM runs exactly once; 1 otherwise (the message
// says which check failed); 2 for bad arguments; 130 when interrupted. Needs root.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "api/http_client.h"
#include "api/rfc3339.h"
#include "cli.h"
#include "lab/lab.h"
#include "lab/real_processes.h"

namespace revive::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr int kExitDemoFailed = 1;
constexpr int kExitInterrupted = 130;

std::atomic<int> stop_signal{0};

void on_stop_signal(int signal_number) {
  stop_signal = signal_number;
}

// Ctrl-C (or SIGTERM, SIGHUP) arrived: the demo stops where it is and tears down.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// A check of the demo failed; the message says which and why.
struct DemoFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void throw_if_interrupted() {
  if (stop_signal != 0) throw Interrupted();
}

void pause_for(double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    throw_if_interrupted();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

struct DemoOptions {
  std::string dir;
  bool keep_files = false;
  std::string revived;
  std::string agent;
  int guests = 2;
  std::string crash_host = "td0";
  std::string maintenance_host = "qemu0";
};

std::filesystem::path beside_this_binary(const std::string& name) {
  std::error_code ignored;
  return std::filesystem::read_symlink("/proc/self/exe", ignored).parent_path() / name;
}

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

std::optional<Clock::time_point> time_of(const json& value) {
  return value.is_string() ? api::parse_rfc3339(value.get<std::string>()) : std::nullopt;
}

// Event times have millisecond resolution: an event right after `from` may read a fraction earlier.
double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

std::string last_lines(const std::filesystem::path& path, std::size_t count) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i)
    out += "    " + lines[i] + "\n";
  return out;
}

class Demo {
 public:
  explicit Demo(DemoOptions options) : options_(std::move(options)) {}
  ~Demo() { teardown(); }
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;

  void run() {
    auto started = std::chrono::steady_clock::now();
    bring_up();
    show_cloud();
    auto planned = show_prestaged_plan();
    recover_from_crash(planned);
    maintain();
    show_final_placement();
    std::cout << fmt::format(
                     "\ndemo done in {:.1f} s: recovery and maintenance succeeded, every VM runs once\n",
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())
              << std::flush;
  }

  // Stops revived (SIGTERM, then SIGKILL after 10 s) and the lab; checks that none of their processes is
  // left. Idempotent; never throws.
  void teardown() noexcept {
    if (torn_down_) return;
    torn_down_ = true;
    if (!lab_) return;  // nothing was started
    try {
      std::vector<int> pids;
      if (lab_) pids = lab_->all_pids();
      if (revived_.pid() > 0) {
        pids.push_back(revived_.pid());
        revived_.signal(SIGTERM);
        bool stopped = lab::eventually([&] { return !revived_.running(); }, 10.0);
        if (!stopped) std::cerr << "revive demo: revived did not stop within 10 s of SIGTERM: killed\n";
        revived_.stop();
      }
      if (lab_) lab_->stop();
      std::erase_if(pids, [](int pid) { return !lab::process_alive(pid); });
      std::error_code ignored;
      bool files_left = std::filesystem::exists(root_, ignored);
      std::cout << fmt::format(
                       "\n== teardown: revived stopped, lab down; {}; {}\n",
                       pids.empty() ? "no process left" : fmt::format("{} processes LEFT", pids.size()),
                       options_.keep_files ? "files kept in " + root_.string()
                       : files_left        ? root_.string() + " LEFT"
                                           : root_.string() + " removed")
                << std::flush;
    } catch (const std::exception& error) {
      std::cerr << "revive demo: teardown: " << error.what() << "\n";
    }
  }

  // For a failure's message: the end of revived's log (before teardown removes it).
  std::string revived_log_tail() const {
    return revived_log_.empty() ? std::string() : last_lines(revived_log_, 15);
  }

 private:
  // ---- bring-up

  void bring_up() {
    root_ = options_.dir;
    if (root_.empty()) {
      char pattern[] = "/tmp/revive-demo-XXXXXX";
      if (::mkdtemp(pattern) == nullptr) throw DemoFailed("cannot create a temporary directory");
      root_ = pattern;
    }
    root_ = std::filesystem::absolute(root_);
    std::error_code ignored;
    if (!options_.dir.empty() && std::filesystem::exists(root_, ignored) &&
        !std::filesystem::is_empty(root_, ignored)) {
      // The teardown removes the whole directory: never one holding something else.
      throw InputError("--dir " + root_.string() + ": exists and is not empty");
    }
    auto revived =
        options_.revived.empty() ? beside_this_binary("revived") : std::filesystem::path(options_.revived);
    auto agent =
        options_.agent.empty() ? beside_this_binary("revive-agent") : std::filesystem::path(options_.agent);
    for (const auto& binary : {revived, agent}) {
      if (::access(binary.c_str(), X_OK) != 0)
        throw DemoFailed(binary.string() +
                         " is not an executable (build it, or name it with --revived/--agent)");
    }

    lab::LabSpec spec;
    spec.root = root_;
    spec.test_driver_hosts = 4;
    // 8 VMs per host (11 vCPU, 5 GiB), on hosts of 16 vCPU: three hosts can take a fourth one's VMs.
    spec.test_driver_vms.clear();
    static constexpr lab::VmSize kSizes[] = {{2, 1024}, {1, 512}, {1, 256}};
    for (int i = 0; i < 8; ++i) spec.test_driver_vms.push_back(kSizes[i % 3]);
    spec.test_driver_priorities = {"critical", "high", "medium", "low", "high", "medium", "low", "medium"};
    spec.host_cpus = 16;
    spec.session_hosts = 2;
    spec.guests_per_session_host = options_.guests;
    spec.agent_binary = agent;
    spec.keep_files = options_.keep_files;

    std::cout << fmt::format("== bringing up a lab in {} (4 test-driver hosts, 2 QEMU hosts, BMCs, agents)\n",
                             root_.string())
              << std::flush;
    auto lab_started = std::chrono::steady_clock::now();
    lab_ = std::make_unique<lab::Lab>(spec);
    lab_->start();
    throw_if_interrupted();
    std::cout << fmt::format(
        "lab up in {:.1f} s\n",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - lab_started).count());

    revived_log_ = root_ / "revived.log";
    revived_ =
        lab::BackgroundProcess({revived.string(), "--config", lab_->files().config.string()}, revived_log_);
    url_ = fmt::format("http://127.0.0.1:{}", lab_->api_port());
    api_ = std::make_unique<api::HttpClient>(url_, 10);
    auto daemon_started = std::chrono::steady_clock::now();
    // Ready: the API answers, every host is up with every liveness channel alive, the plans are computed.
    bool ready = false;
    while (!ready) {
      throw_if_interrupted();
      if (!revived_.running()) throw DemoFailed("revived exited at start-up");
      if (std::chrono::steady_clock::now() - daemon_started > std::chrono::seconds(30))
        throw DemoFailed("revived did not become ready within 30 s");
      try {
        auto hosts = api_->get("/v1/hosts")["hosts"];
        auto plans = api_->get("/v1/plans");
        ready = hosts.size() == lab_->hosts().size() && !plans["computed_at"].is_null();
        for (const auto& host : hosts) {
          ready = ready && host["state"] == "up";
          for (const auto& channel : host["channels"]) ready = ready && channel["state"] == "alive";
        }
      } catch (const api::UnreachableError&) {
      }
      if (!ready) pause_for(0.2);
    }
    std::cout << fmt::format(
        "revived (pid {}) ready in {:.1f} s: {} (log {})\n", revived_.pid(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - daemon_started).count(), url_,
        revived_log_.string());
  }

  // ---- what the demo shows

  void show_cloud() {
    auto hosts = api_->get("/v1/hosts")["hosts"];
    auto vms = api_->get("/v1/vms")["vms"];
    std::cout << fmt::format("\n== the cloud, as revived sees it (revive --server {} hosts|vms)\n", url_);
    for (const auto& host : hosts) {
      std::string name = text(host["name"]);
      std::vector<std::string> listed;
      for (const auto& vm : vms) {
        if (vm["host"] == name)
          listed.push_back(fmt::format("{} {}", text(vm["name"]), text(vm["priority"])));
      }
      std::cout << fmt::format("  {:<6} {:<4} {} VMs, {:>2}/{} vCPU: {}\n", name, text(host["state"]),
                               host["vms"].get<int>(), host["cpus"]["used"].get<int>(),
                               host["cpus"]["total"].get<int>(), fmt::join(listed, ", "));
    }
  }

  // The prestaged plan for the crash host: VM -> planned target.
  std::map<std::string, std::string> show_prestaged_plan() {
    auto plans = api_->get("/v1/plans");
    std::map<std::string, std::string> planned;
    for (const auto& plan : plans["plans"]) {
      if (plan["failed_hosts"] != json::array({options_.crash_host})) continue;
      std::cout << fmt::format(
          "\n== revived's prestaged plan for a failure of {} (computed {}; revive --server URL plan show)\n",
          options_.crash_host, text(plans["computed_at"]));
      for (const auto& placement : plan["placements"]) {
        planned[text(placement["vm"])] = text(placement["to"]);
        std::cout << fmt::format(
            "  {:<9} {:<8} -> {}{}\n", text(placement["vm"]), text(placement["priority"]),
            text(placement["to"]),
            placement["start_after"].empty()
                ? ""
                : fmt::format("  (starts after {})",
                              fmt::join(placement["start_after"].get<std::vector<std::string>>(), ", ")));
      }
      for (const auto& waiting : plan["waiting"])
        std::cout << fmt::format("  {:<9} would wait: {}\n", text(waiting["vm"]), text(waiting["reason"]));
      return planned;
    }
    throw DemoFailed("revived has no prestaged plan for " + options_.crash_host);
  }

  // Follows revived's events (long polls) from the last one seen, printing each with its time since `origin`,
  // until `done` holds for one of them or `timeout_s` passes (DemoFailed naming `what`).
  void follow_events(Clock::time_point origin, const std::string& what, double timeout_s,
                     const std::function<bool(const json&)>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      throw_if_interrupted();
      auto page = api_->get(fmt::format("/v1/events?after={}&limit=1000&wait_s=1", last_sequence_));
      bool finished = false;
      for (const auto& event : page["events"]) {
        last_sequence_ = std::max(last_sequence_, event["sequence"].get<std::uint64_t>());
        events_.push_back(event);
        auto at = time_of(event["at"]);
        std::cout << fmt::format("  {:>8}  {:<24} {}\n",
                                 at ? fmt::format("+{:.3f} s", seconds_between(origin, *at)) : "?",
                                 text(event["kind"]), text(event["message"]))
                  << std::flush;
        finished = finished || done(event);
      }
      if (finished) return;
    }
    throw DemoFailed(fmt::format("{} did not finish within {:g} s", what, timeout_s));
  }

  std::optional<Clock::time_point> first_event_at(const std::string& kind, const std::string& host,
                                                  std::size_t from = 0) const {
    for (std::size_t i = from; i < events_.size(); ++i) {
      if (events_[i]["kind"] == kind && events_[i].value("host", "") == host)
        return time_of(events_[i]["at"]);
    }
    return std::nullopt;
  }

  void skip_to_latest_event() {
    last_sequence_ = api_->get("/v1/events?limit=1")["last_sequence"].get<std::uint64_t>();
  }

  void recover_from_crash(const std::map<std::string, std::string>& planned) {
    const auto& host = options_.crash_host;
    skip_to_latest_event();
    std::size_t first_event = events_.size();
    std::cout << fmt::format(
        "\n== crashing {}: its libvirtd and agent die, its BMC still says power on (times since the crash)\n",
        host);
    auto crashed_at = Clock::now();
    lab_->crash(host);
    std::string operation;
    follow_events(crashed_at, "the recovery of " + host, 60, [&](const json& event) {
      if (event["kind"] == "host_declared_failed" && event.value("host", "") == host)
        operation = event.value("operation", "");
      return !operation.empty() && event["kind"] == "operation_finished" &&
             event.value("operation", "") == operation;
    });
    auto op = api_->get("/v1/operations/" + operation);

    // Why a VM did not land where the prestaged plan said: what revived reported when it planned it again.
    std::map<std::string, std::string> replanned;
    for (std::size_t i = first_event; i < events_.size(); ++i) {
      if (events_[i]["kind"] == "vm_replanned")
        replanned[events_[i].value("vm", "")] = text(events_[i]["message"]);
    }
    std::cout << fmt::format("\n== where {}'s VMs went (operation {}: {})\n", host, operation,
                             text(op["state"]));
    std::cout << fmt::format("  {:<9} {:<8} {:<7} {:<7} {:>9}  {}\n", "VM", "PRIORITY", "PLANNED", "LANDED",
                             "RUNNING", "AS PLANNED");
    auto vms = api_->get("/v1/vms")["vms"];
    std::map<std::string, std::string> priority;
    for (const auto& vm : vms) priority[text(vm["name"])] = text(vm["priority"]);
    std::optional<Clock::time_point> last_running;
    int landed_as_planned = 0;
    for (const auto& vm : op["vms"]) {
      std::string name = text(vm["vm"]);
      std::optional<Clock::time_point> running_at;
      for (const auto& step : vm["steps"]) {
        if (step["step"] == "vm_start" && step["state"] == "succeeded")
          running_at = time_of(step["finished_at"]);
      }
      if (running_at && (!last_running || *running_at > *last_running)) last_running = running_at;
      auto plan = planned.find(name);
      std::string target = plan == planned.end() ? "-" : plan->second;
      std::string verdict;
      if (target == text(vm["to"])) {
        verdict = "yes";
        ++landed_as_planned;
      } else if (replanned.count(name)) {
        verdict = "no: " + replanned[name];
      } else if (plan == planned.end()) {
        verdict = "no: the prestaged plan had no place for it";
      } else {
        verdict = "no: revived planned it afresh when " + host + " failed (the cloud had changed since)";
      }
      std::cout << fmt::format(
          "  {:<9} {:<8} {:<7} {:<7} {:>9}  {}\n", name, priority[name], target, text(vm["to"]),
          running_at ? fmt::format("+{:.3f} s", seconds_between(crashed_at, *running_at)) : "-", verdict);
    }
    if (op["state"] != "succeeded")
      throw DemoFailed("the recovery of " + host + " ended " + text(op["state"]));

    auto suspect = first_event_at("host_suspect", host, first_event);
    auto failed = first_event_at("host_failed", host, first_event);
    auto fence_started = first_event_at("fence_started", host, first_event);
    auto fenced = first_event_at("host_fenced", host, first_event);
    auto seconds = [&](std::optional<Clock::time_point> from, std::optional<Clock::time_point> to) {
      return from && to ? fmt::format("{:.3f} s", seconds_between(*from, *to)) : std::string("?");
    };
    std::cout << fmt::format(
        "\n  detection {} (crash -> declared failed{}), fence {} (IPMI power off through {}'s BMC), restart "
        "{} "
        "(fenced -> last VM running); {} of {} VMs where the prestaged plan said\n",
        seconds(crashed_at, failed),
        suspect ? fmt::format(", suspect after {}", seconds(crashed_at, suspect)) : "",
        seconds(fence_started, fenced), host, seconds(fenced, last_running), landed_as_planned,
        op["vms"].size());
    std::cout << fmt::format("  {} is powered {} (its BMC)\n", host, lab_->powered_on(host) ? "ON" : "off");
    verify_every_vm_runs_once();
  }

  void maintain() {
    const auto& host = options_.maintenance_host;
    skip_to_latest_event();
    std::cout << fmt::format(
        "\n== {} enters maintenance (POST /v1/hosts/{}/maintenance {{action: enter, deadline_s: 120}}): its "
        "QEMU "
        "guests live-migrate\n",
        host, host);
    auto requested_at = Clock::now();
    auto answer =
        api_->post("/v1/hosts/" + host + "/maintenance", {{"action", "enter"}, {"deadline_s", 120}});
    std::string operation = text(answer["operation"]["id"]);
    follow_events(requested_at, "the maintenance drain of " + host, 90, [&](const json& event) {
      return event["kind"] == "operation_finished" && event.value("operation", "") == operation;
    });
    auto op = api_->get("/v1/operations/" + operation);
    std::cout << fmt::format("\n== {}'s guests (operation {}: {})\n", host, operation, text(op["state"]));
    for (const auto& vm : op["vms"]) {
      std::optional<Clock::time_point> started, finished;
      for (const auto& step : vm["steps"]) {
        if (step["step"] == "migrate" && step["state"] == "succeeded") {
          started = time_of(step["started_at"]);
          finished = time_of(step["finished_at"]);
        }
      }
      std::cout << fmt::format(
          "  {:<9} {} -> {}  {} {}\n", text(vm["vm"]), text(vm["from"]), text(vm["to"]), text(vm["method"]),
          started && finished ? fmt::format("in {:.3f} s", seconds_between(*started, *finished))
                              : text(vm["state"]));
      if (vm["method"] != "live_migration")
        throw DemoFailed(text(vm["vm"]) + " was not live-migrated (" + text(vm["method"]) + ")");
    }
    if (op["state"] != "succeeded")
      throw DemoFailed("the maintenance drain of " + host + " ended " + text(op["state"]));
    if (!lab_->running_vms(host).empty())
      throw DemoFailed(
          fmt::format("{} still runs {} after its drain", host, fmt::join(lab_->running_vms(host), ", ")));
    verify_every_vm_runs_once();

    auto exit_answer = api_->post("/v1/hosts/" + host + "/maintenance", {{"action", "exit"}});
    std::string exit_operation = text(exit_answer["operation"]["id"]);
    bool exited = lab::eventually(
        [&] {
          auto exited_op = api_->get("/v1/operations/" + exit_operation);
          return exited_op["state"] != "running";
        },
        30);
    auto exited_op = api_->get("/v1/operations/" + exit_operation);
    if (!exited || exited_op["state"] != "succeeded")
      throw DemoFailed("leaving maintenance on " + host + " ended " + text(exited_op["state"]));
    std::cout << fmt::format("  {} left maintenance (operation {}: {})\n", host, exit_operation,
                             text(exited_op["state"]));
  }

  // Through the lab (libvirt's test drivers and the qemu processes, not revived): every VM runs on exactly
  // one host, the one revived says.
  void verify_every_vm_runs_once() {
    std::map<std::string, std::vector<std::string>> running_on;
    for (const auto& host : lab_->hosts()) {
      for (const auto& vm : host.vms) running_on[vm];
      for (const auto& vm : lab_->running_vms(host.name)) running_on[vm].push_back(host.name);
    }
    std::map<std::string, std::string> revived_says;
    auto vms = api_->get("/v1/vms")["vms"];  // a copy: a range-for over a temporary's member dangles
    for (const auto& vm : vms) revived_says[text(vm["name"])] = text(vm["host"]);
    std::vector<std::string> problems;
    for (const auto& [vm, hosts] : running_on) {
      if (hosts.size() != 1) {
        problems.push_back(fmt::format("{} runs on {} hosts ({})", vm, hosts.size(), fmt::join(hosts, ", ")));
      } else if (revived_says[vm] != hosts.front()) {
        problems.push_back(
            fmt::format("{} runs on {}, revived says {}", vm, hosts.front(), revived_says[vm]));
      }
    }
    if (!problems.empty()) throw DemoFailed(fmt::format("{}", fmt::join(problems, "; ")));
    std::cout << fmt::format(
        "  checked through the lab (libvirt and qemu processes, not revived): {} VMs, each runs exactly "
        "once, where "
        "revived says\n",
        running_on.size());
  }

  void show_final_placement() {
    std::cout << "\n== where everything ended\n";
    auto hosts = api_->get("/v1/hosts")["hosts"];
    auto vms = api_->get("/v1/vms")["vms"];
    for (const auto& host : hosts) {
      std::vector<std::string> listed;
      for (const auto& vm : vms) {
        if (vm["host"] == host["name"]) listed.push_back(text(vm["name"]));
      }
      std::cout << fmt::format("  {:<6} {:<11} {:>2} VMs: {}\n", text(host["name"]), text(host["state"]),
                               listed.size(),
                               listed.empty() ? "-" : fmt::format("{}", fmt::join(listed, " ")));
    }
  }

  DemoOptions options_;
  std::filesystem::path root_;
  std::unique_ptr<lab::Lab> lab_;
  std::filesystem::path revived_log_;
  lab::BackgroundProcess revived_;
  std::string url_;
  std::unique_ptr<api::HttpClient> api_;
  std::uint64_t last_sequence_ = 0;
  std::vector<json> events_;
  bool torn_down_ = false;
};

int run_demo(const DemoOptions& options) {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal_number, &action, nullptr);
  ::sigaction(SIGPIPE, &ignore, nullptr);  // output cut short (| head) must not skip the teardown

  int status = kExitOk;
  Demo demo(options);
  try {
    demo.run();
  } catch (const InputError& error) {
    std::cerr << "revive: " << error.what() << "\n";
    status = kExitBadInput;
  } catch (const Interrupted&) {
    std::cerr << fmt::format("\nrevive demo: interrupted (signal {}): tearing down\n", stop_signal.load());
    status = kExitInterrupted;
  } catch (const std::exception& error) {
    std::string log = demo.revived_log_tail();
    std::cerr << fmt::format("\nrevive demo: FAILED: {}\n", error.what())
              << (log.empty() ? "" : "  the end of revived's log:\n" + log);
    status = kExitDemoFailed;
  }
  demo.teardown();
  return status;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  auto* demo = app.add_subcommand("demo",
                                  "Revive's main job on a real lab on this machine: a host crashes and its "
                                  "VMs run again elsewhere, a host's "
                                  "QEMU guests live-migrate for maintenance (needs root; under a minute)");
  demo->add_option("--dir", options->dir,
                   "Directory for the lab (default: a fresh one under /tmp; removed after)");
  demo->add_flag("--keep-files", options->keep_files,
                 "Leave the directory (logs, revived's journal) in place");
  demo->add_option("--revived", options->revived, "The revived binary (default: the one beside revive)");
  demo->add_option("--agent", options->agent, "The revive-agent binary (default: the one beside revive)");
  demo->add_option("--guests", options->guests, "Real QEMU guests per session host")
      ->capture_default_str()
      ->check(CLI::Range(1, 4));
  demo->callback([options] { set_exit_status(run_demo(*options)); });
}

}  // namespace revive::cli

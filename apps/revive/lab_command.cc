// revive lab up --dir DIR [...]: brings a lab (src/lab/lab.h: real libvirtd, ipmi_sim BMCs and agents on
// this machine) up under DIR, prints what revived needs (its config file) and what a person can poke at,
// waits until SIGINT/SIGTERM/SIGHUP (Ctrl-C) or --for seconds, then tears everything down. Needs root.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "cli.h"
#include "lab/lab.h"
#include "lab/tgt_daemon.h"

namespace revive::cli {
namespace {

std::atomic<bool> stop_requested{false};

void on_stop_signal(int) {
  stop_requested = true;
}

struct LabOptions {
  std::string dir;
  int test_driver_hosts = 2;
  int vms_per_host = 3;
  int session_hosts = 0;
  int guests_per_session_host = 1;
  std::string agent;
  double interval_s = 1.0;
  double for_s = 0.0;
  bool keep_files = false;
  bool iscsi_disks = false;
};

// The revive-agent installed beside this binary, if any.
std::string default_agent() {
  std::error_code ignored;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ignored);
  auto agent = self.parent_path() / "revive-agent";
  return std::filesystem::exists(agent, ignored) ? agent.string() : std::string();
}

int lab_up(const LabOptions& options) {
  lab::LabSpec spec;
  spec.root = options.dir;
  spec.test_driver_hosts = options.test_driver_hosts;
  spec.test_driver_vms.clear();
  for (int i = 0; i < options.vms_per_host; ++i) {
    // Sizes cycle through 2 vCPU / 1 GiB, 1 / 512 MiB, 1 / 256 MiB.
    static constexpr lab::VmSize kSizes[] = {{2, 1024}, {1, 512}, {1, 256}};
    spec.test_driver_vms.push_back(kSizes[i % 3]);
  }
  spec.session_hosts = options.session_hosts;
  spec.guests_per_session_host = options.guests_per_session_host;
  spec.agent_binary = options.agent.empty() ? default_agent() : options.agent;
  spec.agent_interval_s = options.interval_s;
  spec.keep_files = options.keep_files;
  spec.iscsi_disks = options.iscsi_disks;

  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal_number, &action, nullptr);

  std::unique_ptr<lab::Lab> lab;
  try {
    lab = std::make_unique<lab::Lab>(spec);
    auto started_at = std::chrono::steady_clock::now();
    lab->start();
    std::cout << fmt::format(
        "lab up in {:.1f} s\n",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count());
  } catch (const lab::LabError& error) {
    throw InputError(error.what());
  }
  const auto& files = lab->files();
  std::cout << fmt::format("config:    {}\n", files.config.string())
            << fmt::format("inventory: {}\n", files.inventory.string())
            << fmt::format("heartbeat: {}:{} (UDP, key {})\n", lab->heartbeat_address(),
                           lab->heartbeat_port(), files.key.string())
            << fmt::format("leases:    {}\n", files.lease_dir.string())
            << fmt::format("api:       127.0.0.1:{} (revived's listen address)\n", lab->api_port());
  if (auto* array = lab->array()) {
    std::cout << fmt::format("array:     lab-array: tgtd portal {}, control socket {}\n", array->portal(),
                             array->control_socket());
  }
  for (const auto& host : lab->hosts()) {
    std::cout << fmt::format("host {}: {}\n  bmc 127.0.0.1:{} (user admin, password file {})\n  vms: {}\n",
                             host.name, host.uri, host.bmc_port, host.bmc_password_file.string(),
                             fmt::join(host.vms, " "));
    if (!host.initiator.empty()) std::cout << fmt::format("  initiator: {}\n", host.initiator);
  }
  if (!lab->hosts().empty()) {
    const auto& first = lab->hosts().front();
    std::cout << fmt::format(
        "try:  virsh -c '{}' list\n      ipmitool -I lanplus -C 3 -H 127.0.0.1 -p {} -U admin -f {} chassis "
        "power off\n",
        first.uri, first.bmc_port, first.bmc_password_file.string());
  }
  std::cout << (options.for_s > 0 ? fmt::format("tearing down in {:g} s (or on Ctrl-C)\n", options.for_s)
                                  : std::string("Ctrl-C tears the lab down\n"))
            << std::flush;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options.for_s);
  while (!stop_requested && (options.for_s <= 0 || std::chrono::steady_clock::now() < deadline)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto stopping_at = std::chrono::steady_clock::now();
  lab->stop();
  std::cout << fmt::format(
                   "lab down in {:.1f} s{}\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - stopping_at).count(),
                   options.keep_files ? " (files kept in " + files.root.string() + ")" : "")
            << std::flush;
  return kExitOk;
}

}  // namespace

void add_lab_commands(CLI::App& app) {
  auto* lab =
      app.add_subcommand("lab", "A small real cloud on this machine (libvirtd, ipmi_sim BMCs, agents)");
  lab->require_subcommand(1);
  auto options = std::make_shared<LabOptions>();
  auto* up = lab->add_subcommand(
      "up", "Bring a lab up under --dir, print revived's config file, tear it down on Ctrl-C (needs root)");
  up->add_option("--dir", options->dir, "Directory for everything of the lab (removed at teardown)")
      ->required();
  up->add_option("--test-driver-hosts", options->test_driver_hosts, "Hosts running libvirt's test driver")
      ->capture_default_str()
      ->check(CLI::Range(0, 40));
  up->add_option("--vms", options->vms_per_host, "Test-driver VMs per test-driver host")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  up->add_option("--session-hosts", options->session_hosts,
                 "Hosts running an unprivileged QEMU session libvirtd (real TCG guests)")
      ->capture_default_str()
      ->check(CLI::Range(0, 8));
  up->add_option("--guests", options->guests_per_session_host, "32 MiB QEMU guests per session host")
      ->capture_default_str()
      ->check(CLI::Range(0, 8));
  up->add_option("--agent", options->agent,
                 "revive-agent binary (default: the one beside revive; none: no agents)");
  up->add_option("--interval", options->interval_s, "Agents' heartbeat and lease interval, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 60.0));
  up->add_option("--for", options->for_s, "Tear down after this many seconds (default: wait for Ctrl-C)");
  up->add_flag("--keep-files", options->keep_files, "Leave --dir (logs) in place at teardown");
  up->add_flag(
      "--iscsi-disks", options->iscsi_disks,
      "QEMU guests' disks on a tgtd array (one target per guest, access by the host's initiator name)");
  up->callback([options] { set_exit_status(lab_up(*options)); });
}

}  // namespace revive::cli

// The lab (src/lab/lab.h) as revived and the demo use it: a real small cloud brought up (2 test-driver hosts
// with 3 VMs each, 2 QEMU session hosts with 1 guest each, a BMC and an agent per host), checked from outside
// the lab (virsh, ipmitool, a HeartbeatReceiver, /proc), faulted, and torn down without leaving a process, a
// namespace or a file. Real processes on the wall clock: every wait is bounded and polls its condition.
// Bring-up and teardown times are printed, never asserted.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "detect/heartbeat_protocol.h"
#include "detect/heartbeat_receiver.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "lab/lab.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

lab::ShellResult run(const std::vector<std::string>& argv, double timeout_s = 30.0) {
  std::string line;
  for (const auto& argument : argv) line += "'" + argument + "' ";
  return lab::shell(line, timeout_s);
}

// `virsh list --name` through a connection of its own (root), not the lab's.
std::vector<std::string> virsh_running(const std::string& uri) {
  auto result = run({"virsh", "-c", uri, "list", "--name"}, 20.0);
  std::vector<std::string> names;
  std::istringstream lines(result.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) names.push_back(line);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Live processes (not zombies) whose command line or environment mentions `marker`.
std::vector<int> processes_mentioning(const std::string& marker) {
  std::vector<int> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::string text;
    for (const char* file : {"cmdline", "environ"}) {
      std::ifstream in(entry.path() / file, std::ios::binary);
      text += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    if (text.find(marker) != std::string::npos && lab::process_alive(pid)) found.push_back(pid);
  }
  return found;
}

unsigned file_mode(const std::filesystem::path& path) {
  struct stat info {};
  ::stat(path.c_str(), &info);
  return info.st_mode & 0777;
}

// Counts the agents' verified heartbeats per host, as revived's receiver would get them.
struct HeartbeatCounter {
  HeartbeatCounter(const lab::Lab& lab, const std::string& key) {
    for (std::size_t i = 0; i < lab.hosts().size(); ++i) names[lab.hosts()[i].name] = i;
    receiver = std::make_unique<detect::HeartbeatReceiver>(
        loop,
        detect::ReceiverOptions{.bind_address = lab.heartbeat_address(),
                                .port = static_cast<std::uint16_t>(lab.heartbeat_port()),
                                .key = key,
                                .max_skew_s = 30.0},
        names, [this](model::HostIndex host) { ++counts[host]; });
    receiver->start();
  }
  ~HeartbeatCounter() { receiver->stop(); }
  int count(const std::string& host) { return counts[names.at(host)]; }
  // Runs the loop until every host in `hosts` has `more` heartbeats beyond now.
  bool more_from(const std::vector<std::string>& hosts, int more, double timeout_s) {
    std::map<std::string, int> start;
    for (const auto& host : hosts) start[host] = count(host);
    return loop.run_until(
        [&] {
          for (const auto& host : hosts) {
            if (count(host) < start[host] + more) return false;
          }
          return true;
        },
        timeout_s);
  }
  drivers::WallClockLoop loop;
  detect::HostNames names;
  std::map<model::HostIndex, int> counts;
  std::unique_ptr<detect::HeartbeatReceiver> receiver;
};

bool lab_tools_present(std::string* missing) {
  for (const char* tool : {"libvirtd", "ipmi_sim", "ipmitool", "ip", "setpriv", "virsh"}) {
    if (!lab::have_tool(tool)) {
      *missing = tool;
      return false;
    }
  }
  return true;
}

TEST(Lab, RejectsASpecWithoutRootOrHosts) {
  EXPECT_THROW(lab::Lab(lab::LabSpec{}), lab::LabError);
  lab::LabSpec none;
  none.root = "/tmp/unused-lab";
  none.test_driver_hosts = 0;
  EXPECT_THROW(lab::Lab{none}, lab::LabError);
}

TEST(Lab, BringsUpARealCloudInjectsFaultsAndLeavesNothingBehind) {
  if (::geteuid() != 0) GTEST_SKIP() << "the lab needs root (network namespaces, session daemons)";
  std::string missing;
  if (!lab_tools_present(&missing)) GTEST_SKIP() << missing << " not installed (scripts/install-deps.sh)";
  const bool qemu = lab::have_tool("qemu-system-x86_64");
  testing::TempDir dir;
  lab::LabSpec spec;
  spec.root = dir.path() / "lab";
  spec.test_driver_hosts = 2;
  spec.session_hosts = qemu ? 2 : 0;
  spec.guests_per_session_host = 1;
  spec.agent_binary = REVIVE_AGENT;
  spec.agent_interval_s = 0.2;
  auto lab = std::make_unique<lab::Lab>(spec);

  auto started_at = std::chrono::steady_clock::now();
  ASSERT_NO_THROW(lab->start());
  const double bring_up_s = seconds_since(started_at);
  std::cout << "bring-up: " << bring_up_s << " s (" << lab->hosts().size() << " hosts)\n";
  const std::string root = lab->files().root.string();

  // The files revived reads: a valid inventory, a config naming it, secrets only the owner reads.
  auto validated = testing::run_cli({"inventory", "validate", lab->files().inventory.string()}, 60);
  EXPECT_EQ(validated.exit_status, 0) << validated.out << validated.err;
  std::string config = testing::read_file(lab->files().config);
  EXPECT_NE(config.find("listen: \"127.0.0.1:" + std::to_string(lab->api_port()) + "\""), std::string::npos)
      << config;
  EXPECT_NE(config.find(lab->files().inventory.string()), std::string::npos) << config;
  EXPECT_NE(config.find(lab->heartbeat_address() + ":" + std::to_string(lab->heartbeat_port())),
            std::string::npos)
      << config;
  EXPECT_EQ(file_mode(lab->files().key), 0600u);
  std::string inventory = testing::read_file(lab->files().inventory);
  for (const auto& host : lab->hosts()) {
    EXPECT_EQ(file_mode(host.bmc_password_file), 0600u) << host.name;
    EXPECT_NE(inventory.find(host.uri), std::string::npos) << host.name;
  }
  EXPECT_NE(inventory.find("after: [td0-vm0]"), std::string::npos) << inventory;

  // Every VM runs where expected, seen through connections of the test's own.
  for (const auto& host : lab->hosts()) {
    EXPECT_EQ(virsh_running(host.uri), host.vms) << host.name;
    EXPECT_EQ(lab->running_vms(host.name), host.vms) << host.name;
    EXPECT_TRUE(lab->powered_on(host.name)) << host.name;
    auto pids = lab->pids(host.name);
    EXPECT_GT(pids.libvirtd, 0) << host.name;
    EXPECT_GT(pids.agent, 0) << host.name;
    EXPECT_GT(pids.bmc, 0) << host.name;
  }

  // The agents' heartbeats arrive, verified with the lab's key; their leases are written.
  HeartbeatCounter heartbeats(*lab, detect::read_key_file(lab->files().key.string()));
  std::vector<std::string> all_hosts;
  for (const auto& host : lab->hosts()) all_hosts.push_back(host.name);
  EXPECT_TRUE(heartbeats.more_from(all_hosts, 3, 15.0));
  for (const auto& host : all_hosts) {
    EXPECT_TRUE(std::filesystem::exists(lab->files().lease_dir / (host + ".lease"))) << host;
  }

  const auto& td0 = lab->hosts()[0];
  const auto& td1 = lab->hosts()[1];
  // A test-driver VM restarted elsewhere: its XML from td0 defines and starts it on td1 (then undone).
  {
    auto xml = run({"virsh", "-c", td0.uri, "dumpxml", "td0-vm1"});
    ASSERT_EQ(xml.exit_status, 0) << xml.err;
    auto file = dir.write("td0-vm1.xml", xml.out);
    auto moved = run({"virsh", "-c", td1.uri, "define", file.string()});
    EXPECT_EQ(moved.exit_status, 0) << moved.err;
    EXPECT_EQ(run({"virsh", "-c", td1.uri, "start", "td0-vm1"}).exit_status, 0);
    EXPECT_EQ(lab->running_vms("td1"),
              (std::vector<std::string>{"td0-vm1", "td1-vm0", "td1-vm1", "td1-vm2"}));
    run({"virsh", "-c", td1.uri, "destroy", "td0-vm1"});
    run({"virsh", "-c", td1.uri, "undefine", "td0-vm1"});
  }

  // kill_vm: the VM dies behind libvirt's back.
  EXPECT_TRUE(lab->kill_vm("td1-vm2"));
  EXPECT_EQ(lab->running_vms("td1"), (std::vector<std::string>{"td1-vm0", "td1-vm1"}));
  EXPECT_EQ(virsh_running(td1.uri), (std::vector<std::string>{"td1-vm0", "td1-vm1"}));
  EXPECT_FALSE(lab->kill_vm("td1-vm2"));  // runs nowhere now

  if (qemu) {
    const auto& q0 = lab->hosts()[2];
    const auto& q1 = lab->hosts()[3];
    // Live migration between the session hosts, as revived's driver does it (migration URI tcp://127.0.0.1).
    auto migrated_at = std::chrono::steady_clock::now();
    auto migrated = run({"virsh", "-c", q0.uri, "migrate", "--live", "--persistent", "--undefinesource",
                         "qemu0-g0", q1.uri, "--migrateuri", "tcp://127.0.0.1"},
                        60.0);
    EXPECT_EQ(migrated.exit_status, 0) << migrated.out << migrated.err;
    std::cout << "live migration qemu0 -> qemu1: " << seconds_since(migrated_at) << " s\n";
    EXPECT_EQ(lab->running_vms("qemu1"), (std::vector<std::string>{"qemu0-g0", "qemu1-g0"}));
    EXPECT_TRUE(lab->running_vms("qemu0").empty());
    // kill_vm of a QEMU guest: its qemu process is killed.
    int qemu_pid = -1;
    for (int pid : lab->pids("qemu1").qemu) qemu_pid = std::max(qemu_pid, pid);
    EXPECT_TRUE(lab->kill_vm("qemu1-g0"));
    EXPECT_EQ(lab->running_vms("qemu1"), std::vector<std::string>{"qemu0-g0"});
    EXPECT_TRUE(
        lab::eventually([&] { return virsh_running(q1.uri) == std::vector<std::string>{"qemu0-g0"}; }, 10.0));
    (void)qemu_pid;
  }

  // isolate: heartbeats stop, the lease keeps renewing, libvirtd hangs; the VMs keep running. heal undoes it.
  {
    lab->isolate("td1");
    int libvirtd = lab->pids("td1").libvirtd;
    EXPECT_EQ(lab::process_state(libvirtd), 'T');
    heartbeats.loop.run_until([] { return false; }, 0.5);  // heartbeats in flight arrive
    int before = heartbeats.count("td1");
    std::string lease_before = testing::read_file(lab->files().lease_dir / "td1.lease");
    EXPECT_TRUE(heartbeats.more_from({"td0"}, 5, 10.0));
    EXPECT_EQ(heartbeats.count("td1"), before);
    EXPECT_NE(testing::read_file(lab->files().lease_dir / "td1.lease"), lease_before);
    EXPECT_EQ(lab->running_vms("td1"), (std::vector<std::string>{"td1-vm0", "td1-vm1"}));
    lab->heal("td1");
    EXPECT_NE(lab::process_state(libvirtd), 'T');
    EXPECT_TRUE(heartbeats.more_from({"td1"}, 3, 10.0));
    EXPECT_EQ(virsh_running(td1.uri), (std::vector<std::string>{"td1-vm0", "td1-vm1"}));
  }

  // Power off through the BMC, as revived's IpmitoolFencer does: the host's libvirtd, VMs and agent die.
  auto ipmitool = [&](const lab::LabHost& host, const std::string& action) {
    return run(
        {"ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", std::to_string(host.bmc_port), "-U",
         "admin", "-f", host.bmc_password_file.string(), "chassis", "power", action},
        20.0);
  };
  {
    auto before = lab->pids("td0");
    auto off = ipmitool(td0, "off");
    EXPECT_EQ(off.exit_status, 0) << off.out << off.err;
    EXPECT_FALSE(lab::process_alive(before.libvirtd));
    EXPECT_FALSE(lab::process_alive(before.agent));
    EXPECT_FALSE(lab->powered_on("td0"));
    EXPECT_NE(ipmitool(td0, "status").out.find("off"), std::string::npos);
    EXPECT_TRUE(lab::eventually([&] { return lab->pids("td0").libvirtd < 0; }, 5.0));
    EXPECT_TRUE(lab->running_vms("td0").empty());
    int silent = heartbeats.count("td0");
    EXPECT_TRUE(heartbeats.more_from({"td1"}, 3, 10.0));
    EXPECT_EQ(heartbeats.count("td0"), silent);
    // Power on: a rebooted host, empty, with its agent back.
    EXPECT_EQ(ipmitool(td0, "on").exit_status, 0);
    EXPECT_TRUE(
        lab::eventually([&] { return lab->pids("td0").libvirtd > 0 && lab->pids("td0").agent > 0; }, 20.0));
    EXPECT_TRUE(virsh_running(td0.uri).empty());
    EXPECT_TRUE(heartbeats.more_from({"td0"}, 3, 10.0));
  }
  if (qemu) {
    const auto& q1 = lab->hosts()[3];
    auto before = lab->pids("qemu1");
    ASSERT_FALSE(before.qemu.empty());
    EXPECT_EQ(ipmitool(q1, "off").exit_status, 0);
    for (int pid : before.qemu) EXPECT_FALSE(lab::process_alive(pid)) << "qemu " << pid;
    EXPECT_FALSE(lab::process_alive(before.libvirtd));
    EXPECT_FALSE(lab::process_alive(before.agent));
    EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(before.virtlogd); }, 5.0));
    EXPECT_TRUE(lab->running_vms("qemu1").empty());
  }

  // crash: everything of td1 dies at once, but its BMC still says on.
  {
    auto before = lab->pids("td1");
    lab->crash("td1");
    EXPECT_FALSE(lab::process_alive(before.libvirtd));
    EXPECT_FALSE(lab::process_alive(before.agent));
    EXPECT_TRUE(lab->powered_on("td1"));
    EXPECT_NE(ipmitool(td1, "status").out.find("on"), std::string::npos);
    EXPECT_TRUE(lab->running_vms("td1").empty());
    EXPECT_EQ(lab->pids("td1").libvirtd, -1);
    // Only a power cycle through the BMC brings it back (rebooted: nothing running).
    auto cycle = ipmitool(td1, "cycle");
    EXPECT_EQ(cycle.exit_status, 0) << cycle.out << cycle.err;
    EXPECT_TRUE(
        lab::eventually([&] { return lab->pids("td1").libvirtd > 0 && lab->pids("td1").agent > 0; }, 20.0));
    EXPECT_TRUE(virsh_running(td1.uri).empty());
    EXPECT_TRUE(heartbeats.more_from({"td1"}, 3, 10.0));
  }

  // Teardown: nothing left, neither process nor namespace nor file.
  auto pids = lab->all_pids();
  EXPECT_FALSE(pids.empty());
  std::string bridge = "rvlab" + lab->heartbeat_address().substr(8, lab->heartbeat_address().rfind('.') - 8);
  auto stopped_at = std::chrono::steady_clock::now();
  lab.reset();
  const double teardown_s = seconds_since(stopped_at);
  std::cout << "teardown: " << teardown_s << " s\n";
  for (int pid : pids) EXPECT_FALSE(lab::process_alive(pid)) << "pid " << pid << " survived";
  EXPECT_EQ(processes_mentioning(root), std::vector<int>{});
  EXPECT_EQ(processes_mentioning("/tmp/" + bridge + "/"), std::vector<int>{});  // the session daemons' dirs
  EXPECT_FALSE(std::filesystem::exists("/tmp/" + bridge));
  EXPECT_FALSE(std::filesystem::exists(root));
  EXPECT_NE(lab::shell("ip link show " + bridge + " 2>&1").exit_status, 0);
  EXPECT_EQ(lab::shell("ip netns list | grep " + bridge + "-").out, "");
  RecordProperty("bring_up_s", std::to_string(bring_up_s));
  RecordProperty("teardown_s", std::to_string(teardown_s));
}

TEST(Lab, RevivesLabUpCommandBringsALabUpAndTearsItDown) {
  if (::geteuid() != 0) GTEST_SKIP() << "the lab needs root (network namespaces, session daemons)";
  std::string missing;
  if (!lab_tools_present(&missing)) GTEST_SKIP() << missing << " not installed (scripts/install-deps.sh)";
  testing::TempDir dir;
  auto root = dir.path() / "cli-lab";
  auto result = testing::run_cli({"lab", "up", "--dir", root.string(), "--test-driver-hosts", "1", "--vms",
                                  "1", "--agent", REVIVE_AGENT, "--for", "1"},
                                 120);
  EXPECT_EQ(result.exit_status, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("config:    " + (root / "revived.yaml").string()), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("vms: td0-vm0"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("lab down in"), std::string::npos) << result.out;
  EXPECT_FALSE(std::filesystem::exists(root));
  EXPECT_EQ(processes_mentioning(root.string()), std::vector<int>{});
}

}  // namespace
}  // namespace revive

#include "lab/lab.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "drivers/tgt/tgt_storage.h"
#include "lab/ipmi_sim_bmc.h"
#include "lab/libvirt_daemons.h"
#include "lab/real_processes.h"
#include "lab/tgt_daemon.h"

namespace revive::lab {

namespace {

enum class State { down, up, crashed, isolated, off };

void write_text(const std::filesystem::path& path, const std::string& text, unsigned mode = 0644) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  ::chmod(path.c_str(), mode);
}

std::string tail(const std::string& text, std::size_t characters = 3000) {
  return text.size() <= characters ? text : text.substr(text.size() - characters);
}

// Runs an `ip` command line; throws LabError with its output when it fails.
void ip(const std::string& arguments) {
  auto result = shell("ip " + arguments + " 2>&1", 10.0);
  if (result.exit_status != 0) throw LabError("ip " + arguments + ": " + result.out);
}

// A YAML double-quoted scalar.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The inventory label telling the two kinds of host apart: a VM only runs on its own kind.
// The lab's iSCSI names: hosts' initiators PREFIX:HOST, the array's targets PREFIX:DISK.
constexpr const char* kLabIqnPrefix = "iqn.2026-12.lab.revive";
constexpr const char* kLabArray = "lab-array";

std::string disk_of(const std::string& vm) {
  return vm + "-root";
}

const char* hypervisor_label(HostKind kind) {
  return kind == HostKind::test_driver ? "test" : "qemu";
}

struct VmPlan {
  std::string name;
  VmSize size;
  std::string priority;
  std::vector<std::string> after;
};

}  // namespace

namespace detail {

struct LabRuntime {
  struct Host {
    LabHost* info = nullptr;
    std::filesystem::path dir;
    std::unique_ptr<TestDriverDaemon> test_driver;
    std::unique_ptr<SessionDaemon> session;
    std::unique_ptr<IpmiSimBmc> bmc;
    BackgroundProcess agent;
    std::vector<VmPlan> vms;
    std::string netns, outer_link, inner_link;
    State state = State::down;
    std::size_t power_offs_seen = 0;    // BMC power-off requests handled
    std::vector<std::string> snapshot;  // running VMs when isolated (test driver)
  };

  std::mutex mutex;
  std::vector<Host> hosts;
  std::unique_ptr<TgtDaemon> array;  // LabSpec::iscsi_disks
  std::string bridge;
  int subnet = 0;  // 169.254.SUBNET.0/24
  bool network_up = false;
  std::thread watcher;
  std::atomic<bool> stopping{false};
  std::condition_variable_any wake;

  std::string bridge_address() const { return fmt::format("169.254.{}.1", subnet); }
  // Session daemons live here (/tmp/BRIDGE), not under the root: QEMU's monitor socket paths under them must
  // stay within a unix socket path's 108 bytes. root/hosts/NAME/node links to it.
  std::filesystem::path short_dir() const { return "/tmp/" + bridge; }
};

}  // namespace detail

namespace {
using Runtime = detail::LabRuntime;
}

Lab::Lab(LabSpec spec) : spec_(std::move(spec)), runtime_(std::make_unique<detail::LabRuntime>()) {
  if (spec_.root.empty()) throw LabError("lab: a root directory is required");
  if (spec_.test_driver_hosts < 0 || spec_.session_hosts < 0 || spec_.guests_per_session_host < 0) {
    throw LabError("lab: host and guest counts must not be negative");
  }
  if (spec_.test_driver_hosts + spec_.session_hosts == 0) throw LabError("lab: no hosts");
  if (spec_.test_driver_hosts + spec_.session_hosts > 40) throw LabError("lab: at most 40 hosts");
  if (spec_.agent_interval_s <= 0) throw LabError("lab: agent_interval_s must be positive");
  for (const auto& priority : spec_.test_driver_priorities) {
    if (priority != "critical" && priority != "high" && priority != "medium" && priority != "low") {
      throw LabError("lab: priority " + priority + ": must be critical, high, medium or low");
    }
  }
  files_.root = std::filesystem::absolute(spec_.root).lexically_normal();
  if (files_.root.string().size() > 64) {
    throw LabError("lab: root " + files_.root.string() + " is too long (unix socket paths under it)");
  }
  files_.config = files_.root / "revived.yaml";
  files_.inventory = files_.root / "inventory.yaml";
  files_.key = files_.root / "heartbeat.key";
  files_.lease_dir = files_.root / "leases";
  files_.data_dir = files_.root / "data";
  heartbeat_port_ = free_udp_port();
  api_port_ = free_tcp_port();
  for (int i = 0; i < spec_.test_driver_hosts; ++i) {
    LabHost host;
    host.name = "td" + std::to_string(i);
    host.kind = HostKind::test_driver;
    for (std::size_t v = 0; v < spec_.test_driver_vms.size(); ++v) {
      host.vms.push_back(host.name + "-vm" + std::to_string(v));
    }
    hosts_.push_back(host);
  }
  for (int i = 0; i < spec_.session_hosts; ++i) {
    LabHost host;
    host.name = "qemu" + std::to_string(i);
    host.kind = HostKind::session;
    for (int g = 0; g < spec_.guests_per_session_host; ++g)
      host.vms.push_back(host.name + "-g" + std::to_string(g));
    if (spec_.iscsi_disks) host.initiator = std::string(kLabIqnPrefix) + ":" + host.name;
    hosts_.push_back(host);
  }
}

Lab::~Lab() {
  stop();
}

std::string Lab::heartbeat_address() const {
  return runtime_->bridge_address();
}

namespace {

Runtime::Host& find_host(Runtime& runtime, const std::string& name) {
  for (auto& host : runtime.hosts) {
    if (host.info->name == name) return host;
  }
  throw LabError("lab: no host " + name);
}

std::vector<int> live(std::vector<int> pids) {
  std::erase_if(pids, [](int pid) { return pid <= 0 || !process_alive(pid); });
  return pids;
}

// Waits (bounded) until none of `pids` is alive (zombies count as gone: PID 1 reaps them late).
void wait_gone(const std::vector<int>& pids, double timeout_s) {
  eventually([&] { return live(pids).empty(); }, timeout_s);
}

int pid_from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  int pid = -1;
  if (!(in >> pid) || !process_alive(pid)) return -1;
  return pid;
}

HostPids host_pids(Runtime::Host& host) {
  HostPids pids;
  auto alive = [](int pid) { return pid > 0 && process_alive(pid) ? pid : -1; };
  if (host.test_driver) pids.libvirtd = alive(host.test_driver->pid());
  if (host.session) {
    pids.libvirtd = alive(host.session->pid());
    for (const auto& guest : host.session->running_guests()) {
      int pid = host.session->qemu_pid(guest);
      if (pid > 0) pids.qemu.push_back(pid);
    }
    pids.virtlogd = pid_from_file(host.session->directory() / "run/libvirt/virtlogd.pid");
  }
  pids.agent = alive(host.agent.pid());
  if (host.bmc) pids.bmc = alive(host.bmc->pid());
  return pids;
}

}  // namespace

// ---------------------------------------------------------------------------------------- bring-up

namespace {

struct Bringup {
  const LabSpec& spec;
  const LabFiles& files;
  Runtime& runtime;
  int heartbeat_port;

  void network() {
    // A bridge of this lab on a /24 of 169.254.1-99 (link-local; other labs take other numbers).
    std::minstd_rand random(
        static_cast<unsigned>(::getpid()) ^
        static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::string last_error;
    for (int attempt = 0; attempt < 40 && !runtime.network_up; ++attempt) {
      int subnet = 1 + static_cast<int>(random() % 99);
      std::string bridge = "rvlab" + std::to_string(subnet);
      auto result = shell("ip link add " + bridge + " type bridge 2>&1", 10.0);
      if (result.exit_status != 0) {
        last_error = result.out;
        continue;
      }
      runtime.bridge = bridge;
      runtime.subnet = subnet;
      runtime.network_up = true;
    }
    if (!runtime.network_up) throw LabError("lab: cannot create a bridge: " + last_error);
    std::filesystem::remove_all(runtime.short_dir());  // a crashed lab's (no lab runs on this bridge)
    std::filesystem::create_directories(runtime.short_dir());
    ::chmod(runtime.short_dir().c_str(), 0755);
    ip("addr add " + runtime.bridge_address() + "/24 dev " + runtime.bridge);
    ip("link set " + runtime.bridge + " up");
    int index = 0;
    for (auto& host : runtime.hosts) {
      ++index;
      host.netns = runtime.bridge + "-" + host.info->name;
      host.outer_link = runtime.bridge + "h" + std::to_string(index);
      host.inner_link = runtime.bridge + "n" + std::to_string(index);
      host.info->agent_address = fmt::format("169.254.{}.{}", runtime.subnet, 10 + index);
      ip("netns add " + host.netns);
      ip("link add " + host.outer_link + " type veth peer name " + host.inner_link);
      ip("link set " + host.inner_link + " netns " + host.netns);
      ip("link set " + host.outer_link + " master " + runtime.bridge);
      ip("link set " + host.outer_link + " up");
      ip("netns exec " + host.netns + " ip addr add " + host.info->agent_address + "/24 dev " +
         host.inner_link);
      ip("netns exec " + host.netns + " ip link set " + host.inner_link + " up");
      ip("netns exec " + host.netns + " ip link set lo up");
    }
  }

  // The processes a power-off kills: the daemon's and the agent's pids; the daemon's directory as a marker
  // catches what libvirt daemonised (qemu, virtlogd).
  static void arm_bmc(Runtime::Host& host) {
    std::vector<int> pids;
    if (host.test_driver && host.test_driver->pid() > 0) pids.push_back(host.test_driver->pid());
    if (host.session && host.session->pid() > 0) pids.push_back(host.session->pid());
    if (host.agent.pid() > 0) pids.push_back(host.agent.pid());
    host.bmc->set_victim_pids(pids);
  }

  void start_agent(Runtime::Host& host) const {
    if (spec.agent_binary.empty()) return;
    std::vector<std::string> argv{
        "ip",
        "netns",
        "exec",
        host.netns,
        spec.agent_binary.string(),
        "--host",
        host.info->name,
        "--controller",
        fmt::format("{}:{}", runtime.bridge_address(), heartbeat_port),
        "--key-file",
        files.key.string(),
        "--lease-dir",
        files.lease_dir.string(),
        "--interval",
        fmt::format("{:g}", spec.agent_interval_s),
        "--self-fence-command",
        "/bin/sh " + (host.bmc->directory() / "chassis.sh").string() + " 0x20 set power 0"};
    argv.insert(argv.end(), spec.agent_extra_args.begin(), spec.agent_extra_args.end());
    host.agent = BackgroundProcess(argv, host.dir / "agent.log");
  }

  // Starts the host's libvirtd (empty) and its agent; the caller holds the lock or owns the host alone.
  void boot(Runtime::Host& host) const {
    std::string error;
    if (host.test_driver) {
      if (!host.test_driver->start(20.0, &error)) throw LabError("lab: " + host.info->name + ": " + error);
      // test:///default (the instance all connections share) comes with a running domain "test": a lab host
      // runs only its own VMs.
      host.test_driver->destroy_domain("test");
      host.test_driver->undefine_domain("test");
    } else if (!host.session->start(20.0, &error)) {
      throw LabError("lab: " + host.info->name + ": " + error);
    }
    if (!host.netns.empty()) shell("ip link set " + host.outer_link + " up", 10.0);
    start_agent(host);
    arm_bmc(host);
    host.state = State::up;
  }

  void host(Runtime::Host& host) const {
    std::filesystem::create_directories(host.dir);
    host.bmc = std::make_unique<IpmiSimBmc>(host.dir / "bmc", "lab-" + host.info->name + "-pw");
    host.info->bmc_password_file = host.bmc->password_file();
    host.bmc->add_victim_marker(
        ((host.info->kind == HostKind::session ? runtime.short_dir() / host.info->name : host.dir / "node") /
         "")
            .string());
    std::string error;
    if (!host.bmc->start(15.0, &error)) throw LabError("lab: " + host.info->name + ": " + error);
    host.info->bmc_port = host.bmc->port();
    if (host.info->kind == HostKind::test_driver) {
      // test:///default, not a node file: each connection to test:///FILE gets a private instance of its own,
      // so revived would not see what the lab defined.
      host.test_driver = std::make_unique<TestDriverDaemon>(host.dir / "node");
      host.info->uri = host.test_driver->uri();
    } else {
      int index = static_cast<int>(&host - runtime.hosts.data());
      // Disjoint migration port ranges of 51 ports per session host.
      int base = 49152 + ((heartbeat_port % 97) * 2 + runtime.subnet) % 40 * 300;
      host.session = std::make_unique<SessionDaemon>(runtime.short_dir() / host.info->name, base + index * 60,
                                                     spec.session_uid);
      std::filesystem::create_directory_symlink(runtime.short_dir() / host.info->name, host.dir / "node");
      host.info->uri = host.session->uri();
    }
    boot(host);
    for (const auto& vm : host.vms) {
      bool ok = false;
      if (host.test_driver) {
        ok =
            host.test_driver->define_domain(test_domain_xml(vm.name, vm.size.cpus, vm.size.memory_mib), true);
        error = "define/start failed: " + tail(host.test_driver->log());
      } else if (runtime.array) {
        std::string target = runtime.array->add_disk(disk_of(vm.name), 16);
        auto granted = runtime.array->admin().map(target, host.info->initiator);
        if (!granted.ok) throw LabError("lab: " + host.info->name + ": VM " + vm.name + ": " + granted.error);
        ok = host.session->define_domain(
            qemu_iscsi_domain_xml(vm.name, runtime.array->portal(), target, host.info->initiator), true,
            &error);
        if (!ok) error += "\n" + tail(host.session->log());
      } else {
        ok = host.session->define_domain(qemu_tiny_domain_xml(vm.name), true, &error);
        if (!ok) error += "\n" + tail(host.session->log());
      }
      if (!ok) throw LabError("lab: " + host.info->name + ": VM " + vm.name + ": " + error);
    }
  }
};

}  // namespace

void Lab::start() {
  std::lock_guard lock(runtime_->mutex);
  if (!runtime_->hosts.empty()) throw LabError("lab: already started");
  if (::geteuid() != 0) throw LabError("lab: needs root (network namespaces, session daemons' uid)");
  for (const char* tool : {"libvirtd", "ipmi_sim", "ipmitool", "ip", "setpriv"}) {
    if (!have_tool(tool))
      throw LabError(std::string("lab: ") + tool + " not installed (scripts/install-deps.sh)");
  }
  if (spec_.session_hosts > 0 && !have_tool("qemu-system-x86_64")) {
    throw LabError("lab: qemu-system-x86_64 not installed");
  }
  if (!spec_.agent_binary.empty() && ::access(spec_.agent_binary.c_str(), X_OK) != 0) {
    throw LabError("lab: agent binary " + spec_.agent_binary.string() + " is not executable");
  }
  std::filesystem::create_directories(files_.root);
  ::chmod(files_.root.c_str(), 0755);  // the session daemons' uid must reach its directories
  std::filesystem::create_directories(files_.lease_dir);
  std::filesystem::create_directories(files_.data_dir);
  {
    std::random_device random;
    write_text(files_.key, fmt::format("lab-{:08x}{:08x}{:08x}\n", random(), random(), random()), 0600);
  }

  auto& runtime = *runtime_;
  runtime.hosts.resize(hosts_.size());
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    auto& host = runtime.hosts[i];
    host.info = &hosts_[i];
    host.dir = files_.root / "hosts" / hosts_[i].name;
    const auto& names = hosts_[i].vms;
    for (std::size_t v = 0; v < names.size(); ++v) {
      VmPlan plan;
      plan.name = names[v];
      if (hosts_[i].kind == HostKind::test_driver) {
        plan.size = spec_.test_driver_vms[v];
        plan.priority = v < spec_.test_driver_priorities.size() ? spec_.test_driver_priorities[v]
                        : v == 0                                ? "critical"
                        : v == 1                                ? "high"
                                                                : "medium";
        // One ordering rule: the last VM of the first host starts after its first.
        if (i == 0 && v + 1 == names.size() && v > 0) plan.after = {names[0]};
      } else {
        plan.size = VmSize{1, 32};
        plan.priority = "high";
      }
      host.vms.push_back(plan);
    }
  }
  Bringup bringup{spec_, files_, runtime, heartbeat_port_};
  try {
    bringup.network();
    if (spec_.iscsi_disks && spec_.session_hosts > 0) {
      for (const char* tool : {"tgtd", "tgtadm"}) {
        if (!have_tool(tool))
          throw LabError(std::string("lab: ") + tool + " not installed (scripts/install-deps.sh)");
      }
      runtime.array = std::make_unique<TgtDaemon>(files_.root / "array", kLabIqnPrefix);
      std::string error;
      if (!runtime.array->start(10.0, &error)) throw LabError("lab: the iSCSI array: " + error);
    }
    // Hosts come up in parallel (the session daemons' first define runs QEMU's capability probe, ~2-4 s).
    std::vector<std::future<void>> started;
    for (auto& host : runtime.hosts) {
      started.push_back(std::async(std::launch::async, [&bringup, &host] { bringup.host(host); }));
    }
    std::string errors;
    for (auto& future : started) {
      try {
        future.get();
      } catch (const std::exception& error) {
        errors += std::string(error.what()) + "\n";
      }
    }
    if (!errors.empty()) throw LabError(errors);
  } catch (...) {
    runtime_->mutex.unlock();
    stop();
    runtime_->mutex.lock();
    throw;
  }

  // The inventory: one endpoint per host (its libvirtd), the VMs as policy entries.
  std::string inventory =
      "# Written by the lab (src/lab/lab.h): the hosts of this machine's lab and their VMs.\nversion: 1\n"
      "endpoints:\n";
  for (const auto& host : hosts_) inventory += "  - {name: " + host.name + "-libvirtd, max_parallel: 8}\n";
  if (runtime.array) inventory += fmt::format("arrays:\n  - {{name: {}, max_parallel: 4}}\n", kLabArray);
  inventory += "hosts:\n";
  for (const auto& host : hosts_) {
    inventory += fmt::format(
        "  - name: {}\n    cpus: {}\n    memory_mib: {}\n    arch: {}\n    endpoint: {}-libvirtd\n    uri: "
        "{}\n"
        "    bmc: {{address: 127.0.0.1, port: {}, user: {}, password_file: {}}}\n"
        "    labels: {{hypervisor: {}}}\n",
        // A test-driver domain cannot run on a QEMU host nor the reverse: different "architectures", so the
        // planner never moves a VM from one kind to the other (VMs revived discovers outside the inventory
        // too); the label says the same for people and label rules.
        host.name, spec_.host_cpus, spec_.host_memory_mib,
        host.kind == HostKind::test_driver ? "libvirt-test" : "x86_64", host.name, quoted(host.uri),
        host.bmc_port, IpmiSimBmc::user(), quoted(host.bmc_password_file.string()),
        hypervisor_label(host.kind));
    if (!host.initiator.empty())
      inventory += fmt::format("    arrays: [{}]\n    initiator: {}\n", kLabArray, quoted(host.initiator));
  }
  inventory += "vms:\n";
  for (const auto& host : runtime.hosts) {
    for (const auto& vm : host.vms) {
      inventory += fmt::format(
          "  - {{name: {}, host: {}, cpus: {}, memory_mib: {}, priority: {}, require_labels: {{hypervisor: "
          "{}}}",
          vm.name, host.info->name, vm.size.cpus, vm.size.memory_mib, vm.priority,
          hypervisor_label(host.info->kind));
      if (!vm.after.empty()) inventory += ", after: [" + fmt::format("{}", fmt::join(vm.after, ", ")) + "]";
      if (runtime.array && host.info->kind == HostKind::session)
        inventory +=
            fmt::format(", disks: [{{name: {}, array: {}, size_gib: 1}}]", disk_of(vm.name), kLabArray);
      inventory += "}\n";
    }
  }
  write_text(files_.inventory, inventory);

  std::string config = fmt::format(
      "# revived's configuration for this lab (src/daemon/config.h, docs/config.md), written by the lab.\n"
      "listen: \"127.0.0.1:{}\"\n"
      "data_dir: {}\n"
      "inventory: {}\n"
      "heartbeat:\n"
      "  listen: \"{}:{}\"\n"
      "  key_file: {}\n"
      "  lease_dir: {}\n"
      "fencing:\n"
      "  levels: [{}]\n",
      api_port_, quoted(files_.data_dir.string()), quoted(files_.inventory.string()),
      runtime.bridge_address(), heartbeat_port_, quoted(files_.key.string()),
      quoted(files_.lease_dir.string()), fmt::join(spec_.fence_levels, ", "));
  if (runtime.array) {
    config +=
        fmt::format("storage:\n  arrays:\n    {}: {{driver: tgt, control_socket: {}, target_prefix: {}}}\n",
                    kLabArray, quoted(runtime.array->control_socket()), kLabIqnPrefix);
  }
  if (spec_.session_hosts > 0) {
    config += "libvirt:\n  migration_uris:\n";
    for (const auto& host : hosts_) {
      if (host.kind == HostKind::session) config += "    " + host.name + ": \"tcp://127.0.0.1\"\n";
    }
  }
  write_text(files_.config, config);

  // Watches the BMCs: a host whose power went off is reaped (its processes were killed by the hook); one
  // whose power came back on boots.
  runtime.stopping = false;
  runtime.watcher = std::thread([this, bringup] {
    auto& rt = *runtime_;
    std::unique_lock watch_lock(rt.mutex);
    while (!rt.stopping) {
      for (auto& host : rt.hosts) {
        bool on = host.bmc->powered_on();
        // A power-off seen by its count too: `power cycle` turns power back on within milliseconds.
        std::size_t offs = host.bmc->power_offs();
        bool was_off = offs != host.power_offs_seen;
        host.power_offs_seen = offs;
        if ((!on || was_off) && host.state != State::off) {
          if (host.state == State::isolated && host.test_driver) host.test_driver->resume();
          if (host.state == State::isolated && host.session) host.session->resume();
          host.agent.stop();
          if (host.test_driver) host.test_driver->kill();
          if (host.session) host.session->stop();
          host.snapshot.clear();
          host.state = State::off;
        } else if (on && host.state == State::off) {
          try {
            bringup.boot(host);
          } catch (const std::exception& error) {
            std::ofstream(host.dir / "boot-errors.log", std::ios::app) << error.what() << "\n";
          }
        }
      }
      rt.wake.wait_for(watch_lock, std::chrono::milliseconds(50), [&] { return rt.stopping.load(); });
    }
  });
}

void Lab::stop() {
  auto& runtime = *runtime_;
  runtime.stopping = true;
  runtime.wake.notify_all();
  if (runtime.watcher.joinable()) runtime.watcher.join();
  std::lock_guard lock(runtime.mutex);
  if (runtime.hosts.empty() && !runtime.network_up) return;
  // Every host in parallel: agent, libvirtd (and what it daemonised), BMC, namespace.
  std::vector<std::future<void>> stopped;
  for (auto& host : runtime.hosts) {
    stopped.push_back(std::async(std::launch::async, [&host] {
      host.agent.stop();
      if (host.test_driver) host.test_driver->kill();  // SIGCONT first if paused
      if (host.session) {
        host.session->resume();
        host.session->stop();
      }
      if (host.bmc) {
        host.bmc->stop();
        host.bmc->kill_victims();
      }
      if (!host.netns.empty()) {
        shell("ip link del " + host.outer_link + " 2>/dev/null", 10.0);
        shell("ip netns del " + host.netns + " 2>/dev/null", 10.0);
      }
    }));
  }
  for (auto& future : stopped) future.get();
  runtime.hosts.clear();
  runtime.array.reset();  // TgtDaemon: targets deleted, tgtd stopped (SIGKILL at worst), by pid
  if (runtime.network_up) {
    std::error_code ignored;
    std::filesystem::remove_all(runtime.short_dir(), ignored);
    shell("ip link del " + runtime.bridge + " 2>/dev/null", 10.0);
    runtime.network_up = false;
  }
  if (!spec_.keep_files) {
    std::error_code ignored;
    std::filesystem::remove_all(files_.root, ignored);
  }
}

// ------------------------------------------------------------------------------------------ faults

void Lab::crash(const std::string& name) {
  std::lock_guard lock(runtime_->mutex);
  auto& host = find_host(*runtime_, name);
  if (host.state == State::off || host.state == State::crashed) return;
  auto before = host_pids(host);
  if (host.test_driver) host.test_driver->resume();
  if (host.session) host.session->resume();
  host.bmc->kill_victims();
  std::vector<int> all = before.qemu;
  for (int pid : {before.libvirtd, before.agent, before.virtlogd}) all.push_back(pid);
  wait_gone(all, 10.0);
  host.agent.running();  // reap
  if (host.test_driver) host.test_driver->kill();
  if (host.session) host.session->running();
  host.snapshot.clear();
  host.state = State::crashed;
}

bool Lab::kill_vm(const std::string& vm) {
  std::lock_guard lock(runtime_->mutex);
  for (auto& host : runtime_->hosts) {
    if (host.state != State::up && host.state != State::isolated) continue;
    if (host.session) {
      int pid = host.session->qemu_pid(vm);
      if (pid <= 0) continue;
      ::kill(pid, SIGKILL);
      wait_gone({pid}, 10.0);
      return true;
    }
    if (host.state == State::isolated) {
      if (std::find(host.snapshot.begin(), host.snapshot.end(), vm) == host.snapshot.end()) continue;
      host.test_driver->resume();  // the lab's connection needs the daemon for a moment
      bool ok = host.test_driver->destroy_domain(vm);
      host.test_driver->pause();
      if (ok) std::erase(host.snapshot, vm);
      return ok;
    }
    if (host.test_driver->domain_state(vm) == "running") return host.test_driver->destroy_domain(vm);
  }
  return false;
}

void Lab::isolate(const std::string& name) {
  std::lock_guard lock(runtime_->mutex);
  auto& host = find_host(*runtime_, name);
  if (host.state != State::up) throw LabError("lab: " + name + " is not up");
  if (host.test_driver) host.snapshot = host.test_driver->running_domains();
  ip("link set " + host.outer_link + " down");
  if (host.test_driver) host.test_driver->pause();
  if (host.session) host.session->pause();
  int libvirtd = host.test_driver ? host.test_driver->pid() : host.session->pid();
  eventually(
      [&] {
        return process_state(libvirtd) != 'R' && process_state(libvirtd) != 'S' &&
               process_state(libvirtd) != 'D';
      },
      5.0);
  host.state = State::isolated;
}

void Lab::heal(const std::string& name) {
  std::lock_guard lock(runtime_->mutex);
  auto& host = find_host(*runtime_, name);
  if (host.state != State::isolated) return;
  if (host.test_driver) host.test_driver->resume();
  if (host.session) host.session->resume();
  int libvirtd = host.test_driver ? host.test_driver->pid() : host.session->pid();
  eventually([&] { return process_state(libvirtd) != 'T'; }, 5.0);
  ip("link set " + host.outer_link + " up");
  host.snapshot.clear();
  host.state = State::up;
}

// ----------------------------------------------------------------------------------------- queries

std::vector<std::string> Lab::running_vms(const std::string& name) {
  std::lock_guard lock(runtime_->mutex);
  auto& host = find_host(*runtime_, name);
  if (host.session) return host.session->running_guests();
  switch (host.state) {
    case State::up:
      return host.test_driver->running_domains();
    case State::isolated:
      return host.snapshot;
    default:
      return {};
  }
}

bool Lab::powered_on(const std::string& name) const {
  std::lock_guard lock(runtime_->mutex);
  return find_host(*runtime_, name).bmc->powered_on();
}

HostPids Lab::pids(const std::string& name) {
  std::lock_guard lock(runtime_->mutex);
  return host_pids(find_host(*runtime_, name));
}

std::vector<int> Lab::all_pids() {
  std::lock_guard lock(runtime_->mutex);
  std::vector<int> all;
  for (auto& host : runtime_->hosts) {
    auto pids = host_pids(host);
    for (int pid : {pids.libvirtd, pids.agent, pids.bmc, pids.virtlogd}) {
      if (pid > 0) all.push_back(pid);
    }
    all.insert(all.end(), pids.qemu.begin(), pids.qemu.end());
  }
  if (runtime_->array && process_alive(runtime_->array->pid())) all.push_back(runtime_->array->pid());
  std::sort(all.begin(), all.end());
  return all;
}

TgtDaemon* Lab::array() {
  return runtime_->array.get();
}

std::string Lab::disk_target(const std::string& vm) const {
  return drivers::tgt_target_name(kLabIqnPrefix, disk_of(vm));
}

}  // namespace revive::lab

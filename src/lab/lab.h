// lab::Lab: a small real cloud on this one machine, for `revive lab up`, the demo and revived's end-to-end
// tests. No root-owned system service is used; everything runs from processes the lab starts (by pid) under
// one root directory. Needs root (network namespaces, the session daemons' uid) and libvirtd, ipmi_sim,
// ipmitool, iproute2; QEMU for session hosts.
//
// Each host NAME has:
//   - a libvirtd: the test driver ("td0", "td1"...: test-driver VMs "td0-vm0"... defined and running) or an
//     unprivileged session daemon running real 32 MiB QEMU TCG guests ("qemu0"...: guests "qemu0-g0"...,
//     live-migratable between session hosts with the migration URI tcp://127.0.0.1). Root clients can use
//     both kinds (revived runs as root).
//   - a BMC: ipmi_sim on 127.0.0.1:PORT (ipmi_sim_bmc.h). Power off kills the host's libvirtd, its qemu and
//     virtlogd processes and its agent (the host loses power); power on boots it again a moment later:
//     libvirtd restarts with no VM running (test driver: no VM defined either; session: definitions kept)
//     and the agent restarts (new epoch), as on a rebooted host.
//   - a revive-agent (if LabSpec::agent_binary is set) in a network namespace of its own, joined to a
//     bridge of the lab by a veth pair: it sends heartbeats to heartbeat_address():heartbeat_port() and
//     renews its lease in files().lease_dir (local storage, not behind the bridge). Its self-fence command
//     powers the host off through the BMC's hook.
// start() also writes the heartbeat key (0600), the inventory (docs/inventory.md: hosts with uri, bmc,
// cpus, memory_mib, an endpoint and the label `hypervisor: test` or `hypervisor: qemu` each; the VMs as
// policy entries with priorities, `require_labels` on their own hypervisor kind (a test-driver domain cannot
// run on QEMU, nor the reverse) and one `after`) and a
// revived config (src/daemon/config.h) pointing at all of it, with listen 127.0.0.1:api_port().
//
// Faults (each acts on processes by pid and returns once it took effect):
//   crash(h)   SIGKILL of h's libvirtd, qemu, virtlogd and agent; the BMC still reports power on (a kernel
//              panic or hang: the host is dead but only a power-off through the BMC proves it). It stays
//              dead until power is cycled through the BMC (off, then on).
//   kill_vm(v) one VM dies behind libvirt's back: test driver: destroyed through the lab's own connection;
//              QEMU: SIGKILL of its qemu process. False when v runs nowhere.
//   isolate(h) h's network is cut: its namespace's link is down (no heartbeat reaches the controller, no ack
//              the agent) and its libvirtd is SIGSTOPped (open connections hang, keepalive fails); its VMs
//              keep running and its lease keeps being renewed (storage still reachable).
//   heal(h)    undoes isolate(h).
// Queries never go through revived and never block on a hung daemon: running_vms(h) reads the test driver
// through the lab's connection (a snapshot taken at isolate() while h is isolated) and session hosts from
// their qemu processes; powered_on(h) from the BMC's power file; pids(h) what runs for h now.
//
// Teardown: stop() (and the destructor) kills every process of the lab by pid (agents, libvirtd, virtlogd,
// qemu, ipmi_sim), waits for each (bounded), removes the namespaces, veths and bridge, then the root
// directory (unless LabSpec::keep_files). All processes run in process groups of their own, so a terminal's
// Ctrl-C reaches only the owner, which then calls stop() (revive lab up does so on SIGINT/SIGTERM).
//
// Ownership: a Lab owns everything it starts. Thread-safety: every member may be called from any thread
// (one mutex; a background thread watches the BMCs' power state to reap and boot hosts).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace revive::lab {

class TgtDaemon;

namespace detail {
struct LabRuntime;
}

class LabError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct VmSize {
  unsigned cpus = 1;
  unsigned memory_mib = 256;
};

struct LabSpec {
  std::filesystem::path root;  // created (mode 0755) if needed; everything the lab writes is under it
  int test_driver_hosts = 2;   // td0, td1...
  std::vector<VmSize> test_driver_vms{{2, 1024}, {1, 512}, {1, 256}};  // on each: tdN-vm0, tdN-vm1...
  // The priority of tdN-vmI for each I (critical, high, medium, low); missing entries: critical for vm0,
  // high for vm1, medium for the others.
  std::vector<std::string> test_driver_priorities;
  int session_hosts = 0;            // qemu0, qemu1...
  int guests_per_session_host = 1;  // qemuN-g0...: 1 vCPU, 32 MiB
  unsigned host_cpus = 8;           // each host's capacity (inventory)
  unsigned host_memory_mib = 16384;
  std::filesystem::path agent_binary;  // revive-agent; empty: hosts without agents
  double agent_interval_s = 1.0;       // heartbeat and lease renewal (revived's detector default: 1 s)
  std::vector<std::string> agent_extra_args;
  uid_t session_uid = 65534;  // the session daemons' and their qemu processes' user
  // Session guests' disks on an iSCSI array: one tgtd (TgtDaemon, the inventory's array "lab-array", with a
  // driver in revived's config), one target per guest (disk "<guest>-root", LUN 1 on a 16 MiB file),
  // opened by QEMU's iSCSI initiator with its host's initiator name (LabHost::initiator); at bring-up each
  // target admits only its guest's host. Session hosts reach the array; test-driver hosts do not.
  bool iscsi_disks = false;
  std::vector<std::string> fence_levels{"ipmi", "manual"};  // revived's fencing.levels
  bool keep_files = false;  // stop() leaves the root directory (logs) in place
};

enum class HostKind { test_driver, session };

struct LabHost {
  std::string name;
  HostKind kind = HostKind::test_driver;
  std::string uri;  // libvirt URI
  int bmc_port = 0;
  std::filesystem::path bmc_password_file;
  std::string agent_address;     // the agent's address in its namespace (heartbeats come from it)
  std::vector<std::string> vms;  // the VMs it runs at bring-up
  std::string initiator;         // its iSCSI initiator name (session hosts with LabSpec::iscsi_disks)
};

struct LabFiles {
  std::filesystem::path root;
  std::filesystem::path config;     // revived's config
  std::filesystem::path inventory;  // docs/inventory.md
  std::filesystem::path key;        // the heartbeat key (0600)
  std::filesystem::path lease_dir;  // the agents' lease files
  std::filesystem::path data_dir;   // revived's data_dir (created empty)
};

struct HostPids {
  int libvirtd = -1;  // -1: not running
  int agent = -1;
  int bmc = -1;
  std::vector<int> qemu;
  int virtlogd = -1;
};

class Lab {
 public:
  explicit Lab(LabSpec spec);  // checks the spec (LabError); starts nothing
  ~Lab();                      // stop()
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  // Brings every host up (returns when all VMs run and all agents are started). Throws LabError (with the
  // failing component's log) after stopping whatever it started.
  void start();
  void stop();  // idempotent; bounded (a few seconds per host at worst)

  const LabSpec& spec() const { return spec_; }
  const LabFiles& files() const { return files_; }
  // Names and VMs fixed by the constructor; uri, BMC and agent address filled by start().
  const std::vector<LabHost>& hosts() const { return hosts_; }
  std::string heartbeat_address() const;                  // the bridge's address
  int heartbeat_port() const { return heartbeat_port_; }  // UDP, chosen free
  int api_port() const { return api_port_; }              // revived's listen port, chosen free

  // Faults (see above). Host and VM names as in hosts(); unknown names throw LabError.
  void crash(const std::string& host);
  bool kill_vm(const std::string& vm);
  void isolate(const std::string& host);
  void heal(const std::string& host);

  // Queries (see above).
  std::vector<std::string> running_vms(const std::string& host);  // sorted
  bool powered_on(const std::string& host) const;
  HostPids pids(const std::string& host);
  // The iSCSI array (LabSpec::iscsi_disks; nullptr without) and the target of a session guest's disk.
  TgtDaemon* array();
  std::string disk_target(const std::string& vm) const;
  std::vector<int> all_pids();  // every live process of the lab

 private:
  LabSpec spec_;
  LabFiles files_;
  std::vector<LabHost> hosts_;
  int heartbeat_port_ = 0;
  int api_port_ = 0;
  std::unique_ptr<detail::LabRuntime> runtime_;
};

}  // namespace revive::lab

// Real libvirt daemons for tests, the lab (lab.h), demos and end-to-end runs, started and stopped by their
// owner (by pid, with bounded waits; a daemon's processes are killed also when a test fails, by the
// destructors).
//
// TestDriverDaemon: one `libvirtd` per simulated host running libvirt's test driver on a private unix
// socket under its own directory (own config, socket dir, pid file and log; LIBVIRT_DRIVER_DIR = an empty
// directory so no stateful driver loads and daemons never collide). The test driver keeps its state only
// while a connection is open, so the daemon holds one of its own ("keeper"), which also serves the test's
// direct checks (define, state, destroy behind the driver's back). Restarting resets the state to the node
// XML (or test:///default: one running domain "test", one network "default").
//
// SessionDaemon: an unprivileged `libvirtd` (session mode, QEMU driver) as another uid (65534 by default),
// with its own HOME/XDG dirs, host_uuid and migration port range. Clients of that uid or root may connect.
// It spawns virtlogd, which outlives it: stop() kills both (and any qemu it left).
//
// Thread-safety: none; one test thread drives each object.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lab/real_processes.h"

typedef struct _virConnect virConnect;

namespace revive::lab {

class TestDriverDaemon {
 public:
  // `directory` is created if needed and must outlive the daemon. `node_xml`: a test-driver node
  // description (<node>...</node>) written beside the config; empty: test:///default.
  explicit TestDriverDaemon(std::filesystem::path directory, std::string node_xml = {});
  ~TestDriverDaemon();
  TestDriverDaemon(const TestDriverDaemon&) = delete;
  TestDriverDaemon& operator=(const TestDriverDaemon&) = delete;

  // Starts the daemon and opens the keeper connection; false (and the log in `error`) if it does not
  // accept connections within `timeout_s`.
  bool start(double timeout_s = 10.0, std::string* error = nullptr);
  // SIGKILL, reaped; the keeper connection is dropped. A later start() begins from the node XML again.
  void kill();
  // SIGSTOP / SIGCONT: a hung daemon (accepts on its socket, answers nothing).
  void pause();
  void resume();
  bool running();

  std::string uri() const;  // test+unix:///...?socket=DIR/libvirt-sock
  int pid() const { return process_.pid(); }
  std::string log() const;

  // Through the keeper connection (blocking; the daemon must run and not be paused):
  bool define_domain(const std::string& xml, bool start_it);
  bool define_network(const std::string& xml, bool start_it);
  // "running", "paused", "shut off", "absent", or "error".
  std::string domain_state(const std::string& name);
  bool network_active(const std::string& name);
  bool destroy_domain(const std::string& name);  // behind the driver's back
  bool undefine_domain(const std::string& name);
  std::vector<std::string> running_domains();  // names of the active domains, sorted

 private:
  void close_keeper();
  std::filesystem::path directory_;
  std::string node_xml_;
  BackgroundProcess process_;
  virConnect* keeper_ = nullptr;
};

// A minimal test-driver domain: `vcpus`, `memory_mib`, one file disk per `disk_files` entry (vda, vdb...)
// and one interface per `networks` entry (type network).
std::string test_domain_xml(const std::string& name, unsigned vcpus, unsigned memory_mib,
                            const std::vector<std::string>& disk_files = {},
                            const std::vector<std::string>& networks = {});
// A libvirt network with a bridge of its own (test driver: nothing is created on the machine).
std::string test_network_xml(const std::string& name, const std::string& bridge);

class SessionDaemon {
 public:
  // `directory` is created (owned by `uid`) and must outlive the daemon; migration ports
  // [migration_port_min, migration_port_min + 50].
  SessionDaemon(std::filesystem::path directory, int migration_port_min, uid_t uid = 65534);
  ~SessionDaemon();
  SessionDaemon(const SessionDaemon&) = delete;
  SessionDaemon& operator=(const SessionDaemon&) = delete;

  bool start(double timeout_s = 15.0, std::string* error = nullptr);
  // Kills libvirtd, the virtlogd it spawned and the qemu processes it started (by pid, reaped or waited).
  void stop();
  void pause();  // SIGSTOP / SIGCONT of libvirtd (its guests keep running)
  void resume();
  bool running();
  int pid() const { return process_.pid(); }
  std::string uri() const;  // qemu+unix:///session?socket=DIR/run/libvirt/libvirt-sock
  uid_t uid() const { return uid_; }
  const std::filesystem::path& directory() const { return directory_; }
  std::string log() const;

  // Defines (and starts) a guest through a connection of the calling process (root works); blocking, the
  // first call runs QEMU's capability probe (2-4 s). False with libvirt's message in `error`.
  bool define_domain(const std::string& xml, bool start_it, std::string* error = nullptr);
  // Read from the qemu processes themselves, not libvirtd (answers while the daemon is paused or gone):
  // the pid of guest `name`'s live qemu process (-1: none), and the names of the guests whose qemu runs.
  int qemu_pid(const std::string& name) const;
  std::vector<std::string> running_guests() const;

 private:
  std::vector<int> processes_of_uid_under(const std::string& marker) const;
  std::filesystem::path directory_;
  int migration_port_min_;
  uid_t uid_;
  BackgroundProcess process_;
};

// A diskless 32 MiB QEMU TCG guest (pc machine, no USB, no balloon) for session daemons.
std::string qemu_tiny_domain_xml(const std::string& name);

// The same guest with one disk: LUN 1 of iSCSI target `target` at `portal` (ADDRESS:PORT), opened by QEMU's
// own iSCSI initiator (qemu-block-extra) as `initiator`, on a virtio-scsi bus (sda). The start fails when the
// target's ACL does not admit `initiator` ("Failed to log in to target").
std::string qemu_iscsi_domain_xml(const std::string& name, const std::string& portal,
                                  const std::string& target, const std::string& initiator);

}  // namespace revive::lab

// A real iSCSI array for the lab, tests and benchmarks: one tgtd in the foreground on 127.0.0.1:PORT (port
// chosen free) with its control socket DIR/socket.0 (TGT_IPC_SOCKET=DIR/socket, -C 0), so it shares nothing
// with another tgtd of the machine. add_disk() makes one target per disk (drivers::tgt_target_name) with
// LUN 1 on a sparse backing file DIR/disks/NAME.img and an empty ACL (nobody admitted).
//
// stop(): tgtd ignores SIGTERM, so every target is deleted with --force, then `--op delete --mode system`,
// and whatever is still alive after a bounded wait is SIGKILLed, by pid. suspend()/resume() SIGSTOP and
// SIGCONT it (a hung array); kill() SIGKILLs it (a dead array: its socket stays behind, as tgtd leaves it).
// Thread-safety: one thread drives each object, except add_disk() and the queries, which may be called from
// several threads at once (the lab's hosts come up in parallel).
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/tgt/tgt_admin.h"
#include "lab/real_processes.h"

namespace revive::lab {

class TgtDaemon {
 public:
  // `directory` is created if needed. Nothing starts before start().
  TgtDaemon(std::filesystem::path directory, std::string target_prefix);
  ~TgtDaemon();
  TgtDaemon(const TgtDaemon&) = delete;
  TgtDaemon& operator=(const TgtDaemon&) = delete;

  // Starts tgtd and waits until its control socket answers and its portal listens; false (and `error`
  // with its log) otherwise.
  bool start(double timeout_s = 10.0, std::string* error = nullptr);
  void stop();
  void kill();
  void suspend();
  void resume();
  int pid() const { return process_.pid(); }

  // A target for `disk` with a `size_mib` backing file; returns its target name. Throws on failure.
  std::string add_disk(const std::string& disk, unsigned size_mib = 4);

  int port() const { return port_; }
  std::string portal() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string control_socket() const { return (directory_ / "socket.0").string(); }
  const std::string& target_prefix() const { return target_prefix_; }
  // iscsi://127.0.0.1:PORT/TARGET/1, for QEMU and the libiscsi tools.
  std::string lun_url(const std::string& target) const;
  drivers::TgtAdmin& admin() { return admin_; }

  // Whether `initiator` can log in to `target` and see LUN 1 (iscsi-inq; false when refused).
  bool initiator_can_open(const std::string& initiator, const std::string& target) const;
  // The targets `initiator` discovers (iscsi-ls), sorted: the ones whose ACL admits it.
  std::vector<std::string> discovered_by(const std::string& initiator) const;

 private:
  std::filesystem::path directory_;
  std::string target_prefix_;
  int port_ = 0;
  std::mutex mutex_;  // next_tid_, tids_
  int next_tid_ = 1;
  std::vector<int> tids_;
  BackgroundProcess process_;
  drivers::TgtAdmin admin_;
};

}  // namespace revive::lab

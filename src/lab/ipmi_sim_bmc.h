// A real BMC for a simulated host: openipmi's ipmi_sim on 127.0.0.1:PORT (IPMI v2 lanplus, cipher 3, user
// "admin" with a password kept in a 0600 file). Its chassis_control hook (DIR/chassis.sh) keeps the power
// state in DIR/power ("1" or "0") and models what power does to the host:
//   - power off kills (SIGKILL, by pid) every pid listed in DIR/pids and every process whose command line or
//     environment contains a line of DIR/markers (e.g. the host's daemon directory: its libvirtd, virtlogd
//     and qemu processes, which libvirt daemonised), then records 0;
//   - power on runs `power_on_command` (if any; a shell line, it must return at once) and records 1.
// The hook is synchronous and idempotent (ipmi_sim retransmits a slow one). Every call is appended to
// DIR/calls. `chassis.sh 0x20 kill` kills the same processes without touching the power state (a crash).
// ipmi_sim is started and stopped by pid (bounded waits); the destructor stops it and kills the victims.
// Thread-safety: none; one thread drives each object (the files may be read from any thread).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "lab/real_processes.h"

namespace revive::lab {

class IpmiSimBmc {
 public:
  // `directory` is created if needed and must outlive this object. The port is chosen free now; the first
  // start() takes another if that one was bound by someone else meanwhile, so read port() after it.
  explicit IpmiSimBmc(std::filesystem::path directory, std::string password = "s3cret-Pa55",
                      std::string power_on_command = {});
  ~IpmiSimBmc();
  IpmiSimBmc(const IpmiSimBmc&) = delete;
  IpmiSimBmc& operator=(const IpmiSimBmc&) = delete;

  // Starts ipmi_sim and waits until `ipmitool chassis power status` answers (true) or `timeout_s` passes
  // (false, ipmi_sim's log in `error`).
  bool start(double timeout_s = 10.0, std::string* error = nullptr);
  void stop();  // SIGKILL, reaped
  int pid() const { return process_.pid(); }

  // What power off kills: these pids (replacing the previous list) and the processes carrying a marker.
  void set_victim_pids(const std::vector<int>& pids);
  void add_victim_pid(int pid);
  void add_victim_marker(const std::string& marker);
  // Kills the victims now; the power state stays as it is. Returns when the hook has run.
  void kill_victims();

  int port() const { return port_; }
  static constexpr const char* user() { return "admin"; }
  const std::string& password() const { return password_; }
  std::filesystem::path password_file() const { return directory_ / "password"; }
  bool powered_on() const;         // DIR/power says 1
  std::string power_file() const;  // "1\n" or "0\n"
  std::string calls() const;       // every hook call, one line each
  // Power-off requests so far (each counts, also one followed at once by power on: `power cycle`).
  std::size_t power_offs() const;
  const std::filesystem::path& directory() const { return directory_; }
  // The ipmitool command line for `chassis power ACTION` against this BMC (password from its file).
  std::vector<std::string> ipmitool(const std::string& action) const;

 private:
  void write(const std::string& name, const std::string& text) const;
  void write_lan_config() const;  // lan.conf for port_
  bool start_once(double timeout_s, std::string* error);
  std::filesystem::path directory_;
  std::string password_;
  int port_;
  bool started_ = false;  // once up, the port is known to others and stays
  BackgroundProcess process_;
};

}  // namespace revive::lab

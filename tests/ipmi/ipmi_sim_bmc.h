// A simulated host with a real BMC: openipmi's ipmi_sim on 127.0.0.1:PORT (lanplus, user admin) whose
// chassis_control hook powers the "host" off by killing its processes (`sleep` stand-ins for its VMs) and on
// by starting one, and records the power state and every call. Started and stopped by the test (by pid).
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "drivers/ipmi/ipmi_fencer.h"
#include "support/real_processes.h"
#include "support/test_support.h"

namespace revive::testing {

class IpmiSimHost {
 public:
  // `directory` must exist and outlive this object.
  IpmiSimHost(const std::filesystem::path& directory, std::string password = "s3cret-Pa55")
      : directory_(directory), password_(std::move(password)), port_(free_udp_port()) {
    std::filesystem::create_directories(directory_ / "state");
    write("power", "1\n");
    write("pids", "");
    write("password", password_ + "\n");
    ::chmod((directory_ / "password").c_str(), 0600);
    std::string dir = directory_.string();
    write("chassis.sh",
          "#!/bin/sh\n"
          "# ipmi_sim's chassis_control hook: chassis.sh 0x20 get power | chassis.sh 0x20 set power 0|1\n"
          "dir='" +
              dir +
              "'\n"
              "echo \"$*\" >> \"$dir/calls\"\n"
              "case \"$2\" in\n"
              "  get) echo \"power:$(cat \"$dir/power\")\" ;;\n"
              "  set)\n"
              "    if [ \"$3\" = power ]; then\n"
              "      if [ \"$4\" = 0 ]; then\n"
              "        for pid in $(cat \"$dir/pids\"); do kill -9 \"$pid\" 2>/dev/null; done\n"
              "        : > \"$dir/pids\"\n"
              "      else\n"
              "        sleep 1000 </dev/null >/dev/null 2>&1 &\n"
              "        echo $! >> \"$dir/pids\"\n"
              "      fi\n"
              "      echo \"$4\" > \"$dir/power\"\n"
              "    fi ;;\n"
              "esac\n"
              "exit 0\n");
    ::chmod((directory_ / "chassis.sh").c_str(), 0755);
    write("lan.conf", "name \"bmc-" + std::to_string(port_) +
                          "\"\n"
                          "set_working_mc 0x20\n"
                          "  startlan 1\n"
                          "    addr 127.0.0.1 " +
                          std::to_string(port_) +
                          "\n"
                          "    priv_limit admin\n"
                          "    allowed_auths_callback none md2 md5 straight\n"
                          "    allowed_auths_user none md2 md5 straight\n"
                          "    allowed_auths_operator none md2 md5 straight\n"
                          "    allowed_auths_admin none md2 md5 straight\n"
                          "    guid a123456789abcdefa123456789abcdef\n"
                          "  endlan\n"
                          "  chassis_control \"" +
                          dir +
                          "/chassis.sh 0x20\"\n"
                          "user 2 true \"admin\" \"" +
                          password_ + "\" admin 10 none md2 md5 straight\n");
    write("sim.emu",
          "mc_setbmc 0x20\n"
          "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
          "sel_enable 0x20 1000 0x0a\n"
          "mc_enable 0x20\n");
  }
  ~IpmiSimHost() {
    stop_bmc();
    kill_host_processes();
  }

  // Starts ipmi_sim and waits until it answers (true) or 10 s pass (false).
  bool start_bmc() {
    bmc_ = BackgroundProcess({"ipmi_sim", "-c", (directory_ / "lan.conf").string(), "-f",
                              (directory_ / "sim.emu").string(), "-s", (directory_ / "state").string(), "-n"},
                             directory_ / "ipmi_sim.log");
    model::Bmc probe = bmc();
    drivers::IpmiOptions options;
    return eventually([&] { return drivers::IpmitoolFencer::read_power(probe, options).ok; }, 10.0);
  }
  void stop_bmc() { bmc_.stop(); }

  // Starts `count` stand-in VM processes of this host (recorded in pids, killed by power off).
  std::vector<int> start_vms(int count) {
    std::vector<int> pids;
    for (int i = 0; i < count; ++i) {
      auto result = shell("sleep 1000 </dev/null >/dev/null 2>&1 & echo $!");
      int pid = std::stoi(result.out);
      pids.push_back(pid);
      std::ofstream(directory_ / "pids", std::ios::app) << pid << "\n";
    }
    return pids;
  }
  void kill_host_processes() {
    std::ifstream in(directory_ / "pids");
    int pid = 0;
    while (in >> pid) ::kill(pid, SIGKILL);
  }

  model::Bmc bmc(std::string password_file = {}) const {
    return model::Bmc{"127.0.0.1", static_cast<std::uint16_t>(port_), "admin",
                      password_file.empty() ? (directory_ / "password").string() : password_file};
  }
  const std::string& password() const { return password_; }
  int port() const { return port_; }
  std::string power_file() const { return read_file(directory_ / "power"); }
  std::string calls() const {
    std::error_code ignored;
    return std::filesystem::exists(directory_ / "calls", ignored) ? read_file(directory_ / "calls") : "";
  }
  const std::filesystem::path& directory() const { return directory_; }

 private:
  void write(const std::string& name, const std::string& text) {
    std::ofstream(directory_ / name, std::ios::binary | std::ios::trunc) << text;
  }
  std::filesystem::path directory_;
  std::string password_;
  int port_;
  BackgroundProcess bmc_;
};

}  // namespace revive::testing

// A simulated host with a real BMC for the fencer's tests: lab::IpmiSimBmc (ipmi_sim with a chassis hook)
// whose "host" is a few `sleep` stand-ins for its VMs: power off kills them, power on starts one. Started and
// stopped by the test (by pid).
#pragma once

#include <string>
#include <vector>

#include "lab/ipmi_sim_bmc.h"
#include "lab/real_processes.h"
#include "model/cloud.h"

namespace revive::testing {

class IpmiSimHost : public lab::IpmiSimBmc {
 public:
  // `directory` must exist and outlive this object.
  explicit IpmiSimHost(const std::filesystem::path& directory, std::string password = "s3cret-Pa55")
      : lab::IpmiSimBmc(directory, std::move(password),
                        "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >> \"$dir/pids\"") {}

  // Starts ipmi_sim and waits until it answers (true) or 10 s pass (false).
  bool start_bmc() { return start(10.0); }
  void stop_bmc() { stop(); }

  // Starts `count` stand-in VM processes of this host (killed by power off).
  std::vector<int> start_vms(int count) {
    std::vector<int> pids;
    for (int i = 0; i < count; ++i) {
      auto result = lab::shell("sleep 1000 </dev/null >/dev/null 2>&1 & echo $!");
      int pid = std::stoi(result.out);
      pids.push_back(pid);
      add_victim_pid(pid);
    }
    return pids;
  }
  void kill_host_processes() { kill_victims(); }

  model::Bmc bmc(std::string password_file = {}) const {
    return model::Bmc{"127.0.0.1", static_cast<std::uint16_t>(port()), user(),
                      password_file.empty() ? this->password_file().string() : password_file};
  }
};

}  // namespace revive::testing

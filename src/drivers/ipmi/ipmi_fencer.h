// Real power fencing through a host's BMC (model::Host::bmc: address, port, user, password_file).
//
// IpmitoolFencer runs `ipmitool -I lanplus -C 3 -N 1 -R 2 -H ADDR -p PORT -U USER -f PASSWORD_FILE` (or
// `-E` with IPMI_PASSWORD in the child's environment when the password comes from the controller's
// environment): `chassis power status` first (an already-off chassis counts as fenced), then
// `chassis power off`, then `chassis power status` until it reads off. Only "off" read back is success.
//
// FenceAgentFencer drives any ClusterLabs fence agent (fence_ipmilan, fence_redfish, ...) through its stdin
// protocol (one `name=value` per line: action, ip, ipport, username, passwd, plus configured extras such as
// lanplus=1, cipher=3): `status` (exit 2 = off: already fenced), `off`, then `status` must exit 2.
//
// Passwords never appear on a command line, in an error or a log line written by Revive (fence_ipmilan 4.12
// itself hands its password to ipmitool with -P; prefer IpmitoolFencer where that matters).
// Failures: BMC unreachable (no answer) is transient, so the fence chain moves on to the next level; wrong
// password or user, no BMC configured, unreadable password file are permanent.
//
// Every call runs in a worker thread (bounded by timeouts); its completion is posted to the EventLoop. Engine
// calls (fence, power_status) from the engine thread only. The destructor waits for running calls.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "drivers/process/command.h"
#include "drivers/process/workers.h"
#include "env/event_loop.h"
#include "env/fencer.h"
#include "model/cloud.h"

namespace revive::drivers {

struct IpmiOptions {
  std::string ipmitool = "ipmitool";
  int cipher_suite = 3;
  int session_timeout_s = 1;  // ipmitool -N
  int retries = 2;            // ipmitool -R
  double command_timeout_s = 20.0;
  double confirm_timeout_s = 30.0;  // for the power to read off after `power off`
  double poll_interval_s = 0.5;
  // When a host's BMC has no password_file: the controller's environment variable holding the password
  // (passed on to ipmitool as IPMI_PASSWORD with -E). Empty: a password file is required.
  std::string password_variable = "REVIVE_BMC_PASSWORD";
};

// The outcome of one BMC interaction, classified.
struct BmcAnswer {
  bool ok = false;
  bool permanent = false;
  env::PowerState power = env::PowerState::unknown;
  std::string error;
};

class IpmitoolFencer final : public env::Fencer {
 public:
  IpmitoolFencer(env::EventLoop& loop, const model::Cloud& cloud, IpmiOptions options = {});
  ~IpmitoolFencer() override;
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

  // Blocking, for workers and tests: one status read / the whole fence sequence.
  static BmcAnswer read_power(const model::Bmc& bmc, const IpmiOptions& options);
  static BmcAnswer fence_blocking(const model::Bmc& bmc, const IpmiOptions& options);

 private:
  env::EventLoop& loop_;
  const model::Cloud& cloud_;
  IpmiOptions options_;
  Workers workers_;
};

struct FenceAgentOptions {
  std::string agent = "fence_ipmilan";
  // Extra stdin options, e.g. {"lanplus", "1"}, {"cipher", "3"}.
  std::vector<std::pair<std::string, std::string>> extra{{"lanplus", "1"}, {"cipher", "3"}};
  double command_timeout_s = 60.0;
  std::string password_variable = "REVIVE_BMC_PASSWORD";
};

class FenceAgentFencer final : public env::Fencer {
 public:
  FenceAgentFencer(env::EventLoop& loop, const model::Cloud& cloud, FenceAgentOptions options = {});
  ~FenceAgentFencer() override;
  void fence(model::HostIndex host, env::Completion done) override;
  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override;

  static BmcAnswer run_action(const model::Bmc& bmc, const FenceAgentOptions& options,
                              const std::string& action);
  static BmcAnswer fence_blocking(const model::Bmc& bmc, const FenceAgentOptions& options);

 private:
  env::EventLoop& loop_;
  const model::Cloud& cloud_;
  FenceAgentOptions options_;
  Workers workers_;
};

}  // namespace revive::drivers

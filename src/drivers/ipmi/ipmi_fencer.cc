#include "drivers/ipmi/ipmi_fencer.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace revive::drivers {

namespace {

std::string bmc_name(const model::Bmc& bmc) {
  return fmt::format("BMC {}:{}", bmc.address, bmc.port);
}

// The last meaningful line of a command's output, for error messages (warnings from Python dropped).
std::string last_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (line.find("DeprecationWarning") != std::string::npos ||
        line.find("from pipes import") != std::string::npos) {
      continue;
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) last = line;
  }
  return last;
}

std::string scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// The password, from the BMC's password file or the controller's environment; nullopt + error otherwise.
std::optional<std::string> read_password(const model::Bmc& bmc, const std::string& variable,
                                         std::string& error) {
  if (!bmc.password_file.empty()) {
    std::ifstream in(bmc.password_file);
    if (!in) {
      error = "cannot read the BMC password file " + bmc.password_file;
      return std::nullopt;
    }
    std::string password;
    std::getline(in, password);
    while (!password.empty() && (password.back() == '\r' || password.back() == '\n')) password.pop_back();
    return password;
  }
  if (!variable.empty()) {
    if (const char* value = std::getenv(variable.c_str())) return std::string(value);
  }
  error = variable.empty() ? "no BMC password file configured"
                           : "no BMC password file configured and " + variable + " is not set";
  return std::nullopt;
}

BmcAnswer failure(std::string error, bool permanent = false) {
  BmcAnswer answer;
  answer.error = std::move(error);
  answer.permanent = permanent;
  return answer;
}

}  // namespace

// -------------------------------------------------------------------------------------------- ipmitool

namespace {

struct IpmitoolCall {
  Command command;
  std::string secret;  // to scrub from messages when it came from the environment
};

std::optional<IpmitoolCall> ipmitool_call(const model::Bmc& bmc, const IpmiOptions& options,
                                          std::vector<std::string> arguments, std::string& error) {
  IpmitoolCall call;
  auto& argv = call.command.argv;
  argv = {options.ipmitool,
          "-v",
          "-I",
          "lanplus",
          "-C",
          std::to_string(options.cipher_suite),
          "-N",
          std::to_string(options.session_timeout_s),
          "-R",
          std::to_string(options.retries),
          "-H",
          bmc.address,
          "-p",
          std::to_string(bmc.port),
          "-U",
          bmc.user};
  if (!bmc.password_file.empty()) {
    if (::access(bmc.password_file.c_str(), R_OK) != 0) {
      error = "cannot read the BMC password file " + bmc.password_file;
      return std::nullopt;
    }
    argv.insert(argv.end(), {"-f", bmc.password_file});
  } else {
    auto password = read_password(bmc, options.password_variable, error);
    if (!password) return std::nullopt;
    argv.push_back("-E");
    call.command.environment.emplace_back("IPMI_PASSWORD", *password);
    call.secret = *password;
  }
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  call.command.timeout_s = options.command_timeout_s;
  return call;
}

// Classifies an ipmitool run; on success fills `power` from a status answer.
BmcAnswer classify_ipmitool(const model::Bmc& bmc, const CommandResult& result, const std::string& secret) {
  if (!result.started) return failure("cannot run ipmitool: " + result.error, true);
  if (result.timed_out) {
    return failure(fmt::format("{} unreachable: ipmitool gave no answer within {:.0f} s", bmc_name(bmc),
                               result.elapsed_s));
  }
  const std::string& err = result.err;
  if (result.exit_status != 0) {
    if (err.find("RAKP 2 HMAC is invalid") != std::string::npos) {
      return failure(bmc_name(bmc) + " refused the password for user '" + bmc.user + "' (wrong password)",
                     true);
    }
    if (err.find("unauthorized name") != std::string::npos) {
      return failure(bmc_name(bmc) + " does not know user '" + bmc.user + "' (wrong user)", true);
    }
    if (err.find("Get Auth Capabilities error") != std::string::npos ||
        err.find("Get Channel Authentication Capabilities") != std::string::npos ||
        err.find("No response") != std::string::npos || err.find("Address lookup") != std::string::npos) {
      return failure(bmc_name(bmc) + " unreachable: no answer to the session request");
    }
    return failure(scrub(
        fmt::format("{}: ipmitool failed (exit {}): {}", bmc_name(bmc), result.exit_status, last_line(err)),
        secret));
  }
  BmcAnswer answer;
  answer.ok = true;
  if (result.out.find("Chassis Power is off") != std::string::npos) answer.power = env::PowerState::off;
  if (result.out.find("Chassis Power is on") != std::string::npos) answer.power = env::PowerState::on;
  return answer;
}

BmcAnswer run_ipmitool(const model::Bmc& bmc, const IpmiOptions& options,
                       std::vector<std::string> arguments) {
  std::string error;
  auto call = ipmitool_call(bmc, options, std::move(arguments), error);
  if (!call) return failure(bmc_name(bmc) + ": " + error, true);
  return classify_ipmitool(bmc, run_command(call->command), call->secret);
}

// Runs `blocking(bmc)` (a BmcAnswer) for `host` on a worker thread and posts the outcome to the engine's
// loop: the one dispatch path of both fencers. A host without a BMC fails at once, permanently.
template <typename Blocking>
void dispatch_fence(env::EventLoop& loop, const model::Cloud& cloud, Workers& workers, model::HostIndex host,
                    env::Completion done, Blocking blocking) {
  if (host >= cloud.hosts.size() || !cloud.hosts[host].bmc) {
    loop.post([done] { done(env::OperationResult::failure("the host has no BMC configured", true)); });
    return;
  }
  model::Bmc bmc = *cloud.hosts[host].bmc;
  workers.run([&loop, bmc, done, blocking] {
    BmcAnswer answer = blocking(bmc);
    env::OperationResult result = answer.ok ? env::OperationResult::success()
                                            : env::OperationResult::failure(answer.error, answer.permanent);
    loop.post([done, result] { done(result); });
  });
}

template <typename Blocking>
void dispatch_status(env::EventLoop& loop, const model::Cloud& cloud, Workers& workers, model::HostIndex host,
                     std::function<void(const env::OperationResult&, env::PowerState)> done,
                     Blocking blocking) {
  if (host >= cloud.hosts.size() || !cloud.hosts[host].bmc) {
    loop.post([done] {
      done(env::OperationResult::failure("the host has no BMC configured", true), env::PowerState::unknown);
    });
    return;
  }
  model::Bmc bmc = *cloud.hosts[host].bmc;
  workers.run([&loop, bmc, done, blocking] {
    BmcAnswer answer = blocking(bmc);
    env::OperationResult result = answer.ok ? env::OperationResult::success()
                                            : env::OperationResult::failure(answer.error, answer.permanent);
    env::PowerState power = answer.power;
    loop.post([done, result, power] { done(result, power); });
  });
}

}  // namespace

BmcAnswer IpmitoolFencer::read_power(const model::Bmc& bmc, const IpmiOptions& options) {
  auto answer = run_ipmitool(bmc, options, {"chassis", "power", "status"});
  if (answer.ok && answer.power == env::PowerState::unknown) {
    return failure(bmc_name(bmc) + ": unrecognised answer to `chassis power status`");
  }
  return answer;
}

BmcAnswer IpmitoolFencer::fence_blocking(const model::Bmc& bmc, const IpmiOptions& options) {
  auto status = read_power(bmc, options);
  if (!status.ok) return status;
  if (status.power == env::PowerState::off) return status;  // already off: fenced
  auto off = run_ipmitool(bmc, options, {"chassis", "power", "off"});
  if (!off.ok) return off;
  auto start = std::chrono::steady_clock::now();
  while (true) {
    status = read_power(bmc, options);
    if (status.ok && status.power == env::PowerState::off) return status;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (status.permanent) return status;
    if (waited >= options.confirm_timeout_s) {
      return failure(fmt::format("{}: power still does not read off {:.0f} s after `chassis power off`{}",
                                 bmc_name(bmc), waited, status.ok ? "" : " (" + status.error + ")"));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_interval_s));
  }
}

IpmitoolFencer::IpmitoolFencer(env::EventLoop& loop, const model::Cloud& cloud, IpmiOptions options)
    : loop_(loop), cloud_(cloud), options_(std::move(options)) {}

IpmitoolFencer::~IpmitoolFencer() {
  workers_.join_all();
}

void IpmitoolFencer::fence(model::HostIndex host, env::Completion done) {
  dispatch_fence(loop_, cloud_, workers_, host, std::move(done),
                 [options = options_](const model::Bmc& bmc) { return fence_blocking(bmc, options); });
}

void IpmitoolFencer::power_status(model::HostIndex host,
                                  std::function<void(const env::OperationResult&, env::PowerState)> done) {
  dispatch_status(loop_, cloud_, workers_, host, std::move(done),
                  [options = options_](const model::Bmc& bmc) { return read_power(bmc, options); });
}

// ---------------------------------------------------------------------------------------- fence agent

BmcAnswer FenceAgentFencer::run_action(const model::Bmc& bmc, const FenceAgentOptions& options,
                                       const std::string& action) {
  std::string error;
  auto password = read_password(bmc, options.password_variable, error);
  if (!password) return failure(bmc_name(bmc) + ": " + error, true);
  Command command;
  command.argv = {options.agent};
  command.timeout_s = options.command_timeout_s;
  std::string& input = command.stdin_text;
  input += "action=" + action + "\n";
  input += "ip=" + bmc.address + "\n";
  input += "ipport=" + std::to_string(bmc.port) + "\n";
  input += "username=" + bmc.user + "\n";
  input += "passwd=" + *password + "\n";
  for (const auto& [name, value] : options.extra) input += name + "=" + value + "\n";
  auto result = run_command(command);
  const std::string agent = options.agent;
  if (!result.started) return failure("cannot run " + agent + ": " + result.error, true);
  if (result.timed_out) {
    return failure(fmt::format("{} unreachable: {} gave no answer within {:.0f} s", bmc_name(bmc), agent,
                               result.elapsed_s));
  }
  // Fence agents: 0 = success (status: on), 2 = status off, anything else a failure.
  if (action == "status" && (result.exit_status == 0 || result.exit_status == 2)) {
    BmcAnswer answer;
    answer.ok = true;
    answer.power = result.exit_status == 2 ? env::PowerState::off : env::PowerState::on;
    return answer;
  }
  if (action != "status" && result.exit_status == 0) {
    BmcAnswer answer;
    answer.ok = true;
    return answer;
  }
  std::string message = last_line(result.err + "\n" + result.out);
  if (auto at = message.find("ERROR: "); at != std::string::npos) message = message.substr(at + 7);
  message = scrub(message, *password);
  if (message.find("timed out") != std::string::npos) {
    return failure(fmt::format("{} unreachable: {} {}: {}", bmc_name(bmc), agent, action, message));
  }
  return failure(fmt::format("{}: {} {} failed (exit {}): {}", bmc_name(bmc), agent, action,
                             result.exit_status, message.empty() ? "no message" : message));
}

BmcAnswer FenceAgentFencer::fence_blocking(const model::Bmc& bmc, const FenceAgentOptions& options) {
  auto status = run_action(bmc, options, "status");
  if (!status.ok) return status;
  if (status.power == env::PowerState::off) return status;
  auto off = run_action(bmc, options, "off");
  if (!off.ok) return off;
  status = run_action(bmc, options, "status");
  if (!status.ok) return status;
  if (status.power != env::PowerState::off) {
    return failure(bmc_name(bmc) + ": " + options.agent + " reported off but the power still reads on");
  }
  return status;
}

FenceAgentFencer::FenceAgentFencer(env::EventLoop& loop, const model::Cloud& cloud, FenceAgentOptions options)
    : loop_(loop), cloud_(cloud), options_(std::move(options)) {}

FenceAgentFencer::~FenceAgentFencer() {
  workers_.join_all();
}

void FenceAgentFencer::fence(model::HostIndex host, env::Completion done) {
  dispatch_fence(loop_, cloud_, workers_, host, std::move(done),
                 [options = options_](const model::Bmc& bmc) { return fence_blocking(bmc, options); });
}

void FenceAgentFencer::power_status(model::HostIndex host,
                                    std::function<void(const env::OperationResult&, env::PowerState)> done) {
  dispatch_status(loop_, cloud_, workers_, host, std::move(done),
                  [options = options_](const model::Bmc& bmc) { return run_action(bmc, options, "status"); });
}

}  // namespace revive::drivers

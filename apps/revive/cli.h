// The `revive` command line: each file in apps/revive/ adds its subcommands to the CLI11 app through one of
// the add_*_commands functions below. A subcommand reports its outcome by returning an exit status from its
// callback through set_exit_status(); bad input is reported by throwing InputError (exit status 2, nothing
// changed).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

namespace revive::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNotAllPlaced = 3;
// A simulated run broke a safety invariant (two copies of a VM, a limit exceeded...): a bug in Revive.
inline constexpr int kExitInvariantBroken = 4;
// A simulated run in which the detector held fencing back (storm guard, disarmed, fence rate limit): a
// decision, not a bug; the held hosts and why are in the summary.
inline constexpr int kExitFencingHeld = 5;
// A drain missed its deadline: VMs still ran on a drained host when its window closed (evacuate, simulate).
inline constexpr int kExitDrainMissedDeadline = 6;
// `revive replay`: the plan computed again from a saved decision's inputs differs from the saved plan.
inline constexpr int kExitReplayDiffers = 7;

// Commands against the daemon (revive --server URL ..., server_commands.cc): 2 is also an API error answered
// 4xx (nothing changed); 3 the daemon could not be reached; 1 the daemon failed (5xx), or the operation
// `operations show --watch` followed ended other than succeeded.
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitDaemonFault = 1;
inline constexpr int kExitOperationDidNotSucceed = 1;

// Bad input (file, argument, request): main prints "revive: <message>" on stderr and exits 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void set_exit_status(int status);
int exit_status();  // the status set so far (kExitOk if none)

// The one place that decides whether a command line is for the daemon: the URL when it names --server URL (or
// --server=URL), or when $REVIVE_SERVER is set, the command is one the daemon serves and no offline input
// (--state, --inventory) is given; nullopt for the offline CLI.
std::optional<std::string> daemon_url(int argc, char** argv);
// Parses and runs a daemon command line against `url`; returns the exit status.
int run_daemon_command(const std::string& url, int argc, char** argv);

void add_inventory_commands(CLI::App& app);  // inventory validate | show
void add_generate_command(CLI::App& app);    // generate
void add_plan_commands(CLI::App& app);       // plan, check
void add_simulate_commands(CLI::App& app);   // simulate
void add_evacuate_command(CLI::App& app);    // evacuate (evacuate_command.cc)
void add_host_commands(CLI::App& app);       // host confirm-down, arm, disarm, status
void add_lab_commands(CLI::App& app);        // lab up (lab_command.cc)
void add_demo_command(CLI::App& app);        // demo (demo_command.cc)
void add_token_commands(CLI::App& app);      // token new (token_command.cc)
void add_torture_commands(CLI::App& app);    // torture, replay (torture_command.cc)

}  // namespace revive::cli

// Running an external command (ipmitool, a fence agent, an isolation or watchdog action) with a time limit:
// no shell, arguments passed as they are, extra environment variables (secrets go there or on stdin, never in
// argv), optional stdin text, stdout and stderr captured. The command runs in its own process group; on
// timeout the whole group is killed (SIGKILL) and reaped.
//
// Blocking: call it from a worker thread, never from the engine's EventLoop. Thread-safe (posix_spawn, pipes
// opened close-on-exec, so concurrent calls do not leak descriptors into each other's children).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace revive::drivers {

struct Command {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::vector<std::pair<std::string, std::string>> environment;  // added to (or replacing in) the current one
  std::string stdin_text;
  double timeout_s = 30.0;
};

struct CommandResult {
  bool started = false;    // false: could not start (error says why)
  bool timed_out = false;  // killed after timeout_s
  int exit_status = -1;    // exit code, or 128 + signal when killed by a signal
  std::string out;
  std::string err;
  std::string error;  // why it could not start
  double elapsed_s = 0.0;
};

CommandResult run_command(const Command& command);

}  // namespace revive::drivers

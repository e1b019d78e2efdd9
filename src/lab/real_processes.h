// Helpers for tests that run real components: free loopback ports, background processes started and stopped
// by the test (by pid, bounded in time), process liveness that tells zombies from live processes.
// Header-only.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "drivers/process/command.h"

namespace revive::lab {

namespace detail {
inline int free_port(int type) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}
}  // namespace detail

// A UDP / TCP port on 127.0.0.1 that was free a moment ago.
inline int free_udp_port() {
  return detail::free_port(SOCK_DGRAM);
}
inline int free_tcp_port() {
  return detail::free_port(SOCK_STREAM);
}

// True when `tool` is an executable path or found in PATH.
inline bool have_tool(const std::string& tool) {
  if (tool.find('/') != std::string::npos) return ::access(tool.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string directories = path ? path : "/usr/bin:/bin";
  directories += ":/usr/sbin:/sbin";
  std::istringstream parts(directories);
  std::string directory;
  while (std::getline(parts, directory, ':')) {
    if (!directory.empty() && ::access((directory + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The state letter of /proc/PID/stat ('R', 'S', 'T' stopped, 'Z' zombie...), '?' when there is no such
// process.
inline char process_state(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return '?';
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return '?';
  return text[close + 2];
}

// A process is alive when /proc/PID exists and is not a zombie.
inline bool process_alive(int pid) {
  char state = process_state(pid);
  return state != '?' && state != 'Z' && state != 'X';
}

// Runs a command line through /bin/sh -c with a time limit.
struct ShellResult {
  int exit_status = -1;
  std::string out;
  std::string err;
};
inline ShellResult shell(const std::string& command_line, double timeout_s = 30.0) {
  drivers::Command command;
  command.argv = {"/bin/sh", "-c", command_line};
  command.timeout_s = timeout_s;
  auto result = drivers::run_command(command);
  return {result.timed_out ? -1 : result.exit_status, result.out, result.err};
}

// A process started in the background (its own process group, stdout + stderr appended to `log`); killed
// (SIGKILL to its group) and reaped by stop() or the destructor.
class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
                    const std::vector<std::string>& environment = {}) {
    std::vector<std::string> owned = argv;
    std::vector<char*> arguments;
    for (auto& argument : owned) arguments.push_back(argument.data());
    arguments.push_back(nullptr);
    std::vector<std::string> variables = environment;
    pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      if (null_fd >= 0) ::dup2(null_fd, 0);
      for (auto& variable : variables) ::putenv(variable.data());
      ::execvp(arguments[0], arguments.data());
      ::_exit(127);
    }
    ::setpgid(child, child);
    pid_ = child;
  }
  ~BackgroundProcess() { stop(); }
  BackgroundProcess(BackgroundProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  BackgroundProcess& operator=(BackgroundProcess&& other) noexcept {
    if (this != &other) {
      stop();
      pid_ = other.pid_;
      other.pid_ = -1;
    }
    return *this;
  }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  bool running() {
    if (pid_ < 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      wait_status_ = status;
      return false;
    }
    return true;
  }
  // The raw wait status once running() found the process ended (-1 before, or after stop()).
  int wait_status() const { return wait_status_; }
  int exit_code() const {
    return wait_status_ >= 0 && WIFEXITED(wait_status_) ? WEXITSTATUS(wait_status_) : -1;
  }
  void signal(int signal_number) {
    if (pid_ > 0) ::kill(pid_, signal_number);
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  int pid_ = -1;
  int wait_status_ = -1;
};

// Polls `condition` every 20 ms for up to `timeout_s`; returns whether it held.
template <typename Condition>
bool eventually(Condition condition, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace revive::lab

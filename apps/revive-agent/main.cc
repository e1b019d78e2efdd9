// revive-agent: the host agent. Every --interval it
//   - sends a signed UDP heartbeat to the controller (--controller ADDR:PORT) and listens for its signed
//   acks;
//   - renews its storage lease (a record in --lease-dir, on storage shared with the controller, or in the
//   state
//     store given by --lease-store);
//   - when the controller is lost (no ack for --controller-timeout) but the lease still renews, the host is
//     isolated: it applies the isolation response (--isolation-response leave | stop: after --isolation-grace
//     it runs --stop-command once, e.g. to shut its VMs down);
//   - when it has lost both the controller and its lease (not renewed for --lease-ttl), it self-fences: stops
//     petting --watchdog-device (the hardware resets the host within --watchdog) and runs --watchdog-command
//     (in tests: kill the simulated host's processes), then exits for good. The controller's lease fencer
//     relies on this: an unchanged lease past ttl + watchdog + margin means the host is off.
// Logs one line per state change on stdout. Exit: 0 on SIGTERM/SIGINT, 2 bad arguments, 3 self-fenced.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "detect/heartbeat_protocol.h"
#include "detect/heartbeat_receiver.h"
#include "drivers/process/command.h"
#include "store/sqlite_store.h"

namespace {

using revive::detect::MessageKind;
using revive::detect::SignedMessage;
using Clock = std::chrono::steady_clock;

std::atomic<bool> stop_requested{false};

void on_signal(int) {
  stop_requested = true;
}

struct Settings {
  std::string host;
  std::string controller;
  std::string key_file;
  std::string bind_address;
  double interval_s = 1.0;
  std::string lease_dir;
  std::string lease_store;
  double lease_ttl_s = 10.0;
  double controller_timeout_s = 10.0;
  double watchdog_s = 5.0;
  std::string isolation_response = "leave";
  double isolation_grace_s = 30.0;
  std::string stop_command;
  std::string watchdog_command;
  std::string watchdog_device;
};

double seconds_since(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// One line per call, whole, from either thread (the main loop or the lease renewer).
void log(const Settings& settings, const std::string& line) {
  static std::mutex mutex;
  std::string text =
      fmt::format("revive-agent {} [{}]: {}\n", settings.host, revive::detect::unix_now_ms(), line);
  std::lock_guard lock(mutex);
  std::cout << text << std::flush;
}

int run_shell(const std::string& command_line, double timeout_s) {
  revive::drivers::Command command;
  command.argv = {"/bin/sh", "-c", command_line};
  command.timeout_s = timeout_s;
  auto result = revive::drivers::run_command(command);
  return result.timed_out ? -1 : result.exit_status;
}

sockaddr_in resolve(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError("--controller", "expected ADDRESS:PORT");
  std::string host = endpoint.substr(0, colon);
  std::string port = endpoint.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) {
    throw CLI::ValidationError("--controller", "cannot resolve " + endpoint);
  }
  sockaddr_in address{};
  std::memcpy(&address, found->ai_addr, sizeof address);
  ::freeaddrinfo(found);
  return address;
}

// Renews the storage lease every interval on a thread of its own, so that slow storage (a commit whose fsync
// takes a second on a busy disk or array) never delays the network heartbeat: the two channels the
// controller compares to tell isolation from a crash stay independent. Thread-safe: start/stop/
// seconds_since_renewal from the main thread, the store and lease directory touched only by the thread.
class LeaseRenewer {
 public:
  LeaseRenewer(const Settings& settings, std::string key, std::uint64_t epoch)
      : settings_(settings),
        key_(std::move(key)),
        epoch_(epoch),
        last_renewal_(Clock::now().time_since_epoch().count()) {}
  ~LeaseRenewer() { stop(); }
  LeaseRenewer(const LeaseRenewer&) = delete;
  LeaseRenewer& operator=(const LeaseRenewer&) = delete;

  void start() {
    thread_ = std::thread([this] { loop(); });
  }
  // Stops renewing (before self-fencing: a lease renewed after that would hide the fence). Idempotent.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  double seconds_since_renewal() const {
    return seconds_since(Clock::time_point(Clock::duration(last_renewal_.load())));
  }

 private:
  void loop() {
    auto next = Clock::now();
    std::uint64_t sequence = 0;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      SignedMessage lease{MessageKind::lease, settings_.host, epoch_, ++sequence,
                          revive::detect::unix_now_ms()};
      std::string record = revive::detect::encode(lease, key_);
      bool renewed = false;
      if (!settings_.lease_store.empty()) {
        // Opened on first use and again after an error: a store that is busy or not there yet (the controller
        // creating it, other hosts' agents writing) costs a renewal, never the agent. Waiting on a busy store
        // delays only this thread.
        try {
          if (!store_)
            store_ = std::make_unique<revive::store::SqliteStore>(settings_.lease_store, kBusyTimeoutMs);
          store_->write_lease(settings_.host, record);
          renewed = true;
        } catch (const revive::env::StoreError& error) {
          if (error_logged_ != error.what()) log(settings_, std::string("lease store: ") + error.what());
          error_logged_ = error.what();
          store_.reset();
          renewed = false;
        }
      } else {
        renewed = revive::detect::write_lease(settings_.lease_dir, settings_.host, record);
      }
      if (renewed) {
        last_renewal_ = Clock::now().time_since_epoch().count();
        error_logged_.clear();
      }
      next +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(settings_.interval_s));
      if (next < Clock::now()) next = Clock::now();
      lock.lock();
      wake_.wait_until(lock, next, [this] { return stopping_; });
    }
  }

  const Settings& settings_;
  const std::string key_;
  const std::uint64_t epoch_;
  static constexpr int kBusyTimeoutMs = 1000;
  std::unique_ptr<revive::store::SqliteStore> store_;
  std::string error_logged_;  // the last store error logged, so a lasting one is logged once
  std::atomic<Clock::rep> last_renewal_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

int run(const Settings& settings) {
  std::string key = revive::detect::read_key_file(settings.key_file);
  sockaddr_in controller = resolve(settings.controller);
  int socket_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (socket_fd < 0) throw std::runtime_error("socket failed");
  if (!settings.bind_address.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (::inet_pton(AF_INET, settings.bind_address.c_str(), &local.sin_addr) != 1 ||
        ::bind(socket_fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      throw std::runtime_error("cannot bind " + settings.bind_address);
    }
  }
  int watchdog_fd = -1;
  if (!settings.watchdog_device.empty()) {
    watchdog_fd = ::open(settings.watchdog_device.c_str(), O_WRONLY | O_CLOEXEC);
    if (watchdog_fd < 0) throw std::runtime_error("cannot open watchdog device " + settings.watchdog_device);
  }

  const bool has_lease = !settings.lease_dir.empty() || !settings.lease_store.empty();
  const std::uint64_t epoch = static_cast<std::uint64_t>(revive::detect::unix_now_ms());
  std::optional<LeaseRenewer> lease;
  if (has_lease) lease.emplace(settings, key, epoch);  // its grace period starts now, as the controller's
  std::uint64_t sequence = 0;
  auto start = Clock::now();
  auto last_ack = start;  // a grace period at start
  bool controller_lost = false;
  bool lease_lost = false;
  bool stop_command_ran = false;
  auto next_tick = start;
  log(settings, fmt::format("started: controller {}, lease {}, interval {:g} s", settings.controller,
                            !settings.lease_dir.empty()     ? "dir " + settings.lease_dir
                            : !settings.lease_store.empty() ? "store " + settings.lease_store
                                                            : std::string("(none)"),
                            settings.interval_s));

  if (lease) lease->start();
  auto seconds_since_renewal = [&] { return lease ? lease->seconds_since_renewal() : 0.0; };
  while (!stop_requested) {
    auto now = Clock::now();
    if (now >= next_tick) {
      next_tick +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(settings.interval_s));
      if (next_tick < now) next_tick = now;
      SignedMessage heartbeat{MessageKind::heartbeat, settings.host, epoch, ++sequence,
                              revive::detect::unix_now_ms()};
      std::string datagram = revive::detect::encode(heartbeat, key);
      ::sendto(socket_fd, datagram.data(), datagram.size(), MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&controller), sizeof controller);
      if (watchdog_fd >= 0) {
        if (::write(watchdog_fd, "k", 1) != 1) log(settings, "watchdog write failed");
      }

      bool now_controller_lost = seconds_since(last_ack) >= settings.controller_timeout_s;
      bool now_lease_lost = has_lease && seconds_since_renewal() >= settings.lease_ttl_s;
      if (now_controller_lost != controller_lost) {
        controller_lost = now_controller_lost;
        log(settings, controller_lost
                          ? fmt::format("controller lost (no ack for {:.1f} s)", seconds_since(last_ack))
                          : "controller back");
        if (!controller_lost) stop_command_ran = false;
      }
      if (now_lease_lost != lease_lost) {
        lease_lost = now_lease_lost;
        log(settings, lease_lost
                          ? fmt::format("lease lost (not renewed for {:.1f} s)", seconds_since_renewal())
                          : "lease renewed again");
      }
      if (controller_lost && lease_lost) {
        log(settings, "controller and lease lost: self-fencing (watchdog)");
        if (lease) lease->stop();  // no renewal may follow the decision
        if (watchdog_fd >= 0) {
          // Stop petting without the magic close: the hardware resets the host within its timeout.
          ::close(watchdog_fd);
          watchdog_fd = -1;
        }
        if (!settings.watchdog_command.empty()) {
          int status = run_shell(settings.watchdog_command, settings.watchdog_s);
          log(settings, fmt::format("watchdog command exited with {}", status));
        }
        return 3;
      }
      if (controller_lost && settings.isolation_response == "stop" && !stop_command_ran &&
          seconds_since(last_ack) >= settings.controller_timeout_s + settings.isolation_grace_s) {
        stop_command_ran = true;
        log(settings, "isolated: applying the isolation response (stop)");
        if (!settings.stop_command.empty()) {
          int status = run_shell(settings.stop_command, 60.0);
          log(settings, fmt::format("stop command exited with {}", status));
        }
      }
    }
    // Wait for acks until the next tick.
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()).count();
    pollfd descriptor{socket_fd, POLLIN, 0};
    if (::poll(&descriptor, 1, static_cast<int>(std::max<long long>(0, std::min<long long>(wait, 200)))) >
        0) {
      char buffer[1024];
      ssize_t got = ::recv(socket_fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) {
        auto decoded = revive::detect::decode(std::string_view(buffer, static_cast<std::size_t>(got)), key,
                                              MessageKind::ack);
        if (decoded.error == revive::detect::DecodeError::none && decoded.message.host == settings.host &&
            decoded.message.epoch == epoch && decoded.message.sequence <= sequence) {
          last_ack = Clock::now();
        }
      }
    }
  }
  if (watchdog_fd >= 0) {
    if (::write(watchdog_fd, "V", 1) != 1) log(settings, "watchdog magic close failed");  // disarm cleanly
    ::close(watchdog_fd);
  }
  log(settings, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"revive-agent: heartbeats, storage lease, isolation response and self-fencing for one host",
               "revive-agent"};
  Settings settings;
  app.add_option("--host", settings.host, "This host's name, as in the inventory")->required();
  app.add_option("--controller", settings.controller, "The controller's heartbeat endpoint ADDRESS:PORT")
      ->required();
  app.add_option("--key-file", settings.key_file, "File holding the shared heartbeat key")->required();
  app.add_option("--bind", settings.bind_address, "Local IPv4 address to send from");
  app.add_option("--interval", settings.interval_s, "Seconds between heartbeats and lease renewals")
      ->check(CLI::Range(0.01, 60.0));
  auto* lease_dir =
      app.add_option("--lease-dir", settings.lease_dir, "Directory on shared storage for the lease record");
  app.add_option("--lease-store", settings.lease_store,
                 "State store (SQLite file) holding the lease record instead")
      ->excludes(lease_dir);
  app.add_option("--lease-ttl", settings.lease_ttl_s,
                 "Seconds without renewal after which the lease is lost");
  app.add_option("--controller-timeout", settings.controller_timeout_s,
                 "Seconds without an ack after which the controller is lost");
  app.add_option("--watchdog", settings.watchdog_s, "Seconds the watchdog takes to reset the host");
  app.add_option("--isolation-response", settings.isolation_response, "leave (default) or stop")
      ->check(CLI::IsMember({"leave", "stop"}));
  app.add_option("--isolation-grace", settings.isolation_grace_s,
                 "Seconds isolated before the stop response runs");
  app.add_option("--stop-command", settings.stop_command, "Shell command stopping this host's VMs");
  app.add_option("--watchdog-command", settings.watchdog_command,
                 "Shell command run when self-fencing (tests: kill the host's processes)");
  app.add_option("--watchdog-device", settings.watchdog_device, "Watchdog device to pet, e.g. /dev/watchdog");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (!revive::detect::valid_host_name(settings.host)) {
    std::cerr << "revive-agent: --host: not a valid host name: " << settings.host << "\n";
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  try {
    return run(settings);
  } catch (const CLI::ValidationError& error) {
    std::cerr << "revive-agent: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "revive-agent: " << error.what() << "\n";
    return 2;
  }
}

// revive-agent: the host agent. Every --interval it
//   - sends a signed UDP heartbeat to the controller (--controller ADDR:PORT) and listens for its signed
//     acks;
//   - renews its storage lease (a record in --lease-dir, on storage shared with the controller, or in the
//     state store given by --lease-store); each record declares the agent's self-fence (heartbeat_protocol.h:
//     `none`, `watchdog:MS`, `command:MS`, `watchdog+command:MS`);
//   - pets --watchdog-device (a Linux watchdog: one write per interval, never containing 'V');
//   - when the controller is lost (no ack for --controller-timeout) but the lease still renews, the host is
//     isolated: it applies the isolation response (--isolation-response leave | stop: after --isolation-grace
//     it runs --stop-command once, e.g. to shut its VMs down);
//   - when it has lost both the controller and its lease (not renewed for --lease-ttl), it self-fences: no
//     renewal follows, it stops petting the watchdog device without the magic close (the kernel resets the
//     host within the device's timeout) and runs --self-fence-command (it must power the host off: on real
//     hosts `ipmitool -I open chassis power off` through the local BMC, or `echo o > /proc/sysrq-trigger`;
//     in tests it kills the simulated host's processes). With a watchdog device it then holds the device
//     (never petting it, so that no restarted agent can pet it again) until the host resets or it is killed;
//     without one it exits 3. A self-fence command that fails (with no watchdog behind it) is followed by
//     one more lease record declaring `none` when the lease can be written again. With neither it says so:
//     its records declared `none`, so the controller's lease level never took its lease as proof.
// The controller's lease fencer relies on this: an unchanged lease past ttl + watchdog + margin means the
// host is off — only when the host's last record declared a working self-fence within the lease level's
// watchdog time. On SIGTERM/SIGINT the agent first withdraws its declaration (one last record declaring
// `none`), then disarms the watchdog with the magic close 'V'; when that record cannot be written the
// watchdog stays armed (the host resets: the lease may still promise a self-fence).
// Logs one line per state change on stdout. Exit: 0 on SIGTERM/SIGINT, 2 bad arguments, 3 self-fenced.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
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
using revive::detect::SelfFence;
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
  std::string self_fence_command;
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

// What this agent can do to self-fence, as its lease records declare it. Written by the main thread, read
// by the lease renewer: atomics.
struct SelfFenceState {
  std::atomic<bool> watchdog{false};  // a watchdog device open, its last pet written
  bool command = false;               // a self-fence command configured (set before the renewer starts)
  std::atomic<std::int64_t> within_ms{0};
  SelfFence declared() const {
    SelfFence result;
    result.watchdog = watchdog;
    result.command = command;
    result.within_ms = result.working() ? within_ms.load() : 0;
    return result;
  }
};

// A Linux watchdog device (/dev/watchdog): opened at start, petted with one write per interval. The kernel
// resets the host when no write arrives within the device's timeout, unless the device was closed after a
// write containing 'V' (the magic close), which only a clean stop does. A device that is not a character
// device (a regular file or FIFO in tests) is written the same way; its timeout is taken as --watchdog.
class Watchdog {
 public:
  Watchdog(const std::string& path, double timeout_s, const Settings& settings) : settings_(settings) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) {
      throw std::runtime_error("cannot open watchdog device " + path + ": " + std::strerror(errno));
    }
    timeout_s_ = timeout_s;
    struct stat status {};
    if (::fstat(fd_, &status) == 0 && S_ISCHR(status.st_mode)) {
      int wanted = std::max(1, static_cast<int>(std::ceil(timeout_s)));
      if (::ioctl(fd_, WDIOC_SETTIMEOUT, &wanted) != 0) {
        log(settings_, fmt::format("watchdog {}: cannot set its timeout to {} s ({})", path, wanted,
                                   std::strerror(errno)));
      }
      int actual = 0;
      if (::ioctl(fd_, WDIOC_GETTIMEOUT, &actual) == 0 && actual > 0) {
        timeout_s_ = std::max(timeout_s, static_cast<double>(actual));
      }
    }
    log(settings_,
        fmt::format("watchdog {} open, resets the host {:g} s after the last pet", path, timeout_s_));
  }
  ~Watchdog() {
    // Closing without the magic character leaves a real watchdog running: the host resets.
    if (fd_ >= 0) ::close(fd_);
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  double timeout_s() const { return timeout_s_; }
  bool pet() {
    if (fd_ < 0 || stopped_) return false;
    return ::write(fd_, "k", 1) == 1;  // any byte but 'V'
  }
  // Self-fence: never pet again, never magic-close; the device stays open until the process ends.
  void stop_petting() { stopped_ = true; }
  // Clean stop: the magic close disarms the watchdog.
  void disarm() {
    if (fd_ < 0) return;
    if (::write(fd_, "V", 1) != 1) log(settings_, "watchdog magic close failed");
    ::close(fd_);
    fd_ = -1;
  }

 private:
  const Settings& settings_;
  int fd_ = -1;
  double timeout_s_ = 0.0;
  bool stopped_ = false;
};

// Renews the storage lease every interval on a thread of its own, so that slow storage (a commit whose fsync
// takes a second on a busy disk or array) never delays the network heartbeat: the two channels the
// controller compares to tell isolation from a crash stay independent. Thread-safe: start/stop/
// seconds_since_renewal from the main thread, the store and lease directory touched only by the thread.
class LeaseRenewer {
 public:
  LeaseRenewer(const Settings& settings, std::string key, std::uint64_t epoch,
               const SelfFenceState& self_fence)
      : settings_(settings),
        key_(std::move(key)),
        epoch_(epoch),
        self_fence_(self_fence),
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
  // Clean stop: stops renewing after one last record declaring no self-fence (so that the controller never
  // takes this lease's expiry as proof once the agent is gone). Returns whether that record was written.
  bool stop_and_withdraw() {
    {
      std::lock_guard lock(mutex_);
      withdraw_ = true;
    }
    stop();
    return withdrawn_;
  }
  // After stop(): writes one more record from the calling thread (e.g. withdrawing the self-fence
  // declaration once the self-fence command failed). True when it was stored.
  bool write_after_stop(const SelfFence& declared) {
    stop();
    return renew(declared);
  }
  double seconds_since_renewal() const {
    return seconds_since(Clock::time_point(Clock::duration(last_renewal_.load())));
  }

 private:
  void loop() {
    auto next = Clock::now();
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      if (renew(self_fence_.declared())) {
        last_renewal_ = Clock::now().time_since_epoch().count();
        error_logged_.clear();
      }
      next +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(settings_.interval_s));
      if (next < Clock::now()) next = Clock::now();
      lock.lock();
      wake_.wait_until(lock, next, [this] { return stopping_; });
    }
    if (withdraw_) {
      lock.unlock();
      withdrawn_ = renew(SelfFence{});
    }
  }

  // Writes one lease record; true when it was stored.
  bool renew(const SelfFence& declared) {
    SignedMessage lease{
        MessageKind::lease, settings_.host, epoch_, ++sequence_, revive::detect::unix_now_ms(), declared};
    std::string record = revive::detect::encode(lease, key_);
    bool renewed = false;
    {
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
    }
    return renewed;
  }

  const Settings& settings_;
  const std::string key_;
  const std::uint64_t epoch_;
  const SelfFenceState& self_fence_;
  std::uint64_t sequence_ = 0;
  bool withdraw_ = false;               // guarded by mutex_
  std::atomic<bool> withdrawn_{false};  // the last record (declaring none) was written
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
  SelfFenceState self_fence;
  std::optional<Watchdog> watchdog;
  if (!settings.watchdog_device.empty()) {
    watchdog.emplace(settings.watchdog_device, settings.watchdog_s, settings);
    if (watchdog->timeout_s() <= settings.interval_s) {
      log(settings, fmt::format("warning: the watchdog's timeout ({:g} s) is not above --interval ({:g} s): "
                                "it may reset the host between pets",
                                watchdog->timeout_s(), settings.interval_s));
    }
    self_fence.watchdog = watchdog->pet();
  }
  self_fence.command = !settings.self_fence_command.empty();
  {
    double within = settings.watchdog_s;  // the command runs under this time limit
    if (watchdog) within = std::max(within, watchdog->timeout_s());
    self_fence.within_ms = static_cast<std::int64_t>(std::ceil(within * 1000.0));
  }
  const bool has_lease = !settings.lease_dir.empty() || !settings.lease_store.empty();
  const std::uint64_t epoch = static_cast<std::uint64_t>(revive::detect::unix_now_ms());
  std::optional<LeaseRenewer> lease;
  if (has_lease) lease.emplace(settings, key, epoch, self_fence);  // its grace period starts now
  std::uint64_t sequence = 0;
  auto start = Clock::now();
  auto last_ack = start;  // a grace period at start
  bool controller_lost = false;
  bool lease_lost = false;
  bool stop_command_ran = false;
  auto next_tick = start;
  log(settings,
      fmt::format("started: controller {}, lease {}, interval {:g} s, self-fence {}", settings.controller,
                  !settings.lease_dir.empty()     ? "dir " + settings.lease_dir
                  : !settings.lease_store.empty() ? "store " + settings.lease_store
                                                  : std::string("(none)"),
                  settings.interval_s, revive::detect::to_string(self_fence.declared())));
  bool pet_failure_logged = false;

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
        log(settings, fmt::format("controller and lease lost: self-fencing ({})",
                                  revive::detect::to_string(self_fence.declared())));
        if (lease) lease->stop();  // no renewal may follow the decision
        if (watchdog) {
          // Stop petting without the magic close: the kernel resets the host within the device's timeout.
          watchdog->stop_petting();
          log(settings, fmt::format("watchdog: no longer petted, the host resets within {:g} s",
                                    watchdog->timeout_s()));
        }
        if (!settings.self_fence_command.empty()) {
          int status = run_shell(settings.self_fence_command, settings.watchdog_s);
          log(settings, fmt::format("self-fence command exited with {}{}", status,
                                    status == 0 ? "" : ": the host may still run its VMs"));
          if (status != 0 && !watchdog && lease) {
            // The declared self-fence did not happen: take the declaration back if the lease can still be
            // written (that record is also a renewal: the controller sees the host alive, as it is).
            bool withdrawn = lease->write_after_stop(SelfFence{});
            log(settings, withdrawn
                              ? "self-fence declaration withdrawn from the lease"
                              : "could not withdraw the self-fence declaration: the controller may take "
                                "the lease's expiry as proof while this host runs");
          }
        }
        if (!self_fence.declared().working()) {
          log(settings,
              "no self-fence configured (no --watchdog-device, no --self-fence-command): this host's "
              "VMs keep running; its lease records declared none, so the controller does not take "
              "the lease as proof");
        }
        if (watchdog) {
          // Hold the device, never petting it, until the host resets: an exit would let a restarted agent
          // open and pet it again, past the deadline the controller computed.
          log(settings, "self-fenced: holding the watchdog until the host resets");
          while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          log(settings, "stopped while self-fenced: the watchdog stays armed (no magic close)");
        }
        return 3;
      }
      if (watchdog) {
        bool petted = watchdog->pet();
        self_fence.watchdog = petted;  // the next lease record says whether the watchdog still works
        if (!petted && !pet_failure_logged) log(settings, "watchdog write failed: not declared any more");
        pet_failure_logged = !petted;
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
  // Withdraw the self-fence declaration first; only then disarm the watchdog. When the withdrawal cannot be
  // written, the lease may still promise a self-fence: the watchdog stays armed and resets the host.
  bool withdrawn = lease ? lease->stop_and_withdraw() : true;
  if (watchdog) {
    if (withdrawn) {
      watchdog->disarm();
    } else {
      log(settings, "could not withdraw the self-fence declaration from the lease: the watchdog stays armed");
    }
  } else if (!withdrawn && self_fence.command) {
    log(settings,
        "could not withdraw the self-fence declaration from the lease: the controller may take the "
        "lease's expiry as proof while this host runs");
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
  app.add_option(
      "--watchdog", settings.watchdog_s,
      "Seconds the self-fence takes at most: the watchdog device's timeout (set on the device) and "
      "the self-fence command's time limit");
  app.add_option("--isolation-response", settings.isolation_response, "leave (default) or stop")
      ->check(CLI::IsMember({"leave", "stop"}));
  app.add_option("--isolation-grace", settings.isolation_grace_s,
                 "Seconds isolated before the stop response runs");
  app.add_option("--stop-command", settings.stop_command, "Shell command stopping this host's VMs");
  app.add_option("--self-fence-command,--watchdog-command", settings.self_fence_command,
                 "Shell command run when self-fencing; it must power the host off (real hosts: `ipmitool -I "
                 "open chassis power off`, or `echo o > /proc/sysrq-trigger`; tests: kill the host's "
                 "processes)");
  app.add_option("--watchdog-device", settings.watchdog_device,
                 "Linux watchdog device to pet every interval, e.g. /dev/watchdog (magic close on a clean "
                 "stop only)");
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

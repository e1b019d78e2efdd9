#include "lab/tgt_daemon.h"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "drivers/tgt/tgt_storage.h"

namespace revive::lab {

namespace fs = std::filesystem;

namespace {

bool port_listens(int port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() > 5 && local.substr(local.size() - 5) == wanted) return true;
  }
  return false;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TgtDaemon::TgtDaemon(fs::path directory, std::string target_prefix)
    : directory_(std::move(directory)),
      target_prefix_(std::move(target_prefix)),
      admin_((directory_ / "socket.0").string(), drivers::TgtOptions{"tgtadm", 5.0, 2.0}) {
  fs::create_directories(directory_ / "disks");
}

TgtDaemon::~TgtDaemon() {
  stop();
}

bool TgtDaemon::start(double timeout_s, std::string* error) {
  port_ = free_tcp_port();
  fs::path log = directory_ / "tgtd.log";
  process_ = BackgroundProcess({"tgtd", "-f", "-C", "0", "--iscsi", "portal=" + portal()}, log,
                               {"TGT_IPC_SOCKET=" + (directory_ / "socket").string()});
  bool ready = eventually(
      [&] {
        if (!process_.running()) return true;
        return port_listens(port_) && admin_.call({"--op", "show", "--mode", "sys"}).ok;
      },
      timeout_s);
  if (ready && process_.running()) return true;
  if (error) *error = "tgtd did not come up on " + portal() + ": " + read_file(log);
  process_.stop();
  return false;
}

void TgtDaemon::stop() {
  if (process_.pid() <= 0) return;
  if (process_state(process_.pid()) != 'T') {
    std::vector<int> tids;
    {
      std::lock_guard lock(mutex_);
      tids = tids_;
    }
    for (int tid : tids) admin_.delete_target(tid);
    admin_.shutdown();
    eventually([&] { return !process_.running(); }, 2.0);
  }
  process_.stop();  // SIGKILL if still there, reaped
  std::lock_guard lock(mutex_);
  tids_.clear();
}

void TgtDaemon::kill() {
  process_.signal(SIGKILL);
  eventually([&] { return !process_.running(); }, 2.0);
}

void TgtDaemon::suspend() {
  process_.signal(SIGSTOP);
  eventually([&] { return process_state(process_.pid()) == 'T'; }, 2.0);
}

void TgtDaemon::resume() {
  process_.signal(SIGCONT);
  eventually([&] { return process_state(process_.pid()) != 'T'; }, 2.0);
}

std::string TgtDaemon::add_disk(const std::string& disk, unsigned size_mib) {
  fs::path backing = directory_ / "disks" / (disk + ".img");
  { std::ofstream file(backing, std::ios::binary | std::ios::trunc); }
  fs::resize_file(backing, static_cast<std::uintmax_t>(size_mib) << 20);
  std::string target = drivers::tgt_target_name(target_prefix_, disk);
  int tid = 0;
  {
    std::lock_guard lock(mutex_);
    tid = next_tid_++;
  }
  auto answer = admin_.create_target(tid, target, backing.string());
  if (!answer.ok) throw std::runtime_error("tgtd: " + answer.error);
  std::lock_guard lock(mutex_);
  tids_.push_back(tid);
  return target;
}

std::string TgtDaemon::lun_url(const std::string& target) const {
  return "iscsi://" + portal() + "/" + target + "/1";
}

bool TgtDaemon::initiator_can_open(const std::string& initiator, const std::string& target) const {
  return shell("iscsi-inq -i '" + initiator + "' '" + lun_url(target) + "' >/dev/null 2>&1", 10.0)
             .exit_status == 0;
}

std::vector<std::string> TgtDaemon::discovered_by(const std::string& initiator) const {
  auto listed = shell("iscsi-ls -i '" + initiator + "' 'iscsi://" + portal() + "' 2>/dev/null", 10.0);
  std::vector<std::string> targets;
  std::istringstream lines(listed.out);
  std::string line;
  while (std::getline(lines, line)) {
    // Target:iqn...:disk Portal:127.0.0.1:PORT,1
    if (line.rfind("Target:", 0) != 0) continue;
    auto end = line.find(" Portal:");
    targets.push_back(line.substr(7, end == std::string::npos ? std::string::npos : end - 7));
  }
  std::sort(targets.begin(), targets.end());
  return targets;
}

}  // namespace revive::lab

#include "drivers/tgt/tgt_admin.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "drivers/process/command.h"

namespace revive::drivers {

namespace {

std::string trim(std::string_view text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::size_t indentation(std::string_view line) {
  std::size_t spaces = 0;
  while (spaces < line.size() && line[spaces] == ' ') ++spaces;
  return spaces;
}

std::optional<int> parse_int(std::string_view text) {
  std::string value = trim(text);
  if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  if (value.size() > 9) return std::nullopt;
  return std::stoi(value);
}

}  // namespace

std::vector<TgtTarget> parse_tgt_targets(const std::string& show_output) {
  std::vector<TgtTarget> targets;
  std::istringstream lines(show_output);
  std::string line, section;
  while (std::getline(lines, line)) {
    if (line.rfind("Target ", 0) == 0) {
      auto colon = line.find(':');
      auto tid = colon == std::string::npos ? std::nullopt : parse_int(line.substr(7, colon - 7));
      if (!tid) continue;
      targets.push_back({*tid, trim(line.substr(colon + 1)), {}, {}, {}});
      section.clear();
      continue;
    }
    if (targets.empty()) continue;
    TgtTarget& target = targets.back();
    std::size_t indent = indentation(line);
    std::string text = trim(line);
    if (text.empty()) continue;
    if (indent == 4 && text.back() == ':') {
      section = text;
      continue;
    }
    if (section == "ACL information:" && indent >= 8) {
      target.acl.push_back(text);
    } else if (section == "I_T nexus information:" && text.rfind("Initiator: ", 0) == 0) {
      std::string initiator = text.substr(11);
      if (auto alias = initiator.find(" alias:"); alias != std::string::npos) initiator.resize(alias);
      target.sessions.push_back(trim(initiator));
    } else if (section == "LUN information:" && text.rfind("Backing store path: ", 0) == 0) {
      std::string path = trim(text.substr(20));
      if (path != "None" && !path.empty()) target.backing.push_back(path);
    }
  }
  return targets;
}

std::vector<TgtConnection> parse_tgt_connections(const std::string& show_output) {
  std::vector<TgtConnection> connections;
  std::istringstream lines(show_output);
  std::string line;
  int sid = -1, cid = -1;
  while (std::getline(lines, line)) {
    std::string text = trim(line);
    if (text.rfind("Session: ", 0) == 0) {
      sid = parse_int(text.substr(9)).value_or(-1);
      cid = -1;
    } else if (text.rfind("Connection: ", 0) == 0) {
      cid = parse_int(text.substr(12)).value_or(-1);
    } else if (text.rfind("Initiator: ", 0) == 0 && sid >= 0 && cid >= 0) {
      std::string initiator = text.substr(11);
      if (auto alias = initiator.find(" alias:"); alias != std::string::npos) initiator.resize(alias);
      connections.push_back({sid, cid, trim(initiator)});
    }
  }
  return connections;
}

bool TgtAdmin::valid_control_socket(const std::string& control_socket) {
  auto dot = control_socket.rfind('.');
  if (dot == std::string::npos || dot == 0 || control_socket[dot - 1] == '/') return false;
  auto number = parse_int(std::string_view(control_socket).substr(dot + 1));
  return number.has_value() && control_socket.find('/') != std::string::npos;
}

TgtAdmin::TgtAdmin(std::string control_socket, TgtOptions options)
    : control_socket_(std::move(control_socket)), options_(std::move(options)) {
  if (valid_control_socket(control_socket_)) {
    auto dot = control_socket_.rfind('.');
    socket_base_ = control_socket_.substr(0, dot);
    control_number_ = control_socket_.substr(dot + 1);
  }
}

TgtAdmin::Call TgtAdmin::call(const std::vector<std::string>& arguments) const {
  Call result;
  if (control_number_.empty()) {
    result.message = "the control socket " + control_socket_ + " is not of the form BASE.N (tgtd -C N)";
    return result;
  }
  struct stat info {};
  if (::stat(control_socket_.c_str(), &info) != 0 || !S_ISSOCK(info.st_mode)) {
    result.unreachable = true;
    result.message = "no control socket " + control_socket_ + ": tgtd is not running";
    return result;
  }
  Command command;
  command.argv = {options_.tgtadm, "-C", control_number_, "--lld", "iscsi"};
  command.argv.insert(command.argv.end(), arguments.begin(), arguments.end());
  command.environment = {{"TGT_IPC_SOCKET", socket_base_}};
  command.timeout_s = options_.call_timeout_s;
  CommandResult run = run_command(command);
  result.exit_status = run.exit_status;
  result.out = std::move(run.out);
  if (!run.started) {
    result.message = "cannot run " + options_.tgtadm + ": " + run.error;
    return result;
  }
  if (run.timed_out) {
    result.timed_out = true;
    result.message = fmt::format("tgtd at {} gave no answer within {:g} s (hung?)", control_socket_,
                                 options_.call_timeout_s);
    return result;
  }
  std::string message = trim(run.err);
  if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  if (message.rfind("tgtadm: ", 0) == 0) message = message.substr(8);
  result.message = message;
  result.ok = run.exit_status == 0;
  if (!result.ok && (message.find("Transport endpoint is not connected") != std::string::npos ||
                     message.find("can't connect") != std::string::npos ||
                     message.find("Connection refused") != std::string::npos)) {
    result.unreachable = true;
    result.message = "tgtd at " + control_socket_ + " does not answer (dead?): " + message;
  }
  return result;
}

TgtAnswer TgtAdmin::failure_of(const Call& call, const std::string& action, int calls) const {
  // Unreachable or hung: tgtd may come back (transient); anything else it refused on purpose.
  bool transient = call.unreachable || call.timed_out;
  std::string message = call.message.empty() ? fmt::format("exit {}", call.exit_status) : call.message;
  return TgtAnswer::failure(action + ": " + message, !transient, calls);
}

std::optional<std::vector<TgtTarget>> TgtAdmin::targets(TgtAnswer& answer) {
  Call show = call({"--op", "show", "--mode", "target"});
  answer.calls += 1;
  if (!show.ok) {
    answer = failure_of(show, "list targets", answer.calls);
    return std::nullopt;
  }
  return parse_tgt_targets(show.out);
}

std::optional<TgtTarget> TgtAdmin::find_target(const std::string& target, bool refresh, TgtAnswer& answer) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    bool fresh = listed_ && now - listed_at_ < std::chrono::duration<double>(options_.listing_max_age_s);
    if (!refresh && fresh) {
      if (auto found = listing_.find(target); found != listing_.end()) return found->second;
    }
  }
  auto listed = targets(answer);
  if (!listed) return std::nullopt;
  std::lock_guard lock(mutex_);
  listing_.clear();
  for (auto& entry : *listed) listing_[entry.name] = std::move(entry);
  listed_ = true;
  listed_at_ = now;
  if (auto found = listing_.find(target); found != listing_.end()) return found->second;
  answer = TgtAnswer::failure("no target " + target + " on tgtd at " + control_socket_ +
                                  " (a bad target name, or the disk is not on this array)",
                              true, answer.calls);
  return std::nullopt;
}

TgtAnswer TgtAdmin::map(const std::string& target, const std::string& iqn) {
  TgtAnswer answer;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto found = find_target(target, attempt > 0, answer);
    if (!found) return answer;
    std::string tid = std::to_string(found->tid);
    std::vector<std::string> bind = {"--op",  "bind", "--mode",           "target",
                                     "--tid", tid,    "--initiator-name", iqn};
    Call first = call(bind);
    ++answer.calls;
    if (!first.ok && first.message.find("can't find the target") != std::string::npos) continue;
    if (!first.ok && first.message.find("already exists") == std::string::npos)
      return failure_of(first, "bind " + iqn, answer.calls);
    // Read back: tgtd looks the name up in the target's ACL and must find it there now.
    Call again = call(bind);
    ++answer.calls;
    if (again.ok)
      return TgtAnswer::failure("bind " + iqn + " reported success but the ACL read back did not list it",
                                false, answer.calls);
    if (again.message.find("already exists") == std::string::npos)
      return failure_of(again, "read the ACL back", answer.calls);
    return TgtAnswer::success(answer.calls);
  }
  return TgtAnswer::failure(
      "target " + target + " vanished from tgtd at " + control_socket_ + " while mapping", false,
      answer.calls);
}

TgtAnswer TgtAdmin::unmap(const std::string& target, const std::string& iqn) {
  TgtAnswer answer;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto found = find_target(target, attempt > 0, answer);
    if (!found) return answer;
    // An address rule admits any initiator from there: unbinding a name cannot revoke its access.
    for (const auto& rule : found->acl) {
      if (!model::is_iscsi_name(rule))
        return TgtAnswer::failure("the ACL holds the address rule '" + rule +
                                      "', which admits any initiator from there: access cannot be revoked by "
                                      "initiator name",
                                  true, answer.calls);
    }
    std::string tid = std::to_string(found->tid);
    std::vector<std::string> unbind = {"--op",  "unbind", "--mode",           "target",
                                       "--tid", tid,      "--initiator-name", iqn};
    Call first = call(unbind);
    ++answer.calls;
    if (!first.ok && first.message.find("can't find the target") != std::string::npos) continue;
    if (!first.ok && first.message.find("does not exist") == std::string::npos)
      return failure_of(first, "unbind " + iqn, answer.calls);
    Call again = call(unbind);  // read back: the name must be gone from the ACL
    ++answer.calls;
    if (again.ok)
      return TgtAnswer::failure("unbind " + iqn + " reported success but the ACL read back still listed it",
                                false, answer.calls);
    if (again.message.find("does not exist") == std::string::npos)
      return failure_of(again, "read the ACL back", answer.calls);
    // End the initiator's sessions (unbinding alone leaves them working) until the listing shows none.
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                               std::chrono::duration<double>(options_.session_end_timeout_s));
    while (true) {
      Call connections = call({"--op", "show", "--mode", "conn", "--tid", tid});
      ++answer.calls;
      if (!connections.ok) return failure_of(connections, "list connections", answer.calls);
      int open = 0;
      for (const auto& connection : parse_tgt_connections(connections.out)) {
        if (connection.initiator != iqn) continue;
        ++open;
        Call end = call({"--op", "delete", "--mode", "conn", "--tid", tid, "--sid",
                         std::to_string(connection.sid), "--cid", std::to_string(connection.cid)});
        ++answer.calls;
        if (!end.ok && end.message.find("can't find") == std::string::npos)
          return failure_of(end, "end the session of " + iqn, answer.calls);
      }
      if (open == 0) return TgtAnswer::success(answer.calls);
      if (std::chrono::steady_clock::now() >= deadline)
        return TgtAnswer::failure(
            fmt::format("a session of {} is still open {:g} s after its connections were "
                        "deleted",
                        iqn, options_.session_end_timeout_s),
            false, answer.calls);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return TgtAnswer::failure(
      "target " + target + " vanished from tgtd at " + control_socket_ + " while unmapping", false,
      answer.calls);
}

TgtAnswer TgtAdmin::create_target(int tid, const std::string& name, const std::string& backing_file) {
  std::string tid_text = std::to_string(tid);
  Call target = call({"--op", "new", "--mode", "target", "--tid", tid_text, "-T", name});
  if (!target.ok) return failure_of(target, "create target " + name, 1);
  Call lun =
      call({"--op", "new", "--mode", "logicalunit", "--tid", tid_text, "--lun", "1", "-b", backing_file});
  if (!lun.ok) return failure_of(lun, "add LUN 1 on " + backing_file + " to " + name, 2);
  return TgtAnswer::success(2);
}

TgtAnswer TgtAdmin::delete_target(int tid) {
  Call removed = call({"--op", "delete", "--mode", "target", "--tid", std::to_string(tid), "--force"});
  if (!removed.ok) return failure_of(removed, "delete target " + std::to_string(tid), 1);
  return TgtAnswer::success(1);
}

TgtAnswer TgtAdmin::shutdown() {
  Call system = call({"--op", "delete", "--mode", "system"});
  if (!system.ok) return failure_of(system, "stop tgtd", 1);
  return TgtAnswer::success(1);
}

}  // namespace revive::drivers

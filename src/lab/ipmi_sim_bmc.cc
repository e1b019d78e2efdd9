#include "lab/ipmi_sim_bmc.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace revive::lab {

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Single quotes for sh: 'it'\''s'.
std::string sh_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace

IpmiSimBmc::IpmiSimBmc(std::filesystem::path directory, std::string password, std::string power_on_command)
    : directory_(std::move(directory)), password_(std::move(password)), port_(free_udp_port()) {
  std::filesystem::create_directories(directory_ / "state");
  write("power", "1\n");
  write("pids", "");
  write("markers", "");
  write("password", password_ + "\n");
  ::chmod(password_file().c_str(), 0600);
  const std::string dir = sh_quote(directory_.string());
  write("chassis.sh",
        "#!/bin/sh\n"
        "# ipmi_sim's chassis_control hook: chassis.sh 0x20 get power | set power 0|1 | kill\n"
        "dir=" +
            dir +
            "\n"
            "echo \"$*\" >> \"$dir/calls\"\n"
            "kill_victims() {\n"
            "  victims=$(cat \"$dir/pids\")\n"
            "  if [ -s \"$dir/markers\" ]; then\n"
            "    victims=\"$victims $(grep -lsFf \"$dir/markers\" /proc/[0-9]*/cmdline /proc/[0-9]*/environ"
            " | cut -d/ -f3 | sort -u)\"\n"
            "  fi\n"
            "  for pid in $victims; do [ \"$pid\" != $$ ] && kill -9 \"$pid\" 2>/dev/null; done\n"
            "  # SIGKILL takes effect asynchronously: wait (up to 1 s) until every victim is dead or a "
            "zombie.\n"
            "  for attempt in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do\n"
            "    alive=\n"
            "    for pid in $victims; do\n"
            "      state=$(sed 's/.*) //; s/ .*//' \"/proc/$pid/stat\" 2>/dev/null)\n"
            "      [ \"$pid\" != $$ ] && [ -n \"$state\" ] && [ \"$state\" != Z ] && [ \"$state\" != X ] && "
            "alive=1\n"
            "    done\n"
            "    [ -z \"$alive\" ] && break\n"
            "    sleep 0.05\n"
            "  done\n"
            "}\n"
            "case \"$2\" in\n"
            "  get) echo \"power:$(cat \"$dir/power\")\" ;;\n"
            "  kill) kill_victims ;;\n"
            "  set)\n"
            "    if [ \"$3\" = power ]; then\n"
            "      if [ \"$4\" = 0 ]; then\n"
            "        kill_victims\n"
            "        echo x >> \"$dir/power-offs\"\n"
            "      else\n" +
            (power_on_command.empty() ? std::string("        :\n") : "        " + power_on_command + "\n") +
            "      fi\n"
            "      echo \"$4\" > \"$dir/power\"\n"
            "    fi ;;\n"
            "esac\n"
            "exit 0\n");
  ::chmod((directory_ / "chassis.sh").c_str(), 0755);
  write_lan_config();
  write("sim.emu",
        "mc_setbmc 0x20\n"
        "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
        "sel_enable 0x20 1000 0x0a\n"
        "mc_enable 0x20\n");
}

void IpmiSimBmc::write_lan_config() const {
  write("lan.conf", "name \"bmc-" + std::to_string(port_) +
                        "\"\n"
                        "set_working_mc 0x20\n"
                        "  startlan 1\n"
                        "    addr 127.0.0.1 " +
                        std::to_string(port_) +
                        "\n"
                        "    priv_limit admin\n"
                        "    allowed_auths_callback none md2 md5 straight\n"
                        "    allowed_auths_user none md2 md5 straight\n"
                        "    allowed_auths_operator none md2 md5 straight\n"
                        "    allowed_auths_admin none md2 md5 straight\n"
                        "    guid a123456789abcdefa123456789abcdef\n"
                        "  endlan\n"
                        // Through /bin/sh, not exec'd: a script written while another thread forks may be
                        // held open by that child for a moment (exec would fail: "Text file busy").
                        "  chassis_control \"/bin/sh " +
                        (directory_ / "chassis.sh").string() +
                        " 0x20\"\n"
                        "user 2 true \"admin\" \"" +
                        password_ + "\" admin 10 none md2 md5 straight\n");
}

IpmiSimBmc::~IpmiSimBmc() {
  stop();
  kill_victims();
}

bool IpmiSimBmc::start(double timeout_s, std::string* error) {
  // The port was free when chosen, but another process may have bound it since (tests run side by side).
  // Before anyone has been told the port (the first start), take another one and try again.
  for (int attempt = 1;; ++attempt) {
    if (start_once(timeout_s, error)) {
      started_ = true;
      return true;
    }
    bool port_taken =
        read_text(directory_ / "ipmi_sim.log").find("Address already in use") != std::string::npos;
    if (started_ || !port_taken || attempt == 5) return false;
    port_ = free_udp_port();
    write_lan_config();
  }
}

bool IpmiSimBmc::start_once(double timeout_s, std::string* error) {
  stop();
  process_ =
      BackgroundProcess({"ipmi_sim", "-c", (directory_ / "lan.conf").string(), "-f",
                         (directory_ / "sim.emu").string(), "-s", (directory_ / "state").string(), "-n"},
                        directory_ / "ipmi_sim.log");
  auto status = ipmitool("status");
  bool up = eventually(
      [&] {
        if (!process_.running()) return true;
        drivers::Command command;
        command.argv = status;
        command.timeout_s = 5.0;
        auto result = drivers::run_command(command);
        return !result.timed_out && result.exit_status == 0;
      },
      timeout_s);
  up = up && process_.running();
  if (!up) {
    if (error != nullptr) *error = "ipmi_sim did not answer: " + read_text(directory_ / "ipmi_sim.log");
    stop();
  }
  return up;
}

void IpmiSimBmc::stop() {
  process_.stop();
}

void IpmiSimBmc::set_victim_pids(const std::vector<int>& pids) {
  std::string text;
  for (int pid : pids) text += std::to_string(pid) + "\n";
  write("pids", text);
}

void IpmiSimBmc::add_victim_pid(int pid) {
  std::ofstream(directory_ / "pids", std::ios::app) << pid << "\n";
}

void IpmiSimBmc::add_victim_marker(const std::string& marker) {
  std::ofstream(directory_ / "markers", std::ios::app) << marker << "\n";
}

void IpmiSimBmc::kill_victims() {
  drivers::Command command;
  command.argv = {"/bin/sh", (directory_ / "chassis.sh").string(), "0x20", "kill"};
  command.timeout_s = 10.0;
  drivers::run_command(command);
}

bool IpmiSimBmc::powered_on() const {
  return power_file() == "1\n";
}

std::string IpmiSimBmc::power_file() const {
  return read_text(directory_ / "power");
}

std::size_t IpmiSimBmc::power_offs() const {
  std::error_code ignored;
  auto size = std::filesystem::file_size(directory_ / "power-offs", ignored);
  return ignored ? 0 : static_cast<std::size_t>(size / 2);
}

std::string IpmiSimBmc::calls() const {
  return read_text(directory_ / "calls");
}

std::vector<std::string> IpmiSimBmc::ipmitool(const std::string& action) const {
  return {"ipmitool",
          "-I",
          "lanplus",
          "-C",
          "3",
          "-H",
          "127.0.0.1",
          "-p",
          std::to_string(port_),
          "-U",
          user(),
          "-f",
          password_file().string(),
          "chassis",
          "power",
          action};
}

void IpmiSimBmc::write(const std::string& name, const std::string& text) const {
  std::ofstream(directory_ / name, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace revive::lab

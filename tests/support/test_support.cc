#include "support/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace revive::testing {

std::filesystem::path source_dir() {
  return REVIVE_SOURCE_DIR;
}
std::filesystem::path examples_dir() {
  return source_dir() / "examples";
}
std::filesystem::path shared_dir() {
  return REVIVE_SHARED_DIR;
}
bool shared_dir_present() {
  return std::filesystem::is_directory(shared_dir() / "scenarios");
}
std::filesystem::path cli_path() {
  return REVIVE_CLI;
}

std::vector<ScenarioDirectory> scenario_directories(const std::filesystem::path& directory) {
  std::vector<ScenarioDirectory> found;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    auto inventory = entry.path() / "inventory.yaml";
    if (!entry.is_directory() || !std::filesystem::exists(inventory)) continue;
    ScenarioDirectory scenario_directory{inventory, {}};
    for (const auto& file : std::filesystem::directory_iterator(entry.path())) {
      auto name = file.path().filename().string();
      if (name.starts_with("scenario") && file.path().extension() == ".yaml") {
        scenario_directory.scenarios.push_back(file.path());
      }
    }
    std::sort(scenario_directory.scenarios.begin(), scenario_directory.scenarios.end());
    found.push_back(std::move(scenario_directory));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& left, const auto& right) { return left.inventory < right.inventory; });
  return found;
}

TempDir::TempDir() {
  std::random_device random;
  path_ = std::filesystem::temp_directory_path() /
          ("revive-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& text) const {
  auto file = path_ / name;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out << text;
  return file;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TestCertificates make_test_certificates(const std::filesystem::path& dir) {
  TestCertificates made{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  {
    std::ofstream extensions(dir / "server.ext");
    extensions << "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n";
  }
  const std::string d = "'" + dir.string() + "/";
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::vector<std::string> commands = {
      "openssl req -x509" + key + " -keyout " + d + "ca.key' -out " + d +
          "ca.pem' -days 2 -subj /CN=revive-test-ca",
      "openssl req" + key + " -keyout " + d + "server.key' -out " + d + "server.csr' -subj /CN=127.0.0.1",
      "openssl x509 -req -in " + d + "server.csr' -CA " + d + "ca.pem' -CAkey " + d +
          "ca.key' -CAcreateserial -days 2 -out " + d + "server.pem' -extfile " + d + "server.ext'",
  };
  for (const auto& command : commands) {
    int status = std::system((command + " >/dev/null 2>&1").c_str());
    EXPECT_EQ(status, 0) << command;
  }
  return made;
}

CommandResult run_cli(const std::vector<std::string>& arguments, int timeout_s) {
  TempDir capture;
  auto out_path = capture.path() / "out";
  auto err_path = capture.path() / "err";
  pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    std::vector<std::string> owned{cli_path().string()};
    owned.insert(owned.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (auto& argument : owned) argv.push_back(argument.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      throw std::runtime_error("revive timed out");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CommandResult result;
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string make_api_token(const std::string& name, const std::string& role, std::string& line) {
  auto made = run_cli({"token", "new", name, "--role", role}, 30);
  EXPECT_EQ(made.exit_status, 0) << made.err;
  auto at = made.out.find("tokens_file line: ") + 18;
  line = made.out.substr(at, made.out.find('\n', at) - at);
  return made.out.substr(made.out.find("token: ") + 7, 64);
}

}  // namespace revive::testing

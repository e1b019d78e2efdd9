// Helpers shared by the tests: paths to the repository, its example clouds and scenarios, the project's
// contract files beside it, the built CLI, a temporary directory that removes itself, and running the CLI as
// a user would (exit status, stdout, stderr).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace revive::testing {

std::filesystem::path source_dir();
std::filesystem::path examples_dir();  // examples/ in the repository: pod-16/, tight-8/, the demo's cloud
std::filesystem::path cli_path();      // the built `revive` binary

// ../shared beside the repository: the project's contract files (spec/, scenarios/). A user's clone has none,
// so the tests that check those files themselves skip without it: SKIP_UNLESS_SHARED_DIR_PRESENT() first.
std::filesystem::path shared_dir();
bool shared_dir_present();
#define SKIP_UNLESS_SHARED_DIR_PRESENT()                                                               \
  do {                                                                                                 \
    if (!::revive::testing::shared_dir_present())                                                      \
      GTEST_SKIP()                                                                                     \
          << "checks the contract files of " << ::revive::testing::shared_dir().string()               \
          << ", which is absent (a clone with nothing beside it); the copies in examples/ are tested"; \
  } while (false)

// The scenario directories under `directory` (examples/, ../shared/scenarios/): each
// <dir>/<name>/inventory.yaml with the scenario files beside it (<dir>/<name>/scenario*.yaml), sorted by
// name.
struct ScenarioDirectory {
  std::filesystem::path inventory;
  std::vector<std::filesystem::path> scenarios;
};
std::vector<ScenarioDirectory> scenario_directories(const std::filesystem::path& directory);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::filesystem::path write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_status = -1;
  std::string out;
  std::string err;
};

// Runs the revive CLI with `arguments` (no shell), with a time limit; captures stdout and stderr.
CommandResult run_cli(const std::vector<std::string>& arguments, int timeout_s = 300);

std::string read_file(const std::filesystem::path& path);

// Runs `command` with /bin/sh, stderr into stdout: its exit status (-1 when it could not run or was killed)
// and output in `out`.
CommandResult run_shell(const std::string& command);

// A new API token from `revive token new NAME --role ROLE`: the token, and its tokens-file line in `line`.
std::string make_api_token(const std::string& name, const std::string& role, std::string& line);

// A throwaway certificate authority and a server certificate it signed for 127.0.0.1 (and localhost), made
// with the `openssl` command in `dir` (PEM files ca.pem, server.pem, server.key). Fails the test if openssl
// fails.
struct TestCertificates {
  std::filesystem::path ca, certificate, key;
};
TestCertificates make_test_certificates(const std::filesystem::path& dir);

}  // namespace revive::testing

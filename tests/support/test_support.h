// Helpers shared by the tests: paths to the repository, the shared scenarios and the built CLI, a temporary
// directory that removes itself, and running the CLI as a user would (exit status, stdout, stderr).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace revive::testing {

std::filesystem::path source_dir();
std::filesystem::path shared_dir();  // ../shared beside the repository
std::filesystem::path cli_path();    // the built `revive` binary

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

}  // namespace revive::testing

// SqliteStore: env::StateStore in one SQLite file (WAL mode, 5 s busy timeout so that the CLI and the daemon
// can use it at once). Opened with StoreOpening::create_if_missing (the daemon, the agent, `--create`), a
// missing file is created with its schema, and its directory too; with StoreOpening::existing_only (the
// operator's readers and switches) a missing file throws StoreMissing and nothing is created. Other errors
// throw env::StoreError naming the file. Thread-safety: one object per thread.
#pragma once

#include <string>

#include "env/state_store.h"

struct sqlite3;

namespace revive::store {

enum class StoreOpening { create_if_missing, existing_only };

// Thrown by an existing_only opening of a path where no file exists.
class StoreMissing : public env::StoreError {
 public:
  using env::StoreError::StoreError;
};

class SqliteStore final : public env::StateStore {
 public:
  explicit SqliteStore(const std::string& path, int busy_timeout_ms = 5000,
                       StoreOpening opening = StoreOpening::create_if_missing);
  ~SqliteStore() override;

  env::ArmState arm_state() override;
  void set_armed(bool armed, const std::string& by, const std::string& reason) override;
  void confirm_down(const std::string& host, const std::string& by) override;
  std::vector<env::DownConfirmation> confirmations(bool include_applied = false) override;
  void mark_applied(std::int64_t confirmation_id) override;
  void publish_status(const std::string& json) override;
  std::optional<env::PublishedStatus> published_status() override;
  void write_lease(const std::string& host, const std::string& record) override;
  std::vector<std::pair<std::string, std::string>> leases() override;

  const std::string& path() const { return path_; }

 private:
  void execute(const std::string& sql);
  [[noreturn]] void fail(const std::string& what);
  std::string path_;
  sqlite3* db_ = nullptr;
};

// The store path: `option` if given, else $REVIVE_STATE, else /var/lib/revive/state.db.
std::string state_path(const std::string& option);

}  // namespace revive::store

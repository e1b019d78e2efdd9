#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "store/sqlite_statement.h"

namespace revive::store {

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string state_path(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* variable = std::getenv("REVIVE_STATE"); variable && *variable) return variable;
  return "/var/lib/revive/state.db";
}

SqliteStore::SqliteStore(const std::string& path, int busy_timeout_ms, StoreOpening opening) : path_(path) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
  if (opening == StoreOpening::create_if_missing) {
    std::error_code ignored;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
    flags |= SQLITE_OPEN_CREATE;
  } else {
    std::error_code error;
    if (!std::filesystem::exists(path, error) && !error) throw StoreMissing("no state store at " + path);
  }
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw env::StoreError("state store " + path + ": cannot open: " + message);
  }
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  execute("PRAGMA journal_mode=WAL");
  execute(
      "CREATE TABLE IF NOT EXISTS switches (name TEXT PRIMARY KEY, value TEXT NOT NULL, by TEXT NOT NULL,"
      " reason TEXT NOT NULL, at_ms INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS confirmations (id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL,"
      " by TEXT NOT NULL, at_ms INTEGER NOT NULL, applied INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE IF NOT EXISTS status (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL,"
      " at_ms INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS leases (host TEXT PRIMARY KEY, record TEXT NOT NULL, at_ms INTEGER NOT "
      "NULL);");
}

SqliteStore::~SqliteStore() {
  sqlite3_close(db_);
}

void SqliteStore::fail(const std::string& what) {
  throw env::StoreError("state store " + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

void SqliteStore::execute(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw env::StoreError("state store " + path_ + ": " + message);
  }
}

env::ArmState SqliteStore::arm_state() {
  Statement query(db_, "SELECT value, by, reason, at_ms FROM switches WHERE name = 'armed'");
  if (!query.ok()) fail("read armed");
  env::ArmState state;
  int result = query.step();
  if (result == SQLITE_ROW) {
    state.armed = query.text(0) == "1";
    state.by = query.text(1);
    state.reason = query.text(2);
    state.at_unix_ms = query.integer(3);
  } else if (result != SQLITE_DONE) {
    fail("read armed");
  }
  return state;
}

void SqliteStore::set_armed(bool armed, const std::string& by, const std::string& reason) {
  Statement update(db_,
                   "INSERT INTO switches (name, value, by, reason, at_ms) VALUES ('armed', ?1, ?2, ?3, ?4)"
                   " ON CONFLICT(name) DO UPDATE SET value = ?1, by = ?2, reason = ?3, at_ms = ?4");
  if (!update.ok()) fail("write armed");
  update.bind(1, std::string(armed ? "1" : "0")).bind(2, by).bind(3, reason).bind(4, now_ms());
  if (update.step() != SQLITE_DONE) fail("write armed");
}

void SqliteStore::confirm_down(const std::string& host, const std::string& by) {
  Statement insert(db_, "INSERT INTO confirmations (host, by, at_ms) VALUES (?1, ?2, ?3)");
  if (!insert.ok()) fail("record confirmation");
  insert.bind(1, host).bind(2, by).bind(3, now_ms());
  if (insert.step() != SQLITE_DONE) fail("record confirmation");
}

std::vector<env::DownConfirmation> SqliteStore::confirmations(bool include_applied) {
  Statement query(db_, include_applied ? "SELECT id, host, by, at_ms, applied FROM confirmations ORDER BY id"
                                       : "SELECT id, host, by, at_ms, applied FROM confirmations"
                                         " WHERE applied = 0 ORDER BY id");
  if (!query.ok()) fail("read confirmations");
  std::vector<env::DownConfirmation> result;
  int step;
  while ((step = query.step()) == SQLITE_ROW) {
    result.push_back(
        {query.integer(0), query.text(1), query.text(2), query.integer(3), query.integer(4) != 0});
  }
  if (step != SQLITE_DONE) fail("read confirmations");
  return result;
}

void SqliteStore::mark_applied(std::int64_t confirmation_id) {
  Statement update(db_, "UPDATE confirmations SET applied = 1 WHERE id = ?1");
  if (!update.ok()) fail("mark confirmation");
  update.bind(1, confirmation_id);
  if (update.step() != SQLITE_DONE) fail("mark confirmation");
}

void SqliteStore::publish_status(const std::string& json) {
  Statement update(db_,
                   "INSERT INTO status (id, json, at_ms) VALUES (1, ?1, ?2)"
                   " ON CONFLICT(id) DO UPDATE SET json = ?1, at_ms = ?2");
  if (!update.ok()) fail("publish status");
  update.bind(1, json).bind(2, now_ms());
  if (update.step() != SQLITE_DONE) fail("publish status");
}

std::optional<env::PublishedStatus> SqliteStore::published_status() {
  Statement query(db_, "SELECT json, at_ms FROM status WHERE id = 1");
  if (!query.ok()) fail("read status");
  int step = query.step();
  if (step == SQLITE_ROW) return env::PublishedStatus{query.text(0), query.integer(1)};
  if (step != SQLITE_DONE) fail("read status");
  return std::nullopt;
}

void SqliteStore::write_lease(const std::string& host, const std::string& record) {
  Statement update(db_,
                   "INSERT INTO leases (host, record, at_ms) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT(host) DO UPDATE SET record = ?2, at_ms = ?3");
  if (!update.ok()) fail("write lease");
  update.bind(1, host).bind(2, record).bind(3, now_ms());
  if (update.step() != SQLITE_DONE) fail("write lease");
}

std::vector<std::pair<std::string, std::string>> SqliteStore::leases() {
  Statement query(db_, "SELECT host, record FROM leases ORDER BY host");
  if (!query.ok()) fail("read leases");
  std::vector<std::pair<std::string, std::string>> result;
  int step;
  while ((step = query.step()) == SQLITE_ROW) result.emplace_back(query.text(0), query.text(1));
  if (step != SQLITE_DONE) fail("read leases");
  return result;
}

}  // namespace revive::store

#include "daemon/audit.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "daemon/event_log.h"
#include "store/sqlite_statement.h"

namespace revive::daemon {

namespace {

using nlohmann::json;
using store::Statement;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms    INTEGER NOT NULL,
  kind     TEXT NOT NULL,
  who      TEXT NOT NULL,
  what     TEXT NOT NULL,
  status   INTEGER NOT NULL,
  result   TEXT NOT NULL,
  details  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

}  // namespace

AuditLog::AuditLog(const std::string& path, std::size_t max_queued) : path_(path), max_queued_(max_queued) {
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ignored);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string error = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("audit log " + path + ": cannot open: " + error);
  }
  sqlite3_busy_timeout(db_, 5000);
  char* error = nullptr;
  std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;") + kSchema;
  if (sqlite3_exec(db_, setup.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    sqlite3_close(db_);
    throw std::runtime_error("audit log " + path + ": " + message);
  }
  writer_ = std::thread([this] { write_loop(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  writer_.join();
  sqlite3_close(db_);
}

void AuditLog::append(AuditRecord record) {
  if (record.at_unix_ms == 0) record.at_unix_ms = unix_now_ms();
  {
    std::lock_guard lock(mutex_);
    if (queued_.size() >= max_queued_) {
      ++dropped_;
      return;
    }
    queued_.push_back(std::move(record));
    ++appended_;
  }
  work_.notify_one();
}

void AuditLog::write_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (queued_.empty() && stopping_) return;
    std::vector<AuditRecord> batch(std::make_move_iterator(queued_.begin()),
                                   std::make_move_iterator(queued_.end()));
    queued_.clear();
    std::uint64_t lost = dropped_ - dropped_reported_;
    dropped_reported_ = dropped_;
    lock.unlock();
    commit(batch, lost);
    lock.lock();
    written_count_ += batch.size();
    written_.notify_all();
  }
}

void AuditLog::commit(const std::vector<AuditRecord>& batch, std::uint64_t dropped) {
  std::lock_guard db_lock(db_mutex_);
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(mutex_);
    failure_ = fmt::format("audit log {}: {}: {}", path_, what, sqlite3_errmsg(db_));
  };
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("begin");
  Statement insert(db_,
                   "INSERT INTO audit (at_ms, kind, who, what, status, result, details) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)");
  auto write = [&](const AuditRecord& record) {
    insert.reset();
    insert.bind(1, record.at_unix_ms)
        .bind(2, record.kind)
        .bind(3, record.who)
        .bind(4, record.what)
        .bind(5, std::int64_t{record.status})
        .bind(6, record.result)
        .bind(7, record.details.dump());
    return insert.step() == SQLITE_DONE;
  };
  bool ok = insert.ok();
  if (ok && dropped > 0) {
    AuditRecord lost;
    lost.at_unix_ms = unix_now_ms();
    lost.kind = "request";
    lost.who = "revived";
    lost.what = "audit queue full";
    lost.result = "dropped";
    lost.details = {{"dropped", dropped}};
    ok = write(lost);
  }
  for (const auto& record : batch) {
    if (!ok) break;
    ok = write(record);
  }
  if (!ok) {
    fail("insert");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail("commit");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

std::vector<AuditRecord> AuditLog::query(const api::AuditQuery& query) {
  {
    std::unique_lock lock(mutex_);
    auto wanted = appended_;
    written_.wait_for(lock, std::chrono::seconds(2), [&] { return written_count_ >= wanted; });
  }
  std::lock_guard db_lock(db_mutex_);
  Statement select(db_,
                   "SELECT sequence, at_ms, kind, who, what, status, result, details FROM audit "
                   "WHERE at_ms >= ? AND (? = '' OR kind = ?) ORDER BY sequence LIMIT ?");
  if (!select.ok()) throw std::runtime_error("audit log " + path_ + ": " + sqlite3_errmsg(db_));
  select.bind(1, query.since_unix_ms)
      .bind(2, query.kind)
      .bind(3, query.kind)
      .bind(4, static_cast<std::int64_t>(query.limit));
  std::vector<AuditRecord> found;
  while (select.step() == SQLITE_ROW) {
    AuditRecord record;
    record.sequence = static_cast<std::uint64_t>(select.integer(0));
    record.at_unix_ms = select.integer(1);
    record.kind = select.text(2);
    record.who = select.text(3);
    record.what = select.text(4);
    record.status = static_cast<int>(select.integer(5));
    record.result = select.text(6);
    record.details = json::parse(select.text(7), nullptr, false);
    if (!record.details.is_object()) record.details = json::object();
    found.push_back(std::move(record));
  }
  return found;
}

std::uint64_t AuditLog::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

std::string AuditLog::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

json AuditLog::to_json(const AuditRecord& record) {
  return {{"sequence", record.sequence}, {"at", rfc3339(record.at_unix_ms)},
          {"kind", record.kind},         {"who", record.who},
          {"what", record.what},         {"status", record.status},
          {"result", record.result},     {"details", record.details}};
}

std::optional<AuditRecord> audit_record_of(const Event& event) {
  const char* result = event.kind == "host_fenced"            ? "fenced"
                       : event.kind == "fence_attempt_failed" ? "failed"
                       : event.kind == "fence_blocked"        ? "held"
                       : event.kind == "host_confirmed_down"  ? "confirmed"
                                                              : nullptr;
  if (result == nullptr) return std::nullopt;
  AuditRecord record;
  record.at_unix_ms = event.at_unix_ms;
  record.kind = "fence";
  record.who = event.details.is_object() ? event.details.value("by", "revived") : "revived";
  record.what = "fence " + event.host;
  record.result = result;
  json evidence = event.details.is_object() && event.details.contains("evidence") ? event.details["evidence"]
                                                                                  : json(nullptr);
  record.details = {
      {"host", event.host},
      {"operation", event.operation.empty() ? json(nullptr) : json(event.operation)},
      {"message", event.message},
      {"level", event.details.is_object() ? event.details.value("level", "") : ""},
      {"attempts", event.details.is_object() && event.details.contains("attempts") ? event.details["attempts"]
                                                                                   : json::array()},
      {"evidence", evidence},
      {"event", event.sequence}};
  return record;
}

AuditRecord AuditLog::of_request(const api::RequestRecord& request) {
  AuditRecord record;
  record.kind = "request";
  record.who = request.who;
  record.what = request.method + " " + request.path;
  record.status = request.status;
  record.result = request.status < 400 ? "ok" : "refused";
  json body = json::parse(request.body, nullptr, false);
  record.details = {{"body", body.is_discarded() ? json(request.body) : body}};
  if (!request.error.empty()) record.details["error"] = request.error;
  return record;
}

}  // namespace revive::daemon

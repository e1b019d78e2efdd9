// AuditLog: who changed what, and every fence, append-only in the daemon's store (data_dir/audit.db, SQLite,
// WAL). Records are of two kinds:
//   request  every state-changing API request, admitted or refused: who (the token's name), what (method and
//            path, the body in details), when, the HTTP status and its error;
//   fence    every fence result and operator confirmation: the host, the level, the result, the attempts and
//            the evidence behind the decision (daemon/fence_evidence.h).
// The table cannot be changed: triggers refuse UPDATE and DELETE. Records survive restarts; numbers are
// never reused.
// append() queues and returns at once (the engine thread never waits for the disk); one writer thread
// commits what is queued in one transaction. The queue holds at most `max_queued` records: beyond it a record
// is counted as dropped (dropped()), and the next one written says how many were lost.
// query() first waits (up to 2 s) for what was appended before it to be written, so a reader sees its own
// requests. Errors: the constructor throws std::runtime_error naming the file; a failed commit is kept in
// failure() and the records are lost (the daemon goes on: the audit never stops a recovery).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/service.h"

struct sqlite3;

namespace revive::daemon {

struct AuditRecord {
  std::uint64_t sequence = 0;   // assigned when written, from 1
  std::int64_t at_unix_ms = 0;  // set by append() when 0
  std::string kind;             // "request" or "fence"
  std::string who;              // token name, "anonymous", "(unauthenticated)"; "revived" for its own fences
  std::string what;             // "POST /v1/hosts/td0/evacuate", "fence td0"
  int status = 0;               // request: the HTTP status; fence: 0
  std::string result;           // request: "ok" or "refused"; fence: "fenced", "failed", "held", "confirmed"
  nlohmann::json details = nlohmann::json::object();
};

struct Event;
// The audit record of an event, for the fence kinds: host_fenced (result fenced), fence_attempt_failed
// (failed), fence_blocked (held), host_confirmed_down (confirmed, who: the operator). nullopt for others.
std::optional<AuditRecord> audit_record_of(const Event& event);

class AuditLog {
 public:
  explicit AuditLog(const std::string& path, std::size_t max_queued = 10000);
  ~AuditLog();  // writes what is queued, then closes
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void append(AuditRecord record);
  // The records at or after query.since_unix_ms, of query.kind (empty: all), oldest first, at most limit.
  std::vector<AuditRecord> query(const api::AuditQuery& query);
  std::uint64_t dropped() const;
  std::string failure() const;

  // {sequence, at, kind, who, what, status, result, details} (the API's AuditRecord).
  static nlohmann::json to_json(const AuditRecord& record);
  // The audit record of a state-changing request.
  static AuditRecord of_request(const api::RequestRecord& request);

 private:
  void write_loop();
  void commit(const std::vector<AuditRecord>& batch, std::uint64_t dropped);

  std::string path_;
  std::size_t max_queued_;
  sqlite3* db_ = nullptr;  // the writer's; query() uses it under db_mutex_
  std::mutex db_mutex_;

  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable written_;
  std::deque<AuditRecord> queued_;
  std::uint64_t appended_ = 0;  // records accepted by append()
  std::uint64_t written_count_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t dropped_reported_ = 0;
  std::string failure_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace revive::daemon

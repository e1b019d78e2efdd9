// Journal: the engine persists its intent before acting and each step's result after, so a controller that
// crashes resumes from the journal without repeating finished work (every step is idempotent anyway).
// Real drivers: SQLite, etcd (later); in-memory twin for the simulator. Thread-safety: engine thread only.
#pragma once

#include <string>
#include <vector>

namespace revive::env {

struct JournalRecord {
  std::string kind;     // "plan", "step_started", "step_done", "step_failed", ...
  std::string payload;  // JSON text
};

class Journal {
 public:
  Journal() = default;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  virtual ~Journal() = default;

  // Durable when it returns.
  virtual void append(const JournalRecord& record) = 0;
  // Every record appended so far, oldest first.
  virtual std::vector<JournalRecord> read_all() const = 0;
};

}  // namespace revive::env

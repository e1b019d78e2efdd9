// Journal: the engine persists its intent before acting and each step's result after, so a controller that
// crashes resumes from the journal without repeating finished work (every step is idempotent anyway).
// Real drivers: SQLite (store/sqlite_journal.h), etcd (later); in-memory twin for the simulator.
// Durability contract: append() returns the record's sequence number at once, possibly before the record is
// durable; wait_durable(sequence) blocks until it is. A driver about to perform a side effect calls
// wait_durable(the sequence of its intent record) on its own worker thread, so intent is persisted before
// acting while the engine thread never waits for a disk.
// Thread-safety: append, read_all and last_appended from the engine thread; wait_durable from any thread.
// Errors (disk full, unwritable or corrupt file) throw; the SQLite journal throws env::StoreError.
#pragma once

#include <cstdint>
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

  // Appends the record and returns its sequence number: one more than the previous record's (1 for a new
  // journal's first). Durable once wait_durable(sequence) has returned; the number of a durable record is
  // never given again (that of a record lost in a crash before it was durable may be).
  virtual std::uint64_t append(const JournalRecord& record) = 0;
  // Blocks until the record `sequence` and every earlier one are durable. Default: returns at once (a journal
  // whose records are durable when appended).
  virtual void wait_durable(std::uint64_t sequence) { static_cast<void>(sequence); }
  // The sequence number of the last record appended (0 if none).
  virtual std::uint64_t last_appended() const = 0;
  // Every record appended so far, oldest first (durable or not yet).
  virtual std::vector<JournalRecord> read_all() const = 0;
};

}  // namespace revive::env

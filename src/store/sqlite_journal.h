// SqliteJournal: env::Journal in one SQLite file (WAL mode), with group commit. append() assigns the sequence
// number, queues the record and returns at once; one writer thread commits everything queued in one
// transaction (a batch) with synchronous=FULL, so each batch costs one fsync of the WAL and a record is
// durable, across a process kill -9 and a power loss, once its batch has committed; then it wakes the waiters
// of wait_durable. The engine thread never waits for a disk; a batch holds whatever was appended while the
// previous one was being written (tens of thousands of records in a large recovery).
//
// Opening creates the file (and its directory) and the schema if missing, and checks an existing file (a
// Revive journal, quick_check passes). A journal has one writer, the active controller: the object holds an
// exclusive lock (flock on `<path>-lock`, which holds the owner's pid) for its life, and a second opener, in
// this process or another, is refused. The lock goes with the process, so a journal is reopened at once after
// a crash. Other processes may still read the file with SQLite.
//
// Errors throw env::StoreError naming the file: at open (unwritable path, not a journal, corrupt file, locked
// by another writer), and from append, wait_durable, flush, read_all, entries and truncate_before once a
// batch failed to commit (disk full, I/O error). A failed journal stays failed: records not yet durable are
// lost, and the controller must stop (and restart from what is durable). Thread-safety: every method may be
// called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "env/journal.h"
#include "env/state_store.h"

struct sqlite3;

namespace revive::store {

class SqliteJournal final : public env::Journal {
 public:
  struct Options {
    // Largest size of the database file in bytes (0: no limit); a batch that would grow it further fails
    // like a full disk.
    std::uint64_t max_file_bytes = 0;
  };

  // A record as stored: its sequence number and the wall time of its append (Unix ms).
  struct Entry {
    std::uint64_t sequence = 0;
    std::int64_t appended_unix_ms = 0;
    env::JournalRecord record;
  };

  explicit SqliteJournal(const std::string& path) : SqliteJournal(path, Options{}) {}
  SqliteJournal(const std::string& path, Options options);
  // Flushes (waits until every record appended is durable), then closes. Never throws: if the journal has
  // failed, what was not durable is lost.
  ~SqliteJournal() override;

  // Queues the record and returns its sequence number; never waits for the disk. Throws if the journal
  // failed.
  std::uint64_t append(const env::JournalRecord& record) override;
  // Blocks until record `sequence` is durable; returns at once for a record durable already (or truncated).
  // Throws env::StoreError if the journal failed before that record was durable, std::invalid_argument for a
  // sequence number not appended yet.
  void wait_durable(std::uint64_t sequence) override;
  std::uint64_t last_appended() const override;
  // The last record known durable (0 if none): every record up to it has committed.
  std::uint64_t last_durable() const;
  // Blocks until every record appended so far is durable.
  void flush();

  // Every record not truncated, oldest first: those durable (read from the file) followed by those still
  // queued or being written.
  std::vector<env::JournalRecord> read_all() const override;
  // The same, with sequence numbers and append times.
  std::vector<Entry> entries() const;

  // Compaction: drops every record numbered below `sequence` (the records of operations that are finished).
  // They leave read_all at once and the file with the next batch, durably with it (the writer runs one soon
  // even if nothing else is queued). Sequence numbers are never reused, even if every record is dropped. The
  // file does not shrink; SQLite reuses the freed pages.
  void truncate_before(std::uint64_t sequence);

  // Batches committed by this object, for tests and benchmarks.
  std::uint64_t batches_committed() const;

  const std::string& path() const { return path_; }

 private:
  void open_database(const Options& options);
  void acquire_writer_lock();
  void sync_directory();
  void write_batches();
  void commit(const std::vector<Entry>& batch, std::uint64_t truncate_before);
  void execute(sqlite3* db, const char* sql);
  [[noreturn]] void fail(sqlite3* db, const std::string& what) const;
  void throw_if_failed() const;  // REQUIRES: mutex_ held

  std::string path_;
  int lock_fd_ = -1;
  sqlite3* db_ = nullptr;      // the writer thread's (and the constructor's)
  sqlite3* reader_ = nullptr;  // read_all's, under reader_mutex_
  mutable std::mutex reader_mutex_;

  mutable std::mutex mutex_;         // guards everything below
  std::condition_variable work_;     // the writer waits for records, a truncation or stop
  std::condition_variable durable_;  // waiters of wait_durable
  std::vector<Entry> queued_;
  std::vector<Entry> writing_;  // the batch being committed (read by read_all while writing_visible_)
  bool writing_visible_ = false;
  std::uint64_t last_appended_ = 0;
  std::uint64_t last_durable_ = 0;
  std::uint64_t truncate_requested_ = 0;  // records below it are dropped (0: none)
  std::uint64_t truncated_in_file_ = 0;
  std::uint64_t batches_committed_ = 0;
  std::string failure_;  // why the journal failed ("" while it works)
  bool stopping_ = false;
  std::thread writer_;
};

// The journal path: `option` if given, else $REVIVE_JOURNAL, else /var/lib/revive/journal.db.
std::string journal_path(const std::string& option);

}  // namespace revive::store

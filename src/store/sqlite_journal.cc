#include "store/sqlite_journal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "store/sqlite_statement.h"

namespace revive::store {

namespace {

// PRAGMA application_id of a Revive journal ("RVJL"), so that another SQLite file is never taken for one.
constexpr std::int64_t kApplicationId = 0x52564a4c;
constexpr int kSchemaVersion = 1;
constexpr int kBusyTimeoutMs = 5000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string journal_path(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* variable = std::getenv("REVIVE_JOURNAL"); variable && *variable) return variable;
  return "/var/lib/revive/journal.db";
}

SqliteJournal::SqliteJournal(const std::string& path, Options options) : path_(path) {
  std::error_code ignored;  // a directory that cannot be created makes the open below fail, naming the file
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
  try {
    acquire_writer_lock();
    open_database(options);
    writer_ = std::thread([this] { write_batches(); });
  } catch (...) {
    sqlite3_close(reader_);
    sqlite3_close(db_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw;
  }
}

SqliteJournal::~SqliteJournal() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  writer_.join();  // the writer commits what is queued before it returns
  sqlite3_close(reader_);
  sqlite3_close(db_);  // the last connection: checkpoints the WAL into the file
  ::close(lock_fd_);   // releases the lock only once the file is closed
}

void SqliteJournal::acquire_writer_lock() {
  std::string lock_path = path_ + "-lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    throw env::StoreError("journal " + path_ + ": cannot open its lock file " + lock_path + ": " +
                          std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    char holder[32] = {};
    auto length = ::pread(lock_fd_, holder, sizeof holder - 1, 0);
    std::string pid = length > 0 ? std::string(holder, static_cast<std::size_t>(length)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    if (error == EWOULDBLOCK) {
      throw env::StoreError("journal " + path_ + ": already open for writing (by process " +
                            (pid.empty() ? "unknown" : pid) + ", lock " + lock_path +
                            "); a journal has one writer, the active controller");
    }
    throw env::StoreError("journal " + path_ + ": cannot lock " + lock_path + ": " + std::strerror(error));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 ||
      ::pwrite(lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    throw env::StoreError("journal " + path_ + ": cannot write its lock file " + lock_path + ": " +
                          std::strerror(errno));
  }
}

void SqliteJournal::open_database(const Options& options) {
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    fail(db_, "cannot open");
  }
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  {
    Statement mode(db_, "PRAGMA journal_mode=WAL");
    if (!mode.ok() || mode.step() != SQLITE_ROW) fail(db_, "cannot open");
    if (mode.text(0) != "wal") {
      throw env::StoreError("journal " + path_ + ": cannot use WAL mode (journal_mode is " + mode.text(0) +
                            ")");
    }
  }
  // FULL: the WAL is synced at every commit, so a committed batch survives a power loss, not only a crash.
  execute(db_, "PRAGMA synchronous=FULL");

  std::int64_t application_id = 0;
  std::int64_t tables = 0;
  {
    Statement query(db_,
                    "SELECT (SELECT application_id FROM pragma_application_id),"
                    " (SELECT count(*) FROM sqlite_master WHERE type = 'table')");
    if (!query.ok() || query.step() != SQLITE_ROW) fail(db_, "cannot read");
    application_id = query.integer(0);
    tables = query.integer(1);
  }
  if (application_id == 0 && tables == 0) {
    execute(db_, "BEGIN IMMEDIATE");
    execute(db_,
            "CREATE TABLE records (sequence INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
            " payload TEXT NOT NULL, appended_ms INTEGER NOT NULL)");
    execute(db_, ("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str());
    execute(db_, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    execute(db_, "COMMIT");
    sync_directory();  // the new file's name survives a power loss too (SQLite syncs the WAL's itself)
  } else if (application_id != kApplicationId) {
    throw env::StoreError("journal " + path_ + ": not a Revive journal (an SQLite file with application_id " +
                          std::to_string(application_id) + " and " + std::to_string(tables) + " tables)");
  } else {
    Statement check(db_, "PRAGMA quick_check(4)");  // "ok", or the first problems found
    if (!check.ok()) fail(db_, "corrupt file");
    std::string verdict;
    int step;
    while ((step = check.step()) == SQLITE_ROW) verdict += (verdict.empty() ? "" : "; ") + check.text(0);
    if (step != SQLITE_DONE) fail(db_, "corrupt file");
    if (verdict != "ok") {
      std::replace(verdict.begin(), verdict.end(), '\n',
                   ' ');  // one line: "*** in database main *** Page 21: ..."
      throw env::StoreError("journal " + path_ + ": corrupt file: " + verdict);
    }
  }
  if (options.max_file_bytes > 0) {
    Statement page_size(db_, "PRAGMA page_size");
    if (!page_size.ok() || page_size.step() != SQLITE_ROW) fail(db_, "cannot read the page size");
    auto pages =
        std::max<std::uint64_t>(1, options.max_file_bytes / static_cast<std::uint64_t>(page_size.integer(0)));
    execute(db_, ("PRAGMA max_page_count=" + std::to_string(pages)).c_str());
  }
  {
    Statement last(db_,
                   "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0),"
                   " coalesce((SELECT max(sequence) FROM records), 0))");
    if (!last.ok() || last.step() != SQLITE_ROW) fail(db_, "cannot read (is the schema intact?)");
    last_appended_ = last_durable_ = static_cast<std::uint64_t>(last.integer(0));
  }
  if (sqlite3_open_v2(path_.c_str(), &reader_, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    fail(reader_, "cannot open for reading");
  }
  sqlite3_busy_timeout(reader_, kBusyTimeoutMs);
}

std::uint64_t SqliteJournal::append(const env::JournalRecord& record) {
  bool writer_idle;
  std::uint64_t sequence;
  {
    std::lock_guard lock(mutex_);
    throw_if_failed();
    sequence = ++last_appended_;
    queued_.push_back(Entry{sequence, now_ms(), record});
    writer_idle = queued_.size() == 1;  // the writer waits only while nothing is queued
  }
  if (writer_idle) work_.notify_one();
  return sequence;
}

void SqliteJournal::wait_durable(std::uint64_t sequence) {
  std::unique_lock lock(mutex_);
  if (sequence > last_appended_) {
    throw std::invalid_argument("journal " + path_ + ": wait_durable(" + std::to_string(sequence) +
                                ") but the last record appended is " + std::to_string(last_appended_));
  }
  durable_.wait(lock, [&] { return last_durable_ >= sequence || !failure_.empty(); });
  if (last_durable_ < sequence) throw env::StoreError(failure_);
}

void SqliteJournal::flush() {
  wait_durable(last_appended());
}

std::uint64_t SqliteJournal::last_appended() const {
  std::lock_guard lock(mutex_);
  return last_appended_;
}

std::uint64_t SqliteJournal::last_durable() const {
  std::lock_guard lock(mutex_);
  return last_durable_;
}

std::uint64_t SqliteJournal::batches_committed() const {
  std::lock_guard lock(mutex_);
  return batches_committed_;
}

void SqliteJournal::truncate_before(std::uint64_t sequence) {
  {
    std::lock_guard lock(mutex_);
    throw_if_failed();
    sequence = std::min(sequence, last_appended_ + 1);  // never drops a record not appended yet
    if (sequence <= truncate_requested_) return;
    truncate_requested_ = sequence;
  }
  work_.notify_one();
}

std::vector<env::JournalRecord> SqliteJournal::read_all() const {
  auto stored = entries();
  std::vector<env::JournalRecord> records;
  records.reserve(stored.size());
  for (auto& entry : stored) records.push_back(std::move(entry.record));
  return records;
}

std::vector<SqliteJournal::Entry> SqliteJournal::entries() const {
  // Records up to last_durable are in the file; the later ones are in writing_ or queued_ (a batch committed
  // but not yet counted durable is taken from writing_ and left out of the query).
  std::uint64_t durable = 0;
  std::uint64_t first = 0;
  std::vector<Entry> pending;
  {
    std::lock_guard lock(mutex_);
    throw_if_failed();
    durable = last_durable_;
    first = truncate_requested_;
    if (writing_visible_) {
      for (const auto& entry : writing_)
        if (entry.sequence > durable && entry.sequence >= first) pending.push_back(entry);
    }
    for (const auto& entry : queued_)
      if (entry.sequence >= first) pending.push_back(entry);
  }
  std::vector<Entry> result;
  {
    std::lock_guard lock(reader_mutex_);
    Statement query(reader_,
                    "SELECT sequence, appended_ms, kind, payload FROM records"
                    " WHERE sequence >= ?1 AND sequence <= ?2 ORDER BY sequence");
    if (!query.ok()) fail(reader_, "cannot read");
    query.bind(1, static_cast<std::int64_t>(first)).bind(2, static_cast<std::int64_t>(durable));
    int step;
    while ((step = query.step()) == SQLITE_ROW) {
      result.push_back(Entry{static_cast<std::uint64_t>(query.integer(0)), query.integer(1),
                             env::JournalRecord{query.text(2), query.text(3)}});
    }
    if (step != SQLITE_DONE) fail(reader_, "cannot read");
  }
  result.insert(result.end(), std::make_move_iterator(pending.begin()),
                std::make_move_iterator(pending.end()));
  return result;
}

void SqliteJournal::write_batches() {
  while (true) {
    std::uint64_t truncate = 0;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock,
                 [&] { return !queued_.empty() || truncate_requested_ > truncated_in_file_ || stopping_; });
      if (queued_.empty() && truncate_requested_ <= truncated_in_file_) return;  // stopping, nothing left
      std::swap(queued_, writing_);  // writing_ was empty: the queue reuses the last batch's capacity
      writing_visible_ = true;
      truncate = truncate_requested_;
    }
    std::string error;
    try {
      commit(writing_, truncate);
    } catch (const env::StoreError& failure) {
      error = failure.what();
    } catch (const std::exception& failure) {  // bad_alloc
      error = "journal " + path_ + ": " + failure.what();
    }
    bool failed = !error.empty();
    {
      std::lock_guard lock(mutex_);
      writing_visible_ = false;
      if (!failed) {
        if (!writing_.empty()) last_durable_ = writing_.back().sequence;
        truncated_in_file_ = truncate;
        ++batches_committed_;
      } else {
        failure_ = std::move(error);
      }
    }
    durable_.notify_all();
    writing_.clear();    // outside the lock: read_all no longer looks at it
    if (failed) return;  // a failed journal stays failed: append and wait_durable throw from now on
  }
}

void SqliteJournal::commit(const std::vector<Entry>& batch, std::uint64_t truncate_before) {
  try {
    execute(db_, "BEGIN IMMEDIATE");
    if (!batch.empty()) {
      Statement insert(db_,
                       "INSERT INTO records (sequence, kind, payload, appended_ms) VALUES (?1, ?2, ?3, ?4)");
      if (!insert.ok()) fail(db_, "cannot append");
      for (const auto& entry : batch) {
        insert.bind(1, static_cast<std::int64_t>(entry.sequence))
            .bind_static(2, entry.record.kind)
            .bind_static(3, entry.record.payload)
            .bind(4, entry.appended_unix_ms);
        if (insert.step() != SQLITE_DONE) fail(db_, "cannot append");
        insert.reset();
      }
    }
    if (truncate_before > truncated_in_file_) {
      Statement remove(db_, "DELETE FROM records WHERE sequence < ?1");
      if (!remove.ok()) fail(db_, "cannot truncate");
      remove.bind(1, static_cast<std::int64_t>(truncate_before));
      if (remove.step() != SQLITE_DONE) fail(db_, "cannot truncate");
    }
    execute(db_, "COMMIT");
  } catch (const env::StoreError&) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr,
                 nullptr);  // fails harmlessly if SQLite rolled back already
    throw;
  }
}

void SqliteJournal::sync_directory() {
  auto directory = std::filesystem::path(path_).parent_path();
  if (directory.empty()) directory = ".";
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int error = errno;
    if (fd >= 0) ::close(fd);
    throw env::StoreError("journal " + path_ + ": cannot sync its directory: " + std::strerror(error));
  }
  ::close(fd);
}

void SqliteJournal::execute(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    throw env::StoreError("journal " + path_ + ": " + message);
  }
}

void SqliteJournal::fail(sqlite3* db, const std::string& what) const {
  throw env::StoreError("journal " + path_ + ": " + what + ": " +
                        (db ? sqlite3_errmsg(db) : "out of memory"));
}

void SqliteJournal::throw_if_failed() const {
  if (!failure_.empty()) throw env::StoreError(failure_);
}

}  // namespace revive::store

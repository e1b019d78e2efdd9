// store::SqliteJournal: records round trip in order across batches and reopenings, wait_durable and flush,
// compaction, one writer at a time, clear errors for bad files, and durability of every acknowledged record
// when the writing process is killed (-9) at a random point.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_journal.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"

namespace revive {
namespace {

using store::SqliteJournal;
using testing::TempDir;

// A step_started record as the executor would journal it (about 300 bytes), tagged with `n`.
env::JournalRecord step_started(std::uint64_t n) {
  auto vm = std::to_string(100000 + n);
  return {"step_started",
          R"({"vm":"vm-)" + vm + R"(","step":"disk_map","host":"host-0193","disk":"vm-)" + vm +
              R"(-disk-2","array":"array-07","target":"iqn.2026-01.net.example:array-07.lun-)" + vm +
              R"(-2","attempt":0,"generation":1,"tier":"critical","deadline_s":412.5,"estimate_s":3.2,)"
              R"("reason":"host host-0042 failed, fence confirmed","n":)" +
              std::to_string(n) + "}"};
}

bool same(const env::JournalRecord& a, const env::JournalRecord& b) {
  return a.kind == b.kind && a.payload == b.payload;
}

// Rows of the journal's table as another connection sees them (what is committed).
std::int64_t committed_rows(const std::string& path, const char* where = "1") {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  std::string sql = std::string("SELECT count(*) FROM records WHERE ") + where;
  sqlite3_stmt* query = nullptr;
  std::int64_t rows = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &query, nullptr) == SQLITE_OK &&
      sqlite3_step(query) == SQLITE_ROW)
    rows = sqlite3_column_int64(query, 0);
  sqlite3_finalize(query);
  sqlite3_close(db);
  return rows;
}

template <typename Function>
std::string error_of(Function&& function) {
  try {
    function();
  } catch (const env::StoreError& error) {
    return error.what();
  }
  return "";
}

TEST(SqliteJournal, RoundTripsRecordsWithTheirSequenceNumbers) {
  TempDir dir;
  auto path = (dir.path() / "sub" / "journal.db").string();  // the directory is created
  SqliteJournal journal(path);
  EXPECT_EQ(journal.last_appended(), 0u);
  EXPECT_TRUE(journal.read_all().empty());
  EXPECT_EQ(journal.append({"host_failed", R"({"host":"host-1"})"}), 1u);
  EXPECT_EQ(journal.append(step_started(1)), 2u);
  EXPECT_EQ(journal.append({"step_done", "{}"}), 3u);
  EXPECT_EQ(journal.last_appended(), 3u);
  journal.flush();
  EXPECT_EQ(journal.last_durable(), 3u);
  auto records = journal.read_all();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].kind, "host_failed");
  EXPECT_EQ(records[0].payload, R"({"host":"host-1"})");
  EXPECT_TRUE(same(records[1], step_started(1)));
  EXPECT_EQ(records[2].kind, "step_done");
  auto entries = journal.entries();
  ASSERT_EQ(entries.size(), 3u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].sequence, i + 1);
    EXPECT_GT(entries[i].appended_unix_ms, 0);
  }
  EXPECT_EQ(committed_rows(path), 3);
}

TEST(SqliteJournal, KeepsOrderAcrossBatchesAndReadsQueuedRecordsToo) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  std::vector<env::JournalRecord> appended;
  std::mt19937 random(7);
  {
    SqliteJournal journal(path);
    for (int burst = 0; burst < 40; ++burst) {
      int size = 1 + static_cast<int>(random() % 400);
      std::uint64_t last = 0;
      for (int i = 0; i < size; ++i) {
        appended.push_back(step_started(appended.size()));
        last = journal.append(appended.back());
        EXPECT_EQ(last, appended.size());
      }
      if (burst % 3 == 0) journal.wait_durable(last);  // the next burst goes into a later batch
      if (burst % 5 == 0) {
        // Whatever is durable, being written or queued: everything, in order.
        auto records = journal.read_all();
        ASSERT_EQ(records.size(), appended.size());
        for (std::size_t i = 0; i < records.size(); ++i) ASSERT_TRUE(same(records[i], appended[i])) << i;
      }
    }
    EXPECT_GE(journal.batches_committed(), 14u);  // at least one per wait_durable
    journal.flush();
    EXPECT_LE(journal.batches_committed(), appended.size());
  }
  SqliteJournal reopened(path);
  auto records = reopened.read_all();
  ASSERT_EQ(records.size(), appended.size());
  for (std::size_t i = 0; i < records.size(); ++i) ASSERT_TRUE(same(records[i], appended[i])) << i;
}

TEST(SqliteJournal, WaitDurableFromSeveralThreads) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  SqliteJournal journal(path);
  constexpr std::uint64_t kRecords = 20000;
  std::atomic<std::uint64_t> published{0};  // the engine thread's last append, as drivers would learn it
  std::atomic<int> checked{0};
  std::vector<std::thread> drivers;
  for (int driver = 0; driver < 4; ++driver) {
    drivers.emplace_back([&, driver] {
      std::uint64_t next = 1 + static_cast<std::uint64_t>(driver);
      while (next <= kRecords) {
        auto latest = published.load();
        if (latest < next) {
          std::this_thread::yield();
          continue;
        }
        journal.wait_durable(next);
        EXPECT_GE(journal.last_durable(), next);
        if (next % 1000 == static_cast<std::uint64_t>(driver)) {  // durable means committed: others see it
          EXPECT_EQ(committed_rows(path, ("sequence = " + std::to_string(next)).c_str()), 1);
        }
        ++checked;
        next += 1 + next % 97;  // drivers wait on scattered records
      }
    });
  }
  for (std::uint64_t n = 1; n <= kRecords; ++n) {
    auto sequence = journal.append(step_started(n));
    published.store(sequence);
  }
  for (auto& driver : drivers) driver.join();
  EXPECT_GT(checked.load(), 4 * 200);
  EXPECT_EQ(journal.last_appended(), kRecords);
}

TEST(SqliteJournal, FlushMakesEveryRecordDurable) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  SqliteJournal journal(path);
  for (std::uint64_t n = 1; n <= 5000; ++n) journal.append(step_started(n));
  journal.flush();
  EXPECT_EQ(journal.last_durable(), 5000u);
  EXPECT_EQ(committed_rows(path), 5000);
  journal.flush();  // nothing queued: returns at once
  EXPECT_THROW(journal.wait_durable(5001), std::invalid_argument);
}

TEST(SqliteJournal, ReopenReadsBackAndContinuesTheSequence) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  {
    SqliteJournal journal(path);
    for (std::uint64_t n = 1; n <= 100; ++n) journal.append(step_started(n));
  }  // the destructor flushes
  {
    SqliteJournal journal(path);
    auto records = journal.read_all();
    ASSERT_EQ(records.size(), 100u);
    for (std::uint64_t n = 1; n <= 100; ++n) EXPECT_TRUE(same(records[n - 1], step_started(n)));
    EXPECT_EQ(journal.last_appended(), 100u);
    EXPECT_EQ(journal.last_durable(), 100u);
    EXPECT_EQ(journal.append({"resumed", "{}"}), 101u);
    journal.truncate_before(102);  // every record dropped
    EXPECT_TRUE(journal.read_all().empty());
  }
  SqliteJournal journal(path);
  EXPECT_TRUE(journal.read_all().empty());
  EXPECT_EQ(journal.append({"resumed", "{}"}), 102u);  // sequence numbers are never reused
}

TEST(SqliteJournal, TruncateBeforeDropsFinishedRecords) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  {
    SqliteJournal journal(path);
    for (std::uint64_t n = 1; n <= 10; ++n) journal.append(step_started(n));
    journal.flush();
    for (std::uint64_t n = 11; n <= 20; ++n) journal.append(step_started(n));
    journal.truncate_before(6);  // durable and queued records alike
    auto entries = journal.entries();
    ASSERT_EQ(entries.size(), 15u);
    EXPECT_EQ(entries.front().sequence, 6u);
    EXPECT_EQ(entries.back().sequence, 20u);
    journal.truncate_before(3);  // earlier than before: nothing to do
    EXPECT_EQ(journal.read_all().size(), 15u);
    journal.truncate_before(1000);  // capped at the next record: later appends stay
    EXPECT_TRUE(journal.read_all().empty());
    EXPECT_EQ(journal.append(step_started(21)), 21u);
    ASSERT_EQ(journal.read_all().size(), 1u);
  }
  EXPECT_EQ(committed_rows(path), 1);
  SqliteJournal journal(path);
  auto entries = journal.entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].sequence, 21u);
  EXPECT_TRUE(same(entries[0].record, step_started(21)));
}

// ---- crash durability ----------------------------------------------------------------------------------

// Kills and reaps the child when the test ends, however it ends.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess() { kill_and_reap(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  int kill_and_reap() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  // Waits (bounded) for the child to exit by itself; true and its status if it did.
  bool wait_for_exit(std::chrono::seconds limit, int& status) {
    for (auto deadline = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < deadline;) {
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        status = status_;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  pid_t pid_;
  int status_ = 0;
};

// In the child: appends bursts of records, waits until each is durable and reports its sequence number on
// `report` (8 bytes each), until killed.
[[noreturn]] void append_until_killed(const std::string& path, int report, unsigned seed) {
  try {
    SqliteJournal journal(path);
    std::mt19937 random(seed);
    std::vector<std::uint64_t> burst;
    while (true) {
      burst.clear();
      auto size = 1 + random() % 200;
      for (std::size_t i = 0; i < size; ++i) {
        auto expected = journal.last_appended() + 1;
        if (journal.append(step_started(expected)) != expected) ::_exit(4);
        burst.push_back(expected);
      }
      for (auto sequence : burst) {
        journal.wait_durable(sequence);
        if (::write(report, &sequence, sizeof sequence) != static_cast<ssize_t>(sizeof sequence)) ::_exit(5);
      }
    }
  } catch (...) {
    ::_exit(3);
  }
}

TEST(SqliteJournal, EveryAcknowledgedRecordSurvivesAKill9) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  std::random_device device;
  unsigned seed = device();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::set<std::uint64_t> acknowledged;
  for (int round = 0; round < 6; ++round) {
    int pipe_ends[2];
    ASSERT_EQ(::pipe2(pipe_ends, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(pipe_ends[0]);
      append_until_killed(path, pipe_ends[1], seed + static_cast<unsigned>(round));
    }
    ChildProcess child(pid);
    ::close(pipe_ends[1]);
    // Kill after a random number of acknowledgements, then take the ones already in the pipe too.
    std::size_t kill_after = acknowledged.size() + 1 + random() % 3000;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string bytes;
    bool killed = false, ended = false;
    while (!ended) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd ready{pipe_ends[0], POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      auto got = ::read(pipe_ends[0], buffer, sizeof buffer);
      if (got <= 0) {
        ended = true;  // every writer of the pipe is gone
        break;
      }
      bytes.append(buffer, static_cast<std::size_t>(got));
      for (; bytes.size() >= sizeof(std::uint64_t); bytes.erase(0, sizeof(std::uint64_t))) {
        std::uint64_t sequence;
        std::memcpy(&sequence, bytes.data(), sizeof sequence);
        acknowledged.insert(sequence);
      }
      if (!killed && acknowledged.size() >= kill_after) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
    }
    ::close(pipe_ends[0]);
    int status = child.kill_and_reap();
    ASSERT_TRUE(killed) << "the child acknowledged " << acknowledged.size() << " records (wanted "
                        << kill_after << ") in 60 s; status " << status;
    ASSERT_TRUE(ended) << "the pipe did not close within 60 s";
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

    SqliteJournal reopened(path);  // the dead writer's lock went with it
    auto entries = reopened.entries();
    std::set<std::uint64_t> found;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      ASSERT_EQ(entries[i].sequence, i + 1) << "records in order, none missing";
      ASSERT_TRUE(same(entries[i].record, step_started(entries[i].sequence))) << entries[i].sequence;
      found.insert(entries[i].sequence);
    }
    for (auto sequence : acknowledged)
      ASSERT_TRUE(found.count(sequence)) << "acknowledged " << sequence << " lost";
    EXPECT_GE(reopened.last_appended(), *acknowledged.rbegin());
  }
}

// ---- errors --------------------------------------------------------------------------------------------

TEST(SqliteJournal, UnwritablePathIsAClearError) {
  TempDir dir;
  auto blocker = dir.write("not-a-directory", "a file where the journal's directory should be");
  auto path = (blocker / "journal.db").string();
  auto error = error_of([&] { SqliteJournal journal(path); });
  EXPECT_NE(error.find("journal " + path), std::string::npos) << error;
}

TEST(SqliteJournal, AFileThatIsNotADatabaseIsAClearError) {
  TempDir dir;
  auto path = dir.write("journal.db", std::string(8192, 'x')).string();
  auto error = error_of([&] { SqliteJournal journal(path); });
  EXPECT_NE(error.find("journal " + path), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
}

TEST(SqliteJournal, AnotherSqliteFileIsNotTakenForAJournal) {
  TempDir dir;
  auto path = (dir.path() / "state.db").string();
  { store::SqliteStore state(path); }
  auto error = error_of([&] { SqliteJournal journal(path); });
  EXPECT_NE(error.find("journal " + path + ": not a Revive journal"), std::string::npos) << error;
}

TEST(SqliteJournal, ACorruptJournalIsAClearError) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  {
    SqliteJournal journal(path);
    for (std::uint64_t n = 1; n <= 3000; ++n) journal.append(step_started(n));
  }  // closed: the WAL is checkpointed into the file
  auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 40u * 4096);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(20 * 4096);
    std::string garbage(8 * 4096, '\xAB');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto error = error_of([&] { SqliteJournal journal(path); });
  EXPECT_NE(error.find("journal " + path), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
}

TEST(SqliteJournal, ASecondWriterIsRefused) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  {
    SqliteJournal first(path);
    first.append({"plan", "{}"});
    auto error = error_of([&] { SqliteJournal second(path); });
    EXPECT_NE(error.find("journal " + path + ": already open for writing (by process " +
                         std::to_string(::getpid())),
              std::string::npos)
        << error;
    // Another process too.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto refused = error_of([&] { SqliteJournal second(path); });
      ::_exit(refused.find("already open for writing") != std::string::npos ? 0 : 1);
    }
    ChildProcess child(pid);
    int status = 0;
    ASSERT_TRUE(child.wait_for_exit(std::chrono::seconds(30), status))
        << "the child did not exit within 30 s";
    ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  SqliteJournal after_close(path);  // the first writer closed: free again
  EXPECT_EQ(after_close.read_all().size(), 1u);
}

TEST(SqliteJournal, AFullDiskFailsTheJournalWithAClearError) {
  TempDir dir;
  auto path = (dir.path() / "journal.db").string();
  SqliteJournal journal(path, {.max_file_bytes = 64 * 1024});
  // The batch that overflows fails while these appends run (append throws from then on) or at the flush.
  std::string error;
  for (std::uint64_t n = 1; n <= 3000 && error.empty(); ++n)
    error = error_of([&] { journal.append(step_started(n)); });
  if (error.empty()) error = error_of([&] { journal.flush(); });
  EXPECT_NE(error.find("journal " + path), std::string::npos) << error;
  EXPECT_NE(error.find("full"), std::string::npos) << error;
  EXPECT_THROW(journal.append({"step_done", "{}"}), env::StoreError);
  EXPECT_THROW(journal.wait_durable(journal.last_appended()), env::StoreError);
  EXPECT_LT(journal.last_durable(), journal.last_appended());
}  // the destructor of a failed journal does not throw

TEST(SqliteJournal, PathIsTheOptionElseTheEnvironmentElseTheDefault) {
  ::unsetenv("REVIVE_JOURNAL");
  EXPECT_EQ(store::journal_path(""), "/var/lib/revive/journal.db");
  ::setenv("REVIVE_JOURNAL", "/tmp/elsewhere.db", 1);
  EXPECT_EQ(store::journal_path(""), "/tmp/elsewhere.db");
  EXPECT_EQ(store::journal_path("/srv/journal.db"), "/srv/journal.db");
  ::unsetenv("REVIVE_JOURNAL");
}

}  // namespace
}  // namespace revive

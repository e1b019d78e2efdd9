// Journal write speed (docs/PERFORMANCE.md, "Journal"):
//   scripts/build.sh release journal_bench && build/release/bench/journal_bench [DIRECTORY] [RECORDS]
// Appends RECORDS (default 100,000) step_started records of about 300 bytes of JSON, side by side:
//   group commit   store::SqliteJournal: append() queues, the writer thread commits a batch per fsync; timed
//                  from the first append until flush() returns (everything durable); the engine thread's cost
//                  is the append loop's time per record; a second run times every append (p50, p99, max).
//   commit each    the same table and pragmas (WAL, synchronous=FULL), one transaction (one fsync) per record
//                  on the calling thread: what a journal without group commit costs the engine thread. Stops
//                  after RECORDS records or 20 s, whichever comes first.
//   wait each      SqliteJournal, wait_durable() after every append (a lone record's durability latency).
// The files go to DIRECTORY (default: the temporary directory), which must be on the disk under test.
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/sqlite_journal.h"

namespace {

using namespace revive;
using Clock = std::chrono::steady_clock;

constexpr auto kCommitEachBudget = std::chrono::seconds(20);

env::JournalRecord step_started(std::uint64_t n) {
  auto vm = std::to_string(100000 + n);
  return {"step_started",
          R"({"vm":"vm-)" + vm + R"(","step":"disk_map","host":"host-0193","disk":"vm-)" + vm +
              R"(-disk-2","array":"array-07","target":"iqn.2026-01.net.example:array-07.lun-)" + vm +
              R"(-2","attempt":0,"generation":1,"tier":"critical","deadline_s":412.5,"estimate_s":3.2,)"
              R"("reason":"host host-0042 failed, fence confirmed","n":)" +
              std::to_string(n) + "}"};
}

// CPU time of the calling thread: what the engine thread spends, whatever else the machine runs.
double thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

double seconds(Clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  return values[index];
}

struct Figures {
  std::size_t records = 0;
  double wall_s = 0;          // first append to everything durable
  double append_mean_ns = 0;  // the engine thread's time per append
  double append_cpu_ns = 0;   // of which CPU time (the rest: waiting for a core, page faults, ...)
  double append_p50_ns = 0, append_p99_ns = 0, append_max_ns = 0;
  std::uint64_t batches = 0;
  double records_per_s() const { return static_cast<double>(records) / wall_s; }
};

// Throughput and the engine thread's mean cost per append, from the append loop's time alone.
Figures group_commit(const std::string& path, const std::vector<env::JournalRecord>& records) {
  store::SqliteJournal journal(path);
  auto start = Clock::now();
  auto start_cpu = thread_cpu_ns();
  for (const auto& record : records) journal.append(record);
  auto appended = Clock::now();
  auto appended_cpu = thread_cpu_ns();
  journal.flush();
  Figures figures;
  figures.wall_s = seconds(Clock::now() - start);
  figures.records = records.size();
  figures.batches = journal.batches_committed();
  figures.append_mean_ns = std::chrono::duration<double, std::nano>(appended - start).count() /
                           static_cast<double>(records.size());
  figures.append_cpu_ns = (appended_cpu - start_cpu) / static_cast<double>(records.size());
  return figures;
}

// The same with every append timed (a clock read on each side, about 40 ns more each): the distribution.
Figures group_commit_timed(const std::string& path, const std::vector<env::JournalRecord>& records) {
  store::SqliteJournal journal(path);
  std::vector<double> append_ns;
  append_ns.reserve(records.size());
  auto start = Clock::now();
  for (const auto& record : records) {
    auto before = Clock::now();
    journal.append(record);
    append_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - before).count());
  }
  journal.flush();
  Figures figures;
  figures.wall_s = seconds(Clock::now() - start);
  figures.records = records.size();
  figures.batches = journal.batches_committed();
  double total = 0;
  for (double ns : append_ns) total += ns;
  figures.append_mean_ns = total / static_cast<double>(append_ns.size());
  figures.append_p50_ns = percentile(append_ns, 0.50);
  figures.append_p99_ns = percentile(append_ns, 0.99);
  figures.append_max_ns = percentile(append_ns, 1.0);
  return figures;
}

void check(int result, sqlite3* db, const char* what) {
  if (result != SQLITE_OK && result != SQLITE_DONE && result != SQLITE_ROW) {
    std::fprintf(stderr, "journal_bench: %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

Figures commit_each(const std::string& path, const std::vector<env::JournalRecord>& records) {
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  check(sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     " CREATE TABLE records (sequence INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
                     " payload TEXT NOT NULL, appended_ms INTEGER NOT NULL)",
                     nullptr, nullptr, nullptr),
        db, "create");
  sqlite3_stmt* insert = nullptr;
  check(sqlite3_prepare_v2(
            db, "INSERT INTO records (sequence, kind, payload, appended_ms) VALUES (?1, ?2, ?3, ?4)", -1,
            &insert, nullptr),
        db, "prepare");
  std::vector<double> append_ns;
  auto start = Clock::now();
  auto start_cpu = thread_cpu_ns();
  std::uint64_t sequence = 0;
  for (const auto& record : records) {
    auto before = Clock::now();
    sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(++sequence));
    sqlite3_bind_text(insert, 2, record.kind.c_str(), static_cast<int>(record.kind.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 3, record.payload.c_str(), static_cast<int>(record.payload.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert, 4, 0);
    check(sqlite3_step(insert), db, "insert");  // autocommit: one transaction, one fsync
    sqlite3_reset(insert);
    auto after = Clock::now();
    append_ns.push_back(std::chrono::duration<double, std::nano>(after - before).count());
    if (after - start > kCommitEachBudget) break;
  }
  Figures figures;
  figures.append_cpu_ns = (thread_cpu_ns() - start_cpu) / static_cast<double>(append_ns.size());
  figures.wall_s = seconds(Clock::now() - start);
  figures.records = append_ns.size();
  figures.batches = append_ns.size();
  sqlite3_finalize(insert);
  sqlite3_close(db);
  double total = 0;
  for (double ns : append_ns) total += ns;
  figures.append_mean_ns = total / static_cast<double>(append_ns.size());
  figures.append_p50_ns = percentile(append_ns, 0.50);
  figures.append_p99_ns = percentile(append_ns, 0.99);
  figures.append_max_ns = percentile(append_ns, 1.0);
  return figures;
}

Figures wait_each(const std::string& path, const std::vector<env::JournalRecord>& records) {
  store::SqliteJournal journal(path);
  std::vector<double> latency_ns;
  auto start = Clock::now();
  for (const auto& record : records) {
    auto before = Clock::now();
    journal.wait_durable(journal.append(record));
    auto after = Clock::now();
    latency_ns.push_back(std::chrono::duration<double, std::nano>(after - before).count());
    if (after - start > kCommitEachBudget) break;
  }
  Figures figures;
  figures.wall_s = seconds(Clock::now() - start);
  figures.records = latency_ns.size();
  figures.batches = journal.batches_committed();
  double total = 0;
  for (double ns : latency_ns) total += ns;
  figures.append_mean_ns = total / static_cast<double>(latency_ns.size());
  figures.append_p50_ns = percentile(latency_ns, 0.50);
  figures.append_p99_ns = percentile(latency_ns, 0.99);
  figures.append_max_ns = percentile(latency_ns, 1.0);
  return figures;
}

void print(const char* name, const Figures& figures, const char* cost) {
  std::printf("%-14s %7zu records in %7.3f s = %7.0f records/s, %6llu batches; %s: mean %.0f ns", name,
              figures.records, figures.wall_s, figures.records_per_s(),
              static_cast<unsigned long long>(figures.batches), cost, figures.append_mean_ns);
  if (figures.append_cpu_ns > 0) std::printf(" (CPU %.0f ns)", figures.append_cpu_ns);
  if (figures.append_max_ns > 0) {
    std::printf(", p50 %.0f ns, p99 %.0f ns, max %.0f ns", figures.append_p50_ns, figures.append_p99_ns,
                figures.append_max_ns);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path base = argc > 1 ? argv[1] : std::filesystem::temp_directory_path().string();
  std::size_t count = argc > 2 ? std::stoul(argv[2]) : 100000;
  auto dir = base / ("revive-journal-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  std::vector<env::JournalRecord> records;
  records.reserve(count);
  std::size_t bytes = 0;
  for (std::size_t n = 1; n <= count; ++n) {
    records.push_back(step_started(n));
    bytes += records.back().payload.size();
  }
  std::printf("%zu step_started records, %.0f bytes of JSON each, in %s (SQLite %s, WAL, synchronous=FULL)\n",
              count, static_cast<double>(bytes) / static_cast<double>(count), dir.c_str(),
              sqlite3_libversion());

  auto grouped = group_commit((dir / "group.db").string(), records);
  auto timed = group_commit_timed((dir / "timed.db").string(), records);
  auto each = commit_each((dir / "each.db").string(), records);
  auto waited = wait_each((dir / "wait.db").string(), records);
  print("group commit", grouped, "engine thread per append");
  print("  every timed", timed, "engine thread per append");
  print("commit each", each, "engine thread per append");
  print("wait each", waited, "append + wait_durable");
  std::printf(
      "group commit / commit each: %.1fx the records/s; engine thread per append %.0fx cheaper (%.0f ns vs "
      "%.0f ns)\n",
      grouped.records_per_s() / each.records_per_s(), each.append_mean_ns / grouped.append_mean_ns,
      grouped.append_mean_ns, each.append_mean_ns);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return 0;
}

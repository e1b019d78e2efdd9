// DecisionStore: every placement decision revived makes, saved with all its inputs (plan/decision.h), like
// Pacemaker's pe-input series: data_dir/decisions/decision-NNNNNN-KIND.json, the file `revive replay` reads,
// with four more fields for people and the API: "number", "at" (RFC 3339, wall clock), "operation" (the id of
// the operation the decision belongs to, null when none) and "hosts" (the failed or drained hosts it is for).
//
// Bounded: the newest `keep` files stay, older ones are removed as new ones are written (decisions.keep;
// 0 turns saving off and removes nothing). Numbers survive restarts: a new store continues after the highest
// number present, so a number always names the same decision. Each file is written whole under a temporary
// name and renamed, so a crash never leaves half a decision listed.
// Cost: save() copies the decision's inputs and queues them (the engine thread never serializes or writes a
// file: a big cloud's decision is megabytes, tens of milliseconds to write); one writer thread writes them in
// order. At most `max_queued` wait: beyond, a decision is dropped (dropped(), failure()). list() and read()
// first wait (up to 2 s) for what was queued before them, so a reader sees the decisions made before it
// asked. Figures: bench/decision_bench, docs/PERFORMANCE.md "Saved decisions". Errors: the constructor throws
// std::runtime_error when the directory cannot be created; a failed write is kept in failure() and the
// decision is not listed (the daemon goes on: saving never stops a recovery). Thread-safety: every method may
// be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan/decision.h"

namespace revive::daemon {

struct DecisionEntry {
  std::uint64_t number = 0;
  std::string kind;             // the engine: recovery, evacuation, fail-back, ...
  std::int64_t at_unix_ms = 0;  // when it was saved
  std::string operation;        // empty: none
  std::vector<std::string> hosts;
  std::string file;  // the file's name in the directory
};

class DecisionStore {
 public:
  // Lists the decisions already in `directory` (created when missing) and removes the oldest beyond `keep`.
  DecisionStore(std::string directory, std::size_t keep, std::size_t max_queued = 16);
  ~DecisionStore();  // writes what is queued
  DecisionStore(const DecisionStore&) = delete;
  DecisionStore& operator=(const DecisionStore&) = delete;

  // Queues `decision` as the next number (nothing when keep is 0) and returns its entry; nullopt when it was
  // not queued (keep 0, the queue full).
  std::optional<DecisionEntry> save(const plan::Decision& decision, const std::string& operation,
                                    const std::vector<std::string>& hosts, std::int64_t at_unix_ms);

  std::vector<DecisionEntry> list() const;  // oldest first
  // The file of decision `number`, as written; nullopt when there is none (never saved, or removed).
  std::optional<std::string> read(std::uint64_t number) const;
  std::size_t keep() const { return keep_; }
  const std::string& directory() const { return directory_; }
  std::string failure() const;  // the last failure (empty: none)
  std::string take_failure();   // the same, then forgotten (reported once)
  std::uint64_t dropped() const;
  void flush() const;  // waits until every decision queued so far is written (or failed)

  // {number, kind, at, operation, hosts} (the API's DecisionSummary).
  static nlohmann::json to_json(const DecisionEntry& entry);

 private:
  struct Pending;
  void write_loop();
  void write(const Pending& pending);  // on the writer thread, outside mutex_
  void prune();                        // under mutex_
  // mutex_ held, once what was queued before the call is written (forever, or up to 2 s).
  std::unique_lock<std::mutex> caught_up(bool forever) const;

  std::string directory_;
  std::size_t keep_;
  std::size_t max_queued_;
  mutable std::mutex mutex_;
  mutable std::condition_variable work_;
  mutable std::condition_variable written_;
  std::vector<DecisionEntry> entries_;  // written, by number
  std::deque<std::unique_ptr<Pending>> queued_;
  std::uint64_t next_ = 1;
  std::uint64_t queued_count_ = 0;   // decisions accepted by save()
  std::uint64_t written_count_ = 0;  // of those, written or failed
  std::uint64_t dropped_ = 0;
  std::string failure_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace revive::daemon

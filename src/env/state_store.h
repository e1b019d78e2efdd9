// StateStore: the controller's small persistent state, the single place where the operator's switches live
// and where the daemon publishes what it sees. Written by the CLI (`revive arm|disarm`, `revive host
// confirm-down`), read and applied by the daemon (detect::sync_with_store), shown by `revive status`.
// It can also hold the agents' storage leases (the alternative to lease files on shared storage): each agent
// rewrites its signed lease record, the controller's lease watcher reads them all.
// Real drivers: SQLite (store/sqlite_store.h); etcd later. Several processes may open the same store: every
// call is one atomic transaction, durable when it returns. Errors throw StoreError naming the store.
// Thread-safety: one object per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace revive::env {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ArmState {
  bool armed = true;  // a store nobody touched is armed
  std::string by;     // who changed it last ("" if never)
  std::string reason;
  std::int64_t at_unix_ms = 0;
};

// An operator's statement that a host is off (it may then be treated as fenced).
struct DownConfirmation {
  std::int64_t id = 0;
  std::string host;
  std::string by;
  std::int64_t at_unix_ms = 0;
  bool applied = false;  // consumed by the daemon
};

struct PublishedStatus {
  std::string json;  // detect::status_to_json's output
  std::int64_t at_unix_ms = 0;
};

class StateStore {
 public:
  StateStore() = default;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  virtual ~StateStore() = default;

  virtual ArmState arm_state() = 0;
  virtual void set_armed(bool armed, const std::string& by, const std::string& reason) = 0;

  virtual void confirm_down(const std::string& host, const std::string& by) = 0;
  // Not yet applied confirmations, oldest first (all of them with include_applied).
  virtual std::vector<DownConfirmation> confirmations(bool include_applied = false) = 0;
  virtual void mark_applied(std::int64_t confirmation_id) = 0;

  virtual void publish_status(const std::string& json) = 0;
  virtual std::optional<PublishedStatus> published_status() = 0;

  // The host's lease record (detect/heartbeat_protocol.h REVIVE-LEASE line), replacing the previous one.
  virtual void write_lease(const std::string& host, const std::string& record) = 0;
  // Every host's lease record: (host, record), by host name.
  virtual std::vector<std::pair<std::string, std::string>> leases() = 0;
};

}  // namespace revive::env

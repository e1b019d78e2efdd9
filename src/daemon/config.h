// The daemon's configuration file (YAML; docs/config.md field by field): where it listens, where it keeps its
// journal and state, the inventory of the cloud it protects, and the settings of detection, fencing,
// recovery, VM restarts, capacity checks and the libvirt driver.
//
// load_config reads and checks the whole file before anything starts: every error names the file, the line
// and the field ("revived.yaml:12: detector.fail_phi: must be greater than suspect_phi (5)"), all errors of
// a file are reported at once (ConfigError::diagnostics), unknown keys are errors (a typo never silently
// falls back to a default), relative paths are resolved against the config file's directory.
// The inventory file it names is loaded too (model::load_inventory_file with its own diagnostics).
// Thread-safety: plain data; load_config is reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/auth.h"
#include "daemon/alerts.h"
#include "detect/host_monitor.h"
#include "exec/executor.h"
#include "model/cloud.h"

namespace revive::daemon {

class ConfigError : public std::runtime_error {
 public:
  // Each line "FILE:LINE: FIELD: message".
  explicit ConfigError(std::vector<std::string> diagnostics);
  const std::vector<std::string>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<std::string> diagnostics_;
};

enum class FenceLevel : std::uint8_t { ipmi, fence_agent, storage, lease, manual };

struct HeartbeatConfig {
  std::string listen_address = "0.0.0.0";  // UDP: the agents' heartbeats
  std::uint16_t port = 7610;
  std::string key_file;   // shared heartbeat key (required)
  std::string lease_dir;  // lease files of the agents (shared storage); empty: leases in the state store
  double lease_poll_s = 0.5;
};

struct FencingConfig {
  std::vector<FenceLevel> levels{FenceLevel::ipmi, FenceLevel::manual};  // tried in order
  std::string ipmitool = "ipmitool";
  std::string fence_agent = "fence_ipmilan";
  double command_timeout_s = 20.0;
  double confirm_timeout_s = 30.0;
};

struct VmRestartConfig {
  std::uint32_t max_restarts = 3;  // restarts in place within window_s before the VM is placed elsewhere
  double window_s = 600.0;
  double delay_s = 2.0;  // after an unexpected stop, before the restart
};

struct LibvirtConfig {
  double connect_timeout_s = 10.0;
  int keepalive_interval_s = 1;
  unsigned keepalive_count = 2;
  double call_timeout_s = 60.0;
  double shutdown_timeout_s = 120.0;
  double migrate_timeout_s = 900.0;
  bool peer_to_peer = false;
  std::uint64_t migration_bandwidth_mib_s = 0;
  // By host name: migration URI of a destination (else derived from its libvirt URI).
  std::vector<std::pair<std::string, std::string>> migration_uris;
};

// One storage array's driver (storage.arrays.NAME): tgt = a tgtd through tgtadm (src/drivers/tgt), one target
// per disk named TARGET_PREFIX:DISK, access by the hosts' initiator names.
struct StorageArrayConfig {
  std::string array;           // an array of the inventory
  std::string driver = "tgt";  // the only driver so far
  std::string control_socket;  // tgtd's control socket BASE.N (tgtd -C N with TGT_IPC_SOCKET=BASE)
  std::string target_prefix;   // an iSCSI name
};

struct StorageConfig {
  std::string tgtadm = "tgtadm";
  double call_timeout_s = 5.0;             // one tgtadm call (a hung tgtd fails the operation after this)
  double session_end_timeout_s = 2.0;      // unmap: the unmapped host's sessions must be gone within this
  std::vector<StorageArrayConfig> arrays;  // arrays not listed have no driver: their disk steps fail
};

// The REST API's security (api.* keys). Without a tokens file the API is open to anyone who reaches it.
struct ApiSecurityConfig {
  std::string tokens_file;                // empty: no authentication (a lab only)
  std::optional<api::TokenTable> tokens;  // loaded from tokens_file
  std::string certificate_file;           // api.tls: both set, or both empty (plain HTTP)
  std::string key_file;
  bool metrics_open = false;  // api.metrics_open: GET /metrics without a token (for a Prometheus)
  // api.request_threads: threads answering requests; a kept-alive connection or an event stream holds one
  // while it is open, so this bounds the clients served at once (1..kMaxRequestThreads).
  unsigned request_threads = 16;
};
inline constexpr unsigned kMaxRequestThreads = 256;

// log.*: the daemon's log on stderr (spdlog): one line per event, as text or JSON.
struct LogConfig {
  bool json = false;           // log.format: text (default) or json
  std::string level = "info";  // log.level: debug, info, warn, error
};

// decisions.*: every placement decision saved with its inputs under data_dir/decisions
// (daemon/decision_store.h).
struct DecisionsConfig {
  std::uint32_t keep = 500;  // the newest kept, older removed; 0: none saved
};
inline constexpr std::uint32_t kMaxDecisionsKept = 100000;

struct DaemonConfig {
  std::string file;  // the config file as given (for messages)

  std::string listen_address = "127.0.0.1";  // REST API
  std::uint16_t listen_port = 7600;
  ApiSecurityConfig api;
  std::string data_dir;        // required: journal.db, state.db, events
  std::string inventory_file;  // required: inventory format v1 (docs/inventory.md): hosts with uri and bmc,
                               // endpoints, arrays, switches, policy, groups; its vms are policy for the
                               // discovered VMs of those names
  model::Cloud inventory;      // loaded from inventory_file

  HeartbeatConfig heartbeat;
  detect::DetectorSettings detector;  // detector.* keys (same names as the struct's fields); interval_s and
                                      // acceptable_pause_s set both phi settings'
                                      // expected_interval_s and acceptable_pause_s
  FencingConfig fencing;
  exec::ExecutorOptions recovery;  // recovery.strategy, max_attempts, retry_backoff_s, max_replans,
                                   // max_fence_attempts, timeout_factor, min_timeout_s, global_max_parallel
  double evacuation_default_deadline_s = 600.0;
  VmRestartConfig vm_restart;
  double capacity_check_interval_s = 3600.0;  // also after every inventory change
  double discovery_interval_s = 30.0;         // full rediscovery; events keep the inventory current between
  LibvirtConfig libvirt;
  LogConfig log;
  AlertsConfig alerts;  // alerts.webhooks, alerts.commands, alerts.queue_size
  StorageConfig storage;
  DecisionsConfig decisions;
};

// Throws ConfigError when the config itself has errors (its diagnostics then end with the inventory's, word
// for word, when that is broken too), else model::InventoryError, unchanged, when only the inventory is.
// The inventory is loaded with model::InventoryOptions::vm_placement_from_discovery: its VM entries may omit
// host, cpus and memory_mib.
DaemonConfig load_config(const std::string& path);

}  // namespace revive::daemon

// Operator switches on the persistent state store (store/sqlite_store.h; --state FILE, else $REVIVE_STATE,
// else /var/lib/revive/state.db), applied by the daemon (detect::sync_with_store):
//   revive host confirm-down HOST   the operator vouches that HOST is off: it counts as fenced
//   revive disarm / revive arm      global fencing switch (disarmed: hosts may be declared failed, none
//   fenced) revive status                   the switches, pending confirmations and the daemon's published
//   detector
//                                   status (storm guard, rate limit, every host's health and evidence)
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "cli.h"
#include "detect/heartbeat_protocol.h"
#include "model/inventory.h"
#include "store/sqlite_store.h"

namespace revive::cli {
namespace {

struct StoreOptions {
  std::string state;
  std::string by;
  std::string reason;
  bool create = false;  // only the switches offer --create; a reader never makes a store
};

void add_store_options(CLI::App& command, StoreOptions& options) {
  command.add_option("--state", options.state,
                     "State store file (default: $REVIVE_STATE, else /var/lib/revive/state.db)");
}

void add_create_option(CLI::App& command, StoreOptions& options) {
  command.add_flag("--create", options.create,
                   "Create the state store if it does not exist (revived creates it; without this flag a "
                   "missing store is bad input)");
}

std::string who(const std::string& by) {
  if (!by.empty()) return by;
  for (const char* variable : {"SUDO_USER", "USER", "LOGNAME"}) {
    if (const char* value = std::getenv(variable); value && *value) return value;
  }
  return "operator";
}

// A missing store is bad input unless --create was given: a mistyped path must not show a fresh store's
// defaults ("armed", nothing pending) as if they were the daemon's state.
std::unique_ptr<store::SqliteStore> open_store(const StoreOptions& options, bool offers_create) {
  std::string path = store::state_path(options.state);
  auto opening = options.create ? store::StoreOpening::create_if_missing : store::StoreOpening::existing_only;
  try {
    return std::make_unique<store::SqliteStore>(path, 5000, opening);
  } catch (const store::StoreMissing&) {
    throw InputError(fmt::format("--state: no state store at {} (revived creates it{})", path,
                                 offers_create ? "; or pass --create" : ""));
  } catch (const env::StoreError& error) {
    throw InputError(std::string("--state: ") + error.what());
  }
}

std::string ago(std::int64_t at_ms) {
  if (at_ms <= 0) return "never";
  double seconds = static_cast<double>(revive::detect::unix_now_ms() - at_ms) / 1000.0;
  if (seconds < 120) return fmt::format("{:.0f} s ago", seconds);
  if (seconds < 7200) return fmt::format("{:.0f} min ago", seconds / 60);
  return fmt::format("{:.1f} h ago", seconds / 3600);
}

void print_table(const env::ArmState& arm, const std::vector<env::DownConfirmation>& pending,
                 const std::optional<env::PublishedStatus>& published) {
  std::cout << fmt::format("fencing: {}", arm.armed ? "armed" : "DISARMED");
  if (!arm.by.empty()) {
    std::cout << fmt::format(" (by {}, {}{})", arm.by, ago(arm.at_unix_ms),
                             arm.reason.empty() ? "" : ": " + arm.reason);
  }
  std::cout << "\n";
  if (pending.empty()) {
    std::cout << "pending confirmations: none\n";
  } else {
    for (const auto& confirmation : pending) {
      std::cout << fmt::format("pending confirmation: {} is down (by {}, {})\n", confirmation.host,
                               confirmation.by, ago(confirmation.at_unix_ms));
    }
  }
  if (!published) {
    std::cout << "detector: no status published yet (is the daemon running?)\n";
    return;
  }
  auto status = nlohmann::json::parse(published->json, nullptr, false);
  if (status.is_discarded()) {
    std::cout << "detector: unreadable status\n";
    return;
  }
  std::cout << fmt::format(
      "detector (published {}): {}, storm guard {}, {} of {} hosts suspect (max share {:g}), {} of {} fences "
      "in the last {:g} s\n",
      ago(published->at_unix_ms), status.value("armed", true) ? "armed" : "disarmed",
      status.value("storm_guard_active", false) ? "ACTIVE" : "off", status.value("suspect_hosts", 0),
      status.value("monitored_hosts", 0), status.value("max_suspect_share", 0.0),
      status.value("fences_in_window", 0), status.value("fence_rate_limit", 0),
      status.value("fence_rate_window_s", 0.0));
  std::cout << fmt::format("{:<20} {:<11} {:>9}  {}\n", "HOST", "HEALTH", "SINCE_S", "CHANNELS / NOTE");
  for (const auto& host : status.value("hosts", nlohmann::json::array())) {
    std::string channels;
    for (const auto& channel : host.value("channels", nlohmann::json::array())) {
      channels += fmt::format("{}{} phi {:.1f} silent {:.1f}s", channels.empty() ? "" : ", ",
                              channel.value("channel", "?"), channel.value("phi", 0.0),
                              channel.value("silent_s", 0.0));
    }
    std::string note = host.value("blocked", "");
    if (note.empty()) note = host.value("fence_error", "");
    std::cout << fmt::format("{:<20} {:<11} {:>9.1f}  {}{}\n", host.value("host", "?"),
                             host.value("health", "?"), host.value("since_s", 0.0), channels,
                             note.empty() ? "" : " | " + note);
  }
}

}  // namespace

void add_host_commands(CLI::App& app) {
  auto* host = app.add_subcommand("host", "Operator actions on one host");
  host->require_subcommand(1);

  static StoreOptions confirm_options;
  static std::string confirm_host;
  static std::string confirm_inventory;
  auto* confirm = host->add_subcommand(
      "confirm-down",
      "Vouch that HOST is powered off: it counts as fenced and its VMs may restart elsewhere");
  confirm->add_option("HOST", confirm_host, "The host's name")->required();
  add_store_options(*confirm, confirm_options);
  add_create_option(*confirm, confirm_options);
  confirm->add_option("--by", confirm_options.by, "Who confirms (default: $SUDO_USER / $USER)");
  confirm->add_option("--inventory", confirm_inventory, "Check that HOST is in this inventory");
  confirm->callback([] {
    if (!revive::detect::valid_host_name(confirm_host))
      throw InputError("HOST: not a host name: '" + confirm_host + "'");
    if (!confirm_inventory.empty()) {
      auto cloud = model::load_inventory_file(confirm_inventory);
      if (cloud.find_host(confirm_host) == model::kNoIndex) {
        throw InputError(fmt::format("HOST: '{}' is not in {}", confirm_host, confirm_inventory));
      }
    }
    auto store = open_store(confirm_options, true);
    store->confirm_down(confirm_host, who(confirm_options.by));
    std::cout << fmt::format(
        "recorded: {} is down (confirmed by {}); the controller treats it as fenced if it has declared it "
        "failed (or is fencing it), else drops the confirmation\n",
        confirm_host, who(confirm_options.by));
  });

  for (bool arming : {false, true}) {
    static StoreOptions switch_options[2];
    auto& options = switch_options[arming ? 1 : 0];
    auto* command = app.add_subcommand(arming ? "arm" : "disarm",
                                       arming ? "Re-enable fencing (and so automatic recovery)"
                                              : "Stop all fencing (hosts are still watched and declared)");
    add_store_options(*command, options);
    add_create_option(*command, options);
    command->add_option("--by", options.by, "Who (default: $SUDO_USER / $USER)");
    command->add_option("--reason", options.reason, "Why, shown by `revive status`");
    command->callback([arming, &options] {
      auto store = open_store(options, true);
      store->set_armed(arming, who(options.by), options.reason);
      std::cout << (arming ? "fencing armed\n"
                           : "fencing disarmed: no host will be fenced until `revive arm`\n");
    });
  }

  static StoreOptions status_options;
  static std::string status_format = "table";
  auto* status =
      app.add_subcommand("status", "Fencing switches, pending confirmations and the detector's view");
  add_store_options(*status, status_options);
  status->add_option("--format", status_format, "table (default) or json");
  status->callback([] {
    if (status_format != "table" && status_format != "json") {
      throw InputError("--format: must be table or json, not '" + status_format + "'");
    }
    auto store = open_store(status_options, false);
    auto arm = store->arm_state();
    auto pending = store->confirmations();
    auto published = store->published_status();
    if (status_format == "table") {
      print_table(arm, pending, published);
      return;
    }
    nlohmann::json confirmations = nlohmann::json::array();
    for (const auto& confirmation : pending) {
      confirmations.push_back(
          {{"host", confirmation.host}, {"by", confirmation.by}, {"at_unix_ms", confirmation.at_unix_ms}});
    }
    nlohmann::json out = {{"armed", arm.armed},
                          {"armed_changed_by", arm.by},
                          {"armed_reason", arm.reason},
                          {"armed_changed_at_unix_ms", arm.at_unix_ms},
                          {"pending_confirmations", confirmations},
                          {"detector", nullptr},
                          {"detector_published_at_unix_ms", nullptr}};
    if (published) {
      auto parsed = nlohmann::json::parse(published->json, nullptr, false);
      out["detector"] = parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
      out["detector_published_at_unix_ms"] = published->at_unix_ms;
    }
    std::cout << out.dump(2) << "\n";
  });
}

}  // namespace revive::cli

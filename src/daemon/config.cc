#include "daemon/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string_view>

#include "detect/heartbeat_protocol.h"
#include "model/inventory.h"
#include "model/yaml_document.h"

namespace revive::daemon {

namespace {
std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}
}  // namespace

ConfigError::ConfigError(std::vector<std::string> diagnostics)
    : std::runtime_error(join_lines(diagnostics)), diagnostics_(std::move(diagnostics)) {}

namespace {

namespace fs = std::filesystem;
using model::Diagnostic;
using model::yaml::Document;
using model::yaml::kNoNode;
using model::yaml::NodeId;
using model::yaml::NodeKind;

constexpr std::array<std::string_view, 5> kFenceLevelNames = {"ipmi", "fence_agent", "storage", "lease",
                                                              "manual"};
constexpr std::array<std::string_view, 4> kStrategyNames = {"serial", "parallel-restart", "parallel",
                                                            "revive"};

using model::yaml::quote;

template <typename Names>
std::string join_names(const Names& names, std::string_view last_separator = ", ") {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? last_separator : std::string_view(", ");
    text += names[i];
  }
  return text;
}

// Edit distance with adjacent transpositions (optimal string alignment), for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The candidate closest to `word` when it is a likely typo of it: at most 2 edits, or a third of the
// candidate's length for long names ("peer2peer" for peer_to_peer), and fewer than the word's length.
template <typename Names>
std::optional<std::string_view> closest(std::string_view word, const Names& candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = SIZE_MAX;
  for (std::string_view candidate : candidates) {
    std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance && distance <= std::max<std::size_t>(2, candidate.size() / 3) &&
        distance < word.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string format_number(double value) {
  return fmt::format("{}", value);
}

// Lower bound of a number: greater than `min` (exclusive) or at least `min`.
struct Bound {
  double min = 0;
  bool exclusive = true;
  std::optional<double> max;
};
constexpr Bound kPositive{0, true, std::nullopt};
constexpr Bound kNonNegative{0, false, std::nullopt};

// The known keys of one mapping of the config, with their key and value nodes once read.
struct Section {
  NodeId node = kNoNode;  // the mapping; kNoNode when the section is absent, null or not a mapping
  std::string path;       // "detector"; empty for the top level
  std::vector<std::string_view> names;
  std::vector<NodeId> keys;
  std::vector<NodeId> values;

  NodeId value(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return values[i];
    }
    return kNoNode;
  }
  std::string field(std::string_view name) const {
    return path.empty() ? std::string(name) : path + "." + std::string(name);
  }
};

// Reads one config document into a DaemonConfig, collecting every error.
class ConfigReader {
 public:
  ConfigReader(const Document& document, std::string file, fs::path base_dir)
      : document_(document), file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  DaemonConfig read() {
    DaemonConfig config;
    config.file = file_;
    NodeId root = document_.root();
    if (document_.kind(root) != NodeKind::mapping) {
      error(root, "(document)",
            "a config is a mapping with listen, data_dir, inventory, heartbeat...; got " + describe(root));
      finish();
    }
    Section top = section(root, "",
                          {"listen", "data_dir", "inventory", "heartbeat", "detector", "fencing", "recovery",
                           "evacuation", "vm_restart", "capacity_check", "discovery", "libvirt", "api", "log",
                           "alerts", "storage", "decisions"});
    address(top, "listen", config.listen_address, config.listen_port);
    read_api(top, config.api);
    if (require(top, "data_dir")) {
      if (auto path = read_path(top, "data_dir")) {
        config.data_dir = *path;
        check_data_dir(top.value("data_dir"), *path);
      }
    }
    NodeId inventory_node = top.value("inventory");
    bool inventory_present = false;
    if (require(top, "inventory")) {
      if (auto path = read_path(top, "inventory")) {
        config.inventory_file = *path;
        std::error_code failure;
        if (fs::is_regular_file(*path, failure)) {
          inventory_present = true;
        } else {
          error(inventory_node, "inventory",
                (fs::exists(*path, failure) ? "not a file: " : "no such file: ") + *path);
        }
      }
    }
    read_heartbeat(top, config.heartbeat);
    read_detector(top, config.detector, config.heartbeat);
    NodeId levels = read_fencing(top, config.fencing);
    read_recovery(top, config.recovery);
    Section evacuation = section(top.value("evacuation"), "evacuation", {"default_deadline_s"});
    number(evacuation, "default_deadline_s", config.evacuation_default_deadline_s, kPositive);
    Section restart = section(top.value("vm_restart"), "vm_restart", {"max_restarts", "window_s", "delay_s"});
    integer(restart, "max_restarts", config.vm_restart.max_restarts, 0);
    number(restart, "window_s", config.vm_restart.window_s, kPositive);
    number(restart, "delay_s", config.vm_restart.delay_s, kNonNegative);
    Section capacity = section(top.value("capacity_check"), "capacity_check", {"interval_s"});
    number(capacity, "interval_s", config.capacity_check_interval_s, kPositive);
    Section discovery = section(top.value("discovery"), "discovery", {"interval_s"});
    number(discovery, "interval_s", config.discovery_interval_s, kPositive);
    read_libvirt(top, config.libvirt);
    read_log(top, config.log);
    read_alerts(top, config.alerts);
    read_storage(top, config.storage);
    Section decisions = section(top.value("decisions"), "decisions", {"keep"});
    if (NodeId node = integer(decisions, "keep", config.decisions.keep, 0);
        node != kNoNode && config.decisions.keep > kMaxDecisionsKept) {
      error(node, "decisions.keep",
            fmt::format("must be at most {}, got {}", kMaxDecisionsKept, config.decisions.keep));
    }

    // The inventory: its own errors pass through unchanged; the config's checks against it need it loaded.
    std::optional<model::InventoryError> inventory_error;
    if (inventory_present) {
      try {
        config.inventory = model::load_inventory_file(
            config.inventory_file, model::InventoryOptions{.vm_placement_from_discovery = true});
        check_against_inventory(config, inventory_node, levels);
        check_storage(config, levels);
      } catch (const model::InventoryError& failure) {
        inventory_error = failure;
      }
    }
    if (!errors_.empty()) {
      std::vector<std::string> lines = sorted_errors();
      if (inventory_error) {
        for (const auto& diagnostic : inventory_error->diagnostics()) lines.push_back(diagnostic.to_string());
      }
      throw ConfigError(std::move(lines));
    }
    if (inventory_error) throw *inventory_error;
    return config;
  }

 private:
  // ---- errors
  void error(NodeId at, std::string_view field, std::string message) {
    errors_.push_back(
        {file_, at == kNoNode ? 0 : document_.line(at), std::string(field), std::move(message)});
  }

  std::vector<std::string> sorted_errors() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
    std::vector<std::string> lines;
    lines.reserve(errors_.size());
    for (const auto& diagnostic : errors_) lines.push_back(diagnostic.to_string());
    return lines;
  }

  [[noreturn]] void finish() { throw ConfigError(sorted_errors()); }

  std::string describe(NodeId node) const { return model::yaml::describe(document_, node); }

  // ---- mappings
  // Reads the keys of a mapping (null or absent: an empty section), reporting unknown and repeated keys.
  Section section(NodeId node, std::string path, std::initializer_list<std::string_view> names) {
    Section result{kNoNode, std::move(path), names, std::vector<NodeId>(names.size(), kNoNode),
                   std::vector<NodeId>(names.size(), kNoNode)};
    if (node == kNoNode || document_.kind(node) == NodeKind::null) return result;
    if (document_.kind(node) != NodeKind::mapping) {
      error(node, result.path, "expected a mapping, got " + describe(node));
      return result;
    }
    result.node = node;
    for (std::uint32_t i = 0, n = document_.size(node); i < n; ++i) {
      NodeId key = document_.key(node, i);
      if (document_.kind(key) != NodeKind::scalar) {
        error(key, result.path.empty() ? "(document)" : result.path,
              "a key must be a plain name, got " + describe(key));
        continue;
      }
      std::string_view name = document_.text(key);
      auto found = std::find(result.names.begin(), result.names.end(), name);
      if (found == result.names.end()) {
        unknown_key(key, result.field(name), name, result.names);
        continue;
      }
      auto slot = static_cast<std::size_t>(found - result.names.begin());
      if (result.keys[slot] != kNoNode) {
        error(key, result.field(name),
              "field given twice (first at line " + std::to_string(document_.line(result.keys[slot])) + ")");
        continue;
      }
      result.keys[slot] = key;
      result.values[slot] = document_.value(node, i);
    }
    return result;
  }

  void unknown_key(NodeId key, const std::string& field, std::string_view name,
                   const std::vector<std::string_view>& names) {
    if (auto suggestion = closest(name, names)) {
      error(key, field, "unknown field (did you mean " + std::string(*suggestion) + "?)");
    } else {
      error(key, field, "unknown field (expected one of: " + join_names(names) + ")");
    }
  }

  // Reports a missing required field at the line of its mapping (the top of the file when there is none).
  bool require(const Section& section, std::string_view name) {
    if (section.value(name) != kNoNode) return true;
    error(section.node == kNoNode ? document_.root() : section.node, section.field(name),
          "missing required field");
    return false;
  }

  // ---- typed values: each reads the field when present and valid (else reports it) and returns its node
  NodeId string(const Section& section, std::string_view name, std::string& out, bool allow_empty = false) {
    NodeId node = section.value(name);
    if (node == kNoNode) return kNoNode;
    if (document_.kind(node) != NodeKind::scalar) {
      error(node, section.field(name), "expected a string, got " + describe(node));
      return kNoNode;
    }
    if (!allow_empty && document_.text(node).empty()) {
      error(node, section.field(name), "must not be empty");
      return kNoNode;
    }
    out = std::string(document_.text(node));
    return node;
  }

  // A path: relative paths are taken from the config file's directory.
  std::optional<std::string> read_path(const Section& section, std::string_view name) {
    std::string text;
    if (string(section, name, text) == kNoNode) return std::nullopt;
    return resolve(text);
  }

  std::string resolve(const std::string& text) const {
    fs::path path = (base_dir_ / text).lexically_normal();
    if (!path.has_filename() && path.has_parent_path() && path != path.root_path()) path = path.parent_path();
    return path.string();
  }

  // A command: a bare name is looked up on PATH when run; one with a '/' is a path.
  NodeId command(const Section& section, std::string_view name, std::string& out) {
    NodeId node = string(section, name, out);
    if (node != kNoNode && out.find('/') != std::string::npos) out = resolve(out);
    return node;
  }

  NodeId number(const Section& section, std::string_view name, double& out, Bound bound) {
    NodeId node = section.value(name);
    if (node == kNoNode) return kNoNode;
    std::string field = section.field(name);
    if (document_.kind(node) != NodeKind::scalar || document_.quoted(node)) {
      error(node, field, "expected a number, got " + describe(node));
      return kNoNode;
    }
    std::string_view text = document_.text(node);
    std::string_view digits = text;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    double value = 0;
    auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || status != std::errc() || end != digits.data() + digits.size() ||
        !std::isfinite(value)) {
      error(node, field, "expected a number, got " + quote(text));
      return kNoNode;
    }
    if (bound.exclusive ? value <= bound.min : value < bound.min) {
      error(node, field,
            std::string(bound.exclusive ? "must be greater than " : "must be at least ") +
                format_number(bound.min) + ", got " + std::string(text));
      return kNoNode;
    }
    if (bound.max && value > *bound.max) {
      error(node, field, "must be at most " + format_number(*bound.max) + ", got " + std::string(text));
      return kNoNode;
    }
    out = value;
    return node;
  }

  template <typename Integer>
  NodeId integer(const Section& section, std::string_view name, Integer& out, std::uint64_t min) {
    NodeId node = section.value(name);
    if (node == kNoNode) return kNoNode;
    std::string field = section.field(name);
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<Integer>::max());
    if (document_.kind(node) != NodeKind::scalar || document_.quoted(node)) {
      error(node, field, "expected an integer, got " + describe(node));
      return kNoNode;
    }
    std::uint64_t value = 0;
    if (auto problem = model::yaml::read_bounded_integer(document_.text(node), min, kMax, value);
        !problem.empty()) {
      error(node, field, problem);
      return kNoNode;
    }
    out = static_cast<Integer>(value);
    return node;
  }

  NodeId boolean(const Section& section, std::string_view name, bool& out) {
    NodeId node = section.value(name);
    if (node == kNoNode) return kNoNode;
    if (document_.kind(node) == NodeKind::scalar && !document_.quoted(node)) {
      std::string_view text = document_.text(node);
      if (text == "true" || text == "True" || text == "TRUE") {
        out = true;
        return node;
      }
      if (text == "false" || text == "False" || text == "FALSE") {
        out = false;
        return node;
      }
    }
    error(node, section.field(name), "expected true or false, got " + describe(node));
    return kNoNode;
  }

  // One of `names` (a scalar); returns its position, or nullopt after reporting what else it is.
  template <typename Names>
  std::optional<std::size_t> choice(NodeId node, const std::string& field, const Names& names) {
    if (document_.kind(node) != NodeKind::scalar) {
      error(node, field, "expected " + join_names(names, " or ") + ", got " + describe(node));
      return std::nullopt;
    }
    std::string_view text = document_.text(node);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == text) return i;
    }
    std::string message = "expected " + join_names(names, " or ") + ", got " + quote(text);
    if (auto suggestion = closest(text, names))
      message += " (did you mean " + std::string(*suggestion) + "?)";
    error(node, field, std::move(message));
    return std::nullopt;
  }

  // "ADDRESS:PORT": a host name, an IPv4 address or a bracketed IPv6 address, and a port 1-65535.
  void address(const Section& section, std::string_view name, std::string& address, std::uint16_t& port) {
    std::string text;
    NodeId node = string(section, name, text);
    if (node == kNoNode) return;
    std::string field = section.field(name);
    std::string host;
    std::string_view port_text;
    std::size_t colon = text.rfind(':');
    if (!text.empty() && text.front() == '[') {
      std::size_t close = text.find(']');
      if (close != std::string::npos && close + 1 == colon && close > 1) {
        host = text.substr(1, close - 1);
        port_text = std::string_view(text).substr(colon + 1);
      }
    } else if (colon != std::string::npos && text.find(':') == colon && colon > 0) {
      host = text.substr(0, colon);
      port_text = std::string_view(text).substr(colon + 1);
    }
    if (host.empty() || port_text.empty()) {
      error(node, field, "expected ADDRESS:PORT (e.g. 127.0.0.1:7600, [::1]:7600), got " + quote(text));
      return;
    }
    unsigned value = 0;
    auto [end, status] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (status != std::errc() || end != port_text.data() + port_text.size() || value < 1 || value > 65535) {
      error(node, field, "the port must be an integer from 1 to 65535, got " + quote(port_text));
      return;
    }
    address = host;
    port = static_cast<std::uint16_t>(value);
  }

  // ---- sections
  void check_data_dir(NodeId node, const std::string& path) {
    std::error_code failure;
    if (fs::exists(path, failure)) {
      if (!fs::is_directory(path, failure)) error(node, "data_dir", "not a directory: " + path);
      return;
    }
    fs::path parent = fs::path(path).parent_path();
    if (!fs::is_directory(parent, failure)) {
      error(node, "data_dir", "its parent directory does not exist: " + parent.string());
    }
  }

  void read_api(const Section& top, ApiSecurityConfig& api_config) {
    Section section =
        this->section(top.value("api"), "api", {"tokens_file", "tls", "metrics_open", "request_threads"});
    boolean(section, "metrics_open", api_config.metrics_open);
    if (NodeId node = integer(section, "request_threads", api_config.request_threads, 1);
        node != kNoNode && api_config.request_threads > kMaxRequestThreads) {
      error(node, "api.request_threads",
            fmt::format("must be at most {}, got {}", kMaxRequestThreads, api_config.request_threads));
    }
    if (section.value("tokens_file") != kNoNode) {
      if (auto path = read_path(section, "tokens_file")) {
        api_config.tokens_file = *path;
        if (check_readable(section.value("tokens_file"), "api.tokens_file", *path)) {
          try {
            api_config.tokens = api::TokenTable::load(*path);
          } catch (const api::TokenFileError& failure) {
            error(section.value("tokens_file"), "api.tokens_file", failure.what());
          }
        }
      }
    }
    if (section.value("tls") == kNoNode) return;
    Section tls = this->section(section.value("tls"), "api.tls", {"certificate_file", "key_file"});
    for (auto [name, out] : {std::pair{"certificate_file", &api_config.certificate_file},
                             std::pair{"key_file", &api_config.key_file}}) {
      if (!require(tls, name)) continue;
      if (auto path = read_path(tls, name)) {
        *out = *path;
        check_readable(tls.value(name), tls.field(name), *path);
      }
    }
  }

  // Reports a file that is missing or cannot be read (never its content).
  bool check_readable(NodeId node, const std::string& field, const std::string& path) {
    std::error_code failure;
    if (!fs::exists(path, failure)) {
      error(node, field, "no such file: " + path);
      return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in || !fs::is_regular_file(path, failure)) {
      error(node, field, "cannot read " + path + (in ? ": not a file" : ""));
      return false;
    }
    return true;
  }

  void read_heartbeat(const Section& top, HeartbeatConfig& heartbeat) {
    Section section = this->section(top.value("heartbeat"), "heartbeat",
                                    {"listen", "key_file", "lease_dir", "lease_poll_s"});
    address(section, "listen", heartbeat.listen_address, heartbeat.port);
    if (require(section, "key_file")) {
      if (auto path = read_path(section, "key_file")) {
        heartbeat.key_file = *path;
        check_key_file(section.value("key_file"), *path);
      }
    }
    if (section.value("lease_dir") != kNoNode) {
      if (auto path = read_path(section, "lease_dir")) heartbeat.lease_dir = *path;
    }
    number(section, "lease_poll_s", heartbeat.lease_poll_s, kPositive);
  }

  void check_key_file(NodeId node, const std::string& path) {
    std::error_code failure;
    if (!fs::exists(path, failure)) {
      error(node, "heartbeat.key_file", "no such file: " + path);
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in || !fs::is_regular_file(path, failure)) {
      error(node, "heartbeat.key_file", "cannot read " + path + (in ? ": not a file" : ""));
      return;
    }
    try {
      detect::read_key_file(path);
    } catch (const std::exception&) {
      error(node, "heartbeat.key_file", "the key file is empty: " + path);
    }
  }

  void read_detector(const Section& top, detect::DetectorSettings& detector,
                     const HeartbeatConfig& heartbeat) {
    Section section = this->section(
        top.value("detector"), "detector",
        {"interval_s", "acceptable_pause_s", "suspect_phi", "fail_phi", "lease_ttl_s", "fence_isolated",
         "max_suspect_share", "storm_min_hosts", "storm_settle_s", "fence_rate_limit", "fence_rate_window_s",
         "fence_retry_s", "fence_retry_max_s", "fenced_heartbeat_grace_s"});
    double interval = 0;
    if (number(section, "interval_s", interval, kPositive) != kNoNode) {
      detector.network_phi.expected_interval_s = interval;
      detector.storage_phi.expected_interval_s = interval;
    }
    double pause = 0;
    if (number(section, "acceptable_pause_s", pause, kNonNegative) != kNoNode) {
      detector.network_phi.acceptable_pause_s = pause;
      detector.storage_phi.acceptable_pause_s = pause;
    }
    NodeId suspect = number(section, "suspect_phi", detector.suspect_phi, kPositive);
    NodeId fail = number(section, "fail_phi", detector.fail_phi, kPositive);
    bool phi_valid = (suspect != kNoNode || section.value("suspect_phi") == kNoNode) &&
                     (fail != kNoNode || section.value("fail_phi") == kNoNode);
    if (phi_valid && detector.fail_phi <= detector.suspect_phi) {
      if (fail != kNoNode) {
        error(fail, "detector.fail_phi",
              "must be greater than suspect_phi (" + format_number(detector.suspect_phi) + ")");
      } else {
        error(suspect, "detector.suspect_phi",
              "must be less than fail_phi (" + format_number(detector.fail_phi) + ")");
      }
    }
    number(section, "lease_ttl_s", detector.lease_ttl_s, kPositive);
    boolean(section, "fence_isolated", detector.fence_isolated);
    number(section, "max_suspect_share", detector.max_suspect_share, Bound{0, true, 1.0});
    integer(section, "storm_min_hosts", detector.storm_min_hosts, 1);
    number(section, "storm_settle_s", detector.storm_settle_s, kNonNegative);
    integer(section, "fence_rate_limit", detector.fence_rate_limit, 1);
    number(section, "fence_rate_window_s", detector.fence_rate_window_s, kPositive);
    NodeId retry = number(section, "fence_retry_s", detector.fence_retry_s, kPositive);
    NodeId retry_max = number(section, "fence_retry_max_s", detector.fence_retry_max_s, kPositive);
    if ((retry != kNoNode || retry_max != kNoNode) && detector.fence_retry_max_s < detector.fence_retry_s &&
        (retry != kNoNode || section.value("fence_retry_s") == kNoNode) &&
        (retry_max != kNoNode || section.value("fence_retry_max_s") == kNoNode)) {
      error(retry_max != kNoNode ? retry_max : retry,
            retry_max != kNoNode ? "detector.fence_retry_max_s" : "detector.fence_retry_s",
            retry_max != kNoNode
                ? "must be at least fence_retry_s (" + format_number(detector.fence_retry_s) + ")"
                : "must be at most fence_retry_max_s (" + format_number(detector.fence_retry_max_s) + ")");
    }
    NodeId grace = number(section, "fenced_heartbeat_grace_s", detector.fenced_heartbeat_grace_s, kPositive);
    if (grace != kNoNode && detector.fenced_heartbeat_grace_s < heartbeat.lease_poll_s) {
      error(grace, "detector.fenced_heartbeat_grace_s",
            "must be at least heartbeat.lease_poll_s (" + format_number(heartbeat.lease_poll_s) +
                "): a lease record read one poll late must not void a fence");
    }
  }

  // Returns the node of `levels` when it was read (for the checks against the inventory).
  NodeId read_fencing(const Section& top, FencingConfig& fencing) {
    Section section =
        this->section(top.value("fencing"), "fencing",
                      {"levels", "ipmitool", "fence_agent", "command_timeout_s", "confirm_timeout_s"});
    NodeId levels = section.value("levels");
    levels_given_ = levels != kNoNode;
    if (levels != kNoNode) {
      if (document_.kind(levels) != NodeKind::sequence) {
        error(levels, "fencing.levels", "expected a list, got " + describe(levels));
        levels = kNoNode;
      } else if (document_.size(levels) == 0) {
        error(levels, "fencing.levels", "must list at least one level (manual: an operator confirms)");
        levels = kNoNode;
      } else {
        fencing.levels.clear();
        std::vector<NodeId> first_at(kFenceLevelNames.size(), kNoNode);
        for (std::uint32_t i = 0, n = document_.size(levels); i < n; ++i) {
          NodeId item = document_.item(levels, i);
          std::string field = "fencing.levels[" + std::to_string(i) + "]";
          auto level = choice(item, field, kFenceLevelNames);
          if (!level) continue;
          if (first_at[*level] != kNoNode) {
            error(item, field,
                  "level " + quote(kFenceLevelNames[*level]) + " listed twice (first at line " +
                      std::to_string(document_.line(first_at[*level])) + ")");
            continue;
          }
          first_at[*level] = item;
          fencing.levels.push_back(static_cast<FenceLevel>(*level));
        }
      }
    }
    command(section, "ipmitool", fencing.ipmitool);
    command(section, "fence_agent", fencing.fence_agent);
    number(section, "command_timeout_s", fencing.command_timeout_s, kPositive);
    number(section, "confirm_timeout_s", fencing.confirm_timeout_s, kPositive);
    return levels;
  }

  void read_recovery(const Section& top, exec::ExecutorOptions& recovery) {
    Section section =
        this->section(top.value("recovery"), "recovery",
                      {"strategy", "max_attempts", "retry_backoff_s", "max_replans", "max_fence_attempts",
                       "timeout_factor", "min_timeout_s", "global_max_parallel"});
    if (NodeId strategy = section.value("strategy"); strategy != kNoNode) {
      if (auto index = choice(strategy, "recovery.strategy", kStrategyNames)) {
        recovery.strategy = *exec::parse_strategy(kStrategyNames[*index]);
      }
    }
    integer(section, "max_attempts", recovery.max_attempts, 1);
    number(section, "retry_backoff_s", recovery.retry_backoff_s, kNonNegative);
    integer(section, "max_replans", recovery.max_replans, 0);
    integer(section, "max_fence_attempts", recovery.max_fence_attempts, 1);
    number(section, "timeout_factor", recovery.timeout_factor, kPositive);
    number(section, "min_timeout_s", recovery.min_timeout_s, kPositive);
    integer(section, "global_max_parallel", recovery.global_max_parallel, 0);
  }

  void read_log(const Section& top, LogConfig& log) {
    Section section = this->section(top.value("log"), "log", {"format", "level"});
    constexpr std::array<std::string_view, 2> kFormats = {"text", "json"};
    constexpr std::array<std::string_view, 4> kLevels = {"debug", "info", "warn", "error"};
    if (NodeId format = section.value("format"); format != kNoNode) {
      if (auto chosen = choice(format, "log.format", kFormats)) log.json = *chosen == 1;
    }
    if (NodeId level = section.value("level"); level != kNoNode) {
      if (auto chosen = choice(level, "log.level", kLevels)) log.level = std::string(kLevels[*chosen]);
    }
  }

  // alerts: {queue_size, webhooks: [{url, events, timeout_s, retries, backoff_s}], commands: [{command,
  // events, timeout_s}]}.
  void read_alerts(const Section& top, AlertsConfig& alerts) {
    Section section = this->section(top.value("alerts"), "alerts", {"queue_size", "webhooks", "commands"});
    integer(section, "queue_size", alerts.queue_size, 1);
    auto each = [&](std::string_view name, const std::function<void(NodeId, const std::string&)>& read) {
      NodeId list = section.value(name);
      if (list == kNoNode) return;
      std::string field = section.field(name);
      if (document_.kind(list) != NodeKind::sequence) {
        error(list, field, "expected a list, got " + describe(list));
        return;
      }
      for (std::uint32_t i = 0, n = document_.size(list); i < n; ++i)
        read(document_.item(list, i), field + "[" + std::to_string(i) + "]");
    };
    each("webhooks", [&](NodeId item, const std::string& field) {
      Section hook = this->section(item, field, {"url", "events", "timeout_s", "retries", "backoff_s"});
      if (hook.node == kNoNode) return;
      WebhookConfig webhook;
      if (require(hook, "url") && string(hook, "url", webhook.url) != kNoNode &&
          webhook.url.rfind("http://", 0) != 0 && webhook.url.rfind("https://", 0) != 0) {
        error(hook.value("url"), hook.field("url"),
              "expected an http:// or https:// URL, got " + quote(webhook.url));
      }
      alert_events(hook, webhook.events);
      number(hook, "timeout_s", webhook.timeout_s, kPositive);
      integer(hook, "retries", webhook.retries, 0);
      number(hook, "backoff_s", webhook.backoff_s, kNonNegative);
      alerts.webhooks.push_back(std::move(webhook));
    });
    each("commands", [&](NodeId item, const std::string& field) {
      Section hook = this->section(item, field, {"command", "events", "timeout_s"});
      if (hook.node == kNoNode) return;
      CommandHookConfig command_hook;
      if (require(hook, "command")) command(hook, "command", command_hook.command);
      alert_events(hook, command_hook.events);
      number(hook, "timeout_s", command_hook.timeout_s, kPositive);
      alerts.commands.push_back(std::move(command_hook));
    });
  }

  // A hook's `events`: a non-empty list of alert kinds (daemon/alerts.h).
  void alert_events(const Section& hook, std::vector<std::string>& events) {
    if (!require(hook, "events")) return;
    NodeId list = hook.value("events");
    std::string field = hook.field("events");
    if (document_.kind(list) != NodeKind::sequence || document_.size(list) == 0) {
      error(list, field,
            "expected a non-empty list of alert kinds (" + join_names(alert_kinds()) + "), got " +
                (document_.kind(list) == NodeKind::sequence ? std::string("an empty list") : describe(list)));
      return;
    }
    for (std::uint32_t i = 0, n = document_.size(list); i < n; ++i) {
      NodeId item = document_.item(list, i);
      if (auto kind = choice(item, field + "[" + std::to_string(i) + "]", alert_kinds()))
        events.push_back(alert_kinds()[*kind]);
    }
  }

  void read_libvirt(const Section& top, LibvirtConfig& libvirt) {
    Section section = this->section(top.value("libvirt"), "libvirt",
                                    {"connect_timeout_s", "keepalive_interval_s", "keepalive_count",
                                     "call_timeout_s", "shutdown_timeout_s", "migrate_timeout_s",
                                     "peer_to_peer", "migration_bandwidth_mib_s", "migration_uris"});
    number(section, "connect_timeout_s", libvirt.connect_timeout_s, kPositive);
    integer(section, "keepalive_interval_s", libvirt.keepalive_interval_s, 0);
    integer(section, "keepalive_count", libvirt.keepalive_count, 0);
    number(section, "call_timeout_s", libvirt.call_timeout_s, kPositive);
    number(section, "shutdown_timeout_s", libvirt.shutdown_timeout_s, kPositive);
    number(section, "migrate_timeout_s", libvirt.migrate_timeout_s, kPositive);
    boolean(section, "peer_to_peer", libvirt.peer_to_peer);
    integer(section, "migration_bandwidth_mib_s", libvirt.migration_bandwidth_mib_s, 0);
    NodeId uris = section.value("migration_uris");
    if (uris == kNoNode || document_.kind(uris) == NodeKind::null) return;
    if (document_.kind(uris) != NodeKind::mapping) {
      error(uris, "libvirt.migration_uris", "expected a mapping of host: URI, got " + describe(uris));
      return;
    }
    for (std::uint32_t i = 0, n = document_.size(uris); i < n; ++i) {
      NodeId key = document_.key(uris, i);
      NodeId value = document_.value(uris, i);
      if (document_.kind(key) != NodeKind::scalar || document_.text(key).empty()) {
        error(key, "libvirt.migration_uris", "a key must be a host name, got " + describe(key));
        continue;
      }
      std::string host(document_.text(key));
      std::string field = "libvirt.migration_uris." + host;
      auto given = std::find_if(libvirt.migration_uris.begin(), libvirt.migration_uris.end(),
                                [&](const auto& entry) { return entry.first == host; });
      if (given != libvirt.migration_uris.end()) {
        error(key, field, "host given twice (first at line " + std::to_string(line_of_key(uris, host)) + ")");
        continue;
      }
      if (document_.kind(value) != NodeKind::scalar || document_.text(value).empty()) {
        error(value, field, "expected a migration URI (e.g. tcp://10.0.1.3), got " + describe(value));
        continue;
      }
      libvirt.migration_uris.emplace_back(host, std::string(document_.text(value)));
      migration_uri_keys_.push_back(key);
    }
  }

  void read_storage(const Section& top, StorageConfig& storage) {
    Section section = this->section(top.value("storage"), "storage",
                                    {"tgtadm", "call_timeout_s", "session_end_timeout_s", "arrays"});
    command(section, "tgtadm", storage.tgtadm);
    number(section, "call_timeout_s", storage.call_timeout_s, kPositive);
    number(section, "session_end_timeout_s", storage.session_end_timeout_s, kPositive);
    NodeId arrays = section.value("arrays");
    if (arrays == kNoNode || document_.kind(arrays) == NodeKind::null) return;
    if (document_.kind(arrays) != NodeKind::mapping) {
      error(arrays, "storage.arrays",
            "expected a mapping of array: driver settings, got " + describe(arrays));
      return;
    }
    for (std::uint32_t i = 0, n = document_.size(arrays); i < n; ++i) {
      NodeId key = document_.key(arrays, i);
      if (document_.kind(key) != NodeKind::scalar || document_.text(key).empty()) {
        error(key, "storage.arrays", "a key must be an array name, got " + describe(key));
        continue;
      }
      std::string name(document_.text(key));
      std::string path = "storage.arrays." + name;
      if (std::any_of(storage.arrays.begin(), storage.arrays.end(),
                      [&](const StorageArrayConfig& entry) { return entry.array == name; })) {
        error(key, path,
              "array given twice (first at line " + std::to_string(line_of_key(arrays, name)) + ")");
        continue;
      }
      Section entry =
          this->section(document_.value(arrays, i), path, {"driver", "control_socket", "target_prefix"});
      if (entry.node == kNoNode) {
        if (document_.kind(document_.value(arrays, i)) == NodeKind::null)
          error(key, path,
                "expected a mapping with driver, control_socket and target_prefix, got nothing (null)");
        continue;
      }
      StorageArrayConfig array;
      array.array = name;
      if (NodeId driver = entry.value("driver"); driver != kNoNode) {
        constexpr std::array<std::string_view, 1> kDrivers = {"tgt"};
        if (auto index = choice(driver, entry.field("driver"), kDrivers)) array.driver = kDrivers[*index];
      }
      if (require(entry, "control_socket")) {
        if (auto socket = read_path(entry, "control_socket")) {
          array.control_socket = *socket;
          auto dot = socket->rfind('.');
          bool numbered = dot != std::string::npos && dot + 1 < socket->size() && (*socket)[dot - 1] != '/' &&
                          std::all_of(socket->begin() + static_cast<std::ptrdiff_t>(dot + 1), socket->end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
          if (!numbered) {
            error(entry.value("control_socket"), entry.field("control_socket"),
                  "expected tgtd's control socket BASE.N (tgtd -C N with TGT_IPC_SOCKET=BASE, e.g. "
                  "/var/run/tgtd/socket.0), got " +
                      quote(*socket));
          }
        }
      }
      if (require(entry, "target_prefix")) {
        if (string(entry, "target_prefix", array.target_prefix) != kNoNode &&
            !model::is_iscsi_name(array.target_prefix)) {
          error(entry.value("target_prefix"), entry.field("target_prefix"),
                "expected an iSCSI name (iqn.YYYY-MM.reversed.domain[:name] in lower case), got " +
                    quote(array.target_prefix));
          array.target_prefix.clear();
        }
      }
      storage.arrays.push_back(std::move(array));
      storage_array_keys_.push_back(key);
      storage_prefix_nodes_.push_back(entry.value("target_prefix"));
    }
  }

  void check_storage(const DaemonConfig& config, NodeId levels) {
    const model::Cloud& cloud = config.inventory;
    std::vector<std::string_view> array_names;
    for (const auto& array : cloud.arrays) array_names.push_back(array.name);
    for (std::size_t i = 0; i < config.storage.arrays.size(); ++i) {
      const StorageArrayConfig& entry = config.storage.arrays[i];
      std::string path = "storage.arrays." + entry.array;
      model::ArrayIndex array = cloud.find_array(entry.array);
      if (array == model::kNoIndex) {
        std::string message = "not an array of the inventory";
        if (auto suggestion = closest(entry.array, array_names))
          message += " (did you mean " + std::string(*suggestion) + "?)";
        error(storage_array_keys_[i], path, std::move(message));
        continue;
      }
      for (const model::Host& host : cloud.hosts) {
        if (host.initiator.empty() &&
            std::find(host.arrays.begin(), host.arrays.end(), array) != host.arrays.end()) {
          error(storage_array_keys_[i], path,
                "host " + quote(host.name) +
                    " reaches this array but has no initiator name (inventory: hosts[" + host.name +
                    "].initiator, " + config.inventory_file + ")");
        }
      }
      if (entry.target_prefix.empty()) continue;
      for (const model::Disk& disk : cloud.disks) {
        if (disk.array != array || model::is_iscsi_name(entry.target_prefix + ":" + disk.name)) continue;
        error(
            storage_prefix_nodes_[i], path + ".target_prefix",
            "the target of disk " + quote(disk.name) + " would be " +
                quote(entry.target_prefix + ":" + disk.name) +
                ", not a valid iSCSI name (disk names on a tgt array: lower case letters, digits, '-', '.', "
                "':')");
      }
    }
    if (!config.storage.arrays.empty() || levels == kNoNode) return;
    for (std::uint32_t i = 0, n = document_.size(levels); i < n; ++i) {
      NodeId item = document_.item(levels, i);
      if (document_.kind(item) == NodeKind::scalar && document_.text(item) == "storage") {
        error(item, "fencing.levels[" + std::to_string(i) + "]",
              "storage needs an array driver (storage.arrays), and none is configured");
      }
    }
  }

  int line_of_key(NodeId map, std::string_view name) const {
    for (std::uint32_t i = 0, n = document_.size(map); i < n; ++i) {
      NodeId key = document_.key(map, i);
      if (document_.kind(key) == NodeKind::scalar && document_.text(key) == name) return document_.line(key);
    }
    return 0;
  }

  // ---- rules between the config and its inventory
  void check_against_inventory(const DaemonConfig& config, NodeId inventory_node, NodeId levels) {
    const model::Cloud& cloud = config.inventory;
    for (const model::Host& host : cloud.hosts) {
      if (host.uri.empty()) {
        error(inventory_node, "inventory",
              "host " + quote(host.name) + " has no uri: the daemon cannot watch it (" +
                  config.inventory_file + ")");
      }
    }
    std::vector<std::string_view> host_names;
    for (const model::Host& host : cloud.hosts) host_names.push_back(host.name);
    for (std::size_t i = 0; i < config.libvirt.migration_uris.size(); ++i) {
      const std::string& host = config.libvirt.migration_uris[i].first;
      if (cloud.find_host(host) != model::kNoIndex) continue;
      std::string message = "not a host of the inventory";
      if (auto suggestion = closest(host, host_names))
        message += " (did you mean " + std::string(*suggestion) + "?)";
      error(migration_uri_keys_[i], "libvirt.migration_uris." + host, std::move(message));
    }
    bool any_bmc = std::any_of(cloud.hosts.begin(), cloud.hosts.end(),
                               [](const model::Host& host) { return host.bmc.has_value(); });
    if (any_bmc) return;
    if (!levels_given_) {
      error(inventory_node, "fencing.levels",
            "the default levels (ipmi, manual) need a host with a bmc, and no host of the inventory has one; "
            "list the levels to use");
      return;
    }
    if (levels == kNoNode) return;  // reported already
    for (std::uint32_t i = 0, n = document_.size(levels); i < n; ++i) {
      NodeId item = document_.item(levels, i);
      if (document_.kind(item) != NodeKind::scalar) continue;
      std::string_view text = document_.text(item);
      if (text == "ipmi" || text == "fence_agent") {
        error(item, "fencing.levels[" + std::to_string(i) + "]",
              std::string(text) + " needs a host with a bmc, and no host of the inventory has one");
      }
    }
  }

  const Document& document_;
  std::string file_;
  fs::path base_dir_;
  std::vector<Diagnostic> errors_;
  std::vector<NodeId> migration_uri_keys_;  // parallel to LibvirtConfig::migration_uris
  std::vector<NodeId> storage_array_keys_;  // parallel to StorageConfig::arrays
  std::vector<NodeId> storage_prefix_nodes_;
  bool levels_given_ = false;  // fencing.levels is in the file (valid or not)
};

}  // namespace

DaemonConfig load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code failure;
  if (!in || fs::is_directory(path, failure)) {
    throw ConfigError({path + ":0: file: cannot read: " + (in ? "a directory" : std::strerror(errno))});
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::optional<Document> document;
  try {
    document.emplace(Document::parse(text.str()));
  } catch (const model::yaml::SyntaxError& syntax) {
    throw ConfigError({path + ":" + std::to_string(syntax.line()) + ": yaml: " + syntax.what()});
  }
  fs::path base_dir = fs::absolute(fs::path(path), failure).parent_path();
  ConfigReader reader(*document, path, base_dir);
  return reader.read();
}

}  // namespace revive::daemon

// `revive --server URL <command>`: the commands that talk to a running daemon over its REST API
// (docs/api.md, docs/cli.md "Against the daemon"). Which command line goes to the daemon is decided in one
// place, daemon_url() below; everything else is the offline CLI.
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "api/http_client.h"
#include "api/rfc3339.h"
#include "cli.h"

namespace revive::cli {
namespace {

using json = nlohmann::json;

// ---- output helpers
// ----------------------------------------------------------------------------------------

// Aligned columns for people: a header row, then rows; two spaces between columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() == 1; }
  std::string str() const {
    std::vector<std::size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()));
      for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string text(const json& value, const std::string& none = "-") {
  if (value.is_null()) return none;
  if (value.is_string()) return value.get<std::string>().empty() ? none : value.get<std::string>();
  return value.dump();
}

std::string joined(const json& list, const std::string& separator = ",") {
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : separator) + text(item);
  return out.empty() ? "-" : out;
}

std::string gib(const json& mib) {
  return fmt::format("{:.1f}", mib.get<double>() / 1024.0);
}

// "12 s", "3.2 min", "1.5 h" between two RFC 3339 times (to now when `to` is null).
std::string elapsed(const json& from, const json& to) {
  auto start = api::parse_rfc3339(text(from, ""));
  if (!start) return "-";
  auto end = to.is_string() ? api::parse_rfc3339(to.get<std::string>()) : std::chrono::system_clock::now();
  if (!end) return "-";
  double seconds = std::max(0.0, std::chrono::duration<double>(*end - *start).count());
  if (seconds < 120) return fmt::format("{:.0f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

// ---- the commands
// ------------------------------------------------------------------------------------------

// The bearer token: --token-file, else $REVIVE_TOKEN, else the file $REVIVE_TOKEN_FILE names; empty if none.
// A file holds the token on its first line. Errors name the file, never its content.
std::string read_token(const std::string& token_file) {
  std::string path = token_file;
  if (path.empty()) {
    if (const char* token = std::getenv("REVIVE_TOKEN"); token && *token) return token;
    if (const char* file = std::getenv("REVIVE_TOKEN_FILE"); file && *file) path = file;
  }
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("--token-file: cannot read {}: {}", path, std::strerror(errno)));
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.erase(0, 1);
  if (token.empty()) throw InputError(fmt::format("--token-file: {} holds no token on its first line", path));
  return token;
}

struct Context {
  std::string url;
  std::string format = "table";
  std::string token_file;                           // --token-file
  std::string ca_file;                              // --ca-file (default $REVIVE_CA_FILE)
  mutable std::unique_ptr<api::HttpClient> client;  // made at the first call, from `url`
  const api::HttpClient& api() const {
    if (!client) {
      api::Credentials credentials{read_token(token_file), ca_file};
      if (credentials.ca_file.empty()) {
        if (const char* ca = std::getenv("REVIVE_CA_FILE"); ca && *ca) credentials.ca_file = ca;
      }
      client = std::make_unique<api::HttpClient>(url, 30, std::move(credentials));
    }
    return *client;
  }
  bool json_output() const { return format == "json"; }
  void print_json(const json& value) const { std::cout << value.dump(2) << "\n"; }
};

void print_status(const json& s) {
  const auto& fencing = s["fencing"];
  std::cout << fmt::format("revived {} up since {} (now {})\n", text(s["version"]), text(s["started_at"]),
                           text(s["now"]));
  std::string change;
  if (!text(fencing["changed_by"], "").empty()) {
    change = fmt::format(" (by {} at {}{})", text(fencing["changed_by"]), text(fencing["changed_at"]),
                         text(fencing["reason"], "").empty() ? "" : ": " + text(fencing["reason"]));
  }
  std::cout << fmt::format("fencing: {}{}\n", fencing["armed"].get<bool>() ? "armed" : "DISARMED", change);
  std::cout << fmt::format("storm guard: {}\n", s["storm_guard_active"].get<bool>() ? "ACTIVE" : "off");
  auto counts = [](const json& by_state) {
    std::string out;
    for (const auto& [state, n] : by_state.items()) {
      if (n.get<int>() > 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n.get<int>(), state);
    }
    return out.empty() ? "none" : out;
  };
  std::cout << fmt::format("hosts: {} ({})\n", s["hosts"]["total"].get<int>(),
                           counts(s["hosts"]["by_state"]));
  std::cout << fmt::format("vms: {} ({}), {} protected\n", s["vms"]["total"].get<int>(),
                           counts(s["vms"]["by_state"]), s["vms"]["protected"].get<int>());
  std::cout << fmt::format("operations running: {}\n", s["operations_running"].get<int>());
  std::cout << fmt::format("capacity: {} failure(s) would leave protected VMs waiting (checked {})\n",
                           s["capacity"]["shortfalls"].get<int>(),
                           text(s["capacity"]["checked_at"], "never"));
}

void print_hosts(const json& hosts) {
  Table table({"HOST", "STATE", "VMS", "CPUS", "MEMORY_GIB", "CHANNELS", "OPERATION", "REASON"});
  for (const auto& h : hosts) {
    std::string channels;
    for (const auto& c : h["channels"]) {
      channels += fmt::format("{}{} {} (phi {:.1f})", channels.empty() ? "" : ", ", text(c["channel"]),
                              text(c["state"]), c["phi"].get<double>());
    }
    table.add({text(h["name"]), text(h["state"]), std::to_string(h["vms"].get<int>()),
               fmt::format("{}/{}", h["cpus"]["used"].get<int>(), h["cpus"]["total"].get<int>()),
               fmt::format("{}/{}", gib(h["memory_mib"]["used"]), gib(h["memory_mib"]["total"])),
               channels.empty() ? "-" : channels, text(h["operation"]), text(h["reason"])});
  }
  std::cout << table.str();
}

void print_vms(const json& vms) {
  Table table({"VM", "HOST", "STATE", "PRIORITY", "PROTECT", "CPUS", "MEMORY_GIB", "OPERATION", "REASON"});
  for (const auto& v : vms) {
    table.add({text(v["name"]), text(v["host"]), text(v["state"]), text(v["priority"]),
               v["protect"].get<bool>() ? "yes" : "no", std::to_string(v["cpus"].get<int>()),
               gib(v["memory_mib"]), text(v["operation"]), text(v["reason"])});
  }
  std::cout << table.str();
}

std::string progress_text(const json& op) {
  const auto& p = op["progress"];
  return fmt::format("{}/{} VMs done", p["succeeded"].get<int>(), p["total"].get<int>()) +
         (p["failed"].get<int>() ? fmt::format(", {} failed", p["failed"].get<int>()) : "") +
         (p["waiting"].get<int>() ? fmt::format(", {} waiting", p["waiting"].get<int>()) : "") +
         (p["cancelled"].get<int>() ? fmt::format(", {} cancelled", p["cancelled"].get<int>()) : "");
}

void print_operations(const json& operations) {
  Table table({"ID", "KIND", "STATE", "HOSTS", "PROGRESS", "STARTED", "ELAPSED", "BY"});
  for (const auto& op : operations) {
    table.add({text(op["id"]), text(op["kind"]), text(op["state"]), joined(op["hosts"]), progress_text(op),
               text(op["started_at"]), elapsed(op["started_at"], op["finished_at"]),
               text(op["requested_by"])});
  }
  std::cout << table.str();
}

std::string operation_view(const json& op) {
  std::ostringstream out;
  out << fmt::format("operation {}: {} of {} ({}), {}{}\n", text(op["id"]), text(op["kind"]),
                     joined(op["hosts"], ", "), text(op["reason"]), text(op["state"]),
                     op["cancel_requested"].get<bool>() ? ", cancel requested" : "");
  out << fmt::format("progress: {}, elapsed {}{}\n", progress_text(op),
                     elapsed(op["started_at"], op["finished_at"]),
                     op["deadline_at"].is_string() ? ", deadline " + text(op["deadline_at"]) : "");
  out << fmt::format("started {} by {}{}\n", text(op["started_at"]), text(op["requested_by"]),
                     op["finished_at"].is_string() ? ", finished " + text(op["finished_at"]) : "");
  if (!op["vms"].empty()) {
    Table table({"VM", "FROM", "TO", "METHOD", "STATE", "STEPS", "REASON"});
    for (const auto& vm : op["vms"]) {
      std::string steps;
      for (const auto& step : vm["steps"]) {
        steps += fmt::format("{}{}@{} {}", steps.empty() ? "" : ", ", text(step["step"]), text(step["host"]),
                             text(step["state"]));
      }
      table.add({text(vm["vm"]), text(vm["from"]), text(vm["to"]), text(vm["method"]), text(vm["state"]),
                 steps.empty() ? "-" : steps, text(vm["reason"])});
    }
    out << "\n" << table.str();
  }
  if (!op["timeline"].empty()) {
    out << "\ntimeline:\n";
    for (const auto& entry : op["timeline"])
      out << fmt::format("  {}  {}\n", text(entry["at"]), text(entry["message"]));
  }
  return out.str();
}

void print_plan(const json& plan) {
  std::cout << fmt::format(
      "dry run: {} of {} ({}): {} to move, {} waiting, {} stopped; {}\n", "evacuation",
      joined(plan["hosts"], ", "), text(plan["reason"]), plan["placements"].size(), plan["waiting"].size(),
      plan["stopped"].size(),
      plan["fits_deadline"].get<bool>() ? "fits the deadline" : "DOES NOT fit the deadline");
  if (!plan["placements"].empty()) {
    Table table({"VM", "FROM", "TO", "PRIORITY", "METHOD"});
    for (const auto& p : plan["placements"]) {
      table.add({text(p["vm"]), text(p["from"]), text(p["to"]), text(p["priority"]), text(p["method"])});
    }
    std::cout << "\n" << table.str();
  }
  if (!plan["waiting"].empty()) {
    Table table({"VM", "FROM", "REASON"});
    for (const auto& w : plan["waiting"]) table.add({text(w["vm"]), text(w["from"]), text(w["reason"])});
    std::cout << "\nwaiting:\n" << table.str();
  }
  if (!plan["stopped"].empty())
    std::cout << "\nstopped (not protected): " << joined(plan["stopped"], ", ") << "\n";
}

// An action's answer: the operation it started, or the dry run's plan.
void print_action(const Context& context, const json& answer) {
  if (context.json_output()) return context.print_json(answer);
  if (answer.value("dry_run", false)) return print_plan(answer["plan"]);
  const auto& op = answer["operation"];
  std::cout << fmt::format("{} {}: {} of {} ({}), {}\n", op["state"] == "running" ? "started" : "done",
                           text(op["id"]), text(op["kind"]), joined(op["hosts"], ", "), text(op["reason"]),
                           progress_text(op));
  if (op["state"] == "running") {
    std::cout << fmt::format("follow it: revive --server {} operations show {} --watch\n", context.url,
                             text(op["id"]));
  }
}

void print_events(const json& events) {
  Table table({"SEQ", "AT", "KIND", "HOST", "VM", "OPERATION", "MESSAGE"});
  for (const auto& e : events) {
    table.add({std::to_string(e["sequence"].get<std::uint64_t>()), text(e["at"]), text(e["kind"]),
               text(e.value("host", json())), text(e.value("vm", json())), text(e.value("operation", json())),
               text(e["message"])});
  }
  std::cout << table.str();
}

std::string event_line(const json& e) {
  std::string about;
  for (const char* key : {"host", "vm", "operation"}) {
    if (e.contains(key)) about += fmt::format(" {}={}", key, text(e[key]));
  }
  return fmt::format("{:>6}  {}  {:<18} {}{}", e["sequence"].get<std::uint64_t>(), text(e["at"]),
                     text(e["kind"]), text(e["message"]), about.empty() ? "" : " [" + about.substr(1) + "]");
}

// `revive host why HOST`: the evidence behind the host's last fence decision (GET /v1/hosts/{host}/why).
void print_evidence(const json& e) {
  std::cout << fmt::format("  at {}: {}\n", text(e["at"]), text(e["rule"], "(no rule fired)"));
  Table channels({"    CHANNEL", "STATE", "PHI", "SILENT_S", "LAST_CONTACT"});
  for (const auto& c : e["channels"]) {
    channels.add({"    " + text(c["channel"]), text(c["state"]),
                  fmt::format("{:.1f}", c["phi"].get<double>()),
                  fmt::format("{:.1f}", c["silent_s"].get<double>()), text(c["last_contact_at"])});
  }
  std::cout << channels.str();
  const auto& lease = e["lease"];
  std::cout << fmt::format("  lease: last renewal {}, {} (ttl {:g} s)\n",
                           text(lease["last_renewal_at"], "never"),
                           lease["expired"].get<bool>() ? "expired" : "valid", lease["ttl_s"].get<double>());
  const auto& bmc = e["bmc"];
  std::cout << fmt::format(
      "  bmc: {}\n",
      bmc["configured"].get<bool>()
          ? "power " + text(bmc["power"]) + (bmc["error"].is_null() ? "" : " (" + text(bmc["error"]) + ")")
          : "none configured");
  const auto& storm = e["storm_guard"];
  std::cout << fmt::format("  storm guard: {} ({} of {} hosts suspect; trips above {:g} of them)\n",
                           storm["active"].get<bool>() ? "HOLDING fences" : "inactive",
                           storm["suspect_hosts"].get<int>(), storm["monitored_hosts"].get<int>(),
                           storm["max_suspect_share"].get<double>());
  std::cout << fmt::format("  fencing {}, levels {}\n", e["armed"].get<bool>() ? "armed" : "DISARMED",
                           joined(e["levels"]));
  if (!e["fence"].is_null()) {
    const auto& fence = e["fence"];
    std::cout << fmt::format("  fence: {} at {} (level {})\n", fence["ok"].get<bool>() ? "done" : "failed",
                             text(fence["at"]), text(fence["level"]));
  }
}

void print_why(const json& why) {
  std::cout << fmt::format("{}: {}\n", text(why["host"]), text(why["state"]));
  if (why["decision"].is_null()) {
    std::cout << "no fence decision; the detector now:\n";
    print_evidence(why["now"]);
    return;
  }
  std::cout << "fence decision:\n";
  print_evidence(why["decision"]);
}

// `text` percent-encoded for a query string (RFC 3986 unreserved characters and ':' kept).
std::string query_value(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

void print_audit(const json& records) {
  Table table({"SEQ", "AT", "KIND", "WHO", "WHAT", "STATUS", "RESULT"});
  for (const auto& r : records) {
    table.add({std::to_string(r["sequence"].get<std::uint64_t>()), text(r["at"]), text(r["kind"]),
               text(r["who"]), text(r["what"]),
               r["status"].get<int>() ? std::to_string(r["status"].get<int>()) : "-", text(r["result"])});
  }
  std::cout << table.str();
}

void print_decisions(const json& list) {
  std::cout << fmt::format("{} decision(s) kept (decisions.keep {})\n", list["decisions"].size(),
                           list["keep"].get<std::uint64_t>());
  Table table({"NUMBER", "KIND", "AT", "OPERATION", "HOSTS"});
  for (const auto& d : list["decisions"]) {
    table.add({std::to_string(d["number"].get<std::uint64_t>()), text(d["kind"]), text(d["at"]),
               text(d["operation"]), joined(d["hosts"])});
  }
  std::cout << table.str();
}

std::string reason_value(const std::string& reason) {
  if (reason == "maintenance") return "maintenance";
  if (reason == "predicted_failure" || reason == "predicted-failure") return "predicted_failure";
  throw InputError("--reason: must be maintenance or predicted_failure, not '" + reason + "'");
}

// Builds the daemon commands on `app`; each callback runs against `context`.
void add_daemon_commands(CLI::App& app, std::shared_ptr<Context> context) {
  auto read = [&app, context](const char* name, const char* help, std::function<void(const json&)> table,
                              std::string path) {
    auto* command = app.add_subcommand(name, help);
    command->callback([context, table, path] {
      auto answer = context->api().get(path);
      context->json_output() ? context->print_json(answer) : table(answer);
    });
    return command;
  };
  read("status", "The daemon at a glance: fencing, hosts and VMs by state, operations", print_status,
       "/v1/status");
  read(
      "hosts", "Every host: state, VMs, capacity used, liveness channels",
      [](const json& a) { print_hosts(a["hosts"]); }, "/v1/hosts");
  read(
      "vms", "Every VM: host, state, priority", [](const json& a) { print_vms(a["vms"]); }, "/v1/vms");
  read(
      "check", "The daemon's last capacity check: which failures would leave protected VMs waiting",
      [](const json& c) {
        std::cout << fmt::format("checked {} failures{} at {}: {} would leave protected VMs waiting\n",
                                 c["failures_checked"].get<int>(),
                                 c["sampled"].get<bool>() ? " (sampled)" : "", text(c["checked_at"], "never"),
                                 c["shortfalls"].size());
        if (c["shortfalls"].empty()) return;
        Table table({"FAILURE", "CRITICAL", "HIGH", "MEDIUM", "LOW", "SPARE_NEEDED"});
        for (const auto& s : c["shortfalls"]) {
          const auto& w = s["waiting"];
          table.add({text(s["failure"]), std::to_string(w["critical"].get<int>()),
                     std::to_string(w["high"].get<int>()), std::to_string(w["medium"].get<int>()),
                     std::to_string(w["low"].get<int>()),
                     fmt::format("{} vCPU, {} GiB", s["spare_needed"]["cpus"].get<int>(),
                                 gib(s["spare_needed"]["memory_mib"]))});
        }
        std::cout << "\n" << table.str();
      },
      "/v1/capacity");

  auto* plan = app.add_subcommand("plan", "The daemon's prestaged failover plans");
  plan->require_subcommand(1);
  auto* show = plan->add_subcommand("show", "Every prestaged plan: what fails, VMs placed and waiting");
  show->callback([context] {
    auto answer = context->api().get("/v1/plans");
    if (context->json_output()) return context->print_json(answer);
    std::cout << fmt::format("{} prestaged plans (computed {})\n", answer["plans"].size(),
                             text(answer["computed_at"], "never"));
    Table table({"PLAN", "FAILED_HOSTS", "VMS", "PLACED", "WAITING"});
    for (const auto& p : answer["plans"]) {
      table.add({text(p["name"]), joined(p["failed_hosts"]), std::to_string(p["stats"]["vms"].get<int>()),
                 std::to_string(p["stats"]["placed"].get<int>()),
                 std::to_string(p["stats"]["waiting"].get<int>())});
    }
    std::cout << table.str();
    for (const auto& p : answer["plans"]) {
      for (const auto& w : p["waiting"]) {
        std::cout << fmt::format("  {}: {} would wait: {}\n", text(p["name"]), text(w["vm"]),
                                 text(w["reason"]));
      }
    }
  });

  struct Drain {
    std::vector<std::string> hosts;
    double deadline_s = 0;
    std::string reason = "maintenance";
    bool dry_run = false;
  };
  auto drain = std::make_shared<Drain>();
  auto* evacuate = app.add_subcommand("evacuate", "Drain hosts before a deadline (one operation, one plan)");
  evacuate->add_option("HOST", drain->hosts, "Hosts to drain")->required();
  evacuate->add_option("--deadline", drain->deadline_s, "Seconds from now by which the hosts must be empty")
      ->required();
  evacuate->add_option("--reason", drain->reason, "maintenance (default) | predicted_failure");
  evacuate->add_flag("--dry-run", drain->dry_run, "Show the plan, change nothing");
  evacuate->callback([context, drain] {
    if (!(drain->deadline_s > 0)) throw InputError("--deadline: must be > 0 seconds");
    json body = {{"hosts", drain->hosts},
                 {"deadline_s", drain->deadline_s},
                 {"reason", reason_value(drain->reason)},
                 {"dry_run", drain->dry_run}};
    print_action(*context, context->api().post("/v1/evacuations", body));
  });

  struct Maintenance {
    std::string action, host;
    std::optional<double> deadline_s;
    bool fail_back = false, dry_run = false;
  };
  auto maintenance = std::make_shared<Maintenance>();
  auto* maint = app.add_subcommand("maintenance", "Put a host in maintenance (drain it) or take it out");
  maint->add_option("ACTION", maintenance->action, "enter | exit")
      ->required()
      ->check(CLI::IsMember({"enter", "exit"}));
  maint->add_option("HOST", maintenance->host, "The host")->required();
  maint->add_option("--deadline", maintenance->deadline_s,
                    "enter: seconds by which it must be empty (default 600)");
  maint->add_flag("--fail-back", maintenance->fail_back, "exit: move the VMs that left back home");
  maint->add_flag("--dry-run", maintenance->dry_run, "Show the plan, change nothing");
  maint->callback([context, maintenance] {
    json body = {{"action", maintenance->action}, {"dry_run", maintenance->dry_run}};
    if (maintenance->action == "enter") {
      if (maintenance->fail_back) throw InputError("--fail-back: only with exit");
      if (maintenance->deadline_s) {
        if (!(*maintenance->deadline_s > 0)) throw InputError("--deadline: must be > 0 seconds");
        body["deadline_s"] = *maintenance->deadline_s;
      }
    } else {
      if (maintenance->deadline_s) throw InputError("--deadline: only with enter");
      body["fail_back"] = maintenance->fail_back;
    }
    print_action(*context, context->api().post("/v1/hosts/" + maintenance->host + "/maintenance", body));
  });

  auto* host = app.add_subcommand("host", "Operator actions on one host, and why it was fenced");
  host->require_subcommand(1);
  auto confirm_host = std::make_shared<std::string>();
  auto* confirm = host->add_subcommand("confirm-down", "Vouch that HOST is powered off: it counts as fenced");
  confirm->add_option("HOST", *confirm_host, "The host's name")->required();
  confirm->callback([context, confirm_host] {
    auto answer = context->api().post("/v1/hosts/" + *confirm_host + "/confirm-down", json::object());
    context->json_output()
        ? context->print_json(answer)
        : void(std::cout << fmt::format("recorded: {} (by {} at {})\n", text(answer["message"]),
                                        text(answer["confirmed_by"]), text(answer["confirmed_at"])));
  });

  auto why_host = std::make_shared<std::string>();
  auto* why =
      host->add_subcommand("why", "Why HOST was (or would be) fenced: channels, lease, BMC, storm guard");
  why->add_option("HOST", *why_host, "The host's name")->required();
  why->callback([context, why_host] {
    auto answer = context->api().get("/v1/hosts/" + *why_host + "/why");
    context->json_output() ? context->print_json(answer) : print_why(answer);
  });

  struct Audit {
    std::string since;
    std::string kind;
    std::uint64_t limit = 100;
  };
  auto audit = std::make_shared<Audit>();
  auto* audit_command = app.add_subcommand("audit", "Who changed what, and every fence (oldest first)");
  audit_command->add_option("--since", audit->since, "Only records at or after this RFC 3339 time");
  audit_command->add_option("--kind", audit->kind, "request or fence")
      ->check(CLI::IsMember({"request", "fence"}));
  audit_command->add_option("--limit", audit->limit, "At most this many records (1-1000, default 100)");
  audit_command->callback([context, audit] {
    std::string path = fmt::format("/v1/audit?limit={}", audit->limit);
    if (!audit->kind.empty()) path += "&kind=" + audit->kind;
    if (!audit->since.empty()) path += "&since=" + query_value(audit->since);
    auto answer = context->api().get(path);
    context->json_output() ? context->print_json(answer) : print_audit(answer["records"]);
  });

  auto* decisions = app.add_subcommand(
      "decisions", "The placement decisions the daemon saved with their inputs (oldest first); show N: one");
  decisions->callback([context, decisions] {
    if (!decisions->get_subcommands().empty()) return;
    auto answer = context->api().get("/v1/decisions");
    context->json_output() ? context->print_json(answer) : print_decisions(answer);
  });
  auto decision_number = std::make_shared<std::uint64_t>(0);
  auto* show_decision = decisions->add_subcommand(
      "show", "Decision N as saved (the file revive replay reads: revive decisions show N > FILE)");
  show_decision->add_option("N", *decision_number, "The decision's number (revive decisions)")
      ->required()
      ->check(CLI::PositiveNumber);
  show_decision->callback([context, decision_number] {
    std::cout << context->api().get_text(fmt::format("/v1/decisions/{}", *decision_number));
  });

  for (bool arming : {false, true}) {
    auto reason = std::make_shared<std::string>();
    auto* command = app.add_subcommand(arming ? "arm" : "disarm",
                                       arming ? "Re-enable fencing (and so automatic recovery)"
                                              : "Stop all fencing (hosts are still watched and declared)");
    command->add_option("--reason", *reason, "Why (shown by `revive status`)");
    command->callback([context, reason, arming] {
      json body = json::object();
      if (!reason->empty()) body["reason"] = *reason;
      auto answer = context->api().post(arming ? "/v1/arm" : "/v1/disarm", body);
      context->json_output()
          ? context->print_json(answer)
          : void(std::cout << (answer["armed"].get<bool>()
                                   ? "fencing armed\n"
                                   : "fencing disarmed: no host will be fenced until `revive arm`\n"));
    });
  }

  struct Events {
    bool follow = false;
    std::uint64_t after = 0;
  };
  auto events = std::make_shared<Events>();
  auto* events_command = app.add_subcommand("events", "Events after a sequence number; --follow: live");
  events_command->add_flag("--follow,-f", events->follow,
                           "Keep printing events as they happen (until interrupted)");
  events_command->add_option("--after", events->after, "Only events after this sequence number (default 0)");
  events_command->callback([context, events] {
    if (!events->follow) {
      auto answer = context->api().get(fmt::format("/v1/events?after={}&limit=1000", events->after));
      context->json_output() ? context->print_json(answer) : print_events(answer["events"]);
      return;
    }
    // One line per event (JSON lines with --format json); reconnects from the last event seen.
    std::uint64_t after = events->after;
    while (true) {
      context->api().stream_events(after, [&](const json& event) {
        after = std::max(after, event.value("sequence", after));
        std::cout << (context->json_output() ? event.dump() : event_line(event)) << std::endl;
        return true;
      });
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });

  auto* operations = app.add_subcommand("operations", "Operations (recoveries, evacuations), newest first");
  operations->callback([context, operations] {
    if (!operations->get_subcommands().empty()) return;
    auto answer = context->api().get("/v1/operations");
    context->json_output() ? context->print_json(answer) : print_operations(answer["operations"]);
  });
  struct Show {
    std::string id;
    bool watch = false;
    double interval_s = 1.0;
  };
  auto show_options = std::make_shared<Show>();
  auto* show_op = operations->add_subcommand("show", "One operation: per-VM state and steps, timeline");
  show_op->add_option("ID", show_options->id, "The operation's id")->required();
  show_op->add_flag("--watch,-w", show_options->watch, "Refresh until the operation ends");
  show_op->add_option("--interval", show_options->interval_s,
                      "--watch: seconds between refreshes (default 1)");
  show_op->callback([context, show_options] {
    auto path = "/v1/operations/" + show_options->id;
    auto op = context->api().get(path);
    if (!show_options->watch) {
      context->json_output() ? context->print_json(op) : void(std::cout << operation_view(op));
      return;
    }
    bool terminal = ::isatty(STDOUT_FILENO);
    std::string shown;
    while (true) {
      std::string view = context->json_output() ? op.dump() + "\n" : operation_view(op);
      if (view != shown) {
        if (terminal && !context->json_output())
          std::cout << "\033[H\033[2J";
        else if (!shown.empty() && !context->json_output())
          std::cout << "\n";
        std::cout << view << std::flush;
        shown = view;
      }
      if (op["state"] != "running") break;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.1, show_options->interval_s)));
      op = context->api().get(path);
    }
    if (op["state"] != "succeeded") set_exit_status(kExitOperationDidNotSucceed);
  });

  auto cancel_id = std::make_shared<std::string>();
  auto* cancel = app.add_subcommand("cancel", "Cancel a running operation (steps in flight finish)");
  cancel->add_option("ID", *cancel_id, "The operation's id")->required();
  cancel->callback([context, cancel_id] {
    auto answer = context->api().post("/v1/operations/" + *cancel_id + "/cancel", json::object());
    if (context->json_output()) return context->print_json(answer);
    std::cout << fmt::format("cancel requested: {} is {} ({})\n", text(answer["operation"]["id"]),
                             text(answer["operation"]["state"]), progress_text(answer["operation"]));
  });
}

const std::set<std::string> kDaemonCommands = {"status",   "hosts",       "vms",    "plan",   "check",
                                               "evacuate", "maintenance", "host",   "disarm", "arm",
                                               "events",   "operations",  "cancel", "audit",  "decisions"};

}  // namespace

std::optional<std::string> daemon_url(int argc, char** argv) {
  std::string command;
  bool offline_input = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--server" && i + 1 < argc) return std::string(argv[i + 1]);
    if (arg.starts_with("--server=")) return arg.substr(9);
    if (arg == "--state" || arg.starts_with("--state=") || arg == "--inventory" ||
        arg.starts_with("--inventory=")) {
      offline_input = true;
    }
    if ((arg == "--format" || arg == "--token-file" || arg == "--ca-file") && i + 1 < argc) {
      ++i;  // an option's value is not the command
      continue;
    }
    if (command.empty() && !arg.starts_with("-")) command = arg;
  }
  const char* server = std::getenv("REVIVE_SERVER");
  if (server && *server && !offline_input && kDaemonCommands.count(command)) return std::string(server);
  return std::nullopt;
}

int run_daemon_command(const std::string& url, int argc, char** argv) {
  auto context = std::make_shared<Context>();
  context->url = url;
  CLI::App app{"Revive: commands against a running daemon (revived) over its REST API", "revive"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--server", context->url, "The daemon's URL, http(s)://HOST:PORT (default: $REVIVE_SERVER)");
  app.add_option("--format", context->format, "table (default, for people) | json (the API's JSON as is)")
      ->check(CLI::IsMember({"table", "json"}));
  app.add_option("--token-file", context->token_file,
                 "File holding the API token on its first line (default: $REVIVE_TOKEN, $REVIVE_TOKEN_FILE)");
  app.add_option("--ca-file", context->ca_file,
                 "CA certificate (PEM) the daemon's https:// certificate must chain to (default: "
                 "$REVIVE_CA_FILE, else the system's CAs)");
  add_daemon_commands(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  } catch (const std::invalid_argument& e) {
    std::cerr << "revive: --server: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const InputError& e) {
    std::cerr << "revive: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const api::UnreachableError& e) {
    std::cerr << "revive: " << e.what() << "\n";
    return kExitUnreachable;
  } catch (const api::ApiError& e) {
    std::cerr << "revive: " << e.what();
    if (!e.field().empty())
      std::cerr << " (field " << e.field() << ", HTTP " << e.status() << ")";
    else
      std::cerr << " (HTTP " << e.status() << ")";
    if (e.status() == 401) std::cerr << "; give a token with --token-file FILE or $REVIVE_TOKEN";
    std::cerr << "\n";
    return e.status() < 500 ? kExitBadInput : kExitDaemonFault;
  } catch (const std::exception& e) {
    std::cerr << "revive: " << e.what() << "\n";
    return kExitDaemonFault;
  }
  return exit_status();
}

}  // namespace revive::cli

#include "api/http_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "api/rfc3339.h"

namespace revive::api {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A long poll or an event stream asks the service for at most this long at a time, so that stop() is bounded.
constexpr double kPollSliceS = 0.5;
constexpr std::size_t kDefaultEventLimit = 100;
constexpr std::size_t kMaxEventLimit = 1000;
constexpr double kMaxWaitS = 60;
constexpr std::size_t kMaxBodyBytes = 1 << 20;

// ---- request syntax --------------------------------------------------------------------------------------

RequestError bad(const std::string& field, const std::string& message) {
  return RequestError(400, field, fmt::format("{}: {}", field, message));
}

// Host names, VM names and operation ids: 1-253 of [A-Za-z0-9._:-], starting with a letter or digit.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == ':';
  });
}

std::optional<std::uint64_t> parse_unsigned(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoull(text);
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// The JSON object of a POST body, its fields checked against `allowed`; an empty body is {}.
json parse_body(const httplib::Request& request, const std::vector<std::string>& allowed) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded()) throw bad("body", "not valid JSON");
  if (!body.is_object()) throw bad("body", "must be a JSON object");
  for (const auto& [field, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), field) == allowed.end()) {
      std::string known;
      for (const auto& name : allowed) known += (known.empty() ? "" : ", ") + name;
      throw bad(field, known.empty() ? "unknown field (this request takes none)"
                                     : "unknown field (known: " + known + ")");
    }
  }
  return body;
}

std::optional<double> positive_seconds(const json& body, const std::string& field) {
  if (!body.contains(field)) return std::nullopt;
  const auto& value = body[field];
  if (!value.is_number() || !(value.get<double>() > 0) || !std::isfinite(value.get<double>())) {
    throw bad(field, "must be a number > 0");
  }
  return value.get<double>();
}

std::optional<bool> flag(const json& body, const std::string& field) {
  if (!body.contains(field)) return std::nullopt;
  if (!body[field].is_boolean()) throw bad(field, "must be true or false");
  return body[field].get<bool>();
}

std::optional<std::string> choice(const json& body, const std::string& field,
                                  const std::vector<std::string>& choices) {
  if (!body.contains(field)) return std::nullopt;
  const auto& value = body[field];
  if (!value.is_string() ||
      std::find(choices.begin(), choices.end(), value.get<std::string>()) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    throw bad(field, "must be one of " + list);
  }
  return value.get<std::string>();
}

std::optional<std::string> text(const json& body, const std::string& field, std::size_t max_length) {
  if (!body.contains(field)) return std::nullopt;
  if (!body[field].is_string()) throw bad(field, "must be a string");
  auto value = body[field].get<std::string>();
  if (value.size() > max_length) throw bad(field, fmt::format("must be at most {} characters", max_length));
  return value;
}

std::vector<std::string> host_list(const json& body, const std::string& field) {
  if (!body.contains(field)) throw bad(field, "required (a list of host names)");
  const auto& value = body[field];
  if (!value.is_array() || value.empty()) throw bad(field, "must be a non-empty list of host names");
  std::vector<std::string> hosts;
  for (const auto& item : value) {
    if (!item.is_string() || !valid_name(item.get<std::string>())) {
      throw bad(field, "must be a list of host names (1-253 of A-Z a-z 0-9 . _ : -), not " + item.dump());
    }
    auto name = item.get<std::string>();
    if (std::find(hosts.begin(), hosts.end(), name) != hosts.end()) {
      throw bad(field, "host '" + name + "' given twice");
    }
    hosts.push_back(std::move(name));
  }
  return hosts;
}

const std::vector<std::string> kReasons = {"maintenance", "predicted_failure"};

std::uint64_t query_unsigned(const httplib::Request& request, const std::string& name,
                             std::uint64_t fallback) {
  if (!request.has_param(name)) return fallback;
  auto value = parse_unsigned(request.get_param_value(name));
  if (!value) throw bad(name, "must be an integer >= 0");
  return *value;
}

// ---- replies ---------------------------------------------------------------------------------------------

// Invalid UTF-8 (a request's path or query echoed in an error message) is replaced by U+FFFD, so that an
// answer is always JSON, never a 500 from dump().
void reply(httplib::Response& response, const json& body, int status = 200) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

void reply_error(httplib::Response& response, int status, const std::string& field,
                 const std::string& message) {
  reply(response, json{{"error", {{"status", status}, {"field", field}, {"message", message}}}}, status);
}

// An action's answer: 202 with the operation's address when it started one, 200 otherwise (dry run, cancel).
void reply_action(httplib::Response& response, const json& body) {
  if (body.is_object() && body.contains("operation") && body["operation"].is_object() &&
      body["operation"].contains("id") && body["operation"]["id"].is_string() &&
      !body.value("dry_run", false)) {
    response.set_header("Location", "/v1/operations/" + body["operation"]["id"].get<std::string>());
    reply(response, body, 202);
    return;
  }
  reply(response, body);
}

std::string http_status_text(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 413:
      return fmt::format("body: larger than {} bytes", kMaxBodyBytes);
    case 414:
      return "request line too long";
    default:
      return fmt::format("HTTP error {}", status);
  }
}

std::string reason_text(int error) {
  switch (error) {
    case EADDRINUSE:
      return "address in use";
    case EADDRNOTAVAIL:
      return "address not available on this machine";
    case EACCES:
      return "permission denied";
    case 0:
      return "cannot bind (bad address?)";
    default:
      return std::strerror(error);
  }
}

}  // namespace

// ---- the server ------------------------------------------------------------------------------------------

struct HttpServer::Impl {
  // One request being served: the route's path parameters and the admitted caller.
  struct Call {
    const httplib::Request& request;
    std::map<std::string, std::string> params;
    Caller caller;
    const std::string& param(const std::string& name) const { return params.at(name); }
  };
  using Handler = std::function<void(Impl&, const Call&, httplib::Response&)>;
  struct Route {
    RouteInfo info;
    std::vector<std::string> query;  // the query parameters it takes
    Handler handler;
  };

  Service& service;
  Options options;
  std::unique_ptr<httplib::Server> server;  // an httplib::SSLServer with Options::tls; made by start()
  std::thread listener;
  std::atomic<bool> stopping{false};
  std::atomic<int> bound_port{0};
  bool started = false;
  std::vector<Route> table = make_table();

  mutable std::mutex tokens_mutex;
  std::shared_ptr<const TokenTable> tokens;  // nullptr: no authentication (options.tokens at start)

  Impl(Service& s, Options o) : service(s), options(std::move(o)) {
    if (options.tokens) tokens = std::make_shared<const TokenTable>(std::move(*options.tokens));
    options.tokens.reset();
  }

  std::shared_ptr<const TokenTable> current_tokens() const {
    std::lock_guard lock(tokens_mutex);
    return tokens;
  }

  static std::vector<Route> make_table();

  // The one place a request is admitted: the bearer token's entry (401 when there is none or it is unknown),
  // its role against the route's (403). Never names the token in an answer. `who` is set to the caller's name
  // as soon as it is known (for the audit of a refused request).
  Caller admit(const httplib::Request& request, const Route& route, std::string& who) const {
    auto table = current_tokens();
    if (!table || (options.metrics_open && route.info.path == "/metrics")) return Caller{};
    const std::string header = request.get_header_value("Authorization");
    constexpr std::string_view kScheme = "bearer ";
    bool bearer = header.size() > kScheme.size() &&
                  std::equal(kScheme.begin(), kScheme.end(), header.begin(),
                             [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
    if (!bearer) {
      throw RequestError(401, "Authorization", "Authorization: a bearer token is required (Bearer TOKEN)");
    }
    std::string_view token = std::string_view(header).substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    const TokenEntry* entry = table->find(token);
    if (entry == nullptr) throw RequestError(401, "Authorization", "Authorization: unknown token");
    who = entry->name;
    if (entry->role < route.info.role) {
      throw RequestError(
          403, "Authorization",
          fmt::format("Authorization: {} {} needs the role {}; {} has the role {}", route.info.method,
                      route.info.path, to_string(route.info.role), entry->name, to_string(entry->role)));
    }
    return Caller{entry->name};
  }

  // Serves the request; then, for a state-changing one, hands its record to the audit.
  void dispatch(const httplib::Request& request, httplib::Response& response) {
    std::string who = current_tokens() ? "(unauthenticated)" : Caller{}.user;
    serve(request, response, who);
    if (request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS") return;
    RequestRecord record;
    record.method = request.method;
    record.path = request.path;
    record.who = who;
    record.body = request.body.substr(0, 4096);
    record.status = response.status;
    if (response.status >= 400) {
      json body = json::parse(response.body, nullptr, false);
      if (body.is_object() && body.contains("error") && body["error"].is_object())
        record.error = body["error"].value("message", "");
    }
    try {
      service.record_request(record);
    } catch (const std::exception&) {
      // The audit's own failure is the daemon's to report; the answer is sent already.
    }
  }

  void serve(const httplib::Request& request, httplib::Response& response, std::string& who) {
    try {
      std::string method = request.method == "HEAD" ? "GET" : request.method;
      std::vector<std::string> allowed;
      for (const auto& route : table) {
        auto params = match(route.info.path, request.path);
        if (!params) continue;
        if (route.info.method != method) {
          allowed.push_back(route.info.method);
          continue;
        }
        Caller caller = admit(request, route, who);  // before any syntax check: a stranger learns only 401
        check_params(*params);
        Call call{request, std::move(*params), std::move(caller)};
        check_query(request, route);
        route.handler(*this, call, response);
        return;
      }
      if (!allowed.empty()) {
        std::string allow;
        for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
        response.set_header("Allow", allow);
        reply_error(
            response, 405, "method",
            fmt::format("{} {}: method not allowed (allowed: {})", request.method, request.path, allow));
        return;
      }
      reply_error(response, 404, "path",
                  fmt::format("{}: no such route (see /v1/openapi.yaml)", request.path));
    } catch (const RequestError& error) {
      if (error.status() == 401) response.set_header("WWW-Authenticate", "Bearer realm=\"revive\"");
      reply_error(response, error.status(), error.field(), error.what());
    } catch (const std::exception& error) {
      reply_error(response, 500, "", error.what());
    }
  }

  // The path parameters of `path` under `pattern` ("/v1/hosts/{host}"), unchecked (check_params); nullopt if
  // it does not match.
  static std::optional<std::map<std::string, std::string>> match(const std::string& pattern,
                                                                 const std::string& path) {
    std::map<std::string, std::string> params;
    std::size_t p = 0, q = 0;
    while (p < pattern.size() && q < path.size()) {
      std::size_t p_end = pattern.find('/', p + 1), q_end = path.find('/', q + 1);
      if (p_end == std::string::npos) p_end = pattern.size();
      if (q_end == std::string::npos) q_end = path.size();
      std::string want = pattern.substr(p, p_end - p), got = path.substr(q, q_end - q);
      if (want.size() > 2 && want[1] == '{') {
        if (got.size() < 2) return std::nullopt;
        params[want.substr(2, want.size() - 3)] = got.substr(1);
      } else if (want != got) {
        return std::nullopt;
      }
      p = p_end;
      q = q_end;
    }
    if (p != pattern.size() || q != path.size()) return std::nullopt;
    return params;
  }

  static void check_params(const std::map<std::string, std::string>& params) {
    for (const auto& [name, value] : params) {
      if (!valid_name(value)) {
        throw bad(name, "'" + value + "' is not a valid name (1-253 of A-Z a-z 0-9 . _ : -)");
      }
    }
  }

  static void check_query(const httplib::Request& request, const Route& route) {
    for (const auto& [name, value] : request.params) {
      if (std::find(route.query.begin(), route.query.end(), name) == route.query.end()) {
        throw bad(name, route.query.empty() ? "unknown query parameter (this route takes none)"
                                            : "unknown query parameter");
      }
      if (request.params.count(name) > 1) throw bad(name, "given more than once");
    }
  }

  // Service::events in slices of kPollSliceS, so that a long poll ends soon after stop().
  json poll_events(std::uint64_t after, std::size_t limit, double wait_s) {
    auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_s));
    while (true) {
      double remaining = std::chrono::duration<double>(deadline - Clock::now()).count();
      double slice = std::clamp(remaining, 0.0, kPollSliceS);
      json page = service.events(after, limit, slice);
      if (!page.is_object() || !page.contains("events") || !page["events"].is_array()) {
        throw std::runtime_error("the service answered events without an `events` list");
      }
      if (!page["events"].empty() || remaining <= slice || stopping) return page;
    }
  }

  void serve_events(const Call& call, httplib::Response& response);
  void serve_event_stream(const Call& call, httplib::Response& response);
};

namespace {

DrainRequest drain_request(const json& body, std::vector<std::string> hosts, std::string reason,
                           std::string hosts_field = "host") {
  DrainRequest drain;
  drain.hosts = std::move(hosts);
  drain.hosts_field = std::move(hosts_field);
  if (auto deadline = positive_seconds(body, "deadline_s")) drain.deadline_s = *deadline;
  if (auto given = choice(body, "reason", kReasons)) reason = *given;
  drain.reason = std::move(reason);
  if (auto dry_run = flag(body, "dry_run")) drain.dry_run = *dry_run;
  return drain;
}

AuditQuery audit_query(const httplib::Request& request) {
  AuditQuery query;
  if (request.has_param("since")) {
    auto since = parse_rfc3339(request.get_param_value("since"));
    if (!since) throw bad("since", "must be an RFC 3339 time (2024-05-01T12:00:00Z)");
    query.since_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(since->time_since_epoch()).count();
  }
  if (request.has_param("kind")) {
    query.kind = request.get_param_value("kind");
    if (query.kind != "request" && query.kind != "fence") throw bad("kind", "must be request or fence");
  }
  std::uint64_t limit = query_unsigned(request, "limit", 100);
  if (limit < 1 || limit > kMaxEventLimit) throw bad("limit", fmt::format("must be 1 to {}", kMaxEventLimit));
  query.limit = limit;
  return query;
}

}  // namespace

void HttpServer::Impl::serve_events(const Call& call, httplib::Response& response) {
  const auto& request = call.request;
  std::uint64_t after = query_unsigned(request, "after", 0);
  std::uint64_t limit = query_unsigned(request, "limit", kDefaultEventLimit);
  if (limit < 1 || limit > kMaxEventLimit) throw bad("limit", fmt::format("must be 1 to {}", kMaxEventLimit));
  double wait_s = 0;
  if (request.has_param("wait_s")) {
    auto value = parse_number(request.get_param_value("wait_s"));
    if (!value || *value < 0 || *value > kMaxWaitS)
      throw bad("wait_s", fmt::format("must be 0 to {} seconds", kMaxWaitS));
    wait_s = *value;
  }
  reply(response, poll_events(after, limit, wait_s));
}

void HttpServer::Impl::serve_event_stream(const Call& call, httplib::Response& response) {
  std::uint64_t after = query_unsigned(call.request, "after", 0);
  if (call.request.has_header("Last-Event-ID")) {
    auto value = parse_unsigned(call.request.get_header_value("Last-Event-ID"));
    if (!value) throw bad("Last-Event-ID", "must be an event's sequence number (an integer >= 0)");
    after = *value;
  }
  struct Cursor {
    std::uint64_t after;
    Clock::time_point last_write;
    bool opened = false;
  };
  auto cursor = std::make_shared<Cursor>(Cursor{after, Clock::now()});
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");
  response.set_chunked_content_provider(
      "text/event-stream", [this, cursor](std::size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& chunk) {
          cursor->last_write = Clock::now();
          return sink.write(chunk.data(), chunk.size());
        };
        if (stopping) return false;
        if (!cursor->opened) {
          cursor->opened = true;
          if (!write(": revive event stream\nretry: 2000\n\n")) return false;
        }
        try {
          json page = service.events(cursor->after, kDefaultEventLimit, kPollSliceS);
          for (const auto& event : page.value("events", json::array())) {
            auto sequence = event.value("sequence", std::uint64_t{0});
            if (!write(fmt::format("id: {}\nevent: {}\ndata: {}\n\n", sequence, event.value("kind", "event"),
                                   event.dump()))) {
              return false;
            }
            cursor->after = std::max(cursor->after, sequence);
          }
        } catch (const std::exception&) {
          return false;  // the client reconnects (retry) and resumes from its Last-Event-ID
        }
        if (Clock::now() - cursor->last_write >= std::chrono::duration<double>(options.sse_keepalive_s)) {
          if (!write(": keepalive\n\n")) return false;
        }
        return sink.is_writable();
      });
}

std::vector<HttpServer::Impl::Route> HttpServer::Impl::make_table() {
  using R = Role;
  std::vector<Route> table;
  auto add = [&](const char* method, const char* path, Role role, Handler handler,
                 std::vector<std::string> query = {}) {
    table.push_back(Route{RouteInfo{method, path, role}, std::move(query), std::move(handler)});
  };
  auto read = [](json (Service::*method)()) {
    return [method](Impl& s, const Call&, httplib::Response& res) { reply(res, (s.service.*method)()); };
  };
  add("GET", "/v1/status", R::viewer, read(&Service::status));
  add("GET", "/v1/hosts", R::viewer, read(&Service::hosts));
  add("GET", "/v1/hosts/{host}", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) { reply(res, s.service.host(c.param("host"))); });
  add("GET", "/v1/hosts/{host}/why", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) { reply(res, s.service.why(c.param("host"))); });
  add("POST", "/v1/hosts/{host}/evacuate", R::operator_, [](Impl& s, const Call& c, httplib::Response& res) {
    auto body = parse_body(c.request, {"deadline_s", "reason", "dry_run"});
    reply_action(res, s.service.drain(drain_request(body, {c.param("host")}, "maintenance"), c.caller));
  });
  add("POST", "/v1/hosts/{host}/maintenance", R::operator_,
      [](Impl& s, const Call& c, httplib::Response& res) {
        auto body = parse_body(c.request, {"action", "deadline_s", "fail_back", "dry_run"});
        if (!body.contains("action")) throw bad("action", "required: enter or exit");
        auto action = *choice(body, "action", {"enter", "exit"});
        if (action == "enter") {
          if (body.contains("fail_back")) throw bad("fail_back", "only with action exit");
          reply_action(res, s.service.drain(drain_request(body, {c.param("host")}, "maintenance"), c.caller));
          return;
        }
        if (body.contains("deadline_s")) throw bad("deadline_s", "only with action enter");
        ExitMaintenanceRequest exit;
        exit.hosts = {c.param("host")};
        if (auto fail_back = flag(body, "fail_back")) exit.fail_back = *fail_back;
        if (auto dry_run = flag(body, "dry_run")) exit.dry_run = *dry_run;
        reply_action(res, s.service.exit_maintenance(exit, c.caller));
      });
  add("POST", "/v1/hosts/{host}/predicted-failure", R::operator_,
      [](Impl& s, const Call& c, httplib::Response& res) {
        auto body = parse_body(c.request, {"deadline_s", "dry_run"});
        reply_action(res,
                     s.service.drain(drain_request(body, {c.param("host")}, "predicted_failure"), c.caller));
      });
  add("POST", "/v1/hosts/{host}/confirm-down", R::operator_,
      [](Impl& s, const Call& c, httplib::Response& res) {
        parse_body(c.request, {});
        reply(res, s.service.confirm_down(c.param("host"), c.caller));
      });
  add("POST", "/v1/evacuations", R::operator_, [](Impl& s, const Call& c, httplib::Response& res) {
    auto body = parse_body(c.request, {"hosts", "deadline_s", "reason", "dry_run"});
    auto hosts = host_list(body, "hosts");
    reply_action(res,
                 s.service.drain(drain_request(body, std::move(hosts), "maintenance", "hosts"), c.caller));
  });
  add("GET", "/v1/vms", R::viewer, read(&Service::vms));
  add("GET", "/v1/vms/{vm}", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) { reply(res, s.service.vm(c.param("vm"))); });
  add("GET", "/v1/groups", R::viewer, read(&Service::groups));
  add("GET", "/v1/plans", R::viewer, read(&Service::plans));
  add("GET", "/v1/capacity", R::viewer, read(&Service::capacity));
  add("GET", "/v1/operations", R::viewer, read(&Service::operations));
  add("GET", "/v1/operations/{id}", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) { reply(res, s.service.operation(c.param("id"))); });
  add("POST", "/v1/operations/{id}/cancel", R::operator_, [](Impl& s, const Call& c, httplib::Response& res) {
    parse_body(c.request, {});
    reply(res, s.service.cancel(c.param("id"), c.caller));
  });
  add("GET", "/v1/events", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) { s.serve_events(c, res); },
      {"after", "limit", "wait_s"});
  add("GET", "/v1/events/stream", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) { s.serve_event_stream(c, res); }, {"after"});
  add("GET", "/v1/audit", R::viewer,
      [](Impl& s, const Call& c, httplib::Response& res) {
        reply(res, s.service.audit(audit_query(c.request)));
      },
      {"since", "kind", "limit"});
  add("GET", "/v1/decisions", R::viewer, read(&Service::decisions));
  add("GET", "/v1/decisions/{number}", R::viewer, [](Impl& s, const Call& c, httplib::Response& res) {
    auto number = parse_unsigned(c.param("number"));
    if (!number || *number == 0) throw bad("number", "must be a decision's number (an integer >= 1)");
    res.set_content(s.service.decision(*number), "application/json");
  });
  for (bool armed : {false, true}) {
    add("POST", armed ? "/v1/arm" : "/v1/disarm", R::admin,
        [armed](Impl& s, const Call& c, httplib::Response& res) {
          auto body = parse_body(c.request, {"reason"});
          reply(res, s.service.set_armed(armed, text(body, "reason", 500).value_or(""), c.caller));
        });
  }
  add("GET", "/v1/openapi.yaml", R::viewer, [](Impl&, const Call&, httplib::Response& res) {
    res.set_content(std::string(openapi_document()), "application/yaml");
  });
  add("GET", "/metrics", R::viewer, [](Impl& s, const Call&, httplib::Response& res) {
    res.set_content(s.service.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  return table;
}

std::vector<RouteInfo> routes() {
  std::vector<RouteInfo> infos;
  for (const auto& route : HttpServer::Impl::make_table()) infos.push_back(route.info);
  return infos;
}

HttpServer::HttpServer(Service& service, Options options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::start() {
  auto& impl = *impl_;
  if (impl.started) throw std::logic_error("HttpServer::start: already started");
  if (impl.options.threads < 1) throw std::invalid_argument("HttpServer: threads must be >= 1");
  if (impl.options.tls) {
    const auto& tls = *impl.options.tls;
    impl.server = std::make_unique<httplib::SSLServer>(tls.certificate_file.c_str(), tls.key_file.c_str());
    if (!impl.server->is_valid()) {
      impl.server.reset();
      throw std::runtime_error(
          fmt::format("cannot load the TLS certificate {} or key {}", tls.certificate_file, tls.key_file));
    }
  } else {
    impl.server = std::make_unique<httplib::Server>();
  }
  auto& server = *impl.server;
  int threads = impl.options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  // Not httplib's default SO_REUSEPORT: a second daemon on the same port must fail, not share it.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Answers leave at once: without TCP_NODELAY, Nagle's algorithm holds a response's last segment until the
  // client's delayed ACK (up to 40 ms on Linux), which capped a kept-alive connection near 40 requests/s.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_timeout(1);  // an idle kept-alive connection ends within 1 s of stop()
  server.set_read_timeout(5);
  server.set_write_timeout(5);
  server.set_payload_max_length(kMaxBodyBytes);
  auto handler = [&impl](const httplib::Request& request, httplib::Response& response) {
    impl.dispatch(request, response);
  };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);
  // Errors httplib answers itself (a malformed request, a body over the limit) get the same error body.
  server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    reply_error(response, response.status, response.status == 413 ? "body" : "",
                http_status_text(response.status));
  });

  errno = 0;
  int port = impl.options.port;
  bool bound = false;
  if (port == 0) {
    port = server.bind_to_any_port(impl.options.address);
    bound = port > 0;
  } else {
    bound = server.bind_to_port(impl.options.address, port);
  }
  if (!bound) {
    int error = errno;
    throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", impl.options.address,
                                         impl.options.port, reason_text(error)));
  }
  impl.started = true;
  impl.bound_port = port;
  impl.listener = std::thread([&server] { server.listen_after_bind(); });
  // stop() is a no-op for httplib until its accept loop runs: wait for it, so that stop() always ends it.
  for (int i = 0; i < 2000 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::set_tokens(std::optional<TokenTable> tokens) {
  auto table = tokens ? std::make_shared<const TokenTable>(std::move(*tokens)) : nullptr;
  std::lock_guard lock(impl_->tokens_mutex);
  impl_->tokens = std::move(table);
}

HttpServer::LocalAnswer HttpServer::answer(std::string_view method, std::string_view target,
                                           const std::vector<std::pair<std::string, std::string>>& headers,
                                           std::string_view body) {
  // As httplib's server reads a request line: the path URL-decoded, the query split into parameters.
  httplib::Request request;
  request.method = std::string(method);
  std::string_view path = target.substr(0, target.find('?'));
  request.path = httplib::detail::decode_url(std::string(path), false);
  if (path.size() < target.size()) {
    httplib::detail::parse_query_text(std::string(target.substr(path.size() + 1)), request.params);
  }
  for (const auto& [name, value] : headers) request.headers.emplace(name, value);
  request.body = std::string(body);
  httplib::Response response;
  impl_->dispatch(request, response);
  if (response.status == -1) response.status = 200;  // as httplib answers a route that set no status
  return {response.status, response.body};
}

int HttpServer::port() const {
  return impl_->bound_port;
}

void HttpServer::stop() {
  auto& impl = *impl_;
  if (!impl.started || impl.stopping.exchange(true)) return;
  impl.server->stop();
  if (impl.listener.joinable()) impl.listener.join();
}

}  // namespace revive::api

// The REST API over real HTTP: api::HttpServer on 127.0.0.1 (a free port) serving the FakeService, called
// with httplib::Client. Every response a test gets is recorded and, at the end of the test, validated against
// docs/api/openapi.yaml by tests/api/validate_openapi.py (the tour test also requires every route covered).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "api/http_server.h"
#include "support/fake_service.h"
#include "support/test_support.h"

namespace revive::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  json body;
  std::string text;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api::HttpServer::Options options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 4;
    options.sse_keepalive_s = 0.3;
    configure(options);
    server_ = std::make_unique<api::HttpServer>(fake_, options);
    server_->start();
    ASSERT_GT(server_->port(), 0);
  }

  // A test fixture's changes to the server's options (tokens, TLS).
  virtual void configure(api::HttpServer::Options& /*options*/) {}

  void TearDown() override {
    server_->stop();
    validate(false);
  }

  // Runs the validator over the responses recorded so far (and the route table).
  void validate(bool require_coverage) {
    json routes = json::array();
    for (const auto& route : api::routes()) {
      routes.push_back(
          {{"method", route.method}, {"path", route.path}, {"role", api::to_string(route.role)}});
    }
    auto routes_file = dir_.write("routes.json", routes.dump());
    std::string command = "python3 " + (source_dir() / "tests/api/validate_openapi.py").string() + " " +
                          (source_dir() / "docs/api/openapi.yaml").string() + " --routes " +
                          routes_file.string() + " --responses " + (dir_.path() / "responses").string() +
                          (require_coverage ? " --require-coverage" : "");
    std::filesystem::create_directories(dir_.path() / "responses");
    auto checked = testing::run_shell(command);
    EXPECT_EQ(checked.exit_status, 0) << "validate_openapi.py failed:\n" << checked.out;
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(10);
    c.set_connection_timeout(5);
    return c;
  }

  void record(const std::string& method, const std::string& path, int status, const std::string& content_type,
              const std::string& body) {
    json entry = {{"method", method},
                  {"path", path},
                  {"status", status},
                  {"content_type", content_type},
                  {"body", body}};
    dir_.write("responses/" + std::to_string(++recorded_) + ".json", entry.dump());
  }

  Reply finish(const std::string& method, const std::string& path, const httplib::Result& result) {
    Reply reply;
    if (!result) {
      ADD_FAILURE() << method << " " << path << ": " << httplib::to_string(result.error());
      return reply;
    }
    reply.status = result->status;
    reply.text = result->body;
    reply.headers = result->headers;
    record(method, path, reply.status, result->get_header_value("Content-Type"), reply.text);
    if (result->get_header_value("Content-Type").starts_with("application/json")) {
      reply.body = json::parse(reply.text, nullptr, false);
    }
    return reply;
  }

  Reply get(const std::string& path, const httplib::Headers& headers = {}) {
    auto c = client();
    return finish("GET", path, c.Get(path, headers));
  }
  Reply post(const std::string& path, const std::string& body = "") {
    auto c = client();
    return finish("POST", path, c.Post(path, body, "application/json"));
  }
  Reply post(const std::string& path, const json& body) { return post(path, body.dump()); }
  Reply send(const std::string& method, const std::string& path, const httplib::Headers& headers,
             const std::string& body) {
    auto c = client();
    if (method == "POST") return finish(method, path, c.Post(path, headers, body, "application/json"));
    return finish(method, path, c.Get(path, headers));
  }
  Reply call(const std::string& method, const std::string& path) {
    auto c = client();
    if (method == "DELETE") return finish(method, path, c.Delete(path));
    if (method == "PUT") return finish(method, path, c.Put(path, "{}", "application/json"));
    if (method == "POST") return finish(method, path, c.Post(path, "{}", "application/json"));
    return finish(method, path, c.Get(path));
  }

  // Reads the event stream until `until` holds on what came so far (or 10 s pass).
  std::string read_stream(const std::string& path, const httplib::Headers& headers,
                          const std::function<bool(const std::string&)>& until) {
    auto c = client();
    std::string text;
    auto result = c.Get(path, headers, [&](const char* data, std::size_t length) {
      text.append(data, length);
      return !until(text);
    });
    record("GET", path, 200, "text/event-stream", text);
    return text;
  }

  void expect_error(const Reply& reply, int status, const std::string& field) {
    EXPECT_EQ(reply.status, status) << reply.text;
    ASSERT_TRUE(reply.body.is_object()) << reply.text;
    EXPECT_EQ(reply.body["error"]["status"], status) << reply.text;
    EXPECT_EQ(reply.body["error"]["field"], field) << reply.text;
    EXPECT_FALSE(reply.body["error"]["message"].get<std::string>().empty());
  }

  FakeService fake_;
  std::unique_ptr<api::HttpServer> server_;
  TempDir dir_;
  int recorded_ = 0;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(ApiTest, ReadsAnswerTheServiceDocuments) {
  auto status = get("/v1/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.body["hosts"]["by_state"]["failed"], 1);
  EXPECT_EQ(status.body["last_event_sequence"], 3);
  auto hosts = get("/v1/hosts");
  ASSERT_EQ(hosts.status, 200);
  EXPECT_EQ(hosts.body["hosts"].size(), 4u);
  auto host = get("/v1/hosts/host-03");
  EXPECT_EQ(host.body["state"], "failed");
  EXPECT_EQ(get("/v1/vms").body["vms"].size(), 5u);
  EXPECT_EQ(get("/v1/vms/db-1").body["priority"], "critical");
  EXPECT_EQ(get("/v1/groups").body["groups"][0]["name"], "web");
  EXPECT_EQ(get("/v1/plans").body["plans"].size(), 2u);
  EXPECT_EQ(get("/v1/capacity").body["shortfalls"][0]["failure"], "host-01");
  EXPECT_EQ(get("/v1/operations").body["operations"][0]["id"], "op-1");
  auto op = get("/v1/operations/op-1");
  EXPECT_EQ(op.body["vms"][0]["steps"][0]["step"], "fence");
  auto events = get("/v1/events?after=1&limit=1");
  ASSERT_EQ(events.status, 200);
  ASSERT_EQ(events.body["events"].size(), 1u);
  EXPECT_EQ(events.body["events"][0]["sequence"], 2);
  EXPECT_EQ(events.body["last_sequence"], 3);
  auto document = get("/v1/openapi.yaml");
  EXPECT_EQ(document.status, 200);
  EXPECT_EQ(document.text, read_file(source_dir() / "docs/api/openapi.yaml"));
  EXPECT_EQ(document.header("Content-Type"), "application/yaml");
  auto calls = fake_.calls();
  EXPECT_NE(std::find(calls.begin(), calls.end(), "host host-03"), calls.end());
  EXPECT_NE(std::find(calls.begin(), calls.end(), "events after=1 limit=1"), calls.end());
}

TEST_F(ApiTest, ActionsReachTheServiceWithTheirFields) {
  auto exit = post("/v1/hosts/host-04/maintenance", json{{"action", "exit"}, {"fail_back", true}});
  ASSERT_EQ(exit.status, 202) << exit.text;
  EXPECT_EQ(exit.header("Location"), "/v1/operations/op-2");
  auto started = post("/v1/hosts/host-01/evacuate", json{{"deadline_s", 300}});
  ASSERT_EQ(started.status, 202) << started.text;
  EXPECT_EQ(started.header("Location"), "/v1/operations/op-3");
  EXPECT_EQ(started.body["operation"]["kind"], "evacuation");
  EXPECT_EQ(get("/v1/hosts/host-01").body["state"], "draining");

  auto dry = post("/v1/hosts/host-02/predicted-failure", json{{"dry_run", true}, {"deadline_s", 60.5}});
  ASSERT_EQ(dry.status, 200) << dry.text;
  EXPECT_TRUE(dry.body["dry_run"].get<bool>());
  auto enter = post("/v1/hosts/host-04/maintenance", json{{"action", "enter"}, {"dry_run", true}});
  EXPECT_EQ(enter.status, 200) << enter.text;
  auto many = post("/v1/evacuations",
                   json{{"hosts", {"host-02"}}, {"reason", "predicted_failure"}, {"dry_run", true}});
  EXPECT_EQ(many.status, 200) << many.text;
  auto confirmed = post("/v1/hosts/host-03/confirm-down");
  ASSERT_EQ(confirmed.status, 200) << confirmed.text;
  EXPECT_EQ(confirmed.body["host"], "host-03");
  auto cancelled = post("/v1/operations/op-3/cancel", std::string("{}"));
  ASSERT_EQ(cancelled.status, 200) << cancelled.text;
  EXPECT_TRUE(cancelled.body["operation"]["cancel_requested"].get<bool>());
  auto disarmed = post("/v1/disarm", json{{"reason", "network work"}});
  ASSERT_EQ(disarmed.status, 200) << disarmed.text;
  EXPECT_FALSE(disarmed.body["armed"].get<bool>());
  EXPECT_TRUE(post("/v1/arm").body["armed"].get<bool>());

  EXPECT_EQ(fake_.action_calls(),
            (std::vector<std::string>{
                "exit_maintenance host-04 fail_back=1 dry_run=0 by=anonymous",
                "drain host-01 deadline_s=300 reason=maintenance dry_run=0 by=anonymous",
                "drain host-02 deadline_s=60.5 reason=predicted_failure dry_run=1 by=anonymous",
                "drain host-04 deadline_s=600 reason=maintenance dry_run=1 by=anonymous",
                "drain host-02 deadline_s=600 reason=predicted_failure dry_run=1 by=anonymous",
                "confirm_down host-03 by=anonymous",
                "cancel op-3 by=anonymous",
                "set_armed 0 reason=network work by=anonymous",
                "set_armed 1 reason= by=anonymous",
            }));
}

struct Refusal {
  std::string method, path, body;
  int status;
  std::string field;
};

TEST_F(ApiTest, MalformedRequestsNameTheirFieldAndNeverReachTheService) {
  const std::vector<Refusal> refusals = {
      {"POST", "/v1/hosts/host-01/evacuate", "[1]", 400, "body"},
      {"POST", "/v1/hosts/host-01/evacuate", "not json", 400, "body"},
      {"POST", "/v1/hosts/host-01/evacuate", R"({"deadline_s": -5})", 400, "deadline_s"},
      {"POST", "/v1/hosts/host-01/evacuate", R"({"deadline_s": "10"})", 400, "deadline_s"},
      {"POST", "/v1/hosts/host-01/evacuate", R"({"dry_run": "yes"})", 400, "dry_run"},
      {"POST", "/v1/hosts/host-01/evacuate", R"({"reason": "whim"})", 400, "reason"},
      {"POST", "/v1/hosts/host-01/evacuate", R"({"force": true})", 400, "force"},
      {"POST", "/v1/hosts/host-01/maintenance", "{}", 400, "action"},
      {"POST", "/v1/hosts/host-01/maintenance", R"({"action": "pause"})", 400, "action"},
      {"POST", "/v1/hosts/host-01/maintenance", R"({"action": "enter", "fail_back": true})", 400,
       "fail_back"},
      {"POST", "/v1/hosts/host-04/maintenance", R"({"action": "exit", "deadline_s": 5})", 400, "deadline_s"},
      {"POST", "/v1/hosts/host-01/predicted-failure", R"({"reason": "maintenance"})", 400, "reason"},
      {"POST", "/v1/hosts/host-03/confirm-down", R"({"force": 1})", 400, "force"},
      {"POST", "/v1/hosts/bad%20name/confirm-down", "", 400, "host"},
      {"POST", "/v1/evacuations", "{}", 400, "hosts"},
      {"POST", "/v1/evacuations", R"({"hosts": []})", 400, "hosts"},
      {"POST", "/v1/evacuations", R"({"hosts": ["host-01", "host-01"]})", 400, "hosts"},
      {"POST", "/v1/evacuations", R"({"hosts": [1]})", 400, "hosts"},
      {"POST", "/v1/evacuations", R"({"hosts": ["host-01"], "deadline_s": 0})", 400, "deadline_s"},
      {"POST", "/v1/operations/op-1/cancel", R"({"why": "x"})", 400, "why"},
      {"POST", "/v1/disarm", R"({"reason": 5})", 400, "reason"},
      {"POST", "/v1/arm", R"({"by": "me"})", 400, "by"},
      {"GET", "/v1/events?limit=0", "", 400, "limit"},
      {"GET", "/v1/events?limit=5000", "", 400, "limit"},
      {"GET", "/v1/events?after=-1", "", 400, "after"},
      {"GET", "/v1/events?wait_s=abc", "", 400, "wait_s"},
      {"GET", "/v1/events?wait_s=100", "", 400, "wait_s"},
      {"GET", "/v1/events?foo=1", "", 400, "foo"},
      {"GET", "/v1/events?after=1&after=2", "", 400, "after"},
      {"GET", "/v1/events/stream?after=x", "", 400, "after"},
      {"GET", "/v1/hosts?verbose=1", "", 400, "verbose"},
      {"GET", "/v1/hosts/bad%20name", "", 400, "host"},
      {"GET", "/v1/nope", "", 404, "path"},
      {"GET", "/v2/status", "", 404, "path"},
      {"GET", "/v1/hosts/host-01/vms", "", 404, "path"},
      {"DELETE", "/v1/hosts", "", 405, "method"},
      {"PUT", "/v1/status", "", 405, "method"},
      {"POST", "/v1/status", "", 405, "method"},
      {"GET", "/v1/hosts/host-01/evacuate", "", 405, "method"},
  };
  for (const auto& refusal : refusals) {
    SCOPED_TRACE(refusal.method + " " + refusal.path + " " + refusal.body);
    Reply reply;
    if (refusal.method == "POST" && !refusal.body.empty()) {
      reply = post(refusal.path, refusal.body);
    } else {
      reply = call(refusal.method, refusal.path);
    }
    expect_error(reply, refusal.status, refusal.field);
    if (!refusal.field.empty() && refusal.status == 400 && refusal.field != "body") {
      EXPECT_TRUE(reply.body["error"]["message"].get<std::string>().starts_with(refusal.field + ": "))
          << reply.text;
    }
  }
  EXPECT_EQ(call("GET", "/v1/hosts/host-01/evacuate").header("Allow"), "POST");
  EXPECT_EQ(post("/v1/hosts/host-01/evacuate", std::string(R"({"deadline_s": -5})")).body["error"]["message"],
            "deadline_s: must be a number > 0");
  auto stream = get("/v1/events/stream", {{"Last-Event-ID", "abc"}});
  expect_error(stream, 400, "Last-Event-ID");
  EXPECT_TRUE(fake_.calls().empty()) << fake_.calls().front();
}

TEST_F(ApiTest, RefusalsOfTheServiceKeepTheirStatusAndChangeNothing) {
  auto before_hosts = get("/v1/hosts").body;
  auto before_ops = get("/v1/operations").body;
  expect_error(get("/v1/hosts/host-99"), 404, "host");
  expect_error(get("/v1/vms/nope"), 404, "vm");
  expect_error(get("/v1/operations/op-99"), 404, "id");
  expect_error(post("/v1/hosts/host-99/evacuate"), 404, "host");
  expect_error(post("/v1/hosts/host-04/evacuate"), 409, "host");
  expect_error(post("/v1/hosts/host-01/maintenance", json{{"action", "exit"}}), 409, "host");
  expect_error(post("/v1/evacuations", json{{"hosts", {"host-01", "host-02"}}}), 422, "hosts");
  expect_error(post("/v1/hosts/host-01/confirm-down"), 409, "host");
  expect_error(post("/v1/operations/op-99/cancel"), 404, "id");
  EXPECT_EQ(get("/v1/hosts").body, before_hosts);
  EXPECT_EQ(get("/v1/operations").body, before_ops);
  EXPECT_EQ(fake_.action_calls().size(), 6u);

  fake_.fail_next_status("the engine thread is gone");
  auto failed = get("/v1/status");
  expect_error(failed, 500, "");
  EXPECT_EQ(failed.body["error"]["message"], "the engine thread is gone");
}

TEST_F(ApiTest, CancelOfAFinishedOperationIsAConflict) {
  ASSERT_EQ(post("/v1/operations/op-1/cancel").status, 200);
  expect_error(post("/v1/operations/op-1/cancel"), 409, "id");
}

TEST_F(ApiTest, LongPollWaitsForTheNextEvent) {
  auto start = Clock::now();
  std::thread publisher([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    fake_.publish("host_state", "host-02 suspect", "host-02");
  });
  auto reply = get("/v1/events?after=3&wait_s=10");
  publisher.join();
  ASSERT_EQ(reply.status, 200) << reply.text;
  ASSERT_EQ(reply.body["events"].size(), 1u);
  EXPECT_EQ(reply.body["events"][0]["sequence"], 4);
  EXPECT_EQ(reply.body["events"][0]["host"], "host-02");
  EXPECT_GE(seconds_since(start), 0.25);
  EXPECT_LT(seconds_since(start), 5.0);
  // Nothing new: answers empty once wait_s has passed.
  start = Clock::now();
  auto empty = get("/v1/events?after=4&wait_s=0.6");
  EXPECT_TRUE(empty.body["events"].empty());
  EXPECT_GE(seconds_since(start), 0.55);
}

TEST_F(ApiTest, EventStreamDeliversInOrderAndResumesFromLastEventId) {
  auto text = read_stream("/v1/events/stream?after=1", {},
                          [](const std::string& t) { return count(t, "\n\n") >= 3; });
  auto second = text.find("id: 2\nevent: operation_started\ndata: {");
  auto third = text.find("id: 3\nevent: fence_done\ndata: {");
  ASSERT_NE(second, std::string::npos) << text;
  ASSERT_NE(third, std::string::npos) << text;
  EXPECT_LT(second, third);
  EXPECT_EQ(text.find("id: 1\n"), std::string::npos) << text;

  // Resume after 2 (Last-Event-ID wins over ?after=), then a live event arrives.
  std::thread publisher([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    fake_.publish("vm_state", "web-2 migrating", "", "web-2");
  });
  auto resumed = read_stream("/v1/events/stream?after=0", {{"Last-Event-ID", "2"}},
                             [](const std::string& t) { return t.find("id: 4\n") != std::string::npos; });
  publisher.join();
  EXPECT_EQ(resumed.find("id: 2\n"), std::string::npos) << resumed;
  auto at3 = resumed.find("id: 3\nevent: fence_done\n");
  auto at4 = resumed.find("id: 4\nevent: vm_state\ndata: ");
  ASSERT_NE(at3, std::string::npos) << resumed;
  ASSERT_NE(at4, std::string::npos) << resumed;
  EXPECT_LT(at3, at4);
}

TEST_F(ApiTest, IdleEventStreamSendsKeepalives) {
  auto text = read_stream("/v1/events/stream?after=3", {}, [](const std::string& t) {
    return t.find(": keepalive\n\n") != std::string::npos;
  });
  EXPECT_NE(text.find(": keepalive\n\n"), std::string::npos) << text;
}

TEST_F(ApiTest, StopIsBoundedWithAStreamAndALongPollAttached) {
  std::atomic<bool> streaming{false};
  std::thread stream_client([&] {
    auto c = client();
    c.Get("/v1/events/stream?after=3", [&](const char*, std::size_t) {
      streaming = true;
      return true;
    });
  });
  std::thread poll_client([&] {
    auto c = client();
    c.Get("/v1/events?after=3&wait_s=30");
  });
  for (int i = 0; i < 500 && !streaming; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(streaming);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = Clock::now();
  server_->stop();
  EXPECT_LT(seconds_since(start), 2.5);
  stream_client.join();
  poll_client.join();
  EXPECT_LT(seconds_since(start), 3.0);
}

TEST_F(ApiTest, SecondServerOnTheSamePortCannotListen) {
  api::HttpServer::Options options;
  options.port = server_->port();
  api::HttpServer second(fake_, options);
  try {
    second.start();
    FAIL() << "a second server listened on the same port";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "cannot listen on 127.0.0.1:" + std::to_string(server_->port()) + ": address in use");
  }
}

TEST_F(ApiTest, TourOfEveryRouteMatchesTheDocument) {
  for (const auto& path :
       {"/v1/status", "/v1/hosts", "/v1/hosts/host-01", "/v1/vms", "/v1/vms/app-1", "/v1/groups", "/v1/plans",
        "/v1/capacity", "/v1/operations", "/v1/operations/op-1", "/v1/events", "/v1/openapi.yaml",
        "/v1/hosts/host-01/why", "/v1/hosts/host-03/why", "/metrics", "/v1/decisions", "/v1/decisions/1"}) {
    EXPECT_EQ(get(path).status, 200) << path;
  }
  read_stream("/v1/events/stream", {}, [](const std::string& t) { return count(t, "id: ") >= 3; });
  EXPECT_EQ(post("/v1/hosts/host-01/evacuate", json{{"dry_run", true}}).status, 200);
  EXPECT_EQ(post("/v1/hosts/host-01/evacuate", json{{"deadline_s", 120}}).status, 202);
  EXPECT_EQ(post("/v1/hosts/host-01/maintenance", json{{"action", "exit"}}).status, 202);
  EXPECT_EQ(post("/v1/hosts/host-01/maintenance", json{{"action", "enter"}, {"deadline_s", 900}}).status,
            202);
  EXPECT_EQ(post("/v1/evacuations", json{{"hosts", {"host-04"}}}).status, 409);
  EXPECT_EQ(post("/v1/hosts/host-04/maintenance", json{{"action", "exit"}}).status, 202);
  EXPECT_EQ(post("/v1/hosts/host-02/predicted-failure").status, 202);
  EXPECT_EQ(post("/v1/hosts/host-01/maintenance", json{{"action", "exit"}}).status, 202);
  EXPECT_EQ(post("/v1/evacuations", json{{"hosts", {"host-04"}}, {"deadline_s", 30}}).status, 202);
  EXPECT_EQ(post("/v1/hosts/host-03/confirm-down").status, 200);
  EXPECT_EQ(post("/v1/operations/op-1/cancel").status, 200);
  EXPECT_EQ(post("/v1/disarm", json{{"reason", "tour"}}).status, 200);
  EXPECT_EQ(post("/v1/arm").status, 200);
  EXPECT_EQ(get("/v1/audit?kind=request&limit=5").status, 200);
  EXPECT_EQ(get("/v1/audit?since=2024-05-01T12:00:00Z").status, 200);
  fake_.fail_next_status("boom");
  EXPECT_EQ(get("/v1/status").status, 500);
  server_->stop();
  validate(true);
}

// A decision is served byte for byte as the service keeps it (the file revive replay reads); a number that is
// not one is 400, one not kept 404, both naming `number`.
TEST_F(ApiTest, ADecisionIsServedAsItsFileAndABadNumberIsNamed) {
  auto list = get("/v1/decisions");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["decisions"][0]["operation"], "op-1");
  auto one = get("/v1/decisions/1");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.text, fake_.decision(1));
  EXPECT_EQ(one.header("Content-Type"), "application/json");
  for (const char* bad : {"/v1/decisions/0", "/v1/decisions/x", "/v1/decisions/-1", "/v1/decisions/1.5"})
    expect_error(get(bad), 400, "number");
  expect_error(get("/v1/decisions/7"), 404, "number");
}

// ---- authentication
// ----------------------------------------------------------------------------------------

const std::string kViewerToken = "viewer-token-0123456789";
const std::string kOperatorToken = "operator-token-0123456789";
const std::string kAdminToken = "admin-token-0123456789";

class AuthApiTest : public ApiTest {
 protected:
  void configure(api::HttpServer::Options& options) override {
    api::TokenTable tokens;
    tokens.add("vera", api::Role::viewer, kViewerToken);
    tokens.add("otto", api::Role::operator_, kOperatorToken);
    tokens.add("ada", api::Role::admin, kAdminToken);
    options.tokens = std::move(tokens);
  }
};

// A concrete request for each route of the table, one that the fake service accepts without changing the
// canned cloud much (dry runs where there are).
std::pair<std::string, std::string> example_request(const api::RouteInfo& route) {
  std::string path = route.path;
  auto substitute = [&](const std::string& name, const std::string& value) {
    if (auto at = path.find(name); at != std::string::npos) path.replace(at, name.size(), value);
  };
  substitute("{host}", "host-01");
  substitute("{vm}", "db-1");
  substitute("{id}", "op-1");
  substitute("{number}", "1");
  std::string body;
  if (route.path.ends_with("/maintenance")) body = R"({"action": "enter", "dry_run": true})";
  if (route.path.ends_with("/evacuate") || route.path.ends_with("/predicted-failure"))
    body = R"({"dry_run": true})";
  if (route.path == "/v1/evacuations") body = R"({"hosts": ["host-02"], "dry_run": true})";
  return {path, body};
}

TEST_F(AuthApiTest, EveryRouteRefusesMissingWrongAndWeakTokensBeforeTheService) {
  struct Credential {
    std::string label;
    std::optional<std::string> authorization;
    std::optional<api::Role> role;  // nullopt: not a known token
  };
  const std::vector<Credential> credentials = {
      {"no header", std::nullopt, std::nullopt},
      {"wrong token", "Bearer not-a-token", std::nullopt},
      {"basic scheme", "Basic " + kAdminToken, std::nullopt},
      {"viewer", "Bearer " + kViewerToken, api::Role::viewer},
      {"operator", "bearer " + kOperatorToken, api::Role::operator_},
      {"admin", "Bearer " + kAdminToken, api::Role::admin},
  };
  for (const auto& route : api::routes()) {
    auto [path, body] = example_request(route);
    for (const auto& credential : credentials) {
      SCOPED_TRACE(route.method + " " + path + " with " + credential.label);
      httplib::Headers headers;
      if (credential.authorization) headers.emplace("Authorization", *credential.authorization);
      bool admitted = credential.role && *credential.role >= route.role;
      auto calls_before = fake_.calls().size();
      if (admitted && route.path == "/v1/events/stream") {
        auto text = read_stream(path, headers, [](const std::string& t) { return count(t, "id: ") >= 1; });
        EXPECT_GE(count(text, "id: "), 1u);
        continue;
      }
      auto reply = send(route.method, path, headers, body);
      if (!credential.role) {
        expect_error(reply, 401, "Authorization");
        EXPECT_EQ(reply.header("WWW-Authenticate"), "Bearer realm=\"revive\"");
      } else if (!admitted) {
        expect_error(reply, 403, "Authorization");
        EXPECT_NE(reply.text.find(std::string(api::to_string(route.role))), std::string::npos) << reply.text;
      } else {
        EXPECT_TRUE(reply.status < 400 || reply.status == 409) << reply.text;
      }
      if (!admitted) {
        EXPECT_EQ(fake_.calls().size(), calls_before) << "a refused request reached the service";
      } else if (route.path != "/v1/openapi.yaml") {
        EXPECT_GT(fake_.calls().size(), calls_before) << "an admitted request did not reach the service";
      }
      for (const auto& secret : {kViewerToken, kOperatorToken, kAdminToken}) {
        EXPECT_EQ(reply.text.find(secret), std::string::npos) << "a token in the answer";
      }
    }
  }
}

TEST_F(AuthApiTest, AStrangerGets401BeforeAnySyntaxCheck) {
  expect_error(post("/v1/hosts/bad%20name/evacuate", std::string("not json")), 401, "Authorization");
  expect_error(get("/v1/events?limit=0&colour=red"), 401, "Authorization");
  httplib::Headers vera = {{"Authorization", "Bearer " + kViewerToken}};
  expect_error(send("POST", "/v1/hosts/bad%20name/evacuate", vera, "not json"), 403, "Authorization");
  expect_error(send("GET", "/v1/hosts/bad%20name", vera, ""), 400, "host");
  EXPECT_TRUE(fake_.calls().empty());
}

TEST_F(AuthApiTest, TheCallerIsTheTokensName) {
  httplib::Headers otto = {{"Authorization", "Bearer " + kOperatorToken}};
  httplib::Headers ada = {{"Authorization", "Bearer " + kAdminToken}};
  EXPECT_EQ(send("POST", "/v1/hosts/host-03/confirm-down", otto, "").status, 200);
  EXPECT_EQ(send("POST", "/v1/disarm", ada, R"({"reason": "audit"})").status, 200);
  EXPECT_EQ(fake_.action_calls(),
            (std::vector<std::string>{"confirm_down host-03 by=otto", "set_armed 0 reason=audit by=ada"}));
}

// Every state-changing request reaches the audit, admitted or refused, with the caller and the status.
TEST_F(AuthApiTest, EveryPostIsAuditedWithItsCallerAndStatusEvenWhenRefused) {
  httplib::Headers vera = {{"Authorization", "Bearer " + kViewerToken}};
  httplib::Headers otto = {{"Authorization", "Bearer " + kOperatorToken}};
  EXPECT_EQ(send("POST", "/v1/hosts/host-01/evacuate", {}, R"({"dry_run": true})").status, 401);
  EXPECT_EQ(send("POST", "/v1/hosts/host-01/evacuate", vera, R"({"dry_run": true})").status, 403);
  EXPECT_EQ(send("POST", "/v1/hosts/host-01/evacuate", otto, R"({"deadline_s": -1})").status, 400);
  EXPECT_EQ(send("POST", "/v1/hosts/host-01/evacuate", otto, R"({"dry_run": true})").status, 200);
  EXPECT_EQ(send("GET", "/v1/hosts", otto, "").status, 200);  // a read: not audited
  auto page = send("GET", "/v1/audit", vera, "");
  ASSERT_EQ(page.status, 200) << page.text;
  const auto& records = page.body["records"];
  ASSERT_EQ(records.size(), 4u) << page.text;
  std::vector<std::pair<std::string, int>> seen;
  for (const auto& record : records) seen.emplace_back(record["who"], record["status"]);
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, int>>{
                      {"(unauthenticated)", 401}, {"vera", 403}, {"otto", 400}, {"otto", 200}}));
  EXPECT_EQ(records[0]["what"], "POST /v1/hosts/host-01/evacuate");
  EXPECT_EQ(records[1]["result"], "refused");
  EXPECT_NE(records[2]["details"]["error"].get<std::string>().find("deadline_s"), std::string::npos);
  EXPECT_EQ(records[3]["details"]["body"]["dry_run"], true);
  for (const auto& secret : {kViewerToken, kOperatorToken})
    EXPECT_EQ(page.text.find(secret), std::string::npos);
  expect_error(send("GET", "/v1/audit?since=yesterday", vera, ""), 400, "since");
  expect_error(send("GET", "/v1/audit?kind=vm", vera, ""), 400, "kind");
  expect_error(send("GET", "/v1/audit?limit=0", vera, ""), 400, "limit");
}

// (And /metrics needs the viewer role without api.metrics_open.)
TEST_F(AuthApiTest, ANewTokenTableTakesEffectForTheNextRequest) {
  httplib::Headers vera = {{"Authorization", "Bearer " + kViewerToken}};
  expect_error(send("GET", "/metrics", {}, ""), 401, "Authorization");
  EXPECT_EQ(send("GET", "/metrics", vera, "").status, 200);
  EXPECT_EQ(send("GET", "/v1/hosts", vera, "").status, 200);
  api::TokenTable renewed;
  renewed.add("nina", api::Role::viewer, "nina-token-0123456789");
  server_->set_tokens(std::move(renewed));
  EXPECT_EQ(send("GET", "/v1/hosts", vera, "").status, 401);
  EXPECT_EQ(send("GET", "/v1/hosts", {{"Authorization", "Bearer nina-token-0123456789"}}, "").status, 200);
}

class OpenMetricsApiTest : public AuthApiTest {
 protected:
  void configure(api::HttpServer::Options& options) override {
    AuthApiTest::configure(options);
    options.metrics_open = true;
  }
};

TEST_F(OpenMetricsApiTest, MetricsNeedNoTokenButEverythingElseDoes) {
  auto metrics = send("GET", "/metrics", {}, "");
  EXPECT_EQ(metrics.status, 200) << metrics.text;
  EXPECT_EQ(metrics.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.text.find("revive_hosts{state=\"up\"} 2"), std::string::npos) << metrics.text;
  expect_error(send("GET", "/v1/status", {}, ""), 401, "Authorization");
}

TEST(TokenTable, ParsesTheFileAndNamesTheLineOfAnError) {
  auto table = api::TokenTable::parse("# comment\n\nalice admin " + api::sha256_hex("secret-1") +
                                          "\n  bob viewer " + api::sha256_hex("secret-2") + "  \n",
                                      "tokens");
  ASSERT_EQ(table.entries().size(), 2u);
  ASSERT_NE(table.find("secret-1"), nullptr);
  EXPECT_EQ(table.find("secret-1")->name, "alice");
  EXPECT_EQ(table.find("secret-2")->role, api::Role::viewer);
  EXPECT_EQ(table.find("secret-3"), nullptr);
  EXPECT_EQ(table.find(api::sha256_hex("secret-1")), nullptr) << "the hash itself is not a token";

  auto error_of = [](const std::string& text) {
    try {
      api::TokenTable::parse(text, "tokens");
    } catch (const api::TokenFileError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  const std::string hash = api::sha256_hex("x");
  EXPECT_EQ(error_of("a admin\n"), "tokens:1: expected NAME ROLE SHA256-HEX (three words)");
  EXPECT_EQ(error_of("#\na root " + hash),
            "tokens:2: the role must be viewer, operator or admin, got 'root'");
  EXPECT_EQ(error_of("a admin 1234"), "tokens:1: the third word must be the token's SHA-256 (64 hex digits)");
  EXPECT_EQ(error_of("a admin " + hash + "\na viewer " + hash), "tokens:2: the name 'a' is given twice");
  EXPECT_EQ(error_of("a/b admin " + hash), "tokens:1: the name must be 1-64 of A-Z a-z 0-9 . _ - @");
}

TEST(TokenTable, MadeTokensAreRandomAndTheirLineParses) {
  auto first = api::make_token(), second = api::make_token();
  EXPECT_EQ(first.size(), 64u);
  EXPECT_NE(first, second);
  auto line = api::token_line("ci-bot", api::Role::operator_, first);
  EXPECT_EQ(line.find(first), std::string::npos);
  auto table = api::TokenTable::parse(line + "\n", "tokens");
  ASSERT_NE(table.find(first), nullptr);
  EXPECT_EQ(table.find(first)->role, api::Role::operator_);
}

// ---- TLS -------------------------------------------------------------------------------------------------

class TlsApiTest : public ApiTest {
 protected:
  void configure(api::HttpServer::Options& options) override {
    certificates_ = make_test_certificates(certificate_dir_.path());
    options.tls =
        api::HttpServer::Options::Tls{certificates_.certificate.string(), certificates_.key.string()};
  }
  TempDir certificate_dir_;
  TestCertificates certificates_;
};

TEST_F(TlsApiTest, ARequestSucceedsWithTheCaAndFailsWithout) {
  httplib::SSLClient trusting("127.0.0.1", server_->port());
  trusting.set_ca_cert_path(certificates_.ca.string());
  trusting.enable_server_certificate_verification(true);
  trusting.set_connection_timeout(5);
  auto result = trusting.Get("/v1/status");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);

  httplib::SSLClient distrusting("127.0.0.1", server_->port());
  distrusting.enable_server_certificate_verification(true);
  distrusting.set_connection_timeout(5);
  auto refused = distrusting.Get("/v1/status");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::SSLServerVerification);

  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_connection_timeout(2);
  plain.set_read_timeout(2);
  auto plain_result = plain.Get("/v1/status");
  EXPECT_TRUE(!plain_result || plain_result->status != 200) << "plain HTTP answered on a TLS port";
}

TEST(TlsApi, AnUnreadableCertificateIsAStartError) {
  FakeService fake;
  api::HttpServer::Options options;
  options.port = 0;
  options.tls = api::HttpServer::Options::Tls{"/nonexistent/server.pem", "/nonexistent/server.key"};
  api::HttpServer server(fake, options);
  try {
    server.start();
    FAIL() << "started without a certificate";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              "cannot load the TLS certificate /nonexistent/server.pem or key /nonexistent/server.key");
  }
}

}  // namespace
}  // namespace revive::testing

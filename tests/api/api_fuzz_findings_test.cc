// Requests the API's fuzzer (fuzz/api_fuzzer.cc) found to break it, kept as regressions; through
// HttpServer::answer, the same dispatch as a served request.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "api/http_server.h"
#include "support/fake_service.h"

namespace revive::api {
namespace {

// A path or a query echoed in an error message with invalid UTF-8 made dump() throw: a 500 instead of the
// 404 or 400 with a JSON error body.
TEST(ApiFuzzFindings, InvalidUtf8InThePathOrQueryIsAnErrorNotA500) {
  testing::FakeService service;
  HttpServer server(service, {});
  struct Case {
    std::string target;
    int status;
    std::string field;
  };
  for (const auto& [target, status, field] :
       {Case{"\xdb\x89s/host-01", 404, "path"}, Case{"/v1/hosts/host-\xff", 400, "host"},
        Case{"/v1/hosts?\xc3=1", 400, "\xef\xbf\xbd"}}) {
    auto answer = server.answer("GET", target, {}, "");
    EXPECT_EQ(answer.status, status) << answer.body;
    auto body = nlohmann::json::parse(answer.body);  // valid JSON: the bad bytes became U+FFFD
    EXPECT_EQ(body["error"]["field"], field) << answer.body;
  }
}

TEST(ApiFuzzFindings, ARouteThatSetsNoStatusAnswers200) {
  testing::FakeService service;
  HttpServer server(service, {});
  EXPECT_EQ(server.answer("GET", "/v1/openapi.yaml", {}, "").status, 200);
  EXPECT_EQ(server.answer("GET", "/v1/hosts/host-01", {}, "").status, 200);
}

}  // namespace
}  // namespace revive::api

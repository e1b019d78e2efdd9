// libFuzzer target: the REST API's request parsing (api::HttpServer: route matching, path and query
// parameters, headers, JSON bodies) in front of the test service (tests/support/fake_service.h), through
// HttpServer::answer (no socket). The input is a request as on the wire, without the version:
//   METHOD TARGET\n
//   Name: value\n ... (headers)
//   \n
//   body
// Every answer must be a status with a JSON error body or the service's answer; a 500 means the parsing let
// something through that the service could not take, which is a finding too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http_server.h"
#include "support/fake_service.h"

namespace {

// Long polls answer at once: an empty page after a wait gets one event, so that no input waits.
class ImpatientService : public revive::testing::FakeService {
 public:
  nlohmann::json events(std::uint64_t after, std::size_t limit, double wait_s) override {
    auto page = FakeService::events(after, limit, 0.0);
    if (wait_s > 0 && page["events"].empty()) page["events"].push_back({{"sequence", after + 1}});
    return page;
  }
};

std::string_view next_line(std::string_view& text) {
  auto end = text.find('\n');
  auto line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view request_line = next_line(text);
  auto space = request_line.find(' ');
  if (space == std::string_view::npos) return 0;
  std::string_view method = request_line.substr(0, space);
  std::string_view target = request_line.substr(space + 1);
  std::vector<std::pair<std::string, std::string>> headers;
  while (!text.empty()) {
    std::string_view line = next_line(text);
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  // A fresh service (and server) every 1000 inputs: making them costs more than answering, and the service
  // records every call. An input may meet the changes of the ones before it since the last renewal (a
  // reproducer replays on a fresh service).
  static std::unique_ptr<ImpatientService> service;
  static std::unique_ptr<revive::api::HttpServer> server;
  static std::uint32_t answered = 0;
  if (answered++ % 1000 == 0) {
    server.reset();
    service = std::make_unique<ImpatientService>();
    server = std::make_unique<revive::api::HttpServer>(*service, revive::api::HttpServer::Options{});
  }
  auto answer = server->answer(method, target, headers, text);
  if (answer.status == 500) std::abort();
  if (answer.status < 200 || answer.status > 599) std::abort();
  return 0;
}

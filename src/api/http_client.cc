#include "api/http_client.h"

#include <fmt/format.h>
#include <httplib.h>

#include <string_view>

namespace revive::api {

namespace {

using json = nlohmann::json;

std::string unreachable_reason(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "connection refused (is revived running there?)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no answer (read failed or timed out)";
    case httplib::Error::SSLConnection:
      return "TLS connection failed";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate is not trusted";
    default:
      return httplib::to_string(error);
  }
}

std::unique_ptr<httplib::Client> make_client(const std::string& url, double timeout_s,
                                             const Credentials& credentials) {
  auto client = std::make_unique<httplib::Client>(url);
  if (!credentials.token.empty()) client->set_bearer_token_auth(credentials.token);
  if (!credentials.ca_file.empty()) client->set_ca_cert_path(credentials.ca_file);
  client->enable_server_certificate_verification(true);
  auto seconds = static_cast<time_t>(timeout_s);
  auto micros = static_cast<time_t>((timeout_s - static_cast<double>(seconds)) * 1e6);
  client->set_connection_timeout(seconds, micros);
  client->set_read_timeout(seconds, micros);
  client->set_write_timeout(seconds, micros);
  return client;
}

json answer(const std::string& url, const std::string& method, const std::string& path,
            const httplib::Result& result, std::string* text = nullptr) {
  if (!result) {
    throw UnreachableError(
        fmt::format("cannot reach the daemon at {}: {}", url, unreachable_reason(result.error())));
  }
  json body = json::parse(result->body, nullptr, false);
  if (result->status >= 400) {
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
      const auto& error = body["error"];
      throw ApiError(result->status, error.value("field", ""), error.value("message", "error"));
    }
    throw ApiError(result->status, "", fmt::format("{} {}: HTTP {}", method, path, result->status));
  }
  if (body.is_discarded()) {
    throw std::runtime_error(fmt::format("{} {}: the daemon's answer is not JSON", method, path));
  }
  if (text) *text = result->body;
  return body;
}

}  // namespace

HttpClient::HttpClient(std::string url, double timeout_s, Credentials credentials)
    : url_(std::move(url)), timeout_s_(timeout_s), credentials_(std::move(credentials)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  // scheme://authority and nothing else (std::regex here fails the asan build: GCC 12's maybe-uninitialized
  // inside <regex> under -Werror).
  std::string_view rest = url_;
  bool scheme = rest.starts_with("http://") || rest.starts_with("https://");
  if (scheme) rest.remove_prefix(rest.find("://") + 3);
  if (!scheme || rest.empty() || rest.find_first_of("/ \t\r\n\f\v") != std::string_view::npos) {
    throw std::invalid_argument(
        fmt::format("'{}' is not a daemon URL (http://HOST:PORT or https://HOST:PORT)", url_));
  }
}

json HttpClient::get(const std::string& path) const {
  auto client = make_client(url_, timeout_s_, credentials_);
  return answer(url_, "GET", path, client->Get(path));
}

std::string HttpClient::get_text(const std::string& path) const {
  auto client = make_client(url_, timeout_s_, credentials_);
  std::string text;
  answer(url_, "GET", path, client->Get(path), &text);
  return text;
}

json HttpClient::post(const std::string& path, const json& body) const {
  auto client = make_client(url_, timeout_s_, credentials_);
  return answer(url_, "POST", path, client->Post(path, body.dump(), "application/json"));
}

bool HttpClient::stream_events(std::uint64_t after, const std::function<bool(const json&)>& on_event) const {
  auto client = make_client(url_, timeout_s_, credentials_);
  client->set_read_timeout(60);  // keepalive comments come every 15 s
  std::string buffer;
  bool stopped = false;
  std::string error_body;
  int status = 0;
  auto result = client->Get(
      "/v1/events/stream", {{"Last-Event-ID", std::to_string(after)}},
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t length) {
        if (status >= 400) {
          error_body.append(data, length);
          return true;
        }
        buffer.append(data, length);
        for (auto end = buffer.find("\n\n"); end != std::string::npos; end = buffer.find("\n\n")) {
          std::string message = buffer.substr(0, end);
          buffer.erase(0, end + 2);
          std::string payload;
          std::size_t start = 0;
          while (start <= message.size()) {
            auto line_end = message.find('\n', start);
            if (line_end == std::string::npos) line_end = message.size();
            std::string line = message.substr(start, line_end - start);
            if (line.starts_with("data: ")) payload += line.substr(6);
            start = line_end + 1;
          }
          if (payload.empty()) continue;
          json event = json::parse(payload, nullptr, false);
          if (event.is_discarded()) continue;
          if (!on_event(event)) {
            stopped = true;
            return false;
          }
        }
        return true;
      });
  if (stopped) return true;
  if (status >= 400) {
    httplib::Response response;
    response.status = status;
    response.body = error_body;
    answer(url_, "GET", "/v1/events/stream",
           httplib::Result(std::make_unique<httplib::Response>(response), httplib::Error::Success));
  }
  if (!result && status == 0) {
    throw UnreachableError(
        fmt::format("cannot reach the daemon at {}: {}", url_, unreachable_reason(result.error())));
  }
  return false;
}

}  // namespace revive::api

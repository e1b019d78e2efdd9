// HttpClient: calls the REST API (docs/api/openapi.yaml) of a daemon at a base URL ("http://127.0.0.1:7600",
// also https://). Each call is one request on a fresh connection with a time limit; not thread-safe (one
// client per thread). Credentials: a bearer token sent on every request (never in an error message), and for
// https:// the CA file that the server's certificate must chain to (empty: the system's CAs).
// Errors: UnreachableError when no answer comes (connection refused, timeout, bad host); ApiError for an
// answer with status >= 400, carrying the error body's status, field and message.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace revive::api {

class UnreachableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string field, const std::string& message)
      : std::runtime_error(message), status_(status), field_(std::move(field)) {}
  int status() const { return status_; }
  const std::string& field() const { return field_; }  // empty when none applies

 private:
  int status_;
  std::string field_;
};

struct Credentials {
  std::string token;    // empty: no Authorization header
  std::string ca_file;  // PEM; empty: the system's CAs
};

class HttpClient {
 public:
  // `url`: scheme://host[:port], no path. Throws std::invalid_argument otherwise.
  explicit HttpClient(std::string url, double timeout_s = 30, Credentials credentials = {});

  const std::string& url() const { return url_; }
  // GET `path` (with its query): the JSON answer.
  nlohmann::json get(const std::string& path) const;
  // GET `path`: the answer's body as sent (a JSON document kept byte for byte, e.g. a decision file).
  std::string get_text(const std::string& path) const;
  // POST `body` to `path`: the JSON answer.
  nlohmann::json post(const std::string& path, const nlohmann::json& body) const;
  // GET /v1/events/stream after sequence `after`: calls `on_event` with each event, in order, until it
  // returns false (then returns true) or the stream ends (returns false: the daemon closed it).
  bool stream_events(std::uint64_t after, const std::function<bool(const nlohmann::json&)>& on_event) const;

 private:
  std::string url_;
  double timeout_s_;
  Credentials credentials_;
};

}  // namespace revive::api

// HttpServer: the REST API (docs/api/openapi.yaml, docs/api.md) over HTTP/1.1, JSON in and out, serving a
// Service. One table of routes (routes() below: method, path template, role); every request goes through one
// admission point and one place that checks its syntax (path parameters, query parameters, body fields and
// their types) before the service is called, so a refused request never reaches the service. Errors are
// always {"error": {"status", "field", "message"}}.
// Admission: with Options::tokens, a request needs `Authorization: Bearer TOKEN` of a known token (else 401,
// with `WWW-Authenticate: Bearer`) whose role is at least the route's (else 403); the caller is the token's
// name. Without tokens every caller is admitted as "anonymous" (a lab only). Options::tls serves HTTPS.
// GET /metrics needs the viewer role like every read, unless Options::metrics_open (api.metrics_open in the
// config): then it admits anyone, so that a Prometheus without a token can scrape it. set_tokens() swaps the
// token table while serving (revived reloads its tokens file on SIGHUP); requests already admitted go on.
// Audit: after every state-changing request (POST), admitted or refused, the server calls
// Service::record_request with the caller, the status and the error.
//
// Ownership: the server borrows the Service, which must outlive it. Thread-safety: start() and stop() from
// one thread; port() from any. Requests run on a pool of `threads` threads, which call the service
// concurrently; each connected event-stream (SSE) client holds one of them while it is connected.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/auth.h"
#include "api/service.h"

namespace revive::api {

struct RouteInfo {
  std::string method;  // "GET", "POST"
  std::string path;    // template as in the OpenAPI document: "/v1/hosts/{host}"
  Role role;
};
// Every route the server serves, in the order of the document.
std::vector<RouteInfo> routes();

// The OpenAPI document (docs/api/openapi.yaml as built), served at GET /v1/openapi.yaml.
std::string_view openapi_document();

class HttpServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    int port = 7600;                   // 0: any free port (port() says which)
    int threads = 8;                   // request threads (>= 1); each SSE client holds one while connected
    double sse_keepalive_s = 15.0;     // a comment line on an idle event stream this often, seconds
    std::optional<TokenTable> tokens;  // nullopt: no authentication, every caller is "anonymous"
    struct Tls {
      std::string certificate_file;  // PEM, the server's certificate (chain)
      std::string key_file;          // PEM, its private key
    };
    std::optional<Tls> tls;     // nullopt: plain HTTP
    bool metrics_open = false;  // GET /metrics without a token
  };

  HttpServer(Service& service, Options options);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a thread of its own; returns once the socket listens. Throws
  // std::runtime_error("cannot listen on ADDRESS:PORT: REASON") if it cannot bind, or ("cannot load the TLS
  // certificate CERT or key KEY") if TLS cannot start with them. Once only.
  void start();
  // Answers one request without a socket, through the same admission, checks and routes as a served one:
  // METHOD, TARGET (the path, URL-encoded as on the wire, and an optional ?query), the headers and the body.
  // For the API fuzzer and tests; an event stream's body is not produced (only its status and headers are
  // set). Callable before or after start(), from any thread.
  struct LocalAnswer {
    int status = 0;
    std::string body;
  };
  LocalAnswer answer(std::string_view method, std::string_view target,
                     const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body);
  // The port it listens on (the one chosen when Options::port was 0); 0 before start().
  int port() const;
  // Replaces the token table (nullopt: no authentication); from any thread, takes effect for the next
  // request.
  void set_tokens(std::optional<TokenTable> tokens);
  // Stops accepting, ends event streams and long polls, waits for the request threads: returns within about
  // 2 s even with clients connected. Idempotent.
  void stop();

 private:
  friend std::vector<RouteInfo> routes();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace revive::api

// fake-revived: the REST API serving the FakeService's canned cloud (tests/support/fake_service.h), for the
// CLI tests. Prints "PORT\n" on stdout once it listens on 127.0.0.1 (a free port), then serves until stdin
// closes or it is killed. --advance-every S moves every running operation one VM on every S seconds;
// --tokens-file FILE requires bearer tokens (api/auth.h); --tls CERT KEY serves HTTPS.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "api/http_server.h"
#include "support/fake_service.h"

int main(int argc, char** argv) {
  double advance_every_s = 0;
  revive::api::HttpServer::Options options;
  try {
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--advance-every") == 0 && i + 1 < argc) {
        advance_every_s = std::atof(argv[++i]);
      } else if (std::strcmp(argv[i], "--tokens-file") == 0 && i + 1 < argc) {
        options.tokens = revive::api::TokenTable::load(argv[++i]);
      } else if (std::strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
        options.tls = revive::api::HttpServer::Options::Tls{argv[i + 1], argv[i + 2]};
        i += 2;
      } else {
        std::cerr << "usage: fake-revived [--advance-every SECONDS] [--tokens-file FILE] [--tls CERT KEY]\n";
        return 2;
      }
    }
  } catch (const std::exception& error) {
    std::cerr << "fake-revived: " << error.what() << "\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  revive::testing::FakeService service;
  options.port = 0;
  options.threads = 4;
  revive::api::HttpServer server(service, options);
  server.start();
  std::cout << server.port() << std::endl;
  std::atomic<bool> done{false};
  std::thread advancer([&] {
    while (!done && advance_every_s > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(advance_every_s));
      for (int id = 1; id < 100; ++id) service.advance("op-" + std::to_string(id));
    }
  });
  char byte;
  while (::read(STDIN_FILENO, &byte, 1) > 0) {
  }
  done = true;
  server.stop();
  advancer.join();
  return 0;
}

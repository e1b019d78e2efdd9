// revived: the Revive daemon. Loads its config (daemon/config.h), serves the REST API (api/http_server.h) and
// runs the controller on real libvirt hosts (daemon/daemon.h) until SIGINT or SIGTERM. SIGHUP reloads the
// tokens file (api.tokens_file): the new tokens take effect for the next request; a file that cannot be read
// or has a bad line is reported and the tokens in use stay.
// Exit status: 0 after a signal, 1 when a running daemon failed (journal, engine), 2 for bad config or
// arguments (nothing started), 3 when it could not start (journal locked by another daemon, port in use).
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "api/http_server.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "env/state_store.h"
#include "model/inventory.h"

namespace {

revive::daemon::Daemon* running_daemon = nullptr;

// Waits for SIGINT/SIGTERM (stop) and SIGHUP (reload the tokens file) on a thread of its own (the signals
// are blocked everywhere else).
void watch_signals(sigset_t signals, revive::api::HttpServer* server, std::string tokens_file) {
  while (true) {
    int received = 0;
    sigwait(&signals, &received);
    if (received == SIGHUP) {
      if (running_daemon == nullptr || tokens_file.empty()) continue;
      try {
        auto tokens = revive::api::TokenTable::load(tokens_file);
        auto count = tokens.entries().size();
        server->set_tokens(std::move(tokens));
        running_daemon->log().info("SIGHUP: reloaded " + std::to_string(count) + " token(s) from " +
                                   tokens_file);
      } catch (const std::exception& error) {
        running_daemon->log().warn(std::string("SIGHUP: tokens not reloaded (the old ones stay): ") +
                                   error.what());
      }
      continue;
    }
    if (running_daemon != nullptr) running_daemon->stop();
    return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"revived: the Revive daemon, protecting VMs on libvirt hosts", "revived"};
  std::string config_path;
  bool check_only = false;
  app.add_option("--config,-c", config_path, "Config file (YAML; see docs/config.md)")->required();
  app.add_flag("--check", check_only, "Check the config and the inventory, print a summary and exit");
  app.set_version_flag("--version", "revived 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }

  revive::daemon::DaemonConfig config;
  try {
    config = revive::daemon::load_config(config_path);
  } catch (const revive::daemon::ConfigError& error) {
    for (const auto& line : error.diagnostics()) std::cerr << line << "\n";
    return 2;
  } catch (const revive::model::InventoryError& error) {
    std::cerr << error.what();
    return 2;
  }
  if (check_only) {
    std::cout << "config ok: " << config.inventory.hosts.size() << " hosts, API on " << config.listen_address
              << ":" << config.listen_port << ", data in " << config.data_dir << "\n";
    return 0;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<revive::daemon::Daemon> daemon;
  std::unique_ptr<revive::api::HttpServer> server;
  try {
    daemon = std::make_unique<revive::daemon::Daemon>(config);
    revive::api::HttpServer::Options options;
    options.address = config.listen_address;
    options.port = config.listen_port;
    options.tokens = config.api.tokens;
    options.metrics_open = config.api.metrics_open;
    options.threads = static_cast<int>(config.api.request_threads);
    if (!config.api.certificate_file.empty()) {
      options.tls = revive::api::HttpServer::Options::Tls{config.api.certificate_file, config.api.key_file};
    }
    if (!options.tokens) {
      std::cerr << "revived: WARNING: no api.tokens_file in " << config.file
                << ": the API is open to anyone who can reach " << config.listen_address << ":"
                << config.listen_port << " (a lab only; docs/api.md \"Authentication and roles\")\n";
    }
    server = std::make_unique<revive::api::HttpServer>(*daemon, options);
    server->start();
  } catch (const std::exception& error) {
    std::cerr << "revived: cannot start: " << error.what() << "\n";
    return 3;
  }
  running_daemon = daemon.get();
  std::thread signal_thread(watch_signals, signals, server.get(), config.api.tokens_file);
  signal_thread.detach();
  int status = daemon->run([&] {
    std::cout << "revived: ready; API on " << (config.api.certificate_file.empty() ? "http" : "https")
              << "://" << config.listen_address << ":" << server->port() << "\n"
              << std::flush;
  });
  running_daemon = nullptr;
  server->stop();
  daemon.reset();
  std::cout << "revived: stopped\n";
  return status;
}

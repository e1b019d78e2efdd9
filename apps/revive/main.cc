#include <iostream>

#include "cli.h"
#include "env/state_store.h"
#include "model/inventory.h"

namespace revive::cli {
namespace {
int status_so_far = kExitOk;
}
void set_exit_status(int status) {
  status_so_far = status;
}
int exit_status() {
  return status_so_far;
}
}  // namespace revive::cli

int main(int argc, char** argv) {
  using namespace revive::cli;
  if (auto url = daemon_url(argc, argv)) return run_daemon_command(*url, argc, argv);
  CLI::App app{"Revive: VM resiliency manager (plan, simulate and run recoveries of failed hosts)", "revive"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "revive 0.1.0");
  add_inventory_commands(app);
  add_generate_command(app);
  add_plan_commands(app);
  add_simulate_commands(app);
  add_torture_commands(app);
  add_evacuate_command(app);
  add_host_commands(app);
  static std::string server_url;  // never read: daemon_url() routes --server command lines before this parse
  app.add_option(
      "--server", server_url,
      "Talk to the daemon at this URL (also $REVIVE_SERVER): status, hosts, vms, plan show, check, "
      "evacuate, maintenance, host confirm-down, disarm, arm, events, operations, cancel, audit, "
      "decisions (docs/cli.md)");
  add_lab_commands(app);
  add_demo_command(app);
  add_token_commands(app);
  if (argc > 1 && argv[1][0] != '-') {
    auto known = app.get_subcommands([&](CLI::App* command) { return command->get_name() == argv[1]; });
    if (known.empty()) {
      std::cerr << "revive: unknown command '" << argv[1] << "' (revive --help lists the commands)\n";
      return kExitBadInput;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  } catch (const revive::model::InventoryError& e) {
    std::cerr << e.what();
    return kExitBadInput;
  } catch (const revive::env::StoreError& e) {
    std::cerr << "revive: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const InputError& e) {
    std::cerr << "revive: " << e.what() << "\n";
    return kExitBadInput;
  }
  return revive::cli::exit_status();
}

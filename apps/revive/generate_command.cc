// `revive generate`: a synthetic cloud (model/generator.h) written as an inventory on stdout.
#include <iostream>

#include "cli.h"
#include "model/generator.h"
#include "model/inventory.h"

namespace revive::cli {

void add_generate_command(CLI::App& app) {
  auto options = std::make_shared<model::GeneratorOptions>();
  auto racks = std::make_shared<std::uint32_t>(0);
  auto arrays = std::make_shared<std::uint32_t>(0);
  auto reserved = std::make_shared<std::uint32_t>(0);
  CLI::App* command = app.add_subcommand("generate",
                                         "Write a realistic synthetic cloud (hosts, VMs, disks, groups, "
                                         "after chains) as an inventory on stdout; "
                                         "the same options and seed always give the same bytes");
  command->add_option("--hosts", options->hosts, "Number of hosts (at least 1)")->required();
  command
      ->add_option("--vms", options->vms, "Number of VMs, all placed at about --memory-load of host memory")
      ->required();
  CLI::Option* racks_option =
      command->add_option("--racks", *racks, "Number of racks (default: one per 16 hosts)");
  CLI::Option* arrays_option =
      command->add_option("--arrays", *arrays, "Number of storage arrays (default: one per 32 hosts)");
  CLI::Option* reserved_option =
      command->add_option("--reserved-hosts", *reserved,
                          "Number of spare hosts kept empty (default: one per 50 hosts, none below 8)");
  command->add_option("--seed", options->seed, "Seed of the random draws")->capture_default_str();
  command->add_option("--memory-load", options->memory_load, "Share of host memory the VMs use, 0.05-0.90")
      ->capture_default_str();
  command
      ->add_option(
          "--dirty-rate-scale", options->dirty_rate_scale,
          "Multiplies the VMs' memory dirty rates (median 25 MiB/s), 0.1-10; e.g. 3 for a busy fleet")
      ->capture_default_str();
  command->callback([=] {
    if (racks_option->count() > 0) options->racks = *racks;
    if (arrays_option->count() > 0) options->arrays = *arrays;
    if (reserved_option->count() > 0) options->reserved_hosts = *reserved;
    model::Cloud cloud;
    try {
      cloud = model::generate_cloud(*options);
    } catch (const model::GeneratorError& error) {
      throw InputError("--" + error.option() + ": " + error.what());
    }
    model::write_inventory(cloud, std::cout);
    std::cout.flush();
    set_exit_status(std::cout ? kExitOk : kExitBadInput);
  });
}

}  // namespace revive::cli

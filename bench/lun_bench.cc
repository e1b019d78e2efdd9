// LUN masking on a real tgtd (docs/PERFORMANCE.md, "Storage remapping"):
//   scripts/build.sh release lun_bench && build/release/bench/lun_bench [LUNS] [DIRECTORY]
// Starts one tgtd on loopback (lab::TgtDaemon: own control socket and port, sparse backing files under
// DIRECTORY, default the temporary directory) with LUNS targets (default 1,000: one per disk), then, for
// max_parallel 1, 4, 8 and 16 in turn, maps every disk to host A and unmaps it again through
// drivers::TgtStorage on a wall-clock loop (each operation read back; unmap also lists and ends sessions),
// and prints the wall time of each pass, operations per second, and the speed-up over max_parallel 1 measured
// in the same run. Last, the same per-disk times against the simulator's defaults (sim::LatencyModel:
// disk_unmap 2 s, disk_map 4 s median per disk).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "drivers/realtime/wall_clock_loop.h"
#include "drivers/tgt/tgt_storage.h"
#include "lab/tgt_daemon.h"
#include "sim/scenario.h"

namespace {

using namespace revive;
using Clock = std::chrono::steady_clock;

constexpr const char* kPrefix = "iqn.2026-12.bench.revive";

model::Cloud cloud_of(int luns, std::uint32_t max_parallel) {
  model::Cloud cloud;
  cloud.arrays.push_back({"array-a", max_parallel});
  model::Host host;
  host.name = "host-a";
  host.cpus = 64;
  host.memory_mib = 1 << 20;
  host.arrays = {0};
  host.initiator = std::string(kPrefix) + ":host-a";
  cloud.hosts.push_back(host);
  for (int d = 0; d < luns; ++d) {
    model::Vm vm;
    vm.name = "vm-" + std::to_string(d);
    vm.host = 0;
    vm.first_disk = static_cast<model::DiskIndex>(d);
    vm.disk_count = 1;
    cloud.vms.push_back(vm);
    cloud.disks.push_back({"vm-" + std::to_string(d) + "-root", 0, 1, static_cast<model::VmIndex>(d)});
  }
  cloud.rebuild_indexes();
  return cloud;
}

// One batch of every disk; returns the wall time in seconds, or -1 when a disk failed.
double pass(drivers::WallClockLoop& loop, drivers::TgtStorage& storage, bool map, int luns) {
  std::vector<model::DiskIndex> disks;
  for (int d = 0; d < luns; ++d) disks.push_back(static_cast<model::DiskIndex>(d));
  int answered = 0, failed = 0;
  std::string first_error;
  auto done = [&](model::DiskIndex, const env::OperationResult& result) {
    ++answered;
    if (!result.ok) {
      if (failed++ == 0) first_error = result.error;
    }
  };
  auto start = Clock::now();
  if (map) {
    storage.map_disks(0, 0, disks, done);
  } else {
    storage.unmap_disks(0, 0, disks, done);
  }
  loop.run_until([&] { return answered == luns; }, 600.0);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (answered != luns || failed > 0) {
    std::fprintf(stderr, "%d of %d answered, %d failed: %s\n", answered, luns, failed, first_error.c_str());
    return -1.0;
  }
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int luns = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::filesystem::path root =
      argc > 2 ? std::filesystem::path(argv[2]) : std::filesystem::temp_directory_path();
  root /= "revive-lun-bench-" + std::to_string(::getpid());
  lab::TgtDaemon tgtd(root, kPrefix);
  std::string error;
  if (!tgtd.start(10.0, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  auto setup_start = Clock::now();
  {
    // Targets made by 8 clients at once (tgtd serialises them; the clients' process starts overlap).
    std::vector<std::thread> makers;
    std::vector<std::string> errors(8);
    for (int t = 0; t < 8; ++t) {
      makers.emplace_back([&, t] {
        for (int d = t; d < luns; d += 8) {
          std::string disk = "vm-" + std::to_string(d) + "-root";
          std::filesystem::path backing = root / "disks" / (disk + ".img");
          { std::ofstream(backing, std::ios::binary); }
          std::filesystem::resize_file(backing, 1 << 20);
          auto made =
              tgtd.admin().create_target(d + 1, drivers::tgt_target_name(kPrefix, disk), backing.string());
          if (!made.ok && errors[t].empty()) errors[t] = made.error;
        }
      });
    }
    for (auto& maker : makers) maker.join();
    for (const auto& message : errors) {
      if (!message.empty()) {
        std::fprintf(stderr, "setup: %s\n", message.c_str());
        return 1;
      }
    }
  }
  std::printf("tgtd on %s, %d targets (one LUN each) made in %.1f s\n\n", tgtd.portal().c_str(), luns,
              std::chrono::duration<double>(Clock::now() - setup_start).count());
  std::printf("%-13s %10s %10s %12s %12s %10s %10s\n", "max_parallel", "map s", "unmap s", "map ops/s",
              "unmap ops/s", "map x", "unmap x");
  double base_map = 0, base_unmap = 0, best_map_ms = 0, best_unmap_ms = 0, serial_map_ms = 0,
         serial_unmap_ms = 0;
  for (std::uint32_t parallel : {1u, 4u, 8u, 16u}) {
    model::Cloud cloud = cloud_of(luns, parallel);
    drivers::WallClockLoop loop;
    std::vector<std::optional<drivers::TgtArrayConfig>> arrays{
        drivers::TgtArrayConfig{tgtd.control_socket(), kPrefix}};
    drivers::TgtStorage storage(loop, cloud, arrays);
    double map_s = pass(loop, storage, true, luns);
    double unmap_s = pass(loop, storage, false, luns);
    if (map_s < 0 || unmap_s < 0) return 1;
    if (parallel == 1) {
      base_map = map_s;
      base_unmap = unmap_s;
      serial_map_ms = 1000.0 * map_s / luns;
      serial_unmap_ms = 1000.0 * unmap_s / luns;
    }
    best_map_ms = 1000.0 * map_s / luns;
    best_unmap_ms = 1000.0 * unmap_s / luns;
    std::printf("%-13u %10.2f %10.2f %12.0f %12.0f %9.2fx %9.2fx\n", parallel, map_s, unmap_s, luns / map_s,
                luns / unmap_s, base_map / map_s, base_unmap / unmap_s);
    std::fflush(stdout);
  }
  sim::LatencyModel defaults;
  std::printf("\n%-28s %14s %14s\n", "per disk", "map", "unmap");
  std::printf("%-28s %11.2f ms %11.2f ms\n", "tgtd, one at a time", serial_map_ms, serial_unmap_ms);
  std::printf("%-28s %11.2f ms %11.2f ms\n", "tgtd, max_parallel 16 (wall)", best_map_ms, best_unmap_ms);
  std::printf("%-28s %11.0f ms %11.0f ms  (median; %.0fx / %.0fx the serial tgtd figure)\n",
              "simulator default", 1000.0 * defaults.disk_map.median_s, 1000.0 * defaults.disk_unmap.median_s,
              1000.0 * defaults.disk_map.median_s / serial_map_ms,
              1000.0 * defaults.disk_unmap.median_s / serial_unmap_ms);
  tgtd.stop();
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  return 0;
}

// A synthetic but realistic cloud for demos, tests and benchmarks (`revive generate`).
//
// What it draws: host shapes from a mix of current two-socket server generations (32–256 threads,
// 128 GiB–2 TiB, in the spirit of the machine shapes of the Google 2019 cluster trace), then shifted up or
// down a generation until VMs fill about `memory_load` of the memory of the non-reserved hosts; VM sizes from
// the core/memory buckets of the Azure public VM dataset (most VMs 1–8 vCPU and 2–32 GiB, a tail to 64 vCPU /
// 256 GiB); 1–8 disks per VM (mostly 1–3) on arrays the host reaches; priorities about 10% critical, 20%
// high, 40% medium, 30% low; anti-affinity groups of 2–3 VMs on host and rack scope; affinity pairs; db → app
// → web `after` chains; a few unprotected VMs; reserved spare hosts; racks and zones as labels; one endpoint
// per ~50 hosts; one switch per rack; `require_labels: {license: db}` on some VMs with a quarter of the hosts
// licensed; dirty rates 5–500 MiB/s. Every VM is placed: no host over its capacity after overcommit, every
// group holds, every `require_labels` is met.
//
// Deterministic: the same options give the same cloud on every platform (std::mt19937_64 with distribution
// code of our own; std:: distributions differ between standard libraries). Names are zero-padded:
// host-0001, vm-000001, vm-000001-d1. 5,000 hosts / 100,000 VMs take well under a second.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "model/cloud.h"

namespace revive::model {

struct GeneratorOptions {
  std::uint32_t hosts = 64;
  std::uint32_t vms = 1600;
  std::optional<std::uint32_t> racks;           // default: one per 16 hosts
  std::optional<std::uint32_t> arrays;          // default: one per 32 hosts
  std::optional<std::uint32_t> reserved_hosts;  // spares; default: one per 50 hosts (none below 8 hosts)
  std::uint64_t seed = 1;
  double memory_load = 0.68;  // target share of the memory of non-reserved hosts used by VMs, 0.05–0.90
  // Multiplies every VM's memory dirty rate (MiB/s; default mix: median 25, 5–500), 0.1–10: e.g. 3 for a
  // busy fleet of databases, caches and analytics (median 75, up to 1,500).
  double dirty_rate_scale = 1.0;
  double cpu_overcommit = 4.0;
  std::uint32_t hosts_per_endpoint = 50;
  bool switches = true;  // one network switch per rack
};

// Options that cannot give a cloud. `option` is the field at fault ("hosts", "vms", ...), the message says
// why in a way that reads after "--<option>: ".
class GeneratorError : public std::invalid_argument {
 public:
  GeneratorError(std::string option, const std::string& message)
      : std::invalid_argument(message), option_(std::move(option)) {}
  const std::string& option() const { return option_; }

 private:
  std::string option_;
};

// Throws GeneratorError. The returned cloud has its indexes built.
Cloud generate_cloud(const GeneratorOptions& options);

}  // namespace revive::model

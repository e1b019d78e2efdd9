// Random clouds and failure sets for property tests and the planner quality benchmark. Every cloud is built
// directly as a model::Cloud (no YAML) and is valid as the inventory spec requires: every VM fits its own
// host, its networks, disks' arrays and require_labels are those of its host, `after` has no cycles, and
// every group holds on the current placement (anti-affinity members in distinct scope values, affinity
// members in one), so any group violation after planning is the planner's doing. Hosts always carry `rack`
// and `zone` labels (group scopes are host, rack or zone); some carry `license`. Some clouds mix
// architectures.
//
// Deterministic per seed on every platform (own integer arithmetic on std::mt19937_64, no std distributions).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <random>

#include "model/cloud.h"
#include "plan/planner.h"

namespace revive::plan::testing {

struct RandomCloudOptions {
  int min_hosts = 2;
  int max_hosts = 40;
  int max_vms = 400;  // stop adding VMs at this count
  // Share of each host's usable cpu and memory its VMs take, drawn per host in [min_fill, max_fill].
  double min_fill = 0.2;
  double max_fill = 0.9;
  int max_failed_hosts = 3;
  double evacuation_chance = 0.2;  // also drain one host
  double exclusion_chance = 0.1;   // also exclude one host from receiving VMs
  bool allow_mixed_arch = true;
  bool allow_groups = true;
  bool allow_affinity = true;  // with allow_groups: affinity groups too (else anti-affinity only)
  bool allow_after = true;
  bool allow_unprotected = true;
  bool allow_reserved = true;
  bool allow_host_states = true;  // maintenance and down hosts (down hosts with VMs are always failed)
};

struct RandomInstance {
  model::Cloud cloud;
  PlanRequest request;
};

// Options for the quality benchmark: at most 12 hosts and 80 VMs, full hosts and several failures so that
// not everything fits and the planner has to choose.
RandomCloudOptions tight_small_options();

// A random cloud and a random failure set (failed hosts with VMs, sometimes an evacuated and an excluded
// host), the same for the same seed and options.
RandomInstance random_instance(std::uint64_t seed, const RandomCloudOptions& options = {});

}  // namespace revive::plan::testing

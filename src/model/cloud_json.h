// JSON export of the whole model (for the API and `revive inventory show --format json`). Field names are
// those of the inventory format (../shared/spec/inventory.md); every field is present, defaults included,
// references are names, an absent optional reference (switch, bmc, uri) is null, networks are sorted by name.
// Each host also carries computed figures from the VMs currently on it: "vm_count", "usable" (capacity after
// overcommit), "used" and "free"
// ({"cpus", "memory_mib"}; free = usable - used, negative when overcommitted beyond the policy).
#pragma once

#include <nlohmann/json.hpp>

#include "model/cloud.h"

namespace revive::model {

// `cloud` must have its indexes built (rebuild_indexes()).
nlohmann::json to_json(const Cloud& cloud);

}  // namespace revive::model

#include "daemon/storage_drivers.h"

#include "drivers/tgt/tgt_storage.h"

namespace revive::daemon {

std::unique_ptr<env::Storage> make_storage(env::EventLoop& loop, const model::Cloud& cloud,
                                           const StorageConfig& config) {
  drivers::TgtOptions options;
  options.tgtadm = config.tgtadm;
  options.call_timeout_s = config.call_timeout_s;
  options.session_end_timeout_s = config.session_end_timeout_s;
  std::vector<std::optional<drivers::TgtArrayConfig>> arrays(cloud.arrays.size());
  for (const auto& entry : config.arrays) {
    auto array = cloud.find_array(entry.array);
    if (array == model::kNoIndex || entry.driver != "tgt") continue;
    arrays[array] = drivers::TgtArrayConfig{entry.control_socket, entry.target_prefix};
  }
  return std::make_unique<drivers::TgtStorage>(loop, cloud, std::move(arrays), std::move(options));
}

}  // namespace revive::daemon

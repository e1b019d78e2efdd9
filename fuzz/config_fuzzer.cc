// libFuzzer target: the daemon's config parser (daemon::load_config). The input is written as revived.yaml
// into a private temporary directory that also holds an inventory.yaml and a heartbeat.key, so the files a
// config names relative to itself resolve. Any input must load or throw ConfigError or InventoryError.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/config.h"
#include "model/inventory.h"

namespace {

void write(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

const std::string& config_path() {
  static const std::string path = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "revive-fuzz-config-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    std::filesystem::path dir(pattern);
    write(dir / "inventory.yaml", R"(version: 1
endpoints:
- {name: mgmt, max_parallel: 2}
hosts:
- {name: node-1, cpus: 8, memory_mib: 16384, endpoint: mgmt, uri: "qemu:///system"}
- {name: node-2, cpus: 8, memory_mib: 16384, endpoint: mgmt}
vms:
- {name: web-1, priority: high}
)");
    write(dir / "heartbeat.key", "fuzz-key\n");
    write(dir / "tokens", "");
    std::filesystem::create_directory(dir / "state");
    // The directory is removed when the fuzzer exits normally.
    static const std::filesystem::path remove_at_exit = dir;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(remove_at_exit, ignored);
    });
    return (dir / "revived.yaml").string();
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = config_path();
  write(path, std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    auto config = revive::daemon::load_config(path);
    (void)config;
  } catch (const revive::daemon::ConfigError&) {
  } catch (const revive::model::InventoryError&) {
  }
  return 0;
}

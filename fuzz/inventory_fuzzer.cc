// libFuzzer target: the inventory parser (model::load_inventory_text), as the offline tools read it and, when
// the input's first byte is odd, as the daemon does (VM placement from discovery); the text is the rest (the
// seeds start with `v`, even: offline). Any input must load or throw InventoryError; nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/inventory.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  revive::model::InventoryOptions options;
  options.vm_placement_from_discovery = (data[0] & 1) != 0;
  bool offline = !options.vm_placement_from_discovery;
  // The seeds are whole inventories: for the offline reading their first byte is part of the text.
  std::string_view text(reinterpret_cast<const char*>(data) + (offline ? 0 : 1), size - (offline ? 0 : 1));
  try {
    auto cloud = revive::model::load_inventory_text(text, "fuzz.yaml", options);
    (void)cloud;
  } catch (const revive::model::InventoryError&) {
  }
  return 0;
}

// Inventory loading speed and model memory (docs/PERFORMANCE.md, "Model and inventory"):
//   build/release/bench/inventory_bench
// The inventory is `revive generate --hosts H --vms V --seed 1` (generate_cloud + write_inventory), as text
// in memory, so the figures leave out disk I/O.
// - LoadInventory: load_inventory_text (libyaml parse + strict validation + indexes) of the whole text.
// - ParseYamlOnly: the libyaml parse into the line-annotated tree alone (the part validation cannot avoid).
// - ModelMemory: heap bytes held by the loaded Cloud (mallinfo2 before/after, the YAML text and tree freed),
//   per VM, counting everything: hosts, VMs, disks, groups, symbols and the name indexes.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <map>
#include <sstream>
#include <string>

#include "model/generator.h"
#include "model/inventory.h"
#include "model/yaml_document.h"

namespace {

using namespace revive;

// The inventory text of a generated cloud of `hosts` hosts and `vms` VMs, made once per size.
const std::string& inventory_text(std::uint32_t hosts, std::uint32_t vms) {
  static std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> texts;
  auto& text = texts[{hosts, vms}];
  if (text.empty()) {
    model::GeneratorOptions options;
    options.hosts = hosts;
    options.vms = vms;
    options.seed = 1;
    std::ostringstream out;
    model::write_inventory(model::generate_cloud(options), out);
    text = out.str();
  }
  return text;
}

std::size_t heap_in_use() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;  // small chunks in use + mmapped chunks
}

void LoadInventory(benchmark::State& state) {
  auto hosts = static_cast<std::uint32_t>(state.range(0));
  auto vms = static_cast<std::uint32_t>(state.range(1));
  const std::string& text = inventory_text(hosts, vms);
  for (auto _ : state) {
    model::Cloud cloud = model::load_inventory_text(text, "bench.yaml");
    benchmark::DoNotOptimize(cloud.vms.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["vms_per_s"] =
      benchmark::Counter(static_cast<double>(vms), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["text_MB"] = static_cast<double>(text.size()) / 1e6;
}
BENCHMARK(LoadInventory)->Args({5000, 100000})->Unit(benchmark::kMillisecond)->UseRealTime();

void ParseYamlOnly(benchmark::State& state) {
  const std::string& text =
      inventory_text(static_cast<std::uint32_t>(state.range(0)), static_cast<std::uint32_t>(state.range(1)));
  for (auto _ : state) {
    auto document = model::yaml::Document::parse(text);
    benchmark::DoNotOptimize(document.root());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(ParseYamlOnly)->Args({5000, 100000})->Unit(benchmark::kMillisecond)->UseRealTime();

void ModelMemory(benchmark::State& state) {
  auto vms = static_cast<std::uint32_t>(state.range(1));
  const std::string& text = inventory_text(static_cast<std::uint32_t>(state.range(0)), vms);
  double bytes = 0;
  double disks = 0;
  for (auto _ : state) {
    malloc_trim(0);
    std::size_t before = heap_in_use();
    model::Cloud cloud = model::load_inventory_text(text, "bench.yaml");
    bytes = static_cast<double>(heap_in_use() - before);
    disks = static_cast<double>(cloud.disks.size());
    benchmark::DoNotOptimize(cloud.vms.data());
  }
  state.counters["model_MB"] = bytes / 1e6;
  state.counters["bytes_per_vm"] = bytes / vms;
  state.counters["disks_per_vm"] = disks / vms;
  state.counters["sizeof_Vm"] = sizeof(model::Vm);
  state.counters["sizeof_Disk"] = sizeof(model::Disk);
}
BENCHMARK(ModelMemory)
    ->Args({5000, 100000})
    ->Args({10000, 200000})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

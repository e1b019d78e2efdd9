// Generator and inventory writer speed (docs/PERFORMANCE.md, "Generator"):
//   cmake --preset release && cmake --build --preset release -j2 && build/release/bench/generate_bench
#include <benchmark/benchmark.h>

#include <sstream>

#include "model/generator.h"
#include "model/inventory.h"

namespace {

using namespace revive;

model::GeneratorOptions options_for(benchmark::State& state) {
  model::GeneratorOptions options;
  options.hosts = static_cast<std::uint32_t>(state.range(0));
  options.vms = static_cast<std::uint32_t>(state.range(1));
  options.seed = 1;
  return options;
}

void BM_Generate(benchmark::State& state) {
  const model::GeneratorOptions options = options_for(state);
  for (auto _ : state) {
    model::Cloud cloud = model::generate_cloud(options);
    benchmark::DoNotOptimize(cloud.vms.data());
  }
  state.counters["vms"] = static_cast<double>(options.vms);
}

void BM_Write(benchmark::State& state) {
  const model::Cloud cloud = model::generate_cloud(options_for(state));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::ostringstream out;
    model::write_inventory(cloud, out);
    bytes = out.str().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}

void BM_GenerateAndWrite(benchmark::State& state) {
  const model::GeneratorOptions options = options_for(state);
  for (auto _ : state) {
    std::ostringstream out;
    model::write_inventory(model::generate_cloud(options), out);
    benchmark::DoNotOptimize(out.str().data());
  }
}

BENCHMARK(BM_Generate)->Args({64, 1600})->Args({5000, 100000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write)->Args({64, 1600})->Args({5000, 100000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GenerateAndWrite)->Args({5000, 100000})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

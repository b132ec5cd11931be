// OPRF server throughput against the primitive it sits on: OprfServerKey::BlindEvaluateBatch
// (RFC 9497 BlindEvaluate with input validation, key in guarded memory) compared with raw
// crypto_scalarmult_ristretto255 over the same elements, measured in the same run. The target
// is batch evaluation at 80% or more of raw scalar multiplications per second, one core.
//
//   build/bin/koppel-bench-oprf [--batch N] [benchmark flags]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sodium.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/oprf.h"
#include "tests/bench/rate_reporter.h"

namespace koppel {
namespace {

size_t g_batch = 1024;
std::vector<OprfElement> g_blinded;  // valid, random blinded elements

void MakeBlindedElements() {
  g_blinded.resize(g_batch);
  for (OprfElement& element : g_blinded) crypto_core_ristretto255_random(element.data());
}

// Raw primitive: one scalar multiplication per element, the scalar on the stack.
void BM_RawScalarMult(benchmark::State& state) {
  uint8_t scalar[crypto_core_ristretto255_SCALARBYTES];
  crypto_core_ristretto255_scalar_random(scalar);
  std::vector<OprfElement> out(g_blinded.size());
  for (auto _ : state) {
    for (size_t i = 0; i < g_blinded.size(); ++i) {
      if (crypto_scalarmult_ristretto255(out[i].data(), scalar, g_blinded[i].data()) != 0) {
        state.SkipWithError("scalar multiplication failed");
        return;
      }
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(g_blinded.size()));
}
BENCHMARK(BM_RawScalarMult);

// The server API: one call evaluates the whole batch.
void BM_BlindEvaluateBatch(benchmark::State& state) {
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
  if (!key.ok()) {
    state.SkipWithError("cannot generate a key");
    return;
  }
  std::vector<OprfElement> out(g_blinded.size());
  for (auto _ : state) {
    if (!key->BlindEvaluateBatch(g_blinded, out).ok()) {
      state.SkipWithError("batch evaluation failed");
      return;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(g_blinded.size()));
}
BENCHMARK(BM_BlindEvaluateBatch);

// One element per call, for comparison with the batch API.
void BM_BlindEvaluateSingle(benchmark::State& state) {
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
  if (!key.ok()) {
    state.SkipWithError("cannot generate a key");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<OprfElement> evaluated = key->BlindEvaluate(g_blinded[i++ % g_blinded.size()]);
    benchmark::DoNotOptimize(evaluated);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BlindEvaluateSingle);

void PrintRatios(const RateReporter& reporter) {
  double raw = reporter.Rate("BM_RawScalarMult");
  double batch = reporter.Rate("BM_BlindEvaluateBatch");
  double single = reporter.Rate("BM_BlindEvaluateSingle");
  if (raw == 0 || batch == 0) return;
  fmt::print("\n{:<44}{:.0f} /s\n", "raw crypto_scalarmult_ristretto255, 1 core:", raw);
  fmt::print("{:<44}{:.0f} /s -> {:.1f}% of raw (target >= 80%)\n",
             fmt::format("BlindEvaluateBatch, {} per call:", g_batch), batch, 100 * batch / raw);
  if (single != 0) {
    fmt::print("{:<44}{:.0f} /s -> {:.1f}% of raw\n", "BlindEvaluate, one per call:", single,
               100 * single / raw);
  }
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
      koppel::g_batch = std::stoull(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  if (koppel::g_batch == 0) koppel::g_batch = 1;
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (sodium_init() < 0) return 1;
  koppel::MakeBlindedElements();
  koppel::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  koppel::PrintRatios(reporter);
  return 0;
}

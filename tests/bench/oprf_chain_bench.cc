// The raw primitive chain of one OPRF-mode token, against koppel's batch API doing the same in
// process, measured in the same run. Per token the chain is what any implementation must
// compute: hash-to-group of the input and three ristretto255 scalar multiplications (blind at
// the agent, evaluate at the vault, unblind at the agent). The raw chain uses a fixed blind and
// its precomputed inverse; koppel's path also draws a blind per token, inverts it and hashes
// the output. Each rate is per second of wall time and per CPU second of the threads that ran
// it (which depends little on what else the machine runs). scripts/bench-oprf-delivery
// compares the end-to-end delivery with these rates.
//
//   build/bin/koppel-bench-oprf-chain [--seconds S] [--threads N] [--raw-only]
#include <fmt/format.h>
#include <sodium.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/oprf.h"
#include "core/worker_pool.h"

namespace koppel {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kBatch = 2048;  // as many tokens per round as the agent sends per call

std::vector<std::string> Inputs() {
  std::vector<std::string> inputs;
  for (size_t i = 0; i < kBatch; ++i) inputs.push_back(fmt::format("bsn:{:09d}", 100000000 + i));
  return inputs;
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// CPU time of the process: every thread, the pool's too.
double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Rates {
  double wall = 0;  // tokens per second of wall time
  double cpu = 0;   // tokens per CPU second of the process
};

// `threads` threads each running round() (kBatch tokens) until `seconds` have passed. The CPU
// rate does not depend on what else the machine runs, the wall rate does.
Rates Rate(size_t threads, double seconds, const std::function<bool()>& round) {
  std::atomic<uint64_t> tokens{0};
  std::atomic<bool> failed{false};
  const double cpu_start = CpuSeconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point stop =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (Clock::now() < stop && !failed) {
        if (!round()) failed = true;
        tokens += kBatch;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (failed) return {};
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_start;
  return {static_cast<double>(tokens) / wall, static_cast<double>(tokens) / cpu};
}

struct Scalars {
  uint8_t blind[crypto_core_ristretto255_SCALARBYTES];
  uint8_t inverse[crypto_core_ristretto255_SCALARBYTES];
  uint8_t key[crypto_core_ristretto255_SCALARBYTES];
};

// The raw chain over the inputs: hash-to-group, blind, evaluate, unblind.
bool RawChain(const std::vector<std::string>& inputs, const Scalars& s) {
  OprfElement blinded, evaluated, unblinded;
  for (const std::string& input : inputs) {
    const OprfElement element = OprfHashToGroup(AsBytes(input));
    if (crypto_scalarmult_ristretto255(blinded.data(), s.blind, element.data()) != 0 ||
        crypto_scalarmult_ristretto255(evaluated.data(), s.key, blinded.data()) != 0 ||
        crypto_scalarmult_ristretto255(unblinded.data(), s.inverse, evaluated.data()) != 0) {
      return false;
    }
  }
  return true;
}

// The per-input API koppel used before batches: a random blind and an inversion per token.
bool PerInputApi(const std::vector<std::string>& inputs, const OprfServerKey& key) {
  for (const std::string& input : inputs) {
    absl::StatusOr<OprfBlindedInput> blinded = BlindOprfInput(AsBytes(input));
    if (!blinded.ok()) return false;
    absl::StatusOr<OprfElement> evaluated = key.BlindEvaluate(blinded->blinded_element);
    if (!evaluated.ok()) return false;
    if (!FinalizeOprf(AsBytes(input), blinded->blind, *evaluated).ok()) return false;
  }
  return true;
}

// The batch API as the agent and the vault use it, every step on `pool`.
bool BatchApi(const std::vector<std::string>& inputs, const OprfServerKey& key, WorkerPool* pool) {
  std::vector<OprfElement> blinded;
  absl::StatusOr<OprfClientBatch> batch = OprfClientBatch::Blind(inputs, &blinded, pool);
  if (!batch.ok()) return false;
  std::vector<OprfElement> evaluated(blinded.size());
  if (!key.BlindEvaluateBatch(blinded, evaluated, pool).ok()) return false;
  std::vector<OprfOutput> outputs(inputs.size());
  return batch->Finalize(inputs, evaluated, outputs, pool).ok();
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) {
  using namespace koppel;
  CLI::App app{"koppel-bench-oprf-chain: the raw OPRF chain per token against koppel's batch API"};
  double seconds = 3;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--seconds", seconds, "time per measurement")->check(CLI::PositiveNumber);
  bool raw_only = false;
  app.add_flag("--raw-only", raw_only, "measure the raw chain only, not koppel's API");
  app.add_option("--threads", threads, "threads for the every-core figures (default: the cores)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (sodium_init() < 0) return 1;

  const std::vector<std::string> inputs = Inputs();
  Scalars s;
  crypto_core_ristretto255_scalar_random(s.blind);
  crypto_core_ristretto255_scalar_random(s.key);
  if (crypto_core_ristretto255_scalar_invert(s.inverse, s.blind) != 0) return 1;
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
  if (!key.ok()) return 1;

  const Rates raw_one = Rate(1, seconds, [&] { return RawChain(inputs, s); });
  const Rates raw_all = Rate(threads, seconds, [&] { return RawChain(inputs, s); });
  fmt::print("{:<58}{:>14}{:>18}\n", "", "tokens/s wall", "tokens/CPU-s");
  auto line = [](const std::string& what, const Rates& rates, const std::string& note) {
    fmt::print("{:<58}{:>14.0f}{:>18.0f}{}\n", what, rates.wall, rates.cpu, note);
  };
  line("raw chain (hash-to-group + 3 scalar mults), 1 thread:", raw_one, "");
  line(fmt::format("raw chain, {} threads (every core):", threads), raw_all,
       fmt::format("   {:.2f}x one thread (wall)", raw_all.wall / raw_one.wall));
  if (raw_only) return raw_one.wall > 0 && raw_all.wall > 0 ? 0 : 1;

  const Rates per_input = Rate(1, seconds, [&] { return PerInputApi(inputs, *key); });
  const Rates batch_one = Rate(1, seconds, [&] { return BatchApi(inputs, *key, nullptr); });
  WorkerPool pool(threads - 1);
  const Rates batch_all = Rate(1, seconds, [&] { return BatchApi(inputs, *key, &pool); });
  line("per-input API (a blind and an inversion each), 1 thread:", per_input,
       fmt::format("   {:.0f}% of raw (CPU)", 100 * per_input.cpu / raw_one.cpu));
  line("batch API (blind, evaluate, finalize), 1 thread:", batch_one,
       fmt::format("   {:.0f}% of raw (CPU)", 100 * batch_one.cpu / raw_one.cpu));
  line(fmt::format("batch API on a pool of {} threads:", threads), batch_all,
       fmt::format("   {:.0f}% of raw every core (wall)", 100 * batch_all.wall / raw_all.wall));
  const bool all_ran = raw_one.wall > 0 && raw_all.wall > 0 && per_input.wall > 0 &&
                       batch_one.wall > 0 && batch_all.wall > 0;
  return all_ran ? 0 : 1;
}

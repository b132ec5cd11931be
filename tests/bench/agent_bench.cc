// Agent throughput against the primitive it sits on: the whole pipeline (CSV in, sealed and
// signed batches out) over a synthetic export of several million rows, compared with raw
// HMAC-SHA256 over the same canonical BSNs, measured in the same run. The target is a pipeline
// at 50% or more of raw HMAC throughput per core.
//
//   build/bin/koppel-bench-agent [--rows N] [benchmark flags]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "agents/batch_sealer.h"
#include "agents/export_scan.h"
#include "core/bsn.h"
#include "core/hmac.h"
#include "core/mapping.h"
#include "core/token.h"
#include "tests/bench/rate_reporter.h"

namespace koppel::agent {
namespace {

size_t g_rows = 3'000'000;
std::filesystem::path g_dir;
std::vector<std::array<char, 9>> g_bsns;  // the canonical BSNs of the export, in order

constexpr char kMapping[] = R"(version: 1
dataset: sociale_zaken
period: {from: 2012-01-01, to: 2014-12-31}
csv: {delimiter: ";", quote: '"', encoding: utf-8, line_ending: lf}
identifiers: {bsn: BSN}
attributes:
  - {name: regeling, column: Regeling, type: category, codes: {BIJ: bijstand, BBZ: other_social, IOAW: other_social}, required: true}
  - {name: start, column: Startdatum, type: date, format: dd-mm-yyyy}
  - {name: bedrag, column: Bedrag, type: amount, decimal: comma, thousands: "."}
)";

// A realistic export: BSNs in several spellings, a category, a date, an amount, free text.
void WriteExport() {
  g_bsns.clear();
  g_bsns.reserve(g_rows);
  std::ofstream out(g_dir / "export.csv", std::ios::binary);
  out << "BSN;Regeling;Startdatum;Bedrag;Omschrijving\n";
  static const char* kCodes[] = {"BIJ", "BBZ", "IOAW"};
  uint32_t stem = 10'000'000;
  std::string line;
  for (size_t i = 0; i < g_rows; ++i) {
    std::array<char, 9> bsn;
    while (!BsnFromStem(stem++, bsn.data())) {
    }
    g_bsns.push_back(bsn);
    line.assign(bsn.data(), 9);
    if (i % 7 == 0) line.insert(4, " ");
    fmt::format_to(std::back_inserter(line), ";{};{:02}-{:02}-{};{}.{:03},{:02};uitkering\n",
                   kCodes[i % 3], 1 + i % 28, 1 + i % 12, 2012 + i % 3, 1 + i % 9, i % 1000,
                   i % 100);
    out << line;
  }
}

// Raw primitive, as an implementer without our key-schedule reuse would call it.
void BM_RawHmacSha256(benchmark::State& state) {
  uint8_t key[32];
  randombytes_buf(key, sizeof key);
  uint8_t mac[32];
  size_t i = 0;
  for (auto _ : state) {
    const auto& bsn = g_bsns[i++ % g_bsns.size()];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const uint8_t*>(bsn.data()), 9);
    crypto_auth_hmacsha256_final(&st, mac);
    benchmark::DoNotOptimize(mac);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RawHmacSha256);

// Raw primitive with the key schedule computed once: the fastest HMAC-SHA256 there is here.
void BM_RawHmacSha256KeyReused(benchmark::State& state) {
  uint8_t key[32];
  randombytes_buf(key, sizeof key);
  crypto_auth_hmacsha256_state keyed;
  crypto_auth_hmacsha256_init(&keyed, key, sizeof key);
  uint8_t mac[32];
  size_t i = 0;
  for (auto _ : state) {
    const auto& bsn = g_bsns[i++ % g_bsns.size()];
    crypto_auth_hmacsha256_state st = keyed;
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const uint8_t*>(bsn.data()), 9);
    crypto_auth_hmacsha256_final(&st, mac);
    benchmark::DoNotOptimize(mac);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_RawHmacSha256KeyReused);

// The whole agent: read the CSV, judge every row, count duplicates, tokenise, seal, sign and
// write the outbox. One iteration is one full pass over the export.
void BM_AgentPipeline(benchmark::State& state) {
  absl::StatusOr<Mapping> mapping = ParseMapping(kMapping, "bench.yaml");
  Secret k_cov = *Secret::Random(32);
  Tokenizer tokenizer = *Tokenizer::Create(k_cov);
  BoxPublicKey linker_pk;
  Secret linker_sk = *Secret::Allocate(crypto_box_SECRETKEYBYTES);
  crypto_box_keypair(linker_pk.data(), linker_sk.mutable_data());
  Secret signing = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> signing_pk;
  crypto_sign_keypair(signing_pk.data(), signing.mutable_data());
  uint64_t rows = 0;
  for (auto _ : state) {
    std::filesystem::remove_all(g_dir / "outbox");
    Outbox outbox = *Outbox::Open(g_dir / "outbox");
    SealerConfig config;
    std::unique_ptr<TokenSource> tokens = MakeHmacTokenSource(*Tokenizer::Create(k_cov), 1);
    BatchSealer sealer(*mapping, config, *tokens, linker_pk, signing, &outbox);
    ScanOptions options;
    options.sink = &sealer;
    options.progress = false;
    absl::StatusOr<QualitySummary> summary = ScanExport(*mapping, g_dir / "export.csv", options);
    if (!summary.ok() || !sealer.Finish().ok() || summary->valid != g_rows) {
      state.SkipWithError("the pipeline failed");
      return;
    }
    rows += summary->valid;
  }
  state.SetItemsProcessed(static_cast<int64_t>(rows));
}
BENCHMARK(BM_AgentPipeline)->Unit(benchmark::kMillisecond)->Iterations(2);

void PrintRatios(const RateReporter& reporter) {
  double pipeline = reporter.Rate("BM_AgentPipeline");
  double raw = reporter.Rate("BM_RawHmacSha256");
  double reused = reporter.Rate("BM_RawHmacSha256KeyReused");
  if (pipeline == 0 || raw == 0 || reused == 0) return;
  fmt::print("\nagent pipeline, 1 core: {:.0f} rows/s over {} rows\n", pipeline, g_rows);
  fmt::print("raw HMAC-SHA256:          {:.0f} /s  -> pipeline at {:.0f}% (target >= 50%)\n", raw,
             100 * pipeline / raw);
  fmt::print("raw HMAC-SHA256, key schedule reused: {:.0f} /s  -> pipeline at {:.0f}%\n", reused,
             100 * pipeline / reused);
}

}  // namespace
}  // namespace koppel::agent

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      koppel::agent::g_rows = std::stoull(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (sodium_init() < 0) return 1;
  char templ[] = "/tmp/koppel-bench-XXXXXX";
  koppel::agent::g_dir = ::mkdtemp(templ);
  fmt::print(stderr, "writing a synthetic export of {} rows to {}\n", koppel::agent::g_rows,
             koppel::agent::g_dir.string());
  koppel::agent::WriteExport();
  koppel::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  koppel::agent::PrintRatios(reporter);
  std::filesystem::remove_all(koppel::agent::g_dir);
  return 0;
}

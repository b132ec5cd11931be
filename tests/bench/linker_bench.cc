// Linker ingest throughput against the primitive it sits on: raw RocksDB WriteBatch puts of
// the same number of records with the same key and value sizes, synced per batch as ingest
// does, measured in the same run. Ingest adds signature and id checks, opening the sealed
// batch, re-keying every token and encrypting every record. Target: 70% or more.
//
//   build/bin/koppel-bench-linker [--batches N] [--records-per-batch N] [benchmark flags]
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "core/sealed_batch.h"
#include "linker/batch_ingester.h"
#include "linker/linker_store.h"

#include "tests/bench/rate_reporter.h"

namespace koppel {
namespace {

size_t g_batches = 100;
size_t g_records_per_batch = 10000;
std::filesystem::path g_dir;
std::vector<v1::SealedBatch> g_sealed;
Secret* g_box_secret = nullptr;
BoxPublicKey g_box_public;
std::string g_agent_key_hex;
size_t g_key_size = 0, g_value_size = 0;

// The attributes every record carries, as a uwv export would.
const std::vector<std::pair<std::string, v1::AttributeType>> kAttributes = {
    {"uitkering", v1::ATTRIBUTE_TYPE_CATEGORY},
    {"start", v1::ATTRIBUTE_TYPE_DATE},
    {"dagloon", v1::ATTRIBUTE_TYPE_AMOUNT}};

// The covenant under which agent may deliver uwv with exactly those attributes.
Covenant BenchCovenant() {
  Covenant covenant;
  covenant.id = "bench";
  covenant.version = 1;
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  covenant.valid_from = today - 1;
  covenant.valid_until = today + 365;
  CovenantParty agent;
  agent.name = "agent";
  agent.roles = {"data_holder"};
  agent.signing_public_key = g_agent_key_hex;
  DatasetGrant uwv{"uwv", {"bsn"}, {}};
  for (const auto& attribute : kAttributes) uwv.fields.insert(attribute.first);
  agent.datasets.emplace("uwv", std::move(uwv));
  covenant.parties.emplace(agent.name, std::move(agent));
  return covenant;
}

void PrepareBatches() {
  g_box_secret = new Secret(*Secret::Allocate(crypto_box_SECRETKEYBYTES));
  crypto_box_keypair(g_box_public.data(), g_box_secret->mutable_data());
  Secret signing = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  crypto_sign_keypair(pk.data(), signing.mutable_data());
  static const char kHex[] = "0123456789abcdef";
  for (uint8_t b : pk) {
    g_agent_key_hex += kHex[b >> 4];
    g_agent_key_hex += kHex[b & 15];
  }
  std::string scratch;
  for (size_t b = 0; b < g_batches; ++b) {
    v1::BatchPayload payload;
    payload.mutable_header()->set_dataset("uwv");
    payload.mutable_header()->set_covenant_id("bench");
    payload.mutable_header()->set_covenant_version(1);
    payload.mutable_header()->set_has_bsn(true);
    for (const auto& [name, type] : kAttributes) {
      v1::AttributeSchema* attribute = payload.mutable_header()->add_attributes();
      attribute->set_name(name);
      attribute->set_type(type);
    }
    for (size_t r = 0; r < g_records_per_batch; ++r) {
      v1::Record* record = payload.add_records();
      std::string token(32, '\0');
      randombytes_buf(token.data(), token.size());
      record->set_bsn_token(token);
      record->add_values()->set_code(static_cast<uint32_t>(r % 5));
      record->add_values()->set_date_days(static_cast<int32_t>(15000 + r % 1000));
      record->add_values()->set_amount_cents(static_cast<int64_t>(r * 37));
    }
    g_sealed.push_back(*SealBatch(payload, g_box_public, signing, &scratch));
  }
  // Sizes of what ingest stores, for the raw baseline.
  g_key_size = 2 + std::strlen("bench") + 1 + std::strlen("uwv") + 1 + 32 + 32 + 4;
  v1::Record probe;
  probe.set_bsn_token(std::string(32, 'x'));
  probe.add_values()->set_code(3);
  probe.add_values()->set_date_days(15500);
  probe.add_values()->set_amount_cents(123456);
  g_value_size = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + probe.ByteSizeLong();
}

void BM_RawRocksDbWriteBatch(benchmark::State& state) {
  uint64_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(g_dir / "raw");
    rocksdb::Options options;
    options.create_if_missing = true;
    options.compression = rocksdb::kNoCompression;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(options, (g_dir / "raw").string(), &db).ok()) {
      state.SkipWithError("cannot open RocksDB");
      return;
    }
    // Random keys, as re-keyed tokens are; made before the clock starts.
    std::vector<std::string> keys(g_batches * g_records_per_batch, std::string(g_key_size, 'k'));
    for (std::string& key : keys) randombytes_buf(key.data() + 10, 32);
    std::string value(g_value_size, 'v');
    state.ResumeTiming();
    rocksdb::WriteOptions write;
    write.sync = true;
    for (size_t b = 0; b < g_batches; ++b) {
      rocksdb::WriteBatch batch;
      for (size_t r = 0; r < g_records_per_batch; ++r) {
        batch.Put(keys[b * g_records_per_batch + r], value);
      }
      batch.Put("b" + std::to_string(b), std::string(200, 'r'));  // the receipt
      db->Write(write, &batch);
      records += g_records_per_batch;
    }
    state.PauseTiming();
    delete db;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
}
BENCHMARK(BM_RawRocksDbWriteBatch)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void BM_LinkerIngest(benchmark::State& state) {
  uint64_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(g_dir / "linker");
    std::unique_ptr<LinkerStore> store = *LinkerStore::Open(g_dir / "linker");
    Covenant covenant = BenchCovenant();
    LinkerKeys keys{g_box_public, *Secret::FromBytes(g_box_secret->span()),
                    *Secret::Random(crypto_sign_SECRETKEYBYTES), *Secret::Random(32),
                    *Secret::Random(32)};
    Secret signing = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
    std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
    crypto_sign_keypair(pk.data(), signing.mutable_data());
    keys.signing = std::move(signing);
    std::unique_ptr<BatchIngester> ingester =
        *BatchIngester::Create(std::move(covenant), std::move(keys), store.get());
    state.ResumeTiming();
    for (const v1::SealedBatch& batch : g_sealed) {
      absl::StatusOr<v1::Receipt> receipt = ingester->Ingest("agent", batch);
      if (!receipt.ok()) {
        state.SkipWithError(std::string(receipt.status().message()).c_str());
        return;
      }
      records += receipt->records_accepted();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
}
BENCHMARK(BM_LinkerIngest)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void PrintRatios(const RateReporter& reporter) {
  double raw = reporter.Rate("BM_RawRocksDbWriteBatch");
  double ingest = reporter.Rate("BM_LinkerIngest");
  if (raw == 0 || ingest == 0) return;
  fmt::print("\n{} batches of {} records; key {} bytes, value {} bytes, one synced WriteBatch per "
             "batch\n", g_batches, g_records_per_batch, g_key_size, g_value_size);
  fmt::print("raw RocksDB WriteBatch: {:.0f} records/s\n", raw);
  fmt::print("linker ingest:          {:.0f} records/s -> {:.0f}% of raw (target >= 70%)\n",
             ingest, 100 * ingest / raw);
}


}  // namespace
}  // namespace koppel

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batches") == 0 && i + 1 < argc) {
      koppel::g_batches = std::stoull(argv[++i]);
    } else if (std::strcmp(argv[i], "--records-per-batch") == 0 && i + 1 < argc) {
      koppel::g_records_per_batch = std::stoull(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (sodium_init() < 0) return 1;
  char templ[] = "/tmp/koppel-bench-linker-XXXXXX";
  koppel::g_dir = ::mkdtemp(templ);
  koppel::PrepareBatches();
  koppel::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  koppel::PrintRatios(reporter);
  std::filesystem::remove_all(koppel::g_dir);
  return 0;
}

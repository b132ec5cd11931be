// Linker ingest throughput against the primitive it sits on: raw RocksDB WriteBatch puts of
// the same number of records with the same key and value sizes, synced per batch as ingest
// does, measured in the same run. Ingest adds signature and id checks, opening the sealed
// batch, re-keying every token and encrypting every record. Target: 70% or more.
//
// Encryption at rest (issue 14, linker/store_encryption.h): a full scan of --scan-records
// records (32-byte token keys, 130-byte values, flushed and compacted to SST files) through a
// plain Env, through the AES-256-CTR store Env, and through a plain Env opening every value with
// crypto_secretbox_open_easy as the per-record cipher did; and synced batch writes, plain vs
// encrypted. Target: encrypted scan <= 1.3x the plain scan.
//
//   build/bin/koppel-bench-linker [--batches N] [--records-per-batch N] [--scan-records N]
//                                 [benchmark flags]
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "core/sealed_batch.h"
#include "linker/batch_ingester.h"
#include "linker/linker_store.h"
#include "linker/store_encryption.h"
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
size_t g_scan_records = 1000000;
constexpr size_t kScanKeySize = 32;
constexpr size_t kScanValueSize = 130;
constexpr size_t kScanBatch = 10000;

// The attributes every record carries, as a uwv export would.
const std::vector<std::pair<std::string, v1::AttributeType>> kAttributes = {
    {"uitkering", v1::ATTRIBUTE_TYPE_CATEGORY},
    {"start", v1::ATTRIBUTE_TYPE_DATE},
    {"dagloon", v1::ATTRIBUTE_TYPE_AMOUNT}};

// The covenant under which agent may deliver uwv with exactly those attributes.
policy::Covenant BenchCovenant() {
  policy::Covenant covenant;
  covenant.id = "bench";
  covenant.version = 1;
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  covenant.valid_from = today - 1;
  covenant.valid_until = today + 365;
  policy::CovenantParty agent;
  agent.name = "agent";
  agent.roles = {"data_holder"};
  agent.signing_public_key = g_agent_key_hex;
  policy::DatasetGrant uwv{"uwv", {"bsn"}, {}};
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
      if (type == v1::ATTRIBUTE_TYPE_CATEGORY) {
        for (const char* code : {"ww", "wia", "wajong", "ioaw", "tw"}) attribute->add_codes(code);
      }
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
  // Sizes of what ingest stores (one covenant's instance: "r" NUL dataset NUL token batch index),
  // for the raw baseline.
  g_key_size = 2 + std::strlen("uwv") + 1 + 32 + 32 + 4;
  v1::Record probe;
  probe.set_bsn_token(std::string(32, 'x'));
  probe.add_values()->set_code(3);
  probe.add_values()->set_date_days(15500);
  probe.add_values()->set_amount_cents(123456);
  g_value_size = probe.ByteSizeLong();
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
    std::unique_ptr<linker::LinkerStore> store = *linker::LinkerStore::Open(g_dir / "linker");
    policy::Covenant covenant = BenchCovenant();
    linker::LinkerKeys keys{g_box_public, *Secret::FromBytes(g_box_secret->span()),
                            *Secret::Random(crypto_sign_SECRETKEYBYTES), *Secret::Random(32),
                            *Secret::Random(32)};
    Secret signing = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
    std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
    crypto_sign_keypair(pk.data(), signing.mutable_data());
    keys.signing = std::move(signing);
    if (!store->OpenCovenant(covenant.id, keys.data_key).ok()) return state.SkipWithError("open");
    std::unique_ptr<linker::BatchIngester> ingester =
        *linker::BatchIngester::Create(std::move(covenant), std::move(keys), store.get());
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

// --- Encryption at rest: scans and writes through the plain and the encrypted Env -------------

// One RocksDB store of the scan benchmarks: plain, encrypted by the store Env, or plain with
// every value sealed by crypto_secretbox as the per-record cipher did.
enum class StoreKind { kPlain, kEncrypted, kSecretbox };

struct ScanStore {
  std::unique_ptr<rocksdb::Env> env;  // null: the default Env
  std::unique_ptr<rocksdb::DB> db;
};

std::map<StoreKind, std::unique_ptr<ScanStore>> g_scan_stores;  // closed before g_dir goes

Secret& DataKey() {
  static Secret* key = new Secret(*Secret::Random(32));
  return *key;
}

// Opens (creating) the store of `kind` in `dir`; null on failure, after SkipWithError.
std::unique_ptr<ScanStore> OpenScanStore(StoreKind kind, const std::filesystem::path& dir,
                                         benchmark::State& state) {
  auto store = std::make_unique<ScanStore>();
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kNoCompression;  // as the linker's stores
  if (kind == StoreKind::kEncrypted) {
    absl::StatusOr<std::unique_ptr<rocksdb::Env>> env =
        linker::NewEncryptedStoreEnv(rocksdb::Env::Default(), DataKey());
    if (!env.ok() || !linker::ConfigureEncryptedStoreOptions(DataKey(), &options).ok()) {
      state.SkipWithError("cannot set up the encrypted store Env");
      return nullptr;
    }
    store->env = *std::move(env);
    options.env = store->env.get();
  }
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir.string(), &db).ok()) {
    state.SkipWithError("cannot open RocksDB");
    return nullptr;
  }
  store->db.reset(db);
  return store;
}

// The value as stored: 130 record bytes, or nonce || secretbox(130 record bytes).
std::string StoredValue(StoreKind kind, size_t i) {
  std::string record(kScanValueSize, '\0');
  randombytes_buf(record.data(), record.size());
  std::memcpy(record.data(), &i, sizeof(i));
  if (kind != StoreKind::kSecretbox) return record;
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + record.size(), '\0');
  auto* out = reinterpret_cast<uint8_t*>(sealed.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const uint8_t*>(record.data()), record.size(), out,
                        DataKey().data());
  return sealed;
}

// Writes `n` records in synced batches of kScanBatch; false (after SkipWithError) on failure.
bool WriteScanRecords(StoreKind kind, rocksdb::DB* db, size_t n, benchmark::State& state) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  std::string key(kScanKeySize, '\0');
  for (size_t done = 0; done < n;) {
    rocksdb::WriteBatch batch;
    for (size_t end = std::min(n, done + kScanBatch); done < end; ++done) {
      randombytes_buf(key.data(), key.size());
      batch.Put(key, StoredValue(kind, done));
    }
    if (!db->Write(sync, &batch).ok()) {
      state.SkipWithError("RocksDB write failed");
      return false;
    }
  }
  return true;
}

// The scan stores, written, flushed and compacted once per run (not timed).
ScanStore* ScanStoreOf(StoreKind kind, benchmark::State& state) {
  auto found = g_scan_stores.find(kind);
  if (found != g_scan_stores.end()) return found->second.get();
  const std::filesystem::path dir = g_dir / ("scan-" + std::to_string(static_cast<int>(kind)));
  std::unique_ptr<ScanStore> store = OpenScanStore(kind, dir, state);
  if (store == nullptr || !WriteScanRecords(kind, store->db.get(), g_scan_records, state)) {
    return nullptr;
  }
  store->db->Flush(rocksdb::FlushOptions());
  store->db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr);
  return g_scan_stores.emplace(kind, std::move(store)).first->second.get();
}

void Scan(StoreKind kind, benchmark::State& state) {
  ScanStore* store = ScanStoreOf(kind, state);
  if (store == nullptr) return;
  uint64_t records = 0, checksum = 0;
  uint8_t plain[kScanValueSize];
  // A national store is far larger than the block cache: every block is read and decrypted.
  rocksdb::ReadOptions read;
  read.fill_cache = false;
  for (auto _ : state) {
    std::unique_ptr<rocksdb::Iterator> it(store->db->NewIterator(read));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice value = it->value();
      if (kind == StoreKind::kSecretbox) {
        const auto* in = reinterpret_cast<const uint8_t*>(value.data());
        if (crypto_secretbox_open_easy(plain, in + crypto_secretbox_NONCEBYTES,
                                       value.size() - crypto_secretbox_NONCEBYTES, in,
                                       DataKey().data()) != 0) {
          state.SkipWithError("a sealed value does not open");
          return;
        }
        checksum += plain[0];
      } else {
        checksum += static_cast<uint8_t>(value.data()[0]);
      }
      checksum += static_cast<uint8_t>(it->key().data()[0]);
      ++records;
    }
    if (!it->status().ok()) {
      state.SkipWithError("scan failed");
      return;
    }
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(records));
}

void BM_ScanPlainEnv(benchmark::State& state) { Scan(StoreKind::kPlain, state); }
void BM_ScanEncryptedEnv(benchmark::State& state) { Scan(StoreKind::kEncrypted, state); }
void BM_ScanSecretboxPerRecord(benchmark::State& state) { Scan(StoreKind::kSecretbox, state); }
BENCHMARK(BM_ScanPlainEnv)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_ScanEncryptedEnv)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_ScanSecretboxPerRecord)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// Whole-store HMAC check (VerifyEncryptedStore) of the encrypted scan store, per record.
void BM_VerifyEncryptedStore(benchmark::State& state) {
  ScanStore* store = ScanStoreOf(StoreKind::kEncrypted, state);
  if (store == nullptr) return;
  uint64_t records = 0;
  for (auto _ : state) {
    if (!linker::VerifyEncryptedStore(store->db.get()).ok()) {
      state.SkipWithError("the encrypted store does not verify");
      return;
    }
    records += g_scan_records;
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
}
BENCHMARK(BM_VerifyEncryptedStore)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void StoreWrite(StoreKind kind, benchmark::State& state) {
  const size_t n = g_batches * g_records_per_batch;
  uint64_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::filesystem::path dir = g_dir / "write";
    std::filesystem::remove_all(dir);
    std::unique_ptr<ScanStore> store = OpenScanStore(kind, dir, state);
    if (store == nullptr) return;
    state.ResumeTiming();
    if (!WriteScanRecords(kind, store->db.get(), n, state)) return;
    records += n;
    state.PauseTiming();
    store.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
}

void BM_StoreWritePlainEnv(benchmark::State& state) { StoreWrite(StoreKind::kPlain, state); }
void BM_StoreWriteEncryptedEnv(benchmark::State& state) {
  StoreWrite(StoreKind::kEncrypted, state);
}
BENCHMARK(BM_StoreWritePlainEnv)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_StoreWriteEncryptedEnv)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

void PrintEncryptionRatios(const RateReporter& reporter) {
  const double plain = reporter.Rate("BM_ScanPlainEnv");
  const double encrypted = reporter.Rate("BM_ScanEncryptedEnv");
  const double secretbox = reporter.Rate("BM_ScanSecretboxPerRecord");
  const double verify = reporter.Rate("BM_VerifyEncryptedStore");
  if (plain > 0) {
    fmt::print("\nfull scan of {} records (key {} bytes, value {} bytes, SST files):\n",
               g_scan_records, kScanKeySize, kScanValueSize);
    fmt::print("plain Env:                      {:6.0f} ns/record\n", 1e9 / plain);
  }
  if (plain > 0 && encrypted > 0) {
    fmt::print(
        "AES-256-CTR store Env:          {:6.0f} ns/record -> {:.2f}x plain (target <= "
        "1.3x)\n",
        1e9 / encrypted, plain / encrypted);
  }
  if (plain > 0 && secretbox > 0) {
    fmt::print("plain Env + secretbox/record:   {:6.0f} ns/record -> {:.2f}x plain\n",
               1e9 / secretbox, plain / secretbox);
  }
  if (plain > 0 && verify > 0) {
    fmt::print("VerifyEncryptedStore (file MAC): {:5.0f} ns/record -> {:.2f}x a plain scan\n",
               1e9 / verify, plain / verify);
  }
  const double write_plain = reporter.Rate("BM_StoreWritePlainEnv");
  const double write_encrypted = reporter.Rate("BM_StoreWriteEncryptedEnv");
  if (write_plain > 0 && write_encrypted > 0) {
    fmt::print(
        "synced batches of {}: plain Env {:.0f} records/s, encrypted Env {:.0f} "
        "records/s -> {:.0f}% of plain\n",
        kScanBatch, write_plain, write_encrypted, 100 * write_encrypted / write_plain);
  }
}

void PrintRatios(const RateReporter& reporter) {
  double raw = reporter.Rate("BM_RawRocksDbWriteBatch");
  double ingest = reporter.Rate("BM_LinkerIngest");
  if (raw == 0 || ingest == 0) return;
  fmt::print(
      "\n{} batches of {} records; key {} bytes, value {} bytes, one synced WriteBatch per "
      "batch\n",
      g_batches, g_records_per_batch, g_key_size, g_value_size);
  fmt::print("raw RocksDB WriteBatch: {:.0f} records/s\n", raw);
  fmt::print("linker ingest:          {:.0f} records/s -> {:.0f}% of raw (target >= 70%)\n", ingest,
             100 * ingest / raw);
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
    } else if (std::strcmp(argv[i], "--scan-records") == 0 && i + 1 < argc) {
      koppel::g_scan_records = std::stoull(argv[++i]);
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
  koppel::PrintEncryptionRatios(reporter);
  koppel::g_scan_stores.clear();
  std::filesystem::remove_all(koppel::g_dir);
  return 0;
}

// Analysis time of a spec against one full scan of the same store, measured in the same run
// (issues #4 and #14): the Almelo spec must take at most 2x the wall time of reading every
// record of the covenant once on one thread. Two more scans are printed as baselines: the same
// scan over token ranges on every core at once (what the engine's parallel scans can reach),
// and one that also parses every record (protobuf) on one thread, the least per-record work
// the engine must do. The store's files are encrypted as a whole (store_encryption.h), so every
// scan decrypts. Peak memory (getrusage ru_maxrss) is printed before and after the analysis.
// scripts/bench-analysis makes the store (synth, real agents, real ingest) and runs this; see
// its header and the README.
//
//   build/bin/analysis_bench --db DIR --linker-keys DIR --ingest OUTBOXES --agent-keys DIR
//       --mappings DIR --ingest-only
//     ingests every outbox OUTBOXES/<dataset> (sealed by `koppel-agent seal` with the signing
//     key AGENT_KEYS/<dataset>, under a covenant granting what MAPPINGS/<dataset>.yaml
//     describes) into a new store through the real BatchIngester, then lets RocksDB finish its
//     flushes and compactions, as a long-running linker would have.
//   build/bin/analysis_bench --db DIR --linker-keys DIR --spec FILE [--repeat N] [--cold]
//       [--scan-threads N]
//     the measurement, on the store as `koppel-linker` would hold it (opened read-only);
//     --cold drops the store's files from the page cache before every scan and analysis;
//     --scan-threads sets the engine's token ranges and the parallel scan's (default: cores).
//     --analysis-only runs the engine alone (for perf); every run prints a digest of the result
//     (--dump-result FILE writes what it digests), to check that an engine change keeps results.
//   build/bin/analysis_bench --db DIR --linker-keys DIR --history SPEC...
//     releases the specs one after the other, each protected together with those before (the
//     release history, as the linker does), and times each against the suppression of its
//     requested cells alone.
#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "core/hmac.h"
#include "core/key_file.h"
#include "koppel/v1/batch.pb.h"
#include "linker/analysis/analysis_engine.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "linker/analysis/release.h"
#include "linker/analysis/release_protection.h"
#include "linker/batch_ingester.h"
#include "linker/linker_store.h"
#include "linker/store_record_source.h"
#include "policies/covenant.h"
#include "tests/bench/bench_tool.h"
#include "tests/testing/covenant_files.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using bench::Check;
using bench::Die;
using bench::Grouped;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Timing {
  double wall = 0;
  double cpu = 0;
};

void DropFromPageCache(const fs::path& db);
bool g_cold = false;  // --cold: drop the store from the page cache before every measurement
fs::path g_db;

template <typename F>
Timing Timed(F&& f) {
  if (g_cold && !g_db.empty()) DropFromPageCache(g_db);
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const auto t1 = std::chrono::steady_clock::now();
  return {std::chrono::duration<double>(t1 - t0).count(), ProcessCpuSeconds() - cpu0};
}

// The linker's keys as koppel-linker derives them without a vault (linker_main.cc, LoadKeys).
linker::LinkerKeys LoadLinkerKeys(const fs::path& dir, const std::string& covenant) {
  Secret box = Check(ReadKeyFile(dir / "linker.key", crypto_box_SECRETKEYBYTES), "linker.key");
  Secret signing = Check(ReadKeyFile(dir / "linker-signing.key", crypto_sign_SECRETKEYBYTES),
                         "linker-signing.key");
  Secret master = Check(ReadKeyFile(dir / "linker-master.key", 32), "linker-master.key");
  Secret link = Check(HkdfSha256(master.span(), {}, "koppel/v1/link/" + covenant, 32), "K_link");
  Secret data = Check(HkdfSha256(master.span(), {}, "koppel/v1/data/" + covenant, 32), "data key");
  linker::LinkerKeys keys{{}, std::move(box), std::move(signing), std::move(link), std::move(data)};
  crypto_scalarmult_base(keys.box_public.data(), keys.box_secret.data());
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Ingest: every outbox's sealed batches through the real BatchIngester.

// The covenant the bench ingests under: agent-<dataset> may deliver <dataset>, with the grant
// its mapping needs, signed with its key; version 1, as `koppel-agent seal --covenant-key` seals.
void AddDataHolder(policy::Covenant* covenant, const std::string& dataset,
                   const std::string& key_hex, const fs::path& mapping) {
  const test::TestDataset grant =
      Check(test::DatasetFromMapping(mapping), "mapping " + mapping.string());
  if (grant.name != dataset) {
    Die(fmt::format("{} describes dataset '{}', but its outbox is {}", mapping.string(), grant.name,
                    dataset));
  }
  policy::CovenantParty party;
  party.name = "agent-" + dataset;
  party.roles = {"data_holder"};
  party.signing_public_key = key_hex;
  party.datasets.emplace(dataset,
                         policy::DatasetGrant{dataset,
                                              {grant.identifiers.begin(), grant.identifiers.end()},
                                              {grant.fields.begin(), grant.fields.end()}});
  covenant->parties.emplace(party.name, std::move(party));
}

void Ingest(const fs::path& db, const fs::path& linker_keys, const fs::path& outboxes,
            const fs::path& agent_keys, const fs::path& mappings, const std::string& covenant_id,
            int threads) {
  if (fs::exists(db)) Die(db.string() + " exists; ingest wants a fresh store");
  struct Work {
    std::string sender;
    fs::path path;
  };
  std::vector<Work> work;
  policy::Covenant covenant;
  covenant.id = covenant_id;
  covenant.version = 1;
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  covenant.valid_from = today - 1;
  covenant.valid_until = today + 365;
  policy::CovenantParty linker;
  linker.name = "linker";
  linker.roles = {"linker"};
  covenant.parties.emplace(linker.name, std::move(linker));
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(outboxes)) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& dir : dirs) {
    const std::string dataset = dir.filename().string();
    std::string key = ReadText(agent_keys / (dataset + ".pub"));
    while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();
    AddDataHolder(&covenant, dataset, key, mappings / (dataset + ".yaml"));
    std::vector<fs::path> batches;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".sealed") {
        batches.push_back(entry.path());
      }
    }
    std::sort(batches.begin(), batches.end());
    for (const fs::path& b : batches) work.push_back({"agent-" + dataset, b});
  }
  if (work.empty()) Die("no sealed batches under " + outboxes.string());
  std::unique_ptr<linker::LinkerStore> store =
      Check(linker::LinkerStore::Open(db), "opening the store");
  linker::LinkerKeys keys = LoadLinkerKeys(linker_keys, covenant_id);
  Check(store->OpenCovenant(covenant_id, keys.data_key), "opening the covenant's store");
  std::unique_ptr<linker::BatchIngester> ingester = Check(
      linker::BatchIngester::Create(std::move(covenant), std::move(keys), store.get()), "ingester");

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> accepted{0}, rejected{0};
  std::mutex error_mutex;
  std::string error;
  const Timing t = Timed([&] {
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
      pool.emplace_back([&] {
        for (size_t w; (w = next.fetch_add(1)) < work.size();) {
          v1::SealedBatch batch;
          if (!batch.ParseFromString(ReadText(work[w].path))) {
            std::lock_guard lock(error_mutex);
            error = work[w].path.string() + " is not a sealed batch";
            return;
          }
          absl::StatusOr<v1::Receipt> receipt = ingester->Ingest(work[w].sender, batch);
          if (!receipt.ok()) {
            std::lock_guard lock(error_mutex);
            error = work[w].path.string() + ": " + receipt.status().ToString();
            return;
          }
          accepted += receipt->records_accepted();
          rejected += receipt->records_rejected();
        }
      });
    }
    for (std::thread& th : pool) th.join();
  });
  if (!error.empty()) Die("ingest: " + error);
  ingester.reset();
  store.reset();
  fmt::print(
      "ingested {} batches from {} outboxes: {} records ({} rejected) in {:.1f} s wall "
      "({} threads, {:.0f} records/s)\n",
      work.size(), dirs.size(), Grouped(accepted), Grouped(rejected), t.wall, threads,
      static_cast<double>(accepted) / t.wall);

  // Let RocksDB finish flushing and compacting, as it would in a linker that keeps running, so
  // that the measurement neither competes with background work nor sees a transient shape.
  const Timing settle = Timed([&] {
    std::unique_ptr<linker::LinkerStore> settled =
        Check(linker::LinkerStore::Open(db), "reopening the store");
    Check(settled->OpenCovenant(covenant_id, LoadLinkerKeys(linker_keys, covenant_id).data_key),
          "opening the covenant's store");
    const linker::LinkerStore::Shape shape =
        Check(settled->Settle(covenant_id), "settling the store");
    fmt::print("store settled: {:.0f} MiB of SST files, files per level: {}\n",
               static_cast<double>(shape.live_bytes) / (1 << 20), shape.files_per_level);
  });
  fmt::print("flush and compactions after ingest: {:.1f} s\n", settle.wall);
}

// ---------------------------------------------------------------------------------------------
// Measurement.

// Drops the store's files from the page cache (only those: nothing else on the machine is
// touched), so that the next scan reads from the disk.
void DropFromPageCache(const fs::path& db) {
  for (const auto& entry : fs::recursive_directory_iterator(db)) {  // a store per covenant
    if (!entry.is_regular_file()) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Folds bytes into a sum so that the compiler must read every one of them.
uint64_t Touch(std::string_view bytes) {
  uint64_t sum = bytes.size();
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    sum += word;
  }
  for (; i < bytes.size(); ++i) sum += static_cast<unsigned char>(bytes[i]);
  return sum;
}

enum class ScanKind { kPlain, kParse };

struct ScanResult {
  uint64_t records = 0;
  uint64_t checksum = 0;
};

// Reads every record of `datasets` whose token lies in [begin, end) (empty: unbounded).
ScanResult ScanRange(const linker::LinkerStore& store, const std::string& covenant,
                     const std::vector<std::string>& datasets, ScanKind kind,
                     std::string_view begin = {}, std::string_view end = {}) {
  ScanResult out;
  v1::Record record;
  for (const std::string& dataset : datasets) {
    std::unique_ptr<linker::RecordCursor> cursor =
        store.NewRecordCursor(covenant, dataset, begin, end);
    for (; cursor->Valid(); cursor->Next()) {
      ++out.records;
      const std::string_view value = cursor->value();
      out.checksum += Touch(cursor->token()) + Touch(cursor->batch_id());
      if (kind == ScanKind::kPlain) {
        out.checksum += Touch(value);
        continue;
      }
      if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        Die("a stored record does not parse");
      }
      out.checksum += static_cast<uint64_t>(record.values_size()) + record.bsn_token().size();
    }
    Check(cursor->status(), "scanning " + dataset);
  }
  return out;
}

// The plain scan split into `threads` token ranges (on whole first bytes, as the engine splits
// them), one thread each.
ScanResult ParallelScan(const linker::LinkerStore& store, const std::string& covenant,
                        const std::vector<std::string>& datasets, size_t threads) {
  std::vector<ScanResult> parts(threads);
  std::vector<std::thread> pool;
  auto bound = [threads](size_t r) {
    return r == 0 || r == threads ? std::string()
                                  : std::string(1, static_cast<char>(256 * r / threads));
  };
  for (size_t r = 0; r < threads; ++r) {
    pool.emplace_back([&, r] {
      parts[r] = ScanRange(store, covenant, datasets, ScanKind::kPlain, bound(r), bound(r + 1));
    });
  }
  for (std::thread& thread : pool) thread.join();
  ScanResult out;
  for (const ScanResult& part : parts) {
    out.records += part.records;
    out.checksum += part.checksum;
  }
  return out;
}

// The number of households on the first reference date: the total row of a counts table over
// all households, in its column counting the population itself. 0 when the spec has none.
double HouseholdsOf(const analysis::AnalysisSpec& spec, const analysis::AnalysisResult& result) {
  for (const analysis::TableSpec& table : spec.tables) {
    if (table.kind != analysis::TableKind::kCounts || table.total_label.empty()) continue;
    auto population = spec.populations.find(table.population);
    if (population == spec.populations.end()) continue;
    const analysis::Selection& p = population->second;
    if (!p.household_type.empty() || !p.all.empty() || !p.any.empty() || !p.none.empty()) continue;
    for (const analysis::CountColumn& column : table.columns) {
      const analysis::Selection& w = column.where;
      if (column.reference != 0 || column.percent || !w.household_type.empty() || !w.all.empty() ||
          !w.any.empty() || !w.none.empty()) {
        continue;
      }
      const analysis::ResultTable* out = result.FindTable(table.name);
      if (out == nullptr) continue;
      if (const analysis::ResultCell* cell = out->Find(table.total_label, column.label))
        return cell->value;
    }
  }
  return 0;
}

// A digest of every table's cells and of both linear systems, so that two builds of the engine
// can be checked to compute the same result. Values are rounded to 1/100, as in the digests of
// earlier builds (whose engine added money in hash-map order), so that those stay comparable.
std::string g_dump_result;  // --dump-result: also write the digested text here

std::string ResultDigest(const analysis::AnalysisResult& result) {
  std::string text;
  for (const analysis::ResultTable& table : result.tables) {
    text += table.name + '\n';
    for (const analysis::ResultRow& row : table.rows) {
      text += row.label;
      for (const analysis::ResultCell& cell : row.cells) {
        text += fmt::format(" {}:{:.2f}", static_cast<int>(cell.kind), cell.value);
      }
      text += '\n';
    }
  }
  for (const auto* cells : {&result.count_cells, &result.sum_cells}) {
    for (const analysis::PublishedCell& cell : *cells) {
      text += fmt::format("{:.2f} {} {}\n", cell.value, cell.atoms.size(), cell.contributors);
    }
  }
  if (!g_dump_result.empty()) std::ofstream(g_dump_result, std::ios::app) << text << "----\n";
  unsigned char hash[8];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  std::string hex;
  for (unsigned char b : hash) hex += fmt::format("{:02x}", b);
  return hex;
}

// Per table, the cells a release of `result` shows as `*` under `protection`.
std::vector<int64_t> StarsPerTable(const analysis::AnalysisResult& result,
                                   const analysis::ProtectedRelease& protection) {
  policy::AnalysisPolicy policy;
  const v1::Release release =
      Check(analysis::BuildRelease(result, protection, policy, analysis::ReleaseContext{}),
            "building the release");
  std::vector<int64_t> stars;
  for (const v1::ReleasedTable& table : release.tables()) stars.push_back(table.cells_suppressed());
  return stars;
}

// Disclosure control of the result, against its raw primitive: secondary suppression of the
// requested cells only (what koppel did before issue #11). Then the full protection (implied
// groups and nested differences) of a first release, and of the same study released again,
// checked against the first (the release history), with the cells each suppresses per table.
void MeasureProtection(const analysis::AnalysisEngine& engine, const analysis::AnalysisSpec& spec,
                       const analysis::PriceTable& prices) {
  analysis::EngineOptions options;
  options.keep_units = true;
  const analysis::AnalysisResult result =
      Check(engine.Run(spec, prices, options), "analysis with units");
  const analysis::DisclosureRules rules;
  analysis::ProtectedRelease requested;
  const Timing t_requested = Timed([&] {
    requested.counts =
        Check(analysis::ProtectCells(result.count_cells, result.count_atoms, rules), "counts");
    requested.sums =
        Check(analysis::ProtectCells(result.sum_cells, result.sum_atoms, rules), "sums");
  });
  analysis::ProtectedRelease first;
  const Timing t_first =
      Timed([&] { first = Check(analysis::ProtectRelease(result, {}, rules), "protection"); });
  analysis::EarlierRelease earlier{&result, first.counts.state, first.sums.state};
  analysis::ProtectedRelease again;
  const Timing t_again = Timed([&] {
    again = Check(analysis::ProtectRelease(result, {earlier}, rules), "protection with history");
  });
  fmt::print(
      "disclosure control: requested cells only {:.3f} s; with implied groups {:.3f} s "
      "({:.1f}x), {} implied groups protected ({} conjunctions); again with the first "
      "release as history {:.3f} s ({:.1f}x)\n",
      t_requested.wall, t_first.wall, t_first.wall / t_requested.wall, first.implied_groups,
      first.implied_conjunctions, t_again.wall, t_again.wall / t_requested.wall);
  const std::vector<int64_t> before = StarsPerTable(result, requested);
  const std::vector<int64_t> after = StarsPerTable(result, first);
  const std::vector<int64_t> second = StarsPerTable(result, again);
  fmt::print("{:<40} {:>16} {:>16} {:>16}\n", "cells shown as * per table", "requested only",
             "implied groups", "second release");
  for (size_t t = 0; t < result.tables.size(); ++t) {
    fmt::print("{:<40} {:>16} {:>16} {:>16}\n", result.tables[t].name, before[t], after[t],
               second[t]);
  }
}

// A release history: each spec released after the ones before, protected together with them
// as the linker does (an earlier release of the same spec counts once), timed against its raw
// primitive (secondary suppression of its requested cells only).
analysis::AnalysisSpec LoadSpec(const fs::path& spec_path) {
  return Check(analysis::ParseAnalysisSpec(ReadText(spec_path), spec_path.string()), "spec");
}

// The prices named on the command line, else the spec's own prices file, else none (empty).
fs::path PricesPathFor(const analysis::AnalysisSpec& spec, const fs::path& spec_path,
                       const std::string& prices_override) {
  if (!prices_override.empty() || spec.prices_file.empty()) return prices_override;
  return spec_path.parent_path() / spec.prices_file;
}

analysis::PriceTable LoadPrices(const analysis::AnalysisSpec& spec, const fs::path& spec_path,
                                const std::string& prices_override) {
  const fs::path prices_path = PricesPathFor(spec, spec_path, prices_override);
  if (prices_path.empty()) return analysis::PriceTable{};
  return Check(analysis::ParsePrices(ReadText(prices_path), prices_path.string()), "prices");
}

int MeasureHistory(const fs::path& db, const fs::path& linker_keys, const std::string& covenant_id,
                   const std::vector<std::string>& specs, const std::string& prices_override) {
  const linker::LinkerKeys keys = LoadLinkerKeys(linker_keys, covenant_id);
  std::unique_ptr<linker::LinkerStore> store =
      Check(linker::LinkerStore::OpenReadOnly(db), "opening the store");
  Check(store->OpenCovenant(covenant_id, keys.data_key), "opening the covenant's store");
  const linker::StoreRecordSource source(store.get(), covenant_id);
  const analysis::AnalysisEngine engine(&source);
  std::vector<std::unique_ptr<analysis::AnalysisResult>> results;
  std::vector<analysis::EarlierRelease> earlier;
  std::map<std::string, size_t> earlier_of_spec;
  fmt::print("{:<4} {:<40} {:>8} {:>12} {:>12} {:>7} {:>9} {:>13}\n", "#", "spec", "earlier",
             "requested", "protection", "ratio", "implied", "for history");
  for (size_t i = 0; i < specs.size(); ++i) {
    const fs::path spec_path = specs[i];
    analysis::AnalysisSpec spec = LoadSpec(spec_path);
    const analysis::PriceTable prices = LoadPrices(spec, spec_path, prices_override);
    Check(analysis::ResolveCostBenefitPrices(&spec, prices), "prices");
    analysis::EngineOptions options;
    options.keep_units = true;
    results.push_back(std::make_unique<analysis::AnalysisResult>(
        Check(engine.Run(spec, prices, options), "analysis " + spec_path.string())));
    const analysis::AnalysisResult& result = *results.back();
    const analysis::DisclosureRules rules;
    const Timing requested = Timed([&] {
      Check(analysis::ProtectCells(result.count_cells, result.count_atoms, rules), "counts");
      Check(analysis::ProtectCells(result.sum_cells, result.sum_atoms, rules), "sums");
    });
    analysis::ProtectedRelease protection;
    const Timing full = Timed([&] {
      protection = Check(analysis::ProtectRelease(result, earlier, rules), "protection");
    });
    fmt::print("{:<4} {:<40} {:>8} {:>10.3f} s {:>10.3f} s {:>6.0f}x {:>9} {:>13}\n", i + 1,
               spec_path.filename().string(), earlier.size(), requested.wall, full.wall,
               full.wall / requested.wall, protection.implied_groups,
               protection.suppressed_for_history);
    std::fflush(stdout);
    auto [it, fresh] = earlier_of_spec.emplace(spec_path.string(), earlier.size());
    if (fresh) {
      earlier.push_back({&result, protection.counts.state, protection.sums.state});
      continue;
    }
    analysis::EarlierRelease& same = earlier[it->second];
    for (size_t c = 0; c < same.count_states.size(); ++c) {
      if (protection.counts.state[c] == analysis::CellState::kPublished)
        same.count_states[c] = analysis::CellState::kPublished;
    }
    for (size_t c = 0; c < same.sum_states.size(); ++c) {
      if (protection.sums.state[c] == analysis::CellState::kPublished)
        same.sum_states[c] = analysis::CellState::kPublished;
    }
  }
  return 0;
}

int Measure(const fs::path& db, const fs::path& linker_keys, const std::string& covenant_id,
            const fs::path& spec_path, const std::string& prices_override, int repeat,
            bool analysis_only, bool cold, int scan_threads) {
  analysis::AnalysisSpec spec = LoadSpec(spec_path);
  const analysis::PriceTable prices = LoadPrices(spec, spec_path, prices_override);
  Check(analysis::ResolveCostBenefitPrices(&spec, prices), "prices");
  const linker::LinkerKeys keys = LoadLinkerKeys(linker_keys, covenant_id);
  g_cold = cold;
  g_db = db;
  // Read-only, as the integration test's engine runs: nothing happens in the background.
  std::unique_ptr<linker::LinkerStore> store =
      Check(linker::LinkerStore::OpenReadOnly(db), "opening the store");
  Check(store->OpenCovenant(covenant_id, keys.data_key), "opening the covenant's store");
  std::vector<std::string> datasets;
  uint64_t stored = 0;
  for (const v1::DatasetStatus& status : Check(store->Status(), "store status")) {
    if (status.covenant_id() != covenant_id) continue;
    datasets.push_back(status.dataset());
    stored += status.records();
  }
  if (datasets.empty()) Die("the store holds nothing for covenant " + covenant_id);
  const double rss_open = PeakRssMiB();
  const linker::StoreRecordSource source(store.get(), covenant_id);
  const analysis::AnalysisEngine engine(&source);
  analysis::EngineOptions options;
  options.scan_threads = scan_threads;
  const size_t threads = scan_threads > 0
                             ? static_cast<size_t>(scan_threads)
                             : std::max<size_t>(1, std::thread::hardware_concurrency());

  fmt::print("store {}: {} records of covenant {} in {} datasets\n", db.string(), Grouped(stored),
             covenant_id, datasets.size());
  if (analysis_only) {  // for profiling the engine alone
    for (int run = 1; run <= repeat; ++run) {
      absl::StatusOr<analysis::AnalysisResult> result;
      const Timing t = Timed([&] { result = engine.Run(spec, prices, options); });
      Check(result.status(), "analysis");
      fmt::print(
          "run {}: analysis {:.3f} s wall, {:.3f} s CPU ({} scan threads); peak RSS "
          "{:.1f} MiB; result digest {}\n",
          run, t.wall, t.cpu, threads, PeakRssMiB(), ResultDigest(*result));
    }
    return 0;
  }
  fmt::print(
      "spec {} with prices {}; {} scan threads; best of {} runs, each: scan, parallel "
      "scan, parse scan, analysis; page cache {}\n",
      spec_path.string(), PricesPathFor(spec, spec_path, prices_override).string(), threads, repeat,
      cold ? "dropped before each (cold)" : "as it is (warm after the first run)");
  struct Best {
    Timing t{1e300, 1e300};
    void Keep(const Timing& x) {
      if (x.wall < t.wall) t = x;
    }
  } scan, parallel, parse, analysis;
  double rss_before = 0, rss_after = 0;
  uint64_t records = 0, analysis_records = 0;
  double households = 0;
  size_t atoms = 0, count_cells = 0, sum_cells = 0;
  std::string digest;
  std::vector<std::string> warnings;
  for (int run = 1; run <= repeat; ++run) {
    ScanResult plain_result, parallel_result, parse_result;
    const Timing t_scan =
        Timed([&] { plain_result = ScanRange(*store, covenant_id, datasets, ScanKind::kPlain); });
    const Timing t_parallel =
        Timed([&] { parallel_result = ParallelScan(*store, covenant_id, datasets, threads); });
    const Timing t_parse =
        Timed([&] { parse_result = ScanRange(*store, covenant_id, datasets, ScanKind::kParse); });
    if (parallel_result.records != plain_result.records ||
        parallel_result.checksum != plain_result.checksum ||
        parse_result.records != plain_result.records) {
      Die("the scans saw different records");
    }
    records = plain_result.records;
    if (run == 1) rss_before = PeakRssMiB();
    absl::StatusOr<analysis::AnalysisResult> result;
    const Timing t_analysis = Timed([&] { result = engine.Run(spec, prices, options); });
    Check(result.status(), "analysis");
    if (run == 1) rss_after = PeakRssMiB();
    analysis_records = result->records_read;
    households = HouseholdsOf(spec, *result);
    atoms = result->count_atoms;
    count_cells = result->count_cells.size();
    sum_cells = result->sum_cells.size();
    digest = ResultDigest(*result);
    warnings = result->warnings;
    fmt::print(
        "run {}: scan {:.3f} s, parallel scan {:.3f} s, parse scan {:.3f} s, analysis "
        "{:.3f} s (checksum {:x})\n",
        run, t_scan.wall, t_parallel.wall, t_parse.wall, t_analysis.wall,
        plain_result.checksum & 0xffff);
    std::fflush(stdout);
    scan.Keep(t_scan);
    parallel.Keep(t_parallel);
    parse.Keep(t_parse);
    analysis.Keep(t_analysis);
  }

  const double n = static_cast<double>(records);
  fmt::print("records: {} (all datasets); the analysis read {} of them\n", Grouped(records),
             Grouped(analysis_records));
  fmt::print(
      "households: {} (on the first reference date); {} atoms, {} count cells, {} sum "
      "cells; result digest {}\n",
      Grouped(static_cast<uint64_t>(households)), Grouped(atoms), Grouped(count_cells),
      Grouped(sum_cells), digest);
  auto line = [&](const std::string& what, const Timing& t) {
    fmt::print("{:<24} {:9.3f} s wall {:9.3f} s CPU {:10.0f} stored records/s\n", what, t.wall,
               t.cpu, n / t.wall);
  };
  line("full scan (1 thread)", scan.t);
  line(fmt::format("parallel scan ({})", threads), parallel.t);
  line("parse scan (1 thread)", parse.t);
  line(fmt::format("analysis ({})", threads), analysis.t);
  const double ratio = analysis.t.wall / scan.t.wall;
  fmt::print("analysis / full scan: {:.2f}x wall (CPU time {:.2f}x)\n", ratio,
             analysis.t.cpu / scan.t.cpu);
  fmt::print("analysis / parallel scan: {:.2f}x wall (CPU time {:.2f}x)\n",
             analysis.t.wall / parallel.t.wall, analysis.t.cpu / parallel.t.cpu);
  fmt::print("analysis / parse scan: {:.2f}x wall\n", analysis.t.wall / parse.t.wall);
  fmt::print("target <= 2.0x (analysis / full scan, wall): {}\n", ratio <= 2.0 ? "met" : "not met");
  fmt::print(
      "peak RSS: {:.1f} MiB after opening the store, {:.1f} MiB before the analysis, "
      "{:.1f} MiB after it\n",
      rss_open, rss_before, rss_after);
  for (const std::string& warning : warnings) fmt::print("analysis warning: {}\n", warning);
  MeasureProtection(engine, spec, prices);
  return 0;
}

int Main(int argc, char** argv) {
  bench::ThisProgram().name = "analysis_bench";
  CLI::App app{
      "analysis_bench: analysis time of a spec against one full scan of the same store "
      "(issues #4, #14). Run through scripts/bench-analysis."};
  std::string db, linker_keys, outboxes, agent_keys, mappings, covenant_id = "bench", spec, prices;
  std::vector<std::string> history;
  int repeat = 3, threads = 2, scan_threads = 0;
  bool ingest_only = false, analysis_only = false, cold = false;
  app.add_option("--db", db, "the linker store (RocksDB directory)")->required();
  app.add_option("--linker-keys", linker_keys, "directory made by `koppel-linker keygen`")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--covenant-id", covenant_id, "covenant the batches were sealed under")
      ->capture_default_str();
  app.add_option("--ingest", outboxes,
                 "first ingest every outbox in this directory into a new --db")
      ->check(CLI::ExistingDirectory);
  app.add_option("--agent-keys", agent_keys,
                 "with --ingest: <dataset>.pub signing keys of the agents")
      ->check(CLI::ExistingDirectory);
  app.add_option("--mappings", mappings,
                 "with --ingest: the agents' <dataset>.yaml mappings (their covenant grants)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--ingest-threads", threads, "with --ingest")->capture_default_str();
  app.add_flag("--ingest-only", ingest_only, "with --ingest: do not measure");
  app.add_flag("--cold", cold,
               "drop the store's files from the page cache before every measurement");
  app.add_option("--dump-result", g_dump_result, "append the text the result digest is made of");
  app.add_flag("--analysis-only", analysis_only, "run only the analysis (for profiling)");
  app.add_option("--scan-threads", scan_threads,
                 "token ranges the engine and the parallel scan read at once (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--spec", spec, "analysis spec (YAML)")->check(CLI::ExistingFile);
  app.add_option("--prices", prices, "prices CSV (default: the spec's prices file)");
  app.add_option("--history", history,
                 "instead of measuring --spec: release these specs one after the other, each "
                 "protected together with the ones before (the release history), and time each")
      ->check(CLI::ExistingFile);
  app.add_option("--repeat", repeat, "runs of each measurement; the best counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (sodium_init() < 0) return 1;
  if (!outboxes.empty()) {
    if (agent_keys.empty() || mappings.empty()) Die("--ingest needs --agent-keys and --mappings");
    Ingest(db, linker_keys, outboxes, agent_keys, mappings, covenant_id, std::max(threads, 1));
    std::fflush(stdout);
    if (ingest_only) return 0;
  }
  if (!history.empty()) return MeasureHistory(db, linker_keys, covenant_id, history, prices);
  if (spec.empty()) Die("--spec is required to measure");
  return Measure(db, linker_keys, covenant_id, spec, prices, repeat, analysis_only, cold,
                 scan_threads);
}

}  // namespace
}  // namespace koppel

int main(int argc, char** argv) { return koppel::Main(argc, argv); }

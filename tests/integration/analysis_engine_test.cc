// The analysis engine and the query runner on a small store built record by record (no agent,
// no network), so that every figure has an independent computation beside it: snapshot
// registers against address periods, studies of more than 64 indicators, costs priced by code
// and kept out of the total, and specs that do not fit the deliveries refused with their place
// before anything is computed or spent.
#include "linker/analysis/analysis_engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/civil_date.h"
#include "core/hmac.h"
#include "core/proto_time.h"
#include "core/secret.h"
#include "linker/analysis/engine_limits.h"
#include "linker/analysis/prices.h"
#include "linker/delivery_check.h"
#include "linker/linker_store.h"
#include "linker/query_runner.h"
#include "linker/release_history.h"
#include "linker/store_record_source.h"
#include "tests/testing/record_values.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::AmountValue;
using test::Attribute;
using test::CodeValue;
using test::DateValue;
using test::Day;
using test::IntegerValue;
using test::YearValue;

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kCovenant[] = "engine";
constexpr int kOffenceCodes = 150;
constexpr absl::CivilDay kReference(2014, 12, 31);

// `text` with the first `from` replaced by `to`.
std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string Code(int k) { return fmt::format("f{:03}", k); }

// The synthetic population: households in three wijken, persons with birth dates, moves in
// 2014, offences of 150 kinds and care costs.
struct Person {
  std::string token;
  size_t household = 0;
  int birth = 0;
  int moves = 0;      // in 2014: 0, 1 or 2
  bool left = false;  // moved out of the municipality in 2014: no member on 2014-12-31
  std::vector<std::pair<int, int>> offences;  // code, day
  int64_t care_cents = 0;                     // 0: no care record
};

struct World {
  std::vector<std::string> households;  // address tokens
  std::vector<int> wijk;                // per household: 0..2
  std::vector<Person> persons;

  static World Make() {
    World w;
    std::mt19937 random(7);
    auto token = [&] {
      std::string t(32, '\0');
      for (char& c : t) c = static_cast<char>(random() & 0xff);
      return t;
    };
    auto below = [&](int n) { return static_cast<int>(random() % static_cast<uint32_t>(n)); };
    for (int h = 0; h < 400; ++h) {
      w.households.push_back(token());
      w.wijk.push_back(below(3));
      const int size = 1 + below(4);
      for (int i = 0; i < size; ++i) {
        Person p;
        p.token = token();
        p.household = w.households.size() - 1;
        const bool child = i > 0 && below(2) == 0;
        p.birth = child ? Day(2000, 1, 1) + below(12 * 365) : Day(1950, 1, 1) + below(40 * 365);
        const int kind = below(20);
        p.moves = kind < 4 ? 2 : kind < 6 ? 1 : 0;
        p.left = kind == 19;
        for (int n = below(4); n > 0; --n) {
          // Mostly 2014; some 2013, which a 2014 indicator must not count.
          p.offences.emplace_back(below(kOffenceCodes),
                                  below(5) == 0 ? Day(2013, 6, 1) : Day(2014, 1, 1) + below(365));
        }
        if (below(3) == 0) p.care_cents = 100 + below(500000);
        w.persons.push_back(std::move(p));
      }
    }
    return w;
  }

  // Independent of the engine: persons living in the municipality on 2014-12-31.
  bool Member(const Person& p) const { return !p.left; }
  bool Adult(const Person& p) const { return AgeOn(DayFromDays(p.birth), kReference) >= 18; }
};

std::vector<std::string> WijkCodes() { return {"WK01", "WK02", "WK03"}; }

std::vector<std::string> OffenceCodes() {
  std::vector<std::string> codes;
  for (int k = 0; k < kOffenceCodes; ++k) codes.push_back(Code(k));
  return codes;
}

double OffencePrice(int k) { return 100 + k + 0.25; }

std::string PricesCsv() {
  std::string csv = "cost_item,unit,price_eur_2014\nmoving_household,per household,512.40\n";
  for (int k = 0; k < kOffenceCodes; ++k) {
    csv += fmt::format("{},per offence,{:.2f}\n", Code(k), OffencePrice(k));
  }
  return csv;
}

// Writes batches into a store the way the ingester does: records keyed by the person's (or
// address's) token, in the covenant's store encrypted with the data key.
class StoreWriter {
 public:
  StoreWriter(linker::LinkerStore* store, const Secret* key) : store_(store), key_(key) {}

  void Add(const std::string& covenant, const std::string& dataset,
           const std::vector<v1::AttributeSchema>& attributes,
           const std::vector<std::pair<std::string, v1::Record>>& records) {
    ++batches_;
    v1::BatchHeader header;
    header.set_dataset(dataset);
    header.set_covenant_id(covenant);
    header.set_run_id(fmt::format("run-{}", batches_));
    header.set_has_bsn(!keyed_by_address_);
    header.set_token_scheme("koppel/v1/hmac");
    header.set_period_from(period_from_);
    header.set_period_to(period_to_);
    for (const v1::AttributeSchema& a : attributes) *header.add_attributes() = a;
    v1::Receipt receipt;
    receipt.set_batch_id(fmt::format("{:064x}", batches_));
    receipt.set_dataset(dataset);
    receipt.set_covenant_id(covenant);
    std::vector<linker::StoredRecord> stored;
    for (const auto& [token, record] : records) {
      linker::StoredRecord r;
      r.token = token;
      r.value = record.SerializeAsString();
      stored.push_back(std::move(r));
    }
    if (!store_->IsOpen(covenant)) {
      ASSERT_TRUE(store_->OpenCovenant(covenant, *key_).ok());
    }
    absl::StatusOr<v1::Receipt> committed = store_->Commit(receipt, header, stored);
    ASSERT_TRUE(committed.ok()) << committed.status();
  }

  // The delivery period (the mapping's) of the batches added next.
  void SetPeriod(const std::string& from, const std::string& to) {
    period_from_ = from;
    period_to_ = to;
  }
  // Whether the batches added next are keyed by address (no BSN) rather than by person.
  void SetKeyedByAddress(bool by_address) { keyed_by_address_ = by_address; }

 private:
  linker::LinkerStore* store_;
  const Secret* key_;
  std::string period_from_;
  std::string period_to_;
  uint64_t batches_ = 0;
  bool keyed_by_address_ = false;
};

v1::Record RecordOf(const std::string& address, std::vector<v1::Value> values) {
  v1::Record record;
  if (!address.empty()) record.set_address_token(address);
  for (v1::Value& v : values) *record.add_values() = std::move(v);
  return record;
}

// Register rows with address periods, as a municipality's BRP export over time has them.
void AddPeriodRegister(const World& w, const std::string& covenant, StoreWriter* out,
                       v1::AttributeType from_type = v1::ATTRIBUTE_TYPE_DATE) {
  std::vector<std::pair<std::string, v1::Record>> rows;
  std::string elsewhere(32, 'x');  // an address in the municipality no one lives at on the date
  auto row = [&](const Person& p, const std::string& address, uint32_t wijk, int from,
                 std::optional<int> to) {
    v1::Value from_value =
        from_type == v1::ATTRIBUTE_TYPE_DATE ? DateValue(from) : IntegerValue(from);
    rows.emplace_back(p.token, RecordOf(address, {DateValue(p.birth), CodeValue(wijk), from_value,
                                                  to ? DateValue(*to) : v1::Value{}}));
  };
  for (const Person& p : w.persons) {
    const std::string& home = w.households[p.household];
    const uint32_t wijk = static_cast<uint32_t>(w.wijk[p.household]);
    const int since = std::max(p.birth, Day(2005, 1, 1));
    if (p.left) {
      row(p, home, wijk, since, Day(2014, 6, 1));
    } else if (p.moves == 2) {
      row(p, elsewhere, 0, since, Day(2014, 3, 1));
      row(p, elsewhere, 1, Day(2014, 3, 1), Day(2014, 8, 1));
      row(p, home, wijk, Day(2014, 8, 1), std::nullopt);
    } else if (p.moves == 1) {
      row(p, elsewhere, 2, since, Day(2014, 5, 1));
      row(p, home, wijk, Day(2014, 5, 1), std::nullopt);
    } else {
      row(p, home, wijk, since, std::nullopt);
    }
  }
  out->Add(covenant, "brp",
           {Attribute("geboortedatum", v1::ATTRIBUTE_TYPE_DATE),
            Attribute("wijk", v1::ATTRIBUTE_TYPE_CATEGORY, WijkCodes()),
            Attribute("adres_van", from_type), Attribute("adres_tot", v1::ATTRIBUTE_TYPE_DATE)},
           rows);
}

// The same population as a register extract on 2014-12-31: one row per resident, no address
// periods, the year's moves as a count.
void AddSnapshotRegister(const World& w, const std::string& covenant, StoreWriter* out,
                         const std::string& dataset = "brp_snapshot") {
  std::vector<std::pair<std::string, v1::Record>> rows;
  for (const Person& p : w.persons) {
    if (p.left) continue;
    rows.emplace_back(p.token, RecordOf(w.households[p.household],
                                        {DateValue(p.birth),
                                         CodeValue(static_cast<uint32_t>(w.wijk[p.household])),
                                         IntegerValue(p.moves)}));
  }
  out->Add(covenant, dataset,
           {Attribute("geboortedatum", v1::ATTRIBUTE_TYPE_DATE),
            Attribute("wijk", v1::ATTRIBUTE_TYPE_CATEGORY, WijkCodes()),
            Attribute("verhuizingen", v1::ATTRIBUTE_TYPE_INTEGER)},
           rows);
}

// Offences with a code beyond the prices file's (and the first run's) codes.
std::vector<std::string> CodesWithAnUnpricedOne() {
  std::vector<std::string> codes = OffenceCodes();
  codes.push_back("f999");
  return codes;
}

void AddRecords(const World& w, const std::string& covenant, StoreWriter* out) {
  std::vector<std::pair<std::string, v1::Record>> offences, care;
  for (const Person& p : w.persons) {
    for (const auto& [code, day] : p.offences) {
      offences.emplace_back(p.token,
                            RecordOf("", {CodeValue(static_cast<uint32_t>(code)), DateValue(day)}));
    }
    if (p.care_cents > 0) {
      care.emplace_back(p.token, RecordOf("", {AmountValue(p.care_cents), YearValue(2014)}));
    }
  }
  out->Add(covenant, "politie",
           {Attribute("feit", v1::ATTRIBUTE_TYPE_CATEGORY, OffenceCodes()),
            Attribute("pleegdatum", v1::ATTRIBUTE_TYPE_DATE)},
           offences);
  out->Add(
      covenant, "zorg",
      {Attribute("kosten", v1::ATTRIBUTE_TYPE_AMOUNT), Attribute("jaar", v1::ATTRIBUTE_TYPE_YEAR)},
      care);
}

// The covenant whose records the scans of token ranges share out: every member's benefit
// payments, and debts keyed by address (some at addresses where no one lives), so that
// households straddle ranges and their money is added up from many records.
constexpr char kRangesCovenant[] = "ranges";

void AddRangeRecords(const World& w, StoreWriter* out) {
  AddPeriodRegister(w, kRangesCovenant, out);
  AddRecords(w, kRangesCovenant, out);
  std::mt19937 random(11);
  auto cents = [&] { return static_cast<int64_t>(1 + random() % 250000); };
  std::vector<std::pair<std::string, v1::Record>> benefits, debts;
  for (const Person& p : w.persons) {
    for (int year : {2013, 2014, 2014}) {
      benefits.emplace_back(p.token, RecordOf("", {AmountValue(cents()), YearValue(year)}));
    }
  }
  for (size_t h = 0; h < w.households.size(); h += 2) {
    for (int year : {2013, 2014, 2014}) {
      debts.emplace_back(w.households[h], RecordOf("", {AmountValue(cents()), YearValue(year)}));
    }
  }
  for (int k = 0; k < 5; ++k) {
    std::string nowhere(32, static_cast<char>(0x20 + 0x30 * k));
    debts.emplace_back(nowhere, RecordOf("", {AmountValue(cents()), YearValue(2014)}));
  }
  const std::vector<v1::AttributeSchema> amounts = {Attribute("bedrag", v1::ATTRIBUTE_TYPE_AMOUNT),
                                                    Attribute("jaar", v1::ATTRIBUTE_TYPE_YEAR)};
  out->Add(kRangesCovenant, "uitkering", amounts, benefits);
  out->SetKeyedByAddress(true);
  out->Add(kRangesCovenant, "schuld", amounts, debts);
  out->SetKeyedByAddress(false);
}

constexpr char kPeriodRegister[] =
    "register: {dataset: brp, birth_date: geboortedatum, area: wijk, address_from: adres_van, "
    "address_to: adres_tot}\n";
constexpr char kSnapshotRegister[] =
    "register: {dataset: brp_snapshot, birth_date: geboortedatum, area: wijk, "
    "snapshot: 2014-12-31, moves: verhuizingen}\n";

std::string CountsSpec(const std::string& register_yaml, const std::string& extra_indicators,
                       const std::string& extra_columns) {
  return "analysis: engine-test\nreference_dates: [2014-12-31]\n" + register_yaml +
         "household_types:\n  family: {adults: {min: 1}, children: {min: 1}}\n"
         "populations:\n  households: {}\n"
         "indicators:\n"
         "  moves: {moves_at_least: 2}\n"
         "  offence: {dataset: politie, date: pleegdatum}\n"
         "  adult_offence: {dataset: politie, date: pleegdatum, members: adults}\n"
         "  care: {dataset: zorg, year: jaar}\n" +
         extra_indicators +
         "tables:\n"
         "  - name: per_area\n"
         "    population: households\n"
         "    rows: area\n"
         "    total: all\n"
         "    columns:\n"
         "      - {label: n}\n"
         "      - {label: families, where: {household_type: family}}\n"
         "      - {label: moves, count: moves}\n"
         "      - {label: offence, count: offence}\n"
         "      - {label: adult_offence, count: adult_offence}\n"
         "      - {label: care, count: care}\n" +
         extra_columns;
}

// The engine over the records `store` holds for `covenant`.
absl::StatusOr<analysis::AnalysisResult> RunEngine(const linker::LinkerStore* store,
                                                   const std::string& covenant,
                                                   const analysis::AnalysisSpec& spec,
                                                   const analysis::PriceTable& prices,
                                                   const analysis::EngineOptions& options = {}) {
  const linker::StoreRecordSource source(store, covenant);
  return analysis::AnalysisEngine(&source).Run(spec, prices, options);
}

// The record an exact release of `result` for `spec_yaml` leaves in the release history, every
// cell published.
v1::ReleaseRecord ExactReleaseRecordOf(const analysis::AnalysisResult& result,
                                       const std::string& spec_yaml) {
  v1::ReleaseRecord record;
  record.set_analysis("engine-test");
  record.set_mode(v1::RELEASE_MODE_EXACT);
  record.set_recipient("ru");
  record.set_spec_name("old.yaml");
  record.set_spec_yaml(spec_yaml);
  record.set_spec_sha256(Sha256Hex(spec_yaml));
  for (const analysis::PublishedCell& cell : result.count_cells) {
    record.add_count_values(cell.value);
    record.add_count_published(true);
  }
  for (const analysis::PublishedCell& cell : result.sum_cells) {
    record.add_sum_values(cell.value);
    record.add_sum_published(true);
  }
  for (v1::DataVersion& version : linker::DataVersionOf(result))
    *record.add_data_version() = version;
  return record;
}

class AnalysisEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    world_ = new World(World::Make());
    absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store =
        linker::LinkerStore::Open(dir_->path() / "db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = store->release();
    absl::StatusOr<Secret> key = Secret::Random(32);
    ASSERT_TRUE(key.ok());
    key_ = new Secret(std::move(*key));
    StoreWriter writer(store_, key_);
    AddPeriodRegister(*world_, kCovenant, &writer);
    AddSnapshotRegister(*world_, kCovenant, &writer);
    AddRecords(*world_, kCovenant, &writer);
    // Another covenant whose register delivers the first day at an address as an integer.
    AddPeriodRegister(*world_, "typed", &writer, v1::ATTRIBUTE_TYPE_INTEGER);
    AddRecords(*world_, "typed", &writer);
    // Covenants of one scenario each, so that their releases do not meet.
    for (const char* id : {"price-by-twice", "price-by-filters", "price-by-narrow", "history",
                           "legacy-fields", "legacy-record", "price-restored"}) {
      AddPeriodRegister(*world_, id, &writer);
      AddRecords(*world_, id, &writer);
    }
    // A second police run whose mapping has one code more, without a price.
    AddPeriodRegister(*world_, "unpriced", &writer);
    AddRecords(*world_, "unpriced", &writer);
    writer.Add(
        "unpriced", "politie",
        {Attribute("feit", v1::ATTRIBUTE_TYPE_CATEGORY, CodesWithAnUnpricedOne()),
         Attribute("pleegdatum", v1::ATTRIBUTE_TYPE_DATE)},
        {{world_->persons[0].token, RecordOf("", {CodeValue(150), DateValue(Day(2014, 3, 1))})}});
    // Snapshot registers delivered for periods ending on 2014-12-31 and, in a second run,
    // on 2014-06-30.
    writer.SetPeriod("2014-01-01", "2014-12-31");
    for (const char* id : {"snapshot-dated", "snapshot-mixed"}) {
      AddSnapshotRegister(*world_, id, &writer);
      AddRecords(*world_, id, &writer);
    }
    writer.SetPeriod("2014-01-01", "2014-06-30");
    AddSnapshotRegister(*world_, "snapshot-mixed", &writer);
    writer.SetPeriod("", "");
    AddRangeRecords(*world_, &writer);
    absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(PricesCsv(), "prices.csv");
    ASSERT_TRUE(prices.ok()) << prices.status();
    prices_ = new analysis::PriceTable(std::move(*prices));
  }
  static void TearDownTestSuite() {
    delete prices_;
    delete key_;
    delete store_;
    delete world_;
    delete dir_;
  }

  absl::StatusOr<analysis::AnalysisResult> Run(const std::string& yaml) {
    absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
    if (!spec.ok()) return spec.status();
    if (absl::Status s = analysis::ResolveCostBenefitPrices(&*spec, *prices_); !s.ok()) return s;
    return RunEngine(store_, kCovenant, *spec, *prices_);
  }

  // Households on 2014-12-31 where some member in scope satisfies `holds`, per wijk.
  template <typename Test>
  std::map<int, int> HouseholdsWhere(const Test& holds) const {
    std::map<size_t, bool> hit;
    for (const Person& p : world_->persons) {
      if (!world_->Member(p)) continue;
      hit[p.household] = hit[p.household] || holds(p);
    }
    std::map<int, int> per_wijk;
    for (const auto& [household, yes] : hit) {
      if (yes) ++per_wijk[world_->wijk[household]];
    }
    return per_wijk;
  }

  static test::TempDir* dir_;
  static World* world_;
  static linker::LinkerStore* store_;
  static Secret* key_;
  static analysis::PriceTable* prices_;
};
test::TempDir* AnalysisEngineTest::dir_ = nullptr;
World* AnalysisEngineTest::world_ = nullptr;
linker::LinkerStore* AnalysisEngineTest::store_ = nullptr;
Secret* AnalysisEngineTest::key_ = nullptr;
analysis::PriceTable* AnalysisEngineTest::prices_ = nullptr;

double Cell(const analysis::AnalysisResult& result, const std::string& table,
            const std::string& row, const std::string& column) {
  const analysis::ResultTable* t = result.FindTable(table);
  EXPECT_NE(t, nullptr) << table;
  if (t == nullptr) return -1;
  const analysis::ResultCell* cell = t->Find(row, column);
  EXPECT_NE(cell, nullptr) << table << " " << row << " " << column;
  return cell == nullptr ? -1 : cell->value;
}

bool OffenceIn2014(const Person& p, int code = -1) {
  for (const auto& [k, day] : p.offences) {
    if ((code < 0 || k == code) && day >= Day(2014, 1, 1) && day <= Day(2014, 12, 31)) return true;
  }
  return false;
}

TEST_F(AnalysisEngineTest, SnapshotRegisterGivesWhatAddressPeriodsGiveOnItsDate) {
  absl::StatusOr<analysis::AnalysisResult> periods = Run(CountsSpec(kPeriodRegister, "", ""));
  ASSERT_TRUE(periods.ok()) << periods.status();
  absl::StatusOr<analysis::AnalysisResult> snapshot = Run(CountsSpec(
      kSnapshotRegister, "  moved: {dataset: brp_snapshot, where: {verhuizingen: {at_least: 2}}}\n",
      "      - {label: moved, count: moved}\n"));
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();

  const std::map<int, int> households = HouseholdsWhere([](const Person&) { return true; });
  const std::map<int, int> movers = HouseholdsWhere([](const Person& p) { return p.moves >= 2; });
  const std::map<int, int> offenders =
      HouseholdsWhere([](const Person& p) { return OffenceIn2014(p); });
  const std::map<int, int> cared =
      HouseholdsWhere([](const Person& p) { return p.care_cents > 0; });
  const World& w = *world_;
  const std::map<int, int> adult_offenders =
      HouseholdsWhere([&w](const Person& p) { return w.Adult(p) && OffenceIn2014(p); });
  int total = 0;
  for (int wijk = 0; wijk < 3; ++wijk) {
    const std::string row = WijkCodes()[static_cast<size_t>(wijk)];
    SCOPED_TRACE(row);
    ASSERT_GT(households.at(wijk), 50);
    total += households.at(wijk);
    EXPECT_EQ(Cell(*periods, "per_area", row, "n"), households.at(wijk));
    EXPECT_EQ(Cell(*periods, "per_area", row, "moves"), movers.at(wijk));
    EXPECT_EQ(Cell(*periods, "per_area", row, "offence"), offenders.at(wijk));
    EXPECT_EQ(Cell(*periods, "per_area", row, "adult_offence"), adult_offenders.at(wijk));
    EXPECT_EQ(Cell(*periods, "per_area", row, "care"), cared.at(wijk));
    EXPECT_EQ(Cell(*snapshot, "per_area", row, "moved"), movers.at(wijk));
  }
  EXPECT_EQ(Cell(*periods, "per_area", "all", "n"), total);
  // Cell by cell, the snapshot gives what the address periods give on the snapshot date.
  const analysis::ResultTable* a = periods->FindTable("per_area");
  const analysis::ResultTable* b = snapshot->FindTable("per_area");
  ASSERT_EQ(a->rows.size(), b->rows.size());
  for (size_t r = 0; r < a->rows.size(); ++r) {
    for (size_t c = 0; c < a->rows[r].cells.size(); ++c) {
      EXPECT_EQ(a->rows[r].cells[c].value, b->rows[r].cells[c].value)
          << a->rows[r].label << " " << a->columns[c];
    }
  }
  EXPECT_GT(Cell(*periods, "per_area", "all", "families"), 0);
}

TEST_F(AnalysisEngineTest, AStudyOfMoreThan64IndicatorsRuns) {
  std::string indicators;
  std::string any;
  for (int k = 0; k < kOffenceCodes; ++k) {
    indicators += fmt::format(
        "  {}: {{dataset: politie, where: {{feit: [{}]}}, date: pleegdatum}}\n", Code(k), Code(k));
    any += (k == 0 ? "" : ", ") + Code(k);
  }
  std::string yaml = CountsSpec(kPeriodRegister, indicators, "");
  yaml = Replace(yaml, "tables:\n",
                 "flags:\n  any_offence: {any: [" + any +
                     "]}\n"
                     "  late_offence: {any: [f100, f149], none: [f000]}\ntables:\n");
  std::string columns =
      "      - {label: any_offence, count: any_offence}\n"
      "      - {label: late_offence, count: late_offence}\n";
  for (int k : {0, 63, 64, 65, 127, 128, 149}) {
    columns += fmt::format("      - {{label: {}, count: {}}}\n", Code(k), Code(k));
  }
  absl::StatusOr<analysis::AnalysisResult> result = Run(yaml + columns);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::map<int, int> offenders =
      HouseholdsWhere([](const Person& p) { return OffenceIn2014(p); });
  for (int wijk = 0; wijk < 3; ++wijk) {
    const std::string row = WijkCodes()[static_cast<size_t>(wijk)];
    SCOPED_TRACE(row);
    EXPECT_EQ(Cell(*result, "per_area", row, "any_offence"), offenders.at(wijk));
    for (int k : {0, 63, 64, 65, 127, 128, 149}) {
      const std::map<int, int> expected =
          HouseholdsWhere([k](const Person& p) { return OffenceIn2014(p, k); });
      EXPECT_EQ(Cell(*result, "per_area", row, Code(k)),
                expected.contains(wijk) ? expected.at(wijk) : 0)
          << Code(k);
    }
  }
  // A flag over indicators in different words of the pattern, per household.
  std::map<size_t, std::array<bool, 3>> seen;  // f100 or f149, f000
  for (const Person& p : world_->persons) {
    if (!world_->Member(p)) continue;
    auto& s = seen[p.household];
    s[0] = s[0] || OffenceIn2014(p, 100) || OffenceIn2014(p, 149);
    s[1] = s[1] || OffenceIn2014(p, 0);
  }
  int late = 0;
  for (const auto& [household, s] : seen) late += s[0] && !s[1] ? 1 : 0;
  EXPECT_GT(late, 0);
  EXPECT_EQ(Cell(*result, "per_area", "all", "late_offence"), late);
}

std::string CostsSpec(const std::string& items) {
  return "analysis: engine-costs\nreference_dates: [2014-12-31]\n" + std::string(kPeriodRegister) +
         "populations:\n  households: {}\n"
         "indicators:\n"
         "  moves: {moves_at_least: 2}\n"
         "  offence: {dataset: politie, date: pleegdatum}\n"
         "  care: {dataset: zorg, year: jaar}\n"
         "prices: prices.csv\n"
         "costs:\n  items:\n" +
         items +
         "tables:\n"
         "  - {name: by_item, kind: costs, population: households, total: total,\n"
         "     columns: [{label: all}]}\n"
         "  - {name: by_payer, kind: costs, population: households, rows: payer, total: total,\n"
         "     columns: [{label: all}]}\n";
}

constexpr char kCostItems[] =
    "    offences: {indicator: offence, volume: records, price_by: feit, payer: justice}\n"
    "    care: {indicator: care, volume: amount, amount: kosten, payer: insurer, in_total: false}\n"
    "    moving: {indicator: moves, volume: units, prices: [moving_household], payer: city}\n";

TEST_F(AnalysisEngineTest, CostsPricedByCodeAndItemsApartFromTheTotal) {
  absl::StatusOr<analysis::AnalysisResult> result = Run(CostsSpec(kCostItems));
  ASSERT_TRUE(result.ok()) << result.status();
  // Independently, in cents.
  int64_t offences = 0, care = 0;
  std::map<size_t, bool> moving;
  for (const Person& p : world_->persons) {
    if (!world_->Member(p)) continue;
    for (const auto& [k, day] : p.offences) {
      if (day >= Day(2014, 1, 1)) offences += std::llround(OffencePrice(k) * 100);
    }
    care += p.care_cents;
    moving[p.household] = moving[p.household] || p.moves >= 2;
  }
  int64_t movers = 0;
  for (const auto& [household, yes] : moving) movers += yes ? 1 : 0;
  const int64_t moving_cents = movers * 51240;
  ASSERT_GT(offences, 0);
  ASSERT_GT(care, 0);
  auto cents = [](double euro) { return std::llround(euro * 100); };
  EXPECT_EQ(cents(Cell(*result, "by_item", "offences", "all_eur")), offences);
  EXPECT_EQ(cents(Cell(*result, "by_item", "care", "all_eur")), care);
  EXPECT_EQ(cents(Cell(*result, "by_item", "moving", "all_eur")), moving_cents);
  EXPECT_EQ(cents(Cell(*result, "by_item", "total", "all_eur")), offences + moving_cents)
      << "care is shown, not summed";
  // By payer: the payers of the total, then the items apart, then the total.
  const analysis::ResultTable* by_payer = result->FindTable("by_payer");
  ASSERT_NE(by_payer, nullptr);
  std::vector<std::string> rows;
  for (const analysis::ResultRow& row : by_payer->rows) rows.push_back(row.label);
  EXPECT_THAT(rows, ::testing::ElementsAre("households", "justice", "city", "care", "total"));
  EXPECT_EQ(cents(Cell(*result, "by_payer", "justice", "all_eur")), offences);
  EXPECT_EQ(cents(Cell(*result, "by_payer", "care", "all_eur")), care);
  EXPECT_EQ(cents(Cell(*result, "by_payer", "total", "all_eur")), offences + moving_cents);
}

// Where a spec's text sits, for the expected messages.
std::string At(const std::string& yaml, const std::string& text, const std::string& path) {
  const size_t at = yaml.find(text);
  EXPECT_NE(at, std::string::npos) << text;
  const size_t line_start = yaml.rfind('\n', at) + 1;
  const int line =
      1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + static_cast<long>(at), '\n'));
  return fmt::format("spec.yaml:{}:{}: {}: ", line, at - line_start + 1, path);
}

TEST_F(AnalysisEngineTest, ASpecThatDoesNotFitTheDeliveriesIsRefusedWithItsPlace) {
  auto check = [&](const std::string& yaml, const std::string& covenant) {
    absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status();
    return spec.ok() ? linker::CheckSpecFitsDeliveries(*spec, *prices_, *store_, covenant)
                     : spec.status();
  };
  const std::string good = CountsSpec(kPeriodRegister, "", "");
  EXPECT_TRUE(check(good, kCovenant).ok()) << check(good, kCovenant);
  EXPECT_TRUE(check(CostsSpec(kCostItems), kCovenant).ok());

  // An integer as the first day at an address.
  absl::Status status = check(good, "typed");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(good, "adres_van", "register.address_from") +
                         "dataset 'brp' delivers 'adres_van' as an integer, but this use needs a "
                         "date"));
  // A category as a birth date.
  std::string yaml = Replace(good, "birth_date: geboortedatum", "birth_date: wijk");
  status = check(yaml, kCovenant);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(yaml, "wijk, area", "register.birth_date") +
                         "dataset 'brp' delivers 'wijk' as a category, but this use needs a date"));
  // Bounds on a category.
  yaml = Replace(good, "offence: {dataset: politie, date: pleegdatum}",
                 "offence: {dataset: politie, where: {feit: {at_least: 2}}, date: pleegdatum}");
  status = check(yaml, kCovenant);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(yaml, "feit: {at_least", "indicators.offence.where.feit") +
                         "dataset 'politie' delivers 'feit' as a category, but this use needs an "
                         "integer or an amount or a year"));
  // Actual amounts from a date.
  yaml = Replace(CostsSpec(kCostItems), "amount: kosten", "amount: jaar");
  status = check(yaml, kCovenant);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(yaml, "jaar, payer: insurer", "costs.items.care.amount") +
                         "dataset 'zorg' delivers 'jaar' as a year"));
  // A code delivered without a price.
  yaml = Replace(CostsSpec(kCostItems), "offence: {dataset: politie, date: pleegdatum}",
                 "offence: {dataset: politie, date: pleegdatum}\n  theft: {dataset: politie, "
                 "where: {feit: [f001, f002]}, date: pleegdatum}");
  EXPECT_TRUE(check(yaml, kCovenant).ok()) << "only the codes that count need a price";
  analysis::PriceTable fewer = *prices_;
  fewer.items.erase("f007");
  absl::StatusOr<analysis::AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(CostsSpec(kCostItems), "spec.yaml");
  ASSERT_TRUE(spec.ok());
  status = linker::CheckSpecFitsDeliveries(*spec, fewer, *store_, kCovenant);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(CostsSpec(kCostItems), "feit, payer", "costs.items.offences.price_by") +
                         "dataset 'politie' delivers 1 code of 'feit' without a unit price in "
                         "the prices file (f007)"));
  // A missing attribute.
  yaml = Replace(good, "year: jaar", "year: jaartal");
  status = check(yaml, kCovenant);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(yaml, "jaartal", "indicators.care.year") +
                         "dataset 'zorg' as delivered has no attribute 'jaartal'"));
}

policy::Covenant QueryCovenant(const std::string& id,
                               const std::vector<std::string>& approved_specs) {
  policy::Covenant covenant;
  covenant.id = id;
  policy::CovenantParty research;
  research.name = "ru";
  research.roles = {"research_unit"};
  covenant.parties["ru"] = research;
  covenant.analysis.min_cell = 5;
  for (const std::string& yaml : approved_specs) {
    policy::ApprovedAnalysis approved;
    approved.name = "engine-test";
    approved.spec_sha256 = Sha256Hex(yaml);
    covenant.analysis.approved.push_back(approved);
  }
  return covenant;
}

// Approves `spec` under `covenant` with each of `prices` (the prices file's text).
void ApproveWithPrices(policy::Covenant* covenant, const std::string& spec,
                       std::initializer_list<const std::string*> prices) {
  for (const std::string* text : prices) {
    policy::ApprovedAnalysis approved;
    approved.name = "engine-test";
    approved.spec_sha256 = Sha256Hex(spec);
    approved.prices_path = "prices.csv";
    approved.prices_sha256 = Sha256Hex(*text);
    covenant->analysis.approved.push_back(approved);
  }
}

v1::QueryRequest Request(const std::string& yaml) {
  v1::QueryRequest request;
  request.set_spec_name("spec.yaml");
  request.set_spec_yaml(yaml);
  return request;
}

TEST_F(AnalysisEngineTest, ARefusedQuerySpendsNoRelease) {
  const std::string good = CountsSpec(kPeriodRegister, "", "");
  std::string too_many;
  for (size_t k = 0; k <= analysis::EngineLimits::kIndicators; ++k) {
    too_many += fmt::format("  i{}: {{dataset: politie, date: pleegdatum}}\n", k);
  }
  const std::string over_limit = CountsSpec(kPeriodRegister, too_many, "");
  const std::string unknown_code =
      Replace(good, "offence: {dataset: politie, date: pleegdatum}",
              "offence: {dataset: politie, where: {feit: [f999]}, date: pleegdatum}");

  // The register of covenant "typed" delivers adres_van as an integer: the approved spec is
  // refused there, naming the spec's line and column, and nothing is spent.
  policy::Covenant typed = QueryCovenant("typed", {good, over_limit, unknown_code});
  linker::QueryRunner typed_runner(&typed, key_, store_);
  absl::StatusOr<v1::Release> release = typed_runner.Run("ru", Request(good));
  ASSERT_FALSE(release.ok());
  EXPECT_EQ(release.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(release.status().message()),
              StartsWith(At(good, "adres_van", "register.address_from")));
  // Other refusals: an engine limit, a code not delivered, a spec not approved.
  policy::Covenant covenant = QueryCovenant(kCovenant, {good, over_limit, unknown_code});
  linker::QueryRunner runner(&covenant, key_, store_);
  release = runner.Run("ru", Request(over_limit));
  ASSERT_FALSE(release.ok());
  EXPECT_THAT(std::string(release.status().message()), HasSubstr("not a covenant rule"));
  release = runner.Run("ru", Request(unknown_code));
  ASSERT_FALSE(release.ok());
  EXPECT_THAT(std::string(release.status().message()),
              StartsWith(At(unknown_code, "feit: [f999]", "indicators.offence.where.feit")));
  release = runner.Run("ru", Request(good + "title: not approved\n"));
  ASSERT_FALSE(release.ok());
  EXPECT_EQ(release.status().code(), absl::StatusCode::kPermissionDenied);
  for (const char* id : {"typed", kCovenant}) {
    absl::StatusOr<int64_t> spent = store_->ReleasesSpent(id);
    ASSERT_TRUE(spent.ok());
    EXPECT_EQ(*spent, 0) << id;
    absl::StatusOr<std::vector<std::string>> history = store_->ReleaseHistory(id);
    ASSERT_TRUE(history.ok());
    EXPECT_TRUE(history->empty()) << id;
  }
  // The approved spec on data that fits is released, and spends one.
  release = runner.Run("ru", Request(good));
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(*store_->ReleasesSpent(kCovenant), 1);
}

TEST_F(AnalysisEngineTest, KoppelQueryRefusesASpecBeyondAnEngineLimitBeforeConnecting) {
  std::string indicators;
  for (size_t k = 0; k <= analysis::EngineLimits::kIndicators; ++k) {
    indicators += fmt::format("  i{}: {{dataset: politie, date: pleegdatum}}\n", k);
  }
  const std::filesystem::path spec = dir_->path() / "too-many.yaml";
  test::WriteFile(spec, CountsSpec(kPeriodRegister, indicators, ""));
  std::filesystem::create_directories(dir_->path() / "no-pki");  // never read: refused first
  test::ProcessResult query =
      test::RunProcess({std::string(KOPPEL_BIN_DIR) + "/koppel", "query", "--spec", spec.string(),
                        "--out", (dir_->path() / "out").string(), "--linker", "127.0.0.1:1",
                        "--pki", (dir_->path() / "no-pki").string(), "--name", "ru"});
  EXPECT_EQ(query.exit_code, 3) << query.err;
  EXPECT_THAT(query.err, HasSubstr("too-many.yaml:9:3: indicators: the spec defines 517 "
                                   "indicators; the analysis engine supports at most 512"));
  EXPECT_THAT(query.err, HasSubstr("not a covenant rule"));
  EXPECT_THAT(query.err, ::testing::Not(HasSubstr("privacy officer")));
}

// The costs of offences per area, priced by code.
std::string PriceByAreaSpec() {
  return "analysis: engine-test\nreference_dates: [2014-12-31]\n" + std::string(kPeriodRegister) +
         "household_types:\n  family: {adults: {min: 1}, children: {min: 1}}\n"
         "populations:\n  households: {}\n"
         "indicators:\n"
         "  offence: {dataset: politie, date: pleegdatum}\n"
         "  care: {dataset: zorg, year: jaar}\n"
         "prices: prices.csv\n"
         "costs:\n  items:\n"
         "    offences: {indicator: offence, volume: records, price_by: feit, payer: justice}\n"
         "tables:\n"
         "  - {name: by_area, kind: costs, population: households, total: total,\n"
         "     columns: [{label: all}, {label: families, where: {household_type: family}},\n"
         "               {label: cared, where: {all: [care]}}]}\n";
}

// Two exact releases of one price_by spec whose prices files differ in one code's price would
// give that code's records per column by difference: the same volume priced differently.
TEST_F(AnalysisEngineTest, ASecondReleasePricingACodeDifferentlyIsRefused) {
  const std::string spec = PriceByAreaSpec();
  const std::string first_prices = PricesCsv();
  const std::string second_prices =
      Replace(first_prices, fmt::format("f007,per offence,{:.2f}", OffencePrice(7)),
              fmt::format("f007,per offence,{:.2f}", OffencePrice(7) + 1000));
  ASSERT_NE(first_prices, second_prices);
  policy::Covenant covenant = QueryCovenant("price-by-twice", {});
  ApproveWithPrices(&covenant, spec, {&first_prices, &second_prices});
  linker::QueryRunner runner(&covenant, key_, store_);
  auto request = [&](const std::string& prices) {
    v1::QueryRequest r = Request(spec);
    (*r.mutable_files())["prices.csv"] = prices;
    return r;
  };
  absl::StatusOr<v1::Release> first = runner.Run("ru", request(first_prices));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<v1::Release> second = runner.Run("ru", request(second_prices));
  ASSERT_FALSE(second.ok()) << "a second release reveals f007's records per column";
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("prices the same volume as cost item 'offences'"));
  EXPECT_EQ(*store_->ReleasesSpent("price-by-twice"), 1);
  // The same prices again are the same item, released.
  absl::StatusOr<v1::Release> again = runner.Run("ru", request(first_prices));
  EXPECT_TRUE(again.ok()) << again.status();
}

// Issue 16, release history across a restore: the release made after a backup comes back into
// the history from its `release` audit entry (as `koppel-linker restore` puts it into the
// restore note), so a second release that differences against it is refused after the restore
// exactly as without one (ASecondReleasePricingACodeDifferentlyIsRefused).
TEST_F(AnalysisEngineTest, AReleaseLostByARestoreStillBlocksTheReleaseThatDifferencesIt) {
  const std::string id = "price-restored";
  const std::string spec = PriceByAreaSpec();
  const std::string first_prices = PricesCsv();
  const std::string second_prices =
      Replace(first_prices, fmt::format("f007,per offence,{:.2f}", OffencePrice(7)),
              fmt::format("f007,per offence,{:.2f}", OffencePrice(7) + 1000));
  policy::Covenant covenant = QueryCovenant(id, {});
  ApproveWithPrices(&covenant, spec, {&first_prices, &second_prices});
  linker::QueryRunner runner(&covenant, key_, store_);
  auto request = [&](const std::string& prices) {
    v1::QueryRequest r = Request(spec);
    (*r.mutable_files())["prices.csv"] = prices;
    return r;
  };
  const std::filesystem::path point = dir_->path() / "db/backup.tmp-restored" / id;
  ASSERT_TRUE(store_->Checkpoint(id, point).ok());
  linker::SealedRelease recorded;
  absl::StatusOr<v1::Release> first = runner.Run("ru", request(first_prices), &recorded);
  ASSERT_TRUE(first.ok()) << first.status();
  nlohmann::json audited = nlohmann::json::object();
  linker::AddHistoryEntry(recorded, &audited);
  ASSERT_TRUE(audited.contains("history_entry")) << audited;
  const std::vector<std::string> history_before = *store_->ReleaseHistory(id);

  // The store is lost and restored from the backup, which holds no release.
  ASSERT_TRUE(store_->DeleteCovenant(id).ok());
  std::filesystem::rename(point, dir_->path() / "db/covenants" / id);
  {
    nlohmann::json note = {{"releases_at_least", 1}, {"backup_time", "2026-12-07T05:00:00Z"}};
    note["history"] = {
        {{"sequence", audited["history_sequence"]}, {"entry", audited["history_entry"]}}};
    std::ofstream(dir_->path() / "db/covenants" / id / linker::LinkerStore::kRestoreNoteFile)
        << note.dump() << "\n";
  }
  ASSERT_TRUE(store_->OpenCovenant(id, *key_).ok());
  EXPECT_TRUE(*store_->ReleaseHistory(id) == history_before) << "the history is not as before";
  EXPECT_EQ(*store_->ReleasesSpent(id), 1);

  absl::StatusOr<v1::Release> second = runner.Run("ru", request(second_prices));
  ASSERT_FALSE(second.ok()) << "a second release reveals f007's records per column";
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("prices the same volume as cost item 'offences'"));
  EXPECT_EQ(*store_->ReleasesSpent(id), 1);
  absl::StatusOr<v1::Release> again = runner.Run("ru", request(first_prices));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->metadata().earlier_releases_checked(), 1);
  for (const std::string& warning : again->metadata().warnings()) {
    EXPECT_THAT(warning, ::testing::Not(HasSubstr("could not be checked")));
  }
}

// The same records described another way (a filter that lets every code through) are still the
// same volume: pricing one code differently is refused. A price of a code the filter leaves out
// is not part of what is released, so changing it does not block a repeat.
TEST_F(AnalysisEngineTest, APriceByVolumeIsTheSameWhateverTheFilterOnItsCodesSays) {
  const std::string spec = PriceByAreaSpec();
  std::vector<std::string> every_code;
  for (int c = 0; c < 150; ++c) every_code.push_back(fmt::format("f{:03d}", c));
  const std::string every_code_spec =
      Replace(spec, "offence: {dataset: politie, date: pleegdatum}",
              fmt::format("offence: {{dataset: politie, date: pleegdatum, where: {{feit: [{}]}}}}",
                          fmt::join(every_code, ", ")));
  const std::string two_codes_spec =
      Replace(spec, "offence: {dataset: politie, date: pleegdatum}",
              "offence: {dataset: politie, date: pleegdatum, where: {feit: [f001, f002]}}");
  ASSERT_NE(every_code_spec, spec);
  ASSERT_NE(two_codes_spec, spec);
  const std::string first_prices = PricesCsv();
  const std::string f007_changed =
      Replace(first_prices, fmt::format("f007,per offence,{:.2f}", OffencePrice(7)),
              fmt::format("f007,per offence,{:.2f}", OffencePrice(7) + 1000));
  policy::Covenant covenant = QueryCovenant("price-by-filters", {});
  for (const std::string* text : {&spec, &every_code_spec, &two_codes_spec}) {
    ApproveWithPrices(&covenant, *text, {&first_prices, &f007_changed});
  }
  linker::QueryRunner runner(&covenant, key_, store_);
  auto request = [&](const std::string& text, const std::string& prices) {
    v1::QueryRequest r = Request(text);
    (*r.mutable_files())["prices.csv"] = prices;
    return r;
  };
  absl::StatusOr<v1::Release> first = runner.Run("ru", request(spec, first_prices));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<v1::Release> reworded = runner.Run("ru", request(every_code_spec, f007_changed));
  ASSERT_FALSE(reworded.ok())
      << "every code listed is the same records: f007's count by difference";
  EXPECT_THAT(std::string(reworded.status().message()),
              HasSubstr("prices the same volume as cost item 'offences'"));
  // Two codes only: f007 is not priced, so its price is not part of this item.
  absl::StatusOr<v1::Release> narrow = runner.Run("ru", request(two_codes_spec, first_prices));
  ASSERT_FALSE(narrow.ok()) << "the two codes are a subset of the first release's codes";
  EXPECT_EQ(*store_->ReleasesSpent("price-by-filters"), 1);
}

// A spec that prices only some codes can be released again with a prices file that changes a
// code it leaves out.
TEST_F(AnalysisEngineTest, APriceOfACodeTheFilterLeavesOutDoesNotBlockARepeat) {
  const std::string spec =
      Replace(PriceByAreaSpec(), "offence: {dataset: politie, date: pleegdatum}",
              "offence: {dataset: politie, date: pleegdatum, where: {feit: [f001, f002]}}");
  const std::string first_prices = PricesCsv();
  const std::string f007_changed =
      Replace(first_prices, fmt::format("f007,per offence,{:.2f}", OffencePrice(7)),
              fmt::format("f007,per offence,{:.2f}", OffencePrice(7) + 1000));
  policy::Covenant covenant = QueryCovenant("price-by-narrow", {});
  ApproveWithPrices(&covenant, spec, {&first_prices, &f007_changed});
  linker::QueryRunner runner(&covenant, key_, store_);
  for (const std::string* prices : {&first_prices, &f007_changed}) {
    v1::QueryRequest r = Request(spec);
    (*r.mutable_files())["prices.csv"] = *prices;
    absl::StatusOr<v1::Release> release = runner.Run("ru", r);
    EXPECT_TRUE(release.ok()) << release.status();
  }
}

// An earlier release made before specs were checked against the deliveries (here a category as
// the first day at an address, released as zeros) is recomputed as it was made: it does not
// block the covenant's later queries.
TEST_F(AnalysisEngineTest, AnEarlierReleaseOfAWrongTypedSpecStillRecomputes) {
  const std::string good = CountsSpec(kPeriodRegister, "", "");
  const std::string wrong = Replace(good, "address_from: adres_van", "address_from: wijk");
  absl::StatusOr<analysis::AnalysisSpec> wrong_spec =
      analysis::ParseAnalysisSpec(wrong, "old.yaml");
  ASSERT_TRUE(wrong_spec.ok()) << wrong_spec.status();
  ASSERT_FALSE(linker::CheckSpecFitsDeliveries(*wrong_spec, {}, *store_, "history").ok())
      << "a new query of the old spec is refused";
  analysis::EngineOptions as_made;
  as_made.check_attribute_use = false;
  absl::StatusOr<analysis::AnalysisResult> made =
      RunEngine(store_, "history", *wrong_spec, {}, as_made);
  ASSERT_TRUE(made.ok()) << made.status();
  v1::ReleaseRecord record = ExactReleaseRecordOf(*made, wrong);
  absl::StatusOr<linker::ReleaseHistory> history =
      linker::ReleaseHistory::Open(store_, "history", *key_);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_TRUE(history->Append(record).ok());

  policy::Covenant covenant = QueryCovenant("history", {good});
  linker::QueryRunner runner(&covenant, key_, store_);
  absl::StatusOr<v1::Release> release = runner.Run("ru", Request(good));
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(release->metadata().earlier_releases_checked(), 1);
  EXPECT_EQ(*store_->ReleasesSpent("history"), 2);
}

// For one version, releases and their records also fill the fields clients and linkers from
// before Timestamp, Date and presence read (docs/api.md, "Compatibility"); a record from then,
// with its time as text only, is named by that time when it cannot be recomputed.
TEST_F(AnalysisEngineTest, ReleasesFillTheLegacyFieldsAndOldRecordsAreNamedByTheirTime) {
  const std::string good = CountsSpec(kPeriodRegister, "", "");
  policy::Covenant covenant = QueryCovenant("legacy-fields", {good});  // no release budget
  linker::QueryRunner runner(&covenant, key_, store_);
  absl::StatusOr<v1::Release> release = runner.Run("ru", Request(good));
  ASSERT_TRUE(release.ok()) << release.status();
  const v1::ReleaseMetadata& meta = release->metadata();
  ASSERT_TRUE(meta.has_release_time());
  EXPECT_EQ(meta.legacy_released_at(), IsoTime(meta.release_time()));
  ASSERT_GT(meta.reference_dates_size(), 0);
  ASSERT_EQ(meta.legacy_reference_dates_size(), meta.reference_dates_size());
  for (int i = 0; i < meta.reference_dates_size(); ++i) {
    EXPECT_EQ(meta.legacy_reference_dates(i), IsoDate(meta.reference_dates(i)));
  }
  ASSERT_TRUE(meta.has_releases_left());
  EXPECT_EQ(meta.releases_left(), -1);  // unlimited, as clients from before presence read it
  absl::StatusOr<linker::ReleaseHistory> history =
      linker::ReleaseHistory::Open(store_, "legacy-fields", *key_);
  ASSERT_TRUE(history.ok()) << history.status();
  absl::StatusOr<std::vector<v1::ReleaseRecord>> records = history->Load();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].legacy_released_at(), meta.legacy_released_at());

  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(good, "old.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<analysis::AnalysisResult> made = RunEngine(store_, "legacy-record", *spec, {});
  ASSERT_TRUE(made.ok()) << made.status();
  v1::ReleaseRecord old = ExactReleaseRecordOf(*made, good);
  old.set_legacy_released_at("2024-05-01T10:00:00Z");
  ASSERT_GT(old.count_values_size(), 0);
  old.set_count_values(0, old.count_values(0) + 1);  // so that it does not recompute
  absl::StatusOr<linker::ReleaseHistory> old_history =
      linker::ReleaseHistory::Open(store_, "legacy-record", *key_);
  ASSERT_TRUE(old_history.ok()) << old_history.status();
  ASSERT_TRUE(old_history->Append(old).ok());
  policy::Covenant old_covenant = QueryCovenant("legacy-record", {good});
  linker::QueryRunner old_runner(&old_covenant, key_, store_);
  release = old_runner.Run("ru", Request(good));
  ASSERT_FALSE(release.ok());
  EXPECT_EQ(release.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(release.status().message()),
              HasSubstr("at 2024-05-01T10:00:00Z) cannot be recomputed"));
}

// A snapshot register's rows are members on the snapshot date only if the extract is of that
// date: every run's delivery period must end on it.
TEST_F(AnalysisEngineTest, ASnapshotDateTheRegisterWasNotDeliveredForIsRefused) {
  const std::string yaml = CountsSpec(kSnapshotRegister, "", "");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(linker::CheckSpecFitsDeliveries(*spec, {}, *store_, "snapshot-dated").ok())
      << linker::CheckSpecFitsDeliveries(*spec, {}, *store_, "snapshot-dated");

  const std::string june =
      Replace(Replace(yaml, "snapshot: 2014-12-31", "snapshot: 2014-06-30"),
              "reference_dates: [2014-12-31]", "reference_dates: [2014-06-30]");
  absl::StatusOr<analysis::AnalysisSpec> june_spec = analysis::ParseAnalysisSpec(june, "spec.yaml");
  ASSERT_TRUE(june_spec.ok()) << june_spec.status();
  absl::Status status = linker::CheckSpecFitsDeliveries(*june_spec, {}, *store_, "snapshot-dated");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(june, "2014-06-30, moves", "register.snapshot") +
                         "register 'brp_snapshot' run "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("was delivered for the period 2014-01-01 to 2014-12-31, which does not "
                        "end on the spec's snapshot date 2014-06-30"));

  // Runs of different dates under one snapshot spec: the one of another date is refused.
  status = linker::CheckSpecFitsDeliveries(*spec, {}, *store_, "snapshot-mixed");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("the period 2014-01-01 to 2014-06-30, which does not end on the spec's "
                        "snapshot date 2014-12-31"));
  // The query is refused before anything runs or is spent.
  policy::Covenant covenant = QueryCovenant("snapshot-mixed", {yaml});
  linker::QueryRunner runner(&covenant, key_, store_);
  absl::StatusOr<v1::Release> release = runner.Run("ru", Request(yaml));
  ASSERT_FALSE(release.ok());
  EXPECT_THAT(std::string(release.status().message()),
              StartsWith(At(yaml, "2014-12-31, moves", "register.snapshot")));
  EXPECT_EQ(*store_->ReleasesSpent("snapshot-mixed"), 0);
}

// A run that fits but for a code (priced by without a price, or filtered on and not delivered)
// refuses the spec rather than silently dropping out of every indicator of its dataset.
TEST_F(AnalysisEngineTest, ARunWithAnUnpricedOrMissingCodeRefusesTheSpec) {
  const std::string costs = CostsSpec(kCostItems);
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(costs, "spec.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::Status status = linker::CheckSpecFitsDeliveries(*spec, *prices_, *store_, "unpriced");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(costs, "feit, payer", "costs.items.offences.price_by") +
                         "dataset 'politie' delivers 1 code of 'feit' without a unit price"));
  absl::StatusOr<analysis::AnalysisResult> result = RunEngine(store_, "unpriced", *spec, *prices_);
  ASSERT_FALSE(result.ok()) << "the second police run would be left out of every indicator";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("dataset 'politie' delivers 1 code of 'feit' without a unit price"));

  // The first police run lacks the code the spec filters on.
  const std::string filtered =
      Replace(CountsSpec(kPeriodRegister, "", ""), "offence: {dataset: politie, date: pleegdatum}",
              "offence: {dataset: politie, where: {feit: [f999]}, date: pleegdatum}");
  absl::StatusOr<analysis::AnalysisSpec> filtered_spec =
      analysis::ParseAnalysisSpec(filtered, "spec.yaml");
  ASSERT_TRUE(filtered_spec.ok()) << filtered_spec.status();
  status = linker::CheckSpecFitsDeliveries(*filtered_spec, {}, *store_, "unpriced");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(At(filtered, "feit: [f999]", "indicators.offence.where.feit") +
                         "dataset 'politie' has no code 'f999'"));
  result = RunEngine(store_, "unpriced", *filtered_spec, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
}

// Indicator patterns of 2 words (65-128 indicators) and 8 words (257-512), with columns and a
// flag at the words' boundaries; one indicator more than 512 is refused.
TEST_F(AnalysisEngineTest, IndicatorPatternsOfTwoAndEightWords) {
  // CountsSpec's 4 indicators come first: i<k> is bit 4 + k.
  auto spec_of = [](int extra, const std::vector<int>& columns, int any_a, int any_b, int none) {
    std::string indicators;
    for (int k = 0; k < extra; ++k) {
      indicators +=
          fmt::format("  i{}: {{dataset: politie, where: {{feit: [{}]}}, date: pleegdatum}}\n", k,
                      Code(k % kOffenceCodes));
    }
    std::string yaml = CountsSpec(kPeriodRegister, indicators, "");
    yaml = Replace(yaml, "tables:\n",
                   fmt::format("flags:\n  across: {{any: [i{}, i{}], none: [i{}]}}\ntables:\n",
                               any_a, any_b, none));
    std::string more = "      - {label: across, count: across}\n";
    for (int k : columns) more += fmt::format("      - {{label: i{}, count: i{}}}\n", k, k);
    return yaml + more;
  };
  struct Width {
    int extra;                 // indicators after the first 4
    std::vector<int> columns;  // i<k> at the words' edges (bits 63/64, 127, 255/256, 447/448, 511)
    int any_a, any_b, none;
  };
  for (const Width& width : {Width{100, {59, 60, 99}, 59, 99, 60},
                             Width{508, {0, 59, 60, 123, 251, 252, 443, 444, 507}, 60, 507, 444}}) {
    SCOPED_TRACE(4 + width.extra);
    absl::StatusOr<analysis::AnalysisResult> result =
        Run(spec_of(width.extra, width.columns, width.any_a, width.any_b, width.none));
    ASSERT_TRUE(result.ok()) << result.status();
    auto code = [](int k) { return k % kOffenceCodes; };
    for (int wijk = 0; wijk < 3; ++wijk) {
      const std::string row = WijkCodes()[static_cast<size_t>(wijk)];
      for (int k : width.columns) {
        const std::map<int, int> expected =
            HouseholdsWhere([&](const Person& p) { return OffenceIn2014(p, code(k)); });
        EXPECT_EQ(Cell(*result, "per_area", row, fmt::format("i{}", k)),
                  expected.contains(wijk) ? expected.at(wijk) : 0)
            << row << " i" << k;
      }
    }
    std::map<size_t, std::array<bool, 2>> seen;
    for (const Person& p : world_->persons) {
      if (!world_->Member(p)) continue;
      auto& s = seen[p.household];
      s[0] = s[0] || OffenceIn2014(p, code(width.any_a)) || OffenceIn2014(p, code(width.any_b));
      s[1] = s[1] || OffenceIn2014(p, code(width.none));
    }
    int across = 0;
    for (const auto& [household, s] : seen) across += s[0] && !s[1] ? 1 : 0;
    EXPECT_GT(across, 0);
    EXPECT_EQ(Cell(*result, "per_area", "all", "across"), across);
  }
  absl::StatusOr<analysis::AnalysisResult> over = Run(spec_of(509, {0}, 0, 1, 2));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(over.status().message()),
      HasSubstr("the spec defines 513 indicators; the analysis engine supports at most 512"));
}

// Everything a result says, atoms and units in an order of their own (the atoms' numbering
// follows the households' hash order), money as exact doubles.
std::vector<std::string> Everything(const analysis::AnalysisResult& result) {
  std::vector<std::string> lines;
  for (const analysis::ResultTable& table : result.tables) {
    for (const analysis::ResultRow& row : table.rows) {
      std::string line = table.name + " " + row.label;
      for (const analysis::ResultCell& cell : row.cells) {
        line += fmt::format(" {}:{:a}:{:a}:{}", static_cast<int>(cell.kind), cell.value,
                            cell.denominator, cell.sources.size());
      }
      lines.push_back(line);
    }
  }
  for (const auto* cells : {&result.count_cells, &result.sum_cells}) {
    for (const analysis::PublishedCell& cell : *cells) {
      lines.push_back(fmt::format("cell {:a} {} {} {} [{:a}]", cell.value, cell.contributors,
                                  cell.atoms.size(), cell.is_total, fmt::join(cell.largest, " ")));
    }
  }
  std::vector<std::string> atoms;
  const size_t groups = result.group_items.size();
  const size_t items = result.items.size();
  for (size_t a = 0; a < result.atoms.size(); ++a) {
    const analysis::AtomDescription& atom = result.atoms[a];
    std::string line = fmt::format("atom {} {} {} {} {} [{}]", atom.date, atom.area, atom.type,
                                   atom.households, atom.key_sum, fmt::join(atom.holds, " "));
    for (size_t g = 0; g < groups; ++g) {
      const analysis::SumAtomStats& stats = result.group_stats[a * groups + g];
      line += fmt::format(" g{}:{}:{}:[{:a}]", g, stats.contributors, stats.cents,
                          fmt::join(stats.largest, " "));
    }
    for (size_t i = 0; i < items; ++i) {
      const analysis::SumAtomStats& stats = result.sum_atom_stats[a * items + i];
      line += fmt::format(" i{}:{}:{}:[{:a}]", i, stats.contributors, stats.cents,
                          fmt::join(stats.largest, " "));
    }
    atoms.push_back(std::move(line));
  }
  std::sort(atoms.begin(), atoms.end());
  lines.insert(lines.end(), atoms.begin(), atoms.end());
  for (const analysis::ResultUnit& unit : result.units) {
    std::string line = fmt::format("unit {}", unit.day);  // in household order
    for (const auto& [item, cents] : unit.cents) line += fmt::format(" {}:{}", item, cents);
    lines.push_back(std::move(line));
  }
  lines.push_back(fmt::format("areas {}", fmt::join(result.area_codes, " ")));
  lines.push_back(fmt::format("records {}", result.records_read));
  for (const auto& [dataset, ids] : result.batches_read) {
    lines.push_back(fmt::format("batches {} {}", dataset, ids.size()));
  }
  for (const std::string& warning : result.warnings) lines.push_back("warning " + warning);
  for (const auto& [date, persons] : result.unplaced) {
    lines.push_back(fmt::format("unplaced {} {}", date, persons));
  }
  for (const analysis::CostItemDescription& item : result.items)
    lines.push_back("item " + item.definition);
  return lines;
}

TEST_F(AnalysisEngineTest, TokenRangesScannedAtOnceGiveWhatOneScanGives) {
  // Households straddle the ranges: their members' tokens fall in different quarters.
  std::map<size_t, std::set<int>> quarters;
  for (const Person& p : world_->persons) {
    quarters[p.household].insert(static_cast<uint8_t>(p.token[0]) / 64);
  }
  int straddling = 0;
  for (const auto& [household, in] : quarters) straddling += in.size() > 1 ? 1 : 0;
  ASSERT_GT(straddling, 50);

  const std::string yaml =
      "analysis: engine-ranges\nreference_dates: [2014-12-31, 2013-12-31]\n" +
      std::string(kPeriodRegister) +
      "household_types:\n  family: {adults: {min: 1}, children: {min: 1}}\n"
      "populations:\n  households: {}\n"
      "indicators:\n"
      "  moves: {moves_at_least: 2}\n"
      "  offence: {dataset: politie, date: pleegdatum}\n"
      "  care: {dataset: zorg, year: jaar}\n"
      "  benefit: {dataset: uitkering, year: jaar}\n"
      "  debt: {dataset: schuld, year: jaar}\n"
      "prices: prices.csv\n"
      "costs:\n  items:\n" +
      std::string(kCostItems) +
      "    benefits: {indicator: benefit, volume: amount, amount: bedrag, payer: city}\n"
      "    debts: {indicator: debt, volume: amount, amount: bedrag, payer: city}\n"
      "tables:\n"
      "  - name: per_area\n"
      "    population: households\n"
      "    rows: area\n"
      "    total: all\n"
      "    columns:\n"
      "      - {label: n}\n"
      "      - {label: n_2013, reference: 1}\n"
      "      - {label: families, where: {household_type: family}, percent: true}\n"
      "      - {label: offence, count: offence}\n"
      "      - {label: debt_2013, count: debt, reference: 1}\n"
      "      - {label: benefit, count: benefit, percent: true}\n"
      "  - {name: by_item, kind: costs, population: households, total: total,\n"
      "     columns: [{label: all}, {label: families, where: {household_type: family}}]}\n"
      "  - {name: by_payer, kind: costs, population: households, rows: payer, total: total,\n"
      "     columns: [{label: all}]}\n";
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto run = [&](int threads) {
    analysis::EngineOptions options;
    options.scan_threads = threads;
    options.keep_units = true;
    options.record_key = [](std::string_view key) { return static_cast<uint32_t>(key[1]) * 7u; };
    absl::StatusOr<analysis::AnalysisResult> result =
        RunEngine(store_, kRangesCovenant, *spec, *prices_, options);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? Everything(*result) : std::vector<std::string>{};
  };
  const std::vector<std::string> one = run(1);
  ASSERT_GT(one.size(), 100u);
  EXPECT_THAT(one, ::testing::Contains(HasSubstr("live in no household")));
  for (int threads : {2, 3, 4, 7, 64}) {
    SCOPED_TRACE(threads);
    const std::vector<std::string> many = run(threads);
    ASSERT_EQ(many.size(), one.size());
    for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(many[i], one[i]);
  }
}

TEST_F(AnalysisEngineTest, ABatchCommittedWhileTheRangesOpenTheirCursorsIsReadWholeOrNotAtAll) {
  constexpr char kConsistent[] = "consistent";
  StoreWriter writer(store_, key_);
  AddPeriodRegister(*world_, kConsistent, &writer);
  AddRecords(*world_, kConsistent, &writer);
  absl::StatusOr<analysis::AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(CountsSpec(kPeriodRegister, "", ""), "spec.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto run = [&](const analysis::EngineOptions& options) {
    absl::StatusOr<analysis::AnalysisResult> result =
        RunEngine(store_, kConsistent, *spec, *prices_, options);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : analysis::AnalysisResult{};
  };
  analysis::EngineOptions two_ranges;
  two_ranges.scan_threads = 2;
  const analysis::AnalysisResult before = run(two_ranges);
  ASSERT_EQ(before.batches_read.at("politie").size(), 1u);

  // An offence in 2014 for every person, so in both ranges, committed once the run has begun,
  // as the first range is about to open its cursors; the second range opens its own after.
  std::vector<std::pair<std::string, v1::Record>> offences;
  for (const Person& p : world_->persons) {
    offences.emplace_back(p.token, RecordOf("", {CodeValue(0), DateValue(Day(2014, 6, 1))}));
  }
  std::mutex mutex;
  std::condition_variable changed;
  bool committed = false;
  analysis::EngineOptions racing = two_ranges;
  racing.range_opening = [&](size_t range) {
    std::unique_lock<std::mutex> lock(mutex);
    if (range == 0 && !committed) {
      writer.Add(kConsistent, "politie",
                 {Attribute("feit", v1::ATTRIBUTE_TYPE_CATEGORY, OffenceCodes()),
                  Attribute("pleegdatum", v1::ATTRIBUTE_TYPE_DATE)},
                 offences);
      committed = true;
      changed.notify_all();
    } else {
      changed.wait(lock, [&] { return committed; });
    }
  };
  const analysis::AnalysisResult during = run(racing);
  ASSERT_TRUE(committed);
  // None of it: every range reads the store as it was when the run began.
  EXPECT_EQ(during.batches_read, before.batches_read);
  EXPECT_EQ(Everything(during), Everything(before));

  // All of it, in the next run.
  const analysis::AnalysisResult after = run(two_ranges);
  EXPECT_EQ(after.batches_read.at("politie").size(), 2u);
  const std::map<int, int> households = HouseholdsWhere([](const Person&) { return true; });
  for (const auto& [wijk, n] : households) {
    EXPECT_EQ(Cell(after, "per_area", WijkCodes()[static_cast<size_t>(wijk)], "offence"), n);
  }
}

}  // namespace
}  // namespace koppel

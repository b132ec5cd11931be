#include "linker/analysis/analysis_engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/hex.h"
#include "core/progress.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_planner.h"
#include "linker/analysis/analysis_scanner.h"
#include "linker/analysis/engine_limits.h"
#include "linker/analysis/result_builder.h"

namespace koppel::analysis {
namespace {

constexpr size_t kMaxAreas = EngineLimits::kAreas;  // area indices are 16 bits

// One run of a spec: plans it, scans the records into households, builds the tables from them
// and says what the result rests on (the cost items' definitions, warnings).
template <size_t W>
class AnalysisRun {
 public:
  AnalysisRun(const RecordSource* source, const AnalysisSpec& spec, const PriceTable& prices,
              const EngineOptions& options)
      : source_(source), spec_(spec), prices_(prices), options_(options) {}

  absl::StatusOr<AnalysisResult> Execute();

 private:
  // What makes two runs' cost items the same quantity (CostItemDescription).
  void DescribeItems(const AnalysisScanner<W>& scanner, AnalysisResult* result) const;

  const RecordSource* source_;
  const AnalysisSpec& spec_;
  const PriceTable& prices_;
  const EngineOptions& options_;
  AnalysisPlan plan_;
};

template <size_t W>
void AnalysisRun<W>::DescribeItems(const AnalysisScanner<W>& scanner,
                                   AnalysisResult* result) const {
  auto batches_of = [&](const std::string& dataset) {
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    auto it = scanner.batches_read().find(dataset);
    if (it != scanner.batches_read().end()) {
      for (const std::string& id : it->second) {
        crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(id.data()),
                                  id.size());
      }
    }
    std::array<uint8_t, crypto_hash_sha256_BYTES> digest;
    crypto_hash_sha256_final(&state, digest.data());
    return ToHex(digest);
  };
  std::string household =
      fmt::format("register {} birth {} from {} to {} adult {} batches {}", spec_.register_dataset,
                  spec_.birth_date_attribute, spec_.valid_from_attribute, spec_.valid_to_attribute,
                  spec_.adult_age, batches_of(spec_.register_dataset));
  if (spec_.snapshot) {
    household +=
        fmt::format(" snapshot {} moves {}", IsoDate(*spec_.snapshot), spec_.moves_attribute);
  }
  for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
    const CostItemSpec& item = spec_.cost_items[i];
    const IndicatorSpec& indicator = spec_.indicators[plan_.indicator_index.at(item.indicator)];
    // price_by: a filter on the priced attribute only chooses which codes are priced, so it is
    // part of the per-code prices below, not of the volume.
    std::string filters;
    const AttributeFilter* priced_filter = nullptr;
    for (const AttributeFilter& filter : indicator.filters) {
      if (!item.price_by.empty() && filter.attribute == item.price_by) {
        priced_filter = &filter;
        continue;
      }
      std::vector<std::string> codes = filter.codes;
      std::sort(codes.begin(), codes.end());
      filters +=
          fmt::format("[{} codes {} below {} at_least {}]", filter.attribute, fmt::join(codes, ","),
                      filter.below ? fmt::format("{}", *filter.below) : "-",
                      filter.at_least ? fmt::format("{}", *filter.at_least) : "-");
    }
    const PeriodSpec& period = indicator.period;
    std::string volume = fmt::format(
        "{}; dataset {} batches {} filters {} period {} {} {} year {} members {} moves {}; "
        "volume {} amount {}",
        household, indicator.dataset,
        indicator.dataset.empty() ? "-" : batches_of(indicator.dataset), filters,
        static_cast<int>(period.kind), period.from, period.to,
        plan_.reference_years.empty() ? 0 : plan_.reference_years[0].year + period.year_offset,
        static_cast<int>(indicator.members), indicator.min_moves.value_or(0),
        static_cast<int>(item.volume), item.amount_attribute);
    // price_by: the volume is the records priced by the attribute, whatever their prices; the
    // prices of its codes are part of the definition, so that two releases pricing one code
    // differently are the same volume priced differently (refused), not two items whose
    // difference is that code's records.
    std::string code_prices;
    if (!item.price_by.empty()) {
      volume += fmt::format(" priced by {}", item.price_by);
      code_prices = fmt::format("; prices of {}:", item.price_by);
      for (const std::string& code : scanner.PriceCodes(indicator.dataset, i)) {
        if (priced_filter != nullptr && !priced_filter->codes.empty() &&
            std::find(priced_filter->codes.begin(), priced_filter->codes.end(), code) ==
                priced_filter->codes.end()) {
          continue;  // filtered out: never priced, so not part of what is released
        }
        auto price = prices_.items.find(code);
        code_prices += price != prices_.items.end() && price->second.price
                           ? fmt::format(" {}={:.2f}", code, *price->second.price)
                           : fmt::format(" {}=-", code);
      }
    }
    CostItemDescription description;
    description.name = item.name;
    description.payer = item.payer;
    description.per_household = item.volume == CostItemSpec::Volume::kUnits;
    description.volume = volume;
    description.definition = fmt::format(
        "{}; price {:.2f}{}; cap {}", volume, plan_.item_price[i], code_prices,
        options_.max_contribution_eur ? fmt::format("{:.2f}", *options_.max_contribution_eur)
                                      : "-");
    result->items.push_back(std::move(description));
  }
}

template <size_t W>
absl::StatusOr<AnalysisResult> AnalysisRun<W>::Execute() {
  ASSIGN_OR_RETURN(plan_, PlanAnalysis(spec_, prices_));
  ASSIGN_OR_RETURN(std::unique_ptr<RecordSnapshot> snapshot, source_->Snapshot());
  ASSIGN_OR_RETURN(std::vector<RecordSource::DatasetCounts> counts, source_->Counts());
  std::unique_ptr<ProgressReporter> progress;
  if (options_.report_progress) {
    uint64_t total = 0;
    for (const RecordSource::DatasetCounts& count : counts) {
      for (const DatasetPlan& plan : plan_.datasets) {
        if (count.dataset == plan.name) total += count.records;
      }
    }
    progress = std::make_unique<ProgressReporter>("analysis " + spec_.name, total, "records");
  }
  AnalysisScanner<W> scanner(source_, spec_, plan_, prices_, options_, progress.get());
  // Households number about a third of the register's rows: sized once, never rehashed.
  for (const RecordSource::DatasetCounts& count : counts) {
    if (count.dataset == spec_.register_dataset) scanner.Reserve(count.records / 3);
  }
  RETURN_IF_ERROR(scanner.Scan(*snapshot));
  snapshot.reset();  // the store may be closed or compacted past it now
  // When no run of a dataset has what the spec reads, the spec is wrong, not a delivery.
  for (const auto& [dataset, runs] : scanner.left_out()) {
    if (!scanner.batches_read().contains(dataset)) {
      return absl::FailedPreconditionError(runs.begin()->second);
    }
  }
  AnalysisResult result;
  result.records_read = scanner.records_read();
  std::vector<std::string> area_codes = scanner.area_codes();
  std::map<std::string, uint16_t> area_index = scanner.area_index();
  ResultBuilder<W> builder(spec_, options_, plan_.item_price, area_codes, prices_,
                           plan_.reference_days);
  for (const auto& [code, label] : spec_.area_labels) {
    (void)label;
    if (!area_index.contains(code)) {
      if (area_codes.size() >= kMaxAreas) {
        return absl::FailedPreconditionError(fmt::format(
            "the register and the spec's area labels name more than {} areas; the engine "
            "supports at most that many",
            kMaxAreas));
      }
      area_index[code] = static_cast<uint16_t>(area_codes.size());
      area_codes.push_back(code);
    }
  }
  std::vector<HouseholdShards<W>>& households = scanner.households();
  for (size_t d = 0; d < households.size(); ++d) {
    for (size_t s = 0; s < HouseholdShards<W>::kShards; ++s) {
      auto& shard = households[d].At(s);
      for (const auto& [key, household] : shard.households) {
        builder.AddHousehold(static_cast<uint16_t>(d), key, household,
                             household.volumes == HouseholdAccumulatorT<W>::kNoVolumes
                                 ? nullptr
                                 : &shard.volumes[household.volumes]);
      }
    }
    households[d].Clear();
  }
  RETURN_IF_ERROR(builder.Finish(&result));
  if (progress) progress->Finish(scanner.records_read());
  result.reference_days = plan_.reference_days;
  for (const auto& [dataset, ids] : scanner.batches_read()) {
    result.batches_read[dataset].assign(ids.begin(), ids.end());
  }
  DescribeItems(scanner, &result);
  for (const DatasetPlan& plan : plan_.datasets) {
    DatasetUse use{plan.name, 0, 0};
    for (const RecordSource::DatasetCounts& count : counts) {
      if (count.dataset == plan.name) {
        use.batches = count.batches;
        use.records = count.records;
      }
    }
    if (use.records == 0) {
      result.warnings.push_back(fmt::format(
          "no records of dataset '{}' have been delivered: its indicators are zero", plan.name));
    }
    if (auto it = scanner.left_out().find(plan.name); it != scanner.left_out().end()) {
      for (const auto& [run, why] : it->second) {
        result.warnings.push_back(
            fmt::format("dataset '{}': delivery run {} is left out of this analysis: {}", plan.name,
                        run.empty() ? "(without a run id)" : run, why));
      }
    }
    result.datasets.push_back(use);
  }
  for (size_t d = 0; d < spec_.reference_dates.size(); ++d) {
    for (const DatasetPlan& plan : plan_.datasets) {
      const YearCoverage& coverage = scanner.coverage().at(plan.name);
      for (const IndicatorPlan& indicator : plan.indicators) {
        if (indicator.spec->period.kind == PeriodKind::kAlways) continue;
        const int year = plan_.windows[indicator.index][d].year;
        if (!coverage.Seen(year)) {
          result.warnings.push_back(fmt::format(
              "dataset '{}' has no records for {}: indicator '{}' at reference date {} counts "
              "nobody",
              plan.name, year, indicator.spec->name, IsoDate(spec_.reference_dates[d])));
        }
      }
    }
    // Released with the tables: the number stays out (a spec could make it count a few
    // persons of its choice); the linker logs it for the operator.
    const uint64_t homeless = scanner.homeless_with_records()[d];
    if (homeless > 0) {
      result.warnings.push_back(fmt::format(
          "persons or addresses with records that count in {} live in no household of the "
          "register on {}; their records are not counted",
          plan_.reference_years[d].year, IsoDate(spec_.reference_dates[d])));
      result.unplaced.push_back({IsoDate(spec_.reference_dates[d]), homeless});
    }
  }
  return result;
}

}  // namespace

absl::StatusOr<AnalysisResult> AnalysisEngine::Run(const AnalysisSpec& spec,
                                                   const PriceTable& prices,
                                                   const EngineOptions& options) const {
  RETURN_IF_ERROR(CheckEngineLimits(spec));
  const size_t bits = std::max(spec.indicators.size(), spec.flags.size());
  if (bits <= 64) return AnalysisRun<1>(source_, spec, prices, options).Execute();
  if (bits <= 128) return AnalysisRun<2>(source_, spec, prices, options).Execute();
  if (bits <= 256) return AnalysisRun<4>(source_, spec, prices, options).Execute();
  static_assert(EngineLimits::kIndicators <= 512 && EngineLimits::kFlags <= 512);
  return AnalysisRun<8>(source_, spec, prices, options).Execute();
}

const ResultTable* AnalysisResult::FindTable(std::string_view name) const {
  for (const ResultTable& table : tables) {
    if (table.name == name) return &table;
  }
  return nullptr;
}

const ResultCell* ResultTable::Find(std::string_view row, std::string_view column) const {
  auto col = std::find(columns.begin(), columns.end(), column);
  if (col == columns.end()) return nullptr;
  for (const ResultRow& r : rows) {
    if (r.label == row) return &r.cells[static_cast<size_t>(col - columns.begin())];
  }
  return nullptr;
}

}  // namespace koppel::analysis
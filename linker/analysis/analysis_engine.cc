#include "linker/analysis/analysis_engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/civil_date.h"
#include "core/hex.h"
#include "core/progress.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_planner.h"
#include "linker/analysis/analysis_scanner.h"
#include "linker/analysis/cohort_windows.h"
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
  // What selects an indicator's records, as part of a cost item's definition; a filter on
  // `priced_attribute` (a price_by item's) is left out: it chooses which codes are priced.
  std::string IndicatorDefinition(const IndicatorSpec& indicator,
                                  const std::function<std::string(const std::string&)>& batches_of,
                                  const std::string& priced_attribute = "") const;
  // Warns of every outcome whose dataset has no records in a calendar year that a relative year
  // of one of `starts` reaches: it counts nothing there.
  void MissingOutcomeYears(const AnalysisScanner<W>& scanner, const std::set<int32_t>& starts,
                           AnalysisResult* result) const;
  // What makes the cost-benefit items of two runs the same quantity besides their own
  // indicator: the cohort and its start, the comparison, the horizon ("" without).
  std::string CostBenefitDefinition(
      const std::function<std::string(const std::string&)>& batches_of) const;

  const RecordSource* source_;
  const AnalysisSpec& spec_;
  const PriceTable& prices_;
  const EngineOptions& options_;
  AnalysisPlan plan_;
};

template <size_t W>
std::string AnalysisRun<W>::IndicatorDefinition(
    const IndicatorSpec& indicator,
    const std::function<std::string(const std::string&)>& batches_of,
    const std::string& priced_attribute) const {
  std::string filters;
  for (const AttributeFilter& filter : indicator.filters) {
    if (!priced_attribute.empty() && filter.attribute == priced_attribute) continue;
    std::vector<std::string> codes = filter.codes;
    std::sort(codes.begin(), codes.end());
    filters +=
        fmt::format("[{} codes {} below {} at_least {}]", filter.attribute, fmt::join(codes, ","),
                    filter.below ? fmt::format("{}", *filter.below) : "-",
                    filter.at_least ? fmt::format("{}", *filter.at_least) : "-");
  }
  const PeriodSpec& period = indicator.period;
  return fmt::format(
      "dataset {} batches {} filters {} period {} {} {} year {} members {} moves {}",
      indicator.dataset, indicator.dataset.empty() ? "-" : batches_of(indicator.dataset), filters,
      static_cast<int>(period.kind), period.from, period.to,
      plan_.reference_years.empty() ? 0 : plan_.reference_years[0].year + period.year_offset,
      static_cast<int>(indicator.members), indicator.min_moves.value_or(0));
}

template <size_t W>
std::string AnalysisRun<W>::CostBenefitDefinition(
    const std::function<std::string(const std::string&)>& batches_of) const {
  if (!spec_.cost_benefit) return "";
  const CostBenefitSpec& cost_benefit = *spec_.cost_benefit;
  // An indicator or flag the comparison names, by what it selects (a flag by its operands').
  std::function<std::string(const std::string&)> operand = [&](const std::string& name) {
    auto indicator = plan_.indicator_index.find(name);
    if (indicator != plan_.indicator_index.end()) {
      return fmt::format("indicator({})",
                         IndicatorDefinition(spec_.indicators[indicator->second], batches_of));
    }
    if (name == "household_type") {
      std::string types;
      for (const HouseholdTypeSpec& type : spec_.household_types) {
        types += fmt::format("[{} adults {}..{} children {}..{}]", type.name, type.adults.min,
                             type.adults.max, type.children.min, type.children.max);
      }
      return fmt::format("household_type({})", types);
    }
    if (name == "area") return fmt::format("area({})", spec_.area_attribute);
    for (const FlagSpec& flag : spec_.flags) {
      if (flag.name != name) continue;
      std::string operands;
      for (const auto& [kind, names] : {std::pair{"all", &flag.all}, std::pair{"any", &flag.any},
                                        std::pair{"none", &flag.none}}) {
        operands += fmt::format(" {}[", kind);
        for (const std::string& n : *names) operands += operand(n) + ";";
        operands += "]";
      }
      return fmt::format("flag({})", operands);
    }
    return name;
  };
  const IndicatorSpec& cohort =
      spec_.indicators[plan_.indicator_index.at(cost_benefit.cohort_indicator)];
  std::string out = fmt::format("; cohort {} start {}", IndicatorDefinition(cohort, batches_of),
                                cost_benefit.start_attribute);
  if (!cost_benefit.comparison) return out + " before/after";
  out += " comparison exclude";
  for (const std::string& name : cost_benefit.exclude) out += " " + operand(name);
  out += " match_on";
  for (const std::string& name : cost_benefit.match_on) out += " " + operand(name);
  return out;
}

template <size_t W>
void AnalysisRun<W>::MissingOutcomeYears(const AnalysisScanner<W>& scanner,
                                         const std::set<int32_t>& starts,
                                         AnalysisResult* result) const {
  const CostBenefitSpec& cost_benefit = *spec_.cost_benefit;
  std::set<int> years;
  for (int32_t start : starts) {
    const absl::CivilDay day = DayFromDays(start);
    const int first = static_cast<int>(AddYears(day, -1).year());
    const int last = static_cast<int>((AddYears(day, cost_benefit.horizon) - 1).year());
    for (int year = first; year <= last; ++year) years.insert(year);
  }
  for (const OutcomeSpec& outcome : cost_benefit.outcomes) {
    if (outcome.pm) continue;
    const std::string& dataset =
        spec_.indicators[plan_.indicator_index.at(outcome.indicator)].dataset;
    auto coverage = scanner.coverage().find(dataset);
    if (coverage == scanner.coverage().end()) continue;
    for (int year : years) {
      // Years no start in the cohort period's year reaches are not checked (AnalysisPlan).
      if (!coverage->second.Needs(year) || coverage->second.Seen(year)) continue;
      result->warnings.push_back(fmt::format(
          "dataset '{}' has no records for {}: outcome '{}' counts nothing in the years relative "
          "to a start that fall in {}; if that year's records were not delivered (rather than "
          "none happened), its benefit is overstated (understated where {} is the year before a "
          "start)",
          dataset, year, outcome.name, year, year));
    }
  }
}

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
  const std::string cost_benefit = CostBenefitDefinition(batches_of);
  for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
    const CostItemSpec& item = spec_.cost_items[i];
    const IndicatorSpec& indicator = spec_.indicators[plan_.indicator_index.at(item.indicator)];
    // price_by: a filter on the priced attribute only chooses which codes are priced, so it is
    // part of the per-code prices below, not of the volume.
    const AttributeFilter* priced_filter = nullptr;
    for (const AttributeFilter& filter : indicator.filters) {
      if (!item.price_by.empty() && filter.attribute == item.price_by) priced_filter = &filter;
    }
    std::string volume = fmt::format("{}; {}; volume {} amount {}", household,
                                     IndicatorDefinition(indicator, batches_of, item.price_by),
                                     static_cast<int>(item.volume), item.amount_attribute);
    if (item.cost_benefit()) {
      volume += fmt::format("; relative year {} ", item.relative_year);
      if (item.outcome >= 0) {
        const OutcomeSpec& outcome =
            spec_.cost_benefit->outcomes[static_cast<size_t>(item.outcome)];
        // Not its name nor the horizon: a renamed outcome or a longer horizon is the same
        // money, so the release history must see the same quantity.
        volume += fmt::format("outcome volume {} amount {}", static_cast<int>(outcome.volume),
                              outcome.amount_attribute);
      } else {
        const InterventionCostSpec& cost =
            spec_.cost_benefit->costs[static_cast<size_t>(item.intervention)];
        // A price per household is the item's price, in the definition below. The name stays:
        // two costs per household are one volume (the cohort) at two prices, which the release
        // history would otherwise take for one item priced two ways.
        volume +=
            fmt::format("intervention {} {}", cost.name,
                        cost.per_household ? "per household" : "amount " + cost.amount_attribute);
      }
      volume += cost_benefit;
    }
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
    // An intervention's price per household: price times the cohort atoms' households, too.
    description.per_household =
        item.volume == CostItemSpec::Volume::kUnits ||
        (item.intervention >= 0 &&
         spec_.cost_benefit->costs[static_cast<size_t>(item.intervention)].per_household);
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
  if (spec_.cost_benefit) {
    CohortWindows<W> cohort(spec_);
    cohort.Apply(scanner.TakeCohortEvents(), &scanner.households()[0]);
    if (cohort.without_start() > 0) {
      result.warnings.push_back(fmt::format(
          "cost-benefit: cohort households none of whose '{}' records has a '{}' date are left "
          "out of the cohort",
          spec_.cost_benefit->cohort_indicator, spec_.cost_benefit->start_attribute));
    }
    if (cohort.unmatched() > 0) {
      result.warnings.push_back(
          "cost-benefit: cohort households whose cell has no comparison household are left out "
          "of the comparison");
    }
    MissingOutcomeYears(scanner, cohort.starts(), &result);
  }
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
#include "linker/analysis/analysis_planner.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/civil_date.h"
#include "core/status_macros.h"

namespace koppel::analysis {

YearWindow WindowOf(int year) {
  return {year, DaysSinceEpoch(absl::CivilDay(year, 1, 1)),
          DaysSinceEpoch(absl::CivilDay(year, 12, 31))};
}

int DatasetPlan::Slot(const std::string& attribute) {
  auto it = std::find(attributes.begin(), attributes.end(), attribute);
  if (it != attributes.end()) return static_cast<int>(it - attributes.begin());
  attributes.push_back(attribute);
  return static_cast<int>(attributes.size() - 1);
}

namespace {

IndicatorPlan* FindIndicatorPlan(AnalysisPlan& plan, size_t index, DatasetPlan** dataset) {
  for (DatasetPlan& candidate : plan.datasets) {
    for (IndicatorPlan& indicator : candidate.indicators) {
      if (indicator.index != index) continue;
      *dataset = &candidate;
      return &indicator;
    }
  }
  return nullptr;
}

// The slots the scan reads to log the cohort's starts and amounts and the outcomes' events.
absl::Status PlanCostBenefit(const AnalysisSpec& spec, AnalysisPlan& out) {
  const CostBenefitSpec& cost_benefit = *spec.cost_benefit;
  auto find = [&](const std::string& name, const std::string& what,
                  DatasetPlan** dataset) -> absl::StatusOr<IndicatorPlan*> {
    auto index = out.indicator_index.find(name);
    IndicatorPlan* found = index == out.indicator_index.end()
                               ? nullptr
                               : FindIndicatorPlan(out, index->second, dataset);
    if (found == nullptr) {
      return absl::InvalidArgumentError(fmt::format(
          "cost_benefit: {} names '{}', which is no indicator over a dataset", what, name));
    }
    return found;
  };
  DatasetPlan* dataset = nullptr;
  ASSIGN_OR_RETURN(IndicatorPlan * cohort,
                   find(cost_benefit.cohort_indicator, "the cohort", &dataset));
  cohort->cohort = true;
  cohort->start_slot = dataset->Slot(cost_benefit.start_attribute);
  for (size_t c = 0; c < cost_benefit.costs.size(); ++c) {
    const InterventionCostSpec& cost = cost_benefit.costs[c];
    if (cost.per_household) continue;
    cohort->intervention_amounts.push_back({c, dataset->Slot(cost.amount_attribute)});
  }
  for (size_t o = 0; o < cost_benefit.outcomes.size(); ++o) {
    const OutcomeSpec& outcome = cost_benefit.outcomes[o];
    if (outcome.pm) continue;
    ASSIGN_OR_RETURN(IndicatorPlan * indicator,
                     find(outcome.indicator, fmt::format("outcome '{}'", outcome.name), &dataset));
    OutcomeUse use{o, outcome.volume, -1};
    if (outcome.volume == OutcomeSpec::Volume::kAmount) {
      use.amount_slot = dataset->Slot(outcome.amount_attribute);
    }
    indicator->outcomes.push_back(use);
  }
  const IndicatorSpec& cohort_spec = *cohort->spec;
  const PeriodSpec& period = cohort_spec.period;
  if (period.from == cost_benefit.start_attribute && !spec.reference_dates.empty() &&
      (period.kind == PeriodKind::kDateIn || period.kind == PeriodKind::kSpell)) {
    const int year = static_cast<int>(spec.reference_dates[0].year()) + period.year_offset;
    out.outcome_days.last = WindowOf(year + cost_benefit.horizon).last;
    if (period.kind == PeriodKind::kDateIn) out.outcome_days.first = WindowOf(year - 1).first;
  }
  return absl::OkStatus();
}

// The calendar years an outcome's dataset must have records for: the relative years of a start
// in the cohort period's year (all of `outcome_days` when it is bounded).
std::vector<int> OutcomeYears(const AnalysisSpec& spec, const AnalysisPlan& plan) {
  const CostBenefitSpec& cost_benefit = *spec.cost_benefit;
  const IndicatorSpec& cohort =
      spec.indicators[plan.indicator_index.at(cost_benefit.cohort_indicator)];
  const int year = plan.reference_years[0].year + cohort.period.year_offset;
  std::vector<int> years;
  for (int y = year - 1; y <= year + cost_benefit.horizon; ++y) years.push_back(y);
  return years;
}

}  // namespace

absl::StatusOr<AnalysisPlan> PlanAnalysis(const AnalysisSpec& spec, const PriceTable& prices) {
  AnalysisPlan out;
  for (absl::CivilDay date : spec.reference_dates) {
    out.reference_days.push_back(DaysSinceEpoch(date));
  }
  DatasetPlan register_plan;
  register_plan.name = spec.register_dataset;
  register_plan.is_register = true;
  RegisterSlots& slots = out.register_slots;
  slots.birth = register_plan.Slot(spec.birth_date_attribute);
  slots.area = register_plan.Slot(spec.area_attribute);
  if (!spec.snapshot) {
    slots.from = register_plan.Slot(spec.valid_from_attribute);
    slots.to = register_plan.Slot(spec.valid_to_attribute);
  }
  if (!spec.moves_attribute.empty()) slots.moves = register_plan.Slot(spec.moves_attribute);
  std::vector<DatasetPlan>& plans = out.datasets;
  plans.push_back(std::move(register_plan));

  for (size_t i = 0; i < spec.indicators.size(); ++i) {
    const IndicatorSpec& indicator = spec.indicators[i];
    out.indicator_index[indicator.name] = i;
    // Computed from the register rows, or set after the scan: no dataset.
    if (indicator.min_moves || indicator.set_after_scan) continue;
    auto plan = std::find_if(plans.begin(), plans.end(),
                             [&](const DatasetPlan& p) { return p.name == indicator.dataset; });
    if (plan == plans.end()) {
      plans.push_back(DatasetPlan{});
      plans.back().name = indicator.dataset;
      plan = plans.end() - 1;
    }
    IndicatorPlan compiled;
    compiled.index = i;
    compiled.spec = &indicator;
    for (const AttributeFilter& filter : indicator.filters) {
      compiled.filter_slots.push_back(plan->Slot(filter.attribute));
    }
    if (!indicator.period.from.empty()) compiled.from_slot = plan->Slot(indicator.period.from);
    if (!indicator.period.to.empty()) compiled.to_slot = plan->Slot(indicator.period.to);
    plan->indicators.push_back(std::move(compiled));
  }

  for (size_t item = 0; item < spec.cost_items.size(); ++item) {
    const CostItemSpec& cost = spec.cost_items[item];
    double price = cost.price_by.empty() ? 0 : 1;  // price_by: priced per record
    for (const std::string& name : cost.prices) {
      auto it = prices.items.find(name);
      if (it == prices.items.end()) {
        return absl::InvalidArgumentError(
            fmt::format("cost item '{}' names price '{}', which the prices file does not list",
                        cost.name, name));
      }
      if (!it->second.price && cost.cost_benefit() &&
          cost.volume == CostItemSpec::Volume::kAmount) {
        continue;  // an outcome's actual amounts: the price item only names it
      }
      if (!it->second.price) {
        return absl::InvalidArgumentError(fmt::format(
            "cost item '{}' names price '{}', which has no unit price (it is an actual-amount "
            "item: use volume: amount)",
            cost.name, name));
      }
      price += *it->second.price;
    }
    if (cost.intervention >= 0 && spec.cost_benefit) {
      price =
          spec.cost_benefit->costs[static_cast<size_t>(cost.intervention)].per_household.value_or(
              0);
    }
    out.item_price.push_back(price);
    auto indicator = out.indicator_index.find(cost.indicator);
    if (indicator == out.indicator_index.end()) {
      return absl::InvalidArgumentError(
          fmt::format("cost item '{}' names unknown indicator '{}'", cost.name, cost.indicator));
    }
    if (cost.cost_benefit()) continue;  // volumes set after the scan, never by it
    if (spec.indicators[indicator->second].min_moves) {
      if (cost.volume != CostItemSpec::Volume::kUnits) {
        return absl::InvalidArgumentError(fmt::format(
            "cost item '{}': a register indicator can only be priced per unit", cost.name));
      }
      continue;
    }
    for (DatasetPlan& plan : plans) {
      for (size_t position = 0; position < plan.indicators.size(); ++position) {
        if (plan.indicators[position].index != indicator->second) continue;
        CostPlan cost_plan{item, cost.volume, -1, -1};
        if (cost.volume == CostItemSpec::Volume::kAmount) {
          cost_plan.amount_slot = plan.Slot(cost.amount_attribute);
        }
        if (!cost.price_by.empty()) cost_plan.price_slot = plan.Slot(cost.price_by);
        plan.costs_by_indicator[position].push_back(cost_plan);
      }
    }
  }
  if (spec.cost_benefit) RETURN_IF_ERROR(PlanCostBenefit(spec, out));
  for (AttributeUse& use : AttributeUsesOf(spec)) {
    for (DatasetPlan& plan : plans) {
      if (plan.name == use.dataset) plan.uses.push_back(std::move(use));
    }
  }
  for (absl::CivilDay date : spec.reference_dates) {
    out.reference_years.push_back(WindowOf(static_cast<int>(date.year())));
  }
  for (const IndicatorSpec& indicator : spec.indicators) {
    std::vector<YearWindow> windows;
    for (const YearWindow& reference : out.reference_years) {
      windows.push_back(WindowOf(reference.year + indicator.period.year_offset));
    }
    out.windows.push_back(std::move(windows));
  }
  for (const DatasetPlan& plan : plans) {
    std::vector<int>& years = out.years_needed[plan.name];
    for (const IndicatorPlan& indicator : plan.indicators) {
      if (indicator.spec->period.kind == PeriodKind::kAlways) continue;
      for (const YearWindow& window : out.windows[indicator.index]) {
        if (std::find(years.begin(), years.end(), window.year) == years.end()) {
          years.push_back(window.year);
        }
      }
    }
  }
  if (spec.cost_benefit) {
    const std::vector<int> outcome_years = OutcomeYears(spec, out);
    for (const DatasetPlan& plan : plans) {
      for (const IndicatorPlan& indicator : plan.indicators) {
        if (indicator.outcomes.empty()) continue;
        std::vector<int>& years = out.years_needed[plan.name];
        for (int year : outcome_years) {
          if (std::find(years.begin(), years.end(), year) == years.end()) years.push_back(year);
        }
      }
    }
  }
  for (DatasetPlan& plan : plans) {
    plan.costs_at.resize(plan.indicators.size());
    for (const auto& [position, costs] : plan.costs_by_indicator) plan.costs_at[position] = costs;
  }
  return out;
}

absl::StatusOr<ResolvedBatch> ResolveBatch(const DatasetPlan& plan, const v1::BatchHeader& header,
                                           const PriceTable& prices, bool check_uses) {
  ResolvedBatch out;
  out.has_bsn = header.has_bsn();
  for (const std::string& name : plan.attributes) {
    int found = -1;
    for (int i = 0; i < header.attributes_size(); ++i) {
      if (header.attributes(i).name() == name) found = i;
    }
    if (found < 0) {
      return absl::FailedPreconditionError(fmt::format(
          "dataset '{}' as delivered has no attribute '{}' (it has: {}); correct the spec or ask "
          "the data holder to map it",
          plan.name, name, [&] {
            std::string names;
            for (const auto& a : header.attributes())
              names += (names.empty() ? "" : ", ") + a.name();
            return names;
          }()));
    }
    out.value_index.push_back(found);
    out.type.push_back(header.attributes(found).type());
  }
  for (const AttributeUse& use : plan.uses) {
    for (const v1::AttributeSchema& schema : header.attributes()) {
      if (schema.name() != use.attribute) continue;
      if (absl::Status fits =
              check_uses ? CheckAttributeUse(use, schema, prices) : absl::OkStatus();
          !fits.ok()) {
        // A wrong type may leave the run out (FAILED_PRECONDITION); wrong codes refuse the spec.
        return absl::Status(fits.code(),
                            fmt::format("{}: {}", use.path, std::string(fits.message())));
      }
      if (use.price_by == nullptr) continue;
      std::vector<double> by_code;
      for (const std::string& code : schema.codes()) {
        auto price = prices.items.find(code);
        by_code.push_back(price == prices.items.end() ? 0 : price->second.price.value_or(0));
      }
      for (const auto& [position, costs] : plan.costs_by_indicator) {
        for (const CostPlan& cost : costs) {
          if (cost.price_slot >= 0 &&
              plan.attributes[static_cast<size_t>(cost.price_slot)] == use.attribute) {
            out.code_prices[cost.item] = by_code;
            out.price_codes[cost.item].assign(schema.codes().begin(), schema.codes().end());
          }
        }
      }
    }
  }
  for (const IndicatorPlan& indicator : plan.indicators) {
    std::vector<std::vector<char>> per_filter;
    for (size_t f = 0; f < indicator.filter_slots.size(); ++f) {
      const AttributeFilter& filter = indicator.spec->filters[f];
      const auto& schema =
          header.attributes(out.value_index[static_cast<size_t>(indicator.filter_slots[f])]);
      std::vector<char> allowed(static_cast<size_t>(schema.codes_size()), 0);
      if (!filter.codes.empty()) {
        if (schema.type() != v1::ATTRIBUTE_TYPE_CATEGORY) {
          return absl::FailedPreconditionError(fmt::format(
              "indicator '{}' filters '{}' by codes, but dataset '{}' delivers it as a {} (use "
              "below/at_least)",
              indicator.spec->name, filter.attribute, plan.name,
              v1::AttributeType_Name(schema.type())));
        }
        for (const std::string& code : filter.codes) {
          auto it = std::find(schema.codes().begin(), schema.codes().end(), code);
          if (it == schema.codes().end()) {
            return absl::FailedPreconditionError(
                fmt::format("indicator '{}': dataset '{}' has no code '{}' for '{}'",
                            indicator.spec->name, plan.name, code, filter.attribute));
          }
          allowed[static_cast<size_t>(it - schema.codes().begin())] = 1;
        }
      } else if (schema.type() == v1::ATTRIBUTE_TYPE_CATEGORY) {
        return absl::FailedPreconditionError(fmt::format(
            "indicator '{}' compares '{}' with a number, but dataset '{}' delivers categories",
            indicator.spec->name, filter.attribute, plan.name));
      }
      per_filter.push_back(std::move(allowed));
    }
    out.codes.push_back(std::move(per_filter));
  }
  return out;
}

}  // namespace koppel::analysis

#include "linker/analysis/spec_attributes.h"

#include <fmt/format.h>

#include <algorithm>

#include "absl/strings/str_join.h"
#include "core/status_macros.h"

namespace koppel::analysis {
namespace {

using v1::AttributeType;
constexpr AttributeType kCategory = v1::ATTRIBUTE_TYPE_CATEGORY;
constexpr AttributeType kInteger = v1::ATTRIBUTE_TYPE_INTEGER;
constexpr AttributeType kAmount = v1::ATTRIBUTE_TYPE_AMOUNT;
constexpr AttributeType kDate = v1::ATTRIBUTE_TYPE_DATE;
constexpr AttributeType kYear = v1::ATTRIBUTE_TYPE_YEAR;

const IndicatorSpec* FindIndicator(const AnalysisSpec& spec, const std::string& name) {
  for (const IndicatorSpec& indicator : spec.indicators) {
    if (indicator.name == name) return &indicator;
  }
  return nullptr;
}

}  // namespace

std::string TypeName(AttributeType type) {
  switch (type) {
    case kCategory:
      return "a category";
    case kInteger:
      return "an integer";
    case kAmount:
      return "an amount";
    case kDate:
      return "a date";
    case kYear:
      return "a year";
    default:
      return "an unspecified type";
  }
}

std::string TypeNames(const std::vector<AttributeType>& types) {
  std::vector<std::string> names;
  for (AttributeType type : types) names.push_back(TypeName(type));
  return absl::StrJoin(names, " or ");
}

std::vector<AttributeUse> AttributeUsesOf(const AnalysisSpec& spec) {
  std::vector<AttributeUse> uses;
  auto add = [&](const std::string& dataset, const std::string& attribute, std::string path,
                 std::vector<AttributeType> types) -> AttributeUse& {
    uses.push_back({dataset, attribute, std::move(path), std::move(types)});
    return uses.back();
  };
  const std::string& brp = spec.register_dataset;
  add(brp, spec.birth_date_attribute, "register.birth_date", {kDate});
  if (!spec.area_attribute.empty()) add(brp, spec.area_attribute, "register.area", {kCategory});
  if (!spec.valid_from_attribute.empty()) {
    add(brp, spec.valid_from_attribute, "register.address_from", {kDate});
  }
  if (!spec.valid_to_attribute.empty()) {
    add(brp, spec.valid_to_attribute, "register.address_to", {kDate});
  }
  if (!spec.moves_attribute.empty()) add(brp, spec.moves_attribute, "register.moves", {kInteger});
  for (const IndicatorSpec& indicator : spec.indicators) {
    if (indicator.min_moves) continue;
    const std::string path = "indicators." + indicator.name;
    for (const AttributeFilter& filter : indicator.filters) {
      AttributeUse& use =
          add(indicator.dataset, filter.attribute, path + ".where." + filter.attribute,
              filter.codes.empty() ? std::vector<AttributeType>{kInteger, kAmount, kYear}
                                   : std::vector<AttributeType>{kCategory});
      if (!filter.codes.empty()) use.filter = &filter;
    }
    const PeriodSpec& period = indicator.period;
    switch (period.kind) {
      case PeriodKind::kSpell:
        add(indicator.dataset, period.from, path + ".spell[0]", {kDate});
        add(indicator.dataset, period.to, path + ".spell[1]", {kDate});
        break;
      case PeriodKind::kDateIn:
        add(indicator.dataset, period.from, path + ".date", {kDate});
        break;
      case PeriodKind::kYearEquals:
        add(indicator.dataset, period.from, path + ".year", {kYear, kInteger});
        break;
      case PeriodKind::kAlways:
        break;
    }
  }
  for (const CostItemSpec& item : spec.cost_items) {
    if (item.cost_benefit()) continue;  // below, under the cost_benefit section's paths
    const IndicatorSpec* indicator = FindIndicator(spec, item.indicator);
    if (indicator == nullptr || indicator->min_moves) continue;
    const std::string path = "costs.items." + item.name;
    if (item.volume == CostItemSpec::Volume::kAmount) {
      add(indicator->dataset, item.amount_attribute, path + ".amount", {kAmount, kInteger});
    }
    if (!item.price_by.empty()) {
      AttributeUse& use = add(indicator->dataset, item.price_by, path + ".price_by", {kCategory});
      use.price_by = &item;
      use.indicator = indicator;
    }
  }
  if (spec.cost_benefit) {
    const CostBenefitSpec& cb = *spec.cost_benefit;
    if (const IndicatorSpec* cohort = FindIndicator(spec, cb.cohort_indicator);
        cohort != nullptr && !cohort->min_moves) {
      add(cohort->dataset, cb.start_attribute, "cost_benefit.cohort.start", {kDate});
      for (const InterventionCostSpec& cost : cb.costs) {
        if (cost.amount_attribute.empty()) continue;
        add(cohort->dataset, cost.amount_attribute, "cost_benefit.costs." + cost.name + ".amount",
            {kAmount, kInteger});
      }
    }
    for (const OutcomeSpec& outcome : cb.outcomes) {
      if (outcome.pm || outcome.volume != OutcomeSpec::Volume::kAmount) continue;
      const IndicatorSpec* indicator = FindIndicator(spec, outcome.indicator);
      if (indicator == nullptr || indicator->min_moves) continue;
      add(indicator->dataset, outcome.amount_attribute,
          "cost_benefit.outcomes." + outcome.name + ".amount", {kAmount, kInteger});
    }
  }
  return uses;
}

absl::Status CheckAttributeType(const AttributeUse& use, const v1::AttributeSchema& schema) {
  if (std::find(use.types.begin(), use.types.end(), schema.type()) == use.types.end()) {
    return absl::FailedPreconditionError(fmt::format(
        "dataset '{}' delivers '{}' as {}, but this use needs {}; correct the spec, or ask the "
        "data holder to map it as {}",
        use.dataset, use.attribute, TypeName(schema.type()), TypeNames(use.types),
        TypeNames(use.types)));
  }
  return absl::OkStatus();
}

absl::Status CheckAttributeCodes(const AttributeUse& use, const v1::AttributeSchema& schema,
                                 const PriceTable& prices) {
  if (use.filter != nullptr) {
    for (const std::string& code : use.filter->codes) {
      if (std::find(schema.codes().begin(), schema.codes().end(), code) == schema.codes().end()) {
        return absl::InvalidArgumentError(fmt::format(
            "dataset '{}' has no code '{}' for '{}' (codes are the mapping's canonical codes)",
            use.dataset, code, use.attribute));
      }
    }
  }
  if (use.price_by != nullptr) {
    // Only the codes the indicator lets through need a price.
    const AttributeFilter* narrowed = nullptr;
    for (const AttributeFilter& filter : use.indicator->filters) {
      if (filter.attribute == use.attribute && !filter.codes.empty()) narrowed = &filter;
    }
    std::vector<std::string> unpriced;
    for (const std::string& code : schema.codes()) {
      if (narrowed != nullptr && std::find(narrowed->codes.begin(), narrowed->codes.end(), code) ==
                                     narrowed->codes.end()) {
        continue;
      }
      auto price = prices.items.find(code);
      if (price == prices.items.end() || !price->second.price) unpriced.push_back(code);
    }
    if (!unpriced.empty()) {
      constexpr size_t kNamed = 8;
      const size_t count = unpriced.size();
      std::string named = absl::StrJoin(
          unpriced.begin(), unpriced.begin() + static_cast<long>(std::min(count, kNamed)), ", ");
      if (count > kNamed) named += fmt::format(" and {} more", count - kNamed);
      return absl::InvalidArgumentError(fmt::format(
          "dataset '{}' delivers {} code{} of '{}' without a unit price in the prices file ({}); "
          "its records would count for nothing, so the spec is refused: add a row per code "
          "(cost_item = the code), or leave the codes out with a where filter on '{}'",
          use.dataset, count, count == 1 ? "" : "s", use.attribute, named, use.attribute));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAttributeUse(const AttributeUse& use, const v1::AttributeSchema& schema,
                               const PriceTable& prices) {
  RETURN_IF_ERROR(CheckAttributeType(use, schema));
  return CheckAttributeCodes(use, schema, prices);
}

}  // namespace koppel::analysis

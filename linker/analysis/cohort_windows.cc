#include "linker/analysis/cohort_windows.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <type_traits>

#include "core/civil_date.h"

namespace koppel::analysis {
namespace {

bool EventBefore(const CohortEvent& a, const CohortEvent& b) {
  return std::tie(a.household, a.what, a.first, a.last, a.cents) <
         std::tie(b.household, b.what, b.first, b.last, b.cents);
}

// Relative year k of a household that started on `start`: [begin, end) in days.
std::pair<int64_t, int64_t> RelativeYear(int32_t start, int k) {
  const absl::CivilDay day = DayFromDays(start);
  if (k < 0) return {DaysSinceEpoch(AddYears(day, -1)), start};
  return {DaysSinceEpoch(AddYears(day, k - 1)), DaysSinceEpoch(AddYears(day, k))};
}

}  // namespace

template <size_t W>
CohortWindows<W>::CohortWindows(const AnalysisSpec& spec)
    : spec_(spec),
      cost_benefit_(*spec.cost_benefit),
      operands_(OperandsOf(spec)),
      years_(spec.cost_benefit->Years()) {
  int valued = 0;
  for (const OutcomeSpec& outcome : cost_benefit_.outcomes) {
    valued_.push_back(outcome.pm ? -1 : valued++);
  }
}

template <size_t W>
typename CohortWindows<W>::Role CohortWindows<W>::RoleOf(
    const HouseholdAccumulatorT<W>& household) const {
  const size_t cohort = operands_.at(cost_benefit_.cohort_indicator).second;
  if (household.indicators.Test(cohort)) return Role::kCohort;
  if (!cost_benefit_.comparison) return Role::kNone;
  const IndicatorBits<W> flags = FlagsOf(spec_, operands_, household.indicators);
  for (const std::string& name : cost_benefit_.exclude) {
    if (HoldsOperand(operands_, name, household.indicators, flags)) return Role::kNone;
  }
  return Role::kCandidate;
}

template <size_t W>
typename CohortWindows<W>::Cell CohortWindows<W>::CellOf(
    const HouseholdAccumulatorT<W>& household) const {
  Cell cell(2, 0);
  const IndicatorBits<W> flags = FlagsOf(spec_, operands_, household.indicators);
  for (const std::string& name : cost_benefit_.match_on) {
    if (name == "household_type") {
      cell[0] = HouseholdTypeOf(spec_, household.adults, household.children);
    } else if (name == "area") {
      cell[1] = household.area;
    } else {
      cell.push_back(HoldsOperand(operands_, name, household.indicators, flags) ? 1 : 0);
    }
  }
  return cell;
}

template <size_t W>
std::pair<const CohortEvent*, const CohortEvent*> CohortWindows<W>::EventsOf(
    const HouseholdKey& household) const {
  auto [first, last] =
      std::equal_range(events_.begin(), events_.end(), household, [](const auto& a, const auto& b) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, CohortEvent>) {
          return a.household < b;
        } else {
          return a < b.household;
        }
      });
  return {events_.data() + (first - events_.begin()), events_.data() + (last - events_.begin())};
}

template <size_t W>
void CohortWindows<W>::AddVolumes(const HouseholdKey& household, int32_t start, bool cohort,
                                  CostVolumes* volumes) const {
  const size_t outcomes = cost_benefit_.outcomes.size();
  std::vector<std::pair<int64_t, int64_t>> years;
  for (int k : years_) years.push_back(RelativeYear(start, k));
  const int valued =
      static_cast<int>(std::count_if(valued_.begin(), valued_.end(), [](int v) { return v >= 0; }));
  std::vector<int64_t> sums(
      static_cast<size_t>(valued) * years_.size() + cost_benefit_.costs.size(), 0);
  auto [first, last] = EventsOf(household);
  for (const CohortEvent* event = first; event != last; ++event) {
    if (event->what == CohortEvent::kStart) continue;
    if (event->what >= outcomes) {
      if (cohort) {
        sums[static_cast<size_t>(valued) * years_.size() + (event->what - outcomes)] +=
            event->cents;
      }
      continue;
    }
    const int position = valued_[event->what];
    if (position < 0) continue;
    const OutcomeSpec& outcome = cost_benefit_.outcomes[event->what];
    for (size_t y = 0; y < years.size(); ++y) {
      const auto [begin, end] = years[y];
      int64_t volume = 0;
      switch (outcome.volume) {
        case OutcomeSpec::Volume::kRecords:
          volume = event->first >= begin && event->first < end ? 1 : 0;
          break;
        case OutcomeSpec::Volume::kAmount:
          volume = event->first >= begin && event->first < end ? event->cents : 0;
          break;
        case OutcomeSpec::Volume::kDays: {
          const int64_t after_last =
              event->last == CohortEvent::kRunning ? end : int64_t{event->last} + 1;
          volume = std::max<int64_t>(
              0, std::min(after_last, end) - std::max<int64_t>(event->first, begin));
          break;
        }
      }
      sums[static_cast<size_t>(position) * years_.size() + y] += volume;
    }
  }
  for (size_t o = 0; o < outcomes; ++o) {
    if (valued_[o] < 0) continue;
    const bool cents = cost_benefit_.outcomes[o].volume == OutcomeSpec::Volume::kAmount;
    for (size_t y = 0; y < years_.size(); ++y) {
      const size_t at = static_cast<size_t>(valued_[o]) * years_.size() + y;
      if (sums[at] == 0) continue;
      AddVolume(volumes, cost_benefit_.first_item + at,
                cents ? static_cast<double>(sums[at]) / 100.0 : static_cast<double>(sums[at]));
    }
  }
  if (!cohort) return;
  for (size_t c = 0; c < cost_benefit_.costs.size(); ++c) {
    const size_t at = static_cast<size_t>(valued) * years_.size() + c;
    const double volume =
        cost_benefit_.costs[c].per_household ? 1.0 : static_cast<double>(sums[at]) / 100.0;
    if (volume != 0) AddVolume(volumes, cost_benefit_.first_item + at, volume);
  }
}

template <size_t W>
void CohortWindows<W>::Apply(std::vector<CohortEvent> events, HouseholdShards<W>* households) {
  std::sort(events.begin(), events.end(), EventBefore);
  events_ = std::move(events);
  auto start_of = [&](const HouseholdKey& key) -> std::optional<int32_t> {
    auto [first, last] = EventsOf(key);
    std::optional<int32_t> start;
    for (const CohortEvent* event = first; event != last; ++event) {
      if (event->what == CohortEvent::kStart)
        start = std::min(start.value_or(event->first), event->first);
    }
    return start;
  };
  // The cells' cohort starts and candidates, in no particular order of the households.
  for (size_t s = 0; s < HouseholdShards<W>::kShards; ++s) {
    for (const auto& [key, household] : households->At(s).households) {
      const Role role = RoleOf(household);
      if (role == Role::kNone) continue;
      CellMembers& cell = cells_[CellOf(household)];
      if (role == Role::kCandidate) {
        ++cell.candidates;
      } else if (std::optional<int32_t> start = start_of(key)) {
        cell.starts.push_back(*start);
      }
    }
  }
  for (auto& [cell, members] : cells_) std::sort(members.starts.begin(), members.starts.end());
  for (size_t s = 0; s < HouseholdShards<W>::kShards; ++s) {
    auto& shard = households->At(s);
    for (auto& [key, household] : shard.households) {
      const Role role = RoleOf(household);
      if (role == Role::kNone) continue;
      const CellMembers& cell = cells_.at(CellOf(household));
      if (role == Role::kCandidate) {
        if (cell.starts.empty()) continue;
        household.indicators.Set(cost_benefit_.comparison_bit);
        ++comparison_;
        const int32_t start = cell.starts[(cell.starts.size() - 1) / 2];
        starts_.insert(start);
        AddVolumes(key, start, false, &shard.VolumesOf(household));
        continue;
      }
      std::optional<int32_t> start = start_of(key);
      if (!start) {
        ++without_start_;
        continue;
      }
      if (cost_benefit_.comparison && cell.candidates == 0) {
        household.indicators.Set(cost_benefit_.unmatched_bit);
        ++unmatched_;
        continue;
      }
      household.indicators.Set(cost_benefit_.cohort_bit);
      ++cohort_;
      starts_.insert(*start);
      AddVolumes(key, *start, true, &shard.VolumesOf(household));
    }
  }
}

template class CohortWindows<1>;
template class CohortWindows<2>;
template class CohortWindows<4>;
template class CohortWindows<8>;

}  // namespace koppel::analysis

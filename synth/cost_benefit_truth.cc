#include "synth/cost_benefit_truth.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/civil_date.h"
#include "synth/cohort.h"
#include "synth/study.h"

namespace koppel::synth {
namespace {

bool IsSpell(Outcome outcome) {
  return outcome == Outcome::kOutOfHomeDays || outcome == Outcome::kBijstandDays;
}

size_t ItemOf(Outcome outcome, size_t year) {
  return static_cast<size_t>(outcome) * kRelativeYearCount + year;
}

// The matching cell: household type, wijk and the three Almelo domains.
uint64_t CellKey(HouseholdType type, int wijk, const HouseholdFindings& findings) {
  uint64_t key = static_cast<uint64_t>(type) | static_cast<uint64_t>(wijk) << 8;
  if (findings.SocioEconomic()) key |= uint64_t{1} << 40;
  if (findings.PsychosocialAdults()) key |= uint64_t{1} << 41;
  if (findings.PsychosocialChildren()) key |= uint64_t{1} << 42;
  return key;
}

std::string ItemName(size_t item) {
  if (item >= kOutcomeCount * kRelativeYearCount) {
    return std::string(kInterventionCosts[item - kOutcomeCount * kRelativeYearCount].name) + "@1";
  }
  return std::string(OutcomeName(static_cast<Outcome>(item / kRelativeYearCount))) + "@" +
         std::to_string(kRelativeYears[item % kRelativeYearCount]);
}

}  // namespace

std::pair<absl::CivilDay, absl::CivilDay> RelativeYear(absl::CivilDay start, int k) {
  if (k < 0) return {AddYears(start, -1), start};
  return {AddYears(start, k - 1), AddYears(start, k)};
}

int64_t VolumeIn(const OutcomeRecord& record, std::pair<absl::CivilDay, absl::CivilDay> year) {
  const auto [begin, end] = year;
  if (!IsSpell(record.outcome)) return record.from >= begin && record.from < end ? 1 : 0;
  const absl::CivilDay to_exclusive = record.to ? std::min(*record.to + 1, end) : end;
  return std::max<int64_t>(0, to_exclusive - std::max(record.from, begin));
}

ItemCents OutcomeCents(const std::vector<OutcomeRecord>& records, absl::CivilDay start) {
  std::array<int64_t, kOutcomeCount* kRelativeYearCount> volume = {};
  for (size_t y = 0; y < kRelativeYearCount; ++y) {
    const auto year = RelativeYear(start, kRelativeYears[y]);
    for (const OutcomeRecord& r : records) volume[ItemOf(r.outcome, y)] += VolumeIn(r, year);
  }
  ItemCents cents = {};
  for (size_t item = 0; item < volume.size(); ++item) {
    const double money =
        static_cast<double>(volume[item]) * kOutcomePriceEur[item / kRelativeYearCount];
    cents[item] = std::llround(money * 100);
  }
  return cents;
}

void CostBenefitAccumulator::Tally::Add(const ItemCents& household) {
  ++households;
  for (size_t i = 0; i < kCostBenefitItemCount; ++i) {
    cents[i] += household[i];
    contributors[i] += household[i] != 0 ? 1u : 0u;
  }
}

void CostBenefitAccumulator::Tally::Merge(const Tally& o) {
  households += o.households;
  for (size_t i = 0; i < kCostBenefitItemCount; ++i) {
    cents[i] += o.cents[i];
    contributors[i] += o.contributors[i];
  }
}

void CostBenefitAccumulator::Add(const Household& h, const std::vector<bool>& visible) {
  const Membership m = MembersOnReferenceDate(h, visible);
  if (m.empty()) return;
  auto member = [&m](const Fact& f) {
    return f.member >= 0 && m.member[static_cast<size_t>(f.member)];
  };
  std::optional<absl::CivilDay> start;
  bool wijkteam = false;
  std::vector<OutcomeRecord> records;
  for (size_t i = 0; i < h.facts.size(); ++i) {
    const Fact& f = h.facts[i];
    if (!visible[i]) continue;
    switch (f.dataset) {
      case Dataset::kWijkteam:
        if (!member(f)) break;
        wijkteam = true;
        if (f.start.year() == 2014 && (!start || f.start < *start)) start = f.start;
        break;
      case Dataset::kWoningcorporatie:
        if (f.address == 0 && f.code == "eviction_notice") {
          records.push_back({Outcome::kEvictionNotice, f.start, std::nullopt});
        }
        break;
      case Dataset::kPolitie:
        if (member(f)) records.push_back({Outcome::kPoliceRegistration, f.start, std::nullopt});
        break;
      case Dataset::kJeugdzorg:
        if (member(f) && !m.adult[static_cast<size_t>(f.member)] &&
            (f.code == "youth_residential" || f.code == "foster_care")) {
          records.push_back({Outcome::kOutOfHomeDays, f.start, f.end});
        }
        break;
      case Dataset::kSocialeZaken:
        if (member(f) && f.code == "bijstand") {
          records.push_back({Outcome::kBijstandDays, f.start, f.end});
        }
        break;
      default:
        break;
    }
  }
  if (wijkteam && !start) return;  // neither cohort nor candidate
  const HouseholdFindings findings = Evaluate(h, visible, m, snapshot_register_);
  Cell& cell = cells_[CellKey(TypeOf(m), h.addresses[0].wijk, findings)];
  if (start) {
    ItemCents cents = OutcomeCents(records, *start);
    for (size_t c = 0; c < kInterventionCostCount; ++c) {
      cents[kOutcomeCount * kRelativeYearCount + c] = kInterventionCosts[c].cents;
    }
    cell.cohort_starts.push_back(*start);
    cell.cohort.Add(cents);
  } else {
    ++cell.candidates;
    if (!records.empty()) cell.candidate_records.push_back(std::move(records));
  }
}

nlohmann::ordered_json CostBenefitAccumulator::TallyJson(const Tally& t) {
  nlohmann::ordered_json items;
  for (size_t i = 0; i < kCostBenefitItemCount; ++i) {
    items[ItemName(i)] = {{"cents", t.cents[i]}, {"contributors", t.contributors[i]}};
  }
  nlohmann::ordered_json j;
  j["households"] = t.households;
  j["items"] = items;
  return j;
}

nlohmann::ordered_json CostBenefitAccumulator::ToJson(const InterventionEffects& effects) const {
  Tally cohort, comparison, all;
  uint64_t unmatched = 0;
  for (const auto& [key, cell] : cells_) {
    all.Merge(cell.cohort);
    if (cell.cohort_starts.empty()) continue;
    if (cell.candidates == 0) {
      unmatched += cell.cohort.households;
      continue;
    }
    cohort.Merge(cell.cohort);
    std::vector<absl::CivilDay> starts = cell.cohort_starts;
    std::sort(starts.begin(), starts.end());
    const absl::CivilDay start = starts[(starts.size() - 1) / 2];
    comparison.households += cell.candidates - cell.candidate_records.size();
    for (const auto& records : cell.candidate_records) comparison.Add(OutcomeCents(records, start));
  }
  nlohmann::ordered_json effects_json;
  for (size_t o = 0; o < kOutcomeCount; ++o) {
    effects_json[std::string(OutcomeName(static_cast<Outcome>(o)))] = effects.multiplier[o];
  }
  nlohmann::ordered_json out;
  out["reference_date"] = "2014-12-31";
  out["definitions"] = "docs/analysis.md#cost-benefit";
  out["effects"] = effects_json;
  nlohmann::ordered_json groups;
  groups["cohort"] = TallyJson(cohort);
  groups["comparison"] = TallyJson(comparison);
  groups["unmatched"]["households"] = unmatched;
  out["groups"] = groups;
  out["cohort_all"] = TallyJson(all);
  return out;
}

}  // namespace koppel::synth

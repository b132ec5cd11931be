// The plaintext ground truth of the Almelo multi-problem-family study (DOMAIN.md section 2),
// computed household by household from the records that survive the agent's validation, with
// exactly the derivations docs/synth.md writes down for the analysis engine to reproduce.
#ifndef KOPPEL_SYNTH_STUDY_H_
#define KOPPEL_SYNTH_STUDY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "synth/household.h"

namespace koppel::synth {

enum class Indicator {
  // socio-economic
  kBijstand,
  kMoves,
  kWw,
  kOtherSocial,
  kDisability,
  kLowIncome,
  // psychosocial, adults
  kAdultBasisGgz,
  kAdultSpecialistGgz,
  kAdultCrime,
  kAdultAwbz,
  // psychosocial, children
  kYouthCare,
  kYouthAmbulant,
  kYouthDayTreatment,
  kYouthProbation,
  kYouthResidential,
  kChildBasisGgz,
  kChildSpecialistGgz,
  kGuardianship,
  kFosterCare,
  kOts,
  kChildCrime,
  kChildAwbz,
  kCount,
};
inline constexpr size_t kIndicatorCount = static_cast<size_t>(Indicator::kCount);

enum class CostItem {
  kWw,
  kBijstand,
  kDisability,
  kOtherSocial,
  kLowIncome,
  kYouthProbation,
  kYouthAmbulant,
  kYouthDayTreatment,
  kYouthResidential,
  kOts,
  kFosterCare,
  kGuardianship,
  kAwbzPsychosocial,
  kAwbzIntellectual,
  kAwbzPhysical,
  kCrime,
  kGgz,
  kCount,
};
inline constexpr size_t kCostItemCount = static_cast<size_t>(CostItem::kCount);

// The item's name in study.json (`ggz_basic_and_specialist` for kGgz).
std::string_view CostItemName(CostItem item);

// "Overlaps year Y": starts by Y-12-31 and ends (last day) on or after Y-01-01, or runs.
bool OverlapsYear(const Fact& fact, int year);

// Who lives in a household on the reference date as the linkage sees it: the persons with a
// valid BRP row at the household's current address covering 2014-12-31, adult or child by
// their age on that date.
struct Membership {
  std::vector<bool> member;
  std::vector<bool> adult;
  size_t adults = 0, children = 0;

  bool empty() const { return adults + children == 0; }
};

// `visible[i]` tells whether h.facts[i] reached the linkage (its row was valid).
Membership MembersOnReferenceDate(const Household& h, const std::vector<bool>& visible);

// Everything the members' valid records say about a household: the study's 2014 indicators,
// support in 2012 and 2013, and the cost items, with the crime item also per category of
// CrimeCategories(). Defined for any household, not only families.
struct HouseholdFindings {
  std::array<bool, kIndicatorCount> has = {};
  std::array<int64_t, kCostItemCount> cost_cents = {};
  std::array<int64_t, kCrimeCategoryCount> crime_cents = {};  // sums to cost_cents[kCrime]
  bool support2012 = false, support2013 = false;

  bool Has(Indicator indicator) const { return has[static_cast<size_t>(indicator)]; }
  int64_t Cost(CostItem item) const { return cost_cents[static_cast<size_t>(item)]; }

  // The study's domains: any of the domain's indicators holds.
  bool SocioEconomic() const { return Any(Indicator::kBijstand, Indicator::kLowIncome); }
  bool PsychosocialAdults() const { return Any(Indicator::kAdultBasisGgz, Indicator::kAdultAwbz); }
  bool PsychosocialChildren() const { return Any(Indicator::kYouthCare, Indicator::kChildAwbz); }

 private:
  // Any indicator from `first` to `last` in enum order.
  bool Any(Indicator first, Indicator last) const {
    for (size_t i = static_cast<size_t>(first); i <= static_cast<size_t>(last); ++i) {
      if (has[i]) return true;
    }
    return false;
  }
};

// `snapshot_register`: the register is a snapshot whose row carries the member's moves in
// 2014 (MovesIn2014) instead of one row per address period.
HouseholdFindings Evaluate(const Household& h, const std::vector<bool>& visible,
                           const Membership& membership, bool snapshot_register = false);

class StudyAccumulator {
 public:
  StudyAccumulator(size_t wijk_count, bool snapshot_register = false)
      : snapshot_register_(snapshot_register), wijken_(wijk_count) {}

  // `visible[i]` tells whether h.facts[i] reached the linkage (its row was valid).
  void Add(const Household& h, const std::vector<bool>& visible);

  nlohmann::ordered_json ToJson() const;

 private:
  struct Tally {
    uint64_t households = 0, families = 0;
    std::array<uint64_t, kIndicatorCount> indicators = {};
    std::array<uint64_t, 3> domain = {};  // SE, PA, PC
    std::array<uint64_t, 3> only = {};
    uint64_t se_pa = 0, se_pc = 0, pa_pc = 0, all_three = 0;
    std::array<uint64_t, 3> support = {};  // 2012, 2013, both
    std::array<uint64_t, 3> support_all_three = {};
    uint64_t mpg = 0;
    std::array<int64_t, kCostItemCount> cost_cents = {};
    int64_t mpg_cost_cents = 0, other_cost_cents = 0;
    void Merge(const Tally& other);
  };
  static nlohmann::ordered_json TallyJson(const Tally& t);

  bool snapshot_register_;
  std::vector<Tally> wijken_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_STUDY_H_

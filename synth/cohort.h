// The outreach team's cohort (DOMAIN.md section 4): which households the municipality's social
// neighbourhood team worked with in 2013-2014, written as the tenth export (`wijkteam`), and
// the cohort monitor's ground truth, truth/cohort.json: per household type, the households,
// their escalations and their costs per paying party, computed from the records that survive
// the agent's validation with the study's derivations (docs/synth.md).
#ifndef KOPPEL_SYNTH_COHORT_H_
#define KOPPEL_SYNTH_COHORT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nlohmann/json.hpp"
#include "synth/household.h"
#include "synth/rng.h"
#include "synth/study.h"

namespace koppel::synth {

// The cohort's stream for household `index`. It is independent of the household's own stream,
// so drawing the cohort leaves every other export byte for byte as it was.
Rng CohortRng(uint64_t seed, uint64_t index);

// The problem domains (0..3) of the household's drawn problems: addiction and outreach care are
// not 2014 indicators and past care is no domain.
size_t DrawnDomains(const Household& h);

// Appends the household's `wijkteam` trajectories, none for most households: the chance
// grows with the domains of its drawn problems. Draws only from `rng`.
void DrawTrajectories(Household* h, Rng& rng);

enum class HouseholdType { kSingle, kCoupleOrMore, kOneParent, kTwoParents, kOther, kCount };
inline constexpr size_t kHouseholdTypeCount = static_cast<size_t>(HouseholdType::kCount);

// The type of the members on the reference date (docs/synth.md, "Cohort monitor"); kOther:
// no adult member.
HouseholdType TypeOf(const Membership& m);

enum class Escalation { kEvictionNotice, kOts, kOutOfHome, kCrimeSuspect, kCount };
inline constexpr size_t kEscalationCount = static_cast<size_t>(Escalation::kCount);

enum class Payer { kMunicipality, kUwv, kInsurer, kJustice, kCount };
inline constexpr size_t kPayerCount = static_cast<size_t>(Payer::kCount);

// The study's cost items with the crime item split into its categories.
inline constexpr size_t kCohortItemCount = kCostItemCount - 1 + kCrimeCategoryCount;

class CohortAccumulator {
 public:
  // `visible[i]` tells whether h.facts[i] reached the linkage (its row was valid).
  void Add(const Household& h, const std::vector<bool>& visible);

  // Everything of truth/cohort.json but the seed.
  nlohmann::ordered_json ToJson() const;

 private:
  struct Tally {
    uint64_t households = 0;
    std::array<uint64_t, kEscalationCount> escalations = {};
    std::array<int64_t, kCohortItemCount> item_cents = {};
    void Merge(const Tally& other);
  };
  static nlohmann::ordered_json TallyJson(const Tally& t);

  std::array<Tally, kHouseholdTypeCount> types_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_COHORT_H_

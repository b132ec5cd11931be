// The intervention of `koppel-synth --intervention`: outcome events of every household in
// 2015-2019 (eviction notices, police registrations, out-of-home placements of children,
// bijstand spells of adults), written into the existing exports, at yearly rates that grow with
// the household's drawn problems and are multiplied by a known effect per outcome for the
// households whose wijkteam trajectory started in 2014 (docs/synth.md, "Intervention").
#ifndef KOPPEL_SYNTH_INTERVENTION_H_
#define KOPPEL_SYNTH_INTERVENTION_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "synth/household.h"
#include "synth/rng.h"

namespace koppel::synth {

// The outcomes of analyses/cost-benefit.yaml, in its order.
enum class Outcome { kEvictionNotice, kPoliceRegistration, kOutOfHomeDays, kBijstandDays, kCount };
inline constexpr size_t kOutcomeCount = static_cast<size_t>(Outcome::kCount);

// The outcome's name in the spec and in truth/cost_benefit.json.
std::string_view OutcomeName(Outcome outcome);

// Multipliers of the yearly rates from a treated household's start on.
struct InterventionEffects {
  std::array<double, kOutcomeCount> multiplier = {0.5, 0.6, 0.6, 0.8};

  double of(Outcome outcome) const { return multiplier[static_cast<size_t>(outcome)]; }
};

inline constexpr absl::CivilDay kOutcomesFrom(2015, 1, 1);
inline constexpr absl::CivilDay kOutcomesTo(2019, 12, 31);

// The intervention's stream for household `index`, independent of the household's own stream
// and of the cohort's (CohortRng), so that drawing the outcomes changes no other draw.
Rng InterventionRng(uint64_t seed, uint64_t index);

// The start of the household's earliest generated wijkteam trajectory starting in 2014 (the
// treated households), or nullopt.
std::optional<absl::CivilDay> TreatmentStart(const Household& h);

// Appends the household's outcome facts dated kOutcomesFrom..kOutcomesTo. Call after
// DrawTrajectories; draws only from `rng`.
void DrawOutcomes(Household* h, Rng& rng, const InterventionEffects& effects = {});

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_INTERVENTION_H_

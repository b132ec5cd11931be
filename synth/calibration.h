// The published Almelo figures the synthetic municipality is calibrated to (NJI tables 1-4,
// DOMAIN.md section 2) and the unit prices of unit_costs_2014.csv, compiled in so that the
// generator needs no input files.
#ifndef KOPPEL_SYNTH_CALIBRATION_H_
#define KOPPEL_SYNTH_CALIBRATION_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace koppel::synth {

inline constexpr int kAlmeloHouseholds = 31392;
inline constexpr int kAlmeloFamilies = 8555;
inline constexpr int kAlmeloPersons = 72000;

enum class Domain { kSocioEconomic, kPsychosocialAdults, kPsychosocialChildren, kSupportOnly };

// A problem drawn per household from the latent risk model; each becomes records in the
// exports. Family-level prevalences come from the tables; the rest are our assumptions.
enum class Problem {
  kBijstand,
  kWw,
  kDisability,
  kOtherSocial,
  kLowIncome,
  kMoves,
  kAdultBasisGgz,
  kAdultSpecialistGgz,
  kAdultAwbz,
  kAdultCrime,
  kAddiction,
  kOutreach,
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
  kPastCare,  // care in 2012 and/or 2013 that ended before 2014
  kCount,
};
inline constexpr size_t kProblemCount = static_cast<size_t>(Problem::kCount);

struct ProblemInfo {
  std::string_view name;
  Domain domain;
};
const ProblemInfo& InfoOf(Problem problem);

struct WijkProfile {
  std::string_view code;
  std::string_view name;
  int families;
  // Published "any" percentages per domain (tables 1, 2, 3), for reports.
  double se_any_pct, pa_any_pct, pc_any_pct;
  // Share of families with the problem.
  std::array<double, kProblemCount> prevalence;
};

std::span<const WijkProfile> AlmeloWijken();

// Unit prices in euro cents (unit_costs_2014.csv).
struct UnitPrices {
  static constexpr int64_t kWw = 2470090 + 225600;
  static constexpr int64_t kBijstand = 1637217 + 259772;
  static constexpr int64_t kDisability = 1329500 + 49400;
  static constexpr int64_t kOtherSocial = 1490000 + 74600;
  static constexpr int64_t kLowIncome = 99880;
  static constexpr int64_t kYouthProbation = 659328;
  static constexpr int64_t kYouthAmbulant = 286840;
  static constexpr int64_t kYouthDayTreatment = 1541103;
  static constexpr int64_t kYouthResidentialPerDay = 25516;
  static constexpr int64_t kOts = 812091;
  static constexpr int64_t kFosterCarePerDay = 1791 + 1676;
  static constexpr int64_t kGuardianship = 518130;
  static constexpr int64_t kAwbzPsychosocial = 544329;
  static constexpr int64_t kAwbzIntellectual = 2967294;
  static constexpr int64_t kAwbzPhysical = 1442511;
};

// Crime categories of unit_costs_2014.csv with price per offence in cents.
struct CrimeCategory {
  std::string_view code;         // crime_property, ...
  std::string_view export_code;  // police code in the export
  int64_t price_cents;
  double weight;  // share of offences generated (crime_murder: 0)
};
inline constexpr size_t kCrimeCategoryCount = 10;
std::span<const CrimeCategory, kCrimeCategoryCount> CrimeCategories();

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_CALIBRATION_H_

#include "synth/calibration.h"

#include <vector>

namespace koppel::synth {
namespace {

constexpr ProblemInfo kInfo[kProblemCount] = {
    {"bijstand", Domain::kSocioEconomic},
    {"ww", Domain::kSocioEconomic},
    {"disability", Domain::kSocioEconomic},
    {"other_social", Domain::kSocioEconomic},
    {"low_income", Domain::kSocioEconomic},
    {"moves", Domain::kSocioEconomic},
    {"adult_basis_ggz", Domain::kPsychosocialAdults},
    {"adult_specialist_ggz", Domain::kPsychosocialAdults},
    {"adult_awbz", Domain::kPsychosocialAdults},
    {"adult_crime", Domain::kPsychosocialAdults},
    {"addiction_care", Domain::kPsychosocialAdults},
    {"outreach_care", Domain::kSocioEconomic},
    {"youth_ambulant", Domain::kPsychosocialChildren},
    {"youth_day_treatment", Domain::kPsychosocialChildren},
    {"youth_probation", Domain::kPsychosocialChildren},
    {"youth_residential", Domain::kPsychosocialChildren},
    {"child_basis_ggz", Domain::kPsychosocialChildren},
    {"child_specialist_ggz", Domain::kPsychosocialChildren},
    {"guardianship", Domain::kPsychosocialChildren},
    {"foster_care", Domain::kPsychosocialChildren},
    {"ots", Domain::kPsychosocialChildren},
    {"child_crime", Domain::kPsychosocialChildren},
    {"child_awbz", Domain::kPsychosocialChildren},
    {"past_care", Domain::kSupportOnly},
};

// Percentages as published (for "*" cells the published percentage).
struct PublishedRow {
  std::string_view code, name;
  int families;
  double se_any, pa_any, pc_any;
  double bijstand, moves, ww, other_social, disability, low_income;                      // table 1
  double adult_basis_ggz, adult_specialist_ggz, adult_crime;                             // table 2
  double ambulant, day_treatment, probation, residential;                                // table 3
  double child_basis_ggz, child_specialist_ggz, guardianship, foster, ots, child_crime;  // 4
};

constexpr PublishedRow kPublished[] = {
    {"WK014100", "Binnenstad", 378, 52.4, 21.2, 15.1, 18.0, 3.2, 19.6, 13.2, 18.0, 5.0, 4.2,
     10.3,       1.3,          2.9, 1.3,  1.3,  0.0,  2.9,  7.4, 0.0,  1.3,  2.6,  1.3},
    {"WK014101", "De Riet", 855, 55.0, 17.7, 15.3, 16.0, 2.0, 22.7, 15.2, 18.0, 3.9, 2.2,
     9.4,        3.0,       2.6, 0.6,  0.6,  0.0,  2.6,  8.5, 0.0,  0.6,  2.3,  1.5},
    {"WK014102", "Noorderkwartier",
     537,        31.3,
     8.6,        10.4,
     0.9,        0.9,
     16.8,       5.8,
     11.4,       2.0,
     2.4,        4.5,
     0.9,        0.9,
     0.9,        0.9,
     0.9,        3.7,
     5.8,        0.0,
     0.9,        0.9,
     0.9},
    {"WK014103", "Sluitersveld",
     663,        41.0,
     14.5,       13.6,
     14.8,       0.8,
     17.0,       10.7,
     14.3,       2.9,
     2.4,        7.5,
     2.6,        2.6,
     0.8,        0.8,
     0.8,        2.6,
     7.2,        0.8,
     0.8,        2.4,
     1.7},
    {"WK014104", "Wierdense Hoek",
     741,        56.4,
     23.1,       13.8,
     21.2,       0.7,
     18.9,       14.0,
     23.6,       3.8,
     4.0,        10.5,
     3.8,        1.6,
     0.7,        0.7,
     0.7,        2.4,
     5.4,        0.0,
     0.7,        1.9,
     1.3},
    {"WK014105", "Nieuwstraat-Kwartier",
     407,        69.0,
     28.7,       17.7,
     28.3,       1.2,
     22.1,       22.1,
     26.0,       5.7,
     5.4,        9.8,
     5.4,        2.5,
     1.2,        1.2,
     0.0,        1.2,
     8.4,        0.0,
     1.2,        3.4,
     2.5},
    {"WK014106", "Ossenkoppelerhoek",
     940,        60.3,
     21.2,       16.1,
     21.2,       0.5,
     23.9,       13.7,
     21.6,       4.7,
     4.1,        10.2,
     2.4,        3.7,
     0.5,        0.5,
     0.5,        2.2,
     7.0,        0.5,
     0.5,        3.4,
     1.6},
    {"WK014107", "Hofkamp", 445, 27.4, 10.3, 10.1, 1.1, 1.1, 13.9, 6.3, 8.3, 2.5, 3.4,
     3.8,        1.1,       1.1, 0.0,  0.0,  0.0,  2.2, 6.5, 0.0,  1.1, 1.1, 1.1},
    {"WK014108", "Schelfhorst", 1286, 39.6, 11.7, 13.5, 8.2, 0.4, 18.8, 8.5, 13.9, 2.7, 3.0,
     5.9,        1.6,           1.6,  0.4,  0.4,  0.4,  2.9, 8.2, 0.4,  0.4, 0.9,  0.8},
    {"WK014109", "Windmolenbroek",
     1914,       32.1,
     10.2,       11.3,
     4.9,        0.6,
     18.1,       7.5,
     10.2,       1.7,
     3.0,        4.4,
     1.5,        1.4,
     0.3,        0.3,
     0.0,        2.9,
     6.2,        0.3,
     0.3,        0.6,
     0.6},
    {"WK014110", "Aadorp", 186, 29.0, 11.8, 12.9, 5.9, 2.7, 11.8, 7.0, 10.2, 2.7, 2.7,
     2.7,        2.7,      2.7, 0.0,  2.7,  0.0,  2.7, 5.9, 2.7,  2.7, 2.7,  2.7},
    {"WK014111", "Bornerbroek", 203, 22.7, 6.9, 10.8, 2.5, 2.5, 12.8, 6.4, 6.4, 2.5, 2.5,
     2.5,        2.5,           2.5, 0.0,  0.0, 0.0,  2.5, 5.9, 0.0,  2.5, 2.5, 2.5},
};

// Municipal "any" percentages, used to scale the assumed prevalences per wijk.
constexpr double kSeAnyTotal = 43.5, kPaAnyTotal = 15.1, kPcAnyTotal = 13.3;

// Assumptions for problems the tables do not publish separately (share of families).
constexpr double kAdultAwbz = 0.055;
constexpr double kAddiction = 0.012;
constexpr double kOutreach = 0.010;
constexpr double kChildAwbz = 0.006;
constexpr double kPastCare = 0.055;

std::vector<WijkProfile> BuildProfiles() {
  std::vector<WijkProfile> out;
  for (const PublishedRow& r : kPublished) {
    WijkProfile w{r.code, r.name, r.families, r.se_any, r.pa_any, r.pc_any, {}};
    auto set = [&w](Problem p, double value) { w.prevalence[static_cast<size_t>(p)] = value; };
    const double se = r.se_any / kSeAnyTotal, pa = r.pa_any / kPaAnyTotal,
                 pc = r.pc_any / kPcAnyTotal;
    set(Problem::kBijstand, r.bijstand / 100);
    set(Problem::kWw, r.ww / 100);
    set(Problem::kDisability, r.disability / 100);
    set(Problem::kOtherSocial, r.other_social / 100);
    set(Problem::kLowIncome, r.low_income / 100);
    set(Problem::kMoves, r.moves / 100);
    set(Problem::kAdultBasisGgz, r.adult_basis_ggz / 100);
    set(Problem::kAdultSpecialistGgz, r.adult_specialist_ggz / 100);
    set(Problem::kAdultAwbz, kAdultAwbz * pa);
    set(Problem::kAdultCrime, r.adult_crime / 100);
    set(Problem::kAddiction, kAddiction * pa);
    set(Problem::kOutreach, kOutreach * se);
    set(Problem::kYouthAmbulant, r.ambulant / 100);
    set(Problem::kYouthDayTreatment, r.day_treatment / 100);
    set(Problem::kYouthProbation, r.probation / 100);
    set(Problem::kYouthResidential, r.residential / 100);
    set(Problem::kChildBasisGgz, r.child_basis_ggz / 100);
    set(Problem::kChildSpecialistGgz, r.child_specialist_ggz / 100);
    set(Problem::kGuardianship, r.guardianship / 100);
    set(Problem::kFosterCare, r.foster / 100);
    set(Problem::kOts, r.ots / 100);
    set(Problem::kChildCrime, r.child_crime / 100);
    set(Problem::kChildAwbz, kChildAwbz * pc);
    set(Problem::kPastCare, kPastCare);
    out.push_back(w);
  }
  return out;
}

constexpr CrimeCategory kCrimes[kCrimeCategoryCount] = {
    {"crime_murder", "MOORD", 99329344, 0.0}, {"crime_sexual", "ZEDEN", 93994, 0.02},
    {"crime_property", "VERM", 91416, 0.38},  {"crime_assault", "GEWELD", 166190, 0.17},
    {"crime_threat", "BEDR", 22971, 0.08},    {"crime_vandalism_public_order", "VERN", 53326, 0.14},
    {"crime_traffic", "VERK", 77235, 0.07},   {"crime_economic", "ECON", 62702, 0.02},
    {"crime_drugs", "OPIUM", 78407, 0.06},    {"crime_other", "OVERIG", 221977, 0.06},
};

}  // namespace

const ProblemInfo& InfoOf(Problem problem) { return kInfo[static_cast<size_t>(problem)]; }

std::span<const WijkProfile> AlmeloWijken() {
  static const std::vector<WijkProfile> profiles = BuildProfiles();
  return profiles;
}

std::span<const CrimeCategory, kCrimeCategoryCount> CrimeCategories() { return kCrimes; }

}  // namespace koppel::synth

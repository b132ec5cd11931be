#include "synth/intervention.h"

#include <algorithm>
#include <vector>

#include "synth/cohort.h"
#include "synth/study.h"

namespace koppel::synth {
namespace {

constexpr uint64_t kInterventionStream = 0x696e74657276656eULL;  // "interven"

constexpr std::string_view kOutcomeNames[kOutcomeCount] = {"eviction_notice", "police_registration",
                                                           "out_of_home_days", "bijstand_days"};

// Yearly rates, untreated. They follow the household's own records of 2014 at a lower level
// (its wijkteam year was a peak): a notice or arrears, an offender, a placement or bijstand
// spell that ended in 2014 come back at these rates, a running spell goes on; plus a base that
// grows with its drawn problems. Calibrated at the default seed and size (docs/synth.md,
// "Intervention").
constexpr double kEvictionBase = 0.001, kEvictionPoor = 0.005, kEvictionTrouble = 0.005,
                 kEvictionPerDomain = 0.001, kEvictionAfterArrears = 0.1,
                 kEvictionAfterNotice = 0.3;
constexpr double kPoliceAdultOffender = 0.15, kPoliceTeenOffender = 0.15, kPoliceBase = 0.003,
                 kPoliceAddiction = 0.05, kPolicePerDomain = 0.002;
constexpr double kPlacementBase = 0.0005, kPlacementPerChildProblem = 0.0005,
                 kPlacementInYouthCare = 0.001, kPlacementEnded = 0.1;
constexpr double kBijstandBase = 0.001, kBijstandPoor = 0.005, kBijstandUwv = 0.005,
                 kBijstandPerDomain = 0.001, kBijstandEnded = 0.4;

constexpr int kPlacementDays[2] = {180, 900};
constexpr int kBijstandDays[2] = {180, 1095};
constexpr int kGapDays = 30;  // between a spell's end and the next start of the same person
constexpr double kFosterCareShare = 0.6;

bool Has(const Household& h, Problem p) { return h.problems[static_cast<size_t>(p)]; }

bool IsPlacement(const Fact& f) {
  return f.dataset == Dataset::kJeugdzorg &&
         (f.code == "youth_residential" || f.code == "foster_care");
}

bool IsBijstand(const Fact& f) {
  return f.dataset == Dataset::kSocialeZaken && f.code == "bijstand";
}

// What a person's generated records of 2014 say about a spell outcome.
enum class SpellState { kNone, kOther, kEndedIn2014, kRunning };

template <typename Is>
SpellState StateOf(const Household& h, int member, Is is) {
  SpellState state = SpellState::kNone;
  for (const Fact& f : h.facts) {
    if (f.member != member || f.start.year() > 2014) continue;
    if (is(f) && !f.end) return SpellState::kRunning;
    if (is(f) && f.end->year() == 2014) state = SpellState::kEndedIn2014;
    if (state == SpellState::kNone && f.dataset == Dataset::kJeugdzorg && OverlapsYear(f, 2014))
      state = SpellState::kOther;
  }
  return state;
}

absl::CivilDay MonthEnd(absl::CivilDay first) {
  return absl::CivilDay(absl::CivilMonth(first) + 1) - 1;
}

// The twelve-times-five months of the outcome period, each with the rate multiplier that holds
// from its first day.
class Months {
 public:
  Months(std::optional<absl::CivilDay> treated_from, const InterventionEffects& effects)
      : treated_from_(treated_from), effects_(effects) {}

  double Multiplier(absl::CivilDay month, Outcome outcome) const {
    return treated_from_ && month >= *treated_from_ ? effects_.of(outcome) : 1.0;
  }

  template <typename F>
  static void ForEach(F f) {
    for (absl::CivilMonth m(kOutcomesFrom); m <= absl::CivilMonth(kOutcomesTo); ++m) {
      const absl::CivilDay first(m);
      f(first, MonthEnd(first));
    }
  }

 private:
  std::optional<absl::CivilDay> treated_from_;
  const InterventionEffects& effects_;
};

// Events of one Bernoulli(yearly rate / 12) draw per month, dated uniformly in the month.
template <typename Add>
void MonthlyEvents(const Months& months, Outcome outcome, double yearly, Rng& rng, Add add) {
  Months::ForEach([&](absl::CivilDay first, absl::CivilDay last) {
    if (rng.Bernoulli(yearly * months.Multiplier(first, outcome) / 12)) {
      add(RandomDate(rng, first, last));
    }
  });
}

// One spell at a time: a month without a running spell starts one with probability
// yearly / 12; `make` returns the spell's end (nullopt: still running on kOutcomesTo; for no
// spell, `start - 1`).
template <typename Make>
void SpellProcess(const Months& months, Outcome outcome, double yearly, Rng& rng, Make make) {
  absl::CivilDay free_from = kOutcomesFrom;
  bool running = false;
  Months::ForEach([&](absl::CivilDay first, absl::CivilDay last) {
    if (running || last < free_from) return;
    if (!rng.Bernoulli(yearly * months.Multiplier(first, outcome) / 12)) return;
    const absl::CivilDay start = std::max(RandomDate(rng, first, last), free_from);
    const std::optional<absl::CivilDay> end = make(start);
    if (!end) {
      running = true;
    } else {
      free_from = *end + 1 + kGapDays;
    }
  });
}

std::optional<absl::CivilDay> SpellEnd(absl::CivilDay start, int days, absl::CivilDay limit) {
  const absl::CivilDay end = std::min(start + (days - 1), limit);
  if (end > kOutcomesTo) return std::nullopt;
  return end;
}

int AgeAt(const Household& h, int member, absl::CivilDay day) {
  return AgeOn(h.members[static_cast<size_t>(member)].birth, day);
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  return kOutcomeNames[static_cast<size_t>(outcome)];
}

Rng InterventionRng(uint64_t seed, uint64_t index) {
  return Rng(Mix64(Mix64(seed) ^ Mix64(index ^ kInterventionStream)));
}

std::optional<absl::CivilDay> TreatmentStart(const Household& h) {
  std::optional<absl::CivilDay> start;
  for (const Fact& f : h.facts) {
    if (f.dataset == Dataset::kWijkteam && f.start.year() == 2014 && (!start || f.start < *start))
      start = f.start;
  }
  return start;
}

void DrawOutcomes(Household* h, Rng& rng, const InterventionEffects& effects) {
  const Months months(TreatmentStart(*h), effects);
  const double domains = static_cast<double>(DrawnDomains(*h));
  std::vector<int> adults, children, teens, older;
  for (size_t i = 0; i < h->members.size(); ++i) {
    const int member = static_cast<int>(i);
    const int age = AgeOn(h->members[i].birth, kReferenceDate);
    (h->members[i].adult() ? adults : children).push_back(member);
    if (age >= 12 && age <= 17) teens.push_back(member);
    if (age >= 8) older.push_back(member);
  }
  std::vector<Fact> out;

  bool arrears = false, notice = false;
  for (const Fact& f : h->facts) {
    if (f.dataset != Dataset::kWoningcorporatie || f.start.year() != 2014) continue;
    arrears = arrears || f.code == "rent_arrears";
    notice = notice || f.code == "eviction_notice";
  }
  const bool poor = Has(*h, Problem::kBijstand) || Has(*h, Problem::kLowIncome);
  const double eviction =
      kEvictionBase + kEvictionPoor * poor +
      kEvictionTrouble * (Has(*h, Problem::kAdultCrime) || Has(*h, Problem::kAddiction)) +
      kEvictionPerDomain * domains + kEvictionAfterArrears * arrears +
      kEvictionAfterNotice * notice;
  MonthlyEvents(months, Outcome::kEvictionNotice, eviction, rng, [&](absl::CivilDay day) {
    out.push_back(
        {Dataset::kWoningcorporatie, -1, 0, "eviction_notice", day, std::nullopt, 0, std::nullopt});
  });

  std::vector<double> weights;
  for (const CrimeCategory& c : CrimeCategories()) weights.push_back(c.weight);
  auto registration = [&](int member, absl::CivilDay day) {
    if (member < 0 || AgeAt(*h, member, day) < 12) return;
    out.push_back({Dataset::kPolitie, member, 0, CrimeCategories()[rng.PickWeighted(weights)].code,
                   day, std::nullopt, 0, std::nullopt});
  };
  const Outcome police = Outcome::kPoliceRegistration;
  if (Has(*h, Problem::kAdultCrime) && !adults.empty()) {
    const int offender = adults[static_cast<size_t>(rng.Below(adults.size()))];
    MonthlyEvents(months, police, kPoliceAdultOffender, rng,
                  [&](absl::CivilDay day) { registration(offender, day); });
  }
  if (Has(*h, Problem::kChildCrime) && !teens.empty()) {
    const int offender = teens[static_cast<size_t>(rng.Below(teens.size()))];
    MonthlyEvents(months, police, kPoliceTeenOffender, rng,
                  [&](absl::CivilDay day) { registration(offender, day); });
  }
  if (!older.empty()) {
    const double rate =
        kPoliceBase + kPoliceAddiction * Has(*h, Problem::kAddiction) + kPolicePerDomain * domains;
    MonthlyEvents(months, police, rate, rng, [&](absl::CivilDay day) {
      registration(older[static_cast<size_t>(rng.Below(older.size()))], day);
    });
  }

  int child_problems = 0;
  for (size_t i = 0; i < kProblemCount; ++i) {
    if (h->problems[i] && InfoOf(static_cast<Problem>(i)).domain == Domain::kPsychosocialChildren)
      ++child_problems;
  }
  for (int child : children) {
    const absl::CivilDay birth = h->members[static_cast<size_t>(child)].birth;
    const SpellState state = StateOf(*h, child, IsPlacement);
    if (state == SpellState::kRunning) continue;
    const double rate = state == SpellState::kEndedIn2014 ? kPlacementEnded
                        : state == SpellState::kOther
                            ? kPlacementInYouthCare
                            : kPlacementBase + kPlacementPerChildProblem * child_problems;
    SpellProcess(months, Outcome::kOutOfHomeDays, rate, rng,
                 [&](absl::CivilDay start) -> std::optional<absl::CivilDay> {
                   if (AgeOn(birth, start) >= 17) return start - 1;
                   Fact f{Dataset::kJeugdzorg,
                          child,
                          0,
                          rng.Bernoulli(kFosterCareShare) ? "foster_care" : "youth_residential",
                          start,
                          std::nullopt,
                          0,
                          std::nullopt};
                   f.end = SpellEnd(start, rng.Between(kPlacementDays[0], kPlacementDays[1]),
                                    AddYears(birth, 18) - 1);
                   out.push_back(f);
                   return f.end;
                 });
  }

  const bool uwv =
      Has(*h, Problem::kWw) || Has(*h, Problem::kDisability) || Has(*h, Problem::kOtherSocial);
  for (int adult : adults) {
    const SpellState state = StateOf(*h, adult, IsBijstand);
    if (state == SpellState::kRunning) continue;
    const double rate = state == SpellState::kEndedIn2014
                            ? kBijstandEnded
                            : kBijstandBase + kBijstandPoor * poor + kBijstandUwv * uwv +
                                  kBijstandPerDomain * domains;
    SpellProcess(months, Outcome::kBijstandDays, rate, rng,
                 [&](absl::CivilDay start) -> std::optional<absl::CivilDay> {
                   Fact f{Dataset::kSocialeZaken,
                          adult,
                          0,
                          "bijstand",
                          start,
                          std::nullopt,
                          0,
                          rng.Between(int64_t{65000}, int64_t{145000})};
                   f.end = SpellEnd(start, rng.Between(kBijstandDays[0], kBijstandDays[1]),
                                    kOutcomesTo + 1);
                   out.push_back(f);
                   return f.end;
                 });
  }
  h->facts.insert(h->facts.end(), out.begin(), out.end());
}

}  // namespace koppel::synth

#include "synth/cohort.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "synth/calibration.h"

namespace koppel::synth {
namespace {

using C = CostItem;
using P = Payer;

constexpr uint64_t kCohortStream = 0x636f686f72742d31ULL;  // "cohort-1"

// The team's reach by the domains of a household's drawn problems, and for households the
// housing corporation served an eviction notice, which it reports to the team (docs/synth.md).
constexpr double kChanceMpgLike = 0.6;
constexpr double kChanceByDomains[4] = {0.002, 0.01, 0.05, 0.3};
constexpr double kChanceEvictionNotice = 0.2;

constexpr double kStartIn2014 = 0.8;
constexpr double kRunning = 0.5;
constexpr double kRestart = 0.5;  // a new trajectory in 2014 after one that ended in 2013

constexpr std::string_view kReasons[] = {"signal", "self_referral", "partner_referral"};
constexpr double kReasonWeights[] = {0.5, 0.3, 0.2};

struct CohortItem {
  Payer payer;
  CostItem item;
  size_t crime = 0;  // the crime category when item is kCrime
};

constexpr CohortItem kItems[] = {
    {P::kMunicipality, C::kBijstand},
    {P::kMunicipality, C::kLowIncome},
    {P::kMunicipality, C::kYouthAmbulant},
    {P::kMunicipality, C::kYouthDayTreatment},
    {P::kMunicipality, C::kYouthResidential},
    {P::kMunicipality, C::kFosterCare},
    {P::kUwv, C::kWw},
    {P::kUwv, C::kDisability},
    {P::kUwv, C::kOtherSocial},
    {P::kInsurer, C::kGgz},
    {P::kInsurer, C::kAwbzPsychosocial},
    {P::kInsurer, C::kAwbzIntellectual},
    {P::kInsurer, C::kAwbzPhysical},
    {P::kJustice, C::kCrime, 0},
    {P::kJustice, C::kCrime, 1},
    {P::kJustice, C::kCrime, 2},
    {P::kJustice, C::kCrime, 3},
    {P::kJustice, C::kCrime, 4},
    {P::kJustice, C::kCrime, 5},
    {P::kJustice, C::kCrime, 6},
    {P::kJustice, C::kCrime, 7},
    {P::kJustice, C::kCrime, 8},
    {P::kJustice, C::kCrime, 9},
    {P::kJustice, C::kYouthProbation},
    {P::kJustice, C::kOts},
    {P::kJustice, C::kGuardianship},
};
static_assert(std::size(kItems) == kCohortItemCount);

constexpr const char* kTypeNames[kHouseholdTypeCount] = {"single", "couple_or_more", "one_parent",
                                                         "two_parents", "other"};
constexpr const char* kEscalationNames[kEscalationCount] = {"eviction_notice", "ots", "out_of_home",
                                                            "crime_suspect"};
constexpr const char* kPayerNames[kPayerCount] = {"municipality", "uwv", "insurer", "justice"};

std::string_view ItemName(const CohortItem& item) {
  return item.item == C::kCrime ? CrimeCategories()[item.crime].code : CostItemName(item.item);
}

int64_t ItemCents(const CohortItem& item, const HouseholdFindings& findings) {
  return item.item == C::kCrime ? findings.crime_cents[item.crime] : findings.Cost(item.item);
}

std::vector<int> Adults(const Household& h) {
  std::vector<int> adults;
  for (size_t i = 0; i < h.members.size(); ++i) {
    if (h.members[i].adult()) adults.push_back(static_cast<int>(i));
  }
  return adults;
}

// Support in 2012 and 2013 over every member's records.
bool Chronic(const Household& h, const std::vector<bool>& visible) {
  Membership everyone;
  everyone.member.assign(h.members.size(), true);
  for (const Person& p : h.members) everyone.adult.push_back(p.adult());
  const HouseholdFindings findings = Evaluate(h, visible, everyone);
  return findings.support2012 && findings.support2013;
}

// The housing corporation keys its records by address only; address 0 is where the household
// lives on the reference date.
bool EvictionNotice(const Household& h, const std::vector<bool>& visible) {
  for (size_t i = 0; i < h.facts.size(); ++i) {
    const Fact& f = h.facts[i];
    if (visible[i] && f.dataset == Dataset::kWoningcorporatie && f.address == 0 &&
        f.code == "eviction_notice" && f.start.year() == 2014) {
      return true;
    }
  }
  return false;
}

// From the generated records, before validation: what the team can know.
double Chance(const Household& h) {
  const size_t domains = DrawnDomains(h);
  const std::vector<bool> generated(h.facts.size(), true);
  if (domains == 3 && Chronic(h, generated)) return kChanceMpgLike;
  const bool notice = EvictionNotice(h, generated);
  return std::max(kChanceByDomains[domains], notice ? kChanceEvictionNotice : 0.0);
}

Fact Trajectory(const std::vector<int>& adults, absl::CivilDay start,
                std::optional<absl::CivilDay> end, Rng& rng) {
  Fact f;
  f.dataset = Dataset::kWijkteam;
  f.member = adults[static_cast<size_t>(rng.Below(adults.size()))];
  f.code = kReasons[rng.PickWeighted(kReasonWeights)];
  f.start = start;
  f.end = end;
  return f;
}

std::optional<absl::CivilDay> EndAfter(absl::CivilDay start, int min_days, Rng& rng) {
  if (rng.Bernoulli(kRunning)) return std::nullopt;
  return RandomDate(rng, start + min_days, kReferenceDate);
}

bool InCohort(const Household& h, const std::vector<bool>& visible, const Membership& m) {
  for (size_t i = 0; i < h.facts.size(); ++i) {
    const Fact& f = h.facts[i];
    if (visible[i] && f.dataset == Dataset::kWijkteam && m.member[static_cast<size_t>(f.member)] &&
        OverlapsYear(f, 2014)) {
      return true;
    }
  }
  return false;
}

}  // namespace

HouseholdType TypeOf(const Membership& m) {
  if (m.adults == 1) return m.children == 0 ? HouseholdType::kSingle : HouseholdType::kOneParent;
  if (m.adults >= 2) {
    return m.children == 0 ? HouseholdType::kCoupleOrMore : HouseholdType::kTwoParents;
  }
  return HouseholdType::kOther;
}

size_t DrawnDomains(const Household& h) {
  bool domain[3] = {};
  for (size_t i = 0; i < kProblemCount; ++i) {
    const Problem problem = static_cast<Problem>(i);
    if (!h.problems[i] || problem == Problem::kAddiction || problem == Problem::kOutreach) continue;
    const Domain d = InfoOf(problem).domain;
    if (d != Domain::kSupportOnly) domain[static_cast<size_t>(d)] = true;
  }
  return (domain[0] ? 1u : 0u) + (domain[1] ? 1u : 0u) + (domain[2] ? 1u : 0u);
}

Rng CohortRng(uint64_t seed, uint64_t index) {
  return Rng(Mix64(Mix64(seed) ^ Mix64(index ^ kCohortStream)));
}

void DrawTrajectories(Household* h, Rng& rng) {
  if (!rng.Bernoulli(Chance(*h))) return;
  const std::vector<int> adults = Adults(*h);
  if (adults.empty()) return;
  const bool in_2014 = rng.Bernoulli(kStartIn2014);
  const absl::CivilDay start =
      in_2014 ? RandomDate(rng, absl::CivilDay(2014, 1, 1), absl::CivilDay(2014, 12, 15))
              : RandomDate(rng, absl::CivilDay(2013, 1, 1), absl::CivilDay(2013, 12, 31));
  const std::optional<absl::CivilDay> end = EndAfter(start, in_2014 ? 14 : 30, rng);
  h->facts.push_back(Trajectory(adults, start, end, rng));
  if (end && end->year() == 2013 && rng.Bernoulli(kRestart)) {
    const absl::CivilDay again = RandomDate(rng, std::max(*end + 30, absl::CivilDay(2014, 1, 1)),
                                            absl::CivilDay(2014, 12, 15));
    h->facts.push_back(Trajectory(adults, again, EndAfter(again, 14, rng), rng));
  }
}

void CohortAccumulator::Tally::Merge(const Tally& o) {
  households += o.households;
  for (size_t i = 0; i < kEscalationCount; ++i) escalations[i] += o.escalations[i];
  for (size_t i = 0; i < kCohortItemCount; ++i) item_cents[i] += o.item_cents[i];
}

void CohortAccumulator::Add(const Household& h, const std::vector<bool>& visible) {
  const Membership membership = MembersOnReferenceDate(h, visible);
  if (membership.empty() || !InCohort(h, visible, membership)) return;
  const HouseholdFindings findings = Evaluate(h, visible, membership);
  Tally& t = types_[static_cast<size_t>(TypeOf(membership))];
  ++t.households;
  const bool escalated[kEscalationCount] = {
      EvictionNotice(h, visible), findings.Has(Indicator::kOts),
      findings.Has(Indicator::kYouthResidential) || findings.Has(Indicator::kFosterCare),
      findings.Has(Indicator::kAdultCrime) || findings.Has(Indicator::kChildCrime)};
  for (size_t i = 0; i < kEscalationCount; ++i) t.escalations[i] += escalated[i] ? 1u : 0u;
  for (size_t i = 0; i < kCohortItemCount; ++i) t.item_cents[i] += ItemCents(kItems[i], findings);
}

nlohmann::ordered_json CohortAccumulator::TallyJson(const Tally& t) {
  nlohmann::ordered_json escalations;
  for (size_t i = 0; i < kEscalationCount; ++i) escalations[kEscalationNames[i]] = t.escalations[i];
  std::array<int64_t, kPayerCount> by_payer = {};
  nlohmann::ordered_json by_item;
  int64_t total = 0;
  for (size_t i = 0; i < kCohortItemCount; ++i) {
    by_payer[static_cast<size_t>(kItems[i].payer)] += t.item_cents[i];
    by_item[std::string(ItemName(kItems[i]))] = t.item_cents[i];
    total += t.item_cents[i];
  }
  nlohmann::ordered_json payers;
  for (size_t i = 0; i < kPayerCount; ++i) payers[kPayerNames[i]] = by_payer[i];
  nlohmann::ordered_json j;
  j["households"] = t.households;
  j["escalations"] = escalations;
  j["costs_cents"] = {{"by_payer", payers}, {"by_item", by_item}, {"total", total}};
  return j;
}

nlohmann::ordered_json CohortAccumulator::ToJson() const {
  Tally total;
  nlohmann::ordered_json types;
  for (size_t i = 0; i < kHouseholdTypeCount; ++i) {
    total.Merge(types_[i]);
    types[kTypeNames[i]] = TallyJson(types_[i]);
  }
  nlohmann::ordered_json out;
  out["reference_date"] = "2014-12-31";
  out["definitions"] = "docs/synth.md";
  out["total"] = TallyJson(total);
  out["household_types"] = types;
  return out;
}

}  // namespace koppel::synth

#include "synth/household.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/address.h"
#include "core/bsn.h"
#include "fmt/format.h"

namespace koppel::synth {
namespace {

// Latent risk model: every problem's propensity is a weighted sum of standard normal factors:
// z (the household's overall risk, shared by all domains), f (one per domain), two pair
// factors (socio-economic with adult psychosocial, adult with child psychosocial) and the
// problem's own noise. The weights set the overlaps of table 5 (docs/synth.md).
struct Loading {
  double common, domain, se_pa, pa_pc;
};
constexpr Loading kLoadings[] = {
    {0.25, 0.00, 0.34, 0.00},  // socio-economic
    {0.30, 0.00, 0.50, 0.32},  // psychosocial adults
    {0.15, 0.40, 0.00, 0.38},  // psychosocial children
    {0.35, 0.00, 0.30, 0.30},  // support only (past care)
};
constexpr double kNonFamilyFactor = 0.6;  // prevalence in households without children
constexpr double kTeenShare = 0.48;       // share of families with a child aged 12-17
constexpr double kLongCare = 0.90;        // care in 2014 that already ran in 2012 and 2013
constexpr double kCareFrom2013 = 0.04;

constexpr int kYear2014 = 2014;
constexpr absl::CivilDay kYearStart(2014, 1, 1);
constexpr absl::CivilDay kYearEnd(2014, 12, 31);

constexpr std::array<std::string_view, 24> kStreets = {
    "Grotestraat",       "Wierdensestraat",
    "Ootmarsumsestraat", "Rembrandtlaan",
    "Hofkampstraat",     "Schuttersveld",
    "Ambachtsweg",       "Boddenstraat",
    "Kerkstraat",        "Nieuwstraat",
    "Molenstraat",       "Hagenborgh",
    "Bornsestraat",      "Sluitersveldssingel",
    "Oranjestraat",      "Vriezenveenseweg",
    "Noorderstraat",     "Vincent van Goghstraat",
    "Parkweg",           "Windmolenweg",
    "Aadorpweg",         "Bornerbroeksestraat",
    "Ossenkoppelerweg",  "Café de Riet"};

// The same day `years` later (earlier when negative); 29 February becomes the 28th in a common
// year.
absl::CivilDay AddYears(absl::CivilDay d, int years) {
  const int year = static_cast<int>(d.year()) + years;
  return absl::CivilDay(year, d.month(), std::min(d.day(), DaysInMonth(year, d.month())));
}

absl::CivilDay BirthForAge(Rng& rng, int age) {
  return RandomDate(rng, absl::CivilDay(kYear2014 - age, 1, 1),
                    absl::CivilDay(kYear2014 - age, 12, 31));
}

// An end date for a spell that runs into 2014: open (still running) or within 2014.
std::optional<absl::CivilDay> EndIn2014(Rng& rng, absl::CivilDay start, double open_share) {
  if (rng.Bernoulli(open_share)) return std::nullopt;
  return RandomDate(rng, std::max(start + 30, kYearStart), kYearEnd);
}

bool HasProblem(const Household& h, Problem p) { return h.problems[static_cast<size_t>(p)]; }

std::vector<int> MembersWhere(const Household& h, bool adults) {
  std::vector<int> out;
  for (size_t i = 0; i < h.members.size(); ++i) {
    if (h.members[i].adult() == adults) out.push_back(static_cast<int>(i));
  }
  return out;
}

int PickMember(const std::vector<int>& members, Rng& rng) {
  return members.empty() ? -1 : members[static_cast<size_t>(rng.Below(members.size()))];
}

int64_t RandomCents(Rng& rng, double lo_euro, double hi_euro) {
  return rng.Between(static_cast<int64_t>(lo_euro * 100), static_cast<int64_t>(hi_euro * 100));
}

// Skewed towards lo: lo * (hi/lo)^u, in whole cents, using only exact arithmetic on a table.
int64_t SkewedCents(Rng& rng, double lo_euro, double hi_euro) {
  const double u = rng.Uniform();
  return static_cast<int64_t>(100 * (lo_euro + (hi_euro - lo_euro) * u * u * u));
}

}  // namespace

int MovesIn2014(const Household& h, int member) {
  int moves = 0;
  for (const Fact& f : h.facts) {
    if (f.dataset == Dataset::kBrp && f.member == member && f.start.year() == 2014 &&
        f.start != h.members[static_cast<size_t>(member)].birth) {
      ++moves;
    }
  }
  return moves;
}

absl::CivilDay RandomDate(Rng& rng, absl::CivilDay lo, absl::CivilDay hi) {
  const int a = DaysSinceEpoch(lo), b = DaysSinceEpoch(hi);
  if (b <= a) return lo;
  return DayFromDays(rng.Between(a, b));
}

BsnAllocator::BsnAllocator(uint64_t seed, bool from_top)
    : offset_(Mix64(seed) % 100000000u), from_top_(from_top) {}

std::string BsnAllocator::Next() {
  // i -> i * odd-non-multiple-of-5 + offset (mod 10^8) is a bijection on 8-digit stems.
  char digits[9];
  while (true) {
    const uint64_t i = from_top_ ? 99999999u - counter_++ % 100000000u : counter_++;
    const uint64_t stem = (i * 2654435761u + offset_) % 100000000u;
    if (BsnFromStem(static_cast<uint32_t>(stem), digits)) return std::string(digits, 9);
  }
}

Address AddressAllocator::Next() {
  constexpr uint64_t kPerPostcode = 20;
  constexpr uint64_t kPairs = 13 * 26;  // first letter A-M (current) or N-Z (earlier)
  const uint64_t k = counter_++;
  const uint64_t postcode_index = k / kPerPostcode;
  const uint64_t slot = k % kPerPostcode;
  const uint64_t digits = 1000 + (6600 + postcode_index / kPairs) % 9000;
  const uint64_t pair = postcode_index % kPairs;
  char first = static_cast<char>('A' + 13 * kind_ + static_cast<int>(pair / 26));
  char second = static_cast<char>('A' + static_cast<int>(pair % 26));
  if (first == 'S' && (second == 'A' || second == 'D' || second == 'S')) second = 'B';
  Address a;
  a.postcode = fmt::format("{}{}{}", digits, first, second);
  const uint64_t h = Mix64(k * 4 + static_cast<uint64_t>(kind_));
  const bool flats = postcode_index % 5 == 0;
  a.number = static_cast<int>(flats ? 100 + slot : 1 + 2 * slot + (h >> 40) % 2 * 40);
  static constexpr std::array<std::string_view, 7> kAdditions = {"1",  "2",  "3", "BIS",
                                                                 "II", "HS", "A1"};
  const uint64_t r = h % 100;
  if (r < 10 || (r >= 17 && r < 20)) a.letter = static_cast<char>('A' + (h >> 8) % 4);
  if (r >= 10 && r < 20) a.addition = kAdditions[(h >> 16) % kAdditions.size()];
  if (flats && a.addition.empty() && r < 60) a.addition = fmt::format("{}", 1 + (h >> 24) % 4);
  a.street = std::string(kStreets[postcode_index % kStreets.size()]);
  const std::string number = fmt::format("{}", a.number);
  AddressResult parsed = ParseAddressFields(
      a.postcode, number, std::string_view(&a.letter, a.letter ? 1 : 0), a.addition);
  a.canonical = std::string(parsed.view());
  return a;
}

Household HouseholdGenerator::Generate(uint64_t index, int wijk, bool family, Rng& rng) {
  Household h;
  h.index = index;
  h.wijk = wijk;
  MakeMembers(family, &h, rng);
  DrawProblems(family, &h, rng);
  MakeAddressHistory(&h, rng);
  MakeBenefitFacts(&h, rng);
  MakeCareFacts(&h, rng);
  MakeOtherFacts(&h, rng);
  return h;
}

void HouseholdGenerator::MakeMembers(bool family, Household* h, Rng& rng) {
  std::vector<int> adult_ages, child_ages;
  if (family) {
    static constexpr double kChildren[] = {0.34, 0.40, 0.18, 0.08};
    const size_t wanted = 1 + rng.PickWeighted(kChildren);
    int age = rng.Between(0, 17);
    child_ages.push_back(age);
    int up = age, down = age;
    while (child_ages.size() < wanted) {
      if (up + 1 <= 17 && rng.Bernoulli(0.5)) {
        up = std::min(17, up + rng.Between(1, 4));
        child_ages.push_back(up);
      } else if (down >= 1) {
        down = std::max(0, down - rng.Between(1, 4));
        child_ages.push_back(down);
      } else if (up < 17) {
        up = std::min(17, up + rng.Between(1, 4));
        child_ages.push_back(up);
      } else {
        break;
      }
    }
    const int parent = std::max(up + rng.Between(21, 38), 18);
    adult_ages.push_back(parent);
    if (rng.Bernoulli(0.76)) adult_ages.push_back(std::max(18, parent + rng.Between(-4, 6)));
    if (rng.Bernoulli(0.12)) adult_ages.push_back(rng.Between(18, 23));
  } else {
    static constexpr double kTypes[] = {0.45, 0.42, 0.13};
    switch (rng.PickWeighted(kTypes)) {
      case 0:
        adult_ages.push_back(rng.Bernoulli(0.3) ? rng.Between(18, 35) : rng.Between(36, 94));
        break;
      case 1: {
        const int a = rng.Between(19, 88);
        adult_ages.push_back(a);
        adult_ages.push_back(std::max(18, a + rng.Between(-5, 5)));
        break;
      }
      default: {
        const int a = rng.Between(44, 66);
        adult_ages.push_back(a);
        adult_ages.push_back(a + rng.Between(-4, 4));
        adult_ages.push_back(rng.Between(18, 26));
        break;
      }
    }
  }
  std::sort(adult_ages.rbegin(), adult_ages.rend());
  std::sort(child_ages.rbegin(), child_ages.rend());
  for (int age : adult_ages) h->members.push_back({bsns_.Next(), BirthForAge(rng, age)});
  for (int age : child_ages) h->members.push_back({bsns_.Next(), BirthForAge(rng, age)});
}

void HouseholdGenerator::DrawProblems(bool family, Household* h, Rng& rng) {
  const WijkProfile& profile = AlmeloWijken()[static_cast<size_t>(h->wijk)];
  const double z = rng.Normal();
  const double factors[] = {rng.Normal(), rng.Normal(), rng.Normal(), rng.Normal()};
  const double se_pa = rng.Normal(), pa_pc = rng.Normal();
  bool has_teen = false;
  for (const Person& p : h->members) {
    const int age = AgeOn(p.birth, kReferenceDate);
    has_teen = has_teen || (age >= 12 && age <= 17);
  }
  for (size_t i = 0; i < kProblemCount; ++i) {
    const Problem problem = static_cast<Problem>(i);
    const Domain domain = InfoOf(problem).domain;
    const double noise = rng.Normal();
    double q = profile.prevalence[i];
    if (!family) {
      if (domain == Domain::kPsychosocialChildren) continue;
      q *= kNonFamilyFactor;
    }
    if (problem == Problem::kYouthProbation || problem == Problem::kChildCrime) {
      if (!has_teen) continue;
      q = std::min(0.95, q / kTeenShare);
    }
    if (q <= 0) continue;
    const Loading& l = kLoadings[static_cast<size_t>(domain)];
    const double rest = std::sqrt(1 - l.common * l.common - l.domain * l.domain -
                                  l.se_pa * l.se_pa - l.pa_pc * l.pa_pc);
    const double x = l.common * z + l.domain * factors[static_cast<size_t>(domain)] +
                     l.se_pa * se_pa + l.pa_pc * pa_pc + rest * noise;
    h->problems[i] = x > InverseNormal(1 - q);
  }
}

void HouseholdGenerator::MakeAddressHistory(Household* h, Rng& rng) {
  struct Period {
    int address;
    absl::CivilDay from;
    std::optional<absl::CivilDay> to;
  };
  std::vector<Period> periods;
  auto add_address = [h](Address a, int wijk) {
    a.wijk = wijk;
    h->addresses.push_back(std::move(a));
    return static_cast<int>(h->addresses.size()) - 1;
  };
  const int wijk_count = static_cast<int>(AlmeloWijken().size());
  const int current = add_address(current_.Next(), h->wijk);
  if (HasProblem(*h, Problem::kMoves)) {
    const absl::CivilDay m1 =
        RandomDate(rng, absl::CivilDay(2014, 1, 10), absl::CivilDay(2014, 9, 30));
    const absl::CivilDay m2 = RandomDate(rng, m1 + 30, absl::CivilDay(2014, 12, 20));
    const int first = add_address(previous_.Next(), rng.Between(0, wijk_count - 1));
    const int second = add_address(previous_.Next(), rng.Between(0, wijk_count - 1));
    periods.push_back(
        {first, RandomDate(rng, absl::CivilDay(2000, 1, 1), absl::CivilDay(2013, 12, 31)), m1});
    periods.push_back({second, m1, m2});
    periods.push_back({current, m2, std::nullopt});
  } else {
    const double r = rng.Uniform();
    absl::CivilDay since;
    if (r < 0.07) {
      since = RandomDate(rng, kYearStart, kYearEnd);
    } else if (r < 0.20) {
      since = RandomDate(rng, kPeriodStart, absl::CivilDay(2013, 12, 31));
    } else {
      since = RandomDate(rng, absl::CivilDay(1975, 1, 1), absl::CivilDay(2011, 12, 31));
    }
    if (since >= kPeriodStart) {
      const int before = add_address(previous_.Next(),
                                     rng.Bernoulli(0.6) ? h->wijk : rng.Between(0, wijk_count - 1));
      const absl::CivilDay latest = std::min(since - 60, absl::CivilDay(2013, 12, 31));
      periods.push_back({before, RandomDate(rng, AddYears(since, -10), latest), since});
    }
    periods.push_back({current, since, std::nullopt});
  }
  for (size_t m = 0; m < h->members.size(); ++m) {
    const absl::CivilDay birth = h->members[m].birth;
    for (const Period& p : periods) {
      if (p.to && (*p.to <= birth || *p.to <= kPeriodStart)) continue;
      Fact f;
      f.dataset = Dataset::kBrp;
      f.member = static_cast<int>(m);
      f.address = p.address;
      f.code =
          AlmeloWijken()[static_cast<size_t>(h->addresses[static_cast<size_t>(p.address)].wijk)]
              .code;
      f.start = std::max(p.from, birth);
      f.end = p.to;
      h->facts.push_back(f);
    }
  }
}

void HouseholdGenerator::MakeBenefitFacts(Household* h, Rng& rng) {
  const std::vector<int> adults = MembersWhere(*h, true);
  auto spell = [&](Dataset dataset, std::string_view code, int member, absl::CivilDay lo,
                   double open_share, std::optional<int64_t> cents) {
    Fact f;
    f.dataset = dataset;
    f.member = member;
    f.code = code;
    f.start = RandomDate(rng, lo, absl::CivilDay(2014, 11, 30));
    f.end = EndIn2014(rng, f.start, open_share);
    f.cents = cents;
    h->facts.push_back(f);
  };
  auto past_spell = [&](Dataset dataset, std::string_view code, int member,
                        std::optional<int64_t> cents) {
    Fact f;
    f.dataset = dataset;
    f.member = member;
    f.code = code;
    f.end = RandomDate(rng, absl::CivilDay(2012, 1, 15), absl::CivilDay(2013, 12, 31));
    f.start = RandomDate(rng, AddYears(*f.end, -4), *f.end - 30);
    f.cents = cents;
    h->facts.push_back(f);
  };
  const bool bijstand = HasProblem(*h, Problem::kBijstand);
  const bool low_income = HasProblem(*h, Problem::kLowIncome);
  if (bijstand) {
    spell(Dataset::kSocialeZaken, "bijstand", PickMember(adults, rng), absl::CivilDay(2006, 1, 1),
          0.6, RandomCents(rng, 650, 1450));
  } else if (rng.Bernoulli(0.03)) {
    past_spell(Dataset::kSocialeZaken, "bijstand", PickMember(adults, rng),
               RandomCents(rng, 650, 1450));
  }
  if ((bijstand || low_income) ? rng.Bernoulli(0.5) : rng.Bernoulli(0.02)) {
    Fact f{Dataset::kSocialeZaken,
           PickMember(adults, rng),
           0,
           "special_assistance",
           RandomDate(rng, kYearStart, absl::CivilDay(2014, 12, 1)),
           std::nullopt,
           0,
           RandomCents(rng, 40, 900)};
    f.end = f.start;
    h->facts.push_back(f);
  }
  if ((bijstand || low_income) ? rng.Bernoulli(0.6) : rng.Bernoulli(0.03)) {
    h->facts.push_back({Dataset::kSocialeZaken, PickMember(adults, rng), 0, "minimum_scheme",
                        kYearStart, kYearEnd, 0, std::nullopt});
  }
  if (HasProblem(*h, Problem::kWw)) {
    spell(Dataset::kUwv, "ww", PickMember(adults, rng), absl::CivilDay(2011, 6, 1), 0.45,
          RandomCents(rng, 55, 205));
  } else if (rng.Bernoulli(0.04)) {
    past_spell(Dataset::kUwv, "ww", PickMember(adults, rng), RandomCents(rng, 55, 205));
  }
  if (HasProblem(*h, Problem::kDisability)) {
    spell(Dataset::kUwv, "disability", PickMember(adults, rng), absl::CivilDay(1992, 1, 1), 0.85,
          RandomCents(rng, 40, 180));
  }
  if (HasProblem(*h, Problem::kOtherSocial)) {
    spell(Dataset::kUwv, "other_social", PickMember(adults, rng), absl::CivilDay(2000, 1, 1), 0.75,
          RandomCents(rng, 35, 90));
  }
  // Household income, keyed by the reference person (the oldest adult).
  const bool bijstand_level = bijstand && !low_income;
  for (int year : {2013, 2014}) {
    int64_t cents;
    if (low_income && year == kYear2014) {
      cents = RandomCents(rng, 4200, 9249.99);
    } else if (bijstand_level) {
      cents = RandomCents(rng, 9400, 14500);
    } else {
      cents = 925000 + SkewedCents(rng, 600, 70000);
    }
    Fact f{Dataset::kInkomen, 0, 0, "", absl::CivilDay(year, 1, 1), std::nullopt, year, cents};
    h->facts.push_back(f);
  }
}

void HouseholdGenerator::MakeCareFacts(Household* h, Rng& rng) {
  const std::vector<int> adults = MembersWhere(*h, true);
  const std::vector<int> children = MembersWhere(*h, false);
  std::vector<int> teens;
  for (int c : children) {
    if (AgeOn(h->members[static_cast<size_t>(c)].birth, kReferenceDate) >= 12) teens.push_back(c);
  }
  // First year of care that runs in 2014.
  auto first_year = [&rng]() {
    const double r = rng.Uniform();
    return r < kLongCare ? 2012 : (r < kLongCare + kCareFrom2013 ? 2013 : 2014);
  };
  auto zorg_years = [&](std::string_view code, int member, int from, int to, bool with_cost,
                        double lo, double hi) {
    for (int year = from; year <= to; ++year) {
      if (h->members[static_cast<size_t>(member)].birth.year() > year) continue;
      Fact f{Dataset::kZorg, member, 0, code, {}, std::nullopt, year, std::nullopt};
      f.start = absl::CivilDay(year, 1, 1);
      if (with_cost) f.cents = 100 * static_cast<int64_t>(lo) + SkewedCents(rng, 0, hi - lo);
      h->facts.push_back(f);
    }
  };
  auto awbz_code = [&rng]() -> std::string_view {
    static constexpr double kWeights[] = {0.5, 0.35, 0.15};
    static constexpr std::string_view kCodes[] = {"awbz_physical", "awbz_psychosocial",
                                                  "awbz_intellectual"};
    return kCodes[rng.PickWeighted(kWeights)];
  };
  auto youth = [&](std::string_view code, int member, int first) {
    if (member < 0) return;
    const absl::CivilDay birth = h->members[static_cast<size_t>(member)].birth;
    Fact f{Dataset::kJeugdzorg, member, 0, code, {}, std::nullopt, 0, std::nullopt};
    if (first == 2012) {
      f.start = RandomDate(rng, absl::CivilDay(2009, 1, 1), absl::CivilDay(2011, 12, 31));
    } else if (first == 2013) {
      f.start = RandomDate(rng, absl::CivilDay(2013, 1, 1), absl::CivilDay(2013, 12, 31));
    } else {
      f.start = RandomDate(rng, kYearStart, absl::CivilDay(2014, 12, 1));
    }
    f.start = std::max(f.start, birth + 14);
    if (f.start > absl::CivilDay(2014, 12, 1)) return;
    f.end = EndIn2014(rng, f.start, 0.55);
    if (f.end && *f.end < f.start) f.end = std::nullopt;
    h->facts.push_back(f);
  };

  struct ZorgCare {
    Problem problem;
    std::string_view code;  // empty: an AWBZ type
    bool adult, cost;
    double lo, hi;
  };
  static constexpr ZorgCare kZorg[] = {
      {Problem::kAdultBasisGgz, "basis_ggz", true, true, 350, 1900},
      {Problem::kAdultSpecialistGgz, "specialist_ggz", true, true, 1500, 30000},
      {Problem::kAdultAwbz, "", true, false, 0, 0},
      {Problem::kAddiction, "addiction_care", true, false, 0, 0},
      {Problem::kOutreach, "outreach_care", true, false, 0, 0},
      {Problem::kChildBasisGgz, "basis_ggz", false, true, 350, 1900},
      {Problem::kChildSpecialistGgz, "specialist_ggz", false, true, 1500, 30000},
      {Problem::kChildAwbz, "", false, false, 0, 0},
  };
  for (const ZorgCare& care : kZorg) {
    if (!HasProblem(*h, care.problem)) continue;
    const int member = PickMember(care.adult ? adults : children, rng);
    if (member < 0) continue;
    const std::string_view code = care.code.empty() ? awbz_code() : care.code;
    zorg_years(code, member, first_year(), kYear2014, care.cost, care.lo, care.hi);
  }
  struct YouthCare {
    Problem problem;
    std::string_view code;
    bool teen;
  };
  static constexpr YouthCare kYouth[] = {
      {Problem::kYouthAmbulant, "youth_ambulant", false},
      {Problem::kYouthDayTreatment, "youth_day_treatment", false},
      {Problem::kYouthProbation, "youth_probation", true},
      {Problem::kYouthResidential, "youth_residential", false},
      {Problem::kGuardianship, "guardianship", false},
      {Problem::kFosterCare, "foster_care", false},
      {Problem::kOts, "ots", false},
  };
  for (const YouthCare& care : kYouth) {
    if (!HasProblem(*h, care.problem)) continue;
    youth(care.code, PickMember(care.teen ? teens : children, rng), first_year());
  }
  if (HasProblem(*h, Problem::kPastCare)) {
    const double r = rng.Uniform();
    const int from = r < 0.72 ? 2012 : 2013;
    const int to = (r < 0.60 || r >= 0.72) ? 2013 : 2012;
    if (!children.empty() && rng.Bernoulli(0.4)) {
      const int member = PickMember(children, rng);
      Fact f{Dataset::kJeugdzorg, member, 0, "youth_ambulant", {}, std::nullopt, 0, std::nullopt};
      f.start = std::max(RandomDate(rng, absl::CivilDay(from, 1, 1), absl::CivilDay(from, 6, 30)),
                         h->members[static_cast<size_t>(member)].birth + 14);
      f.end = RandomDate(rng, std::max(absl::CivilDay(to, 7, 1), f.start + 30),
                         absl::CivilDay(to, 12, 31));
      if (*f.end > absl::CivilDay(2013, 12, 31)) f.end = absl::CivilDay(2013, 12, 31);
      if (*f.end >= f.start) h->facts.push_back(f);
    } else {
      const int member = PickMember(adults, rng);
      zorg_years(rng.Bernoulli(0.5) ? "basis_ggz" : "specialist_ggz", member, from, to, true, 350,
                 6000);
    }
  }
}

void HouseholdGenerator::MakeOtherFacts(Household* h, Rng& rng) {
  const std::vector<int> adults = MembersWhere(*h, true);
  std::vector<int> teens;
  for (size_t i = 0; i < h->members.size(); ++i) {
    const int age = AgeOn(h->members[i].birth, kReferenceDate);
    if (age >= 12 && age <= 17) teens.push_back(static_cast<int>(i));
  }
  std::vector<double> weights;
  for (const CrimeCategory& c : CrimeCategories()) weights.push_back(c.weight);
  auto offences = [&](int member, absl::CivilDay lo, absl::CivilDay hi, int count) {
    for (int i = 0; i < count; ++i) {
      Fact f{Dataset::kPolitie,
             member,
             0,
             CrimeCategories()[rng.PickWeighted(weights)].code,
             RandomDate(rng, lo, hi),
             std::nullopt,
             0,
             std::nullopt};
      h->facts.push_back(f);
    }
  };
  if (HasProblem(*h, Problem::kAdultCrime)) {
    const int member = PickMember(adults, rng);
    offences(member, kYearStart, kYearEnd, rng.Between(1, 3));
    if (rng.Bernoulli(0.4))
      offences(member, kPeriodStart, absl::CivilDay(2013, 12, 31), rng.Between(1, 2));
  } else if (rng.Bernoulli(0.01)) {
    offences(PickMember(adults, rng), kPeriodStart, absl::CivilDay(2013, 12, 31), 1);
  }
  if (HasProblem(*h, Problem::kChildCrime) && !teens.empty()) {
    offences(PickMember(teens, rng), kYearStart, kYearEnd, rng.Between(1, 2));
  }

  const bool poor = HasProblem(*h, Problem::kBijstand) || HasProblem(*h, Problem::kLowIncome);
  const bool trouble = HasProblem(*h, Problem::kAdultCrime) || HasProblem(*h, Problem::kAddiction);
  if (rng.Bernoulli(poor ? 0.18 : 0.02)) {
    Fact arrears{Dataset::kWoningcorporatie,
                 -1,
                 0,
                 "rent_arrears",
                 RandomDate(rng, kYearStart, absl::CivilDay(2014, 10, 31)),
                 std::nullopt,
                 0,
                 RandomCents(rng, 250, 4800)};
    h->facts.push_back(arrears);
    if (rng.Bernoulli(0.25)) {
      h->facts.push_back({Dataset::kWoningcorporatie, -1, 0, "eviction_notice",
                          RandomDate(rng, arrears.start + 20, kYearEnd), std::nullopt, 0,
                          std::nullopt});
    }
  }
  if (rng.Bernoulli(trouble ? 0.2 : 0.01)) {
    h->facts.push_back({Dataset::kWoningcorporatie, -1, 0, "nuisance",
                        RandomDate(rng, kYearStart, kYearEnd), std::nullopt, 0, std::nullopt});
  }

  if (rng.Bernoulli(poor ? 0.25 : (HasProblem(*h, Problem::kWw) ? 0.05 : 0.01))) {
    const int member = PickMember(adults, rng);
    Fact debt{Dataset::kSchuldhulp,
              member,
              0,
              "debt_counselling",
              RandomDate(rng, kPeriodStart, absl::CivilDay(2014, 12, 1)),
              std::nullopt,
              0,
              std::nullopt};
    if (rng.Bernoulli(0.5))
      debt.end = RandomDate(rng, debt.start + 60, absl::CivilDay(2014, 12, 31));
    if (debt.end && *debt.end < debt.start) debt.end = std::nullopt;
    h->facts.push_back(debt);
    if (rng.Bernoulli(0.3)) {
      h->facts.push_back({Dataset::kSchuldhulp, member, 0, "budget_management", debt.start,
                          std::nullopt, 0, std::nullopt});
    }
  }
}

}  // namespace koppel::synth

#include "synth/study.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace koppel::synth {
namespace {

using I = Indicator;
using C = CostItem;

constexpr absl::CivilDay kYearStart(2014, 1, 1);

// Days of 2014 covered by a spell whose end date is its last day (open: to 31-12-2014).
int64_t DaysIn2014(const Fact& f) {
  const absl::CivilDay from = std::max(f.start, kYearStart);
  const absl::CivilDay to = f.end ? std::min(*f.end, kReferenceDate) : kReferenceDate;
  if (to < from) return 0;
  return DaysSinceEpoch(to) - DaysSinceEpoch(from) + 1;
}

size_t CrimeIndex(std::string_view code) {
  const auto categories = CrimeCategories();
  for (size_t i = 0; i < categories.size(); ++i) {
    if (categories[i].code == code) return i;
  }
  return categories.size();
}

double Round2(double x) { return std::round(x * 100) / 100; }
double Pct(uint64_t n, uint64_t d) {
  return d == 0 ? 0.0 : Round2(100.0 * static_cast<double>(n) / static_cast<double>(d));
}
double Euro(int64_t cents) { return static_cast<double>(cents) / 100.0; }

constexpr const char* kIndicatorNames[kIndicatorCount] = {"bijstand",
                                                          "moves",
                                                          "ww",
                                                          "other_social",
                                                          "disability",
                                                          "low_income",
                                                          "basis_ggz",
                                                          "specialist_ggz",
                                                          "crime_suspect",
                                                          "awbz",
                                                          "youth_care",
                                                          "youth_ambulant",
                                                          "youth_day_treatment",
                                                          "youth_probation",
                                                          "youth_residential",
                                                          "basis_ggz",
                                                          "specialist_ggz",
                                                          "guardianship",
                                                          "foster_care",
                                                          "ots",
                                                          "crime_suspect",
                                                          "awbz"};
constexpr const char* kCostNames[kCostItemCount] = {"ww",
                                                    "bijstand",
                                                    "disability",
                                                    "other_social",
                                                    "low_income",
                                                    "youth_probation",
                                                    "youth_ambulant",
                                                    "youth_day_treatment",
                                                    "youth_residential",
                                                    "ots",
                                                    "foster_care",
                                                    "guardianship",
                                                    "awbz_psychosocial",
                                                    "awbz_intellectual",
                                                    "awbz_physical",
                                                    "crime",
                                                    "ggz_basic_and_specialist"};

}  // namespace

void StudyAccumulator::Tally::Merge(const Tally& o) {
  households += o.households;
  families += o.families;
  for (size_t i = 0; i < kIndicatorCount; ++i) indicators[i] += o.indicators[i];
  for (size_t i = 0; i < 3; ++i) {
    domain[i] += o.domain[i];
    only[i] += o.only[i];
    support[i] += o.support[i];
    support_all_three[i] += o.support_all_three[i];
  }
  se_pa += o.se_pa;
  se_pc += o.se_pc;
  pa_pc += o.pa_pc;
  all_three += o.all_three;
  mpg += o.mpg;
  for (size_t i = 0; i < kCostItemCount; ++i) cost_cents[i] += o.cost_cents[i];
  mpg_cost_cents += o.mpg_cost_cents;
  other_cost_cents += o.other_cost_cents;
}

std::string_view CostItemName(CostItem item) { return kCostNames[static_cast<size_t>(item)]; }

bool OverlapsYear(const Fact& f, int year) {
  return f.start <= absl::CivilDay(year, 12, 31) &&
         (!f.end || *f.end >= absl::CivilDay(year, 1, 1));
}

Membership MembersOnReferenceDate(const Household& h, const std::vector<bool>& visible) {
  Membership m;
  m.member.assign(h.members.size(), false);
  m.adult.assign(h.members.size(), false);
  for (size_t i = 0; i < h.facts.size(); ++i) {
    const Fact& f = h.facts[i];
    if (!visible[i] || f.dataset != Dataset::kBrp || f.address != 0) continue;
    if (f.start <= kReferenceDate && (!f.end || *f.end > kReferenceDate)) {
      m.member[static_cast<size_t>(f.member)] = true;
    }
  }
  for (size_t i = 0; i < h.members.size(); ++i) {
    if (!m.member[i]) continue;
    m.adult[i] = h.members[i].adult();
    ++(m.adult[i] ? m.adults : m.children);
  }
  return m;
}

HouseholdFindings Evaluate(const Household& h, const std::vector<bool>& visible,
                           const Membership& membership, bool snapshot_register) {
  HouseholdFindings out;
  std::vector<int> moves(h.members.size(), 0);
  auto mark = [&out](I indicator) { out.has[static_cast<size_t>(indicator)] = true; };
  auto add_cost = [&out](C item, int64_t cents) {
    out.cost_cents[static_cast<size_t>(item)] += cents;
  };

  for (size_t i = 0; i < h.facts.size(); ++i) {
    const Fact& f = h.facts[i];
    if (!visible[i] || f.member < 0 || !membership.member[static_cast<size_t>(f.member)]) continue;
    const size_t m = static_cast<size_t>(f.member);
    const bool is_adult = membership.adult[m];
    switch (f.dataset) {
      case Dataset::kBrp:
        if (snapshot_register) {
          if (f.address == 0) moves[m] = MovesIn2014(h, f.member);
        } else if (f.start.year() == 2014 && f.start != h.members[m].birth) {
          ++moves[m];
        }
        break;
      case Dataset::kSocialeZaken:
        if (f.code == "bijstand" && OverlapsYear(f, 2014)) {
          mark(I::kBijstand);
          add_cost(C::kBijstand, UnitPrices::kBijstand);
        }
        break;
      case Dataset::kUwv:
        if (!OverlapsYear(f, 2014)) break;
        if (f.code == "ww") {
          mark(I::kWw);
          add_cost(C::kWw, UnitPrices::kWw);
        } else if (f.code == "disability") {
          mark(I::kDisability);
          add_cost(C::kDisability, UnitPrices::kDisability);
        } else if (f.code == "other_social") {
          mark(I::kOtherSocial);
          add_cost(C::kOtherSocial, UnitPrices::kOtherSocial);
        }
        break;
      case Dataset::kInkomen:
        if (f.year == 2014 && *f.cents < 925000) mark(I::kLowIncome);
        break;
      case Dataset::kZorg: {
        if (f.year == 2012) out.support2012 = true;
        if (f.year == 2013) out.support2013 = true;
        if (f.year != 2014) break;
        const bool awbz = f.code.starts_with("awbz_");
        if (f.code == "basis_ggz") mark(is_adult ? I::kAdultBasisGgz : I::kChildBasisGgz);
        if (f.code == "specialist_ggz")
          mark(is_adult ? I::kAdultSpecialistGgz : I::kChildSpecialistGgz);
        if (awbz) mark(is_adult ? I::kAdultAwbz : I::kChildAwbz);
        if ((f.code == "basis_ggz" || f.code == "specialist_ggz") && f.cents) {
          add_cost(C::kGgz, *f.cents);
        }
        if (f.code == "awbz_psychosocial")
          add_cost(C::kAwbzPsychosocial, UnitPrices::kAwbzPsychosocial);
        if (f.code == "awbz_intellectual")
          add_cost(C::kAwbzIntellectual, UnitPrices::kAwbzIntellectual);
        if (f.code == "awbz_physical") add_cost(C::kAwbzPhysical, UnitPrices::kAwbzPhysical);
        break;
      }
      case Dataset::kJeugdzorg: {
        if (OverlapsYear(f, 2012)) out.support2012 = true;
        if (OverlapsYear(f, 2013)) out.support2013 = true;
        if (!OverlapsYear(f, 2014) || is_adult) break;
        mark(I::kYouthCare);
        if (f.code == "youth_ambulant") {
          mark(I::kYouthAmbulant);
          add_cost(C::kYouthAmbulant, UnitPrices::kYouthAmbulant);
        } else if (f.code == "youth_day_treatment") {
          mark(I::kYouthDayTreatment);
          add_cost(C::kYouthDayTreatment, UnitPrices::kYouthDayTreatment);
        } else if (f.code == "youth_probation") {
          mark(I::kYouthProbation);
          add_cost(C::kYouthProbation, UnitPrices::kYouthProbation);
        } else if (f.code == "youth_residential") {
          mark(I::kYouthResidential);
          add_cost(C::kYouthResidential, UnitPrices::kYouthResidentialPerDay * DaysIn2014(f));
        } else if (f.code == "guardianship") {
          mark(I::kGuardianship);
          add_cost(C::kGuardianship, UnitPrices::kGuardianship);
        } else if (f.code == "foster_care") {
          mark(I::kFosterCare);
          add_cost(C::kFosterCare, UnitPrices::kFosterCarePerDay * DaysIn2014(f));
        } else if (f.code == "ots") {
          mark(I::kOts);
          add_cost(C::kOts, UnitPrices::kOts);
        }
        break;
      }
      case Dataset::kPolitie: {
        if (f.start.year() != 2014) break;
        mark(is_adult ? I::kAdultCrime : I::kChildCrime);
        const size_t category = CrimeIndex(f.code);
        if (category == kCrimeCategoryCount) break;
        const int64_t price = CrimeCategories()[category].price_cents;
        add_cost(C::kCrime, price);
        out.crime_cents[category] += price;
        break;
      }
      default:
        break;
    }
  }
  if (!moves.empty() && *std::max_element(moves.begin(), moves.end()) >= 2) mark(I::kMoves);
  if (out.Has(I::kLowIncome)) add_cost(C::kLowIncome, UnitPrices::kLowIncome);
  return out;
}

void StudyAccumulator::Add(const Household& h, const std::vector<bool>& visible) {
  const Membership membership = MembersOnReferenceDate(h, visible);
  if (membership.empty()) return;
  Tally& t = wijken_[static_cast<size_t>(h.wijk)];
  ++t.households;
  if (membership.adults == 0 || membership.children == 0) return;
  ++t.families;

  const HouseholdFindings findings = Evaluate(h, visible, membership, snapshot_register_);
  const auto& has = findings.has;
  const auto& cost = findings.cost_cents;
  const bool support2012 = findings.support2012, support2013 = findings.support2013;

  const bool se = findings.SocioEconomic();
  const bool pa = findings.PsychosocialAdults();
  const bool pc = findings.PsychosocialChildren();
  const bool all_three = se && pa && pc;
  const bool support_both = support2012 && support2013;
  const bool mpg = all_three && support_both;

  for (size_t i = 0; i < kIndicatorCount; ++i) t.indicators[i] += has[i] ? 1u : 0u;
  const bool d[3] = {se, pa, pc};
  for (size_t i = 0; i < 3; ++i) {
    t.domain[i] += d[i] ? 1u : 0u;
    t.only[i] += (d[i] && !d[(i + 1) % 3] && !d[(i + 2) % 3]) ? 1u : 0u;
  }
  t.se_pa += (se && pa) ? 1u : 0u;
  t.se_pc += (se && pc) ? 1u : 0u;
  t.pa_pc += (pa && pc) ? 1u : 0u;
  t.all_three += all_three ? 1u : 0u;
  const bool support[3] = {support2012, support2013, support_both};
  for (size_t i = 0; i < 3; ++i) {
    t.support[i] += support[i] ? 1u : 0u;
    t.support_all_three[i] += (support[i] && all_three) ? 1u : 0u;
  }
  t.mpg += mpg ? 1u : 0u;
  int64_t family_cost = 0;
  for (size_t i = 0; i < kCostItemCount; ++i) {
    t.cost_cents[i] += cost[i];
    family_cost += cost[i];
  }
  (mpg ? t.mpg_cost_cents : t.other_cost_cents) += family_cost;
}

nlohmann::ordered_json StudyAccumulator::TallyJson(const Tally& t) {
  nlohmann::ordered_json j;
  j["households"] = t.households;
  j["families"] = t.families;
  const char* domain_names[3] = {"socio_economic", "psychosocial_adults", "psychosocial_children"};
  const std::pair<I, I> ranges[3] = {{I::kBijstand, I::kLowIncome},
                                     {I::kAdultBasisGgz, I::kAdultAwbz},
                                     {I::kYouthCare, I::kChildAwbz}};
  for (size_t d = 0; d < 3; ++d) {
    nlohmann::ordered_json block;
    block["any"] = {{"n", t.domain[d]}, {"pct", Pct(t.domain[d], t.families)}};
    for (size_t i = static_cast<size_t>(ranges[d].first);
         i <= static_cast<size_t>(ranges[d].second); ++i) {
      block[kIndicatorNames[i]] = {{"n", t.indicators[i]},
                                   {"pct", Pct(t.indicators[i], t.families)}};
    }
    j[domain_names[d]] = block;
  }
  const uint64_t pair[3][3] = {{0, t.se_pa, t.se_pc}, {t.se_pa, 0, t.pa_pc}, {t.se_pc, t.pa_pc, 0}};
  nlohmann::ordered_json overlap;
  for (size_t d = 0; d < 3; ++d) {
    nlohmann::ordered_json column;
    column["none"] = t.families - t.domain[d];
    column["any"] = t.domain[d];
    column["only"] = t.only[d];
    for (size_t e = 0; e < 3; ++e) {
      if (e != d) column[std::string("also_") + domain_names[e]] = pair[d][e];
    }
    overlap[domain_names[d]] = column;
  }
  overlap["all_three"] = t.all_three;
  j["overlap"] = overlap;
  const char* support_names[3] = {"2012", "2013", "both"};
  nlohmann::ordered_json support;
  for (size_t i = 0; i < 3; ++i) {
    support[support_names[i]] = {{"families", t.support[i]},
                                 {"all_three_domains", t.support_all_three[i]}};
  }
  j["support"] = support;
  j["mpg"] = {{"families", t.mpg},
              {"pct_of_households", Pct(t.mpg, t.households)},
              {"pct_of_families", Pct(t.mpg, t.families)}};
  nlohmann::ordered_json items;
  int64_t total = 0;
  for (size_t i = 0; i < kCostItemCount; ++i) {
    items[kCostNames[i]] = Euro(t.cost_cents[i]);
    total += t.cost_cents[i];
  }
  const uint64_t others = t.families - t.mpg;
  auto mean = [](int64_t cents, uint64_t n) {
    return n == 0 ? 0.0 : Round2(Euro(cents) / static_cast<double>(n));
  };
  j["costs"] = {{"by_item_eur", items},
                {"total_eur", Euro(total)},
                {"mpg_families_total_eur", Euro(t.mpg_cost_cents)},
                {"mean_per_mpg_family_eur", mean(t.mpg_cost_cents, t.mpg)},
                {"other_families_total_eur", Euro(t.other_cost_cents)},
                {"mean_per_other_family_eur", mean(t.other_cost_cents, others)}};
  return j;
}

nlohmann::ordered_json StudyAccumulator::ToJson() const {
  Tally total;
  nlohmann::ordered_json wijken = nlohmann::ordered_json::array();
  for (size_t w = 0; w < wijken_.size(); ++w) {
    total.Merge(wijken_[w]);
    nlohmann::ordered_json entry;
    entry["code"] = AlmeloWijken()[w].code;
    entry["name"] = AlmeloWijken()[w].name;
    entry.update(TallyJson(wijken_[w]));
    wijken.push_back(entry);
  }
  nlohmann::ordered_json out;
  out["reference_date"] = "2014-12-31";
  out["definitions"] = "docs/synth.md";
  out["total"] = TallyJson(total);
  out["wijken"] = wijken;
  return out;
}

}  // namespace koppel::synth

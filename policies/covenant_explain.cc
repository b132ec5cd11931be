#include "policies/covenant_explain.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/civil_date.h"
#include "linker/analysis/analysis_spec.h"

namespace koppel::policy {
namespace {

std::string Day(absl::CivilDay day) { return absl::FormatCivilTime(day); }

std::string DayOf(absl::Time t) { return Day(absl::ToCivilDay(t, absl::UTCTimeZone())); }

std::string List(const std::set<std::string>& items) {
  return items.empty() ? std::string("none") : fmt::format("{}", fmt::join(items, ", "));
}

std::string Plural(int64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

ExplanationSection* AddSection(CovenantExplanation* explanation, std::string heading) {
  return &explanation->sections.emplace_back(
      ExplanationSection{.heading = std::move(heading), .lines = {}});
}

void Line(ExplanationSection* out, int depth, std::string text) {
  out->lines.push_back({.depth = depth, .text = std::move(text)});
}

void Problem(ExplanationSection* out, int depth, std::string text) {
  out->lines.push_back({.depth = depth, .text = std::move(text), .problem = true});
}

std::string Key(const std::string& key) {
  if (key.starts_with("<")) {
    return fmt::format("not filled in yet ({}; run `koppel policy fill-keys`)", key);
  }
  return key;
}

std::string Euro(double amount) {
  if (std::floor(amount) == amount) return fmt::format("EUR {:.0f}", amount);
  return fmt::format("EUR {:.2f}", amount);
}

std::string IdentifiersInWords(const std::set<std::string>& identifiers) {
  const bool bsn = identifiers.contains("bsn");
  const bool address = identifiers.contains("address");
  if (bsn && address) return "identified by BSN and address";
  if (bsn) return "identified by BSN";
  return "identified by address only";
}

std::string PartyLabel(const Covenant& c, const std::string& name) {
  auto it = c.parties.find(name);
  if (it == c.parties.end()) return name;
  return fmt::format("{} ({})", name, it->second.organisation);
}

// Appends "  <prefix>purpose: ..." and legal basis lines.
void PurposeLines(ExplanationSection* out, int depth, const std::string& purpose,
                  const std::string& legal_basis) {
  Line(out, depth, fmt::format("purpose: {}", purpose));
  Line(out, depth, fmt::format("legal basis: {}", legal_basis));
}

void When(const Covenant& c, CovenantExplanation* explanation) {
  ExplanationSection* out = AddSection(explanation, "When");
  Line(out, 0,
       fmt::format("In force from {} (00:00 UTC) up to and including {} (until 24:00 UTC).",
                   Day(c.valid_from), Day(c.valid_until)));
  if (c.retention_days_after_end == 0) {
    Line(out, 0,
         fmt::format(
             "Retention: none. At the end of {} the linker deletes all data of this covenant and "
             "the vault destroys its keys.",
             Day(c.valid_until)));
  } else {
    Line(out, 0,
         fmt::format(
             "Retention: the linker keeps the data read-only for {} after the end; on {} (00:00 "
             "UTC) it deletes all data of this covenant and the vault destroys its keys.",
             Plural(c.retention_days_after_end, "day", "days"), DayOf(c.RetentionEndsAt())));
  }
  Line(out, 0,
       "Any privacy officer can end the covenant earlier (`koppel covenant end`); deletion "
       "then follows the same way.");
  if (c.key_rotation_days == 0) {
    Line(out, 0, "Key rotation: none scheduled.");
  } else {
    Line(out, 0,
         fmt::format(
             "Key rotation: every {} the vault starts a new key epoch on its own (every person "
             "gets new tokens); data holders then have {} (the grace) to re-deliver their full "
             "export "
             "under the new epoch; the linker keeps the previous epoch's data apart until the new "
             "epoch is complete.",
             Plural(c.key_rotation_days, "day", "days"),
             Plural(c.key_rotation_grace_days, "day", "days")));
  }
  if (c.token_mode == "oprf") {
    Line(
        out, 0,
        fmt::format(
            "Tokens: oblivious (OPRF). Agents blind each identifier before the vault evaluates it, "
            "so no agent holds the token key and the vault never sees an identifier; at most {} "
            "evaluations per agent per key epoch within any {} (a vault restart does not renew "
            "them).",
            c.oprf_quota, Plural(c.oprf_quota_window_days, "day", "days")));
  } else {
    Line(out, 0,
         "Tokens: keyed hashes (HMAC-SHA256). Each agent replaces BSNs and addresses by "
         "tokens with a key for this covenant from the vault before anything leaves its "
         "organisation; the linker never sees an identifier.");
  }
  Line(out, 0,
       "Tokens under this covenant differ from those under any other covenant and cannot be "
       "joined with them.");
}

void WhoShares(const Covenant& c, CovenantExplanation* explanation) {
  ExplanationSection* out = AddSection(explanation, "Who shares what (data holders)");
  for (const auto& [name, party] : c.parties) {
    if (!party.roles.contains("data_holder")) continue;
    Line(out, 0,
         fmt::format("{} ({}), for which {} signs:", name, party.organisation,
                     party.privacy_officer));
    for (const auto& [dataset, grant] : party.datasets) {
      Line(
          out, 1,
          fmt::format(
              "delivers dataset {}, {}; fields: {}", dataset, IdentifiersInWords(grant.identifiers),
              grant.fields.empty() ? std::string("none (identifiers only)") : List(grant.fields)));
    }
    PurposeLines(out, 1, party.purpose, party.legal_basis);
    Line(out, 1,
         fmt::format("batches must be signed with the agent's key {}",
                     Key(party.signing_public_key)));
    Line(out, 1, "anything else (another dataset, field or identifier kind) is refused.");
  }
}

std::string RolesInWords(const std::set<std::string>& roles) {
  std::vector<std::string> words;
  if (roles.contains("data_holder")) words.emplace_back("delivers data (see above)");
  if (roles.contains("linker")) {
    words.emplace_back("links: joins the tokenised records and computes what may come out");
  }
  if (roles.contains("vault")) {
    words.emplace_back("holds the keys of this covenant and destroys them at the end");
  }
  if (roles.contains("research_unit")) words.emplace_back("may receive analysis results");
  if (roles.contains("privacy_officer")) words.emplace_back("acts for a privacy officer");
  return fmt::format("{}", fmt::join(words, "; "));
}

void Services(const Covenant& c, CovenantExplanation* explanation) {
  ExplanationSection* out =
      AddSection(explanation, "Who links, holds the keys and receives results");
  for (const auto& [name, party] : c.parties) {
    if (party.roles.contains("data_holder")) continue;
    Line(out, 0,
         fmt::format("{} ({}), for which {} signs: {}.", name, party.organisation,
                     party.privacy_officer, RolesInWords(party.roles)));
    PurposeLines(out, 1, party.purpose, party.legal_basis);
  }
}

std::string DisclosureInWords(const AnalysisPolicy& a) {
  std::string text = fmt::format(
      "counts below {} are suppressed and shown as * (a zero stays 0); a sum is suppressed when "
      "its largest {} contribution{} make{} up more than {:g}% of it",
      a.min_cell, a.dominance_n, a.dominance_n == 1 ? "" : "s", a.dominance_n == 1 ? "s" : "",
      a.dominance_k * 100);
  text += a.secondary_suppression
              ? "; secondary suppression is on: further cells are suppressed so that no "
                "suppressed cell can be worked out from totals or other released tables"
              : "; secondary suppression is OFF: a suppressed cell may be derivable from totals";
  if (const std::optional<int64_t> as_if = a.SuppressedPercentAsIf()) {
    text += fmt::format(
        "; the percentage of a count suppressed only for being small is computed as if the "
        "count were {} (the others are shown as *)",
        *as_if);
  } else {
    text += "; the percentage of a suppressed count is shown as *";
  }
  text += a.rounding_base > 0
              ? fmt::format("; counts are rounded to a multiple of {}", a.rounding_base)
              : std::string("; counts are not rounded");
  text += a.max_contribution_eur ? fmt::format("; each household contributes at most {} to a sum",
                                               Euro(*a.max_contribution_eur))
                                 : std::string("; contributions to sums are not capped");
  return text + ".";
}

// --- What an approved spec computes, in words ---

std::string Names(const std::vector<std::string>& names, std::string_view last_joiner) {
  if (names.size() <= 1) return names.empty() ? std::string() : names[0];
  std::vector<std::string> head(names.begin(), names.end() - 1);
  return fmt::format("{} {} {}", fmt::join(head, ", "), last_joiner, names.back());
}

// "families with bijstand", "households of type family", "families with none of: mpg".
std::string SelectionInWords(std::string_view noun, const analysis::Selection& s) {
  std::string text(noun);
  if (!s.household_type.empty()) text += " of type " + s.household_type;
  if (!s.all.empty()) text += " with " + Names(s.all, "and");
  if (!s.any.empty()) text += fmt::format(" with any of: {}", fmt::join(s.any, ", "));
  if (!s.none.empty()) text += fmt::format(" with none of: {}", fmt::join(s.none, ", "));
  if (s.household_type.empty() && s.all.empty() && s.any.empty() && s.none.empty()) {
    return "all " + text;
  }
  return text;
}

std::string RangeInWords(const analysis::CountRange& r, std::string_view one,
                         std::string_view many) {
  if (r.max >= (1 << 30)) {
    return r.min == 0 ? fmt::format("any number of {}", many)
                      : fmt::format("at least {}", Plural(r.min, one, many));
  }
  if (r.min == r.max) {
    return r.min == 0 ? fmt::format("no {}", many)
                      : fmt::format("exactly {}", Plural(r.min, one, many));
  }
  return fmt::format("{} to {} {}", r.min, r.max, many);
}

std::string HouseholdTypeInWords(const analysis::HouseholdTypeSpec& t) {
  return fmt::format("{} = {} and {}", t.name, RangeInWords(t.adults, "adult", "adults"),
                     RangeInWords(t.children, "child", "children"));
}

// Indentation of the analysis part: an approved analysis, its details, what it computes, a
// table, a table's rows and columns.
constexpr int kAnalysis = 1;
constexpr int kDetail = 2;
constexpr int kComputes = 3;
constexpr int kTable = 4;
constexpr int kTableDetail = 5;
constexpr int kColumn = 6;

std::string TotalRow(const analysis::TableSpec& t) {
  return t.total_label.empty() ? std::string()
                               : fmt::format(", and a total row \"{}\"", t.total_label);
}

void RowsInWords(const analysis::AnalysisSpec& spec, const analysis::TableSpec& t,
                 ExplanationSection* out) {
  switch (t.rows) {
    case analysis::Dimension::kArea:
      Line(out, kTableDetail,
           fmt::format("rows: one per area (the register's field {}{}){}", spec.area_attribute,
                       spec.area_labels.empty()
                           ? std::string()
                           : fmt::format("; {} named areas", spec.area_labels.size()),
                       TotalRow(t)));
      return;
    case analysis::Dimension::kHouseholdType: {
      std::vector<std::string> types;
      for (const analysis::HouseholdTypeSpec& type : spec.household_types)
        types.push_back(type.name);
      Line(out, kTableDetail,
           fmt::format("rows: one per household type ({}){}", fmt::join(types, ", "), TotalRow(t)));
      return;
    }
    case analysis::Dimension::kNone:
      if (t.row_selections.empty()) {
        Line(out, kTableDetail, fmt::format("one row: all {}", t.population));
        return;
      }
      Line(out, kTableDetail, "rows:");
      for (const analysis::RowSpec& row : t.row_selections) {
        Line(out, kColumn,
             fmt::format("{}: {}", row.label, SelectionInWords(t.population, row.where)));
      }
      return;
  }
}

std::string CountColumnInWords(const analysis::AnalysisSpec& spec, const analysis::TableSpec& t,
                               const analysis::CountColumn& c) {
  std::string text = fmt::format("{}: {}", c.label, SelectionInWords(t.population, c.where));
  if (c.reference > 0 && static_cast<size_t>(c.reference) < spec.reference_dates.size()) {
    text += " on " + IsoDate(spec.reference_dates[static_cast<size_t>(c.reference)]);
  }
  if (c.percent) text += ", and their percentage";
  return text;
}

std::vector<std::string> Payers(const analysis::AnalysisSpec& spec) {
  std::vector<std::string> payers;
  for (const analysis::CostItemSpec& item : spec.cost_items) {
    if (item.cost_benefit()) continue;  // described with the cost-benefit section
    if (std::find(payers.begin(), payers.end(), item.payer) == payers.end()) {
      payers.push_back(item.payer);
    }
  }
  return payers;
}

// The cost items shown in costs tables but not summed into their totals.
std::vector<std::string> ItemsApart(const analysis::AnalysisSpec& spec) {
  std::vector<std::string> apart;
  for (const analysis::CostItemSpec& item : spec.cost_items) {
    if (!item.in_total && !item.cost_benefit()) apart.push_back(item.name);
  }
  return apart;
}

std::string CostItemInWords(const analysis::CostItemSpec& item) {
  std::string volume;
  switch (item.volume) {
    case analysis::CostItemSpec::Volume::kRecords:
      volume = fmt::format("each record of {}", item.indicator);
      break;
    case analysis::CostItemSpec::Volume::kUnits:
      volume = fmt::format("each household with {}, once", item.indicator);
      break;
    case analysis::CostItemSpec::Volume::kDaysInYear:
      volume = fmt::format("each day of the year a record of {} covers", item.indicator);
      break;
    case analysis::CostItemSpec::Volume::kAmount:
      volume = fmt::format("the actual amounts in {} of the records of {}", item.amount_attribute,
                           item.indicator);
      break;
  }
  std::string price;
  if (!item.price_by.empty()) {
    price = fmt::format(
        ", priced per code of {} from the prices file (the row named like the "
        "record's code)",
        item.price_by);
  } else if (!item.prices.empty()) {
    price = fmt::format(" times {} from the prices file", fmt::join(item.prices, " + "));
  }
  return fmt::format("{} (paid by {}): {}{}{}", item.name, item.payer, volume, price,
                     item.in_total ? ""
                                   : "; shown, but not in the total (nor in its payer's "
                                     "row: tables by payer show it as its own row)");
}

void TableInWords(const analysis::AnalysisSpec& spec, const analysis::TableSpec& t,
                  ExplanationSection* out) {
  const char* kinds[] = {"counts", "overlap", "costs", "sensitivity", "cost_benefit"};
  Line(out, kTable,
       fmt::format("{} ({}){}", t.name, kinds[static_cast<int>(t.kind)],
                   t.title.empty() ? std::string() : fmt::format(": \"{}\"", t.title)));
  switch (t.kind) {
    case analysis::TableKind::kCounts:
      RowsInWords(spec, t, out);
      Line(out, kTableDetail, "columns (numbers of households):");
      for (const analysis::CountColumn& c : t.columns) {
        Line(out, kColumn, CountColumnInWords(spec, t, c));
      }
      return;
    case analysis::TableKind::kOverlap:
      Line(out, kTableDetail,
           fmt::format("how {} overlap among {}: for each, the {} where it does not hold, where "
                       "it holds, where only it holds, and where it holds together with each "
                       "other one",
                       Names(t.flags, "and"), t.population, t.population));
      return;
    case analysis::TableKind::kCosts:
      Line(out, kTableDetail,
           t.by_payer ? fmt::format("rows: one per paying party ({}){}",
                                    fmt::join(Payers(spec), ", "), TotalRow(t))
                      : fmt::format("rows: one per cost item ({} items, paid by {}){}",
                                    spec.cost_benefit ? spec.cost_benefit->first_item
                                                      : spec.cost_items.size(),
                                    fmt::join(Payers(spec), ", "), TotalRow(t)));
      if (std::vector<std::string> apart = ItemsApart(spec); !apart.empty()) {
        Line(out, kTableDetail,
             t.by_payer
                 ? fmt::format("and a row of its own for each item apart from the total ({}), "
                               "not summed into any payer's row nor the total",
                               fmt::join(apart, ", "))
                 : fmt::format("not summed into the total: {}", fmt::join(apart, ", ")));
      }
      Line(out, kTableDetail, "columns (the yearly cost in euro, summed and per household):");
      for (const analysis::RowSpec& c : t.cost_columns) {
        Line(out, kColumn, fmt::format("{}: {}", c.label, SelectionInWords(t.population, c.where)));
      }
      return;
    case analysis::TableKind::kSensitivity: {
      Line(out, kTableDetail,
           fmt::format("the mean yearly cost per household of column {} of table {}, with one "
                       "price or volume varied at a time ({} ranges):",
                       t.mean_of, t.costs_table, spec.sensitivity.size()));
      for (const analysis::SensitivitySpec& r : spec.sensitivity) Line(out, kColumn, r.label);
      return;
    }
    case analysis::TableKind::kCostBenefit:
      switch (t.view) {
        case analysis::CostBenefitView::kOutcomes:
          Line(out, kTableDetail,
               "per outcome and intervention cost: the cohort's money in each window relative "
               "to each household's start (and the comparison group's, scaled to the cohort's "
               "size), the net present value of the benefit or the cost; outcomes not valued "
               "as PM rows");
          return;
        case analysis::CostBenefitView::kPayers:
          Line(out, kTableDetail,
               "per paying party and in total: the households behind the figures, the net "
               "present value of the costs and of the benefits, the saldo and the ratio");
          return;
        case analysis::CostBenefitView::kSensitivity:
          Line(out, kTableDetail,
               fmt::format("the saldo and the ratio with one assumption varied at a time ({} "
                           "ranges):",
                           spec.cost_benefit ? spec.cost_benefit->sensitivity.size() : 0));
          if (spec.cost_benefit) {
            for (const analysis::CostBenefitRange& r : spec.cost_benefit->sensitivity)
              Line(out, kColumn, r.label);
          }
          return;
      }
      return;
  }
}

std::string CostBenefitInWords(const analysis::CostBenefitSpec& cb) {
  std::vector<std::string> outcomes;
  for (const analysis::OutcomeSpec& o : cb.outcomes) {
    outcomes.push_back(o.pm ? fmt::format("{} (PM: {})", o.name, o.note)
                            : fmt::format("{} ({}, paid by {})", o.name, o.indicator, o.payer));
  }
  std::vector<std::string> costs;
  for (const analysis::InterventionCostSpec& c : cb.costs) {
    costs.push_back(c.per_household ? fmt::format("{} ({:.2f} euro per household, paid by {})",
                                                  c.name, *c.per_household, c.payer)
                                    : fmt::format("{} (amount {}, paid by {})", c.name,
                                                  c.amount_attribute, c.payer));
  }
  return fmt::format(
      "Cost-benefit: the cohort of {} (start: {}), {}; {} years after the start, discounted at "
      "{:.1f}% plus a {:.1f}% risk premium; outcomes: {}; intervention costs: {}",
      cb.cohort_indicator, cb.start_attribute,
      cb.comparison ? fmt::format("against households without {} matched on {}",
                                  fmt::join(cb.exclude, ", "), fmt::join(cb.match_on, ", "))
                    : std::string("before and after within the cohort"),
      cb.horizon, 100 * cb.discount_rate, 100 * cb.risk_premium, fmt::join(outcomes, "; "),
      costs.empty() ? std::string("none") : fmt::format("{}", fmt::join(costs, "; ")));
}

std::string FlagInWords(const analysis::FlagSpec& flag) {
  std::vector<std::string> parts;
  if (!flag.all.empty()) parts.push_back(fmt::format("all of {}", fmt::join(flag.all, ", ")));
  if (!flag.any.empty()) parts.push_back(fmt::format("any of {}", fmt::join(flag.any, ", ")));
  if (!flag.none.empty()) parts.push_back(fmt::format("none of {}", fmt::join(flag.none, ", ")));
  return fmt::format("{} = {}", flag.name, fmt::join(parts, "; "));
}

void SpecInWords(const analysis::AnalysisSpec& spec, ExplanationSection* out) {
  if (!spec.title.empty()) Line(out, kComputes, fmt::format("Title: {}", spec.title));
  std::vector<std::string> dates;
  for (absl::CivilDay date : spec.reference_dates) dates.push_back(IsoDate(date));
  Line(out, kComputes,
       fmt::format("Reference date: {}{}", dates.front(),
                   dates.size() > 1 ? fmt::format(", compared with {}",
                                                  fmt::join(dates.begin() + 1, dates.end(), ", "))
                                    : std::string()));
  Line(out, kComputes,
       fmt::format("Households: the people the population register {} places at one address on "
                   "the reference date ({}); adults are {} or older, the others children",
                   spec.register_dataset,
                   spec.snapshot ? fmt::format("a snapshot on {}", IsoDate(*spec.snapshot))
                                 : fmt::format("fields {} to {}", spec.valid_from_attribute,
                                               spec.valid_to_attribute),
                   spec.adult_age));
  if (!spec.household_types.empty()) {
    std::vector<std::string> types;
    for (const analysis::HouseholdTypeSpec& type : spec.household_types) {
      types.push_back(HouseholdTypeInWords(type));
    }
    Line(out, kComputes, fmt::format("Household types: {}", fmt::join(types, "; ")));
  }
  std::vector<std::string> populations;
  for (const auto& [name, selection] : spec.populations) {
    populations.push_back(fmt::format("{} = {}", name, SelectionInWords("households", selection)));
  }
  Line(out, kComputes, fmt::format("Populations: {}", fmt::join(populations, "; ")));
  std::set<std::string> datasets;
  for (const analysis::IndicatorSpec& indicator : spec.indicators) {
    if (indicator.set_after_scan) continue;
    datasets.insert(indicator.dataset.empty() ? spec.register_dataset + " (moves)"
                                              : indicator.dataset);
  }
  Line(
      out, kComputes,
      fmt::format("Indicators: {}, from {}",
                  std::count_if(spec.indicators.begin(), spec.indicators.end(),
                                [](const analysis::IndicatorSpec& i) { return !i.set_after_scan; }),
                  List(datasets)));
  if (!spec.flags.empty()) {
    Line(out, kComputes, "Flags (combinations of indicators):");
    for (const analysis::FlagSpec& flag : spec.flags) Line(out, kTable, FlagInWords(flag));
  }
  const size_t own_items =
      spec.cost_benefit ? spec.cost_benefit->first_item : spec.cost_items.size();
  if (own_items > 0) {
    Line(out, kComputes,
         fmt::format("Costs: {} items (volume times unit price, or actual amounts), paid by {}:",
                     own_items, fmt::join(Payers(spec), ", ")));
    for (size_t i = 0; i < own_items; ++i) Line(out, kTable, CostItemInWords(spec.cost_items[i]));
  }
  if (spec.cost_benefit) Line(out, kComputes, CostBenefitInWords(*spec.cost_benefit));
  if (spec.min_cell) {
    Line(out, kComputes,
         fmt::format("It asks for counts below {} to be suppressed.", *spec.min_cell));
  }
  Line(out, kComputes, fmt::format("Tables ({}):", spec.tables.size()));
  for (const analysis::TableSpec& table : spec.tables) TableInWords(spec, table, out);
}

std::string Digest(const std::string& sha256) {
  if (sha256.starts_with("<")) {
    return fmt::format("not filled in yet ({}; run `koppel policy fill-keys`)", sha256);
  }
  return sha256;
}

// Reads a pinned file; on a problem says so in words and returns nothing.
std::optional<std::string> ReadPinned(const std::filesystem::path& covenant_file,
                                      const std::string& path, const std::string& sha256,
                                      std::string_view what, ExplanationSection* out) {
  absl::StatusOr<std::string> bytes = ReadPinnedFile(covenant_file, path, sha256);
  if (bytes.ok()) return std::move(*bytes);
  if (absl::IsFailedPrecondition(bytes.status())) {
    Problem(out, kDetail,
            fmt::format("PROBLEM: the {} on disk is not the approved one: {}. The linker releases "
                        "this analysis exactly only for the pinned bytes.",
                        what, std::string(bytes.status().message())));
  } else {
    Problem(out, kDetail,
            fmt::format("PROBLEM: the {} cannot be read here: {}.", what,
                        std::string(bytes.status().message())));
  }
  return std::nullopt;
}

// The spec's own statements that contradict the covenant's entry.
void SpecAgainstEntry(const analysis::AnalysisSpec& spec, const ApprovedAnalysis& a,
                      ExplanationSection* out) {
  if (spec.name != a.name) {
    Problem(out, kDetail,
            fmt::format("PROBLEM: the spec is named '{}', not '{}'.", spec.name, a.name));
  }
  if (spec.prices_file.empty() && !a.prices_path.empty()) {
    Problem(out, kDetail, "PROBLEM: the spec names no prices file, but the covenant pins one.");
  } else if (!spec.prices_file.empty() && a.prices_path.empty()) {
    Problem(out, kDetail,
            fmt::format("PROBLEM: the spec names the prices file {}, but the covenant pins none, "
                        "so no query with it matches this approval.",
                        spec.prices_file));
  }
}

void ApprovedInWords(const ApprovedAnalysis& a, const std::filesystem::path& covenant_file,
                     ExplanationSection* out) {
  Line(out, kAnalysis, a.name);
  Line(out, kDetail, fmt::format("spec: {}, SHA-256 {}", a.spec_path, Digest(a.spec_sha256)));
  Line(out, kDetail,
       a.prices_path.empty()
           ? std::string("prices: none")
           : fmt::format("prices: {}, SHA-256 {}", a.prices_path, Digest(a.prices_sha256)));
  if (covenant_file.empty()) {
    Line(out, kDetail, "(what it computes is shown when the covenant is read from its file)");
    return;
  }
  const std::optional<std::string> spec_bytes =
      ReadPinned(covenant_file, a.spec_path, a.spec_sha256, "spec", out);
  if (!a.prices_path.empty()) {
    ReadPinned(covenant_file, a.prices_path, a.prices_sha256, "prices file", out);
  }
  if (!spec_bytes) {
    Line(out, kDetail, "Cannot show what it computes.");
    return;
  }
  absl::StatusOr<analysis::AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(*spec_bytes, a.spec_path);
  if (!spec.ok()) {
    Problem(out, kDetail,
            fmt::format("PROBLEM: the spec does not parse ({}); cannot show what it computes.",
                        std::string(spec.status().message())));
    return;
  }
  SpecAgainstEntry(*spec, a, out);
  Line(out, kDetail,
       IsDigestPlaceholder(a.spec_sha256)
           ? "What the spec at that path computes now (its digest is not filled in yet):"
           : "What it computes (the spec on disk matches its digest):");
  SpecInWords(*spec, out);
}

std::string ReleaseGuarantee(const AnalysisPolicy& a) {
  if (a.min_cell <= 1) {
    return "Guarantee: min_cell is 1, so small counts are not protected.";
  }
  return fmt::format(
      "Guarantee for exact releases: every exact release is checked against every earlier "
      "release of this covenant, each recomputed on the deliveries it used, so that no count of "
      "1 to {} households, and no sum with fewer than {} contributors, can be worked out from "
      "all releases together (docs/disclosure.md).",
      a.min_cell - 1, a.min_cell);
}

void Exploratory(const AnalysisPolicy& a, const std::filesystem::path& covenant_file,
                 ExplanationSection* out) {
  if (a.exploratory == ExploratoryMode::kRefuse) {
    Line(out, 0,
         "Exploratory specs (any spec not approved above, or an approved one changed in any "
         "byte): refused.");
    return;
  }
  Line(out, 0,
       fmt::format(
           "Exploratory specs (any spec not approved above, or an approved one changed in any "
           "byte): checked against every earlier release like an exact release, and then released "
           "with consistent perturbation (the cell key method). Every count gets noise from the "
           "perturbation table; the same cell always gets the same noise, so repeating or "
           "differencing releases yields noise, not a count. Counts that come out below {} are "
           "shown as *. Costs and sensitivity tables are refused for exploratory specs.",
           a.min_cell));
  if (a.perturbation.table == "default") {
    Line(out, 0,
         "Perturbation table: the default one shipped with koppel: noise of at most 3, and "
         "never a released count of 1 or 2.");
    return;
  }
  Line(out, 0,
       fmt::format("Perturbation table: {}, SHA-256 {}", a.perturbation.table,
                   Digest(a.perturbation.table_sha256)));
  if (!covenant_file.empty()) {
    ReadPinned(covenant_file, a.perturbation.table, a.perturbation.table_sha256,
               "perturbation table", out);
  }
}

void Outputs(const Covenant& c, const std::filesystem::path& covenant_file,
             CovenantExplanation* explanation) {
  ExplanationSection* out = AddSection(explanation, "What can come out: analyses");
  const AnalysisPolicy& a = c.analysis;
  if (a.approved.empty() && a.exploratory == ExploratoryMode::kRefuse) {
    Line(out, 0, "No analysis may run: the covenant has no analysis section.");
    return;
  }
  std::vector<std::string> recipients;
  if (a.recipients.empty()) {
    for (const auto& [name, party] : c.parties) {
      if (party.roles.contains("research_unit")) recipients.push_back(PartyLabel(c, name));
    }
    Line(out, 0,
         fmt::format("Recipients: every research unit of the covenant: {}.",
                     fmt::join(recipients, ", ")));
  } else {
    for (const std::string& name : a.recipients) recipients.push_back(PartyLabel(c, name));
    Line(out, 0, fmt::format("Recipients: {} only.", fmt::join(recipients, ", ")));
  }
  Line(out, 0,
       fmt::format("Table kinds: {}; grouped by (dimensions): {}; measures: {}.",
                   List(a.table_kinds), List(a.dimensions), List(a.measures)));
  Line(out, 0,
       "Only protected tables come out, never records or identities. Disclosure control (a spec "
       "may ask for stricter settings, never weaker): " +
           DisclosureInWords(a));
  if (a.max_releases == 0) {
    Line(out, 0, "Release budget: unlimited releases.");
  } else {
    Line(out, 0,
         fmt::format(
             "Release budget: at most {} over the covenant's life; every release spends one.",
             Plural(a.max_releases, "release", "releases")));
  }
  if (a.approved.empty()) {
    Line(out, 0, "Exact releases: none; no analysis is approved for exact release.");
  } else {
    Line(out, 0,
         fmt::format(
             "Exact releases: only for the {} below, which the officers approved. Each is pinned "
             "by the SHA-256 of its spec file and prices file: a spec that differs in any byte is "
             "not approved.",
             a.approved.size() == 1 ? std::string("analysis")
                                    : fmt::format("{} analyses", a.approved.size())));
    for (const ApprovedAnalysis& approved : a.approved) {
      ApprovedInWords(approved, covenant_file, out);
    }
    Line(out, 0, ReleaseGuarantee(a));
  }
  Exploratory(a, covenant_file, out);
}

void Releases(const Covenant& c, CovenantExplanation* explanation) {
  ExplanationSection* out = AddSection(explanation, "What can come out: purpose-bound releases");
  if (c.releases.empty()) {
    Line(out, 0, "None: no party gets anything back about individual records.");
    return;
  }
  for (const PurposeBoundRelease& r : c.releases) {
    Line(out, 0, fmt::format("{}: for {}.", r.name, PartyLabel(c, r.recipient)));
    Line(out, 1,
         fmt::format(
             "It sends the tokens of people in its own dataset {} and gets back, for each record "
             "it delivered itself, only these yes/no flags:",
             r.dataset));
    for (const ReleaseFlag& flag : r.flags) {
      std::string owner;
      for (const auto& [name, party] : c.parties) {
        if (party.datasets.contains(flag.dataset)) owner = name;
      }
      Line(out, 2,
           fmt::format("{}: {} also has a record in {} (delivered by {})", flag.name,
                       r.unit == "household" ? "someone in the person's household" : "the person",
                       flag.dataset, owner));
    }
    if (r.unit == "household") {
      Line(out, 1,
           fmt::format(
               "The household is everyone the register {} places at the person's address on the "
               "day of the question (fields {} and {}); the answer never says who.",
               r.family.dataset, r.family.address_from, r.family.address_to));
    }
    Line(out, 1,
         "For tokens it did not deliver itself it gets nothing; no identities, dates or "
         "other attributes are returned, and no other party may ask.");
    PurposeLines(out, 1, r.purpose, r.legal_basis);
  }
}

void Signers(const Covenant& c, CovenantExplanation* explanation) {
  ExplanationSection* out = AddSection(explanation, "Who signs");
  for (const auto& [name, officer] : c.privacy_officers) {
    std::vector<std::string> parties;
    for (const auto& [party_name, party] : c.parties) {
      if (party.privacy_officer == name) parties.push_back(party_name);
    }
    Line(out, 0,
         fmt::format("{} ({}), key {}: signs for {}.", name, officer.organisation,
                     Key(officer.public_key), fmt::join(parties, ", ")));
  }
  Line(out, 0,
       "Services load the covenant only when every officer listed has signed this exact "
       "file (`koppel policy sign`, `koppel policy verify`).");
}

// The covenant at a glance, for a document's header and tables; the same words as the text.
std::vector<std::pair<std::string, std::string>> Facts(const Covenant& c) {
  std::vector<std::pair<std::string, std::string>> facts = {
      {"Covenant", c.id},
      {"Version", fmt::format("{}", c.version)},
      {"Title", c.title},
      {"In force from", fmt::format("{} (00:00 UTC)", Day(c.valid_from))},
      {"In force up to and including", fmt::format("{} (until 24:00 UTC)", Day(c.valid_until))},
  };
  facts.emplace_back(
      "Data deleted, keys destroyed",
      c.retention_days_after_end == 0
          ? fmt::format("at the end of {}", Day(c.valid_until))
          : fmt::format("on {} (00:00 UTC), after {} of retention", DayOf(c.RetentionEndsAt()),
                        Plural(c.retention_days_after_end, "day", "days")));
  facts.emplace_back(
      "Key rotation",
      c.key_rotation_days == 0
          ? std::string("none scheduled")
          : fmt::format("every {}, grace {}", Plural(c.key_rotation_days, "day", "days"),
                        Plural(c.key_rotation_grace_days, "day", "days")));
  return facts;
}

std::vector<ExplanationTable> Tables(const Covenant& c) {
  ExplanationTable parties{.caption = "Parties",
                           .columns = {"party", "organisation", "privacy officer", "roles"},
                           .rows = {}};
  ExplanationTable datasets{.caption = "Datasets and fields each data holder may deliver",
                            .columns = {"party", "dataset", "identifiers", "fields"},
                            .rows = {}};
  for (const auto& [name, party] : c.parties) {
    parties.rows.push_back({name, party.organisation, party.privacy_officer,
                            fmt::format("{}", fmt::join(party.roles, ", "))});
    for (const auto& [dataset, grant] : party.datasets) {
      datasets.rows.push_back(
          {name, dataset, IdentifiersInWords(grant.identifiers),
           grant.fields.empty() ? std::string("none (identifiers only)") : List(grant.fields)});
    }
  }
  ExplanationTable approved{
      .caption = "Approved analyses and their digests",
      .columns = {"analysis", "spec", "spec SHA-256", "prices", "prices SHA-256"},
      .rows = {}};
  for (const ApprovedAnalysis& a : c.analysis.approved) {
    approved.rows.push_back({a.name, a.spec_path, Digest(a.spec_sha256),
                             a.prices_path.empty() ? std::string("none") : a.prices_path,
                             a.prices_path.empty() ? std::string() : Digest(a.prices_sha256)});
  }
  ExplanationTable officers{.caption = "Privacy officers",
                            .columns = {"officer", "organisation", "key", "signs for"},
                            .rows = {}};
  for (const auto& [name, officer] : c.privacy_officers) {
    std::vector<std::string> signs_for;
    for (const auto& [party_name, party] : c.parties) {
      if (party.privacy_officer == name) signs_for.push_back(party_name);
    }
    officers.rows.push_back({name, officer.organisation, Key(officer.public_key),
                             fmt::format("{}", fmt::join(signs_for, ", "))});
  }
  std::vector<ExplanationTable> tables = {std::move(parties), std::move(datasets)};
  if (!approved.rows.empty()) tables.push_back(std::move(approved));
  tables.push_back(std::move(officers));
  return tables;
}

}  // namespace

CovenantExplanation DescribeCovenant(const Covenant& covenant,
                                     const std::filesystem::path& covenant_file) {
  CovenantExplanation explanation;
  explanation.headline =
      fmt::format("Covenant {}, version {}: {}", covenant.id, covenant.version, covenant.title);
  explanation.facts = Facts(covenant);
  explanation.tables = Tables(covenant);
  for (const auto& [name, party] : covenant.parties) {
    explanation.sign_off.push_back({.party = name,
                                    .organisation = party.organisation,
                                    .privacy_officer = party.privacy_officer});
  }
  When(covenant, &explanation);
  WhoShares(covenant, &explanation);
  Services(covenant, &explanation);
  Outputs(covenant, covenant_file, &explanation);
  Releases(covenant, &explanation);
  Signers(covenant, &explanation);
  return explanation;
}

std::string ExplanationText(const CovenantExplanation& explanation) {
  std::string out = explanation.headline + "\n";
  for (const ExplanationSection& section : explanation.sections) {
    out += "\n" + section.heading + "\n";
    for (const ExplanationLine& line : section.lines) {
      out.append(static_cast<size_t>(2 * (line.depth + 1)), ' ');
      out += line.text + "\n";
    }
  }
  return out;
}

std::string ExplainCovenant(const Covenant& covenant, const std::filesystem::path& covenant_file) {
  return ExplanationText(DescribeCovenant(covenant, covenant_file));
}

}  // namespace koppel::policy

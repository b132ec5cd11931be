// An analysis spec (ARCHITECTURE section 5): the declarative description of a study the
// research unit may run against the linker. It names the population register, who counts as
// a member of a household on the reference date, the indicators (a dataset, a filter on its
// attributes, a period relative to the reference year, which members count), derived flags
// (any/all/none of other flags), the tables to release and the costs. docs/analysis.md
// describes the YAML form; ParseAnalysisSpec validates it and names line and problem.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_SPEC_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "core/civil_date.h"

namespace koppel::analysis {

// Which members of a unit an indicator looks at.
enum class MemberScope { kAny, kAdults, kChildren };

// When a record counts, relative to reference year Y (= the reference date's year + offset).
enum class PeriodKind {
  kSpell,       // fields `from`..`to` (inclusive, `to` empty = running) overlap year Y
  kDateIn,      // field `from` is a date in year Y
  kYearEquals,  // field `from` (a year attribute) equals Y
  kAlways,      // every record counts
};

struct PeriodSpec {
  PeriodKind kind = PeriodKind::kAlways;
  std::string from;     // attribute name
  std::string to;       // attribute name, kSpell only
  int year_offset = 0;  // 0: the reference year, -1: the year before, ...
};

// A filter on one attribute: a category in `codes`, or a number (integer, amount in euro,
// year) strictly below / at least a bound.
struct AttributeFilter {
  std::string attribute;
  std::vector<std::string> codes;  // category codes (canonical, as in the mapping)
  std::optional<double> below;     // value < below
  std::optional<double> at_least;  // value >= at_least
};

struct IndicatorSpec {
  std::string name;
  int line = 0;  // in the spec file, for messages
  // Record indicators: a record of `dataset` passing every filter in the period, of a member
  // in scope. Datasets keyed by address only join on the household directly (members ignored).
  std::string dataset;
  std::vector<AttributeFilter> filters;
  PeriodSpec period;
  MemberScope members = MemberScope::kAny;
  // Register indicator instead: a member's register rows starting in the year, other than at
  // birth, at least `min_moves` of them (DOMAIN.md: moved at least twice).
  std::optional<int> min_moves;
  // A cost-benefit group (CostBenefitSpec::cohort_bit...): no dataset, set after the scan.
  bool set_after_scan = false;
};

// A derived flag: all of `all`, at least one of `any` (when not empty) and none of `none`.
// Operands are indicator or flag names; flags may only use names defined before them.
struct FlagSpec {
  std::string name;
  int line = 0;
  std::vector<std::string> all;
  std::vector<std::string> any;
  std::vector<std::string> none;
};

// Household composition classes, e.g. family = at least one adult and one child.
struct CountRange {
  int min = 0;
  int max = 1 << 30;
};
struct HouseholdTypeSpec {
  std::string name;
  CountRange adults;
  CountRange children;
};

// A selection of units: a household type (empty: every household) and a flag expression.
struct Selection {
  std::string household_type;
  std::vector<std::string> all;
  std::vector<std::string> any;
  std::vector<std::string> none;
};

enum class TableKind {
  kCounts,       // rows: a dimension (with a total row) or a list of selections; columns: counts
  kOverlap,      // table 5: per flag, none / any / only / also <other flag>
  kCosts,        // rows: cost items (or their payers); columns: selections; sums and means
  kSensitivity,  // one-at-a-time ranges of a cost table's mean
  kCostBenefit,  // the spec's cost_benefit section, shown as CostBenefitView says
};

// What a cost_benefit table shows (docs/analysis.md, "Cost-benefit").
enum class CostBenefitView {
  kOutcomes,     // per outcome (and intervention cost, and PM item): money per window, NPV
  kPayers,       // who pays, who gains: NPV of costs and benefits, saldo and ratio per payer
  kSensitivity,  // one-at-a-time ranges of the total saldo and ratio
};

enum class Dimension { kNone, kArea, kHouseholdType };

// A column of a counts table: the number of units of the table's population (in the row)
// matching `where`, optionally with its percentage of the row's population.
struct CountColumn {
  std::string label;
  Selection where;  // empty: the population itself (N)
  bool percent = false;
  int reference = 0;  // index into AnalysisSpec::reference_dates: year-on-year columns
};

struct RowSpec {
  std::string label;
  Selection where;
};

struct CostItemSpec {
  std::string name;
  int line = 0;           // in the spec file, for messages
  std::string payer;      // who pays, for tables by payer
  std::string indicator;  // whose records give the volume
  enum class Volume { kRecords, kUnits, kDaysInYear, kAmount } volume = Volume::kRecords;
  std::string amount_attribute;     // kAmount: the attribute summed (actual amounts)
  std::vector<std::string> prices;  // cost_item names of the prices file, summed
  // Instead of `prices`: a category attribute of the indicator's dataset; each record is priced
  // at the prices-file row named like its code.
  std::string price_by;
  // False: shown in costs tables, but not summed into their total (nor into a payer's row).
  bool in_total = true;
  // Cost-benefit items (CostBenefitSpec), appended by the parser after the spec's own items and
  // never shown in costs tables: an outcome's money in one year relative to each household's
  // start (-1: the year before, 1..horizon: the years after), or an intervention cost (in year
  // 1). Their volumes are set after the scan (cohort_windows.h), not by the scanner.
  int relative_year = 0;  // 0: an ordinary cost item
  int outcome = -1;       // index into CostBenefitSpec::outcomes
  int intervention = -1;  // index into CostBenefitSpec::costs
  bool cost_benefit() const { return relative_year != 0; }
};

struct SensitivitySpec {
  std::string label;
  int line = 0;       // in the spec file, for messages
  std::string price;  // a prices-file item, or
  std::string item;   // a cost item whose volume varies
  double low = 1.0;   // factors
  double high = 1.0;
};

struct TableSpec {
  std::string name;
  std::string title;
  int line = 0;
  TableKind kind = TableKind::kCounts;
  std::string population;               // a Selection name from `populations`
  Dimension rows = Dimension::kNone;    // kCounts/kCosts: group rows by this
  std::string total_label;              // label of the total row ("" = no total row)
  std::vector<RowSpec> row_selections;  // kCounts alternative to a dimension
  std::vector<CountColumn> columns;     // kCounts
  std::vector<std::string> flags;       // kOverlap
  bool by_payer = false;                // kCosts: rows are payers instead of items
  std::vector<RowSpec> cost_columns;    // kCosts: one sum + mean per selection
  std::string costs_table;              // kSensitivity: the kCosts table varied
  std::string mean_of;                  // kSensitivity: label of the cost column whose mean
  CostBenefitView view = CostBenefitView::kPayers;  // kCostBenefit
};

// Cost-benefit monitoring of an intervention cohort (a social cost-benefit analysis, MKBA):
// households whose members have records of the intervening holder, each with its own start
// date, measured in years relative to that start, optionally against a comparison group of
// households matched on their cell at the reference date; outcomes valued with unit prices,
// discounted to a net present value per paying party. docs/analysis.md, "Cost-benefit", has
// the definitions the engine and koppel-synth's ground truth both follow.
struct CostBenefitWindow {
  std::string label;
  int first_year = 1;  // relative years, inclusive: -1 the year before the start, 1 the first
  int last_year = 1;   // 12 months after it, 2..4 years two to four
};

struct OutcomeSpec {
  std::string name;
  int line = 0;
  // The indicator whose records are the events: its dataset, filters and members; its `date`
  // (an event on a day) or `spell` (a period) attributes place them in the years; its own
  // reference-year period is not used here.
  std::string indicator;
  enum class Volume { kRecords, kDays, kAmount } volume = Volume::kRecords;
  std::string amount_attribute;  // kAmount: euro summed per record dated in the year
  std::string price;             // a prices-file item (kRecords: per event, kDays: per day)
  std::string payer;             // from the spec, else the prices file's `payer` column
  // Not valued (no price): listed as a PM ("pro memorie") row with this note, never dropped.
  bool pm = false;
  std::string note;
};

struct InterventionCostSpec {
  std::string name;
  int line = 0;
  std::string payer;
  std::optional<double> per_household;  // euro per cohort household, or
  std::string amount_attribute;         // summed from the cohort indicator's records (its dataset)
};

struct CostBenefitRange {
  std::string label;
  int line = 0;
  enum class Varies { kPrice, kAllPrices, kRate, kEffect, kCosts } varies = Varies::kAllPrices;
  std::string price;  // kPrice: the prices-file item scaled
  double low = 1.0;   // factors; kRate: the rates themselves (discount rate incl. risk premium)
  double high = 1.0;
};

struct CostBenefitSpec {
  // The cohort: households with a member (or address) record of this indicator; its dataset's
  // date attribute `start_attribute` gives the start, the earliest of the household's records.
  std::string cohort_indicator;
  std::string start_attribute;
  // The comparison group, when `comparison` is set: households with none of `exclude` and not
  // in the cohort whose cell (`match_on`: household_type, area, indicator or flag names) holds
  // at least one cohort household; cohort households whose cell has no comparison household are
  // left out of the comparison (counted apart). Without it: before/after within the cohort.
  bool comparison = false;
  std::vector<std::string> exclude;
  std::vector<std::string> match_on;
  int horizon = 4;  // years after the start
  std::vector<CostBenefitWindow> windows;
  double discount_rate = 0.025;
  double risk_premium = 0.005;
  std::vector<OutcomeSpec> outcomes;
  std::vector<InterventionCostSpec> costs;
  std::vector<CostBenefitRange> sensitivity;
  // Set by the parser: the indicators it appends for the groups (set after the scan, by
  // cohort_windows.h, never by a dataset), and the first of the cost items it appends.
  size_t cohort_bit = 0;      // the cohort households analysed (matched, with a comparison)
  size_t comparison_bit = 0;  // the comparison households
  size_t unmatched_bit = 0;   // cohort households without a comparison household in their cell
  size_t first_item = 0;      // index into AnalysisSpec::cost_items

  double Rate() const { return discount_rate + risk_premium; }
  // The relative years measured: -1, then 1..horizon.
  std::vector<int> Years() const;
};

// Where a value is written in the spec file (1-based), for checks made after parsing.
struct SpecPosition {
  int line = 0;
  int column = 0;
};

struct AnalysisSpec {
  std::string name;
  std::string title;
  // The first is the reference date; more: comparisons.
  std::vector<absl::CivilDay> reference_dates;
  // The population register.
  std::string register_dataset;  // e.g. brp
  std::string birth_date_attribute;
  std::string area_attribute;        // category: the area dimension
  std::string valid_from_attribute;  // address period [from, to); empty for a snapshot
  std::string valid_to_attribute;
  // A snapshot register: every row is a member on this date (no address periods). The spec's
  // reference dates are then this date only.
  std::optional<absl::CivilDay> snapshot;
  std::string moves_attribute;  // snapshot: integer, the member's moves in its year
  std::map<std::string, std::string> area_labels;  // area code -> name in tables
  int adult_age = 18;  // adults are this age or older on the reference date
  std::vector<HouseholdTypeSpec> household_types;
  std::map<std::string, Selection> populations;
  std::vector<IndicatorSpec> indicators;
  std::vector<FlagSpec> flags;
  std::string prices_file;  // as written in the spec: relative to the spec file
  std::vector<CostItemSpec> cost_items;
  std::vector<SensitivitySpec> sensitivity;
  std::vector<TableSpec> tables;
  std::optional<CostBenefitSpec> cost_benefit;
  // Disclosure settings the spec asks for; may only be stricter than the covenant's.
  std::optional<int> min_cell;
  // The spec file's name and where its keys' values are written, by key path as errors spell
  // it ("register.address_from", "indicators.low_income.where.inkomen", ...).
  std::string source;
  std::map<std::string, SpecPosition> positions;

  // "<source>:<line>:<col>: <path>" for a key path the parser saw, "<source>: <path>" otherwise.
  std::string Where(const std::string& path) const;
};

// Parses and validates a spec. Errors read "<source>:<line>:<col>: <problem>". With a
// cost_benefit section it appends the groups (indicators cb_cohort, cb_comparison,
// cb_unmatched and populations cb_cohort, cb_comparison) and AppendCostBenefitItems' items.
absl::StatusOr<AnalysisSpec> ParseAnalysisSpec(std::string_view yaml, std::string_view source_name);

// Replaces the cost-benefit items at the end of spec->cost_items by one per valued (not PM)
// outcome and relative year (Years()), "<outcome>@<year>", then one per intervention cost,
// "<cost>@1", and sets first_item. Run again after outcomes change (ResolveCostBenefitPrices).
void AppendCostBenefitItems(AnalysisSpec* spec);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_SPEC_H_

#include "linker/analysis/analysis_spec.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "core/civil_date.h"
#include "core/status_macros.h"
#include "core/yaml_reader.h"

namespace koppel::analysis {
namespace {

using Keys = std::vector<std::string>;

constexpr size_t kMaxNameLength = 64;
// An intervention's euro per household: far above any real one, while its cents (1e11) stay in
// llround's range and their sum over ten million households in an int64.
constexpr double kMaxEuroPerHousehold = 1e9;

bool IsNameOf(std::string_view s, std::string_view extra) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Indicators, flags, populations, household types, cost items, tables, attributes: [a-z0-9_]+.
bool IsName(std::string_view s) { return IsNameOf(s, "_"); }
bool IsAnalysisName(std::string_view s) { return IsNameOf(s, "-"); }

// Key paths as YamlReader spells them: Join("a", "b") is "a.b", At("a", 2) is "a[2]".
constexpr auto Join = &YamlReader::Join;
constexpr auto At = &YamlReader::At;

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

// The shared YamlReader with the wording of analysis specs (allowed keys in the order given)
// and the kinds of value a spec is made of.
class SpecReader : public YamlReader {
 public:
  explicit SpecReader(std::string_view source)
      : YamlReader(source, {"expected a mapping with the keys {allowed}",
                            "unknown key '{key}'; allowed here: {allowed}"}) {}

  absl::StatusOr<std::string> Text(const YAML::Node& node, std::string_view path) const {
    ASSIGN_OR_RETURN(std::string value, Scalar(node, path));
    if (value.empty()) return Error(node, path, "must not be empty");
    return value;
  }

  absl::StatusOr<std::string> Name(const YAML::Node& node, std::string_view path) const {
    ASSIGN_OR_RETURN(std::string value, Scalar(node, path));
    if (!IsName(value)) {
      return Error(node, path,
                   fmt::format("'{}' is not a valid name; use 1-{} lower-case letters, digits "
                               "and _",
                               value, kMaxNameLength));
    }
    return value;
  }

  absl::StatusOr<int64_t> Int(const YAML::Node& node, std::string_view path, int64_t min,
                              int64_t max) const {
    ASSIGN_OR_RETURN(int64_t value, YamlReader::Int(node, path, "expected a whole number"));
    if (value < min || value > max) {
      return Error(node, path, fmt::format("{} is out of range; use {} to {}", value, min, max));
    }
    return value;
  }

  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view path) const {
    double value = 0;
    if (!node.IsScalar() || !absl::SimpleAtod(node.Scalar(), &value) || !std::isfinite(value)) {
      return Error(node, path, "expected a number, e.g. 9250 or 0.9");
    }
    return value;
  }

  absl::StatusOr<absl::CivilDay> DateValue(const YAML::Node& node, std::string_view path) const {
    std::optional<absl::CivilDay> day;
    if (node.IsScalar()) day = ParseIsoDay(node.Scalar());
    if (!day) return Error(node, path, "expected a date as yyyy-mm-dd, e.g. 2014-12-31");
    return *day;
  }

  // A list of names, e.g. [bijstand, ww]; `min_size` entries at least.
  absl::StatusOr<std::vector<std::string>> NameList(const YAML::Node& node, std::string_view path,
                                                    size_t min_size) const {
    if (!node.IsSequence()) return Error(node, path, "expected a list of names, e.g. [a, b]");
    if (node.size() < min_size) {
      return Error(node, path,
                   fmt::format("list at least {} name{}", min_size, min_size == 1 ? "" : "s"));
    }
    std::vector<std::string> names;
    for (size_t i = 0; i < node.size(); ++i) {
      ASSIGN_OR_RETURN(std::string name, Name(node[i], At(path, i)));
      names.push_back(std::move(name));
    }
    return names;
  }
};

// Parses the document into an AnalysisSpec, section by section in dependency order, checking
// every reference between sections.
class SpecParser {
 public:
  explicit SpecParser(std::string_view source) : r_(source), source_(source) {}

  absl::StatusOr<AnalysisSpec> Parse(const YAML::Node& root);
  absl::Status NotValidYaml(const YAML::Exception& e) const { return r_.NotValidYaml(e); }
  absl::StatusOr<YAML::Node> Load(std::string_view text) const { return r_.Load(text); }

 private:
  enum class OperandKind { kIndicator, kFlag };
  struct Operand {
    OperandKind kind;
    size_t index;  // into spec_.indicators or the flag order
  };

  absl::Status ParseHeader(const YAML::Node& root);
  absl::Status ParseRegister(const YAML::Node& node);
  absl::Status CheckSnapshotDates(const YAML::Node& dates);
  absl::Status ParseAreas(const YAML::Node& node);
  absl::Status ParseHouseholdTypes(const YAML::Node& node);
  absl::StatusOr<CountRange> ParseCountRange(const YAML::Node& node, std::string_view path);
  absl::Status ParseIndicators(const YAML::Node& node);
  absl::Status ParseIndicator(const YAML::Node& node, std::string_view path, IndicatorSpec* out);
  absl::Status ParseRegisterIndicator(const YAML::Node& node, std::string_view path,
                                      IndicatorSpec* out);
  absl::Status ParsePeriod(const YAML::Node& node, std::string_view path, PeriodSpec* out);
  absl::Status ParseFilters(const YAML::Node& node, std::string_view path,
                            std::vector<AttributeFilter>* out);
  absl::Status ParseFilter(const YAML::Node& node, std::string_view path, AttributeFilter* out);
  absl::Status ParseFlags(const YAML::Node& node);
  absl::Status ParsePopulations(const YAML::Node& node);
  absl::Status ParseSelection(const YAML::Node& node, std::string_view path, Selection* out);
  absl::Status ParseOperands(const YAML::Node& node, std::string_view path,
                             std::optional<size_t> flag_index, std::vector<std::string>* out);
  absl::StatusOr<RowSpec> ParseRow(const YAML::Node& node, std::string_view path,
                                   const Keys& extra_keys);
  absl::Status ParseCosts(const YAML::Node& node);
  absl::Status ParseCostItem(const YAML::Node& node, std::string_view path, CostItemSpec* out);
  absl::Status ParseSensitivity(const YAML::Node& node, std::string_view path,
                                SensitivitySpec* out);
  absl::Status ParseDisclosure(const YAML::Node& node);
  absl::Status ParseCostBenefit(const YAML::Node& node, bool has_prices);
  absl::Status ParseCohort(const YAML::Node& node, CostBenefitSpec* out);
  absl::Status ParseComparison(const YAML::Node& node, CostBenefitSpec* out);
  absl::StatusOr<double> ParseRate(const YAML::Node& node, std::string_view path);
  absl::Status ParseWindows(const YAML::Node& node, CostBenefitSpec* out);
  absl::Status ParseOutcome(const YAML::Node& node, std::string_view path, OutcomeSpec* out);
  absl::Status ParseInterventionCost(const YAML::Node& node, std::string_view path,
                                     InterventionCostSpec* out);
  absl::Status ParseCostBenefitRange(const YAML::Node& node, std::string_view path,
                                     const CostBenefitSpec& cost_benefit, CostBenefitRange* out);
  absl::StatusOr<const IndicatorSpec*> IndicatorNamed(const YAML::Node& node,
                                                      std::string_view path);
  absl::Status CheckNotReserved(const YAML::Node& key, std::string_view path);
  void AppendCostBenefitGroups();
  absl::Status ParseTables(const YAML::Node& node);
  absl::Status ParseTable(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::Status ParseCountsTable(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::Status ParseCountColumn(const YAML::Node& node, std::string_view path, CountColumn* out);
  absl::Status ParseOverlapTable(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::Status ParseCostsTable(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::Status ParseSensitivityTable(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::Status ParseCostBenefitTable(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::StatusOr<Dimension> ParseDimension(const YAML::Node& node, std::string_view path);
  absl::Status ParseTotal(const YAML::Node& node, std::string_view path, TableSpec* out);
  absl::Status CheckUniqueLabels(const YAML::Node& list, std::string_view path,
                                 const std::vector<std::string>& labels);

  // Remembers where `path`'s value is written, for checks made against the deliveries.
  void Note(const YAML::Node& node, const std::string& path) {
    const YAML::Mark mark = node.Mark();
    if (!mark.is_null()) spec_.positions[path] = {mark.line + 1, mark.column + 1};
  }

  // Checks `name` (a key of a name -> spec mapping) and that it is new in `seen`.
  absl::Status CheckNewName(const YAML::Node& key, std::string_view path, std::string_view what,
                            std::set<std::string>* seen);

  SpecReader r_;
  std::string source_;
  AnalysisSpec spec_;
  std::map<std::string, Operand> operands_;
  std::set<std::string> household_type_names_;
  std::set<std::string> cost_item_names_;
};

absl::Status SpecParser::CheckNewName(const YAML::Node& key, std::string_view path,
                                      std::string_view what, std::set<std::string>* seen) {
  ASSIGN_OR_RETURN(std::string name, r_.Name(key, path));
  if (!seen->insert(name).second) {
    return r_.Error(key, path, fmt::format("{} '{}' is defined twice; rename one", what, name));
  }
  return absl::OkStatus();
}

absl::StatusOr<AnalysisSpec> SpecParser::Parse(const YAML::Node& root) {
  RETURN_IF_ERROR(r_.ExpectMap(
      root, "",
      {"analysis", "title", "reference_dates", "register", "areas", "household_types",
       "populations", "indicators", "flags", "prices", "costs", "cost_benefit", "disclosure",
       "tables"},
      {"analysis", "reference_dates", "register", "populations", "indicators", "tables"}));
  for (const char* key : {"reference_dates", "household_types", "indicators", "flags", "areas"}) {
    if (root[key]) Note(root[key], key);
  }
  RETURN_IF_ERROR(ParseHeader(root));
  RETURN_IF_ERROR(ParseRegister(root["register"]));
  RETURN_IF_ERROR(CheckSnapshotDates(root["reference_dates"]));
  if (root["areas"]) RETURN_IF_ERROR(ParseAreas(root["areas"]));
  if (root["household_types"]) RETURN_IF_ERROR(ParseHouseholdTypes(root["household_types"]));
  RETURN_IF_ERROR(ParseIndicators(root["indicators"]));
  if (root["flags"]) RETURN_IF_ERROR(ParseFlags(root["flags"]));
  RETURN_IF_ERROR(ParsePopulations(root["populations"]));
  if (root["prices"]) {
    ASSIGN_OR_RETURN(spec_.prices_file, r_.Text(root["prices"], "prices"));
  }
  if (root["costs"]) {
    if (!root["prices"]) {
      return r_.Error(root["costs"], "costs",
                      "costs need unit prices: add 'prices: <file.csv>' (relative to this spec)");
    }
    RETURN_IF_ERROR(ParseCosts(root["costs"]));
  }
  if (root["cost_benefit"]) {
    RETURN_IF_ERROR(ParseCostBenefit(root["cost_benefit"], root["prices"].IsDefined()));
  }
  if (root["disclosure"]) RETURN_IF_ERROR(ParseDisclosure(root["disclosure"]));
  RETURN_IF_ERROR(ParseTables(root["tables"]));
  spec_.source = source_;
  return std::move(spec_);
}

absl::Status SpecParser::ParseHeader(const YAML::Node& root) {
  ASSIGN_OR_RETURN(spec_.name, r_.Scalar(root["analysis"], "analysis"));
  if (!IsAnalysisName(spec_.name)) {
    return r_.Error(root["analysis"], "analysis",
                    fmt::format("'{}' is not a valid analysis name; use 1-{} lower-case letters, "
                                "digits and -",
                                spec_.name, kMaxNameLength));
  }
  if (root["title"]) {
    ASSIGN_OR_RETURN(spec_.title, r_.Scalar(root["title"], "title"));
  }
  const YAML::Node dates = root["reference_dates"];
  if (!dates.IsSequence() || dates.size() == 0) {
    return r_.Error(dates, "reference_dates",
                    "expected a list of one or more dates, e.g. [2014-12-31, 2013-12-31]");
  }
  for (size_t i = 0; i < dates.size(); ++i) {
    ASSIGN_OR_RETURN(absl::CivilDay date, r_.DateValue(dates[i], At("reference_dates", i)));
    if (std::find(spec_.reference_dates.begin(), spec_.reference_dates.end(), date) !=
        spec_.reference_dates.end()) {
      return r_.Error(dates[i], At("reference_dates", i), "this date is listed twice");
    }
    spec_.reference_dates.push_back(date);
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseRegister(const YAML::Node& node) {
  RETURN_IF_ERROR(r_.ExpectMap(node, "register",
                               {"dataset", "birth_date", "area", "address_from", "address_to",
                                "snapshot", "moves", "adult_age"},
                               {"dataset", "birth_date"}));
  for (const auto& entry : node) Note(entry.second, Join("register", entry.first.Scalar()));
  ASSIGN_OR_RETURN(spec_.register_dataset, r_.Name(node["dataset"], "register.dataset"));
  ASSIGN_OR_RETURN(spec_.birth_date_attribute, r_.Name(node["birth_date"], "register.birth_date"));
  if (node["area"]) {
    ASSIGN_OR_RETURN(spec_.area_attribute, r_.Name(node["area"], "register.area"));
  }
  const bool has_period = node["address_from"] || node["address_to"];
  if (node["snapshot"] && has_period) {
    const char* period_key = node["address_from"] ? "address_from" : "address_to";
    return r_.Error(node[period_key], Join("register", period_key),
                    "a snapshot register has no address periods: give either snapshot (every "
                    "row is a member on that date) or address_from and address_to, not both");
  }
  if (node["snapshot"]) {
    ASSIGN_OR_RETURN(spec_.snapshot, r_.DateValue(node["snapshot"], "register.snapshot"));
    if (node["moves"]) {
      ASSIGN_OR_RETURN(spec_.moves_attribute, r_.Name(node["moves"], "register.moves"));
    }
  } else {
    if (!has_period) {
      return r_.Error(node, "register",
                      "give the address period (address_from and address_to) or, for a register "
                      "extract on one date, snapshot: yyyy-mm-dd");
    }
    for (const char* key : {"address_from", "address_to"}) {
      if (!node[key]) {
        return r_.Error(node, "register",
                        fmt::format("missing required key '{}' (an address period needs both "
                                    "address_from and address_to)",
                                    key));
      }
    }
    if (node["moves"]) {
      return r_.Error(node["moves"], "register.moves",
                      "moves goes with snapshot (a register with address periods counts the "
                      "moves from them); remove it");
    }
    ASSIGN_OR_RETURN(spec_.valid_from_attribute,
                     r_.Name(node["address_from"], "register.address_from"));
    ASSIGN_OR_RETURN(spec_.valid_to_attribute, r_.Name(node["address_to"], "register.address_to"));
  }
  if (node["adult_age"]) {
    ASSIGN_OR_RETURN(int64_t age, r_.Int(node["adult_age"], "register.adult_age", 1, 120));
    spec_.adult_age = static_cast<int>(age);
  }
  return absl::OkStatus();
}

absl::Status SpecParser::CheckSnapshotDates(const YAML::Node& dates) {
  if (!spec_.snapshot) return absl::OkStatus();
  for (size_t i = 0; i < spec_.reference_dates.size(); ++i) {
    if (spec_.reference_dates[i] == *spec_.snapshot) continue;
    return r_.Error(dates[i], At("reference_dates", i),
                    fmt::format("{} is not the register's snapshot date {}: a snapshot register "
                                "places households on its own date only; compare with another "
                                "year using a register that covers {} (or remove this date)",
                                IsoDate(spec_.reference_dates[i]), IsoDate(*spec_.snapshot),
                                IsoDate(spec_.reference_dates[i])));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseAreas(const YAML::Node& node) {
  if (!node.IsMap()) {
    return r_.Error(node, "areas",
                    "expected a mapping of area code to label, e.g. "
                    "{WK014100: Binnenstad}");
  }
  if (spec_.area_attribute.empty()) {
    return r_.Error(node, "areas", "area labels need the area attribute: add register.area");
  }
  for (const auto& entry : node) {
    ASSIGN_OR_RETURN(std::string code, r_.Text(entry.first, "areas"));
    const std::string path = Join("areas", code);
    ASSIGN_OR_RETURN(std::string label, r_.Text(entry.second, path));
    if (!spec_.area_labels.emplace(code, label).second) {
      return r_.Error(entry.first, path, "this area code is listed twice");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CountRange> SpecParser::ParseCountRange(const YAML::Node& node,
                                                       std::string_view path) {
  constexpr int64_t kMax = 1000;
  CountRange range;
  if (node.IsScalar()) {
    ASSIGN_OR_RETURN(int64_t n, r_.Int(node, path, 0, kMax));
    range.min = range.max = static_cast<int>(n);
    return range;
  }
  if (!node.IsMap()) {
    return r_.Error(node, path, "expected a number, or {min: n} / {max: n} / {min: n, max: m}");
  }
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"min", "max"}, {}));
  if (node.size() == 0) return r_.Error(node, path, "give min, max or both");
  if (node["min"]) {
    ASSIGN_OR_RETURN(int64_t n, r_.Int(node["min"], Join(path, "min"), 0, kMax));
    range.min = static_cast<int>(n);
  }
  if (node["max"]) {
    ASSIGN_OR_RETURN(int64_t n, r_.Int(node["max"], Join(path, "max"), 0, kMax));
    range.max = static_cast<int>(n);
  }
  if (range.min > range.max) return r_.Error(node, path, "min is above max");
  return range;
}

absl::Status SpecParser::ParseHouseholdTypes(const YAML::Node& node) {
  if (!node.IsMap() || node.size() == 0) {
    return r_.Error(node, "household_types",
                    "expected a mapping of type name to {adults: ..., children: ...}");
  }
  for (const auto& entry : node) {
    const std::string path = Join("household_types", entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, path, "household type", &household_type_names_));
    RETURN_IF_ERROR(r_.ExpectMap(entry.second, path, {"adults", "children"}, {}));
    HouseholdTypeSpec type;
    type.name = entry.first.Scalar();
    if (entry.second["adults"]) {
      ASSIGN_OR_RETURN(type.adults, ParseCountRange(entry.second["adults"], Join(path, "adults")));
    }
    if (entry.second["children"]) {
      ASSIGN_OR_RETURN(type.children,
                       ParseCountRange(entry.second["children"], Join(path, "children")));
    }
    spec_.household_types.push_back(std::move(type));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseIndicators(const YAML::Node& node) {
  if (!node.IsMap() || node.size() == 0) {
    return r_.Error(node, "indicators", "expected a mapping of indicator name to its definition");
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string path = Join("indicators", entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, path, "indicator", &seen));
    RETURN_IF_ERROR(CheckNotReserved(entry.first, path));
    IndicatorSpec indicator;
    indicator.name = entry.first.Scalar();
    indicator.line = LineOf(entry.first);
    Note(entry.first, path);
    RETURN_IF_ERROR(ParseIndicator(entry.second, path, &indicator));
    operands_[indicator.name] = {OperandKind::kIndicator, spec_.indicators.size()};
    spec_.indicators.push_back(std::move(indicator));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseIndicator(const YAML::Node& node, std::string_view path,
                                        IndicatorSpec* out) {
  RETURN_IF_ERROR(r_.ExpectMap(
      node, path,
      {"dataset", "where", "spell", "date", "year", "year_offset", "members", "moves_at_least"},
      {}));
  if (node["members"]) {
    const std::string members_path = Join(path, "members");
    ASSIGN_OR_RETURN(std::string members, r_.Scalar(node["members"], members_path));
    static const std::map<std::string, MemberScope> kScopes = {
        {"any", MemberScope::kAny},
        {"adults", MemberScope::kAdults},
        {"children", MemberScope::kChildren}};
    auto it = kScopes.find(members);
    if (it == kScopes.end()) {
      return r_.Error(node["members"], members_path,
                      fmt::format("'{}' is not one of any, adults, children", members));
    }
    out->members = it->second;
  }
  if (node["year_offset"]) {
    ASSIGN_OR_RETURN(int64_t offset,
                     r_.Int(node["year_offset"], Join(path, "year_offset"), -100, 100));
    out->period.year_offset = static_cast<int>(offset);
  }
  if (node["moves_at_least"]) return ParseRegisterIndicator(node, path, out);
  if (!node["dataset"]) {
    return r_.Error(node, path,
                    "give 'dataset' (records of a dataset) or 'moves_at_least' (moves in the "
                    "population register)");
  }
  ASSIGN_OR_RETURN(out->dataset, r_.Name(node["dataset"], Join(path, "dataset")));
  if (node["where"]) {
    RETURN_IF_ERROR(ParseFilters(node["where"], Join(path, "where"), &out->filters));
  }
  return ParsePeriod(node, path, &out->period);
}

absl::Status SpecParser::ParseRegisterIndicator(const YAML::Node& node, std::string_view path,
                                                IndicatorSpec* out) {
  for (const char* key : {"dataset", "where", "spell", "date", "year"}) {
    if (node[key]) {
      return r_.Error(node[key], Join(path, key),
                      fmt::format("'{}' does not go with moves_at_least (a register indicator "
                                  "counts moves in the population register); remove one",
                                  key));
    }
  }
  const std::string moves_path = Join(path, "moves_at_least");
  ASSIGN_OR_RETURN(int64_t moves, r_.Int(node["moves_at_least"], moves_path, 1, 100));
  out->min_moves = static_cast<int>(moves);
  if (spec_.snapshot && spec_.moves_attribute.empty()) {
    return r_.Error(node["moves_at_least"], moves_path,
                    "a snapshot register has no address periods to count moves in: name its "
                    "moves count under register.moves (an integer attribute, e.g. verhuizingen)");
  }
  if (spec_.snapshot && out->period.year_offset != 0) {
    return r_.Error(node["year_offset"], Join(path, "year_offset"),
                    fmt::format("a snapshot register counts the moves of {} only; remove "
                                "year_offset",
                                spec_.snapshot->year()));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParsePeriod(const YAML::Node& node, std::string_view path,
                                     PeriodSpec* out) {
  std::string given;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (key != "spell" && key != "date" && key != "year") continue;
    if (!given.empty()) {
      return r_.Error(
          entry.first, Join(path, key),
          fmt::format("give only one of spell, date and year (found '{}' and '{}')", given, key));
    }
    given = key;
  }
  if (given.empty()) {
    if (node["year_offset"]) {
      return r_.Error(node["year_offset"], Join(path, "year_offset"),
                      "year_offset needs a period: add spell, date or year");
    }
    out->kind = PeriodKind::kAlways;
    return absl::OkStatus();
  }
  const std::string key_path = Join(path, given);
  const YAML::Node value = node[given];
  if (given == "spell") {
    if (!value.IsSequence() || value.size() != 2) {
      return r_.Error(value, key_path,
                      "expected [from, to]: the start and end date attributes, e.g. "
                      "[start, eind]");
    }
    out->kind = PeriodKind::kSpell;
    ASSIGN_OR_RETURN(out->from, r_.Name(value[0], At(key_path, 0)));
    ASSIGN_OR_RETURN(out->to, r_.Name(value[1], At(key_path, 1)));
    Note(value[0], At(key_path, 0));
    Note(value[1], At(key_path, 1));
    return absl::OkStatus();
  }
  out->kind = given == "date" ? PeriodKind::kDateIn : PeriodKind::kYearEquals;
  ASSIGN_OR_RETURN(out->from, r_.Name(value, key_path));
  Note(value, key_path);
  return absl::OkStatus();
}

absl::Status SpecParser::ParseFilters(const YAML::Node& node, std::string_view path,
                                      std::vector<AttributeFilter>* out) {
  if (!node.IsMap() || node.size() == 0) {
    return r_.Error(node, path,
                    "expected a mapping of attribute to codes or bounds, e.g. "
                    "{regeling: [bijstand]} or {inkomen: {below: 9250}}");
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string filter_path = Join(path, entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, filter_path, "filter on attribute", &seen));
    Note(entry.first, filter_path);
    AttributeFilter filter;
    filter.attribute = entry.first.Scalar();
    RETURN_IF_ERROR(ParseFilter(entry.second, filter_path, &filter));
    out->push_back(std::move(filter));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseFilter(const YAML::Node& node, std::string_view path,
                                     AttributeFilter* out) {
  if (node.IsSequence()) {
    if (node.size() == 0) return r_.Error(node, path, "list at least one code");
    for (size_t i = 0; i < node.size(); ++i) {
      ASSIGN_OR_RETURN(std::string code, r_.Text(node[i], At(path, i)));
      out->codes.push_back(std::move(code));
    }
    return absl::OkStatus();
  }
  if (!node.IsMap()) {
    return r_.Error(node, path,
                    "expected a list of codes, e.g. [bijstand], or bounds, e.g. {below: 9250}");
  }
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"below", "at_least"}, {}));
  if (node.size() == 0) return r_.Error(node, path, "give below, at_least or both");
  if (node["below"]) {
    ASSIGN_OR_RETURN(out->below, r_.Number(node["below"], Join(path, "below")));
  }
  if (node["at_least"]) {
    ASSIGN_OR_RETURN(out->at_least, r_.Number(node["at_least"], Join(path, "at_least")));
  }
  if (out->below && out->at_least && *out->at_least >= *out->below) {
    return r_.Error(node, path, "at_least must be below 'below', or no value can match");
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseFlags(const YAML::Node& node) {
  if (!node.IsMap()) {
    return r_.Error(node, "flags", "expected a mapping of flag name to {any/all/none: [...]}");
  }
  // Flag names first, so that a use of a later flag is told apart from a typo.
  size_t order = 0;
  std::set<std::string> flag_names;
  for (const auto& entry : node) {
    const std::string path = Join("flags", entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, path, "flag", &flag_names));
    RETURN_IF_ERROR(CheckNotReserved(entry.first, path));
    Note(entry.first, path);
    const std::string name = entry.first.Scalar();
    if (operands_.contains(name)) {
      return r_.Error(entry.first, path,
                      fmt::format("'{}' is already an indicator; flags and indicators share one "
                                  "set of names, rename one",
                                  name));
    }
    operands_[name] = {OperandKind::kFlag, order++};
  }
  order = 0;
  for (const auto& entry : node) {
    const std::string path = Join("flags", entry.first.Scalar());
    RETURN_IF_ERROR(r_.ExpectMap(entry.second, path, {"all", "any", "none"}, {}));
    FlagSpec flag;
    flag.name = entry.first.Scalar();
    flag.line = LineOf(entry.first);
    const std::pair<const char*, std::vector<std::string>*> lists[] = {
        {"all", &flag.all}, {"any", &flag.any}, {"none", &flag.none}};
    for (const auto& [key, list] : lists) {
      if (entry.second[key]) {
        RETURN_IF_ERROR(ParseOperands(entry.second[key], Join(path, key), order, list));
      }
    }
    if (flag.all.empty() && flag.any.empty() && flag.none.empty()) {
      return r_.Error(entry.second, path, "give at least one of all, any, none");
    }
    spec_.flags.push_back(std::move(flag));
    ++order;
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseOperands(const YAML::Node& node, std::string_view path,
                                       std::optional<size_t> flag_index,
                                       std::vector<std::string>* out) {
  ASSIGN_OR_RETURN(*out, r_.NameList(node, path, 1));
  for (size_t i = 0; i < out->size(); ++i) {
    const std::string& name = (*out)[i];
    auto it = operands_.find(name);
    if (it == operands_.end()) {
      return r_.Error(node[i], At(path, i),
                      fmt::format("'{}' is not an indicator or flag of this spec; define it "
                                  "under indicators or flags",
                                  name));
    }
    if (flag_index && it->second.kind == OperandKind::kFlag && it->second.index == *flag_index) {
      return r_.Error(node[i], At(path, i), "a flag cannot use itself");
    }
    if (flag_index && it->second.kind == OperandKind::kFlag && it->second.index > *flag_index) {
      return r_.Error(node[i], At(path, i),
                      fmt::format("flag '{}' is not defined before this flag; a flag may only "
                                  "use indicators and flags above it (move it up)",
                                  name));
    }
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseSelection(const YAML::Node& node, std::string_view path,
                                        Selection* out) {
  if (node.IsNull()) return absl::OkStatus();
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"household_type", "all", "any", "none"}, {}));
  if (node["household_type"]) {
    const std::string type_path = Join(path, "household_type");
    ASSIGN_OR_RETURN(out->household_type, r_.Name(node["household_type"], type_path));
    if (!household_type_names_.contains(out->household_type)) {
      return r_.Error(node["household_type"], type_path,
                      fmt::format("'{}' is not a household type; define it under "
                                  "household_types",
                                  out->household_type));
    }
  }
  const std::pair<const char*, std::vector<std::string>*> lists[] = {
      {"all", &out->all}, {"any", &out->any}, {"none", &out->none}};
  for (const auto& [key, list] : lists) {
    if (node[key]) {
      RETURN_IF_ERROR(ParseOperands(node[key], Join(path, key), std::nullopt, list));
    }
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParsePopulations(const YAML::Node& node) {
  if (!node.IsMap() || node.size() == 0) {
    return r_.Error(node, "populations",
                    "expected a mapping of population name to a selection, e.g. "
                    "{families: {household_type: family}}");
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string path = Join("populations", entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, path, "population", &seen));
    RETURN_IF_ERROR(CheckNotReserved(entry.first, path));
    Selection selection;
    RETURN_IF_ERROR(ParseSelection(entry.second, path, &selection));
    spec_.populations.emplace(entry.first.Scalar(), std::move(selection));
  }
  return absl::OkStatus();
}

absl::StatusOr<RowSpec> SpecParser::ParseRow(const YAML::Node& node, std::string_view path,
                                             const Keys& extra_keys) {
  Keys allowed = {"label", "count", "where"};
  allowed.insert(allowed.end(), extra_keys.begin(), extra_keys.end());
  RETURN_IF_ERROR(r_.ExpectMap(node, path, allowed, {"label"}));
  RowSpec row;
  ASSIGN_OR_RETURN(row.label, r_.Text(node["label"], Join(path, "label")));
  if (node["count"] && node["where"]) {
    return r_.Error(node["where"], Join(path, "where"),
                    "give count (one flag) or where (a selection), not both");
  }
  if (node["count"]) {
    const std::string count_path = Join(path, "count");
    ASSIGN_OR_RETURN(std::string name, r_.Name(node["count"], count_path));
    if (!operands_.contains(name)) {
      return r_.Error(node["count"], count_path,
                      fmt::format("'{}' is not an indicator or flag of this spec; define it "
                                  "under indicators or flags",
                                  name));
    }
    row.where.all.push_back(std::move(name));
  }
  if (node["where"]) {
    RETURN_IF_ERROR(ParseSelection(node["where"], Join(path, "where"), &row.where));
  }
  return row;
}

absl::Status SpecParser::ParseCosts(const YAML::Node& node) {
  RETURN_IF_ERROR(r_.ExpectMap(node, "costs", {"items", "sensitivity"}, {"items"}));
  const YAML::Node items = node["items"];
  if (!items.IsMap() || items.size() == 0) {
    return r_.Error(items, "costs.items", "expected a mapping of cost item name to its definition");
  }
  Note(items, "costs.items");
  for (const auto& entry : items) {
    const std::string path = Join("costs.items", entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, path, "cost item", &cost_item_names_));
    CostItemSpec item;
    item.name = entry.first.Scalar();
    item.line = LineOf(entry.first);
    Note(entry.first, path);
    RETURN_IF_ERROR(ParseCostItem(entry.second, path, &item));
    spec_.cost_items.push_back(std::move(item));
  }
  if (!node["sensitivity"]) return absl::OkStatus();
  const YAML::Node ranges = node["sensitivity"];
  if (!ranges.IsSequence()) {
    return r_.Error(ranges, "costs.sensitivity",
                    "expected a list of {label, price or item, low, high}");
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    SensitivitySpec range;
    range.line = LineOf(ranges[i]);
    RETURN_IF_ERROR(ParseSensitivity(ranges[i], At("costs.sensitivity", i), &range));
    spec_.sensitivity.push_back(std::move(range));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseCostItem(const YAML::Node& node, std::string_view path,
                                       CostItemSpec* out) {
  RETURN_IF_ERROR(r_.ExpectMap(
      node, path, {"indicator", "volume", "prices", "price_by", "amount", "payer", "in_total"},
      {"indicator", "volume", "payer"}));
  if (node["in_total"]) {
    ASSIGN_OR_RETURN(out->in_total, r_.Bool(node["in_total"], Join(path, "in_total")));
  }
  const std::string indicator_path = Join(path, "indicator");
  ASSIGN_OR_RETURN(out->indicator, r_.Name(node["indicator"], indicator_path));
  auto it = operands_.find(out->indicator);
  if (it == operands_.end() || it->second.kind != OperandKind::kIndicator) {
    return r_.Error(node["indicator"], indicator_path,
                    fmt::format("'{}' is not an indicator of this spec; a cost item takes the "
                                "volume of an indicator (not a flag)",
                                out->indicator));
  }
  const IndicatorSpec& indicator = spec_.indicators[it->second.index];
  ASSIGN_OR_RETURN(out->payer, r_.Name(node["payer"], Join(path, "payer")));

  const std::string volume_path = Join(path, "volume");
  ASSIGN_OR_RETURN(std::string volume, r_.Scalar(node["volume"], volume_path));
  static const std::map<std::string, CostItemSpec::Volume> kVolumes = {
      {"records", CostItemSpec::Volume::kRecords},
      {"units", CostItemSpec::Volume::kUnits},
      {"days_in_year", CostItemSpec::Volume::kDaysInYear},
      {"amount", CostItemSpec::Volume::kAmount}};
  auto volume_it = kVolumes.find(volume);
  if (volume_it == kVolumes.end()) {
    return r_.Error(node["volume"], volume_path,
                    fmt::format("'{}' is not one of records, units, days_in_year, amount", volume));
  }
  out->volume = volume_it->second;
  if (out->volume != CostItemSpec::Volume::kUnits && indicator.min_moves) {
    return r_.Error(node["volume"], volume_path,
                    fmt::format("'{}' is a register indicator without records; use volume: units",
                                out->indicator));
  }
  if (out->volume == CostItemSpec::Volume::kDaysInYear &&
      indicator.period.kind != PeriodKind::kSpell) {
    return r_.Error(
        node["volume"], volume_path,
        fmt::format("days_in_year needs an indicator with a spell; '{}' has none", out->indicator));
  }
  if (out->volume == CostItemSpec::Volume::kAmount) {
    if (!node["amount"]) {
      return r_.Error(node, path, "volume amount needs 'amount: <attribute>' (the amounts summed)");
    }
    for (const char* key : {"prices", "price_by"}) {
      if (node[key]) {
        return r_.Error(node[key], Join(path, key),
                        fmt::format("volume amount sums actual amounts; remove {}", key));
      }
    }
    ASSIGN_OR_RETURN(out->amount_attribute, r_.Name(node["amount"], Join(path, "amount")));
    Note(node["amount"], Join(path, "amount"));
    return absl::OkStatus();
  }
  if (node["amount"]) {
    return r_.Error(node["amount"], Join(path, "amount"),
                    "amount goes with volume: amount only; remove it or change the volume");
  }
  if (node["prices"] && node["price_by"]) {
    return r_.Error(node["price_by"], Join(path, "price_by"),
                    "give prices (one price for every record) or price_by (a price per code), "
                    "not both");
  }
  if (node["price_by"]) {
    const std::string price_by_path = Join(path, "price_by");
    if (out->volume == CostItemSpec::Volume::kUnits) {
      return r_.Error(node["price_by"], price_by_path,
                      "price_by prices each record by its code; volume units counts households, "
                      "not records: use volume records or days_in_year");
    }
    ASSIGN_OR_RETURN(out->price_by, r_.Name(node["price_by"], price_by_path));
    Note(node["price_by"], price_by_path);
    return absl::OkStatus();
  }
  if (!node["prices"]) {
    return r_.Error(node, path,
                    fmt::format("volume {} needs 'prices: [...]' (items of the prices file, "
                                "summed per unit of volume) or 'price_by: <category attribute>' "
                                "(a price per code)",
                                volume));
  }
  ASSIGN_OR_RETURN(out->prices, r_.NameList(node["prices"], Join(path, "prices"), 1));
  return absl::OkStatus();
}

absl::Status SpecParser::ParseSensitivity(const YAML::Node& node, std::string_view path,
                                          SensitivitySpec* out) {
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"label", "price", "item", "low", "high"},
                               {"label", "low", "high"}));
  ASSIGN_OR_RETURN(out->label, r_.Text(node["label"], Join(path, "label")));
  if (node["price"].IsDefined() == node["item"].IsDefined()) {
    return r_.Error(node, path,
                    "give either price (a unit price varied) or item (a cost item whose volume "
                    "is varied), exactly one");
  }
  if (node["price"]) {
    ASSIGN_OR_RETURN(out->price, r_.Name(node["price"], Join(path, "price")));
  } else {
    ASSIGN_OR_RETURN(out->item, r_.Name(node["item"], Join(path, "item")));
    if (!cost_item_names_.contains(out->item)) {
      return r_.Error(
          node["item"], Join(path, "item"),
          fmt::format("'{}' is not a cost item; define it under costs.items", out->item));
    }
    for (const CostItemSpec& item : spec_.cost_items) {
      if (item.name == out->item && !item.in_total) {
        return r_.Error(node["item"], Join(path, "item"),
                        fmt::format("cost item '{}' is not in the total (in_total: false), so "
                                    "varying it changes no mean; vary an item of the total",
                                    out->item));
      }
    }
  }
  ASSIGN_OR_RETURN(out->low, r_.Number(node["low"], Join(path, "low")));
  ASSIGN_OR_RETURN(out->high, r_.Number(node["high"], Join(path, "high")));
  if (out->low <= 0) return r_.Error(node["low"], Join(path, "low"), "a factor must be above 0");
  if (out->high <= 0) {
    return r_.Error(node["high"], Join(path, "high"), "a factor must be above 0");
  }
  if (out->low > out->high) {
    return r_.Error(node["low"], Join(path, "low"), "low is above high; swap them");
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseDisclosure(const YAML::Node& node) {
  RETURN_IF_ERROR(r_.ExpectMap(node, "disclosure", {"min_cell"}, {}));
  if (node["min_cell"]) {
    ASSIGN_OR_RETURN(int64_t min_cell,
                     r_.Int(node["min_cell"], "disclosure.min_cell", 1, 1'000'000));
    spec_.min_cell = static_cast<int>(min_cell);
  }
  return absl::OkStatus();
}

constexpr std::string_view kReservedNames[] = {"cb_cohort", "cb_comparison", "cb_unmatched"};

bool IsReserved(std::string_view name) {
  return std::find(std::begin(kReservedNames), std::end(kReservedNames), name) !=
         std::end(kReservedNames);
}

absl::Status SpecParser::CheckNotReserved(const YAML::Node& key, std::string_view path) {
  if (!IsReserved(key.Scalar())) return absl::OkStatus();
  return r_.Error(
      key, path,
      fmt::format("'{}' is reserved for the groups of cost_benefit; rename it", key.Scalar()));
}

absl::StatusOr<const IndicatorSpec*> SpecParser::IndicatorNamed(const YAML::Node& node,
                                                                std::string_view path) {
  ASSIGN_OR_RETURN(std::string name, r_.Name(node, path));
  auto it = operands_.find(name);
  if (it == operands_.end() || it->second.kind != OperandKind::kIndicator) {
    return r_.Error(node, path,
                    fmt::format("'{}' is not an indicator of this spec; define it under "
                                "indicators (a flag cannot be used here)",
                                name));
  }
  Note(node, std::string(path));
  return &spec_.indicators[it->second.index];
}

absl::Status SpecParser::ParseCostBenefit(const YAML::Node& node, bool has_prices) {
  const std::string path = "cost_benefit";
  RETURN_IF_ERROR(r_.ExpectMap(node, path,
                               {"cohort", "comparison", "horizon", "discount_rate", "risk_premium",
                                "windows", "outcomes", "costs", "sensitivity"},
                               {"cohort", "windows", "outcomes"}));
  Note(node, path);
  for (const auto& entry : node) Note(entry.second, Join(path, entry.first.Scalar()));
  if (spec_.reference_dates.size() != 1) {
    return r_.Error(node, path,
                    fmt::format("a cost-benefit analysis measures every household from one "
                                "reference date; reference_dates lists {}: keep one",
                                spec_.reference_dates.size()));
  }
  CostBenefitSpec cost_benefit;
  RETURN_IF_ERROR(ParseCohort(node["cohort"], &cost_benefit));
  if (node["comparison"]) RETURN_IF_ERROR(ParseComparison(node["comparison"], &cost_benefit));
  if (node["horizon"]) {
    ASSIGN_OR_RETURN(int64_t horizon, r_.Int(node["horizon"], Join(path, "horizon"), 1, 10));
    cost_benefit.horizon = static_cast<int>(horizon);
  }
  if (node["discount_rate"]) {
    ASSIGN_OR_RETURN(cost_benefit.discount_rate,
                     ParseRate(node["discount_rate"], Join(path, "discount_rate")));
  }
  if (node["risk_premium"]) {
    ASSIGN_OR_RETURN(cost_benefit.risk_premium,
                     ParseRate(node["risk_premium"], Join(path, "risk_premium")));
  }
  RETURN_IF_ERROR(ParseWindows(node["windows"], &cost_benefit));

  const YAML::Node outcomes = node["outcomes"];
  const std::string outcomes_path = Join(path, "outcomes");
  if (!outcomes.IsMap() || outcomes.size() == 0) {
    return r_.Error(outcomes, outcomes_path,
                    "expected a mapping of outcome name to {indicator, volume, price} or "
                    "{pm: \"<why it is not valued>\"}");
  }
  std::set<std::string> row_names;  // outcomes and intervention costs share the outcomes table
  for (const auto& entry : outcomes) {
    const std::string outcome_path = Join(outcomes_path, entry.first.Scalar());
    RETURN_IF_ERROR(CheckNewName(entry.first, outcome_path, "outcome", &row_names));
    OutcomeSpec outcome;
    outcome.name = entry.first.Scalar();
    outcome.line = LineOf(entry.first);
    Note(entry.first, outcome_path);
    RETURN_IF_ERROR(ParseOutcome(entry.second, outcome_path, &outcome));
    if (!outcome.price.empty() && !has_prices) {
      return r_.Error(entry.second["price"], Join(outcome_path, "price"),
                      "a valued outcome needs unit prices: add 'prices: <file.csv>' (relative to "
                      "this spec)");
    }
    cost_benefit.outcomes.push_back(std::move(outcome));
  }

  if (node["costs"]) {
    const YAML::Node costs = node["costs"];
    const std::string costs_path = Join(path, "costs");
    if (!costs.IsMap()) {
      return r_.Error(costs, costs_path,
                      "expected a mapping of intervention cost name to {per_household: <euro>, "
                      "payer: ...} or {amount: <attribute>, payer: ...}");
    }
    for (const auto& entry : costs) {
      const std::string cost_path = Join(costs_path, entry.first.Scalar());
      RETURN_IF_ERROR(
          CheckNewName(entry.first, cost_path, "outcome or intervention cost", &row_names));
      InterventionCostSpec cost;
      cost.name = entry.first.Scalar();
      cost.line = LineOf(entry.first);
      Note(entry.first, cost_path);
      RETURN_IF_ERROR(ParseInterventionCost(entry.second, cost_path, &cost));
      cost_benefit.costs.push_back(std::move(cost));
    }
  }

  if (node["sensitivity"]) {
    const YAML::Node ranges = node["sensitivity"];
    const std::string ranges_path = Join(path, "sensitivity");
    if (!ranges.IsSequence()) {
      return r_.Error(ranges, ranges_path, "expected a list of {label, varies, low, high}");
    }
    std::vector<std::string> labels;
    for (size_t i = 0; i < ranges.size(); ++i) {
      CostBenefitRange range;
      range.line = LineOf(ranges[i]);
      RETURN_IF_ERROR(ParseCostBenefitRange(ranges[i], At(ranges_path, i), cost_benefit, &range));
      labels.push_back(range.label);
      cost_benefit.sensitivity.push_back(std::move(range));
    }
    RETURN_IF_ERROR(CheckUniqueLabels(ranges, ranges_path, labels));
  }
  spec_.cost_benefit = std::move(cost_benefit);
  AppendCostBenefitGroups();
  AppendCostBenefitItems(&spec_);
  return absl::OkStatus();
}

absl::Status SpecParser::ParseCohort(const YAML::Node& node, CostBenefitSpec* out) {
  const std::string path = "cost_benefit.cohort";
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"indicator", "start"}, {"indicator", "start"}));
  const std::string indicator_path = Join(path, "indicator");
  ASSIGN_OR_RETURN(const IndicatorSpec* indicator,
                   IndicatorNamed(node["indicator"], indicator_path));
  if (indicator->dataset.empty()) {
    return r_.Error(node["indicator"], indicator_path,
                    fmt::format("'{}' has no records (a register indicator); the cohort needs "
                                "records of a dataset with a start date",
                                indicator->name));
  }
  out->cohort_indicator = indicator->name;
  const std::string start_path = Join(path, "start");
  ASSIGN_OR_RETURN(out->start_attribute, r_.Name(node["start"], start_path));
  Note(node["start"], start_path);
  return absl::OkStatus();
}

absl::Status SpecParser::ParseComparison(const YAML::Node& node, CostBenefitSpec* out) {
  const std::string path = "cost_benefit.comparison";
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"exclude", "match_on"}, {}));
  out->comparison = true;
  if (node["exclude"]) {
    const std::string exclude_path = Join(path, "exclude");
    RETURN_IF_ERROR(ParseOperands(node["exclude"], exclude_path, std::nullopt, &out->exclude));
    for (size_t i = 0; i < out->exclude.size(); ++i) {
      if (out->exclude[i] != out->cohort_indicator) continue;
      return r_.Error(node["exclude"][i], At(exclude_path, i),
                      fmt::format("'{}' is the cohort indicator; candidates never have it, so "
                                  "there is nothing to exclude: remove it",
                                  out->cohort_indicator));
    }
  }
  if (!node["match_on"]) return absl::OkStatus();
  const std::string match_path = Join(path, "match_on");
  ASSIGN_OR_RETURN(out->match_on, r_.NameList(node["match_on"], match_path, 1));
  std::set<std::string> seen;
  for (size_t i = 0; i < out->match_on.size(); ++i) {
    const std::string& name = out->match_on[i];
    const YAML::Node item = node["match_on"][i];
    if (!seen.insert(name).second) {
      return r_.Error(item, At(match_path, i), fmt::format("'{}' is listed twice", name));
    }
    if (name == out->cohort_indicator) {
      return r_.Error(item, At(match_path, i),
                      fmt::format("'{}' is the cohort indicator: no candidate has it, so every "
                                  "cohort household would be left without a comparison; remove it",
                                  name));
    }
    if (std::find(out->exclude.begin(), out->exclude.end(), name) != out->exclude.end()) {
      return r_.Error(item, At(match_path, i),
                      fmt::format("'{}' is also in exclude: no candidate has it, so every cohort "
                                  "household with it would be left without a comparison; keep it "
                                  "in one of the two",
                                  name));
    }
    if (name == "household_type") {
      if (spec_.household_types.empty()) {
        return r_.Error(item, At(match_path, i),
                        "matching on household_type needs household_types");
      }
    } else if (name == "area") {
      if (spec_.area_attribute.empty()) {
        return r_.Error(item, At(match_path, i), "matching on area needs register.area");
      }
    } else if (!operands_.contains(name)) {
      return r_.Error(item, At(match_path, i),
                      fmt::format("'{}' is not household_type, area, or an indicator or flag of "
                                  "this spec",
                                  name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> SpecParser::ParseRate(const YAML::Node& node, std::string_view path) {
  ASSIGN_OR_RETURN(double rate, r_.Number(node, path));
  if (rate < 0 || rate >= 1) {
    return r_.Error(node, path, "a rate is at least 0 and below 1, e.g. 0.025 for 2.5%");
  }
  return rate;
}

absl::Status SpecParser::ParseWindows(const YAML::Node& node, CostBenefitSpec* out) {
  const std::string path = "cost_benefit.windows";
  if (!node.IsSequence() || node.size() == 0) {
    return r_.Error(node, path,
                    "expected a list of one or more windows, e.g. [{label: first_12_months, "
                    "years: [1, 1]}]");
  }
  std::map<int, std::string> window_of_year;
  std::vector<std::string> labels;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string window_path = At(path, i);
    RETURN_IF_ERROR(r_.ExpectMap(node[i], window_path, {"label", "years"}, {"label", "years"}));
    Note(node[i], window_path);
    CostBenefitWindow window;
    ASSIGN_OR_RETURN(window.label, r_.Name(node[i]["label"], Join(window_path, "label")));
    const YAML::Node years = node[i]["years"];
    const std::string years_path = Join(window_path, "years");
    if (!years.IsSequence() || years.size() != 2) {
      return r_.Error(years, years_path,
                      "expected [first, last]: years relative to the start, inclusive, e.g. "
                      "[2, 4] (-1 is the year before the start, 1 the first 12 months after it)");
    }
    ASSIGN_OR_RETURN(int64_t first, r_.Int(years[0], At(years_path, 0), -1, out->horizon));
    ASSIGN_OR_RETURN(int64_t last, r_.Int(years[1], At(years_path, 1), -1, out->horizon));
    for (size_t j = 0; j < 2; ++j) {
      if ((j == 0 ? first : last) == 0) {
        return r_.Error(years[j], At(years_path, j),
                        "there is no relative year 0: -1 is the year before the start, 1 the "
                        "first 12 months after it");
      }
    }
    if (first > last) return r_.Error(years, years_path, "first is above last; swap them");
    if ((first == -1) != (last == -1)) {
      return r_.Error(years, years_path,
                      "the year before the start stands alone: [-1, -1]; put the years after "
                      "it in another window");
    }
    window.first_year = static_cast<int>(first);
    window.last_year = static_cast<int>(last);
    for (int k = window.first_year; k <= window.last_year; ++k) {
      if (k == 0) continue;
      auto [it, inserted] = window_of_year.emplace(k, window.label);
      if (!inserted) {
        return r_.Error(years, years_path,
                        fmt::format("relative year {} is already in window '{}'; windows must "
                                    "not overlap",
                                    k, it->second));
      }
    }
    labels.push_back(window.label);
    out->windows.push_back(std::move(window));
  }
  return CheckUniqueLabels(node, path, labels);
}

absl::Status SpecParser::ParseOutcome(const YAML::Node& node, std::string_view path,
                                      OutcomeSpec* out) {
  if (node.IsMap() && node["pm"]) {
    for (const auto& entry : node) {
      if (entry.first.Scalar() == "pm") continue;
      return r_.Error(entry.first, Join(path, entry.first.Scalar()),
                      "a PM outcome is not valued: give only pm: \"<why it has no price>\"");
    }
    out->pm = true;
    ASSIGN_OR_RETURN(out->note, r_.Text(node["pm"], Join(path, "pm")));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(r_.ExpectMap(node, path,
                               {"indicator", "volume", "amount", "price", "payer", "pm"},
                               {"indicator", "volume"}));
  for (const auto& entry : node) Note(entry.second, Join(path, entry.first.Scalar()));
  const std::string indicator_path = Join(path, "indicator");
  ASSIGN_OR_RETURN(const IndicatorSpec* indicator,
                   IndicatorNamed(node["indicator"], indicator_path));
  const PeriodKind period = indicator->period.kind;
  if (indicator->dataset.empty() ||
      (period != PeriodKind::kDateIn && period != PeriodKind::kSpell)) {
    return r_.Error(node["indicator"], indicator_path,
                    fmt::format("'{}' is not dated; an outcome needs an indicator with date: or "
                                "spell: to place its records in the years relative to the start",
                                indicator->name));
  }
  out->indicator = indicator->name;

  const std::string volume_path = Join(path, "volume");
  ASSIGN_OR_RETURN(std::string volume, r_.Scalar(node["volume"], volume_path));
  static const std::map<std::string, OutcomeSpec::Volume> kVolumes = {
      {"records", OutcomeSpec::Volume::kRecords},
      {"days", OutcomeSpec::Volume::kDays},
      {"amount", OutcomeSpec::Volume::kAmount}};
  auto volume_it = kVolumes.find(volume);
  if (volume_it == kVolumes.end()) {
    return r_.Error(node["volume"], volume_path,
                    fmt::format("'{}' is not one of records, days, amount", volume));
  }
  out->volume = volume_it->second;
  if (out->volume == OutcomeSpec::Volume::kDays && period != PeriodKind::kSpell) {
    return r_.Error(
        node["volume"], volume_path,
        fmt::format("days needs an indicator with a spell; '{}' has a date", out->indicator));
  }
  if (node["payer"]) {
    ASSIGN_OR_RETURN(out->payer, r_.Name(node["payer"], Join(path, "payer")));
  }
  if (out->volume == OutcomeSpec::Volume::kAmount) {
    if (!node["amount"]) {
      return r_.Error(node, path, "volume amount needs 'amount: <attribute>' (the euro summed)");
    }
    if (node["price"]) {
      return r_.Error(node["price"], Join(path, "price"),
                      "volume amount values each record at its own amount; remove price");
    }
    if (!node["payer"]) {
      return r_.Error(node, path,
                      "volume amount has no prices-file item to take the payer from; give "
                      "payer");
    }
    ASSIGN_OR_RETURN(out->amount_attribute, r_.Name(node["amount"], Join(path, "amount")));
    return absl::OkStatus();
  }
  if (node["amount"]) {
    return r_.Error(node["amount"], Join(path, "amount"),
                    "amount goes with volume: amount only; remove it or change the volume");
  }
  if (!node["price"]) {
    return r_.Error(node, path,
                    "give price (an item of the prices file), or pm: \"<why>\" for an outcome "
                    "that cannot be valued");
  }
  ASSIGN_OR_RETURN(out->price, r_.Name(node["price"], Join(path, "price")));
  return absl::OkStatus();
}

absl::Status SpecParser::ParseInterventionCost(const YAML::Node& node, std::string_view path,
                                               InterventionCostSpec* out) {
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"per_household", "amount", "payer"}, {"payer"}));
  for (const auto& entry : node) Note(entry.second, Join(path, entry.first.Scalar()));
  ASSIGN_OR_RETURN(out->payer, r_.Name(node["payer"], Join(path, "payer")));
  if (node["per_household"].IsDefined() == node["amount"].IsDefined()) {
    return r_.Error(node, path,
                    "give either per_household (euro per cohort household) or amount (an "
                    "attribute of the cohort indicator's records, summed), exactly one");
  }
  if (node["amount"]) {
    ASSIGN_OR_RETURN(out->amount_attribute, r_.Name(node["amount"], Join(path, "amount")));
    return absl::OkStatus();
  }
  const std::string euro_path = Join(path, "per_household");
  ASSIGN_OR_RETURN(double euro, r_.Number(node["per_household"], euro_path));
  if (euro < 0 || euro > kMaxEuroPerHousehold) {
    return r_.Error(node["per_household"], euro_path,
                    fmt::format("{} is out of range; use 0 to {:.0f} (euro per cohort household)",
                                node["per_household"].Scalar(), kMaxEuroPerHousehold));
  }
  out->per_household = euro;
  return absl::OkStatus();
}

absl::Status SpecParser::ParseCostBenefitRange(const YAML::Node& node, std::string_view path,
                                               const CostBenefitSpec& cost_benefit,
                                               CostBenefitRange* out) {
  RETURN_IF_ERROR(r_.ExpectMap(node, path, {"label", "varies", "price", "low", "high"},
                               {"label", "varies", "low", "high"}));
  ASSIGN_OR_RETURN(out->label, r_.Text(node["label"], Join(path, "label")));
  const std::string varies_path = Join(path, "varies");
  ASSIGN_OR_RETURN(std::string varies, r_.Scalar(node["varies"], varies_path));
  static const std::map<std::string, CostBenefitRange::Varies> kVaries = {
      {"prices", CostBenefitRange::Varies::kAllPrices},
      {"price", CostBenefitRange::Varies::kPrice},
      {"rate", CostBenefitRange::Varies::kRate},
      {"effect", CostBenefitRange::Varies::kEffect},
      {"costs", CostBenefitRange::Varies::kCosts}};
  auto it = kVaries.find(varies);
  if (it == kVaries.end()) {
    return r_.Error(node["varies"], varies_path,
                    fmt::format("'{}' is not one of prices, price, rate, effect, costs", varies));
  }
  out->varies = it->second;
  const std::string price_path = Join(path, "price");
  if (out->varies != CostBenefitRange::Varies::kPrice && node["price"]) {
    return r_.Error(node["price"], price_path, "price goes with varies: price only; remove it");
  }
  if (out->varies == CostBenefitRange::Varies::kPrice) {
    if (!node["price"]) return r_.Error(node, path, "varies: price needs 'price: <item>'");
    ASSIGN_OR_RETURN(out->price, r_.Name(node["price"], price_path));
    Note(node["price"], price_path);
    std::vector<std::string> priced;
    for (const OutcomeSpec& outcome : cost_benefit.outcomes) {
      if (!outcome.price.empty()) priced.push_back(outcome.price);
    }
    if (std::find(priced.begin(), priced.end(), out->price) == priced.end()) {
      return r_.Error(node["price"], price_path,
                      fmt::format("'{}' prices no outcome (outcome prices: {})", out->price,
                                  absl::StrJoin(priced, ", ")));
    }
  }
  ASSIGN_OR_RETURN(out->low, r_.Number(node["low"], Join(path, "low")));
  ASSIGN_OR_RETURN(out->high, r_.Number(node["high"], Join(path, "high")));
  const bool rate = out->varies == CostBenefitRange::Varies::kRate;
  for (const char* key : {"low", "high"}) {
    const double value = std::string_view(key) == "low" ? out->low : out->high;
    if (value < 0 || (rate && value >= 1)) {
      return r_.Error(node[key], Join(path, key),
                      rate ? "a rate is at least 0 and below 1, e.g. 0.015"
                           : "a factor must be 0 or more, e.g. 0.8");
    }
  }
  if (out->low > out->high) {
    return r_.Error(node["low"], Join(path, "low"), "low is above high; swap them");
  }
  return absl::OkStatus();
}

void SpecParser::AppendCostBenefitGroups() {
  CostBenefitSpec& cost_benefit = *spec_.cost_benefit;
  const std::pair<std::string_view, size_t*> groups[] = {
      {kReservedNames[0], &cost_benefit.cohort_bit},
      {kReservedNames[1], &cost_benefit.comparison_bit},
      {kReservedNames[2], &cost_benefit.unmatched_bit}};
  for (const auto& [name, bit] : groups) {
    IndicatorSpec indicator;
    indicator.name = std::string(name);
    indicator.set_after_scan = true;
    *bit = spec_.indicators.size();
    spec_.indicators.push_back(std::move(indicator));
  }
  for (std::string_view name : {kReservedNames[0], kReservedNames[1]}) {
    Selection selection;
    selection.all.push_back(std::string(name));
    spec_.populations.emplace(std::string(name), std::move(selection));
  }
}

absl::Status SpecParser::ParseTables(const YAML::Node& node) {
  if (!node.IsSequence() || node.size() == 0) {
    return r_.Error(node, "tables", "expected a list of one or more tables");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = At("tables", i);
    TableSpec table;
    table.line = LineOf(node[i]);
    RETURN_IF_ERROR(ParseTable(node[i], path, &table));
    if (!names.insert(table.name).second) {
      return r_.Error(node[i]["name"], Join(path, "name"),
                      fmt::format("table '{}' is defined twice; rename one", table.name));
    }
    spec_.tables.push_back(std::move(table));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseTable(const YAML::Node& node, std::string_view path, TableSpec* out) {
  if (!node.IsMap()) return r_.Error(node, path, "expected a table: {name: ..., ...}");
  std::string kind = "counts";
  if (node["kind"]) {
    ASSIGN_OR_RETURN(kind, r_.Scalar(node["kind"], Join(path, "kind")));
  }
  const Keys common = {"name", "title", "kind", "population"};
  static const std::map<std::string, std::pair<TableKind, Keys>> kKinds = {
      {"counts", {TableKind::kCounts, {"rows", "total", "columns"}}},
      {"overlap", {TableKind::kOverlap, {"flags"}}},
      {"costs", {TableKind::kCosts, {"rows", "total", "columns"}}},
      {"sensitivity", {TableKind::kSensitivity, {"costs", "column"}}},
      {"cost_benefit", {TableKind::kCostBenefit, {"show"}}}};
  auto it = kKinds.find(kind);
  if (it == kKinds.end()) {
    return r_.Error(node["kind"], Join(path, "kind"),
                    fmt::format("'{}' is not one of counts, overlap, costs, sensitivity, "
                                "cost_benefit",
                                kind));
  }
  out->kind = it->second.first;
  Keys allowed = common;
  allowed.insert(allowed.end(), it->second.second.begin(), it->second.second.end());
  Keys required = {"name"};
  if (out->kind != TableKind::kSensitivity && out->kind != TableKind::kCostBenefit) {
    required.push_back("population");
  }
  RETURN_IF_ERROR(r_.ExpectMap(node, path, allowed, required));

  const std::string name_path = Join(path, "name");
  ASSIGN_OR_RETURN(out->name, r_.Name(node["name"], name_path));
  if (node["title"]) {
    ASSIGN_OR_RETURN(out->title, r_.Scalar(node["title"], Join(path, "title")));
  }
  if (node["population"]) {
    const std::string population_path = Join(path, "population");
    if (out->kind == TableKind::kCostBenefit) {
      return r_.Error(node["population"], population_path,
                      "a cost_benefit table shows the groups of the cost_benefit section; "
                      "remove population");
    }
    ASSIGN_OR_RETURN(out->population, r_.Name(node["population"], population_path));
    if (IsReserved(out->population)) {
      return r_.Error(node["population"], population_path,
                      fmt::format("'{}' is a group of cost_benefit, shown by kind: cost_benefit "
                                  "tables only",
                                  out->population));
    }
    if (!spec_.populations.contains(out->population)) {
      return r_.Error(
          node["population"], population_path,
          fmt::format("'{}' is not a population; define it under populations", out->population));
    }
  }
  switch (out->kind) {
    case TableKind::kCounts:
      return ParseCountsTable(node, path, out);
    case TableKind::kOverlap:
      return ParseOverlapTable(node, path, out);
    case TableKind::kCosts:
      return ParseCostsTable(node, path, out);
    case TableKind::kSensitivity:
      return ParseSensitivityTable(node, path, out);
    case TableKind::kCostBenefit:
      return ParseCostBenefitTable(node, path, out);
  }
  return absl::OkStatus();
}

absl::StatusOr<Dimension> SpecParser::ParseDimension(const YAML::Node& node,
                                                     std::string_view path) {
  ASSIGN_OR_RETURN(std::string rows, r_.Scalar(node, path));
  if (rows == "area") {
    if (spec_.area_attribute.empty()) {
      return r_.Error(node, path, "rows by area need the area attribute: add register.area");
    }
    return Dimension::kArea;
  }
  if (rows == "household_type") {
    if (spec_.household_types.empty()) {
      return r_.Error(node, path, "rows by household type need household_types");
    }
    return Dimension::kHouseholdType;
  }
  return r_.Error(node, path,
                  fmt::format("'{}' is not a dimension; use area, household_type, or a list of "
                              "row selections",
                              rows));
}

absl::Status SpecParser::ParseTotal(const YAML::Node& node, std::string_view path, TableSpec* out) {
  if (!node["total"]) return absl::OkStatus();
  const std::string total_path = Join(path, "total");
  if (out->kind == TableKind::kCounts && out->rows == Dimension::kNone) {
    return r_.Error(node["total"], total_path,
                    "a total row needs rows: area or household_type; add the total as a row "
                    "selection instead");
  }
  ASSIGN_OR_RETURN(out->total_label, r_.Text(node["total"], total_path));
  return absl::OkStatus();
}

absl::Status SpecParser::CheckUniqueLabels(const YAML::Node& list, std::string_view path,
                                           const std::vector<std::string>& labels) {
  std::set<std::string> seen;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!seen.insert(labels[i]).second) {
      return r_.Error(list[i], At(path, i),
                      fmt::format("label '{}' is used twice in this table", labels[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseCountsTable(const YAML::Node& node, std::string_view path,
                                          TableSpec* out) {
  if (!node["columns"]) return r_.Error(node, path, "missing required key 'columns'");
  const YAML::Node rows = node["rows"];
  const std::string rows_path = Join(path, "rows");
  std::vector<std::string> labels;
  if (rows && rows.IsSequence()) {
    if (rows.size() == 0) return r_.Error(rows, rows_path, "list at least one row");
    for (size_t i = 0; i < rows.size(); ++i) {
      ASSIGN_OR_RETURN(RowSpec row, ParseRow(rows[i], At(rows_path, i), {}));
      labels.push_back(row.label);
      out->row_selections.push_back(std::move(row));
    }
    RETURN_IF_ERROR(CheckUniqueLabels(rows, rows_path, labels));
  } else if (rows) {
    ASSIGN_OR_RETURN(out->rows, ParseDimension(rows, rows_path));
  }
  RETURN_IF_ERROR(ParseTotal(node, path, out));

  const YAML::Node columns = node["columns"];
  const std::string columns_path = Join(path, "columns");
  if (!columns.IsSequence() || columns.size() == 0) {
    return r_.Error(columns, columns_path, "expected a list of one or more columns");
  }
  labels.clear();
  for (size_t i = 0; i < columns.size(); ++i) {
    CountColumn column;
    RETURN_IF_ERROR(ParseCountColumn(columns[i], At(columns_path, i), &column));
    labels.push_back(column.label);
    out->columns.push_back(std::move(column));
  }
  return CheckUniqueLabels(columns, columns_path, labels);
}

absl::Status SpecParser::ParseCountColumn(const YAML::Node& node, std::string_view path,
                                          CountColumn* out) {
  ASSIGN_OR_RETURN(RowSpec row, ParseRow(node, path, {"percent", "reference"}));
  out->label = std::move(row.label);
  out->where = std::move(row.where);
  if (node["percent"]) {
    ASSIGN_OR_RETURN(out->percent, r_.Bool(node["percent"], Join(path, "percent")));
  }
  if (node["reference"]) {
    const std::string reference_path = Join(path, "reference");
    const int64_t last = static_cast<int64_t>(spec_.reference_dates.size()) - 1;
    int64_t reference = 0;
    if (!node["reference"].IsScalar() ||
        !absl::SimpleAtoi(node["reference"].Scalar(), &reference)) {
      return r_.Error(node["reference"], reference_path,
                      "expected the position of a date in reference_dates (0 = the first)");
    }
    if (reference < 0 || reference > last) {
      return r_.Error(node["reference"], reference_path,
                      fmt::format("{} is out of range; reference_dates has {} date{}, so use "
                                  "0 to {}",
                                  reference, last + 1, last == 0 ? "" : "s", last));
    }
    out->reference = static_cast<int>(reference);
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseOverlapTable(const YAML::Node& node, std::string_view path,
                                           TableSpec* out) {
  const std::string flags_path = Join(path, "flags");
  if (!node["flags"]) return r_.Error(node, path, "missing required key 'flags'");
  RETURN_IF_ERROR(ParseOperands(node["flags"], flags_path, std::nullopt, &out->flags));
  if (out->flags.size() < 2) {
    return r_.Error(node["flags"], flags_path, "an overlap table needs at least two flags");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < out->flags.size(); ++i) {
    if (!seen.insert(out->flags[i]).second) {
      return r_.Error(node["flags"][i], At(flags_path, i),
                      fmt::format("'{}' is listed twice", out->flags[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseCostsTable(const YAML::Node& node, std::string_view path,
                                         TableSpec* out) {
  if (cost_item_names_.empty()) {
    return r_.Error(node, path, "a costs table needs cost items: add costs.items");
  }
  if (!node["columns"]) return r_.Error(node, path, "missing required key 'columns'");
  if (node["rows"]) {
    const std::string rows_path = Join(path, "rows");
    ASSIGN_OR_RETURN(std::string rows, r_.Scalar(node["rows"], rows_path));
    if (rows != "item" && rows != "payer") {
      return r_.Error(node["rows"], rows_path,
                      fmt::format("'{}' is not item or payer (rows of a costs table)", rows));
    }
    out->by_payer = rows == "payer";
  }
  RETURN_IF_ERROR(ParseTotal(node, path, out));
  const YAML::Node columns = node["columns"];
  const std::string columns_path = Join(path, "columns");
  if (!columns.IsSequence() || columns.size() == 0) {
    return r_.Error(columns, columns_path, "expected a list of one or more columns");
  }
  std::vector<std::string> labels;
  for (size_t i = 0; i < columns.size(); ++i) {
    ASSIGN_OR_RETURN(RowSpec column, ParseRow(columns[i], At(columns_path, i), {}));
    labels.push_back(column.label);
    out->cost_columns.push_back(std::move(column));
  }
  return CheckUniqueLabels(columns, columns_path, labels);
}

absl::Status SpecParser::ParseSensitivityTable(const YAML::Node& node, std::string_view path,
                                               TableSpec* out) {
  if (spec_.sensitivity.empty()) {
    return r_.Error(node, path, "a sensitivity table needs ranges: add costs.sensitivity");
  }
  for (const char* key : {"costs", "column"}) {
    if (!node[key]) return r_.Error(node, path, fmt::format("missing required key '{}'", key));
  }
  const std::string costs_path = Join(path, "costs");
  ASSIGN_OR_RETURN(out->costs_table, r_.Name(node["costs"], costs_path));
  auto costs = std::find_if(spec_.tables.begin(), spec_.tables.end(), [&](const TableSpec& t) {
    return t.name == out->costs_table && t.kind == TableKind::kCosts;
  });
  if (costs == spec_.tables.end()) {
    return r_.Error(node["costs"], costs_path,
                    fmt::format("'{}' is not a costs table above this one", out->costs_table));
  }
  if (out->population.empty()) {
    out->population = costs->population;
  } else if (out->population != costs->population) {
    return r_.Error(node["population"], Join(path, "population"),
                    fmt::format("must be the population of costs table '{}' ({}), or left out",
                                costs->name, costs->population));
  }
  const std::string column_path = Join(path, "column");
  ASSIGN_OR_RETURN(out->mean_of, r_.Text(node["column"], column_path));
  std::vector<std::string> labels;
  for (const RowSpec& column : costs->cost_columns) labels.push_back(column.label);
  if (std::find(labels.begin(), labels.end(), out->mean_of) == labels.end()) {
    return r_.Error(node["column"], column_path,
                    fmt::format("'{}' is not a column of costs table '{}' (columns: {})",
                                out->mean_of, costs->name, absl::StrJoin(labels, ", ")));
  }
  return absl::OkStatus();
}

absl::Status SpecParser::ParseCostBenefitTable(const YAML::Node& node, std::string_view path,
                                               TableSpec* out) {
  if (!spec_.cost_benefit) {
    return r_.Error(node["kind"], Join(path, "kind"),
                    "a cost_benefit table needs the cost_benefit section");
  }
  out->population = std::string(kReservedNames[0]);
  if (!node["show"]) return absl::OkStatus();
  const std::string show_path = Join(path, "show");
  ASSIGN_OR_RETURN(std::string show, r_.Scalar(node["show"], show_path));
  static const std::map<std::string, CostBenefitView> kViews = {
      {"outcomes", CostBenefitView::kOutcomes},
      {"payers", CostBenefitView::kPayers},
      {"sensitivity", CostBenefitView::kSensitivity}};
  auto it = kViews.find(show);
  if (it == kViews.end()) {
    return r_.Error(node["show"], show_path,
                    fmt::format("'{}' is not one of outcomes, payers, sensitivity", show));
  }
  out->view = it->second;
  if (out->view == CostBenefitView::kSensitivity && spec_.cost_benefit->sensitivity.empty()) {
    return r_.Error(node["show"], show_path,
                    "show: sensitivity needs ranges: add cost_benefit.sensitivity");
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<int> CostBenefitSpec::Years() const {
  std::vector<int> years = {-1};
  for (int k = 1; k <= horizon; ++k) years.push_back(k);
  return years;
}

void AppendCostBenefitItems(AnalysisSpec* spec) {
  if (!spec->cost_benefit) return;
  std::erase_if(spec->cost_items, [](const CostItemSpec& item) { return item.cost_benefit(); });
  CostBenefitSpec& cost_benefit = *spec->cost_benefit;
  cost_benefit.first_item = spec->cost_items.size();
  const std::vector<int> years = cost_benefit.Years();
  for (size_t o = 0; o < cost_benefit.outcomes.size(); ++o) {
    const OutcomeSpec& outcome = cost_benefit.outcomes[o];
    if (outcome.pm) continue;
    for (int year : years) {
      CostItemSpec item;
      item.name = fmt::format("{}@{}", outcome.name, year);
      item.line = outcome.line;
      item.payer = outcome.payer;
      item.indicator = outcome.indicator;
      switch (outcome.volume) {
        case OutcomeSpec::Volume::kRecords:
          item.volume = CostItemSpec::Volume::kRecords;
          break;
        case OutcomeSpec::Volume::kDays:
          item.volume = CostItemSpec::Volume::kDaysInYear;
          break;
        case OutcomeSpec::Volume::kAmount:
          item.volume = CostItemSpec::Volume::kAmount;
          item.amount_attribute = outcome.amount_attribute;
          break;
      }
      if (!outcome.price.empty()) item.prices = {outcome.price};
      item.in_total = false;
      item.relative_year = year;
      item.outcome = static_cast<int>(o);
      spec->cost_items.push_back(std::move(item));
    }
  }
  for (size_t c = 0; c < cost_benefit.costs.size(); ++c) {
    const InterventionCostSpec& cost = cost_benefit.costs[c];
    CostItemSpec item;
    item.name = fmt::format("{}@1", cost.name);
    item.line = cost.line;
    item.payer = cost.payer;
    item.indicator = cost_benefit.cohort_indicator;
    if (cost.per_household) {
      item.volume = CostItemSpec::Volume::kRecords;
    } else {
      item.volume = CostItemSpec::Volume::kAmount;
      item.amount_attribute = cost.amount_attribute;
    }
    item.in_total = false;
    item.relative_year = 1;
    item.intervention = static_cast<int>(c);
    spec->cost_items.push_back(std::move(item));
  }
}

std::string AnalysisSpec::Where(const std::string& path) const {
  auto it = positions.find(path);
  if (it == positions.end()) return fmt::format("{}: {}", source, path);
  return fmt::format("{}:{}:{}: {}", source, it->second.line, it->second.column, path);
}

absl::StatusOr<AnalysisSpec> ParseAnalysisSpec(std::string_view yaml,
                                               std::string_view source_name) {
  SpecParser parser(source_name);
  try {
    ASSIGN_OR_RETURN(const YAML::Node root, parser.Load(yaml));
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(fmt::format("{}: the analysis spec is empty", source_name));
    }
    return parser.Parse(root);
  } catch (const YAML::Exception& e) {
    return parser.NotValidYaml(e);
  }
}

}  // namespace koppel::analysis

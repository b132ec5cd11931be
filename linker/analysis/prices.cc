#include "linker/analysis/prices.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/attribute_value.h"
#include "core/csv_reader.h"
#include "core/mapping.h"
#include "core/status_macros.h"

namespace koppel::analysis {
namespace {

constexpr std::string_view kItemColumn = "cost_item";
constexpr std::string_view kUnitColumn = "unit";
constexpr std::string_view kPriceColumn = "price_eur_2014";
constexpr std::string_view kPayerColumn = "payer";  // optional

struct Line {
  uint64_t number = 0;  // from 1
  std::string_view text;
};

// The non-empty physical lines of `csv` without their line endings and after a UTF-8 BOM, as
// CsvReader reads a file.
std::vector<Line> NonEmptyLines(std::string_view csv) {
  if (csv.starts_with("\xEF\xBB\xBF")) csv.remove_prefix(3);
  std::vector<Line> lines;
  uint64_t number = 0;
  while (!csv.empty()) {
    const size_t end = csv.find('\n');
    std::string_view text = csv.substr(0, end);
    csv.remove_prefix(end == std::string_view::npos ? csv.size() : end + 1);
    ++number;
    if (text.ends_with('\r')) text.remove_suffix(1);
    if (!text.empty()) lines.push_back({number, text});
  }
  return lines;
}

bool IsItemName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Prices are written like 24700.90: a decimal point, at most two decimals, no grouping.
const AttributeParser& PriceParser() {
  static const AttributeSpec* const kSpec = [] {
    auto* spec = new AttributeSpec;
    spec->name = std::string(kPriceColumn);
    spec->type = AttributeType::kAmount;
    spec->decimal_mark = '.';
    return spec;
  }();
  static const AttributeParser* const kParser = new AttributeParser(*kSpec);
  return *kParser;
}

// Reads the rows of one prices file, checking each against the header.
class PriceFileReader {
 public:
  explicit PriceFileReader(std::string_view source) : source_(source) {}

  absl::StatusOr<PriceTable> Read(std::string_view csv) {
    if (!IsValidUtf8(csv)) return Error(0, "", "is not valid UTF-8; save it as UTF-8");
    const std::vector<Line> lines = NonEmptyLines(csv);
    if (lines.empty()) {
      return Error(0, "",
                   fmt::format("is empty; expected a header {},{},{},...", kItemColumn, kUnitColumn,
                               kPriceColumn));
    }
    RETURN_IF_ERROR(ReadHeader(lines[0]));
    PriceTable table;
    std::map<std::string, uint64_t, std::less<>> first_line;
    for (size_t i = 1; i < lines.size(); ++i) {
      ASSIGN_OR_RETURN(UnitPrice price, ReadRow(lines[i]));
      auto [it, inserted] = first_line.emplace(price.item, lines[i].number);
      if (!inserted) {
        return Error(lines[i].number, kItemColumn,
                     fmt::format("'{}' is listed twice (first on line {}); keep one", price.item,
                                 it->second));
      }
      std::string item = price.item;
      table.items.emplace(std::move(item), std::move(price));
    }
    if (table.items.empty()) return Error(0, "", "lists no prices, only a header");
    return table;
  }

 private:
  absl::Status Error(uint64_t line, std::string_view column, std::string_view problem) const {
    std::string where = line == 0 ? source_ : fmt::format("{}:{}", source_, line);
    if (!column.empty()) where = fmt::format("{}: column {}", where, column);
    return absl::InvalidArgumentError(fmt::format("{}: {}", where, problem));
  }

  absl::Status Split(const Line& line) {
    const RejectReason problem = CsvReader::SplitLine(line.text, options_, &scratch_, &fields_);
    if (problem != RejectReason::kNone) {
      return Error(line.number, "", fmt::format("{}", RejectReasonText(problem)));
    }
    return absl::OkStatus();
  }

  absl::Status ReadHeader(const Line& line) {
    RETURN_IF_ERROR(Split(line));
    header_size_ = fields_.size();
    for (std::string_view column : {kItemColumn, kUnitColumn, kPriceColumn}) {
      auto it = std::find_if(fields_.begin(), fields_.end(),
                             [&](std::string_view field) { return TrimBlanks(field) == column; });
      if (it == fields_.end()) {
        return Error(line.number, "",
                     fmt::format("the header has no column '{}'; it needs {},{},{} (more "
                                 "columns are ignored)",
                                 column, kItemColumn, kUnitColumn, kPriceColumn));
      }
      positions_.push_back(static_cast<size_t>(it - fields_.begin()));
    }
    auto payer = std::find_if(fields_.begin(), fields_.end(), [](std::string_view field) {
      return TrimBlanks(field) == kPayerColumn;
    });
    if (payer != fields_.end()) payer_position_ = static_cast<size_t>(payer - fields_.begin());
    return absl::OkStatus();
  }

  absl::StatusOr<UnitPrice> ReadRow(const Line& line) {
    RETURN_IF_ERROR(Split(line));
    if (fields_.size() != header_size_) {
      return Error(line.number, "",
                   fmt::format("has {} fields, the header {}; quote fields that contain a comma",
                               fields_.size(), header_size_));
    }
    UnitPrice price;
    price.item = std::string(TrimBlanks(fields_[positions_[0]]));
    if (!IsItemName(price.item)) {
      return Error(line.number, kItemColumn,
                   fmt::format("'{}' is not a valid item name; use lower-case letters, digits "
                               "and _",
                               price.item));
    }
    price.unit = std::string(TrimBlanks(fields_[positions_[1]]));
    if (payer_position_) {
      price.payer = std::string(TrimBlanks(fields_[*payer_position_]));
      if (!price.payer.empty() && !IsItemName(price.payer)) {
        return Error(line.number, kPayerColumn,
                     fmt::format("'{}' is not a valid payer; use lower-case letters, digits and "
                                 "_, e.g. jeugdwet (or leave it empty)",
                                 price.payer));
      }
    }
    const std::string_view text = TrimBlanks(fields_[positions_[2]]);
    if (text.empty()) return price;
    v1::Value value;
    if (PriceParser().Parse(text, &value) != RejectReason::kNone || value.amount_cents() < 0) {
      return Error(line.number, kPriceColumn,
                   fmt::format("'{}' is not a price; write euro with a decimal point and at "
                               "most two decimals, e.g. 24700.90 (empty for actual amounts)",
                               text));
    }
    price.price = static_cast<double>(value.amount_cents()) / 100.0;
    return price;
  }

  std::string source_;
  const CsvOptions options_{',', '"'};
  std::string scratch_;
  std::vector<std::string_view> fields_;
  size_t header_size_ = 0;
  std::vector<size_t> positions_;  // of item, unit and price
  std::optional<size_t> payer_position_;
};

absl::Status CheckPrice(const PriceTable& prices, const std::string& name, std::string_view where) {
  auto it = prices.items.find(name);
  if (it == prices.items.end()) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: '{}' is not in the prices file; add it there or fix the name", where, name));
  }
  if (!it->second.price) {
    return absl::InvalidArgumentError(
        fmt::format("{}: '{}' has no price in the prices file (an actual-amount item); use "
                    "volume: amount with its amount attribute instead",
                    where, name));
  }
  return absl::OkStatus();
}

// "<source>:<line>:<col>: <path>" where the parser saw `path`, "<source>: <path>" otherwise.
std::string WhereIn(const AnalysisSpec& spec, std::string_view source, const std::string& path) {
  auto it = spec.positions.find(path);
  if (it == spec.positions.end()) return fmt::format("{}: {}", source, path);
  return fmt::format("{}:{}:{}: {}", source, it->second.line, it->second.column, path);
}

std::string OutcomePath(const OutcomeSpec& outcome, std::string_view key = "") {
  const std::string path = fmt::format("cost_benefit.outcomes.{}", outcome.name);
  return key.empty() ? path : fmt::format("{}.{}", path, key);
}

// The prices-file row of a valued outcome, or an error when the file does not list its item.
absl::StatusOr<const UnitPrice*> OutcomePrice(const AnalysisSpec& spec, std::string_view source,
                                              const OutcomeSpec& outcome,
                                              const PriceTable& prices) {
  auto it = prices.items.find(outcome.price);
  if (it == prices.items.end()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: '{}' is not in the prices file; add it there (without a unit price it "
                    "is listed as PM) or fix the name",
                    WhereIn(spec, source, OutcomePath(outcome, "price")), outcome.price));
  }
  return &it->second;
}

absl::Status NoPayer(const AnalysisSpec& spec, std::string_view source,
                     const OutcomeSpec& outcome) {
  return absl::InvalidArgumentError(
      fmt::format("{}: outcome '{}' has no payer: give payer: in the spec, or fill the payer "
                  "column of the prices file for '{}'",
                  WhereIn(spec, source, OutcomePath(outcome)), outcome.name, outcome.price));
}

// A `varies: price` range over an item the prices file lists without a unit price would vary
// the price of PM outcomes only: a row equal to the base that looks like a measured one.
absl::Status CheckRangePrices(const AnalysisSpec& spec, std::string_view source,
                              const PriceTable& prices) {
  const std::vector<CostBenefitRange>& ranges = spec.cost_benefit->sensitivity;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const CostBenefitRange& range = ranges[i];
    if (range.varies != CostBenefitRange::Varies::kPrice) continue;
    auto it = prices.items.find(range.price);
    if (it == prices.items.end() || it->second.price) continue;  // outcomes report a missing one
    return absl::InvalidArgumentError(fmt::format(
        "{}: range '{}' varies the price of '{}', but the prices file lists no unit price for "
        "it, so its outcomes are PM and the range would value nothing; give '{}' a unit price "
        "or remove the range",
        WhereIn(spec, source, fmt::format("cost_benefit.sensitivity[{}].price", i)), range.label,
        range.price, range.price));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PriceTable> ParsePrices(std::string_view csv, std::string_view source_name) {
  return PriceFileReader(source_name).Read(csv);
}

absl::Status CheckSpecPrices(const AnalysisSpec& spec, const PriceTable& prices,
                             std::string_view spec_source) {
  for (const CostItemSpec& item : spec.cost_items) {
    if (item.cost_benefit()) continue;  // checked as outcomes below
    for (const std::string& name : item.prices) {
      RETURN_IF_ERROR(CheckPrice(
          prices, name,
          fmt::format("{}:{}: costs.items.{}.prices", spec_source, item.line, item.name)));
    }
  }
  for (size_t i = 0; i < spec.sensitivity.size(); ++i) {
    const SensitivitySpec& range = spec.sensitivity[i];
    if (range.price.empty()) continue;
    RETURN_IF_ERROR(
        CheckPrice(prices, range.price,
                   fmt::format("{}:{}: costs.sensitivity[{}].price", spec_source, range.line, i)));
  }
  if (!spec.cost_benefit) return absl::OkStatus();
  for (const OutcomeSpec& outcome : spec.cost_benefit->outcomes) {
    if (outcome.pm || outcome.price.empty()) continue;
    ASSIGN_OR_RETURN(const UnitPrice* price, OutcomePrice(spec, spec_source, outcome, prices));
    if (price->price && outcome.payer.empty() && price->payer.empty()) {
      return NoPayer(spec, spec_source, outcome);
    }
  }
  return CheckRangePrices(spec, spec_source, prices);
}

absl::Status ResolveCostBenefitPrices(AnalysisSpec* spec, const PriceTable& prices) {
  if (!spec->cost_benefit) return absl::OkStatus();
  for (OutcomeSpec& outcome : spec->cost_benefit->outcomes) {
    if (outcome.pm || outcome.price.empty()) continue;
    ASSIGN_OR_RETURN(const UnitPrice* price, OutcomePrice(*spec, spec->source, outcome, prices));
    if (!price->price) {
      outcome.pm = true;
      outcome.note = fmt::format("the prices file lists no unit price for '{}'", outcome.price);
      continue;
    }
    if (outcome.payer.empty()) {
      if (price->payer.empty()) return NoPayer(*spec, spec->source, outcome);
      outcome.payer = price->payer;
    }
  }
  RETURN_IF_ERROR(CheckRangePrices(*spec, spec->source, prices));
  AppendCostBenefitItems(spec);
  return absl::OkStatus();
}

}  // namespace koppel::analysis

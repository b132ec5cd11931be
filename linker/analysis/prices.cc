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

}  // namespace

absl::StatusOr<PriceTable> ParsePrices(std::string_view csv, std::string_view source_name) {
  return PriceFileReader(source_name).Read(csv);
}

absl::Status CheckSpecPrices(const AnalysisSpec& spec, const PriceTable& prices,
                             std::string_view spec_source) {
  for (const CostItemSpec& item : spec.cost_items) {
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
  return absl::OkStatus();
}

}  // namespace koppel::analysis

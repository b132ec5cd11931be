#include "linker/analysis/cell_key.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>

#include "absl/strings/escaping.h"
#include "core/attribute_value.h"
#include "core/csv_reader.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace koppel::analysis {

// In ptable_default.cc, which CMake generates from linker/analysis/ptable_default.csv.
extern const unsigned char kDefaultPtableCsv[];
extern const size_t kDefaultPtableCsvSize;

namespace {

constexpr uint64_t kKeySpace = uint64_t{1} << 32;
constexpr std::string_view kRecordKeysInfo = "koppel/v1/record-keys";

enum Column : size_t { kI, kJ, kP, kV, kLb, kUb, kType, kColumnCount };
constexpr std::array<std::string_view, kColumnCount> kColumnNames = {
    "i", "j", "p", "v", "p_int_lb", "p_int_ub", "type"};
constexpr size_t kAbsent = std::numeric_limits<size_t>::max();

// Text from the file, quoted and escaped for an error message.
std::string Quoted(std::string_view text) {
  constexpr size_t kShown = 40;
  std::string_view shown = text.substr(0, kShown);
  return fmt::format("\"{}{}\"", absl::CHexEscape(absl::string_view(shown.data(), shown.size())),
                     text.size() > kShown ? "..." : "");
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

// An optionally signed decimal integer of at most 18 digits, blanks around it allowed.
std::optional<int64_t> ParseInteger(std::string_view text) {
  std::string_view s = TrimBlanks(text);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (!AllDigits(s) || s.size() > 18) return std::nullopt;
  int64_t value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return negative ? -value : value;
}

// A number in [0, 1] written as R, SAS and spreadsheets write decimals: digits with an optional
// fraction and exponent (0.5, .5, 5e-01); blanks around it allowed, no inf, nan or hex.
std::optional<double> ParseProbability(std::string_view text) {
  std::string_view s = TrimBlanks(text);
  if (s.size() > 64) return std::nullopt;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  size_t pos = (!s.empty() && s.front() == '-') ? 1 : 0;
  auto digits = [&] {
    size_t start = pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    return pos - start;
  };
  size_t mantissa_digits = digits();
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    mantissa_digits += digits();
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
    ++pos;
    if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) ++pos;
    if (digits() == 0) return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  double value = 0;
  auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (!(value >= 0.0 && value <= 1.0)) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<PerturbationTable> PerturbationTable::Parse(std::string_view csv,
                                                           std::string_view source) {
  auto fail = [source](uint64_t line, size_t column, std::string_view problem) {
    return absl::InvalidArgumentError(fmt::format("{}:{}:{}: {}", source, line, column, problem));
  };

  PerturbationTable table;
  table.sha256_ = Sha256Hex(csv);

  std::string_view rest = csv;
  if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);
  CsvOptions options;
  std::string scratch;
  std::vector<std::string_view> fields;
  std::array<size_t, kColumnCount> column;  // field index of each column, kAbsent if missing
  column.fill(kAbsent);
  size_t header_fields = 0;
  uint64_t header_line = 0;
  uint64_t line_number = 0;

  // The row group being read.
  int64_t group_i = -1;
  double group_p_sum = 0;
  double previous_ub = 0;
  int64_t previous_j = 0;
  uint64_t previous_line = 0;
  auto close_group = [&]() -> absl::Status {
    if (std::abs(group_p_sum - 1.0) > kTolerance) {
      return fail(previous_line, column[kP] + 1,
                  fmt::format("the p of i={} sum to {:g}, not 1", group_i, group_p_sum));
    }
    if (std::abs(previous_ub - 1.0) > kTolerance) {
      return fail(previous_line, column[kUb] + 1,
                  fmt::format("p_int_ub of the last row of i={} is {:g}; it must be 1", group_i,
                              previous_ub));
    }
    return absl::OkStatus();
  };

  while (!rest.empty()) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLineBytes) {
      return fail(line_number, 1, fmt::format("line longer than {} bytes", kMaxLineBytes));
    }
    if (TrimBlanks(line).empty()) continue;

    if (header_line == 0) {
      header_line = line_number;
      options.delimiter = line.find(';') != std::string_view::npos ? ';' : ',';
      if (RejectReason problem = CsvReader::SplitLine(line, options, &scratch, &fields);
          problem != RejectReason::kNone) {
        return fail(line_number, 1, RejectReasonText(problem));
      }
      header_fields = fields.size();
      for (size_t k = 0; k < fields.size(); ++k) {
        std::string_view name = TrimBlanks(fields[k]);
        auto known = std::find(kColumnNames.begin(), kColumnNames.end(), name);
        if (known == kColumnNames.end()) {
          return fail(line_number, k + 1,
                      fmt::format("unknown column {} (expected i, j, p, v, p_int_lb, p_int_ub and "
                                  "optionally type)",
                                  Quoted(name)));
        }
        size_t c = static_cast<size_t>(known - kColumnNames.begin());
        if (column[c] != kAbsent) {
          return fail(line_number, k + 1, fmt::format("column {} appears twice", name));
        }
        column[c] = k;
      }
      for (size_t c = 0; c < kType; ++c) {
        if (column[c] == kAbsent) {
          return fail(line_number, header_fields + 1,
                      fmt::format("missing column {}", kColumnNames[c]));
        }
      }
      continue;
    }

    if (table.rows_.size() == kMaxRows) {
      return fail(line_number, 1, fmt::format("more than {} rows", kMaxRows));
    }
    if (RejectReason problem = CsvReader::SplitLine(line, options, &scratch, &fields);
        problem != RejectReason::kNone) {
      return fail(line_number, 1, RejectReasonText(problem));
    }
    if (fields.size() != header_fields) {
      return fail(
          line_number, std::min(fields.size(), header_fields) + 1,
          fmt::format("the row has {} fields, the header {}", fields.size(), header_fields));
    }

    auto integer = [&](Column c, int64_t* out) -> absl::Status {
      std::string_view text = fields[column[c]];
      std::optional<int64_t> value = ParseInteger(text);
      if (!value) {
        return fail(line_number, column[c] + 1,
                    fmt::format("{} is not an integer: {}", kColumnNames[c], Quoted(text)));
      }
      *out = *value;
      return absl::OkStatus();
    };
    auto probability = [&](Column c, double* out) -> absl::Status {
      std::string_view text = fields[column[c]];
      std::optional<double> value = ParseProbability(text);
      if (!value) {
        return fail(line_number, column[c] + 1,
                    fmt::format("{} is not a number in [0, 1]: {}", kColumnNames[c], Quoted(text)));
      }
      *out = *value;
      return absl::OkStatus();
    };
    Row row;
    RETURN_IF_ERROR(integer(kI, &row.i));
    RETURN_IF_ERROR(integer(kJ, &row.j));
    RETURN_IF_ERROR(probability(kP, &row.p));
    RETURN_IF_ERROR(integer(kV, &row.v));
    RETURN_IF_ERROR(probability(kLb, &row.p_int_lb));
    RETURN_IF_ERROR(probability(kUb, &row.p_int_ub));
    const size_t col_i = column[kI] + 1, col_j = column[kJ] + 1, col_p = column[kP] + 1,
                 col_v = column[kV] + 1, col_lb = column[kLb] + 1;

    bool new_group = false;
    if (table.rows_.empty()) {
      if (row.i != 0) {
        return fail(line_number, col_i,
                    fmt::format("the first row has i={}; the table must start with i=0", row.i));
      }
      new_group = true;
    } else if (row.i < group_i) {
      return fail(
          line_number, col_i,
          fmt::format("i={} after i={}: the rows of each i must be together, in increasing i",
                      row.i, group_i));
    } else if (row.i > group_i + 1) {
      return fail(line_number, col_i,
                  fmt::format("i={} after i={}: the i values must be consecutive", row.i, group_i));
    } else if (row.i == group_i + 1) {
      RETURN_IF_ERROR(close_group());
      new_group = true;
    }

    if (row.j < 0) {
      return fail(line_number, col_j, fmt::format("j is negative ({})", row.j));
    }
    if (row.v != row.j - row.i) {
      return fail(line_number, col_v, fmt::format("v is {} but j - i is {}", row.v, row.j - row.i));
    }
    if (std::abs(row.v) > kMaxAbsNoise) {
      return fail(line_number, col_v,
                  fmt::format("|v| is {}; at most {} is accepted", std::abs(row.v), kMaxAbsNoise));
    }
    if (std::abs((row.p_int_ub - row.p_int_lb) - row.p) > kTolerance) {
      return fail(line_number, col_p,
                  fmt::format("p_int_ub - p_int_lb is {:g} but p is {:g}",
                              row.p_int_ub - row.p_int_lb, row.p));
    }
    if (row.i == 0) {
      if (!new_group) {
        return fail(line_number, col_i, "i=0 must have exactly one row, with j=0 and p=1");
      }
      if (row.j != 0) {
        return fail(line_number, col_j, "i=0 must have exactly one row, with j=0 and p=1");
      }
      if (std::abs(row.p - 1.0) > kTolerance) {
        return fail(line_number, col_p, "i=0 must have exactly one row, with j=0 and p=1");
      }
    }
    if (new_group) {
      if (std::abs(row.p_int_lb) > kTolerance) {
        return fail(line_number, col_lb,
                    fmt::format("p_int_lb of the first row of i={} is {:g}; it must be 0", row.i,
                                row.p_int_lb));
      }
      group_i = row.i;
      group_p_sum = 0;
      table.group_begin_.push_back(table.rows_.size());
    } else {
      if (row.j <= previous_j) {
        return fail(line_number, col_j,
                    fmt::format("j={} after j={} in i={}: the rows of an i must be sorted by "
                                "increasing j",
                                row.j, previous_j, row.i));
      }
      if (std::abs(row.p_int_lb - previous_ub) > kTolerance) {
        return fail(line_number, col_lb,
                    fmt::format("p_int_lb is {:g} but the p_int_ub before it is {:g}; the "
                                "intervals of i={} must be contiguous",
                                row.p_int_lb, previous_ub, row.i));
      }
    }
    group_p_sum += row.p;
    previous_ub = row.p_int_ub;
    previous_j = row.j;
    previous_line = line_number;
    table.rows_.push_back(row);
  }

  if (header_line == 0) {
    return fail(std::max<uint64_t>(line_number, 1), 1,
                "the table is empty; expected a header with the columns i, j, p, v, p_int_lb, "
                "p_int_ub");
  }
  if (table.rows_.empty()) return fail(header_line, 1, "the table has a header but no rows");
  RETURN_IF_ERROR(close_group());
  if (group_i < 1) {
    return fail(previous_line, column[kI] + 1, "the table has only i=0; it needs at least i=1");
  }
  table.group_begin_.push_back(table.rows_.size());

  // Cut points in units of 2^-32, and what the choosable rows allow to be published.
  const size_t groups = table.group_begin_.size() - 1;
  int64_t smallest_positive = std::numeric_limits<int64_t>::max();
  table.entries_.reserve(table.rows_.size());
  for (size_t g = 0; g < groups; ++g) {
    const size_t begin = table.group_begin_[g], end = table.group_begin_[g + 1];
    uint64_t lower = 0;
    for (size_t r = begin; r < end; ++r) {
      const double cut = std::ceil(table.rows_[r].p_int_ub * static_cast<double>(kKeySpace));
      const uint64_t upper = std::clamp(static_cast<uint64_t>(cut), lower, kKeySpace);
      table.entries_.push_back({upper, table.rows_[r].v});
      lower = upper;
    }
    // The last cut is 1: it moves for the last row and any empty rows tied with it.
    for (size_t r = end; r-- > begin && table.entries_[r].upper == lower;) {
      table.entries_[r].upper = kKeySpace;
    }
    lower = 0;
    for (size_t r = begin; r < end; ++r) {
      const Row& row = table.rows_[r];
      if (table.entries_[r].upper > lower) {
        table.max_noise_ = std::max(table.max_noise_, std::abs(row.v));
        // Counts above imax take imax's noise too, so its rows can publish every value from
        // max(j, 1) up.
        if (row.j > 0 || g + 1 == groups) {
          smallest_positive = std::min(smallest_positive, std::max<int64_t>(row.j, 1));
        }
      }
      lower = table.entries_[r].upper;
    }
  }
  table.blocked_up_to_ = smallest_positive - 1;
  return table;
}

const PerturbationTable& PerturbationTable::Default() {
  static const PerturbationTable* const table = [] {
    absl::StatusOr<PerturbationTable> parsed = Parse(
        std::string_view(reinterpret_cast<const char*>(kDefaultPtableCsv), kDefaultPtableCsvSize),
        "linker/analysis/ptable_default.csv");
    if (!parsed.ok()) {
      // Unreachable unless the build embedded a broken file: cell_key_test parses it.
      std::fprintf(stderr, "koppel: the compiled-in perturbation table is invalid: %s\n",
                   parsed.status().ToString().c_str());
      std::abort();
    }
    return new PerturbationTable(*std::move(parsed));
  }();
  return *table;
}

int64_t PerturbationTable::Perturb(int64_t count, uint32_t cell_key) const {
  if (count <= 0) return count;
  const size_t g = static_cast<size_t>(std::min(count, max_i()));
  const auto begin = entries_.begin() + static_cast<ptrdiff_t>(group_begin_[g]);
  const auto end = entries_.begin() + static_cast<ptrdiff_t>(group_begin_[g + 1]);
  // The last entry's upper is 2^32, so a key always finds its row.
  const auto row = std::upper_bound(begin, end, uint64_t{cell_key},
                                    [](uint64_t key, const Entry& e) { return key < e.upper; });
  if (row->noise > 0 && count > std::numeric_limits<int64_t>::max() - row->noise) {
    return std::numeric_limits<int64_t>::max();
  }
  return count + row->noise;
}

absl::StatusOr<RecordKeys> RecordKeys::Create(const Secret& data_key) {
  ASSIGN_OR_RETURN(Secret derived, HkdfSha256(data_key.span(), {}, kRecordKeysInfo, 32));
  ASSIGN_OR_RETURN(HmacSha256Key mac, HmacSha256Key::Create(derived.span()));
  return RecordKeys(std::move(mac));
}

uint32_t RecordKeys::Of(std::string_view household_token) const {
  const Digest256 mac = mac_.Mac(household_token);
  return uint32_t{mac[0]} | uint32_t{mac[1]} << 8 | uint32_t{mac[2]} << 16 | uint32_t{mac[3]} << 24;
}

}  // namespace koppel::analysis

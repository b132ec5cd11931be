#include "agents/mapping_draft.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "core/address.h"
#include "core/attribute_value.h"
#include "core/bsn.h"
#include "core/category_code.h"
#include "core/civil_date.h"
#include "core/csv_reader.h"
#include "core/date_format.h"
#include "core/log_safe.h"
#include "core/mapping.h"
#include "core/progress.h"

namespace koppel::agent {
namespace {

// The share of a column's values a reading must fit before the draft relies on it.
constexpr double kConfident = 0.9;
// A column more of whose values than this share hold a postcode or a long number identifies.
constexpr double kFewIdentifiers = 0.02;
// A category has at most this many codes, and, once it has more than a handful, fewer than
// this share of its values (a small export's three codes in twelve rows are still codes).
constexpr size_t kMaxCodes = 50;
constexpr double kMaxCodeShare = 0.2;
constexpr size_t kFewCodes = 10;

// Date (and date-time) formats tried on every column, in order of preference: on a tie the
// earlier, stricter one wins. Formats this build's DateFormat does not know are skipped.
constexpr std::array<std::string_view, 17> kDateFormats = {
    "dd-mm-yyyy",       "d-m-yyyy",       "dd/mm/yyyy",       "d/m/yyyy",
    "dd.mm.yyyy",       "d.m.yyyy",       "yyyy-mm-dd",       "yyyy/mm/dd",
    "yyyymmdd",         "ddmmyyyy",       "yyyy-mm-ddTHH:MM", "yyyy-mm-dd HH:MM",
    "dd-mm-yyyy HH:MM", "d-m-yyyy HH:MM", "dd/mm/yyyy HH:MM", "d/m/yyyy HH:MM",
    "iso8601"};

struct AmountReading {
  char decimal;
  char thousands;  // '\0': none
};
// In order of preference on a tie: no thousands separator first.
constexpr std::array<AmountReading, 5> kAmountReadings = {
    {{',', '\0'}, {'.', '\0'}, {',', '.'}, {'.', ','}, {',', ' '}}};

const std::vector<DateFormat>& DateFormats() {
  static const std::vector<DateFormat>* formats = [] {
    auto* v = new std::vector<DateFormat>;
    for (std::string_view pattern : kDateFormats) {
      absl::StatusOr<DateFormat> f = DateFormat::Parse(pattern);
      if (f.ok()) v->push_back(*f);
    }
    return v;
  }();
  return *formats;
}

// Parsers sharing the attribute rules of the agent itself (core/attribute_value.h), so that a
// reading the draft relies on is exactly what `check` will accept.
struct Parsers {
  std::vector<AttributeSpec> amount_specs;
  std::vector<AttributeParser> amounts;
  AttributeSpec integer_spec;
  AttributeSpec year_spec;
  std::unique_ptr<AttributeParser> integer;
  std::unique_ptr<AttributeParser> year;

  Parsers() {
    amount_specs.resize(kAmountReadings.size());
    for (size_t i = 0; i < kAmountReadings.size(); ++i) {
      amount_specs[i].type = AttributeType::kAmount;
      amount_specs[i].decimal_mark = kAmountReadings[i].decimal;
      amount_specs[i].thousands_separator = kAmountReadings[i].thousands;
    }
    for (const AttributeSpec& spec : amount_specs) amounts.emplace_back(spec);
    integer_spec.type = AttributeType::kInteger;
    year_spec.type = AttributeType::kYear;
    integer = std::make_unique<AttributeParser>(integer_spec);
    year = std::make_unique<AttributeParser>(year_spec);
  }
};

const Parsers& SharedParsers() {
  static const Parsers* parsers = new Parsers;
  return *parsers;
}

bool IsPostcode(std::string_view value) {
  char canonical[6];
  return ParsePostcode(value, canonical) == RejectReason::kNone;
}
bool IsHouseField(std::string_view value) { return ParseAddress("1000AA", value).ok(); }

bool IsLetter(std::string_view value) {
  return value.size() == 1 && absl::ascii_isalpha(static_cast<unsigned char>(value[0]));
}

bool IsAddition(std::string_view value) {
  return ParseAddressFields("1000AA", "1", "", value).ok();
}

bool HeaderHas(std::string_view header, std::initializer_list<std::string_view> words) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(header.data(), header.size()));
  for (std::string_view w : words) {
    if (lower.find(w) != std::string::npos) return true;
  }
  return false;
}

// The header's words, lower-case: runs of letters and digits, also split where a lower-case
// letter meets an upper-case one ("ouderId": "ouder", "id"). Trailing digits are dropped
// ("pc4": "pc").
std::vector<std::string> HeaderTokens(std::string_view header) {
  std::vector<std::string> tokens;
  std::string token;
  auto flush = [&] {
    while (!token.empty() && absl::ascii_isdigit(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (!token.empty()) tokens.push_back(token);
    token.clear();
  };
  for (size_t i = 0; i < header.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(header[i]);
    if (!absl::ascii_isalnum(c)) {
      flush();
      continue;
    }
    if (absl::ascii_isupper(c) && i > 0 &&
        absl::ascii_islower(static_cast<unsigned char>(header[i - 1]))) {
      flush();
    }
    token += absl::ascii_tolower(c);
  }
  flush();
  return tokens;
}

// How a header word is looked for: anywhere in the lower-cased header, or as (the start or the
// end of) one of its tokens.
enum class WordMatch { kWithin, kToken, kTokenStart, kTokenEnd };

struct HeaderWord {
  std::string_view word;
  WordMatch match;
};

// Headers of columns whose values identify a person or an address: never drafted as an
// attribute (their values could end up as category codes or in the period).
constexpr HeaderWord kIdentifyingWords[] = {
    {"bsn", WordMatch::kWithin},        {"pc", WordMatch::kToken},
    {"pclet", WordMatch::kTokenStart},  {"postc", WordMatch::kWithin},
    {"zip", WordMatch::kWithin},        {"huisn", WordMatch::kWithin},
    {"house", WordMatch::kToken},       {"housen", WordMatch::kTokenStart},
    {"nummer", WordMatch::kWithin},     {"nr", WordMatch::kTokenEnd},
    {"huisletter", WordMatch::kWithin}, {"toevoeging", WordMatch::kWithin},
    {"adres", WordMatch::kTokenEnd},    {"address", WordMatch::kWithin},
    {"straat", WordMatch::kWithin},     {"street", WordMatch::kWithin},
    {"woonplaats", WordMatch::kWithin}, {"city", WordMatch::kToken},
    {"id", WordMatch::kToken},          {"naam", WordMatch::kTokenEnd},
    {"name", WordMatch::kTokenEnd},     {"initialen", WordMatch::kWithin},
    {"email", WordMatch::kWithin},      {"e-mail", WordMatch::kWithin},
    {"telefoon", WordMatch::kWithin},   {"phone", WordMatch::kWithin},
    {"iban", WordMatch::kWithin},       {"geboort", WordMatch::kWithin},
    {"gebdat", WordMatch::kTokenStart}, {"geb", WordMatch::kToken},
    {"dob", WordMatch::kToken},         {"birth", WordMatch::kWithin},
};

// Headers of birth and death dates and years: a person's own dates, never the period.
constexpr HeaderWord kLifeEventWords[] = {
    {"geb", WordMatch::kToken},          {"gebdat", WordMatch::kTokenStart},
    {"gebjaar", WordMatch::kTokenStart}, {"geboort", WordMatch::kWithin},
    {"dob", WordMatch::kToken},          {"birth", WordMatch::kWithin},
    {"overl", WordMatch::kToken},        {"overlijd", WordMatch::kWithin},
    {"overled", WordMatch::kWithin},     {"death", WordMatch::kWithin},
    {"sterf", WordMatch::kWithin},
};

// Names of places rather than people: "Wijknaam", "Buurt naam".
bool IsPlaceName(const std::vector<std::string>& tokens, size_t i) {
  for (std::string_view place : {"wijk", "buurt", "gemeente", "regio"}) {
    if (tokens[i].starts_with(place)) return true;
    if (i > 0 && tokens[i - 1] == place) return true;
  }
  return false;
}

// The first of `words` the header has, if any.
template <size_t N>
std::optional<std::string_view> HeaderWordOf(std::string_view header,
                                             const HeaderWord (&words)[N]) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(header.data(), header.size()));
  const std::vector<std::string> tokens = HeaderTokens(header);
  for (const HeaderWord& w : words) {
    if (w.match == WordMatch::kWithin) {
      if (lower.find(w.word) != std::string::npos) return w.word;
      continue;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& t = tokens[i];
      const bool found = w.match == WordMatch::kToken        ? t == w.word
                         : w.match == WordMatch::kTokenStart ? t.starts_with(w.word)
                                                             : t.ends_with(w.word);
      if (!found) continue;
      if ((w.word == "naam" || w.word == "name") && IsPlaceName(tokens, i)) continue;
      return w.word;
    }
  }
  return std::nullopt;
}

// Whether the value holds what identifies a person or an address: a postcode (four digits, an
// optional blank and two letters, standing apart from other digits and letters) or a run of
// seven or more digits (BSNs, client numbers, "A12345678", "NL1234AB" aside).
bool HoldsIdentifier(std::string_view value) {
  auto digit = [&](size_t i) {
    return i < value.size() && absl::ascii_isdigit(static_cast<unsigned char>(value[i]));
  };
  auto letter = [&](size_t i) {
    return i < value.size() && absl::ascii_isalpha(static_cast<unsigned char>(value[i]));
  };
  size_t i = 0;
  while (i < value.size()) {
    if (!digit(i)) {
      ++i;
      continue;
    }
    size_t run = i;
    while (digit(run)) ++run;
    if (run - i >= 7) return true;
    if (run - i == 4) {
      size_t l = run + (run < value.size() && value[run] == ' ' ? 1 : 0);
      if (letter(l) && letter(l + 1) && !letter(l + 2)) return true;
    }
    i = run;
  }
  return false;
}

// "99.8%"; never rounds a share below 100% up to it.
std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "0%";
  if (part == whole) return "100%";
  double p = std::min(99.9, 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return fmt::format("{:.1f}%", p);
}

double Share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

// A YAML double-quoted scalar.
std::string Quoted(std::string_view s) {
  // Text a reader could not see as it is (line or paragraph separators, C1 controls,
  // bidirectional overrides, invisible format characters) is written with yaml-cpp's escapes of
  // every non-ASCII character; it reads back as the same header.
  if (DisplaySafe(s) != s) {
    YAML::Emitter emitter;
    emitter.SetOutputCharset(YAML::EscapeNonAscii);
    emitter << YAML::DoubleQuoted << std::string(s);
    return emitter.c_str();
  }
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string CharName(char c) {
  switch (c) {
    case '\t':
      return "tab";
    case ' ':
      return "space";
    default:
      return std::string(1, c);
  }
}

}  // namespace

// Counts of what the values of one column read as. Values that hold an identifier are
// counted, never kept; other values are kept (with their counts) only up to `max_distinct` of
// them. Dates and years are counted per year only.
class ColumnProfile {
 public:
  explicit ColumnProfile(size_t max_distinct)
      : max_distinct_(max_distinct),
        date_ok_(DateFormats().size(), 0),
        date_years_(DateFormats().size()),
        amount_ok_(kAmountReadings.size(), 0) {}

  void Add(std::string_view raw) {
    std::string_view value = TrimBlanks(raw);
    if (value.empty()) {
      ++empty_;
      return;
    }
    ++filled_;
    bool identifier_like = false;
    if (ParseBsn(value).ok()) {
      ++bsn_;
      identifier_like = true;
    }
    if (IsPostcode(value)) {
      ++postcode_;
      identifier_like = true;
    }
    const bool holds_identifier = identifier_like || HoldsIdentifier(value);
    if (holds_identifier) ++holds_identifier_;
    if (IsHouseField(value)) ++house_;
    if (IsLetter(value)) ++letter_;
    if (IsAddition(value)) ++addition_;
    const Parsers& p = SharedParsers();
    v1::Value parsed;
    if (p.integer->Parse(value, &parsed) == RejectReason::kNone) {
      ++integer_;
      size_t digits = value.size() - (value.front() == '-' ? 1 : 0);
      max_integer_digits_ = std::max(max_integer_digits_, digits);
    }
    if (p.year->Parse(value, &parsed) == RejectReason::kNone) {
      ++year_;
      ++years_[static_cast<int>(parsed.year())];
    }
    for (size_t i = 0; i < p.amounts.size(); ++i) {
      if (p.amounts[i].Parse(value, &parsed) == RejectReason::kNone) ++amount_ok_[i];
    }
    const std::vector<DateFormat>& formats = DateFormats();
    for (size_t i = 0; i < formats.size(); ++i) {
      if (std::optional<int32_t> days = formats[i].ToDays(value)) {
        ++date_ok_[i];
        ++date_years_[i][static_cast<int>(DayFromDays(*days).year())];
      }
    }
    if (value.find_first_of(" \t") != std::string_view::npos) ++with_blanks_;
    if (identifier_like) ++identifier_like_;
    if (holds_identifier) return;
    if (distinct_overflow_) return;
    auto it = values_.find(value);
    if (it != values_.end()) {
      ++it->second;
    } else if (values_.size() < max_distinct_) {
      values_.emplace(std::string(value), 1);
    } else {
      distinct_overflow_ = true;
      values_.clear();
    }
  }

  uint64_t filled() const { return filled_; }
  uint64_t empty() const { return empty_; }
  double bsn_share() const { return Share(bsn_, filled_); }
  double postcode_share() const { return Share(postcode_, filled_); }
  double house_share() const { return Share(house_, filled_); }
  double letter_share() const { return Share(letter_, filled_); }
  double addition_share() const { return Share(addition_, filled_); }
  double integer_share() const { return Share(integer_, filled_); }
  double year_share() const { return Share(year_, filled_); }
  double identifier_like_share() const { return Share(identifier_like_, filled_); }
  double holds_identifier_share() const { return Share(holds_identifier_, filled_); }
  double blank_share() const { return Share(with_blanks_, filled_); }
  uint64_t bsn() const { return bsn_; }
  uint64_t postcode() const { return postcode_; }
  uint64_t house() const { return house_; }
  uint64_t integer() const { return integer_; }
  uint64_t year() const { return year_; }
  // Values per year, of the values that are years.
  const std::map<int, uint64_t>& years() const { return years_; }
  uint64_t letter() const { return letter_; }
  uint64_t addition() const { return addition_; }
  uint64_t identifier_like() const { return identifier_like_; }
  uint64_t holds_identifier() const { return holds_identifier_; }
  size_t max_integer_digits() const { return max_integer_digits_; }

  // The date format (index into DateFormats()) most values read as; on a tie the first.
  std::optional<size_t> BestDate() const { return MostOften(date_ok_); }
  uint64_t date_ok(size_t i) const { return date_ok_[i]; }
  // Values per year, of the values that read as date format `i`.
  const std::map<int, uint64_t>& date_years(size_t i) const { return date_years_[i]; }

  // The amount reading (index into kAmountReadings) most values read as; on a tie the first.
  std::optional<size_t> BestAmount() const { return MostOften(amount_ok_); }
  uint64_t amount_ok(size_t i) const { return amount_ok_[i]; }

  bool distinct_overflow() const { return distinct_overflow_; }
  const std::map<std::string, uint64_t, std::less<>>& values() const { return values_; }

 private:
  static std::optional<size_t> MostOften(const std::vector<uint64_t>& counts) {
    std::optional<size_t> best;
    for (size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] > 0 && (!best || counts[i] > counts[*best])) best = i;
    }
    return best;
  }

  size_t max_distinct_;
  uint64_t filled_ = 0;
  uint64_t empty_ = 0;
  uint64_t bsn_ = 0;
  uint64_t postcode_ = 0;
  uint64_t house_ = 0;
  uint64_t letter_ = 0;
  uint64_t addition_ = 0;
  uint64_t integer_ = 0;
  size_t max_integer_digits_ = 0;
  uint64_t year_ = 0;
  std::map<int, uint64_t> years_;
  uint64_t identifier_like_ = 0;   // a BSN or a postcode
  uint64_t holds_identifier_ = 0;  // those, or a value holding a postcode or 7+ digits
  uint64_t with_blanks_ = 0;
  std::vector<uint64_t> date_ok_;
  std::vector<std::map<int, uint64_t>> date_years_;
  std::vector<uint64_t> amount_ok_;
  bool distinct_overflow_ = false;
  std::map<std::string, uint64_t, std::less<>> values_;
};

namespace {

// What the draft does with one column.
enum class Role {
  kLeftOut,
  kBsn,
  kPostcode,
  kHouse,
  kNumber,
  kLetter,
  kAddition,
  kAttribute,
};

struct ColumnChoice {
  Role role = Role::kLeftOut;
  std::string comment;  // how sure, or why left out
  // kAttribute:
  std::string name;
  std::string type;
  std::vector<std::string> keys;  // further "key: value" lines, rendered as given
  // A date or year column that may show the period (not a birth or death date): its values
  // per year.
  bool for_period = false;
  std::map<int, uint64_t> years;
  // A category whose codes are all too rare to list: rendered commented out.
  bool commented_out = false;
};

// The column not yet chosen with the highest share that reaches kConfident (on a tie, the
// one with more values).
std::optional<size_t> BestBy(const std::vector<std::unique_ptr<ColumnProfile>>& columns,
                             const std::vector<ColumnChoice>& choices,
                             double (ColumnProfile::*share)() const) {
  std::optional<size_t> best;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (choices[i].role != Role::kLeftOut || !choices[i].comment.empty()) continue;
    const ColumnProfile& c = *columns[i];
    if (c.filled() == 0 || (c.*share)() < kConfident) continue;
    if (!best) {
      best = i;
      continue;
    }
    const ColumnProfile& b = *columns[*best];
    if ((c.*share)() > (b.*share)() || ((c.*share)() == (b.*share)() && c.filled() > b.filled())) {
      best = i;
    }
  }
  return best;
}

}  // namespace

ExportDialect SniffDialect(std::string_view head) {
  ExportDialect dialect;
  if (head.starts_with("\xEF\xBB\xBF")) head.remove_prefix(3);
  size_t first_newline = head.find('\n');
  dialect.crlf = first_newline != std::string_view::npos && first_newline > 0 &&
                 head[first_newline - 1] == '\r';
  // Whole lines only, at most 50.
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (lines.size() < 50) {
    size_t end = head.find('\n', pos);
    if (end == std::string_view::npos) {
      if (pos < head.size() && lines.empty()) lines.push_back(head.substr(pos));
      break;
    }
    std::string_view line = head.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    pos = end + 1;
  }
  // A quote opens a field somewhere: '"' is the quote; a '"' only inside fields: no quote.
  bool quote_opens_field = false;
  bool quote_inside = false;
  constexpr std::array<char, 4> kDelimiters = {';', ',', '\t', '|'};
  for (std::string_view line : lines) {
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '"') continue;
      bool at_start = i == 0 || std::find(kDelimiters.begin(), kDelimiters.end(), line[i - 1]) !=
                                    kDelimiters.end();
      (at_start ? quote_opens_field : quote_inside) = true;
    }
  }
  dialect.quote = (quote_inside && !quote_opens_field) ? std::nullopt : std::optional<char>('"');

  // The delimiter that splits the most lines into the header's field count (more than one).
  double best_consistency = -1;
  size_t best_fields = 0;
  std::string scratch;
  std::vector<std::string_view> fields;
  for (char d : kDelimiters) {
    if (dialect.quote && *dialect.quote == d) continue;
    CsvOptions options;
    options.delimiter = d;
    options.quote = dialect.quote;
    size_t header_fields = 0;
    size_t consistent = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      RejectReason r = CsvReader::SplitLine(lines[i], options, &scratch, &fields);
      if (r != RejectReason::kNone) continue;
      if (i == 0) header_fields = fields.size();
      if (fields.size() == header_fields) ++consistent;
    }
    if (header_fields < 2) continue;
    double consistency = Share(consistent, lines.size());
    if (consistency > best_consistency ||
        (consistency == best_consistency && header_fields > best_fields)) {
      best_consistency = consistency;
      best_fields = header_fields;
      dialect.delimiter = d;
      dialect.delimiter_reason = fmt::format("{} fields on {} of the first {} lines", header_fields,
                                             consistent, lines.size());
    }
  }
  if (best_consistency < 0) {
    dialect.delimiter_reason = "no delimiter of ; , tab | splits the header: one column?";
  }
  return dialect;
}

std::string AttributeNameFor(std::string_view header) {
  std::string name;
  for (char c : header) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u)) {
      name += absl::ascii_tolower(u);
    } else if (u >= 0x80 && (u & 0xC0) == 0x80) {
      continue;  // continuation byte of a letter already replaced
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  while (!name.empty() && name.back() == '_') name.pop_back();
  if (name.size() > 60) name.resize(60);
  if (name.empty()) name = "column";
  return name;
}

absl::StatusOr<std::unique_ptr<MappingDrafter>> MappingDrafter::Create(
    std::vector<std::string> header, DraftOptions options) {
  for (size_t i = 0; i < header.size(); ++i) {
    std::string_view name = TrimBlanks(header[i]);
    bool data_like = ParseBsn(name).ok() || IsPostcode(name);
    v1::Value parsed;
    const Parsers& p = SharedParsers();
    for (const AttributeParser& amount : p.amounts) {
      if (!name.empty() && amount.Parse(name, &parsed) == RejectReason::kNone) data_like = true;
    }
    for (const DateFormat& f : DateFormats()) {
      if (f.ToDays(name)) data_like = true;
    }
    if (data_like) {
      return absl::FailedPreconditionError(fmt::format(
          "the first line looks like data, not a header (field {} is a number, date, BSN or "
          "postcode); koppel reads exports whose first line names the columns: add one",
          i + 1));
    }
  }
  return std::unique_ptr<MappingDrafter>(new MappingDrafter(std::move(header), std::move(options)));
}

MappingDrafter::MappingDrafter(std::vector<std::string> header, DraftOptions options)
    : header_(std::move(header)), options_(std::move(options)) {
  for (std::string& h : header_) h = std::string(TrimBlanks(h));
  for (size_t i = 0; i < header_.size(); ++i) {
    columns_.push_back(std::make_unique<ColumnProfile>(options_.max_distinct));
  }
}

MappingDrafter::~MappingDrafter() = default;

void MappingDrafter::AddRecord(const std::vector<std::string_view>& fields) {
  if (fields.size() != columns_.size()) {
    ++unreadable_records_;
    return;
  }
  ++records_;
  for (size_t i = 0; i < fields.size(); ++i) columns_[i]->Add(fields[i]);
}

namespace {

// Chooses the role of every column; identifiers first, then each remaining column's type.
class ColumnClassifier {
 public:
  ColumnClassifier(const std::vector<std::string>& header,
                   const std::vector<std::unique_ptr<ColumnProfile>>& columns,
                   const DraftOptions& options, uint64_t records)
      : header_(header),
        columns_(columns),
        options_(options),
        records_(records),
        choices_(columns.size()) {}

  std::vector<ColumnChoice> Classify() {
    MarkUnusableHeaders();
    ChooseBsn();
    ChooseAddress();
    std::set<std::string> names;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (choices_[i].role != Role::kLeftOut || !choices_[i].comment.empty()) continue;
      ChooseAttribute(i);
      if (choices_[i].role == Role::kAttribute || choices_[i].commented_out) {
        std::string name = AttributeNameFor(header_[i]);
        std::string unique = name;
        for (int n = 2; names.contains(unique); ++n) unique = fmt::format("{}_{}", name, n);
        names.insert(unique);
        choices_[i].name = unique;
      }
    }
    return std::move(choices_);
  }

 private:
  void LeaveOut(size_t i, std::string why) {
    choices_[i].role = Role::kLeftOut;
    choices_[i].comment = std::move(why);
  }

  void MarkUnusableHeaders() {
    std::map<std::string, int> seen;
    for (const std::string& h : header_) ++seen[h];
    for (size_t i = 0; i < header_.size(); ++i) {
      if (header_[i].empty()) {
        LeaveOut(i, fmt::format("column {} has no header", i + 1));
      } else if (seen[header_[i]] > 1) {
        LeaveOut(i, "the header names more than one column so; rename one to map it");
      }
    }
  }

  void ChooseBsn() {
    std::optional<size_t> best = BestBy(columns_, choices_, &ColumnProfile::bsn_share);
    if (!best) return;
    const ColumnProfile& c = *columns_[*best];
    choices_[*best].role = Role::kBsn;
    choices_[*best].comment = fmt::format("{} of {} values pass the 11-test",
                                          Percent(c.bsn(), c.filled()), WithThousands(c.filled()));
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (!Free(i)) continue;
      if (columns_[i]->filled() > 0 && columns_[i]->bsn_share() >= kConfident) {
        LeaveOut(i, fmt::format("also holds BSNs ({} pass the 11-test); a mapping carries one "
                                "BSN column",
                                Percent(columns_[i]->bsn(), columns_[i]->filled())));
      }
    }
  }

  bool Free(size_t i) const {
    return choices_[i].role == Role::kLeftOut && choices_[i].comment.empty();
  }

  // A free column whose header has one of `words` and whose values mostly fit (or which is
  // always empty).
  std::optional<size_t> ByHeader(std::initializer_list<std::string_view> words,
                                 double (ColumnProfile::*share)() const) const {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (!Free(i) || !HeaderHas(header_[i], words)) continue;
      const ColumnProfile& c = *columns_[i];
      if (c.filled() == 0 || (c.*share)() >= kConfident) return i;
    }
    return std::nullopt;
  }

  bool HoldsHouseNumbers(size_t i) const {
    const ColumnProfile& c = *columns_[i];
    return Free(i) && c.filled() > 0 && c.house_share() >= kConfident &&
           !HeaderHas(header_[i], {"letter", "toevoeg", "addition"});
  }

  void ChooseAddress() {
    std::optional<size_t> found = BestBy(columns_, choices_, &ColumnProfile::postcode_share);
    if (!found) return;
    const size_t postcode = *found;
    choices_[postcode].role = Role::kPostcode;
    // The house number: a column named so, else the one next to the postcode.
    std::optional<size_t> house;
    for (size_t i = 0; i < columns_.size() && !house; ++i) {
      if (HoldsHouseNumbers(i) &&
          HeaderHas(header_[i], {"huisn", "huisnr", "house", "nummer", "number", "nr"})) {
        house = i;
      }
    }
    for (size_t i : {postcode + 1, postcode - 1}) {
      if (house || i >= columns_.size() || !HoldsHouseNumbers(i)) continue;
      if (columns_[i]->year_share() < kConfident) house = i;
    }
    const ColumnProfile& pc = *columns_[postcode];
    if (!house) {
      LeaveOut(postcode,
               fmt::format("{} of {} values are postcodes, but no column holds house "
                           "numbers: map identifiers.address by hand",
                           Percent(pc.postcode(), pc.filled()), WithThousands(pc.filled())));
      return;
    }
    choices_[postcode].comment =
        fmt::format("{} of {} values are postcodes", Percent(pc.postcode(), pc.filled()),
                    WithThousands(pc.filled()));
    const ColumnProfile& h = *columns_[*house];
    choices_[*house].role = Role::kHouse;  // claimed before the letter and addition are sought
    std::optional<size_t> letter = ByHeader({"letter"}, &ColumnProfile::letter_share);
    std::optional<size_t> addition =
        ByHeader({"toevoeg", "addition"}, &ColumnProfile::addition_share);
    const bool split = (letter || addition) && h.integer_share() >= kConfident;
    if (split) {
      choices_[*house].role = Role::kNumber;
      choices_[*house].comment =
          fmt::format("{} of {} values are house numbers", Percent(h.integer(), h.filled()),
                      WithThousands(h.filled()));
      auto part = [&](std::optional<size_t> i, Role role, std::string_view what) {
        if (!i) return;
        const ColumnProfile& c = *columns_[*i];
        choices_[*i].role = role;
        choices_[*i].comment =
            c.filled() == 0
                ? "always empty; named so"
                : fmt::format(
                      "{} of {} values are {}; {} empty",
                      Percent(role == Role::kLetter ? c.letter() : c.addition(), c.filled()),
                      WithThousands(c.filled()), what, WithThousands(c.empty()));
      };
      part(letter, Role::kLetter, "house letters");
      part(addition, Role::kAddition, "house-number additions");
    } else {
      choices_[*house].comment = fmt::format(
          "{} of {} values read as a house number with "
          "optional letter and addition",
          Percent(h.house(), h.filled()), WithThousands(h.filled()));
    }
  }

  void ChooseAttribute(size_t i) {
    const ColumnProfile& c = *columns_[i];
    const std::string& header = header_[i];
    ColumnChoice& choice = choices_[i];
    const uint64_t n = c.filled();
    const std::string of_n = WithThousands(n);
    if (n == 0) return LeaveOut(i, "always empty");
    if (std::optional<std::string_view> word = HeaderWordOf(header, kIdentifyingWords)) {
      return LeaveOut(i, fmt::format("identifying: left out (the header says \"{}\"); map it "
                                     "by hand if it is the BSN or address, or an attribute the "
                                     "covenant grants",
                                     *word));
    }
    if (c.identifier_like_share() >= 0.5) {
      return LeaveOut(i, fmt::format("{} of {} values look like BSNs or postcodes, too few to "
                                     "map the column as an identifier",
                                     Percent(c.identifier_like(), n), of_n));
    }
    if (c.integer_share() >= kConfident && c.max_integer_digits() >= 7 &&
        c.year_share() < kConfident) {
      // Eight digits may still be dates (yyyymmdd): those are tried first.
      std::optional<size_t> date = c.BestDate();
      if (!date || Share(c.date_ok(*date), n) < kConfident) {
        return LeaveOut(i,
                        "numbers of seven or more digits: a record or client number, "
                        "not an attribute");
      }
    }
    const bool required = c.empty() == 0;
    auto attribute = [&](std::string type, std::string comment) {
      choice.role = Role::kAttribute;
      choice.type = std::move(type);
      choice.comment = std::move(comment);
      if (required) choice.keys.push_back("required: true");
    };

    if (std::optional<size_t> date = c.BestDate();
        date && Share(c.date_ok(*date), n) >= kConfident) {
      const std::string& pattern = DateFormats()[*date].pattern();
      attribute("date", fmt::format("{} of {} values read as {}", Percent(c.date_ok(*date), n),
                                    of_n, pattern));
      choice.keys.insert(choice.keys.begin(), "format: " + Quoted(pattern));
      choice.for_period = !HeaderWordOf(header, kLifeEventWords);
      choice.years = c.date_years(*date);
      return;
    }
    if (c.year_share() >= kConfident) {
      attribute("year", fmt::format("{} of {} values are years", Percent(c.year(), n), of_n));
      choice.for_period = !HeaderWordOf(header, kLifeEventWords);
      choice.years = c.years();
      return;
    }
    if (c.integer_share() >= kConfident) {
      attribute("integer",
                fmt::format("{} of {} values are whole numbers", Percent(c.integer(), n), of_n));
      return;
    }
    if (std::optional<size_t> amount = c.BestAmount();
        amount && Share(c.amount_ok(*amount), n) >= kConfident) {
      const AmountReading& r = kAmountReadings[*amount];
      attribute(
          "amount",
          fmt::format("{} of {} values read as amounts with decimal {}{}",
                      Percent(c.amount_ok(*amount), n), of_n, r.decimal == ',' ? "comma" : "point",
                      r.thousands == '\0'
                          ? ""
                          : fmt::format(" and thousands separator {}", CharName(r.thousands))));
      choice.keys.insert(choice.keys.begin(),
                         fmt::format("decimal: {}", r.decimal == ',' ? "comma" : "point"));
      if (r.thousands != '\0') {
        choice.keys.insert(choice.keys.begin() + 1,
                           fmt::format("thousands: {}", Quoted(std::string(1, r.thousands))));
      }
      return;
    }
    if (c.house_share() >= kConfident) {
      return LeaveOut(i,
                      "values written like house numbers (12, 12a, 12-2): map the address "
                      "by hand if it is one");
    }
    ChooseCategory(i);
  }

  void ChooseCategory(size_t i) {
    const ColumnProfile& c = *columns_[i];
    ColumnChoice& choice = choices_[i];
    const uint64_t n = c.filled();
    if (c.distinct_overflow()) {
      return LeaveOut(
          i, fmt::format("free text: more than {} different values", options_.max_distinct));
    }
    const auto& values = c.values();
    if (c.blank_share() >= 0.5) {
      return LeaveOut(i, fmt::format("free text: {} different values, most of them several words",
                                     values.size()));
    }
    if (c.holds_identifier_share() > kFewIdentifiers) {
      return LeaveOut(i, fmt::format("identifying: left out ({} of {} values hold a postcode or a "
                                     "number of seven or more digits)",
                                     Percent(c.holds_identifier(), n), WithThousands(n)));
    }
    // Codes that differ only in case or blanks are one code (ignore_case), written in their
    // most frequent spelling.
    struct Folded {
      std::string spelling;
      uint64_t spelling_count = 0;
      uint64_t count = 0;
    };
    std::map<std::string, Folded> folded;
    for (const auto& [value, count] : values) {
      Folded& entry = folded[FoldCategoryCode(value)];
      if (count > entry.spelling_count) {
        entry.spelling = value;
        entry.spelling_count = count;
      }
      entry.count += count;
    }
    // Many different codes for the rows: names, free text or record numbers.
    if (folded.size() > kMaxCodes ||
        (folded.size() > kFewCodes && Share(folded.size(), n) > kMaxCodeShare)) {
      return LeaveOut(i, fmt::format("too many different values for codes, {} in {}: names, free "
                                     "text or record numbers",
                                     folded.size(), WithThousands(n)));
    }
    const bool ignore_case = folded.size() < values.size();
    std::vector<std::pair<std::string, uint64_t>> codes;
    if (ignore_case) {
      for (const auto& [key, entry] : folded) codes.emplace_back(entry.spelling, entry.count);
    } else {
      for (const auto& [value, count] : values) codes.emplace_back(value, count);
    }
    std::vector<std::string> listed;
    uint64_t rare_codes = 0;
    uint64_t rare_values = c.holds_identifier();  // never kept, so never listed
    for (const auto& [code, count] : codes) {
      if (count >= options_.min_cell) {
        listed.push_back(Quoted(code));
      } else {
        ++rare_codes;
        rare_values += count;
      }
    }
    uint64_t most_frequent = 0;
    for (const auto& [code, count] : codes) most_frequent = std::max(most_frequent, count);
    uint64_t much_rarer = 0;  // listed, yet under 1% of the most frequent code: typing errors?
    for (const auto& [code, count] : codes) {
      if (count >= options_.min_cell && count * 100 < most_frequent) ++much_rarer;
    }
    std::string comment = fmt::format("{} codes in {} values", codes.size(), WithThousands(n));
    if (ignore_case) comment += " (spellings that differ only in case or blanks counted as one)";
    if (c.holds_identifier() > 0) {
      comment += fmt::format("; {} values holding a postcode or a long number are not listed",
                             WithThousands(c.holds_identifier()));
    }
    if (rare_codes == 0) {
      comment += fmt::format("; each occurs at least {} times", options_.min_cell);
    } else {
      comment += fmt::format(
          "; {} code(s) occurring fewer than {} times ({} values) are not listed: add them to "
          "codes by hand, or their rows are rejected as category_unknown",
          rare_codes, options_.min_cell, WithThousands(rare_values));
    }
    if (much_rarer > 0) {
      comment += fmt::format(
          "; {} listed code(s) occur less than 1% as often as the most "
          "frequent one: check that they are codes, not errors",
          much_rarer);
    }
    choice.comment = comment;
    choice.type = "category";
    choice.keys.push_back(fmt::format("codes: [{}]", absl::StrJoin(listed, ", ")));
    if (ignore_case) choice.keys.push_back("ignore_case: true");
    // Rows with an unlisted code would be rejected: more than a few, and `check` would call the
    // export broken (--max-reject-rate), so the attribute waits for the holder's codes.
    if (listed.empty() || rare_values * 100 >= records_) {
      choice.commented_out = true;
      choice.comment = fmt::format(
          "{} codes in {} values, {} of them ({} values) occurring fewer than {} times and not "
          "listed; complete codes by hand and uncomment",
          codes.size(), WithThousands(n), rare_codes, WithThousands(rare_values),
          options_.min_cell);
      return;
    }
    choice.role = Role::kAttribute;
    if (c.empty() == 0) choice.keys.push_back("required: true");
  }

  const std::vector<std::string>& header_;
  const std::vector<std::unique_ptr<ColumnProfile>>& columns_;
  const DraftOptions& options_;
  uint64_t records_;
  std::vector<ColumnChoice> choices_;
};

std::string Indented(std::string_view line, std::string_view comment, size_t width) {
  std::string out(line);
  if (!comment.empty()) {
    if (out.size() < width) out.resize(width, ' ');
    out += "  # ";
    out += comment;
  }
  out += '\n';
  return out;
}

}  // namespace

absl::StatusOr<std::string> MappingDrafter::Draft(const ExportDialect& dialect) const {
  std::vector<ColumnChoice> choices =
      ColumnClassifier(header_, columns_, options_, records_).Classify();
  auto find = [&](Role role) -> std::optional<size_t> {
    for (size_t i = 0; i < choices.size(); ++i) {
      if (choices[i].role == role) return i;
    }
    return std::nullopt;
  };
  const std::optional<size_t> bsn = find(Role::kBsn);
  const std::optional<size_t> postcode = find(Role::kPostcode);
  if (!bsn && !postcode) {
    return absl::FailedPreconditionError(fmt::format(
        "no column holds BSNs (at least {:.0f}% passing the 11-test) or postcodes with house "
        "numbers, and a mapping needs one of them; write identifiers by hand (docs/agent.md)",
        kConfident * 100));
  }

  std::string out;
  out += fmt::format(
      "# Mapping drafted by `koppel-agent init` from {} ({} records{}).\n"
      "# Check every choice, name the dataset and attributes as the covenant does, and remove\n"
      "# the attributes the covenant does not grant. Shares are of the non-empty values.\n",
      options_.source_name.empty() ? "the export" : options_.source_name, WithThousands(records_),
      unreadable_records_ == 0
          ? ""
          : fmt::format("; {} more could not be split into the header's {} fields and were not "
                        "looked at",
                        WithThousands(unreadable_records_), header_.size()));
  out += "version: 1\n";
  out += fmt::format("dataset: {}\n", options_.dataset);
  out += "# holder: \"...\"  # optional: who holds the export\n";

  // The period, in whole years: those in which at least min_cell values of a date or year
  // column fall (birth and death dates aside), so that no one record's date shows.
  std::optional<int> first_year, last_year;
  std::vector<std::string> period_columns;
  for (size_t i = 0; i < choices.size(); ++i) {
    const ColumnChoice& c = choices[i];
    if (c.role != Role::kAttribute || !c.for_period) continue;
    bool used = false;
    for (const auto& [year, count] : c.years) {
      if (count < options_.min_cell) continue;
      first_year = std::min(first_year.value_or(year), year);
      last_year = std::max(last_year.value_or(year), year);
      used = true;
    }
    if (used) period_columns.push_back(Quoted(header_[i]));
  }
  out += "period:\n";
  if (first_year) {
    std::string why = fmt::format(
        "the first and last year in which at least {} values of {} fall: check that this is "
        "the period the export covers",
        options_.min_cell, absl::StrJoin(period_columns, ", "));
    out += Indented(fmt::format("  from: {:04d}-01-01", *first_year), why, 20);
    out += fmt::format("  to: {:04d}-12-31\n", *last_year);
  } else {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    const int year = tm.tm_year + 1900;
    out += Indented(fmt::format("  from: {}-01-01", year),
                    fmt::format("placeholder: no year holds {} or more dates or years of the "
                                "export (birth and death dates aside); fill in the period it "
                                "covers",
                                options_.min_cell),
                    20);
    out += Indented(fmt::format("  to: {}-12-31", year), "placeholder", 20);
  }

  out += "csv:\n";
  out += Indented(fmt::format("  delimiter: {}", Quoted(std::string(1, dialect.delimiter))),
                  dialect.delimiter_reason, 28);
  out += Indented(
      fmt::format("  quote: {}", !dialect.quote          ? std::string("\"\"")
                                 : *dialect.quote == '"' ? std::string("'\"'")
                                                         : Quoted(std::string(1, *dialect.quote))),
      dialect.quote ? "" : "fields are never quoted", 28);
  out += Indented(fmt::format("  encoding: {}", dialect.encoding), dialect.encoding_reason, 28);
  out += Indented(fmt::format("  line_ending: {}", dialect.crlf ? "crlf" : "lf"),
                  dialect.crlf ? "lines end with CR LF" : "lines end with LF", 28);

  out += "identifiers:\n";
  auto identifier = [&](std::optional<size_t> i, std::string_view key, size_t indent) {
    if (!i) return;
    out += Indented(fmt::format("{}{}: {}", std::string(indent, ' '), key, Quoted(header_[*i])),
                    choices[*i].comment, 36);
  };
  identifier(bsn, "bsn", 2);
  if (postcode) {
    out += "  address:\n";
    identifier(postcode, "postcode", 4);
    identifier(find(Role::kHouse), "house", 4);
    identifier(find(Role::kNumber), "number", 4);
    identifier(find(Role::kLetter), "letter", 4);
    identifier(find(Role::kAddition), "addition", 4);
    out +=
        "    # postcodes: FILE  # the municipality's postcode list, so that a postcode outside "
        "it is rejected (postcode_unknown); a register's mapping should name it\n";
  }

  bool any_attribute = false;
  std::string commented;
  for (size_t i = 0; i < choices.size(); ++i) {
    const ColumnChoice& c = choices[i];
    if (c.role != Role::kAttribute && !c.commented_out) continue;
    std::string block = fmt::format("  # {}\n  - name: {}\n    column: {}\n    type: {}\n",
                                    c.comment, c.name, Quoted(header_[i]), c.type);
    for (const std::string& key : c.keys) block += fmt::format("    {}\n", key);
    if (c.commented_out) {
      std::string lines;
      size_t pos = 0;
      while (pos < block.size()) {
        size_t end = block.find('\n', pos);
        std::string_view line = std::string_view(block).substr(pos, end - pos);
        lines += line.starts_with("  #") ? std::string(line) : "  # " + std::string(line.substr(2));
        lines += '\n';
        pos = end + 1;
      }
      commented += lines;
      continue;
    }
    if (!any_attribute) out += "attributes:\n";
    any_attribute = true;
    out += block;
  }
  if (!commented.empty()) {
    out += any_attribute ? "" : "# attributes:\n";
    out += commented;
  }

  std::string left_out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].role != Role::kLeftOut || choices[i].commented_out) continue;
    left_out += fmt::format(
        "#   {}: {}\n", header_[i].empty() ? fmt::format("column {}", i + 1) : Quoted(header_[i]),
        choices[i].comment);
  }
  if (!left_out.empty()) out += "# Left out:\n" + left_out;
  return out;
}

}  // namespace koppel::agent

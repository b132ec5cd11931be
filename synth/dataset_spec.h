// What one synthetic export looks like: its CSV dialect, its columns and the role each plays,
// and the mapping file (docs/agent.md) that describes it to the agent.
#ifndef KOPPEL_SYNTH_DATASET_SPEC_H_
#define KOPPEL_SYNTH_DATASET_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"

namespace koppel::synth {

// The byte encodings holders write. UTF-16 is always little-endian with a BOM (what Excel's
// "Unicode text" writes).
enum class TextEncoding { kUtf8, kWindows1252, kIso885915, kUtf16Le };

struct CsvDialect {
  char delimiter = ';';
  char quote = '"';        // '\0': the export never quotes
  bool quote_all = false;  // every field quoted, not only those that need it
  bool bom = false;        // UTF-8 with byte-order mark
  bool crlf = false;
  TextEncoding encoding = TextEncoding::kUtf8;
  bool declare_auto = false;  // the mapping says `encoding: auto` instead of naming it
};

enum class AttributeType { kCategory, kInteger, kAmount, kDate, kYear };

struct AttributeSpec {
  std::string name;
  AttributeType type = AttributeType::kCategory;
  bool required = false;
  // Category: export code -> code. When codes_as_list, export code == code and the mapping
  // lists the codes instead of a map.
  std::vector<std::pair<std::string, std::string>> codes;
  bool codes_as_list = false;
  bool ignore_case = false;         // category: codes match in any case, inner blanks collapsed
  std::string date_format;          // date
  bool decimal_comma = true;        // amount
  std::string thousands;            // amount: "" for none
  std::optional<int64_t> min, max;  // integer
};

enum class ColumnRole {
  kBsn,
  kPostcode,
  kHouse,  // free-form house number field
  kHouseNumber,
  kHouseLetter,
  kHouseAddition,
  kAttribute,
  kExtra,     // present in the export, not in the mapping
  kFreeText,  // unmapped free text; where a stray delimiter goes
};

struct ColumnSpec {
  std::string header;
  ColumnRole role = ColumnRole::kExtra;
  std::optional<AttributeSpec> attribute;  // when role == kAttribute

  bool mapped() const { return role != ColumnRole::kExtra && role != ColumnRole::kFreeText; }
};

struct DatasetSpec {
  std::string name;
  std::string holder;
  absl::CivilDay period_from, period_to;
  CsvDialect csv;
  std::vector<ColumnSpec> columns;
  // The mapping's `identifiers.address.postcodes` reference list, relative to the mapping;
  // empty for none.
  std::string postcodes_file = "";

  // Index of the first column with `role`, or -1.
  int ColumnWith(ColumnRole role) const;
  std::string ExportPath() const { return "exports/" + name + ".csv"; }
  std::string MappingPath() const { return "mappings/" + name + ".yaml"; }
};

// The mapping file text for `spec`, in the format of docs/agent.md.
std::string MappingYaml(const DatasetSpec& spec);

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_DATASET_SPEC_H_

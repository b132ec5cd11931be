// The mapping file of one export (docs/agent.md): which CSV dialect it is written in, which
// columns hold the identifiers, and which attributes the agent may carry, with their types.
#ifndef KOPPEL_CORE_MAPPING_H_
#define KOPPEL_CORE_MAPPING_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/csv_reader.h"
#include "core/date_format.h"
#include "core/reference_list.h"
#include "koppel/v1/batch.pb.h"

namespace koppel {

enum class AttributeType { kCategory, kInteger, kAmount, kDate, kYear };

struct AttributeSpec {
  std::string name;
  std::string column;
  AttributeType type = AttributeType::kCategory;
  bool required = false;
  // category: export code -> canonical code (a plain list maps each code to itself), from
  // `codes` and `codes_file` together
  std::map<std::string, std::string, std::less<>> codes;
  // category: export codes match in any capitalisation and spacing (FoldCategoryCode)
  bool ignore_case = false;
  std::filesystem::path codes_file;  // category: the codes file read, empty for none
  // integer
  std::optional<int64_t> min;
  std::optional<int64_t> max;
  // amount
  char decimal_mark = ',';
  char thousands_separator = '\0';  // '\0': none
  // date
  DateFormat date_format;
};

struct AddressColumns {
  std::string postcode;
  std::string house;     // free-form house field, or
  std::string number;    // separate number,
  std::string letter;    // optional letter and
  std::string addition;  // optional addition columns
  // The only postcodes accepted, read from `postcodes_file`; null when the mapping names none.
  std::shared_ptr<const PostcodeList> postcodes;
  std::filesystem::path postcodes_file;
  bool free_form() const { return !house.empty(); }
};

struct Mapping {
  std::string dataset;
  std::string holder;
  std::string period_from;  // yyyy-mm-dd
  std::string period_to;
  CsvOptions csv;
  TextEncoding encoding = TextEncoding::kUtf8;  // as declared (may be kAuto); also in csv
  std::string line_ending;                      // lf | crlf
  std::optional<std::string> bsn_column;
  std::optional<AddressColumns> address_columns;
  std::vector<AttributeSpec> attributes;

  // The attribute schema as batches carry it.
  std::vector<v1::AttributeSchema> BatchSchema() const;
};

// Loads and validates a mapping file and the reference lists it names (codes files, a
// postcodes file; a relative path is relative to the mapping file's directory). Errors name
// the file, line and key.
absl::StatusOr<Mapping> LoadMapping(const std::filesystem::path& path);
// Same, from text; `source_name` is the mapping file's path: it names the mapping in error
// messages and its directory is where relative reference-list paths start.
absl::StatusOr<Mapping> ParseMapping(std::string_view yaml, std::string_view source_name);

}  // namespace koppel

#endif  // KOPPEL_CORE_MAPPING_H_

// Drafting a mapping file (docs/agent.md) from an export, for `koppel-agent init`: statistics
// per column gathered in one streaming pass in bounded memory, a choice per column (BSN,
// postcode, house number, date, amount, integer, year, category, or left out) and the mapping
// rendered as YAML with a comment per choice saying how sure it is. Identifier columns keep
// counts only: no value of a BSN, postcode or house-number column is held or written. Columns
// named like an identifier, a name or a date of birth, or whose values hold postcodes or long
// numbers, are left out; a category code is written only when it occurs at least `min_cell`
// times, and the period only as whole years that many dates fall in.
#ifndef KOPPEL_AGENTS_MAPPING_DRAFT_H_
#define KOPPEL_AGENTS_MAPPING_DRAFT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel::agent {

// The CSV dialect of an export, as the draft's `csv:` section states it.
struct ExportDialect {
  char delimiter = ';';
  std::optional<char> quote = '"';
  std::string encoding = "utf-8";  // a csv.encoding name
  std::string encoding_reason;     // how the encoding was found, for the comment
  bool crlf = false;
  std::string delimiter_reason;  // e.g. "11 fields on each of the first 50 lines"
};

// Delimiter (; , tab |), quote and line ending guessed from the first lines of the export,
// decoded to UTF-8. `head` may end in the middle of a line.
ExportDialect SniffDialect(std::string_view head);

struct DraftOptions {
  std::string dataset;        // [a-z0-9_]+
  std::string source_name;    // the export's file name, for the opening comment
  uint64_t min_cell = 10;     // a category code is listed only when it occurs this often
  size_t max_distinct = 300;  // distinct values kept per column; beyond: free text
};

class ColumnProfile;

class MappingDrafter {
 public:
  // `header`: the export's column names. FAILED_PRECONDITION when the first line looks like
  // data rather than a header (the message names the column number, never the value).
  static absl::StatusOr<std::unique_ptr<MappingDrafter>> Create(std::vector<std::string> header,
                                                                DraftOptions options);
  ~MappingDrafter();
  MappingDrafter(const MappingDrafter&) = delete;
  MappingDrafter& operator=(const MappingDrafter&) = delete;

  // One data record with as many fields as the header.
  void AddRecord(const std::vector<std::string_view>& fields);
  // A record the reader could not split into the header's fields: counted, not profiled.
  void AddUnreadableRecord() { ++unreadable_records_; }

  // The mapping, as YAML text with a comment per choice. FAILED_PRECONDITION when no column
  // holds BSNs or postcodes with house numbers (a mapping needs one of them).
  absl::StatusOr<std::string> Draft(const ExportDialect& dialect) const;

  uint64_t records() const { return records_; }

 private:
  MappingDrafter(std::vector<std::string> header, DraftOptions options);

  std::vector<std::string> header_;
  DraftOptions options_;
  std::vector<std::unique_ptr<ColumnProfile>> columns_;
  uint64_t records_ = 0;
  uint64_t unreadable_records_ = 0;
};

// An attribute name for a column header: lower-case ASCII letters, digits and _.
std::string AttributeNameFor(std::string_view header);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_MAPPING_DRAFT_H_

// Writing CSV, the counterpart of csv_reader.h: fields quoted per RFC 4180 (a field holding the
// delimiter, the quote, CR or LF is enclosed in quotes, a quote in it doubled) and records of
// such fields. Reject reports, releases and synthetic exports are all written with it. Nothing
// here guards against spreadsheet formulas: no writer ever did, and the readers of these files
// are programs.
#ifndef KOPPEL_CORE_CSV_WRITER_H_
#define KOPPEL_CORE_CSV_WRITER_H_

#include <string>
#include <string_view>
#include <vector>

namespace koppel {

struct CsvWriteOptions {
  char delimiter = ',';
  char quote = '"';        // '\0': never quote (the field is written as it is)
  bool quote_all = false;  // quote every field, not only those that need it
  bool crlf = false;       // end records with CR LF instead of LF
};

// Appends `field` to `out`, quoted when it needs to be (or always, with quote_all).
void AppendCsvField(std::string_view field, const CsvWriteOptions& options, std::string* out);

// `field` as a comma-separated file writes it.
std::string CsvField(std::string_view field);

// Appends one record: the fields with delimiters between them, then the line end.
void AppendCsvRecord(const std::vector<std::string>& fields, const CsvWriteOptions& options,
                     std::string* out);

}  // namespace koppel

#endif  // KOPPEL_CORE_CSV_WRITER_H_

#include "core/csv_writer.h"

namespace koppel {
namespace {

bool NeedsQuotes(std::string_view field, const CsvWriteOptions& options) {
  for (char c : field) {
    if (c == options.delimiter || c == options.quote || c == '\r' || c == '\n') return true;
  }
  return false;
}

}  // namespace

void AppendCsvField(std::string_view field, const CsvWriteOptions& options, std::string* out) {
  if (options.quote == '\0' || !(options.quote_all || NeedsQuotes(field, options))) {
    out->append(field);
    return;
  }
  *out += options.quote;
  for (char c : field) {
    if (c == options.quote) *out += options.quote;
    *out += c;
  }
  *out += options.quote;
}

std::string CsvField(std::string_view field) {
  std::string out;
  AppendCsvField(field, CsvWriteOptions(), &out);
  return out;
}

void AppendCsvRecord(const std::vector<std::string>& fields, const CsvWriteOptions& options,
                     std::string* out) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) *out += options.delimiter;
    AppendCsvField(fields[i], options, out);
  }
  *out += options.crlf ? "\r\n" : "\n";
}

}  // namespace koppel

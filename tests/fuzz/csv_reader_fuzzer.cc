// CsvReader over an export in memory. The first byte picks the dialect (bits 0-1: delimiter
// , ; tab |; bits 2-3: quote " ' none "; bits 4-5: row limit 64 KiB, 64, 1 KiB, 64 KiB; bits
// 6-7: encoding utf-8, windows-1252, utf-16, iso-8859-15); the
// rest is the file.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/csv_reader.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  constexpr std::array<char, 4> kDelimiters = {',', ';', '\t', '|'};
  constexpr std::array<std::optional<char>, 4> kQuotes = {'"', '\'', std::nullopt, '"'};
  constexpr std::array<size_t, 4> kRowLimits = {64 * 1024, 64, 1024, 64 * 1024};
  koppel::CsvOptions options;
  options.delimiter = kDelimiters[data[0] & 3];
  options.quote = kQuotes[(data[0] >> 2) & 3];
  options.max_row_bytes = kRowLimits[(data[0] >> 4) & 3];
  constexpr std::array<koppel::TextEncoding, 4> kEncodings = {
      koppel::TextEncoding::kUtf8, koppel::TextEncoding::kWindows1252, koppel::TextEncoding::kUtf16,
      koppel::TextEncoding::kIso885915};
  options.encoding = kEncodings[(data[0] >> 6) & 3];

  koppel::fuzz::MemFile file({data + 1, size - 1});
  auto reader = koppel::CsvReader::Open(file.path(), options);
  Check(reader.ok(), "an export in memory cannot be opened");
  koppel::CsvRecord record;
  uint64_t last_line = 0;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    // Bytes that do not decode refuse the whole file: the read stops there.
    if (absl::IsFailedPrecondition(more.status())) break;
    Check(more.ok(), "reading an export in memory failed");
    if (!*more) break;
    Check(record.line > last_line, "record lines do not increase");
    last_line = record.line;
    Check(record.problem == koppel::RejectReason::kNone || record.fields.empty(),
          "a rejected row has fields");
    for (std::string_view field : record.fields) {
      Check(field.size() <= options.max_row_bytes, "a field is longer than the row limit");
      Check(koppel::IsValidUtf8(field), "a field of an accepted row is not UTF-8");
    }
  }
  Check((*reader)->bytes_read() <= (*reader)->file_size(), "read past the end of the file");
  return 0;
}

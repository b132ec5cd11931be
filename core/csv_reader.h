// Streaming reader for the CSV exports of data holders: one record per physical line (LF or
// CRLF), a configurable delimiter and quote, an optional UTF-8 BOM, and a bounded row size.
// Memory stays flat whatever the file size. A row that breaks the rules is returned with its
// structural reason instead of stopping the read, so the caller can report it and go on.
#ifndef KOPPEL_CORE_CSV_READER_H_
#define KOPPEL_CORE_CSV_READER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/reject_reason.h"

namespace koppel {

struct CsvOptions {
  char delimiter = ',';
  std::optional<char> quote = '"';
  size_t max_row_bytes = 64 * 1024;
};

// One record. `fields` point into the reader's buffers and stay valid until the next Next().
struct CsvRecord {
  uint64_t line = 0;                        // physical line the record is on, from 1
  RejectReason problem = RejectReason::kNone;  // a structural reason, or kNone
  std::vector<std::string_view> fields;     // empty when `problem` is set
};

class CsvReader {
 public:
  static absl::StatusOr<std::unique_ptr<CsvReader>> Open(const std::filesystem::path& path,
                                                         const CsvOptions& options);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next non-empty line into `record`. Returns false at the end of the input and an
  // error only when the file itself cannot be read.
  absl::StatusOr<bool> Next(CsvRecord* record);

  uint64_t bytes_read() const { return bytes_consumed_; }
  uint64_t file_size() const { return file_size_; }

  // Splits one line (without its line ending) into fields; exposed for tests and `token`.
  static RejectReason SplitLine(std::string_view line, const CsvOptions& options,
                                std::string* scratch, std::vector<std::string_view>* fields);

 private:
  CsvReader(int fd, uint64_t file_size, const CsvOptions& options);
  absl::StatusOr<bool> Fill();

  int fd_;
  uint64_t file_size_;
  CsvOptions options_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // first unconsumed byte in buffer_
  size_t end_ = 0;    // one past the last byte read into buffer_
  bool eof_ = false;
  bool at_start_ = true;
  uint64_t line_ = 0;
  uint64_t bytes_consumed_ = 0;
  std::string scratch_;
};

// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or values > U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

}  // namespace koppel

#endif  // KOPPEL_CORE_CSV_READER_H_

// Streaming reader for the CSV exports of data holders: decodes the export's encoding to UTF-8
// (text_decoder.h), then one record per physical line (LF or CRLF), a configurable delimiter
// and quote, and a bounded row size. Memory stays flat whatever the file size. A row that
// breaks the rules is returned with its structural reason instead of stopping the read, so the
// caller can report it and go on; bytes that do not decode stop the read (the file is wrong).
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
#include "core/text_decoder.h"

namespace koppel {

struct CsvOptions {
  char delimiter = ',';
  std::optional<char> quote = '"';
  size_t max_row_bytes = 64 * 1024;  // of the decoded (UTF-8) line
  // kAuto is resolved by reading the whole file once more (CheckFileEncoding) when opened.
  TextEncoding encoding = TextEncoding::kUtf8;
};

// One record. `fields` point into the reader's buffers and stay valid until the next Next().
struct CsvRecord {
  uint64_t line = 0;                           // physical line the record is on, from 1
  RejectReason problem = RejectReason::kNone;  // a structural reason, or kNone
  std::vector<std::string_view> fields;        // empty when `problem` is set
};

class CsvReader {
 public:
  static absl::StatusOr<std::unique_ptr<CsvReader>> Open(const std::filesystem::path& path,
                                                         const CsvOptions& options);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next non-empty line into `record`. Returns false at the end of the input and an
  // error only when the file itself cannot be read: DATA_LOSS for a read error,
  // FAILED_PRECONDITION for bytes that do not decode (naming line and column).
  absl::StatusOr<bool> Next(CsvRecord* record);

  // Bytes of the file read so far (for progress), and the encoding it is decoded from.
  uint64_t bytes_read() const { return bytes_read_; }
  TextEncoding encoding() const { return decoder_->encoding(); }
  uint64_t file_size() const { return file_size_; }

  // Splits one line (without its line ending) into fields; exposed for tests and `token`.
  static RejectReason SplitLine(std::string_view line, const CsvOptions& options,
                                std::string* scratch, std::vector<std::string_view>* fields);

 private:
  CsvReader(int fd, uint64_t file_size, const CsvOptions& options,
            std::unique_ptr<TextDecoder> decoder);
  absl::Status Fill();

  int fd_;
  uint64_t file_size_;
  CsvOptions options_;
  std::unique_ptr<TextDecoder> decoder_;
  std::vector<char> chunk_;  // raw bytes read from the file
  std::string undecoded_;    // raw bytes of a character split across reads
  std::string text_;         // decoded UTF-8 not yet consumed from begin_ on
  size_t begin_ = 0;
  bool eof_ = false;
  uint64_t line_ = 0;
  uint64_t bytes_read_ = 0;
  std::string scratch_;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_CSV_READER_H_

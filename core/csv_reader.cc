#include "core/csv_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/file.h"
#include "core/file_contents.h"
#include "core/text_decoder.h"

namespace koppel {
namespace {

constexpr size_t kReadChunk = 1 << 20;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::Open(const std::filesystem::path& path,
                                                           const CsvOptions& options) {
  auto line_breaking = [](char c) { return c == '\0' || c == '\n' || c == '\r'; };
  if (line_breaking(options.delimiter) || (options.quote && line_breaking(*options.quote))) {
    return absl::InvalidArgumentError(
        "the CSV delimiter and quote cannot be NUL, CR or LF; set csv.delimiter and csv.quote "
        "in the mapping to the export's characters");
  }
  if (options.quote && *options.quote == options.delimiter) {
    return absl::InvalidArgumentError("the CSV quote and delimiter must differ");
  }
  absl::StatusOr<int> opened = OpenRegularFile(path, "");
  if (!opened.ok()) {
    // NOT_FOUND stays; anything but a regular file is an invalid argument, not a bad header.
    if (absl::IsNotFound(opened.status())) return opened.status();
    return absl::InvalidArgumentError(opened.status().message());
  }
  const int fd = *opened;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::NotFoundError(absl::StrCat("cannot read ", path.string(), ": ", ErrnoText(error)));
  }
  TextEncoding encoding = options.encoding;
  if (encoding == TextEncoding::kAuto) {
    absl::StatusOr<EncodingCheck> check = CheckFileEncoding(path, encoding);
    if (!check.ok()) {
      ::close(fd);
      return check.status();
    }
    encoding = check->encoding;
  }
  absl::StatusOr<std::unique_ptr<TextDecoder>> decoder =
      TextDecoder::Create(encoding, path.string());
  if (!decoder.ok()) {
    ::close(fd);
    return decoder.status();
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<CsvReader>(
      new CsvReader(fd, static_cast<uint64_t>(st.st_size), options, std::move(*decoder)));
}

CsvReader::CsvReader(int fd, uint64_t file_size, const CsvOptions& options,
                     std::unique_ptr<TextDecoder> decoder)
    : fd_(fd),
      file_size_(file_size),
      options_(options),
      decoder_(std::move(decoder)),
      chunk_(kReadChunk) {}

CsvReader::~CsvReader() { ::close(fd_); }

absl::Status CsvReader::Fill() {
  if (eof_) return absl::OkStatus();
  text_.erase(0, begin_);
  begin_ = 0;
  ssize_t n;
  do {
    n = ::read(fd_, chunk_.data(), chunk_.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return absl::DataLossError(absl::StrCat("read error: ", ErrnoText(errno)));
  eof_ = n == 0;
  bytes_read_ += static_cast<uint64_t>(n);
  undecoded_.append(chunk_.data(), static_cast<size_t>(n));
  std::string_view pending = undecoded_;
  absl::Status decoded = decoder_->Decode(&pending, eof_, &text_);
  undecoded_.erase(0, undecoded_.size() - pending.size());
  return decoded;
}

absl::StatusOr<bool> CsvReader::Next(CsvRecord* record) {
  record->fields.clear();
  record->problem = RejectReason::kNone;
  bool skipping_long_line = false;
  for (;;) {
    const char* start = text_.data() + begin_;
    const size_t available = text_.size() - begin_;
    const void* newline = std::memchr(start, '\n', available);
    if (newline == nullptr && !eof_) {
      if (available > options_.max_row_bytes) {
        // The line cannot fit: report it once and discard text up to its end.
        if (!skipping_long_line) ++line_;
        skipping_long_line = true;
        begin_ = text_.size();
      }
      if (absl::Status filled = Fill(); !filled.ok()) return filled;
      continue;
    }
    size_t length =
        newline ? static_cast<size_t>(static_cast<const char*>(newline) - start) : available;
    if (newline == nullptr && length == 0) {  // end of input
      if (skipping_long_line) {
        record->line = line_;
        record->problem = RejectReason::kRowTooLong;
        return true;
      }
      return false;
    }
    begin_ += length + (newline ? 1 : 0);
    if (skipping_long_line) {
      record->line = line_;
      record->problem = RejectReason::kRowTooLong;
      return true;
    }
    ++line_;
    std::string_view line(start, length);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    record->line = line_;
    if (line.size() > options_.max_row_bytes) {
      record->problem = RejectReason::kRowTooLong;
    } else {
      record->problem = SplitLine(line, options_, &scratch_, &record->fields);
      if (record->problem != RejectReason::kNone) record->fields.clear();
    }
    return true;
  }
}

RejectReason CsvReader::SplitLine(std::string_view line, const CsvOptions& options,
                                  std::string* scratch, std::vector<std::string_view>* fields) {
  fields->clear();
  scratch->clear();
  // Quoted fields with doubled quotes are unescaped into `scratch`; reserving the line length
  // up front keeps earlier views into it valid.
  scratch->reserve(line.size());
  const char delimiter = options.delimiter;
  const bool quoting = options.quote.has_value();
  const char quote = quoting ? *options.quote : '\0';
  size_t pos = 0;
  const size_t n = line.size();
  for (;;) {
    size_t field_start = pos;
    while (pos < n && IsBlank(line[pos]) && line[pos] != delimiter) ++pos;
    if (quoting && pos < n && line[pos] == quote) {
      ++pos;
      size_t content_start = pos;
      bool escaped = false;
      size_t scratch_start = scratch->size();
      for (;;) {
        const void* q = std::memchr(line.data() + pos, quote, n - pos);
        if (q == nullptr) return RejectReason::kBadQuoting;
        size_t qpos = static_cast<size_t>(static_cast<const char*>(q) - line.data());
        if (qpos + 1 < n && line[qpos + 1] == quote) {
          scratch->append(line.data() + pos, qpos + 1 - pos);
          escaped = true;
          pos = qpos + 2;
          continue;
        }
        if (escaped) {
          scratch->append(line.data() + pos, qpos - pos);
          fields->emplace_back(scratch->data() + scratch_start, scratch->size() - scratch_start);
        } else {
          fields->push_back(line.substr(content_start, qpos - content_start));
        }
        pos = qpos + 1;
        break;
      }
      while (pos < n && IsBlank(line[pos]) && line[pos] != delimiter) ++pos;
      if (pos < n && line[pos] != delimiter) return RejectReason::kBadQuoting;
    } else {
      const void* d = std::memchr(line.data() + pos, delimiter, n - pos);
      size_t field_end = d ? static_cast<size_t>(static_cast<const char*>(d) - line.data()) : n;
      std::string_view field = line.substr(field_start, field_end - field_start);
      if (quoting && field.find(quote) != std::string_view::npos) {
        return RejectReason::kBadQuoting;
      }
      fields->push_back(field);
      pos = field_end;
    }
    if (pos >= n) return RejectReason::kNone;
    ++pos;  // the delimiter
    if (pos == n) {
      fields->emplace_back();
      return RejectReason::kNone;
    }
  }
}

}  // namespace koppel

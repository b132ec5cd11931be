#include "core/csv_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/file_contents.h"

namespace koppel {
namespace {

constexpr size_t kReadChunk = 1 << 20;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* end = p + bytes.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t length;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, cp = c & 0x07u;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < length) return false;
    for (size_t i = 1; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += length;
  }
  return true;
}

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
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path.string(), ": ", std::strerror(error)));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<CsvReader>(
      new CsvReader(fd, static_cast<uint64_t>(st.st_size), options));
}

CsvReader::CsvReader(int fd, uint64_t file_size, const CsvOptions& options)
    : fd_(fd),
      file_size_(file_size),
      options_(options),
      buffer_(options.max_row_bytes + kReadChunk + 2) {}

CsvReader::~CsvReader() { ::close(fd_); }

absl::StatusOr<bool> CsvReader::Fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (end_ < buffer_.size()) {
    ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::DataLossError(absl::StrCat("read error: ", std::strerror(errno)));
    if (n == 0) {
      eof_ = true;
      break;
    }
    end_ += static_cast<size_t>(n);
    if (end_ - begin_ >= kReadChunk) break;
  }
  if (at_start_ && end_ >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0) {
    begin_ = 3;
    bytes_consumed_ = 3;
  }
  if (end_ >= 3 || eof_) at_start_ = false;
  return true;
}

absl::StatusOr<bool> CsvReader::Next(CsvRecord* record) {
  record->fields.clear();
  record->problem = RejectReason::kNone;
  bool skipping_long_line = false;
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const void* newline = std::memchr(start, '\n', end_ - begin_);
    if (newline == nullptr && !eof_) {
      if (end_ - begin_ > options_.max_row_bytes) {
        // The line cannot fit: report it once and discard bytes up to its end.
        if (!skipping_long_line) ++line_;
        skipping_long_line = true;
        bytes_consumed_ += end_ - begin_;
        begin_ = end_ = 0;
      }
      absl::StatusOr<bool> filled = Fill();
      if (!filled.ok()) return filled.status();
      continue;
    }
    size_t length = newline ? static_cast<size_t>(static_cast<const char*>(newline) - start)
                            : end_ - begin_;
    if (newline == nullptr && length == 0) {  // end of input
      if (skipping_long_line) {
        record->line = line_;
        record->problem = RejectReason::kRowTooLong;
        return true;
      }
      return false;
    }
    size_t consumed = length + (newline ? 1 : 0);
    begin_ += consumed;
    bytes_consumed_ += consumed;
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
    } else if (!IsValidUtf8(line)) {
      record->problem = RejectReason::kBadEncoding;
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

#include "core/reference_list.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "absl/strings/ascii.h"
#include "core/address.h"
#include "core/csv_reader.h"
#include "core/file.h"
#include "core/file_contents.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

std::string_view Strip(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// At most `max_bytes` of the file; FAILED_PRECONDITION when it has more.
absl::StatusOr<std::string> ReadBounded(const std::filesystem::path& path, std::string_view what,
                                        uint64_t max_bytes, std::string_view limit_hint) {
  ASSIGN_OR_RETURN(const int fd, OpenRegularFile(path, what));
  std::string data;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return absl::DataLossError(
          fmt::format("cannot read {} {}: {}", what, path.string(), ErrnoText(error)));
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      ::close(fd);
      return absl::FailedPreconditionError(
          fmt::format("{} {} is larger than {} MiB, the most a {} may be; {}", what, path.string(),
                      max_bytes >> 20, what, limit_hint));
    }
  }
  ::close(fd);
  return data;
}

// A reference file's lines split into fields, with its header.
class ReferenceCsv {
 public:
  static absl::StatusOr<ReferenceCsv> Read(const std::filesystem::path& path, std::string_view what,
                                           uint64_t max_bytes, std::string_view limit_hint) {
    ReferenceCsv csv;
    csv.what_ = fmt::format("{} {}", what, path.string());
    ASSIGN_OR_RETURN(csv.text_, ReadBounded(path, what, max_bytes, limit_hint));
    if (csv.text_.starts_with("\xEF\xBB\xBF")) csv.next_ = 3;
    std::string_view header = csv.NextLine();
    if (!IsValidUtf8(header)) return csv.Error(1, "is not valid UTF-8; save the file as UTF-8");
    // Spreadsheets set to Dutch write `;`.
    csv.options_.delimiter =
        header.find(';') != std::string_view::npos && header.find(',') == std::string_view::npos
            ? ';'
            : ',';
    std::string scratch;
    std::vector<std::string_view> fields;
    if (CsvReader::SplitLine(header, csv.options_, &scratch, &fields) != RejectReason::kNone) {
      return csv.Error(1, "the header line is not valid CSV (check its quotes)");
    }
    for (std::string_view field : fields) {
      std::string name(Strip(field));
      absl::AsciiStrToLower(&name);
      csv.header_.push_back(std::move(name));
    }
    return csv;
  }

  // The index of header column `name` (any capitalisation), or -1.
  int Column(std::string_view name) const {
    for (size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }

  // Calls `visit` with the line number and trimmed fields of every non-blank line after the
  // header, up to the first error.
  absl::Status ForEachRow(
      const std::function<absl::Status(uint64_t, const std::vector<std::string_view>&)>& visit) {
    std::string scratch;
    std::vector<std::string_view> fields;
    while (next_ < text_.size()) {
      std::string_view line = NextLine();
      if (Strip(line).empty()) continue;
      if (!IsValidUtf8(line)) {
        return Error(line_, "is not valid UTF-8; save the file as UTF-8");
      }
      if (CsvReader::SplitLine(line, options_, &scratch, &fields) != RejectReason::kNone) {
        return Error(line_, "is not valid CSV (an unterminated or misplaced quote); correct it");
      }
      if (fields.size() != header_.size()) {
        return Error(line_, fmt::format("has {} field(s) where the header has {}; give every "
                                        "line the header's columns",
                                        fields.size(), header_.size()));
      }
      for (std::string_view& field : fields) field = Strip(field);
      RETURN_IF_ERROR(visit(line_, fields));
    }
    return absl::OkStatus();
  }

  // INVALID_ARGUMENT "<what> <path>:<line>: <problem>".
  absl::Status Error(uint64_t line, std::string_view problem) const {
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", what_, line, problem));
  }
  absl::Status Error(std::string_view problem) const {
    return absl::InvalidArgumentError(fmt::format("{}: {}", what_, problem));
  }

 private:
  ReferenceCsv() = default;

  // The next line without its LF or CRLF, counting lines from 1.
  std::string_view NextLine() {
    const std::string_view rest = std::string_view(text_).substr(next_);
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    next_ += end == std::string_view::npos ? rest.size() : end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    ++line_;
    return line;
  }

  std::string what_;
  std::string text_;
  size_t next_ = 0;  // where the next line of text_ starts
  uint64_t line_ = 0;
  CsvOptions options_;
  std::vector<std::string> header_;
};

bool IsPc4(std::string_view s) {
  if (s.size() != 4 || s[0] < '1' || s[0] > '9') return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

uint32_t Pc4(std::string_view digits) {
  uint32_t value = 0;
  for (char c : digits.substr(0, 4)) value = value * 10 + static_cast<uint32_t>(c - '0');
  return value;
}

uint32_t PostcodeKey(std::string_view canonical) {
  return Pc4(canonical) * 676 + static_cast<uint32_t>(canonical[4] - 'A') * 26 +
         static_cast<uint32_t>(canonical[5] - 'A');
}

}  // namespace

absl::StatusOr<std::vector<ListedCode>> LoadCodeList(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(ReferenceCsv csv, ReferenceCsv::Read(path, "codes file", kMaxCodesFileBytes,
                                                        "list only the codes the export uses"));
  const int code_column = csv.Column("code");
  const int maps_to_column = csv.Column("maps_to");
  if (code_column < 0) {
    return csv.Error(1,
                     "the header must name the column code, and optionally maps_to "
                     "(e.g. code,maps_to)");
  }
  std::vector<ListedCode> codes;
  RETURN_IF_ERROR(csv.ForEachRow(
      [&](uint64_t line, const std::vector<std::string_view>& fields) -> absl::Status {
        if (codes.size() == kMaxCodesFileCodes) {
          return csv.Error(line, fmt::format("more than {} codes; a codes file may list at most "
                                             "that many, so list only the codes the export uses",
                                             kMaxCodesFileCodes));
        }
        ListedCode code{std::string(fields[static_cast<size_t>(code_column)]), "", line};
        if (code.code.empty()) {
          return csv.Error(line, "the code is empty; give one or remove the line");
        }
        if (maps_to_column < 0) {
          codes.push_back(std::move(code));
          return absl::OkStatus();
        }
        code.maps_to = std::string(fields[static_cast<size_t>(maps_to_column)]);
        if (code.maps_to.empty()) {
          return csv.Error(line, "maps_to is empty; give the code this one stands for");
        }
        codes.push_back(std::move(code));
        return absl::OkStatus();
      }));
  if (codes.empty()) return csv.Error("lists no codes; give one code per line after the header");
  return codes;
}

absl::StatusOr<PostcodeList> PostcodeList::Load(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(ReferenceCsv csv,
                   ReferenceCsv::Read(path, "postcodes file", kMaxPostcodesFileBytes,
                                      "list the municipality's postcodes, or its PC4 areas"));
  const int column = csv.Column("postcode");
  if (column < 0) return csv.Error(1, "the header must name the column postcode");
  PostcodeList list;
  size_t lines = 0;
  RETURN_IF_ERROR(csv.ForEachRow(
      [&](uint64_t line, const std::vector<std::string_view>& fields) -> absl::Status {
        if (++lines > kMaxPostcodesFilePostcodes) {
          return csv.Error(line, fmt::format("more than {} postcodes; list the municipality's "
                                             "postcodes, or its PC4 areas",
                                             kMaxPostcodesFilePostcodes));
        }
        std::string_view field = fields[static_cast<size_t>(column)];
        if (IsPc4(field)) {
          list.areas_.set(Pc4(field));
          return absl::OkStatus();
        }
        char canonical[6];
        if (ParsePostcode(field, canonical) != RejectReason::kNone) {
          return csv.Error(line,
                           "is neither a postcode (4 digits, the first not 0, and 2 "
                           "letters, e.g. 1234AB) nor a 4-digit PC4 area; correct or "
                           "remove the line");
        }
        list.postcodes_.insert(PostcodeKey(std::string_view(canonical, 6)));
        return absl::OkStatus();
      }));
  if (list.size() == 0) {
    return csv.Error(
        "lists no postcodes; give one postcode or PC4 area per line after the "
        "header");
  }
  return list;
}

bool PostcodeList::Contains(std::string_view postcode) const {
  if (postcode.size() != 6) return false;
  return areas_.test(Pc4(postcode)) || postcodes_.contains(PostcodeKey(postcode));
}

}  // namespace koppel

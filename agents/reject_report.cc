#include "agents/reject_report.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "core/csv_writer.h"

namespace koppel::agent {

absl::StatusOr<std::unique_ptr<RejectReport>> RejectReport::Create(
    const std::filesystem::path& path) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create reject report {}: {}", path.string(), std::strerror(errno)));
  }
  std::fputs("record,line,reason,column,first_line\n", file);
  return std::unique_ptr<RejectReport>(new RejectReport(file, path));
}

RejectReport::~RejectReport() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status RejectReport::Add(uint64_t record, uint64_t line, RejectReason reason,
                               std::string_view column) {
  fmt::print(file_, "{},{},{},{},\n", record, line, RejectReasonName(reason), CsvField(column));
  return absl::OkStatus();
}

absl::Status RejectReport::AddDuplicate(const DuplicateRow& row) {
  fmt::print(file_, "{},{},{},,{}\n", row.record, row.line, kDuplicateReason, row.first_line);
  return absl::OkStatus();
}

absl::Status RejectReport::Close() {
  FILE* file = std::exchange(file_, nullptr);
  if (file == nullptr) return absl::OkStatus();
  bool failed = std::ferror(file) != 0;
  if (std::fclose(file) != 0 || failed) {
    return absl::DataLossError(fmt::format("cannot write reject report {}", path_.string()));
  }
  return absl::OkStatus();
}

}  // namespace koppel::agent

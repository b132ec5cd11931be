// The reject report of a run: one CSV line per rejected row with its record number, physical
// line, reason and column header, then one line per duplicate row (sealed all the same) with the
// line of its first occurrence. Never the value: the report may be shared with the people who
// fix the source system, and a BSN or address must not travel with it.
#ifndef KOPPEL_AGENTS_REJECT_REPORT_H_
#define KOPPEL_AGENTS_REJECT_REPORT_H_

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "agents/duplicate_counter.h"
#include "core/reject_reason.h"

namespace koppel::agent {

// The reason a duplicate row has in the report. Not a RejectReason: the row is sealed.
inline constexpr std::string_view kDuplicateReason = "duplicate";

class RejectReport {
 public:
  static absl::StatusOr<std::unique_ptr<RejectReport>> Create(const std::filesystem::path& path);
  ~RejectReport();
  RejectReport(const RejectReport&) = delete;
  RejectReport& operator=(const RejectReport&) = delete;

  absl::Status Add(uint64_t record, uint64_t line, RejectReason reason, std::string_view column);
  absl::Status AddDuplicate(const DuplicateRow& row);
  absl::Status Close();

 private:
  RejectReport(FILE* file, std::filesystem::path path) : file_(file), path_(std::move(path)) {}
  FILE* file_;
  std::filesystem::path path_;
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_REJECT_REPORT_H_

// `koppel-agent init`: drafts the mapping of an export (docs/agent.md, "Drafting a mapping")
// by detecting its encoding and CSV dialect and profiling every column in one streaming pass
// (mapping_draft.h). The draft is checked to load as a mapping before it is written.
#ifndef KOPPEL_AGENTS_INIT_COMMAND_H_
#define KOPPEL_AGENTS_INIT_COMMAND_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace koppel::agent {

struct InitOptions {
  std::filesystem::path input;
  std::filesystem::path out;
  std::string dataset;  // empty: from the input's file name
  uint64_t min_cell = 10;
  bool force = false;    // overwrite `out`
  bool progress = true;  // on stderr
};

struct InitResult {
  std::string dataset;
  uint64_t records = 0;
  std::string encoding;
};

// INVALID_ARGUMENT unless `name` is a dataset name: 1 to 64 of [a-z0-9_].
absl::Status CheckDatasetName(std::string_view name);

// Errors: INVALID_ARGUMENT for a dataset name that CheckDatasetName refuses or an input that is
// not a regular file, ALREADY_EXISTS when `out` exists without `force`, NOT_FOUND / DATA_LOSS /
// PERMISSION_DENIED for files that cannot be read or written, FAILED_PRECONDITION when the export
// cannot be read as CSV or holds no identifier column, INTERNAL when the draft does not load as a
// mapping. No message quotes a value of the export.
absl::StatusOr<InitResult> DraftMappingFile(const InitOptions& options);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_INIT_COMMAND_H_

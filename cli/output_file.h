// A command that writes a document with --out refuses to write it over a file it reads: a
// careless `--out` must not replace the audit log or the covenant the document is about.
#ifndef KOPPEL_CLI_OUTPUT_FILE_H_
#define KOPPEL_CLI_OUTPUT_FILE_H_

#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"

namespace koppel {

// A file the command reads, and how its user named it ("--log", "COVENANT", ...).
struct CommandInput {
  std::string path;
  std::string_view flag;
};

// FAILED_PRECONDITION naming both when `out` is the same file as one of `inputs` (as
// std::filesystem::equivalent sees it: links and other spellings of a path count; a file that
// does not exist is no input).
inline absl::Status CheckOutputIsNoInput(const std::string& out,
                                         const std::vector<CommandInput>& inputs) {
  for (const CommandInput& input : inputs) {
    std::error_code error;
    if (std::filesystem::equivalent(out, input.path, error) && !error) {
      return absl::FailedPreconditionError(
          fmt::format("--out {} is the same file as {} {}: refusing to write over a file the "
                      "command reads",
                      out, input.flag, input.path));
    }
  }
  return absl::OkStatus();
}

}  // namespace koppel

#endif  // KOPPEL_CLI_OUTPUT_FILE_H_

// Reading a whole (small) file: covenants, signatures, specs, price tables. The error names the
// file and why it cannot be read, so callers can pass it on as it is.
#ifndef KOPPEL_CORE_FILE_CONTENTS_H_
#define KOPPEL_CORE_FILE_CONTENTS_H_

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace koppel {

// NOT_FOUND "cannot read <path>: <reason>", FAILED_PRECONDITION for a directory.
absl::StatusOr<std::string> ReadFileContents(const std::filesystem::path& path);

}  // namespace koppel

#endif  // KOPPEL_CORE_FILE_CONTENTS_H_

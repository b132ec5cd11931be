// Reading the files a user names: covenants, signatures, specs, price tables, mappings, keys,
// exports. Only regular files are read (a FIFO or a device would block the reader or never
// end). The error names the file and why it cannot be read, so callers can pass it on as it is.
#ifndef KOPPEL_CORE_FILE_CONTENTS_H_
#define KOPPEL_CORE_FILE_CONTENTS_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace koppel {

// A descriptor open for reading `path`, which the caller closes. Opening never blocks: the
// errno's code (core/file.h; NOT_FOUND for a missing file, PERMISSION_DENIED for one this
// process may not read) "cannot read <what> <path>: <reason>", FAILED_PRECONDITION "<what> <path>
// is a FIFO (named pipe), not a regular file; ..." for anything but a regular file. `what` (e.g.
// "key file") may be empty.
absl::StatusOr<int> OpenRegularFile(const std::filesystem::path& path, std::string_view what);

// The whole file, with the errors of OpenRegularFile and DATA_LOSS for a read error.
absl::StatusOr<std::string> ReadFileContents(const std::filesystem::path& path,
                                             std::string_view what = "");

}  // namespace koppel

#endif  // KOPPEL_CORE_FILE_CONTENTS_H_

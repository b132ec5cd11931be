#include "core/atomic_file.h"

#include <fmt/format.h>
#include <unistd.h>

namespace koppel {

absl::Status WriteFileAtomically(FileSystem& fs, const std::filesystem::path& path,
                                 std::string_view bytes, uint32_t permissions) {
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp-{}", ::getpid());
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      fs.NewWritableFile(tmp, {.mode = OpenMode::kTruncate, .permissions = permissions});
  if (!file.ok()) return file.status();
  absl::Status status = (*file)->Append(bytes);
  if (status.ok()) status = (*file)->Sync();
  if (absl::Status closed = (*file)->Close(); status.ok()) status = closed;
  if (status.ok()) status = fs.RenameFile(tmp, path);
  if (!status.ok()) {
    fs.RemoveFile(tmp).IgnoreError();  // the error that matters is the one above
    return status;
  }
  return fs.SyncDirectory(path.parent_path());
}

absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  return WriteFileAtomically(*FileSystem::Default(), path, bytes);
}

}  // namespace koppel

// A FileSystem for tests that passes everything to another one, except the operations a test
// tells it to break: the n-th write, sync or rename of a file fails with a chosen errno (EIO,
// ENOSPC, ...), the disk fills up after a byte budget, writes come back short or interrupted.
// Only files whose path starts with the rule's prefix are affected (all when it is empty).
#ifndef KOPPEL_TESTS_TESTING_FAULT_INJECTING_FILE_SYSTEM_H_
#define KOPPEL_TESTS_TESTING_FAULT_INJECTING_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/file.h"

namespace koppel::test {

class FaultInjectingFileSystem : public FileSystem {
 public:
  enum class Operation {
    kOpen,   // NewSequentialFile, NewWritableFile
    kWrite,  // one write(2) under WritableFile::Append
    kSync,   // WritableFile::Sync and SyncData
    kTruncate,
    kRename,  // matched on the source path
    kRemove,
    kSyncDirectory,
  };

  explicit FaultInjectingFileSystem(FileSystem& base = *FileSystem::Default()) : base_(base) {}

  // The `nth` (from 1, counted from now) `operation` on a matching path fails with `error`,
  // once.
  void FailNth(Operation operation, int nth, int error, std::string path_prefix = "");
  // Every `operation` on a matching path fails with `error` from now on.
  void FailAlways(Operation operation, int error, std::string path_prefix = "");
  // Writes to matching files may store `budget` more bytes in all; the write that crosses the
  // budget stores what fits, and every write after it fails with `error` (ENOSPC: a full disk).
  void FailWritesAfter(uint64_t budget, int error, std::string path_prefix = "");
  // Every write(2) stores at most `max_bytes`, and when `interrupt` each is first refused with
  // EINTR: what a signal or a slow device does to a writer.
  void ShortWrites(size_t max_bytes, bool interrupt);
  // Back to passing everything on.
  void Clear();

  // How many times `operation` was attempted, failed or not.
  int Count(Operation operation) const;

  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::filesystem::path& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::filesystem::path& path, const WritableFileOptions& options) override;
  absl::Status RenameFile(const std::filesystem::path& from,
                          const std::filesystem::path& to) override;
  absl::Status RemoveFile(const std::filesystem::path& path) override;
  absl::Status SyncDirectory(const std::filesystem::path& dir) override;
  absl::StatusOr<bool> FileExists(const std::filesystem::path& path) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::filesystem::path& path) override;

 private:
  friend class FaultInjectingWritableFile;

  struct Rule {
    Operation operation;
    std::string path_prefix;
    int error = 0;
    int skip = 0;  // calls to let through first
    bool once = false;
  };
  struct Budget {
    uint64_t bytes = 0;
    int error = 0;
    std::string path_prefix;
  };

  // Counts `operation` and returns the errno it fails with now, if it does.
  std::optional<int> Fault(Operation operation, const std::filesystem::path& path);
  // How much of a write of `size` bytes to `path` goes through now, or the errno it fails with.
  WriteResult DecideWrite(const std::filesystem::path& path, size_t size);

  FileSystem& base_;
  mutable absl::Mutex mutex_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mutex_);
  std::optional<Budget> budget_ ABSL_GUARDED_BY(mutex_);
  size_t max_write_ ABSL_GUARDED_BY(mutex_) = 0;  // 0: no limit
  bool interrupt_ ABSL_GUARDED_BY(mutex_) = false;
  bool interrupted_last_ ABSL_GUARDED_BY(mutex_) = false;
  std::map<Operation, int> counts_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_FAULT_INJECTING_FILE_SYSTEM_H_

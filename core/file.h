// The one way koppel reads and writes files, in the style of LevelDB's Env: a FileSystem hands
// out sequential and writable files and renames, removes, locks and syncs. Every failure is an
// absl::Status made by absl::ErrnoToStatus from the errno ("cannot write <path>: No space left
// on device" is RESOURCE_EXHAUSTED, ENOENT is NOT_FOUND, EACCES PERMISSION_DENIED, ...), so
// the error policy is the same everywhere and no caller formats errno itself. Classes that
// write (the audit log, the key store, atomic writes) take a FileSystem*, so that tests can
// hand them one that fails on purpose (tests/testing/fault_injecting_file_system.h).
#ifndef KOPPEL_CORE_FILE_H_
#define KOPPEL_CORE_FILE_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace koppel {

// The text of an errno value, made thread-safely (strerror is not).
std::string ErrnoText(int error);

// Reads a file from its start to its end.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;

  // Reads up to `n` bytes into `scratch`; 0 means the end of the file. Retries on EINTR.
  virtual absl::StatusOr<size_t> Read(size_t n, char* scratch) = 0;
};

// The rest of `file` from where it stands.
absl::StatusOr<std::string> ReadToEnd(SequentialFile& file);

// What one write(2) did: `bytes` written (perhaps fewer than asked), or the errno `error`.
struct WriteResult {
  size_t bytes = 0;
  int error = 0;
};

// A file being written. Destroying it closes it without checking; call Close to learn whether
// closing worked.
class WritableFile {
 public:
  explicit WritableFile(std::filesystem::path path) : path_(std::move(path)) {}
  virtual ~WritableFile() = default;
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  // Writes all of `data`, going on after short writes and EINTR.
  absl::Status Append(std::string_view data);

  // One write(2) of a prefix of `data`. Append is built on it; call Append instead.
  virtual WriteResult WriteSome(std::string_view data) = 0;
  // Data and metadata on disk (fsync).
  virtual absl::Status Sync() = 0;
  // Data on disk, and the metadata needed to read it back (fdatasync).
  virtual absl::Status SyncData() = 0;
  // Cuts the file to `size` bytes.
  virtual absl::Status Truncate(uint64_t size) = 0;
  virtual absl::StatusOr<uint64_t> Size() = 0;
  virtual absl::Status Close() = 0;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// An exclusive lock on a file, held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode {
  kTruncate,   // create the file, or empty the one there
  kExclusive,  // create the file; EEXIST when it exists
  kAppend,     // create the file or keep what it holds; every write goes to its end
  kOverwrite,  // an existing file, written from its start without emptying it first
};

struct WritableFileOptions {
  OpenMode mode = OpenMode::kTruncate;
  uint32_t permissions = 0600;  // for a file the open creates
  // Refuse (FAILED_PRECONDITION) anything but a regular file, without blocking: opening a FIFO
  // that has no reader for writing would otherwise wait for one.
  bool regular_file_only = false;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The operating system's file system (POSIX). Never deleted.
  static FileSystem* Default();

  virtual absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::filesystem::path& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::filesystem::path& path, const WritableFileOptions& options) = 0;
  virtual absl::Status RenameFile(const std::filesystem::path& from,
                                  const std::filesystem::path& to) = 0;
  virtual absl::Status RemoveFile(const std::filesystem::path& path) = 0;
  // Makes the directory's entries (files created, renamed or removed in it) durable.
  virtual absl::Status SyncDirectory(const std::filesystem::path& dir) = 0;
  virtual absl::StatusOr<bool> FileExists(const std::filesystem::path& path) = 0;
  // Locks an existing file against every other LockFile of it, in this process or another
  // (flock); UNAVAILABLE when someone holds it.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::filesystem::path& path) = 0;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_FILE_H_

#include "core/file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace koppel {
namespace {

// strerror_r comes in two flavours: GNU returns the text, POSIX fills the buffer.
[[maybe_unused]] const char* ErrorTextOf(char* result, const char*) { return result; }
[[maybe_unused]] const char* ErrorTextOf(int result, const char* buffer) {
  return result == 0 ? buffer : "unknown error";
}

absl::Status PosixError(int error, std::string_view operation, const std::filesystem::path& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(std::string(operation), " ", path.string()));
}

// Closes a descriptor once, remembering whether it could.
int CloseOnce(int& fd) {
  if (fd < 0) return 0;
  const int rc = ::close(fd);
  fd = -1;
  return rc;
}

class PosixSequentialFile : public SequentialFile {
 public:
  PosixSequentialFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { CloseOnce(fd_); }

  absl::StatusOr<size_t> Read(size_t n, char* scratch) override {
    for (;;) {
      const ssize_t got = ::read(fd_, scratch, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return PosixError(errno, "cannot read", path_);
    }
  }

 private:
  std::filesystem::path path_;
  int fd_;
};

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::filesystem::path path, int fd) : WritableFile(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { CloseOnce(fd_); }

  WriteResult WriteSome(std::string_view data) override {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) return {.bytes = 0, .error = errno};
    return {.bytes = static_cast<size_t>(n), .error = 0};
  }
  absl::Status Sync() override {
    if (::fsync(fd_) != 0) return PosixError(errno, "cannot sync", path());
    return absl::OkStatus();
  }
  absl::Status SyncData() override {
    if (::fdatasync(fd_) != 0) return PosixError(errno, "cannot sync", path());
    return absl::OkStatus();
  }
  absl::Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return PosixError(errno, "cannot truncate", path());
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return PosixError(errno, "cannot stat", path());
    return static_cast<uint64_t>(st.st_size);
  }
  absl::Status Close() override {
    if (CloseOnce(fd_) != 0) return PosixError(errno, "cannot close", path());
    return absl::OkStatus();
  }

 private:
  int fd_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { CloseOnce(fd_); }

 private:
  int fd_;
};

int OpenFlags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kTruncate:
      return O_WRONLY | O_CREAT | O_TRUNC;
    case OpenMode::kExclusive:
      return O_WRONLY | O_CREAT | O_EXCL;
    case OpenMode::kAppend:
      return O_WRONLY | O_CREAT | O_APPEND;
    case OpenMode::kOverwrite:
      return O_WRONLY;
  }
  return O_WRONLY;
}

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(errno, "cannot open", path);
    return std::make_unique<PosixSequentialFile>(path, fd);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::filesystem::path& path, const WritableFileOptions& options) override {
    const std::string_view operation =
        options.mode == OpenMode::kOverwrite ? "cannot open" : "cannot create";
    const int nonblock = options.regular_file_only ? O_NONBLOCK | O_NOCTTY : 0;
    const int fd = ::open(path.c_str(), OpenFlags(options.mode) | O_CLOEXEC | nonblock,
                          static_cast<mode_t>(options.permissions));
    if (fd < 0) {
      // ENXIO: a FIFO without a reader, refused by O_NONBLOCK instead of waiting for one.
      if (errno == ENXIO && options.regular_file_only) {
        return absl::FailedPreconditionError(
            absl::StrCat(path.string(), " is a FIFO (named pipe), not a regular file"));
      }
      return PosixError(errno, operation, path);
    }
    if (options.regular_file_only) {
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        const int error = errno;
        ::close(fd);
        return PosixError(error, operation, path);
      }
      if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return absl::FailedPreconditionError(absl::StrCat(
            path.string(), " is ", S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)" : "a device",
            ", not a regular file"));
      }
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        const int error = errno;
        ::close(fd);
        return PosixError(error, operation, path);
      }
    }
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  absl::Status RenameFile(const std::filesystem::path& from,
                          const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("cannot rename ", from.string(), " to ", to.string()));
    }
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError(errno, "cannot remove", path);
    return absl::OkStatus();
  }

  absl::Status SyncDirectory(const std::filesystem::path& dir) override {
    const std::filesystem::path where = dir.empty() ? "." : dir;
    const int fd = ::open(where.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError(errno, "cannot open the directory", where);
    const int rc = ::fsync(fd);
    const int error = errno;
    ::close(fd);
    if (rc != 0) return PosixError(error, "cannot sync the directory", where);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> FileExists(const std::filesystem::path& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return PosixError(errno, "cannot stat", path);
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(errno, "cannot open", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      return PosixError(error, "cannot lock", path);
    }
    return std::make_unique<PosixFileLock>(fd);
  }
};

}  // namespace

std::string ErrnoText(int error) {
  char buffer[256] = {};
  return ErrorTextOf(::strerror_r(error, buffer, sizeof buffer), buffer);
}

absl::StatusOr<std::string> ReadToEnd(SequentialFile& file) {
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    absl::StatusOr<size_t> n = file.Read(sizeof buffer, buffer);
    if (!n.ok()) return n.status();
    if (*n == 0) return text;
    text.append(buffer, *n);
  }
}

absl::Status WritableFile::Append(std::string_view data) {
  while (!data.empty()) {
    const WriteResult result = WriteSome(data);
    if (result.error == EINTR) continue;
    if (result.error != 0) return PosixError(result.error, "cannot write", path_);
    // write(2) returns 0 for a non-empty buffer only when something is badly wrong.
    if (result.bytes == 0) return PosixError(EIO, "cannot write", path_);
    data.remove_prefix(result.bytes);
  }
  return absl::OkStatus();
}

FileSystem* FileSystem::Default() {
  static FileSystem* const posix = new PosixFileSystem();
  return posix;
}

}  // namespace koppel

#include "core/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace koppel {
namespace {

absl::Status SyncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(fmt::format("cannot open {}", dir.string()));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(fmt::format("cannot sync {}", dir.string()));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp-{}", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::ResourceExhaustedError(
          fmt::format("cannot write {}: {}", tmp.string(), std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return absl::DataLossError(fmt::format("cannot sync {}", tmp.string()));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(
        fmt::format("cannot rename {} to {}: {}", tmp.string(), path.string(), std::strerror(errno)));
  }
  return SyncDirectory(path.parent_path().empty() ? "." : path.parent_path());
}

}  // namespace koppel

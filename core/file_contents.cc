#include "core/file_contents.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.h"

namespace koppel {
namespace {

std::string_view KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "a special file";
}

std::string Prefix(std::string_view what) {
  return what.empty() ? std::string() : fmt::format("{} ", what);
}

}  // namespace

absl::StatusOr<int> OpenRegularFile(const std::filesystem::path& path, std::string_view what) {
  // O_NONBLOCK: opening a FIFO without a writer must not wait for one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, fmt::format("cannot read {}{}", Prefix(what), path.string()));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::ErrnoToStatus(error, fmt::format("cannot read {}{}", Prefix(what), path.string()));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(fmt::format(
        "{}{} is {}, not a regular file; {}", Prefix(what), path.string(), KindOf(st.st_mode),
        S_ISDIR(st.st_mode) ? "give the path of a file"
                            : "koppel reads only regular files, so copy the content into one"));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::ErrnoToStatus(error, fmt::format("cannot read {}{}", Prefix(what), path.string()));
  }
  return fd;
}

absl::StatusOr<std::string> ReadFileContents(const std::filesystem::path& path,
                                             std::string_view what) {
  absl::StatusOr<int> fd = OpenRegularFile(path, what);
  if (!fd.ok()) return fd.status();
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(*fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(*fd);
      return absl::DataLossError(
          fmt::format("read error in {}{}: {}", Prefix(what), path.string(), ErrnoText(error)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(*fd);
  return text;
}

}  // namespace koppel

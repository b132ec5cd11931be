#include "tests/testing/unprivileged.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace koppel::test {
namespace {

// Clears the capabilities that let a process ignore permission bits from the effective,
// permitted and inheritable sets of the calling process. False when the kernel refused.
bool DropPermissionOverride() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  const uint32_t dropped =
      (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER);
  data[0].effective &= ~dropped;
  data[0].permitted &= ~dropped;
  data[0].inheritable &= ~dropped;
  return ::syscall(SYS_capset, &header, data) == 0;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::Status RunWithoutPermissionOverride(const std::function<absl::Status()>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (!DropPermissionOverride()) ::_exit(2);
    const absl::Status status = body();
    // The child's answer: the status code as one byte, then the message.
    const std::string answer =
        std::string(1, static_cast<char>(status.code())) + std::string(status.message());
    ::_exit(WriteAll(pipe_fds[1], answer) ? 0 : 3);
  }
  ::close(pipe_fds[1]);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) {
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int wait_status = 0;
  ::waitpid(pid, &wait_status, 0);
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0 || answer.empty()) {
    return absl::InternalError(absl::StrCat(
        "the child without permission override failed (wait status ", wait_status, ")"));
  }
  return absl::Status(static_cast<absl::StatusCode>(static_cast<unsigned char>(answer[0])),
                      answer.substr(1));
}

}  // namespace koppel::test

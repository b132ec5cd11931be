#include "core/listener_watchdog.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace koppel {
namespace {

// The accept-queue length of `fd` when it is a listening TCP socket on `port`, else -1.
int64_t WaitingOn(int fd, int port) {
  int listening = 0;
  socklen_t size = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || !listening) {
    return -1;
  }
  sockaddr_storage address{};
  size = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return -1;
  int bound = -1;
  if (address.ss_family == AF_INET) {
    bound = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  } else if (address.ss_family == AF_INET6) {
    bound = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  if (bound != port) return -1;
  // For a listening socket Linux reports the accept queue's length in tcpi_unacked.
  tcp_info info{};
  size = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return -1;
  return info.tcpi_unacked;
}

}  // namespace

bool ListenerWatchdog::Check() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return false;  // out of descriptors ourselves: decide at a later check
  uint32_t waiting = 0;
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    const int64_t queued = WaitingOn(static_cast<int>(fd), port_);
    if (queued < 0) continue;
    found = true;
    waiting += static_cast<uint32_t>(queued);
  }
  ::closedir(dir);
  waiting_ = waiting;
  stalled_checks_ = found && waiting > 0 ? stalled_checks_ + 1 : 0;
  return stalled_checks_ >= checks_;
}

bool DescriptorAvailable() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

}  // namespace koppel

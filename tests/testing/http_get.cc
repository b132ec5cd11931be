#include "tests/testing/http_get.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace koppel::test {
namespace {

// Closes a socket when it goes out of scope.
class Socket {
 public:
  Socket() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in Loopback(int port) {
  sockaddr_in address;
  std::memset(&address, 0, sizeof(address));
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(fmt::format("{}: {}", what, std::strerror(errno)));
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path) {
  Socket socket;
  if (socket.fd() < 0) return Errno("socket");
  timeval timeout{10, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address = Loopback(port);
  if (::connect(socket.fd(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return Errno("connect");
  }
  const std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (::send(socket.fd(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return Errno("send");
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof(buffer), 0);
    if (n < 0) return Errno("recv");
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  const size_t end = response.find("\r\n\r\n");
  const size_t space = response.find(' ');
  HttpResponse parsed;
  if (end == std::string::npos || space == std::string::npos ||
      std::from_chars(response.data() + space + 1, response.data() + response.size(), parsed.status)
              .ec != std::errc()) {
    return absl::DataLossError(fmt::format("not an HTTP response: {}", response.substr(0, 200)));
  }
  parsed.headers = response.substr(0, end);
  parsed.body = response.substr(end + 4);
  return parsed;
}

absl::StatusOr<int> FreeLoopbackPort() {
  Socket socket;
  if (socket.fd() < 0) return Errno("socket");
  sockaddr_in address = Loopback(0);
  if (::bind(socket.fd(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return Errno("bind");
  }
  socklen_t length = sizeof(address);
  if (::getsockname(socket.fd(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return Errno("getsockname");
  }
  return ntohs(address.sin_port);
}

}  // namespace koppel::test

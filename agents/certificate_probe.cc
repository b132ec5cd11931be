#include "agents/certificate_probe.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string_view>

namespace koppel::agent {
namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string host;
  std::string port;
};

// host:port, [v6]:port, and the gRPC forms dns:///host:port, ipv4:..., ipv6:...
std::optional<Target> ParseAddress(std::string_view address) {
  for (std::string_view prefix : {"dns:///", "ipv4:", "ipv6:"}) {
    if (address.starts_with(prefix)) address.remove_prefix(prefix.size());
  }
  if (address.starts_with('[')) {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || address.substr(close + 1, 1) != ":") return std::nullopt;
    return Target{std::string(address.substr(1, close - 1)),
                  std::string(address.substr(close + 2))};
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return Target{std::string(address.substr(0, colon)), std::string(address.substr(colon + 1))};
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, RemainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// A non-blocking socket connected to `target`, or -1.
int Connect(const Target& target, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found) != 0) return -1;
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) return fd;
    if (errno == EINPROGRESS && WaitFor(fd, POLLOUT, deadline)) {
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) return fd;
    }
    ::close(fd);
  }
  return -1;
}

// The alerts a server sends when it does not accept the client's certificate.
bool IsCertificateRefusal(unsigned long error) {
  switch (ERR_GET_REASON(error)) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

absl::Status Refused(const std::string& service, const std::string& why, const TlsFiles& files) {
  return absl::UnauthenticatedError(fmt::format(
      "the {0} refused our certificate: {1}; check that {2} is issued by the CA the {0} trusts "
      "(the deployment's ca.crt, scripts/pki) and still valid, or ask the {0}'s operator",
      service, why, files.cert.string()));
}

enum class Outcome { kDone, kTimedOut, kRefused, kClosed, kFailed };

// Runs one non-blocking TLS call until it completes. kRefused sets *alert to the server's
// certificate alert; kClosed is a connection closed (or reset) without one.
template <typename Call>
Outcome Drive(SSL* ssl, int fd, Clock::time_point deadline, std::string* alert, Call call) {
  for (;;) {
    const int r = call();
    if (r > 0) return Outcome::kDone;
    const int error = SSL_get_error(ssl, r);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      if (!WaitFor(fd, error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return Outcome::kTimedOut;
      }
      continue;
    }
    Outcome outcome = error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL
                          ? Outcome::kClosed
                          : Outcome::kFailed;
    while (const unsigned long queued = ERR_get_error()) {
      if (outcome == Outcome::kRefused) continue;
      if (IsCertificateRefusal(queued)) {
        const char* reason = ERR_reason_error_string(queued);
        *alert = reason != nullptr ? reason : "a certificate alert";
        outcome = Outcome::kRefused;
      } else if (ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        outcome = Outcome::kClosed;
      }
    }
    return outcome;
  }
}

}  // namespace

absl::Status ProbeClientCertificate(const std::string& address, const TlsFiles& files,
                                    const std::string& service, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::optional<Target> target = ParseAddress(address);
  if (!target) return absl::OkStatus();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx || SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    ERR_clear_error();
    return absl::OkStatus();  // the credentials were read before; gRPC reports what else fails
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);  // as every koppel connection
  const int fd = Connect(*target, deadline);
  if (fd < 0) return absl::OkStatus();
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ::close(fd);
    return absl::OkStatus();
  }
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn);
  in6_addr ip;
  if (::inet_pton(AF_INET, target->host.c_str(), &ip) != 1 &&
      ::inet_pton(AF_INET6, target->host.c_str(), &ip) != 1) {
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(target->host.c_str()));
  }
  ERR_clear_error();
  // The handshake; then the HTTP/2 preface, which a server that took our certificate answers
  // with data. Under TLS 1.3 the server judges our certificate after our side of the handshake
  // is done, and gRPC closes the connection on a refusal, mostly without sending the alert.
  static constexpr char kPreface[] =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
  char buffer[256];
  SSL* s = ssl.get();
  std::string alert;
  Outcome outcome = Drive(s, fd, deadline, &alert, [&] { return SSL_connect(s); });
  const bool handshake_done = outcome == Outcome::kDone;
  if (handshake_done) {
    outcome =
        Drive(s, fd, deadline, &alert, [&] { return SSL_write(s, kPreface, sizeof kPreface - 1); });
  }
  if (outcome == Outcome::kDone) {
    outcome = Drive(s, fd, deadline, &alert, [&] { return SSL_read(s, buffer, sizeof buffer); });
  }
  ERR_clear_error();
  ::close(fd);
  if (outcome == Outcome::kRefused) {
    return Refused(service, alert, files);
  }
  if (outcome == Outcome::kClosed && handshake_done) {
    return Refused(service, "it closed the connection as soon as it had our certificate", files);
  }
  return absl::OkStatus();
}

}  // namespace koppel::agent

// Asks a koppel service, with a bare TLS handshake, whether it accepts this party's client
// certificate. Under TLS 1.3 a server refuses a client certificate after the client's side of
// the handshake is done, so gRPC reports the refusal only as "Socket closed", the same as an
// unreachable service; the probe reads the server's alert instead.
#ifndef KOPPEL_AGENTS_CERTIFICATE_PROBE_H_
#define KOPPEL_AGENTS_CERTIFICATE_PROBE_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "core/tls.h"

namespace koppel::agent {

// UNAUTHENTICATED "the <service> refused our certificate: <alert> (...)" when the service at
// `address` (host:port) answers our certificate with a TLS alert; OK when it accepts it, cannot
// be reached or does not answer within `timeout` (gRPC reports those).
absl::Status ProbeClientCertificate(const std::string& address, const TlsFiles& files,
                                    const std::string& service, std::chrono::milliseconds timeout);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_CERTIFICATE_PROBE_H_

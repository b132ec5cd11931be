// Runs a koppel gRPC service the way every koppel server runs: listening with mutual-TLS
// credentials, announcing its port (log line and optional port file, for scripts and tests that
// start it on port 0), and stopping cleanly on SIGTERM or SIGINT by finishing calls in flight.
// It also keeps the service reachable under hostile connections: TLS handshakes must finish
// within a few seconds, callers are admitted (or refused) before any of their messages is read,
// the memory for connections and requests is bounded, and a listener that stopped accepting
// (descriptors ran out) is replaced once descriptors are free again. It serves the standard
// gRPC health service (grpc.health.v1.Health): SERVING once listening, NOT_SERVING from a stop
// signal on, to any caller with a certificate of the deployment's CA. On SIGHUP it moves to new
// credentials without closing the port: a second listener on the same port (SO_REUSEPORT) with
// the new credentials starts, then the old one stops, its calls in flight given a grace period.
#ifndef KOPPEL_CORE_SERVICE_RUNNER_H_
#define KOPPEL_CORE_SERVICE_RUNNER_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace koppel {

// Blocks SIGTERM, SIGINT and SIGHUP (reload) for the calling thread and every thread it
// starts afterwards. Call first thing in a server's main, before gRPC or RocksDB start threads.
sigset_t BlockStopSignals();

// Whether the party named `peer` (its certificate's common name) may call `method` (the gRPC
// path, "/koppel.v1.LinkerService/Deliver"). A refusal says why; the caller gets it as
// PERMISSION_DENIED.
using AdmissionCheck = std::function<absl::Status(std::string_view peer, std::string_view method)>;

struct ServiceOptions {
  std::string name;  // "koppel-linker", for log lines
  // The gRPC service's full name ("koppel.v1.LinkerService"): the health service reports it
  // besides the server as a whole ("").
  std::string grpc_service;
  std::string listen;     // host:port, port 0 for any free port
  std::string port_file;  // optional: the port actually listened on is written here
  int max_receive_bytes = 4 << 20;
  // Memory gRPC may take for all connections and requests together (gRPC resource quota).
  int64_t memory_quota_bytes = 256 << 20;
  // A connection that has not finished its TLS handshake by then is closed.
  std::chrono::milliseconds handshake_timeout{5000};
  // A connection without calls for this long is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  // Unset: every caller with a certificate of the deployment's CA is admitted. Health checks
  // (grpc.health.v1.Health) are admitted without it: they tell nothing but whether the service
  // serves, and a monitor has a certificate of the CA but is no party.
  AdmissionCheck admit;
  // Called when a stop signal arrives, before the shutdown waits for the calls in progress: wakes
  // what handlers may be waiting for (the linker's household index builds).
  std::function<void()> on_stop;
  // SIGHUP: the credentials to serve with from now on (the certificate files read and checked
  // again), or why there are none, and then the current ones stay. Unset: SIGHUP is logged and
  // ignored.
  std::function<absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>()> reload_credentials;
  // How each reload ended: OK once only a listener with the new credentials accepts connections,
  // otherwise why the current credentials stay. Called from the serving loop, one at a time.
  std::function<void(const absl::Status&)> on_reload;
};

// Serves `service` until one of `stop_signals` arrives.
absl::Status ServeUntilStopped(grpc::Service* service,
                               std::shared_ptr<grpc::ServerCredentials> credentials,
                               const ServiceOptions& options, const sigset_t& stop_signals);

}  // namespace koppel

#endif  // KOPPEL_CORE_SERVICE_RUNNER_H_

// Runs a koppel gRPC service the way every koppel server runs: listening with mutual-TLS
// credentials, announcing its port (log line and optional port file, for scripts and tests that
// start it on port 0), and stopping cleanly on SIGTERM or SIGINT by finishing calls in flight.
#ifndef KOPPEL_CORE_SERVICE_RUNNER_H_
#define KOPPEL_CORE_SERVICE_RUNNER_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <string>

#include "absl/status/status.h"

namespace koppel {

// Blocks SIGTERM and SIGINT for the calling thread and every thread it starts afterwards. Call
// first thing in a server's main, before gRPC or RocksDB start threads.
sigset_t BlockStopSignals();

struct ServiceOptions {
  std::string name;       // "koppel-linker", for log lines
  std::string listen;     // host:port, port 0 for any free port
  std::string port_file;  // optional: the port actually listened on is written here
  int max_receive_bytes = 4 << 20;
};

// Serves `service` until one of `stop_signals` arrives.
absl::Status ServeUntilStopped(grpc::Service* service,
                               std::shared_ptr<grpc::ServerCredentials> credentials,
                               const ServiceOptions& options, const sigset_t& stop_signals);

}  // namespace koppel

#endif  // KOPPEL_CORE_SERVICE_RUNNER_H_

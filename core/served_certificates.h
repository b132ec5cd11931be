// The certificate a service serves with, and its renewal on SIGHUP (docs/operations.md,
// "Renewing certificates"): the files are read and checked again as at start, and the service
// moves to them only when they pass and its new listener runs; otherwise it keeps serving with
// the ones it has. Expiry warnings, the not-after metric and the service's own client
// credentials (the linker's, to the vault) follow what is served, not what is on disk.
#ifndef KOPPEL_CORE_SERVED_CERTIFICATES_H_
#define KOPPEL_CORE_SERVED_CERTIFICATES_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/metrics.h"
#include "core/secret.h"
#include "core/service_runner.h"
#include "core/tls.h"

namespace koppel {

class ServedCertificates {
 public:
  // Reads and checks `files` (ReadServerTlsFiles). `service` names the service in log lines and
  // metric labels ("linker"); warnings come `warn_days` before a certificate expires.
  static absl::StatusOr<std::unique_ptr<ServedCertificates>> Load(
      std::string service, const TlsFiles& files, int warn_days,
      MetricsRegistry* registry = &MetricsRegistry::Default());

  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  // This party's client credentials, with the certificate served now.
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
  absl::Time not_after() const;

  // Logs a warning for the served certificate and the CA's when they expire within the warning
  // days, an error when one has expired.
  void LogExpiry() const;

  // Sets options->reload_credentials and options->on_reload: a SIGHUP reads the files again.
  void HandleReloads(ServiceOptions* options);

 private:
  struct Served {
    std::string ca;
    std::string cert;
    std::shared_ptr<const Secret> key;  // the private key PEM: copies of Served share it
    absl::Time not_after;
    std::string serial;
  };

  // The PEMs of `served` for gRPC, which takes the key as a string: wiped by the caller
  // (WipeKey) once gRPC has its copy.
  static TlsPems PemsOf(const Served& served);
  static void WipeKey(TlsPems& pems);

  ServedCertificates(std::string service, TlsFiles files, int warn_days, MetricsRegistry* registry,
                     Served served);

  // The files read and checked again, kept as the candidate until Finish.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ReadAgain();
  // The candidate is served from now on (OK) or dropped; logs and counts either way.
  void Finish(const absl::Status& outcome);

  static absl::StatusOr<Served> Read(const TlsFiles& files);

  const std::string service_;
  const TlsFiles files_;
  const int warn_days_;
  MetricsRegistry* const registry_;
  mutable absl::Mutex mutex_;
  Served served_ ABSL_GUARDED_BY(mutex_);
  std::optional<Served> candidate_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace koppel

#endif  // KOPPEL_CORE_SERVED_CERTIFICATES_H_

#include "core/served_certificates.h"

#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <span>

#include "core/certificate_expiry.h"
#include "core/status_macros.h"

namespace koppel {

absl::StatusOr<ServedCertificates::Served> ServedCertificates::Read(const TlsFiles& files) {
  RETURN_IF_ERROR(RequireTls13());
  ASSIGN_OR_RETURN(TlsPems pems, ReadServerTlsFiles(files));
  absl::StatusOr<Secret> key = Secret::FromBytes(
      std::span(reinterpret_cast<const uint8_t*>(pems.key.data()), pems.key.size()));
  WipeKey(pems);
  if (!key.ok()) return key.status();
  Served served;
  served.ca = std::move(pems.ca);
  served.cert = std::move(pems.cert);
  served.key = std::make_shared<const Secret>(*std::move(key));
  ASSIGN_OR_RETURN(CertificateValidity validity, ParseCertificateValidity(files.cert, served.cert));
  served.not_after = validity.not_after;
  ASSIGN_OR_RETURN(served.serial, CertificateSerial(files.cert, served.cert));
  return served;
}

TlsPems ServedCertificates::PemsOf(const Served& served) {
  TlsPems pems{.ca = served.ca, .cert = served.cert, .key = {}};
  pems.key.assign(reinterpret_cast<const char*>(served.key->data()), served.key->size());
  return pems;
}

void ServedCertificates::WipeKey(TlsPems& pems) {
  sodium_memzero(pems.key.data(), pems.key.size());
  pems.key.clear();
}

absl::StatusOr<std::unique_ptr<ServedCertificates>> ServedCertificates::Load(
    std::string service, const TlsFiles& files, int warn_days, MetricsRegistry* registry) {
  ASSIGN_OR_RETURN(Served served, Read(files));
  return std::unique_ptr<ServedCertificates>(
      new ServedCertificates(std::move(service), files, warn_days, registry, std::move(served)));
}

ServedCertificates::ServedCertificates(std::string service, TlsFiles files, int warn_days,
                                       MetricsRegistry* registry, Served served)
    : service_(std::move(service)),
      files_(std::move(files)),
      warn_days_(warn_days),
      registry_(registry),
      served_(std::move(served)) {}

std::shared_ptr<grpc::ServerCredentials> ServedCertificates::ServerCredentials() const {
  absl::MutexLock lock(&mutex_);
  TlsPems pems = PemsOf(served_);
  std::shared_ptr<grpc::ServerCredentials> credentials = ServerCredentialsFrom(pems);
  WipeKey(pems);
  return credentials;
}

std::shared_ptr<grpc::ChannelCredentials> ServedCertificates::ChannelCredentials() const {
  absl::MutexLock lock(&mutex_);
  TlsPems pems = PemsOf(served_);
  std::shared_ptr<grpc::ChannelCredentials> credentials = ChannelCredentialsFrom(pems);
  WipeKey(pems);
  return credentials;
}

absl::Time ServedCertificates::not_after() const {
  absl::MutexLock lock(&mutex_);
  return served_.not_after;
}

void ServedCertificates::LogExpiry() const {
  TlsPems pems;  // certificates only: the expiry needs no key
  {
    absl::MutexLock lock(&mutex_);
    pems.ca = served_.ca;
    pems.cert = served_.cert;
  }
  absl::StatusOr<std::vector<std::string>> warnings =
      CertificateExpiryWarnings(files_, pems, warn_days_, absl::Now());
  if (!warnings.ok()) {
    spdlog::error("{}", std::string(warnings.status().message()));
    return;
  }
  for (const std::string& warning : *warnings) spdlog::warn("{}", warning);
}

void ServedCertificates::HandleReloads(ServiceOptions* options) {
  options->reload_credentials = [this] { return ReadAgain(); };
  options->on_reload = [this](const absl::Status& outcome) { Finish(outcome); };
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServedCertificates::ReadAgain() {
  ASSIGN_OR_RETURN(Served candidate, Read(files_));
  absl::MutexLock lock(&mutex_);
  candidate_ = std::move(candidate);
  TlsPems pems = PemsOf(*candidate_);
  std::shared_ptr<grpc::ServerCredentials> credentials = ServerCredentialsFrom(pems);
  WipeKey(pems);
  return credentials;
}

void ServedCertificates::Finish(const absl::Status& outcome) {
  std::optional<Served> candidate;
  Served current;
  {
    absl::MutexLock lock(&mutex_);
    candidate.swap(candidate_);
    if (outcome.ok() && candidate.has_value()) served_ = *candidate;
    current = served_;
  }
  const bool renewed = outcome.ok() && candidate.has_value();
  registry_
      ->GetCounter("koppel_certificate_reloads_total",
                   "Certificate reloads on SIGHUP, by outcome: renewed, or refused (the "
                   "service kept its certificate)",
                   {{"service", service_}, {"outcome", renewed ? "renewed" : "refused"}})
      .Increment();
  if (!renewed) {
    spdlog::error(
        "koppel-{}: refused the certificate files on SIGHUP and keeps serving certificate "
        "serial {} (valid until {}): {}",
        service_, current.serial, FormatCertificateDate(current.not_after),
        std::string(outcome.message()));
    return;
  }
  spdlog::info("koppel-{}: now serves certificate {} serial {} (valid until {})", service_,
               files_.cert.string(), current.serial, FormatCertificateDate(current.not_after));
  LogExpiry();
}

}  // namespace koppel

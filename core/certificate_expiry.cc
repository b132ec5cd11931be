#include "core/certificate_expiry.h"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <memory>
#include <tuple>

#include "absl/time/civil_time.h"
#include "core/file_contents.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

absl::StatusOr<absl::Time> ToTime(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return absl::InvalidArgumentError("unreadable validity date");
  }
  return absl::FromCivil(absl::CivilSecond(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                           tm.tm_min, tm.tm_sec),
                         absl::UTCTimeZone());
}

}  // namespace

std::string FormatCertificateDate(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", time, absl::UTCTimeZone());
}

absl::StatusOr<CertificateValidity> ParseCertificateValidity(const std::filesystem::path& path,
                                                             const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (!cert) {
    return absl::InvalidArgumentError(fmt::format("{} is not a PEM certificate", path.string()));
  }
  absl::StatusOr<absl::Time> not_before = ToTime(X509_get0_notBefore(cert.get()));
  absl::StatusOr<absl::Time> not_after = ToTime(X509_get0_notAfter(cert.get()));
  if (!not_before.ok() || !not_after.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the certificate's validity dates are unreadable", path.string()));
  }
  return CertificateValidity{*not_before, *not_after};
}

absl::Status CheckCertificateValidity(const std::filesystem::path& path,
                                      const CertificateValidity& validity, absl::Time now) {
  if (validity.not_after < now) {
    return absl::FailedPreconditionError(
        fmt::format("certificate {} expired on {}; issue a new one (scripts/pki)", path.string(),
                    FormatCertificateDate(validity.not_after)));
  }
  if (validity.not_before > now) {
    return absl::FailedPreconditionError(
        fmt::format("certificate {} is not valid before {}; check this machine's clock",
                    path.string(), FormatCertificateDate(validity.not_before)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CertificateExpiryWarnings(const TlsFiles& files,
                                                                   int warn_days, absl::Time now) {
  TlsPems pems;
  ASSIGN_OR_RETURN(pems.cert, ReadFileContents(files.cert));
  ASSIGN_OR_RETURN(pems.ca, ReadFileContents(files.ca));
  return CertificateExpiryWarnings(files, pems, warn_days, now);
}

absl::StatusOr<std::vector<std::string>> CertificateExpiryWarnings(const TlsFiles& files,
                                                                   const TlsPems& pems,
                                                                   int warn_days, absl::Time now) {
  std::vector<std::string> warnings;
  for (const auto& [path, pem, what] : {std::tuple{&files.cert, &pems.cert, "certificate"},
                                        std::tuple{&files.ca, &pems.ca, "CA certificate"}}) {
    ASSIGN_OR_RETURN(CertificateValidity validity, ParseCertificateValidity(*path, *pem));
    RETURN_IF_ERROR(CheckCertificateValidity(*path, validity, now));
    const absl::Duration left = validity.not_after - now;
    if (left >= absl::Hours(24) * warn_days) continue;
    warnings.push_back(fmt::format(
        "{} {} expires on {} (in {} days); issue a new one (scripts/pki) before then", what,
        path->string(), FormatCertificateDate(validity.not_after), absl::ToInt64Hours(left) / 24));
  }
  return warnings;
}

absl::StatusOr<std::string> CertificateSerial(const std::filesystem::path& path,
                                              const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  if (!cert || !out || i2a_ASN1_INTEGER(out.get(), X509_get0_serialNumber(cert.get())) <= 0) {
    return absl::InvalidArgumentError(fmt::format("{} is not a PEM certificate", path.string()));
  }
  char* text = nullptr;
  const long size = BIO_get_mem_data(out.get(), &text);
  return std::string(text, static_cast<size_t>(size));
}

absl::Status LogCertificateExpiry(const TlsFiles& files, int warn_days) {
  ASSIGN_OR_RETURN(std::vector<std::string> warnings,
                   CertificateExpiryWarnings(files, warn_days, absl::Now()));
  for (const std::string& warning : warnings) spdlog::warn("{}", warning);
  return absl::OkStatus();
}

}  // namespace koppel

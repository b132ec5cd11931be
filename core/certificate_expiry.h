// When the certificates a party uses (its own and the CA's) stop being valid, and the warnings
// its operator gets before that happens: an expired certificate fails every handshake, and the
// other end sees no more than a closed connection.
#ifndef KOPPEL_CORE_CERTIFICATE_EXPIRY_H_
#define KOPPEL_CORE_CERTIFICATE_EXPIRY_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/tls.h"

namespace koppel {

// Warn this many days before a certificate expires, unless --cert-warn-days says otherwise.
inline constexpr int kDefaultCertificateWarnDays = 30;

struct CertificateValidity {
  absl::Time not_before;
  absl::Time not_after;
};

// The validity period of the first certificate in a PEM text; `path` names it in errors.
absl::StatusOr<CertificateValidity> ParseCertificateValidity(const std::filesystem::path& path,
                                                             const std::string& pem);

// FAILED_PRECONDITION naming `path` and the date when `validity` does not cover `now`.
absl::Status CheckCertificateValidity(const std::filesystem::path& path,
                                      const CertificateValidity& validity, absl::Time now);

// Checks this party's certificate and the CA's at `now`. FAILED_PRECONDITION naming the file
// and the date when one of them has expired (or is not valid yet); otherwise one warning line
// for each that expires within `warn_days` days (none when `warn_days` is 0).
absl::StatusOr<std::vector<std::string>> CertificateExpiryWarnings(const TlsFiles& files,
                                                                   int warn_days, absl::Time now);

// The same for certificates already read: `pems.cert` from `files.cert`, `pems.ca` from
// `files.ca` (what a service serves, which a file replaced on disk does not change).
absl::StatusOr<std::vector<std::string>> CertificateExpiryWarnings(const TlsFiles& files,
                                                                   const TlsPems& pems,
                                                                   int warn_days, absl::Time now);

// The serial number of the first certificate in a PEM text, in hex as `openssl x509 -serial`
// prints it; `path` names it in errors.
absl::StatusOr<std::string> CertificateSerial(const std::filesystem::path& path,
                                              const std::string& pem);

// For the services: logs each warning of CertificateExpiryWarnings (at absl::Now()) and returns
// its error, for the caller to report.
absl::Status LogCertificateExpiry(const TlsFiles& files, int warn_days);

// A date as the warnings and errors print it: "2026-12-31 23:59 UTC".
std::string FormatCertificateDate(absl::Time time);

}  // namespace koppel

#endif  // KOPPEL_CORE_CERTIFICATE_EXPIRY_H_

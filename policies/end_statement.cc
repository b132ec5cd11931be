#include "policies/end_statement.h"

#include <fmt/format.h>
#include <sodium.h>

#include <array>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "core/hex.h"
#include "core/proto_time.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "policies/covenant_signature.h"

namespace koppel::policy {
namespace {

constexpr char kEndStatementDomain[] = "koppel/v1/end-covenant";

void AppendU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void AppendString(std::string* out, const std::string& s) {
  AppendU64(out, s.size());
  *out += s;
}

// The officer of `covenant` whose key is `public_key` (raw bytes), or nullptr.
const PrivacyOfficer* OfficerWithRawKey(const Covenant& covenant, const std::string& public_key) {
  return OfficerWithKey(
      covenant, ToHex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(public_key.data()),
                                               public_key.size())));
}

std::string UtcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

}  // namespace

int64_t EndStatementSeconds(const v1::EndCovenantRequest& request) {
  return request.has_end_time() ? request.end_time().seconds()
                                : request.legacy_ended_at_unix_seconds();
}

std::string EndStatementSignedBytes(const v1::EndCovenantRequest& request) {
  std::string out(kEndStatementDomain, sizeof kEndStatementDomain);  // includes the NUL
  AppendString(&out, request.covenant_id());
  AppendU64(&out, request.covenant_version());
  AppendU64(&out, static_cast<uint64_t>(EndStatementSeconds(request)));
  AppendString(&out, request.reason());
  return out;
}

absl::StatusOr<v1::EndCovenantRequest> SignEndStatement(const Covenant& covenant,
                                                        const Secret& officer_secret_key,
                                                        std::string reason, absl::Time now) {
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  RETURN_IF_ERROR(OfficerOfSecretKey(covenant, officer_secret_key, &public_key).status());
  v1::EndCovenantRequest request;
  request.set_officer_public_key(public_key.data(), public_key.size());
  request.set_covenant_id(covenant.id);
  request.set_covenant_version(covenant.version);
  *request.mutable_end_time() = ToProtoTimestamp(absl::FromUnixSeconds(absl::ToUnixSeconds(now)));
  request.set_legacy_ended_at_unix_seconds(absl::ToUnixSeconds(now));  // for older services
  request.set_reason(std::move(reason));
  const std::string message = EndStatementSignedBytes(request);
  std::array<uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       officer_secret_key.data());
  request.set_signature(signature.data(), signature.size());
  return request;
}

absl::StatusOr<std::string> VerifyEndStatement(const Covenant& covenant,
                                               const v1::EndCovenantRequest& request,
                                               absl::Time now) {
  RETURN_IF_ERROR(EnsureSodium());
  if (request.covenant_id() != covenant.id) {
    return WithServiceRule(
        absl::FailedPreconditionError(fmt::format(
            "the end statement is for covenant '{}', this service serves covenant {}; sign a "
            "statement for {}",
            request.covenant_id(), covenant.id, covenant.id)),
        "covenant_binding", covenant.id);
  }
  if (request.covenant_version() != covenant.version) {
    return WithCovenantRule(
        absl::FailedPreconditionError(fmt::format(
            "the end statement is for covenant {} version {}, this service serves version {}; sign "
            "a statement with the covenant file of version {}",
            covenant.id, request.covenant_version(), covenant.version, covenant.version)),
        "version", covenant.id, covenant.version);
  }
  const PrivacyOfficer* officer = nullptr;
  if (request.officer_public_key().size() == crypto_sign_PUBLICKEYBYTES) {
    officer = OfficerWithRawKey(covenant, request.officer_public_key());
  }
  if (officer == nullptr) {
    return WithCovenantRule(
        absl::PermissionDeniedError(fmt::format(
            "the end statement for covenant {} is signed by a key that is no privacy officer's of "
            "it; only an officer listed under privacy_officers may end it",
            covenant.id)),
        "privacy_officers", covenant.id, covenant.version);
  }
  const std::string message = EndStatementSignedBytes(request);
  if (request.signature().size() != crypto_sign_BYTES ||
      crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(request.signature().data()),
          reinterpret_cast<const unsigned char*>(message.data()), message.size(),
          reinterpret_cast<const unsigned char*>(request.officer_public_key().data())) != 0) {
    return WithServiceRule(
        absl::UnauthenticatedError(fmt::format(
            "the end statement for covenant {} claims to be signed by {} ({}) but its signature "
            "does not verify; {} must sign a new one with koppel covenant end",
            covenant.id, officer->name, officer->organisation, officer->name)),
        "end_statement_signature", covenant.id);
  }
  const absl::Time dated = absl::FromUnixSeconds(EndStatementSeconds(request));
  if (dated > now + kEndStatementMaxFuture) {
    return WithServiceRule(
        absl::FailedPreconditionError(fmt::format(
            "the end statement for covenant {} is dated {}, more than {} ahead of this service's "
            "clock ({}); check the clocks, then sign a new one",
            covenant.id, UtcTime(dated), absl::FormatDuration(kEndStatementMaxFuture),
            UtcTime(now))),
        "end_statement_window", covenant.id);
  }
  if (dated < now - kEndStatementMaxAge) {
    return WithServiceRule(
        absl::FailedPreconditionError(fmt::format(
            "the end statement for covenant {} is dated {}, older than the replay window of {} "
            "days; sign a new one with koppel covenant end",
            covenant.id, UtcTime(dated), absl::ToInt64Hours(kEndStatementMaxAge) / 24)),
        "end_statement_window", covenant.id);
  }
  return officer->name;
}

}  // namespace koppel::policy

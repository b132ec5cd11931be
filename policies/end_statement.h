// A privacy officer's signed instruction to end a covenant early (`koppel covenant end`): the
// linker deletes the covenant's data and the vault destroys its keys when an officer the
// covenant lists has signed it. The signature covers EndStatementSignedBytes, which binds the
// covenant id and version, the time and the reason, so a statement cannot be replayed for
// another covenant or, outside a short window, later.
#ifndef KOPPEL_POLICIES_END_STATEMENT_H_
#define KOPPEL_POLICIES_END_STATEMENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/secret.h"
#include "koppel/v1/covenant.pb.h"
#include "policies/covenant.h"

namespace koppel::policy {

// How far a statement's time may lie ahead of the verifier's clock, and how old it may be.
inline constexpr absl::Duration kEndStatementMaxFuture = absl::Hours(1);
inline constexpr absl::Duration kEndStatementMaxAge = absl::Hours(24 * 7);

// When the officer signed, in Unix seconds: end_time, or for a statement from before it,
// legacy_ended_at_unix_seconds. The signature covers this number.
int64_t EndStatementSeconds(const v1::EndCovenantRequest& request);

// "koppel/v1/end-covenant" NUL, then the length-prefixed covenant id, the version, the time
// (unix seconds) and the length-prefixed reason, integers as 8 bytes little-endian.
std::string EndStatementSignedBytes(const v1::EndCovenantRequest& request);

// The statement ending `covenant` at `now` for `reason`, signed with an officer's 64-byte
// Ed25519 secret key; PERMISSION_DENIED when the key is no officer's of the covenant.
absl::StatusOr<v1::EndCovenantRequest> SignEndStatement(const Covenant& covenant,
                                                        const Secret& officer_secret_key,
                                                        std::string reason, absl::Time now);

// The name of the officer who signed `request` when it ends `covenant` and is valid at `now`.
// Refuses another covenant id or version (FAILED_PRECONDITION), a key that is no officer's
// (PERMISSION_DENIED), a bad signature (UNAUTHENTICATED), and a statement dated more than
// kEndStatementMaxFuture ahead or older than kEndStatementMaxAge (FAILED_PRECONDITION).
absl::StatusOr<std::string> VerifyEndStatement(const Covenant& covenant,
                                               const v1::EndCovenantRequest& request,
                                               absl::Time now);

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_END_STATEMENT_H_

// The privacy officers' signatures of a covenant file, kept beside it in `<file>.sig`
// (ARCHITECTURE section 6). Every officer the covenant lists signs the SHA-256 of the file's
// exact bytes with Ed25519, over "koppel/v1/covenant" NUL || the 32 raw digest bytes. Services
// load a covenant only through LoadSignedCovenant, so an unsigned, partly signed or edited
// covenant never takes effect.
#ifndef KOPPEL_POLICIES_COVENANT_SIGNATURE_H_
#define KOPPEL_POLICIES_COVENANT_SIGNATURE_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/secret.h"
#include "policies/covenant.h"

namespace koppel::policy {

// The officer of `covenant` whose public key (hex, any case) is `public_key_hex`, or null.
const PrivacyOfficer* OfficerWithKey(const Covenant& covenant, std::string_view public_key_hex);

// The officer whose key pair `officer_secret_key` (a 64-byte Ed25519 secret key) is, with its
// public key in `public_key`: INVALID_ARGUMENT for a key of another size, PERMISSION_DENIED
// naming the listed officers for a key that is no officer's.
absl::StatusOr<const PrivacyOfficer*> OfficerOfSecretKey(const Covenant& covenant,
                                                         const Secret& officer_secret_key,
                                                         std::array<uint8_t, 32>* public_key);

// `covenant_file` with ".sig" appended.
std::filesystem::path SignaturePath(const std::filesystem::path& covenant_file);

// Hex SHA-256 of a covenant file's exact bytes: what the officers sign.
std::string CovenantSha256Hex(std::string_view file_bytes);

// One officer's entry in a .sig file (hex as written there).
struct CovenantSignature {
  std::string officer;
  std::string public_key;
  std::string signature;
};

// The content of a .sig file.
struct SignatureFile {
  std::string covenant_id;
  uint32_t version = 0;
  std::string sha256;  // hex
  std::vector<CovenantSignature> signatures;
};

// Reads a .sig file's text; errors name `source_name`, line and key.
absl::StatusOr<SignatureFile> ParseSignatureFile(std::string_view yaml,
                                                 std::string_view source_name);
// Writes it back (with the "Do not edit" header).
std::string FormatSignatureFile(const SignatureFile& file);

// The signature of `officer_secret_key` (64-byte Ed25519 secret key) over `file_bytes`, under
// the name of the officer of `covenant` it belongs to; PERMISSION_DENIED when it belongs to no
// officer of the covenant.
absl::StatusOr<CovenantSignature> SignCovenantBytes(const Covenant& covenant,
                                                    std::string_view file_bytes,
                                                    const Secret& officer_secret_key);

// The state of a covenant's signatures.
struct SignatureReview {
  std::vector<std::string> valid;    // officers whose signature verifies over the bytes
  std::vector<std::string> missing;  // officers without a signature
  // The first problem other than a missing signature (another covenant or version, edited
  // bytes, a bad signature, a key that is no officer's); OK when there is none.
  absl::Status problem;
};

// Checks `sig` against `covenant` parsed from `file_bytes`; `covenant_name` names the covenant
// file in messages. Pure: reads nothing from disk.
SignatureReview ReviewCovenantSignatures(const Covenant& covenant, std::string_view file_bytes,
                                         const SignatureFile& sig, std::string_view covenant_name);

// The officers who signed when every officer's signature verifies; otherwise the refusal
// LoadSignedCovenant returns (FAILED_PRECONDITION, UNAUTHENTICATED for a signature that does
// not verify), naming `covenant_name` and what to do.
absl::StatusOr<std::vector<std::string>> CheckCovenantSignatures(const Covenant& covenant,
                                                                 std::string_view file_bytes,
                                                                 const SignatureFile& sig,
                                                                 std::string_view covenant_name);

struct SignOptions {
  // Discard the signatures of an earlier version of the file instead of refusing to sign.
  bool restart = false;
};

// Adds (or replaces) the signature of the officer whose key `officer_secret_key` is to
// `covenant_file`'s .sig, creating it when missing, and returns the state afterwards. The
// covenant must be valid (placeholders refused). Refuses (FAILED_PRECONDITION) when the .sig
// holds signatures of other bytes, unless `options.restart`; PERMISSION_DENIED when the key
// belongs to no officer.
absl::StatusOr<SignatureReview> SignCovenantFile(const std::filesystem::path& covenant_file,
                                                 const Secret& officer_secret_key,
                                                 SignOptions options = {});

// A covenant every officer has signed, as services use it.
struct SignedCovenant {
  Covenant covenant;
  std::string sha256;  // hex, of the file's bytes
  std::filesystem::path path;
  std::vector<std::string> signed_by;
};

// The only way services load a covenant: parses it and checks its .sig (see
// CheckCovenantSignatures). Dates are not checked: services decide what in force means.
absl::StatusOr<SignedCovenant> LoadSignedCovenant(const std::filesystem::path& covenant_file);

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_COVENANT_SIGNATURE_H_

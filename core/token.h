// The koppel/v1 token scheme in HMAC mode (ARCHITECTURE section 2, fixed):
//   K_kind = HKDF-SHA256(IKM = K_cov, salt = "", info = "koppel/v1/" + kind, L = 32)
//   token  = HMAC-SHA256(K_kind, canonical form)
// A Tokenizer is built from a covenant key and keeps only the two derived keys.
#ifndef KOPPEL_CORE_TOKEN_H_
#define KOPPEL_CORE_TOKEN_H_

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/hmac.h"
#include "core/secret.h"

namespace koppel {

enum class IdentifierKind { kBsn, kAddress };

std::string_view IdentifierKindName(IdentifierKind kind);  // "bsn" or "address"
std::optional<IdentifierKind> IdentifierKindFromName(std::string_view name);

inline constexpr size_t kCovenantKeySize = 32;
using Token = Digest256;

class Tokenizer {
 public:
  // Derives the per-kind keys from K_cov. The caller may drop K_cov afterwards.
  static absl::StatusOr<Tokenizer> Create(const Secret& covenant_key);

  // `canonical` must already be canonical (ParseBsn / ParseAddress output).
  Token Tokenize(IdentifierKind kind, std::string_view canonical) const {
    return (kind == IdentifierKind::kBsn ? bsn_ : address_).Mac(canonical);
  }

 private:
  Tokenizer(HmacSha256Key bsn, HmacSha256Key address)
      : bsn_(std::move(bsn)), address_(std::move(address)) {}
  HmacSha256Key bsn_;
  HmacSha256Key address_;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_TOKEN_H_

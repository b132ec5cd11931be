#include "core/token.h"

#include <string>

#include "core/status_macros.h"

namespace koppel {

std::string_view IdentifierKindName(IdentifierKind kind) {
  return kind == IdentifierKind::kBsn ? "bsn" : "address";
}

std::optional<IdentifierKind> IdentifierKindFromName(std::string_view name) {
  if (name == "bsn") return IdentifierKind::kBsn;
  if (name == "address") return IdentifierKind::kAddress;
  return std::nullopt;
}

namespace {

absl::StatusOr<HmacSha256Key> DeriveKindKey(const Secret& covenant_key, IdentifierKind kind) {
  std::string info = "koppel/v1/";
  info += IdentifierKindName(kind);
  ASSIGN_OR_RETURN(Secret kind_key, HkdfSha256(covenant_key.span(), {}, info, kCovenantKeySize));
  return HmacSha256Key::Create(kind_key.span());
}

}  // namespace

absl::StatusOr<Tokenizer> Tokenizer::Create(const Secret& covenant_key) {
  if (covenant_key.size() != kCovenantKeySize) {
    return absl::InvalidArgumentError("a covenant key must be exactly 32 bytes");
  }
  ASSIGN_OR_RETURN(HmacSha256Key bsn, DeriveKindKey(covenant_key, IdentifierKind::kBsn));
  ASSIGN_OR_RETURN(HmacSha256Key address, DeriveKindKey(covenant_key, IdentifierKind::kAddress));
  return Tokenizer(std::move(bsn), std::move(address));
}

}  // namespace koppel

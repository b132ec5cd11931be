#include "policies/covenant_signature.h"

#include <fmt/format.h>
#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "core/atomic_file.h"
#include "core/file_contents.h"
#include "core/hex.h"
#include "core/status_macros.h"
#include "core/yaml_reader.h"

namespace koppel::policy {
namespace {

constexpr char kCovenantSignatureDomain[] = "koppel/v1/covenant";
constexpr std::string_view kSignHint = "koppel policy sign --key OFFICER_KEY";

using Digest = std::array<uint8_t, crypto_hash_sha256_BYTES>;

Digest Sha256(std::string_view bytes) {
  Digest digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  return digest;
}

// "koppel/v1/covenant" NUL || the 32 raw bytes of the file's SHA-256.
std::string SignedMessage(std::string_view file_bytes) {
  std::string out(kCovenantSignatureDomain, sizeof kCovenantSignatureDomain);  // with the NUL
  const Digest digest = Sha256(file_bytes);
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

bool SameHex(std::string_view a, std::string_view b) {
  return absl::AsciiStrToLower(std::string(a)) == absl::AsciiStrToLower(std::string(b));
}

std::string OfficerNames(const Covenant& covenant) {
  std::vector<std::string> names;
  for (const auto& [name, officer] : covenant.privacy_officers) {
    names.push_back(fmt::format("{} ({})", name, officer.organisation));
  }
  return fmt::format("{}", fmt::join(names, ", "));
}

bool Verifies(std::string_view file_bytes, std::string_view public_key_hex,
              std::string_view signature_hex) {
  absl::StatusOr<std::vector<uint8_t>> key = FromHex(public_key_hex);
  absl::StatusOr<std::vector<uint8_t>> signature = FromHex(signature_hex);
  if (!key.ok() || !signature.ok() || key->size() != crypto_sign_PUBLICKEYBYTES ||
      signature->size() != crypto_sign_BYTES) {
    return false;
  }
  const std::string message = SignedMessage(file_bytes);
  return crypto_sign_verify_detached(signature->data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), key->data()) == 0;
}

absl::StatusOr<std::string> HexField(const YamlReader& reader, const YAML::Node& node,
                                     std::string_view path, size_t bytes) {
  ASSIGN_OR_RETURN(std::string text, reader.Scalar(node, path));
  absl::StatusOr<std::vector<uint8_t>> raw = FromHex(text);
  if (!raw.ok() || raw->size() != bytes) {
    return reader.Error(node, path, fmt::format("expected {} hex characters", 2 * bytes));
  }
  return text;
}

}  // namespace

std::filesystem::path SignaturePath(const std::filesystem::path& covenant_file) {
  std::filesystem::path sig = covenant_file;
  sig += ".sig";
  return sig;
}

std::string CovenantSha256Hex(std::string_view file_bytes) { return ToHex(Sha256(file_bytes)); }

absl::StatusOr<SignatureFile> ParseSignatureFile(std::string_view yaml,
                                                 std::string_view source_name) {
  const YamlReader reader(source_name,
                          {"expected a mapping", "unknown key '{key}'; allowed: {allowed}"});
  try {
    ASSIGN_OR_RETURN(const YAML::Node root, reader.Load(yaml));
    RETURN_IF_ERROR(reader.ExpectMap(root, "", {"covenant", "version", "sha256", "signatures"},
                                     {"covenant", "version", "sha256", "signatures"}));
    SignatureFile file;
    ASSIGN_OR_RETURN(file.covenant_id, reader.Scalar(root["covenant"], "covenant"));
    ASSIGN_OR_RETURN(int64_t version,
                     reader.Int(root["version"], "version", "expected a whole number >= 1"));
    if (version < 1 || version > UINT32_MAX) {
      return reader.Error(root["version"], "version", "expected a whole number >= 1");
    }
    file.version = static_cast<uint32_t>(version);
    ASSIGN_OR_RETURN(file.sha256,
                     HexField(reader, root["sha256"], "sha256", crypto_hash_sha256_BYTES));
    const YAML::Node signatures = root["signatures"];
    if (!signatures.IsSequence()) {
      return reader.Error(signatures, "signatures", "expected a list");
    }
    for (size_t i = 0; i < signatures.size(); ++i) {
      const std::string path = YamlReader::At("signatures", i);
      const YAML::Node entry = signatures[i];
      RETURN_IF_ERROR(reader.ExpectMap(entry, path, {"officer", "public_key", "signature"},
                                       {"officer", "public_key", "signature"}));
      CovenantSignature signature;
      ASSIGN_OR_RETURN(signature.officer,
                       reader.Scalar(entry["officer"], YamlReader::Join(path, "officer")));
      ASSIGN_OR_RETURN(signature.public_key,
                       HexField(reader, entry["public_key"], YamlReader::Join(path, "public_key"),
                                crypto_sign_PUBLICKEYBYTES));
      ASSIGN_OR_RETURN(signature.signature,
                       HexField(reader, entry["signature"], YamlReader::Join(path, "signature"),
                                crypto_sign_BYTES));
      file.signatures.push_back(std::move(signature));
    }
    return file;
  } catch (const YAML::Exception& e) {
    return reader.NotValidYaml(e);
  }
}

std::string FormatSignatureFile(const SignatureFile& file) {
  YAML::Emitter out;
  out << YAML::Comment(
      "Signatures of the covenant file beside this one (koppel policy sign). Do not edit.");
  out << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "covenant" << YAML::Value << file.covenant_id;
  out << YAML::Key << "version" << YAML::Value << file.version;
  out << YAML::Key << "sha256" << YAML::Value << YAML::DoubleQuoted << file.sha256;
  out << YAML::Key << "signatures" << YAML::Value << YAML::BeginSeq;
  for (const CovenantSignature& signature : file.signatures) {
    out << YAML::BeginMap;
    out << YAML::Key << "officer" << YAML::Value << signature.officer;
    out << YAML::Key << "public_key" << YAML::Value << YAML::DoubleQuoted << signature.public_key;
    out << YAML::Key << "signature" << YAML::Value << YAML::DoubleQuoted << signature.signature;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

const PrivacyOfficer* OfficerWithKey(const Covenant& covenant, std::string_view public_key_hex) {
  for (const auto& [name, officer] : covenant.privacy_officers) {
    if (SameHex(officer.public_key, public_key_hex)) return &officer;
  }
  return nullptr;
}

absl::StatusOr<const PrivacyOfficer*> OfficerOfSecretKey(const Covenant& covenant,
                                                         const Secret& officer_secret_key,
                                                         std::array<uint8_t, 32>* public_key) {
  RETURN_IF_ERROR(EnsureSodium());
  if (officer_secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError(fmt::format(
        "an officer's key is a {}-byte Ed25519 secret key, this one has {} bytes; make one with "
        "koppel policy keygen",
        crypto_sign_SECRETKEYBYTES, officer_secret_key.size()));
  }
  crypto_sign_ed25519_sk_to_pk(public_key->data(), officer_secret_key.data());
  const PrivacyOfficer* officer = OfficerWithKey(covenant, ToHex(*public_key));
  if (officer == nullptr) {
    return absl::PermissionDeniedError(fmt::format(
        "this key belongs to no privacy officer of covenant {}; listed: {} (use the key whose "
        ".pub is under privacy_officers, or ask the covenant's authors to list yours)",
        covenant.id, OfficerNames(covenant)));
  }
  return officer;
}

absl::StatusOr<CovenantSignature> SignCovenantBytes(const Covenant& covenant,
                                                    std::string_view file_bytes,
                                                    const Secret& officer_secret_key) {
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  ASSIGN_OR_RETURN(const PrivacyOfficer* officer,
                   OfficerOfSecretKey(covenant, officer_secret_key, &public_key));
  const std::string public_hex = ToHex(public_key);
  const std::string message = SignedMessage(file_bytes);
  std::array<uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       officer_secret_key.data());
  return CovenantSignature{officer->name, public_hex, ToHex(signature)};
}

SignatureReview ReviewCovenantSignatures(const Covenant& covenant, std::string_view file_bytes,
                                         const SignatureFile& sig, std::string_view covenant_name) {
  SignatureReview review;
  const std::string sig_name = fmt::format("{}.sig", covenant_name);
  auto missing_all_but_valid = [&] {
    for (const auto& [name, officer] : covenant.privacy_officers) {
      if (std::find(review.valid.begin(), review.valid.end(), name) == review.valid.end()) {
        review.missing.push_back(name);
      }
    }
  };
  if (sig.covenant_id != covenant.id || sig.version != covenant.version) {
    review.problem = absl::FailedPreconditionError(fmt::format(
        "{} holds signatures of covenant {} version {}, but {} is covenant {} version {}; every "
        "officer must sign this covenant ({} --restart {})",
        sig_name, sig.covenant_id, sig.version, covenant_name, covenant.id, covenant.version,
        kSignHint, covenant_name));
    missing_all_but_valid();
    return review;
  }
  if (!SameHex(sig.sha256, CovenantSha256Hex(file_bytes))) {
    review.problem = absl::FailedPreconditionError(fmt::format(
        "{} (covenant {} version {}) changed after it was signed: its SHA-256 is not the one in "
        "{}; every officer must sign it again ({} --restart {}), or restore the signed file",
        covenant_name, covenant.id, covenant.version, sig_name, kSignHint, covenant_name));
    missing_all_but_valid();
    return review;
  }
  auto note = [&](absl::Status status) {
    if (review.problem.ok()) review.problem = std::move(status);
  };
  for (const CovenantSignature& entry : sig.signatures) {
    auto officer = covenant.privacy_officers.find(entry.officer);
    const PrivacyOfficer* key_owner = OfficerWithKey(covenant, entry.public_key);
    if (officer == covenant.privacy_officers.end()) {
      note(absl::FailedPreconditionError(fmt::format(
          "{} holds a signature by '{}', who is no privacy officer of covenant {} (listed: {}); "
          "sign again with {} --restart {}",
          sig_name, entry.officer, covenant.id, OfficerNames(covenant), kSignHint, covenant_name)));
      continue;
    }
    if (key_owner == nullptr) {
      note(absl::FailedPreconditionError(fmt::format(
          "{} holds a signature for {} by a key that is no privacy officer's of covenant {}; {} "
          "must sign with the key listed under privacy_officers ({} {})",
          sig_name, entry.officer, covenant.id, entry.officer, kSignHint, covenant_name)));
      continue;
    }
    if (key_owner != &officer->second) {
      note(absl::FailedPreconditionError(fmt::format(
          "{} holds a signature for {} made with the key of {}; {} must sign with their own key "
          "({} {})",
          sig_name, entry.officer, key_owner->name, entry.officer, kSignHint, covenant_name)));
      continue;
    }
    if (std::find(review.valid.begin(), review.valid.end(), entry.officer) != review.valid.end()) {
      note(absl::FailedPreconditionError(
          fmt::format("{} holds two signatures of {}; sign again with {} --restart {}", sig_name,
                      entry.officer, kSignHint, covenant_name)));
      continue;
    }
    if (!Verifies(file_bytes, officer->second.public_key, entry.signature)) {
      note(absl::UnauthenticatedError(fmt::format(
          "the signature of {} ({}) in {} does not verify over {}; {} must sign again ({} {})",
          entry.officer, officer->second.organisation, sig_name, covenant_name, entry.officer,
          kSignHint, covenant_name)));
      continue;
    }
    review.valid.push_back(entry.officer);
  }
  std::sort(review.valid.begin(), review.valid.end());
  missing_all_but_valid();
  return review;
}

absl::StatusOr<std::vector<std::string>> CheckCovenantSignatures(const Covenant& covenant,
                                                                 std::string_view file_bytes,
                                                                 const SignatureFile& sig,
                                                                 std::string_view covenant_name) {
  SignatureReview review = ReviewCovenantSignatures(covenant, file_bytes, sig, covenant_name);
  if (!review.problem.ok()) return review.problem;
  if (!review.missing.empty()) {
    std::vector<std::string> missing;
    for (const std::string& name : review.missing) {
      missing.push_back(
          fmt::format("{} ({})", name, covenant.privacy_officers.find(name)->second.organisation));
    }
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} version {} ({}) is not signed by {} yet; {} of {} officers signed; each "
        "officer runs {} {}",
        covenant.id, covenant.version, covenant_name, fmt::join(missing, ", "), review.valid.size(),
        covenant.privacy_officers.size(), kSignHint, covenant_name));
  }
  return review.valid;
}

absl::StatusOr<SignatureReview> SignCovenantFile(const std::filesystem::path& covenant_file,
                                                 const Secret& officer_secret_key,
                                                 SignOptions options) {
  const std::string name = covenant_file.string();
  ASSIGN_OR_RETURN(std::string bytes, ReadFileContents(covenant_file));
  ASSIGN_OR_RETURN(Covenant covenant, ParseCovenant(bytes, name));
  ASSIGN_OR_RETURN(CovenantSignature signature,
                   SignCovenantBytes(covenant, bytes, officer_secret_key));

  const std::filesystem::path sig_path = SignaturePath(covenant_file);
  SignatureFile sig{covenant.id, covenant.version, CovenantSha256Hex(bytes), {}};
  std::error_code ec;
  if (std::filesystem::exists(sig_path, ec) && !options.restart) {
    ASSIGN_OR_RETURN(std::string sig_text, ReadFileContents(sig_path));
    absl::StatusOr<SignatureFile> existing = ParseSignatureFile(sig_text, sig_path.string());
    if (!existing.ok()) {
      return absl::FailedPreconditionError(fmt::format(
          "{}; the other officers' signatures cannot be kept: sign with --restart to start "
          "over, then every officer signs again",
          std::string(existing.status().message())));
    }
    if (existing->covenant_id != sig.covenant_id || existing->version != sig.version ||
        !SameHex(existing->sha256, sig.sha256)) {
      std::vector<std::string> signers;
      for (const CovenantSignature& s : existing->signatures) signers.push_back(s.officer);
      return absl::FailedPreconditionError(fmt::format(
          "{} changed since {} signed it (covenant {} version {} then, the SHA-256 differs); "
          "their signatures are for other bytes, so they must sign again: sign with --restart "
          "to discard them and start over",
          name,
          signers.empty() ? std::string("the others") : fmt::format("{}", fmt::join(signers, ", ")),
          existing->covenant_id, existing->version));
    }
    for (CovenantSignature& s : existing->signatures) {
      if (s.officer != signature.officer) sig.signatures.push_back(std::move(s));
    }
  }
  sig.signatures.push_back(signature);
  std::sort(
      sig.signatures.begin(), sig.signatures.end(),
      [](const CovenantSignature& a, const CovenantSignature& b) { return a.officer < b.officer; });
  RETURN_IF_ERROR(WriteFileAtomically(sig_path, FormatSignatureFile(sig)));
  return ReviewCovenantSignatures(covenant, bytes, sig, name);
}

absl::StatusOr<SignedCovenant> LoadSignedCovenant(const std::filesystem::path& covenant_file) {
  const std::string name = covenant_file.string();
  ASSIGN_OR_RETURN(std::string bytes, ReadFileContents(covenant_file));
  ASSIGN_OR_RETURN(Covenant covenant, ParseCovenant(bytes, name));
  const std::filesystem::path sig_path = SignaturePath(covenant_file);
  std::error_code ec;
  if (!std::filesystem::exists(sig_path, ec)) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} version {} ({}) is not signed: {} is missing; each privacy officer runs {} "
        "{}",
        covenant.id, covenant.version, name, sig_path.string(), kSignHint, name));
  }
  absl::StatusOr<std::string> sig_text = ReadFileContents(sig_path);
  if (!sig_text.ok()) return absl::FailedPreconditionError(sig_text.status().message());
  absl::StatusOr<SignatureFile> sig = ParseSignatureFile(*sig_text, sig_path.string());
  if (!sig.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "{}; the signatures of {} cannot be read: every officer signs again ({} --restart {})",
        std::string(sig.status().message()), name, kSignHint, name));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> signed_by,
                   CheckCovenantSignatures(covenant, bytes, *sig, name));
  SignedCovenant result{std::move(covenant), CovenantSha256Hex(bytes), covenant_file,
                        std::move(signed_by)};
  return result;
}

}  // namespace koppel::policy

// `koppel policy`: what a privacy officer does with a covenant before it takes effect. Make a
// signing key (keygen), fill the parties' public keys into a template (fill-keys), check and
// read it (validate, explain), sign it (sign) and check that services will accept it (verify).
#include <sodium.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "cli/cli_errors.h"
#include "core/file_contents.h"
#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/hex.h"
#include "core/key_file.h"
#include "policies/covenant.h"
#include "policies/covenant_explain.h"
#include "policies/covenant_signature.h"

namespace koppel {
namespace {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitInvalid = 3,     // a covenant, template or key: invalid or unreadable
  kExitOutput = 4,      // an output file cannot be written
  kExitUnsigned = 5,    // not (validly) signed by every officer
  kExitNotOfficer = 7,  // the key belongs to no officer of the covenant
  kExitNotInForce = 8,  // expired or not yet valid
};

constexpr std::string_view kKeygenExitCodes =
    "Exit codes:\n"
    "  0  FILE and FILE.pub are written\n"
    "  2  usage: bad or missing flags\n"
    "  4  FILE or FILE.pub exists already or cannot be written\n"
    "  1  anything else";
constexpr std::string_view kFillKeysExitCodes =
    "Exit codes:\n"
    "  0  every placeholder is filled and the covenant written\n"
    "  2  usage: bad or missing flags\n"
    "  3  the template cannot be read, or a placeholder's .pub file is missing or not a "
    "32-byte public key\n"
    "  4  --out cannot be written\n"
    "  1  anything else";
constexpr std::string_view kValidateExitCodes =
    "Exit codes:\n"
    "  0  the covenant is valid\n"
    "  2  usage: bad or missing flags\n"
    "  3  the covenant is invalid or cannot be read (the message names file, line and key)\n"
    "  1  anything else";
constexpr std::string_view kExplainExitCodes =
    "Exit codes:\n"
    "  0  the explanation is printed\n"
    "  2  usage: bad or missing flags\n"
    "  3  the covenant is invalid or cannot be read\n"
    "  1  anything else";
constexpr std::string_view kSignExitCodes =
    "Exit codes:\n"
    "  0  the signature is added to COVENANT.sig (other officers may still have to sign)\n"
    "  2  usage: bad or missing flags\n"
    "  3  the covenant is invalid (placeholders left included) or the key cannot be read\n"
    "  4  COVENANT.sig cannot be written\n"
    "  5  COVENANT.sig holds signatures of other bytes (the covenant changed); --restart "
    "discards them\n"
    "  7  the key belongs to no privacy officer of the covenant\n"
    "  1  anything else";
constexpr std::string_view kVerifyExitCodes =
    "Exit codes:\n"
    "  0  valid, signed by every officer and in force\n"
    "  2  usage: bad or missing flags, --at not a yyyy-mm-dd date\n"
    "  3  the covenant is malformed or cannot be read\n"
    "  5  not signed by every officer, or a signature is invalid, or the file changed after "
    "signing\n"
    "  8  not in force: expired or not yet valid (at --at, default now)\n"
    "  1  anything else";



std::string OfficerList(const Covenant& covenant, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    auto it = covenant.privacy_officers.find(name);
    out.push_back(it == covenant.privacy_officers.end()
                      ? name
                      : fmt::format("{} ({})", name, it->second.organisation));
  }
  return fmt::format("{}", fmt::join(out, ", "));
}

std::string Day(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone());
}

struct PolicyFlags {
  std::string out;             // keygen, fill-keys
  std::string keys_dir;        // fill-keys
  std::string template_file;   // fill-keys
  std::string covenant;        // validate, explain, sign, verify
  std::string key;             // sign
  bool restart = false;        // sign
  std::string at;              // verify
};

int RunKeygen(const PolicyFlags& f) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return Fail(kExitOther, s);
  absl::StatusOr<Secret> secret = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!secret.ok()) return Fail(kExitOther, secret.status());
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  crypto_sign_keypair(public_key.data(), secret->mutable_data());
  secret->Seal();
  const std::filesystem::path key_path(f.out);
  std::filesystem::path pub_path = key_path;
  pub_path += ".pub";
  std::error_code ec;
  if (std::filesystem::exists(pub_path, ec)) {
    return Fail(kExitOutput, fmt::format("{} exists already", pub_path.string()),
                "choose another --out, or remove the old key pair if it is no longer needed");
  }
  if (absl::Status s = WriteKeyFile(key_path, *secret); !s.ok()) {
    return Fail(kExitOutput, s, "choose another --out; an existing key is never overwritten");
  }
  if (absl::Status s = WritePublicKeyFile(pub_path, public_key); !s.ok()) {
    return Fail(kExitOutput, s);
  }
  fmt::print("wrote the secret key {} (mode 600; keep it to yourself) and the public key {}\n",
             key_path.string(), pub_path.string());
  fmt::print("public key: {}\n", ToHex(public_key));
  return kExitOk;
}

int RunFillKeys(const PolicyFlags& f) {
  absl::StatusOr<std::string> text = ReadFileContents(f.template_file);
  if (!text.ok()) return Fail(kExitInvalid, text.status(), "check the TEMPLATE path");
  static const std::regex kPlaceholder(R"(<([A-Za-z0-9._-]+\.pub)>)");
  std::istringstream lines(*text);
  std::string line;
  std::string filled;
  int line_number = 0;
  int count = 0;
  int errors = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    std::string out;
    auto last = line.cbegin();
    for (std::sregex_iterator it(line.begin(), line.end(), kPlaceholder), end; it != end; ++it) {
      const std::smatch& match = *it;
      out.append(last, match[0].first);
      last = match[0].second;
      const std::filesystem::path pub = std::filesystem::path(f.keys_dir) / match[1].str();
      absl::StatusOr<std::vector<uint8_t>> key =
          ReadPublicKeyFile(pub, crypto_sign_PUBLICKEYBYTES);
      if (!key.ok()) {
        ++errors;
        fmt::print(stderr, "koppel: error: {}:{}: placeholder {}: {}\n", f.template_file,
                   line_number, match[0].str(), std::string(key.status().message()));
        continue;
      }
      out += ToHex(*key);
      ++count;
    }
    out.append(last, line.cend());
    filled += out;
    if (!lines.eof()) filled += "\n";
  }
  if (errors > 0) {
    return Fail(kExitInvalid,
                fmt::format("{} placeholder(s) in {} cannot be filled from {}", errors,
                            f.template_file, f.keys_dir),
                "put each party's and officer's .pub file (koppel policy keygen, koppel-agent "
                "keygen) into --keys under the name the placeholder gives");
  }
  if (f.out.empty()) {
    fmt::print("{}", filled);
  } else {
    if (absl::Status s = WriteFileAtomically(f.out, filled); !s.ok()) {
      return Fail(kExitOutput, s, "check --out");
    }
  }
  fmt::print(stderr, "koppel: filled {} key placeholder(s){}\n", count,
             f.out.empty() ? "" : fmt::format(" into {}", f.out));
  return kExitOk;
}

int RunValidate(const PolicyFlags& f) {
  absl::StatusOr<Covenant> covenant = LoadCovenantFile(f.covenant);
  if (!covenant.ok()) {
    return Fail(kExitInvalid, covenant.status(), "fix the covenant; docs/covenants.md describes "
                                                 "its keys");
  }
  fmt::print("{}: covenant {} version {} is valid\n", f.covenant, covenant->id,
             covenant->version);
  return kExitOk;
}

void PrintSignatureState(const Covenant& covenant, const std::filesystem::path& path,
                         const std::string& bytes) {
  const std::filesystem::path sig_path = SignaturePath(path);
  std::error_code ec;
  if (!std::filesystem::exists(sig_path, ec)) {
    fmt::print("\nSignatures: none yet ({} is missing); each officer runs koppel policy sign\n",
               sig_path.string());
    return;
  }
  absl::StatusOr<std::string> text = ReadFileContents(sig_path);
  if (!text.ok()) {
    fmt::print("\nSignatures: {}\n", std::string(text.status().message()));
    return;
  }
  absl::StatusOr<SignatureFile> sig = ParseSignatureFile(*text, sig_path.string());
  if (!sig.ok()) {
    fmt::print("\nSignatures: unreadable: {}\n", std::string(sig.status().message()));
    return;
  }
  SignatureReview review = ReviewCovenantSignatures(covenant, bytes, *sig, path.string());
  fmt::print("\nSignatures ({} of {} officers):\n", review.valid.size(),
             covenant.privacy_officers.size());
  if (!review.valid.empty()) {
    fmt::print("  signed by: {}\n", OfficerList(covenant, review.valid));
  }
  if (!review.missing.empty()) {
    fmt::print("  still to sign: {}\n", OfficerList(covenant, review.missing));
  }
  if (!review.problem.ok()) {
    fmt::print("  problem: {}\n", std::string(review.problem.message()));
  }
}

int RunExplain(const PolicyFlags& f) {
  absl::StatusOr<std::string> bytes = ReadFileContents(f.covenant);
  if (!bytes.ok()) return Fail(kExitInvalid, bytes.status(), "check the COVENANT path");
  absl::StatusOr<Covenant> covenant =
      ParseCovenant(*bytes, f.covenant, CovenantParseOptions{.allow_key_placeholders = true});
  if (!covenant.ok()) {
    return Fail(kExitInvalid, covenant.status(), "fix the covenant; docs/covenants.md describes "
                                                 "its keys");
  }
  fmt::print("{}", ExplainCovenant(*covenant));
  PrintSignatureState(*covenant, f.covenant, *bytes);
  return kExitOk;
}

int RunSign(const PolicyFlags& f) {
  absl::StatusOr<Secret> key = ReadKeyFile(f.key, crypto_sign_SECRETKEYBYTES);
  if (!key.ok()) {
    return Fail(kExitInvalid, key.status(),
                "--key is the secret key file koppel policy keygen wrote (not the .pub)");
  }
  absl::StatusOr<Covenant> covenant = LoadCovenantFile(f.covenant);
  if (!covenant.ok()) {
    return Fail(kExitInvalid, covenant.status(),
                "only a valid covenant can be signed; run koppel policy validate");
  }
  absl::StatusOr<SignatureReview> review =
      SignCovenantFile(f.covenant, *key, SignOptions{.restart = f.restart});
  if (!review.ok()) {
    switch (review.status().code()) {
      case absl::StatusCode::kPermissionDenied:
        return Fail(kExitNotOfficer, review.status());
      case absl::StatusCode::kFailedPrecondition:
        return Fail(kExitUnsigned, review.status());
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kNotFound:
        return Fail(kExitInvalid, review.status());
      default:
        return Fail(kExitOutput, review.status(), "check that the covenant's directory is "
                                                  "writable");
    }
  }
  fmt::print("signed covenant {} version {} ({}); signatures in {}\n", covenant->id,
             covenant->version, f.covenant, SignaturePath(f.covenant).string());
  fmt::print("signed by {} of {} officers: {}\n", review->valid.size(),
             covenant->privacy_officers.size(), OfficerList(*covenant, review->valid));
  if (review->missing.empty()) {
    fmt::print("every officer has signed; run koppel policy verify {} to check it\n",
               f.covenant);
  } else {
    fmt::print("still to sign: {}\n", OfficerList(*covenant, review->missing));
  }
  if (!review->problem.ok()) {
    fmt::print(stderr, "koppel: warning: {}\n", std::string(review->problem.message()));
  }
  return kExitOk;
}

int RunVerify(const PolicyFlags& f) {
  absl::Time at = absl::Now();
  if (!f.at.empty()) {
    absl::CivilDay day;
    if (!absl::ParseCivilTime(f.at, &day)) {
      return Fail(kExitUsage, fmt::format("--at {} is not a date; write yyyy-mm-dd", f.at));
    }
    at = absl::FromCivil(day, absl::UTCTimeZone());
  }
  absl::StatusOr<Covenant> parsed = LoadCovenantFile(f.covenant);
  if (!parsed.ok()) {
    return Fail(kExitInvalid, parsed.status(), "fix the covenant; run koppel policy validate");
  }
  absl::StatusOr<SignedCovenant> signed_covenant = LoadSignedCovenant(f.covenant);
  if (!signed_covenant.ok()) {
    const int code = absl::IsInvalidArgument(signed_covenant.status()) ||
                             absl::IsNotFound(signed_covenant.status())
                         ? kExitInvalid
                         : kExitUnsigned;
    return Fail(code, signed_covenant.status());
  }
  const Covenant& covenant = signed_covenant->covenant;
  if (absl::Status s = covenant.InForce(at); !s.ok()) {
    return Fail(kExitNotInForce,
                fmt::format("{}: covenant {} version {} is validly signed but not in force {}: {}",
                            f.covenant, covenant.id, covenant.version,
                            f.at.empty() ? std::string("now") : "on " + f.at,
                            std::string(s.message())));
  }
  fmt::print(
      "{}: covenant {} version {} is valid, signed by all {} officers ({}), in force until {} "
      "(data deleted and keys destroyed at the end of {})\n",
      f.covenant, covenant.id, covenant.version, signed_covenant->signed_by.size(),
      fmt::join(signed_covenant->signed_by, ", "), absl::FormatCivilTime(covenant.valid_until),
      Day(covenant.RetentionEndsAt() - absl::Seconds(1)));
  return kExitOk;
}

}  // namespace

Command AddPolicyCommand(CLI::App* app) {
  auto f = std::make_shared<PolicyFlags>();
  CLI::App* policy = app->add_subcommand(
      "policy", "write, sign and check covenants (privacy officers). See docs/covenants.md.");
  policy->require_subcommand(1);

  CLI::App* keygen = policy->add_subcommand(
      "keygen", "make a privacy officer's Ed25519 key pair: FILE (secret, mode 600) and FILE.pub "
                "(goes into the covenant under privacy_officers)");
  keygen->add_option("--out", f->out, "the secret key file to write; never overwritten")
      ->required();
  keygen->footer(std::string(kKeygenExitCodes));

  CLI::App* fill = policy->add_subcommand(
      "fill-keys", "replace every <NAME.pub> placeholder in a covenant template with the hex "
                   "public key in DIR/NAME.pub");
  fill->add_option("--keys", f->keys_dir, "directory holding the .pub files")
      ->required()
      ->check(CLI::ExistingDirectory);
  fill->add_option("--out", f->out, "the covenant to write (default: standard output)");
  fill->add_option("TEMPLATE", f->template_file, "the covenant template")->required();
  fill->footer(std::string(kFillKeysExitCodes));

  CLI::App* validate = policy->add_subcommand(
      "validate", "check that a covenant parses and is consistent (not its signatures)");
  validate->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  validate->footer(std::string(kValidateExitCodes));

  CLI::App* explain = policy->add_subcommand(
      "explain", "say in plain words what a covenant allows, and who has signed it; templates "
                 "with key placeholders are accepted");
  explain->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  explain->footer(std::string(kExplainExitCodes));

  CLI::App* sign = policy->add_subcommand(
      "sign", "add your signature to COVENANT.sig; every privacy officer the covenant lists "
              "must sign before services accept it");
  sign->add_option("--key", f->key, "your secret key file (koppel policy keygen)")->required();
  sign->add_flag("--restart", f->restart,
                 "discard signatures of an earlier version of the file and start over; every "
                 "other officer must then sign again");
  sign->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  sign->footer(std::string(kSignExitCodes));

  CLI::App* verify = policy->add_subcommand(
      "verify", "check a covenant as the services will: valid, signed by every officer over "
                "its current bytes, and in force");
  verify->add_option("--at", f->at, "check being in force on this day (yyyy-mm-dd, UTC) "
                                    "instead of now");
  verify->add_option("COVENANT", f->covenant, "the covenant file (YAML)")->required();
  verify->footer(std::string(kVerifyExitCodes));

  auto run = [f, keygen, fill, validate, explain, sign, verify]() -> int {
    if (keygen->parsed()) return RunKeygen(*f);
    if (fill->parsed()) return RunFillKeys(*f);
    if (validate->parsed()) return RunValidate(*f);
    if (explain->parsed()) return RunExplain(*f);
    if (sign->parsed()) return RunSign(*f);
    if (verify->parsed()) return RunVerify(*f);
    return kExitUsage;
  };
  return {policy, run};
}

}  // namespace koppel

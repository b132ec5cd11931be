#include "policies/covenant_signature.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "core/hex.h"
#include "policies/end_statement.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using ::koppel::test::ReadFile;
using ::koppel::test::TempDir;
using ::koppel::test::TestCovenant;
using ::koppel::test::TestOfficer;
using ::koppel::test::TestParty;
using ::koppel::test::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A covenant with two officers, each signing for some of the parties.
TestCovenant TwoOfficerCovenant(const TestOfficer& a, const TestOfficer& b,
                                std::string id = "test-covenant") {
  TestCovenant c;
  c.id = std::move(id);
  c.officers = {&a, &b};
  c.parties = {TestParty::DataHolder("agent-brp", "", {{"brp", {"bsn", "address"}, {"wijk"}}}),
               TestParty::DataHolder("agent-zorg", "", {{"zorg", {"bsn"}, {"kosten"}}}),
               TestParty::Service("linker", "linker"), TestParty::Service("vault", "vault"),
               TestParty::Service("research-unit", "research_unit")};
  c.parties[1].officer = b.name;
  return c;
}

// An Ed25519 signature over the message a covenant signature covers, made by any key.
std::string RawCovenantSignature(const Secret& key, std::string_view file_bytes) {
  std::string message("koppel/v1/covenant", sizeof "koppel/v1/covenant");
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(file_bytes.data()),
                     file_bytes.size());
  message.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  std::array<uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       key.data());
  return ToHex(signature);
}

class CovenantSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    yaml_ = TwoOfficerCovenant(po_a_, po_b_).Yaml();
    WriteFile(path_, yaml_);
  }

  policy::SignatureFile ReadSig() {
    absl::StatusOr<policy::SignatureFile> sig =
        policy::ParseSignatureFile(ReadFile(policy::SignaturePath(path_)), "sig");
    EXPECT_TRUE(sig.ok()) << sig.status();
    return sig.ok() ? *sig : policy::SignatureFile{};
  }
  void WriteSig(const policy::SignatureFile& sig) {
    WriteFile(policy::SignaturePath(path_), policy::FormatSignatureFile(sig));
  }
  void SignBoth() {
    ASSERT_TRUE(policy::SignCovenantFile(path_, po_a_.secret_key).ok());
    ASSERT_TRUE(policy::SignCovenantFile(path_, po_b_.secret_key).ok());
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "covenant.yaml";
  TestOfficer po_a_ = TestOfficer::Create("po-a", "Gemeente A");
  TestOfficer po_b_ = TestOfficer::Create("po-b", "Gemeente B");
  TestOfficer stranger_ = TestOfficer::Create("po-stranger");
  std::string yaml_;
};

TEST_F(CovenantSignatureTest, UnsignedCovenantIsRefused) {
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("is not signed"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("koppel policy sign"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path_.string()));
}

TEST_F(CovenantSignatureTest, OneOfTwoOfficersIsNotEnough) {
  absl::StatusOr<policy::SignatureReview> review =
      policy::SignCovenantFile(path_, po_a_.secret_key);
  ASSERT_TRUE(review.ok()) << review.status();
  EXPECT_THAT(review->valid, ElementsAre("po-a"));
  EXPECT_THAT(review->missing, ElementsAre("po-b"));
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("not signed by po-b (Gemeente B) yet; 1 of 2 officers signed"));
}

TEST_F(CovenantSignatureTest, BothOfficersSignedLoads) {
  SignBoth();
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->covenant.id, "test-covenant");
  EXPECT_THAT(loaded->signed_by, ElementsAre("po-a", "po-b"));
  EXPECT_EQ(loaded->sha256, policy::CovenantSha256Hex(yaml_));
  EXPECT_EQ(loaded->path, path_);
  // Signing again replaces the officer's entry rather than adding one.
  ASSERT_TRUE(policy::SignCovenantFile(path_, po_a_.secret_key).ok());
  EXPECT_EQ(ReadSig().signatures.size(), 2u);
  EXPECT_TRUE(policy::LoadSignedCovenant(path_).ok());
}

TEST_F(CovenantSignatureTest, EditedCovenantIsRefusedAndSigningAgainNeedsRestart) {
  SignBoth();
  std::string edited = yaml_;
  const size_t at = edited.find("A covenant for tests");
  ASSERT_NE(at, std::string::npos);
  edited[at] = 'B';
  WriteFile(path_, edited);
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("changed after it was signed"));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("every officer must sign it again"));

  absl::StatusOr<policy::SignatureReview> refused =
      policy::SignCovenantFile(path_, po_a_.secret_key);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("po-a, po-b"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--restart"));

  ASSERT_TRUE(policy::SignCovenantFile(path_, po_a_.secret_key, {.restart = true}).ok());
  EXPECT_THAT(std::string(policy::LoadSignedCovenant(path_).status().message()),
              HasSubstr("not signed by po-b"));
  ASSERT_TRUE(policy::SignCovenantFile(path_, po_b_.secret_key).ok());
  EXPECT_TRUE(policy::LoadSignedCovenant(path_).ok());
}

TEST_F(CovenantSignatureTest, SignatureSwappedBetweenOfficersIsRefused) {
  SignBoth();
  policy::SignatureFile sig = ReadSig();
  ASSERT_EQ(sig.signatures.size(), 2u);
  std::swap(sig.signatures[0].signature, sig.signatures[1].signature);
  WriteSig(sig);
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("does not verify"));

  // Officer names swapped, keys and signatures kept: each entry carries the other's key.
  sig = ReadSig();
  std::swap(sig.signatures[0].signature, sig.signatures[1].signature);
  std::swap(sig.signatures[0].officer, sig.signatures[1].officer);
  WriteSig(sig);
  loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("made with the key of"));
}

TEST_F(CovenantSignatureTest, KeyOfNoOfficerIsRefused) {
  absl::StatusOr<policy::SignatureReview> refused =
      policy::SignCovenantFile(path_, stranger_.secret_key);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("this key belongs to no privacy officer of covenant test-covenant; "
                        "listed: po-a (Gemeente A), po-b (Gemeente B)"));

  SignBoth();
  policy::SignatureFile sig = ReadSig();
  sig.signatures[1].public_key = stranger_.public_hex;
  sig.signatures[1].signature = RawCovenantSignature(stranger_.secret_key, yaml_);
  WriteSig(sig);
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("by a key that is no privacy officer's"));

  sig.signatures[1].officer = "po-stranger";
  WriteSig(sig);
  loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("'po-stranger', who is no privacy officer"));
}

TEST_F(CovenantSignatureTest, TruncatedSignatureFileIsRefusedWithItsLine) {
  SignBoth();
  const std::string sig = ReadFile(policy::SignaturePath(path_));
  WriteFile(policy::SignaturePath(path_), sig.substr(0, sig.size() - 40));
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr(policy::SignaturePath(path_).string() + ":12:"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("not valid YAML"));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("cannot be read"));

  // Cut at a line break: the last signature is missing.
  WriteFile(policy::SignaturePath(path_), sig.substr(0, sig.rfind("signature:")));
  loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("signatures[1]: missing required key 'signature'"));
}

TEST_F(CovenantSignatureTest, SignatureFileOfAnotherCovenantIsRefused) {
  const std::filesystem::path other = dir_ / "other.yaml";
  ASSERT_TRUE(test::WriteSignedCovenant(other, TwoOfficerCovenant(po_a_, po_b_, "other").Yaml(),
                                        {&po_a_, &po_b_})
                  .ok());
  ASSERT_TRUE(policy::LoadSignedCovenant(other).ok());
  std::filesystem::copy_file(policy::SignaturePath(other), policy::SignaturePath(path_));
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(path_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("holds signatures of covenant other version 1, but"));
}

TEST_F(CovenantSignatureTest, CovenantWithPlaceholderCannotBeSigned) {
  std::string text = yaml_;
  const size_t at = text.find(po_b_.public_hex);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, po_b_.public_hex.size(), "<po-b.key.pub>");
  WriteFile(path_, text);
  EXPECT_FALSE(policy::SignCovenantFile(path_, po_a_.secret_key).ok());
  EXPECT_FALSE(std::filesystem::exists(policy::SignaturePath(path_)));
}

TEST(SignatureFileTest, RoundTrips) {
  policy::SignatureFile file{
      "c", 3, std::string(64, 'a'), {{"po-x", std::string(64, 'b'), std::string(128, 'c')}}};
  const std::string text = policy::FormatSignatureFile(file);
  EXPECT_THAT(text, HasSubstr("Do not edit"));
  absl::StatusOr<policy::SignatureFile> back = policy::ParseSignatureFile(text, "x.sig");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->covenant_id, "c");
  EXPECT_EQ(back->version, 3u);
  EXPECT_EQ(back->sha256, file.sha256);
  ASSERT_EQ(back->signatures.size(), 1u);
  EXPECT_EQ(back->signatures[0].signature, file.signatures[0].signature);
  absl::StatusOr<policy::SignatureFile> bad =
      policy::ParseSignatureFile("covenant: c\nversion: 1\n", "x.sig");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("x.sig:1:1: top level: missing required key 'sha256'"));
}

// End statements.

class EndStatementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<policy::Covenant> parsed =
        policy::ParseCovenant(TwoOfficerCovenant(po_a_, po_b_).Yaml(), "covenant.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    covenant_ = *parsed;
  }

  v1::EndCovenantRequest Sign(const TestOfficer& officer, absl::Time at) {
    absl::StatusOr<v1::EndCovenantRequest> request =
        policy::SignEndStatement(covenant_, officer.secret_key, "the study was stopped", at);
    EXPECT_TRUE(request.ok()) << request.status();
    return request.ok() ? *request : v1::EndCovenantRequest{};
  }

  TestOfficer po_a_ = TestOfficer::Create("po-a", "Gemeente A");
  TestOfficer po_b_ = TestOfficer::Create("po-b", "Gemeente B");
  TestOfficer stranger_ = TestOfficer::Create("po-stranger");
  policy::Covenant covenant_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(EndStatementTest, ValidStatementNamesTheOfficer) {
  v1::EndCovenantRequest request = Sign(po_b_, now_);
  EXPECT_EQ(request.covenant_id(), "test-covenant");
  EXPECT_EQ(request.covenant_version(), 1u);
  EXPECT_EQ(request.end_time().seconds(), 1'800'000'000);
  absl::StatusOr<std::string> officer = policy::VerifyEndStatement(covenant_, request, now_);
  ASSERT_TRUE(officer.ok()) << officer.status();
  EXPECT_EQ(*officer, "po-b");
  // Inside the window at both ends.
  EXPECT_TRUE(policy::VerifyEndStatement(covenant_, request, now_ + absl::Hours(24 * 6)).ok());
  EXPECT_TRUE(policy::VerifyEndStatement(covenant_, request, now_ - absl::Minutes(50)).ok());
}

TEST_F(EndStatementTest, AnotherCovenantOrVersionIsRefused) {
  v1::EndCovenantRequest request = Sign(po_a_, now_);
  policy::Covenant other = covenant_;
  other.id = "other";
  absl::StatusOr<std::string> result = policy::VerifyEndStatement(other, request, now_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("for covenant 'test-covenant'"));

  policy::Covenant v2 = covenant_;
  v2.version = 2;
  result = policy::VerifyEndStatement(v2, request, now_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("version 1, this service serves version 2"));

  // Changing the id in the statement itself breaks the signature.
  request.set_covenant_version(2);
  EXPECT_EQ(policy::VerifyEndStatement(v2, request, now_).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(EndStatementTest, KeyOfNoOfficerIsRefused) {
  absl::StatusOr<v1::EndCovenantRequest> refused =
      policy::SignEndStatement(covenant_, stranger_.secret_key, "reason", now_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("listed: po-a (Gemeente A), po-b (Gemeente B)"));

  // A statement signed by a stranger who calls themselves an officer.
  policy::Covenant with_stranger = covenant_;
  with_stranger.privacy_officers["po-stranger"] =
      policy::PrivacyOfficer{"po-stranger", "Elsewhere", stranger_.public_hex};
  absl::StatusOr<v1::EndCovenantRequest> forged =
      policy::SignEndStatement(with_stranger, stranger_.secret_key, "reason", now_);
  ASSERT_TRUE(forged.ok());
  absl::StatusOr<std::string> result = policy::VerifyEndStatement(covenant_, *forged, now_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(EndStatementTest, TamperedReasonIsRefused) {
  v1::EndCovenantRequest request = Sign(po_a_, now_);
  request.set_reason("the study was stopped early");
  absl::StatusOr<std::string> result = policy::VerifyEndStatement(covenant_, request, now_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("does not verify"));

  request = Sign(po_a_, now_);
  // Claiming another officer's key does not help: the signature is not theirs.
  const std::vector<uint8_t> key_b = *FromHex(po_b_.public_hex);
  request.set_officer_public_key(reinterpret_cast<const char*>(key_b.data()), key_b.size());
  EXPECT_EQ(policy::VerifyEndStatement(covenant_, request, now_).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(EndStatementTest, OutsideTheReplayWindowIsRefused) {
  v1::EndCovenantRequest old = Sign(po_a_, now_ - absl::Hours(24 * 7 + 1));
  absl::StatusOr<std::string> result = policy::VerifyEndStatement(covenant_, old, now_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("replay window"));

  v1::EndCovenantRequest future = Sign(po_a_, now_ + absl::Minutes(61));
  result = policy::VerifyEndStatement(covenant_, future, now_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("ahead of this service's clock"));
}

// A service from before end_time reads field 3 only (the unknown field 7 it skips): a new
// statement carries the same seconds there, so it verifies under the old rule, and an old
// statement, with field 3 only, verifies under the new one.
TEST_F(EndStatementTest, StatementsCrossVersionsBothWays) {
  v1::EndCovenantRequest request = Sign(po_a_, now_ + absl::Milliseconds(700));
  EXPECT_EQ(request.legacy_ended_at_unix_seconds(), request.end_time().seconds());
  v1::EndCovenantRequest as_an_old_service_reads_it = request;
  as_an_old_service_reads_it.clear_end_time();
  EXPECT_EQ(policy::EndStatementSignedBytes(as_an_old_service_reads_it),
            policy::EndStatementSignedBytes(request));
  absl::StatusOr<std::string> officer =
      policy::VerifyEndStatement(covenant_, as_an_old_service_reads_it, now_);
  ASSERT_TRUE(officer.ok()) << officer.status();
  EXPECT_EQ(*officer, "po-a");
  // The window is checked on the old field's time too.
  EXPECT_FALSE(
      policy::VerifyEndStatement(covenant_, as_an_old_service_reads_it, now_ + absl::Hours(24 * 8))
          .ok());
}

TEST_F(EndStatementTest, SignedBytesCoverEveryField) {
  v1::EndCovenantRequest request = Sign(po_a_, now_);
  const std::string bytes = policy::EndStatementSignedBytes(request);
  EXPECT_EQ(bytes.substr(0, sizeof "koppel/v1/end-covenant"),
            std::string("koppel/v1/end-covenant", sizeof "koppel/v1/end-covenant"));
  v1::EndCovenantRequest changed = request;
  changed.set_covenant_id("test-covenanu");
  EXPECT_NE(policy::EndStatementSignedBytes(changed), bytes);
  changed = request;
  changed.mutable_end_time()->set_seconds(request.end_time().seconds() + 1);
  EXPECT_NE(policy::EndStatementSignedBytes(changed), bytes);
  // Length prefixes: moving a character from id to reason changes the bytes.
  changed = request;
  changed.set_reason("t" + request.reason());
  EXPECT_NE(policy::EndStatementSignedBytes(changed), bytes);
}

// The `koppel policy` command line.

class PolicyCliTest : public ::testing::Test {
 protected:
  test::ProcessResult Koppel(std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(KOPPEL_BIN_DIR "/koppel"), "policy"});
    return test::RunProcess(args);
  }
  std::string P(std::string_view name) { return (dir_ / name).string(); }

  TempDir dir_;
  TestOfficer po_a_ = TestOfficer::Create("po-a", "Gemeente A");
  TestOfficer po_b_ = TestOfficer::Create("po-b", "Gemeente B");
};

// Only values are placeholders: a comment that mentions one stays as written, even one that
// names a key file that does not exist.
TEST_F(PolicyCliTest, FillKeysLeavesPlaceholdersInCommentsAlone) {
  ASSERT_TRUE(po_a_.WriteKeyFiles(dir_.path()).ok());
  ASSERT_TRUE(po_b_.WriteKeyFiles(dir_.path()).ok());
  const std::string yaml = TwoOfficerCovenant(po_a_, po_b_).Yaml();
  const std::string comment = "# fill-keys puts <po-a.key.pub> in; <nobody.pub> is no key\n";
  std::string expected = comment + yaml;
  const std::string a_line = "public_key: \"" + po_a_.public_hex + "\"\n";
  expected.replace(expected.find(a_line), a_line.size(),
                   "public_key: \"" + po_a_.public_hex + "\"  # was <po-a.key.pub>\n");
  std::string templ = comment + yaml;
  templ.replace(templ.find(a_line), a_line.size(),
                "public_key: \"<po-a.key.pub>\"  # was <po-a.key.pub>\n");
  templ.replace(templ.find(po_b_.public_hex), po_b_.public_hex.size(), "<po-b.key.pub>");
  WriteFile(dir_ / "template.yaml", templ);
  test::ProcessResult r = Koppel({"fill-keys", "--keys", dir_.path().string(), "--out",
                                  P("covenant.yaml"), P("template.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("filled 2 key placeholder(s) and 0 digest placeholder(s)"));
  EXPECT_EQ(ReadFile(dir_ / "covenant.yaml"), expected);
  EXPECT_EQ(Koppel({"validate", P("covenant.yaml")}).exit_code, 0);

  // A template that repeats a key is refused before anything is filled.
  WriteFile(dir_ / "twice.yaml", templ + "id: other\n");
  r = Koppel({"fill-keys", "--keys", dir_.path().string(), P("twice.yaml")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("twice.yaml:"));
  EXPECT_THAT(r.err, HasSubstr("id: the key is given twice"));
}

TEST_F(PolicyCliTest, KeygenFillSignVerify) {
  // keygen writes a key pair and never overwrites it.
  test::ProcessResult r = Koppel({"keygen", "--out", P("stranger.key")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "stranger.key.pub"));
  EXPECT_EQ(Koppel({"keygen", "--out", P("stranger.key")}).exit_code, 4);

  // fill-keys turns a template into the covenant.
  ASSERT_TRUE(po_a_.WriteKeyFiles(dir_.path()).ok());
  ASSERT_TRUE(po_b_.WriteKeyFiles(dir_.path()).ok());
  const std::string yaml = TwoOfficerCovenant(po_a_, po_b_).Yaml();
  std::string templ = yaml;
  for (const TestOfficer* officer : {&po_a_, &po_b_}) {
    templ.replace(templ.find(officer->public_hex), officer->public_hex.size(),
                  "<" + officer->name + ".key.pub>");
  }
  WriteFile(dir_ / "template.yaml", templ);
  EXPECT_EQ(Koppel({"validate", P("template.yaml")}).exit_code, 3);
  r = Koppel({"fill-keys", "--keys", dir_.path().string(), "--out", P("covenant.yaml"),
              P("template.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(dir_ / "covenant.yaml"), yaml);
  r = Koppel({"fill-keys", "--keys", dir_.path().string(), P("template.yaml")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, yaml);
  WriteFile(dir_ / "broken.yaml", "a: 1\nb: <nobody.pub>\n");
  r = Koppel({"fill-keys", "--keys", dir_.path().string(), P("broken.yaml")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("broken.yaml:2: placeholder <nobody.pub>"));

  r = Koppel({"validate", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("covenant test-covenant version 1 is valid"));
  r = Koppel({"explain", P("template.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Signatures: none yet"));

  // Signing, one officer at a time.
  r = Koppel({"verify", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("is not signed"));
  r = Koppel({"sign", "--key", P("stranger.key"), P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("belongs to no privacy officer"));
  r = Koppel({"sign", "--key", P("po-a.key"), P("covenant.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("still to sign: po-b (Gemeente B)"));
  r = Koppel({"verify", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("not signed by po-b (Gemeente B) yet"));
  r = Koppel({"explain", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("still to sign: po-b"));
  r = Koppel({"sign", "--key", P("po-b.key"), P("covenant.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("every officer has signed"));

  r = Koppel({"verify", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("is valid, signed by all 2 officers (po-a, po-b), in force until"));
  r = Koppel({"verify", "--at", "2100-01-01", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_THAT(r.err, HasSubstr("not in force on 2100-01-01"));
  EXPECT_EQ(Koppel({"verify", "--at", "tomorrow", P("covenant.yaml")}).exit_code, 2);

  // Editing the signed file.
  WriteFile(dir_ / "covenant.yaml", yaml + "# a comment\n");
  r = Koppel({"verify", P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("changed after it was signed"));
  r = Koppel({"sign", "--key", P("po-a.key"), P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("--restart"));
  r = Koppel({"sign", "--restart", "--key", P("po-a.key"), P("covenant.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  WriteFile(dir_ / "covenant.yaml", "id: x\n");
  EXPECT_EQ(Koppel({"verify", P("covenant.yaml")}).exit_code, 3);
  EXPECT_EQ(Koppel({"validate", P("covenant.yaml")}).exit_code, 3);
  EXPECT_EQ(Koppel({"validate", P("missing.yaml")}).exit_code, 3);
}

// A spec without prices: the smallest the spec language allows.
constexpr char kSmallSpec[] = R"(analysis: small
reference_dates: [2014-12-31]
register: {dataset: brp, birth_date: geboortedatum, area: wijk, address_from: adres_van,
           address_to: adres_tot}
populations:
  households: {}
indicators:
  bijstand: {dataset: sociale_zaken, where: {regeling: [bijstand]}, spell: [start, eind]}
tables:
  - name: t1
    population: households
    rows: area
    columns:
      - {label: n}
      - {label: bijstand, count: bijstand}
)";

std::string SourceFile(const std::string& relative) {
  return ReadFile(std::filesystem::path(KOPPEL_SOURCE_DIR) / relative);
}

// `text` with its single occurrence of `from` replaced by `to`.
std::string Replaced(const std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at == std::string::npos) return text;
  return text.substr(0, at) + to + text.substr(at + from.size());
}

// The approve and fill-keys commands work on a covenant in DIR/policies beside the specs in
// DIR/analyses and their prices in DIR/prices, as in the source tree.
class PolicyApproveTest : public PolicyCliTest {
 protected:
  void SetUp() override {
    for (const char* sub : {"policies", "analyses", "prices"}) {
      std::filesystem::create_directories(dir_ / sub);
    }
    for (const char* file : {"analyses/almelo-mpg.yaml", "analyses/cohort-monitor.yaml",
                             "prices/unit_costs_2014.csv"}) {
      WriteFile(dir_ / file, SourceFile(file));
    }
    WriteFile(dir_ / "analyses/small.yaml", kSmallSpec);
  }

  // A covenant whose analysis section has comments and lets only exploratory specs run.
  std::string CovenantWithComments() {
    TestCovenant c = TwoOfficerCovenant(po_a_, po_b_);
    c.analysis_yaml =
        "# Who may query.\nrecipients: [research-unit]  # only the unit\n"
        "# Other specs get noise.\nexploratory: perturb\n\ndisclosure:\n"
        "  min_cell: 10   # the default, said out loud\n";
    return "# A covenant with comments that must survive.\n" + c.Yaml() + "# The end.\n";
  }

  std::string Sha(const std::string& relative) {
    return policy::CovenantSha256Hex(ReadFile(dir_ / relative));
  }

  // The entry `koppel policy approve` writes, its dash at column 4.
  std::string Entry(const std::string& name, const std::string& spec,
                    const std::string& prices = "prices/unit_costs_2014.csv") {
    std::string entry =
        fmt::format("    - name: {}\n      spec: ../{}\n      sha256: {}\n", name, spec, Sha(spec));
    if (!prices.empty()) {
      entry += fmt::format("      prices: ../{}\n      prices_sha256: {}\n", prices, Sha(prices));
    }
    return entry;
  }
};

TEST_F(PolicyApproveTest, PinsSpecsInPlaceKeepingEveryOtherByte) {
  const std::string original = CovenantWithComments();
  const std::filesystem::path covenant = dir_ / "policies/covenant.yaml";
  WriteFile(covenant, original);
  ASSERT_EQ(Koppel({"validate", covenant.string()}).exit_code, 0);

  // A new `approved:` key goes after the recipients.
  test::ProcessResult r =
      Koppel({"approve", "--spec", P("analyses/almelo-mpg.yaml"), covenant.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("approved almelo-mpg in " + covenant.string()));
  EXPECT_THAT(r.out, HasSubstr("spec   ../analyses/almelo-mpg.yaml  sha256 " +
                               Sha("analyses/almelo-mpg.yaml")));
  EXPECT_THAT(r.out, HasSubstr("prices ../prices/unit_costs_2014.csv  sha256 " +
                               Sha("prices/unit_costs_2014.csv")));
  const std::string recipients = "  recipients: [research-unit]  # only the unit\n";
  std::string expected =
      Replaced(original, recipients,
               recipients + "  approved:\n" + Entry("almelo-mpg", "analyses/almelo-mpg.yaml"));
  EXPECT_EQ(ReadFile(covenant), expected);
  r = Koppel({"validate", covenant.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("warning")));

  // Another spec is appended after the last entry; one without prices gets none.
  ASSERT_EQ(Koppel({"approve", "--spec", P("analyses/small.yaml"), covenant.string()}).exit_code,
            0);
  const std::string first = Entry("almelo-mpg", "analyses/almelo-mpg.yaml");
  expected = Replaced(expected, first, first + Entry("small", "analyses/small.yaml", ""));
  EXPECT_EQ(ReadFile(covenant), expected);

  // The officers sign; then the spec changes and is approved again: only its digest changes,
  // and the officers are told to sign again, the first with --restart.
  ASSERT_TRUE(po_a_.WriteKeyFiles(dir_.path()).ok());
  ASSERT_TRUE(po_b_.WriteKeyFiles(dir_.path()).ok());
  for (const char* key : {"po-a.key", "po-b.key"}) {
    ASSERT_EQ(Koppel({"sign", "--key", P(key), covenant.string()}).exit_code, 0);
  }
  ASSERT_EQ(Koppel({"verify", covenant.string()}).exit_code, 0);
  const std::string old_sha = Sha("analyses/almelo-mpg.yaml");
  WriteFile(dir_ / "analyses/almelo-mpg.yaml",
            SourceFile("analyses/almelo-mpg.yaml") + "# reviewed again\n");
  r = Koppel({"verify", covenant.string()});
  EXPECT_EQ(r.exit_code, 0) << "a changed spec does not invalidate the covenant";
  EXPECT_THAT(r.err, HasSubstr("warning: analysis.approved[almelo-mpg].spec: "));
  r = Koppel({"approve", "--spec", P("analyses/almelo-mpg.yaml"), covenant.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("re-approved almelo-mpg"));
  expected = Replaced(expected, "sha256: " + old_sha, "sha256: " + Sha("analyses/almelo-mpg.yaml"));
  EXPECT_EQ(ReadFile(covenant), expected);
  EXPECT_THAT(r.out, HasSubstr("the signatures in " + covenant.string() +
                               ".sig (po-a, po-b) no longer match"));
  EXPECT_THAT(r.out, HasSubstr("the first to sign runs:   koppel policy sign --restart --key "
                               "OFFICER_KEY " +
                               covenant.string()));
  EXPECT_THAT(r.out, HasSubstr("every other officer runs: koppel policy sign --key OFFICER_KEY " +
                               covenant.string()));
  EXPECT_EQ(Koppel({"verify", covenant.string()}).exit_code, 5);
  ASSERT_EQ(Koppel({"sign", "--restart", "--key", P("po-a.key"), covenant.string()}).exit_code, 0);
  ASSERT_EQ(Koppel({"sign", "--key", P("po-b.key"), covenant.string()}).exit_code, 0);
  r = Koppel({"verify", covenant.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("warning")));

  // Approving the same bytes again changes nothing.
  r = Koppel({"approve", "--spec", P("analyses/almelo-mpg.yaml"), covenant.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("already pinned these digests; it is unchanged"));
  EXPECT_EQ(ReadFile(covenant), expected);
  EXPECT_EQ(Koppel({"verify", covenant.string()}).exit_code, 0);
}

TEST_F(PolicyApproveTest, ReplacesTheOldAnalysesKeyAndWritesPathsRelativeToTheCovenant) {
  TestCovenant c = TwoOfficerCovenant(po_a_, po_b_);
  c.analysis_yaml =
      "recipients: [research-unit]\nanalyses: [almelo-mpg, cohort-monitor]\n"
      "disclosure: {min_cell: 10}\n";
  const std::string original = c.Yaml();
  std::filesystem::create_directories(dir_ / "policies/2026");
  const std::filesystem::path covenant = dir_ / "policies/2026/covenant.yaml";
  WriteFile(covenant, original);
  test::ProcessResult r = Koppel({"validate", covenant.string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("analysis.analyses: analyses are no longer allowed by name"));

  r = Koppel({"approve", "--spec", P("analyses/cohort-monitor.yaml"), "--prices",
              P("prices/unit_costs_2014.csv"), covenant.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Removed the old key"));
  EXPECT_THAT(r.out, HasSubstr("analyses: [almelo-mpg, cohort-monitor]"));
  EXPECT_THAT(r.out, HasSubstr("Every officer reads it"));
  EXPECT_EQ(ReadFile(covenant),
            Replaced(original, "  analyses: [almelo-mpg, cohort-monitor]\n",
                     fmt::format("  approved:\n    - name: cohort-monitor\n"
                                 "      spec: ../../analyses/cohort-monitor.yaml\n"
                                 "      sha256: {}\n"
                                 "      prices: ../../prices/unit_costs_2014.csv\n"
                                 "      prices_sha256: {}\n",
                                 Sha("analyses/cohort-monitor.yaml"),
                                 Sha("prices/unit_costs_2014.csv"))));
  EXPECT_EQ(Koppel({"validate", covenant.string()}).exit_code, 0);
}

TEST_F(PolicyApproveTest, RefusesWhatItCannotPin) {
  const std::filesystem::path covenant = dir_ / "policies/covenant.yaml";
  const std::string original = CovenantWithComments();
  WriteFile(covenant, original);

  WriteFile(dir_ / "analyses/broken.yaml", "analysis: broken\ntables: []\n");
  test::ProcessResult r =
      Koppel({"approve", "--spec", P("analyses/broken.yaml"), covenant.string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("analyses/broken.yaml"));
  EXPECT_THAT(r.err, HasSubstr("only a spec that parses can be approved"));

  r = Koppel({"approve", "--spec", P("analyses/missing.yaml"), covenant.string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot read"));

  r = Koppel({"approve", "--spec", P("analyses/small.yaml"), "--prices",
              P("prices/unit_costs_2014.csv"), covenant.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("names no prices file"));

  WriteFile(dir_ / "prices/empty.csv", "cost_item,unit,price_eur_2014\n");
  r = Koppel({"approve", "--spec", P("analyses/almelo-mpg.yaml"), "--prices", P("prices/empty.csv"),
              covenant.string()});
  EXPECT_EQ(r.exit_code, 3) << "the spec's prices must be in the prices file";
  std::filesystem::remove(dir_ / "prices/unit_costs_2014.csv");
  r = Koppel({"approve", "--spec", P("analyses/almelo-mpg.yaml"), covenant.string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("unit_costs_2014.csv"));
  EXPECT_EQ(ReadFile(covenant), original);

  const std::string no_analysis = TwoOfficerCovenant(po_a_, po_b_).Yaml();
  WriteFile(covenant, no_analysis);
  r = Koppel({"approve", "--spec", P("analyses/small.yaml"), covenant.string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("has no analysis section"));
  EXPECT_EQ(ReadFile(covenant), no_analysis);

  r = Koppel({"approve", "--spec", P("analyses/small.yaml"), P("policies/missing.yaml")});
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(PolicyApproveTest, FillKeysFillsDigestsAndKeepsPathsRightForAnotherDirectory) {
  ASSERT_TRUE(po_a_.WriteKeyFiles(dir_.path()).ok());
  ASSERT_TRUE(po_b_.WriteKeyFiles(dir_.path()).ok());
  std::filesystem::create_directories(dir_ / "ptables");
  WriteFile(dir_ / "ptables/p.csv", "i;j;p;v;p_int_lb;p_int_ub\n0;0;1;0;0;1\n");
  TestCovenant c = TwoOfficerCovenant(po_a_, po_b_);
  c.analysis_yaml =
      "recipients: [research-unit]\napproved:\n  - name: almelo-mpg\n"
      "    spec: ../analyses/almelo-mpg.yaml\n"
      "    sha256: <sha256:../analyses/almelo-mpg.yaml>\n"
      "    prices: \"../prices/unit_costs_2014.csv\"  # quoted\n"
      "    prices_sha256: <sha256:../prices/unit_costs_2014.csv>\n"
      "exploratory: perturb\n"
      "perturbation: {table: ../ptables/p.csv, table_sha256: <sha256:../ptables/p.csv>}\n";
  std::string templ = c.Yaml();
  for (const TestOfficer* officer : {&po_a_, &po_b_}) {
    templ = Replaced(templ, officer->public_hex, "<" + officer->name + ".key.pub>");
  }
  WriteFile(dir_ / "policies/template.yaml", templ);
  std::string filled = Replaced(templ, "<po-a.key.pub>", po_a_.public_hex);
  filled = Replaced(filled, "<po-b.key.pub>", po_b_.public_hex);
  for (const char* file :
       {"analyses/almelo-mpg.yaml", "prices/unit_costs_2014.csv", "ptables/p.csv"}) {
    filled = Replaced(filled, fmt::format("<sha256:../{}>", file), Sha(file));
  }

  // Beside the template: only the placeholders change.
  test::ProcessResult r = Koppel({"fill-keys", "--keys", dir_.path().string(), "--out",
                                  P("policies/covenant.yaml"), P("policies/template.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("filled 2 key placeholder(s) and 3 digest placeholder(s)"));
  EXPECT_EQ(ReadFile(dir_ / "policies/covenant.yaml"), filled);

  // Elsewhere: the paths are rewritten relative to the output, so they name the same files.
  std::filesystem::create_directories(dir_ / "work/covenants");
  r = Koppel({"fill-keys", "--keys", dir_.path().string(), "--out",
              P("work/covenants/covenant.yaml"), P("policies/template.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string moved = Replaced(filled, "spec: ../analyses/", "spec: ../../analyses/");
  moved = Replaced(moved, "prices: \"../prices/unit_costs_2014.csv\"",
                   "prices: ../../prices/unit_costs_2014.csv");
  moved = Replaced(moved, "table: ../ptables/p.csv", "table: ../../ptables/p.csv");
  EXPECT_EQ(ReadFile(dir_ / "work/covenants/covenant.yaml"), moved);
  r = Koppel({"validate", P("work/covenants/covenant.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "every pinned file is found and matches";
  r = Koppel({"explain", P("work/covenants/covenant.yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("What it computes (the spec on disk matches its digest)"));
  EXPECT_THAT(
      r.out, HasSubstr("Perturbation table: ../../ptables/p.csv, SHA-256 " + Sha("ptables/p.csv")));
  EXPECT_THAT(r.out, Not(HasSubstr("PROBLEM")));

  // A placeholder naming a missing file: the error names the line.
  WriteFile(dir_ / "policies/broken.yaml", "a: 1\nb: <sha256:../analyses/nothing.yaml>\n");
  r = Koppel({"fill-keys", "--keys", dir_.path().string(), P("policies/broken.yaml")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("broken.yaml:2: placeholder <sha256:../analyses/nothing.yaml>: "
                               "cannot read "));
}

TEST_F(PolicyCliTest, ExplainsTheAlmeloTemplate) {
  const std::string templ = std::string(KOPPEL_SOURCE_DIR) + "/policies/almelo-statistical.yaml";
  test::ProcessResult r = Koppel({"explain", templ});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const YAML::Node spec =
      YAML::LoadFile(std::string(KOPPEL_SOURCE_DIR) + "/analyses/almelo-mpg.yaml");
  for (const YAML::Node& table : spec["tables"]) {
    EXPECT_THAT(r.out, HasSubstr("          " + table["name"].Scalar() + " (")) << table["name"];
  }
  EXPECT_THAT(r.out, HasSubstr("no count of 1 to 9 households, and no sum with fewer than 10 "
                               "contributors, can be worked out from all releases together"));
  EXPECT_THAT(r.out, HasSubstr("released with consistent perturbation (the cell key method)"));
  EXPECT_THAT(r.out, HasSubstr("Signatures: none yet"));
  EXPECT_THAT(r.out, Not(HasSubstr("PROBLEM")));
}

TEST_F(PolicyCliTest, EveryCommandDocumentsItsExitCodes) {
  for (const char* command :
       {"keygen", "fill-keys", "approve", "validate", "explain", "sign", "verify"}) {
    test::ProcessResult r = Koppel({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_THAT(r.out, HasSubstr("Exit codes:")) << command;
  }
  test::ProcessResult r = test::RunProcess({KOPPEL_BIN_DIR "/koppel", "covenant", "end", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Exit codes:"));
}

}  // namespace
}  // namespace koppel

namespace koppel {
namespace {

TEST(CovenantFilesTest, BuildsAValidCovenantWithAnalysisAndMappingGrants) {
  TempDir dir;
  test::WriteFile(dir / "zorg.yaml",
                  "version: 1\ndataset: zorg\nholder: Zorgverzekeraar\n"
                  "period: {from: 2014-01-01, to: 2014-12-31}\n"
                  "csv: {delimiter: ';', quote: '\"', encoding: utf-8, line_ending: lf}\n"
                  "identifiers:\n  bsn: BSN\n"
                  "attributes:\n  - {name: jaar, column: JAAR, type: year}\n"
                  "  - {name: kosten, column: KOSTEN, type: amount}\n");
  absl::StatusOr<test::TestDataset> zorg = test::DatasetFromMapping(dir / "zorg.yaml");
  ASSERT_TRUE(zorg.ok()) << zorg.status();
  EXPECT_EQ(zorg->name, "zorg");
  EXPECT_THAT(zorg->identifiers, ElementsAre("bsn"));
  EXPECT_THAT(zorg->fields, ElementsAre("jaar", "kosten"));

  TestOfficer po = TestOfficer::Create("po");
  TestCovenant c;
  c.officers = {&po};
  c.parties = TestParty::Services();
  c.parties.push_back(TestParty::DataHolder("agent-zorg", "", {*zorg}));
  const std::filesystem::path spec =
      std::filesystem::path(KOPPEL_SOURCE_DIR) / "analyses/almelo-mpg.yaml";
  const std::filesystem::path prices =
      std::filesystem::path(KOPPEL_SOURCE_DIR) / "prices/unit_costs_2014.csv";
  c.analysis_yaml =
      "recipients: [research-unit]\n" + test::ApprovedYaml({{"almelo-mpg", spec, prices}});
  absl::Status written = test::WriteSignedCovenant(dir / "c.yaml", c.Yaml(), {&po});
  ASSERT_TRUE(written.ok()) << written << "\n" << c.Yaml();
  absl::StatusOr<policy::SignedCovenant> loaded = policy::LoadSignedCovenant(dir / "c.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status() << "\n" << c.Yaml();
  const policy::AnalysisPolicy& analysis = loaded->covenant.analysis;
  ASSERT_EQ(analysis.approved.size(), 1u);
  EXPECT_EQ(analysis.approved[0].spec_path, spec.generic_string());
  EXPECT_EQ(analysis.FindApproved(policy::CovenantSha256Hex(ReadFile(spec)),
                                  policy::CovenantSha256Hex(ReadFile(prices))),
            &analysis.approved[0]);
  EXPECT_TRUE(policy::PinnedFileMismatches(loaded->covenant, dir / "c.yaml").empty());
  EXPECT_TRUE(loaded->covenant.InForce(absl::Now()).ok());
  EXPECT_TRUE(
      loaded->covenant.MayCarry("agent-zorg", "zorg", {"jaar", "kosten"}, true, false).ok());
}

}  // namespace
}  // namespace koppel

// Writes the corpus seeds that need the test keys: sealed batches, receipts, a signed audit log
// and a signed covenant, into DIR/<target>/. Usage: fuzz_make_seeds DIR (tests/fuzz/corpus).
// The other seeds are plain text files written by hand.
#include <sodium.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_replace.h"
#include "core/audit_log.h"
#include "core/hex.h"
#include "core/receipt.h"
#include "core/sealed_batch.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.pb.h"
#include "policies/covenant.h"
#include "policies/covenant_signature.h"
#include "tests/fuzz/fuzz_support.h"

namespace fs = std::filesystem;
using koppel::fuzz::Check;

namespace {

void Write(const fs::path& dir, const std::string& name, std::string_view bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Check(out.good(), "cannot write a seed");
}

std::string WithMode(char mode, const google::protobuf::MessageLite& message) {
  return std::string(1, mode) + message.SerializeAsString();
}

koppel::v1::BatchPayload Payload() {
  koppel::v1::BatchPayload payload;
  koppel::v1::BatchHeader* header = payload.mutable_header();
  header->set_dataset("jeugdzorg");
  header->set_covenant_id("fuzz-covenant");
  header->set_covenant_version(1);
  header->set_key_epoch(1);
  header->set_period_from("2012-01-01");
  header->set_period_to("2014-12-31");
  header->set_agent("agent-jeugdzorg");
  header->set_run_id("00112233445566778899aabbccddeeff");
  header->set_token_scheme("koppel/v1/hmac");
  header->set_has_bsn(true);
  koppel::v1::AttributeSchema* zorgvorm = header->add_attributes();
  zorgvorm->set_name("zorgvorm");
  zorgvorm->set_type(koppel::v1::ATTRIBUTE_TYPE_CATEGORY);
  zorgvorm->add_codes("foster_care");
  zorgvorm->add_codes("youth_ambulant");
  koppel::v1::AttributeSchema* start = header->add_attributes();
  start->set_name("start");
  start->set_type(koppel::v1::ATTRIBUTE_TYPE_DATE);
  for (int i = 0; i < 2; ++i) {
    koppel::v1::Record* record = payload.add_records();
    record->set_bsn_token(std::string(32, static_cast<char>(0x10 + i)));
    record->add_values()->set_code(static_cast<uint32_t>(i));
    record->add_values()->set_date_days(15000 + i);
  }
  return payload;
}

void SealedBatchSeeds(const fs::path& dir) {
  const koppel::v1::BatchPayload payload = Payload();
  std::string scratch;
  absl::StatusOr<koppel::v1::SealedBatch> sealed =
      koppel::SealBatch(payload, koppel::fuzz::TestLinkerBoxPublicKey(),
                        koppel::fuzz::TestAgentSigningKey(), &scratch);
  Check(sealed.ok(), "cannot seal the seed batch");
  Write(dir, "valid", WithMode('\0', *sealed));
  koppel::v1::SealedBatch other_format = *sealed;
  other_format.set_format_version(2);
  Write(dir, "other-format", WithMode('\0', other_format));

  koppel::v1::SealedBatch plain = *sealed;
  plain.set_sealed_payload(payload.SerializeAsString());
  Write(dir, "plain-payload", WithMode('\1', plain));
  plain.set_record_count(3);
  Write(dir, "plain-count-disagrees", WithMode('\1', plain));
  koppel::v1::BatchPayload empty;
  empty.mutable_header()->set_dataset("brp");
  plain.set_dataset("brp");
  plain.set_covenant_id("");
  plain.set_record_count(0);
  plain.set_sealed_payload(empty.SerializeAsString());
  Write(dir, "plain-empty", WithMode('\1', plain));
}

void ReceiptSeeds(const fs::path& dir) {
  koppel::v1::Receipt receipt;
  receipt.set_batch_id(std::string(64, 'a'));
  receipt.set_dataset("jeugdzorg");
  receipt.set_covenant_id("fuzz-covenant");
  receipt.set_sender("agent-jeugdzorg");
  receipt.set_records_accepted(2);
  receipt.mutable_store_time()->set_seconds(1790000000);
  Write(dir, "unsigned", WithMode('\1', receipt));
  Check(koppel::SignReceipt(koppel::fuzz::TestLinkerSigningKey(), &receipt).ok(), "sign");
  Write(dir, "signed", WithMode('\0', receipt));
  receipt.set_duplicate(true);
  Write(dir, "signed-then-changed", WithMode('\0', receipt));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void AuditLogSeeds(const fs::path& dir) {
  const fs::path scratch = fs::temp_directory_path() / "koppel-fuzz-seeds-audit.log";
  fs::remove(scratch);
  {
    auto log = koppel::AuditLog::Open(scratch, koppel::fuzz::TestAuditSigningKey(), "linker");
    Check(log.ok(), "cannot open the seed audit log");
    Check((*log)
              ->Append("covenant_load", "linker", "fuzz-covenant",
                       {{"version", 1}, {"officers", {"po-a", "po-b"}}})
              .ok(),
          "append");
    Check((*log)
              ->Append("delivery", "agent-jeugdzorg", "fuzz-covenant",
                       {{"dataset", "jeugdzorg"}, {"records", 2}, {"duplicate", false}})
              .ok(),
          "append");
  }
  const std::string text = ReadFile(scratch);
  absl::StatusOr<std::vector<koppel::AuditEntry>> entries = koppel::ReadAuditLog(scratch);
  fs::remove(scratch);
  Check(entries.ok() && !entries->empty(), "the seed audit log does not read");
  Write(dir, "valid", text);
  const koppel::AuditEntry& last = entries->back();
  Write(dir, "anchored", std::to_string(last.seq) + ":" + last.hash + "\n" + text);
  Write(dir, "torn", text.substr(0, text.size() - 1));
  const size_t second = text.find('\n') + 1;
  Write(dir, "first-entry-cut", text.substr(second));
}

void CovenantSeeds(const fs::path& dir) {
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk_a, pk_b;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk_a, sk_b;
  std::array<uint8_t, crypto_sign_SEEDBYTES> seed{};
  seed.fill(0x50);
  crypto_sign_seed_keypair(pk_a.data(), sk_a.data(), seed.data());
  seed.fill(0x51);
  crypto_sign_seed_keypair(pk_b.data(), sk_b.data(), seed.data());
  const std::string agent_key =
      koppel::ToHex(koppel::fuzz::PublicKeyOf(koppel::fuzz::TestAgentSigningKey()));
  const std::string text = absl::StrReplaceAll(
      R"(id: fuzz-covenant
version: 1
title: A covenant for the fuzzer
valid_from: 2026-01-01
valid_until: 2027-12-31
retention:
  days_after_end: 0
key_rotation:
  period_days: 90
token_mode: hmac
privacy_officers:
  - name: po-a
    organisation: Gemeente
    public_key: PK_A
  - name: po-b
    organisation: TTP
    public_key: PK_B
parties:
  - name: agent-wijkteam
    organisation: Wijkteam
    roles: [data_holder]
    privacy_officer: po-a
    purpose: Deliver
    legal_basis: none
    signing_key: AGENT
    datasets:
      - name: wijkteam
        identifiers: [bsn]
        fields: []
  - name: agent-brp
    organisation: BRP
    roles: [data_holder]
    privacy_officer: po-a
    purpose: Deliver
    legal_basis: none
    signing_key: AGENT
    datasets:
      - name: brp
        identifiers: [bsn, address]
        fields: [adres_van, adres_tot]
  - name: agent-jeugdzorg
    organisation: Jeugdzorg
    roles: [data_holder]
    privacy_officer: po-b
    purpose: Deliver
    legal_basis: none
    signing_key: AGENT
    datasets:
      - name: jeugdzorg
        identifiers: [bsn]
        fields: []
  - name: linker
    organisation: TTP
    roles: [linker]
    privacy_officer: po-b
    purpose: Join
    legal_basis: none
  - name: vault
    organisation: TTP
    roles: [vault]
    privacy_officer: po-b
    purpose: Keys
    legal_basis: none
purpose_bound_releases:
  - name: who-else
    recipient: agent-wijkteam
    purpose: Coordinate
    legal_basis: none
    dataset: wijkteam
    unit: household
    register: {dataset: brp, address_from: adres_van, address_to: adres_tot}
    flags:
      - {name: known_at_jeugdzorg, dataset: jeugdzorg}
)",
      {{"PK_A", koppel::ToHex(pk_a)}, {"PK_B", koppel::ToHex(pk_b)}, {"AGENT", agent_key}});
  absl::StatusOr<koppel::policy::Covenant> covenant =
      koppel::policy::ParseCovenant(text, "seed.yaml");
  if (!covenant.ok()) {
    std::fprintf(stderr, "%s\n", covenant.status().ToString().c_str());
    Check(false, "the seed covenant does not parse");
  }
  koppel::policy::SignatureFile sig;
  sig.covenant_id = covenant->id;
  sig.version = covenant->version;
  sig.sha256 = koppel::policy::CovenantSha256Hex(text);
  for (const auto* sk : {&sk_a, &sk_b}) {
    absl::StatusOr<koppel::Secret> key = koppel::Secret::FromBytes(*sk);
    Check(key.ok(), "key");
    absl::StatusOr<koppel::policy::CovenantSignature> signature =
        koppel::policy::SignCovenantBytes(*covenant, text, *key);
    Check(signature.ok(), "cannot sign the seed covenant");
    sig.signatures.push_back(*signature);
  }
  const std::string sig_text = koppel::policy::FormatSignatureFile(sig);
  Check(koppel::policy::CheckCovenantSignatures(*covenant, text, sig, "seed").ok(),
        "the seed signatures do not verify");
  Write(dir, "signed", text + std::string(1, '\0') + sig_text);
  sig.signatures.pop_back();
  Write(dir, "one-signature-missing",
        text + std::string(1, '\0') + koppel::policy::FormatSignatureFile(sig));
  Write(dir, "unsigned", text);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  koppel::fuzz::InitForFuzzing();
  const fs::path dir = argv[1];
  SealedBatchSeeds(dir / "sealed_batch_fuzzer");
  ReceiptSeeds(dir / "receipt_fuzzer");
  AuditLogSeeds(dir / "audit_log_fuzzer");
  CovenantSeeds(dir / "covenant_fuzzer");
  return 0;
}

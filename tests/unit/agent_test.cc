// The agent's pieces driven directly: duplicate counting with spills, sealing and opening
// batches, and a full scan + seal of a small export whose content is known.
#include <gtest/gtest.h>
#include <sodium.h>

#include <random>
#include <set>

#include "agents/batch_sealer.h"
#include "agents/duplicate_counter.h"
#include "agents/export_scan.h"
#include "core/hex.h"
#include "core/sealed_batch.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

TEST(DuplicateCounterTest, CountsInMemoryAndAcrossSpilledRuns) {
  for (size_t max_in_memory : {size_t{1} << 20, size_t{7}, size_t{1000}}) {
    absl::StatusOr<DuplicateCounter> counter = DuplicateCounter::Create(max_in_memory);
    ASSERT_TRUE(counter.ok());
    std::mt19937 rng(7);
    std::set<uint32_t> distinct;
    uint64_t added = 0;
    for (int i = 0; i < 20000; ++i) {
      auto v = static_cast<uint32_t>(rng() % 15000);
      distinct.insert(v);
      ASSERT_TRUE(counter->Add(std::to_string(v)).ok());
      ++added;
    }
    absl::StatusOr<uint64_t> duplicates = counter->CountDuplicates();
    ASSERT_TRUE(duplicates.ok()) << duplicates.status();
    EXPECT_EQ(*duplicates, added - distinct.size()) << "max_in_memory " << max_in_memory;
  }
}

struct Keys {
  Secret linker_secret;
  BoxPublicKey linker_public;
  Secret signing;
};

Keys MakeKeys() {
  Keys keys{*Secret::Allocate(crypto_box_SECRETKEYBYTES), {}, *Secret::Allocate(crypto_sign_SECRETKEYBYTES)};
  crypto_box_keypair(keys.linker_public.data(), keys.linker_secret.mutable_data());
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  crypto_sign_keypair(pk.data(), keys.signing.mutable_data());
  return keys;
}

v1::BatchPayload SamplePayload() {
  v1::BatchPayload payload;
  payload.mutable_header()->set_dataset("uwv");
  for (int i = 0; i < 3; ++i) {
    v1::Record* r = payload.add_records();
    r->set_bsn_token(std::string(32, static_cast<char>(i)));
    r->add_values()->set_year(2012 + i);
  }
  return payload;
}

TEST(SealedBatchTest, RoundTripsAndIdentifiesBySealedBytes) {
  Keys keys = MakeKeys();
  std::string scratch;
  absl::StatusOr<v1::SealedBatch> batch =
      SealBatch(SamplePayload(), keys.linker_public, keys.signing, &scratch);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->record_count(), 3u);
  EXPECT_EQ(batch->batch_id().size(), 64u);
  EXPECT_EQ(scratch.find(std::string(32, '\x01')), std::string::npos) << "scratch not wiped";
  absl::StatusOr<v1::BatchPayload> opened =
      OpenSealedBatch(*batch, keys.linker_public, keys.linker_secret);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->SerializeAsString(), SamplePayload().SerializeAsString());
}

TEST(SealedBatchTest, DetectsEveryKindOfTampering) {
  Keys keys = MakeKeys();
  std::string scratch;
  v1::SealedBatch good = *SealBatch(SamplePayload(), keys.linker_public, keys.signing, &scratch);
  ASSERT_TRUE(VerifySealedBatch(good).ok());

  v1::SealedBatch flipped = good;
  (*flipped.mutable_sealed_payload())[40] ^= 1;
  EXPECT_TRUE(absl::IsDataLoss(VerifySealedBatch(flipped)));

  v1::SealedBatch renamed = good;
  renamed.set_dataset("politie");
  EXPECT_TRUE(absl::IsUnauthenticated(VerifySealedBatch(renamed)));

  v1::SealedBatch recounted = good;
  recounted.set_record_count(2);
  EXPECT_TRUE(absl::IsUnauthenticated(VerifySealedBatch(recounted)));

  // Another agent re-signing the same sealed bytes is a valid batch from *that* agent; the
  // linker decides whether it may deliver. Re-sealing under another key cannot be opened.
  Keys other = MakeKeys();
  v1::SealedBatch wrong_linker =
      *SealBatch(SamplePayload(), other.linker_public, keys.signing, &scratch);
  EXPECT_TRUE(absl::IsPermissionDenied(
      OpenSealedBatch(wrong_linker, keys.linker_public, keys.linker_secret).status()));

  v1::SealedBatch old_format = good;
  old_format.set_format_version(0);
  EXPECT_TRUE(absl::IsInvalidArgument(VerifySealedBatch(old_format)));
}

constexpr char kMapping[] = R"(version: 1
dataset: uwv
period: {from: 2012-01-01, to: 2014-12-31}
csv: {delimiter: ";"}
identifiers: {bsn: BSN}
attributes:
  - {name: regeling, column: Regeling, type: category, codes: [ww, wajong], required: true}
  - {name: jaar, column: Jaar, type: year}
)";

// Every sealed batch in `dir`, opened.
std::vector<v1::BatchPayload> OpenOutbox(const Outbox& outbox, const Keys& keys) {
  std::vector<v1::BatchPayload> out;
  absl::StatusOr<std::vector<std::filesystem::path>> paths = outbox.ListBatches();
  EXPECT_TRUE(paths.ok());
  if (!paths.ok()) return out;
  for (const auto& path : *paths) {
    v1::SealedBatch batch;
    EXPECT_TRUE(batch.ParseFromString(ReadFile(path)));
    absl::StatusOr<v1::BatchPayload> payload =
        OpenSealedBatch(batch, keys.linker_public, keys.linker_secret);
    EXPECT_TRUE(payload.ok()) << payload.status();
    EXPECT_EQ(path.stem().string(), batch.batch_id());
    out.push_back(*payload);
  }
  return out;
}

TEST(ExportScanTest, SealsExactlyTheValidRowsWithTheRightTokens) {
  TempDir dir;
  std::string csv = "BSN;Regeling;Jaar;Opmerking\n";
  std::vector<std::string> valid_bsns;
  int rejected = 0;
  for (uint32_t stem = 1000000; valid_bsns.size() < 2500; ++stem) {
    char digits[9];
    if (!BsnFromStem(stem, digits)) continue;
    std::string bsn(digits, 9);
    valid_bsns.push_back(bsn);
    csv += bsn + ";ww;" + std::to_string(2012 + stem % 3) + ";x\n";
    if (stem % 97 == 0) {
      csv += bsn.substr(0, 8) + "0;ww;2012;x\n";  // likely fails the 11-test
      ++rejected;
    }
  }
  WriteFile(dir / "uwv.csv", csv);
  absl::StatusOr<Mapping> mapping = ParseMapping(kMapping, "m.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  Keys keys = MakeKeys();
  Secret k_cov = *Secret::Random(32);
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Create(k_cov);
  ASSERT_TRUE(tokenizer.ok());
  absl::StatusOr<Outbox> outbox = Outbox::Open(dir / "outbox");
  ASSERT_TRUE(outbox.ok());
  SealerConfig config;
  config.batch_size = 1000;
  config.covenant_id = "test";
  std::unique_ptr<TokenSource> tokens = MakeHmacTokenSource(*Tokenizer::Create(k_cov), 1);
  BatchSealer sealer(*mapping, config, *tokens, keys.linker_public, keys.signing, &*outbox);
  ScanOptions options;
  options.sink = &sealer;
  options.progress = false;
  absl::StatusOr<QualitySummary> summary = ScanExport(*mapping, dir / "uwv.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE(sealer.Finish().ok());

  uint64_t expected_rejects = summary->rejected[RejectReason::kBsnElevenTest];
  EXPECT_GT(expected_rejects, 0u);
  EXPECT_EQ(summary->rows, valid_bsns.size() + static_cast<size_t>(rejected));
  EXPECT_EQ(summary->valid + summary->rejected_total(), summary->rows);
  EXPECT_EQ(sealer.records_sealed(), summary->valid);

  std::vector<v1::BatchPayload> payloads = OpenOutbox(*outbox, keys);
  ASSERT_EQ(payloads.size(), (summary->valid + 999) / 1000);
  std::set<std::string> sealed_tokens;
  for (const v1::BatchPayload& p : payloads) {
    EXPECT_EQ(p.header().run_id(), sealer.run_id());
    ASSERT_EQ(p.header().attributes_size(), 2);
    EXPECT_EQ(p.header().attributes(0).codes(0), "wajong");
    for (const v1::Record& r : p.records()) {
      sealed_tokens.insert(r.bsn_token());
      ASSERT_EQ(r.values_size(), 2);
      EXPECT_EQ(r.values(0).code(), 1u);  // "ww" is the second sorted code
      EXPECT_GE(r.values(1).year(), 2012);
    }
  }
  for (const std::string& bsn : valid_bsns) {
    Token t = tokenizer->Tokenize(IdentifierKind::kBsn, bsn);
    EXPECT_TRUE(sealed_tokens.contains(std::string(t.begin(), t.end())));
  }
  EXPECT_EQ(sealed_tokens.size() + summary->duplicates, summary->valid);
}

}  // namespace
}  // namespace koppel

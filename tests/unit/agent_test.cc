// The agent's pieces driven directly: duplicate counting with spills, sealing and opening
// batches, and a full scan + seal of a small export whose content is known.
#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
#include <random>
#include <set>

#include "agents/batch_sealer.h"
#include "agents/duplicate_counter.h"
#include "agents/export_scan.h"
#include "agents/flag_asker.h"
#include "core/hex.h"
#include "core/sealed_batch.h"
#include "tests/testing/temp_dir.h"

namespace koppel::agent {
namespace {

using test::ReadFile;
using test::TempDir;
using test::WriteFile;

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
      ++added;
      ASSERT_TRUE(counter->Add(std::to_string(v), added, added + 1).ok());
    }
    absl::StatusOr<uint64_t> duplicates = counter->CountDuplicates();
    ASSERT_TRUE(duplicates.ok()) << duplicates.status();
    EXPECT_EQ(*duplicates, added - distinct.size()) << "max_in_memory " << max_in_memory;
  }
}

// Each duplicate comes out once, in file order, with the line of the first row it repeats.
TEST(DuplicateCounterTest, ListsEachDuplicateInFileOrderWithItsFirstLine) {
  for (size_t max_in_memory : {size_t{1} << 20, size_t{5}, size_t{64}}) {
    absl::StatusOr<DuplicateCounter> counter = DuplicateCounter::Create(max_in_memory);
    ASSERT_TRUE(counter.ok());
    std::mt19937 rng(11);
    std::map<uint32_t, uint64_t> first_line;
    std::vector<DuplicateRow> expected;
    for (uint64_t record = 1; record <= 5000; ++record) {
      auto v = static_cast<uint32_t>(rng() % 3000);
      const uint64_t line = 2 * record + 1;  // lines need not follow records one to one
      auto [it, fresh] = first_line.emplace(v, line);
      if (!fresh) expected.push_back({record, line, it->second});
      ASSERT_TRUE(counter->Add(std::to_string(v), record, line).ok());
    }
    std::vector<DuplicateRow> listed;
    absl::StatusOr<uint64_t> duplicates = counter->CountDuplicates([&](const DuplicateRow& d) {
      listed.push_back(d);
      return absl::OkStatus();
    });
    ASSERT_TRUE(duplicates.ok()) << duplicates.status();
    EXPECT_EQ(*duplicates, expected.size());
    ASSERT_EQ(listed.size(), expected.size()) << "max_in_memory " << max_in_memory;
    for (size_t i = 0; i < listed.size(); ++i) {
      EXPECT_EQ(listed[i].record, expected[i].record);
      EXPECT_EQ(listed[i].line, expected[i].line);
      EXPECT_EQ(listed[i].first_line, expected[i].first_line);
    }
  }
}

struct Keys {
  Secret linker_secret;
  BoxPublicKey linker_public;
  Secret signing;
};

Keys MakeKeys() {
  Keys keys{*Secret::Allocate(crypto_box_SECRETKEYBYTES),
            {},
            *Secret::Allocate(crypto_sign_SECRETKEYBYTES)};
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

class CountingSink final : public ValidRowSink {
 public:
  absl::Status Accept(JudgedRow*) override {
    ++rows;
    return absl::OkStatus();
  }
  uint64_t rows = 0;
};

// A care insurer's export in windows-1252, with accented provider names in a column the mapping
// does not use.
constexpr char kWindows1252Export[] =
    "BSN;Regeling;Jaar;Zorgaanbieder\n"
    "111222333;ww;2012;Zorggroep Ca\xEF\xE9\n"
    "123456782;wajong;2013;\xC7"
    "a va \x80 5\n"
    "111222333;ww;2012;Zorggroep Ca\xEF\xE9\n";

TEST(ExportScanTest, ReadsTheDeclaredEncodingWithoutRejectingUnmappedBytes) {
  TempDir dir;
  WriteFile(dir / "zvw.csv", kWindows1252Export);
  std::string yaml = kMapping;
  const std::string csv_line = "csv: {delimiter: \";\"}";
  yaml.replace(yaml.find(csv_line), csv_line.size(),
               "csv: {delimiter: \";\", encoding: windows-1252}");
  absl::StatusOr<Mapping> mapping = ParseMapping(yaml, "m.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  CountingSink sink;
  ScanOptions options;
  options.sink = &sink;
  options.progress = false;
  absl::StatusOr<QualitySummary> summary = ScanExport(*mapping, dir / "zvw.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->rows, 3u);
  EXPECT_EQ(summary->rejected_total(), 0u);
  EXPECT_EQ(summary->valid, 3u);
  EXPECT_EQ(summary->duplicates, 1u);
  EXPECT_EQ(sink.rows, 3u);
  EXPECT_EQ(summary->encoding, "windows-1252");
  EXPECT_EQ(summary->encoding_reason, "declared in the mapping");
  EXPECT_EQ(summary->ToJson()["encoding"]["name"], "windows-1252");
  EXPECT_NE(summary->ToText().find("encoding    windows-1252 (declared in the mapping)"),
            std::string::npos)
      << summary->ToText();

  // auto says what it chose and why.
  mapping->encoding = TextEncoding::kAuto;
  summary = ScanExport(*mapping, dir / "zvw.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->rejected_total(), 0u);
  EXPECT_EQ(summary->encoding, "windows-1252");
  EXPECT_EQ(summary->encoding_reason,
            "auto: not valid UTF-8 (first at line 2, column 31), read as windows-1252");

  // Declared as UTF-8, the file is refused as a whole before any row reaches the sink.
  mapping->encoding = TextEncoding::kUtf8;
  mapping->csv.encoding = TextEncoding::kUtf8;
  sink.rows = 0;
  summary = ScanExport(*mapping, dir / "zvw.csv", options);
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(summary.status())) << summary.status();
  EXPECT_NE(summary.status().message().find("zvw.csv: line 2, column 31: a byte that is not "
                                            "valid utf-8; declare"),
            std::string::npos)
      << summary.status();
  EXPECT_EQ(sink.rows, 0u);
}

TEST(ExportScanTest, ReportsDuplicatesWithTheLineOfTheirFirstOccurrence) {
  TempDir dir;
  WriteFile(dir / "uwv.csv",
            "BSN;Regeling;Jaar;Opmerking\n"
            "111222333;ww;2012;a\n"  // record 1, line 2
            "123456782;ww;2012;b\n"  // 2, line 3
            "111222333;ww;2012;c\n"  // 3, line 4: repeats line 2 (Opmerking is not mapped)
            "000000000;ww;2012;d\n"  // 4, line 5: rejected
            "\n"
            "123456782;ww;2012;e\n"    // 5, line 7: repeats line 3
            "111222333;ww;2012;f\n");  // 6, line 8: repeats line 2
  absl::StatusOr<Mapping> mapping = ParseMapping(kMapping, "m.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  absl::StatusOr<std::unique_ptr<RejectReport>> report = RejectReport::Create(dir / "r.csv");
  ASSERT_TRUE(report.ok());
  ScanOptions options;
  options.rejects = report->get();
  options.progress = false;
  absl::StatusOr<QualitySummary> summary = ScanExport(*mapping, dir / "uwv.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE((*report)->Close().ok());
  EXPECT_EQ(summary->duplicates, 3u);
  EXPECT_EQ(summary->valid, 5u);
  EXPECT_EQ(ReadFile(dir / "r.csv"),
            "record,line,reason,column,first_line\n"
            "4,5,bsn_all_zero,BSN,\n"
            "3,4,duplicate,,2\n"
            "5,7,duplicate,,3\n"
            "6,8,duplicate,,2\n");
}

// ask-flags numbers its answers by the rows the reject report does not list as rejected:
// duplicate rows were accepted (and sealed), so they keep their answer line.
TEST(ExportScanTest, AcceptedRowNumbersCountDuplicatesAsAccepted) {
  TempDir dir;
  WriteFile(dir / "r.csv",
            "record,line,reason,column,first_line\n"
            "2,3,bsn_all_zero,BSN,\n"
            "4,5,duplicate,,2\n"
            "5,6,duplicate,,3\n");
  absl::StatusOr<std::vector<uint64_t>> rows = AcceptedRowNumbers(6, dir / "r.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<uint64_t>{1, 3, 4, 5, 6}));
}

TEST(ExportScanTest, RejectRateGuardFailsTheScanAboveTheLimitOnly) {
  TempDir dir;
  std::string csv = "BSN;Regeling;Jaar;Opmerking\n";
  for (int i = 0; i < 19; ++i) csv += "111222333;ww;2012;x\n";  // valid (and duplicates)
  csv += "111222333;zz;2012;x\n";                               // 1 of 20 rejected: 5%
  WriteFile(dir / "uwv.csv", csv);
  absl::StatusOr<Mapping> mapping = ParseMapping(kMapping, "m.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  ScanOptions options;
  options.progress = false;
  options.max_reject_percent = 5.0;
  absl::StatusOr<QualitySummary> summary = ScanExport(*mapping, dir / "uwv.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->rejected_total(), 1u);
  EXPECT_EQ(summary->duplicates, 18u);  // duplicates are not rejects

  // A share is rounded up to whole rows: 5% of 15 rows still allows one bad row.
  std::string small = "BSN;Regeling;Jaar;Opmerking\n";
  for (int i = 0; i < 14; ++i) small += "111222333;ww;2012;x\n";
  small += "111222333;zz;2012;x\n";
  WriteFile(dir / "small.csv", small);
  summary = ScanExport(*mapping, dir / "small.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->rejected_total(), 1u);

  // 3 of 22 rejected: more than the 2 rows (5% of 22, rounded up) allowed.
  csv += "111222333;zz;2013;x\n111222333;zz;2014;x\n";
  WriteFile(dir / "uwv.csv", csv);
  summary = ScanExport(*mapping, dir / "uwv.csv", options);
  ASSERT_FALSE(summary.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(summary.status()));
  EXPECT_NE(summary.status().message().find(
                "uwv.csv: 3 of 22 data rows (13.6%) were rejected, more than --max-reject-rate "
                "5%"),
            std::string::npos)
      << summary.status();

  options.max_reject_percent = 0;
  summary = ScanExport(*mapping, dir / "small.csv", options);
  EXPECT_FALSE(summary.ok());
}

// Rounding the share up to whole rows must not let an export through with no valid row.
TEST(QualitySummaryTest, RejectRateGuardTripsWhenEveryRowIsRejected) {
  QualitySummary summary;
  summary.rows = 1;
  summary.rejected[RejectReason::kBsnElevenTest] = 1;
  for (double max_percent : {5.0, 50.0, 100.0}) {
    absl::Status status = summary.CheckRejectRate(max_percent);
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << max_percent << ": " << status;
    EXPECT_NE(status.message().find("all 1 data row(s) were rejected"), std::string::npos)
        << status;
  }
  summary.rows = 40;
  summary.rejected[RejectReason::kBsnElevenTest] = 40;
  EXPECT_TRUE(absl::IsFailedPrecondition(summary.CheckRejectRate(100.0)));
  // One valid row is enough for the limit to decide; no rows at all is no broken export.
  summary.valid = 1;
  summary.rejected[RejectReason::kBsnElevenTest] = 39;
  EXPECT_TRUE(summary.CheckRejectRate(100.0).ok());
  EXPECT_TRUE(QualitySummary().CheckRejectRate(5.0).ok());

  TempDir dir;
  WriteFile(dir / "uwv.csv", "BSN;Regeling;Jaar;Opmerking\n111222333;zz;2012;x\n");
  absl::StatusOr<Mapping> mapping = ParseMapping(kMapping, "m.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  ScanOptions options;
  options.progress = false;
  options.max_reject_percent = 5.0;
  absl::StatusOr<QualitySummary> scanned = ScanExport(*mapping, dir / "uwv.csv", options);
  ASSERT_FALSE(scanned.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(scanned.status())) << scanned.status();
  EXPECT_NE(scanned.status().message().find("uwv.csv: all 1 data row(s) were rejected"),
            std::string::npos)
      << scanned.status();
}

// A header cell is the export's text: escaped in the text summary and the reject report, so
// that it cannot drive the terminal that shows them.
TEST(ExportScanTest, EscapesTheExportsHeaderCellsInTheSummaryAndTheRejectReport) {
  std::string yaml = kMapping;
  yaml.replace(yaml.find("column: Jaar"), 12, "column: \"Jaar\\e[31m\"");
  absl::StatusOr<Mapping> mapping = ParseMapping(yaml, "m.yaml");
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  TempDir dir;
  WriteFile(dir / "uwv.csv",
            "BSN;Regeling;Jaar\x1b[31m;Opmerking\n"
            "111222333;ww;2012;a\n"
            "123456782;ww;12;b\n");
  absl::StatusOr<std::unique_ptr<RejectReport>> report = RejectReport::Create(dir / "r.csv");
  ASSERT_TRUE(report.ok());
  ScanOptions options;
  options.rejects = report->get();
  options.progress = false;
  absl::StatusOr<QualitySummary> summary = ScanExport(*mapping, dir / "uwv.csv", options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE((*report)->Close().ok());
  const std::string text = summary->ToText();
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("  Jaar\\x1b[31m"), std::string::npos) << text;
  const std::string rejects = ReadFile(dir / "r.csv");
  EXPECT_EQ(rejects.find('\x1b'), std::string::npos) << rejects;
  EXPECT_NE(rejects.find("2,3,year_invalid,Jaar\\x1b[31m,"), std::string::npos) << rejects;
  // JSON keeps the name; nlohmann escapes it.
  EXPECT_EQ(summary->ToJson().dump().find('\x1b'), std::string::npos);
  EXPECT_TRUE(summary->ToJson()["missing"].contains("Jaar\x1b[31m"));
}

}  // namespace
}  // namespace koppel::agent

// The audit log: entries chain and are signed, reopening continues the chain, every kind of
// tampering is named at the right line, a torn last line is repaired as documented, and
// `koppel audit verify|report` give the exit codes and numbers of docs/audit.md.
#include "core/audit_log.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <limits>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "core/hex.h"
#include "core/key_file.h"
#include "tests/testing/fault_injecting_file_system.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using ::koppel::test::ReadFile;
using ::koppel::test::TempDir;
using ::koppel::test::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

struct KeyPair {
  Secret secret;
  std::string public_raw;
  std::string public_hex;
};

KeyPair MakeKey() {
  Secret secret = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  crypto_sign_keypair(pk.data(), secret.mutable_data());
  secret.Seal();
  return {std::move(secret), std::string(pk.begin(), pk.end()), ToHex(pk)};
}

std::vector<std::string> Lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::string text = ReadFile(path);
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

void WriteLines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  WriteFile(path, text);
}

// The documented format, computed here independently of core/audit_log.cc:
// hash = SHA-256("koppel/v1/audit\n" || prev || "\n" || sorted-key JSON of the content).
std::string DocumentedHash(const Json& line) {
  Json content;
  for (const char* key :
       {"seq", "time", "service", "event", "actor", "covenant", "details", "prev"}) {
    content[key] = line.at(key);
  }
  const std::string message =
      "koppel/v1/audit\n" + line.at("prev").get<std::string>() + "\n" + content.dump();
  std::array<uint8_t, crypto_hash_sha256_BYTES> hash;
  crypto_hash_sha256(hash.data(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size());
  return ToHex(hash);
}

// signature = Ed25519 over "koppel/v1/audit-entry" NUL || the raw hash.
std::string DocumentedMessage(const std::string& hash_hex) {
  std::vector<uint8_t> raw = *FromHex(hash_hex);
  std::string message("koppel/v1/audit-entry");
  message.push_back('\0');
  message.append(raw.begin(), raw.end());
  return message;
}

std::string Sign(const std::string& hash_hex, const Secret& key) {
  const std::string message = DocumentedMessage(hash_hex);
  std::array<uint8_t, crypto_sign_BYTES> signature;
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       key.data());
  return ToHex(signature);
}

bool SignatureValid(const Json& line, const std::string& public_raw) {
  const std::string message = DocumentedMessage(line.at("hash").get<std::string>());
  std::vector<uint8_t> signature = *FromHex(line.at("signature").get<std::string>());
  return crypto_sign_verify_detached(
             signature.data(), reinterpret_cast<const unsigned char*>(message.data()),
             message.size(), reinterpret_cast<const unsigned char*>(public_raw.data())) == 0;
}

// A line with the hash recomputed for `prev`, signed by `key` or, without one, carrying a
// signature that verifies under no key.
std::string Forge(Json line, const std::string& prev, const Secret* key) {
  line["prev"] = prev;
  line["hash"] = DocumentedHash(line);
  line["signature"] = key != nullptr ? Sign(line["hash"].get<std::string>(), *key)
                                     : std::string(2 * crypto_sign_BYTES, 'a');
  return line.dump();
}

class AuditLogTest : public ::testing::Test {
 protected:
  // open, covenant_load, delivery (100), delivery (200), query, release, covenant_end.
  void WriteSampleLog() {
    auto log = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE(
        (*log)
            ->Append("covenant_load", "linker", "almelo-mpg",
                     {{"version", 1}, {"sha256", std::string(64, 'c')}, {"state", "in force"}})
            .ok());
    ASSERT_TRUE((*log)
                    ->Append("delivery", "agent-brp", "almelo-mpg",
                             {{"batch_id", "b1"},
                              {"dataset", "brp"},
                              {"records", 100},
                              {"rejected", 0},
                              {"covenant_version", 1},
                              {"duplicate", false}})
                    .ok());
    ASSERT_TRUE((*log)
                    ->Append("delivery", "agent-zorg", "almelo-mpg",
                             {{"batch_id", "z1"},
                              {"dataset", "zorg"},
                              {"records", 200},
                              {"rejected", 1},
                              {"covenant_version", 1},
                              {"duplicate", false}})
                    .ok());
    ASSERT_TRUE((*log)
                    ->Append("query", "research-unit", "almelo-mpg",
                             {{"analysis", "almelo-mpg"}, {"spec_sha256", std::string(64, 'd')}})
                    .ok());
    ASSERT_TRUE((*log)
                    ->Append("release", "research-unit", "almelo-mpg",
                             {{"analysis", "almelo-mpg"},
                              {"tables", 4},
                              {"cells_suppressed_primary", 3},
                              {"cells_suppressed_secondary", 2},
                              {"releases_left", 19}})
                    .ok());
    ASSERT_TRUE((*log)
                    ->Append("covenant_end", "po-almelo", "almelo-mpg",
                             {{"officer", "po-almelo"},
                              {"reason", "study finished"},
                              {"records_deleted", 300},
                              {"batches_deleted", 2}})
                    .ok());
    EXPECT_EQ((*log)->last_seq(), 7u);
    head_ = {7, (*log)->last_hash()};
  }

  absl::StatusOr<AuditVerification> Verify(const std::optional<AuditAnchor>& anchor = {}) {
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
    if (!entries.ok()) return entries.status();
    return VerifyAuditLog(*entries, key_.public_raw, anchor);
  }

  // Writes `lines` as the log and expects verification and Open to fail naming `problem`.
  void ExpectTampered(const std::vector<std::string>& lines, const std::string& problem) {
    WriteLines(path_, lines);
    absl::StatusOr<AuditVerification> verified = Verify();
    ASSERT_FALSE(verified.ok());
    EXPECT_EQ(verified.status().code(), absl::StatusCode::kDataLoss) << verified.status();
    EXPECT_THAT(std::string(verified.status().message()), HasSubstr(problem));
    const std::string before = ReadFile(path_);
    auto reopened = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_FALSE(reopened.ok());
    EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(reopened.status().message()), HasSubstr(problem));
    EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("refusing to extend"));
    EXPECT_EQ(ReadFile(path_), before) << "a refused log must stay untouched";
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "linker.audit.log";
  KeyPair key_ = MakeKey();
  KeyPair other_ = MakeKey();
  AuditAnchor head_;
};

TEST_F(AuditLogTest, AppendedEntriesChainAndVerify) {
  WriteSampleLog();
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 7u);
  const AuditEntry& open = (*entries)[0];
  EXPECT_EQ(open.seq, 1u);
  EXPECT_EQ(open.event, "open");
  EXPECT_EQ(open.service, "linker");
  EXPECT_EQ(open.prev, std::string(64, '0'));
  EXPECT_EQ(open.details["signer_public_key"], key_.public_hex);
  EXPECT_EQ((*entries)[2].actor, "agent-brp");
  EXPECT_EQ((*entries)[2].details["records"], 100);
  for (size_t i = 0; i < entries->size(); ++i) {
    EXPECT_EQ((*entries)[i].seq, i + 1);
    EXPECT_EQ((*entries)[i].line, i + 1);
    EXPECT_TRUE(
        std::regex_match((*entries)[i].time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
        << (*entries)[i].time;
    if (i > 0) {
      EXPECT_EQ((*entries)[i].prev, (*entries)[i - 1].hash);
    }
  }
  absl::StatusOr<AuditVerification> verified = Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->entries, 7u);
  EXPECT_EQ(verified->head_hash, head_.hash);
  EXPECT_EQ(verified->signer_public_key, key_.public_hex);
  EXPECT_TRUE(Verify(head_).ok());
  EXPECT_TRUE(Verify(AuditAnchor{3, (*entries)[2].hash}).ok());

  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, LinesFollowTheDocumentedFormat) {
  WriteSampleLog();
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0].rfind(R"({"seq":1,"time":")", 0), 0u) << lines[0];
  for (const std::string& text : lines) {
    const Json line = Json::parse(text);
    EXPECT_EQ(line.size(), 10u);
    EXPECT_EQ(line["hash"], DocumentedHash(line)) << text;
    EXPECT_TRUE(SignatureValid(line, key_.public_raw)) << text;
    EXPECT_FALSE(SignatureValid(line, other_.public_raw));
  }
}

TEST_F(AuditLogTest, ConcurrentAppendsKeepOneChain) {
  auto log = AuditLog::Open(path_, key_.secret, "vault");
  ASSERT_TRUE(log.ok()) << log.status();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!(*log)
                 ->Append("oprf_evaluation", fmt::format("agent-{}", t), "almelo-mpg",
                          {{"epoch", 1}, {"count", i}})
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ((*log)->last_seq(), 1u + kThreads * kPerThread);
  absl::StatusOr<AuditVerification> verified = Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->entries, 1u + kThreads * kPerThread);
}

TEST_F(AuditLogTest, ReopeningContinuesTheChainWithAnOpenEntry) {
  WriteSampleLog();
  {
    auto log = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->last_seq(), 8u);
    ASSERT_TRUE((*log)->Append("query", "research-unit", "almelo-mpg", {}).ok());
    EXPECT_EQ((*log)->last_seq(), 9u);

    auto second = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(second.status().message()), HasSubstr("is already open"));
  }
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 9u);
  EXPECT_EQ((*entries)[7].event, "open");
  EXPECT_EQ((*entries)[7].prev, head_.hash);
  EXPECT_EQ((*entries)[8].details, Json::object());
  absl::StatusOr<AuditVerification> verified = Verify(head_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->entries, 9u);
}

TEST_F(AuditLogTest, OpenRefusesALogSignedByAnotherKey) {
  WriteSampleLog();
  const std::string before = ReadFile(path_);
  auto log = AuditLog::Open(path_, other_.secret, "linker");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(
      std::string(log.status().message()),
      HasSubstr("line 1: entry seq 1 is signed by " + key_.public_hex +
                ", the key the log names, not by the expected signer " + other_.public_hex));
  EXPECT_EQ(ReadFile(path_), before);
}

// Opening a FIFO that has no reader for writing waits for a reader: a service given one as its
// log would hang at start. Open refuses it at once instead (before the fix this test hung).
TEST_F(AuditLogTest, OpenRefusesAFifoWithoutWaitingForAReader) {
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  auto log = AuditLog::Open(path_, key_.secret, "linker");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(log.status().message()),
              HasSubstr("audit log " + path_.string() +
                        " is a FIFO (named pipe), not a regular "
                        "file"));
}

TEST_F(AuditLogTest, AppendRefusesBadDetailsAndKeepsTheChain) {
  auto log = AuditLog::Open(path_, key_.secret, "linker");
  ASSERT_TRUE(log.ok());
  absl::Status array = (*log)->Append("delivery", "agent-brp", "c", Json::array({1, 2}));
  EXPECT_EQ(array.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(array.message()), HasSubstr("must be a JSON object, not array"));
  EXPECT_EQ((*log)->Append("Delivery!", "agent-brp", "c", {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->Append("delivery", "agent-\xff", "c", {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->last_seq(), 1u);
  EXPECT_TRUE((*log)->Append("delivery", "agent-brp", "c", {{"records", 1}}).ok());
  EXPECT_EQ((*log)->last_seq(), 2u);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(AuditLogTest, ChangedDetailIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  const size_t at = lines[2].find(R"("records":100)");
  ASSERT_NE(at, std::string::npos);
  lines[2].replace(at, 13, R"("records":10)");
  ExpectTampered(lines, "line 3: entry seq 3 was changed after it was written");
}

TEST_F(AuditLogTest, ChangedTimeIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  Json line = Json::parse(lines[3]);
  line["time"] = "2020-01-01T00:00:00Z";
  lines[3] = line.dump();
  ExpectTampered(lines, "line 4: entry seq 4 was changed after it was written");
}

TEST_F(AuditLogTest, DeletedMiddleEntryIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  lines.erase(lines.begin() + 3);
  ExpectTampered(lines,
                 "line 4: entry seq 5 follows seq 3 (line 3): entry seq 4 is missing (deleted)");
}

TEST_F(AuditLogTest, DeletedFirstEntryIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  lines.erase(lines.begin());
  ExpectTampered(lines,
                 "line 1: entry seq 2 is the first entry, but a log starts at seq 1: entry seq 1 "
                 "is missing (the start of the log was deleted)");
}

TEST_F(AuditLogTest, InsertedEntryWithoutValidSignatureIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  Json forged = Json::parse(lines[2]);
  forged["seq"] = 4;
  forged["details"]["records"] = 5000;
  const std::string prev = Json::parse(lines[2])["hash"];
  lines.insert(lines.begin() + 3, Forge(forged, prev, nullptr));
  ASSERT_EQ(Json::parse(lines[3])["hash"], DocumentedHash(Json::parse(lines[3])));
  ExpectTampered(lines, "line 4: entry seq 4 has no valid signature by the expected signer " +
                            key_.public_hex + ": the entry was forged or inserted");
}

TEST_F(AuditLogTest, InsertedEntrySignedByAnotherKeyIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  Json forged = Json::parse(lines[2]);
  forged["seq"] = 4;
  const std::string prev = Json::parse(lines[2])["hash"];
  lines.insert(lines.begin() + 3, Forge(forged, prev, &other_.secret));
  ASSERT_TRUE(SignatureValid(Json::parse(lines[3]), other_.public_raw));
  ExpectTampered(lines, "line 4: entry seq 4 has no valid signature by the expected signer");
}

TEST_F(AuditLogTest, CopiedEntryIsNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  lines.insert(lines.begin() + 3, lines[2]);
  ExpectTampered(lines, "line 4: entry seq 3 repeats line 3: a copy of an entry was inserted");
}

TEST_F(AuditLogTest, SwappedEntriesAreNamed) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  std::swap(lines[3], lines[4]);
  ExpectTampered(lines,
                 "line 4: entry seq 5 stands where seq 4 belongs, and seq 4 is at line 5: "
                 "entries were reordered");
}

TEST_F(AuditLogTest, CutOffTailIsCaughtOnlyAgainstAnAnchor) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  lines.resize(5);
  WriteLines(path_, lines);
  // What remains is a valid log: without an anchor the cut cannot be seen.
  absl::StatusOr<AuditVerification> unanchored = Verify();
  ASSERT_TRUE(unanchored.ok()) << unanchored.status();
  EXPECT_EQ(unanchored->entries, 5u);

  absl::StatusOr<AuditVerification> anchored = Verify(head_);
  ASSERT_FALSE(anchored.ok());
  EXPECT_EQ(anchored.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(anchored.status().message()),
              HasSubstr("line 5: entry seq 5 is the last, but the anchor names seq 7: entries "
                        "seq 6 to 7 were cut off the end of the log"));

  // Continued after the cut, the log has a seq 7 again, but not the anchored one.
  {
    auto log = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append("query", "research-unit", "almelo-mpg", {}).ok());
  }
  absl::StatusOr<AuditVerification> continued = Verify(head_);
  ASSERT_FALSE(continued.ok());
  EXPECT_THAT(std::string(continued.status().message()),
              HasSubstr("line 7: entry seq 7 does not carry the anchor's hash"));
}

TEST_F(AuditLogTest, LogResignedWithAnotherKeyIsCaughtByTheExpectedKey) {
  WriteSampleLog();
  std::vector<std::string> lines = Lines(path_);
  std::string prev(64, '0');
  for (std::string& text : lines) {
    Json line = Json::parse(text);
    if (line["event"] == "open") line["details"]["signer_public_key"] = other_.public_hex;
    if (line["event"] == "delivery") line["details"]["records"] = 1;
    text = Forge(line, prev, &other_.secret);
    prev = Json::parse(text)["hash"];
  }
  WriteLines(path_, lines);
  // Self-consistent: it verifies under the key it names, which is why the caller must
  // supply the expected key.
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok());
  EXPECT_TRUE(VerifyAuditLog(*entries, other_.public_raw, std::nullopt).ok());
  ExpectTampered(lines, "line 1: entry seq 1 is signed by " + other_.public_hex +
                            ", the key the log names, not by the expected signer " +
                            key_.public_hex);
}

TEST_F(AuditLogTest, EmptyAndMalformedLogs) {
  WriteFile(path_, "");
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok());
  EXPECT_TRUE(entries->empty());
  absl::StatusOr<AuditVerification> empty = Verify();
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("the log has no entries"));

  WriteSampleLog();  // an empty file is a new log to Open
  std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 7u);
  lines[2] = "not json";
  WriteLines(path_, lines);
  entries = ReadAuditLog(path_);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entries.status().message()),
              HasSubstr(path_.string() + ":3: not a JSON audit entry"));
  auto log = AuditLog::Open(path_, key_.secret, "linker");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);

  lines[2] = R"({"seq":3})";
  WriteLines(path_, lines);
  entries = ReadAuditLog(path_);
  ASSERT_FALSE(entries.ok());
  EXPECT_THAT(std::string(entries.status().message()),
              HasSubstr(":3: the audit entry has no \"time\""));
}

TEST_F(AuditLogTest, TornLastLineIsCutAwayAndRecorded) {
  WriteSampleLog();
  const std::string torn = R"({"seq":8,"time":"2026-1)";
  WriteFile(path_, ReadFile(path_) + torn);
  absl::StatusOr<std::vector<AuditEntry>> strict = ReadAuditLog(path_);
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(std::string(strict.status().message()), HasSubstr(":8: the last line is incomplete"));
  size_t torn_bytes = 0;
  absl::StatusOr<std::vector<AuditEntry>> lenient = ReadAuditLog(path_, &torn_bytes);
  ASSERT_TRUE(lenient.ok());
  EXPECT_EQ(lenient->size(), 7u);
  EXPECT_EQ(torn_bytes, torn.size());

  {
    auto log = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->last_seq(), 8u);
  }
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 8u);
  EXPECT_EQ((*entries)[7].event, "open");
  EXPECT_EQ((*entries)[7].details["torn_line_bytes_discarded"], torn.size());
  EXPECT_TRUE(Verify(head_).ok());
}

TEST_F(AuditLogTest, TornCompleteEntryIsKept) {
  WriteSampleLog();
  std::string text = ReadFile(path_);
  text.pop_back();  // the newline of entry 7
  WriteFile(path_, text);
  {
    auto log = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
  }
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 8u);
  EXPECT_EQ((*entries)[6].event, "covenant_end");
  EXPECT_EQ((*entries)[7].details["torn_line"], "completed");
  EXPECT_TRUE(Verify(head_).ok());
}

// Crafted lines (issue #12 item 9) are reported naming the line, never a crash: a number too
// large for a double, a fraction, nesting 100k deep, a repeated key, a line over 1 MiB.
TEST_F(AuditLogTest, CraftedLinesAreRefusedNamingTheLine) {
  WriteSampleLog();
  const std::vector<std::string> lines = Lines(path_);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string line = lines[2];
    const size_t at = line.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) line.replace(at, from.size(), to);
    return line;
  };
  std::string deep = R"({"seq":3,"details":)";
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  deep += "}";
  const std::vector<std::pair<std::string, std::string>> crafted = {
      {R"({"seq":1e999})", "JSON error 406"},
      {with(R"("records":100)", R"("records":1e999)"), "JSON error 406"},
      {with(R"("records":100)", R"("records":100.5)"), "not a whole number"},
      {with(R"("records":100)", R"("records":-1e300)"), "not a whole number"},
      {with(R"("records":100)", R"("records":123456789012345678901234567890)"),
       "not a whole number"},
      {deep, "nests deeper than 16 levels"},
      {with(R"("records":100)", R"("records":5000,"records":100)"),
       "key \"records\" appears twice"},
      {with(R"("seq":3,)", R"("seq":3,"seq":3,)"), "key \"seq\" appears twice"},
      {R"({"seq":3,"x":")" + std::string(1 << 20, 'a') + R"("})", "the line is 1048592 bytes"},
  };
  for (const auto& [line, problem] : crafted) {
    std::vector<std::string> changed = lines;
    changed[2] = line;
    WriteLines(path_, changed);
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
    ASSERT_FALSE(entries.ok()) << problem;
    EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(entries.status().message()), HasSubstr(path_.string() + ":3: "));
    EXPECT_THAT(std::string(entries.status().message()), HasSubstr(problem));
    EXPECT_LT(entries.status().message().size(), 400u);
    auto reopened = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_FALSE(reopened.ok()) << problem;
    EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(reopened.status().message()), HasSubstr(":3: "));
    EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("refusing to extend"));
  }
}

TEST_F(AuditLogTest, AppendRefusesWhatTheCanonicalFormCannotHold) {
  auto log = AuditLog::Open(path_, key_.secret, "linker");
  ASSERT_TRUE(log.ok());
  absl::Status fraction = (*log)->Append("release", "r", "c", {{"share", 0.5}});
  EXPECT_EQ(fraction.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(fraction.message()), HasSubstr("not a whole number"));
  Json deep = Json::object();
  for (int i = 0; i < 20; ++i) deep = Json{{"a", deep}};
  absl::Status nested = (*log)->Append("release", "r", "c", deep);
  EXPECT_EQ(nested.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(nested.message()), HasSubstr("nest deeper than 16 levels"));
  absl::Status huge = (*log)->Append("release", "r", "c", {{"reason", std::string(1 << 20, 'a')}});
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(huge.message()), HasSubstr("an entry is at most 1048576"));
  EXPECT_EQ((*log)->last_seq(), 1u);
  uint64_t seq = 0;
  EXPECT_TRUE((*log)->Append("release", "r", "c", {{"tables", 2}}, &seq).ok());
  EXPECT_EQ(seq, 2u);
  EXPECT_TRUE(Verify().ok());
}

// The hashed bytes of one entry, written out by hand as docs/audit.md specifies them: keys
// sorted by their bytes at every level, no whitespace, whole numbers in decimal, strings in
// UTF-8 with only " \ and U+0000..U+001F escaped (\b \f \n \r \t, else \u00xx in lower
// case), "/" and U+007F and everything above as they are.
TEST_F(AuditLogTest, HashedBytesAreTheDocumentedCanonicalForm) {
  {
    auto log = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok());
    const std::string text = "q\"b\\c/\n\t\r\b\f\x01\x1f\x7f \xc3\xa9\xe2\x82\xac";
    ASSERT_TRUE((*log)
                    ->Append("delivery", "agent-\xc3\xa9", "c-1",
                             {{"s", text},
                              {"B", -2},
                              {"A", 1},
                              {"a", {true, false, nullptr}},
                              {"n", std::numeric_limits<uint64_t>::max()},
                              {"_", {{"z", 0}, {"Z", Json::object()}}}})
                    .ok());
  }
  const Json line = Json::parse(Lines(path_)[1]);
  const std::string prev = line["prev"];
  const std::string expected = R"({"actor":"agent-)"
                               "\xc3\xa9"
                               R"(","covenant":"c-1","details":{"A":1,"B":-2,"_":{"Z":{},"z":0},)"
                               R"("a":[true,false,null],"n":18446744073709551615,)"
                               R"("s":"q\"b\\c/\n\t\r\b\f\u0001\u001f)"
                               "\x7f \xc3\xa9\xe2\x82\xac"
                               R"("},"event":"delivery","prev":")" +
                               prev + R"(","seq":2,"service":"linker","time":")" +
                               line["time"].get<std::string>() + R"("})";
  const std::string message = "koppel/v1/audit\n" + prev + "\n" + expected;
  std::array<uint8_t, crypto_hash_sha256_BYTES> hash;
  crypto_hash_sha256(hash.data(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size());
  EXPECT_EQ(line["hash"], ToHex(hash)) << expected;
  // The line holds the details in the same form.
  EXPECT_THAT(Lines(path_)[1], HasSubstr(expected.substr(
                                   expected.find("\"details\":"),
                                   expected.find(",\"event\"") - expected.find("\"details\":"))));
  EXPECT_TRUE(Verify().ok());
}

// "After a failed write or sync the log refuses further appends": with EIO and with a full
// disk, the event is not recorded, every later event is refused even once the disk works
// again, and the half-written line is cut off, so the log reopens whole.
TEST_F(AuditLogTest, FailedWriteRefusesEveryLaterEvent) {
  using Operation = test::FaultInjectingFileSystem::Operation;
  for (int error : {EIO, ENOSPC}) {
    SCOPED_TRACE(ErrnoText(error));
    std::filesystem::remove(path_);
    test::FaultInjectingFileSystem fs;
    {
      auto log = AuditLog::Open(path_, key_.secret, "linker", fs);
      ASSERT_TRUE(log.ok()) << log.status();
      ASSERT_TRUE((*log)->Append("query", "research-unit", "almelo-mpg", {}).ok());
      if (error == ENOSPC) {
        fs.FailWritesAfter(20, ENOSPC, path_.string());  // 20 bytes of the line, then full
      } else {
        fs.FailNth(Operation::kWrite, 1, EIO, path_.string());
      }
      absl::Status failed = (*log)->Append("release", "research-unit", "almelo-mpg", {});
      EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
      EXPECT_THAT(std::string(failed.message()), HasSubstr("event release was not recorded"));
      EXPECT_THAT(std::string(failed.message()), HasSubstr(ErrnoText(error)));
      EXPECT_EQ((*log)->last_seq(), 2u);

      fs.Clear();
      absl::Status refused = (*log)->Append("query", "research-unit", "almelo-mpg", {});
      EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
      EXPECT_THAT(std::string(refused.message()), HasSubstr("refuses appends"));
      EXPECT_EQ((*log)->last_seq(), 2u);
    }
    size_t torn_bytes = 1;
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_, &torn_bytes);
    ASSERT_TRUE(entries.ok()) << entries.status();
    EXPECT_EQ(entries->size(), 2u);
    EXPECT_EQ(torn_bytes, 0u) << "the half-written line was cut off";
    auto reopened = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_EQ((*reopened)->last_seq(), 3u);
  }
}

// When even cutting off the half-written line fails, it stays at the end of the file; the
// next Open drops it (it was never acknowledged) and records that it did.
TEST_F(AuditLogTest, HalfWrittenLineThatCouldNotBeCutOffIsDroppedAtReopen) {
  using Operation = test::FaultInjectingFileSystem::Operation;
  test::FaultInjectingFileSystem fs;
  {
    auto log = AuditLog::Open(path_, key_.secret, "linker", fs);
    ASSERT_TRUE(log.ok()) << log.status();
    fs.FailWritesAfter(20, ENOSPC, path_.string());
    fs.FailAlways(Operation::kTruncate, EIO, path_.string());
    EXPECT_FALSE((*log)->Append("release", "research-unit", "almelo-mpg", {}).ok());
    fs.Clear();
    EXPECT_TRUE(
        absl::IsFailedPrecondition((*log)->Append("query", "research-unit", "almelo-mpg", {})));
  }
  size_t torn_bytes = 0;
  ASSERT_TRUE(ReadAuditLog(path_, &torn_bytes).ok());
  EXPECT_EQ(torn_bytes, 20u);
  {
    auto reopened = AuditLog::Open(path_, key_.secret, "linker");
    ASSERT_TRUE(reopened.ok()) << reopened.status();
  }
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(path_);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[1].event, "open");
  EXPECT_EQ((*entries)[1].details["torn_line_bytes_discarded"], 20);
  EXPECT_TRUE(VerifyAuditLog(*entries, key_.public_raw, std::nullopt).ok());
}

TEST_F(AuditLogTest, FailedSyncRefusesEveryLaterEvent) {
  using Operation = test::FaultInjectingFileSystem::Operation;
  test::FaultInjectingFileSystem fs;
  auto log = AuditLog::Open(path_, key_.secret, "linker", fs);
  ASSERT_TRUE(log.ok()) << log.status();
  fs.FailNth(Operation::kSync, 1, EIO, path_.string());
  absl::Status failed = (*log)->Append("release", "research-unit", "almelo-mpg", {});
  EXPECT_EQ(failed.code(), absl::StatusCode::kDataLoss) << failed;
  EXPECT_THAT(std::string(failed.message()), HasSubstr("may not be recorded"));
  EXPECT_TRUE(
      absl::IsFailedPrecondition((*log)->Append("query", "research-unit", "almelo-mpg", {})));
}

TEST_F(AuditLogTest, NewLogWhoseDirectoryCannotBeSyncedIsRefused) {
  using Operation = test::FaultInjectingFileSystem::Operation;
  test::FaultInjectingFileSystem fs;
  fs.FailNth(Operation::kSyncDirectory, 1, EIO);
  auto log = AuditLog::Open(path_, key_.secret, "linker", fs);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(log.status().message()),
              HasSubstr("cannot sync the directory " + dir_.path().string()));
}

TEST(AuditAnchorTest, Parses) {
  const std::string hash(64, 'a');
  absl::StatusOr<AuditAnchor> anchor = ParseAuditAnchor("17:" + std::string(64, 'A'));
  ASSERT_TRUE(anchor.ok()) << anchor.status();
  EXPECT_EQ(anchor->seq, 17u);
  EXPECT_EQ(anchor->hash, hash);
  for (const std::string& bad :
       {"17" + hash, "0:" + hash, "x:" + hash, "-1:" + hash, "17:" + hash.substr(1),
        "17:" + std::string(64, 'g'), " 17:" + hash, std::string()}) {
    absl::StatusOr<AuditAnchor> parsed = ParseAuditAnchor(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("anchor"));
    }
  }
}

// ---- koppel audit verify|report ------------------------------------------------------------

class AuditCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    linker_key_file_ = dir_ / "linker-signing.key.pub";
    vault_key_file_ = dir_ / "audit-signing.key.pub";
    ASSERT_TRUE(WritePublicKeyFile(linker_key_file_, AsBytes(linker_.public_raw)).ok());
    ASSERT_TRUE(WritePublicKeyFile(vault_key_file_, AsBytes(vault_.public_raw)).ok());
    WriteLinkerLog();
    WriteVaultLog();
  }

  static std::span<const uint8_t> AsBytes(const std::string& raw) {
    return {reinterpret_cast<const uint8_t*>(raw.data()), raw.size()};
  }

  void WriteLinkerLog() {
    auto log = AuditLog::Open(linker_log_, linker_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    AuditLog& l = **log;
    const std::string c = "almelo-mpg";
    ASSERT_TRUE(l.Append("covenant_load", "linker", c,
                         {{"version", 1}, {"sha256", std::string(64, 'c')}, {"state", "in force"}})
                    .ok());
    auto delivery = [&](const char* party, const char* dataset, const char* batch, int records,
                        int rejected, bool duplicate) {
      ASSERT_TRUE(l.Append("delivery", party, c,
                           {{"batch_id", batch},
                            {"dataset", dataset},
                            {"records", records},
                            {"rejected", rejected},
                            {"covenant_version", 1},
                            {"duplicate", duplicate}})
                      .ok());
    };
    delivery("agent-brp", "brp", "b1", 100, 2, false);
    delivery("agent-brp", "brp", "b2", 250, 0, false);
    delivery("agent-brp", "brp", "b1", 100, 2, true);
    delivery("agent-zorg", "zorg", "z1", 40, 0, false);
    ASSERT_TRUE(l.Append("delivery_refused", "agent-politie", c,
                         {{"batch_id", "p1"},
                          {"dataset", "politie"},
                          {"reason", "dataset politie is not granted to agent-politie"},
                          {"rule", "parties.datasets"}})
                    .ok());
    ASSERT_TRUE(l.Append("query", "research-unit", c,
                         {{"analysis", "almelo-mpg"}, {"spec_sha256", std::string(64, 'd')}})
                    .ok());
    ASSERT_TRUE(l.Append("release", "research-unit", c,
                         {{"analysis", "almelo-mpg"},
                          {"spec_sha256", std::string(64, 'd')},
                          {"tables", 4},
                          {"cells_suppressed_primary", 3},
                          {"cells_suppressed_secondary", 5},
                          {"mode", "exact"},
                          {"earlier_releases_checked", 2},
                          {"cells_suppressed_history", 4},
                          {"implied_groups_protected", 7},
                          {"releases_left", 19}})
                    .ok());
    ASSERT_TRUE(l.Append("query_refused", "research-unit", c,
                         {{"analysis", "other"}, {"reason", "analysis other is not allowed"}})
                    .ok());
    ASSERT_TRUE(l.Append("flags_release", "agent-wijkteam", "who-else-involved",
                         {{"release", "who-else-involved"},
                          {"tokens", 30},
                          {"delivered", 28},
                          {"flags", {"known_at_jeugdzorg"}}})
                    .ok());
    ASSERT_TRUE(l.Append("covenant_end", "po-almelo", c,
                         {{"officer", "po-almelo"},
                          {"reason", "study finished"},
                          {"records_deleted", 390},
                          {"batches_deleted", 3}})
                    .ok());
    ASSERT_TRUE(l.Append("mystery_event", "linker", c, {{"foo", 1}}).ok());
    linker_head_ = fmt::format("{}:{}", l.last_seq(), l.last_hash());
    ASSERT_EQ(l.last_seq(), 13u);
  }

  void WriteVaultLog() {
    auto log = AuditLog::Open(vault_log_, vault_.secret, "vault");
    ASSERT_TRUE(log.ok()) << log.status();
    AuditLog& v = **log;
    const std::string c = "almelo-mpg";
    ASSERT_TRUE(v.Append("key_issue", "agent-brp", c, {{"epoch", 1}, {"kind", "hmac"}}).ok());
    ASSERT_TRUE(v.Append("key_issue", "agent-brp", c, {{"epoch", 1}, {"kind", "hmac"}}).ok());
    ASSERT_TRUE(v.Append("key_issue", "agent-zorg", c, {{"epoch", 1}, {"kind", "data"}}).ok());
    ASSERT_TRUE(v.Append("oprf_evaluation", "agent-brp", c, {{"epoch", 1}, {"count", 1000}}).ok());
    ASSERT_TRUE(v.Append("oprf_evaluation", "agent-brp", c, {{"epoch", 1}, {"count", 500}}).ok());
    ASSERT_TRUE(v.Append("refused", "agent-x", c,
                         {{"operation", "key_issue"}, {"rule", "agent-x is no party"}})
                    .ok());
    ASSERT_TRUE(
        v.Append("key_destruction", "po-almelo", c,
                 {{"keys_destroyed", 3}, {"reason", "covenant ended"}, {"officer", "po-almelo"}})
            .ok());
  }

  test::ProcessResult Koppel(std::vector<std::string> args) {
    args.insert(args.begin(), std::string(KOPPEL_BIN_DIR) + "/koppel");
    return test::RunProcess(args);
  }

  TempDir dir_;
  KeyPair linker_ = MakeKey();
  KeyPair vault_ = MakeKey();
  std::filesystem::path linker_log_ = dir_ / "linker.audit.log";
  std::filesystem::path vault_log_ = dir_ / "vault.audit.log";
  std::filesystem::path linker_key_file_;
  std::filesystem::path vault_key_file_;
  std::string linker_head_;
};

TEST_F(AuditCommandTest, VerifyPrintsTheHeadAnchor) {
  test::ProcessResult r =
      Koppel({"audit", "verify", "--log", linker_log_.string(), "--signer-key", linker_key_file_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(
      r.out, HasSubstr(linker_log_.string() + ": 13 entries, chain intact, every entry signed by " +
                       linker_.public_hex + "; head " + linker_head_ + " (note this anchor"));
  r = Koppel({"audit", "verify", "--log", linker_log_.string(), "--signer-key", linker_key_file_,
              "--anchor", linker_head_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(AuditCommandTest, VerifyExitCodes) {
  // Tampered: a delivery's record count changed.
  std::vector<std::string> lines = Lines(linker_log_);
  const size_t at = lines[3].find(R"("records":250)");
  ASSERT_NE(at, std::string::npos);
  std::vector<std::string> changed = lines;
  changed[3].replace(at, 13, R"("records":251)");
  const std::filesystem::path tampered = dir_ / "tampered.log";
  WriteLines(tampered, changed);
  test::ProcessResult r =
      Koppel({"audit", "verify", "--log", tampered.string(), "--signer-key", linker_key_file_});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr(tampered.string() + ": line 4: entry seq 4 was changed"));

  // The vault's key for the linker's log.
  r = Koppel({"audit", "verify", "--log", linker_log_.string(), "--signer-key", vault_key_file_});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("is signed by " + linker_.public_hex));

  // Cut off after the anchor was noted.
  std::vector<std::string> cut(lines.begin(), lines.end() - 2);
  const std::filesystem::path truncated = dir_ / "truncated.log";
  WriteLines(truncated, cut);
  r = Koppel({"audit", "verify", "--log", truncated.string(), "--signer-key", linker_key_file_});
  EXPECT_EQ(r.exit_code, 0) << "a cut-off tail is invisible without an anchor";
  r = Koppel({"audit", "verify", "--log", truncated.string(), "--signer-key", linker_key_file_,
              "--anchor", linker_head_});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("were cut off the end of the log"));

  const std::filesystem::path malformed = dir_ / "malformed.log";
  WriteFile(malformed, "{\"seq\":1}\n");
  r = Koppel({"audit", "verify", "--log", malformed.string(), "--signer-key", linker_key_file_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr(malformed.string() + ":1:"));

  r = Koppel({"audit", "verify", "--log", (dir_ / "missing.log").string(), "--signer-key",
              linker_key_file_});
  EXPECT_EQ(r.exit_code, 3);
  r = Koppel({"audit", "verify", "--log", linker_log_.string(), "--signer-key",
              (dir_ / "missing.pub").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot read signer key"));
  r = Koppel({"audit", "verify", "--log", linker_log_.string(), "--signer-key", linker_key_file_,
              "--anchor", "13"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(AuditCommandTest, CraftedLinesAreABrokenLogNotACrash) {
  std::string deep = R"({"seq":14,"details":)";
  for (int i = 0; i < 100000; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 100000; ++i) deep += "}";
  deep += "}";
  for (const std::string& line : {std::string(R"({"seq":1e999})"), deep}) {
    const std::filesystem::path crafted = dir_ / "crafted.log";
    WriteFile(crafted, ReadFile(linker_log_) + line + "\n");
    test::ProcessResult r =
        Koppel({"audit", "verify", "--log", crafted.string(), "--signer-key", linker_key_file_});
    EXPECT_EQ(r.exit_code, 3) << r.err.substr(0, 300);
    EXPECT_THAT(r.err, HasSubstr(crafted.string() + ":14: "));
    r = Koppel({"audit", "report", "--log", crafted.string(), "--signer-key", linker_key_file_});
    EXPECT_EQ(r.exit_code, 3) << r.err.substr(0, 300);
  }
}

const Json* FindRow(const Json& rows, const Json& match) {
  for (const Json& row : rows) {
    bool all = true;
    for (const auto& item : match.items()) {
      if (!row.contains(item.key()) || row[item.key()] != item.value()) all = false;
    }
    if (all) return &row;
  }
  return nullptr;
}

TEST_F(AuditCommandTest, ReportMatchesWhatWasLogged) {
  test::ProcessResult r = Koppel({"audit", "report", "--log", linker_log_.string(), "--log",
                                  vault_log_.string(), "--signer-key", linker_key_file_,
                                  "--signer-key", vault_key_file_, "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json report = Json::parse(r.out);

  ASSERT_EQ(report["logs"].size(), 2u);
  EXPECT_EQ(report["logs"][0]["entries"], 13);
  EXPECT_EQ(report["logs"][0]["service"], "linker");
  EXPECT_EQ(report["logs"][0]["verification"]["state"], "verified");
  EXPECT_EQ(report["logs"][0]["verification"]["head"], linker_head_);
  EXPECT_EQ(report["logs"][1]["entries"], 8);
  EXPECT_EQ(report["logs"][1]["verification"]["state"], "verified");

  EXPECT_EQ(report["covenants_loaded"].size(), 1u);
  EXPECT_EQ(report["covenants_loaded"][0]["version"], 1);

  const Json* brp = FindRow(report["deliveries"], {{"party", "agent-brp"}, {"dataset", "brp"}});
  ASSERT_NE(brp, nullptr) << report["deliveries"].dump();
  EXPECT_EQ((*brp)["batches"], 2);
  EXPECT_EQ((*brp)["records"], 350);
  EXPECT_EQ((*brp)["rejected"], 2);
  EXPECT_EQ((*brp)["duplicate_batches"], 1);
  EXPECT_EQ((*brp)["duplicate_records"], 100);
  const Json* zorg = FindRow(report["deliveries"], {{"party", "agent-zorg"}});
  ASSERT_NE(zorg, nullptr);
  EXPECT_EQ((*zorg)["records"], 40);
  EXPECT_EQ(report["deliveries"].size(), 2u);
  ASSERT_EQ(report["refused_deliveries"].size(), 1u);
  EXPECT_EQ(report["refused_deliveries"][0]["party"], "agent-politie");
  EXPECT_EQ(report["refused_deliveries"][0]["reason"],
            "dataset politie is not granted to agent-politie");

  const Json* issued = FindRow(report["keys_issued"], {{"party", "agent-brp"}});
  ASSERT_NE(issued, nullptr);
  EXPECT_EQ((*issued)["count"], 2);
  EXPECT_EQ((*issued)["kind"], "hmac");
  EXPECT_EQ(report["keys_issued"].size(), 2u);
  ASSERT_EQ(report["oprf_evaluations"].size(), 1u);
  EXPECT_EQ(report["oprf_evaluations"][0]["evaluations"], 1500);
  EXPECT_EQ(report["oprf_evaluations"][0]["requests"], 2);

  ASSERT_EQ(report["queries"].size(), 1u);
  EXPECT_EQ(report["queries"][0]["queries"], 1);
  ASSERT_EQ(report["releases"].size(), 1u);
  EXPECT_EQ(report["releases"][0]["recipient"], "research-unit");
  EXPECT_EQ(report["releases"][0]["cells_suppressed_primary"], 3);
  EXPECT_EQ(report["releases"][0]["cells_suppressed_secondary"], 5);
  EXPECT_EQ(report["releases"][0]["tables"], 4);
  EXPECT_EQ(report["releases"][0]["mode"], "exact");
  EXPECT_EQ(report["releases"][0]["earlier_releases_checked"], 2);
  EXPECT_EQ(report["releases"][0]["cells_suppressed_history"], 4);
  ASSERT_EQ(report["refused_queries"].size(), 1u);
  EXPECT_EQ(report["refused_queries"][0]["reason"], "analysis other is not allowed");

  ASSERT_EQ(report["purpose_bound_releases"].size(), 1u);
  EXPECT_EQ(report["purpose_bound_releases"][0]["tokens"], 30);
  EXPECT_EQ(report["purpose_bound_releases"][0]["delivered"], 28);

  ASSERT_EQ(report["covenant_ends"].size(), 1u);
  EXPECT_EQ(report["covenant_ends"][0]["officer"], "po-almelo");
  EXPECT_EQ(report["covenant_ends"][0]["records_deleted"], 390);
  ASSERT_EQ(report["key_destructions"].size(), 1u);
  EXPECT_EQ(report["key_destructions"][0]["keys_destroyed"], 3);
  ASSERT_EQ(report["refused_operations"].size(), 1u);
  EXPECT_EQ(report["refused_operations"][0]["rule"], "agent-x is no party");
  ASSERT_EQ(report["other_events"].size(), 1u);
  EXPECT_EQ(report["other_events"][0]["event"], "mystery_event");
  EXPECT_EQ(report["other_events"][0]["details"]["foo"], 1);

  // Refusals are counted by the rule recorded with them, not by their message text; an entry
  // from before rules were recorded counts as such.
  EXPECT_EQ(report["refused_deliveries"][0]["rule"], "parties.datasets");
  const Json* by_rule = FindRow(report["refusals_by_rule"],
                                {{"event", "delivery_refused"}, {"rule", "parties.datasets"}});
  ASSERT_NE(by_rule, nullptr) << report["refusals_by_rule"].dump();
  EXPECT_EQ((*by_rule)["refusals"], 1);
  EXPECT_EQ((*by_rule)["service"], "linker");
  const Json* unrecorded =
      FindRow(report["refusals_by_rule"], {{"event", "query_refused"}, {"rule", "(not recorded)"}});
  ASSERT_NE(unrecorded, nullptr) << report["refusals_by_rule"].dump();
  EXPECT_EQ((*unrecorded)["refusals"], 1);
  EXPECT_EQ(report["refusals_by_rule"].size(), 3u) << report["refusals_by_rule"].dump();
}

TEST_F(AuditCommandTest, TextReportAndVerificationStates) {
  test::ProcessResult r =
      Koppel({"audit", "report", "--log", linker_log_.string(), "--log", vault_log_.string(),
              "--signer-key", linker_key_file_, "--signer-key", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("verified: chain intact, every entry signed by " + linker_.public_hex));
  EXPECT_THAT(r.out, HasSubstr("unverified: chain intact and signed by the key the log names "
                               "itself (" +
                               vault_.public_hex + ")"));
  EXPECT_THAT(r.out, HasSubstr("Deliveries"));
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex(R"(almelo-mpg +agent-brp +brp +2 +350 +2 +1 +100)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)")));
  EXPECT_THAT(r.out, Not(HasSubstr("FAILED")));
  // Per release: its mode, and the cells suppressed because of earlier releases.
  EXPECT_THAT(r.out, HasSubstr("of which for earlier releases"));
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(research-unit +almelo-mpg +4 +exact +3 +5 +4 +2 +19)")))
      << r.out;

  std::vector<std::string> lines = Lines(linker_log_);
  lines.erase(lines.begin() + 5);
  WriteLines(linker_log_, lines);
  r = Koppel({"audit", "report", "--log", linker_log_.string(), "--signer-key", linker_key_file_});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.out, HasSubstr("FAILED VERIFICATION: line 6: entry seq 7 follows seq 5"));

  r = Koppel({"audit", "report", "--log", linker_log_.string(), "--log", vault_log_.string(),
              "--signer-key", linker_key_file_});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace koppel

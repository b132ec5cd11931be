// The backup manifest (core/backup_files.h): a file changed, missing or named outside the
// backup is refused before anything is restored, and a backup goes only to a new or empty
// directory.
#include "core/backup_files.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <fstream>

#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(BackupFilesTest, AManifestVerifiesItsFilesAndRefusesAnyChange) {
  test::TempDir dir;
  const fs::path backup = dir.path() / "backup";
  ASSERT_TRUE(PrepareBackupDirectory(backup).ok());
  Write(backup / "covenants/c1/held", "{\"records\": 3}\n");
  Write(backup / "audit.log", "line\n");
  BackupManifest manifest{.format = "koppel-test-backup 1",
                          .time = "2026-12-07T00:00:00Z",
                          .version = "0.1.0",
                          .contents = {{"covenants", {"c1"}}},
                          .files = {}};
  for (const char* file : {"covenants/c1/held", "audit.log"}) {
    absl::StatusOr<std::string> sha256 = FileSha256Hex(backup / file);
    ASSERT_TRUE(sha256.ok()) << sha256.status();
    manifest.files[file] = *sha256;
  }
  Write(backup / kBackupManifestFile, ManifestToJson(manifest).dump());

  absl::StatusOr<BackupManifest> read = ReadBackupManifest(backup, "koppel-test-backup 1");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->files, manifest.files);
  EXPECT_EQ(read->contents, manifest.contents);
  EXPECT_TRUE(VerifyBackupFiles(backup, *read).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(ReadBackupManifest(backup, "another 1").status()));

  Write(backup / "covenants/c1/held", "{\"records\": 4}\n");
  absl::Status changed = VerifyBackupFiles(backup, *read);
  EXPECT_TRUE(absl::IsDataLoss(changed)) << changed;
  EXPECT_NE(std::string(changed.message()).find("covenants/c1/held"), std::string::npos);
  EXPECT_NE(std::string(changed.message()).find("nothing was restored"), std::string::npos);
  fs::remove(backup / "covenants/c1/held");
  EXPECT_TRUE(absl::IsDataLoss(VerifyBackupFiles(backup, *read)));

  nlohmann::json escaping = ManifestToJson(manifest);
  escaping["files"]["../outside"] = manifest.files["audit.log"];
  Write(backup / kBackupManifestFile, escaping.dump());
  EXPECT_TRUE(absl::IsDataLoss(ReadBackupManifest(backup, "koppel-test-backup 1").status()));
  fs::remove(backup / kBackupManifestFile);
  EXPECT_TRUE(
      absl::IsFailedPrecondition(ReadBackupManifest(backup, "koppel-test-backup 1").status()));
}

TEST(BackupFilesTest, PathsStayInsideTheBackup) {
  EXPECT_TRUE(IsSafeBackupPath("covenants/c1/db/000012.sst"));
  EXPECT_TRUE(IsSafeBackupPath("BACKUP.json"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/", "a\\b"}) {
    EXPECT_FALSE(IsSafeBackupPath(bad)) << bad;
  }
}

TEST(BackupFilesTest, ABackupGoesToANewOrEmptyPrivateDirectory) {
  test::TempDir dir;
  const fs::path fresh = dir.path() / "new";
  ASSERT_TRUE(PrepareBackupDirectory(fresh).ok());
  struct stat info {};
  ASSERT_EQ(::stat(fresh.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  EXPECT_TRUE(PrepareBackupDirectory(fresh).ok());  // empty
  Write(fresh / "x", "x");
  EXPECT_TRUE(absl::IsFailedPrecondition(PrepareBackupDirectory(fresh)));

  const fs::path copy = dir.path() / "copy";
  absl::StatusOr<std::vector<std::string>> copied = CopyTreeDurably(fresh, copy);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, std::vector<std::string>{"x"});
  ASSERT_EQ(::stat((copy / "x").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(fs::last_write_time(copy / "x"), fs::last_write_time(fresh / "x"));
}

TEST(BackupFilesTest, ASignedManifestVerifiesOnlyUnchangedAndByItsKey) {
  ASSERT_GE(sodium_init(), 0);
  test::TempDir dir;
  const fs::path backup = dir.path() / "backup";
  Write(backup / "BACKUP.json", "{\"format\": \"x\"}\n");
  absl::StatusOr<Secret> key = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  absl::StatusOr<Secret> other = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  ASSERT_TRUE(key.ok() && other.ok());
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> other_public_key{};
  crypto_sign_keypair(public_key.data(), key->mutable_data());
  crypto_sign_keypair(other_public_key.data(), other->mutable_data());

  EXPECT_TRUE(absl::IsDataLoss(VerifyBackupManifestSignature(backup, public_key)))
      << "an unsigned manifest";
  ASSERT_TRUE(SignBackupManifest(backup, *key).ok());
  EXPECT_TRUE(VerifyBackupManifestSignature(backup, public_key).ok());
  EXPECT_TRUE(absl::IsDataLoss(VerifyBackupManifestSignature(backup, other_public_key)));
  Write(backup / "BACKUP.json", "{\"format\": \"y\"}\n");
  EXPECT_TRUE(absl::IsDataLoss(VerifyBackupManifestSignature(backup, public_key)));
  Write(backup / "BACKUP.json.sig", "zz\n");
  EXPECT_TRUE(absl::IsDataLoss(VerifyBackupManifestSignature(backup, public_key)));
}

}  // namespace
}  // namespace koppel

// The vault's key store on a failing disk: a key that could not be written durably, or a
// destruction whose write, removal or directory sync failed, is reported, never ignored.
#include "vault/key_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <cerrno>
#include <string>

#include "core/file_contents.h"
#include "tests/testing/fault_injecting_file_system.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/unprivileged.h"

namespace koppel::vault {
namespace {

using ::koppel::test::FaultInjectingFileSystem;
using ::koppel::test::TempDir;
using ::testing::HasSubstr;
using Operation = FaultInjectingFileSystem::Operation;

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    absl::StatusOr<Secret> master = Secret::Random(crypto_secretbox_KEYBYTES);
    ASSERT_TRUE(master.ok());
    absl::StatusOr<std::unique_ptr<KeyStore>> store =
        KeyStore::Open(dir_.path(), std::move(*master), fs_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::filesystem::path KeyFile(const std::string& name, int epoch) const {
    return dir_ / "keys" / (name + "." + std::to_string(epoch) + ".sealed");
  }

  TempDir dir_;
  FaultInjectingFileSystem fs_;
  std::unique_ptr<KeyStore> store_;
};

TEST_F(KeyStoreTest, KeyThatCannotBeWrittenIsReported) {
  fs_.FailWritesAfter(0, ENOSPC);
  absl::StatusOr<uint32_t> epoch = store_->CurrentEpoch("almelo-mpg");
  ASSERT_FALSE(epoch.ok());
  EXPECT_EQ(epoch.status().code(), absl::StatusCode::kResourceExhausted) << epoch.status();
  EXPECT_FALSE(std::filesystem::exists(KeyFile("almelo-mpg", 1)));

  fs_.Clear();
  fs_.FailNth(Operation::kSyncDirectory, 1, EIO);
  epoch = store_->CurrentEpoch("almelo-mpg");
  ASSERT_FALSE(epoch.ok());
  EXPECT_EQ(epoch.status().code(), absl::ErrnoToStatusCode(EIO)) << epoch.status();

  fs_.Clear();
  epoch = store_->CurrentEpoch("almelo-mpg");
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  EXPECT_EQ(*epoch, 1u);
}

TEST_F(KeyStoreTest, DestroyReportsAFailedOverwrite) {
  ASSERT_TRUE(store_->CurrentEpoch("almelo-mpg").ok());
  fs_.FailNth(Operation::kWrite, 1, EIO);
  absl::StatusOr<uint64_t> destroyed = store_->Destroy("almelo-mpg");
  ASSERT_FALSE(destroyed.ok());
  EXPECT_EQ(destroyed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(destroyed.status().message()),
              HasSubstr("cannot destroy " + KeyFile("almelo-mpg", 1).string()));
  fs_.Clear();
  destroyed = store_->Destroy("almelo-mpg");
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(*destroyed, 1u);
  EXPECT_FALSE(std::filesystem::exists(KeyFile("almelo-mpg", 1)));
}

// The overwrite must reach the disk: with writes cut short, every byte still goes out.
TEST_F(KeyStoreTest, DestroyOverwritesEveryByteThroughShortWrites) {
  ASSERT_TRUE(store_->CurrentEpoch("almelo-mpg").ok());
  const int writes_before = fs_.Count(Operation::kWrite);
  fs_.ShortWrites(5, /*interrupt=*/true);
  absl::StatusOr<uint64_t> destroyed = store_->Destroy("almelo-mpg");
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(*destroyed, 1u);
  // 72 bytes (nonce, MAC, key) in chunks of 5, each interrupted once first.
  EXPECT_EQ(fs_.Count(Operation::kWrite) - writes_before, 2 * ((72 + 4) / 5));
}

TEST_F(KeyStoreTest, DestroyReportsAFailedDirectorySync) {
  ASSERT_TRUE(store_->CurrentEpoch("almelo-mpg").ok());
  fs_.FailNth(Operation::kSyncDirectory, 1, EIO, (dir_ / "keys").string());
  absl::StatusOr<uint64_t> destroyed = store_->Destroy("almelo-mpg");
  ASSERT_FALSE(destroyed.ok());
  EXPECT_EQ(destroyed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(destroyed.status().message()), HasSubstr("may not survive a crash"));
  EXPECT_FALSE(std::filesystem::exists(KeyFile("almelo-mpg", 1)));
}

// The keys a failed attempt already removed are counted by the retry that finishes the job, so
// the audit entry written after it does not say no key was destroyed.
TEST_F(KeyStoreTest, RetryAfterAFailedDirectorySyncCountsTheKeysAlreadyRemoved) {
  ASSERT_TRUE(store_->CurrentEpoch("almelo-mpg").ok());
  ASSERT_TRUE(store_->Rotate("almelo-mpg").ok());
  fs_.FailNth(Operation::kSyncDirectory, 1, EIO, (dir_ / "keys").string());
  ASSERT_EQ(store_->Destroy("almelo-mpg").status().code(), absl::StatusCode::kDataLoss);
  fs_.Clear();
  absl::StatusOr<uint64_t> destroyed = store_->Destroy("almelo-mpg");
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(*destroyed, 2u);
}

TEST_F(KeyStoreTest, DestroyReportsAFailedRemoval) {
  ASSERT_TRUE(store_->CurrentEpoch("almelo-mpg").ok());
  fs_.FailNth(Operation::kRemove, 1, EACCES);
  absl::StatusOr<uint64_t> destroyed = store_->Destroy("almelo-mpg");
  ASSERT_FALSE(destroyed.ok());
  EXPECT_THAT(std::string(destroyed.status().message()), HasSubstr("cannot remove"));
}

// A salt that cannot be read is an error, never a reason to write a new one: a new salt would
// change the master key and lock every sealed key away.
TEST_F(KeyStoreTest, UnreadableSaltIsReportedAndKeptAsItIs) {
  const std::string passphrase = "correct horse battery";
  ASSERT_TRUE(KeyStore::MasterKeyFromPassphrase(dir_.path(), passphrase, fs_).ok());
  const std::filesystem::path salt_path = dir_ / "master.salt";
  absl::StatusOr<std::string> salt = ReadFileContents(salt_path);
  ASSERT_TRUE(salt.ok()) << salt.status();
  std::filesystem::permissions(salt_path, std::filesystem::perms::none);

  const absl::Status derived = test::RunWithoutPermissionOverride([&]() -> absl::Status {
    return KeyStore::MasterKeyFromPassphrase(dir_.path(), passphrase, fs_).status();
  });
  EXPECT_EQ(derived.code(), absl::StatusCode::kPermissionDenied) << derived;
  EXPECT_THAT(std::string(derived.message()), HasSubstr("cannot read vault salt"));

  std::filesystem::permissions(salt_path, std::filesystem::perms::owner_read);
  absl::StatusOr<std::string> after = ReadFileContents(salt_path);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(*after == *salt) << "the salt was replaced";
}

}  // namespace
}  // namespace koppel::vault

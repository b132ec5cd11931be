// The I/O layer (core/file.h): writes go on after short writes and EINTR, errno becomes the
// Status code Abseil gives it with the file and the operation in the message, an atomic replace
// either happens whole or leaves the old file and no temporary one, and key files are created
// whole or not at all. Faults come from tests/testing/fault_injecting_file_system.h.
#include "core/file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/key_file.h"
#include "tests/testing/fault_injecting_file_system.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using ::koppel::test::FaultInjectingFileSystem;
using ::koppel::test::ReadFile;
using ::koppel::test::TempDir;
using ::koppel::test::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Operation = FaultInjectingFileSystem::Operation;

std::vector<std::string> Names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

class FileTest : public ::testing::Test {
 protected:
  absl::Status WriteThrough(FileSystem& fs, const std::filesystem::path& path,
                            std::string_view bytes) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file = fs.NewWritableFile(path, {});
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->Append(bytes); !s.ok()) return s;
    return (*file)->Close();
  }

  TempDir dir_;
  FaultInjectingFileSystem fs_;
};

TEST_F(FileTest, AppendGoesOnAfterShortWritesAndInterrupts) {
  const std::string text = "one line of text that takes many short writes\n";
  fs_.ShortWrites(3, /*interrupt=*/true);
  ASSERT_TRUE(WriteThrough(fs_, dir_ / "f", text).ok());
  EXPECT_EQ(ReadFile(dir_ / "f"), text);
  // Every chunk of 3 bytes was refused with EINTR once before it went through.
  EXPECT_EQ(fs_.Count(Operation::kWrite), 2 * static_cast<int>((text.size() + 2) / 3));
}

TEST_F(FileTest, FullDiskIsResourceExhaustedNamingTheFile) {
  const std::filesystem::path path = dir_ / "full";
  fs_.FailWritesAfter(4, ENOSPC, path.string());
  absl::Status status = WriteThrough(fs_, path, "more than four bytes");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(Message(status), HasSubstr("cannot write " + path.string()));
  EXPECT_EQ(ReadFile(path), "more") << "what fit was written, as on a real disk";
  // Other files are not affected by the rule.
  EXPECT_TRUE(WriteThrough(fs_, dir_ / "other", "more than four bytes").ok());
}

TEST_F(FileTest, IoErrorHasAbseilsCodeForEio) {
  const std::filesystem::path path = dir_ / "f";
  fs_.FailNth(Operation::kWrite, 1, EIO);
  absl::Status status = WriteThrough(fs_, path, "x");
  EXPECT_EQ(status.code(), absl::ErrnoToStatusCode(EIO)) << status;
  EXPECT_THAT(Message(status), HasSubstr("cannot write " + path.string()));
  EXPECT_THAT(Message(status), HasSubstr(ErrnoText(EIO)));

  fs_.FailNth(Operation::kSync, 1, EIO);
  absl::StatusOr<std::unique_ptr<WritableFile>> file = fs_.NewWritableFile(path, {});
  ASSERT_TRUE(file.ok());
  absl::Status synced = (*file)->Sync();
  EXPECT_EQ(synced.code(), absl::ErrnoToStatusCode(EIO));
  EXPECT_THAT(Message(synced), HasSubstr("cannot sync " + path.string()));
}

TEST_F(FileTest, PosixErrorsMapLikeErrno) {
  FileSystem& fs = *FileSystem::Default();
  absl::StatusOr<std::unique_ptr<SequentialFile>> missing = fs.NewSequentialFile(dir_ / "none");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr((dir_ / "none").string()));

  WriteFile(dir_ / "there", "old");
  absl::StatusOr<std::unique_ptr<WritableFile>> exclusive =
      fs.NewWritableFile(dir_ / "there", {.mode = OpenMode::kExclusive});
  EXPECT_EQ(exclusive.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(dir_ / "there"), "old");

  absl::StatusOr<std::unique_ptr<WritableFile>> overwrite =
      fs.NewWritableFile(dir_ / "absent", {.mode = OpenMode::kOverwrite});
  EXPECT_EQ(overwrite.status().code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(fs.SyncDirectory(dir_ / "none").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs.RenameFile(dir_ / "none", dir_ / "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*fs.FileExists(dir_ / "there"), true);
  EXPECT_EQ(*fs.FileExists(dir_ / "none"), false);
}

TEST_F(FileTest, AppendModeKeepsWhatIsThereAndTruncateCutsIt) {
  FileSystem& fs = *FileSystem::Default();
  WriteFile(dir_ / "log", "first\n");
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      fs.NewWritableFile(dir_ / "log", {.mode = OpenMode::kAppend});
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("second\n").ok());
  EXPECT_EQ(*(*file)->Size(), 13u);
  ASSERT_TRUE((*file)->Truncate(6).ok());
  ASSERT_TRUE((*file)->SyncData().ok());
  ASSERT_TRUE((*file)->Close().ok());
  absl::StatusOr<std::unique_ptr<SequentialFile>> read = fs.NewSequentialFile(dir_ / "log");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*ReadToEnd(**read), "first\n");
}

TEST_F(FileTest, LockIsExclusive) {
  WriteFile(dir_ / "locked", "");
  FileSystem& fs = *FileSystem::Default();
  absl::StatusOr<std::unique_ptr<FileLock>> first = fs.LockFile(dir_ / "locked");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<FileLock>> second = fs.LockFile(dir_ / "locked");
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  first->reset();
  EXPECT_TRUE(fs.LockFile(dir_ / "locked").ok());
}

// The old file stays as it was, and no temporary file is left, whichever step fails.
TEST_F(FileTest, AtomicReplaceLeavesTheOldFileWhenAStepFails) {
  const std::filesystem::path path = dir_ / "receipt";
  WriteFile(path, "old");
  struct Case {
    Operation operation;
    int error;
    absl::StatusCode code;
    std::string message;
  };
  for (const Case& c : {Case{Operation::kWrite, ENOSPC, absl::StatusCode::kResourceExhausted,
                             "cannot write " + path.string() + ".tmp-"},
                        Case{Operation::kWrite, EIO, absl::ErrnoToStatusCode(EIO),
                             "cannot write " + path.string() + ".tmp-"},
                        Case{Operation::kSync, EIO, absl::ErrnoToStatusCode(EIO),
                             "cannot sync " + path.string() + ".tmp-"},
                        Case{Operation::kRename, EIO, absl::ErrnoToStatusCode(EIO),
                             "cannot rename " + path.string() + ".tmp-"},
                        Case{Operation::kOpen, EACCES, absl::StatusCode::kPermissionDenied,
                             "cannot create " + path.string() + ".tmp-"}}) {
    SCOPED_TRACE(Message(absl::ErrnoToStatus(c.error, "injected")));
    fs_.Clear();
    fs_.FailNth(c.operation, 1, c.error);
    absl::Status status = WriteFileAtomically(fs_, path, "new content");
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_THAT(Message(status), HasSubstr(c.message));
    EXPECT_EQ(ReadFile(path), "old");
    EXPECT_THAT(Names(dir_.path()), ElementsAre("receipt"));
  }
  fs_.Clear();
  ASSERT_TRUE(WriteFileAtomically(fs_, path, "new content").ok());
  EXPECT_EQ(ReadFile(path), "new content");
  EXPECT_THAT(Names(dir_.path()), ElementsAre("receipt"));
}

TEST_F(FileTest, AtomicReplaceReportsAFailedDirectorySync) {
  const std::filesystem::path path = dir_ / "manifest.json";
  fs_.FailNth(Operation::kSyncDirectory, 1, EIO);
  absl::Status status = WriteFileAtomically(fs_, path, "{}");
  EXPECT_EQ(status.code(), absl::ErrnoToStatusCode(EIO)) << status;
  EXPECT_THAT(Message(status), HasSubstr("cannot sync the directory " + dir_.path().string()));
}

TEST_F(FileTest, AtomicReplaceKeepsThePermissionsAsked) {
  const std::filesystem::path path = dir_ / "public";
  ASSERT_TRUE(WriteFileAtomically(*FileSystem::Default(), path, "x", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ / "private", "x").ok());
  using std::filesystem::perms;
  EXPECT_EQ(std::filesystem::status(path).permissions() & perms::all,
            perms::owner_read | perms::owner_write | perms::group_read | perms::others_read);
  EXPECT_EQ(std::filesystem::status(dir_ / "private").permissions() & perms::all,
            perms::owner_read | perms::owner_write);
}

// A key file is there whole or not at all: a half-written one would be refused as malformed
// and, being never overwritten, would block the next attempt.
TEST_F(FileTest, KeyFileThatCannotBeWrittenIsNotLeftBehind) {
  ASSERT_EQ(sodium_init() >= 0, true);
  absl::StatusOr<Secret> key = Secret::Random(32);
  ASSERT_TRUE(key.ok());
  const std::filesystem::path path = dir_ / "covenant.key";
  fs_.FailWritesAfter(10, ENOSPC);
  absl::Status status = WriteKeyFile(path, *key, fs_);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(Message(status), HasSubstr("key file: cannot write " + path.string()));
  EXPECT_FALSE(std::filesystem::exists(path));

  fs_.Clear();
  fs_.FailNth(Operation::kSync, 1, EIO);
  EXPECT_EQ(WriteKeyFile(path, *key, fs_).code(), absl::ErrnoToStatusCode(EIO));
  EXPECT_FALSE(std::filesystem::exists(path));

  fs_.Clear();
  ASSERT_TRUE(WriteKeyFile(path, *key, fs_).ok());
  absl::StatusOr<Secret> read = ReadKeyFile(path, 32);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(sodium_memcmp(read->data(), key->data(), 32), 0);

  absl::Status again = WriteKeyFile(path, *key);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(again), HasSubstr("cannot create key file " + path.string() + ": "));
  EXPECT_THAT(Message(again), HasSubstr("remove it first if you mean to replace the key"));
}

// A passphrase file (the vault's, handed over by systemd's LoadCredential=) is the passphrase and
// the line breaks that end it; spaces are the passphrase's own.
TEST_F(FileTest, PassphraseFileIsItsBytesWithoutTheFinalLineBreaks) {
  const std::filesystem::path path = dir_.path() / "passphrase";
  auto write = [&path](const std::string& text, std::filesystem::perms perms) {
    std::filesystem::remove(path);
    WriteFile(path, text);
    std::filesystem::permissions(path, perms);
  };
  const auto owner = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
  write(" a passphrase with spaces \r\n\n", owner);
  absl::StatusOr<Secret> read = ReadPassphraseFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(read->data()), read->size()),
            " a passphrase with spaces ");

  write(std::string(kMaxPassphraseSize, 'p') + "\n", owner);
  read = ReadPassphraseFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), kMaxPassphraseSize);

  write(std::string(kMaxPassphraseSize + 1, 'p'), owner);
  EXPECT_THAT(Message(ReadPassphraseFile(path).status()), HasSubstr("holds more than 1024 bytes"));

  write("\n", owner);
  EXPECT_THAT(Message(ReadPassphraseFile(path).status()), HasSubstr("is empty"));

  write("readable by the group\n", owner | std::filesystem::perms::group_read);
  const absl::Status shared = ReadPassphraseFile(path).status();
  EXPECT_EQ(shared.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Message(shared), HasSubstr("passphrase file " + path.string() +
                                         " is readable by group or others; run: chmod 600"));
  EXPECT_THAT(Message(shared), ::testing::Not(HasSubstr("readable by the group\n")));

  EXPECT_EQ(ReadPassphraseFile(dir_.path() / "missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FileTest, PublicKeyFileWriteFailureIsReported) {
  const std::vector<uint8_t> key(32, 7);
  const std::filesystem::path path = dir_ / "signing.key.pub";
  fs_.FailNth(Operation::kWrite, 1, EIO);
  absl::Status status = WritePublicKeyFile(path, key, fs_);
  EXPECT_EQ(status.code(), absl::ErrnoToStatusCode(EIO)) << status;
  EXPECT_THAT(Message(status), HasSubstr("public key file: cannot write " + path.string()));
  EXPECT_FALSE(std::filesystem::exists(path));
  fs_.Clear();
  ASSERT_TRUE(WritePublicKeyFile(path, key, fs_).ok());
  EXPECT_EQ(*ReadPublicKeyFile(path, 32), key);
}

}  // namespace
}  // namespace koppel

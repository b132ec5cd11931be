#include "core/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/file.h"
#include "core/file_contents.h"
#include "core/hex.h"

namespace koppel {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Creates `path` (never replacing a file) holding `bytes`, synced. `what` names the file in
// errors: "cannot create key file <path>: File exists (remove it first ...)" when it cannot be
// created, "key file: <reason>" when it cannot be written.
absl::Status WriteNewFile(FileSystem& fs, const std::filesystem::path& path, std::string_view bytes,
                          uint32_t permissions, std::string_view what) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      fs.NewWritableFile(path, {.mode = OpenMode::kExclusive, .permissions = permissions});
  if (!file.ok()) {
    // The file system says "cannot create <path>: <reason>"; name what the file is.
    const std::string message(file.status().message());
    const std::string opening = absl::StrCat("cannot create ", path.string());
    const std::string reason =
        message.starts_with(opening) ? message.substr(opening.size()) : absl::StrCat(": ", message);
    return absl::Status(
        file.status().code(),
        absl::StrCat("cannot create ", std::string(what), " ", path.string(), reason,
                     absl::IsAlreadyExists(file.status())
                         ? " (remove it first if you mean to replace the key)"
                         : ""));
  }
  absl::Status status = (*file)->Append(bytes);
  if (status.ok()) status = (*file)->Sync();
  if (absl::Status closed = (*file)->Close(); status.ok()) status = closed;
  if (!status.ok()) {
    // Half a key is no key, and left in place it would stop the next attempt.
    fs.RemoveFile(path).IgnoreError();
    return absl::Status(status.code(), absl::StrCat(std::string(what), ": ", status.message()));
  }
  return absl::OkStatus();
}

// The bytes of an owner-only file in guarded memory, and how many of them were read.
struct PrivateText {
  Secret bytes;
  size_t length = 0;
};

// Reads at most `max_size` + 1 bytes (so a caller sees that a file is too long) of a file that
// group and others cannot read. `what` names the file in errors ("key file").
absl::StatusOr<PrivateText> ReadPrivateText(const std::filesystem::path& path, size_t max_size,
                                            const std::string& what) {
  absl::StatusOr<int> opened = OpenRegularFile(path, what);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::ErrnoToStatus(error, absl::StrCat("cannot read ", what, " ", path.string()));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return absl::PermissionDeniedError(
        absl::StrCat(what, " ", path.string(), " is readable by group or others; run: chmod 600 ",
                     path.string()));
  }
  absl::StatusOr<Secret> text = Secret::Allocate(max_size + 1);
  if (!text.ok()) {
    ::close(fd);
    return text.status();
  }
  size_t length = 0;
  while (length <= max_size) {
    ssize_t n = ::read(fd, text->mutable_data() + length, max_size + 1 - length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    length += static_cast<size_t>(n);
  }
  ::close(fd);
  return PrivateText{std::move(*text), length};
}

}  // namespace

absl::StatusOr<Secret> ReadKeyFile(const std::filesystem::path& path, size_t size) {
  const size_t max_text = size * 2 + 16;
  absl::StatusOr<PrivateText> text = ReadPrivateText(path, max_text, "key file");
  if (!text.ok()) return text.status();
  const size_t length = text->length;
  const char* chars = reinterpret_cast<const char*>(text->bytes.data());
  size_t begin = 0;
  size_t end = length;
  while (begin < end && IsSpace(chars[begin])) ++begin;
  while (end > begin && IsSpace(chars[end - 1])) --end;
  if (end - begin != size * 2) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path.string(), " must hold ", size,
                                                   " bytes as ", size * 2, " hex characters"));
  }
  absl::StatusOr<Secret> key = Secret::Allocate(size);
  if (!key.ok()) return key.status();
  size_t written = 0;
  if (sodium_hex2bin(key->mutable_data(), size, chars + begin, end - begin, nullptr, &written,
                     nullptr) != 0 ||
      written != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", path.string(), " is not hexadecimal"));
  }
  key->Seal();
  return key;
}

absl::StatusOr<Secret> ReadPassphraseFile(const std::filesystem::path& path) {
  // Room for the passphrase and a final "\r\n"; one byte more shows the file is too long.
  const size_t max_text = kMaxPassphraseSize + 2;
  absl::StatusOr<PrivateText> text = ReadPrivateText(path, max_text, "passphrase file");
  if (!text.ok()) return text.status();
  const char* chars = reinterpret_cast<const char*>(text->bytes.data());
  size_t end = text->length;
  while (end > 0 && (chars[end - 1] == '\n' || chars[end - 1] == '\r')) --end;
  if (text->length > max_text || end > kMaxPassphraseSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "passphrase file ", path.string(), " holds more than ", kMaxPassphraseSize, " bytes"));
  }
  if (end == 0) {
    return absl::InvalidArgumentError(absl::StrCat("passphrase file ", path.string(), " is empty"));
  }
  absl::StatusOr<Secret> passphrase = Secret::Allocate(end);
  if (!passphrase.ok()) return passphrase.status();
  std::copy_n(text->bytes.data(), end, passphrase->mutable_data());
  passphrase->Seal();
  return passphrase;
}

absl::Status WriteKeyFile(const std::filesystem::path& path, const Secret& key, FileSystem& fs) {
  absl::StatusOr<Secret> text = Secret::Allocate(key.size() * 2 + 2);
  if (!text.ok()) return text.status();
  char* chars = reinterpret_cast<char*>(text->mutable_data());
  sodium_bin2hex(chars, key.size() * 2 + 1, key.data(), key.size());
  chars[key.size() * 2] = '\n';
  return WriteNewFile(fs, path, std::string_view(chars, key.size() * 2 + 1), 0600, "key file");
}

absl::StatusOr<std::vector<uint8_t>> ReadPublicKeyFile(const std::filesystem::path& path,
                                                       size_t size) {
  absl::StatusOr<std::string> contents = ReadFileContents(path, "public key file");
  if (!contents.ok()) return contents.status();
  std::string text = contents->substr(0, contents->find('\n'));
  while (!text.empty() && IsSpace(text.back())) text.pop_back();
  absl::StatusOr<std::vector<uint8_t>> key = FromHex(text);
  if (!key.ok() || key->size() != size) {
    return absl::InvalidArgumentError(absl::StrCat("public key file ", path.string(), " must hold ",
                                                   size, " bytes as ", size * 2,
                                                   " hex characters"));
  }
  return key;
}

absl::Status WritePublicKeyFile(const std::filesystem::path& path, std::span<const uint8_t> key,
                                FileSystem& fs) {
  return WriteNewFile(fs, path, ToHex(key) + "\n", 0644, "public key file");
}

}  // namespace koppel

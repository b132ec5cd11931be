#include "core/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "core/file_contents.h"
#include "core/hex.h"

#include "absl/strings/str_cat.h"

namespace koppel {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

absl::StatusOr<Secret> ReadKeyFile(const std::filesystem::path& path, size_t size) {
  absl::StatusOr<int> opened = OpenRegularFile(path, "key file");
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::NotFoundError(
        absl::StrCat("cannot read key file ", path.string(), ": ", std::strerror(error)));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return absl::PermissionDeniedError(
        absl::StrCat("key file ", path.string(),
                     " is readable by group or others; run: chmod 600 ", path.string()));
  }
  const size_t max_text = size * 2 + 16;
  absl::StatusOr<Secret> text = Secret::Allocate(max_text + 1);
  if (!text.ok()) {
    ::close(fd);
    return text.status();
  }
  size_t length = 0;
  while (length <= max_text) {
    ssize_t n = ::read(fd, text->mutable_data() + length, max_text + 1 - length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    length += static_cast<size_t>(n);
  }
  ::close(fd);
  const char* chars = reinterpret_cast<const char*>(text->data());
  size_t begin = 0;
  size_t end = length;
  while (begin < end && IsSpace(chars[begin])) ++begin;
  while (end > begin && IsSpace(chars[end - 1])) --end;
  if (end - begin != size * 2) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path.string(), " must hold ",
                                                   size, " bytes as ", size * 2,
                                                   " hex characters"));
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

absl::Status WriteKeyFile(const std::filesystem::path& path, const Secret& key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create key file ", path.string(), ": ", std::strerror(errno),
        errno == EEXIST ? " (remove it first if you mean to replace the key)" : ""));
  }
  absl::StatusOr<Secret> text = Secret::Allocate(key.size() * 2 + 2);
  if (!text.ok()) {
    ::close(fd);
    return text.status();
  }
  char* chars = reinterpret_cast<char*>(text->mutable_data());
  sodium_bin2hex(chars, key.size() * 2 + 1, key.data(), key.size());
  chars[key.size() * 2] = '\n';
  size_t total = key.size() * 2 + 1;
  size_t done = 0;
  while (done < total) {
    ssize_t n = ::write(fd, chars + done, total - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write key file ", path.string()));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot sync key file ", path.string()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> ReadPublicKeyFile(const std::filesystem::path& path,
                                                       size_t size) {
  absl::StatusOr<std::string> contents = ReadFileContents(path, "public key file");
  if (!contents.ok()) return contents.status();
  std::string text = contents->substr(0, contents->find('\n'));
  while (!text.empty() && IsSpace(text.back())) text.pop_back();
  absl::StatusOr<std::vector<uint8_t>> key = FromHex(text);
  if (!key.ok() || key->size() != size) {
    return absl::InvalidArgumentError(absl::StrCat("public key file ", path.string(),
                                                   " must hold ", size, " bytes as ", size * 2,
                                                   " hex characters"));
  }
  return key;
}

absl::Status WritePublicKeyFile(const std::filesystem::path& path,
                                std::span<const uint8_t> key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create public key file ", path.string(), ": ", std::strerror(errno),
        errno == EEXIST ? " (remove it first if you mean to replace the key)" : ""));
  }
  std::string text = ToHex(key) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  if (::close(fd) != 0 || !ok) {
    return absl::InternalError(absl::StrCat("cannot write public key file ", path.string()));
  }
  return absl::OkStatus();
}

}  // namespace koppel

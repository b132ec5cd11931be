#include "core/backup_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <fstream>

#include "absl/strings/escaping.h"
#include "core/atomic_file.h"
#include "core/file.h"
#include "core/file_contents.h"

namespace koppel {
namespace {

std::string HexOf(const unsigned char* bytes, size_t size) {
  std::string hex(2 * size + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, size);
  hex.pop_back();
  return hex;
}

}  // namespace

nlohmann::json ManifestToJson(const BackupManifest& manifest) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, sha256] : manifest.files) files[path] = sha256;
  return {{"format", manifest.format},
          {"time", manifest.time},
          {"version", manifest.version},
          {"contents", manifest.contents.is_null() ? nlohmann::json::object() : manifest.contents},
          {"files", files}};
}

absl::Status SignBackupManifest(const std::filesystem::path& dir, const Secret& signing_key) {
  if (signing_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError("a backup is signed with a 64-byte Ed25519 key");
  }
  absl::StatusOr<std::string> manifest =
      ReadFileContents(dir / kBackupManifestFile, "backup manifest");
  if (!manifest.ok()) return manifest.status();
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(manifest->data()), manifest->size(),
                       signing_key.data());
  const std::string hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
  absl::StatusOr<std::unique_ptr<WritableFile>> out = FileSystem::Default()->NewWritableFile(
      dir / kBackupSignatureFile, {.mode = OpenMode::kExclusive, .permissions = 0600});
  if (!out.ok()) return out.status();
  if (absl::Status s = (*out)->Append(hex + "\n"); !s.ok()) return s;
  if (absl::Status s = (*out)->Sync(); !s.ok()) return s;
  return (*out)->Close();
}

absl::Status VerifyBackupManifestSignature(const std::filesystem::path& dir,
                                           std::span<const uint8_t> public_key) {
  const auto refuse = [&dir](std::string_view why) {
    return absl::DataLossError(fmt::format(
        "{}: {}: the backup was altered or not made by this linker; nothing was restored",
        (dir / kBackupSignatureFile).string(), why));
  };
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) return refuse("no Ed25519 public key");
  std::error_code ec;
  if (!std::filesystem::exists(dir / kBackupSignatureFile, ec)) return refuse("missing");
  absl::StatusOr<std::string> manifest =
      ReadFileContents(dir / kBackupManifestFile, "backup manifest");
  if (!manifest.ok()) return manifest.status();
  absl::StatusOr<std::string> hex =
      ReadFileContents(dir / kBackupSignatureFile, "backup manifest signature");
  if (!hex.ok()) return hex.status();
  while (!hex->empty() && (hex->back() == '\n' || hex->back() == '\r')) hex->pop_back();
  if (hex->size() != 2 * crypto_sign_BYTES ||
      !std::all_of(hex->begin(), hex->end(), [](char c) { return std::isxdigit(c) != 0; })) {
    return refuse("not a signature");
  }
  const std::string signature = absl::HexStringToBytes(*hex);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                  reinterpret_cast<const unsigned char*>(manifest->data()),
                                  manifest->size(), public_key.data()) != 0) {
    return refuse("the manifest does not verify");
  }
  return absl::OkStatus();
}

absl::StatusOr<BackupManifest> ReadBackupManifest(const std::filesystem::path& dir,
                                                  std::string_view format) {
  const std::filesystem::path path = dir / kBackupManifestFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::FailedPreconditionError(fmt::format(
        "{} holds no {}: it is not a backup (or the backup was cut short); nothing was restored",
        dir.string(), kBackupManifestFile));
  }
  absl::StatusOr<std::string> text = ReadFileContents(path, "backup manifest");
  if (!text.ok()) return text.status();
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  const auto is_string = [&json](const char* key) {
    return json.contains(key) && json[key].is_string();
  };
  if (!json.is_object() || !is_string("format") || !is_string("time") || !is_string("version") ||
      !json.contains("files") || !json["files"].is_object() || !json.contains("contents") ||
      !json["contents"].is_object()) {
    return absl::DataLossError(
        fmt::format("{} is not a backup manifest; nothing was restored", path.string()));
  }
  BackupManifest manifest;
  manifest.format = json["format"].get<std::string>();
  if (manifest.format != format) {
    return absl::FailedPreconditionError(
        fmt::format("{} is a backup of format '{}', not '{}'; nothing was restored", dir.string(),
                    manifest.format, format));
  }
  manifest.time = json["time"].get<std::string>();
  manifest.version = json["version"].get<std::string>();
  manifest.contents = json["contents"];
  for (const auto& [file, sha256] : json["files"].items()) {
    if (!sha256.is_string() || !IsSafeBackupPath(file)) {
      return absl::DataLossError(fmt::format(
          "{} lists a file that no backup holds ({}); nothing was restored", path.string(), file));
    }
    manifest.files[file] = sha256.get<std::string>();
  }
  return manifest;
}

absl::Status VerifyBackupFiles(const std::filesystem::path& dir, const BackupManifest& manifest) {
  for (const auto& [file, expected] : manifest.files) {
    absl::StatusOr<std::string> actual = FileSha256Hex(dir / file);
    if (!actual.ok()) {
      return absl::DataLossError(
          fmt::format("the backup in {} is damaged: {} cannot be read ({}); nothing was restored",
                      dir.string(), file, std::string(actual.status().message())));
    }
    if (*actual != expected) {
      return absl::DataLossError(fmt::format(
          "the backup in {} is damaged or was altered: {} does not have the SHA-256 its manifest "
          "records; nothing was restored",
          dir.string(), file));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileSha256Hex(const std::filesystem::path& path) {
  absl::StatusOr<int> fd = OpenRegularFile(path, "file");
  if (!fd.ok()) return fd.status();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<unsigned char> buffer(1 << 20);
  for (;;) {
    const ssize_t n = ::read(*fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(*fd);
      return absl::DataLossError(
          fmt::format("cannot read {}: {}", path.string(), ErrnoText(error)));
    }
    if (n == 0) break;
    crypto_hash_sha256_update(&state, buffer.data(), static_cast<unsigned long long>(n));
  }
  ::close(*fd);
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256_final(&state, digest.data());
  return HexOf(digest.data(), digest.size());
}

bool IsSafeBackupPath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.size() > 4096) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (std::any_of(part.begin(), part.end(),
                    [](char c) { return c == '\0' || c == '\\' || c == '\n'; })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

absl::Status PrepareBackupDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec) || !std::filesystem::is_empty(dir, ec)) {
      return absl::FailedPreconditionError(fmt::format(
          "{} exists and is not an empty directory; a backup goes to a new or empty directory",
          dir.string()));
    }
  } else if (!std::filesystem::create_directories(dir, ec) || ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot make {} private (mode 700): {}", dir.string(), ec.message()));
  }
  return absl::OkStatus();
}

absl::Status CopyFileDurably(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::create_directories(to.parent_path(), ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {}: {}", to.parent_path().string(), ec.message()));
  }
  std::filesystem::permissions(to.parent_path(), std::filesystem::perms::owner_all, ec);
  absl::StatusOr<int> in = OpenRegularFile(from, "file");
  if (!in.ok()) return in.status();
  absl::StatusOr<std::unique_ptr<WritableFile>> out =
      FileSystem::Default()->NewWritableFile(to, {.mode = OpenMode::kExclusive});
  if (!out.ok()) {
    ::close(*in);
    return out.status();
  }
  std::vector<char> buffer(1 << 20);
  absl::Status status;
  for (;;) {
    const ssize_t n = ::read(*in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status =
          absl::DataLossError(fmt::format("cannot read {}: {}", from.string(), ErrnoText(errno)));
      break;
    }
    if (n == 0) break;
    status = (*out)->Append(std::string_view(buffer.data(), static_cast<size_t>(n)));
    if (!status.ok()) break;
  }
  ::close(*in);
  if (status.ok()) status = (*out)->Sync();
  if (absl::Status closed = (*out)->Close(); status.ok()) status = closed;
  if (status.ok()) {
    // A vault key's age is its file's time (KeyStore::Created): key rotation reads it.
    std::filesystem::last_write_time(to, std::filesystem::last_write_time(from, ec), ec);
  }
  return status;
}

absl::StatusOr<std::vector<std::string>> CopyTreeDurably(const std::filesystem::path& from,
                                                         const std::filesystem::path& to) {
  std::vector<std::string> copied;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(from, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string relative = std::filesystem::relative(it->path(), from, ec).generic_string();
    if (absl::Status s = CopyFileDurably(it->path(), to / relative); !s.ok()) return s;
    copied.push_back(relative);
  }
  if (ec) {
    return absl::InternalError(fmt::format("cannot list {}: {}", from.string(), ec.message()));
  }
  if (absl::Status s = SyncTree(to); !s.ok()) return s;
  std::sort(copied.begin(), copied.end());
  return copied;
}

absl::Status SyncTree(const std::filesystem::path& dir) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, ec);
    if (absl::Status s = FileSystem::Default()->SyncDirectory(it->path()); !s.ok()) return s;
  }
  if (ec) return absl::InternalError(fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  return FileSystem::Default()->SyncDirectory(dir);
}

absl::Status WriteBackupManifest(const std::filesystem::path& dir, BackupManifest manifest,
                                 const Secret* signing_key) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string relative = std::filesystem::relative(it->path(), dir, ec).generic_string();
    absl::StatusOr<std::string> digest = FileSha256Hex(it->path());
    if (!digest.ok()) return digest.status();
    manifest.files[relative] = *std::move(digest);
  }
  if (ec) return absl::InternalError(fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  if (absl::Status s =
          WriteFileAtomically(dir / kBackupManifestFile, ManifestToJson(manifest).dump(2) + "\n");
      !s.ok()) {
    return s;
  }
  if (signing_key != nullptr) {
    if (absl::Status s = SignBackupManifest(dir, *signing_key); !s.ok()) return s;
  }
  return SyncTree(dir);
}

}  // namespace koppel

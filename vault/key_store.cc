#include "vault/key_store.h"

#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "core/atomic_file.h"
#include "core/file_contents.h"
#include "core/hmac.h"

namespace koppel::vault {
namespace {

bool IsSafeName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.')) {
      return false;
    }
  }
  return s[0] != '.';
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::filesystem::path& dir,
                                                         Secret master_key, FileSystem& fs) {
  if (master_key.size() != crypto_secretbox_KEYBYTES) {
    return absl::InvalidArgumentError("the vault master key must be 32 bytes");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir / "keys", ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {}: {}", (dir / "keys").string(), ec.message()));
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  return std::unique_ptr<KeyStore>(new KeyStore(dir, std::move(master_key), fs));
}

absl::StatusOr<Secret> KeyStore::MasterKeyFromPassphrase(const std::filesystem::path& dir,
                                                         std::string_view passphrase,
                                                         FileSystem& fs) {
  if (passphrase.size() < 12) {
    return absl::InvalidArgumentError("the vault passphrase must have at least 12 characters");
  }
  std::filesystem::create_directories(dir);
  const std::filesystem::path salt_path = dir / "master.salt";
  // A new salt only where there is none: written over an unreadable one, it would change the
  // master key and lock every sealed key away.
  absl::StatusOr<std::string> read = ReadFileContents(salt_path, "vault salt");
  if (!read.ok() && !absl::IsNotFound(read.status())) return read.status();
  std::string salt = read.ok() ? std::move(*read) : std::string();
  if (absl::IsNotFound(read.status())) {
    salt.resize(crypto_pwhash_SALTBYTES);
    randombytes_buf(salt.data(), salt.size());
    if (absl::Status s = WriteFileAtomically(fs, salt_path, salt); !s.ok()) return s;
  }
  if (salt.size() != crypto_pwhash_SALTBYTES) {
    return absl::DataLossError(fmt::format("{} is corrupt", salt_path.string()));
  }
  absl::StatusOr<Secret> key = Secret::Allocate(crypto_secretbox_KEYBYTES);
  if (!key.ok()) return key.status();
  if (crypto_pwhash(key->mutable_data(), key->size(), passphrase.data(), passphrase.size(),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return absl::ResourceExhaustedError("Argon2id ran out of memory deriving the master key");
  }
  key->Seal();
  return key;
}

std::filesystem::path KeyStore::KeyPath(const std::string& covenant, uint32_t epoch) const {
  return dir_ / "keys" / fmt::format("{}.{}.sealed", covenant, epoch);
}

absl::Status KeyStore::Create(const std::string& covenant, uint32_t epoch) {
  absl::StatusOr<Secret> key = Secret::Random(32);
  if (!key.ok()) return key.status();
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + key->size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, key->data(), key->size(), out,
                        master_.data());
  return WriteFileAtomically(fs_, KeyPath(covenant, epoch), sealed);
}

absl::StatusOr<const Secret*> KeyStore::Load(const std::string& covenant, uint32_t epoch) {
  auto it = keys_.find({covenant, epoch});
  if (it != keys_.end()) return &it->second;
  const std::string sealed = ReadAll(KeyPath(covenant, epoch));
  if (sealed.empty()) {
    return absl::NotFoundError(fmt::format("no key for covenant {} epoch {}", covenant, epoch));
  }
  if (sealed.size() != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 32) {
    return absl::DataLossError(
        fmt::format("key file of covenant {} epoch {} is corrupt", covenant, epoch));
  }
  absl::StatusOr<Secret> key = Secret::Allocate(32);
  if (!key.ok()) return key.status();
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_secretbox_open_easy(key->mutable_data(), in + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, in,
                                 master_.data()) != 0) {
    return absl::PermissionDeniedError(fmt::format(
        "the key of covenant {} epoch {} does not open with this master key (wrong key file or "
        "passphrase?)",
        covenant, epoch));
  }
  key->Seal();
  return &keys_.emplace(std::make_pair(covenant, epoch), std::move(*key)).first->second;
}

uint32_t KeyStore::NewestEpoch(const std::string& covenant) const {
  uint32_t epoch = 0;
  while (std::filesystem::exists(KeyPath(covenant, epoch + 1))) ++epoch;
  return epoch;
}

absl::StatusOr<uint32_t> KeyStore::CurrentEpoch(const std::string& covenant) {
  if (!IsSafeName(covenant)) return absl::InvalidArgumentError("malformed covenant id");
  absl::MutexLock lock(&mutex_);
  uint32_t epoch = NewestEpoch(covenant);
  if (epoch == 0) {
    if (absl::Status s = Create(covenant, 1); !s.ok()) return s;
    epoch = 1;
  }
  return epoch;
}

absl::StatusOr<const Secret*> KeyStore::Key(const std::string& covenant, uint32_t epoch) {
  if (!IsSafeName(covenant)) return absl::InvalidArgumentError("malformed covenant id");
  absl::MutexLock lock(&mutex_);
  return Load(covenant, epoch);
}

absl::StatusOr<uint32_t> KeyStore::Rotate(const std::string& covenant) {
  if (!IsSafeName(covenant)) return absl::InvalidArgumentError("malformed covenant id");
  // One critical section from finding the newest epoch to writing the next: two rotations never
  // write the same epoch (the second would replace a key already handed out).
  absl::MutexLock lock(&mutex_);
  uint32_t current = NewestEpoch(covenant);
  if (current == 0) {
    if (absl::Status s = Create(covenant, 1); !s.ok()) return s;
    current = 1;
  }
  if (absl::Status s = Create(covenant, current + 1); !s.ok()) return s;
  return current + 1;
}

absl::StatusOr<absl::Time> KeyStore::Created(const std::string& covenant, uint32_t epoch) const {
  struct stat info {};
  if (::stat(KeyPath(covenant, epoch).c_str(), &info) != 0) {
    return absl::NotFoundError(fmt::format("no key for covenant {} epoch {}", covenant, epoch));
  }
  return absl::FromTimeT(info.st_mtime);
}

absl::StatusOr<uint64_t> KeyStore::Destroy(const std::string& name) {
  if (!IsSafeName(name)) return absl::InvalidArgumentError("malformed covenant id");
  absl::MutexLock lock(&mutex_);
  uint64_t& destroyed = destroyed_[name];
  // Every epoch's file, not just 1, 2, ... up to the first gap: a crash may have left one.
  std::vector<std::pair<std::filesystem::path, uint32_t>> files;
  const std::string prefix = name + ".";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "keys", ec)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(prefix) || !file.ends_with(".sealed")) continue;
    const std::string epoch_text = file.substr(prefix.size(), file.size() - prefix.size() - 7);
    uint32_t epoch = 0;
    if (epoch_text.empty() || !absl::SimpleAtoi(epoch_text, &epoch)) continue;
    files.emplace_back(entry.path(), epoch);
  }
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot list {}: {}", (dir_ / "keys").string(), ec.message()));
  }
  for (const auto& [path, epoch] : files) {
    if (absl::Status s = Shred(path); !s.ok()) {
      return absl::DataLossError(
          fmt::format("cannot destroy {}: {}", path.string(), std::string(s.message())));
    }
    keys_.erase({name, epoch});
    ++destroyed;
  }
  if (absl::Status s = fs_.SyncDirectory(dir_ / "keys"); !s.ok()) {
    return absl::DataLossError(
        fmt::format("destroyed {} key file(s) of {}, but the removal may not survive a crash: {}",
                    destroyed, name, std::string(s.message())));
  }
  return destroyed;
}

// Overwrites the file with noise before removing it, so the sealed key is not left in the
// file's old blocks.
absl::Status KeyStore::Shred(const std::filesystem::path& path) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      fs_.NewWritableFile(path, {.mode = OpenMode::kOverwrite});
  if (!file.ok()) return file.status();
  absl::StatusOr<uint64_t> size = (*file)->Size();
  if (!size.ok()) return size.status();
  std::string noise(static_cast<size_t>(*size), '\0');
  randombytes_buf(noise.data(), noise.size());
  absl::Status status = (*file)->Append(noise);
  if (status.ok()) status = (*file)->Sync();
  if (absl::Status closed = (*file)->Close(); status.ok()) status = closed;
  if (!status.ok()) return status;
  return fs_.RemoveFile(path);
}

absl::StatusOr<Secret> KeyStore::AuditSigningKey() const {
  absl::StatusOr<Secret> seed =
      HkdfSha256(master_.span(), {}, "koppel/v1/vault/audit-signing", crypto_sign_SEEDBYTES);
  if (!seed.ok()) return seed.status();
  absl::StatusOr<Secret> key = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!key.ok()) return key.status();
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(public_key, key->mutable_data(), seed->data());
  key->Seal();
  return key;
}

}  // namespace koppel::vault

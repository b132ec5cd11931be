// The vault's covenant keys at rest: one 32-byte K_cov per covenant and key epoch, created on
// first use, stored sealed (crypto_secretbox) under the vault's master key, held in guarded
// memory once loaded. The master key comes from a mode-600 file or from a passphrase through
// Argon2id.
#ifndef KOPPEL_VAULT_KEY_STORE_H_
#define KOPPEL_VAULT_KEY_STORE_H_

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/file.h"
#include "core/secret.h"

namespace koppel::vault {

class KeyStore {
 public:
  // Key files are written through `fs`.
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(const std::filesystem::path& dir,
                                                        Secret master_key,
                                                        FileSystem& fs = *FileSystem::Default());

  // Derives the master key from a passphrase with Argon2id (interactive limits are too weak for
  // keys at rest: moderate). The salt is kept in `dir`/master.salt, created on first use.
  static absl::StatusOr<Secret> MasterKeyFromPassphrase(const std::filesystem::path& dir,
                                                        std::string_view passphrase,
                                                        FileSystem& fs = *FileSystem::Default());

  // The newest epoch of a covenant's key, creating epoch 1 on first use.
  absl::StatusOr<uint32_t> CurrentEpoch(const std::string& covenant) ABSL_LOCKS_EXCLUDED(mutex_);
  // The key of an epoch; the returned reference lives as long as the store.
  absl::StatusOr<const Secret*> Key(const std::string& covenant, uint32_t epoch)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Starts a new epoch with a fresh key; older epochs stay readable until retention ends. Safe
  // while serving: a caller of CurrentEpoch sees the old epoch or the new one, and the key of
  // the epoch it saw.
  absl::StatusOr<uint32_t> Rotate(const std::string& covenant) ABSL_LOCKS_EXCLUDED(mutex_);

  // When the key of an epoch was made (its file's modification time).
  absl::StatusOr<absl::Time> Created(const std::string& covenant, uint32_t epoch) const;

  // Crypto-shredding: overwrites and removes every epoch's key file of `name`, syncs the
  // directory and forgets the keys held in memory. A failed write, sync or removal is an error,
  // never ignored. Returns how many keys of `name` this process destroyed, including those an
  // earlier failed call removed before it failed, so that a retry reports them too.
  absl::StatusOr<uint64_t> Destroy(const std::string& name) ABSL_LOCKS_EXCLUDED(mutex_);

  // The vault's Ed25519 key for signing its audit log (64-byte secret key), derived from the
  // master key so that it needs no file of its own.
  absl::StatusOr<Secret> AuditSigningKey() const;

 private:
  KeyStore(std::filesystem::path dir, Secret master, FileSystem& fs)
      : dir_(std::move(dir)), master_(std::move(master)), fs_(fs) {}
  absl::Status Shred(const std::filesystem::path& path);
  // 0 when the covenant has no key yet.
  uint32_t NewestEpoch(const std::string& covenant) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  std::filesystem::path KeyPath(const std::string& covenant, uint32_t epoch) const;
  absl::StatusOr<const Secret*> Load(const std::string& covenant, uint32_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Under mutex_, so that two callers never create the same epoch.
  absl::Status Create(const std::string& covenant, uint32_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  std::filesystem::path dir_;
  Secret master_;
  FileSystem& fs_;
  absl::Mutex mutex_;
  std::map<std::pair<std::string, uint32_t>, Secret> keys_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, uint64_t> destroyed_ ABSL_GUARDED_BY(mutex_);  // by Destroy's name
};

}  // namespace koppel::vault

#endif  // KOPPEL_VAULT_KEY_STORE_H_

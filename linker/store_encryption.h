// Encryption at rest for one covenant's RocksDB instance: every file RocksDB writes (write-ahead
// log, SST files, MANIFEST, OPTIONS) is encrypted under a key derived from the covenant's data
// key, which the vault holds. Once the vault destroys the data key, nothing in the covenant's
// directory can be read, whatever the file system kept.
//
// Files are AES-256-CTR (OpenSSL EVP, AES-NI) with a fresh random IV per file, kept in a
// 4096-byte header together with a MAC that tells a wrong key or a damaged header apart from
// data. CTR alone is malleable: ConfigureEncryptedStoreOptions adds XXH3 checksums on every SST
// block and a keyed HMAC-SHA256 over every SST file, recorded in the (encrypted) MANIFEST and
// checked by VerifyEncryptedStore. What remains open is in SECURITY.md ("Encryption at rest").
#ifndef KOPPEL_LINKER_STORE_ENCRYPTION_H_
#define KOPPEL_LINKER_STORE_ENCRYPTION_H_

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel::linker {

// An Env over `base`'s FileSystem (not owned; must outlive the result; threads and clock are
// the default Env's) that encrypts every file it writes
// and decrypts every file it reads with a key derived from `data_key` (32 bytes). A file written
// under another key, or whose header was damaged, fails to open with a Corruption status that
// says so; it never decrypts to garbage. Files are only written from their start, after a fresh
// header that is synced before anything else: reopening a file for appending or rewriting one in
// place is NotSupported. A write-ahead log left blank by a power loss (no longer than a header,
// all zeros) reads as empty.
absl::StatusOr<std::unique_ptr<rocksdb::Env>> NewEncryptedStoreEnv(rocksdb::Env* base,
                                                                   const Secret& data_key);

// Whether a status from DB::Open (or a read) through that Env means a file did not open with
// the data key (another key, or a damaged header), or was never encrypted (a store from before
// encryption). RocksDB may wrap the Env's Corruption in another code (InvalidArgument "Found
// options incompatible with filesystem" when CURRENT fails), so test with these, not the code.
bool IsWrongStoreKey(const rocksdb::Status& status);
bool IsUnencryptedStoreFile(const rocksdb::Status& status);

// What an encrypted store needs on top of the Env. Call after setting options->table_factory
// (a block-based table, the default) and before DB::Open: it keeps that table's options and
// sets XXH3 block checksums on them, verified on every read, and a whole-file HMAC-SHA256
// under a key derived from `data_key` for every SST file RocksDB writes.
absl::Status ConfigureEncryptedStoreOptions(const Secret& data_key, rocksdb::Options* options);

// Recomputes every live SST file's HMAC (several files at once) and compares it with the one
// the MANIFEST recorded when the file was written: a file changed, truncated or swapped on disk
// without the key fails with a DataLoss status naming the file (its name, never its path).
// Reads the whole store once. Run it when a covenant opens, before RocksDB compacts anything:
// open with options.disable_auto_compactions = true, verify, then SetOptions
// {"disable_auto_compactions", "false"}; a compaction of an unverified file would record a
// fresh MAC over whatever the file decrypted to.
absl::Status VerifyEncryptedStore(rocksdb::DB* db);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_STORE_ENCRYPTION_H_

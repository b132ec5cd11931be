#include "linker/store_encryption.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <rocksdb/env_encryption.h>
#include <rocksdb/file_checksum.h>
#include <rocksdb/file_system.h>
#include <rocksdb/table.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/hmac.h"

namespace koppel::linker {
namespace {

// File header: magic, IV, HMAC-SHA256(check key, magic || IV); the rest of the 4096 bytes is
// zero. A page so that data blocks keep their alignment on disk.
constexpr size_t kPrefixLength = 4096;
constexpr std::string_view kMagic = "koppelE1";
constexpr size_t kIvSize = 16;
constexpr size_t kCheckSize = 32;
constexpr size_t kAuthenticatedSize = kMagic.size() + kIvSize;
constexpr size_t kAesBlock = 16;

constexpr std::string_view kCipherKeyLabel = "koppel store encryption v1: aes-256-ctr key";
constexpr std::string_view kCheckKeyLabel = "koppel store encryption v1: file header mac key";
constexpr std::string_view kFileMacLabel = "koppel store encryption v1: sst file mac key";
constexpr char kFileMacName[] = "KoppelHmacSha256";
constexpr std::string_view kWrongKey = "does not open with the covenant's data key";
constexpr std::string_view kUnencrypted = "is not an encrypted koppel store file";

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;
using Mac = std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)>;

absl::StatusOr<Secret> DeriveKey(const Secret& data_key, std::string_view label) {
  if (data_key.size() != 32) {
    return absl::InvalidArgumentError(
        "the covenant's data key must be 32 bytes to encrypt its store");
  }
  return HkdfSha256(data_key.span(), {}, label, 32);
}

// AES-256 with the key schedule expanded once; each stream call copies it and sets its counter.
class KeyedAesCtr {
 public:
  static absl::StatusOr<std::shared_ptr<const KeyedAesCtr>> Create(const Secret& key) {
    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    if (!ctx ||
        EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, key.data(), nullptr) != 1) {
      return absl::InternalError("OpenSSL cannot set up AES-256-CTR for the store");
    }
    return std::shared_ptr<const KeyedAesCtr>(new KeyedAesCtr(std::move(ctx)));
  }

  // XORs the key stream of the file with IV `iv` at byte `offset` into data[0, size).
  rocksdb::Status Apply(const std::array<uint8_t, kIvSize>& iv, uint64_t offset, char* data,
                        size_t size) const {
    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::array<uint8_t, kIvSize> counter = CounterAt(iv, offset / kAesBlock);
    if (!ctx || EVP_CIPHER_CTX_copy(ctx.get(), keyed_.get()) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, counter.data()) != 1) {
      return rocksdb::Status::IOError("OpenSSL cannot start AES-256-CTR for a store file");
    }
    int out = 0;
    if (size_t skip = offset % kAesBlock; skip != 0) {
      uint8_t discard[kAesBlock] = {};
      if (EVP_EncryptUpdate(ctx.get(), discard, &out, discard, static_cast<int>(skip)) != 1) {
        return rocksdb::Status::IOError("OpenSSL AES-256-CTR failed on a store file");
      }
    }
    auto* bytes = reinterpret_cast<unsigned char*>(data);
    while (size > 0) {
      const int chunk = static_cast<int>(std::min<size_t>(size, INT_MAX / 2));
      if (EVP_EncryptUpdate(ctx.get(), bytes, &out, bytes, chunk) != 1) {
        return rocksdb::Status::IOError("OpenSSL AES-256-CTR failed on a store file");
      }
      bytes += chunk;
      size -= static_cast<size_t>(chunk);
    }
    return rocksdb::Status::OK();
  }

 private:
  explicit KeyedAesCtr(CipherCtx keyed) : keyed_(std::move(keyed)) {}

  // The IV as a 128-bit big-endian number plus `block`, as OpenSSL's CTR mode counts.
  static std::array<uint8_t, kIvSize> CounterAt(const std::array<uint8_t, kIvSize>& iv,
                                                uint64_t block) {
    std::array<uint8_t, kIvSize> counter = iv;
    unsigned carry = 0;
    for (size_t i = kIvSize; i-- > 0;) {
      const unsigned sum = counter[i] + static_cast<unsigned>(block & 0xff) + carry;
      counter[i] = static_cast<uint8_t>(sum);
      carry = sum >> 8;
      block >>= 8;
    }
    return counter;
  }

  CipherCtx keyed_;
};

// One file's cipher: whole ranges per call, not one virtual call per 16-byte block.
class AesCtrStream : public rocksdb::BlockAccessCipherStream {
 public:
  AesCtrStream(std::shared_ptr<const KeyedAesCtr> aes, const std::array<uint8_t, kIvSize>& iv)
      : aes_(std::move(aes)), iv_(iv) {}

  size_t BlockSize() override { return kAesBlock; }
  rocksdb::Status Encrypt(uint64_t file_offset, char* data, size_t size) override {
    return aes_->Apply(iv_, file_offset, data, size);
  }
  rocksdb::Status Decrypt(uint64_t file_offset, char* data, size_t size) override {
    return aes_->Apply(iv_, file_offset, data, size);
  }

 protected:
  void AllocateScratch(std::string&) override {}
  rocksdb::Status EncryptBlock(uint64_t block_index, char* data, char*) override {
    return aes_->Apply(iv_, block_index * kAesBlock, data, kAesBlock);
  }
  rocksdb::Status DecryptBlock(uint64_t block_index, char* data, char*) override {
    return aes_->Apply(iv_, block_index * kAesBlock, data, kAesBlock);
  }

 private:
  std::shared_ptr<const KeyedAesCtr> aes_;
  std::array<uint8_t, kIvSize> iv_;
};

class StoreEncryptionProvider : public rocksdb::EncryptionProvider {
 public:
  StoreEncryptionProvider(std::shared_ptr<const KeyedAesCtr> aes, HmacSha256Key check)
      : aes_(std::move(aes)), check_(std::move(check)) {}

  const char* Name() const override { return "KoppelStoreAes256Ctr"; }
  size_t GetPrefixLength() const override { return kPrefixLength; }

  rocksdb::Status CreateNewPrefix(const std::string& /*fname*/, char* prefix,
                                  size_t prefix_length) const override {
    if (prefix_length != kPrefixLength) {
      return rocksdb::Status::InvalidArgument("unexpected encryption header size");
    }
    std::memset(prefix, 0, prefix_length);
    std::memcpy(prefix, kMagic.data(), kMagic.size());
    randombytes_buf(prefix + kMagic.size(), kIvSize);
    const Digest256 check = check_.Mac(std::string_view(prefix, kAuthenticatedSize));
    std::memcpy(prefix + kAuthenticatedSize, check.data(), kCheckSize);
    return rocksdb::Status::OK();
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t, bool) override {
    return rocksdb::Status::NotSupported("the store's key comes from the covenant's data key");
  }

  rocksdb::Status CreateCipherStream(
      const std::string& fname, const rocksdb::EnvOptions& /*options*/, rocksdb::Slice& prefix,
      std::unique_ptr<rocksdb::BlockAccessCipherStream>* result) override {
    if (prefix.size() < kAuthenticatedSize + kCheckSize ||
        std::string_view(prefix.data(), kMagic.size()) != kMagic) {
      return rocksdb::Status::Corruption(fname,
                                         std::string(kUnencrypted) +
                                             " (no encryption header): restore the covenant's "
                                             "directory from a backup or end the covenant");
    }
    const Digest256 check = check_.Mac(std::string_view(prefix.data(), kAuthenticatedSize));
    if (CRYPTO_memcmp(check.data(), prefix.data() + kAuthenticatedSize, kCheckSize) != 0) {
      return rocksdb::Status::Corruption(fname,
                                         std::string(kWrongKey) +
                                             " (another covenant's key, or a damaged file "
                                             "header): check which data key the vault returned");
    }
    std::array<uint8_t, kIvSize> iv;
    std::memcpy(iv.data(), prefix.data() + kMagic.size(), kIvSize);
    *result = std::make_unique<AesCtrStream>(aes_, iv);
    return rocksdb::Status::OK();
  }

  std::string GetMarker() const override { return std::string(kMagic); }

 private:
  std::shared_ptr<const KeyedAesCtr> aes_;
  HmacSha256Key check_;
};

// HMAC-SHA256 (OpenSSL, SHA-NI) of an SST file's contents as RocksDB writes them.
class FileMacGenerator : public rocksdb::FileChecksumGenerator {
 public:
  explicit FileMacGenerator(MacCtx ctx) : ctx_(std::move(ctx)) {}
  void Update(const char* data, size_t n) override {
    if (ok_) ok_ = EVP_MAC_update(ctx_.get(), reinterpret_cast<const uint8_t*>(data), n) == 1;
  }
  void Finalize() override {
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t length = 0;
    ok_ = ok_ && EVP_MAC_final(ctx_.get(), mac, &length, sizeof(mac)) == 1;
    // Not empty on failure: RocksDB skips files whose recorded checksum is empty. This value
    // never matches a real MAC, so such a file is reported instead of trusted.
    checksum_ = ok_ ? std::string(reinterpret_cast<char*>(mac), length) : "mac failed";
  }
  std::string GetChecksum() const override { return checksum_; }
  const char* Name() const override { return kFileMacName; }

 private:
  MacCtx ctx_;
  bool ok_ = true;
  std::string checksum_;
};

class FileMacFactory : public rocksdb::FileChecksumGenFactory {
 public:
  // `keyed` is an HMAC-SHA256 context initialised with the file MAC key; each file dups it.
  explicit FileMacFactory(MacCtx keyed) : keyed_(std::move(keyed)) {}
  const char* Name() const override { return "KoppelHmacSha256Factory"; }
  std::unique_ptr<rocksdb::FileChecksumGenerator> CreateFileChecksumGenerator(
      const rocksdb::FileChecksumGenContext& context) override {
    if (!context.requested_checksum_func_name.empty() &&
        context.requested_checksum_func_name != kFileMacName) {
      return nullptr;
    }
    MacCtx ctx(EVP_MAC_CTX_dup(keyed_.get()), &EVP_MAC_CTX_free);
    if (!ctx) return nullptr;
    return std::make_unique<FileMacGenerator>(std::move(ctx));
  }

 private:
  MacCtx keyed_;
};

// A write-ahead log that RocksDB created just before a power loss: no longer than a header and
// all zeros (the file system kept its size, not its data). RocksDB had acknowledged nothing in
// it (the header is synced before the first record is written), so it reads as empty.
bool IsBlankWal(rocksdb::FileSystem& fs, const std::string& fname, uint64_t size) {
  if (size == 0 || size > kPrefixLength || !std::string_view(fname).ends_with(".log")) {
    return false;
  }
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  if (!fs.NewSequentialFile(fname, rocksdb::FileOptions(), &file, nullptr).ok()) return false;
  std::array<char, kPrefixLength> buffer;
  rocksdb::Slice read;
  if (!file->Read(size, rocksdb::IOOptions(), &read, buffer.data(), nullptr).ok() ||
      read.size() != size) {
    return false;
  }
  return std::all_of(read.data(), read.data() + read.size(), [](char c) { return c == 0; });
}

class EmptySequentialFile : public rocksdb::FSSequentialFile {
 public:
  rocksdb::IOStatus Read(size_t, const rocksdb::IOOptions&, rocksdb::Slice* result, char*,
                         rocksdb::IODebugContext*) override {
    *result = rocksdb::Slice();
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Skip(uint64_t) override { return rocksdb::IOStatus::OK(); }
};

// Sits under RocksDB's encrypted file system and keeps it from seeing a file too short to hold
// an encryption header (a plain store's CURRENT, a truncated file): RocksDB would subtract the
// header length from its size and abort on an assertion. Such a file reads as Corruption, except
// a blank write-ahead log (IsBlankWal), which reads as empty.
class HeaderSizeGuard : public rocksdb::FileSystemWrapper {
 public:
  explicit HeaderSizeGuard(const std::shared_ptr<rocksdb::FileSystem>& base)
      : FileSystemWrapper(base) {}
  const char* Name() const override { return "KoppelStoreHeaderSizeGuard"; }

  rocksdb::IOStatus GetFileSize(const std::string& fname, const rocksdb::IOOptions& options,
                                uint64_t* size, rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status = FileSystemWrapper::GetFileSize(fname, options, size, dbg);
    if (!status.ok() || *size == 0 || *size > kPrefixLength) return status;
    if (IsBlankWal(*target(), fname, *size)) {
      *size = 0;
      return status;
    }
    if (*size < kPrefixLength) {
      return rocksdb::IOStatus::Corruption(
          fname, std::string(kUnencrypted) +
                     " (shorter than an encryption header): restore "
                     "the covenant's directory from a backup or end the covenant");
    }
    return status;
  }

  rocksdb::IOStatus NewSequentialFile(const std::string& fname, const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    uint64_t size = 0;
    if (FileSystemWrapper::GetFileSize(fname, options.io_options, &size, dbg).ok() &&
        IsBlankWal(*target(), fname, size)) {
      *result = std::make_unique<EmptySequentialFile>();
      return rocksdb::IOStatus::OK();
    }
    return FileSystemWrapper::NewSequentialFile(fname, options, result, dbg);
  }

  rocksdb::IOStatus GetChildrenFileAttributes(const std::string& dir,
                                              const rocksdb::IOOptions& options,
                                              std::vector<rocksdb::FileAttributes>* result,
                                              rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status =
        FileSystemWrapper::GetChildrenFileAttributes(dir, options, result, dbg);
    for (rocksdb::FileAttributes& file : *result) {
      file.size_bytes = std::max<uint64_t>(file.size_bytes, kPrefixLength);
    }
    return status;
  }
};

// Sits over RocksDB's encrypted file system and keeps every file's key stream used once:
// a file is only ever written from its start, after a fresh header. RocksDB's encrypted file
// system would reopen an existing file for appending with a second header at its end (RocksDB
// reopens the last write-ahead log at every open to truncate it, and tolerates NotSupported
// there), and would rewrite an existing file in place under its original IV.
// It also syncs each new file's header before RocksDB writes to it, so that a power loss never
// leaves a file whose records reached the disk but whose header did not.
class KeystreamOnceFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit KeystreamOnceFileSystem(const std::shared_ptr<rocksdb::FileSystem>& encrypted)
      : FileSystemWrapper(encrypted) {}
  const char* Name() const override { return "KoppelStoreKeystreamOnce"; }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    return SyncHeader(FileSystemWrapper::NewWritableFile(fname, options, result, dbg), result, dbg);
  }

  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    return SyncHeader(FileSystemWrapper::ReuseWritableFile(fname, old_fname, options, result, dbg),
                      result, dbg);
  }

  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions&,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext*) override {
    result->reset();
    return rocksdb::IOStatus::NotSupported(
        fname, "an encrypted store file is never appended to after it was closed");
  }

  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    result->reset();
    if (FileExists(fname, options.io_options, dbg).ok()) {
      return rocksdb::IOStatus::NotSupported(
          fname,
          "an encrypted store file is never rewritten in place (its key stream would be "
          "used twice)");
    }
    rocksdb::IOStatus status = FileSystemWrapper::NewRandomRWFile(fname, options, result, dbg);
    if (status.ok()) status = (*result)->Sync(options.io_options, dbg);
    if (!status.ok()) result->reset();
    return status;
  }

 private:
  static rocksdb::IOStatus SyncHeader(rocksdb::IOStatus opened,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) {
    if (opened.ok()) opened = (*result)->Sync(rocksdb::IOOptions(), dbg);
    if (!opened.ok()) result->reset();
    return opened;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<rocksdb::Env>> NewEncryptedStoreEnv(rocksdb::Env* base,
                                                                   const Secret& data_key) {
  if (base == nullptr) return absl::InvalidArgumentError("no base Env for the encrypted store");
  if (absl::Status sodium = EnsureSodium(); !sodium.ok()) return sodium;
  absl::StatusOr<Secret> cipher_key = DeriveKey(data_key, kCipherKeyLabel);
  if (!cipher_key.ok()) return cipher_key.status();
  absl::StatusOr<Secret> check_key = DeriveKey(data_key, kCheckKeyLabel);
  if (!check_key.ok()) return check_key.status();
  absl::StatusOr<std::shared_ptr<const KeyedAesCtr>> aes = KeyedAesCtr::Create(*cipher_key);
  if (!aes.ok()) return aes.status();
  absl::StatusOr<HmacSha256Key> check = HmacSha256Key::Create(check_key->span());
  if (!check.ok()) return check.status();
  auto provider = std::make_shared<StoreEncryptionProvider>(*std::move(aes), *std::move(check));
  std::shared_ptr<rocksdb::FileSystem> encrypted =
      rocksdb::NewEncryptedFS(std::make_shared<HeaderSizeGuard>(base->GetFileSystem()), provider);
  if (encrypted == nullptr) {
    return absl::InternalError("RocksDB cannot create the encrypted store file system");
  }
  return rocksdb::NewCompositeEnv(std::make_shared<KeystreamOnceFileSystem>(encrypted));
}

bool IsWrongStoreKey(const rocksdb::Status& status) {
  return !status.ok() && status.ToString().find(kWrongKey) != std::string::npos;
}

bool IsUnencryptedStoreFile(const rocksdb::Status& status) {
  return !status.ok() && status.ToString().find(kUnencrypted) != std::string::npos;
}

absl::Status ConfigureEncryptedStoreOptions(const Secret& data_key, rocksdb::Options* options) {
  if (options->table_factory == nullptr) {
    options->table_factory.reset(rocksdb::NewBlockBasedTableFactory());
  }
  auto* table = options->table_factory->GetOptions<rocksdb::BlockBasedTableOptions>();
  if (table == nullptr) {
    return absl::FailedPreconditionError(
        "the encrypted store needs block-based tables (their blocks carry the checksums that "
        "catch tampering)");
  }
  table->checksum = rocksdb::kXXH3;
  options->paranoid_checks = true;

  absl::StatusOr<Secret> mac_key = DeriveKey(data_key, kFileMacLabel);
  if (!mac_key.ok()) return mac_key.status();
  Mac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr), &EVP_MAC_free);
  MacCtx keyed(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr, &EVP_MAC_CTX_free);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!keyed || EVP_MAC_init(keyed.get(), mac_key->data(), mac_key->size(), params) != 1) {
    return absl::InternalError("OpenSSL cannot set up HMAC-SHA256 for the store's files");
  }
  options->file_checksum_gen_factory = std::make_shared<FileMacFactory>(std::move(keyed));
  return absl::OkStatus();
}

namespace {

// Recomputes one SST's MAC from its decrypted contents, read in large sequential chunks.
absl::Status VerifyOneFile(rocksdb::FileSystem& fs, rocksdb::FileChecksumGenFactory& factory,
                           const rocksdb::LiveFileMetaData& file) {
  const std::string where = "SST file " + file.relative_filename + " of the covenant's store";
  if (file.file_checksum_func_name != kFileMacName) {
    return absl::DataLossError(where +
                               " carries no MAC: it was not written by this store; "
                               "restore the covenant's directory from a backup");
  }
  rocksdb::FileChecksumGenContext context;
  context.file_name = file.relative_filename;
  context.requested_checksum_func_name = kFileMacName;
  std::unique_ptr<rocksdb::FileChecksumGenerator> mac =
      factory.CreateFileChecksumGenerator(context);
  if (mac == nullptr) return absl::InternalError("cannot start the MAC of " + where);
  std::unique_ptr<rocksdb::FSSequentialFile> in;
  rocksdb::IOStatus io = fs.NewSequentialFile(file.directory + "/" + file.relative_filename,
                                              rocksdb::FileOptions(), &in, nullptr);
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<char> buffer(io.ok() ? kChunk : 0);
  for (rocksdb::Slice chunk; io.ok();) {
    io = in->Read(kChunk, rocksdb::IOOptions(), &chunk, buffer.data(), nullptr);
    if (!io.ok() || chunk.empty()) break;
    mac->Update(chunk.data(), chunk.size());
  }
  if (!io.ok()) {
    return absl::DataLossError(where + " cannot be read (" +
                               std::string(io.IsCorruption() ? "damaged" : "I/O error") +
                               "): restore the covenant's directory from a backup");
  }
  mac->Finalize();
  const std::string computed = mac->GetChecksum();
  if (computed.size() != file.file_checksum.size() ||
      CRYPTO_memcmp(computed.data(), file.file_checksum.data(), computed.size()) != 0) {
    return absl::DataLossError(where +
                               " was changed on disk since it was written (its MAC does "
                               "not match the one recorded at write time): restore the "
                               "covenant's directory from a backup");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyEncryptedStore(rocksdb::DB* db) {
  const std::shared_ptr<rocksdb::FileChecksumGenFactory> factory =
      db->GetOptions().file_checksum_gen_factory;
  if (factory == nullptr || std::string_view(factory->Name()) != "KoppelHmacSha256Factory") {
    return absl::FailedPreconditionError(
        "the covenant's store was opened without ConfigureEncryptedStoreOptions: its files "
        "carry no MAC to verify");
  }
  // Files stay on disk while they are read, even if a compaction replaces them meanwhile.
  if (rocksdb::Status paused = db->DisableFileDeletions(); !paused.ok()) {
    return absl::InternalError("cannot pause file deletions to verify the covenant's store");
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  std::atomic<size_t> next{0};
  std::vector<absl::Status> results(files.size());
  auto verify = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      results[i] = VerifyOneFile(*db->GetFileSystem(), *factory, files[i]);
    }
  };
  std::vector<std::thread> workers;
  for (size_t t = 1; t < std::min(threads, files.size()); ++t) workers.emplace_back(verify);
  verify();
  for (std::thread& worker : workers) worker.join();
  db->EnableFileDeletions(/*force=*/false).PermitUncheckedError();
  for (const absl::Status& result : results) {
    if (!result.ok()) return result;
  }
  return absl::OkStatus();
}

}  // namespace koppel::linker

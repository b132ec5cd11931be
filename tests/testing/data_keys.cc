#include "tests/testing/data_keys.h"

#include <fmt/format.h>
#include <sodium.h>

#include <fstream>
#include <iterator>

#include "core/hmac.h"
#include "core/key_file.h"

namespace koppel::test {

absl::StatusOr<Secret> VaultDataKey(const std::filesystem::path& vault_dir,
                                    const std::filesystem::path& master_key_file,
                                    const std::string& covenant) {
  // vault/key_store.cc: keys/<name>.<epoch>.sealed, nonce || secretbox under the master key;
  // vault/vault_service.h: a covenant's data key is named <covenant>.DATA.
  std::filesystem::path newest;
  for (uint32_t epoch = 1;; ++epoch) {
    const std::filesystem::path path =
        vault_dir / "keys" / fmt::format("{}.DATA.{}.sealed", covenant, epoch);
    if (!std::filesystem::exists(path)) break;
    newest = path;
  }
  if (newest.empty()) {
    return absl::NotFoundError(fmt::format("the vault holds no data key of {}", covenant));
  }
  absl::StatusOr<Secret> master = ReadKeyFile(master_key_file, 32);
  if (!master.ok()) return master.status();
  std::ifstream in(newest, std::ios::binary);
  const std::string sealed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (sealed.size() != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 32) {
    return absl::DataLossError(fmt::format("{} is not a sealed key", newest.string()));
  }
  absl::StatusOr<Secret> key = Secret::Allocate(32);
  if (!key.ok()) return key.status();
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_secretbox_open_easy(key->mutable_data(), bytes + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, bytes,
                                 master->data()) != 0) {
    return absl::DataLossError(
        fmt::format("{} does not open with {}", newest.string(), master_key_file.string()));
  }
  return key;
}

absl::StatusOr<Secret> LocalDataKey(const std::filesystem::path& linker_keys,
                                    const std::string& covenant) {
  absl::StatusOr<Secret> master = ReadKeyFile(linker_keys / "linker-master.key", 32);
  if (!master.ok()) return master.status();
  return HkdfSha256(master->span(), {}, "koppel/v1/data/" + covenant, 32);
}

std::vector<std::string> StoredCovenants(const std::filesystem::path& db) {
  std::vector<std::string> covenants;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(db / "covenants", ec)) {
    if (entry.is_directory()) covenants.push_back(entry.path().filename().string());
  }
  return covenants;
}

}  // namespace koppel::test

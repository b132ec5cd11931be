// The data key a linker opens a covenant's store with, for tests that read the store offline
// (LinkerStore::OpenReadOnly + OpenCovenant) while or after the real linker ran.
#ifndef KOPPEL_TESTS_TESTING_DATA_KEYS_H_
#define KOPPEL_TESTS_TESTING_DATA_KEYS_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel::test {

// The key the vault in `vault_dir` (started with the master key file `master_key_file`) hands
// the linker for `covenant`: its newest epoch, unsealed. NOT_FOUND once the vault destroyed it.
absl::StatusOr<Secret> VaultDataKey(const std::filesystem::path& vault_dir,
                                    const std::filesystem::path& master_key_file,
                                    const std::string& covenant);

// The key a linker started without --vault derives from linker-master.key in `linker_keys`.
absl::StatusOr<Secret> LocalDataKey(const std::filesystem::path& linker_keys,
                                    const std::string& covenant);

// The covenants whose store directory is in the linker store `db`.
std::vector<std::string> StoredCovenants(const std::filesystem::path& db);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_DATA_KEYS_H_

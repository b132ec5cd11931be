// How the linker keeps a record at rest: the serialised v1::Record, in a covenant's store whose
// files are encrypted as a whole under the covenant's data key (linker/store_encryption.h).
// Once the vault destroys that key, nothing the store kept can be read.
#ifndef KOPPEL_LINKER_RECORD_CIPHER_H_
#define KOPPEL_LINKER_RECORD_CIPHER_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/secret.h"
#include "koppel/v1/batch.pb.h"

namespace koppel {

// Reads a stored value into `record`; DATA_LOSS when it does not parse. `data_key` and
// `plain` are no longer used (the store's files are encrypted, not each record).
absl::Status OpenStoredRecord(std::string_view stored, const Secret& data_key, std::string* plain,
                              v1::Record* record);

}  // namespace koppel

#endif  // KOPPEL_LINKER_RECORD_CIPHER_H_

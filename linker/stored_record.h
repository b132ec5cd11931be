// How the linker keeps a record at rest: the serialised v1::Record, in a covenant's store whose
// files are encrypted as a whole under the covenant's data key (linker/store_encryption.h).
// Once the vault destroys that key, nothing the store kept can be read.
#ifndef KOPPEL_LINKER_STORED_RECORD_H_
#define KOPPEL_LINKER_STORED_RECORD_H_

#include <string_view>

#include "absl/status/status.h"
#include "koppel/v1/batch.pb.h"

namespace koppel::linker {

// Reads a stored value into `record`; DATA_LOSS when it does not parse.
absl::Status ParseStoredRecord(std::string_view stored, v1::Record* record);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_STORED_RECORD_H_

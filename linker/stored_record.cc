#include "linker/stored_record.h"

namespace koppel::linker {

absl::Status ParseStoredRecord(std::string_view stored, v1::Record* record) {
  if (!record->ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError("a stored record is corrupt");
  }
  return absl::OkStatus();
}

}  // namespace koppel::linker

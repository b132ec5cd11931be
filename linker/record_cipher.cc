#include "linker/record_cipher.h"

namespace koppel {

absl::Status OpenStoredRecord(std::string_view stored, const Secret& /*data_key*/,
                              std::string* /*plain*/, v1::Record* record) {
  if (!record->ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError("a stored record is corrupt");
  }
  return absl::OkStatus();
}

}  // namespace koppel

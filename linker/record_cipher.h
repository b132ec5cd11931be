// How the linker keeps a record at rest: the serialised v1::Record sealed with the covenant's
// data key (XSalsa20-Poly1305), stored as nonce || ciphertext. Opening needs the key the vault
// holds; once the vault destroys it, nothing the store kept can be read.
#ifndef KOPPEL_LINKER_RECORD_CIPHER_H_
#define KOPPEL_LINKER_RECORD_CIPHER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/secret.h"
#include "koppel/v1/batch.pb.h"

namespace koppel {

// Seals a serialised record into `out` as nonce || ciphertext. The nonce must never repeat under
// one key (the ingester uses 16 random bytes per batch and the record's index).
void SealStoredRecord(std::string_view plain, const uint8_t (&nonce)[24], const Secret& data_key,
                      std::string* out);

// Opens a stored value into `record`, using `plain` as scratch (the caller wipes it). DATA_LOSS
// when the value is truncated, altered or sealed with another key.
absl::Status OpenStoredRecord(std::string_view sealed, const Secret& data_key, std::string* plain,
                              v1::Record* record);

}  // namespace koppel

#endif  // KOPPEL_LINKER_RECORD_CIPHER_H_

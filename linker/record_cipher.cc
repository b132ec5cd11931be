#include "linker/record_cipher.h"

#include <sodium.h>

#include <algorithm>
#include <iterator>

namespace koppel {

static_assert(crypto_secretbox_NONCEBYTES == 24);

void SealStoredRecord(std::string_view plain, const uint8_t (&nonce)[24], const Secret& data_key,
                      std::string* out) {
  out->resize(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size());
  auto* bytes = reinterpret_cast<unsigned char*>(out->data());
  std::copy(std::begin(nonce), std::end(nonce), bytes);
  crypto_secretbox_easy(bytes + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), bytes,
                        data_key.data());
}

absl::Status OpenStoredRecord(std::string_view sealed, const Secret& data_key, std::string* plain,
                              v1::Record* record) {
  if (sealed.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return absl::DataLossError("a stored record is truncated");
  }
  plain->resize(sealed.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES);
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain->data()),
                                 in + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, in,
                                 data_key.data()) != 0) {
    return absl::DataLossError(
        "a stored record does not decrypt with the covenant's data key (wrong key, or the store "
        "was altered)");
  }
  if (!record->ParseFromString(*plain)) return absl::DataLossError("a stored record is corrupt");
  return absl::OkStatus();
}

}  // namespace koppel

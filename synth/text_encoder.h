// Converts the UTF-8 text the generator renders into the byte encoding an export is written in
// (glibc iconv), so that the dialect exports are in the encodings real holders use.
#ifndef KOPPEL_SYNTH_TEXT_ENCODER_H_
#define KOPPEL_SYNTH_TEXT_ENCODER_H_

#include <iconv.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "synth/dataset_spec.h"

namespace koppel::synth {

class TextEncoder {
 public:
  // Internal error when iconv lacks the encoding (a broken C library, not a user error).
  static absl::StatusOr<TextEncoder> Create(TextEncoding encoding);
  TextEncoder(TextEncoder&& other) noexcept;
  TextEncoder& operator=(TextEncoder&& other) noexcept;
  ~TextEncoder();

  // The bytes of `utf8` in the encoding; Internal error when a character has no
  // representation there (a generator bug: its texts must fit every dialect).
  absl::StatusOr<std::string> Encode(std::string_view utf8) const;

  // The byte-order mark a file starts with ("" for the single-byte encodings; a UTF-8 BOM is
  // the dialect's choice, see CsvDialect::bom).
  std::string_view Bom() const;

 private:
  TextEncoder(TextEncoding encoding, iconv_t cd) : encoding_(encoding), cd_(cd) {}

  TextEncoding encoding_;
  iconv_t cd_;  // (iconv_t)-1 for UTF-8, which passes through
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_TEXT_ENCODER_H_

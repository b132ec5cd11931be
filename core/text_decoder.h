// The character encodings of holders' exports and their decoding to UTF-8 with glibc iconv.
// An export is read in one encoding as a whole: a byte that does not decode refuses the file
// (naming its line and column, never its bytes) instead of rejecting rows, because a wrong
// encoding is a property of the file, not of a row.
//
// Byte-order marks: a UTF-8 BOM is skipped under utf-8, utf-8-bom and auto. utf-16 requires a
// BOM (Excel's "Unicode text" always writes one), which gives the byte order; a UTF-16 file
// without one is refused rather than guessed. A BOM of another encoding than the declared one
// refuses the file, and so does a UTF-32 BOM (UTF-32 is not supported).
//
// U+0000 (NUL) is never text: wherever it is, it refuses the file as a byte that does not
// decode would. When the file looks like UTF-16 without a BOM (a NUL in every second byte),
// the message says so.
#ifndef KOPPEL_CORE_TEXT_DECODER_H_
#define KOPPEL_CORE_TEXT_DECODER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace koppel {

enum class TextEncoding { kUtf8, kUtf8Bom, kWindows1252, kIso88591, kIso885915, kUtf16, kAuto };

// Mapping names: utf-8, utf-8-bom, windows-1252, iso-8859-1, iso-8859-15, utf-16, auto.
// An unknown name is INVALID_ARGUMENT listing them.
absl::StatusOr<TextEncoding> ParseTextEncoding(std::string_view name);
std::string_view TextEncodingName(TextEncoding encoding);
// "utf-8, utf-8-bom, windows-1252, iso-8859-1, iso-8859-15, utf-16, auto"
std::string_view TextEncodingNames();

// What a whole-file check found: the encoding used (never kAuto) and why.
struct EncodingCheck {
  TextEncoding encoding;
  bool bom = false;    // the file starts with a byte-order mark
  std::string reason;  // e.g. "declared in the mapping", "auto: UTF-16 LE byte-order mark"
};

// Reads the whole file once in flat memory. Resolves kAuto (BOM: UTF-8 or UTF-16 LE/BE;
// else UTF-8 when the whole file is valid UTF-8; else windows-1252) and verifies that every
// byte decodes in the (declared or chosen) encoding. A file that does not decode is an error
// (kFailedPrecondition) naming the first offending line and column, never its bytes:
// "<file>: line L, column C: ... not valid <encoding>; declare csv.encoding (docs/agent.md)".
absl::StatusOr<EncodingCheck> CheckFileEncoding(const std::filesystem::path& path,
                                                TextEncoding declared);

// Turns the bytes of one export, fed in chunks of any size, into UTF-8. Keeps the position
// (line and column, counted in decoded characters from 1) so that an error can name it.
// Not for kAuto: resolve it with CheckFileEncoding first.
class TextDecoder {
 public:
  // `file_name` is only used in error messages.
  static absl::StatusOr<std::unique_ptr<TextDecoder>> Create(TextEncoding encoding,
                                                             std::string file_name);
  ~TextDecoder();
  TextDecoder(const TextDecoder&) = delete;
  TextDecoder& operator=(const TextDecoder&) = delete;

  // Decodes `*input` and appends the UTF-8 text to `output`, removing the bytes it used from
  // the front of `*input`. Bytes of a character split across chunks stay in `*input`: pass them
  // again with more bytes, or with `end_of_input` set when no more come. FAILED_PRECONDITION
  // for a byte that does not decode (and a missing or foreign byte-order mark).
  absl::Status Decode(std::string_view* input, bool end_of_input, std::string* output);

  TextEncoding encoding() const { return encoding_; }
  bool saw_bom() const { return saw_bom_; }
  // "LE" or "BE" for utf-16 once the byte-order mark was read, else empty.
  std::string_view byte_order() const { return byte_order_; }
  // Where the next character goes (after an error: the offending one).
  uint64_t line() const { return line_; }
  uint64_t column() const { return column_; }
  // The last error (a NUL character, a UTF-32 byte-order mark) would recur in every encoding.
  bool error_in_any_encoding() const { return error_in_any_encoding_; }

 private:
  TextDecoder(TextEncoding encoding, std::string file_name);
  absl::Status DecodeAfterByteOrderMark(std::string_view* input, bool end_of_input,
                                        std::string* output);
  absl::Status ReadByteOrderMark(std::string_view* input, bool end_of_input);
  absl::Status DecodeUtf8(std::string_view* input, bool end_of_input, std::string* output);
  absl::Status DecodeWithIconv(std::string_view* input, bool end_of_input, std::string* output);
  void Advance(std::string_view decoded);
  absl::Status NotDecodable(std::string_view what) const;
  absl::Status NulCharacter();
  // Keeps the file's first bytes, to tell UTF-16 without a byte-order mark in an error.
  void RememberHead(std::string_view input);

  TextEncoding encoding_;
  std::string file_name_;
  void* iconv_ = nullptr;  // iconv_t, opened once the byte order is known
  bool started_ = false;   // the byte-order mark (or its absence) has been handled
  bool saw_bom_ = false;
  std::string_view byte_order_;
  uint64_t line_ = 1;
  uint64_t column_ = 1;  // of the next decoded character
  bool error_in_any_encoding_ = false;
  std::string head_;       // the file's first bytes, as given
  uint64_t consumed_ = 0;  // bytes removed from the inputs so far
};

// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or values > U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

}  // namespace koppel

#endif  // KOPPEL_CORE_TEXT_DECODER_H_

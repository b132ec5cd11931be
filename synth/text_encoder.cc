#include "synth/text_encoder.h"

#include <cerrno>
#include <utility>

#include "fmt/format.h"

namespace koppel::synth {
namespace {

const iconv_t kNoConversion = reinterpret_cast<iconv_t>(-1);

const char* IconvName(TextEncoding encoding) {
  switch (encoding) {
    case TextEncoding::kUtf8:
      return "UTF-8";
    case TextEncoding::kWindows1252:
      return "WINDOWS-1252";
    case TextEncoding::kIso885915:
      return "ISO-8859-15";
    case TextEncoding::kUtf16Le:
      return "UTF-16LE";
  }
  return "UTF-8";
}

}  // namespace

absl::StatusOr<TextEncoder> TextEncoder::Create(TextEncoding encoding) {
  if (encoding == TextEncoding::kUtf8) return TextEncoder(encoding, kNoConversion);
  iconv_t cd = iconv_open(IconvName(encoding), "UTF-8");
  if (cd == kNoConversion) {
    return absl::InternalError(fmt::format(
        "the C library's iconv cannot convert UTF-8 to {}; install the glibc conversion "
        "modules (gconv)",
        IconvName(encoding)));
  }
  return TextEncoder(encoding, cd);
}

TextEncoder::TextEncoder(TextEncoder&& other) noexcept
    : encoding_(other.encoding_), cd_(std::exchange(other.cd_, kNoConversion)) {}

TextEncoder& TextEncoder::operator=(TextEncoder&& other) noexcept {
  if (this != &other) {
    if (cd_ != kNoConversion) iconv_close(cd_);
    encoding_ = other.encoding_;
    cd_ = std::exchange(other.cd_, kNoConversion);
  }
  return *this;
}

TextEncoder::~TextEncoder() {
  if (cd_ != kNoConversion) iconv_close(cd_);
}

absl::StatusOr<std::string> TextEncoder::Encode(std::string_view utf8) const {
  if (cd_ == kNoConversion) return std::string(utf8);
  iconv(cd_, nullptr, nullptr, nullptr, nullptr);
  std::string out(utf8.size() * 2 + 4, '\0');
  char* in = const_cast<char*>(utf8.data());
  size_t in_left = utf8.size();
  char* at = out.data();
  size_t out_left = out.size();
  if (iconv(cd_, &in, &in_left, &at, &out_left) == static_cast<size_t>(-1)) {
    return absl::InternalError(fmt::format(
        "a generated text has a character that {} cannot represent (at byte {}); generator bug",
        IconvName(encoding_), utf8.size() - in_left));
  }
  out.resize(out.size() - out_left);
  return out;
}

std::string_view TextEncoder::Bom() const {
  return encoding_ == TextEncoding::kUtf16Le ? std::string_view("\xFF\xFE", 2) : std::string_view();
}

}  // namespace koppel::synth

#include "core/text_decoder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <iconv.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/file.h"
#include "core/file_contents.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kUtf16LeBom = "\xFF\xFE";
constexpr std::string_view kUtf16BeBom = "\xFE\xFF";
constexpr std::string_view kUtf32LeBom{"\xFF\xFE\0\0", 4};
constexpr std::string_view kUtf32BeBom{"\0\0\xFE\xFF", 4};
constexpr size_t kLongestBom = kUtf32LeBom.size();
constexpr size_t kHeadBytes = 256;
constexpr size_t kFileChunk = 1 << 20;
constexpr size_t kOutputBlock = 1 << 16;

struct NamedEncoding {
  TextEncoding encoding;
  std::string_view name;
};
constexpr NamedEncoding kEncodings[] = {
    {TextEncoding::kUtf8, "utf-8"},
    {TextEncoding::kUtf8Bom, "utf-8-bom"},
    {TextEncoding::kWindows1252, "windows-1252"},
    {TextEncoding::kIso88591, "iso-8859-1"},
    {TextEncoding::kIso885915, "iso-8859-15"},
    {TextEncoding::kUtf16, "utf-16"},
    {TextEncoding::kAuto, "auto"},
};

bool IsUtf8(TextEncoding e) { return e == TextEncoding::kUtf8 || e == TextEncoding::kUtf8Bom; }
bool IsLatin(TextEncoding e) {
  return e == TextEncoding::kIso88591 || e == TextEncoding::kIso885915;
}

// Bytes at the start of `bytes` that form whole, well-formed UTF-8 characters (no overlong
// forms, surrogates or values above U+10FFFF). `*truncated` tells whether what follows could
// still become a character with more bytes.
size_t ValidUtf8Prefix(std::string_view bytes, bool* truncated) {
  const auto* begin = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* p = begin;
  const unsigned char* end = p + bytes.size();
  *truncated = false;
  while (p < end) {
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if ((word & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t length;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, cp = c & 0x07u;
    } else {
      break;
    }
    const size_t available = std::min(length, static_cast<size_t>(end - p));
    bool continuation = true;
    for (size_t i = 1; i < available; ++i) {
      if ((p[i] & 0xC0) != 0x80) continuation = false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (available < length) {
      *truncated = continuation;
      break;
    }
    if (!continuation || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) break;
    p += length;
  }
  return static_cast<size_t>(p - begin);
}

size_t CountCharacters(std::string_view utf8) {
  return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

const char* IconvName(TextEncoding encoding, std::string_view byte_order) {
  switch (encoding) {
    case TextEncoding::kWindows1252:
      return "WINDOWS-1252";
    case TextEncoding::kIso88591:
      return "ISO-8859-1";
    case TextEncoding::kIso885915:
      return "ISO-8859-15";
    case TextEncoding::kUtf16:
      return byte_order == "BE" ? "UTF-16BE" : "UTF-16LE";
    default:
      return nullptr;
  }
}

// UTF-16 without a byte-order mark read as UTF-8 or a single-byte encoding: mostly Latin text
// has a NUL in every second byte (the odd ones in LE, the even ones in BE) and few in the others.
bool LooksLikeUtf16WithoutBom(std::string_view head) {
  const size_t units = head.size() / 2;
  if (units < 2) return false;
  size_t even = 0, odd = 0;
  for (size_t i = 0; i < units * 2; ++i) {
    if (head[i] == '\0') ++(i % 2 == 0 ? even : odd);
  }
  auto mostly = [units](size_t nuls) { return nuls * 4 >= units * 3; };
  auto few = [units](size_t nuls) { return nuls * 4 < units; };
  return (mostly(odd) && few(even)) || (mostly(even) && few(odd));
}

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  bool truncated;
  return ValidUtf8Prefix(bytes, &truncated) == bytes.size();
}

absl::StatusOr<TextEncoding> ParseTextEncoding(std::string_view name) {
  for (const NamedEncoding& e : kEncodings) {
    if (e.name == name) return e.encoding;
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown encoding '{}': use one of {}", name, TextEncodingNames()));
}

std::string_view TextEncodingName(TextEncoding encoding) {
  for (const NamedEncoding& e : kEncodings) {
    if (e.encoding == encoding) return e.name;
  }
  return "unknown";
}

std::string_view TextEncodingNames() {
  return "utf-8, utf-8-bom, windows-1252, iso-8859-1, iso-8859-15, utf-16, auto";
}

absl::StatusOr<std::unique_ptr<TextDecoder>> TextDecoder::Create(TextEncoding encoding,
                                                                 std::string file_name) {
  if (encoding == TextEncoding::kAuto) {
    return absl::InvalidArgumentError(
        "the text decoder needs a concrete encoding; resolve auto with CheckFileEncoding");
  }
  return std::unique_ptr<TextDecoder>(new TextDecoder(encoding, std::move(file_name)));
}

TextDecoder::TextDecoder(TextEncoding encoding, std::string file_name)
    : encoding_(encoding), file_name_(std::move(file_name)) {}

TextDecoder::~TextDecoder() {
  if (iconv_ != nullptr) iconv_close(static_cast<iconv_t>(iconv_));
}

absl::Status TextDecoder::NotDecodable(std::string_view what) const {
  std::string name(TextEncodingName(encoding_));
  if (!byte_order_.empty()) name += fmt::format(" ({})", byte_order_);
  return absl::FailedPreconditionError(fmt::format(
      "{}: line {}, column {}: {} not valid {}; declare the export's encoding as csv.encoding in "
      "the mapping, or auto (docs/agent.md)",
      file_name_, line_, column_, what, name));
}

absl::Status TextDecoder::NulCharacter() {
  error_in_any_encoding_ = true;
  const bool utf16 = encoding_ != TextEncoding::kUtf16 && LooksLikeUtf16WithoutBom(head_);
  return absl::FailedPreconditionError(fmt::format(
      "{}: line {}, column {}: a NUL character (U+0000), which no text export holds; {}",
      file_name_, line_, column_,
      utf16 ? "is this UTF-16 without a byte-order mark? save it as Unicode text with a BOM, and "
              "declare csv.encoding: utf-16 or auto (koppel does not guess the byte order; "
              "docs/agent.md)"
            : "remove the NUL characters at the source, or declare the export's real encoding "
              "as csv.encoding in the mapping (docs/agent.md)"));
}

void TextDecoder::RememberHead(std::string_view input) {
  if (head_.size() >= kHeadBytes || consumed_ > head_.size()) return;
  const size_t known = static_cast<size_t>(head_.size() - consumed_);
  if (known >= input.size()) return;
  head_.append(input.substr(known, kHeadBytes - head_.size()));
}

void TextDecoder::Advance(std::string_view decoded) {
  const void* last = ::memrchr(decoded.data(), '\n', decoded.size());
  if (last == nullptr) {
    column_ += CountCharacters(decoded);
    return;
  }
  line_ += static_cast<uint64_t>(std::count(decoded.begin(), decoded.end(), '\n'));
  const size_t after = static_cast<size_t>(static_cast<const char*>(last) - decoded.data()) + 1;
  column_ = 1 + CountCharacters(decoded.substr(after));
}

absl::Status TextDecoder::ReadByteOrderMark(std::string_view* input, bool end_of_input) {
  std::string_view bytes = *input;
  // Wait for enough bytes to tell a byte-order mark from text.
  if (bytes.size() < kLongestBom && !end_of_input) return absl::OkStatus();
  started_ = true;
  if (bytes.starts_with(kUtf32LeBom) || bytes.starts_with(kUtf32BeBom)) {
    error_in_any_encoding_ = true;
    return absl::FailedPreconditionError(fmt::format(
        "{}: the file starts with a UTF-32 byte-order mark: UTF-32 is not supported; save as "
        "UTF-8 or UTF-16 and declare that as csv.encoding (docs/agent.md)",
        file_name_));
  }
  const bool utf8_bom = bytes.starts_with(kUtf8Bom);
  const bool le_bom = bytes.starts_with(kUtf16LeBom);
  const bool be_bom = bytes.starts_with(kUtf16BeBom);
  const std::string_view declared = TextEncodingName(encoding_);
  if (encoding_ == TextEncoding::kUtf16) {
    if (le_bom || be_bom) {
      saw_bom_ = true;
      byte_order_ = le_bom ? "LE" : "BE";
      input->remove_prefix(2);
    } else if (!bytes.empty()) {
      return absl::FailedPreconditionError(fmt::format(
          "{}: csv.encoding is utf-16 but the file does not start with a UTF-16 byte-order mark "
          "(Excel's \"Unicode text\" always writes one); koppel does not guess the byte order: "
          "{}save the export as \"Unicode text\" again, or declare its real encoding or auto "
          "(docs/agent.md)",
          file_name_,
          utf8_bom ? "it starts with a UTF-8 byte-order mark (declare utf-8-bom); " : ""));
    }
  } else if (utf8_bom) {
    if (!IsUtf8(encoding_)) {
      return absl::FailedPreconditionError(fmt::format(
          "{}: the file starts with a UTF-8 byte-order mark but csv.encoding is {}; declare "
          "utf-8-bom or auto (docs/agent.md)",
          file_name_, declared));
    }
    saw_bom_ = true;
    input->remove_prefix(kUtf8Bom.size());
  } else if (le_bom || be_bom) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: the file starts with a UTF-16 byte-order mark but csv.encoding is {}; declare "
        "utf-16 or auto (docs/agent.md)",
        file_name_, declared));
  }
  if (const char* name = IconvName(encoding_, byte_order_); name != nullptr) {
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == reinterpret_cast<iconv_t>(-1)) {
      return absl::InternalError(
          fmt::format("cannot convert from {} (iconv_open: {}); is glibc's gconv installed?", name,
                      ErrnoText(errno)));
    }
    iconv_ = cd;
  }
  return absl::OkStatus();
}

absl::Status TextDecoder::Decode(std::string_view* input, bool end_of_input, std::string* output) {
  RememberHead(*input);
  const size_t given = input->size();
  absl::Status status = DecodeAfterByteOrderMark(input, end_of_input, output);
  consumed_ += given - input->size();
  return status;
}

absl::Status TextDecoder::DecodeAfterByteOrderMark(std::string_view* input, bool end_of_input,
                                                   std::string* output) {
  if (!started_) {
    RETURN_IF_ERROR(ReadByteOrderMark(input, end_of_input));
    if (!started_) return absl::OkStatus();
  }
  if (iconv_ == nullptr) return DecodeUtf8(input, end_of_input, output);
  return DecodeWithIconv(input, end_of_input, output);
}

absl::Status TextDecoder::DecodeUtf8(std::string_view* input, bool end_of_input,
                                     std::string* output) {
  bool truncated;
  size_t valid = ValidUtf8Prefix(*input, &truncated);
  // In UTF-8 a zero byte is always U+0000.
  const size_t nul = input->substr(0, valid).find('\0');
  if (nul != std::string_view::npos) valid = nul;
  std::string_view decoded = input->substr(0, valid);
  output->append(decoded);
  Advance(decoded);
  input->remove_prefix(valid);
  if (nul != std::string_view::npos) return NulCharacter();
  if (input->empty() || (truncated && !end_of_input)) return absl::OkStatus();
  return NotDecodable(truncated ? "the file ends inside a character, which is" : "a byte that is");
}

absl::Status TextDecoder::DecodeWithIconv(std::string_view* input, bool end_of_input,
                                          std::string* output) {
  std::string_view convertible = *input;
  bool control = false;
  if (IsLatin(encoding_)) {
    // Every byte is a character in ISO-8859-1 and -15, but 0x80-0x9F are C1 control codes that
    // no text export holds: such a file is windows-1252 declared as ISO-8859.
    auto c1 = std::find_if(convertible.begin(), convertible.end(), [](char c) {
      auto b = static_cast<unsigned char>(c);
      return b >= 0x80 && b <= 0x9F;
    });
    control = c1 != convertible.end();
    convertible = convertible.substr(0, static_cast<size_t>(c1 - convertible.begin()));
  }
  auto* cd = static_cast<iconv_t>(iconv_);
  char* in = const_cast<char*>(convertible.data());
  size_t in_left = convertible.size();
  int error = 0;
  bool nul = false;
  while (in_left > 0) {
    const size_t old_size = output->size();
    output->resize(old_size + std::max(kOutputBlock, in_left * 2));
    char* out = output->data() + old_size;
    size_t out_left = output->size() - old_size;
    const size_t rc = iconv(cd, &in, &in_left, &out, &out_left);
    error = rc == static_cast<size_t>(-1) ? errno : 0;
    size_t produced = output->size() - old_size - out_left;
    // The output is UTF-8, where a zero byte is always U+0000. The input is refused then, so
    // what of it was used no longer matters.
    const void* zero = std::memchr(output->data() + old_size, '\0', produced);
    if (zero != nullptr) {
      nul = true;
      produced = static_cast<size_t>(static_cast<const char*>(zero) - (output->data() + old_size));
    }
    output->resize(old_size + produced);
    Advance(std::string_view(output->data() + old_size, produced));
    if (nul || (error != 0 && error != E2BIG)) break;
  }
  input->remove_prefix(static_cast<size_t>(in - input->data()));
  if (nul) return NulCharacter();
  if (error == EILSEQ) return NotDecodable("a byte that is");
  if (error == EINVAL && end_of_input) {
    return NotDecodable("the file ends inside a character, which is");
  }
  if (control) {
    return NotDecodable("a C1 control code (a windows-1252 character read as ISO-8859?) is");
  }
  return absl::OkStatus();
}

namespace {

// What decoding the whole file found.
struct FileDecoding {
  absl::Status status;
  bool bom = false;
  std::string_view byte_order;
  uint64_t line = 0;  // of the first character that does not decode
  uint64_t column = 0;
  bool error_in_any_encoding = false;  // no other encoding could read the file either
};

// Feeds the whole file through a decoder of `encoding` in flat memory.
FileDecoding DecodeFile(int fd, const std::string& name, TextEncoding encoding) {
  FileDecoding result;
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    result.status =
        absl::DataLossError(fmt::format("cannot rewind {}: {}", name, ErrnoText(errno)));
    return result;
  }
  absl::StatusOr<std::unique_ptr<TextDecoder>> decoder = TextDecoder::Create(encoding, name);
  if (!decoder.ok()) {
    result.status = decoder.status();
    return result;
  }
  std::string bytes;
  std::string decoded;
  std::vector<char> chunk(kFileChunk);
  bool end = false;
  while (!end && result.status.ok()) {
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result.status =
          absl::DataLossError(fmt::format("read error in {}: {}", name, ErrnoText(errno)));
      break;
    }
    end = n == 0;
    bytes.append(chunk.data(), static_cast<size_t>(n));
    std::string_view pending = bytes;
    decoded.clear();
    result.status = (*decoder)->Decode(&pending, end, &decoded);
    bytes.erase(0, bytes.size() - pending.size());
  }
  result.bom = (*decoder)->saw_bom();
  result.byte_order = (*decoder)->byte_order();
  result.line = (*decoder)->line();
  result.column = (*decoder)->column();
  result.error_in_any_encoding = (*decoder)->error_in_any_encoding();
  return result;
}

// The first bytes of the file (up to 4), for byte-order-mark detection.
absl::StatusOr<std::string> FirstBytes(int fd, const std::string& name) {
  char head[kLongestBom];
  size_t have = 0;
  while (have < sizeof head) {
    ssize_t n = ::pread(fd, head + have, sizeof head - have, static_cast<off_t>(have));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::DataLossError(fmt::format("read error in {}: {}", name, ErrnoText(errno)));
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  return std::string(head, have);
}

}  // namespace

absl::StatusOr<EncodingCheck> CheckFileEncoding(const std::filesystem::path& path,
                                                TextEncoding declared) {
  absl::StatusOr<int> opened = OpenRegularFile(path, "");
  if (!opened.ok()) {
    // As CsvReader::Open: NOT_FOUND stays; anything but a regular file is an invalid argument.
    if (absl::IsNotFound(opened.status())) return opened.status();
    return absl::InvalidArgumentError(opened.status().message());
  }
  const int fd = *opened;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const std::string name = path.string();

  EncodingCheck check{declared, false, "declared in the mapping"};
  if (declared == TextEncoding::kAuto) {
    ASSIGN_OR_RETURN(std::string head, FirstBytes(fd, name));
    if (head.starts_with(kUtf8Bom)) {
      check = {TextEncoding::kUtf8Bom, true, "auto: UTF-8 byte-order mark"};
    } else if (head.starts_with(kUtf16LeBom) || head.starts_with(kUtf16BeBom)) {
      check = {TextEncoding::kUtf16, true, "auto: "};
    } else {
      FileDecoding utf8 = DecodeFile(fd, name, TextEncoding::kUtf8);
      if (utf8.status.ok()) {
        return EncodingCheck{TextEncoding::kUtf8, false, "auto: the whole file is valid UTF-8"};
      }
      if (!absl::IsFailedPrecondition(utf8.status) || utf8.error_in_any_encoding) {
        return utf8.status;
      }
      check = {TextEncoding::kWindows1252, false,
               fmt::format("auto: not valid UTF-8 (first at line {}, column {}), read as "
                           "windows-1252",
                           utf8.line, utf8.column)};
    }
  }
  FileDecoding decoded = DecodeFile(fd, name, check.encoding);
  if (!decoded.status.ok()) {
    if (declared == TextEncoding::kAuto && check.encoding == TextEncoding::kWindows1252 &&
        absl::IsFailedPrecondition(decoded.status)) {
      return absl::FailedPreconditionError(
          fmt::format("{} ({})", std::string(decoded.status.message()), check.reason));
    }
    return decoded.status;
  }
  check.bom = decoded.bom;
  if (check.encoding == TextEncoding::kUtf16) {
    if (declared != TextEncoding::kAuto) check.reason += ", ";
    check.reason += fmt::format("UTF-16 {} byte-order mark", decoded.byte_order);
  }
  return check;
}

}  // namespace koppel

#include "core/audit_log.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/file_contents.h"
#include "core/hex.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

using Json = nlohmann::json;
using Hash = std::array<uint8_t, crypto_hash_sha256_BYTES>;

constexpr std::string_view kHashDomain = "koppel/v1/audit\n";
// Followed by a NUL byte and the 32 raw bytes of the entry's hash.
constexpr std::string_view kSignatureDomain = "koppel/v1/audit-entry";
constexpr std::string_view kOpenEvent = "open";
const std::string kZeroHash(2 * crypto_hash_sha256_BYTES, '0');
// Bounds that keep reading a crafted line cheap and non-recursive beyond a few levels. An entry
// holds names, counts and short reasons: far below both.
constexpr size_t kMaxLineBytes = 1 << 20;
constexpr int kMaxDepth = 16;  // levels of objects and arrays; the line is 1, its details 2

constexpr std::array<std::string_view, 10> kLineKeys = {
    "seq", "time", "service", "event", "actor", "covenant", "details", "prev", "hash", "signature"};

std::string NowUtc() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

bool IsLowerHex(std::string_view text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The canonical form of docs/audit.md ("The hashed bytes"). For the values Append and
// ParseLine admit (no floats, valid UTF-8) it is exactly what dump() writes with its defaults;
// a test pins it against hand-written bytes. Throws nlohmann::json::type_error for a string
// that is not UTF-8.
std::string CanonicalJson(const AuditEntry& e) {
  Json object = Json::object();
  object["seq"] = e.seq;
  object["time"] = e.time;
  object["service"] = e.service;
  object["event"] = e.event;
  object["actor"] = e.actor;
  object["covenant"] = e.covenant;
  object["details"] = e.details;
  object["prev"] = e.prev;
  return object.dump();
}

Hash EntryHash(const AuditEntry& e, const std::string& canonical) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  auto update = [&state](std::string_view part) {
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
  };
  update(kHashDomain);
  update(e.prev);
  update("\n");
  update(canonical);
  Hash hash;
  crypto_hash_sha256_final(&state, hash.data());
  return hash;
}

std::string SignedMessage(const Hash& hash) {
  std::string message(kSignatureDomain);
  message.push_back('\0');
  message.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return message;
}

// The entry's hash recomputed from its content, as hex; empty when it cannot be serialised.
std::string RecomputedHashHex(const AuditEntry& e) {
  try {
    return ToHex(EntryHash(e, CanonicalJson(e)));
  } catch (const Json::exception&) {
    return "";
  }
}

bool SignatureValid(const AuditEntry& e, std::span<const uint8_t> public_key) {
  absl::StatusOr<std::vector<uint8_t>> hash = FromHex(e.hash);
  absl::StatusOr<std::vector<uint8_t>> signature = FromHex(e.signature);
  if (!hash.ok() || !signature.ok() || hash->size() != crypto_hash_sha256_BYTES ||
      signature->size() != crypto_sign_BYTES || public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return false;
  }
  Hash raw;
  std::copy(hash->begin(), hash->end(), raw.begin());
  const std::string message = SignedMessage(raw);
  return crypto_sign_verify_detached(signature->data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), public_key.data()) == 0;
}

// One line as written, keys in the order of the header comment, without the newline.
std::string FormatLine(const AuditEntry& e) {
  return fmt::format(
      R"({{"seq":{},"time":{},"service":{},"event":{},"actor":{},"covenant":{},"details":{},)"
      R"("prev":"{}","hash":"{}","signature":"{}"}})",
      e.seq, Json(e.time).dump(), Json(e.service).dump(), Json(e.event).dump(),
      Json(e.actor).dump(), Json(e.covenant).dump(), e.details.dump(), e.prev, e.hash, e.signature);
}

// Thrown by the parser callback to stop at the first key repeated or nesting too deep.
struct LineRefused {
  std::string problem;
};

// Checks what the parser cannot: only whole numbers (a fraction or exponent has no single
// canonical spelling) and at most kMaxDepth levels of objects and arrays, `value` being at
// level `depth` + 1. Recursion is bounded by the depth.
absl::Status CheckValue(const Json& value, int depth, std::string_view what) {
  if (value.is_number_float()) {
    return absl::InvalidArgumentError(
        fmt::format("{} hold a number that is not a whole number between -2^63 and 2^64-1", what));
  }
  if (!value.is_structured()) return absl::OkStatus();
  if (depth >= kMaxDepth) {
    return absl::InvalidArgumentError(
        fmt::format("{} nest deeper than {} levels", what, kMaxDepth));
  }
  for (const Json& item : value) RETURN_IF_ERROR(CheckValue(item, depth + 1, what));
  return absl::OkStatus();
}

// Parses one line without trusting it: any JSON exception, a line over kMaxLineBytes, nesting
// deeper than kMaxDepth, a repeated key or a number that is not a whole number in 64 bits is
// an error naming `where`, never a crash.
absl::StatusOr<Json> ParseJsonLine(std::string_view text, const std::string& where) {
  if (text.size() > kMaxLineBytes) {
    return absl::InvalidArgumentError(
        fmt::format("{}: not an audit entry: the line is {} bytes, an entry is at most {}", where,
                    text.size(), kMaxLineBytes));
  }
  std::vector<std::vector<std::string>> keys;  // per open object, the keys seen so far
  auto callback = [&keys](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxDepth) {
          throw LineRefused{fmt::format("it nests deeper than {} levels", kMaxDepth)};
        }
        if (event == Json::parse_event_t::object_start) keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!keys.empty()) {
          if (std::find(keys.back().begin(), keys.back().end(), key) != keys.back().end()) {
            throw LineRefused{fmt::format("key \"{}\" appears twice in one object",
                                          key.size() <= 64 ? key : key.substr(0, 64) + "...")};
          }
          keys.back().push_back(key);
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end(), callback);
  } catch (const LineRefused& refused) {
    return absl::InvalidArgumentError(
        fmt::format("{}: not an audit entry: {}", where, refused.problem));
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        fmt::format("{}: not a JSON audit entry (invalid JSON at byte {})", where, e.byte));
  } catch (const Json::exception& e) {
    // e.g. out_of_range for a number too large for a double (1e999)
    return absl::InvalidArgumentError(
        fmt::format("{}: not a JSON audit entry (JSON error {})", where, e.id));
  }
  if (absl::Status s = CheckValue(j, 0, "its values"); !s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: not an audit entry: {}", where, std::string(s.message())));
  }
  return j;
}

absl::StatusOr<AuditEntry> ParseLine(std::string_view text, const std::string& where, size_t line) {
  ASSIGN_OR_RETURN(Json j, ParseJsonLine(text, where));
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: not a JSON audit entry (not an object)", where));
  }
  for (const auto& item : j.items()) {
    if (std::find(kLineKeys.begin(), kLineKeys.end(), item.key()) == kLineKeys.end()) {
      return absl::InvalidArgumentError(
          fmt::format("{}: unexpected key \"{}\" in an audit entry", where, item.key()));
    }
  }
  for (std::string_view key : kLineKeys) {
    if (!j.contains(key)) {
      return absl::InvalidArgumentError(
          fmt::format("{}: the audit entry has no \"{}\"", where, key));
    }
  }
  AuditEntry e;
  e.line = line;
  const Json& seq = j.at("seq");
  if (!seq.is_number_unsigned() || seq.get<uint64_t>() == 0) {
    return absl::InvalidArgumentError(
        fmt::format("{}: \"seq\" must be a whole number from 1", where));
  }
  e.seq = seq.get<uint64_t>();
  std::pair<const char*, std::string*> strings[] = {
      {"time", &e.time},   {"service", &e.service},    {"event", &e.event},
      {"actor", &e.actor}, {"covenant", &e.covenant},  {"prev", &e.prev},
      {"hash", &e.hash},   {"signature", &e.signature}};
  for (auto& [key, field] : strings) {
    const Json& value = j.at(key);
    if (!value.is_string()) {
      return absl::InvalidArgumentError(fmt::format("{}: \"{}\" must be a string", where, key));
    }
    *field = value.get<std::string>();
  }
  if (!j.at("details").is_object()) {
    return absl::InvalidArgumentError(fmt::format("{}: \"details\" must be a JSON object", where));
  }
  e.details = j.at("details");
  if (!IsLowerHex(e.prev, 64) || !IsLowerHex(e.hash, 64)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: \"prev\" and \"hash\" must be 64 lower-case hex characters", where));
  }
  if (!IsLowerHex(e.signature, 2 * crypto_sign_BYTES)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: \"signature\" must be 128 lower-case hex characters", where));
  }
  return e;
}

struct LogText {
  std::vector<AuditEntry> entries;
  size_t complete_bytes = 0;  // up to and including the last newline
  std::string torn_tail;      // what follows the last newline
};

absl::StatusOr<LogText> ParseLogText(std::string_view text, const std::filesystem::path& path) {
  LogText log;
  size_t start = 0;
  size_t line = 0;
  while (true) {
    const size_t newline = text.find('\n', start);
    if (newline == std::string_view::npos) break;
    ++line;
    const std::string where = fmt::format("{}:{}", path.string(), line);
    std::string_view content = text.substr(start, newline - start);
    if (content.find_first_not_of(" \t\r") == std::string_view::npos) {
      return absl::InvalidArgumentError(
          fmt::format("{}: empty line (an audit log holds one entry per line)", where));
    }
    ASSIGN_OR_RETURN(AuditEntry entry, ParseLine(content, where, line));
    log.entries.push_back(std::move(entry));
    start = newline + 1;
  }
  log.complete_bytes = start;
  log.torn_tail = std::string(text.substr(start));
  return log;
}

absl::StatusOr<std::string> ReadAll(FileSystem& fs, const std::filesystem::path& path) {
  absl::StatusOr<std::unique_ptr<SequentialFile>> file = fs.NewSequentialFile(path);
  absl::StatusOr<std::string> text = file.ok() ? ReadToEnd(**file) : file.status();
  if (!text.ok()) {
    return absl::DataLossError(fmt::format("cannot read audit log {}: {}", path.string(),
                                           std::string(text.status().message())));
  }
  return text;
}

std::string SignerNamedBy(const std::vector<AuditEntry>& entries) {
  for (const AuditEntry& e : entries) {
    if (e.event != kOpenEvent) continue;
    auto it = e.details.find("signer_public_key");
    if (it != e.details.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

absl::Status CheckOrder(const std::vector<AuditEntry>& entries, size_t i,
                        const std::string& prev_hash) {
  const AuditEntry& e = entries[i];
  const uint64_t previous_seq = i == 0 ? 0 : entries[i - 1].seq;
  const uint64_t want = previous_seq + 1;
  const std::string where = fmt::format("line {}: entry seq {}", e.line, e.seq);
  if (e.seq > want) {
    for (size_t j = i + 1; j < entries.size(); ++j) {
      if (entries[j].seq == want) {
        return absl::DataLossError(fmt::format(
            "{} stands where seq {} belongs, and seq {} is at line {}: entries were reordered",
            where, want, want, entries[j].line));
      }
    }
    const std::string missing =
        e.seq - want == 1 ? fmt::format("entry seq {} is missing", want)
                          : fmt::format("entries seq {} to {} are missing", want, e.seq - 1);
    if (i == 0) {
      return absl::DataLossError(fmt::format(
          "{} is the first entry, but a log starts at seq 1: {} (the start of the log was "
          "deleted)",
          where, missing));
    }
    return absl::DataLossError(fmt::format("{} follows seq {} (line {}): {} (deleted)", where,
                                           previous_seq, entries[i - 1].line, missing));
  }
  if (e.seq < want) {
    for (size_t j = 0; j < i; ++j) {
      if (entries[j].seq != e.seq) continue;
      if (entries[j].hash == e.hash) {
        return absl::DataLossError(fmt::format(
            "{} repeats line {}: a copy of an entry was inserted", where, entries[j].line));
      }
      return absl::DataLossError(fmt::format(
          "{} appears a second time (first at line {}) with other content: an entry was "
          "inserted",
          where, entries[j].line));
    }
    return absl::DataLossError(
        fmt::format("{} comes after seq {}: entries were reordered", where, previous_seq));
  }
  if (e.prev != prev_hash) {
    if (i == 0) {
      return absl::DataLossError(fmt::format(
          "{} does not start a chain (its prev is not 64 zeros): the start of the log was "
          "replaced",
          where));
    }
    return absl::DataLossError(fmt::format(
        "{} does not chain to line {} (seq {}): its prev is not that entry's hash, so an entry "
        "before it was replaced",
        where, entries[i - 1].line, entries[i - 1].seq));
  }
  return absl::OkStatus();
}

absl::Status CheckOpenEntry(const AuditEntry& e, const std::string& signer_hex) {
  const std::string where = fmt::format("line {}: entry seq {}", e.line, e.seq);
  if (e.seq == 1 && e.event != kOpenEvent) {
    return absl::DataLossError(fmt::format(
        "{} is a \"{}\" entry, but every log starts with its \"open\" entry: the start of the "
        "log was replaced",
        where, e.event));
  }
  if (e.event != kOpenEvent) return absl::OkStatus();
  auto it = e.details.find("signer_public_key");
  if (it == e.details.end() || !it->is_string() || it->get<std::string>() != signer_hex) {
    return absl::DataLossError(
        fmt::format("{} is an \"open\" entry that does not name its signer {} as signer_public_key",
                    where, signer_hex));
  }
  return absl::OkStatus();
}

}  // namespace

AuditLog::AuditLog(std::filesystem::path path, std::unique_ptr<WritableFile> file,
                   std::unique_ptr<FileLock> lock, Secret signing_key, std::string service)
    : path_(std::move(path)),
      file_(std::move(file)),
      lock_(std::move(lock)),
      signing_key_(std::move(signing_key)),
      service_(std::move(service)),
      last_hash_(kZeroHash) {}

AuditLog::~AuditLog() = default;

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::filesystem::path& path,
                                                         const Secret& signing_key,
                                                         std::string service, FileSystem& fs) {
  RETURN_IF_ERROR(EnsureSodium());
  if (signing_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError(fmt::format(
        "the audit log's signing key must be a {}-byte Ed25519 secret key, not {} bytes",
        crypto_sign_SECRETKEYBYTES, signing_key.size()));
  }
  if (service.empty()) {
    return absl::InvalidArgumentError("an audit log needs the name of the service writing it");
  }
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> public_key;
  crypto_sign_ed25519_sk_to_pk(public_key.data(), signing_key.data());
  ASSIGN_OR_RETURN(Secret key, Secret::FromBytes(signing_key.span()));

  const bool existed = fs.FileExists(path).value_or(false);
  absl::StatusOr<std::unique_ptr<WritableFile>> file = fs.NewWritableFile(
      path, {.mode = OpenMode::kAppend, .permissions = 0600, .regular_file_only = true});
  if (absl::IsFailedPrecondition(file.status())) {
    return absl::FailedPreconditionError(
        fmt::format("audit log {}; give the service the path of a regular file for its log",
                    std::string(file.status().message())));
  }
  if (!file.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("cannot open audit log {} ({}); check that its directory exists and this "
                    "service may write there",
                    path.string(), std::string(file.status().message())));
  }
  absl::StatusOr<std::unique_ptr<FileLock>> file_lock = fs.LockFile(path);
  if (absl::IsUnavailable(file_lock.status())) {
    return absl::FailedPreconditionError(fmt::format(
        "audit log {} is already open ({}); only one service may append to a log: check that no "
        "other instance of this service runs with the same log",
        path.string(), std::string(file_lock.status().message())));
  }
  if (!file_lock.ok()) return file_lock.status();
  absl::StatusOr<std::string> text = ReadAll(fs, path);
  if (!text.ok()) return text.status();
  absl::StatusOr<LogText> log = ParseLogText(*text, path);
  auto refuse = [&path](const absl::Status& problem) {
    return absl::DataLossError(fmt::format(
        "audit log {} is broken: {}; refusing to extend it. Keep the file as evidence for the "
        "privacy officers (koppel audit verify) and start the service with a new log file",
        path.string(), std::string(problem.message())));
  };
  if (!log.ok()) return refuse(log.status());
  const std::span<const uint8_t> public_span(public_key.data(), public_key.size());
  const std::string public_view(reinterpret_cast<const char*>(public_key.data()),
                                public_key.size());
  if (!log->entries.empty()) {
    absl::StatusOr<AuditVerification> verified =
        VerifyAuditLog(log->entries, public_view, std::nullopt);
    if (!verified.ok()) return refuse(verified.status());
  }

  Json open_details = {{"signer_public_key", ToHex(public_span)}};
  if (!log->torn_tail.empty()) {
    // Never acknowledged (Append returns only after the whole line is synced). Keep it if it
    // is a complete, authentic next entry; otherwise cut it away.
    bool complete = false;
    absl::StatusOr<AuditEntry> tail =
        ParseLine(log->torn_tail, path.string(), log->entries.size() + 1);
    if (tail.ok()) {
      std::vector<AuditEntry> extended = log->entries;
      extended.push_back(*tail);
      complete = VerifyAuditLog(extended, public_view, std::nullopt).ok();
      if (complete) log->entries = std::move(extended);
    }
    absl::Status repaired =
        complete ? (*file)->Append("\n") : (*file)->Truncate(log->complete_bytes);
    if (repaired.ok()) repaired = (*file)->SyncData();
    if (!repaired.ok()) {
      return absl::DataLossError(fmt::format(
          "audit log {} ends in an incomplete line (a write cut off by a crash) that cannot be "
          "{}: {}",
          path.string(), complete ? "completed" : "cut away", std::string(repaired.message())));
    }
    if (complete) {
      open_details["torn_line"] = "completed";
    } else {
      open_details["torn_line_bytes_discarded"] = log->torn_tail.size();
    }
  }
  if (!existed) {
    if (absl::Status synced = fs.SyncDirectory(path.parent_path()); !synced.ok()) {
      return absl::Status(synced.code(), fmt::format("the new audit log is not durable: {}",
                                                     std::string(synced.message())));
    }
  }

  std::unique_ptr<AuditLog> audit(new AuditLog(path, std::move(*file), std::move(*file_lock),
                                               std::move(key), std::move(service)));
  if (!log->entries.empty()) {
    absl::MutexLock chain(&audit->mutex_);
    audit->last_seq_ = log->entries.back().seq;
    audit->last_hash_ = log->entries.back().hash;
  }
  RETURN_IF_ERROR(audit->Append(kOpenEvent, audit->service_, "", open_details));
  return audit;
}

absl::Status AuditLog::Append(std::string_view event, std::string_view actor,
                              std::string_view covenant, const nlohmann::json& details,
                              uint64_t* seq) {
  if (event.empty() || !std::all_of(event.begin(), event.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    return absl::InvalidArgumentError(fmt::format(
        "audit event name \"{}\" must be non-empty lower-case letters, digits and _", event));
  }
  if (!details.is_object() && !details.is_null()) {
    return absl::InvalidArgumentError(fmt::format(
        "the details of audit event {} must be a JSON object, not {}", event, details.type_name()));
  }
  if (absl::Status s = CheckValue(details, 1, "the details"); !s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("audit event {} cannot be written: {}", event, std::string(s.message())));
  }
  absl::MutexLock lock(&mutex_);
  if (broken_) {
    return absl::FailedPreconditionError(fmt::format(
        "audit log {} refuses appends after an earlier write failed; restart the service",
        path_.string()));
  }
  AuditEntry e;
  e.seq = last_seq_ + 1;
  e.time = NowUtc();
  e.service = service_;
  e.event = std::string(event);
  e.actor = std::string(actor);
  e.covenant = std::string(covenant);
  e.details = details.is_null() ? Json::object() : details;
  e.prev = last_hash_;
  std::string line;
  Hash hash;
  try {
    hash = EntryHash(e, CanonicalJson(e));
    e.hash = ToHex(hash);
    std::array<uint8_t, crypto_sign_BYTES> signature;
    const std::string message = SignedMessage(hash);
    crypto_sign_detached(signature.data(), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         signing_key_.data());
    e.signature = ToHex(signature);
    line = FormatLine(e);
    if (line.size() > kMaxLineBytes) {
      return absl::InvalidArgumentError(
          fmt::format("audit event {} would be a line of {} bytes; an entry is at most {}", event,
                      line.size(), kMaxLineBytes));
    }
    line.push_back('\n');
  } catch (const Json::exception& ex) {
    return absl::InvalidArgumentError(
        fmt::format("audit event {} cannot be written as JSON ({}); every string must be UTF-8",
                    event, ex.what()));
  }

  absl::StatusOr<uint64_t> size = file_->Size();
  if (!size.ok()) {
    return absl::InternalError(fmt::format("cannot stat audit log {}: {}", path_.string(),
                                           std::string(size.status().message())));
  }
  if (absl::Status written = file_->Append(line); !written.ok()) {
    // Whatever the disk did, the service must stop: the next event cannot be recorded safely.
    // Cutting off a partly written line keeps the file a valid log; if even that fails, the
    // next Open drops the torn line.
    broken_ = true;
    file_->Truncate(*size).IgnoreError();
    return absl::UnavailableError(
        fmt::format("cannot write to audit log {}: {}; event {} was not recorded", path_.string(),
                    std::string(written.message()), event));
  }
  if (absl::Status synced = file_->SyncData(); !synced.ok()) {
    broken_ = true;  // after a failed sync the kernel may have dropped the pages
    return absl::DataLossError(
        fmt::format("cannot sync audit log {}: {}; event {} may not be recorded", path_.string(),
                    std::string(synced.message()), event));
  }
  last_seq_ = e.seq;
  last_hash_ = e.hash;
  if (seq != nullptr) *seq = e.seq;
  return absl::OkStatus();
}

uint64_t AuditLog::last_seq() const {
  absl::MutexLock lock(&mutex_);
  return last_seq_;
}

std::string AuditLog::last_hash() const {
  absl::MutexLock lock(&mutex_);
  return last_hash_;
}

absl::StatusOr<std::vector<AuditEntry>> ReadAuditLog(const std::filesystem::path& path,
                                                     size_t* torn_bytes) {
  // Only a regular file: a FIFO is refused, not waited on.
  ASSIGN_OR_RETURN(std::string text, ReadFileContents(path, "audit log"));
  ASSIGN_OR_RETURN(LogText log, ParseLogText(text, path));
  if (!log.torn_tail.empty()) {
    if (torn_bytes == nullptr) {
      return absl::InvalidArgumentError(fmt::format(
          "{}:{}: the last line is incomplete (no newline): a write cut off by a crash, never "
          "acknowledged; the service drops it when it next opens the log",
          path.string(), log.entries.size() + 1));
    }
    *torn_bytes = log.torn_tail.size();
  } else if (torn_bytes != nullptr) {
    *torn_bytes = 0;
  }
  return std::move(log.entries);
}

absl::StatusOr<AuditVerification> VerifyAuditLog(const std::vector<AuditEntry>& entries,
                                                 std::string_view signer_public_key,
                                                 const std::optional<AuditAnchor>& anchor) {
  RETURN_IF_ERROR(EnsureSodium());
  if (entries.empty()) {
    return absl::DataLossError(
        "the log has no entries: every audit log starts with its \"open\" entry, so this one "
        "was emptied or is not an audit log");
  }
  if (signer_public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError(
        fmt::format("the expected signer's public key must be {} bytes (Ed25519), not {}",
                    crypto_sign_PUBLICKEYBYTES, signer_public_key.size()));
  }
  const std::span<const uint8_t> expected(
      reinterpret_cast<const uint8_t*>(signer_public_key.data()), signer_public_key.size());
  const std::string expected_hex = ToHex(expected);
  const std::string named_hex = SignerNamedBy(entries);
  std::vector<uint8_t> named_key;
  if (named_hex != expected_hex) {
    absl::StatusOr<std::vector<uint8_t>> key = FromHex(named_hex);
    if (key.ok() && key->size() == crypto_sign_PUBLICKEYBYTES) named_key = std::move(*key);
  }

  std::string prev_hash = kZeroHash;
  for (size_t i = 0; i < entries.size(); ++i) {
    const AuditEntry& e = entries[i];
    const std::string where = fmt::format("line {}: entry seq {}", e.line, e.seq);
    if (RecomputedHashHex(e) != e.hash) {
      return absl::DataLossError(fmt::format(
          "{} was changed after it was written: its hash does not recompute from its content",
          where));
    }
    if (!SignatureValid(e, expected)) {
      if (!named_key.empty() && SignatureValid(e, named_key)) {
        return absl::DataLossError(fmt::format(
            "{} is signed by {}, the key the log names, not by the expected signer {}: the log "
            "was re-signed with another key or is another service's log",
            where, named_hex, expected_hex));
      }
      return absl::DataLossError(fmt::format(
          "{} has no valid signature by the expected signer {}: the entry was forged or "
          "inserted",
          where, expected_hex));
    }
    RETURN_IF_ERROR(CheckOrder(entries, i, prev_hash));
    RETURN_IF_ERROR(CheckOpenEntry(e, expected_hex));
    prev_hash = e.hash;
  }

  const AuditEntry& last = entries.back();
  if (anchor.has_value()) {
    if (anchor->seq > last.seq) {
      return absl::DataLossError(fmt::format(
          "line {}: entry seq {} is the last, but the anchor names seq {}: {} cut off the end "
          "of the log",
          last.line, last.seq, anchor->seq,
          anchor->seq - last.seq == 1
              ? fmt::format("entry seq {} was", anchor->seq)
              : fmt::format("entries seq {} to {} were", last.seq + 1, anchor->seq)));
    }
    const AuditEntry& anchored = entries[anchor->seq - 1];
    if (anchored.hash != anchor->hash) {
      return absl::DataLossError(fmt::format(
          "line {}: entry seq {} does not carry the anchor's hash {}: the log was rewritten "
          "from there (entries cut off and others appended, or everything re-signed)",
          anchored.line, anchored.seq, anchor->hash));
    }
  }
  AuditVerification result;
  result.entries = entries.size();
  result.head_hash = last.hash;
  result.signer_public_key = expected_hex;
  return result;
}

absl::StatusOr<AuditAnchor> ParseAuditAnchor(std::string_view text) {
  const size_t colon = text.find(':');
  AuditAnchor anchor;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(std::string(text.substr(0, colon)), &anchor.seq) || anchor.seq == 0 ||
      text.substr(0, colon).find_first_not_of("0123456789") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        fmt::format("anchor \"{}\" must be SEQ:HASH, a sequence number from 1, a colon and 64 hex "
                    "characters, as printed by koppel audit verify",
                    text));
  }
  anchor.hash = std::string(text.substr(colon + 1));
  std::transform(anchor.hash.begin(), anchor.hash.end(), anchor.hash.begin(), [](char c) {
    return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (!IsLowerHex(anchor.hash, 64)) {
    return absl::InvalidArgumentError(fmt::format(
        "anchor \"{}\": the part after the colon must be 64 hex characters (a SHA-256)", text));
  }
  return anchor;
}

}  // namespace koppel

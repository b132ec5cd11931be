// The tamper-evident audit log (ARCHITECTURE section 7). Every key issue, delivery, query,
// release, covenant load and deletion is appended as one JSON line that carries the SHA-256 of
// the previous entry, its own sequence number and hash, and an Ed25519 signature of that hash
// by the service: every entry is a signed checkpoint of the chain up to it. Any change,
// deletion, insertion or reordering breaks the chain or a signature; cutting entries off the
// end is caught against an anchor (a sequence number and hash noted from an earlier report).
//
// One line:
//   {"seq":7,"time":"2026-11-23T10:00:00Z","service":"linker","event":"delivery",
//    "actor":"agent-brp","covenant":"almelo-mpg","details":{...},
//    "prev":"<hex sha256>","hash":"<hex sha256>","signature":"<hex ed25519>"}
// hash = SHA-256("koppel/v1/audit\n" || prev || "\n" || canonical JSON of the entry without
// hash and signature): the object {seq,time,service,event,actor,covenant,details,prev} with
// keys sorted by their bytes at every level, no whitespace, whole numbers only, strings as
// UTF-8 with only " \\ and the control characters escaped; docs/audit.md specifies it to the
// byte. Lines are read without trusting them: at most 1 MiB, 16 levels, no repeated keys.
// signature = Ed25519 over "koppel/v1/audit-entry" NUL || the 32 raw bytes of hash.
// Entry 1 of every log is an "open" entry whose details name the signer's public key
// {"signer_public_key": hex}; every later Open appends another "open" entry (a service start).
// Entries never hold an identifier, a token or key material. docs/audit.md has the details.
#ifndef KOPPEL_CORE_AUDIT_LOG_H_
#define KOPPEL_CORE_AUDIT_LOG_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/file.h"
#include "core/secret.h"

namespace koppel {

struct AuditEntry {
  uint64_t seq = 0;        // from 1
  std::string time;        // UTC, ISO 8601, seconds
  std::string service;     // "linker", "vault"
  std::string event;       // e.g. covenant_load, key_issue, delivery, query, release, deletion
  std::string actor;       // the party (certificate identity) or officer behind the event
  std::string covenant;    // covenant id, or empty
  nlohmann::json details;  // an object; counts, names, versions, outcomes
  std::string prev;        // hex; 64 zeros for the first entry
  std::string hash;        // hex
  std::string signature;   // hex
  size_t line = 0;         // where it was read from (1-based), for messages
};

// Appends entries to one log file. Thread-safe; every Append is durable (fsync) before it
// returns, so an event the service acknowledged is in the log.
class AuditLog {
 public:
  // Opens or creates the log at `path` (mode 0600) and appends an "open" entry. An existing log
  // is verified with `signing_key`'s public key before appending continues from its last
  // entry; a broken log is refused (DATA_LOSS naming the line) rather than extended. A last
  // line without its newline is a write cut off by a crash, never acknowledged: when it is a
  // complete, correctly signed next entry its newline is restored, otherwise it is cut away;
  // either way the new "open" entry records it (torn_line: "completed" or
  // torn_line_bytes_discarded: N). A log already open, here or in another process, is refused
  // (flock).
  // `signing_key` is a 64-byte Ed25519 secret key; `service` names this service in every entry.
  // All file I/O goes through `fs`.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::filesystem::path& path,
                                                        const Secret& signing_key,
                                                        std::string service,
                                                        FileSystem& fs = *FileSystem::Default());
  ~AuditLog();

  // Appends one entry and syncs it to disk before returning; its sequence number goes to
  // `seq` when given. `event` is lower-case letters, digits and _; `details` must be a JSON
  // object (null counts as {}) of valid UTF-8 strings, whole numbers, booleans, arrays and
  // objects, at most 16 levels deep, and the line at most 1 MiB. After a failed write or sync
  // the log refuses further appends: the service should stop rather than act without a record.
  // A failed write is cut off again where it can be; Open drops what remains of it.
  absl::Status Append(std::string_view event, std::string_view actor, std::string_view covenant,
                      const nlohmann::json& details, uint64_t* seq = nullptr)
      ABSL_LOCKS_EXCLUDED(mutex_);

  uint64_t last_seq() const ABSL_LOCKS_EXCLUDED(mutex_);
  std::string last_hash() const ABSL_LOCKS_EXCLUDED(mutex_);
  const std::filesystem::path& path() const { return path_; }

 private:
  AuditLog(std::filesystem::path path, std::unique_ptr<WritableFile> file,
           std::unique_ptr<FileLock> lock, Secret signing_key, std::string service);

  std::filesystem::path path_;
  std::unique_ptr<WritableFile> file_ ABSL_GUARDED_BY(mutex_);
  std::unique_ptr<FileLock> lock_;  // held while the log is open
  Secret signing_key_;
  std::string service_;
  mutable absl::Mutex mutex_;
  uint64_t last_seq_ ABSL_GUARDED_BY(mutex_) = 0;
  std::string last_hash_ ABSL_GUARDED_BY(mutex_);
  // A write or sync failed: the file's end is uncertain.
  bool broken_ ABSL_GUARDED_BY(mutex_) = false;
};

// Reads every entry of a log; INVALID_ARGUMENT "<path>:<line>: <problem>" for a line that is
// not a well-formed entry. A last line without its newline (a write a crash cut off) is an
// error too, unless `torn_bytes` is given: then it is skipped and its length stored there.
absl::StatusOr<std::vector<AuditEntry>> ReadAuditLog(const std::filesystem::path& path,
                                                     size_t* torn_bytes = nullptr);

struct AuditAnchor {
  uint64_t seq = 0;
  std::string hash;  // hex
};

struct AuditVerification {
  uint64_t entries = 0;
  std::string head_hash;          // of the last entry
  std::string signer_public_key;  // hex, as found in the log's entries
};

// Checks the chain: sequence numbers 1, 2, 3, ...; each prev is the hash before it; each hash
// recomputes; each signature verifies under `signer_public_key` (32 bytes raw); entry 1 is the
// "open" entry naming that key. When `anchor` is given, the entry with its seq must exist and
// carry its hash. DATA_LOSS "line N: entry seq S ..." naming the first broken line and what is
// wrong (changed, missing, inserted, reordered, cut off, bad signature, another signer, empty
// log); INVALID_ARGUMENT for a key that is not 32 bytes. Without an anchor, entries cut off
// the end cannot be noticed: what remains is a valid log.
absl::StatusOr<AuditVerification> VerifyAuditLog(const std::vector<AuditEntry>& entries,
                                                 std::string_view signer_public_key,
                                                 const std::optional<AuditAnchor>& anchor);

// An anchor "SEQ:HASH" as printed by `koppel audit verify` (hash: 64 hex, any case).
absl::StatusOr<AuditAnchor> ParseAuditAnchor(std::string_view text);

}  // namespace koppel

#endif  // KOPPEL_CORE_AUDIT_LOG_H_

// What a service remembers about the covenants it has served, across restarts: the newest
// version it loaded of each covenant id, so that an older file cannot roll a covenant back, and
// whether the covenant has ended, so that an ended covenant cannot return. One JSON file,
// rewritten atomically on every change.
#ifndef KOPPEL_POLICIES_COVENANT_LEDGER_H_
#define KOPPEL_POLICIES_COVENANT_LEDGER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace koppel {

class CovenantLedger {
 public:
  struct Entry {
    uint32_t version = 0;
    std::string sha256;
    std::string ended_at;    // UTC ISO 8601; empty while the covenant lives
    std::string end_reason;
  };

  static absl::StatusOr<std::unique_ptr<CovenantLedger>> Open(const std::filesystem::path& path);

  std::optional<Entry> Find(const std::string& id) const;

  // Records that version `version` (file hash `sha256`) of covenant `id` is served, unless the
  // covenant has ended, a newer version was served before, or the same version was served with
  // other bytes: FAILED_PRECONDITION saying which and what to do.
  absl::Status Admit(const std::string& id, uint32_t version, const std::string& sha256);

  // The ids of every covenant that has ended.
  std::vector<std::string> Ended() const;

  // Records, durably, that covenant `id` has ended; it is refused from then on.
  absl::Status MarkEnded(const std::string& id, absl::Time at, const std::string& reason);

 private:
  CovenantLedger(std::filesystem::path path, std::map<std::string, Entry> entries)
      : path_(std::move(path)), entries_(std::move(entries)) {}
  absl::Status Save() const;  // caller holds mutex_

  std::filesystem::path path_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace koppel

#endif  // KOPPEL_POLICIES_COVENANT_LEDGER_H_

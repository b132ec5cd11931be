#include "policies/covenant_ledger.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/refusal.h"

namespace koppel::policy {

absl::StatusOr<std::unique_ptr<CovenantLedger>> CovenantLedger::Open(
    const std::filesystem::path& path, bool first_start) {
  std::map<std::string, Entry> entries;
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot look for the covenant ledger {}: {}", path.string(), ec.message()));
  }
  if (!exists && !first_start) {
    return absl::DataLossError(fmt::format(
        "the covenant ledger {} is missing, but this service has run before (its audit log "
        "exists); restore the ledger from a backup: without it ended covenants could be served "
        "again",
        path.string()));
  }
  std::ifstream in(path);
  if (exists && !in) {
    return absl::PermissionDeniedError(
        fmt::format("cannot read the covenant ledger {}", path.string()));
  }
  if (exists) {
    std::ostringstream text;
    text << in.rdbuf();
    try {
      const nlohmann::json doc = nlohmann::json::parse(text.str());
      for (const auto& [id, e] : doc.at("covenants").items()) {
        Entry entry;
        entry.version = e.at("version").get<uint32_t>();
        entry.sha256 = e.at("sha256").get<std::string>();
        entry.ended_at = e.value("ended_at", "");
        entry.end_reason = e.value("end_reason", "");
        entry.officers = e.value("officers", std::vector<std::string>{});
        entry.deleted = e.value("deleted", false);
        entry.end_event = e.value("end_event", "");
        entry.ended_by = e.value("ended_by", "");
        entry.end_audit_seq = e.value("end_audit_seq", uint64_t{0});
        entries.emplace(id, std::move(entry));
      }
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(fmt::format(
          "{} is not a valid covenant ledger ({}); restore it from a backup: without it ended "
          "covenants could be served again",
          path.string(), e.what()));
    }
  }
  std::unique_ptr<CovenantLedger> ledger(new CovenantLedger(path, std::move(entries)));
  if (!exists) {  // written at once, so that the next start finds it whatever happens next
    absl::MutexLock lock(&ledger->mutex_);
    if (absl::Status s = ledger->Save(); !s.ok()) return s;
  }
  return ledger;
}

std::optional<CovenantLedger::Entry> CovenantLedger::Find(const std::string& id) const {
  absl::MutexLock lock(&mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

absl::Status CovenantLedger::Admit(const std::string& id, uint32_t version,
                                   const std::string& sha256,
                                   const std::vector<std::string>& officers) {
  absl::MutexLock lock(&mutex_);
  Entry& entry = entries_[id];
  if (!entry.ended_at.empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} ended at {} ({}); an ended covenant is not served again (write a new "
        "covenant with a new id)",
        id, entry.ended_at, entry.end_reason));
  }
  if (version < entry.version) {
    return WithCovenantRule(
        absl::FailedPreconditionError(fmt::format(
            "covenant {} version {} is superseded by version {}, served before (rule: a new "
            "version supersedes the old); remove the old file",
            id, version, entry.version)),
        "version", id, version);
  }
  if (version == entry.version && entry.sha256 != sha256) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} version {} differs from the version {} served before (sha256 {}); a "
        "changed covenant needs a new version number",
        id, version, version, entry.sha256));
  }
  if (version == entry.version) return absl::OkStatus();
  for (const std::string& pinned : entry.officers) {
    if (std::find(officers.begin(), officers.end(), pinned) == officers.end()) {
      return absl::FailedPreconditionError(fmt::format(
          "covenant {} version {} is not signed by every officer who signed version {} (key {} "
          "is missing); a new version needs the signatures of the officers of the old one, or a "
          "new covenant id",
          id, version, entry.version, pinned));
    }
  }
  entry.version = version;
  entry.sha256 = sha256;
  entry.officers = officers;
  return Save();
}

std::vector<std::string> CovenantLedger::PendingDeletion() const {
  absl::MutexLock lock(&mutex_);
  std::vector<std::string> pending;
  for (const auto& [id, entry] : entries_) {
    if (!entry.ended_at.empty() && !entry.deleted) pending.push_back(id);
  }
  return pending;
}

absl::Status CovenantLedger::MarkDeleted(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  Entry& entry = entries_[id];
  if (entry.deleted) return absl::OkStatus();
  entry.deleted = true;
  return Save();
}

absl::Status CovenantLedger::MarkEnded(const std::string& id, absl::Time at,
                                       const std::string& reason, const std::string& event,
                                       const std::string& actor) {
  absl::MutexLock lock(&mutex_);
  Entry& entry = entries_[id];
  if (!entry.ended_at.empty()) return absl::OkStatus();
  entry.ended_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone());
  entry.end_reason = reason;
  entry.end_event = event;
  entry.ended_by = actor;
  return Save();
}

absl::Status CovenantLedger::MarkEndRecorded(const std::string& id, uint64_t audit_seq) {
  absl::MutexLock lock(&mutex_);
  Entry& entry = entries_[id];
  if (entry.end_audit_seq == audit_seq) return absl::OkStatus();
  entry.end_audit_seq = audit_seq;
  return Save();
}

absl::Status CovenantLedger::Save() const {
  nlohmann::json doc;
  doc["format"] = "koppel covenant ledger 1";
  doc["covenants"] = nlohmann::json::object();
  for (const auto& [id, e] : entries_) {
    nlohmann::json entry = {{"version", e.version}, {"sha256", e.sha256}, {"officers", e.officers}};
    if (e.deleted) entry["deleted"] = true;
    if (!e.ended_at.empty()) {
      entry["ended_at"] = e.ended_at;
      entry["end_reason"] = e.end_reason;
      if (!e.end_event.empty()) entry["end_event"] = e.end_event;
      if (!e.ended_by.empty()) entry["ended_by"] = e.ended_by;
      if (e.end_audit_seq != 0) entry["end_audit_seq"] = e.end_audit_seq;
    }
    doc["covenants"][id] = entry;
  }
  return WriteFileAtomically(path_, doc.dump(2) + "\n");
}

}  // namespace koppel::policy

#include "policies/covenant_ledger.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"

namespace koppel {

absl::StatusOr<std::unique_ptr<CovenantLedger>> CovenantLedger::Open(
    const std::filesystem::path& path) {
  std::map<std::string, Entry> entries;
  std::ifstream in(path);
  if (in) {
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
        entries.emplace(id, std::move(entry));
      }
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(fmt::format(
          "{} is not a valid covenant ledger ({}); restore it from a backup: without it ended "
          "covenants could be served again",
          path.string(), e.what()));
    }
  }
  return std::unique_ptr<CovenantLedger>(new CovenantLedger(path, std::move(entries)));
}

std::optional<CovenantLedger::Entry> CovenantLedger::Find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

absl::Status CovenantLedger::Admit(const std::string& id, uint32_t version,
                                   const std::string& sha256) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_[id];
  if (!entry.ended_at.empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} ended at {} ({}); an ended covenant is not served again (write a new "
        "covenant with a new id)",
        id, entry.ended_at, entry.end_reason));
  }
  if (version < entry.version) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} version {} is superseded by version {}, served before (rule: a new version "
        "supersedes the old); remove the old file",
        id, version, entry.version));
  }
  if (version == entry.version && entry.sha256 != sha256) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} version {} differs from the version {} served before (sha256 {}); a "
        "changed covenant needs a new version number",
        id, version, version, entry.sha256));
  }
  if (version == entry.version) return absl::OkStatus();
  entry.version = version;
  entry.sha256 = sha256;
  return Save();
}

std::vector<std::string> CovenantLedger::Ended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> ended;
  for (const auto& [id, entry] : entries_) {
    if (!entry.ended_at.empty()) ended.push_back(id);
  }
  return ended;
}

absl::Status CovenantLedger::MarkEnded(const std::string& id, absl::Time at,
                                       const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_[id];
  if (!entry.ended_at.empty()) return absl::OkStatus();
  entry.ended_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone());
  entry.end_reason = reason;
  return Save();
}

absl::Status CovenantLedger::Save() const {
  nlohmann::json doc;
  doc["format"] = "koppel covenant ledger 1";
  doc["covenants"] = nlohmann::json::object();
  for (const auto& [id, e] : entries_) {
    nlohmann::json entry = {{"version", e.version}, {"sha256", e.sha256}};
    if (!e.ended_at.empty()) {
      entry["ended_at"] = e.ended_at;
      entry["end_reason"] = e.end_reason;
    }
    doc["covenants"][id] = entry;
  }
  return WriteFileAtomically(path_, doc.dump(2) + "\n");
}

}  // namespace koppel

#include "linker/linker_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "core/atomic_file.h"
#include "core/file.h"
#include "core/identifier_rules.h"
#include "core/log_safe.h"
#include "core/status_macros.h"
#include "linker/release_history.h"

namespace koppel::linker {
namespace {

constexpr std::string_view kFormatFile = "STORE_FORMAT";

std::string ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
  return bytes;
}

// The caller (a remote one, ending a covenant) learns what failed; the path goes to the log.
absl::Status SyncDirectory(const std::filesystem::path& dir, std::string_view what) {
  if (absl::Status synced = FileSystem::Default()->SyncDirectory(dir); !synced.ok()) {
    spdlog::error("store: {}: {}", what, std::string(synced.message()));
    return absl::InternalError(fmt::format(
        "the linker could not sync its store's directory ({}); details are in the linker's log; "
        "retry",
        what));
  }
  return absl::OkStatus();
}

// A data directory is either new, or in this layout, or holds the single database of earlier
// versions, which is refused: it cannot be read without every covenant's key, and converting
// it in place would leave two copies of the data.
absl::Status CheckFormat(const std::filesystem::path& dir, bool* fresh) {
  std::error_code ec;
  const std::filesystem::path format = dir / kFormatFile;
  *fresh = false;
  if (std::filesystem::exists(format, ec)) {
    const std::string held = ReadSmallFile(format);
    if (held == LinkerStore::kFormat) return absl::OkStatus();
    constexpr std::string_view kPrefix = "koppel-store ";
    int version = 0;
    if (held.starts_with(kPrefix) && absl::SimpleAtoi(held.substr(kPrefix.size()), &version) &&
        version > 2) {
      return absl::FailedPreconditionError(fmt::format(
          "{} says the store in {} was written by a newer linker (store format {}); this linker "
          "reads format 2 only and changes nothing there. Run the linker version that wrote it "
          "or a newer one (its release notes say whether it can go back)",
          format.string(), dir.string(), version));
    }
    return absl::FailedPreconditionError(fmt::format(
        "{} in {} holds '{}', which is no store format this linker knows (it reads '{}'); it "
        "changes nothing there. Is --data the linker's data directory?",
        format.string(), dir.string(), LogSafe(held.substr(0, 64)), LinkerStore::kFormat));
  }
  if (std::filesystem::exists(dir / "CURRENT", ec)) {
    return absl::FailedPreconditionError(fmt::format(
        "{} holds a linker store in the old layout (one RocksDB database for every covenant: "
        "{}, and no {}); this linker keeps one encrypted store per covenant and does not "
        "convert the old one. To move over: stop here, move the directory aside (keep it until "
        "the agents have resent), make a new empty --data directory and copy audit.log and "
        "covenants.json from the old one into it (the audit chain and the record of ended "
        "covenants), start the linker on it, and have every agent resend: move its outbox's "
        "receipts/ directory aside and run `koppel-agent send`, which sends every batch without "
        "a receipt. Release budgets spent so far are not carried over; the audit log lists "
        "them. See docs/services.md, \"Migrating from the single store\"",
        dir.string(), (dir / "CURRENT").string(), kFormatFile));
  }
  *fresh = true;
  return absl::OkStatus();
}

HeldCounts ReadHeldFile(const std::filesystem::path& path) {
  HeldCounts held;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return held;
  const nlohmann::json counts = nlohmann::json::parse(ReadSmallFile(path), nullptr, false);
  if (counts.is_discarded() || !counts.is_object() || !counts.contains("records") ||
      !counts["records"].is_number_unsigned() || !counts.contains("batches") ||
      !counts["batches"].is_number_unsigned()) {
    spdlog::warn("store: {} is not a count of records and batches; counting none", path.string());
    return held;
  }
  held.records = counts["records"].get<uint64_t>();
  held.batches = counts["batches"].get<uint64_t>();
  return held;
}

std::string Named(const std::string& covenant) {
  return IsName(covenant)
             ? fmt::format("covenant '{}'", covenant)
             : fmt::format("a covenant id of {} bytes that is not a name", covenant.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkerStore>> LinkerStore::Open(const std::filesystem::path& dir,
                                                               const StoreOptions& options) {
  bool fresh = false;
  RETURN_IF_ERROR(CheckFormat(dir, &fresh));
  std::error_code ec;
  std::filesystem::create_directories(dir / "covenants", ec);
  // Receipts, headers and the release history are for the linker alone.
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (!ec) std::filesystem::permissions(dir / "covenants", std::filesystem::perms::owner_all, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot make the linker database directory {} private (mode 700): {}",
                    dir.string(), ec.message()));
  }
  if (fresh) {
    RETURN_IF_ERROR(WriteFileAtomically(dir / kFormatFile, std::string(kFormat) + "\n"));
  }
  return std::unique_ptr<LinkerStore>(new LinkerStore(dir, options, /*read_only=*/false));
}

bool LinkerStore::HoldsOldLayout(const std::filesystem::path& dir) {
  std::error_code ec;
  return !std::filesystem::exists(dir / kFormatFile, ec) &&
         std::filesystem::exists(dir / "CURRENT", ec);
}

absl::StatusOr<std::unique_ptr<LinkerStore>> LinkerStore::OpenReadOnly(
    const std::filesystem::path& dir) {
  bool fresh = false;
  RETURN_IF_ERROR(CheckFormat(dir, &fresh));
  if (fresh) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot open the linker database in {} for reading: it holds no store ({} is missing)",
        dir.string(), kFormatFile));
  }
  return std::unique_ptr<LinkerStore>(new LinkerStore(dir, StoreOptions{}, /*read_only=*/true));
}

LinkerStore::~LinkerStore() = default;

std::filesystem::path LinkerStore::CovenantDir(const std::string& covenant) const {
  return dir_ / "covenants" / covenant;
}

absl::Status LinkerStore::OpenCovenant(const std::string& covenant, const Secret& data_key) {
  if (!IsName(covenant)) {
    return absl::InvalidArgumentError(
        fmt::format("cannot open the store of {} (rule: {})", Named(covenant), kNameRule));
  }
  // Opening replays the covenant's log, which may take a while: other covenants stay served.
  absl::MutexLock one_at_a_time(&opening_);
  {
    absl::MutexLock lock(&mutex_);
    if (deleting_covenants_.contains(covenant)) {
      return absl::FailedPreconditionError(fmt::format(
          "the store of {} is being deleted (the covenant ended); it is not opened again",
          Named(covenant)));
    }
    auto open = covenants_.find(covenant);
    if (open != covenants_.end()) {
      if (open->second->OpensWith(data_key)) return absl::OkStatus();
      return absl::FailedPreconditionError(fmt::format(
          "the store of {} is open already with another data key; the key given now is not the "
          "one the store is encrypted under (another vault, or a key of another covenant)",
          Named(covenant)));
    }
  }
  const std::filesystem::path dir = CovenantDir(covenant);
  std::error_code ec;
  // A covenant whose directory is there was held before: a missing store is lost, not new.
  const bool fresh =
      !std::filesystem::exists(dir / "held", ec) && !std::filesystem::exists(dir / "db", ec);
  if (read_only_ && !std::filesystem::exists(dir / "db", ec)) {
    return absl::NotFoundError(
        fmt::format("the linker store in {} holds nothing of {}", dir_.string(), Named(covenant)));
  }
  if (!read_only_) {
    std::filesystem::create_directories(dir, ec);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    if (ec) {
      return absl::PermissionDeniedError(fmt::format(
          "cannot make the directory {} private (mode 700): {}", dir.string(), ec.message()));
    }
  }
  CovenantStore::Options options;
  options.min_free_bytes = options_.min_free_bytes;
  options.base_env = options_.env;
  options.epoch_settle = options_.epoch_settle;
  options.read_only = read_only_;
  options.create = fresh && !read_only_;
  options.held_file = dir / "held";
  ASSIGN_OR_RETURN(std::unique_ptr<CovenantStore> store,
                   CovenantStore::Open(covenant, dir / "db", data_key, options));
  std::optional<AppliedRestore> applied;
  if (!read_only_) {
    ASSIGN_OR_RETURN(applied, ApplyRestoreNote(covenant, store.get(), data_key));
  }
  absl::MutexLock lock(&mutex_);
  if (applied.has_value()) applied_restores_[covenant] = std::move(*applied);
  covenants_.emplace(covenant, std::move(store));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<LinkerStore::AppliedRestore>> LinkerStore::ApplyRestoreNote(
    const std::string& covenant, CovenantStore* store, const Secret& data_key) {
  const std::filesystem::path note = CovenantDir(covenant) / kRestoreNoteFile;
  std::error_code ec;
  if (!std::filesystem::exists(note, ec)) return std::nullopt;
  const nlohmann::json json = nlohmann::json::parse(ReadSmallFile(note), nullptr, false);
  const auto malformed = [&note] {
    return absl::DataLossError(fmt::format(
        "{} is not the note a restore writes; restore the covenant again", note.string()));
  };
  if (!json.is_object() || !json.contains("releases_at_least") ||
      !json["releases_at_least"].is_number_unsigned()) {
    return malformed();
  }
  AppliedRestore applied;
  applied.backup_time = json.value("backup_time", std::string());
  std::vector<SealedRelease> entries;
  if (json.contains("history")) {
    if (!json["history"].is_array()) return malformed();
    for (const nlohmann::json& entry : json["history"]) {
      SealedRelease& sealed = entries.emplace_back();
      if (!entry.is_object() || !entry.contains("sequence") ||
          !entry["sequence"].is_number_unsigned() || !entry.contains("entry") ||
          !entry["entry"].is_string() ||
          !absl::Base64Unescape(entry["entry"].get<std::string>(), &sealed.sealed)) {
        return malformed();
      }
      sealed.sequence = entry["sequence"].get<uint64_t>();
    }
  }
  if (!entries.empty()) {
    ASSIGN_OR_RETURN(linker::ReleaseHistory history,
                     linker::ReleaseHistory::Open(this, covenant, data_key));
    for (const SealedRelease& entry : entries) {
      if (absl::Status s = history.Check(entry); !s.ok()) {
        return absl::DataLossError(fmt::format(
            "{}: {}; the linker puts back no history entry it cannot check. Restore the "
            "covenant again with the audit log its linker wrote",
            note.string(), std::string(s.message())));
      }
    }
    for (const SealedRelease& entry : entries) {
      ASSIGN_OR_RETURN(bool written, store->RestoreHistoryEntry(entry.sequence, entry.sealed));
      if (written) ++applied.history_reapplied;
    }
  }
  const auto at_least = static_cast<int64_t>(json["releases_at_least"].get<uint64_t>());
  ASSIGN_OR_RETURN(applied.releases_raised, store->RaiseReleasesSpent(at_least));
  if (applied.history_reapplied > 0 || applied.releases_raised > 0) {
    spdlog::warn(
        "store: covenant {} was restored from a backup of {}; {} release history entries made "
        "after the backup were put back from the audit log, and {} release(s) whose entries "
        "the audit log does not hold stay spent",
        covenant, applied.backup_time, applied.history_reapplied, applied.releases_raised);
  }
  if (absl::Status s = FileSystem::Default()->RemoveFile(note); !s.ok()) return s;
  RETURN_IF_ERROR(SyncDirectory(CovenantDir(covenant), "removing the restore note"));
  return applied;
}

std::optional<LinkerStore::AppliedRestore> LinkerStore::TakeAppliedRestore(
    const std::string& covenant) {
  absl::MutexLock lock(&mutex_);
  auto it = applied_restores_.find(covenant);
  if (it == applied_restores_.end()) return std::nullopt;
  AppliedRestore applied = std::move(it->second);
  applied_restores_.erase(it);
  return applied;
}

bool LinkerStore::IsOpen(const std::string& covenant) const {
  absl::MutexLock lock(&mutex_);
  return covenants_.contains(covenant);
}

absl::StatusOr<std::shared_ptr<CovenantStore>> LinkerStore::Find(const std::string& covenant,
                                                                 std::string_view what) const {
  absl::MutexLock lock(&mutex_);
  auto it = covenants_.find(covenant);
  if (it == covenants_.end()) {
    return absl::FailedPreconditionError(
        fmt::format("the store of {} is not open ({}): it ended, or the linker does not serve it",
                    Named(covenant), what));
  }
  return it->second;
}

absl::StatusOr<uint64_t> LinkerStore::IntProperty(const std::string& covenant,
                                                  const std::string& name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "reading a property"));
  return store->IntProperty(name);
}

absl::StatusOr<std::optional<v1::Receipt>> LinkerStore::FindReceipt(
    const std::string& covenant, const std::string& batch_id) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "reading a receipt"));
  return store->FindReceipt(batch_id);
}

absl::StatusOr<v1::Receipt> LinkerStore::Commit(const v1::Receipt& receipt,
                                                const v1::BatchHeader& header,
                                                const std::vector<StoredRecord>& records) {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store,
                   Find(receipt.covenant_id(), "writing a batch"));
  return store->Commit(receipt, header, records);
}

absl::StatusOr<v1::BatchHeader> LinkerStore::FindBatchHeader(const std::string& covenant,
                                                             std::string_view batch_id) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "reading a batch header"));
  return store->FindBatchHeader(batch_id);
}

std::unique_ptr<RecordCursor> LinkerStore::NewRecordCursor(const std::string& covenant,
                                                           const std::string& dataset,
                                                           std::string_view begin_token,
                                                           std::string_view end_token,
                                                           const ReadView* view) const {
  absl::StatusOr<std::shared_ptr<CovenantStore>> store = Find(covenant, "scanning records");
  if (!store.ok()) return std::unique_ptr<RecordCursor>(new RecordCursor(store.status()));
  return (*store)->NewRecordCursor(dataset, begin_token, end_token, view);
}

absl::StatusOr<std::unique_ptr<ReadView>> LinkerStore::NewReadView(
    const std::string& covenant) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store,
                   Find(covenant, "taking a view of the records"));
  return store->NewReadView();
}

absl::StatusOr<std::vector<v1::DatasetStatus>> LinkerStore::Status() const {
  std::vector<std::shared_ptr<CovenantStore>> open;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [id, store] : covenants_) open.push_back(store);
  }
  std::vector<v1::DatasetStatus> all;
  for (const std::shared_ptr<CovenantStore>& store : open) {
    absl::StatusOr<std::vector<v1::DatasetStatus>> status = store->Status();
    // A covenant ending meanwhile has nothing left to count.
    if (!status.ok() && !IsOpen(store->covenant())) continue;
    if (!status.ok()) return status.status();
    all.insert(all.end(), status->begin(), status->end());
  }
  return all;
}

absl::StatusOr<std::vector<v1::BatchHeader>> LinkerStore::RunSchemas(
    const std::string& covenant, const std::string& dataset) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store,
                   Find(covenant, "reading the delivery runs"));
  return store->RunSchemas(dataset);
}

absl::StatusOr<HeldEpochs> LinkerStore::Epochs(const std::string& covenant) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "reading the key epochs"));
  return store->Epochs();
}

absl::StatusOr<RetiredCounts> LinkerStore::RetireEpochsThrough(const std::string& covenant,
                                                               uint32_t epoch) {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "retiring key epochs"));
  return store->RetireEpochsThrough(epoch);
}

absl::StatusOr<std::vector<bool>> LinkerStore::HasTokens(
    const std::string& covenant, const std::string& dataset,
    const std::vector<std::string>& tokens) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "looking up tokens"));
  return store->HasTokens(dataset, tokens);
}

absl::StatusOr<HeldCounts> LinkerStore::Held(const std::string& covenant) const {
  if (!IsName(covenant)) return HeldCounts{};  // never stored: OpenCovenant refuses it
  absl::StatusOr<std::shared_ptr<CovenantStore>> store = Find(covenant, "counting");
  if (store.ok()) {
    absl::StatusOr<HeldCounts> held = (*store)->Held();
    if (held.ok()) return held;
  }
  return ReadHeldFile(CovenantDir(covenant) / "held");
}

absl::StatusOr<LinkerStore::Deleted> LinkerStore::DeleteCovenant(const std::string& covenant) {
  if (!IsName(covenant)) return Deleted{};  // nothing of it can be on disk
  if (read_only_) {
    return absl::FailedPreconditionError("the linker store is open for reading only");
  }
  absl::MutexLock one_at_a_time(&deleting_);
  ASSIGN_OR_RETURN(Deleted held, Held(covenant));
  std::shared_ptr<CovenantStore> store;
  {
    // From here on the store is never handed out or opened again, whatever fails below.
    absl::MutexLock lock(&mutex_);
    deleting_covenants_.insert(covenant);
    auto it = covenants_.find(covenant);
    if (it != covenants_.end()) {
      store = std::move(it->second);
      covenants_.erase(it);
    }
  }
  if (store != nullptr) {
    // Requests were drained before (the covenant is held exclusively): what still reads it is
    // a cursor finishing, so wait for it however long it takes.
    RETURN_IF_ERROR(store->Close());
    store.reset();
  }
  // The instance first, the counts last: a deletion cut short by a crash is finished at the
  // next start (the ledger says ended, not deleted) and still knows what it deleted.
  const std::filesystem::path dir = CovenantDir(covenant);
  const std::string what = fmt::format("deleting the store of {}", Named(covenant));
  std::error_code ec;
  std::filesystem::remove_all(dir / "db", ec);
  if (!ec && std::filesystem::exists(dir, ec)) RETURN_IF_ERROR(SyncDirectory(dir, what));
  if (!ec) std::filesystem::remove_all(dir, ec);
  if (ec) {
    spdlog::error("store: {}: cannot remove {}: {}", what, dir.string(), ec.message());
    return absl::InternalError(fmt::format(
        "cannot remove the store of {} ({}); details are in the linker's log. The covenant stays "
        "ended and its store closed; the deletion is retried",
        Named(covenant), ec.message()));
  }
  RETURN_IF_ERROR(SyncDirectory(dir_ / "covenants", what));
  {
    absl::MutexLock lock(&mutex_);
    deleting_covenants_.erase(covenant);
  }
  return held;
}

absl::StatusOr<HighWaterMark> LinkerStore::Checkpoint(const std::string& covenant,
                                                      const std::filesystem::path& to) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "taking a checkpoint"));
  return store->Checkpoint(to);
}

absl::StatusOr<LinkerStore::Shape> LinkerStore::Settle(const std::string& covenant) {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "settling"));
  return store->Settle();
}

absl::StatusOr<int64_t> LinkerStore::ReleasesSpent(const std::string& covenant) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store,
                   Find(covenant, "reading the release budget"));
  return store->ReleasesSpent();
}

absl::Status LinkerStore::SpendRelease(const std::string& covenant) {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "spending a release"));
  return store->SpendRelease();
}

absl::StatusOr<std::vector<std::string>> LinkerStore::ReleaseHistory(
    const std::string& covenant) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store,
                   Find(covenant, "reading the release history"));
  return store->ReleaseHistory();
}

absl::Status LinkerStore::RecordRelease(const std::string& covenant,
                                        const std::string& sealed_entry) {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "recording a release"));
  return store->RecordRelease(sealed_entry);
}

absl::Status LinkerStore::Scan(
    const std::string& covenant, const std::string& dataset,
    const std::function<void(std::string_view key, std::string_view value)>& visit) const {
  ASSIGN_OR_RETURN(std::shared_ptr<CovenantStore> store, Find(covenant, "scanning records"));
  return store->Scan(dataset, visit);
}

}  // namespace koppel::linker

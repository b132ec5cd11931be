#include "linker/query_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/hmac.h"
#include "core/proto_time.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_engine.h"
#include "linker/analysis/analysis_planner.h"
#include "linker/analysis/engine_limits.h"
#include "linker/analysis/prices.h"
#include "linker/analysis/release.h"
#include "linker/delivery_check.h"
#include "linker/key_epochs.h"
#include "linker/release_history.h"
#include "linker/store_record_source.h"

namespace koppel::linker {
namespace {

absl::Status Refuse(const policy::Covenant& covenant, const std::string& what,
                    const std::string& rule) {
  return WithCovenantRule(
      absl::PermissionDeniedError(
          fmt::format("covenant {} v{}: {} (rule: {})", covenant.id, covenant.version, what, rule)),
      rule, covenant.id, covenant.version);
}

bool HasCosts(const analysis::AnalysisSpec& spec) {
  for (const analysis::TableSpec& table : spec.tables) {
    if (table.kind == analysis::TableKind::kCosts ||
        table.kind == analysis::TableKind::kSensitivity ||
        table.kind == analysis::TableKind::kCostBenefit)
      return true;
  }
  return false;
}

absl::StatusOr<analysis::PriceTable> PricesOf(
    const analysis::AnalysisSpec& spec,
    const google::protobuf::Map<std::string, std::string>& files, const std::string& source) {
  if (spec.prices_file.empty()) return analysis::PriceTable{};
  auto file = files.find(spec.prices_file);
  if (file == files.end()) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: the spec names prices file '{}', but the query does not carry it (send it along; "
        "koppel query does this itself)",
        source, spec.prices_file));
  }
  return analysis::ParsePrices(file->second, spec.prices_file);
}

// Earlier exact releases computed by the same spec on the same deliveries are one quantity
// system: recomputed once, a cell counting as published when any of them published it.
std::string VersionKey(const v1::ReleaseRecord& record) {
  std::string key = record.spec_sha256() + "/" + record.prices_sha256() + "/";
  for (const v1::DataVersion& version : record.data_version()) {
    key += version.dataset() + ":" + std::to_string(version.batch_ids_size()) + ":";
    for (const std::string& id : version.batch_ids()) key += id;
  }
  return key;
}

struct Recomputed {
  std::shared_ptr<const analysis::AnalysisResult> result;
  std::vector<analysis::CellState> count_states;
  std::vector<analysis::CellState> sum_states;
};

absl::Status Mismatch(const policy::Covenant& covenant, const v1::ReleaseRecord& record,
                      const std::string& what) {
  return absl::FailedPreconditionError(fmt::format(
      "covenant {}: release {} ({} for {} at {}) cannot be recomputed from the deliveries it "
      "used: {}. The store has lost or changed data since; nothing is released until an "
      "operator restores it from a backup (docs/disclosure.md)",
      covenant.id, record.sequence(), record.analysis(), record.recipient(),
      record.has_release_time() ? IsoTime(record.release_time()) : record.legacy_released_at(),
      what));
}

absl::Status CheckValues(const policy::Covenant& covenant, const v1::ReleaseRecord& record,
                         const analysis::AnalysisResult& result) {
  if (static_cast<int>(result.count_cells.size()) != record.count_values_size() ||
      static_cast<int>(result.sum_cells.size()) != record.sum_values_size()) {
    return Mismatch(covenant, record, "it has a different number of cells now");
  }
  for (size_t i = 0; i < result.count_cells.size(); ++i) {
    if (result.count_cells[i].value != record.count_values(static_cast<int>(i))) {
      return Mismatch(covenant, record, "a count differs");
    }
  }
  for (size_t i = 0; i < result.sum_cells.size(); ++i) {
    if (std::llround(result.sum_cells[i].value * 100) !=
        std::llround(record.sum_values(static_cast<int>(i)) * 100)) {
      return Mismatch(covenant, record, "a sum differs");
    }
  }
  return absl::OkStatus();
}

void MarkPublished(const google::protobuf::RepeatedField<bool>& published,
                   std::vector<analysis::CellState>* states) {
  states->resize(static_cast<size_t>(published.size()), analysis::CellState::kSecondary);
  for (int i = 0; i < published.size(); ++i) {
    if (published.Get(i)) (*states)[static_cast<size_t>(i)] = analysis::CellState::kPublished;
  }
}

// The key epoch an earlier release read; 0 when it read no batch. Releases from before epochs
// were recorded say so by the header of a batch they read; 0 (not known) when that header is
// gone too.
absl::StatusOr<uint32_t> EpochRead(const v1::ReleaseRecord& record, const LinkerStore& store,
                                   const std::string& covenant) {
  if (record.key_epoch() != 0) return record.key_epoch();
  for (const v1::DataVersion& version : record.data_version()) {
    if (version.batch_ids().empty()) continue;
    absl::StatusOr<v1::BatchHeader> header = store.FindBatchHeader(covenant, version.batch_ids(0));
    if (absl::IsNotFound(header.status())) return 0;
    if (!header.ok()) return header.status();
    return header->key_epoch();
  }
  return 0;
}

}  // namespace

absl::Status CheckSpecAllowed(const analysis::AnalysisSpec& spec,
                              const policy::Covenant& covenant) {
  const policy::AnalysisPolicy& policy = covenant.analysis;
  auto need_measure = [&](const analysis::TableSpec& table,
                          const std::string& measure) -> absl::Status {
    if (policy.measures.contains(measure)) return absl::OkStatus();
    return Refuse(covenant,
                  fmt::format("table '{}' asks for the measure '{}', which the covenant "
                              "does not allow",
                              table.name, measure),
                  "analysis.measures");
  };
  for (const analysis::TableSpec& table : spec.tables) {
    const char* dimension = table.rows == analysis::Dimension::kArea            ? "area"
                            : table.rows == analysis::Dimension::kHouseholdType ? "household_type"
                                                                                : nullptr;
    if (dimension != nullptr && !policy.dimensions.contains(dimension)) {
      return Refuse(covenant,
                    fmt::format("table '{}' groups by '{}', which the covenant does not "
                                "allow",
                                table.name, dimension),
                    "analysis.dimensions");
    }
    const char* kind = table.kind == analysis::TableKind::kCounts        ? "counts"
                       : table.kind == analysis::TableKind::kOverlap     ? "overlap"
                       : table.kind == analysis::TableKind::kCosts       ? "costs"
                       : table.kind == analysis::TableKind::kSensitivity ? "sensitivity"
                                                                         : "cost_benefit";
    if (!policy.table_kinds.contains(kind)) {
      return Refuse(covenant,
                    fmt::format("table '{}' is a {} table, which the covenant does not "
                                "allow",
                                table.name, kind),
                    "analysis.table_kinds");
    }
    switch (table.kind) {
      case analysis::TableKind::kCounts:
        RETURN_IF_ERROR(need_measure(table, "count"));
        for (const analysis::CountColumn& column : table.columns) {
          if (column.percent) RETURN_IF_ERROR(need_measure(table, "percent"));
        }
        break;
      case analysis::TableKind::kOverlap:
        RETURN_IF_ERROR(need_measure(table, "count"));
        break;
      case analysis::TableKind::kCosts:
      case analysis::TableKind::kSensitivity:
        RETURN_IF_ERROR(need_measure(table, "cost"));
        break;
      case analysis::TableKind::kCostBenefit:
        RETURN_IF_ERROR(need_measure(table, "count"));
        RETURN_IF_ERROR(need_measure(table, "cost"));
        break;
    }
  }
  if (spec.cost_benefit && policy.rounding_base > 1) {
    return Refuse(covenant,
                  fmt::format("the spec has a cost_benefit section, and the covenant rounds counts "
                              "to multiples of {}: a cost-benefit figure is a price times a number "
                              "of households (an intervention's cost per household), so it would "
                              "give away the exact counts the rounding hides; ask the privacy "
                              "officers for a covenant without rounding for cost-benefit analyses",
                              policy.rounding_base),
                  "analysis.disclosure.rounding_base");
  }
  if (spec.min_cell && *spec.min_cell < policy.min_cell) {
    return Refuse(covenant,
                  fmt::format("the spec asks for min_cell {}, below the covenant's {}; "
                              "a spec may only make disclosure control stricter",
                              *spec.min_cell, policy.min_cell),
                  "analysis.disclosure.min_cell");
  }
  return absl::OkStatus();
}

SpecDigests DigestsOf(const v1::QueryRequest& request, const analysis::AnalysisSpec& spec) {
  SpecDigests digests;
  digests.spec = Sha256Hex(request.spec_yaml());
  if (!spec.prices_file.empty()) {
    auto file = request.files().find(spec.prices_file);
    if (file != request.files().end()) digests.prices = Sha256Hex(file->second);
  }
  return digests;
}

absl::StatusOr<std::unique_ptr<analysis::PerturbationTable>> LoadPerturbationTable(
    const policy::Covenant& covenant, const std::filesystem::path& covenant_file) {
  const policy::AnalysisPolicy& policy = covenant.analysis;
  if (policy.exploratory != policy::ExploratoryMode::kPerturb) return nullptr;
  if (policy.perturbation.table == "default") {
    return std::make_unique<analysis::PerturbationTable>(analysis::PerturbationTable::Default());
  }
  const std::filesystem::path path = covenant_file.parent_path() / policy.perturbation.table;
  absl::StatusOr<std::string> text = policy::ReadPinnedFile(
      covenant_file, policy.perturbation.table, policy.perturbation.table_sha256);
  if (!text.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {}: its perturbation table (analysis.perturbation.table): {}; restore the file "
        "the officers signed for",
        covenant.id, std::string(text.status().message())));
  }
  absl::StatusOr<analysis::PerturbationTable> table =
      analysis::PerturbationTable::Parse(*text, path.string());
  if (!table.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("covenant {}: its perturbation table is malformed: {}", covenant.id,
                    std::string(table.status().message())));
  }
  return std::make_unique<analysis::PerturbationTable>(std::move(*table));
}

absl::StatusOr<v1::Release> QueryRunner::Run(const std::string& caller,
                                             const v1::QueryRequest& request,
                                             SealedRelease* recorded) {
  RETURN_IF_ERROR(covenant_->analysis.MayQuery(*covenant_, caller));
  const std::string source = request.spec_name().empty() ? "spec" : request.spec_name();
  ASSIGN_OR_RETURN(analysis::AnalysisSpec spec,
                   analysis::ParseAnalysisSpec(request.spec_yaml(), source));
  RETURN_IF_ERROR(CheckSpecAllowed(spec, *covenant_));
  ASSIGN_OR_RETURN(analysis::PriceTable prices, PricesOf(spec, request.files(), source));
  RETURN_IF_ERROR(analysis::ResolveCostBenefitPrices(&spec, prices));
  RETURN_IF_ERROR(analysis::CheckEngineLimits(spec));
  RETURN_IF_ERROR(analysis::CheckSpecPrices(spec, prices, source));
  // Before any table is computed or a release spent: the spec reads what was delivered.
  RETURN_IF_ERROR(CheckSpecFitsDeliveries(spec, prices, *store_, covenant_->id));
  const policy::AnalysisPolicy& covenant_policy = covenant_->analysis;
  const SpecDigests digests = DigestsOf(request, spec);
  const policy::ApprovedAnalysis* approved =
      covenant_policy.FindApproved(digests.spec, digests.prices);
  if (approved != nullptr && approved->name != spec.name) approved = nullptr;

  bool perturbed = false;
  if (request.mode() == v1::RELEASE_MODE_EXACT && approved == nullptr) {
    return Refuse(*covenant_,
                  fmt::format("an exact release needs an analysis the covenant approves; spec "
                              "'{}' (sha256 {}{}) is not one of them: ask the privacy officers "
                              "to approve it (koppel policy approve)",
                              spec.name, digests.spec,
                              digests.prices.empty() ? "" : ", prices sha256 " + digests.prices),
                  "analysis.approved");
  }
  if (request.mode() == v1::RELEASE_MODE_PERTURBED || approved == nullptr) {
    if (covenant_policy.exploratory != policy::ExploratoryMode::kPerturb ||
        perturbation_ == nullptr) {
      return Refuse(*covenant_,
                    fmt::format("spec '{}' (sha256 {}) is not an analysis the covenant approves, "
                                "and the covenant releases nothing else; ask the privacy "
                                "officers to approve it (koppel policy approve)",
                                spec.name, digests.spec),
                    "analysis.exploratory");
    }
    if (HasCosts(spec)) {
      return Refuse(*covenant_,
                    "an exploratory (perturbed) release cannot hold costs or sensitivity tables: "
                    "only an approved analysis releases sums",
                    "analysis.exploratory");
    }
    perturbed = true;
  }

  policy::AnalysisPolicy policy = covenant_policy;
  if (spec.min_cell) policy.min_cell = std::max<int64_t>(policy.min_cell, *spec.min_cell);
  analysis::EngineOptions options;
  options.max_contribution_eur = policy.max_contribution_eur;
  options.largest_kept = std::max(policy.dominance_n, 1);
  options.report_progress = true;  // into the linker's log

  absl::MutexLock lock(&one_at_a_time_);
  ASSIGN_OR_RETURN(int64_t spent, store_->ReleasesSpent(covenant_->id));
  if (policy.max_releases > 0 && spent >= policy.max_releases) {
    return WithCovenantRule(
        absl::ResourceExhaustedError(fmt::format(
            "covenant {} v{}: all {} releases of the covenant's budget are spent (rule: "
            "analysis.disclosure.max_releases); the privacy officers decide on a new version",
            covenant_->id, covenant_->version, policy.max_releases)),
        "analysis.disclosure.max_releases", covenant_->id, covenant_->version);
  }
  ASSIGN_OR_RETURN(ReleaseHistory history, ReleaseHistory::Open(store_, covenant_->id, *data_key_));
  ASSIGN_OR_RETURN(std::vector<v1::ReleaseRecord> records, history.Load());
  ASSIGN_OR_RETURN(const std::string design_conflict, CostBenefitDesignConflict(spec, records));
  if (!design_conflict.empty()) {
    return Refuse(*covenant_, design_conflict, "analysis.disclosure");
  }

  // One key epoch for every dataset the spec reads: tokens of two epochs never join.
  ASSIGN_OR_RETURN(HeldEpochs held, store_->Epochs(covenant_->id));
  const KeyEpochs epochs(covenant_->id, std::move(held));
  std::vector<std::string> datasets;
  {
    ASSIGN_OR_RETURN(analysis::AnalysisPlan plan, analysis::PlanAnalysis(spec, prices));
    for (const analysis::DatasetPlan& dataset : plan.datasets) datasets.push_back(dataset.name);
  }
  uint32_t floor = 0;  // the newest epoch an earlier release read
  for (const v1::ReleaseRecord& old : records) floor = std::max(floor, old.key_epoch());
  ASSIGN_OR_RETURN(const uint32_t epoch, epochs.ForRelease(datasets, floor));
  const absl::flat_hash_set<std::string> epoch_batches = epochs.BatchesOf(epoch);
  options.only_batches = &epoch_batches;

  analysis::ReleaseContext context;
  context.covenant_id = covenant_->id;
  context.analysis = spec.name;
  context.spec_sha256 = digests.spec;
  context.prices_sha256 = digests.prices;
  context.recipient = caller;
  context.reference_dates = spec.reference_dates;

  const StoreRecordSource covenant_records(store_, covenant_->id);
  analysis::AnalysisEngine engine(&covenant_records);
  // Every earlier release, exact or perturbed, recomputed on its own deliveries: a perturbed
  // cell counts as published (its noise is not relied on), so that many cells differing by the
  // same few households cannot be averaged, within one release or across several.
  std::map<std::string, Recomputed> earlier;
  // An earlier release that read another key epoch (one retired since, or an older one still
  // held) is recomputed on the epoch this release reads: the same households carry other
  // tokens in each epoch, so only recomputed there do they stand behind the same cells, and a
  // difference across a rotation is protected like any other. Where the deliveries changed
  // meanwhile the values differ from what was published; the release then says so. One whose
  // cells no longer line up is left out, and said so.
  int64_t other_epoch_changed = 0;
  int64_t other_epoch_unchecked = 0;
  for (const v1::ReleaseRecord& old : records) {
    ASSIGN_OR_RETURN(const uint32_t read_epoch, EpochRead(old, *store_, covenant_->id));
    const bool other_epoch = read_epoch != 0 && read_epoch != epoch;
    const std::string key = other_epoch ? absl::StrCat("epoch ", epoch, "/", old.spec_sha256(), "/",
                                                       old.prices_sha256())
                                        : VersionKey(old);
    Recomputed& entry = earlier[key];
    if (entry.result == nullptr && !other_epoch) {  // the epoch's deliveries may grow meanwhile
      auto cached = recomputed_.find(key);
      if (cached != recomputed_.end()) entry.result = cached->second;
    }
    if (entry.result == nullptr) {
      ASSIGN_OR_RETURN(analysis::AnalysisSpec old_spec,
                       analysis::ParseAnalysisSpec(old.spec_yaml(), old.spec_name()));
      ASSIGN_OR_RETURN(analysis::PriceTable old_prices,
                       PricesOf(old_spec, old.files(), old.spec_name()));
      RETURN_IF_ERROR(analysis::ResolveCostBenefitPrices(&old_spec, old_prices));
      const absl::flat_hash_set<std::string> batches = BatchesOf(old.data_version());
      analysis::EngineOptions old_options = options;
      old_options.report_progress = false;
      old_options.only_batches = other_epoch ? &epoch_batches : &batches;
      old_options.keep_units = true;
      // As it was released, even if made before the spec was checked against the deliveries:
      // the user asked for this query, not that one.
      old_options.check_attribute_use = false;
      old_options.max_contribution_eur = old.has_max_contribution_eur()
                                             ? std::optional<double>(old.max_contribution_eur())
                                             : std::nullopt;
      absl::StatusOr<analysis::AnalysisResult> rerun =
          engine.Run(old_spec, old_prices, old_options);
      if (!rerun.ok() && other_epoch) {
        ++other_epoch_unchecked;
        earlier.erase(key);
        continue;
      }
      if (!rerun.ok()) return rerun.status();
      analysis::AnalysisResult recomputed = std::move(*rerun);
      if (!other_epoch) RETURN_IF_ERROR(CheckValues(*covenant_, old, recomputed));
      entry.result = std::make_shared<const analysis::AnalysisResult>(std::move(recomputed));
      if (!other_epoch) recomputed_[key] = entry.result;
    }
    if (other_epoch) {
      if (entry.result->count_cells.size() != static_cast<size_t>(old.count_published_size()) ||
          entry.result->sum_cells.size() != static_cast<size_t>(old.sum_published_size())) {
        ++other_epoch_unchecked;
        if (entry.count_states.empty()) earlier.erase(key);
        continue;
      }
      if (!CheckValues(*covenant_, old, *entry.result).ok()) ++other_epoch_changed;
    }
    std::vector<analysis::CellState> counts;
    std::vector<analysis::CellState> sums;
    MarkPublished(old.count_published(), &counts);
    MarkPublished(old.sum_published(), &sums);
    if (entry.count_states.empty()) {
      entry.count_states = counts;
      entry.sum_states = sums;
    } else {
      for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == analysis::CellState::kPublished)
          entry.count_states[i] = analysis::CellState::kPublished;
      }
      for (size_t i = 0; i < sums.size(); ++i) {
        if (sums[i] == analysis::CellState::kPublished)
          entry.sum_states[i] = analysis::CellState::kPublished;
      }
    }
  }
  std::vector<analysis::EarlierRelease> joined;
  for (const auto& [key, entry] : earlier) {
    joined.push_back({entry.result.get(), entry.count_states, entry.sum_states});
  }

  options.keep_units = true;
  std::optional<analysis::RecordKeys> keys;
  if (perturbed) {
    ASSIGN_OR_RETURN(keys, analysis::RecordKeys::Create(*data_key_));
    options.record_key = [&keys](std::string_view household) { return keys->Of(household); };
  } else {
    context.approved_analysis = approved->name;
  }
  ASSIGN_OR_RETURN(analysis::AnalysisResult result, engine.Run(spec, prices, options));
  for (const auto& [date, persons] : result.unplaced) {
    spdlog::info(
        "analysis {} under {}: {} persons or addresses with records that count on {} "
        "live in no household of the register",
        spec.name, covenant_->id, persons, date);
  }
  ASSIGN_OR_RETURN(analysis::ProtectedRelease protection,
                   analysis::ProtectRelease(result, joined, analysis::RulesOf(policy), limits_));
  v1::Release release;
  if (perturbed) {
    ASSIGN_OR_RETURN(release, analysis::BuildPerturbedRelease(result, protection, *perturbation_,
                                                              policy, context));
  } else {
    ASSIGN_OR_RETURN(release, analysis::BuildRelease(result, protection, policy, context));
  }
  v1::ReleaseMetadata* meta = release.mutable_metadata();
  meta->set_earlier_releases_checked(static_cast<int64_t>(joined.size()));
  if (static_cast<int64_t>(records.size()) < spent) {
    meta->add_warnings(fmt::format(
        "{} earlier release(s) of this covenant were made before the linker kept a release "
        "history, or after the backup its store was restored from; this release could not be "
        "checked against them (docs/disclosure.md)",
        spent - static_cast<int64_t>(records.size())));
  }
  if (other_epoch_changed > 0) {
    meta->add_warnings(fmt::format(
        "{} earlier release(s) of this covenant read another key epoch; they were recomputed on "
        "key epoch {}, whose deliveries differ from theirs, so this release "
        "was checked against what they would publish now (docs/disclosure.md, \"Key "
        "rotation\")",
        other_epoch_changed, epoch));
  }
  if (other_epoch_unchecked > 0) {
    meta->add_warnings(fmt::format(
        "{} earlier release(s) of this covenant read another key epoch and do not line up with "
        "key epoch {}'s deliveries; this release could not be checked "
        "against them (docs/disclosure.md, \"Key rotation\")",
        other_epoch_unchecked, epoch));
  }
  meta->set_key_epoch(epoch);
  if (epoch < epochs.newest()) {
    for (const std::string& dataset : epochs.ToRedeliver(datasets)) {
      meta->add_warnings(fmt::format(
          "dataset '{}' is still to be delivered again under key epoch {}, the covenant's "
          "newest; this release reads every dataset in key epoch {}",
          dataset, epochs.newest(), epoch));
    }
  }
  v1::ReleaseRecord record;
  record.set_key_epoch(epoch);
  for (size_t i = 0; i < result.count_cells.size(); ++i) {
    record.add_count_published(protection.counts.state[i] == analysis::CellState::kPublished);
  }
  for (size_t i = 0; i < result.sum_cells.size(); ++i) {
    record.add_sum_published(protection.sums.state[i] == analysis::CellState::kPublished);
  }
  record.set_cells_suppressed_history(protection.suppressed_for_history);
  for (const analysis::PublishedCell& cell : result.count_cells)
    record.add_count_values(cell.value);
  for (const analysis::PublishedCell& cell : result.sum_cells) record.add_sum_values(cell.value);
  release.mutable_metadata()->set_covenant_version(covenant_->version);
  // -1: unlimited, as clients from before presence read it; new readers take it as absent.
  release.mutable_metadata()->set_releases_left(
      policy.max_releases > 0 ? policy.max_releases - spent - 1 : -1);

  *record.mutable_release_time() = release.metadata().release_time();
  record.set_legacy_released_at(release.metadata().legacy_released_at());
  record.set_recipient(caller);
  record.set_analysis(spec.name);
  record.set_mode(release.metadata().mode());
  record.set_spec_sha256(digests.spec);
  record.set_prices_sha256(digests.prices);
  record.set_spec_name(source);
  record.set_spec_yaml(request.spec_yaml());
  if (!spec.prices_file.empty()) {
    (*record.mutable_files())[spec.prices_file] = request.files().at(spec.prices_file);
  }
  for (v1::DataVersion& version : DataVersionOf(result)) {
    *record.add_data_version() = std::move(version);
  }
  if (policy.max_contribution_eur) record.set_max_contribution_eur(*policy.max_contribution_eur);
  *record.mutable_release() = release;
  // The budget is spent, and the release recorded, once it exists and before it leaves.
  ASSIGN_OR_RETURN(SealedRelease stored, history.Append(std::move(record)));
  if (recorded != nullptr) *recorded = std::move(stored);
  return release;
}

absl::StatusOr<std::optional<QueryRunner::EpochRetirement>> QueryRunner::RetireCompleteEpochs(
    bool wait) {
  if (wait) {
    absl::MutexLock lock(&one_at_a_time_);
    return RetireLocked();
  }
  if (!one_at_a_time_.TryLock()) return std::nullopt;
  absl::StatusOr<std::optional<EpochRetirement>> retired = RetireLocked();
  one_at_a_time_.Unlock();
  return retired;
}

absl::StatusOr<std::optional<QueryRunner::EpochRetirement>> QueryRunner::RetireLocked() {
  ASSIGN_OR_RETURN(HeldEpochs held, store_->Epochs(covenant_->id));
  const KeyEpochs epochs(covenant_->id, std::move(held));
  uint32_t through = epochs.RetirableThrough();
  if (through == 0 && epochs.held().retirement_unfinished) through = epochs.held().retired_through;
  if (through == 0) return std::nullopt;
  EpochRetirement retirement;
  retirement.through = through;
  ASSIGN_OR_RETURN(retirement.deleted, store_->RetireEpochsThrough(covenant_->id, through));
  spdlog::info(
      "covenant {}: retired key epochs up to {} (every dataset is delivered under a newer one): "
      "deleted {} records of {} batches",
      covenant_->id, through, retirement.deleted.records, retirement.deleted.batches);
  return retirement;
}

}  // namespace koppel::linker

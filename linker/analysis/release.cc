#include "linker/analysis/release.h"

#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "core/proto_time.h"
#include "core/status_macros.h"

namespace koppel::analysis {
namespace {

double RoundTo(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

class Releaser {
 public:
  Releaser(const policy::AnalysisPolicy& policy, const std::vector<PublishedCell>& count_cells,
           const Protection& counts, const Protection& sums)
      : policy_(policy), count_cells_(count_cells), counts_(counts), sums_(sums) {
    if (const std::optional<int64_t> as_if = policy.SuppressedPercentAsIf()) {
      as_if_ = static_cast<double>(*as_if);
    }
  }

  // Fills `out`; returns whether the cell is shown as suppressed.
  bool Release(const ResultCell& cell, v1::ReleasedCell* out) const {
    switch (cell.kind) {
      case ResultKind::kEmpty:
        return false;
      case ResultKind::kCount:
        if (!AllPublished(cell.sources)) return Suppress(out);
        out->set_count(Rounded(static_cast<int64_t>(std::llround(cell.value))));
        return false;
      case ResultKind::kAmount: {
        if (!AllPublished(cell.sources)) return Suppress(out);
        double amount = cell.value;
        // A mean (or sensitivity bound) is money per household: with rounding, per the rounded
        // number of households, or the sum and the mean would give the exact number. A
        // cost-benefit figure is the cohort's total and is released as computed.
        for (const SystemCellRef& ref : cell.sources) {
          if (cell.cost_benefit || policy_.rounding_base <= 1 ||
              ref.system != SystemCellRef::System::kCounts) {
            continue;
          }
          const double exact = count_cells_[static_cast<size_t>(ref.index)].value;
          if (exact > 0) amount = amount * exact / RoundedCount(ref);
          break;
        }
        out->set_amount(RoundTo(amount, 2));
        return false;
      }
      case ResultKind::kPercent:
        if (AllPublished(cell.sources)) {
          // With rounding, of the rounded counts: the exact share would give the exact counts.
          const double percent = policy_.rounding_base > 1 ? 100.0 * RoundedCount(cell.sources[0]) /
                                                                 RoundedCount(cell.sources[1])
                                                           : cell.value;
          out->set_percent(RoundTo(percent, 1));
          return false;
        }
        // The Almelo practice: a too-small count's percentage as if the count were N. Only when
        // the denominator is released and the count itself is the only (primary) reason.
        if (as_if_ >= 0 && OnlyNumeratorPrimary(cell.sources)) {
          out->set_percent(RoundTo(100.0 * as_if_ / RoundedCount(cell.sources[1]), 1));
          return false;
        }
        return Suppress(out);
      case ResultKind::kRatio:  // derived like a mean: only when every source is released
        if (!AllPublished(cell.sources)) return Suppress(out);
        out->set_ratio(RoundTo(cell.value, 2));
        return false;
      case ResultKind::kPm:  // holds no figure, so nothing to protect
        out->set_pm(true);
        return false;
    }
    return false;
  }

 private:
  static bool Suppress(v1::ReleasedCell* out) {
    out->set_suppressed(true);
    return true;
  }
  CellState StateOf(const SystemCellRef& ref) const {
    const Protection& p = ref.system == SystemCellRef::System::kCounts ? counts_ : sums_;
    return p.state[static_cast<size_t>(ref.index)];
  }
  bool AllPublished(const std::vector<SystemCellRef>& sources) const {
    for (const SystemCellRef& ref : sources) {
      if (StateOf(ref) != CellState::kPublished) return false;
    }
    return true;
  }
  bool OnlyNumeratorPrimary(const std::vector<SystemCellRef>& sources) const {
    if (sources.size() != 2) return false;
    return StateOf(sources[0]) == CellState::kPrimary &&
           StateOf(sources[1]) == CellState::kPublished;
  }
  double RoundedCount(const SystemCellRef& ref) const {
    return static_cast<double>(
        Rounded(std::llround(count_cells_[static_cast<size_t>(ref.index)].value)));
  }
  int64_t Rounded(int64_t count) const {
    if (policy_.rounding_base <= 1 || count == 0) return count;
    const int64_t base = policy_.rounding_base;
    return std::max<int64_t>(base, (count + base / 2) / base * base);
  }

  const policy::AnalysisPolicy& policy_;
  const std::vector<PublishedCell>& count_cells_;
  const Protection& counts_;
  const Protection& sums_;
  double as_if_ = -1;  // negative: show `*`
};

}  // namespace

DisclosureRules RulesOf(const policy::AnalysisPolicy& policy) {
  DisclosureRules rules;
  rules.min_cell = policy.min_cell;
  rules.dominance_n = policy.dominance_n;
  rules.dominance_k = policy.dominance_k;
  rules.secondary = policy.secondary_suppression;
  return rules;
}

namespace {

// Metadata every release carries, whatever protected it.
v1::Release NewRelease(const AnalysisResult& result, const policy::AnalysisPolicy& policy,
                       const ReleaseContext& context) {
  v1::Release release;
  v1::ReleaseMetadata* meta = release.mutable_metadata();
  meta->set_covenant_id(context.covenant_id);
  meta->set_analysis(context.analysis);
  meta->set_spec_sha256(context.spec_sha256);
  meta->set_prices_sha256(context.prices_sha256);
  meta->set_recipient(context.recipient);
  for (absl::CivilDay date : context.reference_dates) {
    *meta->add_reference_dates() = ToProtoDate(date);
    meta->add_legacy_reference_dates(IsoDate(date));  // clients from before Date
  }
  for (const DatasetUse& use : result.datasets) {
    v1::DeliveryUsed* used = meta->add_deliveries();
    used->set_dataset(use.dataset);
    used->set_batches(use.batches);
    used->set_records(use.records);
  }
  meta->set_min_cell(policy.min_cell);
  meta->set_suppressed_percent(policy.suppressed_percent);
  for (const std::string& warning : result.warnings) meta->add_warnings(warning);
  *meta->mutable_release_time() =
      ToProtoTimestamp(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())));
  meta->set_legacy_released_at(IsoTime(meta->release_time()));  // clients from before Timestamp
  return release;
}

// The tables, each cell released by `release_cell`, which returns whether it shows `*`.
template <typename ReleaseCell>
void AddTables(const AnalysisResult& result, const ReleaseCell& release_cell,
               v1::Release* release) {
  for (const ResultTable& table : result.tables) {
    v1::ReleasedTable* out = release->add_tables();
    out->set_name(table.name);
    out->set_title(table.title);
    out->set_row_heading(table.row_heading);
    for (const std::string& column : table.columns) out->add_columns(column);
    int64_t suppressed = 0;
    for (const ResultRow& row : table.rows) {
      v1::ReleasedRow* released_row = out->add_rows();
      released_row->set_label(row.label);
      for (const ResultCell& cell : row.cells) {
        if (release_cell(cell, released_row->add_cells())) ++suppressed;
      }
    }
    out->set_cells_suppressed(suppressed);
  }
}

// The cell key method's published counts: each count cell perturbed by the keys of its atoms.
class PerturbedReleaser {
 public:
  PerturbedReleaser(const AnalysisResult& result, const Protection& protection,
                    const PerturbationTable& table, const policy::AnalysisPolicy& policy)
      : policy_(policy), protection_(protection) {
    for (const PublishedCell& cell : result.count_cells) {
      uint32_t key = 0;
      for (uint32_t atom : cell.atoms) key += result.atoms[atom].key_sum;
      counts_.push_back(table.Perturb(std::llround(cell.value), key));
    }
  }

  int64_t suppressed() const { return suppressed_; }

  bool Release(const ResultCell& cell, v1::ReleasedCell* out) {
    switch (cell.kind) {
      case ResultKind::kEmpty:
        return false;
      case ResultKind::kCount: {
        if (!Published(cell.sources[0])) return Suppress(out);
        const int64_t count = Count(cell.sources[0]);
        if (TooSmall(count)) return Suppress(out);
        out->set_count(count);
        return false;
      }
      case ResultKind::kPercent: {
        if (!Published(cell.sources[0]) || !Published(cell.sources[1])) return Suppress(out);
        const int64_t part = Count(cell.sources[0]);
        const int64_t whole = Count(cell.sources[1]);
        if (TooSmall(part) || TooSmall(whole)) return Suppress(out);
        if (whole == 0) return false;  // no population after perturbation: not applicable
        out->set_percent(
            RoundTo(100.0 * static_cast<double>(part) / static_cast<double>(whole), 1));
        return false;
      }
      case ResultKind::kAmount:
      case ResultKind::kRatio:
        return Suppress(out);  // unreachable: costs are refused
      case ResultKind::kPm:
        out->set_pm(true);
        return false;
    }
    return false;
  }

 private:
  int64_t Count(const SystemCellRef& ref) const { return counts_[static_cast<size_t>(ref.index)]; }
  bool Published(const SystemCellRef& ref) const {
    return protection_.state[static_cast<size_t>(ref.index)] == CellState::kPublished;
  }
  bool TooSmall(int64_t count) const { return count > 0 && count < policy_.min_cell; }
  bool Suppress(v1::ReleasedCell* out) {
    out->set_suppressed(true);
    ++suppressed_;
    return true;
  }

  const policy::AnalysisPolicy& policy_;
  const Protection& protection_;
  std::vector<int64_t> counts_;
  int64_t suppressed_ = 0;
};

}  // namespace

absl::StatusOr<v1::Release> BuildRelease(const AnalysisResult& result,
                                         const ProtectedRelease& protection,
                                         const policy::AnalysisPolicy& policy,
                                         const ReleaseContext& context) {
  const Protection& counts = protection.counts;
  const Protection& sums = protection.sums;
  Releaser releaser(policy, result.count_cells, counts, sums);
  v1::Release release = NewRelease(result, policy, context);
  v1::ReleaseMetadata* meta = release.mutable_metadata();
  meta->set_mode(v1::RELEASE_MODE_EXACT);
  meta->set_approved_analysis(context.approved_analysis);
  meta->set_dominance(fmt::format("({}, {:g}%)", policy.dominance_n, policy.dominance_k * 100));
  meta->set_cells_suppressed_primary(counts.primary + sums.primary);
  meta->set_cells_suppressed_secondary(counts.secondary + sums.secondary);
  meta->set_cells_suppressed_history(protection.suppressed_for_history);
  meta->set_implied_groups_protected(protection.implied_groups);
  if (policy.rounding_base > 1) {
    meta->add_warnings(fmt::format("counts are rounded to multiples of {}", policy.rounding_base));
  }
  if (policy.max_contribution_eur) {
    meta->add_warnings(fmt::format("no household contributes more than EUR {:.2f} to a cost item",
                                   *policy.max_contribution_eur));
  }
  if (protection.determined_earlier > 0) {
    meta->add_warnings(fmt::format(
        "{} small counts were already determined by earlier releases (published under other "
        "rules); nothing this release suppresses can protect them",
        protection.determined_earlier));
  }
  AddTables(
      result,
      [&releaser](const ResultCell& cell, v1::ReleasedCell* out) {
        return releaser.Release(cell, out);
      },
      &release);
  return release;
}

absl::StatusOr<v1::Release> ProtectAndRelease(const AnalysisResult& result,
                                              const policy::AnalysisPolicy& policy,
                                              const ReleaseContext& context) {
  ASSIGN_OR_RETURN(ProtectedRelease protection, ProtectRelease(result, {}, RulesOf(policy)));
  return BuildRelease(result, protection, policy, context);
}

absl::StatusOr<v1::Release> BuildPerturbedRelease(const AnalysisResult& result,
                                                  const ProtectedRelease& protection,
                                                  const PerturbationTable& table,
                                                  const policy::AnalysisPolicy& policy,
                                                  const ReleaseContext& context) {
  if (!result.sum_cells.empty()) {
    return absl::InvalidArgumentError(
        "a perturbed release cannot hold costs: sums are not perturbed");
  }
  PerturbedReleaser releaser(result, protection.counts, table, policy);
  v1::Release release = NewRelease(result, policy, context);
  v1::ReleaseMetadata* meta = release.mutable_metadata();
  meta->set_mode(v1::RELEASE_MODE_PERTURBED);
  meta->set_perturbation_table_sha256(table.sha256());
  meta->set_perturbation_max_noise(table.max_noise());
  meta->add_warnings(fmt::format(
      "counts are perturbed (cell key method): each differs from the true count by at most {}; "
      "the same households always get the same noise; totals need not equal the sum of their "
      "parts",
      table.max_noise()));
  AddTables(
      result,
      [&releaser](const ResultCell& cell, v1::ReleasedCell* out) {
        return releaser.Release(cell, out);
      },
      &release);
  meta->set_cells_suppressed_primary(protection.counts.primary);
  meta->set_cells_suppressed_secondary(protection.counts.secondary);
  meta->set_cells_suppressed_history(protection.suppressed_for_history);
  meta->set_implied_groups_protected(protection.implied_groups);
  meta->set_cells_suppressed_perturbed(releaser.suppressed());
  return release;
}

}  // namespace koppel::analysis

#include "linker/analysis/release.h"

#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "core/status_macros.h"

namespace koppel {
namespace {

double RoundTo(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

class Releaser {
 public:
  Releaser(const AnalysisPolicy& policy, const Protection& counts, const Protection& sums)
      : policy_(policy), counts_(counts), sums_(sums) {
    if (policy.suppressed_percent.starts_with("as_if:")) {
      as_if_ = std::stod(policy.suppressed_percent.substr(6));
    }
  }

  // Fills `out`; returns whether the cell is shown as suppressed.
  bool Release(const ResultCell& cell, v1::ReleasedCell* out) const {
    switch (cell.kind) {
      case ResultKind::kEmpty: return false;
      case ResultKind::kCount:
        if (!AllPublished(cell.sources)) return Suppress(out);
        out->set_count(Rounded(static_cast<int64_t>(std::llround(cell.value))));
        return false;
      case ResultKind::kAmount:
        if (!AllPublished(cell.sources)) return Suppress(out);
        out->set_amount(RoundTo(cell.value, 2));
        return false;
      case ResultKind::kPercent:
        if (AllPublished(cell.sources)) {
          out->set_percent(RoundTo(cell.value, 1));
          return false;
        }
        // The Almelo practice: a too-small count's percentage as if the count were N. Only when
        // the denominator is released and the count itself is the only (primary) reason.
        if (as_if_ >= 0 && OnlyNumeratorPrimary(cell.sources)) {
          out->set_percent(RoundTo(100.0 * as_if_ / cell.denominator, 1));
          return false;
        }
        return Suppress(out);
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
    return StateOf(sources[0]) == CellState::kPrimary && StateOf(sources[1]) == CellState::kPublished;
  }
  int64_t Rounded(int64_t count) const {
    if (policy_.rounding_base <= 1 || count == 0) return count;
    const int64_t base = policy_.rounding_base;
    return std::max<int64_t>(base, (count + base / 2) / base * base);
  }

  const AnalysisPolicy& policy_;
  const Protection& counts_;
  const Protection& sums_;
  double as_if_ = -1;  // negative: show `*`
};

}  // namespace

DisclosureRules RulesOf(const AnalysisPolicy& policy) {
  DisclosureRules rules;
  rules.min_cell = policy.min_cell;
  rules.dominance_n = policy.dominance_n;
  rules.dominance_k = policy.dominance_k;
  rules.secondary = policy.secondary_suppression;
  return rules;
}

absl::StatusOr<v1::Release> ProtectAndRelease(const AnalysisResult& result,
                                              const AnalysisPolicy& policy,
                                              const ReleaseContext& context) {
  const DisclosureRules rules = RulesOf(policy);
  ASSIGN_OR_RETURN(Protection counts, ProtectCells(result.count_cells, result.count_atoms, rules));
  ASSIGN_OR_RETURN(Protection sums, ProtectCells(result.sum_cells, result.sum_atoms, rules));
  Releaser releaser(policy, counts, sums);

  v1::Release release;
  v1::ReleaseMetadata* meta = release.mutable_metadata();
  meta->set_covenant_id(context.covenant_id);
  meta->set_analysis(context.analysis);
  meta->set_spec_sha256(context.spec_sha256);
  meta->set_recipient(context.recipient);
  for (const std::string& date : context.reference_dates) meta->add_reference_dates(date);
  for (const DatasetUse& use : result.datasets) {
    v1::DeliveryUsed* used = meta->add_deliveries();
    used->set_dataset(use.dataset);
    used->set_batches(use.batches);
    used->set_records(use.records);
  }
  meta->set_min_cell(policy.min_cell);
  meta->set_dominance(fmt::format("({}, {:g}%)", policy.dominance_n, policy.dominance_k * 100));
  meta->set_suppressed_percent(policy.suppressed_percent);
  meta->set_cells_suppressed_primary(counts.primary + sums.primary);
  meta->set_cells_suppressed_secondary(counts.secondary + sums.secondary);
  for (const std::string& warning : result.warnings) meta->add_warnings(warning);
  if (policy.rounding_base > 1) {
    meta->add_warnings(fmt::format("counts are rounded to multiples of {}", policy.rounding_base));
  }
  if (policy.max_contribution_eur) {
    meta->add_warnings(fmt::format("no household contributes more than EUR {:.2f} to a cost item",
                                   *policy.max_contribution_eur));
  }
  meta->set_released_at(UtcNow());

  for (const ResultTable& table : result.tables) {
    v1::ReleasedTable* out = release.add_tables();
    out->set_name(table.name);
    out->set_title(table.title);
    out->set_row_heading(table.row_heading);
    for (const std::string& column : table.columns) out->add_columns(column);
    int64_t suppressed = 0;
    for (const ResultRow& row : table.rows) {
      v1::ReleasedRow* released_row = out->add_rows();
      released_row->set_label(row.label);
      for (const ResultCell& cell : row.cells) {
        if (releaser.Release(cell, released_row->add_cells())) ++suppressed;
      }
    }
    out->set_cells_suppressed(suppressed);
  }
  return release;
}

}  // namespace koppel

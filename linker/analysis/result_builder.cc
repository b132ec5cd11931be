#include "linker/analysis/result_builder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>
#include <optional>
#include <tuple>

#include "core/status_macros.h"
#include "linker/analysis/household_class.h"
#include "linker/analysis/released_labels.h"

namespace koppel::analysis {
namespace {

template <typename T>
std::vector<T> Joined(std::vector<T> a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

template <size_t W>
IndicatorBits<W> ResultBuilder<W>::Flags(const IndicatorBits<W>& indicators) const {
  return FlagsOf(spec_, operand_, indicators);
}

template <size_t W>
bool ResultBuilder<W>::Matches(const Selection& selection, const Atom& atom) const {
  if (!selection.household_type.empty() &&
      atom.key.type != type_index_.at(selection.household_type)) {
    return false;
  }
  for (const std::string& name : selection.all) {
    if (!Holds(name, atom.key.indicators, atom.flags)) return false;
  }
  if (!selection.any.empty()) {
    bool any = false;
    for (const std::string& name : selection.any)
      any = any || Holds(name, atom.key.indicators, atom.flags);
    if (!any) return false;
  }
  for (const std::string& name : selection.none) {
    if (Holds(name, atom.key.indicators, atom.flags)) return false;
  }
  return true;
}

template <size_t W>
uint16_t ResultBuilder<W>::TypeOf(const HouseholdAccumulator& household) const {
  return HouseholdTypeOf(spec_, household.adults, household.children);
}

template <size_t W>
void ResultBuilder<W>::CollectPredicates() {
  for (const TableSpec& table : spec_.tables) {
    if (!table.population.empty()) AddPredicates(Population(table));
    for (const RowSpec& row : table.row_selections) AddPredicates(row.where);
    for (const CountColumn& column : table.columns) AddPredicates(column.where);
    for (const RowSpec& column : table.cost_columns) AddPredicates(column.where);
    for (const std::string& flag : table.flags) {
      Selection selection;
      selection.all = {flag};
      AddPredicates(selection);
    }
    if (table.kind == TableKind::kCostBenefit && spec_.cost_benefit) {
      // The groups the cost-benefit cells are made of, for the implied cells of disclosure control.
      Selection groups;
      groups.all = {spec_.indicators[spec_.cost_benefit->cohort_bit].name};
      if (spec_.cost_benefit->comparison) {
        groups.all.push_back(spec_.indicators[spec_.cost_benefit->comparison_bit].name);
      }
      AddPredicates(groups);
    }
  }
}

template <size_t W>
void ResultBuilder<W>::AddPredicates(const Selection& selection) {
  auto add = [this](Predicate predicate) {
    for (const Predicate& p : predicates_) {
      if (p.name == predicate.name && p.any == predicate.any) return;
    }
    predicates_.push_back(std::move(predicate));
  };
  for (const std::string& name : selection.all) add({name, {}});
  for (const std::string& name : selection.none) add({name, {}});
  if (selection.any.size() == 1) add({selection.any[0], {}});
  if (selection.any.size() > 1) {
    std::vector<std::string> any = selection.any;
    std::sort(any.begin(), any.end());
    any.erase(std::unique(any.begin(), any.end()), any.end());
    add({"", std::move(any)});
  }
}

template <size_t W>
void ResultBuilder<W>::Describe(AnalysisResult* result) const {
  for (const Predicate& p : predicates_) {
    result->predicates.push_back(p.name.empty() ? fmt::format("any({})", fmt::join(p.any, ", "))
                                                : p.name);
  }
  result->area_codes = area_codes_;
  for (const HouseholdTypeSpec& type : spec_.household_types) {
    result->household_types.push_back(type.name);
  }
  const size_t words = (predicates_.size() + 63) / 64;
  result->atoms.reserve(atoms_.size());
  for (size_t a = 0; a < atoms_.size(); ++a) {
    const Atom& atom = atoms_[a];
    AtomDescription d;
    d.date = atom.key.date;
    d.area = atom.key.area;
    d.type = atom.key.type;
    d.households = atom.households;
    d.key_sum = key_sums_[a];
    d.holds.assign(words, 0);
    for (size_t p = 0; p < predicates_.size(); ++p) {
      const Predicate& predicate = predicates_[p];
      bool holds = false;
      if (predicate.name.empty()) {
        for (const std::string& name : predicate.any) {
          holds = holds || Holds(name, atom.key.indicators, atom.flags);
        }
      } else {
        holds = Holds(predicate.name, atom.key.indicators, atom.flags);
      }
      if (holds) d.holds[p / 64] |= uint64_t{1} << (p % 64);
    }
    result->atoms.push_back(std::move(d));
  }
  const size_t items = spec_.cost_items.size();
  result->group_items.assign(GroupCount(), {});
  for (size_t item = 0; item < items; ++item) {
    result->group_items[item].push_back(static_cast<uint16_t>(item));
    if (!InTotal(item)) continue;
    result->group_items[PayerGroup(spec_.cost_items[item].payer)].push_back(
        static_cast<uint16_t>(item));
    result->group_items[AllGroup()].push_back(static_cast<uint16_t>(item));
  }
  for (size_t g = 0; g < extra_groups_.size(); ++g) {
    for (size_t item : extra_groups_[g]) {
      result->group_items[AllGroup() + 1 + g].push_back(static_cast<uint16_t>(item));
    }
  }
  result->group_stats.resize(atoms_.size() * GroupCount());
  for (size_t a = 0; a < atoms_.size(); ++a) {
    for (size_t g = 0; g < GroupCount(); ++g) {
      const MoneyStats& money = money_[a][g];
      SumAtomStats& stats = result->group_stats[a * GroupCount() + g];
      stats.contributors = money.contributors;
      stats.cents = money.cents;
      stats.largest = money.largest;
    }
  }
  result->sum_atom_stats.resize(atoms_.size() * items);
  for (size_t a = 0; a < atoms_.size(); ++a) {
    for (size_t item = 0; item < items; ++item) {
      const MoneyStats& money = money_[a][item];
      SumAtomStats& stats = result->sum_atom_stats[a * items + item];
      stats.contributors = money.contributors;
      stats.cents = money.cents;
      stats.largest = money.largest;
    }
  }
}

template <size_t W>
void ResultBuilder<W>::AddHousehold(uint16_t date, const HouseholdKey& key,
                                    const HouseholdAccumulator& household,
                                    const CostVolumes* volumes) {
  // Units-priced items hold once per household with the indicator.
  std::vector<double>& cost = cost_;
  cost.assign(spec_.cost_items.size(), 0);
  if (volumes != nullptr) {
    for (const auto& [item, volume] : *volumes) cost[item] += volume;
  }
  for (size_t item = 0; item < spec_.cost_items.size(); ++item) {
    const CostItemSpec& spec = spec_.cost_items[item];
    if (spec.volume == CostItemSpec::Volume::kUnits) {
      cost[item] = household.indicators.Test(unit_indicator_[item]) ? 1 : 0;
    }
    if (spec.volume != CostItemSpec::Volume::kAmount) cost[item] *= item_price_[item];
    if (options_.max_contribution_eur)
      cost[item] = std::min(cost[item], *options_.max_contribution_eur);
  }
  const AtomKey atom_key{date, household.area, TypeOf(household), household.indicators};
  auto [it, inserted] = atom_index_.try_emplace(atom_key, static_cast<uint32_t>(atoms_.size()));
  if (inserted) {
    atoms_.push_back({atom_key, Flags(atom_key.indicators), 0});
    money_.emplace_back(GroupCount());
    key_sums_.push_back(0);
  }
  Atom& atom = atoms_[it->second];
  ++atom.households;
  if (options_.record_key) {
    key_sums_[it->second] += options_.record_key(std::string_view(key.data(), key.size()));
  }
  if (options_.keep_units) {
    ResultUnit unit;
    unit.household = key;
    unit.day = reference_days_[date];
    unit.atom = it->second;
    for (size_t item = 0; item < cost.size(); ++item) {
      if (cost[item] != 0) unit.cents.emplace_back(item, std::llround(cost[item] * 100));
    }
    units_.push_back(std::move(unit));
  }
  std::vector<MoneyStats>& money = money_[it->second];
  const size_t keep = static_cast<size_t>(std::max(options_.largest_kept, 1));
  std::vector<double>& by_group = by_group_;
  by_group.assign(GroupCount(), 0);
  for (size_t item = 0; item < cost.size(); ++item) {
    if (cost[item] == 0) continue;
    by_group[item] += cost[item];
    // A group of several cost-benefit items adds up their amounts as rounded per item.
    for (size_t g : item_extra_groups_[item]) {
      by_group[g] += static_cast<double>(std::llround(cost[item] * 100)) / 100.0;
    }
    if (!InTotal(item)) continue;
    by_group[payer_group_[item]] += cost[item];
    by_group[AllGroup()] += cost[item];
  }
  for (size_t g = 0; g < by_group.size(); ++g) {
    if (by_group[g] != 0) money[g].Add(by_group[g], keep);
  }
}

template <size_t W>
int ResultBuilder<W>::CountCell(const AtomTest& test, bool is_total) {
  PublishedCell cell;
  cell.kind = CellKind::kCount;
  for (uint32_t a = 0; a < atoms_.size(); ++a) {
    if (!test(atoms_[a])) continue;
    cell.atoms.push_back(a);
    cell.value += static_cast<double>(atoms_[a].households);
  }
  auto [it, inserted] = count_cell_index_.try_emplace(cell.atoms, 0);
  if (inserted) {
    cell.is_total = is_total;
    it->second = static_cast<int>(result_->count_cells.size());
    result_->count_cells.push_back(std::move(cell));
  } else if (is_total) {
    result_->count_cells[static_cast<size_t>(it->second)].is_total = true;
  }
  return it->second;
}

template <size_t W>
int ResultBuilder<W>::SumCell(const AtomTest& test, const std::vector<size_t>& items, size_t group,
                              bool is_total) {
  PublishedCell cell;
  cell.kind = CellKind::kSum;
  std::vector<uint32_t> atoms;
  int64_t cents = 0;
  for (uint32_t a = 0; a < atoms_.size(); ++a) {
    if (!test(atoms_[a])) continue;
    atoms.push_back(a);
    const MoneyStats& stats = money_[a][group];
    cents += stats.cents;
    cell.contributors += stats.contributors;
    cell.largest.insert(cell.largest.end(), stats.largest.begin(), stats.largest.end());
  }
  cell.value = static_cast<double>(cents) / 100.0;
  std::sort(cell.largest.begin(), cell.largest.end(), std::greater<>());
  if (cell.largest.size() > static_cast<size_t>(options_.largest_kept)) {
    cell.largest.resize(static_cast<size_t>(options_.largest_kept));
  }
  // Sum atoms are (atom, item) pairs.
  for (uint32_t a : atoms) {
    for (size_t item : items) {
      cell.atoms.push_back(static_cast<uint32_t>(a * spec_.cost_items.size() + item));
    }
  }
  std::sort(cell.atoms.begin(), cell.atoms.end());
  auto [it, inserted] = sum_cell_index_.try_emplace({cell.atoms, group}, 0);
  if (inserted) {
    cell.is_total = is_total;
    it->second = static_cast<int>(result_->sum_cells.size());
    result_->sum_cells.push_back(std::move(cell));
    result_->sum_cell_group.push_back(static_cast<uint16_t>(group));
  }
  return it->second;
}

template <size_t W>
ResultCell ResultBuilder<W>::Count(const AtomTest& test, bool is_total) {
  const int index = CountCell(test, is_total);
  ResultCell cell;
  cell.kind = ResultKind::kCount;
  cell.value = result_->count_cells[static_cast<size_t>(index)].value;
  cell.sources.push_back({SystemCellRef::System::kCounts, index});
  return cell;
}

template <size_t W>
ResultCell ResultBuilder<W>::Percent(const ResultCell& part, const ResultCell& whole) {
  ResultCell cell;
  if (whole.value == 0) return cell;  // empty: no population
  cell.kind = ResultKind::kPercent;
  cell.value = 100.0 * part.value / whole.value;
  cell.denominator = whole.value;
  cell.sources = part.sources;
  cell.sources.insert(cell.sources.end(), whole.sources.begin(), whole.sources.end());
  return cell;
}

template <size_t W>
absl::Status ResultBuilder<W>::CountsTable(const TableSpec& table, ResultTable* out) {
  const Selection& population = Population(table);
  struct Row {
    std::string label;
    AtomTest test;
    bool total;
  };
  std::vector<Row> rows;
  if (!table.total_label.empty())
    rows.push_back({table.total_label, [](const Atom&) { return true; }, true});
  if (table.rows == Dimension::kArea) {
    out->row_heading = "area";
    std::vector<uint16_t> order(area_codes_.size());
    for (size_t a = 0; a < order.size(); ++a) order[a] = static_cast<uint16_t>(a);
    std::sort(order.begin(), order.end(),
              [&](uint16_t x, uint16_t y) { return area_codes_[x] < area_codes_[y]; });
    for (uint16_t area : order) {
      auto label = spec_.area_labels.find(area_codes_[area]);
      rows.push_back({label == spec_.area_labels.end() ? area_codes_[area] : label->second,
                      [area](const Atom& atom) { return atom.key.area == area; }, false});
    }
  } else if (table.rows == Dimension::kHouseholdType) {
    out->row_heading = "household_type";
    for (size_t t = 0; t < spec_.household_types.size(); ++t) {
      rows.push_back({spec_.household_types[t].name,
                      [t](const Atom& atom) { return atom.key.type == t; }, false});
    }
  } else {
    out->row_heading = "";
    for (const RowSpec& row : table.row_selections) {
      rows.push_back({row.label,
                      [this, where = row.where](const Atom& atom) { return Matches(where, atom); },
                      false});
    }
  }
  for (const CountColumn& column : table.columns) {
    if (column.percent) {
      out->columns.push_back(column.label + std::string(kCountSuffix));
      out->columns.push_back(column.label + std::string(kPercentSuffix));
    } else {
      out->columns.push_back(column.label);
    }
  }
  for (const Row& row : rows) {
    ResultRow result_row;
    result_row.label = row.label;
    for (const CountColumn& column : table.columns) {
      const uint16_t date = static_cast<uint16_t>(column.reference);
      auto base = [&, date](const Atom& atom) {
        return atom.key.date == date && row.test(atom) && Matches(population, atom);
      };
      ResultCell whole = Count(base, row.total);
      ResultCell part = Count(
          [&](const Atom& atom) { return base(atom) && Matches(column.where, atom); }, row.total);
      result_row.cells.push_back(part);
      if (column.percent) result_row.cells.push_back(Percent(part, whole));
    }
    out->rows.push_back(std::move(result_row));
  }
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::OverlapTable(const TableSpec& table, ResultTable* out) {
  const Selection& population = Population(table);
  out->row_heading = "row";
  out->columns = table.flags;
  auto in_population = [&](const Atom& atom) {
    return atom.key.date == 0 && Matches(population, atom);
  };
  auto has = [&](const std::string& flag, const Atom& atom) {
    return Holds(flag, atom.key.indicators, atom.flags);
  };
  auto add_row = [&](std::string label,
                     const std::function<std::optional<AtomTest>(const std::string&)>& test) {
    ResultRow row;
    row.label = std::move(label);
    for (const std::string& flag : table.flags) {
      std::optional<AtomTest> t = test(flag);
      row.cells.push_back(
          t ? Count([&](const Atom& atom) { return in_population(atom) && (*t)(atom); }, false)
            : ResultCell{});
    }
    out->rows.push_back(std::move(row));
  };
  add_row(std::string(kOverlapNoneRow), [&](const std::string& flag) -> std::optional<AtomTest> {
    return [&, flag](const Atom& atom) { return !has(flag, atom); };
  });
  add_row(std::string(kOverlapAnyRow), [&](const std::string& flag) -> std::optional<AtomTest> {
    return [&, flag](const Atom& atom) { return has(flag, atom); };
  });
  add_row(std::string(kOverlapOnlyRow), [&](const std::string& flag) -> std::optional<AtomTest> {
    return [&, flag](const Atom& atom) {
      if (!has(flag, atom)) return false;
      for (const std::string& other : table.flags) {
        if (other != flag && has(other, atom)) return false;
      }
      return true;
    };
  });
  for (const std::string& other : table.flags) {
    add_row(OverlapAlsoRow(other), [&, other](const std::string& flag) -> std::optional<AtomTest> {
      if (flag == other) return std::nullopt;
      return [&, flag, other](const Atom& atom) { return has(flag, atom) && has(other, atom); };
    });
  }
  add_row(std::string(kOverlapAllRow), [&](const std::string&) -> std::optional<AtomTest> {
    return [&](const Atom& atom) {
      for (const std::string& flag : table.flags) {
        if (!has(flag, atom)) return false;
      }
      return true;
    };
  });
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::CostsTable(const TableSpec& table, ResultTable* out) {
  const Selection& population = Population(table);
  out->row_heading = table.by_payer ? "payer" : "item";
  struct Row {
    std::string label;
    std::vector<size_t> items;
    size_t group;
    bool total;
  };
  std::vector<Row> rows;
  std::vector<size_t> all_items;  // those in the total
  for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
    if (InTotal(i)) all_items.push_back(i);
  }
  if (table.by_payer) {
    for (const std::string& payer : payers_) {
      Row row{payer, {}, PayerGroup(payer), false};
      for (size_t i : all_items) {
        if (spec_.cost_items[i].payer == payer) row.items.push_back(i);
      }
      rows.push_back(std::move(row));
    }
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {  // items apart: their own rows
      if (!spec_.cost_items[i].in_total && !spec_.cost_items[i].cost_benefit()) {
        rows.push_back({spec_.cost_items[i].name, {i}, i, false});
      }
    }
  } else {
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
      if (!spec_.cost_items[i].cost_benefit()) {
        rows.push_back({spec_.cost_items[i].name, {i}, i, false});
      }
    }
  }
  rows.push_back({CostsTotalRow(table.total_label), all_items, AllGroup(), true});

  for (const RowSpec& column : table.cost_columns) {
    out->columns.push_back(column.label + std::string(kSumSuffix));
    out->columns.push_back(column.label + std::string(kMeanSuffix));
  }
  auto& registry = cost_tables_[table.name];
  ResultRow households_row;
  households_row.label = std::string(kCostsHouseholdsRow);
  for (const RowSpec& column : table.cost_columns) {
    AtomTest test = [&, where = column.where](const Atom& atom) {
      return atom.key.date == 0 && Matches(population, atom) && Matches(where, atom);
    };
    ResultCell count = Count(test, true);
    households_row.cells.push_back(count);
    households_row.cells.push_back(ResultCell{});
    CostColumnCells& cells = registry[column.label];
    cells.where = column.where;
    cells.households = count.sources[0].index;
    cells.households_value = count.value;
  }
  out->rows.push_back(std::move(households_row));
  for (const Row& row : rows) {
    ResultRow result_row;
    result_row.label = row.label;
    for (const RowSpec& column : table.cost_columns) {
      AtomTest test = [&, where = column.where](const Atom& atom) {
        return atom.key.date == 0 && Matches(population, atom) && Matches(where, atom);
      };
      const int index = SumCell(test, row.items, row.group, row.total);
      const double value = result_->sum_cells[static_cast<size_t>(index)].value;
      CostColumnCells& cells = registry[column.label];
      ResultCell sum;
      sum.kind = ResultKind::kAmount;
      sum.value = value;
      sum.sources.push_back({SystemCellRef::System::kSums, index});
      ResultCell mean;
      if (cells.households_value > 0) {
        mean.kind = ResultKind::kAmount;
        mean.value = value / cells.households_value;
        mean.sources = sum.sources;
        mean.sources.push_back({SystemCellRef::System::kCounts, cells.households});
      }
      result_row.cells.push_back(sum);
      result_row.cells.push_back(mean);
      if (row.total) {
        cells.total = index;
        cells.total_value = value;
      } else if (!table.by_payer) {
        cells.item_sums[row.items[0]] = {index, value};
      }
    }
    out->rows.push_back(std::move(result_row));
  }
  if (table.by_payer) {  // sensitivity needs the per-item sums
    for (const RowSpec& column : table.cost_columns) {
      AtomTest test = [&, where = column.where](const Atom& atom) {
        return atom.key.date == 0 && Matches(population, atom) && Matches(where, atom);
      };
      CostColumnCells& cells = registry[column.label];
      for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
        if (spec_.cost_items[i].cost_benefit()) continue;
        const int index = SumCell(test, {i}, i, false);
        cells.item_sums[i] = {index, result_->sum_cells[static_cast<size_t>(index)].value};
      }
    }
  }
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::SensitivityTable(const TableSpec& table, ResultTable* out) {
  auto costs = cost_tables_.find(table.costs_table);
  if (costs == cost_tables_.end() || !costs->second.contains(table.mean_of)) {
    return absl::InvalidArgumentError(fmt::format(
        "table '{}' varies column '{}' of costs table '{}', which is not an earlier costs table "
        "with that column",
        table.name, table.mean_of, table.costs_table));
  }
  const CostColumnCells& cells = costs->second.at(table.mean_of);
  out->row_heading = std::string(kSensitivityRowHeading);
  out->columns = {std::string(kSensitivityBaseColumn), std::string(kSensitivityLowColumn),
                  std::string(kSensitivityHighColumn)};
  if (cells.households_value == 0) return absl::OkStatus();
  const double n = cells.households_value;
  const double base = cells.total_value / n;
  auto derived = [&](double value, const std::vector<SystemCellRef>& sources) {
    ResultCell cell;
    cell.kind = ResultKind::kAmount;
    cell.value = value;
    cell.sources = sources;
    return cell;
  };
  const std::vector<SystemCellRef> base_sources = {
      {SystemCellRef::System::kSums, cells.total},
      {SystemCellRef::System::kCounts, cells.households}};
  double lowest = base, highest = base;
  std::vector<SystemCellRef> all_sources = base_sources;
  for (const SensitivitySpec& variation : spec_.sensitivity) {
    double varied = 0;  // the euros that scale with the factor
    std::vector<SystemCellRef> sources = base_sources;
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
      const CostItemSpec& item = spec_.cost_items[i];
      if (!InTotal(i)) continue;  // not in the mean varied
      double share = 0;
      if (!variation.item.empty()) {
        share = item.name == variation.item ? 1 : 0;
      } else if (item.volume != CostItemSpec::Volume::kAmount && item_price_[i] > 0) {
        for (const std::string& p : item.prices) {
          if (p == variation.price) share += *prices_.items.at(p).price / item_price_[i];
        }
      }
      if (share == 0) continue;
      auto [index, value] = cells.item_sums.at(i);
      varied += share * value;
      sources.push_back({SystemCellRef::System::kSums, index});
    }
    const double low = base + (variation.low - 1.0) * varied / n;
    const double high = base + (variation.high - 1.0) * varied / n;
    lowest = std::min(lowest, low);
    highest = std::max(highest, high);
    all_sources.insert(all_sources.end(), sources.begin(), sources.end());
    out->rows.push_back(
        {variation.label,
         {derived(base, base_sources), derived(low, sources), derived(high, sources)}});
  }
  out->rows.push_back(
      {std::string(kSensitivityRangeRow),
       {derived(base, base_sources), derived(lowest, all_sources), derived(highest, all_sources)}});
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Cost-benefit tables (docs/analysis.md, "Cost-benefit"). Every figure is computed from sum
// cells of the cohort and the comparison group (and their count cells when it scales one to
// the other), all of them listed as its sources, so that it is released only when all are.

template <size_t W>
void ResultBuilder<W>::LayOutCostBenefit(const CostBenefitSpec& cb) {
  const std::vector<int> years = cb.Years();
  outcome_items_.assign(cb.outcomes.size(), std::vector<size_t>(years.size(), SIZE_MAX));
  intervention_items_.assign(cb.costs.size(), SIZE_MAX);
  for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
    const CostItemSpec& item = spec_.cost_items[i];
    if (!item.cost_benefit()) continue;
    if (item.intervention >= 0) {
      const auto c = static_cast<size_t>(item.intervention);
      if (c < intervention_items_.size()) intervention_items_[c] = i;
      continue;
    }
    auto year = std::find(years.begin(), years.end(), item.relative_year);
    const auto o = static_cast<size_t>(item.outcome);
    if (item.outcome >= 0 && o < outcome_items_.size() && year != years.end()) {
      outcome_items_[o][static_cast<size_t>(year - years.begin())] = i;
    }
  }
  auto add_payer = [this](const std::string& payer) {
    if (std::find(cb_payers_.begin(), cb_payers_.end(), payer) == cb_payers_.end()) {
      cb_payers_.push_back(payer);
    }
  };
  for (size_t o = 0; o < cb.outcomes.size(); ++o) {
    if (Valued(o)) add_payer(OutcomePayer(o));
  }
  for (size_t item : intervention_items_) {
    if (item != SIZE_MAX) add_payer(spec_.cost_items[item].payer);
  }
  // Every group a table sums over, made now so that households add to them.
  for (size_t o = 0; o < cb.outcomes.size(); ++o) {
    if (!Valued(o)) continue;
    for (const CostBenefitWindow& window : cb.windows) WindowItems(o, window);
  }
  for (const std::string& payer : cb_payers_) {
    OutcomeYears([&](size_t o) { return OutcomePayer(o) == payer; });
    CostItems([&](size_t c) { return spec_.cost_items[intervention_items_[c]].payer == payer; });
  }
  OutcomeYears([](size_t) { return true; });
  CostItems([](size_t) { return true; });
  for (const CostBenefitRange& range : cb.sensitivity) {
    if (range.varies != CostBenefitRange::Varies::kPrice) continue;
    OutcomeYears([&](size_t o) { return cb.outcomes[o].price == range.price; });
  }
}

template <size_t W>
size_t ResultBuilder<W>::GroupOf(std::vector<size_t> items) {
  if (items.size() == 1) return items[0];
  std::sort(items.begin(), items.end());
  if (groups_laid_out_) {
    auto it = extra_group_index_.find(items);
    if (it != extra_group_index_.end()) return it->second;
    if (group_error_.ok()) {
      group_error_ = absl::InternalError(
          fmt::format("the cost-benefit tables sum items {} in a group that was not laid out "
                      "before the households were added",
                      fmt::join(items, ", ")));
    }
    return AllGroup();  // a group that exists; Finish returns the error
  }
  auto [it, inserted] =
      extra_group_index_.try_emplace(items, AllGroup() + 1 + extra_groups_.size());
  if (inserted) {
    for (size_t item : items) item_extra_groups_[item].push_back(it->second);
    extra_groups_.push_back(std::move(items));
  }
  return it->second;
}

template <size_t W>
const std::string& ResultBuilder<W>::OutcomePayer(size_t outcome) const {
  return spec_.cost_items[outcome_items_[outcome].front()].payer;
}

template <size_t W>
typename ResultBuilder<W>::ByYear ResultBuilder<W>::OutcomeYears(
    const std::function<bool(size_t outcome)>& in_set) {
  ByYear by_year(spec_.cost_benefit->Years().size());
  for (size_t y = 0; y < by_year.size(); ++y) {
    for (size_t o = 0; o < outcome_items_.size(); ++o) {
      if (Valued(o) && in_set(o) && outcome_items_[o][y] != SIZE_MAX) {
        by_year[y].items.push_back(outcome_items_[o][y]);
      }
    }
    if (!by_year[y].items.empty()) by_year[y].group = GroupOf(by_year[y].items);
  }
  return by_year;
}

template <size_t W>
typename ResultBuilder<W>::YearItems ResultBuilder<W>::WindowItems(
    size_t outcome, const CostBenefitWindow& window) {
  const std::vector<int> years = spec_.cost_benefit->Years();
  YearItems items;
  for (size_t y = 0; y < years.size(); ++y) {
    if (years[y] < window.first_year || years[y] > window.last_year) continue;
    if (outcome_items_[outcome][y] != SIZE_MAX) items.items.push_back(outcome_items_[outcome][y]);
  }
  if (!items.items.empty()) items.group = GroupOf(items.items);
  return items;
}

template <size_t W>
typename ResultBuilder<W>::YearItems ResultBuilder<W>::CostItems(
    const std::function<bool(size_t cost)>& in_set) {
  YearItems items;
  for (size_t c = 0; c < intervention_items_.size(); ++c) {
    if (intervention_items_[c] != SIZE_MAX && in_set(c)) {
      items.items.push_back(intervention_items_[c]);
    }
  }
  if (!items.items.empty()) items.group = GroupOf(items.items);
  return items;
}

template <size_t W>
bool ResultBuilder<W>::InCohort(const Atom& atom) const {
  return atom.key.date == 0 && atom.key.indicators.Test(spec_.cost_benefit->cohort_bit);
}

template <size_t W>
bool ResultBuilder<W>::InComparison(const Atom& atom) const {
  return atom.key.date == 0 && atom.key.indicators.Test(spec_.cost_benefit->comparison_bit);
}

template <size_t W>
typename ResultBuilder<W>::Amount ResultBuilder<W>::Sum(bool comparison, const YearItems& items,
                                                        bool is_total) {
  if (items.items.empty()) return {};  // nothing measured: 0, from no cell
  AtomTest test = [this, comparison](const Atom& atom) {
    return comparison ? InComparison(atom) : InCohort(atom);
  };
  const int index = SumCell(test, items.items, items.group, is_total);
  return {result_->sum_cells[static_cast<size_t>(index)].value,
          {{SystemCellRef::System::kSums, index}}};
}

template <size_t W>
typename ResultBuilder<W>::BenefitSums ResultBuilder<W>::SumsOf(const ByYear& by_year,
                                                                bool is_total) {
  BenefitSums sums;
  bool any = false;
  for (const YearItems& year : by_year) {
    Amount cohort = Sum(false, year, is_total);
    sums.cohort.push_back(cohort.value);
    any = any || !year.items.empty();
    sums.sources.insert(sums.sources.end(), cohort.sources.begin(), cohort.sources.end());
    if (!spec_.cost_benefit->comparison) continue;
    Amount comparison = Sum(true, year, is_total);
    sums.comparison.push_back(comparison.value);
    sums.sources.insert(sums.sources.end(), comparison.sources.begin(), comparison.sources.end());
  }
  if (any && spec_.cost_benefit->comparison) {  // scaled by the groups' sizes
    sums.sources.insert(sums.sources.end(), count_sources_.begin(), count_sources_.end());
  }
  return sums;
}

template <size_t W>
double ResultBuilder<W>::Benefit(const BenefitSums& sums, double rate) const {
  // Years() is -1, 1..horizon: index 0 is the year before, index k the k-th year after.
  const double scale = comparison_n_ > 0 ? cohort_n_ / comparison_n_ : 0;
  double benefit = 0;
  for (size_t k = 1; k < sums.cohort.size(); ++k) {
    double avoided = sums.cohort[0] - sums.cohort[k];
    if (!sums.comparison.empty()) avoided -= scale * (sums.comparison[0] - sums.comparison[k]);
    benefit += std::pow(1.0 + rate, -static_cast<double>(k - 1)) * avoided;
  }
  return benefit;
}

template <size_t W>
ResultCell ResultBuilder<W>::Figure(ResultKind kind, double value,
                                    std::vector<SystemCellRef> sources) const {
  ResultCell cell;
  if (!std::isfinite(value)) return cell;
  cell.kind = kind;
  cell.value = value;
  cell.cost_benefit = true;
  for (const SystemCellRef& ref : sources) {
    if (std::find(cell.sources.begin(), cell.sources.end(), ref) == cell.sources.end()) {
      cell.sources.push_back(ref);
    }
  }
  return cell;
}

template <size_t W>
ResultCell ResultBuilder<W>::Ratio(double benefit, double cost,
                                   std::vector<SystemCellRef> sources) const {
  if (!(cost > 0)) return ResultCell{};  // no costs: not applicable
  return Figure(ResultKind::kRatio, benefit / cost, std::move(sources));
}

template <size_t W>
absl::Status ResultBuilder<W>::CostBenefitTable(const TableSpec& table, ResultTable* out) {
  if (!spec_.cost_benefit) {
    return absl::InvalidArgumentError(
        fmt::format("table '{}' is a cost_benefit table, but the spec has no cost_benefit section",
                    table.name));
  }
  const CostBenefitSpec& cb = *spec_.cost_benefit;
  const ResultCell cohort = Count([this](const Atom& atom) { return InCohort(atom); }, true);
  cohort_n_ = cohort.value;
  count_sources_ = cohort.sources;
  comparison_n_ = 0;
  if (cb.comparison) {
    const ResultCell comparison =
        Count([this](const Atom& atom) { return InComparison(atom); }, true);
    comparison_n_ = comparison.value;
    count_sources_.push_back(comparison.sources[0]);
  }
  switch (table.view) {
    case CostBenefitView::kOutcomes:
      OutcomesView(cb, out);
      break;
    case CostBenefitView::kPayers:
      PayersView(cb, out);
      break;
    case CostBenefitView::kSensitivity:
      SensitivityView(cb, out);
      break;
  }
  return absl::OkStatus();
}

template <size_t W>
ResultCell ResultBuilder<W>::Households(bool comparison) const {
  ResultCell cell;
  cell.kind = ResultKind::kCount;
  cell.value = comparison ? comparison_n_ : cohort_n_;
  cell.sources = {count_sources_[comparison ? 1 : 0]};
  return cell;
}

template <size_t W>
void ResultBuilder<W>::OutcomesView(const CostBenefitSpec& cb, ResultTable* out) {
  out->row_heading = std::string(kCbOutcomeRowHeading);
  for (const CostBenefitWindow& window : cb.windows)
    out->columns.push_back(CbWindowColumn(window.label));
  if (cb.comparison) {
    for (const CostBenefitWindow& window : cb.windows) {
      out->columns.push_back(CbComparisonColumn(window.label));
    }
  }
  out->columns.push_back(std::string(kCbBenefitNpvColumn));
  out->columns.push_back(std::string(kCbCostNpvColumn));
  const size_t columns = out->columns.size();

  ResultRow households{std::string(kCbHouseholdsRow), {}};
  for (size_t w = 0; w < cb.windows.size(); ++w) households.cells.push_back(Households(false));
  if (cb.comparison) {
    for (size_t w = 0; w < cb.windows.size(); ++w) households.cells.push_back(Households(true));
  }
  households.cells.resize(columns);
  out->rows.push_back(std::move(households));

  for (size_t o = 0; o < cb.outcomes.size(); ++o) {
    if (!Valued(o)) continue;
    ResultRow row{cb.outcomes[o].name, {}};
    for (const CostBenefitWindow& window : cb.windows) {
      Amount sum = Sum(false, WindowItems(o, window), false);
      row.cells.push_back(Figure(ResultKind::kAmount, sum.value, sum.sources));
    }
    if (cb.comparison) {
      for (const CostBenefitWindow& window : cb.windows) {
        Amount sum = Sum(true, WindowItems(o, window), false);
        row.cells.push_back(comparison_n_ > 0
                                ? Figure(ResultKind::kAmount, cohort_n_ / comparison_n_ * sum.value,
                                         Joined(sum.sources, count_sources_))
                                : ResultCell{});
      }
    }
    const BenefitSums sums = SumsOf(OutcomeYears([o](size_t x) { return x == o; }), false);
    row.cells.push_back(Figure(ResultKind::kAmount, Benefit(sums, cb.Rate()), sums.sources));
    row.cells.push_back(ResultCell{});
    out->rows.push_back(std::move(row));
  }

  for (size_t c = 0; c < cb.costs.size(); ++c) {
    if (intervention_items_[c] == SIZE_MAX) continue;
    ResultRow row{cb.costs[c].name, {}};
    const Amount cost = Sum(false, CostItems([c](size_t x) { return x == c; }), false);
    for (const CostBenefitWindow& window : cb.windows) {
      const bool holds_year_1 = window.first_year <= 1 && window.last_year >= 1;
      row.cells.push_back(holds_year_1 ? Figure(ResultKind::kAmount, cost.value, cost.sources)
                                       : ResultCell{});
    }
    row.cells.resize(columns - 1);  // no comparison, no benefit
    row.cells.push_back(Figure(ResultKind::kAmount, cost.value, cost.sources));
    out->rows.push_back(std::move(row));
  }

  ResultCell pm;
  pm.kind = ResultKind::kPm;
  for (const OutcomeSpec& outcome : cb.outcomes) {
    if (!outcome.pm) continue;
    out->rows.push_back(
        {std::string(kCbPmPrefix) + outcome.name, std::vector<ResultCell>(columns, pm)});
  }
}

template <size_t W>
void ResultBuilder<W>::PayersView(const CostBenefitSpec& cb, ResultTable* out) {
  out->row_heading = std::string(kCbPayerRowHeading);
  out->columns.push_back(std::string(kCbCohortColumn));
  if (cb.comparison) out->columns.push_back(std::string(kCbComparisonColumn));
  for (std::string_view column :
       {kCbCostsColumn, kCbBenefitsColumn, kCbSaldoColumn, kCbRatioColumn}) {
    out->columns.push_back(std::string(column));
  }
  auto add_row = [&](const std::string& label, const std::function<bool(size_t)>& outcome_of,
                     const std::function<bool(size_t)>& cost_of, bool is_total) {
    ResultRow row{label, {Households(false)}};
    if (cb.comparison) row.cells.push_back(Households(true));
    const Amount cost = Sum(false, CostItems(cost_of), is_total);
    const BenefitSums sums = SumsOf(OutcomeYears(outcome_of), is_total);
    const double benefit = Benefit(sums, cb.Rate());
    const std::vector<SystemCellRef> both = Joined(sums.sources, cost.sources);
    row.cells.push_back(Figure(ResultKind::kAmount, cost.value, cost.sources));
    row.cells.push_back(Figure(ResultKind::kAmount, benefit, sums.sources));
    row.cells.push_back(Figure(ResultKind::kAmount, benefit - cost.value, both));
    row.cells.push_back(Ratio(benefit, cost.value, both));
    out->rows.push_back(std::move(row));
  };
  for (const std::string& payer : cb_payers_) {
    add_row(
        payer, [&](size_t o) { return OutcomePayer(o) == payer; },
        [&](size_t c) { return spec_.cost_items[intervention_items_[c]].payer == payer; }, false);
  }
  add_row(
      std::string(kCbTotalRow), [](size_t) { return true; }, [](size_t) { return true; }, true);
}

template <size_t W>
void ResultBuilder<W>::SensitivityView(const CostBenefitSpec& cb, ResultTable* out) {
  out->row_heading = std::string(kSensitivityRowHeading);
  for (std::string_view column : {kCbSaldoBaseColumn, kCbSaldoLowColumn, kCbSaldoHighColumn,
                                  kCbRatioBaseColumn, kCbRatioLowColumn, kCbRatioHighColumn}) {
    out->columns.push_back(std::string(column));
  }
  const BenefitSums sums = SumsOf(OutcomeYears([](size_t) { return true; }), true);
  const Amount cost = Sum(false, CostItems([](size_t) { return true; }), true);
  struct Result {
    double benefit;
    double cost;
  };
  const Result base{Benefit(sums, cb.Rate()), cost.value};
  const std::vector<SystemCellRef> base_sources = Joined(sums.sources, cost.sources);
  auto saldo = [this](const Result& x, const std::vector<SystemCellRef>& sources) {
    return Figure(ResultKind::kAmount, x.benefit - x.cost, sources);
  };
  auto ratio = [this](const Result& x, const std::vector<SystemCellRef>& sources) {
    return Ratio(x.benefit, x.cost, sources);
  };
  // The range row: the lowest and highest of the ranges' low and high figures (not the base).
  std::optional<double> saldo_low, saldo_high, ratio_low, ratio_high;
  auto track = [&](const Result& x) {
    const double s = x.benefit - x.cost;
    saldo_low = std::min(saldo_low.value_or(s), s);
    saldo_high = std::max(saldo_high.value_or(s), s);
    if (!(x.cost > 0)) return;
    const double r = x.benefit / x.cost;
    ratio_low = std::min(ratio_low.value_or(r), r);
    ratio_high = std::max(ratio_high.value_or(r), r);
  };
  std::vector<SystemCellRef> all_sources = base_sources;
  for (const CostBenefitRange& range : cb.sensitivity) {
    std::vector<SystemCellRef> sources = base_sources;
    double priced = 0;  // kPrice: the benefit of the outcomes priced with the item varied
    if (range.varies == CostBenefitRange::Varies::kPrice) {
      const BenefitSums of_price = SumsOf(
          OutcomeYears([&](size_t o) { return cb.outcomes[o].price == range.price; }), false);
      priced = Benefit(of_price, cb.Rate());
      sources = Joined(sources, of_price.sources);
    }
    auto varied = [&](double factor) -> Result {
      switch (range.varies) {
        case CostBenefitRange::Varies::kAllPrices:
        case CostBenefitRange::Varies::kEffect:
          return {factor * base.benefit, base.cost};
        case CostBenefitRange::Varies::kPrice:
          return {base.benefit + (factor - 1.0) * priced, base.cost};
        case CostBenefitRange::Varies::kRate:
          return {Benefit(sums, factor), base.cost};
        case CostBenefitRange::Varies::kCosts:
          return {base.benefit, factor * base.cost};
      }
      return base;
    };
    const Result low = varied(range.low);
    const Result high = varied(range.high);
    track(low);
    track(high);
    all_sources = Joined(all_sources, sources);
    out->rows.push_back({range.label,
                         {saldo(base, base_sources), saldo(low, sources), saldo(high, sources),
                          ratio(base, base_sources), ratio(low, sources), ratio(high, sources)}});
  }
  auto bound = [&](ResultKind kind, const std::optional<double>& x) {
    return x ? Figure(kind, *x, all_sources) : ResultCell{};
  };
  out->rows.push_back(
      {std::string(kSensitivityRangeRow),
       {saldo(base, base_sources), bound(ResultKind::kAmount, saldo_low),
        bound(ResultKind::kAmount, saldo_high), ratio(base, base_sources),
        bound(ResultKind::kRatio, ratio_low), bound(ResultKind::kRatio, ratio_high)}});
}

template <size_t W>
absl::Status ResultBuilder<W>::CheckIndices() const {
  // Cells name groups as 16-bit indices and sum atoms as 32-bit (atom, item) indices.
  if (GroupCount() - 1 > std::numeric_limits<uint16_t>::max()) {
    return absl::ResourceExhaustedError(fmt::format(
        "the spec sums money in {} groups of cost items (items, payers, the total and the "
        "cost-benefit groups); the engine holds {} at most: use fewer cost items, outcomes or "
        "a shorter horizon",
        GroupCount(), uint32_t{std::numeric_limits<uint16_t>::max()} + 1));
  }
  const uint64_t sum_atoms =
      uint64_t{atoms_.size()} * std::max<uint64_t>(spec_.cost_items.size(), 1);
  if (sum_atoms > std::numeric_limits<uint32_t>::max()) {
    return absl::ResourceExhaustedError(fmt::format(
        "{} groups of households times {} cost items make {} sums, more than the engine indexes "
        "({}): use fewer cost items, indicators or areas",
        atoms_.size(), spec_.cost_items.size(), sum_atoms, std::numeric_limits<uint32_t>::max()));
  }
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::Finish(AnalysisResult* result) {
  result_ = result;
  RETURN_IF_ERROR(CheckIndices());
  if (spec_.cost_benefit) {
    for (const OutcomeSpec& outcome : spec_.cost_benefit->outcomes) {
      if (outcome.pm) {
        result->warnings.push_back(
            fmt::format("outcome '{}' is not valued (PM): {}", outcome.name, outcome.note));
      }
    }
  }
  for (const TableSpec& table : spec_.tables) {
    ResultTable out;
    out.name = table.name;
    out.title = table.title;
    absl::Status status;
    switch (table.kind) {
      case TableKind::kCounts:
        status = CountsTable(table, &out);
        break;
      case TableKind::kOverlap:
        status = OverlapTable(table, &out);
        break;
      case TableKind::kCosts:
        status = CostsTable(table, &out);
        break;
      case TableKind::kSensitivity:
        status = SensitivityTable(table, &out);
        break;
      case TableKind::kCostBenefit:
        status = CostBenefitTable(table, &out);
        break;
    }
    RETURN_IF_ERROR(status);
    result->tables.push_back(std::move(out));
  }
  RETURN_IF_ERROR(group_error_);
  result->count_atoms = static_cast<uint32_t>(atoms_.size());
  result->sum_atoms =
      static_cast<uint32_t>(atoms_.size() * std::max<size_t>(spec_.cost_items.size(), 1));
  Describe(result);
  std::sort(units_.begin(), units_.end(), [](const ResultUnit& x, const ResultUnit& y) {
    return std::tie(x.household, x.day) < std::tie(y.household, y.day);
  });
  result->units = std::move(units_);
  return absl::OkStatus();
}

template class ResultBuilder<1>;
template class ResultBuilder<2>;
template class ResultBuilder<4>;
template class ResultBuilder<8>;

}  // namespace koppel::analysis

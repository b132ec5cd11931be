#include "linker/analysis/result_builder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>
#include <tuple>

#include "core/status_macros.h"
#include "linker/analysis/released_labels.h"

namespace koppel::analysis {

template <size_t W>
IndicatorBits<W> ResultBuilder<W>::Flags(const IndicatorBits<W>& indicators) const {
  IndicatorBits<W> flags;
  for (size_t f = 0; f < spec_.flags.size(); ++f) {
    const FlagSpec& flag = spec_.flags[f];
    bool holds = true;
    for (const std::string& name : flag.all) holds = holds && Holds(name, indicators, flags);
    if (!flag.any.empty()) {
      bool any = false;
      for (const std::string& name : flag.any) any = any || Holds(name, indicators, flags);
      holds = holds && any;
    }
    for (const std::string& name : flag.none) holds = holds && !Holds(name, indicators, flags);
    if (holds) flags.Set(f);
  }
  return flags;
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
  for (size_t t = 0; t < spec_.household_types.size(); ++t) {
    const HouseholdTypeSpec& type = spec_.household_types[t];
    if (household.adults >= type.adults.min && household.adults <= type.adults.max &&
        household.children >= type.children.min && household.children <= type.children.max) {
      return static_cast<uint16_t>(t);
    }
  }
  return static_cast<uint16_t>(spec_.household_types.size());  // none of them
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
    if (!spec_.cost_items[item].in_total) continue;
    result->group_items[PayerGroup(spec_.cost_items[item].payer)].push_back(
        static_cast<uint16_t>(item));
    result->group_items[AllGroup()].push_back(static_cast<uint16_t>(item));
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
    if (!spec_.cost_items[item].in_total) continue;
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
    if (spec_.cost_items[i].in_total) all_items.push_back(i);
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
      if (!spec_.cost_items[i].in_total) rows.push_back({spec_.cost_items[i].name, {i}, i, false});
    }
  } else {
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
      rows.push_back({spec_.cost_items[i].name, {i}, i, false});
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
      if (!item.in_total) continue;  // not in the mean varied
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

template <size_t W>
absl::Status ResultBuilder<W>::Finish(AnalysisResult* result) {
  result_ = result;
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
    }
    RETURN_IF_ERROR(status);
    result->tables.push_back(std::move(out));
  }
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

#include "linker/analysis/release_protection.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

constexpr size_t kLargestKept = 4;

void SetBit(AtomSpace* space, size_t atom, uint32_t bit) {
  space->bits[atom * space->Words() + bit / 64] |= uint64_t{1} << (bit % 64);
}

bool HoldsBit(const std::vector<uint64_t>& holds, size_t bit) {
  return (holds[bit / 64] >> (bit % 64)) & 1;
}

void AddMoney(SumAtomStats* stats, int64_t cents) {
  ++stats->contributors;
  stats->cents += cents;
  const double amount = static_cast<double>(cents) / 100.0;
  auto at = std::upper_bound(stats->largest.begin(), stats->largest.end(), amount,
                             std::greater<>());
  stats->largest.insert(at, amount);
  if (stats->largest.size() > kLargestKept) stats->largest.pop_back();
}

void MergeMoney(SumAtomStats* into, const SumAtomStats& from) {
  into->contributors += from.contributors;
  into->cents += from.cents;
  into->largest.insert(into->largest.end(), from.largest.begin(), from.largest.end());
  std::sort(into->largest.begin(), into->largest.end(), std::greater<>());
  if (into->largest.size() > kLargestKept) into->largest.resize(kLargestKept);
}

PublishedCell SumCellOf(const SumAtomStats& money, std::vector<uint32_t> atoms, CellRole role) {
  PublishedCell cell;
  cell.kind = CellKind::kSum;
  cell.value = static_cast<double>(money.cents) / 100.0;
  cell.contributors = money.contributors;
  cell.largest = money.largest;
  cell.atoms = std::move(atoms);
  cell.role = role;
  return cell;
}

CellRole RoleOf(const std::vector<CellState>* states, size_t cell) {
  if (states == nullptr) return CellRole::kCandidate;
  return (*states)[cell] == CellState::kPublished ? CellRole::kPublished : CellRole::kHidden;
}

// One linear system with the atom space its conjunctions are made of. For sums, each cell's
// group of cost items and, per group and household atom (the count system's atom, the sum
// atoms' unit group), the households' money in that group, for the dominance of differences.
struct System {
  AtomSpace space;
  std::vector<PublishedCell> cells;
  size_t first_now = 0;
  std::vector<uint32_t> cell_group;
  std::vector<absl::flat_hash_map<uint32_t, SumAtomStats>> money;  // group -> household atom
  std::vector<SumAtomStats> atom_money;  // per sum atom
};

// ---------------------------------------------------------------------------------------------
// The release on its own.

System CountsAlone(const AnalysisResult& now) {
  System system;
  AtomSpace& space = system.space;
  const uint32_t types = static_cast<uint32_t>(now.household_types.size());
  space.atom_count = static_cast<uint32_t>(now.atoms.size());
  space.multi_valued = 2;
  space.binary = types + static_cast<uint32_t>(now.predicates.size());
  space.bits.assign(static_cast<size_t>(space.atom_count) * space.Words(), 0);
  for (size_t a = 0; a < now.atoms.size(); ++a) {
    const AtomDescription& atom = now.atoms[a];
    space.weight.push_back(atom.households);
    space.values.push_back(atom.date);
    space.values.push_back(atom.area);
    if (atom.type < types) SetBit(&space, a, atom.type);
    for (size_t p = 0; p < now.predicates.size(); ++p) {
      if (HoldsBit(atom.holds, p)) SetBit(&space, a, types + static_cast<uint32_t>(p));
    }
  }
  system.cells = now.count_cells;
  return system;
}

System SumsAlone(const AnalysisResult& now) {
  System system;
  const size_t items = now.items.size();
  if (items == 0) return system;
  AtomSpace& space = system.space;
  const uint32_t types = static_cast<uint32_t>(now.household_types.size());
  const uint32_t predicates = static_cast<uint32_t>(now.predicates.size());
  std::vector<std::string> payers;
  for (const CostItemDescription& item : now.items) {
    if (std::find(payers.begin(), payers.end(), item.payer) == payers.end()) {
      payers.push_back(item.payer);
    }
  }
  space.multi_valued = 3;
  space.binary = types + predicates + static_cast<uint32_t>(payers.size());
  std::vector<uint32_t> id_of(now.sum_atom_stats.size(), UINT32_MAX);
  std::vector<uint32_t> sum_atoms;
  for (size_t s = 0; s < now.sum_atom_stats.size(); ++s) {
    if (now.sum_atom_stats[s].contributors == 0) continue;  // known to be 0
    id_of[s] = static_cast<uint32_t>(sum_atoms.size());
    sum_atoms.push_back(static_cast<uint32_t>(s));
    system.atom_money.push_back(now.sum_atom_stats[s]);
  }
  space.atom_count = static_cast<uint32_t>(sum_atoms.size());
  space.bits.assign(static_cast<size_t>(space.atom_count) * space.Words(), 0);
  for (size_t id = 0; id < sum_atoms.size(); ++id) {
    const uint32_t a = static_cast<uint32_t>(sum_atoms[id] / items);
    const uint32_t item = static_cast<uint32_t>(sum_atoms[id] % items);
    const AtomDescription& atom = now.atoms[a];
    space.weight.push_back(now.sum_atom_stats[sum_atoms[id]].contributors);
    space.unit_group.push_back(a);
    space.values.push_back(atom.date);
    space.values.push_back(atom.area);
    space.values.push_back(item);
    if (atom.type < types) SetBit(&space, id, atom.type);
    for (uint32_t p = 0; p < predicates; ++p) {
      if (HoldsBit(atom.holds, p)) SetBit(&space, id, types + p);
    }
    const auto payer = std::find(payers.begin(), payers.end(), now.items[item].payer);
    SetBit(&space, id, types + predicates + static_cast<uint32_t>(payer - payers.begin()));
  }
  for (size_t c = 0; c < now.sum_cells.size(); ++c) {
    PublishedCell cell = now.sum_cells[c];
    std::vector<uint32_t> atoms;
    for (uint32_t s : cell.atoms) {
      if (id_of[s] != UINT32_MAX) atoms.push_back(id_of[s]);
    }
    cell.atoms = std::move(atoms);
    system.cells.push_back(std::move(cell));
    system.cell_group.push_back(now.sum_cell_group[c]);
  }
  const size_t groups = now.group_items.size();
  system.money.resize(groups);
  for (size_t a = 0; a < now.atoms.size(); ++a) {
    for (size_t g = 0; g < groups; ++g) {
      const SumAtomStats& stats = now.group_stats[a * groups + g];
      if (stats.contributors > 0) system.money[g][static_cast<uint32_t>(a)] = stats;
    }
  }
  return system;
}

// ---------------------------------------------------------------------------------------------
// Several releases joined by household and reference date.

class Joint {
 public:
  Joint(const AnalysisResult& now, const std::vector<EarlierRelease>& earlier) {
    for (const EarlierRelease& e : earlier) runs_.push_back({e.result, &e.count_states, &e.sum_states});
    runs_.push_back({&now, nullptr, nullptr});
  }

  absl::Status Build() {
    for (const Run& run : runs_) {
      if (run.result->units.empty() && !run.result->atoms.empty()) {
        return absl::InternalError("a release joined with earlier ones carries no units");
      }
    }
    JoinUnits();
    RETURN_IF_ERROR(CanonicalItems());
    return absl::OkStatus();
  }

  System Counts() const {
    System system;
    AtomSpace& space = system.space;
    space.atom_count = static_cast<uint32_t>(tuples_.size());
    LayOut(&space, /*with_payers=*/false);
    space.bits.assign(static_cast<size_t>(space.atom_count) * space.Words(), 0);
    for (uint32_t j = 0; j < tuples_.size(); ++j) {
      space.weight.push_back(weight_[j]);
      Describe(&space, j, j, /*with_payers=*/false, 0);
    }
    for (size_t r = 0; r < runs_.size(); ++r) {
      const Run& run = runs_[r];
      if (r + 1 == runs_.size()) system.first_now = system.cells.size();
      for (size_t c = 0; c < run.result->count_cells.size(); ++c) {
        PublishedCell cell = run.result->count_cells[c];
        std::vector<uint32_t> atoms;
        for (uint32_t a : cell.atoms) {
          atoms.insert(atoms.end(), joint_of_[r][a].begin(), joint_of_[r][a].end());
        }
        std::sort(atoms.begin(), atoms.end());
        cell.atoms = std::move(atoms);
        cell.role = RoleOf(run.count_states, c);
        system.cells.push_back(std::move(cell));
      }
    }
    return system;
  }

  System Sums() const {
    System system;
    AtomSpace& space = system.space;
    space.atom_count = static_cast<uint32_t>(pairs_.size());
    LayOut(&space, /*with_payers=*/true);
    space.bits.assign(static_cast<size_t>(space.atom_count) * space.Words(), 0);
    for (uint32_t id = 0; id < pairs_.size(); ++id) {
      const auto [j, item] = pairs_[id];
      space.weight.push_back(pair_money_[id].contributors);
      space.unit_group.push_back(j);
      Describe(&space, id, j, /*with_payers=*/true, item);
    }
    std::map<std::vector<uint32_t>, uint32_t> group_ids;
    std::vector<std::vector<uint32_t>> groups;
    for (size_t r = 0; r < runs_.size(); ++r) {
      const Run& run = runs_[r];
      const AnalysisResult& result = *run.result;
      const size_t items = result.items.size();
      if (r + 1 == runs_.size()) system.first_now = system.cells.size();
      for (size_t c = 0; c < result.sum_cells.size(); ++c) {
        PublishedCell cell = result.sum_cells[c];
        std::vector<uint32_t> atoms;
        for (uint32_t s : cell.atoms) {
          const uint32_t a = static_cast<uint32_t>(s / items);
          const uint32_t item = canonical_[r][s % items];
          for (uint32_t j : joint_of_[r][a]) {
            auto it = pair_id_.find(PairKey(j, item));
            if (it != pair_id_.end()) atoms.push_back(it->second);
          }
        }
        std::sort(atoms.begin(), atoms.end());
        cell.atoms = std::move(atoms);
        cell.role = RoleOf(run.sum_states, c);
        system.cells.push_back(std::move(cell));
        std::vector<uint32_t> group;
        for (uint16_t item : result.group_items[result.sum_cell_group[c]]) {
          group.push_back(canonical_[r][item]);
        }
        std::sort(group.begin(), group.end());
        auto [it, inserted] = group_ids.emplace(group, static_cast<uint32_t>(groups.size()));
        if (inserted) groups.push_back(group);
        system.cell_group.push_back(it->second);
      }
    }
    system.money = GroupMoney(groups);
    system.atom_money = pair_money_;
    return system;
  }

 private:
  struct Run {
    const AnalysisResult* result;
    const std::vector<CellState>* count_states;
    const std::vector<CellState>* sum_states;
  };

  uint64_t PairKey(uint32_t joint, uint32_t item) const {
    return static_cast<uint64_t>(joint) * canonical_count_ + item;
  }

  // Joint atoms: the households (on one date) with the same atom in every release.
  void JoinUnits() {
    struct Entry {
      const ResultUnit* unit;
      uint32_t run;
    };
    std::vector<Entry> entries;
    for (uint32_t r = 0; r < runs_.size(); ++r) {
      for (const ResultUnit& unit : runs_[r].result->units) entries.push_back({&unit, r});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
      return std::tie(x.unit->household, x.unit->day, x.run) <
             std::tie(y.unit->household, y.unit->day, y.run);
    });
    std::vector<int32_t> days;
    for (const Entry& e : entries) days.push_back(e.unit->day);
    std::sort(days.begin(), days.end());
    days.erase(std::unique(days.begin(), days.end()), days.end());
    absl::flat_hash_map<std::vector<int32_t>, uint32_t> id_of_tuple;
    joint_of_.resize(runs_.size());
    for (uint32_t r = 0; r < runs_.size(); ++r) joint_of_[r].resize(runs_[r].result->atoms.size());
    for (size_t begin = 0; begin < entries.size();) {
      size_t end = begin;
      std::vector<int32_t> tuple(runs_.size(), -1);
      while (end < entries.size() && entries[end].unit->household == entries[begin].unit->household &&
             entries[end].unit->day == entries[begin].unit->day) {
        tuple[entries[end].run] = static_cast<int32_t>(entries[end].unit->atom);
        ++end;
      }
      auto [it, inserted] = id_of_tuple.emplace(tuple, static_cast<uint32_t>(tuples_.size()));
      if (inserted) {
        tuples_.push_back(tuple);
        weight_.push_back(0);
        day_index_.push_back(static_cast<uint32_t>(
            std::lower_bound(days.begin(), days.end(), entries[begin].unit->day) - days.begin()));
        for (uint32_t r = 0; r < runs_.size(); ++r) {
          if (tuple[r] >= 0) joint_of_[r][static_cast<size_t>(tuple[r])].push_back(it->second);
        }
      }
      ++weight_[it->second];
      units_.push_back({begin, end, it->second});
      begin = end;
    }
    entries_.reserve(entries.size());
    for (const Entry& e : entries) entries_.push_back({e.unit, e.run});
    for (uint32_t r = 0; r < runs_.size(); ++r) {
      for (std::vector<uint32_t>& joints : joint_of_[r]) std::sort(joints.begin(), joints.end());
    }
  }

  // Cost items of all releases that are the same quantity share a canonical number; then the
  // money of every (joint atom, canonical item) pair, from the households.
  absl::Status CanonicalItems() {
    std::map<std::string, uint32_t> id_of_definition;
    std::map<std::string, std::pair<std::string, std::string>> definition_of_volume;
    canonical_.resize(runs_.size());
    for (size_t r = 0; r < runs_.size(); ++r) {
      for (const CostItemDescription& item : runs_[r].result->items) {
        auto [volume, fresh] = definition_of_volume.emplace(
            item.volume, std::make_pair(item.definition, item.name));
        if (!fresh && volume->second.first != item.definition) {
          return absl::FailedPreconditionError(fmt::format(
              "cost item '{}' prices the same volume as cost item '{}' of an earlier release "
              "differently; exact releases of one covenant must price a volume alike, or "
              "their sums reveal each other (ask the privacy officers to approve the spec with "
              "the earlier prices, or to start a new covenant version)",
              item.name, volume->second.second));
        }
        auto [it, inserted] =
            id_of_definition.emplace(item.definition, static_cast<uint32_t>(id_of_definition.size()));
        canonical_[r].push_back(it->second);
        if (inserted) payers_of_item_.emplace_back();
        payers_of_item_[it->second].emplace_back(static_cast<uint32_t>(r), item.payer);
      }
    }
    canonical_count_ = static_cast<uint32_t>(id_of_definition.size());
    for (size_t r = 0; r < runs_.size(); ++r) {
      std::vector<std::string> payers;
      for (const CostItemDescription& item : runs_[r].result->items) {
        if (std::find(payers.begin(), payers.end(), item.payer) == payers.end()) {
          payers.push_back(item.payer);
        }
      }
      payers_.push_back(std::move(payers));
    }
    for (const UnitGroup& group : units_) {
      absl::flat_hash_map<uint32_t, int64_t> cents_of_item;
      for (size_t e = group.begin; e < group.end; ++e) {
        const auto& [unit, run] = entries_[e];
        for (const auto& [item, cents] : unit->cents) {
          auto [it, inserted] = cents_of_item.emplace(canonical_[run][item], cents);
          if (!inserted && it->second != cents) {
            return absl::InternalError(
                "two releases give one household different amounts for the same cost item");
          }
        }
      }
      for (const auto& [item, cents] : cents_of_item) {
        auto [it, inserted] = pair_id_.emplace(PairKey(group.joint, item),
                                               static_cast<uint32_t>(pairs_.size()));
        if (inserted) {
          pairs_.emplace_back(group.joint, item);
          pair_money_.emplace_back();
        }
        AddMoney(&pair_money_[it->second], cents);
      }
    }
    return absl::OkStatus();
  }

  // Per group of canonical items, per joint atom: each household's money in the group.
  std::vector<absl::flat_hash_map<uint32_t, SumAtomStats>> GroupMoney(
      const std::vector<std::vector<uint32_t>>& groups) const {
    std::vector<absl::flat_hash_map<uint32_t, SumAtomStats>> money(groups.size());
    for (const UnitGroup& group : units_) {
      absl::flat_hash_map<uint32_t, int64_t> cents_of_item;
      for (size_t e = group.begin; e < group.end; ++e) {
        const auto& [unit, run] = entries_[e];
        for (const auto& [item, cents] : unit->cents) cents_of_item[canonical_[run][item]] = cents;
      }
      if (cents_of_item.empty()) continue;
      for (size_t g = 0; g < groups.size(); ++g) {
        int64_t total = 0;
        for (uint32_t item : groups[g]) {
          auto it = cents_of_item.find(item);
          if (it != cents_of_item.end()) total += it->second;
        }
        if (total != 0) AddMoney(&money[g][group.joint], total);
      }
    }
    return money;
  }

  // Predicates: the date; per release its area; per release whether the household is in it,
  // its household types and the names its tables select on (and, for sums, the cost item and
  // per release its payers).
  void LayOut(AtomSpace* space, bool with_payers) const {
    space->multi_valued = 1 + static_cast<uint32_t>(runs_.size()) + (with_payers ? 1 : 0);
    uint32_t binary = 0;
    for (size_t r = 0; r < runs_.size(); ++r) {
      binary += 1 + static_cast<uint32_t>(runs_[r].result->household_types.size() +
                                          runs_[r].result->predicates.size());
      if (with_payers) binary += static_cast<uint32_t>(payers_[r].size());
    }
    space->binary = binary;
  }

  void Describe(AtomSpace* space, uint32_t id, uint32_t joint, bool with_payers,
                uint32_t item) const {
    space->values.push_back(day_index_[joint]);
    uint32_t bit = 0;
    for (size_t r = 0; r < runs_.size(); ++r) {
      const AnalysisResult& result = *runs_[r].result;
      const uint32_t types = static_cast<uint32_t>(result.household_types.size());
      const uint32_t predicates = static_cast<uint32_t>(result.predicates.size());
      const int32_t a = tuples_[joint][r];
      if (a < 0) {
        space->values.push_back(AreaId(""));
      } else {
        const AtomDescription& atom = result.atoms[static_cast<size_t>(a)];
        space->values.push_back(AreaId(result.area_codes[atom.area]));
        SetBit(space, id, bit);
        if (atom.type < types) SetBit(space, id, bit + 1 + atom.type);
        for (uint32_t p = 0; p < predicates; ++p) {
          if (HoldsBit(atom.holds, p)) SetBit(space, id, bit + 1 + types + p);
        }
      }
      bit += 1 + types + predicates;
      if (!with_payers) continue;
      for (const auto& [run, payer] : payers_of_item_[item]) {
        if (run != r) continue;
        const auto at = std::find(payers_[r].begin(), payers_[r].end(), payer);
        SetBit(space, id, bit + static_cast<uint32_t>(at - payers_[r].begin()));
      }
      bit += static_cast<uint32_t>(payers_[r].size());
    }
    if (with_payers) space->values.push_back(item);
  }

  uint32_t AreaId(const std::string& code) const {
    auto [it, inserted] = area_ids_.emplace(code, static_cast<uint32_t>(area_ids_.size()));
    return it->second;
  }

  struct UnitGroup {
    size_t begin;
    size_t end;
    uint32_t joint;
  };

  std::vector<Run> runs_;
  std::vector<std::pair<const ResultUnit*, uint32_t>> entries_;  // sorted by household, day, run
  std::vector<UnitGroup> units_;
  std::vector<std::vector<int32_t>> tuples_;       // joint atom -> atom per release (-1: absent)
  std::vector<int64_t> weight_;                    // joint atom -> households
  std::vector<uint32_t> day_index_;                // joint atom -> date
  std::vector<std::vector<std::vector<uint32_t>>> joint_of_;  // release, atom -> joint atoms
  std::vector<std::vector<uint32_t>> canonical_;   // release, item -> canonical item
  uint32_t canonical_count_ = 0;
  std::vector<std::vector<std::pair<uint32_t, std::string>>> payers_of_item_;  // canonical item
  std::vector<std::vector<std::string>> payers_;   // release -> payers
  std::vector<std::pair<uint32_t, uint32_t>> pairs_;  // sum atom -> (joint atom, canonical item)
  absl::flat_hash_map<uint64_t, uint32_t> pair_id_;
  std::vector<SumAtomStats> pair_money_;
  mutable std::map<std::string, uint32_t> area_ids_;
};

// ---------------------------------------------------------------------------------------------
// Hidden cells and protection.

bool MayBePublished(const PublishedCell& cell, const DisclosureRules& rules) {
  if (cell.role == CellRole::kPublished) return true;
  return cell.role == CellRole::kCandidate && !IsSensitive(cell, rules);
}

// Differences of two nested cells that could both be published (for sums, over the same
// items): the simplest implied quantities, and the one the dominance rule must see for sums.
std::vector<PublishedCell> NestedDifferences(const System& system, const DisclosureRules& rules) {
  std::vector<size_t> order;
  absl::flat_hash_set<std::vector<uint32_t>> seen;
  for (size_t c = 0; c < system.cells.size(); ++c) {
    const PublishedCell& cell = system.cells[c];
    if (cell.atoms.empty() || !MayBePublished(cell, rules)) continue;
    if (seen.insert(cell.atoms).second) order.push_back(c);
  }
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return system.cells[x].atoms.size() < system.cells[y].atoms.size();
  });
  const bool sums = !system.cell_group.empty();
  std::vector<PublishedCell> hidden;
  for (size_t i = 0; i < order.size(); ++i) {
    const PublishedCell& small = system.cells[order[i]];
    for (size_t k = i + 1; k < order.size(); ++k) {
      const PublishedCell& big = system.cells[order[k]];
      if (big.atoms.size() == small.atoms.size()) continue;
      if (sums && system.cell_group[order[i]] != system.cell_group[order[k]]) continue;
      if (!std::includes(big.atoms.begin(), big.atoms.end(), small.atoms.begin(),
                         small.atoms.end())) {
        continue;
      }
      std::vector<uint32_t> difference;
      std::set_difference(big.atoms.begin(), big.atoms.end(), small.atoms.begin(),
                          small.atoms.end(), std::back_inserter(difference));
      PublishedCell cell;
      if (!sums) {
        cell.kind = CellKind::kCount;
        for (uint32_t atom : difference) cell.value += static_cast<double>(system.space.weight[atom]);
        cell.atoms = std::move(difference);
        cell.role = CellRole::kHidden;
      } else {
        SumAtomStats money;
        const auto& by_household = system.money[system.cell_group[order[i]]];
        std::vector<uint32_t> households;
        for (uint32_t atom : difference) households.push_back(system.space.unit_group[atom]);
        std::sort(households.begin(), households.end());
        households.erase(std::unique(households.begin(), households.end()), households.end());
        for (uint32_t household : households) {
          auto it = by_household.find(household);
          if (it != by_household.end()) MergeMoney(&money, it->second);
        }
        cell = SumCellOf(money, std::move(difference), CellRole::kHidden);
      }
      if (IsSensitive(cell, rules)) hidden.push_back(std::move(cell));
    }
  }
  return hidden;
}

struct SystemProtection {
  Protection protection;
  int64_t implied = 0;
  int64_t conjunctions = 0;
};

absl::StatusOr<SystemProtection> ProtectSystem(const System& system, const DisclosureRules& rules,
                                               const ImpliedSetLimits& limits) {
  std::vector<PublishedCell> cells = system.cells;
  SystemProtection out;
  if (rules.secondary && !cells.empty()) {
    ASSIGN_OR_RETURN(ImpliedSets implied, FindImpliedSets(cells, system.space, rules, limits));
    const bool sums = !system.cell_group.empty();
    for (size_t s = 0; s < implied.sets.size(); ++s) {
      if (!sums) {
        PublishedCell cell;
        cell.kind = CellKind::kCount;
        cell.value = static_cast<double>(implied.weights[s]);
        cell.atoms = std::move(implied.sets[s]);
        cell.role = CellRole::kHidden;
        cells.push_back(std::move(cell));
        continue;
      }
      SumAtomStats money;
      for (uint32_t atom : implied.sets[s]) MergeMoney(&money, system.atom_money[atom]);
      // Households contributing to several of the set's items count once: the search's
      // weight, a lower bound, is what the rule must see.
      money.contributors = implied.weights[s];
      cells.push_back(SumCellOf(money, std::move(implied.sets[s]), CellRole::kHidden));
    }
    out.implied = static_cast<int64_t>(implied.sets.size());
    out.conjunctions = implied.conjunctions;
    std::vector<PublishedCell> differences = NestedDifferences(system, rules);
    out.implied += static_cast<int64_t>(differences.size());
    for (PublishedCell& cell : differences) cells.push_back(std::move(cell));
  }
  ASSIGN_OR_RETURN(out.protection, ProtectCells(cells, system.space.atom_count, rules));
  return out;
}

// The protection of the release's own cells, [first, first + count) of the system's.
Protection Slice(const Protection& whole, size_t first, size_t count,
                 const std::vector<PublishedCell>& cells) {
  Protection part;
  part.state.assign(whole.state.begin() + static_cast<std::ptrdiff_t>(first),
                    whole.state.begin() + static_cast<std::ptrdiff_t>(first + count));
  for (size_t i = 0; i < count; ++i) {
    if (cells[first + i].role != CellRole::kCandidate) continue;
    if (part.state[i] == CellState::kPrimary) ++part.primary;
    if (part.state[i] == CellState::kSecondary) ++part.secondary;
  }
  part.secondary_on_overflow = whole.secondary_on_overflow;
  part.determined_earlier = whole.determined_earlier;
  return part;
}

absl::StatusOr<ProtectedRelease> Protect(const System& counts, const System& sums,
                                         const AnalysisResult& now, const DisclosureRules& rules,
                                         const ImpliedSetLimits& limits) {
  ProtectedRelease out;
  ASSIGN_OR_RETURN(SystemProtection c, ProtectSystem(counts, rules, limits));
  ASSIGN_OR_RETURN(SystemProtection s, ProtectSystem(sums, rules, limits));
  out.counts = Slice(c.protection, counts.first_now, now.count_cells.size(), counts.cells);
  out.sums = Slice(s.protection, sums.first_now, now.sum_cells.size(), sums.cells);
  out.implied_groups = c.implied + s.implied;
  out.implied_conjunctions = c.conjunctions + s.conjunctions;
  out.determined_earlier = c.protection.determined_earlier + s.protection.determined_earlier;
  return out;
}

int64_t NewlySuppressed(const Protection& alone, const Protection& joint) {
  int64_t n = 0;
  for (size_t i = 0; i < alone.state.size(); ++i) {
    if (alone.state[i] == CellState::kPublished && joint.state[i] != CellState::kPublished) ++n;
  }
  return n;
}

}  // namespace

absl::StatusOr<ProtectedRelease> ProtectRelease(const AnalysisResult& now,
                                                const std::vector<EarlierRelease>& earlier,
                                                const DisclosureRules& rules,
                                                const ImpliedSetLimits& limits) {
  ASSIGN_OR_RETURN(ProtectedRelease alone,
                   Protect(CountsAlone(now), SumsAlone(now), now, rules, limits));
  if (earlier.empty()) return alone;
  Joint joint(now, earlier);
  RETURN_IF_ERROR(joint.Build());
  ASSIGN_OR_RETURN(ProtectedRelease together,
                   Protect(joint.Counts(), joint.Sums(), now, rules, limits));
  together.suppressed_for_history =
      NewlySuppressed(alone.counts, together.counts) + NewlySuppressed(alone.sums, together.sums);
  return together;
}

}  // namespace koppel

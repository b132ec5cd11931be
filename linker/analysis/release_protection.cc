#include "linker/analysis/release_protection.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/status_macros.h"

namespace koppel::analysis {
namespace {

// The dominance rule needs the n largest contributions of a sum; keep at least a few.
size_t LargestKept(const DisclosureRules& rules) {
  return std::max<size_t>(4, static_cast<size_t>(std::max(rules.dominance_n, 1)));
}

void SetBit(AtomSpace* space, size_t atom, uint32_t bit) {
  space->bits[atom * space->Words() + bit / 64] |= uint64_t{1} << (bit % 64);
}

bool HoldsBit(const std::vector<uint64_t>& holds, size_t bit) {
  return (holds[bit / 64] >> (bit % 64)) & 1;
}

void AddMoney(SumAtomStats* stats, int64_t cents, size_t keep) {
  ++stats->contributors;
  stats->cents += cents;
  const double amount = static_cast<double>(cents) / 100.0;
  auto at =
      std::upper_bound(stats->largest.begin(), stats->largest.end(), amount, std::greater<>());
  stats->largest.insert(at, amount);
  if (stats->largest.size() > keep) stats->largest.pop_back();
}

void MergeMoney(SumAtomStats* into, const SumAtomStats& from, size_t keep) {
  into->contributors += from.contributors;
  into->cents += from.cents;
  into->largest.insert(into->largest.end(), from.largest.begin(), from.largest.end());
  std::sort(into->largest.begin(), into->largest.end(), std::greater<>());
  if (into->largest.size() > keep) into->largest.resize(keep);
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

// A cell of the release being protected is a candidate; an earlier release's cell is published
// when that release published it, and otherwise hidden (kept underivable when sensitive).
CellRole RoleOf(const std::vector<CellState>* states, size_t cell) {
  if (states == nullptr) return CellRole::kCandidate;
  const bool published = cell < states->size() && (*states)[cell] == CellState::kPublished;
  return published ? CellRole::kPublished : CellRole::kHidden;
}

// One linear system with the atom space its conjunctions are made of. For sums, each cell's
// group of cost items and, per group and household atom (the count system's joint atom, the
// sum atoms' unit group), the households' money in that group, for the dominance of
// differences; and each sum atom's money, for the implied sums.
struct System {
  AtomSpace space;
  std::vector<PublishedCell> cells;
  std::vector<uint32_t> cell_group;
  std::vector<absl::flat_hash_map<uint32_t, SumAtomStats>> money;  // group -> household atom
  std::vector<SumAtomStats> atom_money;                            // per sum atom
};

// A count cell that a sum cell implies: a cost item priced per household makes the sum the
// price times the number of households with its indicator in the sum's population.
struct MirrorCell {
  size_t sum_cell;
  PublishedCell count;
};

// ---------------------------------------------------------------------------------------------
// Releases joined per household. A household's atoms in every release and on every reference
// date of each (a "slot") make its joint atom, so that what two releases, or two reference
// dates of one, imply together is one linear system: a household counted on 2013-12-31 and on
// 2014-12-31, or before and after a new delivery, is one unit whose two descriptions are
// predicates of the same joint atom.

struct Run {
  const AnalysisResult* result;
  const std::vector<CellState>* count_states;  // null: the release being protected
  const std::vector<CellState>* sum_states;
};

class Joint {
 public:
  Joint(std::vector<Run> runs, size_t keep) : runs_(std::move(runs)), keep_(keep) {}

  absl::Status Build() {
    for (const Run& run : runs_) {
      if (run.result->units.empty() && !run.result->atoms.empty()) {
        return absl::InternalError(
            "a release to protect carries no units (run the engine with keep_units)");
      }
    }
    RETURN_IF_ERROR(JoinUnits());
    return CanonicalItems();
  }

  // The cells of the last run start at this index of each system.
  size_t first_now_counts() const { return first_now_counts_; }
  size_t first_now_sums() const { return first_now_sums_; }

  System Counts() {
    System system;
    AtomSpace& space = system.space;
    space.atom_count = static_cast<uint32_t>(tuples_.size());
    LayOut(&space, /*with_items=*/false);
    space.bits.assign(static_cast<size_t>(space.atom_count) * space.Words(), 0);
    for (uint32_t j = 0; j < tuples_.size(); ++j) {
      space.weight.push_back(weight_[j]);
      Describe(&space, j, j, /*with_items=*/false, 0);
    }
    for (size_t r = 0; r < runs_.size(); ++r) {
      const Run& run = runs_[r];
      if (r + 1 == runs_.size()) first_now_counts_ = system.cells.size();
      for (size_t c = 0; c < run.result->count_cells.size(); ++c) {
        PublishedCell cell = run.result->count_cells[c];
        std::vector<uint32_t> atoms;
        for (uint32_t a : cell.atoms) {
          const auto& joints = joint_of_[r][a];
          atoms.insert(atoms.end(), joints.begin(), joints.end());
        }
        std::sort(atoms.begin(), atoms.end());
        cell.atoms = std::move(atoms);
        cell.role = RoleOf(run.count_states, c);
        system.cells.push_back(std::move(cell));
      }
    }
    return system;
  }

  // The sum system, and the count cells its cells over per-household items imply.
  System Sums(std::vector<MirrorCell>* mirrors) {
    System system;
    AtomSpace& space = system.space;
    space.atom_count = static_cast<uint32_t>(pairs_.size());
    LayOut(&space, /*with_items=*/true);
    space.bits.assign(static_cast<size_t>(space.atom_count) * space.Words(), 0);
    for (uint32_t id = 0; id < pairs_.size(); ++id) {
      const auto [j, item] = pairs_[id];
      space.weight.push_back(pair_money_[id].contributors);
      space.unit_group.push_back(j);
      Describe(&space, id, j, /*with_items=*/true, item);
    }
    std::map<std::vector<uint32_t>, uint32_t> group_ids;
    std::vector<std::vector<uint32_t>> groups;
    for (size_t r = 0; r < runs_.size(); ++r) {
      const Run& run = runs_[r];
      const AnalysisResult& result = *run.result;
      const size_t items = result.items.size();
      if (r + 1 == runs_.size()) first_now_sums_ = system.cells.size();
      for (size_t c = 0; c < result.sum_cells.size(); ++c) {
        PublishedCell cell = result.sum_cells[c];
        std::vector<uint32_t> atoms;
        absl::flat_hash_map<uint32_t, std::vector<uint32_t>> per_household_joints;
        for (uint32_t s : cell.atoms) {
          const uint32_t a = static_cast<uint32_t>(s / items);
          const uint32_t item = static_cast<uint32_t>(s % items);
          const uint32_t canonical = canonical_[r][item];
          for (uint32_t j : joint_of_[r][a]) {
            auto it = pair_id_.find(PairKey(j, canonical));
            if (it == pair_id_.end()) continue;  // no money: known to be 0
            atoms.push_back(it->second);
            if (result.items[item].per_household) per_household_joints[item].push_back(j);
          }
        }
        std::sort(atoms.begin(), atoms.end());
        cell.atoms = std::move(atoms);
        cell.role = RoleOf(run.sum_states, c);
        if (cell.role != CellRole::kHidden) {
          for (auto& [item, joints] : per_household_joints) {
            (void)item;
            std::sort(joints.begin(), joints.end());
            joints.erase(std::unique(joints.begin(), joints.end()), joints.end());
            PublishedCell count;
            for (uint32_t j : joints) count.value += static_cast<double>(weight_[j]);
            count.atoms = std::move(joints);
            count.role = cell.role;
            mirrors->push_back({system.cells.size(), std::move(count)});
          }
        }
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
  uint64_t PairKey(uint32_t joint, uint32_t item) const {
    return static_cast<uint64_t>(joint) * canonical_count_ + item;
  }

  // Slot of run r's reference date `day`: each run's dates occupy consecutive slots.
  absl::StatusOr<uint32_t> SlotOf(size_t r, int32_t day) const {
    const std::vector<int32_t>& days = runs_[r].result->reference_days;
    auto it = std::find(days.begin(), days.end(), day);
    if (it == days.end())
      return absl::InternalError("a unit's day is no reference date of its run");
    return first_slot_[r] + static_cast<uint32_t>(it - days.begin());
  }

  absl::Status JoinUnits() {
    for (const Run& run : runs_) {
      first_slot_.push_back(slots_);
      slots_ += static_cast<uint32_t>(run.result->reference_days.size());
    }
    struct Entry {
      const ResultUnit* unit;
      uint32_t run;
      uint32_t slot;
    };
    std::vector<Entry> entries;
    for (uint32_t r = 0; r < runs_.size(); ++r) {
      for (const ResultUnit& unit : runs_[r].result->units) {
        ASSIGN_OR_RETURN(uint32_t slot, SlotOf(r, unit.day));
        entries.push_back({&unit, r, slot});
      }
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
      return std::tie(x.unit->household, x.slot) < std::tie(y.unit->household, y.slot);
    });
    absl::flat_hash_map<std::vector<int32_t>, uint32_t> id_of_tuple;
    joint_of_.resize(runs_.size());
    for (uint32_t r = 0; r < runs_.size(); ++r) joint_of_[r].resize(runs_[r].result->atoms.size());
    for (size_t begin = 0; begin < entries.size();) {
      size_t end = begin;
      std::vector<int32_t> tuple(slots_, -1);
      while (end < entries.size() &&
             entries[end].unit->household == entries[begin].unit->household) {
        tuple[entries[end].slot] = static_cast<int32_t>(entries[end].unit->atom);
        ++end;
      }
      auto [it, inserted] = id_of_tuple.emplace(tuple, static_cast<uint32_t>(tuples_.size()));
      if (inserted) {
        tuples_.push_back(tuple);
        weight_.push_back(0);
        for (uint32_t r = 0; r < runs_.size(); ++r) {
          for (uint32_t s = first_slot_[r]; s < first_slot_[r] + Dates(r); ++s) {
            if (tuple[s] >= 0) joint_of_[r][static_cast<size_t>(tuple[s])].push_back(it->second);
          }
        }
      }
      ++weight_[it->second];
      std::vector<std::pair<const ResultUnit*, uint32_t>> members;
      for (size_t e = begin; e < end; ++e) members.emplace_back(entries[e].unit, entries[e].run);
      households_.push_back({std::move(members), it->second});
      begin = end;
    }
    for (uint32_t r = 0; r < runs_.size(); ++r) {
      for (std::vector<uint32_t>& joints : joint_of_[r]) std::sort(joints.begin(), joints.end());
    }
    return absl::OkStatus();
  }

  uint32_t Dates(size_t r) const {
    return static_cast<uint32_t>(runs_[r].result->reference_days.size());
  }

  // A household's amount per canonical cost item, from its units on each release's first
  // reference date (the one costs tables are computed on).
  absl::StatusOr<absl::flat_hash_map<uint32_t, int64_t>> CentsOf(
      const std::vector<std::pair<const ResultUnit*, uint32_t>>& members) const {
    absl::flat_hash_map<uint32_t, int64_t> cents_of_item;
    for (const auto& [unit, run] : members) {
      if (unit->day != runs_[run].result->reference_days.front()) continue;
      for (const auto& [item, cents] : unit->cents) {
        auto [it, inserted] = cents_of_item.emplace(canonical_[run][item], cents);
        if (!inserted && it->second != cents) {
          return absl::InternalError(
              "two releases give one household different amounts for the same cost item");
        }
      }
    }
    return cents_of_item;
  }

  // Cost items of all releases that are the same quantity share a canonical number; then the
  // money of every (joint atom, canonical item) pair, from the households.
  absl::Status CanonicalItems() {
    std::map<std::string, uint32_t> id_of_definition;
    std::map<std::string, std::pair<std::string, std::string>> definition_of_volume;
    canonical_.resize(runs_.size());
    for (size_t r = 0; r < runs_.size(); ++r) {
      for (const CostItemDescription& item : runs_[r].result->items) {
        auto [volume, fresh] =
            definition_of_volume.emplace(item.volume, std::make_pair(item.definition, item.name));
        if (!fresh && volume->second.first != item.definition) {
          return absl::FailedPreconditionError(fmt::format(
              "cost item '{}' prices the same volume as cost item '{}' (of this or an earlier "
              "release) differently, or with another contribution bound; their sums would reveal "
              "each other, so exact releases of one covenant must price a volume alike: give "
              "one item both prices (prices: [a, b]), or ask the privacy officers to approve the "
              "spec with the earlier prices",
              item.name, volume->second.second));
        }
        auto [it, inserted] = id_of_definition.emplace(
            item.definition, static_cast<uint32_t>(id_of_definition.size()));
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
    for (const Household& household : households_) {
      ASSIGN_OR_RETURN(auto cents_of_item, CentsOf(household.members));
      for (const auto& [item, cents] : cents_of_item) {
        auto [it, inserted] =
            pair_id_.emplace(PairKey(household.joint, item), static_cast<uint32_t>(pairs_.size()));
        if (inserted) {
          pairs_.emplace_back(household.joint, item);
          pair_money_.emplace_back();
        }
        AddMoney(&pair_money_[it->second], cents, keep_);
      }
    }
    return absl::OkStatus();
  }

  // Per group of canonical items, per joint atom: each household's money in the group.
  std::vector<absl::flat_hash_map<uint32_t, SumAtomStats>> GroupMoney(
      const std::vector<std::vector<uint32_t>>& groups) const {
    std::vector<absl::flat_hash_map<uint32_t, SumAtomStats>> money(groups.size());
    for (const Household& household : households_) {
      absl::StatusOr<absl::flat_hash_map<uint32_t, int64_t>> cents_of_item =
          CentsOf(household.members);
      if (!cents_of_item.ok() || cents_of_item->empty()) continue;  // checked in Build
      for (size_t g = 0; g < groups.size(); ++g) {
        int64_t total = 0;
        for (uint32_t item : groups[g]) {
          auto it = cents_of_item->find(item);
          if (it != cents_of_item->end()) total += it->second;
        }
        if (total != 0) AddMoney(&money[g][household.joint], total, keep_);
      }
    }
    return money;
  }

  // Predicates: per slot (release and reference date) the area, whether the household is in it,
  // its household type and the names the release's tables select on; for sums also the cost
  // item and, per release, its payers.
  void LayOut(AtomSpace* space, bool with_items) const {
    space->multi_valued = slots_ + (with_items ? 1 : 0);
    uint32_t binary = 0;
    for (size_t r = 0; r < runs_.size(); ++r) {
      const AnalysisResult& result = *runs_[r].result;
      binary +=
          Dates(r) *
          (1 + static_cast<uint32_t>(result.household_types.size() + result.predicates.size()));
      if (with_items) binary += static_cast<uint32_t>(payers_[r].size());
    }
    space->binary = binary;
  }

  void Describe(AtomSpace* space, uint32_t id, uint32_t joint, bool with_items,
                uint32_t item) const {
    uint32_t bit = 0;
    for (size_t r = 0; r < runs_.size(); ++r) {
      const AnalysisResult& result = *runs_[r].result;
      const uint32_t types = static_cast<uint32_t>(result.household_types.size());
      const uint32_t predicates = static_cast<uint32_t>(result.predicates.size());
      for (uint32_t s = first_slot_[r]; s < first_slot_[r] + Dates(r); ++s) {
        const int32_t a = tuples_[joint][s];
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
      }
      if (!with_items) continue;
      for (const auto& [run, payer] : payers_of_item_[item]) {
        if (run != r) continue;
        const auto at = std::find(payers_[r].begin(), payers_[r].end(), payer);
        SetBit(space, id, bit + static_cast<uint32_t>(at - payers_[r].begin()));
      }
      bit += static_cast<uint32_t>(payers_[r].size());
    }
    if (with_items) space->values.push_back(item);
  }

  uint32_t AreaId(const std::string& code) const {
    auto [it, inserted] = area_ids_.emplace(code, static_cast<uint32_t>(area_ids_.size()));
    return it->second;
  }

  struct Household {
    std::vector<std::pair<const ResultUnit*, uint32_t>> members;  // its units, with their run
    uint32_t joint;
  };

  std::vector<Run> runs_;
  size_t keep_;
  std::vector<uint32_t> first_slot_;  // run -> its first slot
  uint32_t slots_ = 0;
  std::vector<Household> households_;
  std::vector<std::vector<int32_t>> tuples_;  // joint atom -> atom per slot (-1: absent)
  std::vector<int64_t> weight_;               // joint atom -> households
  std::vector<std::vector<std::vector<uint32_t>>> joint_of_;  // run, atom -> joint atoms
  std::vector<std::vector<uint32_t>> canonical_;              // run, item -> canonical item
  uint32_t canonical_count_ = 0;
  std::vector<std::vector<std::pair<uint32_t, std::string>>> payers_of_item_;  // canonical item
  std::vector<std::vector<std::string>> payers_;                               // run -> payers
  std::vector<std::pair<uint32_t, uint32_t>> pairs_;  // sum atom -> (joint atom, canonical item)
  absl::flat_hash_map<uint64_t, uint32_t> pair_id_;
  std::vector<SumAtomStats> pair_money_;
  size_t first_now_counts_ = 0;
  size_t first_now_sums_ = 0;
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
        for (uint32_t atom : difference)
          cell.value += static_cast<double>(system.space.weight[atom]);
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
          if (it != by_household.end()) MergeMoney(&money, it->second, LargestKept(rules));
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
      for (uint32_t atom : implied.sets[s]) {
        MergeMoney(&money, system.atom_money[atom], LargestKept(rules));
      }
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

// The protection of the last run's cells, [first, first + count) of the system's.
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

absl::StatusOr<ProtectedRelease> Protect(std::vector<Run> runs, const DisclosureRules& rules,
                                         const ImpliedSetLimits& limits) {
  const AnalysisResult& now = *runs.back().result;
  Joint joint(std::move(runs), LargestKept(rules));
  RETURN_IF_ERROR(joint.Build());
  std::vector<MirrorCell> mirrors;
  System sums = joint.Sums(&mirrors);
  System counts = joint.Counts();
  const size_t first_mirror = counts.cells.size();
  for (const MirrorCell& mirror : mirrors) counts.cells.push_back(mirror.count);
  ASSIGN_OR_RETURN(SystemProtection c, ProtectSystem(counts, rules, limits));
  ASSIGN_OR_RETURN(SystemProtection s, ProtectSystem(sums, rules, limits));
  // A sum over a per-household item shows a count: it is published only if that count may be.
  Protection sum_protection = s.protection;
  for (size_t m = 0; m < mirrors.size(); ++m) {
    const CellState count_state = c.protection.state[first_mirror + m];
    CellState& sum_state = sum_protection.state[mirrors[m].sum_cell];
    if (sum_state == CellState::kPublished && count_state != CellState::kPublished &&
        sums.cells[mirrors[m].sum_cell].role == CellRole::kCandidate) {
      sum_state = CellState::kSecondary;
    }
  }
  ProtectedRelease out;
  out.counts = Slice(c.protection, joint.first_now_counts(), now.count_cells.size(), counts.cells);
  out.sums = Slice(sum_protection, joint.first_now_sums(), now.sum_cells.size(), sums.cells);
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
  ASSIGN_OR_RETURN(ProtectedRelease alone, Protect({{&now, nullptr, nullptr}}, rules, limits));
  if (earlier.empty()) return alone;
  std::vector<Run> runs;
  for (const EarlierRelease& e : earlier)
    runs.push_back({e.result, &e.count_states, &e.sum_states});
  runs.push_back({&now, nullptr, nullptr});
  ASSIGN_OR_RETURN(ProtectedRelease together, Protect(std::move(runs), rules, limits));
  together.suppressed_for_history =
      NewlySuppressed(alone.counts, together.counts) + NewlySuppressed(alone.sums, together.sums);
  return together;
}

}  // namespace koppel::analysis

#include "tests/testing/group_attacker.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "absl/status/status.h"
#include "tests/testing/linear_attacker.h"

namespace koppel::test {
namespace {

struct Literal {
  bool multi_valued = false;
  size_t predicate = 0;
  int value = 0;     // multi-valued: the value
  bool yes = false;  // yes/no: the polarity
  bool Holds(const AttackAtom& atom) const {
    return multi_valued ? atom.values[predicate] == value : atom.bits[predicate] == yes;
  }
  std::string Text() const {
    return multi_valued ? fmt::format("v{}={}", predicate, value)
                        : fmt::format("{}b{}", yes ? "" : "!", predicate);
  }
};

int64_t Weight(const std::vector<AttackAtom>& atoms, const std::vector<uint32_t>& set) {
  int64_t total = 0;
  for (uint32_t a : set) total += atoms[a].households;
  return total;
}

}  // namespace

absl::StatusOr<std::vector<DisclosedGroup>> FindDisclosedGroups(
    const std::vector<AttackAtom>& atoms, const std::vector<std::vector<uint32_t>>& published,
    int64_t min_cell, int max_literals) {
  if (atoms.empty()) return std::vector<DisclosedGroup>{};
  const size_t multi = atoms[0].values.size();
  const size_t binary = atoms[0].bits.size();
  for (const AttackAtom& atom : atoms) {
    if (atom.values.size() != multi || atom.bits.size() != binary) {
      return absl::InvalidArgumentError("atoms describe different numbers of predicates");
    }
  }
  // Yes/no predicates that agree on every atom are one predicate.
  std::vector<size_t> distinct_bits;
  for (size_t b = 0; b < binary; ++b) {
    bool repeats = false;
    for (size_t earlier : distinct_bits) {
      repeats = std::all_of(atoms.begin(), atoms.end(), [&](const AttackAtom& atom) {
        return atom.bits[b] == atom.bits[earlier];
      });
      if (repeats) break;
    }
    if (!repeats) distinct_bits.push_back(b);
  }
  // Literals grouped by predicate: a conjunction takes at most one of each group.
  std::vector<std::vector<Literal>> groups;
  for (size_t p = 0; p < multi; ++p) {
    std::set<int> values;
    for (const AttackAtom& atom : atoms) values.insert(atom.values[p]);
    std::vector<Literal> group;
    for (int v : values) group.push_back({true, p, v, false});
    groups.push_back(std::move(group));
  }
  for (size_t b : distinct_bits) groups.push_back({{false, b, 0, true}, {false, b, 0, false}});

  std::map<std::vector<uint32_t>, std::string> candidates;
  auto consider = [&](std::vector<uint32_t> set, const std::string& description) {
    const int64_t weight = Weight(atoms, set);
    if (weight < 1 || weight >= min_cell) return;
    candidates.emplace(std::move(set), description);
  };
  std::vector<uint32_t> all(atoms.size());
  for (uint32_t a = 0; a < atoms.size(); ++a) all[a] = a;
  std::function<void(size_t, int, const std::vector<uint32_t>&, const std::string&)> extend =
      [&](size_t next_group, int literals, const std::vector<uint32_t>& extent,
          const std::string& text) {
        if (literals > 0) consider(extent, text);
        if (literals == max_literals) return;
        for (size_t g = next_group; g < groups.size(); ++g) {
          for (const Literal& literal : groups[g]) {
            std::vector<uint32_t> narrowed;
            for (uint32_t a : extent) {
              if (literal.Holds(atoms[a])) narrowed.push_back(a);
            }
            if (narrowed.empty()) continue;
            extend(g + 1, literals + 1, narrowed,
                   text.empty() ? literal.Text() : text + " & " + literal.Text());
          }
        }
      };
  extend(0, 0, all, "");
  for (uint32_t a = 0; a < atoms.size(); ++a) consider({a}, fmt::format("atom {}", a));
  for (size_t i = 0; i < published.size(); ++i) {
    for (size_t k = 0; k < published.size(); ++k) {
      std::vector<uint32_t> big = published[i];
      std::vector<uint32_t> small = published[k];
      std::sort(big.begin(), big.end());
      std::sort(small.begin(), small.end());
      if (i == k || small.size() >= big.size() ||
          !std::includes(big.begin(), big.end(), small.begin(), small.end())) {
        continue;
      }
      std::vector<uint32_t> difference;
      std::set_difference(big.begin(), big.end(), small.begin(), small.end(),
                          std::back_inserter(difference));
      consider(difference, fmt::format("published cell {} minus published cell {}", i, k));
    }
  }

  std::vector<std::vector<uint32_t>> cells = published;
  std::vector<bool> is_published(published.size(), true);
  std::vector<const std::pair<const std::vector<uint32_t>, std::string>*> order;
  for (const auto& entry : candidates) {
    cells.push_back(entry.first);
    is_published.push_back(false);
    order.push_back(&entry);
  }
  absl::StatusOr<std::vector<size_t>> derivable =
      FindDerivableCells(cells, is_published, static_cast<uint32_t>(atoms.size()));
  if (!derivable.ok()) return derivable.status();
  std::vector<DisclosedGroup> disclosed;
  for (size_t index : *derivable) {
    const auto* entry = order[index - published.size()];
    disclosed.push_back({entry->first, Weight(atoms, entry->first), entry->second});
  }
  return disclosed;
}

absl::StatusOr<HeldReleases> JoinReleases(
    const std::vector<const analysis::AnalysisResult*>& releases,
    const std::vector<const std::vector<analysis::CellState>*>& states) {
  if (releases.size() != states.size()) {
    return absl::InvalidArgumentError("one published-state list per release");
  }
  using Unit = std::pair<std::array<char, 16>, int32_t>;
  std::map<Unit, std::vector<int64_t>> tuple_of_unit;
  for (size_t r = 0; r < releases.size(); ++r) {
    if (releases[r]->units.empty() && !releases[r]->atoms.empty()) {
      return absl::InvalidArgumentError("run the engine with keep_units");
    }
    for (const analysis::ResultUnit& unit : releases[r]->units) {
      std::vector<int64_t>& tuple = tuple_of_unit[{unit.household, unit.day}];
      tuple.resize(releases.size(), -1);
      tuple[r] = unit.atom;
    }
  }
  HeldReleases held;
  std::map<std::string, int> area_ids;
  std::map<std::pair<std::vector<int64_t>, int32_t>, uint32_t> joint_of;
  std::vector<std::map<uint32_t, std::vector<uint32_t>>> joints_of_atom(releases.size());
  for (const auto& [unit, tuple] : tuple_of_unit) {
    auto [it, inserted] = joint_of.emplace(std::make_pair(tuple, unit.second),
                                           static_cast<uint32_t>(held.atoms.size()));
    if (inserted) {
      AttackAtom atom;
      atom.values.push_back(unit.second);
      for (size_t r = 0; r < releases.size(); ++r) {
        const analysis::AnalysisResult& result = *releases[r];
        if (tuple[r] < 0) {
          atom.values.push_back(-1);
          atom.bits.insert(atom.bits.end(),
                           1 + result.household_types.size() + result.predicates.size(), false);
          continue;
        }
        const analysis::AtomDescription& d = result.atoms[static_cast<size_t>(tuple[r])];
        atom.values.push_back(
            area_ids.emplace(result.area_codes[d.area], static_cast<int>(area_ids.size()))
                .first->second);
        atom.bits.push_back(true);
        for (size_t t = 0; t < result.household_types.size(); ++t) atom.bits.push_back(d.type == t);
        for (size_t p = 0; p < result.predicates.size(); ++p) {
          atom.bits.push_back((d.holds[p / 64] >> (p % 64)) & 1);
        }
        joints_of_atom[r][static_cast<uint32_t>(tuple[r])].push_back(
            static_cast<uint32_t>(held.atoms.size()));
      }
      held.atoms.push_back(std::move(atom));
    }
    ++held.atoms[it->second].households;
  }
  for (size_t r = 0; r < releases.size(); ++r) {
    for (size_t c = 0; c < releases[r]->count_cells.size(); ++c) {
      if ((*states[r])[c] != analysis::CellState::kPublished) continue;
      std::vector<uint32_t> cell;
      for (uint32_t a : releases[r]->count_cells[c].atoms) {
        const auto& joints = joints_of_atom[r][a];
        cell.insert(cell.end(), joints.begin(), joints.end());
      }
      std::sort(cell.begin(), cell.end());
      held.published.push_back(std::move(cell));
    }
  }
  return held;
}

std::string Describe(const std::vector<DisclosedGroup>& groups) {
  std::string text;
  for (const DisclosedGroup& group : groups) {
    text += fmt::format("  {} households: {}\n", group.households, group.description);
  }
  return text;
}

}  // namespace koppel::test

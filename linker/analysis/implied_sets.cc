#include "linker/analysis/implied_sets.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "core/status_macros.h"
#include "linker/analysis/exact_rows.h"

namespace koppel::analysis {
namespace {

using exact::Combine;
using exact::EliminationFactors;
using exact::SparseRow;

// 128-bit integers for the exact sums of reduced rows (overflow is checked with builtins).
__extension__ typedef __int128 Wide;

constexpr uint32_t kFree = UINT32_MAX;
constexpr uint32_t kNoClass = UINT32_MAX;

absl::Status Overflow() {
  return absl::ResourceExhaustedError(
      "disclosure control cannot decide exactly which groups the release determines (the "
      "exact arithmetic would overflow); nothing is released. Split the spec into smaller "
      "releases");
}

absl::Status Validate(const std::vector<PublishedCell>& cells, const AtomSpace& atoms) {
  const size_t n = atoms.atom_count;
  if (atoms.weight.size() != n || (!atoms.unit_group.empty() && atoms.unit_group.size() != n) ||
      atoms.values.size() != n * atoms.multi_valued ||
      atoms.bits.size() != n * static_cast<size_t>(atoms.Words())) {
    return absl::InvalidArgumentError("implied sets: the atom space's sizes do not match");
  }
  for (size_t i = 0; i < cells.size(); ++i) {
    for (uint32_t atom : cells[i].atoms) {
      if (atom >= n) {
        return absl::InvalidArgumentError(
            fmt::format("implied sets: cell {} names atom {} of {}", i, atom, n));
      }
    }
  }
  return absl::OkStatus();
}

// A set's weight: per unit group the largest atom weight, summed; stops early once it exceeds
// `limit` (then only "more than limit" is known).
class WeightSum {
 public:
  WeightSum(const AtomSpace& atoms, int64_t limit) : atoms_(atoms), limit_(limit) {}

  void Add(uint32_t atom) {
    if (atoms_.unit_group.empty()) {
      total_ += atoms_.weight[atom];
      return;
    }
    int64_t& best = largest_[atoms_.unit_group[atom]];
    if (atoms_.weight[atom] > best) {
      total_ += atoms_.weight[atom] - best;
      best = atoms_.weight[atom];
    }
  }
  bool Exceeded() const { return total_ > limit_; }
  int64_t total() const { return total_; }

 private:
  const AtomSpace& atoms_;
  int64_t limit_;
  int64_t total_ = 0;
  absl::flat_hash_map<uint32_t, int64_t> largest_;
};

// The conjunction the atoms of a set share: the value of each multi-valued predicate they all
// have (else free), and the binary predicates on which they all agree.
struct Meet {
  std::vector<uint32_t> value;
  std::vector<uint64_t> agree;
  std::vector<uint64_t> bits;
};

class Searcher {
 public:
  Searcher(const std::vector<PublishedCell>& cells, const AtomSpace& atoms,
           const DisclosureRules& rules, const ImpliedSetLimits& limits)
      : cells_(cells), atoms_(atoms), rules_(rules), limit_(rules.min_cell - 1), limits_(limits) {}

  absl::StatusOr<ImpliedSets> Run() {
    BuildClasses();
    IndexAtoms();
    ComputeClassMeets();
    RETURN_IF_ERROR(SmallOnlySpan());
    result_.small_only_dimension = static_cast<uint32_t>(pivot_rows_.size());
    if (pivot_rows_.empty()) return std::move(result_);
    for (const auto& [klass, row] : row_of_pivot_) {
      (void)row;
      ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> closed, Close({klass}));
      if (closed) RETURN_IF_ERROR(Visit(std::move(*closed)));
    }
    return std::move(result_);
  }

 private:
  // ------------------------------------------------------------------------------------------
  // Classes: atoms that lie in exactly the same cells.

  void BuildClasses() {
    std::vector<std::vector<uint32_t>> cells_of_atom(atoms_.atom_count);
    for (size_t c = 0; c < cells_.size(); ++c) {
      for (uint32_t atom : cells_[c].atoms) cells_of_atom[atom].push_back(static_cast<uint32_t>(c));
    }
    std::map<std::vector<uint32_t>, uint32_t> class_of_signature;
    class_of_atom_.assign(atoms_.atom_count, kNoClass);
    for (uint32_t atom = 0; atom < atoms_.atom_count; ++atom) {
      if (cells_of_atom[atom].empty()) continue;
      auto [it, inserted] = class_of_signature.emplace(std::move(cells_of_atom[atom]),
                                                       static_cast<uint32_t>(class_atoms_.size()));
      if (inserted) class_atoms_.emplace_back();
      class_of_atom_[atom] = it->second;
      class_atoms_[it->second].push_back(atom);
    }
    class_weight_.resize(class_atoms_.size());
    for (size_t k = 0; k < class_atoms_.size(); ++k) {
      WeightSum sum(atoms_, INT64_MAX);
      for (uint32_t atom : class_atoms_[k]) sum.Add(atom);
      class_weight_[k] = sum.total();
      if (class_weight_[k] <= limit_) ++result_.small_classes;
    }
  }

  bool IsSmall(uint32_t klass) const { return class_weight_[klass] <= limit_; }

  // ------------------------------------------------------------------------------------------
  // The span of every cell that could be published, and its part on small classes only.

  // Position of a class in the elimination order: heavy classes first, so that a row whose
  // leading position is small has no heavy class at all.
  void OrderClasses() {
    position_of_class_.resize(class_atoms_.size());
    std::vector<uint32_t> order(class_atoms_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_partition(order.begin(), order.end(), [this](uint32_t k) { return !IsSmall(k); });
    class_at_position_ = order;
    for (uint32_t p = 0; p < order.size(); ++p) position_of_class_[order[p]] = p;
    first_small_position_ = static_cast<uint32_t>(
        std::count_if(order.begin(), order.end(), [this](uint32_t k) { return !IsSmall(k); }));
  }

  SparseRow RowOf(const PublishedCell& cell) const {
    SparseRow row;
    for (uint32_t atom : cell.atoms)
      row.columns.push_back(position_of_class_[class_of_atom_[atom]]);
    std::sort(row.columns.begin(), row.columns.end());
    row.columns.erase(std::unique(row.columns.begin(), row.columns.end()), row.columns.end());
    row.values.assign(row.columns.size(), 1);
    return row;
  }

  absl::Status SmallOnlySpan() {
    OrderClasses();
    // Row echelon form in which each row's pivot is its leading position.
    std::map<uint32_t, SparseRow> row_of_lead;
    absl::flat_hash_set<std::vector<uint32_t>> seen;
    for (const PublishedCell& cell : cells_) {
      if (cell.role == CellRole::kHidden) continue;
      if (cell.role == CellRole::kCandidate && IsSensitive(cell, rules_)) continue;
      if (cell.atoms.empty() || !seen.insert(cell.atoms).second) continue;
      SparseRow row = RowOf(cell);
      while (!row.empty()) {
        auto it = row_of_lead.find(row.columns.front());
        if (it == row_of_lead.end()) {
          row_of_lead.emplace(row.columns.front(), std::move(row));
          break;
        }
        const auto [a, b] = EliminationFactors(row.values.front(), it->second.values.front());
        SparseRow reduced;
        if (!Combine(a, row, b, it->second, &reduced)) return Overflow();
        row = std::move(reduced);
      }
    }
    // The rows with a small leading position span exactly the vectors of the span that are
    // zero on every heavy class. Reduce them against each other (Gauss-Jordan).
    std::vector<SparseRow> rows;
    std::vector<uint32_t> leads;
    for (auto& [lead, row] : row_of_lead) {
      if (lead < first_small_position_) continue;
      leads.push_back(lead);
      rows.push_back(std::move(row));
    }
    for (size_t i = rows.size(); i-- > 0;) {
      const uint32_t pivot = leads[i];
      for (size_t j = 0; j < rows.size(); ++j) {
        if (j == i) continue;
        const int64_t value = rows[j].At(pivot);
        if (value == 0) continue;
        const auto [a, b] = EliminationFactors(value, rows[i].At(pivot));
        SparseRow reduced;
        if (!Combine(a, rows[j], b, rows[i], &reduced)) return Overflow();
        rows[j] = std::move(reduced);
      }
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint32_t klass = class_at_position_[leads[i]];
      row_of_pivot_[klass] = static_cast<uint32_t>(pivot_rows_.size());
      pivot_value_.push_back(rows[i].At(leads[i]));
      pivot_rows_.push_back(std::move(rows[i]));
    }
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------------------------
  // Closures: the smallest describable union of classes containing a set of classes.

  void IndexAtoms() {
    words_ = atoms_.Words();
    auto heavier = [this](uint32_t x, uint32_t y) {
      if (atoms_.weight[x] != atoms_.weight[y]) return atoms_.weight[x] > atoms_.weight[y];
      return x < y;
    };
    all_atoms_.resize(atoms_.atom_count);
    std::iota(all_atoms_.begin(), all_atoms_.end(), 0);
    std::sort(all_atoms_.begin(), all_atoms_.end(), heavier);
    const size_t atom_words = (atoms_.atom_count + 63) / 64;
    value_literals_.resize(atoms_.multi_valued);
    bit_literals_.assign(2 * static_cast<size_t>(atoms_.binary),
                         Literal{std::vector<uint64_t>(atom_words, 0), 0});
    for (uint32_t atom = 0; atom < atoms_.atom_count; ++atom) {
      const uint64_t atom_bit = uint64_t{1} << (atom % 64);
      for (uint32_t p = 0; p < atoms_.multi_valued; ++p) {
        Literal& literal = value_literals_[p][atoms_.values[atom * atoms_.multi_valued + p]];
        if (literal.atoms.empty()) literal.atoms.assign(atom_words, 0);
        literal.atoms[atom / 64] |= atom_bit;
        ++literal.size;
      }
      const uint64_t* bits = &atoms_.bits[static_cast<size_t>(atom) * words_];
      for (uint32_t b = 0; b < atoms_.binary; ++b) {
        Literal& literal = bit_literals_[2 * b + ((bits[b / 64] >> (b % 64)) & 1)];
        literal.atoms[atom / 64] |= atom_bit;
        ++literal.size;
      }
    }
  }

  // The meet of one atom's predicates.
  Meet AtomMeet(uint32_t atom) const {
    Meet meet;
    const uint32_t* values = &atoms_.values[static_cast<size_t>(atom) * atoms_.multi_valued];
    const uint64_t* bits = &atoms_.bits[static_cast<size_t>(atom) * words_];
    meet.value.assign(values, values + atoms_.multi_valued);
    meet.bits.assign(bits, bits + words_);
    meet.agree.assign(words_, ~uint64_t{0});
    return meet;
  }

  // Narrows `into` to what it shares with `other`.
  void Narrow(Meet* into, const Meet& other) const {
    for (uint32_t p = 0; p < atoms_.multi_valued; ++p) {
      if (into->value[p] != other.value[p]) into->value[p] = kFree;
    }
    for (uint32_t w = 0; w < words_; ++w) {
      into->agree[w] &= other.agree[w] & ~(into->bits[w] ^ other.bits[w]);
    }
  }

  void ComputeClassMeets() {
    class_meet_.reserve(class_atoms_.size());
    for (const std::vector<uint32_t>& atoms : class_atoms_) {
      Meet meet = AtomMeet(atoms.front());
      for (size_t i = 1; i < atoms.size(); ++i) Narrow(&meet, AtomMeet(atoms[i]));
      class_meet_.push_back(std::move(meet));
    }
  }

  Meet MeetOf(const std::vector<uint32_t>& classes) const {
    Meet meet = class_meet_[classes.front()];
    for (size_t i = 1; i < classes.size(); ++i) Narrow(&meet, class_meet_[classes[i]]);
    return meet;
  }

  // A meet as a hashable key: the fixed values, and per word the agreement and agreed bits.
  std::vector<uint64_t> KeyOf(const Meet& meet) const {
    std::vector<uint64_t> key(meet.value.begin(), meet.value.end());
    for (uint32_t w = 0; w < words_; ++w) {
      key.push_back(meet.agree[w]);
      key.push_back(meet.bits[w] & meet.agree[w]);
    }
    return key;
  }

  bool Satisfies(uint32_t atom, const Meet& meet) const {
    const uint32_t* values = &atoms_.values[static_cast<size_t>(atom) * atoms_.multi_valued];
    for (uint32_t p = 0; p < atoms_.multi_valued; ++p) {
      if (meet.value[p] != kFree && meet.value[p] != values[p]) return false;
    }
    const uint64_t* bits = &atoms_.bits[static_cast<size_t>(atom) * words_];
    for (uint32_t w = 0; w < words_; ++w) {
      if (((bits[w] ^ meet.bits[w]) & meet.agree[w]) != 0) return false;
    }
    return true;
  }

  // The atoms to test against a meet: those holding its three rarest literals (an AND of their
  // atom sets), into `out`.
  void Candidates(const Meet& meet, std::vector<uint32_t>* out) {
    std::array<const std::vector<uint64_t>*, 3> rarest{};
    std::array<uint32_t, 3> sizes{};
    auto consider = [&](const Literal& literal) {
      for (size_t i = 0; i < rarest.size(); ++i) {
        if (rarest[i] == nullptr || literal.size < sizes[i]) {
          for (size_t k = rarest.size() - 1; k > i; --k) {
            rarest[k] = rarest[k - 1];
            sizes[k] = sizes[k - 1];
          }
          rarest[i] = &literal.atoms;
          sizes[i] = literal.size;
          return;
        }
      }
    };
    for (uint32_t p = 0; p < atoms_.multi_valued; ++p) {
      if (meet.value[p] == kFree) continue;
      auto it = value_literals_[p].find(meet.value[p]);
      if (it != value_literals_[p].end()) consider(it->second);
    }
    for (uint32_t b = 0; b < atoms_.binary; ++b) {
      const uint64_t mask = uint64_t{1} << (b % 64);
      if ((meet.agree[b / 64] & mask) == 0) continue;
      consider(bit_literals_[2 * b + ((meet.bits[b / 64] & mask) != 0 ? 1 : 0)]);
    }
    out->clear();
    if (rarest[0] == nullptr) {
      out->assign(all_atoms_.begin(), all_atoms_.end());
      return;
    }
    const size_t words = rarest[0]->size();
    for (size_t w = 0; w < words; ++w) {
      uint64_t word = (*rarest[0])[w];
      for (size_t i = 1; i < rarest.size() && rarest[i] != nullptr; ++i) word &= (*rarest[i])[w];
      while (word != 0) {
        out->push_back(static_cast<uint32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(word))));
        word &= word - 1;
      }
    }
  }

  // The closure of `classes`, or nothing when it weighs more than the limit, holds an atom in
  // no cell (no union of classes is describable then), or its work budget is spent.
  absl::StatusOr<std::optional<std::vector<uint32_t>>> Close(std::vector<uint32_t> classes) {
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    // The closure depends only on the meet it starts from: remembered for every meet met.
    std::vector<std::vector<uint64_t>> meets;
    auto remember = [&](std::optional<std::vector<uint32_t>> closed) {
      for (std::vector<uint64_t>& key : meets) closure_of_meet_.emplace(std::move(key), closed);
      return closed;
    };
    while (true) {
      const Meet meet = MeetOf(classes);
      std::vector<uint64_t> key = KeyOf(meet);
      auto known = closure_of_meet_.find(key);
      if (known != closure_of_meet_.end()) return remember(known->second);
      meets.push_back(std::move(key));
      if (++result_.closures > limits_.max_closures) return Exhausted();
      WeightSum weight(atoms_, limit_);
      std::vector<uint32_t> grown = classes;
      Candidates(meet, &candidates_);
      for (uint32_t atom : candidates_) {
        if (++result_.atoms_examined > limits_.max_atoms_examined) return Exhausted();
        if (!Satisfies(atom, meet)) continue;
        const uint32_t klass = class_of_atom_[atom];
        if (klass == kNoClass) return remember(std::nullopt);
        weight.Add(atom);
        if (weight.Exceeded()) return remember(std::nullopt);
        grown.push_back(klass);
      }
      std::sort(grown.begin(), grown.end());
      grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
      if (grown == classes) return remember(classes);
      WeightSum whole(atoms_, limit_);
      for (uint32_t klass : grown) {
        for (uint32_t atom : class_atoms_[klass]) whole.Add(atom);
      }
      if (whole.Exceeded()) return remember(std::nullopt);
      classes = std::move(grown);
    }
  }

  absl::Status Exhausted() const {
    return absl::ResourceExhaustedError(fmt::format(
        "disclosure control did not finish finding the groups the release could determine "
        "within its budget ({} closures, {} atoms examined); nothing is released. Split the spec "
        "into smaller releases, or group areas into fewer",
        result_.closures, result_.atoms_examined));
  }

  // ------------------------------------------------------------------------------------------
  // The search.

  // The vector of the small-only span that is 1 at the pivots in `pivots` and 0 at the others,
  // if it is a 0/1 vector: its classes. Overflow is an error.
  absl::StatusOr<std::optional<std::vector<uint32_t>>> ZeroOneVector(
      const std::vector<uint32_t>& pivots) const {
    Wide common = 1;
    for (uint32_t row : pivots) {
      const Wide p = pivot_value_[row] < 0 ? -pivot_value_[row] : pivot_value_[row];
      Wide a = common;
      Wide b = p;
      while (b != 0) {
        const Wide t = a % b;
        a = b;
        b = t;
      }
      if (__builtin_mul_overflow(common / a, p, &common)) return Overflow();
    }
    std::map<uint32_t, Wide> sum;
    for (uint32_t row : pivots) {
      const Wide scale = common / pivot_value_[row];
      const SparseRow& r = pivot_rows_[row];
      for (size_t k = 0; k < r.columns.size(); ++k) {
        Wide term = 0;
        if (__builtin_mul_overflow(Wide{r.values[k]}, scale, &term)) {
          return Overflow();
        }
        Wide& cell = sum[r.columns[k]];
        if (__builtin_add_overflow(cell, term, &cell)) return Overflow();
      }
    }
    std::vector<uint32_t> classes;
    for (const auto& [position, value] : sum) {
      if (value == 0) continue;
      if (value != common) return std::nullopt;
      classes.push_back(class_at_position_[position]);
    }
    std::sort(classes.begin(), classes.end());
    return classes;
  }

  // The pivot classes whose closure together with pivot class `klass` stays small. A closure of
  // a set holding both contains the closure of the pair, so only these can ever join `klass`.
  absl::StatusOr<const std::vector<uint32_t>*> PartnersOf(uint32_t klass) {
    auto [it, inserted] = partners_.try_emplace(klass);
    if (!inserted) return &it->second;
    std::vector<uint32_t> partners;
    for (const auto& [other, row] : row_of_pivot_) {
      (void)row;
      if (other == klass) continue;
      if (atoms_.unit_group.empty() && class_weight_[klass] + class_weight_[other] > limit_) {
        continue;  // plain weights add up
      }
      ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> pair, Close({klass, other}));
      if (pair) partners.push_back(other);
    }
    it = partners_.find(klass);
    it->second = std::move(partners);
    return &it->second;
  }

  absl::Status Visit(std::vector<uint32_t> closed) {
    if (!visited_.insert(closed).second) return absl::OkStatus();
    std::vector<uint32_t> pivots;
    std::vector<uint32_t> pivot_classes;
    for (uint32_t klass : closed) {
      auto it = row_of_pivot_.find(klass);
      if (it == row_of_pivot_.end()) continue;
      pivots.push_back(it->second);
      pivot_classes.push_back(klass);
    }
    ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> determined, ZeroOneVector(pivots));
    if (determined && !determined->empty()) RETURN_IF_ERROR(Record(*determined));
    int64_t weight = 0;
    if (atoms_.unit_group.empty()) {
      for (uint32_t klass : closed) weight += class_weight_[klass];
    }
    // Pivots that may join: partners of every pivot the set holds.
    std::vector<uint32_t> candidates;
    for (size_t i = 0; i < pivot_classes.size(); ++i) {
      ASSIGN_OR_RETURN(const std::vector<uint32_t>* partners, PartnersOf(pivot_classes[i]));
      if (i == 0) {
        candidates = *partners;
        continue;
      }
      std::vector<uint32_t> both;
      std::set_intersection(candidates.begin(), candidates.end(), partners->begin(),
                            partners->end(), std::back_inserter(both));
      candidates = std::move(both);
    }
    for (uint32_t klass : candidates) {
      if (std::binary_search(closed.begin(), closed.end(), klass)) continue;
      // Plain weights add up: a closure with this class weighs at least the sum.
      if (atoms_.unit_group.empty() && weight + class_weight_[klass] > limit_) continue;
      std::vector<uint32_t> grown = closed;
      grown.push_back(klass);
      ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> next, Close(std::move(grown)));
      if (next) RETURN_IF_ERROR(Visit(std::move(*next)));
    }
    return absl::OkStatus();
  }

  absl::Status Record(const std::vector<uint32_t>& classes) {
    if (!recorded_.insert(classes).second) return absl::OkStatus();
    WeightSum weight(atoms_, INT64_MAX);
    std::vector<uint32_t> set;
    for (uint32_t klass : classes) {
      for (uint32_t atom : class_atoms_[klass]) {
        weight.Add(atom);
        set.push_back(atom);
      }
    }
    if (weight.total() < 1 || weight.total() > limit_) return absl::OkStatus();
    std::sort(set.begin(), set.end());
    ASSIGN_OR_RETURN(std::optional<std::vector<uint32_t>> closure, Close(classes));
    if (closure && *closure == classes) ++result_.conjunctions;
    result_.sets.push_back(std::move(set));
    result_.weights.push_back(weight.total());
    return absl::OkStatus();
  }

  const std::vector<PublishedCell>& cells_;
  const AtomSpace& atoms_;
  const DisclosureRules& rules_;
  const int64_t limit_;
  const ImpliedSetLimits& limits_;
  ImpliedSets result_;

  std::vector<uint32_t> class_of_atom_;
  std::vector<std::vector<uint32_t>> class_atoms_;
  std::vector<int64_t> class_weight_;
  std::vector<uint32_t> position_of_class_;
  std::vector<uint32_t> class_at_position_;
  uint32_t first_small_position_ = 0;

  std::vector<SparseRow> pivot_rows_;          // Gauss-Jordan rows of the small-only span
  std::vector<int64_t> pivot_value_;           // each row's value at its pivot
  std::map<uint32_t, uint32_t> row_of_pivot_;  // pivot class -> row

  uint32_t words_ = 0;
  std::vector<uint32_t> all_atoms_;  // heaviest first
  // Per literal, the atoms holding it (a bit set over atoms) and how many.
  struct Literal {
    std::vector<uint64_t> atoms;
    uint32_t size = 0;
  };
  std::vector<absl::flat_hash_map<uint32_t, Literal>> value_literals_;  // predicate, value
  std::vector<Literal> bit_literals_;  // 2 * binary predicate + (0: no, 1: yes)
  std::vector<uint32_t> candidates_;   // scratch
  std::vector<Meet> class_meet_;
  std::map<uint32_t, std::vector<uint32_t>> partners_;  // pivot class -> PartnersOf, ascending
  absl::flat_hash_map<std::vector<uint64_t>, std::optional<std::vector<uint32_t>>> closure_of_meet_;
  absl::flat_hash_set<std::vector<uint32_t>> visited_;
  absl::flat_hash_set<std::vector<uint32_t>> recorded_;
};

}  // namespace

absl::StatusOr<ImpliedSets> FindImpliedSets(const std::vector<PublishedCell>& cells,
                                            const AtomSpace& atoms, const DisclosureRules& rules,
                                            const ImpliedSetLimits& limits) {
  RETURN_IF_ERROR(Validate(cells, atoms));
  if (rules.min_cell <= 1 || !rules.secondary) return ImpliedSets{};
  Searcher searcher(cells, atoms, rules, limits);
  return searcher.Run();
}

}  // namespace koppel::analysis

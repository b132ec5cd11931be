// An independent linear attacker on a released table system: a second opinion on
// koppel::ProtectCells (linker/analysis/disclosure.h) for tests.
//
// The attacker knows the structure of a system (which atoms exist and which atoms each cell
// sums) and the value of every published cell. A suppressed cell is determined (disclosed)
// when its atom-indicator vector is a linear combination of the published cells' vectors
// over the rationals; then its value is that combination of published values.
//
// Deliberately a different method from disclosure.cc (fraction-free integer elimination in an
// insertion-ordered echelon form with atom merging): this builds the reduced row echelon form
// (Gauss-Jordan, pivot on the lowest column) of the published matrix in exact rational
// arithmetic (int64 numerator/denominator, gcd-normalised, 128-bit intermediates) and reduces
// every suppressed cell by it. It never guesses: if a number does not fit in int64 it fails.
//
// It is purely linear: it does not use that counts are non-negative (so a published 0 reveals
// each of its atoms), which ProtectCells does also protect against. Its findings are therefore
// a lower bound: an empty answer on a released system is necessary, not sufficient.
#ifndef KOPPEL_TESTS_TESTING_LINEAR_ATTACKER_H_
#define KOPPEL_TESTS_TESTING_LINEAR_ATTACKER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel::test {

// Indices (ascending) of the cells with published[i] == false whose value the published
// cells determine. `cell_atoms[i]` is cell i's set of atoms, each < atom_count, in any order.
// INVALID_ARGUMENT for mismatched sizes, atoms out of range or repeated within a cell;
// OUT_OF_RANGE when exact arithmetic would overflow int64 (no answer rather than a guess).
absl::StatusOr<std::vector<size_t>> FindDerivableCells(
    const std::vector<std::vector<uint32_t>>& cell_atoms, const std::vector<bool>& published,
    uint32_t atom_count);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_LINEAR_ATTACKER_H_

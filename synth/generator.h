// koppel-synth's whole run: a deterministic synthetic municipality written as ten data
// holders' exports with mapping files, plus the ground truth (truth/exports.json,
// truth/population.csv, truth/study.json, truth/cohort.json; with dialects also
// truth/rejects/, truth/outsiders.csv, mappings/postcodes.csv and the snapshot study spec; with
// the intervention truth/cost_benefit.json).
// Streams household by household, so memory stays bounded at any size (the dialects keep the
// municipality's postcodes).
#ifndef KOPPEL_SYNTH_GENERATOR_H_
#define KOPPEL_SYNTH_GENERATOR_H_

#include <cstdint>
#include <filesystem>

#include "absl/status/statusor.h"

namespace koppel::synth {

struct SynthOptions {
  std::filesystem::path out;
  uint64_t seed = 2014;
  uint64_t persons = 0;      // 0: the size of Almelo (31,392 households)
  double error_rate = 0.01;  // per export, share of rows given exactly one error
  bool force = false;        // write into a non-empty directory
  // The exports in the dialects real holders write (docs/synth.md, "Dialects"), with the
  // expected reject reports and the snapshot study spec.
  bool dialects = false;
  // Outcome events of 2015-2019 with a known effect of the wijkteam's 2014 cohort and the
  // ground truth truth/cost_benefit.json (docs/synth.md, "Intervention").
  bool intervention = false;
  bool progress = false;  // report progress on stderr
};

struct SynthSummary {
  uint64_t households = 0;
  uint64_t persons = 0;
  uint64_t rows = 0;
};

// Errors: FailedPrecondition when `out` is not empty and force is off; Unavailable for a file
// that cannot be created or written; Internal for a generator bug.
absl::StatusOr<SynthSummary> Generate(const SynthOptions& options);

// Households for a requested number of persons (0: Almelo's 31,392).
uint64_t HouseholdsFor(uint64_t persons);

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_GENERATOR_H_

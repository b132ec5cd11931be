// The generator's own reading of docs/agent.md's row rules, built on the core identifier
// parsers. Every row the generator writes passes through it, so the ground truth records the
// reason the agent must find, not merely the one the generator meant to inject.
#ifndef KOPPEL_SYNTH_REFERENCE_JUDGE_H_
#define KOPPEL_SYNTH_REFERENCE_JUDGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "core/attribute_value.h"  // TrimBlanks
#include "core/reject_reason.h"
#include "synth/dataset_spec.h"

namespace koppel::synth {

struct Verdict {
  RejectReason reason = RejectReason::kNone;
  // The column the agent's reject report names: the offending field, or for an address the
  // postcode column for postcode reasons and the house (number, letter, addition) column
  // otherwise. -1 when valid.
  int column = -1;
  // Valid rows only: canonical identifiers and normalised attribute values, equal for two
  // rows exactly when the agent counts the later one as a duplicate.
  std::string normalized;
};

// Canonical postcodes (`7607AB`) of the municipality: the register mapping's reference list.
using PostcodeSet = absl::flat_hash_set<std::string>;

class ReferenceJudge {
 public:
  // With `known_postcodes`, a well-formed postcode not in the set is postcode_unknown (the
  // mapping's `postcodes:` list); the set must outlive the judge.
  explicit ReferenceJudge(const DatasetSpec& spec, const PostcodeSet* known_postcodes = nullptr)
      : spec_(spec), known_postcodes_(known_postcodes) {}

  // `fields` must be a structurally sound row (right field count, valid UTF-8, quoted well).
  Verdict Judge(const std::vector<std::string>& fields) const;

  // Checks one attribute value; on success appends its normalised form to *normalized.
  static RejectReason CheckAttribute(const AttributeSpec& attribute, std::string_view value,
                                     std::string* normalized);

 private:
  const DatasetSpec& spec_;
  const PostcodeSet* known_postcodes_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_REFERENCE_JUDGE_H_

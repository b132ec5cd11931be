// The generator's own reading of docs/agent.md's row rules, built on the core identifier
// parsers. Every row the generator writes passes through it, so the ground truth records the
// reason the agent must find, not merely the one the generator meant to inject.
#ifndef KOPPEL_SYNTH_REFERENCE_JUDGE_H_
#define KOPPEL_SYNTH_REFERENCE_JUDGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/attribute_value.h"  // TrimBlanks
#include "core/reject_reason.h"
#include "synth/dataset_spec.h"

namespace koppel::synth {

struct Verdict {
  RejectReason reason = RejectReason::kNone;
  int column = -1;  // offending column, -1 when valid
  // Valid rows only: canonical identifiers and normalised attribute values, equal for two
  // rows exactly when the agent counts the later one as a duplicate.
  std::string normalized;
};

class ReferenceJudge {
 public:
  explicit ReferenceJudge(const DatasetSpec& spec) : spec_(spec) {}

  // `fields` must be a structurally sound row (right field count, valid UTF-8, quoted well).
  Verdict Judge(const std::vector<std::string>& fields) const;

  // Checks one attribute value; on success appends its normalised form to *normalized.
  static RejectReason CheckAttribute(const AttributeSpec& attribute, std::string_view value,
                                     std::string* normalized);

 private:
  const DatasetSpec& spec_;
};


}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_REFERENCE_JUDGE_H_

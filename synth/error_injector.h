// Turns a valid export row into one with exactly one known problem (docs/agent.md's reasons),
// in the ways real exports go wrong: a BSN typo, a postcode with a stray letter, "n.v.t." in an
// amount column, a stray delimiter in a note.
#ifndef KOPPEL_SYNTH_ERROR_INJECTOR_H_
#define KOPPEL_SYNTH_ERROR_INJECTOR_H_

#include <string>
#include <vector>

#include "core/reject_reason.h"
#include "synth/dataset_spec.h"
#include "synth/rng.h"

namespace koppel::synth {

// A row after injection. raw_column >= 0 names a field the writer must write verbatim,
// without quoting it (for bad_quoting and the stray-delimiter kind of field_count).
struct InjectedRow {
  std::vector<std::string> fields;
  int raw_column = -1;
};

// One way of breaking a row. `free_text_delimiter`: the field_count kind that writes a stray
// delimiter into the free text without drawing from the stream. It holds the place in the draw
// that `bad_encoding` had before the agent refused undecodable files whole, so that the rows
// of every other kind, and the random streams, are what they were.
struct ErrorKind {
  RejectReason reason = RejectReason::kFieldCount;
  bool free_text_delimiter = false;
};

class ErrorInjector {
 public:
  explicit ErrorInjector(const DatasetSpec& spec);

  // The kinds this export's columns make possible, drawn uniformly.
  const std::vector<ErrorKind>& applicable() const { return applicable_; }

  // Applies `kind` to a copy of `fields` (a valid row). The result is not yet verified:
  // the caller judges it and retries on a mismatch.
  InjectedRow Inject(const ErrorKind& kind, const std::vector<std::string>& fields, Rng& rng) const;

  static bool IsStructural(RejectReason reason);

 private:
  int ColumnOfType(AttributeType type, bool required_only, Rng& rng) const;
  int SafeRawColumn(const std::vector<std::string>& fields, Rng& rng) const;

  const DatasetSpec& spec_;
  std::vector<ErrorKind> applicable_;
  int bsn_, postcode_, house_, number_, free_text_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_ERROR_INJECTOR_H_

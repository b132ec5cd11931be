// The study spec (docs/analysis.md) that goes with the dialect exports: the Almelo MPG study of
// analyses/almelo-mpg.yaml on the snapshot register (one reference date, moves read from the
// register's own count), without the cost tables, whose prices file lives in the repository.
#ifndef KOPPEL_SYNTH_STUDY_SPEC_H_
#define KOPPEL_SYNTH_STUDY_SPEC_H_

#include <string_view>

namespace koppel::synth {

// The spec's text, written to DIR/analyses/almelo-mpg-snapshot.yaml.
std::string_view SnapshotStudySpec();

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_STUDY_SPEC_H_

// A covenant in plain English for the privacy officers who sign it (`koppel policy explain`):
// what it is and until when, who shares which datasets and fields with whom for what purpose
// and on which legal basis, who links and who holds the keys, what can come out (the approved
// analyses and what they compute, what happens to other specs, disclosure control, release
// budget, purpose-bound releases) and who signs for whom.
#ifndef KOPPEL_POLICIES_COVENANT_EXPLAIN_H_
#define KOPPEL_POLICIES_COVENANT_EXPLAIN_H_

#include <filesystem>
#include <string>

#include "policies/covenant.h"

namespace koppel::policy {

// The summary, several lines ending in '\n'. The same covenant and files always give the same
// text. With `covenant_file`, each approved spec is read relative to its directory, checked
// against its digest and described (what it computes); without, the specs are only listed.
std::string ExplainCovenant(const Covenant& covenant,
                            const std::filesystem::path& covenant_file = {});

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_COVENANT_EXPLAIN_H_

// A covenant in plain English for the privacy officers who sign it (`koppel policy explain`):
// what it is and until when, who shares which datasets and fields with whom for what purpose
// and on which legal basis, who links and who holds the keys, what can come out (analyses,
// disclosure control, release budget, purpose-bound releases) and who signs for whom.
#ifndef KOPPEL_POLICIES_COVENANT_EXPLAIN_H_
#define KOPPEL_POLICIES_COVENANT_EXPLAIN_H_

#include <string>

#include "policies/covenant.h"

namespace koppel {

// The summary, several lines ending in '\n'. The same covenant always gives the same text.
std::string ExplainCovenant(const Covenant& covenant);

}  // namespace koppel

#endif  // KOPPEL_POLICIES_COVENANT_EXPLAIN_H_

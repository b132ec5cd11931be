// What a service does with the covenant files it is started with. Every file must be a valid,
// fully signed covenant, or the service does not start. Per covenant id the newest version is
// taken (older files are superseded); a covenant the ledger says has ended is skipped; one whose
// retention period is over is to be ended now (data deleted, keys destroyed); the rest are
// served, and each request checks that its covenant is in force at that moment.
#ifndef KOPPEL_POLICIES_COVENANT_PLAN_H_
#define KOPPEL_POLICIES_COVENANT_PLAN_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policies/covenant_ledger.h"
#include "policies/covenant_signature.h"

namespace koppel::policy {

struct CovenantPlan {
  std::vector<SignedCovenant> serve;
  std::vector<SignedCovenant> end;  // retention is over: end them now
  std::vector<std::string> notes;   // superseded versions, covenants that ended before
};

// Admits the served covenants into `ledger` (refusing a rollback to an older version). Without a
// ledger (null: `serve --check-config`) the same plan is made from the files alone: nothing is
// admitted, and neither a rollback nor a covenant that ended before is recognised.
absl::StatusOr<CovenantPlan> PlanCovenants(const std::vector<std::filesystem::path>& files,
                                           CovenantLedger* ledger, absl::Time now);

// What `serve --check-config` says about a plan after its own "configuration OK" line.
struct PlanSummary {
  std::string serves;  // "serves 2 covenant(s): almelo-mpg version 3, who-else version 1"
  std::vector<std::string> lines;  // "note: ..." per note, "warning: ..." per covenant to end
};

// `on_end` says what ending a covenant does at this service ("its data deleted").
PlanSummary SummarizeForCheck(const CovenantPlan& plan, std::string_view on_end);

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_COVENANT_PLAN_H_

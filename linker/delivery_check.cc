#include "linker/delivery_check.h"

#include <fmt/format.h>

#include <map>
#include <vector>

#include "absl/strings/str_join.h"
#include "core/civil_date.h"
#include "core/status_macros.h"
#include "linker/analysis/spec_attributes.h"

namespace koppel::linker {
namespace {

const v1::AttributeSchema* FindAttribute(const v1::BatchHeader& run, const std::string& name) {
  for (const v1::AttributeSchema& schema : run.attributes()) {
    if (schema.name() == name) return &schema;
  }
  return nullptr;
}

// Whether `run` has the attribute `use` reads, with a type that fits.
absl::Status TypeFits(const analysis::AttributeUse& use, const v1::BatchHeader& run) {
  const v1::AttributeSchema* schema = FindAttribute(run, use.attribute);
  if (schema == nullptr) {
    std::vector<std::string> names;
    for (const v1::AttributeSchema& a : run.attributes()) names.push_back(a.name());
    return absl::FailedPreconditionError(fmt::format(
        "dataset '{}' as delivered has no attribute '{}' (it has: {}); correct the spec or ask "
        "the data holder to map it",
        use.dataset, use.attribute, absl::StrJoin(names, ", ")));
  }
  return analysis::CheckAttributeType(use, *schema);
}

// Why `run` cannot serve `use`, or OK.
absl::Status Fits(const analysis::AttributeUse& use, const v1::BatchHeader& run,
                  const analysis::PriceTable& prices) {
  RETURN_IF_ERROR(TypeFits(use, run));
  return analysis::CheckAttributeCodes(use, *FindAttribute(run, use.attribute), prices);
}

// A snapshot register is an extract on one date: every run of it must have been delivered for a
// period ending on the spec's snapshot date, or its rows are members on a date they were not.
absl::Status CheckSnapshotPeriods(const analysis::AnalysisSpec& spec,
                                  const std::vector<v1::BatchHeader>& runs) {
  const std::string snapshot = IsoDate(*spec.snapshot);
  for (const v1::BatchHeader& run : runs) {
    if (run.period_to() == snapshot) continue;
    return absl::InvalidArgumentError(fmt::format(
        "{}: register '{}' run '{}' was delivered for the period {} to {}, "
        "which does not end on the spec's snapshot date {}; a snapshot register's rows are "
        "members on the extract's date, which its mapping gives as period.to. Correct the "
        "snapshot date, or ask the data holder to deliver the extract of {} (every run of the "
        "register must end on it)",
        spec.Where("register.snapshot"), spec.register_dataset, run.run_id(),
        run.period_from().empty() ? "-" : run.period_from(),
        run.period_to().empty() ? "-" : run.period_to(), snapshot, snapshot));
  }
  return absl::OkStatus();
}

absl::Status Refuse(const analysis::AnalysisSpec& spec, const analysis::AttributeUse& use,
                    const absl::Status& why) {
  return absl::InvalidArgumentError(
      fmt::format("{}: {}", spec.Where(use.path), std::string(why.message())));
}

}  // namespace

absl::Status CheckSpecFitsDeliveries(const analysis::AnalysisSpec& spec,
                                     const analysis::PriceTable& prices, const LinkerStore& store,
                                     const std::string& covenant) {
  std::map<std::string, std::vector<const analysis::AttributeUse*>> by_dataset;
  const std::vector<analysis::AttributeUse> uses = analysis::AttributeUsesOf(spec);
  std::vector<std::string> order;  // datasets as the spec first reads them: the register first
  for (const analysis::AttributeUse& use : uses) {
    if (!by_dataset.contains(use.dataset)) order.push_back(use.dataset);
    by_dataset[use.dataset].push_back(&use);
  }
  for (const std::string& dataset : order) {
    ASSIGN_OR_RETURN(std::vector<v1::BatchHeader> runs, store.RunSchemas(covenant, dataset));
    if (runs.empty()) continue;
    const std::vector<const analysis::AttributeUse*>& reads = by_dataset[dataset];
    if (dataset == spec.register_dataset) {
      if (spec.snapshot) RETURN_IF_ERROR(CheckSnapshotPeriods(spec, runs));
      // Households come from every register run: each must fit every use.
      for (const analysis::AttributeUse* use : reads) {
        for (const v1::BatchHeader& run : runs) {
          if (absl::Status fits = Fits(*use, run, prices); !fits.ok()) {
            return Refuse(spec, *use, fits);
          }
        }
      }
      continue;
    }
    // A run whose types fit but whose codes do not (a code filtered on that it lacks, a code
    // priced by without a price) would be left out silently: refused.
    for (const v1::BatchHeader& run : runs) {
      for (const analysis::AttributeUse* use : reads) {
        if (!TypeFits(*use, run).ok()) continue;
        if (absl::Status codes =
                analysis::CheckAttributeCodes(*use, *FindAttribute(run, use->attribute), prices);
            !codes.ok()) {
          return Refuse(spec, *use, codes);
        }
      }
    }
    // Another dataset counts when one run fits every use; otherwise name the first use no run
    // serves, or else the first that fails in the first run.
    bool some_run_fits = false;
    for (const v1::BatchHeader& run : runs) {
      bool fits_all = true;
      for (const analysis::AttributeUse* use : reads)
        fits_all = fits_all && Fits(*use, run, prices).ok();
      some_run_fits = some_run_fits || fits_all;
    }
    if (some_run_fits) continue;
    for (const analysis::AttributeUse* use : reads) {
      absl::Status last;
      bool served = false;
      for (const v1::BatchHeader& run : runs) {
        last = Fits(*use, run, prices);
        served = served || last.ok();
      }
      if (!served) return Refuse(spec, *use, last);
    }
    for (const analysis::AttributeUse* use : reads) {
      if (absl::Status fits = Fits(*use, runs.front(), prices); !fits.ok()) {
        return Refuse(spec, *use, fits);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace koppel::linker

// The linker store's size and RocksDB's own statistics, per covenant served, as metrics the
// registry computes at each scrape (docs/operations.md lists them).
#ifndef KOPPEL_LINKER_STORE_METRICS_H_
#define KOPPEL_LINKER_STORE_METRICS_H_

#include "core/metrics.h"
#include "linker/linker_store.h"
#include "linker/served_covenants.h"

namespace koppel::linker {

// `covenants` and `store` must outlive every rendering of `registry`.
void RegisterStoreMetrics(MetricsRegistry& registry, const ServedCovenants* covenants,
                          const LinkerStore* store);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_STORE_METRICS_H_

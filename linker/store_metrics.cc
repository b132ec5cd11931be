#include "linker/store_metrics.h"

#include <string>
#include <vector>

#include "linker/key_epochs.h"

namespace koppel::linker {
namespace {

struct StoreMetric {
  const char* name;
  const char* help;
  const char* property;  // a RocksDB integer property, summed over column families
};

constexpr StoreMetric kStoreMetrics[] = {
    {"koppel_linker_store_bytes", "Bytes of the covenant's store in table files on disk",
     "rocksdb.total-sst-files-size"},
    {"koppel_linker_rocksdb_memtable_bytes", "Bytes in the covenant store's memtables",
     "rocksdb.cur-size-all-mem-tables"},
    {"koppel_linker_rocksdb_estimated_keys", "RocksDB's estimate of the keys in the store",
     "rocksdb.estimate-num-keys"},
    {"koppel_linker_rocksdb_pending_compaction_bytes",
     "Bytes RocksDB estimates compaction has yet to rewrite",
     "rocksdb.estimate-pending-compaction-bytes"},
    {"koppel_linker_rocksdb_running_compactions", "Compactions running now",
     "rocksdb.num-running-compactions"},
    {"koppel_linker_rocksdb_background_errors", "Background errors RocksDB met since it opened",
     "rocksdb.background-errors"},
};

}  // namespace

void RegisterStoreMetrics(MetricsRegistry& registry, const ServedCovenants* covenants,
                          const LinkerStore* store) {
  for (const StoreMetric& metric : kStoreMetrics) {
    registry.AddCollector(
        metric.name, metric.help, MetricType::kGauge,
        [covenants, store, property = std::string(metric.property)] {
          std::vector<CollectedSample> samples;
          for (const std::shared_ptr<ServedCovenant>& served : covenants->All()) {
            const std::string& id = served->covenant().id;
            absl::StatusOr<uint64_t> value = store->IntProperty(id, property);
            if (value.ok()) samples.push_back({{{"covenant", id}}, static_cast<double>(*value)});
          }
          return samples;
        });
  }
  // Key rotation (docs/services.md, "Key epochs"): per covenant, from its batch headers.
  registry.AddCollector(
      "koppel_linker_key_epoch_newest",
      "The covenant's newest key epoch: the highest any batch the linker holds carries",
      MetricType::kGauge, [covenants, store] {
        std::vector<CollectedSample> samples;
        for (const std::shared_ptr<ServedCovenant>& served : covenants->All()) {
          const std::string& id = served->covenant().id;
          absl::StatusOr<HeldEpochs> held = store->Epochs(id);
          if (!held.ok()) continue;
          samples.push_back(
              {{{"covenant", id}}, static_cast<double>(KeyEpochs(id, *std::move(held)).newest())});
        }
        return samples;
      });
  registry.AddCollector(
      "koppel_linker_datasets_to_redeliver",
      "Datasets the linker holds only under older key epochs than the covenant's newest",
      MetricType::kGauge, [covenants, store] {
        std::vector<CollectedSample> samples;
        for (const std::shared_ptr<ServedCovenant>& served : covenants->All()) {
          const std::string& id = served->covenant().id;
          absl::StatusOr<HeldEpochs> held = store->Epochs(id);
          if (!held.ok()) continue;
          const KeyEpochs epochs(id, *std::move(held));
          const size_t lagging = epochs.ToRedeliver(epochs.Datasets()).size();
          samples.push_back({{{"covenant", id}}, static_cast<double>(lagging)});
        }
        return samples;
      });
}

}  // namespace koppel::linker

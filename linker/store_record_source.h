// The records of one covenant in the linker's store, as the analysis engine reads them
// (linker/analysis/record_source.h).
#ifndef KOPPEL_LINKER_STORE_RECORD_SOURCE_H_
#define KOPPEL_LINKER_STORE_RECORD_SOURCE_H_

#include <string>

#include "linker/analysis/record_source.h"
#include "linker/linker_store.h"

namespace koppel::linker {

class StoreRecordSource : public analysis::RecordSource {
 public:
  // `store` must outlive the source and have `covenant` open.
  StoreRecordSource(const LinkerStore* store, std::string covenant)
      : store_(store), covenant_(std::move(covenant)) {}

  const std::string& covenant() const override { return covenant_; }
  absl::StatusOr<std::unique_ptr<analysis::RecordSnapshot>> Snapshot() const override;
  absl::StatusOr<v1::BatchHeader> FindBatchHeader(std::string_view batch_id) const override;
  absl::StatusOr<std::vector<DatasetCounts>> Counts() const override;

 private:
  const LinkerStore* store_;
  std::string covenant_;
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_STORE_RECORD_SOURCE_H_

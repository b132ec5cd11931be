// What the analysis engine reads: the records one covenant's store holds, dataset by dataset in
// token order, and the headers of their batches. The engine depends on this interface only;
// the linker implements it over its store (linker/store_record_source.h), so that
// linker/analysis never includes the linker's own headers, and a test can feed records
// without a store.
#ifndef KOPPEL_LINKER_ANALYSIS_RECORD_SOURCE_H_
#define KOPPEL_LINKER_ANALYSIS_RECORD_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "koppel/v1/batch.pb.h"

namespace koppel::analysis {

// The records of one dataset in a token range, in (token, batch id) order.
class RecordScan {
 public:
  static constexpr size_t kTokenBytes = 32;
  static constexpr size_t kBatchIdBytes = 32;

  virtual ~RecordScan() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  // The re-keyed person (or household) token and the raw batch id of the current record.
  virtual std::string_view token() const = 0;
  virtual std::string_view batch_id() const = 0;
  // The current record as stored: two records are the same exactly when these bytes are.
  virtual std::string_view value() const = 0;
  // Parses the current record; DATA_LOSS when it does not parse.
  virtual absl::Status Read(v1::Record* record) const = 0;
  // Why the scan stopped early (OK at its end).
  virtual absl::Status status() const = 0;
};

// The covenant's records as they were at one moment: scans opened on it read the same batches
// whatever is committed meanwhile. Must outlive the scans opened on it.
class RecordSnapshot {
 public:
  virtual ~RecordSnapshot() = default;
  // Records of `dataset` whose token lies in [begin_token, end_token) (empty: unbounded);
  // disjoint ranges may be scanned on several threads at once.
  virtual std::unique_ptr<RecordScan> Scan(const std::string& dataset, std::string_view begin_token,
                                           std::string_view end_token) const = 0;
};

class RecordSource {
 public:
  struct DatasetCounts {
    std::string dataset;
    uint64_t batches = 0;
    uint64_t records = 0;
  };

  virtual ~RecordSource() = default;
  // The covenant whose records these are, for messages.
  virtual const std::string& covenant() const = 0;
  virtual absl::StatusOr<std::unique_ptr<RecordSnapshot>> Snapshot() const = 0;
  // The header of a stored batch (raw 32-byte id): its dataset, run and attribute schema.
  virtual absl::StatusOr<v1::BatchHeader> FindBatchHeader(std::string_view batch_id) const = 0;
  // What each dataset of the covenant holds now.
  virtual absl::StatusOr<std::vector<DatasetCounts>> Counts() const = 0;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_RECORD_SOURCE_H_

#include "linker/store_record_source.h"

#include "core/status_macros.h"
#include "linker/stored_record.h"

namespace koppel::linker {
namespace {

static_assert(analysis::RecordScan::kTokenBytes == RecordCursor::kTokenBytes);
static_assert(analysis::RecordScan::kBatchIdBytes == RecordCursor::kBatchIdBytes);

class StoreRecordScan : public analysis::RecordScan {
 public:
  explicit StoreRecordScan(std::unique_ptr<RecordCursor> cursor) : cursor_(std::move(cursor)) {}
  bool Valid() const override { return cursor_->Valid(); }
  void Next() override { cursor_->Next(); }
  std::string_view token() const override { return cursor_->token(); }
  std::string_view batch_id() const override { return cursor_->batch_id(); }
  std::string_view value() const override { return cursor_->value(); }
  absl::Status Read(v1::Record* record) const override {
    return ParseStoredRecord(cursor_->value(), record);
  }
  absl::Status status() const override { return cursor_->status(); }

 private:
  std::unique_ptr<RecordCursor> cursor_;
};

class StoreRecordSnapshot : public analysis::RecordSnapshot {
 public:
  StoreRecordSnapshot(const LinkerStore* store, const std::string& covenant,
                      std::unique_ptr<ReadView> view)
      : store_(store), covenant_(covenant), view_(std::move(view)) {}
  std::unique_ptr<analysis::RecordScan> Scan(const std::string& dataset,
                                             std::string_view begin_token,
                                             std::string_view end_token) const override {
    return std::make_unique<StoreRecordScan>(
        store_->NewRecordCursor(covenant_, dataset, begin_token, end_token, view_.get()));
  }

 private:
  const LinkerStore* store_;
  const std::string covenant_;
  std::unique_ptr<ReadView> view_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<analysis::RecordSnapshot>> StoreRecordSource::Snapshot() const {
  ASSIGN_OR_RETURN(std::unique_ptr<ReadView> view, store_->NewReadView(covenant_));
  return std::make_unique<StoreRecordSnapshot>(store_, covenant_, std::move(view));
}

absl::StatusOr<v1::BatchHeader> StoreRecordSource::FindBatchHeader(
    std::string_view batch_id) const {
  return store_->FindBatchHeader(covenant_, batch_id);
}

absl::StatusOr<std::vector<analysis::RecordSource::DatasetCounts>> StoreRecordSource::Counts()
    const {
  ASSIGN_OR_RETURN(std::vector<v1::DatasetStatus> statuses, store_->Status());
  std::vector<DatasetCounts> counts;
  for (const v1::DatasetStatus& status : statuses) {
    if (status.covenant_id() != covenant_) continue;
    counts.push_back({status.dataset(), status.batches(), status.records()});
  }
  return counts;
}

}  // namespace koppel::linker

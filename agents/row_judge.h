// Judges one structurally sound row of an export against its mapping: field count, BSN,
// address (its postcode on the mapping's postcode list, when there is one), then the attributes
// in mapping order (docs/agent.md). The first problem is the row's reason. A valid row comes
// out with canonical identifiers and typed values.
#ifndef KOPPEL_AGENTS_ROW_JUDGE_H_
#define KOPPEL_AGENTS_ROW_JUDGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/address.h"
#include "core/attribute_value.h"
#include "core/bsn.h"
#include "core/mapping.h"

namespace koppel::agent {

struct JudgedRow {
  RejectReason reason = RejectReason::kNone;
  int column = -1;  // index into RowJudge::columns() of the offending column, -1 for none
  BsnResult bsn;
  AddressResult address;
  google::protobuf::RepeatedPtrField<v1::Value> values;  // one per attribute when valid
};

class RowJudge {
 public:
  // A column the mapping reads: its header and where it is in the export.
  struct Column {
    std::string header;
    size_t index;
  };

  // Resolves the mapping's columns against the export's header; fails naming the mapped
  // columns it lacks, never a header cell (without a header line, the first line is data).
  static absl::StatusOr<RowJudge> Create(const Mapping& mapping,
                                         const std::vector<std::string_view>& header);

  // `fields` must come from a row without a structural problem.
  void Judge(const std::vector<std::string_view>& fields, JudgedRow* row) const;

  // Adds 1 to missing[i] for every mapped column i the row leaves empty. Only for rows with
  // the right number of fields.
  void CountMissing(const std::vector<std::string_view>& fields,
                    std::vector<uint64_t>* missing) const;

  size_t field_count() const { return field_count_; }
  const std::vector<Column>& columns() const { return columns_; }

 private:
  RowJudge() = default;
  // The column's index in columns_, or -1 when `name` is empty or not in `header` (then it is
  // added to `missing`).
  int AddColumn(const std::vector<std::string_view>& header, const std::string& name,
                std::vector<std::string>* missing);
  std::string_view Cell(const std::vector<std::string_view>& fields, int column) const {
    return column < 0 ? std::string_view()
                      : TrimBlanks(fields[columns_[static_cast<size_t>(column)].index]);
  }

  const Mapping* mapping_ = nullptr;
  size_t field_count_ = 0;
  std::vector<Column> columns_;
  int bsn_ = -1;
  int postcode_ = -1, house_ = -1, number_ = -1, letter_ = -1, addition_ = -1;
  const PostcodeList* postcodes_ = nullptr;  // the mapping's postcode list, when it names one
  std::vector<int> attribute_columns_;
  std::vector<AttributeParser> parsers_;
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_ROW_JUDGE_H_

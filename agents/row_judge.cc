#include "agents/row_judge.h"

#include <fmt/format.h>

#include <algorithm>

namespace koppel::agent {

int RowJudge::AddColumn(const std::vector<std::string_view>& header, const std::string& name,
                        std::vector<std::string>* missing) {
  if (name.empty()) return -1;
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].header == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < header.size(); ++i) {
    if (TrimBlanks(header[i]) == name) {
      columns_.push_back({name, i});
      return static_cast<int>(columns_.size() - 1);
    }
  }
  if (std::find(missing->begin(), missing->end(), name) == missing->end()) {
    missing->push_back(name);
  }
  return -1;
}

absl::StatusOr<RowJudge> RowJudge::Create(const Mapping& mapping,
                                          const std::vector<std::string_view>& header) {
  RowJudge judge;
  judge.mapping_ = &mapping;
  judge.field_count_ = header.size();
  std::vector<std::string> missing;
  if (mapping.bsn_column) judge.bsn_ = judge.AddColumn(header, *mapping.bsn_column, &missing);
  if (mapping.address_columns) {
    const AddressColumns& a = *mapping.address_columns;
    judge.postcode_ = judge.AddColumn(header, a.postcode, &missing);
    judge.house_ = judge.AddColumn(header, a.house, &missing);
    judge.number_ = judge.AddColumn(header, a.number, &missing);
    judge.letter_ = judge.AddColumn(header, a.letter, &missing);
    judge.addition_ = judge.AddColumn(header, a.addition, &missing);
    judge.postcodes_ = a.postcodes.get();
  }
  for (const AttributeSpec& spec : mapping.attributes) {
    judge.attribute_columns_.push_back(judge.AddColumn(header, spec.column, &missing));
    judge.parsers_.emplace_back(spec);
  }
  if (!missing.empty()) {
    // The export's own header cells are never quoted: without a header line they are a record.
    std::string names;
    for (const std::string& name : missing) {
      names += fmt::format("{}'{}'", names.empty() ? "" : ", ", name);
    }
    return absl::FailedPreconditionError(fmt::format(
        "the export's first line (its header, {} column(s) as split with csv.delimiter) has no "
        "column named {}, which the mapping reads; check that the export starts with a header "
        "line naming its columns, that csv.delimiter (and csv.quote) match the export, and "
        "that the mapping's column names are spelled as in the header",
        header.size(), names));
  }
  return judge;
}

void RowJudge::Judge(const std::vector<std::string_view>& fields, JudgedRow* row) const {
  row->reason = RejectReason::kNone;
  row->column = -1;
  row->values.Clear();
  if (fields.size() != field_count_) {
    row->reason = RejectReason::kFieldCount;
    return;
  }
  if (bsn_ >= 0) {
    row->bsn = ParseBsn(Cell(fields, bsn_));
    if (!row->bsn.ok()) {
      row->reason = row->bsn.reason;
      row->column = bsn_;
      return;
    }
  }
  if (postcode_ >= 0) {
    row->address = house_ >= 0 ? ParseAddress(Cell(fields, postcode_), Cell(fields, house_))
                               : ParseAddressFields(Cell(fields, postcode_), Cell(fields, number_),
                                                    Cell(fields, letter_), Cell(fields, addition_));
    if (!row->address.ok()) {
      row->reason = row->address.reason;
      RejectReason r = row->reason;
      bool postcode_problem = r == RejectReason::kPostcodeEmpty ||
                              r == RejectReason::kPostcodeBadFormat ||
                              r == RejectReason::kPostcodeUnusedLetters;
      row->column = postcode_problem                       ? postcode_
                    : house_ >= 0                          ? house_
                    : r == RejectReason::kHouseLetterBad   ? letter_
                    : r == RejectReason::kHouseAdditionBad ? addition_
                                                           : number_;
      return;
    }
    if (postcodes_ && !postcodes_->Contains(row->address.view().substr(0, 6))) {
      row->reason = RejectReason::kPostcodeUnknown;
      row->column = postcode_;
      return;
    }
  }
  for (size_t i = 0; i < parsers_.size(); ++i) {
    std::string_view text = Cell(fields, attribute_columns_[i]);
    v1::Value* value = row->values.Add();
    if (text.empty()) {
      if (parsers_[i].spec().required) {
        row->reason = RejectReason::kMissingValue;
        row->column = attribute_columns_[i];
        return;
      }
      continue;
    }
    RejectReason r = parsers_[i].Parse(text, value);
    if (r != RejectReason::kNone) {
      row->reason = r;
      row->column = attribute_columns_[i];
      return;
    }
  }
}

void RowJudge::CountMissing(const std::vector<std::string_view>& fields,
                            std::vector<uint64_t>* missing) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (TrimBlanks(fields[columns_[i].index]).empty()) ++(*missing)[i];
  }
}

}  // namespace koppel::agent

#include "agents/export_scan.h"

#include <fmt/format.h>

#include <functional>

#include "agents/duplicate_counter.h"
#include "core/csv_reader.h"
#include "core/log_safe.h"
#include "core/progress.h"
#include "core/status_macros.h"
#include "core/text_decoder.h"

namespace koppel::agent {
namespace {

// The row's canonical content, for duplicate detection.
void Normalise(const JudgedRow& row, bool has_bsn, bool has_address, std::string* out) {
  out->clear();
  if (has_bsn) out->append(row.bsn.view());
  out->push_back('\x1f');
  if (has_address) out->append(row.address.view());
  for (const v1::Value& v : row.values) {
    out->push_back('\x1f');
    out->push_back(static_cast<char>('0' + static_cast<int>(v.kind_case())));
    int64_t n = 0;
    switch (v.kind_case()) {
      case v1::Value::kCode:
        n = v.code();
        break;
      case v1::Value::kInteger:
        n = v.integer();
        break;
      case v1::Value::kAmountCents:
        n = v.amount_cents();
        break;
      case v1::Value::kDateDays:
        n = v.date_days();
        break;
      case v1::Value::kYear:
        n = v.year();
        break;
      case v1::Value::KIND_NOT_SET:
        break;
    }
    out->append(reinterpret_cast<const char*>(&n), sizeof n);
  }
}

}  // namespace

absl::StatusOr<QualitySummary> ScanExport(const Mapping& mapping,
                                          const std::filesystem::path& input,
                                          const ScanOptions& options) {
  // A file that does not decode is refused as a whole, before any row reaches the sink.
  ASSIGN_OR_RETURN(const EncodingCheck encoding, CheckFileEncoding(input, mapping.encoding));
  CsvOptions csv = mapping.csv;
  csv.encoding = encoding.encoding;
  ASSIGN_OR_RETURN(std::unique_ptr<CsvReader> reader, CsvReader::Open(input, csv));
  CsvRecord record;
  ASSIGN_OR_RETURN(bool has_header, reader->Next(&record));
  if (!has_header) {
    return absl::FailedPreconditionError(
        fmt::format("{} is empty: expected a header line naming the columns", input.string()));
  }
  if (record.problem != RejectReason::kNone) {
    return absl::FailedPreconditionError(
        fmt::format("{}: the header on line {} cannot be read: {}{}", input.string(), record.line,
                    RejectReasonText(record.problem),
                    record.problem == RejectReason::kRowTooLong
                        ? "; if the export's lines end in CR alone, convert them to LF first"
                        : ""));
  }
  // Lines ended by CR alone read as one line: the whole export would pass for its header.
  for (std::string_view field : record.fields) {
    if (field.find('\r') != std::string_view::npos) {
      return absl::FailedPreconditionError(fmt::format(
          "{}: line {} holds a carriage return (CR) inside it: the export's lines end in CR "
          "alone, which koppel does not read; convert them to LF (e.g. tr '\\r' '\\n' < "
          "export.csv > export-lf.csv) and check it again",
          input.string(), record.line));
    }
  }
  absl::StatusOr<RowJudge> created = RowJudge::Create(mapping, record.fields);
  if (!created.ok()) {
    return absl::Status(
        created.status().code(),
        fmt::format("{}: {}", input.string(), std::string(created.status().message())));
  }
  RowJudge judge = std::move(*created);
  ASSIGN_OR_RETURN(DuplicateCounter duplicates, DuplicateCounter::Create());

  QualitySummary summary;
  summary.dataset = mapping.dataset;
  summary.encoding = TextEncodingName(encoding.encoding);
  summary.bom = encoding.bom;
  summary.encoding_reason = encoding.reason;
  std::vector<uint64_t> missing(judge.columns().size(), 0);
  // Header cells are the export's own text: escaped, they cannot drive a terminal showing the
  // reject report.
  std::vector<std::string> safe_headers;
  for (const auto& column : judge.columns()) safe_headers.push_back(DisplaySafe(column.header));
  JudgedRow row;
  std::string normalised;
  ProgressReporter progress(fmt::format("{} {}", options.label, mapping.dataset),
                            reader->file_size(), "rows");
  if (!options.progress) progress.Silence();
  const bool has_bsn = mapping.bsn_column.has_value();
  const bool has_address = mapping.address_columns.has_value();

  for (;;) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
    ++summary.rows;
    progress.Update(reader->bytes_read(), summary.rows);
    if (record.problem != RejectReason::kNone) {
      row.reason = record.problem;
      row.column = -1;
    } else {
      if (record.fields.size() == judge.field_count()) judge.CountMissing(record.fields, &missing);
      judge.Judge(record.fields, &row);
    }
    if (row.reason != RejectReason::kNone) {
      ++summary.rejected[row.reason];
      if (options.rejects != nullptr) {
        std::string_view column =
            row.column < 0 ? std::string_view()
                           : std::string_view(safe_headers[static_cast<size_t>(row.column)]);
        RETURN_IF_ERROR(options.rejects->Add(summary.rows, record.line, row.reason, column));
      }
      continue;
    }
    ++summary.valid;
    Normalise(row, has_bsn, has_address, &normalised);
    RETURN_IF_ERROR(duplicates.Add(normalised, summary.rows, record.line));
    if (options.sink != nullptr) RETURN_IF_ERROR(options.sink->Accept(&row));
  }
  std::function<absl::Status(const DuplicateRow&)> report_duplicate;
  if (options.rejects != nullptr) {
    report_duplicate = [&](const DuplicateRow& d) { return options.rejects->AddDuplicate(d); };
  }
  ASSIGN_OR_RETURN(summary.duplicates, duplicates.CountDuplicates(report_duplicate));
  for (size_t i = 0; i < missing.size(); ++i)
    summary.missing[judge.columns()[i].header] = missing[i];
  progress.Finish(summary.rows);
  if (options.max_reject_percent) {
    if (absl::Status rate = summary.CheckRejectRate(*options.max_reject_percent); !rate.ok()) {
      return absl::FailedPreconditionError(
          fmt::format("{}: {}", input.string(), std::string(rate.message())));
    }
  }
  return summary;
}

}  // namespace koppel::agent

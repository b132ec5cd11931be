#include "synth/export_writer.h"

#include <cerrno>
#include <cstring>

#include "core/bsn.h"
#include "core/csv_writer.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace koppel::synth {
namespace {

constexpr size_t kFileBuffer = 1 << 20;
constexpr int kInjectionAttempts = 16;

absl::Status WriteError(const std::filesystem::path& path, int error) {
  return absl::UnavailableError(
      fmt::format("cannot write {}: {}; check free disk space and permissions, or choose "
                  "another --out directory",
                  path.string(), std::strerror(error)));
}

// Other ways a holder writes the same BSN: grouped with dots or spaces, or as the old
// 8-digit number.
std::string RespelledBsn(std::string_view current, Rng& rng) {
  BsnResult bsn = ParseBsn(current);
  const std::string c(bsn.view());
  std::vector<std::string> spellings = {c,
                                        c.substr(0, 4) + "." + c.substr(4, 2) + "." + c.substr(6),
                                        c.substr(0, 3) + " " + c.substr(3, 3) + " " + c.substr(6)};
  if (c.front() == '0') spellings.push_back(c.substr(1));
  std::vector<std::string> different;
  for (std::string& s : spellings) {
    if (s != current) different.push_back(std::move(s));
  }
  return different[static_cast<size_t>(rng.Below(different.size()))];
}

}  // namespace

nlohmann::ordered_json ExportTally::ToJson(const DatasetSpec& spec) const {
  nlohmann::ordered_json out;
  out["file"] = spec.ExportPath();
  out["mapping"] = spec.MappingPath();
  out["rows"] = rows;
  out["valid"] = valid;
  out["duplicates"] = duplicates;
  nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
  for (RejectReason r : kAllRejectReasons) {
    uint64_t n = rejected[static_cast<size_t>(r)];
    if (n > 0) reasons[std::string(RejectReasonName(r))] = n;
  }
  out["rejected"] = reasons;
  nlohmann::ordered_json missing_json = nlohmann::ordered_json::object();
  for (size_t i = 0; i < spec.columns.size(); ++i) {
    if (spec.columns[i].mapped()) missing_json[spec.columns[i].header] = missing[i];
  }
  out["missing"] = missing_json;
  return out;
}

std::string RenderLine(const CsvDialect& dialect, const std::vector<std::string>& fields,
                       int raw_column) {
  const CsvWriteOptions options{.delimiter = dialect.delimiter,
                                .quote = dialect.quote,
                                .quote_all = dialect.quote_all,
                                .crlf = dialect.crlf};
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += dialect.delimiter;
    if (static_cast<int>(i) == raw_column) {
      line += fields[i];
    } else {
      AppendCsvField(fields[i], options, &line);
    }
  }
  line += options.crlf ? "\r\n" : "\n";
  return line;
}

absl::StatusOr<std::unique_ptr<ExportWriter>> ExportWriter::Open(
    const DatasetSpec& spec, const std::filesystem::path& path, Rates rates,
    const PostcodeSet* known_postcodes, const std::filesystem::path& rejects_path) {
  ASSIGN_OR_RETURN(TextEncoder encoder, TextEncoder::Create(spec.csv.encoding));
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return WriteError(path, errno);
  std::unique_ptr<ExportWriter> writer(
      new ExportWriter(spec, path, file, rates, known_postcodes, std::move(encoder)));
  std::setvbuf(file, nullptr, _IOFBF, kFileBuffer);
  std::string bom(writer->encoder_.Bom());
  if (spec.csv.bom) bom = "\xEF\xBB\xBF";
  if (std::fwrite(bom.data(), 1, bom.size(), file) != bom.size()) return WriteError(path, errno);
  std::vector<std::string> names;
  for (const ColumnSpec& c : spec.columns) names.push_back(c.header);
  RETURN_IF_ERROR(writer->Emit(RenderLine(spec.csv, names)));
  if (!rejects_path.empty()) {
    writer->rejects_path_ = rejects_path;
    writer->rejects_ = std::fopen(rejects_path.c_str(), "wb");
    if (writer->rejects_ == nullptr) return WriteError(rejects_path, errno);
    std::setvbuf(writer->rejects_, nullptr, _IOFBF, 1 << 16);
    if (std::fputs("record,line,reason,column,first_line\n", writer->rejects_) < 0) {
      return WriteError(rejects_path, errno);
    }
  }
  return writer;
}

ExportWriter::ExportWriter(const DatasetSpec& spec, std::filesystem::path path, std::FILE* file,
                           Rates rates, const PostcodeSet* known_postcodes, TextEncoder encoder)
    : spec_(spec),
      path_(std::move(path)),
      file_(file),
      rates_(rates),
      encoder_(std::move(encoder)),
      judge_(spec, known_postcodes),
      injector_(spec) {
  tally_.missing.assign(spec.columns.size(), 0);
  for (size_t i = 0; i < spec.columns.size(); ++i) {
    if (spec.columns[i].mapped()) mapped_columns_.push_back(static_cast<int>(i));
  }
}

ExportWriter::~ExportWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (rejects_ != nullptr) std::fclose(rejects_);
}

absl::Status ExportWriter::Emit(const std::string& line) {
  ASSIGN_OR_RETURN(std::string bytes, encoder_.Encode(line));
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return WriteError(path_, errno);
  }
  ++line_;
  return absl::OkStatus();
}

absl::Status ExportWriter::ReportReject(std::string_view reason, int column, uint64_t first_line) {
  if (rejects_ == nullptr) return absl::OkStatus();
  const std::string header =
      column < 0 ? "" : CsvField(spec_.columns[static_cast<size_t>(column)].header);
  const std::string line =
      fmt::format("{},{},{},{},{}\n", tally_.rows, line_, reason, header,
                  first_line == 0 ? std::string() : fmt::format("{}", first_line));
  if (std::fwrite(line.data(), 1, line.size(), rejects_) != line.size()) {
    return WriteError(rejects_path_, errno);
  }
  return absl::OkStatus();
}

void ExportWriter::CountMissing(const std::vector<std::string>& fields) {
  for (int column : mapped_columns_) {
    const size_t c = static_cast<size_t>(column);
    if (TrimBlanks(fields[c]).empty()) ++tally_.missing[c];
  }
}

absl::StatusOr<ExportWriter::Outcome> ExportWriter::Write(const std::vector<std::string>& fields,
                                                          Rng& rng) {
  Verdict clean = judge_.Judge(fields);
  if (clean.reason != RejectReason::kNone) {
    return absl::InternalError(
        fmt::format("{}: generated row is not valid ({} in column {}); this is a generator bug",
                    spec_.name, RejectReasonName(clean.reason), clean.column));
  }
  auto [first, inserted] = household_rows_.try_emplace(clean.normalized, 0);
  if (!inserted) return Outcome::kSkipped;

  if (rng.Bernoulli(rates_.error)) {
    const auto& kinds = injector_.applicable();
    const ErrorKind& kind = kinds[static_cast<size_t>(rng.Below(kinds.size()))];
    if (absl::Status s = WriteInjected(kind, fields, rng); !s.ok()) return s;
    return Outcome::kRejected;
  }
  if (absl::Status s = Emit(RenderLine(spec_.csv, fields)); !s.ok()) return s;
  first->second = line_;
  ++tally_.rows;
  ++tally_.valid;
  CountMissing(fields);
  if (rng.Bernoulli(rates_.duplicate)) {
    if (absl::Status s = WriteDuplicate(fields, clean, first->second, rng); !s.ok()) return s;
  }
  return Outcome::kValid;
}

absl::Status ExportWriter::WriteOutsider(const std::vector<std::string>& fields) {
  Verdict verdict = judge_.Judge(fields);
  if (verdict.reason != RejectReason::kPostcodeUnknown) {
    return absl::InternalError(fmt::format(
        "{}: a row outside the municipality is judged {}, not postcode_unknown; generator bug",
        spec_.name, RejectReasonName(verdict.reason)));
  }
  RETURN_IF_ERROR(Emit(RenderLine(spec_.csv, fields)));
  ++tally_.rows;
  ++tally_.rejected[static_cast<size_t>(verdict.reason)];
  CountMissing(fields);
  return ReportReject(RejectReasonName(verdict.reason), verdict.column);
}

absl::Status ExportWriter::WriteInjected(const ErrorKind& kind,
                                         const std::vector<std::string>& fields, Rng& rng) {
  const RejectReason reason = kind.reason;
  const bool structural = ErrorInjector::IsStructural(reason);
  for (int attempt = 0; attempt < kInjectionAttempts; ++attempt) {
    InjectedRow row = injector_.Inject(kind, fields, rng);
    int column = -1;
    if (!structural) {
      Verdict verdict = judge_.Judge(row.fields);
      if (verdict.reason != reason) continue;
      column = verdict.column;
    }
    if (absl::Status s = Emit(RenderLine(spec_.csv, row.fields, row.raw_column)); !s.ok()) {
      return s;
    }
    ++tally_.rows;
    ++tally_.rejected[static_cast<size_t>(reason)];
    if (!structural) CountMissing(row.fields);
    return ReportReject(RejectReasonName(reason), column);
  }
  return absl::InternalError(fmt::format("{}: could not inject {} into a row; generator bug",
                                         spec_.name, RejectReasonName(reason)));
}

absl::Status ExportWriter::WriteDuplicate(const std::vector<std::string>& fields,
                                          const Verdict& original, uint64_t original_line,
                                          Rng& rng) {
  std::vector<std::string> copy = fields;
  if (int bsn = spec_.ColumnWith(ColumnRole::kBsn); bsn >= 0 && rng.Bernoulli(0.5)) {
    copy[static_cast<size_t>(bsn)] = RespelledBsn(copy[static_cast<size_t>(bsn)], rng);
  }
  Verdict verdict = judge_.Judge(copy);
  if (verdict.reason != RejectReason::kNone || verdict.normalized != original.normalized) {
    return absl::InternalError(
        fmt::format("{}: duplicate row does not normalise like its "
                    "original; generator bug",
                    spec_.name));
  }
  if (absl::Status s = Emit(RenderLine(spec_.csv, copy)); !s.ok()) return s;
  ++tally_.rows;
  ++tally_.valid;
  ++tally_.duplicates;
  CountMissing(copy);
  return ReportReject("duplicate", -1, original_line);
}

absl::Status ExportWriter::Close() {
  std::FILE* file = file_;
  file_ = nullptr;
  const bool write_failed = std::ferror(file) != 0;
  if (std::fclose(file) != 0 || write_failed) return WriteError(path_, errno);
  if (rejects_ != nullptr) {
    std::FILE* rejects = rejects_;
    rejects_ = nullptr;
    const bool rejects_failed = std::ferror(rejects) != 0;
    if (std::fclose(rejects) != 0 || rejects_failed) return WriteError(rejects_path_, errno);
  }
  return absl::OkStatus();
}

}  // namespace koppel::synth

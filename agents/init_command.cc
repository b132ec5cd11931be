#include "agents/init_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "agents/mapping_draft.h"
#include "core/atomic_file.h"
#include "core/csv_reader.h"
#include "core/mapping.h"
#include "core/progress.h"
#include "core/status_macros.h"
#include "core/text_decoder.h"

namespace koppel::agent {
namespace {

// How much of the export the dialect is guessed from.
constexpr size_t kHeadBytes = 64 * 1024;

// The first bytes of the export decoded to UTF-8 (the file was checked to decode).
absl::StatusOr<std::string> DecodedHead(const std::filesystem::path& path, TextEncoding encoding) {
  std::ifstream in(path, std::ios::binary);
  std::string raw(kHeadBytes, '\0');
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (in.bad()) return absl::DataLossError(fmt::format("read error in {}", path.string()));
  raw.resize(static_cast<size_t>(in.gcount()));
  const bool whole_file = raw.size() < kHeadBytes;
  ASSIGN_OR_RETURN(std::unique_ptr<TextDecoder> decoder,
                   TextDecoder::Create(encoding, path.string()));
  std::string_view input = raw;
  std::string text;
  RETURN_IF_ERROR(decoder->Decode(&input, whole_file, &text));
  return text;
}

}  // namespace

absl::Status CheckDatasetName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "--dataset '{}' is not a dataset name: use 1 to 64 lower-case letters, digits and _", name));
}

absl::StatusOr<InitResult> DraftMappingFile(const InitOptions& options) {
  InitResult result;
  result.dataset =
      options.dataset.empty() ? AttributeNameFor(options.input.stem().string()) : options.dataset;
  RETURN_IF_ERROR(CheckDatasetName(result.dataset));
  std::error_code ec;
  if (!options.force && std::filesystem::exists(options.out, ec)) {
    return absl::AlreadyExistsError(
        fmt::format("{} already exists; pass --force to overwrite it", options.out.string()));
  }

  ASSIGN_OR_RETURN(EncodingCheck encoding, CheckFileEncoding(options.input, TextEncoding::kAuto));
  ASSIGN_OR_RETURN(std::string head, DecodedHead(options.input, encoding.encoding));
  ExportDialect dialect = SniffDialect(head);
  dialect.encoding = std::string(TextEncodingName(encoding.encoding));
  dialect.encoding_reason = encoding.reason;
  if (absl::StartsWith(dialect.encoding_reason, "auto: ")) {
    dialect.encoding_reason = "detected: " + dialect.encoding_reason.substr(6);
  }
  result.encoding = dialect.encoding;

  CsvOptions csv;
  csv.delimiter = dialect.delimiter;
  csv.quote = dialect.quote;
  csv.encoding = encoding.encoding;
  ASSIGN_OR_RETURN(std::unique_ptr<CsvReader> reader, CsvReader::Open(options.input, csv));
  CsvRecord record;
  ASSIGN_OR_RETURN(bool has_header, reader->Next(&record));
  if (!has_header) {
    return absl::FailedPreconditionError(
        fmt::format("{} is empty: a header line and rows are needed", options.input.string()));
  }
  if (record.problem != RejectReason::kNone) {
    return absl::FailedPreconditionError(fmt::format(
        "{}:{}: the header line cannot be read ({}); koppel reads exports whose first line "
        "names the columns",
        options.input.string(), record.line, RejectReasonName(record.problem)));
  }
  std::vector<std::string> header(record.fields.begin(), record.fields.end());
  DraftOptions draft;
  draft.dataset = result.dataset;
  draft.source_name = options.input.filename().string();
  draft.min_cell = options.min_cell;
  absl::StatusOr<std::unique_ptr<MappingDrafter>> drafter =
      MappingDrafter::Create(std::move(header), draft);
  if (!drafter.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "{}:{}: {}", options.input.string(), record.line, std::string(drafter.status().message())));
  }

  ProgressReporter progress("init " + result.dataset, reader->file_size(), "rows");
  if (!options.progress) progress.Silence();
  uint64_t rows = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more) break;
    ++rows;
    if (record.problem != RejectReason::kNone) {
      (*drafter)->AddUnreadableRecord();
    } else {
      (*drafter)->AddRecord(record.fields);
    }
    progress.Update(reader->bytes_read(), rows);
  }
  progress.Finish(rows);
  result.records = rows;

  absl::StatusOr<std::string> yaml = (*drafter)->Draft(dialect);
  if (!yaml.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("{}: {}", options.input.string(), std::string(yaml.status().message())));
  }
  absl::StatusOr<Mapping> loaded = ParseMapping(*yaml, options.out.string());
  if (!loaded.ok()) {
    return absl::InternalError(fmt::format(
        "the drafted mapping does not load ({}); this is a bug in koppel-agent init, please "
        "report it",
        std::string(loaded.status().message())));
  }
  RETURN_IF_ERROR(WriteFileAtomically(options.out, *yaml));
  return result;
}

}  // namespace koppel::agent

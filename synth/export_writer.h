// Writes one export file row by row in its CSV dialect and encoding, injects errors and
// duplicates at the configured rates, and keeps the tally that truth/exports.json reports:
// exactly what `koppel-agent check` must find in the file. Optionally it also writes, line by
// line, the reject report `check --rejects` must write (truth/rejects/<dataset>.csv).
#ifndef KOPPEL_SYNTH_EXPORT_WRITER_H_
#define KOPPEL_SYNTH_EXPORT_WRITER_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/reject_reason.h"
#include "nlohmann/json.hpp"
#include "synth/dataset_spec.h"
#include "synth/error_injector.h"
#include "synth/reference_judge.h"
#include "synth/rng.h"
#include "synth/text_encoder.h"

namespace koppel::synth {

struct ExportTally {
  uint64_t rows = 0;
  uint64_t valid = 0;
  uint64_t duplicates = 0;
  std::array<uint64_t, kAllRejectReasons.size()> rejected = {};
  std::vector<uint64_t> missing;  // per column of the spec; only mapped columns are reported

  nlohmann::ordered_json ToJson(const DatasetSpec& spec) const;
};

// Joins fields into one line in `dialect`, quoting where needed (or always), and writes the
// field at raw_column verbatim.
std::string RenderLine(const CsvDialect& dialect, const std::vector<std::string>& fields,
                       int raw_column = -1);

class ExportWriter {
 public:
  enum class Outcome { kValid, kRejected, kSkipped };

  struct Rates {
    double error = 0.01;       // fraction of natural rows given exactly one error
    double duplicate = 0.004;  // fraction of valid rows followed by a copy
  };

  // `known_postcodes`: the register's reference list (rows at other postcodes are
  // postcode_unknown), or null. `rejects_path`: where to write the expected reject report, or
  // empty for none.
  static absl::StatusOr<std::unique_ptr<ExportWriter>> Open(
      const DatasetSpec& spec, const std::filesystem::path& path, Rates rates,
      const PostcodeSet* known_postcodes = nullptr, const std::filesystem::path& rejects_path = {});
  ~ExportWriter();
  ExportWriter(const ExportWriter&) = delete;
  ExportWriter& operator=(const ExportWriter&) = delete;

  // Rows of different households never coincide (their identifiers differ), so the guard
  // against accidental duplicates only has to remember one household's rows.
  void StartHousehold() { household_rows_.clear(); }

  // Writes one natural row (which must be valid as given). kSkipped: the row would have
  // repeated an earlier row of the household and was left out. kRejected: an error was
  // injected, so the linkage never sees the record.
  absl::StatusOr<Outcome> Write(const std::vector<std::string>& fields, Rng& rng);

  // Writes a natural row that the reference list must reject (postcode_unknown): a person at
  // a postcode outside the municipality. No error is injected into it.
  absl::Status WriteOutsider(const std::vector<std::string>& fields);

  absl::Status Close();
  const ExportTally& tally() const { return tally_; }
  const DatasetSpec& spec() const { return spec_; }

 private:
  ExportWriter(const DatasetSpec& spec, std::filesystem::path path, std::FILE* file, Rates rates,
               const PostcodeSet* known_postcodes, TextEncoder encoder);
  // Writes one physical line (UTF-8, converted to the export's encoding).
  absl::Status Emit(const std::string& line);
  void CountMissing(const std::vector<std::string>& fields);
  absl::Status WriteInjected(const ErrorKind& kind, const std::vector<std::string>& fields,
                             Rng& rng);
  absl::Status WriteDuplicate(const std::vector<std::string>& fields, const Verdict& original,
                              uint64_t original_line, Rng& rng);
  // One line of the expected reject report for the row just emitted; `column` < 0: none.
  absl::Status ReportReject(std::string_view reason, int column, uint64_t first_line = 0);

  const DatasetSpec& spec_;
  std::filesystem::path path_;
  std::FILE* file_;
  std::FILE* rejects_ = nullptr;
  std::filesystem::path rejects_path_;
  Rates rates_;
  TextEncoder encoder_;
  uint64_t line_ = 0;  // physical lines written, the header included
  ReferenceJudge judge_;
  ErrorInjector injector_;
  ExportTally tally_;
  std::vector<int> mapped_columns_;
  absl::flat_hash_map<std::string, uint64_t> household_rows_;  // normalised row -> its line
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_EXPORT_WRITER_H_

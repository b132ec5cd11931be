// Writes one export file row by row in its CSV dialect, injects errors and duplicates at the
// configured rates, and keeps the tally that truth/exports.json reports: exactly what
// `koppel-agent check` must find in the file.
#ifndef KOPPEL_SYNTH_EXPORT_WRITER_H_
#define KOPPEL_SYNTH_EXPORT_WRITER_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/reject_reason.h"
#include "nlohmann/json.hpp"
#include "synth/dataset_spec.h"
#include "synth/error_injector.h"
#include "synth/reference_judge.h"
#include "synth/rng.h"

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
    double error = 0.01;      // fraction of natural rows given exactly one error
    double duplicate = 0.004; // fraction of valid rows followed by a copy
  };

  static absl::StatusOr<std::unique_ptr<ExportWriter>> Open(const DatasetSpec& spec,
                                                            const std::filesystem::path& path,
                                                            Rates rates);
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

  absl::Status Close();
  const ExportTally& tally() const { return tally_; }
  const DatasetSpec& spec() const { return spec_; }

 private:
  ExportWriter(const DatasetSpec& spec, std::filesystem::path path, std::FILE* file, Rates rates);
  absl::Status Emit(const std::string& line);
  void CountMissing(const std::vector<std::string>& fields);
  absl::Status WriteInjected(RejectReason reason, const std::vector<std::string>& fields, Rng& rng);
  absl::Status WriteDuplicate(const std::vector<std::string>& fields, const Verdict& original,
                              Rng& rng);

  const DatasetSpec& spec_;
  std::filesystem::path path_;
  std::FILE* file_;
  Rates rates_;
  ReferenceJudge judge_;
  ErrorInjector injector_;
  ExportTally tally_;
  std::vector<int> mapped_columns_;
  absl::flat_hash_set<std::string> household_rows_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_EXPORT_WRITER_H_

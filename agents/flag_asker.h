// The data holder's side of a purpose-bound release (ARCHITECTURE section 5, docs/agent.md):
// the valid rows of its export are tokenised exactly as `seal` tokenises them and sent to the
// linker in chunks; per row the linker says whether it holds that record from this holder and,
// only then, which of the release's flags hold. The answers are kept by row number: nothing
// identifying is written, and the tokens exist only for the chunk being asked.
#ifndef KOPPEL_AGENTS_FLAG_ASKER_H_
#define KOPPEL_AGENTS_FLAG_ASKER_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agents/export_scan.h"
#include "agents/token_source.h"
#include "koppel/v1/linker.grpc.pb.h"

namespace koppel::agent {

struct FlagAskConfig {
  std::string covenant_id;
  std::string release;             // the release's name in the covenant
  std::vector<std::string> flags;  // empty: every flag the release allows
  size_t chunk_size = 10000;       // tokens per AskFlags call; the linker takes at most 10000
  std::chrono::seconds deadline{60};
  int max_attempts = 5;  // per chunk, while the linker is unavailable
};

// Counts only: safe to print and log.
struct FlagAskSummary {
  uint64_t asked = 0;
  uint64_t delivered = 0;          // rows the linker holds from this holder
  std::vector<std::string> flags;  // as the linker answered them
  std::vector<uint64_t> yes;       // per flag, rows for which it holds
  uint32_t covenant_version = 0;   // 0 when nothing was asked
  // Datasets the release reads that the linker holds only under older key epochs than the
  // asked tokens' (their flags are "no"); names only.
  std::vector<std::string> datasets_without_epoch;

  nlohmann::json ToJson() const;
  std::string ToText() const;
};

class FlagAsker : public ValidRowSink {
 public:
  FlagAsker(TokenSource& tokens, v1::LinkerService::StubInterface& linker, FlagAskConfig config);
  ~FlagAsker() override;
  FlagAsker(const FlagAsker&) = delete;
  FlagAsker& operator=(const FlagAsker&) = delete;

  // Takes a row with a valid BSN; asks the linker whenever a chunk is full. Errors: the
  // linker's refusal as it gave it (PERMISSION_DENIED names the covenant rule), UNAVAILABLE
  // after max_attempts, DATA_LOSS when its answer does not fit the question.
  absl::Status Accept(JudgedRow* row) override;
  // Asks the last partial chunk. Call once after the scan.
  absl::Status Finish();

  // Writes the answers as CSV (`row,delivered,<flag>...`, yes/no), one line per asked row, in
  // order; `rows` are the export's row numbers of the asked rows (see AcceptedRowNumbers).
  absl::Status WriteAnswers(const std::vector<uint64_t>& rows,
                            const std::filesystem::path& out) const;

  const FlagAskSummary& summary() const { return summary_; }

 private:
  absl::Status AskChunk();
  absl::Status Record(const v1::AskFlagsResponse& response, size_t count);

  TokenSource& tokens_;
  v1::LinkerService::StubInterface& linker_;
  FlagAskConfig config_;
  // Canonical BSNs of the chunk being filled and their tokens; wiped after every chunk.
  std::vector<std::string> bsn_inputs_;
  std::vector<Token> token_scratch_;
  size_t pending_ = 0;
  // Per asked row: delivered, then one bit per flag.
  std::vector<bool> answers_;
  FlagAskSummary summary_;
};

// The numbers of the rows a scan of `rows` rows accepted: those its reject report (written by
// RejectReport) does not list. Rows are numbered from 1 as in the reject report.
absl::StatusOr<std::vector<uint64_t>> AcceptedRowNumbers(uint64_t rows,
                                                         const std::filesystem::path& rejects);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_FLAG_ASKER_H_

#include "agents/flag_asker.h"

#include <fmt/format.h>
#include <sodium.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "core/atomic_file.h"
#include "core/csv_reader.h"
#include "core/progress.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "core/tls.h"

namespace koppel::agent {
namespace {

void Wipe(std::vector<std::string>* inputs) {
  for (std::string& s : *inputs) sodium_memzero(s.data(), s.size());
}

// Flag names become CSV headers: only plain names may.
bool IsPlainName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-' || c == '.';
    if (!plain) return false;
  }
  return true;
}

}  // namespace

nlohmann::json FlagAskSummary::ToJson() const {
  nlohmann::json j;
  j["asked"] = asked;
  j["delivered"] = delivered;
  j["covenant_version"] = covenant_version;
  j["flags"] = nlohmann::json::object();
  for (size_t i = 0; i < flags.size(); ++i) j["flags"][flags[i]] = yes[i];
  j["datasets_without_epoch"] = datasets_without_epoch;
  return j;
}

std::string FlagAskSummary::ToText() const {
  std::string out = fmt::format("asked       {:>12}\ndelivered   {:>12}\n", WithThousands(asked),
                                WithThousands(delivered));
  if (!flags.empty()) out += "yes by flag:\n";
  for (size_t i = 0; i < flags.size(); ++i) {
    out += fmt::format("  {:<26} {:>10}\n", flags[i], WithThousands(yes[i]));
  }
  for (const std::string& dataset : datasets_without_epoch) {
    out += fmt::format(
        "warning: the linker holds dataset '{}' only under older key epochs; its flags are 'no' "
        "until it is delivered again under the newest\n",
        dataset);
  }
  return out;
}

FlagAsker::FlagAsker(TokenSource& tokens, v1::LinkerService::StubInterface& linker,
                     FlagAskConfig config)
    : tokens_(tokens), linker_(linker), config_(std::move(config)) {
  summary_.flags = config_.flags;
  summary_.yes.assign(config_.flags.size(), 0);
}

FlagAsker::~FlagAsker() {
  Wipe(&bsn_inputs_);
  sodium_memzero(token_scratch_.data(), token_scratch_.size() * sizeof(Token));
}

absl::Status FlagAsker::Accept(JudgedRow* row) {
  if (!row->bsn.ok() || row->bsn.canonical[0] == '\0') {
    return absl::FailedPreconditionError(
        "a purpose-bound release asks by BSN, but a row without one was offered; the mapping "
        "must map a BSN column");
  }
  if (bsn_inputs_.size() <= pending_) bsn_inputs_.resize(pending_ + 1);
  bsn_inputs_[pending_].assign(row->bsn.view());
  ++pending_;
  if (pending_ >= config_.chunk_size) return AskChunk();
  return absl::OkStatus();
}

absl::Status FlagAsker::Finish() { return AskChunk(); }

absl::Status FlagAsker::AskChunk() {
  if (pending_ == 0) return absl::OkStatus();
  const size_t count = std::exchange(pending_, 0);
  absl::Status tokenised =
      tokens_.Tokenize(IdentifierKind::kBsn, bsn_inputs_, count, &token_scratch_);
  Wipe(&bsn_inputs_);
  RETURN_IF_ERROR(tokenised);

  v1::AskFlagsRequest request;
  request.set_covenant_id(config_.covenant_id);
  request.set_release(config_.release);
  request.set_key_epoch(tokens_.key_epoch());
  for (const std::string& flag : config_.flags) request.add_flags(flag);
  for (size_t i = 0; i < count; ++i) {
    request.add_tokens(reinterpret_cast<const char*>(token_scratch_[i].data()),
                       token_scratch_[i].size());
  }
  sodium_memzero(token_scratch_.data(), token_scratch_.size() * sizeof(Token));

  v1::AskFlagsResponse response;
  grpc::Status status;
  std::chrono::milliseconds backoff{200};
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + config_.deadline);
    status = linker_.AskFlags(&context, request, &response);
    if (status.ok() || status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        attempt >= config_.max_attempts) {
      break;
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
  for (std::string& token : *request.mutable_tokens()) sodium_memzero(token.data(), token.size());
  if (!status.ok()) {
    const absl::Status s = FromGrpcStatus(status);
    const bool unreachable = absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
    return WithRefusalOf(
        absl::Status(
            s.code(),
            fmt::format("{} release '{}' of covenant '{}' (asked rows {} to {}): {}",
                        unreachable ? "the linker could not be asked for" : "the linker refused",
                        config_.release, config_.covenant_id, summary_.asked + 1,
                        summary_.asked + count, std::string(s.message()))),
        s);
  }
  return Record(response, count);
}

absl::Status FlagAsker::Record(const v1::AskFlagsResponse& response, size_t count) {
  const std::vector<std::string> flags(response.flags().begin(), response.flags().end());
  if (summary_.asked == 0) {
    if (!config_.flags.empty() && flags != config_.flags) {
      return absl::DataLossError(fmt::format(
          "the linker answered other flags than release '{}' was asked for", config_.release));
    }
    for (const std::string& flag : flags) {
      if (!IsPlainName(flag)) {
        return absl::DataLossError(fmt::format(
            "the linker named a flag of release '{}' with characters other than letters, digits, "
            "'_', '-' and '.'; check the covenant",
            config_.release));
      }
    }
    summary_.flags = flags;
    summary_.yes.assign(flags.size(), 0);
    summary_.covenant_version = response.covenant_version();
    summary_.datasets_without_epoch.assign(response.datasets_without_epoch().begin(),
                                           response.datasets_without_epoch().end());
  } else if (flags != summary_.flags) {
    return absl::DataLossError(fmt::format(
        "the linker changed the flags of release '{}' during the run; ask again", config_.release));
  } else if (response.covenant_version() != summary_.covenant_version) {
    return absl::FailedPreconditionError(
        fmt::format("covenant '{}' changed from version {} to {} during the run; ask again",
                    config_.covenant_id, summary_.covenant_version, response.covenant_version()));
  }
  if (static_cast<size_t>(response.answers_size()) != count) {
    return absl::DataLossError(
        fmt::format("the linker answered {} of {} rows asked", response.answers_size(), count));
  }
  for (const v1::FlagAnswer& answer : response.answers()) {
    const size_t expected = answer.delivered() ? flags.size() : 0;
    if (static_cast<size_t>(answer.flags_size()) != expected) {
      return absl::DataLossError(
          fmt::format("the linker answered {} flag(s) for a row where {} were due",
                      answer.flags_size(), expected));
    }
    answers_.push_back(answer.delivered());
    summary_.delivered += answer.delivered() ? 1u : 0u;
    for (size_t i = 0; i < flags.size(); ++i) {
      const bool yes = answer.delivered() && answer.flags(static_cast<int>(i));
      answers_.push_back(yes);
      summary_.yes[i] += yes ? 1u : 0u;
    }
  }
  summary_.asked += count;
  return absl::OkStatus();
}

absl::Status FlagAsker::WriteAnswers(const std::vector<uint64_t>& rows,
                                     const std::filesystem::path& out) const {
  if (rows.size() != summary_.asked) {
    return absl::InternalError(
        fmt::format("{} row numbers for {} asked rows", rows.size(), summary_.asked));
  }
  std::string csv = "row,delivered";
  for (const std::string& flag : summary_.flags) csv += "," + flag;
  csv += '\n';
  const size_t width = 1 + summary_.flags.size();
  for (size_t r = 0; r < rows.size(); ++r) {
    csv += std::to_string(rows[r]);
    for (size_t i = 0; i < width; ++i) csv += answers_[r * width + i] ? ",yes" : ",no";
    csv += '\n';
  }
  absl::Status written = WriteFileAtomically(out, csv);
  if (!written.ok()) {
    return absl::Status(written.code(), fmt::format("cannot write the answers to {}: {}",
                                                    out.string(), std::string(written.message())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> AcceptedRowNumbers(uint64_t rows,
                                                         const std::filesystem::path& rejects) {
  ASSIGN_OR_RETURN(std::unique_ptr<CsvReader> reader, CsvReader::Open(rejects, CsvOptions{}));
  CsvRecord record;
  ASSIGN_OR_RETURN(const bool has_header, reader->Next(&record));
  if (!has_header) {
    return absl::DataLossError(fmt::format("reject report {} is empty", rejects.string()));
  }
  std::vector<uint64_t> accepted;
  accepted.reserve(rows);
  uint64_t next = 1;
  for (;;) {
    ASSIGN_OR_RETURN(const bool more, reader->Next(&record));
    if (!more) break;
    // Duplicate rows are listed after the rejects but were accepted (and sealed).
    if (record.problem == RejectReason::kNone && record.fields.size() > 2 &&
        record.fields[2] == kDuplicateReason) {
      continue;
    }
    uint64_t rejected = 0;
    if (record.problem != RejectReason::kNone || record.fields.empty() ||
        !absl::SimpleAtoi(std::string(record.fields[0]), &rejected) || rejected < next ||
        rejected > rows) {
      return absl::DataLossError(fmt::format(
          "reject report {} line {} does not list a row of this scan in order; was it written "
          "by another run?",
          rejects.string(), record.line));
    }
    for (; next < rejected; ++next) accepted.push_back(next);
    next = rejected + 1;
  }
  for (; next <= rows; ++next) accepted.push_back(next);
  return accepted;
}

}  // namespace koppel::agent

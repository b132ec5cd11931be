#include "agents/sender.h"

#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "agents/held_check.h"
#include "core/progress.h"
#include "core/receipt.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "koppel/v1/linker.grpc.pb.h"

namespace koppel::agent {
namespace {

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted || code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kCancelled;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One stream: writes every pending batch, keeping each receipt as it arrives.
absl::Status DeliverOnce(Outbox& outbox, v1::LinkerService::Stub& stub,
                         const std::vector<std::string>& pending, const SendOptions& options,
                         SendSummary* summary, ProgressReporter* progress) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::DeliverRequest, v1::DeliverResponse>> stream =
      stub.Deliver(&context);
  absl::Status receipt_error;
  std::thread reader([&] {
    v1::DeliverResponse response;
    while (stream->Read(&response)) {
      const v1::Receipt& receipt = response.receipt();
      absl::Status verified = VerifyReceipt(receipt, receipt.batch_id());
      if (verified.ok() && options.linker_signing_key &&
          receipt.linker_public_key() !=
              std::string(options.linker_signing_key->begin(), options.linker_signing_key->end())) {
        verified =
            absl::UnauthenticatedError("the receipt is signed by another key than the linker's");
      }
      if (verified.ok()) verified = outbox.WriteReceipt(receipt);
      if (!verified.ok()) {
        receipt_error = verified;
        context.TryCancel();
        return;
      }
      ++summary->batches_delivered;
      summary->duplicates += receipt.duplicate() ? 1u : 0u;
      summary->records_accepted += receipt.records_accepted();
      progress->Update(summary->batches_delivered, summary->batches_delivered);
    }
  });
  v1::DeliverRequest request;
  for (const std::string& id : pending) {
    if (!request.mutable_batch()->ParseFromString(ReadAll(outbox.BatchPath(id)))) {
      context.TryCancel();
      reader.join();
      return absl::DataLossError(fmt::format(
          "outbox batch {} is unreadable; seal the export again into a fresh outbox", id));
    }
    if (!stream->Write(request)) break;  // the stream failed; Finish() says why
  }
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!receipt_error.ok()) return receipt_error;
  return FromGrpcStatus(status);
}

// What the held check found, on stderr (also with --quiet: the holder needs to know).
void ReportHeldCheck(const Outbox& outbox, const HeldCheck& check) {
  if (check.linker_cannot_check) {
    fmt::print(stderr,
               "koppel-agent: warning: the linker cannot say which delivered batches it holds "
               "(it predates CheckHeld); batches it lost in a restore are not sent again\n");
  }
  if (!check.resend.empty()) {
    fmt::print(stderr,
               "koppel-agent: the linker no longer holds {} batch(es) this outbox delivered "
               "(restored from a backup?); sending them again (their receipts are kept in "
               "{})\n",
               check.resend.size(), (outbox.dir() / "receipts.orphaned").string());
  }
  if (!check.lost.empty()) {
    fmt::print(stderr,
               "koppel-agent: warning: the linker no longer holds {} batch(es) this outbox "
               "delivered whose sealed files are gone from the outbox (first: {}); seal the "
               "export again to deliver their records\n",
               check.lost.size(), check.lost.front());
  }
}

// The pending batch a refusal by rule key_epoch_retired names, if `status` is one.
std::optional<std::string> RetiredBatch(const absl::Status& status,
                                        const std::vector<std::string>& pending) {
  if (status.ok() || RefusalRule(status) != "key_epoch_retired") return std::nullopt;
  for (const std::string& id : pending) {
    if (std::string(status.message()).find(id) != std::string::npos) return id;
  }
  return std::nullopt;
}

// "sealed under retired key epoch N", from the refusal's message.
std::string RetiredEpochOf(const absl::Status& status) {
  constexpr std::string_view kUnder = "under key epoch ";
  const std::string message(status.message());
  const size_t at = message.find(kUnder);
  if (at == std::string::npos) return "is sealed under a retired key epoch";
  const size_t begin = at + kUnder.size();
  const size_t end = message.find_first_not_of("0123456789", begin);
  return fmt::format("is sealed under retired key epoch {}", message.substr(begin, end - begin));
}

}  // namespace

absl::StatusOr<SendSummary> SendOutbox(Outbox& outbox, const ChannelFactory& connect,
                                       const SendOptions& options) {
  SendSummary summary;
  absl::StatusOr<std::vector<std::string>> pending = outbox.Undelivered();
  if (!pending.ok()) return pending.status();
  summary.batches_pending = pending->size();
  std::optional<ProgressReporter> progress;  // once the batches to send are known
  auto start_progress = [&] {
    if (progress.has_value()) return;
    progress.emplace(fmt::format("send {}", outbox.dir().filename().string()),
                     summary.batches_pending, "batches");
    if (!options.progress) progress->Silence();
  };
  bool check_held = options.check_held;
  std::set<std::string> retired;  // batches of a key epoch the linker retired: not sent
  std::chrono::milliseconds backoff = options.first_backoff;
  while (check_held || !pending->empty()) {
    ++summary.attempts;
    const uint64_t delivered_before = summary.batches_delivered;
    v1::LinkerService::Stub stub(connect());
    absl::Status status;
    if (check_held) {
      absl::StatusOr<HeldCheck> check = OrphanUnheldReceipts(outbox, stub);
      if (check.ok()) {
        check_held = false;
        ReportHeldCheck(outbox, *check);
        summary.receipts_checked = check->receipts_checked;
        summary.held_check_unanswered = check->linker_cannot_check;
        summary.batches_resent = check->resend.size();
        summary.batches_lost = check->lost.size();
        pending = outbox.Undelivered();
        if (!pending.ok()) return pending.status();
        summary.batches_pending = pending->size();
      } else {
        status = check.status();
      }
    }
    if (!check_held && !pending->empty()) {
      start_progress();
      status = DeliverOnce(outbox, stub, *pending, options, &summary, &*progress);
    }
    if (summary.batches_delivered > delivered_before) {
      backoff = options.first_backoff;  // the linker is back: no reason to wait long next time
    }
    pending = outbox.Undelivered();
    if (!pending.ok()) return pending.status();
    if (std::optional<std::string> id = RetiredBatch(status, *pending); id.has_value()) {
      // The linker retired its epoch: the batch stays in the outbox, without a receipt, and
      // the rest is sent.
      fmt::print(stderr, "koppel-agent: warning: batch {} {}; not sent; seal the export again\n",
                 *id, RetiredEpochOf(status));
      retired.insert(*id);
      status = absl::OkStatus();
    }
    std::erase_if(*pending, [&](const std::string& id) { return retired.contains(id); });
    if (status.ok() && !check_held && pending->empty()) break;
    if (status.ok() && !retired.empty() && !check_held) continue;
    if (!status.ok() && !Retryable(status.code())) return status;
    if (absl::IsUnavailable(status) && summary.batches_delivered == delivered_before &&
        options.check_refusal) {
      if (absl::Status refused = options.check_refusal(); !refused.ok()) return refused;
    }
    if (summary.attempts >= options.max_attempts && check_held) {
      return absl::UnavailableError(fmt::format(
          "could not ask the linker which delivered batches it holds after {} attempts (last "
          "error: {}); nothing was sent. Run send again when the linker is reachable (or with "
          "--no-held-check)",
          summary.attempts, std::string(status.message())));
    }
    if (summary.attempts >= options.max_attempts) {
      return absl::UnavailableError(fmt::format(
          "{} batch(es) still undelivered after {} attempts (last error: {}); run send again "
          "when the linker is reachable: delivered batches are not sent twice",
          pending->size(), summary.attempts, std::string(status.message())));
    }
    if (options.progress || summary.attempts % 10 == 1) {
      fmt::print(stderr, "koppel-agent: attempt {} failed: {}; retrying in {} ms\n",
                 summary.attempts, std::string(status.message()), backoff.count());
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, options.max_backoff);
  }
  start_progress();
  progress->Finish(summary.batches_delivered);
  return summary;
}

}  // namespace koppel::agent

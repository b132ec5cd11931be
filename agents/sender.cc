#include "agents/sender.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/progress.h"
#include "core/receipt.h"
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

}  // namespace

absl::StatusOr<SendSummary> SendOutbox(Outbox& outbox, const ChannelFactory& connect,
                                       const SendOptions& options) {
  SendSummary summary;
  absl::StatusOr<std::vector<std::string>> pending = outbox.Undelivered();
  if (!pending.ok()) return pending.status();
  summary.batches_pending = pending->size();
  ProgressReporter progress(fmt::format("send {}", outbox.dir().filename().string()),
                            summary.batches_pending, "batches");
  if (!options.progress) progress.Silence();
  std::chrono::milliseconds backoff = options.first_backoff;
  while (!pending->empty()) {
    ++summary.attempts;
    const uint64_t delivered_before = summary.batches_delivered;
    v1::LinkerService::Stub stub(connect());
    absl::Status status = DeliverOnce(outbox, stub, *pending, options, &summary, &progress);
    if (summary.batches_delivered > delivered_before) {
      backoff = options.first_backoff;  // the linker is back: no reason to wait long next time
    }
    pending = outbox.Undelivered();
    if (!pending.ok()) return pending.status();
    if (status.ok() && pending->empty()) break;
    if (!status.ok() && !Retryable(status.code())) return status;
    if (absl::IsUnavailable(status) && summary.batches_delivered == delivered_before &&
        options.check_refusal) {
      if (absl::Status refused = options.check_refusal(); !refused.ok()) return refused;
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
  progress.Finish(summary.batches_delivered);
  return summary;
}

}  // namespace koppel::agent

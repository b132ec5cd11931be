// Delivers an outbox to the linker over mutual-TLS gRPC (ARCHITECTURE section 3): every batch
// of every completed run that has no receipt yet is streamed; each signed receipt is verified
// and kept in receipts/ before the batch counts as delivered. Interrupted at any point, the next
// send resumes with the batches that still lack a receipt; the linker acknowledges a batch it
// already holds without storing it twice. Before streaming it asks the linker which batches with
// receipts it no longer holds (held_check.h) and delivers those again.
#ifndef KOPPEL_AGENTS_SENDER_H_
#define KOPPEL_AGENTS_SENDER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agents/outbox.h"
#include "core/sealed_batch.h"

namespace koppel::agent {

struct SendOptions {
  int max_attempts = 20;
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  std::optional<SigningPublicKey> linker_signing_key;  // pin the receipts' signer when given
  bool progress = true;
  // Called when an attempt finds the linker unavailable before any receipt; a non-OK status
  // (e.g. the linker refused our certificate, see certificate_probe.h) ends the send at once.
  std::function<absl::Status()> check_refusal;
  // Ask the linker which delivered batches it no longer holds before streaming (one call per
  // 10,000 receipts), and deliver those again.
  bool check_held = true;
};

struct SendSummary {
  uint64_t batches_pending = 0;    // at the start
  uint64_t batches_delivered = 0;  // receipts received in this send
  uint64_t duplicates = 0;         // of which the linker already held
  uint64_t records_accepted = 0;
  int attempts = 0;
  uint64_t receipts_checked = 0;       // receipts the linker was asked about
  bool held_check_unanswered = false;  // the linker predates CheckHeld: nothing was checked
  // Batches the linker no longer held (restored from a backup): their receipts are in
  // receipts.orphaned/ and they are among batches_pending.
  uint64_t batches_resent = 0;
  // Batches the linker no longer held whose sealed files are gone from the outbox.
  uint64_t batches_lost = 0;
};

// Errors: the linker's refusal (PERMISSION_DENIED, INVALID_ARGUMENT, ...) as it gave it, what
// check_refusal returned, or UNAVAILABLE after max_attempts.
// `connect` makes a fresh channel for every attempt, so that no connection state survives a
// linker restart.
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>()>;
absl::StatusOr<SendSummary> SendOutbox(Outbox& outbox, const ChannelFactory& connect,
                                       const SendOptions& options);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_SENDER_H_

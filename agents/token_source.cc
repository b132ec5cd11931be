#include "agents/token_source.h"

#include <fmt/format.h>
#include <sodium.h>

#include <deque>
#include <future>
#include <optional>

#include "core/key_file.h"
#include "core/key_transport.h"
#include "core/oprf.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "core/tls.h"
#include "core/worker_pool.h"
#include "koppel/v1/vault.grpc.pb.h"

namespace koppel::agent {
namespace {

class HmacTokenSource final : public TokenSource {
 public:
  HmacTokenSource(Tokenizer tokenizer, uint32_t epoch)
      : tokenizer_(std::move(tokenizer)), epoch_(epoch) {}
  std::string_view scheme() const override { return "koppel/v1/hmac"; }
  uint32_t key_epoch() const override { return epoch_; }
  absl::Status Tokenize(IdentifierKind kind, const std::vector<std::string>& canonical,
                        size_t count, std::vector<Token>* out) override {
    out->resize(count);
    for (size_t i = 0; i < count; ++i) (*out)[i] = tokenizer_.Tokenize(kind, canonical[i]);
    return absl::OkStatus();
  }

 private:
  Tokenizer tokenizer_;
  uint32_t epoch_;
};

// OPRF mode. Inputs go to the vault in chunks, pipelined: while the vault evaluates one chunk
// the agent blinds the next, then finalizes the one answered; blinding and finalizing run on
// every core (WorkerPool), with the blinds drawn and inverted per batch (OprfClientBatch).
class OprfTokenSource final : public TokenSource {
 public:
  // Elements per call: half the vault's limit (4096), so that a chunk's round trip is short
  // and the vault spreads a few agents' chunks over its cores.
  static constexpr size_t kChunk = 2048;
  // Chunks sent and not yet finalized: one at the vault while the next is blinded.
  static constexpr size_t kChunksInFlight = 2;

  OprfTokenSource(std::shared_ptr<grpc::Channel> channel, std::string covenant, uint32_t epoch,
                  size_t threads)
      : stub_(v1::VaultService::NewStub(channel)),
        covenant_(std::move(covenant)),
        epoch_(epoch),
        pool_(threads == 1 ? nullptr
                           : std::make_unique<WorkerPool>(threads == 0 ? 0 : threads - 1)) {}
  std::string_view scheme() const override { return "koppel/v1/oprf"; }
  uint32_t key_epoch() const override { return epoch_; }

  absl::Status Tokenize(IdentifierKind kind, const std::vector<std::string>& canonical,
                        size_t count, std::vector<Token>* out) override {
    out->resize(count);
    // On an early return the chunks still at the vault cancel their calls and wait for them.
    std::deque<std::unique_ptr<Chunk>> in_flight;
    for (size_t start = 0; start < count; start += kChunk) {
      auto chunk = std::make_unique<Chunk>(start);
      RETURN_IF_ERROR(Send(kind, canonical, std::min(kChunk, count - start), chunk.get()));
      in_flight.push_back(std::move(chunk));
      if (in_flight.size() == kChunksInFlight) {
        RETURN_IF_ERROR(Receive(in_flight.front().get(), out));
        in_flight.pop_front();
      }
    }
    for (; !in_flight.empty(); in_flight.pop_front()) {
      RETURN_IF_ERROR(Receive(in_flight.front().get(), out));
    }
    return absl::OkStatus();
  }

 private:
  // One call to the vault: the inputs of tokens [start, start + size), their blinds until the
  // answer is finalized, and the call.
  struct Chunk {
    explicit Chunk(size_t first) : start(first) {}
    ~Chunk() {
      if (waiting) {
        context.TryCancel();
        reply.wait();
      }
      for (std::string& input : inputs) sodium_memzero(input.data(), input.size());
    }

    const size_t start;
    std::vector<std::string> inputs;  // "kind:canonical"
    std::optional<OprfClientBatch> batch;
    grpc::ClientContext context;
    v1::EvaluateOprfRequest request;
    v1::EvaluateOprfResponse response;
    std::promise<grpc::Status> done;
    std::future<grpc::Status> reply = done.get_future();
    bool waiting = false;
  };

  // Blinds the chunk's inputs and sends them, without waiting for the answer.
  absl::Status Send(IdentifierKind kind, const std::vector<std::string>& canonical, size_t size,
                    Chunk* chunk) {
    const std::string_view prefix = IdentifierKindName(kind);
    chunk->inputs.resize(size);
    for (size_t i = 0; i < size; ++i) {
      std::string& input = chunk->inputs[i];
      const std::string& value = canonical[chunk->start + i];
      input.reserve(prefix.size() + 1 + value.size());
      input.append(prefix).append(1, ':').append(value);
    }
    std::vector<OprfElement> blinded;
    ASSIGN_OR_RETURN(OprfClientBatch batch,
                     OprfClientBatch::Blind(chunk->inputs, &blinded, pool_.get()));
    chunk->batch.emplace(std::move(batch));
    chunk->request.set_covenant_id(covenant_);
    chunk->request.mutable_blinded_elements()->Reserve(static_cast<int>(size));
    for (const OprfElement& element : blinded) {
      chunk->request.add_blinded_elements(reinterpret_cast<const char*>(element.data()),
                                          element.size());
    }
    chunk->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    chunk->waiting = true;
    stub_->async()->EvaluateOprf(&chunk->context, &chunk->request, &chunk->response,
                                 [chunk](grpc::Status status) { chunk->done.set_value(status); });
    return absl::OkStatus();
  }

  // Waits for the vault's answer to the chunk and finalizes its tokens into `out`.
  absl::Status Receive(Chunk* chunk, std::vector<Token>* out) {
    const grpc::Status status = chunk->reply.get();
    chunk->waiting = false;
    RETURN_IF_ERROR(FromGrpcStatus(status));
    const size_t size = chunk->inputs.size();
    const v1::EvaluateOprfResponse& response = chunk->response;
    if (response.key_epoch() > epoch_) {
      // A scheduled rotation between two calls of this seal: tokens of two epochs never join.
      return absl::FailedPreconditionError(fmt::format(
          "covenant {} started key epoch {} during this seal; run seal again: nothing of this "
          "run is kept",
          covenant_, response.key_epoch()));
    }
    if (static_cast<size_t>(response.evaluated_elements_size()) != size ||
        response.key_epoch() != epoch_) {
      return absl::DataLossError("the vault answered for another batch or key epoch");
    }
    std::vector<OprfElement> evaluated(size);
    for (size_t i = 0; i < size; ++i) {
      const std::string& e = response.evaluated_elements(static_cast<int>(i));
      if (e.size() != kOprfElementSize) return absl::DataLossError("malformed OPRF evaluation");
      std::copy(e.begin(), e.end(), reinterpret_cast<char*>(evaluated[i].data()));
    }
    std::vector<OprfOutput> outputs(size);
    absl::Status finalized = chunk->batch->Finalize(chunk->inputs, evaluated, outputs, pool_.get());
    if (finalized.ok()) {
      for (size_t i = 0; i < size; ++i) {
        std::copy(outputs[i].begin(), outputs[i].begin() + 32, (*out)[chunk->start + i].begin());
      }
    }
    sodium_memzero(outputs.data(), outputs.size() * sizeof(OprfOutput));
    return finalized;
  }

  std::unique_ptr<v1::VaultService::Stub> stub_;
  std::string covenant_;
  uint32_t epoch_;
  std::unique_ptr<WorkerPool> pool_;  // none: everything on the caller's thread
};

// The token mode the vault said: the enum, or from a vault before it, the legacy string.
absl::StatusOr<v1::TokenMode> TokenModeOf(const v1::GetCovenantKeyResponse& response) {
  if (response.token_mode() != v1::TOKEN_MODE_UNSPECIFIED) return response.token_mode();
  if (response.legacy_token_mode() == "hmac") return v1::TOKEN_MODE_HMAC;
  if (response.legacy_token_mode() == "oprf") return v1::TOKEN_MODE_OPRF;
  return absl::FailedPreconditionError(
      "the vault did not say its token mode; agent and vault versions differ");
}

}  // namespace

std::unique_ptr<TokenSource> MakeHmacTokenSource(Tokenizer tokenizer, uint32_t key_epoch) {
  return std::make_unique<HmacTokenSource>(std::move(tokenizer), key_epoch);
}

absl::StatusOr<std::unique_ptr<TokenSource>> HmacTokenSourceFromKeyFile(const std::string& key_file,
                                                                        uint32_t key_epoch) {
  ASSIGN_OR_RETURN(Secret key, ReadKeyFile(key_file, kCovenantKeySize));
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::Create(key));
  return std::make_unique<HmacTokenSource>(std::move(tokenizer), key_epoch);
}

absl::StatusOr<std::unique_ptr<TokenSource>> TokenSourceFromVault(
    std::shared_ptr<grpc::Channel> vault, const std::string& covenant_id, size_t oprf_threads) {
  ASSIGN_OR_RETURN(OneTimeBox one_time, OneTimeBox::Create());
  auto stub = v1::VaultService::NewStub(vault);
  v1::GetCovenantKeyRequest request;
  request.set_covenant_id(covenant_id);
  request.set_recipient_public_key(one_time.public_key());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetCovenantKeyResponse response;
  grpc::Status status = stub->GetCovenantKey(&context, request, &response);
  if (!status.ok()) {
    return WithRefusalOf(
        absl::Status(
            FromGrpcStatus(status).code(),
            fmt::format(
                fmt::runtime(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                                 ? "the vault cannot be reached: {}"
                                 : "the vault refused the covenant key: {}"),
                status.error_message())),
        FromGrpcStatus(status));
  }
  ASSIGN_OR_RETURN(const v1::TokenMode mode, TokenModeOf(response));
  std::unique_ptr<TokenSource> source;
  if (mode == v1::TOKEN_MODE_OPRF) {
    source =
        std::make_unique<OprfTokenSource>(vault, covenant_id, response.key_epoch(), oprf_threads);
  } else {
    ASSIGN_OR_RETURN(Secret key, one_time.Open(response.sealed_key(), kCovenantKeySize));
    ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::Create(key));
    source = std::make_unique<HmacTokenSource>(std::move(tokenizer), response.key_epoch());
  }
  source->set_covenant_version(response.covenant_version());
  if (response.has_key_schedule()) source->set_key_schedule(response.key_schedule());
  return source;
}

}  // namespace koppel::agent

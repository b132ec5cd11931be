#include "agents/token_source.h"

#include <fmt/format.h>
#include <sodium.h>

#include "core/key_file.h"
#include "core/key_transport.h"
#include "core/oprf.h"
#include "core/status_macros.h"
#include "core/tls.h"
#include "koppel/v1/vault.grpc.pb.h"

namespace koppel {
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

class OprfTokenSource final : public TokenSource {
 public:
  OprfTokenSource(std::shared_ptr<grpc::Channel> channel, std::string covenant, uint32_t epoch)
      : stub_(v1::VaultService::NewStub(channel)), covenant_(std::move(covenant)), epoch_(epoch) {}
  std::string_view scheme() const override { return "koppel/v1/oprf"; }
  uint32_t key_epoch() const override { return epoch_; }

  absl::Status Tokenize(IdentifierKind kind, const std::vector<std::string>& canonical,
                        size_t count, std::vector<Token>* out) override {
    out->resize(count);
    constexpr size_t kChunk = 4096;
    std::string input;
    for (size_t start = 0; start < count; start += kChunk) {
      const size_t n = std::min(kChunk, count - start);
      std::vector<OprfBlindedInput> blinded;
      blinded.reserve(n);
      v1::EvaluateOprfRequest request;
      request.set_covenant_id(covenant_);
      for (size_t i = 0; i < n; ++i) {
        input = fmt::format("{}:{}", IdentifierKindName(kind), canonical[start + i]);
        ASSIGN_OR_RETURN(OprfBlindedInput b, BlindOprfInput(AsBytes(input)));
        request.add_blinded_elements(reinterpret_cast<const char*>(b.blinded_element.data()),
                                     b.blinded_element.size());
        blinded.push_back(std::move(b));
      }
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::EvaluateOprfResponse response;
      RETURN_IF_ERROR(FromGrpcStatus(stub_->EvaluateOprf(&context, request, &response)));
      if (static_cast<size_t>(response.evaluated_elements_size()) != n ||
          response.key_epoch() != epoch_) {
        return absl::DataLossError("the vault answered for another batch or key epoch");
      }
      for (size_t i = 0; i < n; ++i) {
        const std::string& e = response.evaluated_elements(static_cast<int>(i));
        if (e.size() != kOprfElementSize) return absl::DataLossError("malformed OPRF evaluation");
        OprfElement evaluated;
        std::copy(e.begin(), e.end(), reinterpret_cast<char*>(evaluated.data()));
        input = fmt::format("{}:{}", IdentifierKindName(kind), canonical[start + i]);
        ASSIGN_OR_RETURN(OprfOutput output,
                         FinalizeOprf(AsBytes(input), blinded[i].blind, evaluated));
        std::copy(output.begin(), output.begin() + 32, (*out)[start + i].begin());
      }
    }
    sodium_memzero(input.data(), input.size());
    return absl::OkStatus();
  }

 private:
  static std::span<const uint8_t> AsBytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  std::unique_ptr<v1::VaultService::Stub> stub_;
  std::string covenant_;
  uint32_t epoch_;
};

}  // namespace

std::unique_ptr<TokenSource> MakeHmacTokenSource(Tokenizer tokenizer, uint32_t key_epoch) {
  return std::make_unique<HmacTokenSource>(std::move(tokenizer), key_epoch);
}

absl::StatusOr<std::unique_ptr<TokenSource>> HmacTokenSourceFromKeyFile(
    const std::string& key_file, uint32_t key_epoch) {
  ASSIGN_OR_RETURN(Secret key, ReadKeyFile(key_file, kCovenantKeySize));
  ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::Create(key));
  return std::make_unique<HmacTokenSource>(std::move(tokenizer), key_epoch);
}

absl::StatusOr<std::unique_ptr<TokenSource>> TokenSourceFromVault(
    std::shared_ptr<grpc::Channel> vault, const std::string& covenant_id) {
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
    return absl::Status(FromGrpcStatus(status).code(),
                        fmt::format(fmt::runtime(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                                            status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                                        ? "the vault cannot be reached: {}"
                                        : "the vault refused the covenant key: {}"),
                                    status.error_message()));
  }
  std::unique_ptr<TokenSource> source;
  if (response.token_mode() == "oprf") {
    source = std::make_unique<OprfTokenSource>(vault, covenant_id, response.key_epoch());
  } else {
    ASSIGN_OR_RETURN(Secret key, one_time.Open(response.sealed_key(), kCovenantKeySize));
    ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::Create(key));
    source = std::make_unique<HmacTokenSource>(std::move(tokenizer), response.key_epoch());
  }
  source->set_covenant_version(response.covenant_version());
  return source;
}

}  // namespace koppel

// The gRPC face of the linker: authenticates the caller by its client certificate, finds the
// covenant the request is made under (held for the request, in force now), hands the request to
// that covenant's ingester, query runner or flag responder (or tells an agent which of its
// delivered batches the store no longer holds), and writes every delivery, query,
// release and covenant end to the audit log. Every request is checked against the identifier
// rules before any of it is logged, and what is logged of a client's strings is escaped. It
// counts deliveries, refusals and latencies into a metrics registry (docs/operations.md).
#ifndef KOPPEL_LINKER_LINKER_SERVICE_H_
#define KOPPEL_LINKER_LINKER_SERVICE_H_

#include <atomic>
#include <optional>
#include <string_view>

#include "core/audit_log.h"
#include "core/metrics.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "linker/linker_store.h"
#include "linker/served_covenants.h"

namespace koppel::linker {

class LinkerService final : public v1::LinkerService::Service {
 public:
  LinkerService(ServedCovenants* covenants, LinkerStore* store, AuditLog* audit,
                MetricsRegistry* metrics = &MetricsRegistry::Default())
      : covenants_(covenants), store_(store), audit_(audit), metrics_(metrics) {}

  grpc::Status Deliver(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::DeliverResponse, v1::DeliverRequest>* stream) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status Query(grpc::ServerContext* context, const v1::QueryRequest* request,
                     v1::QueryResponse* response) override;
  grpc::Status AskFlags(grpc::ServerContext* context, const v1::AskFlagsRequest* request,
                        v1::AskFlagsResponse* response) override;
  grpc::Status EndCovenant(grpc::ServerContext* context, const v1::EndCovenantRequest* request,
                           v1::EndCovenantResponse* response) override;
  grpc::Status CheckHeld(grpc::ServerContext* context, const v1::CheckHeldRequest* request,
                         v1::CheckHeldResponse* response) override;

  // The most batch ids one CheckHeld call may ask about; the agent asks in pages.
  static constexpr int kMaxCheckHeldBatches = 10000;

  uint64_t batches_stored() const { return batches_stored_.load(); }

 private:
  absl::StatusOr<v1::Receipt> Ingest(const std::string& sender, const v1::SealedBatch& batch);
  // The asked batch ids the store holds no batch of for `caller` and the request's dataset.
  absl::StatusOr<v1::CheckHeldResponse> FindNotHeld(const std::string& caller,
                                                    const v1::CheckHeldRequest& request);
  // Appends to the audit log; a failure is logged and turned into the returned status, so no
  // answer leaves the linker without its audit entry.
  absl::Status Audit(std::string_view event, std::string_view actor, std::string_view covenant,
                     const nlohmann::json& details);
  // Empty when the caller's certificate identity is a party name and every field of `request`
  // follows its rule (core/identifier_rules.h). Otherwise the refusal, logged and audited as
  // `event` and counted for `method` before anything else of the request: the field, its
  // length and the rule, never its content.
  std::optional<grpc::Status> RefuseMalformed(std::string_view operation, std::string_view event,
                                              std::string_view method, const std::string& caller,
                                              const google::protobuf::Message& request);

  ServedCovenants* covenants_;
  LinkerStore* store_;
  AuditLog* audit_;
  // What an ingested batch adds to the counts of its covenant and dataset.
  void CountIngested(const v1::Receipt& receipt);
  void CountRefusal(std::string_view method, const absl::Status& why);

  MetricsRegistry* metrics_;
  std::atomic<uint64_t> batches_stored_{0};
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_LINKER_SERVICE_H_

#include "linker/linker_service.h"

#include <spdlog/spdlog.h>

#include "core/tls.h"

namespace koppel {

grpc::Status LinkerService::Deliver(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::DeliverResponse, v1::DeliverRequest>* stream) {
  const std::string sender = PeerIdentity(*context);
  if (sender.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "no verified client certificate (rule: every party presents one)");
  }
  v1::DeliverRequest request;
  while (stream->Read(&request)) {
    absl::StatusOr<v1::Receipt> receipt = ingester_->Ingest(sender, request.batch());
    if (!receipt.ok()) {
      // Batch ids and party names only: the linker never sees an identifier to log.
      spdlog::warn("refused batch {} of {} from {}: {}", request.batch().batch_id(),
                   request.batch().dataset(), sender, std::string(receipt.status().message()));
      return ToGrpcStatus(receipt.status());
    }
    if (!receipt->duplicate()) ++batches_stored_;
    spdlog::info("{} batch {} of {} from {}: {} records", receipt->duplicate() ? "re-acknowledged" : "stored",
                 receipt->batch_id(), receipt->dataset(), sender, receipt->records_accepted());
    v1::DeliverResponse response;
    *response.mutable_receipt() = std::move(*receipt);
    if (!stream->Write(response)) break;
  }
  return grpc::Status::OK;
}

grpc::Status LinkerService::GetStatus(grpc::ServerContext* context,
                                      const v1::GetStatusRequest* /*request*/,
                                      v1::GetStatusResponse* response) {
  if (PeerIdentity(*context).empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no verified client certificate");
  }
  absl::StatusOr<std::vector<v1::DatasetStatus>> status = store_->Status();
  if (!status.ok()) return ToGrpcStatus(status.status());
  for (v1::DatasetStatus& s : *status) *response->add_datasets() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status LinkerService::Query(grpc::ServerContext* context, const v1::QueryRequest* request,
                                  v1::QueryResponse* response) {
  const std::string caller = PeerIdentity(*context);
  if (caller.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "no verified client certificate (rule: every party presents one)");
  }
  absl::StatusOr<v1::Release> release = queries_->Run(caller, *request);
  if (!release.ok()) {
    spdlog::warn("refused query {} from {}: {}", request->spec_name(), caller,
                 std::string(release.status().message()));
    return ToGrpcStatus(release.status());
  }
  const v1::ReleaseMetadata& meta = release->metadata();
  spdlog::info("released analysis {} (spec {}) to {}: {} tables, {} cells suppressed primarily, "
               "{} secondarily",
               meta.analysis(), meta.spec_sha256(), caller, release->tables_size(),
               meta.cells_suppressed_primary(), meta.cells_suppressed_secondary());
  *response->mutable_release() = std::move(*release);
  return grpc::Status::OK;
}

}  // namespace koppel

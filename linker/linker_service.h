// The gRPC face of the linker: authenticates the caller by its client certificate and hands
// each delivered batch to the ingester, answering with one signed receipt per batch.
#ifndef KOPPEL_LINKER_LINKER_SERVICE_H_
#define KOPPEL_LINKER_LINKER_SERVICE_H_

#include <atomic>

#include "koppel/v1/linker.grpc.pb.h"
#include "linker/analysis/query_runner.h"
#include "linker/batch_ingester.h"
#include "linker/linker_store.h"

namespace koppel {

class LinkerService final : public v1::LinkerService::Service {
 public:
  LinkerService(BatchIngester* ingester, LinkerStore* store, QueryRunner* queries)
      : ingester_(ingester), store_(store), queries_(queries) {}

  grpc::Status Deliver(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::DeliverResponse, v1::DeliverRequest>* stream) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status Query(grpc::ServerContext* context, const v1::QueryRequest* request,
                     v1::QueryResponse* response) override;

  uint64_t batches_stored() const { return batches_stored_.load(); }

 private:
  BatchIngester* ingester_;
  LinkerStore* store_;
  QueryRunner* queries_;
  std::atomic<uint64_t> batches_stored_{0};
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_LINKER_SERVICE_H_

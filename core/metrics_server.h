// Serves a MetricsRegistry at GET /metrics in the Prometheus text format, over plain HTTP
// (civetweb) on an address of its own, apart from the gRPC port: a scraper has no client
// certificate, so the endpoint holds nothing beyond counts and names from the covenants.
// Nothing else is served: no files, every other path is 404.
#ifndef KOPPEL_CORE_METRICS_SERVER_H_
#define KOPPEL_CORE_METRICS_SERVER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/metrics.h"

struct mg_context;
struct mg_connection;

namespace koppel {

// OK when `metrics_listen` is empty (no endpoint) or names another port than the gRPC service's
// `grpc_listen`; INVALID_ARGUMENT saying so when both name the same port (port 0 excepted).
absl::Status CheckMetricsAddress(std::string_view metrics_listen, std::string_view grpc_listen);

class MetricsServer {
 public:
  // Listens on `listen` (IPv4 "HOST:PORT" or IPv6 "[HOST]:PORT", HOST an address; port 0: any
  // free port). UNAVAILABLE when it cannot listen there, INVALID_ARGUMENT when `listen` is no
  // such address. `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              const MetricsRegistry* registry);
  // Stops serving; waits for scrapes in progress.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  explicit MetricsServer(const MetricsRegistry* registry) : registry_(registry) {}
  static int HandleMetrics(mg_connection* connection, void* self);

  const MetricsRegistry* registry_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_METRICS_SERVER_H_

#include "core/metrics_server.h"

#include <civetweb.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "core/log_safe.h"

namespace koppel {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// civetweb's own error lines go to the service log.
int LogCivetweb(const mg_connection*, const char* message) {
  spdlog::warn("metrics endpoint: {}", LogSafe(message != nullptr ? message : ""));
  return 1;
}

// "HOST:PORT" with HOST an IPv4 address or a bracketed IPv6 one: civetweb binds to what it
// is given, and a name it cannot resolve would be read as another option.
bool IsListenAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  const std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  if (host.front() == '[') {
    if (host.back() != ']') return false;
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return false;
      }
    }
    return true;
  }
  for (char c : host) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  return true;
}

}  // namespace

absl::Status CheckMetricsAddress(std::string_view metrics_listen, std::string_view grpc_listen) {
  if (metrics_listen.empty()) return absl::OkStatus();
  if (!IsListenAddress(std::string(metrics_listen))) {
    return absl::InvalidArgumentError(
        fmt::format("--metrics-listen '{}' is not ADDRESS:PORT (an IPv4 address, or an IPv6 one in "
                    "brackets)",
                    LogSafe(metrics_listen)));
  }
  // As numbers: 07444 is port 7444.
  auto port = [](std::string_view listen) {
    int value = -1;
    const std::string_view digits = listen.substr(listen.rfind(':') + 1);
    if (!absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &value)) return -1;
    return value;
  };
  if (port(metrics_listen) == 0 || port(metrics_listen) != port(grpc_listen)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(fmt::format(
      "--metrics-listen {} uses the port of the gRPC service (--listen {}); give the metrics "
      "endpoint a port of its own",
      LogSafe(metrics_listen), LogSafe(grpc_listen)));
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const MetricsRegistry* registry) {
  if (!IsListenAddress(listen)) {
    return absl::InvalidArgumentError(
        fmt::format("metrics address '{}' is not ADDRESS:PORT (an IPv4 address, or an IPv6 one in "
                    "brackets)",
                    LogSafe(listen)));
  }
  static const unsigned initialised = mg_init_library(0);
  (void)initialised;
  std::unique_ptr<MetricsServer> server(new MetricsServer(registry));
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = LogCivetweb;
  // No document_root: civetweb serves no files, only the handler below.
  const char* options[] = {
      "listening_ports", listen.c_str(),      "num_threads", "2",    "request_timeout_ms",
      "10000",           "enable_keep_alive", "no",          nullptr};
  server->context_ = mg_start(&callbacks, nullptr, options);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        fmt::format("cannot serve metrics on {} (address in use, or not this host's?)", listen));
  }
  mg_set_request_handler(server->context_, "/metrics$", &MetricsServer::HandleMetrics,
                         server.get());
  mg_server_port ports[1];
  std::memset(ports, 0, sizeof(ports));
  if (mg_get_server_ports(server->context_, 1, ports) >= 1) server->port_ = ports[0].port;
  return server;
}

MetricsServer::~MetricsServer() {
  if (context_ != nullptr) mg_stop(context_);
}

int MetricsServer::HandleMetrics(mg_connection* connection, void* self) {
  const mg_request_info* request = mg_get_request_info(connection);
  const bool head = std::strcmp(request->request_method, "HEAD") == 0;
  if (!head && std::strcmp(request->request_method, "GET") != 0) {
    mg_send_http_error(connection, 405, "only GET /metrics");
    return 405;
  }
  const std::string text = static_cast<MetricsServer*>(self)->registry_->RenderText();
  mg_send_http_ok(connection, kContentType, static_cast<long long>(text.size()));
  if (!head) mg_write(connection, text.data(), text.size());
  return 200;
}

}  // namespace koppel

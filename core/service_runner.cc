#include "core/service_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace koppel {

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

absl::Status ServeUntilStopped(grpc::Service* service,
                               std::shared_ptr<grpc::ServerCredentials> credentials,
                               const ServiceOptions& options, const sigset_t& stop_signals) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen on {} (address in use, or not an address:port?)", options.listen));
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  spdlog::info("{} listening on {}:{}", options.name, host, port);
  if (!options.port_file.empty()) {
    std::ofstream(options.port_file + ".tmp") << port << "\n";
    std::filesystem::rename(options.port_file + ".tmp", options.port_file);
  }
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("{} stopping (signal {})", options.name, signal);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  });
  server->Wait();
  waiter.join();
  return absl::OkStatus();
}

}  // namespace koppel

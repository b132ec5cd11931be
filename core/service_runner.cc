#include "core/service_runner.h"

#include <fmt/format.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/escaping.h"
#include "core/listener_watchdog.h"
#include "core/log_safe.h"

namespace koppel {
namespace {

// How often the listener is checked, and after how many checks with connections left waiting
// it counts as stalled.
constexpr auto kWatchdogPeriod = std::chrono::seconds(1);
constexpr int kStalledChecks = 3;

// Admits or refuses a call from its peer's certificate and its method, before gRPC reads any
// of the call's messages.
class Admission : public grpc::AuthMetadataProcessor {
 public:
  Admission(std::string service, AdmissionCheck check)
      : service_(std::move(service)), check_(std::move(check)) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata*, OutputMetadata*) override {
    std::string peer;
    if (context != nullptr) {
      std::vector<grpc::string_ref> names = context->FindPropertyValues("x509_common_name");
      if (!names.empty()) peer.assign(names.front().data(), names.front().size());
    }
    std::string method;
    if (auto it = metadata.find(":path"); it != metadata.end()) {
      method.assign(it->second.data(), it->second.size());
    }
    const absl::Status admitted = check_(peer, method);
    if (admitted.ok()) return grpc::Status::OK;
    LogRefusal(peer, admitted);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(admitted.message()));
  }

 private:
  // At most one line a second, however many calls are refused.
  void LogRefusal(const std::string& peer, const absl::Status& why) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    const uint64_t refused = ++refused_;
    if (last_log_.exchange(now) == now) return;
    spdlog::warn("{}: refused a call from '{}' before reading it: {} ({} refused so far)",
                 service_, LogSafe(peer), LogSafe(why), refused);
  }

  std::string service_;
  AdmissionCheck check_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<int64_t> last_log_{0};
};

std::unique_ptr<grpc::Server> Start(grpc::Service* service,
                                    const std::shared_ptr<grpc::ServerCredentials>& credentials,
                                    const ServiceOptions& options, const std::string& address,
                                    grpc::ResourceQuota& quota, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, credentials, port);
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(options.handshake_timeout.count()));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(options.idle_timeout.count()));
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

}  // namespace

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
  if (options.admit) {
    credentials->SetAuthMetadataProcessor(
        std::make_shared<Admission>(options.name, options.admit));
  }
  grpc::ResourceQuota quota(options.name);
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));

  int port = 0;
  std::unique_ptr<grpc::Server> server =
      Start(service, credentials, options, options.listen, quota, &port);
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

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool restart = false;
  grpc::Server* current = server.get();
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("{} stopping (signal {})", options.name, signal);
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
    wake.notify_all();
    if (current != nullptr) {
      current->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
    }
  });
  std::thread watchdog([&] {
    ListenerWatchdog listener(port, kStalledChecks);
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, kWatchdogPeriod);
      if (stopping || restart || current == nullptr) continue;
      lock.unlock();
      const bool stalled = listener.Check();
      lock.lock();
      if (!stalled || stopping || current == nullptr) continue;
      spdlog::error("{}: the listener on port {} stopped accepting connections ({} waiting; "
                    "gRPC gives a listener up when descriptors run out); replacing it",
                    options.name, port, listener.waiting());
      restart = true;
      current->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
  });

  absl::Status outcome;
  for (;;) {
    server->Wait();
    std::unique_lock<std::mutex> lock(mutex);
    current = nullptr;
    if (stopping || !restart) break;
    lock.unlock();
    server.reset();
    // A new listener needs a descriptor; wait until the flood has gone.
    while (!DescriptorAvailable()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int again = 0;
    server = Start(service, credentials, options, fmt::format("{}:{}", host, port), quota, &again);
    lock.lock();
    restart = false;
    if (!server || again != port) {
      outcome = absl::UnavailableError(fmt::format(
          "{}: cannot listen on {}:{} again after its listener stalled; restart the service",
          options.name, host, port));
      stopping = true;
      wake.notify_all();
      break;
    }
    spdlog::info("{} listening on {}:{} again", options.name, host, port);
    current = server.get();
    if (stopping) current->Shutdown(std::chrono::system_clock::now());
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
    wake.notify_all();
  }
  watchdog.join();
  if (!outcome.ok()) {
    // The waiter still blocks in sigwait; the process ends with the error anyway.
    waiter.detach();
    return outcome;
  }
  waiter.join();
  return absl::OkStatus();
}

}  // namespace koppel

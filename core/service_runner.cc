#include "core/service_runner.h"

#include <fmt/format.h>
#include <grpc/support/log.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
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

  // The check may write an audit entry (a synced write): not on gRPC's own threads.
  bool IsBlocking() const override { return true; }

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

// gRPC logs "Failed accept4: Too many open files" when it gives a listener up: the one sign
// that tells a dead listener from a busy one. Every gRPC line still goes to the service log.
std::atomic<bool> g_accept_failed{false};

void WatchGrpcLog(gpr_log_func_args* args) {
  const char* message = args->message != nullptr ? args->message : "";
  if (std::strstr(message, "Failed accept4") != nullptr) g_accept_failed.store(true);
  spdlog::log(args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::err
              : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::info
                                                        : spdlog::level::debug,
              "grpc {}:{}: {}", args->file != nullptr ? args->file : "?", args->line,
              absl::CHexEscape(message));
}

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
  gpr_set_log_function(WatchGrpcLog);
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
    if (options.on_stop) options.on_stop();
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
      if (stopping || restart || current == nullptr) {
        listener = ListenerWatchdog(port, kStalledChecks);  // a new listener starts afresh
        continue;
      }
      lock.unlock();
      const bool stalled = listener.Check();
      lock.lock();
      // A queue that does not drain is a dead listener only when accept() ran out of
      // descriptors; otherwise the service is merely busy (a handshake flood, a slow CPU).
      if (!stalled || !g_accept_failed.load() || stopping || current == nullptr) continue;
      g_accept_failed.store(false);
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
    // A new listener needs a descriptor; wait until the flood has gone (or a stop).
    while (!DescriptorAvailable()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::lock_guard<std::mutex> stop_check(mutex);
      if (stopping) break;
    }
    {
      std::lock_guard<std::mutex> stop_check(mutex);
      if (stopping) {
        restart = false;
        break;
      }
    }
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
    // The waiter still blocks in sigwait: hand it the stop signal it waits for.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  return outcome;
}

}  // namespace koppel

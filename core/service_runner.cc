#include "core/service_runner.h"

#include <fmt/format.h>
#include <grpc/support/log.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/listener_watchdog.h"
#include "core/log_safe.h"

namespace koppel {
namespace {

// How often the listener is checked, and after how many checks with connections left waiting
// it counts as stalled.
constexpr auto kWatchdogPeriod = std::chrono::seconds(1);
constexpr int kStalledChecks = 3;

// The methods of the standard health service, which every caller of the CA may call.
constexpr std::string_view kHealthMethods = "/grpc.health.v1.Health/";

// Admits or refuses a call from its peer's certificate and its method, before gRPC reads any
// of the call's messages.
class Admission : public grpc::AuthMetadataProcessor {
 public:
  Admission(std::string service, AdmissionCheck check)
      : service_(std::move(service)), check_(std::move(check)) {}

  // The check may write an audit entry (a synced write): not on gRPC's own threads.
  bool IsBlocking() const override { return true; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    std::string peer;
    if (context != nullptr) {
      std::vector<grpc::string_ref> names = context->FindPropertyValues("x509_common_name");
      if (!names.empty()) peer.assign(names.front().data(), names.front().size());
    }
    std::string method;
    if (auto it = metadata.find(":path"); it != metadata.end()) {
      method.assign(it->second.data(), it->second.size());
    }
    if (method.starts_with(kHealthMethods)) return grpc::Status::OK;
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
    spdlog::warn("{}: refused a call from '{}' before reading it: {} ({} refused so far)", service_,
                 LogSafe(peer), LogSafe(why), refused);
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

// What the signal waiter, the listener watchdog and the serving loop share.
struct Serving {
  absl::Mutex mutex;
  absl::CondVar wake;  // to the watchdog: stopping
  bool stopping ABSL_GUARDED_BY(mutex) = false;
  bool restart ABSL_GUARDED_BY(mutex) = false;  // the watchdog shut a stalled listener down
  // The listener serving now; null between listeners.
  grpc::Server* current ABSL_GUARDED_BY(mutex) = nullptr;
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
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server != nullptr && server->GetHealthCheckService() != nullptr) {
    server->GetHealthCheckService()->SetServingStatus(true);
    if (!options.grpc_service.empty()) {
      server->GetHealthCheckService()->SetServingStatus(options.grpc_service, true);
    }
  }
  return server;
}

}  // namespace

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // SIGHUP's default action would end the service, and systemd counts that a clean exit (no
  // restart). It reloads nothing yet: the waiter logs and ignores it.
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

absl::Status ServeUntilStopped(grpc::Service* service,
                               std::shared_ptr<grpc::ServerCredentials> credentials,
                               const ServiceOptions& options, const sigset_t& stop_signals) {
  if (options.admit) {
    credentials->SetAuthMetadataProcessor(std::make_shared<Admission>(options.name, options.admit));
  }
  gpr_set_log_function(WatchGrpcLog);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ResourceQuota quota(options.name);
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));

  int port = 0;
  std::unique_ptr<grpc::Server> server =
      Start(service, credentials, options, options.listen, quota, &port);
  if (!server || port == 0) {
    return absl::UnavailableError(fmt::format(
        "cannot listen on {} (address in use, or not an address:port?)", options.listen));
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  spdlog::info("{} listening on {}:{}", options.name, host, port);
  if (!options.port_file.empty()) {
    std::ofstream(options.port_file + ".tmp") << port << "\n";
    std::filesystem::rename(options.port_file + ".tmp", options.port_file);
  }

  Serving serving;
  {
    absl::MutexLock lock(&serving.mutex);
    serving.current = server.get();
  }
  std::thread waiter([&] {
    int signal = 0;
    while (sigwait(&stop_signals, &signal) == 0 && signal == SIGHUP) {
      spdlog::warn("{} ignores SIGHUP: it reloads nothing; restart it to read new certificates",
                   options.name);
    }
    spdlog::info("{} stopping (signal {})", options.name, signal);
    if (options.on_stop) options.on_stop();
    absl::MutexLock lock(&serving.mutex);
    serving.stopping = true;
    serving.wake.SignalAll();
    if (serving.current != nullptr) {
      // Health watchers and load balancers see the stop before the listener goes.
      if (serving.current->GetHealthCheckService() != nullptr) {
        serving.current->GetHealthCheckService()->SetServingStatus(false);
      }
      serving.current->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
    }
  });
  std::thread watchdog([&] {
    ListenerWatchdog listener(port, kStalledChecks);
    absl::MutexLock lock(&serving.mutex);
    while (!serving.stopping) {
      serving.wake.WaitWithTimeout(&serving.mutex, absl::FromChrono(kWatchdogPeriod));
      if (serving.stopping || serving.restart || serving.current == nullptr) {
        listener = ListenerWatchdog(port, kStalledChecks);  // a new listener starts afresh
        continue;
      }
      serving.mutex.Unlock();
      const bool stalled = listener.Check();
      serving.mutex.Lock();
      // A queue that does not drain is a dead listener only when accept() ran out of
      // descriptors; otherwise the service is merely busy (a handshake flood, a slow CPU).
      if (!stalled || !g_accept_failed.load() || serving.stopping || serving.current == nullptr) {
        continue;
      }
      g_accept_failed.store(false);
      spdlog::error(
          "{}: the listener on port {} stopped accepting connections ({} waiting; "
          "gRPC gives a listener up when descriptors run out); replacing it",
          options.name, port, listener.waiting());
      serving.restart = true;
      serving.current->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
  });

  absl::Status outcome;
  for (;;) {
    server->Wait();
    {
      absl::MutexLock lock(&serving.mutex);
      serving.current = nullptr;
      if (serving.stopping || !serving.restart) break;
    }
    server.reset();
    // A new listener needs a descriptor; wait until the flood has gone (or a stop).
    while (!DescriptorAvailable()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      absl::MutexLock stop_check(&serving.mutex);
      if (serving.stopping) break;
    }
    {
      absl::MutexLock stop_check(&serving.mutex);
      if (serving.stopping) {
        serving.restart = false;
        break;
      }
    }
    int again = 0;
    server = Start(service, credentials, options, fmt::format("{}:{}", host, port), quota, &again);
    absl::MutexLock lock(&serving.mutex);
    serving.restart = false;
    if (!server || again != port) {
      outcome = absl::UnavailableError(fmt::format(
          "{}: cannot listen on {}:{} again after its listener stalled; restart the service",
          options.name, host, port));
      serving.stopping = true;
      serving.wake.SignalAll();
      break;
    }
    spdlog::info("{} listening on {}:{} again", options.name, host, port);
    serving.current = server.get();
    if (serving.stopping) serving.current->Shutdown(std::chrono::system_clock::now());
  }
  {
    absl::MutexLock lock(&serving.mutex);
    serving.stopping = true;
    serving.wake.SignalAll();
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

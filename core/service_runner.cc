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

// The calls in flight on a listener that stalled and is replaced get this long to finish.
constexpr auto kReplacedGrace = std::chrono::seconds(5);

// The calls in flight get this long to finish at a stop, and on the old listener at a reload
// (`systemctl reload` cuts no delivery shorter than a stop would).
constexpr auto kStopGrace = std::chrono::seconds(10);

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
  bool reload ABSL_GUARDED_BY(mutex) = false;   // SIGHUP came
  // A reload runs: two listeners may share the port, which the watchdog does not check.
  bool replacing ABSL_GUARDED_BY(mutex) = false;
  // The listener serving now; null between listeners.
  grpc::Server* current ABSL_GUARDED_BY(mutex) = nullptr;

  // What the serving loop waits for.
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    return stopping || restart || reload;
  }
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

// After the watchdog shut a stalled listener down: a new one on the same address once a
// descriptor is free again (none when a stop came meanwhile). An error when it cannot listen.
absl::Status Restart(grpc::Service* service,
                     const std::shared_ptr<grpc::ServerCredentials>& credentials,
                     const ServiceOptions& options, const std::string& address, int port,
                     grpc::ResourceQuota& quota, Serving& serving,
                     std::unique_ptr<grpc::Server>& server) {
  // A new listener needs a descriptor; wait until the flood has gone (or a stop).
  while (!DescriptorAvailable()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    absl::MutexLock stop_check(&serving.mutex);
    if (serving.stopping) break;
  }
  {
    absl::MutexLock stop_check(&serving.mutex);
    serving.restart = false;
    if (serving.stopping) return absl::OkStatus();
  }
  int again = 0;
  server = Start(service, credentials, options, address, quota, &again);
  absl::MutexLock lock(&serving.mutex);
  if (!server || again != port) {
    server.reset();
    serving.stopping = true;
    serving.wake.SignalAll();
    return absl::UnavailableError(
        fmt::format("{}: cannot listen on {} again after its listener stalled; restart the service",
                    options.name, address));
  }
  spdlog::info("{} listening on {} again", options.name, address);
  serving.current = server.get();
  if (serving.stopping) serving.current->Shutdown(std::chrono::system_clock::now());
  return absl::OkStatus();
}

// SIGHUP: a second listener on the port (gRPC sets SO_REUSEPORT) with the credentials
// `options.reload_credentials` gives, then the old listener stops, its calls in flight given
// kStopGrace. OK once only the new listener accepts (`credentials` are then the new ones);
// CANCELLED when a stop came meanwhile; otherwise why the current listener stays.
absl::Status Reload(grpc::Service* service, const ServiceOptions& options,
                    const std::string& address, grpc::ResourceQuota& quota,
                    const std::shared_ptr<Admission>& admission, Serving& serving,
                    std::unique_ptr<grpc::Server>& server,
                    std::shared_ptr<grpc::ServerCredentials>& credentials) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> renewed = options.reload_credentials();
  if (!renewed.ok()) return renewed.status();
  if (admission) (*renewed)->SetAuthMetadataProcessor(admission);
  int again = 0;
  std::unique_ptr<grpc::Server> next = Start(service, *renewed, options, address, quota, &again);
  if (!next || again == 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen on {} a second time with the new certificates", address));
  }
  bool stopping = false;
  {
    absl::MutexLock lock(&serving.mutex);
    stopping = serving.stopping;  // then the waiter has shut the current listener down
    if (!stopping) serving.current = next.get();
  }
  if (stopping) {
    next->Shutdown(std::chrono::system_clock::now());
    return absl::CancelledError("stopping");
  }
  server->Shutdown(std::chrono::system_clock::now() + kStopGrace);
  server->Wait();
  server = std::move(next);
  credentials = *std::move(renewed);  // what a listener replaced after a stall starts with
  return absl::OkStatus();
}

}  // namespace

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // SIGHUP's default action would end the service, and systemd counts that a clean exit (no
  // restart); the waiter takes it as a reload.
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

absl::Status ServeUntilStopped(grpc::Service* service,
                               std::shared_ptr<grpc::ServerCredentials> credentials,
                               const ServiceOptions& options, const sigset_t& stop_signals) {
  std::shared_ptr<Admission> admission;
  if (options.admit) {
    admission = std::make_shared<Admission>(options.name, options.admit);
    credentials->SetAuthMetadataProcessor(admission);
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
  const std::string address = fmt::format("{}:{}", host, port);
  spdlog::info("{} listening on {}", options.name, address);
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
      if (!options.reload_credentials) {
        spdlog::warn("{} ignores SIGHUP: it reloads nothing", options.name);
        continue;
      }
      spdlog::info("{}: SIGHUP: reading its certificates again", options.name);
      absl::MutexLock lock(&serving.mutex);
      serving.reload = true;
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
      serving.current->Shutdown(std::chrono::system_clock::now() + kStopGrace);
    }
  });
  std::thread watchdog([&] {
    ListenerWatchdog listener(port, kStalledChecks);
    absl::MutexLock lock(&serving.mutex);
    while (!serving.stopping) {
      serving.wake.WaitWithTimeout(&serving.mutex, absl::FromChrono(kWatchdogPeriod));
      if (serving.stopping || serving.restart || serving.replacing || serving.current == nullptr) {
        listener = ListenerWatchdog(port, kStalledChecks);  // a new listener starts afresh
        continue;
      }
      serving.mutex.Unlock();
      const bool stalled = listener.Check();
      serving.mutex.Lock();
      // A queue that does not drain is a dead listener only when accept() ran out of
      // descriptors; otherwise the service is merely busy (a handshake flood, a slow CPU).
      if (!stalled || !g_accept_failed.load() || serving.stopping || serving.replacing ||
          serving.current == nullptr) {
        continue;
      }
      g_accept_failed.store(false);
      spdlog::error(
          "{}: the listener on port {} stopped accepting connections ({} waiting; "
          "gRPC gives a listener up when descriptors run out); replacing it",
          options.name, port, listener.waiting());
      serving.restart = true;
      serving.current->Shutdown(std::chrono::system_clock::now() + kReplacedGrace);
    }
  });

  absl::Status outcome;
  for (;;) {
    serving.mutex.LockWhen(absl::Condition(&serving, &Serving::HasWork));
    if (serving.stopping) {
      serving.mutex.Unlock();
      break;
    }
    if (serving.restart) {
      // The watchdog has shut the listener down.
      serving.current = nullptr;
      serving.mutex.Unlock();
      server->Wait();
      server.reset();
      outcome = Restart(service, credentials, options, address, port, quota, serving, server);
      if (!outcome.ok()) break;
      continue;
    }
    serving.reload = false;
    serving.replacing = true;
    serving.mutex.Unlock();
    absl::Status reloaded =
        Reload(service, options, address, quota, admission, serving, server, credentials);
    {
      absl::MutexLock lock(&serving.mutex);
      serving.replacing = false;
    }
    if (absl::IsCancelled(reloaded)) continue;  // stopping
    if (!reloaded.ok() && !options.on_reload) {
      spdlog::error("{}: keeps its current certificates: {}", options.name, LogSafe(reloaded));
    }
    if (options.on_reload) options.on_reload(reloaded);
  }
  {
    absl::MutexLock lock(&serving.mutex);
    serving.stopping = true;
    serving.wake.SignalAll();
  }
  if (server != nullptr) server->Wait();  // the waiter has shut it down
  watchdog.join();
  if (!outcome.ok()) {
    // The waiter still blocks in sigwait: hand it the stop signal it waits for.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  return outcome;
}

}  // namespace koppel

#include "core/process_hardening.h"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace koppel {

void DisableCoreDumps() {
  struct rlimit none = {0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void MakeCreatedFilesPrivate() { ::umask(077); }

uint64_t RaiseDescriptorLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

absl::StatusOr<std::optional<Secret>> TakeSecretFromEnvironment(const char* name) {
  char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  const size_t size = std::strlen(value);
  absl::StatusOr<Secret> secret =
      Secret::FromBytes({reinterpret_cast<const uint8_t*>(value), size});
  // The environment block the kernel shows in /proc/PID/environ is the one given at exec;
  // getenv points into it, so wiping there wipes what the kernel shows.
  sodium_memzero(value, size);
  ::unsetenv(name);
  if (!secret.ok()) return secret.status();
  return std::optional<Secret>(std::move(*secret));
}

void HardenServiceProcess(const std::string& service_name) {
  DisableCoreDumps();
  MakeCreatedFilesPrivate();
  const uint64_t descriptors = RaiseDescriptorLimit();
  spdlog::info("{}: core dumps off, files private to the service user, {} descriptors",
               service_name, descriptors);
}

}  // namespace koppel

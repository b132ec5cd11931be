// Process-wide protections that every koppel program holding identifiers, tokens or keys applies
// first thing in main, before it reads anything: no core dumps (its memory holds them), files it
// creates readable by its own user only, and, for services, every descriptor the hard limit
// allows (a burst of connections must not exhaust them).
#ifndef KOPPEL_CORE_PROCESS_HARDENING_H_
#define KOPPEL_CORE_PROCESS_HARDENING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

// Sets RLIMIT_CORE to 0 and marks the process non-dumpable (which also makes its /proc files,
// environ and mem among them, unreadable to other processes of the same user).
void DisableCoreDumps();

// umask 077: databases, logs and outboxes created from now on are private to the service user.
void MakeCreatedFilesPrivate();

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
uint64_t RaiseDescriptorLimit();

// The value of environment variable `name` moved into locked memory, or nullopt when it is not
// set. The variable is removed from the environment and its bytes in the process's original
// environment block are overwritten, so /proc/PID/environ no longer shows it.
absl::StatusOr<std::optional<Secret>> TakeSecretFromEnvironment(const char* name);

// DisableCoreDumps, MakeCreatedFilesPrivate and RaiseDescriptorLimit, for a service's main.
void HardenServiceProcess(const std::string& service_name);

}  // namespace koppel

#endif  // KOPPEL_CORE_PROCESS_HARDENING_H_

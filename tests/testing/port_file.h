// The port a koppel service announces through `--port-file`: tests start koppel-linker and
// koppel-vault on port 0 and wait here for the port the service chose.
#ifndef KOPPEL_TESTS_TESTING_PORT_FILE_H_
#define KOPPEL_TESTS_TESTING_PORT_FILE_H_

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"

namespace koppel::test {

// How long a service may take to announce its port; generous, because a loaded CI machine
// starts processes slowly, and a service that fails to start is noticed at once anyway.
inline constexpr int kPortFileTimeoutSeconds = 60;

// Waits until `port_file` names a port and returns "127.0.0.1:PORT". Fails as soon as `service`
// exits (it will never write the file), or when no port came within kPortFileTimeoutSeconds.
// The caller removes a stale `port_file` before it starts the service.
absl::StatusOr<std::string> WaitForPortFile(const std::filesystem::path& port_file,
                                            BackgroundProcess& service);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_PORT_FILE_H_

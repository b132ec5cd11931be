#include "tests/testing/port_file.h"

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace koppel::test {
namespace {

// The port in `port_file`, or 0 while it is missing. Services write it atomically (rename).
int ReadPort(const std::filesystem::path& port_file) {
  std::ifstream in(port_file);
  int port = 0;
  return in >> port && port > 0 && port < 65536 ? port : 0;
}

}  // namespace

absl::StatusOr<std::string> WaitForPortFile(const std::filesystem::path& port_file,
                                            BackgroundProcess& service) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(kPortFileTimeoutSeconds);
  while (true) {
    // Asked before the file is read: a service that wrote its port and then exited still counts.
    const bool exited = service.HasExited();
    if (const int port = ReadPort(port_file); port > 0) return absl::StrCat("127.0.0.1:", port);
    if (exited) {
      return absl::UnavailableError(absl::StrCat("the service exited with ", service.Wait(),
                                                 " before it wrote ", port_file.string()));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("no port in ", port_file.string(), " after ",
                                                      kPortFileTimeoutSeconds, " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace koppel::test

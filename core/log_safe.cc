#include "core/log_safe.h"

#include <fmt/format.h>

#include <algorithm>

#include "absl/strings/escaping.h"

namespace koppel {

std::string LogSafe(std::string_view untrusted) {
  const size_t kept = std::min(untrusted.size(), kLogSafeMaxBytes);
  std::string escaped = absl::CHexEscape(absl::string_view(untrusted.data(), kept));
  if (kept == untrusted.size()) return escaped;
  return fmt::format("{}... ({} bytes)", escaped, untrusted.size());
}

std::string LogSafe(const absl::Status& status) {
  return LogSafe(std::string_view(status.message().data(), status.message().size()));
}

}  // namespace koppel

// Service log lines as JSON, one object a line ({"time", "level", "message"}), for log
// collectors that parse structure instead of text: `--log-format json` on the services. The
// message is escaped as JSON (quotes, newlines, control bytes; bytes that are not UTF-8 become
// U+FFFD), so that no message can end its line or break the object.
#ifndef KOPPEL_CORE_JSON_LOG_H_
#define KOPPEL_CORE_JSON_LOG_H_

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace koppel {

// Formats spdlog messages as one JSON object each, ended by '\n'. Time in UTC, ISO 8601 with
// milliseconds.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// "text" (spdlog's default lines) or "json" (JsonLogFormatter) for every logger from now on;
// INVALID_ARGUMENT for anything else.
absl::Status SetLogFormat(std::string_view format);

}  // namespace koppel

#endif  // KOPPEL_CORE_JSON_LOG_H_

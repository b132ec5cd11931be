#include "core/json_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

namespace koppel {

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
  const auto since_epoch = message.time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const spdlog::string_view_t level = spdlog::level::to_string_view(message.level);
  nlohmann::json line = {
      {"time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                           fmt::gmtime(static_cast<std::time_t>(seconds.count())), millis)},
      {"level", std::string(level.data(), level.size())},
      {"message", std::string(message.payload.data(), message.payload.size())},
  };
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.append(text.data(), text.data() + text.size());
  out.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

absl::Status SetLogFormat(std::string_view format) {
  if (format == "text") {
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>());
    return absl::OkStatus();
  }
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      fmt::format("log format '{}' is neither text nor json", std::string(format)));
}

}  // namespace koppel

// JSON log lines: whatever a message holds, it stays one line holding one valid JSON object.
#include "core/json_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace koppel {
namespace {

std::string LogOne(const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger logger("json-test", sink);
  logger.set_formatter(std::make_unique<JsonLogFormatter>());
  logger.warn("refused batch {}: {}", message, "done");
  return out.str();
}

TEST(JsonLogTest, ACraftedMessageStaysOneValidJsonLine) {
  const std::string crafted =
      "a \"quoted\" \\ value\nsecond line\r\n{\"level\":\"info\"}\x1b[31m\ttab";
  const std::string line = LogOne(crafted);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "warning");
  EXPECT_EQ(parsed["message"], "refused batch " + crafted + ": done");
  EXPECT_EQ(parsed.size(), 3u);
  const std::string time = parsed["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-12-07T02:00:01.123Z
  EXPECT_EQ(time.back(), 'Z');
}

TEST(JsonLogTest, BytesThatAreNotUtf8DoNotBreakTheLine) {
  const std::string line = LogOne(std::string("\xff\xfe\xc3 end"));
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_NE(parsed["message"].get<std::string>().find("end"), std::string::npos);
}

TEST(JsonLogTest, OnlyTextAndJsonAreFormats) {
  EXPECT_EQ(SetLogFormat("xml").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SetLogFormat("json").ok());
  EXPECT_TRUE(SetLogFormat("text").ok());
}

}  // namespace
}  // namespace koppel

#include "agents/key_rotation_notice.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/file_contents.h"
#include "core/proto_time.h"

namespace koppel::agent {
namespace {

std::string Day(const google::protobuf::Timestamp& time) { return IsoTime(time).substr(0, 10); }

}  // namespace

std::optional<std::string> KeyRotationNotice(std::string_view covenant_id,
                                             const v1::KeyEpochSchedule& schedule,
                                             std::optional<uint32_t> older_epoch_sealed) {
  // A holder that never sealed under an older epoch, or already sealed again, has nothing to
  // re-deliver.
  if (schedule.key_epoch() <= 1 || !older_epoch_sealed.has_value()) return std::nullopt;
  const bool in_grace = schedule.has_previous_epoch_grace_end_time();
  const uint32_t older = *older_epoch_sealed;
  const std::string by =
      in_grace ? fmt::format("by {} (grace)", Day(schedule.previous_epoch_grace_end_time()))
               : "now (its grace is over)";
  return fmt::format(
      "covenant {} started key epoch {} on {}; records sealed under epoch {} no longer join with "
      "new deliveries: re-deliver the full export {}",
      covenant_id, schedule.key_epoch(), Day(schedule.epoch_start_time()), older, by);
}

std::optional<uint32_t> OlderEpochSealed(const std::filesystem::path& outbox,
                                         std::string_view dataset, std::string_view covenant_id,
                                         uint32_t current_epoch) {
  std::optional<uint32_t> newest;
  bool sealed_again = false;
  std::error_code ec;
  std::filesystem::directory_iterator it(outbox / "runs", ec);
  // Never throws: a manifest this cannot read is skipped (the notice is best effort).
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::path path = it->path();
    if (path.extension() != ".json") continue;
    absl::StatusOr<std::string> text = ReadFileContents(path, "run manifest");
    if (!text.ok()) continue;
    const nlohmann::json m = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object()) continue;
    const auto run_dataset = m.find("dataset");
    const auto run_covenant = m.find("covenant_id");
    const auto epoch = m.find("key_epoch");
    if (run_dataset == m.end() || !run_dataset->is_string() || run_covenant == m.end() ||
        !run_covenant->is_string() || epoch == m.end() || !epoch->is_number_unsigned()) {
      continue;
    }
    if (run_dataset->get_ref<const std::string&>() != dataset ||
        run_covenant->get_ref<const std::string&>() != covenant_id) {
      continue;
    }
    const uint64_t e = epoch->get<uint64_t>();
    if (e >= current_epoch) {
      sealed_again = true;
    } else if (!newest || e > *newest) {
      newest = static_cast<uint32_t>(e);
    }
  }
  if (sealed_again) return std::nullopt;
  return newest;
}

}  // namespace koppel::agent

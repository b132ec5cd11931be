#include "core/reject_reason.h"

namespace koppel {

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
#define KOPPEL_REASON_NAME_(id, name, text) \
  case RejectReason::id:                    \
    return name;
    KOPPEL_REJECT_REASONS(KOPPEL_REASON_NAME_)
#undef KOPPEL_REASON_NAME_
  }
  return "unknown";
}

std::string_view RejectReasonText(RejectReason reason) {
  switch (reason) {
#define KOPPEL_REASON_TEXT_(id, name, text) \
  case RejectReason::id:                    \
    return text;
    KOPPEL_REJECT_REASONS(KOPPEL_REASON_TEXT_)
#undef KOPPEL_REASON_TEXT_
  }
  return "unknown";
}

std::optional<RejectReason> RejectReasonFromName(std::string_view name) {
  for (RejectReason r : kAllRejectReasons) {
    if (RejectReasonName(r) == name) return r;
  }
  return std::nullopt;
}

}  // namespace koppel

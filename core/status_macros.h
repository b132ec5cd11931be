// Early-return helpers for absl::Status and absl::StatusOr, in the style RocksDB and Abseil
// users write by hand: every module boundary returns a Status instead of throwing.
#ifndef KOPPEL_CORE_STATUS_MACROS_H_
#define KOPPEL_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KOPPEL_CONCAT_INNER_(a, b) a##b
#define KOPPEL_CONCAT_(a, b) KOPPEL_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status _koppel_status = (expr);          \
    if (!_koppel_status.ok()) return _koppel_status; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(KOPPEL_CONCAT_(_koppel_statusor_, __LINE__), lhs, expr)

#endif  // KOPPEL_CORE_STATUS_MACROS_H_

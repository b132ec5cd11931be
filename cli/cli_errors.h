// How every `koppel` command reports a failure: "koppel: error: <what>" on stderr, then an
// optional line saying what to do, and the command's exit code.
#ifndef KOPPEL_CLI_CLI_ERRORS_H_
#define KOPPEL_CLI_CLI_ERRORS_H_

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace koppel {

inline int Fail(int code, const std::string& message, std::string_view hint = {}) {
  fmt::print(stderr, "koppel: error: {}\n", message);
  if (!hint.empty()) fmt::print(stderr, "koppel: {}\n", hint);
  return code;
}

inline int Fail(int code, const absl::Status& status, std::string_view hint = {}) {
  return Fail(code, std::string(status.message()), hint);
}

}  // namespace koppel

#endif  // KOPPEL_CLI_CLI_ERRORS_H_

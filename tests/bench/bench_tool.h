// What the standalone benchmark programs share: stopping with a message (and removing their
// scratch directory), checking a status, and writing numbers the way the README does.
#ifndef KOPPEL_TESTS_BENCH_BENCH_TOOL_H_
#define KOPPEL_TESTS_BENCH_BENCH_TOOL_H_

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/statusor.h"

namespace koppel::bench {

struct Program {
  std::string name = "bench";
  std::filesystem::path remove_on_exit;  // a scratch directory, removed when the program dies
};

inline Program& ThisProgram() {
  static Program program;
  return program;
}

[[noreturn]] inline void Die(const std::string& what) {
  std::fflush(stdout);
  fmt::print(stderr, "{}: error: {}\n", ThisProgram().name, what);
  if (!ThisProgram().remove_on_exit.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(ThisProgram().remove_on_exit, ec);
  }
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> value, const std::string& what) {
  if (!value.ok()) Die(fmt::format("{}: {}", what, value.status().ToString()));
  return *std::move(value);
}

inline void Check(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Die(fmt::format("{}: {}", what, status.ToString()));
}

// Thousands separated with commas, as the README writes numbers.
inline std::string Grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace koppel::bench

#endif  // KOPPEL_TESTS_BENCH_BENCH_TOOL_H_

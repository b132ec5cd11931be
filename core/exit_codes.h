// The exit codes of a program and what each means. A program keeps one table of them; its code
// exits with the table's codes and each command's --help ends with the "Exit codes:" footer of
// the codes that command can return (tests/integration/cli_help_test.cc checks docs/ against
// these footers).
#ifndef KOPPEL_CORE_EXIT_CODES_H_
#define KOPPEL_CORE_EXIT_CODES_H_

#include <fmt/format.h>

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace koppel {

struct ExitCodeMeaning {
  int code;
  std::string_view meaning;  // one line
};

// "Exit codes:" followed by "  CODE  MEANING" for each of `codes` (in that order), the meaning
// taken from `table`; an optional `note` comes first. A code missing from the table is listed
// without a meaning, which the docs can never match.
inline std::string ExitCodesFooter(std::span<const ExitCodeMeaning> table,
                                   std::initializer_list<int> codes, std::string_view note = {}) {
  std::string footer;
  if (!note.empty()) footer = fmt::format("{}\n", note);
  footer += "Exit codes:";
  for (int code : codes) {
    std::string_view meaning;
    for (const ExitCodeMeaning& entry : table) {
      if (entry.code == code) meaning = entry.meaning;
    }
    footer += fmt::format("\n  {}  {}", code, meaning);
  }
  return footer;
}

}  // namespace koppel

#endif  // KOPPEL_CORE_EXIT_CODES_H_

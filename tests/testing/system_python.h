// The python3 the tests run their helper scripts with (tests/tools/).
#ifndef KOPPEL_TESTS_TESTING_SYSTEM_PYTHON_H_
#define KOPPEL_TESTS_TESTING_SYSTEM_PYTHON_H_

namespace koppel::test {

// Debian's python3, by absolute path: Debian's python3-openpyxl (scripts/setup installs it)
// belongs to it, and a pyenv or other version-managed python3 first on PATH lacks it.
inline constexpr char kSystemPython[] = "/usr/bin/python3";

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_SYSTEM_PYTHON_H_

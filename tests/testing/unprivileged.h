// Runs a check without the privilege to ignore file permissions. Root (and CI runs as root)
// may write into a directory without write permission, so a test of such a refusal runs its
// write in a child process that dropped the capabilities that override permission bits.
#ifndef KOPPEL_TESTS_TESTING_UNPRIVILEGED_H_
#define KOPPEL_TESTS_TESTING_UNPRIVILEGED_H_

#include <functional>

#include "absl/status/status.h"

namespace koppel::test {

// Runs `body` in a child process without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER
// (a user other than root has none of them), and returns the status `body` returned there. An
// error of its own (the child could not drop them, or died) says so in its message.
absl::Status RunWithoutPermissionOverride(const std::function<absl::Status()>& body);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_UNPRIVILEGED_H_

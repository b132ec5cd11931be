// Untrusted text (anything a client sent: ids, names, certificate identities, and messages
// that quote them) made safe for one line of a service log: every byte outside printable
// ASCII, and the backslash and quotes, is written as a C escape (\n, \x1b, \xff, \\, \"), so
// that a value can neither start a second line nor carry a terminal escape sequence; very long
// values are cut, saying how long they were.
#ifndef KOPPEL_CORE_LOG_SAFE_H_
#define KOPPEL_CORE_LOG_SAFE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace koppel {

inline constexpr size_t kLogSafeMaxBytes = 1024;

std::string LogSafe(std::string_view untrusted);
// The message of `status`, which may quote what a client sent.
std::string LogSafe(const absl::Status& status);

// The same guarantee for text a person reads in a terminal or a report (an export's column
// headers): printable UTF-8 such as "cliënt" stays as it is; control characters (C0, DEL, C1),
// line and paragraph separators, bidirectional overrides, invisible format characters,
// noncharacters and invalid UTF-8 are escaped as in LogSafe.
std::string DisplaySafe(std::string_view untrusted);

}  // namespace koppel

#endif  // KOPPEL_CORE_LOG_SAFE_H_

// A command group of `koppel` (query, policy, covenant, audit): each adds its subcommand and
// options to the app before parsing and runs when the user chose it.
#ifndef KOPPEL_CLI_COMMAND_H_
#define KOPPEL_CLI_COMMAND_H_

#include <CLI/CLI.hpp>
#include <functional>

namespace koppel {

struct Command {
  CLI::App* app = nullptr;   // the subcommand; parsed() says whether the user chose it
  std::function<int()> run;  // returns the process exit code
};

// `koppel policy validate|explain|sign|verify|keygen|fill-keys` (cli/policy_command.cc).
Command AddPolicyCommand(CLI::App* app);
// `koppel covenant end` (cli/covenant_command.cc).
Command AddCovenantCommand(CLI::App* app);
// `koppel audit verify|report` (cli/audit_command.cc).
Command AddAuditCommand(CLI::App* app);

}  // namespace koppel

#endif  // KOPPEL_CLI_COMMAND_H_

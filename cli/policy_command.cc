#include "cli/command.h"
namespace koppel {
Command AddPolicyCommand(CLI::App* app) {
  CLI::App* sub = app->add_subcommand("policy", "write, sign and check covenants (not yet built)");
  return {sub, [] { return 2; }};
}
}  // namespace koppel

#include "cli/command.h"
namespace koppel {
Command AddCovenantCommand(CLI::App* app) {
  CLI::App* sub = app->add_subcommand("covenant", "end a covenant (not yet built)");
  return {sub, [] { return 2; }};
}
}  // namespace koppel

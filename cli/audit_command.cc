#include "cli/command.h"
namespace koppel {
Command AddAuditCommand(CLI::App* app) {
  CLI::App* sub = app->add_subcommand("audit", "verify and report audit logs (not yet built)");
  return {sub, [] { return 2; }};
}
}  // namespace koppel

// Configuration files for the programs: `koppel-linker serve --config /etc/koppel/linker.yaml`
// reads the command's flags from a YAML mapping whose keys are the long flag names without their
// dashes, e.g.
//   listen: 0.0.0.0:7443
//   covenant: [/etc/koppel/almelo.yaml, /etc/koppel/zorg.yaml]   # a flag given several times
//   allow-rejects: true                                          # a flag without a value
// A flag on the command line wins over the file: a list flag is replaced, not extended, and a
// flag the command line's flags exclude (--passphrase-file next to --master-key) is left out.
// The file is refused, naming file:line:column, for a key that no command of the program takes
// (or a flag marked not configurable), a key given twice, a mapping or nothing where a value
// belongs, a file that is not YAML or is larger than kMaxConfigFileBytes, and anything but a
// regular file (a FIFO would block the reader). A value a flag's own check refuses is refused
// naming the flag, as on the command line. A key another command of the same program takes
// (keygen's `out` in linker.yaml) is ignored, so one file can serve several commands.
#ifndef KOPPEL_CORE_CONFIG_FILE_H_
#define KOPPEL_CORE_CONFIG_FILE_H_

#include <cstddef>
#include <string>

#include "CLI/CLI.hpp"

namespace koppel {

inline constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;

// Adds `--config FILE` to `app`, usable after any of its commands, read as above. Call it after
// the commands are added. An error in the file is a CLI::ParseError, so a program reports it and
// exits as it does for a bad flag.
CLI::Option* AddConfigFileOption(CLI::App* app);

}  // namespace koppel

#endif  // KOPPEL_CORE_CONFIG_FILE_H_

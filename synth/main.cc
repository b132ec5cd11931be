// koppel-synth: writes a deterministic synthetic municipality (exports, mapping files and
// ground truth) for tests, demos and benchmarks. See docs/synth.md.
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "core/exit_codes.h"
#include "fmt/format.h"
#include "synth/generator.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitBug = 1;
constexpr int kExitUsage = 2;
constexpr int kExitIo = 3;

// What each exit code means; --help lists them.
constexpr koppel::ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "the municipality is written"},
    {kExitBug, "an internal consistency check failed (a generator bug: please report it)"},
    {kExitUsage, "usage: bad or missing flags, or --out not empty without --force"},
    {kExitIo,
     "a file or directory cannot be created or written (the message names the path and what "
     "to check)"},
};

}  // namespace

int main(int argc, char** argv) {
  koppel::synth::SynthOptions options;
  std::string out;
  CLI::App app{
      "koppel-synth: generate a synthetic municipality (ten data holders' exports, mapping "
      "files and ground truth) deterministically from a seed"};
  app.add_option("--out", out, "output directory (must be empty unless --force)")->required();
  app.add_option("--seed", options.seed, "random seed")->capture_default_str();
  app.add_option("--persons", options.persons,
                 "approximate number of persons (default: the size of Almelo, about 72,000 "
                 "persons in 31,392 households)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  app.add_option("--error-rate", options.error_rate,
                 "fraction of rows of each export given exactly one injected error")
      ->check(CLI::Range(0.0, 0.5))
      ->capture_default_str();
  app.footer(koppel::ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitBug}));
  app.add_flag("--force", options.force, "write into a non-empty directory, overwriting files");
  app.add_flag("--dialects", options.dialects,
               "write the exports as real holders do: Windows-1252, ISO-8859-15 and UTF-16 "
               "files, ISO date-times, codes in any capitalisation, a snapshot register with "
               "a postcode list and persons outside the municipality (docs/synth.md)");
  app.add_flag("--intervention", options.intervention,
               "add outcome events of 2015-2019 (eviction notices, police registrations, "
               "out-of-home placements, bijstand spells) with a known effect of the wijkteam's "
               "2014 cohort, and their ground truth truth/cost_benefit.json for "
               "analyses/cost-benefit.yaml (docs/synth.md, \"Intervention\")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  options.out = out;
  options.progress = true;

  auto summary = koppel::synth::Generate(options);
  if (!summary.ok()) {
    fmt::print(stderr, "koppel-synth: {}\n", std::string(summary.status().message()));
    switch (summary.status().code()) {
      case absl::StatusCode::kFailedPrecondition:
      case absl::StatusCode::kInvalidArgument:
        return kExitUsage;
      case absl::StatusCode::kInternal:
        return kExitBug;
      default:
        return kExitIo;
    }
  }
  fmt::print(stderr, "koppel-synth: wrote {} households, {} persons, {} export rows to {}\n",
             summary->households, summary->persons, summary->rows, out);
  return kExitOk;
}

// A covenant and its signatures: the input is the covenant's YAML, then optionally a NUL and
// the text of its .sig file. Parsed as services parse it and as `koppel policy explain` parses
// a template, checked in place as `fill-keys` does, explained, and its signatures checked.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/yaml_reader.h"
#include "policies/covenant.h"
#include "policies/covenant_explain.h"
#include "policies/covenant_signature.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = koppel::fuzz::AsText(data, size);
  const size_t nul = input.find('\0');
  const std::string_view yaml = input.substr(0, nul);
  const std::string_view sig_text = nul == std::string_view::npos ? input : input.substr(nul + 1);

  koppel::YamlReader reader("fuzz.yaml", {"expected a mapping", "unknown key '{key}'"});
  (void)reader.Check(yaml);

  absl::StatusOr<koppel::policy::SignatureFile> sig =
      koppel::policy::ParseSignatureFile(sig_text, "fuzz.sig");
  if (sig.ok()) {
    absl::StatusOr<koppel::policy::SignatureFile> again =
        koppel::policy::ParseSignatureFile(koppel::policy::FormatSignatureFile(*sig), "fuzz.sig");
    koppel::fuzz::Check(again.ok(), "a written .sig file does not read back");
  }

  koppel::policy::CovenantParseOptions template_options;
  template_options.allow_key_placeholders = true;
  absl::StatusOr<koppel::policy::Covenant> as_template =
      koppel::policy::ParseCovenant(yaml, "fuzz.yaml", template_options);
  if (as_template.ok()) (void)koppel::policy::ExplainCovenant(*as_template);

  absl::StatusOr<koppel::policy::Covenant> covenant =
      koppel::policy::ParseCovenant(yaml, "fuzz.yaml");
  if (!covenant.ok()) return 0;
  koppel::fuzz::Check(as_template.ok(), "a covenant is valid only without placeholders allowed");
  if (sig.ok()) {
    (void)koppel::policy::ReviewCovenantSignatures(*covenant, yaml, *sig, "fuzz");
    (void)koppel::policy::CheckCovenantSignatures(*covenant, yaml, *sig, "fuzz");
  }
  return 0;
}

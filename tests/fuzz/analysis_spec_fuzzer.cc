// An analysis spec (YAML) and a prices file (CSV): the same bytes are given to both parsers,
// so the corpus holds seeds of each.
#include <cstddef>
#include <cstdint>

#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = koppel::fuzz::AsText(data, size);
  (void)koppel::analysis::ParseAnalysisSpec(input, "fuzz.yaml");
  (void)koppel::analysis::ParsePrices(input, "fuzz.csv");
  return 0;
}

// BSN parsing as the agent does it for every row: a valid result is 9 digits that pass the
// 11-test and parse to themselves. The first four bytes are also a stem for BsnFromStem.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/bsn.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = koppel::fuzz::AsText(data, size);
  const koppel::BsnResult result = koppel::ParseBsn(input);
  if (result.ok()) {
    Check(result.view().find_first_not_of("0123456789") == std::string_view::npos,
          "a valid BSN is not 9 digits");
    Check(result.view() != "000000000", "the all-zero BSN is valid");
    Check(koppel::PassesElevenTest(result.view()), "a valid BSN fails the 11-test");
    const koppel::BsnResult again = koppel::ParseBsn(result.view());
    Check(again.ok() && again.view() == result.view(), "a canonical BSN does not parse to itself");
  }
  if (size == 9) (void)koppel::PassesElevenTest(input);
  if (size >= 4) {
    uint32_t stem;
    std::memcpy(&stem, data, sizeof stem);
    stem %= 100000000;
    char digits[9];
    if (koppel::BsnFromStem(stem, digits)) {
      const koppel::BsnResult built = koppel::ParseBsn({digits, 9});
      Check(built.ok() || stem == 0, "a BSN built from a stem is not valid");
    }
  }
  return 0;
}

// Address parsing as the agent does it for every row, from a postcode and a free-form house
// field and from separate number, letter and addition fields. The input is up to five fields,
// each ended by a backslash and another character (FuzzedDataProvider's strings; "\\" is a
// backslash): postcode, house, number, letter, addition. A valid result is canonical
// POSTCODE|NUMBER|LETTER|ADDITION and reads back to itself from its parts.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

namespace {

void CheckCanonical(const koppel::AddressResult& result) {
  if (!result.ok()) return;
  Check(result.length <= koppel::AddressResult::kMaxCanonical, "a canonical address is too long");
  Check(result.canonical[result.length] == '\0', "a canonical address is not terminated");
  std::vector<std::string_view> parts;
  std::string_view rest = result.view();
  for (size_t bar; (bar = rest.find('|')) != std::string_view::npos; rest.remove_prefix(bar + 1)) {
    parts.push_back(rest.substr(0, bar));
  }
  parts.push_back(rest);
  Check(parts.size() == 4, "a canonical address has not four parts");
  const koppel::AddressResult again =
      koppel::ParseAddressFields(parts[0], parts[1], parts[2], parts[3]);
  Check(again.ok() && again.view() == result.view(),
        "a canonical address does not read back to itself");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const std::string postcode = provider.ConsumeRandomLengthString(64);
  const std::string house = provider.ConsumeRandomLengthString(64);
  const std::string number = provider.ConsumeRandomLengthString(64);
  const std::string letter = provider.ConsumeRandomLengthString(64);
  const std::string addition = provider.ConsumeRandomLengthString(64);
  CheckCanonical(koppel::ParseAddress(postcode, house));
  CheckCanonical(koppel::ParseAddressFields(postcode, number, letter, addition));
  return 0;
}

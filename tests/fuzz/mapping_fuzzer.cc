// A mapping file, and export cells read with its attributes: the input is the YAML, then
// optionally a NUL and one cell per line, each given to every attribute's parser.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/attribute_value.h"
#include "core/mapping.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = koppel::fuzz::AsText(data, size);
  const size_t nul = input.find('\0');
  const std::string_view yaml = input.substr(0, nul);
  const std::string_view cells = nul == std::string_view::npos ? "" : input.substr(nul + 1);

  absl::StatusOr<koppel::Mapping> mapping = koppel::ParseMapping(yaml, "fuzz.yaml");
  if (!mapping.ok()) return 0;
  std::vector<koppel::v1::AttributeSchema> schema = mapping->BatchSchema();
  koppel::fuzz::Check(schema.size() == mapping->attributes.size(),
                      "the batch schema has another number of attributes");
  std::vector<koppel::AttributeParser> parsers;
  parsers.reserve(mapping->attributes.size());
  for (const koppel::AttributeSpec& spec : mapping->attributes) parsers.emplace_back(spec);
  for (std::string_view rest = cells; !rest.empty();) {
    const size_t end = std::min(rest.find('\n'), rest.size());
    const std::string_view cell = koppel::TrimBlanks(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (cell.empty()) continue;
    for (const koppel::AttributeParser& parser : parsers) {
      koppel::v1::Value value;
      parser.Parse(cell, &value);
    }
  }
  return 0;
}

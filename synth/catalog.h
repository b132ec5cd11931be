// The ten synthetic data holders: each export's columns and dialect (dataset specs) and how
// a household fact becomes a row in that holder's own spelling of BSNs, addresses, dates,
// amounts and codes.
#ifndef KOPPEL_SYNTH_CATALOG_H_
#define KOPPEL_SYNTH_CATALOG_H_

#include <array>
#include <string>
#include <vector>

#include "synth/dataset_spec.h"
#include "synth/household.h"
#include "synth/rng.h"

namespace koppel::synth {

class Catalog {
 public:
  Catalog();

  const DatasetSpec& spec(Dataset dataset) const { return specs_[static_cast<size_t>(dataset)]; }

  // The export row for `fact`, valid under the dataset's mapping.
  std::vector<std::string> Render(const Household& household, const Fact& fact, Rng& rng) const;

 private:
  std::array<DatasetSpec, kDatasetCount> specs_;
};

// Euro cents written with a decimal comma or point and optional thousands separators.
std::string FormatCents(int64_t cents, bool decimal_comma, std::string_view thousands);

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_CATALOG_H_

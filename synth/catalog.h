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
  // `dialects`: the exports as real holders write them (docs/synth.md, "Dialects"): other
  // encodings, date-times, codes in any capitalisation and a snapshot register.
  explicit Catalog(bool dialects = false);

  bool dialects() const { return dialects_; }
  const DatasetSpec& spec(Dataset dataset) const { return specs_[static_cast<size_t>(dataset)]; }

  // Whether `fact` becomes a row. Only the snapshot register leaves rows out: one row per
  // person at the address of the reference date, none for earlier addresses.
  bool Writes(const Fact& fact) const;

  // The export row for `fact`, valid under the dataset's mapping.
  std::vector<std::string> Render(const Household& household, const Fact& fact, Rng& rng) const;

  // A snapshot-register row of a person living outside the municipality, at `address`.
  std::vector<std::string> RenderOutsider(const Person& person, const Address& address,
                                          Rng& rng) const;

 private:
  bool dialects_;
  std::array<DatasetSpec, kDatasetCount> specs_;
};

// Euro cents written with a decimal comma or point and optional thousands separators.
std::string FormatCents(int64_t cents, bool decimal_comma, std::string_view thousands);

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_CATALOG_H_

// Reference lists a mapping names (docs/agent.md): a CSV of category codes (`codes_file`) and a
// CSV of the postcodes of the municipality (`identifiers.address.postcodes`). Both are small
// files kept next to the mapping: UTF-8 (a BOM is skipped), a header line naming the columns,
// `,` or `;` between fields (whichever the header uses), read whole and bounded in size. Errors
// name the file and line and say what to do; they never quote a postcode (the list holds
// identifiers).
#ifndef KOPPEL_CORE_REFERENCE_LIST_H_
#define KOPPEL_CORE_REFERENCE_LIST_H_

#include <bitset>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace koppel {

inline constexpr uint64_t kMaxCodesFileBytes = 1 << 20;
inline constexpr size_t kMaxCodesFileCodes = 100'000;
// Room for every postcode of the Netherlands (about 470,000).
inline constexpr uint64_t kMaxPostcodesFileBytes = 16 << 20;
inline constexpr size_t kMaxPostcodesFilePostcodes = 1'000'000;

// One line of a codes file: an export code and the code it stands for.
struct ListedCode {
  std::string code;
  std::string maps_to;  // empty when the file has no maps_to column: the code stands for itself
  uint64_t line = 0;
};

// A codes file: header `code`, or `code,maps_to`, one code per line (more columns are
// ignored). Neither may be empty.
absl::StatusOr<std::vector<ListedCode>> LoadCodeList(const std::filesystem::path& path);

// The postcodes of an area, from a postcodes file: header `postcode`, one postcode per line
// (`1234AB`, `1234 ab`: read as export postcodes are) or a 4-digit PC4 standing for every
// postcode in it (more columns are ignored).
class PostcodeList {
 public:
  static absl::StatusOr<PostcodeList> Load(const std::filesystem::path& path);

  // `postcode` is canonical: 4 digits, the first not 0, and 2 capital letters.
  bool Contains(std::string_view postcode) const;
  // Postcodes and PC4 areas listed (each counted once).
  size_t size() const { return postcodes_.size() + areas_.count(); }

 private:
  absl::flat_hash_set<uint32_t> postcodes_;  // 1234AB as 1234 * 676 + 26 * A + B
  std::bitset<10000> areas_;                 // PC4
};

}  // namespace koppel

#endif  // KOPPEL_CORE_REFERENCE_LIST_H_

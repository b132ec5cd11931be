// Searches files for the plaintext identifiers of the synthetic population: canonical BSNs
// (9 digits standing alone) and postcodes (standing alone, with or without the space). A
// canonical address "7607AB|12|A|" starts with a standalone postcode, so it is found too. Used
// by every test that must prove nothing leaked.
#ifndef KOPPEL_TESTS_TESTING_PLAINTEXT_SCANNER_H_
#define KOPPEL_TESTS_TESTING_PLAINTEXT_SCANNER_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace koppel::test {

struct Leak {
  std::string where;  // file name, or the label of scanned text
  std::string kind;   // "bsn" or "postcode"
  size_t offset = 0;  // never the identifier itself: test output must not leak either
};

class PlaintextScanner {
 public:
  // Reads truth/population.csv (bsn,postcode,house_number,house_letter,house_addition,
  // address_canonical).
  static PlaintextScanner FromPopulation(const std::filesystem::path& population_csv);

  size_t bsn_count() const { return bsns_.size(); }
  size_t postcode_count() const { return postcodes_.size(); }

  void ScanText(std::string_view text, const std::string& label, std::vector<Leak>* leaks) const;
  // Every regular file under `root`, except those under any of `skip`.
  void ScanTree(const std::filesystem::path& root, const std::vector<std::filesystem::path>& skip,
                std::vector<Leak>* leaks, size_t* files_scanned) const;

 private:
  std::unordered_set<std::string> bsns_;
  std::unordered_set<std::string> postcodes_;  // "7607AB"
};

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_PLAINTEXT_SCANNER_H_

#include "tests/testing/plaintext_scanner.h"

#include <fstream>
#include <sstream>

namespace koppel::test {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlnum(char c) { return IsDigit(c) || IsUpper(c) || (c >= 'a' && c <= 'z'); }

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

}  // namespace

PlaintextScanner PlaintextScanner::FromPopulation(const std::filesystem::path& population_csv) {
  PlaintextScanner scanner;
  std::ifstream in(population_csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> f = SplitCsv(line);
    if (f.size() < 6) continue;
    scanner.bsns_.insert(f[0]);
    scanner.postcodes_.insert(f[1]);
  }
  return scanner;
}

void PlaintextScanner::ScanText(std::string_view text, const std::string& label,
                                std::vector<Leak>* leaks) const {
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && IsAlnum(text[i - 1])) continue;
    // 9 digits not touching another letter or digit.
    if (i + 9 <= n && (i + 9 == n || !IsAlnum(text[i + 9]))) {
      bool digits = true;
      for (size_t k = 0; k < 9 && digits; ++k) digits = IsDigit(text[i + k]);
      if (digits && bsns_.contains(std::string(text.substr(i, 9)))) {
        leaks->push_back({label, "bsn", i});
      }
    }
    // A postcode, "7607AB" or "7607 AB", standing alone.
    for (size_t gap : {size_t{0}, size_t{1}}) {
      size_t end = i + 6 + gap;
      if (end > n || (end < n && IsAlnum(text[end]))) continue;
      if (gap == 1 && text[i + 4] != ' ') continue;
      std::string candidate(text.substr(i, 4));
      candidate += text.substr(i + 4 + gap, 2);
      if (IsDigit(candidate[0]) && IsUpper(candidate[4]) && IsUpper(candidate[5]) &&
          postcodes_.contains(candidate)) {
        leaks->push_back({label, "postcode", i});
      }
    }
  }
}

void PlaintextScanner::ScanTree(const std::filesystem::path& root,
                                const std::vector<std::filesystem::path>& skip,
                                std::vector<Leak>* leaks, size_t* files_scanned) const {
  for (auto it = std::filesystem::recursive_directory_iterator(root);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    bool skipped = false;
    for (const auto& s : skip) skipped = skipped || it->path() == s;
    if (skipped) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ScanText(content, std::filesystem::relative(it->path(), root).string(), leaks);
    ++*files_scanned;
  }
}

}  // namespace koppel::test

// A fresh directory per test under the build tree's temporary area, removed afterwards unless
// KOPPEL_KEEP_TEST_FILES is set (useful when a test fails and its files tell why).
#ifndef KOPPEL_TESTS_TESTING_TEMP_DIR_H_
#define KOPPEL_TESTS_TESTING_TEMP_DIR_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace koppel::test {

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
    std::string templ = (std::filesystem::temp_directory_path() / ("koppel-" + name + "-XXXXXX"));
    path_ = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    if (std::getenv("KOPPEL_KEEP_TEST_FILES") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_TEMP_DIR_H_

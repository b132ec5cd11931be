// The main of every koppel test binary: gtest's, with one rule added. A failure outside any
// test (in a suite's SetUpTestSuite or TearDownTestSuite) ends the process at once with exit
// code 1. Otherwise gtest reports every test of that suite as "[  SKIPPED ]", and ctest, which
// counts any output with that mark as a skip whatever the exit code, would let it pass.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace {

// Tracks tests itself: UnitTest::current_test_info() takes the lock gtest holds while it
// reports a result.
class FailureOutsideATestIsFatal : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { in_test_ = true; }
  void OnTestEnd(const ::testing::TestInfo&) override { in_test_ = false; }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed() || in_test_) return;
    std::fprintf(stderr, "%s:%d: a suite's set-up or tear-down failed; stopping the test binary\n",
                 result.file_name() ? result.file_name() : "?", result.line_number());
    std::fflush(nullptr);
    std::_Exit(1);
  }

  bool in_test_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new FailureOutsideATestIsFatal);
  return RUN_ALL_TESTS();
}

// WaitForPortFile, which every test that starts a linker or a vault waits on: it returns the port
// the service announced, and gives up as soon as the service exits without announcing one.
#include "tests/testing/port_file.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::BackgroundProcess;
using test::TempDir;
using test::WaitForPortFile;

// A stand-in service: /bin/sh running `script`, with $1 the port file.
BackgroundProcess Shell(const TempDir& dir, const std::string& script) {
  return BackgroundProcess({"/bin/sh", "-c", script, "sh", (dir / "port").string()},
                           (dir / "log").string());
}

TEST(WaitForPortFileTest, ReturnsTheAnnouncedPortOnLoopback) {
  TempDir dir;
  BackgroundProcess service =
      Shell(dir, "echo 4242 > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; exec sleep 60");
  absl::StatusOr<std::string> address = WaitForPortFile(dir / "port", service);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:4242");
}

TEST(WaitForPortFileTest, AServiceThatExitsWithoutAPortEndsTheWait) {
  TempDir dir;
  BackgroundProcess service = Shell(dir, "exit 3");
  absl::StatusOr<std::string> address = WaitForPortFile(dir / "port", service);
  EXPECT_TRUE(absl::IsUnavailable(address.status())) << address.status();
  EXPECT_NE(address.status().message().find("exited with 3"), std::string::npos)
      << address.status();
  EXPECT_EQ(service.Wait(), 3);
}

TEST(WaitForPortFileTest, APortWrittenBeforeTheExitStillCounts) {
  TempDir dir;
  BackgroundProcess service = Shell(dir, "echo 4243 > \"$1\"");
  EXPECT_EQ(service.Wait(), 0);
  absl::StatusOr<std::string> address = WaitForPortFile(dir / "port", service);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:4243");
}

TEST(WaitForPortFileTest, NoPortInTheFileIsNoPort) {
  TempDir dir;
  BackgroundProcess service = Shell(dir, "printf 'not a port' > \"$1\"; exit 0");
  absl::StatusOr<std::string> address = WaitForPortFile(dir / "port", service);
  EXPECT_TRUE(absl::IsUnavailable(address.status())) << address.status();
}

}  // namespace
}  // namespace koppel

#include "core/config_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

// A program shaped like the services: `serve` with a value, a list, a number with a range, a
// flag and a required flag, and `keygen` with a flag of its own.
class ConfigFileTest : public ::testing::Test {
 protected:
  ConfigFileTest() {
    serve_ = app_.add_subcommand("serve", "serve");
    serve_->add_option("--listen", listen_, "address");
    serve_->add_option("--covenant", covenants_, "covenants")->required();
    serve_->add_option("--retention-check-seconds", seconds_, "seconds")
        ->check(CLI::Range(1, 86400));
    serve_->add_flag("--check-config", check_, "check only");
    serve_->add_flag("--dry-run", dry_run_, "not for files")->configurable(false);
    CLI::Option* key = serve_->add_option("--master-key", master_key_, "key");
    serve_->add_option("--passphrase-file", passphrase_file_, "phrase")->excludes(key);
    keygen_ = app_.add_subcommand("keygen", "keygen");
    keygen_->add_option("--out", out_, "out");
    AddConfigFileOption(&app_);
  }

  // Parses `args` (after the program name); the error's text, empty when it parsed.
  std::string Parse(std::vector<std::string> args) {
    std::vector<const char*> argv = {"koppel-test"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    try {
      app_.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  }

  std::string Config(std::string_view yaml) {
    const std::string path = (dir_ / "koppel.yaml").string();
    test::WriteFile(path, yaml);
    return path;
  }

  test::TempDir dir_;
  CLI::App app_{"test program"};
  CLI::App* serve_;
  CLI::App* keygen_;
  std::string listen_ = "127.0.0.1:7443";
  std::vector<std::string> covenants_;
  int seconds_ = 60;
  bool check_ = false;
  bool dry_run_ = false;
  std::string master_key_;
  std::string passphrase_file_;
  std::string out_;
};

TEST_F(ConfigFileTest, TheFileSetsValuesListsAndFlagsOfTheCommandRun) {
  const std::string config = Config(
      "listen: 0.0.0.0:9000\n"
      "covenant: [a.yaml, b.yaml]\n"
      "retention-check-seconds: 30\n"
      "check-config: true\n");
  ASSERT_EQ(Parse({"serve", "--config", config}), "");
  EXPECT_EQ(listen_, "0.0.0.0:9000");
  EXPECT_EQ(covenants_, (std::vector<std::string>{"a.yaml", "b.yaml"}));
  EXPECT_EQ(seconds_, 30);
  EXPECT_TRUE(check_);
}

TEST_F(ConfigFileTest, TheOptionMayAlsoComeBeforeTheCommand) {
  const std::string config = Config("covenant: a.yaml\n");
  ASSERT_EQ(Parse({"--config", config, "serve"}), "");
  EXPECT_EQ(covenants_, (std::vector<std::string>{"a.yaml"}));
}

TEST_F(ConfigFileTest, FlagsOnTheCommandLineWinAndReplaceAList) {
  const std::string config = Config(
      "listen: 0.0.0.0:9000\n"
      "covenant: [a.yaml, b.yaml]\n");
  ASSERT_EQ(Parse({"serve", "--config", config, "--listen", "127.0.0.1:1", "--covenant", "c.yaml"}),
            "");
  EXPECT_EQ(listen_, "127.0.0.1:1");
  EXPECT_EQ(covenants_, (std::vector<std::string>{"c.yaml"}));
}

// The vault's --master-key excludes --passphrase-file: a key on the command line wins over a
// passphrase file in the config file instead of clashing with it.
TEST_F(ConfigFileTest, AFlagTheCommandLineExcludesIsLeftOut) {
  const std::string config = Config("covenant: a\npassphrase-file: /run/credentials/phrase\n");
  ASSERT_EQ(Parse({"serve", "--config", config, "--master-key", "k.key"}), "");
  EXPECT_EQ(master_key_, "k.key");
  EXPECT_EQ(passphrase_file_, "");
  ASSERT_EQ(Parse({"serve", "--config", config}), "");
  EXPECT_EQ(passphrase_file_, "/run/credentials/phrase");
}

TEST_F(ConfigFileTest, AFlagNotConfigurableIsRefusedInTheFile) {
  const std::string error = Parse({"serve", "--config", Config("covenant: a\ndry-run: true\n")});
  EXPECT_NE(error.find(":2:1: "), std::string::npos) << error;
  EXPECT_NE(error.find("unknown key 'dry-run'"), std::string::npos) << error;
  EXPECT_FALSE(dry_run_);
}

TEST_F(ConfigFileTest, AFlagSetToFalseStaysOff) {
  ASSERT_EQ(Parse({"serve", "--config", Config("covenant: a\ncheck-config: no\n")}), "");
  EXPECT_FALSE(check_);
}

TEST_F(ConfigFileTest, WithoutTheFileNothingChanges) {
  ASSERT_EQ(Parse({"serve", "--covenant", "a"}), "");
  EXPECT_EQ(listen_, "127.0.0.1:7443");
  EXPECT_EQ(seconds_, 60);
}

TEST_F(ConfigFileTest, AnUnknownKeyIsRefusedWithItsLine) {
  const std::string config = Config("covenant: a\nlissten: 0.0.0.0:9000\n");
  const std::string error = Parse({"serve", "--config", config});
  EXPECT_NE(error.find(config + ":2:1: "), std::string::npos) << error;
  EXPECT_NE(error.find("unknown key 'lissten'"), std::string::npos) << error;
  EXPECT_NE(error.find("listen, covenant, retention-check-seconds, check-config, master-key"),
            std::string::npos)
      << error;
}

TEST_F(ConfigFileTest, AKeyOfAnotherCommandIsIgnored) {
  ASSERT_EQ(Parse({"serve", "--config", Config("covenant: a\nout: keys/\n")}), "");
  EXPECT_EQ(out_, "");
  ASSERT_EQ(Parse({"keygen", "--config", Config("covenant: a\nout: keys/\n")}), "");
  EXPECT_EQ(out_, "keys/");
}

TEST_F(ConfigFileTest, KeysThatAreNotSettableAreRefused) {
  for (const char* key : {"help", "config", "--listen"}) {
    const std::string error =
        Parse({"serve", "--config", Config(std::string("covenant: a\n") + key + ": x\n")});
    EXPECT_NE(error.find(":2:1: "), std::string::npos) << key << ": " << error;
    EXPECT_NE(error.find("unknown key"), std::string::npos) << key << ": " << error;
  }
}

TEST_F(ConfigFileTest, AKeyGivenTwiceIsRefused) {
  const std::string error =
      Parse({"serve", "--config", Config("covenant: a\nlisten: x:1\nlisten: y:2\n")});
  EXPECT_NE(error.find(":3:"), std::string::npos) << error;
  EXPECT_NE(error.find("listen"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, AValueOfTheWrongShapeIsRefusedWithItsLine) {
  struct Case {
    const char* yaml;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{
           {"covenant: a\nlisten: {host: x}\n", ":2:9: listen: expected a single value"},
           {"covenant: a\nlisten:\n", "listen: expected a single value"},
           {"covenant: a\nlisten: [x:1, y:2]\n", ":2:9: listen: expected a single value"},
           {"covenant: [a, [b]]\n", "covenant[1]: expected a single value"},
           {"covenant: a\ncheck-config: maybe\n", ":2:15: check-config: expected true or false"},
           {"- covenant: a\n", ":1:1: "},
       }) {
    const std::string error = Parse({"serve", "--config", Config(c.yaml)});
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.yaml << "\n" << error;
  }
}

TEST_F(ConfigFileTest, AFlagsOwnCheckAppliesToTheFile) {
  const std::string error =
      Parse({"serve", "--config", Config("covenant: a\nretention-check-seconds: 0\n")});
  EXPECT_NE(error.find("retention-check-seconds"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, TextThatIsNotYamlIsRefusedWithItsLine) {
  const std::string error = Parse({"serve", "--config", Config("covenant: a\nlisten: [x\n")});
  EXPECT_NE(error.find("not valid YAML"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, AnEmptyFileSetsNothing) {
  ASSERT_EQ(Parse({"serve", "--config", Config(""), "--covenant", "a"}), "");
  EXPECT_EQ(listen_, "127.0.0.1:7443");
}

TEST_F(ConfigFileTest, AMissingRequiredFlagIsStillRefused) {
  const std::string error = Parse({"serve", "--config", Config("listen: x:1\n")});
  EXPECT_NE(error.find("--covenant"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, AnOversizedFileIsRefused) {
  const std::string error = Parse(
      {"serve", "--config", Config("covenant: a\n#" + std::string(kMaxConfigFileBytes, 'x'))});
  EXPECT_NE(error.find("larger than"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, AMissingFileOrAFifoIsRefusedWithoutWaiting) {
  EXPECT_NE(Parse({"serve", "--config", (dir_ / "absent.yaml").string()}).find("absent.yaml"),
            std::string::npos);
  const std::string fifo = (dir_ / "fifo.yaml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string error = Parse({"serve", "--config", fifo});
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

TEST_F(ConfigFileTest, TheCurrentFlagsCanBeWrittenAsAFileThatReadsBack) {
  ASSERT_EQ(Parse({"serve", "--covenant", "a", "--covenant", "b", "--listen", "h:1"}), "");
  const std::string written = serve_->config_to_str(false, false);
  EXPECT_NE(written.find("listen: h:1"), std::string::npos) << written;
  CLI::App again{"again"};
  std::vector<std::string> covenants;
  std::string listen;
  CLI::App* serve = again.add_subcommand("serve", "serve");
  serve->add_option("--covenant", covenants)->required();
  serve->add_option("--listen", listen);
  AddConfigFileOption(&again);
  const std::string path = (dir_ / "written.yaml").string();
  test::WriteFile(path, written);
  std::vector<const char*> argv = {"again", "serve", "--config", path.c_str()};
  ASSERT_NO_THROW(again.parse(static_cast<int>(argv.size()), argv.data()));
  EXPECT_EQ(covenants, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(listen, "h:1");
}

}  // namespace
}  // namespace koppel

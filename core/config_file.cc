#include "core/config_file.h"

#include <unistd.h>

#include <filesystem>
#include <iterator>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "core/file_contents.h"
#include "core/yaml_reader.h"
#include "fmt/format.h"

namespace koppel {
namespace {

// The long flag names `command` takes, without dashes ("help" and "config" are not settable).
std::vector<std::string> SettableNames(const CLI::App* command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command->get_options()) {
    if (!option->get_configurable()) continue;
    for (const std::string& name : option->get_lnames()) {
      if (name != "help" && name != "help-all") names.push_back(name);
    }
  }
  return names;
}

CLI::Option* SettableOption(CLI::App* command, const std::string& key) {
  if (key == "help" || key == "help-all") return nullptr;
  CLI::Option* option = command->get_option_no_throw("--" + key);
  return option != nullptr && option->get_configurable() ? option : nullptr;
}

// Reads the YAML file given to --config into CLI11's items for the command being run.
class YamlConfigFormatter : public CLI::Config {
 public:
  explicit YamlConfigFormatter(CLI::App* app) : app_(app) {}

  std::string to_config(const CLI::App* app, bool default_also, bool /*write_description*/,
                        std::string /*prefix*/) const override {
    YAML::Emitter out;
    out << YAML::BeginMap;
    for (const CLI::Option* option : app->get_options()) {
      if (!option->get_configurable() || option->get_lnames().empty()) continue;
      std::vector<std::string> values = option->results();
      if (values.empty() && default_also && !option->get_default_str().empty()) {
        values.push_back(option->get_default_str());
      }
      if (values.empty()) continue;
      out << YAML::Key << option->get_lnames().front() << YAML::Value;
      if (values.size() == 1) {
        out << values.front();
      } else {
        out << YAML::Flow << values;
      }
    }
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
  }

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string path = app_->get_config_ptr()->as<std::string>();
    std::string text;
    text.resize(kMaxConfigFileBytes + 1);
    input.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(input.gcount()));
    if (text.size() > kMaxConfigFileBytes) {
      throw CLI::ConfigError(
          fmt::format("config file {} is larger than {} bytes", path, kMaxConfigFileBytes));
    }
    const YamlReader reader(path, {"expected a mapping of flag names (without --) to values",
                                   "unknown key '{key}'; allowed: {allowed}"});
    absl::StatusOr<YAML::Node> document = reader.Load(text);
    if (!document.ok()) throw CLI::ConfigError(std::string(document.status().message()));
    if (document->IsNull()) return {};
    if (!document->IsMap()) {
      Fail(reader.Error(*document, "", "expected a mapping of flag names (without --) to values"));
    }

    // The command being run, and the path of command names to it.
    CLI::App* command = app_;
    std::vector<std::string> parents;
    while (!command->get_subcommands().empty()) {
      command = command->get_subcommands().front();
      parents.push_back(command->get_name());
    }
    std::vector<CLI::ConfigItem> settings;
    for (const auto& entry : *document) {
      const std::string key = entry.first.Scalar();
      CLI::Option* option = SettableOption(command, key);
      if (option == nullptr) {
        if (AnotherCommandTakes(command, key)) continue;
        Fail(reader.Error(entry.first, key,
                          fmt::format("unknown key '{}'; '{}' takes: {}", key, CommandLine(parents),
                                      absl::StrJoin(SettableNames(command), ", "))));
      }
      if (ExcludedByTheCommandLine(*option)) continue;
      CLI::ConfigItem item;
      item.parents = parents;
      item.name = key;
      const YAML::Node& value = entry.second;
      if (option->get_expected_min() == 0) {  // a flag without a value
        absl::StatusOr<bool> set = reader.Bool(value, key);
        if (!set.ok()) Fail(set.status());
        item.inputs.push_back(*set ? "true" : "false");
      } else if (value.IsSequence()) {
        if (option->get_expected_max() <= 1) {
          Fail(reader.Error(value, key, "expected a single value (the flag is given once)"));
        }
        for (size_t i = 0; i < value.size(); ++i) {
          absl::StatusOr<std::string> one = reader.Scalar(value[i], YamlReader::At(key, i));
          if (!one.ok()) Fail(one.status());
          item.inputs.push_back(*one);
        }
      } else {
        absl::StatusOr<std::string> one = reader.Scalar(value, key);
        if (!one.ok()) Fail(one.status());
        item.inputs.push_back(*one);
      }
      settings.push_back(std::move(item));
    }
    return settings;
  }

 private:
  [[noreturn]] static void Fail(const absl::Status& status) {
    throw CLI::ConfigError(std::string(status.message()));
  }

  // Whether a flag given on the command line excludes `option` (the vault's --master-key and
  // --passphrase-file): the command line wins, so the file's value is left out.
  static bool ExcludedByTheCommandLine(const CLI::Option& option) {
    for (const CLI::Option* other : option.get_excludes()) {
      if (other->count() > 0) return true;
    }
    return false;
  }

  // Whether a command of the program other than `command` takes `key`.
  bool AnotherCommandTakes(const CLI::App* command, const std::string& key) const {
    std::vector<CLI::App*> pending = {app_};
    while (!pending.empty()) {
      CLI::App* candidate = pending.back();
      pending.pop_back();
      if (candidate != command && SettableOption(candidate, key) != nullptr) return true;
      for (CLI::App* sub : candidate->get_subcommands([](CLI::App*) { return true; })) {
        pending.push_back(sub);
      }
    }
    return false;
  }

  std::string CommandLine(const std::vector<std::string>& parents) const {
    std::vector<std::string> words = {std::filesystem::path(app_->get_name()).filename().string()};
    words.insert(words.end(), parents.begin(), parents.end());
    return absl::StrJoin(words, " ");
  }

  CLI::App* app_;
};

// Commands pass --config on to the program and write their flags (config_to_str) as YAML.
void PrepareCommands(CLI::App* app, const std::shared_ptr<CLI::Config>& formatter) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();
    sub->config_formatter(formatter);
    PrepareCommands(sub, formatter);
  }
}

}  // namespace

CLI::Option* AddConfigFileOption(CLI::App* app) {
  auto formatter = std::make_shared<YamlConfigFormatter>(app);
  app->config_formatter(formatter);
  // `<program> <command> --config FILE`: the option belongs to the program, so that CLI11 reads
  // the file after the command line and before it checks required flags.
  PrepareCommands(app, formatter);
  CLI::Option* option = app->set_config(
      "--config", "",
      "YAML file with flags of the command (keys: long flag names without --); flags given on "
      "the command line win");
  option->type_name("FILE");
  option->check(CLI::Validator(
      [](std::string& path) -> std::string {
        absl::StatusOr<int> fd = OpenRegularFile(path, "config file");
        if (!fd.ok()) return std::string(fd.status().message());
        ::close(*fd);
        return {};
      },
      "", "regular file"));
  return option;
}

}  // namespace koppel

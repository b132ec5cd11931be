#include "core/yaml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"

namespace koppel {

YamlReader::YamlReader(std::string_view source, YamlMapWording wording)
    : source_(source), wording_(std::move(wording)) {}

absl::Status YamlReader::Error(const YAML::Node& node, std::string_view path,
                               std::string_view problem) const {
  const std::string where = path.empty() ? std::string("top level") : std::string(path);
  // A missing key's node has no position (and yaml-cpp throws when asked for it).
  const YAML::Mark mark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
  if (mark.is_null()) {
    return absl::InvalidArgumentError(fmt::format("{}: {}: {}", source_, where, problem));
  }
  return absl::InvalidArgumentError(fmt::format("{}:{}:{}: {}: {}", source_, mark.line + 1,
                                                mark.column + 1, where, problem));
}

absl::Status YamlReader::NotValidYaml(const YAML::Exception& e) const {
  if (e.mark.is_null()) {
    return absl::InvalidArgumentError(fmt::format("{}: not valid YAML: {}", source_, e.msg));
  }
  return absl::InvalidArgumentError(fmt::format("{}:{}:{}: not valid YAML: {}", source_,
                                                e.mark.line + 1, e.mark.column + 1, e.msg));
}

absl::Status YamlReader::ExpectMap(const YAML::Node& node, std::string_view path,
                                   const std::vector<std::string>& allowed,
                                   const std::vector<std::string>& required) const {
  const std::string allowed_list = absl::StrJoin(allowed, ", ");
  auto word = [&](const std::string& wording, std::string_view key) {
    return fmt::format(fmt::runtime(wording), fmt::arg("key", key),
                       fmt::arg("allowed", allowed_list));
  };
  if (!node.IsMap()) return Error(node, path, word(wording_.not_a_map, ""));
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Error(entry.first, Join(path, key), word(wording_.unknown_key, key));
    }
  }
  for (const std::string& key : required) {
    if (!node[key]) return Error(node, path, fmt::format("missing required key '{}'", key));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> YamlReader::Scalar(const YAML::Node& node,
                                               std::string_view path) const {
  if (!node.IsScalar()) return Error(node, path, "expected a single value");
  return node.Scalar();
}

absl::StatusOr<bool> YamlReader::Bool(const YAML::Node& node, std::string_view path) const {
  return As<bool>(node, path, "expected true or false");
}

absl::StatusOr<int64_t> YamlReader::Int(const YAML::Node& node, std::string_view path,
                                        std::string_view problem) const {
  int64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return Error(node, path, problem);
  }
  return value;
}

std::string YamlReader::Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string YamlReader::At(std::string_view path, size_t index) {
  return fmt::format("{}[{}]", path, index);
}

}  // namespace koppel

// Reading YAML documents (mapping files, analysis specs, covenants) with errors that name the
// source, line, column and key path of the problem, e.g.
//   m.yaml:5:18: csv.delimiter: expected a single value
// Load() refuses what YAML readers disagree on (a key given twice in one mapping, a second
// document), so a signed document means one thing to every reader.
// A YamlReader checks the shape of a node (a mapping with known keys, a single value, a
// boolean, a whole number) and words every error the same way; each parser adds its own
// checks on top and reports them through Error().
#ifndef KOPPEL_CORE_YAML_READER_H_
#define KOPPEL_CORE_YAML_READER_H_

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace koppel {

// A scalar that is a value (not a key), and where its text starts (at the quote if quoted).
struct YamlScalar {
  YAML::Mark mark;
  std::string value;
};

// How ExpectMap words its two errors, so every parser keeps the wording its users know.
// "{key}" stands for the unknown key, "{allowed}" for the allowed keys in the order given,
// separated by ", ". E.g. {"expected a mapping", "unknown key '{key}'; allowed: {allowed}"}.
struct YamlMapWording {
  std::string not_a_map;
  std::string unknown_key;
};

class YamlReader {
 public:
  // `source` names the document in every error, usually its file path.
  YamlReader(std::string_view source, YamlMapWording wording);

  const std::string& source() const { return source_; }

  // The document in `text`. INVALID_ARGUMENT naming the line for text that is not YAML, for a
  // key given twice in one mapping (block or flow, at any depth; yaml-cpp alone would keep
  // the first) and for more than one document. An empty text is a null node.
  absl::StatusOr<YAML::Node> Load(std::string_view text) const;

  // Checks `text` as Load() does, without building the document: its scalar values in text
  // order, for tools that edit the text in place.
  absl::StatusOr<std::vector<YamlScalar>> Check(std::string_view text) const;

  // INVALID_ARGUMENT "<source>:<line>:<column>: <path>: <problem>", or
  // "<source>: <path>: <problem>" when `node` has no position (e.g. a missing key). An empty
  // path reads "top level".
  absl::Status Error(const YAML::Node& node, std::string_view path, std::string_view problem) const;

  // INVALID_ARGUMENT "<source>:<line>:<column>: not valid YAML: <message>" for what yaml-cpp
  // threw while loading or reading the document ("<source>: not valid YAML: ..." without a
  // position).
  absl::Status NotValidYaml(const YAML::Exception& e) const;

  // OK when `node` is a mapping whose keys are all in `allowed` and that has every key of
  // `required`; the first missing one (in the order given) is "missing required key '<key>'".
  absl::Status ExpectMap(const YAML::Node& node, std::string_view path,
                         const std::vector<std::string>& allowed,
                         const std::vector<std::string>& required) const;

  // The value of a scalar node; "expected a single value" for a list, mapping or nothing.
  absl::StatusOr<std::string> Scalar(const YAML::Node& node, std::string_view path) const;

  // true/false (and YAML's yes/no, on/off); "expected true or false" otherwise.
  absl::StatusOr<bool> Bool(const YAML::Node& node, std::string_view path) const;

  // A decimal whole number (absl::SimpleAtoi); `problem` is the error otherwise.
  absl::StatusOr<int64_t> Int(const YAML::Node& node, std::string_view path,
                              std::string_view problem) const;

  // The value as yaml-cpp converts it (node.as<T>(): e.g. 0x10 is an int, 1e3 a double);
  // `problem` is the error when it does not convert.
  template <typename T>
  absl::StatusOr<T> As(const YAML::Node& node, std::string_view path,
                       std::string_view problem) const {
    T value{};
    if (!YAML::convert<T>::decode(node, value)) return Error(node, path, problem);
    return value;
  }

  // Key paths: Join("csv", "quote") is "csv.quote" (just "quote" at the top level);
  // At("tables", 2) is "tables[2]".
  static std::string Join(std::string_view path, std::string_view key);
  static std::string At(std::string_view path, size_t index);

 private:
  std::string source_;
  YamlMapWording wording_;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_YAML_READER_H_

#include "core/yaml_reader.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

// Walks a document's parse events (aliases are not expanded): remembers the first key that a
// mapping repeats, and the scalars that are values. Keys compare by their text, whether plain
// or quoted.
class DocumentWalker final : public YAML::EventHandler {
 public:
  struct Duplicate {
    std::string path;
    YAML::Mark mark;
    int first_line = 0;
  };

  const std::optional<Duplicate>& duplicate() const { return duplicate_; }
  std::vector<YamlScalar>& values() { return values_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Leaf(mark, std::string("~"), anchor, false);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchored_scalars_.find(anchor);
    Leaf(mark, it == anchored_scalars_.end() ? std::nullopt : std::optional(it->second), 0, false);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Leaf(mark, value, anchor, true);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Open(false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Open(true);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    bool is_map = false;
    bool expecting_key = true;
    std::string path;
    std::string key;                               // the current key of a map
    size_t index = 0;                              // the current item of a sequence
    std::map<std::string, int, std::less<>> keys;  // key -> line it first appeared on
  };

  // The key path of the node that starts now.
  std::string ChildPath() const {
    if (stack_.empty()) return "";
    const Frame& top = stack_.back();
    return top.is_map ? YamlReader::Join(top.path, top.key) : YamlReader::At(top.path, top.index);
  }

  bool AtKey() const {
    return !stack_.empty() && stack_.back().is_map && stack_.back().expecting_key;
  }

  // A node has ended: its parent moves on to the next key, value or item.
  void Done() {
    if (stack_.empty()) return;
    Frame& top = stack_.back();
    if (!top.is_map) {
      ++top.index;
    } else {
      top.expecting_key = !top.expecting_key;
    }
  }

  void Leaf(const YAML::Mark& mark, std::optional<std::string> text, YAML::anchor_t anchor,
            bool scalar) {
    if (anchor != 0 && text) anchored_scalars_[anchor] = *text;
    if (!AtKey() && scalar) values_.push_back({mark, *text});
    if (AtKey()) {
      Frame& top = stack_.back();
      // A key that is no plain value (an alias of a mapping, say) is left to the parsers, which
      // refuse it as an unknown key.
      top.key = text.value_or("?");
      if (text) {
        auto [it, inserted] = top.keys.emplace(*text, mark.line + 1);
        if (!inserted && !duplicate_) {
          duplicate_ = Duplicate{YamlReader::Join(top.path, *text), mark, it->second};
        }
      }
    }
    Done();
  }

  void Open(bool is_map) {
    Frame frame;
    frame.is_map = is_map;
    frame.path = AtKey() ? ChildPath() + "(key)" : ChildPath();
    if (AtKey()) stack_.back().key = "?";
    stack_.push_back(std::move(frame));
  }

  void Close() {
    if (!stack_.empty()) stack_.pop_back();
    Done();
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, std::string> anchored_scalars_;
  std::optional<Duplicate> duplicate_;
  std::vector<YamlScalar> values_;
};

// Counts documents without looking into them.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  const YAML::Mark& start() const { return start_; }

 private:
  YAML::Mark start_ = YAML::Mark::null_mark();
};

}  // namespace

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
  return absl::InvalidArgumentError(
      fmt::format("{}:{}:{}: {}: {}", source_, mark.line + 1, mark.column + 1, where, problem));
}

absl::Status YamlReader::NotValidYaml(const YAML::Exception& e) const {
  if (e.mark.is_null()) {
    return absl::InvalidArgumentError(fmt::format("{}: not valid YAML: {}", source_, e.msg));
  }
  return absl::InvalidArgumentError(fmt::format("{}:{}:{}: not valid YAML: {}", source_,
                                                e.mark.line + 1, e.mark.column + 1, e.msg));
}

absl::StatusOr<std::vector<YamlScalar>> YamlReader::Check(std::string_view text) const {
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentWalker walker;
    if (parser.HandleNextDocument(walker)) {
      if (const auto& duplicate = walker.duplicate(); duplicate) {
        return absl::InvalidArgumentError(fmt::format(
            "{}:{}:{}: {}: the key is given twice in one mapping (first on line {}); YAML "
            "readers disagree on which one counts, so remove one of them",
            source_, duplicate->mark.line + 1, duplicate->mark.column + 1, duplicate->path,
            duplicate->first_line));
      }
      DocumentCounter second;
      if (parser.HandleNextDocument(second)) {
        const YAML::Mark& mark = second.start();
        return absl::InvalidArgumentError(fmt::format(
            "{}:{}: a second YAML document starts here; a koppel file holds exactly one, so "
            "remove the `---` and what follows or move it to a file of its own",
            source_, mark.is_null() ? 0 : mark.line + 1));
      }
    }
    return std::move(walker.values());
  } catch (const YAML::Exception& e) {
    return NotValidYaml(e);
  }
}

absl::StatusOr<YAML::Node> YamlReader::Load(std::string_view text) const {
  RETURN_IF_ERROR(Check(text).status());
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return NotValidYaml(e);
  }
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

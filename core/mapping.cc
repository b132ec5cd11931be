#include "core/mapping.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/category_code.h"
#include "core/civil_date.h"
#include "core/file_contents.h"
#include "core/status_macros.h"
#include "core/yaml_reader.h"

namespace koppel {
namespace {

bool IsIdentifierName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The mapping file's reader: the shared YamlReader, read by key of a parent mapping, with the
// wording mapping files have always had and allowed keys listed in sorted order.
class MappingParser : public YamlReader {
 public:
  explicit MappingParser(std::string_view source)
      : YamlReader(source, {"expected a mapping of keys to values",
                            "unknown key; allowed here: {allowed}"}) {}

  absl::Status ExpectMap(const YAML::Node& node, std::string_view path,
                         const std::set<std::string>& allowed,
                         const std::set<std::string>& required) const {
    return YamlReader::ExpectMap(node, path, {allowed.begin(), allowed.end()},
                                 {required.begin(), required.end()});
  }

  // A missing key is reported at its parent.
  absl::StatusOr<std::string> String(const YAML::Node& parent, std::string_view path,
                                     const std::string& key) const {
    const YAML::Node node = parent[key];
    return Scalar(node.IsDefined() ? node : parent, Join(path, key));
  }

  absl::StatusOr<bool> Bool(const YAML::Node& parent, std::string_view path,
                            const std::string& key) const {
    return YamlReader::Bool(parent[key], Join(path, key));
  }

  absl::StatusOr<int64_t> Int(const YAML::Node& parent, std::string_view path,
                              const std::string& key) const {
    return YamlReader::Int(parent[key], Join(path, key), "expected an integer");
  }

  // A reference list the mapping names: a relative path starts at the mapping's directory.
  std::filesystem::path ReferencePath(std::string_view name) const {
    const std::filesystem::path path(name);
    return path.is_relative() ? std::filesystem::path(source()).parent_path() / path : path;
  }

  // Where `node` is in the mapping, for errors that point at two places.
  static std::string Position(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    return fmt::format("line {}, column {}", mark.line + 1, mark.column + 1);
  }

  absl::StatusOr<char> Char(const YAML::Node& parent, std::string_view path, const std::string& key,
                            bool allow_empty) const {
    ASSIGN_OR_RETURN(std::string value, String(parent, path, key));
    if (value == "\\t") value = "\t";
    if (value.empty() && allow_empty) return '\0';
    if (value.size() != 1) {
      return Error(parent[key], Join(path, key),
                   allow_empty ? "expected one character, or \"\" for none"
                               : "expected exactly one character (\"\\t\" for tab)");
    }
    if (value[0] == '\0' || value[0] == '\n' || value[0] == '\r') {
      return Error(parent[key], Join(path, key),
                   "cannot be NUL, CR or LF: those end or break a line; give the character "
                   "the export uses");
    }
    return value[0];
  }
};

absl::Status ParseCsv(MappingParser& p, const YAML::Node& node, Mapping* m) {
  RETURN_IF_ERROR(
      p.ExpectMap(node, "csv", {"delimiter", "quote", "encoding", "line_ending"}, {"delimiter"}));
  ASSIGN_OR_RETURN(m->csv.delimiter, p.Char(node, "csv", "delimiter", false));
  if (node["quote"]) {
    ASSIGN_OR_RETURN(char quote, p.Char(node, "csv", "quote", true));
    m->csv.quote = quote == '\0' ? std::nullopt : std::optional<char>(quote);
  } else {
    m->csv.quote = '"';
  }
  if (m->csv.quote && *m->csv.quote == m->csv.delimiter) {
    if (!node["quote"]) {
      return p.Error(node["delimiter"], "csv.delimiter",
                     "must differ from the quote, which is \" unless csv.quote says otherwise");
    }
    return p.Error(node["quote"], "csv.quote", "the quote must differ from the delimiter");
  }
  m->encoding = TextEncoding::kUtf8;
  if (node["encoding"]) {
    ASSIGN_OR_RETURN(std::string name, p.String(node, "csv", "encoding"));
    absl::StatusOr<TextEncoding> encoding = ParseTextEncoding(name);
    if (!encoding.ok()) {
      return p.Error(node["encoding"], "csv.encoding",
                     fmt::format("must be one of {} (auto detects a byte-order mark, else UTF-8 "
                                 "or windows-1252)",
                                 TextEncodingNames()));
    }
    m->encoding = *encoding;
  }
  m->csv.encoding = m->encoding;
  m->line_ending = "lf";
  if (node["line_ending"]) {
    ASSIGN_OR_RETURN(m->line_ending, p.String(node, "csv", "line_ending"));
    if (m->line_ending != "lf" && m->line_ending != "crlf") {
      return p.Error(node["line_ending"], "csv.line_ending", "must be lf or crlf");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseIdentifiers(MappingParser& p, const YAML::Node& node, Mapping* m) {
  RETURN_IF_ERROR(p.ExpectMap(node, "identifiers", {"bsn", "address"}, {}));
  if (!node["bsn"] && !node["address"]) {
    return p.Error(node, "identifiers", "name a bsn column, an address, or both");
  }
  if (node["bsn"]) {
    ASSIGN_OR_RETURN(std::string column, p.String(node, "identifiers", "bsn"));
    m->bsn_column = column;
  }
  if (node["address"]) {
    const YAML::Node a = node["address"];
    const std::string path = "identifiers.address";
    RETURN_IF_ERROR(p.ExpectMap(
        a, path, {"postcode", "house", "number", "letter", "addition", "postcodes"}, {"postcode"}));
    AddressColumns columns;
    ASSIGN_OR_RETURN(columns.postcode, p.String(a, path, "postcode"));
    if (a["house"]) {
      if (a["number"] || a["letter"] || a["addition"]) {
        return p.Error(a, path,
                       "give either house (one free-form field) or number/letter/"
                       "addition (separate fields), not both");
      }
      ASSIGN_OR_RETURN(columns.house, p.String(a, path, "house"));
    } else {
      if (!a["number"]) return p.Error(a, path, "missing 'house' or 'number'");
      ASSIGN_OR_RETURN(columns.number, p.String(a, path, "number"));
      if (a["letter"]) {
        ASSIGN_OR_RETURN(columns.letter, p.String(a, path, "letter"));
      }
      if (a["addition"]) {
        ASSIGN_OR_RETURN(columns.addition, p.String(a, path, "addition"));
      }
    }
    if (a["postcodes"]) {
      ASSIGN_OR_RETURN(std::string name, p.String(a, path, "postcodes"));
      columns.postcodes_file = p.ReferencePath(name);
      absl::StatusOr<PostcodeList> list = PostcodeList::Load(columns.postcodes_file);
      if (!list.ok()) {
        return p.Error(a["postcodes"], MappingParser::Join(path, "postcodes"),
                       std::string(list.status().message()));
      }
      columns.postcodes = std::make_shared<const PostcodeList>(std::move(*list));
    }
    m->address_columns = std::move(columns);
  }
  return absl::OkStatus();
}

// The codes of one category attribute as they are added: a code that matches the same export
// values as an earlier one (the same code, or with ignore_case the same after
// FoldCategoryCode) must map to the same code.
class CategoryCodes {
 public:
  CategoryCodes(bool ignore_case, std::map<std::string, std::string, std::less<>>* codes)
      : ignore_case_(ignore_case), codes_(codes) {}

  // Adds the code given at `where`; or, when it clashes, returns where the earlier one is.
  std::optional<std::string> Add(const std::string& code, const std::string& maps_to,
                                 std::string where) {
    const std::string key = ignore_case_ ? FoldCategoryCode(code) : code;
    auto [it, added] = first_.try_emplace(key, maps_to, std::move(where));
    if (!added && it->second.first != maps_to) return it->second.second;
    codes_->emplace(code, maps_to);
    return std::nullopt;
  }

  std::string Clash(std::string_view earlier) const {
    return fmt::format(
        "maps to another code than the code at {}, which matches the same "
        "export values{}; map both to one code or remove one",
        earlier, ignore_case_ ? " when case and blanks are ignored" : "");
  }

 private:
  bool ignore_case_;
  std::map<std::string, std::string, std::less<>>* codes_;
  std::map<std::string, std::pair<std::string, std::string>> first_;  // key -> maps_to, where
};

absl::Status ParseCategoryCodes(MappingParser& p, const YAML::Node& node, std::string_view path,
                                AttributeSpec* a) {
  if (node["ignore_case"]) {
    ASSIGN_OR_RETURN(a->ignore_case, p.Bool(node, path, "ignore_case"));
  }
  const YAML::Node codes = node["codes"];
  if (!codes && !node["codes_file"]) {
    return p.Error(node, path,
                   "a category needs its allowed codes: give codes, codes_file or both");
  }
  CategoryCodes added(a->ignore_case, &a->codes);
  const std::string codes_path = MappingParser::Join(path, "codes");
  if (codes) {
    if (codes.IsSequence()) {
      for (const auto& code : codes) {
        if (!code.IsScalar() || code.Scalar().empty()) {
          return p.Error(code, codes_path, "each code must be a non-empty value");
        }
        const std::string& value = code.Scalar();
        if (auto earlier = added.Add(value, value, MappingParser::Position(code))) {
          return p.Error(code, codes_path, added.Clash(*earlier));
        }
      }
    } else if (codes.IsMap()) {
      for (const auto& entry : codes) {
        if (!entry.second.IsScalar() || !IsIdentifierName(entry.second.Scalar())) {
          return p.Error(entry.second, codes_path,
                         "a mapped code must be lower-case letters, digits and _");
        }
        if (auto earlier = added.Add(entry.first.Scalar(), entry.second.Scalar(),
                                     MappingParser::Position(entry.first))) {
          return p.Error(entry.first, codes_path, added.Clash(*earlier));
        }
      }
    } else {
      return p.Error(codes, codes_path, "expected a list of codes or a map of code: code");
    }
    if (a->codes.empty()) return p.Error(codes, codes_path, "at least one code is needed");
  }
  if (node["codes_file"]) {
    const std::string file_path = MappingParser::Join(path, "codes_file");
    const YAML::Node file_node = node["codes_file"];
    ASSIGN_OR_RETURN(std::string name, p.String(node, path, "codes_file"));
    a->codes_file = p.ReferencePath(name);
    absl::StatusOr<std::vector<ListedCode>> listed = LoadCodeList(a->codes_file);
    if (!listed.ok()) {
      return p.Error(file_node, file_path, std::string(listed.status().message()));
    }
    for (const ListedCode& code : *listed) {
      const std::string where =
          fmt::format("codes file {} line {}", a->codes_file.string(), code.line);
      if (!code.maps_to.empty() && !IsIdentifierName(code.maps_to)) {
        return p.Error(file_node, file_path,
                       fmt::format("{}: maps_to must be lower-case letters, digits and _ (the "
                                   "code the batch carries)",
                                   where));
      }
      const std::string& maps_to = code.maps_to.empty() ? code.code : code.maps_to;
      if (auto earlier = added.Add(code.code, maps_to, where)) {
        return p.Error(file_node, file_path,
                       fmt::format("{}: the code {}", where, added.Clash(*earlier)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAttribute(MappingParser& p, const YAML::Node& node, std::string_view path,
                            AttributeSpec* a) {
  RETURN_IF_ERROR(p.ExpectMap(node, path,
                              {"name", "column", "type", "codes", "codes_file", "ignore_case",
                               "required", "format", "decimal", "thousands", "min", "max"},
                              {"name", "column", "type"}));
  ASSIGN_OR_RETURN(a->name, p.String(node, path, "name"));
  if (!IsIdentifierName(a->name)) {
    return p.Error(node["name"], MappingParser::Join(path, "name"),
                   "use lower-case letters, digits and _ only");
  }
  ASSIGN_OR_RETURN(a->column, p.String(node, path, "column"));
  ASSIGN_OR_RETURN(std::string type, p.String(node, path, "type"));
  static const std::map<std::string, AttributeType> kTypes = {
      {"category", AttributeType::kCategory},
      {"integer", AttributeType::kInteger},
      {"amount", AttributeType::kAmount},
      {"date", AttributeType::kDate},
      {"year", AttributeType::kYear}};
  auto type_it = kTypes.find(type);
  if (type_it == kTypes.end()) {
    return p.Error(
        node["type"], MappingParser::Join(path, "type"),
        absl::StrCat("'", type, "' is not one of category, integer, amount, date, year"));
  }
  a->type = type_it->second;
  if (node["required"]) {
    ASSIGN_OR_RETURN(a->required, p.Bool(node, path, "required"));
  }

  auto only_for = [&](const char* key, AttributeType t, const char* type_name) -> absl::Status {
    if (node[key] && a->type != t) {
      return p.Error(node[key], MappingParser::Join(path, key),
                     absl::StrCat("only allowed for type ", type_name));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(only_for("codes", AttributeType::kCategory, "category"));
  RETURN_IF_ERROR(only_for("codes_file", AttributeType::kCategory, "category"));
  RETURN_IF_ERROR(only_for("ignore_case", AttributeType::kCategory, "category"));
  RETURN_IF_ERROR(only_for("format", AttributeType::kDate, "date"));
  RETURN_IF_ERROR(only_for("decimal", AttributeType::kAmount, "amount"));
  RETURN_IF_ERROR(only_for("thousands", AttributeType::kAmount, "amount"));
  RETURN_IF_ERROR(only_for("min", AttributeType::kInteger, "integer"));
  RETURN_IF_ERROR(only_for("max", AttributeType::kInteger, "integer"));

  switch (a->type) {
    case AttributeType::kCategory:
      RETURN_IF_ERROR(ParseCategoryCodes(p, node, path, a));
      break;
    case AttributeType::kDate: {
      ASSIGN_OR_RETURN(std::string pattern, p.String(node, path, "format"));
      absl::StatusOr<DateFormat> format = DateFormat::Parse(pattern);
      if (!format.ok()) {
        return p.Error(node["format"], MappingParser::Join(path, "format"),
                       std::string(format.status().message()));
      }
      a->date_format = *format;
      break;
    }
    case AttributeType::kAmount: {
      if (node["decimal"]) {
        ASSIGN_OR_RETURN(std::string decimal, p.String(node, path, "decimal"));
        if (decimal != "comma" && decimal != "point") {
          return p.Error(node["decimal"], MappingParser::Join(path, "decimal"),
                         "must be comma or point");
        }
        a->decimal_mark = decimal == "comma" ? ',' : '.';
      }
      if (node["thousands"]) {
        ASSIGN_OR_RETURN(a->thousands_separator, p.Char(node, path, "thousands", true));
        if (a->thousands_separator == a->decimal_mark) {
          return p.Error(node["thousands"], MappingParser::Join(path, "thousands"),
                         "must differ from the decimal mark");
        }
      }
      break;
    }
    case AttributeType::kInteger: {
      if (node["min"]) {
        ASSIGN_OR_RETURN(a->min, p.Int(node, path, "min"));
      }
      if (node["max"]) {
        ASSIGN_OR_RETURN(a->max, p.Int(node, path, "max"));
      }
      if (a->min && a->max && *a->min > *a->max) {
        return p.Error(node["max"], MappingParser::Join(path, "max"), "is below min");
      }
      break;
    }
    case AttributeType::kYear:
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<Mapping> ParseDocument(MappingParser& p, const YAML::Node& root) {
  RETURN_IF_ERROR(p.ExpectMap(
      root, "", {"version", "dataset", "holder", "period", "csv", "identifiers", "attributes"},
      {"version", "dataset", "period", "csv", "identifiers"}));
  Mapping m;
  ASSIGN_OR_RETURN(int64_t version, p.Int(root, "", "version"));
  if (version != 1) {
    return p.Error(root["version"], "version",
                   "this agent reads mapping version 1; upgrade the agent for newer mappings");
  }
  ASSIGN_OR_RETURN(m.dataset, p.String(root, "", "dataset"));
  if (!IsIdentifierName(m.dataset)) {
    return p.Error(root["dataset"], "dataset", "use lower-case letters, digits and _ only");
  }
  if (root["holder"]) {
    ASSIGN_OR_RETURN(m.holder, p.String(root, "", "holder"));
  }

  const YAML::Node period = root["period"];
  RETURN_IF_ERROR(p.ExpectMap(period, "period", {"from", "to"}, {"from", "to"}));
  ASSIGN_OR_RETURN(m.period_from, p.String(period, "period", "from"));
  ASSIGN_OR_RETURN(m.period_to, p.String(period, "period", "to"));
  if (!ParseIsoDay(m.period_from)) {
    return p.Error(period["from"], "period.from", "expected a date as yyyy-mm-dd");
  }
  if (!ParseIsoDay(m.period_to)) {
    return p.Error(period["to"], "period.to", "expected a date as yyyy-mm-dd");
  }
  if (m.period_to < m.period_from) return p.Error(period["to"], "period.to", "is before from");

  RETURN_IF_ERROR(ParseCsv(p, root["csv"], &m));
  RETURN_IF_ERROR(ParseIdentifiers(p, root["identifiers"], &m));

  std::set<std::string> names;
  std::set<std::string> columns;
  if (root["attributes"]) {
    const YAML::Node attributes = root["attributes"];
    if (!attributes.IsSequence()) {
      return p.Error(attributes, "attributes", "expected a list of attributes");
    }
    for (size_t i = 0; i < attributes.size(); ++i) {
      const std::string path = MappingParser::At("attributes", i);
      AttributeSpec spec;
      RETURN_IF_ERROR(ParseAttribute(p, attributes[i], path, &spec));
      if (!names.insert(spec.name).second) {
        return p.Error(attributes[i]["name"], path + ".name",
                       absl::StrCat("attribute '", spec.name, "' is defined twice"));
      }
      m.attributes.push_back(std::move(spec));
    }
  }
  return m;
}

}  // namespace

std::vector<v1::AttributeSchema> Mapping::BatchSchema() const {
  std::vector<v1::AttributeSchema> schema;
  for (const AttributeSpec& a : attributes) {
    v1::AttributeSchema s;
    s.set_name(a.name);
    switch (a.type) {
      case AttributeType::kCategory: {
        s.set_type(v1::ATTRIBUTE_TYPE_CATEGORY);
        std::set<std::string> canonical;
        for (const auto& [from, to] : a.codes) canonical.insert(to);
        for (const std::string& code : canonical) s.add_codes(code);
        break;
      }
      case AttributeType::kInteger:
        s.set_type(v1::ATTRIBUTE_TYPE_INTEGER);
        break;
      case AttributeType::kAmount:
        s.set_type(v1::ATTRIBUTE_TYPE_AMOUNT);
        break;
      case AttributeType::kDate:
        s.set_type(v1::ATTRIBUTE_TYPE_DATE);
        break;
      case AttributeType::kYear:
        s.set_type(v1::ATTRIBUTE_TYPE_YEAR);
        break;
    }
    schema.push_back(std::move(s));
  }
  return schema;
}

absl::StatusOr<Mapping> ParseMapping(std::string_view yaml, std::string_view source_name) {
  MappingParser parser(source_name);
  try {
    ASSIGN_OR_RETURN(const YAML::Node root, parser.Load(yaml));
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(fmt::format("{}: the mapping file is empty", source_name));
    }
    return ParseDocument(parser, root);
  } catch (const YAML::Exception& e) {
    return parser.NotValidYaml(e);
  }
}

absl::StatusOr<Mapping> LoadMapping(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFileContents(path, "mapping file"));
  return ParseMapping(text, path.string());
}

}  // namespace koppel

#include "synth/dataset_spec.h"

#include "core/civil_date.h"
#include "yaml-cpp/yaml.h"

namespace koppel::synth {
namespace {

std::string_view TypeName(AttributeType type) {
  switch (type) {
    case AttributeType::kCategory:
      return "category";
    case AttributeType::kInteger:
      return "integer";
    case AttributeType::kAmount:
      return "amount";
    case AttributeType::kDate:
      return "date";
    case AttributeType::kYear:
      return "year";
  }
  return "category";
}

std::string OneChar(char c) { return c == '\0' ? std::string() : std::string(1, c); }

std::string_view EncodingName(const CsvDialect& csv) {
  if (csv.declare_auto) return "auto";
  switch (csv.encoding) {
    case TextEncoding::kUtf8:
      return csv.bom ? "utf-8-bom" : "utf-8";
    case TextEncoding::kWindows1252:
      return "windows-1252";
    case TextEncoding::kIso885915:
      return "iso-8859-15";
    case TextEncoding::kUtf16Le:
      return "utf-16";
  }
  return "utf-8";
}

void EmitAttribute(YAML::Emitter& out, const ColumnSpec& column) {
  const AttributeSpec& a = *column.attribute;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << a.name;
  out << YAML::Key << "column" << YAML::Value << YAML::DoubleQuoted << column.header;
  out << YAML::Key << "type" << YAML::Value << std::string(TypeName(a.type));
  switch (a.type) {
    case AttributeType::kCategory:
      out << YAML::Key << "codes" << YAML::Value << YAML::Flow;
      if (a.codes_as_list) {
        out << YAML::BeginSeq;
        for (const auto& [export_code, code] : a.codes) out << code;
        out << YAML::EndSeq;
      } else {
        out << YAML::BeginMap;
        for (const auto& [export_code, code] : a.codes) {
          out << YAML::Key << YAML::DoubleQuoted << export_code << YAML::Value << code;
        }
        out << YAML::EndMap;
      }
      if (a.ignore_case) out << YAML::Key << "ignore_case" << YAML::Value << true;
      break;
    case AttributeType::kDate:
      out << YAML::Key << "format" << YAML::Value << a.date_format;
      break;
    case AttributeType::kAmount:
      out << YAML::Key << "decimal" << YAML::Value << (a.decimal_comma ? "comma" : "point");
      if (!a.thousands.empty()) {
        out << YAML::Key << "thousands" << YAML::Value << YAML::DoubleQuoted << a.thousands;
      }
      break;
    case AttributeType::kInteger:
      if (a.min) out << YAML::Key << "min" << YAML::Value << *a.min;
      if (a.max) out << YAML::Key << "max" << YAML::Value << *a.max;
      break;
    case AttributeType::kYear:
      break;
  }
  if (a.required) out << YAML::Key << "required" << YAML::Value << true;
  out << YAML::EndMap;
}

}  // namespace

int DatasetSpec::ColumnWith(ColumnRole role) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].role == role) return static_cast<int>(i);
  }
  return -1;
}

std::string MappingYaml(const DatasetSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << 1;
  out << YAML::Key << "dataset" << YAML::Value << spec.name;
  out << YAML::Key << "holder" << YAML::Value << YAML::DoubleQuoted << spec.holder;
  out << YAML::Key << "period" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "from" << YAML::Value << IsoDate(spec.period_from);
  out << YAML::Key << "to" << YAML::Value << IsoDate(spec.period_to);
  out << YAML::EndMap;

  out << YAML::Key << "csv" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "delimiter" << YAML::Value << YAML::DoubleQuoted
      << OneChar(spec.csv.delimiter);
  out << YAML::Key << "quote" << YAML::Value << YAML::SingleQuoted << OneChar(spec.csv.quote);
  out << YAML::Key << "encoding" << YAML::Value << std::string(EncodingName(spec.csv));
  out << YAML::Key << "line_ending" << YAML::Value << (spec.csv.crlf ? "crlf" : "lf");
  out << YAML::EndMap;

  out << YAML::Key << "identifiers" << YAML::Value << YAML::BeginMap;
  if (int bsn = spec.ColumnWith(ColumnRole::kBsn); bsn >= 0) {
    out << YAML::Key << "bsn" << YAML::Value << YAML::DoubleQuoted
        << spec.columns[static_cast<size_t>(bsn)].header;
  }
  if (int postcode = spec.ColumnWith(ColumnRole::kPostcode); postcode >= 0) {
    out << YAML::Key << "address" << YAML::Value << YAML::BeginMap;
    const std::pair<ColumnRole, const char*> parts[] = {{ColumnRole::kPostcode, "postcode"},
                                                        {ColumnRole::kHouse, "house"},
                                                        {ColumnRole::kHouseNumber, "number"},
                                                        {ColumnRole::kHouseLetter, "letter"},
                                                        {ColumnRole::kHouseAddition, "addition"}};
    for (const auto& [role, key] : parts) {
      if (int c = spec.ColumnWith(role); c >= 0) {
        out << YAML::Key << key << YAML::Value << YAML::DoubleQuoted
            << spec.columns[static_cast<size_t>(c)].header;
      }
    }
    if (!spec.postcodes_file.empty()) {
      out << YAML::Key << "postcodes" << YAML::Value << spec.postcodes_file;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;

  out << YAML::Key << "attributes" << YAML::Value << YAML::BeginSeq;
  for (const ColumnSpec& column : spec.columns) {
    if (column.role == ColumnRole::kAttribute) EmitAttribute(out, column);
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace koppel::synth

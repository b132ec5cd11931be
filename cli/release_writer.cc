#include "cli/release_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/str_join.h"
#include "cli/release_html.h"
#include "cli/release_xlsx.h"
#include "core/atomic_file.h"
#include "core/csv_writer.h"
#include "core/proto_time.h"

namespace koppel {
namespace {

bool Suppressed(const v1::ReleasedCell& cell) { return cell.suppressed(); }

// Fixed decimals without a sign on a value that rounds to zero.
std::string FixedDecimals(double value, int decimals) {
  std::string text = fmt::format("{:.{}f}", value, decimals);
  if (text.front() == '-' && text.find_first_not_of("-0.") == std::string::npos) {
    text.erase(0, 1);
  }
  return text;
}

bool SafeFileName(const std::string& name) {
  if (name.empty() || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::vector<std::string> HeaderFields(const v1::ReleasedTable& table) {
  std::vector<std::string> fields{table.row_heading()};
  fields.insert(fields.end(), table.columns().begin(), table.columns().end());
  return fields;
}

std::vector<std::string> RowFields(const v1::ReleasedRow& row) {
  std::vector<std::string> fields{row.label()};
  for (const v1::ReleasedCell& cell : row.cells()) fields.push_back(FormatCell(cell));
  return fields;
}

nlohmann::ordered_json CellToJson(const v1::ReleasedCell& cell) {
  if (Suppressed(cell)) return "*";
  if (cell.value_case() == v1::ReleasedCell::VALUE_NOT_SET) return nullptr;  // not applicable
  if (cell.value_case() == v1::ReleasedCell::kCount) return cell.count();
  if (cell.value_case() == v1::ReleasedCell::kPm) return FormatCell(cell);
  // The number the text formats show, so that every format carries the same figure.
  return std::strtod(FormatCell(cell).c_str(), nullptr);
}

nlohmann::ordered_json TableToJson(const v1::ReleasedTable& table) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const v1::ReleasedRow& row : table.rows()) {
    nlohmann::ordered_json cells = nlohmann::ordered_json::array();
    for (const v1::ReleasedCell& cell : row.cells()) cells.push_back(CellToJson(cell));
    rows.push_back({{"label", row.label()}, {"cells", std::move(cells)}});
  }
  return {{"name", table.name()},
          {"title", table.title()},
          {"row_heading", table.row_heading()},
          {"columns", std::vector<std::string>(table.columns().begin(), table.columns().end())},
          {"rows", std::move(rows)},
          {"cells_suppressed", table.cells_suppressed()}};
}

std::string CsvMetadataFile(const v1::Release& release) {
  nlohmann::ordered_json metadata = MetadataToJson(release.metadata());
  nlohmann::ordered_json tables = nlohmann::ordered_json::array();
  for (const v1::ReleasedTable& table : release.tables()) {
    tables.push_back({{"name", table.name()},
                      {"title", table.title()},
                      {"file", table.name() + ".csv"},
                      {"rows", table.rows_size()},
                      {"cells_suppressed", table.cells_suppressed()}});
  }
  nlohmann::ordered_json file{{"metadata", std::move(metadata)}, {"tables", std::move(tables)}};
  return file.dump(2) + "\n";
}

// Markdown that renders as the text itself: no emphasis, links, HTML or cell breaks.
std::string MarkdownText(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\r' || c == '\n') {
      out += ' ';
      continue;
    }
    if (std::strchr("\\|*_`<>[]", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

std::string OrNone(const std::string& s) { return s.empty() ? "none" : s; }

// Releases from linkers before issue 15 carry the legacy string fields.
std::vector<std::string> ReferenceDates(const v1::ReleaseMetadata& m) {
  std::vector<std::string> dates;
  for (const v1::Date& date : m.reference_dates()) dates.push_back(IsoDate(date));
  if (dates.empty()) {
    dates.assign(m.legacy_reference_dates().begin(), m.legacy_reference_dates().end());
  }
  return dates;
}

std::string ReleaseTime(const v1::ReleaseMetadata& m) {
  return m.has_release_time() ? IsoTime(m.release_time()) : m.legacy_released_at();
}

nlohmann::ordered_json ReleasesLeft(const v1::ReleaseMetadata& m) {
  if (!m.has_releases_left() || m.releases_left() < 0) return nullptr;  // unlimited
  return m.releases_left();
}

std::string MarkdownMetadata(const v1::ReleaseMetadata& m) {
  std::string out;
  for (const MetadataFact& fact : MetadataFacts(m)) {
    if (fact.report_only) continue;
    out += "- **" + fact.term + ":**";
    for (size_t i = 0; i < fact.parts.size(); ++i) {
      const MetadataFact::Part& part = fact.parts[i];
      out += i == 0 ? " " : "";
      out += part.code ? "`" + part.text + "`" : MarkdownText(part.text);
    }
    out += "\n";
    for (const std::string& item : fact.items) out += "  - " + MarkdownText(item) + "\n";
  }
  return out;
}

std::string MarkdownRow(const std::vector<std::string>& cells) {
  return "| " + absl::StrJoin(cells, " | ") + " |\n";
}

std::string MarkdownTable(const v1::ReleasedTable& table) {
  std::vector<std::string> header;
  for (const std::string& h : HeaderFields(table)) header.push_back(MarkdownText(h));
  std::vector<std::string> rule(header.size(), "---:");
  rule.front() = "---";
  std::string out =
      fmt::format("## {}\n\n", MarkdownText(table.title().empty() ? table.name() : table.title()));
  out +=
      fmt::format("Table `{}`, {} cell(s) suppressed.\n\n", table.name(), table.cells_suppressed());
  out += MarkdownRow(header) + MarkdownRow(rule);
  for (const v1::ReleasedRow& row : table.rows()) {
    std::vector<std::string> cells{MarkdownText(row.label())};
    for (const v1::ReleasedCell& cell : row.cells()) cells.push_back(FormatCell(cell));
    out += MarkdownRow(cells);
  }
  return out;
}

std::string Padded(const std::string& s, size_t width, bool right) {
  std::string pad(width - std::min(width, DisplayWidth(s)), ' ');
  return right ? pad + s : s + pad;
}

std::string TextLine(const std::vector<std::string>& fields, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += "  ";
    line += Padded(fields[i], i < widths.size() ? widths[i] : 0, i > 0);
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

absl::Status DirectoryError(const std::filesystem::path& dir, const std::string& why) {
  return absl::PermissionDeniedError(fmt::format(
      "cannot write to output directory {}: {}; choose a directory you can write to with --out",
      dir.string(), why));
}

}  // namespace

std::optional<ReleaseFormat> ReleaseFormatFromName(std::string_view name) {
  if (name == "csv") return ReleaseFormat::kCsv;
  if (name == "json") return ReleaseFormat::kJson;
  if (name == "md") return ReleaseFormat::kMarkdown;
  if (name == "html") return ReleaseFormat::kHtml;
  if (name == "xlsx") return ReleaseFormat::kXlsx;
  return std::nullopt;
}

absl::Status PrepareOutputDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return DirectoryError(dir, ec.message());
  if (!std::filesystem::is_directory(dir, ec)) return DirectoryError(dir, "not a directory");
  std::filesystem::path probe = dir / fmt::format(".koppel-write-test-{}", ::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return DirectoryError(dir, std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

absl::Status ValidateRelease(const v1::Release& release) {
  std::set<std::string> names;
  for (const v1::ReleasedTable& table : release.tables()) {
    if (!SafeFileName(table.name())) {
      return absl::InvalidArgumentError(fmt::format(
          "the release has a table named '{}', which is not a safe file name", table.name()));
    }
    if (!names.insert(table.name()).second) {
      return absl::InvalidArgumentError(
          fmt::format("the release has two tables named '{}'", table.name()));
    }
    for (const v1::ReleasedRow& row : table.rows()) {
      if (row.cells_size() != table.columns_size()) {
        return absl::InvalidArgumentError(
            fmt::format("table '{}', row '{}': {} cells for {} columns", table.name(), row.label(),
                        row.cells_size(), table.columns_size()));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::filesystem::path>> WriteRelease(
    const v1::Release& release, ReleaseFormat format, const std::filesystem::path& dir,
    const analysis::AnalysisSpec* spec) {
  if (absl::Status s = ValidateRelease(release); !s.ok()) return s;
  if (absl::Status s = PrepareOutputDir(dir); !s.ok()) return s;
  std::vector<std::pair<std::filesystem::path, std::string>> files;
  switch (format) {
    case ReleaseFormat::kCsv:
      for (const v1::ReleasedTable& table : release.tables()) {
        files.emplace_back(dir / (table.name() + ".csv"), TableToCsv(table));
      }
      files.emplace_back(dir / kCsvMetadataFile, CsvMetadataFile(release));
      break;
    case ReleaseFormat::kJson:
      files.emplace_back(dir / "release.json", ReleaseToJson(release).dump(2) + "\n");
      break;
    case ReleaseFormat::kMarkdown:
      files.emplace_back(dir / "release.md", ReleaseToMarkdown(release));
      break;
    case ReleaseFormat::kHtml:
      files.emplace_back(dir / "release.html", ReleaseToHtml(release, spec));
      break;
    case ReleaseFormat::kXlsx: {
      absl::StatusOr<std::string> workbook = ReleaseToXlsx(release);
      if (!workbook.ok()) return workbook.status();
      files.emplace_back(dir / "release.xlsx", *std::move(workbook));
      break;
    }
  }
  std::vector<std::filesystem::path> written;
  for (const auto& [path, bytes] : files) {
    if (absl::Status s = WriteFileAtomically(path, bytes); !s.ok()) {
      return DirectoryError(dir, std::string(s.message()));
    }
    written.push_back(path);
  }
  return written;
}

size_t DisplayWidth(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string FormatCell(const v1::ReleasedCell& cell) {
  if (Suppressed(cell)) return "*";
  switch (cell.value_case()) {
    case v1::ReleasedCell::kCount:
      return std::to_string(cell.count());
    case v1::ReleasedCell::kAmount:
      return FixedDecimals(cell.amount(), 2);
    case v1::ReleasedCell::kPercent:
      return FixedDecimals(cell.percent(), 1);
    case v1::ReleasedCell::kRatio:
      return FixedDecimals(cell.ratio(), 2);
    case v1::ReleasedCell::kPm:
      return std::string(kPmCell);
    case v1::ReleasedCell::VALUE_NOT_SET:
      break;
  }
  return "";  // not applicable, e.g. a domain's overlap with itself
}

std::string TableToCsv(const v1::ReleasedTable& table) {
  std::string out;
  AppendCsvRecord(HeaderFields(table), CsvWriteOptions(), &out);
  for (const v1::ReleasedRow& row : table.rows()) {
    AppendCsvRecord(RowFields(row), CsvWriteOptions(), &out);
  }
  return out;
}

nlohmann::ordered_json MetadataToJson(const v1::ReleaseMetadata& m) {
  nlohmann::ordered_json deliveries = nlohmann::ordered_json::array();
  for (const v1::DeliveryUsed& d : m.deliveries()) {
    deliveries.push_back(
        {{"dataset", d.dataset()}, {"batches", d.batches()}, {"records", d.records()}});
  }
  return {
      {"covenant_id", m.covenant_id()},
      {"analysis", m.analysis()},
      {"spec_sha256", m.spec_sha256()},
      {"reference_dates", ReferenceDates(m)},
      {"deliveries", std::move(deliveries)},
      {"min_cell", m.min_cell()},
      {"dominance", m.dominance()},
      {"suppressed_percent", m.suppressed_percent()},
      {"cells_suppressed_primary", m.cells_suppressed_primary()},
      {"cells_suppressed_secondary", m.cells_suppressed_secondary()},
      {"warnings", std::vector<std::string>(m.warnings().begin(), m.warnings().end())},
      {"released_at", ReleaseTime(m)},
      {"recipient", m.recipient()},
      {"covenant_version", m.covenant_version()},
      {"releases_left", ReleasesLeft(m)},
      {"prices_sha256", m.prices_sha256()},
      {"mode", m.mode() == v1::RELEASE_MODE_PERTURBED ? "perturbed" : "exact"},
      {"approved_analysis", m.approved_analysis()},
      {"earlier_releases_checked", m.earlier_releases_checked()},
      {"cells_suppressed_history", m.cells_suppressed_history()},
      {"implied_groups_protected", m.implied_groups_protected()},
      {"perturbation_table_sha256", m.perturbation_table_sha256()},
      {"perturbation_max_noise", m.perturbation_max_noise()},
      {"key_epoch", m.key_epoch()},
  };
}

nlohmann::ordered_json ReleaseToJson(const v1::Release& release) {
  nlohmann::ordered_json tables = nlohmann::ordered_json::array();
  for (const v1::ReleasedTable& table : release.tables()) tables.push_back(TableToJson(table));
  return {{"metadata", MetadataToJson(release.metadata())}, {"tables", std::move(tables)}};
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::vector<MetadataFact> MetadataFacts(const v1::ReleaseMetadata& m) {
  using Part = MetadataFact::Part;
  auto text = [](std::string term, std::string value) {
    return MetadataFact{std::move(term), {Part{std::move(value)}}, {}, false, false};
  };
  std::vector<MetadataFact> facts;
  facts.push_back(text(
      "Covenant", OrDash(m.covenant_id()) + (m.covenant_version() > 0
                                                 ? fmt::format(" version {}", m.covenant_version())
                                                 : std::string())));
  // A release without a covenant version predates release budgets: it states none.
  if (m.covenant_version() > 0) {
    if (!ReleasesLeft(m).is_null()) {
      facts.push_back(text("Release budget", fmt::format("{} release(s) left", m.releases_left())));
    } else {
      facts.push_back(text("Release budget", "no budget set"));
      facts.back().report_only = true;
    }
  }
  facts.push_back(text("Analysis", OrDash(m.analysis())));
  facts.push_back(text("Recipient", OrDash(m.recipient())));
  facts.push_back(text("Released at", OrDash(ReleaseTime(m))));
  facts.push_back({"Spec SHA-256", {Part{OrDash(m.spec_sha256()), true}}, {}, false, false});
  if (!m.prices_sha256().empty()) {
    facts.push_back({"Prices SHA-256", {Part{m.prices_sha256(), true}}, {}, false, false});
  } else {
    facts.push_back(text("Prices SHA-256", "none"));
    facts.back().report_only = true;
  }
  if (m.mode() == v1::RELEASE_MODE_PERTURBED) {
    facts.push_back({"Protection",
                     {Part{fmt::format("perturbed (exploratory spec; cell key method, noise of at "
                                       "most {}, table ",
                                       m.perturbation_max_noise())},
                      Part{OrDash(m.perturbation_table_sha256()), true}, Part{")"}},
                     {},
                     false,
                     false});
    facts.push_back(text("Cells shown as * after perturbation",
                         fmt::format("{}", m.cells_suppressed_perturbed())));
    facts.back().report_only = true;
  } else {
    facts.push_back(
        text("Protection", fmt::format("exact (approved analysis {}), checked with {} earlier "
                                       "release(s); {} implied group(s) protected",
                                       OrDash(m.approved_analysis()), m.earlier_releases_checked(),
                                       m.implied_groups_protected())));
  }
  facts.push_back(text("Reference dates", OrDash(absl::StrJoin(ReferenceDates(m), ", "))));
  std::vector<std::string> deliveries;
  for (const v1::DeliveryUsed& d : m.deliveries()) {
    deliveries.push_back(
        fmt::format("{} ({} batches, {} records)", d.dataset(), d.batches(), d.records()));
  }
  facts.push_back(text("Deliveries used", OrNone(absl::StrJoin(deliveries, "; "))));
  facts.back().deliveries = true;
  if (m.key_epoch() != 0) facts.push_back(text("Key epoch", fmt::format("{}", m.key_epoch())));
  facts.push_back(
      text("Disclosure control",
           fmt::format("minimum cell {}; dominance {}; percentages of suppressed "
                       "counts: {}",
                       m.min_cell(), OrNone(m.dominance()), OrNone(m.suppressed_percent()))));
  facts.push_back(text("Cells suppressed",
                       fmt::format("{} primary, {} secondary ({} because of earlier releases)",
                                   m.cells_suppressed_primary(), m.cells_suppressed_secondary(),
                                   m.cells_suppressed_history())));
  if (m.warnings().empty()) {
    facts.push_back(text("Warnings", "none"));
  } else {
    facts.push_back({"Warnings", {}, {m.warnings().begin(), m.warnings().end()}, false, false});
  }
  return facts;
}

std::string ReleaseToMarkdown(const v1::Release& release) {
  std::string out = fmt::format("# Release: {}\n\n", MarkdownText(release.metadata().analysis()));
  out += MarkdownMetadata(release.metadata());
  for (const v1::ReleasedTable& table : release.tables()) out += "\n" + MarkdownTable(table);
  out += "\n`*`: suppressed by disclosure control.\n";
  return out;
}

std::string FormatTableText(const v1::ReleasedTable& table) {
  std::vector<std::vector<std::string>> lines{HeaderFields(table)};
  for (const v1::ReleasedRow& row : table.rows()) lines.push_back(RowFields(row));
  std::vector<size_t> widths;
  for (const std::vector<std::string>& fields : lines) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i == widths.size()) widths.push_back(0);
      widths[i] = std::max(widths[i], DisplayWidth(fields[i]));
    }
  }
  std::vector<std::string> rule;
  for (size_t width : widths) rule.push_back(std::string(width, '-'));
  std::string out = (table.title().empty() ? table.name() : table.title()) + "\n";
  out += TextLine(lines.front(), widths) + TextLine(rule, widths);
  for (size_t i = 1; i < lines.size(); ++i) out += TextLine(lines[i], widths);
  return out;
}

}  // namespace koppel

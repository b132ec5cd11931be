// Writing a release: the disclosure-protected tables the linker returns for a query, as files
// for the research unit (docs/query.md). Three formats:
//   csv  one <table>.csv per table and release-metadata.json;
//   json one release.json with the metadata and every table;
//   md   one release.md with the metadata and a GitHub-markdown table per table;
//   html one release.html, a printable report with charts (cli/release_html.h);
//   xlsx one release.xlsx, a workbook with a sheet per table (cli/release_xlsx.h).
// A suppressed cell (flagged, or carrying no value) is written as `*` and its value, should the
// linker ever send one, is never written. Counts are integers, amounts and cost-benefit ratios
// have two decimals, percentages one, with `.` as the decimal mark and no thousands separators
// in any format, so the same figure reads the same everywhere. An effect listed but not valued
// (a cost-benefit PM row) is written as `PM`.
#ifndef KOPPEL_CLI_RELEASE_WRITER_H_
#define KOPPEL_CLI_RELEASE_WRITER_H_

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_spec.h"

namespace koppel {

enum class ReleaseFormat { kCsv, kJson, kMarkdown, kHtml, kXlsx };

// "csv", "json", "md", "html" or "xlsx"; nullopt for anything else.
std::optional<ReleaseFormat> ReleaseFormatFromName(std::string_view name);

// The name of the metadata file written next to the tables in csv format.
inline constexpr std::string_view kCsvMetadataFile = "release-metadata.json";

// Creates `dir` (and its parents) when missing and checks that a file can be created in it.
// The error names the directory. Called before a query so that a long query is not run for
// output that cannot be kept.
absl::Status PrepareOutputDir(const std::filesystem::path& dir);

// Checks that the release can be written: every table name is a safe file name
// ([A-Za-z0-9_.-], not starting with '.') and unique, and every row has one cell per column.
// Returns InvalidArgument naming the table otherwise.
absl::Status ValidateRelease(const v1::Release& release);

// Writes the release into `dir` in `format`, each file atomically (core/atomic_file.h), and
// returns the paths written in order. Nothing is written for a release that fails
// ValidateRelease (InvalidArgument); PermissionDenied means the directory is not writable and
// names it; any other error is the xlsx workbook that could not be made (ReleaseToXlsx), and
// says at which step and why. `spec` (may be null) is the analysis spec the release answers; html
// uses it to choose the charts.
absl::StatusOr<std::vector<std::filesystem::path>> WriteRelease(
    const v1::Release& release, ReleaseFormat format, const std::filesystem::path& dir,
    const analysis::AnalysisSpec* spec = nullptr);

// The pieces WriteRelease writes, for tests and other callers.

// A cell "pro memorie": an effect listed but not valued (ReleasedCell::pm).
inline constexpr std::string_view kPmCell = "PM";

// One cell as text: "*", "PM", an integer, or a number with 2 (amount, ratio) or 1 (percent)
// decimals.
std::string FormatCell(const v1::ReleasedCell& cell);

// Width of a text on a terminal or in a spreadsheet column: one per code point (UTF-8
// continuation bytes do not count).
size_t DisplayWidth(std::string_view s);

// Header (row heading, then the column labels) and one line per row; LF line ends; fields
// quoted as RFC 4180 says when they contain a comma, a quote or a line break.
std::string TableToCsv(const v1::ReleasedTable& table);

// {"metadata": {...}, "tables": [{"name", "title", "row_heading", "columns", "rows":
// [{"label", "cells": [...]}], "cells_suppressed"}]}; metadata keys are the proto's field names,
// deliveries are objects {dataset, batches, records}; a suppressed cell is the string "*".
nlohmann::ordered_json MetadataToJson(const v1::ReleaseMetadata& metadata);
nlohmann::ordered_json ReleaseToJson(const v1::Release& release);

// One fact of a release's metadata as the readable formats show it: a list item in markdown, a
// term and its definition in html. Both render the one list MetadataFacts returns, so that they
// say the same in the same words and order.
struct MetadataFact {
  struct Part {
    std::string text;
    bool code = false;  // a digest: shown as code
  };
  std::string term;
  std::vector<Part> parts;         // the text; empty when `items` carries the fact
  std::vector<std::string> items;  // a list (the warnings)
  bool deliveries = false;         // the deliveries: html shows them as a table instead
  bool report_only = false;        // html only; the markdown summary leaves it out
};
std::vector<MetadataFact> MetadataFacts(const v1::ReleaseMetadata& metadata);

// A metadata field as every readable format shows it: "-" when empty.
std::string OrDash(const std::string& s);

// The whole release as one markdown document.
std::string ReleaseToMarkdown(const v1::Release& release);

// One table as plain text for a terminal: the title, then the header, a rule and the rows, with
// the row labels left-aligned and the figures right-aligned in columns.
std::string FormatTableText(const v1::ReleasedTable& table);

}  // namespace koppel

#endif  // KOPPEL_CLI_RELEASE_WRITER_H_

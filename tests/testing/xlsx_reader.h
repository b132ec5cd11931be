// Reads an .xlsx workbook back with a reader that is not the one that wrote it: openpyxl, through
// tests/tools/xlsx_to_json.py. Tests check koppel's workbooks cell by cell with it.
#ifndef KOPPEL_TESTS_TESTING_XLSX_READER_H_
#define KOPPEL_TESTS_TESTING_XLSX_READER_H_

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/system_python.h"

namespace koppel::test {

inline std::string XlsxToJsonScript() {
  return std::string(KOPPEL_SOURCE_DIR) + "/tests/tools/xlsx_to_json.py";
}

// xlsx_to_json.py's exit code when openpyxl cannot be imported.
inline constexpr int kXlsxReaderMissingExit = 2;

inline absl::Status XlsxReaderMissing(const std::string& why) {
  return absl::FailedPreconditionError(
      "reading a workbook back needs " + std::string(kSystemPython) +
      " with openpyxl (Debian packages python3 and python3-openpyxl): run scripts/setup. " + why);
}

// The script's output; a missing python3 or openpyxl names scripts/setup, any other failure (a
// workbook openpyxl cannot read) shows the script's stderr.
inline absl::StatusOr<std::string> RunXlsxToJson(const std::vector<std::string>& args) {
  if (!std::filesystem::exists(kSystemPython)) {
    return XlsxReaderMissing(std::string(kSystemPython) + " does not exist");
  }
  std::vector<std::string> argv = {kSystemPython, XlsxToJsonScript()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult result = RunProcess(argv);
  if (result.exit_code == kXlsxReaderMissingExit) return XlsxReaderMissing(result.err);
  if (result.exit_code != 0) {
    return absl::InternalError("tests/tools/xlsx_to_json.py failed (exit code " +
                               std::to_string(result.exit_code) + "): " + result.err);
  }
  return std::move(result.out);
}

// The workbook as xlsx_to_json.py prints it: {"properties", "sheets": [{"name", "freeze_panes",
// "auto_filter", "columns", "cells": [{"ref", "row", "col", "type", "value", "number_format",
// "bold"}]}]}.
inline absl::StatusOr<nlohmann::json> ReadXlsx(const std::filesystem::path& path) {
  absl::StatusOr<std::string> out = RunXlsxToJson({path.string()});
  if (!out.ok()) return out.status();
  nlohmann::json workbook = nlohmann::json::parse(*out, nullptr, false);
  if (workbook.is_discarded()) return absl::InternalError("xlsx_to_json.py printed no JSON");
  return workbook;
}

// The text of every part of the workbook's zip container (the XML as written, uncompressed).
inline absl::StatusOr<std::string> XlsxPartsText(const std::filesystem::path& path) {
  return RunXlsxToJson({"--xml", path.string()});
}

// The sheet named `name` of a ReadXlsx workbook; null when there is none.
inline const nlohmann::json* XlsxSheet(const nlohmann::json& workbook, const std::string& name) {
  for (const nlohmann::json& sheet : workbook["sheets"]) {
    if (sheet["name"] == name) return &sheet;
  }
  return nullptr;
}

// The cell at `row`, `col` (1-based, as in Excel) of a sheet; null when it is empty.
inline const nlohmann::json* XlsxCell(const nlohmann::json& sheet, int row, int col) {
  for (const nlohmann::json& cell : sheet["cells"]) {
    if (cell["row"] == row && cell["col"] == col) return &cell;
  }
  return nullptr;
}

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_XLSX_READER_H_

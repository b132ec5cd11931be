// The release as one Excel workbook for municipal researchers (docs/query.md): a sheet per
// table with numbers as numbers and `*` as text, frozen headers, a legend, and a metadata sheet.
// Written with libxlsxwriter.
#ifndef KOPPEL_CLI_RELEASE_XLSX_H_
#define KOPPEL_CLI_RELEASE_XLSX_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "koppel/v1/analysis.pb.h"

namespace koppel {

// The first sheet: the release metadata, the deliveries, the warnings and an index of the tables.
inline constexpr std::string_view kXlsxMetadataSheet = "release";

// The line under every table that explains `*`.
inline constexpr std::string_view kXlsxLegend = "* = suppressed by disclosure control";

// The workbook's bytes (an .xlsx file). Sheet "release" first, then one sheet per table in
// release order, named by XlsxSheetNames. On a table sheet: row 1 the title, row 2 "Table NAME,
// N cell(s) suppressed", row 3 the header (bold, frozen with the label column), then a row per
// released row, then the legend. A figure is a number holding exactly what FormatCell shows
// (format `0`, `0.00` for amounts and ratios, or `0.0`), a suppressed cell the text `*`, an
// effect not valued the text `PM`, a not-applicable cell nothing.
// The same release gives the same bytes.
absl::StatusOr<std::string> ReleaseToXlsx(const v1::Release& release);

// Checks what ReleaseToXlsx needs besides the release: the C locale's decimal mark and a
// private temporary directory in $TMPDIR (or /tmp), made and removed again. `koppel query` calls
// it before querying, so that a release is not received only to be lost. The error is
// ReleaseToXlsx's: "the xlsx workbook could not be written: ...".
absl::Status CheckXlsxCanBeWritten();

// The sheet name of each table, in release order. Excel allows 31 characters, no []:*?/\ and
// no two names that differ only in case; table names are [A-Za-z0-9_.-]. A name that fits and
// is free (not "release", not Excel's reserved "History", not taken by an earlier table) is kept;
// otherwise it becomes its first 31 - k characters and "~N" (k characters) with the smallest
// N >= 1 that is free. `~` occurs in no table name, so a shortened name never takes a kept one.
std::vector<std::string> XlsxSheetNames(const v1::Release& release);

}  // namespace koppel

#endif  // KOPPEL_CLI_RELEASE_XLSX_H_

#include "cli/release_xlsx.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <xlsxwriter.h>

#include <algorithm>
#include <cerrno>
#include <clocale>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "cli/html_document.h"
#include "cli/release_writer.h"

namespace koppel {
namespace {

constexpr size_t kMaxSheetName = 31;
constexpr size_t kMaxCellChars = 32767;  // Excel's limit for the text of one cell
// docProps/core.xml carries a creation time; libxlsxwriter takes 0 as "now". A release without a
// release time gets 1980-01-01, the zip epoch, so that its workbook is reproducible too.
constexpr time_t kFallbackCreated = 315532800;

// Every error says what could not be written and at which step.
constexpr std::string_view kWriteError = "the xlsx workbook could not be written";

constexpr lxw_row_t kTitleRow = 0;
constexpr lxw_row_t kSubtitleRow = 1;
constexpr lxw_row_t kHeaderRow = 2;
constexpr lxw_row_t kFirstDataRow = 3;

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Text as a cell holds it: valid UTF-8 without the control characters and noncharacters XML
// cannot carry (PlainText, cli/html_document.h), at most kMaxCellChars characters. Excel reads
// `_xHHHH_` in a text as the character U+HHHH, so the `_` of such a sequence is written as
// `_x005F_`.
std::string ExcelCellText(std::string_view text) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  const std::string clean = PlainText(text);
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < clean.size();) {
    const std::string_view rest = std::string_view(clean).substr(i);
    const bool escape = rest.size() >= 7 && rest[0] == '_' && (rest[1] == 'x' || rest[1] == 'X') &&
                        std::all_of(rest.begin() + 2, rest.begin() + 6, hex) && rest[6] == '_';
    size_t bytes = 1;  // of the next character
    while (i + bytes < clean.size() &&
           (static_cast<unsigned char>(clean[i + bytes]) & 0xC0) == 0x80) {
      ++bytes;
    }
    const size_t added = escape ? 7 : 1;
    if (chars + added > kMaxCellChars) break;
    if (escape) out += "_x005F";
    out.append(clean, i, bytes);
    chars += added;
    i += bytes;
  }
  return out;
}

double ColumnWidth(size_t chars, size_t at_least, size_t at_most) {
  return static_cast<double>(std::clamp(chars, at_least, at_most) + 2);
}

// A directory only this process can read (mkdtemp makes it 0700), removed with everything in it.
class PrivateTempDir {
 public:
  static absl::StatusOr<std::unique_ptr<PrivateTempDir>> Create() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string templ = (base / "koppel-xlsx-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      return absl::InternalError(fmt::format("{}: creating a temporary directory in {}: {}",
                                             kWriteError, base.string(), std::strerror(errno)));
    }
    return std::unique_ptr<PrivateTempDir>(new PrivateTempDir(templ));
  }
  ~PrivateTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  PrivateTempDir(const PrivateTempDir&) = delete;
  PrivateTempDir& operator=(const PrivateTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  explicit PrivateTempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The cell formats of the workbook.
struct Formats {
  lxw_format* title = nullptr;
  lxw_format* bold = nullptr;
  lxw_format* header = nullptr;      // label column heading
  lxw_format* num_header = nullptr;  // figure column headings, right-aligned
  lxw_format* count = nullptr;
  lxw_format* amount = nullptr;
  lxw_format* percent = nullptr;
  lxw_format* suppressed = nullptr;
  lxw_format* legend = nullptr;
};

// One workbook being written: wraps the libxlsxwriter calls and keeps the first error, so that
// the sheets are written in straight lines and checked once.
class WorkbookWriter {
 public:
  explicit WorkbookWriter(lxw_workbook* workbook) : workbook_(workbook) {}

  absl::Status status() const { return status_; }

  void Check(lxw_error error, std::string_view what) {
    if (error == LXW_NO_ERROR || !status_.ok()) return;
    status_ =
        absl::InternalError(fmt::format("{}: {}: {}", kWriteError, what, lxw_strerror(error)));
  }

  lxw_format* AddFormat() {
    lxw_format* format = workbook_add_format(workbook_);
    if (format == nullptr) Check(LXW_ERROR_MEMORY_MALLOC_FAILED, "adding a cell format");
    return format;
  }

  lxw_worksheet* AddSheet(const std::string& name) {
    lxw_worksheet* sheet = workbook_add_worksheet(workbook_, name.c_str());
    if (sheet == nullptr) {
      Check(workbook_validate_sheet_name(workbook_, name.c_str()),
            fmt::format("adding sheet '{}'", name));
      Check(LXW_ERROR_MEMORY_MALLOC_FAILED, fmt::format("adding sheet '{}'", name));
    }
    return sheet;
  }

  void Text(lxw_worksheet* sheet, lxw_row_t row, lxw_col_t col, std::string_view text,
            lxw_format* format = nullptr) {
    if (!status_.ok()) return;
    const std::string clean = ExcelCellText(text);
    if (clean.empty()) return;
    Check(worksheet_write_string(sheet, row, col, clean.c_str(), format),
          fmt::format("writing text at row {}, column {}", row + 1, col + 1));
  }

  // libxlsxwriter 1.1.4 (Debian's, built without its dtoa library) prints the number with
  // printf "%.16G": 9.13 is stored as 9.130000000000001. A figure FormatCell shows has at most 15
  // significant digits, so those 16 read back as the same double (that figure's nearest double),
  // and Excel shows what the CSV shows. "%.16G" follows LC_NUMERIC: koppel never calls
  // setlocale (keep it so), and ReleaseToXlsx refuses to write under a locale whose decimal mark
  // is not '.', which would store "9,130000000000001" and make the file unreadable.
  void Number(lxw_worksheet* sheet, lxw_row_t row, lxw_col_t col, double value,
              lxw_format* format) {
    if (!status_.ok()) return;
    Check(worksheet_write_number(sheet, row, col, value, format),
          fmt::format("writing a number at row {}, column {}", row + 1, col + 1));
  }

  void Width(lxw_worksheet* sheet, lxw_col_t col, double width) {
    if (!status_.ok()) return;
    Check(worksheet_set_column(sheet, col, col, width, nullptr),
          fmt::format("setting the width of column {}", col + 1));
  }

 private:
  lxw_workbook* workbook_;
  absl::Status status_;
};

Formats AddFormats(WorkbookWriter& w) {
  Formats f;
  f.title = w.AddFormat();
  f.bold = w.AddFormat();
  f.header = w.AddFormat();
  f.num_header = w.AddFormat();
  f.count = w.AddFormat();
  f.amount = w.AddFormat();
  f.percent = w.AddFormat();
  f.suppressed = w.AddFormat();
  f.legend = w.AddFormat();
  if (!w.status().ok()) return f;
  format_set_bold(f.title);
  format_set_font_size(f.title, 13);
  format_set_bold(f.bold);
  for (lxw_format* header : {f.header, f.num_header}) {
    format_set_bold(header);
    format_set_bottom(header, LXW_BORDER_THIN);
    format_set_text_wrap(header);
    format_set_align(header, LXW_ALIGN_VERTICAL_BOTTOM);
  }
  format_set_align(f.num_header, LXW_ALIGN_RIGHT);
  format_set_num_format(f.count, "0");
  format_set_num_format(f.amount, "0.00");
  format_set_num_format(f.percent, "0.0");
  format_set_align(f.suppressed, LXW_ALIGN_RIGHT);
  format_set_italic(f.legend);
  return f;
}

// Row, column and data lines of the metadata sheet, written top to bottom.
class MetadataSheet {
 public:
  MetadataSheet(WorkbookWriter& w, const Formats& f, lxw_worksheet* sheet)
      : w_(w), f_(f), sheet_(sheet) {}

  void Title(std::string_view text) { w_.Text(sheet_, row_++, 0, text, f_.title); }
  void Line(std::string_view text, lxw_format* format = nullptr) {
    w_.Text(sheet_, row_++, 0, text, format);
  }
  void Blank() { ++row_; }
  void Header(const std::vector<std::string>& names) {
    for (size_t i = 0; i < names.size(); ++i) {
      lxw_format* format = i == 0 ? f_.header : f_.num_header;
      w_.Text(sheet_, row_, static_cast<lxw_col_t>(i), names[i], format);
    }
    ++row_;
  }
  // A field of MetadataToJson: text, an integer, a list (joined) or null (`null_text`).
  void Field(const std::string& key, const nlohmann::ordered_json& value,
             std::string_view null_text) {
    w_.Text(sheet_, row_, 0, key);
    if (value.is_number()) {
      w_.Number(sheet_, row_, 1, value.get<double>(), f_.count);
    } else if (value.is_string()) {
      w_.Text(sheet_, row_, 1, value.get<std::string>());
    } else if (value.is_array()) {
      std::string joined;
      for (const auto& item : value) {
        if (!joined.empty()) joined += ", ";
        joined += item.is_string() ? item.get<std::string>() : item.dump();
      }
      w_.Text(sheet_, row_, 1, joined);
    } else if (value.is_null()) {
      w_.Text(sheet_, row_, 1, null_text);
    } else {
      w_.Text(sheet_, row_, 1, value.dump());
    }
    ++row_;
  }
  // A row of a small table: text in column A, then text or numbers.
  void Row(std::string_view label, const std::vector<nlohmann::ordered_json>& values) {
    w_.Text(sheet_, row_, 0, label);
    for (size_t i = 0; i < values.size(); ++i) {
      const auto col = static_cast<lxw_col_t>(i + 1);
      if (values[i].is_number()) {
        w_.Number(sheet_, row_, col, values[i].get<double>(), f_.count);
      } else {
        w_.Text(sheet_, row_, col, values[i].get<std::string>());
      }
    }
    ++row_;
  }

 private:
  WorkbookWriter& w_;
  const Formats& f_;
  lxw_worksheet* sheet_;
  lxw_row_t row_ = 0;
};

void WriteMetadataSheet(WorkbookWriter& w, const Formats& f, const v1::Release& release,
                        const std::vector<std::string>& sheet_names) {
  lxw_worksheet* sheet = w.AddSheet(std::string(kXlsxMetadataSheet));
  if (!w.status().ok()) return;
  const v1::ReleaseMetadata& m = release.metadata();
  MetadataSheet s(w, f, sheet);
  s.Title("Release: " + (m.analysis().empty() ? std::string("-") : m.analysis()));
  s.Line(
      "The release metadata (field names as in release-metadata.json); one sheet per table "
      "follows.");
  s.Blank();
  s.Header({"Field", "Value"});
  const nlohmann::ordered_json metadata = MetadataToJson(m);
  for (const auto& [key, value] : metadata.items()) {
    if (key == "deliveries" || key == "warnings") continue;  // tables of their own below
    s.Field(key, value, key == "releases_left" ? "unlimited" : "");
  }
  s.Blank();
  s.Line("Deliveries used", f.bold);
  s.Header({"Dataset", "Batches", "Records"});
  for (const v1::DeliveryUsed& d : m.deliveries()) {
    s.Row(d.dataset(), {d.batches(), d.records()});
  }
  if (m.deliveries().empty()) s.Line("none");
  s.Blank();
  s.Line("Warnings", f.bold);
  for (const std::string& warning : m.warnings()) s.Line(warning);
  if (m.warnings().empty()) s.Line("none");
  s.Blank();
  s.Line("Tables", f.bold);
  s.Header({"Sheet", "Table", "Title", "Rows", "Cells suppressed"});
  for (int i = 0; i < release.tables_size(); ++i) {
    const v1::ReleasedTable& table = release.tables(i);
    s.Row(sheet_names[static_cast<size_t>(i)],
          {table.name(), table.title(), table.rows_size(), table.cells_suppressed()});
  }
  s.Blank();
  s.Line(kXlsxLegend, f.legend);
  w.Width(sheet, 0, 30);
  w.Width(sheet, 1, 68);
  w.Width(sheet, 2, 40);
  w.Width(sheet, 3, 10);
  w.Width(sheet, 4, 16);
}

// A released cell: a number as FormatCell shows it, `*`, or nothing when not applicable. A
// suppressed cell's value, should the proto carry one, is never read.
void WriteCell(WorkbookWriter& w, const Formats& f, lxw_worksheet* sheet, lxw_row_t row,
               lxw_col_t col, const v1::ReleasedCell& cell) {
  const std::string text = FormatCell(cell);
  if (cell.suppressed() || text == "*") {
    w.Text(sheet, row, col, "*", f.suppressed);
    return;
  }
  lxw_format* format = nullptr;
  switch (cell.value_case()) {
    case v1::ReleasedCell::kCount:
      format = f.count;
      break;
    case v1::ReleasedCell::kAmount:
      format = f.amount;
      break;
    case v1::ReleasedCell::kPercent:
      format = f.percent;
      break;
    case v1::ReleasedCell::kRatio:
      format = f.amount;  // two decimals, as amounts
      break;
    case v1::ReleasedCell::kPm:
      w.Text(sheet, row, col, text, f.suppressed);  // text, right-aligned like a figure
      return;
    case v1::ReleasedCell::VALUE_NOT_SET:
      return;
  }
  w.Number(sheet, row, col, std::strtod(text.c_str(), nullptr), format);
}

void WriteTableSheet(WorkbookWriter& w, const Formats& f, const v1::ReleasedTable& table,
                     const std::string& sheet_name) {
  lxw_worksheet* sheet = w.AddSheet(sheet_name);
  if (!w.status().ok()) return;
  w.Text(sheet, kTitleRow, 0, table.title().empty() ? table.name() : table.title(), f.title);
  w.Text(sheet, kSubtitleRow, 0,
         fmt::format("Table {}, {} cell(s) suppressed", table.name(), table.cells_suppressed()));

  size_t label_width = DisplayWidth(table.row_heading());
  w.Text(sheet, kHeaderRow, 0, table.row_heading(), f.header);
  std::vector<size_t> widths;
  for (int c = 0; c < table.columns_size(); ++c) {
    widths.push_back(DisplayWidth(table.columns(c)));
    w.Text(sheet, kHeaderRow, static_cast<lxw_col_t>(c + 1), table.columns(c), f.num_header);
  }
  lxw_row_t row = kFirstDataRow;
  for (const v1::ReleasedRow& released : table.rows()) {
    label_width = std::max(label_width, DisplayWidth(released.label()));
    w.Text(sheet, row, 0, released.label());
    for (int c = 0; c < released.cells_size() && c < table.columns_size(); ++c) {
      const auto col = static_cast<size_t>(c);
      widths[col] = std::max(widths[col], FormatCell(released.cells(c)).size());
      WriteCell(w, f, sheet, row, static_cast<lxw_col_t>(c + 1), released.cells(c));
    }
    ++row;
  }
  w.Text(sheet, row + 1, 0, kXlsxLegend, f.legend);
  if (!w.status().ok()) return;

  worksheet_freeze_panes(sheet, kFirstDataRow, 1);
  w.Width(sheet, 0, ColumnWidth(label_width, 12, 48));
  for (size_t c = 0; c < widths.size(); ++c) {
    w.Width(sheet, static_cast<lxw_col_t>(c + 1), ColumnWidth(widths[c], 8, 24));
  }
  if (table.rows_size() > 0) {
    w.Check(worksheet_autofilter(sheet, kHeaderRow, 0, row - 1,
                                 static_cast<lxw_col_t>(table.columns_size())),
            "setting the autofilter");
  }
}

// The numbers libxlsxwriter prints carry the LC_NUMERIC decimal mark (WorkbookWriter::Number).
absl::Status CheckDecimalMark() {
  if (const char* mark = std::localeconv()->decimal_point; std::strcmp(mark, ".") != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: the numeric locale's decimal mark is '{}', libxlsxwriter needs '.' (the C locale)",
        kWriteError, mark));
  }
  return absl::OkStatus();
}

struct WorkbookDeleter {
  void operator()(lxw_workbook* workbook) const { lxw_workbook_free(workbook); }
};

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.good() && !in.eof()) {
    return absl::InternalError(
        fmt::format("{}: reading back the temporary file {}", kWriteError, path));
  }
  return bytes;
}

}  // namespace

std::vector<std::string> XlsxSheetNames(const v1::Release& release) {
  std::set<std::string> taken{AsciiLower(kXlsxMetadataSheet), "history"};
  std::vector<std::string> names;
  for (const v1::ReleasedTable& table : release.tables()) {
    std::string name = table.name();
    if (name.empty() || name.size() > kMaxSheetName || taken.count(AsciiLower(name)) > 0) {
      for (int n = 1;; ++n) {
        const std::string suffix = fmt::format("~{}", n);
        std::string candidate = table.name().substr(0, kMaxSheetName - suffix.size()) + suffix;
        if (taken.count(AsciiLower(candidate)) == 0) {
          name = std::move(candidate);
          break;
        }
      }
    }
    taken.insert(AsciiLower(name));
    names.push_back(std::move(name));
  }
  return names;
}

absl::Status CheckXlsxCanBeWritten() {
  if (absl::Status s = CheckDecimalMark(); !s.ok()) return s;
  return PrivateTempDir::Create().status();
}

absl::StatusOr<std::string> ReleaseToXlsx(const v1::Release& release) {
  if (absl::Status s = CheckDecimalMark(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<PrivateTempDir>> dir = PrivateTempDir::Create();
  if (!dir.ok()) return dir.status();
  const std::string file = (*dir)->path() + "/release.xlsx";
  std::string tmpdir = (*dir)->path();
  lxw_workbook_options options{};
  options.tmpdir = tmpdir.data();
  std::unique_ptr<lxw_workbook, WorkbookDeleter> workbook(workbook_new_opt(file.c_str(), &options));
  if (workbook == nullptr) {
    return absl::InternalError(
        fmt::format("{}: creating it (libxlsxwriter returned no workbook)", kWriteError));
  }

  WorkbookWriter w(workbook.get());
  std::string title = PlainText("Release: " + release.metadata().analysis());
  std::string author = "koppel";
  lxw_doc_properties properties{};
  properties.title = title.data();
  properties.author = author.data();
  const int64_t release_seconds = release.metadata().release_time().seconds();
  properties.created =
      release_seconds > 0 ? static_cast<time_t>(release_seconds) : kFallbackCreated;
  w.Check(workbook_set_properties(workbook.get(), &properties), "setting the properties");

  const Formats formats = AddFormats(w);
  const std::vector<std::string> sheet_names = XlsxSheetNames(release);
  WriteMetadataSheet(w, formats, release, sheet_names);
  for (int i = 0; i < release.tables_size(); ++i) {
    WriteTableSheet(w, formats, release.tables(i), sheet_names[static_cast<size_t>(i)]);
  }
  if (!w.status().ok()) return w.status();

  if (lxw_error error = workbook_close(workbook.release()); error != LXW_NO_ERROR) {
    return absl::InternalError(
        fmt::format("{}: assembling the file: {}", kWriteError, lxw_strerror(error)));
  }
  return ReadAll(file);
}

}  // namespace koppel

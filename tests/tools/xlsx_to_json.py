#!/usr/bin/python3
"""Reads an .xlsx workbook back as a spreadsheet program would and prints it as JSON.

Tests use it to check koppel's workbooks with a reader that is not libxlsxwriter (openpyxl,
Debian python3-openpyxl, installed by scripts/setup).

  xlsx_to_json.py FILE          {"properties": {...}, "sheets": [{"name", "freeze_panes",
                                "auto_filter", "columns": {"A": width}, "cells": [{"ref", "row",
                                "col", "type", "value", "number_format", "bold"}]}]}
  xlsx_to_json.py --xml FILE    the text of every part of the zip container, one after another

A cell's type is openpyxl's: "n" number, "s" text, "b" boolean, "d" date, "f" formula. Only
cells with a value are listed, row by row. Exit code 2 when openpyxl is missing (and only
then); a workbook openpyxl cannot read exits 1 with its traceback on stderr.
"""
import json
import sys
import zipfile


def parts_text(path):
    with zipfile.ZipFile(path) as archive:
        return "\n".join(
            archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def workbook_json(path):
    import openpyxl  # pylint: disable=import-outside-toplevel
    workbook = openpyxl.load_workbook(path)
    props = workbook.properties
    sheets = []
    for sheet in workbook.worksheets:
        cells = []
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                cells.append({
                    "ref": cell.coordinate,
                    "row": cell.row,
                    "col": cell.column,
                    "type": cell.data_type,
                    "value": cell.value if cell.data_type in ("n", "s", "b") else str(cell.value),
                    "number_format": cell.number_format,
                    "bold": bool(cell.font is not None and cell.font.b),
                })
        sheets.append({
            "name": sheet.title,
            "freeze_panes": sheet.freeze_panes,
            "auto_filter": sheet.auto_filter.ref,
            "columns": {key: dim.width for key, dim in sorted(sheet.column_dimensions.items())
                        if dim.width},
            "cells": cells,
        })
    return {
        "properties": {
            "title": props.title,
            "creator": props.creator,
            "created": props.created.isoformat() if props.created else None,
        },
        "sheets": sheets,
    }


def main(argv):
    if len(argv) == 3 and argv[1] == "--xml":
        sys.stdout.write(parts_text(argv[2]))
        return 0
    if len(argv) != 2:
        sys.stderr.write("usage: xlsx_to_json.py [--xml] FILE\n")
        return 64
    try:
        import openpyxl  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        sys.stderr.write(
            "xlsx_to_json.py: python3-openpyxl is missing for %s; run scripts/setup\n" %
            sys.executable)
        return 2
    json.dump(workbook_json(argv[1]), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

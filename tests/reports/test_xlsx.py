"""The XLSX writer: openpyxl reads back exactly what was written."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from reports.xlsx import Sheet, write_xlsx

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _read(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def test_it_writes_text_numbers_booleans_and_blanks() -> None:
    rows = [("a & <b>", 1, 2.5, True, None), ("ctrl\x01char", -3, float("nan"), False, "")]
    data = write_xlsx([Sheet.from_rows("one", ["t", "i", "f", "b", "n"], rows)], created=WHEN)

    assert _read(data)["one"] == [
        ("t", "i", "f", "b", "n"),
        ("a & <b>", 1, 2.5, True, None),
        ("ctrlchar", -3, None, False, None),
    ]


def test_it_keeps_full_float_precision() -> None:
    data = write_xlsx([Sheet.from_rows("s", ["x"], [(1 / 3,)])], created=WHEN)

    assert _read(data)["s"][1][0] == 1 / 3


def test_it_writes_several_sheets_in_order_with_properties() -> None:
    data = write_xlsx(
        [Sheet.from_rows("about", ["k"], [("v",)]), Sheet.from_rows("ratings", ["r"], [(1,)])],
        title="Study",
        creator="Delphi consensus platform",
        created=WHEN,
    )
    book = load_workbook(io.BytesIO(data))

    assert book.sheetnames == ["about", "ratings"]
    assert book.properties.title == "Study"
    assert book["ratings"].freeze_panes == "A2"


def test_the_same_sheets_and_time_give_the_same_bytes() -> None:
    sheets = [Sheet.from_rows("s", ["x", "y"], [(1, "a"), (2, "b")])]

    assert write_xlsx(sheets, created=WHEN) == write_xlsx(sheets, created=WHEN)


def test_it_is_a_valid_office_open_xml_package() -> None:
    data = write_xlsx([Sheet.from_rows("s", ["x"], [(1,)])], created=WHEN)

    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "[Content_Types].xml" in names and "xl/workbook.xml" in names
    assert "xl/sharedStrings.xml" in names and "xl/worksheets/sheet1.xml" in names


def test_it_refuses_duplicate_or_long_sheet_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        write_xlsx([Sheet.from_rows("s", ["x"], []), Sheet.from_rows("s", ["x"], [])])
    with pytest.raises(ValueError, match="31"):
        write_xlsx([Sheet.from_rows("x" * 32, ["x"], [])])


def test_an_empty_sheet_has_its_header_only() -> None:
    data = write_xlsx([Sheet.from_rows("s", ["a", "b"], [])], created=WHEN)

    assert _read(data)["s"] == [("a", "b")]

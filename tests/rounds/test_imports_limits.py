"""Cheap files cannot cost minutes of CPU or hundreds of MB: each limit refuses them early
with a clear message (benchmarks/imports.py measures time and memory on the same files)."""

from __future__ import annotations

import pytest

from benchmarks import imports as bench
from rounds import imports
from rounds.imports import ImportRejected, read_table

pytestmark = pytest.mark.django_db


def refusal(data: bytes, filename: str) -> str:
    with pytest.raises(ImportRejected) as caught:
        read_table(data, filename)
    return str(caught.value)


def test_a_csv_header_with_60000_columns_is_refused() -> None:
    message = refusal(bench.csv_columns(60_000), "items.csv")
    assert "line 1: The header row has more than 50 columns" in message
    assert "Delete the unused columns" in message


def test_a_2_mb_csv_header_is_refused() -> None:
    assert "more than 50 columns" in refusal(bench.csv_to_size(2 * 1024 * 1024), "items.csv")


def test_trailing_empty_header_cells_do_not_count_as_columns() -> None:
    data = b"code,text_en" + b"," * 200 + b"\nA1,text\n"
    table = read_table(data, "items.csv")
    assert table.columns == ["code", "text_en"]
    assert [row.values for row in table.rows] == [{"code": "A1", "text_en": "text"}]


def test_blank_csv_lines_count_towards_the_line_limit() -> None:
    data = b"code,text_en\n" + b"\n" * imports.MAX_LINES + b"A1,text\n"
    assert "more than 10,000 lines (blank lines count too)" in refusal(data, "items.csv")


def test_a_workbook_of_millions_of_empty_rows_is_refused() -> None:
    assert "more than 10,000 lines" in refusal(bench.xlsx_empty_rows(5_000_000), "items.xlsx")


def test_a_workbook_of_ten_million_empty_rows_is_refused() -> None:
    assert "too large once uncompressed" in refusal(bench.xlsx_empty_rows(), "items.xlsx")


def test_a_workbook_with_300000_header_cells_is_refused() -> None:
    assert "more than 50 columns" in refusal(bench.xlsx_header_cells(), "items.xlsx")


def test_a_workbook_cell_far_down_the_sheet_is_refused() -> None:
    assert "more than 10,000 lines" in refusal(bench.xlsx_far_row(), "items.xlsx")


def test_a_workbook_with_too_many_shared_strings_is_refused() -> None:
    assert "too large once uncompressed" in refusal(bench.xlsx_shared_strings(), "items.xlsx")


def test_a_workbook_cell_beyond_the_column_limit_is_refused() -> None:
    row = b'<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c>'
    row += b'<c r="ZZ1" t="inlineStr"><is><t>x</t></is></c></row>'
    assert "more than 50 columns" in refusal(bench._workbook(bench._SHEET + row + bench._END), "a")


def test_real_files_at_the_row_limit_are_read() -> None:
    for data, name in [(bench.csv_real_rows(), "items.csv"), (bench.xlsx_real_rows(), "i.xlsx")]:
        table = read_table(data, name)
        assert len(table.rows) == imports.MAX_ROWS
        assert table.columns == ["code", "domain", "text_fr", "text_nl", "text_en"]


def test_a_workbook_with_damaged_compressed_data_is_refused_clearly() -> None:
    import io
    import zipfile

    data = bytearray(bench.xlsx_real_rows())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    header = 30 + len(sheet.filename) + len(sheet.extra)  # the local file header
    data[sheet.header_offset + header + 40] ^= 0xFF  # early in the deflated data: zlib fails
    assert "not a readable Excel workbook" in refusal(bytes(data), "items.xlsx")

"""Benchmark of the import reader (rounds.imports.read_table) on the worst cheap files.

    python -m benchmarks.imports [--only NAME]

Each file is built, then read in a fresh child process, which prints the wall time of the
read, the growth of the process's peak resident memory during it (0 when the file itself took
more to build), and the peak of Python allocations of a second read (tracemalloc). Target:
each file refused (or read) in under 2 s and 100 MB. The files:

- csv-60k-columns: a 409 KB CSV whose header has 60,000 columns (took 45 s over HTTP);
- csv-2mb-columns: the same at the 2 MB limit (about 250,000 columns);
- csv-2mb-blank-lines: 2 MB of empty lines;
- csv-2mb-one-row: a header, then one row of 2 million commas;
- xlsx-10m-empty-rows: 10 million ``<row/>`` (89 KB; took 104 s);
- xlsx-5m-empty-rows: 5 million, under the limit on the uncompressed size;
- xlsx-300k-header-cells: 300,000 cells in the header row (34 KB; reached 414 MB);
- xlsx-far-row: one cell in row 1,048,576 (openpyxl fills the rows in between);
- xlsx-shared-strings: 300,000 distinct texts in the shared-strings table;
- csv-5000-rows, xlsx-5000-rows: real files at the row limit, for comparison.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable

from openpyxl import Workbook

MB = 1024 * 1024


def _workbook(sheet_xml: bytes, shared_strings: bytes | None = None) -> bytes:
    """A minimal real workbook (made by openpyxl) whose first sheet is replaced."""
    book = Workbook()
    book.active.append(["code", "text_en"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        if shared_strings is not None:
            dst.writestr("xl/sharedStrings.xml", shared_strings, compresslevel=9)
    return out.getvalue()


_SHEET = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
_END = b"</sheetData></worksheet>"


def csv_columns(n: int) -> bytes:
    return (",".join(f"c{i}" for i in range(n)) + "\n" + "x\n").encode()


def csv_to_size(limit: int) -> bytes:
    n, data = 60_000, b""
    while True:
        candidate = csv_columns(n)
        if len(candidate) > limit:
            return data
        data, n = candidate, int(n * 1.2)


def xlsx_empty_rows(n: int = 10_000_000) -> bytes:
    return _workbook(_SHEET + b"<row/>" * n + _END)


def xlsx_header_cells() -> bytes:
    cells = b'<c t="inlineStr"><is><t>x</t></is></c>' * 300_000
    return _workbook(_SHEET + b"<row>" + cells + b"</row>" + _END)


def xlsx_far_row() -> bytes:
    row = b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    header = b'<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c></row>'
    return _workbook(_SHEET + header + row + _END)


def xlsx_shared_strings() -> bytes:
    n = 300_000
    strings = b"".join(b"<si><t>%d</t></si>" % i for i in range(n))
    xml = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" '
        b'uniqueCount="%d">' % (n, n) + strings + b"</sst>"
    )
    return _workbook(_SHEET + b'<row><c t="s"><v>0</v></c></row>' + _END, xml)


def xlsx_real_rows() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "domain", "text_fr", "text_nl", "text_en"])
    for i in range(5000):
        sheet.append([f"I{i:04d}", f"D{i % 7}", f"texte {i}", f"tekst {i}", f"text {i}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_real_rows() -> bytes:
    lines = ["code,domain,text_fr,text_nl,text_en"]
    lines += [f"I{i:04d},D{i % 7},texte {i},tekst {i},text {i}" for i in range(5000)]
    return ("\n".join(lines) + "\n").encode()


FILES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "csv-60k-columns": ("upload.csv", lambda: csv_columns(60_000)),
    "csv-2mb-columns": ("upload.csv", lambda: csv_to_size(2 * MB)),
    "csv-2mb-blank-lines": ("upload.csv", lambda: b"code,text_en\n" + b"\n" * (2 * MB - 20)),
    "csv-2mb-one-row": ("upload.csv", lambda: b"code,text_en\nx" + b"," * (2 * MB - 20)),
    "xlsx-10m-empty-rows": ("upload.xlsx", xlsx_empty_rows),
    "xlsx-5m-empty-rows": ("upload.xlsx", lambda: xlsx_empty_rows(5_000_000)),
    "xlsx-300k-header-cells": ("upload.xlsx", xlsx_header_cells),
    "xlsx-far-row": ("upload.xlsx", xlsx_far_row),
    "xlsx-shared-strings": ("upload.xlsx", xlsx_shared_strings),
    "csv-5000-rows": ("upload.csv", csv_real_rows),
    "xlsx-5000-rows": ("upload.xlsx", xlsx_real_rows),
}


def measure(name: str) -> dict[str, object]:
    """In this (child) process: build the file, then time reading it."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delphi.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    django.setup()
    from rounds.imports import ImportRejected, read_table

    filename, make = FILES[name]
    data = make()

    def read() -> str:
        try:
            table = read_table(data, filename)
            return f"read: {len(table.rows)} rows, {len(table.columns)} columns"
        except ImportRejected as rejected:
            return "refused: " + str(rejected).splitlines()[0][:90]

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    outcome = read()  # timed alone: tracemalloc slows allocations down
    seconds = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    read()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "name": name,
        "bytes": len(data),
        "seconds": seconds,
        "python_peak_mb": peak / MB,
        "rss_growth_mb": max(0, rss_after - rss_before) / 1024,
        "outcome": outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(FILES), help="one file only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    print(f"{'file':24} {'size':>9} {'time':>8} {'py peak':>9} {'RSS +':>8}  outcome")
    for name in [args.only] if args.only else FILES:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.imports", "--child", name],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{row['name']:24} {row['bytes'] / 1024:>7.0f}KB {row['seconds']:>7.2f}s "
            f"{row['python_peak_mb']:>7.1f}MB {row['rss_growth_mb']:>6.1f}MB  {row['outcome']}"
        )


if __name__ == "__main__":
    main()

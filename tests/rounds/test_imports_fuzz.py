"""Imports fuzzed: whatever the bytes, a clear rejection that changed nothing, or a full import.

Each example runs in a savepoint that is rolled back afterwards, so every example starts from
the same study (items I01, I02; panelists P001, P002).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from rounds import imports
from rounds.imports import ImportRejected, import_items, import_panel
from rounds.models import AuditEntry, Item, Panelist, Study
from tests.factories import make_study

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=70,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LANGUAGES = ("fr", "nl", "en")
ITEM_HEADER = b"code;domain;text_fr;text_nl;text_en\n"
PANEL_HEADER = b"email,name,language,group\n"
FILENAMES = st.sampled_from(["upload.csv", "upload.xlsx", "upload.txt", "upload"])


@pytest.fixture
def study() -> Study:
    return make_study(n_items=2, n_panelists=2, languages=LANGUAGES)


class _Undo(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def snapshot() -> tuple[int, int, int]:
    return Item.objects.count(), Panelist.objects.count(), AuditEntry.objects.count()


@dataclass(frozen=True)
class Outcome:
    rows: int | None  # None: rejected
    problems: list[imports.ImportProblem]


def attempt_items(study: Study, data: bytes, filename: str) -> Outcome:
    before = snapshot()
    try:
        n = import_items(study=study, data=data, filename=filename)
    except ImportRejected as exc:
        assert_clear(exc)
        assert snapshot() == before
        return Outcome(None, exc.problems)
    assert n > 0
    assert snapshot() == (before[0] + n, before[1], before[2] + 1)
    assert n == len(imports.read_table(data, filename).rows)
    return Outcome(n, [])


def attempt_panel(study: Study, data: bytes, filename: str) -> Outcome:
    before = snapshot()
    try:
        n = import_panel(study=study, data=data, filename=filename)
    except ImportRejected as exc:
        assert_clear(exc)
        assert snapshot() == before
        return Outcome(None, exc.problems)
    assert n > 0
    assert snapshot() == (before[0], before[1] + n, before[2] + 1)
    assert n == len(imports.read_table(data, filename).rows)
    pseudonyms = sorted(study.panelists.values_list("pseudonym", flat=True))
    assert pseudonyms == [f"P{i:03d}" for i in range(1, n + 3)]
    return Outcome(n, [])


def assert_clear(exc: ImportRejected) -> None:
    assert 1 <= len(exc.problems) <= imports.MAX_PROBLEMS + 1
    assert all(problem.message.strip() for problem in exc.problems)
    assert len(str(exc).splitlines()) >= len(exc.problems)


# Raw bytes -------------------------------------------------------------------------------

raw = st.binary(max_size=2000)


@settings(FUZZ, max_examples=300)  # cheap: most byte strings are refused on the first line
@given(data=st.one_of(raw, raw.map(lambda b: ITEM_HEADER + b)), filename=FILENAMES)
def test_any_bytes_give_a_clear_rejection_or_a_full_item_import(
    study: Study, data: bytes, filename: str
) -> None:
    with rolled_back():
        attempt_items(study, data, filename)


@settings(FUZZ, max_examples=300)
@given(data=st.one_of(raw, raw.map(lambda b: PANEL_HEADER + b)), filename=FILENAMES)
def test_any_bytes_give_a_clear_rejection_or_a_full_panel_import(
    study: Study, data: bytes, filename: str
) -> None:
    with rolled_back():
        attempt_panel(study, data, filename)


# Structured CSV --------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ACCENTS = "éèêëàâçôûüïîÉÀÇ"  # all >= 0xC0 in Latin-1: a Latin-1 file never reads as UTF-8
PUNCTUATION = " ,;'\".!?()-"
one_line = st.text(LETTERS + ACCENTS + PUNCTUATION, min_size=1, max_size=30)
many_lines = st.text(LETTERS + ACCENTS + PUNCTUATION + "\n\t", min_size=1, max_size=60)
stripped = lambda s: s.map(str.strip).filter(bool)  # noqa: E731
codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True).filter(
    lambda c: c.casefold() not in {"i01", "i02"}
)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]


@dataclass(frozen=True)
class CsvFile:
    data: bytes
    lines: list[int]  # line of each data row, in order
    corruption: str


@st.composite
def csv_file(
    draw: st.DrawFn, header: list[str], rows: list[list[str]], corruptible: bool
) -> CsvFile:
    """`rows` written with a random delimiter, quoting, encoding, header case and blank lines."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=delimiter,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\r\n", "\n"])),
    )
    cased = [draw(st.sampled_from([name, name.upper(), f" {name.title()} "])) for name in header]
    writer.writerow(cased)
    lines = []
    for row in rows:
        for _ in range(draw(st.integers(0, 2) if draw(st.booleans()) else st.just(0))):
            writer.writerow([])
        lines.append(out.getvalue().count("\n") + 1)
        writer.writerow(row)
    text = out.getvalue()
    data = text.encode(draw(st.sampled_from(ENCODINGS)))
    corruption = draw(st.sampled_from(["none", "truncate", "flip"])) if corruptible else "none"
    if corruption == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif corruption == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return CsvFile(data, lines, corruption)


@st.composite
def item_rows(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    n = draw(st.integers(1, 8))
    row_codes = draw(st.lists(codes, min_size=n, max_size=n, unique_by=str.casefold))
    header = draw(st.permutations(["code", "domain", "text_fr", "text_nl", "text_en"]))
    rows = []
    for code in row_codes:
        values = {"code": code, "domain": draw(stripped(one_line) | st.just(""))}
        values |= {f"text_{lang}": draw(stripped(many_lines)) for lang in LANGUAGES}
        rows.append([values[name] for name in header])
    return header, rows


@FUZZ
@given(table=item_rows(), data=st.data())
def test_a_well_formed_item_file_imports_whatever_its_dialect(
    study: Study, table: tuple[list[str], list[list[str]]], data: st.DataObject
) -> None:
    header, rows = table
    file = data.draw(csv_file(header, rows, corruptible=True))
    with rolled_back():
        outcome = attempt_items(study, file.data, "items.csv")
        if file.corruption == "none":
            assert outcome.rows == len(rows), outcome.problems
            for row in rows:
                values = dict(zip(header, row, strict=True))
                item = study.items.get(code=values["code"])
                assert item.text == {lang: values[f"text_{lang}"] for lang in LANGUAGES}
                domain = values["domain"]
                assert item.domain == ({lang: domain for lang in LANGUAGES} if domain else {})


BAD_ITEM_CELLS = {
    "code": ["", "has space", "x" * 41, "I01", "ë1"],
    "text_fr": ["", "y" * 1001, "bell\x07"],
    "text_en": ["", "z" * 1500],
    "domain": ["d" * 201, "two\nlines"],
}


@FUZZ
@given(table=item_rows(), data=st.data())
def test_a_bad_item_cell_rejects_the_file_at_its_line_and_column(
    study: Study, table: tuple[list[str], list[list[str]]], data: st.DataObject
) -> None:
    header, rows = table
    column = data.draw(st.sampled_from(sorted(BAD_ITEM_CELLS)))
    index = data.draw(st.integers(0, len(rows) - 1))
    rows[index][header.index(column)] = data.draw(st.sampled_from(BAD_ITEM_CELLS[column]))
    assume(any(cell for cell in rows[index]))
    file = data.draw(csv_file(header, rows, corruptible=False))
    with rolled_back():
        outcome = attempt_items(study, file.data, "items.csv")
    assert outcome.rows is None
    assert (file.lines[index], column) in {(p.line, p.column) for p in outcome.problems}


@FUZZ
@given(table=item_rows(), data=st.data())
def test_a_repeated_code_rejects_the_file_and_names_the_first_line(
    study: Study, table: tuple[list[str], list[list[str]]], data: st.DataObject
) -> None:
    header, rows = table
    first = data.draw(st.integers(0, len(rows) - 1))
    copy = list(rows[first])
    copy[header.index("code")] = copy[header.index("code")].swapcase()
    rows.append(copy)
    file = data.draw(csv_file(header, rows, corruptible=False))
    with rolled_back():
        outcome = attempt_items(study, file.data, "items.csv")
    assert outcome.rows is None
    duplicate = [p for p in outcome.problems if p.line == file.lines[-1] and p.column == "code"]
    assert duplicate
    assert f"already on line {file.lines[first]}" in duplicate[0].message


@st.composite
def panel_rows(draw: st.DrawFn) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and each row's expected language code."""
    n = draw(st.integers(1, 8))
    local = st.from_regex(r"[a-z0-9]{1,8}([._+-][a-z0-9]{1,8}){0,2}", fullmatch=True)
    domain = st.sampled_from(["example.org", "Example.BE", "mail.ex-ample.com"])
    emails = st.builds(lambda a, b: f"{a}@{b}", local, domain)
    row_emails = draw(st.lists(emails, min_size=n, max_size=n, unique_by=str.casefold))
    header = draw(st.permutations(["email", "name", "language", "group"]))
    spellings = [
        ("fr", "fr"),
        ("FR", "fr"),
        ("Français", "fr"),
        ("francais", "fr"),
        ("Nederlands", "nl"),
        ("NL", "nl"),
        ("English", "en"),
        ("Engels", "en"),
    ]
    rows, languages = [], []
    for email in row_emails:
        written, code = draw(st.sampled_from(spellings))
        values = {
            "email": email,
            "name": draw(stripped(one_line) | st.just("")),
            "language": written,
            "group": draw(st.sampled_from(["", "solo practice", "Groupe médical"])),
        }
        rows.append([values[name] for name in header])
        languages.append(code)
    return header, rows, languages


@FUZZ
@given(table=panel_rows(), data=st.data())
def test_a_well_formed_panel_file_imports_whatever_its_dialect(
    study: Study, table: tuple[list[str], list[list[str]], list[str]], data: st.DataObject
) -> None:
    header, rows, languages = table
    file = data.draw(csv_file(header, rows, corruptible=True))
    with rolled_back():
        outcome = attempt_panel(study, file.data, "panel.csv")
        if file.corruption == "none":
            assert outcome.rows == len(rows), outcome.problems
            for number, (row, language) in enumerate(zip(rows, languages, strict=True), 3):
                values = dict(zip(header, row, strict=True))
                panelist = study.panelists.get(email=values["email"])
                assert panelist.pseudonym == f"P{number:03d}"
                assert (panelist.name, panelist.language, panelist.group) == (
                    values["name"],
                    language,
                    values["group"],
                )


BAD_PANEL_CELLS = {
    "email": ["", "no-at-sign", "two@@example.org", "a b@example.org"],
    "language": ["", "Klingon", "de", "Deutsch"],
    "name": ["n" * 201, "tab\there"],
    "group": ["g" * 81],
}


@FUZZ
@given(table=panel_rows(), data=st.data())
def test_a_bad_panel_cell_rejects_the_file_at_its_line_and_column(
    study: Study, table: tuple[list[str], list[list[str]], list[str]], data: st.DataObject
) -> None:
    header, rows, _languages = table
    column = data.draw(st.sampled_from(sorted(BAD_PANEL_CELLS)))
    index = data.draw(st.integers(0, len(rows) - 1))
    rows[index][header.index(column)] = data.draw(st.sampled_from(BAD_PANEL_CELLS[column]))
    file = data.draw(csv_file(header, rows, corruptible=False))
    with rolled_back():
        outcome = attempt_panel(study, file.data, "panel.csv")
    assert outcome.rows is None
    assert (file.lines[index], column) in {(p.line, p.column) for p in outcome.problems}


# Workbooks -------------------------------------------------------------------------------

cell_values = st.one_of(
    st.none(),
    stripped(one_line),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
)


def workbook_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@settings(FUZZ, max_examples=40)
@given(
    header=st.lists(st.sampled_from(["code", "domain", "text_fr", "text_nl", "text_en", "x"])),
    body=st.lists(st.lists(cell_values, max_size=7), max_size=6),
    damage=st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 255))),
)
def test_any_workbook_gives_a_clear_rejection_or_a_full_item_import(
    study: Study,
    header: list[str],
    body: list[list[object]],
    damage: tuple[int, int] | None,
) -> None:
    data = workbook_bytes([list(header), *body])
    if damage is not None:
        at = damage[0] % len(data)
        data = data[:at] + bytes([damage[1]]) + data[at + 1 :]
    with rolled_back():
        attempt_items(study, data, "items.xlsx")


def test_a_workbook_that_inflates_too_much_is_rejected(study: Study) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", " " * (imports.MAX_XLSX_UNCOMPRESSED_BYTES))
    outcome = attempt_items(study, out.getvalue(), "bomb.xlsx")
    assert outcome.rows is None
    assert "too large once uncompressed" in outcome.problems[0].message

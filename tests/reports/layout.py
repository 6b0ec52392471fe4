"""Where the words of a PDF landed, read back with poppler's ``pdftotext -bbox``: for the
tests that no text is printed over other text (footers, chart labels)."""

from __future__ import annotations

import html
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_PAGE = re.compile(r"<page\b[^>]*>(.*?)</page>", re.S)
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
)


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlap(self, other: Word) -> float:
        """The share of the smaller box that the two boxes have in common."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        if w <= 0 or h <= 0:
            return 0.0
        smaller = min(self.area, other.area) or 1.0
        return w * h / smaller

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


def words(pdf: bytes, first: int | None = None, last: int | None = None) -> list[Word]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.pdf"
        path.write_bytes(pdf)
        pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
        out = subprocess.run(
            ["pdftotext", "-bbox", *pages, str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    found = []
    for number, page in enumerate(_PAGE.findall(out), start=first or 1):
        for x0, y0, x1, y1, text in _WORD.findall(page):
            box = (float(x0), float(y0), float(x1), float(y1))
            found.append(Word(number, html.unescape(text), *box))
    return found


def overprinted(pdf: bytes, *, tolerance: float = 0.15) -> list[tuple[Word, Word]]:
    """Pairs of words on one page whose boxes share more than ``tolerance`` of the smaller
    one: text printed over text."""
    by_page: dict[int, list[Word]] = {}
    for word in words(pdf):
        by_page.setdefault(word.page, []).append(word)
    clashes = []
    for page in by_page.values():
        page.sort(key=lambda w: w.x0)
        for i, a in enumerate(page):
            for b in page[i + 1 :]:
                if b.x0 >= a.x1:
                    break
                if a.overlap(b) > tolerance:
                    clashes.append((a, b))
    return clashes

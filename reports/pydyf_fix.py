"""Two fixes for the cost of pydyf (WeasyPrint's PDF writer), installed on import.

``pydyf.PDF.page_references`` builds a new tuple of every page's reference each time it is
read, and WeasyPrint reads it once for every element it tags (PDF/UA) and every anchor it
writes. A report of N pages with E tagged elements therefore costs E x N encodes: for the
200-sheet report (412 pages, tens of thousands of tagged elements) that was the largest
single cost of writing the PDF. Here the tuple is built once per page count and reused;
the references, and so the PDF, are the same (tests/reports/test_pydyf_fix.py).

pydyf also compresses every content stream at zlib's slowest level (9). At the default
level (6) writing the 200 sheets of the report benchmark took 3.8 s instead of 4.4 s, for
a file 4 % larger (1.60 against 1.54 MB): pydyf sees a zlib whose ``compressobj`` ignores
the level it asks for.
"""

from __future__ import annotations

import zlib
from typing import Any

import pydyf

LEVEL = 6  # zlib's own default: nearly the size of level 9, in far less time

_original = pydyf.PDF.page_references


def _page_references(self: Any) -> tuple[bytes, ...]:
    kids = self.pages["Kids"]
    cached = self.__dict__.get("_delphi_page_references")
    if cached is None or cached[0] != len(kids):
        cached = (len(kids), _original.fget(self))
        self.__dict__["_delphi_page_references"] = cached
    return cached[1]


class _Zlib:
    """zlib as pydyf sees it: the same, except that compressobj uses ``LEVEL``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level: int = LEVEL, *args: Any, **kwargs: Any) -> Any:
        return zlib.compressobj(LEVEL, *args, **kwargs)


def install() -> None:
    """Replace the property and pydyf's zlib (idempotent)."""
    if pydyf.PDF.page_references is not _installed:
        pydyf.PDF.page_references = _installed
    if not isinstance(pydyf.zlib, _Zlib):
        pydyf.zlib = _Zlib()


_installed = property(_page_references)
install()

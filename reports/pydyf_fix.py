"""A fix for a quadratic cost in pydyf (WeasyPrint's PDF writer), installed on import.

``pydyf.PDF.page_references`` builds a new tuple of every page's reference each time it is
read, and WeasyPrint reads it once for every element it tags (PDF/UA) and every anchor it
writes. A report of N pages with E tagged elements therefore costs E x N encodes: for the
200-sheet report (412 pages, tens of thousands of tagged elements) that was the largest
single cost of writing the PDF. Here the tuple is built once per page count and reused;
the references, and so the PDF, are the same (tests/reports/test_pydyf_fix.py).
"""

from __future__ import annotations

from typing import Any

import pydyf

_original = pydyf.PDF.page_references


def _page_references(self: Any) -> tuple[bytes, ...]:
    kids = self.pages["Kids"]
    cached = self.__dict__.get("_delphi_page_references")
    if cached is None or cached[0] != len(kids):
        cached = (len(kids), _original.fget(self))
        self.__dict__["_delphi_page_references"] = cached
    return cached[1]


def install() -> None:
    """Replace the property (idempotent)."""
    if pydyf.PDF.page_references is not _installed:
        pydyf.PDF.page_references = _installed


_installed = property(_page_references)
install()

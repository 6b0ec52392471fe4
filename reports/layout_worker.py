"""A layout worker: lays out report parts with WeasyPrint in a process of its own.

Run as ``python -m reports.layout_worker`` by `reports.parts`; no Django. It reads one JSON
line on stdin: the stylesheet file, the PDF options and the parts to lay out (an HTML file
each). It lays them out, writes one JSON line with each part's page count and where its
anchors landed and writes the parts' PDFs; then it waits for one JSON line giving each
part's first page number and the total, stamps the numbers
(`reports.assemble.number_pages`) and saves each part's PDF next to its HTML, answering with
a last JSON line. Laying out and writing first and numbering after lets every part be laid
out and written at once, before anyone knows on which page it starts.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from weasyprint import CSS, HTML, Document
from weasyprint.urls import URLFetcher

from reports import pydyf_fix  # noqa: F401  (installs the fix on import)
from reports.assemble import number_pages
from reports.collector import rare_collections


def _fetcher() -> URLFetcher:
    return URLFetcher(allowed_protocols=["data"])


def main() -> None:
    with rare_collections():
        _work()
        # The documents are thrown away whole, from inside the context: collecting and
        # tearing down their millions of objects one by one would only keep the report
        # waiting (1.5-2 s for two hundred pages).
        sys.stdout.flush()
        os._exit(0)


def _work() -> None:
    spec = json.loads(sys.stdin.readline())
    css = CSS(filename=spec["stylesheet"], url_fetcher=_fetcher())
    options: dict[str, Any] = spec["options"]
    documents: dict[str, Document] = {}
    found: dict[str, Any] = {}
    for name in spec["parts"]:
        html = Path(spec["folder"], f"{name}.html").read_text(encoding="utf-8")
        document = HTML(string=html, url_fetcher=_fetcher()).render(stylesheets=[css], **options)
        documents[name] = document
        anchors = first_pages(document)
        found[name] = {"pages": len(document.pages), "anchors": anchors}
    _say(found)
    # Written while the other parts are still being laid out: the page numbers, which
    # need every part's length, are stamped over the written pages afterwards.
    pdfs: dict[str, tuple[bytes, int]] = {}
    for name in list(documents):
        document = documents.pop(name)
        pdfs[name] = (bytes(document.write_pdf(**options)), len(document.pages))
    numbers = json.loads(sys.stdin.readline())
    for name, (pdf, count) in pdfs.items():
        first, total = numbers[name]
        stamps = numbers_pdf(spec["numbers_css"], first, count, total)
        Path(spec["folder"], f"{name}.pdf").write_bytes(number_pages(pdf, stamps))
    _say({"done": list(pdfs)})


def first_pages(document: Document) -> dict[str, int]:
    """Each anchor's first page (an element broken across pages has it on each)."""
    found: dict[str, int] = {}
    for index, page in enumerate(document.pages):
        for anchor in page.anchors:
            found.setdefault(anchor, index)
    return found


def numbers_pdf(css: str, first: int, count: int, total: int) -> bytes:
    """``count`` pages whose only content is the page number, "first / total" onwards,
    in the report's bottom-right margin box (``css`` sets the page and the box)."""
    pages = "".join(
        f'<div style="string-set: number &quot;{n} / {total}&quot;"></div>'
        for n in range(first, first + count)
    )
    html = f"<html><head><style>{css}</style></head><body>{pages}</body></html>"
    data = HTML(string=html, url_fetcher=_fetcher()).write_pdf()
    assert data is not None
    return bytes(data)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The report laid out in parts, in parallel, and assembled into one tagged PDF.

WeasyPrint lays out one document in one process. A long report (hundreds of sheets) is
cut where a page break falls anyway: the front (title page, contents), the body (summary,
methods to attrition), runs of sheets and runs of appendix items. Worker processes
(`reports.layout_worker`, one per CPU by default, `DELPHI_REPORT_WORKERS`) lay the parts
out at once and report their page counts and where their anchors landed; then the page
numbers are known: the workers stamp them and write each part, while this process lays out
the front again with the contents' real page numbers; `reports.assemble.merge` joins the
parts, structure tree, outline and links included.

Workers are processes of their own (``python -m reports.layout_worker``), not a
multiprocessing pool, so that a Celery worker of any pool can start them.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from weasyprint import HTML

from reports import assemble
from reports.layout_worker import first_pages, numbers_pdf

APPENDIX_RUN = 25  # appendix items per unit of work
Progress = Callable[[int, str], None]


@dataclass
class Part:
    """A run of the report laid out on its own: its template flags and its weight."""

    name: str
    flags: dict[str, Any]
    weight: int = 0
    units: list[dict[str, Any]] = field(default_factory=list)


def workers() -> int:
    """How many layout processes: DELPHI_REPORT_WORKERS, else one per CPU."""
    configured = int(getattr(settings, "DELPHI_REPORT_WORKERS", 0) or 0)
    return max(1, configured or os.cpu_count() or 1)


def plan(context: dict[str, Any], count: int) -> list[Part]:
    """The body, sheets and appendix as ``count`` contiguous parts of about equal weight
    (weight: `_weight`, about how long each unit of work takes to lay out and write)."""
    units: list[tuple[str, Any, int]] = [("body", None, _weight(context, {"body": True}))]
    units += [("sheet", s, _weight(context, {"sheets": [s]})) for s in context["sheets"]]
    appendix = context["appendix"]
    for start in range(0, len(appendix), APPENDIX_RUN):
        run = appendix[start : start + APPENDIX_RUN]
        units.append(("appendix", (start, run), _weight(context, {"appendix": run})))
    total = sum(w for _k, _u, w in units)
    parts: list[Part] = []
    current: list[tuple[str, Any, int]] = []
    for unit in units:
        current.append(unit)
        done = sum(w for _k, _u, w in current) + sum(p.weight for p in parts)
        if done >= total * (len(parts) + 1) / count and len(parts) < count - 1:
            parts.append(_part(len(parts) + 1, current))
            current = []
    if current:
        parts.append(_part(len(parts) + 1, current))
    return parts


def _weight(context: dict[str, Any], flags: dict[str, Any]) -> int:
    """About how long a unit takes to lay out and write, in hundredths of a sheet. Set from
    the parts' own timings in `benchmarks/report.py` (200 sheets resting on 2 items each, 2
    criteria, two workers finishing within half a second of each other): a sheet about
    70 ms, an appendix item two ninths of a sheet (about 15 ms), the body (summary, methods to
    attrition) an eighth of a sheet per item and criterion, at least eight sheets, plus a
    sheet per 30 sheets for the summary's lists."""
    if flags.get("body"):
        body = max(len(context["appendix"]) * len(context["criteria"]) // 8, 8)
        return 100 * (body + len(context["sheets"]) // 30)
    if flags.get("sheets"):
        return 100 * len(flags["sheets"])
    return 100 * len(flags.get("appendix", [])) * 2 // 9


def _part(index: int, units: list[tuple[str, Any, int]]) -> Part:
    flags: dict[str, Any] = {"body": False, "sheets": [], "appendix": []}
    for kind, unit, _w in units:
        if kind == "body":
            flags["body"] = True
        elif kind == "sheet":
            flags["sheets"].append(unit)
        else:
            start, run = unit
            flags["appendix_head"] = flags.get("appendix_head", start == 0)
            flags["appendix"] += run
    continued = flags["appendix"] and not flags.get("appendix_head") and not flags["sheets"]
    flags["section"] = _("Appendix: results of every item") if continued else ""
    return Part(f"part-{index:02d}", flags, sum(w for _k, _u, w in units))


Worker = subprocess.Popen[str]


@contextmanager
def started(count: int) -> Iterator[list[Worker]]:
    """``count`` layout processes, started at once (each waits for its work on stdin),
    and on the way out stopped if they are still running (an error, or unused) and their
    pipes closed."""
    procs: list[Worker] = []
    try:
        command, pipe = [sys.executable, "-m", "reports.layout_worker"], subprocess.PIPE
        for _ in range(count):
            worker = subprocess.Popen(command, stdin=pipe, stdout=pipe, text=True,
                                      cwd=settings.BASE_DIR)  # fmt: skip
            procs.append(worker)
        yield procs
    finally:
        _stop(procs)


def _stop(procs: list[Worker]) -> None:
    """Kill the processes still running, reap them and close their pipes."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()


def render(
    context: dict[str, Any],
    css_text: str,
    options: dict[str, Any],
    page_style: Callable[..., str],
    progress: Progress,
    procs: list[Worker],
) -> bytes:
    """The report's PDF from parts laid out by the started processes ``procs``."""
    count = len(procs)
    parts = plan(context, count)
    progress(20, _("Laying out the report in %(n)d parts") % {"n": len(parts) + 1})
    with tempfile.TemporaryDirectory(prefix="delphi-report-") as tmp:
        folder = Path(tmp)
        (folder / "report.css").write_text(css_text, encoding="utf-8")
        for part in parts:
            flags = {**part.flags, "front": False}
            style = page_style(numbered=False, section=part.flags["section"])
            html = render_to_string(
                "reports/pdf/report.html", {**context, "part": flags, "page_style": style}
            )
            (folder / f"{part.name}.html").write_text(html, encoding="utf-8")
        batches = _batches([p.name for p in parts], count)
        busy = procs[: len(batches)]
        _stop(procs[len(batches) :])  # fewer parts than processes: the rest are not needed
        try:
            for proc, batch in zip(busy, batches, strict=True):
                _start(proc, folder, batch, options, css_text)
            front_pdf = _lay_out(context, parts, batches, busy, page_style, css_text, options,
                                 progress)  # fmt: skip
        finally:
            _stop(busy)  # on an error, before the folder they write into is removed
        progress(80, _("Assembling the parts"))
        pdfs = [front_pdf, *[(folder / f"{p.name}.pdf").read_bytes() for p in parts]]
        return assemble.merge(pdfs, [0, *[_nested(p) for p in parts]])


def _lay_out(
    context: dict[str, Any],
    parts: list[Part],
    batches: list[list[str]],
    procs: list[Worker],
    page_style: Callable[..., str],
    css_text: str,
    options: dict[str, Any],
    progress: Progress,
) -> bytes:
    """While the workers lay out the parts, lay out the front with provisional page
    numbers; then number every part and lay the front out again with the real ones.
    Returns the front's PDF (the workers write theirs)."""
    front = _front(context, {}, page_style)
    provisional = HTML(string=front, url_fetcher=_fetcher()).render(**_css(css_text, options))
    counts = {}
    anchors: dict[str, Any] = dict(first_pages(provisional))
    for proc in procs:
        for name, info in _read(proc).items():
            counts[name] = info["pages"]
            anchors.update({a: (name, i) for a, i in info["anchors"].items()})
    progress(60, _("Numbering the pages"))
    first_page = len(provisional.pages) + 1
    starts, total = _starts([p.name for p in parts], counts, first_page)
    for proc, batch in zip(procs, batches, strict=True):
        _send(proc, {name: [starts[name], total] for name in batch})
    pages = _pages(anchors, starts)
    front_pdf = _final_front(context, pages, page_style, css_text, options, total,
                             len(provisional.pages))  # fmt: skip
    for proc in procs:
        _read(proc)
        proc.wait(timeout=60)
    return front_pdf


def _nested(part: Part) -> int:
    """How many of the part's first outline items belong to the previous part's chapter:
    its sheets (under "Recommendations"), or its appendix items when it continues it."""
    if part.flags["body"]:
        return 0
    if part.flags["sheets"]:
        return len(part.flags["sheets"])
    return 0 if part.flags.get("appendix_head") else len(part.flags["appendix"])


def _batches(names: list[str], count: int) -> list[list[str]]:
    """Parts were planned one per worker; with fewer parts, fewer workers."""
    return [[name] for name in names][:count] or [[]]


def _start(
    proc: Worker, folder: Path, batch: list[str], options: dict[str, Any], css_text: str
) -> None:
    spec = {
        "folder": str(folder),
        "stylesheet": str(folder / "report.css"),
        "options": options,
        "parts": batch,
        "numbers_css": numbers_css(css_text),
    }
    _send(proc, spec)


def _send(proc: Worker, message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def _read(proc: Worker) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=60)
        raise RuntimeError(f"a layout worker stopped (exit code {proc.returncode})")
    found: dict[str, Any] = json.loads(line)
    return found


def _starts(names: list[str], counts: dict[str, int], first: int) -> tuple[dict[str, int], int]:
    starts, page = {}, first
    for name in names:
        starts[name] = page
        page += counts[name]
    return starts, page - 1


def _pages(anchors: dict[str, Any], starts: dict[str, int]) -> dict[str, int]:
    """Each anchor's page number in the assembled report."""
    pages = {}
    for anchor, where in anchors.items():
        if isinstance(where, int):
            pages[anchor] = where + 1
        else:
            name, index = where
            pages[anchor] = starts[name] + index
    return pages


def _front(context: dict[str, Any], pages: dict[str, int], page_style: Callable[..., str]) -> str:
    """The title page and the contents (laid out twice: before and after the page numbers
    are known, so it holds nothing else; the summary opens the body); links to the other
    parts point at empty anchors here, and `reports.assemble.merge` sends them to the real
    ones."""
    elsewhere = [e["anchor"] for e in context["toc"]] + [s["anchor"] for s in context["sheets"]]
    flags = {
        "front": True,
        "placeholders": elsewhere,
        "pages": {a: _page_label(pages.get(a)) for a in elsewhere},
    }
    style = page_style(numbered=False)
    return render_to_string(
        "reports/pdf/report.html", {**context, "part": flags, "page_style": style}
    )


def _page_label(number: int | None) -> str:
    """A page number padded with figure spaces (as wide as a digit) to four places, so
    that the contents take the same room before and after the numbers are known."""
    return (str(number) if number else "8888").rjust(4, "\u2007")


def _final_front(
    context: dict[str, Any],
    pages: dict[str, int],
    page_style: Callable[..., str],
    css_text: str,
    options: dict[str, Any],
    total: int,
    expected: int,
) -> bytes:
    """The front laid out again with the contents' page numbers, then numbered."""
    html = _front(context, pages, page_style)
    document = HTML(string=html, url_fetcher=_fetcher()).render(**_css(css_text, options))
    if len(document.pages) != expected:
        raise RuntimeError("the front changed length once its page numbers were known")

    pdf = document.write_pdf(**options)
    assert pdf is not None
    stamps = numbers_pdf(numbers_css(css_text), 1, len(document.pages), total)
    return assemble.number_pages(bytes(pdf), stamps)


def numbers_css(css_text: str) -> str:
    """The report's stylesheet with every margin box emptied but the page number, which
    reads each page's ``number`` string."""
    return css_text + (
        " @page { @top-left { content: none } @top-right { content: none }"
        " @bottom-left { content: none } @bottom-center { content: none }"
        " @bottom-right { content: string(number) } }"
        " @page title { @bottom-right { content: string(number) } }"
        " body > div { break-before: page; height: 0 }"
    )


def _css(css_text: str, options: dict[str, Any]) -> dict[str, Any]:
    from weasyprint import CSS

    return {"stylesheets": [CSS(string=css_text, url_fetcher=_fetcher())], **options}


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=["data"])

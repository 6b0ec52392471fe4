"""A report laid out in parts by several processes is one tagged PDF: every page numbered
in one sequence, one structure tree whose parent tree maps each page's marked content,
links from the contents that reach sheets laid out elsewhere, one outline."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pikepdf
import pytest
from pypdf import PdfReader

from reports import parts, pdf
from reports.pdf import render_report_pdf
from rounds.models import Study
from tests.reports.helpers import finished_study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def rendered(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[bytes, bytes]]:
    """The same study's report laid out whole, then in parts by two workers."""
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        study = finished_study(n_items=8, n_recommendations=6, simulated=True)
        try:
            whole = render_report_pdf(study)
            patch.setattr(pdf, "PARALLEL_FROM", 1)
            patch.setattr(parts, "workers", lambda: 2)
            patch.setattr(parts, "APPENDIX_RUN", 3)
            yield whole, render_report_pdf(study)
        finally:
            Study.objects.filter(pk=study.pk).delete()


def _poppler(data: bytes, page: int) -> str:
    """One page's text as poppler reads it (pypdf loses the contents' figure spaces)."""
    done = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-", "-"],
                          input=data, capture_output=True, check=True)  # fmt: skip
    return done.stdout.decode()


def _texts(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def test_every_page_carries_its_number_in_one_sequence(rendered: tuple[bytes, bytes]) -> None:
    texts = _texts(rendered[1])

    for number, text in enumerate(texts, start=1):
        assert f"{number} / {len(texts)}" in text, number


def test_the_parent_tree_maps_every_marked_content_of_every_page(
    rendered: tuple[bytes, bytes],
) -> None:
    merged = pikepdf.open(io.BytesIO(rendered[1]))
    tree = merged.Root.StructTreeRoot
    nums = tree.ParentTree.Nums
    parents = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}

    assert len(parents) == len(nums) // 2 and int(tree.ParentTreeNextKey) == max(parents) + 1
    for page in merged.pages:
        elements = parents[int(page.obj.StructParents)]
        mcids = {
            int(operands[1].MCID)
            for operands, operator in pikepdf.parse_content_stream(page)
            if operator == pikepdf.Operator("BDC") and "/MCID" in operands[1]
        }
        assert mcids <= set(range(len(elements)))
        assert all(el.Pg.objgen == page.obj.objgen for el in elements if "/Pg" in el)
        for annot in page.obj.get("/Annots", []):
            assert parents[int(annot.StructParent)].objgen  # its Link element


def test_one_document_element_holds_every_parts_elements(rendered: tuple[bytes, bytes]) -> None:
    whole, merged = (pikepdf.open(io.BytesIO(d)) for d in rendered)

    def kinds(pdf: pikepdf.Pdf) -> list[str]:
        return [str(kid.S) for kid in pdf.Root.StructTreeRoot.K[0].K]

    document = merged.Root.StructTreeRoot.K[0]
    assert len(merged.Root.StructTreeRoot.K) == 1
    assert all(kid.P.objgen == document.objgen for kid in document.K)
    assert kinds(merged).count("/Art") == kinds(whole).count("/Art") >= 6  # the sheets
    assert merged.Root.MarkInfo.Marked and str(merged.Root.Lang) == "en"


def test_links_from_the_contents_reach_sheets_laid_out_elsewhere(
    rendered: tuple[bytes, bytes],
) -> None:
    merged = pikepdf.open(io.BytesIO(rendered[1]))
    flat = merged.Root.Names.Dests.Names
    dests = {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    texts = _texts(rendered[1])

    contents = " ".join(_poppler(rendered[1], 2).split())
    for n in range(1, 7):
        page = merged.pages.index(pikepdf.Page(dests[f"rec-{n}"][0]))
        assert f"RECOMMENDATION {n}" in texts[page].upper()
        assert re.search(rf"{n}\. Recommendation number {n} on I0\d[ .]*{page + 1}\b", contents)
    links = [a for p in merged.pages for a in p.obj.get("/Annots", []) if "/Dest" in a]
    assert links and all(str(a.Dest) in dests for a in links)


def test_one_outline_with_the_sheets_under_recommendations(rendered: tuple[bytes, bytes]) -> None:
    merged = pikepdf.open(io.BytesIO(rendered[1]))

    with merged.open_outline() as outline:
        top = {item.title: item for item in outline.root}
        sheets = [child.title for child in top["Recommendations"].children]
        assert [t.startswith(f"Recommendation number {n}") for n, t in enumerate(sheets, 1)]
        assert len(sheets) == 6
        assert len(top["Appendix: results of every item"].children) == 8


def test_the_parts_say_what_the_whole_says(rendered: tuple[bytes, bytes]) -> None:
    def words(data: bytes) -> set[str]:
        text = " ".join(_texts(data))
        text = re.sub(r"\d+ / \d+|\d+:\d+", "", text)  # page numbers, the time it was made
        return {w for w in text.split() if w.strip(".0123456789")}

    assert words(rendered[1]) == words(rendered[0])


def test_the_front_is_the_title_page_and_contents_and_the_summary_opens_the_body(
    rendered: tuple[bytes, bytes],
) -> None:
    """Only the title page and the contents are laid out twice; the summary, laid out once
    in the body part, starts on the page the contents give, in the whole report too."""
    for data in rendered:
        contents = " ".join(_poppler(data, 2).split())
        found = re.search(r"Summary[ .\u2007]*(\d+)\b", contents)
        assert found, contents[:200]
        page = int(found.group(1))
        assert page > 2
        top = " ".join(_poppler(data, page).split()[:12])
        assert "Summary" in top and "Contents" not in top
        assert "Contents" in " ".join(_poppler(data, page - 1).split()[:12])  # just before


def test_started_layout_processes_are_stopped_when_the_report_fails_before_using_them() -> None:
    with pytest.raises(RuntimeError, match="context failed"), parts.started(2) as procs:
        assert all(proc.poll() is None for proc in procs)
        raise RuntimeError("context failed")
    assert all(proc.returncode is not None for proc in procs)
    assert all(proc.stdin is not None and proc.stdin.closed for proc in procs)


def test_a_failure_after_the_parts_started_stops_them_and_says_what_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The error itself reaches the caller (not a complaint about the temporary folder the
    workers were still writing into), no layout process is left and no folder either."""
    import tempfile

    study = finished_study(n_items=8, n_recommendations=6, simulated=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(pdf, "PARALLEL_FROM", 1)
    monkeypatch.setattr(parts, "workers", lambda: 2)
    seen: list[Any] = []
    real_started = parts.started

    def started(count: int) -> Any:
        manager = real_started(count)
        seen.append(manager)
        return manager

    def broken_front(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("the front changed length once its page numbers were known")

    monkeypatch.setattr(parts, "started", started)
    monkeypatch.setattr(parts, "_final_front", broken_front)
    try:
        with pytest.raises(RuntimeError, match="front changed length"):
            render_report_pdf(study)
    finally:
        Study.objects.filter(pk=study.pk).delete()
    assert list(tmp_path.iterdir()) == []
    assert not _layout_workers_alive()


def _layout_workers_alive() -> list[int]:
    """This process's children that are layout workers and still running."""
    import os
    from pathlib import Path

    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"layout_worker" in cmdline:
            alive.append(int(stat.parent.name))
    return alive

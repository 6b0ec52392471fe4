"""The report PDF: what a reader finds in it, and that its numbers are results.csv's."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from reports.pdf import number, render_report_pdf, report_html, span
from reports.services import build_files
from rounds.models import Study
from tests.reports.helpers import NAMES, finished_study, recommendations
from tests.reports.layout import overprinted, words

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "ci-artifacts" / "report"
SECTIONS = [
    "Summary",
    "Methods",
    "Participant flow",
    "Results by round",
    "Priority matrix",
    "Stability between rounds",
    "Sensitivity of the verdicts",
    "Attrition",
    "Recommendations",
    "Appendix: results of every item",
]


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: list[str]
    results: pd.DataFrame
    titles: list[str]
    stamp: dict[str, Any]

    @property
    def text(self) -> str:
        return "\n".join(self.pages)

    @property
    def appendix(self) -> str:
        """The appendix pages (their running header names the section; page 2 is the TOC)."""
        return "\n".join(p for p in self.pages[2:] if "Appendix: results of every item" in p)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def report(django_db_setup: None, django_db_blocker: Any) -> Iterator[Rendered]:
    """One finished, simulated study with two recommendations, rendered once."""
    with django_db_blocker.unblock():
        study = finished_study(simulated=True)
        try:
            built = build_files(study, version=1)
            reader = PdfReader(io.BytesIO(built.files["report.pdf"]))
            yield Rendered(
                pdf=built.files["report.pdf"],
                pages=[page.extract_text() or "" for page in reader.pages],
                results=pd.read_csv(io.BytesIO(built.files["results.csv"])),
                titles=[rec.title for rec in recommendations(study)],
                stamp=built.stamp,
            )
        finally:
            Study.objects.filter(pk=study.pk).delete()


def test_it_opens_with_a_title_page_carrying_the_reproducibility_stamp(report: Rendered) -> None:
    first = _flat(report.pages[0])

    assert "Test study" in first and "(en)" in first
    assert "Report version 1" in first
    assert "Delphi consensus platform 0.1.0" in first
    assert "Hyndman-Fan type 7" in first
    assert report.stamp["protocol_hash"] in first.replace(" ", "")
    assert report.stamp["data_checksum"] in first.replace(" ", "")


def test_its_table_of_contents_gives_a_page_for_every_section(report: Rendered) -> None:
    contents = _flat(report.pages[1])

    assert contents.startswith("Contents") or "Contents" in contents
    for section in SECTIONS:
        assert re.search(re.escape(section) + r"[ .]*\d+", contents), section
    for title in report.titles:
        assert title in contents


def test_it_has_every_section(report: Rendered) -> None:
    for section in SECTIONS:
        assert (
            sum(
                page.lstrip().startswith(section) or f"\n{section}\n" in page
                for page in report.pages
            )
            >= 1
        ), section


def test_every_page_but_the_first_has_a_running_header_and_a_page_number(
    report: Rendered,
) -> None:
    total = len(report.pages)
    for number_, page in enumerate(report.pages[1:], start=2):
        assert "Test study" in page
        assert f"{number_} / {total}" in page
        assert "Simulated data" in page


def test_its_methods_come_from_the_locked_protocol(report: Rendered) -> None:
    methods = _flat(next(p for p in report.pages if "Consensus definitions, set in advance" in p))
    text = _flat(report.text)

    assert "locked when it opened" in text
    assert "percent agreement, at least 75%" in text
    assert "at most 2 rounds" in text
    assert "their own rating in the previous round" in text
    assert "Hyndman-Fan type 7" in text
    assert "The protocol was not changed after it was locked." in text
    assert "ACCORD, CREDES and DELPHISTAR" in text
    assert "Reporting checklist" in text
    assert methods


def test_its_participant_flow_counts_responses_and_drop_outs(report: Rendered) -> None:
    flow = _flat(next(p for p in report.pages if p.lstrip().startswith("Participant flow")))

    assert "Round 1 10 10 100% –" in flow
    assert "Round 2 10 8 80% 2" in flow


def test_its_attrition_section_compares_those_who_left_with_those_who_stayed(
    report: Rendered,
) -> None:
    text = _flat(report.text)

    assert "8 also answered round 2 and 2 did not" in text


def test_it_gives_each_recommendation_one_sheet(report: Rendered) -> None:
    for index, title in enumerate(report.titles, start=1):
        sheets = [p for p in report.pages if re.search(rf"RECOMMENDATION {index}\s", p)]
        assert len(sheets) == 1, title
        sheet = _flat(sheets[0])
        assert title in sheet
        assert "Actors concerned: Individual GP · Health system" in sheet
        assert "Pilot for a year, then evaluate." in sheet
        assert "<script>x</script>" in sheet  # raw HTML is shown as text, never run


def test_a_sheet_shows_each_items_numbers_per_criterion_and_round(report: Rendered) -> None:
    sheet = _flat(next(p for p in report.pages if re.search(r"RECOMMENDATION 1\s", p)))
    rows = report.results[report.results["item"] == "I01"]

    for row in rows.itertuples():
        expected = (
            f"round {row.round}: median {number(row.median)} (IQR {span(row.q1, row.q3)}), "
            f"{number(row.pct_high, 0, strip=False)}% in the high band"
        )
        assert expected in sheet
    assert "The panel's verdict on the items this recommendation rests on" in sheet


def test_a_sheet_quotes_dissent_without_names_or_addresses(report: Rendered) -> None:
    text = report.text

    assert "Dissenting comments" in text or "who pays for it" not in text
    assert "[e-mail removed]" in text
    assert "@" not in text
    for name in NAMES:
        assert name not in text


def test_its_appendix_prints_every_row_of_results_csv(report: Rendered) -> None:
    appendix = _flat(report.appendix)

    for row in report.results.itertuples():
        line = (
            f"n {row.n} ({row.n_missing} missing) · mean {number(row.mean, 2, strip=False)} "
            f"(SD {number(row.sd, 2, strip=False)}) · median {number(row.median)} · "
            f"Q1–Q3 {number(row.q1)}–{number(row.q3)} (IQR {number(row.iqr)})"
        )
        assert line in appendix, (row.round, row.item, row.criterion)
        assert f"consensus {row.consensus} (75%), margin {row.margin}" in appendix


def test_its_appendix_includes_rejected_items(report: Rendered) -> None:
    rejected = report.results[report.results["consensus"] == "out"]["item"].unique()
    appendix = report.appendix

    assert len(rejected)
    for code in rejected:
        assert f"{code} Action item" in appendix


def test_it_is_a_tagged_pdf_ua_document_in_the_report_language(report: Rendered) -> None:
    reader = PdfReader(io.BytesIO(report.pdf))
    root = reader.trailer["/Root"]

    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"] in (True, "true")
    assert str(root["/Lang"]) == "en"
    assert b"pdfuaid" in root["/Metadata"].get_object().get_data()
    assert reader.metadata is not None and "Test study" in (reader.metadata.title or "")


def test_its_first_pages_are_kept_as_images_for_ci(report: Rendered) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report.pdf").write_bytes(report.pdf)
    for old in ARTIFACTS.glob("page-*.png"):
        old.unlink()
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "4",
            str(ARTIFACTS / "report.pdf"),
            str(ARTIFACTS / "page"),
        ],
        check=True,
    )

    pages = sorted(ARTIFACTS.glob("page-*.png"))
    assert len(pages) == 4
    assert all(page.stat().st_size > 5_000 for page in pages)


def test_it_writes_the_report_in_the_studys_report_language() -> None:
    study = finished_study(languages=("fr", "nl"), n_recommendations=1)

    pages = [p.extract_text() for p in PdfReader(io.BytesIO(render_report_pdf(study))).pages]

    assert "Test study" in pages[0] and "(fr)" in pages[0]
    text = _flat("\n".join(pages))
    assert "Acceptabilité" in text
    assert re.search(r"\d,\d", text)  # the French decimal comma


def _queries_to_render(n_items: int) -> int:
    study = finished_study(n_items=n_items, n_recommendations=n_items - 1)
    with CaptureQueriesContext(connection) as queries:
        report_html(study)
    return len(queries.captured_queries)


def test_its_query_count_does_not_grow_with_items_or_recommendations(
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    small = _queries_to_render(4)
    large = _queries_to_render(12)

    assert small == large
    assert large <= 20


def test_it_reports_progress_page_by_page_while_laying_out() -> None:
    study = finished_study(n_recommendations=2)
    seen: list[tuple[int, str]] = []

    render_report_pdf(study, progress=lambda percent, step: seen.append((percent, step)))

    percents = [p for p, _ in seen]
    assert percents == sorted(percents)
    layout = [step for p, step in seen if 15 < p < 75]
    assert layout and layout[-1].startswith("Laying out the pages (")
    assert seen[-1][0] == 75


def test_no_text_is_printed_over_other_text(report: Rendered) -> None:
    """The footer's stamp, its "Simulated data" and the page number sit side by side."""
    assert overprinted(report.pdf) == []
    footer = [w.text for w in words(report.pdf, 2, 2) if w.y0 > 780]
    assert "Simulated" in footer and any(re.fullmatch(r"\d{4}-\d\d-\d\d", w) for w in footer)

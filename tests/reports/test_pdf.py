"""The study report PDF: what a reader finds in it, and a query count flat in the items."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader

from panelists.models import Panelist
from reports.pdf import number, render_report_pdf
from rounds.models import Criterion, Result, RoundItem, Study
from tests.factories import default_ratings, make_study, run_round

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# I01 acceptability: median 8, q1 7, q3 8.25 (type 7); 7 of 8 high, so "in" under the 75%
# rule with a margin of 2 (two ratings moved out of the high band would make it 5 of 8).
KNOWN = [6, 7, 7, 8, 8, 8, 9, 9]


def _known_first_item(
    panelist: Panelist, round_item: RoundItem, criterion: Criterion
) -> int | None:
    if round_item.item.code == "I01" and criterion.code == "acceptability":
        return KNOWN[int(panelist.pseudonym[1:]) - 1]
    return _fallback(panelist, round_item, criterion)


_fallback = default_ratings(seed=1)


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def _analysed_study(**kwargs: Any) -> Study:
    study = make_study(**kwargs)
    run_round(study, _known_first_item)
    return Study.objects.get(pk=study.pk)


def _page_of(pages: list[str], code: str) -> str:
    return next(page for page in pages if f"{code} Action item" in page)


def test_it_starts_with_a_title_page_stamped_with_the_protocol() -> None:
    study = _analysed_study()

    first = _pages(render_report_pdf(study))[0]

    assert "Test study" in first and "(en)" in first
    assert "Quantile method" in first
    assert "0.1.0" in first
    assert "Simulated data" not in first


def test_it_says_simulated_data_when_the_ratings_are_simulated() -> None:
    study = _analysed_study(simulated=True)

    pages = _pages(render_report_pdf(study))

    assert "Simulated data" in pages[0]
    assert all("Simulated data" in page for page in pages[1:])  # running header


def test_it_gives_each_item_its_own_page() -> None:
    study = _analysed_study(n_items=4)

    pages = _pages(render_report_pdf(study))

    assert len(pages) >= 4 + 1
    for code in ("I01", "I02", "I03", "I04"):
        assert sum(f"{code} Action item" in page for page in pages) == 1


def test_it_prints_the_stored_median_and_quartiles_of_an_item() -> None:
    study = _analysed_study()
    result = Result.objects.get(
        round_item__item__code="I01", criterion__code="acceptability", round__number=1
    )

    page = _page_of(_pages(render_report_pdf(study)), "I01")

    assert (result.median, result.q1, result.q3) == (8.0, 7.0, 8.25)
    row = f"{number(result.median)} {number(result.q1)} {number(result.q3)}"
    assert row in " ".join(page.split())  # "8 7 8.25" in the Acceptability row


def test_it_flags_a_verdict_that_hangs_on_two_votes() -> None:
    study = _analysed_study()
    result = Result.objects.get(round_item__item__code="I01", criterion__code="acceptability")

    page = " ".join(_page_of(_pages(render_report_pdf(study)), "I01").split())

    assert (result.consensus, result.margin) == ("in", 2)
    assert "in 75% 2 !" in page


def test_it_writes_the_report_in_the_studys_report_language() -> None:
    study = _analysed_study(languages=("fr", "nl"))

    pages = _pages(render_report_pdf(study))

    assert "Test study" in pages[0] and "(fr)" in pages[0]
    page = _page_of(pages, "I01")
    assert "Acceptabilité" in page
    assert "8,25" in page  # q3, with the French decimal comma


def _queries_to_render(n_items: int, django_assert_max_num_queries: Callable[..., Any]) -> int:
    study = _analysed_study(n_items=n_items)
    with django_assert_max_num_queries(10) as queries:
        render_report_pdf(study)
    return len(queries.captured_queries)


def test_its_query_count_does_not_grow_with_the_number_of_items(
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    small = _queries_to_render(4, django_assert_max_num_queries)
    large = _queries_to_render(12, django_assert_max_num_queries)

    assert small == large

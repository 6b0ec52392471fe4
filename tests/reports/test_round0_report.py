"""Round 0 in the report: the methods say what the panel proposed and what became of it,
the participant flow counts it, the appendix gives the items' lineage; no proposer named."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User

from reports.pdf import report_html
from rounds import proposals, services
from rounds.models import Panelist, Study
from rounds.proposals import Draft
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def _text(page: str, section: str) -> str:
    part = page.split(f'id="{section}"')[1].split('<section class="chapter"')[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=4, n_panelists=6)
    Panelist.objects.filter(study=study, pseudonym="P002").update(name="Anne Proposer")
    round_1 = services.round_create(study=study)
    round0 = proposals.proposal_round_open(
        proposal_round=proposals.proposal_round_add(study=study), notify=False
    )
    made = []
    for who, text in (("P002", "Peer support groups run by Anne Proposer."),
                      ("P003", "Support groups between colleagues."),
                      ("P004", "Abolish all paperwork overnight.")):  # fmt: skip
        panelist = study.panelists.get(pseudonym=who)
        proposals.panel_save(
            proposal_round=round0,
            panelist=panelist,
            answers=[],
            drafts=[Draft("Domain 1 (en)", text, "Isolation.", field="x")],
        )
        made.append(panelist.proposals.get())
    boss = User.objects.create_user("boss")
    texts = {code: f"Peer support groups ({code})" for code in study.languages}
    proposals.proposal_accept(proposal=made[0], code="N01", texts=texts, also=[made[1]], by=boss)
    proposals.proposal_decline(proposal=made[2], reason="Outside the study's scope.", by=boss)
    proposals.proposal_round_close(proposal_round=round0)
    assert round_1.round_items.count() == 5
    run_round(study)
    return study


def test_the_methods_describe_round_0_and_its_proposals(study: Study) -> None:
    methods = _text(report_html(study), "methods")
    assert "Round 0: the panel's proposals" in methods
    assert "asked the 6 invited panelists" in methods and "3 answered" in methods
    assert "They made 3 proposals: accepted 1, merged into a similar proposal 1, declined 1" in (
        methods
    )
    assert "R0-03 Domain 1 (en) Abolish all paperwork overnight. Declined" in methods
    assert "Outside the study's scope." in methods


def test_the_participant_flow_counts_round_0(study: Study) -> None:
    flow = _text(report_html(study), "flow")
    assert "Round 0 (proposals) 6 3 50%" in flow
    assert "3 proposals, 1 accepted as items" in flow


def test_the_appendix_gives_the_items_lineage(study: Study) -> None:
    appendix = _text(report_html(study), "appendix")
    assert "N01 Peer support groups (en)" in appendix
    assert "Source: Proposed by the panel (Round 0 proposal R0-01, R0-02)" in appendix


def test_the_report_never_names_the_proposer(study: Study) -> None:
    page = report_html(study)
    assert "Anne Proposer" not in page
    assert "[name removed]" in _text(page, "methods")


def _package(study: Study) -> dict[str, bytes]:
    from reports import exports

    stamp = {"generated_at": "2026-01-01T00:00:00+00:00", "study": study.slug}
    return exports.package(exports.collect_tables(study), stamp, title="t")  # type: ignore[arg-type]


def test_proposals_csv_has_numbers_pseudonyms_and_outcomes_never_names(study: Study) -> None:
    files = _package(study)
    text = files["proposals.csv"].decode()
    lines = text.splitlines()
    assert lines[0] == "number,panelist,domain,text,reason,status,item,decision_reason"
    assert lines[1].startswith("R0-01,P002,Domain 1 (en),Peer support groups run by [name remo")
    assert ",merged,N01," in lines[2] and ",declined,," in lines[3]
    assert "Anne Proposer" not in text
    assert b"proposals.csv" in files["datapackage.json"] and b"proposals.csv" in files["README.txt"]


def test_a_study_without_round_0_has_an_empty_proposals_file() -> None:
    study = make_study(n_items=2, n_panelists=5)
    run_round(study)
    assert _package(study)["proposals.csv"].decode().splitlines() == [
        "number,panelist,domain,text,reason,status,item,decision_reason"
    ]

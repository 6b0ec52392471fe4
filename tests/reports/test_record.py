"""The study record (ACCORD / CREDES items the platform cannot infer): recorded on the
coordinator's page, printed in the report's methods, "not recorded" where missing; panel
characteristics only with consent and never for groups below the smallest group size."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from reports.pdf import report_html
from rounds.models import AuditEntry, Item, Panelist, Study, StudyMembership, StudyRecord
from tests.reports.helpers import finished_study

pytestmark = pytest.mark.django_db


def _methods(study: Study) -> str:
    page = report_html(study)
    part = page.split('id="methods"')[1].split('<section class="chapter"')[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())


def _coordinator(study: Study) -> Client:
    user = User.objects.create_user(f"coord-{study.pk}", password="x")
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def study() -> Study:
    return finished_study(n_items=4, n_panelists=12, dropouts=2)


def test_without_a_record_the_methods_say_what_is_not_recorded(study: Study) -> None:
    text = _methods(study)

    for label in ["Where the items came from", "Eligibility of panelists", "Recruitment",
                  "Non-response", "Why this panel size", "Limitations", "Ethics approval",
                  "Funding", "Conflicts of interest", "Who drafted the recommendations",
                  "How the recommendations were validated",
                  "Why this consensus definition and decision rule"]:  # fmt: skip
        assert f"{label} not recorded" in text, label
    assert "The source of each item: not recorded." in text
    assert "Ethics review, funding, conflicts of interest Methods not recorded" in text


def test_the_record_page_saves_the_record_and_each_items_source(study: Study) -> None:
    client = _coordinator(study)
    url = reverse("study-record", args=[study.slug])
    i01 = Item.objects.get(study=study, code="I01")
    assert (
        "Study record for the report"
        in client.get(reverse("study-detail", args=[study.slug])).content.decode()
    )

    response = client.post(url, {
        "ethics": "Approved by the ULB-Erasme ethics committee on 17 August 2010.",
        "recommendations_validation": "A workshop with experts and stakeholders.",
        f"item-{i01.pk}-source": "interviews", f"item-{i01.pk}-reference": "40 GP interviews",
    })  # fmt: skip

    assert response.status_code == 302
    record = StudyRecord.objects.get(study=study)
    assert record.ethics.startswith("Approved by the ULB-Erasme")
    i01.refresh_from_db()
    assert (i01.source, i01.reference) == ("interviews", "40 GP interviews")
    entry = AuditEntry.objects.get(study=study, action="record.changed")
    assert entry.after["items"] == {"I01": ["interviews", "40 GP interviews"]}
    text = _methods(study)
    assert "Ethics approval Approved by the ULB-Erasme ethics committee on 17 August 2010." in text
    assert "How the recommendations were validated A workshop with experts and stakeholders." in (
        text
    )
    assert "Sources of the items: interviews 1, not recorded 3." in text
    assert "Source: Interviews (40 GP interviews)" in report_html(study)


def test_the_scales_anchor_labels_are_printed(study: Study) -> None:
    study.criteria.filter(code="acceptability").update(
        anchors={"en": {"min": "Not acceptable at all", "max": "Fully acceptable"}}
    )

    text = _methods(study)

    assert "“Not acceptable at all” – “Fully acceptable”" in text


def test_panel_characteristics_need_consent_and_hide_small_groups(study: Study) -> None:
    panel = list(study.panelists.order_by("pseudonym"))
    for i, p in enumerate(panel):
        Panelist.objects.filter(pk=p.pk).update(
            characteristics_consent=i < 11,
            sex="female" if i < 7 else "male",
            region="Brussels" if i == 0 else "",
        )

    text = _methods(study)

    # round 1: 7 women, 4 men (< 5), one without consent; round 2 (the first 10): 7 and 3
    assert "Sex female 7 7 male < 5 < 5 not given < 5 0" in text
    assert "Region Brussels < 5 < 5" in text
    assert "Brussels 1" not in text
    assert "Age band" not in text  # nobody gave it

"""A text shown in another language because its translation is missing carries a lang
attribute of its own (WCAG 3.1.2), on the rating step, the review and the welcome page;
a text in the page's language carries none."""

from __future__ import annotations

import pickle

import pytest
from django.test import Client

from rounds.models import Criterion, Fallback, Item, translated
from tests.factories import make_study
from tests.panelists.test_wizard import consent, login, open_round, step_names

pytestmark = pytest.mark.django_db


def test_translated_marks_only_a_text_taken_from_another_language() -> None:
    texts = {"fr": "Texte", "nl": "Tekst"}
    assert not isinstance(translated(texts, "fr", ["nl"]), Fallback)
    found = translated(texts, "en", ["nl", "fr"])
    assert (found, found.lang) == ("Tekst", "nl")  # type: ignore[attr-defined]
    assert translated({}, "en", ["fr"]) == ""
    again = pickle.loads(pickle.dumps(found))  # the cache keeps it as it is
    assert (again, again.lang) == ("Tekst", "nl")


def test_the_step_review_and_welcome_mark_a_text_shown_in_another_language() -> None:
    study = make_study(n_items=2, n_panelists=1)
    untranslated = Item.objects.filter(study=study).order_by("code").first()
    assert untranslated is not None
    untranslated.text = {"nl": "Alleen in het Nederlands"}
    untranslated.save(update_fields=["text"])
    criterion = Criterion.objects.filter(study=study).order_by("pk").first()
    assert criterion is not None
    criterion.name = {"fr": "Acceptabilité"}
    criterion.save(update_fields=["name"])
    open_round(study)
    client = Client()
    login(client, study.panelists.get(), language="en")
    welcome = client.get("/p/").content.decode()
    assert '<span lang="fr">Acceptabilité</span>' in welcome
    consent(client)
    step = client.get(f"/p/rate/{step_names(client)[0]}/").content.decode()
    assert '<span lang="nl">Alleen in het Nederlands</span>' in step
    assert '<span lang="fr">Acceptabilité</span>' in step
    review = client.get("/p/review/").content.decode()
    assert '<span lang="nl">Alleen in het Nederlands</span>' in review
    # a translated item carries no lang of its own
    other = Item.objects.filter(study=study).exclude(pk=untranslated.pk).get()
    assert f"{other.code} {other.text['en']}</th>" in review


def test_a_fallback_in_the_pages_own_language_gets_no_span_of_its_own() -> None:
    """Looked up for the panelist's language, a text may be in the page's language after
    all (the page switched language since): no lang of its own then."""
    from django.template import Context, Template
    from django.utils import translation

    template = Template("{% load delphi_format %}{{ text|in_its_language }}")
    with translation.override("fr"):
        same = template.render(Context({"text": Fallback("Acceptabilité", "fr")}))
        other = template.render(Context({"text": Fallback("Aanvaardbaar <b>", "nl")}))
    assert same == "Acceptabilité"
    assert other == '<span lang="nl">Aanvaardbaar &lt;b&gt;</span>'


def test_the_proposals_page_marks_a_domain_shown_in_another_language() -> None:
    from rounds import proposals, services

    study = make_study(n_items=2, n_panelists=1)
    Item.objects.filter(study=study).update(domain={"nl": "Organisatie"})
    services.round_create(study=study)
    proposals.proposal_round_open(
        proposal_round=proposals.proposal_round_add(study=study), notify=False
    )
    client = Client()
    login(client, study.panelists.get(), language="en")
    assert client.post("/p/proposals/", {"consent": "yes"}).status_code == 302
    page = client.get("/p/proposals/").content.decode()
    assert '<span lang="nl">Organisatie</span>' in page

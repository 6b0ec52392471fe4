from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from panelists import links, services
from panelists.models import EmailMessage
from rounds import answers
from rounds import services as round_services
from rounds.models import Panelist, Participation, Rating, Round, Study
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def open_round(study: Study, *, closes_in: timedelta = timedelta(days=7)) -> Round:
    latest = study.rounds.order_by("-number").first()
    round = latest if latest and latest.state == Round.State.DRAFT else None
    round = round or round_services.round_create(study=study)
    round.closes_at = timezone.now() + closes_in
    round.save(update_fields=["closes_at"])
    return round_services.round_open(round=round, notify=False)


def login(client: Client, panelist: Panelist, language: str = "en") -> None:
    """Open a personal link, as the panelist would from the e-mail (in `language`)."""
    Panelist.objects.filter(pk=panelist.pk).update(language=language)
    link = links.link_issue(panelist=panelist)
    response = client.get(urlsplit(link).path)
    assert response.status_code == 302


def consent(client: Client) -> None:
    assert client.post("/p/consent/", {"consent": "yes"}).status_code == 302


def step_names(client: Client) -> list[str]:
    response = client.get("/p/rate/", follow=True)
    return [s.name for s in response.context["questionnaire"].steps]


def step_data(client: Client, step: str, value: str = "8", **extra: str) -> dict[str, str]:
    """Every rating field of a step set to `value`, as the browser would post it."""
    response = client.get(f"/p/rate/{step}/")
    form = response.context["form"]
    prefix = response.context["view"].prefix
    data = {f"{prefix}-current_step": step}
    for name in form.fields:
        if name.startswith("r-"):
            data[form.add_prefix(name)] = value
    data.update(extra)
    return data


@pytest.fixture
def study() -> Study:
    return make_study(n_items=4, n_panelists=6)


@pytest.fixture
def panelist(study: Study) -> Panelist:
    return study.panelists.get(pseudonym="P001")


def test_round_1_asks_for_consent_before_the_questions(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    page = client.get("/p/")
    assert b"agree to take part" in page.content
    assert client.get("/p/rate/").status_code == 302  # back to the welcome page
    assert client.post("/p/consent/", {}).status_code == 302
    assert Participation.objects.get(panelist=panelist).consented_at is None
    consent(client)
    assert Participation.objects.get(panelist=panelist).consented_at is not None


def test_the_welcome_page_says_what_is_asked_and_the_deadline(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    text = client.get("/p/").content.decode()
    assert "8 ratings" in text  # 4 items x 2 criteria
    assert "in 2 steps" in text
    assert "Deadline" in text
    assert "Privacy" in text


def test_moving_on_saves_the_step(client: Client, study: Study, panelist: Panelist) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, second = step_names(client)
    response = client.post(f"/p/rate/{first}/", step_data(client, first, "7"))
    assert response.status_code == 302
    assert response["Location"].endswith(f"/p/rate/{second}/")
    assert list(Rating.objects.filter(panelist=panelist).values_list("value", flat=True)) == [7] * 4
    participation = Participation.objects.get(panelist=panelist)
    assert participation.status == Participation.Status.IN_PROGRESS


def test_a_new_session_continues_where_the_panelist_stopped(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, second = step_names(client)
    client.post(f"/p/rate/{first}/", step_data(client, first, "6"))
    other_device = Client()
    login(other_device, panelist)
    response = other_device.get("/p/rate/")
    assert response["Location"].endswith(f"/p/rate/{second}/")
    page = other_device.get(f"/p/rate/{first}/")
    form = page.context["form"]
    assert set(form.initial[name] for name in form.initial if "-r-" in f"-{name}") == {"6"}


def test_going_back_keeps_what_was_typed_on_an_unfinished_step(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, second = step_names(client)
    client.post(f"/p/rate/{first}/", step_data(client, first))
    data = step_data(client, second, "3")
    rating_fields = sorted(k for k in data if "-r-" in k)
    del data[rating_fields[0]]  # one answer still missing
    data["wizard_goto_step"] = first
    response = client.post(f"/p/rate/{second}/", data)
    assert response["Location"].endswith(f"/p/rate/{first}/")
    assert Rating.objects.filter(panelist=panelist, value=3).count() == 3


def test_an_incomplete_step_is_shown_again_with_a_message(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, _second = step_names(client)
    data = step_data(client, first)
    del data[sorted(k for k in data if "-r-" in k)[0]]
    response = client.post(f"/p/rate/{first}/", data)
    assert response.status_code == 200
    assert b"Choose a rating for this criterion." in response.content
    assert Rating.objects.filter(panelist=panelist).count() == 3


def test_a_value_off_the_scale_is_refused_and_nothing_else_is_lost(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, _second = step_names(client)
    data = step_data(client, first, "5")
    data[sorted(k for k in data if "-r-" in k)[0]] = "42"
    response = client.post(f"/p/rate/{first}/", data)
    assert response.status_code == 200
    assert b"42 is not a rating on this scale" in response.content
    assert sorted(Rating.objects.filter(panelist=panelist).values_list("value", flat=True)) == [
        5,
        5,
        5,
    ]


def test_a_tampered_step_name_saves_nothing_and_explains(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, _second = step_names(client)
    data = step_data(client, first)
    prefix = next(k for k in data if k.endswith("current_step"))
    data[prefix] = "d999999"
    response = client.post(f"/p/rate/{first}/", data, follow=True)
    assert response.status_code == 200
    assert b"out of date" in response.content
    assert not Rating.objects.filter(panelist=panelist).exists()


def test_another_studys_item_ids_are_refused(
    client: Client, study: Study, panelist: Panelist
) -> None:
    other = make_study(n_items=2)
    other_round = round_services.round_create(study=other)
    open_round(study)
    login(client, panelist)
    consent(client)
    round = study.rounds.get(number=1)
    foreign = other_round.round_items.first()
    with pytest.raises(answers.InvalidAnswerError):
        answers.ratings_save(
            panelist=panelist,
            round=round,
            answers=[answers.Answer(foreign.pk, study.criteria.first().pk, 5)],
        )
    assert not Rating.objects.filter(panelist=panelist).exists()


def test_two_tabs_posting_the_same_step_keep_one_rating_each_last_write_wins(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, _second = step_names(client)
    tab_a = step_data(client, first, "2")
    tab_b = step_data(client, first, "9")
    client.post(f"/p/rate/{first}/", tab_a)
    client.post(f"/p/rate/{first}/", tab_b)
    client.post(f"/p/rate/{first}/", tab_b)  # replayed
    values = list(Rating.objects.filter(panelist=panelist).values_list("value", flat=True))
    assert values == [9, 9, 9, 9]


def test_review_lists_every_answer_and_submit_sends_a_confirmation(
    client: Client, study: Study, panelist: Panelist, django_capture_on_commit_callbacks
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    for step in step_names(client):
        client.post(f"/p/rate/{step}/", step_data(client, step, "dk"))
    review = client.get("/p/review/")
    assert review.content.decode().count("<td>Don't know</td>") == 8
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/p/submit/")
    assert response["Location"] == "/p/thanks/"
    assert Participation.objects.get(panelist=panelist).status == "submitted"
    email = EmailMessage.objects.get(panelist=panelist, kind="confirmation")
    assert email.status == "queued"
    assert len(callbacks) == 1
    assert set(Rating.objects.filter(panelist=panelist).values_list("value", flat=True)) == {None}


def test_submit_is_refused_while_answers_are_missing(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist)
    consent(client)
    first, _second = step_names(client)
    client.post(f"/p/rate/{first}/", step_data(client, first))
    response = client.post("/p/submit/", follow=True)
    assert b"4 answers are still missing" in response.content
    assert Participation.objects.get(panelist=panelist).status != "submitted"


def test_a_post_after_the_deadline_is_refused_and_saved_answers_stay(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study, closes_in=timedelta(hours=1))
    login(client, panelist)
    consent(client)
    first, second = step_names(client)
    client.post(f"/p/rate/{first}/", step_data(client, first, "4"))
    late = step_data(client, second, "9")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.post(f"/p/rate/{second}/", late, follow=True)
        assert b"This round closed" in response.content
        assert b"Round 1 is closed" in response.content
    values = list(Rating.objects.filter(panelist=panelist).values_list("value", flat=True))
    assert values == [4, 4, 4, 4]


def test_a_closed_round_shows_what_comes_next(
    client: Client, study: Study, panelist: Panelist
) -> None:
    round = open_round(study)
    login(client, panelist)
    round_services.round_close(round=round)
    page = client.get("/p/")
    assert b"Round 1 is closed" in page.content
    assert b"next round" in page.content


def test_the_wizard_page_query_count_does_not_grow_with_items(client: Client) -> None:
    counts = []
    for n_items in (2, 20):
        study = make_study(n_items=n_items, n_panelists=6)
        run_round(study, lambda p, ri, c: 5)  # all carried: round 2 has feedback to show
        open_round(study)
        fresh = Client()
        login(fresh, study.panelists.get(pseudonym="P001"))
        first = step_names(fresh)[0]
        with CaptureQueriesContext(connection) as queries:
            assert fresh.get(f"/p/rate/{first}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_round_2_shows_the_previous_distribution_and_own_rating(client: Client) -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study, lambda p, ri, c: 5 if p.pseudonym != "P001" else 3)
    open_round(study)
    login(client, study.panelists.get(pseudonym="P001"))
    first = step_names(client)[0]
    text = client.get(f"/p/rate/{first}/").content.decode()
    assert "<svg" in text
    assert "Your rating was 3." in text
    assert "6 panelists; median 5" in text
    assert "No consensus yet." in text
    ids = re.findall(r'\sid="([^"]+)"', text)
    assert len(ids) == len(set(ids))  # identical charts still get their own ids


def test_group_results_are_hidden_below_the_minimum_group_size(client: Client) -> None:
    study = make_study(n_items=2, n_panelists=8)  # groups of 4 and 4
    study.protocol.show_groups = True
    study.protocol.save()
    run_round(study, lambda p, ri, c: 5)
    open_round(study)
    login(client, study.panelists.get(pseudonym="P001"))
    first = step_names(client)[0]
    text = client.get(f"/p/rate/{first}/").content.decode()
    assert "a group is too small to stay anonymous" in text
    assert "solo practice (n =" not in text


def test_invitations_go_out_in_each_panelists_language(
    django_capture_on_commit_callbacks, mailoutbox
) -> None:
    study = make_study(n_panelists=3)  # languages fr, nl, en in turn
    round = round_services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=3)
    round.save()
    with django_capture_on_commit_callbacks(execute=False):
        round_services.round_open(round=round)
    emails = EmailMessage.objects.filter(kind="invitation").order_by("panelist__pseudonym")
    assert [e.status for e in emails] == ["queued"] * 3
    services.emails_send_batch()
    subjects = {m.to[0]: m.subject for m in mailoutbox}
    by_language = {p.language: subjects[p.email] for p in study.panelists.all()}
    assert by_language["en"].startswith("Round 1 of the Delphi study")
    assert by_language["fr"].startswith("Tour 1")
    assert by_language["nl"].startswith("Ronde 1")
    assert all("/p/" in m.body for m in mailoutbox)
    assert all(m.alternatives for m in mailoutbox)  # plain text and HTML
    assert set(EmailMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_the_panelist_can_switch_language_and_items_follow(
    client: Client, study: Study, panelist: Panelist
) -> None:
    open_round(study)
    login(client, panelist, language="fr")
    assert "Confidentialité" in client.get("/p/").content.decode()
    client.post("/i18n/setlang/", {"language": "nl", "next": "/p/"})
    consent(client)
    first = step_names(client)[0]
    page = client.get(f"/p/rate/{first}/").content.decode()
    assert "Action item 1 (nl)" in page
    assert "Weet ik niet" in page
    panelist.refresh_from_db()
    assert panelist.language == "nl"  # later e-mails follow the choice


def test_round_2_feedback_shows_comments_scrubbed_like_the_exports(client: Client) -> None:
    study = make_study(n_items=4, n_panelists=6)
    Panelist.objects.filter(pseudonym="P002", study=study).update(name="Jan Peeters")
    round1 = run_round(study)  # I03 and I04 are carried over to round 2
    Rating.objects.filter(
        round_item__round=round1,
        round_item__item__code="I03",
        panelist__pseudonym="P003",
        criterion__code="acceptability",
    ).update(comment="Ask Jan Peeters (jan.peeters@example.org) about this.")
    open_round(study)
    login(client, study.panelists.get(pseudonym="P001"))
    text = client.get(f"/p/rate/{step_names(client)[0]}/").content.decode()
    assert "Ask Jan Peeters" not in text, "unscrubbed"
    assert "Ask [name removed] ([e-mail removed]) about this." in text
    assert "Jan Peeters" not in text
    assert "jan.peeters@example.org" not in text


def test_reading_the_panelist_pages_writes_nothing(client: Client) -> None:
    study = make_study(n_items=4, n_panelists=3)
    open_round(study)
    panelist = study.panelists.get(pseudonym="P002")
    login(client, panelist, language="nl")
    consent(client)
    pages = ["/p/", *(f"/p/rate/{name}/" for name in step_names(client)), "/p/review/"]
    for language in ("fr", "nl"):
        client.cookies["django_language"] = language
        with CaptureQueriesContext(connection) as queries:
            for page in pages:
                assert client.get(page).status_code == 200, page
        writes = [
            q["sql"] for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        ]  # fmt: skip
        assert writes == [], writes
    panelist.refresh_from_db()
    assert panelist.language == "nl"  # a GET in French did not change it

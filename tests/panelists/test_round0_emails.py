"""Round 0's e-mails: the invitation states round 0's deadline; reminders (by hand and
scheduled) reach the invited panelists who have not answered, with their live link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from panelists import services
from panelists.models import EmailMessage, PersonalLink
from rounds import privacy, proposals
from rounds import services as round_services
from rounds.errors import TransitionError
from rounds.imports import import_panel
from rounds.models import AuditEntry, Panelist, ProposalRound, Study
from rounds.proposal_models import ProposalReminder
from rounds.proposals import Answer, Draft
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db

DEADLINE = datetime(2036, 3, 1, 17, 0, tzinfo=UTC)  # 18:00 in Brussels
D1 = "Domain 1 (en)"


def open_round0(closes_at: datetime | None = DEADLINE, n_panelists: int = 6) -> ProposalRound:
    study = make_study(n_items=4, n_panelists=n_panelists)
    round_services.round_create(study=study)
    found = proposals.proposal_round_add(study=study)
    return proposals.proposal_round_open(proposal_round=found, closes_at=closes_at)


def panelist(proposal_round: ProposalRound, pseudonym: str) -> Panelist:
    return proposal_round.study.panelists.get(pseudonym=pseudonym)


def message_to(pseudonym: str, kind: str = "invitation") -> str:
    email = EmailMessage.objects.select_related("panelist__study", "round").get(
        panelist__pseudonym=pseudonym, kind=kind, round=None
    )
    return str(services.compose(email, "https://example.org/p/x/").body)


def reminded() -> set[str]:
    found = EmailMessage.objects.filter(kind="reminder", round=None)
    return set(found.values_list("panelist__pseudonym", flat=True))


# --------------------------------------------------------------------------- invitation


def test_the_invitation_states_round_0s_deadline_in_the_panelists_language_and_zone() -> None:
    open_round0()
    french = message_to("P001")  # the factory gives P001 French, P002 Dutch, P003 English
    assert "1 mars 2036 18:00 (Europe/Brussels)" in french
    assert "Merci de répondre avant le 1 mars" in french
    assert "1 maart 2036 18:00 (Europe/Brussels)" in message_to("P002")
    english = message_to("P003")
    assert "Please answer before March 1, 2036, 6 p.m. (Europe/Brussels)." in english


def test_an_invitation_to_a_round_0_without_deadline_has_no_deadline_line() -> None:
    open_round0(closes_at=None)
    english = message_to("P003")
    assert "Round 0" in english
    assert "Please answer before" not in english


def test_a_studys_own_invitation_text_gets_round_0s_number_and_deadline() -> None:
    from panelists.models import EmailTemplate

    proposal_round = open_round0()
    EmailTemplate.objects.create(
        study=proposal_round.study, kind="invitation", language="en",
        subject="Round {round} of {study}", body="Dear {name},\nBy {deadline}.\n{link}\n",
    )  # fmt: skip
    email = EmailMessage.objects.select_related("panelist__study").get(
        panelist__pseudonym="P003", kind="invitation"
    )
    message = services.compose(email, "https://example.org/p/x/")
    assert message.subject.startswith("Round 0 of")
    assert "By March 1, 2036, 6 p.m. (Europe/Brussels)." in str(message.body)


# --------------------------------------------------------------------------- reminders


def test_a_reminder_reaches_the_invited_panelists_who_have_not_answered() -> None:
    proposal_round = open_round0()
    save = proposals.panel_save
    save(proposal_round=proposal_round, panelist=panelist(proposal_round, "P001"),
         answers=[Answer(D1, "More time per patient.", "a")], drafts=[])  # fmt: skip
    save(proposal_round=proposal_round, panelist=panelist(proposal_round, "P002"), answers=[],
         drafts=[Draft(D1, "Peer support groups for GPs.", "Isolation.", field="n-")])  # fmt: skip
    save(proposal_round=proposal_round, panelist=panelist(proposal_round, "P003"),
         answers=[Answer(D1, "", "a")], drafts=[])  # an empty answer is no answer  # fmt: skip
    privacy.panelist_erase(panelist=panelist(proposal_round, "P006"))
    late = b"email,name,language,group\r\nlate@example.org,Late,en,\r\n"
    import_panel(study=proposal_round.study, data=late, filename="late.csv")  # invited too

    assert services.proposal_reminders_send(proposal_round=proposal_round) == 4
    assert reminded() == {"P003", "P004", "P005", "P007"}
    assert AuditEntry.objects.filter(action="reminder.sent", target="round 0").exists()


def test_the_reminder_names_round_0_and_its_deadline() -> None:
    services.proposal_reminders_send(proposal_round=open_round0())
    email = EmailMessage.objects.select_related("panelist__study").get(
        panelist__pseudonym="P003", kind="reminder"
    )
    message = services.compose(email, "https://example.org/p/x/")
    assert "round 0" in message.subject
    assert "Round 0 of the Delphi study" in str(message.body)
    assert "Please answer before March 1, 2036, 6 p.m. (Europe/Brussels)." in str(message.body)


def test_a_reminder_carries_the_live_link_of_the_invitation_and_mints_no_token(
    mailoutbox,
) -> None:
    proposal_round = open_round0(n_panelists=1)
    while services.emails_send_batch():
        pass
    links_before = PersonalLink.objects.count()
    services.proposal_reminders_send(proposal_round=proposal_round)
    while services.emails_send_batch():
        pass
    invitation, reminder = (m.body for m in mailoutbox)
    link = next(line for line in invitation.splitlines() if "/p/" in line).strip()
    assert link in reminder
    assert PersonalLink.objects.count() == links_before


def test_no_reminder_once_round_0_is_closed_or_past_its_deadline() -> None:
    proposal_round = open_round0(closes_at=timezone.now() + timedelta(hours=1))
    ProposalRound.objects.filter(pk=proposal_round.pk).update(
        closes_at=timezone.now() - timedelta(minutes=1)
    )
    proposal_round.refresh_from_db()
    with pytest.raises(TransitionError):
        services.proposal_reminders_send(proposal_round=proposal_round)
    proposals.proposal_round_close(proposal_round=proposal_round)
    with pytest.raises(TransitionError):
        services.proposal_reminders_send(proposal_round=proposal_round)
    assert reminded() == set()


def test_a_scheduled_reminder_goes_out_once_when_due_to_those_who_have_not_answered() -> None:
    proposal_round = open_round0()
    proposals.panel_save(proposal_round=proposal_round, panelist=panelist(proposal_round, "P001"),
                         answers=[Answer(D1, "More time.", "a")], drafts=[])  # fmt: skip
    services.proposal_reminders_schedule(proposal_round=proposal_round, days_before=[7, 2])
    assert services.reminders_due(now=DEADLINE - timedelta(days=8)) == 0
    assert services.reminders_due(now=DEADLINE - timedelta(days=6)) == 1
    assert services.reminders_due(now=DEADLINE - timedelta(days=5)) == 0  # sent once
    assert reminded() == {"P002", "P003", "P004", "P005", "P006"}
    sent = ProposalReminder.objects.get(days_before=7)
    assert sent.sent_at == DEADLINE - timedelta(days=6)
    assert ProposalReminder.objects.get(days_before=2).sent_at is None


def test_a_scheduled_reminder_is_not_sent_after_round_0_closed() -> None:
    proposal_round = open_round0()
    services.proposal_reminders_schedule(proposal_round=proposal_round, days_before=[2])
    proposals.proposal_round_close(proposal_round=proposal_round)
    assert services.reminders_due(now=DEADLINE - timedelta(days=1)) == 0
    assert reminded() == set()


# --------------------------------------------------------------------------- the pages


def test_the_coordinator_reminds_and_schedules_from_the_round_0_page() -> None:
    proposal_round = open_round0()
    study: Study = proposal_round.study
    coordinator = as_user(member(study, "coordinator"))
    page = coordinator.get(f"/studies/{study.slug}/round-0/").content.decode()
    assert "Send a reminder to the 6 panelists who have not answered" in page
    response = coordinator.post(f"/studies/{study.slug}/round-0/remind/", follow=True)
    assert "6 reminders are on their way." in response.content.decode()
    response = coordinator.post(
        f"/studies/{study.slug}/round-0/reminders/", {"days_before": "5, 1"}, follow=True
    )
    assert "5 days before the deadline: scheduled" in response.content.decode()
    assert sorted(proposal_round.reminders.values_list("days_before", flat=True)) == [1, 5]


def test_a_viewer_cannot_send_round_0_reminders() -> None:
    proposal_round = open_round0()
    study = proposal_round.study
    viewer = as_user(member(study, "viewer"))
    assert viewer.post(f"/studies/{study.slug}/round-0/remind/").status_code == 404
    assert viewer.post(f"/studies/{study.slug}/round-0/reminders/",
                       {"days_before": "2"}).status_code == 404  # fmt: skip
    assert reminded() == set()
    assert not ProposalReminder.objects.exists()

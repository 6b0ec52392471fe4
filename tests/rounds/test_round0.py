"""Round 0: the panel's answers and proposals, and the coordinator's decisions on them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from panelists.models import EmailMessage
from rounds import proposals, services
from rounds.errors import DomainError, TransitionError
from rounds.models import AuditEntry, Item, Proposal, ProposalAnswer, ProposalRound, Study
from rounds.proposals import Answer, Draft, ProposalProblems
from tests.factories import make_study

pytestmark = pytest.mark.django_db

D1 = "Domain 1 (en)"
D2 = "Domain 2 (en)"


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=4, n_panelists=5)
    services.round_create(study=study)
    return study


@pytest.fixture
def round0(study: Study) -> ProposalRound:
    found = proposals.proposal_round_add(study=study)
    return proposals.proposal_round_open(proposal_round=found)


@pytest.fixture
def boss() -> User:
    return User.objects.create_user("boss")


def propose(round0: ProposalRound, pseudonym: str, text: str, domain: str = D1) -> Proposal:
    panelist = round0.study.panelists.get(pseudonym=pseudonym)
    draft = Draft(domain, text, "Because GPs asked for it.", field="new-")
    proposals.panel_save(proposal_round=round0, panelist=panelist, answers=[], drafts=[draft])
    return Proposal.objects.filter(panelist=panelist).latest("number")


def texts(study: Study, text: str) -> dict[str, str]:
    return {code: f"{text} ({code})" for code in study.languages}


def test_the_domains_are_those_of_the_items_in_the_report_language(study: Study) -> None:
    assert [d.key for d in proposals.domains(study)] == [D1, D2]


def test_opening_round_0_invites_every_panelist_by_e_mail(study: Study) -> None:
    found = proposals.proposal_round_add(study=study)
    proposals.proposal_round_open(proposal_round=found)
    invitations = EmailMessage.objects.filter(kind="invitation", round=None)
    assert invitations.count() == 5
    assert ProposalRound.objects.get().invited == 5


def test_the_invitation_names_round_0(round0: ProposalRound) -> None:
    from panelists.services import compose

    email = EmailMessage.objects.filter(round=None).select_related("panelist__study").first()
    email.panelist.language = "en"
    message = compose(email, "https://example.org/p/x/")
    assert "Round 0" in message.subject
    assert "propose new actions" in message.body


def test_round_1_cannot_open_while_round_0_is_open(round0: ProposalRound) -> None:
    with pytest.raises(TransitionError, match="Close round 0"):
        services.round_open(round=round0.study.rounds.get(number=1), notify=False)


def test_round_0_cannot_be_added_once_round_1_opened() -> None:
    study = make_study()
    services.round_open(round=services.round_create(study=study), notify=False)
    with pytest.raises(TransitionError, match="before it"):
        proposals.proposal_round_add(study=study)


def test_a_panelist_saves_answers_and_a_proposal(round0: ProposalRound) -> None:
    panelist = round0.study.panelists.get(pseudonym="P001")
    made = proposals.panel_save(
        proposal_round=round0, panelist=panelist,
        answers=[Answer(D1, "More time for patients.", "a"), Answer(D2, "", "b")],
        drafts=[Draft(D2, "Fund practice assistants in every region.", "Paperwork.", field="n-")],
    )  # fmt: skip
    assert made == 1
    assert ProposalAnswer.objects.get(domain=D1).text == "More time for patients."
    proposal = Proposal.objects.get()
    assert (proposal.label, proposal.domain, proposal.status) == ("R0-01", D2, "pending")


def test_bad_input_names_each_field_and_the_rest_is_saved(round0: ProposalRound) -> None:
    panelist = round0.study.panelists.get(pseudonym="P001")
    with pytest.raises(ProposalProblems) as caught:
        proposals.panel_save(
            proposal_round=round0, panelist=panelist,
            answers=[Answer(D1, "kept", "d0-answer"), Answer(D2, "y" * 4001, "d1-answer")],
            drafts=[Draft(D1, "Short", "", field="d0-"), Draft(D2, "", "A reason", field="d1-"),
                    Draft(D1, "x" * 1001, "why", field="d2-"), Draft("Nope", "", "", field="d3-"),
                    Draft(D2, "A helpline for doctors at night.", "Alone", field="d4-")],
        )  # fmt: skip
    problems = caught.value.problems
    assert "at least 10 characters" in problems["d0-text"]
    assert "why this action matters" in problems["d0-reason"]
    assert "or clear the reason" in problems["d1-text"]
    assert "under 1000 characters (it has 1001)" in problems["d2-text"]
    assert "domains" in problems["d3-domain"]
    assert "under 4000 characters (it has 4001)" in problems["d1-answer"]
    assert caught.value.made == 1
    assert list(ProposalAnswer.objects.values_list("domain", "text")) == [(D1, "kept")]
    assert list(Proposal.objects.values_list("text", flat=True)) == [
        "A helpline for doctors at night."
    ]


def test_a_panelist_edits_and_withdraws_only_their_own_pending_proposals(
    round0: ProposalRound,
) -> None:
    mine = propose(round0, "P001", "Protected time for continuing education.")
    theirs = propose(round0, "P002", "A national helpline for burnt-out doctors.")
    me = mine.panelist
    proposals.panel_save(proposal_round=round0, panelist=me, answers=[], drafts=[
        Draft(D1, "Protected time for peer review groups.", "Isolation.", pk=mine.pk, field="a-")
    ])  # fmt: skip
    mine.refresh_from_db()
    assert mine.text == "Protected time for peer review groups."
    with pytest.raises(ProposalProblems, match="not yours"):
        proposals.panel_save(proposal_round=round0, panelist=me, answers=[], drafts=[
            Draft(D1, "Hijacked text here.", "x", pk=theirs.pk, field="b-")
        ])  # fmt: skip
    proposals.panel_save(proposal_round=round0, panelist=me, answers=[], drafts=[
        Draft(D1, "", "", pk=mine.pk, withdraw=True, field="a-")
    ])  # fmt: skip
    assert list(Proposal.objects.values_list("number", flat=True)) == [2]


def test_nothing_is_saved_after_round_0_closed(round0: ProposalRound) -> None:
    proposals.proposal_round_close(proposal_round=round0)
    with pytest.raises(TransitionError, match="closed"):
        propose(round0, "P001", "Too late for this proposal.")


def test_the_tick_closes_round_0_at_its_deadline(study: Study) -> None:
    found = proposals.proposal_round_add(study=study)
    soon = timezone.now() + timedelta(hours=1)
    proposals.proposal_round_open(proposal_round=found, closes_at=soon)
    services.rounds_tick(now=soon + timedelta(minutes=1))
    assert ProposalRound.objects.get().state == ProposalRound.State.CLOSED


def test_an_accepted_proposal_becomes_an_item_of_round_1_proposed_by_the_panel(
    round0: ProposalRound, boss: User
) -> None:
    proposal = propose(round0, "P003", "Peer support groups for GPs.")
    twin = propose(round0, "P004", "Support groups between colleagues.")
    item = proposals.proposal_accept(
        proposal=proposal, code="N01", texts=texts(round0.study, "Set up peer support groups"),
        reason="Not on the list yet.", also=[twin], by=boss,
    )  # fmt: skip
    assert item.source == Item.Source.PANEL
    assert item.reference == "Round 0 proposal R0-01, R0-02"
    assert "P003" not in item.reference
    assert item.domain["en"] == D1
    round_1 = round0.study.rounds.get(number=1)
    assert round_1.round_items.filter(item=item).exists()
    twin.refresh_from_db()
    assert (twin.status, twin.merged_into_id, twin.outcome_item) == ("merged", proposal.pk, item)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"proposal.accepted", "proposal.merged", "item.proposed"} <= actions


def test_declining_needs_a_reason_that_the_proposer_reads(
    round0: ProposalRound, boss: User
) -> None:
    proposal = propose(round0, "P001", "Abolish all paperwork overnight.")
    with pytest.raises(DomainError, match="Give a reason"):
        proposals.proposal_decline(proposal=proposal, reason=" ", by=boss)
    proposals.proposal_decline(proposal=proposal, reason="Out of the study's scope.", by=boss)
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_reason) == ("declined", "Out of the study's scope.")


def test_a_merge_into_an_accepted_proposal_updates_the_item_reference(
    round0: ProposalRound,
) -> None:
    first = propose(round0, "P001", "Peer support groups for GPs.")
    late = propose(round0, "P002", "Balint groups for every GP.")
    item = proposals.proposal_accept(
        proposal=first, code="N01", texts=texts(round0.study, "Peer support groups")
    )
    proposals.proposal_merge(proposal=late, into=first, reason="")
    late.refresh_from_db()
    item.refresh_from_db()
    assert late.decision_reason == "It says the same as R0-01."
    assert item.reference == "Round 0 proposal R0-01, R0-02"


def test_a_decision_cannot_be_taken_twice_nor_after_round_1_opened(
    round0: ProposalRound,
) -> None:
    proposal = propose(round0, "P001", "Peer support groups for GPs.")
    proposals.proposal_decline(proposal=proposal, reason="Duplicate of I02.")
    with pytest.raises(TransitionError, match="already decided"):
        proposals.proposal_decline(proposal=proposal, reason="Again.")
    proposals.proposal_reopen(proposal=proposal)
    proposals.proposal_round_close(proposal_round=round0)
    services.round_open(round=round0.study.rounds.get(number=1), notify=False)
    with pytest.raises(TransitionError, match="final"):
        proposals.proposal_decline(proposal=proposal, reason="Late.")


def test_accepting_before_round_1_exists_adds_the_item_to_the_study() -> None:
    study = make_study(n_items=2)
    round0 = proposals.proposal_round_open(proposal_round=proposals.proposal_round_add(study=study))
    proposal = propose(round0, "P001", "Peer support groups for GPs.")
    proposals.proposal_accept(proposal=proposal, code="N01", texts=texts(study, "Peer support"))
    round_1 = services.round_create(study=study)
    assert round_1.round_items.filter(item__code="N01").exists()


def test_the_flow_counts_invited_answered_proposals_and_their_fates(
    round0: ProposalRound,
) -> None:
    a = propose(round0, "P001", "Peer support groups for GPs.")
    b = propose(round0, "P001", "Balint groups for every GP.")
    c = propose(round0, "P002", "Abolish all paperwork overnight.")
    panelist = round0.study.panelists.get(pseudonym="P003")
    proposals.panel_save(proposal_round=round0, panelist=panelist,
                         answers=[Answer(D2, "Nothing to add.", "x")], drafts=[])  # fmt: skip
    proposals.proposal_accept(proposal=a, code="N01", texts=texts(round0.study, "Peer"), also=[b])
    proposals.proposal_decline(proposal=c, reason="Out of scope.")
    flow = proposals.flow(round0)
    assert (flow.invited, flow.answered, flow.proposals) == (5, 3, 3)
    assert (flow.accepted, flow.merged, flow.declined, flow.items) == (1, 1, 1, 1)


def test_a_panelists_data_request_includes_their_round_0(round0: ProposalRound) -> None:
    from rounds.privacy import panelist_data

    proposal = propose(round0, "P001", "Peer support groups for GPs.")
    data = panelist_data(proposal.panelist)
    assert data["round_0"]["proposals"][0]["text"] == "Peer support groups for GPs."
    other = panelist_data(round0.study.panelists.get(pseudonym="P002"))
    assert other["round_0"]["proposals"] == []


def test_erasing_a_panelist_removes_their_name_from_every_proposal(
    round0: ProposalRound,
) -> None:
    from rounds.models import Panelist
    from rounds.privacy import panelist_erase

    Panelist.objects.filter(pseudonym="P002", study=round0.study).update(name="Jan Peeters")
    proposal = propose(round0, "P001", "Ask Jan Peeters to run peer support groups.")
    panelist_erase(panelist=round0.study.panelists.get(pseudonym="P002"))
    proposal.refresh_from_db()
    assert proposal.text == "Ask [name removed] to run peer support groups."


def test_panelists_imported_while_round_0_is_open_are_invited_to_it(
    round0: ProposalRound,
) -> None:
    from rounds.imports import import_panel

    data = b"email,name,language,group\r\nanne@example.org,Anne,fr,\r\njan@example.org,Jan,nl,\r\n"
    assert import_panel(study=round0.study, data=data, filename="panel.csv") == 2
    invited = EmailMessage.objects.filter(kind="invitation", round=None)
    new = set(
        round0.study.panelists.filter(email__endswith="@example.org").values_list("pk", flat=True)
    )
    assert new <= set(invited.values_list("panelist_id", flat=True))
    assert invited.count() == 7
    assert ProposalRound.objects.get().invited == 7


def test_panelists_imported_after_round_0_closed_are_not_invited_to_it(
    round0: ProposalRound,
) -> None:
    from rounds.imports import import_panel

    services.proposal_round_close(proposal_round=round0)
    data = b"email,name,language,group\r\nanne@example.org,Anne,fr,\r\n"
    import_panel(study=round0.study, data=data, filename="panel.csv")
    assert EmailMessage.objects.filter(kind="invitation", round=None).count() == 5
    assert ProposalRound.objects.get().invited == 5


def test_panelists_imported_after_the_deadline_of_an_open_round_0_are_not_invited(
    study: Study,
) -> None:
    import time_machine

    from rounds.imports import import_panel

    found = proposals.proposal_round_add(study=study)
    deadline = timezone.now() + timedelta(days=1)
    proposals.proposal_round_open(proposal_round=found, closes_at=deadline)
    with time_machine.travel(deadline + timedelta(hours=1)):
        data = b"email,name,language,group\r\nlate@example.org,Late,en,\r\n"
        import_panel(study=study, data=data, filename="panel.csv")
    assert ProposalRound.objects.get().state == ProposalRound.State.OPEN  # not ticked yet
    assert EmailMessage.objects.filter(kind="invitation", round=None).count() == 5
    assert ProposalRound.objects.get().invited == 5


def test_an_acceptance_is_final_once_round_1_opened(round0: ProposalRound) -> None:
    proposal = propose(round0, "P001", "Peer support groups for GPs.")
    proposals.proposal_accept(proposal=proposal, code="N01", texts=texts(round0.study, "Peer"))
    proposals.proposal_round_close(proposal_round=round0)
    services.round_open(round=round0.study.rounds.get(number=1), notify=False)
    with pytest.raises(TransitionError, match="final"):
        proposals.proposal_reopen(proposal=proposal)
    assert Item.objects.filter(code="N01").exists()

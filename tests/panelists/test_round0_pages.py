"""Round 0 through the pages: the panelist proposes (nothing typed is lost, every problem
named), the coordinator decides, the proposer reads the decision; nobody else does."""

from __future__ import annotations

import pytest
from django.test import Client

from rounds import proposals, services
from rounds.models import (
    AuditEntry,
    Item,
    Participation,
    Proposal,
    ProposalAnswer,
    ProposalRound,
    Study,
)
from rounds.proposal_models import ProposalConsent
from tests.factories import make_study
from tests.panelists.test_wizard import login
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=4, n_panelists=4)
    services.round_create(study=study)
    proposals.proposal_round_open(
        proposal_round=proposals.proposal_round_add(study=study), notify=False
    )
    return study


def panelist_client(study: Study, pseudonym: str, consent: bool = True) -> Client:
    client = Client()
    login(client, study.panelists.get(pseudonym=pseudonym))
    if consent:
        assert client.post("/p/proposals/", {"consent": "yes"}).status_code == 302
    return client


def test_the_personal_link_leads_to_round_0_while_it_is_open(study: Study) -> None:
    client = panelist_client(study, "P001")
    response = client.get("/p/", follow=True)
    assert response.redirect_chain[-1][0] == "/p/proposals/"
    page = response.content.decode()
    assert "Round 0: what is missing?" in page
    assert "Domain 1 (en)" in page and "Action item 1 (en)" in page


def test_a_proposal_and_an_answer_are_saved(study: Study) -> None:
    client = panelist_client(study, "P001")
    response = client.post("/p/proposals/", {
        "d0-answer": "Time for patients.", "d0-text": "Peer support groups for GPs.",
        "d0-reason": "Isolation is a cause of burnout.", "d1-answer": "", "d1-text": "",
        "d1-reason": "",
    }, follow=True)  # fmt: skip
    assert "Saved, with 1 new proposal" in response.content.decode()
    assert Proposal.objects.get().text == "Peer support groups for GPs."
    assert "Your proposal R0-01" in response.content.decode()


def test_bad_input_keeps_everything_typed_names_the_problem_and_saves_the_rest(
    study: Study,
) -> None:
    client = panelist_client(study, "P001")
    response = client.post("/p/proposals/", {
        "d0-answer": "My long answer that must not be lost.", "d0-text": "Peer support.",
        "d0-reason": "", "d1-text": "", "d1-reason": "A reason without an action",
    })  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 400
    assert "My long answer that must not be lost." in page and "Peer support." in page
    assert "Say in a few words why this action matters" in page
    assert "Write the action you propose, or clear the reason." in page
    assert "A reason without an action" in page
    assert "2 fields need correcting" in page
    assert not Proposal.objects.exists()
    assert ProposalAnswer.objects.exclude(text="").get().text == (
        "My long answer that must not be lost."
    )
    again = client.post("/p/proposals/", {
        "d0-answer": "My long answer that must not be lost.", "d0-text": "Peer support groups.",
        "d0-reason": "Isolation.", "d1-text": "", "d1-reason": "",
    }, follow=True)  # fmt: skip
    assert "Saved, with 1 new proposal" in again.content.decode()
    assert Proposal.objects.count() == 1


def test_the_proposer_reads_the_decision_and_reason_and_others_see_nothing(
    study: Study,
) -> None:
    mine = panelist_client(study, "P001")
    mine.post("/p/proposals/", {"d0-text": "Abolish all paperwork overnight.",
                                "d0-reason": "It takes hours."})  # fmt: skip
    coordinator = as_user(member(study, "coordinator"))
    response = coordinator.post(
        f"/studies/{study.slug}/round-0/proposals/1/decline/",
        {"reason": "Outside what GPs can change."},
    )
    assert response.status_code == 302
    page = mine.get("/p/proposals/").content.decode()
    assert "Declined." in page and "Outside what GPs can change." in page
    other = panelist_client(study, "P002").get("/p/proposals/").content.decode()
    assert "Abolish all paperwork" not in other and "Outside what GPs" not in other


def test_the_coordinator_accepts_with_a_merge_and_the_item_joins_round_1(study: Study) -> None:
    for who, text in (("P001", "Peer support groups for GPs."),
                      ("P002", "Support groups between colleagues.")):  # fmt: skip
        panelist_client(study, who).post(
            "/p/proposals/", {"d0-text": text, "d0-reason": "Isolation."}
        )
    coordinator = as_user(member(study, "coordinator"))
    page = coordinator.get(f"/studies/{study.slug}/round-0/").content.decode()
    assert "Peer support groups for GPs." in page and "Support groups between" in page
    coordinator.post(f"/studies/{study.slug}/round-0/proposals/1/accept/", {
        "code": "R0-01", "text_fr": "Groupes de pairs", "text_nl": "Intervisiegroepen",
        "text_en": "Peer support groups", "also": ["2"], "reason": "Added to the list.",
    })  # fmt: skip
    item = Item.objects.get(code="R0-01")
    assert item.source == Item.Source.PANEL
    assert study.rounds.get(number=1).round_items.filter(item=item).exists()
    page = panelist_client(study, "P002").get("/p/proposals/").content.decode()
    assert "Merged with the similar proposal R0-01" in page and "R0-01" in page
    assert AuditEntry.objects.filter(action="proposal.accepted", actor__isnull=False).exists()


def test_the_coordinator_opens_and_closes_round_0_from_the_page() -> None:
    study = make_study(n_items=2, n_panelists=2)
    coordinator = as_user(member(study, "coordinator"))
    base = f"/studies/{study.slug}/round-0/"
    coordinator.post(base + "add/")
    coordinator.post(base + "question/", {"question_en": "What is missing?"})
    coordinator.post(base + "open/", {"closes_at": "2099-01-01T18:00"})
    found = ProposalRound.objects.get()
    assert (found.state, found.question["en"]) == ("open", "What is missing?")
    assert found.closes_at is not None and found.closes_at.year == 2099
    response = coordinator.post(base + "close/", follow=True)
    assert "Round 0 is closed" in response.content.decode()


def test_a_bad_deadline_is_refused_with_a_message() -> None:
    study = make_study(n_items=2, n_panelists=2)
    coordinator = as_user(member(study, "coordinator"))
    base = f"/studies/{study.slug}/round-0/"
    coordinator.post(base + "add/")
    response = coordinator.post(base + "open/", {"closes_at": "tomorrow"}, follow=True)
    assert "Give the deadline as a date and a time" in response.content.decode()
    assert ProposalRound.objects.get().state == "draft"


def test_a_viewer_cannot_decide(study: Study) -> None:
    panelist_client(study, "P001").post(
        "/p/proposals/", {"d0-text": "Peer support groups for GPs.", "d0-reason": "Isolation."}
    )
    viewer = as_user(member(study, "viewer"))
    response = viewer.post(f"/studies/{study.slug}/round-0/proposals/1/decline/", {"reason": "No."})
    assert response.status_code == 404
    assert Proposal.objects.get().status == "pending"


def test_a_refused_acceptance_keeps_what_the_coordinator_typed(study: Study) -> None:
    panelist_client(study, "P001").post(
        "/p/proposals/", {"d0-text": "Peer support groups for GPs.", "d0-reason": "Isolation."}
    )
    coordinator = as_user(member(study, "coordinator"))
    response = coordinator.post(f"/studies/{study.slug}/round-0/proposals/1/accept/", {
        "code": "N01", "text_fr": "Groupes de pairs pour les médecins", "text_nl": "",
        "text_en": "Peer groups", "reason": "A gap.",
    })  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 400
    assert "Give the wording in every language of the study; missing: nl." in page
    assert "Groupes de pairs pour les médecins" in page and 'value="N01"' in page
    assert Proposal.objects.get().status == "pending"


# --------------------------------------------------------------------------- consent

PROPOSAL = {"d0-answer": "", "d0-text": "Peer support groups for GPs.",
            "d0-reason": "Isolation is a cause of burnout."}  # fmt: skip
AGREE = "I have read the above and agree to take part in this study."


def test_the_first_visit_asks_consent_and_nothing_is_saved_without_it(study: Study) -> None:
    client = panelist_client(study, "P001", consent=False)
    page = client.get("/p/proposals/").content.decode()
    assert AGREE in page and 'name="d0-text"' not in page
    client.post("/p/proposals/", PROPOSAL)
    assert not Proposal.objects.exists()
    response = client.post("/p/proposals/", {}, follow=True)  # the box left unticked
    assert "Please tick the box to agree before you start." in response.content.decode()
    assert not ProposalConsent.objects.exists()


def test_once_given_consent_is_not_asked_again_in_round_0(study: Study) -> None:
    client = panelist_client(study, "P001", consent=False)
    page = client.post("/p/proposals/", {"consent": "yes"}, follow=True).content.decode()
    assert AGREE not in page and 'name="d0-text"' in page
    assert AGREE not in client.get("/p/proposals/").content.decode()
    assert ProposalConsent.objects.get().panelist.pseudonym == "P001"


def test_round_1_does_not_ask_again_the_consent_given_in_round_0(study: Study) -> None:
    agreed = panelist_client(study, "P001")
    declined_to_say = panelist_client(study, "P002", consent=False)
    round0 = ProposalRound.objects.get(study=study)
    given = ProposalConsent.objects.get(panelist__pseudonym="P001").consented_at
    proposals.proposal_round_close(proposal_round=round0)
    round_1 = services.round_open(round=study.rounds.get(number=1), notify=False)
    assert (
        Participation.objects.get(round=round_1, panelist__pseudonym="P001").consented_at == given
    )
    assert AGREE not in agreed.get("/p/").content.decode()
    assert agreed.get("/p/rate/", follow=True).redirect_chain[-1][0] != "/p/"
    assert AGREE in declined_to_say.get("/p/").content.decode()


def test_the_coordinator_takes_an_acceptance_back_and_its_item_leaves_round_1(
    study: Study,
) -> None:
    panelist_client(study, "P001").post(
        "/p/proposals/", {"d0-text": "Peer support groups for GPs.", "d0-reason": "Isolation."}
    )
    coordinator = as_user(member(study, "coordinator"))
    base = f"/studies/{study.slug}/round-0/"
    coordinator.post(base + "proposals/1/accept/", {
        "code": "R0-01", "text_fr": "Groupes de pairs", "text_nl": "Intervisiegroepen",
        "text_en": "Peer support groups",
    })  # fmt: skip
    page = coordinator.get(base).content.decode()
    assert "Take back (removes item R0-01 from round 1)" in page
    response = coordinator.post(base + "proposals/1/reopen/", follow=True)
    assert "R0-01 waits for a decision again; item R0-01 is removed from round 1." in (
        response.content.decode()
    )
    assert not Item.objects.filter(code="R0-01").exists()
    assert not study.rounds.get(number=1).round_items.filter(item__code="R0-01").exists()
    proposal = Proposal.objects.get()
    assert (proposal.status, proposal.item_id) == ("pending", None)
    entry = AuditEntry.objects.get(action="proposal.reopened")
    assert entry.before == {"status": "accepted", "reason": "", "item": "R0-01"}

"""The round 0 demo: a small study whose panel proposes new actions before round 1.

Twelve simulated GPs answer the open question of two domains (peer support, overwork) and
make five proposals; the coordinator accepts two of them as items of round 1 (one with a
duplicate merged in), and declines one with a reason. Round 1 is then open. Every text is
invented for the demo and labelled simulated, like the rest of the study.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
from django.contrib.auth.models import User
from django.utils import timezone

from rounds import proposals, services
from rounds.models import Panelist, Proposal, Study
from rounds.proposals import Answer, Draft

SLUG = "demo-round0"
TITLE = {
    "fr": "Démo : le panel propose (tour 0)",
    "nl": "Demo: het panel stelt voor (ronde 0)",
    "en": "Demo: the panel proposes (round 0)",
}
ITEM_CODES = ("P06", "P07", "P08", "P09", "P17", "P18", "P19", "P20", "P21")
PEER, OVERWORK = "Peer support", "Overwork"

# (pseudonym, domain, proposed action, why), as simulated panelists would write them.
PROPOSALS = [
    ("P003", OVERWORK,
     "Offer every GP a yearly confidential check-up with an occupational physician.",
     "Burnout is noticed too late: GPs rarely see a doctor themselves."),
    ("P007", OVERWORK,
     "A free health check for GPs every year, outside their own practice.",
     "We look after everyone but ourselves."),
    ("P005", OVERWORK,
     "Let patients send sick-leave certificates for short absences themselves, online.",
     "Short certificates take a large share of the week's paperwork."),
    ("P010", OVERWORK,
     "Forbid night duty for GPs over 55.",
     "Night shifts wear older doctors out."),
    ("P002", PEER,
     "Pay peer review groups (intervision) as part of the accreditation hours.",
     "Groups that meet outside working hours die out."),
]  # fmt: skip

ANSWERS = {
    "P001": (PEER, "Colleagues nearby who know the job; a phone number to call at night."),
    "P004": (OVERWORK, "The administrative load, more than the number of patients."),
    "P008": (PEER, "Nothing to add: the list covers it."),
}

ACCEPTED = {
    "R0-01": (
        "N01",
        {
            "fr": "Offrir à chaque médecin généraliste un bilan de santé annuel confidentiel "
            "auprès d'un médecin du travail.",
            "nl": "Elke huisarts jaarlijks een vertrouwelijk gezondheidsonderzoek bij een "
            "arbeidsgeneesheer aanbieden.",
            "en": "Offer every GP a yearly confidential health check with an occupational "
            "physician.",
        },
        ["R0-02"],
    ),
    "R0-03": (
        "N02",
        {
            "fr": "Permettre au patient de déclarer lui-même en ligne une courte incapacité de "
            "travail, sans certificat.",
            "nl": "De patiënt een korte arbeidsongeschiktheid zelf online laten melden, zonder "
            "attest.",
            "en": "Let patients declare a short sick leave online themselves, without a "
            "certificate.",
        },
        [],
    ),
}
DECLINED = {
    "R0-04": "The study looks for measures for every GP; duty rosters by age are for the "
    "local GP circles to organise.",
    "R0-05": "Item P08 already proposes paid peer groups: please rate it, and comment there, "
    "in round 1.",
}


def build_round0_demo(
    create_study: Callable[..., Study], rows: list[dict[str, str]], rng: np.random.Generator
) -> Study:
    """The study `SLUG`: round 0 closed with its decisions, round 1 open for 14 days.
    ``create_study`` builds the study with its items (shared with the other demos)."""
    Study.objects.filter(slug=SLUG).delete()
    chosen = [row for row in rows if row["code"] in ITEM_CODES]
    study = create_study(SLUG, TITLE, chosen, max_rounds=2)
    _panel(study, rng)
    round_1 = services.round_create(study=study)
    coordinator = User.objects.filter(username="coordinator").first()
    round0 = proposals.proposal_round_open(
        proposal_round=proposals.proposal_round_add(study=study), notify=False
    )
    by = {p.pseudonym: p for p in study.panelists.all()}
    for pseudonym, (domain, text) in ANSWERS.items():
        proposals.panel_save(proposal_round=round0, panelist=by[pseudonym],
                             answers=[Answer(domain, text)], drafts=[])  # fmt: skip
    for pseudonym, domain, text, why in PROPOSALS:
        proposals.panel_save(proposal_round=round0, panelist=by[pseudonym], answers=[],
                             drafts=[Draft(domain, text, why)], language="en")  # fmt: skip
    found = {p.label: p for p in Proposal.objects.filter(proposal_round=round0)}
    for label, (code, texts, also) in ACCEPTED.items():
        proposals.proposal_accept(
            proposal=found[label], code=code, texts=texts, also=[found[a] for a in also],
            reason="Not on the list yet; reworded for the panel.", by=coordinator,
        )  # fmt: skip
    for label, reason in DECLINED.items():
        proposals.proposal_decline(proposal=found[label], reason=reason, by=coordinator)
    proposals.proposal_round_close(proposal_round=round0)
    round_1.closes_at = timezone.now() + timedelta(days=14)
    round_1.save(update_fields=["closes_at"])
    services.round_open(round=round_1, notify=False)
    return study


def _panel(study: Study, rng: np.random.Generator) -> None:
    languages = rng.choice(["fr", "nl", "en"], size=12, p=[0.45, 0.45, 0.1])
    Panelist.objects.bulk_create(
        Panelist(
            study=study, pseudonym=f"P{i + 1:03d}", email=f"gp{i + 1:03d}@{SLUG}.demo.invalid",
            name=f"Simulated GP {i + 1}", language=str(languages[i]),
            group="solo practice" if i % 2 else "group practice",
        )
        for i in range(12)
    )  # fmt: skip

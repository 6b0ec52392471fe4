"""The round 0 demo: proposals made, some accepted into round 1 with their lineage."""

from __future__ import annotations

import numpy as np
import pytest

from demo.kce import _create_study, load_items
from demo.proposals import SLUG, build_round0_demo
from rounds.models import Item, Proposal, ProposalRound

pytestmark = pytest.mark.django_db


def test_the_demo_study_has_a_round_0_whose_accepted_proposals_are_rated_in_round_1() -> None:
    study = build_round0_demo(_create_study, load_items(), np.random.default_rng(1))
    assert study.slug == SLUG and study.is_simulated
    statuses = sorted(Proposal.objects.values_list("status", flat=True))
    assert statuses == ["accepted", "accepted", "declined", "declined", "merged"]
    round_1 = study.rounds.get(number=1)
    assert round_1.state == "open"
    proposed = round_1.round_items.filter(item__source=Item.Source.PANEL)
    assert sorted(proposed.values_list("item__code", flat=True)) == ["N01", "N02"]
    assert proposed.count() + 9 == round_1.round_items.count()
    assert ProposalRound.objects.get(study=study).state == "closed"

"""Round 0 in the study file: present when the study has one (with its question), absent
otherwise, so the design hash of a study without a round 0 does not change."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.auth.models import User

from rounds import proposals
from rounds.design import design_document, design_hash
from rounds.models import ProposalRound
from rounds.studyfile.create import study_create_from_file
from rounds.studyfile.reader import read_study_file
from rounds.studyfile.writer import study_file
from tests.factories import make_study
from tests.rounds.test_study_file import MINIMAL

pytestmark = pytest.mark.django_db


def test_a_study_without_round_0_has_none_in_its_file() -> None:
    study = make_study()
    assert "round_0" not in design_document(study)["schedule"]
    assert "round_0" not in yaml.safe_load(study_file(study))["schedule"]


def test_adding_round_0_changes_the_design_and_its_question_is_in_the_file() -> None:
    study = make_study()
    before = design_hash(study)
    found = proposals.proposal_round_add(study=study)
    proposals.proposal_round_set_question(proposal_round=found, texts={"en": "What is missing?"})
    assert design_hash(study) != before
    document = yaml.safe_load(study_file(study))
    assert document["schedule"]["round_0"] == {"question": {"en": "What is missing?"}}
    assert read_study_file(study_file(study)).hash == design_hash(study)


def test_a_study_created_from_a_file_with_round_0_has_one() -> None:
    owner = User.objects.create_user("owner", is_staff=True)
    text = MINIMAL + "schedule:\n  round_0:\n    question: {en: What would help you most?}\n"
    copy = study_create_from_file(data=text.encode(), by=owner)
    assert ProposalRound.objects.get(study=copy).question == {"en": "What would help you most?"}
    assert read_study_file(text.encode()).hash == design_hash(copy)


def test_a_round_0_without_a_question_takes_the_built_in_one() -> None:
    owner = User.objects.create_user("owner", is_staff=True)
    copy = study_create_from_file(data=(MINIMAL + "schedule: {round_0: {}}\n").encode(), by=owner)
    assert ProposalRound.objects.get(study=copy).question == {}

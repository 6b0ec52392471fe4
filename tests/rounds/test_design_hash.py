"""The protocol hash is the design hash of the study file, kept when round 1 opens."""

from __future__ import annotations

import pytest

from reports.pdf import stamp_rows
from reports.stamp import build_stamp, stamp_lines
from rounds import services
from rounds.design import design_hash
from rounds.models import Protocol
from rounds.studyfile.reader import read_study_file
from rounds.studyfile.writer import study_file
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def test_opening_round_1_keeps_the_hash_of_the_design_as_it_stood() -> None:
    study = make_study()
    deposited = read_study_file(study_file(study)).hash  # e.g. on a registry, before round 1
    run_round(study)
    protocol = Protocol.objects.get(study=study)
    assert protocol.locked_design_hash == deposited
    assert services.protocol_hash(protocol) == deposited
    assert study.rounds.get(number=1).analysis.protocol_hash == deposited


def test_before_round_1_the_protocol_hash_follows_the_design() -> None:
    study = make_study()
    before = services.protocol_hash(study.protocol)
    services.protocol_update(protocol=study.protocol, changes={"max_rounds": 4})
    assert services.protocol_hash(study.protocol) != before
    assert services.protocol_hash(study.protocol) == design_hash(study)


def test_a_change_after_round_1_shows_both_hashes_in_the_stamp_and_the_report() -> None:
    study = make_study()
    run_round(study)
    locked = study.protocol.locked_design_hash
    unchanged = build_stamp(study, b"")
    assert unchanged["design_hash"] == unchanged["protocol_hash"] == locked
    assert len(stamp_rows(unchanged, "today")) == 6

    services.protocol_update(
        protocol=study.protocol, changes={"max_rounds": 5}, reason="More rounds needed"
    )
    stamp = build_stamp(study, b"")
    assert stamp["protocol_hash"] == locked
    assert stamp["design_hash"] == design_hash(study) != locked
    labels = [label for label, _value in stamp_rows(stamp, "today")]
    assert any("changed after round 1 opened" in label for label in labels)
    assert f"design_hash: {stamp['design_hash']}" in stamp_lines(stamp)

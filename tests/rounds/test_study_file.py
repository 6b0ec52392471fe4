"""The study file: a study's design written as YAML, read back, and hashed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import rfc8785
import yaml
from django.contrib.auth.models import User
from django.utils import timezone

from rounds import design, record
from rounds.design import design_document, design_hash
from rounds.models import Criterion, Item, ScheduledReminder, Study, StudyRecord
from rounds.services import round_create, round_schedule
from rounds.studyfile.create import study_create_from_file
from rounds.studyfile.problems import StudyFileRejected
from rounds.studyfile.reader import read_study_file
from rounds.studyfile.schema import schema_json
from rounds.studyfile.writer import study_file
from tests.factories import make_study

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
format_version: 1
study:
  slug: minimal
  title: {en: A minimal study}
  languages: [en]
  report_language: en
criteria:
  - code: acceptability
    name: {en: Acceptability}
    scale: {min: 1, max: 9}
items:
  - code: A1
    text: {en: Do something}
"""


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner", is_staff=True)


def rich_study() -> Study:
    """A study that uses every part of the design: anchors, a custom scale, a decision
    rule, lineage, metadata, designed groups and a scheduled round 1 with reminders."""
    study = make_study(n_items=3)
    study.groups = ["GPs", "Psychologists"]
    study.description = {"en": "Two lines:\nfirst, then second.", "fr": "Étude"}
    study.save()
    Criterion.objects.filter(study=study, code="acceptability").update(
        anchors={"en": {"min": "Not at all", "max": "Fully"}, "fr": {"min": "Pas du tout"}},
        question={"en": "How acceptable is it?"},
    )
    Criterion.objects.filter(study=study, code="priority").update(
        scale_min=0, scale_max=10, low_max=3, high_min=7, rule="iqr:2"
    )
    protocol = study.protocol
    protocol.accept_rule = "acceptability = in AND priority.median >= 7"
    protocol.save()
    first, second = Item.objects.filter(study=study).order_by("position")[:2]
    second.derived_from.set([first])
    second.metadata = {"actors": ["individual", "health_system"], "stage": 2}
    second.source, second.reference = "literature", "KCE Reports 165 (2011), p. 42"
    second.save()
    StudyRecord.objects.create(
        study=study, ethics="Ethics committee X, 2025/017", limitations="Written afterwards"
    )
    round = round_create(study=study)
    opens = timezone.now() + timedelta(days=3)
    round_schedule(round=round, opens_at=opens, closes_at=opens + timedelta(days=14))
    ScheduledReminder.objects.create(round=round, days_before=7)
    ScheduledReminder.objects.create(round=round, days_before=2)
    return Study.objects.get(pk=study.pk)


def rejection(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(StudyFileRejected) as caught:
        read_study_file(text.encode("utf-8"), **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


# --------------------------------------------------------------------------- writing and hash


@pytest.mark.django_db
def test_it_writes_a_design_that_reads_back_to_the_same_document() -> None:
    study = rich_study()
    design = read_study_file(study_file(study))
    assert design.document == design_document(study)
    assert design.hash == design_hash(study)


@pytest.mark.django_db
def test_the_file_holds_every_part_of_the_design() -> None:
    data = yaml.safe_load(study_file(rich_study()))
    assert data["format_version"] == 1
    priority = data["criteria"][1]
    assert priority["scale"] == {"min": 0, "max": 10}
    assert priority["bands"] == {"low_max": 3, "high_min": 7}
    assert priority["rule"] == "iqr:2"
    assert data["criteria"][0]["anchors"]["en"] == {"min": "Not at all", "max": "Fully"}
    assert data["protocol"]["accept_rule"].startswith("acceptability = in")
    assert data["items"][1]["derived_from"] == ["I01"]
    assert data["items"][1]["metadata"]["actors"] == ["individual", "health_system"]
    assert set(data["items"][0]["text"]) == {"fr", "nl", "en"}
    assert data["groups"] == ["GPs", "Psychologists", "group practice", "solo practice"]
    assert data["schedule"]["round_1"]["reminders_days_before"] == [7, 2]
    assert data["items"][1]["source"] == "literature"
    assert data["items"][1]["reference"] == "KCE Reports 165 (2011), p. 42"
    assert data["record"]["ethics"] == "Ethics committee X, 2025/017"
    assert "panelists" not in data and "@" not in json.dumps(data)


@pytest.mark.django_db
def test_anyone_can_recompute_the_hash_with_a_yaml_parser_rfc8785_and_sha256() -> None:
    study = rich_study()
    data = study_file(study)
    # What the documentation tells a reader to do, with no code of the platform:
    independent = hashlib.sha256(rfc8785.dumps(yaml.safe_load(data))).hexdigest()
    assert independent == design_hash(study)
    assert f"Design hash (SHA-256 of the RFC 8785 canonical form): {independent}" in data.decode()


@pytest.mark.django_db
def test_comments_key_order_and_layout_do_not_change_the_hash() -> None:
    data = yaml.safe_load(study_file(make_study()))
    original = read_study_file(study_file(make_study(seed=1))).hash  # another study
    reordered = {key: data[key] for key in reversed(list(data))}
    text = "# a comment\n" + json.dumps(reordered, indent=7)  # JSON is YAML too
    assert read_study_file(text.encode()).hash == hashlib.sha256(rfc8785.dumps(data)).hexdigest()
    assert read_study_file(text.encode()).hash != original


@pytest.mark.django_db
def test_the_hash_changes_with_any_change_of_the_design() -> None:
    study = make_study()
    before = design_hash(study)
    Item.objects.filter(study=study, code="I01").update(
        text={"en": "Reworded", "fr": "x", "nl": "y"}
    )
    assert design_hash(study) != before


@pytest.mark.django_db
def test_a_hand_written_file_takes_the_defaults_and_creates_what_it_says(owner: User) -> None:
    design = read_study_file(MINIMAL.encode())
    assert design.document["protocol"]["quantile_type"] == 7
    assert design.document["criteria"][0]["bands"] == {"low_max": 3, "high_min": 7}
    assert design.document["criteria"][0]["rule"] == "percent:75"
    study = study_create_from_file(data=MINIMAL.encode(), by=owner)
    assert design_hash(study) == design.hash
    assert study.rounds.count() == 0  # nothing scheduled: round 1 is prepared by hand


def test_yaml_words_for_booleans_and_dates_stay_text() -> None:
    text = MINIMAL.replace("{en: Do something}", "{en: no}").replace(
        "{en: Acceptability}", "{en: 2025-01-01}"
    )
    document = read_study_file(text.encode()).document
    assert document["items"][0]["text"] == {"en": "no"}
    assert document["criteria"][0]["name"] == {"en": "2025-01-01"}


def test_the_published_schema_is_the_one_the_reader_enforces() -> None:
    published = (ROOT / "docs" / "study-file.schema.json").read_text(encoding="utf-8")
    assert published == schema_json(), (
        "run: manage.py delphi_study schema > docs/study-file.schema.json"
    )


# --------------------------------------------------------------------------- creating


@pytest.mark.django_db
def test_a_study_created_from_a_file_has_the_same_design(owner: User) -> None:
    original = rich_study()
    copy = study_create_from_file(data=study_file(original), by=owner, slug="the-copy")
    expected = design_document(original)
    expected["study"]["slug"] = "the-copy"
    assert design_document(copy) == expected
    assert copy.memberships.get().user == owner
    assert copy.rounds.get().state == "draft"
    assert copy.panelists.count() == 0


@pytest.mark.django_db
def test_the_audit_log_records_the_hash_of_the_file_a_study_came_from(owner: User) -> None:
    data = MINIMAL.encode()
    study = study_create_from_file(data=data, by=owner)
    created = study.audit_entries.get(action="study.created")
    assert created.after["study_file_hash"] == read_study_file(data).hash
    assert created.actor == owner


@pytest.mark.django_db
def test_a_taken_short_name_creates_nothing_and_says_which(owner: User) -> None:
    study_create_from_file(data=MINIMAL.encode(), by=owner)
    studies = Study.objects.count()
    with pytest.raises(StudyFileRejected) as caught:
        study_create_from_file(data=MINIMAL.encode(), by=owner)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (3, "study.slug")
    assert "minimal-2" in problem.message
    assert Study.objects.count() == studies


@pytest.mark.django_db
def test_a_round_1_schedule_in_the_past_creates_nothing(owner: User) -> None:
    text = MINIMAL + (
        "schedule:\n  round_1:\n    opens_at: '2020-03-02T09:00:00+01:00'\n"
        "    closes_at: '2020-03-16 18:00'\n"
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(StudyFileRejected) as caught:
        study_create_from_file(data=text.encode(), by=owner, now=now)
    assert [(p.line, p.field) for p in caught.value.problems] == [
        (16, "schedule.round_1.opens_at"),
        (17, "schedule.round_1.closes_at"),
    ]
    assert "this time has passed" in caught.value.problems[0].message
    assert not Study.objects.exists()


@pytest.mark.django_db
def test_a_future_schedule_prepares_round_1_with_its_times_and_reminders(owner: User) -> None:
    text = MINIMAL + (
        "schedule:\n  round_1:\n    opens_at: '2030-03-04 09:00'\n"
        "    closes_at: '2030-03-18T18:00:00+01:00'\n    reminders_days_before: [2, 7]\n"
    )
    study = study_create_from_file(data=text.encode(), by=owner)
    first = study.rounds.get()
    assert first.opens_at == datetime(2030, 3, 4, 8, 0, tzinfo=UTC)  # Brussels, winter time
    assert first.closes_at == datetime(2030, 3, 18, 17, 0, tzinfo=UTC)
    assert sorted(first.reminders.values_list("days_before", flat=True)) == [2, 7]
    assert [ri.item.code for ri in first.round_items.all()] == ["A1"]
    schedule = design_document(study)["schedule"]["round_1"]
    assert schedule["opens_at"] == "2030-03-04T09:00:00+01:00"


@pytest.mark.django_db
def test_a_merged_item_lists_every_item_it_came_from() -> None:
    study = make_study(n_items=3)
    first, second, third = Item.objects.filter(study=study).order_by("position")
    third.derived_from.set([second, first])
    items = design_document(study)["items"]
    assert [item["derived_from"] for item in items] == [[], [], ["I01", "I02"]]


def test_the_record_in_the_design_is_what_is_written_before_round_1() -> None:
    """The record's other fields tell what happened afterwards; in the design they would
    make every report say the design changed after round 1 opened."""
    afterwards = {"non_response", "recommendations_drafting", "recommendations_validation",
                  "limitations"}  # fmt: skip
    assert set(design.RECORD_FIELDS) == set(record.RECORD_FIELDS) - afterwards


@pytest.mark.django_db
def test_writing_the_limitations_after_round_1_leaves_the_design_unchanged() -> None:
    study = rich_study()
    before = design_hash(study)
    StudyRecord.objects.filter(study=study).update(limitations="Only 59 GPs", non_response="3")
    assert design_hash(study) == before

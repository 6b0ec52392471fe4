"""manage.py delphi_study export / create / hash / schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from rounds.design import design_hash
from rounds.models import Study
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_export_then_create_gives_a_study_with_the_same_design(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = make_study()
    User.objects.create_user("ann", is_staff=True)
    path = tmp_path / "study.yaml"
    call_command("delphi_study", "export", study.slug, "--out", str(path))
    call_command("delphi_study", "create", str(path), "--owner", "ann", "--slug", "copy")
    assert "Created the study copy" in capsys.readouterr().out
    copy = Study.objects.get(slug="copy")
    assert copy.items.count() == study.items.count()
    assert copy.memberships.get().user.username == "ann"


def test_hash_prints_the_design_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = make_study()
    path = tmp_path / "study.yaml"
    call_command("delphi_study", "export", study.slug, "--out", str(path))
    capsys.readouterr()
    call_command("delphi_study", "hash", str(path))
    assert capsys.readouterr().out.split() == [design_hash(study), str(path)]


def test_a_broken_file_is_refused_with_its_lines_and_nothing_is_created(tmp_path: Path) -> None:
    User.objects.create_user("ann", is_staff=True)
    path = tmp_path / "broken.yaml"
    path.write_text("format_version: 1\nstudy:\n  slug: x\n  titel: {en: X}\n", encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("delphi_study", "create", str(path), "--owner", "ann")
    message = str(caught.value)
    assert "nothing was created" in message
    assert (
        "line 4, field study.titel: there is no such field here; did you mean “title”?" in message
    )
    assert "line 1, field criteria: this field is missing; add it." in message
    assert not Study.objects.exists()


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("delphi_study", "schema")
    schema = json.loads(capsys.readouterr().out)
    assert schema["properties"]["format_version"] == {
        "const": 1,
        "description": "The version of this format.",
    }


def test_an_unknown_study_or_owner_is_named(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No study with the slug 'nope'"):
        call_command("delphi_study", "export", "nope")
    with pytest.raises(CommandError, match="No user with the username 'bob'"):
        call_command("delphi_study", "create", str(tmp_path / "x.yaml"), "--owner", "bob")

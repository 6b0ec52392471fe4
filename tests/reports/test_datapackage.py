"""The exports are a Frictionless data package: datapackage.json describes every CSV."""

from __future__ import annotations

import json
from pathlib import Path

import frictionless
import pytest

from reports import exports
from reports.services import build_files
from rounds.studyfile.reader import read_study_file
from tests.reports.helpers import finished_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def files() -> dict[str, bytes]:
    return build_files(finished_study(), version=2, with_pdf=False).files


def test_the_whole_package_is_valid_for_frictionless(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "type", "note"])
    validated = {task.name for task in report.tasks}
    assert {"ratings", "results", "comments", "stability", "rules", "codebook"} <= validated


def test_every_csv_is_described_field_by_field_with_its_type(files: dict[str, bytes]) -> None:
    package = json.loads(files["datapackage.json"])
    resources = {resource["path"]: resource for resource in package["resources"]}
    assert {name for name in files if name.endswith(".csv")} <= set(resources)
    for name in exports.TABLES:
        header = files[name].decode("utf-8").splitlines()[0].split(",")
        fields = resources[name]["schema"]["fields"]
        assert [field["name"] for field in fields] == header
        assert all(field["description"] and field["type"] for field in fields)
    ratings = {f["name"]: f for f in resources["ratings.csv"]["schema"]["fields"]}
    assert ratings["value"]["type"] == "integer"
    results = {f["name"]: f for f in resources["results.csv"]["schema"]["fields"]}
    assert results["median"]["type"] == "number"
    assert results["disagreement"]["type"] == "boolean"
    assert results["consensus"]["constraints"] == {"enum": ["in", "out", "none"]}


def test_the_package_carries_the_study_file_of_its_design(files: dict[str, bytes]) -> None:
    stamp = json.loads(files["stamp.json"])
    assert read_study_file(files["study.yaml"]).hash == stamp["design_hash"]
    package = json.loads(files["datapackage.json"])
    assert package["name"] == stamp["study"]
    assert package["version"] == "2"
    assert "datapackage.json" in files["README.txt"].decode()


def test_a_file_missing_from_the_codebook_is_an_error_not_a_guess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    columns = [*exports.RATINGS_COLUMNS, "mystery"]
    monkeypatch.setitem(exports.TABLES, "ratings.csv", (columns, []))
    with pytest.raises(ValueError, match=r"does not describe ratings\.csv: mystery"):
        exports.table_schema("ratings.csv")


def test_frictionless_would_catch_a_value_of_the_wrong_type(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    """The validation above is real: a rating that is not an integer fails it."""
    package = json.loads(files["datapackage.json"])
    for resource in package["resources"]:
        resource.pop("hash"), resource.pop("bytes")  # the tampered file has other bytes
    files = {**files, "datapackage.json": json.dumps(package).encode()}
    lines = files["ratings.csv"].decode().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",seven"
    files["ratings.csv"] = ("\n".join(lines) + "\n").encode()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.flatten(["rowNumber", "fieldName", "type"]) == [[2, "value", "type-error"]]
    assert [task.name for task in report.tasks if not task.valid] == ["ratings"]

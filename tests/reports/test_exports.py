"""The data files: the §6 contract, the extra tables, the codebook, the workbook, the zip."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from reports import exports
from reports.services import build_files
from rounds import csvio, selectors
from rounds.models import Result, Study
from tests.reports.helpers import finished_study, zip_members

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return finished_study()


def _files(study: Study) -> dict[str, bytes]:
    return build_files(study, version=3, with_pdf=False).files


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_ratings_csv_is_byte_for_byte_the_engines_format(study: Study, tmp_path: Path) -> None:
    frame = selectors.ratings_frame(study=study)
    csvio.write_ratings_csv(frame, tmp_path / "ratings.csv")

    assert _files(study)["ratings.csv"] == (tmp_path / "ratings.csv").read_bytes()


def test_ratings_csv_quotes_a_group_with_commas_and_quotes_as_the_csv_module_does(
    study: Study, tmp_path: Path
) -> None:
    from rounds.models import Panelist

    Panelist.objects.filter(study=study, pseudonym="P001").update(group='solo, "rural"\nwest')
    frame = selectors.ratings_frame(study=study)
    csvio.write_ratings_csv(frame, tmp_path / "ratings.csv")

    assert csvio.ratings_csv(frame) == (tmp_path / "ratings.csv").read_bytes()
    assert b'"solo, ""rural""\nwest"' in csvio.ratings_csv(frame)


def test_results_csv_has_the_methods_columns_then_the_margin(study: Study) -> None:
    header = _files(study)["results.csv"].decode().splitlines()[0].split(",")

    assert header == [*csvio.RESULTS_COLUMNS, "margin", "decision", "basis"]


def test_results_csv_says_which_clause_decided_each_item(study: Study) -> None:
    results = pd.read_csv(io.BytesIO(_files(study)["results.csv"]), keep_default_na=False)
    final = results[results["round"] == results["round"].max()]

    for row in results.itertuples():
        verdict = f"{row.criterion} = {'in' if row.decision == 'accepted' else 'out'}"
        if row.decision == "accepted":  # the default rule: every criterion in
            assert f"{verdict} held (in)" in row.basis
        elif row.decision == "rejected":
            assert "= out held (out)" in row.basis
        else:
            assert "= in failed (" in row.basis
    assert set(final["decision"]) <= {"accepted", "rejected", "no_consensus"}
    codebook = _files(study)["codebook.csv"].decode()
    assert "results.csv,basis,text," in codebook


def test_delphi_analyse_on_ratings_csv_gives_results_csv_again(
    study: Study, tmp_path: Path
) -> None:
    files = _files(study)
    (tmp_path / "ratings.csv").write_bytes(files["ratings.csv"])
    call_command("delphi_analyse", str(tmp_path / "ratings.csv"), "--out", str(tmp_path / "out"))

    ours = pd.read_csv(io.BytesIO(files["results.csv"]))
    again = pd.read_csv(tmp_path / "out" / "results.csv")
    keys = ["round", "item", "criterion"]
    merged = ours.merge(again, on=keys, suffixes=("", "_again"))
    assert len(merged) == len(ours) == len(again)
    for column in ["n", "median", "q1", "q3", "iqr", "pct_high", "mean", "sd"]:
        assert np.allclose(merged[column], merged[f"{column}_again"], equal_nan=True), column
    assert (merged["consensus"] == merged["consensus_again"]).all()


def test_comments_csv_has_pseudonyms_and_scrubbed_text(study: Study) -> None:
    rows = _csv(_files(study)["comments.csv"])

    assert rows and list(rows[0]) == ["round", "panelist", "item", "criterion", "comment"]
    assert all(row["panelist"].startswith("P") for row in rows)
    assert any("[e-mail removed]" in row["comment"] for row in rows)
    assert any("[name removed]" in row["comment"] for row in rows)
    assert not any("@" in row["comment"] for row in rows)


def test_stability_csv_compares_round_2_with_round_1(study: Study) -> None:
    rows = _csv(_files(study)["stability.csv"])

    assert rows and {row["round"] for row in rows} == {"2"}
    assert {row["prev_round"] for row in rows} == {"1"}
    assert all(row["stable"] in ("true", "false", "") for row in rows)


def test_rules_csv_gives_the_verdict_of_every_rule(study: Study) -> None:
    rows = _csv(_files(study)["rules.csv"])
    stored = Result.objects.get(
        round__study=study, round__number=1, round_item__item__code="I01",
        criterion__code="acceptability",
    ).all_rules  # fmt: skip
    row = next(
        r for r in rows if (r["round"], r["item"], r["criterion"]) == ("1", "I01", "acceptability")
    )

    assert row["percent_75"] == stored["percent:75"]
    assert row["comet"] == stored["comet"] and row["rand"] == stored["rand"]
    assert row["iqr_margin"] == str(stored["iqr_margin"])


def test_the_codebook_documents_every_column_of_every_file_and_sheet(study: Study) -> None:
    files = _files(study)
    documented = {(r["file"], r["column"]) for r in _csv(files["codebook.csv"])}

    for name, data in files.items():
        if name.endswith(".csv") and name != "codebook.csv":
            header = data.decode().splitlines()[0].split(",")
            missing = [c for c in header if (name, c) not in documented]
            assert not missing, (name, missing)
    book = load_workbook(io.BytesIO(files["data.xlsx"]), read_only=True)
    protocol = next(book["protocol"].iter_rows(values_only=True))
    assert all(("protocol", c) in documented for c in protocol)


def test_the_workbook_holds_the_same_tables_plus_protocol_stamp_and_codebook(
    study: Study,
) -> None:
    files = _files(study)
    book = load_workbook(io.BytesIO(files["data.xlsx"]), read_only=True)

    assert book.sheetnames == [
        "about", "protocol", "ratings", "results", "comments", "stability", "rules", "codebook",
    ]  # fmt: skip
    for sheet in ["ratings", "results", "comments", "stability", "rules"]:
        rows = list(book[sheet].iter_rows(values_only=True))
        assert len(rows) - 1 == len(_csv(files[f"{sheet}.csv"])), sheet
    ratings = list(book["ratings"].iter_rows(values_only=True))
    first = _csv(files["ratings.csv"])[0]
    assert ratings[1] == (
        int(first["round"]), first["panelist"], first["group"], first["item"],
        first["criterion"], int(first["value"]) if first["value"] else None,
    )  # fmt: skip
    settings = dict(book["protocol"].iter_rows(min_row=2, values_only=True))
    assert settings["quantile_type"] == 7 and settings["criterion.priority.rule"] == "percent:75"


def test_every_file_carries_the_same_stamp(study: Study) -> None:
    built = build_files(study, version=3, with_pdf=False)
    stamp = built.stamp

    assert json.loads(built.files["stamp.json"]) == stamp
    readme = built.files["README.txt"].decode()
    for key in ("protocol_hash", "data_checksum", "generated_at", "software_version"):
        assert f"{key}: {stamp[key]}" in readme
    assert "quantile_method: 7" in readme
    book = load_workbook(io.BytesIO(built.files["data.xlsx"]), read_only=True)
    about = dict(book["about"].iter_rows(min_row=2, values_only=True))
    assert about["protocol_hash"] == stamp["protocol_hash"]
    assert about["data_checksum"] == stamp["data_checksum"]
    assert about["report_version"] == "3"


def test_the_readme_lists_the_sha256_of_every_file(study: Study) -> None:
    files = _files(study)
    readme = files["README.txt"].decode()

    for name, data in files.items():
        if name != "README.txt":
            assert f"{hashlib.sha256(data).hexdigest()}  {name}" in readme


def test_the_zip_holds_every_file_in_a_named_folder(study: Study) -> None:
    built = build_files(study, version=3, with_pdf=False)
    members = zip_members(built.archive)
    day = built.stamp["generated_at"][:10].replace("-", "")

    folder = f"{study.slug}-report-v3-{day}"
    assert set(members) == {f"{folder}/{name}" for name in built.files}
    assert members[f"{folder}/ratings.csv"] == built.files["ratings.csv"]


def test_the_data_checksum_is_the_sha256_of_ratings_csv(study: Study) -> None:
    built = build_files(study, with_pdf=False)

    assert built.stamp["data_checksum"] == hashlib.sha256(built.files["ratings.csv"]).hexdigest()


def _queries(n_items: int, counter: Callable[..., Any]) -> int:
    study = finished_study(n_items=n_items, n_panelists=6 + n_items, n_recommendations=1)
    with counter(30) as queries:
        exports.collect_tables(study)
    return len(queries.captured_queries)


def test_its_query_count_does_not_grow_with_the_data(
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    assert _queries(4, django_assert_max_num_queries) == _queries(10, django_assert_max_num_queries)


def test_delphi_export_writes_the_report_and_the_data(study: Study, tmp_path: Path) -> None:
    out = tmp_path / "export"
    call_command("delphi_export", study.slug, "--out", str(out), "--no-pdf")

    assert {p.name for p in out.iterdir()} >= {
        "ratings.csv", "results.csv", "comments.csv", "codebook.csv", "data.xlsx", "README.txt",
    }  # fmt: skip


def test_delphi_export_refuses_an_unknown_study(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No study"):
        call_command("delphi_export", "no-such-study", "--out", str(tmp_path))

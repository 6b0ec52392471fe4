"""The delphi_analyse command: METHODS §6 outside the web app."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from rounds import consensus, csvio

HEADER = "round,panelist,group,item,criterion,value\n"


@pytest.fixture
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for rnd in (1, 2):
        for item in ("I1", "I2", "I3"):
            for crit in ("acceptability", "priority"):
                for p in range(25):
                    value = None if rng.random() < 0.1 else float(rng.integers(4, 10))
                    rows.append((rnd, f"P{p:03d}", "gp", item, crit, value))
    return pd.DataFrame(rows, columns=list(csvio.RATINGS_COLUMNS))


def test_it_writes_results_matching_the_engine(ratings: pd.DataFrame, tmp_path: Path) -> None:
    csvio.write_ratings_csv(ratings, tmp_path / "ratings.csv")
    out = tmp_path / "out"
    call_command("delphi_analyse", str(tmp_path / "ratings.csv"), "--out", str(out),
                 "--rule", "rand", "--quantile", "6")  # fmt: skip
    written = pd.read_csv(out / "results.csv")
    expected = consensus.describe(
        ratings, consensus.CriterionSettings(rule=consensus.Rule("rand"), quantile=6)
    )
    assert written.columns.tolist() == [*consensus.RESULTS_COLUMNS, "margin"]
    assert len(written) == len(expected) == 12
    for column in ("n", "n_missing", "mean", "sd", "median", "q1", "q3", "p30", "p70", "ipras",
                   "di", "pct_high", "margin"):  # fmt: skip
        assert np.allclose(written[column], expected[column].astype(float), rtol=1e-6), column
    assert written["consensus"].tolist() == expected["consensus"].tolist()
    assert set(written["quantile_method"]) == {6} and set(written["rule"]) == {"rand"}
    assert sorted(p.name for p in out.iterdir()) == [
        "decisions.csv", "kendall.csv", "results.csv", "stability.csv",
    ]  # fmt: skip


def test_it_writes_decisions_stability_and_kendall(ratings: pd.DataFrame, tmp_path: Path) -> None:
    csvio.write_ratings_csv(ratings, tmp_path / "ratings.csv")
    call_command("delphi_analyse", str(tmp_path / "ratings.csv"), "--out", str(tmp_path / "o"),
                 "--decision", "acceptability = in AND priority.median >= 7")  # fmt: skip
    decisions = pd.read_csv(tmp_path / "o" / "decisions.csv")
    assert decisions.columns.tolist() == ["round", "item", "decision"]
    assert set(decisions["decision"]) <= {"accepted", "rejected", "carried"}
    stability = pd.read_csv(tmp_path / "o" / "stability.csv")
    assert stability[["prev_round", "round"]].drop_duplicates().values.tolist() == [[1, 2]]
    assert len(pd.read_csv(tmp_path / "o" / "kendall.csv")) == 4


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("1,P1,,I1,acc,7\n1,P2,,I1,acc,10\n", 3),
        ("1,P1,,I1,acc,7\n1,P1,,I1,acc,8\n", 3),
        ("1,P1,,I1,acc,seven\n", 2),
        ("x,P1,,I1,acc,7\n", 2),
    ],
)
def test_bad_input_names_the_line_and_writes_nothing(body: str, line: int, tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(CommandError, match=f"line {line}"):
        call_command("delphi_analyse", str(path), "--out", str(out))
    assert not out.exists()


def test_a_missing_column_is_reported_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("round,panelist,item,value\n1,P1,I1,7\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line 1.*missing column 'criterion'"):
        call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rule", "median:3", "valid forms"),
        ("--quantile", "9", "5, 6, 7 or 8"),
        ("--scale", "0-10", "no default bands"),
        ("--decision", "acceptability = maybe", "position"),
    ],
)
def test_bad_options_are_refused(option: str, value: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + "1,P1,,I1,acceptability,7\n", encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"), option, value)
    assert not (tmp_path / "out").exists()


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match=r"line 1.*empty"):
        call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"))


def test_an_existing_out_folder_keeps_other_files(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + "1,P1,,I1,acc,7\n1,P2,,I1,acc,9\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    call_command("delphi_analyse", str(path), "--out", str(out), "--scale", "1-9")
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "results.csv").exists()


@pytest.mark.parametrize("value", ["7.0", "7e0", "+7", " 7"])
def test_a_value_not_written_as_an_integer_is_refused(value: str, tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + f"1,P1,,I1,acc,8\n1,P2,,I1,acc,{value}\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line 3, column value: .*write an integer"):
        call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_header_without_the_group_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("round,panelist,item,criterion,value\n1,P1,I1,acc,7\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line 1, column group: missing column 'group'"):
        call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("threshold", ["50", "49.5", "10"])
def test_a_percent_threshold_of_50_or_below_is_refused(threshold: str, tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + "1,P1,,I1,acc,7\n", encoding="utf-8")
    with pytest.raises(CommandError, match="above 50"):
        call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"),
                     "--rule", f"percent:{threshold}")  # fmt: skip
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("rule", "scale", "written"),
    [("percent:66.7", "1-9", "percent:66.7"), ("iqr", "1-9", "iqr:2"), ("iqr", "1-5", "iqr:1"),
     ("iqr:1.50", "1-7", "iqr:1.5"), ("percent", "1-9", "percent:75"), ("RAND", "1-9", "rand")],
)  # fmt: skip
def test_results_carry_the_rule_in_full(rule: str, scale: str, written: str,
                                        tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + "1,P1,,I1,acc,5\n1,P2,,I1,acc,4\n1,P3,,I2,acc,5\n", encoding="utf-8")
    call_command("delphi_analyse", str(path), "--out", str(tmp_path / "out"),
                 "--rule", rule, "--scale", scale)  # fmt: skip
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["rule"] for row in rows] == [written, written]

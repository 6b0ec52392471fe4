"""ratings.csv in, results.csv out (METHODS §6), with line-numbered problems."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rounds import consensus, csvio
from rounds.consensus import Scale
from rounds.csvio import RatingsFileError, read_ratings_csv

HEADER = "round,panelist,group,item,criterion,value\n"
NINE = Scale()


def read(text: str, scale: Scale | dict[str, Scale] = NINE) -> pd.DataFrame:
    return read_ratings_csv(io.BytesIO(text.encode("utf-8")), scale)


def problems(text: str, scale: Scale | dict[str, Scale] = NINE) -> list[tuple[int, str, str]]:
    with pytest.raises(RatingsFileError) as caught:
        read(text, scale)
    return caught.value.problems


def test_it_reads_ratings_with_dont_knows() -> None:
    frame = read(HEADER + "1,P001,gp,I1,acc,7\n1,P002,gp,I1,acc,\n2, P001 ,gp,I1,acc,9\n")
    assert frame.columns.tolist() == list(csvio.RATINGS_COLUMNS)
    assert frame["round"].tolist() == [1, 1, 2]
    assert frame["panelist"].tolist() == ["P001", "P002", "P001"]
    assert frame["value"].tolist()[0] == 7 and math.isnan(frame["value"].iloc[1])


def test_it_accepts_a_byte_order_mark_and_crlf_line_ends() -> None:
    data = ("\ufeff" + HEADER + "1,P1,,I1,acc,7\r\n").encode("utf-8")
    frame = read_ratings_csv(io.BytesIO(data), NINE)
    assert frame["value"].tolist() == [7.0]


def test_it_refuses_a_file_without_a_group_column() -> None:
    found = problems("round,panelist,item,criterion,value\n1,P1,I1,acc,7\n")
    assert [(p[0], p[1]) for p in found] == [(1, "group")]
    assert "missing column 'group'" in found[0][2]


def test_the_group_may_be_empty() -> None:
    frame = read(HEADER + "1,P1,,I1,acc,7\n1,P2,gp,I1,acc,8\n")
    assert frame["group"].tolist() == ["", "gp"]


@pytest.mark.parametrize("value", ["7.0", "7e0", "+7", " 7", "7 ", "07", "7.", " "])
def test_a_value_must_be_an_integer_written_as_such(value: str) -> None:
    found = problems(HEADER + "1,P1,,I1,acc,8\n" + f"1,P2,,I1,acc,{value}\n")
    assert [(p[0], p[1]) for p in found] == [(3, "value")]
    assert "write an integer" in found[0][2]


def test_negative_values_are_read_on_a_scale_that_has_them() -> None:
    scale = Scale.parse("-3-3:-3--1,0-0,1-3")
    assert read(HEADER + "1,P1,,I1,acc,-3\n1,P2,,I1,acc,0\n", scale)["value"].tolist() == [-3, 0]


def test_it_skips_blank_lines_but_keeps_line_numbers() -> None:
    found = problems(HEADER + "1,P1,,I1,acc,7\n\n1,P2,,I1,acc,12\n")
    assert found[0][0] == 4


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        (HEADER + "1,P1,,I1,acc,7\n1,P2,,I1,acc,10\n", 3, "value", "off the scale 1-9"),
        (HEADER + "1,P1,,I1,acc,0\n", 2, "value", "off the scale"),
        (HEADER + "1,P1,,I1,acc,7.5\n", 2, "value", "not a whole number"),
        (HEADER + "1,P1,,I1,acc,high\n", 2, "value", "not a whole number"),
        (HEADER + "one,P1,,I1,acc,7\n", 2, "round", "not a round number"),
        (HEADER + "1,P1,,I1,acc,7\n1,P1,,I1,acc,8\n", 3, "", "duplicate rating"),
        (HEADER + "1,P1,,I1,acc\n", 2, "", "expected 6 fields, found 5"),
        (HEADER + "1,,,I1,acc,7\n", 2, "panelist", "empty panelist"),
        ("round,panelist,item,value\n1,P1,I1,7\n", 1, "criterion", "missing column 'criterion'"),
        ("", 1, "", "the file is empty"),
        (HEADER, 1, "", "no ratings"),
        ("round,round,panelist,item,criterion,value\n", 1, "round", "appears twice"),
    ],
)
def test_each_bad_input_names_its_line(text: str, line: int, column: str, words: str) -> None:
    found = problems(text)
    assert any(p[0] == line and p[1] == column and words in p[2] for p in found), found
    assert f"line {line}" in str(RatingsFileError(found))


def test_a_duplicate_names_the_first_line() -> None:
    found = problems(HEADER + "1,P1,,I1,acc,7\n1,P2,,I1,acc,7\n1,P1,,I1,acc,8\n")
    assert found == [(4, "", pytest.approx(found[0][2]))]
    assert "on line 2" in found[0][2]


def test_the_same_panelist_may_rate_in_two_rounds_and_two_criteria() -> None:
    frame = read(HEADER + "1,P1,,I1,acc,7\n2,P1,,I1,acc,8\n1,P1,,I1,pri,8\n")
    assert len(frame) == 3


def test_it_reports_every_problem_and_lists_at_most_twenty() -> None:
    text = HEADER + "".join(f"1,P{i},,I1,acc,{10 + i}\n" for i in range(25))
    with pytest.raises(RatingsFileError) as caught:
        read(text)
    error = caught.value
    assert len(error.problems) == 25
    assert "line 21" in str(error) and "line 22," not in str(error)
    assert "and 5 more" in str(error)


def test_it_checks_each_criterion_against_its_scale() -> None:
    scales = {"acc": NINE, "pri": Scale.with_default_bands(1, 5)}
    found = problems(HEADER + "1,P1,,I1,acc,7\n1,P1,,I1,pri,7\n1,P1,,I1,other,1\n", scales)
    assert [(p[0], p[1]) for p in found] == [(3, "value"), (4, "criterion")]


def test_non_utf8_text_is_refused_with_its_line() -> None:
    data = (HEADER + "1,P1,,Caf\xe9,acc,7\n").encode("latin-1")
    with pytest.raises(RatingsFileError, match="line 2"):
        read_ratings_csv(io.BytesIO(data), NINE)


def test_format_number_keeps_six_significant_digits_and_spells_booleans() -> None:
    assert csvio.format_number(88.88888888888889) == "88.88888889"
    assert csvio.format_number(8.0) == "8"
    assert csvio.format_number(np.float64(7.4)) == "7.4"
    assert csvio.format_number(np.int64(3)) == "3"
    assert csvio.format_number(True) == "true" and csvio.format_number(np.bool_(False)) == "false"
    assert csvio.format_number(None) == csvio.format_number(np.nan) == ""
    assert csvio.format_number(pd.NA) == ""
    assert csvio.format_number(1.234567e-7) == "1.234567e-07"


def test_results_round_trip_through_the_csv(tmp_path: Path) -> None:
    ratings = read(HEADER + "".join(f"1,P{i},,I1,acc,{v}\n" for i, v in enumerate([6, 7, 9, 9])))
    results = consensus.describe(ratings, consensus.CriterionSettings())
    csvio.write_results_csv(results, tmp_path / "results.csv")
    back = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    assert back.columns.tolist() == [*consensus.RESULTS_COLUMNS, "margin"]
    assert back["disagreement"].tolist() == ["false"]
    assert float(back["mean"].iloc[0]) == pytest.approx(results["mean"].iloc[0], rel=1e-9)
    assert list(tmp_path.iterdir()) == [tmp_path / "results.csv"]  # no temporary file left


def test_ratings_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"round": [1, 1], "panelist": ["P1", "P2"], "item": ["I1", "I1"],
                          "criterion": ["acc", "acc"], "value": [7.0, np.nan]})  # fmt: skip
    csvio.write_ratings_csv(frame, tmp_path / "ratings.csv")
    assert (tmp_path / "ratings.csv").read_text().splitlines() == [
        "round,panelist,group,item,criterion,value", "1,P1,,I1,acc,7", "1,P2,,I1,acc,",
    ]  # fmt: skip
    back = read_ratings_csv(tmp_path / "ratings.csv", NINE)
    assert back["value"].tolist()[0] == 7 and math.isnan(back["value"].iloc[1])
